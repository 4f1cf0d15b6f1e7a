/* QEMU-style "value,key=val" option strings (include/system/opts.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kemu/error.h"
#include "system/opts.h"

typedef struct Opt {
    char *key, *val;
    bool used;
} Opt;

struct Opts {
    GArray *items;     /* of Opt */
};

/* Read one element up to an unescaped ',' (",," is a literal comma). */
static char *next_element(const char **sp)
{
    GString *out = g_string_new(NULL);
    const char *s = *sp;

    while (*s) {
        if (*s == ',') {
            if (s[1] == ',') {
                g_string_append_c(out, ',');
                s += 2;
                continue;
            }
            s++;
            break;
        }
        g_string_append_c(out, *s++);
    }
    *sp = s;
    return g_string_free(out, FALSE);
}

static Opt *find(Opts *o, const char *key)
{
    /* The last occurrence wins, as in QEMU. */
    for (guint i = o->items->len; i-- > 0;) {
        Opt *it = &g_array_index(o->items, Opt, i);
        if (!strcmp(it->key, key)) {
            return it;
        }
    }
    return NULL;
}

static void opt_clear(gpointer p)
{
    Opt *it = p;
    g_free(it->key);
    g_free(it->val);
}

Opts *opts_parse(const char *str, const char *implied_key, GError **errp)
{
    Opts *o = g_new0(Opts, 1);
    const char *s = str;
    bool first = true;

    o->items = g_array_new(FALSE, TRUE, sizeof(Opt));
    g_array_set_clear_func(o->items, opt_clear);
    while (*s || first) {
        char *elem = next_element(&s);
        char *eq = strchr(elem, '=');
        Opt it = { 0 };

        if (eq) {
            *eq = '\0';
            it.key = g_strdup(elem);
            it.val = g_strdup(eq + 1);
            g_free(elem);
            if (!*it.key) {
                error_setg(errp, "'%s': empty option name", str);
                opt_clear(&it);
                goto fail;
            }
        } else if (first && implied_key) {
            it.key = g_strdup(implied_key);
            it.val = elem;
        } else if (!*elem) {
            g_free(elem);
            if (!*s) {
                break;       /* trailing comma */
            }
            error_setg(errp, "'%s': empty option", str);
            goto fail;
        } else if (g_str_has_prefix(elem, "no") && elem[2]) {
            /* QEMU's legacy boolean shorthand: "nowait" means "wait=off". */
            it.key = g_strdup(elem + 2);
            it.val = g_strdup("off");
            g_free(elem);
        } else {
            it.key = elem;
            it.val = g_strdup("on");
        }
        g_array_append_val(o->items, it);
        first = false;
    }
    return o;

fail:
    opts_free(o);
    return NULL;
}

void opts_free(Opts *o)
{
    if (o) {
        g_array_free(o->items, TRUE);
        g_free(o);
    }
}

const char *opts_get(Opts *o, const char *key)
{
    Opt *it = find(o, key);

    if (!it) {
        return NULL;
    }
    /* Mark every occurrence, so repeated keys do not read as unused. */
    for (guint i = 0; i < o->items->len; i++) {
        Opt *x = &g_array_index(o->items, Opt, i);
        if (!strcmp(x->key, key)) {
            x->used = true;
        }
    }
    return it->val;
}

bool opts_has(Opts *o, const char *key)
{
    return find(o, key) != NULL;
}

bool parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!s || !*s || *s == '-' || g_ascii_isspace(*s)) {
        return false;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

bool parse_size(const char *s, uint64_t bare_unit, uint64_t *out)
{
    char *end;
    unsigned shift = 0;
    bool suffix = true;

    if (!s || !*s || *s == '-' || g_ascii_isspace(*s)) {
        return false;
    }
    errno = 0;
    /* Base 10, so "08M" is eight MiB as in QEMU, and "1.5G" works. */
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || g_ascii_strncasecmp(s, "0x", 2) == 0) {
        return false;
    }
    switch (g_ascii_toupper(*end)) {
    case '\0': suffix = false; break;
    case 'B': shift = 0; break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    if (suffix && end[1]) {
        return false;
    }
    double bytes = suffix ? v * (double)(1ull << shift) : v * (double)bare_unit;
    if (bytes >= 18446744073709551616.0) {
        return false;
    }
    *out = (uint64_t)bytes;
    return true;
}

bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };

    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (!g_ascii_strcasecmp(s, yes[i])) {
            *out = true;
            return true;
        }
        if (!g_ascii_strcasecmp(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool opts_get_u64(Opts *o, const char *key, uint64_t dflt, uint64_t *out, GError **errp)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return true;
    }
    if (!parse_u64(v, out)) {
        error_setg(errp, "'%s=%s': expected a non-negative number", key, v);
        return false;
    }
    return true;
}

bool opts_get_bool(Opts *o, const char *key, bool dflt, bool *out, GError **errp)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return true;
    }
    if (!parse_bool(v, out)) {
        error_setg(errp, "'%s=%s': expected on or off", key, v);
        return false;
    }
    return true;
}

bool opts_get_size(Opts *o, const char *key, uint64_t bare_unit, uint64_t dflt,
                   uint64_t *out, GError **errp)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = dflt;
        return true;
    }
    if (!parse_size(v, bare_unit, out)) {
        error_setg(errp, "'%s=%s': expected a size (e.g. 64M, 1G)", key, v);
        return false;
    }
    return true;
}

bool opts_check_all_used(Opts *o, const char *what, GError **errp)
{
    for (guint i = 0; i < o->items->len; i++) {
        Opt *it = &g_array_index(o->items, Opt, i);
        if (!it->used) {
            error_setg(errp, "%s does not take '%s'", what, it->key);
            return false;
        }
    }
    return true;
}
