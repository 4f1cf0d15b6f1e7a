/*
 * virtio-net (device type 1) over virtio-pci: one receive queue (0) and
 * one transmit queue (1); features MAC, STATUS (link always up), CSUM
 * (the driver may leave a TCP/UDP checksum for us to fill), HOST_TSO4/6
 * (the driver may send TCP frames of up to 64 KiB, handed whole to the
 * back end, which cuts them or has them cut: net_send_gso), GUEST_CSUM
 * (received frames whose checksums we verified are marked DATA_VALID so
 * the guest skips them) and MRG_RXBUF
 * (a received frame may span several receive buffers; the header's
 * num_buffers says how many), GUEST_TSO4/6 (the back end may hand us TCP
 * GSO frames of up to 64 KiB, merged from its segments by a NetCoalescer;
 * they reach the guest as one frame with gso_type, gso_size = the MSS,
 * hdr_len and DATA_VALID). Every buffer starts with the 12-byte
 * virtio_net_hdr_v1. The offloads are what makes networking cheap under
 * the interpreter: one 64 KiB send or receive instead of 45, no checksum
 * loops.
 *
 * Receive buffers are taken from the ring ahead of time into a stash (a
 * small ring of popped elements), so can_receive() knows whether a whole
 * frame fits before the back end hands it over. With GUEST_TSO the stash
 * is filled up to a 64 KiB frame's worth when the guest has posted that
 * much, and gso_ok() says yes only while it holds that much; otherwise the
 * net layer gives us the segments (net_send_gso), so a guest short of
 * buffers slows down rather than losing frames. Without MRG_RXBUF a GSO
 * frame needs one buffer big enough for it (the spec's advice for such
 * drivers); smaller ones get segments.
 */
#include <string.h>
#include "hw/net/nic.h"
#include "hw/virtio/virtio.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "net/net.h"

#define VIRTIO_NET_F_CSUM (1ull << 0)
#define VIRTIO_NET_F_GUEST_CSUM (1ull << 1)
#define VIRTIO_NET_F_GUEST_TSO4 (1ull << 7)
#define VIRTIO_NET_F_GUEST_TSO6 (1ull << 8)
#define VIRTIO_NET_F_HOST_TSO4 (1ull << 11)
#define VIRTIO_NET_F_HOST_TSO6 (1ull << 12)
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_MRG_RXBUF (1ull << 15)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80
#define VIRTIO_STATUS_DRIVER_OK 4

#define NET_HDR_LEN 12               /* virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define QUEUE_SIZE 256
#define RX_STASH 64                  /* receive buffers held ahead */
#define RX_NEED (NET_HDR_LEN + 1518) /* largest plain frame */
#define RX_NEED_GSO (NET_HDR_LEN + NET_MAX_FRAME) /* largest GSO frame */
#define TX_MAX (NET_HDR_LEN + 18 + 65535) /* a TSO frame: VLAN Ethernet + IP */

typedef struct VirtioNet {
    VirtioDevice vd;
    NetClient *nic;
    uint8_t mac[6];
    VirtqElem *stash;                /* RX_STASH receive buffers, a ring */
    unsigned stash_head;             /* oldest buffer */
    unsigned stashed;
    size_t stashed_bytes;
    VirtqElem *tx_elem;
    uint8_t frame[NET_HDR_LEN + NET_MAX_FRAME];
    uint8_t tx_frame[TX_MAX];
} VirtioNet;

static bool driver_ok(VirtioNet *n)
{
    return n->vd.status & VIRTIO_STATUS_DRIVER_OK;
}

static bool mergeable(VirtioNet *n)
{
    return virtio_has_feature(&n->vd, VIRTIO_NET_F_MRG_RXBUF);
}

static bool guest_tso(VirtioNet *n)
{
    return virtio_has_feature(&n->vd, VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6);
}

/* The @i-th oldest stashed buffer. */
static VirtqElem *stash_at(VirtioNet *n, unsigned i)
{
    return &n->stash[(n->stash_head + i) % RX_STASH];
}

/*
 * Pop receive buffers into the stash until the largest frame we may be
 * handed fits (a GSO one once GUEST_TSO is negotiated), the stash is full
 * or the ring is empty.
 */
static void rx_fill_stash(VirtioNet *n)
{
    VirtQueue *vq = virtio_queue(&n->vd, RXQ);
    size_t need = guest_tso(n) ? RX_NEED_GSO : RX_NEED;

    while (n->stashed < RX_STASH && (mergeable(n) ? n->stashed_bytes < need
                                                  : n->stashed == 0)) {
        VirtqElem *e = stash_at(n, n->stashed);
        if (virtqueue_pop(vq, e) != 1) {
            return;
        }
        n->stashed++;
        n->stashed_bytes += e->in_len;
    }
}

/* Whether the stash holds room for @total bytes (header included). */
static bool rx_fits(VirtioNet *n, size_t total)
{
    return mergeable(n) ? n->stashed_bytes >= total
                        : n->stashed > 0 && stash_at(n, 0)->in_len >= total;
}

static bool virtio_net_can_receive(NetClient *nc)
{
    VirtioNet *n = nc->opaque;

    if (!driver_ok(n)) {
        return false;
    }
    rx_fill_stash(n);
    /* A full stash that still cannot hold a frame is the guest's doing:
     * say yes and let receive drop frames that do not fit. */
    return n->stashed == RX_STASH || (mergeable(n) ? n->stashed_bytes >= RX_NEED
                                                   : n->stashed > 0);
}

static bool virtio_net_gso_ok(NetClient *nc, const NetGso *gso)
{
    VirtioNet *n = nc->opaque;

    if (!driver_ok(n) ||
        !virtio_has_feature(&n->vd, gso->ip6 ? VIRTIO_NET_F_GUEST_TSO6
                                             : VIRTIO_NET_F_GUEST_TSO4)) {
        return false;
    }
    rx_fill_stash(n);
    return rx_fits(n, RX_NEED_GSO);
}

/* Write the frame (header included) in n->frame to the stash's buffers. */
static void rx_deliver(VirtioNet *n, size_t total)
{
    VirtQueue *vq = virtio_queue(&n->vd, RXQ);
    size_t off = 0;
    unsigned used = 0;

    /* num_buffers sits at bytes 10-11 of the header, in the first buffer. */
    while (off < total) {
        off += MIN(stash_at(n, used)->in_len, total - off);
        used++;
    }
    n->frame[10] = used & 0xff;
    n->frame[11] = used >> 8;
    off = 0;
    for (unsigned i = 0; i < used; i++) {
        VirtqElem *e = stash_at(n, i);
        size_t chunk = MIN(e->in_len, total - off);
        iov_from_buf(e->in, e->in_num, 0, n->frame + off, chunk);
        virtqueue_push(vq, e, chunk);
        off += chunk;
        n->stashed_bytes -= e->in_len;
    }
    n->stashed -= used;
    n->stash_head = (n->stash_head + used) % RX_STASH;
    virtqueue_notify(vq);
}

/* Whether a @len-byte frame can be taken now; logs why not. */
static bool rx_ready(VirtioNet *n, size_t len)
{
    if (!driver_ok(n) || NET_HDR_LEN + len > sizeof(n->frame)) {
        return false;
    }
    rx_fill_stash(n);
    if (!rx_fits(n, NET_HDR_LEN + len)) {
        log_guest_error("virtio-net: receive buffers too small for a %zu-byte frame", len);
        return false;
    }
    return true;
}

static void virtio_net_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    VirtioNet *n = nc->opaque;

    if (!rx_ready(n, len)) {
        return;
    }
    /* Header: no GSO; num_buffers filled by rx_deliver. */
    memset(n->frame, 0, NET_HDR_LEN);
    if (virtio_has_feature(&n->vd, VIRTIO_NET_F_GUEST_CSUM) && net_csum_valid(buf, len)) {
        n->frame[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    memcpy(n->frame + NET_HDR_LEN, buf, len);
    rx_deliver(n, NET_HDR_LEN + len);
}

static void rx_seg(void *opaque, const uint8_t *seg, size_t len)
{
    VirtioNet *n = opaque;

    virtio_net_receive(n->nic, seg, len);
}

static void virtio_net_receive_gso(NetClient *nc, const uint8_t *buf, size_t len,
                                   const NetGso *gso)
{
    VirtioNet *n = nc->opaque;
    uint8_t *h = n->frame;

    /* gso_ok() said it fits; should that no longer hold, take segments. */
    if (!virtio_net_gso_ok(nc, gso) || NET_HDR_LEN + len > sizeof(n->frame)) {
        net_segment(buf, len, gso->mss, rx_seg, n);
        return;
    }
    /* The sender verified and recomputed every checksum (NetGso). */
    memset(h, 0, NET_HDR_LEN);
    h[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    h[1] = gso->ip6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h[2] = gso->hdr_len & 0xff;
    h[3] = gso->hdr_len >> 8;
    h[4] = gso->mss & 0xff;
    h[5] = gso->mss >> 8;
    memcpy(n->frame + NET_HDR_LEN, buf, len);
    rx_deliver(n, NET_HDR_LEN + len);
}

/* The driver left a checksum to fill: [csum_start, end) stored at +offset. */
static void tx_fill_csum(uint8_t *p, size_t len, const uint8_t *hdr)
{
    size_t start = hdr[6] | hdr[7] << 8, where = start + (hdr[8] | hdr[9] << 8);
    uint16_t c;

    if (start >= len || where + 2 > len) {
        log_guest_error("virtio-net: checksum offsets beyond the frame");
        return;
    }
    /* The field holds the pseudo-header sum; checksum over it as well. */
    c = net_checksum(p + start, len - start, 0);
    p[where] = c >> 8;
    p[where + 1] = c;
}

/* One frame from the driver: @hdr, then @len bytes at @frame. */
static void tx_one(VirtioNet *n, const uint8_t *hdr, uint8_t *frame, size_t len)
{
    unsigned gso = hdr[1] & ~VIRTIO_NET_HDR_GSO_ECN, mss = hdr[4] | hdr[5] << 8;
    uint64_t need = gso == VIRTIO_NET_HDR_GSO_TCPV4 ? VIRTIO_NET_F_HOST_TSO4
                  : gso == VIRTIO_NET_HDR_GSO_TCPV6 ? VIRTIO_NET_F_HOST_TSO6 : 0;

    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
        if (hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
            tx_fill_csum(frame, len, hdr);
        }
        net_send(n->nic, frame, len);
    } else if (!need || !virtio_has_feature(&n->vd, need)) {
        log_guest_error("virtio-net: GSO type %u not negotiated, frame dropped", hdr[1]);
    } else if (!net_segment_count(frame, len, mss, NULL)) {
        log_guest_error("virtio-net: cannot segment a %zu-byte frame (gso_size %u)", len, mss);
    } else {
        NetGso g = { .mss = mss, .hdr_len = hdr[2] | hdr[3] << 8,
                     .ip6 = gso == VIRTIO_NET_HDR_GSO_TCPV6 };
        net_send_gso(n->nic, frame, len, &g);
    }
}

static void virtio_net_tx(VirtioNet *n)
{
    VirtQueue *vq = virtio_queue(&n->vd, TXQ);
    VirtqElem *e = n->tx_elem;
    int r;

    while ((r = virtqueue_pop(vq, e)) == 1) {
        size_t len = iov_to_buf(e->out, e->out_num, 0, n->tx_frame, sizeof(n->tx_frame));
        if (e->out_len > sizeof(n->tx_frame)) {
            log_guest_error("virtio-net: %zu-byte transmit chain dropped", (size_t)e->out_len);
        } else if (len > NET_HDR_LEN) {
            tx_one(n, n->tx_frame, n->tx_frame + NET_HDR_LEN, len - NET_HDR_LEN);
        }
        virtqueue_push(vq, e, 0);
    }
    virtqueue_notify(vq);
}

static void virtio_net_queue_notify(VirtioDevice *vd, unsigned q)
{
    VirtioNet *n = (VirtioNet *)vd;

    if (q == TXQ) {
        virtio_net_tx(n);
    } else if (q == RXQ) {
        net_client_ready(n->nic);
    }
}

static void virtio_net_status_changed(VirtioDevice *vd, bool ok)
{
    VirtioNet *n = (VirtioNet *)vd;

    /* On reset the rings are gone: forget the buffers taken from them. */
    n->stash_head = 0;
    n->stashed = 0;
    n->stashed_bytes = 0;
    if (ok) {
        net_client_ready(n->nic);
    }
}

static void virtio_net_get_config(VirtioDevice *vd, uint8_t *cfg)
{
    VirtioNet *n = (VirtioNet *)vd;

    memcpy(cfg, n->mac, 6);
    cfg[6] = VIRTIO_NET_S_LINK_UP;
    cfg[7] = 0;
    cfg[8] = 1;                      /* max_virtqueue_pairs */
    cfg[9] = 0;
}

static void virtio_net_finalize(VirtioDevice *vd)
{
    VirtioNet *n = (VirtioNet *)vd;

    net_client_free(n->nic);
    n->nic = NULL;
    g_free(n->stash);
    g_free(n->tx_elem);
}

static const VirtioDeviceOps virtio_net_ops = {
    .name = "virtio-net",
    .device_id = 1,
    .pci_class = 0x0200,
    .features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF |
                VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_HOST_TSO4 |
                VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6,
    .num_queues = 2,
    .queue_size = QUEUE_SIZE,
    .config_size = 10,
    .get_config = virtio_net_get_config,
    .queue_notify = virtio_net_queue_notify,
    .status_changed = virtio_net_status_changed,
    .finalize = virtio_net_finalize,
};

static const NetClientOps virtio_net_nic_ops = {
    .type = "nic",
    .receive = virtio_net_receive,
    .receive_gso = virtio_net_receive_gso,
    .gso_ok = virtio_net_gso_ok,
    .can_receive = virtio_net_can_receive,
};

static bool virtio_net_create(Machine *m, Opts *o, GError **errp)
{
    const char *id = opts_get(o, "id");
    VirtioNet *n = g_malloc0(sizeof(*n));

    n->vd.ops = &virtio_net_ops;
    n->nic = net_client_new(&virtio_net_nic_ops, id ? id : "virtio-net", n);
    n->stash = g_new(VirtqElem, RX_STASH);
    n->tx_elem = g_new(VirtqElem, 1);
    if (!net_nic_setup(n->nic, o, n->mac, errp) ||
        !virtio_pci_create(m, &n->vd, o, id, errp)) {
        net_client_free(n->nic);
        g_free(n->stash);
        g_free(n->tx_elem);
        g_free(n);
        return false;
    }
    return true;
}

const DeviceType virtio_net_pci_type = {
    .name = "virtio-net-pci",
    .help = "virtio network card (netdev=ID, mac=MAC, addr=SLOT)",
    .create = virtio_net_create,
};
