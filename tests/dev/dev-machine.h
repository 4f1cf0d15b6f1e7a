/*
 * What the device tests share: a hand-built Machine (the two I/O buses,
 * GSI lines that record what they see, optionally vCPUs with local APICs
 * under an accelerator that only counts kicks), a main-loop wait with a
 * deadline, stepping the virtual clock, and the save -> reset -> load ->
 * compare check every device gets. Test-only; assertions fail the test.
 */
#ifndef TESTS_DEV_MACHINE_H
#define TESTS_DEV_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/device.h"
#include "hw/irq.h"
#include "system/machine.h"

/* What a recording line has seen. */
typedef struct DevLine {
    int level;          /* the last level set; -1 before any */
    unsigned calls;     /* irq_set() calls */
    unsigned raises;    /* calls that set it high */
} DevLine;

/* The GSI lines of the machine dev_machine_new() made last. */
extern DevLine dev_gsi[MACHINE_NR_GSI];
/* Kicks dev_machine_add_cpus()' accelerator received, by vCPU index. */
extern unsigned dev_kicks[MACHINE_MAX_CPUS];

/* A line that records into @log (cleared here). Free it with irq_free(). */
IrqLine *dev_line_new(DevLine *log);

/*
 * A Machine with empty "pio" and "mmio" buses, no RAM, and m->gsi[n] a
 * line recording into dev_gsi[n]. Free it with dev_machine_free().
 */
Machine *dev_machine_new(void);

/*
 * Give @m @n vCPUs (index and APIC id 0..n-1), each with a local APIC,
 * and an accelerator whose only operation counts kicks into dev_kicks[]
 * (cleared here). No vCPU is current afterwards.
 */
void dev_machine_add_cpus(Machine *m, unsigned n);

/*
 * Free @m's devices (asserting they detached every APIC), vCPUs, buses,
 * whatever lines m->gsi[] holds, and @m; resume the virtual clock in case
 * the test paused it.
 */
void dev_machine_free(Machine *m);

/*
 * Run @ctx (NULL: the default context) until @cond(@opaque) holds,
 * checking it at least every millisecond; fail the test after 10 seconds.
 */
void dev_wait_until(GMainContext *ctx, bool (*cond)(void *opaque), void *opaque);

/*
 * Resume the virtual clock, run @ctx until @line is high (10 seconds at
 * most, as dev_wait_until), and pause the clock again.
 */
void dev_run_until_high(GMainContext *ctx, const DevLine *line);

/*
 * Let the virtual clock run until it reads at least @target (failing after
 * 5 seconds), then pause it. Returns the paused time.
 */
int64_t dev_clock_advance_to(int64_t target);

/* A device's state saved by dev_vmstate_save_reset(). */
typedef struct DevSnapshot {
    Device *dev;
    GByteArray *rec;    /* the vmstate record */
    uint8_t *saved;     /* the state struct's bytes when saved */
    size_t len;         /* bytes of the state struct the fields cover */
} DevSnapshot;

/*
 * Save @d's state into @s (the record and a raw copy), then reset @d.
 * Returns whether the reset changed the state (callers that dirtied it
 * first assert that it did).
 */
bool dev_vmstate_save_reset(Device *d, DevSnapshot *s);

/*
 * Load @s's record into its device and assert the state struct is back
 * byte for byte; frees what @s holds.
 */
void dev_vmstate_load_check(DevSnapshot *s);

/* dev_vmstate_save_reset() then dev_vmstate_load_check(), same result. */
bool dev_vmstate_round_trip(Device *d);

/* @d's state as a vmstate record; free with g_byte_array_unref(). */
GByteArray *dev_vmstate_record(Device *d);

/* Assert that loading @rec into @d fails with an error. */
void dev_vmstate_assert_refused(Device *d, const GByteArray *rec);

#endif
