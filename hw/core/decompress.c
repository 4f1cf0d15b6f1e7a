/*
 * Host-side decompression of boot payloads (include/hw/core/decompress.h)
 * with zlib, liblzma, liblz4 and libzstd.
 *
 * Every decoder writes into one growing output buffer that never exceeds
 * the caller's limit (plus one byte, so a stream of exactly the limit can
 * finish), and input lengths are fed in pieces the library's counters can
 * hold. bzip2 and lzo are recognised but not supported: the libraries are
 * not among our dependencies and Debian's kernels use neither.
 *
 * Formats: RFC 1952 (gzip); the .xz file format 1.1; LZMA-Alone (.lzma);
 * LZ4 frame format 1.6 and the "legacy frame" of lz4 -l (magic 0x184C2102,
 * then blocks of a 4-byte compressed size and data that decodes to at most
 * 8 MiB); Zstandard RFC 8878.
 */
#include <limits.h>
#include <string.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include "hw/core/decompress.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

/* A kernel's xz payload uses a 32 MiB dictionary; refuse headers asking more. */
#define XZ_MEMLIMIT (256u << 20)
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
#define OUT_INITIAL (1u << 20)

typedef struct OutBuf {
    uint8_t *buf;
    size_t len, cap;
    size_t limit;       /* the caller's max_out */
    const char *fmt;    /* format name for messages */
} OutBuf;

static bool has_magic(const uint8_t *in, size_t len, const char *magic, size_t n)
{
    return len >= n && !memcmp(in, magic, n);
}

DecompressFormat decompress_detect(const uint8_t *in, size_t len)
{
    if (has_magic(in, len, "\x1f\x8b", 2)) {
        return DECOMPRESS_GZIP;
    }
    if (has_magic(in, len, "\xfd" "7zXZ\0", 6)) {
        return DECOMPRESS_XZ;
    }
    /* No real magic: properties byte 0x5d (lc=3 lp=0 pb=2, what every
     * encoder writes) and a dictionary size whose low byte is 0, as the
     * kernel's own lib/decompress.c recognises it. */
    if (has_magic(in, len, "\x5d\x00", 2) && len >= 13) {
        return DECOMPRESS_LZMA;
    }
    if (has_magic(in, len, "\x02\x21\x4c\x18", 4)) {
        return DECOMPRESS_LZ4_LEGACY;
    }
    if (has_magic(in, len, "\x04\x22\x4d\x18", 4)) {
        return DECOMPRESS_LZ4_FRAME;
    }
    if (has_magic(in, len, "\x28\xb5\x2f\xfd", 4)) {
        return DECOMPRESS_ZSTD;
    }
    if (has_magic(in, len, "BZh", 3)) {
        return DECOMPRESS_BZIP2;
    }
    if (has_magic(in, len, "\x89LZO\0\r\n\x1a\n", 9)) {
        return DECOMPRESS_LZO;
    }
    return DECOMPRESS_UNKNOWN;
}

const char *decompress_format_name(DecompressFormat fmt)
{
    static const char *const names[] = {
        [DECOMPRESS_UNKNOWN] = "unknown",
        [DECOMPRESS_GZIP] = "gzip",
        [DECOMPRESS_XZ] = "xz",
        [DECOMPRESS_LZMA] = "lzma",
        [DECOMPRESS_LZ4_LEGACY] = "lz4 (legacy)",
        [DECOMPRESS_LZ4_FRAME] = "lz4",
        [DECOMPRESS_ZSTD] = "zstd",
        [DECOMPRESS_BZIP2] = "bzip2",
        [DECOMPRESS_LZO] = "lzo",
    };
    return (unsigned)fmt < G_N_ELEMENTS(names) ? names[fmt] : "unknown";
}

/* ---- output buffer -------------------------------------------------------- */

static void limit_error(const OutBuf *o, GError **errp)
{
    error_setg(errp, "%s data decompresses to more than the limit of %zu bytes",
               o->fmt, o->limit);
}

/*
 * Make room for at least @want more bytes (or double, whichever is more),
 * never beyond limit + @slack. Fails with the limit error when full.
 */
static bool out_reserve(OutBuf *o, size_t want, size_t slack, GError **errp)
{
    size_t hard = o->limit + slack;
    size_t cap;

    if (o->cap - o->len >= want) {
        return true;
    }
    if (o->len >= hard || hard - o->len < want) {
        limit_error(o, errp);
        return false;
    }
    cap = MAX(MAX(o->cap * 2, (size_t)OUT_INITIAL), o->len + want);
    cap = MIN(cap, hard);
    o->buf = g_realloc(o->buf, cap);
    o->cap = cap;
    return true;
}

/* Streaming decoders: room for at least one more byte. */
static bool out_room(OutBuf *o, GError **errp)
{
    return out_reserve(o, 1, 1, errp);
}

static bool out_finish(OutBuf *o, uint8_t **out, size_t *out_len, GError **errp)
{
    if (o->len > o->limit) {
        limit_error(o, errp);
        return false;
    }
    *out = g_realloc(o->buf, MAX(o->len, (size_t)1));
    *out_len = o->len;
    o->buf = NULL;
    return true;
}

static void truncated_error(const OutBuf *o, GError **errp)
{
    error_setg(errp, "%s data is truncated", o->fmt);
}

/* ---- gzip ------------------------------------------------------------------ */

static bool gunzip(const uint8_t *in, size_t len, OutBuf *o, GError **errp)
{
    z_stream zs = { 0 };
    size_t pos = 0;
    bool ok = false;

    /* 16 + MAX_WBITS: gzip wrapper only. */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        error_setg(errp, "gzip: cannot initialise zlib");
        return false;
    }
    for (;;) {
        size_t in_chunk = MIN(len - pos, (size_t)UINT_MAX);
        size_t out_chunk;
        int ret;

        if (!out_room(o, errp)) {
            break;
        }
        out_chunk = MIN(o->cap - o->len, (size_t)UINT_MAX);
        zs.next_in = (Bytef *)(in + pos);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = o->buf + o->len;
        zs.avail_out = (uInt)out_chunk;
        ret = inflate(&zs, Z_NO_FLUSH);
        pos += in_chunk - zs.avail_in;
        o->len += out_chunk - zs.avail_out;
        if (ret == Z_STREAM_END) {
            ok = true;
            break;
        }
        if (ret == Z_BUF_ERROR && pos == len) {
            truncated_error(o, errp);
            break;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            error_setg(errp, "gzip data is corrupt: %s", zs.msg ? zs.msg : zError(ret));
            break;
        }
    }
    inflateEnd(&zs);
    return ok;
}

/* ---- xz and lzma ------------------------------------------------------------ */

static bool unxz(const uint8_t *in, size_t len, bool alone, OutBuf *o, GError **errp)
{
    lzma_stream strm = LZMA_STREAM_INIT;
    lzma_ret ret;
    bool ok = false;

    /* No LZMA_CONCATENATED: decoding stops at the end of the first stream,
     * so the kernel's appended size word is ignored. */
    ret = alone ? lzma_alone_decoder(&strm, XZ_MEMLIMIT)
                : lzma_stream_decoder(&strm, XZ_MEMLIMIT, 0);
    if (ret != LZMA_OK) {
        error_setg(errp, "%s: cannot initialise liblzma (error %d)", o->fmt, (int)ret);
        return false;
    }
    strm.next_in = in;
    strm.avail_in = len;
    for (;;) {
        size_t room;

        if (!out_room(o, errp)) {
            break;
        }
        room = o->cap - o->len;
        strm.next_out = o->buf + o->len;
        strm.avail_out = room;
        /* All input is present: FINISH makes a short stream an error. */
        ret = lzma_code(&strm, LZMA_FINISH);
        o->len += room - strm.avail_out;
        if (ret == LZMA_STREAM_END) {
            ok = true;
            break;
        }
        if (ret == LZMA_OK) {
            continue;
        }
        if (ret == LZMA_BUF_ERROR && strm.avail_out) {
            truncated_error(o, errp);
        } else if (ret == LZMA_MEMLIMIT_ERROR || ret == LZMA_MEM_ERROR) {
            error_setg(errp, "%s data needs more than %u MiB of memory to decompress",
                       o->fmt, XZ_MEMLIMIT >> 20);
        } else if (ret == LZMA_FORMAT_ERROR) {
            error_setg(errp, "%s data has a bad header", o->fmt);
        } else if (ret == LZMA_OPTIONS_ERROR) {
            error_setg(errp, "%s data uses unsupported options", o->fmt);
        } else if (ret != LZMA_BUF_ERROR) {
            error_setg(errp, "%s data is corrupt (liblzma error %d)", o->fmt, (int)ret);
        } else {
            continue;   /* output full: grow and go on */
        }
        break;
    }
    lzma_end(&strm);
    return ok;
}

/* ---- lz4 ---------------------------------------------------------------------- */

static bool unlz4_legacy(const uint8_t *in, size_t len, OutBuf *o, GError **errp)
{
    size_t pos = 4;    /* after the magic */
    unsigned blocks = 0;
    const size_t max_block = (size_t)LZ4_compressBound(LZ4_LEGACY_BLOCK);

    for (;;) {
        uint32_t csize;
        int n;

        /* The stream has no end marker: it ends at the end of the input,
         * or, as in a kernel payload, with 4 trailing bytes that are the
         * decompressed size, not a block. */
        if (len - pos < 4 || (blocks > 0 && len - pos == 4)) {
            break;
        }
        csize = ld32_le(in + pos);
        pos += 4;
        if (csize == LZ4_LEGACY_MAGIC) {
            continue;   /* concatenated legacy streams */
        }
        if (csize == 0 || csize > max_block) {
            error_setg(errp, "%s data is corrupt: block %u is 0x%x bytes long",
                       o->fmt, blocks, csize);
            return false;
        }
        if (csize > len - pos) {
            truncated_error(o, errp);
            return false;
        }
        if (!out_reserve(o, LZ4_LEGACY_BLOCK, LZ4_LEGACY_BLOCK, errp)) {
            return false;
        }
        n = LZ4_decompress_safe((const char *)in + pos, (char *)o->buf + o->len,
                                (int)csize, LZ4_LEGACY_BLOCK);
        if (n < 0) {
            error_setg(errp, "%s data is corrupt in block %u", o->fmt, blocks);
            return false;
        }
        o->len += (size_t)n;
        if (o->len > o->limit) {
            limit_error(o, errp);
            return false;
        }
        pos += csize;
        blocks++;
    }
    if (blocks == 0) {
        truncated_error(o, errp);
        return false;
    }
    return true;
}

static bool unlz4_frame(const uint8_t *in, size_t len, OutBuf *o, GError **errp)
{
    LZ4F_dctx *dctx;
    size_t pos = 0;
    bool ok = false;

    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        error_setg(errp, "lz4: cannot create a decompression context");
        return false;
    }
    for (;;) {
        size_t room, src_size = len - pos, ret;

        if (!out_room(o, errp)) {
            break;
        }
        room = o->cap - o->len;
        ret = LZ4F_decompress(dctx, o->buf + o->len, &room, in + pos, &src_size, NULL);
        if (LZ4F_isError(ret)) {
            error_setg(errp, "lz4 data is corrupt: %s", LZ4F_getErrorName(ret));
            break;
        }
        pos += src_size;
        o->len += room;
        if (ret == 0) {
            ok = true;
            break;
        }
        /* Input used up and output not full: the frame needs more input. */
        if (pos == len && o->len < o->cap) {
            truncated_error(o, errp);
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return ok;
}

/* ---- zstd ----------------------------------------------------------------------- */

static bool unzstd(const uint8_t *in, size_t len, OutBuf *o, GError **errp)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer ib = { .src = in, .size = len, .pos = 0 };
    bool ok = false;

    if (!dctx) {
        error_setg(errp, "zstd: cannot create a decompression context");
        return false;
    }
    /* The default window limit (128 MiB) bounds the decoder's memory. */
    for (;;) {
        ZSTD_outBuffer ob;
        size_t ret;

        if (!out_room(o, errp)) {
            break;
        }
        ob = (ZSTD_outBuffer){ .dst = o->buf + o->len, .size = o->cap - o->len, .pos = 0 };
        ret = ZSTD_decompressStream(dctx, &ob, &ib);
        o->len += ob.pos;
        if (ZSTD_isError(ret)) {
            error_setg(errp, "zstd data is corrupt: %s", ZSTD_getErrorName(ret));
            break;
        }
        if (ret == 0) {
            ok = true;
            break;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) {
            truncated_error(o, errp);
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return ok;
}

/* ---- dispatch --------------------------------------------------------------------- */

bool decompress_auto(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
                     size_t max_out, GError **errp)
{
    DecompressFormat fmt = decompress_detect(in, len);
    OutBuf o = { .limit = max_out, .fmt = decompress_format_name(fmt) };
    bool ok;

    switch (fmt) {
    case DECOMPRESS_GZIP:
        ok = gunzip(in, len, &o, errp);
        break;
    case DECOMPRESS_XZ:
    case DECOMPRESS_LZMA:
        ok = unxz(in, len, fmt == DECOMPRESS_LZMA, &o, errp);
        break;
    case DECOMPRESS_LZ4_LEGACY:
        ok = unlz4_legacy(in, len, &o, errp);
        break;
    case DECOMPRESS_LZ4_FRAME:
        ok = unlz4_frame(in, len, &o, errp);
        break;
    case DECOMPRESS_ZSTD:
        ok = unzstd(in, len, &o, errp);
        break;
    case DECOMPRESS_BZIP2:
    case DECOMPRESS_LZO:
        error_setg(errp, "%s compression is not supported (use gzip, xz, lzma, lz4 or zstd)",
                   o.fmt);
        return false;
    default:
        error_setg(errp, "unknown compression format (magic bytes %02x %02x %02x %02x)",
                   len > 0 ? in[0] : 0, len > 1 ? in[1] : 0, len > 2 ? in[2] : 0,
                   len > 3 ? in[3] : 0);
        return false;
    }
    ok = ok && out_finish(&o, out, out_len, errp);
    g_free(o.buf);
    return ok;
}
