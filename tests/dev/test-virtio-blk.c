/*
 * virtio-blk on fake virtqueues (virtio-fake.h) over a real raw image:
 * config space, reads and writes checked on the host file, GET_ID,
 * flush, discard and write-zeroes, read-only drives, hostile headers and
 * lengths, multiple queues, reset with requests in flight.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include "block/block.h"
#include "hw/block/virtio-blk.h"
#include "hw/device.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "virtio-fake.h"

#define IMG_SIZE (1u << 20)
#define SECTORS (IMG_SIZE / 512)

typedef struct Fixture {
    Machine *m;
    char *path;
    VirtioDevice *vd;
} Fixture;

/* A request the test builds: header + payload out, data + status in. */
typedef struct Req {
    uint8_t hdr[16];
    uint8_t status;
} Req;

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = v >> (8 * i);
    }
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void req_init(Req *r, uint32_t type, uint64_t sector)
{
    memset(r->hdr, 0, sizeof(r->hdr));
    put_le(r->hdr, type, 4);
    put_le(r->hdr + 8, sector, 8);
    r->status = 0xee;
}

static char *make_image(void)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("kemu-vblk-XXXXXX.img", &path, &err);
    g_autofree uint8_t *fill = g_malloc(IMG_SIZE);

    g_assert_no_error(err);
    for (unsigned i = 0; i < IMG_SIZE; i++) {
        fill[i] = i / 512;              /* each sector holds its number (mod 256) */
    }
    g_assert_cmpint(write(fd, fill, IMG_SIZE), ==, IMG_SIZE);
    close(fd);
    return path;
}

static bool create(Machine *m, const char *str, GError **errp)
{
    Opts *o = opts_parse(str, NULL, errp);
    bool ok;

    g_assert_nonnull(o);
    ok = virtio_blk_pci_type.create(m, o, errp);
    opts_free(o);
    return ok;
}

/* An image, drive d0 (@drive_opts added), and a driver-ready device on it. */
static void setup(Fixture *f, const char *drive_opts, const char *dev_opts)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *drive = NULL, *dev = NULL;

    f->m = g_new0(Machine, 1);
    f->m->pio = iobus_new("pio");
    f->m->mmio = iobus_new("mmio");
    f->path = make_image();
    drive = g_strdup_printf("file=%s,format=raw,if=none,id=d0%s", f->path, drive_opts);
    g_assert_true(blk_add_drive(drive, &err));
    g_assert_no_error(err);
    dev = g_strdup_printf("drive=d0%s", dev_opts);
    g_assert_true(create(f->m, dev, &err));
    g_assert_no_error(err);
    f->vd = fake_last_vd;
    g_assert_nonnull(f->vd);
    fake_driver_ok(f->vd);
}

static void teardown(Fixture *f)
{
    devices_free(f->m);
    blk_close_all();
    iobus_free(f->m->pio);
    iobus_free(f->m->mmio);
    g_free(f->m);
    unlink(f->path);
    g_free(f->path);
}

static gboolean timed_out(gpointer p)
{
    *(bool *)p = true;
    return G_SOURCE_REMOVE;
}

/* Notify queue @q and run the main loop until @want chains are used (5 s max). */
static void kick_and_wait(Fixture *f, unsigned q, unsigned want)
{
    VirtQueue *vq = virtio_queue(f->vd, q);
    bool expired = false;
    guint t = g_timeout_add(5000, timed_out, &expired);

    f->vd->ops->queue_notify(f->vd, q);
    while (fake_used_count(vq) < want && !expired) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_cmpuint(fake_used_count(vq), ==, want);
    if (!expired) {
        g_source_remove(t);
    }
}

static void file_read(Fixture *f, uint64_t off, void *buf, size_t len)
{
    int fd = open(f->path, O_RDONLY);

    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

static void test_config(void)
{
    Fixture f;
    uint8_t cfg[VIRTIO_BLK_CONFIG_SIZE];
    uint64_t feat;

    setup(&f, "", ",num-queues=2");
    g_assert_cmpuint(f.vd->ops->device_id, ==, VIRTIO_ID_BLOCK);
    g_assert_cmpuint(f.vd->ops->num_queues, ==, 2);
    g_assert_cmpuint(f.vd->ops->config_size, ==, VIRTIO_BLK_CONFIG_SIZE);
    feat = f.vd->host_features;
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_SEG_MAX));
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_BLK_SIZE));
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_FLUSH));
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_DISCARD));
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
    g_assert_true(feat & (1ull << VIRTIO_BLK_F_MQ));
    g_assert_false(feat & (1ull << VIRTIO_BLK_F_RO));
    f.vd->ops->get_config(f.vd, cfg);
    g_assert_cmpuint(get_le(cfg, 8), ==, SECTORS);
    g_assert_cmpuint(get_le(cfg + 12, 4), >=, 2);           /* seg_max */
    g_assert_cmpuint(get_le(cfg + 20, 4), ==, 512);         /* blk_size */
    g_assert_cmpuint(get_le(cfg + 34, 2), ==, 2);           /* num_queues */
    g_assert_cmpuint(get_le(cfg + 36, 4), >, 0);            /* max_discard_sectors */
    g_assert_cmpuint(get_le(cfg + 40, 4), ==, 1);
    g_assert_cmpuint(get_le(cfg + 48, 4), >, 0);            /* max_write_zeroes_sectors */
    g_assert_cmpuint(get_le(cfg + 52, 4), ==, 1);
    teardown(&f);
}

static void test_read_write(void)
{
    Fixture f;
    VirtQueue *vq;
    Req w, r;
    uint8_t src[4096], dst[4096 + 16], file[4096];
    struct iovec wout[3], win, rout, rin[3];

    setup(&f, "", "");
    vq = virtio_queue(f.vd, 0);
    for (unsigned i = 0; i < sizeof(src); i++) {
        src[i] = i * 13 + 5;
    }
    /* Header split across two buffers, data in a third. */
    req_init(&w, VIRTIO_BLK_T_OUT, 8);
    wout[0] = (struct iovec){ w.hdr, 4 };
    wout[1] = (struct iovec){ w.hdr + 4, 12 };
    wout[2] = (struct iovec){ src, sizeof(src) };
    win = (struct iovec){ &w.status, 1 };
    fake_post(vq, 1, wout, 3, &win, 1);
    kick_and_wait(&f, 0, 1);
    g_assert_cmpuint(w.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(fake_used(vq, 0).head, ==, 1);
    file_read(&f, 8 * 512, file, sizeof(file));
    g_assert_cmpmem(file, sizeof(file), src, sizeof(src));
    file_read(&f, 7 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 7);
    file_read(&f, 16 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 16);

    /* Read it back through three buffers; the status rides on the last. */
    memset(dst, 0x55, sizeof(dst));
    req_init(&r, VIRTIO_BLK_T_IN, 8);
    rout = (struct iovec){ r.hdr, 16 };
    rin[0] = (struct iovec){ dst, 1000 };
    rin[1] = (struct iovec){ dst + 1000, 4096 - 1000 };
    rin[2] = (struct iovec){ &r.status, 1 };
    fake_post(vq, 2, &rout, 1, rin, 3);
    kick_and_wait(&f, 0, 2);
    g_assert_cmpuint(r.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(dst, 4096, src, sizeof(src));
    g_assert_cmpuint(dst[4096], ==, 0x55);
    g_assert_cmpuint(fake_used(vq, 1).written, ==, 4097);
    g_assert_cmpuint(vq->notifies, >=, 2);
    teardown(&f);
}

/* Post header-only (+ @payload) out, @inlen writable bytes incl. status. */
static void post_simple(VirtQueue *vq, uint16_t head, Req *r, const void *payload,
                        size_t plen, uint8_t *inbuf, size_t inlen)
{
    struct iovec out[2] = { { r->hdr, 16 }, { (void *)payload, plen } };
    struct iovec in[2] = { { inbuf, inlen }, { &r->status, 1 } };

    fake_post(vq, head, out, payload ? 2 : 1, inbuf ? in : in + 1, inbuf ? 2 : 1);
}

static void test_get_id_flush(void)
{
    Fixture f;
    VirtQueue *vq;
    Req id, shortid, fl;
    uint8_t buf[24], small[4];

    setup(&f, "", ",serial=KEMU-SN-0001");
    vq = virtio_queue(f.vd, 0);
    memset(buf, 0x77, sizeof(buf));
    memset(small, 0x77, sizeof(small));
    req_init(&id, VIRTIO_BLK_T_GET_ID, 0);
    post_simple(vq, 1, &id, NULL, 0, buf, 20);
    req_init(&shortid, VIRTIO_BLK_T_GET_ID, 0);
    post_simple(vq, 2, &shortid, NULL, 0, small, 3);
    req_init(&fl, VIRTIO_BLK_T_FLUSH, 0);
    post_simple(vq, 3, &fl, NULL, 0, NULL, 0);
    kick_and_wait(&f, 0, 3);
    g_assert_cmpuint(id.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(buf, 12, "KEMU-SN-0001", 12);
    for (unsigned i = 12; i < 20; i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }
    g_assert_cmpuint(buf[20], ==, 0x77);
    g_assert_cmpuint(shortid.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpmem(small, 3, "KEM", 3);
    g_assert_cmpuint(small[3], ==, 0x77);
    g_assert_cmpuint(fl.status, ==, VIRTIO_BLK_S_OK);
    teardown(&f);
}

static void discard_seg(uint8_t *seg, uint64_t sector, uint32_t n, uint32_t flags)
{
    put_le(seg, sector, 8);
    put_le(seg + 8, n, 4);
    put_le(seg + 12, flags, 4);
}

static void test_discard_zeroes(void)
{
    Fixture f;
    VirtQueue *vq;
    Req d, z, du, bad, big, two;
    uint8_t sd[16], sz[16], sdu[16], sbad[16], sbig[16], stwo[32], file[512];

    setup(&f, "", "");
    vq = virtio_queue(f.vd, 0);
    req_init(&d, VIRTIO_BLK_T_DISCARD, 0);
    discard_seg(sd, 16, 8, 0);
    post_simple(vq, 1, &d, sd, 16, NULL, 0);
    req_init(&z, VIRTIO_BLK_T_WRITE_ZEROES, 0);
    discard_seg(sz, 40, 3, 1);
    post_simple(vq, 2, &z, sz, 16, NULL, 0);
    req_init(&du, VIRTIO_BLK_T_DISCARD, 0);
    discard_seg(sdu, 16, 8, 1);                             /* unmap on discard */
    post_simple(vq, 3, &du, sdu, 16, NULL, 0);
    req_init(&bad, VIRTIO_BLK_T_WRITE_ZEROES, 0);
    discard_seg(sbad, 16, 8, 4);                            /* unknown flag */
    post_simple(vq, 4, &bad, sbad, 16, NULL, 0);
    req_init(&big, VIRTIO_BLK_T_WRITE_ZEROES, 0);
    discard_seg(sbig, SECTORS - 2, 8, 0);                   /* past the end */
    post_simple(vq, 5, &big, sbig, 16, NULL, 0);
    req_init(&two, VIRTIO_BLK_T_DISCARD, 0);
    discard_seg(stwo, 0, 1, 0);
    discard_seg(stwo + 16, 2, 1, 0);                        /* max_discard_seg is 1 */
    post_simple(vq, 6, &two, stwo, 32, NULL, 0);
    kick_and_wait(&f, 0, 6);
    g_assert_cmpuint(d.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(z.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(du.status, ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(bad.status, ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(big.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(two.status, ==, VIRTIO_BLK_S_IOERR);
    for (unsigned s = 40; s < 43; s++) {
        file_read(&f, s * 512, file, 512);
        g_assert_cmpuint(file[0], ==, 0);
        g_assert_cmpuint(file[511], ==, 0);
    }
    file_read(&f, 43 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 43);
    file_read(&f, 0, file, 512);
    g_assert_cmpuint(file[0], ==, 0);
    file_read(&f, 2 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 2);
    teardown(&f);
}

static void test_readonly(void)
{
    Fixture f;
    VirtQueue *vq;
    Req w, d, r;
    uint8_t data[512], seg[16], rd[512], file[512];

    setup(&f, ",readonly=on", "");
    vq = virtio_queue(f.vd, 0);
    g_assert_true(f.vd->host_features & (1ull << VIRTIO_BLK_F_RO));
    g_assert_false(f.vd->host_features & (1ull << VIRTIO_BLK_F_DISCARD));
    memset(data, 0x99, sizeof(data));
    req_init(&w, VIRTIO_BLK_T_OUT, 3);
    post_simple(vq, 1, &w, data, sizeof(data), NULL, 0);
    req_init(&d, VIRTIO_BLK_T_DISCARD, 0);
    discard_seg(seg, 0, 8, 0);
    post_simple(vq, 2, &d, seg, 16, NULL, 0);
    req_init(&r, VIRTIO_BLK_T_IN, 3);
    post_simple(vq, 3, &r, NULL, 0, rd, sizeof(rd));
    kick_and_wait(&f, 0, 3);
    g_assert_cmpuint(w.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(d.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(r.status, ==, VIRTIO_BLK_S_OK);
    g_assert_cmpuint(rd[0], ==, 3);
    file_read(&f, 3 * 512, file, 512);
    g_assert_cmpuint(file[0], ==, 3);
    teardown(&f);
}

static void test_hostile(void)
{
    Fixture f;
    VirtQueue *vq;
    Req end, wrap, odd, unk, ok;
    uint8_t buf[1024], tiny[8], st_short = 0xee;
    struct iovec sh_out, sh_in, nostat_out, ok_out;
    g_autofree struct iovec *many = g_new(struct iovec, VIRTQ_MAX_SG - 1);
    g_autofree uint8_t *big = g_malloc0(512 * (VIRTQ_MAX_SG - 2));
    unsigned resets;

    setup(&f, "", "");
    vq = virtio_queue(f.vd, 0);
    req_init(&end, VIRTIO_BLK_T_IN, SECTORS - 1);           /* 2 sectors, 1 left */
    post_simple(vq, 1, &end, NULL, 0, buf, 1024);
    req_init(&wrap, VIRTIO_BLK_T_OUT, UINT64_MAX - 1);      /* sector + n wraps */
    post_simple(vq, 2, &wrap, buf, 1024, NULL, 0);
    req_init(&odd, VIRTIO_BLK_T_IN, 0);                     /* not whole sectors */
    post_simple(vq, 3, &odd, NULL, 0, buf, 100);
    req_init(&unk, 99, 0);
    post_simple(vq, 4, &unk, NULL, 0, NULL, 0);
    /* An 8-byte header with a status byte: IOERR. */
    sh_out = (struct iovec){ tiny, sizeof(tiny) };
    sh_in = (struct iovec){ &st_short, 1 };
    fake_post(vq, 5, &sh_out, 1, &sh_in, 1);
    /* 1022 one-sector segments and the status in one read: served. */
    req_init(&ok, VIRTIO_BLK_T_IN, 0);
    ok_out = (struct iovec){ ok.hdr, 16 };
    for (unsigned i = 0; i < VIRTQ_MAX_SG - 2; i++) {
        many[i] = (struct iovec){ big + 512 * i, 512 };
    }
    many[VIRTQ_MAX_SG - 2] = (struct iovec){ &ok.status, 1 };
    fake_post(vq, 6, &ok_out, 1, many, VIRTQ_MAX_SG - 1);
    kick_and_wait(&f, 0, 6);
    g_assert_cmpuint(end.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(wrap.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(odd.status, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(unk.status, ==, VIRTIO_BLK_S_UNSUPP);
    g_assert_cmpuint(st_short, ==, VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(ok.status, ==, VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < VIRTQ_MAX_SG - 2; i++) {
        g_assert_cmpuint(big[512 * i], ==, (uint8_t)i);
    }

    /* No writable byte at all: nowhere to put a status, so NEEDS_RESET. */
    resets = fake_needs_reset_count;
    req_init(&end, VIRTIO_BLK_T_FLUSH, 0);
    nostat_out = (struct iovec){ end.hdr, 16 };
    fake_post(vq, 7, &nostat_out, 1, NULL, 0);
    kick_and_wait(&f, 0, 7);
    g_assert_cmpuint(fake_needs_reset_count, ==, resets + 1);
    g_assert_cmpuint(fake_used(vq, 6).written, ==, 0);
    /* Broken until the driver resets it; then it serves again. */
    req_init(&ok, VIRTIO_BLK_T_FLUSH, 0);
    post_simple(vq, 8, &ok, NULL, 0, NULL, 0);
    f.vd->ops->queue_notify(f.vd, 0);
    g_assert_cmpuint(fake_used_count(vq), ==, 7);
    fake_reset(f.vd);
    fake_driver_ok(f.vd);
    post_simple(vq, 9, &ok, NULL, 0, NULL, 0);
    kick_and_wait(&f, 0, 1);
    g_assert_cmpuint(ok.status, ==, VIRTIO_BLK_S_OK);
    teardown(&f);
}

/* Requests complete on the queue they came from. */
static void test_multiqueue(void)
{
    Fixture f;
    Req a, b;
    uint8_t ba[512], bb[512];

    setup(&f, "", ",num-queues=4");
    req_init(&a, VIRTIO_BLK_T_IN, 5);
    post_simple(virtio_queue(f.vd, 3), 1, &a, NULL, 0, ba, 512);
    req_init(&b, VIRTIO_BLK_T_IN, 6);
    post_simple(virtio_queue(f.vd, 1), 2, &b, NULL, 0, bb, 512);
    kick_and_wait(&f, 3, 1);
    kick_and_wait(&f, 1, 1);
    g_assert_cmpuint(fake_used_count(virtio_queue(f.vd, 0)), ==, 0);
    g_assert_cmpuint(ba[0], ==, 5);
    g_assert_cmpuint(bb[0], ==, 6);
    teardown(&f);
}

/*
 * A read the host page cache holds completes during the queue notify
 * itself (no worker, no main-loop iteration); under cache=writethrough
 * (O_DSYNC) it goes through the engine and completes on the main loop.
 */
static void test_inline_completion(void)
{
    static const char *const modes[] = { "", ",cache=writethrough" };

    for (unsigned k = 0; k < G_N_ELEMENTS(modes); k++) {
        Fixture f;
        VirtQueue *vq;
        Req r;
        uint8_t buf[4096];

        setup(&f, modes[k], "");
        vq = virtio_queue(f.vd, 0);
        req_init(&r, VIRTIO_BLK_T_IN, 7);
        post_simple(vq, 1, &r, NULL, 0, buf, sizeof(buf));
        f.vd->ops->queue_notify(f.vd, 0);
        g_assert_cmpuint(fake_used_count(vq), ==, k == 0 ? 1 : 0);
        kick_and_wait(&f, 0, 1);
        g_assert_cmpuint(r.status, ==, VIRTIO_BLK_S_OK);
        g_assert_cmpuint(buf[0], ==, 7);
        g_assert_cmpuint(buf[4095], ==, 14);
        teardown(&f);
    }
}

/* A reset with a request in flight: it finishes but is never pushed. */
static void test_reset_in_flight(void)
{
    Fixture f;
    VirtQueue *vq;
    Req r;
    uint8_t buf[4096];

    /* O_DSYNC: the read cannot complete inline (test_inline_completion). */
    setup(&f, ",cache=writethrough", "");
    vq = virtio_queue(f.vd, 0);
    req_init(&r, VIRTIO_BLK_T_IN, 0);
    post_simple(vq, 1, &r, NULL, 0, buf, sizeof(buf));
    f.vd->ops->queue_notify(f.vd, 0);
    g_assert_cmpuint(fake_used_count(vq), ==, 0);
    f.vd->ops->status_changed(f.vd, false);
    g_assert_cmpuint(fake_used_count(vq), ==, 0);
    g_assert_cmpuint(r.status, ==, 0xee);
    while (g_main_context_iteration(NULL, FALSE)) {
        continue;
    }
    g_assert_cmpuint(fake_used_count(vq), ==, 0);
    teardown(&f);
}

static void expect_create_error(Machine *m, const char *str, const char *fragment)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(create(m, str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, fragment)) {
        g_error("'%s' not in '%s'", fragment, err->message);
    }
}

static void test_create_errors(void)
{
    Fixture f;
    g_autoptr(GError) err = NULL;
    g_autofree char *drive = NULL;

    setup(&f, "", "");
    expect_create_error(f.m, "drive=d0", "already in use");
    expect_create_error(f.m, "serial=x", "drive=");
    expect_create_error(f.m, "drive=nope", "no such");
    drive = g_strdup_printf("file=%s,format=raw,if=none,id=d1", f.path);
    g_assert_true(blk_add_drive(drive, &err));
    expect_create_error(f.m, "drive=d1,num-queues=0", "num-queues");
    expect_create_error(f.m, "drive=d1,num-queues=17", "num-queues");
    expect_create_error(f.m, "drive=d1,serial=123456789012345678901", "serial");
    expect_create_error(f.m, "drive=d1,colour=blue", "colour");
    g_assert_false(blk_is_attached(blk_find("d1")));
    g_assert_true(create(f.m, "drive=d1,serial=12345678901234567890", &err));
    g_assert_no_error(err);
    teardown(&f);
}

/* -drive if=virtio gets a device of its own; if=none does not. */
static void test_auto_create(void)
{
    Machine *m = g_new0(Machine, 1);
    g_autofree char *path = make_image();
    g_autofree char *d1 = g_strdup_printf("file=%s,format=raw,if=virtio", path);
    g_autofree char *d2 = g_strdup_printf("file=%s,format=raw,if=none,id=spare", path);
    g_autoptr(GError) err = NULL;

    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    g_assert_true(blk_add_drive(d1, &err));
    g_assert_true(blk_add_drive(d2, &err));
    fake_last_vd = NULL;
    g_assert_true(virtio_blk_create_for_drives(m, &err));
    g_assert_no_error(err);
    g_assert_nonnull(fake_last_vd);
    g_assert_false(blk_is_attached(blk_find("spare")));
    fake_last_vd = NULL;
    g_assert_true(virtio_blk_create_for_drives(m, &err));
    g_assert_null(fake_last_vd);
    devices_free(m);
    blk_close_all();
    iobus_free(m->pio);
    iobus_free(m->mmio);
    g_free(m);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-blk/config", test_config);
    g_test_add_func("/virtio-blk/read-write", test_read_write);
    g_test_add_func("/virtio-blk/get-id-flush", test_get_id_flush);
    g_test_add_func("/virtio-blk/discard-zeroes", test_discard_zeroes);
    g_test_add_func("/virtio-blk/readonly", test_readonly);
    g_test_add_func("/virtio-blk/hostile", test_hostile);
    g_test_add_func("/virtio-blk/multiqueue", test_multiqueue);
    g_test_add_func("/virtio-blk/inline-completion", test_inline_completion);
    g_test_add_func("/virtio-blk/reset-in-flight", test_reset_in_flight);
    g_test_add_func("/virtio-blk/create-errors", test_create_errors);
    g_test_add_func("/virtio-blk/auto-create", test_auto_create);
    return g_test_run();
}
