/* Helpers the block unit tests share (blk-test.h). */
#include <fcntl.h>
#include <unistd.h>
#include "blk-test.h"

void blk_test_done_cb(void *opaque, int ret)
{
    BlkTestDone *d = opaque;

    g_assert_false(d->done);
    d->done = true;
    d->ret = ret;
    d->thread = g_thread_self();
}

static gboolean timed_out(gpointer p)
{
    *(bool *)p = true;
    return G_SOURCE_REMOVE;
}

void blk_test_wait_all(BlkTestDone *d, unsigned n)
{
    bool expired = false;
    guint t = g_timeout_add(10000, timed_out, &expired);
    unsigned i = 0;

    while (!expired) {
        while (i < n && d[i].done) {
            i++;
        }
        if (i == n) {
            break;
        }
        g_main_context_iteration(NULL, TRUE);
    }
    if (!expired) {
        g_source_remove(t);
    }
    for (i = 0; i < n; i++) {
        g_assert_true(d[i].done);
        g_assert_true(d[i].thread == g_thread_self());
    }
}

int blk_test_wait(BlkTestDone *d)
{
    blk_test_wait_all(d, 1);
    return d->ret;
}

void blk_test_read_file_at(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, off), ==, (ssize_t)len);
    close(fd);
}

int blk_test_rw(BlockBackend *blk, bool write, uint64_t off, struct iovec *iov, unsigned n)
{
    BlkTestDone d = { 0 };

    if (write) {
        blk_aio_pwritev(blk, off, iov, n, blk_test_done_cb, &d);
    } else {
        blk_aio_preadv(blk, off, iov, n, blk_test_done_cb, &d);
    }
    /* Never completed inside the submit call. */
    g_assert_false(d.done);
    return blk_test_wait(&d);
}
