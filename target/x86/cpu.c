/*
 * x86 CPU states every accelerator starts from (include/target/x86/cpu.h),
 * and the register dump printed on fatal guest errors.
 *
 * Reference: Intel SDM Vol. 3A, 10.1.1 "Processor State After Reset",
 * Table 10-1; the multiboot 0.6.96 spec, 3.2 "Machine state".
 */
#include <string.h>
#include "target/x86/cpu.h"

/*
 * EDX after reset holds the processor signature (CPUID.1:EAX). This is the
 * signature of the default "qemu64" model (family 15, model 107,
 * stepping 1); keep it in sync with target/x86/cpuid.c.
 */
#define X86_RESET_SIGNATURE 0x00060fb1u

#define CR0_RESET 0x60000010u      /* CD | NW | ET */
#define DR6_RESET 0xffff0ff0u
#define DR7_RESET 0x00000400u
#define RFLAGS_RESERVED (1u << 1)  /* bit 1 always reads as 1 */
#define APIC_BASE_DEFAULT 0xfee00000u
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_BSP (1u << 8)

/* Descriptor type nibbles (S=1: code/data; S=0: system). */
#define TYPE_DATA_RW_ACCESSED 0x3
#define TYPE_CODE_RX_ACCESSED 0xb
#define TYPE_LDT 0x2
#define TYPE_TSS32_BUSY 0xb

static X86Segment real_seg(uint16_t selector, uint8_t type, uint8_t s)
{
    return (X86Segment){
        .base = (uint64_t)selector << 4,
        .limit = 0xffff,
        .selector = selector,
        .type = type,
        .s = s,
        .present = 1,
    };
}

void x86_cpu_reset_state(X86CpuState *s, bool bsp)
{
    memset(s, 0, sizeof(*s));
    s->regs[R_EDX] = X86_RESET_SIGNATURE;
    s->rip = 0xfff0;
    s->rflags = RFLAGS_RESERVED;
    for (int i = 0; i < SEG_NR; i++) {
        s->seg[i] = real_seg(0, TYPE_DATA_RW_ACCESSED, 1);
    }
    /* CS is F000 but its hidden base is FFFF0000: the first fetch hits the
     * top of the 4 GiB space, where the firmware lives. */
    s->seg[SEG_CS] = real_seg(0xf000, TYPE_CODE_RX_ACCESSED, 1);
    s->seg[SEG_CS].base = 0xffff0000u;
    s->seg[SEG_LDTR] = real_seg(0, TYPE_LDT, 0);
    s->seg[SEG_TR] = real_seg(0, TYPE_TSS32_BUSY, 0);
    s->gdt = (X86Table){ .base = 0, .limit = 0xffff };
    s->idt = (X86Table){ .base = 0, .limit = 0xffff };
    s->cr0 = CR0_RESET;
    s->dr[6] = DR6_RESET;
    s->dr[7] = DR7_RESET;
    s->apic_base = APIC_BASE_DEFAULT | APIC_BASE_ENABLE |
                   (bsp ? APIC_BASE_BSP : 0);
}

static X86Segment flat32_seg(uint16_t selector, uint8_t type)
{
    return (X86Segment){
        .base = 0,
        .limit = 0xffffffffu,
        .selector = selector,
        .type = type,
        .s = 1,
        .present = 1,
        .db = 1,
        .g = 1,
    };
}

void x86_cpu_flat32_state(X86CpuState *s, uint32_t eip)
{
    x86_cpu_reset_state(s, true);
    s->regs[R_EDX] = 0;
    /* Selectors 0x08/0x10 as in a conventional flat GDT; multiboot leaves
     * the values undefined and the kernel must load its own GDT. */
    s->seg[SEG_CS] = flat32_seg(0x08, TYPE_CODE_RX_ACCESSED);
    s->seg[SEG_DS] = flat32_seg(0x10, TYPE_DATA_RW_ACCESSED);
    s->seg[SEG_ES] = s->seg[SEG_DS];
    s->seg[SEG_FS] = s->seg[SEG_DS];
    s->seg[SEG_GS] = s->seg[SEG_DS];
    s->seg[SEG_SS] = s->seg[SEG_DS];
    s->cr0 = CR0_PE | CR0_ET;
    s->rip = eip;
    s->rflags = RFLAGS_RESERVED;   /* IF = 0, VM = 0 */
}

void x86_cpu_real_state(X86CpuState *s, uint32_t addr)
{
    x86_cpu_reset_state(s, true);
    s->seg[SEG_CS] = real_seg((uint16_t)(addr >> 4), TYPE_CODE_RX_ACCESSED, 1);
    s->rip = addr & 0xf;
}

/* QEMU-style attribute word: descriptor bits 8..23 of the high dword. */
static uint32_t seg_attr(const X86Segment *sg)
{
    return ((uint32_t)sg->type << 8) | ((uint32_t)sg->s << 12) |
           ((uint32_t)sg->dpl << 13) | ((uint32_t)sg->present << 15) |
           ((uint32_t)sg->avl << 20) | ((uint32_t)sg->l << 21) |
           ((uint32_t)sg->db << 22) | ((uint32_t)sg->g << 23);
}

static void dump_seg(FILE *f, const char *name, const X86Segment *sg, bool lm)
{
    if (lm) {
        fprintf(f, "%-3s=%04x %016" G_GINT64_MODIFIER "x %08x %08x",
                name, sg->selector, sg->base, sg->limit, seg_attr(sg));
    } else {
        fprintf(f, "%-3s=%04x %08x %08x %08x", name, sg->selector,
                (uint32_t)sg->base, sg->limit, seg_attr(sg));
    }
    if (sg->unusable || !sg->present) {
        fprintf(f, " (unusable)\n");
    } else if (!sg->s) {
        fprintf(f, " DPL=%u system type %x\n", sg->dpl, sg->type);
    } else if (sg->type & 8) {
        fprintf(f, " DPL=%u %s [%c%c%c]\n", sg->dpl,
                sg->l ? "CS64" : sg->db ? "CS32" : "CS16",
                (sg->type & 4) ? 'C' : '-', (sg->type & 2) ? 'R' : '-',
                (sg->type & 1) ? 'A' : '-');
    } else {
        fprintf(f, " DPL=%u %s [%c%c%c]\n", sg->dpl, sg->db ? "DS" : "DS16",
                (sg->type & 4) ? 'E' : '-', (sg->type & 2) ? 'W' : '-',
                (sg->type & 1) ? 'A' : '-');
    }
}

static void dump_flags(FILE *f, uint64_t fl)
{
    static const struct { unsigned bit; char c; } bits[] = {
        { 10, 'D' }, { 11, 'O' }, { 7, 'S' }, { 6, 'Z' },
        { 4, 'A' }, { 2, 'P' }, { 0, 'C' },
    };

    fputc('[', f);
    for (size_t i = 0; i < G_N_ELEMENTS(bits); i++) {
        fputc((fl >> bits[i].bit) & 1 ? bits[i].c : '-', f);
    }
    fputc(']', f);
}

void x86_cpu_dump(const X86CpuState *s, FILE *f)
{
    static const char *const seg_names[SEG_NR] = {
        "ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR",
    };
    static const char *const names64[16] = {
        "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
        "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
    };
    /* Printed in QEMU's order: A B C D / SI DI BP SP. */
    static const int order[8] = {
        R_EAX, R_EBX, R_ECX, R_EDX, R_ESI, R_EDI, R_EBP, R_ESP,
    };
    bool lm = (s->efer & EFER_LMA) != 0;
    unsigned cpl = (s->cr0 & CR0_PE) ? s->seg[SEG_SS].dpl : 0;

    if (lm) {
        for (int i = 0; i < 16; i++) {
            int r = i < 8 ? order[i] : i;
            fprintf(f, "%-3s=%016" G_GINT64_MODIFIER "x%c", names64[r],
                    s->regs[r], (i % 4 == 3) ? '\n' : ' ');
        }
        fprintf(f, "RIP=%016" G_GINT64_MODIFIER "x RFL=%08x ", s->rip,
                (uint32_t)s->rflags);
    } else {
        for (int i = 0; i < 8; i++) {
            int r = order[i];
            fprintf(f, "E%s=%08x%c", names64[r] + 1, (uint32_t)s->regs[r],
                    (i % 4 == 3) ? '\n' : ' ');
        }
        fprintf(f, "EIP=%08x EFL=%08x ", (uint32_t)s->rip,
                (uint32_t)s->rflags);
    }
    dump_flags(f, s->rflags);
    fprintf(f, " CPL=%u IF=%u\n", cpl, (s->rflags & RFLAGS_IF) ? 1 : 0);
    for (int i = 0; i < SEG_NR; i++) {
        dump_seg(f, seg_names[i], &s->seg[i], lm);
    }
    fprintf(f, "GDT=     %016" G_GINT64_MODIFIER "x %08x\n", s->gdt.base,
            s->gdt.limit);
    fprintf(f, "IDT=     %016" G_GINT64_MODIFIER "x %08x\n", s->idt.base,
            s->idt.limit);
    fprintf(f, "CR0=%08x CR2=%016" G_GINT64_MODIFIER "x CR3=%016"
            G_GINT64_MODIFIER "x CR4=%08x CR8=%" G_GINT64_MODIFIER "x\n",
            (uint32_t)s->cr0, s->cr2, s->cr3, (uint32_t)s->cr4, s->cr8);
    for (int i = 0; i < 4; i++) {
        fprintf(f, "DR%d=%016" G_GINT64_MODIFIER "x%c", i, s->dr[i],
                i == 3 ? '\n' : ' ');
    }
    fprintf(f, "DR6=%016" G_GINT64_MODIFIER "x DR7=%016" G_GINT64_MODIFIER
            "x\n", s->dr[6], s->dr[7]);
    fprintf(f, "EFER=%016" G_GINT64_MODIFIER "x APICBASE=%016"
            G_GINT64_MODIFIER "x\n", s->efer, s->apic_base);
}
