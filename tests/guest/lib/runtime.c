/*
 * Shared guest runtime (see runtime.h).
 */
#include "runtime.h"

#define COM1 0x3f8
#define UART_LSR_THRE 0x20
#define DEBUG_EXIT_PORT 0xf4

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* IER: no interrupts */
    outb(COM1 + 3, 0x80);   /* LCR: DLAB on */
    outb(COM1 + 0, 0x01);   /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* LCR: 8N1, DLAB off */
    outb(COM1 + 2, 0x07);   /* FCR: enable and clear FIFOs */
    outb(COM1 + 4, 0x03);   /* MCR: DTR, RTS */
}

void serial_putc(char c)
{
    /*
     * Bounded: a UART that never reports an empty holder must not hang
     * the guest; the byte is then written anyway and the test sees
     * whatever the emulator made of it.
     */
    for (uint32_t n = 0; n < (1u << 20); n++) {
        if (inb(COM1 + 5) & UART_LSR_THRE) {
            break;
        }
    }
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
    while (*s) {
        serial_putc(*s++);
    }
}

void serial_put_hex(uint32_t v, unsigned digits)
{
    static const char hex[] = "0123456789abcdef";

    if (digits == 0 || digits > 8) {
        digits = 8;
    }
    while (digits--) {
        serial_putc(hex[(v >> (digits * 4)) & 0xf]);
    }
}

void serial_put_hex64(uint64_t v)
{
    serial_put_hex((uint32_t)(v >> 32), 8);
    serial_put_hex((uint32_t)v, 8);
}

void serial_put_dec(uint32_t v)
{
    char buf[10];
    unsigned n = 0;

    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        serial_putc(buf[--n]);
    }
}

void guest_exit(uint32_t value)
{
    outl(DEBUG_EXIT_PORT, value);
    /* Without isa-debug-exit the write is ignored: stop here for good. */
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

void guest_fail(const char *who, const char *why)
{
    serial_puts(who);
    serial_puts(": FAIL ");
    serial_puts(why);
    serial_putc('\n');
    guest_exit(EXIT_FAIL);
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;

    while (n--) {
        *d++ = (uint8_t)c;
    }
    return dst;
}

const char *guest_strstr(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        size_t i = 0;

        while (needle[i] && hay[i] == needle[i]) {
            i++;
        }
        if (!needle[i]) {
            return hay;
        }
    }
    return *needle ? NULL : hay;
}
