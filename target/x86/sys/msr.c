/*
 * Model-specific registers, RDTSC and RDPMC.
 *
 * The TSC counts the virtual clock (hw/clock.h) at 1 GHz: one tick per
 * nanosecond of guest time, so it stops while the VM is paused and agrees
 * with the PIT, LAPIC timer and RTC. The vendor is AMD, which has no
 * CPUID frequency leaf: Linux calibrates the TSC against the PIT.
 *
 * Unknown MSRs raise #GP (Linux reads optional ones with rdmsr_safe) and
 * log under -d unimp. A few AMD MSRs Linux touches on an AuthenticAMD
 * family 0xf CPU read as 0 and ignore writes.
 *
 * Reference: Intel SDM Vol. 4; AMD APM Vol. 2 appendix A.
 */
#include "sys.h"
#include "accel/accel.h"
#include "hw/clock.h"
#include "hw/intc/apic.h"
#include "system/bql.h"
#include "kemu/log.h"

enum {
    MSR_TSC = 0x10,
    MSR_APIC_BASE = 0x1b,
    MSR_BIOS_SIGN_ID = 0x8b,
    MSR_MTRRCAP = 0xfe,
    MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176,
    MSR_MCG_CAP = 0x179,
    MSR_MCG_STATUS = 0x17a,
    MSR_MCG_CTL = 0x17b,
    MSR_MISC_ENABLE = 0x1a0,
    MSR_MTRR_PHYS_BASE0 = 0x200,
    MSR_MTRR_FIX64K = 0x250,
    MSR_MTRR_FIX16K_80000 = 0x258,
    MSR_MTRR_FIX16K_A0000 = 0x259,
    MSR_MTRR_FIX4K_C0000 = 0x268,
    MSR_PAT = 0x277,
    MSR_MTRR_DEF_TYPE = 0x2ff,
    MSR_EFER = 0xc0000080,
    MSR_STAR = 0xc0000081,
    MSR_LSTAR = 0xc0000082,
    MSR_CSTAR = 0xc0000083,
    MSR_SFMASK = 0xc0000084,
    MSR_FS_BASE = 0xc0000100,
    MSR_GS_BASE = 0xc0000101,
    MSR_KERNEL_GS_BASE = 0xc0000102,
    MSR_TSC_AUX = 0xc0000103,
};

#define MTRRCAP_VALUE 0x508ull     /* 8 variable ranges, fixed, WC */
#define APIC_BASE_WRITABLE 0xfffffff900ull  /* base, enable, x2APIC off */

/* AMD MSRs Linux 6.1 touches on family 0xf/0x10: read 0, writes ignored. */
static bool amd_benign_msr(uint32_t msr)
{
    switch (msr) {
    case 0xc0010010:        /* SYSCFG */
    case 0xc0010015:        /* HWCR */
    case 0xc001001a:        /* TOP_MEM */
    case 0xc001001d:        /* TOP_MEM2 */
    case 0xc001001f:        /* NB_CFG */
    case 0xc0010055:        /* INT_PENDING_MSG */
    case 0xc0010058:        /* MMIO_CONF_BASE */
    case 0xc0010114:        /* VM_CR */
    case 0xc0010140:        /* OSVW_ID_LENGTH */
    case 0xc0010141:        /* OSVW_STATUS */
    case 0xc0011020:        /* LS_CFG */
    case 0xc0011029:        /* DE_CFG */
        return true;
    default:
        return false;
    }
}

uint64_t x86_tsc_read(CPU *cpu)
{
    return (uint64_t)clock_ns() + cpu->tsc_offset;
}

void x86_rdtsc(CPU *cpu)
{
    if ((cpu->s.cr4 & CR4_TSD) && cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    uint64_t t = x86_tsc_read(cpu);
    cpu->s.regs[R_EAX] = (uint32_t)t;
    cpu->s.regs[R_EDX] = t >> 32;
}

void x86_rdpmc(CPU *cpu)
{
    /* No performance counters are advertised. */
    x86_raise_gp0(cpu);
}

static Apic *cpu_apic(CPU *cpu)
{
    return cpu->vcpu ? cpu->vcpu->apic : NULL;
}

/* IA32_APIC_BASE lives in the userspace LAPIC when there is one. */
static uint64_t apic_base_read(CPU *cpu)
{
    Apic *a = cpu_apic(cpu);

    if (!a) {
        return cpu->s.apic_base;
    }
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    cpu->s.apic_base = apic_get_base(a);
    if (taken) {
        bql_unlock();
    }
    return cpu->s.apic_base;
}

static bool apic_base_write(CPU *cpu, uint64_t v)
{
    Apic *a = cpu_apic(cpu);
    bool ok;

    if (!a) {
        if (v & ~APIC_BASE_WRITABLE & ~0x100ull) {
            return false;
        }
        /* The BSP flag is read-only. */
        cpu->s.apic_base = (v & APIC_BASE_WRITABLE) | (cpu->s.apic_base & 0x100);
        return true;
    }
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    ok = apic_set_base(a, v);
    cpu->s.apic_base = apic_get_base(a);
    if (taken) {
        bql_unlock();
    }
    return ok;
}

static bool pat_valid(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        unsigned t = (v >> (i * 8)) & 0xff;
        if (t == 2 || t == 3 || t > 7) {
            return false;
        }
    }
    return true;
}

static int mtrr_fixed_index(uint32_t msr)
{
    if (msr == MSR_MTRR_FIX64K) {
        return 0;
    }
    if (msr == MSR_MTRR_FIX16K_80000 || msr == MSR_MTRR_FIX16K_A0000) {
        return 1 + (msr - MSR_MTRR_FIX16K_80000);
    }
    if (msr >= MSR_MTRR_FIX4K_C0000 && msr < MSR_MTRR_FIX4K_C0000 + 8) {
        return 3 + (msr - MSR_MTRR_FIX4K_C0000);
    }
    return -1;
}

/* Read MSR @msr into *@v; false if it does not exist. */
bool x86_msr_read(CPU *cpu, uint32_t msr, uint64_t *v)
{
    int fix = mtrr_fixed_index(msr);

    if (fix >= 0) {
        *v = cpu->mtrr_fixed[fix];
        return true;
    }
    if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
        *v = cpu->mtrr_var[msr - MSR_MTRR_PHYS_BASE0];
        return true;
    }
    if (amd_benign_msr(msr)) {
        *v = 0;
        return true;
    }
    switch (msr) {
    case MSR_TSC: *v = x86_tsc_read(cpu); return true;
    case MSR_APIC_BASE: *v = apic_base_read(cpu); return true;
    case MSR_BIOS_SIGN_ID: *v = 0; return true;
    case MSR_MTRRCAP: *v = MTRRCAP_VALUE; return true;
    case MSR_SYSENTER_CS: *v = cpu->sysenter_cs; return true;
    case MSR_SYSENTER_ESP: *v = cpu->sysenter_esp; return true;
    case MSR_SYSENTER_EIP: *v = cpu->sysenter_eip; return true;
    case MSR_MCG_CAP: case MSR_MCG_STATUS: case MSR_MCG_CTL: *v = 0; return true;
    case MSR_MISC_ENABLE: *v = cpu->misc_enable; return true;
    case MSR_PAT: *v = cpu->pat; return true;
    case MSR_MTRR_DEF_TYPE: *v = cpu->mtrr_def_type; return true;
    case MSR_EFER: *v = cpu->s.efer; return true;
    case MSR_STAR: *v = cpu->star; return true;
    case MSR_LSTAR: *v = cpu->lstar; return true;
    case MSR_CSTAR: *v = cpu->cstar; return true;
    case MSR_SFMASK: *v = cpu->sfmask; return true;
    case MSR_FS_BASE: *v = cpu->s.seg[SEG_FS].base; return true;
    case MSR_GS_BASE: *v = cpu->s.seg[SEG_GS].base; return true;
    case MSR_KERNEL_GS_BASE: *v = cpu->kernel_gs_base; return true;
    case MSR_TSC_AUX: *v = cpu->tsc_aux; return true;
    default: return false;
    }
}

static bool write_efer(CPU *cpu, uint64_t v)
{
    uint64_t writable = EFER_SCE | EFER_LME | EFER_NXE;
    uint64_t old = cpu->s.efer;

    if (v & ~(writable | EFER_LMA)) {
        return false;
    }
    /* LME cannot change while paging is on. */
    if ((cpu->s.cr0 & CR0_PG) && ((v ^ old) & EFER_LME)) {
        return false;
    }
    cpu->s.efer = (old & EFER_LMA) | (v & writable);
    if ((old ^ v) & EFER_NXE) {
        mmu_flush(cpu, true);
    }
    return true;
}

/* Write MSR @msr; false for an unknown MSR or an invalid value (#GP). */
bool x86_msr_write(CPU *cpu, uint32_t msr, uint64_t v)
{
    int fix = mtrr_fixed_index(msr);

    if (fix >= 0) {
        cpu->mtrr_fixed[fix] = v;
        return true;
    }
    if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
        cpu->mtrr_var[msr - MSR_MTRR_PHYS_BASE0] = v;
        return true;
    }
    if (amd_benign_msr(msr)) {
        log_unimp("interpreter: write %#" G_GINT64_MODIFIER "x to AMD MSR %#x ignored\n",
                  v, msr);
        return true;
    }
    switch (msr) {
    case MSR_TSC:
        cpu->tsc_offset = v - (uint64_t)clock_ns();
        return true;
    case MSR_APIC_BASE:
        return apic_base_write(cpu, v);
    case MSR_BIOS_SIGN_ID:
        return true;
    case MSR_SYSENTER_CS: cpu->sysenter_cs = v & 0xffff; return true;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
        if (!x86_canonical(v)) {
            return false;
        }
        *(msr == MSR_SYSENTER_ESP ? &cpu->sysenter_esp : &cpu->sysenter_eip) = v;
        return true;
    case MSR_MCG_STATUS: case MSR_MCG_CTL: return v == 0 || msr == MSR_MCG_CTL;
    case MSR_MISC_ENABLE: cpu->misc_enable = v; return true;
    case MSR_PAT:
        if (!pat_valid(v)) {
            return false;
        }
        cpu->pat = v;
        return true;
    case MSR_MTRR_DEF_TYPE: cpu->mtrr_def_type = v; return true;
    case MSR_EFER: return write_efer(cpu, v);
    case MSR_STAR: cpu->star = v; return true;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!x86_canonical(v)) {
            return false;
        }
        if (msr == MSR_LSTAR) {
            cpu->lstar = v;
        } else if (msr == MSR_CSTAR) {
            cpu->cstar = v;
        } else if (msr == MSR_FS_BASE) {
            cpu->s.seg[SEG_FS].base = v;
        } else if (msr == MSR_GS_BASE) {
            cpu->s.seg[SEG_GS].base = v;
        } else {
            cpu->kernel_gs_base = v;
        }
        return true;
    case MSR_SFMASK: cpu->sfmask = (uint32_t)v; return true;
    case MSR_TSC_AUX: cpu->tsc_aux = (uint32_t)v; return true;
    default:
        return false;
    }
}

void x86_rdmsr(CPU *cpu)
{
    uint32_t msr = (uint32_t)cpu->s.regs[R_ECX];
    uint64_t v;

    if (cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    if (!x86_msr_read(cpu, msr, &v)) {
        log_unimp("interpreter: rdmsr of unknown MSR %#x\n", msr);
        x86_raise_gp0(cpu);
    }
    cpu->s.regs[R_EAX] = (uint32_t)v;
    cpu->s.regs[R_EDX] = v >> 32;
}

void x86_wrmsr(CPU *cpu)
{
    uint32_t msr = (uint32_t)cpu->s.regs[R_ECX];
    uint64_t v = (cpu->s.regs[R_EDX] << 32) | (uint32_t)cpu->s.regs[R_EAX];

    if (cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    if (!x86_msr_write(cpu, msr, v)) {
        log_unimp("interpreter: wrmsr %#x <- %#" G_GINT64_MODIFIER "x refused\n",
                  msr, v);
        x86_raise_gp0(cpu);
    }
}
