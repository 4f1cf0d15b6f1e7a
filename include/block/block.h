/*
 * Block backends: raw image files behind a small asynchronous API.
 *
 * A BlockBackend is one open image (-drive or -blockdev). Requests are
 * carried out by an asynchronous engine (aio=threads: a pool of worker
 * threads; aio=io_uring: the kernel's io_uring) and complete on the main
 * loop: the completion callback runs on the thread
 * that dispatches glib's default GMainContext (the main loop, which holds
 * the BQL while it dispatches), or inside blk_drain().
 *
 * Cache modes (QEMU's spellings and meanings):
 *   writeback     page cache; flush = fdatasync           (the default)
 *   none          O_DIRECT (bounce-buffered); flush = fdatasync
 *   writethrough  O_DSYNC: every write is stable when it completes
 *   unsafe        page cache; flush does nothing
 *
 * Completion status: 0 or a negative errno (-EROFS for a write to a
 * read-only backend, -EINVAL for a request outside the file or not
 * aligned to blk_get_align() under cache=none, -EIO etc. from the host).
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>

typedef struct BlockBackend BlockBackend;

typedef enum BlockCacheMode {
    BLK_CACHE_WRITEBACK,
    BLK_CACHE_NONE,
    BLK_CACHE_WRITETHROUGH,
    BLK_CACHE_UNSAFE,
} BlockCacheMode;

/*
 * The asynchronous engine (-drive aio=). BLK_AIO_IO_URING falls back to
 * threads, with a warning, where io_uring cannot be set up.
 */
typedef enum BlockAioMode {
    BLK_AIO_THREADS,      /* the default */
    BLK_AIO_IO_URING,
} BlockAioMode;

/* Which device -drive if= asks for. */
typedef enum BlockInterface {
    BLK_IF_NONE,          /* only a -device drive=ID uses it */
    BLK_IF_VIRTIO,        /* a virtio-blk-pci is created for it */
} BlockInterface;

typedef struct BlockOpenCfg {
    const char *filename;
    const char *id;               /* name for drive=ID; may be NULL */
    BlockCacheMode cache;
    bool readonly;
    BlockInterface iface;
    BlockAioMode aio;
} BlockOpenCfg;

/* Called once per request with 0 or -errno (see above). */
typedef void BlockCompletionFunc(void *opaque, int ret);

/*
 * Open a raw image as described by @cfg and register it under cfg->id.
 * Returns NULL with @errp set if the file cannot be opened (or does not
 * support O_DIRECT under cache=none) or the id is taken.
 */
BlockBackend *blk_open(const BlockOpenCfg *cfg, GError **errp);
/* Wait for @blk's requests (blk_drain), unregister and close it. */
void blk_close(BlockBackend *blk);
/* Close every registered backend (process teardown, tests). */
void blk_close_all(void);

/*
 * Command-line front ends. blk_add_drive() takes a -drive string
 * (file=,format=raw,if=virtio|none,id=,cache=,readonly=,aio=); without id= it
 * names the drive "driveN". blk_add_blockdev() takes a -blockdev string:
 * driver=file,filename=F,node-name=N[,cache.direct=,read-only=,aio=] opens F
 * under N; driver=raw,file=N2,node-name=N renames the file node N2 to N
 * (only raw over file is supported). Both return false with @errp set.
 */
bool blk_add_drive(const char *optstr, GError **errp);
bool blk_add_blockdev(const char *optstr, GError **errp);

/* The backend registered as @id, or NULL. */
BlockBackend *blk_find(const char *id);
/* Call @fn for each registered backend, in creation order. */
void blk_foreach(void (*fn)(BlockBackend *blk, void *opaque), void *opaque);

const char *blk_name(const BlockBackend *blk);
/* The image file name as given on the command line (query-block). */
const char *blk_filename(const BlockBackend *blk);
BlockInterface blk_interface(const BlockBackend *blk);
/* Image size in bytes, as at open time. */
uint64_t blk_getlength(const BlockBackend *blk);
bool blk_is_read_only(const BlockBackend *blk);
BlockCacheMode blk_cache_mode(const BlockBackend *blk);
/* The engine @blk's requests run on (after any fallback). */
BlockAioMode blk_aio_mode(const BlockBackend *blk);
/* Whether this build has the engine @mode (io_uring needs liburing). */
bool blk_aio_available(BlockAioMode mode);
/* The open(2) flags used for the image (tests check cache modes). */
int blk_open_flags(const BlockBackend *blk);
/* Offsets and lengths must be multiples of this (512, or 4096 for O_DIRECT on 4K media). */
unsigned blk_get_align(const BlockBackend *blk);

/*
 * Mark @blk as used by a device. False if another device already has it
 * (a drive attaches to one device only).
 */
bool blk_attach(BlockBackend *blk);
bool blk_is_attached(const BlockBackend *blk);

/*
 * Asynchronous requests. The iovec array is copied; the memory it points
 * to must stay valid until @cb runs. Byte offsets and lengths.
 */
void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov,
                    unsigned niov, BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov,
                     unsigned niov, BlockCompletionFunc *cb, void *opaque);
void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque);
/* Deallocate [offset, offset + len); reads then return zeroes or old data. */
void blk_aio_discard(BlockBackend *blk, uint64_t offset, uint64_t len,
                     BlockCompletionFunc *cb, void *opaque);
/* Make [offset, offset + len) read as zeroes (may deallocate if @may_unmap). */
void blk_aio_write_zeroes(BlockBackend *blk, uint64_t offset, uint64_t len,
                          bool may_unmap, BlockCompletionFunc *cb, void *opaque);

/*
 * Batch submissions (BQL held, the same thread from plug to unplug; they
 * nest). While @blk is plugged, a read or write the host page cache can
 * carry out at once (preadv2/pwritev2 with RWF_NOWAIT: no disk I/O, no
 * blocking) is done during its blk_aio_* call instead of going to the
 * engine; blk_io_unplug() then runs those requests' callbacks, in
 * submission order, on the calling thread. So a device that brackets a
 * queue's submissions completes cached requests without a trip through
 * a worker and the main loop. Everything else completes as usual. The
 * callbacks still never run inside a blk_aio_* call.
 */
void blk_io_plug(BlockBackend *blk);
void blk_io_unplug(BlockBackend *blk);

/*
 * Wait until every request of @blk has finished and run their callbacks
 * on the calling thread. Call it where callbacks may run (BQL held, or a
 * test's main thread). Does not need the main loop to run.
 */
void blk_drain(BlockBackend *blk);

/* Synchronous helpers (tests, tools): 0 or -errno, no main loop needed. */
int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, size_t len);
int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf, size_t len);

#endif
