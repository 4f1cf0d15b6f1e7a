/*
 * Networking: clients that exchange Ethernet frames in pairs. A back end
 * (-netdev user = slirp, -netdev tap) and a front end (a NIC model such as
 * e1000 or virtio-net) are each a NetClient; net_client_connect() makes
 * them peers and net_send() hands a frame from one to the other.
 *
 * Backpressure: a receiver that cannot take a frame now (a NIC whose guest
 * gave no receive buffers) returns false from can_receive. net_send() then
 * keeps the frame in the receiver's bounded queue (dropping the oldest
 * beyond NET_QUEUE_MAX frames, as a full wire would) and the receiver calls
 * net_client_ready() once it can take frames again; that flushes the
 * queue and tells the sender (ops->peer_ready) so a tap back end can
 * resume reading its file descriptor.
 *
 * Receive offload: a back end may hand its peer one large TCP frame in
 * place of a run of segments (net_send_gso, fed by a NetCoalescer) when
 * the peer says it takes them (ops->gso_ok, e.g. a virtio-net whose guest
 * negotiated GUEST_TSO4/6). A peer that does not is given the segments
 * (net_segment), so no frame is lost for want of the offload.
 *
 * Transmit offload: a NIC hands its guest's TCP segmentation request (a
 * 64 KiB super-frame) to net_send_gso as well. A back end that takes it
 * whole (slirp) cuts it itself and answers the whole burst at once; one
 * that does not (tap) is given the segments.
 *
 * Threads: every function here runs with the BQL held (vCPU threads doing
 * device I/O, the main loop dispatching back-end sources).
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "system/opts.h"

typedef struct NetClient NetClient;
typedef struct Machine Machine;

#define NET_QUEUE_MAX 256            /* frames held for a busy receiver */
#define NET_MAX_FRAME 65536          /* largest frame net_send() accepts */

/*
 * What a receiver needs to know of a TCP GSO frame: the Ethernet, IP and
 * TCP headers of one segment followed by the payload of several.
 *
 * From a back end (towards a NIC): its IP length fields and IPv4 header
 * and TCP checksums are right (the sender verified each segment and
 * recomputed them), so a receiver may pass it on as checked (virtio's
 * DATA_VALID).
 *
 * From a NIC (towards a back end): the guest's segmentation request as
 * it wrote it (TCP, or UDP from e1000), whose lengths and checksums mean
 * nothing and whose bytes are untrusted; only mss counts (hdr_len and ip6
 * are hints). The receiver cuts it with net_segment.
 */
typedef struct NetGso {
    unsigned mss;                    /* largest segment payload; 0: a plain frame */
    unsigned hdr_len;                /* Ethernet + IP + TCP header bytes */
    bool ip6;                        /* TCP over IPv6, else over IPv4 */
} NetGso;

typedef struct NetClientOps {
    const char *type;                /* "user", "tap", "nic" */
    /*
     * Take one Ethernet frame (without FCS) sent by the peer. The client
     * copies what it keeps; @buf is only valid during the call. A receiver
     * that finds itself full after all may drop the frame.
     */
    void (*receive)(NetClient *nc, const uint8_t *buf, size_t len);
    /*
     * Take one GSO frame (net_send_gso) of at most NET_MAX_FRAME bytes
     * described by @gso (see NetGso for what a NIC's and a back end's
     * frames promise); otherwise as receive(). Optional, with gso_ok.
     */
    void (*receive_gso)(NetClient *nc, const uint8_t *buf, size_t len, const NetGso *gso);
    /*
     * Whether receive_gso() may be handed a frame like @gso now (and, when
     * can_receive() says yes, has room for one of NET_MAX_FRAME bytes).
     * Optional: no GSO frames at all.
     */
    bool (*gso_ok)(NetClient *nc, const NetGso *gso);
    /* Whether receive() would accept a frame now. Optional: always yes. */
    bool (*can_receive)(NetClient *nc);
    /* The peer can take frames again (its queue drained). Optional. */
    void (*peer_ready)(NetClient *nc);
    /* Release the client's own resources (net_client_free). Optional. */
    void (*cleanup)(NetClient *nc);
} NetClientOps;

struct NetClient {
    const NetClientOps *ops;
    char *name;                      /* netdev id, or the NIC's id/model */
    void *opaque;                    /* owner's state */
    NetClient *peer;
    GQueue queue;                    /* frames (net.c's NetPacket) waiting for this client */
    bool flushing;                   /* inside net_client_ready() */
    uint64_t dropped;                /* frames lost to a full queue */
};

/*
 * Create a client of @ops named @name (copied) with @opaque. Back ends
 * register with net_backend_register() so NICs find them by id.
 */
NetClient *net_client_new(const NetClientOps *ops, const char *name, void *opaque);
/* Disconnect, run ops->cleanup, drop queued frames, free. NULL is fine. */
void net_client_free(NetClient *nc);

/*
 * Make @a and @b peers. False with @errp set if either already has one
 * (a netdev serves exactly one NIC).
 */
bool net_client_connect(NetClient *a, NetClient *b, GError **errp);

/*
 * Send @len bytes from @from to its peer: delivered now, or queued for a
 * busy peer. Returns true if delivered or queued, false if dropped (no
 * peer, oversized, or the queue overflowed and lost a frame).
 */
bool net_send(NetClient *from, const uint8_t *buf, size_t len);
/*
 * Send the GSO frame @buf (see NetGso; @gso NULL or mss 0: net_send) to
 * @from's peer: as one frame, delivered or queued, if the peer's gso_ok
 * says it takes it and it fits NET_MAX_FRAME, else cut into segments sent
 * one by one. A queued GSO frame whose receiver no longer takes GSO when
 * its turn comes is cut then. Returns false if anything was dropped (as
 * net_send) or the frame could not be segmented.
 */
bool net_send_gso(NetClient *from, const uint8_t *buf, size_t len, const NetGso *gso);
/* Whether @from's peer would take a GSO frame like @gso (its gso_ok). */
bool net_peer_gso_ok(NetClient *from, const NetGso *gso);
/* Whether @from's peer exists and can take a frame now with nothing queued. */
bool net_peer_can_receive(NetClient *from);
/*
 * @nc can receive again: deliver its queued frames while can_receive
 * holds, then tell the peer (peer_ready) if the queue emptied.
 */
void net_client_ready(NetClient *nc);

/* Back ends by id: for -device ...,netdev=ID. */
void net_backend_register(NetClient *nc);
NetClient *net_backend_find(const char *id);
/* Free every registered back end (process exit, tests). */
void net_backends_free(void);

/*
 * -netdev TYPE,id=ID,...: create and register a back end. False with @errp
 * set on unknown types, bad options or host failures (e.g. no /dev/net/tun).
 */
bool net_netdev_create(const char *str, GError **errp);
/*
 * -nic TYPE[,model=M][,mac=MAC][,back-end options]: a back end plus a NIC
 * of model M (default e1000) attached to it, on @m.
 */
bool net_nic_create(Machine *m, const char *str, GError **errp);

/*
 * The NIC side of -device ...,netdev=ID,mac=MAC: find and connect the back
 * end (none: the NIC's frames go nowhere) and parse the MAC (default
 * 52:54:00:12:34:56 plus one per NIC). Consumes "netdev" and "mac" of @o.
 */
bool net_nic_setup(NetClient *nic, Opts *o, uint8_t mac[6], GError **errp);

/* Parse "aa:bb:cc:dd:ee:ff". */
bool net_parse_mac(const char *s, uint8_t mac[6]);

/* Internet checksum (RFC 1071) of @len bytes, folded, starting from @sum. */
uint16_t net_checksum(const uint8_t *buf, size_t len, uint32_t sum);

/*
 * Offloads (net/offload.c). net_csum_valid: whether @frame is IPv4/IPv6
 * carrying TCP or UDP whose IP header and TCP/UDP checksums are all
 * correct (false for anything else, including fragments).
 */
bool net_csum_valid(const uint8_t *frame, size_t len);
/*
 * Cut the TCP (or, for e1000, UDP) super-frame @frame into segments of at
 * most @mss payload bytes, each a copy of the headers with the IP length,
 * IPv4 id and checksum, TCP sequence number and flags (FIN/PSH on the last
 * only, CWR on the first only) and TCP/UDP checksum made right, passed to
 * @emit (valid during the call). The IP length field of @frame is ignored:
 * the frame's end is the datagram's. Returns the number of segments, 0 if
 * the frame is not IP + TCP/UDP or @mss is 0 or too large (nothing sent).
 */
unsigned net_segment(const uint8_t *frame, size_t len, unsigned mss,
                     void (*emit)(void *opaque, const uint8_t *seg, size_t len),
                     void *opaque);
/*
 * How many segments net_segment(@frame, @len, @mss) would emit (0: it
 * would refuse the frame), without cutting it; sets *@hdr_len (if not
 * NULL and the count is not 0) to the header bytes each segment repeats.
 * For a NIC that checks or counts a request before handing it on whole.
 */
unsigned net_segment_count(const uint8_t *frame, size_t len, unsigned mss, size_t *hdr_len);

/*
 * Receive coalescing (net/offload.c): a back end feeds the frames it sends
 * towards a NIC through a NetCoalescer, which merges consecutive in-order
 * TCP segments of one flow into a GSO frame, so the guest's stack handles
 * one large frame instead of dozens. net_coalesce_add() merges @frame
 * into the pending frame when both are TCP data segments (IPv4 without
 * options, or IPv6 without extension headers) carrying ACK and at most
 * PSH besides, with right checksums, and @frame continues the pending
 * one: the same Ethernet header, IP header (but for length, IPv4 id and
 * checksum), ports, TCP header length and options; its sequence number
 * where the pending payload ends; an ack number not behind; a payload no
 * larger than the first segment's; the pending frame not closed (a short
 * or PSH segment closes it); the result within 65535 IP bytes and
 * NET_MAX_FRAME. Otherwise the pending frame is flushed first, and a
 * frame that cannot start a merge (anything but such a segment, hostile
 * bytes included) is emitted at once, unchanged. Frames are never
 * reordered. The merged frame keeps the first segment's IPv4 id and takes
 * the last one's ack number, window and PSH.
 *
 * Pure ACKs merge by replacement: a TCP segment without payload whose
 * flags are exactly ACK replaces a pending such ACK of the same flow
 * (Ethernet and IP headers but for IPv4 id and checksum, ports, sequence
 * number and options equal) if its ack number is strictly ahead; an equal
 * one (a duplicate ACK, a window update) is never merged. Acks are
 * cumulative, so the last one says all the run said (see net/offload.c).
 *
 * net_coalesce_flush() emits the pending frame: a lone segment or ACK
 * unchanged (@emit's gso NULL, as for frames passed through), several
 * segments as one frame with the IP length, IPv4 header checksum and TCP
 * checksum recomputed (from the segments' verified sums:
 * no second pass over the payload) and mss the first segment's payload.
 * A caller must flush before returning from the code that produced the
 * frames; nothing is held across main-loop iterations. @emit's buffer is
 * valid during the call.
 */
typedef struct NetCoalescer NetCoalescer;
typedef void NetEmitFn(void *opaque, const uint8_t *frame, size_t len, const NetGso *gso);
NetCoalescer *net_coalesce_new(NetEmitFn *emit, void *opaque);
/* Free @c; a pending frame is dropped (flush first). NULL is fine. */
void net_coalesce_free(NetCoalescer *c);
void net_coalesce_add(NetCoalescer *c, const uint8_t *frame, size_t len);
void net_coalesce_flush(NetCoalescer *c);

/* Back-end constructors (net/slirp.c, net/tap.c); @raw is the whole option
 * string, for keys that may repeat (hostfwd). */
NetClient *net_slirp_create(const char *id, Opts *o, const char *raw, GError **errp);
NetClient *net_tap_create(const char *id, Opts *o, GError **errp);

/*
 * Parse one hostfwd rule "PROTO:[HADDR]:HPORT-[GADDR]:GPORT" (PROTO tcp or
 * udp, empty addresses meaning any / the DHCP guest). For tests and slirp.c.
 */
bool net_parse_hostfwd(const char *s, bool *udp, uint32_t *haddr, uint16_t *hport,
                       uint32_t *gaddr, uint16_t *gport, GError **errp);

#endif
