/*
 * MUL, IMUL (one, two and three operands), DIV, IDIV. CF = OF = "the
 * result did not fit the low half". The flags the SDM leaves undefined
 * follow Intel hardware (checked by test-interp-diff): after MUL/IMUL
 * SF and PF come from the low half, ZF and AF are 0; DIV/IDIV leave all
 * flags alone. Division by zero and quotients that do not fit raise #DE
 * before any register changes.
 */
#include "core.h"

/* Lazy result giving SF and PF of @lo and ZF = 0 (bit 8 never changes
   the sign or the low byte). */
static inline uint64_t mul_res(uint64_t lo, unsigned s)
{
    return (uint64_t)sext(lo, s) | 0x100;
}

void h_mul(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t b = rm_get(cpu, i, s), a = reg_get(cpu, i, R_EAX, s), lo, hi;

    if (s == 8) {
        unsigned __int128 p = (unsigned __int128)a * b;
        lo = (uint64_t)p;
        hi = (uint64_t)(p >> 64);
    } else {
        uint64_t p = a * b;
        lo = p & size_mask(s);
        hi = p >> (s * 8);
    }
    if (s == 1) {
        reg_set(cpu, i, R_EAX, (hi << 8) | lo, 2);
    } else {
        reg_set(cpu, i, R_EAX, lo, s);
        reg_set(cpu, i, R_EDX, hi, s);
    }
    lf_set(cpu, mul_res(lo, s), lf_aux_make(hi != 0, hi != 0, 0));
}

/* Signed product of two sign-extended operands, and whether it overflows
   the operand size. */
static uint64_t imul_calc(unsigned s, int64_t a, int64_t b, uint64_t *hi, bool *ovf)
{
    __int128 p = (__int128)a * b;
    uint64_t lo = (uint64_t)p & size_mask(s);

    *ovf = (__int128)sext(lo, s) != p;
    if (s == 8) {
        *hi = (uint64_t)(p >> 64);
    } else {
        *hi = (uint64_t)(p >> (s * 8)) & size_mask(s);
    }
    return lo;
}

void h_imul1(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    int64_t b = sext(rm_get(cpu, i, s), s), a = sext(reg_get(cpu, i, R_EAX, s), s);
    uint64_t hi, lo;
    bool ovf;

    lo = imul_calc(s, a, b, &hi, &ovf);
    if (s == 1) {
        reg_set(cpu, i, R_EAX, (hi << 8) | lo, 2);
    } else {
        reg_set(cpu, i, R_EAX, lo, s);
        reg_set(cpu, i, R_EDX, hi, s);
    }
    lf_set(cpu, mul_res(lo, s), lf_aux_make(ovf, ovf, 0));
}

static void imul2(CPU *cpu, const Insn *i, int64_t a, int64_t b)
{
    unsigned s = i->opsize;
    uint64_t hi, lo;
    bool ovf;

    lo = imul_calc(s, a, b, &hi, &ovf);
    reg_set(cpu, i, i->reg, lo, s);
    lf_set(cpu, mul_res(lo, s), lf_aux_make(ovf, ovf, 0));
}

void h_imul_ge(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    int64_t b = sext(rm_get(cpu, i, s), s);

    imul2(cpu, i, sext(reg_get(cpu, i, i->reg, s), s), b);
}

void h_imul_gei(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;

    imul2(cpu, i, sext(rm_get(cpu, i, s), s), sext(i->imm, s));
}

void h_div(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t d = rm_get(cpu, i, s), q, r;

    if (d == 0) {
        x86_raise(cpu, EXC_DE, 0);
    }
    if (s == 8) {
        unsigned __int128 n = ((unsigned __int128)cpu->s.regs[R_EDX] << 64) | cpu->s.regs[R_EAX];
        if (cpu->s.regs[R_EDX] >= d) {
            x86_raise(cpu, EXC_DE, 0);
        }
        q = (uint64_t)(n / d);
        r = (uint64_t)(n % d);
    } else {
        uint64_t n = s == 1 ? reg_get(cpu, i, R_EAX, 2)
                            : (reg_get(cpu, i, R_EDX, s) << (s * 8)) | reg_get(cpu, i, R_EAX, s);
        q = n / d;
        r = n % d;
        if (q > size_mask(s)) {
            x86_raise(cpu, EXC_DE, 0);
        }
    }
    if (s == 1) {
        reg_set(cpu, i, R_EAX, (r << 8) | q, 2);
    } else {
        reg_set(cpu, i, R_EAX, q, s);
        reg_set(cpu, i, R_EDX, r, s);
    }
}

void h_idiv(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    int64_t d = sext(rm_get(cpu, i, s), s);
    __int128 n, q, r;

    if (d == 0) {
        x86_raise(cpu, EXC_DE, 0);
    }
    if (s == 8) {
        n = (__int128)(((unsigned __int128)cpu->s.regs[R_EDX] << 64) | cpu->s.regs[R_EAX]);
    } else if (s == 1) {
        n = sext(reg_get(cpu, i, R_EAX, 2), 2);
    } else {
        n = sext((reg_get(cpu, i, R_EDX, s) << (s * 8)) | reg_get(cpu, i, R_EAX, s), s * 2);
    }
    if (s == 8 && (unsigned __int128)n == (unsigned __int128)1 << 127 && d == -1) {
        x86_raise(cpu, EXC_DE, 0);      /* the only case where / overflows */
    }
    q = n / d;
    r = n % d;
    if (q != (__int128)sext((uint64_t)q, s)) {
        x86_raise(cpu, EXC_DE, 0);
    }
    if (s == 1) {
        reg_set(cpu, i, R_EAX, (((uint64_t)r & 0xff) << 8) | ((uint64_t)q & 0xff), 2);
    } else {
        reg_set(cpu, i, R_EAX, (uint64_t)q, s);
        reg_set(cpu, i, R_EDX, (uint64_t)r, s);
    }
}
