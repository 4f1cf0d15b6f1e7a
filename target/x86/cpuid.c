/*
 * CPUID models (include/target/x86/cpuid.h).
 *
 * A model names a vendor, a signature and a set of feature bits. Building
 * a vCPU's table intersects the model with what the accelerator supports,
 * applies the user's +feat/-feat, and fills in what is per vCPU: the APIC
 * ID and the topology leaves. All vCPUs are cores of one package with one
 * thread each, so APIC IDs need ceil(log2(ncpus)) core bits.
 *
 * References: Intel SDM Vol. 2A "CPUID"; AMD APM Vol. 3 appendix E.
 */
#include <stdio.h>
#include <string.h>
#include "kemu/error.h"
#include "kemu/log.h"
#include "target/x86/cpuid.h"

enum { REG_EAX, REG_EBX, REG_ECX, REG_EDX };

/* The CPUID registers that hold feature flags the user can toggle. */
typedef enum FeatureWord {
    FW_1_EDX, FW_1_ECX, FW_7_EBX, FW_7_ECX, FW_7_EDX,
    FW_X1_EDX, FW_X1_ECX, FW_X7_EDX, FW_D1_EAX, FW_NR,
} FeatureWord;

static const struct {
    uint32_t function, index;
    uint8_t reg;
} feature_words[FW_NR] = {
    [FW_1_EDX]  = { 1, 0, REG_EDX },
    [FW_1_ECX]  = { 1, 0, REG_ECX },
    [FW_7_EBX]  = { 7, 0, REG_EBX },
    [FW_7_ECX]  = { 7, 0, REG_ECX },
    [FW_7_EDX]  = { 7, 0, REG_EDX },
    [FW_X1_EDX] = { 0x80000001, 0, REG_EDX },
    [FW_X1_ECX] = { 0x80000001, 0, REG_ECX },
    [FW_X7_EDX] = { 0x80000007, 0, REG_EDX },
    [FW_D1_EAX] = { 0xd, 1, REG_EAX },
};

typedef struct FeatureName {
    const char *name;        /* /proc/cpuinfo-like; '_', '-', '.' match */
    uint8_t word, bit;
} FeatureName;

static const FeatureName feature_names[] = {
    { "fpu", FW_1_EDX, 0 }, { "vme", FW_1_EDX, 1 }, { "de", FW_1_EDX, 2 },
    { "pse", FW_1_EDX, 3 }, { "tsc", FW_1_EDX, 4 }, { "msr", FW_1_EDX, 5 },
    { "pae", FW_1_EDX, 6 }, { "mce", FW_1_EDX, 7 }, { "cx8", FW_1_EDX, 8 },
    { "apic", FW_1_EDX, 9 }, { "sep", FW_1_EDX, 11 }, { "mtrr", FW_1_EDX, 12 },
    { "pge", FW_1_EDX, 13 }, { "mca", FW_1_EDX, 14 }, { "cmov", FW_1_EDX, 15 },
    { "pat", FW_1_EDX, 16 }, { "pse36", FW_1_EDX, 17 },
    { "clflush", FW_1_EDX, 19 }, { "mmx", FW_1_EDX, 23 },
    { "fxsr", FW_1_EDX, 24 }, { "sse", FW_1_EDX, 25 }, { "sse2", FW_1_EDX, 26 },
    { "ss", FW_1_EDX, 27 },
    { "sse3", FW_1_ECX, 0 }, { "pni", FW_1_ECX, 0 },
    { "pclmulqdq", FW_1_ECX, 1 }, { "monitor", FW_1_ECX, 3 },
    { "ssse3", FW_1_ECX, 9 }, { "fma", FW_1_ECX, 12 }, { "cx16", FW_1_ECX, 13 },
    { "pcid", FW_1_ECX, 17 }, { "sse4.1", FW_1_ECX, 19 },
    { "sse4.2", FW_1_ECX, 20 }, { "x2apic", FW_1_ECX, 21 },
    { "movbe", FW_1_ECX, 22 }, { "popcnt", FW_1_ECX, 23 },
    { "tsc-deadline", FW_1_ECX, 24 }, { "aes", FW_1_ECX, 25 },
    { "xsave", FW_1_ECX, 26 }, { "avx", FW_1_ECX, 28 },
    { "f16c", FW_1_ECX, 29 }, { "rdrand", FW_1_ECX, 30 },
    { "hypervisor", FW_1_ECX, 31 },
    { "fsgsbase", FW_7_EBX, 0 }, { "tsc-adjust", FW_7_EBX, 1 },
    { "bmi1", FW_7_EBX, 3 }, { "hle", FW_7_EBX, 4 }, { "avx2", FW_7_EBX, 5 },
    { "smep", FW_7_EBX, 7 }, { "bmi2", FW_7_EBX, 8 }, { "erms", FW_7_EBX, 9 },
    { "invpcid", FW_7_EBX, 10 }, { "rtm", FW_7_EBX, 11 },
    { "avx512f", FW_7_EBX, 16 }, { "avx512dq", FW_7_EBX, 17 },
    { "rdseed", FW_7_EBX, 18 }, { "adx", FW_7_EBX, 19 },
    { "smap", FW_7_EBX, 20 }, { "clflushopt", FW_7_EBX, 23 },
    { "clwb", FW_7_EBX, 24 }, { "avx512cd", FW_7_EBX, 28 },
    { "sha-ni", FW_7_EBX, 29 }, { "avx512bw", FW_7_EBX, 30 },
    { "avx512vl", FW_7_EBX, 31 },
    { "umip", FW_7_ECX, 2 }, { "pku", FW_7_ECX, 3 }, { "waitpkg", FW_7_ECX, 5 },
    { "vaes", FW_7_ECX, 9 }, { "vpclmulqdq", FW_7_ECX, 10 },
    { "la57", FW_7_ECX, 16 }, { "rdpid", FW_7_ECX, 22 },
    { "fsrm", FW_7_EDX, 4 }, { "md-clear", FW_7_EDX, 10 },
    { "serialize", FW_7_EDX, 14 }, { "arch-capabilities", FW_7_EDX, 29 },
    { "ssbd", FW_7_EDX, 31 },
    { "syscall", FW_X1_EDX, 11 }, { "nx", FW_X1_EDX, 20 },
    { "mmxext", FW_X1_EDX, 22 }, { "fxsr-opt", FW_X1_EDX, 25 },
    { "pdpe1gb", FW_X1_EDX, 26 }, { "rdtscp", FW_X1_EDX, 27 },
    { "lm", FW_X1_EDX, 29 },
    { "lahf-lm", FW_X1_ECX, 0 }, { "cmp-legacy", FW_X1_ECX, 1 },
    { "svm", FW_X1_ECX, 2 }, { "abm", FW_X1_ECX, 5 }, { "sse4a", FW_X1_ECX, 6 },
    { "misalignsse", FW_X1_ECX, 7 }, { "3dnowprefetch", FW_X1_ECX, 8 },
    { "topoext", FW_X1_ECX, 22 },
    { "invtsc", FW_X7_EDX, 8 },
    { "xsaveopt", FW_D1_EAX, 0 }, { "xsavec", FW_D1_EAX, 1 },
    { "xgetbv1", FW_D1_EAX, 2 }, { "xsaves", FW_D1_EAX, 3 },
};

#define BIT(n) (1u << (n))

/* Leaf 1 EDX of the qemu64/kvm64 models (Pentium Pro + P4 features). */
#define BASE_1_EDX \
    (BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | \
     BIT(9) | BIT(11) | BIT(12) | BIT(13) | BIT(14) | BIT(15) | BIT(16) | \
     BIT(17) | BIT(19) | BIT(23) | BIT(24) | BIT(25) | BIT(26))

/* Leaf 1 EDX bits AMD mirrors in 0x80000001 EDX. */
#define AMD_EDX_ALIASES 0x0183f3ffu

#define ECX1_HT_EDX 28      /* leaf 1 EDX: more than one logical CPU */
#define ECX1_XSAVE 26
#define ECX1_OSXSAVE 27
#define ECX1_AVX 28
#define X1ECX_CMP_LEGACY 1
#define X1ECX_TOPOEXT 22

typedef struct ModelDef {
    const char *name;
    const char *desc;
    bool passthrough;          /* everything supported, vendor included */
    const char *vendor;        /* 12 characters */
    unsigned family, model, stepping;
    uint32_t level, xlevel;
    uint32_t fw[FW_NR];
} ModelDef;

static const ModelDef models[] = {
    {
        .name = "qemu64",
        .desc = "QEMU-compatible 64-bit CPU, AMD vendor (the default)",
        .vendor = "AuthenticAMD",
        .family = 15, .model = 107, .stepping = 1,
        .level = 0xd, .xlevel = 0x80000008,
        .fw = {
            [FW_1_EDX] = BASE_1_EDX,
            [FW_1_ECX] = BIT(0) | BIT(13) | BIT(31),      /* sse3 cx16 hv */
            [FW_X1_EDX] = BIT(11) | BIT(20) | BIT(29),    /* syscall nx lm */
            [FW_X1_ECX] = BIT(0),                         /* lahf-lm */
        },
    },
    {
        .name = "kvm64",
        .desc = "Common KVM 64-bit CPU, Intel vendor",
        .vendor = "GenuineIntel",
        .family = 15, .model = 6, .stepping = 1,
        .level = 0xd, .xlevel = 0x80000008,
        .fw = {
            [FW_1_EDX] = BASE_1_EDX,
            [FW_1_ECX] = BIT(0) | BIT(13) | BIT(31),
            [FW_X1_EDX] = BIT(11) | BIT(20) | BIT(29),
        },
    },
    {
        .name = "host",
        .desc = "Everything the accelerator supports, host vendor and model",
        .passthrough = true,
    },
    {
        .name = "max",
        .desc = "Same as host: every supported feature",
        .passthrough = true,
    },
};

struct CpuModel {
    const ModelDef *def;
    uint32_t plus[FW_NR], minus[FW_NR];
};

/* Feature names compare with '_', '-' and '.' treated as equal. */
static bool name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = (*a == '_' || *a == '.') ? '-' : g_ascii_tolower(*a);
        char cb = (*b == '_' || *b == '.') ? '-' : g_ascii_tolower(*b);
        if (ca != cb) {
            return false;
        }
        if (!ca) {
            return true;
        }
    }
}

static const FeatureName *find_feature(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(feature_names); i++) {
        if (name_eq(name, feature_names[i].name)) {
            return &feature_names[i];
        }
    }
    return NULL;
}

static const FeatureName *feature_of_bit(unsigned word, unsigned bit)
{
    for (size_t i = 0; i < G_N_ELEMENTS(feature_names); i++) {
        if (feature_names[i].word == word && feature_names[i].bit == bit) {
            return &feature_names[i];
        }
    }
    return NULL;
}

/* Apply one ",item" of a -cpu argument. */
static bool parse_item(CpuModel *cm, const char *item, GError **errp)
{
    g_autofree char *name = NULL;
    bool on;

    if (item[0] == '+' || item[0] == '-') {
        on = item[0] == '+';
        name = g_strdup(item + 1);
    } else {
        const char *eq = strchr(item, '=');
        if (!eq) {
            on = true;
            name = g_strdup(item);
        } else {
            const char *v = eq + 1;
            name = g_strndup(item, eq - item);
            if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
                on = true;
            } else if (!strcmp(v, "off") || !strcmp(v, "false") ||
                       !strcmp(v, "no")) {
                on = false;
            } else {
                error_setg(errp, "-cpu: bad value '%s' for '%s' (use on or off)",
                           v, name);
                return false;
            }
        }
    }
    const FeatureName *f = find_feature(name);
    if (!f) {
        error_setg(errp, "-cpu: unknown CPU feature '%s'", name);
        return false;
    }
    /* The last mention of a feature wins. */
    if (on) {
        cm->plus[f->word] |= BIT(f->bit);
        cm->minus[f->word] &= ~BIT(f->bit);
    } else {
        cm->minus[f->word] |= BIT(f->bit);
        cm->plus[f->word] &= ~BIT(f->bit);
    }
    return true;
}

CpuModel *cpu_model_parse(const char *spec, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(spec ? spec : "", ",", -1);
    CpuModel *cm = g_new0(CpuModel, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(models) && parts[0]; i++) {
        if (!strcmp(parts[0], models[i].name)) {
            cm->def = &models[i];
        }
    }
    if (!cm->def) {
        error_setg(errp, "-cpu: unknown CPU model '%s' (try -cpu help)",
                   parts[0] ? parts[0] : "");
        goto fail;
    }
    for (size_t i = 1; parts[i]; i++) {
        if (parts[i][0] && !parse_item(cm, parts[i], errp)) {
            goto fail;
        }
    }
    return cm;

fail:
    g_free(cm);
    return NULL;
}

void cpu_model_free(CpuModel *m)
{
    g_free(m);
}

void cpu_model_list(FILE *f)
{
    fprintf(f, "Available CPU models:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(models); i++) {
        fprintf(f, "  %-10s %s\n", models[i].name, models[i].desc);
    }
    fprintf(f, "\nFeatures (+name, -name, name=on|off):\n");
    for (size_t i = 0; i < G_N_ELEMENTS(feature_names); i++) {
        fprintf(f, "%s%s", i % 8 ? " " : "  ", feature_names[i].name);
        if (i % 8 == 7 || i + 1 == G_N_ELEMENTS(feature_names)) {
            fputc('\n', f);
        }
    }
}

/* ---- table helpers ---- */

static uint32_t reg_get(const CpuidEntry *e, unsigned reg)
{
    switch (reg) {
    case REG_EAX: return e->eax;
    case REG_EBX: return e->ebx;
    case REG_ECX: return e->ecx;
    default:      return e->edx;
    }
}

static uint32_t *reg_of(CpuidEntry *e, unsigned reg)
{
    switch (reg) {
    case REG_EAX: return &e->eax;
    case REG_EBX: return &e->ebx;
    case REG_ECX: return &e->ecx;
    default:      return &e->edx;
    }
}

static const CpuidEntry *table_find(const CpuidTable *t, uint32_t fn,
                                    uint32_t index)
{
    for (unsigned i = 0; i < t->n; i++) {
        const CpuidEntry *e = &t->e[i];
        if (e->function == fn &&
            (!(e->flags & CPUID_FLAG_SIGNIFICANT_INDEX) || e->index == index)) {
            return e;
        }
    }
    return NULL;
}

static CpuidEntry *out_find(GArray *a, uint32_t fn, uint32_t index)
{
    CpuidTable t = { (CpuidEntry *)(void *)a->data, a->len };
    return (CpuidEntry *)table_find(&t, fn, index);
}

/* What @t says for @word, 0 when the leaf is absent or out of range. */
static uint32_t table_word(const CpuidTable *t, unsigned word)
{
    uint32_t fn = feature_words[word].function;
    const CpuidEntry *max = table_find(t, fn & 0x80000000u, 0);
    const CpuidEntry *e = table_find(t, fn, feature_words[word].index);

    if (!e || !max || max->eax < fn) {
        return 0;
    }
    return reg_get(e, feature_words[word].reg);
}

static CpuidEntry *add(GArray *a, uint32_t fn, uint32_t index, bool indexed)
{
    CpuidEntry e = {
        .function = fn, .index = index,
        .flags = indexed ? CPUID_FLAG_SIGNIFICANT_INDEX : 0,
    };
    g_array_append_val(a, e);
    return &g_array_index(a, CpuidEntry, a->len - 1);
}

static void remove_leaf(GArray *a, uint32_t fn)
{
    for (guint i = a->len; i-- > 0;) {
        if (g_array_index(a, CpuidEntry, i).function == fn) {
            g_array_remove_index(a, i);
        }
    }
}

static void set_vendor(CpuidEntry *e, const char *v)
{
    memcpy(&e->ebx, v, 4);
    memcpy(&e->edx, v + 4, 4);
    memcpy(&e->ecx, v + 8, 4);
}

static bool is_amd(GArray *a)
{
    CpuidEntry *e = out_find(a, 0, 0);
    char v[13] = "";

    if (e) {
        memcpy(v, &e->ebx, 4);
        memcpy(v + 4, &e->edx, 4);
        memcpy(v + 8, &e->ecx, 4);
    }
    return !strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine");
}

static uint32_t signature(unsigned family, unsigned model, unsigned stepping)
{
    uint32_t fam = family > 15 ? 15 : family;
    uint32_t ext_fam = family > 15 ? family - 15 : 0;

    return (stepping & 0xf) | ((model & 0xf) << 4) | (fam << 8) |
           ((model >> 4) << 16) | (ext_fam << 20);
}

/* ceil(log2(n)): APIC ID bits for @n cores. */
static unsigned core_bits(unsigned n)
{
    unsigned b = 0;

    while ((1u << b) < n) {
        b++;
    }
    return b;
}

/* ---- named models ---- */

/* XSAVE leaf 0xD from @sup, limited to x87, SSE and (with AVX) YMM state. */
static void build_xsave_leaf(GArray *a, const CpuidTable *sup, bool avx,
                             uint32_t d1_eax)
{
    const CpuidEntry *s0 = table_find(sup, 0xd, 0);
    const CpuidEntry *s2 = table_find(sup, 0xd, 2);
    uint32_t xcr0 = 0x3 | (avx && s2 ? 0x4 : 0);
    CpuidEntry *e0 = add(a, 0xd, 0, true);

    e0->eax = xcr0 & (s0 ? s0->eax : 0x3);
    e0->ebx = 576;          /* legacy area + header; KVM tracks XCR0 */
    e0->ecx = 576;
    if (e0->eax & 0x4) {
        e0->ecx = MAX(e0->ecx, s2->ebx + s2->eax);
        *add(a, 0xd, 2, true) = *s2;
    }
    add(a, 0xd, 1, true)->eax = d1_eax;
}

static void build_named(GArray *a, const ModelDef *d, const CpuidTable *sup,
                        const uint32_t *fw)
{
    const CpuidEntry *sup0 = table_find(sup, 0, 0);
    const CpuidEntry *supx = table_find(sup, 0x80000000u, 0);
    const CpuidEntry *supx8 = table_find(sup, 0x80000008u, 0);
    uint32_t level = MIN(d->level, sup0 ? sup0->eax : 1);
    uint32_t xlevel = MIN(d->xlevel, supx ? supx->eax : 0x80000000u);
    uint32_t sig = signature(d->family, d->model, d->stepping);
    bool amd = !strcmp(d->vendor, "AuthenticAMD");
    static const char brand[48] = "kemu Virtual CPU";
    CpuidEntry *e;

    if (xlevel < 0x80000000u) {
        xlevel = 0x80000000u;
    }
    e = add(a, 0, 0, false);
    e->eax = level;
    set_vendor(e, d->vendor);

    for (uint32_t fn = 1; fn <= level; fn++) {
        bool indexed = fn == 4 || fn == 7 || fn == 0xb || fn == 0xd;
        if (fn == 0xd) {
            if (fw[FW_1_ECX] & BIT(ECX1_XSAVE)) {
                build_xsave_leaf(a, sup, fw[FW_1_ECX] & BIT(ECX1_AVX),
                                 fw[FW_D1_EAX]);
            } else {
                add(a, 0xd, 0, true);
                add(a, 0xd, 1, true);
            }
            continue;
        }
        e = add(a, fn, 0, indexed);
        switch (fn) {
        case 1:
            e->eax = sig;
            e->ebx = 8u << 8;           /* CLFLUSH line: 8 * 8 bytes */
            e->ecx = fw[FW_1_ECX];
            e->edx = fw[FW_1_EDX];
            break;
        case 2:
            e->eax = 1;                 /* one round, no descriptors */
            break;
        case 7:
            e->ebx = fw[FW_7_EBX];
            e->ecx = fw[FW_7_ECX];
            e->edx = fw[FW_7_EDX];
            break;
        default:
            break;                      /* reserved/absent: all zero */
        }
    }

    e = add(a, 0x80000000u, 0, false);
    e->eax = xlevel;
    if (amd) {
        set_vendor(e, d->vendor);
    }
    for (uint32_t fn = 0x80000001u; fn <= xlevel; fn++) {
        e = add(a, fn, 0, false);
        switch (fn) {
        case 0x80000001u:
            e->eax = amd ? sig : 0;
            e->ecx = fw[FW_X1_ECX];
            e->edx = fw[FW_X1_EDX];
            break;
        case 0x80000002u:
        case 0x80000003u:
        case 0x80000004u:
            memcpy(&e->eax, brand + (fn - 0x80000002u) * 16, 16);
            break;
        case 0x80000005u:
            if (amd) {                  /* L1: 64 KiB 2-way, 64-byte lines */
                e->eax = 0xff01ff01u;
                e->ebx = 0xff01ff01u;
                e->ecx = e->edx = (64u << 24) | (2u << 16) | (1u << 8) | 64;
            }
            break;
        case 0x80000006u:               /* L2: 512 KiB 16-way */
            e->ecx = (512u << 16) | (0x8u << 12) | (amd ? 1u << 8 : 0) | 64;
            break;
        case 0x80000007u:
            e->edx = fw[FW_X7_EDX];
            break;
        case 0x80000008u:
            /* Host physical address bits; virtual ones as paging allows. */
            e->eax = (supx8 && supx8->eax ? supx8->eax & 0xff : 40) |
                     ((fw[FW_7_ECX] & BIT(16) ? 57u : 48u) << 8);
            break;
        default:
            break;
        }
    }

    /* Hypervisor leaves (KVM's signature and paravirt features). */
    if (fw[FW_1_ECX] & BIT(31)) {
        const CpuidEntry *h0 = table_find(sup, 0x40000000u, 0);
        const CpuidEntry *h1 = table_find(sup, 0x40000001u, 0);
        if (h0 && h1) {
            e = add(a, 0x40000000u, 0, false);
            *e = *h0;
            e->eax = 0x40000001u;
            e = add(a, 0x40000001u, 0, false);
            *e = *h1;
            /*
             * Only paravirt features the kernel implements alone:
             * kvmclock (0, 3), no-I/O-delay (1), PV EOI (6) and the
             * clocksource-stable bit (24).
             */
            e->eax &= BIT(0) | BIT(1) | BIT(3) | BIT(6) | BIT(24);
            e->ebx = e->ecx = e->edx = 0;
        }
    }
}

/* ---- per-vCPU topology ---- */

static void fix_topology(GArray *a, uint32_t apic_id, unsigned ncpus)
{
    unsigned bits = core_bits(ncpus);
    bool amd = is_amd(a);
    uint32_t level = out_find(a, 0, 0) ? out_find(a, 0, 0)->eax : 0;
    CpuidEntry *x0, *e;

    if ((e = out_find(a, 1, 0))) {
        e->ebx = (e->ebx & 0xffffu) | ((1u << bits) << 16) |
                 ((apic_id & 0xff) << 24);
        e->ecx &= ~BIT(ECX1_OSXSAVE);      /* reflects CR4, set at run time */
        if (ncpus > 1) {
            e->edx |= BIT(ECX1_HT_EDX);
        } else {
            e->edx &= ~BIT(ECX1_HT_EDX);
        }
    }
    for (guint i = 0; i < a->len; i++) {
        e = &g_array_index(a, CpuidEntry, i);
        if (e->function == 4 && (e->eax & 0x1f)) {
            unsigned cache_level = (e->eax >> 5) & 7;
            uint32_t sharing = cache_level >= 3 ? (1u << bits) - 1 : 0;
            e->eax = (e->eax & 0x3fff) | (sharing << 14) |
                     (((1u << bits) - 1) << 26);
        }
    }

    /* Leaf 0xB: SMT level (1 thread), core level (all vCPUs). */
    remove_leaf(a, 0xb);
    remove_leaf(a, 0x1f);      /* 0xB says it all; 0x1F would take over */
    if (level >= 0xb) {
        for (uint32_t idx = 0; idx < 3; idx++) {
            e = add(a, 0xb, idx, true);
            e->edx = apic_id;
            e->ecx = idx;
            if (idx == 0) {
                e->eax = 0;
                e->ebx = 1;
                e->ecx |= 1u << 8;      /* SMT */
            } else if (idx == 1) {
                e->eax = bits;
                e->ebx = ncpus;
                e->ecx |= 2u << 8;      /* core */
            }
        }
    }

    /* add() may have moved the array: look entries up afresh. */
    x0 = out_find(a, 0x80000000u, 0);
    if (amd && (e = out_find(a, 0x80000001u, 0))) {
        if (ncpus > 1) {
            e->ecx |= BIT(X1ECX_CMP_LEGACY);
        } else {
            e->ecx &= ~BIT(X1ECX_CMP_LEGACY);
        }
    }
    if (x0 && x0->eax >= 0x80000008u && (e = out_find(a, 0x80000008u, 0))) {
        e->ecx = amd ? ((ncpus - 1) & 0xff) | (bits << 12) : 0;
    }
    if ((e = out_find(a, 0x8000001eu, 0))) {
        e->eax = apic_id;               /* extended APIC ID */
        e->ebx = apic_id & 0xff;        /* core ID, one thread per core */
        e->ecx = 0;                     /* node 0 of one */
    }
}

/* Write the final feature words into the table. */
static void store_words(GArray *a, const uint32_t *fw)
{
    for (unsigned w = 0; w < FW_NR; w++) {
        CpuidEntry *e = out_find(a, feature_words[w].function,
                                 feature_words[w].index);
        if (e) {
            *reg_of(e, feature_words[w].reg) = fw[w];
        }
    }
}

/* Features that make no sense without XSAVE go with it. */
static void fix_dependencies(uint32_t *fw)
{
    if (!(fw[FW_1_ECX] & BIT(ECX1_XSAVE))) {
        fw[FW_1_ECX] &= ~(BIT(ECX1_AVX) | BIT(12) | BIT(29));  /* fma f16c */
        fw[FW_7_EBX] &= ~(BIT(5) | 0xd0030000u);               /* avx2, 512 */
        fw[FW_D1_EAX] = 0;
    }
    if (!(fw[FW_1_ECX] & BIT(ECX1_AVX))) {
        fw[FW_7_EBX] &= ~(BIT(5) | 0xd0030000u);
    }
}

bool cpu_model_build(const CpuModel *m, const CpuidTable *supported,
                     unsigned index, uint32_t apic_id, unsigned ncpus,
                     CpuidTable *out, GError **errp)
{
    uint32_t fw[FW_NR];
    GArray *a;

    (void)index;    /* every vCPU is alike except for its APIC ID */
    if (ncpus == 0) {
        ncpus = 1;
    }
    for (unsigned w = 0; w < FW_NR; w++) {
        uint32_t sup = table_word(supported, w);
        uint32_t missing = m->plus[w] & ~sup;
        if (missing) {
            const FeatureName *f = feature_of_bit(w, __builtin_ctz(missing));
            error_setg(errp, "-cpu: feature '%s' is not supported by this "
                       "accelerator", f ? f->name : "?");
            return false;
        }
        uint32_t base = m->def->passthrough ? sup : m->def->fw[w];
        fw[w] = ((base | m->plus[w]) & ~m->minus[w]) & sup;
    }
    fix_dependencies(fw);

    a = g_array_new(FALSE, TRUE, sizeof(CpuidEntry));
    if (m->def->passthrough) {
        g_array_append_vals(a, supported->e, supported->n);
        if (!out_find(a, 0, 0)) {
            add(a, 0, 0, false);
        }
    } else {
        build_named(a, m->def, supported, fw);
    }
    store_words(a, fw);
    if (!m->def->passthrough && is_amd(a)) {
        /* AMD mirrors most leaf 1 EDX bits in 0x80000001 EDX. */
        CpuidEntry *x1 = out_find(a, 0x80000001u, 0);
        if (x1) {
            x1->edx |= fw[FW_1_EDX] & AMD_EDX_ALIASES;
        }
    }
    fix_topology(a, apic_id, ncpus);

    out->n = a->len;
    out->e = (CpuidEntry *)(void *)g_array_free(a, FALSE);
    return true;
}
