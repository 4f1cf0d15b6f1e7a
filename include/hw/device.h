/*
 * Devices. Every device embeds a Device and registers it with the machine
 * so that machine reset reaches it. -device NAME,key=val,... resolves
 * through one const table of DeviceType (hw/core/device-table.c).
 */
#ifndef HW_DEVICE_H
#define HW_DEVICE_H

#include <stdbool.h>
#include <stdio.h>
#include <glib.h>
#include "hw/vmstate.h"
#include "system/opts.h"

typedef struct Device Device;
typedef struct Machine Machine;

typedef struct DeviceClass {
    const char *name;
    /* Put guest-visible state back to power-on values (BQL held). */
    void (*reset)(Device *d);
    /* Guest-visible state; NULL means this device blocks snapshots. */
    const VMStateDesc *vmsd;
    /* Offset of the state struct described by vmsd within the device. */
    size_t vmstate_offset;
    /*
     * Release what the device holds besides its own struct (timers, back
     * ends, bus ranges) before devices_free() frees it. Optional.
     */
    void (*finalize)(Device *d);
} DeviceClass;

struct Device {
    const DeviceClass *cls;
    Machine *m;            /* the machine it belongs to */
    char *id;              /* -device ...,id=X, or NULL */
    Device *next;          /* machine's list, in creation order */
};

/*
 * Add @d to @m's device list (reset order = creation order). @d must be
 * the first member of a device struct allocated with g_new/g_new0:
 * devices_free() g_free()s it.
 */
void device_add(Machine *m, Device *d, const DeviceClass *cls, const char *id);
/* Finalize and free every device of @m (machine teardown, tests). */
void devices_free(Machine *m);
void devices_reset(Machine *m);
Device *device_find(Machine *m, const char *id);

typedef struct DeviceType {
    const char *name;
    const char *help;
    /*
     * Create the device on @m from its options (the driver name already
     * consumed). Every option must be consumed or refused. Returns false
     * with @errp set on bad options or a resource clash.
     */
    bool (*create)(Machine *m, Opts *o, GError **errp);
} DeviceType;

const DeviceType *device_type_find(const char *name);
void device_type_list(FILE *f);

/* -device STRING: parse, look up, create. */
bool device_create_from_string(Machine *m, const char *str, GError **errp);

#endif
