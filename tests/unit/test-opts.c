/* QEMU-style option strings and the number/size/bool parsers. */
#include <glib.h>
#include <string.h>
#include "system/opts.h"

static void test_basic(void)
{
    Opts *o = opts_parse("isa-debug-exit,iobase=0xf4,iosize=0x04", "driver", NULL);
    uint64_t v;

    g_assert_nonnull(o);
    g_assert_cmpstr(opts_get(o, "driver"), ==, "isa-debug-exit");
    g_assert_true(opts_get_u64(o, "iobase", 0, &v, NULL));
    g_assert_cmphex(v, ==, 0xf4);
    g_assert_true(opts_get_u64(o, "iosize", 0, &v, NULL));
    g_assert_cmphex(v, ==, 4);
    g_assert_true(opts_get_u64(o, "absent", 77, &v, NULL));
    g_assert_cmpuint(v, ==, 77);
    g_assert_true(opts_check_all_used(o, "x", NULL));
    opts_free(o);
}

static void test_escape_and_flags(void)
{
    GError *err = NULL;
    Opts *o = opts_parse("socket,path=/tmp/a,,b,server,nowait", "backend", NULL);
    bool b;

    g_assert_cmpstr(opts_get(o, "path"), ==, "/tmp/a,b");
    g_assert_true(opts_get_bool(o, "server", false, &b, NULL));
    g_assert_true(b);
    g_assert_true(opts_get_bool(o, "wait", true, &b, NULL));
    g_assert_false(b);
    g_assert_false(opts_check_all_used(o, "-chardev", &err));
    g_assert_nonnull(strstr(err->message, "'backend'"));
    g_clear_error(&err);
    opts_free(o);
}

static void test_errors(void)
{
    GError *err = NULL;
    Opts *o;
    uint64_t v;
    bool b;

    g_assert_null(opts_parse("a,=b", "x", &err));
    g_clear_error(&err);
    o = opts_parse("x,n=12abc,b=maybe,unused=1", "d", NULL);
    g_assert_cmpstr(opts_get(o, "d"), ==, "x");
    g_assert_false(opts_get_u64(o, "n", 0, &v, &err));
    g_assert_nonnull(strstr(err->message, "n=12abc"));
    g_clear_error(&err);
    g_assert_false(opts_get_bool(o, "b", false, &b, &err));
    g_clear_error(&err);
    g_assert_false(opts_check_all_used(o, "dev", &err));
    g_assert_nonnull(strstr(err->message, "'unused'"));
    g_clear_error(&err);
    opts_free(o);
}

static void test_last_wins(void)
{
    Opts *o = opts_parse("d,a=1,a=2", "drv", NULL);

    g_assert_cmpstr(opts_get(o, "drv"), ==, "d");
    g_assert_cmpstr(opts_get(o, "a"), ==, "2");
    g_assert_true(opts_check_all_used(o, "d", NULL));
    opts_free(o);
}

static void test_sizes(void)
{
    uint64_t v;

    g_assert_true(parse_size("64", 1 << 20, &v));
    g_assert_cmpuint(v, ==, 64ull << 20);
    g_assert_true(parse_size("64M", 1, &v));
    g_assert_cmpuint(v, ==, 64ull << 20);
    g_assert_true(parse_size("1G", 1 << 20, &v));
    g_assert_cmpuint(v, ==, 1ull << 30);
    g_assert_true(parse_size("1.5g", 1 << 20, &v));
    g_assert_cmpuint(v, ==, 3ull << 29);
    g_assert_true(parse_size("512k", 1 << 20, &v));
    g_assert_cmpuint(v, ==, 512ull << 10);
    g_assert_true(parse_size("0", 1 << 20, &v));
    g_assert_cmpuint(v, ==, 0);
    g_assert_false(parse_size("", 1, &v));
    g_assert_false(parse_size("-1", 1, &v));
    g_assert_false(parse_size("12Q", 1, &v));
    g_assert_false(parse_size("12MB", 1, &v));
    g_assert_false(parse_size("99999999999T", 1, &v));
    g_assert_false(parse_size("0x10", 1, &v));
}

static void test_numbers_and_bools(void)
{
    uint64_t v;
    bool b;

    g_assert_true(parse_u64("0x10", &v));
    g_assert_cmpuint(v, ==, 16);
    g_assert_true(parse_u64("010", &v));
    g_assert_cmpuint(v, ==, 8);
    g_assert_false(parse_u64("-1", &v));
    g_assert_false(parse_u64("1 ", &v));
    g_assert_false(parse_u64("99999999999999999999999", &v));
    g_assert_true(parse_bool("on", &b) && b);
    g_assert_true(parse_bool("OFF", &b) && !b);
    g_assert_true(parse_bool("yes", &b) && b);
    g_assert_false(parse_bool("2", &b));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/opts/basic", test_basic);
    g_test_add_func("/opts/escape-and-flags", test_escape_and_flags);
    g_test_add_func("/opts/errors", test_errors);
    g_test_add_func("/opts/last-wins", test_last_wins);
    g_test_add_func("/opts/sizes", test_sizes);
    g_test_add_func("/opts/numbers-and-bools", test_numbers_and_bools);
    return g_test_run();
}
