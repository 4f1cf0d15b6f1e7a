/*
 * The PCI bus (include/hw/pci/pci.h): configuration space with per-byte
 * write and write-one-to-clear masks, BAR sizing and mapping on the
 * machine's I/O buses, the capability list, INTx and bus-master DMA.
 *
 * Reference: PCI Local Bus Specification 3.0, 6.1 (configuration header),
 * 6.2.5 (base address registers), 6.7 (capabilities list).
 */
#include <string.h>
#include "hw/pci/pci-internal.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define PCI_IO_SPACE_END 0x10000ull   /* x86 port space */
#define PCI_CAP_ALIGN 4
#define PCI_SLOTS 32
#define PCI_FUNCS 8

static bool ranges_overlap(unsigned a, unsigned alen, unsigned b, unsigned blen)
{
    return a < b + blen && b < a + alen;
}

static uint32_t all_ones(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/* A BAR declared without ops (e.g. one that only holds MSI-X). */
static uint64_t null_bar_read(void *opaque G_GNUC_UNUSED, uint64_t off G_GNUC_UNUSED,
                              unsigned size G_GNUC_UNUSED)
{
    return 0;
}

static void null_bar_write(void *opaque G_GNUC_UNUSED, uint64_t off G_GNUC_UNUSED,
                           uint64_t val G_GNUC_UNUSED, unsigned size G_GNUC_UNUSED)
{
}

static const IoOps null_bar_ops = {
    .read = null_bar_read,
    .write = null_bar_write,
};

void pci_bus_init(PciBus *bus, Machine *m)
{
    memset(bus, 0, sizeof(*bus));
    bus->m = m;
    for (unsigned i = 0; i < PCI_NUM_DEVFN; i++) {
        bus->funcs[i].msix_bar = -1;
    }
}

static bool slot_empty(PciBus *bus, unsigned slot)
{
    for (unsigned fn = 0; fn < PCI_FUNCS; fn++) {
        if (bus->funcs[PCI_DEVFN(slot, fn)].d) {
            return false;
        }
    }
    return true;
}

/*
 * Linux scans functions 1-7 of a slot only when function 0 says it is
 * multi-function: keep that bit right whichever function arrives first.
 */
static void update_multifunction(PciBus *bus, unsigned slot)
{
    PciDevice *f0 = bus->funcs[PCI_DEVFN(slot, 0)].d;
    bool multi = false;

    for (unsigned fn = 1; fn < PCI_FUNCS; fn++) {
        multi |= bus->funcs[PCI_DEVFN(slot, fn)].d != NULL;
    }
    if (f0) {
        f0->config[PCI_HEADER_TYPE] = multi ? PCI_HEADER_MULTI_FUNCTION : 0;
    }
}

void pci_bus_attach(PciBus *bus, PciDevice *d, const PciIdentity *ident, unsigned devfn)
{
    uint8_t *c = d->config;

    d->bus = bus;
    d->devfn = (uint8_t)devfn;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        d->bars[i].mapped = PCI_BAR_UNMAPPED;
    }
    pci_set16(c + PCI_VENDOR_ID, ident->vendor);
    pci_set16(c + PCI_DEVICE_ID, ident->device);
    c[PCI_REVISION_ID] = ident->revision;
    c[PCI_CLASS_PROG] = (uint8_t)ident->class_code;
    pci_set16(c + PCI_CLASS_PROG + 1, (uint16_t)(ident->class_code >> 8));
    pci_set16(c + PCI_SUBSYSTEM_VENDOR_ID, ident->subsys_vendor);
    pci_set16(c + PCI_SUBSYSTEM_ID, ident->subsys);
    c[PCI_INTERRUPT_PIN] = ident->irq_pin <= 4 ? ident->irq_pin : 0;

    pci_set16(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
              PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    pci_set16(d->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;

    bus->funcs[devfn] = (PciFunc){ .d = d, .msix_bar = -1 };
    update_multifunction(bus, devfn >> 3);
}

bool pci_device_init(PciDevice *d, Machine *m, const DeviceClass *cls, const char *id,
                     const PciIdentity *ident, int devfn, GError **errp)
{
    PciBus *bus = pci_bus_of(m);

    if (!bus) {
        error_setg(errp, "%s: the machine has no PCI bus", cls->name);
        return false;
    }
    if (devfn < 0) {
        for (unsigned slot = 1; slot < PCI_SLOTS && devfn < 0; slot++) {
            if (slot_empty(bus, slot)) {
                devfn = PCI_DEVFN((int)slot, 0);
            }
        }
        if (devfn < 0) {
            error_setg(errp, "%s: no free PCI slot", cls->name);
            return false;
        }
    } else if (devfn >= PCI_NUM_DEVFN) {
        error_setg(errp, "%s: PCI address %d is out of range", cls->name, devfn);
        return false;
    } else if (bus->funcs[devfn].d) {
        error_setg(errp, "%s: PCI address %02x.%x is taken by %s", cls->name, devfn >> 3,
                   devfn & 7, bus->funcs[devfn].d->dev.cls->name);
        return false;
    }
    pci_bus_attach(bus, d, ident, (unsigned)devfn);
    device_add(m, &d->dev, cls, id);
    return true;
}

bool pci_parse_addr(Opts *o, int *devfn, GError **errp)
{
    const char *s = opts_get(o, "addr");
    const char *p;
    char *end;
    unsigned long slot, fn = 0;

    *devfn = -1;
    if (!s) {
        return true;
    }
    /* QEMU spells the slot in hex: addr=0x5, addr=05, addr=05.1. */
    p = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
    if (!g_ascii_isxdigit(*p)) {
        goto bad;
    }
    slot = strtoul(p, &end, 16);
    if (*end == '.') {
        if (end[1] < '0' || end[1] > '7' || end[2]) {
            goto bad;
        }
        fn = (unsigned long)(end[1] - '0');
    } else if (*end) {
        goto bad;
    }
    if (slot >= PCI_SLOTS) {
        goto bad;
    }
    *devfn = PCI_DEVFN((int)slot, (int)fn);
    return true;
bad:
    error_setg(errp, "addr=%s: expected SLOT[.FN] with SLOT 0-1f (hex) and FN 0-7", s);
    return false;
}

void pci_register_bar(PciDevice *d, int bar, uint8_t type, uint64_t size,
                      const IoOps *ops, void *opaque)
{
    bool io = type & PCI_BAR_IO;
    bool mem64 = type & PCI_BAR_MEM64;
    uint64_t mask = ~(size - 1);
    uint32_t low;

    if (bar < 0 || bar >= PCI_NUM_BARS || (mem64 && bar == PCI_NUM_BARS - 1) ||
        size == 0 || (size & (size - 1)) || size < (io ? 4u : 16u) ||
        (io && (type & ~PCI_BAR_IO)) || (!io && !(type & (PCI_BAR_MEM32 | PCI_BAR_MEM64))) ||
        (!mem64 && size > (io ? 0x10000ull : 0x80000000ull))) {
        log_err("pci: %s: invalid BAR %d (type 0x%x, size 0x%" G_GINT64_MODIFIER "x)",
                d->dev.cls ? d->dev.cls->name : "device", bar, type, size);
        return;
    }
    d->bars[bar] = (PciBar){ .size = size, .type = type, .ops = ops, .opaque = opaque,
                             .mapped = PCI_BAR_UNMAPPED };
    if (io) {
        low = 0x1;
    } else {
        low = (mem64 ? 0x4u : 0) | ((type & PCI_BAR_PREFETCH) ? 0x8u : 0);
    }
    pci_set32(d->config + PCI_BAR0 + 4 * bar, low);
    pci_set32(d->wmask + PCI_BAR0 + 4 * bar, (uint32_t)mask & (io ? ~0x3u : ~0xfu));
    if (mem64) {
        d->bars[bar + 1] = (PciBar){ .mapped = PCI_BAR_UNMAPPED };
        pci_set32(d->config + PCI_BAR0 + 4 * (bar + 1), 0);
        pci_set32(d->wmask + PCI_BAR0 + 4 * (bar + 1), (uint32_t)(mask >> 32));
    }
}

/* The address the guest programmed into BAR @bar. */
static uint64_t bar_address(const PciDevice *d, int bar)
{
    uint32_t low = pci_cfg32(d, PCI_BAR0 + 4 * bar);

    if (d->bars[bar].type & PCI_BAR_IO) {
        return low & ~0x3u;
    }
    uint64_t addr = low & ~0xfu;
    if (d->bars[bar].type & PCI_BAR_MEM64) {
        addr |= (uint64_t)pci_cfg32(d, PCI_BAR0 + 4 * (bar + 1)) << 32;
    }
    return addr;
}

void pci_bar_update(PciDevice *d, int bar)
{
    PciBar *b = &d->bars[bar];
    PciFunc *f = pci_func_of(d);
    bool io = b->type & PCI_BAR_IO;
    uint16_t cmd = pci_cfg16(d, PCI_COMMAND);
    IoBus *iob = io ? d->bus->m->pio : d->bus->m->mmio;
    uint64_t addr = bar_address(d, bar);
    uint64_t want = PCI_BAR_UNMAPPED;
    g_autoptr(GError) err = NULL;

    if (!b->size) {
        return;
    }
    /* Address 0 means "not placed" (as firmware and QEMU treat it). */
    if ((cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) && addr != 0 &&
        addr + b->size - 1 >= addr && (!io || addr + b->size <= PCI_IO_SPACE_END)) {
        want = addr;
    }
    if (want == b->mapped) {
        return;
    }
    if (b->mapped != PCI_BAR_UNMAPPED) {
        iobus_unmap(iob, b->mapped);
        b->mapped = PCI_BAR_UNMAPPED;
        if (d->bar_mapped) {
            d->bar_mapped(d, bar, PCI_BAR_UNMAPPED);
        }
    }
    if (want == PCI_BAR_UNMAPPED) {
        return;
    }
    const IoOps *ops = b->ops ? b->ops : &null_bar_ops;
    void *opaque = b->opaque;
    if (f->msix_bar == bar) {
        ops = &f->msix_bar_ops;
        opaque = d;
    }
    if (!iobus_map(iob, want, b->size, ops, opaque, &err)) {
        /* Sizing writes and clashes leave the BAR unreachable, as on hardware. */
        log_guest_error("pci %02x.%x: BAR %d at 0x%" G_GINT64_MODIFIER "x not mapped: %s\n",
                        d->devfn >> 3, d->devfn & 7, bar, want, err->message);
        return;
    }
    b->mapped = want;
    if (d->bar_mapped) {
        d->bar_mapped(d, bar, want);
    }
}

static void update_bars(PciDevice *d)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        pci_bar_update(d, i);
    }
}

/*
 * Recompute whether @d drives its INTx line, and the shared GSI: a GSI is
 * high while any function routed to it asserts.
 */
void pci_update_intx(PciDevice *d)
{
    PciFunc *f = pci_func_of(d);
    uint8_t pin = d->config[PCI_INTERRUPT_PIN];
    bool want = d->intx_level && pin &&
                !(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) && !msix_enabled(d) &&
                !msi_enabled(d);

    if (want == f->intx_asserted) {
        return;
    }
    unsigned gsi = PCI_INTX_GSI(d->devfn >> 3, pin - 1u);
    unsigned *count = &d->bus->intx_count[gsi - 16];
    f->intx_asserted = want;
    if (want) {
        if ((*count)++ == 0) {
            irq_set(d->bus->m->gsi[gsi], 1);
        }
    } else if (--(*count) == 0) {
        irq_set(d->bus->m->gsi[gsi], 0);
    }
}

void pci_set_irq(PciDevice *d, int level)
{
    if (!d->bus) {
        return;
    }
    d->intx_level = level != 0;
    if (d->intx_level) {
        d->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    } else {
        d->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
    }
    pci_update_intx(d);
}

uint8_t pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t size)
{
    PciFunc *f;
    unsigned off, last = PCI_CAPABILITY_LIST;

    if (!d->bus || size < 2) {
        log_err("pci: capability 0x%02x: no bus or size %u", cap_id, size);
        return 0;
    }
    f = pci_func_of(d);
    off = f->cap_next ? f->cap_next : PCI_STD_HEADER_END;
    if (off + size > 0x100) {
        log_err("pci %02x.%x: no room for capability 0x%02x (%u bytes)", d->devfn >> 3,
                d->devfn & 7, cap_id, size);
        return 0;
    }
    /* Append, so a walk meets capabilities in the order they were added. */
    for (unsigned n = 0; d->config[last] && n < 64; n++) {
        last = d->config[last] + 1u;
    }
    d->config[off] = cap_id;
    d->config[off + 1] = 0;
    d->config[last] = (uint8_t)off;
    d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    f->cap_next = (uint16_t)((off + size + PCI_CAP_ALIGN - 1) & ~(PCI_CAP_ALIGN - 1u));
    return (uint8_t)off;
}

uint32_t pci_bus_config_read(PciBus *bus, unsigned devfn, unsigned off, unsigned size)
{
    PciDevice *d = devfn < PCI_NUM_DEVFN ? bus->funcs[devfn].d : NULL;
    uint32_t v = 0;

    if (!d) {
        return all_ones(size);
    }
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint32_t byte = off + i < PCI_CONFIG_SIZE ? d->config[off + i] : 0xff;
        v |= byte << (8 * i);
    }
    return v;
}

void pci_bus_config_write(PciBus *bus, unsigned devfn, unsigned off, uint32_t val,
                          unsigned size)
{
    PciDevice *d = devfn < PCI_NUM_DEVFN ? bus->funcs[devfn].d : NULL;
    uint16_t old_msix_flags;

    if (!d || off >= PCI_CONFIG_SIZE) {
        return;
    }
    size = MIN(MIN(size, 4u), PCI_CONFIG_SIZE - off);
    old_msix_flags = d->msix_cap ? pci_cfg16(d, d->msix_cap + PCI_MSIX_FLAGS) : 0;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        unsigned a = off + i;
        uint8_t c = (uint8_t)((d->config[a] & ~d->wmask[a]) | (b & d->wmask[a]));
        d->config[a] = (uint8_t)(c & ~(b & d->w1cmask[a]));
    }
    if (ranges_overlap(off, size, PCI_COMMAND, 2) ||
        ranges_overlap(off, size, PCI_BAR0, 4 * PCI_NUM_BARS)) {
        update_bars(d);
    }
    if (d->msix_cap && ranges_overlap(off, size, d->msix_cap + PCI_MSIX_FLAGS, 2)) {
        msix_config_written(d, old_msix_flags);
    }
    /* Unmasking, enabling, or MSI-X going off may release pending MSIs. */
    if (d->msi_cap) {
        msi_config_written(d);
    }
    pci_update_intx(d);
    if (d->config_written) {
        d->config_written(d, off, size);
    }
}

void pci_bus_reset(PciBus *bus)
{
    for (unsigned i = 0; i < PCI_NUM_DEVFN; i++) {
        PciDevice *d = bus->funcs[i].d;
        if (!d) {
            continue;
        }
        /* Power-on value of every guest-writable bit is zero. */
        for (unsigned a = 0; a < PCI_CONFIG_SIZE; a++) {
            d->config[a] &= (uint8_t)~(d->wmask[a] | d->w1cmask[a]);
        }
        msix_reset(d);
        msi_reset(d);
        update_bars(d);
        pci_update_intx(d);
    }
}

void pci_bus_release(PciBus *bus)
{
    for (unsigned i = 0; i < PCI_NUM_DEVFN; i++) {
        PciDevice *d = bus->funcs[i].d;
        if (!d) {
            continue;
        }
        for (int b = 0; b < PCI_NUM_BARS; b++) {
            if (d->bars[b].mapped != PCI_BAR_UNMAPPED) {
                iobus_unmap((d->bars[b].type & PCI_BAR_IO) ? bus->m->pio : bus->m->mmio,
                            d->bars[b].mapped);
                d->bars[b].mapped = PCI_BAR_UNMAPPED;
            }
        }
        msix_release(d);
        d->bus = NULL;
        bus->funcs[i].d = NULL;
    }
    memset(bus->intx_count, 0, sizeof(bus->intx_count));
}

bool pci_dma_read(PciDevice *d, uint64_t gpa, void *buf, size_t len)
{
    if (!d->bus || !(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        return false;
    }
    return machine_dma_read(d->bus->m, gpa, buf, len);
}

bool pci_dma_write(PciDevice *d, uint64_t gpa, const void *buf, size_t len)
{
    if (!d->bus || !(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        return false;
    }
    return machine_dma_write(d->bus->m, gpa, buf, len);
}

void pci_foreach(Machine *m, void (*fn)(void *ctx, PciDevice *d), void *ctx)
{
    PciBus *bus = pci_bus_of(m);

    for (unsigned i = 0; bus && i < PCI_NUM_DEVFN; i++) {
        if (bus->funcs[i].d) {
            fn(ctx, bus->funcs[i].d);
        }
    }
}
