/*
 * Shifts and rotates (group 2), SHLD and SHRD. Flags follow Intel
 * hardware, including the cases the SDM leaves undefined (checked against
 * the host by tests/unit/test-interp-diff.c): a masked count of 0 changes
 * nothing; for any other count OF is what a count of 1 would give, from
 * the source operand (SHL/ROL/RCL: its top two bits; SHR: its top bit;
 * SAR: 0; ROR: top bit ^ bit 0; RCR: top bit ^ CF; SHLD/SHRD likewise);
 * AF is 0; rotates change only CF and OF.
 */
#include "core.h"

/* Shifts that give 0 for counts >= 64 instead of undefined behaviour. */
static inline uint64_t shl64(uint64_t v, unsigned n) { return n >= 64 ? 0 : v << n; }
static inline uint64_t shr64(uint64_t v, unsigned n) { return n >= 64 ? 0 : v >> n; }

/* Operand read for a read-modify-write r/m; *la gets the address. */
ALWAYS_INLINE uint64_t rmw_read(CPU *cpu, const Insn *i, unsigned s, uint64_t *la)
{
    if (i->mod == 3) {
        return reg_get(cpu, i, i->rm, s);
    }
    *la = ea_la(cpu, i, s, ACC_WRITE);
    return mem_read(cpu, *la, s);
}

/* A count of 0 changes nothing, except that a 32-bit register operand is
   still written (its upper half cleared), as hardware does. */
static void count_zero(CPU *cpu, const Insn *i, uint64_t a)
{
    if (i->mod == 3 && i->opsize == 4) {
        reg_set(cpu, i, i->rm, a, 4);
    }
}

ALWAYS_INLINE void rmw_write(CPU *cpu, const Insn *i, unsigned s, uint64_t la, uint64_t v)
{
    if (i->mod == 3) {
        reg_set(cpu, i, i->rm, v, s);
    } else {
        mem_write(cpu, la, v, s);
    }
}

ALWAYS_INLINE void shift_common(CPU *cpu, const Insn *i, unsigned s, unsigned op)
{
    unsigned bits = s * 8;
    unsigned cnt = i->imm2 == 0 ? (unsigned)i->imm : i->imm2 == 1 ? 1 : (unsigned)cpu->s.regs[R_ECX];
    uint64_t m = size_mask(s), la = 0, a, r;
    unsigned cf, of, c;
    bool rot_imm_keeps_of;

    cnt &= s == 8 ? 63 : 31;
    /* Intel quirk: ROL/ROR of a register by an immediate count other
       than 1 leave OF alone (memory operands, the CL forms, RCL and RCR
       compute it). */
    rot_imm_keeps_of = i->imm2 == 0 && cnt != 1 && op <= 1 && i->mod == 3;
    a = rmw_read(cpu, i, s, &la);
    if (cnt == 0) {
        count_zero(cpu, i, a);
        return;
    }
    switch (op) {
    case 0: /* ROL */
        c = cnt & (bits - 1);
        r = c ? ((a << c) | (a >> (bits - c))) & m : a;
        cf = r & 1;
        of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
        rmw_write(cpu, i, s, la, r);
        lf_set_cf_of(cpu, cf, rot_imm_keeps_of ? lf_of(cpu) : of);
        return;
    case 1: /* ROR */
        c = cnt & (bits - 1);
        r = c ? ((a >> c) | (a << (bits - c))) & m : a;
        cf = (r >> (bits - 1)) & 1;
        of = ((a >> (bits - 1)) ^ a) & 1;
        rmw_write(cpu, i, s, la, r);
        lf_set_cf_of(cpu, cf, rot_imm_keeps_of ? lf_of(cpu) : of);
        return;
    case 2: /* RCL: rotate the (bits+1)-bit value CF:a left */
        c = s <= 2 ? cnt % (bits + 1) : cnt;
        if (!c) {
            count_zero(cpu, i, a);  /* a full turn: nothing changes */
            return;
        }
        cf = lf_cf(cpu);
        of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
        if (c) {
            r = (shl64(a, c) | ((uint64_t)cf << (c - 1)) | shr64(a, bits + 1 - c)) & m;
            cf = (a >> (bits - c)) & 1;
        } else {
            r = a;
        }
        rmw_write(cpu, i, s, la, r);
        lf_set_cf_of(cpu, cf, rot_imm_keeps_of ? lf_of(cpu) : of);
        return;
    case 3: /* RCR */
        c = s <= 2 ? cnt % (bits + 1) : cnt;
        if (!c) {
            count_zero(cpu, i, a);
            return;
        }
        cf = lf_cf(cpu);
        of = ((a >> (bits - 1)) & 1) ^ cf;      /* before rotating (SDM) */
        if (c) {
            r = (shr64(a, c) | shl64(cf, bits - c) | shl64(a, bits + 1 - c)) & m;
            cf = (a >> (c - 1)) & 1;
        } else {
            r = a;
        }
        rmw_write(cpu, i, s, la, r);
        lf_set_cf_of(cpu, cf, rot_imm_keeps_of ? lf_of(cpu) : of);
        return;
    case 4: case 6: /* SHL/SAL */
        r = shl64(a, cnt) & m;
        cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
        of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
        break;
    case 5: /* SHR */
        r = shr64(a, cnt);
        cf = cnt <= bits ? (a >> (cnt - 1)) & 1 : 0;
        of = (a >> (bits - 1)) & 1;
        break;
    default: { /* SAR */
        int64_t sa = sext(a, s);
        r = (uint64_t)(sa >> (cnt > 63 ? 63 : cnt)) & m;
        cf = (sa >> (cnt - 1 > 63 ? 63 : cnt - 1)) & 1;
        of = 0;
        break;
    }
    }
    rmw_write(cpu, i, s, la, r);
    lf_set(cpu, sext(r, s), lf_aux_make(cf, of, 0));
}

void h_shift(CPU *cpu, const Insn *i)
{
    shift_common(cpu, i, i->opsize, i->reg & 7);
}

/* SHL, SHR and SAR of 32- and 64-bit operands, specialised (hot in
   decompressors, hashing and address arithmetic). */
#define DEF_SHIFT(op, S)                                                       \
    static void h_shift_##op##_##S(CPU *cpu, const Insn *i)                    \
    {                                                                          \
        shift_common(cpu, i, S, op);                                           \
    }
DEF_SHIFT(4, 4) DEF_SHIFT(4, 8) DEF_SHIFT(5, 4) DEF_SHIFT(5, 8) DEF_SHIFT(7, 4) DEF_SHIFT(7, 8)

const InsnFn shift_fast[3][2] = {
    { h_shift_4_4, h_shift_4_8 },
    { h_shift_5_4, h_shift_5_8 },
    { h_shift_7_4, h_shift_7_8 },
};

/*
 * SHLD/SHRD. 16-bit operands with counts 17..31 are undefined; like
 * Intel hardware we shift through the 48-bit pattern dest:src:dest
 * (SHLD) or src:dest:src (SHRD)... of which the tests only check the
 * defined range.
 */
static unsigned dbl_count(CPU *cpu, const Insn *i)
{
    unsigned cnt = i->imm2 == 0 ? (unsigned)i->imm : (unsigned)cpu->s.regs[R_ECX];

    return cnt & (i->opsize == 8 ? 63 : 31);
}

void h_shld(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize, bits = s * 8, cnt = dbl_count(cpu, i), cf, of;
    uint64_t m = size_mask(s), la = 0, a, b, r;

    a = rmw_read(cpu, i, s, &la);
    b = reg_get(cpu, i, i->reg, s);
    if (cnt == 0) {
        count_zero(cpu, i, a);
        return;
    }
    if (s == 2) {
        uint64_t x = (a << 32) | (b << 16) | a;
        r = (x << cnt >> 32) & m;
        cf = (x >> (48 - cnt)) & 1;
    } else {
        r = (shl64(a, cnt) | shr64(b, bits - cnt)) & m;
        cf = (a >> (bits - cnt)) & 1;
    }
    /* Intel: as for a count of 1, whatever the count. */
    of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
    rmw_write(cpu, i, s, la, r);
    lf_set(cpu, sext(r, s), lf_aux_make(cf, of, 0));
}

void h_shrd(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize, bits = s * 8, cnt = dbl_count(cpu, i), cf, of;
    uint64_t m = size_mask(s), la = 0, a, b, r;

    a = rmw_read(cpu, i, s, &la);
    b = reg_get(cpu, i, i->reg, s);
    if (cnt == 0) {
        count_zero(cpu, i, a);
        return;
    }
    if (s == 2) {
        uint64_t x = (b << 32) | (a << 16) | b;
        r = (x >> (cnt + 16)) & m;
        cf = (x >> (cnt + 15)) & 1;
    } else {
        r = (shr64(a, cnt) | shl64(b, bits - cnt)) & m;
        cf = (a >> (cnt - 1)) & 1;
    }
    /* Intel: as for a count of 1, whatever the count. */
    of = ((a >> (bits - 1)) ^ b) & 1;
    rmw_write(cpu, i, s, la, r);
    lf_set(cpu, sext(r, s), lf_aux_make(cf, of, 0));
}
