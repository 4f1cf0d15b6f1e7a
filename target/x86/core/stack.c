/*
 * Stack instructions: PUSH/POP (register, r/m, immediate, segment), PUSHA,
 * POPA, PUSHF, POPF, ENTER, LEAVE. Memory is written before rSP changes,
 * so a faulting push or pop leaves rSP as it was.
 */
#include "core.h"

void h_push_reg(CPU *cpu, const Insn *i)
{
    stack_push(cpu, reg_get(cpu, i, i->reg, i->opsize), i->opsize);
}

void h_pop_reg(CPU *cpu, const Insn *i)
{
    uint64_t v = stack_peek(cpu, 0, i->opsize);

    stack_adjust(cpu, i->opsize);
    reg_set(cpu, i, i->reg, v, i->opsize);   /* POP rSP: the popped value wins */
}

/*
 * 64-bit mode, 64-bit operand: SS has no base and rSP no wrap, and a TLB
 * hit proves the address canonical (see fast_ptr); a miss takes the
 * generic handler, which raises the faults.
 */
void h_push_reg64(CPU *cpu, const Insn *i)
{
    uint64_t v = cpu->s.regs[i->reg], sp = cpu->s.regs[R_ESP] - 8;
    void *p = fast_ptr(cpu, sp, 8, true);

    if (unlikely(!p)) {
        h_push_reg(cpu, i);
        return;
    }
    host_store(p, v, 8);
    cpu->s.regs[R_ESP] = sp;
}

void h_pop_reg64(CPU *cpu, const Insn *i)
{
    uint64_t sp = cpu->s.regs[R_ESP];
    void *p = fast_ptr(cpu, sp, 8, false);

    if (unlikely(!p)) {
        h_pop_reg(cpu, i);
        return;
    }
    cpu->s.regs[R_ESP] = sp + 8;
    cpu->s.regs[i->reg] = host_load(p, 8);   /* POP rSP: the popped value wins */
}

/*
 * Runs of PUSH reg / POP reg in 64-bit mode (function prologues and
 * epilogues), merged when traces are built: Insn.imm2 is the count, byte
 * k of Insn.imm instruction k's register (bits 0-3) and length (bits
 * 4-7); RSP is never in a run. When the TLB maps the run's stack slots on
 * one page, one check serves them all; otherwise each instruction runs on
 * its own with its own rIP, so a fault reports the right one after the
 * ones before it completed.
 */
static void stack_run_each(CPU *cpu, const Insn *i, InsnFn one)
{
    Insn single = *i;
    uint64_t rip = cpu->s.rip;

    for (unsigned k = 0; k < (unsigned)i->imm2; k++) {
        uint8_t b = (uint8_t)(i->imm >> (8 * k));
        single.reg = b & 15;
        single.len = b >> 4;
        cpu->s.rip = rip;
        cpu->next_rip = rip + single.len;
        one(cpu, &single);
        if (cpu->trace_stop & TRACE_ABORT) {
            return;     /* it wrote to its own code: decode the rest afresh */
        }
        rip += single.len;
    }
}

void h_push_run64(CPU *cpu, const Insn *i)
{
    unsigned n = (unsigned)i->imm2;
    uint64_t sp = cpu->s.regs[R_ESP] - 8 * n;
    uint8_t *p = fast_ptr(cpu, sp, 8 * n, true);

    if (unlikely(!p)) {
        stack_run_each(cpu, i, h_push_reg64);
        return;
    }
    for (unsigned k = 0; k < n; k++) {
        host_store(p + 8 * (n - 1 - k), cpu->s.regs[(i->imm >> (8 * k)) & 15], 8);
    }
    cpu->s.regs[R_ESP] = sp;
}

void h_pop_run64(CPU *cpu, const Insn *i)
{
    unsigned n = (unsigned)i->imm2;
    uint64_t sp = cpu->s.regs[R_ESP];
    const uint8_t *p = fast_ptr(cpu, sp, 8 * n, false);

    if (unlikely(!p)) {
        stack_run_each(cpu, i, h_pop_reg64);
        return;
    }
    cpu->s.regs[R_ESP] = sp + 8 * n;
    for (unsigned k = 0; k < n; k++) {
        cpu->s.regs[(i->imm >> (8 * k)) & 15] = host_load(p + 8 * k, 8);
    }
}

void h_push_imm(CPU *cpu, const Insn *i)
{
    stack_push(cpu, i->imm, i->opsize);
}

void h_push_rm(CPU *cpu, const Insn *i)
{
    stack_push(cpu, rm_get(cpu, i, i->opsize), i->opsize);
}

/* POP r/m: an rSP-based address is computed after the increment. */
void h_pop_rm(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v = stack_peek(cpu, 0, s);

    if (i->mod == 3) {
        stack_adjust(cpu, s);
        reg_set(cpu, i, i->rm, v, s);
    } else {
        uint64_t ea = x86_ea(cpu, i);
        if (i->base == R_ESP) {
            ea += s;
            ea &= i->addrsize == 8 ? ~0ull : i->addrsize == 4 ? 0xffffffffull : 0xffff;
        }
        mem_write(cpu, x86_linear(cpu, i->seg, ea, s, ACC_WRITE), v, s);
        stack_adjust(cpu, s);
    }
}

void h_push_sreg(CPU *cpu, const Insn *i)
{
    stack_push(cpu, cpu->s.seg[i->imm2].selector, i->opsize);
}

/* POP Sreg; POP SS blocks interrupts for one instruction. */
void h_pop_sreg(CPU *cpu, const Insn *i)
{
    uint16_t sel = (uint16_t)stack_peek(cpu, 0, i->opsize);

    x86_load_seg(cpu, (int)i->imm2, sel);
    stack_adjust(cpu, i->opsize);
    if (i->imm2 == SEG_SS) {
        cpu->intr_shadow = 1;
    }
}

void h_pusha(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t sp = cpu->s.regs[R_ESP];

    for (unsigned r = 0; r < 8; r++) {
        uint64_t v = r == R_ESP ? sp : cpu->s.regs[r];
        uint64_t a = sp_wrap(cpu, sp - (r + 1) * s);
        mem_write(cpu, stack_la(cpu, a, s, ACC_WRITE), v, s);
    }
    sp_set(cpu, sp - 8 * s);
}

void h_popa(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v[8];

    for (unsigned r = 0; r < 8; r++) {
        v[7 - r] = stack_peek(cpu, r * s, s);
    }
    for (unsigned r = 0; r < 8; r++) {
        if (r != R_ESP) {
            reg_set(cpu, i, r, v[r], s);
        }
    }
    stack_adjust(cpu, 8 * s);
}

/* PUSHF: VM and RF read as 0 in the image; IOPL-sensitive in VM86. */
void h_pushf(CPU *cpu, const Insn *i)
{
    uint64_t f = x86_get_rflags(cpu);

    if ((f & FLAG_VM) && (f & FLAG_IOPL) != FLAG_IOPL) {
        x86_raise_gp0(cpu);
    }
    stack_push(cpu, f & ~(uint64_t)(FLAG_VM | FLAG_RF), i->opsize);
}

void h_popf(CPU *cpu, const Insn *i)
{
    uint64_t v = stack_peek(cpu, 0, i->opsize);

    x86_popf(cpu, v, i->opsize);
    stack_adjust(cpu, i->opsize);
}

/* ENTER size, level: frames computed in locals, registers set at the end. */
void h_enter(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize, level = i->imm2 & 31;
    uint64_t sp = cpu->s.regs[R_ESP], bp = cpu->s.regs[R_EBP], frame;

    sp = sp_wrap(cpu, sp - s);
    mem_write(cpu, stack_la(cpu, sp, s, ACC_WRITE), bp, s);
    frame = sp;
    if (level) {
        for (unsigned k = 1; k < level; k++) {
            uint64_t v;
            bp = sp_wrap(cpu, bp - s);
            v = mem_read(cpu, stack_la(cpu, bp, s, ACC_READ), s);
            sp = sp_wrap(cpu, sp - s);
            mem_write(cpu, stack_la(cpu, sp, s, ACC_WRITE), v, s);
        }
        sp = sp_wrap(cpu, sp - s);
        mem_write(cpu, stack_la(cpu, sp, s, ACC_WRITE), frame, s);
    }
    sp = sp_wrap(cpu, sp - (uint16_t)i->imm);
    /* The new stack top must be writable (#SS/#PF before any change). */
    if (i->imm) {
        mem_write8(cpu, stack_la(cpu, sp, 1, ACC_WRITE),
                   mem_read8(cpu, stack_la(cpu, sp, 1, ACC_READ)));
    }
    reg_set(cpu, i, R_EBP, frame, s);
    sp_set(cpu, sp);
}

void h_leave(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t bp = sp_wrap(cpu, cpu->s.regs[R_EBP]);
    uint64_t v = mem_read(cpu, stack_la(cpu, bp, s, ACC_READ), s);

    sp_set(cpu, bp + s);
    reg_set(cpu, i, R_EBP, v, s);
}
