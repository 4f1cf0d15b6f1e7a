/* null backend: output vanishes, no input ever comes. */
#include "chardev-int.h"

typedef struct NullChardev {
    Chardev parent;
} NullChardev;

static bool null_open(Chardev *c, Opts *o G_GNUC_UNUSED, GError **errp G_GNUC_UNUSED)
{
    chr_set_filename(c, "null");
    chr_send_event(c, CHR_EVENT_OPENED);
    return true;
}

static int null_write(Chardev *c G_GNUC_UNUSED, const uint8_t *buf G_GNUC_UNUSED,
                      int len)
{
    return len;   /* consumed, not dropped */
}

const ChardevOps chr_null_ops = {
    .name = "null",
    .instance_size = sizeof(NullChardev),
    .open = null_open,
    .write = null_write,
};
