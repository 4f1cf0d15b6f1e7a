/*
 * JSON value framing and compact output for QMP (monitor-int.h).
 * jansson parses only complete documents, so the stream is cut into
 * values here (enforcing the size and depth limits before any parsing);
 * jansson then parses each one.
 */
#include <string.h>
#include <glib.h>
#include "monitor-int.h"

void json_stream_init(JsonStream *js, JsonStreamEmit emit, void *opaque)
{
    memset(js, 0, sizeof(*js));
    js->buf = g_string_new(NULL);
    js->emit = emit;
    js->opaque = opaque;
}

void json_stream_reset(JsonStream *js)
{
    g_string_truncate(js->buf, 0);
    js->depth = 0;
    js->in_string = js->escape = js->scalar = js->quoted = js->discarding = false;
}

void json_stream_destroy(JsonStream *js)
{
    g_string_free(js->buf, TRUE);
    js->buf = NULL;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The current value is complete: hand it over (unless it was skipped). */
static void finish(JsonStream *js)
{
    bool skipped = js->discarding;
    g_autofree char *text = NULL;
    size_t len = js->buf->len;

    text = g_string_free(js->buf, FALSE);
    js->buf = g_string_new(NULL);
    json_stream_reset(js);
    if (!skipped) {
        js->emit(js->opaque, text, len, NULL);
    }
}

/* Over a limit: report once, then skip the rest of this value. */
static void overflow(JsonStream *js, const char *why)
{
    js->discarding = true;
    g_string_truncate(js->buf, 0);
    js->emit(js->opaque, NULL, 0, why);
}

static void feed_byte(JsonStream *js, uint8_t c)
{
    bool started = js->depth > 0 || js->scalar || js->in_string;

    if (!started) {
        if (is_space(c)) {
            return;
        }
        /* A bare token ("abc", 12, garbage) is a value of its own. */
        js->scalar = c != '{' && c != '[';
        js->quoted = c == '"';
    } else if (js->scalar && !js->in_string &&
               (is_space(c) || c == '{' || c == '[')) {
        /* A structural byte ends a bare token and may start the next value. */
        finish(js);
        feed_byte(js, c);
        return;
    }
    if (!js->discarding) {
        if (js->buf->len >= QMP_MAX_MESSAGE) {
            overflow(js, "JSON message too large");
        } else {
            g_string_append_c(js->buf, c);
        }
    }
    if (js->in_string) {
        if (js->escape) {
            js->escape = false;
        } else if (c == '\\') {
            js->escape = true;
        } else if (c == '"') {
            js->in_string = false;
            if (js->quoted) {
                finish(js);
            }
        }
        return;
    }
    switch (c) {
    case '"':
        /* Quotes inside garbage ("abc"def) do not open strings. */
        if (!js->scalar || js->quoted) {
            js->in_string = true;
        }
        break;
    case '{':
    case '[':
        if (!js->scalar && ++js->depth > QMP_MAX_DEPTH && !js->discarding) {
            overflow(js, "JSON nesting too deep");
        }
        break;
    case '}':
    case ']':
        if (!js->scalar && --js->depth == 0) {
            finish(js);
        }
        break;
    }
}

void json_stream_feed(JsonStream *js, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        feed_byte(js, buf[i]);
    }
}

/*
 * jansson allocates with malloc and reports failure as NULL, which every
 * caller would have to check; with glib's allocator running out of memory
 * aborts, as everywhere else in kemu. Runs before main(), so before any
 * jansson value exists.
 */
__attribute__((constructor)) static void json_use_glib_alloc(void)
{
    json_set_alloc_funcs(g_malloc, g_free);
}

json_t *qmp_string(const char *s)
{
    json_t *v = json_string(s);

    if (!v) {
        g_autofree char *valid = g_utf8_make_valid(s, -1);
        v = json_string(valid);
    }
    return v;
}

static void string_to_gstring(const char *s, size_t len, GString *out)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; len--; p++) {
        switch (*p) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                g_string_append_printf(out, "\\u%04x", *p);
            } else {
                g_string_append_c(out, *p);
            }
        }
    }
    g_string_append_c(out, '"');
}

void json_to_gstring(const json_t *v, GString *out)
{
    /* jansson's iteration macros take non-const values; nothing is changed. */
    json_t *nv = (json_t *)v;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *member;
        bool first = true;
        g_string_append_c(out, '{');
        json_object_foreach(nv, key, member) {
            if (!first) {
                g_string_append(out, ", ");
            }
            first = false;
            string_to_gstring(key, strlen(key), out);
            g_string_append(out, ": ");
            json_to_gstring(member, out);
        }
        g_string_append_c(out, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *el;
        g_string_append_c(out, '[');
        json_array_foreach(nv, i, el) {
            if (i) {
                g_string_append(out, ", ");
            }
            json_to_gstring(el, out);
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_STRING:
        string_to_gstring(json_string_value(v), json_string_length(v), out);
        break;
    case JSON_INTEGER:
        g_string_append_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: {
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append(out, g_ascii_dtostr(num, sizeof(num), json_real_value(v)));
        break;
    }
    case JSON_TRUE:
        g_string_append(out, "true");
        break;
    case JSON_FALSE:
        g_string_append(out, "false");
        break;
    case JSON_NULL:
        g_string_append(out, "null");
        break;
    }
}
