/*
 * Character devices: byte streams between a front end (a UART, the
 * monitor) and a host backend (stdio, file, pty, socket, null), as
 * QEMU's -chardev/-serial spell them.
 *
 * Threads: backends do their I/O on the main-loop GMainContext. Input is
 * delivered to the front end with the BQL held; front ends write with the
 * BQL held (from a vCPU thread or the main loop).
 */
#ifndef CHARDEV_CHARDEV_H
#define CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "system/opts.h"

typedef struct Chardev Chardev;

enum {
    CHR_EVENT_OPENED,      /* a peer connected (socket) or the device opened */
    CHR_EVENT_CLOSED,      /* the peer went away */
    CHR_EVENT_BREAK,       /* serial break (C-a b in the mux) */
    CHR_EVENT_MUX_IN,      /* a multiplexer gave this front end the focus */
    CHR_EVENT_MUX_OUT,     /* ... and took it away again (C-a c) */
};

typedef struct ChardevFrontend {
    /* How many bytes receive() may be given now (0: hold input back). */
    int (*can_receive)(void *opaque);
    /* Deliver @len (<= last can_receive) bytes of input. */
    void (*receive)(void *opaque, const uint8_t *buf, int len);
    /* A CHR_EVENT_*. Optional. */
    void (*event)(void *opaque, int event);
} ChardevFrontend;

/*
 * Create a backend from -chardev options ("backend" holds the implied
 * first value: stdio, file, pty, socket, null, ...). Requires "id".
 * Returns NULL with @errp set on bad options or when the host resource
 * cannot be opened.
 */
Chardev *chardev_new_from_opts(Opts *o, GError **errp);

/*
 * Create a backend from a -serial/-monitor style spec: "stdio", "null",
 * "none" (returns NULL without error), "file:PATH", "pty", "mon:stdio",
 * "unix:PATH[,server=on][,wait=off]", "tcp:[HOST]:PORT[,server=on][,wait=off]",
 * "chardev:ID" (an existing -chardev). @label names the new backend.
 */
Chardev *chardev_new_from_spec(const char *label, const char *spec, GError **errp);

Chardev *chardev_find(const char *id);
const char *chardev_label(const Chardev *c);
const char *chardev_filename(const Chardev *c);   /* e.g. "pty:/dev/pts/3" */

/*
 * Attach a front end. A plain backend takes one front end; a multiplexer
 * ("mon:stdio", -nographic) takes several and switches with C-a c.
 * Returns false with @errp set if the backend is taken.
 */
bool chardev_attach(Chardev *c, const ChardevFrontend *fe, void *opaque, GError **errp);

/*
 * Detach the front end whose opaque is @opaque (device teardown): no
 * callback reaches it afterwards. No-op if it is not attached.
 */
void chardev_detach(Chardev *c, void *opaque);

/*
 * Write @len bytes from the front end. Returns @len, or a smaller count
 * when output is dropped (no peer connected, peer gone). Never fails the
 * caller; host write errors end in a one-time warning.
 */
int chardev_write(Chardev *c, const uint8_t *buf, int len);

/*
 * Multi-client servers. A listening socket backend (server=on) normally
 * serves one peer at a time through its one front end. A front end that
 * keeps one independent session per peer (the QMP monitor) calls
 * chardev_serve_clients() instead of chardev_attach(): from then on the
 * backend accepts every peer at once (up to a bound; more wait in the
 * listen backlog) and, for each, creates an unregistered Chardev of its
 * own and calls @fn(@opaque, client) on the main loop.
 *
 * @fn should chardev_attach() a front end to @client; it then gets
 * CHR_EVENT_OPENED at once, that peer's input, and chardev_write() on
 * @client reaches that peer only. When the peer leaves (end of file, a
 * read or write error), the front end gets CHR_EVENT_CLOSED; the backend
 * frees @client after that callback returns (from the main loop), so the
 * front end must forget @client in its CLOSED handler. If @fn attaches
 * nothing, the peer is disconnected at once.
 *
 * A peer that connected while start-up waited (wait=on) becomes the first
 * client. Writes to @c itself are dropped. chardev_detach(@c, @opaque)
 * stops serving: every client is disconnected (each gets CLOSED) and @c
 * is free for a front end again. Returns false with @errp set if @c is
 * not a listening socket (see chardev_is_socket_server()) or is in use.
 */
typedef void (*ChardevClientFunc)(void *opaque, Chardev *client);
bool chardev_serve_clients(Chardev *c, ChardevClientFunc fn, void *opaque,
                           GError **errp);

/* True for a listening socket backend (server=on), not a multiplexer. */
bool chardev_is_socket_server(const Chardev *c);

/* The front end can take input again after can_receive() returned 0. */
void chardev_accept_input(Chardev *c);

/*
 * Make a multiplexer on @backend_spec (stdio) for -nographic and
 * "mon:stdio": C-a x quits, C-a h prints help, C-a C-a sends C-a,
 * C-a b sends a break, C-a c switches front ends.
 */
Chardev *chardev_new_mux(const char *label, Chardev *backend, GError **errp);

/* True for a multiplexer ("mon:stdio", mux=on, chardev_new_mux()). */
bool chardev_is_mux(const Chardev *c);

/*
 * Restore the terminal settings of every stdio backend. Safe to call from
 * atexit handlers and signal handlers (async-signal-safe).
 */
void chardev_restore_terminals(void);

/* Close every backend (flushes files). */
void chardev_cleanup_all(void);

#endif
