/*
 * virtio-console (virtio-serial-pci + virtconsole) on fake virtqueues
 * (virtio-fake.h): transmit buffers reach a file chardev, input from a
 * unix socket chardev lands in posted receive buffers and waits while
 * none are posted, hostile chains, the config space and the options.
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
#include "hw/char/virtio-console.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "virtio-fake.h"

static Machine *machine_new(void)
{
    Machine *m = g_new0(Machine, 1);

    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    return m;
}

static void machine_free(Machine *m)
{
    devices_free(m);
    iobus_free(m->pio);
    iobus_free(m->mmio);
    g_free(m);
}

/* -device @str of @type, as device_create_from_string() does it. */
static bool create(Machine *m, const DeviceType *type, const char *str, GError **errp)
{
    Opts *o = opts_parse(str, NULL, errp);
    bool ok;

    g_assert_nonnull(o);
    ok = type->create(m, o, errp) && opts_check_all_used(o, type->name, errp);
    opts_free(o);
    return ok;
}

/* A virtio-serial-pci with a virtconsole on chardev @chr_id (or none). */
static VirtioDevice *console_new(Machine *m, const char *chr_id)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *port = chr_id ? g_strdup_printf("chardev=%s", chr_id) : g_strdup("");
    VirtioDevice *vd;

    g_assert_true(create(m, &virtio_serial_pci_type, "", &err));
    g_assert_no_error(err);
    vd = fake_last_vd;
    g_assert_nonnull(vd);
    g_assert_true(create(m, &virtconsole_type, port, &err));
    g_assert_no_error(err);
    return vd;
}

static Chardev *file_chardev(const char *id, const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = g_strdup_printf("file,id=%s,path=%s", id, path);
    Opts *o = opts_parse(spec, "backend", &err);
    Chardev *c;

    g_assert_no_error(err);
    c = chardev_new_from_opts(o, &err);
    g_assert_no_error(err);
    g_assert_nonnull(c);
    opts_free(o);
    return c;
}

/* Run the main loop until @cond(@opaque) holds; fail after 5 seconds. */
static void wait_for(gboolean (*cond)(void *opaque), void *opaque)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (!cond(opaque)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        if (!cond(opaque)) {
            g_usleep(1000);   /* poll interval, not synchronisation */
        }
    }
}

static void notify(VirtioDevice *vd, unsigned q)
{
    vd->ops->queue_notify(vd, q);
}

/* Transmit ----------------------------------------------------------------- */

typedef struct FileWait {
    const char *path;
    size_t len;
} FileWait;

static gboolean file_len_is(void *opaque)
{
    FileWait *w = opaque;
    GStatBuf st;

    return g_stat(w->path, &st) == 0 && (size_t)st.st_size == w->len;
}

static void test_tx_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-vcon-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "out.txt", NULL);
    g_autofree char *data = NULL;
    Machine *m = machine_new();
    VirtioDevice *vd;
    VirtQueue *tx;
    char inbuf[8];
    struct iovec two[2] = { { "vir", 3 }, { "tio\n", 4 } };
    struct iovec mixed_out = { "!", 1 }, mixed_in = { inbuf, sizeof(inbuf) };
    FileWait w = { path, 14 };

    file_chardev("vc-tx", path);
    vd = console_new(m, "vc-tx");
    g_assert_cmpuint(vd->ops->device_id, ==, VIRTIO_ID_CONSOLE);
    g_assert_cmpuint(vd->ops->num_queues, ==, 2);
    fake_driver_ok(vd);
    tx = virtio_queue(vd, VIRTIO_CONSOLE_TXQ);

    fake_post_out(tx, 3, "hello ", 6);
    fake_post(tx, 7, two, 2, NULL, 0);
    /* Device-writable parts of a transmit request are left alone. */
    fake_post(tx, 9, &mixed_out, 1, &mixed_in, 1);
    notify(vd, VIRTIO_CONSOLE_TXQ);
    g_assert_cmpuint(fake_used_count(tx), ==, 3);
    g_assert_cmpuint(fake_used(tx, 0).head, ==, 3);
    g_assert_cmpuint(fake_used(tx, 1).head, ==, 7);
    g_assert_cmpuint(fake_used(tx, 2).head, ==, 9);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpuint(fake_used(tx, i).written, ==, 0);
    }
    g_assert_cmpuint(tx->notifies, >=, 1);

    wait_for(file_len_is, &w);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "hello virtio\n!");

    /* Emergency write: one byte through the config space. */
    g_assert_true(vd->host_features & VIRTIO_CONSOLE_F_EMERG_WRITE);
    vd->ops->set_config(vd, VIRTIO_CONSOLE_CFG_EMERG_WR, (const uint8_t *)"E\0\0\0", 4);
    w.len = 15;
    wait_for(file_len_is, &w);

    machine_free(m);
    g_unlink(path);
    g_rmdir(dir);
}

/* A request of 1024 segments, some empty, and a 4 MiB one. */
static void test_tx_huge(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-vcon-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "out.bin", NULL);
    g_autofree struct iovec *iov = g_new(struct iovec, VIRTQ_MAX_SG);
    g_autofree uint8_t *big = g_malloc(4u << 20);
    Machine *m = machine_new();
    VirtioDevice *vd;
    VirtQueue *tx;
    FileWait w = { path, 0 };

    memset(big, 'x', 4u << 20);
    file_chardev("vc-huge", path);
    vd = console_new(m, "vc-huge");
    fake_driver_ok(vd);
    tx = virtio_queue(vd, VIRTIO_CONSOLE_TXQ);
    for (unsigned i = 0; i < VIRTQ_MAX_SG; i++) {
        iov[i].iov_base = big;
        iov[i].iov_len = (i % 3) ? 100 : 0;
        w.len += iov[i].iov_len;
    }
    fake_post(tx, 0, iov, VIRTQ_MAX_SG, NULL, 0);
    fake_post_out(tx, 1, big, 4u << 20);
    w.len += 4u << 20;
    notify(vd, VIRTIO_CONSOLE_TXQ);
    g_assert_cmpuint(fake_used_count(tx), ==, 2);
    wait_for(file_len_is, &w);
    machine_free(m);
    g_unlink(path);
    g_rmdir(dir);
}

/* Receive from a unix socket ----------------------------------------------- */

typedef struct RxTest {
    Machine *m;
    VirtioDevice *vd;
    VirtQueue *rx;
    unsigned want;
    int fd;
} RxTest;

static gboolean rx_used(void *opaque)
{
    RxTest *t = opaque;

    return fake_used_count(t->rx) >= t->want;
}

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

/* Let the main loop run a while: held-back input must stay held back. */
static void spin_main_loop(void)
{
    for (unsigned i = 0; i < 50; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
}

static void rx_setup(RxTest *t, const char *id, char **dir, char **path)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = NULL;
    Opts *o;

    *dir = g_dir_make_tmp("kemu-vcon-XXXXXX", NULL);
    *path = g_build_filename(*dir, "s.sock", NULL);
    spec = g_strdup_printf("socket,id=%s,path=%s,server=on,wait=off", id, *path);
    o = opts_parse(spec, "backend", &err);
    g_assert_no_error(err);
    g_assert_nonnull(chardev_new_from_opts(o, &err));
    g_assert_no_error(err);
    opts_free(o);
    t->m = machine_new();
    t->vd = console_new(t->m, id);
    t->rx = virtio_queue(t->vd, VIRTIO_CONSOLE_RXQ);
    t->fd = connect_unix(*path);
}

static void rx_teardown(RxTest *t, char *dir, char *path)
{
    close(t->fd);
    machine_free(t->m);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

static void test_rx_socket(void)
{
    RxTest t = { 0 };
    char *dir, *path;
    char small[4], big[16] = { 0 }, early[8] = { 0 };

    rx_setup(&t, "vc-rx", &dir, &path);

    /* Before DRIVER_OK nothing is taken, even with a buffer posted. */
    fake_post_in(t.rx, 1, early, sizeof(early));
    g_assert_cmpint(write(t.fd, "abcdef", 6), ==, 6);
    spin_main_loop();
    g_assert_cmpuint(fake_used_count(t.rx), ==, 0);

    fake_driver_ok(t.vd);
    t.want = 1;
    wait_for(rx_used, &t);
    g_assert_cmpuint(fake_used(t.rx, 0).head, ==, 1);
    g_assert_cmpuint(fake_used(t.rx, 0).written, ==, 6);
    g_assert_cmpmem(early, 6, "abcdef", 6);

    /* No buffers posted: input waits in the chardev. */
    g_assert_cmpint(write(t.fd, "ghijkl", 6), ==, 6);
    spin_main_loop();
    g_assert_cmpuint(fake_used_count(t.rx), ==, 1);

    /* A 4-byte buffer takes 4, the rest waits for the next one. */
    fake_post_in(t.rx, 2, small, sizeof(small));
    notify(t.vd, VIRTIO_CONSOLE_RXQ);
    t.want = 2;
    wait_for(rx_used, &t);
    g_assert_cmpuint(fake_used(t.rx, 1).head, ==, 2);
    g_assert_cmpuint(fake_used(t.rx, 1).written, ==, 4);
    g_assert_cmpmem(small, 4, "ghij", 4);
    spin_main_loop();
    g_assert_cmpuint(fake_used_count(t.rx), ==, 2);

    fake_post_in(t.rx, 3, big, sizeof(big));
    notify(t.vd, VIRTIO_CONSOLE_RXQ);
    t.want = 3;
    wait_for(rx_used, &t);
    g_assert_cmpuint(fake_used(t.rx, 2).written, ==, 2);
    g_assert_cmpmem(big, 2, "kl", 2);
    g_assert_cmpuint(t.rx->notifies, >=, 3);

    rx_teardown(&t, dir, path);
}

static void test_rx_hostile(void)
{
    RxTest t = { 0 };
    char *dir, *path;
    char ro[4] = "ro!", seg_a[2] = { 0 }, seg_b[8] = { 0 };
    struct iovec ro_iov = { ro, sizeof(ro) };
    struct iovec two[2] = { { seg_a, sizeof(seg_a) }, { seg_b, sizeof(seg_b) } };
    char good[8] = { 0 };
    unsigned resets;

    rx_setup(&t, "vc-rx-bad", &dir, &path);
    fake_driver_ok(t.vd);

    /* Empty and read-only buffers are returned unused; a split one is filled. */
    fake_post_in(t.rx, 10, NULL, 0);
    fake_post(t.rx, 11, &ro_iov, 1, NULL, 0);
    fake_post(t.rx, 12, NULL, 0, two, 2);
    g_assert_cmpint(write(t.fd, "12345", 5), ==, 5);
    t.want = 3;
    wait_for(rx_used, &t);
    g_assert_cmpuint(fake_used(t.rx, 0).written, ==, 0);
    g_assert_cmpuint(fake_used(t.rx, 1).written, ==, 0);
    g_assert_cmpuint(fake_used(t.rx, 2).head, ==, 12);
    g_assert_cmpuint(fake_used(t.rx, 2).written, ==, 5);
    g_assert_cmpmem(seg_a, 2, "12", 2);
    g_assert_cmpmem(seg_b, 3, "345", 3);
    g_assert_cmpstr(ro, ==, "ro!");

    /* A broken chain: the device stops taking input until a reset. */
    resets = fake_needs_reset_count;
    t.rx->broken = true;
    g_assert_cmpint(write(t.fd, "XY", 2), ==, 2);
    spin_main_loop();
    g_assert_cmpuint(fake_needs_reset_count, ==, resets + 1);
    t.rx->broken = false;
    fake_post_in(t.rx, 13, good, sizeof(good));
    notify(t.vd, VIRTIO_CONSOLE_RXQ);
    spin_main_loop();
    g_assert_cmpuint(fake_used_count(t.rx), ==, 3);

    /* After a reset and a new DRIVER_OK the held input arrives. */
    fake_reset(t.vd);
    fake_post_in(t.rx, 14, good, sizeof(good));
    fake_driver_ok(t.vd);
    t.want = 1;
    wait_for(rx_used, &t);
    g_assert_cmpuint(fake_used(t.rx, 0).head, ==, 14);
    g_assert_cmpuint(fake_used(t.rx, 0).written, ==, 2);
    g_assert_cmpmem(good, 2, "XY", 2);

    rx_teardown(&t, dir, path);
}

/* Config and options -------------------------------------------------------- */

static void test_config(void)
{
    Machine *m = machine_new();
    VirtioDevice *vd = console_new(m, NULL);
    uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE];
    VirtQueue *tx = virtio_queue(vd, VIRTIO_CONSOLE_TXQ);

    g_assert_cmpuint(vd->ops->config_size, ==, VIRTIO_CONSOLE_CONFIG_SIZE);
    g_assert_true(vd->host_features & VIRTIO_CONSOLE_F_SIZE);
    g_assert_false(vd->host_features & VIRTIO_CONSOLE_F_MULTIPORT);
    vd->ops->get_config(vd, cfg);
    g_assert_cmpuint(cfg[0] | cfg[1] << 8, ==, 80);
    g_assert_cmpuint(cfg[2] | cfg[3] << 8, ==, 24);
    /* Writes elsewhere in the config are ignored; no chardev is fine. */
    vd->ops->set_config(vd, 0, (const uint8_t *)"\1\2", 2);
    vd->ops->set_config(vd, VIRTIO_CONSOLE_CFG_EMERG_WR, (const uint8_t *)"E", 1);
    /* DRIVER_OK announces the size (Linux resizes hvc0 on that interrupt). */
    g_assert_cmpuint(vd->config_generation, ==, 0);
    fake_driver_ok(vd);
    g_assert_cmpuint(vd->config_generation, ==, 1);
    /* Without a chardev output is consumed and dropped. */
    fake_post_out(tx, 5, "lost", 4);
    notify(vd, VIRTIO_CONSOLE_TXQ);
    g_assert_cmpuint(fake_used_count(tx), ==, 1);
    machine_free(m);
}

static void expect_error(Machine *m, const DeviceType *type, const char *str,
                         const char *needle)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(create(m, type, str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, needle)) {
        g_error("'%s': error '%s' lacks '%s'", str, err->message, needle);
    }
}

static void test_options(void)
{
    Machine *m = machine_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-vcon-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "o.txt", NULL);

    expect_error(m, &virtconsole_type, "", "no virtio-serial bus");
    g_assert_true(create(m, &virtio_serial_pci_type, "id=vs0", &err));
    g_assert_no_error(err);
    g_assert_true(create(m, &virtio_serial_pci_type, "", &err));
    g_assert_no_error(err);
    expect_error(m, &virtio_serial_pci_type, "max_ports=4", "max_ports");
    expect_error(m, &virtconsole_type, "bus=nope.0", "nope.0");
    expect_error(m, &virtconsole_type, "nr=1", "port 0");
    expect_error(m, &virtconsole_type, "name=org.x", "multiport");
    expect_error(m, &virtconsole_type, "chardev=missing", "missing");

    file_chardev("vc-opt", path);
    g_assert_true(create(m, &virtconsole_type, "bus=vs0.0,chardev=vc-opt,id=con0", &err));
    g_assert_no_error(err);
    expect_error(m, &virtconsole_type, "bus=vs0.0", "already");
    /* The second, unnamed bus is QEMU's virtio-serialN.0. */
    g_assert_true(create(m, &virtconsole_type, "bus=virtio-serial1.0,nr=0", &err));
    g_assert_no_error(err);
    machine_free(m);
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-console/tx-file", test_tx_file);
    g_test_add_func("/virtio-console/tx-huge", test_tx_huge);
    g_test_add_func("/virtio-console/rx-socket", test_rx_socket);
    g_test_add_func("/virtio-console/rx-hostile", test_rx_hostile);
    g_test_add_func("/virtio-console/config", test_config);
    g_test_add_func("/virtio-console/options", test_options);
    ret = g_test_run();
    chardev_cleanup_all();
    return ret;
}
