/*
 * The monitors: QMP (QEMU's JSON machine protocol) and HMP (the human
 * "(kemu) " prompt) on character devices, and the QMP events the main
 * loop reports.
 *
 * Threads: everything here runs on the main loop with the BQL held.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <stdbool.h>
#include <glib.h>
#include "chardev/chardev.h"
#include "system/cmdline.h"
#include "system/machine.h"
#include "system/runstate.h"

typedef struct Monitor Monitor;

/*
 * Create the monitors the command line asks for: -qmp SPEC, -monitor SPEC,
 * -mon chardev=ID[,mode=control|readline], and the HMP on the -nographic
 * console's multiplexer (reached with C-a c). Remembers -name for
 * query-name and writes -pidfile (removed again at process exit). Call
 * once after the machine is built. Returns false with @errp set on a bad
 * spec, an unknown chardev or a pidfile that cannot be written.
 */
bool monitor_init_from_options(Machine *m, const KemuOptions *o, GError **errp);

/*
 * A QMP server on @c (which the monitor attaches to): greets each client
 * that connects and serves commands against @m (may have no vCPUs, as in
 * tests). Returns NULL with @errp set if @c already has a front end.
 */
Monitor *monitor_new_qmp(Machine *m, Chardev *c, GError **errp);

/* An HMP "(kemu) " prompt on @c, same contract as monitor_new_qmp(). */
Monitor *monitor_new_hmp(Machine *m, Chardev *c, GError **errp);

/* Detach from the chardev and free (tests; process exit keeps them). */
void monitor_free(Monitor *mon);

/* The guest name query-name reports (-name); NULL for none. Copied. */
void monitor_set_name(const char *name);

/*
 * Events, sent to every QMP client that finished capabilities
 * negotiation. The main loop calls them when it carries out a request;
 * output is written before they return, so SHUTDOWN reaches the client
 * before the process exits. SHUTDOWN goes out once per run, whoever
 * calls first (quit, ahead of its reply; the main loop at exit).
 */
void monitor_event_shutdown(ShutdownCause cause);
void monitor_event_reset(ShutdownCause cause);
void monitor_event_stop(void);
void monitor_event_resume(void);
void monitor_event_powerdown(void);

#endif
