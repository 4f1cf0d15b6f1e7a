/*
 * The big device lock. Held by whoever touches device state: the main-loop
 * thread while it dispatches sources, and a vCPU thread while it handles an
 * exit. Released around KVM_RUN and interpreter runs and around the main
 * loop's poll.
 */
#ifndef SYSTEM_BQL_H
#define SYSTEM_BQL_H

#include <stdbool.h>

void bql_lock(void);
void bql_unlock(void);
bool bql_locked(void);       /* by the calling thread */

#endif
