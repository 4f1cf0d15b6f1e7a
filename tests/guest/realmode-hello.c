/*
 * realmode-hello: runs in 16-bit real mode (gcc -m16, entered through
 * realmode-start.S), checks CR0.PE is clear and says hello on COM1.
 */
#include "runtime.h"

void realmode_main(void);

void realmode_main(void)
{
    uint16_t msw;
    uint16_t cs;

    serial_init();
    __asm__ volatile("smsw %0" : "=r"(msw));
    if (msw & 1) {
        /* Not guest_fail(): the image must fit in a 512-byte boot sector. */
        serial_puts("realmode: FAIL CR0.PE is set\n");
        guest_exit(EXIT_FAIL);
    }
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    serial_puts("realmode: hello (cs=");
    serial_put_hex(cs, 4);
    serial_puts(")\n");
    guest_exit(EXIT_REALMODE_OK);
}
