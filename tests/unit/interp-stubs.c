/*
 * Test-only stand-ins for the interpreter's sys/ and fpu/ parts, so the
 * core (decoder, loop, integer instructions) can be tested alone: flat
 * memory without paging, 64-bit flat segments, exceptions recorded
 * instead of delivered. Linked only into test-decode and
 * test-interp-diff, never into kemu.
 *
 * Memory: linear addresses inside [stub_mem, stub_mem + stub_mem_size)
 * are host addresses of that block (addend 0), so a pointer means the same
 * thing natively and in the guest; physical addresses are offsets into
 * the block. Anything else raises #PF.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "interp-stubs.h"

uint8_t *stub_mem;
uint64_t stub_mem_size;
int stub_last_vector = -1;
unsigned stub_io_count;

static bool in_mem(uint64_t la, unsigned size)
{
    uint64_t base = (uintptr_t)stub_mem;

    return la >= base && la - base + size <= stub_mem_size;
}

static void fill_tlb(CPU *cpu, uint64_t la)
{
    TlbEntry *e = tlb_entry(cpu, la);
    uint64_t page = la & ~0xfffull;
    uint64_t pa = page - (uintptr_t)stub_mem;

    e->tag_r = page;
    e->tag_x = page;
    e->tag_w = code_page_has_code(cpu->m, pa) ? ~0ull : page;
    e->addend = 0;
    tlb_phys(cpu, e)->paddr = pa;
}

static void check(CPU *cpu, uint64_t la, unsigned size, bool write)
{
    if (!in_mem(la, size)) {
        x86_raise_pf(cpu, la, write ? 2 : 0);
    }
}

uint64_t mmu_read_slow(CPU *cpu, uint64_t la, unsigned size)
{
    uint64_t v = 0;

    check(cpu, la, size, false);
    fill_tlb(cpu, la);
    memcpy(&v, (void *)(uintptr_t)la, size);
    return v;
}

void mmu_write_slow(CPU *cpu, uint64_t la, uint64_t val, unsigned size)
{
    uint64_t pa;

    check(cpu, la, size, true);
    fill_tlb(cpu, la);
    memcpy((void *)(uintptr_t)la, &val, size);
    /* Each page the write touched: drop decoded code. */
    pa = la - (uintptr_t)stub_mem;
    if (code_page_has_code(cpu->m, pa)) {
        code_invalidate_page(cpu->m, pa);
    }
    if (code_page_has_code(cpu->m, pa + size - 1)) {
        code_invalidate_page(cpu->m, pa + size - 1);
    }
}

const uint8_t *mmu_fetch(CPU *cpu, uint64_t la, uint64_t *paddr, unsigned *avail)
{
    check(cpu, la, 1, false);
    fill_tlb(cpu, la);
    *paddr = la - (uintptr_t)stub_mem;
    *avail = 0x1000 - (la & 0xfff);
    return (const uint8_t *)(uintptr_t)la;
}

void *mmu_rmw_ptr(CPU *cpu, uint64_t la, unsigned size)
{
    check(cpu, la, size, true);
    if ((la & 0xfff) + size > 0x1000 || code_page_has_code(cpu->m, la - (uintptr_t)stub_mem)) {
        return NULL;
    }
    return (void *)(uintptr_t)la;
}

void x86_atomic_lock(void) {}
void x86_atomic_unlock(void) {}

void mmu_flush(CPU *cpu, bool global)
{
    (void)global;
    cpu->tlb_gen++;
    memset(cpu->tlb, 0xff, sizeof(cpu->tlb));
}

void mmu_flush_page(CPU *cpu, uint64_t la)
{
    cpu->tlb_gen++;
    memset(tlb_entry(cpu, la), 0xff, sizeof(TlbEntry));
}

uint64_t x86_seg_slow(CPU *cpu, int seg, uint64_t off, unsigned size, int access)
{
    (void)size;
    (void)access;
    if (cpu->code64) {
        x86_raise_gp0(cpu);      /* non-canonical */
    }
    return (uint32_t)(cpu->s.seg[seg].base + off);
}

void x86_load_seg(CPU *cpu, int seg, uint16_t sel)
{
    cpu->s.seg[seg].selector = sel;
}

void x86_update_mode(CPU *cpu)
{
    (void)cpu;
}

_Noreturn void x86_raise(CPU *cpu, int vector, uint32_t error)
{
    cpu->exc_vector = vector;
    cpu->exc_error = error;
    cpu->exc_has_error = vector == EXC_GP || vector == EXC_PF;
    longjmp(*cpu->jmp, 1);
}

_Noreturn void x86_raise_pf(CPU *cpu, uint64_t la, uint32_t error)
{
    cpu->s.cr2 = la;
    x86_raise(cpu, EXC_PF, error);
}

/* Events end the run: the test looks at stub_last_vector. */
void x86_deliver(CPU *cpu, int vector, int kind, bool has_error, uint32_t error)
{
    (void)kind;
    (void)has_error;
    (void)error;
    stub_last_vector = vector;
    cpu->halted = 1;
}

static _Noreturn void unsupported(CPU *cpu)
{
    x86_raise_ud(cpu);
}

void x86_far_jmp(CPU *cpu, uint16_t sel, uint64_t off) { (void)sel; (void)off; unsupported(cpu); }
void x86_far_call_op(CPU *cpu, uint16_t sel, uint64_t off, unsigned opsize)
{
    (void)sel; (void)off; (void)opsize;
    unsupported(cpu);
}
void x86_far_ret(CPU *cpu, unsigned opsize, uint16_t pop_bytes)
{
    (void)opsize; (void)pop_bytes;
    unsupported(cpu);
}
void x86_iret(CPU *cpu, unsigned opsize) { (void)opsize; unsupported(cpu); }
void x86_syscall(CPU *cpu) { unsupported(cpu); }
void x86_sysret(CPU *cpu, unsigned opsize) { (void)opsize; unsupported(cpu); }
void x86_sysenter(CPU *cpu) { unsupported(cpu); }
void x86_sysexit(CPU *cpu, unsigned opsize) { (void)opsize; unsupported(cpu); }
void x86_group6(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void x86_group7(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void x86_lar_lsl(CPU *cpu, const Insn *i, bool lsl) { (void)i; (void)lsl; unsupported(cpu); }
void x86_mov_cr(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void x86_mov_dr(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void x86_clts(CPU *cpu) { unsupported(cpu); }
void x86_rdmsr(CPU *cpu) { unsupported(cpu); }
void x86_wrmsr(CPU *cpu) { unsupported(cpu); }
void x86_rdtsc(CPU *cpu) { unsupported(cpu); }
void x86_rdpmc(CPU *cpu) { unsupported(cpu); }
void x86_cpuid(CPU *cpu) { unsupported(cpu); }
void x86_invd_wbinvd(CPU *cpu) { unsupported(cpu); }

void x86_hlt(CPU *cpu)
{
    cpu->halted = 1;
}

void x86_cli(CPU *cpu)
{
    cpu->s.rflags &= ~(uint64_t)FLAG_IF;
}

void x86_sti(CPU *cpu)
{
    cpu->s.rflags |= FLAG_IF;
    cpu->intr_shadow = 1;
}

void x86_popf(CPU *cpu, uint64_t val, unsigned opsize)
{
    uint64_t mask = FLAGS_ARITH | FLAG_DF | FLAG_TF | FLAG_OF;

    if (opsize == 2) {
        mask &= 0xffff;
    }
    x86_set_rflags(cpu, val, mask);
}

uint32_t x86_in(CPU *cpu, uint16_t port, unsigned size)
{
    (void)cpu;
    stub_io_count++;
    return (uint32_t)((port * 0x01010101u) & (size == 4 ? ~0u : (1u << (size * 8)) - 1));
}

void x86_out(CPU *cpu, uint16_t port, uint32_t val, unsigned size)
{
    (void)cpu; (void)port; (void)val; (void)size;
    stub_io_count++;
}

/* fpu/: no SSE or x87 handlers, but the real immediate map for lengths. */
InsnFn fpu_sse_handler(unsigned map, uint8_t opcode, uint8_t prefix)
{
    (void)map; (void)opcode; (void)prefix;
    return NULL;
}

bool fpu_sse_has_imm8(unsigned map, uint8_t opcode, uint8_t prefix)
{
    (void)prefix;
    if (map == 3) {
        return true;
    }
    return map == 1 && ((opcode >= 0x70 && opcode <= 0x73) || opcode == 0xc2 ||
                        (opcode >= 0xc4 && opcode <= 0xc6));
}

void fpu_x87(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void fpu_group15(CPU *cpu, const Insn *i) { (void)i; unsupported(cpu); }
void fpu_fwait(CPU *cpu, const Insn *i) { (void)cpu; (void)i; }
void fpu_reset(CPU *cpu) { (void)cpu; }

CPU *stub_cpu_new(void)
{
    CPU *cpu = calloc(1, sizeof(*cpu));
    Vcpu *v = calloc(1, sizeof(*v));

    cpu->vcpu = v;
    cpu->code = code_cache_new();
    cpu->code64 = 1;
    cpu->code32 = 0;
    cpu->stack32 = 1;
    cpu->flat = 1;
    cpu->exc_vector = -1;
    memset(cpu->tlb, 0xff, sizeof(cpu->tlb));
    x86_set_rflags(cpu, 2, ~0ull);
    return cpu;
}

void stub_cpu_free(CPU *cpu)
{
    code_cache_free(cpu->code);
    free(cpu->vcpu);
    free(cpu);
}
