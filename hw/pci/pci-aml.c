/*
 * AML for the PCI host bridge (include/hw/pci/pci-acpi.h).
 *
 * Reference: ACPI Specification 6.4: 20.2 (AML grammar: ScopeOp 0x10,
 * DeviceOp 0x5B 0x82, NameOp 0x08, BufferOp 0x11, PackageOp 0x12,
 * PkgLength), 6.2.13 (_PRT), 6.4.3.5 (address space descriptors),
 * 6.4.3.4 (Memory32Fixed), 19.6.35 (EISAID); PCI Firmware 3.2, 4.1.2
 * (MCFG range reserved by a PNP0C02 device).
 *
 * Equivalent ASL:
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A08"))  Name (_CID, EisaId ("PNP0A03"))
 *       Name (_SEG, 0)  Name (_BBN, 0)  Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (0-255), WordIO (0-0xCF7), WordIO (0xD00-0xFFFF),
 *         DWordMemory (PCI_MMIO32_BASE-PCI_MMIO32_END) })
 *       Name (_PRT, Package () { Package () { 0xSSSSFFFF, PIN, 0, GSI }, ... })
 *     }
 *     Device (MRES) {
 *       Name (_HID, EisaId ("PNP0C02"))  Name (_UID, 1)
 *       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, ECAM) })
 *     }
 *   }
 */
#include <string.h>
#include "hw/pci/pci-acpi.h"
#include "hw/pci/pci.h"

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_NAME 0x08
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT_CHAR 0x5c

/* Resource descriptors (6.4). */
#define RES_MEM32_FIXED 0x86
#define RES_DWORD_ADDR 0x87
#define RES_WORD_ADDR 0x88
#define RES_END_TAG 0x79
#define ADDR_SPACE_MEM 0
#define ADDR_SPACE_IO 1
#define ADDR_SPACE_BUS 2
#define ADDR_MIN_MAX_FIXED 0x0c     /* producer, positive decode */
#define IO_ENTIRE_RANGE 0x03
#define MEM_READ_WRITE 0x01         /* non-cacheable */

#define PCI_SLOTS 32
#define PCI_PINS 4

static void put8(GByteArray *a, uint8_t v)
{
    g_byte_array_append(a, &v, 1);
}

static void put16(GByteArray *a, uint16_t v)
{
    put8(a, (uint8_t)v);
    put8(a, (uint8_t)(v >> 8));
}

static void put32(GByteArray *a, uint32_t v)
{
    put16(a, (uint16_t)v);
    put16(a, (uint16_t)(v >> 16));
}

static void put_name(GByteArray *a, const char *seg)
{
    g_byte_array_append(a, (const guint8 *)seg, 4);
}

/* The shortest integer encoding (DataObject). */
static void put_int(GByteArray *a, uint64_t v)
{
    if (v == 0 || v == 1) {
        put8(a, v ? AML_ONE : AML_ZERO);
    } else if (v <= 0xff) {
        put8(a, AML_BYTE_PREFIX);
        put8(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        put8(a, AML_WORD_PREFIX);
        put16(a, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        put8(a, AML_DWORD_PREFIX);
        put32(a, (uint32_t)v);
    } else {
        put8(a, AML_QWORD_PREFIX);
        put32(a, (uint32_t)v);
        put32(a, (uint32_t)(v >> 32));
    }
}

/*
 * PkgLength for @body bytes: the count includes the PkgLength bytes
 * themselves. One byte holds up to 63; otherwise the first byte gives the
 * number of following bytes (bits 7-6) and the low nibble.
 */
static void put_pkglen(GByteArray *a, size_t body)
{
    for (unsigned extra = 0; extra < 4; extra++) {
        size_t total = body + 1 + extra;
        if (extra == 0 && total <= 0x3f) {
            put8(a, (uint8_t)total);
            return;
        }
        if (extra && total < (size_t)1 << (4 + 8 * extra)) {
            put8(a, (uint8_t)(extra << 6 | (total & 0xf)));
            for (unsigned i = 0; i < extra; i++) {
                put8(a, (uint8_t)(total >> (4 + 8 * i)));
            }
            return;
        }
    }
    g_assert_not_reached();     /* our AML is a few KiB */
}

/* @op (one or two bytes), PkgLength, then @body; frees @body. */
static void put_pkg(GByteArray *a, const uint8_t *op, unsigned oplen, GByteArray *body)
{
    g_byte_array_append(a, op, oplen);
    put_pkglen(a, body->len);
    g_byte_array_append(a, body->data, body->len);
    g_byte_array_free(body, TRUE);
}

/* EisaId ("AAANNNN"): three 5-bit letters and four hex digits, big-endian. */
static uint32_t eisa_id(const char *id)
{
    uint16_t letters = (uint16_t)((id[0] - 0x40) << 10 | (id[1] - 0x40) << 5 | (id[2] - 0x40));
    uint16_t digits = (uint16_t)strtoul(id + 3, NULL, 16);

    return (uint32_t)(letters >> 8) | (uint32_t)(letters & 0xff) << 8 |
           (uint32_t)(digits >> 8) << 16 | (uint32_t)(digits & 0xff) << 24;
}

static void put_name_int(GByteArray *a, const char *name, uint64_t v)
{
    put8(a, AML_NAME);
    put_name(a, name);
    put_int(a, v);
}

/* Name (NAME, Buffer () { @res ... }), with the resource end tag added. */
static void put_name_resources(GByteArray *a, const char *name, GByteArray *res)
{
    static const uint8_t buffer_op = AML_BUFFER;
    GByteArray *body = g_byte_array_new();

    put8(res, RES_END_TAG);
    put8(res, 0);                              /* checksum: none */
    put_int(body, res->len);
    g_byte_array_append(body, res->data, res->len);
    g_byte_array_free(res, TRUE);
    put8(a, AML_NAME);
    put_name(a, name);
    put_pkg(a, &buffer_op, 1, body);
}

/* Word Address Space Descriptor producing [min, max]. */
static void res_word(GByteArray *r, uint8_t space, uint8_t type_flags, uint16_t min,
                     uint16_t max)
{
    put8(r, RES_WORD_ADDR);
    put16(r, 13);
    put8(r, space);
    put8(r, ADDR_MIN_MAX_FIXED);
    put8(r, type_flags);
    put16(r, 0);                               /* granularity */
    put16(r, min);
    put16(r, max);
    put16(r, 0);                               /* translation */
    put16(r, (uint16_t)(max - min + 1));
}

static void res_dword_mem(GByteArray *r, uint32_t min, uint32_t max)
{
    put8(r, RES_DWORD_ADDR);
    put16(r, 23);
    put8(r, ADDR_SPACE_MEM);
    put8(r, ADDR_MIN_MAX_FIXED);
    put8(r, MEM_READ_WRITE);
    put32(r, 0);                               /* granularity */
    put32(r, min);
    put32(r, max);
    put32(r, 0);                               /* translation */
    put32(r, max - min + 1);
}

/* Package (4) { 0xSSSSFFFF, pin, 0, GSI } for every slot and pin. */
static void put_prt(GByteArray *a)
{
    static const uint8_t package_op = AML_PACKAGE;
    GByteArray *list = g_byte_array_new();

    put8(list, (PCI_SLOTS - 1) * PCI_PINS);    /* NumElements */
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < PCI_PINS; pin++) {
            GByteArray *e = g_byte_array_new();
            put8(e, 4);
            /* Always a DWord, as ASL compilers emit it; 0xFFFF: any function. */
            put8(e, AML_DWORD_PREFIX);
            put32(e, slot << 16 | 0xffff);
            put_int(e, pin);
            put_int(e, 0);                     /* no link device: a GSI */
            put_int(e, PCI_INTX_GSI(slot, pin));
            put_pkg(list, &package_op, 1, e);
        }
    }
    put8(a, AML_NAME);
    put_name(a, "_PRT");
    put_pkg(a, &package_op, 1, list);
}

static GByteArray *pci0_body(void)
{
    GByteArray *b = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    put_name(b, "PCI0");
    put_name_int(b, "_HID", eisa_id("PNP0A08"));
    put_name_int(b, "_CID", eisa_id("PNP0A03"));
    put_name_int(b, "_SEG", 0);
    put_name_int(b, "_BBN", 0);
    put_name_int(b, "_UID", 0);
    res_word(crs, ADDR_SPACE_BUS, 0, 0, 0xff);
    /* I/O around the configuration ports 0xCF8-0xCFF. */
    res_word(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0000, 0x0cf7);
    res_word(crs, ADDR_SPACE_IO, IO_ENTIRE_RANGE, 0x0d00, 0xffff);
    res_dword_mem(crs, (uint32_t)PCI_MMIO32_BASE, (uint32_t)PCI_MMIO32_END);
    put_name_resources(b, "_CRS", crs);
    put_prt(b);
    return b;
}

static GByteArray *mres_body(void)
{
    GByteArray *b = g_byte_array_new();
    GByteArray *crs = g_byte_array_new();

    put_name(b, "MRES");
    put_name_int(b, "_HID", eisa_id("PNP0C02"));
    put_name_int(b, "_UID", 1);
    put8(crs, RES_MEM32_FIXED);
    put16(crs, 9);
    put8(crs, MEM_READ_WRITE);
    put32(crs, (uint32_t)PCI_ECAM_BASE);
    put32(crs, (uint32_t)PCI_ECAM_SIZE);
    put_name_resources(b, "_CRS", crs);
    return b;
}

void pci_acpi_append_dsdt(GByteArray *aml)
{
    static const uint8_t scope_op = AML_SCOPE;
    static const uint8_t device_op[] = { AML_EXT_PREFIX, AML_DEVICE };
    GByteArray *scope = g_byte_array_new();

    put8(scope, AML_ROOT_CHAR);
    put_name(scope, "_SB_");
    put_pkg(scope, device_op, sizeof(device_op), pci0_body());
    put_pkg(scope, device_op, sizeof(device_op), mres_body());
    put_pkg(aml, &scope_op, 1, scope);
}
