/*
 * virtio-console (virtio device type 3) behind QEMU's two-device spelling:
 *
 *   -device virtio-serial-pci[,id=ID][,addr=SLOT]
 *   -device virtconsole[,chardev=CHR][,bus=ID.0][,nr=0][,id=X]
 *
 * virtio-serial-pci is the PCI function with one port (port 0, the
 * console: Linux's hvc0); MULTIPORT is not offered, so there are exactly
 * two queues, receiveq0 and transmitq0. virtconsole connects a chardev to
 * port 0 of the named virtio-serial-pci (bus=), or of the most recently
 * created one. Without a virtconsole the console's output is dropped.
 *
 * Transmit buffers go to chardev_write(); input from the chardev fills
 * the receive buffers the driver posted, and is held back in the chardev
 * while none are posted (resumed when the driver notifies receiveq0).
 * The emergency-write config register (VIRTIO_CONSOLE_F_EMERG_WRITE)
 * writes one byte to the chardev.
 */
#ifndef HW_CHAR_VIRTIO_CONSOLE_H
#define HW_CHAR_VIRTIO_CONSOLE_H

#include "hw/device.h"

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_CONSOLE_F_SIZE (1ull << 0)
#define VIRTIO_CONSOLE_F_MULTIPORT (1ull << 1)
#define VIRTIO_CONSOLE_F_EMERG_WRITE (1ull << 2)

/* Queue numbers (single-port layout). */
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

/* Config space: le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr. */
#define VIRTIO_CONSOLE_CONFIG_SIZE 12
#define VIRTIO_CONSOLE_CFG_EMERG_WR 8

/* -device virtio-serial-pci and -device virtconsole. */
extern const DeviceType virtio_serial_pci_type;
extern const DeviceType virtconsole_type;

#endif
