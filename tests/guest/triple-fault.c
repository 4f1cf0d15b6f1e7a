/*
 * triple-fault: load an IDT with limit 0, then divide by zero. #DE
 * cannot be delivered (no gate), nor can the #GP and #DF that follow:
 * the CPU shuts down. The emulator is expected to end with a non-zero
 * status and a register dump; reaching the code after the fault is a
 * failure of its own (EXIT_FAIL).
 */
#include "runtime.h"

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    static const struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) empty_idt = { 0, 0 };
    uint32_t zero = 0;

    (void)magic;
    (void)info;
    serial_init();
    serial_puts("triple: about to fault\n");
    __asm__ volatile("lidt %0" : : "m"(empty_idt));
    /* zero comes from a register so the compiler cannot fold the division. */
    __asm__ volatile("xor %%edx, %%edx; divl %1" : : "a"(1), "r"(zero) : "edx");
    guest_fail("triple", "still running after the fault");
}
