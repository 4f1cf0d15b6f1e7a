/*
 * 82093AA I/O APIC (include/hw/intc/ioapic.h), after the Intel 82093AA
 * datasheet, with the EOI register of the version 0x20 I/O APICs found in
 * later chipsets.
 *
 * Messages are delivered at once on the APIC bus (apic_deliver), so the
 * delivery status bit always reads 0. Edge-triggered pins send a message
 * on each rising edge of an unmasked pin; a masked edge is lost, as the
 * datasheet says. Level-triggered pins send while asserted, unmasked and
 * without remote IRR; the remote IRR holds further messages until the
 * target's EOI comes back through ioapic_eoi().
 */
#include <string.h>
#include "hw/intc/ioapic.h"
#include "hw/intc/apic.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define REG_IOREGSEL  0x00
#define REG_IOWIN     0x10
#define REG_EOI       0x40

#define IND_ID        0x00
#define IND_VERSION   0x01
#define IND_ARB       0x02
#define IND_REDIR     0x10

#define IOAPIC_VERSION 0x20

#define RTE_VECTOR     0xffull
#define RTE_DM_SHIFT   8
#define RTE_DEST_LOG   (1ull << 11)
#define RTE_STATUS     (1ull << 12)
#define RTE_POLARITY   (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL      (1ull << 15)
#define RTE_MASKED     (1ull << 16)
#define RTE_DEST_SHIFT 56
/* Bits the guest may write: everything but delivery status and remote IRR. */
#define RTE_WRITABLE   (0xff00000000000000ull | RTE_MASKED | RTE_LEVEL | \
                        RTE_POLARITY | RTE_DEST_LOG | (7ull << RTE_DM_SHIFT) | RTE_VECTOR)

typedef struct IoapicRegs {
    uint64_t redir[IOAPIC_NR_PINS];
    uint32_t lines;           /* input levels as driven now */
    uint8_t id;               /* ID register bits 27..24 */
    uint8_t ioregsel;
    uint8_t pad[2];           /* keeps the struct free of hidden padding */
} IoapicRegs;

struct Ioapic {
    Device dev;
    IoapicRegs regs;
    Machine *m;
    Pic *pic;                 /* for ioapic_pc_wire_gsis */
    IrqLine *in[IOAPIC_NR_PINS];
};

static const VMStateField ioapic_fields[] = {
    VMSTATE_FIELD(IoapicRegs, redir),
    VMSTATE_FIELD(IoapicRegs, lines),
    VMSTATE_FIELD(IoapicRegs, id),
    VMSTATE_FIELD(IoapicRegs, ioregsel),
    VMSTATE_END,
};

static bool ioapic_post_load(void *state, GError **errp);

static const VMStateDesc ioapic_vmsd = {
    .name = "ioapic",
    .version = 1,
    .fields = ioapic_fields,
    .post_load = ioapic_post_load,
};

static unsigned rte_mode(uint64_t e)
{
    return (e >> RTE_DM_SHIFT) & 7;
}

/* Only fixed and lowest-priority messages are EOIed, so only they are
 * level-triggered; NMI, INIT, SMI and ExtINT act on edges. */
static bool rte_is_level(uint64_t e)
{
    return (e & RTE_LEVEL) && rte_mode(e) <= APIC_DM_LOWEST;
}

static void ioapic_send(Ioapic *s, unsigned pin)
{
    uint64_t e = s->regs.redir[pin];

    if (rte_is_level(e)) {
        s->regs.redir[pin] |= RTE_REMOTE_IRR;
    }
    apic_deliver(s->m, e >> RTE_DEST_SHIFT, e & RTE_DEST_LOG, rte_mode(e),
                 e & RTE_VECTOR, rte_is_level(e));
}

/* Send the level-triggered message of @pin if its conditions hold. */
static void ioapic_service_level(Ioapic *s, unsigned pin)
{
    uint64_t e = s->regs.redir[pin];

    if (rte_is_level(e) && (s->regs.lines & (1u << pin)) &&
        !(e & (RTE_MASKED | RTE_REMOTE_IRR))) {
        ioapic_send(s, pin);
    }
}

static void ioapic_input(void *opaque, int pin, int level)
{
    Ioapic *s = opaque;
    uint32_t bit = 1u << pin;
    bool rising = level && !(s->regs.lines & bit);
    uint64_t e = s->regs.redir[pin];

    s->regs.lines = level ? s->regs.lines | bit : s->regs.lines & ~bit;
    if (rte_is_level(e)) {
        ioapic_service_level(s, pin);
    } else if (rising && !(e & RTE_MASKED)) {
        ioapic_send(s, pin);
    }
}

IrqLine *ioapic_irq_in(Ioapic *s, unsigned gsi)
{
    g_assert(gsi < IOAPIC_NR_PINS);
    return s->in[gsi];
}

void ioapic_eoi(Ioapic *s, uint8_t vector)
{
    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        uint64_t *e = &s->regs.redir[pin];

        if ((*e & RTE_REMOTE_IRR) && (*e & RTE_VECTOR) == vector) {
            *e &= ~RTE_REMOTE_IRR;
            ioapic_service_level(s, pin);
        }
    }
}

static uint32_t ioapic_read_indirect(Ioapic *s)
{
    unsigned idx = s->regs.ioregsel;

    switch (idx) {
    case IND_ID:
    case IND_ARB:
        return (uint32_t)s->regs.id << 24;
    case IND_VERSION:
        return (IOAPIC_NR_PINS - 1) << 16 | IOAPIC_VERSION;
    default:
        if (idx >= IND_REDIR && idx < IND_REDIR + 2 * IOAPIC_NR_PINS) {
            uint64_t e = s->regs.redir[(idx - IND_REDIR) / 2];
            return (idx & 1) ? e >> 32 : (uint32_t)e;
        }
        log_guest_error("ioapic: read of missing register 0x%02x", idx);
        return 0;
    }
}

static void ioapic_write_redir(Ioapic *s, unsigned idx, uint32_t val)
{
    unsigned pin = (idx - IND_REDIR) / 2;
    uint64_t *e = &s->regs.redir[pin];
    uint64_t keep = *e & (RTE_REMOTE_IRR | RTE_STATUS);
    uint64_t new = (idx & 1) ? ((uint64_t)val << 32) | (uint32_t)*e
                             : (*e & 0xffffffff00000000ull) | val;

    *e = (new & RTE_WRITABLE) | keep;
    /* Remote IRR means nothing for an edge entry; do not let it linger. */
    if (!rte_is_level(*e)) {
        *e &= ~RTE_REMOTE_IRR;
    }
    /* Unmasking (or reprogramming) an asserted level pin sends it now. */
    ioapic_service_level(s, pin);
}

static void ioapic_write_indirect(Ioapic *s, uint32_t val)
{
    unsigned idx = s->regs.ioregsel;

    switch (idx) {
    case IND_ID:
        s->regs.id = (val >> 24) & 0x0f;
        break;
    case IND_VERSION:
    case IND_ARB:
        log_guest_error("ioapic: write 0x%x to read-only register 0x%02x", val, idx);
        break;
    default:
        if (idx >= IND_REDIR && idx < IND_REDIR + 2 * IOAPIC_NR_PINS) {
            ioapic_write_redir(s, idx, val);
        } else {
            log_guest_error("ioapic: write 0x%x to missing register 0x%02x", val, idx);
        }
        break;
    }
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    Ioapic *s = opaque;

    (void)size;
    switch (off) {
    case REG_IOREGSEL:
        return s->regs.ioregsel;
    case REG_IOWIN:
        return ioapic_read_indirect(s);
    default:
        return 0;
    }
}

static void ioapic_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Ioapic *s = opaque;

    (void)size;
    switch (off) {
    case REG_IOREGSEL:
        s->regs.ioregsel = val;
        break;
    case REG_IOWIN:
        ioapic_write_indirect(s, val);
        break;
    case REG_EOI:
        ioapic_eoi(s, val);
        break;
    default:
        log_guest_error("ioapic: write 0x%llx to offset 0x%llx ignored",
                        (unsigned long long)val, (unsigned long long)off);
        break;
    }
}

/* Registers are 32 bits wide; the bus widens and splits other accesses. */
static const IoOps ioapic_ops = {
    .read = ioapic_mmio_read,
    .write = ioapic_mmio_write,
    .min_size = 4,
    .max_size = 4,
};

static void ioapic_reset(Device *d)
{
    Ioapic *s = (Ioapic *)d;

    s->regs.id = IOAPIC_DEFAULT_ID;
    s->regs.ioregsel = 0;
    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        s->regs.redir[pin] = RTE_MASKED;
    }
    /* The input levels are wires driven by other devices: they stay. */
}

static bool ioapic_post_load(void *state, GError **errp)
{
    IoapicRegs *r = state;

    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        if (r->redir[pin] & ~(RTE_WRITABLE | RTE_REMOTE_IRR)) {
            error_setg(errp, "ioapic: invalid saved redirection entry %u", pin);
            return false;
        }
    }
    if (r->id > 0x0f) {
        error_setg(errp, "ioapic: invalid saved ID %u", r->id);
        return false;
    }
    return true;
}

static void ioapic_finalize(Device *d)
{
    Ioapic *s = (Ioapic *)d;

    iobus_unmap(s->m->mmio, IOAPIC_BASE);
    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        irq_free(s->in[pin]);
    }
}

static const DeviceClass ioapic_class = {
    .name = "ioapic",
    .reset = ioapic_reset,
    .vmsd = &ioapic_vmsd,
    .vmstate_offset = offsetof(Ioapic, regs),
    .finalize = ioapic_finalize,
};

Ioapic *ioapic_new(Machine *m, GError **errp)
{
    Ioapic *s = g_new0(Ioapic, 1);

    s->m = m;
    if (!iobus_map(m->mmio, IOAPIC_BASE, IOAPIC_SIZE, &ioapic_ops, s, errp)) {
        g_prefix_error(errp, "ioapic: ");
        g_free(s);
        return NULL;
    }
    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        s->in[pin] = irq_new(ioapic_input, s, pin);
    }
    device_add(m, &s->dev, &ioapic_class, NULL);
    ioapic_reset(&s->dev);
    return s;
}

Ioapic *ioapic_find(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &ioapic_class) {
            return (Ioapic *)d;
        }
    }
    return NULL;
}

/* m->gsi[n]: the PC's ISA/PCI wiring to both controllers. */
static void pc_gsi_input(void *opaque, int n, int level)
{
    Ioapic *s = opaque;

    if (n < PIC_NR_IRQS && s->pic) {
        irq_set(pic_irq_in(s->pic, n), level);
    }
    /* IRQ 0 (the PIT) is wired to pin 2; pin 0 carries nothing here. */
    if (n == 0) {
        irq_set(s->in[2], level);
    } else if (n != 2) {
        irq_set(s->in[n], level);
    }
}

void ioapic_pc_wire_gsis(Machine *m, Pic *pic, Ioapic *ioapic)
{
    ioapic->pic = pic;
    for (unsigned n = 0; n < MACHINE_NR_GSI; n++) {
        irq_free(m->gsi[n]);
        m->gsi[n] = irq_new(pc_gsi_input, ioapic, n);
    }
}
