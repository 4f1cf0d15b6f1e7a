/*
 * Random bytes executed as guest code never crash or hang the interpreter.
 *
 * A hand-built Machine (RAM, empty I/O buses, one interpreter vCPU) gets
 * identity-mapped page tables with holes, read-only, NX and user pages, a
 * GDT with 64/32/16-bit segments, 64-bit and 32-bit TSSs (RSP0/ESP0 and an
 * IST stack), a 64-bit IDT, a 32-bit IDT and a real-mode IVT. Every gate
 * points at its own one-byte HLT stub, so the address where the CPU halts
 * tells which vector was delivered.
 *
 * Each iteration rewrites those tables (the previous code may have
 * scribbled on them), fills code pages with random bytes (some iterations
 * with prefix/opcode/ModRM sequences that look valid, to get past the
 * decoder's #UD), randomises registers, flags and page permissions, picks
 * a mode (64-bit CPL 0/3, compatibility mode, 32-bit and 16-bit protected
 * mode, real mode) and runs x86_exec with an instruction budget. Allowed
 * outcomes: halted in a handler stub, halted by the code's own HLT, budget
 * used up, triple-fault shutdown, a pending interrupt, or still running
 * after 250 ms and stopped through Vcpu.stop (a fault loop, or a long REP
 * string instruction on MMIO). A host crash, a sanitizer report or an
 * iteration that does not stop fails.
 *
 * Environment: RANDOM_CODE_SEED (default 1), RANDOM_CODE_ITERS (default
 * depends on sanitizers), RANDOM_CODE_ONLY=N runs iteration N alone,
 * RANDOM_CODE_ALL_MODES=0 leaves out the long modes,
 * RANDOM_CODE_TRACE=1 prints every iteration before it runs (to find the
 * one that crashes).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <glib.h>
#include "accel/accel.h"
#include "accel/interp.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "../../target/x86/interp.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
#define DEFAULT_ITERS 15000
#else
#define DEFAULT_ITERS 30000
#endif

#define RAM_SIZE (16u << 20)
#define BUDGET 5000
/*
 * An iteration still running after STOP_TICKS watchdog ticks is stopped
 * through Vcpu.stop, as vcpu_run is: a fault loop retires no instructions,
 * and a REP string instruction on MMIO retires one per 4096 accesses, so
 * the instruction budget alone does not bound the time. One still running
 * HANG_TICKS later is a kemu hang: the test aborts.
 */
#define TICK_MS 250
#define STOP_TICKS 1
#define HANG_TICKS 20

/* ---- guest physical layout (identity mapped) ---- */
#define PML4 0x1000u
#define PDPT 0x2000u
#define PD 0x3000u
#define PT 0x4000u        /* 4 KiB pages for 0..2 MiB */
#define GDT 0x6000u
#define IDT64 0x7000u
#define IDT32 0x8000u
#define TSS64 0x8800u
#define TSS32 0x8c00u
#define STUBS 0x9000u     /* HLT stubs: vector v at STUBS + v */
#define STUB_SYSCALL (STUBS + 0x100)
#define STUB_SYSENTER (STUBS + 0x101)
#define KSTACK 0xa000u    /* RSP0 stack page */
#define ISTACK 0xb000u    /* IST1 stack page */
#define PAE_PDPT 0xc000u
#define CODE 0x10000u
#define CODE_PAGES 8
#define CODE_HOLE (CODE + CODE_PAGES * 0x1000u)   /* not present */
#define DATA 0x20000u
#define DATA_PAGES 16
#define USTACK 0x30000u
#define HOLE 0x40000u     /* 64 KiB not present */
#define HOLE_PAGES 16

/* ---- GDT selectors ---- */
#define SEL_KCODE64 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA 0x20
#define SEL_UCODE64 0x28
#define SEL_KCODE32 0x30
#define SEL_KCODE16 0x38
#define SEL_KDATA16 0x40
#define SEL_TSS64 0x48    /* two slots */
#define SEL_TSS32 0x58
#define SEL_NOTPRESENT 0x60
#define GDT_ENTRIES 14

/* Page table entry bits. */
#define P 1ull
#define W 2ull
#define U 4ull
#define A (1ull << 5)
#define D (1ull << 6)
#define PS (1ull << 7)
#define NX (1ull << 63)

#define CR0_MP (1u << 1)
#define CR0_TS (1u << 3)
#define CR0_AM (1u << 18)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_PGE (1u << 7)

enum Mode {
    M_LONG_K, M_LONG_U, M_COMPAT_K, M_COMPAT_U, M_PM32_K, M_PM32_U, M_PM16_K, M_REAL,
    M_COUNT
};

static const char *const mode_names[M_COUNT] = {
    "64-bit CPL0", "64-bit CPL3", "compat CPL0", "compat CPL3",
    "32-bit PM CPL0", "32-bit PM CPL3", "16-bit PM CPL0", "real mode",
};

/* Outcomes besides the 256 vectors. */
enum {
    OUT_SYSCALL = 256, OUT_SYSENTER, OUT_GUEST_HLT, OUT_BUDGET, OUT_SHUTDOWN,
    OUT_STOPPED, OUT_IRQ, OUT_N
};

static const char *const out_names[OUT_N - 256] = {
    "SYSCALL", "SYSENTER", "guest HLT", "budget used", "triple fault",
    "stopped after 250 ms", "interrupt pending",
};

/* ---- deterministic random numbers (xorshift64*) ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed, uint64_t iter)
{
    /* splitmix64 of (seed, iter): each iteration can be replayed alone. */
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + iter * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    rng_state = (z ^ (z >> 31)) | 1;
}

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* ---- the machine ---- */

typedef struct Rig {
    Machine *m;
    Vcpu *v;
    CPU *cpu;
} Rig;

static Rig rig;

static uint8_t *gpa(uint64_t pa, uint64_t len)
{
    uint8_t *p = machine_gpa_to_hva(rig.m, pa, len);
    g_assert_nonnull(p);
    return p;
}

static void put64(uint64_t pa, uint64_t v)
{
    memcpy(gpa(pa, 8), &v, 8);
}

static void put32(uint64_t pa, uint32_t v)
{
    memcpy(gpa(pa, 4), &v, 4);
}

/* Host writes behind the decoder's back: drop its traces of the page. */
static void touched(uint64_t pa, uint64_t len)
{
    for (uint64_t p = pa & ~0xfffull; p < pa + len; p += 0x1000) {
        code_invalidate_page(rig.m, p);
    }
}

static void rig_init(void)
{
    GError *err = NULL;

    rig.m = g_new0(Machine, 1);
    rig.m->cfg.ram_size = RAM_SIZE;
    rig.m->cfg.smp = 1;
    rig.m->ncpus = 1;
    rig.m->pio = iobus_new("pio");
    rig.m->mmio = iobus_new("mmio");
    rig.m->accel = &interp_accel_ops;
    g_assert_true(machine_ram_init(rig.m, &err));
    g_assert_no_error(err);
    g_assert_true(interp_accel_ops.init(rig.m, &err));
    g_assert_no_error(err);
    for (unsigned i = 0; i < rig.m->nr_ram; i++) {
        g_assert_true(interp_accel_ops.ram_map(rig.m, &rig.m->ram[i], &err));
    }
    rig.v = g_new0(Vcpu, 1);
    rig.v->m = rig.m;
    rig.m->cpus[0] = rig.v;
    g_assert_true(interp_accel_ops.vcpu_init(rig.v, &err));
    g_assert_no_error(err);
    rig.cpu = rig.v->accel;          /* InterpVcpu starts with its CPU */
    set_current_vcpu(rig.v);
}

static void rig_free(void)
{
    set_current_vcpu(NULL);
    interp_accel_ops.cleanup(rig.m);
    devices_free(rig.m);
    machine_ram_free(rig.m);
    iobus_free(rig.m->pio);
    iobus_free(rig.m->mmio);
    g_free(rig.v);
    g_free(rig.m);
}

/* ---- descriptor tables ---- */

typedef struct SegDef {
    uint16_t sel;
    uint32_t base, limit;   /* limit in bytes */
    uint8_t type, s, dpl, l, db;
} SegDef;

static const SegDef segdefs[] = {
    { SEL_KCODE64, 0, 0xffffffffu, 0xb, 1, 0, 1, 0 },
    { SEL_KDATA, 0, 0xffffffffu, 0x3, 1, 0, 0, 1 },
    { SEL_UCODE32, 0, 0xffffffffu, 0xb, 1, 3, 0, 1 },
    { SEL_UDATA, 0, 0xffffffffu, 0x3, 1, 3, 0, 1 },
    { SEL_UCODE64, 0, 0xffffffffu, 0xb, 1, 3, 1, 0 },
    { SEL_KCODE32, 0, 0xffffffffu, 0xb, 1, 0, 0, 1 },
    { SEL_KCODE16, CODE, 0xffff, 0xb, 1, 0, 0, 0 },
    { SEL_KDATA16, 0, 0xffff, 0x3, 1, 0, 0, 0 },
    { SEL_TSS64, TSS64, 0x67, 0xb, 0, 0, 0, 0 },
    { SEL_TSS32, TSS32, 0x67, 0xb, 0, 0, 0, 0 },
};

static uint64_t desc_of(const SegDef *d)
{
    bool g = d->limit > 0xfffff;
    uint32_t lim = g ? d->limit >> 12 : d->limit;

    return (lim & 0xffffull) | ((uint64_t)(d->base & 0xffffff) << 16) |
           ((uint64_t)d->type << 40) | ((uint64_t)d->s << 44) |
           ((uint64_t)d->dpl << 45) | (1ull << 47) |
           ((uint64_t)((lim >> 16) & 0xf) << 48) | ((uint64_t)d->l << 53) |
           ((uint64_t)d->db << 54) | ((uint64_t)g << 55) |
           ((uint64_t)(d->base >> 24) << 56);
}

static X86Segment seg_of(uint16_t sel)
{
    for (size_t k = 0; k < G_N_ELEMENTS(segdefs); k++) {
        const SegDef *d = &segdefs[k];
        if (d->sel == (sel & ~3)) {
            return (X86Segment){
                .base = d->base, .limit = d->limit, .selector = sel,
                .type = d->type, .s = d->s, .dpl = d->dpl, .present = 1,
                .l = d->l, .db = d->db, .g = d->limit > 0xfffff,
            };
        }
    }
    g_assert_not_reached();
}

static X86Segment real_seg(uint16_t sel)
{
    return (X86Segment){
        .base = (uint64_t)sel << 4, .limit = 0xffff, .selector = sel,
        .type = 0x3, .s = 1, .present = 1,
    };
}

/* Gates that fault when used (vectors 0x90..): #NP, #GP, task gates,
   trap gates and a ring-3 handler. */
typedef struct BadGate {
    uint8_t vec, attr;
    uint16_t sel;
} BadGate;

static const BadGate bad_gates[] = {
    { 0x90, 0x6e, SEL_KCODE64 },                /* P = 0 */
    { 0x91, 0xee, SEL_NOTPRESENT },             /* handler segment absent */
    { 0x92, 0xee, SEL_KDATA },                  /* not a code segment */
    { 0x93, 0xee, 0 },                          /* null selector */
    { 0x94, 0xef, SEL_KCODE64 },                /* trap gate, DPL 3: works */
    { 0x95, 0xe5, SEL_TSS32 },                  /* task gate */
    { 0x96, 0xee, SEL_UCODE64 | 3 },            /* ring-3 handler */
    { 0x97, 0xe0, SEL_KCODE64 },                /* reserved type */
};

static void write_tables(void)
{
    uint8_t *stubs = gpa(STUBS, 0x1000);

    /* GDT (accessed bits preset: loads need not write it). */
    memset(gpa(GDT, 0x1000), 0, 0x1000);
    for (size_t k = 0; k < G_N_ELEMENTS(segdefs); k++) {
        put64(GDT + segdefs[k].sel, desc_of(&segdefs[k]));
    }
    /* Upper half of the 64-bit TSS descriptor: base 63..32 = 0. */
    put64(GDT + SEL_TSS64 + 8, 0);
    /* A code descriptor with P = 0, for #NP. */
    put64(GDT + SEL_NOTPRESENT,
          desc_of(&(SegDef){ 0, 0, 0xffffffffu, 0xb, 1, 0, 0, 1 }) & ~(1ull << 47));

    /* IDTs and the IVT: vector v -> STUBS + v. IST1 for NMI, #DF, #MC. */
    memset(gpa(IDT64, 0x1000), 0, 0x1000);
    memset(gpa(IDT32, 0x1000), 0, 0x1000);
    for (unsigned v = 0; v < 256; v++) {
        uint64_t off = STUBS + v;
        unsigned dpl = (v == 3 || v == 4 || v == 0x80) ? 3 : 0;
        unsigned ist = (v == 2 || v == 8 || v == 18) ? 1 : 0;
        uint64_t attr = (1ull << 15) | ((uint64_t)dpl << 13) | (0xeull << 8) | ist;

        put64(IDT64 + v * 16, (off & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) |
                                  (attr << 32) | ((off >> 16) << 48));
        put64(IDT64 + v * 16 + 8, 0);
        put64(IDT32 + v * 8, (off & 0xffff) | ((uint64_t)SEL_KCODE32 << 16) |
                                 ((attr & ~7ull) << 32) | ((off >> 16) << 48));
        put32(v * 4, ((STUBS >> 4) << 16) | v);
    }
    /* A few broken gates, for faults during delivery of INT n. */
    for (unsigned k = 0; k < G_N_ELEMENTS(bad_gates); k++) {
        const BadGate *b = &bad_gates[k];
        uint64_t off = STUBS + b->vec;
        uint64_t lo = (off & 0xffff) | ((uint64_t)b->sel << 16) |
                      ((uint64_t)b->attr << 40) | ((off >> 16) << 48);
        uint16_t sel32 = b->sel == SEL_KCODE64 ? SEL_KCODE32 :
                         b->sel == (SEL_UCODE64 | 3) ? SEL_UCODE32 | 3 : b->sel;

        put64(IDT64 + b->vec * 16, lo);
        put64(IDT32 + b->vec * 8, (lo & ~(0xffffull << 16)) | ((uint64_t)sel32 << 16));
    }

    /* TSSs: RSP0/ESP0 at the top of KSTACK, IST1 at the top of ISTACK. */
    memset(gpa(TSS64, 0x800), 0, 0x800);
    put64(TSS64 + 4, KSTACK + 0x1000);
    put64(TSS64 + 0x24, ISTACK + 0x1000);
    put32(TSS64 + 0x64, 0x68u << 16);       /* I/O map base past the limit */
    put32(TSS32 + 4, KSTACK + 0x1000);
    put32(TSS32 + 8, SEL_KDATA);
    put32(TSS32 + 0x64, 0x68u << 16);

    memset(stubs, 0xf4, 0x1000);            /* HLT everywhere */
    memset(gpa(KSTACK, 0x2000), 0, 0x2000);
    touched(0, 0xd000);
}

/* One PTE for a 4 KiB page of the low 2 MiB. */
static uint64_t low_pte(uint64_t pa, bool nxe, const uint64_t *data_attr,
                        const uint64_t *code_attr)
{
    uint64_t sup_ro = P | A | D, sup_rw = P | W | A | D, user_rw = P | W | U | A | D;
    uint64_t nx = nxe ? NX : 0;

    if (pa == 0 || (pa >= HOLE && pa < HOLE + HOLE_PAGES * 0x1000) || pa == CODE_HOLE) {
        return 0;
    }
    if (pa < STUBS || pa == PAE_PDPT) {
        return pa | sup_ro | nx;                  /* tables */
    }
    if (pa == STUBS) {
        return pa | sup_ro;
    }
    if (pa == KSTACK || pa == ISTACK) {
        return pa | sup_rw | nx;
    }
    if (pa >= CODE && pa < CODE_HOLE) {
        return pa | code_attr[(pa - CODE) >> 12];
    }
    if (pa >= DATA && pa < DATA + DATA_PAGES * 0x1000) {
        return pa | data_attr[(pa - DATA) >> 12];
    }
    if (pa == USTACK) {
        return pa | user_rw | nx;
    }
    return pa | user_rw;
}

static void write_page_tables(bool nxe)
{
    uint64_t data_attr[DATA_PAGES], code_attr[CODE_PAGES];
    uint64_t nx = nxe ? NX : 0;
    static const uint64_t data_kinds[] = {
        P | W | U | A | D, P | U | A | D, P | W | A | D, P | W | U | A | D | NX, 0,
        P | W | U,                               /* A/D clear: walker sets them */
    };

    for (unsigned k = 0; k < DATA_PAGES; k++) {
        data_attr[k] = data_kinds[rn(G_N_ELEMENTS(data_kinds))];
        if (!nxe) {
            data_attr[k] &= ~NX;
        }
    }
    for (unsigned k = 0; k < CODE_PAGES; k++) {
        code_attr[k] = P | W | U | A | D;
    }
    /* One code page is often made NX, read-only, supervisor or absent. */
    switch (rn(6)) {
    case 0: code_attr[rn(CODE_PAGES)] |= nx; break;
    case 1: code_attr[rn(CODE_PAGES)] &= ~W; break;
    case 2: code_attr[rn(CODE_PAGES)] &= ~U; break;
    case 3: code_attr[1 + rn(CODE_PAGES - 1)] = 0; break;
    default: break;
    }

    memset(gpa(PML4, 0x4000), 0, 0x4000);
    put64(PML4, PDPT | P | W | U | A);
    put64(PML4 + 511 * 8, PDPT | P | W | A);     /* kernel-only alias at -512 GiB */
    put64(PDPT, PD | P | W | U | A);
    put64(PD, PT | P | W | U | A);
    for (unsigned k = 1; k < 512; k++) {
        uint64_t e = ((uint64_t)k << 21) | P | W | U | A | D | PS;
        if (k % 7 == 3) {
            e = 0;
        } else if (k % 5 == 1) {
            e |= nx;
        } else if (k % 3 == 2) {
            e &= ~W;
        } else if (k % 11 == 4) {
            e &= ~U;
        }
        put64(PD + k * 8, e);
    }
    for (unsigned k = 0; k < 512; k++) {
        put64(PT + k * 8, low_pte((uint64_t)k << 12, nxe, data_attr, code_attr));
    }
    /* PAE (legacy mode) PDPT: P only, the other bits are reserved there. */
    memset(gpa(PAE_PDPT, 0x1000), 0, 0x1000);
    put64(PAE_PDPT, PD | P);
    touched(PML4, 0x4000);
    touched(PAE_PDPT, 0x1000);
}

/* ---- random code ---- */

static const uint8_t prefixes[] = {
    0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65,
};

/* A ModRM (+ SIB + displacement) that mostly addresses mapped memory. */
static unsigned gen_modrm(uint8_t *p)
{
    unsigned n = 0, mod = rn(4) ? (rn(2) ? 3 : 0) : 1 + rn(2);
    unsigned reg = rn(8), rm = rn(8);

    p[n++] = (uint8_t)(mod << 6 | reg << 3 | rm);
    if (mod != 3 && rm == 4) {
        p[n++] = (uint8_t)rnd();
    }
    if (mod == 1) {
        p[n++] = (uint8_t)rnd();
    } else if (mod == 2 || (mod == 0 && rm == 5)) {
        for (unsigned k = 0; k < 4; k++) {
            p[n++] = (uint8_t)rnd();
        }
    }
    return n;
}

/* One valid-looking instruction at @p (at most 15 bytes + slack). */
static unsigned gen_insn(uint8_t *p, bool long_mode)
{
    unsigned n = 0, npfx = rn(4) ? rn(2) : rn(4);

    for (unsigned k = 0; k < npfx; k++) {
        p[n++] = prefixes[rn(G_N_ELEMENTS(prefixes))];
    }
    if (long_mode && rn(3) == 0) {
        p[n++] = 0x40 | rn(16);
    }
    switch (rn(10)) {
    case 0: case 1: case 2: case 3: case 4:
        p[n++] = (uint8_t)rnd();
        break;
    case 5: case 6: case 7:
        p[n++] = 0x0f;
        p[n++] = (uint8_t)rnd();
        break;
    case 8:
        p[n++] = 0x0f;
        p[n++] = 0x38;
        p[n++] = (uint8_t)rnd();
        break;
    default:
        p[n++] = 0x0f;
        p[n++] = 0x3a;
        p[n++] = (uint8_t)rnd();
        break;
    }
    n += gen_modrm(p + n);
    /* Immediates: the decoder decides how many of these it takes. */
    for (unsigned k = rn(5); k > 0; k--) {
        p[n++] = (uint8_t)rnd();
    }
    return n;
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k += 8) {
        uint64_t r = rnd();
        memcpy(p + k, &r, len - k < 8 ? len - k : 8);
    }
}

static void write_code(bool structured, bool long_mode)
{
    uint8_t *code = gpa(CODE, CODE_PAGES * 0x1000);

    if (!structured) {
        fill_random(code, CODE_PAGES * 0x1000);
    } else {
        size_t off = 0;
        while (off + 32 < CODE_PAGES * 0x1000) {
            off += gen_insn(code + off, long_mode);
        }
        fill_random(code + off, CODE_PAGES * 0x1000 - off);
    }
    touched(CODE, CODE_PAGES * 0x1000);
    fill_random(gpa(DATA, DATA_PAGES * 0x1000), DATA_PAGES * 0x1000);
    fill_random(gpa(USTACK, 0x1000), 0x1000);
    touched(DATA, DATA_PAGES * 0x1000);
    touched(USTACK, 0x1000);
}

/* A register value: random, a pointer into code/data, or small. */
static uint64_t rand_gpr(void)
{
    switch (rn(8)) {
    case 0: case 1: case 2:
        return rnd();
    case 3: case 4: case 5:
        return DATA + rn(DATA_PAGES * 0x1000);
    case 6:
        if (rn(2)) {
            return rn(256);
        }
        /* A selector: segment loads, far branches, LTR/LLDT/ARPL. */
        return (uint64_t)(rn(GDT_ENTRIES + 1) * 8 + rn(4));
    default:
        return CODE + rn(CODE_PAGES * 0x1000);
    }
}

/* ---- one iteration ---- */

typedef struct Iter {
    enum Mode mode;
    bool structured, paging;
    uint64_t rip;           /* linear start address */
} Iter;

static void setup_state(Iter *it, X86CpuState *s)
{
    CPU *cpu = rig.cpu;
    bool user = it->mode == M_LONG_U || it->mode == M_COMPAT_U || it->mode == M_PM32_U;
    bool lm = it->mode <= M_COMPAT_U;
    bool nxe = rn(10) != 0;
    uint16_t cs, ds;

    write_tables();
    write_page_tables(nxe);
    it->structured = rn(2);
    write_code(it->structured, lm);

    x86_cpu_reset(cpu, true);
    x86_cpu_get_state(cpu, s);
    for (unsigned r = 0; r < 16; r++) {
        s->regs[r] = rand_gpr();
    }
    /* Random arithmetic flags and DF; sometimes TF, AC, RF; IOPL 0 or 3;
       IF clear (nothing should interrupt). */
    s->rflags = 2 | (rnd() & (FLAGS_ARITH | FLAG_DF));
    if (rn(20) == 0) {
        s->rflags |= FLAG_TF;
    }
    if (rn(10) == 0) {
        s->rflags |= FLAG_AC;
    }
    if (rn(10) == 0) {
        s->rflags |= FLAG_RF;
    }
    if (rn(4) == 0) {
        s->rflags |= FLAG_IOPL;
    }
    it->rip = CODE + (rn(4) == 0 ? CODE_PAGES * 0x1000 - 1 - rn(16)
                                 : rn(CODE_PAGES * 0x1000));
    if (rn(8) == 0) {
        it->rip = (it->rip & ~0xfffull) + 0xff1 + rn(15);   /* straddle */
    }

    s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_MP | CR0_WP | (rn(10) ? 0 : CR0_TS) |
             (rn(4) ? 0 : CR0_AM);
    s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT | (rn(2) ? CR4_PGE : 0);
    s->cr3 = PML4;
    s->efer = 0;
    s->gdt = (X86Table){ GDT, GDT_ENTRIES * 8 - 1 };
    s->idt = (X86Table){ lm ? IDT64 : IDT32, lm ? 256 * 16 - 1 : 256 * 8 - 1 };
    s->seg[SEG_LDTR] = (X86Segment){ .unusable = 1 };
    it->paging = true;

    switch (it->mode) {
    case M_LONG_K: case M_LONG_U: case M_COMPAT_K: case M_COMPAT_U:
        s->cr0 |= CR0_PG;
        s->cr4 |= CR4_PAE;
        s->efer = EFER_LME | EFER_LMA | (nxe ? EFER_NXE : 0) | (rn(2) ? EFER_SCE : 0);
        s->seg[SEG_TR] = seg_of(SEL_TSS64);
        cs = it->mode == M_LONG_K ? SEL_KCODE64 : it->mode == M_LONG_U ? SEL_UCODE64 | 3
           : it->mode == M_COMPAT_K ? SEL_KCODE32 : SEL_UCODE32 | 3;
        ds = user ? SEL_UDATA | 3 : SEL_KDATA;
        break;
    case M_PM32_K: case M_PM32_U: case M_PM16_K:
        it->paging = rn(2);
        if (it->paging) {
            s->cr0 |= CR0_PG;
            s->cr4 |= CR4_PAE;
            s->cr3 = PAE_PDPT;
            s->efer = nxe ? EFER_NXE : 0;
        }
        s->seg[SEG_TR] = seg_of(SEL_TSS32);
        cs = it->mode == M_PM32_K ? SEL_KCODE32 : it->mode == M_PM32_U ? SEL_UCODE32 | 3
           : SEL_KCODE16;
        ds = user ? SEL_UDATA | 3 : it->mode == M_PM16_K ? SEL_KDATA16 : SEL_KDATA;
        break;
    default:
        it->paging = false;
        s->cr0 &= ~(uint64_t)(CR0_PE | CR0_WP);
        s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
        s->idt = (X86Table){ 0, 0x3ff };
        for (int k = 0; k < SEG_TR; k++) {
            if (k != SEG_LDTR) {
                s->seg[k] = real_seg(k == SEG_CS ? CODE >> 4 : k == SEG_SS ? 0
                                     : k == SEG_DS ? DATA >> 4 : (uint16_t)rnd());
            }
        }
        s->seg[SEG_CS].type = 0xb;
        s->regs[R_ESP] = KSTACK + 0x400 + rn(0xc00);
        s->rip = it->rip - CODE;
        return;
    }
    s->seg[SEG_CS] = seg_of(cs);
    s->rip = it->rip - s->seg[SEG_CS].base;
    for (int k = 0; k < SEG_NR; k++) {
        if (k == SEG_ES || k == SEG_SS || k == SEG_DS || k == SEG_FS || k == SEG_GS) {
            s->seg[k] = seg_of(ds);
        }
    }
    if (lm && rn(2)) {
        s->seg[SEG_FS].base = DATA + rn(0x1000);
        s->seg[SEG_GS].base = rnd();
    }
    s->regs[R_ESP] = user ? USTACK + 0x400 + rn(0xc00) : KSTACK + 0x400 + rn(0xc00);
    if (it->mode == M_PM16_K) {
        s->regs[R_ESP] &= 0xffff;
    }
}

/* Which outcome did the run end in? */
static int classify(const CPU *cpu, uint64_t retired)
{
    uint64_t la = cpu->s.seg[SEG_CS].base + cpu->s.rip;

    if (cpu->shutdown) {
        return OUT_SHUTDOWN;
    }
    if (cpu->halted) {
        /* HLT has completed: rip is one past the stub. (CPL 0 code that
           jumps into the stub page counts as that vector: rare.) */
        if (la >= STUBS + 1 && la <= STUBS + 0x100 && cpu->cpl == 0) {
            return (int)(la - STUBS - 1);
        }
        if (la == STUB_SYSCALL + 1) {
            return OUT_SYSCALL;
        }
        if (la == STUB_SYSENTER + 1) {
            return OUT_SYSENTER;
        }
        return OUT_GUEST_HLT;
    }
    if (atomic_load(&rig.v->stop)) {
        return OUT_STOPPED;
    }
    if (retired >= BUDGET) {
        return OUT_BUDGET;
    }
    g_assert_cmpuint(atomic_load(&rig.v->irq_request), !=, 0);
    return OUT_IRQ;
}

/* ---- the hang guard ---- */

static volatile sig_atomic_t alarm_ticks;
static volatile sig_atomic_t cur_iter;

static void on_alarm(int sig)
{
    static const char msg[] = "test-random-code: kemu hangs in iteration ";
    char num[24];
    unsigned n = sizeof(num);
    unsigned long it = (unsigned long)cur_iter;

    (void)sig;
    if (++alarm_ticks == STOP_TICKS) {
        /* A guest livelock: make x86_exec return. */
        atomic_store(&rig.v->stop, true);
    } else if (alarm_ticks >= STOP_TICKS + HANG_TICKS) {
        /* Only async-signal-safe calls here: format the number by hand. */
        num[--n] = '\n';
        do {
            num[--n] = (char)('0' + it % 10);
            it /= 10;
        } while (it);
        if (write(2, msg, sizeof(msg) - 1) < 0 ||
            write(2, num + n, sizeof(num) - n) < 0) {
            abort();
        }
        abort();
    }
}

static void guard_arm(bool on)
{
    struct itimerval t = { 0 };

    if (on) {
        alarm_ticks = 0;
        t.it_value.tv_usec = TICK_MS * 1000;
        t.it_interval.tv_usec = TICK_MS * 1000;
    }
    g_assert_cmpint(setitimer(ITIMER_REAL, &t, NULL), ==, 0);
}

/* ---- the test ---- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = g_getenv(name);
    return s && *s ? g_ascii_strtoull(s, NULL, 0) : dflt;
}

static void test_random_code(void)
{
    uint64_t seed = env_u64("RANDOM_CODE_SEED", 1);
    uint64_t iters = env_u64("RANDOM_CODE_ITERS", DEFAULT_ITERS);
    uint64_t only = env_u64("RANDOM_CODE_ONLY", ~0ull);
    bool trace = env_u64("RANDOM_CODE_TRACE", 0) != 0;
    bool long_modes = env_u64("RANDOM_CODE_ALL_MODES", 1) != 0;
    uint64_t first = only != ~0ull ? only : 0, last = only != ~0ull ? only + 1 : iters;
    uint64_t counts[OUT_N] = { 0 }, by_mode[M_COUNT] = { 0 }, retired_total = 0;
    uint64_t user_entries = 0;
    unsigned distinct = 0;
    struct sigaction sa = { .sa_handler = on_alarm };
    gint64 t0 = g_get_monotonic_time();
    CPU *cpu = rig.cpu;

    g_assert_cmpint(sigaction(SIGALRM, &sa, NULL), ==, 0);
    for (uint64_t n = first; n < last; n++) {
        X86CpuState s;
        Iter it = { 0 };
        uint64_t retired;
        int out;

        rng_seed(seed, n);
        it.mode = long_modes ? (enum Mode)rn(M_COUNT)
                             : (enum Mode)(M_PM32_K + rn(M_COUNT - M_PM32_K));
        setup_state(&it, &s);
        if (trace) {
            g_printerr("iter %" G_GUINT64_FORMAT ": %s%s%s rip %#" G_GINT64_MODIFIER "x\n",
                       n, mode_names[it.mode], it.structured ? ", structured" : "",
                       it.paging ? ", paging" : "", it.rip);
        }
        x86_cpu_set_state(cpu, &s);
        /* SYSCALL/SYSENTER land on their own stubs, Linux-style STAR. */
        cpu->star = ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE64 << 32);
        cpu->lstar = cpu->cstar = STUB_SYSCALL;
        cpu->sfmask = FLAG_TF | FLAG_IF | FLAG_DF | FLAG_AC;
        cpu->sysenter_cs = rn(2) ? SEL_KCODE32 : 0;
        cpu->sysenter_eip = STUB_SYSENTER;
        cpu->sysenter_esp = KSTACK + 0x1000;
        atomic_store(&rig.v->irq_request, 0);
        atomic_store(&rig.v->stop, false);

        cur_iter = (sig_atomic_t)n;
        guard_arm(true);
        retired = x86_exec(cpu, BUDGET);
        guard_arm(false);

        out = classify(cpu, retired);
        counts[out]++;
        by_mode[it.mode]++;
        retired_total += retired;
        /* From CPL 3 the only ways to CPL 0 are gates (on the TSS stacks)
           and SYSCALL/SYSENTER (on their stubs). */
        if ((it.mode == M_LONG_U || it.mode == M_COMPAT_U ||
             (it.mode == M_PM32_U && it.paging)) && out < 256 && !cpu->shutdown) {
            uint64_t sp = cpu->s.regs[R_ESP];
            if (sp >= USTACK && sp < USTACK + 0x1000) {
                /* Still on the user stack: the code itself reached a stub
                   while at CPL 0, which it cannot have from CPL 3. */
                g_test_message("iteration %" G_GUINT64_FORMAT ": vector %d on the user "
                               "stack", n, out);
                g_test_fail();
            }
            user_entries++;
        }
        if (trace) {
            g_printerr("  -> %d after %" G_GUINT64_FORMAT " insns\n", out, retired);
        }
    }
    atomic_store(&rig.v->stop, false);

    if (!long_modes) {
        g_test_message("long modes skipped (known UBSan issue, see the top of the file)");
    }
    g_test_message("seed %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " iterations, "
                   "%" G_GUINT64_FORMAT " instructions retired, %.2f s",
                   seed, last - first, retired_total,
                   (g_get_monotonic_time() - t0) / 1e6);
    for (int m = 0; m < M_COUNT; m++) {
        g_test_message("  mode %-16s %" G_GUINT64_FORMAT, mode_names[m], by_mode[m]);
    }
    for (int o = 0; o < OUT_N; o++) {
        if (!counts[o]) {
            continue;
        }
        if (o < 256) {
            distinct++;
            g_test_message("  vector %3d: %" G_GUINT64_FORMAT, o, counts[o]);
        } else {
            g_test_message("  %s: %" G_GUINT64_FORMAT, out_names[o - 256], counts[o]);
        }
    }
    g_test_message("  CPL3 -> CPL0 deliveries checked: %" G_GUINT64_FORMAT, user_entries);

    if (only != ~0ull || last - first < 500) {
        return;     /* too few iterations for the distribution checks */
    }
    /* The harness really ran code: faults of many kinds were delivered,
       most iterations ended in a handler, instructions retired. */
    g_assert_cmpuint(distinct, >=, 8);
    g_assert_cmpuint(counts[EXC_UD], >, 0);
    g_assert_cmpuint(counts[EXC_GP], >, 0);
    g_assert_cmpuint(counts[EXC_PF], >, 0);
    g_assert_cmpuint(counts[EXC_DE], >, 0);
    g_assert_cmpuint(counts[EXC_BP], >, 0);
    g_assert_cmpuint(counts[OUT_BUDGET], >, 0);
    g_assert_cmpuint(user_entries, >, 0);
    g_assert_cmpuint(retired_total, >, (last - first) * 2);
    uint64_t in_handler = 0;
    for (int o = 0; o < 256; o++) {
        in_handler += counts[o];
    }
    g_assert_cmpuint(in_handler, >, (last - first) / 2);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    rig_init();
    g_test_add_func("/random-code/no-crash-no-hang", test_random_code);
    rc = g_test_run();
    rig_free();
    return rc;
}
