/*
 * KVM accelerator: what to do with one KVM_RUN exit (include/accel/kvm.h).
 * No ioctls here, so tests can feed it hand-made struct kvm_run.
 */
#include <string.h>
#include "accel/kvm.h"
#include "kemu/log.h"
#include "system/bql.h"
#include "system/runstate.h"

static KvmExitAction fatal(char **why, char *msg)
{
    *why = msg;
    return KVM_ACTION_FATAL;
}

/*
 * Port I/O: @count accesses of @size bytes (count > 1 for string I/O)
 * whose data sits in the kvm_run page at data_offset.
 */
static KvmExitAction handle_io(Machine *m, struct kvm_run *run,
                               size_t run_size, char **why)
{
    unsigned size = run->io.size;
    uint64_t count = run->io.count;
    uint64_t off = run->io.data_offset;
    uint8_t *data = (uint8_t *)run + off;

    if ((size != 1 && size != 2 && size != 4) || count == 0 ||
        off > run_size || count * size > run_size - off) {
        return fatal(why, g_strdup_printf(
            "bad KVM_EXIT_IO: port 0x%x size %u count %" G_GUINT64_FORMAT
            " data_offset 0x%" G_GINT64_MODIFIER "x", run->io.port, size,
            count, off));
    }
    bql_lock();
    for (uint64_t i = 0; i < count; i++) {
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            iobus_write_buf(m->pio, run->io.port, data + i * size, size);
        } else {
            iobus_read_buf(m->pio, run->io.port, data + i * size, size);
        }
    }
    bql_unlock();
    return KVM_ACTION_CONTINUE;
}

static KvmExitAction handle_mmio(Machine *m, struct kvm_run *run, char **why)
{
    unsigned len = run->mmio.len;

    if (len == 0 || len > sizeof(run->mmio.data)) {
        return fatal(why, g_strdup_printf(
            "bad KVM_EXIT_MMIO: address 0x%" G_GINT64_MODIFIER "x len %u",
            (uint64_t)run->mmio.phys_addr, len));
    }
    bql_lock();
    if (run->mmio.is_write) {
        iobus_write_buf(m->mmio, run->mmio.phys_addr, run->mmio.data, len);
    } else {
        iobus_read_buf(m->mmio, run->mmio.phys_addr, run->mmio.data, len);
    }
    bql_unlock();
    return KVM_ACTION_CONTINUE;
}

static const char *internal_error_name(uint32_t suberror)
{
    switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION: return "instruction emulation failed";
    case KVM_INTERNAL_ERROR_SIMUL_EX: return "simultaneous exceptions";
    case KVM_INTERNAL_ERROR_DELIVERY_EV: return "exit during event delivery";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
        return "unexpected exit reason";
    default: return "unknown suberror";
    }
}

static KvmExitAction handle_internal_error(struct kvm_run *run, char **why)
{
    GString *s = g_string_new(NULL);
    uint32_t ndata = MIN(run->internal.ndata, G_N_ELEMENTS(run->internal.data));

    g_string_append_printf(s, "KVM internal error, suberror %u (%s)",
                           run->internal.suberror,
                           internal_error_name(run->internal.suberror));
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
        ndata >= 3 && (run->emulation_failure.flags &
                       KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        unsigned n = MIN(run->emulation_failure.insn_size, 15);
        g_string_append(s, ", instruction bytes:");
        for (unsigned i = 0; i < n; i++) {
            g_string_append_printf(s, " %02x",
                                   run->emulation_failure.insn_bytes[i]);
        }
    }
    if (ndata) {
        g_string_append(s, ", data:");
        for (uint32_t i = 0; i < ndata; i++) {
            g_string_append_printf(s, " 0x%" G_GINT64_MODIFIER "x",
                                   (uint64_t)run->internal.data[i]);
        }
    }
    return fatal(why, g_string_free(s, FALSE));
}

static KvmExitAction handle_system_event(struct kvm_run *run, char **why)
{
    switch (run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, 0);
        return KVM_ACTION_SHUTDOWN;
    case KVM_SYSTEM_EVENT_RESET:
        runstate_request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
        return KVM_ACTION_RESET;
    case KVM_SYSTEM_EVENT_CRASH:
        return fatal(why, g_strdup("guest crashed (KVM_SYSTEM_EVENT_CRASH)"));
    default:
        log_unimp("KVM: ignoring system event %u", run->system_event.type);
        return KVM_ACTION_CONTINUE;
    }
}

KvmExitAction kvm_handle_exit(Machine *m, struct kvm_run *run, size_t run_size,
                              char **why)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return handle_io(m, run, run_size, why);
    case KVM_EXIT_MMIO:
        return handle_mmio(m, run, why);
    case KVM_EXIT_HLT:
        /* Only without an in-kernel LAPIC; just go back in. */
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return KVM_ACTION_CONTINUE;
    case KVM_EXIT_SHUTDOWN:
        return fatal(why, g_strdup("triple fault (KVM_EXIT_SHUTDOWN)"));
    case KVM_EXIT_INTERNAL_ERROR:
        return handle_internal_error(run, why);
    case KVM_EXIT_FAIL_ENTRY:
        return fatal(why, g_strdup_printf(
            "VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason 0x%"
            G_GINT64_MODIFIER "x, host cpu %u",
            (uint64_t)run->fail_entry.hardware_entry_failure_reason,
            run->fail_entry.cpu));
    case KVM_EXIT_SYSTEM_EVENT:
        return handle_system_event(run, why);
    default:
        return fatal(why, g_strdup_printf("unhandled KVM exit reason %u",
                                          run->exit_reason));
    }
}
