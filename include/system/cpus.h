/*
 * vCPU threads: one per vCPU, each looping on the accelerator's vcpu_run.
 * Pausing kicks every vCPU and waits until all are parked.
 */
#ifndef SYSTEM_CPUS_H
#define SYSTEM_CPUS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "system/machine.h"

/* Create m->ncpus vCPUs through the accelerator (not started). */
bool cpus_init(Machine *m, GError **errp);
/* Start the threads; they run the guest unless paused. */
bool cpus_start(Machine *m, bool paused, GError **errp);
/* Stop every vCPU and wait until all are parked (BQL held by caller). */
void cpus_pause(Machine *m);
void cpus_resume(Machine *m);
/* Reset every vCPU's state; call between cpus_pause and cpus_resume. */
bool cpus_reset(Machine *m, GError **errp);
/* Make the threads leave and join them (process exit; BQL held). */
void cpus_stop_threads(Machine *m);

/* Monotonic time at process start, for -d startup's wall-clock figure. */
void cpus_note_process_start(int64_t mono_start_ns);

#endif
