/*
 * Exchanges: XCHG (always locked with a memory operand), XADD, CMPXCHG,
 * CMPXCHG8B/16B. With LOCK (or XCHG's implicit lock) memory operands are
 * updated with host atomics on the RAM page; see LOCKED_RMW in core.h.
 */
#include "core.h"

void h_xchg(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t b = reg_get(cpu, i, i->reg, s), a, nv;

    if (i->mod == 3) {
        a = reg_get(cpu, i, i->rm, s);
        reg_set(cpu, i, i->rm, b, s);
    } else {
        uint64_t la = ea_la(cpu, i, s, ACC_WRITE);
        LOCKED_RMW(cpu, la, s, a, nv, b);
        (void)nv;
    }
    reg_set(cpu, i, i->reg, a, s);
}

void h_xadd(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t b = reg_get(cpu, i, i->reg, s), m = size_mask(s), a, r;

    if (i->mod == 3) {
        a = reg_get(cpu, i, i->rm, s);
        r = (a + b) & m;
        reg_set(cpu, i, i->reg, a, s);
        reg_set(cpu, i, i->rm, r, s);
    } else {
        uint64_t la = ea_la(cpu, i, s, ACC_WRITE);
        if (i->lock) {
            LOCKED_RMW(cpu, la, s, a, r, (a + b) & m);
        } else {
            a = mem_read(cpu, la, s);
            r = (a + b) & m;
            mem_write(cpu, la, r, s);
        }
        reg_set(cpu, i, i->reg, a, s);
    }
    lf_set(cpu, sext(r, s), lf_carries((a & b) | ((a | b) & ~r), s));
}

/*
 * CMPXCHG: compare the accumulator with the destination; equal: store the
 * source, else load the destination into the accumulator. The memory form
 * always writes (the old value back on failure), as hardware does.
 */
void h_cmpxchg(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t acc = reg_get(cpu, i, R_EAX, s), src = reg_get(cpu, i, i->reg, s), old, nv;

    if (i->mod == 3) {
        old = reg_get(cpu, i, i->rm, s);
        if (old == acc) {
            reg_set(cpu, i, i->rm, src, s);
        } else {
            reg_set(cpu, i, R_EAX, old, s);
        }
    } else {
        uint64_t la = ea_la(cpu, i, s, ACC_WRITE);
        if (i->lock) {
            LOCKED_RMW(cpu, la, s, old, nv, old == acc ? src : old);
        } else {
            old = mem_read(cpu, la, s);
            mem_write(cpu, la, old == acc ? src : old, s);
        }
        (void)nv;
        if (old != acc) {
            reg_set(cpu, i, R_EAX, old, s);
        }
    }
    lf_cmp(cpu, s, acc, old);
}

/* CMPXCHG8B (opsize 2/4) and CMPXCHG16B (REX.W; needs 16-byte alignment). */
void h_cmpxchg8b(CPU *cpu, const Insn *i)
{
    bool wide = i->opsize == 8;
    unsigned n = wide ? 16 : 8;
    uint64_t ea = x86_ea(cpu, i), la;
    uint64_t lo_cmp = cpu->s.regs[R_EAX], hi_cmp = cpu->s.regs[R_EDX];
    uint64_t lo_new = cpu->s.regs[R_EBX], hi_new = cpu->s.regs[R_ECX];
    uint64_t lo, hi;
    bool eq;

    la = x86_linear(cpu, i->seg, ea, n, ACC_WRITE);
    if (wide && (la & 15)) {
        x86_raise_gp0(cpu);
    }
    if (!wide) {
        uint64_t cmp = (uint32_t)lo_cmp | (hi_cmp << 32);
        uint64_t nv = (uint32_t)lo_new | (hi_new << 32);
        uint64_t *p = mmu_rmw_ptr(cpu, la, 8);
        uint64_t old;
        if (p) {
            old = cmp;
            eq = __atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST);
        } else {
            core_atomic_lock(cpu);
            old = mem_read64(cpu, la);
            eq = old == cmp;
            mem_write64(cpu, la, eq ? nv : old);
            core_atomic_unlock(cpu);
        }
        lo = (uint32_t)old;
        hi = old >> 32;
        if (!eq) {
            cpu->s.regs[R_EAX] = lo;
            cpu->s.regs[R_EDX] = hi;
        }
    } else {
        unsigned __int128 cmp = ((unsigned __int128)hi_cmp << 64) | lo_cmp;
        unsigned __int128 old;
#if defined(__x86_64__)
        void *p = mmu_rmw_ptr(cpu, la, 16);
#else
        void *p = NULL;
#endif
        if (p) {
#if defined(__x86_64__)
            /* The host's own CMPXCHG16B (every x86-64 host we run on has
               CX16); __atomic on __int128 would need libatomic. */
            uint64_t rax = lo_cmp, rdx = hi_cmp;
            __asm__ volatile("lock cmpxchg16b %0\n\tsete %b1"
                             : "+m"(*(unsigned __int128 *)p), "=q"(eq), "+a"(rax), "+d"(rdx)
                             : "b"(lo_new), "c"(hi_new)
                             : "memory", "cc");
            old = ((unsigned __int128)rdx << 64) | rax;
#endif
        } else {
            core_atomic_lock(cpu);
            old = ((unsigned __int128)mem_read64(cpu, la + 8) << 64) | mem_read64(cpu, la);
            eq = old == cmp;
            if (eq) {
                mem_write64(cpu, la, lo_new);
                mem_write64(cpu, la + 8, hi_new);
            } else {
                mem_write64(cpu, la, (uint64_t)old);
                mem_write64(cpu, la + 8, (uint64_t)(old >> 64));
            }
            core_atomic_unlock(cpu);
        }
        if (!eq) {
            cpu->s.regs[R_EAX] = (uint64_t)old;
            cpu->s.regs[R_EDX] = (uint64_t)(old >> 64);
        }
    }
    lf_set_arith(cpu, (lf_get_arith(cpu) & ~(uint64_t)FLAG_ZF) | (eq ? FLAG_ZF : 0));
}
