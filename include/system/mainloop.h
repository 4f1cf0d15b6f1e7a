/*
 * The main loop: glib's default GMainContext on the main thread. It holds
 * the BQL except while it polls, carries out runstate requests (reset,
 * pause, resume) and returns when a shutdown is requested.
 */
#ifndef SYSTEM_MAINLOOP_H
#define SYSTEM_MAINLOOP_H

#include "system/machine.h"

/* Prepare the loop (timers, signal sources); call with the BQL held. */
void main_loop_init(Machine *m);

/* Run until shutdown; returns the exit status. BQL held on entry and exit. */
int main_loop_run(Machine *m);

#endif
