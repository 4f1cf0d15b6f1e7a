/*
 * I/O APIC driven through IOREGSEL/IOWIN, delivering into the local APICs
 * of a hand-built two-vCPU machine (and the PIC, for ExtINT and the PC
 * GSI wiring). The accelerator only counts kicks.
 */
#include <string.h>
#include <glib.h>
#include "accel/accel.h"
#include "dev-machine.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/intc/ioapic.h"
#include "hw/iobus.h"
#include "system/bql.h"

#define NCPUS 2

#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LDR 0xd0
#define LAPIC_IRR 0x200
#define LAPIC_TMR 0x180

typedef struct Fixture {
    Machine *m;
    Vcpu *cpu[NCPUS];
    Ioapic *io;
    Pic *pic;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    (void)data;
    f->m = dev_machine_new();
    dev_machine_add_cpus(f->m, NCPUS);
    for (unsigned i = 0; i < NCPUS; i++) {
        f->cpu[i] = f->m->cpus[i];
    }
    f->pic = pic_new(f->m, irq_new(apic_pic_intr_handler, f->m, 0), &err);
    g_assert_no_error(err);
    f->io = ioapic_new(f->m, &err);
    g_assert_no_error(err);
    g_assert_true(ioapic_find(f->m) == f->io);
    ioapic_pc_wire_gsis(f->m, f->pic, f->io);
    for (unsigned i = 0; i < NCPUS; i++) {
        set_current_vcpu(f->cpu[i]);
        iobus_write(f->m->mmio, APIC_DEFAULT_BASE + LAPIC_SVR, 0x1ff, 4);
    }
    set_current_vcpu(NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    dev_machine_free(f->m);
}

static uint32_t io_read(Fixture *f, unsigned idx)
{
    iobus_write(f->m->mmio, IOAPIC_BASE, idx, 4);
    return iobus_read(f->m->mmio, IOAPIC_BASE + 0x10, 4);
}

static void io_write(Fixture *f, unsigned idx, uint32_t val)
{
    iobus_write(f->m->mmio, IOAPIC_BASE, idx, 4);
    iobus_write(f->m->mmio, IOAPIC_BASE + 0x10, val, 4);
}

static void set_entry(Fixture *f, unsigned pin, uint64_t e)
{
    io_write(f, 0x10 + 2 * pin + 1, e >> 32);
    io_write(f, 0x10 + 2 * pin, (uint32_t)e);
}

static uint64_t get_entry(Fixture *f, unsigned pin)
{
    return (uint64_t)io_read(f, 0x10 + 2 * pin + 1) << 32 | io_read(f, 0x10 + 2 * pin);
}

static bool lapic_bit(Fixture *f, unsigned cpu, unsigned reg, unsigned v)
{
    uint32_t val;

    set_current_vcpu(f->cpu[cpu]);
    val = iobus_read(f->m->mmio, APIC_DEFAULT_BASE + reg + (v / 32) * 0x10, 4);
    set_current_vcpu(NULL);
    return val & (1u << (v % 32));
}

static void lapic_eoi(Fixture *f, unsigned cpu)
{
    set_current_vcpu(f->cpu[cpu]);
    iobus_write(f->m->mmio, APIC_DEFAULT_BASE + LAPIC_EOI, 0, 4);
    set_current_vcpu(NULL);
}

static void gsi(Fixture *f, unsigned n, int level)
{
    irq_set(ioapic_irq_in(f->io, n), level);
}

static void test_registers(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmphex(io_read(f, 0x00), ==, IOAPIC_DEFAULT_ID << 24);
    g_assert_cmphex(io_read(f, 0x01), ==, 0x00170020);
    for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
        g_assert_cmphex(get_entry(f, pin), ==, 0x10000);
    }
    io_write(f, 0x00, 0xff000000);
    g_assert_cmphex(io_read(f, 0x00), ==, 0x0f000000);
    g_assert_cmphex(io_read(f, 0x02), ==, 0x0f000000);
    io_write(f, 0x01, 0);                              /* read-only */
    g_assert_cmphex(io_read(f, 0x01), ==, 0x00170020);
    g_assert_cmphex(iobus_read(f->m->mmio, IOAPIC_BASE, 4), ==, 0x01);
    /* Delivery status and remote IRR cannot be written. */
    set_entry(f, 3, 0xff000000ffffffffull);
    g_assert_cmphex(get_entry(f, 3), ==, 0xff000000ull << 32 | 0x1afff);
    g_assert_cmphex(io_read(f, 0x10 + 2 * 24), ==, 0);  /* past the table */
}

static void test_edge(Fixture *f, gconstpointer data)
{
    (void)data;
    set_entry(f, 4, 1ull << 56 | 0x34);                /* fixed, physical 1 */
    gsi(f, 4, 1);
    g_assert_true(lapic_bit(f, 1, LAPIC_IRR, 0x34));
    g_assert_false(lapic_bit(f, 1, LAPIC_TMR, 0x34));
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x34));
    g_assert_cmphex(atomic_load(&f->cpu[1]->irq_request), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x34);
    gsi(f, 4, 1);                                      /* no new edge */
    g_assert_false(lapic_bit(f, 1, LAPIC_IRR, 0x34));
    gsi(f, 4, 0);
    gsi(f, 4, 1);
    g_assert_true(lapic_bit(f, 1, LAPIC_IRR, 0x34));
    /* A masked edge is lost, also after unmasking. */
    gsi(f, 5, 0);
    set_entry(f, 5, 0x10035);
    gsi(f, 5, 1);
    set_entry(f, 5, 0x35);
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x35));
}

static void test_level_remote_irr(Fixture *f, gconstpointer data)
{
    (void)data;
    set_entry(f, 9, 0x8039);                           /* level, fixed, APIC 0 */
    gsi(f, 9, 1);
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x39));
    g_assert_true(lapic_bit(f, 0, LAPIC_TMR, 0x39));
    g_assert_cmphex(get_entry(f, 9) & 0x4000, ==, 0x4000);  /* remote IRR */
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x39);
    gsi(f, 9, 1);                                      /* held by remote IRR */
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x39));
    lapic_eoi(f, 0);                                   /* still asserted: again */
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x39));
    g_assert_cmphex(get_entry(f, 9) & 0x4000, ==, 0x4000);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x39);
    gsi(f, 9, 0);
    lapic_eoi(f, 0);
    g_assert_cmphex(get_entry(f, 9) & 0x4000, ==, 0);
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x39));
    /* The EOI register of version 0x20 ends it as well. */
    gsi(f, 9, 1);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x39);
    gsi(f, 9, 0);
    iobus_write(f->m->mmio, IOAPIC_BASE + 0x40, 0x39, 4);
    g_assert_cmphex(get_entry(f, 9) & 0x4000, ==, 0);
    /* A masked level pin is sent when unmasked. */
    set_entry(f, 10, 0x1803a);
    gsi(f, 10, 1);
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x3a));
    set_entry(f, 10, 0x803a);
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x3a));
}

static void test_modes(Fixture *f, gconstpointer data)
{
    (void)data;
    /* Logical flat destination. */
    set_current_vcpu(f->cpu[1]);
    iobus_write(f->m->mmio, APIC_DEFAULT_BASE + LAPIC_LDR, 0x02000000, 4);
    set_current_vcpu(NULL);
    set_entry(f, 11, 2ull << 56 | 0x800 | 0x3b);
    gsi(f, 11, 1);
    g_assert_true(lapic_bit(f, 1, LAPIC_IRR, 0x3b));
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x3b));
    /* Lowest priority to both: the lowest-numbered (physical broadcast). */
    set_entry(f, 12, 0xffull << 56 | 0x100 | 0x3c);
    gsi(f, 12, 1);
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x3c));
    g_assert_false(lapic_bit(f, 1, LAPIC_IRR, 0x3c));
    /* NMI and INIT. */
    set_entry(f, 13, 1ull << 56 | 0x400);
    gsi(f, 13, 1);
    g_assert_cmphex(atomic_load(&f->cpu[1]->irq_request) & VCPU_IRQ_NMI, ==, VCPU_IRQ_NMI);
    set_entry(f, 14, 1ull << 56 | 0x500);
    gsi(f, 14, 1);
    g_assert_cmphex(atomic_load(&f->cpu[1]->irq_request) & VCPU_IRQ_INIT, ==, VCPU_IRQ_INIT);
    /* ExtINT: the vector comes from the PIC. */
    iobus_write(f->m->pio, 0x20, 0x11, 1);
    iobus_write(f->m->pio, 0x21, 0x30, 1);
    iobus_write(f->m->pio, 0x21, 0x04, 1);
    iobus_write(f->m->pio, 0x21, 0x01, 1);
    iobus_write(f->m->pio, 0x21, 0x00, 1);
    set_current_vcpu(f->cpu[0]);
    iobus_write(f->m->mmio, APIC_DEFAULT_BASE + 0x350, 0x10700, 4);  /* LINT0 masked */
    set_current_vcpu(NULL);
    while (apic_acknowledge_interrupt(f->cpu[0]) >= 0) {
        lapic_eoi(f, 0);
    }
    set_entry(f, 0, 0x700);
    irq_raise(pic_irq_in(f->pic, 3));
    gsi(f, 0, 1);
    g_assert_cmphex(atomic_load(&f->cpu[0]->irq_request), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x33);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, -1);
}

static void test_pc_wiring(Fixture *f, gconstpointer data)
{
    (void)data;
    set_entry(f, 2, 0x42);
    set_entry(f, 0, 0x40);
    set_entry(f, 4, 0x44);
    set_entry(f, 20, 0x8054);
    irq_raise(f->m->gsi[0]);                           /* PIT: pin 2 */
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x42));
    g_assert_false(lapic_bit(f, 0, LAPIC_IRR, 0x40));
    irq_raise(f->m->gsi[4]);
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x44));
    irq_raise(f->m->gsi[20]);                          /* PCI: I/O APIC only */
    g_assert_true(lapic_bit(f, 0, LAPIC_IRR, 0x54));
    /* The same ISA lines reached the PIC (IRR, read through OCW3). */
    iobus_write(f->m->pio, 0x20, 0x0a, 1);
    g_assert_cmphex(iobus_read(f->m->pio, 0x20, 1), ==, 0x11);
    irq_raise(f->m->gsi[2]);                           /* the cascade: nowhere */
    g_assert_cmphex(iobus_read(f->m->pio, 0x20, 1), ==, 0x11);
}

static void test_vmstate(Fixture *f, gconstpointer data)
{
    Device *d = (Device *)f->io;
    g_autoptr(GByteArray) rec = NULL;

    (void)data;
    io_write(f, 0, 0x03000000);
    set_entry(f, 9, 0x8039);
    set_entry(f, 17, 1ull << 56 | 0x851);
    gsi(f, 9, 1);
    iobus_write(f->m->mmio, IOAPIC_BASE, 0x13, 4);
    g_assert_true(dev_vmstate_round_trip(d));
    g_assert_cmphex(get_entry(f, 9) & 0x4000, ==, 0x4000);
    /* Reserved bits in an entry: refused. */
    rec = dev_vmstate_record(d);
    memset(rec->data + rec->len - 6 - 8, 0xff, 8);      /* redir[23] */
    dev_vmstate_assert_refused(d, rec);
}

static void test_hostile(Fixture *f, gconstpointer data)
{
    GRand *rand = g_rand_new_with_seed(3);

    (void)data;
    for (unsigned n = 0; n < 50000; n++) {
        uint64_t off = g_rand_int_range(rand, 0, IOAPIC_SIZE);
        unsigned size = 1u << g_rand_int_range(rand, 0, 4);

        switch (g_rand_int_range(rand, 0, 4)) {
        case 0:
            io_write(f, g_rand_int_range(rand, 0, 256), g_rand_int(rand));
            break;
        case 1:
            iobus_write(f->m->mmio, IOAPIC_BASE + off, g_rand_int(rand), size);
            iobus_read(f->m->mmio, IOAPIC_BASE + off, size);
            break;
        case 2:
            gsi(f, g_rand_int_range(rand, 0, IOAPIC_NR_PINS), g_rand_int_range(rand, 0, 2));
            break;
        default: {
            unsigned cpu = g_rand_int_range(rand, 0, NCPUS);
            if (apic_acknowledge_interrupt(f->cpu[cpu]) >= 0) {
                lapic_eoi(f, cpu);
            }
            break;
        }
        }
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bql_lock();
#define ADD(name, fn) \
    g_test_add("/ioapic/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("registers", test_registers);
    ADD("edge", test_edge);
    ADD("level-remote-irr", test_level_remote_irr);
    ADD("modes", test_modes);
    ADD("pc-wiring", test_pc_wiring);
    ADD("vmstate", test_vmstate);
    ADD("hostile", test_hostile);
#undef ADD
    ret = g_test_run();
    bql_unlock();
    return ret;
}
