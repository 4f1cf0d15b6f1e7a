/*
 * MC146818 RTC and CMOS RAM (include/hw/timer/mc146818rtc.h).
 *
 * Time base: the RTC second counter read base_sec when the virtual clock
 * read base_ns; everything else (the time registers, UIP, the periodic,
 * update and alarm flags) follows from the 32.768 kHz divider cycles
 * elapsed since base_ns. Flags are "settled" lazily: on every access and
 * in the timer, the events between the last settled cycle and now are
 * folded into register C.
 */
#include <string.h>
#include "hw/timer/mc146818rtc.h"
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define NS_PER_SEC     1000000000ll
#define RTC_HZ         32768
#define UIP_CYCLES     8              /* 244 us before the update */

enum {
    REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03,
    REG_HOUR = 0x04, REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c,
    REG_D = 0x0d,
};

#define A_UIP       0x80
#define A_RS        0x0f
#define B_SET       0x80
#define B_PIE       0x40
#define B_AIE       0x20
#define B_UIE       0x10
#define B_SQWE      0x08
#define B_DM_BINARY 0x04
#define B_24H       0x02
#define C_IRQF      0x80
#define C_PF        0x40              /* flag bits line up with their enables in B */
#define C_AF        0x20
#define C_UF        0x10
#define D_VRT       0x80
#define HOUR_PM     0x80

typedef struct RtcRegs {
    int64_t base_sec;        /* RTC time (s since 1970-01-01 00:00 UTC) at base_ns */
    int64_t base_ns;         /* virtual time at which second base_sec began */
    int64_t settled;         /* divider cycles since base_ns folded into C */
    uint8_t cmos[RTC_CMOS_SIZE];  /* 0-9: time snapshot while SET; alarms; A-D; RAM */
    uint8_t index;
    uint8_t nmi_disabled;
    uint8_t wday_adj;        /* guest's day of week minus the computed one, mod 7 */
} RtcRegs;

struct Rtc {
    Device dev;
    RtcRegs regs;
    IrqLine *irq;
    int level;               /* level driven on @irq */
    Timer *timer;            /* next event of an enabled interrupt */
};

static const VMStateField rtc_fields[] = {
    VMSTATE_FIELD(RtcRegs, base_sec),
    VMSTATE_FIELD(RtcRegs, base_ns),
    VMSTATE_FIELD(RtcRegs, settled),
    VMSTATE_FIELD(RtcRegs, cmos),
    VMSTATE_FIELD(RtcRegs, index),
    VMSTATE_FIELD(RtcRegs, nmi_disabled),
    VMSTATE_FIELD(RtcRegs, wday_adj),
    VMSTATE_END,
};

static bool rtc_post_load(void *state, GError **errp);

static const VMStateDesc rtc_vmsd = {
    .name = "mc146818rtc",
    .version = 1,
    .fields = rtc_fields,
    .post_load = rtc_post_load,
};

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---- */

typedef struct RtcTm {
    int64_t year;
    unsigned mon, mday, hour, min, sec, wday;   /* wday: 0 = Sunday */
} RtcTm;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void tm_from_sec(int64_t t, RtcTm *tm)
{
    int64_t days = floor_div(t, 86400), rem = t - days * 86400;
    int64_t z = days + 719468, era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    tm->mday = doy - (153 * mp + 2) / 5 + 1;
    tm->mon = mp < 10 ? mp + 3 : mp - 9;
    tm->year = yoe + era * 400 + (tm->mon <= 2);
    tm->hour = (unsigned)(rem / 3600);
    tm->min = (unsigned)(rem / 60 % 60);
    tm->sec = (unsigned)(rem % 60);
    tm->wday = (unsigned)(days + 4 - floor_div(days + 4, 7) * 7);   /* 1970-01-01: Thu */
}

static int64_t tm_to_sec(const RtcTm *tm)
{
    return days_from_civil(tm->year, tm->mon, tm->mday) * 86400 +
           tm->hour * 3600 + tm->min * 60 + tm->sec;
}

/* ---- register formats ---- */

static bool binary(const RtcRegs *r)
{
    return r->cmos[REG_B] & B_DM_BINARY;
}

static uint8_t enc(const RtcRegs *r, unsigned v)
{
    return binary(r) ? (uint8_t)v : (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

static unsigned dec(const RtcRegs *r, uint8_t b)
{
    return binary(r) ? b : (b >> 4) * 10u + (b & 15);
}

static uint8_t enc_hour(const RtcRegs *r, unsigned h)
{
    if (r->cmos[REG_B] & B_24H) {
        return enc(r, h);
    }
    return enc(r, h % 12 ? h % 12 : 12) | (h >= 12 ? HOUR_PM : 0);
}

static unsigned dec_hour(const RtcRegs *r, uint8_t b)
{
    if (r->cmos[REG_B] & B_24H) {
        return MIN(dec(r, b), 23u);
    }
    return MIN(dec(r, b & ~HOUR_PM), 12u) % 12 + (b & HOUR_PM ? 12 : 0);
}

/* The guest-visible value of time register @i (0-9 or the century). */
static uint8_t tm_reg(const RtcRegs *r, const RtcTm *tm, unsigned i)
{
    switch (i) {
    case REG_SEC: return enc(r, tm->sec);
    case REG_MIN: return enc(r, tm->min);
    case REG_HOUR: return enc_hour(r, tm->hour);
    case REG_WDAY: return enc(r, (tm->wday + r->wday_adj) % 7 + 1);
    case REG_MDAY: return enc(r, tm->mday);
    case REG_MON: return enc(r, tm->mon);
    case REG_YEAR: return enc(r, (unsigned)(tm->year % 100));
    case CMOS_CENTURY: return enc(r, (unsigned)(tm->year / 100));
    default: return r->cmos[i];      /* alarms */
    }
}

static bool is_time_reg(unsigned i)
{
    return (i <= REG_YEAR && i != REG_SEC_ALARM && i != REG_MIN_ALARM &&
            i != REG_HOUR_ALARM) || i == CMOS_CENTURY;
}

/*
 * Parse the time registers as held in @regs (snapshot layout) into a time;
 * out-of-range values from the guest are clamped. Sets the day-of-week
 * adjustment so register 6 reads back as written.
 */
static int64_t parse_time(RtcRegs *r, const uint8_t *regs)
{
    RtcTm tm = {
        .year = MIN(dec(r, regs[CMOS_CENTURY]), 99u) * 100 + MIN(dec(r, regs[REG_YEAR]), 99u),
        .mon = CLAMP(dec(r, regs[REG_MON]), 1u, 12u),
        .mday = CLAMP(dec(r, regs[REG_MDAY]), 1u, 31u),
        .hour = dec_hour(r, regs[REG_HOUR]),
        .min = MIN(dec(r, regs[REG_MIN]), 59u),
        .sec = MIN(dec(r, regs[REG_SEC]), 59u),
    };
    int64_t t = tm_to_sec(&tm);
    unsigned wday = (CLAMP(dec(r, regs[REG_WDAY]), 1u, 7u) - 1);

    tm_from_sec(t, &tm);
    r->wday_adj = (uint8_t)((wday + 7 - tm.wday) % 7);
    return t;
}

/* ---- time base ---- */

static int64_t cycles_at(const RtcRegs *r, int64_t now)
{
    /* base_ns <= now always holds (post_load checks it); clamp anyway. */
    int64_t d = MAX(now - r->base_ns, 0);

    return (int64_t)((__int128)d * RTC_HZ / NS_PER_SEC);
}

static int64_t cycle_to_ns(const RtcRegs *r, int64_t cycle)
{
    return r->base_ns + (int64_t)(((__int128)cycle * NS_PER_SEC + RTC_HZ - 1) / RTC_HZ);
}

static int64_t rtc_sec_at(const RtcRegs *r, int64_t now)
{
    return r->base_sec + floor_div(cycles_at(r, now), RTC_HZ);
}

/* Periodic interrupt period in divider cycles; 0 when off. */
static int64_t periodic_cycles(const RtcRegs *r)
{
    unsigned rs = r->cmos[REG_A] & A_RS;

    if (rs == 0) {
        return 0;
    }
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
}

static bool field_matches(uint8_t alarm, uint8_t now)
{
    return (alarm & 0xc0) == 0xc0 || alarm == now;
}

static bool alarm_matches(const RtcRegs *r, int64_t sec)
{
    RtcTm tm;

    tm_from_sec(sec, &tm);
    return field_matches(r->cmos[REG_SEC_ALARM], tm_reg(r, &tm, REG_SEC)) &&
           field_matches(r->cmos[REG_MIN_ALARM], tm_reg(r, &tm, REG_MIN)) &&
           field_matches(r->cmos[REG_HOUR_ALARM], tm_reg(r, &tm, REG_HOUR));
}

/* Fold the events of the cycles up to @now into register C; true if C changed. */
static bool rtc_settle(RtcRegs *r, int64_t now)
{
    int64_t c = cycles_at(r, now), p = periodic_cycles(r);
    uint8_t old = r->cmos[REG_C];

    if (c <= r->settled) {
        return false;
    }
    if (p && floor_div(c, p) > floor_div(r->settled, p)) {
        r->cmos[REG_C] |= C_PF;
    }
    int64_t s_old = floor_div(r->settled, RTC_HZ), s_new = floor_div(c, RTC_HZ);
    if (s_new > s_old && !(r->cmos[REG_B] & B_SET)) {
        r->cmos[REG_C] |= C_UF;
        /* The alarm pattern repeats daily: a day of updates is enough. */
        for (int64_t s = MAX(s_old + 1, s_new - 86399); s <= s_new; s++) {
            if (alarm_matches(r, r->base_sec + s)) {
                r->cmos[REG_C] |= C_AF;
                break;
            }
        }
    }
    r->settled = c;
    return r->cmos[REG_C] != old;
}

static bool irqf(const RtcRegs *r)
{
    return r->cmos[REG_C] & r->cmos[REG_B] & (C_PF | C_AF | C_UF);
}

/*
 * Drive the line from IRQF and arm the timer for the next event that
 * could raise it: none while IRQF is already set (the guest must read C).
 */
static void rtc_update(Rtc *s, int64_t now, bool force)
{
    RtcRegs *r = &s->regs;
    int level = irqf(r);
    int64_t c = cycles_at(r, now), next = -1, p = periodic_cycles(r);

    if (force || level != s->level) {
        s->level = level;
        irq_set(s->irq, level);
    }
    if (!level) {
        if ((r->cmos[REG_B] & B_PIE) && p) {
            next = (floor_div(c, p) + 1) * p;
        }
        if ((r->cmos[REG_B] & (B_UIE | B_AIE)) && !(r->cmos[REG_B] & B_SET)) {
            int64_t sec = (floor_div(c, RTC_HZ) + 1) * RTC_HZ;
            next = next < 0 ? sec : MIN(next, sec);
        }
    }
    if (next < 0) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, cycle_to_ns(r, next));
    }
}

static void rtc_timer_cb(void *opaque)
{
    Rtc *s = opaque;
    int64_t now = clock_ns();

    rtc_settle(&s->regs, now);
    rtc_update(s, now, false);
}

/* Start second @sec now, keeping the divider phase if @keep_phase. */
static void rtc_set_time(RtcRegs *r, int64_t now, int64_t sec, bool keep_phase)
{
    int64_t since = now - r->base_ns;
    int64_t phase = keep_phase ? since - floor_div(since, NS_PER_SEC) * NS_PER_SEC : 0;

    r->base_sec = sec;
    r->base_ns = now - phase;
    r->settled = cycles_at(r, now);
}

/* Copy the running time into registers 0-9 and the century. */
static void rtc_snapshot(RtcRegs *r, uint8_t *regs, int64_t now)
{
    RtcTm tm;

    tm_from_sec(rtc_sec_at(r, now), &tm);
    for (unsigned i = 0; i < RTC_CMOS_SIZE; i++) {
        if (is_time_reg(i)) {
            regs[i] = tm_reg(r, &tm, i);
        }
    }
}

static uint8_t rtc_read_reg(Rtc *s, unsigned i, bool side_effects)
{
    RtcRegs *r = &s->regs;
    int64_t now = clock_ns();
    uint8_t val;

    if (rtc_settle(r, now)) {
        rtc_update(s, now, false);   /* an event the timer has not delivered yet */
    }
    if (is_time_reg(i) && !(r->cmos[REG_B] & B_SET)) {
        RtcTm tm;

        tm_from_sec(rtc_sec_at(r, now), &tm);
        return tm_reg(r, &tm, i);
    }
    switch (i) {
    case REG_A:
        val = r->cmos[REG_A] & ~A_UIP;
        if (!(r->cmos[REG_B] & B_SET) &&
            cycles_at(r, now) % RTC_HZ >= RTC_HZ - UIP_CYCLES) {
            val |= A_UIP;
        }
        return val;
    case REG_C:
        val = r->cmos[REG_C] | (irqf(r) ? C_IRQF : 0);
        if (side_effects) {
            r->cmos[REG_C] = 0;
            rtc_update(s, now, false);
        }
        return val;
    case REG_D:
        return D_VRT;
    default:
        return r->cmos[i];
    }
}

static void rtc_write_b(Rtc *s, uint8_t val, int64_t now)
{
    RtcRegs *r = &s->regs;
    uint8_t old = r->cmos[REG_B];

    if (val & B_SET) {
        val &= ~B_UIE;                 /* SET clears UIE */
        if (!(old & B_SET)) {
            rtc_snapshot(r, r->cmos, now);
        }
        r->cmos[REG_B] = val;
    } else {
        r->cmos[REG_B] = val;
        if (old & B_SET) {
            /* The new time starts now; the first update is a second later. */
            rtc_set_time(r, now, parse_time(r, r->cmos), false);
        }
    }
}

static void rtc_write_reg(Rtc *s, unsigned i, uint8_t val)
{
    RtcRegs *r = &s->regs;
    int64_t now = clock_ns();

    if (rtc_settle(r, now)) {
        rtc_update(s, now, false);
    }
    if (is_time_reg(i)) {
        if (r->cmos[REG_B] & B_SET) {
            r->cmos[i] = val;
        } else {
            uint8_t regs[RTC_CMOS_SIZE];

            rtc_snapshot(r, regs, now);
            regs[i] = val;
            rtc_set_time(r, now, parse_time(r, regs), true);
            rtc_update(s, now, false);
        }
        return;
    }
    switch (i) {
    case REG_A:
        r->cmos[REG_A] = val & ~A_UIP;
        break;
    case REG_B:
        rtc_write_b(s, val, now);
        break;
    case REG_C:
    case REG_D:
        log_guest_error("rtc: write 0x%02x to read-only register %u", val, i);
        return;
    default:
        r->cmos[i] = val;           /* alarms and RAM (the checksum is the guest's job) */
        return;
    }
    rtc_update(s, now, false);
}

static uint64_t rtc_io_read(void *opaque, uint64_t off, unsigned size)
{
    Rtc *s = opaque;

    (void)size;
    if (off == 0) {
        return 0xff;                /* the index register is write-only */
    }
    return rtc_read_reg(s, s->regs.index, true);
}

static void rtc_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Rtc *s = opaque;

    (void)size;
    if (off == 0) {
        s->regs.index = val & 0x7f;
        s->regs.nmi_disabled = (val >> 7) & 1;   /* no NMI source to mask */
    } else {
        rtc_write_reg(s, s->regs.index, (uint8_t)val);
    }
}

static const IoOps rtc_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
    .min_size = 1,
    .max_size = 1,
};

static void rtc_update_checksum(RtcRegs *r)
{
    unsigned sum = 0;

    for (unsigned i = CMOS_CSUM_FIRST; i <= CMOS_CSUM_LAST; i++) {
        sum += r->cmos[i];
    }
    r->cmos[CMOS_CSUM_HI] = (uint8_t)(sum >> 8);
    r->cmos[CMOS_CSUM_HI + 1] = (uint8_t)sum;
}

void rtc_set_cmos(Rtc *s, unsigned index, uint8_t val)
{
    if (index >= RTC_CMOS_SIZE || index <= REG_D || index == CMOS_CENTURY) {
        log_warn("rtc: CMOS byte 0x%x is not board-settable (clock or out of range)", index);
        return;
    }
    s->regs.cmos[index] = val;
    if (index >= CMOS_CSUM_FIRST && index <= CMOS_CSUM_LAST) {
        rtc_update_checksum(&s->regs);
    }
}

uint8_t rtc_get_cmos(Rtc *s, unsigned index)
{
    return index < RTC_CMOS_SIZE ? rtc_read_reg(s, index, false) : 0xff;
}

static void set_le16(Rtc *s, unsigned index, uint64_t v)
{
    v = MIN(v, 0xffffu);
    rtc_set_cmos(s, index, (uint8_t)v);
    rtc_set_cmos(s, index + 1, (uint8_t)(v >> 8));
}

void rtc_set_memory(Rtc *s, uint64_t below_4g, uint64_t above_4g)
{
    const uint64_t mib = 1024 * 1024;
    uint64_t high = MIN(above_4g / 65536, 0xffffffu);

    set_le16(s, CMOS_BASE_MEM_LO, 640);
    set_le16(s, CMOS_EXT_MEM_LO, below_4g > mib ? (below_4g - mib) / 1024 : 0);
    set_le16(s, CMOS_EXT_MEM2_LO, below_4g > mib ? (below_4g - mib) / 1024 : 0);
    set_le16(s, CMOS_MEM_16M_LO, below_4g > 16 * mib ? (below_4g - 16 * mib) / 65536 : 0);
    rtc_set_cmos(s, CMOS_MEM_4G, (uint8_t)high);
    rtc_set_cmos(s, CMOS_MEM_4G + 1, (uint8_t)(high >> 8));
    rtc_set_cmos(s, CMOS_MEM_4G + 2, (uint8_t)(high >> 16));
}

/* Reset keeps the battery-backed time and RAM; it clears enables and flags. */
static void rtc_reset(Device *d)
{
    Rtc *s = (Rtc *)d;
    RtcRegs *r = &s->regs;
    int64_t now = clock_ns();

    rtc_settle(r, now);
    r->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
    r->cmos[REG_C] = 0;
    r->cmos[REG_D] = D_VRT;
    r->index = 0;
    r->nmi_disabled = 0;
    rtc_update(s, now, false);
}

static bool rtc_post_load(void *state, GError **errp)
{
    RtcRegs *r = state;
    Rtc *s = (Rtc *)((char *)state - offsetof(Rtc, regs));
    int64_t now = clock_ns();

    if (r->index >= RTC_CMOS_SIZE || r->nmi_disabled > 1 || r->wday_adj > 6 ||
        r->base_ns > now || r->settled < 0 || r->settled > cycles_at(r, now) ||
        r->base_sec < -(1ll << 40) || r->base_sec > (1ll << 40)) {
        error_setg(errp, "mc146818rtc: invalid saved state");
        return false;
    }
    rtc_update(s, now, true);
    return true;
}

static void rtc_finalize(Device *d)
{
    Rtc *s = (Rtc *)d;

    timer_free(s->timer);
    s->timer = NULL;
}

static const DeviceClass rtc_class = {
    .name = "mc146818rtc",
    .reset = rtc_reset,
    .vmsd = &rtc_vmsd,
    .vmstate_offset = offsetof(Rtc, regs),
    .finalize = rtc_finalize,
};

Rtc *rtc_create(Machine *m, IrqLine *irq, GError **errp)
{
    Rtc *s = g_new0(Rtc, 1);
    RtcRegs *r = &s->regs;
    int64_t host_us = g_get_real_time(), now = clock_ns();

    if (!iobus_map(m->pio, RTC_IOBASE, RTC_IOLEN, &rtc_ops, s, errp)) {
        g_prefix_error(errp, "mc146818rtc: ");
        g_free(s);
        return NULL;
    }
    s->irq = irq;
    s->timer = timer_new(rtc_timer_cb, s);
    r->cmos[REG_A] = 0x26;           /* 32.768 kHz divider, 1024 Hz rate */
    r->cmos[REG_B] = B_24H;          /* BCD, 24 hours */
    r->cmos[REG_D] = D_VRT;
    /* Start in the host's current second at its sub-second phase. */
    r->base_sec = floor_div(host_us, G_USEC_PER_SEC);
    r->base_ns = now - (host_us - r->base_sec * G_USEC_PER_SEC) * 1000;
    r->settled = cycles_at(r, now);
    device_add(m, &s->dev, &rtc_class, NULL);
    rtc_update(s, now, true);
    return s;
}
