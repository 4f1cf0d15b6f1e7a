/*
 * -netdev tap,id=ID,ifname=NAME[,script=no,downscript=no]: a host TAP
 * interface through /dev/net/tun (IFF_TAP | IFF_NO_PI, no vnet header).
 * The interface must exist or the process must be allowed to create it
 * (CAP_NET_ADMIN); kemu runs no scripts. Reading stops while the NIC has
 * no room (backpressure) and resumes on peer_ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <glib-unix.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "net/net.h"

typedef struct NetTap {
    NetClient *nc;
    int fd;
    guint watch;                    /* read watch while the peer has room */
    uint8_t buf[NET_MAX_FRAME];
} NetTap;

static gboolean tap_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    NetTap *t = opaque;

    (void)cond;
    /* Read while the NIC can take frames; net_send queues the rest. */
    for (int n = 0; n < 64; n++) {
        ssize_t len = read(fd, t->buf, sizeof(t->buf));
        if (len <= 0) {
            if (len < 0 && errno != EAGAIN && errno != EINTR) {
                log_warn("tap %s: read: %s", t->nc->name, g_strerror(errno));
                t->watch = 0;
                return G_SOURCE_REMOVE;
            }
            break;
        }
        net_send(t->nc, t->buf, len);
        if (!net_peer_can_receive(t->nc)) {
            t->watch = 0;
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static void tap_start_reading(NetTap *t)
{
    if (!t->watch && t->fd >= 0) {
        t->watch = g_unix_fd_add(t->fd, G_IO_IN, tap_readable, t);
    }
}

static void tap_peer_ready(NetClient *nc)
{
    tap_start_reading(nc->opaque);
}

static void tap_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    NetTap *t = nc->opaque;

    /* The tap queue being full drops the frame, as a busy wire would. */
    if (write(t->fd, buf, len) < 0 && errno != EAGAIN) {
        log_guest_error("tap %s: write: %s", nc->name, g_strerror(errno));
    }
}

static void tap_cleanup(NetClient *nc)
{
    NetTap *t = nc->opaque;

    if (t->watch) {
        g_source_remove(t->watch);
    }
    if (t->fd >= 0) {
        close(t->fd);
    }
    g_free(t);
}

static const NetClientOps tap_ops = {
    .type = "tap",
    .receive = tap_receive,
    .peer_ready = tap_peer_ready,
    .cleanup = tap_cleanup,
};

static bool script_is_no(Opts *o, const char *key, GError **errp)
{
    const char *v = opts_get(o, key);

    if (v && strcmp(v, "no") && strcmp(v, "")) {
        error_setg(errp, "%s=%s: kemu runs no scripts; use %s=no", key, v, key);
        return false;
    }
    return true;
}

NetClient *net_tap_create(const char *id, Opts *o, GError **errp)
{
    const char *ifname = opts_get(o, "ifname");
    struct ifreq ifr = { 0 };
    NetTap *t;
    NetClient *nc;

    if (!script_is_no(o, "script", errp) || !script_is_no(o, "downscript", errp)) {
        return NULL;
    }
    if (ifname && strlen(ifname) >= IFNAMSIZ) {
        error_setg(errp, "ifname=%s: longer than %d characters", ifname, IFNAMSIZ - 1);
        return NULL;
    }
    t = g_new0(NetTap, 1);
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    nc = net_client_new(&tap_ops, id, t);
    t->nc = nc;
    if (t->fd < 0) {
        error_setg(errp, "cannot open /dev/net/tun: %s", g_strerror(errno));
        goto fail;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ifname) {
        g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    }
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        error_setg(errp, "cannot attach to tap interface '%s': %s", ifname ? ifname : "",
                   g_strerror(errno));
        goto fail;
    }
    tap_start_reading(t);
    return nc;
fail:
    net_client_free(nc);
    return NULL;
}
