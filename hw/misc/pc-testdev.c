/*
 * pc-testdev (include/hw/misc/pc-testdev.h).
 */
#include <string.h>
#include "hw/misc/pc-testdev.h"
#include "hw/iobus.h"
#include "hw/irq.h"
#include "kemu/error.h"

typedef struct PcTestdevRegs {
    uint8_t iomem[PC_TESTDEV_IOMEM_LEN];
    uint32_t ioport_data;
    uint8_t irq_level[PC_TESTDEV_IRQ_LEN];   /* last level written per GSI */
} PcTestdevRegs;

typedef struct PcTestdev {
    Device dev;
    PcTestdevRegs regs;
    Machine *m;
    uint8_t driven[PC_TESTDEV_IRQ_LEN];   /* levels this device drives now */
} PcTestdev;

static const VMStateField pc_testdev_fields[] = {
    VMSTATE_FIELD(PcTestdevRegs, iomem),
    VMSTATE_FIELD(PcTestdevRegs, ioport_data),
    VMSTATE_FIELD(PcTestdevRegs, irq_level),
    VMSTATE_END,
};

static bool pc_testdev_post_load(void *state, GError **errp);

static const VMStateDesc pc_testdev_vmsd = {
    .name = "pc-testdev",
    .version = 1,
    .fields = pc_testdev_fields,
    .post_load = pc_testdev_post_load,
};

/* The scratch register: byte @off of it is port 0xe0 + @off. */
static uint64_t ioport_read(void *opaque, uint64_t off, unsigned size)
{
    PcTestdev *s = opaque;

    return (s->regs.ioport_data >> (off * 8)) &
           (size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1);
}

static void ioport_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PcTestdev *s = opaque;
    uint32_t mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;

    s->regs.ioport_data &= ~(mask << (off * 8));
    s->regs.ioport_data |= ((uint32_t)val & mask) << (off * 8);
}

static const IoOps ioport_ops = {
    .read = ioport_read,
    .write = ioport_write,
    .min_size = 1,
    .max_size = 4,
};

static uint64_t irq_port_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return 0;
}

static void irq_port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PcTestdev *s = opaque;

    (void)size;
    if (off >= PC_TESTDEV_IRQ_LEN) {
        return;
    }
    s->regs.irq_level[off] = val != 0;
    s->driven[off] = val != 0;
    irq_set(s->m->gsi[off], val != 0);
}

/*
 * Make the lines follow regs.irq_level, touching only lines whose level
 * this device changes: the others belong to other devices.
 */
static void pc_testdev_sync_irqs(PcTestdev *s)
{
    for (unsigned n = 0; n < PC_TESTDEV_IRQ_LEN; n++) {
        if (s->driven[n] != s->regs.irq_level[n]) {
            s->driven[n] = s->regs.irq_level[n];
            irq_set(s->m->gsi[n], s->driven[n]);
        }
    }
}

static const IoOps irq_port_ops = {
    .read = irq_port_read,
    .write = irq_port_write,
    .min_size = 1,
    .max_size = 1,
};

static uint64_t iomem_read(void *opaque, uint64_t off, unsigned size)
{
    PcTestdev *s = opaque;
    uint64_t val = 0;

    /* The bus keeps accesses inside the range; check anyway, it is cheap. */
    if (off + size <= PC_TESTDEV_IOMEM_LEN && size <= sizeof(val)) {
        memcpy(&val, s->regs.iomem + off, size);   /* little-endian host */
    }
    return val;
}

static void iomem_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PcTestdev *s = opaque;

    if (off + size <= PC_TESTDEV_IOMEM_LEN && size <= sizeof(val)) {
        memcpy(s->regs.iomem + off, &val, size);
    }
}

static const IoOps iomem_ops = {
    .read = iomem_read,
    .write = iomem_write,
    .min_size = 1,
    .max_size = 8,
};

static void pc_testdev_reset(Device *d)
{
    PcTestdev *s = (PcTestdev *)d;

    memset(&s->regs, 0, sizeof(s->regs));
    pc_testdev_sync_irqs(s);
}

static bool pc_testdev_post_load(void *state, GError **errp)
{
    PcTestdevRegs *r = state;
    PcTestdev *s = (PcTestdev *)((char *)state - offsetof(PcTestdev, regs));

    for (unsigned n = 0; n < PC_TESTDEV_IRQ_LEN; n++) {
        if (r->irq_level[n] > 1) {
            error_setg(errp, "pc-testdev: invalid saved level for GSI %u", n);
            return false;
        }
    }
    pc_testdev_sync_irqs(s);
    return true;
}

static const DeviceClass pc_testdev_class = {
    .name = "pc-testdev",
    .reset = pc_testdev_reset,
    .vmsd = &pc_testdev_vmsd,
    .vmstate_offset = offsetof(PcTestdev, regs),
};

static bool pc_testdev_create_id(Machine *m, const char *id, GError **errp)
{
    PcTestdev *s = g_new0(PcTestdev, 1);

    s->m = m;
    if (!iobus_map(m->pio, PC_TESTDEV_IOPORT, PC_TESTDEV_IOPORT_LEN,
                   &ioport_ops, s, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LEN,
                   &irq_port_ops, s, errp)) {
        goto fail_ioport;
    }
    if (!iobus_map(m->mmio, PC_TESTDEV_IOMEM, PC_TESTDEV_IOMEM_LEN,
                   &iomem_ops, s, errp)) {
        goto fail_irq;
    }
    device_add(m, &s->dev, &pc_testdev_class, id);
    return true;

fail_irq:
    iobus_unmap(m->pio, PC_TESTDEV_IRQ_PORT);
fail_ioport:
    iobus_unmap(m->pio, PC_TESTDEV_IOPORT);
fail:
    g_prefix_error(errp, "pc-testdev: ");
    g_free(s);
    return false;
}

bool pc_testdev_create(Machine *m, GError **errp)
{
    return pc_testdev_create_id(m, NULL, errp);
}

static bool pc_testdev_type_create(Machine *m, Opts *o, GError **errp)
{
    const char *id = opts_get(o, "id");

    if (!opts_check_all_used(o, "pc-testdev", errp)) {
        return false;
    }
    return pc_testdev_create_id(m, id, errp);
}

const DeviceType pc_testdev_type = {
    .name = "pc-testdev",
    .help = "kvm-unit-tests test device (scratch ports, GSI control, scratch MMIO)",
    .create = pc_testdev_type_create,
};
