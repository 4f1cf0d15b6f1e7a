/*
 * The modern (virtio 1.x only) PCI transport, virtio spec 4.1.
 *
 * BAR 4 (64-bit memory) holds the four structures the vendor-specific
 * capabilities point at; BAR 1 holds the MSI-X table and PBA (served by
 * the PCI bus):
 *   0x0000 common configuration      0x2000 device configuration
 *   0x1000 ISR status                0x3000 notifications, 4 bytes per queue
 * A fifth capability (VIRTIO_PCI_CAP_PCI_CFG) gives config-space access to
 * the BAR for drivers that cannot map it.
 *
 * Every register is reached at any access size: reads build the bytes of
 * the structure, writes merge into them and apply each field they touch.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <glib-unix.h>
#include "accel/accel.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "kemu/log.h"
#include "virtio-internal.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS 0x1100

#define PCI_CAP_ID_VNDR 0x09
enum {
    VIRTIO_PCI_CAP_COMMON_CFG = 1,
    VIRTIO_PCI_CAP_NOTIFY_CFG = 2,
    VIRTIO_PCI_CAP_ISR_CFG = 3,
    VIRTIO_PCI_CAP_DEVICE_CFG = 4,
    VIRTIO_PCI_CAP_PCI_CFG = 5,
};

#define MODERN_BAR 4
#define MSIX_BAR 1
#define COMMON_OFF 0x0000
#define COMMON_LEN 0x38
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define DEVICE_MAX 0x1000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4
#define MODERN_BAR_SIZE 0x4000

/* Common configuration fields (4.1.4.3). */
enum {
    CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c,
    CC_MSIX = 0x10, CC_NUMQ = 0x12, CC_STATUS = 0x14, CC_CFGGEN = 0x15,
    CC_Q_SELECT = 0x16, CC_Q_SIZE = 0x18, CC_Q_MSIX = 0x1a, CC_Q_ENABLE = 0x1c,
    CC_Q_NOFF = 0x1e, CC_Q_DESC = 0x20, CC_Q_DRIVER = 0x28, CC_Q_DEVICE = 0x30,
};

typedef struct CommonField {
    uint8_t off, size;
} CommonField;

static const CommonField common_fields[] = {
    { CC_DFSELECT, 4 }, { CC_DF, 4 }, { CC_GFSELECT, 4 }, { CC_GF, 4 },
    { CC_MSIX, 2 }, { CC_NUMQ, 2 }, { CC_STATUS, 1 }, { CC_CFGGEN, 1 },
    { CC_Q_SELECT, 2 }, { CC_Q_SIZE, 2 }, { CC_Q_MSIX, 2 }, { CC_Q_ENABLE, 2 },
    { CC_Q_NOFF, 2 }, { CC_Q_DESC, 8 }, { CC_Q_DRIVER, 8 }, { CC_Q_DEVICE, 8 },
};

/*
 * A queue's notify address handed to the accelerator (ioeventfd): guest
 * writes there signal @fd without an exit to us, and the main loop calls
 * queue_notify. fd < 0: not registered.
 */
typedef struct VirtioPci VirtioPci;
typedef struct VpNotifier {
    VirtioPci *vp;
    unsigned q;
    int fd;
    guint watch;
    uint64_t addr;
} VpNotifier;

/*
 * Transport state beyond VirtioDevice. It lives in a side allocation so the
 * public struct stays as devices see it; it is the modern BAR's opaque.
 */
struct VirtioPci {
    VirtioDevice *vd;
    Machine *m;
    uint32_t dfselect, gfselect;
    uint16_t config_vector;
    uint16_t queue_select;
    uint8_t cfg_cap;                /* config offset of the PCI_CFG capability */
    VpNotifier *notifiers;          /* one per queue */
};

static VirtioPci *vp_of(VirtioDevice *vd)
{
    return vd->pci.bars[MODERN_BAR].opaque;
}

static VirtQueue *selected_queue(VirtioPci *vp)
{
    return virtio_queue(vp->vd, vp->queue_select);
}

/* ---- ioeventfd notifications (accelerators that offer them) ---- */

static bool queue_notifiable(VirtioDevice *vd, VirtQueue *vq)
{
    return vq && vq->enabled && !(vd->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* The main loop (BQL held) saw the guest kick queue n->q. */
static gboolean notifier_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    VpNotifier *n = opaque;
    VirtioDevice *vd = n->vp->vd;
    uint64_t count;

    (void)cond;
    if (read(fd, &count, sizeof(count)) == sizeof(count) &&
        queue_notifiable(vd, virtio_queue(vd, n->q))) {
        vd->ops->queue_notify(vd, n->q);
    }
    return G_SOURCE_CONTINUE;
}

/*
 * Withdraw @n from the accelerator. A kick that raced with this is
 * delivered now when @deliver, so moving the BAR loses nothing.
 */
static void notifier_stop(VpNotifier *n, bool deliver)
{
    VirtioDevice *vd = n->vp->vd;
    const AccelOps *ops = n->vp->m->accel;
    g_autoptr(GError) err = NULL;
    uint64_t count;

    if (n->fd < 0) {
        return;
    }
    if (!ops->ioeventfd(n->vp->m, n->addr, 2, true, n->fd, false, &err) && deliver) {
        log_warn("%s: queue %u: %s", vd->ops->name, n->q, err->message);
    }
    g_source_remove(n->watch);
    if (deliver && read(n->fd, &count, sizeof(count)) == sizeof(count) &&
        queue_notifiable(vd, virtio_queue(vd, n->q))) {
        vd->ops->queue_notify(vd, n->q);
    }
    close(n->fd);
    n->fd = -1;
    n->watch = 0;
}

/* Hand queue n->q's notify address @addr to the accelerator; quiet fallback. */
static void notifier_start(VpNotifier *n, uint64_t addr)
{
    VirtioDevice *vd = n->vp->vd;
    g_autoptr(GError) err = NULL;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0) {
        log_warn("%s: queue %u: eventfd: %s", vd->ops->name, n->q, g_strerror(errno));
        return;
    }
    /* Drivers write the 16-bit queue index (virtio 1.x, 4.1.5.2). */
    if (!n->vp->m->accel->ioeventfd(n->vp->m, addr, 2, true, fd, true, &err)) {
        /* Writes keep reaching modern_write: slower, still correct. */
        log_warn("%s: queue %u: %s", vd->ops->name, n->q, err->message);
        close(fd);
        return;
    }
    n->fd = fd;
    n->addr = addr;
    n->watch = g_unix_fd_add(fd, G_IO_IN, notifier_ready, n);
}

/*
 * Bring the accelerator's registrations in line with the BAR placement
 * and the enabled queues. Called whenever either may have changed.
 */
static void notifiers_sync(VirtioPci *vp)
{
    VirtioDevice *vd = vp->vd;
    uint64_t bar = vd->pci.bars[MODERN_BAR].mapped;

    if (!vp->notifiers) {
        return;
    }
    for (unsigned q = 0; q < vd->ops->num_queues; q++) {
        VpNotifier *n = &vp->notifiers[q];
        bool want = bar != PCI_BAR_UNMAPPED && vd->vqs[q].enabled;
        uint64_t addr = bar + NOTIFY_OFF + (uint64_t)q * NOTIFY_MULT;

        if (n->fd >= 0 && (!want || n->addr != addr)) {
            notifier_stop(n, true);
        }
        if (want && n->fd < 0) {
            notifier_start(n, addr);
        }
    }
}

static void modern_bar_mapped(PciDevice *d, int bar, uint64_t addr)
{
    VirtioPci *vp = vp_of((VirtioDevice *)d);

    (void)addr;
    if (bar == MODERN_BAR && vp) {
        notifiers_sync(vp);
    }
}

/* ---- interrupts ---- */

void virtio_pci_interrupt(VirtioDevice *vd, VirtQueue *vq, bool config)
{
    VirtioPci *vp = vp_of(vd);

    vd->isr |= config ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE;
    if (msix_enabled(&vd->pci)) {
        uint16_t v = config ? (vp ? vp->config_vector : VIRTIO_NO_VECTOR)
                            : vq->msix_vector;

        if (v != VIRTIO_NO_VECTOR) {
            msix_notify(&vd->pci, v);
        }
    } else {
        pci_set_irq(&vd->pci, 1);
    }
}

void virtio_config_changed(VirtioDevice *vd)
{
    vd->config_generation++;
    if (vd->status & VIRTIO_STATUS_DRIVER_OK) {
        virtio_pci_interrupt(vd, NULL, true);
    }
}

void virtio_set_needs_reset(VirtioDevice *vd)
{
    if (vd->status & VIRTIO_STATUS_NEEDS_RESET) {
        return;
    }
    vd->status |= VIRTIO_STATUS_NEEDS_RESET;
    virtio_config_changed(vd);
}

/* ---- reset, features, status ---- */

static void virtio_reset(VirtioDevice *vd)
{
    VirtioPci *vp = vp_of(vd);
    bool was_live = vd->status != 0;

    vd->status = 0;
    vd->guest_features = 0;
    vd->isr = 0;
    if (vp) {
        vp->dfselect = vp->gfselect = 0;
        vp->queue_select = 0;
        vp->config_vector = VIRTIO_NO_VECTOR;
    }
    for (unsigned q = 0; q < vd->ops->num_queues; q++) {
        virtqueue_reset(&vd->vqs[q]);
    }
    if (vp) {
        notifiers_sync(vp);
    }
    pci_set_irq(&vd->pci, 0);
    if (was_live && vd->ops->status_changed) {
        vd->ops->status_changed(vd, false);
    }
}

/* FEATURES_OK is granted only for offered features including VERSION_1. */
static bool features_acceptable(const VirtioDevice *vd)
{
    return (vd->guest_features & ~vd->host_features) == 0 &&
           (vd->guest_features & VIRTIO_F_VERSION_1);
}

static void set_status(VirtioDevice *vd, uint8_t val)
{
    uint8_t old = vd->status;

    if (val == 0) {
        virtio_reset(vd);
        return;
    }
    /* The device alone sets NEEDS_RESET; the driver cannot clear it. */
    val = (val & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        !features_acceptable(vd)) {
        log_guest_error("%s: driver features 0x%" G_GINT64_MODIFIER "x refused\n",
                        vd->ops->name, vd->guest_features);
        val &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    if ((val & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK)) {
        log_guest_error("%s: DRIVER_OK without FEATURES_OK\n", vd->ops->name);
        val &= ~VIRTIO_STATUS_DRIVER_OK;
    }
    vd->status = val;
    if ((val & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
        vd->ops->status_changed) {
        vd->ops->status_changed(vd, true);
    }
}

static void set_driver_features(VirtioPci *vp, uint32_t val)
{
    VirtioDevice *vd = vp->vd;
    unsigned shift;

    if (vp->gfselect > 1 || (vd->status & VIRTIO_STATUS_FEATURES_OK)) {
        return;
    }
    shift = 32 * vp->gfselect;
    vd->guest_features = (vd->guest_features & ~(0xffffffffull << shift)) |
                         ((uint64_t)val << shift);
}

/* ---- common configuration ---- */

static void common_image(VirtioPci *vp, uint8_t *img)
{
    VirtioDevice *vd = vp->vd;
    VirtQueue *vq = selected_queue(vp);
    uint64_t df = vp->dfselect <= 1 ? vd->host_features >> (32 * vp->dfselect) : 0;
    uint64_t gf = vp->gfselect <= 1 ? vd->guest_features >> (32 * vp->gfselect) : 0;

    memset(img, 0, COMMON_LEN);
    stn_le(img + CC_DFSELECT, vp->dfselect, 4);
    stn_le(img + CC_DF, (uint32_t)df, 4);
    stn_le(img + CC_GFSELECT, vp->gfselect, 4);
    stn_le(img + CC_GF, (uint32_t)gf, 4);
    stn_le(img + CC_MSIX, vp->config_vector, 2);
    stn_le(img + CC_NUMQ, vd->ops->num_queues, 2);
    img[CC_STATUS] = vd->status;
    img[CC_CFGGEN] = (uint8_t)vd->config_generation;
    stn_le(img + CC_Q_SELECT, vp->queue_select, 2);
    if (vq) {
        stn_le(img + CC_Q_SIZE, vq->size, 2);
        stn_le(img + CC_Q_MSIX, vq->msix_vector, 2);
        stn_le(img + CC_Q_ENABLE, vq->enabled, 2);
        stn_le(img + CC_Q_NOFF, vq->index, 2);
        stn_le(img + CC_Q_DESC, vq->desc_gpa, 8);
        stn_le(img + CC_Q_DRIVER, vq->avail_gpa, 8);
        stn_le(img + CC_Q_DEVICE, vq->used_gpa, 8);
    }
}

static uint16_t valid_vector(VirtioDevice *vd, uint64_t v)
{
    return v < vd->pci.msix_vectors ? v : VIRTIO_NO_VECTOR;
}

/* Queue registers change only while the queue is disabled (4.1.4.3.2). */
static void queue_field_write(VirtioPci *vp, VirtQueue *vq, unsigned off, uint64_t val)
{
    if (off == CC_Q_MSIX) {
        vq->msix_vector = valid_vector(vp->vd, val);
        return;
    }
    if (vq->enabled) {
        log_guest_error("%s: queue %u register 0x%x written while enabled\n",
                        vp->vd->ops->name, vq->index, off);
        return;
    }
    switch (off) {
    case CC_Q_SIZE:
        if (val == 0 || val > vq->max_size) {
            log_guest_error("%s: queue %u size %u refused\n", vp->vd->ops->name,
                            vq->index, (unsigned)val);
            return;
        }
        vq->size = val;
        break;
    case CC_Q_ENABLE:
        if (val == 1) {
            vq->enabled = true;
            vq->last_avail = vq->used_idx = 0;
            vq->signalled_used_valid = false;
            notifiers_sync(vp);
        }
        break;
    case CC_Q_DESC:
        vq->desc_gpa = val;
        break;
    case CC_Q_DRIVER:
        vq->avail_gpa = val;
        break;
    case CC_Q_DEVICE:
        vq->used_gpa = val;
        break;
    }
}

static void common_field_write(VirtioPci *vp, unsigned off, uint64_t val)
{
    VirtioDevice *vd = vp->vd;
    VirtQueue *vq = selected_queue(vp);

    switch (off) {
    case CC_DFSELECT:
        vp->dfselect = val;
        break;
    case CC_GFSELECT:
        vp->gfselect = val;
        break;
    case CC_GF:
        set_driver_features(vp, val);
        break;
    case CC_MSIX:
        vp->config_vector = valid_vector(vd, val);
        break;
    case CC_STATUS:
        set_status(vd, val);
        break;
    case CC_Q_SELECT:
        vp->queue_select = val;
        break;
    case CC_Q_SIZE: case CC_Q_MSIX: case CC_Q_ENABLE:
    case CC_Q_DESC: case CC_Q_DRIVER: case CC_Q_DEVICE:
        if (vq) {
            queue_field_write(vp, vq, off, val);
        }
        break;
    default:                    /* read-only fields */
        break;
    }
}

static void common_write(VirtioPci *vp, uint64_t off, uint64_t val, unsigned size)
{
    uint8_t img[COMMON_LEN];

    if (off >= COMMON_LEN || size > COMMON_LEN - off) {
        return;
    }
    common_image(vp, img);
    stn_le(img + off, val, size);
    for (size_t i = 0; i < G_N_ELEMENTS(common_fields); i++) {
        const CommonField *f = &common_fields[i];

        if (off < f->off + f->size && f->off < off + size) {
            /* Re-read the image: an earlier field (queue_select) may matter. */
            common_field_write(vp, f->off, ldn_le(img + f->off, f->size));
        }
    }
}

static uint64_t common_read(VirtioPci *vp, uint64_t off, unsigned size)
{
    uint8_t img[COMMON_LEN];

    if (off >= COMMON_LEN || size > COMMON_LEN - off) {
        return 0;
    }
    common_image(vp, img);
    return ldn_le(img + off, size);
}

/* ---- the modern BAR ---- */

static uint64_t device_cfg_read(VirtioDevice *vd, uint64_t off, unsigned size)
{
    uint8_t buf[DEVICE_MAX + 8] = { 0 };
    size_t len = MIN(vd->ops->config_size, (size_t)DEVICE_MAX);

    if (off >= len || !vd->ops->get_config) {
        return 0;
    }
    vd->ops->get_config(vd, buf);
    /* Bytes past the config read as zero (buf has 8 spare bytes). */
    memset(buf + len, 0, sizeof(buf) - len);
    return ldn_le(buf + off, size);
}

static void device_cfg_write(VirtioDevice *vd, uint64_t off, uint64_t val, unsigned size)
{
    size_t len = MIN(vd->ops->config_size, (size_t)DEVICE_MAX);
    uint8_t data[8];

    if (off >= len || !vd->ops->set_config) {
        return;
    }
    stn_le(data, val, size);
    vd->ops->set_config(vd, off, data, MIN((size_t)size, len - off));
}

static uint64_t modern_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioPci *vp = opaque;
    VirtioDevice *vd = vp->vd;

    if (off < ISR_OFF) {
        return common_read(vp, off - COMMON_OFF, size);
    }
    if (off < DEVICE_OFF) {
        uint8_t isr = vd->isr;

        if (off != ISR_OFF) {
            return 0;
        }
        /* Reading clears ISR and de-asserts INTx (4.1.4.5). */
        vd->isr = 0;
        pci_set_irq(&vd->pci, 0);
        return isr;
    }
    if (off < NOTIFY_OFF) {
        return device_cfg_read(vd, off - DEVICE_OFF, size);
    }
    return 0;
}

static void modern_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VirtioPci *vp = opaque;
    VirtioDevice *vd = vp->vd;

    if (off < ISR_OFF) {
        common_write(vp, off - COMMON_OFF, val, size);
    } else if (off < DEVICE_OFF) {
        /* ISR is read-only */
    } else if (off < NOTIFY_OFF) {
        device_cfg_write(vd, off - DEVICE_OFF, val, size);
    } else {
        unsigned q = (off - NOTIFY_OFF) / NOTIFY_MULT;
        VirtQueue *vq = virtio_queue(vd, q);

        if (vq && vq->enabled && !(vd->status & VIRTIO_STATUS_NEEDS_RESET)) {
            vd->ops->queue_notify(vd, q);
        }
    }
}

static const IoOps modern_ops = {
    .read = modern_read,
    .write = modern_write,
    .min_size = 1,
    .max_size = 4,
};

/* BAR 1 outside the MSI-X table and PBA: nothing there. */
static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return 0;
}

static void msix_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)val;
    (void)size;
}

static const IoOps msix_bar_ops = {
    .read = msix_bar_read,
    .write = msix_bar_write,
    .min_size = 1,
    .max_size = 8,
};

/* ---- capabilities ---- */

static uint8_t add_virtio_cap(PciDevice *d, uint8_t type, uint8_t len, uint32_t off,
                              uint32_t size)
{
    uint8_t c = pci_add_capability(d, PCI_CAP_ID_VNDR, len);

    d->config[c + 2] = len;
    d->config[c + 3] = type;
    d->config[c + 4] = type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : MODERN_BAR;
    stn_le(&d->config[c + 8], off, 4);
    stn_le(&d->config[c + 12], size, 4);
    return c;
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG (4.1.4.8): the driver programs bar/offset/length,
 * then accesses pci_cfg_data. Writes to pci_cfg_data go to the BAR; reads
 * are served from a value fetched when the window is programmed (the bus
 * has no config-read hook), so reading ISR through this window neither
 * clears it nor sees later changes.
 */
static void cfg_cap_written(PciDevice *d, unsigned off, unsigned size)
{
    VirtioPci *vp = vp_of((VirtioDevice *)d);
    uint8_t c = vp ? vp->cfg_cap : 0;
    uint8_t *cap = &d->config[c];
    uint32_t boff, blen;

    if (!c || off + size <= c + 4u || off >= c + 20u) {
        return;
    }
    boff = ldn_le(cap + 8, 4);
    blen = ldn_le(cap + 12, 4);
    if (cap[4] != MODERN_BAR || (blen != 1 && blen != 2 && blen != 4) ||
        boff % blen || boff >= MODERN_BAR_SIZE) {
        return;
    }
    if (off < c + 16u) {
        if (boff < ISR_OFF || boff >= ISR_OFF + 4) {
            stn_le(cap + 16, modern_read(vp, boff, blen), 4);
        }
    } else {
        modern_write(vp, boff, ldn_le(cap + 16, blen), blen);
    }
}

static void add_capabilities(VirtioDevice *vd)
{
    PciDevice *d = &vd->pci;
    uint8_t c;

    add_virtio_cap(d, VIRTIO_PCI_CAP_COMMON_CFG, 16, COMMON_OFF, COMMON_LEN);
    add_virtio_cap(d, VIRTIO_PCI_CAP_ISR_CFG, 16, ISR_OFF, 4);
    if (vd->ops->config_size) {
        add_virtio_cap(d, VIRTIO_PCI_CAP_DEVICE_CFG, 16, DEVICE_OFF,
                       MIN(vd->ops->config_size, (size_t)DEVICE_MAX));
    }
    c = add_virtio_cap(d, VIRTIO_PCI_CAP_NOTIFY_CFG, 20, NOTIFY_OFF,
                       NOTIFY_MULT * vd->ops->num_queues);
    stn_le(&d->config[c + 16], NOTIFY_MULT, 4);
    c = add_virtio_cap(d, VIRTIO_PCI_CAP_PCI_CFG, 20, 0, 0);
    /* bar, offset, length and data are the driver's to write */
    d->wmask[c + 4] = 0xff;
    memset(&d->wmask[c + 8], 0xff, 12);
    vp_of(vd)->cfg_cap = c;
    d->config_written = cfg_cap_written;
}

/* ---- device lifecycle ---- */

static void virtio_pci_device_reset(Device *dev)
{
    virtio_reset((VirtioDevice *)dev);
}

static void virtio_pci_finalize(Device *dev)
{
    VirtioDevice *vd = (VirtioDevice *)dev;

    VirtioPci *vp = vp_of(vd);

    if (vd->ops->finalize) {
        vd->ops->finalize(vd);
    }
    for (unsigned q = 0; vp && vp->notifiers && q < vd->ops->num_queues; q++) {
        notifier_stop(&vp->notifiers[q], false);
    }
    if (vp) {
        g_free(vp->notifiers);
    }
    g_free(vp);
    vd->pci.bars[MODERN_BAR].opaque = NULL;
    g_free(vd->vqs);
    vd->vqs = NULL;
}

static unsigned msix_bar_size(unsigned nvec)
{
    unsigned need = 16 * nvec + 8 * ((nvec + 63) / 64);
    unsigned size = 0x1000;

    while (size < need) {
        size <<= 1;
    }
    return size;
}

bool virtio_pci_create(Machine *m, VirtioDevice *vd, Opts *o, const char *id,
                       GError **errp)
{
    const VirtioDeviceOps *ops = vd->ops;
    unsigned nvec = ops->num_queues + 1;
    /* Static: the bus keeps the class pointer for the device's lifetime. */
    static const DeviceClass cls = {
        .name = "virtio-pci",
        .reset = virtio_pci_device_reset,
        .finalize = virtio_pci_finalize,
    };
    PciIdentity ident = {
        .vendor = VIRTIO_PCI_VENDOR,
        .device = VIRTIO_PCI_DEVICE_BASE + ops->device_id,
        .subsys_vendor = VIRTIO_PCI_VENDOR,
        .subsys = VIRTIO_PCI_SUBSYS,
        .revision = 1,
        .class_code = (uint32_t)ops->pci_class << 8,
        .irq_pin = 1,
    };
    GError *err = NULL;
    VirtioPci *vp;
    int devfn = -1;

    if (ops->num_queues == 0 || ops->num_queues > (MODERN_BAR_SIZE - NOTIFY_OFF) / NOTIFY_MULT ||
        ops->queue_size == 0 || ops->queue_size > VIRTQ_MAX_SIZE ||
        ops->config_size > DEVICE_MAX || !ops->queue_notify) {
        error_setg(errp, "%s: bad virtio device parameters", ops->name);
        return false;
    }
    if ((o && !pci_parse_addr(o, &devfn, errp)) ||
        !pci_device_init(&vd->pci, m, &cls, id, &ident, devfn, errp)) {
        return false;
    }
    vp = g_new0(VirtioPci, 1);
    vp->vd = vd;
    vp->m = m;
    if (m->accel && m->accel->ioeventfd) {
        vp->notifiers = g_new0(VpNotifier, ops->num_queues);
        for (unsigned q = 0; q < ops->num_queues; q++) {
            vp->notifiers[q] = (VpNotifier){ .vp = vp, .q = q, .fd = -1 };
        }
        vd->pci.bar_mapped = modern_bar_mapped;
    }
    pci_register_bar(&vd->pci, MODERN_BAR, PCI_BAR_MEM64, MODERN_BAR_SIZE,
                     &modern_ops, vp);
    pci_register_bar(&vd->pci, MSIX_BAR, PCI_BAR_MEM32, msix_bar_size(nvec),
                     &msix_bar_ops, vp);
    vd->host_features = ops->features | VIRTIO_F_VERSION_1 |
                        VIRTIO_F_RING_INDIRECT_DESC | VIRTIO_F_RING_EVENT_IDX;
    vd->vqs = g_new0(VirtQueue, ops->num_queues);
    for (unsigned q = 0; q < ops->num_queues; q++) {
        vd->vqs[q] = (VirtQueue){ .vd = vd, .index = q, .max_size = ops->queue_size };
    }
    virtio_reset(vd);
    add_capabilities(vd);
    /*
     * The device is registered by now, so failing here would leave the
     * caller unable to free it; MSI-X cannot fail for the parameters
     * checked above, and without it the device still works over INTx.
     */
    if (!msix_init(&vd->pci, nvec, MSIX_BAR, 0, 16 * nvec, &err)) {
        log_err("%s: no MSI-X: %s\n", ops->name, err->message);
        g_error_free(err);
    }
    return true;
}
