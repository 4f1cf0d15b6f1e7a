/*
 * The interpreter's decoder against Zydis: instruction lengths, operand
 * sizes and ModRM/SIB/displacement fields for hand-picked encodings in
 * 16-, 32- and 64-bit modes, and random byte streams.
 *
 * Rules for random streams:
 * - both valid: same length, same ModRM memory form (mod, displacement,
 *   SIB scale, RIP-relative);
 * - Zydis invalid: the decoder must give a #UD (or #GP for > 15 bytes)
 *   handler, unless it hands the opcode to a part that checks the rest at
 *   run time (x87 escapes, SSE/MMX opcodes and 0F AE to fpu/, whose
 *   handlers check ModRM forms; 0F 00, 0F 01, MOV CR/DR to sys/), or it
 *   is in the reserved-NOP space 0F 19..1F (NOPs on CPUs without MPX/CET,
 *   which Zydis decodes with those extensions on);
 * - Zydis valid, decoder #UD: allowed only for instruction set extensions
 *   the interpreter does not offer (anything but the base set, x87,
 *   long-mode instructions and the SSE levels fpu/ implements), and for
 *   the deliberate #UD instructions listed in deliberate_ud().
 *
 * Linked with the real interpreter (kemu_libs), so SSE lengths come from
 * fpu/'s tables.
 */
#include <stdio.h>
#include <string.h>
#include <Zydis/Zydis.h>
#include <glib.h>
#include "target/x86/core/core.h"

enum { M16, M32, M64 };

static bool zy_decode(int mode, const uint8_t *b, unsigned n, ZydisDecodedInstruction *zi)
{
    static const ZydisMachineMode mm[] = { ZYDIS_MACHINE_MODE_LEGACY_16,
                                           ZYDIS_MACHINE_MODE_LEGACY_32,
                                           ZYDIS_MACHINE_MODE_LONG_64 };
    static const ZydisStackWidth sw[] = { ZYDIS_STACK_WIDTH_16, ZYDIS_STACK_WIDTH_32,
                                          ZYDIS_STACK_WIDTH_64 };
    ZydisDecoder d;

    ZydisDecoderInit(&d, mm[mode], sw[mode]);
    return ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, b, n, zi));
}

static unsigned our_decode(int mode, const uint8_t *b, unsigned n, Insn *i)
{
    return x86_decode(b, n, mode == M64, mode == M32, i);
}

static bool is_fault(const Insn *i)
{
    return i->fn == h_ud || i->fn == h_gp0;
}

/* Base-set instructions we turn into #UD on purpose. */
static bool deliberate_ud(const ZydisDecodedInstruction *zi)
{
    switch (zi->mnemonic) {
    case ZYDIS_MNEMONIC_UD0: case ZYDIS_MNEMONIC_UD1: case ZYDIS_MNEMONIC_UD2:
    case ZYDIS_MNEMONIC_SALC:          /* undocumented */
    case ZYDIS_MNEMONIC_RSM:           /* no SMM */
    case ZYDIS_MNEMONIC_GETSEC:        /* no SMX */
    case ZYDIS_MNEMONIC_FEMMS:         /* no 3DNow! */
        return true;
    default:
        return false;
    }
}

static bool ext_offered(const ZydisDecodedInstruction *zi)
{
    switch (zi->meta.isa_ext) {
    case ZYDIS_ISA_EXT_BASE:
    case ZYDIS_ISA_EXT_X87:
    case ZYDIS_ISA_EXT_LONGMODE:
    case ZYDIS_ISA_EXT_PAUSE:
    case ZYDIS_ISA_EXT_MMX:
    case ZYDIS_ISA_EXT_SSE:
    case ZYDIS_ISA_EXT_SSE2:
    case ZYDIS_ISA_EXT_SSE3:
    case ZYDIS_ISA_EXT_SSSE3:
        return true;
    default:
        return false;
    }
}

static void hex(const uint8_t *b, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        fprintf(stderr, " %02x", b[k]);
    }
    fprintf(stderr, "\n");
}

typedef struct Counts {
    unsigned both_valid, both_invalid, exempt_ud, delegated;
} Counts;

/* SSE/MMX space: 0F 10-17, 28-2F, 50-7F, C2, C4-C6, D0-FF, 0F 38, 0F 3A. */
static bool sse_space(const Insn *i)
{
    unsigned map = i->opcode >> 8, op = i->opcode & 0xff;

    if (map >= 2) {
        return true;
    }
    return map == 1 && ((op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) ||
                        (op >= 0x50 && op <= 0x7f) || op == 0xc2 ||
                        (op >= 0xc4 && op <= 0xc6) || op >= 0xd0);
}

/* Opcodes whose remaining validity checks happen in the handler. */
static bool delegated(const Insn *i)
{
    return i->fn == fpu_x87 || i->fn == fpu_group15 || i->fn == h_group6 ||
           i->fn == h_group7 || i->fn == h_mov_cr || i->fn == h_mov_dr ||
           (i->opcode >= 0x119 && i->opcode <= 0x11f) || sse_space(i);
}

/* Compare one byte stream; returns false (after printing) on mismatch. */
static bool check_one(int mode, const uint8_t *b, unsigned n, Counts *c)
{
    ZydisDecodedInstruction zi;
    Insn i;
    bool zok = zy_decode(mode, b, n, &zi);
    unsigned len = our_decode(mode, b, n, &i);

    g_assert_cmpuint(len, >, 0);
    if (!zok) {
        if (delegated(&i)) {
            c->delegated++;
            return true;
        }
        if (!is_fault(&i)) {
            fprintf(stderr, "mode %d: Zydis says invalid, decoder accepts (len %u):", mode, len);
            hex(b, len);
            return false;
        }
        c->both_invalid++;
        return true;
    }
    if (is_fault(&i)) {
        if (!ext_offered(&zi) || deliberate_ud(&zi)) {
            c->exempt_ud++;
            return true;
        }
        fprintf(stderr, "mode %d: Zydis decodes %s (len %u), decoder gives #UD:", mode,
                ZydisMnemonicGetString(zi.mnemonic), zi.length);
        hex(b, zi.length);
        return false;
    }
    c->both_valid++;
    if (len != zi.length) {
        fprintf(stderr, "mode %d: %s length %u, decoder %u:", mode,
                ZydisMnemonicGetString(zi.mnemonic), zi.length, len);
        hex(b, zi.length > len ? zi.length : len);
        return false;
    }
    if ((zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) && zi.raw.modrm.mod != 3 && i.mod != 3) {
        bool rip = mode == M64 && zi.raw.modrm.mod == 0 && zi.raw.modrm.rm == 5;
        if (i.disp != zi.raw.disp.value || i.rip_rel != rip ||
            ((zi.attributes & ZYDIS_ATTRIB_HAS_SIB) && i.scale != zi.raw.sib.scale)) {
            fprintf(stderr, "mode %d: %s memory operand differs (disp %" G_GINT64_FORMAT
                    " vs %" G_GINT64_FORMAT "):", mode, ZydisMnemonicGetString(zi.mnemonic),
                    i.disp, (gint64)zi.raw.disp.value);
            hex(b, len);
            return false;
        }
    }
    return true;
}

typedef struct Case {
    int mode;
    unsigned len;           /* expected length */
    unsigned opsize;        /* expected operand size, 0: don't check */
    uint8_t b[15];
} Case;

static const Case cases[] = {
    { M64, 3, 8, { 0x48, 0x01, 0xd8 } },                       /* add rax, rbx */
    { M64, 10, 8, { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 } },    /* mov rax, imm64 */
    { M64, 5, 4, { 0xb8, 1, 2, 3, 4 } },                       /* mov eax, imm32 */
    { M64, 7, 8, { 0x48, 0x8b, 0x05, 1, 2, 3, 4 } },           /* mov rax, [rip+d] */
    { M64, 1, 8, { 0x50 } },                                   /* push rax: 64-bit */
    { M64, 2, 2, { 0x66, 0x50 } },                             /* push ax */
    { M64, 2, 8, { 0x41, 0x5f } },                             /* pop r15 */
    { M64, 5, 8, { 0xe8, 0, 0, 0, 0 } },                       /* call rel32 */
    { M64, 6, 8, { 0x0f, 0x84, 0, 0, 0, 0 } },                 /* jz rel32 */
    { M64, 2, 8, { 0xff, 0xd0 } },                             /* call rax */
    { M64, 4, 0, { 0xc8, 0x10, 0x00, 0x01 } },                 /* enter 16, 1 */
    { M64, 3, 0, { 0xc2, 0x08, 0x00 } },                       /* ret 8 */
    { M64, 8, 4, { 0x64, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 } },  /* mov eax, fs:[0x28] */
    { M64, 10, 8, { 0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 } },    /* mov rax, moffs64 */
    { M64, 9, 8, { 0x67, 0x48, 0x8b, 0x84, 0x88, 1, 2, 3, 4 } },/* 67 prefix, SIB */
    { M64, 5, 8, { 0xf0, 0x48, 0x0f, 0xc7, 0x0f } },           /* lock cmpxchg16b */
    { M64, 3, 1, { 0x40, 0x88, 0xe0 } },                       /* mov al, spl */
    { M64, 4, 4, { 0xf3, 0x0f, 0xb8, 0xc1 } },                 /* popcnt eax, ecx */
    { M64, 4, 0, { 0xf3, 0x0f, 0x1e, 0xfa } },                 /* endbr64 */
    { M64, 9, 0, { 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 } },  /* nopw 0(rax,rax) */
    { M64, 3, 4, { 0x0f, 0x20, 0xd8 } },                       /* mov rax, cr3 */
    { M32, 3, 2, { 0x66, 0x89, 0xd8 } },                       /* mov ax, bx */
    { M32, 6, 4, { 0x8b, 0x05, 1, 2, 3, 4 } },                 /* mov eax, [abs32] */
    { M32, 1, 4, { 0x40 } },                                   /* inc eax */
    { M32, 7, 4, { 0x9a, 1, 2, 3, 4, 5, 6 } },                 /* call far ptr16:32 */
    { M32, 5, 0, { 0xa1, 1, 2, 3, 4 } },                       /* mov eax, moffs32 */
    { M32, 1, 4, { 0x60 } },                                   /* pushad */
    { M16, 3, 2, { 0x8b, 0x42, 0x04 } },                       /* mov ax, [bp+si+4] */
    { M16, 4, 2, { 0x8b, 0x1e, 0x34, 0x12 } },                 /* mov bx, [0x1234] */
    { M16, 5, 0, { 0xea, 0, 0, 0, 0xf0 } },                    /* jmp far f000:0000 */
    { M16, 3, 2, { 0xe8, 0x34, 0x12 } },                       /* call rel16 */
    { M16, 6, 4, { 0x66, 0xb8, 1, 2, 3, 4 } },                 /* mov eax, imm32 */
    { M16, 4, 2, { 0x67, 0x8b, 0x04, 0x24 } },                 /* mov ax, [esp] */
};

static void test_table(void)
{
    Counts c = { 0 };

    for (unsigned k = 0; k < G_N_ELEMENTS(cases); k++) {
        const Case *t = &cases[k];
        uint8_t buf[15] = { 0 };
        Insn i;
        unsigned len;

        memcpy(buf, t->b, 15);
        len = our_decode(t->mode, buf, 15, &i);
        if (len != t->len || is_fault(&i) || (t->opsize && i.opsize != t->opsize)) {
            fprintf(stderr, "case %u: len %u opsize %u fault %d:", k, len, i.opsize, is_fault(&i));
            hex(buf, t->len);
        }
        g_assert_false(is_fault(&i));
        g_assert_cmpuint(len, ==, t->len);
        if (t->opsize) {
            g_assert_cmpuint(i.opsize, ==, t->opsize);
        }
        g_assert_true(check_one(t->mode, buf, 15, &c));
    }
    /* Specific fields. */
    {
        Insn i;
        our_decode(M64, (const uint8_t[]){ 0x64, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 }, 8, &i);
        g_assert_cmpuint(i.seg, ==, SEG_FS);
        g_assert_cmpuint(i.base, ==, REG_NONE);
        g_assert_cmpuint(i.index, ==, REG_NONE);
        g_assert_cmpint(i.disp, ==, 0x28);
        our_decode(M16, (const uint8_t[]){ 0x8b, 0x42, 0x04 }, 3, &i);
        g_assert_cmpuint(i.base, ==, R_EBP);
        g_assert_cmpuint(i.index, ==, R_ESI);
        g_assert_cmpuint(i.seg, ==, SEG_SS);
        g_assert_cmpuint(i.addrsize, ==, 2);
        our_decode(M64, (const uint8_t[]){ 0x4e, 0x8b, 0x44, 0xb5, 0xf0 }, 5, &i);
        g_assert_cmpuint(i.reg, ==, R_R8);
        g_assert_cmpuint(i.base, ==, R_EBP);
        g_assert_cmpuint(i.index, ==, R_R14);
        g_assert_cmpuint(i.scale, ==, 2);
        g_assert_cmpint(i.disp, ==, -16);
        our_decode(M32, (const uint8_t[]){ 0xc8, 0x10, 0x20, 0x03 }, 4, &i);
        g_assert_cmphex(i.imm, ==, 0x2010);
        g_assert_cmphex(i.imm2, ==, 3);
        /* Needing more bytes than available: 0, so the caller fetches more. */
        g_assert_cmpuint(our_decode(M64, (const uint8_t[]){ 0x48, 0xb8, 1, 2 }, 4, &i), ==, 0);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random streams, biased toward prefixes and the 0F maps. */
static void random_mode(int mode, unsigned n)
{
    static const uint8_t pfx[] = { 0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x64, 0x48, 0x41, 0x0f };
    Counts c = { 0 };
    unsigned failures = 0;

    for (unsigned k = 0; k < n; k++) {
        uint8_t b[15];
        unsigned np = rnd() % 4;
        for (unsigned j = 0; j < 15; j++) {
            b[j] = (uint8_t)rnd();
        }
        for (unsigned j = 0; j < np; j++) {
            b[j] = pfx[rnd() % G_N_ELEMENTS(pfx)];
        }
        if (!check_one(mode, b, 15, &c) && ++failures > 20) {
            break;
        }
    }
    printf("# mode %d: %u streams, both valid %u, both invalid %u, #UD for unoffered "
           "extensions %u, checked at run time %u, failures %u\n", mode, n, c.both_valid,
           c.both_invalid, c.exempt_ud, c.delegated, failures);
    g_assert_cmpuint(failures, ==, 0);
}

static void test_random64(void) { random_mode(M64, 100000); }
static void test_random32(void) { random_mode(M32, 50000); }
static void test_random16(void) { random_mode(M16, 50000); }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/decode/table", test_table);
    g_test_add_func("/decode/random64", test_random64);
    g_test_add_func("/decode/random32", test_random32);
    g_test_add_func("/decode/random16", test_random16);
    return g_test_run();
}
