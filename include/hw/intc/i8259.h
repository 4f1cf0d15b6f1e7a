/*
 * The PC's pair of 8259A programmable interrupt controllers: master at
 * ports 0x20/0x21, slave at 0xa0/0xa1 cascaded on master input 2, and the
 * edge/level control registers (ELCR) at 0x4d0/0x4d1.
 *
 * Inputs are IRQ lines 0..15; the output is the master's INTR pin, which
 * the board connects to the BSP's local APIC (apic_pic_intr_handler in
 * include/hw/intc/apic.h). The CPU side fetches the vector with
 * pic_acknowledge() (the two INTA cycles), which apic.c does for it.
 *
 * Locking: every function here is called with the BQL held.
 */
#ifndef HW_INTC_I8259_H
#define HW_INTC_I8259_H

#include <stdbool.h>
#include <glib.h>
#include "hw/irq.h"
#include "system/machine.h"

#define PIC_NR_IRQS 16

typedef struct Pic Pic;

/*
 * Create the PIC pair on @m, map its ports and register it for reset.
 * @intr receives the master's INTR level whenever it may have changed;
 * the PIC takes ownership of @intr (freed at teardown). Returns NULL with
 * @errp set if a port range is taken.
 */
Pic *pic_new(Machine *m, IrqLine *intr, GError **errp);

/*
 * Input line for IRQ @n (0..15), owned by the PIC. Input 2 is the
 * cascade from the slave: driving it from outside has no effect.
 */
IrqLine *pic_irq_in(Pic *s, unsigned n);

/* The master's INTR output now (an unmasked request outranks service). */
bool pic_intr_level(Pic *s);

/*
 * The interrupt acknowledge cycle: return the vector of the highest
 * priority request and move it in service (or end it with auto-EOI).
 * With no request left, the 8259A answers with IR7 of the chip that was
 * asked (master IRQ 7, or slave IRQ 15 through a cascade): a spurious
 * interrupt with no in-service bit set.
 */
int pic_acknowledge(Pic *s);

/* The PIC of @m, or NULL if the machine has none. */
Pic *pic_find(Machine *m);

#endif
