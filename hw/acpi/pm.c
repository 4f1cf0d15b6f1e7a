/*
 * ACPI PM1 event/control registers and PM timer (include/hw/acpi/pm.h).
 *
 * The PM timer is the virtual clock scaled to 3.579545 MHz; TMR_STS is
 * folded in lazily by comparing the counter's bit-23 "epoch" (ticks >> 23)
 * with the one seen last, on every access and in the overflow timer.
 */
#include <string.h>
#include "hw/acpi/pm.h"
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/runstate.h"

#define NS_PER_SEC   1000000000ll
#define TMR_BITS     24
#define SCI_EVENTS   (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | \
                      ACPI_PM1_RTC)
#define STS_BITS     (SCI_EVENTS | 0x0010 | ACPI_PM1_WAK_STS)   /* + BM_STS */
#define EN_BITS      (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | \
                      ACPI_PM1_RTC)
#define CNT_STORED   (ACPI_PM1_CNT_SCI_EN | 0x0002 | ACPI_PM1_CNT_SLP_TYP)   /* + BM_RLD */

typedef struct AcpiPmRegs {
    int64_t tmr_epoch;    /* counter bit-23 epoch (ticks >> 23) folded into PM1_STS */
    uint16_t sts;         /* PM1_STS */
    uint16_t en;          /* PM1_EN */
    uint16_t cnt;         /* PM1_CNT without the write-only SLP_EN */
} AcpiPmRegs;

struct AcpiPm {
    Device dev;
    AcpiPmRegs regs;
    IrqLine *sci;
    int level;            /* level driven on @sci */
    Timer *timer;         /* next bit-23 toggle, while TMR_EN */
};

static const VMStateField acpi_pm_fields[] = {
    VMSTATE_FIELD(AcpiPmRegs, tmr_epoch),
    VMSTATE_FIELD(AcpiPmRegs, sts),
    VMSTATE_FIELD(AcpiPmRegs, en),
    VMSTATE_FIELD(AcpiPmRegs, cnt),
    VMSTATE_END,
};

static bool acpi_pm_post_load(void *state, GError **errp);

static const VMStateDesc acpi_pm_vmsd = {
    .name = "acpi-pm",
    .version = 1,
    .fields = acpi_pm_fields,
    .post_load = acpi_pm_post_load,
};

static int64_t tmr_ticks(int64_t ns)
{
    return (int64_t)((__int128)ns * ACPI_PM_TMR_HZ / NS_PER_SEC);
}

/* The first virtual nanosecond at which tmr_ticks() reaches @ticks. */
static int64_t tmr_ticks_to_ns(int64_t ticks)
{
    return (int64_t)(((__int128)ticks * NS_PER_SEC + ACPI_PM_TMR_HZ - 1) / ACPI_PM_TMR_HZ);
}

static int64_t tmr_epoch(int64_t ns)
{
    return tmr_ticks(ns) >> (TMR_BITS - 1);
}

static void acpi_pm_settle(AcpiPmRegs *r, int64_t now)
{
    int64_t epoch = tmr_epoch(now);

    if (epoch != r->tmr_epoch) {
        r->sts |= ACPI_PM1_TMR;
        r->tmr_epoch = epoch;
    }
}

/* Drive the SCI from the status and enables; arm the overflow timer. */
static void acpi_pm_update(AcpiPm *s, bool force)
{
    const AcpiPmRegs *r = &s->regs;
    int level = (r->cnt & ACPI_PM1_CNT_SCI_EN) && (r->sts & r->en & SCI_EVENTS);

    if (force || level != s->level) {
        s->level = level;
        irq_set(s->sci, level);
    }
    if (r->en & ACPI_PM1_TMR) {
        timer_mod(s->timer, tmr_ticks_to_ns((r->tmr_epoch + 1) << (TMR_BITS - 1)));
    } else {
        timer_del(s->timer);
    }
}

static void acpi_pm_timer_cb(void *opaque)
{
    AcpiPm *s = opaque;

    acpi_pm_settle(&s->regs, clock_ns());
    acpi_pm_update(s, false);
}

/* Mask of the bits an access of @size bytes at byte @off of a 16-bit register covers. */
static uint16_t byte_mask(uint64_t off, unsigned size)
{
    return (uint16_t)((size >= 2 ? 0xffffu : 0xffu) << ((off & 1) * 8));
}

static uint64_t evt_read(void *opaque, uint64_t off, unsigned size)
{
    AcpiPm *s = opaque;

    acpi_pm_settle(&s->regs, clock_ns());
    acpi_pm_update(s, false);
    uint16_t reg = off < 2 ? s->regs.sts : s->regs.en;
    return (reg & byte_mask(off, size)) >> ((off & 1) * 8);
}

static void evt_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    AcpiPm *s = opaque;
    uint16_t mask = byte_mask(off, size);
    uint16_t bits = (uint16_t)(val << ((off & 1) * 8)) & mask;

    acpi_pm_settle(&s->regs, clock_ns());
    if (off < 2) {
        s->regs.sts &= ~bits;          /* write 1 to clear */
    } else {
        s->regs.en = ((s->regs.en & ~mask) | bits) & EN_BITS;
    }
    acpi_pm_update(s, false);
}

static const IoOps evt_ops = {
    .read = evt_read,
    .write = evt_write,
    .min_size = 1,
    .max_size = 2,
};

static uint64_t cnt_read(void *opaque, uint64_t off, unsigned size)
{
    AcpiPm *s = opaque;

    return (s->regs.cnt & byte_mask(off, size)) >> ((off & 1) * 8);
}

static void cnt_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    AcpiPm *s = opaque;
    uint16_t mask = byte_mask(off, size);
    uint16_t bits = (uint16_t)(val << ((off & 1) * 8)) & mask;

    s->regs.cnt = ((s->regs.cnt & ~mask) | bits) & CNT_STORED;
    if (bits & ACPI_PM1_CNT_SLP_EN) {
        unsigned typ = (s->regs.cnt & ACPI_PM1_CNT_SLP_TYP) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;

        if (typ == ACPI_S5_SLP_TYP) {
            runstate_request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, 0);
        } else {
            log_unimp("acpi-pm: sleep type %u (only S5 = %u is supported)", typ,
                      ACPI_S5_SLP_TYP);
        }
    }
    acpi_pm_update(s, false);
}

static const IoOps cnt_ops = {
    .read = cnt_read,
    .write = cnt_write,
    .min_size = 1,
    .max_size = 2,
};

static uint64_t tmr_read(void *opaque, uint64_t off, unsigned size)
{
    uint32_t val = (uint32_t)tmr_ticks(clock_ns()) & ((1u << TMR_BITS) - 1);

    (void)opaque;
    val >>= off * 8;
    return size >= 4 ? val : val & ((1u << (size * 8)) - 1);
}

static void tmr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    (void)size;
    log_guest_error("acpi-pm: write 0x%" G_GINT64_MODIFIER "x to the read-only PM timer + %u",
                    val, (unsigned)off);
}

static const IoOps tmr_ops = {
    .read = tmr_read,
    .write = tmr_write,
    .min_size = 1,
    .max_size = 4,
};

static void acpi_pm_reset(Device *d)
{
    AcpiPm *s = (AcpiPm *)d;

    s->regs.sts = 0;
    s->regs.en = 0;
    s->regs.cnt = ACPI_PM1_CNT_SCI_EN;
    s->regs.tmr_epoch = tmr_epoch(clock_ns());
    acpi_pm_update(s, false);
}

static bool acpi_pm_post_load(void *state, GError **errp)
{
    AcpiPmRegs *r = state;
    AcpiPm *s = (AcpiPm *)((char *)state - offsetof(AcpiPm, regs));

    if ((r->sts & ~STS_BITS) || (r->en & ~EN_BITS) || (r->cnt & ~CNT_STORED) ||
        r->tmr_epoch < 0 || r->tmr_epoch > tmr_epoch(clock_ns())) {
        error_setg(errp, "acpi-pm: invalid saved state");
        return false;
    }
    acpi_pm_update(s, true);
    return true;
}

static void acpi_pm_finalize(Device *d)
{
    AcpiPm *s = (AcpiPm *)d;

    timer_free(s->timer);
    s->timer = NULL;
}

static const DeviceClass acpi_pm_class = {
    .name = "acpi-pm",
    .reset = acpi_pm_reset,
    .vmsd = &acpi_pm_vmsd,
    .vmstate_offset = offsetof(AcpiPm, regs),
    .finalize = acpi_pm_finalize,
};

void acpi_pm_power_button(AcpiPm *s)
{
    acpi_pm_settle(&s->regs, clock_ns());
    s->regs.sts |= ACPI_PM1_PWRBTN;
    acpi_pm_update(s, false);
}

AcpiPm *acpi_pm_create(Machine *m, IrqLine *sci, GError **errp)
{
    AcpiPm *s = g_new0(AcpiPm, 1);

    if (!iobus_map(m->pio, ACPI_PM1_EVT_BLK, ACPI_PM1_EVT_LEN, &evt_ops, s, errp)) {
        goto fail;
    }
    if (!iobus_map(m->pio, ACPI_PM1_CNT_BLK, ACPI_PM1_CNT_LEN, &cnt_ops, s, errp)) {
        goto fail_evt;
    }
    if (!iobus_map(m->pio, ACPI_PM_TMR_BLK, ACPI_PM_TMR_LEN, &tmr_ops, s, errp)) {
        goto fail_cnt;
    }
    s->sci = sci;
    s->timer = timer_new(acpi_pm_timer_cb, s);
    device_add(m, &s->dev, &acpi_pm_class, NULL);
    acpi_pm_reset(&s->dev);
    acpi_pm_update(s, true);
    return s;

fail_cnt:
    iobus_unmap(m->pio, ACPI_PM1_CNT_BLK);
fail_evt:
    iobus_unmap(m->pio, ACPI_PM1_EVT_BLK);
fail:
    g_prefix_error(errp, "acpi-pm: ");
    g_free(s);
    return NULL;
}
