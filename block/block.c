/*
 * Raw image backends (include/block/block.h): open, the registry of
 * named backends, and the request bodies the workers run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <linux/falloc.h>
#include "block-internal.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define BOUNCE_CHUNK (1u << 20)     /* O_DIRECT bounce buffer per step */

static GPtrArray *backends;         /* of BlockBackend *, creation order */

/* ---- iovec helpers ---- */

void blk_iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len,
                  bool to_iov)
{
    uint8_t *p = buf;

    for (unsigned i = 0; i < n && len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = MIN(iov[i].iov_len - off, len);
        uint8_t *base = (uint8_t *)iov[i].iov_base + off;
        if (to_iov) {
            memcpy(base, p, k);
        } else {
            memcpy(p, base, k);
        }
        p += k;
        len -= k;
        off = 0;
    }
}

static size_t iov_size(const struct iovec *iov, unsigned n)
{
    size_t s = 0;

    for (unsigned i = 0; i < n; i++) {
        s += iov[i].iov_len;
    }
    return s;
}

/* Drop the first @bytes of the (modifiable) vector *@iov / *@n. */
static void iov_skip(struct iovec **iov, unsigned *n, size_t bytes)
{
    while (*n && bytes >= (*iov)->iov_len) {
        bytes -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n && bytes) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + bytes;
        (*iov)->iov_len -= bytes;
    }
}

/* ---- request bodies (worker threads) ---- */

/* Buffered I/O straight into the caller's buffers; reads past EOF give zeroes. */
static int rw_buffered(BlkReq *req)
{
    struct iovec *iov = req->iov;
    unsigned n = req->niov;
    uint64_t off = req->offset;
    size_t left = req->len;

    while (left) {
        unsigned cnt = MIN(n, (unsigned)IOV_MAX);
        ssize_t r = req->type == BLK_REQ_READ ? preadv(req->blk->fd, iov, cnt, off)
                                              : pwritev(req->blk->fd, iov, cnt, off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            if (req->type == BLK_REQ_WRITE) {
                return -EIO;
            }
            /* The file shrank under us: the rest reads as zeroes. */
            for (unsigned i = 0; i < n; i++) {
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            }
            return 0;
        }
        iov_skip(&iov, &n, r);
        off += r;
        left -= r;
    }
    return 0;
}

/*
 * A buffered write on a file system that refuses RWF_NOWAIT (ext4) may
 * still be done inline if it is small: such a write normally only copies
 * into the page cache, and the guest then sees its interrupt before it
 * goes idle, instead of three thread wake-ups later. But the host may make
 * it wait (dirty-page throttling, a full journal): one that took longer
 * than INLINE_WRITE_SLOW_US turns inline writes off for the backend for
 * INLINE_WRITE_PAUSE_US, so a vCPU (holding the BQL) stalls rarely.
 */
#define INLINE_WRITE_MAX (64u << 10)
#define INLINE_WRITE_SLOW_US 1000
#define INLINE_WRITE_PAUSE_US G_USEC_PER_SEC

static ssize_t inline_write(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    int64_t start = g_get_monotonic_time(), took;
    ssize_t r;

    if (req->len > INLINE_WRITE_MAX || start < blk->inline_writes_resume) {
        return -1;
    }
    r = pwritev(blk->fd, req->iov, (int)req->niov, (off_t)req->offset);
    took = g_get_monotonic_time() - start;
    if (took > INLINE_WRITE_SLOW_US) {
        blk->inline_writes_resume = start + took + INLINE_WRITE_PAUSE_US;
    }
    return r;
}

bool blk_req_try_nowait(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    bool write = req->type == BLK_REQ_WRITE;
    bool *off = write ? &blk->nowait_writes_off : &blk->nowait_reads_off;
    ssize_t r;

    /* O_DIRECT and O_DSYNC (writethrough) always wait for the device. */
    if ((req->type != BLK_REQ_READ && !write) || (*off && !write) ||
        (blk->flags & (O_DIRECT | O_DSYNC)) || req->niov > IOV_MAX ||
        blk_req_check(req) != 1) {
        return false;
    }
    if (*off) {
        r = inline_write(req);
    } else {
        r = write ? pwritev2(blk->fd, req->iov, (int)req->niov, (off_t)req->offset, RWF_NOWAIT)
                  : preadv2(blk->fd, req->iov, (int)req->niov, (off_t)req->offset, RWF_NOWAIT);
        if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)) {
            *off = true;
        }
    }
    if (r != (ssize_t)req->len) {
        return false;
    }
    req->ret = 0;
    return true;
}

/* pread/pwrite all of @len at @off, retrying short transfers. */
static int full_pio(int fd, bool write, uint8_t *buf, size_t len, uint64_t off)
{
    while (len) {
        ssize_t r = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            if (write) {
                return -EIO;
            }
            memset(buf, 0, len);
            return 0;
        }
        buf += r;
        len -= r;
        off += r;
    }
    return 0;
}

/*
 * O_DIRECT needs aligned memory; guest buffers are not, so go through an
 * aligned bounce buffer in chunks (a hostile request may be huge).
 */
static int rw_direct(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    bool write = req->type == BLK_REQ_WRITE;
    size_t chunk = MIN((size_t)req->len, (size_t)BOUNCE_CHUNK);
    void *bounce;
    int ret = 0;

    if (posix_memalign(&bounce, MAX(blk->align, 4096u), MAX(chunk, (size_t)blk->align))) {
        return -ENOMEM;
    }
    for (size_t done = 0; done < req->len && !ret; done += chunk) {
        size_t k = MIN(chunk, (size_t)req->len - done);
        if (write) {
            blk_iov_copy(req->iov, req->niov, done, bounce, k, false);
        }
        ret = full_pio(blk->fd, write, bounce, k, req->offset + done);
        if (!write && !ret) {
            blk_iov_copy(req->iov, req->niov, done, bounce, k, true);
        }
    }
    free(bounce);
    return ret;
}

/* Write zeroes with pwrite (no fallocate support). */
static int zero_by_writing(BlockBackend *blk, uint64_t off, uint64_t len)
{
    size_t chunk = MIN(len, (uint64_t)BOUNCE_CHUNK);
    void *zero;
    int ret = 0;

    if (posix_memalign(&zero, 4096, MAX(chunk, (size_t)blk->align))) {
        return -ENOMEM;
    }
    memset(zero, 0, MAX(chunk, (size_t)blk->align));
    for (uint64_t done = 0; done < len && !ret; done += chunk) {
        ret = full_pio(blk->fd, true, zero, MIN(chunk, len - done), off + done);
    }
    free(zero);
    return ret;
}

static int do_fallocate(int fd, int mode, uint64_t off, uint64_t len)
{
    int r;

    do {
        r = fallocate(fd, mode, off, len);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static bool unsupported(int ret)
{
    return ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EINVAL;
}

static int write_zeroes(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    int ret = do_fallocate(blk->fd, FALLOC_FL_ZERO_RANGE, req->offset, req->len);

    if (unsupported(ret)) {
        /* A hole reads as zeroes; without may_unmap keep the space allocated. */
        ret = req->may_unmap ? do_fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE |
                                            FALLOC_FL_KEEP_SIZE, req->offset, req->len)
                             : -EOPNOTSUPP;
        if (unsupported(ret)) {
            ret = zero_by_writing(blk, req->offset, req->len);
        }
    }
    return ret;
}

static int do_flush(BlockBackend *blk)
{
    if (blk->cache == BLK_CACHE_UNSAFE || blk->readonly) {
        return 0;
    }
    return fdatasync(blk->fd) < 0 ? -errno : 0;
}

int blk_req_check(const BlkReq *req)
{
    const BlockBackend *blk = req->blk;

    if (req->type == BLK_REQ_FLUSH) {
        return blk->cache == BLK_CACHE_UNSAFE || blk->readonly ? 0 : 1;
    }
    if (req->type != BLK_REQ_READ && blk->readonly) {
        return -EROFS;
    }
    if (req->offset > blk->length || req->len > blk->length - req->offset) {
        return -EINVAL;
    }
    if ((req->offset | req->len) & (blk->align - 1)) {
        return -EINVAL;
    }
    return req->len ? 1 : 0;
}

int blk_req_execute(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    int ret = blk_req_check(req);

    if (ret <= 0) {
        return ret;
    }
    switch (req->type) {
    case BLK_REQ_FLUSH:
        ret = do_flush(blk);
        break;
    case BLK_REQ_READ:
    case BLK_REQ_WRITE:
        ret = (blk->flags & O_DIRECT) ? rw_direct(req) : rw_buffered(req);
        break;
    case BLK_REQ_DISCARD:
        ret = do_fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           req->offset, req->len);
        /* Discard is a hint: a file system without holes just keeps the data. */
        if (unsupported(ret)) {
            ret = 0;
        }
        break;
    case BLK_REQ_ZEROES:
        ret = write_zeroes(req);
        break;
    default:
        ret = -EINVAL;
        break;
    }
    /* fallocate is not covered by O_DSYNC: make writethrough honest. */
    if (!ret && blk->cache == BLK_CACHE_WRITETHROUGH &&
        (req->type == BLK_REQ_DISCARD || req->type == BLK_REQ_ZEROES)) {
        ret = do_flush(blk);
    }
    return ret;
}

/* ---- submission ---- */

void blk_req_finish(BlkReq *req)
{
    BlockCompletionFunc *cb = req->cb;
    void *opaque = req->opaque;
    int ret = req->ret;

    g_free(req->iov);
    free(req->bounce);
    g_free(req);
    cb(opaque, ret);
}

static void submit(BlockBackend *blk, BlkReqType type, uint64_t offset, uint64_t len,
                   const struct iovec *iov, unsigned niov, bool may_unmap,
                   BlockCompletionFunc *cb, void *opaque)
{
    BlkReq *req = g_new0(BlkReq, 1);

    req->blk = blk;
    req->type = type;
    req->offset = offset;
    req->len = len;
    req->iov = niov ? g_memdup2(iov, niov * sizeof(*iov)) : NULL;
    req->niov = niov;
    req->may_unmap = may_unmap;
    req->cb = cb;
    req->opaque = opaque;
    if (blk->plugged && blk_req_try_nowait(req)) {
        g_queue_push_tail(&blk->inline_done, req);
        return;
    }
    blk->aio->submit(req);
}

void blk_io_plug(BlockBackend *blk)
{
    blk->plugged++;
}

/* Run the callbacks of requests that finished at submission. */
static void finish_inline(BlockBackend *blk)
{
    BlkReq *req;

    while ((req = g_queue_pop_head(&blk->inline_done))) {
        blk_req_finish(req);
    }
}

void blk_io_unplug(BlockBackend *blk)
{
    g_assert(blk->plugged > 0);
    if (--blk->plugged == 0) {
        finish_inline(blk);
    }
}

void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov,
                    unsigned niov, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BLK_REQ_READ, offset, iov_size(iov, niov), iov, niov, false, cb, opaque);
}

void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov,
                     unsigned niov, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BLK_REQ_WRITE, offset, iov_size(iov, niov), iov, niov, false, cb, opaque);
}

void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BLK_REQ_FLUSH, 0, 0, NULL, 0, false, cb, opaque);
}

void blk_aio_discard(BlockBackend *blk, uint64_t offset, uint64_t len,
                     BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BLK_REQ_DISCARD, offset, len, NULL, 0, false, cb, opaque);
}

void blk_aio_write_zeroes(BlockBackend *blk, uint64_t offset, uint64_t len,
                          bool may_unmap, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BLK_REQ_ZEROES, offset, len, NULL, 0, may_unmap, cb, opaque);
}

void blk_drain(BlockBackend *blk)
{
    /* Callbacks may submit more, which a plugged backend may finish inline. */
    do {
        finish_inline(blk);
        blk->aio->drain(blk);
    } while (!g_queue_is_empty(&blk->inline_done));
}

/* The synchronous helpers run the request body on the calling thread. */
static int sync_rw(BlockBackend *blk, BlkReqType type, uint64_t offset, void *buf,
                   size_t len)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    BlkReq req = {
        .blk = blk, .type = type, .offset = offset, .len = len, .iov = &iov, .niov = 1,
    };

    return blk_req_execute(&req);
}

int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, size_t len)
{
    return sync_rw(blk, BLK_REQ_READ, offset, buf, len);
}

int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf, size_t len)
{
    return sync_rw(blk, BLK_REQ_WRITE, offset, (void *)buf, len);
}

/* ---- open, registry ---- */

/* O_DIRECT alignment: 512 unless the medium refuses a 512-byte read. */
static unsigned probe_align(int fd)
{
    void *buf;
    unsigned align = 512;

    if (posix_memalign(&buf, 4096, 4096)) {
        return 4096;
    }
    if (pread(fd, buf, 512, 0) < 0 && errno == EINVAL) {
        align = 4096;
    }
    free(buf);
    return align;
}

/* Put @blk on the engine @mode asks for, or on the pool if that fails. */
static void choose_engine(BlockBackend *blk, BlockAioMode mode)
{
    blk->aio = &blk_aio_threads;
#ifdef CONFIG_LIBURING
    if (mode == BLK_AIO_IO_URING) {
        g_autoptr(GError) err = NULL;
        if (blk_aio_uring.open(blk, &err)) {
            blk->aio = &blk_aio_uring;
        } else {
            log_warn("%s: aio=io_uring unavailable (%s); using aio=threads",
                     blk->filename, err->message);
        }
    }
#else
    (void)mode;
#endif
}

static const char *const cache_names[] = {
    [BLK_CACHE_WRITEBACK] = "writeback",
    [BLK_CACHE_NONE] = "none",
    [BLK_CACHE_WRITETHROUGH] = "writethrough",
    [BLK_CACHE_UNSAFE] = "unsafe",
};

BlockBackend *blk_open(const BlockOpenCfg *cfg, GError **errp)
{
    int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    BlockBackend *blk;
    off_t size;
    int fd;

    if (cfg->id && blk_find(cfg->id)) {
        error_setg(errp, "a drive or node named '%s' already exists", cfg->id);
        return NULL;
    }
    if (cfg->cache == BLK_CACHE_NONE) {
        flags |= O_DIRECT;
    } else if (cfg->cache == BLK_CACHE_WRITETHROUGH) {
        flags |= O_DSYNC;
    }
    fd = open(cfg->filename, flags);
    if (fd < 0) {
        if (errno == EINVAL && (flags & O_DIRECT)) {
            error_setg(errp, "%s: the file system does not support O_DIRECT "
                       "(cache=none); use cache=writeback", cfg->filename);
        } else {
            error_setg(errp, "%s: %s", cfg->filename, strerror(errno));
        }
        return NULL;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size < 0) {
        error_setg(errp, "%s: cannot find its size: %s", cfg->filename, strerror(errno));
        close(fd);
        return NULL;
    }
    blk = g_new0(BlockBackend, 1);
    blk->name = g_strdup(cfg->id);
    blk->filename = g_strdup(cfg->filename);
    blk->fd = fd;
    blk->flags = flags;
    blk->cache = cfg->cache;
    blk->readonly = cfg->readonly;
    blk->iface = cfg->iface;
    blk->length = size;
    blk->align = (flags & O_DIRECT) ? probe_align(fd) : 1;
    g_mutex_init(&blk->lock);
    g_cond_init(&blk->idle);
    choose_engine(blk, cfg->aio);
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, blk);
    log_debug("block: %s: %s, %" G_GUINT64_FORMAT " bytes, cache=%s, aio=%s%s",
              blk->name ? blk->name : "(anonymous)", blk->filename, blk->length,
              cache_names[blk->cache], blk->aio->name, blk->readonly ? ", read-only" : "");
    return blk;
}

void blk_close(BlockBackend *blk)
{
    blk_drain(blk);
    if (blk->aio->close) {
        blk->aio->close(blk);
    }
    if (backends) {
        g_ptr_array_remove(backends, blk);
    }
    close(blk->fd);
    g_mutex_clear(&blk->lock);
    g_cond_clear(&blk->idle);
    g_free(blk->name);
    g_free(blk->file_node);
    g_free(blk->filename);
    g_free(blk);
}

void blk_close_all(void)
{
    while (backends && backends->len) {
        blk_close(backends->pdata[backends->len - 1]);
    }
}

BlockBackend *blk_find(const char *id)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        BlockBackend *blk = backends->pdata[i];
        if ((blk->name && !strcmp(blk->name, id)) ||
            (blk->file_node && !strcmp(blk->file_node, id))) {
            return blk;
        }
    }
    return NULL;
}

void blk_foreach(void (*fn)(BlockBackend *blk, void *opaque), void *opaque)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        fn(backends->pdata[i], opaque);
    }
}

const char *blk_name(const BlockBackend *blk)
{
    return blk->name ? blk->name : "";
}

const char *blk_filename(const BlockBackend *blk)
{
    return blk->filename ? blk->filename : "";
}

BlockInterface blk_interface(const BlockBackend *blk)
{
    return blk->iface;
}

uint64_t blk_getlength(const BlockBackend *blk)
{
    return blk->length;
}

bool blk_is_read_only(const BlockBackend *blk)
{
    return blk->readonly;
}

BlockCacheMode blk_cache_mode(const BlockBackend *blk)
{
    return blk->cache;
}

BlockAioMode blk_aio_mode(const BlockBackend *blk)
{
#ifdef CONFIG_LIBURING
    if (blk->aio == &blk_aio_uring) {
        return BLK_AIO_IO_URING;
    }
#endif
    return BLK_AIO_THREADS;
}

bool blk_aio_available(BlockAioMode mode)
{
#ifdef CONFIG_LIBURING
    return mode == BLK_AIO_THREADS || mode == BLK_AIO_IO_URING;
#else
    return mode == BLK_AIO_THREADS;
#endif
}

int blk_open_flags(const BlockBackend *blk)
{
    return blk->flags;
}

unsigned blk_get_align(const BlockBackend *blk)
{
    return MAX(blk->align, 512u);
}

bool blk_attach(BlockBackend *blk)
{
    if (blk->attached) {
        return false;
    }
    blk->attached = true;
    return true;
}

bool blk_is_attached(const BlockBackend *blk)
{
    return blk->attached;
}
