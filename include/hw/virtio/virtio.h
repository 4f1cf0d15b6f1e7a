/*
 * Virtio 1.x devices over the modern virtio-pci transport
 * (hw/virtio/virtio-pci.c) with split virtqueues (hw/virtio/virtqueue.c).
 *
 * A device (virtio-blk, -net, -console, -rng) fills a VirtioDeviceOps,
 * allocates its struct with VirtioDevice first, and calls
 * virtio_pci_create(). The transport handles feature negotiation, status,
 * queue setup, notifications, interrupts (MSI-X, else INTx + ISR) and the
 * device-config window; the device handles requests in queue_notify.
 *
 * Every descriptor chain is validated before a device sees it: addresses
 * inside guest RAM, lengths, loops, chain length <= queue size (indirect
 * tables included), device-readable before device-writable. A broken chain
 * makes virtqueue_pop() fail and the device NEEDS_RESET; the host never
 * touches memory outside guest RAM.
 *
 * Threads: queue_notify runs with the BQL held (on the vCPU thread that
 * wrote the notify register). Devices may complete requests later from the
 * main loop or a worker thread, but virtqueue_push/virtio_notify need the
 * BQL.
 */
#ifndef HW_VIRTIO_VIRTIO_H
#define HW_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>
#include "hw/pci/pci.h"

#define VIRTIO_F_VERSION_1 (1ull << 32)
#define VIRTIO_F_RING_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_RING_EVENT_IDX (1ull << 29)

#define VIRTQ_MAX_SIZE 1024         /* queue size the devices offer at most */
#define VIRTQ_MAX_SG 1024           /* segments per request (= max size) */

typedef struct VirtioDevice VirtioDevice;
typedef struct VirtQueue VirtQueue;

/* One request: the chain's buffers mapped to host memory in guest RAM. */
typedef struct VirtqElem {
    uint16_t head;                  /* descriptor index to return */
    unsigned out_num, in_num;       /* device-readable, then device-writable */
    struct iovec out[VIRTQ_MAX_SG];
    struct iovec in[VIRTQ_MAX_SG];
    uint64_t in_gpa[VIRTQ_MAX_SG];  /* guest addresses of in[] (DMA notes) */
    size_t out_len, in_len;         /* total bytes */
} VirtqElem;

typedef struct VirtioDeviceOps {
    const char *name;               /* "virtio-blk" */
    uint16_t device_id;             /* virtio device type: 1 net, 2 blk, 3 console, 4 rng */
    uint16_t pci_class;             /* e.g. 0x0100 storage, 0x0200 network */
    uint64_t features;              /* device features offered (VERSION_1 etc. added) */
    unsigned num_queues;
    uint16_t queue_size;            /* max size offered for every queue */
    size_t config_size;             /* bytes of device config space */
    /* Fill @cfg (config_size bytes) with the current device config. */
    void (*get_config)(VirtioDevice *vd, uint8_t *cfg);
    /* The driver wrote @len bytes at @off of the config. Optional. */
    void (*set_config)(VirtioDevice *vd, unsigned off, const uint8_t *data, unsigned len);
    /* The driver notified queue @q. */
    void (*queue_notify)(VirtioDevice *vd, unsigned q);
    /* The driver set DRIVER_OK (@ok) or reset the device (!@ok). Optional. */
    void (*status_changed)(VirtioDevice *vd, bool ok);
    /* Release the device's own resources at teardown. Optional. */
    void (*finalize)(VirtioDevice *vd);
} VirtioDeviceOps;

struct VirtioDevice {
    PciDevice pci;                  /* first: the transport's PCI function */
    const VirtioDeviceOps *ops;
    uint64_t host_features;
    uint64_t guest_features;
    uint8_t status;
    uint16_t config_generation;
    uint8_t isr;
    VirtQueue *vqs;                 /* ops->num_queues of them */
};

/*
 * Create the PCI function for @vd (allocated by the caller with g_malloc0,
 * VirtioDevice first, vd->ops set) on @m, at -device's addr= from @o (may be
 * NULL), with id @id. Returns false with @errp set on failure (then @vd is
 * not registered and the caller frees it).
 */
bool virtio_pci_create(Machine *m, VirtioDevice *vd, Opts *o, const char *id,
                       GError **errp);

VirtQueue *virtio_queue(VirtioDevice *vd, unsigned q);
bool virtio_has_feature(const VirtioDevice *vd, uint64_t bit);

/*
 * Take the next available request of @vq into @elem. Returns 1 when one was
 * taken, 0 when the queue is empty, -1 when the driver gave a broken chain
 * (the device is then marked NEEDS_RESET and the driver told).
 */
int virtqueue_pop(VirtQueue *vq, VirtqElem *elem);
/* Return @elem to the driver with @written bytes stored in its in[] buffers. */
void virtqueue_push(VirtQueue *vq, const VirtqElem *elem, uint32_t written);
/* Interrupt the driver for @vq if it wants one (event index / flags). */
void virtqueue_notify(VirtQueue *vq);
/* Tell the driver the device config changed (config interrupt). */
void virtio_config_changed(VirtioDevice *vd);
/* Mark the device broken: DEVICE_NEEDS_RESET + config interrupt. */
void virtio_set_needs_reset(VirtioDevice *vd);

/* Copy helpers over an element's iovecs (bounds-checked). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                    size_t len);

#endif
