/*
 * -netdev user: libslirp's user-mode network stack (a NAT router, DHCP and
 * DNS at 10.0.2.x by default) in the main loop. One GSource per instance
 * polls the sockets slirp asks for; slirp's timers are glib timeouts.
 * Everything runs on the main-loop thread with the BQL held, or on a vCPU
 * thread (slirp_input) with the BQL held.
 *
 * Frames towards a NIC that takes GSO frames go through a NetCoalescer:
 * the TCP segments slirp emits in one burst (one poll, one timer, one
 * guest frame answered) reach the guest as one large frame. Every entry
 * into slirp that may emit frames flushes it before returning (see
 * slirp_flush), so nothing waits for a later event.
 *
 * A NIC's TCP segmentation request (net_send_gso) is taken whole: it is
 * cut here and its segments go into slirp one after the other with a
 * single flush at the end, so the ACKs slirp answers them with (about one
 * per two segments) merge into one (NetCoalescer's pure-ACK rule) and the
 * guest handles one ACK per 64 KiB sent instead of some twenty.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <slirp/libslirp.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "net/net.h"

/* Frames longer than this carry data: push it to the host at once. */
#define SLIRP_POLL_NOW_MIN 256

typedef struct SlirpFd {
    int fd;
    short events;                   /* poll(2) events */
    gpointer tag;                   /* g_source_add_unix_fd */
} SlirpFd;

typedef struct SlirpSource {
    GSource src;
    struct NetSlirp *ns;
} SlirpSource;

typedef struct NetSlirp {
    NetClient *nc;
    Slirp *slirp;
    SlirpSource *source;
    GArray *fds;                    /* of SlirpFd: what the main loop polls */
    GArray *now;                    /* of struct pollfd: slirp's last fill */
    int64_t poll_deadline_us;       /* when the main loop wakes for slirp's
                                       timers (-1: never): set by prepare,
                                       brought forward by slirp_poll_now */
    NetCoalescer *coalescer;        /* frames towards the NIC */
} NetSlirp;

typedef struct SlirpTimer {
    NetSlirp *ns;
    SlirpTimerCb cb;
    void *cb_opaque;
    guint source_id;
} SlirpTimer;

static void slirp_emit(void *opaque, const uint8_t *frame, size_t len, const NetGso *gso)
{
    NetSlirp *ns = opaque;

    net_send_gso(ns->nc, frame, len, gso);
}

/* Send what the coalescer holds: at the end of every call into slirp. */
static void slirp_flush(NetSlirp *ns)
{
    net_coalesce_flush(ns->coalescer);
}

static ssize_t slirp_send_packet(const void *buf, size_t len, void *opaque)
{
    NetSlirp *ns = opaque;
    /* Our guest network is IPv4-only: ask whether the peer takes TCPv4
     * GSO frames (net_send_gso checks each merged frame again). */
    static const NetGso tcp4 = { .mss = 1460, .hdr_len = 54 };

    if (net_peer_gso_ok(ns->nc, &tcp4)) {
        net_coalesce_add(ns->coalescer, buf, len);
    } else {
        slirp_flush(ns);
        net_send(ns->nc, buf, len);
    }
    return len;
}

static void slirp_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    log_guest_error("slirp: %s", msg);
}

static int64_t slirp_clock_ns(void *opaque)
{
    (void)opaque;
    return g_get_monotonic_time() * 1000;
}

static gboolean slirp_timer_fire(gpointer opaque)
{
    SlirpTimer *t = opaque;
    NetSlirp *ns = t->ns;

    t->source_id = 0;
    t->cb(t->cb_opaque);
    slirp_flush(ns);
    return G_SOURCE_REMOVE;
}

static void *slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    SlirpTimer *t = g_new0(SlirpTimer, 1);

    t->ns = opaque;
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    return t;
}

static void slirp_timer_free(void *timer, void *opaque)
{
    SlirpTimer *t = timer;

    (void)opaque;
    if (t->source_id) {
        g_source_remove(t->source_id);
    }
    g_free(t);
}

/* @expire_ms is an absolute time in slirp's clock (slirp_clock_ns), in ms. */
static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *t = timer;
    int64_t delay = expire_ms - g_get_monotonic_time() / 1000;

    (void)opaque;
    if (t->source_id) {
        g_source_remove(t->source_id);
    }
    t->source_id = g_timeout_add(delay > 0 ? (guint)MIN(delay, G_MAXINT) : 0,
                                 slirp_timer_fire, t);
}

static void slirp_register_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;
}

static void slirp_notify(void *opaque)
{
    (void)opaque;
    g_main_context_wakeup(NULL);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send_packet,
    .guest_error = slirp_guest_error,
    .clock_get_ns = slirp_clock_ns,
    .timer_new = slirp_timer_new,
    .timer_free = slirp_timer_free,
    .timer_mod = slirp_timer_mod,
    .register_poll_fd = slirp_register_fd,
    .unregister_poll_fd = slirp_register_fd,
    .notify = slirp_notify,
};

static int add_poll_now(int fd, int events, void *opaque)
{
    NetSlirp *ns = opaque;
    struct pollfd p = {
        .fd = fd,
        .events = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
                          ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
                          ((events & SLIRP_POLL_PRI) ? POLLPRI : 0)),
    };

    g_array_append_val(ns->now, p);
    return ns->now->len - 1;
}

/*
 * What slirp asks for now: its fds and events into ns->now (the indices
 * slirp keeps refer to it), its timeout as a monotonic deadline (-1: none).
 */
static int64_t fill_now(NetSlirp *ns)
{
    uint32_t ms = UINT32_MAX;

    g_array_set_size(ns->now, 0);
    slirp_pollfds_fill(ns->slirp, &ms, add_poll_now, ns);
    return ms == UINT32_MAX ? -1 : g_get_monotonic_time() + (int64_t)ms * 1000;
}

static int get_revents_now(int idx, void *opaque)
{
    NetSlirp *ns = opaque;
    short r;

    if (idx < 0 || (guint)idx >= ns->now->len) {
        return 0;
    }
    r = g_array_index(ns->now, struct pollfd, idx).revents;
    return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
           ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Whether the main loop polls exactly what ns->now asks for. */
static bool fds_current(NetSlirp *ns)
{
    if (ns->fds->len != ns->now->len) {
        return false;
    }
    for (guint i = 0; i < ns->fds->len; i++) {
        const SlirpFd *f = &g_array_index(ns->fds, SlirpFd, i);
        const struct pollfd *p = &g_array_index(ns->now, struct pollfd, i);
        if (f->fd != p->fd || f->events != p->events) {
            return false;
        }
    }
    return true;
}

static void drop_fds(NetSlirp *ns)
{
    for (guint i = 0; i < ns->fds->len; i++) {
        g_source_remove_unix_fd(&ns->source->src, g_array_index(ns->fds, SlirpFd, i).tag);
    }
    g_array_set_size(ns->fds, 0);
}

/*
 * Make the main loop poll what ns->now asks for. Only when that changed:
 * glib wakes a context whose fd set changes, so re-registering on every
 * iteration kept the main loop spinning for as long as slirp had a socket
 * (a hostfwd listener is one from start-up).
 */
static void sync_fds(NetSlirp *ns)
{
    GSource *src = &ns->source->src;

    if (fds_current(ns)) {
        return;
    }
    drop_fds(ns);
    g_array_set_size(ns->fds, ns->now->len);
    for (guint i = 0; i < ns->now->len; i++) {
        const struct pollfd *p = &g_array_index(ns->now, struct pollfd, i);
        GIOCondition c = ((p->events & POLLIN) ? G_IO_IN : 0) |
                         ((p->events & POLLOUT) ? G_IO_OUT : 0) |
                         ((p->events & POLLPRI) ? G_IO_PRI : 0);
        g_array_index(ns->fds, SlirpFd, i) = (SlirpFd){
            .fd = p->fd, .events = p->events, .tag = g_source_add_unix_fd(src, p->fd, c),
        };
    }
}

/*
 * The main loop's fds only wake it (dispatch polls afresh, in
 * slirp_poll_now); glib releases the context lock around prepare, so they
 * can be brought up to date here, as slirp's socket list changes.
 */
static gboolean slirp_source_prepare(GSource *src, gint *timeout)
{
    NetSlirp *ns = ((SlirpSource *)src)->ns;
    int64_t deadline = fill_now(ns);

    sync_fds(ns);
    ns->poll_deadline_us = deadline;
    slirp_flush(ns);
    *timeout = deadline < 0 ? -1
               : (gint)MIN((deadline - g_get_monotonic_time() + 999) / 1000, G_MAXINT);
    return FALSE;
}

/*
 * slirp's socket work and due timers, now, on the calling thread (BQL
 * held): the main loop's dispatch, and a vCPU's right after the guest sent
 * TCP data, so the data reaches the host socket and slirp's window update
 * the guest without a round trip through the main loop. Where waking an
 * idle thread is slow, that round trip per burst bounded the guest's
 * sending rate (docs/networking.md).
 *
 * The fds are polled afresh with a zero timeout, so slirp gets revents
 * only for what it asks now (its sowrite() takes POLLOUT with nothing
 * queued for a disconnect), never results from before other work ran.
 * Then, off the main loop (@in_main_loop false), the main loop is woken
 * only if it must poll other fds or wake earlier for a timer than it
 * would; in it, its next prepare catches up anyway.
 */
static void slirp_poll_now(NetSlirp *ns, bool in_main_loop)
{
    int64_t deadline;

    fill_now(ns);
    if (ns->now->len) {
        poll((struct pollfd *)(void *)ns->now->data, ns->now->len, 0);
    }
    slirp_pollfds_poll(ns->slirp, 0, get_revents_now, ns);
    if (in_main_loop) {
        return;
    }
    deadline = fill_now(ns);
    if (!fds_current(ns) ||
        (deadline >= 0 && (ns->poll_deadline_us < 0 || deadline < ns->poll_deadline_us))) {
        ns->poll_deadline_us = deadline;
        g_main_context_wakeup(NULL);
    }
}

static gboolean slirp_source_check(GSource *src)
{
    NetSlirp *ns = ((SlirpSource *)src)->ns;

    for (guint i = 0; i < ns->fds->len; i++) {
        if (g_source_query_unix_fd(src, g_array_index(ns->fds, SlirpFd, i).tag)) {
            return TRUE;
        }
    }
    return ns->poll_deadline_us >= 0 && g_get_monotonic_time() >= ns->poll_deadline_us;
}

static gboolean slirp_source_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    NetSlirp *ns = ((SlirpSource *)src)->ns;

    (void)cb;
    (void)data;
    slirp_poll_now(ns, true);
    slirp_flush(ns);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs slirp_source_funcs = {
    .prepare = slirp_source_prepare,
    .check = slirp_source_check,
    .dispatch = slirp_source_dispatch,
};

static void net_slirp_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    NetSlirp *ns = nc->opaque;

    slirp_input(ns->slirp, buf, (int)len);
    if (len > SLIRP_POLL_NOW_MIN) {
        slirp_poll_now(ns, false);
    }
    slirp_flush(ns);
}

static void slirp_input_seg(void *opaque, const uint8_t *seg, size_t len)
{
    NetSlirp *ns = opaque;

    slirp_input(ns->slirp, seg, (int)len);
}

static void net_slirp_receive_gso(NetClient *nc, const uint8_t *buf, size_t len,
                                  const NetGso *gso)
{
    NetSlirp *ns = nc->opaque;

    if (!net_segment(buf, len, gso->mss, slirp_input_seg, ns)) {
        log_guest_error("slirp: cannot segment a %zu-byte frame (mss %u)", len, gso->mss);
    }
    slirp_poll_now(ns, false);
    slirp_flush(ns);
}

/* Any segmentation request: net_segment checks the frame itself. */
static bool net_slirp_gso_ok(NetClient *nc, const NetGso *gso)
{
    (void)nc;
    (void)gso;
    return true;
}

static void net_slirp_cleanup(NetClient *nc)
{
    NetSlirp *ns = nc->opaque;

    if (ns->source) {
        drop_fds(ns);
        g_source_destroy(&ns->source->src);
        g_source_unref(&ns->source->src);
    }
    if (ns->slirp) {
        slirp_cleanup(ns->slirp);
    }
    g_array_free(ns->fds, TRUE);
    g_array_free(ns->now, TRUE);
    net_coalesce_free(ns->coalescer);
    g_free(ns);
}

static const NetClientOps net_slirp_ops = {
    .type = "user",
    .receive = net_slirp_receive,
    .receive_gso = net_slirp_receive_gso,
    .gso_ok = net_slirp_gso_ok,
    .cleanup = net_slirp_cleanup,
};

static bool parse_ip(const char *s, struct in_addr *a)
{
    return inet_pton(AF_INET, s, a) == 1;
}

/* "ADDR/PREFIX", "ADDR/MASK" or "ADDR" (a /24). */
static bool parse_net(const char *s, struct in_addr *net, struct in_addr *mask,
                      GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(s, "/", 2);
    uint64_t prefix = 24;

    if (!parse_ip(parts[0], net)) {
        error_setg(errp, "net=%s: not an IPv4 address", s);
        return false;
    }
    if (parts[1]) {
        if (parse_u64(parts[1], &prefix)) {
            if (prefix < 8 || prefix > 30) {
                error_setg(errp, "net=%s: prefix length must be 8 to 30", s);
                return false;
            }
        } else if (!parse_ip(parts[1], mask)) {
            error_setg(errp, "net=%s: bad netmask", s);
            return false;
        } else {
            uint32_t m = ntohl(mask->s_addr);
            if (~m & (~m + 1)) {
                error_setg(errp, "net=%s: netmask is not contiguous", s);
                return false;
            }
            net->s_addr &= mask->s_addr;
            return true;
        }
    }
    mask->s_addr = htonl(~0u << (32 - prefix));
    net->s_addr &= mask->s_addr;
    return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
    uint64_t v;

    if (!*s || !parse_u64(s, &v) || v > 65535) {
        return false;
    }
    *port = v;
    return true;
}

bool net_parse_hostfwd(const char *s, bool *udp, uint32_t *haddr, uint16_t *hport,
                       uint32_t *gaddr, uint16_t *gport, GError **errp)
{
    g_auto(GStrv) sides = g_strsplit(s, "-", 2);
    g_auto(GStrv) h = NULL;
    g_auto(GStrv) g = NULL;
    struct in_addr a;

    if (!sides[0] || !sides[1]) {
        goto bad;
    }
    h = g_strsplit(sides[0], ":", 3);
    g = g_strsplit(sides[1], ":", 2);
    if (g_strv_length(h) != 3 || g_strv_length(g) != 2) {
        goto bad;
    }
    if (!strcmp(h[0], "tcp") || !*h[0]) {
        *udp = false;
    } else if (!strcmp(h[0], "udp")) {
        *udp = true;
    } else {
        error_setg(errp, "hostfwd=%s: protocol must be tcp or udp", s);
        return false;
    }
    *haddr = 0;
    if (*h[1] && !parse_ip(h[1], &a)) {
        error_setg(errp, "hostfwd=%s: bad host address '%s'", s, h[1]);
        return false;
    }
    if (*h[1]) {
        *haddr = a.s_addr;
    }
    *gaddr = 0;
    if (*g[0] && !parse_ip(g[0], &a)) {
        error_setg(errp, "hostfwd=%s: bad guest address '%s'", s, g[0]);
        return false;
    }
    if (*g[0]) {
        *gaddr = a.s_addr;
    }
    if (!parse_port(h[2], hport) || !parse_port(g[1], gport) || *gport == 0) {
        error_setg(errp, "hostfwd=%s: bad port", s);
        return false;
    }
    return true;
bad:
    error_setg(errp, "hostfwd=%s: expected PROTO:[HADDR]:HPORT-[GADDR]:GPORT", s);
    return false;
}

/* Every "hostfwd=" value of a QEMU option string (",," is a literal comma). */
static GPtrArray *hostfwd_values(const char *raw)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) elems = g_strsplit(raw, ",", -1);

    for (char **e = elems; *e; e++) {
        if (g_str_has_prefix(*e, "hostfwd=")) {
            g_ptr_array_add(out, g_strdup(*e + 8));
        }
    }
    return out;
}

static bool setup_config(SlirpConfig *cfg, Opts *o, GError **errp)
{
    const char *net = opts_get(o, "net");
    const char *host = opts_get(o, "host");
    const char *dns = opts_get(o, "dns");
    const char *dhcp = opts_get(o, "dhcpstart");
    bool restrict_ = false, ipv4 = true;
    uint32_t mask;

    if (!opts_get_bool(o, "restrict", false, &restrict_, errp) ||
        !opts_get_bool(o, "ipv4", true, &ipv4, errp)) {
        return false;
    }
    if (!ipv4) {
        error_setg(errp, "ipv4=off: kemu's user network is IPv4-only");
        return false;
    }
    /* ipv6= is accepted for QEMU command lines; no IPv6 is offered yet. */
    opts_get(o, "ipv6");
    cfg->version = 3;
    cfg->restricted = restrict_;
    cfg->in_enabled = true;
    inet_pton(AF_INET, "10.0.2.0", &cfg->vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &cfg->vnetmask);
    if (net && !parse_net(net, &cfg->vnetwork, &cfg->vnetmask, errp)) {
        return false;
    }
    mask = cfg->vnetmask.s_addr;
    cfg->vhost.s_addr = cfg->vnetwork.s_addr | htonl(2);
    cfg->vnameserver.s_addr = cfg->vnetwork.s_addr | htonl(3);
    cfg->vdhcp_start.s_addr = cfg->vnetwork.s_addr | htonl(15);
    if ((host && !parse_ip(host, &cfg->vhost)) || (dns && !parse_ip(dns, &cfg->vnameserver)) ||
        (dhcp && !parse_ip(dhcp, &cfg->vdhcp_start))) {
        error_setg(errp, "host=, dns= and dhcpstart= take IPv4 addresses");
        return false;
    }
    if ((cfg->vhost.s_addr & mask) != cfg->vnetwork.s_addr ||
        (cfg->vnameserver.s_addr & mask) != cfg->vnetwork.s_addr ||
        (cfg->vdhcp_start.s_addr & mask) != cfg->vnetwork.s_addr) {
        error_setg(errp, "host=, dns= and dhcpstart= must lie inside net=");
        return false;
    }
    cfg->if_mtu = 1500;
    cfg->if_mru = 1500;
    return true;
}

NetClient *net_slirp_create(const char *id, Opts *o, const char *raw, GError **errp)
{
    SlirpConfig cfg = { 0 };
    g_autoptr(GPtrArray) fwds = hostfwd_values(raw);
    NetSlirp *ns;
    NetClient *nc;

    opts_get(o, "hostfwd");
    if (!setup_config(&cfg, o, errp)) {
        return NULL;
    }
    ns = g_new0(NetSlirp, 1);
    ns->fds = g_array_new(FALSE, FALSE, sizeof(SlirpFd));
    ns->now = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
    ns->coalescer = net_coalesce_new(slirp_emit, ns);
    nc = net_client_new(&net_slirp_ops, id, ns);
    ns->nc = nc;
    ns->slirp = slirp_new(&cfg, &slirp_callbacks, ns);
    if (!ns->slirp) {
        error_setg(errp, "libslirp failed to start");
        goto fail;
    }
    for (guint i = 0; i < fwds->len; i++) {
        bool udp;
        uint32_t ha, ga;
        uint16_t hp, gp;
        struct in_addr h, g;
        if (!net_parse_hostfwd(fwds->pdata[i], &udp, &ha, &hp, &ga, &gp, errp)) {
            goto fail;
        }
        h.s_addr = ha;
        g.s_addr = ga;
        if (slirp_add_hostfwd(ns->slirp, udp, h, hp, g, gp) < 0) {
            error_setg(errp, "hostfwd=%s: cannot listen on host port %u: %s",
                       (char *)fwds->pdata[i], hp, g_strerror(errno));
            goto fail;
        }
    }
    ns->source = (SlirpSource *)g_source_new(&slirp_source_funcs, sizeof(SlirpSource));
    ns->source->ns = ns;
    g_source_set_name(&ns->source->src, "slirp");
    g_source_attach(&ns->source->src, NULL);
    return nc;
fail:
    net_client_free(nc);
    return NULL;
}
