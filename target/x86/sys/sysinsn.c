/*
 * Privileged and system instructions: groups 6 and 7 (descriptor tables,
 * LDTR/TR, INVLPG, SMSW/LMSW, RDTSCP, SWAPGS), LAR/LSL/VERR/VERW, MOV to
 * and from control and debug registers, CLTS, HLT, CLI/STI, the POPF
 * privilege rules and IN/OUT with the TSS I/O permission bitmap.
 *
 * Debug registers are stored only: hardware breakpoints are not
 * implemented (setting an enable bit in DR7 logs under -d unimp).
 *
 * Reference: Intel SDM Vol. 2 (each instruction), Vol. 3A 2.5 (control
 * registers), 18.2 (debug registers), Vol. 1 19.5 (I/O permission bitmap).
 */
#include "sys.h"
#include "accel/accel.h"
#include "hw/intc/apic.h"
#include "hw/iobus.h"
#include "kemu/log.h"
#include "system/bql.h"
#include "system/machine.h"

/* CR4 bits the interpreter implements (no VME/PVI: VME is not advertised). */
#define CR4_SUPPORTED (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | \
                       CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)

static void require_cpl0(CPU *cpu)
{
    if (cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
}

/* Linear address of the memory operand. */
static uint64_t op_la(CPU *cpu, const Insn *i, unsigned size, int acc)
{
    return x86_linear(cpu, i->seg, x86_ea(cpu, i), size, acc);
}

/* 16-bit source operand (register or memory). */
static uint16_t load16(CPU *cpu, const Insn *i)
{
    if (i->mod == 3) {
        return cpu->s.regs[i->rm] & 0xffff;
    }
    return mem_read16(cpu, op_la(cpu, i, 2, ACC_READ));
}

/* SLDT/STR/SMSW destination: a register gets opsize bits, memory 16. */
static void store16(CPU *cpu, const Insn *i, uint64_t v)
{
    if (i->mod == 3) {
        x86_set_reg(cpu, i->rm, v, i->opsize);
    } else {
        mem_write16(cpu, op_la(cpu, i, 2, ACC_WRITE), v);
    }
}

void x86_write_cr0(CPU *cpu, uint64_t v)
{
    uint64_t old = cpu->s.cr0;

    v |= CR0_ET;
    if ((v >> 32) || ((v & CR0_PG) && !(v & CR0_PE)) ||
        ((v & CR0_NW) && !(v & CR0_CD))) {
        x86_raise_gp0(cpu);
    }
    if ((v & CR0_PG) && !(old & CR0_PG) && (cpu->s.efer & EFER_LME)) {
        if (!(cpu->s.cr4 & CR4_PAE)) {
            x86_raise_gp0(cpu);
        }
        cpu->s.efer |= EFER_LMA;
    }
    if (!(v & CR0_PG) && (old & CR0_PG) && x86_lma(cpu)) {
        if (cpu->code64) {
            x86_raise_gp0(cpu);
        }
        cpu->s.efer &= ~(uint64_t)EFER_LMA;
    }
    cpu->s.cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) {
        mmu_flush(cpu, true);
    }
    x86_update_mode(cpu);
}

static void write_cr3(CPU *cpu, uint64_t v)
{
    if (x86_lma(cpu) && (v & ~PHYS_MASK)) {
        x86_raise_gp0(cpu);
    }
    cpu->s.cr3 = v;
    mmu_flush(cpu, !(cpu->s.cr4 & CR4_PGE));
}

static void write_cr4(CPU *cpu, uint64_t v)
{
    uint64_t old = cpu->s.cr4;

    if ((v & ~(uint64_t)CR4_SUPPORTED) || (x86_lma(cpu) && !(v & CR4_PAE))) {
        x86_raise_gp0(cpu);
    }
    cpu->s.cr4 = v;
    if ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE)) {
        mmu_flush(cpu, true);
    }
}

/* CR8 is the local APIC's TPR >> 4 (kept in s.cr8 when there is none). */
static uint64_t read_cr8(CPU *cpu)
{
    Apic *a = cpu->vcpu ? cpu->vcpu->apic : NULL;

    if (!a) {
        return cpu->s.cr8;
    }
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    uint64_t v = apic_get_tpr(a) >> 4;
    if (taken) {
        bql_unlock();
    }
    return v;
}

static void write_cr8(CPU *cpu, uint64_t v)
{
    Apic *a = cpu->vcpu ? cpu->vcpu->apic : NULL;

    cpu->s.cr8 = v;
    if (!a) {
        return;
    }
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    apic_set_tpr(a, v << 4);
    if (taken) {
        bql_unlock();
    }
}

void x86_mov_cr(CPU *cpu, const Insn *i)
{
    bool to_cr = (i->opcode & 0xff) == 0x22;
    unsigned size = cpu->code64 ? 8 : 4;
    uint64_t v;

    if (i->reg != 0 && i->reg != 2 && i->reg != 3 && i->reg != 4 && i->reg != 8) {
        x86_raise_ud(cpu);
    }
    require_cpl0(cpu);
    if (!to_cr) {
        switch (i->reg) {
        case 0: v = cpu->s.cr0; break;
        case 2: v = cpu->s.cr2; break;
        case 3: v = cpu->s.cr3; break;
        case 4: v = cpu->s.cr4; break;
        default: v = read_cr8(cpu); break;
        }
        x86_set_reg(cpu, i->rm, v, size);
        return;
    }
    v = cpu->s.regs[i->rm];
    if (size == 4) {
        v = (uint32_t)v;
    }
    switch (i->reg) {
    case 0: x86_write_cr0(cpu, v); break;
    case 2: cpu->s.cr2 = v; break;
    case 3: write_cr3(cpu, v); break;
    case 4: write_cr4(cpu, v); break;
    default:
        if (v & ~0xfull) {
            x86_raise_gp0(cpu);
        }
        write_cr8(cpu, v);
        break;
    }
}

void x86_mov_dr(CPU *cpu, const Insn *i)
{
    bool to_dr = (i->opcode & 0xff) == 0x23;
    unsigned n = i->reg, size = cpu->code64 ? 8 : 4;

    if (n > 7 || ((n == 4 || n == 5) && (cpu->s.cr4 & CR4_DE))) {
        x86_raise_ud(cpu);
    }
    require_cpl0(cpu);
    if (n == 4 || n == 5) {
        n += 2;
    }
    if (!to_dr) {
        uint64_t v = cpu->s.dr[n];
        if (n == 6) {
            v |= 0xffff0ff0u;
        } else if (n == 7) {
            v |= 0x400;
        }
        x86_set_reg(cpu, i->rm, v, size);
        return;
    }
    uint64_t v = cpu->s.regs[i->rm];
    if (size == 4) {
        v = (uint32_t)v;
    }
    if ((n == 6 || n == 7) && (v >> 32)) {
        x86_raise_gp0(cpu);
    }
    if (n == 7 && (v & 0xff)) {
        log_unimp("interpreter: hardware breakpoints (DR7=%#" G_GINT64_MODIFIER "x) "
                  "are not implemented\n", v);
    }
    cpu->s.dr[n] = v;
}

void x86_clts(CPU *cpu)
{
    require_cpl0(cpu);
    cpu->s.cr0 &= ~(uint64_t)CR0_TS;
}

void x86_hlt(CPU *cpu)
{
    require_cpl0(cpu);
    cpu->halted = 1;
}

static unsigned iopl(const CPU *cpu)
{
    return (cpu->s.rflags & FLAG_IOPL) >> 12;
}

/* May CLI/STI change IF here? #GP(0) if not (no VME/PVI). */
static void check_if_change(CPU *cpu)
{
    if (!(cpu->s.cr0 & CR0_PE)) {
        return;
    }
    if ((cpu->s.rflags & FLAG_VM) ? iopl(cpu) != 3 : cpu->cpl > iopl(cpu)) {
        x86_raise_gp0(cpu);
    }
}

void x86_cli(CPU *cpu)
{
    check_if_change(cpu);
    x86_set_rflags(cpu, 0, FLAG_IF);
}

void x86_sti(CPU *cpu)
{
    check_if_change(cpu);
    if (!(cpu->s.rflags & FLAG_IF)) {
        /* No interrupt until the instruction after STI has run. */
        cpu->intr_shadow = 1;
    }
    x86_set_rflags(cpu, FLAG_IF, FLAG_IF);
}

void x86_popf(CPU *cpu, uint64_t val, unsigned opsize)
{
    uint64_t mask = FLAGS_ARITH | FLAG_TF | FLAG_DF | FLAG_NT | FLAG_AC |
                    FLAG_ID | FLAG_RF;

    if (cpu->s.rflags & FLAG_VM) {
        if (iopl(cpu) != 3) {
            x86_raise_gp0(cpu);
        }
        mask |= FLAG_IF;
    } else if (!(cpu->s.cr0 & CR0_PE) || cpu->cpl == 0) {
        mask |= FLAG_IF | FLAG_IOPL;
    } else if (cpu->cpl <= iopl(cpu)) {
        mask |= FLAG_IF;
    }
    if (opsize == 2) {
        mask &= 0xffff;
    }
    x86_set_rflags(cpu, val & ~(uint64_t)FLAG_RF, mask);
}

void x86_invd_wbinvd(CPU *cpu)
{
    require_cpl0(cpu);
}

/* I/O permission: IOPL, then the TSS bitmap (SDM Vol. 1, 19.5). */
static void io_check(CPU *cpu, uint16_t port, unsigned size)
{
    const X86Segment *tr = &cpu->s.seg[SEG_TR];

    if (!(cpu->s.cr0 & CR0_PE) ||
        (!(cpu->s.rflags & FLAG_VM) && cpu->cpl <= iopl(cpu))) {
        return;
    }
    if (tr->unusable || !tr->present || (tr->type != 9 && tr->type != 0xb) ||
        tr->limit < 103) {
        x86_raise_gp0(cpu);
    }
    uint32_t off = (uint32_t)mmu_read_sys(cpu, tr->base + 102, 2) + port / 8;
    if (off + 1 > tr->limit) {
        x86_raise_gp0(cpu);
    }
    uint32_t bits = mmu_read_sys(cpu, tr->base + off, 2);
    if ((bits >> (port & 7)) & ((1u << size) - 1)) {
        x86_raise_gp0(cpu);
    }
}

uint32_t x86_in(CPU *cpu, uint16_t port, unsigned size)
{
    uint32_t v;

    io_check(cpu, port, size);
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    v = iobus_read(cpu->m->pio, port, size);
    if (taken) {
        bql_unlock();
    }
    return v;
}

void x86_out(CPU *cpu, uint16_t port, uint32_t val, unsigned size)
{
    io_check(cpu, port, size);
    bool taken = !bql_locked();
    if (taken) {
        bql_lock();
    }
    iobus_write(cpu->m->pio, port, val, size);
    if (taken) {
        bql_unlock();
    }
}

/* ---- group 6 ---- */

static void lldt(CPU *cpu, uint16_t sel)
{
    X86Segment *ldt = &cpu->s.seg[SEG_LDTR];
    uint64_t lo, hi;

    if ((sel & ~3u) == 0) {
        *ldt = (X86Segment){ .selector = sel, .unusable = 1 };
        return;
    }
    if (!seg_read_sys_desc(cpu, sel, &lo, &hi) || desc_s(lo) || desc_type(lo) != 2) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_present(lo)) {
        x86_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    seg_from_desc(ldt, sel, lo);
    ldt->base |= (hi & 0xffffffffu) << 32;
}

static void ltr(CPU *cpu, uint16_t sel)
{
    X86Segment *tr = &cpu->s.seg[SEG_TR];
    uint64_t lo, hi;
    unsigned type;

    if ((sel & ~3u) == 0) {
        x86_raise_gp0(cpu);
    }
    if (!seg_read_sys_desc(cpu, sel, &lo, &hi)) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    type = desc_type(lo);
    if (desc_s(lo) || (type != 9 && (type != 1 || x86_lma(cpu)))) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_present(lo)) {
        x86_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    lo |= 2ull << 40;                       /* busy */
    mmu_write_sys(cpu, cpu->s.gdt.base + (sel & ~7u) + 5, (uint8_t)(lo >> 40), 1);
    seg_from_desc(tr, sel, lo);
    tr->base |= (hi & 0xffffffffu) << 32;
}

static void verr_verw(CPU *cpu, uint16_t sel, bool write)
{
    uint64_t d;
    bool ok = false;

    if ((sel & ~3u) && seg_read_desc(cpu, sel, &d) && desc_s(d)) {
        bool code = desc_is_code(d);
        if (desc_is_conforming(d) ||
            (desc_dpl(d) >= cpu->cpl && desc_dpl(d) >= (sel & 3u))) {
            ok = write ? !code && (desc_type(d) & 2) : !code || (desc_type(d) & 2);
        }
    }
    x86_set_rflags(cpu, ok ? FLAG_ZF : 0, FLAG_ZF);
}

void x86_group6(CPU *cpu, const Insn *i)
{
    unsigned op = (i->modrm >> 3) & 7;

    if (!x86_pmode(cpu)) {
        x86_raise_ud(cpu);
    }
    switch (op) {
    case 0:
        store16(cpu, i, cpu->s.seg[SEG_LDTR].selector);
        break;
    case 1:
        store16(cpu, i, cpu->s.seg[SEG_TR].selector);
        break;
    case 2:
        require_cpl0(cpu);
        lldt(cpu, load16(cpu, i));
        break;
    case 3:
        require_cpl0(cpu);
        ltr(cpu, load16(cpu, i));
        break;
    case 4:
    case 5:
        verr_verw(cpu, load16(cpu, i), op == 5);
        break;
    default:
        x86_raise_ud(cpu);
    }
}

/* ---- group 7 ---- */

static void rdtscp(CPU *cpu)
{
    if ((cpu->s.cr4 & CR4_TSD) && cpu->cpl != 0) {
        x86_raise_gp0(cpu);
    }
    uint64_t t = x86_tsc_read(cpu);
    cpu->s.regs[R_EAX] = (uint32_t)t;
    cpu->s.regs[R_EDX] = t >> 32;
    cpu->s.regs[R_ECX] = (uint32_t)cpu->tsc_aux;
}

static void lmsw(CPU *cpu, uint16_t v)
{
    uint64_t cr0 = cpu->s.cr0;

    require_cpl0(cpu);
    /* Only MP/EM/TS change, and PE can be set but not cleared. */
    x86_write_cr0(cpu, (cr0 & ~0xeull) | (v & 0xe) | ((cr0 | v) & 1));
}

static void store_table(CPU *cpu, const Insn *i, const X86Table *t)
{
    unsigned bsize = cpu->code64 ? 8 : 4;
    uint64_t la = op_la(cpu, i, 2 + bsize, ACC_WRITE);

    mem_write16(cpu, la, t->limit);
    mem_write(cpu, la + 2, t->base, bsize);
}

static void load_table(CPU *cpu, const Insn *i, X86Table *t)
{
    unsigned bsize = cpu->code64 ? 8 : 4;
    uint64_t la, base;
    uint16_t limit;

    require_cpl0(cpu);
    la = op_la(cpu, i, 2 + bsize, ACC_READ);
    limit = mem_read16(cpu, la);
    base = mem_read(cpu, la + 2, bsize);
    if (!cpu->code64 && i->opsize == 2) {
        base &= 0xffffff;
    }
    if (cpu->code64 && !x86_canonical(base)) {
        x86_raise_gp0(cpu);
    }
    t->base = base;
    t->limit = limit;
}

void x86_group7(CPU *cpu, const Insn *i)
{
    unsigned op = (i->modrm >> 3) & 7;

    if (i->mod == 3) {
        switch (i->modrm) {
        case 0xf8:
            x86_swapgs(cpu);
            return;
        case 0xf9:
            rdtscp(cpu);
            return;
        default:
            break;
        }
        if (op == 4) {
            store16(cpu, i, cpu->s.cr0);
        } else if (op == 6) {
            lmsw(cpu, cpu->s.regs[i->rm] & 0xffff);
        } else {
            /* MONITOR/MWAIT, XGETBV, CLAC/STAC, VM*: not advertised. */
            x86_raise_ud(cpu);
        }
        return;
    }
    switch (op) {
    case 0:
        store_table(cpu, i, &cpu->s.gdt);
        break;
    case 1:
        store_table(cpu, i, &cpu->s.idt);
        break;
    case 2:
        load_table(cpu, i, &cpu->s.gdt);
        break;
    case 3:
        load_table(cpu, i, &cpu->s.idt);
        break;
    case 4:
        store16(cpu, i, cpu->s.cr0);
        break;
    case 6:
        lmsw(cpu, load16(cpu, i));
        break;
    case 7: {
        require_cpl0(cpu);
        /* No segment checks: INVLPG of any address is valid. */
        uint64_t ea = x86_ea(cpu, i);
        uint64_t base = cpu->code64 && i->seg != SEG_FS && i->seg != SEG_GS
                        ? 0 : cpu->s.seg[i->seg].base;
        uint64_t la = cpu->code64 ? base + ea : (uint32_t)(base + ea);
        mmu_flush_page(cpu, la);
        break;
    }
    default:
        x86_raise_ud(cpu);
    }
}

void x86_lar_lsl(CPU *cpu, const Insn *i, bool lsl)
{
    uint16_t sel = load16(cpu, i);
    unsigned rpl = sel & 3;
    bool lm = x86_lma(cpu), ok = false;
    uint64_t d;

    if (!x86_pmode(cpu)) {
        x86_raise_ud(cpu);
    }
    if ((sel & ~3u) && seg_read_desc(cpu, sel, &d)) {
        unsigned t = desc_type(d);
        bool type_ok;
        if (desc_s(d)) {
            type_ok = true;
        } else if (lsl) {
            type_ok = lm ? (t == 2 || t == 9 || t == 0xb)
                         : (t == 1 || t == 2 || t == 3 || t == 9 || t == 0xb);
        } else {
            type_ok = lm ? (t == 2 || t == 9 || t == 0xb || t == 0xc)
                         : (t == 1 || t == 2 || t == 3 || t == 4 || t == 5 ||
                            t == 9 || t == 0xb || t == 0xc);
        }
        ok = type_ok && (desc_is_conforming(d) ||
                         (desc_dpl(d) >= cpu->cpl && desc_dpl(d) >= rpl));
    }
    if (ok) {
        uint64_t v = lsl ? desc_limit(d)
                         : (d >> 32) & (i->opsize == 2 ? 0xff00u : 0x00ffff00u);
        x86_set_reg(cpu, i->reg, v, i->opsize == 8 ? 4 : i->opsize);
    }
    x86_set_rflags(cpu, ok ? FLAG_ZF : 0, FLAG_ZF);
}
