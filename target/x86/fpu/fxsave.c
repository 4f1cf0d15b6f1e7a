/*
 * Group 15 (0F AE): FXSAVE/FXRSTOR (and their REX.W forms), LDMXCSR,
 * STMXCSR, the fences and CLFLUSH; the FPU's reset state.
 */
#include "fpu-internal.h"
#include "kemu/bytes.h"

/* XMM registers FXSAVE covers: 16 in 64-bit mode, else 8. */
static unsigned fx_nr_xmm(const CPU *cpu)
{
    return cpu->code64 ? 16 : 8;
}

void fpu_fxsave_image(CPU *cpu, uint8_t *img, bool rexw)
{
    X86FpuState *f = &cpu->fpu;

    memset(img, 0, 160 + 16 * fx_nr_xmm(cpu));
    st16_le(img + 0, f->fcw);
    st16_le(img + 2, (f->fsw & ~(7u << FSW_TOP_SHIFT)) | (f->top & 7) << FSW_TOP_SHIFT);
    img[4] = f->ftw;
    st16_le(img + 6, f->fop & 0x7ff);
    if (rexw) {
        st64_le(img + 8, f->fip);
        st64_le(img + 16, f->fdp);
    } else {
        st32_le(img + 8, (uint32_t)f->fip);
        st32_le(img + 16, (uint32_t)f->fdp);
    }
    st32_le(img + 24, f->mxcsr);
    st32_le(img + 28, MXCSR_MASK_SUPPORTED);
    for (unsigned i = 0; i < 8; i++) {
        memcpy(img + 32 + 16 * i, f->st[(f->top + i) & 7], 10);
    }
    memcpy(img + 160, f->xmm, 16 * fx_nr_xmm(cpu));
}

void fpu_fxrstor_image(CPU *cpu, const uint8_t *img, bool rexw)
{
    X86FpuState *f = &cpu->fpu;
    uint16_t fsw = ld16_le(img + 2);

    f->fcw = ld16_le(img + 0);
    f->top = (fsw >> FSW_TOP_SHIFT) & 7;
    f->fsw = fsw & ~(7u << FSW_TOP_SHIFT);
    f->ftw = img[4];
    f->fop = ld16_le(img + 6) & 0x7ff;
    f->fip = rexw ? ld64_le(img + 8) : ld32_le(img + 8);
    f->fdp = rexw ? ld64_le(img + 16) : ld32_le(img + 16);
    f->mxcsr = ld32_le(img + 24);
    for (unsigned i = 0; i < 8; i++) {
        uint8_t *st = f->st[(f->top + i) & 7];
        memcpy(st, img + 32 + 16 * i, 10);
        memset(st + 10, 0, 6);
    }
    memcpy(f->xmm, img + 160, 16 * fx_nr_xmm(cpu));
}

/* FXSAVE/FXRSTOR: #NM on CR0.TS or CR0.EM, #GP(0) if not 16-byte aligned. */
static uint64_t fx_check(CPU *cpu, const Insn *i, int access)
{
    if (cpu->s.cr0 & (FPU_CR0_TS | FPU_CR0_EM)) {
        x86_raise(cpu, EXC_NM, 0);
    }
    return fpu_la(cpu, i, 16, access, true);
}

static void fxsave(CPU *cpu, const Insn *i)
{
    uint8_t img[512];
    uint64_t la = fx_check(cpu, i, ACC_WRITE);
    unsigned len = 160 + 16 * fx_nr_xmm(cpu);

    fpu_fxsave_image(cpu, img, i->rex & 8);
    /* Probe the last byte first: the area's two ends decide faults in
       practice (it spans at most two pages). */
    mem_write8(cpu, la + len - 1, img[len - 1]);
    for (unsigned k = 0; k < len; k += 8) {
        uint64_t v;
        memcpy(&v, img + k, 8);
        mem_write64(cpu, la + k, v);
    }
}

static void fxrstor(CPU *cpu, const Insn *i)
{
    uint8_t img[512];
    uint64_t la = fx_check(cpu, i, ACC_READ);
    unsigned len = 160 + 16 * fx_nr_xmm(cpu);

    for (unsigned k = 0; k < len; k += 8) {
        uint64_t v = mem_read64(cpu, la + k);
        memcpy(img + k, &v, 8);
    }
    if (ld32_le(img + 24) & ~MXCSR_MASK_SUPPORTED) {
        x86_raise_gp0(cpu);
    }
    fpu_fxrstor_image(cpu, img, i->rex & 8);
}

void fpu_group15(CPU *cpu, const Insn *i)
{
    unsigned sel = (i->modrm >> 3) & 7;

    if (i->lock) {
        x86_raise_ud(cpu);
    }
    if (i->mod == 3) {
        /* F3-prefixed forms are RD/WR FS/GS BASE: not advertised. */
        if (i->rep) {
            x86_raise_ud(cpu);
        }
        switch (sel) {
        case 5: __asm__ volatile("lfence" ::: "memory"); return;
        case 6: __asm__ volatile("mfence" ::: "memory"); return;
        case 7: __asm__ volatile("sfence" ::: "memory"); return;
        default: x86_raise_ud(cpu);
        }
    }
    switch (sel) {
    case 0:
        fxsave(cpu, i);
        return;
    case 1:
        fxrstor(cpu, i);
        return;
    case 2: {
        uint32_t v;
        sse_check(cpu, i);
        v = mem_read32(cpu, fpu_la(cpu, i, 4, ACC_READ, false));
        if (v & ~MXCSR_MASK_SUPPORTED) {
            x86_raise_gp0(cpu);
        }
        cpu->fpu.mxcsr = v;
        return;
    }
    case 3:
        sse_check(cpu, i);
        mem_write32(cpu, fpu_la(cpu, i, 4, ACC_WRITE, false), cpu->fpu.mxcsr);
        return;
    case 7:
        /* CLFLUSH (CLFLUSHOPT with 66): caches are coherent here; only the
           segment checks remain. */
        fpu_la(cpu, i, 1, ACC_READ, false);
        return;
    default:
        /* XSAVE, XRSTOR, XSAVEOPT: XSAVE is not advertised. */
        x86_raise_ud(cpu);
    }
}

/*
 * RESET state (SDM vol. 3, table 9-1): FCW 0040h, FSW 0, every register
 * +0.0 and tagged valid, MXCSR 1F80h, XMM registers zero.
 */
void fpu_reset(CPU *cpu)
{
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    cpu->fpu.fcw = 0x0040;
    cpu->fpu.ftw = 0xff;
    cpu->fpu.mxcsr = MXCSR_RESET;
}
