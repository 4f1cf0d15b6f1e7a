/*
 * ACPI tables, parsed back out of guest memory the way an OS finds them:
 * the RSDP by its signature on a 16-byte boundary in 0xe0000-0xfffff, then
 * the tables through the XSDT (and RSDT) and the FADT. Checks signatures,
 * lengths, checksums, the MADT per vCPU count, the FADT's fixed hardware
 * and the DSDT's \_S5. Disassembles with iasl when it is installed.
 */
#include <string.h>
#include <glib/gstdio.h>
#include "hw/pci/pci.h"
#include "hw/x86/acpi-build.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "ram-machine.h"

#define MiB (1024 * 1024ull)

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
    len = ld32_le(t + 4);
    g_assert_cmpuint(len, >=, 36);
    g_assert_nonnull(machine_gpa_to_hva(m, gpa, len));
    g_assert_cmpuint(gpa + len, <=, ACPI_AREA_END);
    g_assert_cmpuint(sum(t, len), ==, 0);
    g_assert_cmpmem(t + 10, 6, "KEMU  ", 6);
    return t;
}

typedef struct Tables {
    const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *dsdt, *facs, *mcfg;
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
    g_assert_cmpuint(ld32_le(t.rsdp + 20), ==, 36);
    g_assert_cmpuint(sum(t.rsdp, 36), ==, 0);
    g_assert_cmpmem(t.rsdp + 9, 6, "KEMU  ", 6);
    t.xsdt = table(m, ld64_le(t.rsdp + 24), "XSDT");
    t.rsdt = table(m, ld32_le(t.rsdp + 16), "RSDT");
    n = (ld32_le(t.xsdt + 4) - 36) / 8;
    g_assert_cmpuint(n, ==, (ld32_le(t.rsdt + 4) - 36) / 4);
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = ld64_le(t.xsdt + 36 + 8 * i);
        const uint8_t *p = machine_gpa_to_hva(m, a, 4);
        g_assert_cmphex(ld32_le(t.rsdt + 36 + 4 * i), ==, a);
        g_assert_nonnull(p);
        if (!memcmp(p, "FACP", 4)) {
            t.fadt = table(m, a, "FACP");
        } else if (!memcmp(p, "APIC", 4)) {
            t.madt = table(m, a, "APIC");
        } else if (!memcmp(p, "MCFG", 4)) {
            t.mcfg = table(m, a, "MCFG");
        } else {
            g_error("unexpected table %.4s in the XSDT", (const char *)p);
        }
    }
    g_assert_nonnull(t.fadt);
    g_assert_nonnull(t.madt);
    /* 64-bit pointers only: the 32-bit ones must be zero when they are set. */
    g_assert_cmphex(ld32_le(t.fadt + 36), ==, 0);
    g_assert_cmphex(ld32_le(t.fadt + 40), ==, 0);
    t.dsdt = table(m, ld64_le(t.fadt + 140), "DSDT");
    g_assert_cmphex(ld64_le(t.fadt + 132) % 64, ==, 0);
    t.facs = machine_gpa_to_hva(m, ld64_le(t.fadt + 132), 64);
    g_assert_nonnull(t.facs);
    g_assert_cmpmem(t.facs, 4, "FACS", 4);
    g_assert_cmpuint(ld32_le(t.facs + 4), ==, 64);
    return t;
}

static void check_fadt(const uint8_t *f)
{
    g_assert_cmpuint(ld32_le(f + 4), ==, 276);
    g_assert_cmpuint(f[8], ==, 6);
    g_assert_cmpuint(ld16_le(f + 46), ==, 9);            /* SCI_INT */
    g_assert_cmphex(ld32_le(f + 48), ==, 0);             /* SMI_CMD: always ACPI mode */
    g_assert_cmphex(ld32_le(f + 56), ==, 0x600);         /* PM1a_EVT_BLK */
    g_assert_cmphex(ld32_le(f + 64), ==, 0x604);         /* PM1a_CNT_BLK */
    g_assert_cmphex(ld32_le(f + 76), ==, 0x608);         /* PM_TMR_BLK */
    g_assert_cmpuint(f[88], ==, 4);
    g_assert_cmpuint(f[89], ==, 2);
    g_assert_cmpuint(f[91], ==, 4);
    g_assert_cmphex(ld16_le(f + 109), ==, 0x3);          /* LEGACY_DEVICES | 8042 */
    g_assert_cmphex(ld32_le(f + 112) & (1u << 10), !=, 0); /* RESET_REG_SUP */
    g_assert_cmphex(ld32_le(f + 112) & (1u << 20), ==, 0); /* not HW_REDUCED_ACPI */
    g_assert_cmpuint(f[116], ==, 1);                   /* RESET_REG: system I/O */
    g_assert_cmpuint(f[117], ==, 8);
    g_assert_cmphex(ld64_le(f + 120), ==, 0xcf9);
    g_assert_cmphex(f[128], ==, 0x06);
}

static void check_madt(const uint8_t *t, unsigned ncpus)
{
    uint32_t len = ld32_le(t + 4);
    unsigned lapics = 0, ioapics = 0, nmis = 0;
    bool irq0 = false, sci = false;

    g_assert_cmphex(ld32_le(t + 36), ==, 0xfee00000u);
    g_assert_cmphex(ld32_le(t + 40) & 1, ==, 1);         /* PCAT_COMPAT */
    for (uint32_t off = 44; off < len;) {
        const uint8_t *e = t + off;
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(off + e[1], <=, len);
        switch (e[0]) {
        case 0:
            g_assert_cmpuint(e[1], ==, 8);
            g_assert_cmpuint(e[2], ==, lapics);        /* UID */
            g_assert_cmpuint(e[3], ==, lapics);        /* APIC ID */
            g_assert_cmphex(ld32_le(e + 4) & 1, ==, 1);  /* enabled */
            lapics++;
            break;
        case 1:
            g_assert_cmpuint(e[1], ==, 12);
            g_assert_cmpuint(e[2], ==, 0);
            g_assert_cmphex(ld32_le(e + 4), ==, 0xfec00000u);
            g_assert_cmpuint(ld32_le(e + 8), ==, 0);
            ioapics++;
            break;
        case 2:
            g_assert_cmpuint(e[1], ==, 10);
            if (e[3] == 0) {
                g_assert_cmpuint(ld32_le(e + 4), ==, 2);
                g_assert_cmphex(ld16_le(e + 8) & 0xc, !=, 0xc);   /* not level */
                irq0 = true;
            } else {
                g_assert_cmpuint(e[3], ==, 9);
                g_assert_cmpuint(ld32_le(e + 4), ==, 9);
                g_assert_cmphex(ld16_le(e + 8), ==, 0xd);         /* level, active high */
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
    uint32_t len = ld32_le(t + 4);

    g_assert_cmpuint(t[8], ==, 2);
    g_assert_nonnull(memmem(t + 36, len - 36, s5, sizeof(s5)));
}

static void test_tables(void)
{
    const unsigned counts[] = { 1, 2, 3, 8, 64 };

    for (unsigned i = 0; i < G_N_ELEMENTS(counts); i++) {
        Machine *m = ram_machine_new(16 * MiB, counts[i]);
        g_autoptr(GError) err = NULL;
        Tables t;

        g_assert_cmphex(acpi_rsdp_addr(m), ==, 0);
        g_assert_true(acpi_build(m, &err));
        g_assert_no_error(err);
        t = parse(m);
        check_fadt(t.fadt);
        check_madt(t.madt, counts[i]);
        check_dsdt(t.dsdt);
        ram_machine_free(m);
    }
}

/* Reset restores the tables from the ROM list; a broken RSDP is not one. */
static void test_reset_and_rsdp_check(void)
{
    Machine *m = ram_machine_new(16 * MiB, 4);
    g_autoptr(GError) err = NULL;
    uint8_t *area;

    g_assert_true(acpi_build(m, &err));
    area = machine_gpa_to_hva(m, ACPI_AREA_START, ACPI_AREA_END - ACPI_AREA_START);
    area[8] ^= 1;
    g_assert_cmphex(acpi_rsdp_addr(m), ==, 0);
    memset(area, 0xee, 0x1000);
    machine_roms_reload(m);
    check_madt(parse(m).madt, 4);
    ram_machine_free(m);
}

static void test_errors(void)
{
    Machine *m = ram_machine_new(16 * MiB, 0);
    g_autoptr(GError) err = NULL;

    g_assert_false(acpi_build(m, &err));
    g_assert_cmpstr(err->message, ==, "ACPI tables: 0 CPUs (1 to 64 supported)");
    g_clear_error(&err);
    m->ncpus = MACHINE_MAX_CPUS + 1;
    g_assert_false(acpi_build(m, &err));
    g_clear_error(&err);
    ram_machine_free(m);

    m = ram_machine_new(512 * 1024, 1);
    g_assert_false(acpi_build(m, &err));
    g_assert_nonnull(strstr(err->message, "not guest RAM"));
    g_assert_null(m->roms);
    ram_machine_free(m);
}

/* iasl -d one table; returns the disassembly (ASL text). */
static char *iasl_disassemble(const char *iasl, const uint8_t *tab)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-acpi-XXXXXX", NULL);
    g_autofree char *name = g_strdup_printf("%.4s.dat", (const char *)tab);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *cmd = g_strdup_printf("%s -d %s", iasl, path);
    g_autofree char *out = NULL, *errs = NULL;
    g_autofree char *dsl = NULL;
    char *text = NULL;
    int status;

    g_assert_true(g_file_set_contents(path, (const char *)tab, ld32_le(tab + 4), NULL));
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &errs, &status, NULL));
    if (status != 0) {
        g_error("iasl -d %s failed:\n%s%s", name, out, errs);
    }
    g_unlink(path);
    path[strlen(path) - 3] = 0;
    dsl = g_strconcat(path, "dsl", NULL);
    g_assert_true(g_file_get_contents(dsl, &text, NULL, NULL));
    g_unlink(dsl);
    g_rmdir(dir);
    return text;
}

/* A machine with the PCI host bridge: PCI0 in the DSDT, and an MCFG. */
static void test_pci(void)
{
    static const uint8_t pnp0a08[] = { 0x41, 0xd0, 0x0a, 0x08 };
    static const uint8_t pnp0c02[] = { 0x41, 0xd0, 0x0c, 0x02 };
    g_autofree char *iasl = g_find_program_in_path("iasl");
    Machine *m = ram_machine_new(16 * MiB, 1);
    g_autoptr(GError) err = NULL;
    Tables t;
    uint32_t len;

    m->pio = iobus_new("pio");
    m->mmio = iobus_new("mmio");
    g_assert_true(pci_host_create(m, &err));
    g_assert_true(acpi_build(m, &err));
    g_assert_no_error(err);
    t = parse(m);
    check_dsdt(t.dsdt);
    g_assert_nonnull(t.mcfg);
    g_assert_cmpuint(ld32_le(t.mcfg + 4), ==, 36 + 8 + 16);
    g_assert_cmphex(ld64_le(t.mcfg + 44), ==, PCI_ECAM_BASE);
    g_assert_cmpuint(ld16_le(t.mcfg + 52), ==, 0);
    g_assert_cmpuint(t.mcfg[54], ==, 0);
    g_assert_cmpuint(t.mcfg[55], ==, 255);
    len = ld32_le(t.dsdt + 4);
    g_assert_nonnull(memmem(t.dsdt, len, "PCI0", 4));
    g_assert_nonnull(memmem(t.dsdt, len, "_PRT", 4));
    g_assert_nonnull(memmem(t.dsdt, len, pnp0a08, sizeof(pnp0a08)));
    g_assert_nonnull(memmem(t.dsdt, len, pnp0c02, sizeof(pnp0c02)));
    if (iasl) {
        g_autofree char *dsdt = iasl_disassemble(iasl, t.dsdt);
        g_autofree char *mcfg = iasl_disassemble(iasl, t.mcfg);
        static const char *const want[] = {
            "Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")",
            "WordBusNumber", "0x0CF7", "0x0D00", "DWordMemory", "0xC0000000", "0xDFFFFFFF",
            "Name (_PRT, Package (0x7C)", "0x001FFFFF", "EisaId (\"PNP0C02\")",
            "Memory32Fixed (ReadWrite,", "0xE0000000", "0x10000000",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
            if (!strstr(dsdt, want[i])) {
                g_error("DSDT disassembly lacks \"%s\":\n%s", want[i], dsdt);
            }
        }
        g_assert_nonnull(strstr(mcfg, "00000000E0000000"));
    }
    devices_free(m);
    iobus_free(m->pio);
    iobus_free(m->mmio);
    ram_machine_free(m);
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
    m = ram_machine_new(16 * MiB, 2);
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
                                          ld32_le(tabs[i] + 4), NULL));
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
    ram_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/acpi/tables", test_tables);
    g_test_add_func("/acpi/reset-and-rsdp-check", test_reset_and_rsdp_check);
    g_test_add_func("/acpi/errors", test_errors);
    g_test_add_func("/acpi/iasl", test_iasl);
    g_test_add_func("/acpi/pci", test_pci);
    return g_test_run();
}
