/*
 * SSE/SSE2/SSE3 floating point: arithmetic, compares, conversions,
 * horizontal ops and shuffles. Each lane is computed by the host's scalar
 * instruction of the same name (see fpu-internal.h), so packed results
 * and the OR of their exception flags equal the packed instruction's.
 * RCPPS/RSQRTPS therefore return the host CPU's approximation.
 */
#include "fpu-internal.h"
#include "sse-ops.h"

/* ------------------------------------------------------ host scalar ops */

#define HOST_OP2(name, insn)                                                  \
    static inline float h_##name##_s(float a, float b)                        \
    {                                                                         \
        __asm__ volatile(insn "ss %2, %0" : "=x"(a) : "0"(a), "x"(b));        \
        return a;                                                             \
    }                                                                         \
    static inline double h_##name##_d(double a, double b)                     \
    {                                                                         \
        __asm__ volatile(insn "sd %2, %0" : "=x"(a) : "0"(a), "x"(b));        \
        return a;                                                             \
    }

HOST_OP2(add, "add")
HOST_OP2(sub, "sub")
HOST_OP2(mul, "mul")
HOST_OP2(div, "div")
HOST_OP2(min, "min")
HOST_OP2(max, "max")

/* Unary ops ignore their first operand (kept for a uniform shape). */
#define HOST_OP1_S(name, insn)                                                \
    static inline float h_##name##_s(float a, float b)                        \
    {                                                                         \
        (void)a;                                                              \
        __asm__ volatile(insn " %1, %0" : "=x"(a) : "x"(b));                  \
        return a;                                                             \
    }

HOST_OP1_S(sqrt, "sqrtss")
HOST_OP1_S(rcp, "rcpss")
HOST_OP1_S(rsqrt, "rsqrtss")

static inline double h_sqrt_d(double a, double b)
{
    (void)a;
    __asm__ volatile("sqrtsd %1, %0" : "=x"(a) : "x"(b));
    return a;
}

#define CMP_CASE(n, mn, sfx, a, b)                                            \
    case n: __asm__ volatile("cmp" mn sfx " %2, %0" : "=x"(a) : "0"(a), "x"(b)); break;

static inline uint32_t h_cmp_s(uint32_t abits, uint32_t bbits, unsigned p)
{
    uint32_t r;
    float a, b;
    memcpy(&a, &abits, 4);
    memcpy(&b, &bbits, 4);
    switch (p & 7) {
    CMP_CASE(0, "eq", "ss", a, b)
    CMP_CASE(1, "lt", "ss", a, b)
    CMP_CASE(2, "le", "ss", a, b)
    CMP_CASE(3, "unord", "ss", a, b)
    CMP_CASE(4, "neq", "ss", a, b)
    CMP_CASE(5, "nlt", "ss", a, b)
    CMP_CASE(6, "nle", "ss", a, b)
    CMP_CASE(7, "ord", "ss", a, b)
    }
    memcpy(&r, &a, 4);
    return r;
}

static inline uint64_t h_cmp_d(uint64_t abits, uint64_t bbits, unsigned p)
{
    uint64_t r;
    double a, b;
    memcpy(&a, &abits, 8);
    memcpy(&b, &bbits, 8);
    switch (p & 7) {
    CMP_CASE(0, "eq", "sd", a, b)
    CMP_CASE(1, "lt", "sd", a, b)
    CMP_CASE(2, "le", "sd", a, b)
    CMP_CASE(3, "unord", "sd", a, b)
    CMP_CASE(4, "neq", "sd", a, b)
    CMP_CASE(5, "nlt", "sd", a, b)
    CMP_CASE(6, "nle", "sd", a, b)
    CMP_CASE(7, "ord", "sd", a, b)
    }
    memcpy(&r, &a, 8);
    return r;
}

/* --------------------------------------------------- arithmetic handlers */

/* @lanes of @field from d (reg) and s (r/m of @size bytes); @scalar keeps
   the untouched upper lanes of d. */
#define FP_BODY(cpu, i, field, lanes, size, expr)                             \
    do {                                                                      \
        Vec d, s;                                                             \
        uint32_t host_;                                                       \
        sse_check(cpu, i);                                                    \
        src_get(cpu, i, &s, 16, size, true);                                  \
        xmm_get(cpu, i->reg, &d);                                             \
        host_ = sse_fp_enter(cpu);                                            \
        for (unsigned k = 0; k < (lanes); k++) {                              \
            __typeof__(d.field[0]) a = d.field[k], b = s.field[k];            \
            d.field[k] = (expr);                                              \
        }                                                                     \
        sse_fp_leave(cpu, host_);                                             \
        xmm_set(cpu, i->reg, &d);                                             \
    } while (0)

#define FP_ARITH(name)                                                        \
    void sse_##name##ps(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 4, 16, h_##name##_s(a, b)); } \
    void sse_##name##pd(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, dbl, 2, 16, h_##name##_d(a, b)); } \
    void sse_##name##ss(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 1, 4, h_##name##_s(a, b)); } \
    void sse_##name##sd(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, dbl, 1, 8, h_##name##_d(a, b)); }

FP_ARITH(add)
FP_ARITH(sub)
FP_ARITH(mul)
FP_ARITH(div)
FP_ARITH(min)
FP_ARITH(max)
FP_ARITH(sqrt)

void sse_rcpps(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 4, 16, h_rcp_s(a, b)); }
void sse_rcpss(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 1, 4, h_rcp_s(a, b)); }
void sse_rsqrtps(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 4, 16, h_rsqrt_s(a, b)); }
void sse_rsqrtss(CPU *cpu, const Insn *i) { FP_BODY(cpu, i, f, 1, 4, h_rsqrt_s(a, b)); }

/* CMPccPS/PD/SS/SD: all-ones or zero lanes (bit patterns in the same lane). */
void sse_cmpps(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, d, 4, 16, h_cmp_s(a, b, i->imm));
}
void sse_cmpss(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, d, 1, 4, h_cmp_s(a, b, i->imm));
}
void sse_cmppd(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, q, 2, 16, h_cmp_d(a, b, i->imm));
}
void sse_cmpsd(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, q, 1, 8, h_cmp_d(a, b, i->imm));
}

/* ADDSUB: even lanes subtract, odd lanes add. */
void sse_addsubps(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, f, 4, 16, (k & 1) ? h_add_s(a, b) : h_sub_s(a, b));
}
void sse_addsubpd(CPU *cpu, const Insn *i)
{
    FP_BODY(cpu, i, dbl, 2, 16, (k & 1) ? h_add_d(a, b) : h_sub_d(a, b));
}

/* Horizontal: the low half of the result pairs up d's lanes, the high half s's. */
#define FP_HORIZ(name, field, lanes, op)                                      \
    void sse_##name(CPU *cpu, const Insn *i)                                  \
    {                                                                         \
        Vec d, s, r;                                                          \
        uint32_t host;                                                        \
        sse_check(cpu, i);                                                    \
        src_get(cpu, i, &s, 16, 16, true);                                    \
        xmm_get(cpu, i->reg, &d);                                             \
        host = sse_fp_enter(cpu);                                             \
        for (unsigned k = 0; k < (lanes); k++) {                              \
            const Vec *v = k < (lanes) / 2 ? &d : &s;                         \
            unsigned j = 2 * (k % ((lanes) / 2));                             \
            r.field[k] = op(v->field[j], v->field[j + 1]);                    \
        }                                                                     \
        sse_fp_leave(cpu, host);                                              \
        xmm_set(cpu, i->reg, &r);                                             \
    }

FP_HORIZ(haddps, f, 4, h_add_s)
FP_HORIZ(haddpd, dbl, 2, h_add_d)
FP_HORIZ(hsubps, f, 4, h_sub_s)
FP_HORIZ(hsubpd, dbl, 2, h_sub_d)

/* ---------------------------------------------------------- COMIS/UCOMIS */

static inline void comis(CPU *cpu, const Insn *i, bool dbl, bool ordered)
{
    Vec d, s;
    uint8_t z, p, c;
    uint32_t host;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, dbl ? 8 : 4, false);
    xmm_get(cpu, i->reg, &d);
    host = sse_fp_enter(cpu);
    if (dbl && ordered) {
        __asm__ volatile("comisd %4, %3" : "=@ccz"(z), "=@ccp"(p), "=@ccc"(c)
                         : "x"(d.dbl[0]), "x"(s.dbl[0]));
    } else if (dbl) {
        __asm__ volatile("ucomisd %4, %3" : "=@ccz"(z), "=@ccp"(p), "=@ccc"(c)
                         : "x"(d.dbl[0]), "x"(s.dbl[0]));
    } else if (ordered) {
        __asm__ volatile("comiss %4, %3" : "=@ccz"(z), "=@ccp"(p), "=@ccc"(c)
                         : "x"(d.f[0]), "x"(s.f[0]));
    } else {
        __asm__ volatile("ucomiss %4, %3" : "=@ccz"(z), "=@ccp"(p), "=@ccc"(c)
                         : "x"(d.f[0]), "x"(s.f[0]));
    }
    sse_fp_leave(cpu, host);
    x86_set_rflags(cpu, (z ? FLAG_ZF : 0) | (p ? FLAG_PF : 0) | (c ? FLAG_CF : 0),
                   FLAGS_ARITH);
}

void sse_comiss(CPU *cpu, const Insn *i) { comis(cpu, i, false, true); }
void sse_ucomiss(CPU *cpu, const Insn *i) { comis(cpu, i, false, false); }
void sse_comisd(CPU *cpu, const Insn *i) { comis(cpu, i, true, true); }
void sse_ucomisd(CPU *cpu, const Insn *i) { comis(cpu, i, true, false); }

/* ------------------------------------------------------------ conversions */

static inline float h_i2s(int32_t v) { float r; __asm__ volatile("cvtsi2ssl %1, %0" : "=x"(r) : "rm"(v)); return r; }
static inline float h_q2s(int64_t v) { float r; __asm__ volatile("cvtsi2ssq %1, %0" : "=x"(r) : "rm"(v)); return r; }
static inline double h_i2d(int32_t v) { double r; __asm__ volatile("cvtsi2sdl %1, %0" : "=x"(r) : "rm"(v)); return r; }
static inline double h_q2d(int64_t v) { double r; __asm__ volatile("cvtsi2sdq %1, %0" : "=x"(r) : "rm"(v)); return r; }
static inline double h_s2d(float v) { double r; __asm__ volatile("cvtss2sd %1, %0" : "=x"(r) : "x"(v)); return r; }
static inline float h_d2s(double v) { float r; __asm__ volatile("cvtsd2ss %1, %0" : "=x"(r) : "x"(v)); return r; }

/* Float to integer; @trunc: round toward zero (the CVTT forms). The
   destination register's width picks the 32- or 64-bit encoding. */
#define H_F2I(name, ftype, itype, cvt)                                        \
    static inline itype name(ftype v, bool trunc)                             \
    {                                                                         \
        itype r;                                                              \
        if (trunc) {                                                          \
            __asm__ volatile("cvtt" cvt " %1, %0" : "=r"(r) : "x"(v));        \
        } else {                                                              \
            __asm__ volatile("cvt" cvt " %1, %0" : "=r"(r) : "x"(v));         \
        }                                                                     \
        return r;                                                             \
    }
H_F2I(h_s2i, float, int32_t, "ss2si")
H_F2I(h_s2q, float, int64_t, "ss2si")
H_F2I(h_d2i, double, int32_t, "sd2si")
H_F2I(h_d2q, double, int64_t, "sd2si")

/* CVTSI2SS/SD xmm, r/m32 (r/m64 with REX.W): the low lane only. */
static inline void cvtsi2x(CPU *cpu, const Insn *i, bool dbl)
{
    bool w = i->rex & 8;
    int64_t v;
    Vec d;
    uint32_t host;

    sse_check(cpu, i);
    if (i->mod == 3) {
        v = w ? (int64_t)cpu->s.regs[i->rm] : (int32_t)cpu->s.regs[i->rm];
    } else {
        uint64_t la = fpu_la(cpu, i, w ? 8 : 4, ACC_READ, false);
        v = w ? (int64_t)mem_read64(cpu, la) : (int32_t)mem_read32(cpu, la);
    }
    xmm_get(cpu, i->reg, &d);
    host = sse_fp_enter(cpu);
    if (dbl) {
        d.dbl[0] = w ? h_q2d(v) : h_i2d((int32_t)v);
    } else {
        d.f[0] = w ? h_q2s(v) : h_i2s((int32_t)v);
    }
    sse_fp_leave(cpu, host);
    xmm_set(cpu, i->reg, &d);
}

void sse_cvtsi2ss(CPU *cpu, const Insn *i) { cvtsi2x(cpu, i, false); }
void sse_cvtsi2sd(CPU *cpu, const Insn *i) { cvtsi2x(cpu, i, true); }

/* CVT(T)SS2SI / CVT(T)SD2SI r32/r64, xmm/m. */
static inline void cvtx2si(CPU *cpu, const Insn *i, bool dbl, bool trunc)
{
    bool w = i->rex & 8;
    Vec s;
    uint64_t r;
    uint32_t host;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, dbl ? 8 : 4, false);
    host = sse_fp_enter(cpu);
    if (dbl) {
        r = w ? (uint64_t)h_d2q(s.dbl[0], trunc) : (uint32_t)h_d2i(s.dbl[0], trunc);
    } else {
        r = w ? (uint64_t)h_s2q(s.f[0], trunc) : (uint32_t)h_s2i(s.f[0], trunc);
    }
    sse_fp_leave(cpu, host);
    cpu->s.regs[i->reg] = r;
}

void sse_cvtss2si(CPU *cpu, const Insn *i) { cvtx2si(cpu, i, false, false); }
void sse_cvttss2si(CPU *cpu, const Insn *i) { cvtx2si(cpu, i, false, true); }
void sse_cvtsd2si(CPU *cpu, const Insn *i) { cvtx2si(cpu, i, true, false); }
void sse_cvttsd2si(CPU *cpu, const Insn *i) { cvtx2si(cpu, i, true, true); }

/*
 * Lane conversions into a fresh result r: @src_size bytes of source,
 * @lanes results; upper result lanes are zero unless @merge (keep d's).
 */
#define CVT_BODY(cpu, i, src_size, lanes, merge, expr)                        \
    do {                                                                      \
        Vec s, r;                                                             \
        uint32_t host_;                                                       \
        sse_check(cpu, i);                                                    \
        src_get(cpu, i, &s, 16, src_size, true);                              \
        if (merge) {                                                          \
            xmm_get(cpu, i->reg, &r);                                         \
        } else {                                                              \
            r.q[0] = r.q[1] = 0;                                              \
        }                                                                     \
        host_ = sse_fp_enter(cpu);                                            \
        for (unsigned k = 0; k < (lanes); k++) {                              \
            expr;                                                             \
        }                                                                     \
        sse_fp_leave(cpu, host_);                                             \
        xmm_set(cpu, i->reg, &r);                                             \
    } while (0)

void sse_cvtps2pd(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 8, 2, false, r.dbl[k] = h_s2d(s.f[k])); }
void sse_cvtpd2ps(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 2, false, r.f[k] = h_d2s(s.dbl[k])); }
void sse_cvtss2sd(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 4, 1, true, r.dbl[k] = h_s2d(s.f[k])); }
void sse_cvtsd2ss(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 8, 1, true, r.f[k] = h_d2s(s.dbl[k])); }
void sse_cvtdq2ps(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 4, false, r.f[k] = h_i2s(s.sd[k])); }
void sse_cvtps2dq(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 4, false, r.sd[k] = h_s2i(s.f[k], false)); }
void sse_cvttps2dq(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 4, false, r.sd[k] = h_s2i(s.f[k], true)); }
void sse_cvtdq2pd(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 8, 2, false, r.dbl[k] = h_i2d(s.sd[k])); }
void sse_cvtpd2dq(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 2, false, r.sd[k] = h_d2i(s.dbl[k], false)); }
void sse_cvttpd2dq(CPU *cpu, const Insn *i) { CVT_BODY(cpu, i, 16, 2, false, r.sd[k] = h_d2i(s.dbl[k], true)); }

/* CVTPI2PS/PD xmm, mm/m64: an MMX register source enters MMX mode. */
static inline void cvtpi2x(CPU *cpu, const Insn *i, bool dbl)
{
    Vec s, r;
    uint32_t host;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 8, 8, false);
    xmm_get(cpu, i->reg, &r);
    host = sse_fp_enter(cpu);
    for (unsigned k = 0; k < 2; k++) {
        if (dbl) {
            r.dbl[k] = h_i2d(s.sd[k]);
        } else {
            r.f[k] = h_i2s(s.sd[k]);
        }
    }
    sse_fp_leave(cpu, host);
    if (i->mod == 3) {
        mmx_enter(cpu);
    }
    xmm_set(cpu, i->reg, &r);
}

void sse_cvtpi2ps(CPU *cpu, const Insn *i) { cvtpi2x(cpu, i, false); }
void sse_cvtpi2pd(CPU *cpu, const Insn *i) { cvtpi2x(cpu, i, true); }

/* CVT(T)PS2PI / CVT(T)PD2PI mm, xmm/m: two dwords into an MMX register. */
static inline void cvtx2pi(CPU *cpu, const Insn *i, bool dbl, bool trunc)
{
    Vec s, r;
    uint32_t host;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, dbl ? 16 : 8, true);
    host = sse_fp_enter(cpu);
    for (unsigned k = 0; k < 2; k++) {
        r.sd[k] = dbl ? h_d2i(s.dbl[k], trunc) : h_s2i(s.f[k], trunc);
    }
    sse_fp_leave(cpu, host);
    mmx_enter(cpu);
    mmx_set(cpu, i->reg, r.q[0]);
}

void sse_cvtps2pi(CPU *cpu, const Insn *i) { cvtx2pi(cpu, i, false, false); }
void sse_cvttps2pi(CPU *cpu, const Insn *i) { cvtx2pi(cpu, i, false, true); }
void sse_cvtpd2pi(CPU *cpu, const Insn *i) { cvtx2pi(cpu, i, true, false); }
void sse_cvttpd2pi(CPU *cpu, const Insn *i) { cvtx2pi(cpu, i, true, true); }

/* ------------------------------------------------------------- shuffles */

void sse_shufps(CPU *cpu, const Insn *i)
{
    Vec d, s, r;
    unsigned imm = i->imm;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, 16, true);
    xmm_get(cpu, i->reg, &d);
    r.d[0] = d.d[imm & 3];
    r.d[1] = d.d[(imm >> 2) & 3];
    r.d[2] = s.d[(imm >> 4) & 3];
    r.d[3] = s.d[(imm >> 6) & 3];
    xmm_set(cpu, i->reg, &r);
}

void sse_shufpd(CPU *cpu, const Insn *i)
{
    Vec d, s, r;
    unsigned imm = i->imm;

    sse_check(cpu, i);
    src_get(cpu, i, &s, 16, 16, true);
    xmm_get(cpu, i->reg, &d);
    r.q[0] = d.q[imm & 1];
    r.q[1] = s.q[(imm >> 1) & 1];
    xmm_set(cpu, i->reg, &r);
}
