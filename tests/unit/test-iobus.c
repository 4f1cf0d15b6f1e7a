/* I/O bus: mapping rules, access-size splitting and widening, holes. */
#include <glib.h>
#include <string.h>
#include "hw/iobus.h"
#include "kemu/log.h"

typedef struct Access {
    bool write;
    uint64_t off, val;
    unsigned size;
} Access;

typedef struct TestDev {
    uint8_t mem[64];
    Access log[64];
    unsigned n;
} TestDev;

static uint64_t td_read(void *opaque, uint64_t off, unsigned size)
{
    TestDev *d = opaque;
    uint64_t v = 0;

    g_assert_cmpuint(off + size, <=, sizeof(d->mem));
    memcpy(&v, d->mem + off, size);
    d->log[d->n++ % 64] = (Access){ false, off, v, size };
    return v;
}

static void td_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    TestDev *d = opaque;

    g_assert_cmpuint(off + size, <=, sizeof(d->mem));
    memcpy(d->mem + off, &val, size);
    d->log[d->n++ % 64] = (Access){ true, off, val, size };
}

static const IoOps any_ops = { .read = td_read, .write = td_write };
static const IoOps only4_ops = { .read = td_read, .write = td_write, .min_size = 4, .max_size = 4 };
static const IoOps upto2_ops = { .read = td_read, .write = td_write, .min_size = 1, .max_size = 2 };

static void test_overlap(void)
{
    IoBus *b = iobus_new("test");
    TestDev d = { 0 };
    GError *err = NULL;

    g_assert_true(iobus_map(b, 0x100, 0x10, &any_ops, &d, NULL));
    g_assert_false(iobus_map(b, 0x10f, 1, &any_ops, &d, &err));
    g_assert_nonnull(strstr(err->message, "overlaps"));
    g_clear_error(&err);
    g_assert_false(iobus_map(b, 0xf0, 0x11, &any_ops, &d, NULL));
    g_assert_false(iobus_map(b, 0x0, 0x1000, &any_ops, &d, NULL));
    g_assert_false(iobus_map(b, 0x200, 0, &any_ops, &d, NULL));
    g_assert_false(iobus_map(b, UINT64_MAX, 2, &any_ops, &d, NULL));
    g_assert_true(iobus_map(b, 0xf0, 0x10, &any_ops, &d, NULL));     /* adjacent below */
    g_assert_true(iobus_map(b, 0x110, 0x10, &any_ops, &d, NULL));    /* adjacent above */
    g_assert_true(iobus_map(b, UINT64_MAX, 1, &any_ops, &d, NULL));  /* last byte */
    g_assert_true(iobus_unmap(b, 0x100));
    g_assert_false(iobus_unmap(b, 0x100));
    g_assert_true(iobus_map(b, 0x100, 0x10, &any_ops, &d, NULL));
    iobus_free(b);
}

static void test_unmapped(void)
{
    IoBus *b = iobus_new("test");
    TestDev d = { 0 };

    g_assert_true(iobus_map(b, 0x10, 2, &any_ops, &d, NULL));
    g_assert_cmphex(iobus_read(b, 0x1000, 1), ==, 0xff);
    g_assert_cmphex(iobus_read(b, 0x1000, 2), ==, 0xffff);
    g_assert_cmphex(iobus_read(b, 0x1000, 4), ==, 0xffffffff);
    g_assert_cmphex(iobus_read(b, 0x1000, 8), ==, UINT64_MAX);
    iobus_write(b, 0x1000, 0x1234, 2);   /* dropped */
    g_assert_cmpuint(d.n, ==, 0);
    /* Half mapped: the device's bytes, then all-ones for the hole. */
    d.mem[0] = 0x11;
    d.mem[1] = 0x22;
    g_assert_cmphex(iobus_read(b, 0x10, 4), ==, 0xffff2211);
    iobus_write(b, 0x0f, 0xaabbccdd, 4);
    g_assert_cmphex(d.mem[0], ==, 0xcc);
    g_assert_cmphex(d.mem[1], ==, 0xbb);
    iobus_free(b);
}

static void test_split(void)
{
    IoBus *b = iobus_new("test");
    TestDev d = { 0 };

    g_assert_true(iobus_map(b, 0x100, 16, &upto2_ops, &d, NULL));
    iobus_write(b, 0x100, 0x1122334455667788ull, 8);
    g_assert_cmpuint(d.n, ==, 4);
    for (unsigned i = 0; i < 4; i++) {
        g_assert_true(d.log[i].write);
        g_assert_cmpuint(d.log[i].size, ==, 2);
        g_assert_cmpuint(d.log[i].off, ==, i * 2);
    }
    g_assert_cmphex(d.log[0].val, ==, 0x7788);
    g_assert_cmphex(d.log[3].val, ==, 0x1122);
    g_assert_cmphex(iobus_read(b, 0x100, 8), ==, 0x1122334455667788ull);
    /* A misaligned access goes byte by byte. */
    d.n = 0;
    g_assert_cmphex(iobus_read(b, 0x101, 2), ==, 0x6677);
    g_assert_cmpuint(d.n, ==, 2);
    g_assert_cmpuint(d.log[0].size, ==, 1);
    iobus_free(b);
}

static void test_widen(void)
{
    IoBus *b = iobus_new("test");
    TestDev d = { 0 };

    g_assert_true(iobus_map(b, 0x200, 8, &only4_ops, &d, NULL));
    memcpy(d.mem, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    g_assert_cmphex(iobus_read(b, 0x202, 1), ==, 0x03);
    g_assert_cmpuint(d.log[0].size, ==, 4);
    g_assert_cmpuint(d.log[0].off, ==, 0);
    g_assert_cmphex(iobus_read(b, 0x206, 2), ==, 0x0807);
    /* A narrow write arrives widened, shifted into place, other bytes zero. */
    d.n = 0;
    iobus_write(b, 0x201, 0xab, 1);
    g_assert_cmpuint(d.n, ==, 1);
    g_assert_cmpuint(d.log[0].size, ==, 4);
    g_assert_cmphex(d.log[0].val, ==, 0xab00);
    /* The device stored the widened value; an 8-byte read is split in two. */
    d.n = 0;
    g_assert_cmphex(iobus_read(b, 0x200, 8), ==, 0x080706050000ab00ull);
    g_assert_cmpuint(d.n, ==, 2);
    iobus_free(b);
}

static void test_buf(void)
{
    IoBus *b = iobus_new("test");
    TestDev d = { 0 };
    uint8_t buf[4] = { 1, 2, 3, 4 };

    g_assert_true(iobus_map(b, 0, 8, &any_ops, &d, NULL));
    iobus_write_buf(b, 4, buf, 4);
    memset(buf, 0, sizeof(buf));
    iobus_read_buf(b, 4, buf, 4);
    g_assert_cmpmem(buf, 4, "\x01\x02\x03\x04", 4);
    iobus_free(b);
}

static void test_many_ranges(void)
{
    IoBus *b = iobus_new("test");
    TestDev d[32] = { 0 };

    /* Map in a scrambled order; lookups must still find each one. */
    for (unsigned i = 0; i < 32; i++) {
        unsigned k = (i * 7) % 32;
        g_assert_true(iobus_map(b, k * 0x100, 0x40, &any_ops, &d[k], NULL));
    }
    for (unsigned k = 0; k < 32; k++) {
        iobus_write(b, k * 0x100 + 3, k, 1);
        g_assert_cmpuint(d[k].mem[3], ==, k);
        g_assert_cmphex(iobus_read(b, k * 0x100 + 0x40, 1), ==, 0xff);
    }
    iobus_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iobus/overlap", test_overlap);
    g_test_add_func("/iobus/unmapped", test_unmapped);
    g_test_add_func("/iobus/split", test_split);
    g_test_add_func("/iobus/widen", test_widen);
    g_test_add_func("/iobus/buf", test_buf);
    g_test_add_func("/iobus/many-ranges", test_many_ranges);
    return g_test_run();
}
