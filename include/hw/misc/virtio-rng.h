/*
 * virtio-rng (virtio device type 4): one request queue whose
 * device-writable buffers are filled from the host's getrandom().
 *
 *   -device virtio-rng-pci[,max-bytes=N][,period=MS][,id=ID][,addr=SLOT]
 *
 * As QEMU's: at most max-bytes bytes are handed out per period
 * milliseconds (default: unlimited, period 65536 ms); requests beyond the
 * quota wait in the queue for the next period. Buffers with nothing
 * device-writable are returned empty (and logged as a guest error).
 */
#ifndef HW_MISC_VIRTIO_RNG_H
#define HW_MISC_VIRTIO_RNG_H

#include "hw/device.h"

#define VIRTIO_ID_RNG 4

extern const DeviceType virtio_rng_pci_type;

#endif
