/*
 * Private helpers of the FPU part of the interpreter (x87, MMX, SSE).
 *
 * Floating-point arithmetic runs on the host's own SSE and x87 units
 * (inline assembly): kemu hosts are x86-64, so results, rounding, NaN
 * propagation, denormal handling and exception flags match real hardware
 * bit for bit. The guest's MXCSR / FCW rounding, precision, DAZ and FTZ
 * settings are loaded into the host around each instruction with every
 * exception masked; the flags the host raised are then merged into the
 * guest's status and, when the guest unmasked one, the fault is raised
 * before the destination is written.
 */
#ifndef TARGET_X86_FPU_INTERNAL_H
#define TARGET_X86_FPU_INTERNAL_H

#include <string.h>
#include "target/x86/interp.h"

#if !defined(__x86_64__)
#error "target/x86/fpu computes with the host's SSE and x87 units: x86-64 hosts only"
#endif

#define FPU_CR0_MP (1u << 1)
#define FPU_CR0_EM (1u << 2)
#define FPU_CR0_TS (1u << 3)
#define FPU_CR0_NE (1u << 5)
#define FPU_CR4_OSFXSR (1u << 9)
#define FPU_CR4_OSXMMEXCPT (1u << 10)

#define MXCSR_FLAGS 0x3fu
#define MXCSR_DAZ   0x40u
#define MXCSR_MASKS 0x1f80u
#define MXCSR_MASK_SUPPORTED 0xffffu   /* FXSAVE's MXCSR_MASK: DAZ supported */
#define MXCSR_RESET 0x1f80u

/* FSW bits (TOP lives in X86FpuState.top, not in fsw). */
#define FSW_IE 0x0001u
#define FSW_DE 0x0002u
#define FSW_ZE 0x0004u
#define FSW_OE 0x0008u
#define FSW_UE 0x0010u
#define FSW_PE 0x0020u
#define FSW_SF 0x0040u
#define FSW_ES 0x0080u
#define FSW_C0 0x0100u
#define FSW_C1 0x0200u
#define FSW_C2 0x0400u
#define FSW_TOP_SHIFT 11
#define FSW_C3 0x4000u
#define FSW_B  0x8000u
#define FSW_CC (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)
#define FCW_RESET 0x037fu
#define FCW_MASK  0x1f3fu   /* FCW bits that can be written */
#define FCW_ONES  0x0040u   /* reserved bit 6 reads as one */

/* One 128-bit (or 64-bit MMX) operand, viewed as any lane type. */
typedef union Vec {
    uint8_t b[16];
    int8_t sb[16];
    uint16_t w[8];
    int16_t sw[8];
    uint32_t d[4];
    int32_t sd[4];
    uint64_t q[2];
    int64_t sq[2];
    float f[4];
    double dbl[2];
} Vec;

/* --------------------------------------------------------- state checks */

_Noreturn void fpu_sse_fault(CPU *cpu, const Insn *i);
_Noreturn void fpu_mmx_fault(CPU *cpu, const Insn *i);

/* SSE instruction prologue: #UD on LOCK, CR0.EM or !CR4.OSFXSR; #NM on CR0.TS. */
static inline void sse_check(CPU *cpu, const Insn *i)
{
    if (unlikely(i->lock || (cpu->s.cr0 & (FPU_CR0_EM | FPU_CR0_TS)) ||
                 !(cpu->s.cr4 & FPU_CR4_OSFXSR))) {
        fpu_sse_fault(cpu, i);
    }
}

/* MMX instruction prologue: #UD on LOCK or CR0.EM; #NM on CR0.TS. */
static inline void mmx_check(CPU *cpu, const Insn *i)
{
    if (unlikely(i->lock || (cpu->s.cr0 & (FPU_CR0_EM | FPU_CR0_TS)))) {
        fpu_mmx_fault(cpu, i);
    }
}

/* Every MMX instruction (except EMMS) makes TOP 0 and all tags valid. */
static inline void mmx_enter(CPU *cpu)
{
    cpu->fpu.top = 0;
    cpu->fpu.ftw = 0xff;
}

/* Prologue of the MMX (@n = 8) or SSE (@n = 16) form of an instruction. */
static inline void vec_check(CPU *cpu, const Insn *i, unsigned n)
{
    if (n == 16) {
        sse_check(cpu, i);
    } else {
        mmx_check(cpu, i);
    }
}

/* vec_check(), then MMX mode at once for the MMX form (forms with a
   memory source enter it only after reading the source, which may fault). */
static inline void vec_check_enter(CPU *cpu, const Insn *i, unsigned n)
{
    vec_check(cpu, i, n);
    if (n == 8) {
        mmx_enter(cpu);
    }
}

/* --------------------------------------------------------- register file */

static inline void xmm_get(const CPU *cpu, unsigned r, Vec *v)
{
    memcpy(v, cpu->fpu.xmm[r], 16);
}

static inline void xmm_set(CPU *cpu, unsigned r, const Vec *v)
{
    memcpy(cpu->fpu.xmm[r], v, 16);
}

static inline uint64_t mmx_get(const CPU *cpu, unsigned r)
{
    uint64_t v;
    memcpy(&v, cpu->fpu.st[r & 7], 8);
    return v;
}

/* Writing an MMX register sets its x87 exponent field to all ones. */
static inline void mmx_set(CPU *cpu, unsigned r, uint64_t v)
{
    memcpy(cpu->fpu.st[r & 7], &v, 8);
    cpu->fpu.st[r & 7][8] = 0xff;
    cpu->fpu.st[r & 7][9] = 0xff;
}

/* Register operand of width @n (8: MMX, 16: XMM). */
static inline void vreg_get(CPU *cpu, unsigned r, Vec *v, unsigned n)
{
    if (n == 16) {
        xmm_get(cpu, r, v);
    } else {
        v->q[0] = mmx_get(cpu, r);
        v->q[1] = 0;
    }
}

static inline void vreg_set(CPU *cpu, unsigned r, const Vec *v, unsigned n)
{
    if (n == 16) {
        xmm_set(cpu, r, v);
    } else {
        mmx_set(cpu, r, v->q[0]);
    }
}

/* --------------------------------------------------------- memory operands */

/* Linear address of the memory operand; #GP(0) if @align and misaligned. */
static inline uint64_t fpu_la(CPU *cpu, const Insn *i, unsigned size, int access, bool align)
{
    uint64_t la = x86_linear(cpu, i->seg, x86_ea(cpu, i), size, access);
    if (align && unlikely(la & (size - 1))) {
        x86_raise_gp0(cpu);
    }
    return la;
}

/* Read @size (4, 8 or 16) bytes into the low part of @v (rest zeroed). */
static inline void mem_get(CPU *cpu, uint64_t la, Vec *v, unsigned size)
{
    v->q[1] = 0;
    switch (size) {
    case 4: v->q[0] = mem_read32(cpu, la); break;
    case 8: v->q[0] = mem_read64(cpu, la); break;
    default:
        v->q[0] = mem_read64(cpu, la);
        v->q[1] = mem_read64(cpu, la + 8);
        break;
    }
}

/* Write the low @size bytes of @v. Known gap: an unaligned 16-byte store
   crossing into a faulting page may have written its other half. */
static inline void mem_put(CPU *cpu, uint64_t la, const Vec *v, unsigned size)
{
    switch (size) {
    case 4: mem_write32(cpu, la, v->d[0]); break;
    case 8: mem_write64(cpu, la, v->q[0]); break;
    default:
        mem_write64(cpu, la, v->q[0]);
        mem_write64(cpu, la + 8, v->q[1]);
        break;
    }
}

/*
 * The r/m source operand: register (XMM i->rm, or MMX i->rm & 7 when
 * @n == 8) or @size bytes of memory (16-byte memory must be aligned when
 * @align). Unread bytes are zero.
 */
static inline void src_get(CPU *cpu, const Insn *i, Vec *v, unsigned n, unsigned size, bool align)
{
    if (i->mod == 3) {
        vreg_get(cpu, i->rm, v, n);
    } else {
        mem_get(cpu, fpu_la(cpu, i, size, ACC_READ, align && size == 16), v, size);
    }
}

/* --------------------------------------------------------- host MXCSR */

static inline uint32_t host_stmxcsr(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) :: "memory");
    return v;
}

static inline void host_ldmxcsr(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" :: "m"(v) : "memory");
}

/* Load the guest's rounding/DAZ/FTZ into the host, every exception masked
   and no flag set. Returns the host's MXCSR for sse_fp_leave. */
static inline uint32_t sse_fp_enter(CPU *cpu)
{
    uint32_t host = host_stmxcsr();
    host_ldmxcsr((cpu->fpu.mxcsr & ~MXCSR_FLAGS) | MXCSR_MASKS);
    return host;
}

void fpu_sse_raise_xm(CPU *cpu);

/* Restore the host MXCSR, merge the flags raised into the guest's MXCSR and
   raise #XM (#UD without CR4.OSXMMEXCPT) if one of them is unmasked. */
static inline void sse_fp_leave(CPU *cpu, uint32_t host)
{
    uint32_t flags = host_stmxcsr() & MXCSR_FLAGS;
    host_ldmxcsr(host);
    cpu->fpu.mxcsr |= flags;
    if (unlikely(flags & ~(cpu->fpu.mxcsr >> 7))) {
        fpu_sse_raise_xm(cpu);
    }
}

/* --------------------------------------------------------- entry points */

/* SSE/MMX handler lookup tables (sse-table.c) refer to these families. */
#define FPU_DECL(name) void name(CPU *cpu, const Insn *i)

/* Load the FXSAVE image @img (512 bytes; @rexw: 64-bit FIP/FDP layout)
   into the FPU state without checks (FXRSTOR after its checks; tests). */
void fpu_fxrstor_image(CPU *cpu, const uint8_t *img, bool rexw);
/* Fill bytes 0..415 of @img from the FPU state, as FXSAVE does. */
void fpu_fxsave_image(CPU *cpu, uint8_t *img, bool rexw);
/* The full 2-bit tag of physical register @r (0 valid, 1 zero, 2 special,
   3 empty). */
unsigned fpu_full_tag(const CPU *cpu, unsigned r);

#endif
