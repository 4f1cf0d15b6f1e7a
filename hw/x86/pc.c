/*
 * The pc machine: the board's fixed devices, wired in order. Devices given
 * with -device come after these (system/main.c).
 */
#include "accel/accel.h"
#include "hw/acpi/pm.h"
#include "hw/char/serial.h"
#include "hw/input/i8042.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/intc/ioapic.h"
#include "hw/pci/pci.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818rtc.h"
#include "hw/x86/acpi-build.h"
#include "hw/x86/pc.h"
#include "hw/x86/reset-control.h"
#include "kemu/error.h"

/* With an in-kernel irqchip, a GSI level goes straight to the accelerator. */
static void gsi_to_accel(void *opaque, int n, int level)
{
    Machine *m = opaque;

    m->accel->set_gsi(m, n, level);
}

/*
 * Interrupt controllers and the PIT: KVM's in-kernel ones, or ours in
 * userspace (PIC pair + IOAPIC; local APICs come with each vCPU).
 */
static bool pc_irqchip_init(Machine *m, GError **errp)
{
    if (m->accel->has_irqchip(m)) {
        for (unsigned i = 0; i < MACHINE_NR_GSI; i++) {
            m->gsi[i] = irq_new(gsi_to_accel, m, i);
        }
        return true;
    }
    Pic *pic = pic_new(m, irq_new(apic_pic_intr_handler, m, 0), errp);
    Ioapic *ioapic = pic ? ioapic_new(m, errp) : NULL;
    if (!ioapic) {
        return false;
    }
    /* ISA IRQ n -> PIC n and IOAPIC pin n, except IRQ0 -> pin 2 (MADT override). */
    ioapic_pc_wire_gsis(m, pic, ioapic);
    return pit_create(m, m->gsi[PIT_GSI], errp);
}

bool pc_init(Machine *m, Chardev *const *serials, unsigned nserials, GError **errp)
{
    if (!pc_irqchip_init(m, errp)) {
        return false;
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
    Rtc *rtc = rtc_create(m, m->gsi[RTC_GSI], errp);
    if (!rtc) {
        return false;
    }
    uint64_t below = machine_ram_below_4g(m);
    rtc_set_memory(rtc, below, m->cfg.ram_size - below);
    m->acpi_pm = acpi_pm_create(m, m->gsi[ACPI_SCI_GSI], errp);
    /* The PCI host bridge after the reset register: it shares 0xCF8-0xCFB. */
    return m->acpi_pm && i8042_create(m, errp) && reset_control_create(m, errp) &&
           pci_host_create(m, errp) && acpi_build(m, errp);
}
