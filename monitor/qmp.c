/*
 * QMP sessions: greeting, framing, request checks, replies and events
 * on a chardev, in QEMU's wire format.
 *
 * A QMP monitor on a listening socket serves every connected peer at once
 * (chardev_serve_clients()): each peer is a QmpSession of its own, with
 * its own greeting, negotiation state and input framing; replies go only
 * to the session that asked, events to every negotiated session. On any
 * other chardev the monitor has one session, reset at each (re)connection.
 */
#include <string.h>
#include "kemu/error.h"
#include "monitor-int.h"

static void qmp_send(QmpSession *ss, const json_t *msg)
{
    g_autoptr(GString) out = g_string_new(NULL);

    json_to_gstring(msg, out);
    g_string_append(out, "\r\n");
    chardev_write(ss->chr, (const uint8_t *)out->str, out->len);
}

static void send_greeting(QmpSession *ss)
{
    json_t *greeting = json_pack("{s:{s:{s:{s:I,s:I,s:I},s:s},s:[s]}}",
                                 "QMP", "version", "qemu",
                                 "micro", (json_int_t)0, "minor", (json_int_t)1,
                                 "major", (json_int_t)0,
                                 "package", "kemu-0.1.0", "capabilities", "oob");

    qmp_send(ss, greeting);
    json_decref(greeting);
}

/* Reply with an error; @id (may be NULL) is echoed. */
static void send_error(QmpSession *ss, json_t *id, const char *cls, const char *desc)
{
    json_t *reply = json_object(), *err = json_object();

    json_object_set_new(err, "class", json_string(cls));
    json_object_set_new(err, "desc", qmp_string(desc));
    json_object_set_new(reply, "error", err);
    if (id) {
        json_object_set(reply, "id", id);
    }
    qmp_send(ss, reply);
    json_decref(reply);
}

/* Check the request's shape as QEMU does, then dispatch. */
static void handle_request(QmpSession *ss, json_t *req)
{
    json_t *id, *exec, *oob, *argn, *args, *v;
    const char *name, *key;
    QmpResult r = { 0 };
    bool negotiate = false;

    if (!json_is_object(req)) {
        send_error(ss, NULL, QMP_ERR_GENERIC, "QMP input must be a JSON object");
        return;
    }
    id = json_object_get(req, "id");
    json_object_foreach(req, key, v) {
        if (strcmp(key, "execute") && strcmp(key, "exec-oob") && strcmp(key, "arguments") &&
            strcmp(key, "id")) {
            g_autofree char *msg = g_strdup_printf("QMP input member '%s' is unexpected", key);
            send_error(ss, id, QMP_ERR_GENERIC, msg);
            return;
        }
    }
    exec = json_object_get(req, "execute");
    oob = json_object_get(req, "exec-oob");
    if (exec && oob) {
        send_error(ss, id, QMP_ERR_GENERIC,
                   "QMP input must not have both 'execute' and 'exec-oob'");
        return;
    }
    if (!exec && !oob) {
        send_error(ss, id, QMP_ERR_GENERIC, "QMP input lacks member 'execute'");
        return;
    }
    if (!json_is_string(exec ? exec : oob)) {
        send_error(ss, id, QMP_ERR_GENERIC, exec ? "QMP input member 'execute' must be a string"
                                                 : "QMP input member 'exec-oob' must be a string");
        return;
    }
    name = json_string_value(exec ? exec : oob);
    /* Out-of-band execution: the capability is offered as QEMU offers it,
       but no kemu command runs out of band (in QEMU only a few do). */
    if (oob) {
        g_autofree char *msg = ss->oob
            ? g_strdup_printf("The command %s does not support OOB", name)
            : g_strdup("Out-of-band execution requires the 'oob' capability");
        send_error(ss, id, QMP_ERR_GENERIC, msg);
        return;
    }
    argn = json_object_get(req, "arguments");
    if (argn && !json_is_object(argn)) {
        send_error(ss, id, QMP_ERR_GENERIC, "QMP input member 'arguments' must be an object");
        return;
    }
    args = argn ? json_incref(argn) : json_object();
    qmp_dispatch(name, args, ss->negotiated, &negotiate, &r);
    json_decref(args);
    if (negotiate) {
        ss->negotiated = true;
        ss->oob = qmp_caps_enable_oob(json_object_get(argn, "enable"));
    }
    if (!r.ret) {
        send_error(ss, id, r.err_class, r.err_desc);
        g_free(r.err_desc);
        return;
    }
    json_t *reply = json_object();
    json_object_set_new(reply, "return", r.ret);
    if (id) {
        json_object_set(reply, "id", id);
    }
    qmp_send(ss, reply);
    json_decref(reply);
}

static void on_value(void *opaque, const char *text, size_t len, const char *err)
{
    QmpSession *ss = opaque;
    json_error_t jerr;
    json_t *req;

    if (err) {
        send_error(ss, NULL, QMP_ERR_GENERIC, err);
        return;
    }
    /* jansson checks UTF-8 too; this keeps QEMU's wording of the error. */
    if (!g_utf8_validate(text, len, NULL)) {
        send_error(ss, NULL, QMP_ERR_GENERIC, "JSON parse error, invalid UTF-8 sequence");
        return;
    }
    /* Any value: a non-object gets "must be a JSON object", as in QEMU. */
    req = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!req) {
        g_autofree char *msg = g_strdup_printf("JSON parse error, %s", jerr.text);
        send_error(ss, NULL, QMP_ERR_GENERIC, msg);
        return;
    }
    handle_request(ss, req);
    json_decref(req);
}

static int qmp_can_receive(void *opaque G_GNUC_UNUSED)
{
    return 4096;
}

static void qmp_receive(void *opaque, const uint8_t *buf, int len)
{
    QmpSession *ss = opaque;

    json_stream_feed(&ss->js, buf, len);
}

static QmpSession *session_new(Monitor *mon, Chardev *c)
{
    QmpSession *ss = g_new0(QmpSession, 1);

    ss->mon = mon;
    ss->chr = c;
    json_stream_init(&ss->js, on_value, ss);
    g_ptr_array_add(mon->sessions, ss);
    return ss;
}

static void session_free(QmpSession *ss)
{
    g_ptr_array_remove(ss->mon->sessions, ss);
    json_stream_destroy(&ss->js);
    g_free(ss);
}

static void qmp_event(void *opaque, int event)
{
    QmpSession *ss = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        /* Each connection negotiates afresh. */
        json_stream_reset(&ss->js);
        ss->negotiated = false;
        ss->connected = true;
        send_greeting(ss);
        break;
    case CHR_EVENT_CLOSED:
        json_stream_reset(&ss->js);
        ss->negotiated = false;
        ss->connected = false;
        if (ss->mon->multi) {
            /* The peer's chardev is freed after this returns: forget both. */
            chardev_detach(ss->chr, ss);
            session_free(ss);
        }
        break;
    }
}

static const ChardevFrontend qmp_frontend = {
    .can_receive = qmp_can_receive,
    .receive = qmp_receive,
    .event = qmp_event,
};

/* Multi-client mode: a peer connected to the monitor's socket. */
static void qmp_new_client(void *opaque, Chardev *client)
{
    Monitor *mon = opaque;
    QmpSession *ss = session_new(mon, client);
    g_autoptr(GError) err = NULL;

    /* Sends OPENED, hence the greeting, at once. */
    if (!chardev_attach(client, &qmp_frontend, ss, &err)) {
        session_free(ss);     /* the socket hangs up on the peer */
    }
}

Monitor *monitor_new_qmp(Machine *m, Chardev *c, GError **errp)
{
    Monitor *mon = g_new0(Monitor, 1);
    bool ok;

    mon->qmp = true;
    mon->m = m;
    mon->chr = c;
    mon->sessions = g_ptr_array_new();
    monitor_register(mon);
    monitor_note_machine(m);
    mon->multi = chardev_is_socket_server(c);
    if (mon->multi) {
        ok = chardev_serve_clients(c, qmp_new_client, mon, errp);
    } else {
        /* attach sends OPENED at once if a client is already there. */
        QmpSession *ss = session_new(mon, c);
        ok = chardev_attach(c, &qmp_frontend, ss, errp);
    }
    if (!ok) {
        qmp_monitor_free(mon);
        return NULL;
    }
    return mon;
}

void qmp_monitor_free(Monitor *mon)
{
    monitor_unregister(mon);
    if (mon->multi) {
        /* Hangs up on every peer; their CLOSED events free the sessions. */
        chardev_detach(mon->chr, mon);
    }
    while (mon->sessions->len) {
        QmpSession *ss = mon->sessions->pdata[0];
        chardev_detach(ss->chr, ss);
        session_free(ss);
    }
    g_ptr_array_free(mon->sessions, TRUE);
    g_free(mon);
}

void qmp_broadcast_event(const char *name, json_t *data)
{
    GPtrArray *mons = monitor_list();
    json_t *ev = json_object();
    gint64 now = g_get_real_time();

    json_object_set_new(ev, "event", json_string(name));
    if (data) {
        json_object_set_new(ev, "data", data);
    }
    json_object_set_new(ev, "timestamp",
                        json_pack("{s:I,s:I}", "seconds", (json_int_t)(now / G_USEC_PER_SEC),
                                  "microseconds", (json_int_t)(now % G_USEC_PER_SEC)));
    for (guint i = 0; i < mons->len; i++) {
        Monitor *mon = mons->pdata[i];
        for (guint j = 0; mon->qmp && j < mon->sessions->len; j++) {
            QmpSession *ss = mon->sessions->pdata[j];
            if (ss->connected && ss->negotiated) {
                qmp_send(ss, ev);
            }
        }
    }
    json_decref(ev);
}
