/*
 * The aio=io_uring engine (BlkAioEngine, block-internal.h): one ring per
 * backend. Reads and writes go to the kernel as readv/writev on the
 * request's own iovec (or, under O_DIRECT with unaligned guest buffers,
 * read/write on an aligned bounce buffer, 1 MiB at a time); a flush is an
 * fdatasync-style IORING_OP_FSYNC. The ring posts each completion to an
 * eventfd that the main loop watches; the main loop reaps the ring and
 * runs the callbacks. Discard and write-zeroes (rare, with fallbacks that
 * need several system calls) go to the thread pool.
 *
 * A request may take several steps: a short read or write (or more than
 * IOV_MAX segments, or another bounce chunk) is resubmitted from where it
 * stopped, as the thread pool's loop does with preadv/pwritev.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <glib-unix.h>
#include <liburing.h>
#include "block-internal.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define RING_ENTRIES 128             /* also the most requests in the kernel at once */
#define BOUNCE_CHUNK (1u << 20)

typedef struct UringState {
    struct io_uring ring;
    GMutex lock;                     /* the ring, @inflight, @waiting */
    int efd;                         /* registered with the ring; the main loop polls it */
    guint source;
    unsigned inflight;               /* SQEs handed to the ring, not yet reaped */
    GQueue waiting;                  /* BlkReq waiting for a free slot, oldest first */
} UringState;

/* O_DIRECT needs every segment's address and length aligned. */
static bool iov_aligned(const BlkReq *req)
{
    size_t a = MAX(req->blk->align, 512u);

    if (req->niov > IOV_MAX) {
        return false;
    }
    for (unsigned i = 0; i < req->niov; i++) {
        if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) & (a - 1)) {
            return false;
        }
    }
    return true;
}

/* Zero the bytes of @iov from @off to its end (a read past the file's end). */
static void zero_tail(const struct iovec *iov, unsigned n, uint64_t off)
{
    for (unsigned i = 0; i < n; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        memset((uint8_t *)iov[i].iov_base + off, 0, l - off);
        off = 0;
    }
}

/* Drop the first @bytes of the remaining vector. */
static void advance(BlkReq *req, size_t bytes)
{
    while (req->ncur && bytes >= req->cur->iov_len) {
        bytes -= req->cur->iov_len;
        req->cur++;
        req->ncur--;
    }
    if (req->ncur && bytes) {
        req->cur->iov_base = (uint8_t *)req->cur->iov_base + bytes;
        req->cur->iov_len -= bytes;
    }
}

/* Fill @sqe with the next step of @req. */
static void prep_step(BlkReq *req, struct io_uring_sqe *sqe)
{
    BlockBackend *blk = req->blk;
    bool write = req->type == BLK_REQ_WRITE;
    uint64_t off = req->offset + req->done;

    if (req->type == BLK_REQ_FLUSH) {
        io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
    } else if (!req->bounce) {
        unsigned n = MIN(req->ncur, (unsigned)IOV_MAX);
        if (write) {
            io_uring_prep_writev(sqe, blk->fd, req->cur, n, off);
        } else {
            io_uring_prep_readv(sqe, blk->fd, req->cur, n, off);
        }
    } else {
        if (req->done == req->bstart + req->blen) {
            /* The next chunk. */
            req->bstart = req->done;
            req->blen = MIN((uint64_t)BOUNCE_CHUNK, req->len - req->done);
            if (write) {
                blk_iov_copy(req->iov, req->niov, req->bstart, req->bounce, req->blen, false);
            }
        }
        uint8_t *p = (uint8_t *)req->bounce + (req->done - req->bstart);
        unsigned k = req->bstart + req->blen - req->done;
        if (write) {
            io_uring_prep_write(sqe, blk->fd, p, k, off);
        } else {
            io_uring_prep_read(sqe, blk->fd, p, k, off);
        }
    }
    io_uring_sqe_set_data(sqe, req);
}

/* Give @req's next step a ring slot, or queue it until one is free. Lock held. */
static void start(UringState *s, BlkReq *req)
{
    struct io_uring_sqe *sqe;

    if (s->inflight >= RING_ENTRIES) {
        g_queue_push_tail(&s->waiting, req);
        return;
    }
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        /* The submission queue holds unsubmitted entries: push them now. */
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    if (!sqe) {
        g_queue_push_tail(&s->waiting, req);
        return;
    }
    prep_step(req, sqe);
    s->inflight++;
}

/* Send what start() prepared to the kernel. Lock held. */
static void push(UringState *s)
{
    int r;

    while (s->inflight < RING_ENTRIES && !g_queue_is_empty(&s->waiting)) {
        start(s, g_queue_pop_head(&s->waiting));
    }
    do {
        r = io_uring_submit(&s->ring);
    } while (r == -EINTR);
    /* -EAGAIN/-EBUSY: the entries stay queued and go with the next submit. */
    if (r < 0 && r != -EAGAIN && r != -EBUSY) {
        log_warn("block: io_uring_submit: %s", strerror(-r));
    }
}

/*
 * Account for a step of @req that ended with @res. Returns true when the
 * request is over (req->ret set), false if another step is needed.
 */
static bool step_done(BlkReq *req, int res)
{
    bool write = req->type == BLK_REQ_WRITE;

    if (req->type == BLK_REQ_FLUSH) {
        req->ret = res < 0 ? res : 0;
        return true;
    }
    if (res == -EINTR || res == -EAGAIN) {
        return false;
    }
    if (res < 0) {
        req->ret = res;
        return true;
    }
    if (res == 0) {
        if (write) {
            req->ret = -EIO;
            return true;
        }
        /* The file shrank under us: the rest reads as zeroes. */
        if (req->bounce) {
            blk_iov_copy(req->iov, req->niov, req->bstart, req->bounce,
                         req->done - req->bstart, true);
            zero_tail(req->iov, req->niov, req->done);
        } else {
            /* @cur is what is left, already advanced past the bytes read. */
            zero_tail(req->cur, req->ncur, 0);
        }
        req->ret = 0;
        return true;
    }
    req->done += res;
    if (req->bounce) {
        if (!write && req->done == req->bstart + req->blen) {
            blk_iov_copy(req->iov, req->niov, req->bstart, req->bounce, req->blen, true);
        }
    } else {
        advance(req, res);
    }
    if (req->done >= req->len) {
        req->ret = 0;
        return true;
    }
    return false;
}

/* Reap every completion; finished requests go on @finished. Lock held. */
static void reap(UringState *s, GQueue *finished)
{
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
        BlkReq *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&s->ring, cqe);
        s->inflight--;
        if (step_done(req, res)) {
            g_queue_push_tail(finished, req);
        } else {
            start(s, req);
        }
    }
    push(s);
}

static void run_finished(GQueue *finished)
{
    BlkReq *req;

    while ((req = g_queue_pop_head(finished))) {
        blk_req_finish(req);
    }
}

static gboolean uring_dispatch(gint fd, GIOCondition cond, gpointer data)
{
    BlockBackend *blk = data;
    UringState *s = blk->aio_state;
    GQueue finished = G_QUEUE_INIT;
    uint64_t cnt;

    (void)cond;
    /* Reset the counter first: a completion posted after this read sets it again. */
    if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
        log_warn("block: io_uring eventfd: %s", strerror(errno));
    }
    g_mutex_lock(&s->lock);
    reap(s, &finished);
    g_mutex_unlock(&s->lock);
    /* Callbacks run unlocked: they may submit more requests. */
    run_finished(&finished);
    return G_SOURCE_CONTINUE;
}

/*
 * Requests that need no I/O (refused by the checks, a flush under
 * cache=unsafe) go to the pool as well: it completes them at once, and
 * later on the main loop, as the contract asks.
 */
static void uring_submit(BlkReq *req)
{
    BlockBackend *blk = req->blk;
    UringState *s = blk->aio_state;

    if (req->type == BLK_REQ_DISCARD || req->type == BLK_REQ_ZEROES ||
        blk_req_check(req) <= 0) {
        blk_aio_threads.submit(req);
        return;
    }
    req->cur = req->iov;
    req->ncur = req->niov;
    if (req->type != BLK_REQ_FLUSH && (blk->flags & O_DIRECT) && !iov_aligned(req)) {
        size_t size = MIN((uint64_t)BOUNCE_CHUNK, req->len);
        if (posix_memalign(&req->bounce, MAX(blk->align, 4096u), size)) {
            req->bounce = NULL;
            blk_aio_threads.submit(req);
            return;
        }
        /* Empty: prep_step() loads the first chunk. */
        req->bstart = req->blen = 0;
    }
    g_mutex_lock(&s->lock);
    start(s, req);
    push(s);
    g_mutex_unlock(&s->lock);
}

static bool uring_busy(UringState *s)
{
    bool busy;

    g_mutex_lock(&s->lock);
    busy = s->inflight || !g_queue_is_empty(&s->waiting);
    g_mutex_unlock(&s->lock);
    return busy;
}

static bool pool_busy(BlockBackend *blk)
{
    bool busy;

    g_mutex_lock(&blk->lock);
    busy = blk->pending > 0;
    g_mutex_unlock(&blk->lock);
    return busy;
}

static void uring_drain(BlockBackend *blk)
{
    UringState *s = blk->aio_state;

    do {
        blk_aio_threads.drain(blk);
        while (uring_busy(s)) {
            GQueue finished = G_QUEUE_INIT;
            struct io_uring_cqe *cqe;
            int r;

            g_mutex_lock(&s->lock);
            if (s->inflight) {
                r = io_uring_wait_cqe(&s->ring, &cqe);
                if (r < 0 && r != -EINTR && r != -EAGAIN) {
                    g_error("block: io_uring_wait_cqe: %s", strerror(-r));
                }
            }
            reap(s, &finished);
            g_mutex_unlock(&s->lock);
            run_finished(&finished);
        }
    } while (pool_busy(blk));
}

static bool uring_open(BlockBackend *blk, GError **errp)
{
    UringState *s = g_new0(UringState, 1);
    int r = io_uring_queue_init(RING_ENTRIES, &s->ring, 0);

    if (r < 0) {
        error_setg(errp, "io_uring_queue_init: %s", strerror(-r));
        g_free(s);
        return false;
    }
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        error_setg(errp, "eventfd: %s", strerror(errno));
        goto fail;
    }
    r = io_uring_register_eventfd(&s->ring, s->efd);
    if (r < 0) {
        error_setg(errp, "io_uring_register_eventfd: %s", strerror(-r));
        close(s->efd);
        goto fail;
    }
    g_mutex_init(&s->lock);
    g_queue_init(&s->waiting);
    blk->aio_state = s;
    s->source = g_unix_fd_add(s->efd, G_IO_IN, uring_dispatch, blk);
    return true;
fail:
    io_uring_queue_exit(&s->ring);
    g_free(s);
    return false;
}

static void uring_close(BlockBackend *blk)
{
    UringState *s = blk->aio_state;

    g_source_remove(s->source);
    io_uring_queue_exit(&s->ring);
    close(s->efd);
    g_mutex_clear(&s->lock);
    g_free(s);
    blk->aio_state = NULL;
}

const BlkAioEngine blk_aio_uring = {
    .name = "io_uring",
    .open = uring_open,
    .submit = uring_submit,
    .drain = uring_drain,
    .close = uring_close,
};
