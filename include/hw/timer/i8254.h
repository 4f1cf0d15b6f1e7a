/*
 * i8254 programmable interval timer (ports 0x40-0x43) and system control
 * port B (port 0x61), for accelerators without an in-kernel PIT.
 *
 * The three channels count at PIT_FREQ_HZ, derived from the virtual clock
 * (include/hw/clock.h): counts are computed from the time a count was
 * loaded, never by ticking, so an idle channel costs nothing.
 *
 *   channel 0: gate tied high; its output drives @out0 with one pulse per
 *              rising edge of OUT (every period in modes 2 and 3, once at
 *              terminal count in mode 0). A Timer is armed only for the
 *              next edge of a running channel.
 *   channel 1: gate tied high, output unconnected (DRAM refresh).
 *   channel 2: gate = port 0x61 bit 0, OUT readable as port 0x61 bit 5.
 *
 * Port 0x61 reads: bit 0 gate 2, bit 1 speaker data, bits 2-3 as written,
 * bit 4 refresh request (toggles every PIT_REFRESH_NS of virtual time),
 * bit 5 OUT2, bits 6-7 zero (no parity or I/O channel errors).
 *
 * Modes 0-5, binary and BCD counting, LSB/MSB/word access, counter latch
 * and read-back (status byte with OUT and null count) are implemented.
 * After reset no channel counts until the guest loads a count.
 * Simplifications: a count written takes effect at once (also in modes
 * 2/3, where the 8254 waits for the end of the period; in modes 1 and 5
 * the channel waits for the next gate trigger); a count of 1 in
 * modes 2 and 3 (illegal per data sheet) behaves as 2; in mode 3 with an
 * odd count the counter value read inside a half period is approximate
 * (OUT timing is exact).
 */
#ifndef HW_TIMER_I8254_H
#define HW_TIMER_I8254_H

#include <stdbool.h>
#include <glib.h>
#include "hw/irq.h"
#include "system/machine.h"

#define PIT_IOBASE        0x40
#define PIT_IOLEN         4
#define PIT_PORT_B        0x61        /* system control port B */
#define PIT_FREQ_HZ       1193182u
#define PIT_REFRESH_NS    15000       /* port 0x61 bit 4 half period */
#define PIT_GSI           0           /* where the pc board wires @out0 */

/*
 * Create the PIT on @m: ports 0x40-0x43 and 0x61. Channel 0's output
 * pulses @out0 (may be NULL). Returns false with @errp set if a port is
 * taken. Create it only when the accelerator has no in-kernel PIT.
 */
bool pit_create(Machine *m, IrqLine *out0, GError **errp);

#endif
