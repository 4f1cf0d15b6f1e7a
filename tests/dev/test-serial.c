/*
 * 16550A UART driven through its ports alone, with a file chardev for
 * output and a unix socket chardev (server, wait=off) for both
 * directions.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "chardev/chardev.h"
#include "dev-machine.h"
#include "hw/char/serial.h"
#include "hw/iobus.h"

#define COM1 0x3f8
#define GSI 4

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2,
       LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static Machine *uart_machine(Chardev *chr)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(serial_create(m, 0, COM1, GSI, chr, &err));
    g_assert_no_error(err);
    return m;
}

static uint8_t in(Machine *m, unsigned reg)
{
    return iobus_read(m->pio, COM1 + reg, 1);
}

static void out(Machine *m, unsigned reg, uint8_t val)
{
    iobus_write(m->pio, COM1 + reg, val, 1);
}

static void test_reset_values(void)
{
    Machine *m = uart_machine(NULL);

    g_assert_cmphex(in(m, LSR), ==, 0x60);
    g_assert_cmphex(in(m, IIR), ==, 0x01);
    g_assert_cmphex(in(m, IER), ==, 0x00);
    g_assert_cmphex(in(m, LCR), ==, 0x00);
    g_assert_cmphex(in(m, MCR), ==, 0x00);
    g_assert_cmphex(in(m, MSR), ==, 0xb0);
    g_assert_cmphex(in(m, SCR), ==, 0x00);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    /* Output with no chardev is dropped without complaint. */
    out(m, THR, 'x');
    g_assert_cmphex(in(m, LSR), ==, 0x60);
    dev_machine_free(m);
}

static void test_divisor_latch(void)
{
    Machine *m = uart_machine(NULL);

    out(m, LCR, 0x83);
    out(m, DLL, 0x01);
    out(m, DLM, 0x02);
    g_assert_cmphex(in(m, DLL), ==, 0x01);
    g_assert_cmphex(in(m, DLM), ==, 0x02);
    out(m, LCR, 0x03);
    /* With DLAB clear the same ports are RBR and IER again. */
    g_assert_cmphex(in(m, IER), ==, 0x00);
    out(m, IER, 0x05);
    g_assert_cmphex(in(m, IER), ==, 0x05);
    g_assert_cmphex(in(m, LCR), ==, 0x03);
    out(m, LCR, 0x80);
    g_assert_cmphex(in(m, DLL), ==, 0x01);
    g_assert_cmphex(in(m, DLM), ==, 0x02);
    dev_machine_free(m);
}

static void test_scratch(void)
{
    Machine *m = uart_machine(NULL);

    for (unsigned v = 0; v < 256; v += 51) {
        out(m, SCR, v);
        g_assert_cmphex(in(m, SCR), ==, v);
    }
    dev_machine_free(m);
}

static void test_thre_interrupt(void)
{
    Machine *m = uart_machine(NULL);

    out(m, IER, 0x02);
    g_assert_cmphex(in(m, IIR) & 0x0f, ==, 0x02);   /* pending, and acked */
    g_assert_cmphex(in(m, IIR), ==, 0x01);
    /* Without OUT2 the interrupt never reaches the GSI. */
    out(m, THR, 'a');
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    out(m, MCR, 0x08);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    g_assert_cmphex(in(m, IIR), ==, 0x02);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    g_assert_cmphex(in(m, IIR), ==, 0x01);
    /* Each byte sent empties THR again and raises THRE. */
    out(m, THR, 'b');
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    /* Masking lowers the line; unmasking with THR empty raises it again. */
    out(m, IER, 0x00);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    out(m, IER, 0x02);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    /* Clearing OUT2 gates the line off. */
    out(m, MCR, 0x00);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    out(m, MCR, 0x08);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    dev_machine_free(m);
}

static void test_loopback(void)
{
    Machine *m = uart_machine(NULL);

    out(m, MCR, 0x10);
    out(m, THR, 'A');
    g_assert_cmphex(in(m, LSR), ==, 0x61);
    g_assert_cmphex(in(m, RBR), ==, 'A');
    g_assert_cmphex(in(m, LSR), ==, 0x60);

    /* FIFOs off: a second byte overruns the first. */
    out(m, THR, '1');
    out(m, THR, '2');
    g_assert_cmphex(in(m, LSR), ==, 0x63);
    g_assert_cmphex(in(m, LSR), ==, 0x61);          /* OE clears on read */
    g_assert_cmphex(in(m, RBR), ==, '2');

    /* FIFOs on: 16 bytes fit, the 17th is lost with OE. */
    out(m, FCR, 0x07);
    g_assert_cmphex(in(m, IIR), ==, 0xc1);
    for (unsigned i = 0; i < 17; i++) {
        out(m, THR, 'a' + i);
    }
    g_assert_cmphex(in(m, LSR), ==, 0x63);
    for (unsigned i = 0; i < 16; i++) {
        g_assert_cmphex(in(m, RBR), ==, 'a' + i);
    }
    g_assert_cmphex(in(m, LSR), ==, 0x60);

    /* Modem outputs loop to modem inputs, with delta bits. */
    out(m, MCR, 0x1f);
    /* All four lines rose (RI has no rising-edge delta): 0xF0 | 0x0B. */
    g_assert_cmphex(in(m, MSR), ==, 0xfb);
    g_assert_cmphex(in(m, MSR), ==, 0xf0);
    out(m, MCR, 0x10);
    g_assert_cmphex(in(m, MSR), ==, 0x0f);   /* RI fell: TERI; all deltas */
    g_assert_cmphex(in(m, MSR), ==, 0x00);
    out(m, MCR, 0x00);
    g_assert_cmphex(in(m, MSR), ==, 0xb0 | 0x01 | 0x02 | 0x08);
    dev_machine_free(m);
}

static void test_interrupt_priorities(void)
{
    Machine *m = uart_machine(NULL);

    out(m, MCR, 0x10);
    out(m, FCR, 0x41);           /* FIFOs on, trigger level 4 */
    out(m, IER, 0x0f);
    /* Loopback forces OUT2 inactive: nothing reaches the GSI. */
    out(m, MCR, 0x18);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    g_assert_cmphex(in(m, IIR), ==, 0xc2);           /* THRE first */
    g_assert_cmphex(in(m, IIR), ==, 0xc0);           /* then modem status */
    in(m, MSR);
    g_assert_cmphex(in(m, IIR), ==, 0xc1);
    for (unsigned i = 0; i < 3; i++) {
        out(m, THR, 'x');
    }
    g_assert_cmphex(in(m, IIR), ==, 0xcc);           /* below trigger: timeout */
    out(m, THR, 'x');
    g_assert_cmphex(in(m, IIR), ==, 0xc4);           /* trigger reached */
    for (unsigned i = 0; i < 13; i++) {
        out(m, THR, 'y');
    }
    g_assert_cmphex(in(m, IIR), ==, 0xc6);           /* overrun beats data */
    g_assert_cmphex(in(m, LSR), ==, 0x63);
    g_assert_cmphex(in(m, IIR), ==, 0xc4);
    for (unsigned i = 0; i < 13; i++) {
        in(m, RBR);
    }
    g_assert_cmphex(in(m, IIR), ==, 0xcc);
    out(m, FCR, 0x03);                                /* clear the RX FIFO */
    g_assert_cmphex(in(m, LSR), ==, 0x60);
    g_assert_cmphex(in(m, IIR), ==, 0xc2);           /* THRE from the writes */
    g_assert_cmphex(in(m, IIR), ==, 0xc1);
    out(m, FCR, 0x00);
    g_assert_cmphex(in(m, IIR), ==, 0x01);
    dev_machine_free(m);
}

static void test_vmstate(void)
{
    Machine *m = uart_machine(NULL);

    out(m, LCR, 0x80);
    out(m, DLL, 0x03);
    out(m, LCR, 0x1b);
    out(m, SCR, 0x5a);
    out(m, FCR, 0x81);
    out(m, MCR, 0x10);
    out(m, THR, 'p');
    out(m, THR, 'q');
    out(m, MCR, 0x0b);
    out(m, IER, 0x01);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);          /* RX timeout */
    g_assert_true(dev_vmstate_round_trip(m->devices_tail));
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    g_assert_cmphex(in(m, IIR), ==, 0xcc);
    g_assert_cmphex(in(m, RBR), ==, 'p');
    g_assert_cmphex(in(m, RBR), ==, 'q');
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    g_assert_cmphex(in(m, SCR), ==, 0x5a);
    out(m, LCR, 0x9b);
    g_assert_cmphex(in(m, DLL), ==, 0x03);
    dev_machine_free(m);
}

static void test_vmstate_hostile(void)
{
    Machine *m = uart_machine(NULL);
    Device *d = m->devices_tail;
    const VMStateDesc *vmsd = d->cls->vmsd;
    g_autoptr(GByteArray) rec = dev_vmstate_record(d);
    size_t pos = 4 + strlen(vmsd->name) + 4;

    for (const VMStateField *f = vmsd->fields; strcmp(f->name, "rx_count"); f++) {
        pos += f->size;
    }
    rec->data[pos] = 200;        /* more bytes than the FIFO holds */
    dev_vmstate_assert_refused(d, rec);
    g_assert_cmphex(in(m, LSR), ==, 0x60);
    dev_machine_free(m);
}

static void test_isa_serial_type(void)
{
    Machine *m = dev_machine_new();
    g_autoptr(GError) err = NULL;
    Opts *o;

    g_assert_true(serial_create(m, 0, COM1, GSI, NULL, &err));
    /* index defaults to the next UART: COM2 at 0x2f8, GSI 3. */
    o = opts_parse("", NULL, &err);
    g_assert_true(isa_serial_type.create(m, o, &err));
    g_assert_no_error(err);
    opts_free(o);
    iobus_write(m->pio, 0x2f8 + SCR, 0x42, 1);
    g_assert_cmphex(iobus_read(m->pio, 0x2f8 + SCR, 1), ==, 0x42);
    iobus_write(m->pio, 0x2f8 + IER, 0x02, 1);
    iobus_write(m->pio, 0x2f8 + MCR, 0x08, 1);
    g_assert_cmpint(dev_gsi[3].level, ==, 1);

    o = opts_parse("index=5", NULL, &err);   /* no standard port for COM6 */
    g_assert_false(isa_serial_type.create(m, o, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    opts_free(o);
    o = opts_parse("index=5,iobase=0x100,irq=24", NULL, &err);
    g_assert_false(isa_serial_type.create(m, o, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    opts_free(o);
    o = opts_parse("iobase=0x3f8", NULL, &err);  /* COM1's ports are taken */
    g_assert_false(isa_serial_type.create(m, o, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    opts_free(o);
    o = opts_parse("chardev=nosuch", NULL, &err);
    g_assert_false(isa_serial_type.create(m, o, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    opts_free(o);
    o = opts_parse("index=7,iobase=0x100,irq=9", NULL, &err);
    g_assert_true(isa_serial_type.create(m, o, &err));
    g_assert_no_error(err);
    opts_free(o);
    g_assert_cmphex(iobus_read(m->pio, 0x100 + LSR, 1), ==, 0x60);
    dev_machine_free(m);
}

/* File chardev ------------------------------------------------------------ */

typedef struct FileWait {
    const char *path;
    const char *expect;
} FileWait;

static bool file_has(void *opaque)
{
    FileWait *w = opaque;
    g_autofree char *data = NULL;

    return g_file_get_contents(w->path, &data, NULL, NULL) && !strcmp(data, w->expect);
}

static void test_file_output(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-serial-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "out.txt", NULL);
    g_autofree char *spec = g_strconcat("file:", path, NULL);
    g_autoptr(GError) err = NULL;
    Chardev *chr = chardev_new_from_spec("t-file", spec, &err);
    const char *msg = "hello, world\n";
    FileWait w = { path, msg };
    Machine *m;

    g_assert_no_error(err);
    g_assert_nonnull(chr);
    m = uart_machine(chr);
    for (const char *p = msg; *p; p++) {
        out(m, THR, *p);
        g_assert_cmphex(in(m, LSR) & 0x60, ==, 0x60);
    }
    /* Loopback bytes do not reach the line. */
    out(m, MCR, 0x10);
    out(m, THR, '!');
    dev_wait_until(NULL, file_has, &w);
    dev_machine_free(m);
    g_unlink(path);
    g_rmdir(dir);
}

/* Unix socket chardev ------------------------------------------------------ */

typedef struct SockTest {
    Machine *m;
    int fd;
    GString *received;   /* bytes the client read from the UART */
} SockTest;

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(fcntl(fd, F_SETFL, O_NONBLOCK), ==, 0);
    return fd;
}

static bool data_ready(void *opaque)
{
    SockTest *t = opaque;

    return in(t->m, LSR) & 0x01;
}

static bool rx_full(void *opaque)
{
    SockTest *t = opaque;

    return in(t->m, IIR) == 0xc4;   /* IIR reads clear nothing here */
}

static bool client_got(void *opaque)
{
    SockTest *t = opaque;
    char buf[64];
    ssize_t n = read(t->fd, buf, sizeof(buf));

    if (n > 0) {
        g_string_append_len(t->received, buf, n);
    } else {
        g_assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return t->received->len >= 5;
}

static void test_socket_bidirectional(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-serial-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", path);
    g_autoptr(GError) err = NULL;
    Chardev *chr = chardev_new_from_spec("t-sock", spec, &err);
    SockTest t = { .received = g_string_new(NULL) };
    char input[21];

    g_assert_no_error(err);
    g_assert_nonnull(chr);
    t.m = uart_machine(chr);
    t.fd = connect_unix(path);

    out(t.m, FCR, 0xc7);         /* FIFOs on, trigger level 14 */
    out(t.m, IER, 0x01);
    out(t.m, MCR, 0x0b);         /* DTR, RTS, OUT2 */

    /* 20 bytes arrive; the FIFO takes 16 and holds the rest back. */
    for (unsigned i = 0; i < 20; i++) {
        input[i] = 'A' + i;
    }
    g_assert_cmpint(write(t.fd, input, 20), ==, 20);
    dev_wait_until(NULL, rx_full, &t);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    /* Let the main loop run: input beyond the FIFO must wait, not overrun. */
    for (unsigned i = 0; i < 50; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmphex(in(t.m, LSR), ==, 0x61);
    for (unsigned i = 0; i < 16; i++) {
        g_assert_cmphex(in(t.m, RBR), ==, 'A' + i);
    }
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);
    dev_wait_until(NULL, data_ready, &t);    /* the remaining 4 come in */
    g_assert_cmpint(dev_gsi[GSI].level, ==, 1);
    for (unsigned i = 16; i < 20; i++) {
        dev_wait_until(NULL, data_ready, &t);
        g_assert_cmphex(in(t.m, RBR), ==, 'A' + i);
    }
    g_assert_cmphex(in(t.m, LSR), ==, 0x60);
    g_assert_cmpint(dev_gsi[GSI].level, ==, 0);

    /* Output reaches the peer. */
    for (const char *p = "ping!"; *p; p++) {
        out(t.m, THR, *p);
    }
    dev_wait_until(NULL, client_got, &t);
    g_assert_cmpstr(t.received->str, ==, "ping!");

    close(t.fd);
    dev_machine_free(t.m);
    g_string_free(t.received, TRUE);
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/serial/reset-values", test_reset_values);
    g_test_add_func("/serial/divisor-latch", test_divisor_latch);
    g_test_add_func("/serial/scratch", test_scratch);
    g_test_add_func("/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/serial/loopback", test_loopback);
    g_test_add_func("/serial/interrupt-priorities", test_interrupt_priorities);
    g_test_add_func("/serial/vmstate", test_vmstate);
    g_test_add_func("/serial/vmstate-hostile", test_vmstate_hostile);
    g_test_add_func("/serial/isa-serial-type", test_isa_serial_type);
    g_test_add_func("/serial/file-output", test_file_output);
    g_test_add_func("/serial/socket", test_socket_bidirectional);
    return g_test_run();
}
