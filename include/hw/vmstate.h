/*
 * Device state descriptions for save/load. A device's guest-visible
 * registers live in one plain struct; a VMStateDesc lists its fields by
 * offset and size. Used by snapshots and migration (later) and by every
 * device's save -> reset -> load -> compare test.
 */
#ifndef HW_VMSTATE_H
#define HW_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef struct VMStateField {
    const char *name;
    size_t offset;        /* in the state struct */
    size_t size;          /* bytes; stored little-endian as laid out in memory */
} VMStateField;

typedef struct VMStateDesc {
    const char *name;
    int version;
    const VMStateField *fields;     /* terminated by a field with name NULL */
    /* Recompute derived state after a load; false rejects the state. */
    bool (*post_load)(void *state, GError **errp);
} VMStateDesc;

#define VMSTATE_FIELD(type, member) \
    { #member, offsetof(type, member), sizeof(((type *)0)->member) }
#define VMSTATE_END { NULL, 0, 0 }

/* Append the state to @out: name, version, then each field. */
void vmstate_save(const VMStateDesc *d, const void *state, GByteArray *out);

/*
 * Load a record written by vmstate_save() from @buf/@len into @state.
 * Returns false with @errp set (and @state untouched) on a name or version
 * mismatch, truncation, trailing bytes, or a post_load refusal.
 */
bool vmstate_load(const VMStateDesc *d, void *state, const uint8_t *buf,
                  size_t len, GError **errp);

#endif
