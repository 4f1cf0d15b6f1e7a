/*
 * Test-only stand-ins for the virtio transport and split ring
 * (include/hw/virtio/virtio.h), so device logic can be driven without a
 * PCI bus or guest RAM: the test posts requests (VirtqElem with host
 * buffers) on a fake queue, calls the device's queue_notify, and reads
 * back what the device pushed.
 *
 * Included by exactly one .c of a test program: it defines the header's
 * functions, and the linker then takes no transport objects from libhw.
 */
#ifndef TESTS_DEV_VIRTIO_FAKE_H
#define TESTS_DEV_VIRTIO_FAKE_H

#include <string.h>
#include <glib.h>
#include "hw/virtio/virtio.h"

#define FAKE_STATUS_NEEDS_RESET 64

typedef struct FakeUsed {
    uint16_t head;
    uint32_t written;
} FakeUsed;

struct VirtQueue {
    VirtioDevice *vd;
    GQueue avail;           /* VirtqElem * the driver posted */
    GArray *used;           /* FakeUsed, in push order */
    unsigned notifies;
    bool broken;            /* the next pop finds a broken chain */
};

static VirtioDevice *fake_last_vd;
static unsigned fake_needs_reset_count;

static void fake_finalize(Device *d)
{
    VirtioDevice *vd = (VirtioDevice *)d;

    if (vd->ops->finalize) {
        vd->ops->finalize(vd);
    }
    for (unsigned i = 0; i < vd->ops->num_queues; i++) {
        g_queue_clear_full(&vd->vqs[i].avail, g_free);
        g_array_free(vd->vqs[i].used, TRUE);
    }
    g_free(vd->vqs);
    if (fake_last_vd == vd) {
        fake_last_vd = NULL;
    }
}

static const DeviceClass fake_virtio_class = {
    .name = "fake-virtio",
    .finalize = fake_finalize,
};

bool virtio_pci_create(Machine *m, VirtioDevice *vd, Opts *o, const char *id,
                       GError **errp)
{
    (void)errp;
    if (o) {
        opts_get(o, "addr");
    }
    vd->host_features = vd->ops->features | VIRTIO_F_VERSION_1;
    vd->vqs = g_new0(VirtQueue, vd->ops->num_queues);
    for (unsigned i = 0; i < vd->ops->num_queues; i++) {
        vd->vqs[i].vd = vd;
        g_queue_init(&vd->vqs[i].avail);
        vd->vqs[i].used = g_array_new(FALSE, FALSE, sizeof(FakeUsed));
    }
    device_add(m, &vd->pci.dev, &fake_virtio_class, id);
    fake_last_vd = vd;
    return true;
}

VirtQueue *virtio_queue(VirtioDevice *vd, unsigned q)
{
    g_assert_cmpuint(q, <, vd->ops->num_queues);
    return &vd->vqs[q];
}

bool virtio_has_feature(const VirtioDevice *vd, uint64_t bit)
{
    return (vd->guest_features & bit) != 0;
}

void virtio_set_needs_reset(VirtioDevice *vd)
{
    vd->status |= FAKE_STATUS_NEEDS_RESET;
    fake_needs_reset_count++;
}

void virtio_config_changed(VirtioDevice *vd)
{
    vd->config_generation++;
}

int virtqueue_pop(VirtQueue *vq, VirtqElem *elem)
{
    VirtqElem *e;

    if (vq->broken) {
        virtio_set_needs_reset(vq->vd);
        return -1;
    }
    e = g_queue_pop_head(&vq->avail);
    if (!e) {
        return 0;
    }
    *elem = *e;
    g_free(e);
    return 1;
}

void virtqueue_push(VirtQueue *vq, const VirtqElem *elem, uint32_t written)
{
    FakeUsed u = { elem->head, written };

    /* A device claiming more than the driver gave is a device bug. */
    g_assert_cmpuint(written, <=, elem->in_len);
    g_array_append_val(vq->used, u);
}

void virtqueue_notify(VirtQueue *vq)
{
    vq->notifies++;
}

/* Test side ----------------------------------------------------------------- */

/* Post a request: @nout device-readable, then @nin device-writable buffers. */
static G_GNUC_UNUSED void fake_post(VirtQueue *vq, uint16_t head,
                                    const struct iovec *out, unsigned nout,
                                    const struct iovec *in, unsigned nin)
{
    VirtqElem *e = g_new0(VirtqElem, 1);

    g_assert_cmpuint(nout, <=, VIRTQ_MAX_SG);
    g_assert_cmpuint(nin, <=, VIRTQ_MAX_SG);
    e->head = head;
    e->out_num = nout;
    e->in_num = nin;
    for (unsigned i = 0; i < nout; i++) {
        e->out[i] = out[i];
        e->out_len += out[i].iov_len;
    }
    for (unsigned i = 0; i < nin; i++) {
        e->in[i] = in[i];
        e->in_len += in[i].iov_len;
    }
    g_queue_push_tail(&vq->avail, e);
}

static G_GNUC_UNUSED void fake_post_in(VirtQueue *vq, uint16_t head, void *buf, size_t len)
{
    struct iovec iov = { buf, len };

    fake_post(vq, head, NULL, 0, &iov, 1);
}

static G_GNUC_UNUSED void fake_post_out(VirtQueue *vq, uint16_t head, const void *buf,
                                        size_t len)
{
    struct iovec iov = { (void *)buf, len };

    fake_post(vq, head, &iov, 1, NULL, 0);
}

/* The driver finished negotiation: DRIVER_OK, as the transport reports it. */
static G_GNUC_UNUSED void fake_driver_ok(VirtioDevice *vd)
{
    vd->guest_features = vd->host_features;
    vd->status = 0x0f;
    if (vd->ops->status_changed) {
        vd->ops->status_changed(vd, true);
    }
}

/* The driver wrote 0 to device_status. */
static G_GNUC_UNUSED void fake_reset(VirtioDevice *vd)
{
    vd->status = 0;
    if (vd->ops->status_changed) {
        vd->ops->status_changed(vd, false);
    }
    for (unsigned i = 0; i < vd->ops->num_queues; i++) {
        g_queue_clear_full(&vd->vqs[i].avail, g_free);
        g_array_set_size(vd->vqs[i].used, 0);
        vd->vqs[i].broken = false;
    }
}

static G_GNUC_UNUSED unsigned fake_used_count(VirtQueue *vq)
{
    return vq->used->len;
}

static G_GNUC_UNUSED FakeUsed fake_used(VirtQueue *vq, unsigned i)
{
    g_assert_cmpuint(i, <, vq->used->len);
    return g_array_index(vq->used, FakeUsed, i);
}

#endif
