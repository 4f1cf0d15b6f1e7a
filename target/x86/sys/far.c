/*
 * Far control transfers: JMP/CALL/RET far, IRET, SYSCALL/SYSRET,
 * SYSENTER/SYSEXIT and SWAPGS.
 *
 * Every transfer reads and checks what it needs (descriptors, stack
 * values) before it changes any register, so a fault leaves the state as
 * it was. Call gates and task switches are not implemented: they raise
 * #GP and log under -d unimp (Linux uses neither).
 *
 * Reference: Intel SDM Vol. 2 "JMP", "CALL", "RET", "IRET", "SYSCALL",
 * "SYSRET", "SYSENTER", "SYSEXIT", "SWAPGS"; Vol. 3A 5.8.
 */
#include "sys.h"
#include "kemu/log.h"

#define ALL_FLAGS 0x3f7fd5u   /* every defined flag (bit 1 is fixed) */

static void set_real_cs(CPU *cpu, uint16_t sel)
{
    X86Segment *cs = &cpu->s.seg[SEG_CS];

    cs->selector = sel;
    cs->base = (uint64_t)sel << 4;
}

/* Is descriptor @d 64-bit code (when long mode is active)? */
static bool desc_code64(const CPU *cpu, uint64_t d)
{
    return x86_lma(cpu) && ((d >> 53) & 1);
}

/* Target offset check for a new CS: canonical or within the limit. */
static void check_target(CPU *cpu, uint64_t d, uint64_t off)
{
    if (desc_code64(cpu, d) ? !x86_canonical(off) : off > desc_limit(d)) {
        x86_raise_gp0(cpu);
    }
}

/* CS descriptor checks shared by far JMP and CALL to a code segment. */
static uint64_t far_target(CPU *cpu, uint16_t sel)
{
    uint64_t d = seg_load_cs_desc(cpu, sel);
    unsigned cpl = cpu->cpl;

    if (!desc_s(d)) {
        log_unimp("interpreter: far transfer through system descriptor type %u "
                  "(call gate/TSS/task gate)\n", desc_type(d));
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_is_code(d) ||
        (desc_is_conforming(d) ? desc_dpl(d) > cpl
                               : ((sel & 3) > cpl || desc_dpl(d) != cpl))) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_present(d)) {
        x86_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    return d;
}

static void commit_cs(CPU *cpu, uint16_t sel, uint64_t d, unsigned rpl, uint64_t rip)
{
    seg_set_accessed(cpu, sel, &d);
    seg_from_desc(&cpu->s.seg[SEG_CS], (sel & 0xfffc) | rpl, d);
    cpu->s.rip = cpu->next_rip = rip;
    x86_update_mode(cpu);
}

void x86_far_jmp(CPU *cpu, uint16_t sel, uint64_t off)
{
    if (!x86_pmode(cpu)) {
        set_real_cs(cpu, sel);
        cpu->next_rip = off;
        return;
    }
    uint64_t d = far_target(cpu, sel);
    check_target(cpu, d, off);
    commit_cs(cpu, sel, d, cpu->cpl, off);
}

void x86_far_call_op(CPU *cpu, uint16_t sel, uint64_t off, unsigned opsize)
{
    uint64_t sp = cpu->s.regs[R_ESP], d = 0;

    if (x86_pmode(cpu)) {
        d = far_target(cpu, sel);
        check_target(cpu, d, off);
    }
    stack_push(cpu, &sp, cpu->s.seg[SEG_CS].selector, opsize);
    stack_push(cpu, &sp, cpu->next_rip, opsize);
    stack_set_sp(cpu, sp);
    if (!x86_pmode(cpu)) {
        set_real_cs(cpu, sel);
        cpu->next_rip = off;
        return;
    }
    commit_cs(cpu, sel, d, cpu->cpl, off);
}

void x86_far_call(CPU *cpu, uint16_t sel, uint64_t off)
{
    x86_far_call_op(cpu, sel, off, cpu->code64 || cpu->code32 ? 4 : 2);
}

/*
 * The CS checks of RET far and IRET: returning to @sel at RPL >= CPL.
 * Returns the descriptor.
 */
static uint64_t return_cs(CPU *cpu, uint16_t sel)
{
    uint64_t d = seg_load_cs_desc(cpu, sel);
    unsigned rpl = sel & 3;

    if (rpl < cpu->cpl || !desc_is_code(d) ||
        (desc_is_conforming(d) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl)) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_present(d)) {
        x86_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    return d;
}

void x86_far_ret(CPU *cpu, unsigned opsize, uint16_t pop_bytes)
{
    uint64_t sp = cpu->s.regs[R_ESP], mask = stack_mask(cpu);
    uint64_t ip = stack_pop(cpu, &sp, opsize);
    uint16_t sel = stack_pop(cpu, &sp, opsize);

    sp = (sp & ~mask) | ((sp + pop_bytes) & mask);
    if (!x86_pmode(cpu)) {
        set_real_cs(cpu, sel);
        stack_set_sp(cpu, sp);
        cpu->next_rip = ip;
        return;
    }
    uint64_t d = return_cs(cpu, sel);
    unsigned rpl = sel & 3;
    check_target(cpu, d, ip);
    if (rpl > cpu->cpl) {
        X86Segment ss;
        uint64_t nsp = stack_pop(cpu, &sp, opsize);
        uint16_t nss = stack_pop(cpu, &sp, opsize);
        seg_load_ss_checked(cpu, nss, rpl, EXC_GP,
                            desc_code64(cpu, d) && rpl != 3, &ss);
        uint64_t nmask = desc_code64(cpu, d) ? ~0ull : ss.db ? 0xffffffffu : 0xffffu;
        cpu->s.seg[SEG_SS] = ss;
        sp = (nsp & ~nmask) | ((nsp + pop_bytes) & nmask);
        stack_set_sp(cpu, sp);
        commit_cs(cpu, sel, d, rpl, ip);
        seg_check_outer_data(cpu);
        return;
    }
    stack_set_sp(cpu, sp);
    commit_cs(cpu, sel, d, rpl, ip);
}

/* IRET from real mode or virtual-8086 mode (IOPL 3). */
static void iret_real(CPU *cpu, unsigned opsize, bool vm86)
{
    uint64_t sp = cpu->s.regs[R_ESP];
    uint64_t ip = stack_pop(cpu, &sp, opsize);
    uint16_t sel = stack_pop(cpu, &sp, opsize);
    uint64_t fl = stack_pop(cpu, &sp, opsize);
    uint64_t mask = ALL_FLAGS & ~(FLAG_VM | FLAG_VIF | FLAG_VIP);

    if (vm86) {
        mask &= ~FLAG_IOPL;
    }
    if (opsize == 2) {
        mask &= 0xffff;
    }
    set_real_cs(cpu, sel);
    stack_set_sp(cpu, sp);
    cpu->next_rip = ip;
    x86_set_rflags(cpu, fl, mask);
    cpu->nmi_blocked = 0;
}

/* IRETD at CPL 0 with EFLAGS.VM set in the image: enter virtual-8086 mode. */
static void iret_to_vm86(CPU *cpu, uint64_t sp, uint64_t ip, uint16_t cs, uint64_t fl)
{
    static const int segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
    uint64_t nsp = stack_pop(cpu, &sp, 4);
    uint16_t sel[6];

    sel[0] = stack_pop(cpu, &sp, 4);           /* SS */
    for (int i = 0; i < 4; i++) {
        sel[1 + i] = stack_pop(cpu, &sp, 4);   /* ES DS FS GS */
    }
    x86_set_rflags(cpu, fl, ALL_FLAGS);
    set_real_cs(cpu, cs);
    X86Segment *c = &cpu->s.seg[SEG_CS];
    c->limit = 0xffff;
    c->dpl = 3;
    c->db = c->l = c->g = 0;
    c->unusable = 0;
    x86_load_seg(cpu, SEG_SS, sel[0]);
    for (int i = 0; i < 4; i++) {
        x86_load_seg(cpu, segs[i], sel[1 + i]);
    }
    cpu->s.regs[R_ESP] = (uint32_t)nsp;
    cpu->next_rip = ip & 0xffff;
    cpu->nmi_blocked = 0;
    cpu->intr_shadow = 0;
    x86_update_mode(cpu);
}

void x86_iret(CPU *cpu, unsigned opsize)
{
    const bool lm = x86_lma(cpu);
    const unsigned cpl = cpu->cpl;

    if (!(cpu->s.cr0 & CR0_PE)) {
        iret_real(cpu, opsize, false);
        return;
    }
    if (cpu->s.rflags & FLAG_VM) {
        if (((cpu->s.rflags & FLAG_IOPL) >> 12) != 3) {
            x86_raise_gp0(cpu);
        }
        iret_real(cpu, opsize, true);
        return;
    }
    if (cpu->s.rflags & FLAG_NT) {
        if (!lm) {
            log_unimp("interpreter: IRET with NT set (task return)\n");
        }
        x86_raise_gp0(cpu);
    }

    uint64_t sp = cpu->s.regs[R_ESP];
    uint64_t ip = stack_pop(cpu, &sp, opsize);
    uint16_t sel = stack_pop(cpu, &sp, opsize);
    uint64_t fl = stack_pop(cpu, &sp, opsize);

    if (!lm && opsize == 4 && (fl & FLAG_VM) && cpl == 0) {
        iret_to_vm86(cpu, sp, ip, sel, fl);
        return;
    }
    uint64_t d = return_cs(cpu, sel);
    unsigned rpl = sel & 3;
    bool outer = rpl > cpl;
    X86Segment ss = cpu->s.seg[SEG_SS];
    uint64_t nsp = sp;

    check_target(cpu, d, ip);
    if (outer || cpu->code64) {
        nsp = stack_pop(cpu, &sp, opsize);
        uint16_t nss = stack_pop(cpu, &sp, opsize);
        seg_load_ss_checked(cpu, nss, rpl, EXC_GP,
                            desc_code64(cpu, d) && rpl != 3, &ss);
    }

    uint64_t mask = ALL_FLAGS & ~(FLAG_VM | FLAG_IOPL | FLAG_IF | FLAG_VIF | FLAG_VIP);
    if (cpl <= ((cpu->s.rflags & FLAG_IOPL) >> 12)) {
        mask |= FLAG_IF;
    }
    if (cpl == 0) {
        mask |= FLAG_IOPL | FLAG_VIF | FLAG_VIP;
    }
    if (opsize == 2) {
        mask &= 0xffff;
    }
    cpu->s.seg[SEG_SS] = ss;
    stack_set_sp(cpu, nsp);
    x86_set_rflags(cpu, fl, mask);
    commit_cs(cpu, sel, d, rpl, ip);
    if (outer) {
        seg_check_outer_data(cpu);
    }
    cpu->nmi_blocked = 0;
}

#define STAR_SYSCALL_CS(star) ((uint16_t)((star) >> 32) & 0xfffc)
#define STAR_SYSRET_CS(star) ((uint16_t)((star) >> 48) & 0xfffc)

void x86_syscall(CPU *cpu)
{
    uint16_t cs = STAR_SYSCALL_CS(cpu->star);
    uint64_t fl = x86_get_rflags(cpu);
    uint64_t target;

    if (!(cpu->s.efer & EFER_SCE) || !(cpu->s.cr0 & CR0_PE)) {
        x86_raise_ud(cpu);
    }
    if (x86_lma(cpu)) {
        target = cpu->code64 ? cpu->lstar : cpu->cstar;
        cpu->s.regs[R_ECX] = cpu->next_rip;
        cpu->s.regs[R_R11] = fl & ~(uint64_t)FLAG_RF;
        seg_set_flat(&cpu->s.seg[SEG_CS], cs, true, 0, true);
        x86_set_rflags(cpu, 0, (cpu->sfmask & ALL_FLAGS) | FLAG_RF);
    } else {
        target = (uint32_t)cpu->star;
        cpu->s.regs[R_ECX] = (uint32_t)cpu->next_rip;
        seg_set_flat(&cpu->s.seg[SEG_CS], cs, true, 0, false);
        x86_set_rflags(cpu, 0, FLAG_IF | FLAG_VM | FLAG_RF);
    }
    seg_set_flat(&cpu->s.seg[SEG_SS], cs + 8, false, 0, false);
    cpu->s.rip = cpu->next_rip = target;
    x86_update_mode(cpu);
}

void x86_sysret(CPU *cpu, unsigned opsize)
{
    uint16_t base = STAR_SYSRET_CS(cpu->star);

    if (!(cpu->s.efer & EFER_SCE)) {
        x86_raise_ud(cpu);
    }
    if (!(cpu->s.cr0 & CR0_PE) || cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    if (x86_lma(cpu)) {
        uint64_t rip = cpu->s.regs[R_ECX];
        if (opsize == 8) {
            if (!x86_canonical(rip)) {
                x86_raise_gp0(cpu);
            }
            seg_set_flat(&cpu->s.seg[SEG_CS], (base + 16) | 3, true, 3, true);
        } else {
            rip = (uint32_t)rip;
            seg_set_flat(&cpu->s.seg[SEG_CS], base | 3, true, 3, false);
        }
        x86_set_rflags(cpu, cpu->s.regs[R_R11] & ~(uint64_t)(FLAG_RF | FLAG_VM),
                       ALL_FLAGS);
        cpu->s.rip = cpu->next_rip = rip;
    } else {
        seg_set_flat(&cpu->s.seg[SEG_CS], base | 3, true, 3, false);
        x86_set_rflags(cpu, FLAG_IF, FLAG_IF);
        cpu->s.rip = cpu->next_rip = (uint32_t)cpu->s.regs[R_ECX];
    }
    seg_set_flat(&cpu->s.seg[SEG_SS], (base + 8) | 3, false, 3, false);
    x86_update_mode(cpu);
}

void x86_sysenter(CPU *cpu)
{
    uint16_t cs = cpu->sysenter_cs & 0xfffc;
    bool lm = x86_lma(cpu);

    if (!(cpu->s.cr0 & CR0_PE) || cs == 0) {
        x86_raise_gp0(cpu);
    }
    x86_set_rflags(cpu, 0, FLAG_VM | FLAG_IF | FLAG_RF);
    seg_set_flat(&cpu->s.seg[SEG_CS], cs, true, 0, lm);
    seg_set_flat(&cpu->s.seg[SEG_SS], cs + 8, false, 0, false);
    cpu->s.regs[R_ESP] = lm ? cpu->sysenter_esp : (uint32_t)cpu->sysenter_esp;
    cpu->s.rip = cpu->next_rip = lm ? cpu->sysenter_eip : (uint32_t)cpu->sysenter_eip;
    x86_update_mode(cpu);
}

void x86_sysexit(CPU *cpu, unsigned opsize)
{
    uint16_t cs = cpu->sysenter_cs & 0xfffc;
    bool to64 = opsize == 8;

    if (!(cpu->s.cr0 & CR0_PE) || cpu->cpl != 0 || cs == 0) {
        x86_raise_gp0(cpu);
    }
    uint64_t rip = cpu->s.regs[R_EDX], rsp = cpu->s.regs[R_ECX];
    if (to64 && (!x86_canonical(rip) || !x86_canonical(rsp))) {
        x86_raise_gp0(cpu);
    }
    seg_set_flat(&cpu->s.seg[SEG_CS], (cs + (to64 ? 32 : 16)) | 3, true, 3, to64);
    seg_set_flat(&cpu->s.seg[SEG_SS], (cs + (to64 ? 40 : 24)) | 3, false, 3, false);
    cpu->s.regs[R_ESP] = to64 ? rsp : (uint32_t)rsp;
    cpu->s.rip = cpu->next_rip = to64 ? rip : (uint32_t)rip;
    x86_update_mode(cpu);
}

void x86_swapgs(CPU *cpu)
{
    if (!cpu->code64) {
        x86_raise_ud(cpu);
    }
    if (cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    uint64_t t = cpu->s.seg[SEG_GS].base;
    cpu->s.seg[SEG_GS].base = cpu->kernel_gs_base;
    cpu->kernel_gs_base = t;
}
