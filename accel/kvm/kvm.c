/*
 * KVM accelerator, VM level: open /dev/kvm, check the API and every
 * capability we rely on, create the VM with its in-kernel PIC, IOAPIC,
 * LAPICs and PIT, map guest RAM, drive interrupt lines.
 *
 * Reference: Documentation/virt/kvm/api.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kvm-int.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define KVM_DEV "/dev/kvm"

/*
 * Intel's VMX needs three pages for a real-mode TSS and one for an
 * identity page table when unrestricted guest is off. Any guest-physical
 * hole works; these sit just below the 4 GiB BIOS area, clear of RAM
 * (below 3 GiB), the IOAPIC (FEC00000) and the LAPIC (FEE00000).
 */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000u
#define KVM_TSS_ADDR 0xfeffd000u

typedef struct KvmCap {
    int cap;
    const char *name;
    const char *why;
} KvmCap;

#define CAP(c, w) { c, #c, w }

static const KvmCap required_caps[] = {
    CAP(KVM_CAP_USER_MEMORY, "guest RAM memslots"),
    CAP(KVM_CAP_IRQCHIP, "in-kernel PIC, IOAPIC and LAPIC"),
    CAP(KVM_CAP_PIT2, "in-kernel PIT"),
    CAP(KVM_CAP_PIT_STATE2, "resetting the in-kernel PIT"),
    CAP(KVM_CAP_EXT_CPUID, "CPUID configuration"),
    CAP(KVM_CAP_SET_TSS_ADDR, "real-mode TSS on Intel"),
    CAP(KVM_CAP_IMMEDIATE_EXIT, "race-free vCPU kicks"),
    CAP(KVM_CAP_MP_STATE, "application processors waiting for SIPI"),
    CAP(KVM_CAP_IRQ_ROUTING, "PC interrupt routing"),
};

static int check_cap(int kvm_fd, int cap)
{
    int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

static bool kvm_available(void)
{
    int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static bool kvm_preferred(const char **why)
{
    const char *reason;

    if (access("/sys/module/kvm_intel", F_OK) == 0 ||
        access("/sys/module/kvm_amd", F_OK) == 0) {
        if (kvm_available()) {
            return true;
        }
        reason = KVM_DEV " cannot be opened read-write";
    } else if (access("/sys/module/kvm_pvm", F_OK) == 0) {
        reason = KVM_DEV " is a software KVM (kvm_pvm), not hardware-backed";
    } else {
        reason = KVM_DEV " is not hardware-backed (neither kvm_intel nor "
                 "kvm_amd is loaded)";
    }
    if (why) {
        *why = reason;
    }
    return false;
}

static bool get_supported_cpuid(KvmState *ks, GError **errp)
{
    for (unsigned nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) +
                                         nent * sizeof(c->entries[0]));
        c->nent = nent;
        if (ioctl(ks->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            ks->supported.n = c->nent;
            ks->supported.e = g_new0(CpuidEntry, c->nent);
            for (unsigned i = 0; i < c->nent; i++) {
                const struct kvm_cpuid_entry2 *k = &c->entries[i];
                ks->supported.e[i] = (CpuidEntry){
                    .function = k->function, .index = k->index,
                    .flags = (k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
                             ? CPUID_FLAG_SIGNIFICANT_INDEX : 0,
                    .eax = k->eax, .ebx = k->ebx, .ecx = k->ecx, .edx = k->edx,
                };
            }
            g_free(c);
            return true;
        }
        int err = errno;
        g_free(c);
        if (err != E2BIG) {
            error_setg(errp, "KVM_GET_SUPPORTED_CPUID: %s", g_strerror(err));
            return false;
        }
    }
    error_setg(errp, "KVM_GET_SUPPORTED_CPUID: table too large");
    return false;
}

static bool get_msr_list(KvmState *ks, GError **errp)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };

    /* The first call fails with E2BIG and tells the size. */
    if (ioctl(ks->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 &&
        errno != E2BIG) {
        error_setg(errp, "KVM_GET_MSR_INDEX_LIST: %s", g_strerror(errno));
        return false;
    }
    struct kvm_msr_list *l = g_malloc0(sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    if (ioctl(ks->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        error_setg(errp, "KVM_GET_MSR_INDEX_LIST: %s", g_strerror(errno));
        g_free(l);
        return false;
    }
    ks->nmsrs = l->nmsrs;
    ks->msrs = g_memdup2(l->indices, l->nmsrs * sizeof(uint32_t));
    g_free(l);
    return true;
}

/*
 * Route interrupts as on a PC (and QEMU): ISA IRQs 0-15 to the PICs
 * (except the cascade, 2), GSIs to the same IOAPIC pins, except that the
 * PIT's IRQ 0 arrives at IOAPIC pin 2. Firmware tables must carry the
 * matching interrupt source override (IRQ0 -> GSI2).
 */
static bool setup_gsi_routing(KvmState *ks, GError **errp)
{
    struct kvm_irq_routing *r = g_malloc0(sizeof(*r) +
        (16 + MACHINE_NR_GSI) * sizeof(struct kvm_irq_routing_entry));
    unsigned n = 0;

    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2) {
            continue;
        }
        r->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {
                .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
                                   : KVM_IRQCHIP_PIC_SLAVE,
                .pin = gsi & 7,
            },
        };
    }
    for (unsigned gsi = 0; gsi < MACHINE_NR_GSI; gsi++) {
        if (gsi == 2) {
            continue;
        }
        r->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC,
                           .pin = gsi == 0 ? 2 : gsi },
        };
    }
    r->nr = n;
    int ret = ioctl(ks->vm_fd, KVM_SET_GSI_ROUTING, r);
    g_free(r);
    if (ret < 0) {
        error_setg(errp, "KVM_SET_GSI_ROUTING: %s", g_strerror(errno));
        return false;
    }
    return true;
}

/* Create PIC+IOAPIC+LAPIC and the PIT, and remember their reset state. */
static bool create_irqchip(KvmState *ks, GError **errp)
{
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

    if (ioctl(ks->vm_fd, KVM_CREATE_IRQCHIP) < 0) {
        error_setg(errp, "KVM_CREATE_IRQCHIP: %s", g_strerror(errno));
        return false;
    }
    /*
     * SPEAKER_DUMMY: the kernel also handles port 0x61, whose bits gate
     * PIT channel 2 and show its output (Linux calibrates the TSC with it);
     * only the kernel can see channel 2's state.
     */
    if (ioctl(ks->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        error_setg(errp, "KVM_CREATE_PIT2: %s", g_strerror(errno));
        return false;
    }
    for (int i = 0; i < 3; i++) {
        ks->chip_reset[i].chip_id = i;
        if (ioctl(ks->vm_fd, KVM_GET_IRQCHIP, &ks->chip_reset[i]) < 0) {
            error_setg(errp, "KVM_GET_IRQCHIP: %s", g_strerror(errno));
            return false;
        }
    }
    if (ioctl(ks->vm_fd, KVM_GET_PIT2, &ks->pit_reset) < 0) {
        error_setg(errp, "KVM_GET_PIT2: %s", g_strerror(errno));
        return false;
    }
    return setup_gsi_routing(ks, errp);
}

bool kvm_irqchip_reset(KvmState *ks, GError **errp)
{
    for (int i = 0; i < 3; i++) {
        if (ioctl(ks->vm_fd, KVM_SET_IRQCHIP, &ks->chip_reset[i]) < 0) {
            error_setg(errp, "KVM_SET_IRQCHIP: %s", g_strerror(errno));
            return false;
        }
    }
    if (ioctl(ks->vm_fd, KVM_SET_PIT2, &ks->pit_reset) < 0) {
        error_setg(errp, "KVM_SET_PIT2: %s", g_strerror(errno));
        return false;
    }
    return true;
}

static void kvm_free_state(KvmState *ks)
{
    if (ks->vm_fd >= 0) {
        close(ks->vm_fd);
    }
    if (ks->kvm_fd >= 0) {
        close(ks->kvm_fd);
    }
    cpu_model_free(ks->default_model);
    g_free(ks->supported.e);
    g_free(ks->msrs);
    g_free(ks);
}

static bool check_host(KvmState *ks, Machine *m, GError **errp)
{
    int ver = ioctl(ks->kvm_fd, KVM_GET_API_VERSION, 0);

    if (ver != KVM_API_VERSION) {
        error_setg(errp, "KVM API version %d, need %d", ver, KVM_API_VERSION);
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(required_caps); i++) {
        if (!check_cap(ks->kvm_fd, required_caps[i].cap)) {
            error_setg(errp, "KVM lacks %s (needed for %s)",
                       required_caps[i].name, required_caps[i].why);
            return false;
        }
    }
    int max_vcpus = check_cap(ks->kvm_fd, KVM_CAP_MAX_VCPUS);
    if (!max_vcpus) {
        max_vcpus = check_cap(ks->kvm_fd, KVM_CAP_NR_VCPUS);
    }
    if (max_vcpus && m->cfg.smp > (unsigned)max_vcpus) {
        error_setg(errp, "KVM supports at most %d vCPUs (KVM_CAP_MAX_VCPUS), "
                   "%u requested", max_vcpus, m->cfg.smp);
        return false;
    }
    int slots = check_cap(ks->kvm_fd, KVM_CAP_NR_MEMSLOTS);
    ks->max_slots = slots > 0 ? (unsigned)slots : 32;
    ks->has_debugregs = check_cap(ks->kvm_fd, KVM_CAP_DEBUGREGS);
    ks->has_vcpu_events = check_cap(ks->kvm_fd, KVM_CAP_VCPU_EVENTS);
    ks->has_ioeventfd = check_cap(ks->kvm_fd, KVM_CAP_IOEVENTFD);
    int sz = ioctl(ks->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run)) {
        error_setg(errp, "KVM_GET_VCPU_MMAP_SIZE: %s",
                   sz < 0 ? g_strerror(errno) : "too small");
        return false;
    }
    ks->run_size = sz;
    return true;
}

static bool kvm_init(Machine *m, GError **errp)
{
    KvmState *ks = g_new0(KvmState, 1);

    ks->vm_fd = -1;
    ks->kvm_fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
    if (ks->kvm_fd < 0) {
        error_setg(errp, "cannot open " KVM_DEV ": %s", g_strerror(errno));
        goto fail;
    }
    if (!check_host(ks, m, errp) ||
        !get_supported_cpuid(ks, errp) || !get_msr_list(ks, errp)) {
        goto fail;
    }
    ks->default_model = cpu_model_parse("qemu64", errp);
    if (!ks->default_model) {
        goto fail;
    }
    ks->vm_fd = ioctl(ks->kvm_fd, KVM_CREATE_VM, 0);
    if (ks->vm_fd < 0) {
        error_setg(errp, "KVM_CREATE_VM: %s", g_strerror(errno));
        goto fail;
    }
    /* Before any vCPU exists (the identity map cannot move later). */
    if (check_cap(ks->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
        uint64_t addr = KVM_IDENTITY_MAP_ADDR;
        if (ioctl(ks->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0) {
            error_setg(errp, "KVM_SET_IDENTITY_MAP_ADDR: %s", g_strerror(errno));
            goto fail;
        }
    }
    if (ioctl(ks->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        error_setg(errp, "KVM_SET_TSS_ADDR: %s", g_strerror(errno));
        goto fail;
    }
    if (!create_irqchip(ks, errp)) {
        goto fail;
    }
    m->accel_state = ks;
    return true;

fail:
    kvm_free_state(ks);
    return false;
}

static bool kvm_ram_map(Machine *m, RamBlock *rb, GError **errp)
{
    KvmState *ks = kvm_state(m);

    if (ks->next_slot >= ks->max_slots) {
        error_setg(errp, "KVM: out of memory slots (KVM_CAP_NR_MEMSLOTS %u)",
                   ks->max_slots);
        return false;
    }
    struct kvm_userspace_memory_region r = {
        .slot = ks->next_slot,
        .guest_phys_addr = rb->gpa,
        .memory_size = rb->size,
        .userspace_addr = (uintptr_t)rb->host,
    };
    if (ioctl(ks->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        error_setg(errp, "KVM_SET_USER_MEMORY_REGION [0x%" G_GINT64_MODIFIER
                   "x, +0x%" G_GINT64_MODIFIER "x): %s", rb->gpa, rb->size,
                   g_strerror(errno));
        return false;
    }
    ks->next_slot++;
    return true;
}

static bool kvm_has_irqchip(Machine *m)
{
    return kvm_state(m) != NULL;
}

static void kvm_set_gsi(Machine *m, unsigned gsi, int level)
{
    struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

    if (gsi >= MACHINE_NR_GSI) {
        log_err("KVM: GSI %u out of range", gsi);
        return;
    }
    if (ioctl(kvm_state(m)->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
        log_err("KVM_IRQ_LINE %u: %s", gsi, g_strerror(errno));
    }
}

/*
 * KVM_SIGNAL_MSI returns 0 when the guest's APICs blocked the message
 * (e.g. a masked LVT): only a negative return is an error.
 */
static void kvm_signal_msi(Machine *m, uint64_t addr, uint32_t data)
{
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };

    if (ioctl(kvm_state(m)->vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
        log_err("KVM_SIGNAL_MSI 0x%" G_GINT64_MODIFIER "x/0x%x: %s", addr, data,
                g_strerror(errno));
    }
}

/*
 * No datamatch: every address we register belongs to one queue, so any
 * value written there is a notification for it.
 */
static bool kvm_ioeventfd(Machine *m, uint64_t addr, unsigned len, bool mmio, int fd,
                          bool assign, GError **errp)
{
    KvmState *ks = kvm_state(m);
    struct kvm_ioeventfd io = {
        .addr = addr,
        .len = len,
        .fd = fd,
        .flags = (mmio ? 0 : KVM_IOEVENTFD_FLAG_PIO) |
                 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };

    if (!ks || !ks->has_ioeventfd) {
        error_setg(errp, "KVM: no KVM_CAP_IOEVENTFD on this host");
        return false;
    }
    if (len != 1 && len != 2 && len != 4 && len != 8) {
        error_setg(errp, "KVM_IOEVENTFD: length %u (1, 2, 4 or 8)", len);
        return false;
    }
    if (ioctl(ks->vm_fd, KVM_IOEVENTFD, &io) < 0) {
        error_setg(errp, "KVM_IOEVENTFD %s %s 0x%" G_GINT64_MODIFIER "x/%u: %s",
                   assign ? "assign" : "deassign", mmio ? "mmio" : "pio", addr, len,
                   g_strerror(errno));
        return false;
    }
    return true;
}

static void kvm_cleanup(Machine *m)
{
    KvmState *ks = kvm_state(m);

    if (!ks) {
        return;
    }
    for (unsigned i = 0; i < m->ncpus; i++) {
        KvmVcpu *v = m->cpus[i] ? m->cpus[i]->accel : NULL;
        if (v) {
            munmap(v->run, v->run_size);
            close(v->fd);
            g_free(v);
            m->cpus[i]->accel = NULL;
        }
    }
    kvm_free_state(ks);
    m->accel_state = NULL;
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .available = kvm_available,
    .preferred = kvm_preferred,
    .init = kvm_init,
    .ram_map = kvm_ram_map,
    .has_irqchip = kvm_has_irqchip,
    .set_gsi = kvm_set_gsi,
    .signal_msi = kvm_signal_msi,
    .ioeventfd = kvm_ioeventfd,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_thread_init = kvm_vcpu_thread_init,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_reset = kvm_vcpu_reset,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .cleanup = kvm_cleanup,
};
