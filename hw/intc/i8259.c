/*
 * 8259A PIC pair and ELCR (include/hw/intc/i8259.h), after the Intel
 * 8259A datasheet and the PIIX ELCR description.
 *
 * Priorities are kept as a rotation: @lowest is the input with the lowest
 * priority, so (lowest + 1) & 7 has the highest. Edge-triggered inputs
 * latch a rising edge in IRR until it is acknowledged; level-triggered
 * inputs (ELCR bit set, or LTIM in ICW1) make IRR follow the line. The
 * slave's INT output drives master input 2 like any other line.
 */
#include <string.h>
#include "hw/intc/i8259.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define MASTER 0
#define SLAVE  1
#define CASCADE_IRQ 2

#define ICW1_IC4   0x01
#define ICW1_SNGL  0x02
#define ICW1_LTIM  0x08
#define ICW1_INIT  0x10      /* with A0 = 0: this is ICW1 */
#define OCW3_SEL   0x08      /* with A0 = 0 and bit 4 clear: OCW3, else OCW2 */
#define OCW3_RIS   0x01
#define OCW3_RR    0x02
#define OCW3_POLL  0x04
#define OCW3_SMM   0x20
#define OCW3_ESMM  0x40
#define ICW4_UPM   0x01
#define ICW4_AEOI  0x02
#define ICW4_SFNM  0x10

/* Which ICW the chip expects next on its data port. */
enum { INIT_DONE = 0, INIT_ICW2, INIT_ICW3, INIT_ICW4 };

/* One 8259A. All bytes: the pair is saved as laid out. */
typedef struct PicChip {
    uint8_t irr, isr, imr;
    uint8_t lines;           /* input levels as driven now */
    uint8_t lowest;          /* input with the lowest priority */
    uint8_t vector_base;     /* ICW2, bits 7..3 */
    uint8_t icw1, icw3, icw4;
    uint8_t init_state;
    uint8_t read_isr;        /* OCW3 RR/RIS: command port reads ISR */
    uint8_t poll;            /* OCW3 P: the next read is a poll */
    uint8_t special_mask;
    uint8_t rotate_aeoi;     /* OCW2 "rotate in automatic EOI mode" */
    uint8_t elcr;
} PicChip;

typedef struct PicRegs {
    PicChip chip[2];
} PicRegs;

struct Pic {
    Device dev;
    PicRegs regs;
    Machine *m;
    IrqLine *intr;
    int intr_out;            /* level last driven on @intr; -1 forces a drive */
    IrqLine *in[PIC_NR_IRQS];
};

/* Inputs 0, 1, 2 (master) and 8, 13 (slave) are edge-only on a PC. */
static const uint8_t elcr_mask[2] = { 0xf8, 0xde };

static const VMStateField pic_fields[] = {
    VMSTATE_FIELD(PicRegs, chip),
    VMSTATE_END,
};

static bool pic_post_load(void *state, GError **errp);

static const VMStateDesc pic_vmsd = {
    .name = "i8259",
    .version = 1,
    .fields = pic_fields,
    .post_load = pic_post_load,
};

static uint8_t level_inputs(const PicChip *c)
{
    return (c->icw1 & ICW1_LTIM) ? 0xff : c->elcr;
}

/*
 * Priority rank of the best request in @mask: 0 is the highest priority,
 * 8 means none.
 */
static unsigned best_rank(const PicChip *c, uint8_t mask)
{
    for (unsigned rank = 0; rank < 8; rank++) {
        if (mask & (1u << ((c->lowest + 1 + rank) & 7))) {
            return rank;
        }
    }
    return 8;
}

static unsigned rank_to_irq(const PicChip *c, unsigned rank)
{
    return (c->lowest + 1 + rank) & 7;
}

/* The input this chip would present at INTA now, or -1. */
static int chip_pending(const PicChip *c, bool master)
{
    uint8_t in_service = c->isr;
    unsigned req;

    req = best_rank(c, c->irr & ~c->imr);
    if (req == 8) {
        return -1;
    }
    /* Special mask mode: a masked in-service level blocks nothing. */
    if (c->special_mask) {
        in_service &= ~c->imr;
    }
    /*
     * Special fully nested mode: a slave in service does not block further
     * (higher priority) requests from the same slave.
     */
    if (master && (c->icw4 & ICW4_SFNM)) {
        in_service &= ~(1u << CASCADE_IRQ);
    }
    return req < best_rank(c, in_service) ? (int)rank_to_irq(c, req) : -1;
}

/* A line level arrives at input @irq of @c (IRR latching only). */
static void chip_set_input(PicChip *c, unsigned irq, int level)
{
    uint8_t bit = 1u << irq;

    if (level_inputs(c) & bit) {
        c->irr = level ? c->irr | bit : c->irr & ~bit;
    } else if (level && !(c->lines & bit)) {
        c->irr |= bit;       /* rising edge */
    }
    c->lines = level ? c->lines | bit : c->lines & ~bit;
}

/* Propagate the slave's INT to master input 2, then drive INTR. */
static void pic_update(Pic *s)
{
    PicChip *master = &s->regs.chip[MASTER];

    int level;

    chip_set_input(master, CASCADE_IRQ, chip_pending(&s->regs.chip[SLAVE], false) >= 0);
    level = chip_pending(master, true) >= 0;
    /* Only changes: every call would kick the BSP while INTR stays high. */
    if (level != s->intr_out) {
        s->intr_out = level;
        irq_set(s->intr, level);
    }
}

bool pic_intr_level(Pic *s)
{
    return chip_pending(&s->regs.chip[MASTER], true) >= 0;
}

static void pic_input(void *opaque, int n, int level)
{
    Pic *s = opaque;

    if (n == CASCADE_IRQ) {
        return;   /* master input 2 belongs to the slave */
    }
    chip_set_input(&s->regs.chip[n >> 3], n & 7, level);
    pic_update(s);
}

IrqLine *pic_irq_in(Pic *s, unsigned n)
{
    g_assert(n < PIC_NR_IRQS);
    return s->in[n];
}

/* INTA on one chip for input @irq: into service, or ended by auto-EOI. */
static void chip_ack(PicChip *c, unsigned irq)
{
    uint8_t bit = 1u << irq;

    if (c->icw4 & ICW4_AEOI) {
        if (c->rotate_aeoi) {
            c->lowest = irq;
        }
    } else {
        c->isr |= bit;
    }
    /* A level input keeps requesting while its line is high. */
    if (!(level_inputs(c) & bit)) {
        c->irr &= ~bit;
    }
}

int pic_acknowledge(Pic *s)
{
    PicChip *master = &s->regs.chip[MASTER];
    PicChip *slave = &s->regs.chip[SLAVE];
    int irq = chip_pending(master, true);
    int vector;

    if (irq < 0) {
        vector = master->vector_base + 7;           /* spurious IRQ 7 */
    } else if (irq == CASCADE_IRQ) {
        int sirq = chip_pending(slave, false);

        chip_ack(master, CASCADE_IRQ);
        if (sirq < 0) {
            vector = slave->vector_base + 7;        /* spurious IRQ 15 */
        } else {
            chip_ack(slave, sirq);
            vector = slave->vector_base + sirq;
        }
    } else {
        chip_ack(master, irq);
        vector = master->vector_base + irq;
    }
    pic_update(s);
    return vector;
}

/* Poll command read: INTA without a vector; 0x80 | level, or 0. */
static uint8_t chip_poll(Pic *s, unsigned idx)
{
    PicChip *c = &s->regs.chip[idx];
    int irq = chip_pending(c, idx == MASTER);

    c->poll = 0;
    if (irq < 0) {
        return 0;
    }
    chip_ack(c, irq);
    if (idx == SLAVE) {
        /* The master saw the slave's request on input 2; it is consumed. */
        s->regs.chip[MASTER].irr &= ~(1u << CASCADE_IRQ);
    }
    pic_update(s);
    return 0x80 | irq;
}

/* ICW1: start the initialisation sequence (datasheet "Initialization"). */
static void chip_icw1(PicChip *c, uint8_t val)
{
    if (val & ICW1_SNGL) {
        log_unimp("i8259: single mode (ICW1 0x%02x) on a cascaded pair", val);
    }
    c->icw1 = val;
    c->imr = 0;
    c->isr = 0;
    c->lowest = 7;
    c->special_mask = 0;
    c->read_isr = 0;
    c->poll = 0;
    c->rotate_aeoi = 0;
    if (!(val & ICW1_IC4)) {
        c->icw4 = 0;
    }
    /* The edge sense circuit restarts: only new edges (or levels) count. */
    c->irr = c->lines & level_inputs(c);
    c->init_state = INIT_ICW2;
}

static uint8_t highest_in_service(const PicChip *c)
{
    return rank_to_irq(c, best_rank(c, c->isr));
}

static void chip_ocw2(PicChip *c, uint8_t val)
{
    unsigned level = val & 7;

    switch (val >> 5) {
    case 1:                                  /* non-specific EOI */
        if (c->isr) {
            c->isr &= ~(1u << highest_in_service(c));
        }
        break;
    case 3:                                  /* specific EOI */
        c->isr &= ~(1u << level);
        break;
    case 5:                                  /* rotate on non-specific EOI */
        if (c->isr) {
            unsigned irq = highest_in_service(c);
            c->isr &= ~(1u << irq);
            c->lowest = irq;
        }
        break;
    case 4:
        c->rotate_aeoi = 1;
        break;
    case 0:
        c->rotate_aeoi = 0;
        break;
    case 7:                                  /* rotate on specific EOI */
        c->isr &= ~(1u << level);
        c->lowest = level;
        break;
    case 6:                                  /* set priority */
        c->lowest = level;
        break;
    default:                                 /* 2: no operation */
        break;
    }
}

static void chip_ocw3(PicChip *c, uint8_t val)
{
    if (val & OCW3_ESMM) {
        c->special_mask = !!(val & OCW3_SMM);
    }
    if (val & OCW3_RR) {
        c->read_isr = val & OCW3_RIS;
    }
    if (val & OCW3_POLL) {
        c->poll = 1;
    }
}

static void chip_data_write(PicChip *c, uint8_t val)
{
    switch (c->init_state) {
    case INIT_ICW2:
        c->vector_base = val & 0xf8;
        c->init_state = (c->icw1 & ICW1_SNGL) ? INIT_ICW4 : INIT_ICW3;
        if (c->init_state == INIT_ICW4 && !(c->icw1 & ICW1_IC4)) {
            c->init_state = INIT_DONE;
        }
        break;
    case INIT_ICW3:
        c->icw3 = val;
        c->init_state = (c->icw1 & ICW1_IC4) ? INIT_ICW4 : INIT_DONE;
        break;
    case INIT_ICW4:
        c->icw4 = val & (ICW4_UPM | ICW4_AEOI | 0x0c | ICW4_SFNM);
        if (!(val & ICW4_UPM)) {
            log_unimp("i8259: MCS-80/85 mode (ICW4 0x%02x); using 8086 vectors", val);
        }
        c->init_state = INIT_DONE;
        break;
    default:
        c->imr = val;                        /* OCW1 */
        break;
    }
}

static uint8_t pic_read(Pic *s, unsigned idx, uint64_t off)
{
    PicChip *c = &s->regs.chip[idx];

    if (c->poll) {
        return chip_poll(s, idx);
    }
    if (off & 1) {
        return c->imr;
    }
    return c->read_isr ? c->isr : c->irr;
}

static void pic_write(Pic *s, unsigned idx, uint64_t off, uint8_t val)
{
    PicChip *c = &s->regs.chip[idx];

    if (off & 1) {
        chip_data_write(c, val);
    } else if (val & ICW1_INIT) {
        chip_icw1(c, val);
    } else if (val & OCW3_SEL) {
        chip_ocw3(c, val);
    } else {
        chip_ocw2(c, val);
    }
    pic_update(s);
}

static uint64_t master_read(void *opaque, uint64_t off, unsigned size)
{
    (void)size;
    return pic_read(opaque, MASTER, off);
}

static void master_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)size;
    pic_write(opaque, MASTER, off, val);
}

static uint64_t slave_read(void *opaque, uint64_t off, unsigned size)
{
    (void)size;
    return pic_read(opaque, SLAVE, off);
}

static void slave_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)size;
    pic_write(opaque, SLAVE, off, val);
}

static const IoOps master_ops = {
    .read = master_read,
    .write = master_write,
    .min_size = 1,
    .max_size = 1,
};

static const IoOps slave_ops = {
    .read = slave_read,
    .write = slave_write,
    .min_size = 1,
    .max_size = 1,
};

static uint64_t elcr_read(void *opaque, uint64_t off, unsigned size)
{
    Pic *s = opaque;

    (void)size;
    return s->regs.chip[off & 1].elcr;
}

static void elcr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Pic *s = opaque;
    PicChip *c = &s->regs.chip[off & 1];

    (void)size;
    c->elcr = val & elcr_mask[off & 1];
    /* Inputs that became level-triggered request while their line is high. */
    c->irr = (c->irr & ~level_inputs(c)) | (c->lines & level_inputs(c));
    pic_update(s);
}

static const IoOps elcr_ops = {
    .read = elcr_read,
    .write = elcr_write,
    .min_size = 1,
    .max_size = 1,
};

/*
 * Power-on state. The input levels are wires driven by other devices, so
 * they survive a reset.
 */
static void pic_reset(Device *d)
{
    Pic *s = (Pic *)d;

    for (unsigned i = 0; i < 2; i++) {
        PicChip *c = &s->regs.chip[i];
        uint8_t lines = c->lines;

        memset(c, 0, sizeof(*c));
        c->lines = lines;
        c->lowest = 7;
    }
    s->intr_out = -1;
    pic_update(s);
}

static bool pic_post_load(void *state, GError **errp)
{
    PicRegs *r = state;
    Pic *s = (Pic *)((char *)state - offsetof(Pic, regs));

    for (unsigned i = 0; i < 2; i++) {
        const PicChip *c = &r->chip[i];

        if (c->lowest > 7 || c->init_state > INIT_ICW4 || (c->elcr & ~elcr_mask[i]) ||
            (c->vector_base & 7)) {
            error_setg(errp, "i8259: invalid saved state for the %s",
                       i ? "slave" : "master");
            return false;
        }
    }
    s->intr_out = -1;
    pic_update(s);
    return true;
}

static void pic_finalize(Device *d)
{
    Pic *s = (Pic *)d;

    iobus_unmap(s->m->pio, 0x20);
    iobus_unmap(s->m->pio, 0xa0);
    iobus_unmap(s->m->pio, 0x4d0);
    for (unsigned n = 0; n < PIC_NR_IRQS; n++) {
        irq_free(s->in[n]);
    }
    irq_free(s->intr);
}

static const DeviceClass pic_class = {
    .name = "i8259",
    .reset = pic_reset,
    .vmsd = &pic_vmsd,
    .vmstate_offset = offsetof(Pic, regs),
    .finalize = pic_finalize,
};

Pic *pic_new(Machine *m, IrqLine *intr, GError **errp)
{
    Pic *s = g_new0(Pic, 1);

    s->m = m;
    if (!iobus_map(m->pio, 0x20, 2, &master_ops, s, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, 0xa0, 2, &slave_ops, s, errp)) {
        goto fail_master;
    }
    if (!iobus_map(m->pio, 0x4d0, 2, &elcr_ops, s, errp)) {
        goto fail_slave;
    }
    s->intr = intr;
    for (unsigned n = 0; n < PIC_NR_IRQS; n++) {
        s->in[n] = irq_new(pic_input, s, n);
    }
    device_add(m, &s->dev, &pic_class, NULL);
    pic_reset(&s->dev);
    return s;

fail_slave:
    iobus_unmap(m->pio, 0xa0);
fail_master:
    iobus_unmap(m->pio, 0x20);
fail:
    g_prefix_error(errp, "i8259: ");
    g_free(s);
    return NULL;
}

Pic *pic_find(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &pic_class) {
            return (Pic *)d;
        }
    }
    return NULL;
}
