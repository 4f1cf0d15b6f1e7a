/*
 * The KVM accelerator (accel/kvm). Everything else reaches it through
 * kvm_accel_ops; kvm_handle_exit() is public so unit tests can feed it
 * synthetic exits.
 */
#ifndef ACCEL_KVM_H
#define ACCEL_KVM_H

#include <stddef.h>
#include <linux/kvm.h>
#include "accel/accel.h"

extern const AccelOps kvm_accel_ops;

/* What the vCPU loop does after kvm_handle_exit(). */
typedef enum KvmExitAction {
    KVM_ACTION_CONTINUE,   /* handled: re-enter the guest */
    KVM_ACTION_RESET,      /* guest reset requested (already requested) */
    KVM_ACTION_SHUTDOWN,   /* guest power-off requested (already requested) */
    KVM_ACTION_FATAL,      /* cannot go on: *why says why in one line */
} KvmExitAction;

/*
 * Carry out the exit described by @run (of @run_size bytes, the vCPU's
 * mmap size): port I/O on m->pio, MMIO on m->mmio (taking the BQL around
 * device access), system events through the runstate requests. Depends
 * only on its arguments. On KVM_ACTION_FATAL *@why is set to a newly
 * allocated one-line message (free with g_free); it is left untouched
 * otherwise. It does not print or dump registers: the caller does.
 */
KvmExitAction kvm_handle_exit(Machine *m, struct kvm_run *run, size_t run_size,
                              char **why);

#endif
