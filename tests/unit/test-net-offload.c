/*
 * net/offload.c: TCP segmentation and receive checksum checks, on frames
 * built here the way a guest driver hands them over (one super-frame with
 * the IP length of the whole) and on hostile ones (short, bad offsets);
 * receive coalescing (NetCoalescer) of segment streams as slirp emits
 * them; net_send_gso's delivery and fallback (net/net.c).
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
    size_t got = 0, counted_hdr = 0;

    g_assert_cmpuint(net_segment_count(f, len, mss, &counted_hdr), ==, 4);
    g_assert_cmpuint(counted_hdr, ==, hdr);
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
    g_assert_cmpuint(net_segment_count(f, len, 0, NULL), ==, 0);
    g_assert_cmpuint(net_segment(f, len, 70000, collect, &s), ==, 0);     /* huge mss */
    g_assert_cmpuint(net_segment_count(f, len, 70000, NULL), ==, 0);
    for (size_t cut = 0; cut < ETH + 40; cut++) {                        /* short */
        g_assert_cmpuint(net_segment(f, cut, 1000, collect, &s), ==, 0);
        g_assert_cmpuint(net_segment_count(f, cut, 1000, NULL), ==, 0);
    }
    g_assert_cmpuint(net_segment_count(f, ETH + 40, 1000, NULL), ==, 1);  /* no payload */
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

/* ---- Receive coalescing ---- */

/* What a NetCoalescer emitted, in order. */
typedef struct Out {
    GBytes *frame;
    NetGso gso;                      /* mss 0: plain */
} Out;

typedef struct Emitted {
    GArray *out;                     /* of Out */
} Emitted;

static void on_emit(void *opaque, const uint8_t *f, size_t len, const NetGso *gso)
{
    Emitted *e = opaque;
    Out o = { g_bytes_new(f, len), gso ? *gso : (NetGso){ 0 } };

    g_array_append_val(e->out, o);
}

static void emitted_clear(Emitted *e)
{
    for (guint i = 0; i < e->out->len; i++) {
        g_bytes_unref(g_array_index(e->out, Out, i).frame);
    }
    g_array_set_size(e->out, 0);
}

static const uint8_t *out_data(Emitted *e, guint i, size_t *len)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(g_array_index(e->out, Out, i).frame, &n);

    *len = n;
    return d;
}

/*
 * Fill in @f's IP length, IPv4 header checksum and TCP checksum, computed
 * here independently of net/offload.c.
 */
static void seal(uint8_t *f, size_t len, bool ip6)
{
    size_t l3 = ETH, l4 = l3 + (ip6 ? 40 : 20), n = len - l4;
    uint32_t sum = 6 + (uint32_t)n;
    const uint8_t *a = f + l3 + (ip6 ? 8 : 12);

    if (ip6) {
        f[l3 + 4] = (len - l4) >> 8, f[l3 + 5] = len - l4;
    } else {
        f[l3 + 2] = (len - l3) >> 8, f[l3 + 3] = len - l3;
        f[l3 + 10] = f[l3 + 11] = 0;
        uint16_t c = net_checksum(f + l3, 20, 0);
        f[l3 + 10] = c >> 8, f[l3 + 11] = c;
    }
    for (size_t i = 0; i < (ip6 ? 32u : 8u); i += 2) {
        sum += get16(a + i);
    }
    f[l4 + 16] = f[l4 + 17] = 0;
    uint16_t c = net_checksum(f + l4, n, sum);
    f[l4 + 16] = c >> 8, f[l4 + 17] = c;
}

/*
 * A sealed data segment of @n payload bytes at sequence @seq (payload byte
 * k of the stream is (seq + k) * 13), ack @ack, window @win, flags @flags.
 */
static size_t make_seg(uint8_t *f, bool ip6, uint32_t seq, size_t n, uint8_t flags,
                       uint32_t ack, uint16_t win)
{
    size_t len = make_tcp(f, ip6, n, flags), l4 = ETH + (ip6 ? 40 : 20);

    f[l4 + 4] = seq >> 24, f[l4 + 5] = seq >> 16, f[l4 + 6] = seq >> 8, f[l4 + 7] = seq;
    f[l4 + 8] = ack >> 24, f[l4 + 9] = ack >> 16, f[l4 + 10] = ack >> 8, f[l4 + 11] = ack;
    f[l4 + 14] = win >> 8, f[l4 + 15] = win;
    for (size_t k = 0; k < n; k++) {
        f[l4 + 20 + k] = (uint8_t)((seq + k) * 13);
    }
    seal(f, len, ip6);
    return len;
}

/* Check that output @i is a merged frame of @payload bytes from @seq. */
static void check_merged(Emitted *e, guint i, bool ip6, uint32_t seq, size_t payload,
                         unsigned mss)
{
    size_t len, l4 = ETH + (ip6 ? 40 : 20), hdr = l4 + 20;
    const uint8_t *p = out_data(e, i, &len);
    const Out *o = &g_array_index(e->out, Out, i);

    g_assert_cmpuint(o->gso.mss, ==, mss);
    g_assert_cmpuint(o->gso.hdr_len, ==, hdr);
    g_assert_cmpint(o->gso.ip6, ==, ip6);
    g_assert_cmpuint(len, ==, hdr + payload);
    g_assert_true(net_csum_valid(p, len));
    if (ip6) {
        g_assert_cmpuint(get16(p + ETH + 4), ==, len - l4);
    } else {
        g_assert_cmpuint(get16(p + ETH + 2), ==, len - ETH);
    }
    g_assert_cmphex(get32(p + l4 + 4), ==, seq);
    for (size_t k = 0; k < payload; k++) {
        g_assert_cmphex(p[hdr + k], ==, (uint8_t)((seq + k) * 13));
    }
}

static void check_merge(bool ip6)
{
    static uint8_t f[2048];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    size_t l4 = ETH + (ip6 ? 40 : 20), len, got;
    uint32_t seq = 0xfffffc00u;          /* wraps inside the merge */
    const uint8_t *p;

    /* Odd-sized segments put payloads at odd offsets; the last is short. */
    for (int k = 0; k < 4; k++) {
        size_t n = k < 3 ? 999 : 500;
        len = make_seg(f, ip6, seq, n, k == 3 ? 0x18 : 0x10, 1000 + k, 500 + k);
        net_coalesce_add(c, f, len);
        seq += n;
    }
    g_assert_cmpuint(e.out->len, ==, 0);             /* held until flushed */
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 1);
    check_merged(&e, 0, ip6, 0xfffffc00u, 3 * 999 + 500, 999);
    p = out_data(&e, 0, &got);
    g_assert_cmphex(p[l4 + 13], ==, 0x18);          /* PSH of the last */
    g_assert_cmpuint(get32(p + l4 + 8), ==, 1003);   /* the newest ack */
    g_assert_cmpuint(get16(p + l4 + 14), ==, 503);   /* and window */
    if (!ip6) {
        g_assert_cmphex(get16(p + ETH + 4), ==, 0x1234);   /* the first id */
    }
    /* A lone segment comes out unchanged, as a plain frame. */
    emitted_clear(&e);
    len = make_seg(f, ip6, seq, 100, 0x10, 2000, 500);
    net_coalesce_add(c, f, len);
    net_coalesce_flush(c);
    net_coalesce_flush(c);                           /* nothing left */
    g_assert_cmpuint(e.out->len, ==, 1);
    p = out_data(&e, 0, &got);
    g_assert_cmpuint(g_array_index(e.out, Out, 0).gso.mss, ==, 0);
    g_assert_cmpmem(p, got, f, len);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

static void test_coalesce_ipv4(void)
{
    check_merge(false);
}

static void test_coalesce_ipv6(void)
{
    check_merge(true);
}

/*
 * Whatever breaks a merge flushes the pending frame first: the output
 * keeps the input's order, and frames that cannot merge pass unchanged.
 */
static void test_coalesce_breaks(void)
{
    static uint8_t f[2048], a[2048];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    size_t len, alen, got;
    const uint8_t *p;

    /* 1. two in order, 2. a gap, 3. the same flow continued by the gap's. */
    net_coalesce_add(c, f, make_seg(f, false, 0, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 1000, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 3000, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 4000, 1000, 0x10, 1, 9));
    /* An ack behind the pending one: no merge. */
    net_coalesce_add(c, f, make_seg(f, false, 5000, 1000, 0x10, 0, 9));
    /* A FIN: passes through unchanged, after the pending frame. */
    alen = make_seg(a, false, 6000, 10, 0x11, 1, 9);
    net_coalesce_add(c, a, alen);
    g_assert_cmpuint(e.out->len, ==, 4);
    check_merged(&e, 0, false, 0, 2000, 1000);
    check_merged(&e, 1, false, 3000, 2000, 1000);
    g_assert_cmpuint(g_array_index(e.out, Out, 2).gso.mss, ==, 0);
    p = out_data(&e, 3, &got);
    g_assert_cmpmem(p, got, a, alen);
    emitted_clear(&e);

    /* Another flow (port), a bigger segment, other IP fields, options. */
    net_coalesce_add(c, f, make_seg(f, false, 0, 1000, 0x10, 1, 9));
    len = make_seg(f, false, 1000, 1000, 0x10, 1, 9);
    f[ETH + 20 + 1] ^= 1;
    seal(f, len, false);
    net_coalesce_add(c, f, len);                     /* other source port */
    net_coalesce_add(c, f, make_seg(f, false, 1000, 1001, 0x10, 1, 9));  /* > mss */
    len = make_seg(f, false, 2001, 1001, 0x10, 1, 9);
    f[ETH + 8] = 1;                                  /* TTL */
    seal(f, len, false);
    net_coalesce_add(c, f, len);
    len = make_seg(f, false, 3002, 1001, 0x10, 1, 9);
    f[ETH + 1] = 0x03;                               /* ECN CE */
    seal(f, len, false);
    net_coalesce_add(c, f, len);
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 5);
    for (guint i = 0; i < e.out->len; i++) {
        g_assert_cmpuint(g_array_index(e.out, Out, i).gso.mss, ==, 0);
    }
    emitted_clear(&e);

    /* Flags other than ACK/PSH never merge; a pure ACK neither. */
    static const uint8_t flags[] = { 0x02, 0x04, 0x12, 0x30, 0x50, 0x90, 0x00 };
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++) {
        net_coalesce_add(c, f, make_seg(f, false, 0, 100, flags[i], 1, 9));
        net_coalesce_add(c, f, make_seg(f, false, 100, 100, flags[i], 1, 9));
    }
    net_coalesce_add(c, f, make_seg(f, false, 0, 0, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 0, 0, 0x10, 1, 9));
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 2 * G_N_ELEMENTS(flags) + 2);
    for (guint i = 0; i < e.out->len; i++) {
        g_assert_cmpuint(g_array_index(e.out, Out, i).gso.mss, ==, 0);
    }
    emitted_clear(&e);

    /* A PSH segment ends a merge: the next one starts a new frame. */
    net_coalesce_add(c, f, make_seg(f, false, 0, 100, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 100, 100, 0x18, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 200, 100, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 300, 100, 0x10, 1, 9));
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 2);
    check_merged(&e, 0, false, 0, 200, 100);
    check_merged(&e, 1, false, 200, 200, 100);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

/* 64 KiB is the limit: a long run splits into frames that stay under it. */
static void test_coalesce_limit(void)
{
    static uint8_t f[2048];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    uint32_t seq = 7;
    size_t total = 0, len;

    for (int k = 0; k < 100; k++) {
        net_coalesce_add(c, f, make_seg(f, false, seq, 1460, 0x10, 1, 9));
        seq += 1460;
    }
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 3);             /* 44 + 44 + 12 segments */
    seq = 7;
    for (guint i = 0; i < e.out->len; i++) {
        out_data(&e, i, &len);
        g_assert_cmpuint(len, <=, NET_MAX_FRAME);
        g_assert_cmpuint(len - ETH, <=, 65535);
        check_merged(&e, i, false, seq, len - 54, 1460);
        seq += len - 54;
        total += len - 54;
    }
    g_assert_cmpuint(total, ==, 100 * 1460);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

/*
 * Hostile and damaged frames among good ones: never a crash, the damaged
 * ones come out unchanged and in order, merged frames are always sound.
 */
static void test_coalesce_hostile(void)
{
    static uint8_t f[2048], in[400][2048];
    size_t inlen[400];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    GRand *r = g_rand_new_with_seed(4);
    size_t len, l = 0;
    guint next = 0;
    uint8_t *big;

    /* Every truncation of a good segment (length fields then lie). */
    len = make_seg(f, false, 0, 300, 0x10, 1, 9);
    for (size_t cut = 0; cut < len; cut++) {
        net_coalesce_add(c, f, cut);
    }
    big = g_malloc0(NET_MAX_FRAME + 1);
    memcpy(big, f, len);
    net_coalesce_add(c, big, NET_MAX_FRAME + 1);     /* oversized: passed on */
    g_free(big);
    g_assert_cmpuint(e.out->len, ==, len + 1);
    for (guint i = 0; i < len; i++) {
        const uint8_t *p = out_data(&e, i, &l);
        g_assert_cmpuint(l, ==, i);
        g_assert_cmpmem(p, l, f, i);
        g_assert_cmpuint(g_array_index(e.out, Out, i).gso.mss, ==, 0);
    }
    emitted_clear(&e);

    /* A stream with one random byte changed in some segments. */
    uint32_t seq = 0;
    for (int k = 0; k < 400; k++) {
        bool ip6 = k >= 200;
        inlen[k] = make_seg(in[k], ip6, seq, 200, 0x10, 1, 9);
        seq += 200;
        if (g_rand_int_range(r, 0, 4) == 0) {
            in[k][g_rand_int_range(r, 0, inlen[k])] ^= 1u << g_rand_int_range(r, 0, 8);
        }
        net_coalesce_add(c, in[k], inlen[k]);
    }
    net_coalesce_flush(c);
    /* Each output is an input unchanged or a sound merge of several. */
    for (guint i = 0; i < e.out->len; i++) {
        const Out *o = &g_array_index(e.out, Out, i);
        const uint8_t *p = out_data(&e, i, &l);
        g_assert_cmpuint(next, <, 400);
        if (o->gso.mss == 0) {
            g_assert_cmpmem(p, l, in[next], inlen[next]);
            next++;
        } else {
            g_assert_true(net_csum_valid(p, l));
            g_assert_cmpuint((l - o->gso.hdr_len) % 200, ==, 0);
            next += (l - o->gso.hdr_len) / 200;
        }
    }
    g_assert_cmpuint(next, ==, 400);
    emitted_clear(&e);
    g_rand_free(r);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

/*
 * A sealed pure ACK (or, with @flags, another bare segment) of flow
 * 40000 -> 80 + @port_delta, sequence 5000, ack @ack, window @win; with
 * @opt, four bytes of TCP options, all @opt.
 */
static size_t make_ack(uint8_t *f, bool ip6, uint8_t flags, uint32_t ack, uint16_t win,
                       unsigned port_delta, uint8_t opt)
{
    size_t l4 = ETH + (ip6 ? 40 : 20), len = make_seg(f, ip6, 5000, opt ? 4 : 0, flags, ack, win);

    f[l4 + 3] += port_delta;
    if (opt) {
        f[l4 + 12] = 6 << 4;
        memset(f + l4 + 20, opt, 4);
    }
    seal(f, len, ip6);
    return len;
}

/* Check that output @i is @want (@want_len bytes) unchanged, as a plain frame. */
static void check_out(Emitted *e, guint i, const uint8_t *want, size_t want_len)
{
    size_t len;
    const uint8_t *p = out_data(e, i, &len);

    g_assert_cmpuint(g_array_index(e->out, Out, i).gso.mss, ==, 0);
    g_assert_cmpmem(p, len, want, want_len);
}

/* A run of pure ACKs with rising ack numbers leaves only the last. */
static void check_ack_run(bool ip6)
{
    static uint8_t f[2048];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    size_t len = 0;

    for (unsigned k = 0; k < 20; k++) {
        /* The ack wraps past 2^32 inside the run; the window moves both ways. */
        len = make_ack(f, ip6, 0x10, 0xffff0000u + k * 2920, 1000 + (k % 3) * 100, 0, 0);
        net_coalesce_add(c, f, len);
    }
    g_assert_cmpuint(e.out->len, ==, 0);             /* held until flushed */
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 1);
    check_out(&e, 0, f, len);                        /* the last, unchanged */
    emitted_clear(&e);

    /* The same options merge as well. */
    net_coalesce_add(c, f, make_ack(f, ip6, 0x10, 100, 9, 0, 1));
    len = make_ack(f, ip6, 0x10, 200, 9, 0, 1);
    net_coalesce_add(c, f, len);
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 1);
    check_out(&e, 0, f, len);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

static void test_coalesce_acks_ipv4(void)
{
    check_ack_run(false);
}

static void test_coalesce_acks_ipv6(void)
{
    check_ack_run(true);
}

/*
 * ACKs that must not replace the pending one: a duplicate (a loss
 * signal), one behind, a window update with the same ack, another flow,
 * other options, other flags, data, a damaged one. Each flushes the
 * pending ACK first and everything comes out unchanged, in order.
 */
static void test_coalesce_acks_kept(void)
{
    static uint8_t in[32][2048];
    size_t inlen[32];
    unsigned n = 0;
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    static const uint8_t flags[] = { 0x11, 0x12, 0x14, 0x18, 0x30, 0x50, 0x90 };

#define IN(expr) (inlen[n] = (expr), net_coalesce_add(c, in[n], inlen[n]), n++)
    IN(make_ack(in[n], false, 0x10, 1000, 9, 0, 0));
    IN(make_ack(in[n], false, 0x10, 1000, 9, 0, 0));      /* dupack */
    IN(make_ack(in[n], false, 0x10, 1000, 9, 0, 0));      /* and another */
    IN(make_ack(in[n], false, 0x10, 999, 9, 0, 0));       /* behind */
    IN(make_ack(in[n], false, 0x10, 999, 10, 0, 0));      /* window update */
    IN(make_ack(in[n], false, 0x10, 2000, 10, 1, 0));     /* other port */
    IN(make_ack(in[n], false, 0x10, 3000, 10, 1, 2));     /* options appear */
    IN(make_ack(in[n], false, 0x10, 4000, 10, 1, 3));     /* other options */
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++) {
        IN(make_ack(in[n], false, flags[i], 5000 + i, 10, 1, 0));
    }
    IN(make_ack(in[n], false, 0x10, 6000, 10, 1, 0));
    IN(make_seg(in[n], false, 5000, 100, 0x10, 6001, 10)); /* data, same seq */
    IN(make_ack(in[n], false, 0x10, 7000, 10, 0, 0));
    IN(make_ack(in[n], true, 0x10, 8000, 10, 0, 0));       /* IPv6, same ports */
    IN(make_ack(in[n], false, 0x10, 9000, 10, 0, 0));
    inlen[n] = make_ack(in[n], false, 0x10, 10000, 10, 0, 0);
    in[n][inlen[n] - 1] ^= 0x40;                           /* damaged checksum */
    IN(inlen[n]);
#undef IN
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, n);
    for (unsigned i = 0; i < n; i++) {
        check_out(&e, i, in[i], inlen[i]);
    }
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

/*
 * ACKs between data segments of the other direction's flow (as slirp
 * emits them while it both sends and receives): data merges, ACK runs
 * shrink to their last, and the order of the whole is kept.
 */
static void test_coalesce_acks_interleaved(void)
{
    static uint8_t f[2048], ack2[2048], ack4[2048];
    size_t len2 = 0, len4 = 0;
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);

    net_coalesce_add(c, f, make_seg(f, false, 0, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 1000, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_ack(f, false, 0x10, 100, 9, 1, 0));
    len2 = make_ack(ack2, false, 0x10, 200, 9, 1, 0);
    net_coalesce_add(c, ack2, len2);
    net_coalesce_add(c, f, make_seg(f, false, 2000, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_seg(f, false, 3000, 1000, 0x10, 1, 9));
    net_coalesce_add(c, f, make_ack(f, false, 0x10, 300, 9, 1, 0));
    len4 = make_ack(ack4, false, 0x10, 400, 9, 1, 0);
    net_coalesce_add(c, ack4, len4);
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 4);
    check_merged(&e, 0, false, 0, 2000, 1000);
    check_out(&e, 1, ack2, len2);
    check_merged(&e, 2, false, 2000, 2000, 1000);
    check_out(&e, 3, ack4, len4);
    emitted_clear(&e);

    /* A flush ends a run: the next batch's ACK does not reach back. */
    net_coalesce_add(c, f, make_ack(f, false, 0x10, 500, 9, 1, 0));
    net_coalesce_flush(c);
    net_coalesce_add(c, f, make_ack(f, false, 0x10, 600, 9, 1, 0));
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 2);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

/* ---- net_send_gso (net/net.c) ---- */

typedef struct Peer {
    NetClient *nc;
    bool gso, open;
    GArray *got;                     /* of Out */
} Peer;

static void peer_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    Peer *p = nc->opaque;
    Out o = { g_bytes_new(buf, len), { 0 } };

    g_array_append_val(p->got, o);
}

static void peer_receive_gso(NetClient *nc, const uint8_t *buf, size_t len, const NetGso *gso)
{
    Peer *p = nc->opaque;
    Out o = { g_bytes_new(buf, len), *gso };

    g_assert_true(p->gso);
    g_array_append_val(p->got, o);
}

static bool peer_gso_ok(NetClient *nc, const NetGso *gso)
{
    Peer *p = nc->opaque;

    (void)gso;
    return p->gso;
}

static bool peer_can_receive(NetClient *nc)
{
    return ((Peer *)nc->opaque)->open;
}

static const NetClientOps gso_peer_ops = {
    .type = "test", .receive = peer_receive, .receive_gso = peer_receive_gso,
    .gso_ok = peer_gso_ok, .can_receive = peer_can_receive,
};
static const NetClientOps plain_peer_ops = { .type = "test", .receive = peer_receive };
static const NetClientOps src_ops = { .type = "test", .receive = peer_receive };

static void test_send_gso(void)
{
    static uint8_t f[2048];
    Emitted e = { g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetCoalescer *c = net_coalesce_new(on_emit, &e);
    Peer pg = { .gso = true, .open = true, .got = g_array_new(FALSE, FALSE, sizeof(Out)) };
    Peer pp = { .got = g_array_new(FALSE, FALSE, sizeof(Out)) };
    NetClient *a = net_client_new(&src_ops, "a", NULL);
    NetClient *b = net_client_new(&src_ops, "b", NULL);
    const Out *big;
    size_t len;

    pg.nc = net_client_new(&gso_peer_ops, "gso", &pg);
    pp.nc = net_client_new(&plain_peer_ops, "plain", &pp);
    g_assert_true(net_client_connect(a, pg.nc, NULL));
    g_assert_true(net_client_connect(b, pp.nc, NULL));
    for (int k = 0; k < 10; k++) {
        net_coalesce_add(c, f, make_seg(f, false, k * 1000, 1000, 0x10, 1, 9));
    }
    net_coalesce_flush(c);
    g_assert_cmpuint(e.out->len, ==, 1);
    big = &g_array_index(e.out, Out, 0);
    const uint8_t *d = g_bytes_get_data(big->frame, &len);

    /* A GSO peer gets one frame with its metadata. */
    g_assert_true(net_peer_gso_ok(a, &big->gso));
    g_assert_true(net_send_gso(a, d, len, &big->gso));
    g_assert_cmpuint(pg.got->len, ==, 1);
    g_assert_cmpuint(g_array_index(pg.got, Out, 0).gso.mss, ==, 1000);
    /* A plain peer gets the segments. */
    g_assert_false(net_peer_gso_ok(b, &big->gso));
    g_assert_true(net_send_gso(b, d, len, &big->gso));
    g_assert_cmpuint(pp.got->len, ==, 10);
    for (guint i = 0; i < 10; i++) {
        gsize n;
        const uint8_t *s = g_bytes_get_data(g_array_index(pp.got, Out, i).frame, &n);
        g_assert_cmpuint(n, ==, 1054);
        g_assert_true(net_csum_valid(s, n));
        g_assert_cmphex(get32(s + ETH + 20 + 4), ==, i * 1000);
    }
    /* Queued while the peer took GSO, delivered after it stopped: segments,
     * in their place between the frames around them. */
    pg.open = false;
    g_assert_true(net_send(a, f, 60));
    g_assert_true(net_send_gso(a, d, len, &big->gso));
    g_assert_true(net_send(a, f, 61));
    pg.gso = false;
    pg.open = true;
    net_client_ready(pg.nc);
    g_assert_cmpuint(pg.got->len, ==, 1 + 1 + 10 + 1);
    g_assert_cmpuint(g_bytes_get_size(g_array_index(pg.got, Out, 1).frame), ==, 60);
    g_assert_cmpuint(g_bytes_get_size(g_array_index(pg.got, Out, 2).frame), ==, 1054);
    g_assert_cmpuint(g_bytes_get_size(g_array_index(pg.got, Out, 12).frame), ==, 61);
    /* And while it still takes GSO: one frame again. */
    pg.open = false;
    pg.gso = true;
    g_assert_true(net_send_gso(a, d, len, &big->gso));
    pg.open = true;
    net_client_ready(pg.nc);
    g_assert_cmpuint(pg.got->len, ==, 14);
    g_assert_cmpuint(g_array_index(pg.got, Out, 13).gso.mss, ==, 1000);

    /* Beyond NET_MAX_FRAME (a guest's VLAN-tagged request can be): even a
     * GSO peer gets segments, 45 of 1460 bytes and the rest. */
    uint8_t *huge = g_malloc(NET_MAX_FRAME + 100);
    size_t hlen = make_tcp(huge, false, NET_MAX_FRAME + 100 - 54, 0x10);
    NetGso hg = { .mss = 1460, .hdr_len = 54 };
    g_assert_true(net_send_gso(a, huge, hlen, &hg));
    g_assert_cmpuint(pg.got->len, ==, 14 + 45);
    for (guint i = 14; i < pg.got->len; i++) {
        gsize n;
        const uint8_t *seg = g_bytes_get_data(g_array_index(pg.got, Out, i).frame, &n);
        g_assert_cmpuint(g_array_index(pg.got, Out, i).gso.mss, ==, 0);
        g_assert_true(net_csum_valid(seg, n));
    }
    g_free(huge);

    for (GArray *arr = pg.got; arr; arr = arr == pg.got ? pp.got : NULL) {
        for (guint i = 0; i < arr->len; i++) {
            g_bytes_unref(g_array_index(arr, Out, i).frame);
        }
        g_array_free(arr, TRUE);
    }
    net_client_free(a);
    net_client_free(b);
    net_client_free(pg.nc);
    net_client_free(pp.nc);
    emitted_clear(&e);
    g_array_free(e.out, TRUE);
    net_coalesce_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net/offload/segment-ipv4", test_segment_ipv4);
    g_test_add_func("/net/offload/segment-ipv6", test_segment_ipv6);
    g_test_add_func("/net/offload/segment-zero-ip-length", test_segment_zero_ip_length);
    g_test_add_func("/net/offload/segment-hostile", test_segment_hostile);
    g_test_add_func("/net/offload/csum-valid", test_csum_valid);
    g_test_add_func("/net/offload/coalesce-ipv4", test_coalesce_ipv4);
    g_test_add_func("/net/offload/coalesce-ipv6", test_coalesce_ipv6);
    g_test_add_func("/net/offload/coalesce-breaks", test_coalesce_breaks);
    g_test_add_func("/net/offload/coalesce-limit", test_coalesce_limit);
    g_test_add_func("/net/offload/coalesce-hostile", test_coalesce_hostile);
    g_test_add_func("/net/offload/coalesce-acks-ipv4", test_coalesce_acks_ipv4);
    g_test_add_func("/net/offload/coalesce-acks-ipv6", test_coalesce_acks_ipv6);
    g_test_add_func("/net/offload/coalesce-acks-kept", test_coalesce_acks_kept);
    g_test_add_func("/net/offload/coalesce-acks-interleaved", test_coalesce_acks_interleaved);
    g_test_add_func("/net/offload/send-gso", test_send_gso);
    return g_test_run();
}
