/*
 * Copies between a buffer and an element's iovecs (include/hw/virtio/virtio.h).
 * A file of its own so device tests on fake queues link the real helpers.
 */
#include <string.h>
#include "hw/virtio/virtio.h"

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t chunk = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
        done += chunk;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                    size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t chunk = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, chunk);
        done += chunk;
        off = 0;
    }
    return done;
}
