/*
 * Boot loaders: put a guest image into RAM and describe the entry state.
 */
#ifndef HW_LOADER_H
#define HW_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "system/machine.h"

/*
 * Does @data look like a multiboot v1 image (header magic with a valid
 * checksum in the first 8 KiB, 4-byte aligned)?
 */
bool multiboot_probe(const uint8_t *data, size_t len);

/*
 * Load the multiboot v1 kernel @data (ELF32/ELF64 program headers, or the
 * header's address fields when flag 16 is set) into @m's RAM, with
 * @cmdline (may be NULL) and the modules in @initrd (QEMU's spelling:
 * "file1 args,file2", may be NULL). Builds the multiboot information
 * (mem_lower/upper, memory map, command line, modules, loader name) and
 * sets m->boot_state: flat 32-bit protected mode at the entry point,
 * EAX = 0x2BADB002, EBX = the information's address. Every blob goes in
 * through machine_add_rom(). Returns false with @errp set on a malformed
 * image or one that does not fit in RAM.
 */
bool multiboot_load(Machine *m, const char *name, const uint8_t *data, size_t len,
                    const char *cmdline, const char *initrd, GError **errp);

/*
 * -kernel FILE: read the file and load it with the loader that recognises
 * it. Errors name the file and what is wrong with it.
 */
bool loader_load_kernel(Machine *m, const char *path, const char *cmdline,
                        const char *initrd, GError **errp);

#endif
