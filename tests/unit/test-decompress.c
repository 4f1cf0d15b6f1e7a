/*
 * Host-side payload decompression: round trips through every supported
 * format (compressed here with the libraries, and with the host's command
 * line tools the way the kernel build uses them), the output limit,
 * truncated and corrupt streams, and formats we refuse.
 */
#include <string.h>
#include <glib/gstdio.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include "hw/core/decompress.h"

#define MiB (1024 * 1024u)

typedef struct Packed {
    uint8_t *data;
    size_t len;
} Packed;

/* Compressible but not trivial: words from a small PRNG-chosen alphabet. */
static uint8_t *sample(size_t len)
{
    uint8_t *p = g_malloc(len);
    uint32_t x = 12345;

    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)("kemu boots linux\n"[(x >> 16) % 17] ^ ((i >> 12) & 1));
    }
    return p;
}

/* The kernel build appends the decompressed size, little-endian. */
static void append_size(Packed *pk, size_t orig)
{
    pk->data = g_realloc(pk->data, pk->len + 4);
    for (int i = 0; i < 4; i++) {
        pk->data[pk->len + i] = (uint8_t)(orig >> (8 * i));
    }
    pk->len += 4;
}

static Packed pack_gzip(const uint8_t *in, size_t len)
{
    z_stream zs = { 0 };
    Packed pk = { g_malloc(compressBound(len) + 64), 0 };

    g_assert_cmpint(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                 Z_DEFAULT_STRATEGY), ==, Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = pk.data;
    zs.avail_out = (uInt)(compressBound(len) + 64);
    g_assert_cmpint(deflate(&zs, Z_FINISH), ==, Z_STREAM_END);
    pk.len = zs.total_out;
    deflateEnd(&zs);
    return pk;
}

static Packed pack_lzma(const uint8_t *in, size_t len, bool alone, bool bcj)
{
    lzma_stream strm = LZMA_STREAM_INIT;
    lzma_options_lzma opt;
    lzma_filter filters[3];
    size_t cap = len + len / 2 + 4096;
    Packed pk = { g_malloc(cap), 0 };

    /* Preset 1 keeps the test fast; the decoder does not care. */
    g_assert_false(lzma_lzma_preset(&opt, 1));
    if (alone) {
        g_assert_cmpint(lzma_alone_encoder(&strm, &opt), ==, LZMA_OK);
    } else {
        unsigned n = 0;
        if (bcj) {
            filters[n++] = (lzma_filter){ .id = LZMA_FILTER_X86 };
        }
        filters[n++] = (lzma_filter){ .id = LZMA_FILTER_LZMA2, .options = &opt };
        filters[n] = (lzma_filter){ .id = LZMA_VLI_UNKNOWN };
        g_assert_cmpint(lzma_stream_encoder(&strm, filters, LZMA_CHECK_CRC32), ==, LZMA_OK);
    }
    strm.next_in = in;
    strm.avail_in = len;
    strm.next_out = pk.data;
    strm.avail_out = cap;
    g_assert_cmpint(lzma_code(&strm, LZMA_FINISH), ==, LZMA_STREAM_END);
    pk.len = strm.total_out;
    lzma_end(&strm);
    return pk;
}

/* lz4 -l: magic, then (size, block) pairs of up to 8 MiB of input each. */
static Packed pack_lz4_legacy(const uint8_t *in, size_t len)
{
    const size_t block = 8 * MiB;
    size_t cap = 4 + (len / block + 1) * (4 + (size_t)LZ4_compressBound((int)block));
    Packed pk = { g_malloc(cap), 4 };

    memcpy(pk.data, "\x02\x21\x4c\x18", 4);
    for (size_t off = 0; off < len; off += block) {
        int chunk = (int)MIN(block, len - off);
        int n = LZ4_compress_default((const char *)in + off, (char *)pk.data + pk.len + 4,
                                     chunk, LZ4_compressBound(chunk));
        g_assert_cmpint(n, >, 0);
        for (int i = 0; i < 4; i++) {
            pk.data[pk.len + i] = (uint8_t)((unsigned)n >> (8 * i));
        }
        pk.len += 4 + (size_t)n;
    }
    return pk;
}

static Packed pack_lz4_frame(const uint8_t *in, size_t len)
{
    size_t cap = LZ4F_compressFrameBound(len, NULL);
    Packed pk = { g_malloc(cap), 0 };

    pk.len = LZ4F_compressFrame(pk.data, cap, in, len, NULL);
    g_assert_false(LZ4F_isError(pk.len));
    return pk;
}

static Packed pack_zstd(const uint8_t *in, size_t len)
{
    size_t cap = ZSTD_compressBound(len);
    Packed pk = { g_malloc(cap), 0 };

    pk.len = ZSTD_compress(pk.data, cap, in, len, 3);
    g_assert_false(ZSTD_isError(pk.len));
    return pk;
}

typedef enum { F_GZIP, F_XZ, F_XZ_BCJ, F_LZMA, F_LZ4_LEGACY, F_LZ4_FRAME, F_ZSTD, F_NR } Fmt;

static const DecompressFormat fmt_id[F_NR] = {
    DECOMPRESS_GZIP, DECOMPRESS_XZ, DECOMPRESS_XZ, DECOMPRESS_LZMA,
    DECOMPRESS_LZ4_LEGACY, DECOMPRESS_LZ4_FRAME, DECOMPRESS_ZSTD,
};

static Packed pack(Fmt f, const uint8_t *in, size_t len)
{
    switch (f) {
    case F_GZIP: return pack_gzip(in, len);
    case F_XZ: return pack_lzma(in, len, false, false);
    case F_XZ_BCJ: return pack_lzma(in, len, false, true);
    case F_LZMA: return pack_lzma(in, len, true, false);
    case F_LZ4_LEGACY: return pack_lz4_legacy(in, len);
    case F_LZ4_FRAME: return pack_lz4_frame(in, len);
    default: return pack_zstd(in, len);
    }
}

static void check_roundtrip(const Packed *pk, const uint8_t *orig, size_t orig_len,
                            size_t max_out)
{
    g_autoptr(GError) err = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;

    g_assert_true(decompress_auto(pk->data, pk->len, &out, &out_len, max_out, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(out_len, ==, orig_len);
    g_assert_true(memcmp(out, orig, orig_len) == 0);
    g_free(out);
}

static void expect_failure(const Packed *pk, size_t max_out, const char *what)
{
    g_autoptr(GError) err = NULL;
    uint8_t *out = (uint8_t *)"untouched";
    size_t out_len = 7;

    g_assert_false(decompress_auto(pk->data, pk->len, &out, &out_len, max_out, &err));
    g_assert_nonnull(err);
    if (what) {
        g_assert_nonnull(strstr(err->message, what));
    }
    g_assert_cmpstr((char *)out, ==, "untouched");
    g_assert_cmpuint(out_len, ==, 7);
}

/* Every format, with the kernel's size word appended; lz4 with more than
 * one legacy block (> 8 MiB). */
static void test_roundtrip(void)
{
    const size_t big = 9 * MiB + 123;
    g_autofree uint8_t *orig = sample(big);

    for (Fmt f = 0; f < F_NR; f++) {
        size_t len = f == F_LZ4_LEGACY || f == F_LZ4_FRAME ? big : MiB + 123;
        Packed pk = pack(f, orig, len);
        g_assert_cmpint(decompress_detect(pk.data, pk.len), ==, fmt_id[f]);
        check_roundtrip(&pk, orig, len, 64 * MiB);
        append_size(&pk, len);
        check_roundtrip(&pk, orig, len, 64 * MiB);
        g_free(pk.data);
    }
}

/* A limit of exactly the size works; one byte less fails cleanly. */
static void test_limit(void)
{
    const size_t len = MiB + 5;
    g_autofree uint8_t *orig = sample(len);

    for (Fmt f = 0; f < F_NR; f++) {
        Packed pk = pack(f, orig, len);
        check_roundtrip(&pk, orig, len, len);
        expect_failure(&pk, len - 1, "limit");
        expect_failure(&pk, 0, "limit");
        g_free(pk.data);
    }
}

/* A bomb (256 MiB of zeroes in a few KiB) stops at the limit. */
static void test_bomb(void)
{
    const size_t len = 256 * MiB;
    uint8_t *zeroes = g_malloc0(len);
    Packed pk[3] = { pack_zstd(zeroes, len), pack_gzip(zeroes, len),
                     pack_lz4_frame(zeroes, len) };

    g_free(zeroes);
    for (unsigned i = 0; i < G_N_ELEMENTS(pk); i++) {
        g_assert_cmpuint(pk[i].len, <, 2 * MiB);
        expect_failure(&pk[i], 4 * MiB, "more than the limit of 4194304 bytes");
        g_free(pk[i].data);
    }
}

/* Cut at several points: always a clean error, never a crash. */
static void test_truncated(void)
{
    const size_t len = 600 * 1024;
    g_autofree uint8_t *orig = sample(len);

    for (Fmt f = 0; f < F_NR; f++) {
        Packed pk = pack(f, orig, len);
        const size_t cuts[] = { 1, 2, 5, 13, 20, pk.len / 2, pk.len - 1 };
        for (unsigned i = 0; i < G_N_ELEMENTS(cuts); i++) {
            Packed cut = { pk.data, cuts[i] };
            /* Long enough to carry its magic: the message says truncated
             * or corrupt (a cut header reads as a bad one). */
            expect_failure(&cut, 64 * MiB, NULL);
        }
        Packed half = { pk.data, pk.len / 2 };
        /* Legacy lz4 has no end marker, so a cut block reads as corrupt
         * or truncated depending on where it falls. */
        expect_failure(&half, 64 * MiB, f == F_LZ4_LEGACY ? NULL : "truncated");
        g_free(pk.data);
    }
}

/* Flipped bytes: checksummed formats must fail; the others must not crash
 * and must stay within the limit. */
static void test_corrupt(void)
{
    const size_t len = 300 * 1024;
    g_autofree uint8_t *orig = sample(len);

    for (Fmt f = 0; f < F_NR; f++) {
        Packed pk = pack(f, orig, len);
        for (size_t at = 16; at < pk.len; at += pk.len / 7 + 1) {
            g_autoptr(GError) err = NULL;
            uint8_t *out = NULL;
            size_t out_len;
            pk.data[at] ^= 0x5a;
            if (decompress_auto(pk.data, pk.len, &out, &out_len, len + 4096, &err)) {
                g_assert_true(f == F_LZ4_LEGACY || f == F_LZ4_FRAME || f == F_ZSTD ||
                              f == F_LZMA);
                g_assert_cmpuint(out_len, <=, len + 4096);
                g_free(out);
            } else {
                g_assert_nonnull(err);
            }
            pk.data[at] ^= 0x5a;
        }
        /* A corrupt lz4 legacy block size. */
        if (f == F_LZ4_LEGACY) {
            memset(pk.data + 4, 0xff, 4);
            expect_failure(&pk, 64 * MiB, "corrupt");
        }
        g_free(pk.data);
    }
}

static void test_refused(void)
{
    Packed bz = { (uint8_t *)"BZh91AY&SY", 10 };
    Packed lzo = { (uint8_t *)"\x89LZO\0\r\n\x1a\n\x10\x30", 11 };
    Packed junk = { (uint8_t *)"\x7f" "ELF\2\1\1", 7 };
    Packed empty = { (uint8_t *)"", 0 };

    expect_failure(&bz, MiB, "bzip2 compression is not supported");
    expect_failure(&lzo, MiB, "lzo compression is not supported");
    expect_failure(&junk, MiB, "unknown compression format (magic bytes 7f 45 4c 46)");
    expect_failure(&empty, MiB, "unknown compression format");
    g_assert_cmpstr(decompress_format_name(DECOMPRESS_LZ4_LEGACY), ==, "lz4 (legacy)");
}

/*
 * The host tools, used as the kernel build uses them (scripts/Makefile.lib:
 * gzip -n -9, xz_wrap.sh with --x86 and crc32, lzma -9, lz4 -l; zstd at a
 * lower level than the kernel's -22 to keep the test fast),
 * each followed by the size word.
 */
static void test_host_tools(void)
{
    static const char *const tools[][2] = {
        { "gzip", "gzip -n -9 -c" },
        { "xz", "xz --check=crc32 --x86 --lzma2=preset=6,dict=1MiB -c" },
        { "lzma", "lzma -9 -c" },
        { "lz4", "lz4 -l -9 -c" },
        { "zstd", "zstd -12 -q -c" },
    };
    const size_t len = MiB + 77;
    g_autofree uint8_t *orig = sample(len);
    g_autofree char *dir = g_dir_make_tmp("kemu-decomp-XXXXXX", NULL);
    g_autofree char *src = g_build_filename(dir, "in", NULL);
    unsigned ran = 0;

    g_assert_true(g_file_set_contents(src, (char *)orig, (gssize)len, NULL));
    for (unsigned i = 0; i < G_N_ELEMENTS(tools); i++) {
        g_autofree char *path = g_find_program_in_path(tools[i][0]);
        g_autofree char *cmd = NULL;
        g_autofree char *out = NULL;
        gsize out_len;
        int status;
        Packed pk;

        if (!path) {
            g_test_message("SKIP: %s is not installed", tools[i][0]);
            continue;
        }
        g_autofree char *dst = g_build_filename(dir, tools[i][0], NULL);
        cmd = g_strdup_printf("sh -c '%s < %s > %s'", tools[i][1], src, dst);
        g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
        g_assert_cmpint(status, ==, 0);
        g_assert_true(g_file_get_contents(dst, &out, &out_len, NULL));
        pk = (Packed){ (uint8_t *)g_steal_pointer(&out), out_len };
        append_size(&pk, len);
        check_roundtrip(&pk, orig, len, 16 * MiB);
        g_free(pk.data);
        g_unlink(dst);
        ran++;
    }
    g_unlink(src);
    g_rmdir(dir);
    if (ran < G_N_ELEMENTS(tools)) {
        g_test_message("host tools: %u of %zu ran (the rest are not installed)",
                       ran, G_N_ELEMENTS(tools));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/decompress/roundtrip", test_roundtrip);
    g_test_add_func("/decompress/limit", test_limit);
    g_test_add_func("/decompress/bomb", test_bomb);
    g_test_add_func("/decompress/truncated", test_truncated);
    g_test_add_func("/decompress/corrupt", test_corrupt);
    g_test_add_func("/decompress/refused", test_refused);
    g_test_add_func("/decompress/host-tools", test_host_tools);
    return g_test_run();
}
