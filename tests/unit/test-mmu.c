/*
 * The interpreter's MMU (target/x86/sys/mmu.c): page walks in every paging
 * mode over hand-built page tables in a Machine's RAM, #PF error codes and
 * CR2, accessed/dirty bits, NX, WP, U/S, global pages across CR3 writes,
 * INVLPG, page-crossing accesses, the MMIO slow path and the rule that
 * pages holding decoded code never get a write TLB entry.
 *
 * The MMU's collaborators in core/ (lazy flags, the code-page map) are
 * replaced by weak fakes below, so the test does not depend on core/.
 */
#include <setjmp.h>
#include <string.h>
#include <glib.h>
#include "accel/accel.h"
#include "hw/iobus.h"
#include "system/machine.h"
#include "../../target/x86/interp.h"

#define RAM_SIZE (32u << 20)
#define MMIO_BASE 0xf0000000ull

#define P 1ull
#define W 2ull
#define U 4ull
#define A (1ull << 5)
#define D (1ull << 6)
#define PS (1ull << 7)
#define G (1ull << 8)
#define NX (1ull << 63)

/* ---- fakes for core/ and fpu/ (weak: real ones win if linked) ---- */

static uint64_t fake_code_page = ~0ull;   /* the one page "with code" */
static unsigned fake_invalidations;

__attribute__((weak)) uint64_t x86_get_rflags(CPU *cpu)
{
    return cpu->s.rflags;
}

__attribute__((weak)) void x86_set_rflags(CPU *cpu, uint64_t val, uint64_t mask)
{
    cpu->s.rflags = (cpu->s.rflags & ~mask) | (val & mask) | 2;
}

__attribute__((weak)) bool code_page_has_code(Machine *m, uint64_t paddr)
{
    (void)m;
    return (paddr & ~0xfffull) == fake_code_page;
}

__attribute__((weak)) void code_invalidate_page(Machine *m, uint64_t paddr)
{
    (void)m;
    if ((paddr & ~0xfffull) == fake_code_page) {
        fake_invalidations++;
    }
}

__attribute__((weak)) void fpu_reset(CPU *cpu)
{
    (void)cpu;
}

/* ---- a test MMIO device: reads return 0xa5000000 | offset ---- */

typedef struct TestDev {
    uint64_t last_off, last_val;
    unsigned reads, writes;
} TestDev;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    TestDev *d = opaque;

    (void)size;
    d->reads++;
    return 0xa5000000u | off;
}

static void dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    TestDev *d = opaque;

    (void)size;
    d->writes++;
    d->last_off = off;
    d->last_val = val;
}

static const IoOps dev_ops = {
    .read = dev_read, .write = dev_write, .min_size = 1, .max_size = 8,
};

/* ---- fixture ---- */

typedef struct Fixture {
    Machine *m;
    CPU *cpu;
    Vcpu vcpu;
    TestDev dev;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    GError *err = NULL;

    (void)data;
    f->m = g_new0(Machine, 1);
    f->m->cfg.ram_size = RAM_SIZE;
    g_assert_true(machine_ram_init(f->m, &err));
    f->m->mmio = iobus_new("mmio");
    f->m->pio = iobus_new("pio");
    g_assert_true(iobus_map(f->m->mmio, MMIO_BASE, 0x1000, &dev_ops, &f->dev, &err));
    f->cpu = g_new0(CPU, 1);
    f->cpu->m = f->m;
    f->cpu->vcpu = &f->vcpu;
    x86_cpu_reset(f->cpu, true);
    fake_code_page = ~0ull;
    fake_invalidations = 0;
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    iobus_free(f->m->mmio);
    iobus_free(f->m->pio);
    machine_ram_free(f->m);
    g_free(f->m);
    g_free(f->cpu);
}

static uint64_t *pa64(Fixture *f, uint64_t pa)
{
    uint64_t *p = machine_gpa_to_hva(f->m, pa, 8);
    g_assert_nonnull(p);
    return p;
}

static uint32_t *pa32(Fixture *f, uint64_t pa)
{
    uint32_t *p = machine_gpa_to_hva(f->m, pa, 4);
    g_assert_nonnull(p);
    return p;
}

static void set_cpl(CPU *cpu, unsigned cpl)
{
    cpu->s.seg[SEG_SS].dpl = cpl;
    cpu->s.seg[SEG_CS].dpl = cpl;
    cpu->s.seg[SEG_CS].selector = (cpu->s.seg[SEG_CS].selector & ~3) | cpl;
    x86_update_mode(cpu);
    g_assert_cmpuint(cpu->cpl, ==, cpl);
}

/* Accesses that report a fault instead of unwinding the test. */
static bool try_read(CPU *cpu, uint64_t la, unsigned size, uint64_t *v)
{
    jmp_buf jb;

    cpu->jmp = &jb;
    cpu->exc_vector = -1;
    if (setjmp(jb)) {
        cpu->jmp = NULL;
        return false;
    }
    *v = mem_read(cpu, la, size);
    cpu->jmp = NULL;
    return true;
}

static bool try_write(CPU *cpu, uint64_t la, uint64_t v, unsigned size)
{
    jmp_buf jb;

    cpu->jmp = &jb;
    cpu->exc_vector = -1;
    if (setjmp(jb)) {
        cpu->jmp = NULL;
        return false;
    }
    mem_write(cpu, la, v, size);
    cpu->jmp = NULL;
    return true;
}

static bool try_fetch(CPU *cpu, uint64_t la)
{
    jmp_buf jb;
    uint64_t pa;
    unsigned avail;

    cpu->jmp = &jb;
    cpu->exc_vector = -1;
    if (setjmp(jb)) {
        cpu->jmp = NULL;
        return false;
    }
    mmu_fetch(cpu, la, &pa, &avail);
    cpu->jmp = NULL;
    return true;
}

/* Assert that a @size-byte read of @la succeeds and gives @expect. */
static void assert_reads(CPU *cpu, uint64_t la, unsigned size, uint64_t expect)
{
    uint64_t v;

    g_assert_true(try_read(cpu, la, size, &v));
    g_assert_cmphex(v, ==, expect);
}

static void assert_pf(CPU *cpu, uint64_t cr2, uint32_t err)
{
    g_assert_cmpint(cpu->exc_vector, ==, EXC_PF);
    g_assert_cmphex(cpu->s.cr2, ==, cr2);
    g_assert_cmphex(cpu->exc_error, ==, err);
}

/*
 * Long mode: PML4 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000.
 *   la 0x10000 -> 0x200000 supervisor RW      la 0x11000 -> 0x201000 user RO
 *   la 0x12000 -> 0x202000 user RW NX         la 0x13000 not present
 *   la 0x14000 -> 0x204000 user RW global     la 0x15000 reserved bit 51
 *   la 0x16000 -> MMIO_BASE supervisor RW     la 0x17000 -> 0x207000 user RW
 *   la 0x18000 -> 0x208000 user RO
 *   la 2 MiB   -> 2 MiB page at 0x400000      la 1 GiB -> 1 GiB page at 1 GiB
 */
static void setup_long(Fixture *f)
{
    CPU *cpu = f->cpu;

    *pa64(f, 0x10000) = 0x11000 | P | W | U;
    *pa64(f, 0x11000) = 0x12000 | P | W | U;
    *pa64(f, 0x11008) = 0x40000000 | P | W | U | PS;
    *pa64(f, 0x12000) = 0x13000 | P | W | U;
    *pa64(f, 0x12008) = 0x400000 | P | W | U | PS;
    *pa64(f, 0x13000 + 0x10 * 8) = 0x200000 | P | W;
    *pa64(f, 0x13000 + 0x11 * 8) = 0x201000 | P | U;
    *pa64(f, 0x13000 + 0x12 * 8) = 0x202000 | P | W | U | NX;
    *pa64(f, 0x13000 + 0x14 * 8) = 0x204000 | P | W | U | G;
    *pa64(f, 0x13000 + 0x15 * 8) = 0x205000 | P | W | U | (1ull << 51);
    *pa64(f, 0x13000 + 0x16 * 8) = MMIO_BASE | P | W;
    *pa64(f, 0x13000 + 0x17 * 8) = 0x207000 | P | W | U;
    *pa64(f, 0x13000 + 0x18 * 8) = 0x208000 | P | U;

    cpu->s.cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_WP;
    cpu->s.cr4 = CR4_PAE | (1u << 7);           /* PAE, PGE */
    cpu->s.efer = EFER_LME | EFER_LMA | EFER_NXE;
    cpu->s.cr3 = 0x10000;
    cpu->s.seg[SEG_CS].l = 1;
    cpu->s.seg[SEG_CS].db = 0;
    x86_update_mode(cpu);
    mmu_flush(cpu, true);
    g_assert_true(cpu->code64);
    g_assert_true(cpu->paging);
}

static void test_long_translate(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t pa;

    (void)data;
    setup_long(f);
    g_assert_true(mmu_translate_debug(cpu, 0x10123, &pa));
    g_assert_cmphex(pa, ==, 0x200123);
    g_assert_true(mmu_translate_debug(cpu, 0x200000 + 0x12345, &pa));
    g_assert_cmphex(pa, ==, 0x412345);
    g_assert_true(mmu_translate_debug(cpu, 0x40000000 + 0x1234567, &pa));
    g_assert_cmphex(pa, ==, 0x41234567);
    g_assert_false(mmu_translate_debug(cpu, 0x13000, &pa));
    /* The debug walk sets no accessed bits. */
    g_assert_cmphex(*pa64(f, 0x10000) & A, ==, 0);

    *pa64(f, 0x200100) = 0x1122334455667788ull;
    assert_reads(cpu, 0x10100, 8, 0x1122334455667788ull);
    /* A on every level, D not yet. */
    g_assert_cmphex(*pa64(f, 0x10000) & A, ==, A);
    g_assert_cmphex(*pa64(f, 0x11000) & A, ==, A);
    g_assert_cmphex(*pa64(f, 0x12000) & A, ==, A);
    g_assert_cmphex(*pa64(f, 0x13000 + 0x10 * 8) & (A | D), ==, A);
    /* The read filled tag_r but not tag_w (D clear). */
    g_assert_cmphex(cpu->tlb[0][0x10].tag_r, ==, 0x10000);
    g_assert_cmphex(cpu->tlb[0][0x10].tag_w, ==, ~0ull);
    g_assert_true(try_write(cpu, 0x10100, 0xabcd, 2));
    g_assert_cmphex(*pa64(f, 0x13000 + 0x10 * 8) & D, ==, D);
    g_assert_cmphex(cpu->tlb[0][0x10].tag_w, ==, 0x10000);
    g_assert_cmphex(*pa64(f, 0x200100), ==, 0x112233445566abcdull);
    /* 2 MiB page: dirty bit in the PDE. */
    g_assert_true(try_write(cpu, 0x200000 + 0x5000, 7, 4));
    g_assert_cmphex(*pa64(f, 0x12008) & (A | D), ==, A | D);
    g_assert_cmpuint(*pa32(f, 0x405000), ==, 7);
}

static void test_long_faults(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t v;

    (void)data;
    setup_long(f);
    /* Not present: P=0. */
    g_assert_false(try_read(cpu, 0x13008, 4, &v));
    assert_pf(cpu, 0x13008, 0);
    g_assert_false(try_write(cpu, 0x13010, 1, 1));
    assert_pf(cpu, 0x13010, 2);
    g_assert_false(try_fetch(cpu, 0x13000));
    assert_pf(cpu, 0x13000, 0x10);
    /* Reserved bit. */
    g_assert_false(try_read(cpu, 0x15000, 4, &v));
    assert_pf(cpu, 0x15000, 0x9);
    /* NX: data access fine, fetch faults with I. */
    g_assert_true(try_read(cpu, 0x12000, 4, &v));
    g_assert_false(try_fetch(cpu, 0x12004));
    assert_pf(cpu, 0x12004, 0x11);
    g_assert_true(try_fetch(cpu, 0x10000));
    /* WP=1: supervisor write to a read-only page faults ... */
    g_assert_false(try_write(cpu, 0x11000, 1, 4));
    assert_pf(cpu, 0x11000, 0x3);
    /* ... WP=0: allowed. */
    cpu->s.cr0 &= ~(uint64_t)CR0_WP;
    mmu_flush(cpu, true);
    g_assert_true(try_write(cpu, 0x11000, 0x55, 4));
    g_assert_cmpuint(*pa32(f, 0x201000), ==, 0x55);
    cpu->s.cr0 |= CR0_WP;
    mmu_flush(cpu, true);

    /* CPL 3: supervisor page, read-only user page. */
    set_cpl(cpu, 3);
    g_assert_false(try_read(cpu, 0x10000, 4, &v));
    assert_pf(cpu, 0x10000, 0x5);
    assert_reads(cpu, 0x11000, 4, 0x55);
    g_assert_cmphex(cpu->tlb[TLB_USER][0x11].tag_r, ==, 0x11000);
    g_assert_cmphex(cpu->tlb[TLB_USER][0x11].tag_w, ==, ~0ull);
    g_assert_false(try_write(cpu, 0x11004, 1, 4));
    assert_pf(cpu, 0x11004, 0x7);
    g_assert_false(try_fetch(cpu, 0x13000));
    assert_pf(cpu, 0x13000, 0x14);
    /* The user TLB never holds the supervisor page. */
    g_assert_cmphex(cpu->tlb[TLB_USER][0x10].tag_r, ==, ~0ull);
}

static void test_page_crossing(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t v;

    (void)data;
    setup_long(f);
    *pa64(f, 0x207ff8) = 0x1111111111111111ull;
    *pa64(f, 0x208000) = 0x2222222222222222ull;
    assert_reads(cpu, 0x17ffc, 8, 0x2222222211111111ull);
    /* The second page is read-only: nothing is written to the first. */
    g_assert_false(try_write(cpu, 0x17ffe, 0xaaaabbbb, 4));
    assert_pf(cpu, 0x18000, 0x3);
    g_assert_cmphex(*pa64(f, 0x207ff8), ==, 0x1111111111111111ull);
    /* Crossing into a page that is not present. */
    g_assert_false(try_read(cpu, 0x12ffe, 4, &v));
    assert_pf(cpu, 0x13000, 0);
    /* A crossing read-modify-write is not given a pointer. */
    cpu->jmp = NULL;
    g_assert_null(mmu_rmw_ptr(cpu, 0x17ffe, 4));
}

static void test_global_and_invlpg(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t v;

    (void)data;
    setup_long(f);
    *pa32(f, 0x204000) = 0x600d;
    *pa32(f, 0x207000) = 0x01d;
    *pa32(f, 0x209000) = 0xbeef;
    *pa32(f, 0x409000) = 0x2a;
    *pa32(f, 0x609000) = 0x2b;
    g_assert_true(try_read(cpu, 0x14000, 4, &v));
    g_assert_true(try_read(cpu, 0x17000, 4, &v));
    assert_reads(cpu, 0x209000, 4, 0x2a);
    /* Remap all three without telling the TLB. */
    *pa64(f, 0x13000 + 0x14 * 8) = 0x209000 | P | W | U | G;
    *pa64(f, 0x13000 + 0x17 * 8) = 0x209000 | P | W | U;
    *pa64(f, 0x12008) = 0x600000 | P | W | U | PS;
    /* A CR3 write with CR4.PGE keeps the global page only. */
    mmu_flush(cpu, !(cpu->s.cr4 & (1u << 7)));
    assert_reads(cpu, 0x14000, 4, 0x600d);
    assert_reads(cpu, 0x17000, 4, 0xbeef);
    /* INVLPG drops the global entry too. */
    mmu_flush_page(cpu, 0x14000);
    assert_reads(cpu, 0x14000, 4, 0xbeef);
    /* INVLPG of another address in the same 2 MiB page drops its slices. */
    mmu_flush_page(cpu, 0x200000 + 0x1000);
    assert_reads(cpu, 0x209000, 4, 0x2b);
}

static void test_mmio(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t v;

    (void)data;
    setup_long(f);
    assert_reads(cpu, 0x16010, 4, 0xa5000010);
    g_assert_true(try_write(cpu, 0x16020, 0x1234, 2));
    g_assert_cmpuint(f->dev.writes, ==, 1);
    g_assert_cmphex(f->dev.last_off, ==, 0x20);
    g_assert_cmphex(f->dev.last_val, ==, 0x1234);
    /* No TLB tag for MMIO: every access reaches the device. */
    g_assert_cmphex(cpu->tlb[0][0x16].tag_r, ==, ~0ull);
    g_assert_cmphex(cpu->tlb[0][0x16].tag_w, ==, ~0ull);
    g_assert_true(try_read(cpu, 0x16010, 4, &v));
    g_assert_cmpuint(f->dev.reads, ==, 2);
    g_assert_null(mmu_rmw_ptr(cpu, 0x16000, 4));
    g_assert_nonnull(mmu_rmw_ptr(cpu, 0x17000, 4));
}

static void test_code_page(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;

    (void)data;
    setup_long(f);
    fake_code_page = 0x200000;
    g_assert_true(try_write(cpu, 0x10040, 0x90, 1));
    g_assert_cmphex(cpu->tlb[0][0x10].tag_r, ==, 0x10000);
    g_assert_cmphex(cpu->tlb[0][0x10].tag_w, ==, ~0ull);
    g_assert_cmpuint(fake_invalidations, ==, 1);
    g_assert_true(try_write(cpu, 0x10041, 0x90, 1));
    g_assert_cmpuint(fake_invalidations, ==, 2);
    assert_reads(cpu, 0x10040, 2, 0x9090);
    /* An ordinary page gets its write tag. */
    g_assert_true(try_write(cpu, 0x17000, 1, 1));
    g_assert_cmphex(cpu->tlb[0][0x17].tag_w, ==, 0x17000);
}

static void test_legacy32(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t pa, v;

    (void)data;
    /* PD 0x20000: PD[0] -> PT 0x21000; PD[1] 4 MiB page with PSE-36. */
    *pa32(f, 0x20000) = 0x21000 | P | W | U;
    *pa32(f, 0x20004) = 0x00c00000 | (1u << 13) | P | W | PS;
    *pa32(f, 0x21000 + 5 * 4) = 0x300000 | P | W | U;
    *pa32(f, 0x21000 + 6 * 4) = 0x301000 | P | U;
    cpu->s.cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_WP;
    cpu->s.cr4 = 1u << 4;                         /* PSE */
    cpu->s.cr3 = 0x20000;
    x86_update_mode(cpu);
    mmu_flush(cpu, true);

    g_assert_true(mmu_translate_debug(cpu, 0x5123, &pa));
    g_assert_cmphex(pa, ==, 0x300123);
    g_assert_true(mmu_translate_debug(cpu, 0x400000 + 0x12345, &pa));
    g_assert_cmphex(pa, ==, 0x100c12345ull);
    *pa32(f, 0x300010) = 0xcafe;
    assert_reads(cpu, 0x5010, 4, 0xcafe);
    g_assert_cmphex(*pa32(f, 0x20000) & A, ==, A);
    g_assert_cmphex(*pa32(f, 0x21000 + 5 * 4) & (A | D), ==, A);
    g_assert_true(try_write(cpu, 0x5010, 0xf00d, 4));
    g_assert_cmphex(*pa32(f, 0x21000 + 5 * 4) & D, ==, D);
    g_assert_cmphex(*pa32(f, 0x300010), ==, 0xf00d);
    g_assert_false(try_write(cpu, 0x6000, 1, 4));
    assert_pf(cpu, 0x6000, 0x3);
    g_assert_false(try_read(cpu, 0x7000, 4, &v));
    assert_pf(cpu, 0x7000, 0);
    /* Without CR4.PSE the PS bit is ignored: PD[1] is a table pointer. */
    *pa32(f, 0xc02000) = 0x303000 | P;
    cpu->s.cr4 = 0;
    mmu_flush(cpu, true);
    g_assert_true(mmu_translate_debug(cpu, 0x400010, &pa));
    g_assert_cmphex(pa, ==, 0x303010);
}

static void test_pae(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;
    uint64_t pa, v;

    (void)data;
    /* PDPT 0x30000 -> PD 0x31000: PD[0] -> PT 0x32000, PD[1] 2 MiB page. */
    *pa64(f, 0x30000) = 0x31000 | P;
    *pa64(f, 0x31000) = 0x32000 | P | W | U;
    *pa64(f, 0x31008) = 0x600000 | P | W | PS;
    *pa64(f, 0x32000 + 1 * 8) = 0x301000 | P | W | NX;
    *pa64(f, 0x32000 + 2 * 8) = 0x302000 | P | W;
    cpu->s.cr0 = CR0_PE | CR0_ET | CR0_PG;
    cpu->s.cr4 = CR4_PAE;
    cpu->s.efer = EFER_NXE;
    cpu->s.cr3 = 0x30000;
    x86_update_mode(cpu);
    mmu_flush(cpu, true);

    g_assert_true(mmu_translate_debug(cpu, 0x2abc, &pa));
    g_assert_cmphex(pa, ==, 0x302abc);
    g_assert_true(mmu_translate_debug(cpu, 0x200000 + 0x1234, &pa));
    g_assert_cmphex(pa, ==, 0x601234);
    g_assert_false(try_fetch(cpu, 0x1000));
    assert_pf(cpu, 0x1000, 0x11);
    g_assert_true(try_read(cpu, 0x1000, 4, &v));
    /* Without EFER.NXE bit 63 is reserved. */
    cpu->s.efer = 0;
    mmu_flush(cpu, true);
    g_assert_false(try_read(cpu, 0x1000, 4, &v));
    assert_pf(cpu, 0x1000, 0x9);
    /* PDPT index 1 is not present. */
    g_assert_false(try_read(cpu, 0x40000000, 4, &v));
    assert_pf(cpu, 0x40000000, 0);
}

static void test_no_paging(Fixture *f, gconstpointer data)
{
    CPU *cpu = f->cpu;

    (void)data;
    *pa32(f, 0x1234) = 0x77;
    g_assert_false(cpu->paging);
    assert_reads(cpu, 0x1234, 4, 0x77);
    assert_reads(cpu, MMIO_BASE + 4, 4, 0xa5000004);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) \
    g_test_add("/mmu/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("long/translate", test_long_translate);
    ADD("long/faults", test_long_faults);
    ADD("long/page-crossing", test_page_crossing);
    ADD("long/global-invlpg", test_global_and_invlpg);
    ADD("long/mmio", test_mmio);
    ADD("long/code-page", test_code_page);
    ADD("legacy32", test_legacy32);
    ADD("pae", test_pae);
    ADD("no-paging", test_no_paging);
    return g_test_run();
}
