/*
 * pty backend: a pseudo-terminal whose slave (/dev/pts/N) a user opens
 * with screen, minicom or a script. The line is raw in both directions.
 *
 * Hang-ups: once the last holder of the slave closes it, the master polls
 * as hung up (POLLHUP) for good, so watching it would spin. We stop
 * watching, drop output, and look once a second whether someone opened
 * the slave again (QEMU does the same).
 *
 * Output before anyone opened the slave fills the kernel's buffer (a few
 * KiB, shown to the first reader); beyond that it is dropped. A reader
 * that stops reading costs one write at most PTY_STALL_MS of waiting,
 * then output is dropped without waiting until it reads again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "chardev-int.h"

#define PTY_STALL_MS 100
#define PTY_HUP_CHECK_MS 1000

typedef struct PtyChardev {
    Chardev parent;
    int fd;                  /* master */
    bool hup;                /* the slave is closed */
    bool stalled;            /* the last write timed out */
    GSource *hup_timer;
} PtyChardev;

static bool pty_hung_up(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static void pty_stop_timer(PtyChardev *p)
{
    if (p->hup_timer) {
        g_source_destroy(p->hup_timer);
        g_source_unref(p->hup_timer);
        p->hup_timer = NULL;
    }
}

static gboolean pty_check_reopen(gpointer opaque)
{
    PtyChardev *p = opaque;

    if (pty_hung_up(p->fd)) {
        return G_SOURCE_CONTINUE;
    }
    pty_stop_timer(p);
    p->hup = false;
    p->stalled = false;
    chr_input_set_fd(&p->parent, p->fd);
    chr_send_event(&p->parent, CHR_EVENT_OPENED);
    return G_SOURCE_REMOVE;
}

static void pty_input_eof(Chardev *c)
{
    PtyChardev *p = (PtyChardev *)c;

    /* read() said EIO: the slave side was closed. */
    chr_input_clear(c);
    p->hup = true;
    if (c->open) {
        chr_send_event(c, CHR_EVENT_CLOSED);
    }
    if (!p->hup_timer) {
        p->hup_timer = g_timeout_source_new(PTY_HUP_CHECK_MS);
        g_source_set_callback(p->hup_timer, pty_check_reopen, p, NULL);
        g_source_attach(p->hup_timer, g_main_context_default());
    }
}

static bool pty_open(Chardev *c, Opts *o G_GNUC_UNUSED, GError **errp)
{
    PtyChardev *p = (PtyChardev *)c;
    struct termios tio;
    char name[64];

    p->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->fd < 0 || grantpt(p->fd) < 0 || unlockpt(p->fd) < 0 ||
        ptsname_r(p->fd, name, sizeof(name)) != 0) {
        error_setg(errp, "cannot create a pseudo-terminal: %s", g_strerror(errno));
        return false;
    }
    /* Termios calls on the master act on the slave's line. */
    if (tcgetattr(p->fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(p->fd, TCSANOW, &tio);
    }
    if (fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK) < 0) {
        error_setg(errp, "pty: %s", g_strerror(errno));
        return false;
    }
    chr_set_filename(c, "pty:%s", name);
    log_info("char device redirected to %s (label %s)", name, c->label);
    chr_input_set_fd(c, p->fd);
    chr_send_event(c, CHR_EVENT_OPENED);
    return true;
}

static int pty_write(Chardev *c, const uint8_t *buf, int len)
{
    PtyChardev *p = (PtyChardev *)c;
    int n;

    if (p->hup) {
        return 0;
    }
    n = chr_fd_write(p->fd, false, buf, len, p->stalled ? 0 : PTY_STALL_MS);
    if (n < 0) {
        if (n != -EIO) {
            chr_warn_write(c, -n);
        }
        return 0;
    }
    p->stalled = n < len;
    return n;
}

static void pty_close(Chardev *c)
{
    PtyChardev *p = (PtyChardev *)c;

    pty_stop_timer(p);
    chr_input_clear(c);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

const ChardevOps chr_pty_ops = {
    .name = "pty",
    .instance_size = sizeof(PtyChardev),
    .open = pty_open,
    .write = pty_write,
    .input_eof = pty_input_eof,
    .close = pty_close,
};
