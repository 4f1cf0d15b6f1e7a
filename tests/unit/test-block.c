/*
 * Block backends (block/): raw-file I/O, cache modes, read-only refusal,
 * discard and write-zeroes, completions on the main loop, -drive and
 * -blockdev parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>
#include "blk-test.h"
#include "block/block.h"
#include "../../block/block-internal.h"

#define IMG_SIZE (1u << 20)

/* A 1 MiB image filled with byte 0xAA; returns its path. */
static char *make_image(void)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("kemu-blk-XXXXXX.img", &path, &err);
    g_autofree uint8_t *fill = g_malloc(IMG_SIZE);

    g_assert_no_error(err);
    memset(fill, 0xaa, IMG_SIZE);
    g_assert_cmpint(write(fd, fill, IMG_SIZE), ==, IMG_SIZE);
    close(fd);
    return path;
}

static BlockBackend *open_img(const char *path, BlockCacheMode cache, bool ro)
{
    g_autoptr(GError) err = NULL;
    BlockOpenCfg cfg = { .filename = path, .cache = cache, .readonly = ro };
    BlockBackend *blk = blk_open(&cfg, &err);

    g_assert_no_error(err);
    g_assert_nonnull(blk);
    return blk;
}

/* Write through two segments, check the file, read back through three. */
static void check_rw(BlockCacheMode cache)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, cache, false);
    /* Odd buffer addresses: O_DIRECT must bounce them. */
    g_autofree uint8_t *src = g_malloc(8192 + 1), *dst = g_malloc(8192 + 3);
    uint8_t file[8192];
    struct iovec w[2] = { { src + 1, 512 }, { src + 513, 8192 - 512 } };
    struct iovec r[3] = { { dst + 3, 1024 }, { dst + 1027, 4096 }, { dst + 5123, 3072 } };

    for (unsigned i = 0; i < 8193; i++) {
        src[i] = i * 7 + 1;
    }
    g_assert_cmpint(blk_test_rw(blk, true, 65536, w, 2), ==, 0);
    blk_test_read_file_at(path, 65536, file, sizeof(file));
    g_assert_cmpmem(file, sizeof(file), src + 1, 8192);
    g_assert_cmpint(blk_test_rw(blk, false, 65536, r, 3), ==, 0);
    g_assert_cmpmem(dst + 3, 8192, src + 1, 8192);

    BlkTestDone d = { 0 };
    blk_aio_flush(blk, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, 0);
    blk_close(blk);
    unlink(path);
}

static void test_rw_writeback(void)
{
    check_rw(BLK_CACHE_WRITEBACK);
}

static void test_rw_none(void)
{
    check_rw(BLK_CACHE_NONE);
}

static void test_rw_writethrough(void)
{
    check_rw(BLK_CACHE_WRITETHROUGH);
}

static void test_rw_unsafe(void)
{
    check_rw(BLK_CACHE_UNSAFE);
}

static void test_open_flags(void)
{
    g_autofree char *path = make_image();
    static const struct { BlockCacheMode mode; int want, refuse; } cases[] = {
        { BLK_CACHE_WRITEBACK, 0, O_DIRECT | O_DSYNC },
        { BLK_CACHE_NONE, O_DIRECT, O_DSYNC },
        { BLK_CACHE_WRITETHROUGH, O_DSYNC, O_DIRECT },
        { BLK_CACHE_UNSAFE, 0, O_DIRECT | O_DSYNC },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        BlockBackend *blk = open_img(path, cases[i].mode, false);
        int fl = blk_open_flags(blk);
        g_assert_cmpint(fl & cases[i].want, ==, cases[i].want);
        g_assert_cmpint(fl & cases[i].refuse, ==, 0);
        g_assert_cmpint(fl & O_ACCMODE, ==, O_RDWR);
        g_assert_cmpuint(blk_getlength(blk), ==, IMG_SIZE);
        g_assert_cmpint(blk_cache_mode(blk), ==, cases[i].mode);
        blk_close(blk);
    }
    BlockBackend *ro = open_img(path, BLK_CACHE_WRITEBACK, true);
    g_assert_cmpint(blk_open_flags(ro) & O_ACCMODE, ==, O_RDONLY);
    blk_close(ro);
    unlink(path);
}

static void test_readonly(void)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, BLK_CACHE_WRITEBACK, true);
    uint8_t buf[512] = { 0 }, file[512];
    struct iovec iov = { buf, sizeof(buf) };
    BlkTestDone d = { 0 };

    g_assert_true(blk_is_read_only(blk));
    g_assert_cmpint(blk_test_rw(blk, true, 0, &iov, 1), ==, -EROFS);
    blk_aio_discard(blk, 0, 4096, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, -EROFS);
    d = (BlkTestDone){ 0 };
    blk_aio_write_zeroes(blk, 0, 4096, true, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, -EROFS);
    g_assert_cmpint(blk_pwrite(blk, 0, buf, sizeof(buf)), ==, -EROFS);
    d = (BlkTestDone){ 0 };
    blk_aio_flush(blk, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, 0);
    g_assert_cmpint(blk_test_rw(blk, false, 0, &iov, 1), ==, 0);
    blk_test_read_file_at(path, 0, file, sizeof(file));
    g_assert_cmpmem(buf, sizeof(buf), file, sizeof(file));
    g_assert_cmpuint(buf[0], ==, 0xaa);
    blk_close(blk);
    unlink(path);
}

static void check_zeroed(BlockCacheMode cache, bool discard, bool unmap)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, cache, false);
    uint8_t file[3 * 4096], zero[4096] = { 0 };
    struct stat st;
    BlkTestDone d = { 0 };

    if (discard) {
        blk_aio_discard(blk, 4096, 4096, blk_test_done_cb, &d);
    } else {
        blk_aio_write_zeroes(blk, 4096, 4096, unmap, blk_test_done_cb, &d);
    }
    g_assert_cmpint(blk_test_wait(&d), ==, 0);
    blk_test_read_file_at(path, 0, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 0xaa);
    g_assert_cmpuint(file[4095], ==, 0xaa);
    /* ext4 and tmpfs punch holes; a discard elsewhere may keep the data. */
    if (!discard || file[4096] == 0) {
        g_assert_cmpmem(file + 4096, 4096, zero, 4096);
    }
    g_assert_cmpuint(file[8192], ==, 0xaa);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, IMG_SIZE);
    blk_close(blk);
    unlink(path);
}

static void test_discard(void)
{
    check_zeroed(BLK_CACHE_WRITEBACK, true, false);
    check_zeroed(BLK_CACHE_NONE, true, false);
}

static void test_write_zeroes(void)
{
    check_zeroed(BLK_CACHE_WRITEBACK, false, false);
    check_zeroed(BLK_CACHE_WRITEBACK, false, true);
    check_zeroed(BLK_CACHE_NONE, false, true);
    check_zeroed(BLK_CACHE_WRITETHROUGH, false, false);
}

static void test_out_of_range(void)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, BLK_CACHE_WRITEBACK, false);
    BlockBackend *direct = open_img(path, BLK_CACHE_NONE, false);
    uint8_t buf[1024];
    struct iovec iov = { buf, sizeof(buf) };
    BlkTestDone d = { 0 };

    g_assert_cmpint(blk_test_rw(blk, false, IMG_SIZE - 512, &iov, 1), ==, -EINVAL);
    g_assert_cmpint(blk_test_rw(blk, true, UINT64_MAX - 100, &iov, 1), ==, -EINVAL);
    blk_aio_discard(blk, IMG_SIZE, 4096, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, -EINVAL);
    /* O_DIRECT needs aligned offsets. */
    g_assert_cmpint(blk_test_rw(direct, false, 100, &iov, 1), ==, -EINVAL);
    g_assert_cmpint(blk_test_rw(direct, false, 512, &iov, 1), ==, 0);
    blk_close(direct);
    blk_close(blk);
    unlink(path);
}

/* Completions run on the main loop only, never from inside the submit call. */
static void test_async_main_loop(void)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, BLK_CACHE_WRITEBACK, false);
    BlkTestDone d[16] = { 0 };
    uint8_t bufs[16][512];
    struct iovec iov[16];

    for (unsigned i = 0; i < 16; i++) {
        memset(bufs[i], i, sizeof(bufs[i]));
        iov[i] = (struct iovec){ bufs[i], 512 };
        blk_aio_pwritev(blk, i * 512, &iov[i], 1, blk_test_done_cb, &d[i]);
        g_assert_false(d[i].done);
    }
    for (unsigned i = 0; i < 16; i++) {
        g_assert_cmpint(blk_test_wait(&d[i]), ==, 0);
    }
    /* blk_drain runs callbacks without the main loop. */
    memset(d, 0, sizeof(d));
    for (unsigned i = 0; i < 16; i++) {
        memset(bufs[i], 0, sizeof(bufs[i]));
        blk_aio_preadv(blk, i * 512, &iov[i], 1, blk_test_done_cb, &d[i]);
    }
    blk_drain(blk);
    for (unsigned i = 0; i < 16; i++) {
        g_assert_true(d[i].done);
        g_assert_cmpint(d[i].ret, ==, 0);
        g_assert_cmpuint(bufs[i][0], ==, i);
        g_assert_cmpuint(bufs[i][511], ==, i);
    }
    blk_close(blk);
    unlink(path);
}

static void expect_drive_error(const char *str, const char *fragment)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(blk_add_drive(str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, fragment)) {
        g_error("'%s' not in '%s'", fragment, err->message);
    }
}

/*
 * blk_io_plug/unplug: a cached read is done at submission but its callback
 * waits for the outermost unplug; a flush and an O_DSYNC (writethrough)
 * read go to the engine as usual; blk_drain() also runs plugged
 * completions.
 */
static void test_plug(void)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, BLK_CACHE_WRITEBACK, false);
    uint8_t buf[4096], file[4096];
    struct iovec iov = { buf, sizeof(buf) };
    BlkTestDone d[3] = { { 0 } };

    blk_test_read_file_at(path, 8192, file, sizeof(file));   /* now cached */
    blk_io_plug(blk);
    blk_io_plug(blk);
    blk_aio_preadv(blk, 8192, &iov, 1, blk_test_done_cb, &d[0]);
    blk_aio_flush(blk, blk_test_done_cb, &d[1]);
    g_assert_false(d[0].done);
    blk_io_unplug(blk);
    g_assert_false(d[0].done);
    blk_io_unplug(blk);
    /* Done at submission (a worker would need the main loop to report). */
    g_assert_true(d[0].done);
    g_assert_cmpint(d[0].ret, ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), file, sizeof(file));
    blk_test_wait_all(&d[1], 1);
    g_assert_cmpint(d[1].ret, ==, 0);

    memset(buf, 0, sizeof(buf));
    memset(d, 0, sizeof(d));
    blk_io_plug(blk);
    blk_aio_preadv(blk, 8192, &iov, 1, blk_test_done_cb, &d[0]);
    blk_drain(blk);
    g_assert_true(d[0].done);
    g_assert_cmpmem(buf, sizeof(buf), file, sizeof(file));
    blk_io_unplug(blk);
    blk_close(blk);

    /* writethrough (O_DSYNC): never inline. */
    blk = open_img(path, BLK_CACHE_WRITETHROUGH, false);
    memset(d, 0, sizeof(d));
    blk_io_plug(blk);
    blk_aio_preadv(blk, 8192, &iov, 1, blk_test_done_cb, &d[0]);
    blk_io_unplug(blk);
    g_assert_false(d[0].done);
    blk_test_wait_all(d, 1);
    g_assert_cmpint(d[0].ret, ==, 0);
    blk_close(blk);
    unlink(path);
}

/* A plugged write of @len bytes of @fill at @off; true if it was done at
   submission (its callback ran at the unplug). Waits for it either way. */
static bool plugged_write(BlockBackend *blk, uint64_t off, size_t len, uint8_t fill)
{
    g_autofree uint8_t *buf = g_malloc(len);
    struct iovec iov = { buf, len };
    BlkTestDone d = { 0 };
    bool inline_done;

    memset(buf, fill, len);
    blk_io_plug(blk);
    blk_aio_pwritev(blk, off, &iov, 1, blk_test_done_cb, &d);
    blk_io_unplug(blk);
    inline_done = d.done;
    blk_test_wait_all(&d, 1);
    g_assert_cmpint(d.ret, ==, 0);
    return inline_done;
}

static void assert_file_bytes(const char *path, uint64_t off, size_t len, uint8_t fill)
{
    g_autofree uint8_t *file = g_malloc(len), *want = g_malloc(len);

    memset(want, fill, len);
    blk_test_read_file_at(path, off, file, len);
    g_assert_cmpmem(file, len, want, len);
}

/*
 * Plugged writes where the file system refuses RWF_NOWAIT for buffered
 * writes (as ext4 does; forced here so every file system runs this path):
 * a small one is done at submission; a large one, and any while inline
 * writes are paused after a slow one, go to the engine.
 */
static void test_plug_write(void)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_img(path, BLK_CACHE_WRITEBACK, false);

    blk->nowait_writes_off = true;
    g_assert_true(plugged_write(blk, 16384, 4096, 0x11));
    assert_file_bytes(path, 16384, 4096, 0x11);
    g_assert_false(plugged_write(blk, 65536, 256 << 10, 0x22));
    assert_file_bytes(path, 65536, 256 << 10, 0x22);
    blk->inline_writes_resume = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    g_assert_false(plugged_write(blk, 16384, 4096, 0x33));
    assert_file_bytes(path, 16384, 4096, 0x33);
    blk->inline_writes_resume = 0;
    g_assert_true(plugged_write(blk, 20480, 8192, 0x44));
    assert_file_bytes(path, 20480, 8192, 0x44);
    blk_close(blk);

    /* writethrough (O_DSYNC) writes always wait for the device. */
    blk = open_img(path, BLK_CACHE_WRITETHROUGH, false);
    blk->nowait_writes_off = true;
    g_assert_false(plugged_write(blk, 16384, 4096, 0x55));
    assert_file_bytes(path, 16384, 4096, 0x55);
    blk_close(blk);
    unlink(path);
}

static void test_cmdline(void)
{
    g_autofree char *path = make_image();
    g_autofree char *s = NULL;
    g_autoptr(GError) err = NULL;
    BlockBackend *blk;

    s = g_strdup_printf("file=%s,format=raw,if=none,id=d0,cache=none", path);
    g_assert_true(blk_add_drive(s, &err));
    g_assert_no_error(err);
    blk = blk_find("d0");
    g_assert_nonnull(blk);
    g_assert_cmpint(blk_interface(blk), ==, BLK_IF_NONE);
    g_assert_cmpint(blk_open_flags(blk) & O_DIRECT, ==, O_DIRECT);
    g_assert_true(blk_attach(blk));
    g_assert_false(blk_attach(blk));
    expect_drive_error(s, "already exists");
    g_free(s);

    s = g_strdup_printf("file=%s,format=raw,readonly=on,cache=writethrough", path);
    g_assert_true(blk_add_drive(s, &err));
    blk = blk_find("drive0");
    g_assert_nonnull(blk);
    g_assert_true(blk_is_read_only(blk));
    g_assert_cmpint(blk_interface(blk), ==, BLK_IF_VIRTIO);
    g_free(s);
    s = g_strdup_printf("file=%s,format=raw,read-only=on,if=none,id=ro2", path);
    g_assert_true(blk_add_drive(s, &err));
    g_assert_true(blk_is_read_only(blk_find("ro2")));
    g_free(s);

    s = g_strdup_printf("file=%s,format=qcow2", path);
    expect_drive_error(s, "only raw");
    g_free(s);
    s = g_strdup_printf("file=%s,if=ide", path);
    expect_drive_error(s, "if=ide");
    g_free(s);
    s = g_strdup_printf("file=%s,cache=sometimes", path);
    expect_drive_error(s, "cache=sometimes");
    g_free(s);
    s = g_strdup_printf("file=%s,bogus=1", path);
    expect_drive_error(s, "bogus");
    expect_drive_error("format=raw", "file=");
    expect_drive_error("file=/nonexistent/kemu.img,format=raw", "No such file");

    g_free(s);
    s = g_strdup_printf("driver=file,filename=%s,node-name=f0,read-only=on", path);
    g_assert_true(blk_add_blockdev(s, &err));
    g_assert_no_error(err);
    g_assert_true(blk_add_blockdev("driver=raw,file=f0,node-name=r0", &err));
    g_assert_no_error(err);
    g_assert_true(blk_find("r0") == blk_find("f0"));
    g_assert_true(blk_is_read_only(blk_find("r0")));
    g_assert_cmpstr(blk_name(blk_find("f0")), ==, "r0");
    g_assert_false(blk_add_blockdev("driver=raw,file=nothere,node-name=r1", &err));
    g_clear_error(&err);
    g_assert_false(blk_add_blockdev("driver=qcow2,file=f0,node-name=r2", &err));
    g_clear_error(&err);
    g_assert_false(blk_add_blockdev("driver=file,filename=/x", &err));
    g_clear_error(&err);

    blk_close_all();
    g_assert_null(blk_find("d0"));
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/block/rw/writeback", test_rw_writeback);
    g_test_add_func("/block/rw/none", test_rw_none);
    g_test_add_func("/block/rw/writethrough", test_rw_writethrough);
    g_test_add_func("/block/rw/unsafe", test_rw_unsafe);
    g_test_add_func("/block/open-flags", test_open_flags);
    g_test_add_func("/block/readonly", test_readonly);
    g_test_add_func("/block/discard", test_discard);
    g_test_add_func("/block/write-zeroes", test_write_zeroes);
    g_test_add_func("/block/out-of-range", test_out_of_range);
    g_test_add_func("/block/async-main-loop", test_async_main_loop);
    g_test_add_func("/block/plug", test_plug);
    g_test_add_func("/block/plug-write", test_plug_write);
    g_test_add_func("/block/cmdline", test_cmdline);
    return g_test_run();
}
