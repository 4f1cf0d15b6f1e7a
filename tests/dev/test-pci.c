/*
 * The PCI bus and host bridge driven the way firmware and an OS do: config
 * cycles through 0xCF8/0xCFC and ECAM, BAR sizing and placement, INTx
 * sharing, MSI and MSI-X delivery into a recording accelerator, bus-master
 * DMA.
 */
#include <string.h>
#include <glib.h>
#include "accel/accel.h"
#include "hw/device.h"
#include "hw/pci/pci.h"
#include "system/machine.h"
#include "system/opts.h"

#define CMD_IO 0x1
#define CMD_MEM 0x2
#define CMD_MASTER 0x4
#define CMD_INTX_DISABLE 0x400
#define MSIX_ENABLE 0x8000
#define MSIX_MASKALL 0x4000

#define MAX_MSIS 16

typedef struct MsiLog {
    unsigned n;
    uint64_t addr[MAX_MSIS];
    uint32_t data[MAX_MSIS];
} MsiLog;

static MsiLog msis;

static void fake_signal_msi(Machine *m, uint64_t addr, uint32_t data)
{
    (void)m;
    g_assert_cmpuint(msis.n, <, MAX_MSIS);
    msis.addr[msis.n] = addr;
    msis.data[msis.n] = data;
    msis.n++;
}

static const AccelOps fake_accel = {
    .name = "fake",
    .signal_msi = fake_signal_msi,
};

/* A test function: its BARs answer with a pattern and record writes. */
typedef struct TestDev {
    PciDevice pci;
    uint64_t last_off, last_val;
    unsigned writes;
} TestDev;

static const DeviceClass test_dev_class = { .name = "pci-test" };

static uint64_t tdev_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return 0x5a00 + off;
}

static void tdev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    TestDev *t = opaque;

    (void)size;
    t->last_off = off;
    t->last_val = val;
    t->writes++;
}

static const IoOps tdev_ops = {
    .read = tdev_read,
    .write = tdev_write,
    .min_size = 1,
    .max_size = 4,
};

typedef struct Fixture {
    Machine *m;
    int gsi_level[MACHINE_NR_GSI];
    unsigned gsi_calls[MACHINE_NR_GSI];
} Fixture;

static void gsi_handler(void *opaque, int n, int level)
{
    Fixture *f = opaque;

    f->gsi_level[n] = level;
    f->gsi_calls[n]++;
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    (void)data;
    memset(&msis, 0, sizeof(msis));
    f->m = g_new0(Machine, 1);
    f->m->cfg.ram_size = 16 << 20;
    g_assert_true(machine_ram_init(f->m, &err));
    f->m->pio = iobus_new("pio");
    f->m->mmio = iobus_new("mmio");
    f->m->accel = &fake_accel;
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        f->m->gsi[i] = irq_new(gsi_handler, f, i);
    }
    g_assert_true(pci_host_create(f->m, &err));
    g_assert_no_error(err);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    devices_free(f->m);
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        irq_free(f->m->gsi[i]);
    }
    iobus_free(f->m->pio);
    iobus_free(f->m->mmio);
    machine_ram_free(f->m);
    g_free(f->m);
}

static uint32_t cf8_read(Fixture *f, unsigned devfn, unsigned off, unsigned size)
{
    iobus_write(f->m->pio, 0xcf8, 0x80000000u | devfn << 8 | (off & 0xfc), 4);
    return (uint32_t)iobus_read(f->m->pio, 0xcfc + (off & 3), size);
}

static void cf8_write(Fixture *f, unsigned devfn, unsigned off, uint32_t val, unsigned size)
{
    iobus_write(f->m->pio, 0xcf8, 0x80000000u | devfn << 8 | (off & 0xfc), 4);
    iobus_write(f->m->pio, 0xcfc + (off & 3), val, size);
}

static uint32_t ecam_read(Fixture *f, unsigned devfn, unsigned off, unsigned size)
{
    return (uint32_t)iobus_read(f->m->mmio, PCI_ECAM_BASE + (devfn << 12) + off, size);
}

static void ecam_write(Fixture *f, unsigned devfn, unsigned off, uint32_t val, unsigned size)
{
    iobus_write(f->m->mmio, PCI_ECAM_BASE + (devfn << 12) + off, val, size);
}

static TestDev *add_dev(Fixture *f, int devfn, uint8_t pin)
{
    g_autoptr(GError) err = NULL;
    TestDev *t = g_new0(TestDev, 1);
    const PciIdentity ident = {
        .vendor = 0x1234, .device = 0x5678, .subsys_vendor = 0x1af4, .subsys = 0x1100,
        .revision = 3, .class_code = 0xff0000, .irq_pin = pin,
    };

    g_assert_true(pci_device_init(&t->pci, f->m, &test_dev_class, NULL, &ident, devfn, &err));
    g_assert_no_error(err);
    return t;
}

static void test_host_identity(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmphex(cf8_read(f, 0, 0, 4), ==, 0x00081b36);
    g_assert_cmphex(cf8_read(f, 0, 0, 2), ==, 0x1b36);
    g_assert_cmphex(cf8_read(f, 0, 2, 2), ==, 0x0008);
    g_assert_cmphex(cf8_read(f, 0, 8, 4) >> 8, ==, 0x060000);
    g_assert_cmphex(cf8_read(f, 0, 0xe, 1), ==, 0);
    g_assert_cmphex(ecam_read(f, 0, 0, 4), ==, 0x00081b36);
    g_assert_cmphex(ecam_read(f, 0, 0xb, 1), ==, 0x06);
    g_assert_cmphex(ecam_read(f, 0, 0xa, 1), ==, 0x00);
    /* The address register reads back; narrower accesses are not it. */
    iobus_write(f->m->pio, 0xcf8, 0x80000000u, 4);
    g_assert_cmphex(iobus_read(f->m->pio, 0xcf8, 4), ==, 0x80000000u);
    iobus_write(f->m->pio, 0xcfb, 0x01, 1);
    g_assert_cmphex(iobus_read(f->m->pio, 0xcf8, 4), ==, 0x80000000u);
    /* Enable bit clear: no config cycle. */
    iobus_write(f->m->pio, 0xcf8, 0, 4);
    g_assert_cmphex(iobus_read(f->m->pio, 0xcfc, 4), ==, 0xffffffffu);
    /* 0xCF9 belongs to the reset control register (checked below). */
    g_assert_cmphex(iobus_read(f->m->pio, 0xcf9, 1), ==, 0xff);
    g_assert_true(pci_bus_of(f->m) != NULL);
    g_assert_false(pci_host_create(f->m, NULL));
}

/* A stand-in for the reset control register at 0xCF9. */
typedef struct Cf9 {
    uint8_t reg;
    unsigned writes;
} Cf9;

static uint64_t cf9_read(void *opaque, uint64_t off, unsigned size)
{
    Cf9 *c = opaque;

    g_assert_cmpuint(off, ==, 0);
    g_assert_cmpuint(size, ==, 1);
    return c->reg;
}

static void cf9_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Cf9 *c = opaque;

    g_assert_cmpuint(off, ==, 0);
    g_assert_cmpuint(size, ==, 1);
    c->reg = (uint8_t)val;
    c->writes++;
}

static const IoOps cf9_ops = { .read = cf9_read, .write = cf9_write, .max_size = 1 };

/*
 * The machine maps the reset register before the host bridge: dword
 * accesses at 0xCF8 are CONFIG_ADDRESS and never reach it; a byte at
 * 0xCF9 does.
 */
static void test_cf9_shared(void)
{
    Machine *m = g_new0(Machine, 1);
    Cf9 c = { .reg = 0x02 };
    g_autoptr(GError) err = NULL;

    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    g_assert_true(iobus_map(m->pio, 0xcf9, 1, &cf9_ops, &c, &err));
    g_assert_true(pci_host_create(m, &err));
    g_assert_no_error(err);
    iobus_write(m->pio, 0xcf8, 0x80000408u, 4);
    g_assert_cmpuint(c.writes, ==, 0);
    g_assert_cmphex(iobus_read(m->pio, 0xcf8, 4), ==, 0x80000408u);
    g_assert_cmphex(iobus_read(m->pio, 0xcf9, 1), ==, 0x02);
    iobus_write(m->pio, 0xcf9, 0x0a, 1);
    g_assert_cmpuint(c.writes, ==, 1);
    g_assert_cmphex(c.reg, ==, 0x0a);
    g_assert_cmphex(iobus_read(m->pio, 0xcf8, 2), ==, 0x0aff);
    g_assert_cmphex(iobus_read(m->pio, 0xcf8, 4), ==, 0x80000408u);
    iobus_write(m->pio, 0xcf8, 0x80000000u, 4);
    g_assert_cmphex(iobus_read(m->pio, 0xcfc, 4), ==, 0x00081b36);
    devices_free(m);
    iobus_free(m->pio);
    iobus_free(m->mmio);
    g_free(m);
}

static void test_empty_slots(Fixture *f, gconstpointer data)
{
    (void)data;
    for (unsigned devfn = 8; devfn < 256; devfn += 5) {
        g_assert_cmphex(cf8_read(f, devfn, 0, 2), ==, 0xffff);
        g_assert_cmphex(ecam_read(f, devfn, 0, 4), ==, 0xffffffffu);
        g_assert_cmphex(ecam_read(f, devfn, 0x100, 1), ==, 0xff);
    }
    /* Other buses are empty through both mechanisms. */
    iobus_write(f->m->pio, 0xcf8, 0x80010000u, 4);
    g_assert_cmphex(iobus_read(f->m->pio, 0xcfc, 4), ==, 0xffffffffu);
    g_assert_cmphex(iobus_read(f->m->mmio, PCI_ECAM_BASE + (1u << 20), 2), ==, 0xffff);
}

static void test_placement(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    TestDev *a = add_dev(f, -1, 0);
    TestDev *b = add_dev(f, PCI_DEVFN(7, 0), 0);
    TestDev *c = add_dev(f, -1, 0);
    TestDev *d = g_new0(TestDev, 1);
    const PciIdentity ident = { .vendor = 1 };

    (void)data;
    g_assert_cmpuint(a->pci.devfn, ==, PCI_DEVFN(1, 0));
    g_assert_cmpuint(b->pci.devfn, ==, PCI_DEVFN(7, 0));
    g_assert_cmpuint(c->pci.devfn, ==, PCI_DEVFN(2, 0));
    g_assert_false(pci_device_init(&d->pci, f->m, &test_dev_class, NULL, &ident,
                                   PCI_DEVFN(7, 0), &err));
    g_assert_nonnull(strstr(err->message, "taken"));
    g_free(d);
    g_assert_cmphex(cf8_read(f, PCI_DEVFN(7, 0), 0, 4), ==, 0x56781234);
    /* A second function makes function 0 multi-function. */
    add_dev(f, PCI_DEVFN(7, 3), 0);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(7, 0), 0xe, 1), ==, 0x80);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(7, 3), 0, 2), ==, 0x1234);
}

static void test_parse_addr(void)
{
    static const struct { const char *s; int devfn; bool ok; } cases[] = {
        { "x", -1, true }, { "x,addr=5", PCI_DEVFN(5, 0), true },
        { "x,addr=0x1f", PCI_DEVFN(31, 0), true }, { "x,addr=0a.3", PCI_DEVFN(10, 3), true },
        { "x,addr=20", 0, false }, { "x,addr=5.8", 0, false }, { "x,addr=", 0, false },
        { "x,addr=5.", 0, false }, { "x,addr=zz", 0, false }, { "x,addr=5.1x", 0, false },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        Opts *o = opts_parse(cases[i].s, "driver", NULL);
        GError *err = NULL;
        int devfn = 99;

        g_assert_nonnull(o);
        g_assert_cmpint(pci_parse_addr(o, &devfn, &err), ==, cases[i].ok);
        if (cases[i].ok) {
            g_assert_cmpint(devfn, ==, cases[i].devfn);
        } else {
            g_assert_nonnull(err);
            g_error_free(err);
        }
        opts_free(o);
    }
}

static TestDev *add_bar_dev(Fixture *f, int devfn)
{
    TestDev *t = add_dev(f, devfn, 1);

    pci_register_bar(&t->pci, 0, PCI_BAR_IO, 32, &tdev_ops, t);
    pci_register_bar(&t->pci, 1, PCI_BAR_MEM32, 0x1000, &tdev_ops, t);
    pci_register_bar(&t->pci, 2, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 1 << 20, &tdev_ops, t);
    return t;
}

static void test_bar_sizing(Fixture *f, gconstpointer data)
{
    unsigned devfn = PCI_DEVFN(3, 0);

    (void)data;
    add_bar_dev(f, (int)devfn);
    g_assert_cmphex(cf8_read(f, devfn, 0x10, 4), ==, 0x1);
    g_assert_cmphex(cf8_read(f, devfn, 0x14, 4), ==, 0x0);
    g_assert_cmphex(cf8_read(f, devfn, 0x18, 4), ==, 0xc);
    for (unsigned bar = 0; bar < 6; bar++) {
        cf8_write(f, devfn, 0x10 + 4 * bar, 0xffffffffu, 4);
    }
    g_assert_cmphex(cf8_read(f, devfn, 0x10, 4), ==, 0xffffffe1u);
    g_assert_cmphex(cf8_read(f, devfn, 0x14, 4), ==, 0xfffff000u);
    g_assert_cmphex(ecam_read(f, devfn, 0x18, 4), ==, 0xfff0000cu);
    g_assert_cmphex(ecam_read(f, devfn, 0x1c, 4), ==, 0xffffffffu);
    g_assert_cmphex(ecam_read(f, devfn, 0x20, 4), ==, 0);   /* unused BARs */
    g_assert_cmphex(ecam_read(f, devfn, 0x24, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, 0x30, 4), ==, 0);   /* no ROM */
}

static void test_bar_mapping(Fixture *f, gconstpointer data)
{
    unsigned devfn = PCI_DEVFN(3, 0);
    TestDev *t = add_bar_dev(f, (int)devfn);
    IoBus *mmio = f->m->mmio, *pio = f->m->pio;

    (void)data;
    ecam_write(f, devfn, 0x10, 0xc040, 4);
    ecam_write(f, devfn, 0x14, 0xc0001000u, 4);
    ecam_write(f, devfn, 0x18, 0x00100000u, 4);
    ecam_write(f, devfn, 0x1c, 0x1, 4);          /* 0x1_0010_0000 */
    /* Decoding off: nothing answers yet. */
    g_assert_cmphex(iobus_read(mmio, 0xc0001010, 4), ==, 0xffffffffu);
    g_assert_cmphex(iobus_read(pio, 0xc044, 2), ==, 0xffff);

    ecam_write(f, devfn, 0x04, CMD_MEM, 2);
    g_assert_cmphex(iobus_read(mmio, 0xc0001010, 4), ==, 0x5a10);
    g_assert_cmphex(iobus_read(mmio, 0x100100020ull, 4), ==, 0x5a20);
    g_assert_cmphex(t->pci.bars[1].mapped, ==, 0xc0001000u);
    g_assert_cmphex(iobus_read(pio, 0xc044, 2), ==, 0xffff);
    iobus_write(mmio, 0xc0001008, 0x77, 4);
    g_assert_cmpuint(t->last_off, ==, 8);
    g_assert_cmpuint(t->last_val, ==, 0x77);

    cf8_write(f, devfn, 0x04, CMD_MEM | CMD_IO, 2);
    g_assert_cmphex(iobus_read(pio, 0xc044, 2), ==, 0x5a04);

    /* Moving remaps; disabling unmaps. */
    ecam_write(f, devfn, 0x14, 0xc0200000u, 4);
    g_assert_cmphex(iobus_read(mmio, 0xc0001010, 4), ==, 0xffffffffu);
    g_assert_cmphex(iobus_read(mmio, 0xc0200010, 4), ==, 0x5a10);
    ecam_write(f, devfn, 0x04, CMD_IO, 2);
    g_assert_cmphex(iobus_read(mmio, 0xc0200010, 4), ==, 0xffffffffu);
    g_assert_cmphex(t->pci.bars[1].mapped, ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(iobus_read(pio, 0xc044, 2), ==, 0x5a04);
    ecam_write(f, devfn, 0x04, 0, 2);
    g_assert_cmphex(iobus_read(pio, 0xc044, 2), ==, 0xffff);

    /* An I/O BAR past the 64 KiB port space and a clash stay unmapped. */
    ecam_write(f, devfn, 0x10, 0xfffffff0u, 4);
    ecam_write(f, devfn, 0x04, CMD_MEM | CMD_IO, 2);
    g_assert_cmphex(t->pci.bars[0].mapped, ==, PCI_BAR_UNMAPPED);
    g_assert_cmphex(iobus_read(mmio, 0xc0200010, 4), ==, 0x5a10);

    /* Machine reset: BARs and command back to zero, all unmapped. */
    devices_reset(f->m);
    g_assert_cmphex(ecam_read(f, devfn, 0x04, 2), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, 0x14, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, 0x18, 4), ==, 0xc);
    g_assert_cmphex(iobus_read(mmio, 0xc0200010, 4), ==, 0xffffffffu);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        g_assert_cmphex(t->pci.bars[i].mapped, ==, PCI_BAR_UNMAPPED);
    }
}

static void test_capabilities(Fixture *f, gconstpointer data)
{
    TestDev *t = add_dev(f, PCI_DEVFN(5, 0), 0);
    static const uint8_t ids[] = { 0x09, 0x09, 0x05 };
    uint8_t offs[3];
    unsigned n = 0;
    g_autoptr(GError) err = NULL;

    (void)data;
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(5, 0), 0x06, 2) & 0x10, ==, 0);
    offs[0] = pci_add_capability(&t->pci, 0x09, 17);
    offs[1] = pci_add_capability(&t->pci, 0x09, 20);
    pci_register_bar(&t->pci, 4, PCI_BAR_MEM32, 0x1000, NULL, NULL);
    g_assert_true(msix_init(&t->pci, 4, 4, 0, 0x800, &err));
    offs[2] = t->pci.msix_cap;
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(5, 0), 0x06, 2) & 0x10, ==, 0x10);
    /* The walk an OS does: dword-aligned, in order, terminated. */
    for (unsigned p = ecam_read(f, PCI_DEVFN(5, 0), 0x34, 1); p; n++) {
        g_assert_cmpuint(n, <, 3);
        g_assert_cmpuint(p & 3, ==, 0);
        g_assert_cmpuint(p, >=, 0x40);
        g_assert_cmpuint(p, ==, offs[n]);
        g_assert_cmpuint(ecam_read(f, PCI_DEVFN(5, 0), p, 1), ==, n < 2 ? ids[n] : 0x11);
        p = ecam_read(f, PCI_DEVFN(5, 0), p + 1, 1);
    }
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpuint(offs[1], >=, offs[0] + 17);
    /* Full config space refuses more. */
    g_assert_cmpuint(pci_add_capability(&t->pci, 0x09, 200), ==, 0);
    g_assert_false(msix_init(&t->pci, 4, 4, 0, 0x800, &err));
}

static void test_intx_sharing(Fixture *f, gconstpointer data)
{
    TestDev *a = add_dev(f, PCI_DEVFN(1, 0), 1);   /* INTA of slot 1 */
    TestDev *b = add_dev(f, PCI_DEVFN(4, 0), 2);   /* INTB of slot 4 */
    unsigned gsi = PCI_INTX_GSI(1, 0);

    (void)data;
    g_assert_cmpuint(gsi, ==, PCI_INTX_GSI(4, 1));
    g_assert_cmpuint(gsi, ==, 17);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(4, 0), 0x3d, 1), ==, 2);
    pci_set_irq(&a->pci, 1);
    g_assert_cmpint(f->gsi_level[gsi], ==, 1);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(1, 0), 0x06, 2) & 0x8, ==, 0x8);
    pci_set_irq(&b->pci, 1);
    pci_set_irq(&b->pci, 1);
    g_assert_cmpuint(f->gsi_calls[gsi], ==, 1);
    pci_set_irq(&a->pci, 0);
    g_assert_cmpint(f->gsi_level[gsi], ==, 1);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(1, 0), 0x06, 2) & 0x8, ==, 0);
    pci_set_irq(&b->pci, 0);
    g_assert_cmpint(f->gsi_level[gsi], ==, 0);
    for (unsigned i = 0; i < MACHINE_NR_GSI; i++) {
        if (i != gsi) {
            g_assert_cmpuint(f->gsi_calls[i], ==, 0);
        }
    }
    /* Interrupt Disable holds the line low; clearing it re-asserts. */
    ecam_write(f, PCI_DEVFN(1, 0), 0x04, CMD_INTX_DISABLE, 2);
    pci_set_irq(&a->pci, 1);
    g_assert_cmpint(f->gsi_level[gsi], ==, 0);
    g_assert_cmphex(ecam_read(f, PCI_DEVFN(1, 0), 0x06, 2) & 0x8, ==, 0x8);
    ecam_write(f, PCI_DEVFN(1, 0), 0x04, 0, 2);
    g_assert_cmpint(f->gsi_level[gsi], ==, 1);
    pci_set_irq(&a->pci, 0);
    g_assert_cmpint(f->gsi_level[gsi], ==, 0);
}

/* MSI-X device at 06.0: 4 vectors in BAR 4 (table at 0, PBA at 0x800). */
static TestDev *add_msix_dev(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    TestDev *t = add_dev(f, PCI_DEVFN(6, 0), 1);

    pci_register_bar(&t->pci, 4, PCI_BAR_MEM32, 0x1000, &tdev_ops, t);
    g_assert_false(msix_init(&t->pci, 4, 3, 0, 0x800, &err));   /* no such BAR */
    g_clear_error(&err);
    g_assert_false(msix_init(&t->pci, 4, 4, 0, 0x20, &err));    /* overlap */
    g_clear_error(&err);
    g_assert_false(msix_init(&t->pci, 4, 4, 0xff8, 0x800, &err));
    g_clear_error(&err);
    g_assert_true(msix_init(&t->pci, 4, 4, 0, 0x800, &err));
    ecam_write(f, t->pci.devfn, 0x20, 0xc0010000u, 4);
    ecam_write(f, t->pci.devfn, 0x04, CMD_MEM | CMD_MASTER, 2);
    return t;
}

static void msix_program(Fixture *f, unsigned v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
    uint64_t e = 0xc0010000u + 16 * v;

    iobus_write(f->m->mmio, e, addr, 8);
    iobus_write(f->m->mmio, e + 8, data, 4);
    iobus_write(f->m->mmio, e + 12, ctrl, 4);
}

static void test_msix(Fixture *f, gconstpointer data)
{
    TestDev *t = add_msix_dev(f);
    unsigned devfn = t->pci.devfn, cap = t->pci.msix_cap;
    IoBus *mmio = f->m->mmio;

    (void)data;
    g_assert_cmphex(ecam_read(f, devfn, cap, 1), ==, 0x11);
    g_assert_cmphex(ecam_read(f, devfn, cap + 2, 2), ==, 3);
    g_assert_cmphex(ecam_read(f, devfn, cap + 4, 4), ==, 0x4);
    g_assert_cmphex(ecam_read(f, devfn, cap + 8, 4), ==, 0x804);
    /* Power-on: every vector masked; other BAR offsets reach the device. */
    g_assert_cmphex(iobus_read(mmio, 0xc001000c, 4), ==, 1);
    g_assert_cmphex(iobus_read(mmio, 0xc0010900, 4), ==, 0x5a00 + 0x900);
    iobus_write(mmio, 0xc0010904, 9, 4);
    g_assert_cmpuint(t->last_off, ==, 0x904);

    /* Not enabled: nothing happens. */
    msix_notify(&t->pci, 0);
    g_assert_false(msix_enabled(&t->pci));
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 8), ==, 0);

    ecam_write(f, devfn, cap + 2, MSIX_ENABLE, 2);
    g_assert_true(msix_enabled(&t->pci));
    g_assert_cmphex(ecam_read(f, devfn, cap + 2, 2), ==, MSIX_ENABLE | 3);
    msix_program(f, 0, 0xfee00000u, 0x4041, 1);
    msix_program(f, 2, 0xfee01000u, 0x4052, 0);
    g_assert_cmphex(iobus_read(mmio, 0xc0010000, 8), ==, 0xfee00000u);
    g_assert_cmphex(iobus_read(mmio, 0xc0010008, 4), ==, 0x4041);
    /* Masked vector: pending bit, no message. */
    msix_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 0);
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 8), ==, 0x1);
    /* The PBA is read-only. */
    iobus_write(mmio, 0xc0010800, 0, 8);
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 4), ==, 0x1);
    /* Unmasking delivers the pending message. */
    iobus_write(mmio, 0xc001000c, 0, 4);
    g_assert_cmpuint(msis.n, ==, 1);
    g_assert_cmphex(msis.addr[0], ==, 0xfee00000u);
    g_assert_cmphex(msis.data[0], ==, 0x4041);
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 8), ==, 0);
    msix_notify(&t->pci, 2);
    g_assert_cmpuint(msis.n, ==, 2);
    g_assert_cmphex(msis.data[1], ==, 0x4052);

    /* Function mask holds every vector pending until cleared. */
    ecam_write(f, devfn, cap + 2, MSIX_ENABLE | MSIX_MASKALL, 2);
    msix_notify(&t->pci, 0);
    msix_notify(&t->pci, 2);
    g_assert_cmpuint(msis.n, ==, 2);
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 4), ==, 0x5);
    ecam_write(f, devfn, cap + 3, MSIX_ENABLE >> 8, 1);
    g_assert_cmpuint(msis.n, ==, 4);
    g_assert_cmphex(iobus_read(mmio, 0xc0010800, 4), ==, 0);
    msix_notify(&t->pci, 9);                       /* out of range: ignored */
    g_assert_cmpuint(msis.n, ==, 4);

    /* MSI-X enabled: INTx stays quiet. */
    pci_set_irq(&t->pci, 1);
    g_assert_cmpint(f->gsi_level[PCI_INTX_GSI(6, 0)], ==, 0);
    ecam_write(f, devfn, cap + 2, 0, 2);
    g_assert_cmpint(f->gsi_level[PCI_INTX_GSI(6, 0)], ==, 1);
    pci_set_irq(&t->pci, 0);
    ecam_write(f, devfn, cap + 2, MSIX_ENABLE, 2);

    /* Without bus mastering the message is dropped. */
    ecam_write(f, devfn, 0x04, CMD_MEM, 2);
    msix_notify(&t->pci, 2);
    g_assert_cmpuint(msis.n, ==, 4);

    /* Reset masks everything again and disables MSI-X. */
    devices_reset(f->m);
    g_assert_false(msix_enabled(&t->pci));
    g_assert_cmphex(t->pci.msix_table[12], ==, 1);
    g_assert_cmphex(t->pci.msix_table[8], ==, 0);
}

#define MSI_ENABLE 0x0001

/* MSI device at 07.0 with INTA; the capability is the only one. */
static TestDev *add_msi_dev(Fixture *f, unsigned nvec, bool addr64, bool mask)
{
    g_autoptr(GError) err = NULL;
    TestDev *t = add_dev(f, PCI_DEVFN(7, 0), 1);

    g_assert_true(msi_init(&t->pci, nvec, addr64, mask, &err));
    g_assert_no_error(err);
    ecam_write(f, t->pci.devfn, 0x04, CMD_MEM | CMD_MASTER, 2);
    return t;
}

static void test_msi_params(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    TestDev *t = add_dev(f, PCI_DEVFN(7, 0), 1);
    static const unsigned bad[] = { 0, 3, 6, 33, 64 };

    (void)data;
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(msi_init(&t->pci, bad[i], false, false, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    g_assert_cmpuint(t->pci.msi_cap, ==, 0);
    g_assert_true(msi_init(&t->pci, 32, true, true, &err));
    g_assert_false(msi_init(&t->pci, 1, false, false, &err));
    g_clear_error(&err);
    /* Walkable, 64-bit and maskable, 32 vectors capable (log2 5), off. */
    g_assert_cmphex(ecam_read(f, t->pci.devfn, 0x34, 1), ==, t->pci.msi_cap);
    g_assert_cmphex(ecam_read(f, t->pci.devfn, t->pci.msi_cap, 1), ==, 0x05);
    g_assert_cmphex(ecam_read(f, t->pci.devfn, t->pci.msi_cap + 2, 2), ==, 0x18a);
    /* Read-only capability bits stay; the enable bit is writable. */
    ecam_write(f, t->pci.devfn, t->pci.msi_cap + 2, 0xffff, 2);
    g_assert_cmphex(ecam_read(f, t->pci.devfn, t->pci.msi_cap + 2, 2), ==, 0x1fb);
    g_assert_true(msi_enabled(&t->pci));
}

static void test_msi_32bit(Fixture *f, gconstpointer data)
{
    TestDev *t = add_msi_dev(f, 1, false, false);
    unsigned devfn = t->pci.devfn, cap = t->pci.msi_cap;

    (void)data;
    g_assert_cmphex(ecam_read(f, devfn, cap + 2, 2), ==, 0);
    /* Not enabled: nothing. */
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 0);
    ecam_write(f, devfn, cap + 4, 0xfee00003u, 4);        /* low bits reserved */
    ecam_write(f, devfn, cap + 8, 0x4031, 2);
    g_assert_cmphex(ecam_read(f, devfn, cap + 4, 4), ==, 0xfee00000u);
    /* A single-message function ignores a larger multiple message enable. */
    ecam_write(f, devfn, cap + 2, MSI_ENABLE | 0x20, 2);
    g_assert_true(msi_enabled(&t->pci));
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 1);
    g_assert_cmphex(msis.addr[0], ==, 0xfee00000u);
    g_assert_cmphex(msis.data[0], ==, 0x4031);
    msi_notify(&t->pci, 1);                               /* not enabled */
    g_assert_cmpuint(msis.n, ==, 1);

    /* MSI on: INTx stays quiet until MSI goes off. */
    pci_set_irq(&t->pci, 1);
    g_assert_cmpint(f->gsi_level[PCI_INTX_GSI(7, 0)], ==, 0);
    ecam_write(f, devfn, cap + 2, 0, 2);
    g_assert_cmpint(f->gsi_level[PCI_INTX_GSI(7, 0)], ==, 1);
    pci_set_irq(&t->pci, 0);
    ecam_write(f, devfn, cap + 2, MSI_ENABLE, 2);

    /* Without bus mastering the message is dropped. */
    ecam_write(f, devfn, 0x04, CMD_MEM, 2);
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 1);

    devices_reset(f->m);
    g_assert_false(msi_enabled(&t->pci));
    g_assert_cmphex(ecam_read(f, devfn, cap + 4, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, cap + 8, 2), ==, 0);
}

static void test_msi_multi_masked(Fixture *f, gconstpointer data)
{
    TestDev *t = add_msi_dev(f, 8, true, true);
    unsigned devfn = t->pci.devfn, cap = t->pci.msi_cap;

    (void)data;
    g_assert_cmphex(ecam_read(f, devfn, cap + 2, 2), ==, 0x186);
    ecam_write(f, devfn, cap + 4, 0xfee01000u, 4);
    ecam_write(f, devfn, cap + 8, 0x1, 4);                /* upper address */
    ecam_write(f, devfn, cap + 0xc, 0x40a7, 2);
    /* Mask bits exist for the 8 vectors only; pending is read-only. */
    ecam_write(f, devfn, cap + 0x10, 0xffffffffu, 4);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x10, 4), ==, 0xff);
    ecam_write(f, devfn, cap + 0x14, 0xffffffffu, 4);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x14, 4), ==, 0);
    ecam_write(f, devfn, cap + 0x10, 0, 4);

    /* 4 messages enabled: the vector replaces the low two data bits. */
    ecam_write(f, devfn, cap + 2, MSI_ENABLE | (2 << 4), 2);
    msi_notify(&t->pci, 2);
    g_assert_cmpuint(msis.n, ==, 1);
    g_assert_cmphex(msis.addr[0], ==, 0x1fee01000ull);
    g_assert_cmphex(msis.data[0], ==, 0x40a6);
    msi_notify(&t->pci, 4);                               /* beyond the 4 enabled */
    g_assert_cmpuint(msis.n, ==, 1);

    /* Masked: pending bit, no message; unmasking sends it. */
    ecam_write(f, devfn, cap + 0x10, 0x2, 4);
    msi_notify(&t->pci, 1);
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 2);
    g_assert_cmphex(msis.data[1], ==, 0x40a4);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x14, 4), ==, 0x2);
    ecam_write(f, devfn, cap + 0x10, 0, 4);
    g_assert_cmpuint(msis.n, ==, 3);
    g_assert_cmphex(msis.data[2], ==, 0x40a5);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x14, 4), ==, 0);

    /* Reset clears pending bits along with everything the guest wrote. */
    ecam_write(f, devfn, cap + 0x10, 0x1, 4);
    msi_notify(&t->pci, 0);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x14, 4), ==, 0x1);
    devices_reset(f->m);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x14, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, cap + 0x10, 4), ==, 0);
    g_assert_cmphex(ecam_read(f, devfn, cap + 2, 2), ==, 0x186);
    g_assert_cmpuint(msis.n, ==, 3);
}

/* With both enabled MSI-X wins; MSI comes back when MSI-X goes off. */
static void test_msi_vs_msix(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    TestDev *t = add_msix_dev(f);
    unsigned devfn = t->pci.devfn, mcap;

    (void)data;
    g_assert_true(msi_init(&t->pci, 1, false, false, &err));
    mcap = t->pci.msi_cap;
    ecam_write(f, devfn, mcap + 4, 0xfee02000u, 4);
    ecam_write(f, devfn, mcap + 8, 0x4061, 2);
    ecam_write(f, devfn, mcap + 2, MSI_ENABLE, 2);
    ecam_write(f, devfn, t->pci.msix_cap + 2, MSIX_ENABLE, 2);
    msix_program(f, 0, 0xfee00000u, 0x4041, 0);
    g_assert_true(msix_enabled(&t->pci));
    g_assert_false(msi_enabled(&t->pci));
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 0);
    msix_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 1);
    g_assert_cmphex(msis.data[0], ==, 0x4041);
    ecam_write(f, devfn, t->pci.msix_cap + 2, 0, 2);
    g_assert_true(msi_enabled(&t->pci));
    pci_set_irq(&t->pci, 1);
    g_assert_cmpint(f->gsi_level[PCI_INTX_GSI(6, 0)], ==, 0);
    msi_notify(&t->pci, 0);
    g_assert_cmpuint(msis.n, ==, 2);
    g_assert_cmphex(msis.addr[1], ==, 0xfee02000u);
    g_assert_cmphex(msis.data[1], ==, 0x4061);
}

static void test_dma(Fixture *f, gconstpointer data)
{
    TestDev *t = add_dev(f, -1, 0);
    uint8_t buf[16] = "hello, dma";
    uint8_t back[16] = { 0 };

    (void)data;
    g_assert_false(pci_dma_write(&t->pci, 0x1000, buf, sizeof(buf)));
    g_assert_false(pci_dma_read(&t->pci, 0x1000, back, sizeof(back)));
    ecam_write(f, t->pci.devfn, 0x04, CMD_MASTER, 2);
    g_assert_true(pci_dma_write(&t->pci, 0x1000, buf, sizeof(buf)));
    g_assert_true(pci_dma_read(&t->pci, 0x1000, back, sizeof(back)));
    g_assert_cmpmem(buf, sizeof(buf), back, sizeof(back));
    g_assert_false(pci_dma_read(&t->pci, (16 << 20) - 8, back, sizeof(back)));
    g_assert_false(pci_dma_write(&t->pci, PCI_MMIO32_BASE, buf, sizeof(buf)));
    g_assert_false(pci_dma_read(&t->pci, UINT64_MAX - 4, back, sizeof(back)));
}

static void test_read_only(Fixture *f, gconstpointer data)
{
    unsigned devfn = PCI_DEVFN(3, 0);
    TestDev *t = add_bar_dev(f, (int)devfn);

    (void)data;
    ecam_write(f, devfn, 0x00, 0xdeadbeef, 4);
    ecam_write(f, devfn, 0x08, 0xdeadbeef, 4);
    ecam_write(f, devfn, 0x2c, 0xdeadbeef, 4);
    ecam_write(f, devfn, 0x3d, 0xee, 1);
    g_assert_cmphex(ecam_read(f, devfn, 0x00, 4), ==, 0x56781234);
    g_assert_cmphex(ecam_read(f, devfn, 0x08, 4), ==, 0xff000003);
    g_assert_cmphex(ecam_read(f, devfn, 0x2c, 4), ==, 0x11001af4);
    g_assert_cmphex(ecam_read(f, devfn, 0x3d, 1), ==, 1);
    ecam_write(f, devfn, 0x3c, 0x0b, 1);
    g_assert_cmphex(ecam_read(f, devfn, 0x3c, 2), ==, 0x010b);
    /* Status: error bits are write-one-to-clear, the rest read-only. */
    t->pci.config[7] |= 0x80;                    /* detected parity error */
    ecam_write(f, devfn, 0x06, 0x0010, 2);
    g_assert_cmphex(ecam_read(f, devfn, 0x07, 1), ==, 0x80);
    ecam_write(f, devfn, 0x06, 0x8000, 2);
    g_assert_cmphex(ecam_read(f, devfn, 0x07, 1), ==, 0x00);
    /* Command: only the defined bits stick. */
    ecam_write(f, devfn, 0x04, 0xffff, 2);
    g_assert_cmphex(ecam_read(f, devfn, 0x04, 2), ==, 0x0547);
    /* The host bridge's identity is read-only too. */
    cf8_write(f, 0, 0, 0, 4);
    g_assert_cmphex(cf8_read(f, 0, 0, 4), ==, 0x00081b36);
}

/* Every offset, size and alignment through both mechanisms: no crash. */
static void test_hostile(Fixture *f, gconstpointer data)
{
    TestDev *t = add_msix_dev(f);
    GRand *r = g_rand_new_with_seed(1234);

    (void)data;
    add_bar_dev(f, PCI_DEVFN(3, 0));
    for (unsigned i = 0; i < 200000; i++) {
        unsigned size = 1u << g_rand_int_range(r, 0, 4);
        uint32_t val = g_rand_int(r);
        uint64_t off = g_rand_int_range(r, 0, 4) == 0 ? g_rand_int(r) % PCI_ECAM_SIZE :
                       (uint64_t)PCI_DEVFN(g_rand_int_range(r, 0, 8), 0) << 12 |
                       g_rand_int_range(r, 0, 0x1000);
        switch (g_rand_int_range(r, 0, 5)) {
        case 0:
            iobus_write(f->m->mmio, PCI_ECAM_BASE + off, val, size);
            break;
        case 1:
            (void)iobus_read(f->m->mmio, PCI_ECAM_BASE + off, size);
            break;
        case 2:
            iobus_write(f->m->pio, 0xcf8 + g_rand_int_range(r, 0, 8), val, size);
            break;
        case 3:
            iobus_write(f->m->pio, 0xcfc + g_rand_int_range(r, 0, 4), val, size);
            break;
        default:
            (void)iobus_read(f->m->pio, 0xcfc + g_rand_int_range(r, 0, 4), size);
            break;
        }
        if (i % 64 == 0) {
            msix_notify(&t->pci, g_rand_int_range(r, 0, 8));
            pci_set_irq(&t->pci, g_rand_int_range(r, 0, 2));
        }
    }
    /* Identity survived; a reset leaves everything unmapped. */
    g_assert_cmphex(ecam_read(f, 0, 0, 4), ==, 0x00081b36);
    g_assert_cmphex(ecam_read(f, t->pci.devfn, 0, 4), ==, 0x56781234);
    pci_set_irq(&t->pci, 0);
    devices_reset(f->m);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        g_assert_cmphex(t->pci.bars[i].mapped, ==, PCI_BAR_UNMAPPED);
    }
    for (unsigned g = 16; g < 20; g++) {
        g_assert_cmpint(f->gsi_level[g], ==, 0);
    }
    g_rand_free(r);
}

static void add(const char *name, void (*fn)(Fixture *, gconstpointer))
{
    g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    add("/pci/host-identity", test_host_identity);
    add("/pci/empty-slots", test_empty_slots);
    add("/pci/placement", test_placement);
    g_test_add_func("/pci/parse-addr", test_parse_addr);
    g_test_add_func("/pci/cf9-shared", test_cf9_shared);
    add("/pci/bar-sizing", test_bar_sizing);
    add("/pci/bar-mapping", test_bar_mapping);
    add("/pci/capabilities", test_capabilities);
    add("/pci/intx-sharing", test_intx_sharing);
    add("/pci/msix", test_msix);
    add("/pci/msi-params", test_msi_params);
    add("/pci/msi-32bit", test_msi_32bit);
    add("/pci/msi-multi-masked", test_msi_multi_masked);
    add("/pci/msi-vs-msix", test_msi_vs_msix);
    add("/pci/dma", test_dma);
    add("/pci/read-only", test_read_only);
    add("/pci/hostile", test_hostile);
    return g_test_run();
}
