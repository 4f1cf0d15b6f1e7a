/*
 * x86 instruction decoder: prefixes, opcode maps, ModRM/SIB/displacement,
 * immediates, operand and address sizes, and the choice of handler.
 *
 * The decoder never fails: an encoding we do not implement, or one the
 * architecture declares invalid, gets h_ud (the guest sees #UD); an
 * instruction longer than 15 bytes gets h_gp0. Only running out of bytes
 * (the instruction continues on the next page) returns 0, so the caller
 * can supply the rest.
 *
 * References: Intel SDM Vol. 2, chapter 2 (instruction format) and
 * appendix A (opcode maps).
 */
#include <stddef.h>
#include <string.h>
#include "core.h"

/* Immediate kinds. */
enum {
    I_NONE,
    I_B,      /* imm8, sign-extended */
    I_UB,     /* imm8, zero-extended */
    I_W,      /* imm16, zero-extended */
    I_Z,      /* imm16 or imm32 (operand size 2 / 4 and 8), sign-extended */
    I_V,      /* imm16/32/64 by operand size (MOV r, imm) */
    I_ENTER,  /* imm16, imm8 */
    I_FAR,    /* imm16/32 offset, imm16 selector */
    I_MOFFS,  /* address-size offset */
};

#define M 0x80  /* has ModRM */

/* One-byte map: ModRM flag | immediate kind. */
static const uint8_t map0[256] = {
    [0x00 ... 0x03] = M, [0x04] = I_B, [0x05] = I_Z,
    [0x08 ... 0x0b] = M, [0x0c] = I_B, [0x0d] = I_Z,
    [0x10 ... 0x13] = M, [0x14] = I_B, [0x15] = I_Z,
    [0x18 ... 0x1b] = M, [0x1c] = I_B, [0x1d] = I_Z,
    [0x20 ... 0x23] = M, [0x24] = I_B, [0x25] = I_Z,
    [0x28 ... 0x2b] = M, [0x2c] = I_B, [0x2d] = I_Z,
    [0x30 ... 0x33] = M, [0x34] = I_B, [0x35] = I_Z,
    [0x38 ... 0x3b] = M, [0x3c] = I_B, [0x3d] = I_Z,
    [0x62] = M, [0x63] = M,
    [0x68] = I_Z, [0x69] = M | I_Z, [0x6a] = I_B, [0x6b] = M | I_B,
    [0x70 ... 0x7f] = I_B,
    [0x80] = M | I_B, [0x81] = M | I_Z, [0x82] = M | I_B, [0x83] = M | I_B,
    [0x84 ... 0x8f] = M,
    [0x9a] = I_FAR,
    [0xa0 ... 0xa3] = I_MOFFS,
    [0xa8] = I_B, [0xa9] = I_Z,
    [0xb0 ... 0xb7] = I_B, [0xb8 ... 0xbf] = I_V,
    [0xc0] = M | I_UB, [0xc1] = M | I_UB, [0xc2] = I_W,
    [0xc4] = M, [0xc5] = M, [0xc6] = M | I_B, [0xc7] = M | I_Z,
    [0xc8] = I_ENTER, [0xca] = I_W, [0xcd] = I_UB,
    [0xd0 ... 0xd3] = M, [0xd4] = I_UB, [0xd5] = I_UB,
    [0xd8 ... 0xdf] = M,
    [0xe0 ... 0xe3] = I_B, [0xe4 ... 0xe7] = I_UB,
    [0xe8] = I_Z, [0xe9] = I_Z, [0xea] = I_FAR, [0xeb] = I_B,
    [0xf6] = M, [0xf7] = M, [0xfe] = M, [0xff] = M,
};

/* Two-byte (0F) map. SSE immediates come from fpu_sse_has_imm8. */
static const uint8_t map1[256] = {
    [0x00 ... 0x03] = M, [0x0d] = M, [0x0f] = M | I_UB,
    [0x10 ... 0x17] = M, [0x18 ... 0x1f] = M, [0x20 ... 0x23] = M,
    [0x28 ... 0x2f] = M,
    [0x40 ... 0x4f] = M, [0x50 ... 0x76] = M, [0x78 ... 0x7f] = M,
    [0x80 ... 0x8f] = I_Z, [0x90 ... 0x9f] = M,
    [0xa3] = M, [0xa4] = M | I_UB, [0xa5] = M,
    [0xab] = M, [0xac] = M | I_UB, [0xad] = M, [0xae] = M, [0xaf] = M,
    [0xb0 ... 0xb9] = M, [0xba] = M | I_UB, [0xbb ... 0xbf] = M,
    [0xc0 ... 0xc7] = M, [0xd0 ... 0xff] = M,
};

typedef struct Dec {
    const uint8_t *p;
    unsigned avail, pos;
    bool need_more, too_long;
} Dec;

static uint8_t get8(Dec *d)
{
    if (d->pos >= 15) {
        d->too_long = true;
        return 0;
    }
    if (d->pos >= d->avail) {
        d->need_more = true;
        return 0;
    }
    return d->p[d->pos++];
}

static uint64_t get_le(Dec *d, unsigned n)
{
    uint64_t v = 0;

    for (unsigned k = 0; k < n; k++) {
        v |= (uint64_t)get8(d) << (8 * k);
    }
    return v;
}

/* Is this SSE-space opcode of map 1 one the fpu/ part serves? */
static bool map1_is_sse(uint8_t op)
{
    return (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) ||
           (op >= 0x50 && op <= 0x7f) || op == 0xc2 ||
           (op >= 0xc4 && op <= 0xc6) || op >= 0xd0;
}

/* A default segment not yet chosen by an override: DS, SS for stack bases. */
#define SEG_DEFAULT 0x40

static void decode_modrm(Dec *d, Insn *i, bool code64, bool force_reg)
{
    uint8_t modrm = get8(d);
    unsigned rex = i->rex;
    unsigned rm = modrm & 7;

    i->modrm = modrm;
    i->mod = force_reg ? 3 : modrm >> 6;
    i->reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    if (i->mod == 3) {
        i->rm = rm | ((rex & 1) << 3);
        return;
    }
    if (i->addrsize == 2) {
        static const uint8_t base16[8] = { R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX };
        static const uint8_t index16[8] = { R_ESI, R_EDI, R_ESI, R_EDI,
                                            REG_NONE, REG_NONE, REG_NONE, REG_NONE };
        if (i->mod == 0 && rm == 6) {
            i->disp = (int16_t)get_le(d, 2);
            return;
        }
        i->base = base16[rm];
        i->index = index16[rm];
        if (i->mod == 1) {
            i->disp = (int8_t)get8(d);
        } else if (i->mod == 2) {
            i->disp = (int16_t)get_le(d, 2);
        }
        if (i->base == R_EBP && i->seg == (SEG_DS | SEG_DEFAULT)) {
            i->seg = SEG_SS | SEG_DEFAULT;
        }
        return;
    }
    if (rm == 4) {
        uint8_t sib = get8(d);
        unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        i->scale = sib >> 6;
        if (idx != 4) {
            i->index = idx;
        }
        if ((sib & 7) == 5 && i->mod == 0) {
            i->disp = (int32_t)get_le(d, 4);
        } else {
            i->base = (sib & 7) | ((rex & 1) << 3);
        }
    } else if (rm == 5 && i->mod == 0) {
        i->disp = (int32_t)get_le(d, 4);
        i->rip_rel = code64;
        return;
    } else {
        i->base = rm | ((rex & 1) << 3);
    }
    if (i->mod == 1) {
        i->disp = (int8_t)get8(d);
    } else if (i->mod == 2) {
        i->disp = (int32_t)get_le(d, 4);
    }
    if ((i->base == R_ESP || i->base == R_EBP) && i->seg == (SEG_DS | SEG_DEFAULT)) {
        i->seg = SEG_SS | SEG_DEFAULT;
    }
}

static void decode_imm(Dec *d, Insn *i, unsigned kind)
{
    unsigned osz = i->opsize;

    switch (kind) {
    case I_B: i->imm = (int8_t)get8(d); break;
    case I_UB: i->imm = get8(d); break;
    case I_W: i->imm = get_le(d, 2); break;
    case I_Z:
        i->imm = osz == 2 ? (uint64_t)(int16_t)get_le(d, 2) : (uint64_t)(int32_t)get_le(d, 4);
        break;
    case I_V: i->imm = get_le(d, osz); break;
    case I_ENTER:
        i->imm = get_le(d, 2);
        i->imm2 = get8(d);
        break;
    case I_FAR:
        i->imm = get_le(d, osz == 2 ? 2 : 4);
        i->imm2 = get_le(d, 2);
        break;
    case I_MOFFS: i->imm = get_le(d, i->addrsize); break;
    default: break;
    }
}

/* Handler choice: fills i->fn and may adjust opsize/fields. Returns false
   for an invalid encoding. @lockable reports whether LOCK is allowed. */
typedef struct Sel {
    bool code64;
    bool has66;
    bool lockable;
    uint8_t rex_b;
} Sel;

#define MEM(i) ((i)->mod != 3)
/* A memory operand the fast handlers serve (Insn.ea_* set). Not ea_base:
   RAX's offset in CPU is 0, so a RAX-based operand has ea_base 0, while
   ea_seg is never 0 once set (CPU.ea_zero or an FS/GS base). */
#define FAST(i) ((i)->mod != 3 && (i)->ea_seg != 0)
_Static_assert(offsetof(CPU, ea_zero) != 0, "FAST() needs a nonzero ea_seg");

static bool sel_alu(Insn *i, Sel *s, unsigned op, int form, bool byte)
{
    unsigned sz;

    if (byte) {
        i->opsize = 1;
    }
    sz = size_idx(i->opsize);
    s->lockable = op != ALU_CMP && form != 1;
    if (i->lock && s->lockable && MEM(i)) {
        i->fn = form == 0 ? alu_eg_lock[op][sz] : alu_ei_lock[op][sz];
        return true;
    }
    switch (form) {
    case 0: i->fn = FAST(i) ? alu_eg_fast[op][sz] : alu_eg[op][sz][MEM(i)]; break;
    case 1: i->fn = FAST(i) ? alu_ge_fast[op][sz] : alu_ge[op][sz][MEM(i)]; break;
    default: i->fn = FAST(i) ? alu_ei_fast[op][sz] : alu_ei[op][sz][MEM(i)]; break;
    }
    return true;
}

static bool sel_map0(Insn *i, Sel *s, uint8_t op)
{
    bool c64 = s->code64;

    if (op < 0x40 && (op & 7) < 6) {
        unsigned alu = op >> 3;
        switch (op & 7) {
        case 0: return sel_alu(i, s, alu, 0, true);
        case 1: return sel_alu(i, s, alu, 0, false);
        case 2: return sel_alu(i, s, alu, 1, true);
        case 3: return sel_alu(i, s, alu, 1, false);
        default:
            /* AL/eAX, imm: register destination 0. */
            i->mod = 3;
            i->rm = R_EAX;
            return sel_alu(i, s, alu, 2, (op & 7) == 4);
        }
    }
    if (op >= 0x50 && op <= 0x57) {
        i->reg = (op & 7) | s->rex_b;
        i->fn = c64 && i->opsize == 8 ? h_push_reg64 : h_push_reg;
        return true;
    }
    if (op >= 0x58 && op <= 0x5f) {
        i->reg = (op & 7) | s->rex_b;
        i->fn = c64 && i->opsize == 8 ? h_pop_reg64 : h_pop_reg;
        return true;
    }
    if (op >= 0x70 && op <= 0x7f) {
        i->fn = jcc_tab[op & 15];
        return true;
    }
    if (op >= 0x91 && op <= 0x97) {
        i->reg = (op & 7) | s->rex_b;
        i->mod = 3;
        i->rm = R_EAX;
        i->fn = h_xchg;
        return true;
    }
    if (op >= 0xb0 && op <= 0xbf) {
        i->reg = (op & 7) | s->rex_b;
        if (op < 0xb8) {
            i->opsize = 1;
        }
        i->fn = h_mov_r_imm;
        return true;
    }
    if (op >= 0xd8 && op <= 0xdf) {
        i->fn = fpu_x87;
        return true;
    }
    switch (op) {
    case 0x06: case 0x0e: case 0x16: case 0x1e:
        if (c64) {
            return false;
        }
        i->imm2 = op >> 3;
        i->fn = h_push_sreg;
        return true;
    case 0x07: case 0x17: case 0x1f:
        if (c64) {
            return false;
        }
        i->imm2 = op >> 3;
        i->fn = h_pop_sreg;
        return true;
    case 0x27: case 0x2f: case 0x37: case 0x3f:
        if (c64) {
            return false;
        }
        i->fn = h_bcd;
        return true;
    case 0x40 ... 0x4f:     /* only reached outside 64-bit mode */
        i->mod = 3;
        i->rm = op & 7;
        i->fn = incdec_tab[(op >> 3) & 1][size_idx(i->opsize)][0];
        return true;
    case 0x60: case 0x61:
        if (c64) {
            return false;
        }
        i->fn = op == 0x60 ? h_pusha : h_popa;
        return true;
    case 0x62:
        if (c64 || !MEM(i)) {
            return false;
        }
        i->fn = h_bound;
        return true;
    case 0x63:
        if (c64) {
            i->imm2 = 4;
            i->fn = FAST(i) ? h_movsx_fast : h_movsx;
            return true;
        }
        i->opsize = 2;
        i->fn = h_arpl;
        return true;
    case 0x68: case 0x6a:
        i->fn = h_push_imm;
        return true;
    case 0x69: case 0x6b:
        i->fn = h_imul_gei;
        return true;
    case 0x6c: case 0x6e: case 0xa4: case 0xa6: case 0xaa: case 0xac: case 0xae:
        i->opsize = 1;
        /* fall through */
    case 0x6d: case 0x6f: case 0xa5: case 0xa7: case 0xab: case 0xad: case 0xaf:
        switch (op & ~1) {
        case 0x6c: i->fn = h_ins; break;
        case 0x6e: i->fn = h_outs; break;
        case 0xa4: i->fn = h_movs; break;
        case 0xa6: i->fn = h_cmps; break;
        case 0xaa: i->fn = h_stos; break;
        case 0xac: i->fn = h_lods; break;
        default: i->fn = h_scas; break;
        }
        return true;
    case 0x80: case 0x81: case 0x82: case 0x83:
        if (op == 0x82 && c64) {
            return false;
        }
        return sel_alu(i, s, i->reg & 7, 2, !(op & 1));
    case 0x84: case 0x85:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->fn = FAST(i) ? test_eg_fast[size_idx(i->opsize)]
                        : test_eg[size_idx(i->opsize)][MEM(i)];
        return true;
    case 0x86: case 0x87:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        s->lockable = true;
        i->fn = h_xchg;
        return true;
    case 0x88: case 0x89:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->fn = FAST(i) ? mov_eg_fast[size_idx(i->opsize)]
                        : mov_eg[size_idx(i->opsize)][MEM(i)];
        return true;
    case 0x8a: case 0x8b:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->fn = FAST(i) ? mov_ge_fast[size_idx(i->opsize)]
                        : mov_ge[size_idx(i->opsize)][MEM(i)];
        return true;
    case 0x8c:
        if ((i->reg & 7) > SEG_GS) {
            return false;
        }
        i->fn = h_mov_sreg_store;
        return true;
    case 0x8d:
        if (!MEM(i)) {
            return false;
        }
        i->fn = FAST(i) ? h_lea_fast : h_lea;
        return true;
    case 0x8e:
        if ((i->reg & 7) > SEG_GS || (i->reg & 7) == SEG_CS) {
            return false;
        }
        i->fn = h_mov_sreg_load;
        return true;
    case 0x8f:
        if ((i->reg & 7) != 0) {
            return false;
        }
        i->fn = h_pop_rm;
        return true;
    case 0x90:
        if (s->rex_b) {
            i->reg = 8;
            i->mod = 3;
            i->rm = R_EAX;
            i->fn = h_xchg;
        } else {
            i->fn = h_nop;
        }
        return true;
    case 0x98: i->fn = h_cbw; return true;
    case 0x99: i->fn = h_cwd; return true;
    case 0x9a:
        if (c64) {
            return false;
        }
        i->fn = h_call_far_imm;
        return true;
    case 0x9b: i->fn = fpu_fwait; return true;
    case 0x9c: i->fn = h_pushf; return true;
    case 0x9d: i->fn = h_popf; return true;
    case 0x9e: i->fn = h_sahf; return true;
    case 0x9f: i->fn = h_lahf; return true;
    case 0xa0: case 0xa2:
        i->opsize = 1;
        /* fall through */
    case 0xa1: case 0xa3:
        i->fn = (op & 2) ? h_mov_moffs_store : h_mov_moffs_load;
        return true;
    case 0xa8: case 0xa9:
        if (op == 0xa8) {
            i->opsize = 1;
        }
        i->mod = 3;
        i->rm = R_EAX;
        i->fn = test_ei[size_idx(i->opsize)][0];
        return true;
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->imm2 = op < 0xd0 ? 0 : op < 0xd2 ? 1 : 2;
        i->fn = h_shift;
        if (i->opsize >= 4) {
            unsigned r = i->reg & 7;
            int k = r == 4 || r == 6 ? 0 : r == 5 ? 1 : r == 7 ? 2 : -1;
            if (k >= 0) {
                i->fn = shift_fast[k][i->opsize == 8];
            }
        }
        return true;
    case 0xc2: case 0xc3:
        i->fn = c64 && op == 0xc3 ? h_ret64 : h_ret;
        return true;
    case 0xc4: case 0xc5:
        if (c64 || !MEM(i)) {
            return false;     /* VEX: no AVX */
        }
        i->imm2 = op == 0xc4 ? SEG_ES : SEG_DS;
        i->fn = h_load_far_ptr;
        return true;
    case 0xc6: case 0xc7:
        if ((i->reg & 7) != 0) {
            return false;     /* XABORT/XBEGIN: no RTM */
        }
        if (op == 0xc6) {
            i->opsize = 1;
        }
        i->fn = FAST(i) ? mov_ei_fast[size_idx(i->opsize)] : h_mov_ei;
        return true;
    case 0xc8: i->fn = h_enter; return true;
    case 0xc9: i->fn = h_leave; return true;
    case 0xca: case 0xcb: i->fn = h_ret_far; return true;
    case 0xcc: case 0xcd: case 0xf1:
        i->fn = h_int;
        return true;
    case 0xce:
        if (c64) {
            return false;
        }
        i->fn = h_int;
        return true;
    case 0xcf: i->fn = h_sys; return true;   /* IRET */
    case 0xd4: case 0xd5:
        if (c64) {
            return false;
        }
        i->fn = h_bcd;
        return true;
    case 0xd7: i->fn = h_xlat; return true;
    case 0xe0: case 0xe1: case 0xe2: case 0xe3:
        i->imm2 = op & 3;
        i->fn = h_loop;
        return true;
    case 0xe4: case 0xe5: case 0xec: case 0xed:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->fn = h_in;
        return true;
    case 0xe6: case 0xe7: case 0xee: case 0xef:
        if (!(op & 1)) {
            i->opsize = 1;
        }
        i->fn = h_out;
        return true;
    case 0xe8: i->fn = c64 ? h_call_rel64 : h_call_rel; return true;
    case 0xe9: case 0xeb: i->fn = h_jmp_rel; return true;
    case 0xea:
        if (c64) {
            return false;
        }
        i->fn = h_jmp_far_imm;
        return true;
    case 0xf4: case 0xfa: case 0xfb: i->fn = h_sys; return true;
    case 0xf5: case 0xf8: case 0xf9: case 0xfc: case 0xfd:
        i->fn = h_flagop;
        return true;
    case 0xf6: case 0xf7: {
        unsigned sz;
        if (op == 0xf6) {
            i->opsize = 1;
        }
        sz = size_idx(i->opsize);
        switch (i->reg & 7) {
        case 0: case 1: i->fn = FAST(i) ? test_ei_fast[sz] : test_ei[sz][MEM(i)]; return true;
        case 2: s->lockable = true; i->fn = i->lock ? h_not_lock : h_not; return true;
        case 3: s->lockable = true; i->fn = i->lock ? h_neg_lock : h_neg; return true;
        case 4: i->fn = h_mul; return true;
        case 5: i->fn = h_imul1; return true;
        case 6: i->fn = h_div; return true;
        default: i->fn = h_idiv; return true;
        }
    }
    case 0xfe: case 0xff: {
        unsigned r = i->reg & 7;
        if (op == 0xfe) {
            if (r > 1) {
                return false;
            }
            i->opsize = 1;
        }
        if (r <= 1) {
            s->lockable = true;
            i->fn = (i->lock && MEM(i)) ? incdec_lock[r][size_idx(i->opsize)]
                    : FAST(i) ? incdec_fast[r][size_idx(i->opsize)]
                    : incdec_tab[r][size_idx(i->opsize)][MEM(i)];
            return true;
        }
        switch (r) {
        case 2: i->fn = h_call_rm; return true;
        case 3: if (!MEM(i)) { return false; } i->fn = h_call_far_rm; return true;
        case 4: i->fn = h_jmp_rm; return true;
        case 5: if (!MEM(i)) { return false; } i->fn = h_jmp_far_rm; return true;
        case 6: i->fn = h_push_rm; return true;
        default: return false;
        }
    }
    default:
        return false;   /* D6 (SALC), and the prefixes never get here */
    }
}

static bool sel_map1(Insn *i, Sel *s, uint8_t op)
{
    if (op >= 0x40 && op <= 0x4f) {
        i->fn = h_cmov;
        return true;
    }
    if (op >= 0x80 && op <= 0x8f) {
        i->fn = jcc_tab[op & 15];
        return true;
    }
    if (op >= 0x90 && op <= 0x9f) {
        i->opsize = 1;
        i->fn = h_setcc;
        return true;
    }
    if (op >= 0xc8) {
        if (op <= 0xcf) {
            i->reg = (op & 7) | s->rex_b;
            i->fn = h_bswap;
            return true;
        }
    }
    switch (op) {
    case 0x00: i->fn = h_group6; return true;
    case 0x01: i->fn = h_group7; return true;
    case 0x02: i->fn = h_lar; return true;
    case 0x03: i->fn = h_lsl; return true;
    case 0x05: case 0x07:     /* SYSCALL/SYSRET: sys/ checks mode and EFER.SCE */
    case 0x06: case 0x08: case 0x09: case 0x30: case 0x31: case 0x32: case 0x33:
    case 0x34: case 0x35: case 0xa2:
        i->fn = h_sys;
        return true;
    case 0x0b: case 0xb9: case 0xff:
        return false;         /* UD2, UD1, UD0 */
    case 0x0d: case 0x18 ... 0x1f:
        i->fn = h_nop;        /* prefetch hints, reserved NOPs, ENDBR */
        return true;
    case 0x20: case 0x22:
        i->fn = h_mov_cr;     /* decoded as a register form: mod is ignored */
        return true;
    case 0x21: case 0x23:
        i->fn = h_mov_dr;
        return true;
    case 0xa0: case 0xa8:
        i->imm2 = op == 0xa0 ? SEG_FS : SEG_GS;
        i->fn = h_push_sreg;
        return true;
    case 0xa1: case 0xa9:
        i->imm2 = op == 0xa1 ? SEG_FS : SEG_GS;
        i->fn = h_pop_sreg;
        return true;
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
        i->imm2 = op == 0xa3 ? 0 : op == 0xab ? 1 : op == 0xb3 ? 2 : 3;
        s->lockable = op != 0xa3;
        i->fn = h_bt_reg;
        return true;
    case 0xba:
        if ((i->reg & 7) < 4) {
            return false;
        }
        i->imm2 = (i->reg & 7) - 4;
        s->lockable = i->imm2 != 0;
        i->fn = h_bt_imm;
        return true;
    case 0xa4: case 0xa5:
        i->imm2 = op == 0xa4 ? 0 : 2;
        i->fn = h_shld;
        return true;
    case 0xac: case 0xad:
        i->imm2 = op == 0xac ? 0 : 2;
        i->fn = h_shrd;
        return true;
    case 0xae:
        i->fn = fpu_group15;
        return true;
    case 0xaf: i->fn = h_imul_ge; return true;
    case 0xb0: case 0xb1:
        if (op == 0xb0) {
            i->opsize = 1;
        }
        s->lockable = true;
        i->fn = h_cmpxchg;
        return true;
    case 0xb2: case 0xb4: case 0xb5:
        if (!MEM(i)) {
            return false;
        }
        i->imm2 = op == 0xb2 ? SEG_SS : op == 0xb4 ? SEG_FS : SEG_GS;
        i->fn = h_load_far_ptr;
        return true;
    case 0xb6: case 0xb7:
        i->imm2 = op == 0xb6 ? 1 : 2;
        i->fn = FAST(i) ? h_movzx_fast : h_movzx;
        return true;
    case 0xbe: case 0xbf:
        i->imm2 = op == 0xbe ? 1 : 2;
        i->fn = FAST(i) ? h_movsx_fast : h_movsx;
        return true;
    case 0xb8:
        if (i->rep != 0xf3) {
            return false;     /* JMPE */
        }
        i->fn = h_popcnt;
        return true;
    case 0xbc: i->fn = h_bsf; return true;   /* TZCNT: no BMI1 in CPUID */
    case 0xbd: i->fn = h_bsr; return true;   /* LZCNT: no ABM in CPUID */
    case 0xc0: case 0xc1:
        if (op == 0xc0) {
            i->opsize = 1;
        }
        s->lockable = true;
        i->fn = h_xadd;
        return true;
    case 0xc3:
        if (!MEM(i) || s->has66 || i->rep) {
            return false;
        }
        i->fn = h_movnti;
        return true;
    case 0xc7:
        if ((i->reg & 7) != 1 || !MEM(i)) {
            return false;     /* RDRAND/RDSEED/RDPID/VMPTRLD: not offered */
        }
        s->lockable = true;
        i->fn = h_cmpxchg8b;
        return true;
    default:
        return false;
    }
}

/* Offsets of the fast handlers' address addends (see Insn.ea_base). */
static void set_fast_ea(Insn *i)
{
    const uint16_t zero = offsetof(CPU, ea_zero);
    const uint16_t regs = offsetof(CPU, s.regs);

    i->ea_base = i->rip_rel ? offsetof(CPU, next_rip)
                 : i->base != REG_NONE ? regs + 8 * i->base : zero;
    i->ea_index = i->index != REG_NONE ? regs + 8 * i->index : zero;
    i->ea_seg = i->seg == SEG_FS || i->seg == SEG_GS
                ? offsetof(CPU, s.seg) + i->seg * sizeof(X86Segment) +
                  offsetof(X86Segment, base)
                : zero;
}

static void set_ud(Insn *i, const uint8_t *p, unsigned avail)
{
    uint8_t raw[16] = { 0 };

    memcpy(raw, p, avail < 15 ? avail : 15);
    i->fn = h_ud;
    memcpy(&i->imm, raw, 8);
    memcpy(&i->imm2, raw + 8, 8);
}

unsigned x86_decode(const uint8_t *p, unsigned avail, bool code64, bool code32, Insn *i)
{
    Dec d = { .p = p, .avail = avail };
    bool opsz_pfx = false, adsz_pfx = false;
    unsigned seg_ovr = 0, map = 0, kind;
    uint8_t op, prefix;
    Sel s = { .code64 = code64 };
    bool ok;

    memset(i, 0, sizeof(*i));
    i->base = REG_NONE;
    i->index = REG_NONE;
    for (;;) {
        op = get8(&d);
        if (d.need_more) {
            return 0;
        }
        if (d.too_long) {
            i->fn = h_gp0;
            i->len = 15;
            return 15;
        }
        switch (op) {
        case 0x66: opsz_pfx = true; i->rex = 0; continue;
        case 0x67: adsz_pfx = true; i->rex = 0; continue;
        case 0xf0: i->lock = 1; i->rex = 0; continue;
        case 0xf2: case 0xf3: i->rep = op; i->rex = 0; continue;
        case 0x26: case 0x2e: case 0x36: case 0x3e:
            /* ES/CS/SS/DS overrides are ignored in 64-bit mode. */
            if (!code64) {
                seg_ovr = 1 + ((op >> 3) & 3);
            }
            i->rex = 0;
            continue;
        case 0x64: case 0x65:
            seg_ovr = 1 + (op == 0x64 ? SEG_FS : SEG_GS);
            i->rex = 0;
            continue;
        case 0x40 ... 0x4f:
            if (code64) {
                i->rex = op;
                continue;
            }
            break;
        default:
            break;
        }
        break;
    }
    s.rex_b = (i->rex & 1) << 3;
    s.has66 = opsz_pfx;
    if (code64) {
        i->opsize = (i->rex & 8) ? 8 : opsz_pfx ? 2 : 4;
        i->addrsize = adsz_pfx ? 4 : 8;
    } else {
        unsigned def = code32 ? 4 : 2;
        i->opsize = opsz_pfx ? 6 - def : def;
        i->addrsize = adsz_pfx ? 6 - def : def;
    }
    i->seg = seg_ovr ? seg_ovr - 1 : (SEG_DS | SEG_DEFAULT);
    if (op == 0x0f) {
        op = get8(&d);
        if (op == 0x38 || op == 0x3a) {
            map = op == 0x38 ? 2 : 3;
            op = get8(&d);
        } else {
            map = 1;
        }
    }
    prefix = i->rep ? i->rep : opsz_pfx ? 0x66 : 0;
    if (map == 0) {
        kind = map0[op];
    } else if (map == 1) {
        kind = op == 0x77 ? 0 : map1[op];
        if (map1_is_sse(op) && fpu_sse_has_imm8(1, op, prefix)) {
            kind |= I_UB;
        }
    } else {
        kind = M | (map == 3 ? I_UB : 0);
    }
    /* 64-bit default operand size: stack operations and near branches. */
    if (code64) {
        bool def64 = false, force64 = false;
        if (map == 0) {
            def64 = (op >= 0x50 && op <= 0x5f) || op == 0x68 || op == 0x6a ||
                    op == 0x8f || op == 0x9c || op == 0x9d || op == 0xc8 || op == 0xc9;
            force64 = (op >= 0x70 && op <= 0x7f) || op == 0xc2 || op == 0xc3 ||
                      (op >= 0xe0 && op <= 0xe3) || op == 0xe8 || op == 0xe9 || op == 0xeb;
        } else if (map == 1) {
            def64 = op == 0xa0 || op == 0xa1 || op == 0xa8 || op == 0xa9;
            force64 = op >= 0x80 && op <= 0x8f;
        }
        if (force64 || (def64 && i->opsize == 4)) {
            i->opsize = 8;
        }
    }
    if (kind & M) {
        decode_modrm(&d, i, code64, map == 1 && op >= 0x20 && op <= 0x23);
        /* FF /2 /4 /6: near indirect branches and PUSH default to 64-bit. */
        if (code64 && map == 0 && op == 0xff) {
            unsigned r = i->reg & 7;
            if (r == 2 || r == 4 || (r == 6 && i->opsize == 4)) {
                i->opsize = 8;
            }
        }
    }
    if (map == 0 && (op == 0xf6 || op == 0xf7)) {
        if ((i->reg & 7) < 2) {
            kind = M | (op == 0xf6 ? I_B : I_Z);
        }
    }
    decode_imm(&d, i, kind & 0x7f);
    if (d.need_more) {
        return 0;
    }
    i->len = d.pos;
    i->opcode = (uint16_t)((map << 8) | op);
    i->seg &= 7;
    if (code64 && (kind & M) && i->mod != 3 && i->addrsize == 8) {
        set_fast_ea(i);
    }
    if (d.too_long) {
        i->fn = h_gp0;
        i->len = 15;
        return 15;
    }

    if (map == 0) {
        ok = sel_map0(i, &s, op);
    } else if (map == 1 && !map1_is_sse(op)) {
        ok = sel_map1(i, &s, op);
    } else if (map == 2 && op >= 0xf0) {
        ok = false;           /* MOVBE, CRC32, BMI: not offered by CPUID */
    } else {
        i->fn = fpu_sse_handler(map, op, prefix);
        ok = i->fn != NULL;
    }
    if (ok && i->lock && !(s.lockable && MEM(i))) {
        ok = false;
    }
    if (!ok) {
        set_ud(i, p, d.pos);
    }
    return i->len;
}

bool x86_insn_ends_trace(const Insn *i)
{
    uint8_t op = i->opcode & 0xff;

    if (i->fn == h_ud || i->fn == h_gp0) {
        return true;
    }
    switch (i->opcode >> 8) {
    case 0:
        /* Jcc (0x70-0x7f) goes on: a taken jump is a side exit. */
        if ((op >= 0xe0 && op <= 0xef) || (op >= 0x6c && op <= 0x6f)) {
            return true;
        }
        if ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf)) {
            return i->rep != 0;
        }
        switch (op) {
        case 0x07: case 0x17: case 0x1f: case 0x8e: case 0x9a: case 0x9d:
        case 0xc2: case 0xc3: case 0xc4: case 0xc5: case 0xca: case 0xcb:
        case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xf1: case 0xf4:
        case 0xfa: case 0xfb:
            return true;
        case 0xff:
            return (i->reg & 7) >= 2 && (i->reg & 7) <= 5;
        default:
            return false;
        }
    case 1:
        switch (op) {
        case 0x00: case 0x01: case 0x05: case 0x06: case 0x07: case 0x08:
        case 0x09: case 0x20: case 0x21: case 0x22: case 0x23: case 0x30:
        case 0x34: case 0x35:
            return true;
        default:
            return false;
        }
    default:
        return false;
    }
}
