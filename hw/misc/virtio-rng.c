/*
 * virtio-rng (include/hw/misc/virtio-rng.h), virtio 1.x spec section 5.4.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include "hw/clock.h"
#include "hw/misc/virtio-rng.h"
#include "hw/virtio/virtio.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define RNG_QUEUE_SIZE 64
#define RNG_DEFAULT_PERIOD_MS 65536

typedef struct VirtioRng {
    VirtioDevice vd;
    uint64_t max_bytes;     /* per period; UINT64_MAX: unlimited */
    int64_t period_ns;
    uint64_t quota;         /* bytes left in the current period */
    int64_t period_end;     /* virtual time the quota refills */
    Timer *timer;           /* wakes waiting requests at @period_end */
    bool driver_ok;
    bool broken;            /* a chain was refused: NEEDS_RESET until reset */
    VirtqElem *elem;
} VirtioRng;

/* Fill @len bytes at @buf from getrandom(); false on a host failure. */
static bool fill_random(uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            log_err("virtio-rng: getrandom: %s", n < 0 ? strerror(errno) : "no data");
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

/* Fill up to @max bytes of @e's writable buffers; returns bytes filled. */
static size_t fill_elem(const VirtqElem *e, size_t max)
{
    size_t done = 0;

    for (unsigned i = 0; i < e->in_num && done < max; i++) {
        size_t n = MIN(e->in[i].iov_len, max - done);
        if (!fill_random(e->in[i].iov_base, n)) {
            break;
        }
        done += n;
    }
    return done;
}

static bool rate_limited(const VirtioRng *r)
{
    return r->max_bytes != UINT64_MAX;
}

/* Serve requests while the quota lasts; the rest wait for the timer. */
static void rng_process(VirtioRng *r)
{
    VirtQueue *vq = virtio_queue(&r->vd, 0);
    bool pushed = false;

    while (r->driver_ok && !r->broken) {
        if (rate_limited(r)) {
            int64_t now = clock_ns();
            if (now >= r->period_end) {
                r->quota = r->max_bytes;
                r->period_end = now + r->period_ns;
            }
            if (r->quota == 0) {
                /* Requests stay in the queue until the next period. */
                timer_mod(r->timer, r->period_end);
                break;
            }
        }
        int ret = virtqueue_pop(vq, r->elem);
        if (ret < 0) {
            r->broken = true;
            break;
        }
        if (ret == 0) {
            break;
        }
        if (r->elem->in_len == 0) {
            log_guest_error("virtio-rng: request without writable bytes");
        }
        size_t n = fill_elem(r->elem, rate_limited(r) ? r->quota : SIZE_MAX);
        if (rate_limited(r)) {
            r->quota -= n;
        }
        virtqueue_push(vq, r->elem, n);
        pushed = true;
    }
    if (pushed) {
        virtqueue_notify(vq);
    }
}

static void rng_timer_cb(void *opaque)
{
    rng_process(opaque);
}

static void rng_queue_notify(VirtioDevice *vd, unsigned q)
{
    (void)q;                        /* the transport checks q < num_queues */
    rng_process((VirtioRng *)vd);
}

static void rng_status_changed(VirtioDevice *vd, bool ok)
{
    VirtioRng *r = (VirtioRng *)vd;

    r->driver_ok = ok;
    if (!ok) {
        r->broken = false;
        timer_del(r->timer);
    }
}

static void rng_finalize(VirtioDevice *vd)
{
    VirtioRng *r = (VirtioRng *)vd;

    timer_free(r->timer);
    g_free(r->elem);
}

static const VirtioDeviceOps rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .pci_class = 0x00ff,            /* unclassified, as QEMU's */
    .num_queues = 1,
    .queue_size = RNG_QUEUE_SIZE,
    .queue_notify = rng_queue_notify,
    .status_changed = rng_status_changed,
    .finalize = rng_finalize,
};

static bool virtio_rng_create(Machine *m, Opts *o, GError **errp)
{
    uint64_t max_bytes, period_ms;
    VirtioRng *r;

    if (!opts_get_u64(o, "max-bytes", UINT64_MAX, &max_bytes, errp) ||
        !opts_get_u64(o, "period", RNG_DEFAULT_PERIOD_MS, &period_ms, errp)) {
        return false;
    }
    if (period_ms == 0 || period_ms > INT64_MAX / 1000000) {
        error_setg(errp, "period=%" PRIu64 " out of range (1 ms and up)", period_ms);
        return false;
    }
    if (max_bytes == 0) {
        error_setg(errp, "max-bytes must be at least 1");
        return false;
    }
    r = g_malloc0(sizeof(*r));
    r->vd.ops = &rng_ops;
    r->max_bytes = max_bytes;
    r->period_ns = period_ms * 1000000;
    r->elem = g_new(VirtqElem, 1);
    r->timer = timer_new(rng_timer_cb, r);
    if (!virtio_pci_create(m, &r->vd, o, opts_get(o, "id"), errp)) {
        timer_free(r->timer);
        g_free(r->elem);
        g_free(r);
        return false;
    }
    return true;
}

const DeviceType virtio_rng_pci_type = {
    .name = "virtio-rng-pci",
    .help = "entropy source from the host's getrandom(), max-bytes=N,period=MS",
    .create = virtio_rng_create,
};
