/*
 * Linux boot protocol loader on bzImages and vmlinux files synthesised in
 * memory: what lands where in guest RAM, boot_params, the page tables and
 * GDT the 64-bit entry needs, the CPU state, the initrd and command line,
 * and clean refusals of hostile images. With KEMU_LINUX_KERNEL=path a
 * real (e.g. Debian) bzImage is loaded and checked too.
 */
#include <string.h>
#include <glib/gstdio.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include "hw/loader.h"
#include "hw/x86/acpi-build.h"
#include "hw/x86/e820.h"
#include "hw/x86/linux.h"
#include "kemu/bytes.h"
#include "kemu/error.h"
#include "ram-machine.h"

#define MiB (1024 * 1024ull)
#define KERNEL_PADDR 0x1000000ull
#define KERNEL_VADDR 0xffffffff81000000ull
#define TEXT_SIZE 0x3000u
#define DATA_FILESZ 0x800u
#define DATA_MEMSZ 0x5000u
#define DATA_PADDR (KERNEL_PADDR + 0x200000)
#define SETUP_SECTS 4
#define BP LINUX_BOOT_PARAMS_ADDR

/* ---- image builders ---------------------------------------------------- */

typedef struct Buf {
    uint8_t *data;
    size_t len;
} Buf;

/* A 64-bit vmlinux: text (0xcc-filled, entry at its start) at 16 MiB,
 * data with bss 2 MiB higher, linked at the kernel's virtual base. */
static Buf build_vmlinux(bool is64)
{
    const size_t phoff = 64, text_off = 0x1000, data_off = text_off + TEXT_SIZE;
    Buf b = { g_malloc0(data_off + DATA_FILESZ), data_off + DATA_FILESZ };
    uint8_t *e = b.data;

    memcpy(e, "\177ELF", 4);
    e[4] = is64 ? 2 : 1;
    e[5] = 1;
    e[6] = 1;
    st16_le(e + 16, 2);                      /* ET_EXEC */
    st16_le(e + 18, is64 ? 62 : 3);
    st32_le(e + 20, 1);
    if (!is64) {
        /* Minimal ELF32 with one segment at 16 MiB. */
        st32_le(e + 24, (uint32_t)KERNEL_PADDR);
        st32_le(e + 28, 52);
        st16_le(e + 40, 52);
        st16_le(e + 42, 32);
        st16_le(e + 44, 1);
        uint8_t *ph = e + 52;
        st32_le(ph, 1);
        st32_le(ph + 4, (uint32_t)text_off);
        st32_le(ph + 8, (uint32_t)KERNEL_PADDR);
        st32_le(ph + 12, (uint32_t)KERNEL_PADDR);
        st32_le(ph + 16, TEXT_SIZE);
        st32_le(ph + 20, TEXT_SIZE);
        st32_le(ph + 24, 5);
        return b;
    }
    st64_le(e + 24, KERNEL_PADDR);           /* e_entry: phys_startup_64 */
    st64_le(e + 32, phoff);
    st16_le(e + 52, 64);
    st16_le(e + 54, 56);
    st16_le(e + 56, 2);
    for (int i = 0; i < 2; i++) {
        uint8_t *ph = e + phoff + 56 * i;
        st32_le(ph, 1);                      /* PT_LOAD */
        st32_le(ph + 4, i ? 6 : 5);          /* RW / RX */
        st64_le(ph + 8, i ? data_off : text_off);
        st64_le(ph + 16, KERNEL_VADDR + (i ? 0x200000 : 0));
        st64_le(ph + 24, i ? DATA_PADDR : KERNEL_PADDR);
        st64_le(ph + 32, i ? DATA_FILESZ : TEXT_SIZE);
        st64_le(ph + 40, i ? DATA_MEMSZ : TEXT_SIZE);
    }
    memset(b.data + text_off, 0xcc, TEXT_SIZE);
    memset(b.data + data_off, 0xda, DATA_FILESZ);
    return b;
}

typedef enum { PAY_GZIP, PAY_XZ, PAY_ZSTD, PAY_RAW } Payload;

static Buf compress_payload(const Buf *in, Payload how)
{
    Buf out = { g_malloc(in->len * 2 + 4096), 0 };

    if (how == PAY_GZIP) {
        z_stream zs = { 0 };
        g_assert_cmpint(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                     Z_DEFAULT_STRATEGY), ==, Z_OK);
        zs.next_in = in->data;
        zs.avail_in = (uInt)in->len;
        zs.next_out = out.data;
        zs.avail_out = (uInt)(in->len * 2 + 4096);
        g_assert_cmpint(deflate(&zs, Z_FINISH), ==, Z_STREAM_END);
        out.len = zs.total_out;
        deflateEnd(&zs);
    } else if (how == PAY_XZ) {
        g_assert_cmpint(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in->data, in->len,
                                                out.data, &out.len, in->len * 2 + 4096),
                        ==, LZMA_OK);
    } else if (how == PAY_ZSTD) {
        out.len = ZSTD_compress(out.data, in->len * 2 + 4096, in->data, in->len, 3);
        g_assert_false(ZSTD_isError(out.len));
    } else {
        memcpy(out.data, in->data, in->len);
        out.len = in->len;
    }
    /* The size word the kernel build appends. */
    st32_le(out.data + out.len, (uint32_t)in->len);
    out.len += 4;
    return out;
}

/* A bzImage: boot sector + setup sectors with the header, then the
 * protected-mode part holding the payload at payload_offset 0x100. */
static Buf build_bzimage_from(const Buf *payload, uint16_t version)
{
    const size_t setup = (SETUP_SECTS + 1) * 512, poff = 0x100;
    Buf b = { g_malloc0(setup + poff + payload->len + 64), setup + poff + payload->len + 64 };
    uint8_t *h = b.data;

    h[0x1f1] = SETUP_SECTS;
    st16_le(h + 0x1fe, 0xaa55);
    h[0x200] = 0xeb;                       /* jmp short over the header */
    h[0x201] = 0x6a;                       /* header ends at 0x26c, as in 6.1 */
    memcpy(h + 0x202, "HdrS", 4);
    st16_le(h + 0x206, version);
    h[0x211] = 0x01;                       /* LOADED_HIGH */
    st32_le(h + 0x214, 0x100000);
    st32_le(h + 0x22c, 0x7fffffff);          /* initrd_addr_max */
    st32_le(h + 0x230, 0x200000);
    h[0x234] = 1;
    st16_le(h + 0x236, 0x7f);                /* xloadflags */
    st32_le(h + 0x238, 2047);                /* cmdline_size */
    st32_le(h + 0x248, (uint32_t)poff);
    st32_le(h + 0x24c, (uint32_t)payload->len);
    st64_le(h + 0x258, KERNEL_PADDR);        /* pref_address */
    st32_le(h + 0x260, 0x2000000);           /* init_size */
    memcpy(b.data + setup + poff, payload->data, payload->len);
    return b;
}

static Buf build_bzimage(Payload how)
{
    Buf elf = build_vmlinux(true);
    Buf pay = compress_payload(&elf, how);
    Buf bz = build_bzimage_from(&pay, 0x020f);

    g_free(elf.data);
    g_free(pay.data);
    return bz;
}

/* ---- checks ------------------------------------------------------------ */

/* Walk the loader's page tables for @va: 4-level, 2 MiB pages. */
static uint64_t walk(Machine *m, uint64_t cr3, uint64_t va)
{
    uint64_t pml4e = ld64_le(guest_ram(m, cr3 + 8 * ((va >> 39) & 511), 8));
    uint64_t pdpte, pde;

    g_assert_true(pml4e & 1);
    pdpte = ld64_le(guest_ram(m, (pml4e & ~0xfffull) + 8 * ((va >> 30) & 511), 8));
    g_assert_true(pdpte & 1);
    g_assert_false(pdpte & 0x80);
    pde = ld64_le(guest_ram(m, (pdpte & ~0xfffull) + 8 * ((va >> 21) & 511), 8));
    g_assert_cmphex(pde & 0x83, ==, 0x83);  /* present, writable, 2 MiB */
    return (pde & ~0x1fffffull) + (va & 0x1fffff);
}

static void check_cpu_state(Machine *m)
{
    const X86CpuState *s = &m->boot_state;
    const uint8_t *gdt;

    g_assert_cmphex(s->rip, ==, KERNEL_PADDR);
    g_assert_cmphex(s->regs[R_ESI], ==, BP);
    g_assert_cmphex(s->rflags & RFLAGS_IF, ==, 0);
    g_assert_cmphex(s->cr0 & (CR0_PE | CR0_PG), ==, CR0_PE | CR0_PG);
    g_assert_cmphex(s->cr4 & CR4_PAE, ==, CR4_PAE);
    g_assert_cmphex(s->efer & (EFER_LME | EFER_LMA), ==, EFER_LME | EFER_LMA);
    g_assert_cmphex(s->seg[SEG_CS].selector, ==, 0x10);
    g_assert_true(s->seg[SEG_CS].l && !s->seg[SEG_CS].db && s->seg[SEG_CS].present);
    for (int i = 0; i < SEG_NR; i++) {
        if (i != SEG_CS && i <= SEG_GS) {
            g_assert_cmphex(s->seg[i].selector, ==, 0x18);
            g_assert_true(s->seg[i].present && s->seg[i].s);
        }
    }
    /* The GDT holds what the selectors say. */
    g_assert_cmpuint(s->gdt.limit, >=, 0x1f);
    gdt = guest_ram(m, s->gdt.base, 0x20);
    g_assert_cmphex(ld64_le(gdt + 0x10), ==, 0x00af9b000000ffffull);
    g_assert_cmphex(ld64_le(gdt + 0x18), ==, 0x00cf93000000ffffull);
    /* Identity map over the kernel, boot_params, command line, and up to 4 GiB. */
    g_assert_cmphex(walk(m, s->cr3, KERNEL_PADDR + 0x123), ==, KERNEL_PADDR + 0x123);
    g_assert_cmphex(walk(m, s->cr3, BP), ==, BP);
    g_assert_cmphex(walk(m, s->cr3, LINUX_CMDLINE_ADDR), ==, LINUX_CMDLINE_ADDR);
    g_assert_cmphex(walk(m, s->cr3, 0xfffff000ull), ==, 0xfffff000ull);
}

static void check_kernel_bytes(Machine *m)
{
    const uint8_t *text = guest_ram(m, KERNEL_PADDR, TEXT_SIZE);
    const uint8_t *data = guest_ram(m, DATA_PADDR, DATA_MEMSZ);

    for (unsigned i = 0; i < TEXT_SIZE; i++) {
        g_assert_cmphex(text[i], ==, 0xcc);
    }
    for (unsigned i = 0; i < DATA_MEMSZ; i++) {
        g_assert_cmphex(data[i], ==, i < DATA_FILESZ ? 0xda : 0);
    }
}

static void check_params(Machine *m, const char *cmdline, uint16_t version)
{
    const uint8_t *bp = guest_ram(m, BP, 4096);
    E820Entry want[E820_MAX_ENTRIES];
    unsigned n = e820_build(m, want);

    g_assert_true(memcmp(bp + 0x202, "HdrS", 4) == 0);
    g_assert_cmphex(ld16_le(bp + 0x206), ==, version);
    g_assert_cmphex(bp[0x210], ==, 0xff);                 /* type_of_loader */
    g_assert_cmphex(bp[0x211] & 0x81, ==, 0x81);          /* LOADED_HIGH | CAN_USE_HEAP */
    g_assert_cmphex(bp[0x1ef], ==, 0);                    /* sentinel */
    g_assert_cmphex(ld32_le(bp + 0x228), ==, LINUX_CMDLINE_ADDR);
    g_assert_cmpstr((char *)guest_ram(m, LINUX_CMDLINE_ADDR, 1), ==, cmdline);
    g_assert_cmphex(ld64_le(bp + 0x070), ==, ACPI_RSDP_ADDR);
    g_assert_cmphex(acpi_rsdp_addr(m), ==, ACPI_RSDP_ADDR);
    g_assert_cmpuint(bp[0x1e8], ==, n);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = bp + 0x2d0 + 20 * i;
        g_assert_cmphex(ld64_le(e), ==, want[i].addr);
        g_assert_cmphex(ld64_le(e + 8), ==, want[i].size);
        g_assert_cmpuint(ld32_le(e + 16), ==, want[i].type);
    }
}

/* ---- tests ----------------------------------------------------------------- */

static void test_bzimage_formats(void)
{
    const Payload formats[] = { PAY_GZIP, PAY_XZ, PAY_ZSTD };

    for (unsigned i = 0; i < G_N_ELEMENTS(formats); i++) {
        Machine *m = ram_machine_new(64 * MiB, 1);
        g_autoptr(GError) err = NULL;
        Buf bz = build_bzimage(formats[i]);

        g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "console=ttyS0 quiet", NULL,
                                         &err));
        g_assert_no_error(err);
        check_kernel_bytes(m);
        check_params(m, "console=ttyS0 quiet", 0x020f);
        check_cpu_state(m);
        /* The rest of the file's setup header made it across. */
        g_assert_cmphex(ld32_le(guest_ram(m, BP + 0x260, 4)), ==, 0x2000000);
        g_assert_cmpuint(ld32_le(guest_ram(m, BP + 0x218, 4)), ==, 0);   /* no initrd */
        g_free(bz.data);
        ram_machine_free(m);
    }
}

/* Guest RAM is restored from the ROM list on reset. */
static void test_reset_reload(void)
{
    Machine *m = ram_machine_new(64 * MiB, 1);
    g_autoptr(GError) err = NULL;
    Buf bz = build_bzimage(PAY_GZIP);

    g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "x", NULL, &err));
    memset(guest_ram(m, 0, 0x30000), 0x55, 0x30000);
    memset(guest_ram(m, KERNEL_PADDR, TEXT_SIZE), 0x55, TEXT_SIZE);
    memset(guest_ram(m, DATA_PADDR, DATA_MEMSZ), 0x55, DATA_MEMSZ);
    memset(guest_ram(m, ACPI_AREA_START, 0x100), 0, 0x100);
    machine_roms_reload(m);
    check_kernel_bytes(m);
    check_params(m, "x", 0x020f);
    check_cpu_state(m);
    g_free(bz.data);
    ram_machine_free(m);
}

static char *write_tmp(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
    return path;
}

/* -kernel with an ELF vmlinux and a bzImage, through the dispatcher. */
static void test_load_kernel_dispatch(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-linux-XXXXXX", NULL);
    Buf elf = build_vmlinux(true), elf32 = build_vmlinux(false), bz = build_bzimage(PAY_XZ);
    g_autofree char *pe = write_tmp(dir, "vmlinux", elf.data, elf.len);
    g_autofree char *pe32 = write_tmp(dir, "vmlinux32", elf32.data, elf32.len);
    g_autofree char *pb = write_tmp(dir, "bzImage", bz.data, bz.len);
    Machine *m = ram_machine_new(64 * MiB, 1);
    g_autoptr(GError) err = NULL;

    g_assert_true(loader_load_kernel(m, pe, "root=/dev/vda", NULL, &err));
    g_assert_no_error(err);
    check_kernel_bytes(m);
    check_params(m, "root=/dev/vda", 0x020f);
    check_cpu_state(m);
    g_assert_cmpuint(ld32_le(guest_ram(m, BP + 0x238, 4)), ==, 2047);
    g_assert_cmphex(ld16_le(guest_ram(m, BP + 0x1fe, 2)), ==, 0xaa55);
    ram_machine_free(m);

    m = ram_machine_new(64 * MiB, 1);
    g_assert_true(loader_load_kernel(m, pb, NULL, NULL, &err));
    check_params(m, "", 0x020f);
    ram_machine_free(m);

    m = ram_machine_new(64 * MiB, 1);
    g_assert_false(loader_load_kernel(m, pe32, NULL, NULL, &err));
    g_assert_nonnull(strstr(err->message, pe32));
    g_assert_nonnull(strstr(err->message, "only 64-bit Linux kernels"));
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
    ram_machine_free(m);

    g_unlink(pe);
    g_unlink(pe32);
    g_unlink(pb);
    g_rmdir(dir);
    g_free(elf.data);
    g_free(elf32.data);
    g_free(bz.data);
}

static void test_initrd(void)
{
    g_autofree char *dir = g_dir_make_tmp("kemu-linux-XXXXXX", NULL);
    const size_t len = MiB + 5;
    g_autofree uint8_t *data = g_malloc(len);
    g_autofree char *path = NULL;
    Buf bz = build_bzimage(PAY_GZIP);
    Machine *m = ram_machine_new(64 * MiB, 1);
    g_autoptr(GError) err = NULL;
    uint32_t addr;

    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    path = write_tmp(dir, "initrd", data, len);
    g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "", path, &err));
    g_assert_no_error(err);
    addr = ld32_le(guest_ram(m, BP + 0x218, 4));
    g_assert_cmpuint(ld32_le(guest_ram(m, BP + 0x21c, 4)), ==, len);
    g_assert_cmphex(addr & 0xfff, ==, 0);
    g_assert_cmpuint(addr + len, <=, 64 * MiB);
    g_assert_cmpuint(addr + len, >, 64 * MiB - 4096);     /* as high as possible */
    g_assert_true(memcmp(guest_ram(m, addr, len), data, len) == 0);
    ram_machine_free(m);

    /* initrd_addr_max (the last byte it may use) is honoured. */
    st32_le(bz.data + 0x22c, 48 * MiB - 1);
    m = ram_machine_new(64 * MiB, 1);
    g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "", path, &err));
    addr = ld32_le(guest_ram(m, BP + 0x218, 4));
    g_assert_cmpuint(addr + len, <=, 48 * MiB);
    g_assert_cmpuint(addr + len, >, 48 * MiB - 4096);
    ram_machine_free(m);

    /* No room above the kernel: refused, nothing written. */
    st32_le(bz.data + 0x22c, KERNEL_PADDR + 0x280000);
    m = ram_machine_new(64 * MiB, 1);
    g_assert_false(linux_load_bzimage(m, bz.data, bz.len, "", path, &err));
    g_assert_nonnull(strstr(err->message, "does not fit"));
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
    g_clear_error(&err);
    ram_machine_free(m);

    m = ram_machine_new(64 * MiB, 1);
    g_assert_false(linux_load_bzimage(m, bz.data, bz.len, "", "/nonexistent/initrd", &err));
    g_assert_nonnull(strstr(err->message, "could not read initrd"));
    ram_machine_free(m);

    g_unlink(path);
    g_rmdir(dir);
    g_free(bz.data);
}

static void test_cmdline_limit(void)
{
    Buf bz = build_bzimage(PAY_GZIP);
    Machine *m = ram_machine_new(64 * MiB, 1);
    g_autoptr(GError) err = NULL;

    st32_le(bz.data + 0x238, 16);
    g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "0123456789abcdef", NULL, &err));
    ram_machine_free(m);
    m = ram_machine_new(64 * MiB, 1);
    g_assert_false(linux_load_bzimage(m, bz.data, bz.len, "0123456789abcdefg", NULL, &err));
    g_assert_cmpstr(err->message, ==, "the kernel command line is 17 bytes long; this "
                    "kernel accepts at most 16");
    g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
    ram_machine_free(m);
    g_free(bz.data);
}

/* ---- hostile images ------------------------------------------------------------ */

typedef void (*Mutate)(Buf *b);

static void mut_old_version(Buf *b) { st16_le(b->data + 0x206, 0x0207); }
static void mut_boot_flag(Buf *b) { st16_le(b->data + 0x1fe, 0); }
static void mut_setup_sects(Buf *b) { b->data[0x1f1] = 0xff; }
static void mut_short(Buf *b) { b->len = 0x240; }
static void mut_payload_off(Buf *b) { st32_le(b->data + 0x248, 0xfffffff0u); }
static void mut_payload_len(Buf *b) { st32_le(b->data + 0x24c, (uint32_t)b->len); }
static void mut_payload_zero(Buf *b) { st32_le(b->data + 0x24c, 0); }
static void mut_payload_junk(Buf *b) { memset(b->data + 0xb00, 0x42, 16); }
static void mut_payload_cut(Buf *b) { st32_le(b->data + 0x24c, ld32_le(b->data + 0x24c) / 2); }
static void mut_jump_offset(Buf *b) { b->data[0x201] = 0xff; }

static Buf build_with(const Buf *elf, Payload how)
{
    Buf pay = compress_payload(elf, how);
    Buf bz = build_bzimage_from(&pay, 0x020f);

    g_free(pay.data);
    return bz;
}

/* ELF-level problems, wrapped in a valid bzImage. */
static void elf_segment_low(Buf *e) { st64_le(e->data + 64 + 24, 0x90000); }
static void elf_segment_high(Buf *e) { st64_le(e->data + 64 + 56 + 24, 64 * MiB - 0x1000); }
static void elf_entry_outside(Buf *e) { st64_le(e->data + 24, 0x3000000); }
static void elf_32bit(Buf *e) { st16_le(e->data + 18, 3); }   /* EM_386 */
static void elf_not_elf(Buf *e) { e->data[0] = 'X'; }
static void elf_phnum(Buf *e) { st16_le(e->data + 56, 1000); }

static void test_hostile(void)
{
    static const struct {
        const char *name;
        Mutate bz, elf;
        const char *msg;
    } cases[] = {
        { "old-version", mut_old_version, NULL, "boot protocol 2.07 is too old" },
        { "boot-flag", mut_boot_flag, NULL, "bad boot_flag" },
        { "setup-sects", mut_setup_sects, NULL, "255 setup sectors" },
        { "short", mut_short, NULL, "too short for a setup header" },
        { "payload-offset", mut_payload_off, NULL, "lies outside the file" },
        { "payload-length", mut_payload_len, NULL, "lies outside the file" },
        { "payload-zero", mut_payload_zero, NULL, "lies outside the file" },
        { "payload-junk", mut_payload_junk, NULL, "unknown compression format" },
        { "payload-cut", mut_payload_cut, NULL, "truncated" },
        { "jump-offset", mut_jump_offset, NULL, NULL },
        { "segment-low", NULL, elf_segment_low, "lies outside the usable RAM" },
        { "segment-high", NULL, elf_segment_high, "try a larger -m" },
        { "entry", NULL, elf_entry_outside, "not inside a loaded segment" },
        { "elf32", NULL, elf_32bit, "only 64-bit" },
        { "not-elf", NULL, elf_not_elf, "not an ELF vmlinux" },
        { "phnum", NULL, elf_phnum, "program headers" },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        Buf elf = build_vmlinux(true);
        Machine *m = ram_machine_new(64 * MiB, 1);
        g_autoptr(GError) err = NULL;
        Buf bz;
        bool ok;

        if (cases[i].elf) {
            cases[i].elf(&elf);
        }
        bz = build_with(&elf, PAY_GZIP);
        if (cases[i].bz) {
            cases[i].bz(&bz);
        }
        ok = linux_load_bzimage(m, bz.data, bz.len, "", NULL, &err);
        if (!cases[i].msg) {
            /* The jump byte only bounds the header copy. */
            g_assert_true(ok);
        } else {
            if (ok || !strstr(err->message, cases[i].msg)) {
                g_error("case %s: %s", cases[i].name, err ? err->message : "loaded");
            }
            g_assert_cmpuint(ram_machine_nr_roms(m), ==, 0);
        }
        g_free(bz.data);
        g_free(elf.data);
        ram_machine_free(m);
    }
}

/* A payload that decompresses past the RAM below 4 GiB is cut off. */
static void test_payload_bomb(void)
{
    Buf big = { g_malloc0(40 * MiB), 40 * MiB };
    Buf bz;
    Machine *m = ram_machine_new(32 * MiB, 1);
    g_autoptr(GError) err = NULL;

    memcpy(big.data, "\177ELF", 4);
    bz = build_with(&big, PAY_ZSTD);
    g_assert_false(linux_load_bzimage(m, bz.data, bz.len, "", NULL, &err));
    g_assert_nonnull(strstr(err->message, "more than the limit"));
    g_free(big.data);
    g_free(bz.data);
    ram_machine_free(m);
}

/* Random corruption of the header and payload: errors, never crashes. */
static void test_fuzz(void)
{
    Buf good = build_bzimage(PAY_GZIP);
    GRand *r = g_rand_new_with_seed(0x4b454d55);
    unsigned loaded = 0;

    for (unsigned iter = 0; iter < 400; iter++) {
        Machine *m = ram_machine_new(32 * MiB, 1);
        g_autoptr(GError) err = NULL;
        Buf bz = { g_memdup2(good.data, good.len), good.len };
        unsigned flips = 1 + g_rand_int_range(r, 0, 8);

        for (unsigned f = 0; f < flips; f++) {
            /* Mostly the header, sometimes anywhere. */
            size_t at = g_rand_boolean(r) ? 0x1f1 + (size_t)g_rand_int_range(r, 0, 0x80)
                                          : (size_t)g_rand_int_range(r, 0, (gint32)bz.len);
            bz.data[at] = (uint8_t)g_rand_int(r);
        }
        if (linux_load_bzimage(m, bz.data, bz.len, "", NULL, &err)) {
            loaded++;
        } else {
            g_assert_nonnull(err);
        }
        g_free(bz.data);
        ram_machine_free(m);
    }
    g_test_message("fuzz: %u of 400 mutated images still loaded", loaded);
    g_rand_free(r);
    g_free(good.data);
}

/* Tables built by the board first are used, not rebuilt. */
static void test_acpi_prebuilt(void)
{
    Machine *m = ram_machine_new(64 * MiB, 1);
    g_autoptr(GError) err = NULL;
    Buf bz = build_bzimage(PAY_GZIP);
    unsigned before;

    m->ncpus = 2;
    g_assert_true(acpi_build(m, &err));
    before = ram_machine_nr_roms(m);
    g_assert_true(linux_load_bzimage(m, bz.data, bz.len, "", NULL, &err));
    for (guint i = before; i < ram_machine_nr_roms(m); i++) {
        g_assert_cmphex(g_array_index(m->roms, RomBlob, i).gpa, !=, ACPI_AREA_START);
    }
    g_assert_cmphex(ld64_le(guest_ram(m, BP + 0x070, 8)), ==, ACPI_RSDP_ADDR);
    g_free(bz.data);
    ram_machine_free(m);
}

/* A real kernel (KEMU_LINUX_KERNEL=/path/to/vmlinuz), e.g. Debian's 6.1. */
static void test_real_kernel(void)
{
    const char *path = g_getenv("KEMU_LINUX_KERNEL");
    Machine *m;
    g_autoptr(GError) err = NULL;
    const uint8_t *bp;

    if (!path) {
        g_test_skip("KEMU_LINUX_KERNEL is not set (path to a bzImage such as Debian's "
                    "vmlinuz-6.1.0-*-amd64)");
        return;
    }
    m = ram_machine_new(256 * MiB, 1);
    g_assert_true(loader_load_kernel(m, path, "console=ttyS0", NULL, &err));
    g_assert_no_error(err);
    bp = guest_ram(m, BP, 4096);
    g_assert_cmphex(ld16_le(bp + 0x206), >=, 0x020e);
    g_assert_cmphex(ld64_le(bp + 0x070), ==, ACPI_RSDP_ADDR);
    /* Debian: LOAD_PHYSICAL_ADDR 16 MiB, startup_64 at the start of .text. */
    g_assert_cmphex(m->boot_state.rip, ==, KERNEL_PADDR);
    g_assert_cmphex(m->boot_state.regs[R_ESI], ==, BP);
    /* startup_64 begins "lea rsp, [rip + ...]": 48 8d 25. */
    g_assert_cmphex(ld32_le(guest_ram(m, KERNEL_PADDR, 4)) & 0xffffff, ==, 0x258d48);
    g_assert_true(memcmp(guest_ram(m, LINUX_CMDLINE_ADDR, 14), "console=ttyS0", 14) == 0);
    ram_machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/linux/bzimage-formats", test_bzimage_formats);
    g_test_add_func("/linux/reset-reload", test_reset_reload);
    g_test_add_func("/linux/load-kernel-dispatch", test_load_kernel_dispatch);
    g_test_add_func("/linux/initrd", test_initrd);
    g_test_add_func("/linux/cmdline-limit", test_cmdline_limit);
    g_test_add_func("/linux/hostile", test_hostile);
    g_test_add_func("/linux/payload-bomb", test_payload_bomb);
    g_test_add_func("/linux/fuzz", test_fuzz);
    g_test_add_func("/linux/acpi-prebuilt", test_acpi_prebuilt);
    g_test_add_func("/linux/real-kernel", test_real_kernel);
    return g_test_run();
}
