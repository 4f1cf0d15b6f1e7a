/*
 * i8254 PIT and port 0x61 (include/hw/timer/i8254.h).
 *
 * Counting is lazy: a running channel remembers the PIT tick at which it
 * loaded its count (load_tick); the counter and OUT at any moment follow
 * from the ticks elapsed since then. Gate-low suspension in modes 0, 2, 3
 * and 4 freezes the elapsed ticks at stop_tick. PIT ticks are the virtual
 * clock scaled to PIT_FREQ_HZ and rounded down, so the tick count is a
 * pure function of clock_ns() and exact against it.
 */
#include <string.h>
#include "hw/timer/i8254.h"
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"

#define NS_PER_SEC 1000000000ll

enum {
    CH_IDLE,        /* no count loaded since the control word */
    CH_WAIT_GATE,   /* modes 1 and 5: count loaded, waiting for a trigger */
    CH_COUNTING,
};

#define PORTB_GATE2    0x01
#define PORTB_SPEAKER  0x02
#define PORTB_STORED   0x0f   /* bits 0-3 are read/write */
#define PORTB_REFRESH  0x10
#define PORTB_OUT2     0x20

typedef struct PitChannel {
    int64_t load_tick;    /* PIT tick at which counting from @count began */
    int64_t stop_tick;    /* counting suspended by the gate at this tick; -1: not */
    uint32_t count;       /* reload value N, 1..65536 */
    uint16_t latch;       /* latched counter value (as read: binary or BCD) */
    uint8_t mode;         /* 0..5 */
    uint8_t rw;           /* 1: LSB, 2: MSB, 3: LSB then MSB */
    uint8_t bcd;
    uint8_t state;        /* CH_* */
    uint8_t gate;
    uint8_t null_count;   /* a count was written but not loaded yet */
    uint8_t read_msb;     /* word access: the next direct read is the MSB */
    uint8_t write_msb;    /* word access: the next write is the MSB */
    uint8_t write_lsb;    /* LSB of a word write in progress */
    uint8_t latched;      /* bytes of @latch still to read: 0, 1 or 2 */
    uint8_t status;       /* latched status byte */
    uint8_t status_latched;
} PitChannel;

typedef struct PitRegs {
    PitChannel ch[3];
    uint8_t port_b;       /* port 0x61 bits 0-3 */
} PitRegs;

typedef struct Pit {
    Device dev;
    PitRegs regs;
    IrqLine *out0;
    Timer *timer;         /* next rising edge of OUT0 */
} Pit;

static const VMStateField pit_fields[] = {
    VMSTATE_FIELD(PitRegs, ch),
    VMSTATE_FIELD(PitRegs, port_b),
    VMSTATE_END,
};

static bool pit_post_load(void *state, GError **errp);

static const VMStateDesc pit_vmsd = {
    .name = "i8254",
    .version = 1,
    .fields = pit_fields,
    .post_load = pit_post_load,
};

static int64_t ns_to_ticks(int64_t ns)
{
    return (int64_t)((__int128)ns * PIT_FREQ_HZ / NS_PER_SEC);
}

/* The first virtual nanosecond at which ns_to_ticks() reaches @ticks. */
static int64_t ticks_to_ns(int64_t ticks)
{
    return (int64_t)(((__int128)ticks * NS_PER_SEC + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ);
}

static int64_t pit_now(void)
{
    return ns_to_ticks(clock_ns());
}

static uint32_t from_bcd16(uint32_t v)
{
    /* Hostile non-decimal nibbles just give an odd but bounded count. */
    return ((v >> 12) & 15) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15);
}

static uint16_t to_bcd16(uint32_t v)
{
    return (uint16_t)(((v / 1000 % 10) << 12) | ((v / 100 % 10) << 8) |
                      ((v / 10 % 10) << 4) | (v % 10));
}

/* The gate stops counting in these modes (modes 1 and 5 use it as a trigger). */
static bool gate_suspends(unsigned mode)
{
    return mode != 1 && mode != 5;
}

/* Modes 2 and 3 divide by N; N = 1 is illegal there and behaves as 2. */
static uint32_t divisor(const PitChannel *c)
{
    return c->count < 2 ? 2 : c->count;
}

/* Ticks counted since the count was loaded (frozen while suspended). */
static int64_t elapsed(const PitChannel *c, int64_t now)
{
    return (c->stop_tick >= 0 ? c->stop_tick : now) - c->load_tick;
}

static int pit_out(const PitChannel *c, int64_t now)
{
    if (c->state == CH_IDLE) {
        return c->mode != 0;      /* the control word sets OUT low only in mode 0 */
    }
    if (c->state == CH_WAIT_GATE) {
        return 1;
    }
    int64_t d = elapsed(c, now);
    uint32_t n;

    switch (c->mode) {
    case 0:
    case 1:
        return d >= c->count;
    case 2:
        n = divisor(c);
        return c->stop_tick >= 0 || d % n != n - 1;
    case 3:
        n = divisor(c);
        return c->stop_tick >= 0 || d % n < (n + 1) / 2;
    default:                      /* 4, 5: low for the one tick at zero */
        return d != c->count;
    }
}

/* The counting element's value, 0..65535 (0..9999 in BCD), not encoded. */
static uint32_t pit_counter(const PitChannel *c, int64_t now)
{
    uint32_t modulus = c->bcd ? 10000 : 65536;

    if (c->state != CH_COUNTING) {
        return c->count % modulus;
    }
    int64_t d = elapsed(c, now);
    uint32_t n = divisor(c), phase;

    switch (c->mode) {
    case 2:
        return (n - (uint32_t)(d % n)) % modulus;
    case 3:
        /* Counts down by two through each half period. */
        phase = (uint32_t)(d % n);
        if (phase >= (n + 1) / 2) {
            phase -= (n + 1) / 2;
        }
        return (n - 2 * phase) % modulus;
    default: {
        int64_t v = ((int64_t)c->count - d) % modulus;
        return (uint32_t)(v < 0 ? v + modulus : v);
    }
    }
}

static uint16_t pit_encode(const PitChannel *c, uint32_t v)
{
    return c->bcd ? to_bcd16(v) : (uint16_t)v;
}

/* Elapsed-tick value of the first rising edge of OUT after @d, or -1. */
static int64_t next_rising_edge(const PitChannel *c, int64_t d)
{
    int64_t n;

    if (c->state != CH_COUNTING || c->stop_tick >= 0) {
        return -1;
    }
    switch (c->mode) {
    case 0:
    case 1:
        return d < c->count ? (int64_t)c->count : -1;
    case 2:
    case 3:
        n = divisor(c);
        return (d / n + 1) * n;
    default:
        return d < (int64_t)c->count + 1 ? (int64_t)c->count + 1 : -1;
    }
}

/* Arm the timer for channel 0's next rising edge, or stop it. */
static void pit_arm_timer(Pit *s)
{
    const PitChannel *c = &s->regs.ch[0];
    int64_t edge = next_rising_edge(c, elapsed(c, pit_now()));

    if (edge < 0) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, ticks_to_ns(c->load_tick + edge));
    }
}

/*
 * The timer runs at or after a rising edge of OUT0. Edges missed while
 * the main loop was late are coalesced into this one pulse: an
 * edge-triggered interrupt controller could not count them either.
 */
static void pit_timer_cb(void *opaque)
{
    Pit *s = opaque;

    irq_pulse(s->out0);
    pit_arm_timer(s);
}

static void pit_channel_changed(Pit *s, unsigned i)
{
    if (i == 0) {
        pit_arm_timer(s);
    }
}

static void pit_start(PitChannel *c, int64_t now)
{
    c->state = CH_COUNTING;
    c->load_tick = now;
    c->null_count = 0;
    c->stop_tick = !c->gate && gate_suspends(c->mode) ? now : -1;
}

static void pit_load_count(Pit *s, unsigned i, uint32_t raw)
{
    PitChannel *c = &s->regs.ch[i];
    uint32_t n = c->bcd ? from_bcd16(raw) : raw;

    c->count = n ? n : (c->bcd ? 10000 : 65536);
    if (c->mode == 1 || c->mode == 5) {
        c->state = CH_WAIT_GATE;
        c->null_count = 1;
    } else {
        pit_start(c, pit_now());
    }
    pit_channel_changed(s, i);
}

static void pit_latch_count(PitChannel *c, int64_t now)
{
    if (c->latched) {
        return;                   /* a latch holds until it is read */
    }
    c->latch = pit_encode(c, pit_counter(c, now));
    c->latched = c->rw == 3 ? 2 : 1;
}

static void pit_latch_status(PitChannel *c, int64_t now)
{
    if (c->status_latched) {
        return;
    }
    c->status = (uint8_t)(pit_out(c, now) << 7 | c->null_count << 6 | c->rw << 4 |
                          c->mode << 1 | c->bcd);
    c->status_latched = 1;
}

/* Read-back command: bit 5 clear latches counts, bit 4 clear latches status. */
static void pit_read_back(Pit *s, uint8_t val)
{
    int64_t now = pit_now();

    for (unsigned i = 0; i < 3; i++) {
        if (!(val & (2u << i))) {
            continue;
        }
        if (!(val & 0x20)) {
            pit_latch_count(&s->regs.ch[i], now);
        }
        if (!(val & 0x10)) {
            pit_latch_status(&s->regs.ch[i], now);
        }
    }
}

static void pit_write_control(Pit *s, uint8_t val)
{
    unsigned i = val >> 6, rw = (val >> 4) & 3;

    if (i == 3) {
        pit_read_back(s, val);
        return;
    }
    PitChannel *c = &s->regs.ch[i];
    if (rw == 0) {
        pit_latch_count(c, pit_now());
        return;
    }
    c->rw = (uint8_t)rw;
    c->mode = (val >> 1) & 7;
    if (c->mode > 5) {
        c->mode -= 4;             /* 110 and 111 are modes 2 and 3 */
    }
    c->bcd = val & 1;
    /* A control word resets the channel's control logic and latches. */
    c->state = CH_IDLE;
    c->stop_tick = -1;
    c->null_count = 1;
    c->read_msb = c->write_msb = 0;
    c->latched = c->status_latched = 0;
    pit_channel_changed(s, i);
}

static void pit_write_counter(Pit *s, unsigned i, uint8_t val)
{
    PitChannel *c = &s->regs.ch[i];

    switch (c->rw) {
    case 1:
        pit_load_count(s, i, val);
        break;
    case 2:
        pit_load_count(s, i, (uint32_t)val << 8);
        break;
    default:
        if (c->write_msb) {
            c->write_msb = 0;
            pit_load_count(s, i, c->write_lsb | (uint32_t)val << 8);
            break;
        }
        c->write_lsb = val;
        c->write_msb = 1;
        c->null_count = 1;
        if (c->mode == 0) {
            /* Mode 0: the first byte stops counting and sets OUT low. */
            c->state = CH_IDLE;
            c->stop_tick = -1;
            pit_channel_changed(s, i);
        }
        break;
    }
}

static uint8_t pit_read_counter(PitChannel *c)
{
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    if (c->latched) {
        bool msb = c->rw == 2 || (c->rw == 3 && c->latched == 1);
        c->latched--;
        return msb ? c->latch >> 8 : c->latch & 0xff;
    }
    uint16_t v = pit_encode(c, pit_counter(c, pit_now()));
    bool msb = c->rw == 2;
    if (c->rw == 3) {
        msb = c->read_msb;
        c->read_msb ^= 1;
    }
    return msb ? v >> 8 : v & 0xff;
}

static uint64_t pit_io_read(void *opaque, uint64_t off, unsigned size)
{
    Pit *s = opaque;

    (void)size;
    if (off >= 3) {
        return 0xff;              /* the control register is write-only */
    }
    return pit_read_counter(&s->regs.ch[off]);
}

static void pit_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Pit *s = opaque;

    (void)size;
    if (off == 3) {
        pit_write_control(s, (uint8_t)val);
    } else if (off < 3) {
        pit_write_counter(s, (unsigned)off, (uint8_t)val);
    }
}

static const IoOps pit_ops = {
    .read = pit_io_read,
    .write = pit_io_write,
    .min_size = 1,
    .max_size = 1,
};

static void pit_set_gate(Pit *s, unsigned i, bool gate)
{
    PitChannel *c = &s->regs.ch[i];
    int64_t now;

    if (gate == c->gate) {
        return;
    }
    now = pit_now();
    c->gate = gate;
    if (gate) {
        switch (c->mode) {
        case 1:
        case 5:                   /* rising edge: (re)trigger */
            if (c->state != CH_IDLE) {
                pit_start(c, now);
            }
            break;
        case 2:
        case 3:                   /* rising edge: reload and restart */
            if (c->state == CH_COUNTING) {
                pit_start(c, now);
            }
            break;
        default:                  /* resume where counting stopped */
            if (c->stop_tick >= 0) {
                c->load_tick += now - c->stop_tick;
                c->stop_tick = -1;
            }
            break;
        }
    } else if (gate_suspends(c->mode) && c->state == CH_COUNTING) {
        c->stop_tick = now;
    }
    pit_channel_changed(s, i);
}

static uint64_t port_b_read(void *opaque, uint64_t off, unsigned size)
{
    Pit *s = opaque;
    uint8_t val = s->regs.port_b & PORTB_STORED;

    (void)off;
    (void)size;
    /* Linux's delay and calibration loops poll these two against the clock. */
    if ((clock_ns() / PIT_REFRESH_NS) & 1) {
        val |= PORTB_REFRESH;
    }
    if (pit_out(&s->regs.ch[2], pit_now())) {
        val |= PORTB_OUT2;
    }
    return val;
}

static void port_b_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Pit *s = opaque;

    (void)off;
    (void)size;
    s->regs.port_b = val & PORTB_STORED;
    pit_set_gate(s, 2, val & PORTB_GATE2);
}

static const IoOps port_b_ops = {
    .read = port_b_read,
    .write = port_b_write,
    .min_size = 1,
    .max_size = 1,
};

/* After reset no channel counts until the guest loads a count. */
static void pit_reset(Device *d)
{
    Pit *s = (Pit *)d;

    memset(&s->regs, 0, sizeof(s->regs));
    for (unsigned i = 0; i < 3; i++) {
        PitChannel *c = &s->regs.ch[i];

        c->mode = 3;
        c->rw = 3;
        c->count = 65536;
        c->state = CH_IDLE;
        c->stop_tick = -1;
        c->gate = i != 2;         /* channel 2's gate comes from port 0x61 */
    }
    timer_del(s->timer);
}

static bool pit_post_load(void *state, GError **errp)
{
    PitRegs *r = state;
    Pit *s = (Pit *)((char *)state - offsetof(Pit, regs));

    for (unsigned i = 0; i < 3; i++) {
        const PitChannel *c = &r->ch[i];

        if (c->mode > 5 || c->rw < 1 || c->rw > 3 || c->state > CH_COUNTING ||
            c->count < 1 || c->count > 65536 || c->latched > 2 || c->gate > 1 ||
            c->bcd > 1 || c->null_count > 1 || c->read_msb > 1 || c->write_msb > 1 ||
            c->status_latched > 1 || (c->stop_tick >= 0 && c->stop_tick < c->load_tick)) {
            error_setg(errp, "i8254: invalid saved state for channel %u", i);
            return false;
        }
    }
    if ((r->port_b & PORTB_GATE2) != r->ch[2].gate || r->ch[0].gate != 1 || r->ch[1].gate != 1) {
        error_setg(errp, "i8254: saved gates disagree with port 0x61");
        return false;
    }
    pit_arm_timer(s);
    return true;
}

static void pit_finalize(Device *d)
{
    Pit *s = (Pit *)d;

    timer_free(s->timer);
    s->timer = NULL;
}

static const DeviceClass pit_class = {
    .name = "i8254",
    .reset = pit_reset,
    .vmsd = &pit_vmsd,
    .vmstate_offset = offsetof(Pit, regs),
    .finalize = pit_finalize,
};

bool pit_create(Machine *m, IrqLine *out0, GError **errp)
{
    Pit *s = g_new0(Pit, 1);

    s->out0 = out0;
    if (!iobus_map(m->pio, PIT_IOBASE, PIT_IOLEN, &pit_ops, s, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, PIT_PORT_B, 1, &port_b_ops, s, errp)) {
        iobus_unmap(m->pio, PIT_IOBASE);
        goto fail;
    }
    s->timer = timer_new(pit_timer_cb, s);
    device_add(m, &s->dev, &pit_class, NULL);
    pit_reset(&s->dev);
    return true;

fail:
    g_prefix_error(errp, "i8254: ");
    g_free(s);
    return false;
}
