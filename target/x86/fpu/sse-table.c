/*
 * SSE/MMX opcode lookup for the decoder, and the faults shared by the
 * SSE/MMX handlers.
 */
#include "fpu-internal.h"
#include "sse-ops.h"

#define SSE_FN_ENTRY(map, op, px, fn, imm) [map][op][px] = fn,
#define SSE_IMM_ENTRY(map, op, px, fn, imm) [map][op][px] = imm,

static const InsnFn sse_fn[4][256][4] = { SSE_OPS(SSE_FN_ENTRY) };
static const uint8_t sse_imm[4][256][4] = { SSE_OPS(SSE_IMM_ENTRY) };

static int prefix_index(uint8_t prefix)
{
    switch (prefix) {
    case 0: return PX_NONE;
    case 0x66: return PX_66;
    case 0xf3: return PX_F3;
    case 0xf2: return PX_F2;
    default: return -1;
    }
}

InsnFn fpu_sse_handler(unsigned map, uint8_t opcode, uint8_t prefix)
{
    int px = prefix_index(prefix);
    if (map < 1 || map > 3 || px < 0) {
        return NULL;
    }
    return sse_fn[map][opcode][px];
}

bool fpu_sse_has_imm8(unsigned map, uint8_t opcode, uint8_t prefix)
{
    int px = prefix_index(prefix);
    if (map < 1 || map > 3 || px < 0) {
        return false;
    }
    return sse_imm[map][opcode][px];
}

_Noreturn void fpu_sse_fault(CPU *cpu, const Insn *i)
{
    if (i->lock || (cpu->s.cr0 & FPU_CR0_EM) || !(cpu->s.cr4 & FPU_CR4_OSFXSR)) {
        x86_raise_ud(cpu);
    }
    x86_raise(cpu, EXC_NM, 0);
}

_Noreturn void fpu_mmx_fault(CPU *cpu, const Insn *i)
{
    if (i->lock || (cpu->s.cr0 & FPU_CR0_EM)) {
        x86_raise_ud(cpu);
    }
    x86_raise(cpu, EXC_NM, 0);
}

void fpu_sse_raise_xm(CPU *cpu)
{
    if (cpu->s.cr4 & FPU_CR4_OSXMMEXCPT) {
        x86_raise(cpu, EXC_XM, 0);
    }
    x86_raise_ud(cpu);
}
