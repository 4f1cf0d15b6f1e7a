/*
 * Multiboot v1 loader (include/hw/loader.h). kemu has no firmware, so
 * this does what GRUB (or QEMU's multiboot option ROM) would: put the
 * kernel and its modules in RAM, write the boot information, and leave
 * the CPU in the state the spec promises at the entry point.
 *
 * Reference: Multiboot Specification version 0.6.96, sections 3.1
 * (OS image format), 3.2 (machine state) and 3.3 (boot information).
 *
 * Guest memory layout we build:
 *   0x9000             boot information area: the info structure, memory
 *                      map, module list, loader name and command lines
 *   kernel             where its ELF program headers or a.out-kludge
 *                      address fields say
 *   after the kernel   the modules, each page aligned, from at least 1 MiB
 */
#include <inttypes.h>
#include <string.h>
#include "hw/loader.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_SEARCH_LEN 8192      /* the header lies in the first 8 KiB */
#define MB_HEADER_MIN 12        /* magic, flags, checksum */
#define MB_HEADER_ADDR_LEN 32   /* ... plus the five address fields */

/* Header flags. Bits 0-15 are requirements: refuse the ones we cannot meet. */
#define MBH_PAGE_ALIGN (1u << 0)   /* modules page aligned: we always do */
#define MBH_MEMORY_INFO (1u << 1)  /* mem_* and mmap: we always give them */
#define MBH_VIDEO_MODE (1u << 2)   /* no display to set up: ignored, as QEMU */
#define MBH_AOUT_KLUDGE (1u << 16)
#define MBH_REQUIRED_MASK 0xffffu
#define MBH_SUPPORTED (MBH_PAGE_ALIGN | MBH_MEMORY_INFO | MBH_VIDEO_MODE)

/* Boot information flags. */
#define MBI_MEMORY (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)

/* Boot information field offsets. */
#define MBI_OFF_FLAGS 0
#define MBI_OFF_MEM_LOWER 4
#define MBI_OFF_MEM_UPPER 8
#define MBI_OFF_CMDLINE 16
#define MBI_OFF_MODS_COUNT 20
#define MBI_OFF_MODS_ADDR 24
#define MBI_OFF_MMAP_LENGTH 44
#define MBI_OFF_MMAP_ADDR 48
#define MBI_OFF_LOADER_NAME 64
/* 0.6.96 defines 116 bytes (up to the framebuffer fields); the rest stay 0. */
#define MBI_SIZE 128

#define MB_MOD_SIZE 16          /* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY_SIZE 24   /* size (= 20), base_addr, length, type */
#define MB_MMAP_MAX 8
#define MB_MMAP_AVAILABLE 1
#define MB_MMAP_RESERVED 2
#define MB_MAX_MODULES 256

#define MB_INFO_ADDR 0x9000u
#define LOW_RAM_END 0x9fc00u    /* top of conventional memory (EBDA above) */
#define VGA_START 0xa0000u
#define BIOS_START 0xf0000u
#define HIGH_RAM_START 0x100000u
#define GIB4 0x100000000ull
#define PAGE_SIZE 4096u
#define LOADER_NAME "kemu"

typedef struct MbHeader {
    uint32_t offset;            /* in the file */
    uint32_t flags;
    /* a.out kludge fields, valid when flags has MBH_AOUT_KLUDGE */
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
} MbHeader;

/* A piece of guest memory to write once everything has been checked. */
typedef struct MbBlob {
    uint64_t gpa;
    uint8_t *data;              /* owned */
    uint64_t len;
} MbBlob;

typedef struct MbModule {
    char *cmdline;              /* "file args", as given (QEMU passes it whole) */
    uint8_t *data;              /* owned */
    size_t len;
    uint64_t gpa;
} MbModule;

typedef struct MbLoad {
    Machine *m;
    GArray *blobs;              /* of MbBlob */
    GPtrArray *modules;         /* of MbModule */
    uint64_t entry;
    uint64_t kernel_end;        /* highest byte + 1 of any kernel segment */
} MbLoad;

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* ---- header ------------------------------------------------------------ */

/*
 * Find the first header with a valid checksum. *@bad_at gets the offset of
 * the first magic with a bad checksum (or UINT32_MAX) for error messages.
 */
static bool mb_find_header(const uint8_t *data, size_t len, MbHeader *h, uint32_t *bad_at)
{
    size_t limit = MIN(len, (size_t)MB_SEARCH_LEN);

    *bad_at = UINT32_MAX;
    for (size_t off = 0; off + MB_HEADER_MIN <= limit; off += 4) {
        if (ld32_le(data + off) != MB_HEADER_MAGIC) {
            continue;
        }
        uint32_t flags = ld32_le(data + off + 4);
        if ((uint32_t)(MB_HEADER_MAGIC + flags + ld32_le(data + off + 8)) != 0) {
            if (*bad_at == UINT32_MAX) {
                *bad_at = (uint32_t)off;
            }
            continue;
        }
        memset(h, 0, sizeof(*h));
        h->offset = (uint32_t)off;
        h->flags = flags;
        if ((flags & MBH_AOUT_KLUDGE) && off + MB_HEADER_ADDR_LEN <= limit) {
            h->header_addr = ld32_le(data + off + 12);
            h->load_addr = ld32_le(data + off + 16);
            h->load_end_addr = ld32_le(data + off + 20);
            h->bss_end_addr = ld32_le(data + off + 24);
            h->entry_addr = ld32_le(data + off + 28);
        }
        return true;
    }
    return false;
}

bool multiboot_probe(const uint8_t *data, size_t len)
{
    MbHeader h;
    uint32_t bad_at;

    return mb_find_header(data, len, &h, &bad_at);
}

/* ---- placement checks ------------------------------------------------- */

/* Is [gpa, gpa + len) inside one "available" range of our memory map? */
static bool mb_range_is_ram(Machine *m, uint64_t gpa, uint64_t len)
{
    uint64_t below = machine_ram_below_4g(m);
    uint64_t low_end = MIN(below, (uint64_t)LOW_RAM_END);

    if (gpa > GIB4 || len > GIB4 - gpa) {
        return false;
    }
    if (gpa + len <= low_end) {
        return true;
    }
    return gpa >= HIGH_RAM_START && gpa + len <= below;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static void mb_add_blob(MbLoad *s, uint64_t gpa, uint8_t *data, uint64_t len)
{
    MbBlob b = { .gpa = gpa, .data = data, .len = len };

    g_array_append_val(s->blobs, b);
}

/*
 * Queue a kernel segment of @memsz bytes at @gpa, the first @filesz taken
 * from @src, after checking it lands in usable RAM below 4 GiB.
 */
static bool mb_add_segment(MbLoad *s, uint64_t gpa, const uint8_t *src, uint64_t filesz,
                           uint64_t memsz, GError **errp)
{
    uint8_t *buf;

    if (!mb_range_is_ram(s->m, gpa, memsz)) {
        error_setg(errp, "kernel segment 0x%" PRIx64 "-0x%" PRIx64
                   " is not in usable RAM below 4 GiB (RAM below 4 GiB ends at 0x%"
                   PRIx64 ")", gpa, gpa + memsz, machine_ram_below_4g(s->m));
        return false;
    }
    /* Checked against RAM above, so this allocation is bounded. */
    buf = g_malloc0(memsz);
    memcpy(buf, src, filesz);
    mb_add_blob(s, gpa, buf, memsz);
    s->kernel_end = MAX(s->kernel_end, gpa + memsz);
    return true;
}

/* Is @entry inside one of the kernel segments queued so far? */
static bool mb_entry_is_loaded(const MbLoad *s, uint64_t entry)
{
    for (guint i = 0; i < s->blobs->len; i++) {
        const MbBlob *b = &g_array_index(s->blobs, MbBlob, i);
        if (entry >= b->gpa && entry - b->gpa < b->len) {
            return true;
        }
    }
    return false;
}

/* ---- kernel image ----------------------------------------------------- */

/* Flag 16: load the file from the header's address fields. */
static bool mb_load_aout(MbLoad *s, const MbHeader *h, const uint8_t *data, size_t len,
                         GError **errp)
{
    uint64_t text_off, load_size, mem_size;

    if ((uint64_t)h->offset + MB_HEADER_ADDR_LEN > MIN(len, (size_t)MB_SEARCH_LEN)) {
        error_setg(errp, "multiboot header at offset 0x%x is truncated: "
                   "flag 16 needs its address fields", h->offset);
        return false;
    }
    if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > h->offset) {
        error_setg(errp, "multiboot header_addr 0x%x and load_addr 0x%x do not match "
                   "the header's file offset 0x%x", h->header_addr, h->load_addr, h->offset);
        return false;
    }
    text_off = h->offset - (h->header_addr - h->load_addr);
    if (h->load_end_addr == 0) {
        load_size = len - text_off;
    } else if (h->load_end_addr <= h->header_addr) {
        error_setg(errp, "multiboot load_end_addr 0x%x does not lie after header_addr 0x%x",
                   h->load_end_addr, h->header_addr);
        return false;
    } else {
        load_size = (uint64_t)h->load_end_addr - h->load_addr;
        if (load_size > len - text_off) {
            error_setg(errp, "kernel file truncated: load_end_addr 0x%x needs 0x%" PRIx64
                       " bytes from offset 0x%" PRIx64 ", the file has 0x%zx",
                       h->load_end_addr, load_size, text_off, len);
            return false;
        }
    }
    mem_size = load_size;
    if (h->bss_end_addr != 0) {
        if (h->bss_end_addr < h->load_addr + load_size) {
            error_setg(errp, "multiboot bss_end_addr 0x%x lies before the end of the "
                       "loaded image 0x%" PRIx64, h->bss_end_addr, h->load_addr + load_size);
            return false;
        }
        mem_size = (uint64_t)h->bss_end_addr - h->load_addr;
    }
    if (!mb_add_segment(s, h->load_addr, data + text_off, load_size, mem_size, errp)) {
        return false;
    }
    s->entry = h->entry_addr;
    return true;
}

/* ELF32 or ELF64 by the PT_LOAD program headers, at their physical addresses. */
static bool mb_load_elf(MbLoad *s, const uint8_t *data, size_t len, GError **errp)
{
    g_autofree ElfImage *img = g_new(ElfImage, 1);

    if (!loader_elf_parse(data, len, img, errp)) {
        return false;
    }
    /* 64-bit ELF is fine as long as it enters in 32-bit code below 4 GiB,
     * which is how hobby long-mode kernels are built. */
    if (img->entry >= GIB4) {
        error_setg(errp, "ELF entry point 0x%" PRIx64 " is above 4 GiB; a multiboot "
                   "kernel starts in 32-bit protected mode", img->entry);
        return false;
    }
    for (unsigned i = 0; i < img->nsegs; i++) {
        const LoadSegment *seg = &img->segs[i];
        if (!mb_add_segment(s, seg->paddr, data + seg->offset, seg->filesz, seg->memsz, errp)) {
            return false;
        }
    }
    s->entry = img->entry;
    return true;
}

static bool mb_load_kernel(MbLoad *s, const uint8_t *data, size_t len, GError **errp)
{
    MbHeader h;
    uint32_t bad_at;
    bool ok;

    if (!mb_find_header(data, len, &h, &bad_at)) {
        if (bad_at != UINT32_MAX) {
            error_setg(errp, "multiboot header at offset 0x%x has a bad checksum", bad_at);
        } else {
            error_setg(errp, "no multiboot header");
        }
        return false;
    }
    if (h.flags & MBH_REQUIRED_MASK & ~MBH_SUPPORTED) {
        error_setg(errp, "multiboot header requires features kemu does not provide "
                   "(flags 0x%x)", h.flags & MBH_REQUIRED_MASK & ~MBH_SUPPORTED);
        return false;
    }
    /* The address fields win when present, as the spec lets a loader use
     * them for any image (and GRUB and QEMU do). */
    if (h.flags & MBH_AOUT_KLUDGE) {
        ok = mb_load_aout(s, &h, data, len, errp);
    } else if (loader_is_elf(data, len)) {
        ok = mb_load_elf(s, data, len, errp);
    } else {
        error_setg(errp, "kernel is not an ELF file and its multiboot header has no "
                   "address fields (flag 16)");
        return false;
    }
    if (ok && !mb_entry_is_loaded(s, s->entry)) {
        error_setg(errp, "kernel entry point 0x%" PRIx64 " is outside its loaded segments",
                   s->entry);
        return false;
    }
    return ok;
}

/* ---- modules ---------------------------------------------------------- */

static void mb_module_free(gpointer p)
{
    MbModule *mod = p;

    g_free(mod->cmdline);
    g_free(mod->data);
    g_free(mod);
}

/*
 * Split QEMU's -initrd list for multiboot: "file1 args,file2 args", where
 * ",," stands for a literal comma. Returns the "file args" strings.
 */
static GPtrArray *mb_split_modules(const char *spec)
{
    GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);

    for (const char *p = spec;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',' || *p == '\0') {
            g_ptr_array_add(list, g_string_free(cur, FALSE));
            if (*p == '\0') {
                break;
            }
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    return list;
}

/* Read every module file; placement happens once the kernel's end is known. */
static bool mb_read_modules(MbLoad *s, const char *spec, GError **errp)
{
    g_autoptr(GPtrArray) list = mb_split_modules(spec);

    if (list->len > MB_MAX_MODULES) {
        error_setg(errp, "too many multiboot modules (%u, at most %u)", list->len,
                   MB_MAX_MODULES);
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        const char *str = g_ptr_array_index(list, i);
        g_autofree char *file = g_strndup(str, strcspn(str, " "));
        MbModule *mod;

        if (!*file) {
            error_setg(errp, "multiboot module %u has no file name", i + 1);
            return false;
        }
        mod = g_new0(MbModule, 1);
        mod->cmdline = g_strdup(str);
        g_ptr_array_add(s->modules, mod);
        if (!loader_read_file(file, "module", s->m->cfg.ram_size, &mod->data, &mod->len,
                              errp)) {
            return false;
        }
    }
    return true;
}

/* Page-aligned, from the end of the kernel but not below 1 MiB. */
static bool mb_place_modules(MbLoad *s, GError **errp)
{
    uint64_t below = machine_ram_below_4g(s->m);
    uint64_t next = align_up(MAX(s->kernel_end, (uint64_t)HIGH_RAM_START), PAGE_SIZE);

    for (guint i = 0; i < s->modules->len; i++) {
        MbModule *mod = g_ptr_array_index(s->modules, i);
        if (next > below || mod->len > below - next) {
            error_setg(errp, "multiboot module '%s' (%zu bytes) does not fit in RAM below "
                       "4 GiB after the kernel", mod->cmdline, mod->len);
            return false;
        }
        mod->gpa = next;
        next = align_up(next + mod->len, PAGE_SIZE);
    }
    return true;
}

/* ---- boot information ------------------------------------------------- */

static unsigned mb_build_mmap(Machine *m, uint8_t *p)
{
    uint64_t below = machine_ram_below_4g(m);
    uint64_t map[MB_MMAP_MAX][3];
    unsigned n = 0;

    map[n][0] = 0;
    map[n][1] = MIN(below, (uint64_t)LOW_RAM_END);
    map[n++][2] = MB_MMAP_AVAILABLE;
    map[n][0] = LOW_RAM_END;
    map[n][1] = VGA_START - LOW_RAM_END;
    map[n++][2] = MB_MMAP_RESERVED;
    map[n][0] = BIOS_START;
    map[n][1] = HIGH_RAM_START - BIOS_START;
    map[n++][2] = MB_MMAP_RESERVED;
    if (below > HIGH_RAM_START) {
        map[n][0] = HIGH_RAM_START;
        map[n][1] = below - HIGH_RAM_START;
        map[n++][2] = MB_MMAP_AVAILABLE;
    }
    for (unsigned i = 0; i < m->nr_ram && n < MB_MMAP_MAX; i++) {
        if (m->ram[i].gpa >= GIB4) {
            map[n][0] = m->ram[i].gpa;
            map[n][1] = m->ram[i].size;
            map[n++][2] = MB_MMAP_AVAILABLE;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = p + i * MB_MMAP_ENTRY_SIZE;
        /* "size" counts the bytes after itself. */
        st32_le(e, MB_MMAP_ENTRY_SIZE - 4);
        st64_le(e + 4, map[i][0]);
        st64_le(e + 12, map[i][1]);
        st32_le(e + 20, (uint32_t)map[i][2]);
    }
    return n * MB_MMAP_ENTRY_SIZE;
}

/* Append @str (with its NUL) at *@off in @area; return its guest address. */
static uint32_t mb_put_string(uint8_t *area, size_t *off, const char *str)
{
    size_t n = strlen(str) + 1;
    uint32_t gpa = MB_INFO_ADDR + (uint32_t)*off;

    memcpy(area + *off, str, n);
    *off += n;
    return gpa;
}

/*
 * Build the boot information area at MB_INFO_ADDR. The kernel command
 * line is "NAME ARGS", like QEMU's, as scripts written for QEMU expect the
 * kernel's file name first.
 */
static bool mb_build_info(MbLoad *s, const char *name, const char *cmdline, GError **errp)
{
    uint64_t below = machine_ram_below_4g(s->m);
    g_autofree char *kcmd = g_strdup_printf("%s %s", name, cmdline ? cmdline : "");
    size_t mmap_off = MBI_SIZE;
    size_t mods_off = mmap_off + MB_MMAP_MAX * MB_MMAP_ENTRY_SIZE;
    size_t str_off = mods_off + (size_t)s->modules->len * MB_MOD_SIZE;
    size_t size = str_off + sizeof(LOADER_NAME) + strlen(kcmd) + 1;
    uint8_t *area, *info;
    unsigned mmap_len;

    for (guint i = 0; i < s->modules->len; i++) {
        size += strlen(((MbModule *)g_ptr_array_index(s->modules, i))->cmdline) + 1;
    }
    if (size > LOW_RAM_END - MB_INFO_ADDR || !mb_range_is_ram(s->m, MB_INFO_ADDR, size)) {
        error_setg(errp, "multiboot information (%zu bytes of command lines and module "
                   "list) does not fit in low memory at 0x%x", size, MB_INFO_ADDR);
        return false;
    }
    for (guint i = 0; i < s->blobs->len; i++) {
        const MbBlob *b = &g_array_index(s->blobs, MbBlob, i);
        if (ranges_overlap(b->gpa, b->len, MB_INFO_ADDR, size)) {
            error_setg(errp, "kernel segment 0x%" PRIx64 "-0x%" PRIx64 " overlaps the "
                       "multiboot information at 0x%x-0x%zx", b->gpa, b->gpa + b->len,
                       MB_INFO_ADDR, MB_INFO_ADDR + size);
            return false;
        }
    }
    area = g_malloc0(size);
    info = area;
    st32_le(info + MBI_OFF_FLAGS, MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
    st32_le(info + MBI_OFF_MEM_LOWER, (uint32_t)(MIN(below, (uint64_t)VGA_START) / 1024));
    st32_le(info + MBI_OFF_MEM_UPPER,
         below > HIGH_RAM_START ? (uint32_t)((below - HIGH_RAM_START) / 1024) : 0);
    mmap_len = mb_build_mmap(s->m, area + mmap_off);
    st32_le(info + MBI_OFF_MMAP_LENGTH, mmap_len);
    st32_le(info + MBI_OFF_MMAP_ADDR, MB_INFO_ADDR + (uint32_t)mmap_off);
    st32_le(info + MBI_OFF_MODS_COUNT, s->modules->len);
    st32_le(info + MBI_OFF_MODS_ADDR, MB_INFO_ADDR + (uint32_t)mods_off);
    st32_le(info + MBI_OFF_LOADER_NAME, mb_put_string(area, &str_off, LOADER_NAME));
    st32_le(info + MBI_OFF_CMDLINE, mb_put_string(area, &str_off, kcmd));
    for (guint i = 0; i < s->modules->len; i++) {
        MbModule *mod = g_ptr_array_index(s->modules, i);
        uint8_t *e = area + mods_off + (size_t)i * MB_MOD_SIZE;
        /* Placed below 4 GiB by mb_place_modules(). */
        st32_le(e, (uint32_t)mod->gpa);
        st32_le(e + 4, (uint32_t)(mod->gpa + mod->len));
        st32_le(e + 8, mb_put_string(area, &str_off, mod->cmdline));
    }
    mb_add_blob(s, MB_INFO_ADDR, area, size);
    return true;
}

/* Write every queued blob; all were checked, so this cannot fail half way. */
static bool mb_commit(MbLoad *s, GError **errp)
{
    for (guint i = 0; i < s->blobs->len; i++) {
        MbBlob *b = &g_array_index(s->blobs, MbBlob, i);
        if (!machine_add_rom(s->m, b->gpa, b->data, b->len, errp)) {
            return false;
        }
    }
    for (guint i = 0; i < s->modules->len; i++) {
        MbModule *mod = g_ptr_array_index(s->modules, i);
        if (!machine_add_rom(s->m, mod->gpa, mod->data, mod->len, errp)) {
            return false;
        }
    }
    return true;
}

static void mb_blob_clear(gpointer p)
{
    g_free(((MbBlob *)p)->data);
}

bool multiboot_load(Machine *m, const char *name, const uint8_t *data, size_t len,
                    const char *cmdline, const char *initrd, GError **errp)
{
    MbLoad s = {
        .m = m,
        .blobs = g_array_new(FALSE, FALSE, sizeof(MbBlob)),
        .modules = g_ptr_array_new_with_free_func(mb_module_free),
    };
    bool ok;

    g_array_set_clear_func(s.blobs, mb_blob_clear);
    ok = mb_load_kernel(&s, data, len, errp) &&
         (!initrd || mb_read_modules(&s, initrd, errp)) &&
         mb_place_modules(&s, errp) &&
         mb_build_info(&s, name, cmdline, errp) &&
         mb_commit(&s, errp);
    if (ok) {
        x86_cpu_flat32_state(&m->boot_state, (uint32_t)s.entry);
        m->boot_state.regs[R_EAX] = MB_BOOT_MAGIC;
        m->boot_state.regs[R_EBX] = MB_INFO_ADDR;
    }
    g_array_unref(s.blobs);
    g_ptr_array_unref(s.modules);
    return ok;
}
