/*
 * socket backend: a unix (path=) or TCP (host=, port=) stream socket,
 * listening (server=on) or connecting at startup (server=off).
 *
 * A server serves one client at a time: while one is connected the
 * listening socket is not watched, so later clients wait in the backlog
 * until it leaves. wait=on (the default for servers, as in QEMU) holds
 * up startup until the first client connects, running the main loop
 * meanwhile (with the BQL held, as the main loop's caller holds it).
 *
 * A front end that keeps a session per peer (the QMP monitor) asks for
 * multi-client mode instead (chardev_serve_clients()): every accepted
 * peer gets a client Chardev of its own (a SocketChardev with is_client),
 * up to SOCKET_MAX_CLIENTS at once; the listening socket is watched
 * whenever there is room. A client is freed from the main loop after its
 * CLOSED event, never inside a callback that may still use it.
 *
 * Output with no client is dropped. A client that stops reading costs
 * one write at most SOCKET_STALL_MS of waiting (with the BQL held); after
 * that output is dropped without waiting until the client drains its
 * socket, so a stuck peer slows the guest down but never hangs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <glib-unix.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/runstate.h"
#include "chardev-int.h"

#define SOCKET_STALL_MS 100
#define SOCKET_BACKLOG 8
#define SOCKET_MAX_CLIENTS 32    /* multi-client mode: peers served at once */

typedef struct SocketChardev {
    Chardev parent;
    bool is_unix, server, nodelay;
    char *path;              /* unix */
    char *host;              /* tcp, as shown in the filename */
    unsigned port;           /* tcp, the real port once listening */
    int listen_fd;
    GSource *listen_watch;
    int fd;                  /* the client, -1 if none */
    bool stalled;            /* the last write timed out */
    bool dead;               /* a write failed: disconnect in the main loop */
    GSource *dead_idle;
    bool unlink_path;        /* we created the unix socket file */

    /* A listening socket in multi-client mode: */
    ChardevClientFunc client_fn;     /* NULL: single-client mode */
    void *client_opaque;
    GPtrArray *clients;              /* connected SocketChardev clients */
    unsigned next_client;            /* numbers the clients' labels */

    /* A client of a multi-client server: */
    bool is_client;
    struct SocketChardev *owner;     /* its server; NULL once that is gone */
    GSource *free_idle;              /* freeing after CLOSED is queued */
} SocketChardev;

static void socket_listen_start(SocketChardev *s);

static char *socket_addr_str(SocketChardev *s)
{
    if (s->is_unix) {
        return g_strdup_printf("unix:%s", s->path);
    }
    return strchr(s->host, ':') ? g_strdup_printf("tcp:[%s]:%u", s->host, s->port)
                                : g_strdup_printf("tcp:%s:%u", s->host, s->port);
}

static void socket_update_filename(SocketChardev *s)
{
    g_autofree char *addr = socket_addr_str(s);
    const char *srv = s->server ? ",server=on" : "";

    if (s->fd < 0 && s->client_fn) {
        chr_set_filename(&s->parent, "%s%s", addr, srv);   /* serving clients */
        return;
    }
    if (s->fd < 0) {
        chr_set_filename(&s->parent, "disconnected:%s%s", addr, srv);
        return;
    }
    if (!s->is_unix) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char h[NI_MAXHOST], p[NI_MAXSERV];
        if (getpeername(s->fd, (struct sockaddr *)&ss, &len) == 0 &&
            getnameinfo((struct sockaddr *)&ss, len, h, sizeof(h), p, sizeof(p),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            chr_set_filename(&s->parent, "%s%s <-> %s:%s", addr, srv, h, p);
            return;
        }
    }
    chr_set_filename(&s->parent, "%s%s", addr, srv);
}

static void socket_connected(SocketChardev *s, int fd)
{
    int one = 1;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (s->nodelay && !s->is_unix) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    s->fd = fd;
    s->stalled = false;
    s->dead = false;
    socket_update_filename(s);
    chr_input_set_fd(&s->parent, fd);
    chr_send_event(&s->parent, CHR_EVENT_OPENED);
}

static gboolean socket_free_cb(gpointer opaque)
{
    SocketChardev *s = opaque;

    g_source_unref(s->free_idle);
    s->free_idle = NULL;
    chr_free(&s->parent);
    return G_SOURCE_REMOVE;
}

/* Take client @cl off its server's list, making room for another peer. */
static void client_unlink(SocketChardev *cl)
{
    SocketChardev *srv = cl->owner;

    cl->owner = NULL;
    if (srv && g_ptr_array_remove(srv->clients, cl) && srv->client_fn) {
        socket_listen_start(srv);
    }
}

static void socket_disconnect(SocketChardev *s)
{
    chr_input_clear(&s->parent);
    close(s->fd);
    s->fd = -1;
    s->dead = false;
    socket_update_filename(s);
    if (s->is_client) {
        client_unlink(s);
        chr_send_event(&s->parent, CHR_EVENT_CLOSED);
        /* We may be inside this client's input or write path: free later. */
        if (!s->free_idle) {
            s->free_idle = g_idle_source_new();
            g_source_set_callback(s->free_idle, socket_free_cb, s, NULL);
            g_source_attach(s->free_idle, g_main_context_default());
        }
        return;
    }
    chr_send_event(&s->parent, CHR_EVENT_CLOSED);
    if (s->server) {
        socket_listen_start(s);    /* the next client in the backlog */
    }
}

/* Multi-client mode: a client Chardev for the accepted @fd. */
static void socket_new_client(SocketChardev *s, int fd)
{
    g_autofree char *label = g_strdup_printf("%s.client%u", s->parent.label,
                                             s->next_client++);
    SocketChardev *cl = (SocketChardev *)chr_alloc(&chr_socket_ops, label);

    cl->is_client = true;
    cl->server = true;           /* for the filename: "...,server=on" */
    cl->is_unix = s->is_unix;
    cl->nodelay = s->nodelay;
    cl->path = g_strdup(s->path);
    cl->host = g_strdup(s->host);
    cl->port = s->port;
    cl->listen_fd = -1;
    cl->owner = s;
    g_ptr_array_add(s->clients, cl);
    socket_connected(cl, fd);
    s->client_fn(s->client_opaque, &cl->parent);
    if (!cl->parent.fe) {
        chr_free(&cl->parent);   /* nobody took it: hang up */
    }
}

static gboolean socket_accept_ready(gint lfd, GIOCondition cond G_GNUC_UNUSED,
                                    gpointer opaque)
{
    SocketChardev *s = opaque;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return G_SOURCE_CONTINUE;     /* EAGAIN, ECONNABORTED, EMFILE... */
    }
    if (s->client_fn) {
        socket_new_client(s, fd);
        if (!s->client_fn || s->clients->len < SOCKET_MAX_CLIENTS) {
            return G_SOURCE_CONTINUE;
        }
        /* Full: later peers wait in the backlog until one leaves. */
        if (s->listen_watch) {
            g_source_unref(s->listen_watch);
            s->listen_watch = NULL;
        }
        return G_SOURCE_REMOVE;
    }
    g_source_unref(s->listen_watch);
    s->listen_watch = NULL;
    socket_connected(s, fd);
    return G_SOURCE_REMOVE;
}

static void socket_listen_start(SocketChardev *s)
{
    if (s->listen_watch) {
        return;
    }
    /* Non-blocking, so a client that gave up before accept() cannot stall us. */
    fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK);
    s->listen_watch = g_unix_fd_source_new(s->listen_fd, G_IO_IN);
    g_source_set_callback(s->listen_watch, G_SOURCE_FUNC(socket_accept_ready), s, NULL);
    g_source_attach(s->listen_watch, g_main_context_default());
}

static void socket_input_eof(Chardev *c)
{
    socket_disconnect((SocketChardev *)c);
}

/* Fill @sa for a unix socket at s->path. */
static bool unix_addr(SocketChardev *s, struct sockaddr_un *sa, GError **errp)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(s->path) >= sizeof(sa->sun_path)) {
        error_setg(errp, "socket path '%s' is too long", s->path);
        return false;
    }
    strcpy(sa->sun_path, s->path);
    return true;
}

static bool unix_listen(SocketChardev *s, GError **errp)
{
    struct sockaddr_un sa;
    struct stat st;

    if (!unix_addr(s, &sa, errp)) {
        return false;
    }
    /* A socket file left by an earlier run; never remove anything else. */
    if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(s->path);
    }
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_setg(errp, "cannot listen on '%s': %s", s->path, g_strerror(errno));
        return false;
    }
    s->unlink_path = true;
    if (listen(s->listen_fd, SOCKET_BACKLOG) < 0) {
        error_setg(errp, "cannot listen on '%s': %s", s->path, g_strerror(errno));
        return false;
    }
    return true;
}

static bool unix_connect(SocketChardev *s, GError **errp)
{
    struct sockaddr_un sa;
    int fd;

    if (!unix_addr(s, &sa, errp)) {
        return false;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_setg(errp, "cannot connect to '%s': %s", s->path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    socket_connected(s, fd);
    return true;
}

/* Listen on, or connect to, the first address of host:port that works. */
static bool tcp_open(SocketChardev *s, const char *host, GError **errp)
{
    struct addrinfo hints = {
        .ai_family = *host ? AF_UNSPEC : AF_INET,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV | (s->server ? AI_PASSIVE : 0),
    };
    struct addrinfo *res, *ai;
    g_autofree char *port = g_strdup_printf("%u", s->port);
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    int err = 0, fd = -1;

    if (rc != 0) {
        error_setg(errp, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return false;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (s->server) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                listen(fd, SOCKET_BACKLOG) == 0) {
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg(errp, "cannot %s %s:%u: %s", s->server ? "listen on" : "connect to",
                   s->host, s->port, g_strerror(err));
        return false;
    }
    if (s->server) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        s->listen_fd = fd;
        /* port=0 asked the kernel to choose: show the port it chose. */
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            s->port = ntohs(ss.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port);
        }
    } else {
        socket_connected(s, fd);
    }
    return true;
}

static bool socket_parse(SocketChardev *s, Opts *o, bool *wait, GError **errp)
{
    const char *path = opts_get(o, "path");
    const char *host = opts_get(o, "host");
    const char *port = opts_get(o, "port");
    bool nowait, delay, nodelay;
    uint64_t portnum;

    if (!opts_get_bool(o, "server", false, &s->server, errp) ||
        !opts_get_bool(o, "wait", true, wait, errp) ||
        !opts_get_bool(o, "nowait", false, &nowait, errp) ||
        !opts_get_bool(o, "delay", true, &delay, errp) ||
        !opts_get_bool(o, "nodelay", false, &nodelay, errp)) {
        return false;
    }
    /* QEMU spells it both ways: "nodelay" and "delay=off". */
    s->nodelay = nodelay || !delay;
    *wait = *wait && !nowait && s->server;
    if (path) {
        if (host || port) {
            error_setg(errp, "socket takes path= or host=/port=, not both");
            return false;
        }
        if (!*path) {
            error_setg(errp, "socket path= is empty");
            return false;
        }
        s->is_unix = true;
        s->path = g_strdup(path);
        return true;
    }
    if (!port) {
        error_setg(errp, "socket needs path= or port=");
        return false;
    }
    if (!parse_u64(port, &portnum) || portnum > 65535 || (!s->server && portnum == 0)) {
        error_setg(errp, "bad port '%s' (expected a number in %s..65535)", port,
                   s->server ? "0" : "1");
        return false;
    }
    s->port = portnum;
    s->host = g_strdup(host && *host ? host : (s->server ? "0.0.0.0" : "localhost"));
    return true;
}

static bool socket_open(Chardev *c, Opts *o, GError **errp)
{
    SocketChardev *s = (SocketChardev *)c;
    bool wait;

    s->fd = s->listen_fd = -1;
    if (!socket_parse(s, o, &wait, errp)) {
        return false;
    }
    if (!s->server) {
        return s->is_unix ? unix_connect(s, errp) : tcp_open(s, s->host, errp);
    }
    if (!(s->is_unix ? unix_listen(s, errp)
                     : tcp_open(s, strcmp(s->host, "0.0.0.0") ? s->host : "", errp))) {
        return false;
    }
    socket_update_filename(s);
    socket_listen_start(s);
    if (wait) {
        /*
         * Run the main loop rather than block in accept(): its signal
         * sources must still turn Ctrl-C or SIGTERM into a shutdown.
         */
        log_info("waiting for connection on: %s", chardev_filename(c));
        while (s->fd < 0 && !runstate_shutdown_requested()) {
            g_main_context_iteration(NULL, TRUE);
        }
        if (s->fd < 0) {
            error_setg(errp, "interrupted while waiting for a connection");
            return false;
        }
    }
    return true;
}

static gboolean socket_dead_cb(gpointer opaque)
{
    SocketChardev *s = opaque;

    g_source_unref(s->dead_idle);
    s->dead_idle = NULL;
    if (s->fd >= 0 && s->dead) {
        socket_disconnect(s);
    }
    return G_SOURCE_REMOVE;
}

static int socket_write(Chardev *c, const uint8_t *buf, int len)
{
    SocketChardev *s = (SocketChardev *)c;
    int n;

    if (s->fd < 0 || s->dead) {
        return 0;
    }
    n = chr_fd_write(s->fd, true, buf, len, s->stalled ? 0 : SOCKET_STALL_MS);
    if (n < 0) {
        /*
         * The peer is gone. Disconnect from the main loop, not here: we may
         * be inside the front end's write, and CLOSED would re-enter it.
         */
        s->dead = true;
        if (!s->dead_idle) {
            s->dead_idle = g_idle_source_new();
            g_source_set_callback(s->dead_idle, socket_dead_cb, s, NULL);
            g_source_attach(s->dead_idle, g_main_context_default());
        }
        return 0;
    }
    s->stalled = n < len;
    return n;
}

static void socket_close(Chardev *c)
{
    SocketChardev *s = (SocketChardev *)c;

    chr_input_clear(c);
    client_unlink(s);
    for (guint i = 0; s->clients && i < s->clients->len; i++) {
        ((SocketChardev *)s->clients->pdata[i])->owner = NULL;
    }
    if (s->clients) {
        g_ptr_array_free(s->clients, TRUE);
    }
    if (s->free_idle) {
        g_source_destroy(s->free_idle);
        g_source_unref(s->free_idle);
    }
    if (s->listen_watch) {
        g_source_destroy(s->listen_watch);
        g_source_unref(s->listen_watch);
    }
    if (s->dead_idle) {
        g_source_destroy(s->dead_idle);
        g_source_unref(s->dead_idle);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (s->unlink_path) {
        unlink(s->path);
    }
    g_free(s->path);
    g_free(s->host);
}

bool chardev_is_socket_server(const Chardev *c)
{
    const SocketChardev *s = (const SocketChardev *)c;

    return c->ops == &chr_socket_ops && s->server && !s->is_client;
}

bool chardev_serve_clients(Chardev *c, ChardevClientFunc fn, void *opaque,
                           GError **errp)
{
    SocketChardev *s = (SocketChardev *)c;

    if (!chardev_is_socket_server(c)) {
        error_setg(errp, "chardev '%s' is not a listening socket", c->label);
        return false;
    }
    if (c->fe || s->client_fn) {
        error_setg(errp, "chardev '%s' is already in use", c->label);
        return false;
    }
    s->client_fn = fn;
    s->client_opaque = opaque;
    if (!s->clients) {
        s->clients = g_ptr_array_new();
    }
    if (s->fd >= 0) {
        /* The peer that wait=on waited for becomes the first client. */
        int fd = s->fd;
        chr_input_clear(c);
        s->fd = -1;
        chr_send_event(c, CHR_EVENT_CLOSED);
        socket_new_client(s, fd);
    }
    socket_update_filename(s);
    socket_listen_start(s);
    return true;
}

/* A plain front end, unless multi-client mode has the socket. */
static bool socket_attach(Chardev *c, const ChardevFrontend *fe, void *opaque,
                          GError **errp)
{
    if (((SocketChardev *)c)->client_fn) {
        error_setg(errp, "chardev '%s' is already in use", c->label);
        return false;
    }
    return chr_attach_plain(c, fe, opaque, errp);
}

static void socket_detach(Chardev *c, void *opaque)
{
    SocketChardev *s = (SocketChardev *)c;

    if (s->client_fn && s->client_opaque == opaque) {
        /* Stop serving: hang up on every client (each gets CLOSED). */
        s->client_fn = NULL;
        s->client_opaque = NULL;
        while (s->clients->len) {
            socket_disconnect(s->clients->pdata[s->clients->len - 1]);
        }
        socket_update_filename(s);
        socket_listen_start(s);
    } else if (c->fe && c->fe_opaque == opaque) {
        c->fe = NULL;
        c->fe_opaque = NULL;
    }
}

const ChardevOps chr_socket_ops = {
    .name = "socket",
    .instance_size = sizeof(SocketChardev),
    .keys = (const char *const[]){ "path", "host", "port", "server", "wait", "nowait",
                                   "delay", "nodelay", NULL },
    .open = socket_open,
    .write = socket_write,
    .input_eof = socket_input_eof,
    .attach = socket_attach,
    .detach = socket_detach,
    .close = socket_close,
};
