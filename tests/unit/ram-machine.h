/*
 * A Machine with guest RAM and nothing else, for the loader and firmware
 * table tests (test-linux-boot, test-multiboot, test-acpi-tables).
 * Test-only; assertions fail the test.
 */
#ifndef TESTS_UNIT_RAM_MACHINE_H
#define TESTS_UNIT_RAM_MACHINE_H

#include <stdint.h>
#include "system/machine.h"

/* A Machine with @ram_size bytes of RAM and @ncpus vCPUs counted (none made). */
Machine *ram_machine_new(uint64_t ram_size, unsigned ncpus);

/* Free @m's ROM blobs, devices, RAM and @m itself. */
void ram_machine_free(Machine *m);

/* Forget the loaded ROM blobs, so a long test does not pile them up. */
void ram_machine_clear_roms(Machine *m);

/* How many ROM blobs @m holds. */
unsigned ram_machine_nr_roms(const Machine *m);

/* Host pointer to guest RAM [@gpa, @gpa + @len); asserts the range is RAM. */
uint8_t *guest_ram(Machine *m, uint64_t gpa, uint64_t len);

#endif
