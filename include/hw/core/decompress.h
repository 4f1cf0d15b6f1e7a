/*
 * Decompression of boot payloads on the host (hw/core/decompress.c):
 * Linux kernels carry their vmlinux compressed inside the bzImage, and
 * decompressing it in the guest costs billions of instructions.
 */
#ifndef HW_CORE_DECOMPRESS_H
#define HW_CORE_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef enum DecompressFormat {
    DECOMPRESS_UNKNOWN,
    DECOMPRESS_GZIP,        /* RFC 1952 */
    DECOMPRESS_XZ,          /* .xz container (any filters liblzma has, e.g. BCJ x86) */
    DECOMPRESS_LZMA,        /* legacy "lzma_alone" .lzma */
    DECOMPRESS_LZ4_LEGACY,  /* lz4 -l: magic 0x184C2102, 8 MiB blocks (the kernel's) */
    DECOMPRESS_LZ4_FRAME,   /* modern LZ4 frame, magic 0x184D2204 */
    DECOMPRESS_ZSTD,        /* zstd frame, magic 0xFD2FB528 */
    DECOMPRESS_BZIP2,       /* recognised, not supported */
    DECOMPRESS_LZO,         /* lzop; recognised, not supported */
} DecompressFormat;

/* Which format @in (of @len bytes) starts with, from its magic bytes. */
DecompressFormat decompress_detect(const uint8_t *in, size_t len);

/* Short lower-case name of @fmt ("gzip", "xz", ...), for messages. */
const char *decompress_format_name(DecompressFormat fmt);

/*
 * Decompress the first stream (member, frame) of @in, whose format is
 * detected from its magic bytes. Bytes after the end of that stream are
 * ignored (the kernel appends the decompressed size after its payload).
 * On success *@out is a new buffer (free with g_free) of *@out_len bytes.
 * Never produces, or allocates for output, more than @max_out bytes plus
 * one 8 MiB LZ4 block: a stream that would decompress to more fails with
 * an error naming the limit, so hostile input cannot exhaust host memory.
 * Returns false with @errp set on unknown or unsupported formats,
 * truncated or corrupt data; *@out is then untouched.
 */
bool decompress_auto(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
                     size_t max_out, GError **errp);

#endif
