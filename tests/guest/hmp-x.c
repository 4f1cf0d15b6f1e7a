/*
 * hmp-x: a guest for the monitor's virtual-address dumps. It maps the
 * virtual address 0xffffffff81000000 (Linux's kernel text base) to the
 * 2 MiB page at physical 18 MiB, fills the first 32 bytes there with a
 * known pattern (byte i = 0x11 + 7 * i), prints where, and halts with
 * interrupts off. A test then compares HMP `x` at the virtual address
 * with `xp` at the physical one under each accelerator
 * (tests/functional/test-hmp-x.py).
 */
#include "runtime.h"
#include "sys64.h"

#define VIRT 0xffffffff81000000ull
#define PHYS 0x1200000ull       /* 18 MiB: not the identity of VIRT's low bits */
#define PTE_P_W 3ull
#define PDE_2M 0x83ull

void guest_main(uint32_t magic, uint32_t info);

static uint64_t pdpt_hi[512] __attribute__((aligned(4096)));
static uint64_t pd_hi[512] __attribute__((aligned(4096)));

void guest_main(uint32_t magic, uint32_t info)
{
    uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xfffull);
    volatile uint8_t *phys = (volatile uint8_t *)PHYS;
    volatile uint8_t *virt = (volatile uint8_t *)VIRT;

    (void)magic;
    (void)info;
    serial_init();
    for (unsigned i = 0; i < 32; i++) {
        phys[i] = (uint8_t)(0x11 + 7 * i);
    }
    pd_hi[(VIRT >> 21) & 511] = PHYS | PDE_2M;
    pdpt_hi[(VIRT >> 30) & 511] = (uint64_t)pd_hi | PTE_P_W;
    pml4[(VIRT >> 39) & 511] = (uint64_t)pdpt_hi | PTE_P_W;
    __asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory");
    if (virt[31] != (uint8_t)(0x11 + 7 * 31)) {
        guest_fail("hmp-x", "the new mapping reads wrong bytes");
    }
    serial_puts("hmp-x: ready virt=");
    serial_put_hex64(VIRT);
    serial_puts(" phys=");
    serial_put_hex64(PHYS);
    serial_putc('\n');
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}
