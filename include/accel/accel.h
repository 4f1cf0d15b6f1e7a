/*
 * Accelerators run the vCPUs: "kvm" (accel/kvm) and, later, "interp".
 * The machine code calls only these ops; I/O exits are dispatched inside
 * vcpu_run through the machine's I/O buses.
 */
#ifndef ACCEL_ACCEL_H
#define ACCEL_ACCEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "system/machine.h"
#include "target/x86/cpu.h"

typedef enum VcpuExit {
    VCPU_EXIT_KICKED,      /* vcpu_kick() or a pending stop request */
    VCPU_EXIT_RESET,       /* the guest asked for a reset (already requested) */
    VCPU_EXIT_FATAL,       /* emulation failure, triple fault: dump printed */
} VcpuExit;

/*
 * Interrupt requests to a vCPU, raised by the userspace interrupt
 * controllers (any thread, through vcpu_interrupt()) and consumed by the
 * interpreter at instruction-trace boundaries. KVM's in-kernel irqchip
 * does not use them.
 */
#define VCPU_IRQ_HARD   (1u << 0)   /* a maskable interrupt may be pending */
#define VCPU_IRQ_NMI    (1u << 1)
#define VCPU_IRQ_INIT   (1u << 2)
#define VCPU_IRQ_SIPI   (1u << 3)   /* vector in Vcpu.sipi_vector */

typedef struct Apic Apic;

struct Vcpu {
    Machine *m;
    unsigned index;            /* 0 is the bootstrap processor */
    uint32_t apic_id;
    pthread_t thread;
    void *accel;               /* the accelerator's per-vCPU state */
    atomic_bool stop;          /* set by cpus_pause(); vcpu_run returns KICKED */
    bool stopped;              /* the thread is parked (guarded by cpus lock) */
    atomic_bool running;       /* inside vcpu_run */
    atomic_uint irq_request;   /* VCPU_IRQ_* */
    atomic_uint sipi_vector;
    Apic *apic;                /* userspace local APIC, NULL under KVM */
};

/* Set @bits in cpu->irq_request and kick the vCPU. Any thread. */
void vcpu_interrupt(Vcpu *cpu, unsigned bits);
/* The vCPU the calling thread runs, or NULL (main loop, tests). */
Vcpu *current_vcpu(void);
/* Tests and accelerators: declare which vCPU this thread runs. */
void set_current_vcpu(Vcpu *cpu);

struct AccelOps {
    const char *name;                          /* as spelled in -accel */
    /* Can this host run the accelerator at all? (cheap, no side effects) */
    bool (*available)(void);
    /*
     * Whether this accelerator should be the default here; when false,
     * *@why says why in one line (e.g. a software KVM). Optional.
     */
    bool (*preferred)(const char **why);
    /* Create the VM; called before RAM is mapped and devices exist. */
    bool (*init)(Machine *m, GError **errp);
    /* Make @rb visible to the guest. */
    bool (*ram_map)(Machine *m, RamBlock *rb, GError **errp);
    /* Are PIC, IOAPIC, LAPIC and PIT provided by the accelerator? */
    bool (*has_irqchip)(Machine *m);
    /* Drive global system interrupt @gsi (only when has_irqchip). */
    void (*set_gsi)(Machine *m, unsigned gsi, int level);
    /* Create vCPU state; called on the main thread before any runs. */
    bool (*vcpu_init)(Vcpu *cpu, GError **errp);
    /*
     * Called first on the vCPU's own thread, before vcpu_run. Optional.
     */
    void (*vcpu_thread_init)(Vcpu *cpu);
    /*
     * Run the guest on the calling (vCPU) thread until kicked, stopped or a
     * fatal exit. Called without the BQL; takes it around device access.
     */
    VcpuExit (*vcpu_run)(Vcpu *cpu);
    /* Make vcpu_run return soon. Any thread. */
    void (*vcpu_kick)(Vcpu *cpu);
    /*
     * Put the vCPU back to its reset state (BSP: m->boot_state; APs:
     * waiting for INIT/SIPI). Called with the vCPU stopped.
     */
    bool (*vcpu_reset)(Vcpu *cpu, GError **errp);
    bool (*get_state)(Vcpu *cpu, X86CpuState *s);
    bool (*set_state)(Vcpu *cpu, const X86CpuState *s);
    /*
     * A device wrote guest RAM [gpa, gpa + len) behind the CPUs' backs
     * (DMA): the interpreter drops decoded code there. Optional.
     */
    void (*dma_written)(Machine *m, uint64_t gpa, uint64_t len);
    /* Deliver an MSI (KVM_SIGNAL_MSI). Optional: else the userspace APIC. */
    void (*signal_msi)(Machine *m, uint64_t addr, uint32_t data);
    /*
     * Optional: when @assign, make a guest write of @len bytes (1, 2, 4 or
     * 8) at @addr (guest-physical memory when @mmio, else an I/O port)
     * signal eventfd @fd instead of reaching the I/O buses; any value
     * written matches. When !@assign, remove the registration made with
     * the same @addr, @len, @mmio and @fd. The caller keeps owning @fd and
     * must deassign before closing it. False with @errp set when the
     * accelerator refuses (e.g. the address is already taken). Main thread,
     * BQL held. Without it, such writes always reach the I/O buses.
     */
    bool (*ioeventfd)(Machine *m, uint64_t addr, unsigned len, bool mmio, int fd,
                      bool assign, GError **errp);
    /* Guest instructions this vCPU retired so far (racy read). Optional. */
    uint64_t (*insns_retired)(Vcpu *cpu);
    /* Release everything (process exit). Optional. */
    void (*cleanup)(Machine *m);
};

/* Look up an accelerator by -accel name ("tcg" names the interpreter). */
const AccelOps *accel_find(const char *name);

/*
 * The default accelerator: KVM when it opens and is hardware-backed,
 * otherwise the interpreter. Sets *@why to a one-line reason for the
 * choice. NULL with @errp set when none is available.
 */
const AccelOps *accel_choose_default(const char **why, GError **errp);

#endif
