/*
 * The block layer's request API on each asynchronous engine (aio=threads,
 * aio=io_uring): data on disk after writes, reads back, flushes, reads
 * past a shrunken file's end, host errors, more requests than the ring
 * holds, more segments than IOV_MAX, O_DIRECT bounce chunks, the requests
 * io_uring hands to the pool, and the aio= command-line option.
 * io_uring cases skip (loudly) where the kernel refuses a ring.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>
#include "blk-test.h"
#include "block/block.h"

#define IMG_SIZE (8u << 20)

/* An IMG_SIZE image where byte i holds (i / 512) & 0xff; returns its path. */
static char *make_image(void)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("kemu-aio-XXXXXX.img", &path, &err);
    g_autofree uint8_t *fill = g_malloc(IMG_SIZE);

    g_assert_no_error(err);
    for (unsigned i = 0; i < IMG_SIZE; i++) {
        fill[i] = (i / 512) & 0xff;
    }
    g_assert_cmpint(write(fd, fill, IMG_SIZE), ==, IMG_SIZE);
    close(fd);
    return path;
}

/* Open @path on @mode; NULL (test skipped) if io_uring fell back to threads. */
static BlockBackend *open_on(const char *path, BlockAioMode mode, BlockCacheMode cache,
                             bool ro)
{
    g_autoptr(GError) err = NULL;
    BlockOpenCfg cfg = { .filename = path, .cache = cache, .readonly = ro, .aio = mode };
    BlockBackend *blk = blk_open(&cfg, &err);

    g_assert_no_error(err);
    g_assert_nonnull(blk);
    if (blk_aio_mode(blk) != mode) {
        g_test_skip("SKIP: io_uring is not available here (the backend fell back to threads)");
        blk_close(blk);
        return NULL;
    }
    return blk;
}

static int aio_flush(BlockBackend *blk)
{
    BlkTestDone d = { 0 };

    blk_aio_flush(blk, blk_test_done_cb, &d);
    g_assert_false(d.done);
    return blk_test_wait(&d);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 13 + seed * 7 + 1);
    }
}

/* Multi-segment write and read with odd buffer addresses, then a flush. */
static void check_rw(BlockAioMode mode, BlockCacheMode cache)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, mode, cache, false);
    g_autofree uint8_t *src = g_malloc(16384 + 1), *dst = g_malloc(16384 + 3);
    g_autofree uint8_t *file = g_malloc(16384);
    struct iovec w[3] = { { src + 1, 512 }, { src + 513, 4096 }, { src + 4609, 11776 } };
    struct iovec r[2] = { { dst + 3, 1536 }, { dst + 1539, 14848 } };

    if (!blk) {
        goto out;
    }
    fill_pattern(src, 16385, 1);
    g_assert_cmpint(blk_test_rw(blk, true, 1 << 20, w, 3), ==, 0);
    g_assert_cmpint(aio_flush(blk), ==, 0);
    blk_test_read_file_at(path, 1 << 20, file, 16384);
    g_assert_cmpmem(file, 16384, src + 1, 16384);
    g_assert_cmpint(blk_test_rw(blk, false, 1 << 20, r, 2), ==, 0);
    g_assert_cmpmem(dst + 3, 16384, src + 1, 16384);
    blk_close(blk);
out:
    unlink(path);
}

static void test_rw_writeback(gconstpointer mode)
{
    check_rw(GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK);
}

static void test_rw_none(gconstpointer mode)
{
    check_rw(GPOINTER_TO_INT(mode), BLK_CACHE_NONE);
}

static void test_rw_writethrough(gconstpointer mode)
{
    check_rw(GPOINTER_TO_INT(mode), BLK_CACHE_WRITETHROUGH);
}

static void test_rw_unsafe(gconstpointer mode)
{
    check_rw(GPOINTER_TO_INT(mode), BLK_CACHE_UNSAFE);
}

/* cache=none: aligned buffers go straight to the kernel, unaligned ones in 1 MiB chunks. */
static void test_direct_large(gconstpointer mode)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_NONE, false);
    const size_t len = (3u << 20) + 8192;
    void *aligned = NULL;
    g_autofree uint8_t *odd = g_malloc(len + 1), *file = g_malloc(len);
    struct iovec iov;

    if (!blk) {
        goto out;
    }
    g_assert_cmpint(posix_memalign(&aligned, 4096, len), ==, 0);
    fill_pattern(odd, len + 1, 2);
    iov = (struct iovec){ odd + 1, len };
    g_assert_cmpint(blk_test_rw(blk, true, 4096, &iov, 1), ==, 0);
    blk_test_read_file_at(path, 4096, file, len);
    g_assert_cmpmem(file, len, odd + 1, len);
    iov = (struct iovec){ aligned, len };
    g_assert_cmpint(blk_test_rw(blk, false, 4096, &iov, 1), ==, 0);
    g_assert_cmpmem(aligned, len, odd + 1, len);
    fill_pattern(aligned, len, 3);
    g_assert_cmpint(blk_test_rw(blk, true, 4096, &iov, 1), ==, 0);
    iov = (struct iovec){ odd + 1, len };
    g_assert_cmpint(blk_test_rw(blk, false, 4096, &iov, 1), ==, 0);
    g_assert_cmpmem(odd + 1, len, aligned, len);
    free(aligned);
    blk_close(blk);
out:
    unlink(path);
}

/* The file shrinks after open: the part past its new end reads as zeroes. */
static void test_short_file(gconstpointer mode)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, false);
    uint8_t buf[8192], want[8192];
    struct iovec iov = { buf, sizeof(buf) };

    if (!blk) {
        goto out;
    }
    g_assert_cmpint(truncate(path, 1 << 20), ==, 0);
    memset(buf, 0x55, sizeof(buf));
    memset(want, 0, sizeof(want));
    for (unsigned i = 0; i < 4096; i++) {
        want[i] = (((1u << 20) - 4096 + i) / 512) & 0xff;
    }
    g_assert_cmpint(blk_test_rw(blk, false, (1 << 20) - 4096, &iov, 1), ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
    blk_close(blk);
out:
    unlink(path);
}

/* The descriptor blk_open() made for @path (the newest one that names it). */
static int find_fd(const char *path)
{
    g_autofree char *real = realpath(path, NULL);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", e->d_name);
        char target[PATH_MAX];
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            if (!strcmp(target, real)) {
                found = MAX(found, atoi(e->d_name));
            }
        }
    }
    closedir(d);
    return found;
}

/*
 * Errors: refused requests (bounds, read-only) and a host error from the
 * engine itself (the backend's descriptor swapped for a read-only one:
 * the kernel answers EBADF to the write).
 */
static void test_errors(gconstpointer mode)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, false);
    BlockBackend *ro = NULL;
    uint8_t buf[4096], file[4096];
    struct iovec iov = { buf, sizeof(buf) };
    int fd, rofd;

    if (!blk) {
        goto out;
    }
    g_assert_cmpint(blk_test_rw(blk, false, IMG_SIZE - 512, &iov, 1), ==, -EINVAL);
    g_assert_cmpint(blk_test_rw(blk, true, IMG_SIZE, &iov, 1), ==, -EINVAL);
    ro = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, true);
    g_assert_cmpint(blk_test_rw(ro, true, 0, &iov, 1), ==, -EROFS);
    g_assert_cmpint(aio_flush(ro), ==, 0);
    blk_close(ro);

    fd = find_fd(path);
    g_assert_cmpint(fd, >=, 0);
    rofd = open(path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(rofd, >=, 0);
    g_assert_cmpint(dup3(rofd, fd, O_CLOEXEC), ==, fd);
    close(rofd);
    memset(buf, 0x77, sizeof(buf));
    g_assert_cmpint(blk_test_rw(blk, true, 0, &iov, 1), ==, -EBADF);
    blk_test_read_file_at(path, 0, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 0);
    g_assert_cmpuint(file[4095], ==, 7);
    /* Reads still work on the swapped descriptor. */
    g_assert_cmpint(blk_test_rw(blk, false, 512, &iov, 1), ==, 0);
    g_assert_cmpuint(buf[0], ==, 1);
    blk_close(blk);
out:
    unlink(path);
}

/* 300 writes in flight at once (more than a ring's 128 slots), then drained. */
static void test_many(gconstpointer mode)
{
    enum { N = 300 };
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, false);
    g_autofree uint8_t *bufs = g_malloc(N * 4096);
    g_autofree uint8_t *file = g_malloc(N * 4096);
    BlkTestDone d[N] = { 0 }, flush = { 0 };
    struct iovec iov[N];

    if (!blk) {
        goto out;
    }
    for (unsigned i = 0; i < N; i++) {
        fill_pattern(bufs + i * 4096, 4096, i);
        iov[i] = (struct iovec){ bufs + i * 4096, 4096 };
        blk_aio_pwritev(blk, i * 4096, &iov[i], 1, blk_test_done_cb, &d[i]);
    }
    blk_test_wait_all(d, N);
    for (unsigned i = 0; i < N; i++) {
        g_assert_cmpint(d[i].ret, ==, 0);
    }
    blk_test_read_file_at(path, 0, file, N * 4096);
    g_assert_cmpmem(file, N * 4096, bufs, N * 4096);
    /* blk_drain() runs the callbacks without the main loop. */
    memset(d, 0, sizeof(d));
    memset(bufs, 0, N * 4096);
    for (unsigned i = 0; i < N; i++) {
        blk_aio_preadv(blk, i * 4096, &iov[i], 1, blk_test_done_cb, &d[i]);
    }
    blk_aio_flush(blk, blk_test_done_cb, &flush);
    blk_drain(blk);
    for (unsigned i = 0; i < N; i++) {
        g_assert_true(d[i].done);
        g_assert_cmpint(d[i].ret, ==, 0);
    }
    g_assert_true(flush.done);
    g_assert_cmpint(flush.ret, ==, 0);
    g_assert_cmpmem(file, N * 4096, bufs, N * 4096);
    blk_close(blk);
out:
    unlink(path);
}

/* More segments than one readv/writev takes. */
static void test_many_segments(gconstpointer mode)
{
    enum { SEGS = IOV_MAX + 476, SEG = 512 };
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, false);
    g_autofree uint8_t *src = g_malloc(SEGS * SEG), *dst = g_malloc0(SEGS * SEG);
    g_autofree uint8_t *file = g_malloc(SEGS * SEG);
    g_autofree struct iovec *iov = g_new(struct iovec, SEGS);

    if (!blk) {
        goto out;
    }
    fill_pattern(src, SEGS * SEG, 9);
    for (unsigned i = 0; i < SEGS; i++) {
        iov[i] = (struct iovec){ src + i * SEG, SEG };
    }
    g_assert_cmpint(blk_test_rw(blk, true, 0, iov, SEGS), ==, 0);
    blk_test_read_file_at(path, 0, file, SEGS * SEG);
    g_assert_cmpmem(file, SEGS * SEG, src, SEGS * SEG);
    /* Read back in reverse segment order, to catch an offset mix-up. */
    for (unsigned i = 0; i < SEGS; i++) {
        iov[i] = (struct iovec){ dst + (SEGS - 1 - i) * SEG, SEG };
    }
    g_assert_cmpint(blk_test_rw(blk, false, 0, iov, SEGS), ==, 0);
    for (unsigned i = 0; i < SEGS; i++) {
        g_assert_cmpmem(dst + (SEGS - 1 - i) * SEG, SEG, src + i * SEG, SEG);
    }
    blk_close(blk);
out:
    unlink(path);
}

/* Discard and write-zeroes (the pool carries them under io_uring). */
static void test_zeroes(gconstpointer mode)
{
    g_autofree char *path = make_image();
    BlockBackend *blk = open_on(path, GPOINTER_TO_INT(mode), BLK_CACHE_WRITEBACK, false);
    uint8_t file[3 * 4096], zero[4096] = { 0 };
    BlkTestDone d = { 0 };

    if (!blk) {
        goto out;
    }
    blk_aio_write_zeroes(blk, 8192, 4096, false, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, 0);
    d = (BlkTestDone){ 0 };
    blk_aio_discard(blk, 16384, 4096, blk_test_done_cb, &d);
    g_assert_cmpint(blk_test_wait(&d), ==, 0);
    blk_test_read_file_at(path, 4096, file, sizeof(file));
    g_assert_cmpuint(file[0], ==, 8);
    g_assert_cmpmem(file + 4096, 4096, zero, 4096);
    g_assert_cmpuint(file[8192], ==, 24);
    blk_close(blk);
out:
    unlink(path);
}

/*
 * No descriptor left for the ring (RLIMIT_NOFILE just above the image's
 * descriptor): io_uring_queue_init fails, the backend warns and works on
 * threads. Runs in a subprocess, which checks the warning.
 */
static void test_fallback(void)
{
    if (g_test_subprocess()) {
        g_autofree char *path = make_image();
        BlockOpenCfg cfg = { .filename = path, .aio = BLK_AIO_IO_URING };
        g_autoptr(GError) err = NULL;
        struct rlimit old, tight;
        uint8_t buf[512];
        struct iovec iov = { buf, sizeof(buf) };
        BlockBackend *blk;
        int next = dup(0);

        /* Descriptors are handed out lowest first: the image gets @next. */
        g_assert_cmpint(next, >=, 0);
        close(next);
        g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &old), ==, 0);
        tight = old;
        tight.rlim_cur = next + 1;
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &tight), ==, 0);
        blk = blk_open(&cfg, &err);
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &old), ==, 0);
        g_assert_no_error(err);
        g_assert_cmpint(blk_aio_mode(blk), ==, BLK_AIO_THREADS);
        g_assert_cmpint(blk_test_rw(blk, false, 1024, &iov, 1), ==, 0);
        g_assert_cmpuint(buf[0], ==, 2);
        blk_close(blk);
        unlink(path);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*aio=io_uring unavailable*using aio=threads*");
}

static void expect_error(bool drive, const char *str, const char *fragment)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(drive ? blk_add_drive(str, &err) : blk_add_blockdev(str, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, fragment)) {
        g_error("'%s' not in '%s'", fragment, err->message);
    }
}

static void test_cmdline(void)
{
    g_autofree char *path = make_image();
    g_autofree char *s = NULL;
    g_autoptr(GError) err = NULL;
    BlockAioMode want = BLK_AIO_IO_URING;

    s = g_strdup_printf("file=%s,format=raw,if=none,id=t0,aio=threads", path);
    g_assert_true(blk_add_drive(s, &err));
    g_assert_no_error(err);
    g_assert_cmpint(blk_aio_mode(blk_find("t0")), ==, BLK_AIO_THREADS);
    g_free(s);
    s = g_strdup_printf("file=%s,format=raw,if=none,id=t1", path);
    g_assert_true(blk_add_drive(s, &err));
    g_assert_cmpint(blk_aio_mode(blk_find("t1")), ==, BLK_AIO_THREADS);
    g_free(s);
    s = g_strdup_printf("file=%s,format=raw,if=none,id=t2,aio=native", path);
    expect_error(true, s, "aio=native");
    g_free(s);
    s = g_strdup_printf("file=%s,format=raw,if=none,id=t3,aio=posix", path);
    expect_error(true, s, "aio=posix: unsupported");
    g_free(s);
    if (!blk_aio_available(BLK_AIO_IO_URING)) {
        s = g_strdup_printf("file=%s,format=raw,if=none,id=t4,aio=io_uring", path);
        expect_error(true, s, "without liburing");
        g_test_message("SKIP: built without liburing");
        goto out;
    }
    s = g_strdup_printf("file=%s,format=raw,if=none,id=t4,aio=io_uring", path);
    g_assert_true(blk_add_drive(s, &err));
    g_free(s);
    s = g_strdup_printf("driver=file,filename=%s,node-name=f5,aio=io_uring", path);
    g_assert_true(blk_add_blockdev(s, &err));
    g_assert_no_error(err);
    g_free(s);
    s = g_strdup_printf("driver=file,filename=%s,node-name=f6,aio=native", path);
    expect_error(false, s, "aio=native");
    if (blk_aio_mode(blk_find("t4")) != BLK_AIO_IO_URING) {
        g_test_message("SKIP: io_uring unavailable; aio=io_uring fell back to threads");
        want = BLK_AIO_THREADS;
    }
    g_assert_cmpint(blk_aio_mode(blk_find("t4")), ==, want);
    g_assert_cmpint(blk_aio_mode(blk_find("f5")), ==, want);
out:
    blk_close_all();
    unlink(path);
}

static void add(const char *name, GTestDataFunc fn)
{
    static const struct { const char *name; BlockAioMode mode; } engines[] = {
        { "threads", BLK_AIO_THREADS },
        { "io_uring", BLK_AIO_IO_URING },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(engines); i++) {
        g_autofree char *path = g_strdup_printf("/block-aio/%s/%s", engines[i].name, name);
        if (!blk_aio_available(engines[i].mode)) {
            continue;
        }
        g_test_add_data_func(path, GINT_TO_POINTER(engines[i].mode), fn);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    add("rw/writeback", test_rw_writeback);
    add("rw/none", test_rw_none);
    add("rw/writethrough", test_rw_writethrough);
    add("rw/unsafe", test_rw_unsafe);
    add("direct-large", test_direct_large);
    add("short-file", test_short_file);
    add("errors", test_errors);
    add("many", test_many);
    add("many-segments", test_many_segments);
    add("zeroes", test_zeroes);
    g_test_add_func("/block-aio/cmdline", test_cmdline);
    if (blk_aio_available(BLK_AIO_IO_URING)) {
        g_test_add_func("/block-aio/io_uring/fallback", test_fallback);
    }
    return g_test_run();
}
