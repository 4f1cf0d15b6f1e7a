/*
 * Near branches: Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE, JrCXZ; far
 * branches go to sys/ (x86_far_*). Targets wrap to the operand size.
 */
#include "core.h"

#define DEF_JCC(cc)                                                            \
    static void h_jcc_##cc(CPU *cpu, const Insn *i)                            \
    {                                                                          \
        if (cond_eval(cpu, cc)) {                                              \
            cpu->next_rip = branch_target(i, cpu->next_rip + i->imm);          \
            cpu->trace_stop |= TRACE_SIDE_EXIT;                                \
        }                                                                      \
    }

DEF_JCC(0) DEF_JCC(1) DEF_JCC(2) DEF_JCC(3) DEF_JCC(4) DEF_JCC(5) DEF_JCC(6) DEF_JCC(7)
DEF_JCC(8) DEF_JCC(9) DEF_JCC(10) DEF_JCC(11) DEF_JCC(12) DEF_JCC(13) DEF_JCC(14) DEF_JCC(15)

const InsnFn jcc_tab[16] = {
    h_jcc_0, h_jcc_1, h_jcc_2, h_jcc_3, h_jcc_4, h_jcc_5, h_jcc_6, h_jcc_7,
    h_jcc_8, h_jcc_9, h_jcc_10, h_jcc_11, h_jcc_12, h_jcc_13, h_jcc_14, h_jcc_15,
};

void h_jmp_rel(CPU *cpu, const Insn *i)
{
    cpu->next_rip = branch_target(i, cpu->next_rip + i->imm);
}

void h_call_rel(CPU *cpu, const Insn *i)
{
    stack_push(cpu, cpu->next_rip, i->opsize);
    cpu->next_rip = branch_target(i, cpu->next_rip + i->imm);
}

/* 64-bit CALL rel32 and RET (C3): the stack through the TLB, as
   h_push_reg64; the generic handler on a miss. */
void h_call_rel64(CPU *cpu, const Insn *i)
{
    uint64_t sp = cpu->s.regs[R_ESP] - 8;
    void *p = fast_ptr(cpu, sp, 8, true);

    if (unlikely(!p)) {
        h_call_rel(cpu, i);
        return;
    }
    host_store(p, cpu->next_rip, 8);
    cpu->s.regs[R_ESP] = sp;
    cpu->next_rip += i->imm;
}

void h_ret64(CPU *cpu, const Insn *i)
{
    uint64_t sp = cpu->s.regs[R_ESP];
    void *p = fast_ptr(cpu, sp, 8, false);

    if (unlikely(!p)) {
        h_ret(cpu, i);
        return;
    }
    cpu->s.regs[R_ESP] = sp + 8;
    cpu->next_rip = host_load(p, 8);
}

void h_jmp_rm(CPU *cpu, const Insn *i)
{
    cpu->next_rip = rm_get(cpu, i, i->opsize);
}

void h_call_rm(CPU *cpu, const Insn *i)
{
    uint64_t target = rm_get(cpu, i, i->opsize);

    stack_push(cpu, cpu->next_rip, i->opsize);
    cpu->next_rip = target;
}

/* RET and RET imm16 (C2). */
void h_ret(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t target = stack_peek(cpu, 0, s);

    stack_adjust(cpu, s + ((i->opcode & 0xff) == 0xc2 ? (uint16_t)i->imm : 0));
    cpu->next_rip = target;
}

/* imm2: 0 LOOPNE, 1 LOOPE, 2 LOOP, 3 JrCXZ; the counter is address-sized. */
void h_loop(CPU *cpu, const Insn *i)
{
    unsigned as = i->addrsize;
    uint64_t am = as == 8 ? ~0ull : as == 4 ? 0xffffffffull : 0xffff;
    uint64_t c = cpu->s.regs[R_ECX] & am;
    bool taken;

    if (i->imm2 == 3) {
        taken = c == 0;
    } else {
        c = (c - 1) & am;
        reg_set_asize(cpu, R_ECX, c, as);
        taken = c != 0;
        if (i->imm2 == 0) {
            taken = taken && !lf_zf(cpu);
        } else if (i->imm2 == 1) {
            taken = taken && lf_zf(cpu);
        }
    }
    if (taken) {
        cpu->next_rip = branch_target(i, cpu->next_rip + i->imm);
    }
}

void h_call_far_imm(CPU *cpu, const Insn *i)
{
    x86_far_call_op(cpu, (uint16_t)i->imm2, i->imm, i->opsize);
}

void h_jmp_far_imm(CPU *cpu, const Insn *i)
{
    x86_far_jmp(cpu, (uint16_t)i->imm2, i->imm);
}

/* Far pointer in memory: offset (2, 4 or 8 bytes), then the selector. */
static void far_ptr(CPU *cpu, const Insn *i, uint16_t *sel, uint64_t *off)
{
    unsigned s = i->opsize;
    uint64_t ea = x86_ea(cpu, i);

    *off = mem_read(cpu, x86_linear(cpu, i->seg, ea, s, ACC_READ), s);
    *sel = mem_read16(cpu, x86_linear(cpu, i->seg, ea + s, 2, ACC_READ));
}

void h_call_far_rm(CPU *cpu, const Insn *i)
{
    uint16_t sel;
    uint64_t off;

    far_ptr(cpu, i, &sel, &off);
    x86_far_call_op(cpu, sel, off, i->opsize);
}

void h_jmp_far_rm(CPU *cpu, const Insn *i)
{
    uint16_t sel;
    uint64_t off;

    far_ptr(cpu, i, &sel, &off);
    x86_far_jmp(cpu, sel, off);
}

void h_ret_far(CPU *cpu, const Insn *i)
{
    x86_far_ret(cpu, i->opsize, (i->opcode & 0xff) == 0xca ? (uint16_t)i->imm : 0);
}
