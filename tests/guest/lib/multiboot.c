/*
 * Multiboot hand-over checks shared by the multiboot guests.
 */
#include "multiboot.h"
#include "runtime.h"

const char *multiboot_check(const char *who, uint32_t magic, uint32_t info)
{
    const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info;

    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        serial_puts(who);
        serial_puts(": bad magic ");
        serial_put_hex(magic, 8);
        serial_putc('\n');
        guest_fail(who, "multiboot magic");
    }
    if (!(mbi->flags & MULTIBOOT_INFO_MEMORY) || mbi->mem_upper == 0) {
        guest_fail(who, "multiboot mem_upper missing or zero");
    }
    if (!(mbi->flags & MULTIBOOT_INFO_CMDLINE) || mbi->cmdline == 0) {
        guest_fail(who, "multiboot cmdline missing");
    }
    return (const char *)(uintptr_t)mbi->cmdline;
}
