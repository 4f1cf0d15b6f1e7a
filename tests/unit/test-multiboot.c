/*
 * Multiboot v1 loader, -kernel dispatch and -device loader, on images
 * synthesised in memory: what lands in guest RAM, the boot information a
 * kernel reads, the entry state, and clean refusals of hostile images.
 */
#include <string.h>
#include <glib/gstdio.h>
#include "hw/loader.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "ram-machine.h"

#define MiB (1024 * 1024ull)
#define MB_MAGIC 0x1BADB002u
#define INFO 0x9000u

/* ---- machine ----------------------------------------------------------- */

static uint32_t ram32(Machine *m, uint64_t gpa)
{
    return ld32_le(guest_ram(m, gpa, 4));
}

static const char *ram_str(Machine *m, uint32_t gpa)
{
    const char *s = (const char *)guest_ram(m, gpa, 1);
    g_assert_nonnull(memchr(s, 0, 4096));
    return s;
}

/* ---- image builders ---------------------------------------------------- */

typedef struct Seg {
    uint64_t paddr, vaddr, offset, filesz, memsz;
    uint32_t flags;
} Seg;

#define IMG_SIZE 0x3000
#define MBH_OFF 0x200          /* multiboot header offset in ELF images */
#define SEG1_PADDR 0x100000u
#define SEG2_PADDR 0x101000u

static void put_mb_header(uint8_t *p, uint32_t flags)
{
    st32_le(p, MB_MAGIC);
    st32_le(p + 4, flags);
    st32_le(p + 8, (uint32_t)-(MB_MAGIC + flags));
}

/* Fill [off, off + len) of the image with a recognisable pattern. */
static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

static uint8_t *build_elf(bool is64, uint16_t machine, uint64_t entry, const Seg *segs,
                          unsigned nsegs, size_t *len)
{
    uint8_t *img = g_malloc0(IMG_SIZE);
    unsigned ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;

    memcpy(img, "\177ELF", 4);
    img[4] = is64 ? 2 : 1;
    img[5] = 1;
    img[6] = 1;
    st16_le(img + 16, 2);
    st16_le(img + 18, machine);
    st32_le(img + 20, 1);
    if (is64) {
        st64_le(img + 24, entry);
        st64_le(img + 32, ehsize);
        st16_le(img + 52, (uint16_t)ehsize);
        st16_le(img + 54, (uint16_t)phsize);
        st16_le(img + 56, (uint16_t)nsegs);
    } else {
        st32_le(img + 24, (uint32_t)entry);
        st32_le(img + 28, ehsize);
        st16_le(img + 40, (uint16_t)ehsize);
        st16_le(img + 42, (uint16_t)phsize);
        st16_le(img + 44, (uint16_t)nsegs);
    }
    for (unsigned i = 0; i < nsegs; i++) {
        uint8_t *ph = img + ehsize + i * phsize;
        const Seg *s = &segs[i];
        st32_le(ph, 1);
        if (is64) {
            st32_le(ph + 4, s->flags);
            st64_le(ph + 8, s->offset);
            st64_le(ph + 16, s->vaddr);
            st64_le(ph + 24, s->paddr);
            st64_le(ph + 32, s->filesz);
            st64_le(ph + 40, s->memsz);
        } else {
            st32_le(ph + 4, (uint32_t)s->offset);
            st32_le(ph + 8, (uint32_t)s->vaddr);
            st32_le(ph + 12, (uint32_t)s->paddr);
            st32_le(ph + 16, (uint32_t)s->filesz);
            st32_le(ph + 20, (uint32_t)s->memsz);
            st32_le(ph + 24, s->flags);
        }
        if (s->offset < IMG_SIZE && s->filesz <= IMG_SIZE - s->offset) {
            pattern(img + s->offset, s->filesz, (uint8_t)(0x40 + i));
        }
    }
    put_mb_header(img + MBH_OFF, 0x3);
    *len = IMG_SIZE;
    return img;
}

/* Code at 1 MiB (0x100 bytes), data at 1 MiB + 4 KiB: 0x20 bytes + bss. */
static const Seg elf32_segs[] = {
    { .paddr = SEG1_PADDR, .vaddr = SEG1_PADDR, .offset = 0x1000, .filesz = 0x100,
      .memsz = 0x100, .flags = 5 },
    { .paddr = SEG2_PADDR, .vaddr = SEG2_PADDR, .offset = 0x2000, .filesz = 0x20,
      .memsz = 0x1800, .flags = 6 },
};

static uint8_t *build_elf32(size_t *len)
{
    return build_elf(false, 3, SEG1_PADDR + 0x10, elf32_segs, 2, len);
}

/* A long-mode hobby kernel: linked at -2 GiB, loaded at 2 MiB, 32-bit entry. */
#define HH_VADDR 0xffffffff80200000ull
static uint8_t *build_elf64(size_t *len)
{
    static const Seg segs[] = {
        { .paddr = 0x200000, .vaddr = HH_VADDR, .offset = 0x1000, .filesz = 0x800,
          .memsz = 0x3000, .flags = 5 },
    };
    return build_elf(true, 62, HH_VADDR + 0x20, segs, 1, len);
}

/* A flat binary with the a.out kludge: header at 0x40, loaded at 1 MiB. */
#define AOUT_LEN 0x800
#define AOUT_HDR 0x40
static uint8_t *build_aout(size_t *len)
{
    uint8_t *img = g_malloc0(AOUT_LEN);
    uint8_t *h = img + AOUT_HDR;

    pattern(img, AOUT_LEN, 0x11);
    put_mb_header(h, (1u << 16) | 0x3);
    st32_le(h + 12, SEG1_PADDR + AOUT_HDR);  /* header_addr */
    st32_le(h + 16, SEG1_PADDR);             /* load_addr */
    st32_le(h + 20, 0);                      /* load_end_addr: whole file */
    st32_le(h + 24, SEG1_PADDR + 0x2000);    /* bss_end_addr */
    st32_le(h + 28, SEG1_PADDR + 0x100);     /* entry_addr */
    *len = AOUT_LEN;
    return img;
}

/* ---- checks shared by the good-image tests ---------------------------- */

static void check_entry_state(Machine *m, uint32_t entry)
{
    const X86CpuState *s = &m->boot_state;

    g_assert_cmphex(s->rip, ==, entry);
    g_assert_cmphex(s->regs[R_EAX], ==, 0x2BADB002);
    g_assert_cmphex(s->regs[R_EBX], ==, INFO);
    g_assert_true(s->cr0 & CR0_PE);
    g_assert_false(s->cr0 & CR0_PG);
    g_assert_false(s->rflags & RFLAGS_IF);
    g_assert_cmpuint(s->seg[SEG_CS].db, ==, 1);
    g_assert_cmphex(s->seg[SEG_CS].limit, ==, 0xffffffff);
    g_assert_cmphex(s->seg[SEG_DS].base, ==, 0);
}

static void check_segment(Machine *m, const uint8_t *img, const Seg *s)
{
    g_assert_cmpmem(guest_ram(m, s->paddr, s->filesz), s->filesz, img + s->offset, s->filesz);
    for (uint64_t i = s->filesz; i < s->memsz; i++) {
        g_assert_cmpuint(guest_ram(m, s->paddr, s->memsz)[i], ==, 0);
    }
}

static bool load(Machine *m, const uint8_t *img, size_t len, const char *cmdline,
                 const char *initrd, GError **err)
{
    return multiboot_load(m, "kernel.elf", img, len, cmdline, initrd, err);
}

/* ---- good images -------------------------------------------------------- */

static void test_probe(void)
{
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    g_assert_true(multiboot_probe(img, len));
    g_assert_false(multiboot_probe(img, MBH_OFF + 8));   /* checksum cut off */
    st32_le(img + MBH_OFF + 8, 0);
    g_assert_false(multiboot_probe(img, len));
    g_assert_false(multiboot_probe(img, 0));
}

static void test_elf32(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    /* Junk where the bss goes: the loader must clear it. */
    memset(guest_ram(m, SEG2_PADDR, 0x1800), 0xaa, 0x1800);
    g_assert_true(load(m, img, len, "console=ttyS0 debug", NULL, &err));
    g_assert_no_error(err);
    check_segment(m, img, &elf32_segs[0]);
    check_segment(m, img, &elf32_segs[1]);
    check_entry_state(m, SEG1_PADDR + 0x10);

    g_assert_cmphex(ram32(m, INFO), ==, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
    g_assert_cmpuint(ram32(m, INFO + 4), ==, 640);
    g_assert_cmpuint(ram32(m, INFO + 8), ==, (64 * MiB - MiB) / 1024);
    g_assert_cmpstr(ram_str(m, ram32(m, INFO + 16)), ==, "kernel.elf console=ttyS0 debug");
    g_assert_cmpuint(ram32(m, INFO + 20), ==, 0);
    g_assert_cmpstr(ram_str(m, ram32(m, INFO + 64)), ==, "kemu");
    ram_machine_free(m);
}

/* QEMU passes "NAME " when there is no -append; so do we. */
static void test_cmdline_without_append(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    g_assert_true(load(m, img, len, NULL, NULL, &err));
    g_assert_cmpstr(ram_str(m, ram32(m, INFO + 16)), ==, "kernel.elf ");
    ram_machine_free(m);
}

typedef struct MmapEntry {
    uint64_t base, len;
    uint32_t type;
} MmapEntry;

static void check_mmap(Machine *m, const MmapEntry *want, unsigned n)
{
    uint32_t addr = ram32(m, INFO + 48), length = ram32(m, INFO + 44);
    unsigned i = 0;

    g_assert_cmpuint(length, ==, n * 24);
    /* Walk it as a kernel does: each entry's size excludes the size field. */
    for (uint32_t p = addr; p < addr + length; p += ram32(m, p) + 4, i++) {
        const uint8_t *e = guest_ram(m, p, 24);
        g_assert_cmpuint(ld32_le(e), ==, 20);
        g_assert_cmphex(ld64_le(e + 4), ==, want[i].base);
        g_assert_cmphex(ld64_le(e + 12), ==, want[i].len);
        g_assert_cmpuint(ld32_le(e + 20), ==, want[i].type);
    }
    g_assert_cmpuint(i, ==, n);
}

static void test_mmap_small(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);
    const MmapEntry want[] = {
        { 0, 0x9fc00, 1 },
        { 0x9fc00, 0x400, 2 },
        { 0xf0000, 0x10000, 2 },
        { MiB, 63 * MiB, 1 },
    };

    g_assert_true(load(m, img, len, "", NULL, &err));
    check_mmap(m, want, G_N_ELEMENTS(want));
    ram_machine_free(m);
}

/* 4 GiB of RAM: 3 GiB below the PCI hole, 1 GiB from 4 GiB up. */
static void test_mmap_high(void)
{
    Machine *m = ram_machine_new(4096 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);
    const MmapEntry want[] = {
        { 0, 0x9fc00, 1 },
        { 0x9fc00, 0x400, 2 },
        { 0xf0000, 0x10000, 2 },
        { MiB, 3072 * MiB - MiB, 1 },
        { 4096 * MiB, 1024 * MiB, 1 },
    };

    g_assert_true(load(m, img, len, "", NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(ram32(m, INFO + 8), ==, (3072 * MiB - MiB) / 1024);
    check_mmap(m, want, G_N_ELEMENTS(want));
    ram_machine_free(m);
}

static void test_elf64(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf64(&len);
    const Seg seg = { .paddr = 0x200000, .offset = 0x1000, .filesz = 0x800, .memsz = 0x3000 };

    g_assert_true(load(m, img, len, "x", NULL, &err));
    g_assert_no_error(err);
    check_segment(m, img, &seg);
    /* e_entry is virtual; it is moved into the segment's physical range. */
    check_entry_state(m, 0x200020);
    ram_machine_free(m);
}

static void test_aout(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_aout(&len);

    memset(guest_ram(m, SEG1_PADDR, 0x2000), 0xaa, 0x2000);
    g_assert_true(load(m, img, len, "", NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(guest_ram(m, SEG1_PADDR, AOUT_LEN), AOUT_LEN, img, AOUT_LEN);
    for (unsigned i = AOUT_LEN; i < 0x2000; i++) {
        g_assert_cmpuint(guest_ram(m, SEG1_PADDR, 0x2000)[i], ==, 0);
    }
    check_entry_state(m, SEG1_PADDR + 0x100);
    ram_machine_free(m);
}

/* Flag 16 wins over the ELF headers, as in GRUB and QEMU. */
static void test_aout_overrides_elf(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);
    uint8_t *h = img + MBH_OFF;

    put_mb_header(h, 1u << 16);
    st32_le(h + 12, 0x300000 + MBH_OFF);
    st32_le(h + 16, 0x300000);
    st32_le(h + 20, 0x300000 + IMG_SIZE);
    st32_le(h + 24, 0);
    st32_le(h + 28, 0x300000);
    g_assert_true(load(m, img, len, "", NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(guest_ram(m, 0x300000, IMG_SIZE), IMG_SIZE, img, IMG_SIZE);
    g_assert_cmphex(m->boot_state.rip, ==, 0x300000);
    ram_machine_free(m);
}

static char *write_tmp(const char *dir, const char *name, const void *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, data, (gssize)len, &err));
    return path;
}

static void test_modules(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-mb-XXXXXX", NULL);
    uint8_t big[5000];
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    pattern(big, sizeof(big), 3);
    g_autofree char *p1 = write_tmp(dir, "mod1", big, sizeof(big));
    g_autofree char *p2 = write_tmp(dir, "mod2", "hello", 5);
    g_autofree char *p3 = write_tmp(dir, "mod3", "", 0);
    g_autofree char *spec = g_strdup_printf("%s arg1 arg2,%s a,,b,%s", p1, p2, p3);
    g_autofree char *want1 = g_strdup_printf("%s arg1 arg2", p1);
    g_autofree char *want2 = g_strdup_printf("%s a,b", p2);

    g_assert_true(load(m, img, len, "k", spec, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(ram32(m, INFO + 20), ==, 3);
    uint32_t mods = ram32(m, INFO + 24);
    uint32_t s1 = ram32(m, mods), e1 = ram32(m, mods + 4);
    uint32_t s2 = ram32(m, mods + 16), e2 = ram32(m, mods + 20);
    uint32_t s3 = ram32(m, mods + 32), e3 = ram32(m, mods + 36);

    /* Page aligned, after the kernel's bss, in order, not overlapping. */
    g_assert_cmphex(s1, >=, SEG2_PADDR + 0x1800);
    g_assert_cmphex(s1 % 4096, ==, 0);
    g_assert_cmphex(s2 % 4096, ==, 0);
    g_assert_cmphex(s3 % 4096, ==, 0);
    g_assert_cmphex(s2, >=, e1);
    g_assert_cmphex(s3, >=, e2);
    g_assert_cmpuint(e1 - s1, ==, sizeof(big));
    g_assert_cmpuint(e2 - s2, ==, 5);
    g_assert_cmpuint(e3 - s3, ==, 0);
    g_assert_cmpmem(guest_ram(m, s1, sizeof(big)), sizeof(big), big, sizeof(big));
    g_assert_cmpmem(guest_ram(m, s2, 5), 5, "hello", 5);
    g_assert_cmpstr(ram_str(m, ram32(m, mods + 8)), ==, want1);
    g_assert_cmpstr(ram_str(m, ram32(m, mods + 24)), ==, want2);
    g_assert_cmpstr(ram_str(m, ram32(m, mods + 40)), ==, p3);
    g_assert_cmpuint(ram32(m, mods + 12), ==, 0);
    g_assert_cmpstr(ram_str(m, ram32(m, INFO + 16)), ==, "kernel.elf k");

    g_unlink(p1);
    g_unlink(p2);
    g_unlink(p3);
    g_rmdir(dir);
    ram_machine_free(m);
}

/* Everything goes through the ROM list, so a reset puts it back. */
static void test_reset_reload(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    g_assert_true(load(m, img, len, "a", NULL, &err));
    memset(guest_ram(m, SEG1_PADDR, 0x2800), 0x55, 0x2800);
    memset(guest_ram(m, INFO, 0x100), 0x55, 0x100);
    machine_roms_reload(m);
    check_segment(m, img, &elf32_segs[0]);
    check_segment(m, img, &elf32_segs[1]);
    g_assert_cmpuint(ram32(m, INFO + 4), ==, 640);
    ram_machine_free(m);
}

/* ---- hostile images ----------------------------------------------------- */

typedef void (*Mutator)(uint8_t *img, size_t *len);

typedef struct BadCase {
    const char *name;
    uint8_t *(*build)(size_t *len);
    Mutator mutate;
    const char *initrd;
    const char *want;       /* substring of the error message */
} BadCase;

/* ELF32 program header @i field at @off */
#define PH32(img, i, off) ((img) + 52 + (i) * 32 + (off))
#define PH64(img, i, off) ((img) + 64 + (i) * 56 + (off))

static void mut_no_magic(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(img + MBH_OFF, 0);
}

static void mut_bad_checksum(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(img + MBH_OFF + 8, 0x12345678);
}

static void mut_required_flag(uint8_t *img, size_t *len)
{
    (void)len;
    put_mb_header(img + MBH_OFF, 0x3 | (1u << 3));
}

static void mut_header_beyond_8k(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(img + MBH_OFF, 0);
    put_mb_header(img + 0x2000, 0x3);
}

static void mut_seg_outside_ram(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 1, 12), 0x10000000);
}

static void mut_seg_in_vga_hole(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 1, 12), 0xa0000);
}

static void mut_seg_over_info(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 1, 12), 0x8800);
}

static void mut_seg_wraps_4g(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 1, 12), 0xfffff000);
}

static void mut_truncated(uint8_t *img, size_t *len)
{
    (void)img;
    *len = 0x1080;
}

static void mut_offset_overflow(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 0, 4), 0xffffff00);
}

static void mut_filesz_gt_memsz(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 1, 16), 0x2000);
}

static void mut_entry_outside(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(img + 24, 0x400000);
}

static void mut_too_many_phdrs(uint8_t *img, size_t *len)
{
    (void)len;
    st16_le(img + 44, 1000);
}

static void mut_phentsize(uint8_t *img, size_t *len)
{
    (void)len;
    st16_le(img + 42, 16);
}

static void mut_phoff_beyond(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(img + 28, 0xfffffff0);
}

static void mut_no_load_segments(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(PH32(img, 0, 0), 4);
    st32_le(PH32(img, 1, 0), 4);
}

static void mut_not_elf(uint8_t *img, size_t *len)
{
    (void)len;
    img[0] = 0;
}

static void mut_bad_class(uint8_t *img, size_t *len)
{
    (void)len;
    img[4] = 7;
}

static void mut_big_endian(uint8_t *img, size_t *len)
{
    (void)len;
    img[5] = 2;
}

static void mut_wrong_machine(uint8_t *img, size_t *len)
{
    (void)len;
    st16_le(img + 18, 40);   /* ARM */
}

static void mut_elf_header_cut(uint8_t *img, size_t *len)
{
    /* 32 bytes of ELF header, then the multiboot header. */
    memmove(img + 32, img + MBH_OFF, 12);
    *len = 44;
}

static void mut64_entry_high(uint8_t *img, size_t *len)
{
    (void)len;
    st64_le(img + 24, 0x100000000ull);
    st64_le(PH64(img, 0, 16), 0x200000);   /* vaddr == paddr: no translation */
}

static void mut64_paddr_wraps(uint8_t *img, size_t *len)
{
    (void)len;
    st64_le(PH64(img, 0, 24), 0xfffffffffffff000ull);
}

static void mut64_filesz_huge(uint8_t *img, size_t *len)
{
    (void)len;
    st64_le(PH64(img, 0, 32), 0xffffffffffffff00ull);
    st64_le(PH64(img, 0, 40), 0xffffffffffffff00ull);
}

static void mut64_seg_above_4g(uint8_t *img, size_t *len)
{
    (void)len;
    st64_le(PH64(img, 0, 24), 0x100200000ull);
}

#define AH(img, off) ((img) + AOUT_HDR + (off))

static void muta_header_before_load(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 16), SEG1_PADDR + 0x1000);
}

static void muta_load_before_file(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 16), SEG1_PADDR - 0x1000);   /* would start before offset 0 */
}

static void muta_load_end_beyond_file(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 20), SEG1_PADDR + 0x10000);
}

static void muta_load_end_before_header(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 20), SEG1_PADDR + 0x10);
}

static void muta_bss_before_end(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 24), SEG1_PADDR + 0x10);
}

static void muta_entry_outside(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 28), 0x50000);
}

static void muta_bss_huge(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 24), 0xffffffff);
}

static void muta_fields_cut(uint8_t *img, size_t *len)
{
    (void)img;
    *len = AOUT_HDR + 20;
}

static void muta_load_at_zero_over_info(uint8_t *img, size_t *len)
{
    (void)len;
    st32_le(AH(img, 12), 0x8000 + AOUT_HDR);
    st32_le(AH(img, 16), 0x8000);
    st32_le(AH(img, 24), 0x10000);
    st32_le(AH(img, 28), 0x8000);
}

static void mut_none(uint8_t *img, size_t *len)
{
    (void)img;
    (void)len;
}

static const BadCase bad_cases[] = {
    { "no-header", build_elf32, mut_no_magic, NULL, "no multiboot header" },
    { "bad-checksum", build_elf32, mut_bad_checksum, NULL, "bad checksum" },
    { "required-flag", build_elf32, mut_required_flag, NULL, "requires features" },
    { "header-beyond-8k", build_elf32, mut_header_beyond_8k, NULL, "no multiboot header" },
    { "seg-outside-ram", build_elf32, mut_seg_outside_ram, NULL, "not in usable RAM" },
    { "seg-vga-hole", build_elf32, mut_seg_in_vga_hole, NULL, "not in usable RAM" },
    { "seg-over-info", build_elf32, mut_seg_over_info, NULL, "overlaps the multiboot" },
    { "seg-wraps-4g", build_elf32, mut_seg_wraps_4g, NULL, "not in usable RAM" },
    { "truncated", build_elf32, mut_truncated, NULL, "beyond the end of the file" },
    { "offset-overflow", build_elf32, mut_offset_overflow, NULL, "beyond the end" },
    { "filesz-gt-memsz", build_elf32, mut_filesz_gt_memsz, NULL, "exceeds memory size" },
    { "entry-outside", build_elf32, mut_entry_outside, NULL, "outside its loaded" },
    { "too-many-phdrs", build_elf32, mut_too_many_phdrs, NULL, "program headers" },
    { "phentsize", build_elf32, mut_phentsize, NULL, "program header size" },
    { "phoff-beyond", build_elf32, mut_phoff_beyond, NULL, "beyond the end" },
    { "no-load-segments", build_elf32, mut_no_load_segments, NULL, "no loadable" },
    { "not-elf", build_elf32, mut_not_elf, NULL, "not an ELF file" },
    { "bad-class", build_elf32, mut_bad_class, NULL, "ELF class" },
    { "big-endian", build_elf32, mut_big_endian, NULL, "little-endian" },
    { "wrong-machine", build_elf32, mut_wrong_machine, NULL, "not x86" },
    { "elf-header-cut", build_elf32, mut_elf_header_cut, NULL, "truncated" },
    { "elf64-entry-high", build_elf64, mut64_entry_high, NULL, "above 4 GiB" },
    { "elf64-paddr-wraps", build_elf64, mut64_paddr_wraps, NULL, "wraps around" },
    { "elf64-filesz-huge", build_elf64, mut64_filesz_huge, NULL, "beyond the end" },
    { "elf64-above-4g", build_elf64, mut64_seg_above_4g, NULL, "4 GiB" },
    { "aout-header-before-load", build_aout, muta_header_before_load, NULL, "do not match" },
    { "aout-load-before-file", build_aout, muta_load_before_file, NULL, "do not match" },
    { "aout-load-end-beyond", build_aout, muta_load_end_beyond_file, NULL, "truncated" },
    { "aout-load-end-early", build_aout, muta_load_end_before_header, NULL, "after header" },
    { "aout-bss-early", build_aout, muta_bss_before_end, NULL, "bss_end_addr" },
    { "aout-entry-outside", build_aout, muta_entry_outside, NULL, "outside its loaded" },
    { "aout-bss-huge", build_aout, muta_bss_huge, NULL, "not in usable RAM" },
    { "aout-fields-cut", build_aout, muta_fields_cut, NULL, "truncated" },
    { "aout-over-info", build_aout, muta_load_at_zero_over_info, NULL, "overlaps" },
    { "module-missing", build_elf32, mut_none, "/nonexistent/kemu-module args",
      "could not read module '/nonexistent/kemu-module'" },
    { "module-empty-name", build_elf32, mut_none, "", "no file name" },
    { "module-trailing-comma", build_elf32, mut_none, "/dev/null,", "no file name" },
    { "module-endless", build_elf32, mut_none, "/dev/zero", "larger than guest RAM" },
};

static void test_bad_image(gconstpointer data)
{
    const BadCase *c = data;
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    size_t len;
    g_autofree uint8_t *img = c->build(&len);

    c->mutate(img, &len);
    g_assert_false(load(m, img, len, "x", c->initrd, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, c->want)) {
        g_error("%s: error '%s' does not mention '%s'", c->name, err->message, c->want);
    }
    /* Refused before anything was written. */
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
    ram_machine_free(m);
}

static void test_too_many_modules(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) spec = g_string_new("/dev/null");
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);

    for (int i = 0; i < 300; i++) {
        g_string_append(spec, ",/dev/null");
    }
    g_assert_false(load(m, img, len, "", spec->str, &err));
    g_assert_nonnull(strstr(err->message, "too many"));
    ram_machine_free(m);
}

/* Random corruption of good images: any outcome but a crash or a leak. */
static void test_fuzz(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    uint8_t *(*builders[])(size_t *) = { build_elf32, build_elf64, build_aout };
    GRand *r = g_rand_new_with_seed(1234);
    unsigned loaded = 0;

    for (int iter = 0; iter < 3000; iter++) {
        g_autoptr(GError) err = NULL;
        size_t len;
        g_autofree uint8_t *img = builders[iter % 3](&len);
        int flips = g_rand_int_range(r, 1, 8);

        for (int i = 0; i < flips; i++) {
            /* Mostly the headers, where the loader looks. */
            size_t off = g_rand_boolean(r) ? (size_t)g_rand_int_range(r, 0, 0x120)
                                           : (size_t)g_rand_int_range(r, 0, (gint32)len);
            img[off] = (uint8_t)g_rand_int(r);
        }
        if (g_rand_int_range(r, 0, 8) == 0) {
            len = (size_t)g_rand_int_range(r, 0, (gint32)len);
        }
        if (load(m, img, len, "f", NULL, &err)) {
            loaded++;
            g_assert_null(err);
            ram_machine_clear_roms(m);
        } else {
            g_assert_nonnull(err);
        }
    }
    g_assert_cmpuint(loaded, >, 0);
    g_rand_free(r);
    ram_machine_free(m);
}

/* ---- -kernel ------------------------------------------------------------ */

static void test_load_kernel(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-kernel-XXXXXX", NULL);
    size_t len;
    g_autofree uint8_t *img = build_elf32(&len);
    g_autofree char *good = write_tmp(dir, "good.elf", img, len);
    uint8_t junk[0x400] = { 0 };
    g_autofree char *plain = write_tmp(dir, "plain.bin", junk, sizeof(junk));
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autofree char *want = NULL;

    memcpy(junk + 0x202, "HdrS", 4);
    g_autofree char *bz = write_tmp(dir, "bzImage", junk, sizeof(junk));

    g_assert_false(loader_load_kernel(m, missing, NULL, NULL, &err));
    want = g_strdup_printf("could not read kernel '%s': No such file or directory", missing);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
    g_free(want);

    g_assert_false(loader_load_kernel(m, plain, NULL, NULL, &err));
    want = g_strdup_printf("'%s' is not a kernel kemu can boot (no multiboot header)", plain);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    g_assert_false(loader_load_kernel(m, bz, NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "bzImage"));
    g_assert_nonnull(strstr(err->message, bz));
    g_clear_error(&err);

    g_assert_false(loader_load_kernel(m, "/dev/zero", NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, "larger than guest RAM"));
    g_clear_error(&err);
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);

    g_assert_true(loader_load_kernel(m, good, "quiet", NULL, &err));
    g_assert_no_error(err);
    check_segment(m, img, &elf32_segs[1]);
    g_free(want);
    want = g_strdup_printf("%s quiet", good);
    g_assert_cmpstr(ram_str(m, ram32(m, INFO + 16)), ==, want);

    g_unlink(good);
    g_unlink(plain);
    g_unlink(bz);
    g_rmdir(dir);
    ram_machine_free(m);
}

/* ---- -device loader ----------------------------------------------------- */

static bool loader_dev(Machine *m, const char *opts, GError **errp)
{
    Opts *o = opts_parse(opts, NULL, errp);
    bool ok;

    g_assert_nonnull(o);
    ok = generic_loader_type.create(m, o, errp);
    opts_free(o);
    return ok;
}

static void test_loader_raw(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-loader-XXXXXX", NULL);
    uint8_t code[300];
    g_autofree char *path = NULL;
    g_autofree char *opts = NULL;

    pattern(code, sizeof(code), 9);
    path = write_tmp(dir, "boot.bin", code, sizeof(code));
    opts = g_strdup_printf("file=%s,addr=0x7c00,cpu-num=0,id=ld0", path);
    g_assert_true(loader_dev(m, opts, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(guest_ram(m, 0x7c00, sizeof(code)), sizeof(code), code, sizeof(code));
    g_assert_cmphex(m->boot_state.seg[SEG_CS].selector, ==, 0x7c0);
    g_assert_cmphex(m->boot_state.seg[SEG_CS].base, ==, 0x7c00);
    g_assert_cmphex(m->boot_state.rip, ==, 0);
    g_assert_false(m->boot_state.cr0 & CR0_PE);
    g_assert_nonnull(device_find(m, "ld0"));

    g_unlink(path);
    g_rmdir(dir);
    ram_machine_free(m);
}

static void test_loader_data(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    static const uint8_t le[] = { 0x44, 0x33, 0x22, 0x11 };
    static const uint8_t be[] = { 0xaa, 0xbb };

    g_assert_true(loader_dev(m, "addr=0x5000,data=0x11223344,data-len=4", &err));
    g_assert_true(loader_dev(m, "addr=0x6000,data=0xaabb,data-len=2,data-be=on", &err));
    g_assert_no_error(err);
    g_assert_cmpmem(guest_ram(m, 0x5000, 4), 4, le, 4);
    g_assert_cmpmem(guest_ram(m, 0x6000, 2), 2, be, 2);
    memset(guest_ram(m, 0x5000, 4), 0, 4);
    machine_roms_reload(m);
    g_assert_cmpmem(guest_ram(m, 0x5000, 4), 4, le, 4);
    ram_machine_free(m);
}

static void test_loader_pc_only(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;

    g_assert_true(loader_dev(m, "addr=0x12345,cpu-num=0", &err));
    g_assert_no_error(err);
    g_assert_cmphex(m->boot_state.seg[SEG_CS].selector, ==, 0x1234);
    g_assert_cmphex(m->boot_state.rip, ==, 5);
    ram_machine_free(m);
}

static void test_loader_elf(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-loader-XXXXXX", NULL);
    static const Seg segs[] = {
        { .paddr = 0x8000, .vaddr = 0x8000, .offset = 0x1000, .filesz = 0x80, .memsz = 0x200,
          .flags = 5 },
    };
    size_t len;
    g_autofree uint8_t *img = build_elf(false, 3, 0x8010, segs, 1, &len);
    g_autofree char *path = write_tmp(dir, "prog.elf", img, len);
    g_autofree char *opts = g_strdup_printf("file=%s,cpu-num=0", path);
    g_autofree char *raw = g_strdup_printf("file=%s,addr=0x200000,force-raw=on", path);

    g_assert_true(loader_dev(m, opts, &err));
    g_assert_no_error(err);
    check_segment(m, img, &segs[0]);
    g_assert_cmphex(m->boot_state.seg[SEG_CS].selector, ==, 0x801);
    g_assert_cmphex(m->boot_state.rip, ==, 0);

    g_assert_true(loader_dev(m, raw, &err));
    g_assert_cmpmem(guest_ram(m, 0x200000, len), len, img, len);

    g_unlink(path);
    g_rmdir(dir);
    ram_machine_free(m);
}

typedef struct LoaderBad {
    const char *opts;
    const char *want;
} LoaderBad;

static const LoaderBad loader_bad[] = {
    { "addr=0x1000,data=5", "data-len" },
    { "addr=0x1000,data=5,data-len=9", "1 to 8" },
    { "addr=0x1000,data=5,data-len=0", "1 to 8" },
    { "data=5,data-len=4", "addr=" },
    { "file=/dev/null,data=5,data-len=1,addr=0", "cannot be combined" },
    { "addr=0x1000,cpu-num=1", "only the boot CPU" },
    { "addr=0x1000", "cpu-num" },
    { "", "give file=" },
    { "force-raw=on", "force-raw" },
    { "addr=0x200000,cpu-num=0", "real mode" },
    { "addr=0x10000000,data=1,data-len=1", "outside guest RAM" },
    { "file=/nonexistent/kemu-file,addr=0", "could not read file '/nonexistent/kemu-file'" },
    { "file=/dev/zero,addr=0", "larger than guest RAM" },
    { "addr=0x1000,data=1,data-len=1,bogus=1", "bogus" },
    { "addr=zz,cpu-num=0", "addr" },
};

static void test_loader_bad(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(loader_bad); i++) {
        Machine *m = ram_machine_new(64 * MiB, 0);
        g_autoptr(GError) err = NULL;

        g_assert_false(loader_dev(m, loader_bad[i].opts, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, loader_bad[i].want)) {
            g_error("'%s': error '%s' does not mention '%s'", loader_bad[i].opts,
                    err->message, loader_bad[i].want);
        }
        g_assert_null(m->devices);
        ram_machine_free(m);
    }
}

/* A file too big for RAM at its address is refused, nothing written. */
static void test_loader_elf_outside_ram(void)
{
    Machine *m = ram_machine_new(64 * MiB, 0);
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("kemu-loader-XXXXXX", NULL);
    static const Seg segs[] = {
        { .paddr = 0x8000, .vaddr = 0x8000, .offset = 0x1000, .filesz = 0x80, .memsz = 0x80,
          .flags = 5 },
        { .paddr = 0x8000000, .vaddr = 0x8000000, .offset = 0x1000, .filesz = 0x80,
          .memsz = 0x80, .flags = 6 },
    };
    size_t len;
    g_autofree uint8_t *img = build_elf(false, 3, 0x8000, segs, 2, &len);
    g_autofree char *path = write_tmp(dir, "prog.elf", img, len);
    g_autofree char *opts = g_strdup_printf("file=%s", path);

    g_assert_false(loader_dev(m, opts, &err));
    g_assert_nonnull(strstr(err->message, "outside guest RAM"));
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
    g_unlink(path);
    g_rmdir(dir);
    ram_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/multiboot/probe", test_probe);
    g_test_add_func("/multiboot/elf32", test_elf32);
    g_test_add_func("/multiboot/cmdline-without-append", test_cmdline_without_append);
    g_test_add_func("/multiboot/mmap-small", test_mmap_small);
    g_test_add_func("/multiboot/mmap-high", test_mmap_high);
    g_test_add_func("/multiboot/elf64", test_elf64);
    g_test_add_func("/multiboot/aout", test_aout);
    g_test_add_func("/multiboot/aout-overrides-elf", test_aout_overrides_elf);
    g_test_add_func("/multiboot/modules", test_modules);
    g_test_add_func("/multiboot/reset-reload", test_reset_reload);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *name = g_strdup_printf("/multiboot/bad/%s", bad_cases[i].name);
        g_test_add_data_func(name, &bad_cases[i], test_bad_image);
    }
    g_test_add_func("/multiboot/bad/too-many-modules", test_too_many_modules);
    g_test_add_func("/multiboot/fuzz", test_fuzz);
    g_test_add_func("/loader/kernel", test_load_kernel);
    g_test_add_func("/loader/device/raw", test_loader_raw);
    g_test_add_func("/loader/device/data", test_loader_data);
    g_test_add_func("/loader/device/pc-only", test_loader_pc_only);
    g_test_add_func("/loader/device/elf", test_loader_elf);
    g_test_add_func("/loader/device/elf-outside-ram", test_loader_elf_outside_ram);
    g_test_add_func("/loader/device/bad", test_loader_bad);
    return g_test_run();
}
