/*
 * The part of the multiboot v1 information structure the guests read.
 */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_CMDLINE (1u << 2)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;     /* KiB below 1 MiB (flag bit 0) */
    uint32_t mem_upper;     /* KiB above 1 MiB (flag bit 0) */
    uint32_t boot_device;
    uint32_t cmdline;       /* physical address of a C string (flag bit 2) */
};

/*
 * Check the loader's hand-over: EAX magic, the memory fields with
 * mem_upper > 0, and a command line. Prints "@who: FAIL ..." and exits
 * on any mismatch; returns the command line otherwise. @info is EBX.
 */
const char *multiboot_check(const char *who, uint32_t magic, uint32_t info);

#endif
