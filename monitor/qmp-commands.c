/*
 * The QMP command table: argument checks and the commands themselves.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "accel/accel.h"
#include "hw/acpi/pm.h"
#include "monitor-int.h"
#include "system/runstate.h"

typedef enum ArgType { ARG_STR, ARG_INT, ARG_BOOL, ARG_ARRAY } ArgType;

typedef struct QmpArg {
    const char *name;
    ArgType type;
    bool optional;
} QmpArg;

typedef struct QmpCommand {
    const char *name;
    void (*fn)(JsonObject *args, QmpResult *r);
    QmpArg args[3];          /* name == NULL ends */
} QmpCommand;

void qmp_result_error(QmpResult *r, const char *cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    r->err_class = cls;
    r->err_desc = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

void qmp_result_empty(QmpResult *r)
{
    r->ret = json_node_init_object(json_node_alloc(), json_object_new());
}

static void ret_object(QmpResult *r, JsonObject *o)
{
    r->ret = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
}

static void ret_array(QmpResult *r, JsonArray *a)
{
    r->ret = json_node_init_array(json_node_alloc(), a);
    json_array_unref(a);
}

static void cmd_capabilities(JsonObject *args, QmpResult *r)
{
    JsonNode *en = json_object_get_member(args, "enable");
    JsonArray *a = en ? json_node_get_array(en) : NULL;

    /* kemu offers no capabilities (no out-of-band execution yet). */
    if (a && json_array_get_length(a) > 0) {
        JsonNode *cap = json_array_get_element(a, 0);
        const char *s = JSON_NODE_HOLDS_VALUE(cap) &&
                        json_node_get_value_type(cap) == G_TYPE_STRING ?
                        json_node_get_string(cap) : "?";
        qmp_result_error(r, QMP_ERR_GENERIC, "Capability '%s' not available", s);
        return;
    }
    qmp_result_empty(r);
}

static JsonObject *version_object(void)
{
    JsonObject *v = json_object_new(), *q = json_object_new();

    json_object_set_int_member(q, "micro", 0);
    json_object_set_int_member(q, "minor", 1);
    json_object_set_int_member(q, "major", 0);
    json_object_set_object_member(v, "qemu", q);
    json_object_set_string_member(v, "package", "kemu-0.1.0");
    return v;
}

static void cmd_query_version(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    ret_object(r, version_object());
}

static void cmd_query_commands(JsonObject *args, QmpResult *r);

static void cmd_query_status(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonObject *o = json_object_new();
    RunState s = runstate_get();

    json_object_set_string_member(o, "status", runstate_name(s));
    json_object_set_boolean_member(o, "running", s == RUN_STATE_RUNNING);
    json_object_set_boolean_member(o, "singlestep", false);
    ret_object(r, o);
}

static void cmd_query_name(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonObject *o = json_object_new();

    if (monitor_name()) {
        json_object_set_string_member(o, "name", monitor_name());
    }
    ret_object(r, o);
}

static void cmd_query_kvm(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonObject *o = json_object_new();
    Machine *m = monitor_machine();
    const AccelOps *kvm = accel_find("kvm");

    json_object_set_boolean_member(o, "enabled",
                                   m && m->accel && !strcmp(m->accel->name, "kvm"));
    json_object_set_boolean_member(o, "present", kvm && kvm->available());
    ret_object(r, o);
}

/* The host thread id of vCPU @index: cpus.c names its threads "CPU N/accel". */
static gint64 vcpu_thread_id(unsigned index)
{
    g_autofree char *prefix = g_strdup_printf("CPU %u/", index);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    gint64 tid = getpid();

    while (d && (e = readdir(d))) {
        g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm", e->d_name);
        g_autofree char *comm = NULL;
        if (e->d_name[0] != '.' && g_file_get_contents(path, &comm, NULL, NULL) &&
            g_str_has_prefix(comm, prefix)) {
            tid = g_ascii_strtoll(e->d_name, NULL, 10);
            break;
        }
    }
    if (d) {
        closedir(d);
    }
    return tid;
}

static void cmd_query_cpus_fast(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonArray *a = json_array_new();
    Machine *m = monitor_machine();

    for (unsigned i = 0; m && i < m->ncpus; i++) {
        JsonObject *o = json_object_new(), *props = json_object_new();
        g_autofree char *path = g_strdup_printf("/machine/unattached/device[%u]", i);
        json_object_set_int_member(o, "cpu-index", i);
        json_object_set_string_member(o, "qom-path", path);
        json_object_set_int_member(o, "thread-id", vcpu_thread_id(i));
        json_object_set_int_member(props, "core-id", 0);
        json_object_set_int_member(props, "thread-id", 0);
        json_object_set_int_member(props, "socket-id", i);
        json_object_set_object_member(o, "props", props);
        json_object_set_string_member(o, "target", "x86_64");
        json_array_add_object_element(a, o);
    }
    ret_array(r, a);
}

static void add_chardev_info(void *ctx, const char *label, const char *filename)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "label", label);
    json_object_set_string_member(o, "filename", filename ? filename : "");
    json_object_set_boolean_member(o, "frontend-open", true);
    json_array_add_object_element(ctx, o);
}

static void cmd_query_chardev(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonArray *a = json_array_new();

    monitor_foreach_chardev(add_chardev_info, a);
    ret_array(r, a);
}

static void cmd_stop(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_pause();
    qmp_result_empty(r);
}

static void cmd_cont(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_resume();
    qmp_result_empty(r);
}

static void cmd_system_reset(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_reset(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    qmp_result_empty(r);
}

static void cmd_system_powerdown(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    Machine *m = monitor_machine();

    if (!m || !m->acpi_pm) {
        qmp_result_error(r, QMP_ERR_GENERIC, "this machine has no ACPI power button");
        return;
    }
    acpi_pm_power_button(m->acpi_pm);
    monitor_event_powerdown();
    qmp_result_empty(r);
}

static void cmd_quit(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    /* The reply goes out now; the main loop exits on its next turn. */
    runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_QMP_QUIT, 0);
    qmp_result_empty(r);
}

static void cmd_human_monitor_command(JsonObject *args, QmpResult *r)
{
    g_autoptr(GString) out = g_string_new(NULL);

    hmp_execute(json_object_get_string_member(args, "command-line"), out);
    r->ret = json_node_init_string(json_node_alloc(), out->str);
}

static const QmpCommand commands[] = {
    { "qmp_capabilities", cmd_capabilities, { { "enable", ARG_ARRAY, true } } },
    { "query-version", cmd_query_version, { { 0 } } },
    { "query-commands", cmd_query_commands, { { 0 } } },
    { "query-status", cmd_query_status, { { 0 } } },
    { "query-name", cmd_query_name, { { 0 } } },
    { "query-kvm", cmd_query_kvm, { { 0 } } },
    { "query-cpus-fast", cmd_query_cpus_fast, { { 0 } } },
    { "query-chardev", cmd_query_chardev, { { 0 } } },
    { "stop", cmd_stop, { { 0 } } },
    { "cont", cmd_cont, { { 0 } } },
    { "system_reset", cmd_system_reset, { { 0 } } },
    { "system_powerdown", cmd_system_powerdown, { { 0 } } },
    { "quit", cmd_quit, { { 0 } } },
    { "human-monitor-command", cmd_human_monitor_command,
      { { "command-line", ARG_STR, false }, { "cpu-index", ARG_INT, true } } },
};

static void cmd_query_commands(JsonObject *args G_GNUC_UNUSED, QmpResult *r)
{
    JsonArray *a = json_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", commands[i].name);
        json_array_add_object_element(a, o);
    }
    ret_array(r, a);
}

static bool type_ok(JsonNode *n, ArgType t)
{
    switch (t) {
    case ARG_ARRAY:
        return JSON_NODE_HOLDS_ARRAY(n);
    case ARG_STR:
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
    case ARG_INT:
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64;
    case ARG_BOOL:
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
    }
    return false;
}

static const char *const type_names[] = {
    [ARG_STR] = "string", [ARG_INT] = "integer", [ARG_BOOL] = "boolean",
    [ARG_ARRAY] = "array",
};

/* QEMU's checks and messages: unknown, mistyped, then missing arguments. */
static bool check_args(const QmpCommand *c, JsonObject *args, QmpResult *r)
{
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        const QmpArg *a = NULL;
        for (const QmpArg *p = c->args; p->name; p++) {
            if (!strcmp(p->name, l->data)) {
                a = p;
            }
        }
        if (!a) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Parameter '%s' is unexpected",
                             (const char *)l->data);
            return false;
        }
        if (!type_ok(json_object_get_member(args, a->name), a->type)) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Invalid parameter type for '%s', expected: %s",
                             a->name, type_names[a->type]);
            return false;
        }
    }
    for (const QmpArg *p = c->args; p->name; p++) {
        if (!p->optional && !json_object_has_member(args, p->name)) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Parameter '%s' is missing", p->name);
            return false;
        }
    }
    return true;
}

void qmp_dispatch(const char *name, JsonObject *args, bool negotiated,
                  bool *negotiate, QmpResult *r)
{
    const QmpCommand *c = NULL;
    bool is_caps = !strcmp(name, "qmp_capabilities");

    *negotiate = false;
    if (!negotiated && !is_caps) {
        qmp_result_error(r, QMP_ERR_NOT_FOUND,
                         "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    if (negotiated && is_caps) {
        qmp_result_error(r, QMP_ERR_NOT_FOUND,
                         "Capabilities negotiation is already complete, command ignored");
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!strcmp(commands[i].name, name)) {
            c = &commands[i];
        }
    }
    if (!c) {
        qmp_result_error(r, QMP_ERR_NOT_FOUND, "The command %s has not been found", name);
        return;
    }
    if (!check_args(c, args, r)) {
        return;
    }
    c->fn(args, r);
    *negotiate = is_caps && r->ret;
}
