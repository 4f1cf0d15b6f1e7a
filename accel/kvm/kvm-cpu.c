/*
 * KVM accelerator, vCPU level: create a vCPU with its CPUID, run it on
 * its own thread, kick it out of KVM_RUN from any thread, reset it.
 *
 * Kicks: KVM_CAP_IMMEDIATE_EXIT. A kick sends SIG_KICK to the vCPU
 * thread; the handler sets run->immediate_exit. If the signal lands while
 * the thread is inside KVM_RUN, KVM_RUN returns -EINTR; if it lands
 * anywhere before the next KVM_RUN (even between our stop check and the
 * ioctl), immediate_exit makes that KVM_RUN return -EINTR at once. Either
 * way no kick is lost, and no signal mask juggling is needed.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kvm-int.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/runstate.h"

#define SIG_KICK SIGUSR1

/* The kvm_run of the vCPU this thread runs, for the signal handler. */
static __thread struct kvm_run *thread_run;

static void kick_handler(int sig G_GNUC_UNUSED)
{
    if (thread_run) {
        thread_run->immediate_exit = 1;
    }
}

static void install_kick_handler(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        /* No SA_RESTART: a kicked KVM_RUN must fail with EINTR. */
        struct sigaction sa = { .sa_handler = kick_handler };
        sigemptyset(&sa.sa_mask);
        sigaction(SIG_KICK, &sa, NULL);
        g_once_init_leave(&once, 1);
    }
}

static bool set_cpuid(Vcpu *cpu, KvmVcpu *v, GError **errp)
{
    Machine *m = cpu->m;
    KvmState *ks = kvm_state(m);
    const CpuModel *model = m->cpu_model ? m->cpu_model : ks->default_model;
    CpuidTable t = { 0 };

    if (!cpu_model_build(model, &ks->supported, cpu->index, cpu->apic_id,
                         m->ncpus ? m->ncpus : 1, &t, errp)) {
        return false;
    }
    struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + t.n * sizeof(c->entries[0]));
    c->nent = t.n;
    for (unsigned i = 0; i < t.n; i++) {
        c->entries[i] = (struct kvm_cpuid_entry2){
            .function = t.e[i].function, .index = t.e[i].index,
            .flags = (t.e[i].flags & CPUID_FLAG_SIGNIFICANT_INDEX)
                     ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
            .eax = t.e[i].eax, .ebx = t.e[i].ebx,
            .ecx = t.e[i].ecx, .edx = t.e[i].edx,
        };
    }
    int r = ioctl(v->fd, KVM_SET_CPUID2, c);
    g_free(c);
    g_free(t.e);
    if (r < 0) {
        error_setg(errp, "KVM_SET_CPUID2 (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        return false;
    }
    return true;
}

bool kvm_vcpu_init(Vcpu *cpu, GError **errp)
{
    KvmState *ks = kvm_state(cpu->m);
    KvmVcpu *v = g_new0(KvmVcpu, 1);

    install_kick_handler();
    /* On x86 the vCPU id is the initial APIC ID. */
    v->fd = ioctl(ks->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->apic_id);
    if (v->fd < 0) {
        error_setg(errp, "KVM_CREATE_VCPU %u: %s", cpu->apic_id,
                   g_strerror(errno));
        g_free(v);
        return false;
    }
    v->run_size = ks->run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  v->fd, 0);
    if (v->run == MAP_FAILED) {
        error_setg(errp, "mmap of the kvm_run area (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        close(v->fd);
        g_free(v);
        return false;
    }
    cpu->accel = v;
    /* CPUID first: KVM checks EFER and CR4 bits against it. */
    if (!set_cpuid(cpu, v, errp)) {
        goto fail;
    }
    if (ioctl(v->fd, KVM_GET_LAPIC, &v->lapic_reset) < 0) {
        error_setg(errp, "KVM_GET_LAPIC (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        goto fail;
    }
    if (!kvm_vcpu_reset(cpu, errp)) {
        goto fail;
    }
    return true;

fail:
    munmap(v->run, v->run_size);
    close(v->fd);
    g_free(v);
    cpu->accel = NULL;
    return false;
}

/* Idempotent per thread: point the handler at our kvm_run, unblock it. */
static void thread_setup(Vcpu *cpu)
{
    KvmVcpu *v = cpu->accel;
    sigset_t set;

    if (thread_run == v->run && atomic_load(&v->thread_ready) &&
        pthread_equal(v->tid, pthread_self())) {
        return;
    }
    install_kick_handler();
    thread_run = v->run;
    v->tid = pthread_self();
    sigemptyset(&set);
    sigaddset(&set, SIG_KICK);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    atomic_store(&v->thread_ready, true);
}

void kvm_vcpu_thread_init(Vcpu *cpu)
{
    thread_setup(cpu);
}

void kvm_vcpu_kick(Vcpu *cpu)
{
    KvmVcpu *v = cpu->accel;

    if (!v) {
        return;
    }
    if (atomic_load(&v->thread_ready) && !pthread_equal(v->tid, pthread_self())) {
        pthread_kill(v->tid, SIG_KICK);
    } else {
        /* No thread runs it yet, or we are that thread: no signal needed. */
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    }
}

/*
 * KVM finishes an I/O or MMIO instruction (stores an IN result, advances
 * RIP) only on the next KVM_RUN. Before leaving vcpu_run, re-enter with
 * immediate_exit so the registers are consistent for get/set_state.
 */
static void complete_pending_io(KvmVcpu *v)
{
    v->run->immediate_exit = 1;
    if (ioctl(v->fd, KVM_RUN, 0) == 0 || errno != EINTR) {
        log_warn("KVM: completing I/O before a stop returned unexpectedly");
    }
    v->run->immediate_exit = 0;
}

static void vcpu_fatal(Vcpu *cpu, const char *why)
{
    X86CpuState s;

    flockfile(stderr);
    log_err("vCPU %u: %s", cpu->index, why);
    if (kvm_get_state(cpu, &s)) {
        x86_cpu_dump(&s, stderr);
    }
    funlockfile(stderr);
    runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_PANIC, 1);
}

static bool must_stop(Vcpu *cpu)
{
    return atomic_load(&cpu->stop) || runstate_shutdown_requested();
}

VcpuExit kvm_vcpu_run(Vcpu *cpu)
{
    KvmVcpu *v = cpu->accel;
    Machine *m = cpu->m;

    thread_setup(cpu);
    if (must_stop(cpu)) {
        return VCPU_EXIT_KICKED;
    }
    for (;;) {
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            int err = errno;
            if (err == EINTR) {
                v->run->immediate_exit = 0;
                return VCPU_EXIT_KICKED;
            }
            /* An AP that left wait-for-SIPI: KVM asks to be re-entered. */
            if (err == EAGAIN) {
                if (must_stop(cpu)) {
                    return VCPU_EXIT_KICKED;
                }
                continue;
            }
            g_autofree char *why = g_strdup_printf("KVM_RUN: %s",
                                                   g_strerror(err));
            vcpu_fatal(cpu, why);
            return VCPU_EXIT_FATAL;
        }

        uint32_t reason = v->run->exit_reason;
        char *why = NULL;
        switch (kvm_handle_exit(m, v->run, v->run_size, &why)) {
        case KVM_ACTION_CONTINUE:
            break;
        case KVM_ACTION_RESET:
            return VCPU_EXIT_RESET;
        case KVM_ACTION_SHUTDOWN:
            return VCPU_EXIT_KICKED;
        case KVM_ACTION_FATAL:
            vcpu_fatal(cpu, why);
            g_free(why);
            return VCPU_EXIT_FATAL;
        }
        /* A device may have asked to stop (isa-debug-exit, pause). */
        if (must_stop(cpu)) {
            if (reason == KVM_EXIT_IO || reason == KVM_EXIT_MMIO) {
                complete_pending_io(v);
            }
            return VCPU_EXIT_KICKED;
        }
    }
}

bool kvm_vcpu_reset(Vcpu *cpu, GError **errp)
{
    KvmVcpu *v = cpu->accel;
    Machine *m = cpu->m;
    bool bsp = cpu->index == 0;
    X86CpuState s;
    struct kvm_mp_state mp = {
        .mp_state = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED,
    };

    /* The BSP's reset stands for the board's: PIC, IOAPIC and PIT too. */
    if (bsp && !kvm_irqchip_reset(kvm_state(m), errp)) {
        return false;
    }
    /* A boot state nobody filled in yet (CS not even present): RESET. */
    if (bsp && m->boot_state.seg[SEG_CS].present) {
        s = m->boot_state;
    } else {
        x86_cpu_reset_state(&s, bsp);
    }
    /* SREGS (APIC base) before the LAPIC registers, which it would reset. */
    if (!kvm_set_state(cpu, &s)) {
        error_setg(errp, "KVM: cannot set the reset state of vCPU %u",
                   cpu->index);
        return false;
    }
    if (ioctl(v->fd, KVM_SET_LAPIC, &v->lapic_reset) < 0) {
        error_setg(errp, "KVM_SET_LAPIC (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        return false;
    }
    if (!kvm_reset_cpu_extras(cpu, errp)) {
        return false;
    }
    /* APs sleep in the kernel until the BSP's INIT/SIPI. */
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
        error_setg(errp, "KVM_SET_MP_STATE (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        return false;
    }
    return true;
}
