/*
 * isa-debug-exit (include/hw/misc/debug-exit.h). Test guests write their
 * result here; the odd status keeps "guest said 0" apart from a normal
 * kemu exit.
 */
#include <inttypes.h>
#include "hw/misc/debug-exit.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "system/runstate.h"

typedef struct DebugExit {
    Device dev;
    uint16_t iobase;
    unsigned iosize;
} DebugExit;

/* The device has no guest-visible state: it saves as an empty record. */
static const VMStateField debug_exit_fields[] = {
    VMSTATE_END,
};

static const VMStateDesc debug_exit_vmsd = {
    .name = "isa-debug-exit",
    .version = 1,
    .fields = debug_exit_fields,
};

static uint64_t debug_exit_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return 0;
}

static void debug_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    /* The bus hands us only the @size bytes written, zero-extended. */
    runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, (int)((val << 1) | 1));
}

static const IoOps debug_exit_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
    .min_size = 1,
    .max_size = 4,
};

static void debug_exit_reset(Device *d)
{
    (void)d;
}

static const DeviceClass debug_exit_class = {
    .name = "isa-debug-exit",
    .reset = debug_exit_reset,
    .vmsd = &debug_exit_vmsd,
    .vmstate_offset = 0,
};

static bool debug_exit_create_id(Machine *m, uint16_t iobase, unsigned iosize,
                                 const char *id, GError **errp)
{
    DebugExit *s;

    if (iosize != 1 && iosize != 2 && iosize != 4) {
        error_setg(errp, "isa-debug-exit: iosize must be 1, 2 or 4, not %u", iosize);
        return false;
    }
    s = g_new0(DebugExit, 1);
    s->iobase = iobase;
    s->iosize = iosize;
    if (!iobus_map(m->pio, iobase, iosize, &debug_exit_ops, s, errp)) {
        g_prefix_error(errp, "isa-debug-exit: ");
        g_free(s);
        return false;
    }
    device_add(m, &s->dev, &debug_exit_class, id);
    return true;
}

bool debug_exit_create(Machine *m, uint16_t iobase, unsigned iosize, GError **errp)
{
    return debug_exit_create_id(m, iobase, iosize, NULL, errp);
}

static bool isa_debug_exit_create(Machine *m, Opts *o, GError **errp)
{
    const char *id = opts_get(o, "id");
    uint64_t iobase, iosize;

    if (!opts_get_u64(o, "iobase", DEBUG_EXIT_DEFAULT_IOBASE, &iobase, errp) ||
        !opts_get_u64(o, "iosize", DEBUG_EXIT_DEFAULT_IOSIZE, &iosize, errp) ||
        !opts_check_all_used(o, "isa-debug-exit", errp)) {
        return false;
    }
    if (iobase > 0xffff || iosize > 4 || iobase + iosize > 0x10000) {
        error_setg(errp, "isa-debug-exit: ports 0x%" PRIx64 "+%" PRIu64
                   " out of range", iobase, iosize);
        return false;
    }
    return debug_exit_create_id(m, iobase, iosize, id, errp);
}

const DeviceType isa_debug_exit_type = {
    .name = "isa-debug-exit",
    .help = "exit with status (value << 1) | 1 on a write (iobase=0x501, iosize=2)",
    .create = isa_debug_exit_create,
};
