/*
 * ACPI PM registers driven through their ports: the PM timer against the
 * (paused) virtual clock, PM1 status/enable, the SCI, and S5 shutdown.
 */
#include <string.h>
#include <glib.h>
#include "dev-machine.h"
#include "hw/acpi/pm.h"
#include "hw/clock.h"
#include "hw/iobus.h"
#include "system/runstate.h"

#define STS ACPI_PM1_EVT_BLK
#define EN  (ACPI_PM1_EVT_BLK + 2)
#define CNT ACPI_PM1_CNT_BLK
#define TMR ACPI_PM_TMR_BLK
#define MASK24 0xffffffu

static GMainContext *loop_ctx;

typedef struct TestMachine {
    Machine *m;
    AcpiPm *pm;
} TestMachine;

static TestMachine tm_new(void)
{
    TestMachine t = { dev_machine_new(), NULL };
    g_autoptr(GError) err = NULL;

    t.pm = acpi_pm_create(t.m, t.m->gsi[ACPI_SCI_GSI], &err);
    g_assert_no_error(err);
    g_assert_nonnull(t.pm);
    return t;
}

static void tm_free(TestMachine *t)
{
    dev_machine_free(t->m);
}

/* The SCI line's last level. */
static int sci(void)
{
    return dev_gsi[ACPI_SCI_GSI].level;
}

static uint32_t in(TestMachine *t, unsigned port, unsigned size)
{
    return (uint32_t)iobus_read(t->m->pio, port, size);
}

static void out(TestMachine *t, unsigned port, uint32_t val, unsigned size)
{
    iobus_write(t->m->pio, port, val, size);
}

static int64_t ticks(int64_t ns)
{
    return (int64_t)((__int128)ns * ACPI_PM_TMR_HZ / 1000000000);
}

static int64_t advance(int64_t ns)
{
    return dev_clock_advance_to(clock_ns() + ns);
}

static void test_timer_rate(void)
{
    TestMachine t = tm_new();

    clock_pause();
    int64_t t0 = clock_ns();
    uint32_t v0 = in(&t, TMR, 4);
    g_assert_cmphex(v0, ==, ticks(t0) & MASK24);
    g_assert_cmphex(in(&t, TMR, 2), ==, v0 & 0xffff);
    g_assert_cmphex(in(&t, TMR + 2, 1), ==, v0 >> 16);
    g_assert_cmphex(in(&t, TMR + 3, 1), ==, 0);
    for (int i = 0; i < 4; i++) {
        int64_t t1 = advance(1234567);
        uint32_t v1 = in(&t, TMR, 4);

        g_assert_cmphex(v1, ==, ticks(t1) & MASK24);
        /* 3.579545 MHz exactly: 1 ms is 3579 or 3580 ticks. */
        g_assert_cmpint(((v1 - v0) & MASK24), ==, ticks(t1) - ticks(t0));
    }
    int64_t t2 = advance(10000000);
    g_assert_cmpint((in(&t, TMR, 4) - v0) & MASK24, >=, 35795);
    g_assert_cmpint((in(&t, TMR, 4) - v0) & MASK24, <=, ticks(t2 - t0) + 1);
    out(&t, TMR, 0, 4);                       /* read-only */
    g_assert_cmphex(in(&t, TMR, 4), ==, ticks(t2) & MASK24);
    g_assert_cmphex(in(&t, TMR + 4, 4), ==, 0xffffffff);   /* nothing at 0x60c */
    tm_free(&t);
}

/* TMR_STS at each bit-23 toggle, an SCI with TMR_EN, until the counter wraps. */
static void test_timer_overflow_and_wrap(void)
{
    TestMachine t = tm_new();
    bool wrapped = false;
    unsigned toggles = 0;

    clock_pause();
    g_assert_cmphex(in(&t, STS, 2), ==, 0);
    out(&t, EN, ACPI_PM1_TMR, 2);
    g_assert_cmpint(sci(), ==, 0);
    while (!wrapped) {
        uint32_t before = in(&t, TMR, 4);

        dev_run_until_high(loop_ctx, &dev_gsi[ACPI_SCI_GSI]);
        uint32_t after = in(&t, TMR, 4);
        g_assert_cmphex(in(&t, STS, 2), ==, ACPI_PM1_TMR);
        g_assert_cmphex(after & 0x800000, !=, before & 0x800000);   /* bit 23 toggled */
        g_assert_cmphex(after & 0x7fffff, <, 0x100000);             /* just now */
        wrapped = after < before;
        toggles++;
        out(&t, STS, ACPI_PM1_TMR, 2);        /* write 1 to clear */
        g_assert_cmpint(sci(), ==, 0);
        g_assert_cmphex(in(&t, STS, 2), ==, 0);
    }
    g_assert_cmpuint(toggles, <=, 2);
    /* TMR_EN off: no timer runs, TMR_STS still latches for polling. */
    out(&t, EN, 0, 2);
    clock_resume();
    g_assert_cmpint(timers_run_expired(), ==, -1);
    tm_free(&t);
}

static void test_status_w1c_and_power_button(void)
{
    TestMachine t = tm_new();

    g_assert_cmpint(sci(), ==, 0);
    g_assert_cmphex(in(&t, CNT, 2), ==, ACPI_PM1_CNT_SCI_EN);
    /* Button pressed while disabled: status set, no SCI. */
    acpi_pm_power_button(t.pm);
    g_assert_cmphex(in(&t, STS, 2), ==, ACPI_PM1_PWRBTN);
    g_assert_cmpint(sci(), ==, 0);
    out(&t, STS, 0, 2);                       /* writing 0 keeps it */
    out(&t, STS, ACPI_PM1_WAK_STS | ACPI_PM1_RTC, 2);   /* other 1s do not set */
    g_assert_cmphex(in(&t, STS, 2), ==, ACPI_PM1_PWRBTN);
    out(&t, STS + 1, ACPI_PM1_PWRBTN >> 8, 1);          /* byte write to the high half */
    g_assert_cmphex(in(&t, STS, 2), ==, 0);

    /* Enabled: the button raises the SCI; clearing the status lowers it. */
    out(&t, EN, ACPI_PM1_PWRBTN, 2);
    g_assert_cmphex(in(&t, EN, 2), ==, ACPI_PM1_PWRBTN);
    g_assert_cmphex(in(&t, STS, 4), ==, (uint32_t)ACPI_PM1_PWRBTN << 16);
    acpi_pm_power_button(t.pm);
    g_assert_cmpint(sci(), ==, 1);
    out(&t, STS, ACPI_PM1_PWRBTN, 2);
    g_assert_cmpint(sci(), ==, 0);
    /* A pending status rises when its enable is set later. */
    out(&t, EN, 0, 2);
    acpi_pm_power_button(t.pm);
    g_assert_cmpint(sci(), ==, 0);
    out(&t, EN + 1, ACPI_PM1_PWRBTN >> 8, 1);
    g_assert_cmpint(sci(), ==, 1);
    /* SCI_EN clear masks the SCI. */
    out(&t, CNT, 0, 2);
    g_assert_cmpint(sci(), ==, 0);
    out(&t, CNT, ACPI_PM1_CNT_SCI_EN, 2);
    g_assert_cmpint(sci(), ==, 1);
    /* Reset clears status and enables. */
    t.m->devices->cls->reset(t.m->devices);
    g_assert_cmpint(sci(), ==, 0);
    g_assert_cmphex(in(&t, STS, 2), ==, 0);
    g_assert_cmphex(in(&t, EN, 2), ==, 0);
    tm_free(&t);
}

static void test_vmstate(void)
{
    TestMachine t = tm_new();
    Device *d = t.m->devices;
    DevSnapshot snap;

    clock_pause();
    out(&t, EN, ACPI_PM1_PWRBTN | ACPI_PM1_TMR, 2);
    out(&t, CNT, ACPI_PM1_CNT_SCI_EN | 5 << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    acpi_pm_power_button(t.pm);
    g_assert_cmpint(sci(), ==, 1);
    g_assert_true(dev_vmstate_save_reset(d, &snap));
    g_assert_cmpint(sci(), ==, 0);
    dev_vmstate_load_check(&snap);
    g_assert_cmpint(sci(), ==, 1);
    g_assert_cmphex(in(&t, CNT, 2), ==, ACPI_PM1_CNT_SCI_EN | 5 << ACPI_PM1_CNT_SLP_TYP_SHIFT);

    /* Reserved bits in a saved state are refused. */
    g_autoptr(GByteArray) rec = dev_vmstate_record(d);
    memset(rec->data + rec->len - 6, 0xff, 6);
    dev_vmstate_assert_refused(d, rec);
    tm_free(&t);
}

/* Runs last but one: a shutdown request is once per process. */
static void test_sleep(void)
{
    TestMachine t = tm_new();
    uint16_t sci_en = ACPI_PM1_CNT_SCI_EN;

    g_assert_false(runstate_shutdown_requested());
    /* SLP_TYP = S5 without SLP_EN, other types with it: no shutdown. */
    out(&t, CNT, sci_en | ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    for (unsigned typ = 0; typ < 8; typ++) {
        if (typ != ACPI_S5_SLP_TYP) {
            out(&t, CNT, sci_en | typ << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN, 2);
            /* SLP_EN is write-only. */
            g_assert_cmphex(in(&t, CNT, 2), ==, sci_en | typ << ACPI_PM1_CNT_SLP_TYP_SHIFT);
        }
    }
    g_assert_false(runstate_shutdown_requested());
    /* What Linux's acpi_hw_legacy_sleep() does: SLP_TYP first, then SLP_EN. */
    uint16_t cnt = in(&t, CNT, 2) & ~ACPI_PM1_CNT_SLP_TYP;
    cnt |= ACPI_S5_SLP_TYP << ACPI_PM1_CNT_SLP_TYP_SHIFT;
    out(&t, CNT, cnt, 2);
    g_assert_false(runstate_shutdown_requested());
    out(&t, CNT, cnt | ACPI_PM1_CNT_SLP_EN, 2);
    g_assert_true(runstate_shutdown_requested());
    g_assert_cmpint(runstate_exit_status(), ==, 0);
    g_assert_cmpint(runstate_shutdown_cause(), ==, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    tm_free(&t);
}

static void test_hostile(void)
{
    TestMachine t = tm_new();
    GRand *r = g_rand_new_with_seed(0xacb1);

    for (int i = 0; i < 20000; i++) {
        unsigned port = ACPI_PM_BASE + g_rand_int_range(r, 0, 16);
        unsigned size = 1u << g_rand_int_range(r, 0, 3);

        if (g_rand_boolean(r)) {
            out(&t, port, g_rand_int(r), size);
        } else {
            in(&t, port, size);
        }
    }
    g_rand_free(r);
    tm_free(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* One context for the program: the clock keeps a pointer to it. */
    loop_ctx = g_main_context_new();
    timers_source_new(loop_ctx);
    g_test_add_func("/acpi-pm/timer-rate", test_timer_rate);
    g_test_add_func("/acpi-pm/timer-overflow-and-wrap", test_timer_overflow_and_wrap);
    g_test_add_func("/acpi-pm/status-w1c-and-power-button", test_status_w1c_and_power_button);
    g_test_add_func("/acpi-pm/vmstate", test_vmstate);
    g_test_add_func("/acpi-pm/sleep", test_sleep);
    g_test_add_func("/acpi-pm/hostile", test_hostile);
    return g_test_run();
}
