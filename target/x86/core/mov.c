/*
 * Data movement without flags: MOV forms not in alu.c, LEA, MOVZX/MOVSX,
 * segment register moves, far pointer loads, CBW/CWD, XLAT, BSWAP, CMOVcc,
 * SETcc.
 */
#include "core.h"

void h_mov_ei(CPU *cpu, const Insn *i)
{
    rm_set(cpu, i, i->imm, i->opsize);
}

void h_mov_r_imm(CPU *cpu, const Insn *i)
{
    reg_set(cpu, i, i->reg, i->imm, i->opsize);
}

void h_mov_moffs_load(CPU *cpu, const Insn *i)
{
    uint64_t la = x86_linear(cpu, i->seg, i->imm, i->opsize, ACC_READ);

    reg_set(cpu, i, R_EAX, mem_read(cpu, la, i->opsize), i->opsize);
}

void h_mov_moffs_store(CPU *cpu, const Insn *i)
{
    uint64_t la = x86_linear(cpu, i->seg, i->imm, i->opsize, ACC_WRITE);

    mem_write(cpu, la, reg_get(cpu, i, R_EAX, i->opsize), i->opsize);
}

/* MOV r/m, Sreg: a register destination gets the selector zero-extended. */
void h_mov_sreg_store(CPU *cpu, const Insn *i)
{
    uint16_t sel = cpu->s.seg[i->reg & 7].selector;

    if (i->mod == 3) {
        reg_set(cpu, i, i->rm, sel, i->opsize);
    } else {
        mem_write16(cpu, ea_la(cpu, i, 2, ACC_WRITE), sel);
    }
}

/* MOV Sreg, r/m. Loading SS blocks interrupts for one instruction. */
void h_mov_sreg_load(CPU *cpu, const Insn *i)
{
    unsigned seg = i->reg & 7;

    x86_load_seg(cpu, seg, (uint16_t)rm_get(cpu, i, 2));
    if (seg == SEG_SS) {
        cpu->intr_shadow = 1;
    }
}

void h_lea(CPU *cpu, const Insn *i)
{
    reg_set(cpu, i, i->reg, x86_ea(cpu, i), i->opsize);
}

void h_movzx(CPU *cpu, const Insn *i)
{
    reg_set(cpu, i, i->reg, rm_get(cpu, i, i->imm2), i->opsize);
}

/* MOVSX, and MOVSXD (imm2 4: the source is never wider than opsize). */
void h_movsx(CPU *cpu, const Insn *i)
{
    unsigned src = i->imm2 < i->opsize ? i->imm2 : i->opsize;

    reg_set(cpu, i, i->reg, (uint64_t)sext(rm_get(cpu, i, src), src), i->opsize);
}

void h_lea_fast(CPU *cpu, const Insn *i)
{
    reg_set(cpu, i, i->reg, fast_ea(cpu, i), i->opsize);
}

void h_movzx_fast(CPU *cpu, const Insn *i)
{
    void *p = fast_ptr(cpu, fast_la(cpu, i), (unsigned)i->imm2, false);

    if (unlikely(!p)) {
        h_movzx(cpu, i);
        return;
    }
    reg_set(cpu, i, i->reg, i->imm2 == 1 ? host_load(p, 1) : host_load(p, 2), i->opsize);
}

void h_movsx_fast(CPU *cpu, const Insn *i)
{
    unsigned src = i->imm2 < i->opsize ? i->imm2 : i->opsize;
    void *p = fast_ptr(cpu, fast_la(cpu, i), src, false);
    uint64_t v;

    if (unlikely(!p)) {
        h_movsx(cpu, i);
        return;
    }
    switch (src) {
    case 1: v = (uint64_t)(int8_t)host_load(p, 1); break;
    case 2: v = (uint64_t)(int16_t)host_load(p, 2); break;
    default: v = (uint64_t)(int32_t)host_load(p, 4); break;
    }
    reg_set(cpu, i, i->reg, v, i->opsize);
}

void h_movnti(CPU *cpu, const Insn *i)
{
    mem_write(cpu, ea_la(cpu, i, i->opsize, ACC_WRITE),
              reg_get(cpu, i, i->reg, i->opsize), i->opsize);
}

void h_cbw(CPU *cpu, const Insn *i)
{
    unsigned half = i->opsize / 2;

    reg_set(cpu, i, R_EAX, (uint64_t)sext(cpu->s.regs[R_EAX], half), i->opsize);
}

void h_cwd(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t sign = sext(cpu->s.regs[R_EAX], s) < 0 ? ~0ull : 0;

    reg_set(cpu, i, R_EDX, sign, s);
}

/* LES LDS LSS LFS LGS: offset then selector in memory. */
void h_load_far_ptr(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t ea = x86_ea(cpu, i);
    uint64_t la = x86_linear(cpu, i->seg, ea, s, ACC_READ);
    uint64_t off = mem_read(cpu, la, s);
    uint64_t la2 = x86_linear(cpu, i->seg, ea + s, 2, ACC_READ);
    uint16_t sel = mem_read16(cpu, la2);

    x86_load_seg(cpu, (int)i->imm2, sel);
    reg_set(cpu, i, i->reg, off, s);
}

void h_xlat(CPU *cpu, const Insn *i)
{
    uint64_t off = cpu->s.regs[R_EBX] + (cpu->s.regs[R_EAX] & 0xff);
    uint64_t la;

    off &= i->addrsize == 8 ? ~0ull : i->addrsize == 4 ? 0xffffffffull : 0xffff;
    la = x86_linear(cpu, i->seg, off, 1, ACC_READ);
    reg_set(cpu, i, R_EAX, mem_read8(cpu, la), 1);
}

/* BSWAP r16 is undefined; Intel hosts clear the low word. */
void h_bswap(CPU *cpu, const Insn *i)
{
    uint64_t v = cpu->s.regs[i->reg];

    switch (i->opsize) {
    case 8: cpu->s.regs[i->reg] = __builtin_bswap64(v); break;
    case 4: cpu->s.regs[i->reg] = __builtin_bswap32((uint32_t)v); break;
    default: reg_set(cpu, i, i->reg, 0, 2); break;
    }
}

/* CMOVcc reads its source even when false; a 32-bit CMOV always
   zero-extends the destination. */
void h_cmov(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v = rm_get(cpu, i, s);

    if (cond_eval_var(cpu, i->opcode & 15)) {
        reg_set(cpu, i, i->reg, v, s);
    } else if (s == 4) {
        cpu->s.regs[i->reg] = (uint32_t)cpu->s.regs[i->reg];
    }
}

void h_setcc(CPU *cpu, const Insn *i)
{
    rm_set(cpu, i, cond_eval_var(cpu, i->opcode & 15), 1);
}
