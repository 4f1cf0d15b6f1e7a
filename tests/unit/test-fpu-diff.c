/*
 * Differential tests of the interpreter's FPU part (target/x86/fpu)
 * against the host CPU: each instruction runs natively (its bytes are
 * emitted into an executable buffer between FXRSTOR64 and FXSAVE64 of the
 * same state) and through its fpu/ handler with a hand-built Insn; the
 * FXSAVE images, RAX/RCX/RDX, arithmetic flags and memory must match.
 *
 * The memory and exception paths of sys/ are replaced by weak stubs here
 * (flat memory: guest linear address = host address; faults longjmp).
 */
#include <glib.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include "../../target/x86/interp.h"

/* ------------------------------------------------------------ stubs */

__attribute__((weak)) _Noreturn void x86_raise(CPU *cpu, int vector, uint32_t error)
{
    cpu->exc_vector = vector;
    cpu->exc_error = error;
    longjmp(*cpu->jmp, 1);
}

__attribute__((weak)) uint64_t x86_seg_slow(CPU *cpu, int seg, uint64_t off, unsigned size,
                                            int access)
{
    (void)seg; (void)size; (void)access;
    x86_raise(cpu, EXC_GP, 0);
    return off;
}

__attribute__((weak)) uint64_t mmu_read_slow(CPU *cpu, uint64_t la, unsigned size)
{
    uint64_t v = 0;
    (void)cpu;
    memcpy(&v, (void *)(uintptr_t)la, size);
    return v;
}

__attribute__((weak)) void mmu_write_slow(CPU *cpu, uint64_t la, uint64_t val, unsigned size)
{
    (void)cpu;
    memcpy((void *)(uintptr_t)la, &val, size);
}

__attribute__((weak)) uint64_t x86_get_rflags(CPU *cpu)
{
    return cpu->s.rflags;
}

__attribute__((weak)) void x86_set_rflags(CPU *cpu, uint64_t val, uint64_t mask)
{
    cpu->s.rflags = (cpu->s.rflags & ~mask) | (val & mask);
}

/* Declared in fpu-internal.h (private to fpu/). */
void fpu_fxrstor_image(CPU *cpu, const uint8_t *img, bool rexw);
void fpu_fxsave_image(CPU *cpu, uint8_t *img, bool rexw);

/* ------------------------------------------------------------ host side */

typedef struct HostState {
    uint8_t fx[512];
    uint64_t rax, rcx, rdx, rflags;
    uint8_t pad[480];
    uint8_t host_fx[512];
} __attribute__((aligned(64))) HostState;

#define MEM_SIZE 512
static uint8_t *code_buf;
static uint8_t mem_host[MEM_SIZE] __attribute__((aligned(64)));
static uint8_t mem_emu[MEM_SIZE] __attribute__((aligned(64)));

static const uint8_t prologue[] = {
    0x48, 0x0f, 0xae, 0x87, 0x00, 0x04, 0x00, 0x00,   /* fxsave64 [rdi+0x400] */
    0x48, 0x0f, 0xae, 0x0f,                           /* fxrstor64 [rdi] */
    0x48, 0x8b, 0x87, 0x00, 0x02, 0x00, 0x00,         /* mov rax, [rdi+0x200] */
    0x48, 0x8b, 0x8f, 0x08, 0x02, 0x00, 0x00,         /* mov rcx, [rdi+0x208] */
    0x48, 0x8b, 0x97, 0x10, 0x02, 0x00, 0x00,         /* mov rdx, [rdi+0x210] */
    0xff, 0xb7, 0x18, 0x02, 0x00, 0x00,               /* push qword [rdi+0x218] */
    0x9d,                                             /* popfq */
};
static const uint8_t epilogue[] = {
    0x9c,                                             /* pushfq */
    0x8f, 0x87, 0x18, 0x02, 0x00, 0x00,               /* pop qword [rdi+0x218] */
    0x48, 0x0f, 0xae, 0x07,                           /* fxsave64 [rdi] */
    0x48, 0x89, 0x87, 0x00, 0x02, 0x00, 0x00,         /* mov [rdi+0x200], rax */
    0x48, 0x89, 0x8f, 0x08, 0x02, 0x00, 0x00,         /* mov [rdi+0x208], rcx */
    0x48, 0x89, 0x97, 0x10, 0x02, 0x00, 0x00,         /* mov [rdi+0x210], rdx */
    0x48, 0x0f, 0xae, 0x8f, 0x00, 0x04, 0x00, 0x00,   /* fxrstor64 [rdi+0x400] */
    0xc3,
};

static void host_run(HostState *st, const uint8_t *insn, unsigned len)
{
    uint8_t *p = code_buf;
    memcpy(p, prologue, sizeof(prologue));
    p += sizeof(prologue);
    memcpy(p, insn, len);
    p += len;
    memcpy(p, epilogue, sizeof(epilogue));
    ((void (*)(HostState *, void *))code_buf)(st, mem_host);
}

/* ------------------------------------------------------------ encoding */

enum { PX_NONE = 0, PX_66 = 0x66, PX_F3 = 0xf3, PX_F2 = 0xf2 };

typedef struct Enc {
    uint8_t px;
    bool rexw;
    unsigned map;       /* 0 (x87), 1, 2, 3 */
    uint8_t op;
    unsigned reg, rm;   /* full register numbers */
    bool mem;           /* r/m is [rsi] */
    int imm;            /* -1: none */
    uint8_t modrm;      /* x87 register forms: the raw ModRM (0: build it) */
} Enc;

static unsigned encode(const Enc *e, uint8_t *b, Insn *in)
{
    unsigned n = 0;
    uint8_t rex = 0x40 | (e->rexw ? 8 : 0) | (e->reg > 7 ? 4 : 0) |
                  (!e->mem && e->rm > 7 ? 1 : 0);
    uint8_t modrm = e->modrm ? e->modrm :
                    e->mem ? (uint8_t)(((e->reg & 7) << 3) | 6) :
                    (uint8_t)(0xc0 | (e->reg & 7) << 3 | (e->rm & 7));

    if (e->px) {
        b[n++] = e->px;
    }
    if (rex != 0x40) {
        b[n++] = rex;
    }
    if (e->map) {
        b[n++] = 0x0f;
    }
    if (e->map == 2) {
        b[n++] = 0x38;
    } else if (e->map == 3) {
        b[n++] = 0x3a;
    }
    b[n++] = e->op;
    b[n++] = modrm;
    if (e->imm >= 0) {
        b[n++] = (uint8_t)e->imm;
    }
    memset(in, 0, sizeof(*in));
    in->opcode = (uint16_t)(e->map << 8 | e->op);
    in->len = (uint8_t)n;
    in->opsize = e->rexw ? 8 : e->px == 0x66 ? 2 : 4;
    in->addrsize = 8;
    in->seg = SEG_DS;
    in->rep = (e->px == 0xf3 || e->px == 0xf2) ? e->px : 0;
    in->rex = rex != 0x40 ? rex : 0;
    in->modrm = modrm;
    in->mod = modrm >> 6;
    in->reg = (uint8_t)(((modrm >> 3) & 7) | (e->reg > 7 ? 8 : 0));
    in->rm = e->mem ? (modrm & 7) : (uint8_t)((modrm & 7) | (e->rm > 7 ? 8 : 0));
    in->base = e->mem ? R_ESI : REG_NONE;
    in->index = REG_NONE;
    in->imm = e->imm >= 0 ? (uint64_t)e->imm : 0;
    return n;
}

/* ------------------------------------------------------------ random state */

static GRand *rng;

static uint32_t rnd32(void) { return g_rand_int(rng); }
static uint64_t rnd64(void) { return (uint64_t)rnd32() << 32 | rnd32(); }

static const uint32_t special_f32[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
    0x7fc00000, 0xffc00000, 0x7fa00001, 0xff800001, 0x00000001, 0x807fffff,
    0x00800000, 0x7f7fffff, 0x4f000000, 0xcf000000, 0x5f000000, 0x3f000000,
    0x40490fdb, 0x4b000001, 0x3effffff,
};
static const uint64_t special_f64[] = {
    0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
    0x7ff4000000000001ull, 0xfff0000000000001ull, 1, 0x800fffffffffffffull,
    0x0010000000000000ull, 0x7fefffffffffffffull, 0x41e0000000000000ull,
    0xc1e0000000200000ull, 0x43e0000000000000ull, 0x3fe0000000000000ull,
    0x400921fb54442d18ull, 0x36a0000000000000ull, 0x47efffffe0000000ull,
};
static const uint16_t special_i16[] = {
    0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0xff80, 0x0100, 0x8080, 0x00ff,
};

/* 16 bytes mixing random bits, special floats/doubles and integer edges. */
static void rnd_vec(uint8_t *v)
{
    for (unsigned k = 0; k < 16; k += 8) {
        uint64_t q;
        switch (rnd32() % 5) {
        case 0: q = rnd64(); break;
        case 1: q = special_f32[rnd32() % G_N_ELEMENTS(special_f32)] |
                    (uint64_t)special_f32[rnd32() % G_N_ELEMENTS(special_f32)] << 32; break;
        case 2: q = special_f64[rnd32() % G_N_ELEMENTS(special_f64)]; break;
        case 3:
            q = 0;
            for (unsigned j = 0; j < 4; j++) {
                q |= (uint64_t)special_i16[rnd32() % G_N_ELEMENTS(special_i16)] << (16 * j);
            }
            break;
        default: q = rnd32() % 70; break;   /* shift counts, small values */
        }
        memcpy(v + k, &q, 8);
    }
}

/* An 80-bit register value: from the special doubles, or raw patterns. */
static void rnd_f80(uint8_t *p)
{
    uint64_t m = rnd64();
    uint16_t e;
    switch (rnd32() % 6) {
    case 0: {
        long double v;
        double d;
        uint64_t q = special_f64[rnd32() % G_N_ELEMENTS(special_f64)];
        memcpy(&d, &q, 8);
        v = d;   /* host x87 conversion, fine outside any guest state */
        memcpy(p, &v, 10);
        return;
    }
    case 1: e = 0x7fff; m |= 1ull << 63; break;                      /* NaN/inf */
    case 2: e = rnd32() & 1 ? 0 : 0x8000; m &= ~(1ull << 63); break;  /* denormal */
    case 3: e = (uint16_t)(0x3fff + rnd32() % 130 - 65) | (rnd32() & 0x8000); m |= 1ull << 63; break;
    case 4: e = (uint16_t)(0x3fff + rnd32() % 8) | (rnd32() & 0x8000); m = (m | 1ull << 63) & ~0xffffull; break;
    default: e = (uint16_t)rnd32(); m |= 1ull << 63; break;
    }
    memcpy(p, &m, 8);
    memcpy(p + 8, &e, 2);
}

static void rnd_state(HostState *st, bool x87)
{
    static const uint32_t rc[] = { 0, 0x2000, 0x4000, 0x6000 };
    uint32_t mxcsr = 0x1f80 | rc[rnd32() % 4];

    memset(st, 0, sizeof(*st));
    if (rnd32() % 4 == 0) {
        mxcsr |= 0x8000;    /* FTZ */
    }
    if (rnd32() % 4 == 0) {
        mxcsr |= 0x40;      /* DAZ */
    }
    memcpy(st->fx + 24, &mxcsr, 4);
    for (unsigned r = 0; r < 16; r++) {
        rnd_vec(st->fx + 160 + 16 * r);
    }
    if (x87) {
        uint16_t fcw = 0x7f | (uint16_t)(rnd32() % 4) << 10 |
                       (uint16_t)(rnd32() % 3 == 0 ? 0 : rnd32() % 2 ? 2 : 3) << 8;
        uint16_t fsw = (uint16_t)((rnd32() % 8) << 11);
        memcpy(st->fx, &fcw, 2);
        memcpy(st->fx + 2, &fsw, 2);
        /* Mostly-full lower stack, mostly-empty upper (ST order -> physical). */
        for (unsigned i = 0; i < 8; i++) {
            bool valid = i < 3 ? rnd32() % 8 != 0 : rnd32() % 4 == 0;
            unsigned phys = ((fsw >> 11) + i) & 7;
            if (valid) {
                st->fx[4] |= 1u << phys;
            }
            rnd_f80(st->fx + 32 + 16 * i);
        }
    } else {
        uint16_t fcw = 0x37f;
        memcpy(st->fx, &fcw, 2);
        for (unsigned i = 0; i < 8; i++) {
            uint64_t m = rnd64();
            memcpy(st->fx + 32 + 16 * i, &m, 8);
            st->fx[32 + 16 * i + 8] = st->fx[32 + 16 * i + 9] = 0xff;
        }
        /* MMX instructions must reset TOP and tag everything valid. */
        st->fx[4] = rnd32() % 2 ? 0xff : (uint8_t)rnd32();
        st->fx[3] = (uint8_t)((rnd32() % 8) << 3);
    }
    st->rax = rnd32() % 3 ? rnd64() : special_f64[rnd32() % G_N_ELEMENTS(special_f64)];
    st->rcx = rnd32() % 2 ? rnd64() : (uint64_t)(int64_t)(int32_t)rnd32();
    st->rdx = rnd32() % 2 ? rnd64() : special_f32[rnd32() % G_N_ELEMENTS(special_f32)];
    st->rflags = 0x202 | (rnd32() & (FLAG_CF | FLAG_PF | FLAG_ZF | FLAG_SF | FLAG_OF | FLAG_AF));
    for (unsigned k = 0; k < MEM_SIZE; k += 16) {
        rnd_vec(mem_host + k);
    }
}

/* ------------------------------------------------------------ running */

static CPU *cpu;
static unsigned n_cases;
static bool ldmxcsr_case;
static uint8_t init_fx[160];   /* for mismatch reports */   /* memory starts with a valid MXCSR value */

/* Run through the interpreter; returns the exception vector or -1. */
static int emu_run(InsnFn fn, const Insn *in, HostState *st)
{
    jmp_buf jb;

    fpu_fxrstor_image(cpu, st->fx, true);
    cpu->s.regs[R_EAX] = st->rax;
    cpu->s.regs[R_ECX] = st->rcx;
    cpu->s.regs[R_EDX] = st->rdx;
    cpu->s.regs[R_ESI] = (uintptr_t)mem_emu;
    cpu->s.rflags = st->rflags;
    cpu->exc_vector = -1;
    cpu->jmp = &jb;
    if (setjmp(jb) == 0) {
        fn(cpu, in);
    }
    memset(st->fx, 0, 512);
    fpu_fxsave_image(cpu, st->fx, true);
    st->rax = cpu->s.regs[R_EAX];
    st->rcx = cpu->s.regs[R_ECX];
    st->rdx = cpu->s.regs[R_EDX];
    st->rflags = cpu->s.rflags;
    return cpu->exc_vector;
}

static void hexdump(const char *what, const uint8_t *a, const uint8_t *b, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        if (a[k] != b[k]) {
            g_printerr("  %s[%u]: host %02x emu %02x\n", what, k, a[k], b[k]);
        }
    }
}

/*
 * One differential case. @fsw_ignore: FSW bits architecturally undefined
 * for this instruction (not compared).
 */
/* Zero the parts of an FXSAVE image that differ between host and
   interpreter by design: FOP/FIP/FDP (host addresses on the host side),
   MXCSR_MASK (it describes the CPU: AMD hosts set the MM bit, 17, which
   the interpreter does not model) and the reserved bytes of each x87
   register slot. */
static void fx_clear_uncompared(uint8_t *fx)
{
    memset(fx + 6, 0, 18);
    memset(fx + 28, 0, 4);
    for (unsigned k = 0; k < 8; k++) {
        memset(fx + 32 + 16 * k + 10, 0, 6);
    }
}

static void diff_case(InsnFn fn, const Enc *e, uint16_t fsw_ignore)
{
    uint8_t bytes[16];
    Insn in;
    unsigned len = encode(e, bytes, &in);
    HostState h, m;
    int exc;
    bool bad = false;

    rnd_state(&h, e->map == 0);
    if (ldmxcsr_case) {
        uint32_t v = 0x1f80 | (rnd32() & 0xe07f);
        memcpy(mem_host, &v, 4);
    }
    memcpy(&m, &h, sizeof(h));
    memcpy(mem_emu, mem_host, MEM_SIZE);
    memcpy(init_fx, h.fx, 160);
    host_run(&h, bytes, len);
    exc = emu_run(fn, &in, &m);
    n_cases++;

    fx_clear_uncompared(h.fx);
    fx_clear_uncompared(m.fx);
    h.fx[2] &= ~fsw_ignore;
    h.fx[3] &= ~(fsw_ignore >> 8);
    m.fx[2] &= ~fsw_ignore;
    m.fx[3] &= ~(fsw_ignore >> 8);
    if (exc >= 0 || memcmp(h.fx, m.fx, 416) || h.rax != m.rax || h.rcx != m.rcx ||
        h.rdx != m.rdx || (h.rflags & FLAGS_ARITH) != (m.rflags & FLAGS_ARITH) ||
        memcmp(mem_host, mem_emu, MEM_SIZE)) {
        bad = true;
    }
    if (bad) {
        GString *s = g_string_new(NULL);
        for (unsigned k = 0; k < len; k++) {
            g_string_append_printf(s, "%02x ", bytes[k]);
        }
        g_printerr("mismatch for %s(exception %d)\n", s->str, exc);
        g_string_free(s, true);
        g_printerr("  initial fcw %02x%02x fsw %02x%02x ftw %02x; st0 %016llx:%04x\n",
                   init_fx[1], init_fx[0], init_fx[3], init_fx[2], init_fx[4],
                   *(unsigned long long *)(init_fx + 32), *(uint16_t *)(init_fx + 40));
        hexdump("fx", h.fx, m.fx, 416);
        g_printerr("  rax %llx/%llx rcx %llx/%llx rdx %llx/%llx fl %llx/%llx\n",
                   (unsigned long long)h.rax, (unsigned long long)m.rax,
                   (unsigned long long)h.rcx, (unsigned long long)m.rcx,
                   (unsigned long long)h.rdx, (unsigned long long)m.rdx,
                   (unsigned long long)h.rflags, (unsigned long long)m.rflags);
        hexdump("mem", mem_host, mem_emu, MEM_SIZE);
    }
    g_assert_false(bad);
}

/* ------------------------------------------------------------ SSE list */

enum {
    F_REGONLY = 1 << 0,   /* r/m must be a register */
    F_MEMONLY = 1 << 1,   /* r/m must be memory */
    F_REG_GPR = 1 << 2,   /* ModRM.reg names a GPR */
    F_RM_GPR = 1 << 3,    /* a register r/m names a GPR */
    F_W = 1 << 4,         /* also try REX.W */
    F_IMM = 1 << 5,       /* imm8 */
    F_MMX_REG = 1 << 6,   /* ModRM.reg names an MMX register */
    F_MMX_RM = 1 << 7,    /* a register r/m names an MMX register */
    F_GRP = 1 << 8,       /* shift group: ModRM.reg from the list */
};

typedef struct SseCase {
    unsigned map;
    uint8_t op, px;
    unsigned flags;
    const char *name;
} SseCase;

#define MM (F_MMX_REG | F_MMX_RM)
static const SseCase sse_cases[] = {
    { 1, 0x10, 0, 0, "movups" }, { 1, 0x10, 0x66, 0, "movupd" },
    { 1, 0x10, 0xf3, 0, "movss" }, { 1, 0x10, 0xf2, 0, "movsd" },
    { 1, 0x11, 0, 0, "movups st" }, { 1, 0x11, 0xf3, 0, "movss st" },
    { 1, 0x11, 0xf2, 0, "movsd st" },
    { 1, 0x12, 0, 0, "movlps/movhlps" }, { 1, 0x12, 0x66, F_MEMONLY, "movlpd" },
    { 1, 0x12, 0xf3, 0, "movsldup" }, { 1, 0x12, 0xf2, 0, "movddup" },
    { 1, 0x13, 0, F_MEMONLY, "movlps st" }, { 1, 0x13, 0x66, F_MEMONLY, "movlpd st" },
    { 1, 0x14, 0, 0, "unpcklps" }, { 1, 0x14, 0x66, 0, "unpcklpd" },
    { 1, 0x15, 0, 0, "unpckhps" }, { 1, 0x15, 0x66, 0, "unpckhpd" },
    { 1, 0x16, 0, 0, "movhps/movlhps" }, { 1, 0x16, 0x66, F_MEMONLY, "movhpd" },
    { 1, 0x16, 0xf3, 0, "movshdup" },
    { 1, 0x17, 0, F_MEMONLY, "movhps st" }, { 1, 0x17, 0x66, F_MEMONLY, "movhpd st" },
    { 1, 0x28, 0, 0, "movaps" }, { 1, 0x28, 0x66, 0, "movapd" },
    { 1, 0x29, 0, 0, "movaps st" }, { 1, 0x29, 0x66, 0, "movapd st" },
    { 1, 0x2a, 0, F_MMX_RM, "cvtpi2ps" }, { 1, 0x2a, 0x66, F_MMX_RM, "cvtpi2pd" },
    { 1, 0x2a, 0xf3, F_RM_GPR | F_W, "cvtsi2ss" }, { 1, 0x2a, 0xf2, F_RM_GPR | F_W, "cvtsi2sd" },
    { 1, 0x2b, 0, F_MEMONLY, "movntps" }, { 1, 0x2b, 0x66, F_MEMONLY, "movntpd" },
    { 1, 0x2c, 0, F_MMX_REG, "cvttps2pi" }, { 1, 0x2c, 0x66, F_MMX_REG, "cvttpd2pi" },
    { 1, 0x2c, 0xf3, F_REG_GPR | F_W, "cvttss2si" }, { 1, 0x2c, 0xf2, F_REG_GPR | F_W, "cvttsd2si" },
    { 1, 0x2d, 0, F_MMX_REG, "cvtps2pi" }, { 1, 0x2d, 0x66, F_MMX_REG, "cvtpd2pi" },
    { 1, 0x2d, 0xf3, F_REG_GPR | F_W, "cvtss2si" }, { 1, 0x2d, 0xf2, F_REG_GPR | F_W, "cvtsd2si" },
    { 1, 0x2e, 0, 0, "ucomiss" }, { 1, 0x2e, 0x66, 0, "ucomisd" },
    { 1, 0x2f, 0, 0, "comiss" }, { 1, 0x2f, 0x66, 0, "comisd" },
    { 1, 0x50, 0, F_REGONLY | F_REG_GPR, "movmskps" }, { 1, 0x50, 0x66, F_REGONLY | F_REG_GPR, "movmskpd" },
    { 1, 0x51, 0, 0, "sqrtps" }, { 1, 0x51, 0x66, 0, "sqrtpd" },
    { 1, 0x51, 0xf3, 0, "sqrtss" }, { 1, 0x51, 0xf2, 0, "sqrtsd" },
    { 1, 0x52, 0, 0, "rsqrtps" }, { 1, 0x52, 0xf3, 0, "rsqrtss" },
    { 1, 0x53, 0, 0, "rcpps" }, { 1, 0x53, 0xf3, 0, "rcpss" },
    { 1, 0x54, 0, 0, "andps" }, { 1, 0x55, 0x66, 0, "andnpd" },
    { 1, 0x56, 0, 0, "orps" }, { 1, 0x57, 0x66, 0, "xorpd" },
    { 1, 0x58, 0, 0, "addps" }, { 1, 0x58, 0x66, 0, "addpd" },
    { 1, 0x58, 0xf3, 0, "addss" }, { 1, 0x58, 0xf2, 0, "addsd" },
    { 1, 0x59, 0, 0, "mulps" }, { 1, 0x59, 0x66, 0, "mulpd" },
    { 1, 0x59, 0xf3, 0, "mulss" }, { 1, 0x59, 0xf2, 0, "mulsd" },
    { 1, 0x5a, 0, 0, "cvtps2pd" }, { 1, 0x5a, 0x66, 0, "cvtpd2ps" },
    { 1, 0x5a, 0xf3, 0, "cvtss2sd" }, { 1, 0x5a, 0xf2, 0, "cvtsd2ss" },
    { 1, 0x5b, 0, 0, "cvtdq2ps" }, { 1, 0x5b, 0x66, 0, "cvtps2dq" },
    { 1, 0x5b, 0xf3, 0, "cvttps2dq" },
    { 1, 0x5c, 0, 0, "subps" }, { 1, 0x5c, 0x66, 0, "subpd" },
    { 1, 0x5c, 0xf3, 0, "subss" }, { 1, 0x5c, 0xf2, 0, "subsd" },
    { 1, 0x5d, 0, 0, "minps" }, { 1, 0x5d, 0x66, 0, "minpd" },
    { 1, 0x5d, 0xf3, 0, "minss" }, { 1, 0x5d, 0xf2, 0, "minsd" },
    { 1, 0x5e, 0, 0, "divps" }, { 1, 0x5e, 0x66, 0, "divpd" },
    { 1, 0x5e, 0xf3, 0, "divss" }, { 1, 0x5e, 0xf2, 0, "divsd" },
    { 1, 0x5f, 0, 0, "maxps" }, { 1, 0x5f, 0x66, 0, "maxpd" },
    { 1, 0x5f, 0xf3, 0, "maxss" }, { 1, 0x5f, 0xf2, 0, "maxsd" },
    { 1, 0x6c, 0x66, 0, "punpcklqdq" }, { 1, 0x6d, 0x66, 0, "punpckhqdq" },
    { 1, 0x6e, 0, F_MMX_REG | F_RM_GPR | F_W, "movd mm,r" },
    { 1, 0x6e, 0x66, F_RM_GPR | F_W, "movd xmm,r" },
    { 1, 0x6f, 0, MM, "movq mm" }, { 1, 0x6f, 0x66, 0, "movdqa" }, { 1, 0x6f, 0xf3, 0, "movdqu" },
    { 1, 0x70, 0, MM | F_IMM, "pshufw" }, { 1, 0x70, 0x66, F_IMM, "pshufd" },
    { 1, 0x70, 0xf3, F_IMM, "pshufhw" }, { 1, 0x70, 0xf2, F_IMM, "pshuflw" },
    { 1, 0x71, 0, MM | F_GRP | F_IMM | F_REGONLY, "grp71 mm" },
    { 1, 0x71, 0x66, F_GRP | F_IMM | F_REGONLY, "grp71" },
    { 1, 0x72, 0, MM | F_GRP | F_IMM | F_REGONLY, "grp72 mm" },
    { 1, 0x72, 0x66, F_GRP | F_IMM | F_REGONLY, "grp72" },
    { 1, 0x73, 0, MM | F_GRP | F_IMM | F_REGONLY, "grp73 mm" },
    { 1, 0x73, 0x66, F_GRP | F_IMM | F_REGONLY, "grp73" },
    { 1, 0x7c, 0x66, 0, "haddpd" }, { 1, 0x7c, 0xf2, 0, "haddps" },
    { 1, 0x7d, 0x66, 0, "hsubpd" }, { 1, 0x7d, 0xf2, 0, "hsubps" },
    { 1, 0x7e, 0, F_MMX_REG | F_RM_GPR | F_W, "movd r,mm" },
    { 1, 0x7e, 0x66, F_RM_GPR | F_W, "movd r,xmm" }, { 1, 0x7e, 0xf3, 0, "movq xmm" },
    { 1, 0x7f, 0, MM, "movq mm st" }, { 1, 0x7f, 0x66, 0, "movdqa st" },
    { 1, 0x7f, 0xf3, 0, "movdqu st" },
    { 1, 0xc2, 0, F_IMM, "cmpps" }, { 1, 0xc2, 0x66, F_IMM, "cmppd" },
    { 1, 0xc2, 0xf3, F_IMM, "cmpss" }, { 1, 0xc2, 0xf2, F_IMM, "cmpsd" },
    { 1, 0xc3, 0, F_MEMONLY | F_REG_GPR | F_W, "movnti" },
    { 1, 0xc4, 0, F_MMX_REG | F_RM_GPR | F_IMM, "pinsrw mm" },
    { 1, 0xc4, 0x66, F_RM_GPR | F_IMM, "pinsrw" },
    { 1, 0xc5, 0, F_REG_GPR | F_MMX_RM | F_REGONLY | F_IMM, "pextrw mm" },
    { 1, 0xc5, 0x66, F_REG_GPR | F_REGONLY | F_IMM, "pextrw" },
    { 1, 0xc6, 0, F_IMM, "shufps" }, { 1, 0xc6, 0x66, F_IMM, "shufpd" },
    { 1, 0xd0, 0x66, 0, "addsubpd" }, { 1, 0xd0, 0xf2, 0, "addsubps" },
    { 1, 0xd6, 0x66, 0, "movq st" },
    { 1, 0xd6, 0xf3, F_MMX_RM | F_REGONLY, "movq2dq" },
    { 1, 0xd6, 0xf2, F_MMX_REG | F_REGONLY, "movdq2q" },
    { 1, 0xd7, 0, F_REG_GPR | F_MMX_RM | F_REGONLY, "pmovmskb mm" },
    { 1, 0xd7, 0x66, F_REG_GPR | F_REGONLY, "pmovmskb" },
    { 1, 0xe6, 0x66, 0, "cvttpd2dq" }, { 1, 0xe6, 0xf3, 0, "cvtdq2pd" },
    { 1, 0xe6, 0xf2, 0, "cvtpd2dq" },
    { 1, 0xe7, 0, MM | F_MEMONLY, "movntq" }, { 1, 0xe7, 0x66, F_MEMONLY, "movntdq" },
    { 1, 0xf0, 0xf2, F_MEMONLY, "lddqu" },
    { 3, 0x0f, 0, MM | F_IMM, "palignr mm" }, { 3, 0x0f, 0x66, F_IMM, "palignr" },
};

/* Integer ops with the same MMX (no prefix) and XMM (66) shape. */
static const uint8_t int_ops_0f[] = {
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b,
    0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb,
    0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9,
    0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
    0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
};
static const uint8_t int_ops_0f38[] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x1c, 0x1d, 0x1e,
};

#define ITER 300

static void run_sse_case(const SseCase *c)
{
    InsnFn fn = fpu_sse_handler(c->map, c->op, c->px);
    static const uint8_t grp_sel[3][4] = { { 2, 4, 6, 2 }, { 2, 4, 6, 2 }, { 2, 3, 6, 7 } };

    g_assert_nonnull(fn);
    g_assert_cmpint(fpu_sse_has_imm8(c->map, c->op, c->px), ==, !!(c->flags & F_IMM));
    for (unsigned it = 0; it < ITER; it++) {
        Enc e = { .px = c->px, .map = c->map, .op = c->op, .imm = -1 };
        bool mem = (c->flags & F_MEMONLY) || (!(c->flags & F_REGONLY) && rnd32() % 3 == 0);

        e.mem = mem;
        e.rexw = (c->flags & F_W) && (rnd32() & 1);
        e.reg = (c->flags & F_REG_GPR) ? rnd32() % 3 : (c->flags & F_MMX_REG) ? rnd32() % 8 : rnd32() % 16;
        e.rm = (c->flags & F_RM_GPR) ? rnd32() % 3 : (c->flags & F_MMX_RM) ? rnd32() % 8 : rnd32() % 16;
        if (c->flags & F_IMM) {
            e.imm = rnd32() % 4 == 0 ? (int)(rnd32() % 40) : (int)(rnd32() & 0xff);
        }
        if (c->flags & F_GRP) {
            unsigned sel = grp_sel[c->op - 0x71][rnd32() % 4];
            if (c->px == 0 && c->op == 0x73) {
                sel = rnd32() % 2 ? 2 : 6;
            }
            e.reg = sel;
        }
        diff_case(fn, &e, 0);
    }
}

static void test_sse_table(void)
{
    for (unsigned k = 0; k < G_N_ELEMENTS(sse_cases); k++) {
        run_sse_case(&sse_cases[k]);
    }
}

static void test_sse_int(void)
{
    for (unsigned k = 0; k < G_N_ELEMENTS(int_ops_0f); k++) {
        SseCase mm = { 1, int_ops_0f[k], 0, MM, "int mm" };
        SseCase xmm = { 1, int_ops_0f[k], 0x66, 0, "int xmm" };
        run_sse_case(&mm);
        run_sse_case(&xmm);
    }
    for (unsigned k = 0; k < G_N_ELEMENTS(int_ops_0f38); k++) {
        SseCase mm = { 2, int_ops_0f38[k], 0, MM, "ssse3 mm" };
        SseCase xmm = { 2, int_ops_0f38[k], 0x66, 0, "ssse3 xmm" };
        run_sse_case(&mm);
        run_sse_case(&xmm);
    }
}

/* ------------------------------------------------------------ x87 */

/* Register forms (ModRM C0..FF) that exist, per escape. */
static bool x87_reg_valid(unsigned esc, unsigned m)
{
    switch (esc) {
    case 1:
        /* D9 D8..DF (FSTP1) is undocumented: hosts differ on empty ST0. */
        return !(m == 0xd1 || (m >= 0xd2 && m <= 0xdf) || m == 0xe2 || m == 0xe3 ||
                 m == 0xe6 || m == 0xe7 || m == 0xef);
    case 2: return m < 0xe0 || m == 0xe9;
    case 3: return m < 0xe0 || m == 0xe2 || m == 0xe3 || (m >= 0xe8 && m <= 0xf7);
    case 5: return m < 0xf0;
    case 6: return !((m & 0xf8) == 0xd8 && m != 0xd9);
    case 7: return m < 0xe0 || m == 0xe0 || (m >= 0xe8 && m < 0xf8);
    default: return true;
    }
}

/* FSW condition bits the SDM leaves undefined for this instruction. */
static uint16_t x87_undefined_cc(unsigned esc, unsigned m, bool mem)
{
    const uint16_t c023 = 0x4500;
    unsigned sel = (m >> 3) & 7;
    if (mem) {
        /* Only compares define C0/C2/C3; FLDENV/FRSTOR load them. */
        if ((esc == 0 || esc == 2 || esc == 4 || esc == 6) && (sel == 2 || sel == 3)) {
            return 0;
        }
        return c023;
    }
    if ((esc == 0 && (sel == 2 || sel == 3)) || (esc == 1 && (m == 0xe4 || m == 0xe5)) ||
        (esc == 1 && (m == 0xf5 || m == 0xf8)) || (esc == 2 && m == 0xe9) ||
        (esc == 5 && sel >= 4) || (esc == 6 && m == 0xd9) || (esc == 4 && sel >= 2 && sel <= 3)) {
        return 0;
    }
    if (esc == 1 && (m == 0xf2 || m == 0xfb || m == 0xfe || m == 0xff)) {
        return 0x4100;   /* transcendentals define C2 (and C1) */
    }
    return c023;
}

static void test_x87_reg(void)
{
    for (unsigned esc = 0; esc < 8; esc++) {
        for (unsigned m = 0xc0; m <= 0xff; m++) {
            if (!x87_reg_valid(esc, m)) {
                continue;
            }
            for (unsigned it = 0; it < 40; it++) {
                Enc e = { .map = 0, .op = (uint8_t)(0xd8 + esc), .modrm = (uint8_t)m, .imm = -1 };
                diff_case(fpu_x87, &e, x87_undefined_cc(esc, m, false));
            }
        }
    }
}

static void test_x87_mem(void)
{
    for (unsigned esc = 0; esc < 8; esc++) {
        for (unsigned sel = 0; sel < 8; sel++) {
            if ((esc == 1 && sel == 1) || (esc == 3 && (sel == 4 || sel == 6)) ||
                (esc == 5 && sel == 5) || (esc == 7 && (sel == 4 || sel == 6))) {
                continue;   /* reserved encodings and FBLD/FBSTP */
            }
            for (unsigned it = 0; it < 200; it++) {
                Enc e = { .map = 0, .op = (uint8_t)(0xd8 + esc), .reg = sel, .mem = true,
                          .imm = -1 };
                e.rexw = (esc == 1 || esc == 5) && sel >= 4 && (rnd32() & 1);
                diff_case(fpu_x87, &e, x87_undefined_cc(esc, sel << 3, true));
            }
        }
    }
}

/* ------------------------------------------------------------ group 15 */

static void test_group15(void)
{
    /* FXSAVE64 / FXSAVE / FXRSTOR64 round trips through memory. */
    for (unsigned it = 0; it < 500; it++) {
        Enc e = { .map = 1, .op = 0xae, .reg = it % 2, .mem = true, .imm = -1,
                  .rexw = it % 4 < 2 };
        Insn in;
        uint8_t bytes[16];
        HostState h, m;
        encode(&e, bytes, &in);
        rnd_state(&h, true);
        if (e.reg == 1) {
            /* FXRSTOR from a valid image in memory. */
            memcpy(mem_host, h.fx, 512);
            rnd_vec(h.fx + 160);
        }
        memcpy(&m, &h, sizeof(h));
        memcpy(mem_emu, mem_host, MEM_SIZE);
        host_run(&h, bytes, in.len);
        g_assert_cmpint(emu_run(fpu_group15, &in, &m), ==, -1);
        n_cases++;
        if (e.reg == 0) {
            fx_clear_uncompared(mem_host);
            fx_clear_uncompared(mem_emu);
            g_assert_cmpmem(mem_host, 416, mem_emu, 416);
        }
        fx_clear_uncompared(h.fx);
        fx_clear_uncompared(m.fx);
        g_assert_cmpmem(h.fx, 416, m.fx, 416);
    }

    /* LDMXCSR (from a valid value) / STMXCSR. */
    ldmxcsr_case = true;
    for (unsigned it = 0; it < 400; it++) {
        Enc e = { .map = 1, .op = 0xae, .reg = 2 + it % 2, .mem = true, .imm = -1 };
        diff_case(fpu_group15, &e, 0);
    }
    ldmxcsr_case = false;
}

/* Faults the handlers must raise without touching state. */
static void test_faults(void)
{
    Enc e = { .map = 1, .op = 0x28, .reg = 1, .mem = true, .imm = -1 };
    Insn in;
    uint8_t bytes[16];
    HostState m;
    jmp_buf jb;
    uint8_t before[16];

    encode(&e, bytes, &in);
    rnd_state(&m, false);
    fpu_fxrstor_image(cpu, m.fx, true);
    memcpy(before, cpu->fpu.xmm[1], 16);
    cpu->jmp = &jb;

    /* MOVAPS from a misaligned address: #GP(0). */
    cpu->s.regs[R_ESI] = (uintptr_t)mem_emu + 4;
    cpu->exc_vector = -1;
    if (setjmp(jb) == 0) {
        fpu_sse_handler(1, 0x28, 0)(cpu, &in);
    }
    g_assert_cmpint(cpu->exc_vector, ==, EXC_GP);
    g_assert_cmpmem(before, 16, cpu->fpu.xmm[1], 16);

    /* MOVUPS from the same address is fine. */
    cpu->exc_vector = -1;
    if (setjmp(jb) == 0) {
        fpu_sse_handler(1, 0x10, 0)(cpu, &in);
    }
    g_assert_cmpint(cpu->exc_vector, ==, -1);
    g_assert_cmpmem(mem_emu + 4, 16, cpu->fpu.xmm[1], 16);

    /* CR0.TS: #NM; CR0.EM: #UD; no OSFXSR: #UD; LOCK: #UD. */
    cpu->s.cr0 |= 1u << 3;
    cpu->exc_vector = -1;
    if (setjmp(jb) == 0) {
        fpu_sse_handler(1, 0x58, 0)(cpu, &in);
    }
    g_assert_cmpint(cpu->exc_vector, ==, EXC_NM);
    cpu->s.cr0 &= ~(1u << 3);
    cpu->s.cr4 &= ~(1u << 9);
    cpu->exc_vector = -1;
    if (setjmp(jb) == 0) {
        fpu_sse_handler(1, 0x58, 0)(cpu, &in);
    }
    g_assert_cmpint(cpu->exc_vector, ==, EXC_UD);
    cpu->s.cr4 |= 1u << 9;

    /* Unmasked invalid: #XM, destination unchanged, flag set. */
    {
        Enc d = { .map = 1, .op = 0x5e, .px = 0xf3, .reg = 2, .rm = 3, .imm = -1 };
        uint32_t zero = 0;
        encode(&d, bytes, &in);
        memset(cpu->fpu.xmm[2], 0, 16);
        memcpy(cpu->fpu.xmm[3], &zero, 4);
        cpu->fpu.mxcsr = 0x1f80 & ~0x80;   /* IE unmasked */
        cpu->exc_vector = -1;
        if (setjmp(jb) == 0) {
            fpu_sse_handler(1, 0x5e, 0xf3)(cpu, &in);
        }
        g_assert_cmpint(cpu->exc_vector, ==, EXC_XM);
        g_assert_cmphex(cpu->fpu.mxcsr & 1, ==, 1);
        g_assert_cmphex(cpu->fpu.xmm[2][3], ==, 0);
        cpu->fpu.mxcsr = 0x1f80;
    }

    /* LDMXCSR with a reserved bit: #GP(0). */
    {
        Enc l = { .map = 1, .op = 0xae, .reg = 2, .mem = true, .imm = -1 };
        uint32_t bad = 0x10000 | 0x1f80;
        encode(&l, bytes, &in);
        memcpy(mem_emu, &bad, 4);
        cpu->s.regs[R_ESI] = (uintptr_t)mem_emu;
        cpu->exc_vector = -1;
        if (setjmp(jb) == 0) {
            fpu_group15(cpu, &in);
        }
        g_assert_cmpint(cpu->exc_vector, ==, EXC_GP);
    }
}

static void test_reset(void)
{
    uint8_t img[512];
    fpu_reset(cpu);
    fpu_fxsave_image(cpu, img, true);
    g_assert_cmphex(cpu->fpu.mxcsr, ==, 0x1f80);
    g_assert_cmphex(img[0] | img[1] << 8, ==, 0x0040);
    g_assert_cmphex(img[4], ==, 0xff);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    /* Fixed seed for reproducible runs; FPU_DIFF_SEED explores others. */
    rng = g_rand_new_with_seed(g_getenv("FPU_DIFF_SEED") ?
                               (guint32)g_ascii_strtoull(g_getenv("FPU_DIFF_SEED"), NULL, 0) : 12345);
    code_buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert(code_buf != MAP_FAILED);
    cpu = g_new0(CPU, 1);
    memset(cpu->tlb, 0xff, sizeof(cpu->tlb));   /* every access takes the slow path */
    cpu->code64 = 1;
    cpu->s.cr0 = 0x80000033;                      /* PG NE ET MP PE */
    cpu->s.cr4 = (1u << 9) | (1u << 10) | (1u << 5);

    g_test_add_func("/fpu-diff/sse-table", test_sse_table);
    g_test_add_func("/fpu-diff/sse-int", test_sse_int);
    g_test_add_func("/fpu-diff/x87-reg", test_x87_reg);
    g_test_add_func("/fpu-diff/x87-mem", test_x87_mem);
    g_test_add_func("/fpu-diff/group15", test_group15);
    g_test_add_func("/fpu-diff/faults", test_faults);
    g_test_add_func("/fpu-diff/reset", test_reset);
    ret = g_test_run();
    if (g_test_verbose()) {
        g_print("%u differential cases\n", n_cases);
    }
    g_free(cpu);
    g_rand_free(rng);
    munmap(code_buf, 4096);
    return ret;
}
