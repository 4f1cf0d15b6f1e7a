/*
 * ACPI description of the pc machine's PCI host bridge, for the DSDT
 * builder (hw/x86/acpi-build.c): AML for \_SB.PCI0 (PNP0A08 with its
 * resource windows and the _PRT that matches PCI_INTX_GSI) and for a
 * motherboard-resource device that reserves the ECAM window (Linux only
 * uses MMCONFIG when the MCFG range is reserved there).
 */
#ifndef HW_PCI_PCI_ACPI_H
#define HW_PCI_PCI_ACPI_H

#include <glib.h>

/* Append the AML of Scope (\_SB) { Device (PCI0) ... Device (MRES) ... }. */
void pci_acpi_append_dsdt(GByteArray *aml);

#endif
