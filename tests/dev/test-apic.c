/*
 * Local APICs driven through their MMIO page and the CPU-side calls, on a
 * hand-built machine of three vCPUs whose accelerator only counts kicks.
 * The timer tests run the main loop (timers_source_new) with the BQL held
 * as the real main loop dispatches, waiting on a condition with a deadline.
 */
#include <glib.h>
#include "accel/accel.h"
#include "dev-machine.h"
#include "hw/clock.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/iobus.h"
#include "system/bql.h"

#define NCPUS 3

enum {
    ID = 0x20, VERSION = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0,
    DFR = 0xe0, SVR = 0xf0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280,
    ICR_LO = 0x300, ICR_HI = 0x310, LVT_TIMER = 0x320, LVT_LINT0 = 0x350,
    LVT_LINT1 = 0x360, LVT_ERROR = 0x370, TIMER_INIT = 0x380, TIMER_CUR = 0x390,
    TIMER_DCR = 0x3e0,
};

typedef struct Fixture {
    Machine *m;
    Vcpu *cpu[NCPUS];
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    f->m = dev_machine_new();
    dev_machine_add_cpus(f->m, NCPUS);
    for (unsigned i = 0; i < NCPUS; i++) {
        f->cpu[i] = f->m->cpus[i];
    }
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    dev_machine_free(f->m);
}

/* Register access as vCPU @i would make it. */
static uint32_t rd(Fixture *f, unsigned i, unsigned reg)
{
    uint32_t v;

    set_current_vcpu(f->cpu[i]);
    v = iobus_read(f->m->mmio, APIC_DEFAULT_BASE + reg, 4);
    set_current_vcpu(NULL);
    return v;
}

static void wr(Fixture *f, unsigned i, unsigned reg, uint32_t val)
{
    set_current_vcpu(f->cpu[i]);
    iobus_write(f->m->mmio, APIC_DEFAULT_BASE + reg, val, 4);
    set_current_vcpu(NULL);
}

static bool vec_bit(Fixture *f, unsigned i, unsigned reg, unsigned vector)
{
    return rd(f, i, reg + (vector / 32) * 0x10) & (1u << (vector % 32));
}

static unsigned irq_req(Fixture *f, unsigned i)
{
    return atomic_load(&f->cpu[i]->irq_request);
}

static void clear_req(Fixture *f, unsigned i)
{
    atomic_store(&f->cpu[i]->irq_request, 0);
}

static void enable_all(Fixture *f)
{
    for (unsigned i = 0; i < NCPUS; i++) {
        wr(f, i, SVR, 0x1ff);
    }
}

static void test_reset_values(Fixture *f, gconstpointer data)
{
    (void)data;
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_cmphex(rd(f, i, ID), ==, i << 24);
        g_assert_cmphex(rd(f, i, VERSION), ==, 0x50014);
        g_assert_cmphex(rd(f, i, SVR), ==, 0xff);
        g_assert_cmphex(rd(f, i, DFR), ==, 0xffffffff);
        g_assert_cmphex(rd(f, i, TPR), ==, 0);
        g_assert_cmphex(rd(f, i, LVT_TIMER), ==, 0x10000);
        g_assert_cmphex(rd(f, i, LVT_LINT1), ==, 0x10000);
        g_assert_cmphex(rd(f, i, LVT_LINT0), ==, i == 0 ? 0x700 : 0x10000);
        g_assert_cmphex(apic_get_base(f->cpu[i]->apic), ==,
                        0xfee00800 | (i == 0 ? 0x100 : 0));
    }
    /* No current vCPU (main loop): the BSP's APIC answers. */
    g_assert_cmphex(iobus_read(f->m->mmio, APIC_DEFAULT_BASE + ID, 4), ==, 0);
    g_assert_cmphex(iobus_read(f->m->mmio, APIC_DEFAULT_BASE + VERSION + 2, 1), ==, 0x05);
}

static void test_fixed_ack_eoi(Fixture *f, gconstpointer data)
{
    (void)data;
    enable_all(f);
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 0x40, false);
    g_assert_true(vec_bit(f, 1, IRR, 0x40));
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_HARD);
    g_assert_cmpuint(dev_kicks[1], >=, 1);
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x40);
    g_assert_false(vec_bit(f, 1, IRR, 0x40));
    g_assert_true(vec_bit(f, 1, ISR, 0x40));
    g_assert_cmphex(irq_req(f, 1), ==, 0);
    g_assert_cmphex(rd(f, 1, PPR), ==, 0x40);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, -1);
    wr(f, 1, EOI, 0);
    g_assert_false(vec_bit(f, 1, ISR, 0x40));
    g_assert_cmphex(rd(f, 1, PPR), ==, 0);
}

static void test_priority_order(Fixture *f, gconstpointer data)
{
    Vcpu *cpu = f->cpu[0];

    (void)data;
    enable_all(f);
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x30, false);
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x50, false);
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x41, false);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x50);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, -1);   /* below 0x50 */
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    /* A higher class nests. */
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x61, false);
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x61);
    wr(f, 0, EOI, 0);                                         /* ends 0x61 */
    g_assert_true(vec_bit(f, 0, ISR, 0x50));
    wr(f, 0, EOI, 0);
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x41);
    wr(f, 0, EOI, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x30);
    wr(f, 0, EOI, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, -1);
}

static void test_tpr_ppr(Fixture *f, gconstpointer data)
{
    Vcpu *cpu = f->cpu[0];

    (void)data;
    enable_all(f);
    wr(f, 0, TPR, 0x55);
    g_assert_cmphex(rd(f, 0, PPR), ==, 0x55);
    g_assert_cmphex(apic_get_tpr(cpu->apic) >> 4, ==, 5);          /* CR8 view */
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x45, false);
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x5f, false);      /* same class */
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, -1);
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x61, false);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x61);
    g_assert_cmphex(rd(f, 0, PPR), ==, 0x60);
    /* Lowering TPR (MOV CR8) makes the held ones deliverable after EOI. */
    wr(f, 0, EOI, 0);
    clear_req(f, 0);
    apic_set_tpr(cpu->apic, 0x40);
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x5f);
    wr(f, 0, EOI, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, -1);     /* 0x45 <= TPR */
    apic_set_tpr(cpu->apic, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(cpu), ==, 0x45);
}

static void test_ipi_fixed(Fixture *f, gconstpointer data)
{
    (void)data;
    enable_all(f);
    wr(f, 0, ICR_HI, 0x02000000);
    wr(f, 0, ICR_LO, 0x00004031);
    g_assert_cmphex(rd(f, 0, ICR_LO) & 0x1000, ==, 0);            /* idle */
    g_assert_cmphex(rd(f, 0, ICR_HI), ==, 0x02000000);
    g_assert_true(vec_bit(f, 2, IRR, 0x31));
    g_assert_false(vec_bit(f, 1, IRR, 0x31));
    g_assert_false(vec_bit(f, 0, IRR, 0x31));
    g_assert_cmphex(irq_req(f, 2), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[2]), ==, 0x31);
    /* Shorthands. */
    wr(f, 1, ICR_LO, 0x00044042);                                  /* self */
    g_assert_true(vec_bit(f, 1, IRR, 0x42));
    g_assert_false(vec_bit(f, 0, IRR, 0x42));
    wr(f, 1, ICR_LO, 0x00084043);                                  /* all */
    wr(f, 1, ICR_LO, 0x000c4044);                                  /* all but self */
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_true(vec_bit(f, i, IRR, 0x43));
        g_assert_cmpint(vec_bit(f, i, IRR, 0x44), ==, i != 1);
    }
    /* Physical broadcast. */
    wr(f, 0, ICR_HI, 0xff000000);
    wr(f, 0, ICR_LO, 0x00004045);
    for (unsigned i = 0; i < NCPUS; i++) {
        g_assert_true(vec_bit(f, i, IRR, 0x45));
    }
}

static void test_init_sipi_nmi(Fixture *f, gconstpointer data)
{
    (void)data;
    wr(f, 0, ICR_HI, 0x01000000);
    wr(f, 0, ICR_LO, 0x0000c500);                                  /* INIT assert */
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_INIT);
    clear_req(f, 1);
    wr(f, 0, ICR_LO, 0x00008500);                                  /* INIT de-assert */
    g_assert_cmphex(irq_req(f, 1), ==, 0);
    wr(f, 0, ICR_LO, 0x00004609);                                  /* SIPI 0x9000 */
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_SIPI);
    g_assert_cmphex(atomic_load(&f->cpu[1]->sipi_vector), ==, 0x09);
    clear_req(f, 1);
    wr(f, 0, ICR_LO, 0x00004400);                                  /* NMI */
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_NMI);
    clear_req(f, 1);
    /* The start-up broadcast Linux uses: INIT, SIPI to all but self. */
    wr(f, 0, ICR_LO, 0x000c4500);
    wr(f, 0, ICR_LO, 0x000c4610);
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    for (unsigned i = 1; i < NCPUS; i++) {
        g_assert_cmphex(irq_req(f, i), ==, VCPU_IRQ_INIT | VCPU_IRQ_SIPI);
        g_assert_cmphex(atomic_load(&f->cpu[i]->sipi_vector), ==, 0x10);
    }
    /* INIT resets the APIC registers but keeps the ID. */
    wr(f, 1, SVR, 0x1ff);
    wr(f, 1, TPR, 0x20);
    apic_reset(f->cpu[1]->apic);
    g_assert_cmphex(rd(f, 1, SVR), ==, 0xff);
    g_assert_cmphex(rd(f, 1, TPR), ==, 0);
    g_assert_cmphex(rd(f, 1, ID), ==, 0x01000000);
}

static void test_logical(Fixture *f, gconstpointer data)
{
    (void)data;
    enable_all(f);
    for (unsigned i = 0; i < NCPUS; i++) {
        wr(f, i, LDR, 0x01000000u << i);
    }
    g_assert_cmphex(rd(f, 2, LDR), ==, 0x04000000);
    wr(f, 0, ICR_HI, 0x06000000);
    wr(f, 0, ICR_LO, 0x00004850);                                  /* logical, fixed */
    g_assert_false(vec_bit(f, 0, IRR, 0x50));
    g_assert_true(vec_bit(f, 1, IRR, 0x50));
    g_assert_true(vec_bit(f, 2, IRR, 0x50));
    /* Lowest priority: the lowest-numbered of the set. */
    apic_deliver(f->m, 0x06, true, APIC_DM_LOWEST, 0x51, false);
    g_assert_true(vec_bit(f, 1, IRR, 0x51));
    g_assert_false(vec_bit(f, 2, IRR, 0x51));
    /* Cluster model: cluster in bits 7..4, members in 3..0. */
    for (unsigned i = 0; i < NCPUS; i++) {
        wr(f, i, DFR, 0x0fffffff);
    }
    g_assert_cmphex(rd(f, 0, DFR), ==, 0x0fffffff);
    wr(f, 0, LDR, 0x11000000);
    wr(f, 1, LDR, 0x12000000);
    wr(f, 2, LDR, 0x21000000);
    apic_deliver(f->m, 0x11, true, APIC_DM_FIXED, 0x52, false);
    g_assert_true(vec_bit(f, 0, IRR, 0x52));
    g_assert_false(vec_bit(f, 1, IRR, 0x52));
    g_assert_false(vec_bit(f, 2, IRR, 0x52));
    apic_deliver(f->m, 0xf1, true, APIC_DM_FIXED, 0x53, false);    /* all clusters */
    g_assert_true(vec_bit(f, 0, IRR, 0x53));
    g_assert_false(vec_bit(f, 1, IRR, 0x53));
    g_assert_true(vec_bit(f, 2, IRR, 0x53));
    /* MSI: physical destination 1 in the address, level in the data. */
    apic_deliver_msi(f->m, 0xfee01000, 0xc054);
    g_assert_true(vec_bit(f, 1, IRR, 0x54));
    g_assert_true(vec_bit(f, 1, TMR, 0x54));
    apic_deliver_msi(f->m, 0x12345678, 0x55);                      /* dropped */
    g_assert_false(vec_bit(f, 1, IRR, 0x55));
}

static void test_software_disabled(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmphex(rd(f, 1, SVR), ==, 0xff);
    wr(f, 1, LVT_LINT1, 0x00000430);
    g_assert_cmphex(rd(f, 1, LVT_LINT1), ==, 0x00010430);          /* stays masked */
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 0x40, false);
    g_assert_true(vec_bit(f, 1, IRR, 0x40));                      /* held */
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, -1);
    wr(f, 1, SVR, 0x1ef);
    g_assert_cmphex(rd(f, 1, SVR), ==, 0x1ef);
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x40);
    wr(f, 1, LVT_LINT1, 0x00000430);
    g_assert_cmphex(rd(f, 1, LVT_LINT1), ==, 0x00000430);
    wr(f, 1, SVR, 0x0ef);                                          /* disable again */
    g_assert_cmphex(rd(f, 1, SVR), ==, 0x0ef);
    g_assert_cmphex(rd(f, 1, LVT_LINT1), ==, 0x00010430);
    g_assert_cmphex(rd(f, 1, LVT_TIMER), ==, 0x00010000);
}

static void test_errors(Fixture *f, gconstpointer data)
{
    (void)data;
    enable_all(f);
    wr(f, 0, ICR_HI, 0x01000000);
    wr(f, 0, ICR_LO, 0x00004005);                                  /* vector 5 */
    g_assert_cmphex(rd(f, 0, ESR), ==, 0);
    wr(f, 0, ESR, 0);
    g_assert_cmphex(rd(f, 0, ESR), ==, 0x20);                      /* send illegal */
    g_assert_false(vec_bit(f, 1, IRR, 5));
    wr(f, 1, LVT_ERROR, 0x3e);
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 3, false);
    wr(f, 1, ESR, 0);
    g_assert_cmphex(rd(f, 1, ESR), ==, 0x40);                      /* receive illegal */
    g_assert_true(vec_bit(f, 1, IRR, 0x3e));                       /* error LVT */
    wr(f, 1, ESR, 0);
    g_assert_cmphex(rd(f, 1, ESR), ==, 0);
    /* An illegal vector in the error LVT itself does not loop. */
    wr(f, 1, LVT_ERROR, 0x02);
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 3, false);
    wr(f, 1, ESR, 0);
    g_assert_cmphex(rd(f, 1, ESR), ==, 0x40);
}

static void test_base_msr(Fixture *f, gconstpointer data)
{
    Apic *a = f->cpu[0]->apic;

    (void)data;
    g_assert_false(apic_set_base(a, 0xfee00900 | (1u << 10)));     /* x2APIC */
    g_assert_false(apic_set_base(a, 0xfee00901));
    g_assert_cmphex(apic_get_base(a), ==, 0xfee00900);
    wr(f, 0, SVR, 0x1ff);
    g_assert_true(apic_set_base(a, 0xfee00000));                   /* global disable */
    g_assert_cmphex(apic_get_base(a), ==, 0xfee00100);             /* BSP bit stays */
    g_assert_cmphex(rd(f, 0, VERSION), ==, 0xffffffff);            /* page gone */
    wr(f, 0, SVR, 0x1ff);
    g_assert_true(apic_set_base(a, 0xfee00800));
    g_assert_cmphex(rd(f, 0, SVR), ==, 0xff);                      /* state was lost */
    /* APs cannot claim to be the BSP. */
    g_assert_true(apic_set_base(f->cpu[1]->apic, 0xfee00900));
    g_assert_cmphex(apic_get_base(f->cpu[1]->apic), ==, 0xfee00800);
    /* A disabled APIC receives nothing. */
    g_assert_true(apic_set_base(f->cpu[2]->apic, 0xfee00000));
    apic_deliver(f->m, 0xff, false, APIC_DM_INIT, 0, false);
    g_assert_cmphex(irq_req(f, 2), ==, 0);
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_INIT);
}

static void test_pic_through_lint0(Fixture *f, gconstpointer data)
{
    static const uint8_t init[][2] = {
        { 0x20, 0x11 }, { 0x21, 0x20 }, { 0x21, 0x04 }, { 0x21, 0x01 },
        { 0xa0, 0x11 }, { 0xa1, 0x28 }, { 0xa1, 0x02 }, { 0xa1, 0x01 },
        { 0x21, 0x00 }, { 0xa1, 0x00 },
    };
    g_autoptr(GError) err = NULL;
    Pic *pic = pic_new(f->m, irq_new(apic_pic_intr_handler, f->m, 0), &err);

    (void)data;
    g_assert_no_error(err);
    for (unsigned i = 0; i < G_N_ELEMENTS(init); i++) {
        iobus_write(f->m->pio, init[i][0], init[i][1], 1);
    }
    /* Out of reset the BSP's LINT0 is ExtINT: PIC interrupts get through. */
    irq_raise(pic_irq_in(pic, 0));
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    g_assert_cmphex(irq_req(f, 1), ==, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x20);
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    g_assert_false(vec_bit(f, 0, ISR, 0x20));                      /* not an APIC vector */
    iobus_write(f->m->pio, 0x20, 0x20, 1);
    irq_lower(pic_irq_in(pic, 0));
    /* Masked LINT0: nothing; unmasking it brings the waiting request. */
    wr(f, 0, SVR, 0x1ff);
    wr(f, 0, LVT_LINT0, 0x10700);
    irq_raise(pic_irq_in(pic, 10));
    g_assert_cmphex(irq_req(f, 0), ==, 0);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, -1);
    wr(f, 0, LVT_LINT0, 0x700);
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    /* ExtINT outranks a pending fixed interrupt. */
    apic_deliver(f->m, 0, false, APIC_DM_FIXED, 0x90, false);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x2a);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x90);
    iobus_write(f->m->pio, 0xa0, 0x20, 1);
    iobus_write(f->m->pio, 0x20, 0x20, 1);
    irq_lower(pic_irq_in(pic, 10));
    /* Globally disabled APIC: INTR goes straight to the CPU. */
    wr(f, 0, LVT_LINT0, 0x10700);
    g_assert_true(apic_set_base(f->cpu[0]->apic, 0xfee00100));
    clear_req(f, 0);
    irq_raise(pic_irq_in(pic, 1));
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x21);
    /* LINT0 as NMI takes the rising edge. */
    g_assert_true(apic_set_base(f->cpu[0]->apic, 0xfee00900));
    wr(f, 0, SVR, 0x1ff);
    wr(f, 0, LVT_LINT0, 0x400);
    iobus_write(f->m->pio, 0x20, 0x20, 1);
    clear_req(f, 0);
    irq_lower(pic_irq_in(pic, 1));
    irq_raise(pic_irq_in(pic, 1));
    g_assert_cmphex(irq_req(f, 0), ==, VCPU_IRQ_NMI);
}

/* --- timer ---------------------------------------------------------- */

typedef struct IrrWait {
    Fixture *f;
    unsigned cpu, vector;
} IrrWait;

static bool irr_set(void *opaque)
{
    IrrWait *w = opaque;

    return vec_bit(w->f, w->cpu, IRR, w->vector);
}

/* Run the main loop until vector @v is in IRR of vCPU @i. */
static void wait_irr(Fixture *f, unsigned i, unsigned v)
{
    IrrWait w = { f, i, v };

    dev_wait_until(NULL, irr_set, &w);
}

static void test_timer_oneshot(Fixture *f, gconstpointer data)
{
    uint32_t cur;
    int64_t t0;

    (void)data;
    enable_all(f);
    wr(f, 1, TIMER_DCR, 0x0b);                                     /* divide by 1 */
    wr(f, 1, LVT_TIMER, 0x41);
    t0 = clock_ns();
    wr(f, 1, TIMER_INIT, 2000000);                                 /* 2 ms at 1 GHz */
    cur = rd(f, 1, TIMER_CUR);
    g_assert_cmpuint(cur, <=, 2000000);
    g_assert_cmpuint(cur, >, 0);
    g_assert_cmphex(rd(f, 1, TIMER_INIT), ==, 2000000);
    wait_irr(f, 1, 0x41);
    g_assert_cmpint(clock_ns() - t0, >=, 2000000);
    g_assert_cmphex(rd(f, 1, TIMER_CUR), ==, 0);
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x41);
    wr(f, 1, EOI, 0);
    /* Masked: the count runs out silently. Divide by 2 doubles the time. */
    wr(f, 1, TIMER_DCR, 0x00);
    wr(f, 1, LVT_TIMER, 0x10041);
    wr(f, 1, TIMER_INIT, 1000);
    g_assert_cmpuint(rd(f, 1, TIMER_CUR), <=, 1000);
    wr(f, 1, TIMER_INIT, 0);                                       /* stops it */
    g_assert_cmphex(rd(f, 1, TIMER_CUR), ==, 0);
    /* A count of 1 at divide-by-1 (1 ns) has run out before the write
       returns: it must still interrupt (a lost one left Linux idle for
       good), and exactly once. */
    wr(f, 1, TIMER_DCR, 0x0b);
    wr(f, 1, LVT_TIMER, 0x42);
    wr(f, 1, TIMER_INIT, 1);
    wait_irr(f, 1, 0x42);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x42);
    wr(f, 1, EOI, 0);
    wr(f, 1, TIMER_DCR, 0x0b);                                     /* no second one */
    while (g_main_context_iteration(NULL, FALSE)) {
        continue;
    }
    g_assert_false(vec_bit(f, 1, IRR, 0x42));
}

static void test_timer_periodic(Fixture *f, gconstpointer data)
{
    int64_t t0;

    (void)data;
    enable_all(f);
    wr(f, 0, TIMER_DCR, 0x0b);
    wr(f, 0, LVT_TIMER, 0x20000 | 0x42);
    t0 = clock_ns();
    wr(f, 0, TIMER_INIT, 1000000);                                 /* 1 ms period */
    for (unsigned n = 1; n <= 3; n++) {
        wait_irr(f, 0, 0x42);
        g_assert_cmpint(clock_ns() - t0, >=, n * 1000000);
        g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[0]), ==, 0x42);
        wr(f, 0, EOI, 0);
        g_assert_cmpuint(rd(f, 0, TIMER_CUR), >, 0);               /* reloads */
    }
    wr(f, 0, LVT_TIMER, 0x10042);                                  /* mask */
    wr(f, 0, TIMER_INIT, 0);
}

static void test_vmstate(Fixture *f, gconstpointer data)
{
    Device *d = (Device *)f->cpu[1]->apic;
    g_autoptr(GByteArray) rec = NULL;
    DevSnapshot snap;

    (void)data;
    enable_all(f);
    wr(f, 1, TPR, 0x20);
    wr(f, 1, LDR, 0x02000000);
    wr(f, 1, LVT_TIMER, 0x20050);
    wr(f, 1, TIMER_INIT, 0x7fffffff);
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 0x60, true);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x60);
    apic_deliver(f->m, 1, false, APIC_DM_FIXED, 0x70, false);
    g_assert_true(dev_vmstate_save_reset(d, &snap));
    g_assert_cmphex(rd(f, 1, TIMER_CUR), ==, 0);
    clear_req(f, 1);
    dev_vmstate_load_check(&snap);
    g_assert_cmpuint(rd(f, 1, TIMER_CUR), >, 0);                   /* timer runs on */
    g_assert_cmphex(irq_req(f, 1), ==, VCPU_IRQ_HARD);
    g_assert_cmpint(apic_acknowledge_interrupt(f->cpu[1]), ==, 0x70);
    /* A record with reserved bits set is refused. */
    rec = dev_vmstate_record(d);
    rec->data[rec->len - 2] = 0xff;                                /* DCR */
    dev_vmstate_assert_refused(d, rec);
}

/* Random accesses of every size at every offset never crash. */
static void test_hostile(Fixture *f, gconstpointer data)
{
    GRand *rand = g_rand_new_with_seed(7);

    (void)data;
    for (unsigned n = 0; n < 50000; n++) {
        unsigned i = g_rand_int_range(rand, 0, NCPUS);
        unsigned size = 1u << g_rand_int_range(rand, 0, 4);
        uint64_t off = g_rand_int_range(rand, 0, APIC_SIZE);
        uint32_t val = g_rand_int(rand);

        /* Bias towards real register offsets, aligned 32-bit writes. */
        if (n & 1) {
            off &= ~0xfull;
            size = 4;
        }
        set_current_vcpu(f->cpu[i]);
        if (g_rand_boolean(rand)) {
            iobus_write(f->m->mmio, APIC_DEFAULT_BASE + off, val, size);
        } else {
            iobus_read(f->m->mmio, APIC_DEFAULT_BASE + off, size);
        }
        set_current_vcpu(NULL);
        if (n % 64 == 0) {
            apic_acknowledge_interrupt(f->cpu[i]);
            apic_set_base(f->cpu[i]->apic, g_rand_int(rand) | 0xfee00800ull);
        }
        if (n % 1000 == 0) {
            timers_run_expired();
        }
    }
    for (unsigned i = 0; i < NCPUS; i++) {
        wr(f, i, TIMER_INIT, 0);
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    GSource *timers;
    int ret;

    g_test_init(&argc, &argv, NULL);
    timers = timers_source_new(NULL);
    bql_lock();   /* as the main loop holds it while dispatching */
#define ADD(name, fn) \
    g_test_add("/apic/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("reset-values", test_reset_values);
    ADD("fixed-ack-eoi", test_fixed_ack_eoi);
    ADD("priority-order", test_priority_order);
    ADD("tpr-ppr", test_tpr_ppr);
    ADD("ipi-fixed", test_ipi_fixed);
    ADD("init-sipi-nmi", test_init_sipi_nmi);
    ADD("logical", test_logical);
    ADD("software-disabled", test_software_disabled);
    ADD("errors", test_errors);
    ADD("base-msr", test_base_msr);
    ADD("pic-through-lint0", test_pic_through_lint0);
    ADD("timer-oneshot", test_timer_oneshot);
    ADD("timer-periodic", test_timer_periodic);
    ADD("vmstate", test_vmstate);
    ADD("hostile", test_hostile);
#undef ADD
    ret = g_test_run();
    bql_unlock();
    g_source_destroy(timers);
    g_source_unref(timers);
    return ret;
}
