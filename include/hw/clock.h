/*
 * The virtual clock and its timers. The virtual clock counts nanoseconds
 * of guest time: it follows CLOCK_MONOTONIC while the VM runs and stands
 * still while it is paused. One clock drives every timer device so they
 * agree with each other.
 *
 * Timers fire on the main-loop thread with the BQL held, at or after their
 * deadline. timer_mod/timer_del may be called from any thread that holds
 * the BQL; they wake the main loop when the earliest deadline moves.
 */
#ifndef HW_CLOCK_H
#define HW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

int64_t clock_ns(void);            /* virtual time now */
void clock_pause(void);            /* stop virtual time (idempotent) */
void clock_resume(void);           /* continue from where it stopped */

typedef void (*TimerCb)(void *opaque);
typedef struct Timer Timer;

Timer *timer_new(TimerCb cb, void *opaque);
void timer_free(Timer *t);                  /* also deletes it */
void timer_mod(Timer *t, int64_t deadline_ns);   /* (re)arm at virtual time */
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
int64_t timer_deadline(const Timer *t);     /* -1 when not pending */

/*
 * Run the callbacks of every timer whose deadline has passed (BQL held).
 * Returns the nanoseconds until the next deadline, or -1 if none.
 */
int64_t timers_run_expired(void);

/*
 * A GSource that runs expired timers on @ctx. Attach once; the main loop
 * wakes for the next deadline. While the clock is paused no timer fires.
 */
GSource *timers_source_new(GMainContext *ctx);

#endif
