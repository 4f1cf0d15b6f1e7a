/*
 * net/offload.c: TCP segmentation and receive checksum checks, on frames
 * built here the way a guest driver hands them over (one super-frame with
 * the IP length of the whole) and on hostile ones (short, bad offsets).
 */
#include <string.h>
#include <glib.h>
#include "net/net.h"

#define ETH 14

typedef struct Seg {
    uint8_t buf[2048];
    size_t len;
} Seg;

typedef struct Sink {
    Seg seg[64];
    unsigned n;
} Sink;

static void collect(void *opaque, const uint8_t *p, size_t len)
{
    Sink *s = opaque;

    g_assert_cmpuint(s->n, <, G_N_ELEMENTS(s->seg));
    g_assert_cmpuint(len, <=, sizeof(s->seg[0].buf));
    memcpy(s->seg[s->n].buf, p, len);
    s->seg[s->n++].len = len;
}

static uint16_t get16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* An Ethernet + IPv4 (or IPv6) + TCP frame with @payload bytes i*7. */
static size_t make_tcp(uint8_t *f, bool ip6, size_t payload, uint8_t flags)
{
    size_t l3 = ETH, l4 = l3 + (ip6 ? 40 : 20), len = l4 + 20 + payload;

    memset(f, 0, len);
    memcpy(f, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\x12\x34\x57", 12);
    if (ip6) {
        f[12] = 0x86, f[13] = 0xdd;
        f[l3] = 0x60;
        f[l3 + 4] = (len - l3 - 40) >> 8, f[l3 + 5] = len - l3 - 40;
        f[l3 + 6] = 6;
        f[l3 + 7] = 64;
        f[l3 + 23] = 1;                  /* ::1 -> ::2 */
        f[l3 + 39] = 2;
    } else {
        f[12] = 0x08;
        f[l3] = 0x45;
        f[l3 + 2] = (len - l3) >> 8, f[l3 + 3] = len - l3;
        f[l3 + 4] = 0x12, f[l3 + 5] = 0x34;
        f[l3 + 6] = 0x40;                /* DF */
        f[l3 + 8] = 64;
        f[l3 + 9] = 6;
        memcpy(f + l3 + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
    }
    f[l4] = 0x9c, f[l4 + 1] = 0x40;      /* ports 40000 -> 80 */
    f[l4 + 3] = 80;
    memcpy(f + l4 + 4, "\xff\xff\xf0\x00", 4);   /* seq wraps mid-frame */
    f[l4 + 12] = 5 << 4;
    f[l4 + 13] = flags;
    f[l4 + 14] = 0xff, f[l4 + 15] = 0xff;
    for (size_t i = 0; i < payload; i++) {
        f[l4 + 20 + i] = (uint8_t)(i * 7);
    }
    return len;
}

static void check_segments(bool ip6)
{
    static uint8_t f[70000];
    size_t hdr = ETH + (ip6 ? 40 : 20) + 20, payload = 5000, mss = 1460;
    size_t len = make_tcp(f, ip6, payload, 0x18 | 0x80 | 0x01);  /* PSH ACK CWR FIN */
    Sink s = { .n = 0 };
    size_t got = 0;

    g_assert_cmpuint(net_segment(f, len, mss, collect, &s), ==, 4);
    g_assert_cmpuint(s.n, ==, 4);
    for (unsigned k = 0; k < s.n; k++) {
        const uint8_t *p = s.seg[k].buf;
        size_t n = s.seg[k].len - hdr, l4 = ETH + (ip6 ? 40 : 20);
        bool last = k == s.n - 1;

        g_assert_cmpuint(n, ==, last ? payload - 3 * mss : mss);
        g_assert_true(net_csum_valid(p, s.seg[k].len));
        g_assert_cmphex(get32(p + l4 + 4), ==, (uint32_t)(0xfffff000u + got));
        g_assert_cmphex(p[l4 + 13] & 0x09, ==, last ? 0x09 : 0);     /* FIN PSH */
        g_assert_cmphex(p[l4 + 13] & 0x80, ==, k == 0 ? 0x80 : 0);   /* CWR */
        if (ip6) {
            g_assert_cmpuint(get16(p + ETH + 4), ==, s.seg[k].len - ETH - 40);
        } else {
            g_assert_cmpuint(get16(p + ETH + 2), ==, s.seg[k].len - ETH);
            g_assert_cmphex(get16(p + ETH + 4), ==, 0x1234 + k);
        }
        g_assert_cmpmem(p + hdr, n, f + hdr + got, n);
        got += n;
    }
    g_assert_cmpuint(got, ==, payload);
}

static void test_segment_ipv4(void)
{
    check_segments(false);
}

static void test_segment_ipv6(void)
{
    check_segments(true);
}

/* The e1000 driver zeroes the IP length of a TSO frame: the frame's end counts. */
static void test_segment_zero_ip_length(void)
{
    static uint8_t f[8000];
    size_t len = make_tcp(f, false, 3000, 0x10);
    Sink s = { .n = 0 };

    f[ETH + 2] = f[ETH + 3] = 0;
    g_assert_cmpuint(net_segment(f, len, 1000, collect, &s), ==, 3);
    for (unsigned k = 0; k < s.n; k++) {
        g_assert_true(net_csum_valid(s.seg[k].buf, s.seg[k].len));
    }
}

static void test_segment_hostile(void)
{
    static uint8_t f[8000];
    size_t len = make_tcp(f, false, 3000, 0x10);
    Sink s = { .n = 0 };

    g_assert_cmpuint(net_segment(f, len, 0, collect, &s), ==, 0);         /* mss 0 */
    g_assert_cmpuint(net_segment(f, len, 70000, collect, &s), ==, 0);     /* huge mss */
    for (size_t cut = 0; cut < ETH + 40; cut++) {                        /* short */
        g_assert_cmpuint(net_segment(f, cut, 1000, collect, &s), ==, 0);
    }
    f[ETH + 20 + 12] = 15 << 4;          /* TCP header longer than the frame */
    g_assert_cmpuint(net_segment(f, ETH + 20 + 40, 1000, collect, &s), ==, 0);
    f[ETH + 20 + 12] = 5 << 4;
    f[ETH] = 0x4f;                       /* IP header of 60 bytes over TCP */
    g_assert_cmpuint(net_segment(f, ETH + 70, 1000, collect, &s), ==, 0);
    f[ETH] = 0x45;
    f[ETH + 9] = 1;                      /* ICMP */
    g_assert_cmpuint(net_segment(f, len, 1000, collect, &s), ==, 0);
    g_assert_cmpuint(s.n, ==, 0);
}

static void test_csum_valid(void)
{
    static uint8_t f[2000];
    size_t len = make_tcp(f, false, 100, 0x10);
    Sink s = { .n = 0 };

    /* A frame with right checksums: segment it whole (one segment). */
    g_assert_cmpuint(net_segment(f, len, 1460, collect, &s), ==, 1);
    g_assert_true(net_csum_valid(s.seg[0].buf, s.seg[0].len));
    s.seg[0].buf[len - 1] ^= 1;          /* payload */
    g_assert_false(net_csum_valid(s.seg[0].buf, s.seg[0].len));
    s.seg[0].buf[len - 1] ^= 1;
    s.seg[0].buf[ETH + 8] ^= 1;          /* IP header (TTL) */
    g_assert_false(net_csum_valid(s.seg[0].buf, s.seg[0].len));
    s.seg[0].buf[ETH + 8] ^= 1;
    g_assert_false(net_csum_valid(s.seg[0].buf, len - 1));   /* IP length beyond */
    s.seg[0].buf[ETH + 6] = 0x20;        /* a fragment: not checked here */
    g_assert_false(net_csum_valid(s.seg[0].buf, s.seg[0].len));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net/offload/segment-ipv4", test_segment_ipv4);
    g_test_add_func("/net/offload/segment-ipv6", test_segment_ipv6);
    g_test_add_func("/net/offload/segment-zero-ip-length", test_segment_zero_ip_length);
    g_test_add_func("/net/offload/segment-hostile", test_segment_hostile);
    g_test_add_func("/net/offload/csum-valid", test_csum_valid);
    return g_test_run();
}
