/*
 * Reset control register at port 0xCF9 (PIIX/ICH style). Bit 1 selects
 * a hard (system) or soft (CPU) reset, bit 3 a full reset; writing bit 2
 * (RST_CPU) set resets the machine. kemu resets the whole machine for
 * every kind. RST_CPU reads back as 0; the other bits read back as
 * written.
 *
 * The register sits inside the PCI configuration ports 0xCF8..0xCFF:
 * whoever maps those must leave the byte at 0xCF9 to this device, as
 * chipsets route only dword accesses at 0xCF8 to CONFIG_ADDRESS.
 */
#ifndef HW_X86_RESET_CONTROL_H
#define HW_X86_RESET_CONTROL_H

#include <stdbool.h>
#include <glib.h>
#include "system/machine.h"

#define RESET_CONTROL_PORT 0xcf9

/* Map the register on @m. Returns false with @errp set if the port is taken. */
bool reset_control_create(Machine *m, GError **errp);

#endif
