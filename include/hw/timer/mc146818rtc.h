/*
 * MC146818 real-time clock and CMOS RAM at ports 0x70 (index, bit 7 =
 * NMI disable) and 0x71 (data).
 *
 * The clock starts at the host's UTC time when the device is created and
 * then advances with the virtual clock (include/hw/clock.h), so it stands
 * still while the VM is paused. The guest can set it: the device keeps an
 * offset to the virtual clock. Time registers follow register B's format
 * (BCD or binary, 12 or 24 hours); the century (CMOS 0x32) is kept with
 * the time in the same format.
 *
 * Registers A-D: UIP is high for the 244 us before each second's update;
 * periodic interrupt rates from register A's RS bits; alarm with
 * don't-care values (0xC0-0xFF); update-ended interrupt; reading register
 * C returns and clears the flags and lowers the interrupt line, which is
 * otherwise high while an enabled flag is set. Flags are computed from the
 * clock when read; a Timer runs only while an enabled interrupt is
 * waiting to be raised. The divider bits of register A are stored but the
 * time base always runs; SET in register B freezes the time registers for
 * the guest to write them, and clearing it starts the new time.
 *
 * Machine reset keeps the time and the CMOS RAM (they are battery backed)
 * and clears the interrupt enables and flags.
 */
#ifndef HW_TIMER_MC146818RTC_H
#define HW_TIMER_MC146818RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/irq.h"
#include "system/machine.h"

#define RTC_IOBASE          0x70
#define RTC_IOLEN           2
#define RTC_GSI             8        /* where the pc board wires the line */
#define RTC_CMOS_SIZE       128

/* Standard PC CMOS fields. */
#define CMOS_BASE_MEM_LO    0x15     /* KiB of base memory (640) */
#define CMOS_EXT_MEM_LO     0x17     /* KiB above 1 MiB, at most 65535 */
#define CMOS_CENTURY        0x32
#define CMOS_EXT_MEM2_LO    0x30     /* copy of 0x17/0x18 */
#define CMOS_MEM_16M_LO     0x34     /* 64 KiB units above 16 MiB, below 4 GiB */
#define CMOS_MEM_4G         0x5b     /* 64 KiB units above 4 GiB, 3 bytes */
#define CMOS_CSUM_FIRST     0x10     /* checksum covers 0x10-0x2d ... */
#define CMOS_CSUM_LAST      0x2d
#define CMOS_CSUM_HI        0x2e     /* ... stored big-endian at 0x2e/0x2f */

typedef struct Rtc Rtc;

/*
 * Create the RTC on @m with its interrupt output on @irq (may be NULL).
 * Returns the device (owned by @m's device list), or NULL with @errp set
 * if a port is taken.
 */
Rtc *rtc_create(Machine *m, IrqLine *irq, GError **errp);

/*
 * Set CMOS RAM byte @index (0x0e-0x7f) to @val, for the board. Bytes in
 * 0x10-0x2d update the checksum at 0x2e/0x2f. The clock registers
 * (0x00-0x0d) and the century (0x32) belong to the RTC: writes to them
 * and to indexes >= 128 are ignored.
 */
void rtc_set_cmos(Rtc *s, unsigned index, uint8_t val);

/* Read CMOS byte @index as the guest would, without side effects on C. */
uint8_t rtc_get_cmos(Rtc *s, unsigned index);

/*
 * Fill the memory-size fields from the guest RAM layout: @below_4g and
 * @above_4g in bytes (0x15/0x16, 0x17/0x18, 0x30/0x31, 0x34/0x35,
 * 0x5b-0x5d), each saturated at its field's maximum.
 */
void rtc_set_memory(Rtc *s, uint64_t below_4g, uint64_t above_4g);

#endif
