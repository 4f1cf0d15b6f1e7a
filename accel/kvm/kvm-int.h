/*
 * Private to accel/kvm: the VM-wide and per-vCPU state and the functions
 * the files of this folder share.
 */
#ifndef ACCEL_KVM_INT_H
#define ACCEL_KVM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "accel/kvm.h"
#include "target/x86/cpuid.h"

typedef struct KvmState {
    int kvm_fd;                  /* /dev/kvm */
    int vm_fd;
    size_t run_size;             /* KVM_GET_VCPU_MMAP_SIZE */
    unsigned next_slot, max_slots;
    bool has_debugregs, has_vcpu_events;
    bool has_ioeventfd;          /* KVM_CAP_IOEVENTFD */
    CpuidTable supported;        /* KVM_GET_SUPPORTED_CPUID */
    uint32_t *msrs;              /* KVM_GET_MSR_INDEX_LIST */
    unsigned nmsrs;
    CpuModel *default_model;     /* used when m->cpu_model is NULL */
    /* Power-on state of the in-kernel devices, restored on reset. */
    struct kvm_irqchip chip_reset[3];   /* PIC master, PIC slave, IOAPIC */
    struct kvm_pit_state2 pit_reset;
} KvmState;

typedef struct KvmVcpu {
    int fd;
    struct kvm_run *run;
    size_t run_size;
    struct kvm_lapic_state lapic_reset;   /* LAPIC right after creation */
    atomic_bool thread_ready;             /* tid valid, kick by signal */
    pthread_t tid;
} KvmVcpu;

static inline KvmState *kvm_state(Machine *m)
{
    return m->accel_state;
}

/* kvm.c: put the in-kernel PIC, IOAPIC and PIT back to power-on state. */
bool kvm_irqchip_reset(KvmState *ks, GError **errp);

/* kvm-regs.c: X86CpuState <-> KVM_{GET,SET}_{REGS,SREGS,DEBUGREGS}. */
bool kvm_get_state(Vcpu *cpu, X86CpuState *s);
bool kvm_set_state(Vcpu *cpu, const X86CpuState *s);
/* kvm-regs.c: FPU, MSRs and pending events as after RESET. */
bool kvm_reset_cpu_extras(Vcpu *cpu, GError **errp);

/* kvm-cpu.c: the vCPU ops. */
bool kvm_vcpu_init(Vcpu *cpu, GError **errp);
void kvm_vcpu_thread_init(Vcpu *cpu);
VcpuExit kvm_vcpu_run(Vcpu *cpu);
void kvm_vcpu_kick(Vcpu *cpu);
bool kvm_vcpu_reset(Vcpu *cpu, GError **errp);

#endif
