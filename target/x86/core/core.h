/*
 * Private helpers of the interpreter core (target/x86/core/): register and
 * operand access, the lazy-flags encoding, stack helpers, and the handler
 * tables the decoder picks from. Nothing outside core/ includes this.
 */
#ifndef TARGET_X86_CORE_CORE_H
#define TARGET_X86_CORE_CORE_H

#include "target/x86/interp.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------ sizes */

ALWAYS_INLINE uint64_t size_mask(unsigned size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

ALWAYS_INLINE int64_t sext(uint64_t v, unsigned size)
{
    switch (size) {
    case 1: return (int8_t)v;
    case 2: return (int16_t)v;
    case 4: return (int32_t)v;
    default: return (int64_t)v;
    }
}

/* Index 0..3 for operand sizes 1, 2, 4, 8 (handler tables). */
ALWAYS_INLINE unsigned size_idx(unsigned size)
{
    return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
}

/* -------------------------------------------------------- registers */

/*
 * Byte registers 4..7 name AH, CH, DH, BH unless the instruction has a
 * REX prefix (then SPL, BPL, SIL, DIL). Registers >= 8 need REX anyway.
 */
ALWAYS_INLINE uint64_t reg_get(const CPU *cpu, const Insn *i, unsigned r, unsigned size)
{
    switch (size) {
    case 1:
        if (!i->rex && r >= 4) {
            return (cpu->s.regs[r - 4] >> 8) & 0xff;
        }
        return cpu->s.regs[r] & 0xff;
    case 2: return cpu->s.regs[r] & 0xffff;
    case 4: return (uint32_t)cpu->s.regs[r];
    default: return cpu->s.regs[r];
    }
}

/* 32-bit writes zero the upper half; 8- and 16-bit writes merge. */
ALWAYS_INLINE void reg_set(CPU *cpu, const Insn *i, unsigned r, uint64_t v, unsigned size)
{
    uint64_t *p;

    switch (size) {
    case 1:
        if (!i->rex && r >= 4) {
            p = &cpu->s.regs[r - 4];
            *p = (*p & ~0xff00ull) | ((v & 0xff) << 8);
        } else {
            p = &cpu->s.regs[r];
            *p = (*p & ~0xffull) | (v & 0xff);
        }
        break;
    case 2:
        p = &cpu->s.regs[r];
        *p = (*p & ~0xffffull) | (v & 0xffff);
        break;
    case 4:
        cpu->s.regs[r] = (uint32_t)v;
        break;
    default:
        cpu->s.regs[r] = v;
        break;
    }
}

/* Register-width writes for address-size registers (rSI, rDI, rCX...). */
ALWAYS_INLINE void reg_set_asize(CPU *cpu, unsigned r, uint64_t v, unsigned asize)
{
    uint64_t *p = &cpu->s.regs[r];

    switch (asize) {
    case 2: *p = (*p & ~0xffffull) | (v & 0xffff); break;
    case 4: *p = (uint32_t)v; break;
    default: *p = v; break;
    }
}

/* ------------------------------------------------- memory operands */

ALWAYS_INLINE uint64_t ea_la(CPU *cpu, const Insn *i, unsigned size, int access)
{
    return x86_linear(cpu, i->seg, x86_ea(cpu, i), size, access);
}

ALWAYS_INLINE uint64_t rm_get(CPU *cpu, const Insn *i, unsigned size)
{
    if (i->mod == 3) {
        return reg_get(cpu, i, i->rm, size);
    }
    return mem_read(cpu, ea_la(cpu, i, size, ACC_READ), size);
}

ALWAYS_INLINE void rm_set(CPU *cpu, const Insn *i, uint64_t v, unsigned size)
{
    if (i->mod == 3) {
        reg_set(cpu, i, i->rm, v, size);
    } else {
        mem_write(cpu, ea_la(cpu, i, size, ACC_WRITE), v, size);
    }
}

/*
 * Fast memory operands (64-bit mode, 64-bit address, Insn.ea_* set by
 * the decoder): the linear address without branches, and a host pointer
 * from the TLB or NULL. There is no canonical check: only canonical pages
 * ever get TLB tags, so a hit proves the address canonical. A miss (or a
 * page-crossing access: the last byte's page is compared, which cannot
 * match the entry of the first byte's page) returns NULL and the handler
 * falls back to its generic twin, which does every check.
 */
ALWAYS_INLINE uint64_t fast_addend(const CPU *cpu, uint16_t off)
{
    return *(const uint64_t *)(const void *)((const char *)cpu + off);
}

ALWAYS_INLINE uint64_t fast_ea(const CPU *cpu, const Insn *i)
{
    return fast_addend(cpu, i->ea_base) + (fast_addend(cpu, i->ea_index) << i->scale) +
           (uint64_t)i->disp;
}

ALWAYS_INLINE uint64_t fast_la(const CPU *cpu, const Insn *i)
{
    return fast_ea(cpu, i) + fast_addend(cpu, i->ea_seg);
}

ALWAYS_INLINE void *fast_ptr(CPU *cpu, uint64_t la, unsigned size, bool write)
{
    TlbEntry *e = tlb_entry(cpu, la);
    uint64_t tag = write ? e->tag_w : e->tag_r;

    if (likely(tag == ((la + size - 1) & ~0xfffull))) {
        return (void *)(uintptr_t)(la + e->addend);
    }
    return NULL;
}

ALWAYS_INLINE uint64_t host_load(const void *p, unsigned size)
{
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
    default: { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
    }
}

ALWAYS_INLINE void host_store(void *p, uint64_t v, unsigned size)
{
    switch (size) {
    case 1: *(uint8_t *)p = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; __builtin_memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; __builtin_memcpy(p, &x, 4); break; }
    default: __builtin_memcpy(p, &v, 8); break;
    }
}

/* -------------------------------------------------------- lazy flags */

/*
 * Encoding (after Bochs): lf_res is the last result sign-extended to 64
 * bits, so ZF = (lf_res == 0) and SF = bit 63 for every operand size.
 * lf_aux packs the rest:
 *   bit 63      CF
 *   bit 62      CF xor OF (so OF = bit 63 ^ bit 62: the carries out of the
 *               top two result bits, exactly what an adder produces)
 *   bit 3       AF (carry out of bit 3)
 *   bits 8..15  parity delta: PF = even parity of low byte of
 *               (lf_res ^ delta)
 *   bit 16      sign delta: SF = bit 63 of lf_res ^ this bit
 * The deltas are zero after arithmetic; x86_set_rflags uses them to
 * represent flag combinations no single result could produce.
 */
#define LF_CF_SHIFT 63
#define LF_PO_SHIFT 62
#define LF_AF_BIT (1ull << 3)
#define LF_PDB_SHIFT 8
#define LF_SD_BIT (1ull << 16)

/* Pack a carry-out vector of a @size-byte add/sub into lf_aux. */
ALWAYS_INLINE uint64_t lf_carries(uint64_t cv, unsigned size)
{
    return (cv & LF_AF_BIT) | (((cv >> (size * 8 - 2)) & 3) << LF_PO_SHIFT);
}

ALWAYS_INLINE void lf_set(CPU *cpu, uint64_t res_sx, uint64_t aux)
{
    cpu->lf_res = res_sx;
    cpu->lf_aux = aux;
}

ALWAYS_INLINE unsigned lf_cf(const CPU *cpu) { return cpu->lf_aux >> 63; }
ALWAYS_INLINE unsigned lf_of(const CPU *cpu)
{
    return ((cpu->lf_aux >> 63) ^ (cpu->lf_aux >> 62)) & 1;
}
ALWAYS_INLINE unsigned lf_zf(const CPU *cpu) { return cpu->lf_res == 0; }
ALWAYS_INLINE unsigned lf_sf(const CPU *cpu)
{
    return ((cpu->lf_res >> 63) ^ (cpu->lf_aux >> 16)) & 1;
}
ALWAYS_INLINE unsigned lf_af(const CPU *cpu) { return (cpu->lf_aux >> 3) & 1; }
ALWAYS_INLINE unsigned lf_pf(const CPU *cpu)
{
    return !__builtin_parity((unsigned)((cpu->lf_res ^ (cpu->lf_aux >> LF_PDB_SHIFT)) & 0xff));
}

/* Aux word for explicit CF/OF/AF with a result whose SF/ZF/PF are real. */
ALWAYS_INLINE uint64_t lf_aux_make(unsigned cf, unsigned of, unsigned af)
{
    return ((uint64_t)cf << 63) | ((uint64_t)(of ^ cf) << 62) | ((uint64_t)af << 3);
}

/* Change CF and OF only (rotates); SF/ZF/PF/AF keep their values. */
ALWAYS_INLINE void lf_set_cf_of(CPU *cpu, unsigned cf, unsigned of)
{
    cpu->lf_aux = (cpu->lf_aux & ~(3ull << 62)) |
                  ((uint64_t)cf << 63) | ((uint64_t)(of ^ cf) << 62);
}

/* Change CF only (BT family, CLC/STC/CMC). */
ALWAYS_INLINE void lf_set_cf(CPU *cpu, unsigned cf)
{
    lf_set_cf_of(cpu, cf, lf_of(cpu));
}

/* Flags of SUB/CMP a - b at @size. */
ALWAYS_INLINE void lf_cmp(CPU *cpu, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size), r = (a - b) & m;

    a &= m;
    b &= m;
    lf_set(cpu, sext(r, size), lf_carries((~a & b) | (~(a ^ b) & r), size));
}

/* The six arithmetic flags as RFLAGS bits. */
uint64_t lf_get_arith(const CPU *cpu);
/* Load the six arithmetic flags from RFLAGS bits in @f. */
void lf_set_arith(CPU *cpu, uint64_t f);

/* Condition code 0..15 (the low nibble of Jcc/SETcc/CMOVcc), for codes
   known at compile time: the switch folds to the flags the code reads. */
ALWAYS_INLINE bool cond_eval(const CPU *cpu, unsigned cc)
{
    bool r;

    switch (cc >> 1) {
    case 0: r = lf_of(cpu); break;
    case 1: r = lf_cf(cpu); break;
    case 2: r = lf_zf(cpu); break;
    case 3: r = lf_cf(cpu) | lf_zf(cpu); break;
    case 4: r = lf_sf(cpu); break;
    case 5: r = lf_pf(cpu); break;
    case 6: r = lf_sf(cpu) != lf_of(cpu); break;
    default: r = lf_zf(cpu) | (lf_sf(cpu) != lf_of(cpu)); break;
    }
    return r ^ (cc & 1);
}

/*
 * The same for a code known only at run time (SETcc, CMOVcc, fused Jcc):
 * no switch, whose jump table would mispredict; the flags index a
 * 32-entry truth table per condition pair (bit 0 CF, 1 ZF, 2 SF, 3 OF,
 * 4 PF).
 */
ALWAYS_INLINE bool cond_eval_var(const CPU *cpu, unsigned cc)
{
    static const uint32_t truth[8] = {
        0xff00ff00, 0xaaaaaaaa, 0xcccccccc, 0xeeeeeeee,   /* O, B, Z, BE */
        0xf0f0f0f0, 0xffff0000, 0x0ff00ff0, 0xcffccffc,   /* S, P, L, LE */
    };
    unsigned idx = lf_cf(cpu) | lf_zf(cpu) << 1 | lf_sf(cpu) << 2 | lf_of(cpu) << 3 |
                   lf_pf(cpu) << 4;

    return ((truth[cc >> 1] >> idx) ^ cc) & 1;
}

/*
 * The Jcc half of a fused pair (Insn.jcc, 64-bit mode: the target needs no
 * truncation). A taken jump leaves the trace as h_jcc does. That part
 * stays a branch: computing next_rip from the flags without one would
 * chain every loop iteration behind the flags (a tight loop ran at 60 %
 * of the unfused speed).
 */
ALWAYS_INLINE void jcc_fused(CPU *cpu, const Insn *i)
{
    if (cond_eval_var(cpu, i->jcc & 15)) {
        cpu->next_rip += i->imm2;
        cpu->trace_stop |= TRACE_SIDE_EXIT;
    }
}

/* ------------------------------------------------------------- stack */

ALWAYS_INLINE unsigned stack_size(const CPU *cpu)
{
    return cpu->code64 ? 8 : cpu->stack32 ? 4 : 2;
}

ALWAYS_INLINE void sp_set(CPU *cpu, uint64_t sp)
{
    reg_set_asize(cpu, R_ESP, sp, stack_size(cpu));
}

/* Linear address of SS:@sp for @size bytes (sp already wrapped). */
ALWAYS_INLINE uint64_t stack_la(CPU *cpu, uint64_t sp, unsigned size, int access)
{
    return x86_linear(cpu, SEG_SS, sp, size, access);
}

ALWAYS_INLINE uint64_t sp_wrap(const CPU *cpu, uint64_t sp)
{
    return cpu->code64 ? sp : cpu->stack32 ? (uint32_t)sp : (uint16_t)sp;
}

/* Write @v at rSP - @size and update rSP (after the write succeeded). */
ALWAYS_INLINE void stack_push(CPU *cpu, uint64_t v, unsigned size)
{
    uint64_t sp = sp_wrap(cpu, cpu->s.regs[R_ESP] - size);

    mem_write(cpu, stack_la(cpu, sp, size, ACC_WRITE), v, size);
    sp_set(cpu, sp);
}

/* Read @size bytes at rSP + @off without changing rSP. */
ALWAYS_INLINE uint64_t stack_peek(CPU *cpu, uint64_t off, unsigned size)
{
    uint64_t sp = sp_wrap(cpu, cpu->s.regs[R_ESP] + off);

    return mem_read(cpu, stack_la(cpu, sp, size, ACC_READ), size);
}

ALWAYS_INLINE void stack_adjust(CPU *cpu, int64_t delta)
{
    sp_set(cpu, cpu->s.regs[R_ESP] + delta);
}

/* Truncate a branch target to the operand size (IP/EIP wrap). */
ALWAYS_INLINE uint64_t branch_target(const Insn *i, uint64_t t)
{
    return i->opsize == 8 ? t : i->opsize == 4 ? (uint32_t)t : (uint16_t)t;
}

/* ------------------------------------------------ locked RMW */

/*
 * Atomic read-modify-write of @size bytes at @la: *@old gets the previous
 * value; @calc(old) gives the new one. Expanded per call site.
 */
#define LOCKED_RMW(cpu, la, size, old, newv, calc)                             \
    do {                                                                       \
        void *p_ = mmu_rmw_ptr(cpu, la, size);                                 \
        if (likely(p_)) {                                                      \
            switch (size) {                                                    \
            case 1: CAS_LOOP(uint8_t, p_, old, newv, calc); break;             \
            case 2: CAS_LOOP(uint16_t, p_, old, newv, calc); break;            \
            case 4: CAS_LOOP(uint32_t, p_, old, newv, calc); break;            \
            default: CAS_LOOP(uint64_t, p_, old, newv, calc); break;           \
            }                                                                  \
        } else {                                                               \
            core_atomic_lock(cpu);                                             \
            old = mem_read(cpu, la, size);                                     \
            newv = (calc);                                                     \
            mem_write(cpu, la, newv, size);                                    \
            core_atomic_unlock(cpu);                                           \
        }                                                                      \
    } while (0)

#define CAS_LOOP(type, p, old, newv, calc)                                     \
    do {                                                                       \
        type o_ = __atomic_load_n((type *)(p), __ATOMIC_RELAXED), n_;          \
        do {                                                                   \
            old = o_;                                                          \
            newv = (calc);                                                     \
            n_ = (type)newv;                                                   \
        } while (!__atomic_compare_exchange_n((type *)(p), &o_, n_, false,    \
                                              __ATOMIC_SEQ_CST,               \
                                              __ATOMIC_RELAXED));              \
    } while (0)

/* --------------------------------------------------- handler tables */

/* ALU operation numbers, as in the opcode bits 5..3 and group 1's reg. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

/* [op][size_idx][mem] */
extern const InsnFn alu_eg[8][4][2];   /* E op= G */
extern const InsnFn alu_ge[8][4][2];   /* G op= E */
extern const InsnFn alu_ei[8][4][2];   /* E op= imm */
extern const InsnFn alu_eg_lock[8][4]; /* LOCK E op= G (memory) */
extern const InsnFn alu_ei_lock[8][4];
/* [0: INC, 1: DEC][size_idx][mem], and LOCK memory variants */
extern const InsnFn incdec_tab[2][4][2];
extern const InsnFn incdec_lock[2][4];
extern const InsnFn test_eg[4][2];
extern const InsnFn test_ei[4][2];
extern const InsnFn mov_eg[4][2];
extern const InsnFn mov_ge[4][2];
/* Fast-operand twins of the memory forms above ([op][size_idx]...). */
extern const InsnFn alu_eg_fast[8][4];
extern const InsnFn alu_ge_fast[8][4];
extern const InsnFn alu_ei_fast[8][4];
extern const InsnFn incdec_fast[2][4];
extern const InsnFn test_eg_fast[4];
extern const InsnFn test_ei_fast[4];
extern const InsnFn mov_eg_fast[4];
extern const InsnFn mov_ge_fast[4];
extern const InsnFn mov_ei_fast[4];
void h_lea_fast(CPU *cpu, const Insn *i);
void h_movzx_fast(CPU *cpu, const Insn *i);
void h_movsx_fast(CPU *cpu, const Insn *i);

/* Group 3 and 4/5 parts, shifts, mul/div, bit ops, strings... */
void h_not(CPU *cpu, const Insn *i);
void h_neg(CPU *cpu, const Insn *i);
void h_not_lock(CPU *cpu, const Insn *i);
void h_neg_lock(CPU *cpu, const Insn *i);
void h_mov_ei(CPU *cpu, const Insn *i);
void h_mov_r_imm(CPU *cpu, const Insn *i);
void h_mov_moffs_load(CPU *cpu, const Insn *i);
void h_mov_moffs_store(CPU *cpu, const Insn *i);
void h_mov_sreg_store(CPU *cpu, const Insn *i);
void h_mov_sreg_load(CPU *cpu, const Insn *i);
void h_lea(CPU *cpu, const Insn *i);
void h_movzx(CPU *cpu, const Insn *i);   /* imm2 = source size */
void h_movsx(CPU *cpu, const Insn *i);   /* imm2 = source size; 63: MOVSXD */
void h_movnti(CPU *cpu, const Insn *i);
void h_cbw(CPU *cpu, const Insn *i);
void h_cwd(CPU *cpu, const Insn *i);
void h_load_far_ptr(CPU *cpu, const Insn *i);  /* LES LDS LSS LFS LGS; imm2 = seg */
void h_xlat(CPU *cpu, const Insn *i);
void h_bswap(CPU *cpu, const Insn *i);
void h_cmov(CPU *cpu, const Insn *i);
void h_setcc(CPU *cpu, const Insn *i);

void h_shift(CPU *cpu, const Insn *i);   /* group 2; imm2: 0 imm8, 1 one, 2 CL */
/* [SHL, SHR, SAR][32-bit, 64-bit]: the same, specialised */
extern const InsnFn shift_fast[3][2];
void h_shld(CPU *cpu, const Insn *i);    /* imm2: 0 imm8, 2 CL */
void h_shrd(CPU *cpu, const Insn *i);

void h_mul(CPU *cpu, const Insn *i);
void h_imul1(CPU *cpu, const Insn *i);
void h_div(CPU *cpu, const Insn *i);
void h_idiv(CPU *cpu, const Insn *i);
void h_imul_ge(CPU *cpu, const Insn *i); /* 0F AF */
void h_imul_gei(CPU *cpu, const Insn *i);/* 69 / 6B */

void h_bt_reg(CPU *cpu, const Insn *i);  /* imm2 = 0 BT, 1 BTS, 2 BTR, 3 BTC */
void h_bt_imm(CPU *cpu, const Insn *i);
void h_bsf(CPU *cpu, const Insn *i);
void h_bsr(CPU *cpu, const Insn *i);
void h_popcnt(CPU *cpu, const Insn *i);

void h_xchg(CPU *cpu, const Insn *i);
void h_xadd(CPU *cpu, const Insn *i);
void h_cmpxchg(CPU *cpu, const Insn *i);
void h_cmpxchg8b(CPU *cpu, const Insn *i);  /* and 16B (opsize 8) */

void h_movs(CPU *cpu, const Insn *i);
void h_cmps(CPU *cpu, const Insn *i);
void h_stos(CPU *cpu, const Insn *i);
void h_lods(CPU *cpu, const Insn *i);
void h_scas(CPU *cpu, const Insn *i);
void h_ins(CPU *cpu, const Insn *i);
void h_outs(CPU *cpu, const Insn *i);

void h_push_reg(CPU *cpu, const Insn *i);
void h_pop_reg(CPU *cpu, const Insn *i);
void h_push_imm(CPU *cpu, const Insn *i);
void h_push_rm(CPU *cpu, const Insn *i);
void h_pop_rm(CPU *cpu, const Insn *i);
void h_push_sreg(CPU *cpu, const Insn *i);  /* imm2 = seg */
void h_pop_sreg(CPU *cpu, const Insn *i);
void h_pusha(CPU *cpu, const Insn *i);
void h_popa(CPU *cpu, const Insn *i);
void h_pushf(CPU *cpu, const Insn *i);
void h_popf(CPU *cpu, const Insn *i);
void h_enter(CPU *cpu, const Insn *i);
void h_leave(CPU *cpu, const Insn *i);
void h_call_rel(CPU *cpu, const Insn *i);
/* 64-bit mode, 64-bit operand: through the TLB, generic on a miss. */
void h_push_reg64(CPU *cpu, const Insn *i);
void h_pop_reg64(CPU *cpu, const Insn *i);
/* Runs of the two above (see stack.c); at most STACK_RUN_MAX. */
#define STACK_RUN_MAX 8
void h_push_run64(CPU *cpu, const Insn *i);
void h_pop_run64(CPU *cpu, const Insn *i);
void h_call_rel64(CPU *cpu, const Insn *i);
void h_ret64(CPU *cpu, const Insn *i);
void h_call_rm(CPU *cpu, const Insn *i);
void h_ret(CPU *cpu, const Insn *i);
void h_jmp_rel(CPU *cpu, const Insn *i);
void h_jmp_rm(CPU *cpu, const Insn *i);
void h_loop(CPU *cpu, const Insn *i);    /* imm2 = 0 LOOPNE, 1 LOOPE, 2 LOOP, 3 JrCXZ */
extern const InsnFn jcc_tab[16];
/* The handler that runs @fn's instruction and then a Jcc (Insn.jcc,
   jcc_fused), or NULL if @fn's instructions do not fuse. */
InsnFn jcc_fused_fn(InsnFn fn);

void h_call_far_imm(CPU *cpu, const Insn *i);
void h_jmp_far_imm(CPU *cpu, const Insn *i);
void h_call_far_rm(CPU *cpu, const Insn *i);
void h_jmp_far_rm(CPU *cpu, const Insn *i);
void h_ret_far(CPU *cpu, const Insn *i);

/* misc.c: flags, BCD, system instruction glue */
void h_nop(CPU *cpu, const Insn *i);
void h_ud(CPU *cpu, const Insn *i);       /* imm/imm2 hold the raw bytes */
void h_gp0(CPU *cpu, const Insn *i);      /* over-long instruction */
void h_flagop(CPU *cpu, const Insn *i);   /* imm2: F5 CMC F8 CLC F9 STC FC CLD FD STD */
void h_lahf(CPU *cpu, const Insn *i);
void h_sahf(CPU *cpu, const Insn *i);
void h_bcd(CPU *cpu, const Insn *i);      /* opcode: 27 2F 37 3F D4 D5 */
void h_bound(CPU *cpu, const Insn *i);
void h_arpl(CPU *cpu, const Insn *i);
void h_int(CPU *cpu, const Insn *i);      /* CC CD CE F1 */
void h_sys(CPU *cpu, const Insn *i);      /* argument-less system insns by opcode */
void h_in(CPU *cpu, const Insn *i);
void h_out(CPU *cpu, const Insn *i);
void h_group6(CPU *cpu, const Insn *i);
void h_group7(CPU *cpu, const Insn *i);
void h_lar(CPU *cpu, const Insn *i);
void h_lsl(CPU *cpu, const Insn *i);
void h_mov_cr(CPU *cpu, const Insn *i);
void h_mov_dr(CPU *cpu, const Insn *i);

/* --------------------------------------------------------- exec.c */

/* Release the x86_atomic_lock if a fault unwinds while it is held. */
void core_atomic_lock(CPU *cpu);
void core_atomic_unlock(CPU *cpu);

/*
 * Decode one instruction from @p (@avail bytes readable). Returns its
 * length, or 0 if it runs past @avail (and @avail < 15): the caller
 * supplies more bytes. Invalid encodings get a #UD (or #GP for > 15
 * bytes) handler and a length that is only meaningful for the trace end.
 */
unsigned x86_decode(const uint8_t *p, unsigned avail, bool code64, bool code32, Insn *i);
/* Does this instruction end a trace (branches, mode changes, I/O...)? */
bool x86_insn_ends_trace(const Insn *i);

#endif
