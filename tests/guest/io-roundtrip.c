/*
 * io-roundtrip: port and MMIO round trips against -device pc-testdev,
 * run in long mode (lib/entry64.S maps the MMIO window 1:1).
 *   port 0xe0..0xe3: a 32-bit scratch register, accessed as 1, 2 or 4 bytes
 *   0xff000000 + 64 KiB: scratch memory, accessed as 1, 2, 4 or 8 bytes
 * Prints one "io: PASS|FAIL name" line per check and exits with
 * EXIT_IO_OK when all pass, else 0x40 + the number of failures.
 */
#include "runtime.h"

#define TESTDEV_PORT 0xe0
#define TESTDEV_MEM 0xff000000ul
#define TESTDEV_MEM_LEN 0x10000ul

static unsigned checks, failures;

static void check(const char *name, uint64_t got, uint64_t want)
{
    checks++;
    if (got == want) {
        serial_puts("io: PASS ");
        serial_puts(name);
        serial_putc('\n');
        return;
    }
    failures++;
    serial_puts("io: FAIL ");
    serial_puts(name);
    serial_puts(" got=");
    serial_put_hex64(got);
    serial_puts(" want=");
    serial_put_hex64(want);
    serial_putc('\n');
}

static void test_pio(void)
{
    outl(TESTDEV_PORT, 0x12345678);
    check("pio32 write/read", inl(TESTDEV_PORT), 0x12345678);
    check("pio8 read byte 1", inb(TESTDEV_PORT + 1), 0x56);
    check("pio16 read word 2", inw(TESTDEV_PORT + 2), 0x1234);

    outb(TESTDEV_PORT + 3, 0xab);
    check("pio8 write byte 3", inl(TESTDEV_PORT), 0xab345678);
    outw(TESTDEV_PORT, 0xcdef);
    check("pio16 write word 0", inl(TESTDEV_PORT), 0xab34cdef);
    outl(TESTDEV_PORT, 0);
    check("pio32 clear", inl(TESTDEV_PORT), 0);
}

/*
 * String I/O: every element of a rep outs/ins goes to the same port, so
 * after "rep outsb" of 4 bytes the low byte holds the last one, and
 * "rep insb" reads the low byte 4 times.
 */
static void test_string_pio(void)
{
    static const uint8_t out8[4] = { 0x11, 0x22, 0x33, 0x44 };
    static const uint16_t out16[3] = { 0x1111, 0x2222, 0xbeef };
    uint8_t in8[4] = { 0 };
    uint16_t in16[2] = { 0 };
    const void *src;
    void *dst;
    uint64_t cnt;

    outl(TESTDEV_PORT, 0xa0b0c0d0);
    src = out8;
    cnt = 4;
    __asm__ volatile("rep outsb" : "+S"(src), "+c"(cnt) : "d"(TESTDEV_PORT) : "memory");
    check("rep outsb count", cnt, 0);
    check("rep outsb last byte", inl(TESTDEV_PORT), 0xa0b0c044);

    dst = in8;
    cnt = 4;
    __asm__ volatile("rep insb" : "+D"(dst), "+c"(cnt) : "d"(TESTDEV_PORT) : "memory");
    check("rep insb", (uint64_t)in8[0] | in8[1] << 8 | in8[2] << 16 | (uint64_t)in8[3] << 24,
          0x44444444);

    src = out16;
    cnt = 3;
    __asm__ volatile("rep outsw" : "+S"(src), "+c"(cnt) : "d"(TESTDEV_PORT) : "memory");
    check("rep outsw last word", inl(TESTDEV_PORT), 0xa0b0beef);

    dst = in16;
    cnt = 2;
    __asm__ volatile("rep insw" : "+D"(dst), "+c"(cnt) : "d"(TESTDEV_PORT) : "memory");
    check("rep insw", (uint64_t)in16[0] | (uint64_t)in16[1] << 16, 0xbeefbeef);
}

static volatile uint8_t *mem8(uint64_t off)
{
    return (volatile uint8_t *)(TESTDEV_MEM + off);
}

static volatile uint16_t *mem16(uint64_t off)
{
    return (volatile uint16_t *)(TESTDEV_MEM + off);
}

static volatile uint32_t *mem32(uint64_t off)
{
    return (volatile uint32_t *)(TESTDEV_MEM + off);
}

static volatile uint64_t *mem64(uint64_t off)
{
    return (volatile uint64_t *)(TESTDEV_MEM + off);
}

static void test_mmio(void)
{
    static const uint8_t pattern[16] = {
        0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
        0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
    };
    uint8_t back[16];
    const void *src;
    void *dst;
    uint64_t cnt;

    *mem8(0) = 0x5a;
    check("mmio8 write/read", *mem8(0), 0x5a);
    *mem16(2) = 0xa55a;
    check("mmio16 write/read", *mem16(2), 0xa55a);
    *mem32(4) = 0xdeadbeef;
    check("mmio32 write/read", *mem32(4), 0xdeadbeef);
    check("mmio32 sees byte+word", *mem32(0), 0xa55a005a);

    *mem64(8) = 0x1122334455667788ull;
    check("mmio64 write/read", *mem64(8), 0x1122334455667788ull);
    check("mmio8 inside qword", *mem8(8 + 5), 0x33);
    check("mmio16 inside qword", *mem16(8 + 2), 0x5566);
    check("mmio32 high half of qword", *mem32(8 + 4), 0x11223344);

    *mem32(TESTDEV_MEM_LEN - 4) = 0xcafef00d;
    check("mmio32 last dword", *mem32(TESTDEV_MEM_LEN - 4), 0xcafef00d);
    *mem64(TESTDEV_MEM_LEN - 16) = 0x0123456789abcdefull;
    check("mmio64 near end", *mem64(TESTDEV_MEM_LEN - 16), 0x0123456789abcdefull);
    *mem8(TESTDEV_MEM_LEN - 1) = 0x99;
    check("mmio8 last byte", *mem8(TESTDEV_MEM_LEN - 1), 0x99);

    /* String moves into and out of MMIO. */
    src = pattern;
    dst = (void *)(TESTDEV_MEM + 0x100);
    cnt = sizeof(pattern);
    __asm__ volatile("rep movsb" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory");
    check("rep movsb to mmio", *mem64(0x100 + 8), 0x0f1e2d3c4b5a6978ull);
    src = (const void *)(TESTDEV_MEM + 0x100);
    dst = back;
    cnt = sizeof(back) / 8;
    __asm__ volatile("rep movsq" : "+S"(src), "+D"(dst), "+c"(cnt) : : "memory");
    check("rep movsq from mmio", (uint64_t)back[0] | (uint64_t)back[15] << 8, 0x0ff0);
}

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    serial_init();
    test_pio();
    test_string_pio();
    test_mmio();
    if (failures) {
        serial_puts("io: ");
        serial_put_dec(failures);
        serial_puts(" of ");
        serial_put_dec(checks);
        serial_puts(" checks failed\n");
        guest_exit(0x40 + (failures > 0x3f ? 0x3f : failures));
    }
    serial_puts("io: all ");
    serial_put_dec(checks);
    serial_puts(" checks passed\n");
    guest_exit(EXIT_IO_OK);
}
