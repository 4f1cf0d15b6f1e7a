/*
 * The interpreter accelerator: runs target/x86's software CPU on each
 * vCPU thread. Selected with "-accel tcg" (the name QEMU users type).
 *
 * Interrupts come from the userspace interrupt controllers through
 * Vcpu.irq_request (see include/hw/intc/apic.h); they are taken between
 * x86_exec runs, which end at trace boundaries once a request is pending.
 * A halted vCPU (HLT, or an AP waiting for SIPI) sleeps on a condition
 * variable until vcpu_kick: timers run on the main-loop thread and raise
 * interrupts through the APIC, which kicks. So an idle guest costs no CPU.
 *
 * Per-vCPU state is an InterpVcpu whose first member is the CPU, so
 * Vcpu.accel can be used as a CPU * (target/x86/sys/mmu.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "accel/interp.h"
#include "hw/intc/apic.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/bql.h"
#include "system/runstate.h"
#include "target/x86/cpuid.h"
#include "target/x86/interp.h"

/* Instructions per x86_exec call: bounds the time between stop checks. */
#define EXEC_BUDGET (1u << 20)
/* Safety net for a sleeping vCPU; every wake-up is also kicked. */
#define HALT_POLL_US (50 * 1000)

typedef struct InterpVcpu {
    CPU cpu;                 /* first: Vcpu.accel doubles as CPU * */
    GMutex lock;
    GCond wake;
    bool kicked;             /* guarded by lock */
    bool sleeping;           /* in g_cond_wait_until on wake; guarded by lock */
    bool wait_sipi;          /* AP after INIT, until a SIPI */
    CpuidTable cpuid;
} InterpVcpu;

static CpuModel *default_model;

static bool interp_available(void)
{
    return true;
}

static bool interp_preferred(const char **why)
{
    (void)why;
    return true;
}

static bool interp_init(Machine *m, GError **errp)
{
    (void)m;
    if (!default_model) {
        default_model = cpu_model_parse("qemu64", errp);
    }
    return default_model != NULL;
}

static bool interp_ram_map(Machine *m, RamBlock *rb, GError **errp)
{
    /* Guest RAM is reached through machine_gpa_to_hva: nothing to map. */
    (void)m;
    (void)rb;
    (void)errp;
    return true;
}

static bool interp_has_irqchip(Machine *m)
{
    (void)m;
    return false;
}

static InterpVcpu *ivcpu(Vcpu *v)
{
    return v->accel;
}

static bool must_stop(Vcpu *v)
{
    return atomic_load(&v->stop) || runstate_shutdown_requested();
}

static void interp_vcpu_kick(Vcpu *v)
{
    InterpVcpu *iv = ivcpu(v);

    if (!iv) {
        return;
    }
    g_mutex_lock(&iv->lock);
    iv->kicked = true;
    /* g_cond_signal is a syscall every time: only for a vCPU that sleeps.
       A running one (the vCPU interrupting itself after an inline disk
       completion, a main-loop timer) sees kicked and irq_request before
       it sleeps. */
    if (iv->sleeping) {
        g_cond_signal(&iv->wake);
    }
    g_mutex_unlock(&iv->lock);
}

static bool interp_vcpu_reset(Vcpu *v, GError **errp)
{
    InterpVcpu *iv = ivcpu(v);
    CPU *cpu = &iv->cpu;
    bool bsp = v->index == 0;

    (void)errp;
    x86_cpu_reset(cpu, bsp);
    if (bsp) {
        x86_cpu_set_state(cpu, &v->m->boot_state);
    }
    iv->wait_sipi = !bsp;
    atomic_store(&v->irq_request, 0);
    /* RAM was reloaded behind the decoder's back: forget decoded code. */
    code_cache_free(cpu->code);
    cpu->code = code_cache_new();
    return true;
}

/* Free @v's interpreter state, made by interp_vcpu_init(). */
static void interp_vcpu_free(Vcpu *v)
{
    InterpVcpu *iv = v->accel;

    v->accel = NULL;
    code_cache_free(iv->cpu.code);
    g_free(iv->cpuid.e);
    g_mutex_clear(&iv->lock);
    g_cond_clear(&iv->wake);
    free(iv);
}

/* A zeroed InterpVcpu on a cache-line boundary, so each 32-byte TLB entry
   lies within one line (see TlbEntry); NULL if out of memory. */
static InterpVcpu *ivcpu_alloc(void)
{
    void *p = NULL;

    if (posix_memalign(&p, 64, sizeof(InterpVcpu))) {
        return NULL;
    }
    return memset(p, 0, sizeof(InterpVcpu));
}

static bool interp_vcpu_init(Vcpu *v, GError **errp)
{
    Machine *m = v->m;
    InterpVcpu *iv = ivcpu_alloc();
    CpuidTable sup = { 0 };
    bool ok;

    if (!iv) {
        error_setg(errp, "out of memory for vCPU %u", v->index);
        return false;
    }
    if (!default_model && !interp_init(m, errp)) {
        free(iv);
        return false;
    }
    x86_interp_supported_cpuid(&sup);
    ok = cpu_model_build(m->cpu_model ? m->cpu_model : default_model, &sup,
                         v->index, v->apic_id, m->ncpus ? m->ncpus : 1,
                         &iv->cpuid, errp);
    g_free(sup.e);
    if (!ok) {
        free(iv);
        return false;
    }
    g_mutex_init(&iv->lock);
    g_cond_init(&iv->wake);
    iv->cpu.m = m;
    iv->cpu.vcpu = v;
    iv->cpu.cpuid = &iv->cpuid;
    iv->cpu.code = code_cache_new();
    v->accel = iv;
    /* No in-kernel irqchip: each vCPU gets the userspace local APIC. */
    if (!v->apic && !apic_new(m, v, errp)) {
        goto fail;
    }
    return interp_vcpu_reset(v, errp);

fail:
    interp_vcpu_free(v);
    return false;
}

static void vcpu_fatal(Vcpu *v, const char *why)
{
    X86CpuState s;

    x86_cpu_get_state(&ivcpu(v)->cpu, &s);
    flockfile(stderr);
    log_err("vCPU %u: %s", v->index, why);
    x86_cpu_dump(&s, stderr);
    funlockfile(stderr);
    runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_PANIC, 1);
}

/* Can a pending request end a halt (or the wait for SIPI) now? */
static bool wakeup_pending(InterpVcpu *iv)
{
    Vcpu *v = iv->cpu.vcpu;
    unsigned req = atomic_load(&v->irq_request);

    if (iv->wait_sipi) {
        return req & (VCPU_IRQ_INIT | VCPU_IRQ_SIPI);
    }
    if (req & (VCPU_IRQ_INIT | VCPU_IRQ_SIPI | VCPU_IRQ_NMI)) {
        return true;
    }
    return (req & VCPU_IRQ_HARD) && (iv->cpu.s.rflags & FLAG_IF);
}

static void sleep_until_woken(InterpVcpu *iv)
{
    Vcpu *v = iv->cpu.vcpu;

    g_mutex_lock(&iv->lock);
    while (!iv->kicked && !must_stop(v) && !wakeup_pending(iv)) {
        gint64 end = g_get_monotonic_time() + HALT_POLL_US;
        iv->sleeping = true;
        g_cond_wait_until(&iv->wake, &iv->lock, end);
        iv->sleeping = false;
    }
    iv->kicked = false;
    g_mutex_unlock(&iv->lock);
}

static void do_init(InterpVcpu *iv)
{
    CPU *cpu = &iv->cpu;
    Vcpu *v = cpu->vcpu;
    uint64_t apic_base = cpu->s.apic_base;

    x86_cpu_reset(cpu, v->index == 0);
    cpu->s.apic_base = apic_base;
    if (v->apic) {
        bql_lock();
        apic_reset(v->apic);
        bql_unlock();
    }
    iv->wait_sipi = true;
}

static void do_sipi(InterpVcpu *iv)
{
    CPU *cpu = &iv->cpu;
    unsigned vec = atomic_load(&cpu->vcpu->sipi_vector) & 0xff;
    X86Segment *cs = &cpu->s.seg[SEG_CS];

    if (!iv->wait_sipi) {
        return;             /* SIPI outside wait-for-SIPI is ignored */
    }
    cs->selector = vec << 8;
    cs->base = (uint64_t)vec << 12;
    cpu->s.rip = cpu->next_rip = 0;
    cpu->halted = 0;
    iv->wait_sipi = false;
    x86_update_mode(cpu);
}

/* Take pending interrupt requests the CPU can accept now. */
static void handle_requests(InterpVcpu *iv)
{
    CPU *cpu = &iv->cpu;
    Vcpu *v = cpu->vcpu;
    unsigned req = atomic_load(&v->irq_request);

    if (req & VCPU_IRQ_INIT) {
        atomic_fetch_and(&v->irq_request, ~VCPU_IRQ_INIT);
        do_init(iv);
    }
    if (req & VCPU_IRQ_SIPI) {
        atomic_fetch_and(&v->irq_request, ~VCPU_IRQ_SIPI);
        do_sipi(iv);
    }
    if (iv->wait_sipi) {
        return;
    }
    if ((req & VCPU_IRQ_NMI) && !cpu->nmi_blocked) {
        atomic_fetch_and(&v->irq_request, ~VCPU_IRQ_NMI);
        x86_deliver(cpu, EXC_NMI, EVT_HW_INTERRUPT, false, 0);
        return;
    }
    if ((req & VCPU_IRQ_HARD) && (cpu->s.rflags & FLAG_IF) && !cpu->intr_shadow) {
        int vec = -1;
        if (v->apic) {
            bql_lock();
            vec = apic_acknowledge_interrupt(v);
            bql_unlock();
        } else {
            atomic_fetch_and(&v->irq_request, ~VCPU_IRQ_HARD);
        }
        if (vec >= 0) {
            x86_deliver(cpu, vec, EVT_HW_INTERRUPT, false, 0);
        }
    }
}

static VcpuExit interp_vcpu_run(Vcpu *v)
{
    InterpVcpu *iv = ivcpu(v);
    CPU *cpu = &iv->cpu;

    for (;;) {
        if (must_stop(v)) {
            return VCPU_EXIT_KICKED;
        }
        if (cpu->halted) {
            /* The shadow covered the HLT itself, which has completed. */
            cpu->intr_shadow = 0;
        }
        handle_requests(iv);
        if (cpu->shutdown) {
            vcpu_fatal(v, "triple fault: the CPU shut down");
            return VCPU_EXIT_FATAL;
        }
        if (iv->wait_sipi || cpu->halted) {
            sleep_until_woken(iv);
            continue;
        }
        x86_exec(cpu, EXEC_BUDGET);
    }
}

static bool interp_get_state(Vcpu *v, X86CpuState *s)
{
    x86_cpu_get_state(&ivcpu(v)->cpu, s);
    return true;
}

static bool interp_set_state(Vcpu *v, const X86CpuState *s)
{
    x86_cpu_set_state(&ivcpu(v)->cpu, s);
    return true;
}

static uint64_t interp_insns_retired(Vcpu *v)
{
    return ivcpu(v)->cpu.icount;
}

/* DMA into RAM that holds decoded instructions must drop them. */
static void interp_dma_written(Machine *m, uint64_t gpa, uint64_t len)
{
    for (uint64_t p = gpa & ~0xfffull; p < gpa + len; p += 0x1000) {
        if (code_page_has_code(m, p)) {
            code_invalidate_page(m, p);
        }
    }
}

static void interp_cleanup(Machine *m)
{
    for (unsigned i = 0; i < m->ncpus; i++) {
        Vcpu *v = m->cpus[i];

        if (v && v->accel) {
            interp_vcpu_free(v);
        }
    }
    cpu_model_free(default_model);
    default_model = NULL;
}

const AccelOps interp_accel_ops = {
    .name = "tcg",
    .available = interp_available,
    .preferred = interp_preferred,
    .init = interp_init,
    .ram_map = interp_ram_map,
    .has_irqchip = interp_has_irqchip,
    .vcpu_init = interp_vcpu_init,
    .vcpu_run = interp_vcpu_run,
    .vcpu_kick = interp_vcpu_kick,
    .vcpu_reset = interp_vcpu_reset,
    .get_state = interp_get_state,
    .set_state = interp_set_state,
    .insns_retired = interp_insns_retired,
    .dma_written = interp_dma_written,
    .cleanup = interp_cleanup,
};
