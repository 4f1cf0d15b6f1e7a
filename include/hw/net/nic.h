/* NIC models for -device (hw/net/). */
#ifndef HW_NET_NIC_H
#define HW_NET_NIC_H

#include "hw/device.h"

extern const DeviceType e1000_type;          /* hw/net/e1000.c */
extern const DeviceType virtio_net_pci_type; /* hw/net/virtio-net.c */

#endif
