/*
 * Integer SIMD on MMX (8-byte) and XMM (16-byte) registers: MMX, SSE2 and
 * SSSE3 integer instructions. Every operation is written once over a Vec
 * of @n bytes; the _mmx and _xmm handlers differ only in operand width.
 */
#include "fpu-internal.h"
#include "sse-ops.h"

typedef void (*VecOp)(Vec *d, const Vec *s, unsigned n, uint8_t imm);

/* Shared body: d = op(d, s) with d = reg, s = r/m. */
static inline __attribute__((always_inline)) void
int_binop(CPU *cpu, const Insn *i, unsigned n, VecOp op)
{
    Vec d, s;

    vec_check(cpu, i, n);
    src_get(cpu, i, &s, n, n, true);
    vreg_get(cpu, i->reg, &d, n);
    if (n == 8) {
        mmx_enter(cpu);
    }
    op(&d, &s, n, (uint8_t)i->imm);
    vreg_set(cpu, i->reg, &d, n);
}

#define INT_OP(name)                                                          \
    void sse_##name##_mmx(CPU *cpu, const Insn *i) { int_binop(cpu, i, 8, op_##name); } \
    void sse_##name##_xmm(CPU *cpu, const Insn *i) { int_binop(cpu, i, 16, op_##name); }

#define INT_OP_XMM(name)                                                      \
    void sse_##name##_xmm(CPU *cpu, const Insn *i) { int_binop(cpu, i, 16, op_##name); }

static inline int8_t sat8s(int v) { return v > 127 ? 127 : v < -128 ? -128 : v; }
static inline uint8_t sat8u(int v) { return v > 255 ? 255 : v < 0 ? 0 : v; }
static inline int16_t sat16s(int v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
static inline uint16_t sat16u(int v) { return v > 65535 ? 65535 : v < 0 ? 0 : v; }

/* Lane-wise operation: lanes of @field, expression in a and b. */
#define LANE_OP(name, field, expr)                                            \
    static inline void op_##name(Vec *d, const Vec *s, unsigned n, uint8_t imm) \
    {                                                                         \
        (void)imm;                                                            \
        for (unsigned k = 0; k < n / sizeof(d->field[0]); k++) {              \
            __typeof__(d->field[0]) a = d->field[k], b = s->field[k];         \
            (void)a; (void)b;                                                 \
            d->field[k] = (expr);                                             \
        }                                                                     \
    }                                                                         \
    INT_OP(name)

LANE_OP(paddb, b, a + b)
LANE_OP(paddw, w, a + b)
LANE_OP(paddd, d, a + b)
LANE_OP(paddq, q, a + b)
LANE_OP(psubb, b, a - b)
LANE_OP(psubw, w, a - b)
LANE_OP(psubd, d, a - b)
LANE_OP(psubq, q, a - b)
LANE_OP(paddsb, sb, sat8s(a + b))
LANE_OP(paddsw, sw, sat16s(a + b))
LANE_OP(paddusb, b, sat8u(a + b))
LANE_OP(paddusw, w, sat16u(a + b))
LANE_OP(psubsb, sb, sat8s(a - b))
LANE_OP(psubsw, sw, sat16s(a - b))
LANE_OP(psubusb, b, sat8u(a - b))
LANE_OP(psubusw, w, sat16u(a - b))
LANE_OP(pmullw, w, (uint16_t)((uint32_t)a * b))
LANE_OP(pmulhw, sw, (int16_t)(((int32_t)a * b) >> 16))
LANE_OP(pmulhuw, w, (uint16_t)(((uint32_t)a * b) >> 16))
LANE_OP(pmuludq, q, (a & 0xffffffffu) * (b & 0xffffffffu))
LANE_OP(pavgb, b, (uint8_t)((a + b + 1) >> 1))
LANE_OP(pavgw, w, (uint16_t)((a + b + 1) >> 1))
LANE_OP(pminub, b, a < b ? a : b)
LANE_OP(pmaxub, b, a > b ? a : b)
LANE_OP(pminsw, sw, a < b ? a : b)
LANE_OP(pmaxsw, sw, a > b ? a : b)
LANE_OP(pcmpeqb, b, a == b ? 0xff : 0)
LANE_OP(pcmpeqw, w, a == b ? 0xffff : 0)
LANE_OP(pcmpeqd, d, a == b ? 0xffffffffu : 0)
LANE_OP(pcmpgtb, sb, a > b ? -1 : 0)
LANE_OP(pcmpgtw, sw, a > b ? -1 : 0)
LANE_OP(pcmpgtd, sd, a > b ? -1 : 0)
LANE_OP(pand, q, a & b)
LANE_OP(pandn, q, ~a & b)
LANE_OP(por, q, a | b)
LANE_OP(pxor, q, a ^ b)
LANE_OP(psignb, sb, b < 0 ? (int8_t)-a : b == 0 ? 0 : a)
LANE_OP(psignw, sw, b < 0 ? (int16_t)-a : b == 0 ? 0 : a)
LANE_OP(psignd, sd, b < 0 ? (int32_t)(0u - (uint32_t)a) : b == 0 ? 0 : a)
LANE_OP(pmulhrsw, sw, (int16_t)(((((int32_t)a * b) >> 14) + 1) >> 1))
LANE_OP(pabsb, sb, b < 0 ? (int8_t)-b : b)
LANE_OP(pabsw, sw, b < 0 ? (int16_t)-b : b)
LANE_OP(pabsd, sd, b < 0 ? (int32_t)(0u - (uint32_t)b) : b)

static inline void op_pmaddwd(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    (void)imm;
    for (unsigned k = 0; k < n / 4; k++) {
        int64_t v = (int64_t)d->sw[2 * k] * s->sw[2 * k] +
                    (int64_t)d->sw[2 * k + 1] * s->sw[2 * k + 1];
        d->d[k] = (uint32_t)v;   /* 0x8000 * 0x8000 * 2 wraps, as on hardware */
    }
}
INT_OP(pmaddwd)

static inline void op_psadbw(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    (void)imm;
    for (unsigned h = 0; h < n / 8; h++) {
        unsigned sum = 0;
        for (unsigned k = 0; k < 8; k++) {
            int x = d->b[h * 8 + k] - s->b[h * 8 + k];
            sum += x < 0 ? -x : x;
        }
        d->q[h] = sum;
    }
}
INT_OP(psadbw)

static inline void op_pmaddubsw(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    (void)imm;
    for (unsigned k = 0; k < n / 2; k++) {
        d->sw[k] = sat16s(d->b[2 * k] * s->sb[2 * k] + d->b[2 * k + 1] * s->sb[2 * k + 1]);
    }
}
INT_OP(pmaddubsw)

static inline void op_pshufb(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    Vec r = { .q = { 0, 0 } };
    (void)imm;
    for (unsigned k = 0; k < n; k++) {
        r.b[k] = (s->b[k] & 0x80) ? 0 : d->b[s->b[k] & (n - 1)];
    }
    memcpy(d, &r, n);
}
INT_OP(pshufb)

/* Horizontal pairs: the low half of the result from d, the high from s. */
#define HORIZ_OP(name, field, expr)                                           \
    static inline void op_##name(Vec *d, const Vec *s, unsigned n, uint8_t imm) \
    {                                                                         \
        Vec r = { .q = { 0, 0 } };                                            \
        unsigned lanes = n / sizeof(d->field[0]);                             \
        (void)imm;                                                            \
        for (unsigned k = 0; k < lanes; k++) {                                \
            const Vec *v = k < lanes / 2 ? d : s;                             \
            unsigned j = 2 * (k % (lanes / 2));                               \
            __typeof__(d->field[0]) a = v->field[j], b = v->field[j + 1];     \
            r.field[k] = (expr);                                              \
        }                                                                     \
        memcpy(d, &r, n);                                                     \
    }                                                                         \
    INT_OP(name)

HORIZ_OP(phaddw, w, a + b)
HORIZ_OP(phaddd, d, a + b)
HORIZ_OP(phaddsw, sw, sat16s(a + b))
HORIZ_OP(phsubw, w, a - b)
HORIZ_OP(phsubd, d, a - b)
HORIZ_OP(phsubsw, sw, sat16s(a - b))

/* Shifts by the 64-bit count in s (or the imm8 for the 71-73 groups). */
#define SHIFT_OP(name, field, bits, expr)                                     \
    static inline void op_##name(Vec *d, const Vec *s, unsigned n, uint8_t imm) \
    {                                                                         \
        uint64_t c = s->q[0];                                                 \
        (void)imm;                                                            \
        for (unsigned k = 0; k < n / sizeof(d->field[0]); k++) {              \
            __typeof__(d->field[0]) a = d->field[k];                          \
            d->field[k] = (expr);                                             \
        }                                                                     \
    }                                                                         \
    INT_OP(name)

SHIFT_OP(psllw, w, 16, c > 15 ? 0 : (uint16_t)(a << c))
SHIFT_OP(pslld, d, 32, c > 31 ? 0 : a << c)
SHIFT_OP(psllq, q, 64, c > 63 ? 0 : a << c)
SHIFT_OP(psrlw, w, 16, c > 15 ? 0 : a >> c)
SHIFT_OP(psrld, d, 32, c > 31 ? 0 : a >> c)
SHIFT_OP(psrlq, q, 64, c > 63 ? 0 : a >> c)
SHIFT_OP(psraw, sw, 16, a >> (c > 15 ? 15 : c))
SHIFT_OP(psrad, sd, 32, a >> (c > 31 ? 31 : c))

/* Byte shifts of the whole register (XMM only). */
static inline void op_pslldq(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    Vec r = { .q = { 0, 0 } };
    uint64_t c = s->q[0];
    for (unsigned k = 0; c < 16 && k + c < n; k++) {
        r.b[k + c] = d->b[k];
    }
    (void)imm;
    *d = r;
}

static inline void op_psrldq(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    Vec r = { .q = { 0, 0 } };
    uint64_t c = s->q[0];
    for (unsigned k = 0; c < 16 && k + c < n; k++) {
        r.b[k] = d->b[k + c];
    }
    (void)imm;
    *d = r;
}

/* Saturating packs: the low half from d, the high half from s. */
#define PACK_OP(name, sfield, dfield, sat)                                    \
    static inline void op_##name(Vec *d, const Vec *s, unsigned n, uint8_t imm) \
    {                                                                         \
        Vec r = { .q = { 0, 0 } };                                            \
        unsigned half = n / sizeof(d->sfield[0]);                             \
        (void)imm;                                                            \
        for (unsigned k = 0; k < half; k++) {                                 \
            r.dfield[k] = sat(d->sfield[k]);                                  \
            r.dfield[k + half] = sat(s->sfield[k]);                           \
        }                                                                     \
        memcpy(d, &r, n);                                                     \
    }                                                                         \
    INT_OP(name)

PACK_OP(packsswb, sw, sb, sat8s)
PACK_OP(packuswb, sw, b, sat8u)
PACK_OP(packssdw, sd, sw, sat16s)

/* Interleave the low (@hi 0) or high halves of d and s. */
#define UNPACK_OP(name, field, hi)                                            \
    static inline void op_##name(Vec *d, const Vec *s, unsigned n, uint8_t imm) \
    {                                                                         \
        Vec r = { .q = { 0, 0 } };                                            \
        unsigned half = n / sizeof(d->field[0]) / 2;                          \
        (void)imm;                                                            \
        for (unsigned k = 0; k < half; k++) {                                 \
            r.field[2 * k] = d->field[k + (hi ? half : 0)];                   \
            r.field[2 * k + 1] = s->field[k + (hi ? half : 0)];               \
        }                                                                     \
        memcpy(d, &r, n);                                                     \
    }                                                                         \
    INT_OP(name)

UNPACK_OP(punpcklbw, b, 0)
UNPACK_OP(punpcklwd, w, 0)
UNPACK_OP(punpckldq, d, 0)
UNPACK_OP(punpcklqdq, q, 0)
UNPACK_OP(punpckhbw, b, 1)
UNPACK_OP(punpckhwd, w, 1)
UNPACK_OP(punpckhdq, d, 1)
UNPACK_OP(punpckhqdq, q, 1)

static inline void op_palignr(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    uint8_t cat[32];
    Vec r = { .q = { 0, 0 } };
    memcpy(cat, s, n);
    memcpy(cat + n, d, n);
    for (unsigned k = 0; k < n; k++) {
        r.b[k] = k + imm < 2 * n ? cat[k + imm] : 0;
    }
    memcpy(d, &r, n);
}
INT_OP(palignr)

static inline void op_pshufw(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    for (unsigned k = 0; k < 4; k++) {
        d->w[k] = s->w[(imm >> (2 * k)) & 3];
    }
    (void)n;
}

static inline void op_pshufd(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    for (unsigned k = 0; k < 4; k++) {
        d->d[k] = s->d[(imm >> (2 * k)) & 3];
    }
    (void)n;
}

static inline void op_pshuflw(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    op_pshufw(d, s, n, imm);
    d->q[1] = s->q[1];
}

static inline void op_pshufhw(Vec *d, const Vec *s, unsigned n, uint8_t imm)
{
    Vec hi = { .q = { s->q[1], 0 } };
    d->q[0] = s->q[0];
    for (unsigned k = 0; k < 4; k++) {
        d->w[4 + k] = hi.w[(imm >> (2 * k)) & 3];
    }
    (void)n;
}

void sse_pshufw_mmx(CPU *cpu, const Insn *i) { int_binop(cpu, i, 8, op_pshufw); }
INT_OP_XMM(pshufd)
INT_OP_XMM(pshuflw)
INT_OP_XMM(pshufhw)

/* 0F 71/72/73 groups: shift the register r/m by imm8; ModRM.reg selects. */
static inline __attribute__((always_inline)) void
shift_imm(CPU *cpu, const Insn *i, unsigned n, unsigned group)
{
    Vec d, cnt = { .q = { i->imm & 0xff, 0 } };
    VecOp op = NULL;
    unsigned sel = (i->modrm >> 3) & 7;

    switch (group << 4 | sel) {
    case 0x12: op = op_psrlw; break;
    case 0x14: op = op_psraw; break;
    case 0x16: op = op_psllw; break;
    case 0x22: op = op_psrld; break;
    case 0x24: op = op_psrad; break;
    case 0x26: op = op_pslld; break;
    case 0x32: op = op_psrlq; break;
    case 0x33: op = n == 16 ? op_psrldq : NULL; break;
    case 0x36: op = op_psllq; break;
    case 0x37: op = n == 16 ? op_pslldq : NULL; break;
    }
    if (!op || i->mod != 3) {
        x86_raise_ud(cpu);
    }
    vec_check_enter(cpu, i, n);
    vreg_get(cpu, i->rm, &d, n);
    op(&d, &cnt, n, 0);
    vreg_set(cpu, i->rm, &d, n);
}

void sse_grp71_mmx(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 8, 1); }
void sse_grp71_xmm(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 16, 1); }
void sse_grp72_mmx(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 8, 2); }
void sse_grp72_xmm(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 16, 2); }
void sse_grp73_mmx(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 8, 3); }
void sse_grp73_xmm(CPU *cpu, const Insn *i) { shift_imm(cpu, i, 16, 3); }

/* PMOVMSKB r32, mm/xmm: the top bit of every byte. */
static inline __attribute__((always_inline)) void pmovmskb(CPU *cpu, const Insn *i, unsigned n)
{
    Vec s;
    uint32_t m = 0;

    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    vec_check_enter(cpu, i, n);
    vreg_get(cpu, i->rm, &s, n);
    for (unsigned k = 0; k < n; k++) {
        m |= (uint32_t)(s.b[k] >> 7) << k;
    }
    cpu->s.regs[i->reg] = m;
}

void sse_pmovmskb_mmx(CPU *cpu, const Insn *i) { pmovmskb(cpu, i, 8); }
void sse_pmovmskb_xmm(CPU *cpu, const Insn *i) { pmovmskb(cpu, i, 16); }

/* PINSRW mm/xmm, r32/m16, imm8. */
static inline __attribute__((always_inline)) void pinsrw(CPU *cpu, const Insn *i, unsigned n)
{
    Vec d;
    uint16_t v;

    vec_check(cpu, i, n);
    if (i->mod == 3) {
        v = (uint16_t)cpu->s.regs[i->rm];
    } else {
        v = mem_read16(cpu, fpu_la(cpu, i, 2, ACC_READ, false));
    }
    if (n == 8) {
        mmx_enter(cpu);
    }
    vreg_get(cpu, i->reg, &d, n);
    d.w[i->imm & (n / 2 - 1)] = v;
    vreg_set(cpu, i->reg, &d, n);
}

void sse_pinsrw_mmx(CPU *cpu, const Insn *i) { pinsrw(cpu, i, 8); }
void sse_pinsrw_xmm(CPU *cpu, const Insn *i) { pinsrw(cpu, i, 16); }

/* PEXTRW r32, mm/xmm, imm8 (register form only). */
static inline __attribute__((always_inline)) void pextrw(CPU *cpu, const Insn *i, unsigned n)
{
    Vec s;

    if (i->mod != 3) {
        x86_raise_ud(cpu);
    }
    vec_check_enter(cpu, i, n);
    vreg_get(cpu, i->rm, &s, n);
    cpu->s.regs[i->reg] = s.w[i->imm & (n / 2 - 1)];
}

void sse_pextrw_mmx(CPU *cpu, const Insn *i) { pextrw(cpu, i, 8); }
void sse_pextrw_xmm(CPU *cpu, const Insn *i) { pextrw(cpu, i, 16); }

/* EMMS: every x87 register empty. */
void sse_emms(CPU *cpu, const Insn *i)
{
    mmx_check(cpu, i);
    cpu->fpu.ftw = 0;
}
