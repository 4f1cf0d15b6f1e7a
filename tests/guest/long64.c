/*
 * long64: reach long mode from a multiboot entry (lib/entry64.S), print
 * the command line, and exit with the value of "exit=NN" on it (decimal,
 * 0..127), so a test sees that -append reached the guest.
 */
#include "multiboot.h"
#include "runtime.h"

/* Value of the first "exit=NN" word in @cmdline, or -1 if none or invalid. */
static int exit_value(const char *cmdline)
{
    const char *p = cmdline;
    int v = -1;

    while ((p = guest_strstr(p, "exit=")) != NULL) {
        if (p == cmdline || p[-1] == ' ') {
            break;
        }
        p++;
    }
    if (!p) {
        return -1;
    }
    for (p += 5; *p >= '0' && *p <= '9'; p++) {
        v = (v < 0 ? 0 : v * 10) + (*p - '0');
        if (v > 127) {
            return -1;
        }
    }
    return (*p == '\0' || *p == ' ') ? v : -1;
}

void guest_main(uint32_t magic, uint32_t info);

void guest_main(uint32_t magic, uint32_t info)
{
    const char *cmdline;
    uint32_t efer_lo, efer_hi;
    int v;

    serial_init();
    /* EFER.LMA (bit 10) is set only once long mode is really active. */
    __asm__ volatile("rdmsr" : "=a"(efer_lo), "=d"(efer_hi) : "c"(0xc0000080u));
    (void)efer_hi;
    if (!(efer_lo & (1u << 10))) {
        guest_fail("long64", "EFER.LMA is clear");
    }
    serial_puts("long64: hello from long mode\n");
    cmdline = multiboot_check("long64", magic, info);
    serial_puts("long64: cmdline=");
    serial_puts(cmdline);
    serial_putc('\n');
    v = exit_value(cmdline);
    if (v < 0) {
        serial_puts("long64: no exit=NN, default exit\n");
        guest_exit(EXIT_LONG64_DEFAULT);
    }
    serial_puts("long64: exit=");
    serial_put_dec((uint32_t)v);
    serial_putc('\n');
    guest_exit((uint32_t)v);
}
