/*
 * PCI devices on the pc machine's single bus (bus 0). A PCI device embeds
 * PciDevice first (which embeds Device first), fills its identity, BARs and
 * capabilities with the functions below, and the bus does config space,
 * BAR sizing and mapping, INTx and MSI/MSI-X for it.
 * Every function here is called with the BQL held.
 */
#ifndef HW_PCI_PCI_H
#define HW_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/device.h"
#include "hw/iobus.h"
#include "system/machine.h"

#define PCI_CONFIG_SIZE 4096        /* PCIe-sized, reachable through ECAM */
#define PCI_NUM_BARS 6
#define PCI_DEVFN(slot, fn) (((slot) << 3) | (fn))

enum {
    PCI_BAR_IO = 1,                 /* I/O space */
    PCI_BAR_MEM32 = 2,              /* 32-bit memory */
    PCI_BAR_MEM64 = 4,              /* 64-bit memory (takes two BAR slots) */
    PCI_BAR_PREFETCH = 8,
};

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;

typedef struct PciBar {
    uint64_t size;                  /* power of two; 0: unused */
    uint8_t type;                   /* PCI_BAR_* */
    const IoOps *ops;
    void *opaque;
    uint64_t mapped;                /* current address, or PCI_BAR_UNMAPPED */
} PciBar;
#define PCI_BAR_UNMAPPED UINT64_MAX

typedef struct PciIdentity {
    uint16_t vendor, device;
    uint16_t subsys_vendor, subsys;
    uint8_t revision;
    uint32_t class_code;            /* class << 16 | subclass << 8 | prog-if */
    uint8_t irq_pin;                /* 1 = INTA ... 4 = INTD; 0: none */
} PciIdentity;

struct PciDevice {
    Device dev;
    PciBus *bus;
    uint8_t devfn;
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];    /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SIZE];  /* write-1-to-clear bits */
    PciBar bars[PCI_NUM_BARS];
    int intx_level;
    /*
     * Optional hooks for device-specific config registers, called after the
     * bus stored the write (wmask applied) / before it returns a read.
     */
    void (*config_written)(PciDevice *d, unsigned off, unsigned size);
    /* MSI-X (set up by msix_init) */
    unsigned msix_vectors;
    uint8_t msix_cap;               /* config offset, 0: none */
    uint8_t *msix_table;            /* 16 bytes per vector */
    uint64_t *msix_pending;         /* PBA bits */
    /* MSI (set up by msi_init) */
    uint8_t msi_cap;                /* config offset, 0: none */
    /*
     * Optional: BAR @bar was just mapped at @addr, or unmapped (@addr is
     * PCI_BAR_UNMAPPED), by the bus. Called after the I/O bus changed.
     */
    void (*bar_mapped)(PciDevice *d, int bar, uint64_t addr);
};

/*
 * Initialise @d and add it to @m's PCI bus at @devfn, or at the first free
 * slot when @devfn < 0 (-device ...,addr=SLOT[.FN] gives it). Registers the
 * device (device_add) with @cls. Returns false with @errp set if the slot
 * is taken or no PCI bus exists.
 */
bool pci_device_init(PciDevice *d, Machine *m, const DeviceClass *cls, const char *id,
                     const PciIdentity *ident, int devfn, GError **errp);

/*
 * Parse "addr=SLOT[.FN]" from -device options into a devfn (-1 when
 * absent). False with @errp set on a malformed or out-of-range value.
 */
bool pci_parse_addr(Opts *o, int *devfn, GError **errp);

/*
 * Declare BAR @bar of @size bytes (a power of two, >= 16 for memory, >= 4
 * for I/O) served by @ops/@opaque. The guest sizes and places it; the bus
 * maps and unmaps it on the machine's I/O buses as the guest programs the
 * BAR and the command register.
 */
void pci_register_bar(PciDevice *d, int bar, uint8_t type, uint64_t size,
                      const IoOps *ops, void *opaque);

/* Add a capability of @size bytes to the list; returns its config offset. */
uint8_t pci_add_capability(PciDevice *d, uint8_t cap_id, uint8_t size);

/* Drive INTx (level) for the device's irq_pin; routed per the ACPI _PRT. */
void pci_set_irq(PciDevice *d, int level);

/*
 * MSI-X with @nvec vectors, its table and PBA in BAR @bar at the given
 * offsets (the BAR must already be registered; the bus handles table and
 * PBA accesses inside it). False with @errp set on bad parameters.
 */
bool msix_init(PciDevice *d, unsigned nvec, int bar, uint64_t table_off,
               uint64_t pba_off, GError **errp);
bool msix_enabled(const PciDevice *d);
/* Send vector @v (or set its pending bit while masked). */
void msix_notify(PciDevice *d, unsigned v);

/*
 * An MSI capability with @nvec vectors (1..32, a power of two), 64-bit
 * message addresses when @addr64 and per-vector mask and pending bits when
 * @per_vector_mask. False with @errp set on bad parameters, when MSI is
 * already set up or the config space is full.
 * While MSI-X is enabled MSI is not (MSI-X wins); INTx is off while
 * either is enabled.
 */
bool msi_init(PciDevice *d, unsigned nvec, bool addr64, bool per_vector_mask,
              GError **errp);
/* Is MSI enabled by the guest (and MSI-X not)? */
bool msi_enabled(const PciDevice *d);
/*
 * Send MSI vector @vector: the capability's message with the vector in
 * the low data bits the guest enabled for multiple messages. Masked
 * vectors set their pending bit instead and are sent on unmask. Dropped
 * when MSI is off, @vector is not enabled, or bus mastering is off.
 */
void msi_notify(PciDevice *d, unsigned vector);

/*
 * DMA between guest RAM and the device: false (nothing copied) unless bus
 * mastering is enabled and the whole range is RAM. Writes tell the
 * accelerator (machine_dma_written) so decoded code stays coherent.
 */
bool pci_dma_read(PciDevice *d, uint64_t gpa, void *buf, size_t len);
bool pci_dma_write(PciDevice *d, uint64_t gpa, const void *buf, size_t len);

/* The pc machine's host bridge: config mechanism #1 and an ECAM window. */
#define PCI_MMIO32_BASE 0xc0000000ull   /* BAR window below 4 GiB (after RAM) */
#define PCI_MMIO32_END 0xdfffffffull
#define PCI_ECAM_BASE 0xe0000000ull     /* described by the ACPI MCFG table */
#define PCI_ECAM_SIZE 0x10000000ull     /* buses 0-255 */
/* INTx: slot s pin p (0-3) goes to GSI 16 + ((s + p) % 4) (the ACPI _PRT). */
#define PCI_INTX_GSI(slot, pin) (16 + (((slot) + (pin)) & 3))

bool pci_host_create(Machine *m, GError **errp);
PciBus *pci_bus_of(Machine *m);
/* Call @fn for each device (for "info pci"). */
void pci_foreach(Machine *m, void (*fn)(void *ctx, PciDevice *d), void *ctx);

#endif
