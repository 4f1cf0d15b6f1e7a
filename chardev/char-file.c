/*
 * file backend: output only, to path= (truncated, or appended to with
 * append=on). Writes go straight to the fd, so nothing waits in a buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "kemu/error.h"
#include "chardev-int.h"

typedef struct FileChardev {
    Chardev parent;
    int fd;
} FileChardev;

static bool file_open(Chardev *c, Opts *o, GError **errp)
{
    FileChardev *f = (FileChardev *)c;
    const char *path = opts_get(o, "path");
    bool append;

    f->fd = -1;
    if (!opts_get_bool(o, "append", false, &append, errp)) {
        return false;
    }
    if (!path || !*path) {
        error_setg(errp, "file needs path=");
        return false;
    }
    f->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
                 0666);
    if (f->fd < 0) {
        error_setg(errp, "cannot open '%s': %s", path, g_strerror(errno));
        return false;
    }
    chr_set_filename(c, "file:%s", path);
    chr_send_event(c, CHR_EVENT_OPENED);
    return true;
}

static int file_write(Chardev *c, const uint8_t *buf, int len)
{
    int n = chr_fd_write(((FileChardev *)c)->fd, false, buf, len, -1);

    if (n < len) {
        /* A full disk or an I/O error: say so once, keep the guest going. */
        chr_warn_write(c, n < 0 ? -n : ENOSPC);
    }
    return MAX(n, 0);
}

static void file_close(Chardev *c)
{
    FileChardev *f = (FileChardev *)c;

    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

const ChardevOps chr_file_ops = {
    .name = "file",
    .instance_size = sizeof(FileChardev),
    .keys = (const char *const[]){ "path", "append", NULL },
    .open = file_open,
    .write = file_write,
    .close = file_close,
};
