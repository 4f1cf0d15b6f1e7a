/*
 * usermode: enter CPL 3 with IRETQ, come back to CPL 0 through an
 * interrupt gate (INT 0x80, DPL 3) on the stack the 64-bit TSS names in
 * RSP0, make a SYSCALL/SYSRET round trip, take a #GP for CLI at CPL 3,
 * and finish with INT 0x81, whose handler reports (user code cannot
 * print: port I/O at CPL 3 with IOPL 0 faults).
 */
#include "runtime.h"
#include "sys64.h"

#define EXIT_USER_OK 0x17       /* status 0x2f */
#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x23
#define UCODE 0x2b
#define TSS_SEL 0x30
#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_SFMASK 0xc0000084u

void guest_main(uint32_t magic, uint32_t info);

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));

static struct tss64 tss;
static uint64_t gdt[8] __attribute__((aligned(16)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));

static volatile int int80_ok, syscall_ok, gp_ok;
static volatile uint64_t syscall_ret, cs_after_sysret, int80_rsp;

static bool on_kstack(const void *p)
{
    return (const uint8_t *)p >= kstack && (const uint8_t *)p < kstack + sizeof(kstack);
}

static bool on_ustack(uint64_t p)
{
    return p >= (uint64_t)ustack && p <= (uint64_t)ustack + sizeof(ustack);
}

static void report(bool ok, const char *what)
{
    if (!ok) {
        guest_fail("usermode", what);
    }
    serial_puts("usermode: PASS ");
    serial_puts(what);
    serial_putc('\n');
}

void sys64_trap(struct trap_frame *f)
{
    if (f->vector == 0x80) {
        int80_rsp = f->rsp;
        int80_ok = f->cs == UCODE && f->ss == UDATA && on_kstack(f) &&
                   on_ustack(f->rsp);
        return;
    }
    if (f->vector == 13 && f->cs == UCODE && f->error == 0) {
        gp_ok = 1;
        f->rip += 1;                /* skip the one-byte CLI */
        return;
    }
    if (f->vector == 0x81 && f->cs == UCODE) {
        report(int80_ok, "INT 0x80 from CPL 3 on the TSS RSP0 stack");
        report(syscall_ok, "SYSCALL enters CPL 0 at LSTAR");
        report(syscall_ret == 42 && cs_after_sysret == UCODE,
               "SYSRET returns to CPL 3 with the result");
        report(gp_ok, "CLI at CPL 3 raises #GP(0)");
        serial_puts("usermode: all passed\n");
        guest_exit(EXIT_USER_OK);
    }
    serial_puts("usermode: unexpected exception ");
    serial_put_dec(f->vector);
    serial_puts(" error ");
    serial_put_hex(f->error, 4);
    serial_puts(" at ");
    serial_put_hex64(f->rip);
    serial_putc('\n');
    guest_fail("usermode", "exception");
}

uint64_t sys64_syscall(uint64_t nr)
{
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    syscall_ok = nr == 7 && cs == KCODE;
    return 42;
}

/* Runs at CPL 3. */
static void __attribute__((noreturn, used)) user_main(void)
{
    uint64_t r;
    uint16_t cs;

    __asm__ volatile("int $0x80" ::: "memory");
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(7ull)
                     : "rcx", "r11", "rdi", "rsi", "rdx", "r8", "r9", "r10", "memory");
    syscall_ret = r;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    cs_after_sysret = cs;
    __asm__ volatile("cli" ::: "memory");
    __asm__ volatile("int $0x81" ::: "memory");
    for (;;) {
    }
}

/* Let CPL 3 reach the first 64 MiB: set U on the identity mapping. */
static void allow_user(void)
{
    uint64_t cr3 = read_cr3() & ~0xfffull;
    uint64_t *pml4 = (uint64_t *)cr3;
    uint64_t *pdpt = (uint64_t *)(pml4[0] & 0xffffffffff000ull);
    uint64_t *pd = (uint64_t *)(pdpt[0] & 0xffffffffff000ull);

    pml4[0] |= 4;
    pdpt[0] |= 4;
    for (int i = 0; i < 32; i++) {
        pd[i] |= 4;
    }
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

void guest_main(uint32_t magic, uint32_t info)
{
    uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
    struct desc_ptr64 gp = { sizeof(gdt) - 1, (uint64_t)gdt };

    (void)magic;
    (void)info;
    serial_init();
    sys64_idt_init();
    allow_user();

    gdt[1] = 0x00af9a000000ffffull;         /* kernel code 64 */
    gdt[2] = 0x00cf92000000ffffull;         /* kernel data */
    gdt[3] = 0x00cffa000000ffffull;         /* user code 32 (SYSRET base) */
    gdt[4] = 0x00cff2000000ffffull;         /* user data */
    gdt[5] = 0x00affa000000ffffull;         /* user code 64 */
    gdt[6] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[7] = base >> 32;
    tss.rsp[0] = (uint64_t)kstack + sizeof(kstack);
    tss.iomap_base = sizeof(tss);
    __asm__ volatile("lgdt %0" : : "m"(gp));
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));

    wrmsr64(MSR_STAR, ((uint64_t)(UCODE - 16 - 3) << 48) | ((uint64_t)KCODE << 32));
    wrmsr64(MSR_LSTAR, (uint64_t)sys64_syscall_entry);
    wrmsr64(MSR_SFMASK, 0x200);
    wrmsr64(MSR_EFER, rdmsr64(MSR_EFER) | 1);   /* SCE */

    __asm__ volatile("push %0\n\t"
                     "push %1\n\t"
                     "pushfq\n\t"
                     "push %2\n\t"
                     "push %3\n\t"
                     "iretq"
                     :
                     : "i"(UDATA), "r"((uint64_t)ustack + sizeof(ustack)),
                       "i"(UCODE), "r"((uint64_t)user_main)
                     : "memory");
    guest_fail("usermode", "IRETQ to CPL 3 returned");
}
