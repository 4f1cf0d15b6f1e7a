/*
 * Everything small: NOP, #UD and over-long instructions, flag
 * instructions, LAHF/SAHF, BCD adjusts, BOUND, ARPL, INT n, and the glue
 * that hands system instructions to sys/.
 */
#include <stdatomic.h>
#include "kemu/log.h"
#include "core.h"

void h_nop(CPU *cpu, const Insn *i)
{
    (void)cpu;
    (void)i;
}

/* Messages about unknown opcodes: enough to diagnose, not a flood. */
#define UD_LOG_MAX 64

void h_ud(CPU *cpu, const Insn *i)
{
    static atomic_uint logged;

    if ((log_mask & LOG_UNIMP) && atomic_fetch_add(&logged, 1) < UD_LOG_MAX) {
        uint8_t raw[16];
        char hex[3 * 15 + 1];
        unsigned n = i->len ? i->len : 1;

        __builtin_memcpy(raw, &i->imm, 8);
        __builtin_memcpy(raw + 8, &i->imm2, 8);
        for (unsigned k = 0; k < n && k < 15; k++) {
            g_snprintf(hex + 3 * k, 4, "%02x ", raw[k]);
        }
        hex[3 * (n < 15 ? n : 15) - 1] = 0;
        log_unimp("interp: #UD for opcode bytes %s at rip %#" G_GINT64_MODIFIER "x%s",
                  hex, cpu->s.rip,
                  atomic_load(&logged) == UD_LOG_MAX ? " (further #UD messages suppressed)" : "");
    }
    x86_raise_ud(cpu);
}

void h_gp0(CPU *cpu, const Insn *i)
{
    (void)i;
    x86_raise_gp0(cpu);
}

void h_flagop(CPU *cpu, const Insn *i)
{
    switch (i->opcode & 0xff) {
    case 0xf5: lf_set_cf(cpu, !lf_cf(cpu)); break;
    case 0xf8: lf_set_cf(cpu, 0); break;
    case 0xf9: lf_set_cf(cpu, 1); break;
    case 0xfc: cpu->s.rflags &= ~(uint64_t)FLAG_DF; break;
    default: cpu->s.rflags |= FLAG_DF; break;
    }
}

void h_lahf(CPU *cpu, const Insn *i)
{
    reg_set(cpu, i, 4, (lf_get_arith(cpu) & 0xd5) | 2, 1);
}

void h_sahf(CPU *cpu, const Insn *i)
{
    uint64_t ah = (cpu->s.regs[R_EAX] >> 8) & 0xd5;

    (void)i;
    lf_set_arith(cpu, (lf_get_arith(cpu) & ~0xd5ull) | ah);
}

/* Flags after a BCD adjust: SF/ZF/PF from @al, CF and AF as given. */
static void bcd_flags(CPU *cpu, uint8_t al, unsigned cf, unsigned af)
{
    lf_set(cpu, sext(al, 1), lf_aux_make(cf, 0, af));
}

void h_bcd(CPU *cpu, const Insn *i)
{
    uint64_t ax = cpu->s.regs[R_EAX] & 0xffff;
    uint8_t al = ax & 0xff, old_al = al;
    unsigned cf = lf_cf(cpu), af = lf_af(cpu), old_cf = cf;

    switch (i->opcode & 0xff) {
    case 0x27: /* DAA */
        cf = 0;
        if ((al & 0xf) > 9 || af) {
            cf = old_cf || al > 0xf9;
            al += 6;
            af = 1;
        } else {
            af = 0;
        }
        if (old_al > 0x99 || old_cf) {
            al += 0x60;
            cf = 1;
        } else {
            cf = 0;
        }
        break;
    case 0x2f: /* DAS */
        cf = 0;
        if ((al & 0xf) > 9 || af) {
            cf = old_cf || al < 6;
            al -= 6;
            af = 1;
        } else {
            af = 0;
        }
        if (old_al > 0x99 || old_cf) {
            al -= 0x60;
            cf = 1;
        }
        break;
    case 0x37: /* AAA */
    case 0x3f: /* AAS */
        if ((al & 0xf) > 9 || af) {
            ax = (i->opcode & 0xff) == 0x37 ? ax + 0x106 : ((ax - 6) & 0xff) | ((ax - 0x100) & 0xff00);
            af = cf = 1;
        } else {
            af = cf = 0;
        }
        ax = (ax & 0xff00) | (ax & 0x0f);
        reg_set(cpu, i, R_EAX, ax, 2);
        bcd_flags(cpu, ax & 0xff, cf, af);
        return;
    case 0xd4: { /* AAM */
        uint8_t base = i->imm & 0xff;
        if (!base) {
            x86_raise(cpu, EXC_DE, 0);
        }
        ax = ((uint64_t)(al / base) << 8) | (al % base);
        reg_set(cpu, i, R_EAX, ax, 2);
        bcd_flags(cpu, ax & 0xff, 0, 0);
        return;
    }
    default: { /* AAD */
        uint8_t base = i->imm & 0xff;
        al = (uint8_t)(al + ((ax >> 8) & 0xff) * base);
        reg_set(cpu, i, R_EAX, al, 2);
        bcd_flags(cpu, al, 0, 0);
        return;
    }
    }
    reg_set(cpu, i, R_EAX, al, 1);
    bcd_flags(cpu, al, cf, af);
}

void h_bound(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize;
    uint64_t ea = x86_ea(cpu, i);
    int64_t idx = sext(reg_get(cpu, i, i->reg, s), s);
    int64_t lo = sext(mem_read(cpu, x86_linear(cpu, i->seg, ea, s, ACC_READ), s), s);
    int64_t hi = sext(mem_read(cpu, x86_linear(cpu, i->seg, ea + s, s, ACC_READ), s), s);

    if (idx < lo || idx > hi) {
        x86_raise(cpu, EXC_BR, 0);
    }
}

/* ARPL: protected mode only (it is MOVSXD in 64-bit mode). */
void h_arpl(CPU *cpu, const Insn *i)
{
    uint64_t la = 0, d;
    unsigned src_rpl = cpu->s.regs[i->reg] & 3;

    if (!(cpu->s.cr0 & CR0_PE) || (cpu->s.rflags & FLAG_VM)) {
        x86_raise_ud(cpu);
    }
    if (i->mod == 3) {
        d = cpu->s.regs[i->rm] & 0xffff;
    } else {
        la = ea_la(cpu, i, 2, ACC_WRITE);
        d = mem_read16(cpu, la);
    }
    if ((d & 3) < src_rpl) {
        d = (d & ~3ull) | src_rpl;
        if (i->mod == 3) {
            reg_set(cpu, i, i->rm, d, 2);
        } else {
            mem_write16(cpu, la, (uint16_t)d);
        }
        lf_set_arith(cpu, lf_get_arith(cpu) | FLAG_ZF);
    } else {
        lf_set_arith(cpu, lf_get_arith(cpu) & ~(uint64_t)FLAG_ZF);
    }
}

void h_int(CPU *cpu, const Insn *i)
{
    switch (i->opcode & 0xff) {
    case 0xcc:
        x86_deliver(cpu, EXC_BP, EVT_SW_EXCEPTION, false, 0);
        break;
    case 0xcd:
        x86_deliver(cpu, (int)(i->imm & 0xff), EVT_SW_INTERRUPT, false, 0);
        break;
    case 0xce:
        if (lf_of(cpu)) {
            x86_deliver(cpu, EXC_OF, EVT_SW_EXCEPTION, false, 0);
        }
        break;
    default:
        x86_deliver(cpu, EXC_DB, EVT_PRIV_SW_EXCEPTION, false, 0);
        break;
    }
}

/* System instructions without operands, by opcode. */
void h_sys(CPU *cpu, const Insn *i)
{
    switch (i->opcode) {
    case 0x0cf: x86_iret(cpu, i->opsize); break;
    case 0x0f4: x86_hlt(cpu); break;
    case 0x0fa: x86_cli(cpu); break;
    case 0x0fb: x86_sti(cpu); break;
    case 0x105: x86_syscall(cpu); break;
    case 0x106: x86_clts(cpu); break;
    case 0x107: x86_sysret(cpu, i->opsize == 8 ? 8 : 4); break;
    case 0x108: case 0x109: x86_invd_wbinvd(cpu); break;
    case 0x130: x86_wrmsr(cpu); break;
    case 0x131: x86_rdtsc(cpu); break;
    case 0x132: x86_rdmsr(cpu); break;
    case 0x133: x86_rdpmc(cpu); break;
    case 0x134: x86_sysenter(cpu); break;
    case 0x135: x86_sysexit(cpu, i->opsize == 8 ? 8 : 4); break;
    case 0x1a2: x86_cpuid(cpu); break;
    default: x86_raise_ud(cpu);
    }
}

/* IN/OUT: E4-E7 take the port from imm8, EC-EF from DX. */
static uint16_t io_port(const CPU *cpu, const Insn *i)
{
    return (i->opcode & 0x08) ? (uint16_t)cpu->s.regs[R_EDX] : (uint16_t)(i->imm & 0xff);
}

void h_in(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize == 8 ? 4 : i->opsize;

    reg_set(cpu, i, R_EAX, x86_in(cpu, io_port(cpu, i), s), s);
}

void h_out(CPU *cpu, const Insn *i)
{
    unsigned s = i->opsize == 8 ? 4 : i->opsize;

    x86_out(cpu, io_port(cpu, i), (uint32_t)reg_get(cpu, i, R_EAX, s), s);
}

void h_group6(CPU *cpu, const Insn *i) { x86_group6(cpu, i); }
void h_group7(CPU *cpu, const Insn *i) { x86_group7(cpu, i); }
void h_lar(CPU *cpu, const Insn *i) { x86_lar_lsl(cpu, i, false); }
void h_lsl(CPU *cpu, const Insn *i) { x86_lar_lsl(cpu, i, true); }
void h_mov_cr(CPU *cpu, const Insn *i) { x86_mov_cr(cpu, i); }
void h_mov_dr(CPU *cpu, const Insn *i) { x86_mov_dr(cpu, i); }
