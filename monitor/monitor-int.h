/*
 * Private interface between the monitor files: the JSON value framer
 * (json-stream.c), the QMP session (qmp.c), the command table
 * (qmp-commands.c), HMP (hmp.c) and the shared state (monitor.c).
 */
#ifndef MONITOR_MONITOR_INT_H
#define MONITOR_MONITOR_INT_H

#include <jansson.h>
#include "monitor/monitor.h"

#define QMP_MAX_MESSAGE (1u << 20)   /* bytes in one JSON value */
#define QMP_MAX_DEPTH   1024         /* nesting of arrays and objects */

/*
 * Splits a byte stream into complete JSON values by tracking strings,
 * braces and brackets (QMP values need not be newline-separated).
 * @emit gets each value's text (NUL-terminated), or NULL with @err set
 * when a value is over the size or depth limit; the rest of such a value
 * is skipped without being stored.
 */
typedef void (*JsonStreamEmit)(void *opaque, const char *text, size_t len,
                               const char *err);
typedef struct JsonStream {
    GString *buf;
    int depth;            /* open [ and { of the current value */
    bool in_string, escape;
    bool scalar;          /* the current value is a bare token, not [ or { */
    bool quoted;          /* ... a bare string: it ends with its closing quote */
    bool discarding;      /* over a limit: skip to the end of this value */
    JsonStreamEmit emit;
    void *opaque;
} JsonStream;

void json_stream_init(JsonStream *js, JsonStreamEmit emit, void *opaque);
void json_stream_feed(JsonStream *js, const uint8_t *buf, size_t len);
/* Forget a partial value (client disconnected). */
void json_stream_reset(JsonStream *js);
void json_stream_destroy(JsonStream *js);

/*
 * Compact JSON in QEMU's spelling ({"a": 1, "b": [2, 3]}); object members
 * in insertion order (jansson keeps it), so "return" comes before "id".
 */
void json_to_gstring(const json_t *v, GString *out);

/*
 * A new JSON string of @s (never NULL): jansson refuses invalid UTF-8,
 * which host strings (file names, labels) may hold, so those bytes become
 * U+FFFD instead.
 */
json_t *qmp_string(const char *s);

/* One QMP conversation: a client's greeting, negotiation and input. */
typedef struct QmpSession {
    Monitor *mon;
    Chardev *chr;         /* this client's replies go here only */
    JsonStream js;
    bool negotiated;      /* qmp_capabilities ran on this connection */
    bool oob;             /* ... and enabled the 'oob' capability */
    bool connected;       /* a client is there (greeted) */
} QmpSession;

struct Monitor {
    bool qmp;             /* QMP, else HMP */
    Machine *m;
    Chardev *chr;
    /*
     * QMP: the live sessions. On a listening socket (multi-client mode)
     * one per connected peer, created and freed as peers come and go;
     * on any other chardev exactly one, for the monitor's lifetime.
     */
    GPtrArray *sessions;
    bool multi;
    /* HMP */
    GString *line;        /* the command line being typed */
    bool focused;         /* on a multiplexer: ours is the focus */
};

/* Free a QMP monitor: hang up on its clients, end its sessions (qmp.c). */
void qmp_monitor_free(Monitor *mon);

/* Shared by both kinds: the list of live monitors (monitor.c). */
void monitor_register(Monitor *mon);
void monitor_unregister(Monitor *mon);
/* Every live monitor, for event delivery. */
GPtrArray *monitor_list(void);

/* QMP error classes. */
#define QMP_ERR_GENERIC "GenericError"
#define QMP_ERR_NOT_FOUND "CommandNotFound"

/* One command's result: either a return value or an error. */
typedef struct QmpResult {
    json_t *ret;          /* owned reference; NULL on error */
    const char *err_class;
    char *err_desc;       /* owned */
} QmpResult;

void qmp_result_error(QmpResult *r, const char *cls, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* The usual empty return {}. */
void qmp_result_empty(QmpResult *r);

/*
 * Run @name with @args (an object, possibly empty) against the machine.
 * Argument names and types are checked against the command's table.
 * @negotiated: qmp_capabilities ran; else only it is allowed.
 * Sets *@negotiate when qmp_capabilities succeeded.
 */
void qmp_dispatch(const char *name, json_t *args, bool negotiated,
                  bool *negotiate, QmpResult *r);
/* Whether qmp_capabilities' checked @enable list (or NULL) names 'oob'. */
bool qmp_caps_enable_oob(const json_t *enable);

/*
 * Run one HMP command line, appending its output ('\n' line ends) to
 * @out. quit requests the shutdown and returns.
 */
void hmp_execute(const char *line, GString *out);

/* Shared state (monitor.c). */
Machine *monitor_machine(void);
/* The machine commands act on (set by the first monitor created). */
void monitor_note_machine(Machine *m);
const char *monitor_name(void);
/* The host thread id of vCPU @index (the process id if it has no thread). */
gint64 monitor_vcpu_thread_id(unsigned index);
/*
 * Send an event to every negotiated QMP session (qmp.c). Takes over the
 * reference to @data (an object, or NULL for none).
 */
void qmp_broadcast_event(const char *name, json_t *data);
/* Visit every chardev the command line created: label and filename. */
void monitor_foreach_chardev(void (*fn)(void *ctx, const char *label,
                                        const char *filename), void *ctx);

#endif
