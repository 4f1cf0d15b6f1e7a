/*
 * JSON value framing and compact output for QMP (monitor-int.h).
 * json-glib parses only complete documents, so the stream is cut into
 * values here; json-glib then parses each one.
 */
#include <string.h>
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

static void string_to_gstring(const char *s, GString *out)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
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

void json_to_gstring(JsonNode *node, GString *out)
{
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT: {
        JsonObject *o = json_node_get_object(node);
        /* get_members keeps insertion order: "return" before "id". */
        GList *members = json_object_get_members(o);
        g_string_append_c(out, '{');
        for (GList *l = members; l; l = l->next) {
            string_to_gstring(l->data, out);
            g_string_append(out, ": ");
            json_to_gstring(json_object_get_member(o, l->data), out);
            if (l->next) {
                g_string_append(out, ", ");
            }
        }
        g_string_append_c(out, '}');
        g_list_free(members);
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(node);
        guint n = json_array_get_length(a);
        g_string_append_c(out, '[');
        for (guint i = 0; i < n; i++) {
            json_to_gstring(json_array_get_element(a, i), out);
            if (i + 1 < n) {
                g_string_append(out, ", ");
            }
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_VALUE:
        switch (json_node_get_value_type(node)) {
        case G_TYPE_INT64:
            g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(node));
            break;
        case G_TYPE_DOUBLE: {
            char num[G_ASCII_DTOSTR_BUF_SIZE];
            g_string_append(out, g_ascii_dtostr(num, sizeof(num), json_node_get_double(node)));
            break;
        }
        case G_TYPE_BOOLEAN:
            g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
            break;
        default:
            string_to_gstring(json_node_get_string(node), out);
            break;
        }
        break;
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    }
}
