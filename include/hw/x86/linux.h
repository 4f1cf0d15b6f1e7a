/*
 * Linux x86 boot protocol loader (hw/x86/linux.c): bzImage and ELF
 * vmlinux files given to -kernel, entered at the kernel's 64-bit entry
 * point with boot_params in RSI (Documentation/arch/x86/boot.rst,
 * "64-bit Boot Protocol").
 */
#ifndef HW_X86_LINUX_H
#define HW_X86_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "system/machine.h"

/*
 * Low-memory layout of what the loader writes besides the kernel, the
 * initrd (at the top of RAM below 4 GiB) and the ACPI tables (BIOS area).
 * Nothing here has to survive: Linux copies boot_params and the command
 * line and replaces the GDT and page tables before allocating memory.
 */
#define LINUX_GDT_ADDR 0x1000u          /* null, null, __BOOT_CS 0x10, __BOOT_DS 0x18 */
#define LINUX_PML4_ADDR 0x2000u
#define LINUX_PDPT_ADDR 0x3000u
#define LINUX_PD_ADDR 0x4000u           /* 4 pages: 4 GiB identity-mapped, 2 MiB pages */
#define LINUX_BOOT_PARAMS_ADDR 0x8000u  /* the "zero page", 4 KiB */
#define LINUX_STACK_TOP 0x20000u        /* a valid RSP; the kernel sets its own at once */
#define LINUX_CMDLINE_ADDR 0x20000u
#define LINUX_CMDLINE_MAX 0x10000u      /* bytes, with the NUL */
#define LINUX_BOOT_DATA_END (LINUX_CMDLINE_ADDR + LINUX_CMDLINE_MAX)
#define LINUX_IDENTITY_MAP_SIZE 0x100000000ull
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

/* Largest decompressed vmlinux we accept from a bzImage payload. */
#define LINUX_MAX_VMLINUX (1024ull << 20)

/* Does @data carry a Linux setup header ("HdrS" at 0x202)? */
bool linux_is_bzimage(const uint8_t *data, size_t len);

/*
 * Boot the bzImage @data (protocol 2.08 or later): decompress its payload
 * on the host, load the 64-bit ELF vmlinux inside at its physical
 * addresses, and prepare boot_params from the file's setup header with
 * @cmdline (NULL: empty), the file @initrd (NULL: none), the E820 map and
 * the ACPI RSDP, 4 GiB of identity-mapped page tables and a GDT. Sets
 * m->boot_state to 64-bit mode at the vmlinux entry (startup_64) with
 * RSI = LINUX_BOOT_PARAMS_ADDR and interrupts off. Everything goes in
 * through machine_add_rom(). Builds the ACPI tables if the board has not.
 * Returns false with @errp set (without a file-name prefix) on a malformed
 * image, a command line or initrd that does not fit, or too little RAM.
 */
bool linux_load_bzimage(Machine *m, const uint8_t *data, size_t len, const char *cmdline,
                        const char *initrd, GError **errp);

/*
 * As linux_load_bzimage for an uncompressed 64-bit ELF vmlinux, with a
 * setup header made up for a protocol 2.15 kernel (no PVH entry is used).
 */
bool linux_load_vmlinux(Machine *m, const uint8_t *data, size_t len, const char *cmdline,
                        const char *initrd, GError **errp);

#endif
