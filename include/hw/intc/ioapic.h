/*
 * 82093AA I/O APIC at MMIO 0xfec00000: IOREGSEL (offset 0x00), IOWIN
 * (0x10) and the EOI register of version 0x20 (0x40); 24 redirection
 * entries. Interrupt messages go to the local APICs via apic_deliver().
 *
 * Input polarity (redirection bit 13) is stored but not applied: every
 * input line carries "asserted" as 1, whatever the wire does on a PC.
 *
 * Locking: every function here is called with the BQL held.
 */
#ifndef HW_INTC_IOAPIC_H
#define HW_INTC_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/intc/i8259.h"
#include "hw/irq.h"
#include "system/machine.h"

#define IOAPIC_BASE     0xfec00000ull
#define IOAPIC_SIZE     0x1000
#define IOAPIC_NR_PINS  24

typedef struct Ioapic Ioapic;

/* I/O APIC ID after reset: what the MP table / ACPI MADT must announce. */
#define IOAPIC_DEFAULT_ID 0

/*
 * Create the I/O APIC on @m, map it at IOAPIC_BASE and register it for
 * reset. Returns NULL with @errp set if the range is taken.
 */
Ioapic *ioapic_new(Machine *m, GError **errp);

/* Input line of pin @gsi (0..23), owned by the I/O APIC. */
IrqLine *ioapic_irq_in(Ioapic *s, unsigned gsi);

/*
 * A local APIC ended a level-triggered interrupt with @vector: clear the
 * remote IRR of every level entry with that vector, and deliver again
 * those whose line is still asserted.
 */
void ioapic_eoi(Ioapic *s, uint8_t vector);

/* The I/O APIC of @m, or NULL if the machine has none. */
Ioapic *ioapic_find(Machine *m);

/*
 * Create m->gsi[0..MACHINE_NR_GSI-1] as the PC wires them: ISA IRQ n
 * (n < 16) to PIC input n and I/O APIC pin n, except IRQ 0, which reaches
 * I/O APIC pin 2 (the ACPI MADT interrupt source override); GSI 2 itself
 * is the PIC cascade and goes nowhere; GSIs 16..23 go to the I/O APIC
 * only. @pic may be NULL (then only the I/O APIC is wired). Any line
 * already in m->gsi[] is freed first.
 */
void ioapic_pc_wire_gsis(Machine *m, Pic *pic, Ioapic *ioapic);

#endif
