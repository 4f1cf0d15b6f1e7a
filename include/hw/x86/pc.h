/* The pc machine board (hw/x86/pc.c). */
#ifndef HW_X86_PC_H
#define HW_X86_PC_H

#include <stdbool.h>
#include <glib.h>
#include "chardev/chardev.h"
#include "system/machine.h"

/*
 * Create the board's devices on @m, whose accelerator is initialised and
 * whose RAM is mapped: interrupt lines, COM1..COMn for @serials (NULL
 * entries are ports with no back end), the i8042 and the reset control
 * register. Returns false with @errp set on failure.
 */
bool pc_init(Machine *m, Chardev *const *serials, unsigned nserials, GError **errp);

#endif
