/* Test-only sys/ and fpu/ stand-ins for the interpreter core (see
   interp-stubs.c). */
#ifndef TESTS_UNIT_INTERP_STUBS_H
#define TESTS_UNIT_INTERP_STUBS_H

#include <stdatomic.h>
#include "accel/accel.h"
#include "target/x86/interp.h"

/* Flat guest memory: linear address == host address inside the block. */
extern uint8_t *stub_mem;
extern uint64_t stub_mem_size;
/* Vector of the last event x86_deliver was asked for (-1: none). */
extern int stub_last_vector;
/* Port accesses seen by x86_in/x86_out. */
extern unsigned stub_io_count;

/* A 64-bit flat CPU at CPL 0 with an empty TLB and its code cache. */
CPU *stub_cpu_new(void);
void stub_cpu_free(CPU *cpu);

#endif
