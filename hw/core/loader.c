/*
 * Boot image loading (include/hw/loader.h): -kernel dispatch, bounded
 * file reads, the ELF program-header parser shared by the loaders, and
 * QEMU's generic loader device (-device loader).
 *
 * Reference: System V ABI / ELF-64 Object File Format 1.5 (header and
 * program header layouts); QEMU docs/system/generic-loader.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include "hw/loader.h"
#include "hw/x86/linux.h"
#include "kemu/bytes.h"
#include "kemu/error.h"

/* ---- bounded file reads ------------------------------------------------ */

bool loader_read_file(const char *path, const char *what, uint64_t max_len,
                      uint8_t **data, size_t *len, GError **errp)
{
    size_t cap = 64 * 1024, used = 0;
    uint8_t *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        error_setg(errp, "could not read %s '%s': %s", what, path, g_strerror(errno));
        return false;
    }
    buf = g_malloc(cap + 1);
    /* Read to EOF rather than trusting st_size: pipes and devices report 0,
     * and /dev/zero never ends, so the limit is enforced on bytes read. */
    for (;;) {
        if (used == cap) {
            if (used > max_len) {
                break;
            }
            cap *= 2;
            buf = g_realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg(errp, "could not read %s '%s': %s", what, path, g_strerror(errno));
            goto fail;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    if (used > max_len) {
        error_setg(errp, "could not read %s '%s': larger than guest RAM (%" PRIu64 " MiB)",
                   what, path, max_len >> 20);
        goto fail;
    }
    close(fd);
    buf[used] = 0;
    *data = buf;
    *len = used;
    return true;

fail:
    close(fd);
    g_free(buf);
    return false;
}

/* ---- ELF --------------------------------------------------------------- */

#define EI_NIDENT 16
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_386 3
#define EM_486 6
#define EM_X86_64 62
#define PT_LOAD 1
#define PF_X 1
#define EHDR32_SIZE 52
#define EHDR64_SIZE 64
#define PHDR32_SIZE 32
#define PHDR64_SIZE 56
/* Real images have a handful of program headers; this bounds the work a
 * hostile header can ask for. */
#define ELF_MAX_PHDRS LOADER_MAX_SEGMENTS

bool loader_is_elf(const uint8_t *data, size_t len)
{
    return len >= 4 && !memcmp(data, "\177ELF", 4);
}

/* Decode program header @ph of either class into @seg and its type. */
static uint32_t elf_phdr(const uint8_t *ph, bool is64, LoadSegment *seg,
                         uint32_t *flags)
{
    if (is64) {
        *flags = ld32_le(ph + 4);
        seg->offset = ld64_le(ph + 8);
        seg->vaddr = ld64_le(ph + 16);
        seg->paddr = ld64_le(ph + 24);
        seg->filesz = ld64_le(ph + 32);
        seg->memsz = ld64_le(ph + 40);
    } else {
        seg->offset = ld32_le(ph + 4);
        seg->vaddr = ld32_le(ph + 8);
        seg->paddr = ld32_le(ph + 12);
        seg->filesz = ld32_le(ph + 16);
        seg->memsz = ld32_le(ph + 20);
        *flags = ld32_le(ph + 24);
    }
    return ld32_le(ph);
}

static bool elf_check_segment(const LoadSegment *seg, unsigned i, size_t len,
                              GError **errp)
{
    if (seg->filesz > seg->memsz) {
        error_setg(errp, "ELF segment %u: file size 0x%" PRIx64 " exceeds memory size 0x%"
                   PRIx64, i, seg->filesz, seg->memsz);
        return false;
    }
    if (seg->offset > len || seg->filesz > len - seg->offset) {
        error_setg(errp, "ELF segment %u: bytes 0x%" PRIx64 "+0x%" PRIx64
                   " lie beyond the end of the file (0x%zx bytes)",
                   i, seg->offset, seg->filesz, len);
        return false;
    }
    if (seg->paddr + seg->memsz < seg->paddr) {
        error_setg(errp, "ELF segment %u: address 0x%" PRIx64 "+0x%" PRIx64 " wraps around",
                   i, seg->paddr, seg->memsz);
        return false;
    }
    return true;
}

/*
 * e_entry is a virtual address; kernels linked high (vaddr != paddr) need
 * it moved to where the executable segment holding it is loaded.
 */
static uint64_t elf_entry_phys(const ElfImage *img, uint64_t entry)
{
    for (unsigned i = 0; i < img->nsegs; i++) {
        const LoadSegment *s = &img->segs[i];
        if (s->exec && s->vaddr != s->paddr && entry >= s->vaddr &&
            entry - s->vaddr < s->memsz) {
            return entry - s->vaddr + s->paddr;
        }
    }
    return entry;
}

bool loader_elf_parse(const uint8_t *data, size_t len, ElfImage *img, GError **errp)
{
    uint64_t phoff;
    unsigned phnum, phentsize, type;

    memset(img, 0, sizeof(*img));
    if (!loader_is_elf(data, len) || len < EI_NIDENT) {
        error_setg(errp, "not an ELF file");
        return false;
    }
    if (data[4] != ELFCLASS32 && data[4] != ELFCLASS64) {
        error_setg(errp, "unknown ELF class %u", data[4]);
        return false;
    }
    img->is64 = data[4] == ELFCLASS64;
    if (data[5] != ELFDATA2LSB || data[6] != EV_CURRENT) {
        error_setg(errp, "not a little-endian version 1 ELF file");
        return false;
    }
    if (len < (img->is64 ? EHDR64_SIZE : EHDR32_SIZE)) {
        error_setg(errp, "ELF header truncated (file is %zu bytes)", len);
        return false;
    }
    type = ld16_le(data + 16);
    img->machine = ld16_le(data + 18);
    if (type != ET_EXEC && type != ET_DYN) {
        error_setg(errp, "ELF type %u is not an executable", type);
        return false;
    }
    if (img->machine != EM_386 && img->machine != EM_486 && img->machine != EM_X86_64) {
        error_setg(errp, "ELF machine %u is not x86", img->machine);
        return false;
    }
    if (img->is64) {
        img->entry = ld64_le(data + 24);
        phoff = ld64_le(data + 32);
        phentsize = ld16_le(data + 54);
        phnum = ld16_le(data + 56);
    } else {
        img->entry = ld32_le(data + 24);
        phoff = ld32_le(data + 28);
        phentsize = ld16_le(data + 42);
        phnum = ld16_le(data + 44);
    }
    if (phentsize != (img->is64 ? PHDR64_SIZE : PHDR32_SIZE)) {
        error_setg(errp, "ELF program header size %u is wrong", phentsize);
        return false;
    }
    if (phnum == 0 || phnum > ELF_MAX_PHDRS) {
        error_setg(errp, "ELF file has %u program headers (1 to %u supported)",
                   phnum, ELF_MAX_PHDRS);
        return false;
    }
    /* phnum * phentsize <= 64 * 56: cannot overflow. */
    if (phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
        error_setg(errp, "ELF program headers lie beyond the end of the file");
        return false;
    }
    for (unsigned i = 0; i < phnum; i++) {
        LoadSegment seg;
        uint32_t flags;
        if (elf_phdr(data + phoff + (uint64_t)i * phentsize, img->is64, &seg, &flags) != PT_LOAD ||
            seg.memsz == 0) {
            continue;
        }
        if (!elf_check_segment(&seg, i, len, errp)) {
            return false;
        }
        seg.exec = (flags & PF_X) != 0;
        img->segs[img->nsegs++] = seg;
    }
    if (img->nsegs == 0) {
        error_setg(errp, "ELF file has no loadable segments");
        return false;
    }
    img->entry = elf_entry_phys(img, img->entry);
    return true;
}

/* Guest RAM bytes for @seg: the file part then zeroes up to memsz. */
static bool elf_add_segment(Machine *m, const uint8_t *data, const LoadSegment *seg,
                            GError **errp)
{
    uint8_t *buf = g_malloc0(seg->memsz);
    bool ok;

    memcpy(buf, data + seg->offset, seg->filesz);
    ok = machine_add_rom(m, seg->paddr, buf, seg->memsz, errp);
    g_free(buf);
    return ok;
}

bool loader_elf_load(Machine *m, const uint8_t *data, const ElfImage *img, GError **errp)
{
    for (unsigned i = 0; i < img->nsegs; i++) {
        const LoadSegment *s = &img->segs[i];
        if (!machine_gpa_to_hva(m, s->paddr, s->memsz)) {
            error_setg(errp, "ELF segment at 0x%" PRIx64 "-0x%" PRIx64 " is outside guest RAM",
                       s->paddr, s->paddr + s->memsz);
            return false;
        }
    }
    for (unsigned i = 0; i < img->nsegs; i++) {
        if (!elf_add_segment(m, data, &img->segs[i], errp)) {
            return false;
        }
    }
    return true;
}

/* ---- -kernel ------------------------------------------------------------ */

bool loader_load_kernel(Machine *m, const char *path, const char *cmdline,
                        const char *initrd, GError **errp)
{
    g_autoptr(GError) err = NULL;
    uint8_t *data;
    size_t len;
    bool ok = false;

    if (!loader_read_file(path, "kernel", m->cfg.ram_size, &data, &len, errp)) {
        return false;
    }
    if (multiboot_probe(data, len)) {
        ok = multiboot_load(m, path, data, len, cmdline, initrd, &err);
        if (!ok) {
            error_setg(errp, "cannot boot multiboot kernel '%s': %s", path, err->message);
        }
    } else if (linux_is_bzimage(data, len)) {
        ok = linux_load_bzimage(m, data, len, cmdline, initrd, &err);
        if (!ok) {
            error_setg(errp, "cannot boot Linux bzImage '%s': %s", path, err->message);
        }
    } else if (loader_is_elf(data, len)) {
        ok = linux_load_vmlinux(m, data, len, cmdline, initrd, &err);
        if (!ok) {
            error_setg(errp, "cannot boot '%s' as a Linux vmlinux (an ELF file without a "
                       "multiboot header): %s", path, err->message);
        }
    } else {
        /* No valid header: multiboot_load says why (none, bad checksum). */
        multiboot_load(m, path, data, len, cmdline, initrd, &err);
        error_setg(errp, "'%s' is not a kernel kemu can boot (%s)", path,
                   err ? err->message : "no multiboot header");
    }
    g_free(data);
    return ok;
}

/* ---- -device loader ----------------------------------------------------- */

#define CPU_NUM_NONE UINT64_MAX
/* CS = addr >> 4 must fit 16 bits: the start is in the first MiB. */
#define REAL_MODE_LIMIT 0x100000u

typedef struct GenericLoader {
    Device dev;
} GenericLoader;

typedef struct GenericLoaderArgs {
    const char *file;
    uint64_t addr, data, data_len, cpu_num;
    bool has_addr, has_data, has_data_len, data_be, force_raw;
} GenericLoaderArgs;

static const VMStateField generic_loader_fields[] = {
    VMSTATE_END,
};

/* Nothing guest-visible: the loaded bytes live in the ROM list. */
static const VMStateDesc generic_loader_vmsd = {
    .name = "loader",
    .version = 1,
    .fields = generic_loader_fields,
};

static void generic_loader_reset(Device *d)
{
    (void)d;
}

static const DeviceClass generic_loader_class = {
    .name = "loader",
    .reset = generic_loader_reset,
    .vmsd = &generic_loader_vmsd,
};

static bool generic_loader_args(Opts *o, GenericLoaderArgs *a, GError **errp)
{
    a->file = opts_get(o, "file");
    a->has_addr = opts_has(o, "addr");
    a->has_data = opts_has(o, "data");
    a->has_data_len = opts_has(o, "data-len");
    if (!opts_get_u64(o, "addr", 0, &a->addr, errp) ||
        !opts_get_u64(o, "data", 0, &a->data, errp) ||
        !opts_get_u64(o, "data-len", 0, &a->data_len, errp) ||
        !opts_get_u64(o, "cpu-num", CPU_NUM_NONE, &a->cpu_num, errp) ||
        !opts_get_bool(o, "data-be", false, &a->data_be, errp) ||
        !opts_get_bool(o, "force-raw", false, &a->force_raw, errp)) {
        return false;
    }
    if (a->has_data || a->has_data_len || a->data_be) {
        if (a->file || a->force_raw) {
            error_setg(errp, "file= and force-raw= cannot be combined with data=");
            return false;
        }
        if (!a->has_data || !a->has_data_len || !a->has_addr) {
            error_setg(errp, "data= needs data-len= and addr=");
            return false;
        }
        if (a->data_len < 1 || a->data_len > 8) {
            error_setg(errp, "data-len must be 1 to 8 bytes, not %" PRIu64, a->data_len);
            return false;
        }
    } else if (!a->file) {
        if (a->force_raw) {
            error_setg(errp, "force-raw= needs file=");
            return false;
        }
        if (!a->has_addr || a->cpu_num == CPU_NUM_NONE) {
            error_setg(errp, "give file=, data= (with data-len=), or addr= with cpu-num=");
            return false;
        }
    }
    if (a->cpu_num != CPU_NUM_NONE && a->cpu_num != 0) {
        error_setg(errp, "cpu-num=%" PRIu64 ": only the boot CPU (0) can be started here; "
                   "the others wait for INIT-SIPI", a->cpu_num);
        return false;
    }
    return true;
}

/* Store the value of data= as data-len bytes in the chosen byte order. */
static bool generic_loader_data(Machine *m, const GenericLoaderArgs *a, GError **errp)
{
    uint8_t bytes[8];

    for (unsigned i = 0; i < a->data_len; i++) {
        unsigned shift = a->data_be ? 8 * (unsigned)(a->data_len - 1 - i) : 8 * i;
        bytes[i] = (uint8_t)(a->data >> shift);
    }
    return machine_add_rom(m, a->addr, bytes, a->data_len, errp);
}

/*
 * Load file= into RAM; *@start becomes the ELF entry for an ELF file
 * (unless force-raw), else stays addr. Like QEMU, a raw file without
 * addr= goes to address 0.
 */
static bool generic_loader_file(Machine *m, const GenericLoaderArgs *a, uint64_t *start,
                                GError **errp)
{
    uint8_t *data;
    size_t len;
    bool ok;

    if (!loader_read_file(a->file, "file", m->cfg.ram_size, &data, &len, errp)) {
        return false;
    }
    if (!a->force_raw && loader_is_elf(data, len)) {
        ElfImage *img = g_new(ElfImage, 1);
        ok = loader_elf_parse(data, len, img, errp) && loader_elf_load(m, data, img, errp);
        if (!ok) {
            g_prefix_error(errp, "'%s': ", a->file);
        }
        *start = img->entry;
        g_free(img);
    } else {
        ok = machine_add_rom(m, a->addr, data, len, errp);
    }
    g_free(data);
    return ok;
}

static bool generic_loader_create(Machine *m, Opts *o, GError **errp)
{
    GenericLoaderArgs a = { 0 };
    const char *id = opts_get(o, "id");
    uint64_t start;
    GenericLoader *s;

    if (!generic_loader_args(o, &a, errp) || !opts_check_all_used(o, "loader", errp)) {
        return false;
    }
    start = a.addr;
    if (a.has_data) {
        if (!generic_loader_data(m, &a, errp)) {
            return false;
        }
    } else if (a.file && !generic_loader_file(m, &a, &start, errp)) {
        return false;
    }
    /* As in QEMU, cpu-num with data= only names the CPU doing the store. */
    if (a.cpu_num == 0 && !a.has_data) {
        if (start >= REAL_MODE_LIMIT) {
            error_setg(errp, "cpu-num=0: start address 0x%" PRIx64 " is not reachable in "
                       "real mode (must be below 1 MiB)", start);
            return false;
        }
        x86_cpu_real_state(&m->boot_state, (uint32_t)start);
    }
    s = g_new0(GenericLoader, 1);
    device_add(m, &s->dev, &generic_loader_class, id);
    return true;
}

const DeviceType generic_loader_type = {
    .name = "loader",
    .help = "put a file or value into RAM: file=F[,addr=A][,force-raw=on] or "
            "addr=A,data=V,data-len=N[,data-be=on]; cpu-num=0 starts the boot CPU "
            "there in real mode",
    .create = generic_loader_create,
};
