/*
 * Lazy arithmetic flags: materialising RFLAGS from lf_res/lf_aux (see the
 * encoding in core.h) and loading them back.
 */
#include "core.h"

uint64_t lf_get_arith(const CPU *cpu)
{
    return (uint64_t)lf_cf(cpu) | ((uint64_t)lf_pf(cpu) << 2) |
           ((uint64_t)lf_af(cpu) << 4) | ((uint64_t)lf_zf(cpu) << 6) |
           ((uint64_t)lf_sf(cpu) << 7) | ((uint64_t)lf_of(cpu) << 11);
}

/*
 * Any combination of the six flags: a result of 0 (ZF=1) or 1 (ZF=0),
 * with the sign and parity deltas making SF and PF what @f says.
 */
void lf_set_arith(CPU *cpu, uint64_t f)
{
    unsigned zf = (f >> 6) & 1, sf = (f >> 7) & 1, pf = (f >> 2) & 1;
    uint64_t res = zf ? 0 : 1;
    unsigned natural_pf = zf;    /* parity of 0x00 is even, of 0x01 odd */

    cpu->lf_res = res;
    cpu->lf_aux = lf_aux_make(f & 1, (f >> 11) & 1, (f >> 4) & 1) |
                  ((uint64_t)(natural_pf != pf) << LF_PDB_SHIFT) |
                  ((uint64_t)sf << 16);
}

uint64_t x86_get_rflags(CPU *cpu)
{
    return (cpu->s.rflags & ~(uint64_t)FLAGS_ARITH) | lf_get_arith(cpu) | 2;
}

void x86_set_rflags(CPU *cpu, uint64_t val, uint64_t mask)
{
    uint64_t old = cpu->s.rflags;

    if (mask & FLAGS_ARITH) {
        uint64_t f = (lf_get_arith(cpu) & ~mask) | (val & mask);
        lf_set_arith(cpu, f & FLAGS_ARITH);
    }
    mask &= ~(uint64_t)FLAGS_ARITH;
    cpu->s.rflags = (((old & ~mask) | (val & mask)) & ~(uint64_t)FLAGS_ARITH) | 2;
    if ((old ^ cpu->s.rflags) & FLAG_VM) {
        x86_update_mode(cpu);
    }
}
