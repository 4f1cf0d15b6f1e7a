/*
 * MMU: page walks (legacy 2-level, PAE, 4-level long mode), accessed and
 * dirty bits, #PF error codes, and the software TLB behind the mem_*
 * fast paths of interp.h.
 *
 * TLB rules:
 * - tlb[1] serves CPL 3 and holds only pages the user may touch; tlb[0]
 *   serves CPL 0-2 (supervisor accesses to user pages are allowed: no
 *   SMAP/SMEP).
 * - tag_w is filled only once the dirty bit is set, so a write that hits
 *   the fast path never needs to set it; and never for pages holding
 *   decoded code, so writes to them reach code_invalidate_page.
 * - MMIO (addresses that are not RAM) never gets a tag: every access goes
 *   through the I/O bus with the BQL.
 * - Only canonical pages get tags (core/'s fast paths rely on it).
 * - Entries are 4 KiB slices even of large pages; TLB_F_LARGE marks them
 *   so INVLPG of any address of a large page drops every slice.
 * - Every flush and INVLPG moves CPU.tlb_gen: core/ keeps using the
 *   translations behind its trace links until it moves.
 *
 * Reference: Intel SDM Vol. 3A chapter 4 "Paging"; AMD APM Vol. 2, 5.
 */
#include <string.h>
#include "sys.h"
#include "hw/iobus.h"
#include "kemu/log.h"
#include "system/bql.h"
#include "system/machine.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)

/* Result of a successful walk. */
typedef struct Walk {
    uint64_t pa;          /* physical address of the linear address */
    unsigned page_shift;  /* 12, 21, 22 or 30 */
    bool user, write, nx, global, dirty;
} Walk;

static GMutex atomic_mutex;

void x86_atomic_lock(void)
{
    g_mutex_lock(&atomic_mutex);
}

void x86_atomic_unlock(void)
{
    g_mutex_unlock(&atomic_mutex);
}

/* Page-table entries outside RAM read as not present. */
static uint64_t pte_read(CPU *cpu, uint64_t pa, unsigned size)
{
    void *p = machine_gpa_to_hva(cpu->m, pa, size);

    if (!p) {
        log_guest_error("page table entry at %#" G_GINT64_MODIFIER "x is not in RAM\n",
                        pa);
        return 0;
    }
    return size == 8 ? __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED)
                     : __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

/* Atomically OR @bits into the entry: other vCPUs update them too. */
static void pte_set_bits(CPU *cpu, uint64_t pa, unsigned size, uint64_t bits)
{
    void *p = machine_gpa_to_hva(cpu->m, pa, size);

    if (!p) {
        return;
    }
    if (size == 8) {
        if ((__atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED) & bits) != bits) {
            __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_SEQ_CST);
        }
    } else if ((__atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED) & bits) != bits) {
        __atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
    }
}

/*
 * Walk the page tables for @la. @user: the access is at user privilege.
 * @update: set accessed/dirty bits on success. On failure *@err holds the
 * #PF error code.
 */
static bool walk(CPU *cpu, uint64_t la, int acc, bool user, bool update,
                 Walk *w, uint32_t *err)
{
    const uint64_t cr4 = cpu->s.cr4;
    const bool nxe = (cpu->s.efer & EFER_NXE) != 0;
    const bool wide = (cr4 & CR4_PAE) != 0;
    const bool lma = x86_lma(cpu);
    const unsigned esz = wide ? 8 : 4;
    const unsigned step = wide ? 9 : 10;
    /* Bits 51..PHYS_BITS must be zero, and NX without EFER.NXE. */
    const uint64_t rsvd = wide ? ((((1ull << 52) - 1) & ~PHYS_MASK) |
                                  (nxe ? 0 : PTE_NX)) : 0;
    uint32_t bits = (acc == ACC_WRITE ? PF_W : 0) | (user ? PF_U : 0);
    uint64_t entry_pa[4], table, e;
    unsigned n = 0, shift;
    bool u = true, wr = true, nx = false;

    if (acc == ACC_EXEC && nxe && wide) {
        bits |= PF_I;
    }
    if (lma) {
        table = cpu->s.cr3 & PHYS_MASK & ~0xfffull;
        shift = 39;
    } else if (wide) {
        /* PAE: the four PDPTEs have no permission bits of their own. */
        e = pte_read(cpu, (cpu->s.cr3 & 0xffffffe0u) + ((la >> 30) & 3) * 8, 8);
        if (!(e & PTE_P)) {
            goto not_present;
        }
        if (e & ((rsvd & ~PTE_NX) | PTE_NX | 0x1e6)) {
            goto reserved;
        }
        table = e & PHYS_MASK & ~0xfffull;
        shift = 21;
    } else {
        table = cpu->s.cr3 & 0xfffff000u;
        shift = 22;
    }

    for (;;) {
        uint64_t epa = table + ((la >> shift) & ((1u << step) - 1)) * esz;
        bool large;

        e = pte_read(cpu, epa, esz);
        if (!(e & PTE_P)) {
            goto not_present;
        }
        if (e & rsvd) {
            goto reserved;
        }
        u = u && (e & PTE_U);
        wr = wr && (e & PTE_W);
        nx = nx || (nxe && (e & PTE_NX));
        entry_pa[n++] = epa;
        large = shift > 12 && (e & PTE_PS);
        if (large && lma && shift == 39) {
            goto reserved;              /* PS is reserved in a PML4E */
        }
        if (large && !wide && !(cr4 & CR4_PSE)) {
            large = false;              /* PS ignored without CR4.PSE */
        }
        if (large) {
            if (wide) {
                uint64_t low = e & ((1ull << shift) - 1) & ~0x1fffull;
                if (low) {
                    goto reserved;      /* frame bits below the page size */
                }
                w->pa = (e & PHYS_MASK & ~((1ull << shift) - 1)) |
                        (la & ((1ull << shift) - 1));
            } else {
                if (e & (1u << 21)) {
                    goto reserved;
                }
                /* PSE-36: PDE bits 20..13 are physical bits 39..32. */
                w->pa = (e & 0xffc00000u) | (((e >> 13) & 0xff) << 32) |
                        (la & 0x3fffff);
            }
            break;
        }
        if (shift == 12) {
            w->pa = (wide ? e & PHYS_MASK & ~0xfffull : e & 0xfffff000u) |
                    (la & 0xfff);
            break;
        }
        table = wide ? e & PHYS_MASK & ~0xfffull : e & 0xfffff000u;
        shift -= step;
    }

    if (user && !u) {
        goto protection;
    }
    if (acc == ACC_WRITE && !wr && (user || (cpu->s.cr0 & CR0_WP))) {
        goto protection;
    }
    if (acc == ACC_EXEC && nx) {
        goto protection;
    }
    w->page_shift = shift;
    w->user = u;
    w->write = wr;
    w->nx = nx;
    w->global = (e & PTE_G) && (cr4 & CR4_PGE);
    w->dirty = (e & PTE_D) || acc == ACC_WRITE;
    if (update) {
        for (unsigned i = 0; i + 1 < n; i++) {
            pte_set_bits(cpu, entry_pa[i], esz, PTE_A);
        }
        pte_set_bits(cpu, entry_pa[n - 1], esz,
                     PTE_A | (acc == ACC_WRITE ? PTE_D : 0));
    }
    return true;

not_present:
    *err = bits;
    return false;
reserved:
    *err = bits | PF_P | PF_RSVD;
    return false;
protection:
    *err = bits | PF_P;
    return false;
}

static void tlb_clear(CPU *cpu, TlbEntry *e)
{
    e->tag_r = e->tag_w = e->tag_x = ~0ull;
    tlb_phys(cpu, e)->sys_flags = 0;
}

static void tlb_fill(CPU *cpu, uint64_t la, int acc, bool user, const Walk *w,
                     uint8_t *host_page)
{
    uint64_t page = la & ~0xfffull;
    uint64_t ppage = w->pa & ~0xfffull;
    TlbEntry *e = &cpu->tlb[user][(la >> 12) & (TLB_SIZE - 1)];
    bool writable = w->write || (!user && !(cpu->s.cr0 & CR0_WP));

    tlb_clear(cpu, e);
    /* Only canonical pages get tags: core/'s fast paths skip the
       canonical check because a TLB hit proves it. */
    if (!x86_canonical(page)) {
        return;
    }
    e->addend = (uintptr_t)host_page - (uintptr_t)page;
    tlb_phys(cpu, e)->paddr = ppage;
    tlb_phys(cpu, e)->sys_flags = (w->global ? TLB_F_GLOBAL : 0) |
                   (w->page_shift > 12 ? TLB_F_LARGE | (w->page_shift << 8) : 0);
    e->tag_r = page;
    if (!w->nx) {
        e->tag_x = page;
    }
    if (writable && (w->dirty || acc == ACC_WRITE) &&
        !code_page_has_code(cpu->m, ppage)) {
        e->tag_w = page;
    }
}

/*
 * Translate @la for access @acc at privilege class @user: raise #PF on
 * failure, fill the TLB for RAM. Returns the host pointer of @la, or NULL
 * for MMIO; *@pa gets the physical address.
 */
static uint8_t *xlate(CPU *cpu, uint64_t la, int acc, bool user, uint64_t *pa)
{
    Walk w;
    uint8_t *host;

    if (cpu->paging) {
        uint32_t err;
        if (!walk(cpu, la, acc, user, true, &w, &err)) {
            x86_raise_pf(cpu, la, err);
        }
    } else {
        w = (Walk){ .pa = la & 0xffffffffu, .page_shift = 12, .user = true,
                    .write = true, .dirty = true };
    }
    *pa = w.pa;
    host = machine_gpa_to_hva(cpu->m, w.pa & ~0xfffull, 0x1000);
    if (!host) {
        return NULL;
    }
    tlb_fill(cpu, la, acc, user, &w, host);
    return host + (la & 0xfff);
}

static bool bql_take(void)
{
    if (bql_locked()) {
        return false;
    }
    bql_lock();
    return true;
}

static void bql_give(bool taken)
{
    if (taken) {
        bql_unlock();
    }
}

/* Next linear address, wrapping at 4 GiB outside long mode. */
static uint64_t la_add(CPU *cpu, uint64_t la, unsigned n)
{
    return x86_lma(cpu) ? la + n : (uint32_t)(la + n);
}

static void part_read(CPU *cpu, const uint8_t *host, uint64_t pa, uint8_t *buf,
                      unsigned n)
{
    if (host) {
        memcpy(buf, host, n);
    } else {
        bool taken = bql_take();
        iobus_read_buf(cpu->m->mmio, pa, buf, n);
        bql_give(taken);
    }
}

static void part_write(CPU *cpu, uint8_t *host, uint64_t pa, const uint8_t *buf,
                       unsigned n)
{
    if (host) {
        memcpy(host, buf, n);
        /* Write first, then drop decoded code: a decode after this sees
           the new bytes. */
        if (code_page_has_code(cpu->m, pa & ~0xfffull)) {
            code_invalidate_page(cpu->m, pa & ~0xfffull);
        }
    } else {
        bool taken = bql_take();
        iobus_write_buf(cpu->m->mmio, pa, buf, n);
        bql_give(taken);
    }
}

static uint64_t access_read(CPU *cpu, uint64_t la, unsigned size, bool user)
{
    unsigned off = la & 0xfff;
    uint8_t buf[8] = { 0 };
    uint64_t pa1, v = 0;
    uint8_t *h1;

    if (off + size > 0x1000) {
        unsigned n1 = 0x1000 - off;
        uint64_t pa2;
        h1 = xlate(cpu, la, ACC_READ, user, &pa1);
        uint8_t *h2 = xlate(cpu, la_add(cpu, la, n1), ACC_READ, user, &pa2);
        part_read(cpu, h1, pa1, buf, n1);
        part_read(cpu, h2, pa2, buf + n1, size - n1);
        memcpy(&v, buf, size);
        return v;
    }
    h1 = xlate(cpu, la, ACC_READ, user, &pa1);
    if (h1) {
        memcpy(&v, h1, size);
        return v;
    }
    bool taken = bql_take();
    v = iobus_read(cpu->m->mmio, pa1, size);
    bql_give(taken);
    return v;
}

static void access_write(CPU *cpu, uint64_t la, uint64_t val, unsigned size,
                         bool user)
{
    unsigned off = la & 0xfff;
    uint8_t buf[8];
    uint64_t pa1;
    uint8_t *h1;

    memcpy(buf, &val, sizeof(buf));
    if (off + size > 0x1000) {
        unsigned n1 = 0x1000 - off;
        uint64_t pa2;
        /* Both pages are checked before any byte is written. */
        h1 = xlate(cpu, la, ACC_WRITE, user, &pa1);
        uint8_t *h2 = xlate(cpu, la_add(cpu, la, n1), ACC_WRITE, user, &pa2);
        part_write(cpu, h1, pa1, buf, n1);
        part_write(cpu, h2, pa2, buf + n1, size - n1);
        return;
    }
    h1 = xlate(cpu, la, ACC_WRITE, user, &pa1);
    if (h1 && !code_page_has_code(cpu->m, pa1 & ~0xfffull)) {
        memcpy(h1, buf, size);
        return;
    }
    part_write(cpu, h1, pa1, buf, size);
}

uint64_t mmu_read_slow(CPU *cpu, uint64_t la, unsigned size)
{
    return access_read(cpu, la, size, cpu->cpl == 3);
}

void mmu_write_slow(CPU *cpu, uint64_t la, uint64_t val, unsigned size)
{
    access_write(cpu, la, val, size, cpu->cpl == 3);
}

uint64_t mmu_read_sys(CPU *cpu, uint64_t la, unsigned size)
{
    TlbEntry *e = &cpu->tlb[0][(la >> 12) & (TLB_SIZE - 1)];

    if (likely(e->tag_r == (la & ~0xfffull) && (la & 0xfff) <= 0x1000 - size)) {
        uint64_t v = 0;
        memcpy(&v, (void *)(uintptr_t)(la + e->addend), size);
        return v;
    }
    return access_read(cpu, la, size, false);
}

void mmu_write_sys(CPU *cpu, uint64_t la, uint64_t val, unsigned size)
{
    TlbEntry *e = &cpu->tlb[0][(la >> 12) & (TLB_SIZE - 1)];

    if (likely(e->tag_w == (la & ~0xfffull) && (la & 0xfff) <= 0x1000 - size)) {
        memcpy((void *)(uintptr_t)(la + e->addend), &val, size);
        return;
    }
    access_write(cpu, la, val, size, false);
}

const uint8_t *mmu_fetch(CPU *cpu, uint64_t la, uint64_t *paddr, unsigned *avail)
{
    bool user = cpu->cpl == 3;
    TlbEntry *e = &cpu->tlb[user][(la >> 12) & (TLB_SIZE - 1)];
    uint8_t *host;

    *avail = 0x1000 - (la & 0xfff);
    if (likely(e->tag_x == (la & ~0xfffull))) {
        *paddr = tlb_phys(cpu, e)->paddr | (la & 0xfff);
        return (const uint8_t *)(uintptr_t)(la + e->addend);
    }
    host = xlate(cpu, la, ACC_EXEC, user, paddr);
    return host;
}

void *mmu_rmw_ptr(CPU *cpu, uint64_t la, unsigned size)
{
    TlbEntry *e = tlb_entry(cpu, la);
    uint64_t pa;
    uint8_t *host;

    if ((la & 0xfff) + size > 0x1000) {
        return NULL;
    }
    if (likely(e->tag_w == (la & ~0xfffull))) {
        return (void *)(uintptr_t)(la + e->addend);
    }
    host = xlate(cpu, la, ACC_WRITE, cpu->cpl == 3, &pa);
    if (host && code_page_has_code(cpu->m, pa & ~0xfffull)) {
        code_invalidate_page(cpu->m, pa & ~0xfffull);
    }
    return host;
}

void mmu_flush(CPU *cpu, bool global)
{
    cpu->tlb_gen++;
    for (int u = 0; u < 2; u++) {
        for (unsigned i = 0; i < TLB_SIZE; i++) {
            TlbEntry *e = &cpu->tlb[u][i];
            if (global || !(cpu->tlb_phys[u][i].sys_flags & TLB_F_GLOBAL)) {
                tlb_clear(cpu, e);
            }
        }
    }
}

/* The page an entry maps (whichever tag is live), or ~0. */
static uint64_t entry_page(const TlbEntry *e)
{
    if (e->tag_r != ~0ull) {
        return e->tag_r;
    }
    return e->tag_x != ~0ull ? e->tag_x : e->tag_w;
}

void mmu_flush_page(CPU *cpu, uint64_t la)
{
    uint64_t page = la & ~0xfffull;

    cpu->tlb_gen++;
    for (int u = 0; u < 2; u++) {
        TlbEntry *e = &cpu->tlb[u][(la >> 12) & (TLB_SIZE - 1)];
        if (entry_page(e) == page) {
            tlb_clear(cpu, e);
        }
        /* Slices of a large page that covers @la live in other slots. */
        for (unsigned i = 0; i < TLB_SIZE; i++) {
            uint32_t f = cpu->tlb_phys[u][i].sys_flags;
            e = &cpu->tlb[u][i];
            if (f & TLB_F_LARGE) {
                unsigned shift = (f >> 8) & 0x3f;
                if ((entry_page(e) >> shift) == (la >> shift)) {
                    tlb_clear(cpu, e);
                }
            }
        }
    }
}

bool mmu_translate_debug(CPU *cpu, uint64_t la, uint64_t *paddr)
{
    Walk w;
    uint32_t err;

    if (!cpu->paging) {
        *paddr = la & 0xffffffffu;
        return true;
    }
    if (!walk(cpu, la, ACC_READ, false, false, &w, &err)) {
        return false;
    }
    *paddr = w.pa;
    return true;
}
