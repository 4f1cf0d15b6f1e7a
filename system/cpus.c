/*
 * vCPU threads (include/system/cpus.h). Each thread loops on the
 * accelerator's vcpu_run; it parks on a condition variable while its stop
 * flag is set. Pausing sets every stop flag, kicks the vCPUs out of the
 * guest and waits until all are parked.
 */
#include <sys/resource.h>
#include <time.h>
#include "accel/accel.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/bql.h"
#include "system/cpus.h"
#include "system/runstate.h"

static GMutex cpus_lock;
static GCond cpus_parked;     /* a vCPU parked */
static GCond cpus_wake;       /* stop flags changed */
static bool cpus_quit;
static int64_t startup_wall_ns;

static __thread Vcpu *this_vcpu;

Vcpu *current_vcpu(void)
{
    return this_vcpu;
}

void set_current_vcpu(Vcpu *cpu)
{
    this_vcpu = cpu;
}

void vcpu_interrupt(Vcpu *cpu, unsigned bits)
{
    atomic_fetch_or(&cpu->irq_request, bits);
    cpu->m->accel->vcpu_kick(cpu);
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* -d startup: what it cost to get here, measured just before KVM_RUN. */
static void report_startup(void)
{
    struct rusage ru;

    if (!(log_mask & LOG_STARTUP)) {
        return;
    }
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    log_info("startup: %.2f ms CPU, %.2f ms wall before the first guest instruction",
             cpu_ms, (mono_ns() - startup_wall_ns) / 1e6);
}

void cpus_note_process_start(int64_t mono_start_ns)
{
    startup_wall_ns = mono_start_ns;
}

static void *vcpu_thread(void *arg)
{
    Vcpu *cpu = arg;
    const AccelOps *accel = cpu->m->accel;
    bool fatal = false, first = true;

    set_current_vcpu(cpu);
    if (accel->vcpu_thread_init) {
        accel->vcpu_thread_init(cpu);
    }
    g_mutex_lock(&cpus_lock);
    for (;;) {
        while (!cpus_quit && (atomic_load(&cpu->stop) || fatal)) {
            cpu->stopped = true;
            g_cond_broadcast(&cpus_parked);
            g_cond_wait(&cpus_wake, &cpus_lock);
        }
        if (cpus_quit) {
            break;
        }
        cpu->stopped = false;
        g_mutex_unlock(&cpus_lock);

        if (first && cpu->index == 0) {
            report_startup();
        }
        first = false;
        atomic_store(&cpu->running, true);
        VcpuExit e = accel->vcpu_run(cpu);
        atomic_store(&cpu->running, false);

        g_mutex_lock(&cpus_lock);
        /* After a fatal exit the accelerator already asked for shutdown. */
        fatal = fatal || e == VCPU_EXIT_FATAL;
    }
    cpu->stopped = true;
    g_cond_broadcast(&cpus_parked);
    g_mutex_unlock(&cpus_lock);
    return NULL;
}

bool cpus_init(Machine *m, GError **errp)
{
    for (unsigned i = 0; i < m->ncpus; i++) {
        Vcpu *cpu = g_new0(Vcpu, 1);
        cpu->m = m;
        cpu->index = i;
        cpu->apic_id = i;
        m->cpus[i] = cpu;
        if (!m->accel->vcpu_init(cpu, errp)) {
            return false;
        }
    }
    return true;
}

bool cpus_start(Machine *m, bool paused, GError **errp)
{
    for (unsigned i = 0; i < m->ncpus; i++) {
        Vcpu *cpu = m->cpus[i];
        atomic_store(&cpu->stop, paused);
        int r = pthread_create(&cpu->thread, NULL, vcpu_thread, cpu);
        if (r) {
            error_setg(errp, "cannot create vCPU thread: %s", g_strerror(r));
            return false;
        }
        char name[16];
        g_snprintf(name, sizeof(name), "CPU %u/%s", i, m->accel->name);
        pthread_setname_np(cpu->thread, name);
    }
    return true;
}

/* Wait (BQL dropped, so vCPUs can finish the exit they handle) until all park. */
static void wait_all_parked(Machine *m)
{
    bql_unlock();
    g_mutex_lock(&cpus_lock);
    for (;;) {
        bool all = true;
        for (unsigned i = 0; i < m->ncpus; i++) {
            all = all && m->cpus[i]->stopped;
        }
        if (all) {
            break;
        }
        g_cond_wait(&cpus_parked, &cpus_lock);
    }
    g_mutex_unlock(&cpus_lock);
    bql_lock();
}

void cpus_pause(Machine *m)
{
    g_mutex_lock(&cpus_lock);
    for (unsigned i = 0; i < m->ncpus; i++) {
        atomic_store(&m->cpus[i]->stop, true);
    }
    g_mutex_unlock(&cpus_lock);
    for (unsigned i = 0; i < m->ncpus; i++) {
        m->accel->vcpu_kick(m->cpus[i]);
    }
    wait_all_parked(m);
}

void cpus_resume(Machine *m)
{
    g_mutex_lock(&cpus_lock);
    for (unsigned i = 0; i < m->ncpus; i++) {
        atomic_store(&m->cpus[i]->stop, false);
    }
    g_cond_broadcast(&cpus_wake);
    g_mutex_unlock(&cpus_lock);
}

bool cpus_reset(Machine *m, GError **errp)
{
    for (unsigned i = 0; i < m->ncpus; i++) {
        if (!m->accel->vcpu_reset(m->cpus[i], errp)) {
            return false;
        }
    }
    return true;
}

void cpus_stop_threads(Machine *m)
{
    g_mutex_lock(&cpus_lock);
    cpus_quit = true;
    for (unsigned i = 0; i < m->ncpus; i++) {
        if (m->cpus[i]) {
            atomic_store(&m->cpus[i]->stop, true);
        }
    }
    g_cond_broadcast(&cpus_wake);
    g_mutex_unlock(&cpus_lock);
    for (unsigned i = 0; i < m->ncpus; i++) {
        if (m->cpus[i] && m->cpus[i]->thread) {
            m->accel->vcpu_kick(m->cpus[i]);
        }
    }
    bql_unlock();
    for (unsigned i = 0; i < m->ncpus; i++) {
        if (m->cpus[i] && m->cpus[i]->thread) {
            pthread_join(m->cpus[i]->thread, NULL);
        }
    }
    bql_lock();
}
