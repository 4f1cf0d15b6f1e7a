/*
 * SSE/SSE2/SSE3 and MMX data movement: full, scalar, half and duplicating
 * moves, MOVD/MOVQ in all forms, non-temporal stores (plain stores here),
 * masked stores and sign-mask extraction. No floating-point exceptions.
 */
#include "fpu-internal.h"
#include "sse-ops.h"

/* Full 16-byte load xmm <- xmm/m128. */
static inline void load128(CPU *cpu, const Insn *i, bool align)
{
    Vec v;
    sse_check(cpu, i);
    if (i->mod == 3) {
        xmm_get(cpu, i->rm, &v);
    } else {
        mem_get(cpu, fpu_la(cpu, i, 16, ACC_READ, align), &v, 16);
    }
    xmm_set(cpu, i->reg, &v);
}

/* Full 16-byte store xmm/m128 <- xmm; @mem_only: register form is #UD. */
static inline void store128(CPU *cpu, const Insn *i, bool align, bool mem_only)
{
    Vec v;
    sse_check(cpu, i);
    xmm_get(cpu, i->reg, &v);
    if (i->mod == 3) {
        if (mem_only) {
            x86_raise_ud(cpu);
        }
        xmm_set(cpu, i->rm, &v);
    } else {
        mem_put(cpu, fpu_la(cpu, i, 16, ACC_WRITE, align), &v, 16);
    }
}

void sse_movaps_load(CPU *cpu, const Insn *i) { load128(cpu, i, true); }
void sse_movups_load(CPU *cpu, const Insn *i) { load128(cpu, i, false); }
void sse_movaps_store(CPU *cpu, const Insn *i) { store128(cpu, i, true, false); }
void sse_movups_store(CPU *cpu, const Insn *i) { store128(cpu, i, false, false); }
void sse_movntps(CPU *cpu, const Insn *i) { store128(cpu, i, true, true); }

void sse_lddqu(CPU *cpu, const Insn *i)
{
    if (i->mod == 3) {
        x86_raise_ud(cpu);
    }
    load128(cpu, i, false);
}

/* MOVSS/MOVSD load: memory zero-extends, a register moves the low lane. */
static inline void movs_load(CPU *cpu, const Insn *i, unsigned size)
{
    Vec d, s;
    sse_check(cpu, i);
    if (i->mod == 3) {
        xmm_get(cpu, i->reg, &d);
        xmm_get(cpu, i->rm, &s);
        memcpy(&d, &s, size);
    } else {
        mem_get(cpu, fpu_la(cpu, i, size, ACC_READ, false), &d, size);
    }
    xmm_set(cpu, i->reg, &d);
}

static inline void movs_store(CPU *cpu, const Insn *i, unsigned size)
{
    Vec d, s;
    sse_check(cpu, i);
    xmm_get(cpu, i->reg, &s);
    if (i->mod == 3) {
        xmm_get(cpu, i->rm, &d);
        memcpy(&d, &s, size);
        xmm_set(cpu, i->rm, &d);
    } else {
        mem_put(cpu, fpu_la(cpu, i, size, ACC_WRITE, false), &s, size);
    }
}

void sse_movss_load(CPU *cpu, const Insn *i) { movs_load(cpu, i, 4); }
void sse_movsd_load(CPU *cpu, const Insn *i) { movs_load(cpu, i, 8); }
void sse_movss_store(CPU *cpu, const Insn *i) { movs_store(cpu, i, 4); }
void sse_movsd_store(CPU *cpu, const Insn *i) { movs_store(cpu, i, 8); }

/* MOVLPS/MOVLPD/MOVHPS/MOVHPD loads (@hi: which half of xmm receives
   m64); register forms are MOVHLPS/MOVLHPS, or #UD when !@reg_ok. */
static inline void movhl_load(CPU *cpu, const Insn *i, bool hi, bool reg_ok)
{
    Vec d, s;
    sse_check(cpu, i);
    if (i->mod == 3) {
        if (!reg_ok) {
            x86_raise_ud(cpu);
        }
        xmm_get(cpu, i->rm, &s);
        s.q[0] = s.q[hi ? 0 : 1];   /* MOVLHPS takes the low, MOVHLPS the high */
    } else {
        mem_get(cpu, fpu_la(cpu, i, 8, ACC_READ, false), &s, 8);
    }
    xmm_get(cpu, i->reg, &d);
    d.q[hi] = s.q[0];
    xmm_set(cpu, i->reg, &d);
}

static inline void movhl_store(CPU *cpu, const Insn *i, bool hi)
{
    Vec s;
    sse_check(cpu, i);
    if (i->mod == 3) {
        x86_raise_ud(cpu);
    }
    xmm_get(cpu, i->reg, &s);
    mem_write64(cpu, fpu_la(cpu, i, 8, ACC_WRITE, false), s.q[hi]);
}

void sse_movlps_load(CPU *cpu, const Insn *i) { movhl_load(cpu, i, false, true); }
void sse_movlpd_load(CPU *cpu, const Insn *i) { movhl_load(cpu, i, false, false); }
void sse_movhps_load(CPU *cpu, const Insn *i) { movhl_load(cpu, i, true, true); }
void sse_movhpd_load(CPU *cpu, const Insn *i) { movhl_load(cpu, i, true, false); }
void sse_movlps_store(CPU *cpu, const Insn *i) { movhl_store(cpu, i, false); }
void sse_movhps_store(CPU *cpu, const Insn *i) { movhl_store(cpu, i, true); }

/* MOVSLDUP (@odd 0) / MOVSHDUP (@odd 1): duplicate even or odd dwords. */
static inline void movsdup(CPU *cpu, const Insn *i, unsigned odd)
{
    Vec s, r;
    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, 16, true);
    for (unsigned k = 0; k < 4; k++) {
        r.d[k] = s.d[(k & ~1u) + odd];
    }
    xmm_set(cpu, i->reg, &r);
}

void sse_movsldup(CPU *cpu, const Insn *i) { movsdup(cpu, i, 0); }
void sse_movshdup(CPU *cpu, const Insn *i) { movsdup(cpu, i, 1); }

void sse_movddup(CPU *cpu, const Insn *i)
{
    Vec s;
    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, 8, false);
    s.q[1] = s.q[0];
    xmm_set(cpu, i->reg, &s);
}

/* ------------------------------------------------------------ MOVD/MOVQ */

/* The r/m GPR-or-memory operand of MOVD (32 bits, 64 with REX.W). */
static inline uint64_t gpr_rm_read(CPU *cpu, const Insn *i)
{
    bool w = i->rex & 8;
    if (i->mod == 3) {
        return w ? cpu->s.regs[i->rm] : (uint32_t)cpu->s.regs[i->rm];
    }
    uint64_t la = fpu_la(cpu, i, w ? 8 : 4, ACC_READ, false);
    return w ? mem_read64(cpu, la) : mem_read32(cpu, la);
}

static inline void gpr_rm_write(CPU *cpu, const Insn *i, uint64_t v)
{
    bool w = i->rex & 8;
    if (i->mod == 3) {
        cpu->s.regs[i->rm] = w ? v : (uint32_t)v;
    } else if (w) {
        mem_write64(cpu, fpu_la(cpu, i, 8, ACC_WRITE, false), v);
    } else {
        mem_write32(cpu, fpu_la(cpu, i, 4, ACC_WRITE, false), (uint32_t)v);
    }
}

/* 0F 6E: MOVD/MOVQ mm, r/m. */
void sse_movd_mm_load(CPU *cpu, const Insn *i)
{
    uint64_t v;
    mmx_check(cpu, i);
    v = gpr_rm_read(cpu, i);
    mmx_enter(cpu);
    mmx_set(cpu, i->reg, v);
}

/* 66 0F 6E: MOVD/MOVQ xmm, r/m. */
void sse_movd_xmm_load(CPU *cpu, const Insn *i)
{
    Vec v = { .q = { 0, 0 } };
    sse_check(cpu, i);
    v.q[0] = gpr_rm_read(cpu, i);
    xmm_set(cpu, i->reg, &v);
}

/* 0F 7E: MOVD/MOVQ r/m, mm. */
void sse_movd_mm_store(CPU *cpu, const Insn *i)
{
    mmx_check(cpu, i);
    gpr_rm_write(cpu, i, mmx_get(cpu, i->reg));
    mmx_enter(cpu);
}

/* 66 0F 7E: MOVD/MOVQ r/m, xmm. */
void sse_movd_xmm_store(CPU *cpu, const Insn *i)
{
    uint64_t v;
    sse_check(cpu, i);
    memcpy(&v, cpu->fpu.xmm[i->reg], 8);
    gpr_rm_write(cpu, i, v);
}

/* F3 0F 7E: MOVQ xmm, xmm/m64 (upper half zeroed). */
void sse_movq_xmm_load(CPU *cpu, const Insn *i)
{
    Vec s;
    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, 8, false);
    s.q[1] = 0;
    xmm_set(cpu, i->reg, &s);
}

/* 66 0F D6: MOVQ xmm/m64, xmm (a register destination's upper half zeroed). */
void sse_movq_xmm_store(CPU *cpu, const Insn *i)
{
    Vec s;
    sse_check(cpu, i);
    xmm_get(cpu, i->reg, &s);
    s.q[1] = 0;
    if (i->mod == 3) {
        xmm_set(cpu, i->rm, &s);
    } else {
        mem_write64(cpu, fpu_la(cpu, i, 8, ACC_WRITE, false), s.q[0]);
    }
}

/* 0F 6F: MOVQ mm, mm/m64. */
void sse_movq_mm_load(CPU *cpu, const Insn *i)
{
    Vec s;
    mmx_check(cpu, i);
    src_get(cpu, i, &s, 8, 8, false);
    mmx_enter(cpu);
    mmx_set(cpu, i->reg, s.q[0]);
}

/* 0F 7F: MOVQ mm/m64, mm; 0F E7: MOVNTQ m64, mm (@mem_only). */
static inline void movq_mm_store(CPU *cpu, const Insn *i, bool mem_only)
{
    uint64_t v;
    mmx_check(cpu, i);
    v = mmx_get(cpu, i->reg);
    if (i->mod == 3) {
        if (mem_only) {
            x86_raise_ud(cpu);
        }
        mmx_enter(cpu);
        mmx_set(cpu, i->rm, v);
        return;
    }
    mem_write64(cpu, fpu_la(cpu, i, 8, ACC_WRITE, false), v);
    mmx_enter(cpu);
}

void sse_movq_mm_store(CPU *cpu, const Insn *i) { movq_mm_store(cpu, i, false); }
void sse_movntq(CPU *cpu, const Insn *i) { movq_mm_store(cpu, i, true); }

/* F3 0F D6: MOVQ2DQ xmm, mm. */
void sse_movq2dq(CPU *cpu, const Insn *i)
{
    Vec v = { .q = { 0, 0 } };
    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    sse_check(cpu, i);
    v.q[0] = mmx_get(cpu, i->rm);
    mmx_enter(cpu);
    xmm_set(cpu, i->reg, &v);
}

/* F2 0F D6: MOVDQ2Q mm, xmm. */
void sse_movdq2q(CPU *cpu, const Insn *i)
{
    Vec v;
    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    sse_check(cpu, i);
    xmm_get(cpu, i->rm, &v);
    mmx_enter(cpu);
    mmx_set(cpu, i->reg, v.q[0]);
}

/* 0F C3: MOVNTI m32/m64, r. */
void sse_movnti(CPU *cpu, const Insn *i)
{
    if (i->mod == 3 || i->lock) {
        x86_raise_ud(cpu);
    }
    if (i->rex & 8) {
        mem_write64(cpu, fpu_la(cpu, i, 8, ACC_WRITE, false), cpu->s.regs[i->reg]);
    } else {
        mem_write32(cpu, fpu_la(cpu, i, 4, ACC_WRITE, false), (uint32_t)cpu->s.regs[i->reg]);
    }
}

/* ------------------------------------------------------ masks, MASKMOV */

/* MOVMSKPS/PD r32, xmm: sign bits of each lane. */
static inline void movmsk(CPU *cpu, const Insn *i, bool dbl)
{
    Vec s;
    uint32_t m = 0;
    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    sse_check(cpu, i);
    xmm_get(cpu, i->rm, &s);
    if (dbl) {
        m = (s.q[0] >> 63) | (s.q[1] >> 63) << 1;
    } else {
        for (unsigned k = 0; k < 4; k++) {
            m |= (s.d[k] >> 31) << k;
        }
    }
    cpu->s.regs[i->reg] = m;
}

void sse_movmskps(CPU *cpu, const Insn *i) { movmsk(cpu, i, false); }
void sse_movmskpd(CPU *cpu, const Insn *i) { movmsk(cpu, i, true); }

/*
 * MASKMOVQ / MASKMOVDQU: store the bytes of reg whose mask byte (in rm)
 * has its top bit set, to seg:[rDI]. Known gap: a fault part-way leaves
 * the earlier bytes written.
 */
static inline void maskmov(CPU *cpu, const Insn *i, unsigned n)
{
    Vec d, m;
    uint64_t off = cpu->s.regs[R_EDI];

    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    vec_check_enter(cpu, i, n);
    vreg_get(cpu, i->reg, &d, n);
    vreg_get(cpu, i->rm, &m, n);
    if (i->addrsize == 4) {
        off = (uint32_t)off;
    } else if (i->addrsize == 2) {
        off = (uint16_t)off;
    }
    for (unsigned k = 0; k < n; k++) {
        if (m.b[k] & 0x80) {
            mem_write8(cpu, x86_linear(cpu, i->seg, off + k, 1, ACC_WRITE), d.b[k]);
        }
    }
}

void sse_maskmovq(CPU *cpu, const Insn *i) { maskmov(cpu, i, 8); }
void sse_maskmovdqu(CPU *cpu, const Insn *i) { maskmov(cpu, i, 16); }
