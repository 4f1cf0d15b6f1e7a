/*
 * ACPI tables for the pc machine (include/hw/x86/acpi-build.h).
 *
 * Reference: ACPI Specification 6.4: 5.2.5.3 (RSDP), 5.2.6 (table
 * header), 5.2.7/5.2.8 (RSDT/XSDT), 5.2.9 (FADT, revision 6, 276 bytes),
 * 5.2.10 (FACS), 5.2.12 (MADT and its structures), 5.2.3.2 (Generic
 * Address Structure), 20.2 (AML grammar) for the DSDT.
 *
 * Layout of the area (offsets from ACPI_AREA_START):
 *   0x000 RSDP        0x040 FACS (64-byte aligned)   0x080 RSDT
 *   0x0c0 XSDT        0x100 FADT                     then DSDT, MADT, MCFG
 *
 * The FADT describes a legacy PC in ACPI mode from the start: no SMI
 * command port, so Linux never tries to switch modes; PM1a event,
 * control and timer blocks at ACPI_PM_BASE (hw/acpi/pm.h); the power button
 * is the fixed-feature one; reset through port 0xCF9.
 */
#include <string.h>
#include "hw/pci/pci-acpi.h"
#include "hw/pci/pci.h"
#include "hw/x86/acpi-build.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

#define AREA_SIZE (ACPI_AREA_END - ACPI_AREA_START)
#define OFF_RSDP 0x000
#define OFF_FACS 0x040
#define OFF_RSDT 0x080
#define OFF_XSDT 0x0c0
#define OFF_FADT 0x100

#define RSDP_V1_LEN 20
#define RSDP_LEN 36
#define SDT_HEADER_LEN 36
#define FACS_LEN 64
#define FADT_LEN 276
#define FADT_REVISION 6
#define MADT_REVISION 4            /* ACPI 6.0-6.2, matching FADT 6.0 */
#define DSDT_REVISION 2            /* 64-bit AML integers */

#define OEM_ID "KEMU  "
#define OEM_TABLE_ID "KEMUPC  "
#define CREATOR_ID "KEMU"

/* FADT field offsets (5.2.9, Table 5.34). */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_HYPERVISOR_ID 268

#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042 (1u << 1)
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5)   /* set: no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define CMOS_CENTURY 0x32
/* Latencies above 100 and 1000 us say "C2 and C3 not supported". */
#define C2_UNSUPPORTED 101
#define C3_UNSUPPORTED 1001

/* MADT (5.2.12). */
#define MADT_PCAT_COMPAT (1u << 0)     /* dual 8259s are present */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_INT_OVERRIDE 2
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED 1u
#define MPS_POLARITY_HIGH 0x1
#define MPS_TRIGGER_LEVEL 0xc
#define ACPI_ALL_PROCESSORS 0xff

/* The area under construction; @len only grows. */
typedef struct AcpiBuf {
    uint8_t b[AREA_SIZE];
    size_t len;
} AcpiBuf;

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++) {
        sum = (uint8_t)(sum + p[i]);
    }
    return (uint8_t)-sum;
}

/* Start a table with the standard header at @off; returns its bytes. */
static uint8_t *sdt_begin(AcpiBuf *a, size_t off, const char *sig, uint8_t rev)
{
    uint8_t *t = a->b + off;

    memcpy(t, sig, 4);
    t[8] = rev;
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    st32_le(t + 24, 1);                       /* OEM revision */
    memcpy(t + 28, CREATOR_ID, 4);
    st32_le(t + 32, 1);                       /* creator revision */
    return t;
}

/* Set the length and checksum of the table at @off, and the area's end. */
static void sdt_end(AcpiBuf *a, size_t off, size_t len)
{
    uint8_t *t = a->b + off;

    st32_le(t + 4, (uint32_t)len);
    t[9] = checksum(t, len);
    a->len = MAX(a->len, off + len);
}

static uint64_t gpa_of(size_t off)
{
    return ACPI_AREA_START + off;
}

static void build_facs(AcpiBuf *a)
{
    uint8_t *t = a->b + OFF_FACS;

    memcpy(t, "FACS", 4);
    st32_le(t + 4, FACS_LEN);
    t[32] = 2;                             /* version; the FACS has no checksum */
}

/*
 * DSDT: \_S5 = Package { 0, 0, 0, 0 }, so Linux can power off (SLP_TYP 0
 * into PM1a_CNT). AML: NameOp "_S5_" PackageOp PkgLength(6) NumElements(4)
 * ZeroOp x4. Then the PCI host bridge, when the machine has one.
 */
static const uint8_t dsdt_aml[] = {
    0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};

static size_t build_dsdt(AcpiBuf *a, size_t off, bool pci)
{
    GByteArray *aml = g_byte_array_new();

    g_byte_array_append(aml, dsdt_aml, sizeof(dsdt_aml));
    if (pci) {
        pci_acpi_append_dsdt(aml);
    }
    /* Fixed content of about 2 KiB: half the area leaves ample room for the MADT. */
    g_assert(off + SDT_HEADER_LEN + aml->len <= AREA_SIZE / 2);
    sdt_begin(a, off, "DSDT", DSDT_REVISION);
    memcpy(a->b + off + SDT_HEADER_LEN, aml->data, aml->len);
    sdt_end(a, off, SDT_HEADER_LEN + aml->len);
    g_byte_array_free(aml, TRUE);
    return off;
}

/* MCFG (PCI Firmware 3.2, 4.1.2): one ECAM window, segment 0, buses 0-255. */
static size_t build_mcfg(AcpiBuf *a, size_t off)
{
    uint8_t *t = sdt_begin(a, off, "MCFG", 1);
    uint8_t *e = t + SDT_HEADER_LEN + 8;       /* after 8 reserved bytes */

    st64_le(e, PCI_ECAM_BASE);
    st16_le(e + 8, 0);                         /* segment */
    e[10] = 0;                                 /* start bus */
    e[11] = (uint8_t)(PCI_ECAM_SIZE / (1u << 20) - 1);  /* end bus */
    sdt_end(a, off, SDT_HEADER_LEN + 8 + 16);
    return off;
}

static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t port)
{
    p[0] = GAS_SYSTEM_IO;
    p[1] = bits;
    p[2] = 0;
    p[3] = access;
    st64_le(p + 4, port);
}

static void build_fadt(AcpiBuf *a, size_t dsdt_off)
{
    uint8_t *t = sdt_begin(a, OFF_FADT, "FACP", FADT_REVISION);

    /* FACS and DSDT through the 64-bit fields only: ACPI says the 32-bit
     * ones must then be zero. */
    st64_le(t + FADT_X_FIRMWARE_CTRL, gpa_of(OFF_FACS));
    st64_le(t + FADT_X_DSDT, gpa_of(dsdt_off));
    st16_le(t + FADT_SCI_INT, ACPI_SCI_GSI);
    st32_le(t + FADT_SMI_CMD, 0);             /* ACPI is always enabled */
    /* PM blocks in the 32-bit fields; Linux builds the X_ GAS from them. */
    st32_le(t + FADT_PM1A_EVT_BLK, ACPI_PM1_EVT_BLK);
    st32_le(t + FADT_PM1A_CNT_BLK, ACPI_PM1_CNT_BLK);
    st32_le(t + FADT_PM_TMR_BLK, ACPI_PM_TMR_BLK);
    t[FADT_PM1_EVT_LEN] = ACPI_PM1_EVT_LEN;
    t[FADT_PM1_CNT_LEN] = ACPI_PM1_CNT_LEN;
    t[FADT_PM_TMR_LEN] = ACPI_PM_TMR_LEN;
    st16_le(t + FADT_P_LVL2_LAT, C2_UNSUPPORTED);
    st16_le(t + FADT_P_LVL3_LAT, C3_UNSUPPORTED);
    t[FADT_CENTURY] = CMOS_CENTURY;
    st16_le(t + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042);
    st32_le(t + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
         FADT_F_RESET_REG_SUP);
    gas_io(t + FADT_RESET_REG, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
    t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
    t[FADT_MINOR_VERSION] = 0;
    memcpy(t + FADT_HYPERVISOR_ID, "KEMU\0\0\0\0", 8);
    sdt_end(a, OFF_FADT, FADT_LEN);
}

static uint8_t *madt_entry(AcpiBuf *a, size_t *pos, uint8_t type, uint8_t len)
{
    uint8_t *e = a->b + *pos;

    e[0] = type;
    e[1] = len;
    *pos += len;
    return e;
}

static void madt_override(AcpiBuf *a, size_t *pos, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    uint8_t *e = madt_entry(a, pos, MADT_INT_OVERRIDE, 10);

    e[2] = 0;                              /* bus: ISA */
    e[3] = irq;
    st32_le(e + 4, gsi);
    st16_le(e + 8, flags);
}

static size_t build_madt(AcpiBuf *a, size_t off, unsigned ncpus)
{
    uint8_t *t = sdt_begin(a, off, "APIC", MADT_REVISION);
    size_t pos = off + SDT_HEADER_LEN + 8;
    uint8_t *e;

    st32_le(t + 36, ACPI_LAPIC_ADDR);
    st32_le(t + 40, MADT_PCAT_COMPAT);
    for (unsigned i = 0; i < ncpus; i++) {
        e = madt_entry(a, &pos, MADT_LAPIC, 8);
        e[2] = (uint8_t)i;                 /* ACPI processor UID */
        e[3] = (uint8_t)i;                 /* APIC ID */
        st32_le(e + 4, MADT_LAPIC_ENABLED);
    }
    e = madt_entry(a, &pos, MADT_IOAPIC, 12);
    e[2] = ACPI_IOAPIC_ID;
    st32_le(e + 4, ACPI_IOAPIC_ADDR);
    st32_le(e + 8, 0);                        /* GSI base */
    /* The PIT's IRQ0 is wired to IOAPIC pin 2 on PCs; flags 0 = ISA
     * defaults (edge, active high). The SCI is level, active high. */
    madt_override(a, &pos, 0, 2, 0);
    madt_override(a, &pos, ACPI_SCI_GSI, ACPI_SCI_GSI, MPS_POLARITY_HIGH | MPS_TRIGGER_LEVEL);
    e = madt_entry(a, &pos, MADT_LAPIC_NMI, 6);
    e[2] = ACPI_ALL_PROCESSORS;
    st16_le(e + 3, 0);                        /* flags: bus defaults */
    e[5] = 1;                              /* LINT1 */
    sdt_end(a, off, pos - off);
    return off;
}

/* RSDT and XSDT listing @n tables at @offs. */
static void build_roots(AcpiBuf *a, const size_t *offs, unsigned n)
{
    sdt_begin(a, OFF_RSDT, "RSDT", 1);
    sdt_begin(a, OFF_XSDT, "XSDT", 1);
    for (unsigned i = 0; i < n; i++) {
        st32_le(a->b + OFF_RSDT + SDT_HEADER_LEN + 4 * i, (uint32_t)gpa_of(offs[i]));
        st64_le(a->b + OFF_XSDT + SDT_HEADER_LEN + 8 * i, gpa_of(offs[i]));
    }
    sdt_end(a, OFF_RSDT, SDT_HEADER_LEN + 4 * n);
    sdt_end(a, OFF_XSDT, SDT_HEADER_LEN + 8 * n);
}

static void build_rsdp(AcpiBuf *a)
{
    uint8_t *r = a->b + OFF_RSDP;

    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, OEM_ID, 6);
    r[15] = 2;                             /* revision: ACPI 2.0+, has XSDT */
    st32_le(r + 16, (uint32_t)gpa_of(OFF_RSDT));
    st32_le(r + 20, RSDP_LEN);
    st64_le(r + 24, gpa_of(OFF_XSDT));
    r[8] = checksum(r, RSDP_V1_LEN);
    r[32] = checksum(r, RSDP_LEN);
    a->len = MAX(a->len, (size_t)OFF_RSDP + RSDP_LEN);
}

static size_t align16(size_t v)
{
    return (v + 15) & ~(size_t)15;
}

bool acpi_build(Machine *m, GError **errp)
{
    AcpiBuf *a;
    size_t dsdt, tables[3];
    unsigned ntables = 0;
    bool pci = pci_bus_of(m) != NULL;
    bool ok;

    if (m->ncpus < 1 || m->ncpus > MACHINE_MAX_CPUS) {
        error_setg(errp, "ACPI tables: %u CPUs (1 to %u supported)", m->ncpus,
                   MACHINE_MAX_CPUS);
        return false;
    }
    if (!machine_gpa_to_hva(m, ACPI_AREA_START, AREA_SIZE)) {
        error_setg(errp, "ACPI tables: the BIOS area 0x%llx-0x%llx is not guest RAM "
                   "(too little memory?)", ACPI_AREA_START, ACPI_AREA_END - 1);
        return false;
    }
    a = g_new0(AcpiBuf, 1);
    build_facs(a);
    dsdt = build_dsdt(a, align16(OFF_FADT + FADT_LEN), pci);
    build_fadt(a, dsdt);
    tables[ntables++] = OFF_FADT;
    tables[ntables++] = build_madt(a, align16(a->len), m->ncpus);
    if (pci) {
        tables[ntables++] = build_mcfg(a, align16(a->len));
    }
    build_roots(a, tables, ntables);
    build_rsdp(a);
    ok = machine_add_rom(m, ACPI_AREA_START, a->b, a->len, errp);
    g_free(a);
    return ok;
}

uint64_t acpi_rsdp_addr(Machine *m)
{
    const uint8_t *r = machine_gpa_to_hva(m, ACPI_RSDP_ADDR, RSDP_LEN);

    if (r && !memcmp(r, "RSD PTR ", 8) && checksum(r, RSDP_V1_LEN) == 0 &&
        checksum(r, RSDP_LEN) == 0) {
        return ACPI_RSDP_ADDR;
    }
    return 0;
}
