/* The accelerator registry (include/accel/accel.h). */
#include <string.h>
#include "accel/accel.h"
#include "accel/kvm.h"
#include "kemu/error.h"

static const AccelOps *const accels[] = {
    &kvm_accel_ops,
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
    const char *kvm_why = NULL;

    if (!kvm_accel_ops.available()) {
        error_setg(errp, "no accelerator available: /dev/kvm cannot be opened, "
                   "and the interpreter is not available yet");
        return NULL;
    }
    if (kvm_accel_ops.preferred && !kvm_accel_ops.preferred(&kvm_why)) {
        static char buf[256];
        /* The interpreter would be the better default here, once it exists. */
        g_snprintf(buf, sizeof(buf), "%s; the interpreter is not available yet",
                   kvm_why ? kvm_why : "KVM is not preferred");
        *why = buf;
        return &kvm_accel_ops;
    }
    *why = "/dev/kvm is available";
    return &kvm_accel_ops;
}
