/*
 * virtio-rng on fake virtqueues (virtio-fake.h): buffers are filled with
 * random bytes up to their length and no further, hostile requests are
 * survived, and max-bytes/period hold requests back until the next period.
 */
#include <string.h>
#include <glib.h>
#include "hw/clock.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "hw/misc/virtio-rng.h"
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

/* -device virtio-rng-pci,@str as device_create_from_string() does it. */
static bool create(Machine *m, const char *str, GError **errp)
{
    Opts *o = opts_parse(str, NULL, errp);
    bool ok;

    g_assert_nonnull(o);
    ok = virtio_rng_pci_type.create(m, o, errp) &&
         opts_check_all_used(o, virtio_rng_pci_type.name, errp);
    opts_free(o);
    return ok;
}

static VirtioDevice *rng_new(Machine *m, const char *str)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(create(m, str, &err));
    g_assert_no_error(err);
    g_assert_nonnull(fake_last_vd);
    fake_driver_ok(fake_last_vd);
    return fake_last_vd;
}

static void notify(VirtioDevice *vd)
{
    vd->ops->queue_notify(vd, 0);
}

static bool all_equal(const uint8_t *p, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

static void test_fill(void)
{
    Machine *m = machine_new();
    VirtioDevice *vd = rng_new(m, "");
    VirtQueue *vq = virtio_queue(vd, 0);
    uint8_t a[80], b[80], s1[7], s2[9], one[2];
    struct iovec split[3] = { { s1, sizeof(s1) }, { NULL, 0 }, { s2, sizeof(s2) } };

    g_assert_cmpuint(vd->ops->device_id, ==, VIRTIO_ID_RNG);
    g_assert_cmpuint(vd->ops->num_queues, ==, 1);
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xaa, sizeof(b));
    memset(one, 0xaa, sizeof(one));
    fake_post_in(vq, 4, a, 64);
    fake_post_in(vq, 5, b, 64);
    fake_post(vq, 6, NULL, 0, split, 3);
    fake_post_in(vq, 7, one, 1);
    notify(vd);

    g_assert_cmpuint(fake_used_count(vq), ==, 4);
    g_assert_cmpuint(fake_used(vq, 0).head, ==, 4);
    g_assert_cmpuint(fake_used(vq, 0).written, ==, 64);
    g_assert_cmpuint(fake_used(vq, 1).written, ==, 64);
    g_assert_cmpuint(fake_used(vq, 2).written, ==, 16);
    g_assert_cmpuint(fake_used(vq, 3).written, ==, 1);
    g_assert_cmpuint(vq->notifies, >=, 1);
    /* Nothing past the buffers; the bytes are not constant or repeated. */
    g_assert_true(all_equal(a + 64, 16, 0xaa));
    g_assert_true(all_equal(b + 64, 16, 0xaa));
    g_assert_cmphex(one[1], ==, 0xaa);
    g_assert_false(all_equal(a, 64, a[0]));
    g_assert_false(all_equal(s2, sizeof(s2), s2[0]) && all_equal(s1, sizeof(s1), s2[0]));
    g_assert_true(memcmp(a, b, 64) != 0);
    machine_free(m);
}

static void test_hostile(void)
{
    Machine *m = machine_new();
    VirtioDevice *vd = rng_new(m, "");
    VirtQueue *vq = virtio_queue(vd, 0);
    uint8_t ro[4] = "abc", good[16];
    g_autofree struct iovec *iov = g_new(struct iovec, VIRTQ_MAX_SG);
    g_autofree uint8_t *big = g_malloc0(1u << 20);
    struct iovec ro_iov = { ro, sizeof(ro) };
    unsigned resets;

    fake_post_in(vq, 1, NULL, 0);                   /* zero length */
    fake_post(vq, 2, &ro_iov, 1, NULL, 0);          /* device-readable only */
    for (unsigned i = 0; i < VIRTQ_MAX_SG; i++) {
        iov[i].iov_base = big + i * 1024;
        iov[i].iov_len = (i & 1) ? 1024 : 0;
    }
    fake_post(vq, 3, &ro_iov, 1, iov, VIRTQ_MAX_SG); /* readable + 1024 writable */
    fake_post_in(vq, 4, big, 1u << 20);              /* 1 MiB */
    notify(vd);
    g_assert_cmpuint(fake_used_count(vq), ==, 4);
    g_assert_cmpuint(fake_used(vq, 0).written, ==, 0);
    g_assert_cmpuint(fake_used(vq, 1).written, ==, 0);
    g_assert_cmpstr((char *)ro, ==, "abc");
    g_assert_cmpuint(fake_used(vq, 2).written, ==, 512 * 1024);
    g_assert_cmpuint(fake_used(vq, 3).written, ==, 1u << 20);

    /* A broken chain: NEEDS_RESET, and nothing served until a reset. */
    resets = fake_needs_reset_count;
    vq->broken = true;
    notify(vd);
    g_assert_cmpuint(fake_needs_reset_count, ==, resets + 1);
    vq->broken = false;
    fake_post_in(vq, 5, good, sizeof(good));
    notify(vd);
    g_assert_cmpuint(fake_used_count(vq), ==, 4);
    fake_reset(vd);
    fake_driver_ok(vd);
    fake_post_in(vq, 6, good, sizeof(good));
    notify(vd);
    g_assert_cmpuint(fake_used_count(vq), ==, 1);
    g_assert_cmpuint(fake_used(vq, 0).written, ==, sizeof(good));
    machine_free(m);
}

typedef struct UsedWait {
    VirtQueue *vq;
    unsigned want;
} UsedWait;

static gboolean used_reached(void *opaque)
{
    UsedWait *w = opaque;

    timers_run_expired();
    return fake_used_count(w->vq) >= w->want;
}

/* Poll @cond (which runs due timers) until it holds; fail after 5 s. */
static void wait_for(gboolean (*cond)(void *opaque), void *opaque)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (!cond(opaque)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);   /* poll interval, not synchronisation */
    }
}

static void test_rate_limit(void)
{
    Machine *m = machine_new();
    VirtioDevice *vd = rng_new(m, "max-bytes=16,period=100");
    VirtQueue *vq = virtio_queue(vd, 0);
    uint8_t buf[3][10];
    UsedWait w = { vq, 3 };
    int64_t t0 = clock_ns();

    for (unsigned i = 0; i < 3; i++) {
        fake_post_in(vq, i, buf[i], sizeof(buf[i]));
    }
    notify(vd);
    /* 16 bytes this period: one full request and 6 bytes of the next. */
    g_assert_cmpuint(fake_used_count(vq), ==, 2);
    g_assert_cmpuint(fake_used(vq, 0).written, ==, 10);
    g_assert_cmpuint(fake_used(vq, 1).written, ==, 6);
    notify(vd);
    g_assert_cmpuint(fake_used_count(vq), ==, 2);
    /* The third is served by the timer in the next period. */
    wait_for(used_reached, &w);
    g_assert_cmpint(clock_ns() - t0, >=, 100 * 1000000 - 1000000);
    g_assert_cmpuint(fake_used(vq, 2).written, ==, 10);
    /* A reset cancels the wait; finalize frees the timer. */
    fake_post_in(vq, 9, buf[0], sizeof(buf[0]));
    fake_post_in(vq, 10, buf[1], sizeof(buf[1]));
    notify(vd);
    fake_reset(vd);
    machine_free(m);
}

static void test_options(void)
{
    Machine *m = machine_new();
    const char *bad[] = { "period=0", "max-bytes=0", "max-bytes=x", "rate=1" };

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(create(m, bad[i], &err));
        g_assert_nonnull(err);
    }
    machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-rng/fill", test_fill);
    g_test_add_func("/virtio-rng/hostile", test_hostile);
    g_test_add_func("/virtio-rng/rate-limit", test_rate_limit);
    g_test_add_func("/virtio-rng/options", test_options);
    return g_test_run();
}
