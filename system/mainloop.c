/* The main loop (include/system/mainloop.h). */
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include "hw/clock.h"
#include "hw/device.h"
#include "kemu/log.h"
#include "monitor/monitor.h"
#include "system/bql.h"
#include "system/cpus.h"
#include "system/mainloop.h"
#include "system/runstate.h"

static GPollFunc default_poll;

/* Devices are touched only under the BQL, so drop it while we sleep. */
static gint poll_unlocked(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint r = default_poll(fds, nfds, timeout);
    bql_lock();
    return r;
}

static void wake_main_loop(void)
{
    g_main_context_wakeup(g_main_context_default());
}

static gboolean on_signal(gpointer data)
{
    int sig = GPOINTER_TO_INT(data);

    log_info("terminating on signal %d", sig);
    runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_SIGNAL, 0);
    return G_SOURCE_CONTINUE;
}

void main_loop_init(Machine *m)
{
    GMainContext *ctx = g_main_context_default();

    (void)m;
    default_poll = g_main_context_get_poll_func(ctx);
    g_main_context_set_poll_func(ctx, poll_unlocked);
    timers_source_new(ctx);
    runstate_set_notify(wake_main_loop);
    g_unix_signal_add(SIGTERM, on_signal, GINT_TO_POINTER(SIGTERM));
    g_unix_signal_add(SIGINT, on_signal, GINT_TO_POINTER(SIGINT));
    g_unix_signal_add(SIGHUP, on_signal, GINT_TO_POINTER(SIGHUP));
}

static void machine_reset(Machine *m)
{
    g_autoptr(GError) err = NULL;
    bool was_running = runstate_get() == RUN_STATE_RUNNING;

    cpus_pause(m);
    devices_reset(m);
    machine_roms_reload(m);
    if (!cpus_reset(m, &err)) {
        log_err("reset failed: %s", err->message);
        runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_ERROR, 1);
        return;
    }
    if (was_running) {
        cpus_resume(m);
    }
}

static void handle_requests(Machine *m)
{
    ShutdownCause cause;

    if (runstate_shutdown_requested()) {
        return;
    }
    if (runstate_take_reset(&cause)) {
        machine_reset(m);
        monitor_event_reset(cause);
    }
    switch (runstate_take_pause()) {
    case 1:
        if (runstate_get() == RUN_STATE_RUNNING) {
            cpus_pause(m);
            clock_pause();
            runstate_set(RUN_STATE_PAUSED);
            monitor_event_stop();
        }
        break;
    case -1:
        if (runstate_get() != RUN_STATE_RUNNING) {
            clock_resume();
            runstate_set(RUN_STATE_RUNNING);
            cpus_resume(m);
            monitor_event_resume();
        }
        break;
    }
}

int main_loop_run(Machine *m)
{
    GMainContext *ctx = g_main_context_default();

    while (!runstate_shutdown_requested()) {
        g_main_context_iteration(ctx, TRUE);
        handle_requests(m);
    }
    runstate_set(RUN_STATE_SHUTDOWN);
    /* Written synchronously: the client sees it before the process ends. */
    monitor_event_shutdown(runstate_shutdown_cause());
    return runstate_exit_status();
}
