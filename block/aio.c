/*
 * The aio=threads engine (BlkAioEngine, block-internal.h): a glib thread
 * pool runs the system calls, an eventfd wakes the main loop, which runs
 * the completion callbacks.
 *
 * It is the default: it works on every kernel and in every sandbox (io_uring
 * is often disabled in containers and CI), carries every request type, and
 * measures as fast as io_uring for an interpreted guest (docs/block.md).
 * Two workers per host core keep a flush from stalling reads.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <glib-unix.h>
#include "block-internal.h"
#include "kemu/log.h"

#define BLK_MAX_WORKERS 4

static GThreadPool *pool;
static GMutex done_lock;
static GQueue done = G_QUEUE_INIT;   /* finished BlkReq, oldest first */
static int done_efd = -1;

/* Pop the oldest finished request of @blk (any backend if NULL). */
static BlkReq *take_done(BlockBackend *blk)
{
    BlkReq *req = NULL;

    g_mutex_lock(&done_lock);
    for (GList *l = done.head; l; l = l->next) {
        BlkReq *r = l->data;
        if (!blk || r->blk == blk) {
            req = r;
            g_queue_delete_link(&done, l);
            break;
        }
    }
    g_mutex_unlock(&done_lock);
    return req;
}

static gboolean done_dispatch(gint fd, GIOCondition cond, gpointer data)
{
    uint64_t cnt;
    BlkReq *req;

    (void)cond;
    (void)data;
    /* Reset the counter first: a completion queued after this read writes it again. */
    if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
        log_warn("block: completion eventfd: %s", strerror(errno));
    }
    while ((req = take_done(NULL))) {
        blk_req_finish(req);
    }
    return G_SOURCE_CONTINUE;
}

static void worker(gpointer data, gpointer user_data)
{
    BlkReq *req = data;
    BlockBackend *blk = req->blk;
    uint64_t one = 1;

    (void)user_data;
    req->ret = blk_req_execute(req);
    g_mutex_lock(&done_lock);
    g_queue_push_tail(&done, req);
    g_mutex_unlock(&done_lock);
    /* After this @req may be freed by the main loop; @blk outlives it (drain). */
    g_mutex_lock(&blk->lock);
    blk->pending--;
    g_cond_broadcast(&blk->idle);
    g_mutex_unlock(&blk->lock);
    if (write(done_efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_warn("block: completion eventfd: %s", strerror(errno));
    }
}

/* Create the pool and the main-loop source on first use. */
static void aio_init(void)
{
    if (pool) {
        return;
    }
    done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (done_efd < 0) {
        g_error("block: eventfd: %s", strerror(errno));
    }
    g_unix_fd_add(done_efd, G_IO_IN, done_dispatch, NULL);
    pool = g_thread_pool_new(worker, NULL, BLK_MAX_WORKERS, FALSE, NULL);
}

static void threads_submit(BlkReq *req)
{
    BlockBackend *blk = req->blk;

    aio_init();
    g_mutex_lock(&blk->lock);
    blk->pending++;
    g_mutex_unlock(&blk->lock);
    g_thread_pool_push(pool, req, NULL);
}

static void threads_drain(BlockBackend *blk)
{
    BlkReq *req;
    bool again;

    do {
        g_mutex_lock(&blk->lock);
        while (blk->pending) {
            g_cond_wait(&blk->idle, &blk->lock);
        }
        g_mutex_unlock(&blk->lock);
        /* Callbacks may submit more requests: loop until none are left. */
        while ((req = take_done(blk))) {
            blk_req_finish(req);
        }
        g_mutex_lock(&blk->lock);
        again = blk->pending > 0;
        g_mutex_unlock(&blk->lock);
    } while (again);
}

const BlkAioEngine blk_aio_threads = {
    .name = "threads",
    .submit = threads_submit,
    .drain = threads_drain,
};
