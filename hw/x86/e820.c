/*
 * The pc machine's E820 memory map (include/hw/x86/e820.h).
 *
 * Reference: ACPI 6.4, chapter 15 "System Address Map Interfaces";
 * Linux Documentation/arch/x86/zero-page.rst (e820_table at 0x2d0).
 *
 * There is no firmware, so the only things that must stay out of the
 * guest's hands below 1 MiB are the EBDA slot Linux expects to find
 * reserved and the BIOS area where the ACPI tables live. The loaders'
 * page tables, GDT, boot_params and command line sit in ordinary low RAM:
 * Linux copies boot_params and the command line, and replaces the page
 * tables and GDT, before it allocates any memory.
 */
#include <string.h>
#include "hw/x86/e820.h"
#include "kemu/bytes.h"

#define GIB4 0x100000000ull

static void add(E820Entry *tab, unsigned *n, uint64_t start, uint64_t end, uint32_t type)
{
    if (end > start) {
        tab[(*n)++] = (E820Entry){ .addr = start, .size = end - start, .type = type };
    }
}

unsigned e820_build(const Machine *m, E820Entry tab[E820_MAX_ENTRIES])
{
    uint64_t below = machine_ram_below_4g(m);
    unsigned n = 0;

    add(tab, &n, 0, MIN(below, E820_LOW_RAM_END), E820_RAM);
    add(tab, &n, E820_LOW_RAM_END, 0xa0000, E820_RESERVED);
    add(tab, &n, E820_BIOS_START, E820_HIGH_RAM_START, E820_RESERVED);
    add(tab, &n, E820_HIGH_RAM_START, below, E820_RAM);
    add(tab, &n, E820_KVM_IDENTITY_START, E820_KVM_IDENTITY_START + E820_KVM_IDENTITY_SIZE,
        E820_RESERVED);
    for (unsigned i = 0; i < m->nr_ram; i++) {
        if (m->ram[i].gpa >= GIB4) {
            add(tab, &n, m->ram[i].gpa, m->ram[i].gpa + m->ram[i].size, E820_RAM);
        }
    }
    return n;
}

void e820_encode(const E820Entry *tab, unsigned n, uint8_t *out)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = out + (size_t)i * E820_ENTRY_SIZE;
        st64_le(p, tab[i].addr);
        st64_le(p + 8, tab[i].size);
        st32_le(p + 16, tab[i].type);
    }
}
