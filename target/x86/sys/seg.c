/*
 * Segmentation: descriptor loads with their checks, the limit and type
 * checks of x86_seg_slow, the cached mode bits of x86_update_mode, and
 * stack helpers used by the far transfers.
 *
 * The CPL is SS.DPL in protected mode (as KVM keeps it): every path that
 * changes privilege loads SS (possibly a null SS in 64-bit mode, whose
 * DPL we still set to the new CPL).
 *
 * Reference: Intel SDM Vol. 3A chapter 3 and 5; Vol. 2 "MOV", "POP".
 */
#include "sys.h"

void seg_from_desc(X86Segment *sg, uint16_t sel, uint64_t d)
{
    *sg = (X86Segment){
        .base = desc_base(d),
        .limit = desc_limit(d),
        .selector = sel,
        .type = desc_type(d),
        .s = desc_s(d),
        .dpl = desc_dpl(d),
        .present = desc_present(d),
        .avl = (d >> 52) & 1,
        .l = (d >> 53) & 1,
        .db = (d >> 54) & 1,
        .g = (d >> 55) & 1,
    };
}

void seg_set_flat(X86Segment *sg, uint16_t sel, bool code, unsigned dpl,
                  bool code64)
{
    *sg = (X86Segment){
        .base = 0,
        .limit = 0xffffffffu,
        .selector = sel,
        .type = code ? 0xb : 0x3,
        .s = 1,
        .dpl = dpl,
        .present = 1,
        .l = code && code64,
        .db = !(code && code64),
        .g = 1,
    };
}

static void seg_set_null(X86Segment *sg, uint16_t sel, unsigned dpl)
{
    *sg = (X86Segment){ .selector = sel, .dpl = dpl, .unusable = 1 };
}

uint64_t seg_desc_addr(CPU *cpu, uint16_t sel)
{
    uint64_t base = (sel & 4) ? cpu->s.seg[SEG_LDTR].base : cpu->s.gdt.base;

    return base + (sel & ~7u);
}

bool seg_read_desc(CPU *cpu, uint16_t sel, uint64_t *desc)
{
    uint32_t limit;

    if (sel & 4) {
        const X86Segment *ldt = &cpu->s.seg[SEG_LDTR];
        if (ldt->unusable || !ldt->present) {
            return false;
        }
        limit = ldt->limit;
    } else {
        limit = cpu->s.gdt.limit;
    }
    if ((uint32_t)(sel & ~7u) + 7 > limit) {
        return false;
    }
    *desc = mmu_read_sys(cpu, seg_desc_addr(cpu, sel), 8);
    return true;
}

bool seg_read_sys_desc(CPU *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi)
{
    unsigned len = x86_lma(cpu) ? 16 : 8;
    uint64_t addr = cpu->s.gdt.base + (sel & ~7u);

    if ((sel & 4) || (uint32_t)(sel & ~7u) + len - 1 > cpu->s.gdt.limit) {
        return false;
    }
    *lo = mmu_read_sys(cpu, addr, 8);
    *hi = len == 16 ? mmu_read_sys(cpu, addr + 8, 8) : 0;
    return true;
}

void seg_set_accessed(CPU *cpu, uint16_t sel, uint64_t *desc)
{
    if (!(*desc & (1ull << 40))) {
        *desc |= 1ull << 40;
        mmu_write_sys(cpu, seg_desc_addr(cpu, sel) + 5, (uint8_t)(*desc >> 40), 1);
    }
}

void seg_load_ss_checked(CPU *cpu, uint16_t sel, unsigned cpl, int vector,
                         bool null_ok, X86Segment *out)
{
    uint64_t d;

    if ((sel & ~3u) == 0) {
        if (!null_ok || (sel & 3) != cpl) {
            x86_raise(cpu, vector, 0);
        }
        seg_set_null(out, sel, cpl);
        return;
    }
    if (!seg_read_desc(cpu, sel, &d) || (sel & 3) != cpl ||
        !desc_s(d) || (desc_type(d) & 0xa) != 0x2 || desc_dpl(d) != cpl) {
        x86_raise(cpu, vector, sel & 0xfffc);
    }
    if (!desc_present(d)) {
        x86_raise(cpu, EXC_SS, sel & 0xfffc);
    }
    seg_set_accessed(cpu, sel, &d);
    seg_from_desc(out, sel, d);
}

uint64_t seg_load_cs_desc(CPU *cpu, uint16_t sel)
{
    uint64_t d;

    if ((sel & ~3u) == 0) {
        x86_raise_gp0(cpu);
    }
    if (!seg_read_desc(cpu, sel, &d)) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    return d;
}

void seg_check_outer_data(CPU *cpu)
{
    static const int segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };

    for (size_t i = 0; i < G_N_ELEMENTS(segs); i++) {
        X86Segment *sg = &cpu->s.seg[segs[i]];
        bool conforming_code = (sg->type & 0xc) == 0xc;
        if (!sg->unusable && sg->s && !conforming_code && sg->dpl < cpu->cpl) {
            seg_set_null(sg, 0, 0);
        }
    }
}

void x86_load_seg(CPU *cpu, int seg, uint16_t sel)
{
    X86Segment *sg = &cpu->s.seg[seg];
    unsigned cpl = cpu->cpl, rpl = sel & 3;
    uint64_t d;

    if (!x86_pmode(cpu)) {
        /* Real mode keeps the cached limit and attributes (unreal mode);
           virtual-8086 mode resets them. */
        sg->selector = sel;
        sg->base = (uint64_t)sel << 4;
        sg->unusable = 0;
        sg->present = 1;
        if (cpu->s.rflags & FLAG_VM) {
            sg->limit = 0xffff;
            sg->type = seg == SEG_CS ? 0xb : 0x3;
            sg->s = 1;
            sg->dpl = 3;
            sg->db = sg->g = sg->l = 0;
        }
        if (seg == SEG_SS) {
            cpu->intr_shadow = 1;
        }
        x86_update_mode(cpu);
        return;
    }
    if (seg == SEG_SS) {
        X86Segment n;
        seg_load_ss_checked(cpu, sel, cpl, EXC_GP, cpu->code64 && cpl != 3, &n);
        *sg = n;
        cpu->intr_shadow = 1;
        x86_update_mode(cpu);
        return;
    }
    if ((sel & ~3u) == 0) {
        seg_set_null(sg, sel, 0);
        x86_update_mode(cpu);
        return;
    }
    if (!seg_read_desc(cpu, sel, &d) || !desc_s(d) ||
        (desc_is_code(d) && !(desc_type(d) & 2))) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_is_conforming(d) && (desc_dpl(d) < cpl || desc_dpl(d) < rpl)) {
        x86_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!desc_present(d)) {
        x86_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    seg_set_accessed(cpu, sel, &d);
    seg_from_desc(sg, sel, d);
    x86_update_mode(cpu);
}

uint64_t x86_seg_slow(CPU *cpu, int seg, uint64_t off, unsigned size, int access)
{
    const X86Segment *sg = &cpu->s.seg[seg];
    int vec = seg == SEG_SS ? EXC_SS : EXC_GP;
    uint64_t last = off + size - 1;

    if (cpu->code64) {
        uint64_t la = off + ((seg == SEG_FS || seg == SEG_GS) ? sg->base : 0);
        if (!x86_canonical(la)) {
            x86_raise(cpu, vec, 0);
        }
        return la;
    }
    if (x86_pmode(cpu)) {
        if (sg->unusable) {
            x86_raise(cpu, vec, 0);
        }
        if (sg->s && (sg->type & 8)) {
            /* Code: never writable; readable only with the R bit. */
            if (access == ACC_WRITE || (access == ACC_READ && !(sg->type & 2))) {
                x86_raise(cpu, vec, 0);
            }
        } else if (access == ACC_WRITE && !(sg->type & 2)) {
            x86_raise(cpu, vec, 0);
        }
    }
    if (sg->s && (sg->type & 0xc) == 0x4) {
        /* Expand-down data: valid offsets are above the limit. */
        uint64_t upper = sg->db ? 0xffffffffu : 0xffffu;
        if (off <= sg->limit || last > upper) {
            x86_raise(cpu, vec, 0);
        }
    } else if (last > sg->limit) {
        x86_raise(cpu, vec, 0);
    }
    return (uint32_t)(sg->base + off);
}

static bool seg_is_flat_data(const X86Segment *sg)
{
    return !sg->unusable && sg->base == 0 && sg->limit == 0xffffffffu &&
           sg->s && (sg->type & 0xe) == 0x2;
}

void x86_update_mode(CPU *cpu)
{
    const X86CpuState *s = &cpu->s;
    const X86Segment *cs = &s->seg[SEG_CS];

    cpu->paging = (s->cr0 & CR0_PG) != 0;
    if (!(s->cr0 & CR0_PE)) {
        cpu->cpl = 0;
    } else if (s->rflags & FLAG_VM) {
        cpu->cpl = 3;
    } else {
        cpu->cpl = s->seg[SEG_SS].dpl;
    }
    cpu->code64 = x86_lma(cpu) && cs->l;
    cpu->code32 = !cpu->code64 && cs->db;
    cpu->stack32 = s->seg[SEG_SS].db;
    cpu->flat = !cpu->code64 && x86_pmode(cpu) &&
                cs->base == 0 && cs->limit == 0xffffffffu && !cs->unusable &&
                seg_is_flat_data(&s->seg[SEG_DS]) &&
                seg_is_flat_data(&s->seg[SEG_ES]) &&
                seg_is_flat_data(&s->seg[SEG_SS]);
}

uint64_t stack_mask(const CPU *cpu)
{
    if (cpu->code64) {
        return ~0ull;
    }
    return cpu->stack32 ? 0xffffffffu : 0xffffu;
}

void stack_push(CPU *cpu, uint64_t *sp, uint64_t val, unsigned size)
{
    uint64_t mask = stack_mask(cpu);
    uint64_t n = (*sp & ~mask) | ((*sp - size) & mask);
    uint64_t la = x86_linear(cpu, SEG_SS, n & mask, size, ACC_WRITE);

    mem_write(cpu, la, val, size);
    *sp = n;
}

uint64_t stack_pop(CPU *cpu, uint64_t *sp, unsigned size)
{
    uint64_t mask = stack_mask(cpu);
    uint64_t la = x86_linear(cpu, SEG_SS, *sp & mask, size, ACC_READ);
    uint64_t v = mem_read(cpu, la, size);

    *sp = (*sp & ~mask) | ((*sp + size) & mask);
    return v;
}

void stack_set_sp(CPU *cpu, uint64_t sp)
{
    cpu->s.regs[R_ESP] = sp;
}
