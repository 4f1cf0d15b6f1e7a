/*
 * The machine: guest RAM, the two I/O buses, interrupt lines, devices,
 * vCPUs and the accelerator that runs them. One Machine per process.
 */
#ifndef SYSTEM_MACHINE_H
#define SYSTEM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/iobus.h"
#include "hw/irq.h"
#include "target/x86/cpu.h"

typedef struct AccelOps AccelOps;
typedef struct Device Device;
typedef struct Vcpu Vcpu;
typedef struct CpuModel CpuModel;
typedef struct AcpiPm AcpiPm;

#define MACHINE_MAX_RAM_BLOCKS 4
#define MACHINE_NR_GSI 24
#define MACHINE_MAX_CPUS 64

/* Guest RAM: [gpa, gpa + size) backed by host memory at @host. */
typedef struct RamBlock {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
} RamBlock;

/*
 * A blob the loader placed in guest memory; machine reset copies every
 * blob back in (like QEMU's ROM list), so a reset guest boots again.
 */
typedef struct RomBlob {
    uint64_t gpa;
    GBytes *data;
} RomBlob;

typedef struct MachineConfig {
    uint64_t ram_size;        /* bytes, > 0 */
    unsigned smp;             /* >= 1 */
    const char *kernel, *initrd, *append;
    const char *cpu_model;    /* -cpu, NULL for the default */
    bool no_reboot;
    bool no_shutdown;
} MachineConfig;

typedef struct Machine {
    MachineConfig cfg;
    RamBlock ram[MACHINE_MAX_RAM_BLOCKS];
    unsigned nr_ram;
    IoBus *pio, *mmio;
    IrqLine *gsi[MACHINE_NR_GSI];   /* global system interrupts 0..23 */

    const AccelOps *accel;
    void *accel_state;
    CpuModel *cpu_model;
    Vcpu *cpus[MACHINE_MAX_CPUS];
    unsigned ncpus;

    Device *devices;                /* creation order */
    Device *devices_tail;
    GArray *roms;                   /* of RomBlob */
    AcpiPm *acpi_pm;                /* power button for system_powerdown */
    X86CpuState boot_state;         /* BSP state after reset */
} Machine;

/*
 * Allocate guest RAM of cfg->ram_size (anonymous mmap, untouched until the
 * guest uses it) laid out as on QEMU's pc machine: RAM below 3 GiB, the
 * rest from 4 GiB. Returns false with @errp set if it cannot be mapped.
 */
bool machine_ram_init(Machine *m, GError **errp);
void machine_ram_free(Machine *m);

/*
 * Host pointer for guest-physical [@gpa, @gpa + @len), or NULL unless the
 * whole range lies inside one RAM block. Use for every guest-supplied
 * address: it is the bounds check.
 */
void *machine_gpa_to_hva(Machine *m, uint64_t gpa, uint64_t len);

/*
 * Copy @len bytes from @data to guest-physical @gpa and remember them for
 * reset. Returns false with @errp set if the range is not RAM.
 */
bool machine_add_rom(Machine *m, uint64_t gpa, const void *data, size_t len,
                     GError **errp);
void machine_roms_reload(Machine *m);

/*
 * Device DMA: copy between guest RAM and @buf. False (nothing copied) unless
 * the whole range is RAM. Writes notify the accelerator so decoded code
 * stays coherent. Any thread; no lock needed for RAM itself.
 */
bool machine_dma_read(Machine *m, uint64_t gpa, void *buf, size_t len);
bool machine_dma_write(Machine *m, uint64_t gpa, const void *buf, size_t len);
/* A device wrote guest RAM directly through a host pointer. */
void machine_dma_written(Machine *m, uint64_t gpa, uint64_t len);
/* Deliver a message-signalled interrupt (PCI MSI/MSI-X). BQL held. */
void machine_signal_msi(Machine *m, uint64_t addr, uint32_t data);

/* Bytes of guest RAM the host has backed with memory so far (mincore). */
uint64_t machine_ram_resident(const Machine *m);

/* Total RAM below 4 GiB (for the multiboot memory map and e820). */
uint64_t machine_ram_below_4g(const Machine *m);

#endif
