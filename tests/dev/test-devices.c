/*
 * Legacy PC devices driven through the I/O buses alone: isa-debug-exit,
 * the i8042 keyboard controller, the reset control register and
 * pc-testdev. Every device also goes through save -> reset -> load ->
 * compare.
 */
#include <glib.h>
#include "dev-machine.h"
#include "hw/input/i8042.h"
#include "hw/iobus.h"
#include "hw/misc/debug-exit.h"
#include "hw/misc/pc-testdev.h"
#include "hw/x86/reset-control.h"
#include "system/runstate.h"

static void take_reset_request(void)
{
    ShutdownCause cause;

    g_assert_true(runstate_take_reset(&cause));
    g_assert_cmpint(cause, ==, SHUTDOWN_CAUSE_GUEST_RESET);
}

/* isa-debug-exit ------------------------------------------------------- */

static void test_debug_exit_options(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse("iosize=3", NULL, &err);

    g_assert_nonnull(o);
    g_assert_false(isa_debug_exit_type.create(m, o, &err));
    g_assert_nonnull(err);
    opts_free(o);
    g_clear_error(&err);

    o = opts_parse("iobase=0xf4,iosize=4", NULL, &err);
    g_assert_true(isa_debug_exit_type.create(m, o, &err));
    g_assert_no_error(err);
    opts_free(o);
    g_assert_cmpuint(iobus_read(m->pio, 0xf4, 4), ==, 0);
    g_assert_cmpuint(iobus_read(m->pio, 0xf8, 1), ==, 0xff);   /* not mapped */
    g_assert_false(dev_vmstate_round_trip(m->devices_tail));

    o = opts_parse("iobase=0xf6,bogus=1", NULL, &err);
    g_assert_false(isa_debug_exit_type.create(m, o, &err));
    g_assert_nonnull(err);
    opts_free(o);
    dev_machine_free(m);
}

/* -device strings resolve through the device table to our constructors. */
static void test_device_strings(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(device_create_from_string(m, "isa-debug-exit,iobase=0xf0,iosize=1,id=dbg",
                                            &err));
    g_assert_no_error(err);
    g_assert_nonnull(device_find(m, "dbg"));
    g_assert_true(device_create_from_string(m, "pc-testdev", &err));
    g_assert_no_error(err);
    iobus_write(m->pio, PC_TESTDEV_IOPORT, 0xa5, 1);
    g_assert_cmphex(iobus_read(m->pio, PC_TESTDEV_IOPORT, 1), ==, 0xa5);
    g_assert_false(device_create_from_string(m, "pc-testdev,id=again", &err));
    g_assert_nonnull(err);   /* its ranges are taken */
    dev_machine_free(m);
}

/* The only test that asks for a shutdown: the first request wins. */
static void test_debug_exit_write(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(debug_exit_create(m, DEBUG_EXIT_DEFAULT_IOBASE,
                                    DEBUG_EXIT_DEFAULT_IOSIZE, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(iobus_read(m->pio, 0x501, 1), ==, 0);
    g_assert_cmpuint(iobus_read(m->pio, 0x501, 2), ==, 0);
    g_assert_false(runstate_shutdown_requested());
    iobus_write(m->pio, 0x501, 0x10, 1);
    g_assert_true(runstate_shutdown_requested());
    g_assert_cmpint(runstate_exit_status(), ==, 0x21);
    dev_machine_free(m);
}

/* i8042 ----------------------------------------------------------------- */

#define STAT_OBF      0x01
#define STAT_SYS      0x04
#define STAT_AUX_OBF  0x20
#define STAT_TIMEOUT  0x40

static Machine *i8042_machine(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(i8042_create(m, &err));
    g_assert_no_error(err);
    return m;
}

static uint8_t kbc_status(Machine *m)
{
    return iobus_read(m->pio, I8042_CMD_PORT, 1);
}

static void kbc_command(Machine *m, uint8_t cmd)
{
    iobus_write(m->pio, I8042_CMD_PORT, cmd, 1);
}

static void kbc_data_write(Machine *m, uint8_t val)
{
    iobus_write(m->pio, I8042_DATA_PORT, val, 1);
}

/* Read one byte that must be waiting in the output buffer. */
static uint8_t kbc_read(Machine *m)
{
    g_assert_cmpint(kbc_status(m) & STAT_OBF, ==, STAT_OBF);
    return iobus_read(m->pio, I8042_DATA_PORT, 1);
}

static void assert_kbc_empty(Machine *m)
{
    g_assert_cmpint(kbc_status(m) & STAT_OBF, ==, 0);
}

static void test_i8042_controller(void)
{
    Machine *m = i8042_machine();

    assert_kbc_empty(m);
    kbc_command(m, 0xaa);
    g_assert_cmphex(kbc_read(m), ==, 0x55);
    assert_kbc_empty(m);
    kbc_command(m, 0xab);
    g_assert_cmphex(kbc_read(m), ==, 0x00);
    kbc_command(m, 0xa9);
    g_assert_cmphex(kbc_read(m), ==, 0x00);

    /* Command byte round trip; SYS shows in the status register. */
    kbc_command(m, 0x20);
    g_assert_cmphex(kbc_read(m), ==, 0x03);
    kbc_command(m, 0x60);
    kbc_data_write(m, 0x45);
    kbc_command(m, 0x20);
    g_assert_cmphex(kbc_read(m), ==, 0x45);
    g_assert_cmpint(kbc_status(m) & STAT_SYS, ==, STAT_SYS);

    /* Disable/enable bits land in the command byte. */
    kbc_command(m, 0xad);
    kbc_command(m, 0xa7);
    kbc_command(m, 0x20);
    g_assert_cmphex(kbc_read(m), ==, 0x75);
    kbc_command(m, 0xae);
    kbc_command(m, 0xa8);
    kbc_command(m, 0x20);
    g_assert_cmphex(kbc_read(m), ==, 0x45);

    /* Output port: A20 is stored, reset line high means no reset. */
    kbc_command(m, 0xd0);
    g_assert_cmphex(kbc_read(m), ==, 0xcf);
    kbc_command(m, 0xd1);
    kbc_data_write(m, 0xcd);
    kbc_command(m, 0xd0);
    g_assert_cmphex(kbc_read(m), ==, 0xcd);
    g_assert_false(runstate_reset_pending());
    dev_machine_free(m);
}

static void test_i8042_reset_request(void)
{
    Machine *m = i8042_machine();

    g_assert_false(runstate_reset_pending());
    kbc_command(m, 0xfe);
    g_assert_true(runstate_reset_pending());
    take_reset_request();

    kbc_command(m, 0xff);            /* pulses nothing */
    g_assert_false(runstate_reset_pending());

    kbc_command(m, 0xd1);            /* output port with the reset line low */
    kbc_data_write(m, 0xce);
    g_assert_true(runstate_reset_pending());
    take_reset_request();
    dev_machine_free(m);
}

static void test_i8042_keyboard(void)
{
    Machine *m = i8042_machine();

    kbc_data_write(m, 0xff);
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 1);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 1);   /* the next byte */
    g_assert_cmphex(kbc_read(m), ==, 0xaa);
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 0);
    assert_kbc_empty(m);

    kbc_data_write(m, 0xf2);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    g_assert_cmphex(kbc_read(m), ==, 0xab);
    g_assert_cmphex(kbc_read(m), ==, 0x83);

    /* With translation on, the identity reads as a translated one. */
    kbc_command(m, 0x60);
    kbc_data_write(m, 0x43);
    kbc_data_write(m, 0xf2);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    g_assert_cmphex(kbc_read(m), ==, 0xab);
    g_assert_cmphex(kbc_read(m), ==, 0x41);

    for (unsigned i = 0; i < 2; i++) {
        static const uint8_t cmds[] = { 0xf4, 0xf5 };

        kbc_data_write(m, cmds[i]);
        g_assert_cmphex(kbc_read(m), ==, 0xfa);
    }
    kbc_data_write(m, 0xed);         /* LEDs take a parameter */
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    kbc_data_write(m, 0x07);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    kbc_data_write(m, 0xf3);         /* so does the typematic rate */
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    kbc_data_write(m, 0x20);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    kbc_data_write(m, 0x12);         /* not a command */
    g_assert_cmphex(kbc_read(m), ==, 0xfe);
    assert_kbc_empty(m);

    /* No interrupt with command byte bit 0 clear, but the data is there. */
    kbc_command(m, 0x60);
    kbc_data_write(m, 0x00);
    kbc_data_write(m, 0xee);
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 0);
    g_assert_cmphex(kbc_read(m), ==, 0xee);

    /* A disabled keyboard port holds its bytes until enabled. */
    kbc_command(m, 0xad);
    kbc_data_write(m, 0xf4);
    assert_kbc_empty(m);
    kbc_command(m, 0xae);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    dev_machine_free(m);
}

static void test_i8042_aux(void)
{
    Machine *m = i8042_machine();

    kbc_command(m, 0xd3);            /* aux loopback */
    kbc_data_write(m, 0x5a);
    g_assert_cmpint(kbc_status(m) & STAT_AUX_OBF, ==, STAT_AUX_OBF);
    g_assert_cmpint(dev_gsi[I8042_AUX_GSI].level, ==, 1);
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 0);
    g_assert_cmphex(kbc_read(m), ==, 0x5a);
    g_assert_cmpint(dev_gsi[I8042_AUX_GSI].level, ==, 0);

    kbc_command(m, 0xd4);            /* to the (absent) mouse */
    kbc_data_write(m, 0xf2);
    g_assert_cmpint(kbc_status(m) & (STAT_AUX_OBF | STAT_TIMEOUT), ==,
                    STAT_AUX_OBF | STAT_TIMEOUT);
    g_assert_cmphex(kbc_read(m), ==, 0xfe);
    dev_machine_free(m);
}

static void test_i8042_vmstate(void)
{
    Machine *m = i8042_machine();

    kbc_command(m, 0x60);
    kbc_data_write(m, 0x47);
    kbc_data_write(m, 0xf2);         /* three bytes queued */
    kbc_data_write(m, 0xed);         /* and a keyboard command pending */
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmpint(dev_gsi[I8042_KBD_GSI].level, ==, 1);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    g_assert_cmphex(kbc_read(m), ==, 0xab);
    g_assert_cmphex(kbc_read(m), ==, 0x41);
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    kbc_data_write(m, 0x02);         /* the LED parameter */
    g_assert_cmphex(kbc_read(m), ==, 0xfa);
    assert_kbc_empty(m);
    dev_machine_free(m);
}

/* Reset control ---------------------------------------------------------- */

static void test_reset_control(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(reset_control_create(m, &err));
    g_assert_no_error(err);
    g_assert_false(reset_control_create(m, &err));   /* port taken */
    g_assert_nonnull(err);

    g_assert_cmphex(iobus_read(m->pio, RESET_CONTROL_PORT, 1), ==, 0);
    iobus_write(m->pio, RESET_CONTROL_PORT, 0x02, 1);
    g_assert_cmphex(iobus_read(m->pio, RESET_CONTROL_PORT, 1), ==, 0x02);
    g_assert_false(runstate_reset_pending());
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmphex(iobus_read(m->pio, RESET_CONTROL_PORT, 1), ==, 0x02);

    iobus_write(m->pio, RESET_CONTROL_PORT, 0x06, 1);   /* hard reset */
    g_assert_true(runstate_reset_pending());
    take_reset_request();
    g_assert_cmphex(iobus_read(m->pio, RESET_CONTROL_PORT, 1), ==, 0x02);
    iobus_write(m->pio, RESET_CONTROL_PORT, 0x04, 1);   /* soft reset */
    g_assert_true(runstate_reset_pending());
    take_reset_request();
    dev_machine_free(m);
}

/* pc-testdev ------------------------------------------------------------- */

static Machine *testdev_machine(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(pc_testdev_create(m, &err));
    g_assert_no_error(err);
    return m;
}

static void test_testdev_ioport(void)
{
    Machine *m = testdev_machine();
    IoBus *pio = m->pio;

    g_assert_cmphex(iobus_read(pio, 0xe0, 4), ==, 0);
    iobus_write(pio, 0xe0, 0x12345678, 4);
    g_assert_cmphex(iobus_read(pio, 0xe0, 4), ==, 0x12345678);
    g_assert_cmphex(iobus_read(pio, 0xe0, 2), ==, 0x5678);
    g_assert_cmphex(iobus_read(pio, 0xe2, 2), ==, 0x1234);
    for (unsigned i = 0; i < 4; i++) {
        g_assert_cmphex(iobus_read(pio, 0xe0 + i, 1), ==, (0x12345678 >> (8 * i)) & 0xff);
    }
    iobus_write(pio, 0xe3, 0xab, 1);
    iobus_write(pio, 0xe0, 0xcd, 1);
    g_assert_cmphex(iobus_read(pio, 0xe0, 4), ==, 0xab3456cd);
    iobus_write(pio, 0xe2, 0xbeef, 2);
    g_assert_cmphex(iobus_read(pio, 0xe0, 4), ==, 0xbeef56cd);
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmphex(iobus_read(pio, 0xe0, 4), ==, 0xbeef56cd);
    dev_machine_free(m);
}

static void test_testdev_iomem(void)
{
    Machine *m = testdev_machine();
    IoBus *mmio = m->mmio;
    const uint64_t base = PC_TESTDEV_IOMEM;
    static const unsigned sizes[] = { 1, 2, 4, 8 };

    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        unsigned size = sizes[i];
        uint64_t mask = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
        uint64_t val = 0x0123456789abcdefull & mask;
        uint64_t offs[] = { 0, 0x100 + size, PC_TESTDEV_IOMEM_LEN - size };

        for (unsigned j = 0; j < G_N_ELEMENTS(offs); j++) {
            iobus_write(mmio, base + offs[j], val, size);
            g_assert_cmphex(iobus_read(mmio, base + offs[j], size), ==, val);
        }
    }
    /* Bytes land little-endian. */
    iobus_write(mmio, base + 0x200, 0x1122334455667788ull, 8);
    g_assert_cmphex(iobus_read(mmio, base + 0x200, 1), ==, 0x88);
    g_assert_cmphex(iobus_read(mmio, base + 0x206, 2), ==, 0x1122);
    g_assert_cmphex(iobus_read(mmio, base + 0x204, 4), ==, 0x11223344);
    iobus_write(mmio, base + 0x203, 0xee, 1);
    g_assert_cmphex(iobus_read(mmio, base + 0x200, 8), ==, 0x11223344ee667788ull);
    /* Outside the window nothing answers. */
    g_assert_cmphex(iobus_read(mmio, base + PC_TESTDEV_IOMEM_LEN, 4), ==, 0xffffffff);
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmphex(iobus_read(mmio, base + 0x200, 8), ==, 0x11223344ee667788ull);
    dev_machine_free(m);
}

static void test_testdev_irq(void)
{
    Machine *m = testdev_machine();
    IoBus *pio = m->pio;

    for (unsigned n = 0; n < MACHINE_NR_GSI; n++) {
        iobus_write(pio, PC_TESTDEV_IRQ_PORT + n, 1, 1);
        g_assert_cmpint(dev_gsi[n].level, ==, 1);
        g_assert_cmpuint(iobus_read(pio, PC_TESTDEV_IRQ_PORT + n, 1), ==, 0);
        iobus_write(pio, PC_TESTDEV_IRQ_PORT + n, 0, 1);
        g_assert_cmpint(dev_gsi[n].level, ==, 0);
    }
    iobus_write(pio, PC_TESTDEV_IRQ_PORT + 10, 0x80, 1);   /* any nonzero */
    g_assert_cmpint(dev_gsi[10].level, ==, 1);
    g_assert_cmpuint(iobus_read(pio, PC_TESTDEV_IRQ_PORT + MACHINE_NR_GSI, 1), ==, 0xff);

    /* Reset lowers the line this device raised; a load raises it again. */
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmpint(dev_gsi[10].level, ==, 1);
    m->devices_tail->cls->reset(m->devices_tail);
    g_assert_cmpint(dev_gsi[10].level, ==, 0);
    dev_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/devices/debug-exit/options", test_debug_exit_options);
    g_test_add_func("/devices/debug-exit/write", test_debug_exit_write);
    g_test_add_func("/devices/device-strings", test_device_strings);
    g_test_add_func("/devices/i8042/controller", test_i8042_controller);
    g_test_add_func("/devices/i8042/reset-request", test_i8042_reset_request);
    g_test_add_func("/devices/i8042/keyboard", test_i8042_keyboard);
    g_test_add_func("/devices/i8042/aux", test_i8042_aux);
    g_test_add_func("/devices/i8042/vmstate", test_i8042_vmstate);
    g_test_add_func("/devices/reset-control", test_reset_control);
    g_test_add_func("/devices/pc-testdev/ioport", test_testdev_ioport);
    g_test_add_func("/devices/pc-testdev/iomem", test_testdev_iomem);
    g_test_add_func("/devices/pc-testdev/irq", test_testdev_irq);
    return g_test_run();
}
