/*
 * Monitor set-up from the command line, shared state and events
 * (include/monitor/monitor.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kemu/error.h"
#include "monitor-int.h"
#include "system/opts.h"

static Machine *machine;
static char *guest_name;
static char *pidfile;
static GPtrArray *chardev_labels;   /* labels for query-chardev / info chardev */

static GPtrArray *monitors;

void monitor_register(Monitor *mon)
{
    if (!monitors) {
        monitors = g_ptr_array_new();
    }
    g_ptr_array_add(monitors, mon);
}

void monitor_unregister(Monitor *mon)
{
    if (monitors) {
        g_ptr_array_remove(monitors, mon);
    }
}

GPtrArray *monitor_list(void)
{
    if (!monitors) {
        monitors = g_ptr_array_new();
    }
    return monitors;
}

void monitor_free(Monitor *mon)
{
    if (mon->qmp) {
        qmp_monitor_free(mon);
        return;
    }
    monitor_unregister(mon);
    chardev_detach(mon->chr, mon);
    g_string_free(mon->line, TRUE);
    g_free(mon);
}

Machine *monitor_machine(void)
{
    return machine;
}

/* cpus.c names its vCPU threads "CPU N/accel". */
gint64 monitor_vcpu_thread_id(unsigned index)
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

void monitor_note_machine(Machine *m)
{
    machine = m;
}

const char *monitor_name(void)
{
    return guest_name;
}

void monitor_set_name(const char *name)
{
    g_free(guest_name);
    guest_name = g_strdup(name);
}

static void note_chardev(const char *label)
{
    if (!chardev_labels) {
        chardev_labels = g_ptr_array_new_with_free_func(g_free);
    }
    for (guint i = 0; i < chardev_labels->len; i++) {
        if (!strcmp(chardev_labels->pdata[i], label)) {
            return;
        }
    }
    g_ptr_array_add(chardev_labels, g_strdup(label));
}

void monitor_foreach_chardev(void (*fn)(void *ctx, const char *label,
                                        const char *filename), void *ctx)
{
    for (guint i = 0; chardev_labels && i < chardev_labels->len; i++) {
        Chardev *c = chardev_find(chardev_labels->pdata[i]);
        if (c) {
            fn(ctx, chardev_label(c), chardev_filename(c));
        }
    }
}

static void remove_pidfile(void)
{
    if (pidfile) {
        unlink(pidfile);
    }
}

static bool write_pidfile(const char *path, GError **errp)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    g_autoptr(GError) err = NULL;

    if (!g_file_set_contents(path, text, -1, &err)) {
        error_setg(errp, "-pidfile %s: %s", path, err->message);
        return false;
    }
    pidfile = g_strdup(path);
    atexit(remove_pidfile);
    return true;
}

/* -mon chardev=ID[,mode=readline|control][,pretty=on|off] */
static bool add_mon(Machine *m, const char *arg, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *opts = opts_parse(arg, "chardev", &err);
    const char *id, *mode;
    Chardev *c;
    bool ok = false;

    if (!opts) {
        error_setg(errp, "-mon %s: %s", arg, err->message);
        return false;
    }
    id = opts_get(opts, "chardev");
    mode = opts_get(opts, "mode");
    opts_get(opts, "pretty");
    if (!id) {
        error_setg(errp, "-mon %s: chardev=ID is required", arg);
    } else if (!(c = chardev_find(id))) {
        error_setg(errp, "-mon %s: chardev '%s' not found", arg, id);
    } else if (mode && strcmp(mode, "control") && strcmp(mode, "readline")) {
        error_setg(errp, "-mon %s: mode must be control or readline", arg);
    } else if (!opts_check_all_used(opts, "-mon", &err)) {
        error_setg(errp, "%s", err->message);
    } else if (!(mode && !strcmp(mode, "control") ? monitor_new_qmp(m, c, &err)
                                                 : monitor_new_hmp(m, c, &err))) {
        error_setg(errp, "-mon %s: %s", arg, err->message);
    } else {
        note_chardev(id);
        ok = true;
    }
    opts_free(opts);
    return ok;
}

/* -qmp SPEC / -monitor SPEC: a new chardev "compat_monitorN". */
static bool add_spec(Machine *m, const char *opt, const char *spec, bool qmp,
                     GError **errp)
{
    static unsigned n;
    g_autofree char *label = g_strdup_printf("compat_monitor%u", n++);
    g_autoptr(GError) err = NULL;
    Chardev *c = chardev_new_from_spec(label, spec, &err);

    if (!c) {
        if (err) {
            error_setg(errp, "-%s %s: %s", opt, spec, err->message);
            return false;
        }
        return true;    /* "none" */
    }
    if (!(qmp ? monitor_new_qmp(m, c, &err) : monitor_new_hmp(m, c, &err))) {
        error_setg(errp, "-%s %s: %s", opt, spec, err->message);
        return false;
    }
    note_chardev(label);
    return true;
}

/* The id= of a -chardev string, or NULL. */
static char *chardev_opts_id(const char *s)
{
    Opts *opts = opts_parse(s, "backend", NULL);
    char *id = opts ? g_strdup(opts_get(opts, "id")) : NULL;

    opts_free(opts);
    return id;
}

bool monitor_init_from_options(Machine *m, const KemuOptions *o, GError **errp)
{
    machine = m;
    monitor_set_name(o->name);
    for (guint i = 0; i < o->chardevs->len; i++) {
        g_autofree char *id = chardev_opts_id(o->chardevs->pdata[i]);
        if (id) {
            note_chardev(id);
        }
    }
    for (guint i = 0; i < o->serials->len; i++) {
        g_autofree char *label = g_strdup_printf("serial%u", i);
        note_chardev(label);
    }
    for (guint i = 0; o->qmps && i < o->qmps->len; i++) {
        if (!add_spec(m, "qmp", o->qmps->pdata[i], true, errp)) {
            return false;
        }
    }
    for (guint i = 0; o->monitors && i < o->monitors->len; i++) {
        if (!add_spec(m, "monitor", o->monitors->pdata[i], false, errp)) {
            return false;
        }
    }
    for (guint i = 0; o->mons && i < o->mons->len; i++) {
        if (!add_mon(m, o->mons->pdata[i], errp)) {
            return false;
        }
    }
    /* -nographic: the HMP shares the console's multiplexer (C-a c). */
    if (o->nographic && (!o->monitors || o->monitors->len == 0)) {
        Chardev *c = chardev_find("serial0");
        g_autoptr(GError) err = NULL;
        if (c && chardev_is_mux(c) && !monitor_new_hmp(m, c, &err)) {
            error_setg(errp, "-nographic monitor: %s", err->message);
            return false;
        }
    }
    if (o->pidfile && !write_pidfile(o->pidfile, errp)) {
        return false;
    }
    return true;
}

static json_t *reason_data(bool guest, const char *reason)
{
    return json_pack("{s:b,s:s}", "guest", guest, "reason", reason);
}

static const char *cause_name(ShutdownCause cause)
{
    switch (cause) {
    case SHUTDOWN_CAUSE_NONE: return "none";
    case SHUTDOWN_CAUSE_HOST_ERROR: return "host-error";
    case SHUTDOWN_CAUSE_HOST_QMP_QUIT: return "host-qmp-quit";
    case SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET: return "host-qmp-system-reset";
    case SHUTDOWN_CAUSE_HOST_SIGNAL: return "host-signal";
    case SHUTDOWN_CAUSE_HOST_UI: return "host-ui";
    case SHUTDOWN_CAUSE_GUEST_SHUTDOWN: return "guest-shutdown";
    case SHUTDOWN_CAUSE_GUEST_RESET: return "guest-reset";
    case SHUTDOWN_CAUSE_GUEST_PANIC: return "guest-panic";
    }
    return "none";
}

static bool cause_is_guest(ShutdownCause cause)
{
    return cause == SHUTDOWN_CAUSE_GUEST_SHUTDOWN || cause == SHUTDOWN_CAUSE_GUEST_RESET ||
           cause == SHUTDOWN_CAUSE_GUEST_PANIC;
}

void monitor_event_shutdown(ShutdownCause cause)
{
    static bool announced;

    /* Once per run: quit announces it before its reply (as QEMU orders
       them), the main loop again when it winds up. */
    if (announced) {
        return;
    }
    announced = true;
    qmp_broadcast_event("SHUTDOWN", reason_data(cause_is_guest(cause), cause_name(cause)));
}

void monitor_event_reset(ShutdownCause cause)
{
    qmp_broadcast_event("RESET", reason_data(cause_is_guest(cause), cause_name(cause)));
}

void monitor_event_stop(void)
{
    qmp_broadcast_event("STOP", NULL);
}

void monitor_event_resume(void)
{
    qmp_broadcast_event("RESUME", NULL);
}

void monitor_event_powerdown(void)
{
    qmp_broadcast_event("POWERDOWN", NULL);
}
