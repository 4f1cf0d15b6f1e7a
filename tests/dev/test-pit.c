/*
 * i8254 PIT and port 0x61 driven through their ports. The virtual clock
 * is paused wherever a value must be exact: with it stopped, a counter is
 * a pure function of the two clock readings, which the test recomputes.
 */
#include <string.h>
#include <glib.h>
#include "dev-machine.h"
#include "hw/clock.h"
#include "hw/iobus.h"
#include "hw/timer/i8254.h"

#define CH0   0x40
#define CH2   0x42
#define CTRL  0x43
#define PORTB 0x61

/*
 * The main-loop context with the timer source. One for the whole program:
 * the clock keeps a pointer to it for wake-ups.
 */
static GMainContext *loop_ctx;

typedef struct TestMachine {
    Machine *m;
} TestMachine;

static TestMachine tm_new(void)
{
    TestMachine t = { dev_machine_new() };
    g_autoptr(GError) err = NULL;

    g_assert_true(pit_create(t.m, t.m->gsi[0], &err));
    g_assert_no_error(err);
    return t;
}

static void tm_free(TestMachine *t)
{
    dev_machine_free(t->m);
}

/* Rising levels seen on OUT0's line. */
static unsigned pulses(void)
{
    return dev_gsi[0].raises;
}

static uint8_t in(TestMachine *t, unsigned port)
{
    return (uint8_t)iobus_read(t->m->pio, port, 1);
}

static void out(TestMachine *t, unsigned port, uint8_t val)
{
    iobus_write(t->m->pio, port, val, 1);
}

static int64_t ticks(int64_t ns)
{
    return (int64_t)((__int128)ns * PIT_FREQ_HZ / 1000000000);
}

/* Let at least @ns of virtual time pass, then stop the clock; returns now. */
static int64_t advance(int64_t ns)
{
    return dev_clock_advance_to(clock_ns() + ns);
}

static uint16_t latch_read(TestMachine *t, unsigned ch)
{
    out(t, CTRL, (uint8_t)(ch << 6));
    uint8_t lo = in(t, CH0 + ch);
    return (uint16_t)(lo | in(t, CH0 + ch) << 8);
}

static void program(TestMachine *t, unsigned ch, unsigned mode, uint16_t count)
{
    out(t, CTRL, (uint8_t)(ch << 6 | 0x30 | mode << 1));
    out(t, CH0 + ch, count & 0xff);
    out(t, CH0 + ch, count >> 8);
}

static void test_mode0_latch_exact(void)
{
    TestMachine t = tm_new();

    clock_pause();
    int64_t t0 = clock_ns();
    program(&t, 0, 0, 50000);
    g_assert_cmpuint(latch_read(&t, 0), ==, 50000);
    for (int i = 0; i < 3; i++) {
        int64_t t1 = advance(3000000);
        int64_t d = ticks(t1) - ticks(t0);
        g_assert_cmpuint(latch_read(&t, 0), ==, (uint16_t)(50000 - d));
    }
    /* Past terminal count the counter wraps and keeps counting down. */
    int64_t t1 = advance(45000000);
    g_assert_cmpuint(latch_read(&t, 0), ==, (uint16_t)(50000 - (ticks(t1) - ticks(t0))));
    tm_free(&t);
}

static void test_mode0_latch_running(void)
{
    TestMachine t = tm_new();
    int64_t t0 = clock_ns();

    program(&t, 0, 0, 0);       /* 0 = 65536 */
    int64_t t_lo = clock_ns();
    while (clock_ns() < t0 + 10000000) {
        g_usleep(100);          /* poll interval, not synchronisation */
    }
    int64_t before = clock_ns();
    uint16_t v = latch_read(&t, 0);
    int64_t after = clock_ns();
    /* The count was loaded between t0 and t_lo, latched between before and after. */
    g_assert_cmpint(v, <=, 65536 - (ticks(before) - ticks(t_lo)));
    g_assert_cmpint(v, >=, 65536 - (ticks(after) - ticks(t0)));
    g_assert_cmpint(v, <, 65536 - 11000);
    tm_free(&t);
}

static bool has_pulses(void *opaque)
{
    return pulses() >= *(unsigned *)opaque;
}

/* Run @ctx until @n pulses arrived. */
static void wait_pulses(GMainContext *ctx, unsigned n)
{
    dev_wait_until(ctx, has_pulses, &n);
}

static void irq_rate(unsigned mode)
{
    TestMachine t = tm_new();
    GMainContext *ctx = loop_ctx;
    const uint16_t n = 59659;   /* 20 Hz: a busy host rarely delays a timer 50 ms */

    clock_pause();
    int64_t t0 = clock_ns();
    program(&t, 0, mode, n);
    clock_resume();
    wait_pulses(ctx, 8);
    clock_pause();
    int64_t t1 = clock_ns();
    int64_t edges = (ticks(t1) - ticks(t0)) / n;
    /* Every edge is one pulse, unless the loop has not run its timer yet. */
    g_assert_cmpint(pulses(), <=, edges);
    g_assert_cmpint(pulses(), >=, edges - 1);
    g_assert_cmpint(pulses(), >=, 8);
    /* OUT0 at this instant, via read-back status bit 7. */
    int64_t phase = (ticks(t1) - ticks(t0)) % n;
    out(&t, CTRL, 0xe2);
    uint8_t status = in(&t, CH0);
    int high = mode == 2 ? phase != n - 1 : phase < (n + 1) / 2;
    g_assert_cmpuint(status, ==, high << 7 | 0x30 | mode << 1);

    /* A control word without a count stops the channel and its timer. */
    out(&t, CTRL, 0x34);
    clock_resume();
    g_assert_cmpint(timers_run_expired(), ==, -1);
    tm_free(&t);
}

static void test_mode2_irq_rate(void)
{
    irq_rate(2);
}

static void test_mode3_irq_rate(void)
{
    irq_rate(3);
}

static void test_mode0_irq_once(void)
{
    TestMachine t = tm_new();
    GMainContext *ctx = loop_ctx;

    program(&t, 0, 0, 1193);    /* 1 ms */
    wait_pulses(ctx, 1);
    g_assert_cmpint(timers_run_expired(), ==, -1);   /* one shot: disarmed */
    g_assert_cmpuint(pulses(), ==, 1);
    tm_free(&t);
}

/* Linux's pit_calibrate_tsc(): channel 2, mode 0, poll OUT2 on port 0x61. */
static void test_calibrate_out2(void)
{
    TestMachine t = tm_new();
    const unsigned latch = 1193182 / 100;   /* CAL_MS = 10 */
    unsigned polls = 0;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    clock_pause();
    int64_t t0 = ticks(clock_ns());
    out(&t, PORTB, (in(&t, PORTB) & ~0x02) | 0x01);
    out(&t, CTRL, 0xb0);
    out(&t, CH2, latch & 0xff);
    out(&t, CH2, latch >> 8);
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0);
    clock_resume();
    for (;;) {
        int64_t before = ticks(clock_ns());
        uint8_t v = in(&t, PORTB);
        int64_t after = ticks(clock_ns());

        polls++;
        if (v & 0x20) {
            g_assert_cmpint(after - t0, >=, latch);
            break;
        }
        g_assert_cmpint(before - t0, <, latch);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    g_assert_cmpuint(polls, >, 1);
    /* OUT2 stays high: mode 0 does not restart by itself. */
    clock_pause();
    g_assert_cmphex(in(&t, PORTB) & 0x21, ==, 0x21);
    tm_free(&t);
}

/* quick_pit_calibrate(): direct LSB/MSB reads of a 0xffff mode 0 count. */
static void test_quick_calibrate_msb(void)
{
    TestMachine t = tm_new();

    clock_pause();
    int64_t t0 = clock_ns();
    out(&t, PORTB, (in(&t, PORTB) & ~0x02) | 0x01);
    out(&t, CTRL, 0xb0);
    out(&t, CH2, 0xff);
    out(&t, CH2, 0xff);
    for (int i = 0; i < 4; i++) {
        int64_t t1 = advance(200000);
        uint16_t expect = (uint16_t)(0xffff - (ticks(t1) - ticks(t0)));

        g_assert_cmphex(in(&t, CH2), ==, expect & 0xff);
        g_assert_cmphex(in(&t, CH2), ==, expect >> 8);
    }
    tm_free(&t);
}

static void test_gate2(void)
{
    TestMachine t = tm_new();

    clock_pause();
    out(&t, PORTB, 0x00);                     /* gate 2 low */
    program(&t, 2, 0, 30000);                 /* 25 ms: a late poll does not reach it */
    advance(2000000);
    g_assert_cmpuint(latch_read(&t, 2), ==, 30000);  /* suspended */
    g_assert_cmphex(in(&t, PORTB) & 0x21, ==, 0);
    int64_t t0 = clock_ns();
    out(&t, PORTB, 0x01);
    int64_t t1 = advance(300000);
    uint16_t v = (uint16_t)(30000 - (ticks(t1) - ticks(t0)));
    g_assert_cmpuint(latch_read(&t, 2), ==, v);
    out(&t, PORTB, 0x00);                     /* suspend again ... */
    advance(2000000);
    g_assert_cmpuint(latch_read(&t, 2), ==, v);
    int64_t t2 = clock_ns();
    out(&t, PORTB, 0x01);                     /* ... and resume */
    int64_t t3 = advance(30000000);
    int64_t d = ticks(t1) - ticks(t0) + ticks(t3) - ticks(t2);
    g_assert_cmpint(d, >=, 30000);
    g_assert_cmpuint(latch_read(&t, 2), ==, (uint16_t)(30000 - d));
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0x20);

    /* Mode 1: the gate's rising edge triggers; OUT low until N ticks. */
    program(&t, 2, 1, 30000);
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0x20);
    out(&t, PORTB, 0x00);
    int64_t t4 = clock_ns();
    out(&t, PORTB, 0x01);
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0);
    int64_t t5 = advance(200000);
    g_assert_cmpuint(latch_read(&t, 2), ==, (uint16_t)(30000 - (ticks(t5) - ticks(t4))));
    advance(30000000);
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0x20);
    tm_free(&t);
}

static void test_square_wave_out2(void)
{
    TestMachine t = tm_new();
    const unsigned n = 1193;    /* ~1 kHz, odd: high half is 597 ticks */

    clock_pause();
    out(&t, PORTB, 0x03);
    int64_t t0 = clock_ns();
    program(&t, 2, 3, n);
    for (int i = 0; i < 8; i++) {
        int64_t t1 = advance(137000);
        int64_t phase = (ticks(t1) - ticks(t0)) % n;

        g_assert_cmphex(in(&t, PORTB) & 0x20, ==, phase < (n + 1) / 2 ? 0x20 : 0);
    }
    /* Gate low forces OUT high in modes 2 and 3. */
    out(&t, PORTB, 0x00);
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0x20);
    tm_free(&t);
}

static void test_read_back(void)
{
    TestMachine t = tm_new();

    clock_pause();
    out(&t, PORTB, 0x01);
    out(&t, CTRL, 0xb0);
    out(&t, CTRL, 0xe8);                      /* status of channel 2 */
    g_assert_cmphex(in(&t, CH2), ==, 0x70);   /* OUT low, null count, word, mode 0 */
    out(&t, CH2, 0x10);
    out(&t, CH2, 0x00);
    int64_t t0 = clock_ns();
    out(&t, CTRL, 0xe8);
    g_assert_cmphex(in(&t, CH2), ==, 0x30);   /* count loaded */

    /* Count and status of channels 0 and 2: status first, then the count. */
    program(&t, 0, 2, 0x1234);
    out(&t, CTRL, 0xca);
    g_assert_cmphex(in(&t, CH0), ==, 0x80 | 0x30 | 2 << 1);
    g_assert_cmphex(in(&t, CH0), ==, 0x34);
    g_assert_cmphex(in(&t, CH0), ==, 0x12);
    g_assert_cmphex(in(&t, CH2), ==, 0x30);
    g_assert_cmphex(in(&t, CH2), ==, 0x10);
    g_assert_cmphex(in(&t, CH2), ==, 0x00);

    /* A latch holds until read: a second latch does not replace it. */
    out(&t, CTRL, 0x80);
    int64_t t1 = advance(20000);
    out(&t, CTRL, 0x80);
    g_assert_cmphex(in(&t, CH2), ==, 0x10);
    g_assert_cmphex(in(&t, CH2), ==, 0x00);
    g_assert_cmpuint(latch_read(&t, 2), ==, (uint16_t)(0x10 - (ticks(t1) - ticks(t0))));
    g_assert_cmphex(in(&t, PORTB) & 0x20, ==, 0x20);
    out(&t, CTRL, 0xe8);
    g_assert_cmphex(in(&t, CH2), ==, 0xb0);   /* OUT high after terminal count */
    tm_free(&t);
}

static void test_bcd_and_byte_access(void)
{
    TestMachine t = tm_new();

    clock_pause();
    int64_t t0 = clock_ns();
    out(&t, CTRL, 0x31);                      /* ch0, word, mode 0, BCD */
    out(&t, CH0, 0x00);
    out(&t, CH0, 0x10);                       /* 1000 decimal */
    g_assert_cmphex(latch_read(&t, 0), ==, 0x1000);
    int64_t t1 = advance(300000);
    /* BCD counts down modulo 10000. */
    unsigned v = (unsigned)(((1000 - (ticks(t1) - ticks(t0))) % 10000 + 10000) % 10000);
    g_assert_cmphex(latch_read(&t, 0), ==,
                    (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);

    /* LSB only: the MSB is zero. MSB only: the LSB is zero. */
    out(&t, CTRL, 0x90);                      /* ch2, LSB, mode 0 */
    out(&t, CH2, 0x77);
    g_assert_cmphex(in(&t, CH2), ==, 0x77);
    g_assert_cmphex(in(&t, CH2), ==, 0x77);
    out(&t, CTRL, 0xa0);                      /* ch2, MSB, mode 0 */
    out(&t, CH2, 0x12);
    g_assert_cmphex(in(&t, CH2), ==, 0x12);
    out(&t, CTRL, 0x80);
    g_assert_cmphex(in(&t, CH2), ==, 0x12);   /* one latched byte, the MSB */
    g_assert_cmphex(in(&t, CH2), ==, 0x12);
    tm_free(&t);
}

static void test_port61_refresh(void)
{
    TestMachine t = tm_new();
    unsigned seen[2] = { 0, 0 };

    clock_pause();
    while (!seen[0] || !seen[1]) {
        int64_t now = advance(7000);
        unsigned bit = (in(&t, PORTB) >> 4) & 1;

        g_assert_cmpuint(bit, ==, (now / PIT_REFRESH_NS) & 1);
        seen[bit]++;
    }
    out(&t, PORTB, 0xff);
    g_assert_cmphex(in(&t, PORTB) & 0xcf, ==, 0x0f);   /* bits 6-7 read 0 */
    tm_free(&t);
}

static void test_hostile(void)
{
    TestMachine t = tm_new();
    GRand *r = g_rand_new_with_seed(8254);

    /* Modes 6 and 7 are 2 and 3. */
    out(&t, CTRL, 0x3c);
    out(&t, CTRL, 0xe2);
    g_assert_cmphex(in(&t, CH0), ==, 0x80 | 0x40 | 0x30 | 2 << 1);
    /* Reading in the middle of a word write, latching mid-read. */
    out(&t, CTRL, 0x30);
    out(&t, CH0, 0x05);
    in(&t, CH0);
    out(&t, CTRL, 0x00);
    in(&t, CH0);
    out(&t, CH0, 0x00);
    in(&t, CH0);
    in(&t, CH0);
    g_assert_cmphex(in(&t, CTRL), ==, 0xff);
    /* Count 1 in modes 2 and 3 is illegal; it must not flood the loop. */
    program(&t, 0, 2, 1);
    program(&t, 0, 3, 1);
    for (int i = 0; i < 20000; i++) {
        unsigned port = g_rand_int_range(r, 0, 5);

        port = port == 4 ? PORTB : CH0 + port;
        if (g_rand_boolean(r)) {
            out(&t, port, (uint8_t)g_rand_int(r));
        } else {
            in(&t, port);
        }
    }
    /* Garbage state is refused on load. */
    g_autoptr(GByteArray) rec = dev_vmstate_record(t.m->devices);
    memset(rec->data + rec->len - 60, 0xff, 50);
    dev_vmstate_assert_refused(t.m->devices, rec);
    g_rand_free(r);
    tm_free(&t);
}

static void test_vmstate(void)
{
    TestMachine t = tm_new();
    Device *d = t.m->devices;
    DevSnapshot snap;

    clock_pause();
    out(&t, PORTB, 0x03);
    program(&t, 0, 2, 0x4000);
    program(&t, 2, 0, 0x8000);
    out(&t, CTRL, 0x50);                      /* ch1 LSB mode 0 ... */
    out(&t, CTRL, 0xc4);                      /* ... latched count and status */
    uint16_t before = latch_read(&t, 0);
    g_assert_true(dev_vmstate_save_reset(d, &snap));
    g_assert_cmphex(in(&t, PORTB) & 0x0f, ==, 0);
    dev_vmstate_load_check(&snap);
    g_assert_cmpuint(latch_read(&t, 0), ==, before);
    g_assert_cmphex(in(&t, PORTB) & 0x0f, ==, 0x03);
    g_assert_cmphex(in(&t, CH0 + 1), ==, 0x50);   /* status survived */
    tm_free(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    loop_ctx = g_main_context_new();
    timers_source_new(loop_ctx);
    g_test_add_func("/pit/mode0-latch-exact", test_mode0_latch_exact);
    g_test_add_func("/pit/mode0-latch-running", test_mode0_latch_running);
    g_test_add_func("/pit/mode2-irq-rate", test_mode2_irq_rate);
    g_test_add_func("/pit/mode3-irq-rate", test_mode3_irq_rate);
    g_test_add_func("/pit/mode0-irq-once", test_mode0_irq_once);
    g_test_add_func("/pit/calibrate-out2", test_calibrate_out2);
    g_test_add_func("/pit/quick-calibrate-msb", test_quick_calibrate_msb);
    g_test_add_func("/pit/gate2", test_gate2);
    g_test_add_func("/pit/square-wave-out2", test_square_wave_out2);
    g_test_add_func("/pit/read-back", test_read_back);
    g_test_add_func("/pit/bcd-and-byte-access", test_bcd_and_byte_access);
    g_test_add_func("/pit/port61-refresh", test_port61_refresh);
    g_test_add_func("/pit/hostile", test_hostile);
    g_test_add_func("/pit/vmstate", test_vmstate);
    return g_test_run();
}
