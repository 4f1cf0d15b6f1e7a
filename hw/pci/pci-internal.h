/*
 * Between the PCI bus (pci.c), MSI-X (msix.c) and the pc host bridge
 * (host.c). Not for devices: they use include/hw/pci/pci.h.
 */
#ifndef HW_PCI_PCI_INTERNAL_H
#define HW_PCI_PCI_INTERNAL_H

#include "hw/pci/pci.h"

#define PCI_NUM_DEVFN 256
#define PCI_INTX_LINES 4            /* GSIs 16-19 carry INTA-INTD of every slot */

/* Type 0 configuration header (PCI Local Bus 3.0, 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_STD_HEADER_END 0x40

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_STATUS_W1C 0xf900       /* error bits: write one to clear */

#define PCI_HEADER_MULTI_FUNCTION 0x80

#define PCI_CAP_ID_MSIX 0x11
#define PCI_MSIX_FLAGS 2            /* within the capability */
#define PCI_MSIX_TABLE 4
#define PCI_MSIX_PBA 8
#define PCI_MSIX_CAP_SIZE 12
#define PCI_MSIX_FLAGS_QSIZE 0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE 0x8000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL 12
#define PCI_MSIX_ENTRY_MASKED 1u
#define PCI_MSIX_MAX_VECTORS 2048

#define PCI_CAP_ID_MSI 0x05
#define PCI_MSI_FLAGS 2             /* within the capability */
#define PCI_MSI_ADDRESS_LO 4
#define PCI_MSI_FLAGS_ENABLE 0x0001
#define PCI_MSI_FLAGS_QMASK 0x000e  /* multiple message capable (log2) */
#define PCI_MSI_FLAGS_QSIZE 0x0070  /* multiple message enable (log2) */
#define PCI_MSI_FLAGS_64BIT 0x0080
#define PCI_MSI_FLAGS_MASKBIT 0x0100
#define PCI_MSI_MAX_VECTORS 32

/* What the bus keeps per function besides the device's PciDevice. */
typedef struct PciFunc {
    PciDevice *d;                   /* NULL: empty */
    bool intx_asserted;             /* counted in PciBus.intx_count */
    uint16_t cap_next;              /* where the next capability goes; 0: 0x40 */
    /* MSI-X location (msix_bar < 0: none) and the ops mapped for its BAR. */
    int msix_bar;
    uint64_t msix_table_off, msix_pba_off;
    IoOps msix_bar_ops;
} PciFunc;

struct PciBus {
    Machine *m;
    PciFunc funcs[PCI_NUM_DEVFN];
    unsigned intx_count[PCI_INTX_LINES];   /* asserted sources per GSI */
};

/* Set up an empty bus 0 of @m (the host bridge embeds it). */
void pci_bus_init(PciBus *bus, Machine *m);
/*
 * Put every function back to power-on bus state (BARs unmapped, guest
 * writable config bits cleared, MSI-X masked) on machine reset.
 */
void pci_bus_reset(PciBus *bus);
/* Unmap and detach every function (machine teardown): d->bus becomes NULL. */
void pci_bus_release(PciBus *bus);

/*
 * Config access to function @devfn at @off (any byte offset; bytes past
 * PCI_CONFIG_SIZE read as all-ones and ignore writes). Empty functions
 * read all-ones. @size is 1, 2 or 4.
 */
uint32_t pci_bus_config_read(PciBus *bus, unsigned devfn, unsigned off, unsigned size);
void pci_bus_config_write(PciBus *bus, unsigned devfn, unsigned off, uint32_t val,
                          unsigned size);

/* Add @d at @devfn (checked free, < PCI_NUM_DEVFN) without device_add. */
void pci_bus_attach(PciBus *bus, PciDevice *d, const PciIdentity *ident, unsigned devfn);

/* (Re)map BAR @bar of @d as its config and command register say. */
void pci_bar_update(PciDevice *d, int bar);

/* Recompute @d's contribution to its shared INTx GSI. */
void pci_update_intx(PciDevice *d);

/* msix.c: react to a config write that touched the MSI-X capability. */
void msix_config_written(PciDevice *d, uint16_t old_flags);
/* msix.c: power-on state (all vectors masked, nothing pending). */
void msix_reset(PciDevice *d);
/* msix.c: free the table and PBA. */
void msix_release(PciDevice *d);

/* msi.c: react to a config write that touched the MSI capability. */
void msi_config_written(PciDevice *d);
/* msi.c: power-on state (nothing pending). */
void msi_reset(PciDevice *d);

static inline PciFunc *pci_func_of(PciDevice *d)
{
    return &d->bus->funcs[d->devfn];
}

static inline uint16_t pci_cfg16(const PciDevice *d, unsigned off)
{
    return (uint16_t)(d->config[off] | (d->config[off + 1] << 8));
}

static inline uint32_t pci_cfg32(const PciDevice *d, unsigned off)
{
    return pci_cfg16(d, off) | ((uint32_t)pci_cfg16(d, off + 2) << 16);
}

static inline void pci_set16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void pci_set32(uint8_t *p, uint32_t v)
{
    pci_set16(p, (uint16_t)v);
    pci_set16(p + 2, (uint16_t)(v >> 16));
}

#endif
