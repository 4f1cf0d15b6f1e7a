/*
 * QEMU-style option strings: "value,key=val,key2=val2" with ",," standing
 * for a literal comma. A leading element without '=' is stored under an
 * implied key named by the caller (e.g. "driver" for -device, "backend"
 * for -chardev). Keys are looked up by the consumer; every key must be
 * consumed, so opts_check_all_used() can reject typos with a clear error.
 */
#ifndef SYSTEM_OPTS_H
#define SYSTEM_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct Opts Opts;

/*
 * Parse @str. @implied_key names the key of a leading bare value, or is
 * NULL if a bare value is an error. A bare "key" later in the list means
 * "key=on" (QEMU's shorthand for booleans, e.g. "server,nowait" where
 * "nowait" means "wait=off"). Returns NULL with @errp set on a syntax error.
 */
Opts *opts_parse(const char *str, const char *implied_key, GError **errp);
void opts_free(Opts *o);

/* The value of @key, or NULL. Marks @key as used. */
const char *opts_get(Opts *o, const char *key);
bool opts_has(Opts *o, const char *key);

/*
 * Typed getters: leave *@out at @dflt when @key is absent; return false
 * with @errp naming the key when the value does not parse.
 * Numbers take C prefixes (0x, 0). Sizes take K/M/G/T suffixes (binary),
 * a bare number meaning @bare_unit bytes. Booleans take on/off/yes/no/true/false.
 */
bool opts_get_u64(Opts *o, const char *key, uint64_t dflt, uint64_t *out, GError **errp);
bool opts_get_bool(Opts *o, const char *key, bool dflt, bool *out, GError **errp);
bool opts_get_size(Opts *o, const char *key, uint64_t bare_unit, uint64_t dflt,
                   uint64_t *out, GError **errp);

/* Error naming the first key nobody asked for ("@what does not take 'x'"). */
bool opts_check_all_used(Opts *o, const char *what, GError **errp);

/* Standalone parsers shared with the command line. */
bool parse_u64(const char *s, uint64_t *out);
bool parse_size(const char *s, uint64_t bare_unit, uint64_t *out);
bool parse_bool(const char *s, bool *out);

#endif
