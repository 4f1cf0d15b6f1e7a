/*
 * Debug address translation (include/target/x86/debug-walk.h): the
 * interpreter's page walker, run on a throw-away CPU built from a register
 * snapshot, so KVM's state (copied out with get_state) translates exactly
 * as the interpreter's own would.
 */
#include "target/x86/debug-walk.h"
#include "target/x86/interp.h"
#include "system/machine.h"

bool x86_debug_translate(struct Machine *m, const X86CpuState *s, uint64_t la,
                         uint64_t *pa)
{
    /* Heap, not stack: a CPU carries its TLB (about 100 KiB). */
    g_autofree CPU *cpu = g_new0(CPU, 1);

    cpu->s = *s;
    cpu->m = m;
    cpu->paging = (s->cr0 & CR0_PG) != 0;
    return mmu_translate_debug(cpu, la, pa);
}
