/*
 * KVM accelerator: moving CPU state between X86CpuState and the kernel
 * (KVM_{GET,SET}_REGS, _SREGS, _DEBUGREGS), and the parts of RESET that
 * X86CpuState does not hold (FPU, MSRs, pending events).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm-int.h"
#include "kemu/error.h"
#include "kemu/log.h"

static void seg_from_kvm(X86Segment *d, const struct kvm_segment *s)
{
    *d = (X86Segment){
        .base = s->base, .limit = s->limit, .selector = s->selector,
        .type = s->type, .s = s->s, .dpl = s->dpl, .present = s->present,
        .db = s->db, .l = s->l, .g = s->g, .avl = s->avl,
        .unusable = s->unusable,
    };
}

static void seg_to_kvm(struct kvm_segment *d, const X86Segment *s)
{
    *d = (struct kvm_segment){
        .base = s->base, .limit = s->limit, .selector = s->selector,
        .type = s->type, .s = s->s, .dpl = s->dpl, .present = s->present,
        .db = s->db, .l = s->l, .g = s->g, .avl = s->avl,
        .unusable = s->unusable,
    };
}

/* X86CpuState's segment order (ES CS SS DS FS GS LDTR TR) in kvm_sregs. */
static struct kvm_segment *sreg_seg(struct kvm_sregs *sr, int i)
{
    struct kvm_segment *map[SEG_NR] = {
        &sr->es, &sr->cs, &sr->ss, &sr->ds, &sr->fs, &sr->gs, &sr->ldt, &sr->tr,
    };
    return map[i];
}

bool kvm_get_state(Vcpu *cpu, X86CpuState *s)
{
    KvmVcpu *v = cpu->accel;
    KvmState *ks = kvm_state(cpu->m);
    struct kvm_regs r;
    struct kvm_sregs sr;

    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
        ioctl(v->fd, KVM_GET_SREGS, &sr) < 0) {
        log_err("KVM_GET_REGS/SREGS (vCPU %u): %s", cpu->index,
                g_strerror(errno));
        return false;
    }
    memset(s, 0, sizeof(*s));
    uint64_t gpr[16] = {
        r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
    };
    memcpy(s->regs, gpr, sizeof(gpr));
    s->rip = r.rip;
    s->rflags = r.rflags;
    for (int i = 0; i < SEG_NR; i++) {
        seg_from_kvm(&s->seg[i], sreg_seg(&sr, i));
    }
    s->gdt = (X86Table){ .base = sr.gdt.base, .limit = sr.gdt.limit };
    s->idt = (X86Table){ .base = sr.idt.base, .limit = sr.idt.limit };
    s->cr0 = sr.cr0;
    s->cr2 = sr.cr2;
    s->cr3 = sr.cr3;
    s->cr4 = sr.cr4;
    s->cr8 = sr.cr8;
    s->efer = sr.efer;
    s->apic_base = sr.apic_base;
    if (ks->has_debugregs) {
        struct kvm_debugregs dr;
        if (ioctl(v->fd, KVM_GET_DEBUGREGS, &dr) == 0) {
            memcpy(s->dr, dr.db, sizeof(dr.db));
            s->dr[6] = dr.dr6;
            s->dr[7] = dr.dr7;
        }
    }
    return true;
}

bool kvm_set_state(Vcpu *cpu, const X86CpuState *s)
{
    KvmVcpu *v = cpu->accel;
    KvmState *ks = kvm_state(cpu->m);
    struct kvm_sregs sr;
    struct kvm_regs r = {
        .rax = s->regs[R_EAX], .rbx = s->regs[R_EBX], .rcx = s->regs[R_ECX],
        .rdx = s->regs[R_EDX], .rsi = s->regs[R_ESI], .rdi = s->regs[R_EDI],
        .rsp = s->regs[R_ESP], .rbp = s->regs[R_EBP],
        .r8 = s->regs[R_R8], .r9 = s->regs[R_R9], .r10 = s->regs[R_R10],
        .r11 = s->regs[R_R11], .r12 = s->regs[R_R12], .r13 = s->regs[R_R13],
        .r14 = s->regs[R_R14], .r15 = s->regs[R_R15],
        .rip = s->rip, .rflags = s->rflags,
    };

    /* Read first: interrupt_bitmap (an injected, undelivered interrupt)
     * is not ours to change. */
    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0) {
        log_err("KVM_GET_SREGS (vCPU %u): %s", cpu->index, g_strerror(errno));
        return false;
    }
    for (int i = 0; i < SEG_NR; i++) {
        seg_to_kvm(sreg_seg(&sr, i), &s->seg[i]);
    }
    sr.gdt = (struct kvm_dtable){ .base = s->gdt.base, .limit = s->gdt.limit };
    sr.idt = (struct kvm_dtable){ .base = s->idt.base, .limit = s->idt.limit };
    sr.cr0 = s->cr0;
    sr.cr2 = s->cr2;
    sr.cr3 = s->cr3;
    sr.cr4 = s->cr4;
    sr.cr8 = s->cr8;
    sr.efer = s->efer;
    sr.apic_base = s->apic_base;
    if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0) {
        log_err("KVM_SET_SREGS (vCPU %u): %s", cpu->index, g_strerror(errno));
        return false;
    }
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
        log_err("KVM_SET_REGS (vCPU %u): %s", cpu->index, g_strerror(errno));
        return false;
    }
    if (ks->has_debugregs) {
        struct kvm_debugregs dr = { .dr6 = s->dr[6], .dr7 = s->dr[7] };
        memcpy(dr.db, s->dr, sizeof(dr.db));
        if (ioctl(v->fd, KVM_SET_DEBUGREGS, &dr) < 0) {
            log_err("KVM_SET_DEBUGREGS (vCPU %u): %s", cpu->index,
                    g_strerror(errno));
            return false;
        }
    }
    return true;
}

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_CR_PAT 0x277
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define MSR_KVM_PV_EOI_EN 0x4b564d04

#define MISC_ENABLE_FAST_STRING 1u
#define PAT_RESET 0x0007040600070406ull

/* MSR values after RESET; written when KVM lists the MSR. */
static const struct { uint32_t index; uint64_t value; } reset_msrs[] = {
    { MSR_IA32_TSC, 0 },
    { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
    { MSR_IA32_CR_PAT, PAT_RESET },
    { MSR_IA32_SYSENTER_CS, 0 },
    { MSR_IA32_SYSENTER_ESP, 0 },
    { MSR_IA32_SYSENTER_EIP, 0 },
    { MSR_STAR, 0 },
    { MSR_LSTAR, 0 },
    { MSR_CSTAR, 0 },
    { MSR_SYSCALL_MASK, 0 },
    { MSR_KERNEL_GS_BASE, 0 },
    /* Paravirtual areas the old guest registered must not survive. */
    { MSR_KVM_SYSTEM_TIME_NEW, 0 },
    { MSR_KVM_ASYNC_PF_EN, 0 },
    { MSR_KVM_STEAL_TIME, 0 },
    { MSR_KVM_PV_EOI_EN, 0 },
};

static bool msr_listed(KvmState *ks, uint32_t index)
{
    for (unsigned i = 0; i < ks->nmsrs; i++) {
        if (ks->msrs[i] == index) {
            return true;
        }
    }
    return false;
}

static bool reset_msrs_write(Vcpu *cpu, GError **errp)
{
    KvmVcpu *v = cpu->accel;
    KvmState *ks = kvm_state(cpu->m);
    struct kvm_msrs *msrs = g_malloc0(sizeof(*msrs) + G_N_ELEMENTS(reset_msrs) *
                                      sizeof(struct kvm_msr_entry));
    unsigned n = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(reset_msrs); i++) {
        if (msr_listed(ks, reset_msrs[i].index)) {
            msrs->entries[n].index = reset_msrs[i].index;
            msrs->entries[n].data = reset_msrs[i].value;
            n++;
        }
    }
    msrs->nmsrs = n;
    /* KVM_SET_MSRS returns how many it set: it stops at the first refusal. */
    int done = ioctl(v->fd, KVM_SET_MSRS, msrs);
    bool ok = done == (int)n;
    if (done < 0) {
        error_setg(errp, "KVM_SET_MSRS (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
    } else if (!ok) {
        error_setg(errp, "KVM_SET_MSRS (vCPU %u): MSR 0x%x refused",
                   cpu->index, msrs->entries[done].index);
    }
    g_free(msrs);
    return ok;
}

bool kvm_reset_cpu_extras(Vcpu *cpu, GError **errp)
{
    KvmVcpu *v = cpu->accel;
    KvmState *ks = kvm_state(cpu->m);
    /* FNINIT state: control word 037F, all registers empty; MXCSR 1F80. */
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
        error_setg(errp, "KVM_SET_FPU (vCPU %u): %s", cpu->index,
                   g_strerror(errno));
        return false;
    }
    if (!reset_msrs_write(cpu, errp)) {
        return false;
    }
    if (ks->has_vcpu_events) {
        /* Drop pending exceptions, interrupts, NMIs and SIPIs. */
        struct kvm_vcpu_events ev = {
            .flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
                     KVM_VCPUEVENT_VALID_SIPI_VECTOR,
        };
        if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            error_setg(errp, "KVM_SET_VCPU_EVENTS (vCPU %u): %s", cpu->index,
                       g_strerror(errno));
            return false;
        }
    }
    return true;
}
