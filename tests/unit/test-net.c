/*
 * Networking plumbing (net/net.c) with test clients, and the slirp back
 * end brought up in-process: a hand-built DHCPDISCOVER frame must come
 * back as a DHCPOFFER; hostfwd rules parse or fail with clear errors and
 * a forwarded host port accepts connections; a TAP interface carries frames
 * both ways (skipped, and said so, without CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib.h>
#include "net/net.h"

/* A test client: records frames, takes them only while @open. */
typedef struct Sink {
    NetClient *nc;
    bool open;
    unsigned frames, peer_ready_calls;
    uint8_t last[2048];
    size_t last_len;
    GPtrArray *all;                 /* GBytes of every frame */
} Sink;

static void sink_receive(NetClient *nc, const uint8_t *buf, size_t len)
{
    Sink *s = nc->opaque;

    g_assert_true(s->open);
    s->frames++;
    s->last_len = MIN(len, sizeof(s->last));
    memcpy(s->last, buf, s->last_len);
    g_ptr_array_add(s->all, g_bytes_new(buf, len));
}

static bool sink_can_receive(NetClient *nc)
{
    return ((Sink *)nc->opaque)->open;
}

static void sink_peer_ready(NetClient *nc)
{
    ((Sink *)nc->opaque)->peer_ready_calls++;
}

static const NetClientOps sink_ops = {
    .type = "nic",
    .receive = sink_receive,
    .can_receive = sink_can_receive,
    .peer_ready = sink_peer_ready,
};

static Sink *sink_new(const char *name, bool open)
{
    Sink *s = g_new0(Sink, 1);

    s->nc = net_client_new(&sink_ops, name, s);
    s->open = open;
    s->all = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    return s;
}

static void sink_free(Sink *s)
{
    net_client_free(s->nc);
    g_ptr_array_free(s->all, TRUE);
    g_free(s);
}

static void test_send_and_backpressure(void)
{
    Sink *a = sink_new("a", true), *b = sink_new("b", false);
    g_autoptr(GError) err = NULL;
    uint8_t f[64];

    g_assert_false(net_send(a->nc, f, sizeof(f)));       /* no peer */
    g_assert_true(net_client_connect(a->nc, b->nc, &err));
    g_assert_false(net_client_connect(a->nc, b->nc, &err));
    g_assert_nonnull(strstr(err->message, "already in use"));

    /* b is closed: frames queue in order, nothing delivered. */
    for (int i = 0; i < 3; i++) {
        memset(f, i, sizeof(f));
        g_assert_true(net_send(a->nc, f, sizeof(f)));
    }
    g_assert_cmpuint(b->frames, ==, 0);
    g_assert_false(net_peer_can_receive(a->nc));
    g_assert_true(net_peer_can_receive(b->nc));

    /* b opens: ready() flushes in order and tells a. */
    b->open = true;
    net_client_ready(b->nc);
    g_assert_cmpuint(b->frames, ==, 3);
    for (int i = 0; i < 3; i++) {
        gsize len;
        const uint8_t *d = g_bytes_get_data(b->all->pdata[i], &len);
        g_assert_cmpuint(len, ==, 64);
        g_assert_cmpuint(d[0], ==, i);
    }
    g_assert_cmpuint(a->peer_ready_calls, ==, 1);

    /* Open and empty: delivered at once. */
    g_assert_true(net_send(b->nc, f, 10));
    g_assert_cmpuint(a->frames, ==, 1);
    g_assert_cmpuint(a->last_len, ==, 10);

    /* Zero-length and oversized frames are refused. */
    g_assert_false(net_send(a->nc, f, 0));
    g_assert_false(net_send(a->nc, f, NET_MAX_FRAME + 1));

    /* Freeing one side disconnects the other. */
    sink_free(b);
    g_assert_null(a->nc->peer);
    g_assert_false(net_send(a->nc, f, 10));
    sink_free(a);
}

static void test_queue_overflow(void)
{
    Sink *a = sink_new("a", true), *b = sink_new("b", false);
    uint8_t f[16] = { 0 };

    g_assert_true(net_client_connect(a->nc, b->nc, NULL));
    for (unsigned i = 0; i < NET_QUEUE_MAX; i++) {
        f[0] = i;
        g_assert_true(net_send(a->nc, f, sizeof(f)));
    }
    f[0] = 0xee;
    g_assert_false(net_send(a->nc, f, sizeof(f)));      /* oldest dropped */
    g_assert_cmpuint(b->nc->dropped, ==, 1);
    b->open = true;
    net_client_ready(b->nc);
    g_assert_cmpuint(b->frames, ==, NET_QUEUE_MAX);
    g_assert_cmpuint(b->last[0], ==, 0xee);
    sink_free(a);
    sink_free(b);
}

static void test_mac_and_checksum(void)
{
    uint8_t mac[6];
    /* RFC 1071's example bytes. */
    static const uint8_t data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

    g_assert_true(net_parse_mac("52:54:00:AB:cd:0f", mac));
    g_assert_cmpuint(mac[3], ==, 0xab);
    g_assert_cmpuint(mac[5], ==, 0x0f);
    g_assert_false(net_parse_mac("52:54:00:ab:cd", mac));
    g_assert_false(net_parse_mac("52:54:00:ab:cd:0f:11", mac));
    g_assert_false(net_parse_mac("52-54-00-ab-cd-0f", mac));
    g_assert_cmphex(net_checksum(data, sizeof(data), 0), ==, (uint16_t)~0xddf2);
    g_assert_cmphex(net_checksum(data, 3, 0), ==, (uint16_t)~(0x0001 + 0xf200));
}

static void test_hostfwd_parse(void)
{
    bool udp;
    uint32_t ha, ga;
    uint16_t hp, gp;
    static const char *const bad[] = {
        "tcp::80", "tcp:80-:22", "icmp::80-:22", "tcp::99999-:22", "tcp::80-:0",
        "tcp:1.2.3:80-:22", "tcp::80-1.2.3.4.5:22", "tcp::x-:22", "", "tcp::80-:",
    };

    g_assert_true(net_parse_hostfwd("tcp::5555-:22", &udp, &ha, &hp, &ga, &gp, NULL));
    g_assert_false(udp);
    g_assert_cmpuint(ha, ==, 0);
    g_assert_cmpuint(hp, ==, 5555);
    g_assert_cmpuint(ga, ==, 0);
    g_assert_cmpuint(gp, ==, 22);
    g_assert_true(net_parse_hostfwd("udp:127.0.0.1:53-10.0.2.15:5353", &udp, &ha, &hp,
                                    &ga, &gp, NULL));
    g_assert_true(udp);
    g_assert_cmphex(ha, ==, htonl(0x7f000001));
    g_assert_cmphex(ga, ==, htonl(0x0a00020f));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(net_parse_hostfwd(bad[i], &udp, &ha, &hp, &ga, &gp, &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, "hostfwd="));
    }
}

static void test_netdev_errors(void)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        { "user", "id= is required" },
        { "bogus,id=x", "unknown network back end" },
        { "user,id=x,net=10.0.2.0/33", "prefix" },
        { "user,id=x,net=banana", "not an IPv4" },
        { "user,id=x,host=192.168.1.1", "inside net=" },
        { "user,id=x,hostfwd=tcp::80", "hostfwd=tcp::80" },
        { "user,id=x,restrict=maybe", "restrict" },
        { "user,id=x,colour=blue", "colour" },
        { "tap,id=x,script=/etc/qemu-ifup", "runs no scripts" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(net_netdev_create(cases[i].spec, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].msg)) {
            g_error("%s: message '%s' lacks '%s'", cases[i].spec, err->message, cases[i].msg);
        }
        g_assert_null(net_backend_find("x"));
    }
    g_assert_true(net_netdev_create("user,id=dup", NULL));
    g_autoptr(GError) err = NULL;
    g_assert_false(net_netdev_create("user,id=dup", &err));
    g_assert_nonnull(strstr(err->message, "duplicate"));
    net_backends_free();
    g_assert_null(net_backend_find("dup"));
}

/* ---- slirp: DHCP ---- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* Ethernet + IPv4 + UDP 68->67 + BOOTP DHCPDISCOVER; returns its length. */
static size_t build_dhcp_discover(uint8_t *f, uint32_t xid)
{
    uint8_t *ip = f + 14, *udp = ip + 20, *bp = udp + 8;
    size_t bootp_len = 236 + 312, ip_len = 20 + 8 + bootp_len;

    memset(f, 0, 14 + ip_len);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, ip_len);
    ip[8] = 64;
    ip[9] = 17;
    memset(ip + 16, 0xff, 4);               /* to 255.255.255.255 from 0.0.0.0 */
    put16(ip + 10, net_checksum(ip, 20, 0));
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, 8 + bootp_len);          /* checksum 0: none */
    bp[0] = 1;                              /* BOOTREQUEST */
    bp[1] = 1;                              /* Ethernet */
    bp[2] = 6;
    memcpy(bp + 4, &xid, 4);
    put16(bp + 10, 0x8000);                 /* broadcast reply */
    memcpy(bp + 28, guest_mac, 6);
    static const uint8_t opts[] = { 99, 130, 83, 99, 53, 1, 1, 255 };
    memcpy(bp + 236, opts, sizeof(opts));
    return 14 + ip_len;
}

/* The DHCP message type of a BOOTP reply frame to port 68, or 0. */
static int dhcp_reply_type(GBytes *b, uint32_t xid, uint32_t *yiaddr)
{
    gsize len;
    const uint8_t *f = g_bytes_get_data(b, &len);
    const uint8_t *ip = f + 14, *udp, *bp;

    if (len < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0 || ip[9] != 17) {
        return 0;
    }
    udp = ip + (ip[0] & 0xf) * 4;
    bp = udp + 8;
    if ((udp[2] << 8 | udp[3]) != 68 || bp[0] != 2 || memcmp(bp + 4, &xid, 4)) {
        return 0;
    }
    memcpy(yiaddr, bp + 16, 4);
    for (const uint8_t *o = bp + 240; o + 2 < f + len && *o != 255;) {
        if (*o == 0) {
            o++;
            continue;
        }
        if (o[0] == 53 && o[1] == 1) {
            return o[2];
        }
        o += 2 + o[1];
    }
    return 0;
}

/* Iterate the default main context until @s got a DHCP reply; 5 s limit. */
static int wait_dhcp_reply(Sink *s, uint32_t xid, uint32_t *yiaddr)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    guint seen = 0;

    while (g_get_monotonic_time() < end) {
        for (; seen < s->all->len; seen++) {
            int t = dhcp_reply_type(s->all->pdata[seen], xid, yiaddr);
            if (t) {
                return t;
            }
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return 0;
}

static void test_slirp_dhcp(void)
{
    g_autoptr(GError) err = NULL;
    Sink *nic = sink_new("nic", true);
    uint8_t frame[1024];
    uint32_t xid = 0x12345678, yiaddr = 0;
    size_t len;

    g_assert_true(net_netdev_create("user,id=u0,net=10.0.2.0/24", &err));
    g_assert_no_error(err);
    g_assert_true(net_client_connect(net_backend_find("u0"), nic->nc, &err));
    len = build_dhcp_discover(frame, xid);
    g_assert_true(net_send(nic->nc, frame, len));
    g_assert_cmpint(wait_dhcp_reply(nic, xid, &yiaddr), ==, 2);     /* OFFER */
    g_assert_cmphex(yiaddr, ==, htonl(0x0a00020f));                  /* 10.0.2.15 */
    sink_free(nic);
    net_backends_free();
}

static void test_slirp_dhcp_custom_net(void)
{
    Sink *nic = sink_new("nic", true);
    uint8_t frame[1024];
    uint32_t xid = 0x0badcafe, yiaddr = 0;

    g_assert_true(net_netdev_create("user,id=u1,net=192.168.76.0/24,restrict=on", NULL));
    g_assert_true(net_client_connect(net_backend_find("u1"), nic->nc, NULL));
    g_assert_true(net_send(nic->nc, frame, build_dhcp_discover(frame, xid)));
    g_assert_cmpint(wait_dhcp_reply(nic, xid, &yiaddr), ==, 2);
    g_assert_cmphex(yiaddr, ==, htonl(0xc0a84c0f));                  /* .15 */
    sink_free(nic);
    net_backends_free();
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    socklen_t al = sizeof(a);

    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &al), ==, 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_slirp_hostfwd_listens(void)
{
    g_autoptr(GError) err = NULL;
    uint16_t p1 = free_port(), p2 = free_port();
    g_autofree char *spec = g_strdup_printf(
        "user,id=fw,hostfwd=tcp:127.0.0.1:%u-:22,hostfwd=tcp:127.0.0.1:%u-:80", p1, p2);
    uint16_t ports[2] = { p1, p2 };

    g_assert_true(net_netdev_create(spec, &err));
    g_assert_no_error(err);
    for (int i = 0; i < 2; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[i]),
                                 .sin_addr.s_addr = htonl(0x7f000001) };
        g_assert_cmpint(connect(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
        close(fd);
    }
    /* The port is taken now: a second forward to it fails clearly. */
    g_autofree char *clash = g_strdup_printf("user,id=fw2,hostfwd=tcp:127.0.0.1:%u-:22", p1);
    g_assert_false(net_netdev_create(clash, &err));
    g_assert_nonnull(strstr(err->message, "cannot listen"));
    net_backends_free();
}

/* ---- tap: frames both ways through a real TAP interface ---- */

static bool has_frame_of_type(Sink *s, uint16_t type)
{
    for (guint i = 0; i < s->all->len; i++) {
        gsize len;
        const uint8_t *d = g_bytes_get_data(s->all->pdata[i], &len);
        if (len >= 14 && (d[12] << 8 | d[13]) == type) {
            return true;
        }
    }
    return false;
}

static void test_tap(void)
{
    const char *ifname = "kemutst0";
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = g_strdup_printf("tap,id=t0,ifname=%s,script=no,downscript=no",
                                            ifname);
    uint8_t frame[64] = { 0 }, got[2048];
    struct ifreq ifr = { 0 };
    Sink *nic;
    int ctl, pk;

    if (!net_netdev_create(spec, &err)) {
        g_autofree char *why = g_strdup_printf("tap unavailable here: %s", err->message);
        g_printerr("SKIP /net/tap: %s\n", why);
        g_test_skip(why);
        return;
    }
    nic = sink_new("nic", true);
    g_assert_true(net_client_connect(net_backend_find("t0"), nic->nc, NULL));
    /* Bring the interface up and open a packet socket on it. */
    ctl = socket(AF_INET, SOCK_DGRAM, 0);
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    g_assert_cmpint(ioctl(ctl, SIOCGIFFLAGS, &ifr), ==, 0);
    ifr.ifr_flags |= IFF_UP;
    g_assert_cmpint(ioctl(ctl, SIOCSIFFLAGS, &ifr), ==, 0);
    close(ctl);
    pk = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    g_assert_cmpint(pk, >=, 0);
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = if_nametoindex(ifname) };
    g_assert_cmpint(bind(pk, (struct sockaddr *)&sll, sizeof(sll)), ==, 0);

    /* Host -> NIC: the frame appears at the sink through the main loop. */
    memset(frame, 0xff, 6);
    memcpy(frame + 6, guest_mac, 6);
    frame[12] = 0x88, frame[13] = 0xb5;         /* local experimental type */
    frame[14] = 'h';
    g_assert_cmpint(send(pk, frame, sizeof(frame), 0), ==, sizeof(frame));
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!has_frame_of_type(nic, 0x88b5) && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_true(has_frame_of_type(nic, 0x88b5));

    /* NIC -> host: net_send writes to the tap; the packet socket sees it. */
    frame[13] = 0xb6;
    frame[14] = 'g';
    g_assert_true(net_send(nic->nc, frame, sizeof(frame)));
    bool seen = false;
    while (!seen && g_get_monotonic_time() < end + 5 * G_USEC_PER_SEC) {
        struct pollfd pfd = { .fd = pk, .events = POLLIN };
        if (poll(&pfd, 1, 100) == 1) {
            ssize_t n = recv(pk, got, sizeof(got), 0);
            seen = n >= 15 && got[12] == 0x88 && got[13] == 0xb6 && got[14] == 'g';
        }
    }
    g_assert_true(seen);
    close(pk);
    sink_free(nic);
    net_backends_free();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net/send-backpressure", test_send_and_backpressure);
    g_test_add_func("/net/queue-overflow", test_queue_overflow);
    g_test_add_func("/net/mac-checksum", test_mac_and_checksum);
    g_test_add_func("/net/hostfwd-parse", test_hostfwd_parse);
    g_test_add_func("/net/netdev-errors", test_netdev_errors);
    g_test_add_func("/net/slirp/dhcp", test_slirp_dhcp);
    g_test_add_func("/net/slirp/dhcp-custom-net", test_slirp_dhcp_custom_net);
    g_test_add_func("/net/slirp/hostfwd-listens", test_slirp_hostfwd_listens);
    g_test_add_func("/net/tap", test_tap);
    return g_test_run();
}
