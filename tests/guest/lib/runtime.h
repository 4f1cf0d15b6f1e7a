/*
 * Tiny runtime shared by the test guests: COM1 output, hex/decimal
 * printing, isa-debug-exit and port/MSR/TSC helpers. The same source is
 * compiled for 16-bit real mode (gcc -m16), 32-bit protected mode and
 * 64-bit long mode, so it uses only what all three can run.
 */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Exit values written to isa-debug-exit. The emulator then exits with
 * status (value << 1) | 1, so every value here stays below 128.
 */
enum {
    EXIT_REALMODE_OK = 0x10,    /* status 0x21 */
    EXIT_PM32_OK = 0x11,        /* status 0x23 */
    EXIT_LONG64_DEFAULT = 0x12, /* status 0x25: no exit=NN on the command line */
    EXIT_IO_OK = 0x13,          /* status 0x27 */
    EXIT_PIT_OK = 0x14,         /* status 0x29 */
    EXIT_UNMAPPED_OK = 0x05,    /* status 0x0b */
    /* smp exits with the number of CPUs that reported in (2 -> status 5). */
    EXIT_FAIL = 0x7f,           /* generic failure: status 0xff */
};

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* Time-stamp counter; used only to bound waits, never to measure. */
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/*
 * A generous bound for waits that should end in microseconds: 2^32 TSC
 * ticks is one to four seconds on any host we run on. Waits stop at this
 * bound so a broken emulator gives a FAIL line, not a hang.
 */
#define WAIT_TSC_TICKS (1ull << 32)

/* Program COM1 for 115200 8N1 with FIFOs. Call once before printing. */
void serial_init(void);

/* Write one byte to COM1 once LSR says the holder is empty (bounded poll). */
void serial_putc(char c);

/* Write a NUL-terminated string. */
void serial_puts(const char *s);

/* Write @v as @digits lowercase hex digits (no prefix; 1..8 digits). */
void serial_put_hex(uint32_t v, unsigned digits);

/* Write @v as 16 lowercase hex digits. */
void serial_put_hex64(uint64_t v);

/* Write @v in decimal. */
void serial_put_dec(uint32_t v);

/* End the guest through isa-debug-exit with @value; never returns. */
__attribute__((noreturn)) void guest_exit(uint32_t value);

/* Print "@who: FAIL @why" and exit with EXIT_FAIL. */
__attribute__((noreturn)) void guest_fail(const char *who, const char *why);

/*
 * Freestanding helpers (gcc may also emit calls to memcpy/memset itself).
 * guest_strstr returns the first occurrence of @needle in @hay or NULL.
 */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
const char *guest_strstr(const char *hay, const char *needle);

#endif
