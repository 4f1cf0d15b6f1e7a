/* Virtual clock and timers: order, re-arming, pause, main-loop wake-up. */
#include <glib.h>
#include "hw/clock.h"

typedef struct Fired {
    int order[8];
    int n;
    int64_t at[8];
} Fired;

typedef struct Ctx {
    Fired *f;
    int id;
} Ctx;

static void on_fire(void *opaque)
{
    Ctx *c = opaque;

    c->f->at[c->f->n] = clock_ns();
    c->f->order[c->f->n++] = c->id;
}

static void test_monotonic(void)
{
    int64_t a = clock_ns(), b = clock_ns();

    g_assert_cmpint(b, >=, a);
}

static void test_order(void)
{
    Fired f = { 0 };
    Ctx c[3] = { { &f, 0 }, { &f, 1 }, { &f, 2 } };
    Timer *t[3];
    int64_t now = clock_ns();

    for (int i = 0; i < 3; i++) {
        t[i] = timer_new(on_fire, &c[i]);
    }
    timer_mod(t[0], now + 3000000);
    timer_mod(t[1], now + 1000000);
    timer_mod(t[2], now + 2000000);
    g_assert_true(timer_pending(t[0]));
    g_assert_cmpint(timer_deadline(t[1]), ==, now + 1000000);
    /* Run until all fired, waiting as the function says. */
    int64_t wait;
    while ((wait = timers_run_expired()) >= 0) {
        g_usleep(wait / 1000 + 1);
    }
    g_assert_cmpint(f.n, ==, 3);
    g_assert_cmpint(f.order[0], ==, 1);
    g_assert_cmpint(f.order[1], ==, 2);
    g_assert_cmpint(f.order[2], ==, 0);
    /* Never early. */
    g_assert_cmpint(f.at[0], >=, now + 1000000);
    g_assert_cmpint(f.at[2], >=, now + 3000000);
    for (int i = 0; i < 3; i++) {
        g_assert_false(timer_pending(t[i]));
        timer_free(t[i]);
    }
}

static void test_del_and_remod(void)
{
    Fired f = { 0 };
    Ctx c = { &f, 7 };
    Timer *t = timer_new(on_fire, &c);

    timer_mod(t, clock_ns() + 1000000000);
    timer_mod(t, 0);             /* re-arm earlier: only one entry */
    g_assert_cmpint(timers_run_expired(), ==, -1);
    g_assert_cmpint(f.n, ==, 1);
    timer_mod(t, 0);
    timer_del(t);
    g_assert_cmpint(timers_run_expired(), ==, -1);
    g_assert_cmpint(f.n, ==, 1);
    timer_free(t);
}

static void test_pause(void)
{
    Fired f = { 0 };
    Ctx c = { &f, 1 };
    Timer *t = timer_new(on_fire, &c);

    clock_pause();
    int64_t a = clock_ns();
    timer_mod(t, a);
    g_usleep(2000);
    g_assert_cmpint(clock_ns(), ==, a);     /* time stands still */
    g_assert_cmpint(timers_run_expired(), ==, -1);
    g_assert_cmpint(f.n, ==, 0);            /* nothing fires while paused */
    clock_resume();
    g_assert_cmpint(clock_ns(), <, a + 1000000);   /* the pause is not counted */
    timers_run_expired();
    g_assert_cmpint(f.n, ==, 1);
    timer_free(t);
}

static void rearm(void *opaque)
{
    int *count = opaque;

    (*count)++;
}

static void test_main_loop_source(void)
{
    GMainContext *ctx = g_main_context_new();
    GSource *s = timers_source_new(ctx);
    int count = 0;
    Timer *t = timer_new(rearm, &count);
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    timer_mod(t, clock_ns() + 2000000);
    while (count == 0 && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_assert_cmpint(count, ==, 1);
    timer_free(t);
    g_source_destroy(s);
    g_source_unref(s);
    g_main_context_unref(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/clock/monotonic", test_monotonic);
    g_test_add_func("/clock/order", test_order);
    g_test_add_func("/clock/del-and-remod", test_del_and_remod);
    g_test_add_func("/clock/pause", test_pause);
    g_test_add_func("/clock/main-loop-source", test_main_loop_source);
    return g_test_run();
}
