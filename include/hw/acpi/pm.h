/*
 * ACPI power-management registers: the PIIX4-style fixed-hardware block
 * QEMU's pc machine has at I/O base 0x600.
 *
 *   0x600 PM1a_EVT_BLK: PM1_STS (16 bit, write 1 to clear), PM1_EN at 0x602
 *   0x604 PM1a_CNT_BLK: PM1_CNT (SCI_EN, SLP_TYP, SLP_EN)
 *   0x608 PM_TMR_BLK:   24-bit timer at 3.579545 MHz (read-only)
 *
 * The SCI is level-triggered, active high: it is high while an enabled
 * status bit (timer overflow, power button) is set and SCI_EN is 1.
 * SCI_EN is 1 from reset: the FADT has no SMI command port (SMI_CMD = 0),
 * which tells the OS the machine is always in ACPI mode.
 *
 * Writing SLP_EN with SLP_TYP = ACPI_S5_SLP_TYP requests a guest shutdown
 * with exit status 0; other sleep types are not supported (logged under
 * -d unimp, the write is otherwise ignored). The ACPI table builder must
 * use the same values: \_S5 = Package { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP,
 * 0, 0 }; FADT: SCI_INT = ACPI_SCI_GSI, PM1a_EVT_BLK = ACPI_PM1_EVT_BLK
 * (PM1_EVT_LEN = ACPI_PM1_EVT_LEN), PM1a_CNT_BLK = ACPI_PM1_CNT_BLK
 * (PM1_CNT_LEN = ACPI_PM1_CNT_LEN), PM_TMR_BLK = ACPI_PM_TMR_BLK
 * (PM_TMR_LEN = ACPI_PM_TMR_LEN), flag TMR_VAL_EXT clear (24-bit timer),
 * SMI_CMD = 0. The reset register is port 0xCF9 (hw/x86/reset-control.c).
 *
 * The timer counts from the virtual clock (include/hw/clock.h); TMR_STS
 * is set each time bit 23 of the counter toggles. A Timer for that event
 * runs only while TMR_EN is set.
 */
#ifndef HW_ACPI_PM_H
#define HW_ACPI_PM_H

#include <stdbool.h>
#include <glib.h>
#include "hw/irq.h"
#include "system/machine.h"

#define ACPI_PM_BASE          0x600
#define ACPI_PM1_EVT_BLK      (ACPI_PM_BASE + 0x0)
#define ACPI_PM1_EVT_LEN      4
#define ACPI_PM1_CNT_BLK      (ACPI_PM_BASE + 0x4)
#define ACPI_PM1_CNT_LEN      2
#define ACPI_PM_TMR_BLK       (ACPI_PM_BASE + 0x8)
#define ACPI_PM_TMR_LEN       4
#define ACPI_PM_TMR_HZ        3579545u
#define ACPI_SCI_GSI          9         /* level-triggered, active high */
#define ACPI_S5_SLP_TYP       0         /* \_S5 = Package { 0, 0, 0, 0 } */

/* PM1_STS / PM1_EN bits. */
#define ACPI_PM1_TMR          0x0001
#define ACPI_PM1_GBL          0x0020
#define ACPI_PM1_PWRBTN       0x0100
#define ACPI_PM1_SLPBTN       0x0200
#define ACPI_PM1_RTC          0x0400
#define ACPI_PM1_WAK_STS      0x8000

/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN   0x0001
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP  (7 << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN   0x2000

typedef struct AcpiPm AcpiPm;

/*
 * Create the register block on @m at ACPI_PM_BASE with its SCI on @sci
 * (may be NULL). Returns the device (owned by @m's device list), or NULL
 * with @errp set if the ports are taken.
 */
AcpiPm *acpi_pm_create(Machine *m, IrqLine *sci, GError **errp);

/* Press the power button: set PWRBTN_STS; the SCI rises if PWRBTN_EN. */
void acpi_pm_power_button(AcpiPm *pm);

#endif
