/*
 * Helpers the block unit tests share (test-block.c, test-block-aio.c):
 * a completion record for BlockCompletionFunc callbacks and waiting for
 * completions on glib's main loop, as kemu's main loop delivers them.
 */
#ifndef TESTS_UNIT_BLK_TEST_H
#define TESTS_UNIT_BLK_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>
#include "block/block.h"

typedef struct BlkTestDone {
    bool done;
    int ret;
    GThread *thread;        /* where the callback ran */
} BlkTestDone;

/* A BlockCompletionFunc for a BlkTestDone *; fails the test if it runs twice. */
void blk_test_done_cb(void *opaque, int ret);
/*
 * Iterate the default main context until all @n records are done (10 s at
 * most, then fail); every callback must have run on this thread.
 */
void blk_test_wait_all(BlkTestDone *d, unsigned n);
/* blk_test_wait_all() for one; returns its status. */
int blk_test_wait(BlkTestDone *d);
/* Read @len bytes at @off of the file @path (the image behind a backend). */
void blk_test_read_file_at(const char *path, uint64_t off, void *buf, size_t len);
/* Submit a read or write, check it did not complete inside the call, wait. */
int blk_test_rw(BlockBackend *blk, bool write, uint64_t off, struct iovec *iov, unsigned n);

#endif
