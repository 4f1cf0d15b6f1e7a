/*
 * The pc machine: the board's fixed devices, wired in order. Devices given
 * with -device come after these (system/main.c).
 */
#include "accel/accel.h"
#include "hw/char/serial.h"
#include "hw/input/i8042.h"
#include "hw/x86/pc.h"
#include "hw/x86/reset-control.h"
#include "kemu/error.h"

/* With an in-kernel irqchip, a GSI level goes straight to the accelerator. */
static void gsi_to_accel(void *opaque, int n, int level)
{
    Machine *m = opaque;

    m->accel->set_gsi(m, n, level);
}

bool pc_init(Machine *m, Chardev *const *serials, unsigned nserials, GError **errp)
{
    if (!m->accel->has_irqchip(m)) {
        error_setg(errp, "accelerator '%s' has no interrupt controllers, and the "
                   "userspace ones are not available yet", m->accel->name);
        return false;
    }
    for (unsigned i = 0; i < MACHINE_NR_GSI; i++) {
        m->gsi[i] = irq_new(gsi_to_accel, m, i);
    }
    if (nserials > SERIAL_MAX_LEGACY) {
        error_setg(errp, "-serial: at most %d serial ports are supported", SERIAL_MAX_LEGACY);
        return false;
    }
    for (unsigned i = 0; i < nserials; i++) {
        if (!serial_create(m, i, serial_legacy_iobase(i), serial_legacy_gsi(i), serials[i],
                           errp)) {
            return false;
        }
    }
    return i8042_create(m, errp) && reset_control_create(m, errp);
}
