/*
 * The pc machine's BIOS memory map (INT 15h E820), as handed to Linux in
 * boot_params (hw/x86/e820.c).
 */
#ifndef HW_X86_E820_H
#define HW_X86_E820_H

#include <stdint.h>
#include "system/machine.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3

#define E820_ENTRY_SIZE 20      /* packed: u64 addr, u64 size, u32 type */
#define E820_MAX_ENTRIES 8      /* what e820_build can produce */

/* Fixed holes of the map, shared with the loaders and the ACPI builder. */
#define E820_LOW_RAM_END 0x9fc00ull          /* conventional memory ends; EBDA */
#define E820_BIOS_START 0xf0000ull           /* reserved BIOS area: ACPI tables */
#define E820_HIGH_RAM_START 0x100000ull
#define E820_KVM_IDENTITY_START 0xfeffc000ull /* KVM's identity map page + TSS */
#define E820_KVM_IDENTITY_SIZE 0x4000ull

typedef struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} E820Entry;

/*
 * Fill @tab with @m's memory map, in address order, and return the number
 * of entries (at most E820_MAX_ENTRIES): RAM [0, 0x9fc00), reserved
 * [0x9fc00, 0xa0000) and [0xf0000, 1 MiB), RAM from 1 MiB to the end of
 * the RAM below 4 GiB, KVM's identity-map/TSS pages reserved, and the RAM
 * above 4 GiB. Ranges that @m's RAM does not reach are left out.
 */
unsigned e820_build(const Machine *m, E820Entry tab[E820_MAX_ENTRIES]);

/* Store @n entries in the packed little-endian layout at @out (20 bytes each). */
void e820_encode(const E820Entry *tab, unsigned n, uint8_t *out);

#endif
