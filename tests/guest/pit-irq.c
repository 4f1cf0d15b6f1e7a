/*
 * pit-irq: remap the 8259 PICs to vectors 0x20/0x28, run PIT channel 0
 * as a ~1 kHz rate generator, count IRQ0 ticks in an interrupt handler
 * on but without HLT and with a TSC bound, so a missing IRQ gives a
 * FAIL line instead of a hang; once ticks arrive the rest use sti;hlt.
 */
#include "runtime.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIT_CH0 0x40
#define PIT_MODE 0x43
#define PIT_HZ 1193182u
#define TICKS_WANTED 10

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t zero;
    uint8_t type_attr;
    uint16_t offset_hi;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

volatile uint32_t pit_ticks;
extern const uint32_t pit_exc_stubs[32];
void pit_isr_timer(void);
void pit_unexpected_exception(uint32_t vector);
void guest_main(uint32_t magic, uint32_t info);

static struct idt_gate idt[0x30];

static void idt_set(unsigned vec, uint32_t handler)
{
    idt[vec].offset_lo = handler & 0xffff;
    idt[vec].selector = 0x08;
    idt[vec].zero = 0;
    idt[vec].type_attr = 0x8e;      /* present, DPL0, 32-bit interrupt gate */
    idt[vec].offset_hi = handler >> 16;
}

void pit_unexpected_exception(uint32_t vector)
{
    serial_puts("pit: unexpected exception ");
    serial_put_dec(vector);
    serial_putc('\n');
    guest_fail("pit", "exception");
}

static void pic_remap(void)
{
    outb(PIC1_CMD, 0x11);   /* ICW1: edge, cascade, ICW4 follows */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, 0x20);  /* ICW2: vector bases */
    outb(PIC2_DATA, 0x28);
    outb(PIC1_DATA, 0x04);  /* ICW3: slave on IRQ2 */
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01);  /* ICW4: 8086 mode */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xfe);  /* unmask IRQ0 only */
    outb(PIC2_DATA, 0xff);
}

static void pit_start(void)
{
    uint16_t divisor = (PIT_HZ + 500) / 1000;

    outb(PIT_MODE, 0x34);   /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(PIT_CH0, divisor & 0xff);
    outb(PIT_CH0, divisor >> 8);
}

void guest_main(uint32_t magic, uint32_t info)
{
    struct idt_ptr idtr;
    uint64_t start;

    (void)magic;
    (void)info;
    serial_init();
    for (unsigned v = 0; v < 32; v++) {
        idt_set(v, pit_exc_stubs[v]);
    }
    for (unsigned v = 0x20; v < 0x30; v++) {
        idt_set(v, (uint32_t)pit_isr_timer);
    }
    /* Only IRQ0 is unmasked; the other PIC vectors never fire. */
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (uint32_t)idt;
    __asm__ volatile("lidt %0" : : "m"(idtr));

    pic_remap();
    pit_start();
    serial_puts("pit: waiting for ticks\n");

    start = rdtsc();
    __asm__ volatile("sti");
    while (pit_ticks == 0) {
        if (rdtsc() - start > WAIT_TSC_TICKS) {
            __asm__ volatile("cli");
            guest_fail("pit", "no timer interrupt arrived");
        }
        cpu_relax();
    }
    while (pit_ticks < TICKS_WANTED) {
        /* sti;hlt is atomic: an IRQ between the check and hlt still wakes us. */
        __asm__ volatile("cli; cmpl %1, %0; jae 1f; sti; hlt; 1: sti"
                         : : "m"(pit_ticks), "i"(TICKS_WANTED) : "memory");
    }
    __asm__ volatile("cli");
    serial_puts("pit: ");
    serial_put_dec(TICKS_WANTED);
    serial_puts(" ticks\n");
    guest_exit(EXIT_PIT_OK);
}
