/*
 * I/O buses: one for port I/O (64 KiB) and one for MMIO. Devices map
 * ranges with an ops table; accelerators dispatch guest accesses here, so
 * devices never know which accelerator runs.
 *
 * Rules (tested in tests/unit/test-iobus.c):
 * - Ranges never overlap: iobus_map() refuses an overlapping range.
 * - The bus presents every access to the device with a size in
 *   [min_size, max_size], a power of two, naturally aligned at its offset.
 *   Larger accesses are split into little-endian pieces; an access smaller
 *   than min_size is widened to the aligned min_size unit around it: a read
 *   extracts the bytes asked for, a write carries the value shifted into
 *   place with the other bytes zero (no read-modify-write, as in QEMU).
 *   A misaligned access is carried out byte by byte.
 * - Bytes outside every range read as all-ones; writes to them are dropped
 *   and logged under -d guest_errors.
 * Callers hold the BQL; ops are called with it held.
 */
#ifndef HW_IOBUS_H
#define HW_IOBUS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct IoOps {
    /* Return the @size-byte value at @off within the range. */
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    /* Store the low @size bytes of @val at @off within the range. */
    void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
    uint8_t min_size, max_size;  /* 0 means 1 and 8 respectively */
} IoOps;

typedef struct IoBus IoBus;

/* @name appears in logs ("pio", "mmio"). */
IoBus *iobus_new(const char *name);
void iobus_free(IoBus *b);

/*
 * Map [@base, @base + @len) to @ops/@opaque. Returns false with @errp set
 * if @len is 0, the range wraps, or it overlaps a mapped range.
 */
bool iobus_map(IoBus *b, uint64_t base, uint64_t len, const IoOps *ops,
               void *opaque, GError **errp);
/* Remove the range that starts at @base; returns false if none does. */
bool iobus_unmap(IoBus *b, uint64_t base);

/* Guest access of @size (1, 2, 4 or 8) bytes at @addr. */
uint64_t iobus_read(IoBus *b, uint64_t addr, unsigned size);
void iobus_write(IoBus *b, uint64_t addr, uint64_t val, unsigned size);

/* Byte-buffer forms used by accelerators (KVM hands us byte arrays). */
void iobus_read_buf(IoBus *b, uint64_t addr, void *buf, unsigned size);
void iobus_write_buf(IoBus *b, uint64_t addr, const void *buf, unsigned size);

/* Call @fn for each mapped range in address order (for "info mtree"). */
void iobus_foreach(IoBus *b, void (*fn)(void *ctx, uint64_t base, uint64_t len,
                                        const IoOps *ops, void *opaque), void *ctx);

#endif
