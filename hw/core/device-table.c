/* The -device table: every device a user can add by name. */
#include <stdio.h>
#include <string.h>
#include "hw/block/virtio-blk.h"
#include "hw/char/serial.h"
#include "hw/char/virtio-console.h"
#include "hw/device.h"
#include "hw/loader.h"
#include "hw/misc/debug-exit.h"
#include "hw/misc/pc-testdev.h"
#include "hw/misc/virtio-rng.h"
#include "hw/net/nic.h"

static const DeviceType *const device_types[] = {
    &isa_debug_exit_type,
    &isa_serial_type,
    &generic_loader_type,
    &pc_testdev_type,
    &e1000_type,
    &virtio_net_pci_type,
    &virtio_blk_pci_type,
    &virtio_serial_pci_type,
    &virtconsole_type,
    &virtio_rng_pci_type,
};

const DeviceType *device_type_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(device_types); i++) {
        if (!strcmp(device_types[i]->name, name)) {
            return device_types[i];
        }
    }
    return NULL;
}

void device_type_list(FILE *f)
{
    fprintf(f, "Devices (-device NAME,key=val,...):\n");
    for (size_t i = 0; i < G_N_ELEMENTS(device_types); i++) {
        fprintf(f, "  %-16s %s\n", device_types[i]->name, device_types[i]->help);
    }
}
