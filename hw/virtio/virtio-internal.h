/*
 * Between the virtio-pci transport (virtio-pci.c) and the split-ring code
 * (virtqueue.c): the queue state the transport programs from the common
 * configuration structure. Devices use include/hw/virtio/virtio.h only.
 */
#ifndef HW_VIRTIO_VIRTIO_INTERNAL_H
#define HW_VIRTIO_VIRTIO_INTERNAL_H

#include "hw/virtio/virtio.h"

/* Device status bits (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_NO_VECTOR 0xffff

/* ISR status bits */
#define VIRTIO_ISR_QUEUE 1
#define VIRTIO_ISR_CONFIG 2

struct VirtQueue {
    VirtioDevice *vd;
    unsigned index;
    uint16_t max_size;      /* what the device offers */
    uint16_t size;          /* what the driver chose (queue_size) */
    bool enabled;           /* queue_enable written 1 */
    uint16_t msix_vector;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;    /* next avail ring slot the device consumes */
    uint16_t used_idx;      /* the device's copy of used->idx */
    uint16_t signalled_used;        /* used_idx at the last interrupt */
    bool signalled_used_valid;      /* false: the next notify interrupts */
};

/* Put @vq in its reset state (disabled, max size, no vector, no rings). */
void virtqueue_reset(VirtQueue *vq);

/*
 * Raise the interrupt for queue interrupts (@config false, vector of @vq)
 * or configuration changes (@config true): MSI-X when enabled, else ISR
 * bit + INTx. Implemented by the transport.
 */
void virtio_pci_interrupt(VirtioDevice *vd, VirtQueue *vq, bool config);

#endif
