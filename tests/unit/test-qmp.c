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
#include <json-glib/json-glib.h>
#include "chardev/chardev.h"
#include "monitor/monitor.h"
#include "system/bql.h"
#include "system/runstate.h"

#define TIMEOUT_US (10 * G_USEC_PER_SEC)

static Machine machine;
static char *sock_path;
static Chardev *chr;
static Monitor *mon;
static GString *rx;

static int client_connect(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, sock_path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_string_truncate(rx, 0);
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
            g_string_append_len(rx, tmp, r);
        }
    }
}

static void client_send_str(int fd, const char *s)
{
    client_send(fd, s, strlen(s));
}

/* The next "\r\n"-terminated message, parsed; fails the test on timeout. */
static JsonObject *client_recv(int fd)
{
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;
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
    g_autofree char *line = g_strndup(rx->str, nl - rx->str);
    g_string_erase(rx, 0, nl - rx->str + 2);
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, line, -1, NULL));
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static void expect_error(int fd, const char *cls, const char *desc_prefix)
{
    g_autoptr(JsonObject) o = client_recv(fd);
    JsonObject *e = json_object_get_object_member(o, "error");

    g_assert_nonnull(e);
    g_assert_cmpstr(json_object_get_string_member(e, "class"), ==, cls);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(e, "desc"), desc_prefix));
}

static JsonObject *expect_return(int fd)
{
    g_autoptr(JsonObject) o = client_recv(fd);

    g_assert_true(json_object_has_member(o, "return"));
    return json_object_ref(o);
}

static int connect_negotiated(void)
{
    int fd = client_connect();
    g_autoptr(JsonObject) greeting = client_recv(fd);
    g_autoptr(JsonObject) ok = NULL;

    g_assert_true(json_object_has_member(greeting, "QMP"));
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\"}");
    ok = expect_return(fd);
    return fd;
}

static void test_greeting_and_negotiation(void)
{
    int fd = client_connect();
    g_autoptr(JsonObject) g = client_recv(fd);
    JsonObject *q = json_object_get_object_member(g, "QMP");
    JsonObject *v = json_object_get_object_member(q, "version");

    g_assert_cmpstr(json_object_get_string_member(v, "package"), ==, "kemu-0.1.0");
    g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(v, "qemu"),
                                               "minor"), ==, 1);
    client_send_str(fd, "{\"execute\": \"query-status\"}");
    expect_error(fd, "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\", \"id\": 7}");
    g_autoptr(JsonObject) r = expect_return(fd);
    g_assert_cmpint(json_object_get_int_member(r, "id"), ==, 7);
    client_send_str(fd, "{\"execute\": \"qmp_capabilities\"}");
    expect_error(fd, "CommandNotFound", "Capabilities negotiation is already complete");
    close(fd);
}

static void test_commands(void)
{
    int fd = connect_negotiated();

    /* Two requests in one write, no separator; an id of any type. */
    client_send_str(fd, "{\"execute\":\"query-status\",\"id\":{\"a\":[1]}}"
                        "{\"execute\":\"query-name\"}");
    g_autoptr(JsonObject) st = expect_return(fd);
    JsonObject *ret = json_object_get_object_member(st, "return");
    g_assert_cmpstr(json_object_get_string_member(ret, "status"), ==,
                    runstate_name(runstate_get()));
    g_assert_false(json_object_get_boolean_member(ret, "singlestep"));
    g_assert_nonnull(json_object_get_object_member(st, "id"));
    g_autoptr(JsonObject) nm = expect_return(fd);
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(nm, "return"),
                                                  "name"), ==, "test-guest");
    /* A request split across writes. */
    client_send_str(fd, "{\"execute\": \"query-com");
    g_main_context_iteration(NULL, FALSE);
    client_send_str(fd, "mands\"}\n");
    g_autoptr(JsonObject) cmds = expect_return(fd);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(cmds, "return")), >=, 14);

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
    g_autoptr(JsonObject) hmp = expect_return(fd);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(hmp, "return"), "VM status: "));
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
    g_autoptr(JsonObject) r = expect_return(fd);
    g_assert_cmpstr(json_object_get_string_member(r, "id"), ==, "after");
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
    g_autoptr(JsonObject) g = client_recv(fd);
    g_assert_true(json_object_has_member(g, "QMP"));
    client_send_str(fd, "tus\"}{\"execute\": \"query-status\"}");
    expect_error(fd, "GenericError", "JSON parse error");
    expect_error(fd, "CommandNotFound", "Expecting capabilities negotiation");
    close(fd);
}

static void test_events(void)
{
    int fd = connect_negotiated();

    monitor_event_stop();
    g_autoptr(JsonObject) ev = client_recv(fd);
    g_assert_cmpstr(json_object_get_string_member(ev, "event"), ==, "STOP");
    JsonObject *ts = json_object_get_object_member(ev, "timestamp");
    g_assert_cmpint(json_object_get_int_member(ts, "seconds"), >, 0);
    g_assert_true(json_object_has_member(ts, "microseconds"));

    monitor_event_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    g_autoptr(JsonObject) rs = client_recv(fd);
    JsonObject *d = json_object_get_object_member(rs, "data");
    g_assert_cmpstr(json_object_get_string_member(rs, "event"), ==, "RESET");
    g_assert_true(json_object_get_boolean_member(d, "guest"));
    g_assert_cmpstr(json_object_get_string_member(d, "reason"), ==, "guest-reset");

    monitor_event_shutdown(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    g_autoptr(JsonObject) sd = client_recv(fd);
    d = json_object_get_object_member(sd, "data");
    g_assert_cmpstr(json_object_get_string_member(sd, "event"), ==, "SHUTDOWN");
    g_assert_false(json_object_get_boolean_member(d, "guest"));
    g_assert_cmpstr(json_object_get_string_member(d, "reason"), ==, "host-qmp-quit");
    close(fd);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *spec = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    bql_lock();
    rx = g_string_new(NULL);
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
    g_test_add_func("/qmp/commands", test_commands);
    g_test_add_func("/qmp/hostile-input", test_hostile_input);
    g_test_add_func("/qmp/disconnect-mid-command", test_disconnect_mid_command);
    g_test_add_func("/qmp/events", test_events);
    ret = g_test_run();

    monitor_free(mon);
    chardev_cleanup_all();
    unlink(sock_path);
    rmdir(dir);
    g_free(sock_path);
    return ret;
}
