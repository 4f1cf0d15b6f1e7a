/*
 * stdio backend: input from fd 0, output to fd 1. A terminal on stdin is
 * put into raw mode (no echo, no line editing) so every key reaches the
 * guest; with signal=on (the default) ISIG stays, so Ctrl-C still ends
 * kemu as it ends QEMU. The saved settings come back through
 * chardev_restore_terminals().
 */
#include <errno.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>
#include "kemu/error.h"
#include "chardev-int.h"

typedef struct StdioChardev {
    Chardev parent;
    bool owns_stdio;      /* this instance holds stdio_in_use */
} StdioChardev;

/* Only stdio touches the terminal; one instance can exist at a time. */
static bool stdio_in_use;
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

void chardev_restore_terminals(void)
{
    /* tcsetattr() is async-signal-safe; nothing else happens here. */
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    }
}

static void stdio_set_raw(bool keep_signals)
{
    struct termios tio = saved_tio;

    tio.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    /* Output post-processing stays: a bare "\n" still starts a new line. */
    tio.c_oflag |= OPOST;
    tio.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!keep_signals) {
        tio.c_lflag &= ~ISIG;
    }
    tio.c_cflag &= ~(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &tio);
}

static bool stdio_open(Chardev *c, Opts *o, GError **errp)
{
    bool signals;

    if (!opts_get_bool(o, "signal", true, &signals, errp)) {
        return false;
    }
    if (stdio_in_use) {
        error_setg(errp, "stdio is already used by another character device");
        return false;
    }
    stdio_in_use = true;
    ((StdioChardev *)c)->owns_stdio = true;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
        tio_saved = 1;
        stdio_set_raw(signals);
    }
    chr_set_filename(c, "stdio");
    chr_input_set_fd(c, STDIN_FILENO);
    chr_send_event(c, CHR_EVENT_OPENED);
    return true;
}

static int stdio_write(Chardev *c, const uint8_t *buf, int len)
{
    /* The terminal gets everything, even if it makes us wait. */
    int n = chr_fd_write(STDOUT_FILENO, false, buf, len, -1);

    if (n < 0) {
        chr_warn_write(c, -n);
        return 0;
    }
    return n;
}

static void stdio_input_eof(Chardev *c)
{
    /* Stdin ended (a pipe or file ran out): no more input, no polling. */
    chr_input_clear(c);
}

static void stdio_close(Chardev *c)
{
    chr_input_clear(c);
    if (((StdioChardev *)c)->owns_stdio) {
        chardev_restore_terminals();
        tio_saved = 0;
        stdio_in_use = false;
    }
}

const ChardevOps chr_stdio_ops = {
    .name = "stdio",
    .instance_size = sizeof(StdioChardev),
    .keys = (const char *const[]){ "signal", NULL },
    .open = stdio_open,
    .write = stdio_write,
    .input_eof = stdio_input_eof,
    .close = stdio_close,
};
