/*
 * 8259A PIC pair driven through its ports, with a line recording INTR.
 */
#include <glib.h>
#include "dev-machine.h"
#include "hw/intc/i8259.h"
#include "hw/iobus.h"

static DevLine intr;          /* what the PIC's INTR output saw */

typedef struct Fixture {
    Machine *m;
    Pic *pic;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    (void)data;
    f->m = dev_machine_new();
    f->pic = pic_new(f->m, dev_line_new(&intr), &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->pic);
    g_assert_true(pic_find(f->m) == f->pic);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    dev_machine_free(f->m);
}

static uint8_t in(Fixture *f, uint16_t port)
{
    return iobus_read(f->m->pio, port, 1);
}

static void out(Fixture *f, uint16_t port, uint8_t val)
{
    iobus_write(f->m->pio, port, val, 1);
}

static void irq(Fixture *f, unsigned n, int level)
{
    irq_set(pic_irq_in(f->pic, n), level);
}

/* The sequence Linux's init_8259A() writes (ICW4: 8086 mode, normal EOI). */
static void linux_init(Fixture *f)
{
    out(f, 0x21, 0xff);
    out(f, 0xa1, 0xff);
    out(f, 0x20, 0x11);
    out(f, 0x21, 0x20);
    out(f, 0x21, 0x04);
    out(f, 0x21, 0x01);
    out(f, 0xa0, 0x11);
    out(f, 0xa1, 0x28);
    out(f, 0xa1, 0x02);
    out(f, 0xa1, 0x01);
    out(f, 0x21, 0x00);
    out(f, 0xa1, 0x00);
}

static uint8_t read_isr(Fixture *f, uint16_t cmd)
{
    uint8_t v;

    out(f, cmd, 0x0b);
    v = in(f, cmd);
    out(f, cmd, 0x0a);
    return v;
}

static void test_init_edge_ack_eoi(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    g_assert_cmpint(intr.level, ==, 0);
    g_assert_cmphex(in(f, 0x21), ==, 0x00);
    irq(f, 0, 1);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_true(pic_intr_level(f->pic));
    g_assert_cmphex(in(f, 0x20), ==, 0x01);          /* IRR */
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x20);
    g_assert_cmpint(intr.level, ==, 0);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x01);
    g_assert_cmphex(in(f, 0x20), ==, 0x00);          /* edge: IRR consumed */
    /* The line staying high is no new edge. */
    irq(f, 0, 1);
    out(f, 0x20, 0x20);                              /* non-specific EOI */
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x00);
    g_assert_cmpint(intr.level, ==, 0);
    irq(f, 0, 0);
    irq(f, 0, 1);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x20);
}

static void test_masking(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    out(f, 0x21, 0x01);
    g_assert_cmphex(in(f, 0x21), ==, 0x01);
    irq(f, 0, 1);
    g_assert_cmpint(intr.level, ==, 0);
    g_assert_cmphex(in(f, 0x20), ==, 0x01);          /* latched while masked */
    out(f, 0x21, 0x00);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x20);
    /* Masking the slave's cascade input on the master hides the slave. */
    out(f, 0x20, 0x20);
    out(f, 0x21, 0x04);
    irq(f, 10, 1);
    g_assert_cmpint(intr.level, ==, 0);
    out(f, 0x21, 0x00);
    g_assert_cmpint(intr.level, ==, 1);
}

static void test_cascade(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    irq(f, 10, 1);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2a);
    g_assert_cmphex(read_isr(f, 0xa0), ==, 0x04);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x04);
    g_assert_cmpint(intr.level, ==, 0);
    /* A second slave request waits for both EOIs. */
    irq(f, 12, 1);
    g_assert_cmpint(intr.level, ==, 0);
    out(f, 0xa0, 0x20);
    g_assert_cmpint(intr.level, ==, 0);              /* master IR2 still in service */
    out(f, 0x20, 0x20);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2c);
    /* Master IRQ 1 outranks the slave on IR2 when both request. */
    out(f, 0xa0, 0x20);
    out(f, 0x20, 0x20);
    irq(f, 1, 1);
    irq(f, 9, 0);
    irq(f, 9, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x21);
    g_assert_cmpint(intr.level, ==, 0);              /* IR2 below IR1 in service */
    out(f, 0x20, 0x20);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x29);
}

static void test_level_elcr(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    out(f, 0x4d0, 0xff);
    g_assert_cmphex(in(f, 0x4d0), ==, 0xf8);         /* IRQ 0-2 edge only */
    out(f, 0x4d1, 0xff);
    g_assert_cmphex(in(f, 0x4d1), ==, 0xde);         /* IRQ 8, 13 edge only */
    out(f, 0x4d0, 0x00);
    out(f, 0x4d1, 0x04);                             /* IRQ 10 level */
    irq(f, 10, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2a);
    g_assert_cmphex(in(f, 0xa0), ==, 0x04);          /* IRR follows the line */
    out(f, 0xa0, 0x20);
    out(f, 0x20, 0x20);
    g_assert_cmpint(intr.level, ==, 1);              /* still asserted: again */
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2a);
    out(f, 0xa0, 0x20);
    out(f, 0x20, 0x20);
    irq(f, 10, 0);
    g_assert_cmpint(intr.level, ==, 1);              /* asserted until the EOI... */
    g_assert_cmphex(in(f, 0xa0), ==, 0x00);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2f);  /* ...now spurious 15 */
    g_assert_cmphex(read_isr(f, 0xa0), ==, 0x00);
}

static void test_spurious_irq7(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    out(f, 0x4d0, 0x08);                             /* IRQ 3 level */
    irq(f, 3, 1);
    g_assert_cmpint(intr.level, ==, 1);
    irq(f, 3, 0);                                    /* gone before INTA */
    g_assert_cmpint(intr.level, ==, 0);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x27);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x00);    /* no in-service bit */
    /* Masked after raising INTR: also spurious. */
    irq(f, 5, 1);
    out(f, 0x21, 0x20);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x27);
}

static void test_priority_and_rotation(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    irq(f, 3, 1);
    irq(f, 1, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x21);
    g_assert_cmpint(intr.level, ==, 0);              /* 3 below 1 in service */
    irq(f, 0, 1);
    g_assert_cmpint(intr.level, ==, 1);              /* 0 nests above 1 */
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x20);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x03);
    out(f, 0x20, 0x20);                              /* ends 0, the highest */
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x02);
    out(f, 0x20, 0x61);                              /* specific EOI for 1 */
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x00);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x23);
    out(f, 0x20, 0x63);
    /* Set priority: 3 lowest, so 4 is highest; 5 beats 1. */
    out(f, 0x20, 0xc3);
    irq(f, 1, 0);
    irq(f, 1, 1);
    irq(f, 5, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x25);
    /* Rotate on non-specific EOI: 5 becomes lowest, 6 highest. */
    out(f, 0x20, 0xa0);
    irq(f, 6, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x26);
    out(f, 0x20, 0x20);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x21);
}

static void test_auto_eoi(Fixture *f, gconstpointer data)
{
    (void)data;
    out(f, 0x20, 0x11);
    out(f, 0x21, 0x08);
    out(f, 0x21, 0x04);
    out(f, 0x21, 0x03);                              /* 8086, auto-EOI */
    out(f, 0x21, 0xfb & 0xfe);                       /* only IRQ 0 and 2 open */
    irq(f, 0, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x08);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x00);
    irq(f, 0, 0);
    irq(f, 0, 1);
    g_assert_cmpint(intr.level, ==, 1);              /* no EOI needed */
}

static void test_poll_and_special_mask(Fixture *f, gconstpointer data)
{
    (void)data;
    linux_init(f);
    out(f, 0x20, 0x0c);                              /* poll */
    g_assert_cmphex(in(f, 0x20), ==, 0x00);
    irq(f, 4, 1);
    out(f, 0x20, 0x0c);
    g_assert_cmphex(in(f, 0x20), ==, 0x84);
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x10);
    g_assert_cmphex(in(f, 0x21), ==, 0x00);          /* poll is one-shot */
    /* Special mask mode: masking 4 in service lets 6 through. */
    irq(f, 6, 1);
    g_assert_cmpint(intr.level, ==, 0);
    out(f, 0x21, 0x10);
    out(f, 0x20, 0x68);                              /* set special mask */
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x26);
    out(f, 0x20, 0x48);                              /* reset special mask */
    g_assert_cmphex(read_isr(f, 0x20), ==, 0x50);
}

static void test_vmstate(Fixture *f, gconstpointer data)
{
    Device *d = (Device *)f->pic;
    g_autoptr(GByteArray) rec = NULL;
    DevSnapshot snap;

    (void)data;
    linux_init(f);
    out(f, 0x4d1, 0x04);
    out(f, 0xa1, 0x80);
    irq(f, 10, 1);
    irq(f, 1, 1);
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x21);
    out(f, 0x20, 0x20);
    irq(f, 3, 1);
    g_assert_cmpint(intr.level, ==, 1);
    g_assert_true(dev_vmstate_save_reset(d, &snap));
    g_assert_cmpint(intr.level, ==, 0);
    dev_vmstate_load_check(&snap);
    g_assert_cmpint(intr.level, ==, 1);              /* post_load re-drives INTR */
    g_assert_cmpint(pic_acknowledge(f->pic), ==, 0x2a);
    /* A corrupt record is refused and leaves the state alone. */
    rec = dev_vmstate_record(d);
    rec->data[rec->len - 1] = 0xff;                  /* slave ELCR: bit 0 edge-only */
    dev_vmstate_assert_refused(d, rec);
}

/* Every byte to every port, in every order that a fuzzer might try. */
static void test_hostile(Fixture *f, gconstpointer data)
{
    static const uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };
    GRand *rand = g_rand_new_with_seed(42);

    (void)data;
    for (unsigned i = 0; i < 20000; i++) {
        uint16_t port = ports[g_rand_int_range(rand, 0, G_N_ELEMENTS(ports))];

        switch (g_rand_int_range(rand, 0, 4)) {
        case 0:
            out(f, port, g_rand_int_range(rand, 0, 256));
            break;
        case 1:
            in(f, port);
            break;
        case 2:
            irq(f, g_rand_int_range(rand, 0, PIC_NR_IRQS), g_rand_int_range(rand, 0, 2));
            break;
        default: {
            int v = pic_acknowledge(f->pic);
            g_assert_cmpint(v, >=, 0);
            g_assert_cmpint(v, <=, 0xff);
            break;
        }
        }
        g_assert_cmpint(intr.level, ==, pic_intr_level(f->pic));
    }
    /* Wider accesses are split by the bus into byte accesses. */
    iobus_write(f->m->pio, 0x20, 0xffffffff, 4);
    iobus_read(f->m->pio, 0xa0, 4);
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/pic/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("init-edge-ack-eoi", test_init_edge_ack_eoi);
    ADD("masking", test_masking);
    ADD("cascade", test_cascade);
    ADD("level-elcr", test_level_elcr);
    ADD("spurious-irq7", test_spurious_irq7);
    ADD("priority-rotation", test_priority_and_rotation);
    ADD("auto-eoi", test_auto_eoi);
    ADD("poll-special-mask", test_poll_and_special_mask);
    ADD("vmstate", test_vmstate);
    ADD("hostile", test_hostile);
#undef ADD
    return g_test_run();
}
