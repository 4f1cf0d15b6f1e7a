/*
 * QMP over a real unix-socket chardev: framing, negotiation, dispatch,
 * argument checks, events and hostile input. The test thread plays the
 * main loop (BQL held, iterating the default context) and the client.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>
#include "block/block.h"
#include "chardev/chardev.h"
#include "monitor/monitor.h"
#include "system/bql.h"
#include "system/runstate.h"

#define TIMEOUT_US (10 * G_USEC_PER_SEC)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* Short accessors for the replies' members. */
static json_t *member(json_t *o, const char *key)
{
    return json_object_get(o, key);
}

static const char *str_member(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_int_t int_member(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static Machine machine;
static char *sock_path;
static Chardev *chr;
static Monitor *mon;
static GHashTable *rx_bufs;   /* fd -> GString: bytes received, not yet parsed */

/* What client @fd received and nobody consumed yet. */
static GString *rx_of(int fd)
{
    GString *rx = g_hash_table_lookup(rx_bufs, GINT_TO_POINTER(fd));

    if (!rx) {
        rx = g_string_new(NULL);
        g_hash_table_insert(rx_bufs, GINT_TO_POINTER(fd), rx);
    }
    return rx;
}

static void rx_free(gpointer p)
{
    g_string_free(p, TRUE);
}

static int client_connect(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, sock_path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_string_truncate(rx_of(fd), 0);
    return fd;
}

/* Send everything, letting the server side run while the socket is full. */
static void client_send(int fd, const char *buf, size_t len)
{
    gint64 deadline = g_get_monotonic_time() + 4 * TIMEOUT_US;

    while (len) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= n;
            continue;
        }
        g_assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        /* Replies must not fill our receive buffer and stall the server. */
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (r > 0) {
            g_string_append_len(rx_of(fd), tmp, r);
        }
    }
}

static void client_send_str(int fd, const char *s)
{
    client_send(fd, s, strlen(s));
}

/* The next "\r\n"-terminated message's text; fails the test on timeout. */
static char *client_recv_line(int fd)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;
    GString *rx = rx_of(fd);
    char *nl;

    while (!(nl = strstr(rx->str, "\r\n"))) {
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (r > 0) {
            g_string_append_len(rx, tmp, r);
            continue;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100);
    }
    char *line = g_strndup(rx->str, nl - rx->str);
    g_string_erase(rx, 0, nl - rx->str + 2);
    return line;
}

/* The next message, parsed (an object). */
static json_t *client_recv(int fd)
{
    g_autofree char *line = client_recv_line(fd);
    json_t *v = json_loads(line, 0, NULL);
    g_assert_nonnull(v);
    g_assert_true(json_is_object(v));
    return v;
}

static void expect_error(int fd, const char *cls, const char *desc_prefix)
{
    g_autoptr(json_t) o = client_recv(fd);
    json_t *e = member(o, "error");

    g_assert_nonnull(e);
    g_assert_cmpstr(str_member(e, "class"), ==, cls);
    g_assert_true(g_str_has_prefix(str_member(e, "desc"), desc_prefix));
}

static json_t *expect_return(int fd)
{
    g_autoptr(json_t) o = client_recv(fd);

    g_assert_nonnull(member(o, "return"));
    return json_incref(o);
}

static int connect_negotiated(void)
{
    int fd = client_connect();
    g_autoptr(json_t) greeting = client_recv(fd);
    g_autoptr(json_t) ok = NULL;

    g_assert_nonnull(member(greeting, "QMP"));
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\"}");
    ok = expect_return(fd);
    return fd;
}

static void test_greeting_and_negotiation(void)
{
    int fd = client_connect();
    g_autoptr(json_t) g = client_recv(fd);
    json_t *q = member(g, "QMP");
    json_t *v = member(q, "version");

    g_assert_cmpstr(str_member(v, "package"), ==, "kemu-0.1.0");
    g_assert_cmpint(int_member(member(v, "qemu"),
                                               "minor"), ==, 1);
    g_assert_cmpuint(json_array_size(member(q, "capabilities")), ==, 1);
    g_assert_cmpstr(json_string_value(json_array_get(member(q, "capabilities"), 0)), ==, "oob");
    client_send_str(fd, "{\"execute\": \"query-status\"}");
    expect_error(fd, "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\", "
                        "\"arguments\": {\"enable\": [\"oob\", \"no-such\"]}}");
    expect_error(fd, "GenericError", "Capability 'no-such' not available");
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\", \"id\": 7}");
    g_autoptr(json_t) r = expect_return(fd);
    g_assert_cmpint(int_member(r, "id"), ==, 7);
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\"}");
    expect_error(fd, "CommandNotFound", "Capabilities negotiation is already complete");
    client_send_str(fd, "{\"exec-oob\": \"query-status\"}");
    expect_error(fd, "GenericError", "Out-of-band execution requires the 'oob' capability");
    close(fd);
}

/* 'oob' enabled: requests still run in order; no command runs out of band. */
static void test_oob(void)
{
    int fd = client_connect();
    g_autoptr(json_t) g = client_recv(fd);
    g_autoptr(json_t) ok = NULL;
    g_autoptr(json_t) st = NULL;

    client_send_str(fd, "{\"execute\": \"qmp_capabilities\", "
                        "\"arguments\": {\"enable\": [\"oob\"]}}");
    ok = expect_return(fd);
    client_send_str(fd, "{\"exec-oob\": \"query-status\", \"id\": 1}");
    expect_error(fd, "GenericError", "The command query-status does not support OOB");
    client_send_str(fd, "{\"exec-oob\": \"query-status\", \"execute\": \"query-status\"}");
    expect_error(fd, "GenericError", "QMP input must not have both 'execute' and 'exec-oob'");
    client_send_str(fd, "{\"execute\": \"query-status\"}");
    st = expect_return(fd);
    close(fd);
}

static void test_commands(void)
{
    int fd = connect_negotiated();

    /* Two requests in one write, no separator; an id of any type. */
    client_send_str(fd, "{\"execute\":\"query-status\",\"id\":{\"a\":[1]}}"
                        "{\"execute\":\"query-name\"}");
    g_autoptr(json_t) st = expect_return(fd);
    json_t *ret = member(st, "return");
    g_assert_cmpstr(str_member(ret, "status"), ==,
                    runstate_name(runstate_get()));
    g_assert_false(json_is_true(member(ret, "singlestep")));
    g_assert_nonnull(member(st, "id"));
    g_autoptr(json_t) nm = expect_return(fd);
    g_assert_cmpstr(str_member(member(nm, "return"),
                                                  "name"), ==, "test-guest");
    /* A request split across writes. */
    client_send_str(fd, "{\"execute\": \"query-com");
    g_main_context_iteration(NULL, FALSE);
    client_send_str(fd, "mands\"}\n");
    g_autoptr(json_t) cmds = expect_return(fd);
    g_assert_cmpuint(json_array_size(member(cmds, "return")), >=, 14);

    client_send_str(fd, "{\"execute\": \"no-such-command\"}");
    expect_error(fd, "CommandNotFound", "The command no-such-command has not been found");
    client_send_str(fd, "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}");
    expect_error(fd, "GenericError", "Parameter 'x' is unexpected");
    client_send_str(fd, "{\"execute\": \"human-monitor-command\", "
                        "\"arguments\": {\"command-line\": 5}}");
    expect_error(fd, "GenericError", "Invalid parameter type for 'command-line', expected: string");
    client_send_str(fd, "{\"execute\": \"human-monitor-command\"}");
    expect_error(fd, "GenericError", "Parameter 'command-line' is missing");
    client_send_str(fd, "{\"execute\": 3}");
    expect_error(fd, "GenericError", "QMP input member 'execute' must be a string");
    client_send_str(fd, "{\"execute\": \"stop\", \"arguments\": []}");
    expect_error(fd, "GenericError", "QMP input member 'arguments' must be an object");
    client_send_str(fd, "[1, 2]");
    expect_error(fd, "GenericError", "QMP input must be a JSON object");

    client_send_str(fd, "{\"execute\": \"human-monitor-command\", "
                        "\"arguments\": {\"command-line\": \"info status\"}}");
    g_autoptr(json_t) hmp = expect_return(fd);
    g_assert_true(g_str_has_prefix(str_member(hmp, "return"), "VM status: "));
    close(fd);
}

static void test_hostile_input(void)
{
    int fd = connect_negotiated();
    GString *big = g_string_new("{\"execute\": \"query-version\", \"id\": \"");

    /* Bytes that are not JSON: an error, and the session goes on. */
    client_send_str(fd, "garbage\n");
    expect_error(fd, "GenericError", "JSON parse error");
    client_send_str(fd, "{\"execute\": }\n");
    expect_error(fd, "GenericError", "JSON parse error");
    client_send_str(fd, "{\"execute\": \"\xff\xfe\"}\n");
    expect_error(fd, "GenericError", "JSON parse error");

    /* A 10 MiB line: refused once, not buffered. */
    while (big->len < 10u << 20) {
        g_string_append(big, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    }
    g_string_append(big, "\"}\n");
    client_send(fd, big->str, big->len);
    g_string_free(big, TRUE);
    expect_error(fd, "GenericError", "JSON message too large");

    /* 10000 nested arrays. */
    GString *deep = g_string_new(NULL);
    for (int i = 0; i < 10000; i++) {
        g_string_append_c(deep, '[');
    }
    for (int i = 0; i < 10000; i++) {
        g_string_append_c(deep, ']');
    }
    client_send(fd, deep->str, deep->len);
    g_string_free(deep, TRUE);
    expect_error(fd, "GenericError", "JSON nesting too deep");

    /* Still alive and in step. */
    client_send_str(fd, "{\"execute\": \"query-version\", \"id\": \"after\"}");
    g_autoptr(json_t) r = expect_return(fd);
    g_assert_cmpstr(str_member(r, "id"), ==, "after");
    close(fd);
}

static void test_disconnect_mid_command(void)
{
    int fd = connect_negotiated();

    client_send_str(fd, "{\"execute\": \"query-sta");
    g_main_context_iteration(NULL, FALSE);
    close(fd);
    /* The next client starts clean: greeting, negotiation required again. */
    fd = client_connect();
    g_autoptr(json_t) g = client_recv(fd);
    g_assert_nonnull(member(g, "QMP"));
    client_send_str(fd, "tus\"}{\"execute\": \"query-status\"}");
    expect_error(fd, "GenericError", "JSON parse error");
    expect_error(fd, "CommandNotFound", "Expecting capabilities negotiation");
    close(fd);
}

static void test_events(void)
{
    int fd = connect_negotiated();

    monitor_event_stop();
    g_autoptr(json_t) ev = client_recv(fd);
    g_assert_cmpstr(str_member(ev, "event"), ==, "STOP");
    json_t *ts = member(ev, "timestamp");
    g_assert_cmpint(int_member(ts, "seconds"), >, 0);
    g_assert_nonnull(member(ts, "microseconds"));

    monitor_event_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    g_autoptr(json_t) rs = client_recv(fd);
    json_t *d = member(rs, "data");
    g_assert_cmpstr(str_member(rs, "event"), ==, "RESET");
    g_assert_true(json_is_true(member(d, "guest")));
    g_assert_cmpstr(str_member(d, "reason"), ==, "guest-reset");

    monitor_event_shutdown(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    g_autoptr(json_t) sd = client_recv(fd);
    d = member(sd, "data");
    g_assert_cmpstr(str_member(sd, "event"), ==, "SHUTDOWN");
    g_assert_false(json_is_true(member(d, "guest")));
    g_assert_cmpstr(str_member(d, "reason"), ==, "host-qmp-quit");
    close(fd);
}

/* Exact reply text: member order, spacing and 64-bit integers as QEMU's. */
static void test_wire_format(void)
{
    int fd = connect_negotiated();
    g_autofree char *l1 = NULL, *l2 = NULL, *l3 = NULL;

    client_send_str(fd, "{\"execute\": \"query-version\", \"id\": 9223372036854775807}");
    l1 = client_recv_line(fd);
    g_assert_cmpstr(l1, ==, "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, "
                    "\"major\": 0}, \"package\": \"kemu-0.1.0\"}, "
                    "\"id\": 9223372036854775807}");
    client_send_str(fd, "{\"id\": [-9223372036854775808, 1.5, null, \"\\u00e9\\u0001\"], "
                        "\"execute\": \"stop\", \"arguments\": {}}");
    l2 = client_recv_line(fd);
    g_assert_cmpstr(l2, ==, "{\"return\": {}, \"id\": [-9223372036854775808, 1.5, null, "
                    "\"\xc3\xa9\\u0001\"]}");
    /* Past 64 bits is a parse error, not a wrapped number. */
    client_send_str(fd, "{\"execute\": \"stop\", \"id\": 18446744073709551616}");
    expect_error(fd, "GenericError", "JSON parse error");
    client_send_str(fd, "{\"execute\": \"query-block\", \"id\": 1}");
    l3 = client_recv_line(fd);
    g_assert_cmpstr(l3, ==, "{\"return\": [], \"id\": 1}");
    close(fd);
}

/*
 * Two clients at once: each is greeted and negotiates on its own, replies
 * go to the asker only, events to every negotiated client, and one leaving
 * mid-request leaves the other untouched.
 */
static void test_multi_client(void)
{
    int a = connect_negotiated();
    int b = client_connect();
    g_autoptr(json_t) greeting = client_recv(b);
    g_autoptr(json_t) ok = NULL, ra = NULL, rb = NULL, ev1 = NULL, ev2 = NULL;
    g_autoptr(json_t) ev3 = NULL, st = NULL;

    g_assert_nonnull(member(greeting, "QMP"));
    client_send_str(b, "{\"execute\": \"query-status\"}");
    expect_error(b, "CommandNotFound", "Expecting capabilities negotiation");
    /* b has not negotiated: the event reaches a only. */
    monitor_event_stop();
    ev1 = client_recv(a);
    g_assert_cmpstr(str_member(ev1, "event"), ==, "STOP");
    client_send_str(b, "{\"execute\": \"qmp_capabilities\"}");
    ok = expect_return(b);

    client_send_str(a, "{\"execute\": \"query-name\", \"id\": \"a\"}");
    client_send_str(b, "{\"execute\": \"query-version\", \"id\": \"b\"}");
    rb = expect_return(b);
    g_assert_cmpstr(str_member(rb, "id"), ==, "b");
    ra = expect_return(a);
    g_assert_cmpstr(str_member(ra, "id"), ==, "a");
    /* The next message of each is the event: nobody got the other's reply. */
    monitor_event_resume();
    ev2 = client_recv(a);
    g_assert_cmpstr(str_member(ev2, "event"), ==, "RESUME");
    ev3 = client_recv(b);
    g_assert_cmpstr(str_member(ev3, "event"), ==, "RESUME");

    /* a leaves with half a request sent; b goes on. */
    client_send_str(a, "{\"execute\": \"query-sta");
    g_main_context_iteration(NULL, FALSE);
    close(a);
    client_send_str(b, "{\"execute\": \"query-status\", \"id\": 2}");
    st = expect_return(b);
    g_assert_cmpint(int_member(st, "id"), ==, 2);
    close(b);
}

static void test_query_block(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-qmp-blk-XXXXXX", &err);
    g_autofree char *img = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *opt = g_strdup_printf("file=%s,format=raw,if=none,id=d0,"
                                           "readonly=on,cache=none", img);
    g_autoptr(json_t) r = NULL;
    int fd;

    g_assert_true(g_file_set_contents(img, "", 0, NULL));
    g_assert_cmpint(truncate(img, 1 << 20), ==, 0);
    if (!blk_add_drive(opt, &err)) {
        /* tmpfs has no O_DIRECT: writeback shows the same shape. */
        g_clear_error(&err);
        g_free(opt);
        opt = g_strdup_printf("file=%s,format=raw,if=none,id=d0,readonly=on", img);
        g_assert_true(blk_add_drive(opt, &err));
    }
    fd = connect_negotiated();
    client_send_str(fd, "{\"execute\": \"query-block\"}");
    r = expect_return(fd);
    json_t *list = member(r, "return");
    g_assert_cmpuint(json_array_size(list), ==, 1);
    json_t *d = json_array_get(list, 0);
    g_assert_cmpstr(str_member(d, "device"), ==, "d0");
    g_assert_false(json_is_true(member(d, "locked")));
    g_assert_false(json_is_true(member(d, "removable")));
    g_assert_cmpstr(str_member(d, "type"), ==, "unknown");
    json_t *ins = member(d, "inserted");
    g_assert_cmpstr(str_member(ins, "file"), ==, img);
    g_assert_true(json_is_true(member(ins, "ro")));
    g_assert_cmpstr(str_member(ins, "drv"), ==, "raw");
    g_assert_false(json_is_true(member(ins, "encrypted")));
    g_assert_cmpstr(str_member(ins, "detect_zeroes"), ==, "off");
    json_t *image = member(ins, "image");
    g_assert_cmpstr(str_member(image, "filename"), ==, img);
    g_assert_cmpstr(str_member(image, "format"), ==, "raw");
    g_assert_cmpint(int_member(image, "virtual-size"), ==, 1 << 20);
    json_t *cache = member(ins, "cache");
    g_assert_true(json_is_boolean(member(cache, "writeback")));
    g_assert_true(json_is_boolean(member(cache, "direct")));
    g_assert_false(json_is_true(member(cache, "no-flush")));
    close(fd);
    blk_close_all();
    unlink(img);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *spec = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    bql_lock();
    rx_bufs = g_hash_table_new_full(NULL, NULL, NULL, rx_free);
    dir = g_dir_make_tmp("kemu-qmp-XXXXXX", &err);
    g_assert_no_error(err);
    sock_path = g_build_filename(dir, "qmp.sock", NULL);
    spec = g_strdup_printf("unix:%s,server=on,wait=off", sock_path);
    chr = chardev_new_from_spec("qmp-test", spec, &err);
    g_assert_no_error(err);
    mon = monitor_new_qmp(&machine, chr, &err);
    g_assert_no_error(err);
    monitor_set_name("test-guest");

    g_test_add_func("/qmp/greeting-negotiation", test_greeting_and_negotiation);
    g_test_add_func("/qmp/oob", test_oob);
    g_test_add_func("/qmp/commands", test_commands);
    g_test_add_func("/qmp/hostile-input", test_hostile_input);
    g_test_add_func("/qmp/disconnect-mid-command", test_disconnect_mid_command);
    g_test_add_func("/qmp/events", test_events);
    g_test_add_func("/qmp/wire-format", test_wire_format);
    g_test_add_func("/qmp/multi-client", test_multi_client);
    g_test_add_func("/qmp/query-block", test_query_block);
    ret = g_test_run();

    monitor_free(mon);
    chardev_cleanup_all();
    unlink(sock_path);
    rmdir(dir);
    g_free(sock_path);
    return ret;
}
