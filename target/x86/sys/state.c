/*
 * CPU state in and out of the interpreter: reset (power-on and INIT),
 * and the X86CpuState copy used by the accelerator's get/set_state.
 *
 * Whenever registers change behind the interpreter's back the derived
 * state follows: lazy flags (through x86_set_rflags), the cached mode
 * bits, and the TLB (flushed whole).
 */
#include <string.h>
#include "sys.h"

#define PAT_RESET 0x0007040600070406ull
#define ALL_FLAGS 0x3f7fd5u

void x86_cpu_reset(CPU *cpu, bool bsp)
{
    x86_cpu_reset_state(&cpu->s, bsp);
    cpu->next_rip = cpu->s.rip;
    cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
    cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
    cpu->tsc_offset = 0;
    cpu->tsc_aux = 0;
    cpu->pat = PAT_RESET;
    cpu->misc_enable = 0;
    cpu->mtrr_def_type = 0;
    memset(cpu->mtrr_fixed, 0, sizeof(cpu->mtrr_fixed));
    memset(cpu->mtrr_var, 0, sizeof(cpu->mtrr_var));
    cpu->halted = cpu->intr_shadow = cpu->nmi_blocked = cpu->shutdown = 0;
    cpu->exc_vector = -1;
    cpu->exc_error = 0;
    cpu->exc_has_error = 0;
    cpu->exc_nesting = 0;
    x86_set_rflags(cpu, cpu->s.rflags, ALL_FLAGS);
    fpu_reset(cpu);
    mmu_flush(cpu, true);
    x86_update_mode(cpu);
}

void x86_cpu_set_state(CPU *cpu, const X86CpuState *s)
{
    cpu->s = *s;
    cpu->s.rflags |= 2;
    cpu->next_rip = s->rip;
    x86_set_rflags(cpu, cpu->s.rflags, ALL_FLAGS);
    mmu_flush(cpu, true);
    x86_update_mode(cpu);
}

void x86_cpu_get_state(CPU *cpu, X86CpuState *s)
{
    *s = cpu->s;
    s->rflags = x86_get_rflags(cpu) | 2;
}
