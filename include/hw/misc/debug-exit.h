/*
 * isa-debug-exit: a port that ends the process. The guest writes a value
 * v (any access size) and kemu exits with status (v << 1) | 1, as QEMU's
 * device of the same name does; reads return 0.
 */
#ifndef HW_MISC_DEBUG_EXIT_H
#define HW_MISC_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/device.h"
#include "system/machine.h"

#define DEBUG_EXIT_DEFAULT_IOBASE 0x501
#define DEBUG_EXIT_DEFAULT_IOSIZE 2

/*
 * Map the device at ports [@iobase, @iobase + @iosize). Returns false with
 * @errp set if @iosize is not 1, 2 or 4 or the ports are taken.
 */
bool debug_exit_create(Machine *m, uint16_t iobase, unsigned iosize, GError **errp);

/* -device isa-debug-exit[,iobase=0x501][,iosize=2][,id=X] */
extern const DeviceType isa_debug_exit_type;

#endif
