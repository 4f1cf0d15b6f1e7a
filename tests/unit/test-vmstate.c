/*
 * vmstate save/load: the record format and every way a record can be
 * refused without touching the state.
 */
#include <string.h>
#include <glib.h>
#include "hw/vmstate.h"

typedef struct Regs {
    uint32_t a;
    uint16_t b;
    uint8_t c;
    uint8_t arr[5];
} Regs;

static int post_load_calls;
static bool post_load_refuse;

static bool regs_post_load(void *state G_GNUC_UNUSED, GError **errp)
{

    post_load_calls++;
    if (post_load_refuse) {
        g_set_error(errp, g_quark_from_static_string("test"), 0, "refused");
        return false;
    }
    return true;
}

static const VMStateField regs_fields[] = {
    VMSTATE_FIELD(Regs, a),
    VMSTATE_FIELD(Regs, b),
    VMSTATE_FIELD(Regs, c),
    VMSTATE_FIELD(Regs, arr),
    VMSTATE_END,
};

static const VMStateDesc regs_vmsd = {
    .name = "regs",
    .version = 3,
    .fields = regs_fields,
    .post_load = regs_post_load,
};

static const Regs sample = { 0x11223344, 0x5566, 0x77, { 1, 2, 3, 4, 5 } };

static GByteArray *save_sample(void)
{
    GByteArray *out = g_byte_array_new();

    vmstate_save(&regs_vmsd, &sample, out);
    return out;
}

static void test_format(void)
{
    g_autoptr(GByteArray) out = save_sample();
    static const uint8_t expect[] = {
        4, 0, 0, 0, 'r', 'e', 'g', 's',
        3, 0, 0, 0,
        0x44, 0x33, 0x22, 0x11,
        0x66, 0x55,
        0x77,
        1, 2, 3, 4, 5,
    };

    g_assert_cmpmem(out->data, out->len, expect, sizeof(expect));
}

static void test_round_trip(void)
{
    g_autoptr(GByteArray) out = save_sample();
    g_autoptr(GError) err = NULL;
    Regs r;

    memset(&r, 0, sizeof(r));
    post_load_calls = 0;
    post_load_refuse = false;
    g_assert_true(vmstate_load(&regs_vmsd, &r, out->data, out->len, &err));
    g_assert_no_error(err);
    g_assert_cmpint(post_load_calls, ==, 1);
    g_assert_cmpmem(&r, sizeof(r), &sample, sizeof(sample));
}

/* Load @buf/@len into a state filled with 0xAB; it must fail and stay put. */
static void assert_refused(const uint8_t *buf, size_t len, const char *what)
{
    g_autoptr(GError) err = NULL;
    Regs r, before;

    memset(&r, 0xab, sizeof(r));
    before = r;
    g_assert_false(vmstate_load(&regs_vmsd, &r, buf, len, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, what));
    g_assert_cmpmem(&r, sizeof(r), &before, sizeof(before));
}

static void test_truncated(void)
{
    g_autoptr(GByteArray) out = save_sample();

    post_load_refuse = false;
    for (size_t len = 0; len < out->len; len++) {
        g_autoptr(GError) err = NULL;
        Regs r;

        memset(&r, 0xab, sizeof(r));
        g_assert_false(vmstate_load(&regs_vmsd, &r, out->data, len, &err));
        g_assert_nonnull(err);
        for (size_t i = 0; i < sizeof(r); i++) {
            g_assert_cmpint(((uint8_t *)&r)[i], ==, 0xab);
        }
    }
    assert_refused(out->data, out->len - 1, "truncated");
}

static void test_trailing(void)
{
    g_autoptr(GByteArray) out = save_sample();
    static const uint8_t extra = 0;

    g_byte_array_append(out, &extra, 1);
    post_load_refuse = false;
    assert_refused(out->data, out->len, "trailing");
}

static void test_wrong_name(void)
{
    g_autoptr(GByteArray) out = save_sample();

    out->data[5] = 'X';
    assert_refused(out->data, out->len, "another device");
    /* A huge name length must not be trusted either. */
    out->data[3] = 0xff;
    assert_refused(out->data, out->len, "another device");
}

static void test_wrong_version(void)
{
    g_autoptr(GByteArray) out = save_sample();

    out->data[8] = 2;
    assert_refused(out->data, out->len, "version 2");
}

static void test_post_load_refusal(void)
{
    g_autoptr(GByteArray) out = save_sample();

    post_load_refuse = true;
    assert_refused(out->data, out->len, "refused");
    post_load_refuse = false;
}

static void test_empty_desc(void)
{
    static const VMStateField none[] = { VMSTATE_END };
    static const VMStateDesc empty = { .name = "empty", .version = 1, .fields = none };
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    uint8_t dummy = 0;

    vmstate_save(&empty, &dummy, out);
    g_assert_cmpuint(out->len, ==, 4 + 5 + 4);
    g_assert_true(vmstate_load(&empty, &dummy, out->data, out->len, &err));
    g_assert_no_error(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/format", test_format);
    g_test_add_func("/vmstate/round-trip", test_round_trip);
    g_test_add_func("/vmstate/truncated", test_truncated);
    g_test_add_func("/vmstate/trailing", test_trailing);
    g_test_add_func("/vmstate/wrong-name", test_wrong_name);
    g_test_add_func("/vmstate/wrong-version", test_wrong_version);
    g_test_add_func("/vmstate/post-load-refusal", test_post_load_refusal);
    g_test_add_func("/vmstate/empty-desc", test_empty_desc);
    return g_test_run();
}
