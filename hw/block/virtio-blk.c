/*
 * virtio-blk (include/hw/block/virtio-blk.h), virtio 1.x spec section 5.2.
 *
 * A request is one descriptor chain: a 16-byte header (type, reserved,
 * sector) in the device-readable part, then data, then one status byte as
 * the last device-writable byte. The data buffers (guest RAM) go to the
 * block layer as they are; the completion fills the status byte and
 * returns the chain on the main loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "hw/block/virtio-blk.h"
#include "hw/virtio/virtio.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define BLK_QUEUE_SIZE 256
#define SECTOR_SHIFT 9
#define HDR_SIZE 16
#define DISCARD_SEG_SIZE 16
#define MAX_DISCARD_SECTORS (1u << 22)      /* 2 GiB per request */
#define DISCARD_FLAG_UNMAP 1u

typedef struct VirtioBlk {
    VirtioDevice vd;
    VirtioDeviceOps ops;        /* per device: num_queues varies */
    BlockBackend *blk;
    uint8_t serial[VIRTIO_BLK_ID_BYTES];
    uint64_t capacity;          /* 512-byte sectors */
    uint32_t blk_size;
    bool driver_ok;
    bool broken;                /* a chain was refused: NEEDS_RESET until reset */
    uint32_t generation;        /* bumped at reset: older completions are dropped */
    void *spare;                /* a BlkRequest kept for the next pop */
} VirtioBlk;

typedef struct BlkRequest {
    VirtioBlk *s;
    VirtQueue *vq;
    uint32_t generation;
    uint32_t type;
    uint8_t *status;            /* last device-writable byte, in guest RAM */
    unsigned ndata;
    struct iovec data[VIRTQ_MAX_SG];
    VirtqElem elem;
} BlkRequest;

/*
 * Copy the bytes [@off, @off + @len) of @src into @dst as an iovec list
 * (no data copied). Returns the number of entries.
 */
static unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len,
                          struct iovec *dst)
{
    unsigned k = 0;

    for (unsigned i = 0; i < n && len; i++) {
        if (off >= src[i].iov_len) {
            off -= src[i].iov_len;
            continue;
        }
        size_t take = MIN(src[i].iov_len - off, len);
        dst[k].iov_base = (uint8_t *)src[i].iov_base + off;
        dst[k++].iov_len = take;
        len -= take;
        off = 0;
    }
    return k;
}

/* Fill the status byte and give the chain back (BQL held). */
static void req_finish(BlkRequest *r, uint8_t status)
{
    VirtioBlk *s = r->s;

    *r->status = status;
    /* The status byte is the chain's last writable byte: report all of in[]. */
    virtqueue_push(r->vq, &r->elem, (uint32_t)MIN(r->elem.in_len, (size_t)UINT32_MAX));
    if (s->spare) {
        g_free(r);
    } else {
        s->spare = r;
    }
}

static void req_complete(void *opaque, int ret)
{
    BlkRequest *r = opaque;
    VirtioBlk *s = r->s;
    VirtQueue *vq = r->vq;

    if (r->generation != s->generation) {
        /* The driver reset the device meanwhile: its rings are gone. */
        g_free(r);
        return;
    }
    if (ret < 0) {
        log_guest_error("virtio-blk: request type %u failed: %s", r->type, strerror(-ret));
    }
    req_finish(r, ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
    virtqueue_notify(vq);
}

/* Sector range check: [sector, sector + bytes/512) inside the disk, aligned. */
static bool range_ok(const VirtioBlk *s, uint64_t sector, uint64_t bytes)
{
    uint64_t nsec = bytes >> SECTOR_SHIFT;
    uint64_t align_sec = s->blk_size >> SECTOR_SHIFT;

    if (bytes & ((1u << SECTOR_SHIFT) - 1)) {
        return false;
    }
    if (sector > s->capacity || nsec > s->capacity - sector) {
        return false;
    }
    return (sector % align_sec) == 0 && (nsec % align_sec) == 0;
}

/* DISCARD / WRITE_ZEROES: one 16-byte segment after the header. */
static int start_discard(VirtioBlk *s, BlkRequest *r)
{
    uint8_t seg[DISCARD_SEG_SIZE];
    uint64_t sector;
    uint32_t nsec, flags;

    if (r->elem.out_len != HDR_SIZE + DISCARD_SEG_SIZE) {
        log_guest_error("virtio-blk: discard/write-zeroes with %zu payload bytes",
                        r->elem.out_len - HDR_SIZE);
        return VIRTIO_BLK_S_IOERR;
    }
    iov_to_buf(r->elem.out, r->elem.out_num, HDR_SIZE, seg, sizeof(seg));
    sector = ld64_le(seg);
    nsec = ld32_le(seg + 8);
    flags = ld32_le(seg + 12);
    if ((flags & ~DISCARD_FLAG_UNMAP) ||
        (r->type == VIRTIO_BLK_T_DISCARD && (flags & DISCARD_FLAG_UNMAP))) {
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (nsec > MAX_DISCARD_SECTORS || !range_ok(s, sector, (uint64_t)nsec << SECTOR_SHIFT)) {
        return VIRTIO_BLK_S_IOERR;
    }
    if (r->type == VIRTIO_BLK_T_DISCARD) {
        blk_aio_discard(s->blk, sector << SECTOR_SHIFT, (uint64_t)nsec << SECTOR_SHIFT,
                        req_complete, r);
    } else {
        blk_aio_write_zeroes(s->blk, sector << SECTOR_SHIFT, (uint64_t)nsec << SECTOR_SHIFT,
                             flags & DISCARD_FLAG_UNMAP, req_complete, r);
    }
    return -1;
}

/*
 * Parse and start @r. Returns -1 when the block layer owns the request
 * now, else the status to complete it with at once.
 */
static int start_request(VirtioBlk *s, BlkRequest *r)
{
    VirtqElem *e = &r->elem;
    uint8_t hdr[HDR_SIZE];
    uint64_t sector;
    size_t len;

    if (e->out_len < HDR_SIZE) {
        log_guest_error("virtio-blk: request header of %zu bytes", e->out_len);
        return VIRTIO_BLK_S_IOERR;
    }
    iov_to_buf(e->out, e->out_num, 0, hdr, sizeof(hdr));
    r->type = ld32_le(hdr);
    sector = ld64_le(hdr + 8);
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        len = e->in_len - 1;
        if (!range_ok(s, sector, len)) {
            log_guest_error("virtio-blk: read of %zu bytes at sector %" PRIu64
                            " outside the disk or misaligned", len, sector);
            return VIRTIO_BLK_S_IOERR;
        }
        r->ndata = iov_slice(e->in, e->in_num, 0, len, r->data);
        blk_aio_preadv(s->blk, sector << SECTOR_SHIFT, r->data, r->ndata, req_complete, r);
        return -1;
    case VIRTIO_BLK_T_OUT:
        len = e->out_len - HDR_SIZE;
        if (blk_is_read_only(s->blk)) {
            return VIRTIO_BLK_S_IOERR;
        }
        if (!range_ok(s, sector, len)) {
            log_guest_error("virtio-blk: write of %zu bytes at sector %" PRIu64
                            " outside the disk or misaligned", len, sector);
            return VIRTIO_BLK_S_IOERR;
        }
        r->ndata = iov_slice(e->out, e->out_num, HDR_SIZE, len, r->data);
        blk_aio_pwritev(s->blk, sector << SECTOR_SHIFT, r->data, r->ndata, req_complete, r);
        return -1;
    case VIRTIO_BLK_T_FLUSH:
        blk_aio_flush(s->blk, req_complete, r);
        return -1;
    case VIRTIO_BLK_T_GET_ID:
        iov_from_buf(e->in, e->in_num, 0, s->serial,
                     MIN(e->in_len - 1, (size_t)VIRTIO_BLK_ID_BYTES));
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (blk_is_read_only(s->blk)) {
            return VIRTIO_BLK_S_IOERR;
        }
        return start_discard(s, r);
    default:
        log_unimp("virtio-blk: request type %u", r->type);
        return VIRTIO_BLK_S_UNSUPP;
    }
}

/* Find the status byte; false if the chain has no device-writable byte. */
static bool locate_status(BlkRequest *r)
{
    VirtqElem *e = &r->elem;

    for (unsigned i = e->in_num; i-- > 0;) {
        if (e->in[i].iov_len) {
            r->status = (uint8_t *)e->in[i].iov_base + e->in[i].iov_len - 1;
            return true;
        }
    }
    return false;
}

static void blk_queue_notify(VirtioDevice *vd, unsigned q)
{
    VirtioBlk *s = (VirtioBlk *)vd;
    VirtQueue *vq = virtio_queue(vd, q);
    bool pushed = false;

    /* Requests the host page cache serves at once complete at the unplug. */
    blk_io_plug(s->blk);
    while (s->driver_ok && !s->broken) {
        BlkRequest *r = s->spare ? s->spare : g_new(BlkRequest, 1);
        s->spare = NULL;
        int ret = virtqueue_pop(vq, &r->elem);
        if (ret <= 0) {
            s->spare = r;
            s->broken = ret < 0;
            break;
        }
        r->s = s;
        r->vq = vq;
        r->generation = s->generation;
        if (!locate_status(r)) {
            log_guest_error("virtio-blk: request without a status byte");
            virtqueue_push(vq, &r->elem, 0);
            s->spare = r;
            virtio_set_needs_reset(vd);
            s->broken = true;
            pushed = true;
            break;
        }
        int status = start_request(s, r);
        if (status >= 0) {
            req_finish(r, status);
            pushed = true;
        }
    }
    blk_io_unplug(s->blk);
    if (pushed) {
        virtqueue_notify(vq);
    }
}

static void blk_get_config(VirtioDevice *vd, uint8_t *cfg)
{
    VirtioBlk *s = (VirtioBlk *)vd;

    memset(cfg, 0, VIRTIO_BLK_CONFIG_SIZE);
    st64_le(cfg + 0, s->capacity);
    st32_le(cfg + 12, BLK_QUEUE_SIZE - 2);                /* seg_max */
    st32_le(cfg + 20, s->blk_size);
    st16_le(cfg + 34, s->ops.num_queues);
    st32_le(cfg + 36, MAX_DISCARD_SECTORS);
    st32_le(cfg + 40, 1);                                 /* max_discard_seg */
    st32_le(cfg + 44, s->blk_size >> SECTOR_SHIFT);       /* discard alignment */
    st32_le(cfg + 48, MAX_DISCARD_SECTORS);
    st32_le(cfg + 52, 1);                                 /* max_write_zeroes_seg */
    cfg[56] = 1;                                            /* write_zeroes_may_unmap */
}

static void blk_status_changed(VirtioDevice *vd, bool ok)
{
    VirtioBlk *s = (VirtioBlk *)vd;

    s->driver_ok = ok;
    if (!ok) {
        /* Requests of the old session must not touch the reset rings. */
        s->generation++;
        s->broken = false;
        blk_drain(s->blk);
    }
}

static void blk_finalize(VirtioDevice *vd)
{
    VirtioBlk *s = (VirtioBlk *)vd;

    s->generation++;
    blk_drain(s->blk);
    g_free(s->spare);
    s->spare = NULL;
}

bool virtio_blk_create(Machine *m, const VirtioBlkCfg *cfg, Opts *o, GError **errp)
{
    bool ro = blk_is_read_only(cfg->blk);
    VirtioBlk *s;

    if (cfg->num_queues < 1 || cfg->num_queues > VIRTIO_BLK_MAX_QUEUES) {
        error_setg(errp, "num-queues=%u out of range (1-%u)", cfg->num_queues,
                   VIRTIO_BLK_MAX_QUEUES);
        return false;
    }
    if (cfg->serial && strlen(cfg->serial) > VIRTIO_BLK_ID_BYTES) {
        error_setg(errp, "serial=%s is longer than %u bytes", cfg->serial,
                   VIRTIO_BLK_ID_BYTES);
        return false;
    }
    if (blk_is_attached(cfg->blk)) {
        error_setg(errp, "drive %s is already in use by a device", blk_name(cfg->blk));
        return false;
    }
    s = g_malloc0(sizeof(*s));
    s->ops = (VirtioDeviceOps){
        .name = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .pci_class = 0x0100,            /* mass storage, SCSI: as QEMU's */
        .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                    (1ull << VIRTIO_BLK_F_FLUSH) |
                    (ro ? 1ull << VIRTIO_BLK_F_RO
                        : (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES)) |
                    (cfg->num_queues > 1 ? 1ull << VIRTIO_BLK_F_MQ : 0),
        .num_queues = cfg->num_queues,
        .queue_size = BLK_QUEUE_SIZE,
        .config_size = VIRTIO_BLK_CONFIG_SIZE,
        .get_config = blk_get_config,
        .queue_notify = blk_queue_notify,
        .status_changed = blk_status_changed,
        .finalize = blk_finalize,
    };
    s->vd.ops = &s->ops;
    s->blk = cfg->blk;
    s->blk_size = blk_get_align(cfg->blk);
    s->capacity = (blk_getlength(cfg->blk) / s->blk_size) * (s->blk_size >> SECTOR_SHIFT);
    if (cfg->serial) {
        memcpy(s->serial, cfg->serial, strlen(cfg->serial));
    }
    if (!virtio_pci_create(m, &s->vd, o, cfg->id, errp)) {
        g_free(s);
        return false;
    }
    blk_attach(cfg->blk);
    return true;
}

static bool virtio_blk_pci_create(Machine *m, Opts *o, GError **errp)
{
    VirtioBlkCfg cfg = { 0 };
    const char *drive = opts_get(o, "drive");
    uint64_t nq;

    if (!opts_get_u64(o, "num-queues", 1, &nq, errp)) {
        return false;
    }
    cfg.serial = opts_get(o, "serial");
    cfg.id = opts_get(o, "id");
    cfg.num_queues = MIN(nq, (uint64_t)UINT32_MAX);
    if (!drive) {
        error_setg(errp, "virtio-blk-pci needs drive=ID");
        return false;
    }
    cfg.blk = blk_find(drive);
    if (!cfg.blk) {
        error_setg(errp, "drive=%s: no such -drive or -blockdev", drive);
        return false;
    }
    /* addr= is read by the transport; the rest must be known by now. */
    opts_get(o, "addr");
    if (!opts_check_all_used(o, "virtio-blk-pci", errp)) {
        return false;
    }
    return virtio_blk_create(m, &cfg, o, errp);
}

typedef struct AutoCtx {
    Machine *m;
    GError **errp;
    bool ok;
} AutoCtx;

static void create_auto(BlockBackend *blk, void *opaque)
{
    AutoCtx *ctx = opaque;
    VirtioBlkCfg cfg = { .blk = blk, .num_queues = 1 };
    Opts *none;

    if (!ctx->ok || blk_interface(blk) != BLK_IF_VIRTIO || blk_is_attached(blk)) {
        return;
    }
    /* An empty option list: the transport looks for addr= in it. */
    none = opts_parse("", NULL, ctx->errp);
    ctx->ok = none && virtio_blk_create(ctx->m, &cfg, none, ctx->errp);
    opts_free(none);
    if (!ctx->ok) {
        g_prefix_error(ctx->errp, "-drive %s (if=virtio): ", blk_name(blk));
    }
}

bool virtio_blk_create_for_drives(Machine *m, GError **errp)
{
    AutoCtx ctx = { .m = m, .errp = errp, .ok = true };

    blk_foreach(create_auto, &ctx);
    return ctx.ok;
}

const DeviceType virtio_blk_pci_type = {
    .name = "virtio-blk-pci",
    .help = "virtio disk, drive=ID[,num-queues=N][,serial=S][,addr=SLOT]",
    .create = virtio_blk_pci_create,
};
