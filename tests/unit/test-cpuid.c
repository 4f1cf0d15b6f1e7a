/*
 * target/x86 tests: -cpu model parsing, CPUID table building from a
 * synthetic "supported" table, and the architectural CPU states and
 * register dump of target/x86/cpu.c.
 */
#include <string.h>
#include <glib.h>
#include "target/x86/cpu.h"
#include "target/x86/cpuid.h"

#define BIT(n) (1u << (n))

/* ---- model parsing ---- */

static void test_parse_ok(void)
{
    static const char *const ok[] = {
        "qemu64", "kvm64", "host", "max",
        "qemu64,+avx,-sse3,x2apic=on,popcnt=off,sse4_1",
        "host,-avx,sse4.2=off,tsc_deadline=on,lahf_lm",
        "qemu64,",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        GError *err = NULL;
        CpuModel *m = cpu_model_parse(ok[i], &err);
        g_assert_no_error(err);
        g_assert_nonnull(m);
        cpu_model_free(m);
    }
}

static void test_parse_errors(void)
{
    static const struct { const char *spec, *word; } bad[] = {
        { "nosuchcpu", "nosuchcpu" },
        { "", "unknown CPU model" },
        { "qemu64,+nosuchfeat", "nosuchfeat" },
        { "qemu64,-bogus", "bogus" },
        { "qemu64,avx=maybe", "maybe" },
        { "help", "help" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        g_assert_null(cpu_model_parse(bad[i].spec, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, bad[i].word)) {
            g_error("'%s': \"%s\" does not name \"%s\"", bad[i].spec,
                    err->message, bad[i].word);
        }
        g_error_free(err);
    }
}

static void test_list(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cpu_model_list(f);
    fclose(f);
    g_assert_nonnull(strstr(buf, "qemu64"));
    g_assert_nonnull(strstr(buf, "host"));
    g_assert_nonnull(strstr(buf, "avx2"));
    free(buf);
}

/* ---- building tables ---- */

/* What a KVM host with AVX2 might report (GenuineIntel, level 0x1f). */
static const CpuidEntry sup_entries[] = {
    { 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69 },   /* GenuineIntel */
    { 1, 0, 0, 0x000a0671, 0x01020800,
      BIT(0) | BIT(13) | BIT(21) | BIT(23) | BIT(26) | BIT(27) | BIT(28) | BIT(31),
      0x0f8bfbff | BIT(28) },
    { 4, 0, 1, 0x04000121, 0x02c0003f, 0x3f, 0 },
    { 4, 1, 1, 0x04000163, 0x03c0003f, 0x7fff, 0 },
    { 7, 0, 1, 0, BIT(3) | BIT(5) | BIT(7), 0, 0 },
    { 0xb, 0, 1, 1, 2, 0x100, 7 },
    { 0xb, 1, 1, 5, 16, 0x201, 7 },
    { 0xd, 0, 1, 0x7, 0x340, 0x340, 0 },
    { 0xd, 1, 1, 0x1, 0, 0, 0 },
    { 0xd, 2, 1, 0x100, 0x240, 0, 0 },
    { 0x1f, 0, 1, 1, 2, 0x100, 7 },
    { 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d },
    { 0x40000001, 0, 0, 0x01007efb, 0, 0, 0 },
    { 0x80000000, 0, 0, 0x80000008, 0, 0, 0 },
    { 0x80000001, 0, 0, 0, 0, BIT(0) | BIT(8), BIT(11) | BIT(20) | BIT(29) },
    { 0x80000008, 0, 0, 0x3027, 0, 0, 0 },
};
static const CpuidTable supported = {
    (CpuidEntry *)sup_entries, G_N_ELEMENTS(sup_entries),
};

static const CpuidEntry *find(const CpuidTable *t, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (t->e[i].function == fn &&
            (!(t->e[i].flags & CPUID_FLAG_SIGNIFICANT_INDEX) ||
             t->e[i].index == idx)) {
            return &t->e[i];
        }
    }
    return NULL;
}

static const CpuidEntry *must_find(const CpuidTable *t, uint32_t fn, uint32_t idx)
{
    const CpuidEntry *e = find(t, fn, idx);
    if (!e) {
        g_error("no CPUID leaf 0x%x.%u", fn, idx);
    }
    return e;
}

static void vendor_of(const CpuidTable *t, char v[13])
{
    const CpuidEntry *e = must_find(t, 0, 0);
    memcpy(v, &e->ebx, 4);
    memcpy(v + 4, &e->edx, 4);
    memcpy(v + 8, &e->ecx, 4);
    v[12] = 0;
}

static CpuidTable build(const char *spec, uint32_t apic_id, unsigned ncpus)
{
    GError *err = NULL;
    CpuidTable t = { 0 };
    CpuModel *m = cpu_model_parse(spec, &err);

    g_assert_no_error(err);
    g_assert_true(cpu_model_build(m, &supported, apic_id, apic_id, ncpus, &t,
                                  &err));
    g_assert_no_error(err);
    cpu_model_free(m);
    return t;
}

static void check_topology(const CpuidTable *t, uint32_t apic_id,
                           unsigned ncpus, unsigned bits)
{
    const CpuidEntry *l1 = must_find(t, 1, 0);
    g_assert_cmphex(l1->ebx >> 24, ==, apic_id & 0xff);
    g_assert_cmphex((l1->ebx >> 16) & 0xff, ==, 1u << bits);
    g_assert_cmphex(!!(l1->edx & BIT(28)), ==, ncpus > 1);

    const CpuidEntry *smt = must_find(t, 0xb, 0);
    const CpuidEntry *core = must_find(t, 0xb, 1);
    const CpuidEntry *end = must_find(t, 0xb, 2);
    g_assert_cmphex(smt->edx, ==, apic_id);
    g_assert_cmphex(smt->eax, ==, 0);
    g_assert_cmphex(smt->ebx, ==, 1);
    g_assert_cmphex(smt->ecx, ==, 0x100);
    g_assert_cmphex(core->edx, ==, apic_id);
    g_assert_cmphex(core->eax, ==, bits);
    g_assert_cmphex(core->ebx, ==, ncpus);
    g_assert_cmphex(core->ecx, ==, 0x201);
    g_assert_cmphex((end->ecx >> 8) & 0xff, ==, 0);
    g_assert_null(find(t, 0x1f, 0));
}

static void test_build_qemu64(void)
{
    CpuidTable t = build("qemu64", 2, 4);
    char v[13];

    vendor_of(&t, v);
    g_assert_cmpstr(v, ==, "AuthenticAMD");
    g_assert_cmphex(must_find(&t, 0, 0)->eax, ==, 0xd);

    const CpuidEntry *l1 = must_find(&t, 1, 0);
    g_assert_cmphex(l1->eax, ==, 0x00060fb1);     /* family 15 model 107 */
    g_assert_cmphex(l1->ecx, ==, BIT(0) | BIT(13) | BIT(31));
    g_assert_true(l1->edx & BIT(25));              /* sse */
    g_assert_false(l1->edx & BIT(27));             /* ss: not in the model */
    check_topology(&t, 2, 4, 2);

    g_assert_cmphex(must_find(&t, 7, 0)->ebx, ==, 0);
    g_assert_cmphex(must_find(&t, 0xd, 0)->eax, ==, 0);   /* no xsave */

    const CpuidEntry *x1 = must_find(&t, 0x80000001, 0);
    g_assert_cmphex(x1->edx & (BIT(11) | BIT(20) | BIT(29)), ==,
                    BIT(11) | BIT(20) | BIT(29));
    g_assert_true(x1->edx & BIT(0));               /* AMD alias of fpu */
    g_assert_cmphex(x1->ecx, ==, BIT(0) | BIT(1)); /* lahf, cmp-legacy */
    g_assert_cmphex(must_find(&t, 0x80000008, 0)->eax, ==, 0x3027);
    g_assert_cmphex(must_find(&t, 0x80000008, 0)->ecx, ==, 3 | (2 << 12));
    char brand[17] = "";
    memcpy(brand, &must_find(&t, 0x80000002, 0)->eax, 16);
    g_assert_cmpstr(brand, ==, "kemu Virtual CPU");

    /* KVM's signature passes, with only kernel-side PV features. */
    g_assert_cmphex(must_find(&t, 0x40000000, 0)->ebx, ==, 0x4b4d564b);
    g_assert_cmphex(must_find(&t, 0x40000001, 0)->eax, ==,
                    0x01007efbu & (BIT(0) | BIT(1) | BIT(3) | BIT(6) | BIT(24)));
    g_free(t.e);
}

static void test_build_features(void)
{
    CpuidTable t = build("qemu64,+avx,+xsave,-sse3,x2apic=on,lahf_lm=off", 0, 1);

    const CpuidEntry *l1 = must_find(&t, 1, 0);
    g_assert_cmphex(l1->ecx, ==, BIT(13) | BIT(21) | BIT(26) | BIT(28) | BIT(31));
    check_topology(&t, 0, 1, 0);
    g_assert_cmphex(must_find(&t, 0x80000001, 0)->ecx, ==, 0);

    /* XSAVE leaf limited to x87, SSE and AVX state. */
    const CpuidEntry *d0 = must_find(&t, 0xd, 0);
    g_assert_cmphex(d0->eax, ==, 7);
    g_assert_cmphex(d0->ecx, ==, 0x340);
    g_assert_cmphex(must_find(&t, 0xd, 2)->eax, ==, 0x100);
    g_assert_cmphex(must_find(&t, 0xd, 1)->eax, ==, 0);
    g_free(t.e);
}

static void test_build_unsupported(void)
{
    GError *err = NULL;
    CpuidTable t = { 0 };
    CpuModel *m = cpu_model_parse("qemu64,+avx512f", &err);

    g_assert_no_error(err);
    g_assert_false(cpu_model_build(m, &supported, 0, 0, 1, &t, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "avx512f"));
    g_error_free(err);
    cpu_model_free(m);
}

/* Model features the accelerator lacks are dropped quietly. */
static void test_build_masked(void)
{
    CpuidEntry e[G_N_ELEMENTS(sup_entries)];
    CpuidTable sup = { e, G_N_ELEMENTS(e) };
    CpuidTable t = { 0 };
    GError *err = NULL;
    CpuModel *m = cpu_model_parse("qemu64", &err);

    memcpy(e, sup_entries, sizeof(e));
    e[1].ecx &= ~BIT(0);          /* no sse3 */
    e[1].edx &= ~BIT(16);         /* no pat */
    g_assert_true(cpu_model_build(m, &sup, 0, 0, 1, &t, &err));
    const CpuidEntry *l1 = must_find(&t, 1, 0);
    g_assert_false(l1->ecx & BIT(0));
    g_assert_false(l1->edx & BIT(16));
    g_assert_true(l1->ecx & BIT(13));
    cpu_model_free(m);
    g_free(t.e);
}

static void test_build_host(void)
{
    CpuidTable t = build("host", 300, 6);
    char v[13];

    vendor_of(&t, v);
    g_assert_cmpstr(v, ==, "GenuineIntel");
    const CpuidEntry *l1 = must_find(&t, 1, 0);
    g_assert_cmphex(l1->eax, ==, 0x000a0671);
    g_assert_true(l1->ecx & BIT(28));              /* avx passes through */
    g_assert_false(l1->ecx & BIT(27));             /* osxsave is dynamic */
    g_assert_true(must_find(&t, 7, 0)->ebx & BIT(5));
    check_topology(&t, 300, 6, 3);
    /* Intel leaf 4: cores per package - 1 in EAX[31:26]. */
    g_assert_cmphex(must_find(&t, 4, 0)->eax >> 26, ==, 7);
    g_free(t.e);

    t = build("host,-avx", 0, 1);
    g_assert_false(must_find(&t, 1, 0)->ecx & BIT(28));
    g_assert_false(must_find(&t, 7, 0)->ebx & BIT(5));   /* avx2 goes too */
    g_free(t.e);
}

static void test_build_kvm64(void)
{
    CpuidTable t = build("kvm64", 1, 2);
    char v[13];

    vendor_of(&t, v);
    g_assert_cmpstr(v, ==, "GenuineIntel");
    g_assert_cmphex(must_find(&t, 0x80000000, 0)->ebx, ==, 0);
    g_assert_cmphex(must_find(&t, 0x80000008, 0)->ecx, ==, 0);
    check_topology(&t, 1, 2, 1);
    g_free(t.e);
}

/* ---- architectural states ---- */

static void test_reset_state(void)
{
    X86CpuState s;

    x86_cpu_reset_state(&s, true);
    g_assert_cmphex(s.seg[SEG_CS].selector, ==, 0xf000);
    g_assert_cmphex(s.seg[SEG_CS].base, ==, 0xffff0000);
    g_assert_cmphex(s.seg[SEG_CS].limit, ==, 0xffff);
    g_assert_cmphex(s.rip, ==, 0xfff0);
    g_assert_cmphex(s.rflags, ==, 2);
    g_assert_cmphex(s.cr0, ==, 0x60000010);
    g_assert_cmphex(s.regs[R_EDX], ==, 0x00060fb1);
    g_assert_cmphex(s.regs[R_EAX], ==, 0);
    g_assert_cmphex(s.dr[6], ==, 0xffff0ff0);
    g_assert_cmphex(s.dr[7], ==, 0x400);
    g_assert_cmphex(s.efer, ==, 0);
    g_assert_cmphex(s.apic_base, ==, 0xfee00900);
    g_assert_cmphex(s.idt.limit, ==, 0xffff);
    for (int i = 0; i < SEG_NR; i++) {
        g_assert_cmpuint(s.seg[i].present, ==, 1);
        g_assert_cmphex(s.seg[i].limit, ==, 0xffff);
    }
    g_assert_cmphex(s.seg[SEG_DS].base, ==, 0);
    g_assert_cmpuint(s.seg[SEG_TR].s, ==, 0);
    x86_cpu_reset_state(&s, false);
    g_assert_cmphex(s.apic_base, ==, 0xfee00800);
}

static void test_flat32_state(void)
{
    X86CpuState s;

    x86_cpu_flat32_state(&s, 0x100020);
    g_assert_cmphex(s.rip, ==, 0x100020);
    g_assert_cmphex(s.cr0 & (CR0_PE | CR0_PG), ==, CR0_PE);
    g_assert_cmphex(s.rflags & RFLAGS_IF, ==, 0);
    for (int i = SEG_ES; i <= SEG_GS; i++) {
        g_assert_cmphex(s.seg[i].base, ==, 0);
        g_assert_cmphex(s.seg[i].limit, ==, 0xffffffff);
        g_assert_cmpuint(s.seg[i].db, ==, 1);
        g_assert_cmpuint(s.seg[i].s, ==, 1);
    }
    g_assert_cmphex(s.seg[SEG_CS].type & 8, ==, 8);   /* code */
    g_assert_cmphex(s.seg[SEG_DS].type & 8, ==, 0);   /* data */
    g_assert_cmphex(s.seg[SEG_SS].type & 2, ==, 2);   /* writable */
}

static void test_real_state(void)
{
    X86CpuState s;

    x86_cpu_real_state(&s, 0x7c05);
    g_assert_cmphex(s.seg[SEG_CS].selector, ==, 0x7c0);
    g_assert_cmphex(s.seg[SEG_CS].base, ==, 0x7c00);
    g_assert_cmphex(s.rip, ==, 5);
    g_assert_cmphex(s.seg[SEG_DS].selector, ==, 0);
    g_assert_cmphex(s.seg[SEG_SS].base, ==, 0);
    g_assert_cmphex(s.cr0 & CR0_PE, ==, 0);
}

static void test_dump(void)
{
    X86CpuState s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    x86_cpu_reset_state(&s, true);
    x86_cpu_dump(&s, f);
    s.efer = EFER_LME | EFER_LMA;
    s.regs[R_R15] = 0x123456789abcdef0ull;
    x86_cpu_dump(&s, f);
    fclose(f);
    g_assert_nonnull(strstr(buf, "EAX=00000000 EBX=00000000 ECX=00000000 "
                                 "EDX=00060fb1\n"));
    g_assert_nonnull(strstr(buf, "EIP=0000fff0 EFL=00000002 [-------]"));
    g_assert_nonnull(strstr(buf, "CS =f000 ffff0000 0000ffff 00009b00"));
    g_assert_nonnull(strstr(buf, "CR0=60000010"));
    g_assert_nonnull(strstr(buf, "R15=123456789abcdef0\n"));
    g_assert_nonnull(strstr(buf, "CS =f000 00000000ffff0000 0000ffff"));
    free(buf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpuid/parse/ok", test_parse_ok);
    g_test_add_func("/cpuid/parse/errors", test_parse_errors);
    g_test_add_func("/cpuid/list", test_list);
    g_test_add_func("/cpuid/build/qemu64", test_build_qemu64);
    g_test_add_func("/cpuid/build/features", test_build_features);
    g_test_add_func("/cpuid/build/unsupported", test_build_unsupported);
    g_test_add_func("/cpuid/build/masked", test_build_masked);
    g_test_add_func("/cpuid/build/host", test_build_host);
    g_test_add_func("/cpuid/build/kvm64", test_build_kvm64);
    g_test_add_func("/x86/cpu/reset-state", test_reset_state);
    g_test_add_func("/x86/cpu/flat32-state", test_flat32_state);
    g_test_add_func("/x86/cpu/real-state", test_real_state);
    g_test_add_func("/x86/cpu/dump", test_dump);
    return g_test_run();
}
