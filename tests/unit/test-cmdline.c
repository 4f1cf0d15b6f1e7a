/* Command-line parsing: QEMU spellings accepted, bad input refused. */
#include <glib.h>
#include <stdarg.h>
#include <string.h>
#include "system/cmdline.h"

static bool parse(KemuOptions *o, CmdlineAction *act, GError **err, ...)
{
    char *argv[32] = { "kemu" };
    int argc = 1;
    va_list ap;

    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) && argc < 31;) {
        argv[argc++] = a;
    }
    va_end(ap);
    memset(o, 0, sizeof(*o));
    return cmdline_parse(argc, argv, o, act, err);
}

static void test_acceptance_line(void)
{
    KemuOptions o;
    CmdlineAction act;

    g_assert_true(parse(&o, &act, NULL, "-accel", "kvm", "-m", "64", "-kernel", "g.elf",
                        "-append", "a b", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-serial", "stdio", "-display", "none", NULL));
    g_assert_cmpint(act, ==, CMDLINE_RUN);
    g_assert_cmpstr(o.accel, ==, "kvm");
    g_assert_cmpuint(o.mc.ram_size, ==, 64 << 20);
    g_assert_cmpstr(o.mc.kernel, ==, "g.elf");
    g_assert_cmpstr(o.mc.append, ==, "a b");
    g_assert_cmpuint(o.devices->len, ==, 1);
    g_assert_cmpuint(o.serials->len, ==, 1);
    g_assert_true(o.display_none);
    cmdline_free(&o);
}

static void test_spellings(void)
{
    KemuOptions o;
    CmdlineAction act;

    g_assert_true(parse(&o, &act, NULL, "--enable-kvm", "-smp", "cpus=2", "-m", "size=1G",
                        "-M", "pc,accel=tcg", "-nographic", "-no-reboot", NULL));
    g_assert_cmpstr(o.accel, ==, "tcg");
    g_assert_cmpuint(o.mc.smp, ==, 2);
    g_assert_cmpuint(o.mc.ram_size, ==, 1ull << 30);
    g_assert_true(o.nographic);
    g_assert_true(o.mc.no_reboot);
    cmdline_free(&o);
    g_assert_true(parse(&o, &act, NULL, "-smp", "3", NULL));
    g_assert_cmpuint(o.mc.smp, ==, 3);
    g_assert_cmpuint(o.mc.ram_size, ==, 128 << 20);   /* QEMU's default */
    cmdline_free(&o);
}

static void expect_error(const char *needle, ...)
{
    char *argv[16] = { "kemu" };
    int argc = 1;
    va_list ap;
    KemuOptions o = { 0 };
    CmdlineAction act;
    GError *err = NULL;

    va_start(ap, needle);
    for (char *a; (a = va_arg(ap, char *)) && argc < 15;) {
        argv[argc++] = a;
    }
    va_end(ap);
    g_assert_false(cmdline_parse(argc, argv, &o, &act, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, needle)) {
        g_error("error '%s' does not mention '%s'", err->message, needle);
    }
    g_assert_null(strchr(err->message, '\n'));      /* one line */
    g_error_free(err);
    cmdline_free(&o);
}

static void test_errors(void)
{
    expect_error("-bogus", "-bogus", NULL);
    expect_error("requires an argument", "-m", NULL);
    expect_error("at least 1 MiB", "-m", "0", NULL);
    expect_error("-m 12Q", "-m", "12Q", NULL);
    expect_error("at least 1", "-smp", "0", NULL);
    expect_error("at most", "-smp", "1000", NULL);
    expect_error("unknown accelerator", "-accel", "hvf", NULL);
    expect_error("machine type", "-M", "q35", NULL);
    expect_error("sdl", "-display", "sdl", NULL);
    expect_error("unexpected argument", "disk.img", NULL);
    expect_error("-initrd requires -kernel", "-initrd", "x", NULL);
    expect_error("unknown log item", "-d", "bogus", NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cmdline/acceptance-line", test_acceptance_line);
    g_test_add_func("/cmdline/spellings", test_spellings);
    g_test_add_func("/cmdline/errors", test_errors);
    return g_test_run();
}
