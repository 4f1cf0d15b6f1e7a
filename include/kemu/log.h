/*
 * Logging. Messages go to stderr prefixed "kemu: ". The maskable channels
 * (guest errors, unimplemented features, startup figures) print only when
 * enabled with -d, as QEMU's -d guest_errors,unimp does.
 */
#ifndef KEMU_LOG_H
#define KEMU_LOG_H

#include <stdbool.h>
#include <glib.h>

enum {
    LOG_GUEST_ERROR = 1u << 0,   /* the guest did something invalid */
    LOG_UNIMP       = 1u << 1,   /* the guest used something we lack */
    LOG_STARTUP     = 1u << 2,   /* startup timing figures */
};

extern unsigned log_mask;

void log_err(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void log_debug(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Print only when every bit of @mask is enabled. */
void log_mask_printf(unsigned mask, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
#define log_guest_error(...) log_mask_printf(LOG_GUEST_ERROR, __VA_ARGS__)
#define log_unimp(...)       log_mask_printf(LOG_UNIMP, __VA_ARGS__)

/*
 * Parse a -d argument ("guest_errors,unimp", "help") into log_mask.
 * Returns false with @errp set for an unknown item. "help" lists the
 * items on stdout and returns true with *@help_shown set.
 */
bool log_parse_items(const char *items, bool *help_shown, GError **errp);

/* -D FILE: send log output to FILE instead of stderr. */
bool log_set_file(const char *path, GError **errp);

#endif
