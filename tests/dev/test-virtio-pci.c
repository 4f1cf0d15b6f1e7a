/*
 * The modern virtio-pci transport (hw/virtio/virtio-pci.c) driven through
 * its config space and BAR as a driver would: capability walk, feature
 * negotiation, queue setup, notifications, ISR/INTx, MSI-X delivery
 * (through the accelerator's signal_msi), device config, reset, and queue
 * notifications through an accelerator's ioeventfd hook.
 */
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "virtio-pci-harness.h"

typedef struct TestDev {
    VirtioDevice vd;
    unsigned notified[4];
    int last_status;                /* -1 none, else the last ok argument */
    unsigned ok_calls;              /* status_changed(true) calls */
    unsigned set_off, set_len;
    uint8_t set_data[8];
    uint8_t cfg[10];
} TestDev;

static void t_get_config(VirtioDevice *vd, uint8_t *cfg)
{
    memcpy(cfg, ((TestDev *)vd)->cfg, sizeof(((TestDev *)vd)->cfg));
}

static void t_set_config(VirtioDevice *vd, unsigned off, const uint8_t *data, unsigned len)
{
    TestDev *t = (TestDev *)vd;

    t->set_off = off;
    t->set_len = len;
    memcpy(t->set_data, data, len);
    memcpy(t->cfg + off, data, len);
}

static void t_notify(VirtioDevice *vd, unsigned q)
{
    ((TestDev *)vd)->notified[q]++;
}

static void t_status(VirtioDevice *vd, bool ok)
{
    TestDev *t = (TestDev *)vd;

    t->last_status = ok;
    t->ok_calls += ok;
}

#define FEATURE_X (1ull << 5)

static const VirtioDeviceOps t_ops = {
    .name = "virtio-test",
    .device_id = 2,
    .pci_class = 0x0100,
    .features = FEATURE_X,
    .num_queues = 3,
    .queue_size = 128,
    .config_size = 10,
    .get_config = t_get_config,
    .set_config = t_set_config,
    .queue_notify = t_notify,
    .status_changed = t_status,
};

typedef struct Fx {
    Machine *m;
    TestDev *t;
    VirtioDevice *vd;
} Fx;

static void fx_init(Fx *f)
{
    g_autoptr(GError) err = NULL;

    f->m = fake_machine_new();
    f->t = g_new0(TestDev, 1);
    f->t->last_status = -1;
    for (unsigned i = 0; i < sizeof(f->t->cfg); i++) {
        f->t->cfg[i] = 0xa0 + i;
    }
    f->vd = &f->t->vd;
    f->vd->ops = &t_ops;
    g_assert_true(virtio_pci_create(f->m, f->vd, NULL, "vt0", &err));
    g_assert_no_error(err);
}

static uint32_t cfg32(const PciDevice *d, unsigned off)
{
    uint32_t v;

    memcpy(&v, &d->config[off], 4);
    return v;
}

static uint16_t cfg16(const PciDevice *d, unsigned off)
{
    return d->config[off] | d->config[off + 1] << 8;
}

static void test_identity(void)
{
    Fx f;

    fx_init(&f);
    g_assert_cmphex(cfg16(&f.vd->pci, 0), ==, 0x1af4);
    g_assert_cmphex(cfg16(&f.vd->pci, 2), ==, 0x1042);
    g_assert_cmpuint(f.vd->pci.config[8], ==, 1);
    g_assert_cmphex(f.vd->pci.config[11], ==, 0x01);
    g_assert_cmphex(f.vd->pci.config[10], ==, 0x00);
    g_assert_cmphex(cfg16(&f.vd->pci, 0x2c), ==, 0x1af4);
    g_assert_cmphex(cfg16(&f.vd->pci, 0x2e), >=, 0x40);
    g_assert_cmpuint(f.vd->pci.config[0x3d], ==, 1);
    g_assert_true(f.vd->pci.bars[4].type & PCI_BAR_MEM64);
    g_assert_cmpuint(f.vd->pci.msix_vectors, ==, t_ops.num_queues + 1);
    g_assert_cmphex(device_find(f.m, "vt0") == &f.vd->pci.dev, ==, 1);
    fake_machine_free(f.m);
}

/* Walk the capability list as Linux's virtio_pci_modern does. */
static void test_capabilities(void)
{
    Fx f;
    PciDevice *d;
    unsigned found = 0, hops = 0;
    uint8_t msix = 0;

    fx_init(&f);
    d = &f.vd->pci;
    g_assert_true(d->config[6] & 0x10);
    for (uint8_t c = d->config[0x34]; c; c = d->config[c + 1]) {
        g_assert_cmpuint(++hops, <, 48);
        if (d->config[c] == 0x11) {
            msix = c;
            continue;
        }
        g_assert_cmpuint(d->config[c], ==, 0x09);
        uint8_t type = d->config[c + 3];
        uint32_t off = cfg32(d, c + 8), len = cfg32(d, c + 12);

        g_assert_cmpuint(type, >=, 1);
        g_assert_cmpuint(type, <=, 5);
        g_assert_false(found & (1u << type));
        found |= 1u << type;
        if (type == 5) {
            g_assert_cmpuint(d->config[c + 2], ==, 20);
            continue;
        }
        g_assert_cmpuint(d->config[c + 4], ==, 4);
        g_assert_cmpuint((uint64_t)off + len, <=, d->bars[4].size);
        switch (type) {
        case 1:
            g_assert_cmpuint(off, ==, T_COMMON);
            g_assert_cmpuint(len, >=, 0x38);
            break;
        case 2:
            g_assert_cmpuint(d->config[c + 2], ==, 20);
            g_assert_cmpuint(off, ==, T_NOTIFY);
            g_assert_cmpuint(cfg32(d, c + 16), ==, 4);
            g_assert_cmpuint(len, >=, 4 * t_ops.num_queues);
            break;
        case 3:
            g_assert_cmpuint(off, ==, T_ISR);
            g_assert_cmpuint(len, >=, 1);
            break;
        case 4:
            g_assert_cmpuint(off, ==, T_DEVICE);
            g_assert_cmpuint(len, ==, 10);
            break;
        }
    }
    g_assert_cmphex(found, ==, 0x3e);
    g_assert_cmpuint(msix, ==, d->msix_cap);
    fake_machine_free(f.m);
}

static void test_features(void)
{
    Fx f;
    VirtioDevice *vd;

    fx_init(&f);
    vd = f.vd;
    bar_write(vd, T_COMMON + 0x00, 0, 4);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x04, 4) & FEATURE_X, ==, FEATURE_X);
    g_assert_true(bar_read(vd, T_COMMON + 0x04, 4) & VIRTIO_F_RING_INDIRECT_DESC);
    bar_write(vd, T_COMMON + 0x00, 1, 4);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x04, 4), ==, 1);    /* VERSION_1 */
    bar_write(vd, T_COMMON + 0x00, 7, 4);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x04, 4), ==, 0);

    /* Without VERSION_1 the device refuses FEATURES_OK. */
    bar_write(vd, T_COMMON + 0x14, 3, 1);
    bar_write(vd, T_COMMON + 0x08, 0, 4);
    bar_write(vd, T_COMMON + 0x0c, FEATURE_X, 4);
    bar_write(vd, T_COMMON + 0x14, 0xb, 1);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x14, 1), ==, 3);
    /* Nor DRIVER_OK without FEATURES_OK. */
    bar_write(vd, T_COMMON + 0x14, 0x7, 1);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x14, 1) & 4, ==, 0);
    g_assert_cmpint(f.t->last_status, ==, -1);

    /* An unoffered feature is refused too. */
    g_assert_false(drv_negotiate(vd, 1ull << 40));
    g_assert_true(drv_negotiate(vd, FEATURE_X | VIRTIO_F_RING_EVENT_IDX));
    g_assert_true(virtio_has_feature(vd, FEATURE_X));
    g_assert_true(virtio_has_feature(vd, VIRTIO_F_RING_EVENT_IDX));
    g_assert_false(virtio_has_feature(vd, VIRTIO_F_RING_INDIRECT_DESC));
    /* Frozen after FEATURES_OK. */
    bar_write(vd, T_COMMON + 0x08, 0, 4);
    bar_write(vd, T_COMMON + 0x0c, 0, 4);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x0c, 4), ==, FEATURE_X | VIRTIO_F_RING_EVENT_IDX);
    drv_ok(vd);
    g_assert_cmpint(f.t->last_status, ==, 1);
    g_assert_cmpuint(f.t->ok_calls, ==, 1);
    fake_machine_free(f.m);
}

static void test_queues(void)
{
    Fx f;
    VirtioDevice *vd;

    fx_init(&f);
    vd = f.vd;
    g_assert_true(drv_negotiate(vd, 0));
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x12, 2), ==, 3);
    for (unsigned q = 0; q < 3; q++) {
        bar_write(vd, T_COMMON + 0x16, q, 2);
        g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 128);
        g_assert_cmpuint(bar_read(vd, T_COMMON + 0x1e, 2), ==, q);
        g_assert_cmphex(bar_read(vd, T_COMMON + 0x1a, 2), ==, 0xffff);
        g_assert_cmpuint(bar_read(vd, T_COMMON + 0x1c, 2), ==, 0);
    }
    bar_write(vd, T_COMMON + 0x16, 3, 2);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 0);

    drv_queue(vd, 1, 64, 0x11000, 0x12000, 0x13000);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 64);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x20, 8), ==, 0x11000);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x28, 8), ==, 0x12000);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x30, 8), ==, 0x13000);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x1c, 2), ==, 1);
    /* Locked while enabled; sizes above the maximum are refused. */
    bar_write(vd, T_COMMON + 0x20, 0x55000, 4);
    bar_write(vd, T_COMMON + 0x18, 32, 2);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x20, 8), ==, 0x11000);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 64);
    bar_write(vd, T_COMMON + 0x16, 2, 2);
    bar_write(vd, T_COMMON + 0x18, 256, 2);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 128);
    /* A one-byte write into the middle of a 64-bit field. */
    bar_write(vd, T_COMMON + 0x21, 0x47, 1);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x20, 8), ==, 0x4700);
    drv_ok(vd);

    /* Notify: queue 1 is enabled, queue 2 not, 3 does not exist. */
    bar_write(vd, T_NOTIFY + 4 * 1, 1, 2);
    bar_write(vd, T_NOTIFY + 4 * 2, 2, 2);
    bar_write(vd, T_NOTIFY + 4 * 3, 3, 2);
    bar_write(vd, T_NOTIFY + 0x2000, 3, 4);
    g_assert_cmpuint(f.t->notified[1], ==, 1);
    g_assert_cmpuint(f.t->notified[2], ==, 0);
    g_assert_cmpuint(f.t->notified[0] + f.t->notified[3], ==, 0);
    fake_machine_free(f.m);
}

static void test_isr_intx(void)
{
    Fx f;
    VirtioDevice *vd;

    fx_init(&f);
    vd = f.vd;
    g_assert_true(drv_negotiate(vd, 0));
    drv_ok(vd);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x15, 1), ==, 0);
    virtio_config_changed(vd);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x15, 1), ==, 1);
    g_assert_cmpint(fake_intx, ==, 1);
    g_assert_cmpuint(bar_read(vd, T_ISR, 1), ==, 2);
    g_assert_cmpint(fake_intx, ==, 0);
    g_assert_cmpuint(bar_read(vd, T_ISR, 1), ==, 0);
    g_assert_cmpuint(fake_msis->len, ==, 0);
    fake_machine_free(f.m);
}

static void msix_entry(PciDevice *d, unsigned v, uint32_t addr, uint32_t data, bool masked)
{
    uint32_t e[4] = { addr, 0, data, masked };

    memcpy(d->msix_table + 16 * v, e, 16);
}

static void test_msix(void)
{
    Fx f;
    VirtioDevice *vd;
    PciDevice *d;
    VirtqElem *elem = g_new0(VirtqElem, 1);
    uint8_t *avail;

    fx_init(&f);
    vd = f.vd;
    d = &vd->pci;
    pci_enable(f.m, d);
    cfg_write(f.m, d, d->msix_cap + 2, 0x8000, 2);     /* MSI-X enable */
    msix_entry(d, 0, 0xfee00000, 0x30, false);
    msix_entry(d, 2, 0xfee01000, 0x41, false);
    msix_entry(d, 3, 0xfee00000, 0x52, true);
    g_assert_true(drv_negotiate(vd, 0));
    bar_write(vd, T_COMMON + 0x10, 0, 2);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x10, 2), ==, 0);
    bar_write(vd, T_COMMON + 0x16, 0, 2);
    bar_write(vd, T_COMMON + 0x1a, 9, 2);   /* beyond the table: NO_VECTOR */
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x1a, 2), ==, 0xffff);
    bar_write(vd, T_COMMON + 0x1a, 2, 2);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x1a, 2), ==, 2);
    bar_write(vd, T_COMMON + 0x16, 1, 2);
    bar_write(vd, T_COMMON + 0x1a, 3, 2);
    drv_queue(vd, 0, 16, 0x1000, 0x2000, 0x3000);
    drv_queue(vd, 1, 16, 0x4000, 0x5000, 0x6000);
    drv_ok(vd);

    /* One request on queue 0, completed: MSI with vector 2's message. */
    memcpy(ram(f.m, 0x1000), &(uint64_t){ 0x8000 }, 8);
    memcpy(ram(f.m, 0x1008), &(uint32_t){ 16 }, 4);
    memcpy(ram(f.m, 0x100c), &(uint16_t){ 2 }, 2);      /* WRITE */
    avail = ram(f.m, 0x2000);
    avail[2] = 1;                                       /* idx 1, ring[0] = 0 */
    g_assert_cmpint(virtqueue_pop(virtio_queue(vd, 0), elem), ==, 1);
    virtqueue_push(virtio_queue(vd, 0), elem, 16);
    virtqueue_notify(virtio_queue(vd, 0));
    g_assert_cmpuint(fake_msis->len, ==, 1);
    g_assert_cmphex(g_array_index(fake_msis, FakeMsi, 0).addr, ==, 0xfee01000);
    g_assert_cmphex(g_array_index(fake_msis, FakeMsi, 0).data, ==, 0x41);
    g_assert_cmpint(fake_intx_raises, ==, 0);

    /* Queue 1's vector is masked: pending bit, no message. */
    virtqueue_notify(virtio_queue(vd, 1));
    g_assert_cmpuint(fake_msis->len, ==, 1);
    g_assert_cmphex(d->msix_pending[0], ==, 1u << 3);

    /* Config changes go to the config vector. */
    virtio_config_changed(vd);
    g_assert_cmpuint(fake_msis->len, ==, 2);
    g_assert_cmphex(g_array_index(fake_msis, FakeMsi, 1).data, ==, 0x30);
    g_assert_cmpint(fake_intx_raises, ==, 0);
    g_free(elem);
    fake_machine_free(f.m);
}

static void test_device_config(void)
{
    Fx f;
    VirtioDevice *vd;

    fx_init(&f);
    vd = f.vd;
    g_assert_cmphex(bar_read(vd, T_DEVICE + 0, 1), ==, 0xa0);
    g_assert_cmphex(bar_read(vd, T_DEVICE + 1, 2), ==, 0xa2a1);
    g_assert_cmphex(bar_read(vd, T_DEVICE + 4, 4), ==, 0xa7a6a5a4);
    g_assert_cmphex(bar_read(vd, T_DEVICE + 8, 4), ==, 0xa9a8);    /* past the end: 0 */
    g_assert_cmphex(bar_read(vd, T_DEVICE + 0x100, 4), ==, 0);
    bar_write(vd, T_DEVICE + 2, 0x1234, 2);
    g_assert_cmpuint(f.t->set_off, ==, 2);
    g_assert_cmpuint(f.t->set_len, ==, 2);
    g_assert_cmphex(bar_read(vd, T_DEVICE + 2, 2), ==, 0x1234);
    bar_write(vd, T_DEVICE + 9, 0xffffffff, 4);         /* clipped to the config */
    g_assert_cmpuint(f.t->set_off, ==, 9);
    g_assert_cmpuint(f.t->set_len, ==, 1);
    fake_machine_free(f.m);
}

static void test_reset(void)
{
    Fx f;
    VirtioDevice *vd;

    fx_init(&f);
    vd = f.vd;
    g_assert_true(drv_negotiate(vd, FEATURE_X));
    bar_write(vd, T_COMMON + 0x16, 0, 2);
    bar_write(vd, T_COMMON + 0x1a, 1, 2);
    drv_queue(vd, 0, 32, 0x1000, 0x2000, 0x3000);
    drv_ok(vd);
    virtio_config_changed(vd);
    g_assert_cmpint(fake_intx, ==, 1);

    bar_write(vd, T_COMMON + 0x14, 0, 1);
    g_assert_cmpint(f.t->last_status, ==, 0);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x14, 1), ==, 0);
    g_assert_cmpint(fake_intx, ==, 0);
    g_assert_cmpuint(vd->guest_features, ==, 0);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x16, 2), ==, 0);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x18, 2), ==, 128);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x1c, 2), ==, 0);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x1a, 2), ==, 0xffff);
    g_assert_cmphex(bar_read(vd, T_COMMON + 0x20, 8), ==, 0);
    g_assert_cmpuint(bar_read(vd, T_ISR, 1), ==, 0);

    /* Machine reset does the same. */
    g_assert_true(drv_negotiate(vd, 0));
    drv_ok(vd);
    devices_reset(f.m);
    g_assert_cmpuint(bar_read(vd, T_COMMON + 0x14, 1), ==, 0);
    g_assert_cmpint(f.t->last_status, ==, 0);
    fake_machine_free(f.m);
}

/* VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space. */
static void test_pci_cfg_window(void)
{
    Fx f;
    PciDevice *d;
    uint8_t c = 0;

    fx_init(&f);
    d = &f.vd->pci;
    for (uint8_t p = d->config[0x34]; p; p = d->config[p + 1]) {
        if (d->config[p] == 0x09 && d->config[p + 3] == 5) {
            c = p;
        }
    }
    g_assert_cmpuint(c, !=, 0);
    g_assert_cmphex(d->wmask[c + 16], ==, 0xff);

    /* Read num_queues: program bar 4, offset 0x12, length 2. */
    cfg_write(f.m, d, c + 4, 4, 1);
    cfg_write(f.m, d, c + 8, 0x12, 4);
    cfg_write(f.m, d, c + 12, 2, 4);
    g_assert_cmpuint(cfg_read(f.m, d, c + 16, 2), ==, 3);

    /* Write queue_select = 2 through the window. */
    cfg_write(f.m, d, c + 8, 0x16, 4);
    cfg_write(f.m, d, c + 16, 2, 4);
    g_assert_cmpuint(bar_read(f.vd, T_COMMON + 0x16, 2), ==, 2);

    /* The capability header stays read-only; nonsense windows do nothing. */
    cfg_write(f.m, d, c + 2, 0xffff, 2);
    g_assert_cmpuint(cfg_read(f.m, d, c + 2, 1), ==, 20);
    g_assert_cmpuint(cfg_read(f.m, d, c + 3, 1), ==, 5);
    cfg_write(f.m, d, c + 8, 0xfffffff0, 4);
    cfg_write(f.m, d, c + 16, 0, 4);
    cfg_write(f.m, d, c + 12, 3, 4);
    cfg_write(f.m, d, c + 16, 0, 4);
    cfg_write(f.m, d, c + 4, 1, 1);
    cfg_write(f.m, d, c + 16, 0, 4);
    g_assert_cmpuint(bar_read(f.vd, T_COMMON + 0x16, 2), ==, 2);
    fake_machine_free(f.m);
}

/* ---- ioeventfd: an accelerator that records registrations ---- */

typedef struct IoevReg {
    uint64_t addr;
    unsigned len;
    int fd;
} IoevReg;

static GArray *ioev_live;           /* IoevReg currently assigned */
static unsigned ioev_assigns, ioev_deassigns;
static bool ioev_refuse;

static bool fake_ioeventfd(Machine *m, uint64_t addr, unsigned len, bool mmio, int fd,
                           bool assign, GError **errp)
{
    (void)m;
    g_assert_true(mmio);
    g_assert_cmpint(fd, >=, 0);
    if (assign) {
        IoevReg r = { addr, len, fd };

        if (ioev_refuse) {
            error_setg(errp, "refused");
            return false;
        }
        for (guint i = 0; i < ioev_live->len; i++) {
            g_assert_cmphex(g_array_index(ioev_live, IoevReg, i).addr, !=, addr);
        }
        g_array_append_val(ioev_live, r);
        ioev_assigns++;
        return true;
    }
    for (guint i = 0; i < ioev_live->len; i++) {
        IoevReg *r = &g_array_index(ioev_live, IoevReg, i);

        if (r->addr == addr && r->len == len && r->fd == fd) {
            g_array_remove_index(ioev_live, i);
            ioev_deassigns++;
            return true;
        }
    }
    g_assert_not_reached();
}

static const AccelOps ioev_accel = {
    .name = "fake-ioeventfd",
    .signal_msi = fake_signal_msi,
    .dma_written = fake_dma_written,
    .ioeventfd = fake_ioeventfd,
};

static const IoevReg *ioev_find(uint64_t addr)
{
    for (guint i = 0; i < ioev_live->len; i++) {
        if (g_array_index(ioev_live, IoevReg, i).addr == addr) {
            return &g_array_index(ioev_live, IoevReg, i);
        }
    }
    return NULL;
}

/* Kick through the eventfd the way KVM would, then run the main loop. */
static void ioev_kick_and_wait(const IoevReg *r, const unsigned *counter, unsigned want)
{
    uint64_t one = 1;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    g_assert_cmpint(write(r->fd, &one, sizeof(one)), ==, sizeof(one));
    while (*counter < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_cmpuint(*counter, ==, want);
}

#define BAR4_A 0xc0000000ull
#define BAR4_B 0xc0100000ull

static void ioev_fx_init(Fx *f)
{
    g_autoptr(GError) err = NULL;

    if (!ioev_live) {
        ioev_live = g_array_new(FALSE, FALSE, sizeof(IoevReg));
    }
    g_array_set_size(ioev_live, 0);
    ioev_assigns = ioev_deassigns = 0;
    ioev_refuse = false;
    f->m = fake_machine_new();
    f->m->accel = &ioev_accel;
    f->t = g_new0(TestDev, 1);
    f->t->last_status = -1;
    f->vd = &f->t->vd;
    f->vd->ops = &t_ops;
    g_assert_true(virtio_pci_create(f->m, f->vd, NULL, "vt0", &err));
    g_assert_no_error(err);
}

static void test_ioeventfd(void)
{
    Fx f;
    VirtioDevice *vd;
    PciDevice *d;
    const IoevReg *r;

    ioev_fx_init(&f);
    vd = f.vd;
    d = &vd->pci;
    g_assert_true(drv_negotiate(vd, 0));
    /* A queue enabled while BAR 4 is unmapped: nothing to register yet. */
    drv_queue(vd, 1, 64, 0x11000, 0x12000, 0x13000);
    g_assert_cmpuint(ioev_live->len, ==, 0);

    cfg_write(f.m, d, 0x20, (uint32_t)BAR4_A, 4);
    cfg_write(f.m, d, 0x24, 0, 4);
    pci_enable(f.m, d);
    g_assert_cmphex(d->bars[4].mapped, ==, BAR4_A);
    g_assert_cmpuint(ioev_live->len, ==, 1);
    r = ioev_find(BAR4_A + T_NOTIFY + 4 * 1);
    g_assert_nonnull(r);
    g_assert_cmpuint(r->len, ==, 2);

    /* Enabling another queue adds its own address. */
    drv_queue(vd, 2, 64, 0x21000, 0x22000, 0x23000);
    g_assert_cmpuint(ioev_live->len, ==, 2);
    g_assert_nonnull(ioev_find(BAR4_A + T_NOTIFY + 4 * 2));
    drv_ok(vd);

    /* A kick through the eventfd reaches queue_notify from the main loop. */
    ioev_kick_and_wait(ioev_find(BAR4_A + T_NOTIFY + 4 * 1), &f.t->notified[1], 1);
    ioev_kick_and_wait(ioev_find(BAR4_A + T_NOTIFY + 4 * 2), &f.t->notified[2], 1);
    g_assert_cmpuint(f.t->notified[0], ==, 0);
    /* Writes that do reach the BAR (e.g. other sizes) still notify. */
    iobus_write(f.m->mmio, BAR4_A + T_NOTIFY + 4, 1, 4);
    g_assert_cmpuint(f.t->notified[1], ==, 2);

    /* Moving the BAR moves the registrations. */
    cfg_write(f.m, d, 0x20, (uint32_t)BAR4_B, 4);
    g_assert_cmpuint(ioev_live->len, ==, 2);
    g_assert_nonnull(ioev_find(BAR4_B + T_NOTIFY + 4 * 1));
    g_assert_nonnull(ioev_find(BAR4_B + T_NOTIFY + 4 * 2));
    g_assert_cmpuint(ioev_deassigns, ==, 2);

    /* Memory decoding off unmaps: deregistered; on again: back. */
    cfg_write(f.m, d, 0x04, 0x4, 2);
    g_assert_cmpuint(ioev_live->len, ==, 0);
    pci_enable(f.m, d);
    g_assert_cmpuint(ioev_live->len, ==, 2);

    /* Device reset disables the queues: deregistered. */
    bar_write(vd, T_COMMON + 0x14, 0, 1);
    g_assert_cmpuint(ioev_live->len, ==, 0);
    g_assert_cmpuint(ioev_assigns, ==, ioev_deassigns);

    /* Machine reset (BAR unmapped, queues off) and teardown leave none. */
    g_assert_true(drv_negotiate(vd, 0));
    drv_queue(vd, 0, 32, 0x1000, 0x2000, 0x3000);
    g_assert_cmpuint(ioev_live->len, ==, 1);
    devices_reset(f.m);
    g_assert_cmpuint(ioev_live->len, ==, 0);
    cfg_write(f.m, d, 0x20, (uint32_t)BAR4_A, 4);
    pci_enable(f.m, d);
    g_assert_true(drv_negotiate(vd, 0));
    drv_queue(vd, 0, 32, 0x1000, 0x2000, 0x3000);
    g_assert_cmpuint(ioev_live->len, ==, 1);
    fake_machine_free(f.m);
    g_assert_cmpuint(ioev_live->len, ==, 0);
}

/* An accelerator that refuses: notifications keep going through the BAR. */
static void test_ioeventfd_refused(void)
{
    Fx f;
    VirtioDevice *vd;

    ioev_fx_init(&f);
    vd = f.vd;
    ioev_refuse = true;
    cfg_write(f.m, &vd->pci, 0x20, (uint32_t)BAR4_A, 4);
    pci_enable(f.m, &vd->pci);
    g_assert_true(drv_negotiate(vd, 0));
    drv_queue(vd, 1, 64, 0x11000, 0x12000, 0x13000);
    drv_ok(vd);
    g_assert_cmpuint(ioev_live->len, ==, 0);
    iobus_write(f.m->mmio, BAR4_A + T_NOTIFY + 4, 1, 2);
    g_assert_cmpuint(f.t->notified[1], ==, 1);
    fake_machine_free(f.m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (g_test_verbose()) {
        log_mask |= LOG_GUEST_ERROR;
    }
    g_test_add_func("/virtio-pci/identity", test_identity);
    g_test_add_func("/virtio-pci/capabilities", test_capabilities);
    g_test_add_func("/virtio-pci/features", test_features);
    g_test_add_func("/virtio-pci/queues-notify", test_queues);
    g_test_add_func("/virtio-pci/isr-intx", test_isr_intx);
    g_test_add_func("/virtio-pci/msix", test_msix);
    g_test_add_func("/virtio-pci/device-config", test_device_config);
    g_test_add_func("/virtio-pci/reset", test_reset);
    g_test_add_func("/virtio-pci/pci-cfg-window", test_pci_cfg_window);
    g_test_add_func("/virtio-pci/ioeventfd", test_ioeventfd);
    g_test_add_func("/virtio-pci/ioeventfd-refused", test_ioeventfd_refused);
    return g_test_run();
}
