/*
 * String instructions MOVS CMPS STOS LODS SCAS INS OUTS, with REP, REPE
 * and REPNE. Every iteration commits rSI/rDI/rCX, so a fault in the middle
 * restarts the instruction where it stopped. A REP instruction runs a
 * bounded amount of work per call and then re-executes itself (next_rip =
 * rip), which lets the loop take interrupts in long copies.
 *
 * Fast paths: forward REP MOVS and REP STOS between RAM pages in the TLB
 * copy page-bounded chunks through host pointers. The write TLB never
 * holds pages with decoded code, so self-modifying copies take the slow
 * path and invalidate.
 */
#include <string.h>
#include "core.h"

enum { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS, S_INS, S_OUTS };

/* Work per call before a REP instruction yields to the loop. */
#define REP_MAX_ITERS 4096
#define REP_MAX_BYTES (64u << 10)

static inline uint64_t amask(const Insn *i)
{
    return i->addrsize == 8 ? ~0ull : i->addrsize == 4 ? 0xffffffffull : 0xffff;
}

static void str_once(CPU *cpu, const Insn *i, int kind)
{
    unsigned s = i->opsize, as = i->addrsize;
    uint64_t am = amask(i);
    int64_t step = (cpu->s.rflags & FLAG_DF) ? -(int64_t)s : (int64_t)s;
    uint64_t si = cpu->s.regs[R_ESI] & am, di = cpu->s.regs[R_EDI] & am, a, b;

    switch (kind) {
    case S_MOVS:
        a = mem_read(cpu, x86_linear(cpu, i->seg, si, s, ACC_READ), s);
        mem_write(cpu, x86_linear(cpu, SEG_ES, di, s, ACC_WRITE), a, s);
        reg_set_asize(cpu, R_ESI, si + step, as);
        reg_set_asize(cpu, R_EDI, di + step, as);
        break;
    case S_CMPS:
        a = mem_read(cpu, x86_linear(cpu, i->seg, si, s, ACC_READ), s);
        b = mem_read(cpu, x86_linear(cpu, SEG_ES, di, s, ACC_READ), s);
        reg_set_asize(cpu, R_ESI, si + step, as);
        reg_set_asize(cpu, R_EDI, di + step, as);
        lf_cmp(cpu, s, a, b);
        break;
    case S_STOS:
        mem_write(cpu, x86_linear(cpu, SEG_ES, di, s, ACC_WRITE), cpu->s.regs[R_EAX], s);
        reg_set_asize(cpu, R_EDI, di + step, as);
        break;
    case S_LODS:
        a = mem_read(cpu, x86_linear(cpu, i->seg, si, s, ACC_READ), s);
        reg_set(cpu, i, R_EAX, a, s);
        reg_set_asize(cpu, R_ESI, si + step, as);
        break;
    case S_SCAS:
        b = mem_read(cpu, x86_linear(cpu, SEG_ES, di, s, ACC_READ), s);
        reg_set_asize(cpu, R_EDI, di + step, as);
        lf_cmp(cpu, s, reg_get(cpu, i, R_EAX, s), b);
        break;
    case S_INS: {
        uint64_t la = x86_linear(cpu, SEG_ES, di, s, ACC_WRITE);
        a = x86_in(cpu, (uint16_t)cpu->s.regs[R_EDX], s);
        mem_write(cpu, la, a, s);
        reg_set_asize(cpu, R_EDI, di + step, as);
        break;
    }
    default:
        a = mem_read(cpu, x86_linear(cpu, i->seg, si, s, ACC_READ), s);
        x86_out(cpu, (uint16_t)cpu->s.regs[R_EDX], (uint32_t)a, s);
        reg_set_asize(cpu, R_ESI, si + step, as);
        break;
    }
}

/* Can the fast paths compute linear addresses without segment limits? */
static bool fast_segs(const CPU *cpu, const Insn *i, bool uses_src)
{
    if (cpu->code64) {
        return true;
    }
    return cpu->flat && (!uses_src || (i->seg != SEG_FS && i->seg != SEG_GS));
}

/*
 * Elements (at most @cnt) that fit in the current pages of @la (and @la2)
 * without wrapping the address size; 0 if an element straddles a page.
 */
static uint64_t chunk_elems(const Insn *i, uint64_t cnt, uint64_t off, uint64_t la, bool two,
                            uint64_t off2, uint64_t la2)
{
    unsigned s = i->opsize;
    uint64_t am = amask(i), n = (0x1000 - (la & 0xfff)) / s;

    if (two) {
        uint64_t n2 = (0x1000 - (la2 & 0xfff)) / s;
        n = n2 < n ? n2 : n;
        if (am != ~0ull && (am - off2) / s + 1 < n) {
            n = (am - off2) / s + 1;
        }
    }
    if (am != ~0ull && (am - off) / s + 1 < n) {
        n = (am - off) / s + 1;
    }
    return cnt < n ? cnt : n;
}

/* Forward REP MOVS chunk through host pointers; elements moved or 0. */
static uint64_t movs_fast(CPU *cpu, const Insn *i, uint64_t cnt)
{
    unsigned s = i->opsize;
    uint64_t am = amask(i), si = cpu->s.regs[R_ESI] & am, di = cpu->s.regs[R_EDI] & am;
    uint64_t sla, dla, n;
    TlbEntry *es, *ed;
    uint8_t *src, *dst;

    if (!fast_segs(cpu, i, true)) {
        return 0;
    }
    sla = x86_linear(cpu, i->seg, si, s, ACC_READ);
    dla = x86_linear(cpu, SEG_ES, di, s, ACC_WRITE);
    es = tlb_entry(cpu, sla);
    ed = tlb_entry(cpu, dla);
    if (es->tag_r != (sla & ~0xfffull) || ed->tag_w != (dla & ~0xfffull)) {
        return 0;
    }
    n = chunk_elems(i, cnt, si, sla, true, di, dla);
    if (!n) {
        return 0;
    }
    src = (uint8_t *)(uintptr_t)(sla + es->addend);
    dst = (uint8_t *)(uintptr_t)(dla + ed->addend);
    if (dst > src && dst < src + n * s) {
        /* Overlap with the destination ahead: element by element, as
           the hardware's forward copy replicates the pattern. */
        for (uint64_t k = 0; k < n; k++) {
            memmove(dst + k * s, src + k * s, s);
        }
    } else {
        memmove(dst, src, n * s);
    }
    reg_set_asize(cpu, R_ESI, si + n * s, i->addrsize);
    reg_set_asize(cpu, R_EDI, di + n * s, i->addrsize);
    return n;
}

/* Store @n copies of @v as @type at @dst (any alignment). */
#define fill_elems(type, dst, v, n)                                            \
    do {                                                                       \
        type v_ = (type)(v);                                                   \
        for (uint64_t k_ = 0; k_ < (n); k_++) {                                \
            __builtin_memcpy((dst) + k_ * sizeof(type), &v_, sizeof(type));    \
        }                                                                      \
    } while (0)

static uint64_t stos_fast(CPU *cpu, const Insn *i, uint64_t cnt)
{
    unsigned s = i->opsize;
    uint64_t am = amask(i), di = cpu->s.regs[R_EDI] & am, dla, n, v = cpu->s.regs[R_EAX];
    TlbEntry *ed;
    uint8_t *dst;

    if (!fast_segs(cpu, i, false)) {
        return 0;
    }
    dla = x86_linear(cpu, SEG_ES, di, s, ACC_WRITE);
    ed = tlb_entry(cpu, dla);
    if (ed->tag_w != (dla & ~0xfffull)) {
        return 0;
    }
    n = chunk_elems(i, cnt, di, dla, false, 0, 0);
    if (!n) {
        return 0;
    }
    dst = (uint8_t *)(uintptr_t)(dla + ed->addend);
    v &= size_mask(s);
    if (v == (v & 0xff) * (size_mask(s) / 0xff)) {
        memset(dst, (int)(v & 0xff), n * s);      /* every byte equal (zeroing) */
    } else {
        switch (s) {
        case 2: fill_elems(uint16_t, dst, v, n); break;
        case 4: fill_elems(uint32_t, dst, v, n); break;
        default: fill_elems(uint64_t, dst, v, n); break;
        }
    }
    reg_set_asize(cpu, R_EDI, di + n * s, i->addrsize);
    return n;
}

static void str_rep(CPU *cpu, const Insn *i, int kind)
{
    uint64_t am = amask(i), cnt = cpu->s.regs[R_ECX] & am, bytes = 0;
    unsigned iters = 0;
    bool fwd = !(cpu->s.rflags & FLAG_DF);

    while (cnt) {
        if (fwd && (kind == S_MOVS || kind == S_STOS)) {
            uint64_t n = kind == S_MOVS ? movs_fast(cpu, i, cnt) : stos_fast(cpu, i, cnt);
            if (n) {
                cnt -= n;
                reg_set_asize(cpu, R_ECX, cnt, i->addrsize);
                bytes += n * i->opsize;
                if (cnt && bytes >= REP_MAX_BYTES) {
                    cpu->next_rip = cpu->s.rip;
                    return;
                }
                continue;
            }
        }
        str_once(cpu, i, kind);
        cnt--;
        reg_set_asize(cpu, R_ECX, cnt, i->addrsize);
        if (kind == S_CMPS || kind == S_SCAS) {
            /* REPE stops on a difference, REPNE on a match. */
            if (lf_zf(cpu) != (i->rep == 0xf3)) {
                return;
            }
        }
        if (cnt && ++iters >= REP_MAX_ITERS) {
            cpu->next_rip = cpu->s.rip;
            return;
        }
    }
}

static void str_dispatch(CPU *cpu, const Insn *i, int kind)
{
    if (i->rep) {
        str_rep(cpu, i, kind);
    } else {
        str_once(cpu, i, kind);
    }
}

void h_movs(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_MOVS); }
void h_cmps(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_CMPS); }
void h_stos(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_STOS); }
void h_lods(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_LODS); }
void h_scas(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_SCAS); }
void h_ins(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_INS); }
void h_outs(CPU *cpu, const Insn *i) { str_dispatch(cpu, i, S_OUTS); }
