/*
 * Split virtqueues (hw/virtio/virtqueue.c) driven through rings built by
 * hand in guest RAM: chains, indirect tables, event index, NO_INTERRUPT,
 * 16-bit index wrap-around, and hostile rings that must end in -1 and
 * DEVICE_NEEDS_RESET without touching memory outside guest RAM.
 */
#include <string.h>
#include <glib.h>
#include "kemu/log.h"
#include "virtio-pci-harness.h"

#define QSIZE 256
#define DESC 0x1000         /* up to 1024 descriptors: 16 KiB */
#define AVAIL 0x8000
#define USED 0x9000
#define BUF 0x20000
#define NEEDS_RESET 64

typedef struct TestDev {
    VirtioDevice vd;
    unsigned notifies;
} TestDev;

static void t_notify(VirtioDevice *vd, unsigned q)
{
    (void)q;
    ((TestDev *)vd)->notifies++;
}

static const VirtioDeviceOps t_ops = {
    .name = "virtio-test",
    .device_id = 4,
    .pci_class = 0x00ff,
    .num_queues = 1,
    .queue_size = QSIZE,
    .queue_notify = t_notify,
};

typedef struct Fx {
    Machine *m;
    TestDev *td;
    VirtioDevice *vd;
    VirtQueue *vq;
    uint16_t size;
    uint16_t avail_idx;
    VirtqElem elem;
} Fx;

/* A device with queue 0 of @size entries, @features negotiated, DRIVER_OK. */
static void fx_init(Fx *f, uint64_t features, uint16_t size)
{
    g_autoptr(GError) err = NULL;

    memset(f, 0, sizeof(*f));
    f->m = fake_machine_new();
    f->td = g_new0(TestDev, 1);
    f->vd = &f->td->vd;
    f->vd->ops = &t_ops;
    g_assert_true(virtio_pci_create(f->m, f->vd, NULL, NULL, &err));
    g_assert_no_error(err);
    g_assert_true(drv_negotiate(f->vd, features));
    drv_queue(f->vd, 0, size, DESC, AVAIL, USED);
    drv_ok(f->vd);
    f->vq = virtio_queue(f->vd, 0);
    f->size = size;
}

static void fx_free(Fx *f)
{
    fake_machine_free(f->m);
}

static void set_desc(Fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = ram(f->m, table + 16 * i);

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t *avail16(Fx *f, unsigned i)
{
    return (uint16_t *)ram(f->m, AVAIL + 2 * i);
}

static void avail_add(Fx *f, uint16_t head)
{
    *avail16(f, 2 + f->avail_idx % f->size) = head;
    f->avail_idx++;
    *avail16(f, 1) = f->avail_idx;
}

static uint16_t used_idx(Fx *f)
{
    return *(uint16_t *)ram(f->m, USED + 2);
}

static void used_elem(Fx *f, uint16_t i, uint32_t *id, uint32_t *len)
{
    uint8_t *e = ram(f->m, USED + 4 + 8 * (i % f->size));

    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

static uint16_t avail_event(Fx *f)
{
    return *(uint16_t *)ram(f->m, USED + 4 + 8 * f->size);
}

static void set_used_event(Fx *f, uint16_t v)
{
    *avail16(f, 2 + f->size) = v;
}

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static void test_simple_chain(void)
{
    Fx f;
    uint32_t id, len;

    fx_init(&f, 0, QSIZE);
    memcpy(ram(f.m, BUF), "hello", 5);
    memcpy(ram(f.m, BUF + 0x100), "world", 5);
    set_desc(&f, DESC, 7, BUF, 5, F_NEXT, 9);
    set_desc(&f, DESC, 9, BUF + 0x100, 5, F_NEXT, 2);
    set_desc(&f, DESC, 2, BUF + 0x200, 64, F_WRITE, 0);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 0);
    avail_add(&f, 7);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    g_assert_cmpuint(f.elem.head, ==, 7);
    g_assert_cmpuint(f.elem.out_num, ==, 2);
    g_assert_cmpuint(f.elem.in_num, ==, 1);
    g_assert_cmpuint(f.elem.out_len, ==, 10);
    g_assert_cmpuint(f.elem.in_len, ==, 64);
    g_assert_true(f.elem.out[1].iov_base == ram(f.m, BUF + 0x100));
    g_assert_cmpuint(f.elem.in_gpa[0], ==, BUF + 0x200);

    char buf[16] = { 0 };
    g_assert_cmpuint(iov_to_buf(f.elem.out, f.elem.out_num, 3, buf, 16), ==, 7);
    g_assert_cmpstr(buf, ==, "loworld");
    g_assert_cmpuint(iov_from_buf(f.elem.in, f.elem.in_num, 0, "reply", 5), ==, 5);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 0);

    fake_dma_lo = UINT64_MAX;
    fake_dma_hi = 0;
    virtqueue_push(f.vq, &f.elem, 5);
    g_assert_cmpuint(used_idx(&f), ==, 1);
    used_elem(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, 7);
    g_assert_cmpuint(len, ==, 5);
    g_assert_cmpmem(ram(f.m, BUF + 0x200), 5, "reply", 5);
    /* The written bytes and the used ring were announced, nothing else. */
    g_assert_cmpuint(fake_dma_lo, ==, USED);
    g_assert_cmpuint(fake_dma_hi, ==, BUF + 0x200 + 5);

    /* No MSI-X: INTx and the ISR queue bit; reading ISR clears both. */
    virtqueue_notify(f.vq);
    g_assert_cmpint(fake_intx, ==, 1);
    g_assert_cmpuint(bar_read(f.vd, T_ISR, 1), ==, 1);
    g_assert_cmpint(fake_intx, ==, 0);
    g_assert_cmpuint(bar_read(f.vd, T_ISR, 1), ==, 0);
    fx_free(&f);
}

static void test_indirect(void)
{
    Fx f;

    fx_init(&f, VIRTIO_F_RING_INDIRECT_DESC, QSIZE);
    set_desc(&f, BUF, 0, BUF + 0x1000, 16, F_NEXT, 2);
    set_desc(&f, BUF, 2, BUF + 0x2000, 32, F_NEXT | F_WRITE, 1);
    set_desc(&f, BUF, 1, BUF + 0x3000, 48, F_WRITE, 0);
    set_desc(&f, DESC, 3, BUF, 3 * 16, F_INDIRECT | F_WRITE, 0);
    avail_add(&f, 3);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    g_assert_cmpuint(f.elem.head, ==, 3);
    g_assert_cmpuint(f.elem.out_num, ==, 1);
    g_assert_cmpuint(f.elem.in_num, ==, 2);
    g_assert_cmpuint(f.elem.in_len, ==, 80);
    g_assert_cmpuint(f.elem.in_gpa[1], ==, BUF + 0x3000);
    virtqueue_push(f.vq, &f.elem, 80);
    g_assert_cmpuint(used_idx(&f), ==, 1);
    g_assert_cmpuint(f.vd->status & NEEDS_RESET, ==, 0);
    fx_free(&f);
}

static void test_event_idx(void)
{
    Fx f;

    fx_init(&f, VIRTIO_F_RING_EVENT_IDX, QSIZE);
    for (unsigned i = 0; i < 8; i++) {
        set_desc(&f, DESC, i, BUF + 0x100 * i, 16, F_WRITE, 0);
        avail_add(&f, i);
    }
    /* The device announces how far it consumed in avail_event. */
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
        g_assert_cmpuint(avail_event(&f), ==, i + 1);
    }
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 0);

    set_used_event(&f, 0);
    virtqueue_push(f.vq, &f.elem, 0);           /* used idx 1 */
    virtqueue_notify(f.vq);
    g_assert_cmpuint(fake_intx_raises, ==, 1);  /* used_event 0 passed */
    bar_read(f.vd, T_ISR, 1);

    set_used_event(&f, 4);      /* interrupt when used idx passes 4 */
    for (unsigned i = 2; i <= 5; i++) {
        virtqueue_push(f.vq, &f.elem, 0);
        virtqueue_notify(f.vq);
        g_assert_cmpuint(fake_intx_raises, ==, i == 5 ? 2 : 1);
    }
    /* Already signalled past used_event: further pushes stay quiet. */
    virtqueue_push(f.vq, &f.elem, 0);
    virtqueue_notify(f.vq);
    g_assert_cmpuint(fake_intx_raises, ==, 2);
    fx_free(&f);
}

static void test_no_interrupt_flag(void)
{
    Fx f;

    fx_init(&f, 0, QSIZE);
    set_desc(&f, DESC, 0, BUF, 16, F_WRITE, 0);
    avail_add(&f, 0);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    *avail16(&f, 0) = 1;        /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    virtqueue_push(f.vq, &f.elem, 4);
    virtqueue_notify(f.vq);
    g_assert_cmpuint(fake_intx_raises, ==, 0);
    *avail16(&f, 0) = 0;
    virtqueue_notify(f.vq);
    g_assert_cmpuint(fake_intx_raises, ==, 1);
    fx_free(&f);
}

/* Run the 16-bit indices round more than once on a 4-entry queue. */
static void test_wraparound(void)
{
    Fx f;
    uint32_t id, len;

    fx_init(&f, VIRTIO_F_RING_EVENT_IDX, 4);
    for (unsigned n = 0; n < 70000; n++) {
        uint16_t head = n % 4;

        set_desc(&f, DESC, head, BUF + 16 * head, 16, F_WRITE, 0);
        avail_add(&f, head);
        g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
        g_assert_cmpuint(f.elem.head, ==, head);
        virtqueue_push(f.vq, &f.elem, n % 17);
        g_assert_cmpuint(used_idx(&f), ==, (uint16_t)(n + 1));
        used_elem(&f, n, &id, &len);
        g_assert_cmpuint(id, ==, head);
        g_assert_cmpuint(len, ==, n % 17);
    }
    g_assert_cmpuint(avail_event(&f), ==, (uint16_t)70000);
    g_assert_cmpuint(f.vd->status & NEEDS_RESET, ==, 0);
    fx_free(&f);
}

static void test_zero_length(void)
{
    Fx f;

    /* Documented accept: zero-length buffers count but map nothing. */
    fx_init(&f, 0, QSIZE);
    set_desc(&f, DESC, 0, 0xfffffffffffff000ull, 0, F_NEXT, 1);
    set_desc(&f, DESC, 1, BUF, 8, F_NEXT, 2);
    set_desc(&f, DESC, 2, 0, 0, F_WRITE, 0);
    avail_add(&f, 0);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    g_assert_cmpuint(f.elem.out_num, ==, 1);
    g_assert_cmpuint(f.elem.in_num, ==, 0);
    virtqueue_push(f.vq, &f.elem, 0);
    g_assert_cmpuint(used_idx(&f), ==, 1);
    fx_free(&f);
}

static void test_full_length_chain(void)
{
    Fx f;

    /* A chain of exactly queue-size descriptors is legal. */
    fx_init(&f, 0, QSIZE);
    for (unsigned i = 0; i < QSIZE; i++) {
        set_desc(&f, DESC, i, BUF + 4 * i, 4, i + 1 < QSIZE ? F_NEXT : 0, i + 1);
    }
    avail_add(&f, 0);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    g_assert_cmpuint(f.elem.out_num, ==, QSIZE);
    fx_free(&f);
}

/* ---- hostile queues: each must fail with NEEDS_RESET, no crash ---- */

typedef void (*Setup)(Fx *f);

static void expect_broken(uint64_t features, uint16_t size, Setup setup)
{
    Fx f;

    fx_init(&f, features, size);
    setup(&f);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, -1);
    g_assert_cmpuint(f.vd->status & NEEDS_RESET, ==, NEEDS_RESET);
    g_assert_cmpuint(bar_read(f.vd, T_COMMON + 0x14, 1) & NEEDS_RESET, ==, NEEDS_RESET);
    /* The driver hears about it through a config interrupt. */
    g_assert_cmpuint(f.vd->isr & 2, ==, 2);
    g_assert_cmpuint(fake_intx_raises, ==, 1);
    /* Broken stays broken, and push/notify do nothing, until reset. */
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, -1);
    virtqueue_notify(f.vq);
    g_assert_cmpuint(fake_intx_raises, ==, 1);
    /* A reset and a sane ring make it work again. */
    g_assert_true(drv_negotiate(f.vd, 0));
    g_assert_cmpuint(f.vd->status & NEEDS_RESET, ==, 0);
    drv_queue(f.vd, 0, 8, DESC, AVAIL, USED);
    drv_ok(f.vd);
    f.size = 8;
    f.avail_idx = 0;
    *avail16(&f, 1) = 0;
    set_desc(&f, DESC, 0, BUF, 8, 0, 0);
    avail_add(&f, 0);
    g_assert_cmpint(virtqueue_pop(f.vq, &f.elem), ==, 1);
    fx_free(&f);
}

static void s_loop(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 8, F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 8, F_NEXT, 0);
    avail_add(f, 0);
}

static void s_self_loop(Fx *f)
{
    set_desc(f, DESC, 5, BUF, 0, F_NEXT, 5);
    avail_add(f, 5);
}

static void s_beyond_ram(Fx *f)
{
    set_desc(f, DESC, 0, FAKE_RAM_SIZE, 1, 0, 0);
    avail_add(f, 0);
}

static void s_wrap64(Fx *f)
{
    set_desc(f, DESC, 0, 0xfffffffffffff000ull, 0x2000, 0, 0);
    avail_add(f, 0);
}

static void s_len_overflow(Fx *f)
{
    set_desc(f, DESC, 0, FAKE_RAM_SIZE - 8, 16, F_WRITE, 0);
    avail_add(f, 0);
}

static void s_huge_len(Fx *f)
{
    set_desc(f, DESC, 0, 0x10, 0xffffffff, 0, 0);
    avail_add(f, 0);
}

static void s_next_oob(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 8, F_NEXT, QSIZE);
    avail_add(f, 0);
}

static void s_head_oob(Fx *f)
{
    avail_add(f, QSIZE + 3);
}

static void s_read_after_write(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 8, F_WRITE | F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 8, 0, 0);
    avail_add(f, 0);
}

static void s_avail_jump(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 8, 0, 0);
    *avail16(f, 1) = QSIZE + 1;
}

static void s_indirect_nested(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, F_INDIRECT, 0);
    set_desc(f, DESC, 0, BUF, 16, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_next(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, 0, 0);
    set_desc(f, DESC, 0, BUF, 16, F_INDIRECT | F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 16, 0, 0);
    avail_add(f, 0);
}

static void s_indirect_after_direct(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, 0, 0);
    set_desc(f, DESC, 0, BUF, 16, F_NEXT, 1);
    set_desc(f, DESC, 1, BUF, 16, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_bad_len(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 24, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_zero_len(Fx *f)
{
    set_desc(f, DESC, 0, BUF, 0, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_65536(Fx *f)
{
    /* A 65536-entry table (1 MiB: all of RAM) is beyond any chain limit. */
    set_desc(f, DESC, 0, 0, 65536 * 16, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_loop(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, F_NEXT, 1);
    set_desc(f, BUF, 1, BUF + 0x100, 16, F_NEXT, 0);
    set_desc(f, DESC, 0, BUF, 32, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_next_oob(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, F_NEXT, 2);
    set_desc(f, DESC, 0, BUF, 32, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_outside(Fx *f)
{
    set_desc(f, DESC, 0, FAKE_RAM_SIZE - 16, 32, F_INDIRECT, 0);
    avail_add(f, 0);
}

static void s_indirect_unnegotiated(Fx *f)
{
    set_desc(f, BUF, 0, BUF + 0x100, 16, 0, 0);
    set_desc(f, DESC, 0, BUF, 16, F_INDIRECT, 0);
    avail_add(f, 0);
}

/* 1024-entry queue whose chain is all NEXT: 65536 steps would be a loop. */
static void s_endless_chain(Fx *f)
{
    for (unsigned i = 0; i < 64; i++) {
        set_desc(f, DESC, i, BUF, 8, F_NEXT, (i + 1) % 64);
    }
    avail_add(f, 0);
}

static void s_rings_outside(Fx *f)
{
    bar_write(f->vd, T_COMMON + 0x14, 0, 1);
    g_assert_true(drv_negotiate(f->vd, 0));
    drv_queue(f->vd, 0, QSIZE, DESC, AVAIL, FAKE_RAM_SIZE - 0x100);
    drv_ok(f->vd);
}

static void s_ring_wraps(Fx *f)
{
    bar_write(f->vd, T_COMMON + 0x14, 0, 1);
    g_assert_true(drv_negotiate(f->vd, 0));
    drv_queue(f->vd, 0, QSIZE, 0xfffffffffffffff0ull, AVAIL, USED);
    drv_ok(f->vd);
}

static void s_ring_misaligned(Fx *f)
{
    bar_write(f->vd, T_COMMON + 0x14, 0, 1);
    g_assert_true(drv_negotiate(f->vd, 0));
    drv_queue(f->vd, 0, QSIZE, DESC, AVAIL + 1, USED);
    drv_ok(f->vd);
}

#define HOSTILE(name, feat, size) \
    static void test_##name(void) { expect_broken(feat, size, s_##name); }

HOSTILE(loop, 0, QSIZE)
HOSTILE(self_loop, 0, QSIZE)
HOSTILE(beyond_ram, 0, QSIZE)
HOSTILE(wrap64, 0, QSIZE)
HOSTILE(len_overflow, 0, QSIZE)
HOSTILE(huge_len, 0, QSIZE)
HOSTILE(next_oob, 0, QSIZE)
HOSTILE(head_oob, 0, QSIZE)
HOSTILE(read_after_write, 0, QSIZE)
HOSTILE(avail_jump, 0, QSIZE)
HOSTILE(indirect_nested, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_next, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_after_direct, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_bad_len, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_zero_len, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_65536, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_loop, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_next_oob, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_outside, VIRTIO_F_RING_INDIRECT_DESC, QSIZE)
HOSTILE(indirect_unnegotiated, 0, QSIZE)
HOSTILE(endless_chain, 0, 64)
HOSTILE(rings_outside, 0, QSIZE)
HOSTILE(ring_wraps, 0, QSIZE)
HOSTILE(ring_misaligned, 0, QSIZE)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (g_test_verbose()) {
        log_mask |= LOG_GUEST_ERROR;
    }
    g_test_add_func("/virtqueue/simple-chain", test_simple_chain);
    g_test_add_func("/virtqueue/indirect", test_indirect);
    g_test_add_func("/virtqueue/event-idx", test_event_idx);
    g_test_add_func("/virtqueue/no-interrupt-flag", test_no_interrupt_flag);
    g_test_add_func("/virtqueue/wraparound", test_wraparound);
    g_test_add_func("/virtqueue/zero-length", test_zero_length);
    g_test_add_func("/virtqueue/full-length-chain", test_full_length_chain);
#define ADD(name) g_test_add_func("/virtqueue/hostile/" #name, test_##name)
    ADD(loop);
    ADD(self_loop);
    ADD(beyond_ram);
    ADD(wrap64);
    ADD(len_overflow);
    ADD(huge_len);
    ADD(next_oob);
    ADD(head_oob);
    ADD(read_after_write);
    ADD(avail_jump);
    ADD(indirect_nested);
    ADD(indirect_next);
    ADD(indirect_after_direct);
    ADD(indirect_bad_len);
    ADD(indirect_zero_len);
    ADD(indirect_65536);
    ADD(indirect_loop);
    ADD(indirect_next_oob);
    ADD(indirect_outside);
    ADD(indirect_unnegotiated);
    ADD(endless_chain);
    ADD(rings_outside);
    ADD(ring_wraps);
    ADD(ring_misaligned);
    return g_test_run();
}
