/*
 * i8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), with an AT keyboard on its first port (GSI 1) and an empty
 * auxiliary port (GSI 12).
 *
 * The keyboard answers commands as an AT keyboard does (reset, identify,
 * LEDs, typematic rate, scan code set, enable/disable, echo) but receives
 * no host key input yet. No mouse is attached: bytes sent to the aux
 * device come back as 0xFE with the status timeout bit, as a controller
 * with an empty aux port reports; the aux loopback command (0xD3) works.
 *
 * Output port bit 0 low and the pulse commands 0xF0..0xFE with bit 0 low
 * request a machine reset. Output port bit 1 (A20) is stored only: guest
 * RAM has no A20 wrap-around.
 */
#ifndef HW_INPUT_I8042_H
#define HW_INPUT_I8042_H

#include <stdbool.h>
#include <glib.h>
#include "system/machine.h"

#define I8042_DATA_PORT    0x60
#define I8042_CMD_PORT     0x64
#define I8042_KBD_GSI      1
#define I8042_AUX_GSI      12

/* Create the controller on @m. Returns false with @errp set if a port is taken. */
bool i8042_create(Machine *m, GError **errp);

#endif
