/*
 * Local APIC, xAPIC mode (include/hw/intc/apic.h), after the Intel SDM
 * Vol. 3A chapter "Advanced Programmable Interrupt Controller".
 *
 * Interrupt messages (I/O APIC, MSI, IPIs) are accepted at once into the
 * target's IRR; the vCPU learns through VCPU_IRQ_HARD that something may
 * be deliverable and calls apic_acknowledge_interrupt() at an instruction
 * boundary. NMI, INIT and SIPI become VCPU_IRQ_* bits for the CPU.
 *
 * Reset values follow the SDM, with one deliberate exception taken from
 * the firmware we do not run: the BSP's LINT0 comes out of reset as an
 * unmasked ExtINT ("virtual wire mode", as a PC BIOS leaves it), so that
 * guests that never touch the APIC receive PIC interrupts.
 */
#include <string.h>
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/intc/ioapic.h"
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "kemu/error.h"
#include "kemu/log.h"

/* Register indices: MMIO offset >> 4. */
enum {
    REG_ID = 0x02, REG_VERSION = 0x03, REG_TPR = 0x08, REG_APR = 0x09,
    REG_PPR = 0x0a, REG_EOI = 0x0b, REG_RRD = 0x0c, REG_LDR = 0x0d,
    REG_DFR = 0x0e, REG_SVR = 0x0f, REG_ISR = 0x10, REG_TMR = 0x18,
    REG_IRR = 0x20, REG_ESR = 0x28, REG_ICR_LO = 0x30, REG_ICR_HI = 0x31,
    REG_LVT = 0x32, REG_TIMER_INIT = 0x38, REG_TIMER_CUR = 0x39,
    REG_TIMER_DCR = 0x3e,
};

/* Local vector table entries, in register order from REG_LVT. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NR };

#define APIC_VERSION       (((LVT_NR - 1) << 16) | 0x14)

#define LVT_MASKED         (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define LVT_DM(v)          (((v) >> 8) & 7)

#define SVR_ENABLE         (1u << 8)
#define SVR_WRITABLE       0x3ffu      /* vector, enable, focus checking */

#define ICR_DEST_LOGICAL   (1u << 11)
#define ICR_LEVEL_ASSERT   (1u << 14)
#define ICR_TRIGGER_LEVEL  (1u << 15)
#define ICR_SHORTHAND(v)   (((v) >> 18) & 3)
#define ICR_WRITABLE       0x000ccfffu  /* not delivery status, not reserved */

enum { SH_NONE, SH_SELF, SH_ALL, SH_ALL_BUT_SELF };

#define ESR_SEND_ILLEGAL   0x20u
#define ESR_RECV_ILLEGAL   0x40u
#define ESR_ILLEGAL_REG    0x80u

/* IA32_APIC_BASE bits a write may set: base address, enable, BSP. */
#define APIC_BASE_VALID    (0x000ffffffffff000ull | APIC_BASE_ENABLE | APIC_BASE_BSP)

/*
 * Shortest period of a periodic timer's interrupts. A guest that asks
 * for nanosecond periods would otherwise keep the main loop busy; KVM
 * clamps periodic timers in the same way.
 */
#define TIMER_MIN_PERIOD_NS 50000

static const uint32_t lvt_writable[LVT_NR] = {
    [LVT_TIMER] = 0x000300ffu,          /* vector, mask, periodic */
    [LVT_THERMAL] = 0x000107ffu,        /* vector, delivery mode, mask */
    [LVT_PERF] = 0x000107ffu,
    [LVT_LINT0] = 0x0001a7ffu,          /* ... polarity, trigger mode */
    [LVT_LINT1] = 0x0001a7ffu,
    [LVT_ERROR] = 0x000100ffu,
};

/* Guest-visible state. No hidden padding before the last field. */
typedef struct ApicRegs {
    uint64_t base;              /* IA32_APIC_BASE */
    int64_t timer_start;        /* virtual ns when the count was loaded */
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t lvt[LVT_NR];
    uint32_t icr_lo, icr_hi;
    uint32_t timer_initial;
    uint32_t esr;               /* as latched by the last ESR write */
    uint32_t esr_pending;       /* errors seen since then */
    uint32_t svr;
    uint32_t ldr, dfr;
    uint8_t id;
    uint8_t tpr;
    uint8_t dcr;
    uint8_t extint_pending;     /* an ExtINT message waits for INTA */
} ApicRegs;

struct Apic {
    Device dev;
    ApicRegs regs;
    Machine *m;
    Vcpu *cpu;
    Timer *timer;
    Pic *pic;                   /* looked up on first use */
    bool owns_mmio;
    bool base_warned;
    int lint0_level;            /* the PIC's INTR as last seen (BSP) */
};

static const VMStateField apic_fields[] = {
    VMSTATE_FIELD(ApicRegs, base),
    VMSTATE_FIELD(ApicRegs, timer_start),
    VMSTATE_FIELD(ApicRegs, irr),
    VMSTATE_FIELD(ApicRegs, isr),
    VMSTATE_FIELD(ApicRegs, tmr),
    VMSTATE_FIELD(ApicRegs, lvt),
    VMSTATE_FIELD(ApicRegs, icr_lo),
    VMSTATE_FIELD(ApicRegs, icr_hi),
    VMSTATE_FIELD(ApicRegs, timer_initial),
    VMSTATE_FIELD(ApicRegs, esr),
    VMSTATE_FIELD(ApicRegs, esr_pending),
    VMSTATE_FIELD(ApicRegs, svr),
    VMSTATE_FIELD(ApicRegs, ldr),
    VMSTATE_FIELD(ApicRegs, dfr),
    VMSTATE_FIELD(ApicRegs, id),
    VMSTATE_FIELD(ApicRegs, tpr),
    VMSTATE_FIELD(ApicRegs, dcr),
    VMSTATE_FIELD(ApicRegs, extint_pending),
    VMSTATE_END,
};

static bool apic_post_load(void *state, GError **errp);

static const VMStateDesc apic_vmsd = {
    .name = "apic",
    .version = 1,
    .fields = apic_fields,
    .post_load = apic_post_load,
};

/* --- 256-bit vector registers --------------------------------------- */

static void vec_set(uint32_t *r, unsigned v)
{
    r[v >> 5] |= 1u << (v & 31);
}

static void vec_clear(uint32_t *r, unsigned v)
{
    r[v >> 5] &= ~(1u << (v & 31));
}

static bool vec_test(const uint32_t *r, unsigned v)
{
    return r[v >> 5] & (1u << (v & 31));
}

/* The highest vector set, or -1. */
static int vec_highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--) {
        if (r[i]) {
            return i * 32 + 31 - __builtin_clz(r[i]);
        }
    }
    return -1;
}

/* --- priorities and delivery to the CPU ------------------------------- */

static bool hw_enabled(const Apic *a)
{
    return a->regs.base & APIC_BASE_ENABLE;
}

static bool sw_enabled(const Apic *a)
{
    return a->regs.svr & SVR_ENABLE;
}

static bool is_bsp(const Apic *a)
{
    return a->regs.base & APIC_BASE_BSP;
}

static uint8_t apic_ppr(const Apic *a)
{
    int isrv = vec_highest(a->regs.isr);
    uint8_t isr_class = isrv < 0 ? 0 : (isrv & 0xf0);

    return (a->regs.tpr & 0xf0) >= isr_class ? a->regs.tpr : isr_class;
}

static Pic *apic_pic(Apic *a)
{
    if (!a->pic) {
        a->pic = pic_find(a->m);
    }
    return a->pic;
}

/* Does the PIC's INTR reach this CPU now (LINT0 as ExtINT, or no APIC)? */
static bool pic_pending(Apic *a)
{
    uint32_t lint0 = a->regs.lvt[LVT_LINT0];
    Pic *pic;

    if (a->cpu->index != 0 || !(pic = apic_pic(a)) || !pic_intr_level(pic)) {
        return false;
    }
    return !hw_enabled(a) ||
           (!(lint0 & LVT_MASKED) && LVT_DM(lint0) == APIC_DM_EXTINT);
}

/* The vector apic_acknowledge_interrupt would take from IRR, or -1. */
static int fixed_pending(const Apic *a)
{
    int irrv;

    if (!hw_enabled(a) || !sw_enabled(a)) {
        return -1;   /* a software-disabled APIC holds its IRR */
    }
    irrv = vec_highest(a->regs.irr);
    return irrv >= 0 && (irrv & 0xf0) > (apic_ppr(a) & 0xf0) ? irrv : -1;
}

static bool deliverable(Apic *a)
{
    return a->regs.extint_pending || pic_pending(a) || fixed_pending(a) >= 0;
}

/* Something that may make an interrupt deliverable happened. */
static void apic_update(Apic *a)
{
    if (deliverable(a)) {
        vcpu_interrupt(a->cpu, VCPU_IRQ_HARD);
    }
}

int apic_acknowledge_interrupt(Vcpu *cpu)
{
    Apic *a = cpu->apic;
    int vector = -1;

    if (!a) {
        /* No local APIC: the PIC's INTR is the BSP's INTR pin. */
        Pic *pic = cpu->index == 0 ? pic_find(cpu->m) : NULL;
        if (pic && pic_intr_level(pic)) {
            vector = pic_acknowledge(pic);
        }
        if (!pic || !pic_intr_level(pic)) {
            atomic_fetch_and(&cpu->irq_request, ~VCPU_IRQ_HARD);
        }
        return vector;
    }
    if (a->regs.extint_pending || pic_pending(a)) {
        /* ExtINT: the vector comes from the PIC and bypasses IRR/ISR. */
        a->regs.extint_pending = 0;
        if (apic_pic(a)) {
            vector = pic_acknowledge(a->pic);
        }
    } else if ((vector = fixed_pending(a)) >= 0) {
        vec_clear(a->regs.irr, vector);
        vec_set(a->regs.isr, vector);
    }
    if (!deliverable(a)) {
        atomic_fetch_and(&cpu->irq_request, ~VCPU_IRQ_HARD);
    }
    return vector;
}

static void apic_error(Apic *a, uint32_t bits);

/*
 * Accept a fixed interrupt into IRR. TMR records the trigger mode so the
 * EOI knows whether to notify the I/O APIC.
 */
static void accept_fixed(Apic *a, uint8_t vector, bool level, bool from_error_lvt)
{
    if (vector < 16) {
        /* Vectors 0-15 are illegal; do not recurse through the error LVT. */
        if (from_error_lvt) {
            a->regs.esr_pending |= ESR_RECV_ILLEGAL;
        } else {
            apic_error(a, ESR_RECV_ILLEGAL);
        }
        return;
    }
    vec_set(a->regs.irr, vector);
    if (level) {
        vec_set(a->regs.tmr, vector);
    } else {
        vec_clear(a->regs.tmr, vector);
    }
    apic_update(a);
}

/* One interrupt message arrives at @a. */
static void accept_message(Apic *a, unsigned mode, uint8_t vector, bool level)
{
    switch (mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        accept_fixed(a, vector, level, false);
        break;
    case APIC_DM_NMI:
        vcpu_interrupt(a->cpu, VCPU_IRQ_NMI);
        break;
    case APIC_DM_INIT:
        vcpu_interrupt(a->cpu, VCPU_IRQ_INIT);
        break;
    case APIC_DM_SIPI:
        atomic_store(&a->cpu->sipi_vector, vector);
        vcpu_interrupt(a->cpu, VCPU_IRQ_SIPI);
        break;
    case APIC_DM_EXTINT:
        a->regs.extint_pending = 1;
        apic_update(a);
        break;
    case APIC_DM_SMI:
        log_unimp("apic: SMI to APIC %u dropped", a->regs.id);
        break;
    default:
        log_guest_error("apic: reserved delivery mode %u to APIC %u", mode, a->regs.id);
        break;
    }
}

/* Raise the interrupt of a local vector table entry (if unmasked). */
static void lvt_fire(Apic *a, unsigned idx)
{
    uint32_t lvt = a->regs.lvt[idx];
    unsigned mode = LVT_DM(lvt);

    if (lvt & LVT_MASKED) {
        return;
    }
    /* The timer and error entries have no delivery mode: always fixed. */
    if (idx == LVT_TIMER || idx == LVT_ERROR || mode == APIC_DM_FIXED) {
        accept_fixed(a, lvt & 0xff, false, idx == LVT_ERROR);
    } else if (mode == APIC_DM_NMI || mode == APIC_DM_EXTINT) {
        accept_message(a, mode, lvt & 0xff, false);
    } else {
        log_guest_error("apic: LVT %u with delivery mode %u ignored", idx, mode);
    }
}

static void apic_error(Apic *a, uint32_t bits)
{
    a->regs.esr_pending |= bits;
    lvt_fire(a, LVT_ERROR);
}

/* --- the APIC bus ---------------------------------------------------- */

static Apic *cpu_apic(Machine *m, unsigned i)
{
    return i < m->ncpus && m->cpus[i] ? m->cpus[i]->apic : NULL;
}

static bool logical_match(const Apic *a, uint8_t dest)
{
    uint8_t ldr = a->regs.ldr >> 24;

    switch (a->regs.dfr >> 28) {
    case 0xf:                                    /* flat */
        return ldr & dest;
    case 0x0:                                    /* cluster */
        return ((dest >> 4) == 0xf || (dest >> 4) == (ldr >> 4)) &&
               (dest & ldr & 0x0f);
    default:
        return false;
    }
}

/* vCPU indices (bit i: m->cpus[i]) whose APIC accepts @dest. */
static uint64_t match_dest(Machine *m, uint8_t dest, bool logical)
{
    uint64_t set = 0;

    for (unsigned i = 0; i < m->ncpus && i < MACHINE_MAX_CPUS; i++) {
        Apic *a = cpu_apic(m, i);

        if (!a || !hw_enabled(a)) {
            continue;
        }
        if (logical ? logical_match(a, dest) : (dest == 0xff || a->regs.id == dest)) {
            set |= 1ull << i;
        }
    }
    return set;
}

static void deliver_to(Machine *m, uint64_t set, unsigned mode, uint8_t vector, bool level)
{
    if (mode == APIC_DM_LOWEST) {
        set &= -set;     /* "lowest priority": the lowest-numbered target */
    }
    for (unsigned i = 0; set; i++, set >>= 1) {
        if (set & 1) {
            accept_message(cpu_apic(m, i), mode, vector, level);
        }
    }
}

void apic_deliver(Machine *m, uint8_t dest, bool logical, unsigned delivery_mode,
                  uint8_t vector, bool level_trigger)
{
    deliver_to(m, match_dest(m, dest, logical), delivery_mode & 7, vector, level_trigger);
}

void apic_deliver_msi(Machine *m, uint64_t addr, uint32_t data)
{
    if ((addr & 0xfff00000ull) != APIC_DEFAULT_BASE) {
        log_guest_error("apic: MSI to address 0x%llx dropped", (unsigned long long)addr);
        return;
    }
    apic_deliver(m, (addr >> 12) & 0xff, addr & 4, (data >> 8) & 7, data & 0xff,
                 data & ICR_TRIGGER_LEVEL);
}

/* The guest wrote ICR low: send the IPI it describes. */
static void apic_send_ipi(Apic *a)
{
    uint32_t icr = a->regs.icr_lo;
    unsigned mode = LVT_DM(icr);
    uint8_t vector = icr & 0xff;
    unsigned shorthand = ICR_SHORTHAND(icr);
    uint64_t set, self = 0;

    if (mode == APIC_DM_INIT && !(icr & ICR_LEVEL_ASSERT) && (icr & ICR_TRIGGER_LEVEL)) {
        return;   /* INIT level de-assert: only synchronises arbitration IDs */
    }
    if (mode == 3 || mode == APIC_DM_EXTINT) {
        log_guest_error("apic: IPI with reserved delivery mode %u (ICR 0x%x)", mode, icr);
        return;
    }
    if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST) && vector < 16) {
        apic_error(a, ESR_SEND_ILLEGAL);
        return;
    }
    if (shorthand == SH_SELF && mode != APIC_DM_FIXED) {
        log_guest_error("apic: self IPI needs fixed delivery (ICR 0x%x)", icr);
        return;
    }
    for (unsigned i = 0; i < a->m->ncpus && i < MACHINE_MAX_CPUS; i++) {
        if (cpu_apic(a->m, i) == a) {
            self = 1ull << i;
        }
    }
    switch (shorthand) {
    case SH_NONE:
        set = match_dest(a->m, a->regs.icr_hi >> 24, icr & ICR_DEST_LOGICAL);
        break;
    case SH_SELF:
        set = self;
        break;
    case SH_ALL:
        set = match_dest(a->m, 0xff, false);
        break;
    default:
        set = match_dest(a->m, 0xff, false) & ~self;
        break;
    }
    deliver_to(a->m, set, mode, vector, icr & ICR_TRIGGER_LEVEL);
}

static void apic_eoi(Apic *a)
{
    int v = vec_highest(a->regs.isr);
    Ioapic *io;

    if (v < 0) {
        return;
    }
    vec_clear(a->regs.isr, v);
    if (vec_test(a->regs.tmr, v) && (io = ioapic_find(a->m))) {
        ioapic_eoi(io, v);
    }
    apic_update(a);
}

/* --- timer ------------------------------------------------------------ */

static unsigned timer_shift(const Apic *a)
{
    unsigned dcr = (a->regs.dcr & 3) | ((a->regs.dcr >> 1) & 4);

    return (dcr + 1) & 7;   /* 0b111 divides by 1 */
}

static bool timer_periodic(const Apic *a)
{
    return a->regs.lvt[LVT_TIMER] & LVT_TIMER_PERIODIC;
}

static int64_t timer_period(const Apic *a)
{
    return (int64_t)a->regs.timer_initial << timer_shift(a);
}

static uint32_t timer_current(const Apic *a)
{
    uint64_t ticks, init = a->regs.timer_initial;
    int64_t elapsed = clock_ns() - a->regs.timer_start;

    if (init == 0) {
        return 0;
    }
    ticks = (uint64_t)MAX(elapsed, 0) >> timer_shift(a);
    if (timer_periodic(a)) {
        return init - ticks % init;
    }
    return ticks >= init ? 0 : init - ticks;
}

/*
 * Arm the host timer for the count's next expiry. @new_count: the count
 * was just loaded, so its expiry has not fired yet even if it is already
 * past (a small count, or a slow host between loading and here): it fires
 * at once. Otherwise (divider or mode changes, restore) a one-shot count
 * that ran out with no host timer pending has fired already.
 */
static void timer_rearm(Apic *a, bool new_count)
{
    int64_t now = clock_ns(), period = timer_period(a), end;

    if (a->regs.timer_initial == 0) {
        timer_del(a->timer);
        return;
    }
    end = a->regs.timer_start + period;
    if (timer_periodic(a)) {
        if (now >= end) {
            end += ((now - end) / period + 1) * period;
        }
        if (period < TIMER_MIN_PERIOD_NS) {
            end = MAX(end, now + TIMER_MIN_PERIOD_NS);
        }
    } else if (now >= end && !new_count && !timer_pending(a->timer)) {
        return;                /* this one-shot count ran out and fired */
    }
    timer_mod(a->timer, end);  /* a deadline already past fires at once */
}

static void apic_timer_expired(void *opaque)
{
    Apic *a = opaque;

    lvt_fire(a, LVT_TIMER);
    if (timer_periodic(a)) {
        timer_rearm(a, false);
    }
}

/* --- registers --------------------------------------------------------- */

static uint32_t apic_reg_read(Apic *a, unsigned reg)
{
    ApicRegs *r = &a->regs;

    switch (reg) {
    case REG_ID:
        return (uint32_t)r->id << 24;
    case REG_VERSION:
        return APIC_VERSION;
    case REG_TPR:
        return r->tpr;
    case REG_APR:
    case REG_EOI:
    case REG_RRD:
        return 0;
    case REG_PPR:
        return apic_ppr(a);
    case REG_LDR:
        return r->ldr;
    case REG_DFR:
        return r->dfr | 0x0fffffffu;
    case REG_SVR:
        return r->svr;
    case REG_ISR ... REG_ISR + 7:
        return r->isr[reg - REG_ISR];
    case REG_TMR ... REG_TMR + 7:
        return r->tmr[reg - REG_TMR];
    case REG_IRR ... REG_IRR + 7:
        return r->irr[reg - REG_IRR];
    case REG_ESR:
        return r->esr;
    case REG_ICR_LO:
        return r->icr_lo;     /* delivery status: always idle */
    case REG_ICR_HI:
        return r->icr_hi;
    case REG_LVT ... REG_LVT + LVT_NR - 1:
        return r->lvt[reg - REG_LVT];
    case REG_TIMER_INIT:
        return r->timer_initial;
    case REG_TIMER_CUR:
        return timer_current(a);
    case REG_TIMER_DCR:
        return r->dcr;
    default:
        apic_error(a, ESR_ILLEGAL_REG);
        return 0;
    }
}

static void apic_write_svr(Apic *a, uint32_t val)
{
    a->regs.svr = val & SVR_WRITABLE;
    if (!sw_enabled(a)) {
        /* Software disable masks every LVT entry (SDM "Spurious Interrupt"). */
        for (unsigned i = 0; i < LVT_NR; i++) {
            a->regs.lvt[i] |= LVT_MASKED;
        }
    }
    apic_update(a);
}

static void apic_write_lvt(Apic *a, unsigned idx, uint32_t val)
{
    uint32_t old = a->regs.lvt[idx];

    val &= lvt_writable[idx];
    if (!sw_enabled(a)) {
        val |= LVT_MASKED;    /* cannot be unmasked while software-disabled */
    }
    a->regs.lvt[idx] = val;
    if (idx == LVT_TIMER && (val >> 17) != (old >> 17)) {
        timer_rearm(a, false);       /* one-shot <-> periodic */
    }
    if (idx == LVT_LINT0) {
        apic_update(a);       /* the PIC may have become visible */
    }
}

static void apic_reg_write(Apic *a, unsigned reg, uint32_t val)
{
    ApicRegs *r = &a->regs;

    switch (reg) {
    case REG_ID:
        r->id = val >> 24;
        break;
    case REG_TPR:
        apic_set_tpr(a, val);
        break;
    case REG_EOI:
        apic_eoi(a);
        break;
    case REG_LDR:
        r->ldr = val & 0xff000000u;
        break;
    case REG_DFR:
        r->dfr = val & 0xf0000000u;
        break;
    case REG_SVR:
        apic_write_svr(a, val);
        break;
    case REG_ESR:
        r->esr = r->esr_pending;   /* a write latches the errors seen so far */
        r->esr_pending = 0;
        break;
    case REG_ICR_LO:
        r->icr_lo = val & ICR_WRITABLE;
        apic_send_ipi(a);
        break;
    case REG_ICR_HI:
        r->icr_hi = val & 0xff000000u;
        break;
    case REG_LVT ... REG_LVT + LVT_NR - 1:
        apic_write_lvt(a, reg - REG_LVT, val);
        break;
    case REG_TIMER_INIT:
        r->timer_initial = val;
        r->timer_start = clock_ns();
        timer_rearm(a, true);
        break;
    case REG_TIMER_DCR:
        r->dcr = val & 0x0b;
        timer_rearm(a, false);
        break;
    case REG_VERSION:
    case REG_APR:
    case REG_PPR:
    case REG_RRD:
    case REG_ISR ... REG_ISR + 7:
    case REG_TMR ... REG_TMR + 7:
    case REG_IRR ... REG_IRR + 7:
    case REG_TIMER_CUR:
        log_guest_error("apic: write 0x%x to read-only register 0x%x", val, reg << 4);
        break;
    default:
        log_guest_error("apic: write 0x%x to missing register 0x%x", val, reg << 4);
        apic_error(a, ESR_ILLEGAL_REG);
        break;
    }
}

/* The APIC of the accessing vCPU; NULL when it has none enabled. */
static Apic *mmio_apic(Machine *m)
{
    Vcpu *cpu = current_vcpu();
    Apic *a;

    if (!cpu || cpu->m != m) {
        cpu = m->ncpus ? m->cpus[0] : NULL;
    }
    a = cpu ? cpu->apic : NULL;
    return a && hw_enabled(a) ? a : NULL;
}

/*
 * Registers are 32 bits wide at 16-byte strides. Narrower reads return
 * their bytes of the register; the rest of each 16-byte slot reads 0.
 * Any write but an aligned 32-bit one is undefined: it is dropped.
 */
static uint64_t apic_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    Apic *a = mmio_apic(opaque);
    uint32_t val;

    if (!a) {
        return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
    }
    if ((off & 0xf) >= 4) {
        return 0;
    }
    val = apic_reg_read(a, off >> 4) >> ((off & 3) * 8);
    return size == 4 ? val : val & ((1u << (size * 8)) - 1);
}

static void apic_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Apic *a = mmio_apic(opaque);

    if (!a) {
        return;
    }
    if (size != 4 || (off & 0xf)) {
        log_guest_error("apic: %u-byte write at offset 0x%llx dropped", size,
                        (unsigned long long)off);
        return;
    }
    apic_reg_write(a, off >> 4, val);
}

static const IoOps apic_ops = {
    .read = apic_mmio_read,
    .write = apic_mmio_write,
    .min_size = 1,
    .max_size = 4,
};

/* --- CPU-side interface ------------------------------------------------ */

uint64_t apic_get_base(Apic *a)
{
    return a->regs.base;
}

/* Registers to the INIT state; the APIC ID and base survive. */
static void apic_init_regs(Apic *a)
{
    ApicRegs *r = &a->regs;
    uint64_t base = r->base;
    uint8_t id = r->id;

    memset(r, 0, sizeof(*r));
    r->base = base;
    r->id = id;
    r->svr = 0xff;
    r->dfr = 0xf0000000u;
    for (unsigned i = 0; i < LVT_NR; i++) {
        r->lvt[i] = LVT_MASKED;
    }
    if (is_bsp(a)) {
        r->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;   /* virtual wire: see the top */
    }
    timer_del(a->timer);
}

bool apic_set_base(Apic *a, uint64_t val)
{
    uint64_t old = a->regs.base;

    if (val & ~APIC_BASE_VALID) {
        return false;
    }
    a->regs.base = (val & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP);
    if ((old & APIC_BASE_ENABLE) && !(val & APIC_BASE_ENABLE)) {
        apic_init_regs(a);    /* a globally disabled APIC loses its state */
    }
    if ((val & ~0xfffull) != APIC_DEFAULT_BASE && !a->base_warned) {
        a->base_warned = true;
        log_unimp("apic: relocation to 0x%llx not supported; registers stay at 0x%llx",
                  (unsigned long long)(val & ~0xfffull), APIC_DEFAULT_BASE);
    }
    apic_update(a);
    return true;
}

uint8_t apic_get_tpr(Apic *a)
{
    return a->regs.tpr;
}

void apic_set_tpr(Apic *a, uint8_t tpr)
{
    a->regs.tpr = tpr;
    apic_update(a);
}

void apic_reset(Apic *a)
{
    apic_init_regs(a);
}

void apic_pic_intr_handler(void *opaque, int n, int level)
{
    Machine *m = opaque;
    Vcpu *bsp = m->ncpus ? m->cpus[0] : NULL;
    Apic *a;
    bool rising;

    (void)n;
    if (!bsp) {
        return;
    }
    a = bsp->apic;
    if (!a) {
        if (level) {
            vcpu_interrupt(bsp, VCPU_IRQ_HARD);
        }
        return;
    }
    rising = level && !a->lint0_level;
    a->lint0_level = level;
    if (!hw_enabled(a) || LVT_DM(a->regs.lvt[LVT_LINT0]) == APIC_DM_EXTINT) {
        apic_update(a);
    } else if (rising) {
        lvt_fire(a, LVT_LINT0);   /* LINT0 as a fixed or NMI edge input */
    }
}

/* --- device ------------------------------------------------------------ */

static void apic_power_on(Device *d)
{
    Apic *a = (Apic *)d;

    a->regs.id = a->cpu->apic_id;
    a->regs.base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE |
                   (a->cpu->index == 0 ? APIC_BASE_BSP : 0);
    apic_init_regs(a);
}

static bool apic_post_load(void *state, GError **errp)
{
    ApicRegs *r = state;
    Apic *a = (Apic *)((char *)state - offsetof(Apic, regs));

    if ((r->base & ~APIC_BASE_VALID) || (r->svr & ~SVR_WRITABLE) || (r->dcr & ~0x0b) ||
        r->extint_pending > 1) {
        error_setg(errp, "apic %u: invalid saved state", a->cpu->index);
        return false;
    }
    for (unsigned i = 0; i < LVT_NR; i++) {
        if (r->lvt[i] & ~lvt_writable[i]) {
            error_setg(errp, "apic %u: invalid saved LVT entry %u", a->cpu->index, i);
            return false;
        }
    }
    timer_rearm(a, false);
    apic_update(a);
    return true;
}

static void apic_finalize(Device *d)
{
    Apic *a = (Apic *)d;

    timer_free(a->timer);
    if (a->owns_mmio) {
        iobus_unmap(a->m->mmio, APIC_DEFAULT_BASE);
    }
    if (a->cpu->apic == a) {
        a->cpu->apic = NULL;
    }
}

static const DeviceClass apic_class = {
    .name = "apic",
    .reset = apic_power_on,
    .vmsd = &apic_vmsd,
    .vmstate_offset = offsetof(Apic, regs),
    .finalize = apic_finalize,
};

static bool apic_mmio_mapped(Machine *m)
{
    for (Device *d = m->devices; d; d = d->next) {
        if (d->cls == &apic_class && ((Apic *)d)->owns_mmio) {
            return true;
        }
    }
    return false;
}

Apic *apic_new(Machine *m, Vcpu *cpu, GError **errp)
{
    Apic *a = g_new0(Apic, 1);

    a->m = m;
    a->cpu = cpu;
    if (!apic_mmio_mapped(m)) {
        /* One page for all APICs: each access picks its vCPU's APIC. */
        if (!iobus_map(m->mmio, APIC_DEFAULT_BASE, APIC_SIZE, &apic_ops, m, errp)) {
            g_prefix_error(errp, "apic: ");
            g_free(a);
            return NULL;
        }
        a->owns_mmio = true;
    }
    a->timer = timer_new(apic_timer_expired, a);
    cpu->apic = a;
    device_add(m, &a->dev, &apic_class, NULL);
    apic_power_on(&a->dev);
    return a;
}
