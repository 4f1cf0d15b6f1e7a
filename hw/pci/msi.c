/*
 * MSI (include/hw/pci/pci.h): the capability in config space, multiple
 * message enable, optional 64-bit addresses and per-vector masking with
 * pending bits, delivery through machine_signal_msi().
 *
 * Reference: PCI Local Bus Specification 3.0, 6.8.1 (MSI capability
 * structure and operation).
 *
 * Everything but the pending bits lives in config space, so the bus's
 * wmask does the guest-visible register semantics and reset.
 */
#include "hw/pci/pci-internal.h"
#include "kemu/error.h"
#include "kemu/log.h"

static uint16_t msi_flags(const PciDevice *d)
{
    return pci_cfg16(d, d->msi_cap + PCI_MSI_FLAGS);
}

static bool has_64bit(const PciDevice *d)
{
    return msi_flags(d) & PCI_MSI_FLAGS_64BIT;
}

static bool has_mask(const PciDevice *d)
{
    return msi_flags(d) & PCI_MSI_FLAGS_MASKBIT;
}

/* Layout: the data register follows the address; mask and pending follow it. */
static unsigned data_off(const PciDevice *d)
{
    return d->msi_cap + (has_64bit(d) ? 0x0cu : 0x08u);
}

static unsigned mask_off(const PciDevice *d)
{
    return d->msi_cap + (has_64bit(d) ? 0x10u : 0x0cu);
}

static unsigned pending_off(const PciDevice *d)
{
    return mask_off(d) + 4;
}

static unsigned vectors_capable(const PciDevice *d)
{
    return 1u << ((msi_flags(d) & PCI_MSI_FLAGS_QMASK) >> 1);
}

/* Vectors the driver enabled; a value above what we offer is clamped. */
static unsigned vectors_enabled(const PciDevice *d)
{
    unsigned n = 1u << ((msi_flags(d) & PCI_MSI_FLAGS_QSIZE) >> 4);

    return MIN(n, vectors_capable(d));
}

bool msi_enabled(const PciDevice *d)
{
    return d->msi_cap && (msi_flags(d) & PCI_MSI_FLAGS_ENABLE) && !msix_enabled(d);
}

static bool vector_masked(const PciDevice *d, unsigned v)
{
    return has_mask(d) && (pci_cfg32(d, mask_off(d)) & (1u << v));
}

static void set_pending(PciDevice *d, unsigned v, bool on)
{
    uint32_t p = pci_cfg32(d, pending_off(d));

    p = on ? p | (1u << v) : p & ~(1u << v);
    pci_set32(d->config + pending_off(d), p);
}

static bool is_pending(const PciDevice *d, unsigned v)
{
    return has_mask(d) && (pci_cfg32(d, pending_off(d)) & (1u << v));
}

/* The message is a memory write by the function: it needs bus mastering. */
static void send(PciDevice *d, unsigned v)
{
    uint64_t addr = pci_cfg32(d, d->msi_cap + PCI_MSI_ADDRESS_LO);
    uint32_t data = pci_cfg16(d, data_off(d));
    unsigned n = vectors_enabled(d);

    if (!(pci_cfg16(d, PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        log_guest_error("pci %02x.%x: MSI vector %u dropped: bus mastering is off\n",
                        d->devfn >> 3, d->devfn & 7, v);
        return;
    }
    if (has_64bit(d)) {
        addr |= (uint64_t)pci_cfg32(d, d->msi_cap + PCI_MSI_ADDRESS_LO + 4) << 32;
    }
    /* Multiple messages: the function owns the low log2(n) data bits. */
    data = (data & ~(n - 1u)) | v;
    machine_signal_msi(d->bus->m, addr, data);
}

void msi_notify(PciDevice *d, unsigned vector)
{
    if (!d->bus || !msi_enabled(d)) {
        return;
    }
    if (vector >= vectors_enabled(d)) {
        log_guest_error("pci %02x.%x: MSI vector %u dropped: the driver enabled %u\n",
                        d->devfn >> 3, d->devfn & 7, vector, vectors_enabled(d));
        return;
    }
    if (vector_masked(d, vector)) {
        set_pending(d, vector, true);
        return;
    }
    send(d, vector);
}

void msi_config_written(PciDevice *d)
{
    if (!d->msi_cap || !has_mask(d) || !msi_enabled(d)) {
        return;
    }
    for (unsigned v = 0; v < vectors_enabled(d); v++) {
        if (is_pending(d, v) && !vector_masked(d, v)) {
            set_pending(d, v, false);
            send(d, v);
        }
    }
}

void msi_reset(PciDevice *d)
{
    if (d->msi_cap && has_mask(d)) {
        pci_set32(d->config + pending_off(d), 0);
    }
}

bool msi_init(PciDevice *d, unsigned nvec, bool addr64, bool per_vector_mask,
              GError **errp)
{
    unsigned size = (addr64 ? 0x0eu : 0x0au) + (per_vector_mask ? 0x0au : 0);
    uint16_t flags = 0;
    uint8_t cap;

    if (!d->bus) {
        error_setg(errp, "MSI: the device is not on a PCI bus");
        return false;
    }
    if (d->msi_cap) {
        error_setg(errp, "MSI: already set up");
        return false;
    }
    if (nvec < 1 || nvec > PCI_MSI_MAX_VECTORS || (nvec & (nvec - 1))) {
        error_setg(errp, "MSI: %u vectors (a power of two from 1 to %u supported)", nvec,
                   PCI_MSI_MAX_VECTORS);
        return false;
    }
    cap = pci_add_capability(d, PCI_CAP_ID_MSI, (uint8_t)size);
    if (!cap) {
        error_setg(errp, "MSI: no room in config space for the capability");
        return false;
    }
    d->msi_cap = cap;
    flags = (uint16_t)(g_bit_nth_lsf(nvec, -1) << 1);
    flags |= addr64 ? PCI_MSI_FLAGS_64BIT : 0;
    flags |= per_vector_mask ? PCI_MSI_FLAGS_MASKBIT : 0;
    pci_set16(d->config + cap + PCI_MSI_FLAGS, flags);
    pci_set16(d->wmask + cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
    /* The address is dword aligned: its two low bits are reserved. */
    pci_set32(d->wmask + cap + PCI_MSI_ADDRESS_LO, 0xfffffffcu);
    if (addr64) {
        pci_set32(d->wmask + cap + PCI_MSI_ADDRESS_LO + 4, 0xffffffffu);
    }
    pci_set16(d->wmask + data_off(d), 0xffff);
    if (per_vector_mask) {
        pci_set32(d->wmask + mask_off(d),
                  nvec == 32 ? 0xffffffffu : (1u << nvec) - 1u);
    }
    return true;
}
