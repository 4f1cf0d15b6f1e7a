/*
 * ACPI tables for the pc machine (hw/x86/acpi-build.c), written into the
 * reserved BIOS area where a firmware would leave them.
 */
#ifndef HW_X86_ACPI_BUILD_H
#define HW_X86_ACPI_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/acpi/pm.h"
#include "system/machine.h"

/* The RSDP, on a 16-byte boundary in 0xe0000-0xfffff where OSes search;
 * the other tables follow it, all inside [ACPI_AREA_START, ACPI_AREA_END). */
#define ACPI_RSDP_ADDR 0xf0000ull
#define ACPI_AREA_START 0xf0000ull
#define ACPI_AREA_END 0x100000ull

/* What the tables describe; the devices must sit where they say. */
#define ACPI_IOAPIC_ID 0            /* KVM's in-kernel IOAPIC resets to ID 0 */
#define ACPI_IOAPIC_ADDR 0xfec00000u
#define ACPI_LAPIC_ADDR 0xfee00000u
#define ACPI_RESET_PORT 0xcf9
#define ACPI_RESET_VALUE 0x06

/*
 * Build RSDP (revision 2), RSDT, XSDT, FADT (revision 6), FACS, MADT (one
 * enabled Local APIC per vCPU, APIC IDs 0..m->ncpus-1; the IOAPIC; IRQ0 ->
 * GSI2 and SCI overrides; LINT1 NMI) and a DSDT holding \_S5, and store
 * them at ACPI_RSDP_ADDR through machine_add_rom() so a reset restores
 * them. m->ncpus must be set. Returns false with @errp set if the CPU
 * count is out of range or the area is not guest RAM.
 */
bool acpi_build(Machine *m, GError **errp);

/*
 * ACPI_RSDP_ADDR if guest memory there holds an RSDP with valid checksums
 * (acpi_build has run), else 0. For boot_params.acpi_rsdp_addr.
 */
uint64_t acpi_rsdp_addr(Machine *m);

#endif
