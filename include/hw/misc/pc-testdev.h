/*
 * pc-testdev: the test device kvm-unit-tests expect (QEMU's "pc-testdev"
 * layout):
 *   port 0xe0, 4 bytes:   a 32-bit scratch register; each byte has its own
 *                         port, accesses of 1, 2 or 4 bytes
 *   port 0x2000, 24 bytes: writing v to port 0x2000 + n sets GSI n to
 *                         level !!v; reads return 0
 *   MMIO 0xff000000, 64 KiB: scratch memory, accesses of 1, 2, 4 or 8 bytes
 * Not provided: QEMU's "flush page" port at 0xe4 (it mprotects guest RAM
 * on the host).
 */
#ifndef HW_MISC_PC_TESTDEV_H
#define HW_MISC_PC_TESTDEV_H

#include <stdbool.h>
#include <glib.h>
#include "hw/device.h"
#include "system/machine.h"

#define PC_TESTDEV_IOPORT      0xe0
#define PC_TESTDEV_IOPORT_LEN  4
#define PC_TESTDEV_IRQ_PORT    0x2000
#define PC_TESTDEV_IRQ_LEN     MACHINE_NR_GSI
#define PC_TESTDEV_IOMEM       0xff000000ull
#define PC_TESTDEV_IOMEM_LEN   0x10000

/* Map the device on @m. Returns false with @errp set if a range is taken. */
bool pc_testdev_create(Machine *m, GError **errp);

/* -device pc-testdev[,id=X] */
extern const DeviceType pc_testdev_type;

#endif
