/*
 * ACPI tables, parsed back out of guest memory the way an OS finds them:
 * the RSDP by its signature on a 16-byte boundary in 0xe0000-0xfffff, then
 * the tables through the XSDT (and RSDT) and the FADT. Checks signatures,
 * lengths, checksums, the MADT per vCPU count, the FADT's fixed hardware
 * and the DSDT's \_S5. Disassembles with iasl when it is installed.
 */
#include <string.h>
#include <glib/gstdio.h>
#include "hw/x86/acpi-build.h"
#include "kemu/error.h"

#define MiB (1024 * 1024ull)

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | ((uint64_t)get32(p + 4) << 32);
}

static Machine *machine_new(uint64_t ram_size, unsigned ncpus)
{
    Machine *m = g_new0(Machine, 1);
    g_autoptr(GError) err = NULL;

    m->cfg.ram_size = ram_size;
    m->ncpus = ncpus;
    g_assert_true(machine_ram_init(m, &err));
    return m;
}

static void machine_destroy(Machine *m)
{
    for (guint i = 0; m->roms && i < m->roms->len; i++) {
        g_bytes_unref(g_array_index(m->roms, RomBlob, i).data);
    }
    if (m->roms) {
        g_array_free(m->roms, TRUE);
    }
    machine_ram_free(m);
    g_free(m);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    for (size_t i = 0; i < len; i++) {
        s = (uint8_t)(s + p[i]);
    }
    return s;
}

/* The OS's RSDP search: 16-byte steps, signature and v1 checksum. */
static uint64_t find_rsdp(Machine *m)
{
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
        const uint8_t *p = machine_gpa_to_hva(m, a, 20);
        if (p && !memcmp(p, "RSD PTR ", 8) && sum(p, 20) == 0) {
            return a;
        }
    }
    return 0;
}

/* A table at @gpa with signature @sig: header sane, checksum zero. */
static const uint8_t *table(Machine *m, uint64_t gpa, const char *sig)
{
    const uint8_t *t = machine_gpa_to_hva(m, gpa, 36);
    uint32_t len;

    g_assert_nonnull(t);
    g_assert_cmpmem(t, 4, sig, 4);
    len = get32(t + 4);
    g_assert_cmpuint(len, >=, 36);
    g_assert_nonnull(machine_gpa_to_hva(m, gpa, len));
    g_assert_cmpuint(gpa + len, <=, ACPI_AREA_END);
    g_assert_cmpuint(sum(t, len), ==, 0);
    g_assert_cmpmem(t + 10, 6, "KEMU  ", 6);
    return t;
}

typedef struct Tables {
    const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *dsdt, *facs;
} Tables;

static Tables parse(Machine *m)
{
    Tables t = { 0 };
    uint64_t rsdp = find_rsdp(m);
    unsigned n;

    g_assert_cmphex(rsdp, ==, ACPI_RSDP_ADDR);
    g_assert_cmphex(acpi_rsdp_addr(m), ==, rsdp);
    t.rsdp = machine_gpa_to_hva(m, rsdp, 36);
    g_assert_cmpuint(t.rsdp[15], ==, 2);
    g_assert_cmpuint(get32(t.rsdp + 20), ==, 36);
    g_assert_cmpuint(sum(t.rsdp, 36), ==, 0);
    g_assert_cmpmem(t.rsdp + 9, 6, "KEMU  ", 6);
    t.xsdt = table(m, get64(t.rsdp + 24), "XSDT");
    t.rsdt = table(m, get32(t.rsdp + 16), "RSDT");
    n = (get32(t.xsdt + 4) - 36) / 8;
    g_assert_cmpuint(n, ==, (get32(t.rsdt + 4) - 36) / 4);
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = get64(t.xsdt + 36 + 8 * i);
        const uint8_t *p = machine_gpa_to_hva(m, a, 4);
        g_assert_cmphex(get32(t.rsdt + 36 + 4 * i), ==, a);
        g_assert_nonnull(p);
        if (!memcmp(p, "FACP", 4)) {
            t.fadt = table(m, a, "FACP");
        } else if (!memcmp(p, "APIC", 4)) {
            t.madt = table(m, a, "APIC");
        } else {
            g_error("unexpected table %.4s in the XSDT", (const char *)p);
        }
    }
    g_assert_nonnull(t.fadt);
    g_assert_nonnull(t.madt);
    /* 64-bit pointers only: the 32-bit ones must be zero when they are set. */
    g_assert_cmphex(get32(t.fadt + 36), ==, 0);
    g_assert_cmphex(get32(t.fadt + 40), ==, 0);
    t.dsdt = table(m, get64(t.fadt + 140), "DSDT");
    g_assert_cmphex(get64(t.fadt + 132) % 64, ==, 0);
    t.facs = machine_gpa_to_hva(m, get64(t.fadt + 132), 64);
    g_assert_nonnull(t.facs);
    g_assert_cmpmem(t.facs, 4, "FACS", 4);
    g_assert_cmpuint(get32(t.facs + 4), ==, 64);
    return t;
}

static void check_fadt(const uint8_t *f)
{
    g_assert_cmpuint(get32(f + 4), ==, 276);
    g_assert_cmpuint(f[8], ==, 6);
    g_assert_cmpuint(get16(f + 46), ==, 9);            /* SCI_INT */
    g_assert_cmphex(get32(f + 48), ==, 0);             /* SMI_CMD: always ACPI mode */
    g_assert_cmphex(get32(f + 56), ==, 0x600);         /* PM1a_EVT_BLK */
    g_assert_cmphex(get32(f + 64), ==, 0x604);         /* PM1a_CNT_BLK */
    g_assert_cmphex(get32(f + 76), ==, 0x608);         /* PM_TMR_BLK */
    g_assert_cmpuint(f[88], ==, 4);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmphex(get16(f + 109), ==, 0x3);          /* LEGACY_DEVICES | 8042 */
    g_assert_cmphex(get32(f + 112) & (1u << 10), !=, 0); /* RESET_REG_SUP */
    g_assert_cmphex(get32(f + 112) & (1u << 20), ==, 0); /* not HW_REDUCED_ACPI */
    g_assert_cmpuint(f[116], ==, 1);                   /* RESET_REG: system I/O */
    g_assert_cmpuint(f[117], ==, 8);
    g_assert_cmphex(get64(f + 120), ==, 0xcf9);
    g_assert_cmphex(f[128], ==, 0x06);
}

static void check_madt(const uint8_t *t, unsigned ncpus)
{
    uint32_t len = get32(t + 4);
    unsigned lapics = 0, ioapics = 0, nmis = 0;
    bool irq0 = false, sci = false;

    g_assert_cmphex(get32(t + 36), ==, 0xfee00000u);
    g_assert_cmphex(get32(t + 40) & 1, ==, 1);         /* PCAT_COMPAT */
    for (uint32_t off = 44; off < len;) {
        const uint8_t *e = t + off;
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, len);
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[1], ==, 8);
            g_assert_cmpuint(e[2], ==, lapics);        /* UID */
            g_assert_cmpuint(e[3], ==, lapics);        /* APIC ID */
            g_assert_cmphex(get32(e + 4) & 1, ==, 1);  /* enabled */
            lapics++;
            break;
        case 1:
            g_assert_cmpuint(e[1], ==, 12);
            g_assert_cmpuint(e[2], ==, 0);
            g_assert_cmphex(get32(e + 4), ==, 0xfec00000u);
            g_assert_cmpuint(get32(e + 8), ==, 0);
            ioapics++;
            break;
        case 2:
            g_assert_cmpuint(e[1], ==, 10);
            if (e[3] == 0) {
                g_assert_cmpuint(get32(e + 4), ==, 2);
                g_assert_cmphex(get16(e + 8) & 0xc, !=, 0xc);   /* not level */
                irq0 = true;
            } else {
                g_assert_cmpuint(e[3], ==, 9);
                g_assert_cmpuint(get32(e + 4), ==, 9);
                g_assert_cmphex(get16(e + 8), ==, 0xd);         /* level, active high */
                sci = true;
            }
            break;
        case 4:
            g_assert_cmpuint(e[1], ==, 6);
            g_assert_cmpuint(e[2], ==, 0xff);
            g_assert_cmpuint(e[5], ==, 1);             /* LINT1 */
            nmis++;
            break;
        default:
            g_error("unexpected MADT entry type %u", e[0]);
        }
        off += e[1];
    }
    g_assert_cmpuint(lapics, ==, ncpus);
    g_assert_cmpuint(ioapics, ==, 1);
    g_assert_cmpuint(nmis, ==, 1);
    g_assert_true(irq0 && sci);
}

static void check_dsdt(const uint8_t *t)
{
    static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04,
                                  0x00, 0x00, 0x00, 0x00 };
    uint32_t len = get32(t + 4);

    g_assert_cmpuint(t[8], ==, 2);
    g_assert_nonnull(memmem(t + 36, len - 36, s5, sizeof(s5)));
}

static void test_tables(void)
{
    const unsigned counts[] = { 1, 2, 3, 8, 64 };

    for (unsigned i = 0; i < G_N_ELEMENTS(counts); i++) {
        Machine *m = machine_new(16 * MiB, counts[i]);
        g_autoptr(GError) err = NULL;
        Tables t;

        g_assert_cmphex(acpi_rsdp_addr(m), ==, 0);
        g_assert_true(acpi_build(m, &err));
        g_assert_no_error(err);
        t = parse(m);
        check_fadt(t.fadt);
        check_madt(t.madt, counts[i]);
        check_dsdt(t.dsdt);
        machine_destroy(m);
    }
}

/* Reset restores the tables from the ROM list; a broken RSDP is not one. */
static void test_reset_and_rsdp_check(void)
{
    Machine *m = machine_new(16 * MiB, 4);
    g_autoptr(GError) err = NULL;
    uint8_t *area;

    g_assert_true(acpi_build(m, &err));
    area = machine_gpa_to_hva(m, ACPI_AREA_START, ACPI_AREA_END - ACPI_AREA_START);
    area[8] ^= 1;
    g_assert_cmphex(acpi_rsdp_addr(m), ==, 0);
    memset(area, 0xee, 0x1000);
    machine_roms_reload(m);
    check_madt(parse(m).madt, 4);
    machine_destroy(m);
}

static void test_errors(void)
{
    Machine *m = machine_new(16 * MiB, 0);
    g_autoptr(GError) err = NULL;

    g_assert_false(acpi_build(m, &err));
    g_assert_cmpstr(err->message, ==, "ACPI tables: 0 CPUs (1 to 64 supported)");
    g_clear_error(&err);
    m->ncpus = MACHINE_MAX_CPUS + 1;
    g_assert_false(acpi_build(m, &err));
    g_clear_error(&err);
    machine_destroy(m);

    m = machine_new(512 * 1024, 1);
    g_assert_false(acpi_build(m, &err));
    g_assert_nonnull(strstr(err->message, "not guest RAM"));
    g_assert_null(m->roms);
    machine_destroy(m);
}

/* iasl -d (Debian's acpica-tools) must disassemble every table cleanly. */
static void test_iasl(void)
{
    g_autofree char *iasl = g_find_program_in_path("iasl");
    g_autofree char *dir = NULL;
    Machine *m;
    Tables t;
    const uint8_t *tabs[4];

    if (!iasl) {
        g_test_skip("iasl is not installed (Debian package acpica-tools)");
        return;
    }
    m = machine_new(16 * MiB, 2);
    g_assert_true(acpi_build(m, NULL));
    t = parse(m);
    tabs[0] = t.fadt;
    tabs[1] = t.madt;
    tabs[2] = t.dsdt;
    tabs[3] = t.xsdt;
    dir = g_dir_make_tmp("kemu-acpi-XXXXXX", NULL);
    for (unsigned i = 0; i < G_N_ELEMENTS(tabs); i++) {
        g_autofree char *name = g_strdup_printf("%.4s.dat", (const char *)tabs[i]);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *cmd = g_strdup_printf("%s -d %s", iasl, path);
        g_autofree char *out = NULL, *errs = NULL;
        int status;

        g_assert_true(g_file_set_contents(path, (const char *)tabs[i],
                                          get32(tabs[i] + 4), NULL));
        g_assert_true(g_spawn_command_line_sync(cmd, &out, &errs, &status, NULL));
        if (status != 0) {
            g_error("iasl -d %s failed:\n%s%s", name, out, errs);
        }
        g_unlink(path);
        path[strlen(path) - 3] = 0;
        g_free(cmd);
        cmd = g_strconcat(path, "dsl", NULL);
        g_unlink(cmd);
    }
    g_rmdir(dir);
    machine_destroy(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/tables", test_tables);
    g_test_add_func("/acpi/reset-and-rsdp-check", test_reset_and_rsdp_check);
    g_test_add_func("/acpi/errors", test_errors);
    g_test_add_func("/acpi/iasl", test_iasl);
    return g_test_run();
}
