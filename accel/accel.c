/* The accelerator registry (include/accel/accel.h). */
#include <string.h>
#include "accel/accel.h"
#include "accel/interp.h"
#include "accel/kvm.h"
#include "kemu/error.h"

static const AccelOps *const accels[] = {
    &kvm_accel_ops,
    &interp_accel_ops,
};

const AccelOps *accel_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(accels); i++) {
        if (!strcmp(accels[i]->name, name)) {
            return accels[i];
        }
    }
    return NULL;
}

const AccelOps *accel_choose_default(const char **why, GError **errp)
{
    static char buf[256];
    const char *kvm_why = NULL;

    (void)errp;
    if (!kvm_accel_ops.available()) {
        *why = "/dev/kvm cannot be opened";
        return &interp_accel_ops;
    }
    /*
     * A software KVM (kvm_pvm) runs guest kernel code through its own
     * instruction emulator, tens of times slower than our interpreter, and
     * cannot boot Linux: prefer the interpreter there.
     */
    if (kvm_accel_ops.preferred && !kvm_accel_ops.preferred(&kvm_why)) {
        g_snprintf(buf, sizeof(buf), "%s; -accel kvm forces KVM",
                   kvm_why ? kvm_why : "KVM is not hardware-backed");
        *why = buf;
        return &interp_accel_ops;
    }
    *why = "/dev/kvm is hardware-backed";
    return &kvm_accel_ops;
}
