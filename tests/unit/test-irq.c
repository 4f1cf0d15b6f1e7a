/* Interrupt lines: levels reach the handler with the right line number. */
#include <glib.h>
#include "hw/irq.h"

typedef struct Sink {
    int level[4];
    int calls;
} Sink;

static void sink_set(void *opaque, int n, int level)
{
    Sink *s = opaque;

    s->level[n] = level;
    s->calls++;
}

static void test_levels(void)
{
    Sink s = { 0 };
    IrqLine *a = irq_new(sink_set, &s, 1);
    IrqLine *b = irq_new(sink_set, &s, 3);

    irq_raise(a);
    g_assert_cmpint(s.level[1], ==, 1);
    g_assert_cmpint(s.level[3], ==, 0);
    irq_set(b, 42);        /* any non-zero level is 1 */
    g_assert_cmpint(s.level[3], ==, 1);
    irq_lower(a);
    g_assert_cmpint(s.level[1], ==, 0);
    g_assert_cmpint(s.calls, ==, 3);
    irq_free(a);
    irq_free(b);
}

static void test_pulse_and_repeat(void)
{
    Sink s = { 0 };
    IrqLine *a = irq_new(sink_set, &s, 0);

    irq_pulse(a);
    g_assert_cmpint(s.level[0], ==, 0);
    g_assert_cmpint(s.calls, ==, 2);
    /* Repeated levels are delivered too (edge sinks count them). */
    irq_raise(a);
    irq_raise(a);
    g_assert_cmpint(s.calls, ==, 4);
    irq_free(a);
}

static void test_null_line(void)
{
    irq_raise(NULL);
    irq_pulse(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/irq/levels", test_levels);
    g_test_add_func("/irq/pulse-and-repeat", test_pulse_and_repeat);
    g_test_add_func("/irq/null-line", test_null_line);
    return g_test_run();
}
