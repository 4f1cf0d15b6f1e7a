/*
 * MC146818 RTC driven through ports 0x70/0x71. With the virtual clock
 * paused right when the guest clears SET, the divider starts at a known
 * instant T and every flag and register is exact at T + d.
 */
#include <string.h>
#include <time.h>
#include <glib.h>
#include "dev-machine.h"
#include "hw/clock.h"
#include "hw/iobus.h"
#include "hw/timer/mc146818rtc.h"

#define SEC 0x00
#define SEC_ALARM 0x01
#define R_MIN 0x02
#define MIN_ALARM 0x03
#define HOUR 0x04
#define HOUR_ALARM 0x05
#define WDAY 0x06
#define MDAY 0x07
#define MON 0x08
#define YEAR 0x09
#define RA 0x0a
#define RB 0x0b
#define RC 0x0c
#define RD 0x0d

#define GSI 8

static GMainContext *loop_ctx;

typedef struct TestMachine {
    Machine *m;
    Rtc *rtc;
} TestMachine;

/* The RTC's interrupt line's last level. */
static int level(void)
{
    return dev_gsi[GSI].level;
}

static TestMachine tm_new(void)
{
    TestMachine t = { dev_machine_new(), NULL };
    g_autoptr(GError) err = NULL;

    t.rtc = rtc_create(t.m, t.m->gsi[GSI], &err);
    g_assert_no_error(err);
    g_assert_nonnull(t.rtc);
    g_assert_cmpint(level(), ==, 0);
    return t;
}

static void tm_free(TestMachine *t)
{
    dev_machine_free(t->m);
}

static uint8_t rd(TestMachine *t, unsigned index)
{
    iobus_write(t->m->pio, 0x70, index, 1);
    return (uint8_t)iobus_read(t->m->pio, 0x71, 1);
}

static void wr(TestMachine *t, unsigned index, uint8_t val)
{
    iobus_write(t->m->pio, 0x70, index, 1);
    iobus_write(t->m->pio, 0x71, val, 1);
}

/* Divider cycles (32.768 kHz) from the start of the time set at @t0 to @now. */
static int64_t cycles(int64_t t0, int64_t now)
{
    return (now - t0) * 32768 / 1000000000;
}

/* Run the main loop until the line is high. */
static void wait_irq(void)
{
    dev_run_until_high(loop_ctx, &dev_gsi[GSI]);
}

/*
 * Set the time with SET held, registers given in the format @b_format
 * (register B without SET). Returns the paused instant T at which the
 * new time starts, with register C clear: the flags the running clock
 * set while the machine was built (PF at 1024 Hz, UF) are read away.
 */
static int64_t set_time(TestMachine *t, uint8_t b_format, const uint8_t regs[10], uint8_t century)
{
    clock_pause();
    wr(t, RB, 0x80 | b_format);
    for (unsigned i = 0; i < 10; i++) {
        if (i != SEC_ALARM && i != MIN_ALARM && i != HOUR_ALARM) {
            wr(t, i, regs[i]);
        }
    }
    wr(t, CMOS_CENTURY, century);
    wr(t, RB, b_format);
    rd(t, RC);
    return clock_ns();
}

static void test_initial_state(void)
{
    TestMachine t = tm_new();
    GDateTime *now;
    int64_t host, rtc;

    /* Avoid reading across an update: wait while UIP is set. */
    while (rd(&t, RA) & 0x80) {
        g_usleep(50);   /* poll interval, not synchronisation */
    }
    clock_pause();
    now = g_date_time_new_now_utc();
    g_assert_cmphex(rd(&t, RA), ==, 0x26);
    g_assert_cmphex(rd(&t, RB), ==, 0x02);
    /* PF and UF follow elapsed time (they set without their enables in
       B, as on the chip), so only IRQF is known at start; a read clears
       C and, with the clock paused, nothing new comes. */
    g_assert_cmphex(rd(&t, RC) & 0x80, ==, 0x00);
    g_assert_cmphex(rd(&t, RC), ==, 0x00);
    g_assert_cmphex(rd(&t, RD), ==, 0x80);
    struct tm tm = {
        .tm_year = 100 * ((rd(&t, CMOS_CENTURY) >> 4) * 10 + (rd(&t, CMOS_CENTURY) & 15)) +
                   (rd(&t, YEAR) >> 4) * 10 + (rd(&t, YEAR) & 15) - 1900,
        .tm_mon = (rd(&t, MON) >> 4) * 10 + (rd(&t, MON) & 15) - 1,
        .tm_mday = (rd(&t, MDAY) >> 4) * 10 + (rd(&t, MDAY) & 15),
        .tm_hour = (rd(&t, HOUR) >> 4) * 10 + (rd(&t, HOUR) & 15),
        .tm_min = (rd(&t, R_MIN) >> 4) * 10 + (rd(&t, R_MIN) & 15),
        .tm_sec = (rd(&t, SEC) >> 4) * 10 + (rd(&t, SEC) & 15),
    };
    rtc = timegm(&tm);
    host = g_date_time_to_unix(now);
    g_assert_cmpint(rtc, <=, host + 1);
    g_assert_cmpint(rtc, >=, host - 1);
    g_assert_cmpuint(rd(&t, WDAY), ==, g_date_time_get_day_of_week(now) % 7 + 1);
    g_date_time_unref(now);
    tm_free(&t);
}

static void test_formats(void)
{
    TestMachine t = tm_new();
    /* 2024-02-29 (a Thursday) 23:59:58, BCD 24 hours. */
    const uint8_t bcd24[10] = { 0x58, 0, 0x59, 0, 0x23, 0, 5, 0x29, 0x02, 0x24 };

    set_time(&t, 0x02, bcd24, 0x20);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x23);
    g_assert_cmphex(rd(&t, WDAY), ==, 5);
    wr(&t, RB, 0x06);                       /* binary, 24 hours */
    g_assert_cmphex(rd(&t, HOUR), ==, 23);
    g_assert_cmphex(rd(&t, R_MIN), ==, 59);
    g_assert_cmphex(rd(&t, MDAY), ==, 29);
    g_assert_cmphex(rd(&t, YEAR), ==, 24);
    g_assert_cmphex(rd(&t, CMOS_CENTURY), ==, 20);
    wr(&t, RB, 0x04);                       /* binary, 12 hours: 11 PM */
    g_assert_cmphex(rd(&t, HOUR), ==, 0x80 | 11);
    wr(&t, RB, 0x00);                       /* BCD, 12 hours */
    g_assert_cmphex(rd(&t, HOUR), ==, 0x91);

    /* Midnight and noon in 12-hour mode, set through 12-hour registers. */
    const uint8_t bcd12_midnight[10] = { 0x00, 0, 0x00, 0, 0x12, 0, 2, 0x01, 0x01, 0x01 };
    set_time(&t, 0x00, bcd12_midnight, 0x21);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x12);
    wr(&t, RB, 0x02);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x00);
    const uint8_t bin12_noon[10] = { 0, 0, 30, 0, 0x80 | 12, 0, 2, 1, 1, 1 };
    set_time(&t, 0x04, bin12_noon, 21);
    wr(&t, RB, 0x02);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x12);
    g_assert_cmphex(rd(&t, R_MIN), ==, 0x30);
    g_assert_cmphex(rd(&t, YEAR), ==, 0x01);
    g_assert_cmphex(rd(&t, CMOS_CENTURY), ==, 0x21);
    tm_free(&t);
}

static void test_time_set_persists(void)
{
    TestMachine t = tm_new();
    /* 1999-12-31 (Friday) 23:59:59 */
    const uint8_t regs[10] = { 0x59, 0, 0x59, 0, 0x23, 0, 6, 0x31, 0x12, 0x99 };
    int64_t t0 = set_time(&t, 0x02, regs, 0x19);

    g_assert_cmphex(rd(&t, SEC), ==, 0x59);
    int64_t now = dev_clock_advance_to(t0 + 900000000);
    g_assert_cmphex(rd(&t, SEC), ==, now < t0 + 1000000000 ? 0x59 : 0x00);
    dev_clock_advance_to(t0 + 1000000000);
    g_assert_cmphex(rd(&t, SEC), ==, 0x00);
    g_assert_cmphex(rd(&t, R_MIN), ==, 0x00);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x00);
    g_assert_cmphex(rd(&t, MDAY), ==, 0x01);
    g_assert_cmphex(rd(&t, MON), ==, 0x01);
    g_assert_cmphex(rd(&t, YEAR), ==, 0x00);
    g_assert_cmphex(rd(&t, CMOS_CENTURY), ==, 0x20);
    g_assert_cmphex(rd(&t, WDAY), ==, 7);   /* Saturday */

    /* A write without SET changes one field and keeps the second's phase. */
    wr(&t, R_MIN, 0x42);
    g_assert_cmphex(rd(&t, R_MIN), ==, 0x42);
    g_assert_cmphex(rd(&t, SEC), ==, 0x00);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x00);
    wr(&t, WDAY, 3);
    g_assert_cmphex(rd(&t, WDAY), ==, 3);

    /* Machine reset keeps the time. */
    t.m->devices->cls->reset(t.m->devices);
    g_assert_cmphex(rd(&t, R_MIN), ==, 0x42);
    g_assert_cmphex(rd(&t, YEAR), ==, 0x00);
    g_assert_cmphex(rd(&t, WDAY), ==, 3);
    tm_free(&t);
}

static void test_register_c_and_periodic(void)
{
    TestMachine t = tm_new();
    const uint8_t regs[10] = { 0, 0, 0, 0, 0x10, 0, 2, 0x01, 0x06, 0x25 };
    int64_t t0 = set_time(&t, 0x02, regs, 0x20);

    /* RS = 6: 1024 Hz, 32 divider cycles. Flags are set without enables. */
    g_assert_cmphex(rd(&t, RC), ==, 0x00);
    int64_t c1 = cycles(t0, dev_clock_advance_to(t0 + 20000));
    g_assert_cmphex(rd(&t, RC), ==, c1 >= 32 ? 0x40 : 0x00);
    int64_t c2 = cycles(t0, dev_clock_advance_to(t0 + 2000000));
    g_assert_cmphex(rd(&t, RC), ==, c2 / 32 > c1 / 32 ? 0x40 : 0x00);
    g_assert_cmpint(c2, >=, 64);
    g_assert_cmphex(rd(&t, RC), ==, 0x00);  /* read clears */
    g_assert_cmpint(level(), ==, 0);

    /* With PIE the line rises; reading C returns IRQF|PF and lowers it. */
    wr(&t, RB, 0x42);
    wait_irq();
    g_assert_cmphex(rd(&t, RC) & ~0x10, ==, 0xc0);
    g_assert_cmpint(level(), ==, 0);
    g_assert_cmphex(rd(&t, RC), ==, 0x00);

    /* RS = 10: 64 Hz, 512 cycles. Count interrupts, acknowledging each one. */
    wr(&t, RA, 0x2a);
    rd(&t, RC);
    int64_t start = clock_ns();
    unsigned irqs = 0;
    while (irqs < 8) {
        wait_irq();
        g_assert_cmphex(rd(&t, RC) & 0xc0, ==, 0xc0);
        irqs++;
    }
    int64_t edges = cycles(t0, clock_ns()) / 512 - cycles(t0, start) / 512;
    g_assert_cmpint(irqs, <=, edges);
    g_assert_cmpint(irqs, >=, edges - 1);

    /* PIE off: the timer stops; the line stays low. */
    wr(&t, RB, 0x02);
    clock_resume();
    g_assert_cmpint(timers_run_expired(), ==, -1);
    g_assert_cmpint(level(), ==, 0);
    tm_free(&t);
}

static void test_update_cycle(void)
{
    TestMachine t = tm_new();
    const uint8_t regs[10] = { 0x30, 0, 0x15, 0, 0x08, 0, 2, 0x01, 0x06, 0x25 };
    int64_t t0 = set_time(&t, 0x02, regs, 0x20);

    wr(&t, RA, 0x20);                       /* no periodic flag */
    wr(&t, RB, 0x12);                       /* UIE */
    g_assert_cmphex(rd(&t, RA), ==, 0x20);
    dev_clock_advance_to(t0 + 500000000);
    g_assert_cmphex(rd(&t, RA), ==, 0x20);
    /* UIP: the last 8 divider cycles (244 us) before the update. */
    int64_t now = dev_clock_advance_to(t0 + 999800000);
    bool uip = cycles(t0, now) % 32768 >= 32760;
    g_assert_cmphex(rd(&t, RA), ==, uip ? 0xa0 : 0x20);
    g_assert_cmphex(rd(&t, SEC), ==, now < t0 + 1000000000 ? 0x30 : 0x31);
    if (now < t0 + 1000000000) {
        g_assert_cmphex(rd(&t, RC), ==, 0x00);
    }
    wait_irq();
    g_assert_cmpint(clock_ns(), >=, t0 + 1000000000);
    g_assert_cmphex(rd(&t, SEC), ==, 0x31);
    g_assert_cmphex(rd(&t, RC), ==, 0x90);
    g_assert_cmpint(level(), ==, 0);
    g_assert_cmphex(rd(&t, RA), ==, cycles(t0, clock_ns()) % 32768 >= 32760 ? 0xa0 : 0x20);
    /* SET stops updates and clears UIE. */
    wr(&t, RB, 0x92);
    g_assert_cmphex(rd(&t, RB), ==, 0x82);
    g_assert_cmphex(rd(&t, RA), ==, 0x20);
    tm_free(&t);
}

static void test_alarm(void)
{
    TestMachine t = tm_new();
    const uint8_t regs[10] = { 0x00, 0, 0x00, 0, 0x10, 0, 2, 0x01, 0x06, 0x25 };
    int64_t t0 = set_time(&t, 0x02, regs, 0x20);

    wr(&t, RA, 0x20);                       /* no periodic flag */
    wr(&t, SEC_ALARM, 0x01);
    wr(&t, MIN_ALARM, 0x00);
    wr(&t, HOUR_ALARM, 0x10);
    wr(&t, RB, 0x22);                       /* AIE */
    wait_irq();
    g_assert_cmpint(clock_ns(), >=, t0 + 1000000000);
    g_assert_cmphex(rd(&t, SEC), ==, 0x01);
    g_assert_cmphex(rd(&t, RC), ==, 0xb0);  /* IRQF, AF, UF */
    g_assert_cmpint(level(), ==, 0);

    /* A non-matching alarm sets no AF; don't-care values match any second. */
    wr(&t, HOUR_ALARM, 0x11);
    wr(&t, RB, 0x02);
    int64_t t1 = dev_clock_advance_to(t0 + 2000000000);
    g_assert_cmphex(rd(&t, RC), ==, 0x10);
    wr(&t, SEC_ALARM, 0xc0);
    wr(&t, MIN_ALARM, 0xff);
    wr(&t, HOUR_ALARM, 0xc5);
    dev_clock_advance_to(t1 + 1000000000);
    g_assert_cmphex(rd(&t, RC), ==, 0x30);
    tm_free(&t);
}

static void test_cmos_ram(void)
{
    TestMachine t = tm_new();
    unsigned sum = 0;

    rtc_set_memory(t.rtc, 3ull << 30, 2ull << 30);
    g_assert_cmpuint(rd(&t, 0x15) | rd(&t, 0x16) << 8, ==, 640);
    g_assert_cmpuint(rd(&t, 0x17) | rd(&t, 0x18) << 8, ==, 65535);
    g_assert_cmpuint(rd(&t, 0x30) | rd(&t, 0x31) << 8, ==, 65535);
    g_assert_cmpuint(rd(&t, 0x34) | rd(&t, 0x35) << 8, ==, ((3ull << 30) - (16 << 20)) >> 16);
    g_assert_cmpuint(rd(&t, 0x5b) | rd(&t, 0x5c) << 8 | rd(&t, 0x5d) << 16, ==, (2ull << 30) >> 16);
    rtc_set_memory(t.rtc, 8 << 20, 0);
    g_assert_cmpuint(rd(&t, 0x17) | rd(&t, 0x18) << 8, ==, 7 * 1024);
    g_assert_cmpuint(rd(&t, 0x34) | rd(&t, 0x35) << 8, ==, 0);
    rtc_set_cmos(t.rtc, 0x10, 0x44);
    rtc_set_cmos(t.rtc, 0x2d, 0x99);
    for (unsigned i = 0x10; i <= 0x2d; i++) {
        sum += rd(&t, i);
    }
    g_assert_cmpuint(rd(&t, 0x2e) << 8 | rd(&t, 0x2f), ==, sum);
    /* The clock's own bytes cannot be set by the board. */
    rtc_set_cmos(t.rtc, RB, 0xff);
    rtc_set_cmos(t.rtc, 200, 0xff);
    g_assert_cmphex(rd(&t, RB), ==, 0x02);
    /* Guest RAM bytes persist; bit 7 of the index is NMI disable. */
    wr(&t, 0x80 | 0x40, 0x5a);
    g_assert_cmphex(rd(&t, 0x40), ==, 0x5a);
    wr(&t, 0x7f, 0xa5);
    g_assert_cmphex(rd(&t, 0x7f), ==, 0xa5);
    g_assert_cmphex(rtc_get_cmos(t.rtc, 0x7f), ==, 0xa5);
    g_assert_cmphex(iobus_read(t.m->pio, 0x70, 1), ==, 0xff);
    tm_free(&t);
}

static void test_vmstate(void)
{
    TestMachine t = tm_new();
    Device *d = t.m->devices;
    DevSnapshot snap;
    const uint8_t regs[10] = { 0x45, 0, 0x44, 0, 0x13, 0, 4, 0x17, 0x07, 0x30 };

    set_time(&t, 0x02, regs, 0x20);
    wr(&t, RB, 0x72);                       /* PIE, AIE, UIE */
    wr(&t, 0x50, 0x77);
    dev_clock_advance_to(clock_ns() + 2000000);       /* PF pending: the line is high */
    rd(&t, 0x50);
    g_assert_cmpint(level(), ==, 1);
    g_assert_true(dev_vmstate_save_reset(d, &snap));
    g_assert_cmpint(level(), ==, 0);
    dev_vmstate_load_check(&snap);
    g_assert_cmpint(level(), ==, 1);
    g_assert_cmphex(rd(&t, HOUR), ==, 0x13);
    g_assert_cmphex(rd(&t, 0x50), ==, 0x77);
    g_assert_cmphex(rd(&t, RC), ==, 0xc0);
    tm_free(&t);
}

static void test_hostile(void)
{
    TestMachine t = tm_new();
    GRand *r = g_rand_new_with_seed(146818);

    /* Invalid BCD digits and out-of-range fields are clamped, not trusted. */
    const uint8_t junk[10] = { 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0xff, 0xff, 0xff };
    set_time(&t, 0x02, junk, 0xff);
    g_assert_cmphex(rd(&t, MON), ==, 0x12);
    g_assert_cmphex(rd(&t, YEAR), ==, 0x99);
    clock_resume();
    for (int i = 0; i < 20000; i++) {
        unsigned port = 0x70 + g_rand_int_range(r, 0, 2);

        if (g_rand_boolean(r)) {
            iobus_write(t.m->pio, port, g_rand_int(r) & 0xff, 1);
        } else {
            iobus_read(t.m->pio, port, 1);
        }
        if (i % 1000 == 0) {
            timers_run_expired();
        }
    }
    g_autoptr(GByteArray) rec = dev_vmstate_record(t.m->devices);
    memset(rec->data + rec->len - 3, 0xee, 3);
    dev_vmstate_assert_refused(t.m->devices, rec);
    g_rand_free(r);
    tm_free(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* One context for the program: the clock keeps a pointer to it. */
    loop_ctx = g_main_context_new();
    timers_source_new(loop_ctx);
    g_test_add_func("/rtc/initial-state", test_initial_state);
    g_test_add_func("/rtc/formats", test_formats);
    g_test_add_func("/rtc/time-set-persists", test_time_set_persists);
    g_test_add_func("/rtc/register-c-and-periodic", test_register_c_and_periodic);
    g_test_add_func("/rtc/update-cycle", test_update_cycle);
    g_test_add_func("/rtc/alarm", test_alarm);
    g_test_add_func("/rtc/cmos-ram", test_cmos_ram);
    g_test_add_func("/rtc/vmstate", test_vmstate);
    g_test_add_func("/rtc/hostile", test_hostile);
    return g_test_run();
}
