/*
 * -drive and -blockdev (include/block/block.h): QEMU's spellings for raw
 * images, mapped onto blk_open().
 */
#include <string.h>
#include "block-internal.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "system/opts.h"

static bool parse_cache(const char *s, BlockCacheMode *out, GError **errp)
{
    static const struct { const char *name; BlockCacheMode mode; } modes[] = {
        { "writeback", BLK_CACHE_WRITEBACK },
        { "none", BLK_CACHE_NONE },
        { "writethrough", BLK_CACHE_WRITETHROUGH },
        { "unsafe", BLK_CACHE_UNSAFE },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (!strcmp(s, modes[i].name)) {
            *out = modes[i].mode;
            return true;
        }
    }
    error_setg(errp, "cache=%s: unsupported (writeback, none, writethrough, unsafe)", s);
    return false;
}

/* aio=threads|io_uring (QEMU's spellings); native (Linux AIO) is refused. */
static bool parse_aio(const char *s, BlockAioMode *out, GError **errp)
{
    if (!s || !strcmp(s, "threads")) {
        *out = BLK_AIO_THREADS;
        return true;
    }
    if (!strcmp(s, "io_uring")) {
        if (!blk_aio_available(BLK_AIO_IO_URING)) {
            error_setg(errp, "aio=io_uring: this kemu was built without liburing");
            return false;
        }
        *out = BLK_AIO_IO_URING;
        return true;
    }
    if (!strcmp(s, "native")) {
        error_setg(errp, "aio=native (Linux AIO) is not supported; use aio=io_uring "
                   "(with cache=none for O_DIRECT) or aio=threads");
        return false;
    }
    error_setg(errp, "aio=%s: unsupported (threads or io_uring)", s);
    return false;
}

static bool check_format(const char *fmt, GError **errp)
{
    if (fmt && strcmp(fmt, "raw")) {
        error_setg(errp, "format=%s: only raw images are supported", fmt);
        return false;
    }
    return true;
}

static bool drive_cfg(Opts *o, BlockOpenCfg *cfg, GError **errp)
{
    static unsigned drive_index;
    const char *iface = opts_get(o, "if");
    const char *cache = opts_get(o, "cache");
    const char *media = opts_get(o, "media");
    const char *fmt = opts_get(o, "format");

    cfg->filename = opts_get(o, "file");
    cfg->id = opts_get(o, "id");
    /* QEMU takes both spellings. */
    if (!opts_get_bool(o, "readonly", false, &cfg->readonly, errp) ||
        !opts_get_bool(o, "read-only", cfg->readonly, &cfg->readonly, errp) ||
        !check_format(fmt, errp) ||
        (cache && !parse_cache(cache, &cfg->cache, errp)) ||
        !parse_aio(opts_get(o, "aio"), &cfg->aio, errp) ||
        !opts_check_all_used(o, "-drive", errp)) {
        return false;
    }
    if (!cfg->filename || !*cfg->filename) {
        error_setg(errp, "file= is required");
        return false;
    }
    if (media && strcmp(media, "disk")) {
        error_setg(errp, "media=%s: only disks are supported", media);
        return false;
    }
    /* Without if= QEMU would make an IDE disk; virtio is our only disk controller. */
    if (!iface || !strcmp(iface, "virtio")) {
        cfg->iface = BLK_IF_VIRTIO;
    } else if (!strcmp(iface, "none")) {
        cfg->iface = BLK_IF_NONE;
    } else {
        error_setg(errp, "if=%s: unsupported interface (virtio or none)", iface);
        return false;
    }
    if (!fmt) {
        log_warn("-drive file=%s: no format= given, using raw", cfg->filename);
    }
    if (!cfg->id) {
        /* g_intern: the name lives as long as the process, like QEMU's. */
        g_autofree char *name = g_strdup_printf("drive%u", drive_index++);
        cfg->id = g_intern_string(name);
    }
    return true;
}

bool blk_add_drive(const char *optstr, GError **errp)
{
    g_autoptr(GError) err = NULL;
    BlockOpenCfg cfg = { .cache = BLK_CACHE_WRITEBACK };
    Opts *o = opts_parse(optstr, NULL, &err);
    bool ok = o && drive_cfg(o, &cfg, &err) && blk_open(&cfg, &err);

    opts_free(o);
    if (!ok) {
        error_setg(errp, "-drive %s: %s", optstr, err->message);
    }
    return ok;
}

/* driver=file: open the image under node-name. */
static bool blockdev_file(Opts *o, const char *node, bool ro, GError **errp)
{
    BlockOpenCfg cfg = { .id = node, .readonly = ro, .iface = BLK_IF_NONE };
    bool direct, no_flush;

    cfg.filename = opts_get(o, "filename");
    if (!opts_get_bool(o, "cache.direct", false, &direct, errp) ||
        !opts_get_bool(o, "cache.no-flush", false, &no_flush, errp) ||
        !parse_aio(opts_get(o, "aio"), &cfg.aio, errp) ||
        !opts_check_all_used(o, "-blockdev", errp)) {
        return false;
    }
    if (!cfg.filename) {
        error_setg(errp, "driver=file needs filename=");
        return false;
    }
    if (direct && no_flush) {
        error_setg(errp, "cache.direct=on with cache.no-flush=on is not supported");
        return false;
    }
    cfg.cache = direct ? BLK_CACHE_NONE : no_flush ? BLK_CACHE_UNSAFE : BLK_CACHE_WRITEBACK;
    return blk_open(&cfg, errp) != NULL;
}

/* driver=raw over a file node: the raw node takes over the file node. */
static bool blockdev_raw(Opts *o, const char *node, bool ro, GError **errp)
{
    const char *file = opts_get(o, "file");
    BlockBackend *blk;

    if (!opts_check_all_used(o, "-blockdev", errp)) {
        return false;
    }
    if (!file) {
        error_setg(errp, "driver=raw needs file=NODE (a driver=file node)");
        return false;
    }
    blk = blk_find(file);
    if (!blk || blk->file_node || strcmp(blk->name, file)) {
        error_setg(errp, "file=%s: no unused driver=file node of that name", file);
        return false;
    }
    if (blk_find(node)) {
        error_setg(errp, "a drive or node named '%s' already exists", node);
        return false;
    }
    if (ro && !blk->readonly) {
        error_setg(errp, "read-only=on needs a read-only file node (%s)", file);
        return false;
    }
    blk->file_node = blk->name;
    blk->name = g_strdup(node);
    return true;
}

bool blk_add_blockdev(const char *optstr, GError **errp)
{
    g_autoptr(GError) err = NULL;
    Opts *o = opts_parse(optstr, "driver", &err);
    bool ok = false, ro = false;

    if (o && opts_get_bool(o, "read-only", false, &ro, &err)) {
        const char *driver = opts_get(o, "driver");
        const char *node = opts_get(o, "node-name");
        /* Accepted and ignored: we never open images by probing. */
        opts_get(o, "discard");
        opts_get(o, "auto-read-only");
        if (!node) {
            error_setg(&err, "node-name= is required");
        } else if (driver && !strcmp(driver, "file")) {
            ok = blockdev_file(o, node, ro, &err);
        } else if (driver && !strcmp(driver, "raw")) {
            ok = blockdev_raw(o, node, ro, &err);
        } else {
            error_setg(&err, "driver=%s: unsupported (file or raw)", driver ? driver : "");
        }
    }
    opts_free(o);
    if (!ok) {
        error_setg(errp, "-blockdev %s: %s", optstr, err->message);
    }
    return ok;
}
