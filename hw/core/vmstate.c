/*
 * Device state save/load (include/hw/vmstate.h).
 *
 * Record format, all integers little-endian:
 *   u32 name length, the name bytes (no terminator),
 *   u32 version,
 *   each field's bytes in table order (field sizes come from the table,
 *   so both sides must agree on it: the version says they do).
 * A record is loaded only if its length is exactly what the table asks
 * for; the state is written only after every check has passed.
 */
#include <string.h>
#include "hw/vmstate.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

static void put_u32(GByteArray *out, uint32_t v)
{
    uint8_t b[4];

    st32_le(b, v);
    g_byte_array_append(out, b, sizeof(b));
}

/* Bytes of field data in a record, and the extent of the state they cover. */
static void fields_measure(const VMStateDesc *d, size_t *data_len, size_t *extent)
{
    size_t len = 0, end = 0;

    for (const VMStateField *f = d->fields; f && f->name; f++) {
        len += f->size;
        end = MAX(end, f->offset + f->size);
    }
    *data_len = len;
    *extent = end;
}

void vmstate_save(const VMStateDesc *d, const void *state, GByteArray *out)
{
    const uint8_t *s = state;
    size_t name_len = strlen(d->name);

    put_u32(out, name_len);
    g_byte_array_append(out, (const guint8 *)d->name, name_len);
    put_u32(out, d->version);
    for (const VMStateField *f = d->fields; f && f->name; f++) {
        /* Hosts are little-endian x86-64, so memory order is the wire order. */
        g_byte_array_append(out, s + f->offset, f->size);
    }
}

bool vmstate_load(const VMStateDesc *d, void *state, const uint8_t *buf,
                  size_t len, GError **errp)
{
    size_t name_len = strlen(d->name);
    size_t data_len, extent, pos;
    uint32_t rec_name_len, version;
    uint8_t *s = state;
    g_autofree uint8_t *backup = NULL;

    if (len < 4) {
        error_setg(errp, "%s: state record truncated", d->name);
        return false;
    }
    rec_name_len = ld32_le(buf);
    if (rec_name_len != name_len || len - 4 < name_len ||
        memcmp(buf + 4, d->name, name_len) != 0) {
        error_setg(errp, "%s: state record is for another device", d->name);
        return false;
    }
    pos = 4 + name_len;
    if (len - pos < 4) {
        error_setg(errp, "%s: state record truncated", d->name);
        return false;
    }
    version = ld32_le(buf + pos);
    pos += 4;
    if (version != (uint32_t)d->version) {
        error_setg(errp, "%s: state version %u, expected %d", d->name, version,
                   d->version);
        return false;
    }
    fields_measure(d, &data_len, &extent);
    if (len - pos < data_len) {
        error_setg(errp, "%s: state record truncated (%zu of %zu data bytes)",
                   d->name, len - pos, data_len);
        return false;
    }
    if (len - pos > data_len) {
        error_setg(errp, "%s: %zu trailing bytes after the state record",
                   d->name, len - pos - data_len);
        return false;
    }

    /* Keep the old state so that a post_load refusal leaves it untouched. */
    backup = g_malloc(extent + 1);
    memcpy(backup, s, extent);
    for (const VMStateField *f = d->fields; f && f->name; f++) {
        memcpy(s + f->offset, buf + pos, f->size);
        pos += f->size;
    }
    if (d->post_load && !d->post_load(state, errp)) {
        memcpy(s, backup, extent);
        return false;
    }
    return true;
}
