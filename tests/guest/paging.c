/*
 * paging: page faults in long mode. lib/entry64.S maps 4 GiB with 2 MiB
 * pages; we replace the 2 MiB page at 32 MiB with a 4 KiB page table and
 * check, each time with a #PF handler that repairs the mapping and
 * returns so the access is retried:
 *   - a read of a not-present page (error code 0, CR2 = the address),
 *   - a write to a read-only page (error code P|W),
 *   - an instruction fetch from an NX page (error code P|I),
 * and that the CPU sets the accessed and dirty bits.
 */
#include "runtime.h"
#include "sys64.h"

#define EXIT_PAGING_OK 0x15     /* status 0x2b */
#define REGION 0x2000000ull     /* 32 MiB */
#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_NX (1ull << 63)
#define MSR_EFER 0xc0000080u
#define EFER_NXE (1u << 11)

void guest_main(uint32_t magic, uint32_t info);

static volatile uint64_t pt[512] __attribute__((aligned(4096)));
static volatile unsigned faults;
static volatile uint64_t last_cr2, last_error;

void sys64_trap(struct trap_frame *f)
{
    uint64_t cr2 = read_cr2();
    unsigned i = (cr2 - REGION) >> 12;

    if (f->vector != 14 || cr2 < REGION || i >= 512) {
        serial_puts("paging: unexpected exception ");
        serial_put_dec(f->vector);
        serial_puts(" at ");
        serial_put_hex64(f->rip);
        serial_putc('\n');
        guest_fail("paging", "exception");
    }
    faults++;
    last_cr2 = cr2;
    last_error = f->error;
    /* Repair: present, writable, executable. */
    pt[i] = (pt[i] | PTE_P | PTE_W) & ~PTE_NX;
    invlpg(cr2);
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        guest_fail("paging", what);
    }
    serial_puts("paging: PASS ");
    serial_puts(what);
    serial_putc('\n');
}

static void expect_fault(unsigned before, uint64_t cr2, uint64_t error)
{
    if (faults != before + 1 || last_cr2 != cr2 || last_error != error) {
        serial_puts("paging: got cr2=");
        serial_put_hex64(last_cr2);
        serial_puts(" error=");
        serial_put_hex(last_error, 2);
        serial_puts(" faults=");
        serial_put_dec(faults - before);
        serial_putc('\n');
        guest_fail("paging", "wrong #PF");
    }
}

void guest_main(uint32_t magic, uint32_t info)
{
    uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xfffull);
    uint64_t *pdpt = (uint64_t *)(pml4[0] & 0xffffffffff000ull);
    uint64_t *pd = (uint64_t *)(pdpt[0] & 0xffffffffff000ull);
    volatile uint32_t *page0 = (volatile uint32_t *)REGION;
    volatile uint32_t *page1 = (volatile uint32_t *)(REGION + 0x1000);
    volatile uint32_t *page3 = (volatile uint32_t *)(REGION + 0x3000);
    uint8_t *page2 = (uint8_t *)(REGION + 0x2000);
    unsigned before;
    uint32_t v;

    (void)magic;
    (void)info;
    serial_init();
    sys64_idt_init();
    wrmsr64(MSR_EFER, rdmsr64(MSR_EFER) | EFER_NXE);
    /* CR0.WP: supervisor writes honour read-only pages. */
    __asm__ volatile("mov %%cr0, %%rax; or $0x10000, %%eax; mov %%rax, %%cr0"
                     ::: "rax", "memory");

    /* Fill the region through the identity 2 MiB mapping first. */
    page0[4] = 0x600d600d;
    page2[0] = 0xc3;                        /* ret */
    for (unsigned i = 0; i < 512; i++) {
        pt[i] = (REGION + i * 0x1000ull) | PTE_P | PTE_W;
    }
    pt[0] &= ~PTE_P;
    pt[1] &= ~PTE_W;
    pt[2] |= PTE_NX;
    pd[REGION >> 21] = (uint64_t)pt | PTE_P | PTE_W;
    __asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory");

    before = faults;
    v = page0[4];
    expect_fault(before, REGION + 16, 0);
    check(v == 0x600d600d, "not-present read faults with error 0 and CR2, then retries");

    before = faults;
    page1[2] = 0x12345678;
    expect_fault(before, REGION + 0x1008, 3);
    check(page1[2] == 0x12345678, "read-only write faults with P|W, then retries");

    before = faults;
    ((void (*)(void))page2)();
    expect_fault(before, REGION + 0x2000, 0x11);
    check(faults == before + 1, "NX fetch faults with P|I, then runs");

    pt[3] &= ~(PTE_A | PTE_D);
    invlpg((uint64_t)page3);
    v = page3[0];
    if ((pt[3] & (PTE_A | PTE_D)) != PTE_A) {
        serial_puts("paging: pte=");
        serial_put_hex64(pt[3]);
        serial_putc('\n');
    }
    check((pt[3] & (PTE_A | PTE_D)) == PTE_A, "read sets accessed only");
    page3[0] = v + 1;
    check((pt[3] & (PTE_A | PTE_D)) == (PTE_A | PTE_D), "write sets dirty");
    check((pd[0] & PTE_A) != 0, "walk sets accessed in the page directory");

    serial_puts("paging: all passed\n");
    guest_exit(EXIT_PAGING_OK);
}
