/*
 * BT BTS BTR BTC (register and immediate bit offsets), BSF BSR (also
 * TZCNT/LZCNT encodings: we advertise neither BMI1 nor ABM, so F3 is
 * ignored as on older CPUs), POPCNT.
 */
#include "core.h"

static uint64_t bt_apply(unsigned kind, uint64_t v, uint64_t bit)
{
    switch (kind) {
    case 1: return v | bit;
    case 2: return v & ~bit;
    case 3: return v ^ bit;
    default: return v;
    }
}

/* BTx with the bit offset in @off (register forms may reach beyond the
   operand in memory: the offset is signed and selects the word). */
static void bt_common(CPU *cpu, const Insn *i, uint64_t off, bool reg_offset)
{
    unsigned s = i->opsize, bits = s * 8, kind = (unsigned)i->imm2;
    uint64_t bit, v, nv, la;

    if (i->mod == 3) {
        bit = 1ull << (off & (bits - 1));
        v = reg_get(cpu, i, i->rm, s);
        if (kind) {
            reg_set(cpu, i, i->rm, bt_apply(kind, v, bit), s);
        }
        lf_set_cf(cpu, (v & bit) != 0);
        return;
    }
    {
        uint64_t ea = x86_ea(cpu, i);
        if (reg_offset) {
            int64_t word = sext(off, s) >> (bits == 16 ? 4 : bits == 32 ? 5 : 6);
            ea += (uint64_t)word * s;
            ea &= i->addrsize == 8 ? ~0ull : i->addrsize == 4 ? 0xffffffffull : 0xffff;
        }
        bit = 1ull << (off & (bits - 1));
        la = x86_linear(cpu, i->seg, ea, s, kind ? ACC_WRITE : ACC_READ);
    }
    if (i->lock) {
        LOCKED_RMW(cpu, la, s, v, nv, bt_apply(kind, v, bit));
    } else {
        v = mem_read(cpu, la, s);
        if (kind) {
            mem_write(cpu, la, bt_apply(kind, v, bit), s);
        }
    }
    lf_set_cf(cpu, (v & bit) != 0);
}

void h_bt_reg(CPU *cpu, const Insn *i)
{
    bt_common(cpu, i, reg_get(cpu, i, i->reg, i->opsize), true);
}

void h_bt_imm(CPU *cpu, const Insn *i)
{
    bt_common(cpu, i, i->imm & 0xff, false);
}

/*
 * BSF/BSR: a zero source sets ZF and leaves the destination alone (what
 * Intel and AMD hardware do). The flags the SDM leaves undefined follow
 * Intel hardware: CF OF SF AF are 0, PF is the parity of the index (1
 * for a zero source). The lazy result: the index with bit 8 set, or 0.
 */
void h_bsf(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v = rm_get(cpu, i, s);

    if (!v) {
        lf_set(cpu, 0, 0);
        return;
    }
    reg_set(cpu, i, i->reg, (uint64_t)__builtin_ctzll(v), s);
    lf_set(cpu, (uint64_t)__builtin_ctzll(v) | 0x100, 0);
}

void h_bsr(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v = rm_get(cpu, i, s);

    if (!v) {
        lf_set(cpu, 0, 0);
        return;
    }
    reg_set(cpu, i, i->reg, (uint64_t)(63 - __builtin_clzll(v)), s);
    lf_set(cpu, (uint64_t)(63 - __builtin_clzll(v)) | 0x100, 0);
}

/* POPCNT: ZF = (source == 0), the other five flags clear. */
void h_popcnt(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t v = rm_get(cpu, i, s);

    reg_set(cpu, i, i->reg, (uint64_t)__builtin_popcountll(v), s);
    lf_set_arith(cpu, v ? 0 : FLAG_ZF);
}
