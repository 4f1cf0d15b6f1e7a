/*
 * Boot loaders: put a guest image into RAM and describe the entry state.
 */
#ifndef HW_LOADER_H
#define HW_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include "hw/device.h"
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

/*
 * Read the whole of @path (regular file, pipe or device) into a new buffer
 * (*@data, free with g_free; one spare NUL byte after the contents), at
 * most @max_len bytes. Errors read "could not read WHAT 'PATH': reason",
 * including for files longer than @max_len.
 */
bool loader_read_file(const char *path, const char *what, uint64_t max_len,
                      uint8_t **data, size_t *len, GError **errp);

#define LOADER_MAX_SEGMENTS 64

/* One PT_LOAD program header, already checked against the file's size. */
typedef struct LoadSegment {
    uint64_t paddr, vaddr;   /* where it goes; where it was linked */
    uint64_t offset;         /* of the file bytes; offset + filesz <= len */
    uint64_t filesz;         /* <= memsz; the rest of memsz is zeroes */
    uint64_t memsz;          /* > 0 (empty segments are dropped) */
    bool exec;               /* PF_X */
} LoadSegment;

typedef struct ElfImage {
    bool is64;
    uint16_t machine;        /* EM_386 (3), EM_486 (6) or EM_X86_64 (62) */
    uint64_t entry;          /* physical: e_entry moved into the paddr range
                                of the executable segment that holds it */
    unsigned nsegs;          /* >= 1 */
    LoadSegment segs[LOADER_MAX_SEGMENTS];
} ElfImage;

/* Does @data start with the ELF magic? */
bool loader_is_elf(const uint8_t *data, size_t len);

/*
 * Parse the little-endian x86 ELF32/ELF64 executable @data into @img.
 * Every offset, size and count is checked (no field is trusted); returns
 * false with @errp set on a malformed or unsupported file.
 */
bool loader_elf_parse(const uint8_t *data, size_t len, ElfImage *img, GError **errp);

/*
 * Copy @img's segments from @data into guest RAM through machine_add_rom()
 * (zero-filling memsz beyond filesz). Checks every range first, so on
 * failure nothing has been written.
 */
bool loader_elf_load(Machine *m, const uint8_t *data, const ElfImage *img, GError **errp);

/*
 * -device loader: QEMU's generic loader. file=F,addr=A[,force-raw=on]
 * puts a file into RAM (an ELF file by its program headers unless
 * force-raw, anything else raw at addr); addr=A,data=V,data-len=N[,data-be=on]
 * stores an N-byte value; cpu-num=0 makes the boot CPU start at addr (or
 * the ELF entry) in real mode, as there is no firmware to run first.
 */
extern const DeviceType generic_loader_type;

#endif
