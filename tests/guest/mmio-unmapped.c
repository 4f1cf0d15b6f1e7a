/*
 * mmio-unmapped: with paging off, write to and read from a physical
 * address nothing decodes (0xfe000000) and an unused I/O port. Reads
 * must return all-ones, and the guest must keep running afterwards.
 */
#include "runtime.h"

#define UNMAPPED_MMIO 0xfe000000u
#define UNUSED_PORT 0x0270      /* unused on a PC (no LPT3/COM port there) */

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    volatile uint32_t *p32 = (volatile uint32_t *)UNMAPPED_MMIO;
    volatile uint16_t *p16 = (volatile uint16_t *)(UNMAPPED_MMIO + 0x10);
    volatile uint8_t *p8 = (volatile uint8_t *)(UNMAPPED_MMIO + 0x21);
    uint32_t v32;
    uint16_t v16;
    uint8_t v8, port8;
    bool ok;

    (void)magic;
    (void)info;
    serial_init();
    *p32 = 0x12345678;
    *p16 = 0x1234;
    *p8 = 0x12;
    v32 = *p32;
    v16 = *p16;
    v8 = *p8;
    outb(UNUSED_PORT, 0x12);
    port8 = inb(UNUSED_PORT);

    serial_puts("unmapped: read ");
    serial_put_hex(v32, 8);
    serial_puts("\nunmapped: read16 ");
    serial_put_hex(v16, 4);
    serial_puts(" read8 ");
    serial_put_hex(v8, 2);
    serial_puts(" port ");
    serial_put_hex(port8, 2);
    serial_putc('\n');
    ok = v32 == 0xffffffffu && v16 == 0xffff && v8 == 0xff && port8 == 0xff;
    if (!ok) {
        guest_fail("unmapped", "expected all-ones reads");
    }
    serial_puts("unmapped: still running\n");
    guest_exit(EXIT_UNMAPPED_OK);
}
