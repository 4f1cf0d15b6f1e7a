/*
 * Split virtqueues (virtio 1.x, 2.6): descriptor chains in, used elements
 * out, with the event index and indirect descriptors.
 *
 * The rings live in guest RAM and the driver writes them concurrently from
 * other vCPU threads, so:
 * - every ring/descriptor address is resolved with machine_gpa_to_hva (the
 *   bounds check) before use, and each descriptor is copied out once and
 *   validated on the copy (the guest may change it under us);
 * - avail->idx is loaded with acquire semantics before the ring slots it
 *   covers are read; used->idx is stored with release semantics after the
 *   used element is written; a full fence separates publishing used->idx
 *   (or avail_event) from reading the driver's flags / used_event.
 * Any malformed chain marks the device NEEDS_RESET; nothing outside guest
 * RAM is ever touched.
 */
#include <string.h>
#include "kemu/bytes.h"
#include "kemu/log.h"
#include "virtio-internal.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_DESC_SIZE 16

typedef struct VirtqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VirtqDesc;

/* Host views of the three ring areas of one queue. */
typedef struct Rings {
    const uint8_t *desc;    /* size descriptors */
    uint16_t *avail;        /* flags, idx, ring[size], used_event */
    uint8_t *used;          /* flags, idx, {id, len}[size], avail_event */
} Rings;

void virtqueue_reset(VirtQueue *vq)
{
    vq->size = vq->max_size;
    vq->enabled = false;
    vq->msix_vector = VIRTIO_NO_VECTOR;
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
}

VirtQueue *virtio_queue(VirtioDevice *vd, unsigned q)
{
    return q < vd->ops->num_queues ? &vd->vqs[q] : NULL;
}

bool virtio_has_feature(const VirtioDevice *vd, uint64_t bit)
{
    return (vd->guest_features & bit) != 0;
}

static Machine *vq_machine(const VirtQueue *vq)
{
    return vq->vd->pci.dev.m;
}

static int vq_fail(VirtQueue *vq, const char *why)
{
    log_guest_error("%s: queue %u: %s; device needs reset\n",
                    vq->vd->ops->name, vq->index, why);
    virtio_set_needs_reset(vq->vd);
    return -1;
}

/*
 * Resolve the ring areas. False if a ring is misaligned (the spec's
 * alignment, which our atomic accesses rely on) or not wholly in RAM.
 */
static bool vq_map(VirtQueue *vq, Rings *r)
{
    Machine *m = vq_machine(vq);
    uint64_t n = vq->size;

    if (n == 0 || (vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
        return false;
    }
    r->desc = machine_gpa_to_hva(m, vq->desc_gpa, VIRTQ_DESC_SIZE * n);
    r->avail = machine_gpa_to_hva(m, vq->avail_gpa, 6 + 2 * n);
    r->used = machine_gpa_to_hva(m, vq->used_gpa, 6 + 8 * n);
    return r->desc && r->avail && r->used;
}

static uint16_t *used_idx_ptr(const Rings *r)
{
    return (uint16_t *)(r->used + 2);
}

static uint16_t *avail_event_ptr(const VirtQueue *vq, const Rings *r)
{
    return (uint16_t *)(r->used + 4 + 8 * (size_t)vq->size);
}

static void load_desc(const uint8_t *table, unsigned i, VirtqDesc *d)
{
    uint8_t raw[VIRTQ_DESC_SIZE];

    /* One copy: the checks below see the same values the device uses. */
    memcpy(raw, table + (size_t)i * VIRTQ_DESC_SIZE, sizeof(raw));
    d->addr = ld64_le(raw);
    d->len = ld32_le(raw + 8);
    d->flags = ld16_le(raw + 12);
    d->next = ld16_le(raw + 14);
}

/* Add one direct descriptor's buffer to @elem; NULL or a reason to fail. */
static const char *add_buffer(VirtQueue *vq, const VirtqDesc *d, bool *writing,
                              VirtqElem *elem)
{
    bool write = d->flags & VIRTQ_DESC_F_WRITE;
    void *hva;

    if (!write && *writing) {
        return "device-readable descriptor after a device-writable one";
    }
    *writing |= write;
    if (d->len == 0) {
        /* Allowed; it still counted against the chain length. */
        return NULL;
    }
    hva = machine_gpa_to_hva(vq_machine(vq), d->addr, d->len);
    if (!hva) {
        return "buffer outside guest RAM";
    }
    if (write) {
        if (elem->in_num >= VIRTQ_MAX_SG) {
            return "too many buffers";
        }
        elem->in[elem->in_num] = (struct iovec){ hva, d->len };
        elem->in_gpa[elem->in_num++] = d->addr;
        elem->in_len += d->len;
    } else {
        if (elem->out_num >= VIRTQ_MAX_SG) {
            return "too many buffers";
        }
        elem->out[elem->out_num++] = (struct iovec){ hva, d->len };
        elem->out_len += d->len;
    }
    return NULL;
}

/*
 * Walk the chain at @head into @elem. An indirect table is accepted only
 * as the sole descriptor of a chain (what drivers produce; the spec forbids
 * INDIRECT with NEXT and nesting). Each table is walked at most once per
 * entry, which bounds the walk and catches loops.
 */
static const char *read_chain(VirtQueue *vq, const Rings *r, uint16_t head,
                              VirtqElem *elem)
{
    const uint8_t *table = r->desc;
    unsigned table_n = vq->size;
    unsigned i = head, seen = 0;
    bool indirect = false, writing = false;
    VirtqDesc d;
    const char *err;

    elem->head = head;
    elem->out_num = elem->in_num = 0;
    elem->out_len = elem->in_len = 0;
    if (head >= vq->size) {
        return "head index beyond queue size";
    }
    for (;;) {
        if (seen++ >= table_n) {
            return "descriptor loop or chain longer than its table";
        }
        load_desc(table, i, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (indirect) {
                return "nested indirect descriptor";
            }
            if (seen != 1 || (d.flags & VIRTQ_DESC_F_NEXT)) {
                return "indirect descriptor chained with others";
            }
            if (!virtio_has_feature(vq->vd, VIRTIO_F_RING_INDIRECT_DESC)) {
                return "indirect descriptor without the feature";
            }
            if (d.len == 0 || d.len % VIRTQ_DESC_SIZE ||
                d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SG) {
                return "bad indirect table length";
            }
            table = machine_gpa_to_hva(vq_machine(vq), d.addr, d.len);
            if (!table) {
                return "indirect table outside guest RAM";
            }
            table_n = d.len / VIRTQ_DESC_SIZE;
            indirect = true;
            i = 0;
            seen = 0;
            continue;
        }
        err = add_buffer(vq, &d, &writing, elem);
        if (err) {
            return err;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            return NULL;
        }
        if (d.next >= table_n) {
            return "next index beyond table";
        }
        i = d.next;
    }
}

/* Available entries not yet taken; -1 if the driver's idx is impossible. */
static int avail_pending(VirtQueue *vq, const Rings *r)
{
    uint16_t idx = __atomic_load_n(&r->avail[1], __ATOMIC_ACQUIRE);
    uint16_t n = (uint16_t)(GUINT16_FROM_LE(idx) - vq->last_avail);

    return n > vq->size ? -1 : n;
}

static void set_avail_event(VirtQueue *vq, const Rings *r)
{
    __atomic_store_n(avail_event_ptr(vq, r), GUINT16_TO_LE(vq->last_avail),
                     __ATOMIC_RELEASE);
}

int virtqueue_pop(VirtQueue *vq, VirtqElem *elem)
{
    bool event_idx = virtio_has_feature(vq->vd, VIRTIO_F_RING_EVENT_IDX);
    const char *err;
    uint16_t head;
    Rings r;
    int n;

    if (vq->vd->status & VIRTIO_STATUS_NEEDS_RESET) {
        return -1;
    }
    if (!vq->enabled) {
        return 0;
    }
    if (!vq_map(vq, &r)) {
        return vq_fail(vq, "rings misaligned or outside guest RAM");
    }
    n = avail_pending(vq, &r);
    if (n == 0 && event_idx) {
        /*
         * Ask for a notification on the next buffer, then look again: the
         * driver may have added one after reading the old avail_event.
         */
        set_avail_event(vq, &r);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        n = avail_pending(vq, &r);
    }
    if (n < 0) {
        return vq_fail(vq, "avail index moved by more than the queue size");
    }
    if (n == 0) {
        return 0;
    }
    head = GUINT16_FROM_LE(__atomic_load_n(&r.avail[2 + vq->last_avail % vq->size],
                                           __ATOMIC_RELAXED));
    err = read_chain(vq, &r, head, elem);
    if (err) {
        return vq_fail(vq, err);
    }
    vq->last_avail++;
    if (event_idx) {
        set_avail_event(vq, &r);
    }
    return 1;
}

/* Tell the accelerator which bytes of the in[] buffers the device wrote. */
static void announce_written(Machine *m, const VirtqElem *elem, uint32_t written)
{
    for (unsigned i = 0; i < elem->in_num && written; i++) {
        uint32_t n = MIN(written, (uint32_t)elem->in[i].iov_len);

        machine_dma_written(m, elem->in_gpa[i], n);
        written -= n;
    }
}

void virtqueue_push(VirtQueue *vq, const VirtqElem *elem, uint32_t written)
{
    Machine *m = vq_machine(vq);
    uint8_t *slot;
    Rings r;

    if (!vq->enabled || (vq->vd->status & VIRTIO_STATUS_NEEDS_RESET)) {
        return;
    }
    if (!vq_map(vq, &r)) {
        vq_fail(vq, "rings misaligned or outside guest RAM");
        return;
    }
    if (written > elem->in_len) {
        log_err("%s: queue %u: device reports %u bytes written into %zu\n",
                vq->vd->ops->name, vq->index, written, elem->in_len);
        written = elem->in_len;
    }
    announce_written(m, elem, written);
    slot = r.used + 4 + 8 * (size_t)(vq->used_idx % vq->size);
    st32_le(slot, elem->head);
    st32_le(slot + 4, written);
    vq->used_idx++;
    /* Release: the element is visible before the index that covers it. */
    __atomic_store_n(used_idx_ptr(&r), GUINT16_TO_LE(vq->used_idx), __ATOMIC_RELEASE);
    machine_dma_written(m, vq->used_gpa, 6 + 8 * (uint64_t)vq->size);
}

/* vring_need_event of the spec (2.6.7.2): did new_idx pass event? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

static bool vq_wants_interrupt(VirtQueue *vq, const Rings *r)
{
    uint16_t old = vq->signalled_used;
    bool valid = vq->signalled_used_valid;

    /* Our used->idx store must be visible before we read the driver's wish. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!virtio_has_feature(vq->vd, VIRTIO_F_RING_EVENT_IDX)) {
        uint16_t flags = __atomic_load_n(&r->avail[0], __ATOMIC_RELAXED);

        return !(GUINT16_FROM_LE(flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    vq->signalled_used = vq->used_idx;
    vq->signalled_used_valid = true;
    if (!valid) {
        return true;
    }
    uint16_t used_event = __atomic_load_n(&r->avail[2 + vq->size], __ATOMIC_RELAXED);
    return need_event(GUINT16_FROM_LE(used_event), vq->used_idx, old);
}

void virtqueue_notify(VirtQueue *vq)
{
    Rings r;

    if (!vq->enabled || (vq->vd->status & VIRTIO_STATUS_NEEDS_RESET)) {
        return;
    }
    if (!vq_map(vq, &r)) {
        vq_fail(vq, "rings misaligned or outside guest RAM");
        return;
    }
    if (vq_wants_interrupt(vq, &r)) {
        virtio_pci_interrupt(vq->vd, vq, false);
    }
}
