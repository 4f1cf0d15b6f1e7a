/*
 * Run state and requests. Devices and vCPU threads ask for shutdown,
 * reset or pause from any thread; the main loop carries the requests out
 * (it stops the vCPUs, resets devices, exits the process).
 */
#ifndef SYSTEM_RUNSTATE_H
#define SYSTEM_RUNSTATE_H

#include <stdbool.h>

typedef enum RunState {
    RUN_STATE_PRELAUNCH,
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,
    RUN_STATE_SHUTDOWN,
} RunState;

typedef enum ShutdownCause {
    SHUTDOWN_CAUSE_NONE,
    SHUTDOWN_CAUSE_HOST_ERROR,      /* an error on the host side */
    SHUTDOWN_CAUSE_HOST_QMP_QUIT,   /* quit command */
    SHUTDOWN_CAUSE_HOST_SIGNAL,     /* SIGTERM, SIGINT, SIGHUP */
    SHUTDOWN_CAUSE_HOST_UI,         /* C-a x, window closed */
    SHUTDOWN_CAUSE_GUEST_SHUTDOWN,  /* poweroff, isa-debug-exit */
    SHUTDOWN_CAUSE_GUEST_RESET,     /* reset request with -no-reboot */
    SHUTDOWN_CAUSE_GUEST_PANIC,     /* triple fault, emulation failure */
    SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET, /* system_reset command */
} ShutdownCause;

RunState runstate_get(void);
const char *runstate_name(RunState s);

/*
 * End the process with @status once the main loop sees the request. The
 * first request wins; later ones are ignored. Any thread.
 */
void runstate_request_shutdown(ShutdownCause cause, int status);

/*
 * Reset the machine (a guest reset request, or the monitor). With
 * -no-reboot a guest reset becomes a shutdown with status 0. Any thread.
 */
void runstate_request_reset(ShutdownCause cause);

/* Pause or resume the vCPUs and the virtual clock. Any thread. */
void runstate_request_pause(void);
void runstate_request_resume(void);

/* True once a shutdown was requested; vCPU threads stop running then. */
bool runstate_shutdown_requested(void);
/* The exit status of the requested shutdown (0 if none was requested). */
int runstate_exit_status(void);
/* A reset was requested and the main loop has not carried it out yet. */
bool runstate_reset_pending(void);

/*
 * Main-loop side: the function the main loop calls to carry out pending
 * requests (installed by system/mainloop.c); and the wake-up hook.
 */
typedef void (*RunstateNotify)(void);
void runstate_set_notify(RunstateNotify fn);
void runstate_set(RunState s);
/* -no-reboot: a guest reset request becomes a shutdown with status 0. */
void runstate_set_no_reboot(bool on);
ShutdownCause runstate_shutdown_cause(void);
/* Take the pending requests (each is reported once). */
bool runstate_take_reset(ShutdownCause *cause);
int runstate_take_pause(void);   /* +1 pause, -1 resume, 0 nothing */

#endif
