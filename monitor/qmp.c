/*
 * QMP sessions: greeting, framing, request checks, replies and events
 * on a chardev, in QEMU's wire format.
 */
#include <string.h>
#include "kemu/error.h"
#include "monitor-int.h"

static void qmp_send(Monitor *mon, JsonNode *msg)
{
    g_autoptr(GString) out = g_string_new(NULL);

    json_to_gstring(msg, out);
    g_string_append(out, "\r\n");
    chardev_write(mon->chr, (const uint8_t *)out->str, out->len);
}

static void qmp_send_object(Monitor *mon, JsonObject *o)
{
    JsonNode *n = json_node_init_object(json_node_alloc(), o);

    qmp_send(mon, n);
    json_node_unref(n);
}

static void send_greeting(Monitor *mon)
{
    JsonObject *qemu = json_object_new(), *version = json_object_new();
    JsonObject *qmp = json_object_new(), *greeting = json_object_new();

    json_object_set_int_member(qemu, "micro", 0);
    json_object_set_int_member(qemu, "minor", 1);
    json_object_set_int_member(qemu, "major", 0);
    json_object_set_object_member(version, "qemu", qemu);
    json_object_set_string_member(version, "package", "kemu-0.1.0");
    json_object_set_object_member(qmp, "version", version);
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    qmp_send_object(mon, greeting);
    json_object_unref(greeting);
}

/* Reply with an error; @id (may be NULL) is echoed. */
static void send_error(Monitor *mon, JsonNode *id, const char *cls, const char *desc)
{
    JsonObject *reply = json_object_new(), *err = json_object_new();

    json_object_set_string_member(err, "class", cls);
    json_object_set_string_member(err, "desc", desc);
    json_object_set_object_member(reply, "error", err);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    qmp_send_object(mon, reply);
    json_object_unref(reply);
}

/* Check the request's shape as QEMU does, then dispatch. */
static void handle_request(Monitor *mon, JsonNode *req)
{
    JsonObject *o, *args = NULL;
    JsonNode *id, *exec, *argn;
    const char *name;
    QmpResult r = { 0 };
    bool negotiate = false;
    g_autoptr(GList) members = NULL;

    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        send_error(mon, NULL, QMP_ERR_GENERIC, "QMP input must be a JSON object");
        return;
    }
    o = json_node_get_object(req);
    id = json_object_get_member(o, "id");
    members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        const char *k = l->data;
        if (strcmp(k, "execute") && strcmp(k, "arguments") && strcmp(k, "id")) {
            g_autofree char *msg = g_strdup_printf("QMP input member '%s' is unexpected", k);
            send_error(mon, id, QMP_ERR_GENERIC, msg);
            return;
        }
    }
    exec = json_object_get_member(o, "execute");
    if (!exec) {
        send_error(mon, id, QMP_ERR_GENERIC, "QMP input lacks member 'execute'");
        return;
    }
    if (!JSON_NODE_HOLDS_VALUE(exec) || json_node_get_value_type(exec) != G_TYPE_STRING) {
        send_error(mon, id, QMP_ERR_GENERIC, "QMP input member 'execute' must be a string");
        return;
    }
    name = json_node_get_string(exec);
    argn = json_object_get_member(o, "arguments");
    if (argn) {
        if (!JSON_NODE_HOLDS_OBJECT(argn)) {
            send_error(mon, id, QMP_ERR_GENERIC,
                       "QMP input member 'arguments' must be an object");
            return;
        }
        args = json_object_ref(json_node_get_object(argn));
    } else {
        args = json_object_new();
    }
    qmp_dispatch(name, args, mon->negotiated, &negotiate, &r);
    json_object_unref(args);
    if (negotiate) {
        mon->negotiated = true;
    }
    if (!r.ret) {
        send_error(mon, id, r.err_class, r.err_desc);
        g_free(r.err_desc);
        return;
    }
    JsonObject *reply = json_object_new();
    json_object_set_member(reply, "return", r.ret);
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    qmp_send_object(mon, reply);
    json_object_unref(reply);
}

static void on_value(void *opaque, const char *text, size_t len, const char *err)
{
    Monitor *mon = opaque;
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) perr = NULL;

    if (err) {
        send_error(mon, NULL, QMP_ERR_GENERIC, err);
        return;
    }
    /* json-glib wants UTF-8; a stray byte is a parse error, not a crash. */
    if (!g_utf8_validate(text, len, NULL)) {
        send_error(mon, NULL, QMP_ERR_GENERIC, "JSON parse error, invalid UTF-8 sequence");
        return;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, text, len, &perr) ||
        !json_parser_get_root(parser)) {
        g_autofree char *msg = g_strdup_printf("JSON parse error, %s",
                                               perr ? perr->message : "empty input");
        send_error(mon, NULL, QMP_ERR_GENERIC, msg);
        return;
    }
    handle_request(mon, json_parser_get_root(parser));
}

static int qmp_can_receive(void *opaque G_GNUC_UNUSED)
{
    return 4096;
}

static void qmp_receive(void *opaque, const uint8_t *buf, int len)
{
    Monitor *mon = opaque;

    json_stream_feed(&mon->js, buf, len);
}

static void qmp_event(void *opaque, int event)
{
    Monitor *mon = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        /* Each connection negotiates afresh. */
        json_stream_reset(&mon->js);
        mon->negotiated = false;
        mon->connected = true;
        send_greeting(mon);
        break;
    case CHR_EVENT_CLOSED:
        json_stream_reset(&mon->js);
        mon->negotiated = false;
        mon->connected = false;
        break;
    }
}

static const ChardevFrontend qmp_frontend = {
    .can_receive = qmp_can_receive,
    .receive = qmp_receive,
    .event = qmp_event,
};

Monitor *monitor_new_qmp(Machine *m, Chardev *c, GError **errp)
{
    Monitor *mon = g_new0(Monitor, 1);

    mon->qmp = true;
    mon->m = m;
    mon->chr = c;
    json_stream_init(&mon->js, on_value, mon);
    /* attach sends OPENED at once if a client is already there. */
    monitor_register(mon);
    monitor_note_machine(m);
    if (!chardev_attach(c, &qmp_frontend, mon, errp)) {
        monitor_unregister(mon);
        json_stream_destroy(&mon->js);
        g_free(mon);
        return NULL;
    }
    return mon;
}

void qmp_broadcast_event(const char *name, JsonObject *data)
{
    GPtrArray *mons = monitor_list();
    JsonObject *ev = json_object_new(), *ts = json_object_new();
    gint64 now = g_get_real_time();

    json_object_set_string_member(ev, "event", name);
    if (data) {
        json_object_set_object_member(ev, "data", data);
    }
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    json_object_set_object_member(ev, "timestamp", ts);
    for (guint i = 0; i < mons->len; i++) {
        Monitor *mon = mons->pdata[i];
        if (mon->qmp && mon->connected && mon->negotiated) {
            qmp_send_object(mon, ev);
        }
    }
    json_object_unref(ev);
}
