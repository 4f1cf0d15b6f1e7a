/*
 * The x86 interpreter's private interface, shared by its three parts:
 *
 *   target/x86/core/  decoder, decoded-instruction cache, execution loop,
 *                     integer instructions, lazy flags
 *   target/x86/sys/   MMU and TLB, segmentation, exceptions and interrupt
 *                     delivery, privileged and system instructions, MSRs,
 *                     CPUID; accel/interp/ glues it to the AccelOps
 *   target/x86/fpu/   x87, MMX, SSE/SSE2/SSE3/SSSE3, FXSAVE/FXRSTOR
 *
 * Conventions every part follows:
 * - A handler runs one decoded instruction. cpu->s.rip holds the address
 *   of the instruction's first byte while it runs; cpu->next_rip holds the
 *   address after it. A handler that branches sets cpu->next_rip; the loop
 *   commits rip = next_rip after the handler returns.
 * - Faults unwind with longjmp (x86_raise*): the instruction must not have
 *   changed architectural state before it faults — read and check every
 *   operand, write memory, then write registers and flags.
 * - Guest memory is reached only through the mem_* inline fast paths and
 *   the mmu_* slow paths below, which check paging and permissions.
 * - The interpreter runs without the BQL; device access (port I/O, MMIO)
 *   takes it inside mmu/io helpers.
 */
#ifndef TARGET_X86_INTERP_H
#define TARGET_X86_INTERP_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include "target/x86/cpu.h"

typedef struct Machine Machine;
typedef struct Vcpu Vcpu;
typedef struct CPU CPU;
typedef struct Insn Insn;
typedef struct CodeCache CodeCache;

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---------------------------------------------------------------- decode */

/* Run one decoded instruction. */
typedef void (*InsnFn)(CPU *cpu, const Insn *i);

#define REG_NONE 0xff

/*
 * A decoded instruction, cached by physical address. The decoder (core/)
 * fills every field; handlers only read it.
 */
struct Insn {
    InsnFn fn;
    uint16_t opcode;     /* (map << 8) | last opcode byte; map 0: one-byte,
                            1: 0F, 2: 0F 38, 3: 0F 3A */
    uint8_t len;         /* bytes, 1..15; in traces, a fused pair or a
                            PUSH/POP run covers all its instructions */
    uint8_t opsize;      /* operand size in bytes: 1, 2, 4 or 8 */
    uint8_t addrsize;    /* 2, 4 or 8 */
    uint8_t seg;         /* SEG_* of the memory operand, after overrides */
    uint8_t rep;         /* 0, 0xf3 or 0xf2 (for SSE: the mandatory prefix) */
    uint8_t lock;        /* LOCK prefix present */
    uint8_t rex;         /* REX byte, 0 if none (byte registers: SPL vs AH) */
    uint8_t modrm;       /* raw ModRM byte (x87 uses it) */
    uint8_t mod;         /* ModRM.mod: 3 means rm is a register */
    uint8_t reg;         /* ModRM.reg + REX.R (0..15), or the register in
                            the low opcode bits (+ REX.B) */
    uint8_t rm;          /* ModRM.rm + REX.B when mod == 3 */
    uint8_t base;        /* memory operand base register, REG_NONE if none */
    uint8_t index;       /* index register, REG_NONE if none */
    uint8_t scale;       /* index shift: 0..3 */
    uint8_t rip_rel;     /* RIP-relative (disp is relative to next_rip) */
    /* A flag-setting instruction fused with the Jcc after it (trace
       building, 64-bit mode): the Jcc's length << 4 | its condition code,
       its displacement in imm2, len covering both. 0 when not fused. */
    uint8_t jcc;
    /* Traces (core/exec.c): guest instructions before this one (a fused
       pair counts two, dropped NOPs count), and the offset of its first
       byte from the trace's start (NOPs are not decoded into traces). */
    uint16_t cum, off;
    /* Memory operands in 64-bit mode with a 64-bit address: byte offsets
       in CPU of the three addends of the linear address, so core/'s fast
       handlers compute it without branches: the base register (or
       CPU.next_rip when RIP-relative), the index register (shifted by
       scale) and the FS/GS base; CPU.ea_zero stands for an absent one.
       All 0 for other operands. */
    uint16_t ea_base, ea_index, ea_seg;
    int64_t disp;
    uint64_t imm;        /* first immediate (sign- or zero-extended as the
                            instruction defines) */
    uint64_t imm2;       /* second immediate: ENTER's level, far pointer
                            selector */
};

/* Effective address (offset within i->seg) of the memory operand.
   Forced inline: it is on every memory operand's path, and the compiler
   would otherwise leave it out of line in the larger handlers. */
static inline __attribute__((always_inline)) uint64_t x86_ea(const CPU *cpu, const Insn *i);

/* ------------------------------------------------------------- CPU state */

/* x87 / MMX / SSE state, laid out for FXSAVE's fields (fpu/ owns it). */
typedef struct X86FpuState {
    uint16_t fcw, fsw;
    uint8_t ftw;          /* abridged tag word: 1 bit per register, 1 = valid */
    uint8_t top;
    uint16_t fop;
    uint64_t fip, fdp;
    uint32_t mxcsr;
    /* st(i) registers as raw 80-bit values in 16-byte slots, by physical
       register number (st(i) is regs[(top + i) & 7]); MMX aliases them. */
    uint8_t st[8][16];
    uint8_t xmm[16][16];
} X86FpuState;

/* Software TLB entry: one per (privilege class, page slot). 32 bytes,
   so a hit touches one cache line when the TLB is 32-byte aligned (the
   accelerator allocates CPUs that way); the colder fields are in TlbPhys. */
typedef struct TlbEntry {
    uint64_t tag_r;       /* page-aligned linear address readable, or ~0 */
    uint64_t tag_w;       /* page-aligned linear address writable, or ~0 */
    uint64_t tag_x;       /* page-aligned linear address executable, or ~0 */
    uintptr_t addend;     /* host pointer = linear address + addend */
} TlbEntry;

/* The rest of a TLB entry, in CPU.tlb_phys at the same indices. */
typedef struct TlbPhys {
    uint64_t paddr;       /* physical address of the page */
    uint32_t sys_flags;   /* sys/ private: TLB_F_* (global, large page) */
} TlbPhys;

#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_USER 1        /* tlb[TLB_USER] serves CPL 3, tlb[0] CPL 0-2 */

/* Kinds of event delivered through the IDT. */
enum {
    EVT_EXCEPTION,        /* fault or trap raised by an instruction */
    EVT_HW_INTERRUPT,     /* external (APIC/PIC) or NMI */
    EVT_SW_INTERRUPT,     /* INT n: DPL checked, return to next_rip */
    EVT_SW_EXCEPTION,     /* INT3, INTO: DPL checked, return to next_rip */
    EVT_PRIV_SW_EXCEPTION,/* INT1 (ICEBP) */
};

/* Exception vectors. */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
    EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
    EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18, EXC_XM = 19,
};

enum { TRACE_SIDE_EXIT = 1, TRACE_ABORT = 2 };

struct CPU {
    X86CpuState s;        /* GPRs, rip, segments, control registers, EFER.
                             s.rflags holds every flag except the six
                             arithmetic ones while lazy flags are live:
                             use x86_get_rflags/x86_set_rflags. */
    uint64_t next_rip;
    uint64_t ea_zero;     /* always 0: see Insn.ea_base */
    /* Why the running trace stops after this instruction (core/): a taken
       conditional jump leaves it early (its target still links as a
       successor); a write to the trace's own code page aborts it. */
    uint8_t trace_stop;

    /* Lazy arithmetic flags (core/ owns the encoding). */
    uint64_t lf_res;      /* last result, zero-extended */
    uint64_t lf_aux;      /* carry-out vector / operand bits; see core/flags.c */
    uint32_t lf_op;       /* which operation produced lf_res and at which size */

    /* Cached from segment and control state by sys/ on every change. */
    uint8_t cpl;
    uint8_t code64;       /* CS.L with EFER.LMA */
    uint8_t code32;       /* CS.D (default operand/address size 32) */
    uint8_t stack32;      /* SS.B */
    uint8_t paging;       /* CR0.PG */
    uint8_t flat;         /* CS/DS/ES/SS bases 0 and limits 4G: skip limit checks */

    /* MSRs the interpreter implements (sys/ owns them). */
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_offset, tsc_aux, pat, misc_enable;
    uint64_t mtrr_def_type, mtrr_fixed[11], mtrr_var[16];

    X86FpuState fpu;

    /* Interrupt state (sys/). */
    uint8_t halted;
    uint8_t intr_shadow;  /* STI / MOV SS: no interrupt before the next insn */
    uint8_t nmi_blocked;  /* between NMI delivery and IRET */
    uint8_t a20_mask_off; /* unused: A20 is always enabled */

    /* Fault unwinding (sys/ raises, core/ catches). */
    jmp_buf *jmp;
    int exc_vector;       /* the exception being raised, -1 if none */
    uint32_t exc_error;
    uint8_t exc_has_error;
    int exc_nesting;      /* for #DF and triple-fault detection */

    TlbEntry tlb[2][TLB_SIZE];
    TlbPhys tlb_phys[2][TLB_SIZE];
    /* Moves whenever translations may have been dropped (mmu_flush,
       mmu_flush_page): core/'s trace links stay valid while it holds. */
    uint32_t tlb_gen;
    CodeCache *code;      /* decoded instructions (core/) */

    Machine *m;
    Vcpu *vcpu;
    uint64_t icount;      /* instructions retired, for MIPS figures */

    /* Added by sys/. */
    uint8_t shutdown;     /* triple fault: also sets halted so x86_exec
                             returns; the accelerator reports it */
    const struct CpuidTable *cpuid;  /* this vCPU's CPUID leaves */
};

/* --------------------------------------------------------- flags (core/) */

uint64_t x86_get_rflags(CPU *cpu);
/* Set every flag in @mask from @val (no privilege checks; sys/ applies
   IOPL/CPL rules before calling). Updates derived state (TF, IF, VM, AC). */
void x86_set_rflags(CPU *cpu, uint64_t val, uint64_t mask);

#define FLAG_CF (1u << 0)
#define FLAG_PF (1u << 2)
#define FLAG_AF (1u << 4)
#define FLAG_ZF (1u << 6)
#define FLAG_SF (1u << 7)
#define FLAG_TF (1u << 8)
#define FLAG_IF (1u << 9)
#define FLAG_DF (1u << 10)
#define FLAG_OF (1u << 11)
#define FLAG_IOPL (3u << 12)
#define FLAG_NT (1u << 14)
#define FLAG_RF (1u << 16)
#define FLAG_VM (1u << 17)
#define FLAG_AC (1u << 18)
#define FLAG_VIF (1u << 19)
#define FLAG_VIP (1u << 20)
#define FLAG_ID (1u << 21)
#define FLAGS_ARITH (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF)

/* ------------------------------------------------- execution loop (core/) */

CodeCache *code_cache_new(void);
void code_cache_free(CodeCache *c);
/*
 * Forget decoded instructions on the physical page of @paddr (guest or
 * device wrote to it). Safe from any vCPU thread; other vCPUs notice
 * before their next trace.
 */
void code_invalidate_page(Machine *m, uint64_t paddr);
/* Does the physical page hold decoded instructions? (mmu keeps such
   pages out of the write TLB so writes reach code_invalidate_page) */
bool code_page_has_code(Machine *m, uint64_t paddr);

/*
 * Execute until @budget instructions have retired, the vCPU halts, or
 * cpu->vcpu->irq_request / stop needs attention (checked at trace ends).
 * Delivers faults raised by instructions. Returns instructions retired.
 */
uint64_t x86_exec(CPU *cpu, uint64_t budget);

/* Decode the instruction at linear address @la (tests, disassembly);
   false if fetching it faults. */
bool x86_decode_at(CPU *cpu, uint64_t la, Insn *out);

/* --------------------------------------------------- memory (sys/ mmu.c) */

/* Slow paths: walk page tables, fill the TLB, or dispatch MMIO. */
uint64_t mmu_read_slow(CPU *cpu, uint64_t la, unsigned size);
void mmu_write_slow(CPU *cpu, uint64_t la, uint64_t val, unsigned size);
/* Host pointer for an instruction fetch at @la (checks execute
   permission); *@paddr gets its physical address, *@avail the bytes left
   on that page. Faults unwind. NULL if the page is not RAM (MMIO). */
const uint8_t *mmu_fetch(CPU *cpu, uint64_t la, uint64_t *paddr, unsigned *avail);
/*
 * Host pointer for a @size-byte read-modify-write at @la that lies within
 * one page of RAM, for LOCK-prefixed instructions (atomic with host
 * atomics). Checks write permission. NULL if MMIO or crossing a page: the
 * caller then uses mmu_read/mmu_write under x86_atomic_lock().
 */
void *mmu_rmw_ptr(CPU *cpu, uint64_t la, unsigned size);
void x86_atomic_lock(void);
void x86_atomic_unlock(void);
/* Flush this vCPU's TLB (@global: also global pages). */
void mmu_flush(CPU *cpu, bool global);
void mmu_flush_page(CPU *cpu, uint64_t la);
/* Translate for debuggers/monitor: false if not mapped. No faults. */
bool mmu_translate_debug(CPU *cpu, uint64_t la, uint64_t *paddr);
/*
 * Supervisor-privilege ("implicit") accesses for descriptor tables, the
 * TSS and interrupt stacks: permission checks as at CPL 0 whatever the
 * CPL. Faults unwind like mem_read/mem_write.
 */
uint64_t mmu_read_sys(CPU *cpu, uint64_t la, unsigned size);
void mmu_write_sys(CPU *cpu, uint64_t la, uint64_t val, unsigned size);

static inline TlbEntry *tlb_entry(CPU *cpu, uint64_t la)
{
    return &cpu->tlb[cpu->cpl == 3][(la >> 12) & (TLB_SIZE - 1)];
}

/* The TlbPhys half of entry @e of @cpu's TLB. */
static inline TlbPhys *tlb_phys(CPU *cpu, const TlbEntry *e)
{
    return &cpu->tlb_phys[0][0] + (e - &cpu->tlb[0][0]);
}

#define DEFINE_MEM_ACCESS(bits, type)                                          \
    static inline type mem_read##bits(CPU *cpu, uint64_t la)                   \
    {                                                                          \
        TlbEntry *e = tlb_entry(cpu, la);                                      \
        if (likely(e->tag_r == (la & ~0xfffull) &&                             \
                   (la & 0xfff) <= 0x1000 - sizeof(type))) {                   \
            type v;                                                            \
            __builtin_memcpy(&v, (void *)(uintptr_t)(la + e->addend), sizeof(v)); \
            return v;                                                          \
        }                                                                      \
        return (type)mmu_read_slow(cpu, la, sizeof(type));                     \
    }                                                                          \
    static inline void mem_write##bits(CPU *cpu, uint64_t la, type v)          \
    {                                                                          \
        TlbEntry *e = tlb_entry(cpu, la);                                      \
        if (likely(e->tag_w == (la & ~0xfffull) &&                             \
                   (la & 0xfff) <= 0x1000 - sizeof(type))) {                   \
            __builtin_memcpy((void *)(uintptr_t)(la + e->addend), &v, sizeof(v)); \
            return;                                                            \
        }                                                                      \
        mmu_write_slow(cpu, la, v, sizeof(type));                              \
    }

DEFINE_MEM_ACCESS(8, uint8_t)
DEFINE_MEM_ACCESS(16, uint16_t)
DEFINE_MEM_ACCESS(32, uint32_t)
DEFINE_MEM_ACCESS(64, uint64_t)

/* Any size 1/2/4/8. */
static inline uint64_t mem_read(CPU *cpu, uint64_t la, unsigned size)
{
    switch (size) {
    case 1: return mem_read8(cpu, la);
    case 2: return mem_read16(cpu, la);
    case 4: return mem_read32(cpu, la);
    default: return mem_read64(cpu, la);
    }
}

static inline void mem_write(CPU *cpu, uint64_t la, uint64_t v, unsigned size)
{
    switch (size) {
    case 1: mem_write8(cpu, la, v); break;
    case 2: mem_write16(cpu, la, v); break;
    case 4: mem_write32(cpu, la, v); break;
    default: mem_write64(cpu, la, v); break;
    }
}

/* ------------------------------------------- segmentation (sys/ seg.c) */

enum { ACC_READ, ACC_WRITE, ACC_EXEC };

/*
 * Linear address of @off in segment @seg for an access of @size bytes:
 * in 64-bit mode base (FS/GS only) + off with a canonical check (#GP, or
 * #SS for SS); otherwise the limit and type checks of protected/real mode.
 * Raises on failure.
 */
uint64_t x86_seg_slow(CPU *cpu, int seg, uint64_t off, unsigned size, int access);

/* 48-bit canonical: bits 63..47 all equal (shift unsigned: no UB). */
static inline bool x86_canonical(uint64_t la)
{
    return (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

static inline uint64_t x86_linear(CPU *cpu, int seg, uint64_t off, unsigned size, int access)
{
    if (likely(cpu->code64)) {
        uint64_t la = off + ((seg == SEG_FS || seg == SEG_GS) ? cpu->s.seg[seg].base : 0);
        if (likely(x86_canonical(la))) {
            return la;
        }
    } else if (likely(cpu->flat) && seg != SEG_FS && seg != SEG_GS) {
        return (uint32_t)off;
    }
    return x86_seg_slow(cpu, seg, off, size, access);
}

/* Load a segment register (MOV/POP Sreg, LDS...) with every check. */
void x86_load_seg(CPU *cpu, int seg, uint16_t sel);
/* Recompute cpl/code64/code32/stack32/paging/flat after a state change. */
void x86_update_mode(CPU *cpu);

/* --------------------------------------- exceptions (sys/ excp.c, etc.) */

/* Raise exception @vector (with @error when the vector has one). */
_Noreturn void x86_raise(CPU *cpu, int vector, uint32_t error);
_Noreturn void x86_raise_pf(CPU *cpu, uint64_t la, uint32_t error);
static inline _Noreturn void x86_raise_ud(CPU *cpu) { x86_raise(cpu, EXC_UD, 0); }
static inline _Noreturn void x86_raise_gp0(CPU *cpu) { x86_raise(cpu, EXC_GP, 0); }

/*
 * Deliver an event through the IDT (real-mode IVT, protected or long mode
 * gates, privilege change, IST, error code). For software kinds the return
 * address is cpu->next_rip. Faults during delivery escalate to #DF, then to
 * a triple fault (reported to the accelerator, which ends the run).
 */
void x86_deliver(CPU *cpu, int vector, int kind, bool has_error, uint32_t error);

/* ------------------------------------ system instructions (sys/) */

void x86_far_jmp(CPU *cpu, uint16_t sel, uint64_t off);
void x86_far_call(CPU *cpu, uint16_t sel, uint64_t off);   /* opsize from insn */
/* Far CALL with an explicit operand size (2, 4 or 8): core/ should use this
   one; x86_far_call assumes the mode's default size (no 66/REX.W). */
void x86_far_call_op(CPU *cpu, uint16_t sel, uint64_t off, unsigned opsize);
void x86_far_ret(CPU *cpu, unsigned opsize, uint16_t pop_bytes);
void x86_iret(CPU *cpu, unsigned opsize);
void x86_syscall(CPU *cpu);
void x86_sysret(CPU *cpu, unsigned opsize);
void x86_sysenter(CPU *cpu);
void x86_sysexit(CPU *cpu, unsigned opsize);
void x86_swapgs(CPU *cpu);
/* 0F 00 and 0F 01 groups: SLDT STR LLDT LTR VERR VERW, SGDT SIDT LGDT LIDT
   SMSW LMSW INVLPG, MONITOR/MWAIT (#UD), RDTSCP, SWAPGS, and LAR/LSL (0F 02/03). */
void x86_group6(CPU *cpu, const Insn *i);
void x86_group7(CPU *cpu, const Insn *i);
void x86_lar_lsl(CPU *cpu, const Insn *i, bool lsl);
void x86_mov_cr(CPU *cpu, const Insn *i);     /* 0F 20 / 0F 22 */
void x86_mov_dr(CPU *cpu, const Insn *i);     /* 0F 21 / 0F 23 */
void x86_clts(CPU *cpu);
void x86_rdmsr(CPU *cpu);
void x86_wrmsr(CPU *cpu);
void x86_rdtsc(CPU *cpu);
void x86_rdpmc(CPU *cpu);
void x86_cpuid(CPU *cpu);
void x86_hlt(CPU *cpu);
void x86_cli(CPU *cpu);
void x86_sti(CPU *cpu);
void x86_invd_wbinvd(CPU *cpu);
/* POPF/IRET-style flag writes with the CPL/IOPL/VM rules. */
void x86_popf(CPU *cpu, uint64_t val, unsigned opsize);
/* IN/OUT with the IOPL / TSS I/O bitmap check, through the machine's bus. */
uint32_t x86_in(CPU *cpu, uint16_t port, unsigned size);
void x86_out(CPU *cpu, uint16_t port, uint32_t val, unsigned size);

/* The interpreter's CPUID capabilities (the -cpu model filters them). */
void x86_interp_supported_cpuid(struct CpuidTable *out);
/* Reset @cpu to the power-on (@bsp) or INIT state; keeps the TLB empty. */
void x86_cpu_reset(CPU *cpu, bool bsp);
/* Make @cpu's registers @s (mode, TLB and flags follow). */
void x86_cpu_set_state(CPU *cpu, const X86CpuState *s);
void x86_cpu_get_state(CPU *cpu, X86CpuState *s);

/* ----------------------------------------------------------- fpu (fpu/) */

/* Handler for an SSE/MMX opcode in @map (1: 0F, 2: 0F38, 3: 0F3A) with
   mandatory prefix @prefix (0, 0x66, 0xf3, 0xf2); NULL if none exists. */
InsnFn fpu_sse_handler(unsigned map, uint8_t opcode, uint8_t prefix);
/* Does that opcode take an imm8? (decoder needs it for the length) */
bool fpu_sse_has_imm8(unsigned map, uint8_t opcode, uint8_t prefix);
/* Handler for x87 escape opcodes D8..DF. */
void fpu_x87(CPU *cpu, const Insn *i);
/* FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/FNINIT state (0F AE group: fpu/). */
void fpu_group15(CPU *cpu, const Insn *i);
void fpu_reset(CPU *cpu);
/* FWAIT/WAIT (9B): #NM if CR0.MP and CR0.TS, #MF if an x87 exception is
   pending. */
void fpu_fwait(CPU *cpu, const Insn *i);
/* #NM check (CR0.TS/EM) done by fpu/ handlers: sys/ provides CR0. */

/* ------------------------------------------------- inline definitions */

static inline __attribute__((always_inline)) uint64_t x86_ea(const CPU *cpu, const Insn *i)
{
    uint64_t ea = (uint64_t)i->disp;

    if (i->rip_rel) {
        ea += cpu->next_rip;
    }
    if (i->base != REG_NONE) {
        ea += cpu->s.regs[i->base];
    }
    if (i->index != REG_NONE) {
        ea += cpu->s.regs[i->index] << i->scale;
    }
    switch (i->addrsize) {
    case 2: return ea & 0xffff;
    case 4: return ea & 0xffffffff;
    default: return ea;
    }
}

#endif
