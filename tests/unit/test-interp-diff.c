/*
 * Differential tests of the interpreter core against the host CPU: each
 * case is one instruction, run natively (through a register-loading
 * trampoline in an executable buffer) and in the interpreter (flat stub
 * memory at the same addresses, see interp-stubs.c); all GPRs but RSP, the
 * arithmetic flags and DF, and a 4 KiB data buffer must agree. Flags the
 * SDM leaves undefined are compared too when the host is an Intel CPU:
 * the interpreter follows Intel hardware there (AMD differs). Deterministic seed; a mismatch prints
 * the instruction bytes and both states.
 *
 * Also: #DE cases (run only in the interpreter), self-modifying code,
 * LOCK rules, an instruction straddling pages, REP restart after a fault,
 * and a MIPS figure for a simple ALU loop.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <glib.h>
#include "interp-stubs.h"
#include "target/x86/core/core.h"

#define MEM_SIZE (1u << 20)
#define CODE_OFF 0x1000u       /* guest copy of the instruction */
#define DATA_OFF 0x10000u      /* the compared buffer */
#define DATA_SIZE 0x1000u
#define STACK_TOP 0x80000u

typedef struct HostState {
    uint64_t regs[16];
    uint64_t rflags;
    uint64_t code;
} HostState;

void run_native(HostState *st);

/* rdi = state: load GPRs but RSP and flags, call the code, store them. */
__asm__(
    ".text\n"
    ".globl run_native\n"
    ".type run_native, @function\n"
    "run_native:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  push %rdi\n"
    "  push 136(%rdi)\n"
    "  push 128(%rdi)\n"
    "  popfq\n"
    "  mov 0(%rdi), %rax\n  mov 8(%rdi), %rcx\n  mov 16(%rdi), %rdx\n"
    "  mov 24(%rdi), %rbx\n  mov 40(%rdi), %rbp\n  mov 48(%rdi), %rsi\n"
    "  mov 64(%rdi), %r8\n  mov 72(%rdi), %r9\n  mov 80(%rdi), %r10\n"
    "  mov 88(%rdi), %r11\n  mov 96(%rdi), %r12\n  mov 104(%rdi), %r13\n"
    "  mov 112(%rdi), %r14\n  mov 120(%rdi), %r15\n  mov 56(%rdi), %rdi\n"
    "  call *(%rsp)\n"
    "  xchg %rdi, 8(%rsp)\n"
    "  mov %rax, 0(%rdi)\n  mov %rcx, 8(%rdi)\n  mov %rdx, 16(%rdi)\n"
    "  mov %rbx, 24(%rdi)\n  mov %rbp, 40(%rdi)\n  mov %rsi, 48(%rdi)\n"
    "  mov %r8, 64(%rdi)\n  mov %r9, 72(%rdi)\n  mov %r10, 80(%rdi)\n"
    "  mov %r11, 88(%rdi)\n  mov %r12, 96(%rdi)\n  mov %r13, 104(%rdi)\n"
    "  mov %r14, 112(%rdi)\n  mov %r15, 120(%rdi)\n"
    "  pushfq\n  pop %rax\n  mov %rax, 128(%rdi)\n"
    "  mov 8(%rsp), %rax\n  mov %rax, 56(%rdi)\n"
    "  cld\n"
    "  add $16, %rsp\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n"
    ".size run_native, .-run_native\n");

static uint8_t *exec_buf;
static bool intel_host;
static CPU *cpu;
static uint64_t rng_state;
static unsigned cases_run, de_cases;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic across runs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_value(void)
{
    static const uint64_t edge[] = {
        0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
        0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
        0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, ~1ull, 0x0f, 0x10,
    };
    switch (rnd() % 4) {
    case 0: return edge[rnd() % G_N_ELEMENTS(edge)];
    case 1: return rnd() & 0xff;
    default: return rnd();
    }
}

static uint8_t *data_buf(void) { return stub_mem + DATA_OFF; }

/* ------------------------------------------------------------ encoding */

typedef struct Enc {
    uint8_t b[32];
    unsigned n;
    uint64_t undef;         /* flags the SDM leaves undefined (compared on
                               Intel hosts only) */
    bool is_div;            /* DIV/IDIV: #DE cases run in the guest only */
    bool equal_runs;        /* fill the string areas with equal bytes */
} Enc;

static void emit(Enc *e, uint8_t x) { e->b[e->n++] = x; }

static void emit_le(Enc *e, uint64_t v, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        emit(e, (uint8_t)(v >> (8 * k)));
    }
}

/* A general register other than RSP (and RBX when it is the pointer). */
static unsigned rnd_reg(bool avoid_rbx)
{
    for (;;) {
        unsigned r = rnd() % 16;
        if (r != R_ESP && !(avoid_rbx && r == R_EBX)) {
            return r;
        }
    }
}

static const unsigned sizes[4] = { 1, 2, 4, 8 };

/* Legacy/REX prefixes for an instruction with ModRM reg @reg and rm @rm
   (memory operands always use [rbx + disp8], rm = 3). */
static void prefixes(Enc *e, unsigned size, unsigned reg, unsigned rm, bool rex_always)
{
    uint8_t rex = 0x40 | (size == 8 ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0);

    if (size == 2) {
        emit(e, 0x66);
    }
    if (rex != 0x40 || rex_always) {
        emit(e, rex);
    }
}

static void modrm(Enc *e, bool mem, unsigned reg, unsigned rm)
{
    if (mem) {
        emit(e, 0x40 | ((reg & 7) << 3) | R_EBX);   /* [rbx + disp8] */
        emit(e, (uint8_t)rnd());
    } else {
        emit(e, 0xc0 | ((reg & 7) << 3) | (rm & 7));
    }
}

/* Opcode for size: byte form @op8, others @op8 + 1. */
static uint8_t opw(uint8_t op8, unsigned size) { return size == 1 ? op8 : op8 + 1; }

/* ------------------------------------------------------------ running */

static void setup_state(HostState *st, bool rbx_ptr)
{
    for (unsigned r = 0; r < 16; r++) {
        st->regs[r] = rnd_value();
    }
    st->regs[R_ESP] = 0;
    if (rbx_ptr) {
        st->regs[R_EBX] = (uintptr_t)(data_buf() + DATA_SIZE / 2);
    }
    st->rflags = 0x202 | (rnd() & (FLAGS_ARITH));
}

static void dump(const char *who, const HostState *st)
{
    fprintf(stderr, "%s: flags %#" G_GINT64_MODIFIER "x\n", who, st->rflags);
    for (unsigned r = 0; r < 16; r++) {
        fprintf(stderr, "  r%-2u %016" G_GINT64_MODIFIER "x%s", r, st->regs[r], r % 4 == 3 ? "\n" : "");
    }
}

static void fail_case(const Enc *e, const HostState *in, const HostState *host,
                      const HostState *guest, const char *what)
{
    fprintf(stderr, "MISMATCH (%s) for bytes:", what);
    for (unsigned k = 0; k < e->n; k++) {
        fprintf(stderr, " %02x", e->b[k]);
    }
    fprintf(stderr, "\n");
    dump("input", in);
    dump("host", host);
    dump("interp", guest);
    g_assert_not_reached();
}

/* Run @e in the interpreter from state @in; returns the vector or -1. */
static int run_guest(const Enc *e, const HostState *in, HostState *out)
{
    uint8_t *code = stub_mem + CODE_OFF;

    memcpy(code, e->b, e->n);
    code[e->n] = 0xf4;              /* HLT ends the run */
    code_invalidate_page(NULL, CODE_OFF);
    memcpy(cpu->s.regs, in->regs, sizeof(in->regs));
    cpu->s.regs[R_ESP] = (uintptr_t)stub_mem + STACK_TOP;
    x86_set_rflags(cpu, in->rflags, ~0ull);
    cpu->s.rip = (uintptr_t)code;
    cpu->halted = 0;
    stub_last_vector = -1;
    x86_exec(cpu, 1000);
    memcpy(out->regs, cpu->s.regs, sizeof(out->regs));
    out->regs[R_ESP] = 0;
    out->rflags = x86_get_rflags(cpu);
    if (stub_last_vector < 0) {
        g_assert_cmphex(cpu->s.rip, ==, (uintptr_t)code + e->n + 1);
    }
    return stub_last_vector;
}

static void run_host(const Enc *e, const HostState *in, HostState *out)
{
    memcpy(exec_buf, e->b, e->n);
    exec_buf[e->n] = 0xc3;
    *out = *in;
    out->code = (uintptr_t)exec_buf;
    run_native(out);
    out->regs[R_ESP] = 0;
}

/* One differential case: same state and memory, compare everything. */
static void diff_case(const Enc *e, const HostState *in, const uint8_t *mem0)
{
    static uint8_t mem_host[DATA_SIZE];
    HostState host, guest;
    uint64_t mask = (FLAGS_ARITH | FLAG_DF) & ~(intel_host ? 0 : e->undef);
    int vec;

    memcpy(data_buf(), mem0, DATA_SIZE);
    run_host(e, in, &host);
    memcpy(mem_host, data_buf(), DATA_SIZE);
    memcpy(data_buf(), mem0, DATA_SIZE);
    vec = run_guest(e, in, &guest);
    if (vec >= 0) {
        fprintf(stderr, "vector %d\n", vec);
        fail_case(e, in, &host, &guest, "interpreter raised an exception");
    }
    if (memcmp(host.regs, guest.regs, sizeof(host.regs))) {
        fail_case(e, in, &host, &guest, "registers");
    }
    if ((host.rflags ^ guest.rflags) & mask) {
        fail_case(e, in, &host, &guest, "flags");
    }
    if (memcmp(mem_host, data_buf(), DATA_SIZE)) {
        fail_case(e, in, &host, &guest, "memory");
    }
    cases_run++;
}

/* ---------------------------------------------------------- generators */

static void gen_alu(Enc *e, HostState *st)
{
    unsigned size = sizes[rnd() % 4], reg = rnd_reg(true), rm = rnd_reg(true);
    bool mem = rnd() % 3 == 0;
    unsigned op = rnd() % 8, form = rnd() % 7;

    setup_state(st, true);
    switch (form) {
    case 0: case 1: /* E,G / G,E */
        prefixes(e, size, reg, mem ? 0 : rm, rnd() & 1);
        emit(e, (uint8_t)(op * 8 + (form ? 2 : 0) + (size == 1 ? 0 : 1)));
        modrm(e, mem, reg, rm);
        break;
    case 2: case 3: { /* 80/81/83 */
        bool imm8 = size == 1 || form == 3;
        prefixes(e, size, 0, mem ? 0 : rm, rnd() & 1);
        emit(e, size == 1 ? 0x80 : imm8 ? 0x83 : 0x81);
        modrm(e, mem, op, rm);
        emit_le(e, rnd_value(), imm8 ? 1 : size == 2 ? 2 : 4);
        break;
    }
    case 4: /* AL/eAX, imm */
        prefixes(e, size, 0, 0, false);
        emit(e, (uint8_t)(op * 8 + (size == 1 ? 4 : 5)));
        emit_le(e, rnd_value(), size == 1 ? 1 : size == 2 ? 2 : 4);
        break;
    case 5: /* TEST */
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, opw(0x84, size));
        modrm(e, mem, reg, rm);
        break;
    default: { /* INC DEC NOT NEG, TEST imm */
        static const uint8_t sub[] = { 0, 1 };
        unsigned which = rnd() % 5;
        prefixes(e, size, 0, mem ? 0 : rm, rnd() & 1);
        if (which < 2) {
            emit(e, size == 1 ? 0xfe : 0xff);
            modrm(e, mem, sub[which], rm);
        } else if (which < 4) {
            emit(e, opw(0xf6, size));
            modrm(e, mem, which, rm);
        } else {
            emit(e, opw(0xf6, size));
            modrm(e, mem, 0, rm);
            emit_le(e, rnd_value(), size == 1 ? 1 : size == 2 ? 2 : 4);
        }
        break;
    }
    }
}

static void gen_shift(Enc *e, HostState *st)
{
    unsigned size = sizes[rnd() % 4], rm = rnd_reg(true), op = rnd() % 8;
    bool mem = rnd() % 3 == 0;
    unsigned kind = rnd() % 4, count = rnd() % 66;

    setup_state(st, true);
    e->undef = FLAG_OF | FLAG_AF;
    if (rm == R_ECX) {
        rm = R_EDX;
    }
    if (kind == 3) {
        /* SHLD/SHRD: 16-bit counts above 16 are undefined; skip those. */
        unsigned reg = rnd_reg(true);
        if (size == 1) {
            size = 4;
        }
        if (size == 2) {
            count %= 17;
        }
        uint8_t op2 = (uint8_t)((rnd() & 1 ? 0xa4 : 0xac) + (rnd() & 1));
        st->regs[R_ECX] = (st->regs[R_ECX] & ~0xffull) | count;
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, op2);
        modrm(e, mem, reg, rm);
        if (!(op2 & 1)) {
            emit(e, (uint8_t)count);
        }
        return;
    }
    prefixes(e, size, 0, mem ? 0 : rm, rnd() & 1);
    switch (kind) {
    case 0: emit(e, opw(0xc0, size)); break;
    case 1: emit(e, opw(0xd0, size)); break;
    default: emit(e, opw(0xd2, size)); break;
    }
    modrm(e, mem, op, rm);
    if (kind == 0) {
        emit(e, (uint8_t)count);
    } else if (kind == 2) {
        st->regs[R_ECX] = (st->regs[R_ECX] & ~0xffull) | count;
    }
}

/* Would DIV/IDIV of this state fault? (then only the interpreter runs) */
static bool div_faults(unsigned size, bool sign, uint64_t divisor, const HostState *st)
{
    uint64_t m = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
    uint64_t d = divisor & m;

    if (!d) {
        return true;
    }
    if (size == 1) {
        uint64_t n = st->regs[R_EAX] & 0xffff;
        if (!sign) {
            return n / d > 0xff;
        }
        int64_t q = (int64_t)(int16_t)n / (int64_t)(int8_t)d;
        return q < -128 || q > 127;
    }
    {
        unsigned __int128 n = ((unsigned __int128)(st->regs[R_EDX] & m) << (size * 8)) |
                              (st->regs[R_EAX] & m);
        if (!sign) {
            return (n / d) > m;
        }
        __int128 sn, sd = sext(d, size), q;
        if (size == 8) {
            sn = (__int128)n;
        } else {
            unsigned sh = 128 - size * 16;
            sn = (__int128)(n << sh) >> sh;
        }
        if (size == 8 && (unsigned __int128)sn == (unsigned __int128)1 << 127 && sd == -1) {
            return true;
        }
        q = sn / sd;
        return q != (__int128)sext((uint64_t)q, size);
    }
}

static void gen_muldiv(Enc *e, HostState *st)
{
    unsigned size = sizes[rnd() % 4], rm = rnd_reg(true), reg = rnd_reg(true);
    bool mem = rnd() % 3 == 0;
    unsigned kind = rnd() % 6;

    setup_state(st, true);
    if (kind >= 4 && size == 1) {
        size = 4;
    }
    e->undef = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
    /* The undefined flags too: see muldiv.c for Intel's values. */
    if (kind < 4) {
        unsigned sub = 4 + kind;
        if (rm == R_EAX || rm == R_EDX) {
            rm = R_ESI;
        }
        prefixes(e, size, 0, mem ? 0 : rm, rnd() & 1);
        emit(e, opw(0xf6, size));
        modrm(e, mem, sub, rm);
        if (sub >= 6) {
            e->is_div = true;
            e->undef = FLAGS_ARITH;
            if (rnd() % 2 == 0) {
                /* Make more divisions succeed: a small dividend. */
                st->regs[R_EDX] = sub == 7 && (int64_t)st->regs[R_EAX] < 0 ? ~0ull : 0;
                if (size == 1) {
                    st->regs[R_EAX] &= 0xff;
                }
            }
        }
    } else if (kind == 4) {
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, 0xaf);
        modrm(e, mem, reg, rm);
    } else {
        bool imm8 = rnd() & 1;
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, imm8 ? 0x6b : 0x69);
        modrm(e, mem, reg, rm);
        emit_le(e, rnd_value(), imm8 ? 1 : size == 2 ? 2 : 4);
    }
}

static void gen_bits(Enc *e, HostState *st)
{
    unsigned size = sizes[1 + rnd() % 3], rm = rnd_reg(true), reg = rnd_reg(true);
    bool mem = rnd() % 2 == 0;
    unsigned kind = rnd() % 5;

    setup_state(st, true);
    e->undef = kind < 2 ? FLAG_OF | FLAG_SF | FLAG_AF | FLAG_PF
                        : kind == 2 ? FLAGS_ARITH & ~(uint64_t)FLAG_ZF : 0;
    switch (kind) {
    case 0: /* BT/BTS/BTR/BTC r/m, reg: keep memory offsets inside the buffer */
        if (mem) {
            st->regs[reg] = (uint64_t)((int64_t)(rnd() % 8192) - 4096);
        }
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0xa3 + 8 * (rnd() % 4)));
        modrm(e, mem, reg, rm);
        break;
    case 1: /* BT group 0F BA /4..7 imm8 */
        prefixes(e, size, 0, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, 0xba);
        modrm(e, mem, 4 + rnd() % 4, rm);
        emit(e, (uint8_t)rnd());
        break;
    case 2: /* BSF/BSR: the undefined flags as on Intel (bitops.c) */
        if (rnd() % 4 == 0 && !mem) {
            st->regs[rm] = 0;
        }
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0xbc + (rnd() & 1)));
        modrm(e, mem, reg, rm);
        break;
    case 3: /* POPCNT */
        if (size == 2) {
            emit(e, 0x66);
        }
        emit(e, 0xf3);
        prefixes(e, size == 2 ? 4 : size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, 0xb8);
        modrm(e, mem, reg, rm);
        break;
    default: /* BSWAP r32/r64 */
        prefixes(e, size == 8 ? 8 : 4, 0, rm, false);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0xc8 + (rm & 7)));
        break;
    }
}

static void gen_move(Enc *e, HostState *st)
{
    unsigned size = sizes[1 + rnd() % 3], rm = rnd_reg(true), reg = rnd_reg(true);
    bool mem = rnd() % 3 == 0;
    unsigned kind = rnd() % 12;

    setup_state(st, true);
    switch (kind) {
    case 0: /* MOVZX/MOVSX */
        prefixes(e, size, reg, mem ? 0 : rm, rnd() & 1);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0xb6 + (rnd() & 1) + 8 * (rnd() & 1)));
        modrm(e, mem, reg, rm);
        break;
    case 1: /* MOVSXD */
        prefixes(e, 8, reg, mem ? 0 : rm, false);
        emit(e, 0x63);
        modrm(e, mem, reg, rm);
        break;
    case 2: /* CMOVcc */
        prefixes(e, size, reg, mem ? 0 : rm, false);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0x40 + rnd() % 16));
        modrm(e, mem, reg, rm);
        break;
    case 3: /* SETcc */
        prefixes(e, 1, 0, mem ? 0 : rm, rnd() & 1);
        emit(e, 0x0f);
        emit(e, (uint8_t)(0x90 + rnd() % 16));
        modrm(e, mem, 0, rm);
        break;
    case 4: /* CBW family, CWD family */
        prefixes(e, size, 0, 0, false);
        emit(e, (uint8_t)(0x98 + (rnd() & 1)));
        break;
    case 5: /* XCHG */
        size = sizes[rnd() % 4];
        prefixes(e, size, reg, mem ? 0 : rm, rnd() & 1);
        emit(e, opw(0x86, size));
        modrm(e, mem, reg, rm);
        break;
    case 6: case 7: { /* XADD / CMPXCHG, sometimes LOCKed */
        size = sizes[rnd() % 4];
        if (mem && rnd() & 1) {
            emit(e, 0xf0);
        }
        if (kind == 7 && rnd() & 1) {
            /* Make the comparison succeed sometimes. */
            st->regs[R_EAX] = mem ? 0 : st->regs[rm];
        }
        prefixes(e, size, reg, mem ? 0 : rm, rnd() & 1);
        emit(e, 0x0f);
        emit(e, kind == 6 ? opw(0xc0, size) : opw(0xb0, size));
        modrm(e, mem, reg, rm);
        break;
    }
    case 8: /* LAHF / SAHF / CMC / CLC / STC */
        emit(e, (uint8_t[]){ 0x9f, 0x9e, 0xf5, 0xf8, 0xf9 }[rnd() % 5]);
        break;
    case 9: { /* LEA with SIB, disp32, optional 67 */
        unsigned base = rnd_reg(false), index = rnd_reg(false);
        uint8_t rex = 0x40 | (size == 8 ? 8 : 0) | (reg >= 8 ? 4 : 0) |
                      (index >= 8 ? 2 : 0) | (base >= 8 ? 1 : 0);
        if (rnd() & 1) {
            emit(e, 0x67);
        }
        if (size == 2) {
            emit(e, 0x66);
        }
        if (rex != 0x40) {
            emit(e, rex);
        }
        emit(e, 0x8d);
        emit(e, 0x84 | ((reg & 7) << 3));
        emit(e, (uint8_t)(((rnd() % 4) << 6) | ((index & 7) << 3) | (base & 7)));
        emit_le(e, rnd(), 4);
        break;
    }
    case 10: /* MOV r/m forms and MOV r, imm64 */
        size = sizes[rnd() % 4];
        prefixes(e, size, reg, mem ? 0 : rm, rnd() & 1);
        emit(e, opw(rnd() & 1 ? 0x88 : 0x8a, size));
        modrm(e, mem, reg, rm);
        break;
    default:
        prefixes(e, 8, 0, rm, false);
        emit(e, (uint8_t)(0xb8 + (rm & 7)));
        emit_le(e, rnd_value(), 8);
        break;
    }
}

static void gen_string(Enc *e, HostState *st)
{
    static const uint8_t ops[] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
    unsigned size = sizes[rnd() % 4];
    uint8_t op = ops[rnd() % 5];
    bool df = rnd() & 1;
    uint8_t *buf = data_buf();

    setup_state(st, false);
    st->rflags = (st->rflags & ~(uint64_t)FLAG_DF) | (df ? FLAG_DF : 0);
    st->regs[R_ECX] = rnd() % 48;
    st->regs[R_ESI] = (uintptr_t)buf + 1024 + rnd() % 512;
    st->regs[R_EDI] = rnd() % 4 ? (uintptr_t)buf + 2048 + rnd() % 512
                                : st->regs[R_ESI] + rnd() % 16 - 8;   /* overlap */
    switch (rnd() % 3) {
    case 0: emit(e, 0xf3); break;
    case 1: emit(e, 0xf2); break;
    default: st->regs[R_ECX] = rnd_value(); break;
    }
    if ((op == 0xa6 || op == 0xae) && rnd() % 2) {
        /* Equal runs so REPE goes on for a while. */
        e->equal_runs = true;
        st->regs[R_EAX] = 0x5a5a5a5a5a5a5a5aull;
    }
    prefixes(e, size, 0, 0, false);
    emit(e, opw(op, size));
}

/*
 * Balanced stack sequences (RSP itself is not compared: it differs, but
 * both return to their start): PUSH/POP of registers, immediates, memory
 * and flags, ENTER/LEAVE, and a CALL over a POP-free body.
 */
static void gen_stack(Enc *e, HostState *st)
{
    unsigned r1 = rnd_reg(true), r2 = rnd_reg(true);
    bool w16 = rnd() % 4 == 0;

    setup_state(st, true);
    switch (rnd() % 6) {
    case 0: /* push r1; pop r2 */
        if (w16) {
            emit(e, 0x66);
        }
        if (r1 >= 8) {
            emit(e, 0x41);
        }
        emit(e, (uint8_t)(0x50 + (r1 & 7)));
        if (w16) {
            emit(e, 0x66);
        }
        if (r2 >= 8) {
            emit(e, 0x41);
        }
        emit(e, (uint8_t)(0x58 + (r2 & 7)));
        break;
    case 1: /* push imm8/imm32; pop r2 */
        if (rnd() & 1) {
            emit(e, 0x6a);
            emit(e, (uint8_t)rnd());
        } else {
            emit(e, 0x68);
            emit_le(e, rnd(), 4);
        }
        if (r2 >= 8) {
            emit(e, 0x41);
        }
        emit(e, (uint8_t)(0x58 + (r2 & 7)));
        break;
    case 2: /* push qword [rbx+d]; pop qword [rbx+d2] */
        emit(e, 0xff);
        emit(e, 0x73);
        emit(e, (uint8_t)rnd());
        emit(e, 0x8f);
        emit(e, 0x43);
        emit(e, (uint8_t)rnd());
        break;
    case 3: /* pushf; pop r2; (and popf of a register value) */
        emit(e, 0x9c);
        if (r2 >= 8) {
            emit(e, 0x41);
        }
        emit(e, (uint8_t)(0x58 + (r2 & 7)));
        st->regs[r1] = 0x202 | (rnd() & (FLAGS_ARITH | FLAG_DF));
        if (r1 >= 8) {
            emit(e, 0x41);
        }
        emit(e, (uint8_t)(0x50 + (r1 & 7)));
        emit(e, 0x9d);
        break;
    case 4: /* enter N, 0..2; leave */
        emit(e, 0xc8);
        emit_le(e, rnd() % 512, 2);
        emit(e, (uint8_t)(rnd() % 3));
        emit(e, 0xc9);
        st->regs[R_EBP] = (uintptr_t)data_buf() + DATA_SIZE / 2;   /* frames read via RBP */
        break;
    default: /* call +2 over a skipped body; lea rsp, [rsp+8] (RSP-based
                flags would differ) */
        emit(e, 0xe8);
        emit_le(e, 2, 4);
        emit(e, 0xff);      /* skipped: inc dword [rax] would fault */
        emit(e, 0x00);
        emit(e, 0x48);
        emit(e, 0x8d);
        emit(e, 0x64);
        emit(e, 0x24);
        emit(e, 0x08);
        break;
    }
}

/* ------------------------------------------------------------- tests */

typedef void (*GenFn)(Enc *e, HostState *st);

static void run_random(GenFn gen, unsigned n, uint64_t seed, bool consume_flags)
{
    static uint8_t mem0[DATA_SIZE];

    rng_state = seed;
    for (unsigned k = 0; k < n; k++) {
        Enc e = { .n = 0 };
        HostState st;

        gen(&e, &st);
        if (consume_flags && rnd() % 2 && (intel_host || !e.undef)) {
            /* Read the lazily computed flags through a condition too:
               SETcc r15b, or Jcc over an INC of r14. Only Intel hosts
               agree with the interpreter on undefined flags, and a
               condition would carry them into the registers. */
            if (rnd() % 2) {
                emit(&e, 0x41);
                emit(&e, 0x0f);
                emit(&e, (uint8_t)(0x90 + rnd() % 16));
                emit(&e, 0xc7);
            } else {
                emit(&e, (uint8_t)(0x70 + rnd() % 16));
                emit(&e, 0x03);
                emit(&e, 0x49);
                emit(&e, 0xff);
                emit(&e, 0xc6);
            }
        }
        for (unsigned b = 0; b < DATA_SIZE; b++) {
            mem0[b] = (uint8_t)rnd();
        }
        if (e.equal_runs) {
            memset(mem0 + 512, 0x5a, 3072);
        }
        if (e.is_div) {
            Insn in;
            uint64_t d;
            g_assert_cmpuint(x86_decode(e.b, e.n, true, false, &in), ==, e.n);
            if (in.mod == 3) {
                memcpy(cpu->s.regs, st.regs, sizeof(st.regs));
                d = reg_get(cpu, &in, in.rm, in.opsize);
            } else {
                uint64_t off = (uint64_t)in.disp + st.regs[R_EBX] - (uintptr_t)data_buf();
                d = 0;
                memcpy(&d, mem0 + off, in.opsize);
            }
            if (div_faults(in.opsize, (in.reg & 7) == 7, d, &st)) {
                HostState g;
                memcpy(data_buf(), mem0, DATA_SIZE);
                g_assert_cmpint(run_guest(&e, &st, &g), ==, EXC_DE);
                /* #DE leaves every register as it was. */
                g_assert_cmpint(memcmp(g.regs + 5, st.regs + 5, 11 * 8), ==, 0);
                g_assert_cmpint(memcmp(g.regs, st.regs, 4 * 8), ==, 0);
                de_cases++;
                continue;
            }
        }
        diff_case(&e, &st, mem0);
    }
}

static void test_alu(void) { run_random(gen_alu, 20000, 0x1234, true); }
static void test_shift(void) { run_random(gen_shift, 20000, 0x2345, true); }
static void test_muldiv(void) { run_random(gen_muldiv, 20000, 0x3456, false); }
static void test_bits(void) { run_random(gen_bits, 10000, 0x4567, true); }
static void test_move(void) { run_random(gen_move, 10000, 0x5678, true); }
static void test_string(void) { run_random(gen_string, 10000, 0x6789, true); }
static void test_stack(void) { run_random(gen_stack, 10000, 0x789a, true); }

/* Guest-only run of raw bytes (followed by HLT) from a fresh state. */
static int run_bytes(const uint8_t *b, unsigned n, HostState *st)
{
    Enc e = { .n = n };
    HostState out;
    int vec;

    memcpy(e.b, b, n);
    vec = run_guest(&e, st, &out);
    *st = out;
    return vec;
}

static void test_faults(void)
{
    HostState st = { .rflags = 2 };

    /* LOCK on a register destination or a non-RMW instruction: #UD. */
    g_assert_cmpint(run_bytes((uint8_t[]){ 0xf0, 0x01, 0xc0 }, 3, &st), ==, EXC_UD);
    g_assert_cmpint(run_bytes((uint8_t[]){ 0xf0, 0x8b, 0x03 }, 3, &st), ==, EXC_UD);
    /* UD2, and an over-long instruction: #GP. */
    g_assert_cmpint(run_bytes((uint8_t[]){ 0x0f, 0x0b }, 2, &st), ==, EXC_UD);
    {
        uint8_t lng[16];
        memset(lng, 0x66, 15);
        lng[15] = 0x90;
        g_assert_cmpint(run_bytes(lng, 16, &st), ==, EXC_GP);
    }
    /* Division by zero. */
    memset(&st, 0, sizeof(st));
    st.rflags = 2;
    g_assert_cmpint(run_bytes((uint8_t[]){ 0xf7, 0xf1 }, 2, &st), ==, EXC_DE);
    /* A memory access outside guest memory: #PF, registers untouched. */
    memset(&st, 0, sizeof(st));
    st.rflags = 2;
    st.regs[R_EAX] = 0x1234;
    st.regs[R_EBX] = 0x10;
    g_assert_cmpint(run_bytes((uint8_t[]){ 0x48, 0x03, 0x03 }, 3, &st), ==, EXC_PF);
    g_assert_cmphex(st.regs[R_EAX], ==, 0x1234);
}

/* REP MOVSB that faults part way: RSI/RDI/RCX show the progress, and
   running again finishes the copy. */
static void test_rep_restart(void)
{
    HostState st = { .rflags = 2 };
    uint8_t *end = stub_mem + MEM_SIZE;

    st.regs[R_ESI] = (uintptr_t)data_buf();
    st.regs[R_EDI] = (uintptr_t)end - 100;   /* runs off the end after 100 */
    st.regs[R_ECX] = 300;
    g_assert_cmpint(run_bytes((uint8_t[]){ 0xf3, 0xa4 }, 2, &st), ==, EXC_PF);
    g_assert_cmpuint(st.regs[R_ECX], ==, 200);
    g_assert_cmphex(st.regs[R_EDI], ==, (uintptr_t)end);
    g_assert_cmpint(memcmp(end - 100, data_buf(), 100), ==, 0);
}

/* Run the code at @code for up to @budget instructions; the vector of
   the event that ended the run, or -1. */
static int run_code(uint8_t *code, uint64_t budget)
{
    cpu->s.rip = (uintptr_t)code;
    cpu->halted = 0;
    stub_last_vector = -1;
    x86_exec(cpu, budget);
    return stub_last_vector;
}

/* Run the code at @code until HLT; no event may be raised. */
static void run_to_hlt(uint8_t *code)
{
    g_assert_cmpint(run_code(code, 100), ==, -1);
    g_assert_true(cpu->halted);
}

/* Code that rewrites its next instruction (in the same trace) and code
   rewritten between runs both execute the new bytes. */
static void test_self_modifying(void)
{
    uint8_t *code = stub_mem + CODE_OFF;
    /* mov byte [rip+1], 0x02 ; then "add eax, 1" whose imm becomes 2 */
    static const uint8_t prog[] = {
        0xc6, 0x05, 0x02, 0x00, 0x00, 0x00, 0x02,   /* mov byte [rip+2], 2 */
        0x83, 0xc0, 0x01,                           /* add eax, 1 */
        0xf4,
    };
    memcpy(code, prog, sizeof(prog));
    code_invalidate_page(NULL, CODE_OFF);
    for (int pass = 0; pass < 2; pass++) {
        code[9] = 0x01;
        if (pass) {
            /* The first pass left the page decoded: rewrite through the
               guest's view, as the MMU would report it. */
            code_invalidate_page(NULL, CODE_OFF);
        }
        cpu->s.regs[R_EAX] = 0;
        run_to_hlt(code);
        g_assert_cmphex(cpu->s.regs[R_EAX], ==, 2);
    }
}

/*
 * An instruction whose bytes straddle two pages: right when decoded, right
 * again from the code cache, and decoded afresh when either page's bytes
 * change (reported as the MMU reports a write to a page holding code).
 */
static void test_straddle(void)
{
    uint8_t *code = stub_mem + 0x3000 - 3;
    static const uint8_t prog[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xf4 };
    /* Each run: first store @val at code[@at] (none if @at is 0). */
    static const struct {
        unsigned at;
        uint8_t val;
        uint64_t rax;
    } runs[] = {
        { 0, 0, 0x0807060504030201ull },        /* decoded */
        { 0, 0, 0x0807060504030201ull },        /* from the code cache */
        { 9, 0x80, 0x8007060504030201ull },     /* second page changed */
        { 0, 0, 0x8007060504030201ull },
        { 2, 0x42, 0x8007060504030242ull },     /* first page changed */
    };

    memcpy(code, prog, sizeof(prog));
    code_invalidate_page(NULL, 0x2000);
    code_invalidate_page(NULL, 0x3000);
    for (unsigned k = 0; k < G_N_ELEMENTS(runs); k++) {
        if (runs[k].at) {
            code[runs[k].at] = runs[k].val;
            code_invalidate_page(NULL, (uintptr_t)(code + runs[k].at - stub_mem) & ~0xfffu);
        }
        cpu->s.regs[R_EAX] = 0;
        run_to_hlt(code);
        g_assert_cmphex(cpu->s.regs[R_EAX], ==, runs[k].rax);
    }
}

/*
 * A compare and the Jcc after it run as one decoded instruction: its
 * RIP-relative operand still counts from the end of the compare (the
 * random cases address memory through RBX only), a write that changes the
 * Jcc's bytes is seen, and a single step (TF) still stops between the two.
 */
static void test_fused_jcc(void)
{
    uint8_t *code = stub_mem + CODE_OFF;
    static const uint8_t prog[] = {
        0x83, 0x3d, 0x0e, 0x00, 0x00, 0x00, 0x05,   /* cmp dword [rip+14], 5 */
        0x75, 0x06,                                 /* jne +6 */
        0xb8, 0x01, 0x00, 0x00, 0x00,               /* mov eax, 1 */
        0xf4,
        0xb8, 0x02, 0x00, 0x00, 0x00,               /* mov eax, 2 */
        0xf4,
        0x05, 0x00, 0x00, 0x00,                     /* the dword compared */
    };
    static const struct {
        uint8_t val;
        uint64_t rax;
    } runs[] = { { 5, 1 }, { 6, 2 }, { 5, 1 } };

    memcpy(code, prog, sizeof(prog));
    for (unsigned k = 0; k < G_N_ELEMENTS(runs); k++) {
        code[21] = runs[k].val;
        code_invalidate_page(NULL, CODE_OFF);
        cpu->s.regs[R_EAX] = 0;
        run_to_hlt(code);
        g_assert_cmphex(cpu->s.regs[R_EAX], ==, runs[k].rax);
    }
    /* A fused DEC of memory that rewrites its own Jcc's displacement:
       the Jcc runs as rewritten (to STC, not straight to HLT). */
    static const uint8_t smc[] = {
        0xf8,                                       /* clc */
        0xfe, 0x0d, 0x01, 0x00, 0x00, 0x00,         /* dec byte [rip+1] */
        0x75, 0x06,                                 /* jne +6, then +5 */
        0xb0, 0x01, 0xf4, 0xf4, 0xf4,               /* mov al, 1; hlt */
        0xf9, 0xf4,                                 /* stc; hlt */
    };
    memcpy(code, smc, sizeof(smc));
    code_invalidate_page(NULL, CODE_OFF);
    cpu->s.regs[R_EAX] = 0;
    run_to_hlt(code);
    g_assert_cmphex(code[8], ==, 5);
    g_assert_cmphex(cpu->s.regs[R_EAX], ==, 0);
    g_assert_true(x86_get_rflags(cpu) & FLAG_CF);

    /* The trace is cached (fused) now; step its first instruction. */
    memcpy(code, prog, sizeof(prog));
    code_invalidate_page(NULL, CODE_OFF);
    run_to_hlt(code);
    x86_set_rflags(cpu, FLAG_TF, FLAG_TF);
    g_assert_cmpint(run_code(code, 1), ==, EXC_DB);
    x86_set_rflags(cpu, 0, FLAG_TF);
    g_assert_cmphex(cpu->s.rip, ==, (uintptr_t)code + 7);
}

/*
 * Runs of PUSH and POP become one decoded instruction each: values and
 * order as the separate instructions leave them, with the stack slots on
 * one page (a TLB miss first, then the fast path) and across a page
 * boundary; a fault part way reports the faulting PUSH, the ones before
 * it done.
 */
static void test_stack_runs(void)
{
    uint8_t *code = stub_mem + CODE_OFF;
    static const uint8_t prog[] = {
        0x53, 0x55, 0x41, 0x54, 0x41, 0x55,   /* push rbx, rbp, r12, r13 */
        0x58, 0x59, 0x5a, 0x5e,               /* pop rax, rcx, rdx, rsi */
        0xf4,
    };
    static const uint64_t tops[] = { STACK_TOP, STACK_TOP, STACK_TOP + 0x10 };
    uint64_t top;

    memcpy(code, prog, sizeof(prog));
    code_invalidate_page(NULL, CODE_OFF);
    for (unsigned k = 0; k < G_N_ELEMENTS(tops); k++) {
        top = (uintptr_t)stub_mem + tops[k];
        memset(cpu->s.regs, 0, sizeof(cpu->s.regs));
        cpu->s.regs[R_EBX] = 1;
        cpu->s.regs[R_EBP] = 2;
        cpu->s.regs[R_R12] = 3;
        cpu->s.regs[R_R13] = 4;
        cpu->s.regs[R_ESP] = top;
        run_to_hlt(code);
        g_assert_cmphex(cpu->s.regs[R_EAX], ==, 4);
        g_assert_cmphex(cpu->s.regs[R_ECX], ==, 3);
        g_assert_cmphex(cpu->s.regs[R_EDX], ==, 2);
        g_assert_cmphex(cpu->s.regs[R_ESI], ==, 1);
        g_assert_cmphex(cpu->s.regs[R_ESP], ==, top);
        for (unsigned j = 0; j < 4; j++) {
            g_assert_cmphex(*(uint64_t *)(uintptr_t)(top - 8 * (j + 1)), ==, j + 1);
        }
    }
    /* A PUSH that rewrites the next one (the stack on the code's page):
       PUSH RCX becomes PUSH RDX, which runs as written. */
    {
        static const uint8_t smc[] = { 0x50, 0x53, 0x51, 0xf4 };   /* push rax, rbx, rcx */
        memcpy(code, smc, sizeof(smc));
        code_invalidate_page(NULL, CODE_OFF);
        cpu->s.regs[R_EAX] = 0xf452;    /* bytes 52 f4: push rdx; hlt */
        cpu->s.regs[R_ECX] = 0x1111;
        cpu->s.regs[R_EDX] = 0x2222;
        cpu->s.regs[R_ESP] = (uintptr_t)code + 10;
        run_to_hlt(code);
        g_assert_cmphex(*(uint64_t *)(uintptr_t)(code - 14), ==, 0x2222);
        memcpy(code, prog, sizeof(prog));
        code_invalidate_page(NULL, CODE_OFF);
    }

    /* Room for two pushes: the third faults. */
    top = (uintptr_t)stub_mem + 0x10;
    cpu->s.regs[R_ESP] = top;
    g_assert_cmpint(run_code(code, 100), ==, EXC_PF);
    g_assert_cmphex(cpu->s.rip, ==, (uintptr_t)code + 2);
    g_assert_cmphex(cpu->s.regs[R_ESP], ==, top - 16);
    g_assert_cmphex(*(uint64_t *)(uintptr_t)(top - 8), ==, 1);
    g_assert_cmphex(*(uint64_t *)(uintptr_t)(top - 16), ==, 2);
}

/* The decoder gives 64-bit memory operands the fast handlers whatever the
   base register (RAX's offset in CPU is 0) and for TEST with an immediate. */
static void test_fast_operands(void)
{
    static const struct {
        uint8_t b[8];
        unsigned n;
        const InsnFn *fn;
    } cases[] = {
        { { 0x48, 0x8b, 0x40, 0x08 }, 4, &mov_ge_fast[3] },        /* mov rax, [rax+8] */
        { { 0x48, 0x8b, 0x04, 0x18 }, 4, &mov_ge_fast[3] },        /* mov rax, [rax+rbx] */
        { { 0x48, 0x8b, 0x43, 0x08 }, 4, &mov_ge_fast[3] },        /* mov rax, [rbx+8] */
        { { 0xf6, 0x40, 0x08, 0x01 }, 4, &test_ei_fast[0] },       /* test byte [rax+8], 1 */
        { { 0xf7, 0x43, 0x08, 1, 0, 0, 0 }, 7, &test_ei_fast[2] }, /* test dword [rbx+8], 1 */
    };

    for (unsigned k = 0; k < G_N_ELEMENTS(cases); k++) {
        Insn in;
        g_assert_cmpuint(x86_decode(cases[k].b, cases[k].n, true, false, &in), ==, cases[k].n);
        g_assert_true(in.fn == *cases[k].fn);
    }
}

/* MIPS of a register ALU loop (printed; the assertion is only that it
   finishes and computes the right thing). */
static void test_speed(void)
{
    uint8_t *code = stub_mem + 0x4000;
    static const uint8_t loop[] = {
        0x01, 0xd8,             /* add eax, ebx */
        0x31, 0xc1,             /* xor ecx, eax */
        0x83, 0xea, 0x03,       /* sub edx, 3 */
        0x89, 0xce,             /* mov esi, ecx */
        0x21, 0xd6,             /* and esi, edx */
        0x8d, 0x3c, 0x37,       /* lea edi, [rdi+rsi] */
        0x48, 0x85, 0xc0,       /* test rax, rax */
        0x41, 0xff, 0xc8,       /* dec r8d */
        0x75, 0xea,             /* jnz loop */
        0xf4,
    };
    uint64_t iters = g_test_slow() ? 12500000 : 2500000, n;
    gint64 t0, t1;

    memcpy(code, loop, sizeof(loop));
    code_invalidate_page(NULL, 0x4000);
    memset(cpu->s.regs, 0, sizeof(cpu->s.regs));
    cpu->s.regs[R_EBX] = 7;
    cpu->s.regs[R_R8] = iters;
    cpu->s.rip = (uintptr_t)code;
    cpu->halted = 0;
    stub_last_vector = -1;
    t0 = g_get_monotonic_time();
    n = 0;
    while (!cpu->halted) {
        n += x86_exec(cpu, 1u << 24);
    }
    t1 = g_get_monotonic_time();
    g_assert_cmpint(stub_last_vector, ==, -1);
    g_assert_cmphex(cpu->s.regs[R_EAX], ==, (uint32_t)(7 * iters));
    g_assert_cmpuint(n, ==, iters * 9 + 1);
    printf("# interp: %" G_GUINT64_FORMAT " instructions in %.3f s = %.1f MIPS\n",
           n, (t1 - t0) / 1e6, n / (double)(t1 - t0));
}

static void print_counts(void)
{
    printf("# %u differential cases, %u #DE cases\n", cases_run, de_cases);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    stub_mem_size = MEM_SIZE;
    stub_mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    exec_buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert(stub_mem != MAP_FAILED && exec_buf != MAP_FAILED);
    cpu = stub_cpu_new();
    {
        unsigned a, b, c, d;
        __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
        intel_host = b == 0x756e6547;    /* "Genu" */
        if (!intel_host) {
            printf("# not an Intel host: undefined flags are not compared\n");
        }
    }

    g_test_add_func("/interp-diff/alu", test_alu);
    g_test_add_func("/interp-diff/shift", test_shift);
    g_test_add_func("/interp-diff/muldiv", test_muldiv);
    g_test_add_func("/interp-diff/bits", test_bits);
    g_test_add_func("/interp-diff/move", test_move);
    g_test_add_func("/interp-diff/string", test_string);
    g_test_add_func("/interp-diff/stack", test_stack);
    g_test_add_func("/interp-diff/faults", test_faults);
    g_test_add_func("/interp-diff/rep-restart", test_rep_restart);
    g_test_add_func("/interp-diff/self-modifying", test_self_modifying);
    g_test_add_func("/interp-diff/straddle", test_straddle);
    g_test_add_func("/interp-diff/fused-jcc", test_fused_jcc);
    g_test_add_func("/interp-diff/stack-runs", test_stack_runs);
    g_test_add_func("/interp-diff/fast-operands", test_fast_operands);
    g_test_add_func("/interp-diff/speed", test_speed);
    ret = g_test_run();
    print_counts();
    stub_cpu_free(cpu);
    return ret;
}
