/*
 * The execution loop and the decoded-instruction cache.
 *
 * Traces: up to TRACE_MAX instructions decoded from one physical page,
 * ending at the first unconditional branch or state-changing instruction
 * (see x86_insn_ends_trace), keyed by the physical address of their first
 * byte and the decoding mode. Conditional jumps do not end a trace: it
 * goes on with the fall-through path, and a taken jump leaves it early
 * (TRACE_SIDE_EXIT), still linking its target as a successor. Each trace
 * links the traces that ran after it; otherwise a per-vCPU jump cache by
 * linear address, then a hash table by physical address finds them.
 * Links and jump-cache slots are checked without the TLB (see exec_key).
 * Their storage is a bump arena flushed whole when full.
 *
 * An instruction that straddles a page boundary gets a trace of its own,
 * keyed and validated by its first page like any other; its handler checks
 * the second page (the physical page the next linear page maps to now, and
 * that page's word) before running the decoded copy, and retires the trace
 * when either changed. Kernel code has such instructions on hot paths, and
 * decoding them on every run cost more than the rest of their trace.
 * Instructions fetched from MMIO are decoded on every run.
 *
 * In 64-bit mode a flag-setting ALU instruction and the Jcc after it
 * become one decoded instruction (fuse_jcc), so does a run of PUSH or of
 * POP of registers (stack_run_add), and NOPs get none (the next
 * instruction's Insn.off skips them): kernel code has such a pair every
 * few instructions, runs in every prologue and epilogue and a NOP at most
 * function entries, and each dispatch costs more than the work of either.
 * Insn.cum counts guest instructions, so retired counts stay exact but
 * for NOPs before a faulting instruction.
 *
 * Self-modifying code: every physical page has a 32-bit word, bit 0 "has
 * decoded code", bits 1..31 a generation. Decoding sets bit 0 (an atomic
 * OR, before reading the bytes); a trace remembers the word it saw and is
 * valid while the word is unchanged. code_invalidate_page() (called by the
 * MMU for every write to a page with bit 0 set, which the MMU keeps out of
 * the write TLB, and by anyone else writing guest code) adds 1: bit 0
 * clears and the generation moves, so every vCPU sees its traces of that
 * page as stale at its next lookup. When a page gains code (bit 0 goes
 * from 0 to 1) a global epoch moves; every vCPU then drops the write-TLB
 * entries of code pages from its own TLB before its next trace, so writes
 * through entries filled earlier reach the slow path too.
 * A write by the running trace to its own page stops the trace after that
 * instruction (TRACE_ABORT), so the next instruction is decoded afresh.
 * The machine argument is unused: there is one machine per process, and
 * the page table is indexed by physical address.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include "accel/accel.h"
#include "kemu/log.h"
#include "core.h"

#define TRACE_MAX 32
#define LOOP_SPINS 64        /* back-to-back runs of a self-looping trace */
#define HASH_BITS 16
#define JC_BITS 12           /* jump cache: recent traces by linear address */
#define ARENA_SIZE (32u << 20)

/* Physical page words: chunks of 1 GiB, 16 TiB of physical space. */
#define PHYS_BITS 44
#define CHUNK_SHIFT 30
#define CHUNK_PAGES (1u << (CHUNK_SHIFT - 12))
#define NR_CHUNKS (1u << (PHYS_BITS - CHUNK_SHIFT))

static uint32_t *page_chunks[NR_CHUNKS];
static uint32_t code_epoch;
/* Moves whenever some page's code changes (code_invalidate_page): a link
   made under the current value needs no check of its target's page word,
   a cache miss more often than not on the path from trace to trace.
   Links keep its low INVAL_BITS; when those wrap, code_epoch moves too,
   and every vCPU drops its links before it runs on (exec_loop). */
#define INVAL_BITS 29
static uint32_t inval_epoch;

typedef struct Trace {
    /* The traces that ran after this one, by linear address: checked
       before the hash table. A link holds while the vCPU's exec_key (TLB
       generation, privilege class, mode, code-change epoch) is the one
       it was made under: no TLB access, no page word. */
    uint64_t succ_la[2];
    uint64_t succ_key[2];
    struct Trace *succ[2];
    uint32_t *genp;       /* the page's word */
    uint32_t gen;         /* its value when decoded */
    uint8_t mode;
    uint8_t n;            /* decoded instructions (a fused pair is one) */
    uint16_t ninsn;       /* guest instructions (see Insn.cum) */
    uint8_t succ_rr;      /* which successor slot to replace next */
    uint64_t paddr;
    struct Trace *next;   /* hash chain */
    /* A page-straddling instruction (h_straddle in insn[0], the decoded
       copy in insn[1]): the second page and its word when decoded. */
    uint64_t paddr2;
    uint32_t *genp2;
    uint32_t gen2;
    Insn insn[];
} Trace;

/* A jump-cache slot: valid under the same rules as a successor link. */
typedef struct JumpCache {
    uint64_t la;
    uint64_t key;
    Trace *t;
} JumpCache;

struct CodeCache {
    Trace *hash[1u << HASH_BITS];
    JumpCache jc[1u << JC_BITS];
    uint8_t *arena;
    size_t arena_used;
    uint64_t flushes;     /* arena flushes: successor links die with them */
    uint32_t epoch;       /* code_epoch this vCPU's write TLB is synced to */
    uint32_t inval_wraps; /* inval_epoch >> INVAL_BITS its links were made under */

    /* The running trace (fault accounting, self-modification abort). */
    const Trace *cur;
    uint64_t cur_rip;
    uint64_t cur_ppn;
    int atomic_held;

    uint64_t retired, budget;
    Insn tmp;             /* an uncached instruction (page straddle, MMIO) */
};

/* The vCPU this thread runs (to abort its running trace). */
static __thread CPU *tls_cpu;

/* ---------------------------------------------------- page words */

static uint32_t *page_word(uint64_t paddr, bool create)
{
    uint64_t chunk = paddr >> CHUNK_SHIFT;
    uint32_t *c;

    if (chunk >= NR_CHUNKS) {
        return NULL;
    }
    c = __atomic_load_n(&page_chunks[chunk], __ATOMIC_ACQUIRE);
    if (!c && create) {
        uint32_t *fresh = calloc(CHUNK_PAGES, sizeof(uint32_t));
        if (!fresh) {
            return NULL;
        }
        if (__atomic_compare_exchange_n(&page_chunks[chunk], &c, fresh, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            c = fresh;
        } else {
            free(fresh);
        }
    }
    return c ? &c[(paddr >> 12) & (CHUNK_PAGES - 1)] : NULL;
}

bool code_page_has_code(Machine *m, uint64_t paddr)
{
    uint32_t *w = page_word(paddr, false);

    (void)m;
    return w && (__atomic_load_n(w, __ATOMIC_ACQUIRE) & 1);
}

void code_invalidate_page(Machine *m, uint64_t paddr)
{
    uint32_t *w = page_word(paddr, false);
    uint32_t v;

    (void)m;
    if (!w) {
        return;
    }
    v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    while (v & 1) {
        if (__atomic_compare_exchange_n(w, &v, v + 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_ACQUIRE)) {
            if (!((__atomic_add_fetch(&inval_epoch, 1, __ATOMIC_SEQ_CST)) &
                  ((1u << INVAL_BITS) - 1))) {
                __atomic_fetch_add(&code_epoch, 1, __ATOMIC_SEQ_CST);
            }
            break;
        }
    }
    if (tls_cpu && tls_cpu->code->cur && tls_cpu->code->cur_ppn == paddr >> 12) {
        tls_cpu->trace_stop |= TRACE_ABORT;
    }
}

/* Drop write permission from TLB entries of pages that now hold code. */
static void sync_write_tlb(CPU *cpu)
{
    for (unsigned k = 0; k < 2; k++) {
        for (unsigned n = 0; n < TLB_SIZE; n++) {
            TlbEntry *e = &cpu->tlb[k][n];
            if (e->tag_w != ~0ull && code_page_has_code(cpu->m, cpu->tlb_phys[k][n].paddr)) {
                e->tag_w = ~0ull;
            }
        }
    }
}

/* ---------------------------------------------------- cache */

CodeCache *code_cache_new(void)
{
    CodeCache *c = calloc(1, sizeof(*c));

    if (!c) {
        return NULL;
    }
    c->arena = malloc(ARENA_SIZE);
    if (!c->arena) {
        free(c);
        return NULL;
    }
    return c;
}

void code_cache_free(CodeCache *c)
{
    if (c) {
        free(c->arena);
        free(c);
    }
}

/* Drop every trace and link. */
static void cache_flush(CodeCache *cc)
{
    memset(cc->hash, 0, sizeof(cc->hash));
    memset(cc->jc, 0, sizeof(cc->jc));
    cc->arena_used = 0;
    cc->flushes++;
}

static unsigned hash_paddr(uint64_t paddr)
{
    return (unsigned)((paddr * 0x9e3779b97f4a7c15ull) >> (64 - HASH_BITS));
}

void core_atomic_lock(CPU *cpu)
{
    x86_atomic_lock();
    if (cpu->code) {
        cpu->code->atomic_held = 1;
    }
}

void core_atomic_unlock(CPU *cpu)
{
    if (cpu->code) {
        cpu->code->atomic_held = 0;
    }
    x86_atomic_unlock();
}

static unsigned cpu_mode(const CPU *cpu)
{
    return cpu->code64 ? 2 : cpu->code32;
}

/*
 * Decode an instruction whose bytes start at linear @la (first @avail of
 * them at @host, NULL if the page is not RAM) into @out, fetching from the
 * next page as needed.
 */
static void decode_uncached(CPU *cpu, uint64_t la, const uint8_t *host, unsigned avail,
                            Insn *out)
{
    uint8_t buf[16];
    unsigned have = avail < 15 ? avail : 15;

    if (host) {
        memcpy(buf, host, have);
    } else {
        for (unsigned k = 0; k < have; k++) {
            buf[k] = mem_read8(cpu, la + k);
        }
    }
    if (x86_decode(buf, have, cpu->code64, cpu->code32, out)) {
        return;
    }
    /* It continues on the next page: that fetch may fault (#PF there). */
    {
        uint64_t la2 = la + have, pa2;
        unsigned avail2;
        const uint8_t *h2 = mmu_fetch(cpu, la2, &pa2, &avail2);
        unsigned more = 15 - have;
        if (h2) {
            memcpy(buf + have, h2, more < avail2 ? more : avail2);
            more = more < avail2 ? more : avail2;
        } else {
            for (unsigned k = 0; k < more; k++) {
                buf[have + k] = mem_read8(cpu, la2 + k);
            }
        }
        if (!x86_decode(buf, have + more, cpu->code64, cpu->code32, out)) {
            /* Cannot happen with 15 bytes; be safe: #GP for length. */
            memset(out, 0, sizeof(*out));
            out->fn = h_gp0;
            out->len = 15;
        }
    }
}

/* Decode the instruction at linear @la into @out, bypassing the cache.
   Faults (fetch) unwind. */
static void decode_fresh(CPU *cpu, uint64_t la, Insn *out)
{
    uint64_t paddr;
    unsigned avail;
    const uint8_t *host = mmu_fetch(cpu, la, &paddr, &avail);

    decode_uncached(cpu, la, host, host ? avail : 0x1000 - (la & 0xfff), out);
}

/*
 * Set a page's "has decoded code" bit before its bytes are read; the first
 * time, every vCPU drops its write-TLB entries of the page (other vCPUs at
 * their next trace; this one now, as the trace it is about to run may
 * write to its own page). Returns the word as a trace must see it.
 */
static uint32_t page_mark_code(CPU *cpu, uint32_t *genp)
{
    uint32_t old = __atomic_fetch_or(genp, 1, __ATOMIC_SEQ_CST);

    if (!(old & 1)) {
        __atomic_fetch_add(&code_epoch, 1, __ATOMIC_SEQ_CST);
        sync_write_tlb(cpu);
    }
    return old | 1;
}

/*
 * Run a page-straddling instruction (insn[0] of its own trace): the
 * decoded copy if the next linear page still maps the physical page it
 * was decoded from and that page's code is unchanged; otherwise retire the
 * trace (gen 0 never matches a page word, whose bit 0 is set) and run the
 * instruction decoded afresh.
 */
static void h_straddle(CPU *cpu, const Insn *i)
{
    Trace *t = (Trace *)(void *)((char *)i - offsetof(Trace, insn));
    CodeCache *cc = cpu->code;
    uint64_t la = x86_linear(cpu, SEG_CS, cpu->s.rip, 1, ACC_EXEC);
    uint64_t la2 = (la | 0xfff) + 1, pa, pa2;
    TlbEntry *e = tlb_entry(cpu, la2);
    const uint8_t *host;
    unsigned avail;

    if (e->tag_x == la2) {
        pa2 = tlb_phys(cpu, e)->paddr;
    } else if (!mmu_fetch(cpu, la2, &pa2, &avail)) {
        pa2 = ~0ull;
    }
    if (likely(pa2 == t->paddr2 && __atomic_load_n(t->genp2, __ATOMIC_RELAXED) == t->gen2)) {
        t->insn[1].fn(cpu, &t->insn[1]);
        return;
    }
    t->gen = 0;
    host = mmu_fetch(cpu, la, &pa, &avail);
    decode_uncached(cpu, la, host, 0x1000 - (la & 0xfff), &cc->tmp);
    cpu->next_rip = cpu->s.rip + cc->tmp.len;
    cc->tmp.fn(cpu, &cc->tmp);
}

/*
 * Make @t the trace of the instruction at @la that continues past the end
 * of its page (@avail bytes at @host). Fetching the rest may fault (#PF on
 * the next page, as the CPU's fetch would). False if the next page is not
 * RAM: the caller decodes it afresh on every run.
 */
static bool straddle_build(CPU *cpu, Trace *t, uint64_t la, const uint8_t *host, unsigned avail)
{
    uint8_t buf[15];
    uint64_t pa2;
    unsigned avail2;
    const uint8_t *h2;

    if (avail >= sizeof(buf)) {
        return false;     /* not a straddle: the decoder refused 15 bytes */
    }
    h2 = mmu_fetch(cpu, la + avail, &pa2, &avail2);
    if (!h2 || !(t->genp2 = page_word(pa2, true))) {
        return false;
    }
    t->gen2 = page_mark_code(cpu, t->genp2);
    t->paddr2 = pa2;
    memcpy(buf, host, avail);
    memcpy(buf + avail, h2, sizeof(buf) - avail);
    if (!x86_decode(buf, sizeof(buf), cpu->code64, cpu->code32, &t->insn[1])) {
        return false;
    }
    t->insn[0] = t->insn[1];
    t->insn[0].fn = h_straddle;
    return true;
}

/*
 * Fold @j into @i when @j is a Jcc and @i sets the flags it tests in a
 * form that fuses (jcc_fused_fn): one dispatch instead of two, and the
 * condition computed from the flags while they are in host registers.
 * 64-bit mode only. A fault in @i reports @i's address, as before; the
 * fused Jcc never faults (a non-canonical target faults at its fetch, as
 * h_jcc's does).
 */
static bool fuse_jcc(const CPU *cpu, Insn *i, const Insn *j)
{
    InsnFn fused;

    if (!cpu->code64 || i->jcc || j->fn != jcc_tab[j->opcode & 15] || j->opsize != 8 ||
        !(fused = jcc_fused_fn(i->fn))) {
        return false;
    }
    i->fn = fused;
    i->jcc = (uint8_t)(j->len << 4 | (j->opcode & 15));
    i->imm2 = j->imm;
    i->len += j->len;
    /* RIP-relative operands count from CPU.next_rip, now past the Jcc. */
    if (i->rip_rel) {
        i->disp -= j->len;
    }
    return true;
}

/*
 * Append @j, a PUSH or POP of a register in 64-bit mode, to the run of
 * the same kind that @i is or starts (see h_push_run64).
 */
static bool stack_run_add(const CPU *cpu, Insn *i, const Insn *j)
{
    InsnFn run = j->fn == h_push_reg64 ? h_push_run64 : j->fn == h_pop_reg64 ? h_pop_run64 : NULL;

    if (!run || !cpu->code64 || j->reg == R_ESP) {
        return false;
    }
    if (i->fn == j->fn && i->reg != R_ESP) {
        i->fn = run;
        i->imm = i->reg | (uint64_t)i->len << 4;
        i->imm2 = 1;
    } else if (i->fn != run || i->imm2 == STACK_RUN_MAX) {
        return false;
    }
    i->imm |= (uint64_t)(j->reg | j->len << 4) << (8 * i->imm2);
    i->imm2++;
    i->len += j->len;
    return true;
}

static Trace *trace_build(CPU *cpu, CodeCache *cc, uint64_t la, uint64_t paddr,
                          const uint8_t *host, unsigned avail, unsigned mode, unsigned bucket)
{
    uint32_t *genp = page_word(paddr, true);
    size_t need = sizeof(Trace) + TRACE_MAX * sizeof(Insn);
    unsigned off = 0, n = 0, ninsn = 0, used;
    unsigned nops = 0, nop_off = 0, nop_len = 0;    /* NOPs since the last Insn */
    uint32_t gen;
    Trace *t;

    if (!genp) {
        return NULL;
    }
    if (cc->arena_used + need > ARENA_SIZE) {
        cache_flush(cc);
    }
    gen = page_mark_code(cpu, genp);
    t = (Trace *)(cc->arena + cc->arena_used);
    while (n < TRACE_MAX && off < avail) {
        Insn *i = &t->insn[n];
        unsigned len = x86_decode(host + off, avail - off, cpu->code64, cpu->code32, i);
        if (!len) {
            break;
        }
        if (i->fn == h_nop) {
            if (!nops++) {
                nop_off = off;
                nop_len = len;
            }
            off += len;
            continue;
        }
        if (n && !nops && (fuse_jcc(cpu, &t->insn[n - 1], i) ||
                           stack_run_add(cpu, &t->insn[n - 1], i))) {
            off += len;
            ninsn++;
            continue;
        }
        i->off = (uint16_t)off;
        i->cum = (uint16_t)ninsn;
        ninsn += nops + 1;
        nops = 0;
        off += len;
        n++;
        if (x86_insn_ends_trace(i)) {
            break;
        }
    }
    if (nops) {
        /* NOPs at the page's end or before a straddling instruction: the
           first runs here, and the rest start the next trace. */
        Insn *i = &t->insn[n++];
        x86_decode(host + nop_off, nop_len, cpu->code64, cpu->code32, i);
        i->off = (uint16_t)nop_off;
        i->cum = (uint16_t)ninsn++;
    }
    used = n;
    if (!n) {
        if (!straddle_build(cpu, t, la, host, avail)) {
            return NULL;
        }
        n = 1;
        ninsn = 1;
        used = 2;
    }
    t->paddr = paddr;
    t->genp = genp;
    t->gen = gen;
    t->mode = mode;
    t->n = n;
    t->ninsn = ninsn;
    t->succ_rr = 0;
    t->succ_la[0] = t->succ_la[1] = ~0ull;
    t->succ_key[0] = t->succ_key[1] = ~0ull;
    t->succ[0] = t->succ[1] = t;     /* a harmless prefetch target */
    t->next = cc->hash[bucket];
    cc->hash[bucket] = t;
    /* Keep Insn alignment for the next trace. */
    cc->arena_used += (sizeof(Trace) + used * sizeof(Insn) + 15) & ~(size_t)15;
    return t;
}

/*
 * What a successor link depends on besides the code bytes: the linear to
 * physical mapping and execute permission (valid until the TLB generation
 * moves: every flush and INVLPG moves it; a translation dropped only by a
 * TLB slot conflict may still be used, as a hardware TLB may), the
 * privilege class that permission was checked for, the decoding mode, and
 * that no page's code changed since (inval_epoch; the target's own page
 * word is checked only when some page's did).
 */
static inline uint64_t exec_key(const CPU *cpu)
{
    uint64_t inval = __atomic_load_n(&inval_epoch, __ATOMIC_ACQUIRE) & ((1u << INVAL_BITS) - 1);

    return (inval << 35) | ((uint64_t)cpu->tlb_gen << 3) | ((uint64_t)(cpu->cpl == 3) << 2) |
           cpu_mode(cpu);
}

/*
 * The trace at linear @la (CS:rIP), or NULL with cc->tmp holding an
 * uncached instruction; records it as a successor of @prev (in @slot, or
 * the next round-robin slot if -1). Faults (fetch) unwind.
 */
static __attribute__((noinline)) Trace *trace_lookup(CPU *cpu, CodeCache *cc, Trace *prev,
                                                    uint64_t la, int slot)
{
    TlbEntry *e;
    const uint8_t *host;
    uint64_t paddr, flushes = cc->flushes, key = exec_key(cpu);
    unsigned avail, mode = cpu_mode(cpu), bucket;
    JumpCache *j = &cc->jc[(la * 0x9e3779b97f4a7c15ull) >> (64 - JC_BITS)];
    Trace **pp, *t;

    if (j->la == la && j->key == key && j->t) {
        t = j->t;
        goto found;
    }
    e = tlb_entry(cpu, la);
    if (likely(e->tag_x == (la & ~0xfffull))) {
        host = (const uint8_t *)(uintptr_t)(la + e->addend);
        paddr = tlb_phys(cpu, e)->paddr | (la & 0xfff);
        avail = 0x1000 - (la & 0xfff);
    } else {
        host = mmu_fetch(cpu, la, &paddr, &avail);
        if (!host) {
            decode_uncached(cpu, la, NULL, 0x1000 - (la & 0xfff), &cc->tmp);
            return NULL;
        }
    }
    bucket = hash_paddr(paddr);
    for (pp = &cc->hash[bucket]; (t = *pp) != NULL; pp = &t->next) {
        if (t->paddr == paddr && t->mode == mode) {
            if (likely(__atomic_load_n(t->genp, __ATOMIC_RELAXED) == t->gen)) {
                goto hashed;
            }
            *pp = t->next;     /* stale: unlink, rebuild below */
            break;
        }
    }
    t = trace_build(cpu, cc, la, paddr, host, avail, mode, bucket);
    if (!t) {
        decode_uncached(cpu, la, host, avail, &cc->tmp);
        return NULL;
    }
hashed:
    j->la = la;
    j->key = key;
    j->t = t;
found:
    if (prev && flushes == cc->flushes) {
        if (slot < 0) {
            slot = prev->succ_rr;
            prev->succ_rr ^= 1;
        }
        prev->succ_la[slot] = la;
        prev->succ_key[slot] = key;
        prev->succ[slot] = t;
    }
    return t;
}

/* The common case inline: a successor link of @prev that still holds. */
static inline Trace *trace_get(CPU *cpu, CodeCache *cc, Trace *prev)
{
    uint64_t la = x86_linear(cpu, SEG_CS, cpu->s.rip, 1, ACC_EXEC);
    int slot = -1;

    if (prev) {
        for (unsigned k = 0; k < 2; k++) {
            if (prev->succ_la[k] == la) {
                if (likely(prev->succ_key[k] == exec_key(cpu))) {
                    return prev->succ[k];
                }
                slot = (int)k;     /* stale link: replace it */
                break;
            }
        }
    }
    return trace_lookup(cpu, cc, prev, la, slot);
}

/* ---------------------------------------------------- the loop */

/* Guest instructions from @t's Insn @k to the next (see Insn.cum). */
static unsigned insn_weight(const Trace *t, unsigned k)
{
    return (k + 1 < t->n ? t->insn[k + 1].cum : t->ninsn) - t->insn[k].cum;
}

static bool irq_pending(const CPU *cpu)
{
    unsigned req = atomic_load_explicit(&cpu->vcpu->irq_request, memory_order_relaxed);

    if (likely(!req)) {
        return false;
    }
    if (req & (VCPU_IRQ_INIT | VCPU_IRQ_SIPI)) {
        return true;
    }
    if ((req & VCPU_IRQ_NMI) && !cpu->nmi_blocked) {
        return true;
    }
    return (req & VCPU_IRQ_HARD) && (cpu->s.rflags & FLAG_IF);
}

static void run_one(CPU *cpu, const Insn *i)
{
    cpu->next_rip = cpu->s.rip + i->len;
    i->fn(cpu, i);
    cpu->s.rip = cpu->next_rip;
}

/*
 * One instruction with the single-step, resume-flag and interrupt-shadow
 * rules: the shadow lasts exactly one instruction, RF suppresses
 * breakpoints for one instruction (then clears unless the instruction
 * loaded it), TF traps (#DB, DR6.BS) after the instruction completes.
 */
static void exec_single(CPU *cpu, CodeCache *cc)
{
    uint64_t fl = cpu->s.rflags;
    const Trace *t;
    const Insn *i;
    uint8_t op;

    cpu->intr_shadow = 0;
    t = trace_get(cpu, cc, NULL);
    i = t ? &t->insn[0] : &cc->tmp;
    if (t && (i->off || insn_weight(t, 0) != 1)) {
        /* Fused pairs and runs are several instructions, and NOPs have no
           Insn: step the instruction at rIP alone. */
        decode_fresh(cpu, x86_linear(cpu, SEG_CS, cpu->s.rip, 1, ACC_EXEC), &cc->tmp);
        i = &cc->tmp;
    }
    op = i->opcode & 0xff;
    run_one(cpu, i);
    cc->retired++;
    if ((fl & FLAG_RF) && !(i->opcode == 0xcf || i->opcode == 0x9d)) {
        cpu->s.rflags &= ~(uint64_t)FLAG_RF;
    }
    if ((fl & FLAG_TF) && !(i->opcode <= 0xff && (op == 0xcc || op == 0xcd || op == 0xce || op == 0xf1))) {
        cpu->s.dr[6] |= 1u << 14;
        x86_deliver(cpu, EXC_DB, EVT_EXCEPTION, false, 0);
    }
}

/* Out of line from x86_exec: a function that calls setjmp keeps its
   locals in memory, which would cost a reload of cpu per instruction. */
static __attribute__((noinline)) void exec_loop(CPU *cpu, CodeCache *cc)
{
    Trace *prev = NULL;

    for (;;) {
        Trace *t;
        const Insn *i, *end;

        if (cc->retired >= cc->budget || cpu->halted ||
            atomic_load_explicit(&cpu->vcpu->stop, memory_order_relaxed)) {
            return;
        }
        if (unlikely(cc->epoch != __atomic_load_n(&code_epoch, __ATOMIC_ACQUIRE))) {
            cc->epoch = __atomic_load_n(&code_epoch, __ATOMIC_ACQUIRE);
            sync_write_tlb(cpu);
            if (cc->inval_wraps != __atomic_load_n(&inval_epoch, __ATOMIC_ACQUIRE) >> INVAL_BITS) {
                cc->inval_wraps = __atomic_load_n(&inval_epoch, __ATOMIC_ACQUIRE) >> INVAL_BITS;
                cache_flush(cc);
                prev = NULL;
            }
        }
        if (unlikely(cpu->intr_shadow || (cpu->s.rflags & (FLAG_TF | FLAG_RF)))) {
            exec_single(cpu, cc);
            prev = NULL;
            continue;
        }
        if (irq_pending(cpu)) {
            return;
        }
        t = trace_get(cpu, cc, prev);
        if (unlikely(!t)) {
            prev = NULL;
            run_one(cpu, &cc->tmp);
            cc->retired++;
            continue;
        }
        cc->cur = t;
        cc->cur_rip = cpu->s.rip;
        cc->cur_ppn = t->paddr >> 12;
        /* The likely next traces: their headers and first instructions
           are cold more often than not; fetch them while this one runs
           (a prefetch of a stale pointer is harmless; integer arithmetic
           for the second line, as the pointer may be anything). */
        __builtin_prefetch(t->succ[0]);
        __builtin_prefetch((const void *)((uintptr_t)t->succ[0] + 64));
        __builtin_prefetch(t->succ[1]);
        __builtin_prefetch((const void *)((uintptr_t)t->succ[1] + 64));
        for (unsigned spins = 0;;) {
            /* rIP is the trace's start plus Insn.off: CPU.rip and
               CPU.next_rip are only stored for the handlers, never loaded
               back inside the trace. Only an instruction that ends the
               trace or sets trace_stop (a taken Jcc) changes next_rip, so
               reloading it once after the loop is enough; loading it after
               every handler made each instruction wait for two
               store-to-load forwards. */
            uint64_t base = cpu->s.rip;

            i = t->insn;
            end = i + t->n;
            cpu->trace_stop = 0;
            do {
                uint64_t rip = base + i->off;
                cpu->s.rip = rip;
                cpu->next_rip = rip + i->len;
                i->fn(cpu, i);
            } while (++i < end && likely(!cpu->trace_stop));
            cpu->s.rip = cpu->next_rip;
            cc->retired += i < end ? i->cum : t->ninsn;
            /* A conditional jump back to the trace's start (a tight loop,
               e.g. the kernel's clear_user): run it again at once. Every
               instruction before a side exit is one that does not end a
               trace, so the mapping, mode and code are unchanged; the
               bound keeps interrupts and stop requests timely. */
            if (cpu->trace_stop != TRACE_SIDE_EXIT || cpu->s.rip != cc->cur_rip ||
                ++spins >= LOOP_SPINS) {
                break;
            }
        }
        prev = (cpu->trace_stop & TRACE_ABORT) ? NULL : t;
        cc->cur = NULL;
    }
}

/* An instruction faulted (x86_raise longjmp'd here): account, deliver. */
static void exec_fault(CPU *cpu, CodeCache *cc)
{
    int vector = cpu->exc_vector;

    if (cc->atomic_held) {
        cc->atomic_held = 0;
        x86_atomic_unlock();
    }
    if (cc->cur) {
        /* Instructions of the trace before the faulting one retired. */
        uint64_t at = cpu->s.rip - cc->cur_rip;
        unsigned k = 0;
        while (k < cc->cur->n &&
               !(at >= cc->cur->insn[k].off && at < cc->cur->insn[k].off + cc->cur->insn[k].len)) {
            k++;
        }
        if (k < cc->cur->n) {
            cc->retired += cc->cur->insn[k].cum;
        }
        cc->cur = NULL;
    }
    cpu->trace_stop = 0;
    cpu->intr_shadow = 0;
    cpu->exc_vector = -1;
    /* A negative vector: sys/ aborted the instruction without an event
       (e.g. after a triple fault); the loop's checks take over. */
    if (vector >= 0) {
        x86_deliver(cpu, vector, EVT_EXCEPTION, cpu->exc_has_error, cpu->exc_error);
    }
}

uint64_t x86_exec(CPU *cpu, uint64_t budget)
{
    CodeCache *cc = cpu->code;
    CPU *saved_tls = tls_cpu;
    jmp_buf jb, *saved_jmp = cpu->jmp;

    cc->retired = 0;
    cc->budget = budget;
    cpu->ea_zero = 0;
    tls_cpu = cpu;
    cpu->jmp = &jb;
    if (setjmp(jb)) {
        exec_fault(cpu, cc);
    }
    exec_loop(cpu, cc);
    cpu->icount += cc->retired;
    cpu->jmp = saved_jmp;
    tls_cpu = saved_tls;
    return cc->retired;
}

bool x86_decode_at(CPU *cpu, uint64_t la, Insn *out)
{
    jmp_buf jb, *saved = cpu->jmp;

    cpu->jmp = &jb;
    if (setjmp(jb)) {
        cpu->jmp = saved;
        cpu->exc_vector = -1;
        return false;
    }
    decode_fresh(cpu, la, out);
    cpu->jmp = saved;
    return true;
}
