/*
 * Between the block backend core (block.c), its command-line front ends
 * (blk-cmdline.c) and the worker pool (aio.c).
 */
#ifndef BLOCK_BLOCK_INTERNAL_H
#define BLOCK_BLOCK_INTERNAL_H

#include "block/block.h"

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

    GMutex lock;                /* protects @pending */
    GCond idle;                 /* signalled when @pending drops */
    unsigned pending;           /* requests a worker has not finished */
};

typedef enum BlkReqType {
    BLK_REQ_READ,
    BLK_REQ_WRITE,
    BLK_REQ_FLUSH,
    BLK_REQ_DISCARD,
    BLK_REQ_ZEROES,
} BlkReqType;

typedef struct BlkReq {
    BlockBackend *blk;
    BlkReqType type;
    uint64_t offset, len;
    struct iovec *iov;          /* owned copy of the caller's array */
    unsigned niov;
    bool may_unmap;
    BlockCompletionFunc *cb;
    void *opaque;
    int ret;
} BlkReq;

/* Carry out @req on the calling (worker) thread; returns 0 or -errno. */
int blk_req_execute(BlkReq *req);

/* Hand @req to a worker; its callback runs later on the main loop. */
void blk_aio_submit(BlkReq *req);
/* Wait for @blk's workers, then run its finished callbacks here. */
void blk_aio_drain(BlockBackend *blk);

#endif
