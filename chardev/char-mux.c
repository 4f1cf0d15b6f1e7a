/*
 * Multiplexer: several front ends (the serial port, the monitor) share
 * one backend, as QEMU's "mon:stdio" and -nographic do. Output from every
 * front end goes to the backend; input goes to the focused front end,
 * the first one attached until C-a c moves the focus on.
 *
 * Escapes (C-a, 0x01, then a key): h or ? help, x quit, b break to the
 * focused front end, c next front end, C-a a literal C-a. Other keys
 * after C-a are ignored.
 *
 * Each front end has its own queue. Bytes typed for one front end wait
 * in its queue until it takes them, so input before C-a c still reaches
 * the front end it was typed to. The backend is read only while the
 * focused queue has room; MUX_QUEUE_SIZE is large so C-a x still gets
 * through when a guest has stopped reading its serial port.
 */
#include <string.h>
#include "kemu/error.h"
#include "system/runstate.h"
#include "chardev-int.h"

#define MUX_MAX_FE 4
#define MUX_QUEUE_SIZE 4096
#define MUX_ESCAPE 0x01     /* C-a */

typedef struct MuxFrontend {
    const ChardevFrontend *fe;
    void *opaque;
    uint8_t queue[MUX_QUEUE_SIZE];
    int head, count;
} MuxFrontend;

typedef struct MuxChardev {
    Chardev parent;
    Chardev *backend;
    MuxFrontend fes[MUX_MAX_FE];
    int nfe;
    int focus;
    bool escape;             /* C-a seen, waiting for the command key */
} MuxChardev;

static void mux_print(MuxChardev *m, const char *msg)
{
    chardev_write(m->backend, (const uint8_t *)msg, strlen(msg));
}

static void mux_event_to(MuxFrontend *f, int event)
{
    if (f->fe->event) {
        f->fe->event(f->opaque, event);
    }
}

/* Give front end @f what it can take from its queue. */
static void mux_flush(MuxFrontend *f)
{
    while (f->count) {
        int room = f->fe->can_receive ? f->fe->can_receive(f->opaque) : f->count;
        int chunk = MIN(f->count, MUX_QUEUE_SIZE - f->head);

        if (room <= 0) {
            break;
        }
        chunk = MIN(chunk, room);
        f->fe->receive(f->opaque, f->queue + f->head, chunk);
        f->head = (f->head + chunk) % MUX_QUEUE_SIZE;
        f->count -= chunk;
    }
}

static void mux_queue(MuxChardev *m, uint8_t byte)
{
    MuxFrontend *f;

    if (!m->nfe) {
        return;                 /* nobody to type to */
    }
    f = &m->fes[m->focus];
    if (f->count < MUX_QUEUE_SIZE) {
        f->queue[(f->head + f->count) % MUX_QUEUE_SIZE] = byte;
        f->count++;
    }
}

static void mux_help(MuxChardev *m)
{
    mux_print(m, "\r\n"
              "C-a h    print this help\r\n"
              "C-a x    exit kemu\r\n"
              "C-a b    send a break to the focused front end\r\n"
              "C-a c    switch between the console and the monitor\r\n"
              "C-a C-a  send C-a\r\n");
}

static void mux_switch_focus(MuxChardev *m)
{
    if (m->nfe < 2) {
        mux_print(m, "\r\nkemu: nothing to switch to: this console has one front end\r\n");
        return;
    }
    mux_event_to(&m->fes[m->focus], CHR_EVENT_MUX_OUT);
    m->focus = (m->focus + 1) % m->nfe;
    mux_event_to(&m->fes[m->focus], CHR_EVENT_MUX_IN);
}

static void mux_command(MuxChardev *m, uint8_t key)
{
    switch (key) {
    case 'h':
    case '?':
        mux_help(m);
        break;
    case 'x':
        mux_print(m, "kemu: terminated\r\n");
        runstate_request_shutdown(SHUTDOWN_CAUSE_HOST_UI, 0);
        break;
    case 'b':
        if (m->nfe) {
            mux_event_to(&m->fes[m->focus], CHR_EVENT_BREAK);
        }
        break;
    case 'c':
        mux_switch_focus(m);
        break;
    case MUX_ESCAPE:
        mux_queue(m, MUX_ESCAPE);
        break;
    default:
        break;
    }
}

/* The mux is the backend's front end. */
static int mux_can_receive(void *opaque)
{
    MuxChardev *m = opaque;

    if (!m->nfe) {
        return 0;       /* hold input back until a front end attaches */
    }
    return MUX_QUEUE_SIZE - m->fes[m->focus].count;
}

static void mux_receive(void *opaque, const uint8_t *buf, int len)
{
    MuxChardev *m = opaque;

    for (int i = 0; i < len; i++) {
        if (m->escape) {
            m->escape = false;
            mux_command(m, buf[i]);
        } else if (buf[i] == MUX_ESCAPE) {
            m->escape = true;
        } else {
            mux_queue(m, buf[i]);
        }
    }
    for (int i = 0; i < m->nfe; i++) {
        mux_flush(&m->fes[i]);
    }
}

static void mux_backend_event(void *opaque, int event)
{
    MuxChardev *m = opaque;

    if (event == CHR_EVENT_OPENED) {
        m->parent.open = true;
    } else if (event == CHR_EVENT_CLOSED) {
        m->parent.open = false;
    }
    for (int i = 0; i < m->nfe; i++) {
        mux_event_to(&m->fes[i], event);
    }
}

static const ChardevFrontend mux_as_frontend = {
    .can_receive = mux_can_receive,
    .receive = mux_receive,
    .event = mux_backend_event,
};

Chardev *chr_mux_new(const char *label, Chardev *backend, GError **errp)
{
    MuxChardev *m = (MuxChardev *)chr_alloc(&chr_mux_ops, label);

    m->backend = backend;
    if (!chardev_attach(backend, &mux_as_frontend, m, errp)) {
        m->backend = NULL;
        chr_free(&m->parent);
        return NULL;
    }
    chr_set_filename(&m->parent, "mux:%s", chardev_filename(backend));
    return &m->parent;
}

static bool mux_attach(Chardev *c, const ChardevFrontend *fe, void *opaque, GError **errp)
{
    MuxChardev *m = (MuxChardev *)c;
    MuxFrontend *f;

    if (m->nfe == MUX_MAX_FE) {
        error_setg(errp, "chardev '%s' already has %d front ends", c->label, MUX_MAX_FE);
        return false;
    }
    f = &m->fes[m->nfe++];
    f->fe = fe;
    f->opaque = opaque;
    if (c->open) {
        mux_event_to(f, CHR_EVENT_OPENED);
    }
    /* Input held back for lack of a front end may flow now. */
    chardev_accept_input(m->backend);
    return true;
}

static void mux_detach(Chardev *c, void *opaque)
{
    MuxChardev *m = (MuxChardev *)c;

    for (int i = 0; i < m->nfe; i++) {
        if (m->fes[i].opaque == opaque) {
            memmove(&m->fes[i], &m->fes[i + 1], (m->nfe - i - 1) * sizeof(m->fes[0]));
            m->nfe--;
            if (m->focus >= m->nfe) {
                m->focus = 0;
            }
            return;
        }
    }
}

static void mux_accept_input(Chardev *c)
{
    MuxChardev *m = (MuxChardev *)c;

    for (int i = 0; i < m->nfe; i++) {
        mux_flush(&m->fes[i]);
    }
    chr_input_resume(m->backend);
}

static int mux_write(Chardev *c, const uint8_t *buf, int len)
{
    return chardev_write(((MuxChardev *)c)->backend, buf, len);
}

static void mux_close(Chardev *c)
{
    MuxChardev *m = (MuxChardev *)c;

    /* The backend outlives us briefly in chardev_cleanup_all(). */
    if (m->backend && m->backend->fe == &mux_as_frontend) {
        m->backend->fe = NULL;
        m->backend->fe_opaque = NULL;
    }
}

const ChardevOps chr_mux_ops = {
    .name = "mux",
    .instance_size = sizeof(MuxChardev),
    .write = mux_write,
    .attach = mux_attach,
    .detach = mux_detach,
    .accept_input = mux_accept_input,
    .close = mux_close,
};
