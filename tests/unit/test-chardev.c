/*
 * Character device backends, driven the way a front end and a user
 * drive them: bytes written by the front end must reach the file, socket
 * peer or pty reader; bytes from the peer must reach the front end no
 * faster than it takes them; events and mux escapes must do what QEMU's do.
 *
 * The main loop is the default GMainContext, run here with the BQL held
 * as system/mainloop.c runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include "chardev/chardev.h"
#include "system/bql.h"
#include "system/runstate.h"

#define WAIT_MS 5000

/* A front end that records what it gets. */
typedef struct TestFe {
    GString *in;
    int events[64];
    int nevents;
    int room;               /* bytes can_receive allows; -1: no limit */
    Chardev *echo_to;       /* write received bytes back here, upper-cased */
} TestFe;

static int fe_can_receive(void *opaque)
{
    TestFe *t = opaque;

    return t->room < 0 ? 4096 : t->room;
}

static void fe_receive(void *opaque, const uint8_t *buf, int len)
{
    TestFe *t = opaque;

    g_assert_cmpint(len, >, 0);
    g_assert_true(t->room < 0 || len <= t->room);
    g_string_append_len(t->in, (const char *)buf, len);
    if (t->room >= 0) {
        t->room -= len;
    }
    if (t->echo_to) {
        for (int i = 0; i < len; i++) {
            uint8_t up = g_ascii_toupper(buf[i]);
            chardev_write(t->echo_to, &up, 1);
        }
    }
}

static void fe_event(void *opaque, int event)
{
    TestFe *t = opaque;

    g_assert_cmpint(t->nevents, <, (int)G_N_ELEMENTS(t->events));
    t->events[t->nevents++] = event;
}

static const ChardevFrontend test_fe_ops = {
    .can_receive = fe_can_receive,
    .receive = fe_receive,
    .event = fe_event,
};

static void fe_init(TestFe *t)
{
    memset(t, 0, sizeof(*t));
    t->in = g_string_new(NULL);
    t->room = -1;
}

static void fe_fini(TestFe *t)
{
    g_string_free(t->in, TRUE);
}

static int fe_last_event(TestFe *t)
{
    return t->nevents ? t->events[t->nevents - 1] : -1;
}

/* Waiting ------------------------------------------------------------------ */

typedef gboolean (*CondFn)(void *arg);

static gboolean set_flag(gpointer p)
{
    *(bool *)p = true;
    return G_SOURCE_REMOVE;
}

/* Run the main loop until @cond holds; fail after WAIT_MS. */
static void wait_until(CondFn cond, void *arg)
{
    bool timed_out = false;
    guint id = g_timeout_add(WAIT_MS, set_flag, &timed_out);

    while (!cond(arg) && !timed_out) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (!timed_out) {
        g_source_remove(id);
    }
    g_assert_true(cond(arg));
}

typedef struct FeWant {
    TestFe *fe;
    gsize len;
    int nevents;
} FeWant;

static gboolean fe_has_len(void *arg)
{
    FeWant *w = arg;
    return w->fe->in->len >= w->len;
}

static gboolean fe_has_events(void *arg)
{
    FeWant *w = arg;
    return w->fe->nevents >= w->nevents;
}

static void wait_input(TestFe *t, const char *expect)
{
    FeWant w = { .fe = t, .len = strlen(expect) };

    wait_until(fe_has_len, &w);
    g_assert_cmpstr(t->in->str, ==, expect);
}

static void wait_events(TestFe *t, int n)
{
    FeWant w = { .fe = t, .nevents = n };

    wait_until(fe_has_events, &w);
    g_assert_cmpint(t->nevents, ==, n);
}

/* Run the main loop until nothing is left to dispatch (bounded). */
static void drain_main_loop(void)
{
    for (int i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++) {
    }
}

typedef struct PeerRead {
    GString *got;
    gsize want;
} PeerRead;

static gboolean peer_readable(gint fd, GIOCondition cond G_GNUC_UNUSED, gpointer opaque)
{
    PeerRead *r = opaque;
    char buf[256];
    ssize_t n = read(fd, buf, MIN(sizeof(buf), r->want - r->got->len));

    g_assert_cmpint(n, >, 0);
    g_string_append_len(r->got, buf, n);
    return r->got->len < r->want ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean peer_done(void *arg)
{
    PeerRead *r = arg;
    return r->got->len >= r->want;
}

/*
 * Read exactly strlen(@expect) bytes from @fd and compare. The main loop
 * runs meanwhile, since the bytes may be an answer to earlier input.
 */
static void read_expect(int fd, const char *expect)
{
    PeerRead r = { .got = g_string_new(NULL), .want = strlen(expect) };
    guint id = g_unix_fd_add(fd, G_IO_IN, peer_readable, &r);

    wait_until(peer_done, &r);
    g_assert_cmpstr(r.got->str, ==, expect);
    if (g_main_context_find_source_by_id(NULL, id)) {
        g_source_remove(id);
    }
    g_string_free(r.got, TRUE);
}

static void write_all(int fd, const char *s)
{
    g_assert_cmpint(write(fd, s, strlen(s)), ==, (ssize_t)strlen(s));
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static int tcp_connect(unsigned port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

/* The port in "disconnected:tcp:HOST:PORT,server=on". */
static unsigned filename_port(Chardev *c)
{
    const char *f = chardev_filename(c);
    const char *end = strstr(f, ",server=on");
    const char *p = end;

    g_assert_nonnull(end);
    while (p > f && p[-1] != ':') {
        p--;
    }
    return (unsigned)strtoul(p, NULL, 10);
}

static char *tmp_path(const char *name, char **dir)
{
    *dir = g_dir_make_tmp("kemu-chardev-XXXXXX", NULL);
    g_assert_nonnull(*dir);
    return g_build_filename(*dir, name, NULL);
}

static Chardev *new_opts(const char *str, GError **errp)
{
    Opts *o = opts_parse(str, "backend", errp);
    Chardev *c = o ? chardev_new_from_opts(o, errp) : NULL;

    opts_free(o);
    return c;
}

/* null and file ------------------------------------------------------------ */

static void test_null(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", "null", &err);
    TestFe a, b;

    g_assert_no_error(err);
    g_assert_cmpstr(chardev_label(c), ==, "serial0");
    g_assert_cmpstr(chardev_filename(c), ==, "null");
    g_assert_true(chardev_find("serial0") == c);
    g_assert_false(chardev_is_mux(c));
    fe_init(&a);
    fe_init(&b);
    g_assert_true(chardev_attach(c, &test_fe_ops, &a, &err));
    g_assert_cmpint(fe_last_event(&a), ==, CHR_EVENT_OPENED);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"abc", 3), ==, 3);
    /* A plain backend takes one front end. */
    g_assert_false(chardev_attach(c, &test_fe_ops, &b, &err));
    g_assert_error(err, g_quark_from_static_string("kemu-error-quark"), 0);
    g_assert_cmpstr(err->message, ==, "chardev 'serial0' is already in use");
    /* "none" means no backend, and is not an error. */
    g_clear_error(&err);
    g_assert_null(chardev_new_from_spec("serial1", "none", &err));
    g_assert_no_error(err);
    chardev_cleanup_all();
    g_assert_null(chardev_find("serial0"));
    fe_fini(&a);
    fe_fini(&b);
}

static void test_file(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("out.txt", &dir);
    g_autofree char *opts = g_strdup_printf("file,id=f0,path=%s", path);
    g_autofree char *opts_app = g_strdup_printf("file,id=f1,path=%s,append=on", path);
    g_autofree char *spec = g_strconcat("file:", path, NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    Chardev *c;

    g_assert_true(g_file_set_contents(path, "old contents", -1, NULL));
    c = new_opts(opts, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(chardev_filename(c), "file:"));
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"hello ", 6), ==, 6);
    /* Written through at once: no flush needed to see it. */
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "hello ");
    g_clear_pointer(&data, g_free);

    c = new_opts(opts_app, &err);
    g_assert_no_error(err);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"world", 5), ==, 5);
    chardev_cleanup_all();
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "hello world");
    g_clear_pointer(&data, g_free);

    /* The -serial spelling truncates too. */
    c = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"x", 1), ==, 1);
    chardev_cleanup_all();
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "x");

    g_unlink(path);
    g_rmdir(dir);
}

/* Options and specs ---------------------------------------------------------- */

static void expect_opts_error(const char *str, const char *msg_part)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(new_opts(str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, msg_part)) {
        g_error("'%s': error '%s' lacks '%s'", str, err->message, msg_part);
    }
}

static void expect_spec_error(const char *spec, const char *msg_part)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(chardev_new_from_spec("serialX", spec, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, msg_part)) {
        g_error("'%s': error '%s' lacks '%s'", spec, err->message, msg_part);
    }
    g_assert_null(chardev_find("serialX"));
}

static void test_parse_errors(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *c;

    expect_opts_error("null", "id= is required");
    expect_opts_error("null,id=9x", "invalid id");
    expect_opts_error("telepathy,id=t", "unknown backend 'telepathy'");
    expect_opts_error("null,id=n,colour=red", "null does not take 'colour'");
    expect_opts_error("socket,id=s,path=/tmp/x,telnet=on", "socket does not take 'telnet'");
    expect_opts_error("file,id=f", "needs path=");
    expect_opts_error("socket,id=s", "needs path= or port=");
    expect_opts_error("socket,id=s,port=65536,server=on", "bad port '65536'");
    expect_opts_error("socket,id=s,port=http,server=on", "bad port 'http'");
    expect_opts_error("socket,id=s,port=0", "bad port '0'");
    expect_opts_error("socket,id=s,path=/x,port=1", "not both");
    expect_opts_error("stdio,id=s,signal=maybe", "signal=maybe");
    expect_opts_error("file,id=f,path=/nonexistent-dir/x", "cannot open");

    c = new_opts("null,id=dup", &err);
    g_assert_no_error(err);
    g_assert_nonnull(c);
    expect_opts_error("null,id=dup", "chardev 'dup' already exists");
    g_assert_true(chardev_find("dup") == c);
    g_assert_null(chardev_new_from_spec("dup", "null", &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "chardev 'dup' already exists");
    g_clear_error(&err);
    g_assert_true(chardev_new_from_spec("serial0", "chardev:dup", &err) == c);
    g_assert_no_error(err);

    expect_spec_error("vc", "not a character device we support");
    expect_spec_error("file:", "not a character device we support");
    expect_spec_error("tcp:4444", "expected tcp:[HOST]:PORT");
    expect_spec_error("tcp::99999,server=on,wait=off", "bad port '99999'");
    expect_spec_error("tcp::abc,server,nowait", "bad port 'abc'");
    expect_spec_error("tcp:127.0.0.1:1", "cannot connect");
    expect_spec_error("unix:/nonexistent-dir/s", "cannot connect");
    expect_spec_error("unix:/tmp/s,server,nowait,frobnicate", "does not take 'frobnicate'");
    expect_spec_error("chardev:nosuch", "chardev 'nosuch' not found");
    expect_spec_error("mon:vc", "not a character device we support");
    chardev_cleanup_all();
}

static void test_spec_legacy_flags(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("s", &dir);
    g_autofree char *spec = g_strdup_printf("unix:%s,server,nowait", path);
    g_autofree char *expect = g_strdup_printf("disconnected:unix:%s,server=on", path);
    g_autoptr(GError) err = NULL;
    struct stat st;
    Chardev *c;

    /* Legacy ",server,nowait": must listen and must not block. */
    c = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(chardev_filename(c), ==, expect);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));

    c = chardev_new_from_spec("serial1", "tcp::0,server=on,wait=off", &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(chardev_filename(c), "disconnected:tcp:0.0.0.0:"));
    g_assert_cmpuint(filename_port(c), >, 0);

    c = chardev_new_from_spec("serial2", "tcp:[127.0.0.1]:0,server,nowait", &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(chardev_filename(c), "disconnected:tcp:127.0.0.1:"));

    c = new_opts("socket,id=s3,host=127.0.0.1,port=0,server=on,wait=off,nodelay=on", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(filename_port(c), >, 0);

    /* A stale socket file from an earlier run is replaced... */
    chardev_cleanup_all();
    g_assert_cmpint(stat(path, &st), <, 0);     /* ...and cleanup removes ours */
    {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        strcpy(sa.sun_path, path);
        g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        close(fd);
    }
    c = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    chardev_cleanup_all();

    /* ...but a regular file in the way is not deleted. */
    g_assert_true(g_file_set_contents(path, "precious", -1, NULL));
    expect_spec_error(spec, "cannot listen");
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_unlink(path);
    g_rmdir(dir);
}

/* Sockets ------------------------------------------------------------------ */

/* Talk through server chardev @c with the client on @fd. */
static void check_both_ways(Chardev *c, TestFe *t, int fd, const char *to_fe,
                            const char *to_peer)
{
    g_string_truncate(t->in, 0);
    write_all(fd, to_fe);
    wait_input(t, to_fe);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)to_peer, strlen(to_peer)), ==,
                    (int)strlen(to_peer));
    read_expect(fd, to_peer);
}

static void socket_server_checks(Chardev *c, int (*connect_fn)(void *), void *arg)
{
    g_autoptr(GError) err = NULL;
    TestFe t;
    int fd, fd2;

    fe_init(&t);
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    g_assert_cmpint(t.nevents, ==, 0);

    /* No client yet: output is dropped, and says so. */
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"lost", 4), ==, 0);

    fd = connect_fn(arg);
    wait_events(&t, 1);
    g_assert_cmpint(t.events[0], ==, CHR_EVENT_OPENED);
    g_assert_false(g_str_has_prefix(chardev_filename(c), "disconnected:"));
    check_both_ways(c, &t, fd, "hello", "world");

    /* A second client waits in the backlog while the first is served. */
    fd2 = connect_fn(arg);
    write_all(fd2, "second");
    drain_main_loop();
    g_assert_cmpint(t.nevents, ==, 1);
    check_both_ways(c, &t, fd, "still first", "to first");

    /* The first leaves: CLOSED, then the second is taken: OPENED. */
    close(fd);
    wait_events(&t, 3);
    g_assert_cmpint(t.events[1], ==, CHR_EVENT_CLOSED);
    g_assert_cmpint(t.events[2], ==, CHR_EVENT_OPENED);
    g_string_truncate(t.in, 0);
    wait_input(&t, "second");
    check_both_ways(c, &t, fd2, "again", "back");

    close(fd2);
    wait_events(&t, 4);
    g_assert_cmpint(t.events[3], ==, CHR_EVENT_CLOSED);
    g_assert_true(g_str_has_prefix(chardev_filename(c), "disconnected:"));
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"lost", 4), ==, 0);

    /* Reconnecting works. */
    fd = connect_fn(arg);
    wait_events(&t, 5);
    g_assert_cmpint(t.events[4], ==, CHR_EVENT_OPENED);
    check_both_ways(c, &t, fd, "re", "connected");
    close(fd);
    wait_events(&t, 6);
    fe_fini(&t);
}

static int connect_unix_cb(void *arg)
{
    return unix_connect(arg);
}

static int connect_tcp_cb(void *arg)
{
    return tcp_connect(*(unsigned *)arg);
}

static void test_socket_unix(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("sock", &dir);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", spec, &err);

    g_assert_no_error(err);
    socket_server_checks(c, connect_unix_cb, path);
    chardev_cleanup_all();
    g_rmdir(dir);
}

static void test_socket_tcp(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *c = new_opts("socket,id=tcp0,host=127.0.0.1,port=0,server=on,wait=off", &err);
    unsigned port;

    g_assert_no_error(err);
    port = filename_port(c);
    socket_server_checks(c, connect_tcp_cb, &port);
    chardev_cleanup_all();
}

/* The front end takes 3 bytes at a time: the rest waits, nothing is lost. */
static void test_socket_flow_control(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("sock", &dir);
    g_autofree char *spec = g_strdup_printf("unix:%s,server,nowait", path);
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", spec, &err);
    TestFe t;
    int fd;

    g_assert_no_error(err);
    fe_init(&t);
    t.room = 3;
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    fd = unix_connect(path);
    write_all(fd, "0123456789");
    wait_input(&t, "012");
    drain_main_loop();
    g_assert_cmpstr(t.in->str, ==, "012");
    for (int i = 0; i < 2; i++) {
        t.room = 3;
        chardev_accept_input(c);
        drain_main_loop();
    }
    g_assert_cmpstr(t.in->str, ==, "012345678");
    t.room = 100;
    chardev_accept_input(c);
    wait_input(&t, "0123456789");
    /* With input flowing again, the fd is watched again. */
    write_all(fd, "ab");
    wait_input(&t, "0123456789ab");
    close(fd);
    chardev_cleanup_all();
    fe_fini(&t);
    g_rmdir(dir);
}

/* A peer that never reads must not hang the writer. */
static void test_socket_stalled_peer(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("sock", &dir);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", spec, &err);
    static uint8_t chunk[65536];
    gint64 start;
    int fd, dropped = 0;
    TestFe t;

    g_assert_no_error(err);
    fe_init(&t);
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    fd = unix_connect(path);
    wait_events(&t, 1);
    start = g_get_monotonic_time();
    for (int i = 0; i < 200; i++) {      /* 12.5 MiB, far beyond socket buffers */
        dropped += chardev_write(c, chunk, sizeof(chunk)) < (int)sizeof(chunk);
    }
    g_assert_cmpint(dropped, >, 0);
    /* One bounded wait, then drops without waiting: well under 2 s. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
    close(fd);
    chardev_cleanup_all();
    fe_fini(&t);
    g_rmdir(dir);
}

/* server=off connects at startup. */
static void test_socket_client(void)
{
    g_autoptr(GError) err = NULL;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
    g_autofree char *spec = NULL;
    Chardev *c;
    TestFe t;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    g_assert_cmpint(getsockname(lfd, (struct sockaddr *)&sa, &len), ==, 0);
    spec = g_strdup_printf("tcp:127.0.0.1:%u", ntohs(sa.sin_port));
    c = chardev_new_from_spec("serial0", spec, &err);
    g_assert_no_error(err);
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    fe_init(&t);
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    g_assert_cmpint(fe_last_event(&t), ==, CHR_EVENT_OPENED);
    check_both_ways(c, &t, fd, "from server", "from client");
    close(fd);
    wait_events(&t, 2);
    g_assert_cmpint(t.events[1], ==, CHR_EVENT_CLOSED);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"x", 1), ==, 0);
    close(lfd);
    chardev_cleanup_all();
    fe_fini(&t);
}

/* wait=on (the server default) blocks startup until a client connects. */
static gpointer late_client(gpointer path)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000ll;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(sa.sun_path, path);
    /* Poll for the listening socket to appear (interval, not synchronisation). */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (g_get_monotonic_time() > deadline) {
            close(fd);
            return GINT_TO_POINTER(-1);
        }
        g_usleep(1000);
    }
    g_assert_cmpint(write(fd, "early", 5), ==, 5);
    return GINT_TO_POINTER(fd);
}

static void test_socket_wait(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("sock", &dir);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on", path);
    g_autoptr(GError) err = NULL;
    GThread *th = g_thread_new("client", late_client, path);
    Chardev *c = chardev_new_from_spec("serial0", spec, &err);
    int fd = GPOINTER_TO_INT(g_thread_join(th));
    TestFe t;

    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    fe_init(&t);
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    g_assert_cmpint(fe_last_event(&t), ==, CHR_EVENT_OPENED);
    wait_input(&t, "early");
    close(fd);
    chardev_cleanup_all();
    fe_fini(&t);
    g_rmdir(dir);
}

/* pty ------------------------------------------------------------------------ */

static void test_pty(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", "pty", &err);
    const char *slave;
    TestFe t;
    int fd;

    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(chardev_filename(c), "pty:/dev/pts/"));
    slave = chardev_filename(c) + 4;
    fe_init(&t);
    g_assert_true(chardev_attach(c, &test_fe_ops, &t, &err));
    g_assert_cmpint(fe_last_event(&t), ==, CHR_EVENT_OPENED);

    fd = open(slave, O_RDWR | O_NOCTTY);
    g_assert_cmpint(fd, >=, 0);
    /* Raw: CR is not turned into LF, nothing is echoed, no line buffering. */
    write_all(fd, "ab\rc");
    wait_input(&t, "ab\rc");
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"x\ny", 3), ==, 3);
    read_expect(fd, "x\ny");

    /* The reader goes away: CLOSED, output dropped, no busy loop. */
    close(fd);
    wait_events(&t, 2);
    g_assert_cmpint(t.events[1], ==, CHR_EVENT_CLOSED);
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"lost", 4), ==, 0);
    g_assert_false(g_main_context_iteration(NULL, FALSE));

    /* A new reader is noticed (checked once a second). */
    fd = open(slave, O_RDWR | O_NOCTTY);
    g_assert_cmpint(fd, >=, 0);
    wait_events(&t, 3);
    g_assert_cmpint(t.events[2], ==, CHR_EVENT_OPENED);
    g_string_truncate(t.in, 0);
    write_all(fd, "back");
    wait_input(&t, "back");
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"again", 5), ==, 5);
    read_expect(fd, "again");
    close(fd);
    chardev_cleanup_all();
    fe_fini(&t);
}

/* Multiplexer ---------------------------------------------------------------- */

static void test_mux(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_path("sock", &dir);
    g_autofree char *opts = g_strdup_printf("socket,id=con,path=%s,server=on,wait=off,"
                                            "mux=on", path);
    g_autoptr(GError) err = NULL;
    Chardev *c = new_opts(opts, &err);
    TestFe a, b;
    int fd;

    g_assert_no_error(err);
    g_assert_true(chardev_is_mux(c));
    g_assert_true(chardev_find("con") == c);
    fe_init(&a);
    fe_init(&b);
    g_assert_true(chardev_attach(c, &test_fe_ops, &a, &err));
    fd = unix_connect(path);
    wait_events(&a, 1);
    g_assert_cmpint(a.events[0], ==, CHR_EVENT_OPENED);

    /* One front end: C-a c says there is nothing to switch to. */
    write_all(fd, "\001c");
    read_expect(fd, "\r\nkemu: nothing to switch to: this console has one front end\r\n");

    /* Plain bytes pass; C-a C-a is one C-a; C-a b is a break. */
    g_assert_true(chardev_attach(c, &test_fe_ops, &b, &err));
    g_assert_cmpint(fe_last_event(&b), ==, CHR_EVENT_OPENED);
    write_all(fd, "ab\001\001c\001bd");
    wait_input(&a, "ab\001cd");
    g_assert_cmpint(fe_last_event(&a), ==, CHR_EVENT_BREAK);
    g_assert_cmpuint(b.in->len, ==, 0);

    /* Both front ends' output reaches the backend. */
    g_assert_cmpint(chardev_write(c, (const uint8_t *)"A", 1), ==, 1);
    read_expect(fd, "A");

    /* C-a c: focus moves to b; an escape split across reads still works. */
    write_all(fd, "e\001");
    wait_input(&a, "ab\001cde");
    write_all(fd, "cxy");
    wait_input(&b, "xy");
    g_assert_cmpstr(a.in->str, ==, "ab\001cde");
    g_assert_cmpint(fe_last_event(&a), ==, CHR_EVENT_MUX_OUT);
    g_assert_cmpint(fe_last_event(&b), ==, CHR_EVENT_MUX_IN);
    write_all(fd, "\001b");
    wait_events(&b, 3);
    g_assert_cmpint(fe_last_event(&b), ==, CHR_EVENT_BREAK);
    write_all(fd, "\001cz");
    wait_input(&a, "ab\001cdez");

    /* Input for a front end that is not reading waits in its queue. */
    a.room = 0;
    write_all(fd, "12");
    drain_main_loop();
    write_all(fd, "\001c3");
    wait_input(&b, "xy3");
    a.room = -1;
    chardev_accept_input(c);
    wait_input(&a, "ab\001cdez12");

    /* C-a h prints help, unknown keys are swallowed. */
    write_all(fd, "\001q\001h");
    read_expect(fd, "\r\nC-a h    print this help\r\n");
    drain_main_loop();
    g_assert_cmpstr(b.in->str, ==, "xy3");

    g_assert_false(runstate_shutdown_requested());
    close(fd);
    chardev_cleanup_all();
    g_assert_null(chardev_find("con"));
    fe_fini(&a);
    fe_fini(&b);
    g_rmdir(dir);
}

static gboolean shutdown_requested(void *arg G_GNUC_UNUSED)
{
    return runstate_shutdown_requested();
}

/* Runs last: the shutdown request cannot be taken back. */
static void test_mux_quit(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *base = chardev_new_from_spec("base", "tcp:127.0.0.1:0,server=on,wait=off",
                                          &err);
    Chardev *c;
    TestFe a;
    int fd;

    g_assert_no_error(err);
    c = chardev_new_mux("serial0", base, &err);
    g_assert_no_error(err);
    g_assert_true(chardev_is_mux(c));
    /* The backend now belongs to the mux. */
    fe_init(&a);
    g_assert_false(chardev_attach(base, &test_fe_ops, &a, &err));
    g_clear_error(&err);
    g_assert_null(chardev_new_mux("serial0", base, &err));
    g_assert_cmpstr(err->message, ==, "chardev 'serial0' already exists");
    g_clear_error(&err);

    g_assert_true(chardev_attach(c, &test_fe_ops, &a, &err));
    fd = tcp_connect(filename_port(base));
    write_all(fd, "\001x");
    wait_until(shutdown_requested, NULL);
    g_assert_cmpint(runstate_shutdown_cause(), ==, SHUTDOWN_CAUSE_HOST_UI);
    g_assert_cmpint(runstate_exit_status(), ==, 0);
    read_expect(fd, "kemu: terminated\r\n");
    close(fd);
    chardev_cleanup_all();
    fe_fini(&a);
}

/* stdio (in a child, with a pty as its terminal) ----------------------------- */

static bool same_termios(const struct termios *x, const struct termios *y)
{
    return x->c_iflag == y->c_iflag && x->c_oflag == y->c_oflag &&
           x->c_lflag == y->c_lflag && x->c_cflag == y->c_cflag &&
           !memcmp(x->c_cc, y->c_cc, sizeof(x->c_cc));
}

static gboolean got_q(void *arg)
{
    TestFe *t = arg;
    return strchr(t->in->str, 'q') != NULL;
}

/* The child: echo input upper-cased until 'q'; check terminal modes. */
static int stdio_child(void)
{
    struct termios before, now;
    g_autoptr(GError) err = NULL;
    Chardev *c;
    TestFe t;

    if (tcgetattr(STDIN_FILENO, &before) < 0 || !(before.c_lflag & ECHO)) {
        return 10;
    }
    c = chardev_new_from_spec("serial0", "stdio", &err);
    if (!c || tcgetattr(STDIN_FILENO, &now) < 0) {
        return 11;
    }
    if ((now.c_lflag & (ECHO | ICANON)) || !(now.c_lflag & ISIG) || (now.c_iflag & ICRNL)) {
        return 12;
    }
    /* Only one stdio. */
    if (chardev_new_from_spec("serial1", "stdio", &err) || !err) {
        return 13;
    }
    g_clear_error(&err);
    fe_init(&t);
    t.echo_to = c;
    chardev_attach(c, &test_fe_ops, &t, &err);
    chardev_write(c, (const uint8_t *)"R", 1);
    wait_until(got_q, &t);
    /* What the fatal-signal handler does. */
    chardev_restore_terminals();
    if (tcgetattr(STDIN_FILENO, &now) < 0 || !same_termios(&before, &now)) {
        return 14;
    }
    chardev_cleanup_all();

    c = new_opts("stdio,id=s,signal=off", &err);
    if (!c || tcgetattr(STDIN_FILENO, &now) < 0 || (now.c_lflag & ISIG)) {
        return 15;
    }
    chardev_cleanup_all();
    if (tcgetattr(STDIN_FILENO, &now) < 0 || !same_termios(&before, &now)) {
        return 16;
    }
    return 0;
}

static void test_stdio_terminal(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    char *slave_name;
    pid_t pid;
    int status, slave;

    g_assert_cmpint(master, >=, 0);
    g_assert_cmpint(grantpt(master), ==, 0);
    g_assert_cmpint(unlockpt(master), ==, 0);
    slave_name = ptsname(master);
    slave = open(slave_name, O_RDWR | O_NOCTTY);
    g_assert_cmpint(slave, >=, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        dup2(slave, STDIN_FILENO);
        dup2(slave, STDOUT_FILENO);
        _exit(stdio_child());
    }
    close(slave);
    read_expect(master, "R");            /* the child is in raw mode now */
    write_all(master, "ab\rq");
    read_expect(master, "AB\rQ");        /* no echo, no CR->LF, no line buffering */
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    close(master);
}

/* Stdin at end of file: stop watching it, no busy loop. */
static int stdio_eof_child(void)
{
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec("serial0", "stdio", &err);
    TestFe t;
    int i;

    if (!c) {
        return 20;
    }
    fe_init(&t);
    chardev_attach(c, &test_fe_ops, &t, &err);
    /* The input arrives, then EOF is seen and the source goes away. */
    for (i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++) {
    }
    if (i == 100) {
        return 21;
    }
    if (strcmp(t.in->str, "piped")) {
        return 22;
    }
    chardev_cleanup_all();
    return 0;
}

static void test_stdio_eof(void)
{
    int p[2];
    pid_t pid;
    int status;

    g_assert_cmpint(pipe(p), ==, 0);
    write_all(p[1], "piped");
    close(p[1]);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        dup2(p[0], STDIN_FILENO);
        _exit(stdio_eof_child());
    }
    close(p[0]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* The main loop runs with the BQL held; so do these tests. */
    bql_lock();
    g_test_add_func("/chardev/null", test_null);
    g_test_add_func("/chardev/file", test_file);
    g_test_add_func("/chardev/parse-errors", test_parse_errors);
    g_test_add_func("/chardev/spec-legacy-flags", test_spec_legacy_flags);
    g_test_add_func("/chardev/socket/unix", test_socket_unix);
    g_test_add_func("/chardev/socket/tcp", test_socket_tcp);
    g_test_add_func("/chardev/socket/flow-control", test_socket_flow_control);
    g_test_add_func("/chardev/socket/stalled-peer", test_socket_stalled_peer);
    g_test_add_func("/chardev/socket/client", test_socket_client);
    g_test_add_func("/chardev/socket/wait", test_socket_wait);
    g_test_add_func("/chardev/pty", test_pty);
    g_test_add_func("/chardev/stdio/terminal", test_stdio_terminal);
    g_test_add_func("/chardev/stdio/eof", test_stdio_eof);
    g_test_add_func("/chardev/mux", test_mux);
    g_test_add_func("/chardev/mux/quit", test_mux_quit);
    return g_test_run();
}
