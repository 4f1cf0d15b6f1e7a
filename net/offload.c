/*
 * Checksum and segmentation offloads done on the host for the NIC models.
 * A guest hands over one TCP "super-frame" of up to 64 KiB (virtio-net
 * HOST_TSO4/6, e1000 TSE) and it is cut here into wire-sized frames; a
 * received frame is checked here so the NIC can tell the guest its
 * checksums are already verified. Both spare the guest per-packet and
 * per-byte work, which is what costs most under the interpreter.
 *
 * Every byte comes from the guest or the wire: all offsets are checked
 * against the frame's length before use.
 */
#include <string.h>
#include "net/net.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_VLAN 0x8100
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* Where the headers of an IP + TCP/UDP frame are. */
typedef struct L4Frame {
    size_t l3, l4, hdr;   /* IP header, TCP/UDP header, payload offsets */
    size_t end;           /* end of the IP datagram */
    bool ip6;
    uint8_t proto;
} L4Frame;

static uint16_t be16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/*
 * Find the headers of @f. With @whole, the datagram ends where the frame
 * does (a segmentation request, whose IP length field the e1000 driver
 * zeroes); otherwise the IP length field says, and must fit. Fragments,
 * IPv6 extension headers and other protocols are not ours: false.
 */
static bool parse(const uint8_t *f, size_t len, bool whole, L4Frame *o)
{
    size_t l3 = 14, end;
    unsigned type;

    if (len < 14) {
        return false;
    }
    type = be16(f + 12);
    if (type == ETH_P_VLAN) {
        if (len < 18) {
            return false;
        }
        l3 = 18;
        type = be16(f + 16);
    }
    if (type == ETH_P_IP) {
        size_t ihl;
        if (len < l3 + 20 || f[l3] >> 4 != 4 || (be16(f + l3 + 6) & 0x3fff)) {
            return false;
        }
        ihl = (f[l3] & 0xf) * 4u;
        end = whole ? len : l3 + be16(f + l3 + 2);
        if (ihl < 20 || end > len || end < l3 + ihl) {
            return false;
        }
        o->ip6 = false;
        o->proto = f[l3 + 9];
        o->l4 = l3 + ihl;
    } else if (type == ETH_P_IPV6) {
        if (len < l3 + 40 || f[l3] >> 4 != 6) {
            return false;
        }
        end = whole ? len : l3 + 40 + be16(f + l3 + 4);
        if (end > len) {
            return false;
        }
        o->ip6 = true;
        o->proto = f[l3 + 6];
        o->l4 = l3 + 40;
    } else {
        return false;
    }
    o->l3 = l3;
    o->end = end;
    if (o->proto == PROTO_TCP) {
        if (end < o->l4 + 20) {
            return false;
        }
        o->hdr = o->l4 + (f[o->l4 + 12] >> 4) * 4u;
        return o->hdr >= o->l4 + 20 && o->hdr <= end;
    }
    if (o->proto == PROTO_UDP) {
        o->hdr = o->l4 + 8;
        return end >= o->hdr;
    }
    return false;
}

/* The folded one's-complement sum of the pseudo-header for @l4len bytes. */
static uint32_t pseudo_sum(const uint8_t *f, const L4Frame *h, size_t l4len)
{
    const uint8_t *addrs = f + h->l3 + (h->ip6 ? 8 : 12);

    return (uint16_t)~net_checksum(addrs, h->ip6 ? 32 : 8,
                                   h->proto + (uint32_t)(l4len & 0xffff) +
                                   (uint32_t)(l4len >> 16));
}

bool net_csum_valid(const uint8_t *f, size_t len)
{
    L4Frame h;
    size_t n;

    if (!parse(f, len, false, &h)) {
        return false;
    }
    if (!h.ip6 && net_checksum(f + h.l3, h.l4 - h.l3, 0) != 0) {
        return false;
    }
    n = h.end - h.l4;
    if (h.proto == PROTO_UDP && !h.ip6 && be16(f + h.l4 + 6) == 0) {
        return true;                 /* IPv4 UDP without a checksum */
    }
    return net_checksum(f + h.l4, n, pseudo_sum(f, &h, n)) == 0;
}

/* Fill the IP lengths/checksum and the TCP/UDP checksum of segment @s. */
static void seg_finish(uint8_t *s, size_t len, const L4Frame *h)
{
    size_t n = len - h->l4;
    unsigned cso = h->proto == PROTO_TCP ? 16 : 6;
    uint16_t c;

    if (h->ip6) {
        be16_put(s + h->l3 + 4, len - h->l3 - 40);
    } else {
        be16_put(s + h->l3 + 2, len - h->l3);
        be16_put(s + h->l3 + 10, 0);
        be16_put(s + h->l3 + 10, net_checksum(s + h->l3, h->l4 - h->l3, 0));
    }
    if (h->proto == PROTO_UDP) {
        be16_put(s + h->l4 + 4, n);
    }
    be16_put(s + h->l4 + cso, 0);
    c = net_checksum(s + h->l4, n, pseudo_sum(s, h, n));
    be16_put(s + h->l4 + cso, h->proto == PROTO_UDP && c == 0 ? 0xffff : c);
}

unsigned net_segment_count(const uint8_t *f, size_t len, unsigned mss, size_t *hdr_len)
{
    L4Frame h;
    size_t payload;

    if (!parse(f, len, true, &h) || mss == 0 || h.hdr + mss > NET_MAX_FRAME) {
        return 0;
    }
    payload = len - h.hdr;
    if (hdr_len) {
        *hdr_len = h.hdr;
    }
    return payload ? (unsigned)((payload + mss - 1) / mss) : 1;
}

unsigned net_segment(const uint8_t *f, size_t len, unsigned mss,
                     void (*emit)(void *opaque, const uint8_t *seg, size_t len),
                     void *opaque)
{
    L4Frame h;
    size_t payload;
    uint32_t seq = 0;
    uint16_t ipid = 0;
    unsigned count = 0;
    uint8_t *s;

    if (!parse(f, len, true, &h) || mss == 0 || h.hdr + mss > NET_MAX_FRAME) {
        return 0;
    }
    payload = len - h.hdr;
    if (h.proto == PROTO_TCP) {
        seq = (uint32_t)be16(f + h.l4 + 4) << 16 | be16(f + h.l4 + 6);
    }
    if (!h.ip6) {
        ipid = be16(f + h.l3 + 4);
    }
    s = g_malloc(h.hdr + MIN((size_t)mss, payload));
    for (size_t off = 0; off < payload || off == 0; off += mss) {
        size_t n = MIN((size_t)mss, payload - off);
        bool last = off + n >= payload;

        memcpy(s, f, h.hdr);
        memcpy(s + h.hdr, f + h.hdr + off, n);
        if (!h.ip6) {
            be16_put(s + h.l3 + 4, ipid++);
        }
        if (h.proto == PROTO_TCP) {
            uint32_t sq = seq + (uint32_t)off;
            be16_put(s + h.l4 + 4, sq >> 16);
            be16_put(s + h.l4 + 6, sq);
            if (!last) {
                s[h.l4 + 13] &= ~(TCP_FIN | TCP_PSH);
            }
            if (off) {
                s[h.l4 + 13] &= ~TCP_CWR;
            }
        }
        seg_finish(s, h.hdr + n, &h);
        emit(opaque, s, h.hdr + n);
        count++;
        if (last) {
            break;
        }
    }
    g_free(s);
    return count;
}

/*
 * Receive coalescing (include/net/net.h). The pending frame is kept in
 * @buf with its headers parsed once; each merged segment's payload is
 * appended and its one's-complement sum added to @psum (byte-swapped when
 * it lands at an odd offset), so the merged TCP checksum needs no second
 * pass over the payload.
 *
 * Pure ACKs (no payload, flags exactly ACK) are merged too, differently:
 * a newer one replaces the pending one whole. That is safe because TCP
 * acknowledgements are cumulative: an ACK for byte N says everything the
 * ACKs before it in the run said, and its window is the receiver's latest
 * word, so the guest loses nothing by seeing only the last. Its sender
 * does not lose speed either: Linux grows cwnd by the bytes (segments)
 * an ACK covers, not by the number of ACKs (RFC 3465 byte counting), and
 * fewer ACKs only means fewer interrupts. The one piece of information a
 * run of ACKs carries beyond its last is a repeated ack number, the
 * duplicate ACK that signals loss (fast retransmit counts them); so only
 * strictly increasing ack numbers are merged, and an equal one (a dupack,
 * or a window update) flushes the pending ACK and is kept. ACKs carrying
 * other flags, options that differ (SACK blocks, timestamps) or data never
 * replace anything; nothing is held past the batch's flush.
 */
#define TCP_ACK 0x10
#define COALESCE_MAX_IP 65535

struct NetCoalescer {
    NetEmitFn *emit;
    void *opaque;
    uint8_t *buf;                    /* NET_MAX_FRAME bytes */
    size_t len;                      /* pending frame; 0: none */
    L4Frame h;                       /* its headers */
    unsigned segs;                   /* segments merged into it */
    unsigned mss;                    /* first segment's payload */
    uint32_t next_seq;               /* sequence number that would continue it */
    uint32_t psum;                   /* folded sum of the payload so far */
    bool closed;                     /* a short or PSH segment ended it */
    bool ack;                        /* the pending frame is a pure ACK */
};

NetCoalescer *net_coalesce_new(NetEmitFn *emit, void *opaque)
{
    NetCoalescer *c = g_new0(NetCoalescer, 1);

    c->emit = emit;
    c->opaque = opaque;
    c->buf = g_malloc(NET_MAX_FRAME);
    return c;
}

void net_coalesce_free(NetCoalescer *c)
{
    if (c) {
        g_free(c->buf);
        g_free(c);
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static uint32_t fold_add(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;

    return (s & 0xffff) + (s >> 16);
}

/* The folded one's-complement sum (not complemented) of @len bytes. */
static uint32_t raw_sum(const uint8_t *p, size_t len)
{
    return (uint16_t)~net_checksum(p, len, 0);
}

/*
 * Whether @f (headers @h) is a TCP data segment that may start or join a
 * merge: ACK with at most PSH besides, payload, the datagram filling the
 * frame, an IPv4 header without options, and right checksums. Sets
 * @payload_sum to its payload's folded sum.
 */
static bool mergeable_segment(const uint8_t *f, size_t len, const L4Frame *h,
                              uint32_t *payload_sum)
{
    const uint8_t *tcp = f + h->l4;
    uint32_t sum;

    if (h->proto != PROTO_TCP || h->end != len || h->hdr == len ||
        (tcp[13] & ~TCP_PSH) != TCP_ACK || (tcp[12] & 0x0f) ||
        (!h->ip6 && h->l4 - h->l3 != 20)) {
        return false;
    }
    if (!h->ip6 && net_checksum(f + h->l3, 20, 0) != 0) {
        return false;
    }
    *payload_sum = raw_sum(f + h->hdr, len - h->hdr);
    sum = fold_add(pseudo_sum(f, h, len - h->l4), *payload_sum);
    return net_checksum(tcp, h->hdr - h->l4, sum) == 0;
}

/* Whether segment @f (headers @h, same layout) continues the pending frame. */
static bool continues(const NetCoalescer *c, const uint8_t *f, size_t len, const L4Frame *h)
{
    const uint8_t *p = c->buf, *pt = p + c->h.l4, *ft = f + h->l4;
    size_t n = len - h->hdr;

    if (!c->len || c->ack || c->closed || h->l3 != c->h.l3 || h->hdr != c->h.hdr ||
        h->ip6 != c->h.ip6 || n > c->mss || c->len + n > NET_MAX_FRAME ||
        c->len + n - c->h.l3 > COALESCE_MAX_IP) {
        return false;
    }
    /* Ethernet header (and VLAN tag). */
    if (memcmp(p, f, h->l3)) {
        return false;
    }
    /* IP: version/class/flow label, hop limit, protocol, flags, addresses. */
    if (h->ip6 ? memcmp(p + h->l3, f + h->l3, 4) || memcmp(p + h->l3 + 6, f + h->l3 + 6, 34)
               : memcmp(p + h->l3, f + h->l3, 2) || memcmp(p + h->l3 + 6, f + h->l3 + 6, 4) ||
                 memcmp(p + h->l3 + 12, f + h->l3 + 12, 8)) {
        return false;
    }
    /* TCP: ports, sequence, ack not behind, header length, options, urgent. */
    return !memcmp(pt, ft, 4) && be32(ft + 4) == c->next_seq &&
           (int32_t)(be32(ft + 8) - be32(pt + 8)) >= 0 && pt[12] == ft[12] &&
           !memcmp(pt + 18, ft + 18, h->hdr - h->l4 - 18);
}

/*
 * Whether @f (headers @h) is a pure ACK that may replace or be replaced:
 * TCP without payload (Ethernet padding allowed), flags exactly ACK (no
 * SYN, FIN, RST, PSH, URG, ECE, CWR, nor reserved bits) and right
 * checksums, so a damaged frame is never the one that survives.
 */
static bool pure_ack(const uint8_t *f, const L4Frame *h)
{
    const uint8_t *tcp = f + h->l4;

    if (h->proto != PROTO_TCP || h->hdr != h->end || tcp[13] != TCP_ACK || (tcp[12] & 0x0f)) {
        return false;
    }
    if (!h->ip6 && net_checksum(f + h->l3, h->l4 - h->l3, 0) != 0) {
        return false;
    }
    return net_checksum(tcp, h->end - h->l4, pseudo_sum(f, h, h->end - h->l4)) == 0;
}

/*
 * Whether pure ACK @f (headers @h) supersedes the pending pure ACK: the
 * same Ethernet header, IP header (but for IPv4 id and checksum), ports,
 * sequence number and TCP options, and an ack number strictly ahead.
 */
static bool ack_supersedes(const NetCoalescer *c, const uint8_t *f, const L4Frame *h)
{
    const uint8_t *p = c->buf, *pt = p + c->h.l4, *ft = f + h->l4;
    size_t l3 = h->l3;

    if (!c->len || !c->ack || l3 != c->h.l3 || h->l4 != c->h.l4 || h->hdr != c->h.hdr ||
        h->ip6 != c->h.ip6 || memcmp(p, f, l3)) {
        return false;
    }
    if (h->ip6 ? memcmp(p + l3, f + l3, 40)
               : memcmp(p + l3, f + l3, 4) || memcmp(p + l3 + 6, f + l3 + 6, 4) ||
                 memcmp(p + l3 + 12, f + l3 + 12, h->l4 - l3 - 12)) {
        return false;
    }
    return !memcmp(pt, ft, 8) && (int32_t)(be32(ft + 8) - be32(pt + 8)) > 0 &&
           !memcmp(pt + 20, ft + 20, h->hdr - h->l4 - 20);
}

void net_coalesce_flush(NetCoalescer *c)
{
    const L4Frame *h = &c->h;
    uint8_t *f = c->buf;
    size_t len = c->len, n = len - h->l4;
    NetGso gso = { .mss = c->mss, .hdr_len = h->hdr, .ip6 = h->ip6 };
    uint32_t sum;

    if (!len) {
        return;
    }
    c->len = 0;
    if (c->segs == 1) {
        c->emit(c->opaque, f, len, NULL);
        return;
    }
    if (h->ip6) {
        be16_put(f + h->l3 + 4, len - h->l3 - 40);
    } else {
        be16_put(f + h->l3 + 2, len - h->l3);
        be16_put(f + h->l3 + 10, 0);
        be16_put(f + h->l3 + 10, net_checksum(f + h->l3, 20, 0));
    }
    be16_put(f + h->l4 + 16, 0);
    sum = fold_add(pseudo_sum(f, h, n), c->psum);
    be16_put(f + h->l4 + 16, net_checksum(f + h->l4, h->hdr - h->l4, sum));
    c->emit(c->opaque, f, len, &gso);
}

void net_coalesce_add(NetCoalescer *c, const uint8_t *f, size_t len)
{
    L4Frame h;
    uint32_t psum;
    size_t n;

    if (len > NET_MAX_FRAME || !parse(f, len, false, &h)) {
        net_coalesce_flush(c);
        c->emit(c->opaque, f, len, NULL);
        return;
    }
    if (pure_ack(f, &h)) {
        /* A newer cumulative ACK makes the pending one redundant. */
        if (!ack_supersedes(c, f, &h)) {
            net_coalesce_flush(c);
        }
        memcpy(c->buf, f, len);
        c->len = len;
        c->h = h;
        c->segs = 1;
        c->ack = true;
        c->closed = true;
        return;
    }
    if (!mergeable_segment(f, len, &h, &psum)) {
        net_coalesce_flush(c);
        c->emit(c->opaque, f, len, NULL);
        return;
    }
    n = len - h.hdr;
    if (continues(c, f, len, &h)) {
        uint8_t *pt = c->buf + c->h.l4;
        size_t off = c->len - c->h.hdr;   /* where the payload lands */

        memcpy(c->buf + c->len, f + h.hdr, n);
        c->len += n;
        /* Taking over the newer ack and window; PSH ends the merge. */
        memcpy(pt + 8, f + h.l4 + 8, 4);
        memcpy(pt + 14, f + h.l4 + 14, 2);
        pt[13] |= f[h.l4 + 13] & TCP_PSH;
        c->psum = fold_add(c->psum, off & 1 ? ((psum & 0xff) << 8 | psum >> 8) : psum);
        c->segs++;
    } else {
        net_coalesce_flush(c);
        memcpy(c->buf, f, len);
        c->len = len;
        c->h = h;
        c->segs = 1;
        c->ack = false;
        c->mss = n;
        c->psum = psum;
    }
    c->next_seq = be32(f + h.l4 + 4) + (uint32_t)n;
    c->closed = n < c->mss || (f[h.l4 + 13] & TCP_PSH);
}
