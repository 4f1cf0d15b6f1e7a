/* Logging and the program's GError domain (include/kemu/log.h, error.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "kemu/error.h"
#include "kemu/log.h"

unsigned log_mask;
static FILE *log_file;      /* -D; NULL means stderr */

GQuark kemu_error_quark(void)
{
    return g_quark_from_static_string("kemu-error-quark");
}

static void log_vprintf(const char *prefix, const char *fmt, va_list ap)
{
    FILE *f = log_file ? log_file : stderr;

    /* One fprintf per message keeps lines from different threads whole. */
    char *msg = g_strdup_vprintf(fmt, ap);
    size_t n = strlen(msg);
    fprintf(f, "kemu: %s%s%s", prefix, msg, n && msg[n - 1] == '\n' ? "" : "\n");
    fflush(f);
    g_free(msg);
}

#define DEFINE_LOG(fn, prefix)                  \
    void fn(const char *fmt, ...)               \
    {                                           \
        va_list ap;                             \
        va_start(ap, fmt);                      \
        log_vprintf(prefix, fmt, ap);           \
        va_end(ap);                             \
    }

DEFINE_LOG(log_err, "")
DEFINE_LOG(log_warn, "warning: ")
DEFINE_LOG(log_info, "")

void log_debug(const char *fmt, ...)
{
    static int enabled = -1;
    va_list ap;

    if (enabled < 0) {
        enabled = g_getenv("KEMU_DEBUG") != NULL;
    }
    if (!enabled) {
        return;
    }
    va_start(ap, fmt);
    log_vprintf("debug: ", fmt, ap);
    va_end(ap);
}

void log_mask_printf(unsigned mask, const char *fmt, ...)
{
    va_list ap;

    if ((log_mask & mask) != mask) {
        return;
    }
    va_start(ap, fmt);
    log_vprintf("", fmt, ap);
    va_end(ap);
}

static const struct {
    const char *name;
    unsigned mask;
    const char *help;
} log_items[] = {
    { "guest_errors", LOG_GUEST_ERROR, "log when the guest does something invalid" },
    { "unimp", LOG_UNIMP, "log unimplemented functionality the guest uses" },
    { "startup", LOG_STARTUP, "print CPU time and wall time spent before the guest runs" },
};

bool log_parse_items(const char *items, bool *help_shown, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(items, ",", -1);
    unsigned mask = 0;

    *help_shown = false;
    for (char **p = parts; *p; p++) {
        if (!strcmp(*p, "help")) {
            printf("Log items (comma separated):\n");
            for (size_t i = 0; i < G_N_ELEMENTS(log_items); i++) {
                printf("%-13s %s\n", log_items[i].name, log_items[i].help);
            }
            *help_shown = true;
            return true;
        }
        size_t i;
        for (i = 0; i < G_N_ELEMENTS(log_items); i++) {
            if (!strcmp(*p, log_items[i].name)) {
                mask |= log_items[i].mask;
                break;
            }
        }
        if (i == G_N_ELEMENTS(log_items)) {
            error_setg(errp, "-d: unknown log item '%s' (try -d help)", *p);
            return false;
        }
    }
    log_mask |= mask;
    return true;
}

bool log_set_file(const char *path, GError **errp)
{
    FILE *f = fopen(path, "a");

    if (!f) {
        error_setg(errp, "-D: cannot open '%s': %s", path, g_strerror(errno));
        return false;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    log_file = f;
    return true;
}
