/*
 * Private interface between the chardev core (chardev.c) and its
 * backends. Each backend embeds a Chardev as its first member and
 * provides one static const ChardevOps.
 *
 * Threads: every function here runs with the BQL held, either in the
 * main loop (GMainContext callbacks) or in a front end's write path.
 */
#ifndef CHARDEV_CHARDEV_INT_H
#define CHARDEV_CHARDEV_INT_H

#include "chardev/chardev.h"

#define CHR_IN_BUF_SIZE 4096

typedef struct ChardevOps {
    const char *name;              /* -chardev backend name */
    size_t instance_size;          /* of the struct embedding Chardev */
    /* Option keys the backend reads (besides id, backend, mux); NULL ends. */
    const char *const *keys;
    /*
     * Open the host side. Options were checked against @keys already.
     * Returns false with @errp set; close() is still called then.
     */
    bool (*open)(Chardev *c, Opts *o, GError **errp);
    /* Output; same contract as chardev_write(). */
    int (*write)(Chardev *c, const uint8_t *buf, int len);
    /*
     * The input fd reported end of file or an error. Optional: by default
     * the core stops watching it.
     */
    void (*input_eof)(Chardev *c);
    /* Optional overrides of chardev_attach()/chardev_accept_input(). */
    void (*detach)(Chardev *c, void *opaque);
    bool (*attach)(Chardev *c, const ChardevFrontend *fe, void *opaque,
                   GError **errp);
    void (*accept_input)(Chardev *c);
    /* Release host resources (fds, sources); the core frees the struct. */
    void (*close)(Chardev *c);
} ChardevOps;

struct Chardev {
    const ChardevOps *ops;
    char *label;
    char *filename;              /* chardev_filename() */
    bool registered;             /* in the id table */
    bool open;                   /* last event sent: OPENED (not CLOSED) */
    bool warned;                 /* the one-time output error warning */

    const ChardevFrontend *fe;   /* plain backends: the one front end */
    void *fe_opaque;

    /* Input from a host fd, delivered as the front end allows. */
    int in_fd;                   /* -1: none */
    GSource *in_watch;           /* non-NULL while polling in_fd */
    uint8_t in_buf[CHR_IN_BUF_SIZE];
    int in_pos, in_len;          /* undelivered bytes: in_buf[in_pos..in_len) */
    GSource *accept_idle;        /* a deferred accept_input is queued */
};

/*
 * Allocate a Chardev of @ops->instance_size (in_fd = -1), remembered for
 * chardev_cleanup_all() but not registered under @label.
 */
Chardev *chr_alloc(const ChardevOps *ops, const char *label);
/* Close (ops->close), unregister and free @c. */
void chr_free(Chardev *c);

/* Set the filename shown by chardev_filename() (copied). */
void chr_set_filename(Chardev *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * Watch @fd for input and hand it to the front end (from when one is
 * attached). The backend still owns @fd; call chr_input_clear() before
 * closing it.
 */
void chr_input_set_fd(Chardev *c, int fd);
/* Stop watching the input fd and forget undelivered input. */
void chr_input_clear(Chardev *c);
/*
 * Deliver held-back input and watch the fd again if everything went.
 * Main loop only (chardev_accept_input() defers to this).
 */
void chr_input_resume(Chardev *c);

/*
 * chardev_attach() without the backend's override: the one front end of
 * @c, refused if @c has one already. For overrides that add a check.
 */
bool chr_attach_plain(Chardev *c, const ChardevFrontend *fe, void *opaque, GError **errp);

/* Send a CHR_EVENT_* to the front end and track open/closed. */
void chr_send_event(Chardev *c, int event);

/*
 * Write @buf to @fd. Waits for room up to @timeout_ms in total (-1: no
 * limit); EINTR is retried. Returns the bytes written (maybe short on
 * timeout), or -errno on a write error with nothing written.
 * Sockets are written with MSG_NOSIGNAL (no SIGPIPE on a gone peer).
 */
int chr_fd_write(int fd, bool is_socket, const uint8_t *buf, int len, int timeout_ms);

/* Print the backend's one-time warning about a failed host write. */
void chr_warn_write(Chardev *c, int err);

/* Create a multiplexer without registering it (for mux=on and mon:). */
Chardev *chr_mux_new(const char *label, Chardev *backend, GError **errp);

extern const ChardevOps chr_stdio_ops, chr_file_ops, chr_pty_ops,
    chr_socket_ops, chr_null_ops, chr_mux_ops;

#endif
