/*
 * pm32: flat 32-bit protected mode from a multiboot ELF (lib/entry32.S).
 * Checks the hand-over (magic, mem_upper, command line) and prints the
 * command line.
 */
#include "multiboot.h"
#include "runtime.h"

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    const struct multiboot_info *mbi = (const struct multiboot_info *)info;
    const char *cmdline;
    uint32_t cr0;

    serial_init();
    cmdline = multiboot_check("pm32", magic, info);
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    if (!(cr0 & 1) || (cr0 & (1u << 31))) {
        guest_fail("pm32", "expected CR0.PE=1, CR0.PG=0");
    }
    serial_puts("pm32: cmdline=");
    serial_puts(cmdline);
    serial_puts("\npm32: mem_upper=");
    serial_put_dec(mbi->mem_upper);
    serial_puts(" KiB\n");
    guest_exit(EXIT_PM32_OK);
}
