/*
 * The QMP command table: argument checks and the commands themselves.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "accel/accel.h"
#include "block/block.h"
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
    void (*fn)(json_t *args, QmpResult *r);
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
    r->ret = json_object();
}

static void cmd_capabilities(json_t *args, QmpResult *r)
{
    json_t *a = json_object_get(args, "enable"), *cap;
    size_t i;

    /* The one capability offered is 'oob' (see the greeting). */
    json_array_foreach(a, i, cap) {
        if (!json_is_string(cap) || strcmp(json_string_value(cap), "oob")) {
            const char *s = json_is_string(cap) ? json_string_value(cap) : "?";
            qmp_result_error(r, QMP_ERR_GENERIC, "Capability '%s' not available", s);
            return;
        }
    }
    qmp_result_empty(r);
}

bool qmp_caps_enable_oob(const json_t *enable)
{
    return json_array_size(enable) > 0;
}

static void cmd_query_version(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    r->ret = json_pack("{s:{s:I,s:I,s:I},s:s}", "qemu", "micro", (json_int_t)0,
                       "minor", (json_int_t)1, "major", (json_int_t)0,
                       "package", "kemu-0.1.0");
}

static void cmd_query_commands(json_t *args, QmpResult *r);

static void cmd_query_status(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    RunState s = runstate_get();

    r->ret = json_pack("{s:s,s:b,s:b}", "status", runstate_name(s),
                       "running", s == RUN_STATE_RUNNING, "singlestep", false);
}

static void cmd_query_name(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    r->ret = json_object();
    if (monitor_name()) {
        json_object_set_new(r->ret, "name", qmp_string(monitor_name()));
    }
}

static void cmd_query_kvm(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    Machine *m = monitor_machine();
    const AccelOps *kvm = accel_find("kvm");

    r->ret = json_pack("{s:b,s:b}",
                       "enabled", m && m->accel && !strcmp(m->accel->name, "kvm"),
                       "present", kvm && kvm->available());
}

static void cmd_query_cpus_fast(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    json_t *a = json_array();
    Machine *m = monitor_machine();

    for (unsigned i = 0; m && i < m->ncpus; i++) {
        g_autofree char *path = g_strdup_printf("/machine/unattached/device[%u]", i);
        json_array_append_new(a, json_pack("{s:I,s:s,s:I,s:{s:I,s:I,s:I},s:s}",
                                           "cpu-index", (json_int_t)i,
                                           "qom-path", path,
                                           "thread-id", (json_int_t)monitor_vcpu_thread_id(i),
                                           "props", "core-id", (json_int_t)0,
                                           "thread-id", (json_int_t)0,
                                           "socket-id", (json_int_t)i,
                                           "target", "x86_64"));
    }
    r->ret = a;
}

static void add_chardev_info(void *ctx, const char *label, const char *filename)
{
    json_t *o = json_object();

    json_object_set_new(o, "label", qmp_string(label));
    json_object_set_new(o, "filename", qmp_string(filename ? filename : ""));
    json_object_set_new(o, "frontend-open", json_true());
    json_array_append_new(ctx, o);
}

static void cmd_query_chardev(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    r->ret = json_array();
    monitor_foreach_chardev(add_chardev_info, r->ret);
}

/* One drive in QEMU's BlockInfo shape (raw images only, no throttling). */
static void add_block_info(BlockBackend *blk, void *ctx)
{
    BlockCacheMode cache = blk_cache_mode(blk);
    json_t *image = json_object(), *inserted = json_object(), *info = json_object();

    json_object_set_new(image, "virtual-size", json_integer(blk_getlength(blk)));
    json_object_set_new(image, "filename", qmp_string(blk_filename(blk)));
    json_object_set_new(image, "format", json_string("raw"));
    json_object_set_new(image, "dirty-flag", json_false());

    json_object_set_new(inserted, "iops_rd", json_integer(0));
    json_object_set_new(inserted, "detect_zeroes", json_string("off"));
    json_object_set_new(inserted, "image", image);
    json_object_set_new(inserted, "iops_wr", json_integer(0));
    json_object_set_new(inserted, "ro", json_boolean(blk_is_read_only(blk)));
    json_object_set_new(inserted, "backing_file_depth", json_integer(0));
    json_object_set_new(inserted, "drv", json_string("raw"));
    json_object_set_new(inserted, "iops", json_integer(0));
    json_object_set_new(inserted, "bps_wr", json_integer(0));
    json_object_set_new(inserted, "write_threshold", json_integer(0));
    json_object_set_new(inserted, "encrypted", json_false());
    json_object_set_new(inserted, "bps", json_integer(0));
    json_object_set_new(inserted, "bps_rd", json_integer(0));
    json_object_set_new(inserted, "cache",
                        json_pack("{s:b,s:b,s:b}",
                                  "no-flush", cache == BLK_CACHE_UNSAFE,
                                  "direct", cache == BLK_CACHE_NONE,
                                  "writeback", cache != BLK_CACHE_WRITETHROUGH));
    json_object_set_new(inserted, "file", qmp_string(blk_filename(blk)));

    json_object_set_new(info, "io-status", json_string("ok"));
    json_object_set_new(info, "device", qmp_string(blk_name(blk)));
    json_object_set_new(info, "locked", json_false());
    json_object_set_new(info, "removable", json_false());
    json_object_set_new(info, "inserted", inserted);
    json_object_set_new(info, "type", json_string("unknown"));
    json_array_append_new(ctx, info);
}

static void cmd_query_block(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    r->ret = json_array();
    blk_foreach(add_block_info, r->ret);
}

static void cmd_stop(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_pause();
    qmp_result_empty(r);
}

static void cmd_cont(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_resume();
    qmp_result_empty(r);
}

static void cmd_system_reset(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    runstate_request_reset(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
    qmp_result_empty(r);
}

static void cmd_system_powerdown(json_t *args G_GNUC_UNUSED, QmpResult *r)
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

static void cmd_quit(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    /* The main loop exits on its next turn; QEMU's clients see SHUTDOWN
       before the reply, so it goes out first here too. */
    runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_QMP_QUIT, 0);
    monitor_event_shutdown(runstate_shutdown_cause());
    qmp_result_empty(r);
}

static void cmd_human_monitor_command(json_t *args, QmpResult *r)
{
    g_autoptr(GString) out = g_string_new(NULL);

    hmp_execute(json_string_value(json_object_get(args, "command-line")), out);
    /* QEMU's monitor ends its lines with CR LF; clients compare text. */
    g_string_replace(out, "\n", "\r\n", 0);
    r->ret = qmp_string(out->str);
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
    { "query-block", cmd_query_block, { { 0 } } },
    { "stop", cmd_stop, { { 0 } } },
    { "cont", cmd_cont, { { 0 } } },
    { "system_reset", cmd_system_reset, { { 0 } } },
    { "system_powerdown", cmd_system_powerdown, { { 0 } } },
    { "quit", cmd_quit, { { 0 } } },
    { "human-monitor-command", cmd_human_monitor_command,
      { { "command-line", ARG_STR, false }, { "cpu-index", ARG_INT, true } } },
};

static void cmd_query_commands(json_t *args G_GNUC_UNUSED, QmpResult *r)
{
    r->ret = json_array();
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        json_array_append_new(r->ret, json_pack("{s:s}", "name", commands[i].name));
    }
}

static bool type_ok(const json_t *v, ArgType t)
{
    switch (t) {
    case ARG_ARRAY:
        return json_is_array(v);
    case ARG_STR:
        return json_is_string(v);
    case ARG_INT:
        return json_is_integer(v);
    case ARG_BOOL:
        return json_is_boolean(v);
    }
    return false;
}

static const char *const type_names[] = {
    [ARG_STR] = "string", [ARG_INT] = "integer", [ARG_BOOL] = "boolean",
    [ARG_ARRAY] = "array",
};

/* QEMU's checks and messages: unknown, mistyped, then missing arguments. */
static bool check_args(const QmpCommand *c, json_t *args, QmpResult *r)
{
    const char *key;
    json_t *v;

    json_object_foreach(args, key, v) {
        const QmpArg *a = NULL;
        for (const QmpArg *p = c->args; p->name; p++) {
            if (!strcmp(p->name, key)) {
                a = p;
            }
        }
        if (!a) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Parameter '%s' is unexpected", key);
            return false;
        }
        if (!type_ok(v, a->type)) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Invalid parameter type for '%s', expected: %s",
                             a->name, type_names[a->type]);
            return false;
        }
    }
    for (const QmpArg *p = c->args; p->name; p++) {
        if (!p->optional && !json_object_get(args, p->name)) {
            qmp_result_error(r, QMP_ERR_GENERIC, "Parameter '%s' is missing", p->name);
            return false;
        }
    }
    return true;
}

void qmp_dispatch(const char *name, json_t *args, bool negotiated,
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
