/*
 * Exceptions and interrupt delivery: raising (longjmp to core's loop),
 * the real-mode IVT, protected- and long-mode gates with privilege change
 * and IST stacks, and the double-fault / triple-fault escalation.
 *
 * A fault raised while an event is being delivered (reading the IDT,
 * loading CS, pushing the frame) comes back to x86_deliver through its own
 * jmp_buf; it is then combined with the event being delivered as the SDM's
 * Table 6-5 says: contributory + contributory or page fault + (page fault
 * or contributory) gives #DF, anything during #DF shuts the CPU down.
 *
 * Reference: Intel SDM Vol. 3A 6.12-6.15 and 7.7 (64-bit TSS), Vol. 2
 * "INT n/INTO/INT3/INT1".
 */
#include <stdlib.h>
#include "sys.h"
#include "kemu/log.h"

static bool has_error_code(int vector)
{
    switch (vector) {
    case EXC_DF: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP:
    case EXC_PF: case EXC_AC:
        return true;
    default:
        return false;
    }
}

_Noreturn void x86_raise(CPU *cpu, int vector, uint32_t error)
{
    cpu->exc_vector = vector;
    cpu->exc_error = has_error_code(vector) ? error : 0;
    cpu->exc_has_error = has_error_code(vector);
    if (!cpu->jmp) {
        /* A raise outside x86_exec/x86_deliver is a bug in the caller. */
        log_err("interpreter: exception %d raised with no handler", vector);
        abort();
    }
    longjmp(*cpu->jmp, 1);
}

_Noreturn void x86_raise_pf(CPU *cpu, uint64_t la, uint32_t error)
{
    cpu->s.cr2 = la;
    x86_raise(cpu, EXC_PF, error);
}

void x86_triple_fault(CPU *cpu)
{
    cpu->shutdown = 1;
    cpu->halted = 1;
}

/* A stack being built: the new one on a privilege change, or the current. */
typedef struct Frame {
    X86Segment ss;
    uint64_t sp;
    uint64_t mask;
    bool lm;              /* 64-bit pushes on a canonical RSP */
} Frame;

static void frame_push(CPU *cpu, Frame *f, uint64_t v, unsigned size)
{
    uint64_t sp = (f->sp & ~f->mask) | ((f->sp - size) & f->mask);
    uint64_t off = sp & f->mask, la;

    if (f->lm) {
        if (!x86_canonical(off)) {
            x86_raise(cpu, EXC_SS, 0);
        }
        la = off;
    } else {
        const X86Segment *s = &f->ss;
        bool down = s->s && (s->type & 0xc) == 0x4;
        uint64_t last = off + size - 1;
        if (s->unusable || (down ? off <= s->limit : last > s->limit)) {
            x86_raise(cpu, EXC_SS, (cpu->s.cr0 & CR0_PE) ? s->selector & 0xfffc : 0);
        }
        la = (uint32_t)(s->base + off);
    }
    mmu_write_sys(cpu, la, v, size);
    f->sp = sp;
}

static uint64_t return_rip(CPU *cpu, int kind)
{
    return (kind == EVT_EXCEPTION || kind == EVT_HW_INTERRUPT) ? cpu->s.rip
                                                               : cpu->next_rip;
}

static void deliver_real(CPU *cpu, int vector, int kind)
{
    uint64_t flags = x86_get_rflags(cpu);
    Frame f = { .ss = cpu->s.seg[SEG_SS], .sp = cpu->s.regs[R_ESP],
                .mask = cpu->stack32 ? 0xffffffffu : 0xffffu };
    uint32_t ent;

    if ((uint32_t)vector * 4 + 3 > cpu->s.idt.limit) {
        x86_raise(cpu, EXC_GP, vector * 8 + 2);
    }
    ent = mmu_read_sys(cpu, cpu->s.idt.base + vector * 4, 4);
    frame_push(cpu, &f, flags, 2);
    frame_push(cpu, &f, cpu->s.seg[SEG_CS].selector, 2);
    frame_push(cpu, &f, return_rip(cpu, kind), 2);

    X86Segment *cs = &cpu->s.seg[SEG_CS];
    cs->selector = ent >> 16;
    cs->base = (uint64_t)(ent >> 16) << 4;
    cpu->s.regs[R_ESP] = f.sp;
    cpu->s.rip = ent & 0xffff;
    x86_set_rflags(cpu, 0, FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF);
}

/* Stack pointer and SS for privilege level @dpl from the current TSS. */
static void tss_stack(CPU *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp,
                      uint32_t ext)
{
    const X86Segment *tr = &cpu->s.seg[SEG_TR];
    bool tss32 = (tr->type & 8) != 0;
    uint32_t off = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
    unsigned w = tss32 ? 4 : 2;

    if (tr->unusable || off + w + 1 > tr->limit) {
        x86_raise(cpu, EXC_TS, (tr->selector & 0xfffc) | ext);
    }
    *sp = mmu_read_sys(cpu, tr->base + off, w);
    *ss = mmu_read_sys(cpu, tr->base + off + w, 2);
}

/* RSPn or ISTn from the 64-bit TSS. */
static uint64_t tss64_stack(CPU *cpu, unsigned dpl, unsigned ist, uint32_t ext)
{
    const X86Segment *tr = &cpu->s.seg[SEG_TR];
    uint32_t off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;

    if (tr->unusable || off + 7 > tr->limit) {
        x86_raise(cpu, EXC_TS, (tr->selector & 0xfffc) | ext);
    }
    return mmu_read_sys(cpu, tr->base + off, 8);
}

static void deliver_protected(CPU *cpu, int vector, int kind, bool has_error,
                              uint32_t error)
{
    const bool lm = x86_lma(cpu);
    const unsigned esz = lm ? 16 : 8;
    const bool soft = kind == EVT_SW_INTERRUPT || kind == EVT_SW_EXCEPTION;
    const uint32_t ext = (kind == EVT_HW_INTERRUPT || kind == EVT_EXCEPTION) ? 1 : 0;
    const uint32_t idt_err = vector * 8 + 2 + ext;
    const unsigned cpl = cpu->cpl;
    const bool vm86 = (cpu->s.rflags & FLAG_VM) != 0;
    uint64_t lo, hi = 0, d, offset, flags, ret;
    unsigned type, newcpl, gsize;
    uint16_t sel;
    Frame f;

    if ((uint32_t)vector * esz + esz - 1 > cpu->s.idt.limit) {
        x86_raise(cpu, EXC_GP, idt_err);
    }
    lo = mmu_read_sys(cpu, cpu->s.idt.base + vector * esz, 8);
    if (lm) {
        hi = mmu_read_sys(cpu, cpu->s.idt.base + vector * esz + 8, 8);
    }
    type = (lo >> 40) & 0xf;
    if (type == 0x5 && !lm) {
        log_unimp("interpreter: task gate in the IDT (vector %d)\n", vector);
        x86_raise(cpu, EXC_GP, idt_err);
    }
    if ((lo >> 44) & 1 || (lm ? (type & 0xe) != 0xe : (type & 6) != 6)) {
        x86_raise(cpu, EXC_GP, idt_err);
    }
    if (soft && ((lo >> 45) & 3) < cpl) {
        x86_raise(cpu, EXC_GP, vector * 8 + 2);
    }
    if (!((lo >> 47) & 1)) {
        x86_raise(cpu, EXC_NP, idt_err);
    }
    gsize = lm ? 8 : (type & 8) ? 4 : 2;
    sel = (lo >> 16) & 0xffff;
    offset = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) |
             (lm ? (hi & 0xffffffffu) << 32 : 0);
    if (gsize == 2) {
        offset &= 0xffff;
    }

    if ((sel & ~3u) == 0) {
        x86_raise(cpu, EXC_GP, ext);
    }
    if (!seg_read_desc(cpu, sel, &d) || !desc_is_code(d) || desc_dpl(d) > cpl ||
        (lm && !(((d >> 53) & 1) && !((d >> 54) & 1)))) {
        x86_raise(cpu, EXC_GP, (sel & 0xfffc) | ext);
    }
    if (!desc_present(d)) {
        x86_raise(cpu, EXC_NP, (sel & 0xfffc) | ext);
    }
    newcpl = desc_is_conforming(d) ? cpl : desc_dpl(d);
    if (vm86 && newcpl != 0) {
        x86_raise(cpu, EXC_GP, (sel & 0xfffc) | ext);
    }
    if (lm ? !x86_canonical(offset) : offset > desc_limit(d)) {
        x86_raise(cpu, EXC_GP, ext);
    }

    flags = x86_get_rflags(cpu);
    ret = return_rip(cpu, kind);
    const bool priv = newcpl < cpl;
    const unsigned ist = lm ? (lo >> 32) & 7 : 0;
    const uint64_t old_sp = cpu->s.regs[R_ESP];
    const uint16_t old_ss = cpu->s.seg[SEG_SS].selector;

    if (lm) {
        f = (Frame){ .ss = cpu->s.seg[SEG_SS], .sp = old_sp, .mask = ~0ull, .lm = true };
        if (priv || ist) {
            f.sp = tss64_stack(cpu, newcpl, ist, ext);
        }
        if (priv) {
            f.ss = (X86Segment){ .selector = newcpl, .dpl = newcpl, .unusable = 1 };
        }
        f.sp &= ~0xfull;
        frame_push(cpu, &f, old_ss, 8);
        frame_push(cpu, &f, old_sp, 8);
        frame_push(cpu, &f, flags, 8);
        frame_push(cpu, &f, cpu->s.seg[SEG_CS].selector, 8);
        frame_push(cpu, &f, ret, 8);
    } else {
        if (priv) {
            uint16_t nss;
            uint64_t nsp;
            tss_stack(cpu, newcpl, &nss, &nsp, ext);
            f.ss = (X86Segment){ 0 };
            seg_load_ss_checked(cpu, nss, newcpl, EXC_TS, false, &f.ss);
            f.sp = nsp;
        } else {
            f.ss = cpu->s.seg[SEG_SS];
            f.sp = old_sp;
        }
        f.mask = f.ss.db ? 0xffffffffu : 0xffffu;
        f.lm = false;
        if (vm86) {
            frame_push(cpu, &f, cpu->s.seg[SEG_GS].selector, gsize);
            frame_push(cpu, &f, cpu->s.seg[SEG_FS].selector, gsize);
            frame_push(cpu, &f, cpu->s.seg[SEG_DS].selector, gsize);
            frame_push(cpu, &f, cpu->s.seg[SEG_ES].selector, gsize);
        }
        if (priv) {
            frame_push(cpu, &f, old_ss, gsize);
            frame_push(cpu, &f, old_sp, gsize);
        }
        frame_push(cpu, &f, flags, gsize);
        frame_push(cpu, &f, cpu->s.seg[SEG_CS].selector, gsize);
        frame_push(cpu, &f, ret, gsize);
    }
    if (has_error) {
        frame_push(cpu, &f, error, gsize);
    }
    seg_set_accessed(cpu, sel, &d);

    /* Nothing below faults: commit. */
    if (priv) {
        cpu->s.seg[SEG_SS] = f.ss;
    }
    if (vm86) {
        static const int segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
        for (size_t i = 0; i < G_N_ELEMENTS(segs); i++) {
            cpu->s.seg[segs[i]] = (X86Segment){ .unusable = 1 };
        }
    }
    seg_from_desc(&cpu->s.seg[SEG_CS], (sel & 0xfffc) | newcpl, d);
    cpu->s.regs[R_ESP] = f.sp;
    cpu->s.rip = offset;
    x86_set_rflags(cpu, 0, FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM |
                           ((type & 1) ? 0 : FLAG_IF));
    x86_update_mode(cpu);
}

static bool contributory(int v)
{
    return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

void x86_deliver(CPU *cpu, int vector, int kind, bool has_error, uint32_t error)
{
    jmp_buf jb;
    jmp_buf *volatile saved = cpu->jmp;
    volatile int vec = vector, k = kind;
    volatile bool he = has_error;
    volatile uint32_t err = error;

    cpu->jmp = &jb;
    for (;;) {
        if (setjmp(jb) == 0) {
            if (cpu->s.cr0 & CR0_PE) {
                deliver_protected(cpu, vec, k, he, err);
            } else {
                deliver_real(cpu, vec, k);
            }
            break;
        }
        /* A fault while delivering: combine the two. */
        int nv = cpu->exc_vector;
        if (vec == EXC_DF && k == EVT_EXCEPTION) {
            log_guest_error("interpreter: fault %d while delivering #DF: triple fault\n",
                            nv);
            x86_triple_fault(cpu);
            break;
        }
        bool first_exc = k == EVT_EXCEPTION;
        if (first_exc && ((contributory(vec) && contributory(nv)) ||
                          (vec == EXC_PF && (nv == EXC_PF || contributory(nv))))) {
            vec = EXC_DF;
            he = true;
            err = 0;
        } else {
            uint32_t e = cpu->exc_error;
            /* EXT: the fault arose while delivering an external event or
               an exception, not an INT n. */
            if (nv >= EXC_TS && nv <= EXC_GP &&
                (k == EVT_HW_INTERRUPT || k == EVT_EXCEPTION)) {
                e |= 1;
            }
            vec = nv;
            he = cpu->exc_has_error;
            err = e;
        }
        k = EVT_EXCEPTION;
    }
    cpu->jmp = saved;
    cpu->exc_vector = -1;
    if (!cpu->shutdown) {
        cpu->halted = 0;
        cpu->intr_shadow = 0;
        if (vec == EXC_NMI && k == EVT_HW_INTERRUPT) {
            cpu->nmi_blocked = 1;
        }
    }
    cpu->next_rip = cpu->s.rip;
}
