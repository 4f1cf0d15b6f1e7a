/*
 * The pc machine's PCI host bridge (include/hw/pci/pci.h): function 00.0
 * of bus 0, configuration mechanism #1 at ports 0xCF8 (address) and
 * 0xCFC-0xCFF (data), and an ECAM window at PCI_ECAM_BASE that the ACPI
 * MCFG table describes.
 *
 * Reference: PCI Local Bus Specification 3.0, 3.2.2.3.2 (configuration
 * mechanism #1); PCI Express Base 4.0, 7.2.2 (ECAM).
 *
 * The identity is the generic PCIe host bridge of QEMU's virtual platforms
 * (1b36:0008): no chipset quirks in Linux key on it, so the OS takes its
 * description from ACPI alone.
 *
 * Port 0xCF9 belongs to the reset control register (hw/x86/reset-control.c)
 * but sits inside CONFIG_ADDRESS (0xCF8-0xCFB). Chipsets decode only a
 * dword access at 0xCF8 as CONFIG_ADDRESS and send a byte at 0xCF9 to the
 * reset register. I/O ranges cannot overlap and the bus would split a
 * dword access across ranges (putting a devfn byte into the reset
 * register), so the bridge takes over 0xCF8-0xCFB as one range and passes
 * the byte at 0xCF9 on to whoever had mapped it (the machine creates the
 * reset register first). The data window 0xCFC-0xCFF is a second range.
 */
#include "hw/pci/pci-internal.h"
#include "hw/x86/reset-control.h"
#include "kemu/error.h"

#define CONFIG_ADDRESS_PORT 0xcf8
#define CONFIG_DATA_PORT 0xcfc
#define CONFIG_ENABLE 0x80000000u
/* Enable, bus, device, function and dword register; the rest reads 0. */
#define CONFIG_ADDRESS_MASK 0x80fffffcu

#define HOST_VENDOR 0x1b36
#define HOST_DEVICE 0x0008
#define HOST_CLASS 0x060000           /* bridge, host */

typedef struct PciHostState {
    uint32_t config_address;          /* latched through 0xCF8 */
} PciHostState;

typedef struct PciHost {
    PciDevice pci;                    /* first: 00.0 itself */
    PciBus bus;
    PciHostState s;
    /* The 1-byte register at 0xCF9 we pass accesses on to, if any. */
    const IoOps *cf9_ops;
    void *cf9_opaque;
} PciHost;

static uint32_t all_ones(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/*
 * Only a dword access is the address register. Narrower ones are plain
 * I/O: the byte at 0xCF9 goes to the reset register, the rest is empty.
 */
static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    PciHost *h = opaque;
    uint64_t v = 0;

    if (off == 0 && size == 4) {
        return h->s.config_address;
    }
    for (unsigned i = 0; i < size; i++) {
        uint64_t byte = 0xff;
        if (off + i == RESET_CONTROL_PORT - CONFIG_ADDRESS_PORT && h->cf9_ops) {
            byte = h->cf9_ops->read(h->cf9_opaque, 0, 1) & 0xff;
        }
        v |= byte << (8 * i);
    }
    return v;
}

static void cf8_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PciHost *h = opaque;

    if (off == 0 && size == 4) {
        h->s.config_address = (uint32_t)val & CONFIG_ADDRESS_MASK;
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        if (off + i == RESET_CONTROL_PORT - CONFIG_ADDRESS_PORT && h->cf9_ops) {
            h->cf9_ops->write(h->cf9_opaque, 0, (val >> (8 * i)) & 0xff, 1);
        }
    }
}

static const IoOps cf8_ops = {
    .read = cf8_read,
    .write = cf8_write,
    .min_size = 1,
    .max_size = 4,
};

/* Bus 0 only: other buses have nothing behind them. */
static bool cfc_target(PciHost *h, unsigned *devfn, unsigned *reg, uint64_t off)
{
    uint32_t a = h->s.config_address;

    if (!(a & CONFIG_ENABLE) || ((a >> 16) & 0xff) != 0) {
        return false;
    }
    *devfn = (a >> 8) & 0xff;
    *reg = (a & 0xfc) + (unsigned)off;
    return true;
}

static uint64_t cfc_read(void *opaque, uint64_t off, unsigned size)
{
    PciHost *h = opaque;
    unsigned devfn, reg;

    if (!cfc_target(h, &devfn, &reg, off)) {
        return all_ones(size);
    }
    return pci_bus_config_read(&h->bus, devfn, reg, size);
}

static void cfc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PciHost *h = opaque;
    unsigned devfn, reg;

    if (cfc_target(h, &devfn, &reg, off)) {
        pci_bus_config_write(&h->bus, devfn, reg, (uint32_t)val, size);
    }
}

static const IoOps cfc_ops = {
    .read = cfc_read,
    .write = cfc_write,
    .min_size = 1,
    .max_size = 4,
};

/* ECAM offset: bus << 20 | devfn << 12 | register. */
static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    PciHost *h = opaque;

    if (off >> 20) {
        return all_ones(size);
    }
    return pci_bus_config_read(&h->bus, (unsigned)(off >> 12) & 0xff,
                               (unsigned)off & 0xfff, size);
}

static void ecam_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PciHost *h = opaque;

    if (!(off >> 20)) {
        pci_bus_config_write(&h->bus, (unsigned)(off >> 12) & 0xff, (unsigned)off & 0xfff,
                             (uint32_t)val, size);
    }
}

static const IoOps ecam_ops = {
    .read = ecam_read,
    .write = ecam_write,
    .min_size = 1,
    .max_size = 4,
};

static void host_reset(Device *dev)
{
    PciHost *h = (PciHost *)dev;

    h->s.config_address = 0;
    pci_bus_reset(&h->bus);
}

static void host_finalize(Device *dev)
{
    PciHost *h = (PciHost *)dev;
    Machine *m = h->bus.m;

    pci_bus_release(&h->bus);
    iobus_unmap(m->pio, CONFIG_ADDRESS_PORT);
    iobus_unmap(m->pio, CONFIG_DATA_PORT);
    iobus_unmap(m->mmio, PCI_ECAM_BASE);
}

static const VMStateField host_fields[] = {
    VMSTATE_FIELD(PciHostState, config_address),
    VMSTATE_END,
};

static const VMStateDesc host_vmsd = {
    .name = "pci-host",
    .version = 1,
    .fields = host_fields,
};

static const DeviceClass pci_host_class = {
    .name = "pci-host",
    .reset = host_reset,
    .vmsd = &host_vmsd,
    .vmstate_offset = offsetof(PciHost, s),
    .finalize = host_finalize,
};

typedef struct Cf9Search {
    const IoOps *ops;
    void *opaque;
    uint64_t base, len;
} Cf9Search;

static void find_cf9(void *ctx, uint64_t base, uint64_t len, const IoOps *ops, void *opaque)
{
    Cf9Search *c = ctx;

    if (base <= CONFIG_ADDRESS_PORT + 3 && base + len > CONFIG_ADDRESS_PORT) {
        *c = (Cf9Search){ .ops = ops, .opaque = opaque, .base = base, .len = len };
    }
}

/* Take over a 1-byte register already mapped at 0xCF9 (see the top). */
static bool adopt_cf9(PciHost *h, Machine *m, GError **errp)
{
    Cf9Search c = { 0 };

    iobus_foreach(m->pio, find_cf9, &c);
    if (!c.ops) {
        return true;
    }
    if (c.base != RESET_CONTROL_PORT || c.len != 1 || (c.ops->min_size > 1)) {
        error_setg(errp, "ports 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                   "x overlap CONFIG_ADDRESS", c.base, c.base + c.len - 1);
        return false;
    }
    h->cf9_ops = c.ops;
    h->cf9_opaque = c.opaque;
    iobus_unmap(m->pio, RESET_CONTROL_PORT);
    return true;
}

PciBus *pci_bus_of(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &pci_host_class) {
            return &((PciHost *)d)->bus;
        }
    }
    return NULL;
}

bool pci_host_create(Machine *m, GError **errp)
{
    static const PciIdentity ident = {
        .vendor = HOST_VENDOR,
        .device = HOST_DEVICE,
        .subsys_vendor = HOST_VENDOR,
        .subsys = 0x1100,
        .class_code = HOST_CLASS,
    };
    PciHost *h;

    if (pci_bus_of(m)) {
        error_setg(errp, "PCI host bridge: the machine already has one");
        return false;
    }
    h = g_new0(PciHost, 1);
    pci_bus_init(&h->bus, m);
    if (!adopt_cf9(h, m, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, CONFIG_ADDRESS_PORT, 4, &cf8_ops, h, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, CONFIG_DATA_PORT, 4, &cfc_ops, h, errp)) {
        iobus_unmap(m->pio, CONFIG_ADDRESS_PORT);
        goto fail;
    }
    if (!iobus_map(m->mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &ecam_ops, h, errp)) {
        iobus_unmap(m->pio, CONFIG_ADDRESS_PORT);
        iobus_unmap(m->pio, CONFIG_DATA_PORT);
        goto fail;
    }
    pci_bus_attach(&h->bus, &h->pci, &ident, PCI_DEVFN(0, 0));
    device_add(m, &h->pci.dev, &pci_host_class, NULL);
    return true;
fail:
    if (h->cf9_ops) {
        iobus_map(m->pio, RESET_CONTROL_PORT, 1, h->cf9_ops, h->cf9_opaque, NULL);
    }
    g_prefix_error(errp, "PCI host bridge: ");
    g_free(h);
    return false;
}
