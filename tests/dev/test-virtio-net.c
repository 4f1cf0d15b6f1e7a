/*
 * virtio-net on fake virtqueues (virtio-fake.h) with a test back end:
 * transmit (with checksum completion), receive into mergeable and plain
 * buffers, backpressure while the guest has no buffers, hostile buffers,
 * receive of GSO frames (GUEST_TSO4/6) and their segmentation when the
 * guest cannot take them; transmit of TSO frames (HOST_TSO4/6), whole to
 * a back end that takes them, as segments to one that does not.
 */
#include <string.h>
#include <glib.h>
#include "hw/device.h"
#include "hw/net/nic.h"
#include "net/net.h"
#include "system/machine.h"
#include "virtio-fake.h"

#define F_MRG_RXBUF (1ull << 15)
#define F_GUEST_TSO4 (1ull << 7)
#define F_GUEST_TSO6 (1ull << 8)
#define HDR 12

typedef struct Fixture {
    Machine *m;
    VirtioDevice *vd;
    NetClient *be;
    GPtrArray *sent;
    GArray *sent_gso;                /* NetGso of each of sent (mss 0: plain) */
} Fixture;

static void be_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    Fixture *f = nc->opaque;

    NetGso none = { 0 };

    g_ptr_array_add(f->sent, g_bytes_new(buf, len));
    g_array_append_val(f->sent_gso, none);
}

static void be_receive_gso(NetClient *nc, const uint8_t *buf, size_t len, const NetGso *gso)
{
    Fixture *f = nc->opaque;

    g_ptr_array_add(f->sent, g_bytes_new(buf, len));
    g_array_append_val(f->sent_gso, *gso);
}

static bool be_gso_ok(NetClient *nc, const NetGso *gso)
{
    (void)nc;
    (void)gso;
    return true;
}

static const NetClientOps be_ops = { .type = "test", .receive = be_receive };
/* A back end like slirp that cuts a NIC's TSO frames itself. */
static const NetClientOps be_gso_ops = {
    .type = "test", .receive = be_receive, .receive_gso = be_receive_gso, .gso_ok = be_gso_ok,
};

static void setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse("netdev=be0,mac=52:54:00:01:02:03", NULL, &err);

    (void)data;
    f->m = g_new0(Machine, 1);
    f->m->pio = iobus_new("pio");
    f->m->mmio = iobus_new("mmio");
    f->sent = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    f->sent_gso = g_array_new(FALSE, FALSE, sizeof(NetGso));
    f->be = net_client_new(&be_ops, "be0", f);
    net_backend_register(f->be);
    g_assert_true(virtio_net_pci_type.create(f->m, o, &err));
    g_assert_no_error(err);
    g_assert_true(opts_check_all_used(o, "virtio-net-pci", NULL));
    opts_free(o);
    f->vd = fake_last_vd;
    g_assert_nonnull(f->vd);
}

static void teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    devices_free(f->m);
    net_backends_free();
    iobus_free(f->m->pio);
    iobus_free(f->m->mmio);
    g_free(f->m);
    g_ptr_array_free(f->sent, TRUE);
    g_array_free(f->sent_gso, TRUE);
}

static VirtQueue *rxq(Fixture *f)
{
    return virtio_queue(f->vd, 0);
}

static VirtQueue *txq(Fixture *f)
{
    return virtio_queue(f->vd, 1);
}

static void test_config(Fixture *f, gconstpointer data)
{
    uint8_t cfg[10];
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };

    (void)data;
    g_assert_cmpuint(f->vd->ops->device_id, ==, 1);
    g_assert_cmpuint(f->vd->ops->num_queues, ==, 2);
    g_assert_true(f->vd->ops->features & (1ull << 5));      /* MAC */
    g_assert_true(f->vd->ops->features & (1ull << 16));     /* STATUS */
    g_assert_true(f->vd->ops->features & F_MRG_RXBUF);
    g_assert_cmpuint(f->vd->ops->config_size, >=, 8);
    f->vd->ops->get_config(f->vd, cfg);
    g_assert_cmpmem(cfg, 6, mac, 6);
    g_assert_cmpuint(cfg[6] | cfg[7] << 8, ==, 1);          /* LINK_UP */
}

static void test_tx(Fixture *f, gconstpointer data)
{
    uint8_t hdr[HDR] = { 0 }, frame[60];
    struct iovec out[2] = { { hdr, HDR }, { frame, sizeof(frame) } };
    gsize len;

    (void)data;
    fake_driver_ok(f->vd);
    for (int i = 0; i < 60; i++) {
        frame[i] = i;
    }
    fake_post(txq(f), 5, out, 2, NULL, 0);
    /* Header and frame in one buffer, too. */
    uint8_t both[HDR + 60] = { 0 };
    memcpy(both + HDR, frame, 60);
    fake_post_out(txq(f), 6, both, sizeof(both));
    f->vd->ops->queue_notify(f->vd, 1);
    g_assert_cmpuint(f->sent->len, ==, 2);
    for (int i = 0; i < 2; i++) {
        const uint8_t *d = g_bytes_get_data(f->sent->pdata[i], &len);
        g_assert_cmpuint(len, ==, 60);
        g_assert_cmpmem(d, 60, frame, 60);
    }
    g_assert_cmpuint(fake_used_count(txq(f)), ==, 2);
    g_assert_cmpuint(fake_used(txq(f), 0).head, ==, 5);
    g_assert_cmpuint(fake_used(txq(f), 0).written, ==, 0);
    g_assert_cmpuint(txq(f)->notifies, >=, 1);
}

static void test_tx_csum(Fixture *f, gconstpointer data)
{
    uint8_t pkt[HDR + 14 + 20 + 8 + 6] = { 0 };
    uint8_t *hdr = pkt, *eth = pkt + HDR, *ip = eth + 14, *udp = ip + 20;
    uint32_t pseudo = (0x0a00 + 0x020f) + (0x0a00 + 0x0202) + 17 + 14;
    gsize len;

    (void)data;
    fake_driver_ok(f->vd);
    hdr[0] = 1;                     /* NEEDS_CSUM */
    hdr[6] = 34;                    /* csum_start: the UDP header */
    hdr[8] = 6;                     /* csum_offset: its checksum field */
    eth[12] = 0x08;
    ip[0] = 0x45;
    ip[9] = 17;
    ip[12] = 10, ip[14] = 2, ip[15] = 15;
    ip[16] = 10, ip[18] = 2, ip[19] = 2;
    udp[1] = 99;
    udp[3] = 53;
    udp[5] = 14;
    memcpy(udp + 8, "kemu!!", 6);
    udp[6] = pseudo >> 8;           /* seeded with the pseudo-header sum */
    udp[7] = pseudo;
    fake_post_out(txq(f), 0, pkt, sizeof(pkt));
    f->vd->ops->queue_notify(f->vd, 1);
    g_assert_cmpuint(f->sent->len, ==, 1);
    const uint8_t *d = g_bytes_get_data(f->sent->pdata[0], &len);
    g_assert_cmphex(net_checksum(d + 34, 14, pseudo), ==, 0);

    /* Offsets beyond the frame: sent unchanged, no crash. */
    hdr[6] = 0xff;
    hdr[7] = 0xff;
    fake_post_out(txq(f), 1, pkt, sizeof(pkt));
    /* Shorter than the header: dropped. */
    fake_post_out(txq(f), 2, pkt, 5);
    f->vd->ops->queue_notify(f->vd, 1);
    g_assert_cmpuint(f->sent->len, ==, 2);
    g_assert_cmpuint(fake_used_count(txq(f)), ==, 3);
}

static void test_rx_mergeable(Fixture *f, gconstpointer data)
{
    static uint8_t bufs[3][1000];
    uint8_t frame[1514];

    (void)data;
    fake_driver_ok(f->vd);
    g_assert_true(virtio_has_feature(f->vd, F_MRG_RXBUF));
    for (size_t i = 0; i < sizeof(frame); i++) {
        frame[i] = i * 7;
    }
    /* No buffers yet: the frame waits. */
    g_assert_false(net_peer_can_receive(f->be));
    g_assert_true(net_send(f->be, frame, sizeof(frame)));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 0);
    for (int i = 0; i < 3; i++) {
        fake_post_in(rxq(f), 10 + i, bufs[i], sizeof(bufs[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    /* 12 + 1514 bytes: two buffers, num_buffers = 2 in the first header. */
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 2);
    g_assert_cmpuint(fake_used(rxq(f), 0).head, ==, 10);
    g_assert_cmpuint(fake_used(rxq(f), 0).written, ==, 1000);
    g_assert_cmpuint(fake_used(rxq(f), 1).head, ==, 11);
    g_assert_cmpuint(fake_used(rxq(f), 1).written, ==, HDR + 1514 - 1000);
    g_assert_cmpuint(bufs[0][10] | bufs[0][11] << 8, ==, 2);
    g_assert_cmpuint(bufs[0][0], ==, 0);                    /* flags */
    g_assert_cmpmem(bufs[0] + HDR, 1000 - HDR, frame, 1000 - HDR);
    g_assert_cmpmem(bufs[1], HDR + 1514 - 1000, frame + 1000 - HDR, HDR + 1514 - 1000);
    g_assert_cmpuint(rxq(f)->notifies, >=, 1);

    /* A small frame fits the third buffer alone. */
    fake_post_in(rxq(f), 13, bufs[0], sizeof(bufs[0]));
    g_assert_true(net_send(f->be, frame, 60));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 3);
    g_assert_cmpuint(fake_used(rxq(f), 2).head, ==, 12);
    g_assert_cmpuint(fake_used(rxq(f), 2).written, ==, HDR + 60);
    g_assert_cmpuint(bufs[2][10] | bufs[2][11] << 8, ==, 1);
}

static void test_rx_plain(Fixture *f, gconstpointer data)
{
    static uint8_t big[HDR + 1600], small[100];
    uint8_t frame[1514] = { 0xaa };

    (void)data;
    fake_driver_ok(f->vd);
    f->vd->guest_features &= ~F_MRG_RXBUF;
    fake_post_in(rxq(f), 1, big, sizeof(big));
    g_assert_true(net_send(f->be, frame, sizeof(frame)));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 1);
    g_assert_cmpuint(fake_used(rxq(f), 0).written, ==, HDR + 1514);
    g_assert_cmpuint(big[HDR], ==, 0xaa);
    /* A buffer too small for the frame: dropped, the buffer kept. */
    fake_post_in(rxq(f), 2, small, sizeof(small));
    net_send(f->be, frame, sizeof(frame));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 1);
    net_send(f->be, frame, 60);
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 2);
    g_assert_cmpuint(fake_used(rxq(f), 1).head, ==, 2);
}

static void test_rx_hostile(Fixture *f, gconstpointer data)
{
    static uint8_t tiny[64][8];
    uint8_t frame[1514] = { 0 };

    (void)data;
    /* Before DRIVER_OK nothing is taken. */
    g_assert_false(net_peer_can_receive(f->be));
    fake_driver_ok(f->vd);
    /* Many 8-byte buffers cannot hold a frame: drop, never overrun. */
    for (int i = 0; i < 64; i++) {
        fake_post_in(rxq(f), i, tiny[i], sizeof(tiny[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    net_send(f->be, frame, sizeof(frame));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 0);
    /* A broken chain: pop fails, no frame, no crash. */
    rxq(f)->broken = true;
    fake_reset(f->vd);
    fake_driver_ok(f->vd);
    rxq(f)->broken = true;
    net_send(f->be, frame, 60);
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 0);
    /* After a reset, stashed buffers are forgotten, not pushed. */
    rxq(f)->broken = false;
    fake_reset(f->vd);
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 0);
}

/*
 * A TCP frame (IPv4 or IPv6, headers 54 or 74 bytes) with @payload bytes,
 * as a back end's coalescer hands it over; its checksums are not needed
 * by the NIC (NetGso vouches for them), only by segmentation.
 */
static size_t make_tcp_frame(uint8_t *f, bool ip6, size_t payload, NetGso *gso)
{
    size_t l4 = 14 + (ip6 ? 40 : 20), len = l4 + 20 + payload;

    memset(f, 0, l4 + 20);
    memcpy(f, "\x52\x54\x00\x01\x02\x03\x52\x55\x0a\x00\x02\x02", 12);
    if (ip6) {
        f[12] = 0x86, f[13] = 0xdd;
        f[14] = 0x60;
        f[18] = (len - l4) >> 8, f[19] = len - l4;
        f[20] = 6, f[21] = 64;
        f[14 + 23] = 1, f[14 + 39] = 2;
    } else {
        f[12] = 0x08;
        f[14] = 0x45;
        f[16] = (len - 14) >> 8, f[17] = len - 14;
        f[20] = 0x40, f[22] = 64, f[23] = 6;
        memcpy(f + 26, "\x0a\x00\x02\x02\x0a\x00\x02\x0f", 8);
    }
    f[l4 + 1] = 80, f[l4 + 2] = 0x9c, f[l4 + 3] = 0x40;
    f[l4 + 12] = 5 << 4, f[l4 + 13] = 0x10;
    for (size_t i = 0; i < payload; i++) {
        f[l4 + 20 + i] = i * 3;
    }
    *gso = (NetGso){ .mss = 1460, .hdr_len = l4 + 20, .ip6 = ip6 };
    return len;
}

/*
 * The driver's TSO frames (gso_type TCPV4/TCPV6, gso_size 1000): a back
 * end without receive_gso gets checked segments, one with it the frame
 * whole with the driver's gso_size; a frame that cannot be cut goes to
 * neither.
 */
static void test_tx_tso(Fixture *f, gconstpointer data)
{
    static uint8_t pkt[HDR + 74 + 3500];
    NetGso g;
    gsize len;

    (void)data;
    fake_driver_ok(f->vd);
    for (int ip6 = 0; ip6 < 2; ip6++) {
        size_t flen = make_tcp_frame(pkt + HDR, ip6, 3500, &g);
        memset(pkt, 0, HDR);
        pkt[1] = ip6 ? 4 : 1;                        /* gso_type */
        pkt[2] = g.hdr_len;
        pkt[4] = 1000 & 0xff, pkt[5] = 1000 >> 8;    /* gso_size */

        /* A plain back end: four segments with right checksums. */
        f->be->ops = &be_ops;
        g_ptr_array_set_size(f->sent, 0);
        g_array_set_size(f->sent_gso, 0);
        fake_post_out(txq(f), 0, pkt, HDR + flen);
        f->vd->ops->queue_notify(f->vd, 1);
        g_assert_cmpuint(f->sent->len, ==, 4);
        for (guint i = 0; i < 4; i++) {
            const uint8_t *d = g_bytes_get_data(f->sent->pdata[i], &len);
            g_assert_cmpuint(len, ==, g.hdr_len + (i < 3 ? 1000 : 500));
            g_assert_true(net_csum_valid(d, len));
        }

        /* A back end that takes it whole: one frame, as the driver wrote it. */
        f->be->ops = &be_gso_ops;
        g_ptr_array_set_size(f->sent, 0);
        g_array_set_size(f->sent_gso, 0);
        fake_post_out(txq(f), 1, pkt, HDR + flen);
        f->vd->ops->queue_notify(f->vd, 1);
        g_assert_cmpuint(f->sent->len, ==, 1);
        const uint8_t *d = g_bytes_get_data(f->sent->pdata[0], &len);
        g_assert_cmpmem(d, len, pkt + HDR, flen);
        g_assert_cmpuint(g_array_index(f->sent_gso, NetGso, 0).mss, ==, 1000);
        g_assert_cmpint(g_array_index(f->sent_gso, NetGso, 0).ip6, ==, ip6);

        /* Not TCP (IPv4: ICMP; IPv6: an extension header): logged, dropped. */
        pkt[HDR + (ip6 ? 20 : 23)] = ip6 ? 0 : 1;
        fake_post_out(txq(f), 2, pkt, HDR + flen);
        f->vd->ops->queue_notify(f->vd, 1);
        g_assert_cmpuint(f->sent->len, ==, 1);
    }
    f->be->ops = &be_ops;
}

static void check_rx_gso(Fixture *f, bool ip6)
{
    static uint8_t bufs[40][2048], frame[NET_MAX_FRAME];
    NetGso gso;
    size_t len = make_tcp_frame(frame, ip6, 20000, &gso), off = 0;
    unsigned n = (HDR + len + 2047) / 2048;

    fake_driver_ok(f->vd);
    g_assert_true(virtio_has_feature(f->vd, ip6 ? F_GUEST_TSO6 : F_GUEST_TSO4));
    for (int i = 0; i < 40; i++) {
        fake_post_in(rxq(f), 100 + i, bufs[i], sizeof(bufs[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    g_assert_true(net_peer_gso_ok(f->be, &gso));
    g_assert_true(net_send_gso(f->be, frame, len, &gso));
    /* One frame over n buffers; the header says what it is. */
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, n);
    g_assert_cmphex(bufs[0][0], ==, 2);                          /* DATA_VALID */
    g_assert_cmphex(bufs[0][1], ==, ip6 ? 4 : 1);                /* TCPV6/TCPV4 */
    g_assert_cmpuint(bufs[0][2] | bufs[0][3] << 8, ==, gso.hdr_len);
    g_assert_cmpuint(bufs[0][4] | bufs[0][5] << 8, ==, 1460);   /* gso_size */
    g_assert_cmpuint(bufs[0][10] | bufs[0][11] << 8, ==, n);    /* num_buffers */
    for (unsigned i = 0; i < n; i++) {
        size_t w = fake_used(rxq(f), i).written;
        g_assert_cmpuint(fake_used(rxq(f), i).head, ==, 100 + i);
        g_assert_cmpuint(w, ==, MIN((size_t)2048, HDR + len - off));
        g_assert_cmpmem(bufs[i] + (i ? 0 : HDR), w - (i ? 0 : HDR),
                        frame + (i ? off - HDR : 0), w - (i ? 0 : HDR));
        off += w;
    }
    g_assert_cmpuint(off, ==, HDR + len);
}

static void test_rx_gso_ipv4(Fixture *f, gconstpointer data)
{
    (void)data;
    check_rx_gso(f, false);
}

static void test_rx_gso_ipv6(Fixture *f, gconstpointer data)
{
    (void)data;
    check_rx_gso(f, true);
}

/* Check that used buffers [@from, @to) hold one plain segment each. */
static void check_segments(Fixture *f, uint8_t (*bufs)[2048], unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        size_t w = fake_used(rxq(f), i).written;
        const uint8_t *b = bufs[fake_used(rxq(f), i).head];
        g_assert_cmpuint(w, <=, HDR + 1514);
        g_assert_cmphex(b[0], ==, 2);                  /* checksums verified */
        g_assert_cmphex(b[1], ==, 0);                  /* no GSO */
        g_assert_cmpuint(b[10] | b[11] << 8, ==, 1);
        g_assert_true(net_csum_valid(b + HDR, w - HDR));
    }
}

/*
 * Too few buffers for a 64 KiB frame: the back end's GSO frame arrives as
 * segments, those that do not fit wait (nothing lost); a guest that did
 * not negotiate GUEST_TSO gets segments too.
 */
static void test_rx_gso_fallback(Fixture *f, gconstpointer data)
{
    static uint8_t bufs[64][2048], frame[NET_MAX_FRAME];
    NetGso gso;
    size_t len = make_tcp_frame(frame, false, 20000, &gso);

    (void)data;
    fake_driver_ok(f->vd);
    for (int i = 0; i < 5; i++) {
        fake_post_in(rxq(f), i, bufs[i], sizeof(bufs[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    g_assert_false(net_peer_gso_ok(f->be, &gso));
    g_assert_true(net_send_gso(f->be, frame, len, &gso));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 5);
    for (int i = 5; i < 20; i++) {
        fake_post_in(rxq(f), i, bufs[i], sizeof(bufs[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 14);       /* 20000 / 1460 */
    check_segments(f, bufs, 0, 14);

    /* The guest did not negotiate GUEST_TSO4 (only TSO6). */
    fake_reset(f->vd);
    fake_driver_ok(f->vd);
    f->vd->guest_features &= ~F_GUEST_TSO4;
    for (int i = 0; i < 64; i++) {
        fake_post_in(rxq(f), i, bufs[i], sizeof(bufs[i]));
    }
    f->vd->ops->queue_notify(f->vd, 0);
    g_assert_false(net_peer_gso_ok(f->be, &gso));
    g_assert_true(net_send_gso(f->be, frame, len, &gso));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 14);
    check_segments(f, bufs, 0, 14);
}

/* Without MRG_RXBUF a GSO frame needs one buffer that holds it all. */
static void test_rx_gso_plain(Fixture *f, gconstpointer data)
{
    static uint8_t big[HDR + NET_MAX_FRAME + 100], small[4][2048];
    static uint8_t frame[NET_MAX_FRAME];
    NetGso gso;
    size_t len = make_tcp_frame(frame, false, 30000, &gso);

    (void)data;
    fake_driver_ok(f->vd);
    f->vd->guest_features &= ~F_MRG_RXBUF;
    fake_post_in(rxq(f), 7, big, sizeof(big));
    g_assert_true(net_send_gso(f->be, frame, len, &gso));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 1);
    g_assert_cmpuint(fake_used(rxq(f), 0).written, ==, HDR + len);
    g_assert_cmphex(big[1], ==, 1);
    g_assert_cmpuint(big[10] | big[11] << 8, ==, 1);
    g_assert_cmpmem(big + HDR, len, frame, len);
    /* Small buffers: segments, one per buffer as they come. */
    for (int i = 0; i < 4; i++) {
        fake_post_in(rxq(f), i, small[i], sizeof(small[i]));
    }
    g_assert_false(net_peer_gso_ok(f->be, &gso));
    g_assert_true(net_send_gso(f->be, frame, len, &gso));
    g_assert_cmpuint(fake_used_count(rxq(f)), ==, 5);
    g_assert_cmphex(small[0][1], ==, 0);
    g_assert_true(net_csum_valid(small[0] + HDR, fake_used(rxq(f), 1).written - HDR));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
    ADD("/virtio-net/config", test_config);
    ADD("/virtio-net/tx", test_tx);
    ADD("/virtio-net/tx-csum", test_tx_csum);
    ADD("/virtio-net/tx-tso", test_tx_tso);
    ADD("/virtio-net/rx-mergeable", test_rx_mergeable);
    ADD("/virtio-net/rx-plain", test_rx_plain);
    ADD("/virtio-net/rx-hostile", test_rx_hostile);
    ADD("/virtio-net/rx-gso-ipv4", test_rx_gso_ipv4);
    ADD("/virtio-net/rx-gso-ipv6", test_rx_gso_ipv6);
    ADD("/virtio-net/rx-gso-fallback", test_rx_gso_fallback);
    ADD("/virtio-net/rx-gso-plain", test_rx_gso_plain);
    return g_test_run();
}
