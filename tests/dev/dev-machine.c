/*
 * Shared device-test helpers (dev-machine.h).
 */
#include <string.h>
#include "accel/accel.h"
#include "dev-machine.h"
#include "hw/clock.h"
#include "hw/intc/apic.h"
#include "hw/iobus.h"
#include "hw/vmstate.h"

#define WAIT_SECONDS 10
#define ADVANCE_SECONDS 5

DevLine dev_gsi[MACHINE_NR_GSI];
unsigned dev_kicks[MACHINE_MAX_CPUS];

static void record(void *opaque, int n, int level)
{
    DevLine *log = opaque;

    (void)n;
    log->level = level;
    log->calls++;
    if (level) {
        log->raises++;
    }
}

IrqLine *dev_line_new(DevLine *log)
{
    *log = (DevLine){ .level = -1 };
    return irq_new(record, log, 0);
}

Machine *dev_machine_new(void)
{
    Machine *m = g_new0(Machine, 1);

    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    for (unsigned n = 0; n < MACHINE_NR_GSI; n++) {
        m->gsi[n] = dev_line_new(&dev_gsi[n]);
    }
    return m;
}

static void count_kick(Vcpu *cpu)
{
    dev_kicks[cpu->index]++;
}

static const AccelOps kick_counter = {
    .name = "kick-counter",
    .vcpu_kick = count_kick,
};

void dev_machine_add_cpus(Machine *m, unsigned n)
{
    g_assert_cmpuint(n, <=, MACHINE_MAX_CPUS);
    m->accel = &kick_counter;
    m->ncpus = n;
    for (unsigned i = 0; i < n; i++) {
        g_autoptr(GError) err = NULL;
        Vcpu *cpu = g_new0(Vcpu, 1);

        cpu->m = m;
        cpu->index = i;
        cpu->apic_id = i;
        m->cpus[i] = cpu;
        g_assert_nonnull(apic_new(m, cpu, &err));
        g_assert_no_error(err);
        g_assert_nonnull(cpu->apic);
        dev_kicks[i] = 0;
    }
    set_current_vcpu(NULL);
}

void dev_machine_free(Machine *m)
{
    set_current_vcpu(NULL);
    devices_free(m);
    for (unsigned i = 0; i < m->ncpus; i++) {
        g_assert_null(m->cpus[i]->apic);
        g_free(m->cpus[i]);
    }
    for (unsigned n = 0; n < MACHINE_NR_GSI; n++) {
        irq_free(m->gsi[n]);
    }
    iobus_free(m->pio);
    iobus_free(m->mmio);
    g_free(m);
    clock_resume();
}

static gboolean tick(gpointer opaque)
{
    (void)opaque;
    return G_SOURCE_CONTINUE;
}

void dev_wait_until(GMainContext *ctx, bool (*cond)(void *opaque), void *opaque)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
    /* Wakes the loop every millisecond: @cond may turn true outside the
       loop (a peer's socket, a file), and the deadline must be checked
       even when nothing else is due. */
    GSource *wake = g_timeout_source_new(1);

    g_source_set_callback(wake, tick, NULL, NULL);
    g_source_attach(wake, ctx);
    while (!cond(opaque)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(ctx, TRUE);
    }
    g_source_destroy(wake);
    g_source_unref(wake);
}

static bool line_high(void *opaque)
{
    const DevLine *line = opaque;

    return line->level == 1;
}

void dev_run_until_high(GMainContext *ctx, const DevLine *line)
{
    clock_resume();
    dev_wait_until(ctx, line_high, (void *)line);
    clock_pause();
}

int64_t dev_clock_advance_to(int64_t target)
{
    gint64 deadline = g_get_monotonic_time() + ADVANCE_SECONDS * G_USEC_PER_SEC;

    clock_resume();
    while (clock_ns() < target) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50);   /* poll interval, not synchronisation */
    }
    clock_pause();
    return clock_ns();
}

static uint8_t *state_of(Device *d)
{
    return (uint8_t *)d + d->cls->vmstate_offset;
}

/* Bytes of the state struct from its start to the end of the last field. */
static size_t vmstate_extent(const VMStateDesc *vmsd)
{
    size_t end = 0;

    for (const VMStateField *f = vmsd->fields; f->name; f++) {
        end = MAX(end, f->offset + f->size);
    }
    return end;
}

bool dev_vmstate_save_reset(Device *d, DevSnapshot *s)
{
    const VMStateDesc *vmsd = d->cls->vmsd;
    uint8_t *state = state_of(d);

    g_assert_nonnull(vmsd);
    s->dev = d;
    s->len = vmstate_extent(vmsd);
    s->saved = g_memdup2(state, s->len);
    s->rec = dev_vmstate_record(d);
    d->cls->reset(d);
    /* An empty state (len 0) has nothing reset could change. */
    return s->len && memcmp(state, s->saved, s->len) != 0;
}

void dev_vmstate_load_check(DevSnapshot *s)
{
    const VMStateDesc *vmsd = s->dev->cls->vmsd;
    uint8_t *state = state_of(s->dev);
    g_autoptr(GError) err = NULL;

    g_assert_true(vmstate_load(vmsd, state, s->rec->data, s->rec->len, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(state, s->len, s->saved, s->len);
    g_byte_array_unref(s->rec);
    g_free(s->saved);
    memset(s, 0, sizeof(*s));
}

bool dev_vmstate_round_trip(Device *d)
{
    DevSnapshot s;
    bool reset_changed = dev_vmstate_save_reset(d, &s);

    dev_vmstate_load_check(&s);
    return reset_changed;
}

GByteArray *dev_vmstate_record(Device *d)
{
    GByteArray *rec = g_byte_array_new();

    vmstate_save(d->cls->vmsd, state_of(d), rec);
    return rec;
}

void dev_vmstate_assert_refused(Device *d, const GByteArray *rec)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(vmstate_load(d->cls->vmsd, state_of(d), rec->data, rec->len, &err));
    g_assert_nonnull(err);
}
