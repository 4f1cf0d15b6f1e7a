/*
 * Two-operand arithmetic and logic (ADD OR ADC SBB AND SUB XOR CMP, TEST,
 * INC DEC NEG NOT, MOV r/m), specialised by operation, operand size and
 * register/memory form so the hot handlers have no run-time switches.
 * LOCK-prefixed memory forms run as compare-and-swap loops on the host
 * page (mmu_rmw_ptr), or under x86_atomic_lock for MMIO and split pages
 * (a fault there unwinds to x86_exec, which releases the lock).
 */
#include "core.h"

ALWAYS_INLINE uint64_t alu_calc(const CPU *cpu, unsigned op, unsigned size,
                                uint64_t a, uint64_t b, uint64_t *aux)
{
    uint64_t m = size_mask(size), r, c;

    b &= m;
    switch (op) {
    case ALU_ADD:
    case ALU_ADC:
        c = op == ALU_ADC ? lf_cf(cpu) : 0;
        r = (a + b + c) & m;
        *aux = lf_carries((a & b) | ((a | b) & ~r), size);
        return r;
    case ALU_SUB:
    case ALU_SBB:
    case ALU_CMP:
        c = op == ALU_SBB ? lf_cf(cpu) : 0;
        r = (a - b - c) & m;
        *aux = lf_carries((~a & b) | (~(a ^ b) & r), size);
        return r;
    case ALU_AND: *aux = 0; return a & b;
    case ALU_OR: *aux = 0; return a | b;
    default: *aux = 0; return a ^ b;
    }
}

/* INC (dec = 0) / DEC: like ADD/SUB 1 but CF keeps its value. */
ALWAYS_INLINE uint64_t incdec_calc(const CPU *cpu, int dec, unsigned size, uint64_t a,
                                   uint64_t *aux)
{
    uint64_t m = size_mask(size), r, x, d;

    if (!dec) {
        r = (a + 1) & m;
        x = lf_carries((a & 1) | ((a | 1) & ~r), size);
    } else {
        r = (a - 1) & m;
        x = lf_carries((~a & 1) | (~(a ^ 1) & r), size);
    }
    /* Put the old CF in bit 63 and flip bit 62 with it, keeping OF. */
    d = (x ^ cpu->lf_aux) & (1ull << 63);
    *aux = x ^ d ^ (d >> 1);
    return r;
}

/* ---------------------------------------------------- ALU handlers */

#define DEF_ALU(op, S)                                                         \
    static void alu_eg_r_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, a = reg_get(cpu, i, i->rm, S);                           \
        uint64_t r = alu_calc(cpu, op, S, a, reg_get(cpu, i, i->reg, S), &aux); \
        if (op != ALU_CMP) {                                                   \
            reg_set(cpu, i, i->rm, r, S);                                      \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_eg_m_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, la = ea_la(cpu, i, S, op == ALU_CMP ? ACC_READ : ACC_WRITE); \
        uint64_t a = mem_read(cpu, la, S);                                     \
        uint64_t r = alu_calc(cpu, op, S, a, reg_get(cpu, i, i->reg, S), &aux); \
        if (op != ALU_CMP) {                                                   \
            mem_write(cpu, la, r, S);                                          \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ge_r_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, a = reg_get(cpu, i, i->reg, S);                          \
        uint64_t r = alu_calc(cpu, op, S, a, reg_get(cpu, i, i->rm, S), &aux); \
        if (op != ALU_CMP) {                                                   \
            reg_set(cpu, i, i->reg, r, S);                                     \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ge_m_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, b = mem_read(cpu, ea_la(cpu, i, S, ACC_READ), S);        \
        uint64_t r = alu_calc(cpu, op, S, reg_get(cpu, i, i->reg, S), b, &aux); \
        if (op != ALU_CMP) {                                                   \
            reg_set(cpu, i, i->reg, r, S);                                     \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ei_r_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, a = reg_get(cpu, i, i->rm, S);                           \
        uint64_t r = alu_calc(cpu, op, S, a, i->imm, &aux);                    \
        if (op != ALU_CMP) {                                                   \
            reg_set(cpu, i, i->rm, r, S);                                      \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ei_m_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, la = ea_la(cpu, i, S, op == ALU_CMP ? ACC_READ : ACC_WRITE); \
        uint64_t a = mem_read(cpu, la, S);                                     \
        uint64_t r = alu_calc(cpu, op, S, a, i->imm, &aux);                    \
        if (op != ALU_CMP) {                                                   \
            mem_write(cpu, la, r, S);                                          \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_eg_l_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, a, r, la = ea_la(cpu, i, S, ACC_WRITE);                  \
        uint64_t b = reg_get(cpu, i, i->reg, S);                               \
        LOCKED_RMW(cpu, la, S, a, r, alu_calc(cpu, op, S, a, b, &aux));        \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ei_l_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        uint64_t aux, a, r, la = ea_la(cpu, i, S, ACC_WRITE);                  \
        LOCKED_RMW(cpu, la, S, a, r, alu_calc(cpu, op, S, a, i->imm, &aux));   \
        lf_set(cpu, sext(r, S), aux);                                          \
    }

/* Fast-operand forms (see fast_ptr): the generic memory form on a miss. */
#define DEF_ALU_FAST(op, S)                                                    \
    static void alu_eg_f_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, op != ALU_CMP);            \
        uint64_t aux, r;                                                       \
        if (unlikely(!p)) {                                                    \
            alu_eg_m_##op##_##S(cpu, i);                                       \
            return;                                                            \
        }                                                                      \
        r = alu_calc(cpu, op, S, host_load(p, S), reg_get(cpu, i, i->reg, S), &aux); \
        if (op != ALU_CMP) {                                                   \
            host_store(p, r, S);                                               \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ge_f_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, false);                    \
        uint64_t aux, r;                                                       \
        if (unlikely(!p)) {                                                    \
            alu_ge_m_##op##_##S(cpu, i);                                       \
            return;                                                            \
        }                                                                      \
        r = alu_calc(cpu, op, S, reg_get(cpu, i, i->reg, S), host_load(p, S), &aux); \
        if (op != ALU_CMP) {                                                   \
            reg_set(cpu, i, i->reg, r, S);                                     \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void alu_ei_f_##op##_##S(CPU *cpu, const Insn *i)                   \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, op != ALU_CMP);            \
        uint64_t aux, r;                                                       \
        if (unlikely(!p)) {                                                    \
            alu_ei_m_##op##_##S(cpu, i);                                       \
            return;                                                            \
        }                                                                      \
        r = alu_calc(cpu, op, S, host_load(p, S), i->imm, &aux);               \
        if (op != ALU_CMP) {                                                   \
            host_store(p, r, S);                                               \
        }                                                                      \
        lf_set(cpu, sext(r, S), aux);                                          \
    }

#define DEF_ALU_SIZES(op) DEF_ALU(op, 1) DEF_ALU(op, 2) DEF_ALU(op, 4) DEF_ALU(op, 8) \
    DEF_ALU_FAST(op, 1) DEF_ALU_FAST(op, 2) DEF_ALU_FAST(op, 4) DEF_ALU_FAST(op, 8)

DEF_ALU_SIZES(0)
DEF_ALU_SIZES(1)
DEF_ALU_SIZES(2)
DEF_ALU_SIZES(3)
DEF_ALU_SIZES(4)
DEF_ALU_SIZES(5)
DEF_ALU_SIZES(6)
DEF_ALU_SIZES(7)

#define ROW(form, op)                                                          \
    { { alu_##form##_r_##op##_1, alu_##form##_m_##op##_1 },                    \
      { alu_##form##_r_##op##_2, alu_##form##_m_##op##_2 },                    \
      { alu_##form##_r_##op##_4, alu_##form##_m_##op##_4 },                    \
      { alu_##form##_r_##op##_8, alu_##form##_m_##op##_8 } }
#define TABLE(form) \
    { ROW(form, 0), ROW(form, 1), ROW(form, 2), ROW(form, 3), \
      ROW(form, 4), ROW(form, 5), ROW(form, 6), ROW(form, 7) }
#define LROW(form, op) \
    { alu_##form##_l_##op##_1, alu_##form##_l_##op##_2, \
      alu_##form##_l_##op##_4, alu_##form##_l_##op##_8 }
#define LTABLE(form) \
    { LROW(form, 0), LROW(form, 1), LROW(form, 2), LROW(form, 3), \
      LROW(form, 4), LROW(form, 5), LROW(form, 6), LROW(form, 7) }

const InsnFn alu_eg[8][4][2] = TABLE(eg);
const InsnFn alu_ge[8][4][2] = TABLE(ge);
const InsnFn alu_ei[8][4][2] = TABLE(ei);
const InsnFn alu_eg_lock[8][4] = LTABLE(eg);
const InsnFn alu_ei_lock[8][4] = LTABLE(ei);

#define FROW(form, op) \
    { alu_##form##_f_##op##_1, alu_##form##_f_##op##_2, \
      alu_##form##_f_##op##_4, alu_##form##_f_##op##_8 }
#define FTABLE(form) \
    { FROW(form, 0), FROW(form, 1), FROW(form, 2), FROW(form, 3), \
      FROW(form, 4), FROW(form, 5), FROW(form, 6), FROW(form, 7) }

const InsnFn alu_eg_fast[8][4] = FTABLE(eg);
const InsnFn alu_ge_fast[8][4] = FTABLE(ge);
const InsnFn alu_ei_fast[8][4] = FTABLE(ei);

/* ---------------------------------------------------- INC / DEC */

#define DEF_INCDEC(dec, S)                                                     \
    static void incdec_r_##dec##_##S(CPU *cpu, const Insn *i)                  \
    {                                                                          \
        uint64_t aux, r = incdec_calc(cpu, dec, S, reg_get(cpu, i, i->rm, S), &aux); \
        reg_set(cpu, i, i->rm, r, S);                                          \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void incdec_m_##dec##_##S(CPU *cpu, const Insn *i)                  \
    {                                                                          \
        uint64_t aux, la = ea_la(cpu, i, S, ACC_WRITE);                        \
        uint64_t r = incdec_calc(cpu, dec, S, mem_read(cpu, la, S), &aux);     \
        mem_write(cpu, la, r, S);                                              \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void incdec_f_##dec##_##S(CPU *cpu, const Insn *i)                  \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, true);                     \
        uint64_t aux, r;                                                       \
        if (unlikely(!p)) {                                                    \
            incdec_m_##dec##_##S(cpu, i);                                      \
            return;                                                            \
        }                                                                      \
        r = incdec_calc(cpu, dec, S, host_load(p, S), &aux);                   \
        host_store(p, r, S);                                                   \
        lf_set(cpu, sext(r, S), aux);                                          \
    }                                                                          \
    static void incdec_l_##dec##_##S(CPU *cpu, const Insn *i)                  \
    {                                                                          \
        uint64_t aux, a, r, la = ea_la(cpu, i, S, ACC_WRITE);                  \
        LOCKED_RMW(cpu, la, S, a, r, incdec_calc(cpu, dec, S, a, &aux));       \
        lf_set(cpu, sext(r, S), aux);                                          \
    }

DEF_INCDEC(0, 1) DEF_INCDEC(0, 2) DEF_INCDEC(0, 4) DEF_INCDEC(0, 8)
DEF_INCDEC(1, 1) DEF_INCDEC(1, 2) DEF_INCDEC(1, 4) DEF_INCDEC(1, 8)

const InsnFn incdec_tab[2][4][2] = {
    { { incdec_r_0_1, incdec_m_0_1 }, { incdec_r_0_2, incdec_m_0_2 },
      { incdec_r_0_4, incdec_m_0_4 }, { incdec_r_0_8, incdec_m_0_8 } },
    { { incdec_r_1_1, incdec_m_1_1 }, { incdec_r_1_2, incdec_m_1_2 },
      { incdec_r_1_4, incdec_m_1_4 }, { incdec_r_1_8, incdec_m_1_8 } },
};
const InsnFn incdec_fast[2][4] = {
    { incdec_f_0_1, incdec_f_0_2, incdec_f_0_4, incdec_f_0_8 },
    { incdec_f_1_1, incdec_f_1_2, incdec_f_1_4, incdec_f_1_8 },
};
const InsnFn incdec_lock[2][4] = {
    { incdec_l_0_1, incdec_l_0_2, incdec_l_0_4, incdec_l_0_8 },
    { incdec_l_1_1, incdec_l_1_2, incdec_l_1_4, incdec_l_1_8 },
};

/* ---------------------------------------------------- TEST, MOV */

#define DEF_TEST_MOV(S)                                                        \
    static void test_eg_r_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        uint64_t r = reg_get(cpu, i, i->rm, S) & reg_get(cpu, i, i->reg, S);   \
        lf_set(cpu, sext(r, S), 0);                                            \
    }                                                                          \
    static void test_eg_m_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        uint64_t r = mem_read(cpu, ea_la(cpu, i, S, ACC_READ), S) &            \
                     reg_get(cpu, i, i->reg, S);                               \
        lf_set(cpu, sext(r, S), 0);                                            \
    }                                                                          \
    static void test_ei_r_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        lf_set(cpu, sext(reg_get(cpu, i, i->rm, S) & i->imm, S), 0);           \
    }                                                                          \
    static void test_ei_m_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        uint64_t r = mem_read(cpu, ea_la(cpu, i, S, ACC_READ), S) & i->imm;    \
        lf_set(cpu, sext(r, S), 0);                                            \
    }                                                                          \
    static void mov_eg_r_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        reg_set(cpu, i, i->rm, reg_get(cpu, i, i->reg, S), S);                 \
    }                                                                          \
    static void mov_eg_m_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        mem_write(cpu, ea_la(cpu, i, S, ACC_WRITE), reg_get(cpu, i, i->reg, S), S); \
    }                                                                          \
    static void mov_ge_r_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        reg_set(cpu, i, i->reg, reg_get(cpu, i, i->rm, S), S);                 \
    }                                                                          \
    static void mov_ge_m_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        reg_set(cpu, i, i->reg, mem_read(cpu, ea_la(cpu, i, S, ACC_READ), S), S); \
    }

#define DEF_TEST_MOV_FAST(S)                                                   \
    static void test_eg_f_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, false);                    \
        if (unlikely(!p)) {                                                    \
            test_eg_m_##S(cpu, i);                                             \
            return;                                                            \
        }                                                                      \
        lf_set(cpu, sext(host_load(p, S) & reg_get(cpu, i, i->reg, S), S), 0); \
    }                                                                          \
    static void test_ei_f_##S(CPU *cpu, const Insn *i)                         \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, false);                    \
        if (unlikely(!p)) {                                                    \
            test_ei_m_##S(cpu, i);                                             \
            return;                                                            \
        }                                                                      \
        lf_set(cpu, sext(host_load(p, S) & i->imm, S), 0);                     \
    }                                                                          \
    static void mov_eg_f_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, true);                     \
        if (unlikely(!p)) {                                                    \
            mov_eg_m_##S(cpu, i);                                              \
            return;                                                            \
        }                                                                      \
        host_store(p, reg_get(cpu, i, i->reg, S), S);                          \
    }                                                                          \
    static void mov_ge_f_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, false);                    \
        if (unlikely(!p)) {                                                    \
            mov_ge_m_##S(cpu, i);                                              \
            return;                                                            \
        }                                                                      \
        reg_set(cpu, i, i->reg, host_load(p, S), S);                           \
    }                                                                          \
    static void mov_ei_f_##S(CPU *cpu, const Insn *i)                          \
    {                                                                          \
        void *p = fast_ptr(cpu, fast_la(cpu, i), S, true);                     \
        if (unlikely(!p)) {                                                    \
            h_mov_ei(cpu, i);                                                  \
            return;                                                            \
        }                                                                      \
        host_store(p, i->imm, S);                                              \
    }

DEF_TEST_MOV(1) DEF_TEST_MOV(2) DEF_TEST_MOV(4) DEF_TEST_MOV(8)
DEF_TEST_MOV_FAST(1) DEF_TEST_MOV_FAST(2) DEF_TEST_MOV_FAST(4) DEF_TEST_MOV_FAST(8)

#define PAIR(name, S) { name##_r_##S, name##_m_##S }
const InsnFn test_eg[4][2] = { PAIR(test_eg, 1), PAIR(test_eg, 2), PAIR(test_eg, 4), PAIR(test_eg, 8) };
const InsnFn test_ei[4][2] = { PAIR(test_ei, 1), PAIR(test_ei, 2), PAIR(test_ei, 4), PAIR(test_ei, 8) };
const InsnFn mov_eg[4][2] = { PAIR(mov_eg, 1), PAIR(mov_eg, 2), PAIR(mov_eg, 4), PAIR(mov_eg, 8) };
const InsnFn mov_ge[4][2] = { PAIR(mov_ge, 1), PAIR(mov_ge, 2), PAIR(mov_ge, 4), PAIR(mov_ge, 8) };
#define FAST4(name) { name##_f_1, name##_f_2, name##_f_4, name##_f_8 }
const InsnFn test_eg_fast[4] = FAST4(test_eg);
const InsnFn test_ei_fast[4] = FAST4(test_ei);
const InsnFn mov_eg_fast[4] = FAST4(mov_eg);
const InsnFn mov_ge_fast[4] = FAST4(mov_ge);
const InsnFn mov_ei_fast[4] = FAST4(mov_ei);

/* ---------------------------------------------------- fused with Jcc */

/*
 * Flag-setting instructions that may take the Jcc after them into their
 * own dispatch (jcc_fused_fn): register forms and fast memory forms. A
 * memory write may change the Jcc's own bytes (then the running trace is
 * aborted, TRACE_ABORT): the fused handler then stops before the Jcc, so
 * it is decoded afresh and runs as written.
 */
#define FUSE_OP(X, op, S)                                                      \
    X(alu_eg_r_##op##_##S) X(alu_ge_r_##op##_##S) X(alu_ei_r_##op##_##S)       \
    X(alu_ge_f_##op##_##S) X(alu_eg_f_##op##_##S) X(alu_ei_f_##op##_##S)
#define FUSE_SIZE(X, S)                                                        \
    FUSE_OP(X, 0, S) FUSE_OP(X, 1, S) FUSE_OP(X, 2, S) FUSE_OP(X, 3, S)        \
    FUSE_OP(X, 4, S) FUSE_OP(X, 5, S) FUSE_OP(X, 6, S) FUSE_OP(X, 7, S)        \
    X(test_eg_r_##S) X(test_ei_r_##S) X(test_eg_f_##S) X(test_ei_f_##S)        \
    X(incdec_r_0_##S) X(incdec_r_1_##S) X(incdec_f_0_##S) X(incdec_f_1_##S)
#define FUSE_ALL(X) FUSE_SIZE(X, 1) FUSE_SIZE(X, 2) FUSE_SIZE(X, 4) FUSE_SIZE(X, 8)

/* flatten: the handler's body in line, so the flags stay in registers. */
#define FUSED_DEF(h)                                                           \
    __attribute__((flatten)) static void h##_jcc(CPU *cpu, const Insn *i)      \
    {                                                                          \
        h(cpu, i);                                                             \
        if (unlikely(cpu->trace_stop & TRACE_ABORT)) {                         \
            cpu->next_rip -= i->jcc >> 4;                                      \
            return;                                                            \
        }                                                                      \
        jcc_fused(cpu, i);                                                     \
    }
#define FUSED_ROW(h) { h, h##_jcc },

FUSE_ALL(FUSED_DEF)

static const struct {
    InsnFn alone, fused;
} fusable[] = { FUSE_ALL(FUSED_ROW) };

InsnFn jcc_fused_fn(InsnFn fn)
{
    for (size_t k = 0; k < sizeof(fusable) / sizeof(fusable[0]); k++) {
        if (fusable[k].alone == fn) {
            return fusable[k].fused;
        }
    }
    return NULL;
}

/* ---------------------------------------------------- NOT / NEG */

void h_not(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;

    if (i->mod == 3) {
        reg_set(cpu, i, i->rm, ~reg_get(cpu, i, i->rm, s), s);
    } else {
        uint64_t la = ea_la(cpu, i, s, ACC_WRITE);
        mem_write(cpu, la, ~mem_read(cpu, la, s), s);
    }
}

void h_neg(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t aux, a, r;

    if (i->mod == 3) {
        a = reg_get(cpu, i, i->rm, s);
        r = alu_calc(cpu, ALU_SUB, s, 0, a, &aux);
        reg_set(cpu, i, i->rm, r, s);
    } else {
        uint64_t la = ea_la(cpu, i, s, ACC_WRITE);
        a = mem_read(cpu, la, s);
        r = alu_calc(cpu, ALU_SUB, s, 0, a, &aux);
        mem_write(cpu, la, r, s);
    }
    lf_set(cpu, sext(r, s), aux);
}

void h_not_lock(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t a, r, la = ea_la(cpu, i, s, ACC_WRITE);

    LOCKED_RMW(cpu, la, s, a, r, ~a & size_mask(s));
}

void h_neg_lock(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t aux = 0, a, r, la = ea_la(cpu, i, s, ACC_WRITE);

    LOCKED_RMW(cpu, la, s, a, r, alu_calc(cpu, ALU_SUB, s, 0, a, &aux));
    lf_set(cpu, sext(r, s), aux);
}
