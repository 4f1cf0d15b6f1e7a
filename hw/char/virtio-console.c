/*
 * virtio-console (include/hw/char/virtio-console.h), single-port layout
 * of the virtio 1.x spec, section 5.3: receiveq0 and transmitq0, no
 * control queues.
 */
#include <limits.h>
#include <string.h>
#include "chardev/chardev.h"
#include "hw/char/virtio-console.h"
#include "hw/virtio/virtio.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "kemu/log.h"

#define CONSOLE_QUEUE_SIZE 128
#define CONSOLE_COLS 80
#define CONSOLE_ROWS 24
/* chardev_write() takes an int: larger transmit buffers go in chunks. */
#define TX_CHUNK (1u << 20)

typedef struct VirtioConsole {
    VirtioDevice vd;
    Machine *m;
    char *bus_name;         /* "ID.0", what virtconsole's bus= names */
    Chardev *chr;           /* port 0's back end (virtconsole), or NULL */
    bool driver_ok;
    bool broken;            /* a chain was refused: NEEDS_RESET until reset */
    bool input_blocked;     /* can_receive said 0: wake the chardev later */
    bool port_used;         /* a virtconsole claimed port 0 */
    bool rx_held;           /* @rx is an empty receive buffer taken from the queue */
    VirtqElem *rx;
    VirtqElem *tx;
} VirtioConsole;

/* Every virtio-serial-pci, newest first, for virtconsole to find. */
static GSList *consoles;

static void console_get_config(VirtioDevice *vd, uint8_t *cfg)
{
    memset(cfg, 0, VIRTIO_CONSOLE_CONFIG_SIZE);
    (void)vd;
    st16_le(cfg, CONSOLE_COLS);
    st16_le(cfg + 2, CONSOLE_ROWS);
    cfg[4] = 1;                 /* max_nr_ports (read only with MULTIPORT) */
}

/* The driver writes emerg_wr: its low byte goes out at once. */
static void console_set_config(VirtioDevice *vd, unsigned off, const uint8_t *data,
                               unsigned len)
{
    VirtioConsole *c = (VirtioConsole *)vd;

    if (off <= VIRTIO_CONSOLE_CFG_EMERG_WR && off + len > VIRTIO_CONSOLE_CFG_EMERG_WR) {
        if (c->chr) {
            chardev_write(c->chr, &data[VIRTIO_CONSOLE_CFG_EMERG_WR - off], 1);
        }
        return;
    }
    log_guest_error("virtio-console: write of %u bytes at config offset %u ignored",
                    len, off);
}

static void console_wake_input(VirtioConsole *c)
{
    if (c->input_blocked && c->chr) {
        c->input_blocked = false;
        chardev_accept_input(c->chr);
    }
}

/*
 * Make sure a receive buffer with room is held; false if the driver has
 * none posted. Buffers without device-writable bytes are returned empty.
 */
static bool rx_take(VirtioConsole *c)
{
    VirtQueue *vq = virtio_queue(&c->vd, VIRTIO_CONSOLE_RXQ);

    if (c->rx_held) {
        return true;
    }
    while (!c->broken) {
        int r = virtqueue_pop(vq, c->rx);
        if (r < 0) {
            c->broken = true;
            break;
        }
        if (r == 0) {
            break;
        }
        if (c->rx->in_len > 0) {
            c->rx_held = true;
            return true;
        }
        log_guest_error("virtio-console: receive buffer without writable bytes");
        virtqueue_push(vq, c->rx, 0);
        virtqueue_notify(vq);
    }
    return false;
}

static int console_can_receive(void *opaque)
{
    VirtioConsole *c = opaque;

    if (c->driver_ok && rx_take(c)) {
        return MIN(c->rx->in_len, (size_t)INT_MAX);
    }
    c->input_blocked = true;
    return 0;
}

/*
 * Store input in the held buffer and hand it to the driver at once: Linux
 * posts page-sized buffers, and waiting for one to fill would stall an
 * interactive console.
 */
static void console_receive(void *opaque, const uint8_t *buf, int len)
{
    VirtioConsole *c = opaque;
    VirtQueue *vq = virtio_queue(&c->vd, VIRTIO_CONSOLE_RXQ);
    size_t done = 0;

    while (done < (size_t)len && c->driver_ok && rx_take(c)) {
        size_t n = iov_from_buf(c->rx->in, c->rx->in_num, 0, buf + done, len - done);
        done += n;
        virtqueue_push(vq, c->rx, n);
        c->rx_held = false;
    }
    virtqueue_notify(vq);
    if (done < (size_t)len) {
        log_warn("virtio-console: %zu input bytes dropped", (size_t)len - done);
    }
}

static const ChardevFrontend console_frontend = {
    .can_receive = console_can_receive,
    .receive = console_receive,
};

static void console_transmit(VirtioConsole *c)
{
    VirtQueue *vq = virtio_queue(&c->vd, VIRTIO_CONSOLE_TXQ);
    bool pushed = false;
    int r;

    while (!c->broken && (r = virtqueue_pop(vq, c->tx)) != 0) {
        if (r < 0) {
            c->broken = true;
            break;
        }
        for (unsigned i = 0; c->chr && i < c->tx->out_num; i++) {
            const uint8_t *p = c->tx->out[i].iov_base;
            size_t left = c->tx->out[i].iov_len;
            while (left > 0) {
                size_t n = MIN(left, TX_CHUNK);
                chardev_write(c->chr, p, n);
                p += n;
                left -= n;
            }
        }
        virtqueue_push(vq, c->tx, 0);
        pushed = true;
    }
    if (pushed) {
        virtqueue_notify(vq);
    }
}

static void console_queue_notify(VirtioDevice *vd, unsigned q)
{
    VirtioConsole *c = (VirtioConsole *)vd;

    if (q == VIRTIO_CONSOLE_TXQ) {
        console_transmit(c);
    } else if (q == VIRTIO_CONSOLE_RXQ) {
        console_wake_input(c);     /* new receive buffers: take input again */
    }
}

static void console_status_changed(VirtioDevice *vd, bool ok)
{
    VirtioConsole *c = (VirtioConsole *)vd;

    c->driver_ok = ok;
    if (!ok) {
        /* The queues are gone; a held buffer belongs to nobody now. */
        c->rx_held = false;
        c->broken = false;
        return;
    }
    /*
     * Linux reads cols/rows only on a config interrupt (it never resizes
     * the console at probe time): announce the size once the driver runs.
     */
    if (virtio_has_feature(vd, VIRTIO_CONSOLE_F_SIZE)) {
        virtio_config_changed(vd);
    }
    console_wake_input(c);
}

static void console_finalize(VirtioDevice *vd)
{
    VirtioConsole *c = (VirtioConsole *)vd;

    if (c->chr) {
        chardev_detach(c->chr, c);
    }
    consoles = g_slist_remove(consoles, c);
    g_free(c->bus_name);
    g_free(c->rx);
    g_free(c->tx);
}

static const VirtioDeviceOps console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .pci_class = 0x0780,            /* communication controller, other */
    .features = VIRTIO_CONSOLE_F_SIZE | VIRTIO_CONSOLE_F_EMERG_WRITE,
    .num_queues = 2,
    .queue_size = CONSOLE_QUEUE_SIZE,
    .config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
    .get_config = console_get_config,
    .set_config = console_set_config,
    .queue_notify = console_queue_notify,
    .status_changed = console_status_changed,
    .finalize = console_finalize,
};

static bool virtio_serial_create(Machine *m, Opts *o, GError **errp)
{
    VirtioConsole *c = g_malloc0(sizeof(*c));
    const char *id = opts_get(o, "id");
    unsigned index = 0;

    for (GSList *l = consoles; l; l = l->next) {
        index += ((VirtioConsole *)l->data)->m == m;
    }

    c->vd.ops = &console_ops;
    c->m = m;
    c->rx = g_new(VirtqElem, 1);
    c->tx = g_new(VirtqElem, 1);
    /* QEMU's bus name: the device id, else "virtio-serialN", plus ".0". */
    c->bus_name = id ? g_strdup_printf("%s.0", id)
                     : g_strdup_printf("virtio-serial%u.0", index);
    if (!virtio_pci_create(m, &c->vd, o, id, errp)) {
        g_free(c->bus_name);
        g_free(c->rx);
        g_free(c->tx);
        g_free(c);
        return false;
    }
    consoles = g_slist_prepend(consoles, c);
    return true;
}

const DeviceType virtio_serial_pci_type = {
    .name = "virtio-serial-pci",
    .help = "virtio console bus with one port (add -device virtconsole)",
    .create = virtio_serial_create,
};

static VirtioConsole *console_find(Machine *m, const char *bus)
{
    for (GSList *l = consoles; l; l = l->next) {
        VirtioConsole *c = l->data;
        if (c->m == m && (!bus || !strcmp(c->bus_name, bus))) {
            return c;
        }
    }
    return NULL;
}

static bool virtconsole_create(Machine *m, Opts *o, GError **errp)
{
    const char *bus = opts_get(o, "bus");
    const char *chr_id = opts_get(o, "chardev");
    VirtioConsole *c = console_find(m, bus);
    Chardev *chr = NULL;
    uint64_t nr;

    opts_get(o, "id");      /* accepted; the port is not a device of its own */
    if (!opts_get_u64(o, "nr", 0, &nr, errp)) {
        return false;
    }
    if (nr != 0) {
        error_setg(errp, "only port 0 exists (multiport is not implemented)");
        return false;
    }
    if (opts_has(o, "name")) {
        error_setg(errp, "'name' needs multiport, which is not implemented");
        return false;
    }
    if (!c && bus) {
        error_setg(errp, "no virtio-serial bus '%s'", bus);
        return false;
    }
    if (!c) {
        error_setg(errp, "no virtio-serial bus (add -device virtio-serial-pci first)");
        return false;
    }
    if (c->port_used) {
        error_setg(errp, "port 0 of %s already has a console", c->bus_name);
        return false;
    }
    if (chr_id) {
        chr = chardev_find(chr_id);
        if (!chr) {
            error_setg(errp, "chardev '%s' not found", chr_id);
            return false;
        }
        if (!chardev_attach(chr, &console_frontend, c, errp)) {
            return false;
        }
        c->chr = chr;
    }
    c->port_used = true;
    return true;
}

const DeviceType virtconsole_type = {
    .name = "virtconsole",
    .help = "console port 0 of a virtio-serial-pci, chardev=ID",
    .create = virtconsole_create,
};
