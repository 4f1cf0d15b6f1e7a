/*
 * Private helpers shared by the files of target/x86/sys/ (the interface
 * to core/ and fpu/ is target/x86/interp.h).
 */
#ifndef TARGET_X86_SYS_SYS_H
#define TARGET_X86_SYS_SYS_H

#include "target/x86/interp.h"

/* Control register bits beyond those in target/x86/cpu.h. */
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR4_VME (1u << 0)
#define CR4_PVI (1u << 1)
#define CR4_TSD (1u << 2)
#define CR4_DE (1u << 3)
#define CR4_PSE (1u << 4)
#define CR4_MCE (1u << 6)
#define CR4_PGE (1u << 7)
#define CR4_PCE (1u << 8)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

/* TlbEntry.sys_flags */
#define TLB_F_GLOBAL 1u
#define TLB_F_LARGE 2u           /* derived from a 2M/4M/1G page */

/* Physical address width the interpreter implements (CPUID 0x80000008). */
#define PHYS_BITS 40
#define PHYS_MASK ((1ull << PHYS_BITS) - 1)

/* Page-fault error code bits. */
#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define PF_RSVD 8u
#define PF_I 16u

/* A raw 8-byte segment descriptor, and its decoded parts. */
static inline uint64_t desc_base(uint64_t d)
{
    return ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
}

static inline uint32_t desc_limit(uint64_t d)
{
    uint32_t l = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
    return (d & (1ull << 55)) ? (l << 12) | 0xfff : l;
}

static inline unsigned desc_type(uint64_t d) { return (d >> 40) & 0xf; }
static inline bool desc_s(uint64_t d) { return (d >> 44) & 1; }
static inline unsigned desc_dpl(uint64_t d) { return (d >> 45) & 3; }
static inline bool desc_present(uint64_t d) { return (d >> 47) & 1; }
static inline bool desc_is_code(uint64_t d) { return desc_s(d) && (desc_type(d) & 8); }
static inline bool desc_is_conforming(uint64_t d) { return desc_is_code(d) && (desc_type(d) & 4); }

/* Fill the hidden part of a segment register from descriptor @d. */
void seg_from_desc(X86Segment *sg, uint16_t sel, uint64_t d);
/* A flat segment made up by SYSCALL/SYSENTER and friends. */
void seg_set_flat(X86Segment *sg, uint16_t sel, bool code, unsigned dpl,
                  bool code64);
/*
 * Read the descriptor of @sel from the GDT or LDT. Returns false (without
 * faulting) if it lies outside the table's limit; the caller raises the
 * exception its instruction defines. Reading itself may #PF.
 */
bool seg_read_desc(CPU *cpu, uint16_t sel, uint64_t *desc);
/* Linear address of @sel's descriptor (the caller checked the limit). */
uint64_t seg_desc_addr(CPU *cpu, uint16_t sel);
/* Set the accessed bit of @sel's descriptor in memory if clear. */
void seg_set_accessed(CPU *cpu, uint16_t sel, uint64_t *desc);
/* Read a 16-byte system descriptor (long mode) as two quadwords. */
bool seg_read_sys_desc(CPU *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi);
/* Load SS for a privilege change or return: checks per SDM give #TS/#SS or
   #GP with @sel; @cpl is the new CPL. Null SS allowed only in 64-bit mode. */
void seg_load_ss_checked(CPU *cpu, uint16_t sel, unsigned cpl, int vector,
                         bool null_ok, X86Segment *out);
/* Load a code segment descriptor for a control transfer target. */
uint64_t seg_load_cs_desc(CPU *cpu, uint16_t sel);
/* Null data segments that are not accessible at the new (outer) CPL. */
void seg_check_outer_data(CPU *cpu);

/* Protected mode and not virtual-8086 mode. */
static inline bool x86_pmode(const CPU *cpu)
{
    return (cpu->s.cr0 & CR0_PE) && !(cpu->s.rflags & FLAG_VM);
}

static inline bool x86_lma(const CPU *cpu)
{
    return (cpu->s.efer & EFER_LMA) != 0;
}

/* Stack helpers for the current SS (honouring stack size and mode). */
void stack_push(CPU *cpu, uint64_t *sp, uint64_t val, unsigned size);
uint64_t stack_pop(CPU *cpu, uint64_t *sp, unsigned size);
/* The current stack pointer width mask (0xffff, 0xffffffff or ~0). */
uint64_t stack_mask(const CPU *cpu);
/* Write @sp back to RSP honouring the stack width. */
void stack_set_sp(CPU *cpu, uint64_t sp);

/* Write a GPR with x86 rules (size 4 zero-extends, 2 keeps the rest). */
static inline void x86_set_reg(CPU *cpu, unsigned r, uint64_t v, unsigned size)
{
    switch (size) {
    case 2: cpu->s.regs[r] = (cpu->s.regs[r] & ~0xffffull) | (v & 0xffff); break;
    case 4: cpu->s.regs[r] = (uint32_t)v; break;
    default: cpu->s.regs[r] = v; break;
    }
}

/* MSR access without privilege checks (tests, state transfer): false for
   an unknown MSR or a value the MSR refuses. */
bool x86_msr_read(CPU *cpu, uint32_t msr, uint64_t *v);
bool x86_msr_write(CPU *cpu, uint32_t msr, uint64_t v);

/* Virtual TSC at the advertised frequency (1 GHz: one tick a nanosecond). */
uint64_t x86_tsc_read(CPU *cpu);

/* Shut the CPU down (triple fault): sets cpu->shutdown and cpu->halted so
   x86_exec returns and the accelerator reports it. */
void x86_triple_fault(CPU *cpu);

/* MOV to CR0 / LMSW with every check; flushes the TLB and updates modes. */
void x86_write_cr0(CPU *cpu, uint64_t v);

#endif
