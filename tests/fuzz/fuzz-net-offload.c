/*
 * libFuzzer harness for net/offload.c, which parses frames from the guest
 * (TSO requests of virtio-net and e1000) and from the network (checksum
 * checks, receive coalescing, ACK merging).
 *
 * Input: mss (2 bytes, little-endian), a cut byte, then frame bytes. The
 * whole frame is segmented; then the segments (valid frames of one flow,
 * in sequence: what the coalescer merges), the frame itself and pieces of
 * it cut where the cut byte says go through a coalescer as one burst.
 *
 * Invariants checked (besides ASan/UBSan): net_segment emits exactly the
 * segments net_segment_count announced, each at most headers + mss long,
 * each with valid IP/TCP/UDP checksums; every frame the coalescer merged
 * has valid checksums and fits NET_MAX_FRAME.
 *
 * Run (clang only; CI bounds it in time):
 *   CC=clang meson setup build-fuzz -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-net-offload
 *   build-fuzz/tests/fuzz/fuzz-net-offload -max_total_time=60
 */
#include <stdint.h>
#include <string.h>
#include <glib.h>
#include "net/net.h"

typedef struct SegCheck {
    size_t max_len;
    unsigned count;
    GPtrArray *segs;            /* GBytes copies, for the coalescer */
} SegCheck;

static void check_segment(void *opaque, const uint8_t *seg, size_t len)
{
    SegCheck *c = opaque;

    if (len > c->max_len || !net_csum_valid(seg, len)) {
        __builtin_trap();
    }
    c->count++;
    g_ptr_array_add(c->segs, g_bytes_new(seg, len));
}

static void check_merged(void *opaque, const uint8_t *frame, size_t len, const NetGso *gso)
{
    (void)opaque;
    if (gso && (len > NET_MAX_FRAME || !net_csum_valid(frame, len))) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *f = data + 3;
    size_t len, hdr = 0;
    unsigned mss, expect;
    NetCoalescer *co;

    if (size < 3 || size - 3 > NET_MAX_FRAME) {
        return 0;
    }
    mss = data[0] | data[1] << 8;
    len = size - 3;

    expect = net_segment_count(f, len, mss, &hdr);
    SegCheck c = { .max_len = hdr + mss, .count = 0,
                   .segs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref) };
    if (net_segment(f, len, mss, check_segment, &c) != expect || c.count != expect) {
        __builtin_trap();
    }

    co = net_coalesce_new(check_merged, NULL);
    for (unsigned i = 0; i < c.segs->len; i++) {
        gsize n;
        const uint8_t *p = g_bytes_get_data(c.segs->pdata[i], &n);
        net_coalesce_add(co, p, n);
    }
    g_ptr_array_free(c.segs, TRUE);
    net_coalesce_add(co, f, len);
    for (size_t off = 0, step = data[2] ? data[2] * 8u : len; off < len; off += step) {
        net_coalesce_add(co, f + off, MIN(step, len - off));
    }
    net_coalesce_add(co, f, len);
    net_coalesce_flush(co);
    net_coalesce_free(co);
    return 0;
}
