/*
 * Character device core: the id registry, -chardev options and
 * -serial specs, front end attachment, and input delivery from a host fd
 * paced by the front end's can_receive().
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib-unix.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "chardev-int.h"

static const ChardevOps *const backends[] = {
    &chr_stdio_ops, &chr_file_ops, &chr_pty_ops, &chr_socket_ops, &chr_null_ops,
};

static GHashTable *registry;    /* id -> Chardev (not owned) */
static GPtrArray *all_chardevs; /* every live Chardev, in creation order */

/* Registry and lifetime -------------------------------------------------- */

Chardev *chr_alloc(const ChardevOps *ops, const char *label)
{
    Chardev *c = g_malloc0(ops->instance_size);

    c->ops = ops;
    c->label = g_strdup(label);
    c->in_fd = -1;
    if (!all_chardevs) {
        all_chardevs = g_ptr_array_new();
    }
    g_ptr_array_add(all_chardevs, c);
    return c;
}

void chr_free(Chardev *c)
{
    if (c->ops->close) {
        c->ops->close(c);
    }
    chr_input_clear(c);
    if (c->accept_idle) {
        g_source_destroy(c->accept_idle);
        g_source_unref(c->accept_idle);
    }
    if (c->registered) {
        g_hash_table_remove(registry, c->label);
    }
    g_ptr_array_remove(all_chardevs, c);
    g_free(c->label);
    g_free(c->filename);
    g_free(c);
}

/* QEMU's id syntax: a letter, then letters, digits, '-', '.', '_'. */
static bool id_valid(const char *id)
{
    if (!g_ascii_isalpha(*id)) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

static bool id_free(const char *id, GError **errp)
{
    if (registry && g_hash_table_contains(registry, id)) {
        error_setg(errp, "chardev '%s' already exists", id);
        return false;
    }
    return true;
}

static void chr_register(Chardev *c)
{
    if (!registry) {
        registry = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(registry, c->label, c);
    c->registered = true;
}

Chardev *chardev_find(const char *id)
{
    return registry ? g_hash_table_lookup(registry, id) : NULL;
}

const char *chardev_label(const Chardev *c)
{
    return c->label;
}

const char *chardev_filename(const Chardev *c)
{
    return c->filename ? c->filename : "";
}

void chr_set_filename(Chardev *c, const char *fmt, ...)
{
    va_list ap;

    g_free(c->filename);
    va_start(ap, fmt);
    c->filename = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

bool chardev_is_mux(const Chardev *c)
{
    return c->ops == &chr_mux_ops;
}

void chardev_cleanup_all(void)
{
    /* Newest first: a multiplexer goes before the backend under it. */
    while (all_chardevs && all_chardevs->len) {
        chr_free(all_chardevs->pdata[all_chardevs->len - 1]);
    }
    g_clear_pointer(&registry, g_hash_table_destroy);
    g_clear_pointer(&all_chardevs, g_ptr_array_unref);
    chardev_restore_terminals();
}

/* Creation ----------------------------------------------------------------- */

static const ChardevOps *find_backend(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(backends); i++) {
        if (!strcmp(backends[i]->name, name)) {
            return backends[i];
        }
    }
    return NULL;
}

/*
 * Open backend @ops under @id (checked to be free) from @o and register
 * it; with mux=on, register a mux on it instead.
 */
static Chardev *chr_new(const ChardevOps *ops, const char *id, Opts *o, GError **errp)
{
    bool mux;
    Chardev *c;

    if (!opts_get_bool(o, "mux", false, &mux, errp)) {
        return NULL;
    }
    for (const char *const *k = ops->keys; k && *k; k++) {
        opts_get(o, *k);          /* marks the key as known */
    }
    if (!opts_check_all_used(o, ops->name, errp)) {
        return NULL;
    }
    if (mux) {
        g_autofree char *base_label = g_strdup_printf("%s-base", id);
        Chardev *base = chr_alloc(ops, base_label);
        if (!ops->open(base, o, errp)) {
            chr_free(base);
            return NULL;
        }
        c = chr_mux_new(id, base, errp);
        if (!c) {
            chr_free(base);
            return NULL;
        }
    } else {
        c = chr_alloc(ops, id);
        if (!ops->open(c, o, errp)) {
            chr_free(c);
            return NULL;
        }
    }
    chr_register(c);
    return c;
}

static Chardev *chr_new_checked(const char *id, Opts *o, GError **errp)
{
    const char *backend = opts_get(o, "backend");
    const ChardevOps *ops;
    Chardev *c;

    if (!backend || !*backend) {
        error_setg(errp, "chardev '%s': no backend given", id);
        return NULL;
    }
    ops = find_backend(backend);
    if (!ops) {
        error_setg(errp, "chardev '%s': unknown backend '%s' "
                   "(stdio, file, pty, socket, null)", id, backend);
        return NULL;
    }
    c = chr_new(ops, id, o, errp);
    if (!c) {
        g_prefix_error(errp, "chardev '%s': ", id);
    }
    return c;
}

Chardev *chardev_new_from_opts(Opts *o, GError **errp)
{
    const char *id = opts_get(o, "id");

    if (!id) {
        error_setg(errp, "chardev: id= is required");
        return NULL;
    }
    if (!id_valid(id)) {
        error_setg(errp, "chardev: invalid id '%s' (a letter, then letters, "
                   "digits, '-', '.', '_')", id);
        return NULL;
    }
    if (!id_free(id, errp)) {
        return NULL;
    }
    return chr_new_checked(id, o, errp);
}

/* @s with ',' doubled, so it survives opts_parse() as one value. */
static char *opts_escape(const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);

    return g_strjoinv(",,", parts);
}

/*
 * Translate a -serial spec into -chardev option syntax, e.g.
 * "tcp:HOST:PORT,server" -> "socket,host=HOST,port=PORT,server".
 */
static char *spec_to_opts(const char *spec, GError **errp)
{
    static const char *const plain[] = { "stdio", "null", "pty" };

    for (size_t i = 0; i < G_N_ELEMENTS(plain); i++) {
        if (!strcmp(spec, plain[i])) {
            return g_strdup(spec);
        }
    }
    if (g_str_has_prefix(spec, "file:") && spec[5]) {
        g_autofree char *path = opts_escape(spec + 5);
        return g_strconcat("file,path=", path, NULL);
    }
    if (g_str_has_prefix(spec, "unix:") && spec[5]) {
        /* The rest is already option syntax: PATH[,key=val...]. */
        return g_strconcat("socket,path=", spec + 5, NULL);
    }
    if (g_str_has_prefix(spec, "tcp:")) {
        const char *rest = spec + 4;
        const char *comma = strchr(rest, ',');
        g_autofree char *addr = comma ? g_strndup(rest, comma - rest) : g_strdup(rest);
        char *colon = strrchr(addr, ':');
        size_t hlen;

        if (!colon) {
            error_setg(errp, "'%s': expected tcp:[HOST]:PORT", spec);
            return NULL;
        }
        *colon = '\0';
        hlen = strlen(addr);
        if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
            addr[hlen - 1] = '\0';          /* "[::1]" -> "::1" */
            memmove(addr, addr + 1, hlen - 1);
        }
        g_autofree char *host = opts_escape(addr);
        g_autofree char *port = opts_escape(colon + 1);
        return g_strdup_printf("socket,host=%s,port=%s%s%s", host, port,
                               comma ? "," : "", comma ? comma + 1 : "");
    }
    error_setg(errp, "'%s' is not a character device we support (stdio, null, "
               "none, file:PATH, pty, mon:stdio, unix:PATH, tcp:[HOST]:PORT, "
               "chardev:ID)", spec);
    return NULL;
}

/* A backend from @spec under @label; registered only when @reg. */
static Chardev *chr_new_spec(const char *label, const char *spec, bool reg,
                             GError **errp)
{
    g_autofree char *str = spec_to_opts(spec, errp);
    Opts *o;
    const ChardevOps *ops;
    Chardev *c = NULL;

    if (!str) {
        return NULL;
    }
    o = opts_parse(str, "backend", errp);
    if (!o) {
        return NULL;
    }
    ops = find_backend(opts_get(o, "backend"));
    g_assert(ops);     /* spec_to_opts() only produces known backends */
    if (reg) {
        c = chr_new(ops, label, o, errp);
    } else {
        for (const char *const *k = ops->keys; k && *k; k++) {
            opts_get(o, *k);
        }
        if (opts_check_all_used(o, ops->name, errp)) {
            c = chr_alloc(ops, label);
            if (!ops->open(c, o, errp)) {
                g_clear_pointer(&c, chr_free);
            }
        }
    }
    opts_free(o);
    if (!c) {
        g_prefix_error(errp, "chardev '%s': ", label);
    }
    return c;
}

Chardev *chardev_new_from_spec(const char *label, const char *spec, GError **errp)
{
    if (!strcmp(spec, "none")) {
        return NULL;
    }
    if (g_str_has_prefix(spec, "chardev:")) {
        Chardev *c = chardev_find(spec + 8);
        if (!c) {
            error_setg(errp, "chardev '%s' not found", spec + 8);
        }
        return c;
    }
    if (g_str_has_prefix(spec, "mon:")) {
        g_autofree char *base_label = g_strdup_printf("%s-base", label);
        Chardev *base, *mux;

        if (!id_free(label, errp)) {
            return NULL;
        }
        base = chr_new_spec(base_label, spec + 4, false, errp);
        if (!base) {
            return NULL;
        }
        mux = chr_mux_new(label, base, errp);
        if (!mux) {
            chr_free(base);
            return NULL;
        }
        chr_register(mux);
        return mux;
    }
    if (!id_free(label, errp)) {
        return NULL;
    }
    return chr_new_spec(label, spec, true, errp);
}

Chardev *chardev_new_mux(const char *label, Chardev *backend, GError **errp)
{
    Chardev *mux;

    if (!id_free(label, errp)) {
        return NULL;
    }
    mux = chr_mux_new(label, backend, errp);
    if (mux) {
        chr_register(mux);
    }
    return mux;
}

/* Front ends and events ------------------------------------------------- */

bool chardev_attach(Chardev *c, const ChardevFrontend *fe, void *opaque, GError **errp)
{
    if (c->ops->attach) {
        return c->ops->attach(c, fe, opaque, errp);
    }
    return chr_attach_plain(c, fe, opaque, errp);
}

bool chr_attach_plain(Chardev *c, const ChardevFrontend *fe, void *opaque, GError **errp)
{
    if (c->fe) {
        error_setg(errp, "chardev '%s' is already in use", c->label);
        return false;
    }
    c->fe = fe;
    c->fe_opaque = opaque;
    if (c->open && fe->event) {
        fe->event(opaque, CHR_EVENT_OPENED);
    }
    chr_input_resume(c);
    return true;
}

void chardev_detach(Chardev *c, void *opaque)
{
    if (c->ops->detach) {
        c->ops->detach(c, opaque);
    } else if (c->fe && c->fe_opaque == opaque) {
        c->fe = NULL;
        c->fe_opaque = NULL;
    }
}

void chr_send_event(Chardev *c, int event)
{
    if (event == CHR_EVENT_OPENED) {
        c->open = true;
    } else if (event == CHR_EVENT_CLOSED) {
        c->open = false;
    }
    if (c->fe && c->fe->event) {
        c->fe->event(c->fe_opaque, event);
    }
}

/* Input ------------------------------------------------------------------- */

/* Hand held-back input to the front end as far as it takes it. */
static void chr_deliver(Chardev *c)
{
    while (c->in_pos < c->in_len) {
        int avail = c->in_len - c->in_pos;
        int room = c->fe ? (c->fe->can_receive ? c->fe->can_receive(c->fe_opaque)
                                               : avail)
                         : avail;
        if (room <= 0) {
            break;
        }
        room = MIN(room, avail);
        if (c->fe) {
            c->fe->receive(c->fe_opaque, c->in_buf + c->in_pos, room);
        }
        c->in_pos += room;
    }
    if (c->in_pos == c->in_len) {
        c->in_pos = c->in_len = 0;
    }
}

static void chr_watch_stop(Chardev *c)
{
    if (c->in_watch) {
        g_source_destroy(c->in_watch);
        g_source_unref(c->in_watch);
        c->in_watch = NULL;
    }
}

static gboolean chr_input_ready(gint fd, GIOCondition cond G_GNUC_UNUSED, gpointer opaque)
{
    Chardev *c = opaque;
    GSource *self = c->in_watch;
    ssize_t n;

    do {
        n = read(fd, c->in_buf, sizeof(c->in_buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        /* End of file, a hang-up or an error: the backend decides. */
        chr_watch_stop(c);
        if (c->ops->input_eof) {
            c->ops->input_eof(c);
        } else {
            chr_input_clear(c);
        }
        return G_SOURCE_REMOVE;
    }
    c->in_pos = 0;
    c->in_len = n;
    chr_deliver(c);
    if (c->in_len && c->in_watch == self) {
        /* The front end is full: wait for chardev_accept_input(). */
        chr_watch_stop(c);
    }
    return c->in_watch == self ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void chr_input_set_fd(Chardev *c, int fd)
{
    chr_input_clear(c);
    c->in_fd = fd;
    chr_input_resume(c);
}

void chr_input_clear(Chardev *c)
{
    chr_watch_stop(c);
    c->in_fd = -1;
    c->in_pos = c->in_len = 0;
}

void chr_input_resume(Chardev *c)
{
    chr_deliver(c);
    /* Watch only with a front end to take the bytes and nothing held back. */
    if (c->in_fd >= 0 && !c->in_watch && !c->in_len && c->fe) {
        c->in_watch = g_unix_fd_source_new(c->in_fd, G_IO_IN);
        g_source_set_callback(c->in_watch, G_SOURCE_FUNC(chr_input_ready), c, NULL);
        g_source_attach(c->in_watch, g_main_context_default());
    }
}

static gboolean chr_accept_cb(gpointer opaque)
{
    Chardev *c = opaque;

    g_source_unref(c->accept_idle);
    c->accept_idle = NULL;
    if (c->ops->accept_input) {
        c->ops->accept_input(c);
    } else {
        chr_input_resume(c);
    }
    return G_SOURCE_REMOVE;
}

void chardev_accept_input(Chardev *c)
{
    /*
     * Deferred to the main loop: front ends call this from their register
     * reads on a vCPU thread, where handing them input again would
     * re-enter them.
     */
    if (c->accept_idle) {
        return;
    }
    c->accept_idle = g_idle_source_new();
    g_source_set_callback(c->accept_idle, chr_accept_cb, c, NULL);
    g_source_attach(c->accept_idle, g_main_context_default());
}

/* Output ------------------------------------------------------------------ */

int chardev_write(Chardev *c, const uint8_t *buf, int len)
{
    if (len <= 0) {
        return 0;
    }
    return c->ops->write(c, buf, len);
}

int chr_fd_write(int fd, bool is_socket, const uint8_t *buf, int len, int timeout_ms)
{
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + timeout_ms * 1000ll;
    int done = 0;

    while (done < len) {
        ssize_t n = is_socket ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                              : write(fd, buf + done, len - done);
        if (n > 0) {
            done += n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int wait_ms = -1;
            if (deadline >= 0) {
                gint64 left = deadline - g_get_monotonic_time();
                if (left <= 0) {
                    break;
                }
                wait_ms = (int)((left + 999) / 1000);
            }
            poll(&pfd, 1, wait_ms);
            continue;
        }
        if (n == 0 || done) {
            break;
        }
        return -errno;
    }
    return done;
}

void chr_warn_write(Chardev *c, int err)
{
    if (!c->warned) {
        c->warned = true;
        log_warn("chardev '%s': output dropped: %s", c->label, g_strerror(err));
    }
}
