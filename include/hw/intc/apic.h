/*
 * Local APIC (xAPIC, no x2APIC), one per vCPU, for accelerators without an
 * in-kernel irqchip (the interpreter). After Intel SDM Vol. 3 ch. 10/11.
 *
 * Every APIC answers at the same MMIO page (APIC_DEFAULT_BASE); an access
 * reaches the APIC of the vCPU that makes it (current_vcpu()), or the
 * BSP's when no vCPU is current (main loop, tests). Relocating the base
 * through the MSR is recorded but the page stays where it is (logged as
 * unimplemented).
 *
 * The CPU side (the interpreter) uses, at instruction boundaries:
 *   - Vcpu.irq_request & VCPU_IRQ_HARD, then, when it can take a maskable
 *     interrupt (IF = 1, no interrupt shadow), apic_acknowledge_interrupt();
 *   - VCPU_IRQ_NMI, VCPU_IRQ_INIT (then apic_reset()), VCPU_IRQ_SIPI with
 *     Vcpu.sipi_vector: these bits are set by the APIC, cleared by the CPU;
 *   - apic_get_base/apic_set_base for the IA32_APIC_BASE MSR (0x1b) and
 *     apic_get_tpr/apic_set_tpr for CR8.
 *
 * Timer: the bus clock is 1 GHz (one tick per virtual nanosecond before
 * the divider), counted on the virtual clock of hw/clock.h. TSC-deadline
 * mode is not provided (CPUID must not advertise it).
 *
 * Locking: every function here is called with the BQL held.
 */
#ifndef HW_INTC_APIC_H
#define HW_INTC_APIC_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "accel/accel.h"
#include "system/machine.h"

#define APIC_DEFAULT_BASE   0xfee00000ull
#define APIC_SIZE           0x1000
#define APIC_BUS_FREQ_HZ    1000000000ull

/* IA32_APIC_BASE bits. */
#define APIC_BASE_BSP       (1ull << 8)
#define APIC_BASE_ENABLE    (1ull << 11)

/* Delivery modes of interrupt messages (ICR, I/O APIC entries, MSI). */
enum {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_SIPI = 6,
    APIC_DM_EXTINT = 7,
};

/*
 * Create the local APIC of @cpu (sets cpu->apic; its APIC ID is
 * cpu->apic_id, the BSP is cpu->index 0), map the shared MMIO page if no
 * APIC of @m did yet, and register it for machine reset. Call once per
 * vCPU, e.g. from the accelerator's vcpu_init. Returns NULL with @errp set
 * if the page is taken by something else.
 */
Apic *apic_new(Machine *m, Vcpu *cpu, GError **errp);

/*
 * The CPU can take a maskable interrupt now: return the vector to deliver
 * (an ExtINT from the PIC first, else the highest pending vector above the
 * processor priority, which moves from IRR to ISR), or -1 if nothing is
 * deliverable. Clears VCPU_IRQ_HARD in cpu->irq_request when nothing
 * remains deliverable. Requests and acknowledgement are one step under the
 * BQL, so the "spurious interrupt" race of real hardware cannot happen.
 */
int apic_acknowledge_interrupt(Vcpu *cpu);

/* INIT: registers to their INIT values, keeping the APIC ID and base. */
void apic_reset(Apic *a);

/* IA32_APIC_BASE. apic_set_base returns false (the CPU raises #GP) on
 * reserved bits, including x2APIC enable (bit 10). The BSP bit is
 * read-only. Clearing the enable bit puts the APIC in its reset state. */
uint64_t apic_get_base(Apic *a);
bool apic_set_base(Apic *a, uint64_t val);

/* The 8-bit task priority register. MOV to CR8 is apic_set_tpr(a, v << 4),
 * MOV from CR8 is apic_get_tpr(a) >> 4. */
uint8_t apic_get_tpr(Apic *a);
void apic_set_tpr(Apic *a, uint8_t tpr);

/*
 * Send an interrupt message on the APIC bus, as the I/O APIC and MSIs do.
 * @dest is an APIC ID (physical, 0xff: all) or a logical destination
 * (@logical, matched against each LDR under its DFR model). Lowest
 * priority goes to the lowest-numbered matching vCPU. @level_trigger sets
 * the TMR bit, so that the EOI is broadcast to the I/O APIC.
 */
void apic_deliver(Machine *m, uint8_t dest, bool logical, unsigned delivery_mode,
                  uint8_t vector, bool level_trigger);

/* A PCI MSI write of @data to @addr (0xfeeXXXXX). Bad addresses are logged. */
void apic_deliver_msi(Machine *m, uint64_t addr, uint32_t data);

/*
 * IrqHandler for the PIC's INTR output (opaque: the Machine): feeds LINT0
 * of the BSP's APIC, or the BSP directly when its APIC is globally
 * disabled. Use as pic_new(m, irq_new(apic_pic_intr_handler, m, 0), errp).
 */
void apic_pic_intr_handler(void *opaque, int n, int level);

#endif
