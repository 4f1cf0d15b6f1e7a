/*
 * Between the block backend core (block.c), its command-line front ends
 * (blk-cmdline.c) and the asynchronous engines (aio.c, aio-uring.c).
 */
#ifndef BLOCK_BLOCK_INTERNAL_H
#define BLOCK_BLOCK_INTERNAL_H

#include "block/block.h"

typedef struct BlkReq BlkReq;

/*
 * An asynchronous engine: how a backend's requests reach the host.
 *
 * Contract, for every engine:
 * - submit() takes ownership of @req (free it with blk_req_finish()). It
 *   may be called from any thread holding the BQL (vCPU threads, the main
 *   loop, a test's main thread) and never runs the callback itself.
 * - The callback runs exactly once, on the thread dispatching glib's
 *   default GMainContext, or inside drain() on the caller's thread; with
 *   req->ret set to 0 or -errno with blk_req_execute()'s meaning.
 * - drain() returns only when @blk has no request left in the engine and
 *   every callback has run (callbacks may submit more; those are drained
 *   too).
 * - open() (may be NULL) sets up per-backend state in blk->aio_state and
 *   returns false with @errp set if the engine cannot work here; close()
 *   (may be NULL) releases it, after a drain().
 */
typedef struct BlkAioEngine {
    const char *name;
    bool (*open)(BlockBackend *blk, GError **errp);
    void (*submit)(BlkReq *req);
    void (*drain)(BlockBackend *blk);
    void (*close)(BlockBackend *blk);
} BlkAioEngine;

/* The worker-thread pool (aio.c): every request type, everywhere. */
extern const BlkAioEngine blk_aio_threads;
#ifdef CONFIG_LIBURING
/* io_uring (aio-uring.c): reads, writes, flushes; the rest via the pool. */
extern const BlkAioEngine blk_aio_uring;
#endif

struct BlockBackend {
    char *name;                 /* drive=/node-name the devices look up */
    char *file_node;            /* -blockdev file node under a raw node, or NULL */
    char *filename;
    int fd;
    int flags;                  /* open(2) flags */
    BlockCacheMode cache;
    bool readonly;
    BlockInterface iface;
    bool attached;
    uint64_t length;
    unsigned align;

    const BlkAioEngine *aio;    /* the engine in use (after any fallback) */
    void *aio_state;            /* the engine's per-backend state */

    /* Under the BQL: blk_io_plug() depth, the requests finished at
       submission while plugged (oldest first), whether the host refused
       RWF_NOWAIT for reads or writes on this file (ext4 does for buffered
       writes: then only small writes are tried inline, with plain pwritev,
       and not until @inline_writes_resume after a slow one). */
    unsigned plugged;
    GQueue inline_done;
    bool nowait_reads_off, nowait_writes_off;
    int64_t inline_writes_resume;   /* monotonic µs: no inline writes before */

    GMutex lock;                /* protects @pending */
    GCond idle;                 /* signalled when @pending drops */
    unsigned pending;           /* requests a pool worker has not finished */
};

typedef enum BlkReqType {
    BLK_REQ_READ,
    BLK_REQ_WRITE,
    BLK_REQ_FLUSH,
    BLK_REQ_DISCARD,
    BLK_REQ_ZEROES,
} BlkReqType;

struct BlkReq {
    BlockBackend *blk;
    BlkReqType type;
    uint64_t offset, len;
    struct iovec *iov;          /* owned copy of the caller's array */
    unsigned niov;
    bool may_unmap;
    BlockCompletionFunc *cb;
    void *opaque;
    int ret;

    /* Progress of a request the io_uring engine carries out in steps. */
    uint64_t done;              /* bytes transferred so far */
    struct iovec *cur;          /* the rest of @iov (points into it) */
    unsigned ncur;
    void *bounce;               /* O_DIRECT bounce buffer, or NULL */
    uint64_t bstart, blen;      /* the request bytes @bounce holds */
};

/*
 * The checks every request passes before any I/O: returns 1 if @req needs
 * host I/O, else its final status (0 for an empty request or a flush with
 * nothing to flush, -EROFS, -EINVAL for a bad range or alignment).
 */
int blk_req_check(const BlkReq *req);
/* Carry out @req on the calling (worker) thread; returns 0 or -errno. */
int blk_req_execute(BlkReq *req);
/*
 * Try @req (a read or write of a buffered backend) at once on the calling
 * thread: one RWF_NOWAIT call, or, where the file system refuses that for
 * writes, one plain pwritev of a small write unless a recent one was slow
 * (block.c). True if that transferred all of it (req->ret = 0). False
 * leaves the request for the engine: any bytes moved are moved again there.
 */
bool blk_req_try_nowait(BlkReq *req);
/* Free @req, then run its callback with req->ret. */
void blk_req_finish(BlkReq *req);

/* Copy @len bytes at byte @off of @iov into @buf (or back with @to_iov). */
void blk_iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len,
                  bool to_iov);

#endif
