/*
 * CPUID: the interpreter's supported leaves (what it implements), which
 * the -cpu model (target/x86/cpuid.c) filters into each vCPU's table, and
 * the CPUID instruction that answers from that table.
 *
 * A qemu64-like AMD64 CPU: vendor AuthenticAMD, family 15 model 107, x87,
 * MMX, SSE to SSSE3, CX8/CX16, POPCNT, SYSCALL, NX, long mode, RDTSCP, no
 * XSAVE/AVX/PCID/x2APIC/TSC-deadline/1 GiB pages (1 GiB pages are walked
 * but not advertised), 40 physical and 48 virtual address bits.
 *
 * Reference: AMD APM Vol. 3 appendix E; Intel SDM Vol. 2A "CPUID".
 */
#include <string.h>
#include "sys.h"
#include "target/x86/cpuid.h"

#define BIT(n) (1u << (n))

/* Leaf 1 EDX: FPU DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV
   PAT PSE36 CLFLUSH MMX FXSR SSE SSE2. */
#define SUP_1_EDX (BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | \
                   BIT(7) | BIT(8) | BIT(9) | BIT(11) | BIT(12) | BIT(13) | \
                   BIT(14) | BIT(15) | BIT(16) | BIT(17) | BIT(19) | \
                   BIT(23) | BIT(24) | BIT(25) | BIT(26))
/* Leaf 1 ECX: SSE3 SSSE3 CX16 POPCNT HYPERVISOR. */
#define SUP_1_ECX (BIT(0) | BIT(9) | BIT(13) | BIT(23) | BIT(31))
/* 0x80000001 EDX: SYSCALL NX RDTSCP LM, plus AMD's copies of leaf 1. */
#define SUP_X1_EDX (BIT(11) | BIT(20) | BIT(27) | BIT(29) | (SUP_1_EDX & 0x0183f3ffu))
#define SUP_X1_ECX BIT(0)                   /* LAHF_LM */

#define SIGNATURE 0x00060fb1u                /* family 15, model 107, stepping 1 */

static void set_vendor(CpuidEntry *e)
{
    memcpy(&e->ebx, "Auth", 4);
    memcpy(&e->edx, "enti", 4);
    memcpy(&e->ecx, "cAMD", 4);
}

void x86_interp_supported_cpuid(CpuidTable *out)
{
    static const char brand[48] = "kemu interpreter";
    CpuidEntry t[] = {
        { .function = 0, .eax = 0xd },
        { .function = 1, .eax = SIGNATURE, .ebx = 8u << 8,
          .ecx = SUP_1_ECX, .edx = SUP_1_EDX },
        { .function = 2, .eax = 1 },
        { .function = 7, .flags = CPUID_FLAG_SIGNIFICANT_INDEX },
        { .function = 0xd, .flags = CPUID_FLAG_SIGNIFICANT_INDEX },
        { .function = 0xd, .index = 1, .flags = CPUID_FLAG_SIGNIFICANT_INDEX },
        { .function = 0x80000000u, .eax = 0x80000008u },
        { .function = 0x80000001u, .eax = SIGNATURE, .ecx = SUP_X1_ECX,
          .edx = SUP_X1_EDX },
        { .function = 0x80000002u },
        { .function = 0x80000003u },
        { .function = 0x80000004u },
        { .function = 0x80000005u, .eax = 0xff01ff01u, .ebx = 0xff01ff01u,
          .ecx = 0x40020140u, .edx = 0x40020140u },
        { .function = 0x80000006u, .ecx = (512u << 16) | (0x8u << 12) | (1u << 8) | 64 },
        { .function = 0x80000007u },
        { .function = 0x80000008u, .eax = (48u << 8) | PHYS_BITS },
    };

    set_vendor(&t[0]);
    set_vendor(&t[6]);
    for (int i = 0; i < 3; i++) {
        memcpy(&t[8 + i].eax, brand + i * 16, 16);
    }
    out->n = G_N_ELEMENTS(t);
    out->e = g_memdup2(t, sizeof(t));
}

static const CpuidEntry *lookup(const CpuidTable *t, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < t->n; i++) {
        const CpuidEntry *e = &t->e[i];
        if (e->function == fn &&
            (!(e->flags & CPUID_FLAG_SIGNIFICANT_INDEX) || e->index == idx)) {
            return e;
        }
    }
    return NULL;
}

void x86_cpuid(CPU *cpu)
{
    static CpuidTable fallback;
    static gsize once;
    const CpuidTable *t = cpu->cpuid;
    const CpuidEntry *e;

    if (!t) {
        /* No table built (unit tests): answer with everything supported. */
        if (g_once_init_enter(&once)) {
            x86_interp_supported_cpuid(&fallback);
            g_once_init_leave(&once, 1);
        }
        t = &fallback;
    }
    /* Leaves beyond the maximum (or absent) read as zero, as on AMD. */
    e = lookup(t, (uint32_t)cpu->s.regs[R_EAX], (uint32_t)cpu->s.regs[R_ECX]);
    cpu->s.regs[R_EAX] = e ? e->eax : 0;
    cpu->s.regs[R_EBX] = e ? e->ebx : 0;
    cpu->s.regs[R_ECX] = e ? e->ecx : 0;
    cpu->s.regs[R_EDX] = e ? e->edx : 0;
}
