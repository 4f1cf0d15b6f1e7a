/*
 * x86 CPU state shared by every accelerator: KVM copies it in and out of
 * the kernel, the interpreter runs on it directly.
 */
#ifndef TARGET_X86_CPU_H
#define TARGET_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <glib.h>

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_NR };

typedef struct X86Segment {
    uint64_t base;
    uint32_t limit;       /* byte granular (already scaled when G=1) */
    uint16_t selector;
    uint8_t type;         /* descriptor type field, 4 bits */
    uint8_t s, dpl, present, db, l, g, avl;
    uint8_t unusable;
} X86Segment;

typedef struct X86Table {
    uint64_t base;
    uint16_t limit;
} X86Table;

#define CR0_PE (1u << 0)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)
#define RFLAGS_IF (1u << 9)

typedef struct X86CpuState {
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags;
    X86Segment seg[SEG_NR];
    X86Table gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t apic_base;
    uint64_t dr[8];
} X86CpuState;

/* The architectural state after RESET/INIT (real mode, CS:IP F000:FFF0). */
void x86_cpu_reset_state(X86CpuState *s, bool bsp);

/*
 * Flat 32-bit protected mode, paging off, interrupts off: the state the
 * multiboot spec promises at the kernel entry.
 */
void x86_cpu_flat32_state(X86CpuState *s, uint32_t eip);

/* Real mode with CS:IP addressing linear @addr (CS = addr >> 4). */
void x86_cpu_real_state(X86CpuState *s, uint32_t addr);

/* Print a register dump in the style of QEMU's "info registers". */
void x86_cpu_dump(const X86CpuState *s, FILE *f);

#endif
