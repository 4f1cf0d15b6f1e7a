/*
 * i8042 keyboard controller and AT keyboard (include/hw/input/i8042.h).
 *
 * Bytes for the guest wait in one queue, each tagged with its source
 * (controller, keyboard, aux). The controller moves the first byte whose
 * port is enabled into its one-byte output buffer, sets OBF (and AUX_OBF
 * for aux bytes) and raises that port's interrupt if the command byte
 * enables it; reading port 0x60 empties the buffer, lowers the interrupt
 * and moves the next byte in.
 */
#include <string.h>
#include "hw/input/i8042.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "hw/irq.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/runstate.h"

#define QUEUE_SIZE 16

/* Status register (port 0x64 read). */
#define STAT_OBF       0x01
#define STAT_IBF       0x02
#define STAT_SYS       0x04
#define STAT_CMD       0x08   /* last write went to port 0x64 */
#define STAT_UNLOCKED  0x10   /* keyboard not inhibited by the key lock */
#define STAT_AUX_OBF   0x20
#define STAT_TIMEOUT   0x40

/* Controller command byte. */
#define CB_KBD_INT     0x01
#define CB_AUX_INT     0x02
#define CB_SYS         0x04
#define CB_KBD_DIS     0x10
#define CB_AUX_DIS     0x20
#define CB_XLATE       0x40

/* Output port. */
#define OUT_RESET_N    0x01   /* low: hold the CPU in reset */
#define OUT_A20        0x02

/* Sources of queued bytes, with a flag. */
#define SRC_CTRL       0
#define SRC_KBD        1
#define SRC_AUX        2
#define SRC_MASK       0x03
#define SRC_TIMEOUT    0x80   /* the byte reports a timeout (status bit 6) */

/* Keyboard replies. */
#define KBD_ACK        0xfa
#define KBD_RESEND     0xfe
#define KBD_BAT_OK     0xaa
#define KBD_ECHO       0xee

typedef struct I8042Regs {
    uint8_t queue[QUEUE_SIZE];
    uint8_t queue_src[QUEUE_SIZE];
    uint8_t queue_len;
    uint8_t status;
    uint8_t cmd_byte;
    uint8_t outport;
    uint8_t out_data;       /* the output buffer (valid while STAT_OBF) */
    uint8_t pending_cmd;    /* controller command waiting for its data byte */
    /* The keyboard. */
    uint8_t kbd_scanning;
    uint8_t kbd_pending;    /* keyboard command waiting for its parameter */
    uint8_t kbd_leds;
    uint8_t kbd_typematic;
    uint8_t kbd_scancode_set;
} I8042Regs;

typedef struct I8042 {
    Device dev;
    I8042Regs regs;
    IrqLine *kbd_irq, *aux_irq;
    int kbd_level, aux_level;   /* last levels driven on the lines */
} I8042;

static const VMStateField i8042_fields[] = {
    VMSTATE_FIELD(I8042Regs, queue),
    VMSTATE_FIELD(I8042Regs, queue_src),
    VMSTATE_FIELD(I8042Regs, queue_len),
    VMSTATE_FIELD(I8042Regs, status),
    VMSTATE_FIELD(I8042Regs, cmd_byte),
    VMSTATE_FIELD(I8042Regs, outport),
    VMSTATE_FIELD(I8042Regs, out_data),
    VMSTATE_FIELD(I8042Regs, pending_cmd),
    VMSTATE_FIELD(I8042Regs, kbd_scanning),
    VMSTATE_FIELD(I8042Regs, kbd_pending),
    VMSTATE_FIELD(I8042Regs, kbd_leds),
    VMSTATE_FIELD(I8042Regs, kbd_typematic),
    VMSTATE_FIELD(I8042Regs, kbd_scancode_set),
    VMSTATE_END,
};

static bool i8042_post_load(void *state, GError **errp);

static const VMStateDesc i8042_vmsd = {
    .name = "i8042",
    .version = 1,
    .fields = i8042_fields,
    .post_load = i8042_post_load,
};

/* Drive both interrupt lines; only changes are passed on unless @force. */
static void i8042_drive_irq(I8042 *s, bool force)
{
    const I8042Regs *r = &s->regs;
    bool full = r->status & STAT_OBF, aux = r->status & STAT_AUX_OBF;
    int kbd = full && !aux && (r->cmd_byte & CB_KBD_INT);
    int mouse = full && aux && (r->cmd_byte & CB_AUX_INT);

    if (force || kbd != s->kbd_level) {
        s->kbd_level = kbd;
        irq_set(s->kbd_irq, kbd);
    }
    if (force || mouse != s->aux_level) {
        s->aux_level = mouse;
        irq_set(s->aux_irq, mouse);
    }
}

static void i8042_update_irq(I8042 *s)
{
    i8042_drive_irq(s, false);
}

static bool source_enabled(const I8042Regs *r, uint8_t src)
{
    switch (src & SRC_MASK) {
    case SRC_KBD:
        return !(r->cmd_byte & CB_KBD_DIS);
    case SRC_AUX:
        return !(r->cmd_byte & CB_AUX_DIS);
    default:
        return true;
    }
}

/* Move the next deliverable byte into the empty output buffer. */
static void i8042_refill(I8042 *s)
{
    I8042Regs *r = &s->regs;

    if (!(r->status & STAT_OBF)) {
        for (unsigned i = 0; i < r->queue_len; i++) {
            uint8_t src = r->queue_src[i];

            if (!source_enabled(r, src)) {
                continue;
            }
            r->out_data = r->queue[i];
            r->status &= ~(STAT_AUX_OBF | STAT_TIMEOUT);
            r->status |= STAT_OBF;
            if ((src & SRC_MASK) == SRC_AUX) {
                r->status |= STAT_AUX_OBF;
            }
            if (src & SRC_TIMEOUT) {
                r->status |= STAT_TIMEOUT;
            }
            r->queue_len--;
            memmove(&r->queue[i], &r->queue[i + 1], r->queue_len - i);
            memmove(&r->queue_src[i], &r->queue_src[i + 1], r->queue_len - i);
            break;
        }
    }
    i8042_update_irq(s);
}

static void i8042_queue(I8042 *s, uint8_t src, uint8_t byte)
{
    I8042Regs *r = &s->regs;

    if (r->queue_len >= QUEUE_SIZE) {
        log_guest_error("i8042: output queue full, byte 0x%02x dropped", byte);
        return;
    }
    r->queue[r->queue_len] = byte;
    r->queue_src[r->queue_len] = src;
    r->queue_len++;
    i8042_refill(s);
}

static void kbd_reply(I8042 *s, uint8_t byte)
{
    i8042_queue(s, SRC_KBD, byte);
}

static void kbd_set_defaults(I8042Regs *r)
{
    r->kbd_leds = 0;
    r->kbd_typematic = 0x2b;     /* 10.9 characters/s after 500 ms */
    r->kbd_scancode_set = 2;
    r->kbd_pending = 0;
}

/* The second byte of a keyboard command that takes a parameter. */
static void kbd_write_param(I8042 *s, uint8_t cmd, uint8_t val)
{
    I8042Regs *r = &s->regs;

    switch (cmd) {
    case 0xed:
        r->kbd_leds = val & 0x07;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xf3:
        r->kbd_typematic = val & 0x7f;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xf0:
        if (val == 0) {
            /* Report the set; the controller translates the answer too. */
            static const uint8_t xlated[4] = { 0, 0x43, 0x41, 0x3f };

            kbd_reply(s, KBD_ACK);
            kbd_reply(s, (r->cmd_byte & CB_XLATE) ? xlated[r->kbd_scancode_set]
                                                  : r->kbd_scancode_set);
        } else if (val <= 3) {
            r->kbd_scancode_set = val;
            kbd_reply(s, KBD_ACK);
        } else {
            kbd_reply(s, KBD_RESEND);
        }
        break;
    }
}

/* A byte the guest sends to the keyboard through port 0x60. */
static void kbd_write(I8042 *s, uint8_t val)
{
    I8042Regs *r = &s->regs;

    if (r->kbd_pending) {
        uint8_t cmd = r->kbd_pending;

        r->kbd_pending = 0;
        kbd_write_param(s, cmd, val);
        return;
    }
    switch (val) {
    case 0xed:   /* set LEDs */
    case 0xf3:   /* set typematic rate */
    case 0xf0:   /* get/set scan code set */
        r->kbd_pending = val;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xee:
        kbd_reply(s, KBD_ECHO);
        break;
    case 0xf2:   /* identify: an MF2 keyboard, 0x83 reads 0x41 translated */
        kbd_reply(s, KBD_ACK);
        kbd_reply(s, 0xab);
        kbd_reply(s, (r->cmd_byte & CB_XLATE) ? 0x41 : 0x83);
        break;
    case 0xf4:
        r->kbd_scanning = 1;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xf5:   /* disable: defaults, stop scanning */
        kbd_set_defaults(r);
        r->kbd_scanning = 0;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xf6:   /* defaults, keep scanning */
        kbd_set_defaults(r);
        kbd_reply(s, KBD_ACK);
        break;
    case 0xfe:   /* resend: we never lose a byte, so just acknowledge */
        kbd_reply(s, KBD_ACK);
        break;
    case 0xff:   /* reset and self-test */
        kbd_set_defaults(r);
        r->kbd_scanning = 1;
        kbd_reply(s, KBD_ACK);
        kbd_reply(s, KBD_BAT_OK);
        break;
    default:
        log_unimp("i8042: keyboard command 0x%02x", val);
        kbd_reply(s, KBD_RESEND);
        break;
    }
}

static void i8042_write_outport(I8042 *s, uint8_t val)
{
    s->regs.outport = val;
    if (!(val & OUT_RESET_N)) {
        runstate_request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    }
}

/* The data byte of a controller command that takes one. */
static void i8042_write_cmd_data(I8042 *s, uint8_t cmd, uint8_t val)
{
    I8042Regs *r = &s->regs;

    switch (cmd) {
    case 0x60:
        r->cmd_byte = val;
        r->status = (r->status & ~STAT_SYS) | (val & CB_SYS ? STAT_SYS : 0);
        i8042_refill(s);
        break;
    case 0xd1:
        i8042_write_outport(s, val);
        break;
    case 0xd2:
        i8042_queue(s, SRC_KBD, val);
        break;
    case 0xd3:
        i8042_queue(s, SRC_AUX, val);
        break;
    case 0xd4:
        /* No mouse behind the aux port: the send times out. */
        i8042_queue(s, SRC_AUX | SRC_TIMEOUT, 0xfe);
        break;
    }
}

static void i8042_command(I8042 *s, uint8_t cmd)
{
    I8042Regs *r = &s->regs;

    switch (cmd) {
    case 0x20:
        i8042_queue(s, SRC_CTRL, r->cmd_byte);
        break;
    case 0x60:
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xd4:
        r->pending_cmd = cmd;
        break;
    case 0xa7:
        r->cmd_byte |= CB_AUX_DIS;
        break;
    case 0xa8:
        r->cmd_byte &= ~CB_AUX_DIS;
        i8042_refill(s);
        break;
    case 0xa9:   /* aux interface test: no error */
    case 0xab:   /* keyboard interface test: no error */
        i8042_queue(s, SRC_CTRL, 0x00);
        break;
    case 0xaa:   /* controller self-test: passed */
        i8042_queue(s, SRC_CTRL, 0x55);
        break;
    case 0xad:
        r->cmd_byte |= CB_KBD_DIS;
        break;
    case 0xae:
        r->cmd_byte &= ~CB_KBD_DIS;
        i8042_refill(s);
        break;
    case 0xc0:   /* input port: keyboard not locked, colour display */
        i8042_queue(s, SRC_CTRL, 0x80);
        break;
    case 0xd0:
        i8042_queue(s, SRC_CTRL, r->outport);
        break;
    case 0xe0:   /* test inputs: clock and data lines low */
        i8042_queue(s, SRC_CTRL, 0x00);
        break;
    default:
        if (cmd >= 0xf0) {
            /* Pulse the output port bits that are 0 in the low nibble. */
            if (!(cmd & OUT_RESET_N)) {
                runstate_request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
            }
            break;
        }
        log_unimp("i8042: controller command 0x%02x", cmd);
        break;
    }
}

static uint64_t i8042_data_read(void *opaque, uint64_t off, unsigned size)
{
    I8042 *s = opaque;
    I8042Regs *r = &s->regs;
    uint8_t val = r->out_data;   /* an empty buffer reads its last byte */

    (void)off;
    (void)size;
    r->status &= ~(STAT_OBF | STAT_AUX_OBF);
    i8042_refill(s);
    return val;
}

static void i8042_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    I8042 *s = opaque;
    I8042Regs *r = &s->regs;
    uint8_t cmd = r->pending_cmd;

    (void)off;
    (void)size;
    r->status &= ~STAT_CMD;
    if (cmd) {
        r->pending_cmd = 0;
        i8042_write_cmd_data(s, cmd, val);
    } else {
        kbd_write(s, val);
    }
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size)
{
    I8042 *s = opaque;

    (void)off;
    (void)size;
    return s->regs.status;
}

static void i8042_cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    I8042 *s = opaque;

    (void)off;
    (void)size;
    s->regs.status |= STAT_CMD;
    s->regs.pending_cmd = 0;    /* a new command cancels a pending one */
    i8042_command(s, val);
}

static const IoOps i8042_data_ops = {
    .read = i8042_data_read,
    .write = i8042_data_write,
    .min_size = 1,
    .max_size = 1,
};

static const IoOps i8042_cmd_ops = {
    .read = i8042_status_read,
    .write = i8042_cmd_write,
    .min_size = 1,
    .max_size = 1,
};

static void i8042_reset(Device *d)
{
    I8042 *s = (I8042 *)d;
    I8042Regs *r = &s->regs;

    memset(r, 0, sizeof(*r));
    r->status = STAT_CMD | STAT_UNLOCKED;
    r->cmd_byte = CB_KBD_INT | CB_AUX_INT;
    r->outport = 0xcc | OUT_A20 | OUT_RESET_N;
    kbd_set_defaults(r);
    r->kbd_scanning = 1;
    i8042_drive_irq(s, true);
}

static bool i8042_post_load(void *state, GError **errp)
{
    I8042Regs *r = state;
    I8042 *s = (I8042 *)((char *)state - offsetof(I8042, regs));

    if (r->queue_len > QUEUE_SIZE || r->kbd_scancode_set < 1 ||
        r->kbd_scancode_set > 3) {
        error_setg(errp, "i8042: invalid saved state");
        return false;
    }
    for (unsigned i = 0; i < r->queue_len; i++) {
        if ((r->queue_src[i] & ~(SRC_MASK | SRC_TIMEOUT)) ||
            (r->queue_src[i] & SRC_MASK) > SRC_AUX) {
            error_setg(errp, "i8042: invalid saved queue entry");
            return false;
        }
    }
    i8042_drive_irq(s, true);
    return true;
}

static const DeviceClass i8042_class = {
    .name = "i8042",
    .reset = i8042_reset,
    .vmsd = &i8042_vmsd,
    .vmstate_offset = offsetof(I8042, regs),
};

bool i8042_create(Machine *m, GError **errp)
{
    I8042 *s = g_new0(I8042, 1);

    s->kbd_irq = m->gsi[I8042_KBD_GSI];
    s->aux_irq = m->gsi[I8042_AUX_GSI];
    if (!iobus_map(m->pio, I8042_DATA_PORT, 1, &i8042_data_ops, s, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, s, errp)) {
        iobus_unmap(m->pio, I8042_DATA_PORT);
        goto fail;
    }
    device_add(m, &s->dev, &i8042_class, NULL);
    i8042_reset(&s->dev);
    return true;

fail:
    g_prefix_error(errp, "i8042: ");
    g_free(s);
    return false;
}
