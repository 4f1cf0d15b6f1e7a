/*
 * Test harness for the virtio transport and rings: a machine with one RAM
 * block of FAKE_RAM_SIZE at guest address 0, the real PCI host bridge, a
 * fake accelerator that records MSIs and DMA-written ranges, and a minimal
 * "driver" that programs a virtio device through its BAR the way Linux
 * does. Included by exactly one .c of a test program.
 */
#ifndef TESTS_DEV_VIRTIO_PCI_HARNESS_H
#define TESTS_DEV_VIRTIO_PCI_HARNESS_H

#include <string.h>
#include <glib.h>
#include "accel/accel.h"
#include "hw/device.h"
#include "hw/irq.h"
#include "hw/pci/pci.h"
#include "hw/virtio/virtio.h"
#include "system/machine.h"

#define FAKE_RAM_SIZE (1u << 20)

/* ---- fake accelerator ---- */

typedef struct FakeMsi {
    uint64_t addr;
    uint32_t data;
} FakeMsi;

static GArray *fake_msis;           /* FakeMsi */
static uint64_t fake_dma_lo = UINT64_MAX, fake_dma_hi; /* union of written ranges */
static unsigned fake_dma_calls;

static void fake_signal_msi(Machine *m, uint64_t addr, uint32_t data)
{
    FakeMsi msi = { addr, data };

    (void)m;
    g_array_append_val(fake_msis, msi);
}

static void fake_dma_written(Machine *m, uint64_t gpa, uint64_t len)
{
    (void)m;
    fake_dma_calls++;
    fake_dma_lo = MIN(fake_dma_lo, gpa);
    fake_dma_hi = MAX(fake_dma_hi, gpa + len);
}

static const AccelOps fake_accel = {
    .name = "fake",
    .signal_msi = fake_signal_msi,
    .dma_written = fake_dma_written,
};

/* ---- machine with the real PCI host bridge ---- */

static int fake_intx = -1;          /* last level of the INTx GSIs 16-19 */
static unsigned fake_intx_raises;   /* times one of them went high */

static void fake_gsi(void *opaque, int n, int level)
{
    (void)opaque;
    if (n >= 16 && n < 20) {
        fake_intx = level;
        fake_intx_raises += level != 0;
    }
}

static Machine *fake_machine_new(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = g_new0(Machine, 1);

    m->cfg.ram_size = FAKE_RAM_SIZE;
    g_assert_true(machine_ram_init(m, &err));
    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    m->accel = &fake_accel;
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        m->gsi[i] = irq_new(fake_gsi, NULL, i);
    }
    g_assert_true(pci_host_create(m, &err));
    if (!fake_msis) {
        fake_msis = g_array_new(FALSE, FALSE, sizeof(FakeMsi));
    }
    g_array_set_size(fake_msis, 0);
    fake_intx = -1;
    fake_intx_raises = 0;
    fake_dma_lo = UINT64_MAX;
    fake_dma_hi = 0;
    fake_dma_calls = 0;
    return m;
}

static G_GNUC_UNUSED void fake_machine_free(Machine *m)
{
    devices_free(m);
    for (int i = 0; i < MACHINE_NR_GSI; i++) {
        irq_free(m->gsi[i]);
    }
    iobus_free(m->pio);
    iobus_free(m->mmio);
    machine_ram_free(m);
    g_free(m);
}

static G_GNUC_UNUSED uint8_t *ram(Machine *m, uint64_t gpa)
{
    g_assert_cmpuint(gpa, <, FAKE_RAM_SIZE);
    return m->ram[0].host + gpa;
}

/* Config space through mechanism #1, as a driver reaches it. */
static G_GNUC_UNUSED uint32_t cfg_read(Machine *m, const PciDevice *d, unsigned off,
                                       unsigned size)
{
    iobus_write(m->pio, 0xcf8, 0x80000000u | d->devfn << 8 | (off & 0xfc), 4);
    return (uint32_t)iobus_read(m->pio, 0xcfc + (off & 3), size);
}

static G_GNUC_UNUSED void cfg_write(Machine *m, const PciDevice *d, unsigned off,
                                    uint32_t val, unsigned size)
{
    iobus_write(m->pio, 0xcf8, 0x80000000u | d->devfn << 8 | (off & 0xfc), 4);
    iobus_write(m->pio, 0xcfc + (off & 3), val, size);
}

/* Memory decoding and bus mastering on (MSI-X messages need the latter). */
static G_GNUC_UNUSED void pci_enable(Machine *m, const PciDevice *d)
{
    cfg_write(m, d, 0x04, 0x6, 2);
}

/* ---- the driver side: BAR 4 accesses as the bus would present them ---- */

static G_GNUC_UNUSED uint64_t bar_read(VirtioDevice *vd, uint64_t off, unsigned size)
{
    const PciBar *b = &vd->pci.bars[4];

    if (size == 8) {
        return b->ops->read(b->opaque, off, 4) |
               b->ops->read(b->opaque, off + 4, 4) << 32;
    }
    return b->ops->read(b->opaque, off, size);
}

static G_GNUC_UNUSED void bar_write(VirtioDevice *vd, uint64_t off, uint64_t val,
                                    unsigned size)
{
    const PciBar *b = &vd->pci.bars[4];

    if (size == 8) {
        b->ops->write(b->opaque, off, (uint32_t)val, 4);
        b->ops->write(b->opaque, off + 4, val >> 32, 4);
        return;
    }
    b->ops->write(b->opaque, off, val, size);
}

/* Offsets the transport uses (also found by the capability walk test). */
#define T_COMMON 0x0000
#define T_ISR 0x1000
#define T_DEVICE 0x2000
#define T_NOTIFY 0x3000

/* Negotiate @features (plus VERSION_1): ACK, DRIVER, features, FEATURES_OK. */
static G_GNUC_UNUSED bool drv_negotiate(VirtioDevice *vd, uint64_t features)
{
    features |= VIRTIO_F_VERSION_1;
    bar_write(vd, T_COMMON + 0x14, 0, 1);
    bar_write(vd, T_COMMON + 0x14, 1, 1);
    bar_write(vd, T_COMMON + 0x14, 3, 1);
    bar_write(vd, T_COMMON + 0x08, 0, 4);
    bar_write(vd, T_COMMON + 0x0c, (uint32_t)features, 4);
    bar_write(vd, T_COMMON + 0x08, 1, 4);
    bar_write(vd, T_COMMON + 0x0c, features >> 32, 4);
    bar_write(vd, T_COMMON + 0x14, 0xb, 1);
    return bar_read(vd, T_COMMON + 0x14, 1) & 8;
}

/* Program queue @q with @size entries at the given ring addresses; enable it. */
static G_GNUC_UNUSED void drv_queue(VirtioDevice *vd, unsigned q, uint16_t size,
                                    uint64_t desc, uint64_t avail, uint64_t used)
{
    bar_write(vd, T_COMMON + 0x16, q, 2);
    bar_write(vd, T_COMMON + 0x18, size, 2);
    bar_write(vd, T_COMMON + 0x20, desc, 8);
    bar_write(vd, T_COMMON + 0x28, avail, 8);
    bar_write(vd, T_COMMON + 0x30, used, 8);
    bar_write(vd, T_COMMON + 0x1c, 1, 2);
}

static G_GNUC_UNUSED void drv_ok(VirtioDevice *vd)
{
    bar_write(vd, T_COMMON + 0x14, 0xf, 1);
}

#endif
