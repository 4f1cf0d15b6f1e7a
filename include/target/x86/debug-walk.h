/*
 * Guest-virtual to guest-physical translation for debuggers and the
 * monitor (HMP x), from a register snapshot, under any accelerator.
 */
#ifndef TARGET_X86_DEBUG_WALK_H
#define TARGET_X86_DEBUG_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include "target/x86/cpu.h"

struct Machine;

/*
 * Translate linear address @la as a supervisor read would, with the paging
 * mode @s describes (CR0.PG, CR4.PAE/PSE, EFER.LMA: none, 2-level, PAE,
 * 4-level; large pages), walking the page tables in @m's RAM. Without
 * paging the address is its own physical address (truncated to 32 bits).
 * Sets no accessed/dirty bits and touches no TLB. Returns false when the
 * page is not mapped (not present, reserved bits, tables outside RAM).
 */
bool x86_debug_translate(struct Machine *m, const X86CpuState *s, uint64_t la,
                         uint64_t *pa);

#endif
