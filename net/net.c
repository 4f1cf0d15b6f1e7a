/* Frame exchange between NICs and back ends (include/net/net.h). */
#include <string.h>
#include "hw/device.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "net/net.h"

/* A frame waiting in a receiver's queue, with its GSO metadata if any. */
typedef struct NetPacket {
    NetGso gso;                     /* gso.mss 0: a plain frame */
    size_t len;
    uint8_t data[];
} NetPacket;

static GPtrArray *backends;         /* registered back ends (NetClient *) */
static unsigned nic_count;          /* NICs set up: the default MAC's last byte */
static unsigned nic_auto_ids;       /* -nic back ends without id= */

NetClient *net_client_new(const NetClientOps *ops, const char *name, void *opaque)
{
    NetClient *nc = g_new0(NetClient, 1);

    nc->ops = ops;
    nc->name = g_strdup(name);
    nc->opaque = opaque;
    g_queue_init(&nc->queue);
    return nc;
}

void net_client_free(NetClient *nc)
{
    if (!nc) {
        return;
    }
    if (nc->peer) {
        nc->peer->peer = NULL;
    }
    if (backends) {
        g_ptr_array_remove(backends, nc);
    }
    if (nc->ops->cleanup) {
        nc->ops->cleanup(nc);
    }
    g_queue_clear_full(&nc->queue, g_free);
    g_free(nc->name);
    g_free(nc);
}

bool net_client_connect(NetClient *a, NetClient *b, GError **errp)
{
    if (a == b || a->peer || b->peer) {
        error_setg(errp, "network client '%s' is already in use",
                   (a->peer || a == b) ? a->name : b->name);
        return false;
    }
    a->peer = b;
    b->peer = a;
    return true;
}

static bool can_receive(NetClient *nc)
{
    return !nc->ops->can_receive || nc->ops->can_receive(nc);
}

static NetPacket *packet_new(const uint8_t *buf, size_t len, const NetGso *gso)
{
    NetPacket *p = g_malloc(sizeof(*p) + len);

    p->gso = gso ? *gso : (NetGso){ 0 };
    p->len = len;
    memcpy(p->data, buf, len);
    return p;
}

static bool takes_gso(NetClient *nc, const NetGso *gso)
{
    return nc->ops->receive_gso && nc->ops->gso_ok && nc->ops->gso_ok(nc, gso);
}

/* Deliver @buf to @to now, or queue it; false if a frame was lost. */
static bool deliver(NetClient *to, const uint8_t *buf, size_t len, const NetGso *gso)
{
    bool lost = false;

    /* Keep frame order: once something is queued, everything queues. */
    if (g_queue_is_empty(&to->queue) && can_receive(to)) {
        if (gso) {
            to->ops->receive_gso(to, buf, len, gso);
        } else {
            to->ops->receive(to, buf, len);
        }
        return true;
    }
    if (g_queue_get_length(&to->queue) >= NET_QUEUE_MAX) {
        g_free(g_queue_pop_head(&to->queue));
        to->dropped++;
        lost = true;
    }
    g_queue_push_tail(&to->queue, packet_new(buf, len, gso));
    return !lost;
}

bool net_send(NetClient *from, const uint8_t *buf, size_t len)
{
    NetClient *to = from->peer;

    if (!to || len == 0 || len > NET_MAX_FRAME) {
        return false;
    }
    return deliver(to, buf, len, NULL);
}

typedef struct SegSend {
    NetClient *from;
    bool ok;
} SegSend;

static void seg_send(void *opaque, const uint8_t *seg, size_t len)
{
    SegSend *s = opaque;

    s->ok &= net_send(s->from, seg, len);
}

bool net_peer_gso_ok(NetClient *from, const NetGso *gso)
{
    return from->peer && takes_gso(from->peer, gso);
}

bool net_send_gso(NetClient *from, const uint8_t *buf, size_t len, const NetGso *gso)
{
    NetClient *to = from->peer;
    SegSend s = { from, true };

    if (!gso || gso->mss == 0) {
        return net_send(from, buf, len);
    }
    if (!to || len == 0) {
        return false;
    }
    /* A frame beyond NET_MAX_FRAME (a guest's VLAN-tagged 64 KiB request)
     * still makes segments that fit. */
    if (len <= NET_MAX_FRAME && takes_gso(to, gso)) {
        return deliver(to, buf, len, gso);
    }
    return net_segment(buf, len, gso->mss, seg_send, &s) && s.ok;
}

bool net_peer_can_receive(NetClient *from)
{
    NetClient *to = from->peer;

    return to && g_queue_is_empty(&to->queue) && can_receive(to);
}

typedef struct SegQueue {
    GList *head;                    /* segments, in reverse order */
} SegQueue;

static void seg_queue(void *opaque, const uint8_t *seg, size_t len)
{
    SegQueue *q = opaque;

    q->head = g_list_prepend(q->head, packet_new(seg, len, NULL));
}

void net_client_ready(NetClient *nc)
{
    /* receive() may complete work that calls back in here: do not recurse. */
    if (nc->flushing) {
        return;
    }
    nc->flushing = true;
    while (!g_queue_is_empty(&nc->queue) && can_receive(nc)) {
        NetPacket *p = g_queue_pop_head(&nc->queue);

        if (!p->gso.mss) {
            nc->ops->receive(nc, p->data, p->len);
        } else if (takes_gso(nc, &p->gso)) {
            nc->ops->receive_gso(nc, p->data, p->len, &p->gso);
        } else {
            /*
             * Queued while the receiver took GSO, and now it does not (the
             * guest reset its driver): put the segments in its place.
             */
            SegQueue q = { NULL };
            if (!net_segment(p->data, p->len, p->gso.mss, seg_queue, &q)) {
                nc->dropped++;
            }
            for (GList *l = q.head; l; l = l->next) {
                g_queue_push_head(&nc->queue, l->data);
            }
            g_list_free(q.head);
        }
        g_free(p);
    }
    nc->flushing = false;
    if (g_queue_is_empty(&nc->queue) && nc->peer && nc->peer->ops->peer_ready) {
        nc->peer->ops->peer_ready(nc->peer);
    }
}

void net_backend_register(NetClient *nc)
{
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, nc);
}

NetClient *net_backend_find(const char *id)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        NetClient *nc = backends->pdata[i];
        if (!strcmp(nc->name, id)) {
            return nc;
        }
    }
    return NULL;
}

void net_backends_free(void)
{
    while (backends && backends->len) {
        net_client_free(backends->pdata[backends->len - 1]);
    }
    if (backends) {
        g_ptr_array_free(backends, TRUE);
        backends = NULL;
    }
}

/* Create the back end named by @o's "type" with id @id. */
static NetClient *backend_new(const char *id, Opts *o, const char *raw, GError **errp)
{
    const char *type = opts_get(o, "type");

    if (!type) {
        error_setg(errp, "a network back-end type is required (user or tap)");
        return NULL;
    }
    if (net_backend_find(id)) {
        error_setg(errp, "duplicate netdev id '%s'", id);
        return NULL;
    }
    if (!strcmp(type, "user")) {
        return net_slirp_create(id, o, raw, errp);
    }
    if (!strcmp(type, "tap")) {
        return net_tap_create(id, o, errp);
    }
    error_setg(errp, "unknown network back end '%s' (supported: user, tap)", type);
    return NULL;
}

bool net_netdev_create(const char *str, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse(str, "type", &err);
    NetClient *nc = NULL;
    const char *id;

    if (!o) {
        error_setg(errp, "-netdev %s: %s", str, err->message);
        return false;
    }
    id = opts_get(o, "id");
    if (!id || !*id) {
        error_setg(errp, "-netdev %s: id= is required", str);
    } else if ((nc = backend_new(id, o, str, &err)) == NULL) {
        error_setg(errp, "-netdev %s: %s", str, err->message);
    } else if (!opts_check_all_used(o, "-netdev", &err)) {
        error_setg(errp, "-netdev %s: %s", str, err->message);
        net_client_free(nc);
        nc = NULL;
    } else {
        net_backend_register(nc);
    }
    opts_free(o);
    return nc != NULL;
}

bool net_nic_create(Machine *m, const char *str, GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *id = NULL;
    g_autofree char *dev = NULL;
    Opts *o = opts_parse(str, "type", &err);
    const char *model, *mac, *given_id;
    NetClient *nc;
    bool ok = false;

    if (!o) {
        error_setg(errp, "-nic %s: %s", str, err->message);
        return false;
    }
    model = opts_get(o, "model");
    mac = opts_get(o, "mac");
    given_id = opts_get(o, "id");
    id = given_id ? g_strdup(given_id) : g_strdup_printf("__nic%u", nic_auto_ids++);
    if (model && strchr(model, ',')) {
        error_setg(errp, "-nic %s: bad model", str);
    } else if ((nc = backend_new(id, o, str, &err)) == NULL) {
        error_setg(errp, "-nic %s: %s", str, err->message);
    } else if (!opts_check_all_used(o, "-nic", &err)) {
        error_setg(errp, "-nic %s: %s", str, err->message);
        net_client_free(nc);
    } else {
        net_backend_register(nc);
        dev = g_strdup_printf("%s,netdev=%s%s%s", model ? model : "e1000", id,
                              mac ? ",mac=" : "", mac ? mac : "");
        ok = device_create_from_string(m, dev, errp);
    }
    opts_free(o);
    return ok;
}

bool net_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &end) != 6 || strlen(s) != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = v[i];
    }
    return true;
}

bool net_nic_setup(NetClient *nic, Opts *o, uint8_t mac[6], GError **errp)
{
    const char *netdev = opts_get(o, "netdev");
    const char *macstr = opts_get(o, "mac");

    if (macstr) {
        if (!net_parse_mac(macstr, mac)) {
            error_setg(errp, "mac=%s: expected aa:bb:cc:dd:ee:ff", macstr);
            return false;
        }
        if (mac[0] & 1) {
            error_setg(errp, "mac=%s: a multicast address cannot be a NIC's", macstr);
            return false;
        }
    } else {
        static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        memcpy(mac, base, 6);
        mac[5] += nic_count;
    }
    nic_count++;
    if (netdev) {
        NetClient *be = net_backend_find(netdev);
        if (!be) {
            error_setg(errp, "netdev=%s: no such -netdev", netdev);
            return false;
        }
        return net_client_connect(be, nic, errp);
    }
    return true;
}

uint16_t net_checksum(const uint8_t *buf, size_t len, uint32_t sum)
{
    uint64_t s = sum;

    for (size_t i = 0; i + 1 < len; i += 2) {
        s += (uint32_t)buf[i] << 8 | buf[i + 1];
    }
    if (len & 1) {
        s += (uint32_t)buf[len - 1] << 8;
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return ~s & 0xffff;
}
