/*
 * libFuzzer harness for virtio-blk request parsing (hw/block/virtio-blk.c)
 * over a real raw image in a temporary file. The transport and ring are
 * the test stand-ins of tests/dev/virtio-fake.h, so the input describes
 * descriptor chains directly: per request, how many device-readable and
 * device-writable segments, their lengths, and the readable bytes (the
 * 16-byte header first: type, reserved, sector; then data or a
 * discard/write-zeroes segment). Each segment is its own heap block, so
 * ASan sees any access past a guest buffer.
 *
 * Invariants checked: no crash or sanitizer report; every chain the device
 * took is returned within 5 s; a returned chain with a status byte holds
 * OK, IOERR or UNSUPP there, and the written length never exceeds the
 * writable bytes (asserted by the fake queue); a chain without a status
 * byte leaves the device NEEDS_RESET.
 *
 * Run (clang only; CI bounds it in time):
 *   CC=clang meson setup build-fuzz
 *   ninja -C build-fuzz tests/fuzz/fuzz-virtio-blk
 *   build-fuzz/tests/fuzz/fuzz-virtio-blk -max_total_time=60 -rss_limit_mb=2048
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include "block/block.h"
#include "hw/block/virtio-blk.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "../dev/virtio-fake.h"

#define IMG_SIZE (64u << 10)        /* 128 sectors: in-range requests are likely */
#define MAX_REQS 8
#define MAX_SEGS 3                  /* per direction */
#define MAX_SEG_LEN 4096
#define STATUS_UNSET 0xee

static const uint32_t req_types[] = {
    VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
    VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES,
};

/* A request as posted: its buffers, and where its status byte is (or NULL). */
typedef struct FzReq {
    unsigned nout, nin;
    struct iovec out[MAX_SEGS], in[MAX_SEGS];
    uint8_t *status;
} FzReq;

/* A cursor over the input; reads past the end give zeros. */
typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

static uint8_t in_u8(Input *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static uint64_t in_le(Input *in, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)in_u8(in) << (8 * i);
    }
    return v;
}

static VirtioDevice *fz_vd;
static char *fz_path;

static void fz_cleanup(void)
{
    unlink(fz_path);
}

static void fz_setup(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *drive = NULL;
    Machine *m = g_new0(Machine, 1);
    int fd = g_file_open_tmp("kemu-fuzz-vblk-XXXXXX.img", &fz_path, &err);
    Opts *o;

    if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0) {
        abort();
    }
    close(fd);
    atexit(fz_cleanup);
    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    drive = g_strdup_printf("file=%s,format=raw,if=none,id=d0", fz_path);
    o = opts_parse("drive=d0,serial=FUZZ-SERIAL", NULL, &err);
    if (!blk_add_drive(drive, &err) || !o || !virtio_blk_pci_type.create(m, o, &err)) {
        abort();
    }
    opts_free(o);
    fz_vd = fake_last_vd;
}

/*
 * The first 16 readable bytes are the header; the input picks a known
 * request type most of the time and a sector near the disk, so the
 * fuzzer reaches the type handlers instead of the UNSUPP/IOERR paths.
 */
static void fill_out(Input *in, FzReq *r)
{
    uint8_t mode = in_u8(in);
    uint8_t hdr[16];

    for (unsigned i = 0; i < r->nout; i++) {
        for (size_t k = 0; k < r->out[i].iov_len; k++) {
            ((uint8_t *)r->out[i].iov_base)[k] = in_u8(in);
        }
    }
    if (mode & 1) {
        uint32_t type = req_types[(mode >> 1) % G_N_ELEMENTS(req_types)];
        uint64_t sector = in_le(in, 2) % (IMG_SIZE / 512 + 4);

        memset(hdr, 0, sizeof(hdr));
        for (unsigned i = 0; i < 4; i++) {
            hdr[i] = type >> (8 * i);
        }
        for (unsigned i = 0; i < 8; i++) {
            hdr[8 + i] = sector >> (8 * i);
        }
        iov_from_buf(r->out, r->nout, 0, hdr, sizeof(hdr));
    }
}

/* Build one request from the input and post it as head @head. */
static void post_one(Input *in, VirtQueue *vq, uint16_t head, FzReq *r)
{
    uint8_t shape = in_u8(in);

    r->nout = shape % (MAX_SEGS + 1);
    r->nin = (shape >> 2) % (MAX_SEGS + 1);
    for (unsigned i = 0; i < r->nout; i++) {
        size_t len = in_le(in, 2) % (MAX_SEG_LEN + 1);
        r->out[i] = (struct iovec){ g_malloc(len ? len : 1), len };
    }
    r->status = NULL;
    for (unsigned i = 0; i < r->nin; i++) {
        size_t len = in_le(in, 2) % (MAX_SEG_LEN + 1);
        uint8_t *b = g_malloc(len ? len : 1);

        memset(b, STATUS_UNSET, len ? len : 1);
        r->in[i] = (struct iovec){ b, len };
        if (len) {
            r->status = b + len - 1;
        }
    }
    fill_out(in, r);
    fake_post(vq, head, r->out, r->nout, r->in, r->nin);
}

static void free_req(FzReq *r)
{
    for (unsigned i = 0; i < r->nout; i++) {
        g_free(r->out[i].iov_base);
    }
    for (unsigned i = 0; i < r->nin; i++) {
        g_free(r->in[i].iov_base);
    }
}

static gboolean timed_out(gpointer p)
{
    *(bool *)p = true;
    return G_SOURCE_REMOVE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    Input in = { data, len };
    FzReq reqs[MAX_REQS];
    unsigned n, want;
    VirtQueue *vq;
    bool expired = false;
    guint t;

    if (!fz_vd) {
        fz_setup();
    }
    /* A fresh session: reset clears NEEDS_RESET and the broken flag. */
    fz_vd->ops->status_changed(fz_vd, false);
    fz_vd->status = 0;
    fz_vd->ops->status_changed(fz_vd, true);
    vq = virtio_queue(fz_vd, 0);
    g_array_set_size(vq->used, 0);

    n = in_u8(&in) % MAX_REQS + 1;
    want = n;
    for (unsigned i = 0; i < n; i++) {
        post_one(&in, vq, i, &reqs[i]);
        if (!reqs[i].status && want == n) {
            want = i + 1;       /* the device stops at the first one without status */
        }
    }

    t = g_timeout_add(5000, timed_out, &expired);
    fz_vd->ops->queue_notify(fz_vd, 0);
    while (vq->used->len < want && !expired) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (expired || vq->used->len != want) {
        abort();
    }
    g_source_remove(t);

    for (unsigned i = 0; i < want; i++) {
        const FakeUsed *u = &g_array_index(vq->used, FakeUsed, i);
        const FzReq *r = &reqs[u->head];

        if (!r->status) {
            if (!(fz_vd->status & FAKE_STATUS_NEEDS_RESET) || u->written != 0) {
                abort();
            }
        } else if (*r->status > VIRTIO_BLK_S_UNSUPP) {
            abort();
        }
    }
    g_queue_clear_full(&vq->avail, g_free);
    for (unsigned i = 0; i < n; i++) {
        free_req(&reqs[i]);
    }
    return 0;
}
