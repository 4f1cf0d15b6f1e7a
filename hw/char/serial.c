/*
 * 16550A UART (include/hw/char/serial.h), after the National PC16550D
 * datasheet.
 *
 * Timing is not modelled: a transmitted byte leaves at once, and the
 * character time is zero. The receive-timeout condition ("data in the
 * FIFO below the trigger level, nothing read or received for four
 * character times") therefore holds as soon as a burst of input has been
 * delivered, so it is derived from the FIFO fill instead of a timer.
 */
#include <inttypes.h>
#include <string.h>
#include "hw/char/serial.h"
#include "hw/iobus.h"
#include "hw/irq.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define RX_FIFO_SIZE 16

/* Register offsets (DLAB selects DLL/DLM at 0 and 1). */
enum {
    REG_RBR_THR_DLL = 0,
    REG_IER_DLM = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_RDI   0x01   /* received data available */
#define IER_THRI  0x02   /* THR empty */
#define IER_RLSI  0x04   /* receiver line status */
#define IER_MSI   0x08   /* modem status */

#define IIR_NO_INT   0x01
#define IIR_MSI      0x00
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_RLSI     0x06
#define IIR_TIMEOUT  0x0c
#define IIR_FIFO_ON  0xc0

#define FCR_ENABLE     0x01
#define FCR_CLEAR_RX   0x02
#define FCR_CLEAR_TX   0x04
#define FCR_STORED     0xc9  /* enable, DMA mode, trigger level */

#define LCR_DLAB  0x80

#define MCR_DTR   0x01
#define MCR_RTS   0x02
#define MCR_OUT1  0x04
#define MCR_OUT2  0x08
#define MCR_LOOP  0x10
#define MCR_MASK  0x1f

#define LSR_DR    0x01
#define LSR_OE    0x02
#define LSR_PE    0x04
#define LSR_FE    0x08
#define LSR_BI    0x10
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define LSR_FIFOE 0x80   /* an error character is in the FIFO */
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS   0x10
#define MSR_DSR   0x20
#define MSR_RI    0x40
#define MSR_DCD   0x80

/* The modem inputs outside loopback: a peer that is always there. */
#define MSR_LINES_CONNECTED (MSR_DCD | MSR_DSR | MSR_CTS)

/* Guest-visible registers. Laid out without padding (memcmp in tests). */
typedef struct SerialRegs {
    uint16_t divisor;
    uint8_t ier;
    uint8_t fcr;            /* FCR_STORED bits of the last FCR write */
    uint8_t lcr;
    uint8_t mcr;
    uint8_t lsr;
    uint8_t msr;
    uint8_t scr;
    uint8_t thr_ipending;   /* THRE interrupt latched, cleared by IIR read */
    uint8_t rx_head;        /* index of the oldest byte in rx_fifo */
    uint8_t rx_count;
    uint8_t rx_fifo[RX_FIFO_SIZE];
} SerialRegs;

typedef struct Serial {
    Device dev;
    SerialRegs regs;
    unsigned index;
    uint16_t iobase;
    IrqLine *irq;
    Chardev *chr;
    int irq_level;          /* last level driven on @irq */
    bool input_blocked;     /* can_receive said 0: wake the chardev later */
} Serial;

static const VMStateField serial_fields[] = {
    VMSTATE_FIELD(SerialRegs, divisor),
    VMSTATE_FIELD(SerialRegs, ier),
    VMSTATE_FIELD(SerialRegs, fcr),
    VMSTATE_FIELD(SerialRegs, lcr),
    VMSTATE_FIELD(SerialRegs, mcr),
    VMSTATE_FIELD(SerialRegs, lsr),
    VMSTATE_FIELD(SerialRegs, msr),
    VMSTATE_FIELD(SerialRegs, scr),
    VMSTATE_FIELD(SerialRegs, thr_ipending),
    VMSTATE_FIELD(SerialRegs, rx_head),
    VMSTATE_FIELD(SerialRegs, rx_count),
    VMSTATE_FIELD(SerialRegs, rx_fifo),
    VMSTATE_END,
};

static bool serial_post_load(void *state, GError **errp);

static const VMStateDesc serial_vmsd = {
    .name = "serial",
    .version = 1,
    .fields = serial_fields,
    .post_load = serial_post_load,
};

static bool fifo_enabled(const SerialRegs *r)
{
    return r->fcr & FCR_ENABLE;
}

/* Receive buffer size: the FIFO, or the single RBR of 16450 mode. */
static unsigned rx_capacity(const SerialRegs *r)
{
    return fifo_enabled(r) ? RX_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const SerialRegs *r)
{
    static const uint8_t levels[4] = { 1, 4, 8, 14 };

    return levels[r->fcr >> 6];
}

/* The highest-priority pending interrupt, as IIR bits 3..0. */
static uint8_t serial_pending(const SerialRegs *r)
{
    if ((r->ier & IER_RLSI) && (r->lsr & LSR_ERRORS)) {
        return IIR_RLSI;
    }
    if ((r->ier & IER_RDI) && (r->lsr & LSR_DR)) {
        if (fifo_enabled(r) && r->rx_count < rx_trigger(r)) {
            return IIR_TIMEOUT;    /* zero character time: see the top */
        }
        return IIR_RDI;
    }
    if ((r->ier & IER_THRI) && r->thr_ipending) {
        return IIR_THRI;
    }
    if ((r->ier & IER_MSI) && (r->msr & MSR_DELTAS)) {
        return IIR_MSI;
    }
    return IIR_NO_INT;
}

static uint8_t serial_iir(const SerialRegs *r)
{
    return serial_pending(r) | (fifo_enabled(r) ? IIR_FIFO_ON : 0);
}

/*
 * Drive the interrupt line. On a PC the UART's INTR pin goes through a
 * buffer enabled by OUT2, and loopback forces OUT2 inactive, so the GSI
 * only sees the interrupt with MCR.OUT2 set outside loopback (Linux sets
 * OUT2 when it opens the port and relies on this gate).
 */
static void serial_update_irq(Serial *s, bool force)
{
    const SerialRegs *r = &s->regs;
    int level = serial_pending(r) != IIR_NO_INT &&
                (r->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;

    if (force || level != s->irq_level) {
        s->irq_level = level;
        irq_set(s->irq, level);
    }
}

static void rx_clear(Serial *s)
{
    s->regs.rx_head = 0;
    s->regs.rx_count = 0;
    s->regs.lsr &= ~(LSR_DR | LSR_FIFOE);
}

/* A character arrives at the receiver (from the line or the loopback). */
static void rx_push(Serial *s, uint8_t byte)
{
    SerialRegs *r = &s->regs;

    if (r->rx_count >= rx_capacity(r)) {
        if (fifo_enabled(r)) {
            /* The FIFO keeps its contents; the new character is lost. */
            r->lsr |= LSR_OE;
            return;
        }
        /* 16450 mode: the new character overwrites RBR. */
        r->lsr |= LSR_OE;
        r->rx_fifo[r->rx_head] = byte;
        return;
    }
    r->rx_fifo[(r->rx_head + r->rx_count) % RX_FIFO_SIZE] = byte;
    r->rx_count++;
    r->lsr |= LSR_DR;
}

static void serial_wake_input(Serial *s)
{
    if (s->input_blocked && s->chr &&
        s->regs.rx_count < rx_capacity(&s->regs)) {
        s->input_blocked = false;
        chardev_accept_input(s->chr);
    }
}

static uint8_t rx_pop(Serial *s)
{
    SerialRegs *r = &s->regs;
    uint8_t byte;

    if (r->rx_count == 0) {
        return 0;   /* an empty RBR reads as the last value; 0 will do */
    }
    byte = r->rx_fifo[r->rx_head];
    r->rx_head = (r->rx_head + 1) % RX_FIFO_SIZE;
    r->rx_count--;
    if (r->rx_count == 0) {
        r->lsr &= ~(LSR_DR | LSR_FIFOE);
    }
    serial_wake_input(s);
    return byte;
}

/* Recompute the modem inputs (looped back from MCR in loopback mode). */
static void serial_update_msr(Serial *s)
{
    SerialRegs *r = &s->regs;
    uint8_t lines = MSR_LINES_CONNECTED;
    uint8_t old = r->msr, changed;

    if (r->mcr & MCR_LOOP) {
        lines = ((r->mcr & MCR_RTS) ? MSR_CTS : 0) |
                ((r->mcr & MCR_DTR) ? MSR_DSR : 0) |
                ((r->mcr & MCR_OUT1) ? MSR_RI : 0) |
                ((r->mcr & MCR_OUT2) ? MSR_DCD : 0);
    }
    changed = (old ^ lines) & 0xf0;
    r->msr = lines | (old & MSR_DELTAS);
    if (changed & MSR_CTS) {
        r->msr |= MSR_DCTS;
    }
    if (changed & MSR_DSR) {
        r->msr |= MSR_DDSR;
    }
    if ((changed & MSR_RI) && !(lines & MSR_RI)) {
        r->msr |= MSR_TERI;    /* trailing edge only */
    }
    if (changed & MSR_DCD) {
        r->msr |= MSR_DDCD;
    }
}

static void serial_transmit(Serial *s, uint8_t byte)
{
    if (s->regs.mcr & MCR_LOOP) {
        rx_push(s, byte);
    } else if (s->chr) {
        chardev_write(s->chr, &byte, 1);
    }
    /* The byte left at once: THR is empty again and says so. */
    s->regs.thr_ipending = 1;
}

static void serial_write_fcr(Serial *s, uint8_t val)
{
    SerialRegs *r = &s->regs;

    if ((val ^ r->fcr) & FCR_ENABLE) {
        rx_clear(s);          /* switching FIFO mode empties both FIFOs */
    }
    if (!(val & FCR_ENABLE)) {
        r->fcr = 0;           /* other bits are only written with FCR0 set */
    } else {
        if (val & FCR_CLEAR_RX) {
            rx_clear(s);
        }
        /* FCR_CLEAR_TX: the transmit FIFO is always empty. */
        r->fcr = val & FCR_STORED;
    }
    serial_wake_input(s);
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
    Serial *s = opaque;
    SerialRegs *r = &s->regs;
    uint8_t val = 0;

    (void)size;
    switch (off) {
    case REG_RBR_THR_DLL:
        val = (r->lcr & LCR_DLAB) ? r->divisor & 0xff : rx_pop(s);
        break;
    case REG_IER_DLM:
        val = (r->lcr & LCR_DLAB) ? r->divisor >> 8 : r->ier;
        break;
    case REG_IIR_FCR:
        val = serial_iir(r);
        /* Reading IIR while it reports THRE acknowledges that interrupt. */
        if ((val & 0x0f) == IIR_THRI) {
            r->thr_ipending = 0;
        }
        break;
    case REG_LCR:
        val = r->lcr;
        break;
    case REG_MCR:
        val = r->mcr;
        break;
    case REG_LSR:
        val = r->lsr;
        r->lsr &= ~(LSR_ERRORS | LSR_FIFOE);
        break;
    case REG_MSR:
        val = r->msr;
        r->msr &= ~MSR_DELTAS;
        break;
    case REG_SCR:
        val = r->scr;
        break;
    }
    serial_update_irq(s, false);
    return val;
}

static void serial_write(void *opaque, uint64_t off, uint64_t val64, unsigned size)
{
    Serial *s = opaque;
    SerialRegs *r = &s->regs;
    uint8_t val = val64;
    uint8_t changed;

    (void)size;
    switch (off) {
    case REG_RBR_THR_DLL:
        if (r->lcr & LCR_DLAB) {
            r->divisor = (r->divisor & 0xff00) | val;
        } else {
            r->thr_ipending = 0;
            serial_transmit(s, val);
        }
        break;
    case REG_IER_DLM:
        if (r->lcr & LCR_DLAB) {
            r->divisor = (r->divisor & 0x00ff) | val << 8;
            break;
        }
        changed = (r->ier ^ val) & IER_THRI;
        r->ier = val & 0x0f;
        /*
         * Enabling the THRE interrupt while THR is empty raises it, even
         * if an IIR read had acknowledged it before: real 16550s do, and
         * Linux's 8250 driver (its THRE re-assertion probe) and Windows
         * count on it.
         */
        if (changed) {
            r->thr_ipending = (r->ier & IER_THRI) && (r->lsr & LSR_THRE);
        }
        break;
    case REG_IIR_FCR:
        serial_write_fcr(s, val);
        break;
    case REG_LCR:
        r->lcr = val;
        break;
    case REG_MCR:
        r->mcr = val & MCR_MASK;
        serial_update_msr(s);
        break;
    case REG_LSR:
        /* Writable only in factory test mode; ignore like most chips. */
        log_guest_error("serial%u: write 0x%02x to LSR ignored", s->index, val);
        break;
    case REG_MSR:
        log_guest_error("serial%u: write 0x%02x to MSR ignored", s->index, val);
        break;
    case REG_SCR:
        r->scr = val;
        break;
    }
    serial_update_irq(s, false);
}

static const IoOps serial_ops = {
    .read = serial_read,
    .write = serial_write,
    .min_size = 1,
    .max_size = 1,
};

static int serial_can_receive(void *opaque)
{
    Serial *s = opaque;
    int space = rx_capacity(&s->regs) - s->regs.rx_count;

    if (space <= 0) {
        s->input_blocked = true;
        return 0;
    }
    return space;
}

static void serial_receive(void *opaque, const uint8_t *buf, int len)
{
    Serial *s = opaque;

    /* In loopback the receiver listens to the transmitter, not the line. */
    if (s->regs.mcr & MCR_LOOP) {
        return;
    }
    for (int i = 0; i < len; i++) {
        rx_push(s, buf[i]);
    }
    serial_update_irq(s, false);
}

static void serial_event(void *opaque, int event)
{
    Serial *s = opaque;

    if (event != CHR_EVENT_BREAK || (s->regs.mcr & MCR_LOOP)) {
        return;
    }
    /*
     * A break loads a zero character and reports it in LSR: at once, not
     * when that character reaches the top of the FIFO (a simplification).
     */
    rx_push(s, 0);
    s->regs.lsr |= LSR_BI | (fifo_enabled(&s->regs) ? LSR_FIFOE : 0);
    serial_update_irq(s, false);
}

static const ChardevFrontend serial_frontend = {
    .can_receive = serial_can_receive,
    .receive = serial_receive,
    .event = serial_event,
};

static void serial_reset(Device *d)
{
    Serial *s = (Serial *)d;
    SerialRegs *r = &s->regs;

    memset(r, 0, sizeof(*r));
    r->divisor = 0x0c;        /* 9600 baud; the datasheet leaves it undefined */
    r->lsr = LSR_THRE | LSR_TEMT;
    r->msr = MSR_LINES_CONNECTED;
    serial_update_irq(s, true);
    serial_wake_input(s);
}

static bool serial_post_load(void *state, GError **errp)
{
    SerialRegs *r = state;
    Serial *s = (Serial *)((char *)state - offsetof(Serial, regs));

    if (r->rx_head >= RX_FIFO_SIZE || r->rx_count > rx_capacity(r) ||
        (r->fcr & ~FCR_STORED) || (r->mcr & ~MCR_MASK) || (r->ier & ~0x0f)) {
        error_setg(errp, "serial%u: invalid saved register state", s->index);
        return false;
    }
    serial_update_irq(s, true);
    serial_wake_input(s);
    return true;
}

static void serial_finalize(Device *d)
{
    Serial *s = (Serial *)d;

    if (s->chr) {
        chardev_detach(s->chr, s);
    }
    iobus_unmap(d->m->pio, s->iobase);
}

static const DeviceClass serial_class = {
    .name = "isa-serial",
    .reset = serial_reset,
    .finalize = serial_finalize,
    .vmsd = &serial_vmsd,
    .vmstate_offset = offsetof(Serial, regs),
};

uint16_t serial_legacy_iobase(unsigned index)
{
    static const uint16_t iobase[SERIAL_MAX_LEGACY] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };

    g_assert(index < SERIAL_MAX_LEGACY);
    return iobase[index];
}

unsigned serial_legacy_gsi(unsigned index)
{
    static const uint8_t gsi[SERIAL_MAX_LEGACY] = { 4, 3, 4, 3 };

    g_assert(index < SERIAL_MAX_LEGACY);
    return gsi[index];
}

static bool serial_create_id(Machine *m, unsigned index, uint16_t iobase,
                             unsigned gsi, Chardev *chr, const char *id,
                             GError **errp)
{
    Serial *s;

    if (gsi >= MACHINE_NR_GSI) {
        error_setg(errp, "serial%u: irq %u out of range (0..%d)", index, gsi,
                   MACHINE_NR_GSI - 1);
        return false;
    }
    s = g_new0(Serial, 1);
    s->index = index;
    s->iobase = iobase;
    s->irq = m->gsi[gsi];
    s->chr = chr;
    if (!iobus_map(m->pio, iobase, 8, &serial_ops, s, errp)) {
        g_prefix_error(errp, "serial%u: ", index);
        g_free(s);
        return false;
    }
    if (chr && !chardev_attach(chr, &serial_frontend, s, errp)) {
        g_prefix_error(errp, "serial%u: ", index);
        iobus_unmap(m->pio, iobase);
        g_free(s);
        return false;
    }
    device_add(m, &s->dev, &serial_class, id);
    serial_reset(&s->dev);
    return true;
}

bool serial_create(Machine *m, unsigned index, uint16_t iobase, unsigned gsi,
                   Chardev *chr, GError **errp)
{
    return serial_create_id(m, index, iobase, gsi, chr, NULL, errp);
}

static unsigned serial_count(Machine *m)
{
    unsigned n = 0;

    for (Device *d = m->devices; d; d = d->next) {
        n += d->cls == &serial_class;
    }
    return n;
}

static bool isa_serial_create(Machine *m, Opts *o, GError **errp)
{
    const char *chr_id = opts_get(o, "chardev");
    const char *id = opts_get(o, "id");
    uint64_t index, iobase, irq;
    bool legacy;
    Chardev *chr = NULL;

    if (!opts_get_u64(o, "index", serial_count(m), &index, errp)) {
        return false;
    }
    if (index > 255) {
        error_setg(errp, "isa-serial: index %" PRIu64 " out of range", index);
        return false;
    }
    legacy = index < SERIAL_MAX_LEGACY;
    if (!legacy && (!opts_has(o, "iobase") || !opts_has(o, "irq"))) {
        error_setg(errp, "isa-serial: index %" PRIu64 " needs iobase= and irq=",
                   index);
        return false;
    }
    if (!opts_get_u64(o, "iobase", legacy ? serial_legacy_iobase(index) : 0,
                      &iobase, errp) ||
        !opts_get_u64(o, "irq", legacy ? serial_legacy_gsi(index) : 0, &irq, errp)) {
        return false;
    }
    if (iobase > 0xfff8) {
        error_setg(errp, "isa-serial: iobase 0x%" PRIx64 " out of range", iobase);
        return false;
    }
    if (irq >= MACHINE_NR_GSI) {
        error_setg(errp, "isa-serial: irq %" PRIu64 " out of range", irq);
        return false;
    }
    if (chr_id) {
        chr = chardev_find(chr_id);
        if (!chr) {
            error_setg(errp, "isa-serial: chardev '%s' not found", chr_id);
            return false;
        }
    }
    if (!opts_check_all_used(o, "isa-serial", errp)) {
        return false;
    }
    return serial_create_id(m, index, iobase, irq, chr, id, errp);
}

const DeviceType isa_serial_type = {
    .name = "isa-serial",
    .help = "16550A UART (chardev=ID, index=N, iobase=PORT, irq=GSI)",
    .create = isa_serial_create,
};
