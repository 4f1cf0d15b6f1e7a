/*
 * Linux x86 boot protocol loader (include/hw/x86/linux.h).
 *
 * Reference: Linux Documentation/arch/x86/boot.rst (the setup header,
 * "Loading the rest of the kernel", "64-bit Boot Protocol") and
 * Documentation/arch/x86/zero-page.rst (boot_params layout).
 *
 * kemu has no firmware and no real-mode setup code runs, so this is the
 * boot loader and the kernel's own decompressor at once: the bzImage
 * payload (the compressed vmlinux ELF) is decompressed on the host, its
 * program headers are loaded at their physical addresses (16 MiB for a
 * Debian kernel), and the CPU starts in 64-bit mode at startup_64 (the
 * ELF entry) exactly as the decompressor would leave it: identity-mapped
 * page tables, a GDT with __BOOT_CS/__BOOT_DS, interrupts off, RSI =
 * boot_params. Skipping the in-guest decompressor also skips its KASLR.
 */
#include <inttypes.h>
#include <string.h>
#include "hw/core/decompress.h"
#include "hw/loader.h"
#include "hw/x86/acpi-build.h"
#include "hw/x86/e820.h"
#include "hw/x86/linux.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

/* boot_params (zero page) offsets. */
#define BP_SIZE 4096
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_END 0x290          /* the setup header cannot reach past this */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

/* Setup header offsets: the same in the file and in boot_params. */
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP_OFFSET 0x201     /* header ends at 0x202 + this byte */
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c

#define BOOT_FLAG 0xaa55
#define SECTOR 512
#define DEFAULT_SETUP_SECTS 4
#define PROTO_MIN 0x0208          /* payload_offset/payload_length */
#define PROTO_ACPI_RSDP 0x020e
#define PROTO_SYNTH 0x020f        /* what we claim for a bare vmlinux (Linux 6.1) */
#define LOADER_UNDEFINED 0xff
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define HEAP_END 0xfe00           /* conventional value; unused on a 64-bit entry */
#define SYNTH_CMDLINE_SIZE 2047   /* COMMAND_LINE_SIZE - 1 */
#define SYNTH_ALIGNMENT 0x200000u
#define SYNTH_INITRD_ADDR_MAX 0x7fffffffu

#define PAGE_SIZE 4096u
#define PTE_PRESENT 0x1u
#define PTE_RW 0x2u
#define PTE_PS 0x80u
#define MiB ((uint64_t)1 << 20)

/* GDT descriptors: flat 4 GiB, present, DPL 0. */
#define GDT_CODE64 0x00af9b000000ffffull    /* G, L, type execute/read accessed */
#define GDT_DATA 0x00cf93000000ffffull      /* G, D/B, type read/write accessed */
#define GDT_ENTRIES 4

typedef struct LinuxBoot {
    uint8_t params[BP_SIZE];
    uint16_t version;
    ElfImage img;
    uint64_t kernel_end;
    const char *cmdline;
    size_t cmdline_len;
    uint8_t *initrd;
    size_t initrd_len;
    uint64_t initrd_addr;
} LinuxBoot;

bool linux_is_bzimage(const uint8_t *data, size_t len)
{
    return len >= HDR_MAGIC + 4 && !memcmp(data + HDR_MAGIC, "HdrS", 4);
}

/* ---- the kernel ----------------------------------------------------------- */

/*
 * A 64-bit ELF whose segments all lie in RAM between 1 MiB and the end of
 * the RAM below 4 GiB: above our boot data and the BIOS area, inside the
 * identity map.
 */
static bool check_kernel(Machine *m, LinuxBoot *lb, GError **errp)
{
    const ElfImage *img = &lb->img;
    uint64_t top = machine_ram_below_4g(m);
    bool entry_ok = false;

    if (!img->is64 || img->machine != 62) {
        error_setg(errp, "the kernel is a 32-bit ELF file; only 64-bit Linux kernels "
                   "can be booted (32-bit ELF kernels need a multiboot header)");
        return false;
    }
    lb->kernel_end = 0;
    for (unsigned i = 0; i < img->nsegs; i++) {
        const LoadSegment *s = &img->segs[i];
        uint64_t end = s->paddr + s->memsz;   /* no wrap: loader_elf_parse checked */

        if (s->paddr < E820_HIGH_RAM_START || end > top) {
            error_setg(errp, "kernel segment 0x%" PRIx64 "-0x%" PRIx64 " lies outside the "
                       "usable RAM 0x%llx-0x%" PRIx64 " (%" PRIu64 " MiB below 4 GiB; "
                       "try a larger -m)", s->paddr, end, E820_HIGH_RAM_START, top,
                       top / MiB);
            return false;
        }
        lb->kernel_end = MAX(lb->kernel_end, end);
        if (img->entry >= s->paddr && img->entry < end) {
            entry_ok = true;
        }
    }
    if (!entry_ok) {
        error_setg(errp, "kernel entry point 0x%" PRIx64 " is not inside a loaded segment",
                   img->entry);
        return false;
    }
    return true;
}

static bool parse_vmlinux(Machine *m, LinuxBoot *lb, const uint8_t *elf, size_t len,
                          GError **errp)
{
    if (!loader_elf_parse(elf, len, &lb->img, errp)) {
        g_prefix_error(errp, "vmlinux: ");
        return false;
    }
    return check_kernel(m, lb, errp);
}

/* ---- setup header ------------------------------------------------------------ */

/* Copy the bzImage's setup header into boot_params and check what we rely on. */
static bool take_setup_header(LinuxBoot *lb, const uint8_t *data, size_t len,
                              size_t *payload_off, size_t *payload_len, GError **errp)
{
    size_t hdr_end, setup_size;
    uint64_t off, plen;
    unsigned sects;

    if (len < HDR_PAYLOAD_LENGTH + 4) {
        error_setg(errp, "bzImage truncated: %zu bytes, too short for a setup header", len);
        return false;
    }
    lb->version = ld16_le(data + HDR_VERSION);
    if (lb->version < PROTO_MIN) {
        error_setg(errp, "boot protocol %u.%02u is too old (2.08 or later is needed)",
                   lb->version >> 8, lb->version & 0xff);
        return false;
    }
    if (ld16_le(data + HDR_BOOT_FLAG) != BOOT_FLAG) {
        error_setg(errp, "bad boot_flag 0x%04x in the setup header (0xaa55 expected)",
                   ld16_le(data + HDR_BOOT_FLAG));
        return false;
    }
    sects = data[HDR_SETUP_SECTS] ? data[HDR_SETUP_SECTS] : DEFAULT_SETUP_SECTS;
    setup_size = ((size_t)sects + 1) * SECTOR;
    if (setup_size >= len) {
        error_setg(errp, "bzImage truncated: %u setup sectors but the file is %zu bytes",
                   sects, len);
        return false;
    }
    off = (uint64_t)setup_size + ld32_le(data + HDR_PAYLOAD_OFFSET);
    plen = ld32_le(data + HDR_PAYLOAD_LENGTH);
    if (plen == 0 || off > len || plen > len - off) {
        error_setg(errp, "bzImage payload 0x%" PRIx64 "+0x%" PRIx64 " lies outside the "
                   "file (%zu bytes)", off, plen, len);
        return false;
    }
    hdr_end = MIN((size_t)HDR_MAGIC + data[HDR_JUMP_OFFSET], (size_t)BP_HDR_END);
    hdr_end = MIN(hdr_end, len);
    memcpy(lb->params + HDR_START, data + HDR_START, hdr_end - HDR_START);
    *payload_off = off;
    *payload_len = plen;
    return true;
}

/* A header for a bare vmlinux, with what a 6.1 bzImage would carry. */
static void synth_setup_header(LinuxBoot *lb)
{
    uint8_t *p = lb->params;

    lb->version = PROTO_SYNTH;
    st16_le(p + HDR_BOOT_FLAG, BOOT_FLAG);
    memcpy(p + HDR_MAGIC, "HdrS", 4);
    st16_le(p + HDR_VERSION, PROTO_SYNTH);
    st32_le(p + HDR_INITRD_ADDR_MAX, SYNTH_INITRD_ADDR_MAX);
    st32_le(p + HDR_KERNEL_ALIGNMENT, SYNTH_ALIGNMENT);
    st16_le(p + HDR_XLOADFLAGS, XLF_KERNEL_64);
    st32_le(p + HDR_CMDLINE_SIZE, SYNTH_CMDLINE_SIZE);
}

/* ---- command line and initrd -------------------------------------------------- */

static bool take_cmdline(LinuxBoot *lb, const char *cmdline, GError **errp)
{
    /* cmdline_size exists from protocol 2.06; we need 2.08 anyway. */
    uint64_t max = MIN(ld32_le(lb->params + HDR_CMDLINE_SIZE), LINUX_CMDLINE_MAX - 1);

    lb->cmdline = cmdline ? cmdline : "";
    lb->cmdline_len = strlen(lb->cmdline);
    if (lb->cmdline_len > max) {
        error_setg(errp, "the kernel command line is %zu bytes long; this kernel accepts "
                   "at most %" PRIu64, lb->cmdline_len, max);
        return false;
    }
    return true;
}

/*
 * Like other loaders, put the initrd as high as the kernel allows
 * (initrd_addr_max is the last byte it may occupy), page aligned, below
 * the end of the RAM under 4 GiB and above the kernel.
 */
static bool take_initrd(Machine *m, LinuxBoot *lb, const char *path, GError **errp)
{
    uint64_t below = machine_ram_below_4g(m);
    uint64_t top = MIN((uint64_t)ld32_le(lb->params + HDR_INITRD_ADDR_MAX) + 1, below);
    uint64_t floor = (lb->kernel_end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);

    if (!path) {
        return true;
    }
    if (!loader_read_file(path, "initrd", below, &lb->initrd, &lb->initrd_len, errp)) {
        return false;
    }
    if (top < floor || lb->initrd_len > top - floor ||
        ((top - lb->initrd_len) & ~(uint64_t)(PAGE_SIZE - 1)) < floor) {
        error_setg(errp, "initrd '%s' (%zu bytes) does not fit between the end of the "
                   "kernel (0x%" PRIx64 ") and 0x%" PRIx64 "; try a larger -m",
                   path, lb->initrd_len, floor, top);
        return false;
    }
    lb->initrd_addr = (top - lb->initrd_len) & ~(uint64_t)(PAGE_SIZE - 1);
    return true;
}

/* ---- boot_params ---------------------------------------------------------------- */

static bool fill_params(Machine *m, LinuxBoot *lb, GError **errp)
{
    uint8_t *p = lb->params;
    E820Entry e820[E820_MAX_ENTRIES];
    unsigned n = e820_build(m, e820);
    uint64_t rsdp;

    p[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    p[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    st16_le(p + HDR_HEAP_END_PTR, HEAP_END);
    st32_le(p + HDR_CMD_LINE_PTR, LINUX_CMDLINE_ADDR);
    st32_le(p + HDR_RAMDISK_IMAGE, (uint32_t)lb->initrd_addr);
    st32_le(p + HDR_RAMDISK_SIZE, (uint32_t)lb->initrd_len);
    G_STATIC_ASSERT(E820_MAX_ENTRIES <= BP_E820_MAX);
    p[BP_E820_ENTRIES] = (uint8_t)n;
    e820_encode(e820, n, p + BP_E820_TABLE);
    /* Until the board builds the tables itself (hw/x86/pc.c), do it here:
     * Linux needs the MADT to find the APICs. */
    if (!acpi_rsdp_addr(m) && !acpi_build(m, errp)) {
        return false;
    }
    rsdp = acpi_rsdp_addr(m);
    if (lb->version >= PROTO_ACPI_RSDP) {
        st64_le(p + BP_ACPI_RSDP_ADDR, rsdp);
    }
    return true;
}

/* ---- page tables, GDT, CPU state -------------------------------------------------- */

/* PML4 -> one PDPT -> four page directories of 2 MiB pages: 0-4 GiB. */
static bool write_page_tables(Machine *m, GError **errp)
{
    const size_t size = LINUX_PD_ADDR + 4 * PAGE_SIZE - LINUX_PML4_ADDR;
    g_autofree uint8_t *pt = g_malloc0(size);
    uint8_t *pml4 = pt, *pdpt = pt + (LINUX_PDPT_ADDR - LINUX_PML4_ADDR);
    uint8_t *pd = pt + (LINUX_PD_ADDR - LINUX_PML4_ADDR);

    st64_le(pml4, LINUX_PDPT_ADDR | PTE_PRESENT | PTE_RW);
    for (unsigned i = 0; i < 4; i++) {
        st64_le(pdpt + 8 * i, (LINUX_PD_ADDR + i * PAGE_SIZE) | PTE_PRESENT | PTE_RW);
    }
    for (uint64_t i = 0; i < LINUX_IDENTITY_MAP_SIZE / (2 * MiB); i++) {
        st64_le(pd + 8 * i, i * 2 * MiB | PTE_PRESENT | PTE_RW | PTE_PS);
    }
    return machine_add_rom(m, LINUX_PML4_ADDR, pt, size, errp);
}

static bool write_gdt(Machine *m, GError **errp)
{
    uint8_t gdt[GDT_ENTRIES * 8] = { 0 };

    st64_le(gdt + LINUX_BOOT_CS, GDT_CODE64);
    st64_le(gdt + LINUX_BOOT_DS, GDT_DATA);
    return machine_add_rom(m, LINUX_GDT_ADDR, gdt, sizeof(gdt), errp);
}

static X86Segment flat_seg(uint16_t selector, uint8_t type, bool code64)
{
    return (X86Segment){
        .limit = 0xffffffffu,
        .selector = selector,
        .type = type,
        .s = 1,
        .present = 1,
        .l = code64,
        .db = !code64,
        .g = 1,
    };
}

/* What boot.rst's 64-bit boot protocol promises at the entry point. */
static void set_long_mode_state(X86CpuState *s, uint64_t entry)
{
    x86_cpu_reset_state(s, true);
    memset(s->regs, 0, sizeof(s->regs));
    s->regs[R_ESI] = LINUX_BOOT_PARAMS_ADDR;
    s->regs[R_ESP] = LINUX_STACK_TOP;
    s->rip = entry;
    s->rflags = 0x2;                       /* IF = 0 */
    s->seg[SEG_CS] = flat_seg(LINUX_BOOT_CS, 0xb, true);
    s->seg[SEG_DS] = flat_seg(LINUX_BOOT_DS, 0x3, false);
    s->seg[SEG_ES] = s->seg[SEG_DS];
    s->seg[SEG_SS] = s->seg[SEG_DS];
    s->seg[SEG_FS] = s->seg[SEG_DS];
    s->seg[SEG_GS] = s->seg[SEG_DS];
    s->gdt = (X86Table){ .base = LINUX_GDT_ADDR, .limit = GDT_ENTRIES * 8 - 1 };
    s->idt = (X86Table){ .base = 0, .limit = 0 };
    s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    s->cr3 = LINUX_PML4_ADDR;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
}

/* ---- putting it together ------------------------------------------------------------ */

static bool linux_boot(Machine *m, LinuxBoot *lb, const uint8_t *elf, const char *cmdline,
                       const char *initrd, GError **errp)
{
    if (machine_ram_below_4g(m) < LINUX_BOOT_DATA_END) {
        error_setg(errp, "too little RAM to boot Linux");
        return false;
    }
    /* Check everything before loading anything (the ACPI tables aside:
     * they belong to the board). */
    if (!take_cmdline(lb, cmdline, errp) || !take_initrd(m, lb, initrd, errp) ||
        !fill_params(m, lb, errp)) {
        return false;
    }
    if (!loader_elf_load(m, elf, &lb->img, errp) || !write_page_tables(m, errp) ||
        !write_gdt(m, errp) ||
        !machine_add_rom(m, LINUX_BOOT_PARAMS_ADDR, lb->params, BP_SIZE, errp) ||
        !machine_add_rom(m, LINUX_CMDLINE_ADDR, lb->cmdline, lb->cmdline_len + 1, errp) ||
        (lb->initrd && !machine_add_rom(m, lb->initrd_addr, lb->initrd, lb->initrd_len,
                                        errp))) {
        return false;
    }
    set_long_mode_state(&m->boot_state, lb->img.entry);
    return true;
}

bool linux_load_bzimage(Machine *m, const uint8_t *data, size_t len, const char *cmdline,
                        const char *initrd, GError **errp)
{
    LinuxBoot *lb = g_new0(LinuxBoot, 1);
    size_t poff, plen, elf_len = 0;
    uint8_t *elf = NULL;
    bool ok = false;

    if (!take_setup_header(lb, data, len, &poff, &plen, errp)) {
        goto out;
    }
    if (!decompress_auto(data + poff, plen, &elf, &elf_len,
                         MIN(machine_ram_below_4g(m), LINUX_MAX_VMLINUX), errp)) {
        g_prefix_error(errp, "bzImage payload: ");
        goto out;
    }
    if (!loader_is_elf(elf, elf_len)) {
        error_setg(errp, "the decompressed bzImage payload is not an ELF vmlinux");
        goto out;
    }
    ok = parse_vmlinux(m, lb, elf, elf_len, errp) &&
         linux_boot(m, lb, elf, cmdline, initrd, errp);
out:
    g_free(elf);
    g_free(lb->initrd);
    g_free(lb);
    return ok;
}

bool linux_load_vmlinux(Machine *m, const uint8_t *data, size_t len, const char *cmdline,
                        const char *initrd, GError **errp)
{
    LinuxBoot *lb = g_new0(LinuxBoot, 1);
    bool ok;

    synth_setup_header(lb);
    ok = parse_vmlinux(m, lb, data, len, errp) &&
         linux_boot(m, lb, data, cmdline, initrd, errp);
    g_free(lb->initrd);
    g_free(lb);
    return ok;
}
