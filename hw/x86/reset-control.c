/*
 * Reset control register (include/hw/x86/reset-control.h).
 */
#include "hw/x86/reset-control.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "system/runstate.h"

#define RCR_SYS_RST   0x02   /* 1: hard reset, 0: soft reset */
#define RCR_RST_CPU   0x04   /* writing 1 starts the reset */
#define RCR_FULL_RST  0x08   /* full reset (power cycle) */
#define RCR_STORED    (RCR_SYS_RST | RCR_FULL_RST)

typedef struct ResetControlRegs {
    uint8_t rcr;
} ResetControlRegs;

typedef struct ResetControl {
    Device dev;
    ResetControlRegs regs;
} ResetControl;

static const VMStateField reset_control_fields[] = {
    VMSTATE_FIELD(ResetControlRegs, rcr),
    VMSTATE_END,
};

static bool reset_control_post_load(void *state, GError **errp)
{
    ResetControlRegs *r = state;

    if (r->rcr & ~RCR_STORED) {
        error_setg(errp, "reset-control: invalid saved value 0x%02x", r->rcr);
        return false;
    }
    return true;
}

static const VMStateDesc reset_control_vmsd = {
    .name = "reset-control",
    .version = 1,
    .fields = reset_control_fields,
    .post_load = reset_control_post_load,
};

static uint64_t reset_control_read(void *opaque, uint64_t off, unsigned size)
{
    ResetControl *s = opaque;

    (void)off;
    (void)size;
    return s->regs.rcr;
}

static void reset_control_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    ResetControl *s = opaque;

    (void)off;
    (void)size;
    s->regs.rcr = val & RCR_STORED;
    if (val & RCR_RST_CPU) {
        /* Hard, soft and full resets all reset the whole machine here. */
        runstate_request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    }
}

static const IoOps reset_control_ops = {
    .read = reset_control_read,
    .write = reset_control_write,
    .min_size = 1,
    .max_size = 1,
};

static void reset_control_reset(Device *d)
{
    ResetControl *s = (ResetControl *)d;

    s->regs.rcr = 0;
}

static const DeviceClass reset_control_class = {
    .name = "reset-control",
    .reset = reset_control_reset,
    .vmsd = &reset_control_vmsd,
    .vmstate_offset = offsetof(ResetControl, regs),
};

bool reset_control_create(Machine *m, GError **errp)
{
    ResetControl *s = g_new0(ResetControl, 1);

    if (!iobus_map(m->pio, RESET_CONTROL_PORT, 1, &reset_control_ops, s, errp)) {
        g_prefix_error(errp, "reset-control: ");
        g_free(s);
        return false;
    }
    device_add(m, &s->dev, &reset_control_class, NULL);
    return true;
}
