/*
 * x87 floating point (D8..DF escapes).
 *
 * Registers hold raw 80-bit values. Arithmetic runs on the host's x87 unit
 * (long double on x86-64 is the same 80-bit format): each operation loads
 * the guest FCW (precision and rounding control, every exception masked)
 * into the host, runs the one host instruction, reads the host FSW and
 * merges its exception flags and C1 (or condition codes) into the guest's.
 * Stack overflow/underflow and tags are handled here in software.
 *
 * Masked responses are exact. Unmasked exceptions set ES/B and leave the
 * destination unchanged for invalid/denormal/zero-divide; overflow and
 * underflow store the masked result (known gap: no exponent bias adjust).
 * The pending exception is delivered as #MF by the next waiting x87
 * instruction. FBLD/FBSTP are not implemented (#UD).
 */
#include "fpu-internal.h"
#include "kemu/bytes.h"
#include "kemu/log.h"

typedef long double f80;

/* ------------------------------------------------------------ registers */

static inline unsigned ph(const CPU *cpu, unsigned i)
{
    return (cpu->fpu.top + i) & 7;
}

static inline bool st_empty(const CPU *cpu, unsigned i)
{
    return !((cpu->fpu.ftw >> ph(cpu, i)) & 1);
}

static inline f80 st_get(const CPU *cpu, unsigned i)
{
    f80 v = 0;
    memcpy(&v, cpu->fpu.st[ph(cpu, i)], 10);
    return v;
}

static inline void st_set(CPU *cpu, unsigned i, f80 v)
{
    uint8_t *p = cpu->fpu.st[ph(cpu, i)];
    memcpy(p, &v, 10);
    memset(p + 10, 0, 6);
    cpu->fpu.ftw |= 1u << ph(cpu, i);
}

static inline void st_pop(CPU *cpu)
{
    cpu->fpu.ftw &= ~(1u << ph(cpu, 0));
    cpu->fpu.top = (cpu->fpu.top + 1) & 7;
}

static inline void st_push(CPU *cpu, f80 v)
{
    cpu->fpu.top = (cpu->fpu.top - 1) & 7;
    st_set(cpu, 0, v);
}

/* The QNaN "real indefinite". */
static inline f80 f80_indefinite(void)
{
    static const uint8_t bits[10] = { 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff };
    f80 v = 0;
    memcpy(&v, bits, 10);
    return v;
}

static inline void set_cc(CPU *cpu, uint16_t mask, uint16_t val)
{
    cpu->fpu.fsw = (cpu->fpu.fsw & ~mask) | (val & mask);
}

/*
 * Merge exception flags @ex into FSW. Returns whether the result may be
 * stored: false if an unmasked invalid, denormal or zero-divide occurred.
 */
static bool x87_exc(CPU *cpu, uint16_t ex)
{
    uint16_t unmasked = ex & ~cpu->fpu.fcw & 0x3f;

    cpu->fpu.fsw |= ex & 0x7f;
    if (unmasked) {
        cpu->fpu.fsw |= FSW_ES | FSW_B;
    }
    return !(unmasked & (FSW_IE | FSW_DE | FSW_ZE));
}

/* Stack underflow: IE|SF, C1 = 0. Returns whether the masked response
   (store indefinite) applies. */
static bool x87_underflow(CPU *cpu)
{
    set_cc(cpu, FSW_C1, 0);
    return x87_exc(cpu, FSW_IE | FSW_SF);
}

/* Push @v with the overflow check (masked response: push indefinite). */
static void x87_push_checked(CPU *cpu, f80 v)
{
    if (!st_empty(cpu, 7)) {
        set_cc(cpu, FSW_C1, FSW_C1);
        if (!x87_exc(cpu, FSW_IE | FSW_SF)) {
            return;
        }
        v = f80_indefinite();
    }
    st_push(cpu, v);
}

/* ------------------------------------------------------------ host unit */

/* Run @insn on the host x87 with the guest's control word @cw (exceptions
   masked); the host status word lands in @sw. */
#define HX_PRE "fnstcw %[sv]\n\tfldcw %[cw]\n\tfnclex\n\t"
#define HX_POST "\n\tfnstsw %[sw]\n\tfldcw %[sv]"
#define HX_CW(cw) ((uint16_t)((cw) | 0x3f))

#define HX2(name, insn)                                                       \
    static inline f80 hx_##name(f80 a, f80 b, uint16_t cw, uint16_t *sw)      \
    {                                                                         \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn HX_POST                                  \
                         : "=t"(a), [sw] "=m"(*sw), [sv] "+m"(sv)             \
                         : "0"(a), "u"(b), [cw] "m"(c));                      \
        return a;                                                             \
    }

HX2(add, "fadd %%st(1), %%st")
HX2(sub, "fsub %%st(1), %%st")
HX2(mul, "fmul %%st(1), %%st")
HX2(div, "fdiv %%st(1), %%st")
/*
 * FPREM/FPREM1 leave C0-C3 unchanged in their exception cases, so the host
 * starts from the guest's condition codes (patched in through FLDENV).
 */
#define HXPREM(name, insn)                                                    \
    static inline f80 hx_##name(f80 a, f80 b, uint16_t cw, uint16_t cc, uint16_t *sw) \
    {                                                                         \
        uint16_t env[14], sv = 0, c = HX_CW(cw), k = cc & FSW_CC;             \
        __asm__ volatile("fnstcw %[sv]\n\tfnstenv %[env]\n\t"                \
                         "movw %[c], %%ax\n\tmovw %%ax, %[env]\n\t"          \
                         "andw $0x3800, 4+%[env]\n\t"                          \
                         "movw %[k], %%ax\n\torw %%ax, 4+%[env]\n\t"          \
                         "fldenv %[env]\n\t" insn HX_POST                      \
                         : "=t"(a), [sw] "=m"(*sw), [sv] "+m"(sv), [env] "=m"(env) \
                         : "0"(a), "u"(b), [c] "m"(c), [k] "m"(k) : "ax");     \
        return a;                                                             \
    }

HXPREM(prem, "fprem")
HXPREM(prem1, "fprem1")
HX2(scale, "fscale")

/* st1 op st0, then pop: result in st0 (a = st0, b = st1). */
#define HX2POP(name, insn)                                                    \
    static inline f80 hx_##name(f80 a, f80 b, uint16_t cw, uint16_t *sw)      \
    {                                                                         \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn HX_POST                                  \
                         : "=t"(a), [sw] "=m"(*sw), [sv] "+m"(sv)             \
                         : "0"(a), "u"(b), [cw] "m"(c) : "st(1)");            \
        return a;                                                             \
    }

HX2POP(patan, "fpatan")
HX2POP(yl2x, "fyl2x")
HX2POP(yl2xp1, "fyl2xp1")

#define HX1(name, insn)                                                       \
    static inline f80 hx_##name(f80 a, uint16_t cw, uint16_t *sw)             \
    {                                                                         \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn HX_POST                                  \
                         : "=t"(a), [sw] "=m"(*sw), [sv] "+m"(sv)             \
                         : "0"(a), [cw] "m"(c));                              \
        return a;                                                             \
    }

HX1(sqrt, "fsqrt")
HX1(sin, "fsin")
HX1(cos, "fcos")
HX1(rndint, "frndint")
HX1(f2xm1, "f2xm1")

/* One input, two results: st0 -> (st0 = @top_out, st1 = @next_out). */
#define HX12(name, insn)                                                      \
    static inline void hx_##name(f80 a, f80 *top_out, f80 *next_out,          \
                                 uint16_t cw, uint16_t *sw)                   \
    {                                                                         \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn HX_POST                                  \
                         : "=t"(*top_out), "=u"(*next_out), [sw] "=m"(*sw),   \
                           [sv] "+m"(sv)                                      \
                         : "0"(a), [cw] "m"(c));                              \
    }

HX12(ptan, "fptan")
HX12(sincos, "fsincos")
HX12(xtract, "fxtract")

/* Constants, rounded per the guest's RC. */
#define HX0(name, insn)                                                       \
    static inline f80 hx_##name(uint16_t cw)                                  \
    {                                                                         \
        f80 r;                                                                \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile("fnstcw %[sv]\n\tfldcw %[cw]\n\t" insn "\n\tfldcw %[sv]" \
                         : "=t"(r), [sv] "+m"(sv) : [cw] "m"(c));             \
        return r;                                                             \
    }

HX0(ld1, "fld1")
HX0(ldl2t, "fldl2t")
HX0(ldl2e, "fldl2e")
HX0(ldpi, "fldpi")
HX0(ldlg2, "fldlg2")
HX0(ldln2, "fldln2")
HX0(ldz, "fldz")

/* Compares: condition codes and flags in the returned status word. */
static inline uint16_t hx_com(f80 a, f80 b, bool unordered_ok, uint16_t cw)
{
    uint16_t sw, sv = 0, c = HX_CW(cw);
    if (unordered_ok) {
        __asm__ volatile(HX_PRE "fucom %%st(1)" HX_POST
                         : [sw] "=m"(sw), [sv] "+m"(sv) : "t"(a), "u"(b), [cw] "m"(c));
    } else {
        __asm__ volatile(HX_PRE "fcom %%st(1)" HX_POST
                         : [sw] "=m"(sw), [sv] "+m"(sv) : "t"(a), "u"(b), [cw] "m"(c));
    }
    return sw;
}

static inline uint16_t hx_tst(f80 a, bool xam, uint16_t cw)
{
    uint16_t sw, sv = 0, c = HX_CW(cw);
    if (xam) {
        __asm__ volatile(HX_PRE "fxam" HX_POST
                         : [sw] "=m"(sw), [sv] "+m"(sv) : "t"(a), [cw] "m"(c));
    } else {
        __asm__ volatile(HX_PRE "ftst" HX_POST
                         : [sw] "=m"(sw), [sv] "+m"(sv) : "t"(a), [cw] "m"(c));
    }
    return sw;
}

/* Conversions from memory formats. */
#define HXLD(name, insn, type)                                                \
    static inline f80 hx_##name(type m, uint16_t cw, uint16_t *sw)            \
    {                                                                         \
        f80 r;                                                                \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn " %[m]" HX_POST                          \
                         : "=t"(r), [sw] "=m"(*sw), [sv] "+m"(sv)             \
                         : [m] "m"(m), [cw] "m"(c));                          \
        return r;                                                             \
    }

HXLD(ld32, "flds", float)
HXLD(ld64, "fldl", double)
HXLD(ild16, "filds", int16_t)
HXLD(ild32, "fildl", int32_t)
HXLD(ild64, "fildll", int64_t)

/* Conversions to memory formats (the host pops its copy). */
#define HXST(name, insn, type)                                                \
    static inline type hx_##name(f80 a, uint16_t cw, uint16_t *sw)            \
    {                                                                         \
        type m;                                                               \
        uint16_t sv = 0, c = HX_CW(cw);                                       \
        __asm__ volatile(HX_PRE insn " %[m]" HX_POST                          \
                         : [m] "=m"(m), [sw] "=m"(*sw), [sv] "+m"(sv)         \
                         : "t"(a), [cw] "m"(c) : "st");                       \
        return m;                                                             \
    }

HXST(st32, "fstps", uint32_t)
HXST(st64, "fstpl", uint64_t)
HXST(ist16, "fistps", uint16_t)
HXST(ist32, "fistpl", uint32_t)
HXST(ist64, "fistpll", uint64_t)
HXST(istt16, "fisttps", uint16_t)
HXST(istt32, "fisttpl", uint32_t)
HXST(istt64, "fisttpll", uint64_t)

/* ------------------------------------------------------------ tags */

unsigned fpu_full_tag(const CPU *cpu, unsigned r)
{
    const uint8_t *p = cpu->fpu.st[r];
    uint64_t mant;
    unsigned exp = ld16_le(p + 8) & 0x7fff;

    if (!((cpu->fpu.ftw >> r) & 1)) {
        return 3;
    }
    memcpy(&mant, p, 8);
    if (exp == 0x7fff) {
        return 2;
    }
    if (exp == 0) {
        return mant ? 2 : 1;
    }
    return (mant >> 63) ? 0 : 2;
}

static uint16_t full_tag_word(const CPU *cpu)
{
    uint16_t t = 0;
    for (unsigned r = 0; r < 8; r++) {
        t |= fpu_full_tag(cpu, r) << (2 * r);
    }
    return t;
}

static uint16_t fsw_full(const CPU *cpu)
{
    return (cpu->fpu.fsw & ~(7u << FSW_TOP_SHIFT)) | (cpu->fpu.top & 7) << FSW_TOP_SHIFT;
}

/* ------------------------------------------------------------ arithmetic */

static inline bool f80_isnan(f80 v)
{
    uint8_t p[10];
    uint64_t m;
    memcpy(p, &v, 10);
    memcpy(&m, p, 8);
    return (ld16_le(p + 8) & 0x7fff) == 0x7fff && (m << 1);
}

/*
 * Flags from converting a memory operand (@load_ex) merged with the
 * operation's (@op_ex): an invalid operation, a zero divide or a NaN in ST(0)
 * take priority over the operand's denormal exception (as the host shows).
 */
static inline uint16_t merge_load_ex(uint16_t load_ex, uint16_t op_ex, f80 st0)
{
    if ((op_ex & (FSW_IE | FSW_ZE)) || f80_isnan(st0)) {
        load_ex &= ~FSW_DE;
    }
    return load_ex | op_ex;
}

/*
 * The eight D8-style operations on a = ST(0) and b = the other operand:
 * 0 add, 1 mul, 4 a-b, 5 b-a, 6 a/b, 7 b/a. Returns whether to store.
 */
static bool arith_op(CPU *cpu, unsigned sel, f80 a, f80 b, f80 *r, uint16_t extra_ex)
{
    uint16_t sw = 0, cw = cpu->fpu.fcw;

    switch (sel) {
    case 0: *r = hx_add(a, b, cw, &sw); break;
    case 1: *r = hx_mul(a, b, cw, &sw); break;
    case 4: *r = hx_sub(a, b, cw, &sw); break;
    case 5: *r = hx_sub(b, a, cw, &sw); break;
    case 6: *r = hx_div(a, b, cw, &sw); break;
    default: *r = hx_div(b, a, cw, &sw); break;
    }
    /* An SNaN memory operand was quieted by its conversion; against a
       QNaN in ST(0) the hardware returns the QNaN operand. */
    if ((extra_ex & FSW_IE) && f80_isnan(a)) {
        uint8_t pa[10], pb[10];
        uint64_t ma, mb;
        memcpy(pa, &a, 10);
        memcpy(pb, &b, 10);
        memcpy(&ma, pa, 8);
        memcpy(&mb, pb, 8);
        if (!(ma & (1ull << 62))) {
            /* Two SNaNs: the larger significand, quieted. */
            ma |= 1ull << 62;
            memcpy(pa, &ma, 8);
            if (ma < mb) {
                memcpy(pa, pb, 10);
            }
        }
        memcpy(r, pa, 10);
    }
    set_cc(cpu, FSW_C1, sw);
    return x87_exc(cpu, merge_load_ex(extra_ex, sw & 0x3f, a));
}

/* FCOM-family compare of a with b into C0/C2/C3 (C1 = 0); @pops after. */
static void compare(CPU *cpu, f80 a, f80 b, bool a_ok, bool unordered_ok,
                    uint16_t extra_ex, bool eflags, unsigned pops)
{
    uint16_t cc;

    if (!a_ok) {
        if (!x87_underflow(cpu)) {
            return;
        }
        cc = FSW_C0 | FSW_C2 | FSW_C3;
    } else {
        uint16_t sw = hx_com(a, b, unordered_ok, cpu->fpu.fcw);
        if (!x87_exc(cpu, merge_load_ex(extra_ex, sw & 0x3f, a))) {
            return;
        }
        cc = sw & (FSW_C0 | FSW_C2 | FSW_C3);
    }
    if (eflags) {
        x86_set_rflags(cpu, (cc & FSW_C0 ? FLAG_CF : 0) | (cc & FSW_C2 ? FLAG_PF : 0) |
                            (cc & FSW_C3 ? FLAG_ZF : 0), FLAGS_ARITH);
        set_cc(cpu, FSW_C1, 0);
    } else {
        set_cc(cpu, FSW_CC, cc);
    }
    while (pops--) {
        st_pop(cpu);
    }
}

/* Memory-operand arithmetic (D8 m32, DC m64, DA m32int, DE m16int). */
static void arith_mem(CPU *cpu, const Insn *i, unsigned kind, uint64_t la)
{
    unsigned sel = (i->modrm >> 3) & 7;
    uint16_t sw = 0, cw = cpu->fpu.fcw;
    f80 b, r;

    switch (kind) {
    case 0: {
        uint32_t v = mem_read32(cpu, la);
        float f;
        memcpy(&f, &v, 4);
        b = hx_ld32(f, cw, &sw);
        break;
    }
    case 4: {
        uint64_t v = mem_read64(cpu, la);
        double d;
        memcpy(&d, &v, 8);
        b = hx_ld64(d, cw, &sw);
        break;
    }
    case 2: b = hx_ild32((int32_t)mem_read32(cpu, la), cw, &sw); break;
    default: b = hx_ild16((int16_t)mem_read16(cpu, la), cw, &sw); break;
    }
    sw &= 0x3f;
    if (sel == 2 || sel == 3) {
        compare(cpu, st_get(cpu, 0), b, !st_empty(cpu, 0), false, sw, false, sel == 3);
        return;
    }
    if (st_empty(cpu, 0)) {
        if (x87_underflow(cpu)) {
            st_set(cpu, 0, f80_indefinite());
        }
        return;
    }
    if (arith_op(cpu, sel, st_get(cpu, 0), b, &r, sw)) {
        st_set(cpu, 0, r);
    }
}

/* Register arithmetic: D8 (dest ST0), DC (dest ST(i)), DE (dest ST(i), pop). */
static void arith_reg(CPU *cpu, const Insn *i, bool dest_sti, bool pop)
{
    unsigned sel = (i->modrm >> 3) & 7, sti = i->modrm & 7;
    unsigned dst = dest_sti ? sti : 0;
    f80 r;

    if (sel == 2 || sel == 3) {
        /* FCOM/FCOMP (and the DC/DE aliases). */
        if (st_empty(cpu, sti)) {
            compare(cpu, 0, 0, false, false, 0, false, (sel == 3) + pop);
        } else {
            compare(cpu, st_get(cpu, 0), st_get(cpu, sti), !st_empty(cpu, 0), false, 0,
                    false, (sel == 3) + pop);
        }
        return;
    }
    if (st_empty(cpu, 0) || st_empty(cpu, sti)) {
        if (!x87_underflow(cpu)) {
            return;
        }
        st_set(cpu, dst, f80_indefinite());
    } else if (arith_op(cpu, sel, st_get(cpu, 0), st_get(cpu, sti), &r, 0)) {
        st_set(cpu, dst, r);
    } else {
        return;
    }
    if (pop) {
        st_pop(cpu);
    }
}

/* ------------------------------------------------------------ loads/stores */

static void fld_value(CPU *cpu, f80 v, uint16_t ex)
{
    if (!st_empty(cpu, 7)) {
        /* Stack overflow hides the conversion's own exceptions. */
        x87_push_checked(cpu, v);
        return;
    }
    if (!x87_exc(cpu, ex & 0x3f)) {
        return;
    }
    set_cc(cpu, FSW_C1, 0);
    st_push(cpu, v);
}

/*
 * FST/FIST/FISTTP to memory: @kind selects the format. Writes memory
 * first, then status and the pop.
 */
enum { ST_F32, ST_F64, ST_F80, ST_I16, ST_I32, ST_I64, ST_T16, ST_T32, ST_T64 };

static void store_mem(CPU *cpu, uint64_t la, unsigned kind, bool pop)
{
    static const unsigned size[] = { 4, 8, 10, 2, 4, 8, 2, 4, 8 };
    uint16_t sw = 0, cw = cpu->fpu.fcw, ex;
    uint64_t v = 0;
    uint8_t raw[10];
    bool empty = st_empty(cpu, 0);
    f80 a = empty ? f80_indefinite() : st_get(cpu, 0);

    switch (kind) {
    case ST_F32: v = hx_st32(a, cw, &sw); break;
    case ST_F64: v = hx_st64(a, cw, &sw); break;
    case ST_F80: break;
    case ST_I16: v = hx_ist16(a, cw, &sw); break;
    case ST_I32: v = hx_ist32(a, cw, &sw); break;
    case ST_I64: v = hx_ist64(a, cw, &sw); break;
    case ST_T16: v = hx_istt16(a, cw, &sw); break;
    case ST_T32: v = hx_istt32(a, cw, &sw); break;
    default: v = hx_istt64(a, cw, &sw); break;
    }
    ex = empty ? FSW_IE | FSW_SF : sw & 0x3f;
    if (ex & ~cw & (FSW_IE | FSW_DE | FSW_ZE)) {
        /* Unmasked: nothing stored, nothing popped. */
        x87_exc(cpu, ex);
        return;
    }
    switch (size[kind]) {
    case 2: mem_write16(cpu, la, v); break;
    case 4: mem_write32(cpu, la, v); break;
    case 8: mem_write64(cpu, la, v); break;
    default:
        memcpy(raw, &a, 10);
        mem_write16(cpu, la + 8, ld16_le(raw + 8));
        memcpy(&v, raw, 8);
        mem_write64(cpu, la, v);
        break;
    }
    x87_exc(cpu, ex);
    set_cc(cpu, FSW_C1, empty ? 0 : sw);
    if (pop) {
        st_pop(cpu);
    }
}

/* ------------------------------------------------------------ environment */

/* FNSTENV/FLDENV image (protected-mode layout; 14 bytes with a 16-bit
   operand size, else 28). Also used in real mode (known simplification). */
static unsigned env_store(CPU *cpu, const Insn *i, uint64_t la)
{
    X86FpuState *f = &cpu->fpu;

    if (i->opsize == 2) {
        mem_write16(cpu, la + 12, 0);
        mem_write16(cpu, la + 0, f->fcw);
        mem_write16(cpu, la + 2, fsw_full(cpu));
        mem_write16(cpu, la + 4, full_tag_word(cpu));
        mem_write16(cpu, la + 6, (uint16_t)f->fip);
        mem_write16(cpu, la + 8, 0);
        mem_write16(cpu, la + 10, (uint16_t)f->fdp);
        return 14;
    }
    mem_write32(cpu, la + 24, 0xffff0000u);
    mem_write32(cpu, la + 0, 0xffff0000u | f->fcw);
    mem_write32(cpu, la + 4, 0xffff0000u | fsw_full(cpu));
    mem_write32(cpu, la + 8, 0xffff0000u | full_tag_word(cpu));
    mem_write32(cpu, la + 12, (uint32_t)f->fip);
    mem_write32(cpu, la + 16, (uint32_t)(f->fop & 0x7ff) << 16);
    mem_write32(cpu, la + 20, (uint32_t)f->fdp);
    return 28;
}

static unsigned env_load(CPU *cpu, const Insn *i, uint64_t la)
{
    X86FpuState *f = &cpu->fpu;
    uint16_t fcw, fsw, ftw;
    uint64_t fip, fdp;
    uint16_t fop = f->fop;
    unsigned len;

    if (i->opsize == 2) {
        fcw = mem_read16(cpu, la);
        fsw = mem_read16(cpu, la + 2);
        ftw = mem_read16(cpu, la + 4);
        fip = mem_read16(cpu, la + 6);
        fdp = mem_read16(cpu, la + 10);
        len = 14;
    } else {
        fcw = mem_read16(cpu, la);
        fsw = mem_read16(cpu, la + 4);
        ftw = mem_read16(cpu, la + 8);
        fip = mem_read32(cpu, la + 12);
        fop = (mem_read32(cpu, la + 16) >> 16) & 0x7ff;
        fdp = mem_read32(cpu, la + 20);
        len = 28;
    }
    f->fcw = (fcw & FCW_MASK) | FCW_ONES;
    f->top = (fsw >> FSW_TOP_SHIFT) & 7;
    f->fsw = fsw & ~(7u << FSW_TOP_SHIFT);
    f->ftw = 0;
    for (unsigned r = 0; r < 8; r++) {
        if (((ftw >> (2 * r)) & 3) != 3) {
            f->ftw |= 1u << r;
        }
    }
    f->fip = fip;
    f->fdp = fdp;
    f->fop = fop;
    /* ES/B follow whether any flagged exception is unmasked now. */
    if (f->fsw & ~f->fcw & 0x3f) {
        f->fsw |= FSW_ES | FSW_B;
    } else {
        f->fsw &= ~(FSW_ES | FSW_B);
    }
    return len;
}

static void fninit(CPU *cpu)
{
    X86FpuState *f = &cpu->fpu;
    f->fcw = FCW_RESET;
    f->fsw = 0;
    f->top = 0;
    f->ftw = 0;
    f->fop = 0;
    f->fip = 0;
    f->fdp = 0;
}

static void fnsave(CPU *cpu, const Insn *i, uint64_t la)
{
    unsigned off = env_store(cpu, i, la);
    for (unsigned k = 0; k < 8; k++) {
        const uint8_t *p = cpu->fpu.st[ph(cpu, k)];
        uint64_t m;
        memcpy(&m, p, 8);
        mem_write64(cpu, la + off + 10 * k, m);
        mem_write16(cpu, la + off + 10 * k + 8, ld16_le(p + 8));
    }
    fninit(cpu);
}

static void frstor(CPU *cpu, const Insn *i, uint64_t la)
{
    unsigned off = i->opsize == 2 ? 14 : 28;
    uint8_t regs[8][10];

    for (unsigned k = 0; k < 8; k++) {
        uint64_t m = mem_read64(cpu, la + off + 10 * k);
        uint16_t e = mem_read16(cpu, la + off + 10 * k + 8);
        memcpy(regs[k], &m, 8);
        memcpy(regs[k] + 8, &e, 2);
    }
    env_load(cpu, i, la);
    for (unsigned k = 0; k < 8; k++) {
        uint8_t *p = cpu->fpu.st[ph(cpu, k)];
        memcpy(p, regs[k], 10);
        memset(p + 10, 0, 6);
    }
}

/* ------------------------------------------------------------ D9 group */

static void d9_reg(CPU *cpu, const Insn *i)
{
    unsigned m = i->modrm, sti = m & 7;
    uint16_t sw = 0, cw = cpu->fpu.fcw;
    f80 r, r2;

    switch (m) {
    case 0xc0 ... 0xc7:   /* FLD ST(i) */
        if (st_empty(cpu, sti)) {
            /* Underflow wins over a simultaneous overflow. */
            if (x87_underflow(cpu)) {
                st_push(cpu, f80_indefinite());
            }
            return;
        }
        fld_value(cpu, st_get(cpu, sti), 0);
        return;
    case 0xc8 ... 0xcf: { /* FXCH */
        f80 a, b;
        if (st_empty(cpu, 0) || st_empty(cpu, sti)) {
            if (!x87_underflow(cpu)) {
                return;
            }
        }
        a = st_empty(cpu, 0) ? f80_indefinite() : st_get(cpu, 0);
        b = st_empty(cpu, sti) ? f80_indefinite() : st_get(cpu, sti);
        st_set(cpu, 0, b);
        st_set(cpu, sti, a);
        set_cc(cpu, FSW_C1, 0);
        return;
    }
    case 0xd0:            /* FNOP */
        return;
    case 0xd8 ... 0xdf:   /* FSTP1 (undocumented alias of FSTP ST(i)) */
        break;
    case 0xe0:            /* FCHS */
    case 0xe1:            /* FABS */
        if (st_empty(cpu, 0)) {
            if (x87_underflow(cpu)) {
                st_set(cpu, 0, f80_indefinite());
            }
            return;
        }
        if (m == 0xe0) {
            cpu->fpu.st[ph(cpu, 0)][9] ^= 0x80;
        } else {
            cpu->fpu.st[ph(cpu, 0)][9] &= 0x7f;
        }
        set_cc(cpu, FSW_C1, 0);
        return;
    case 0xe4:            /* FTST */
        if (st_empty(cpu, 0)) {
            compare(cpu, 0, 0, false, false, 0, false, 0);
            return;
        }
        sw = hx_tst(st_get(cpu, 0), false, cw);
        if (x87_exc(cpu, sw & 0x3f)) {
            set_cc(cpu, FSW_CC, sw & (FSW_C0 | FSW_C2 | FSW_C3));
        }
        return;
    case 0xe5:            /* FXAM */
        if (st_empty(cpu, 0)) {
            set_cc(cpu, FSW_CC, FSW_C3 | FSW_C0 |
                   ((cpu->fpu.st[ph(cpu, 0)][9] & 0x80) ? FSW_C1 : 0));
            return;
        }
        set_cc(cpu, FSW_CC, hx_tst(st_get(cpu, 0), true, cw));
        return;
    case 0xe8: fld_value(cpu, hx_ld1(cw), 0); return;
    case 0xe9: fld_value(cpu, hx_ldl2t(cw), 0); return;
    case 0xea: fld_value(cpu, hx_ldl2e(cw), 0); return;
    case 0xeb: fld_value(cpu, hx_ldpi(cw), 0); return;
    case 0xec: fld_value(cpu, hx_ldlg2(cw), 0); return;
    case 0xed: fld_value(cpu, hx_ldln2(cw), 0); return;
    case 0xee: fld_value(cpu, hx_ldz(cw), 0); return;
    case 0xf6:            /* FDECSTP */
        cpu->fpu.top = (cpu->fpu.top - 1) & 7;
        set_cc(cpu, FSW_C1, 0);
        return;
    case 0xf7:            /* FINCSTP */
        cpu->fpu.top = (cpu->fpu.top + 1) & 7;
        set_cc(cpu, FSW_C1, 0);
        return;
    case 0xf0: case 0xfa: case 0xfc: case 0xfe: case 0xff:
        /* F2XM1 FSQRT FRNDINT FSIN FCOS: ST0 = f(ST0) */
        if (st_empty(cpu, 0)) {
            if (x87_underflow(cpu)) {
                st_set(cpu, 0, f80_indefinite());
            }
            return;
        }
        switch (m) {
        case 0xf0: r = hx_f2xm1(st_get(cpu, 0), cw, &sw); break;
        case 0xfa: r = hx_sqrt(st_get(cpu, 0), cw, &sw); break;
        case 0xfc: r = hx_rndint(st_get(cpu, 0), cw, &sw); break;
        case 0xfe: r = hx_sin(st_get(cpu, 0), cw, &sw); break;
        default: r = hx_cos(st_get(cpu, 0), cw, &sw); break;
        }
        if (x87_exc(cpu, sw & 0x3f)) {
            st_set(cpu, 0, r);
            set_cc(cpu, FSW_C1 | FSW_C2, sw);
        }
        return;
    case 0xf1: case 0xf3: case 0xf9: /* FYL2X FPATAN FYL2XP1: ST1 = f(ST1, ST0), pop */
    case 0xf5: case 0xf8: case 0xfd: /* FPREM1 FPREM FSCALE: ST0 = f(ST0, ST1) */
        if (st_empty(cpu, 0) || st_empty(cpu, 1)) {
            if (x87_underflow(cpu)) {
                bool popping = m == 0xf1 || m == 0xf3 || m == 0xf9;
                st_set(cpu, popping ? 1 : 0, f80_indefinite());
                if (popping) {
                    st_pop(cpu);
                }
            }
            return;
        }
        switch (m) {
        case 0xf1: r = hx_yl2x(st_get(cpu, 0), st_get(cpu, 1), cw, &sw); break;
        case 0xf3: r = hx_patan(st_get(cpu, 0), st_get(cpu, 1), cw, &sw); break;
        case 0xf9: r = hx_yl2xp1(st_get(cpu, 0), st_get(cpu, 1), cw, &sw); break;
        case 0xf5: r = hx_prem1(st_get(cpu, 0), st_get(cpu, 1), cw, cpu->fpu.fsw, &sw); break;
        case 0xf8: r = hx_prem(st_get(cpu, 0), st_get(cpu, 1), cw, cpu->fpu.fsw, &sw); break;
        default: r = hx_scale(st_get(cpu, 0), st_get(cpu, 1), cw, &sw); break;
        }
        if (!x87_exc(cpu, sw & 0x3f)) {
            return;
        }
        if (m == 0xf5 || m == 0xf8) {
            st_set(cpu, 0, r);
            set_cc(cpu, FSW_CC, sw);
        } else if (m == 0xfd) {
            st_set(cpu, 0, r);
            set_cc(cpu, FSW_C1, sw);
        } else {
            st_set(cpu, 1, r);
            st_pop(cpu);
            set_cc(cpu, FSW_C1, sw);
        }
        return;
    case 0xf2: case 0xf4: case 0xfb: { /* FPTAN FXTRACT FSINCOS: two results */
        const uint8_t *p = cpu->fpu.st[ph(cpu, 0)];
        unsigned exp = ld16_le(p + 8) & 0x7fff;
        if (st_empty(cpu, 0)) {
            if (x87_underflow(cpu)) {
                st_set(cpu, 0, f80_indefinite());
                st_push(cpu, f80_indefinite());
            }
            return;
        }
        if (!st_empty(cpu, 7)) {
            set_cc(cpu, FSW_C1, FSW_C1);
            if (x87_exc(cpu, FSW_IE | FSW_SF)) {
                st_set(cpu, 0, f80_indefinite());
                st_push(cpu, f80_indefinite());
            }
            return;
        }
        if (m != 0xf4 && exp >= 0x3fff + 63 && exp != 0x7fff) {
            /* |x| >= 2^63: out of range, nothing changes but C2. */
            set_cc(cpu, FSW_C2, FSW_C2);
            return;
        }
        switch (m) {
        case 0xf2: hx_ptan(st_get(cpu, 0), &r, &r2, cw, &sw); break;
        case 0xf4: hx_xtract(st_get(cpu, 0), &r, &r2, cw, &sw); break;
        default: hx_sincos(st_get(cpu, 0), &r, &r2, cw, &sw); break;
        }
        if (x87_exc(cpu, sw & 0x3f)) {
            st_set(cpu, 0, r2);
            st_push(cpu, r);
            set_cc(cpu, FSW_C1 | FSW_C2, sw);
        }
        return;
    }
    default:
        x86_raise_ud(cpu);
    }
    /* FSTP1 */
    if (st_empty(cpu, 0)) {
        if (!x87_underflow(cpu)) {
            return;
        }
        st_set(cpu, sti, f80_indefinite());
    } else {
        st_set(cpu, sti, st_get(cpu, 0));
        set_cc(cpu, FSW_C1, 0);
    }
    st_pop(cpu);
}

/* FCMOVcc (DA/DB C0..DF). */
static void fcmov(CPU *cpu, const Insn *i, bool negate)
{
    uint64_t fl = x86_get_rflags(cpu);
    unsigned sti = i->modrm & 7;
    bool cond;

    switch ((i->modrm >> 3) & 3) {
    case 0: cond = fl & FLAG_CF; break;
    case 1: cond = fl & FLAG_ZF; break;
    case 2: cond = fl & (FLAG_CF | FLAG_ZF); break;
    default: cond = fl & FLAG_PF; break;
    }
    if (st_empty(cpu, 0) || st_empty(cpu, sti)) {
        if (x87_underflow(cpu)) {
            st_set(cpu, 0, f80_indefinite());
        }
        return;
    }
    if (cond != negate) {
        st_set(cpu, 0, st_get(cpu, sti));
    }
}

/* FST/FSTP ST(i) (DD D0..DF, DF D0..DF aliases). */
static void fst_reg(CPU *cpu, unsigned sti, bool pop)
{
    if (st_empty(cpu, 0)) {
        if (!x87_underflow(cpu)) {
            return;
        }
        st_set(cpu, sti, f80_indefinite());
    } else {
        st_set(cpu, sti, st_get(cpu, 0));
        set_cc(cpu, FSW_C1, 0);
    }
    if (pop) {
        st_pop(cpu);
    }
}

/* FUCOM/FCOM ST(i) family helper: ST(0) against ST(i). */
static void com_reg(CPU *cpu, unsigned sti, bool unordered_ok, bool eflags, unsigned pops)
{
    bool ok = !st_empty(cpu, 0) && !st_empty(cpu, sti);
    compare(cpu, ok ? st_get(cpu, 0) : 0, ok ? st_get(cpu, sti) : 0, ok, unordered_ok, 0,
            eflags, pops);
}

/* ------------------------------------------------------------ dispatch */

/* Control instructions that neither check pending exceptions nor update
   the last-instruction pointers. */
static bool x87_is_control(unsigned esc, const Insn *i)
{
    unsigned sel = (i->modrm >> 3) & 7;
    if (i->mod != 3) {
        return (esc == 1 && sel >= 4) || (esc == 5 && (sel == 4 || sel == 6 || sel == 7));
    }
    return (esc == 3 && (i->modrm == 0xe2 || i->modrm == 0xe3)) ||
           (esc == 7 && i->modrm == 0xe0);
}

static void x87_mem(CPU *cpu, const Insn *i, unsigned esc)
{
    unsigned sel = (i->modrm >> 3) & 7;
    uint64_t la = x86_linear(cpu, i->seg, x86_ea(cpu, i), 1, ACC_READ);
    uint16_t sw = 0, cw = cpu->fpu.fcw;

    switch (esc * 8 + sel) {
    case 0 * 8 ... 0 * 8 + 7: arith_mem(cpu, i, 0, la); return;
    case 2 * 8 ... 2 * 8 + 7: arith_mem(cpu, i, 2, la); return;
    case 4 * 8 ... 4 * 8 + 7: arith_mem(cpu, i, 4, la); return;
    case 6 * 8 ... 6 * 8 + 7: arith_mem(cpu, i, 6, la); return;
    case 1 * 8 + 0: {   /* FLD m32 */
        uint32_t v = mem_read32(cpu, la);
        float f;
        memcpy(&f, &v, 4);
        f80 r = hx_ld32(f, cw, &sw);
        fld_value(cpu, r, sw);
        return;
    }
    case 5 * 8 + 0: {   /* FLD m64 */
        uint64_t v = mem_read64(cpu, la);
        double d;
        memcpy(&d, &v, 8);
        f80 r = hx_ld64(d, cw, &sw);
        fld_value(cpu, r, sw);
        return;
    }
    case 3 * 8 + 5: {   /* FLD m80 */
        uint8_t raw[10];
        uint64_t m = mem_read64(cpu, la);
        uint16_t e = mem_read16(cpu, la + 8);
        f80 r = 0;
        memcpy(raw, &m, 8);
        memcpy(raw + 8, &e, 2);
        memcpy(&r, raw, 10);
        fld_value(cpu, r, 0);
        return;
    }
    case 3 * 8 + 0: fld_value(cpu, hx_ild32((int32_t)mem_read32(cpu, la), cw, &sw), 0); return;
    case 7 * 8 + 0: fld_value(cpu, hx_ild16((int16_t)mem_read16(cpu, la), cw, &sw), 0); return;
    case 7 * 8 + 5: fld_value(cpu, hx_ild64((int64_t)mem_read64(cpu, la), cw, &sw), 0); return;
    case 1 * 8 + 2: store_mem(cpu, la, ST_F32, false); return;
    case 1 * 8 + 3: store_mem(cpu, la, ST_F32, true); return;
    case 5 * 8 + 2: store_mem(cpu, la, ST_F64, false); return;
    case 5 * 8 + 3: store_mem(cpu, la, ST_F64, true); return;
    case 3 * 8 + 7: store_mem(cpu, la, ST_F80, true); return;
    case 7 * 8 + 2: store_mem(cpu, la, ST_I16, false); return;
    case 7 * 8 + 3: store_mem(cpu, la, ST_I16, true); return;
    case 3 * 8 + 2: store_mem(cpu, la, ST_I32, false); return;
    case 3 * 8 + 3: store_mem(cpu, la, ST_I32, true); return;
    case 7 * 8 + 7: store_mem(cpu, la, ST_I64, true); return;
    case 7 * 8 + 1: store_mem(cpu, la, ST_T16, true); return;
    case 3 * 8 + 1: store_mem(cpu, la, ST_T32, true); return;
    case 5 * 8 + 1: store_mem(cpu, la, ST_T64, true); return;
    case 1 * 8 + 4: env_load(cpu, i, la); return;
    case 1 * 8 + 5: {   /* FLDCW */
        cpu->fpu.fcw = (mem_read16(cpu, la) & FCW_MASK) | FCW_ONES;
        if (cpu->fpu.fsw & ~cpu->fpu.fcw & 0x3f) {
            cpu->fpu.fsw |= FSW_ES | FSW_B;
        } else {
            cpu->fpu.fsw &= ~(FSW_ES | FSW_B);
        }
        return;
    }
    case 1 * 8 + 6:     /* FNSTENV: then every exception masked */
        env_store(cpu, i, la);
        cpu->fpu.fcw |= 0x3f;
        return;
    case 1 * 8 + 7: mem_write16(cpu, la, cpu->fpu.fcw); return;
    case 5 * 8 + 4: frstor(cpu, i, la); return;
    case 5 * 8 + 6: fnsave(cpu, i, la); return;
    case 5 * 8 + 7: mem_write16(cpu, la, fsw_full(cpu)); return;
    case 7 * 8 + 4:
    case 7 * 8 + 6:
        log_unimp("x87: FBLD/FBSTP not implemented\n");
        x86_raise_ud(cpu);
    default:
        x86_raise_ud(cpu);
    }
}

static void x87_reg(CPU *cpu, const Insn *i, unsigned esc)
{
    unsigned m = i->modrm, sti = m & 7;

    switch (esc) {
    case 0: arith_reg(cpu, i, false, false); return;
    case 1: d9_reg(cpu, i); return;
    case 2:
        if (m < 0xe0) {
            fcmov(cpu, i, false);
        } else if (m == 0xe9) {
            com_reg(cpu, 1, true, false, 2);                /* FUCOMPP */
        } else {
            x86_raise_ud(cpu);
        }
        return;
    case 3:
        if (m < 0xe0) {
            fcmov(cpu, i, true);
        } else if (m == 0xe2) {
            cpu->fpu.fsw &= ~(0x3fu | FSW_SF | FSW_ES | FSW_B);   /* FNCLEX */
        } else if (m == 0xe3) {
            fninit(cpu);
        } else if (m == 0xe0 || m == 0xe1 || m == 0xe4) {
            /* FENI/FDISI/FSETPM: no-ops since the 80387. */
        } else if (m >= 0xe8 && m <= 0xf7) {
            com_reg(cpu, sti, m < 0xf0, true, 0);          /* FUCOMI/FCOMI */
        } else {
            x86_raise_ud(cpu);
        }
        return;
    case 4: arith_reg(cpu, i, true, false); return;
    case 5:
        switch ((m >> 3) & 7) {
        case 0: cpu->fpu.ftw &= ~(1u << ph(cpu, sti)); return;   /* FFREE */
        case 1: d9_reg(cpu, &(Insn){ .modrm = 0xc8 | sti }); return; /* FXCH4 */
        case 2: fst_reg(cpu, sti, false); return;
        case 3: fst_reg(cpu, sti, true); return;
        case 4: com_reg(cpu, sti, true, false, 0); return;     /* FUCOM */
        case 5: com_reg(cpu, sti, true, false, 1); return;     /* FUCOMP */
        default: x86_raise_ud(cpu);
        }
    case 6:
        if (m == 0xd9) {
            com_reg(cpu, 1, false, false, 2);               /* FCOMPP */
        } else if ((m & 0xf8) == 0xd8) {
            x86_raise_ud(cpu);
        } else {
            arith_reg(cpu, i, true, true);
        }
        return;
    default:
        switch ((m >> 3) & 7) {
        case 0:                                            /* FFREEP */
            cpu->fpu.ftw &= ~(1u << ph(cpu, sti));
            st_pop(cpu);
            return;
        case 1: d9_reg(cpu, &(Insn){ .modrm = 0xc8 | sti }); return; /* FXCH7 */
        case 2: case 3: fst_reg(cpu, sti, true); return;       /* FSTP8/9 */
        case 4:
            if (m == 0xe0) {                               /* FNSTSW AX */
                cpu->s.regs[R_EAX] = (cpu->s.regs[R_EAX] & ~0xffffull) | fsw_full(cpu);
                return;
            }
            x86_raise_ud(cpu);
        case 5: com_reg(cpu, sti, true, true, 1); return;      /* FUCOMIP */
        case 6: com_reg(cpu, sti, false, true, 1); return;     /* FCOMIP */
        default: x86_raise_ud(cpu);
        }
    }
}

void fpu_x87(CPU *cpu, const Insn *i)
{
    unsigned esc = i->opcode & 7;
    bool control = x87_is_control(esc, i);

    if (i->lock) {
        x86_raise_ud(cpu);
    }
    if (cpu->s.cr0 & (FPU_CR0_EM | FPU_CR0_TS)) {
        x86_raise(cpu, EXC_NM, 0);
    }
    if (!control && (cpu->fpu.fsw & FSW_ES)) {
        x86_raise(cpu, EXC_MF, 0);
    }
    if (i->mod == 3) {
        x87_reg(cpu, i, esc);
    } else {
        x87_mem(cpu, i, esc);
    }
    if (!control) {
        cpu->fpu.fop = (esc << 8) | i->modrm;
        cpu->fpu.fip = cpu->s.rip;
        if (i->mod != 3) {
            cpu->fpu.fdp = x86_ea(cpu, i);
        }
    }
}

/* FWAIT (9B): #NM when CR0.MP and CR0.TS, #MF for a pending exception. */
void fpu_fwait(CPU *cpu, const Insn *i)
{
    (void)i;
    if ((cpu->s.cr0 & (FPU_CR0_MP | FPU_CR0_TS)) == (FPU_CR0_MP | FPU_CR0_TS)) {
        x86_raise(cpu, EXC_NM, 0);
    }
    if (cpu->fpu.fsw & FSW_ES) {
        x86_raise(cpu, EXC_MF, 0);
    }
}
