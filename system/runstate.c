/*
 * Run state and requests (include/system/runstate.h). Requests are
 * atomics written from any thread; the main loop is woken through the
 * notify hook and carries them out.
 */
#include <stdatomic.h>
#include <stddef.h>
#include "system/runstate.h"

static _Atomic RunState state = RUN_STATE_PRELAUNCH;
static atomic_bool shutdown_req;
static atomic_int exit_status;
static _Atomic ShutdownCause shutdown_cause;
static _Atomic ShutdownCause reset_cause;   /* NONE: no reset pending */
static atomic_int pause_req;                /* +1, -1, 0 */
static RunstateNotify notify;
static bool no_reboot;

static void wake(void)
{
    if (notify) {
        notify();
    }
}

void runstate_set_notify(RunstateNotify fn)
{
    notify = fn;
}

void runstate_set_no_reboot(bool on)
{
    no_reboot = on;
}

RunState runstate_get(void)
{
    return state;
}

void runstate_set(RunState s)
{
    state = s;
}

const char *runstate_name(RunState s)
{
    switch (s) {
    case RUN_STATE_PRELAUNCH: return "prelaunch";
    case RUN_STATE_RUNNING: return "running";
    case RUN_STATE_PAUSED: return "paused";
    case RUN_STATE_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

void runstate_request_shutdown(ShutdownCause cause, int status)
{
    bool expected = false;

    /* The first request decides the status; the flag is set last. */
    ShutdownCause none = SHUTDOWN_CAUSE_NONE;
    if (atomic_compare_exchange_strong(&shutdown_cause, &none, cause)) {
        atomic_store(&exit_status, status);
        atomic_compare_exchange_strong(&shutdown_req, &expected, true);
    }
    wake();
}

void runstate_request_reset(ShutdownCause cause)
{
    if (no_reboot && cause == SHUTDOWN_CAUSE_GUEST_RESET) {
        runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_RESET, 0);
        return;
    }
    atomic_store(&reset_cause, cause);
    wake();
}

void runstate_request_pause(void)
{
    atomic_store(&pause_req, 1);
    wake();
}

void runstate_request_resume(void)
{
    atomic_store(&pause_req, -1);
    wake();
}

bool runstate_shutdown_requested(void)
{
    return atomic_load(&shutdown_req);
}

int runstate_exit_status(void)
{
    return atomic_load(&exit_status);
}

ShutdownCause runstate_shutdown_cause(void)
{
    return atomic_load(&shutdown_cause);
}

bool runstate_reset_pending(void)
{
    return atomic_load(&reset_cause) != SHUTDOWN_CAUSE_NONE;
}

bool runstate_take_reset(ShutdownCause *cause)
{
    *cause = atomic_exchange(&reset_cause, SHUTDOWN_CAUSE_NONE);
    return *cause != SHUTDOWN_CAUSE_NONE;
}

int runstate_take_pause(void)
{
    return atomic_exchange(&pause_req, 0);
}
