/*
 * exceptions: raise #DE, #UD, #GP (with a selector error code and with
 * 0), #BP and #PF from kernel code in long mode; a handler checks the
 * vector, the error code and the saved RIP, and resumes at a recovery
 * address (faults) or after the instruction (#BP is a trap).
 */
#include "runtime.h"
#include "sys64.h"

#define EXIT_EXC_OK 0x16        /* status 0x2d */

void guest_main(uint32_t magic, uint32_t info);

static volatile uint64_t resume_rip, fault_rip;
static volatile uint64_t got_vector = ~0ull, got_error, got_rip;

void sys64_trap(struct trap_frame *f)
{
    got_vector = f->vector;
    got_error = f->error;
    got_rip = f->rip;
    if (f->vector != 3) {
        if (!resume_rip) {
            serial_puts("exceptions: unexpected exception ");
            serial_put_dec(f->vector);
            serial_putc('\n');
            guest_fail("exceptions", "unexpected");
        }
        f->rip = resume_rip;
        resume_rip = 0;
    }
}

/* Run one faulting instruction @insn; record where it was. */
#define FAULT(insn, ...)                                                      \
    __asm__ volatile("lea 1f(%%rip), %%rax\n\t"                               \
                     "mov %%rax, %0\n\t"                                      \
                     "lea 2f(%%rip), %%rax\n\t"                               \
                     "mov %%rax, %1\n\t"                                      \
                     "2: " insn "\n\t"                                        \
                     "1:\n\t"                                                 \
                     : "=m"(resume_rip), "=m"(fault_rip)                      \
                     : __VA_ARGS__                                            \
                     : "rax", "rdx", "memory")

static void check(uint64_t vector, uint64_t error, bool rip_at_fault, const char *what)
{
    if (got_vector != vector || got_error != error ||
        (rip_at_fault && got_rip != fault_rip)) {
        serial_puts("exceptions: got vector ");
        serial_put_dec(got_vector);
        serial_puts(" error ");
        serial_put_hex(got_error, 4);
        serial_puts(" rip ");
        serial_put_hex64(got_rip);
        serial_putc('\n');
        guest_fail("exceptions", what);
    }
    serial_puts("exceptions: PASS ");
    serial_puts(what);
    serial_putc('\n');
    got_vector = ~0ull;
}

void guest_main(uint32_t magic, uint32_t info)
{
    uint64_t bp_after;

    (void)magic;
    (void)info;
    serial_init();
    sys64_idt_init();

    FAULT("divl %%ecx", "c"(0));
    check(0, 0, true, "#DE");
    FAULT("ud2", "i"(0));
    check(6, 0, true, "#UD");
    FAULT("mov %%cx, %%ds", "c"(0x1238));
    check(13, 0x1238, true, "#GP selector error code");
    FAULT("mov (%%rcx), %%eax", "c"(0x8000000000000000ull));
    check(13, 0, true, "#GP non-canonical address");
    FAULT("mov (%%rcx), %%eax", "c"(0x123400000000ull));
    check(14, 0, true, "#PF above the mapped 4 GiB");
    __asm__ volatile("int3\n\t"
                     "1: lea 1b(%%rip), %0" : "=r"(bp_after));
    if (got_rip != bp_after) {
        guest_fail("exceptions", "#BP return address");
    }
    check(3, 0, false, "#BP");

    serial_puts("exceptions: all passed\n");
    guest_exit(EXIT_EXC_OK);
}
