/*
 * Shared by the long-mode system test guests (paging.c, exceptions.c,
 * usermode.c): the trap frame built by sys64-stubs.S, IDT setup, and
 * small privileged-instruction helpers.
 */
#ifndef GUEST_SYS64_H
#define GUEST_SYS64_H

#include <stdint.h>

/* What sys64-stubs.S leaves on the stack; the CPU's part starts at rip. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Provided by each guest. */
void sys64_trap(struct trap_frame *f);
uint64_t sys64_syscall(uint64_t nr);

extern const uint64_t sys64_stubs[34];
void sys64_syscall_entry(void);

struct idt_gate64 {
    uint16_t off_lo, sel;
    uint8_t ist, type_attr;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

struct desc_ptr64 {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static struct idt_gate64 sys64_idt[256] __attribute__((aligned(16)));

static inline void sys64_set_gate(unsigned vec, uint64_t handler, unsigned dpl,
                                  unsigned ist)
{
    struct idt_gate64 *g = &sys64_idt[vec];

    g->off_lo = handler & 0xffff;
    g->sel = 0x08;
    g->ist = ist;
    g->type_attr = 0x8e | (dpl << 5);       /* present, 64-bit interrupt gate */
    g->off_mid = (handler >> 16) & 0xffff;
    g->off_hi = handler >> 32;
    g->zero = 0;
}

/* Gates for vectors 0..31 (DPL 0) and 0x80/0x81 (DPL 3); load the IDT. */
static inline void sys64_idt_init(void)
{
    struct desc_ptr64 p = { sizeof(sys64_idt) - 1, (uint64_t)sys64_idt };

    for (unsigned v = 0; v < 32; v++) {
        sys64_set_gate(v, sys64_stubs[v], 0, 0);
    }
    sys64_set_gate(0x80, sys64_stubs[32], 3, 0);
    sys64_set_gate(0x81, sys64_stubs[33], 3, 0);
    __asm__ volatile("lidt %0" : : "m"(p));
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;

    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_cr3(void)
{
    uint64_t v;

    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

static inline void invlpg(uint64_t la)
{
    __asm__ volatile("invlpg (%0)" : : "r"(la) : "memory");
}

static inline uint64_t rdmsr64(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr64(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

#endif
