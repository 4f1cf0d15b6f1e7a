/*
 * I/O bus dispatch (include/hw/iobus.h): a sorted array of
 * non-overlapping ranges, found by binary search.
 */
#include <string.h>
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"

typedef struct IoRange {
    uint64_t base, len;      /* len > 0; base + len - 1 does not wrap */
    const IoOps *ops;
    void *opaque;
} IoRange;

struct IoBus {
    char *name;
    GArray *ranges;          /* of IoRange, sorted by base */
};

IoBus *iobus_new(const char *name)
{
    IoBus *b = g_new0(IoBus, 1);

    b->name = g_strdup(name);
    b->ranges = g_array_new(FALSE, FALSE, sizeof(IoRange));
    return b;
}

void iobus_free(IoBus *b)
{
    if (b) {
        g_array_free(b->ranges, TRUE);
        g_free(b->name);
        g_free(b);
    }
}

static uint64_t range_last(const IoRange *r)
{
    return r->base + (r->len - 1);
}

/* Index of the first range whose last byte is >= @addr. */
static guint lower_bound(IoBus *b, uint64_t addr)
{
    guint lo = 0, hi = b->ranges->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (range_last(&g_array_index(b->ranges, IoRange, mid)) < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static IoRange *find(IoBus *b, uint64_t addr)
{
    guint i = lower_bound(b, addr);

    if (i < b->ranges->len) {
        IoRange *r = &g_array_index(b->ranges, IoRange, i);
        if (r->base <= addr) {
            return r;
        }
    }
    return NULL;
}

bool iobus_map(IoBus *b, uint64_t base, uint64_t len, const IoOps *ops,
               void *opaque, GError **errp)
{
    IoRange r = { .base = base, .len = len, .ops = ops, .opaque = opaque };

    if (len == 0 || base + (len - 1) < base) {
        error_setg(errp, "%s: invalid range 0x%" G_GINT64_MODIFIER "x+0x%"
                   G_GINT64_MODIFIER "x", b->name, base, len);
        return false;
    }
    guint i = lower_bound(b, base);
    if (i < b->ranges->len) {
        IoRange *next = &g_array_index(b->ranges, IoRange, i);
        if (next->base <= range_last(&r)) {
            error_setg(errp, "%s: range 0x%" G_GINT64_MODIFIER "x-0x%"
                       G_GINT64_MODIFIER "x overlaps 0x%" G_GINT64_MODIFIER
                       "x-0x%" G_GINT64_MODIFIER "x", b->name, base,
                       range_last(&r), next->base, range_last(next));
            return false;
        }
    }
    g_array_insert_val(b->ranges, i, r);
    return true;
}

bool iobus_unmap(IoBus *b, uint64_t base)
{
    guint i = lower_bound(b, base);

    if (i < b->ranges->len && g_array_index(b->ranges, IoRange, i).base == base) {
        g_array_remove_index(b->ranges, i);
        return true;
    }
    return false;
}

static unsigned min_size(const IoOps *ops)
{
    return ops->min_size ? ops->min_size : 1;
}

static unsigned max_size(const IoOps *ops)
{
    return ops->max_size ? ops->max_size : 8;
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/*
 * One access of @size bytes at @off, entirely inside @r and aligned to
 * @size (size <= max). Widen to min_size when smaller.
 */
static uint64_t range_read(IoRange *r, uint64_t off, unsigned size)
{
    unsigned min = min_size(r->ops);

    if (size >= min) {
        return r->ops->read(r->opaque, off, size) & size_mask(size);
    }
    uint64_t aligned = off & ~(uint64_t)(min - 1);
    unsigned shift = (off - aligned) * 8;
    return (r->ops->read(r->opaque, aligned, min) >> shift) & size_mask(size);
}

static void range_write(IoRange *r, uint64_t off, uint64_t val, unsigned size)
{
    unsigned min = min_size(r->ops);

    val &= size_mask(size);
    if (size >= min) {
        r->ops->write(r->opaque, off, val, size);
        return;
    }
    uint64_t aligned = off & ~(uint64_t)(min - 1);
    r->ops->write(r->opaque, aligned, val << ((off - aligned) * 8), min);
}

/*
 * Split [addr, addr + size) into pieces each inside one range (or a hole)
 * with a device-acceptable size, and call @fn on each. Pieces are whole
 * when possible: the common case is a single call.
 */
typedef void (*PieceFn)(IoBus *b, IoRange *r, uint64_t addr, unsigned size,
                        unsigned shift, uint64_t *val);

static void for_each_piece(IoBus *b, uint64_t addr, unsigned size, uint64_t *val,
                           PieceFn fn)
{
    unsigned done = 0;

    while (done < size) {
        uint64_t a = addr + done;
        IoRange *r = find(b, a);
        unsigned left = size - done;
        unsigned piece;

        if (!r) {
            piece = 1;
        } else {
            uint64_t off = a - r->base;
            uint64_t room = r->len - off;
            piece = max_size(r->ops);
            while (piece > left || piece > room || (off & (piece - 1))) {
                piece >>= 1;
            }
            if (piece == 0) {
                piece = 1;
            }
        }
        fn(b, r, a, piece, done * 8, val);
        done += piece;
    }
}

static void read_piece(IoBus *b, IoRange *r, uint64_t addr, unsigned size,
                       unsigned shift, uint64_t *val)
{
    (void)b;
    uint64_t v = r ? range_read(r, addr - r->base, size) : size_mask(size);
    *val |= v << shift;
}

static void write_piece(IoBus *b, IoRange *r, uint64_t addr, unsigned size,
                        unsigned shift, uint64_t *val)
{
    uint64_t v = (*val >> shift) & size_mask(size);

    if (r) {
        range_write(r, addr - r->base, v, size);
    } else {
        log_guest_error("%s: write of 0x%" G_GINT64_MODIFIER "x to unmapped "
                        "address 0x%" G_GINT64_MODIFIER "x (size %u)",
                        b->name, v, addr, size);
    }
}

uint64_t iobus_read(IoBus *b, uint64_t addr, unsigned size)
{
    uint64_t val = 0;
    IoRange *r = find(b, addr);

    /* Fast path: one aligned access the device takes as it is. */
    if (r && size <= max_size(r->ops) && size >= min_size(r->ops) &&
        size <= r->len && addr - r->base <= r->len - size &&
        !((addr - r->base) & (size - 1))) {
        return r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
    }
    for_each_piece(b, addr, size, &val, read_piece);
    if (!r && !find(b, addr + size - 1)) {
        log_guest_error("%s: read of unmapped address 0x%" G_GINT64_MODIFIER
                        "x (size %u)", b->name, addr, size);
    }
    return val;
}

void iobus_write(IoBus *b, uint64_t addr, uint64_t val, unsigned size)
{
    for_each_piece(b, addr, size, &val, write_piece);
}

void iobus_read_buf(IoBus *b, uint64_t addr, void *buf, unsigned size)
{
    uint64_t v = iobus_read(b, addr, size);

    /* x86 hosts only: the value's bytes are already little-endian. */
    memcpy(buf, &v, size);
}

void iobus_write_buf(IoBus *b, uint64_t addr, const void *buf, unsigned size)
{
    uint64_t v = 0;

    memcpy(&v, buf, size);
    iobus_write(b, addr, v, size);
}

void iobus_foreach(IoBus *b, void (*fn)(void *ctx, uint64_t base, uint64_t len,
                                        const IoOps *ops, void *opaque), void *ctx)
{
    for (guint i = 0; i < b->ranges->len; i++) {
        IoRange *r = &g_array_index(b->ranges, IoRange, i);
        fn(ctx, r->base, r->len, r->ops, r->opaque);
    }
}
