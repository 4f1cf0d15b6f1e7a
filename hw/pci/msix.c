/*
 * MSI-X (include/hw/pci/pci.h): the capability, the vector table and the
 * pending-bit array inside one of the device's memory BARs, per-vector and
 * function masking, and delivery through machine_signal_msi().
 *
 * Reference: PCI Local Bus Specification 3.0, 6.8.2 (MSI-X capability and
 * table structure); PCI Express Base 4.0, 6.1.4.5 (per-vector masking).
 *
 * The bus maps its own ops for the BAR holding the table and PBA; those
 * handle the two structures and pass every other offset to the device.
 */
#include <string.h>
#include "hw/pci/pci-internal.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "kemu/log.h"

static uint64_t pba_len(unsigned nvec)
{
    return (nvec + 63u) / 64u * 8u;
}

static uint16_t msix_flags(const PciDevice *d)
{
    return pci_cfg16(d, d->msix_cap + PCI_MSIX_FLAGS);
}

bool msix_enabled(const PciDevice *d)
{
    return d->msix_cap && (msix_flags(d) & PCI_MSIX_FLAGS_ENABLE);
}

static uint8_t *entry(PciDevice *d, unsigned v)
{
    return d->msix_table + (size_t)v * PCI_MSIX_ENTRY_SIZE;
}

static bool vector_masked(PciDevice *d, unsigned v)
{
    return (msix_flags(d) & PCI_MSIX_FLAGS_MASKALL) ||
           (entry(d, v)[PCI_MSIX_ENTRY_CTRL] & PCI_MSIX_ENTRY_MASKED);
}

static void set_pending(PciDevice *d, unsigned v, bool on)
{
    uint64_t bit = 1ull << (v % 64);

    if (on) {
        d->msix_pending[v / 64] |= bit;
    } else {
        d->msix_pending[v / 64] &= ~bit;
    }
}

static bool is_pending(PciDevice *d, unsigned v)
{
    return d->msix_pending[v / 64] & (1ull << (v % 64));
}

/* The message is a memory write by the function: it needs bus mastering. */
static void send(PciDevice *d, unsigned v)
{
    const uint8_t *e = entry(d, v);
    uint64_t addr = (uint64_t)(e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24) |
                    (uint64_t)(e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24) << 32;
    uint32_t data = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24;

    if (!(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        log_guest_error("pci %02x.%x: MSI-X vector %u dropped: bus mastering is off\n",
                        d->devfn >> 3, d->devfn & 7, v);
        return;
    }
    machine_signal_msi(d->bus->m, addr, data);
}

void msix_notify(PciDevice *d, unsigned v)
{
    if (!d->bus || v >= d->msix_vectors || !msix_enabled(d)) {
        return;
    }
    if (vector_masked(d, v)) {
        set_pending(d, v, true);
        return;
    }
    send(d, v);
}

/* Deliver vector @v if it is pending and no longer masked. */
static void try_unmask(PciDevice *d, unsigned v)
{
    if (msix_enabled(d) && is_pending(d, v) && !vector_masked(d, v)) {
        set_pending(d, v, false);
        send(d, v);
    }
}

void msix_config_written(PciDevice *d, uint16_t old_flags)
{
    uint16_t changed = old_flags ^ msix_flags(d);

    if (changed & (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)) {
        for (unsigned v = 0; v < d->msix_vectors; v++) {
            try_unmask(d, v);
        }
    }
}

void msix_reset(PciDevice *d)
{
    if (!d->msix_table) {
        return;
    }
    memset(d->msix_table, 0, (size_t)d->msix_vectors * PCI_MSIX_ENTRY_SIZE);
    for (unsigned v = 0; v < d->msix_vectors; v++) {
        entry(d, v)[PCI_MSIX_ENTRY_CTRL] = PCI_MSIX_ENTRY_MASKED;
    }
    memset(d->msix_pending, 0, pba_len(d->msix_vectors));
}

void msix_release(PciDevice *d)
{
    g_clear_pointer(&d->msix_table, g_free);
    g_clear_pointer(&d->msix_pending, g_free);
}

static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned size)
{
    PciDevice *d = opaque;
    PciFunc *f = pci_func_of(d);
    uint64_t tlen = (uint64_t)d->msix_vectors * PCI_MSIX_ENTRY_SIZE;
    const uint8_t *src = NULL;

    /* Both structures are 8-byte aligned with lengths a multiple of 8, and
     * the bus hands us naturally aligned accesses: none straddles them. */
    if (off >= f->msix_table_off && off - f->msix_table_off < tlen) {
        src = d->msix_table + (off - f->msix_table_off);
    } else if (off >= f->msix_pba_off && off - f->msix_pba_off < pba_len(d->msix_vectors)) {
        src = (const uint8_t *)d->msix_pending + (off - f->msix_pba_off);
    } else {
        const PciBar *b = &d->bars[f->msix_bar];
        return b->ops ? b->ops->read(b->opaque, off, size) : 0;
    }
    return ldn_le(src, size);
}

static void msix_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PciDevice *d = opaque;
    PciFunc *f = pci_func_of(d);
    uint64_t tlen = (uint64_t)d->msix_vectors * PCI_MSIX_ENTRY_SIZE;

    if (off >= f->msix_table_off && off - f->msix_table_off < tlen) {
        uint64_t t = off - f->msix_table_off;
        for (unsigned i = 0; i < size; i++) {
            uint64_t pos = t + i;
            uint8_t b = (uint8_t)(val >> (8 * i));
            if (pos % PCI_MSIX_ENTRY_SIZE == PCI_MSIX_ENTRY_CTRL) {
                b &= PCI_MSIX_ENTRY_MASKED;       /* the rest is reserved */
            } else if (pos % PCI_MSIX_ENTRY_SIZE > PCI_MSIX_ENTRY_CTRL) {
                continue;
            }
            d->msix_table[pos] = b;
        }
        /* An aligned access of at most 8 bytes stays inside one entry. */
        try_unmask(d, (unsigned)(t / PCI_MSIX_ENTRY_SIZE));
    } else if (off >= f->msix_pba_off && off - f->msix_pba_off < pba_len(d->msix_vectors)) {
        log_guest_error("pci %02x.%x: write to the read-only MSI-X PBA\n", d->devfn >> 3,
                        d->devfn & 7);
    } else {
        const PciBar *b = &d->bars[f->msix_bar];
        if (b->ops) {
            b->ops->write(b->opaque, off, val, size);
        }
    }
}

bool msix_init(PciDevice *d, unsigned nvec, int bar, uint64_t table_off,
               uint64_t pba_off, GError **errp)
{
    PciFunc *f;
    const PciBar *b;
    uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE;
    uint8_t cap;

    if (!d->bus) {
        error_setg(errp, "MSI-X: the device is not on a PCI bus");
        return false;
    }
    if (d->msix_cap) {
        error_setg(errp, "MSI-X: already set up");
        return false;
    }
    if (nvec < 1 || nvec > PCI_MSIX_MAX_VECTORS) {
        error_setg(errp, "MSI-X: %u vectors (1 to %u supported)", nvec, PCI_MSIX_MAX_VECTORS);
        return false;
    }
    if (bar < 0 || bar >= PCI_NUM_BARS || !d->bars[bar].size ||
        (d->bars[bar].type & PCI_BAR_IO)) {
        error_setg(errp, "MSI-X: BAR %d is not a registered memory BAR", bar);
        return false;
    }
    b = &d->bars[bar];
    if ((table_off | pba_off) & 7 || table_off > b->size || tlen > b->size - table_off ||
        pba_off > b->size || pba_len(nvec) > b->size - pba_off ||
        (table_off < pba_off + pba_len(nvec) && pba_off < table_off + tlen) ||
        b->size > UINT32_MAX + 1ull) {
        error_setg(errp, "MSI-X: table at 0x%" G_GINT64_MODIFIER "x / PBA at 0x%"
                   G_GINT64_MODIFIER "x do not fit BAR %d, overlap or are misaligned",
                   table_off, pba_off, bar);
        return false;
    }
    cap = pci_add_capability(d, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE);
    if (!cap) {
        error_setg(errp, "MSI-X: no room in config space for the capability");
        return false;
    }
    d->msix_cap = cap;
    d->msix_vectors = nvec;
    pci_set16(d->config + cap + PCI_MSIX_FLAGS, (uint16_t)(nvec - 1));
    pci_set16(d->wmask + cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    pci_set32(d->config + cap + PCI_MSIX_TABLE, (uint32_t)table_off | (uint32_t)bar);
    pci_set32(d->config + cap + PCI_MSIX_PBA, (uint32_t)pba_off | (uint32_t)bar);
    d->msix_table = g_malloc0(tlen);
    d->msix_pending = g_malloc0(pba_len(nvec));
    msix_reset(d);

    f = pci_func_of(d);
    f->msix_bar = bar;
    f->msix_table_off = table_off;
    f->msix_pba_off = pba_off;
    f->msix_bar_ops = (IoOps){
        .read = msix_bar_read,
        .write = msix_bar_write,
        .min_size = b->ops ? b->ops->min_size : 4,
        .max_size = b->ops ? b->ops->max_size : 8,
    };
    /* Already placed by the guest (unusual): route it through our ops. */
    if (b->mapped != PCI_BAR_UNMAPPED) {
        uint64_t at = b->mapped;
        iobus_unmap(d->bus->m->mmio, at);
        d->bars[bar].mapped = PCI_BAR_UNMAPPED;
        pci_bar_update(d, bar);
    }
    return true;
}
