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
