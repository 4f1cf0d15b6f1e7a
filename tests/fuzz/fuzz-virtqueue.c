/*
 * libFuzzer harness for the split virtqueue (hw/virtio/virtqueue.c): the
 * input is a small queue layout followed by guest RAM contents; the
 * harness plays device, popping, filling and pushing every request, with
 * the driver's avail index changed between pops from the input.
 *
 * Invariants checked: nothing crashes or touches memory outside guest RAM
 * (ASan), every buffer handed out lies inside guest RAM, and a failed pop
 * leaves the device NEEDS_RESET.
 *
 * Run (clang only; CI bounds it in time):
 *   CC=clang meson setup build-fuzz -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/fuzz-virtqueue
 *   build-fuzz/tests/fuzz/fuzz-virtqueue -max_total_time=60 -rss_limit_mb=2048
 */
#include <stdint.h>
#include <string.h>
#include <glib.h>
#include "../dev/virtio-pci-harness.h"

#define FUZZ_RAM 0x10000        /* the part of RAM the input fills */

typedef struct Layout {
    uint16_t size;              /* queue size, reduced to 1..64 */
    uint8_t features;           /* bit 0 indirect, bit 1 event idx */
    uint8_t rounds;             /* pop attempts */
    uint16_t desc, avail, used; /* ring offsets inside FUZZ_RAM */
    uint16_t avail_bumps;       /* bit i: advance avail idx before pop i */
} Layout;

static void fz_notify(VirtioDevice *vd, unsigned q)
{
    (void)vd;
    (void)q;
}

static const VirtioDeviceOps fz_ops = {
    .name = "virtio-fuzz",
    .device_id = 4,
    .pci_class = 0x00ff,
    .num_queues = 1,
    .queue_size = 64,
    .queue_notify = fz_notify,
};

static Machine *fz_m;
static VirtioDevice *fz_vd;
static VirtqElem fz_elem;

static void fz_setup(void)
{
    fz_m = fake_machine_new();
    fz_vd = g_new0(VirtioDevice, 1);
    fz_vd->ops = &fz_ops;
    if (!virtio_pci_create(fz_m, fz_vd, NULL, NULL, NULL)) {
        abort();
    }
}

static bool in_ram(const void *p, size_t len)
{
    const uint8_t *base = fz_m->ram[0].host;

    return (const uint8_t *)p >= base &&
           len <= FAKE_RAM_SIZE - (size_t)((const uint8_t *)p - base);
}

static void check_elem(const VirtqElem *e)
{
    for (unsigned i = 0; i < e->out_num; i++) {
        if (!in_ram(e->out[i].iov_base, e->out[i].iov_len)) {
            abort();
        }
    }
    for (unsigned i = 0; i < e->in_num; i++) {
        if (!in_ram(e->in[i].iov_base, e->in[i].iov_len)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const uint8_t fill[64] = { 0x5a };
    Layout l;
    VirtQueue *vq;
    uint64_t feat = 0;

    if (len < sizeof(l)) {
        return 0;
    }
    if (!fz_m) {
        fz_setup();
    }
    memcpy(&l, data, sizeof(l));
    data += sizeof(l);
    len -= sizeof(l);
    memset(fz_m->ram[0].host, 0, FUZZ_RAM);
    memcpy(fz_m->ram[0].host, data, MIN(len, (size_t)FUZZ_RAM));

    feat |= (l.features & 1) ? VIRTIO_F_RING_INDIRECT_DESC : 0;
    feat |= (l.features & 2) ? VIRTIO_F_RING_EVENT_IDX : 0;
    if (!drv_negotiate(fz_vd, feat)) {
        abort();
    }
    /* Offsets as given: misaligned or overlapping rings are fair game. */
    drv_queue(fz_vd, 0, l.size % 64 + 1, l.desc, l.avail, l.used);
    drv_ok(fz_vd);
    vq = virtio_queue(fz_vd, 0);

    for (unsigned i = 0; i < l.rounds % 80; i++) {
        int r;

        if (l.avail_bumps & (1u << (i % 16))) {
            uint16_t *idx = machine_gpa_to_hva(fz_m, l.avail + 2, 2);

            if (idx && !(l.avail & 1)) {
                (*idx)++;
            }
        }
        r = virtqueue_pop(vq, &fz_elem);
        if (r < 0) {
            if (!(fz_vd->status & 64)) {
                abort();
            }
            break;
        }
        if (r == 0) {
            continue;
        }
        check_elem(&fz_elem);
        size_t done = iov_from_buf(fz_elem.in, fz_elem.in_num, i, fill, sizeof(fill));
        virtqueue_push(vq, &fz_elem, done);
        virtqueue_notify(vq);
    }
    return 0;
}
