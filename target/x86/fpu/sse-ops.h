/*
 * The SSE/MMX opcode list: every (map, opcode, mandatory prefix) that
 * fpu_sse_handler knows, its handler and whether it takes an imm8.
 * Prefix index: 0 none, 1 66, 2 F3, 3 F2. The list also declares the
 * handlers, so each handler file includes it.
 */
#ifndef TARGET_X86_FPU_SSE_OPS_H
#define TARGET_X86_FPU_SSE_OPS_H

#include "target/x86/interp.h"

enum { PX_NONE, PX_66, PX_F3, PX_F2 };

/* An integer op with MMX (no prefix) and XMM (66) forms in map @m. */
#define SSE_INT(E, m, op, name)                                               \
    E(m, op, PX_NONE, sse_##name##_mmx, 0)                                    \
    E(m, op, PX_66, sse_##name##_xmm, 0)

/* A floating-point op in all four forms (ps, pd, ss, sd). */
#define SSE_FP4(E, op, name)                                                  \
    E(1, op, PX_NONE, sse_##name##ps, 0)                                      \
    E(1, op, PX_66, sse_##name##pd, 0)                                        \
    E(1, op, PX_F3, sse_##name##ss, 0)                                        \
    E(1, op, PX_F2, sse_##name##sd, 0)

#define SSE_OPS(E)                                                            \
    E(1, 0x10, PX_NONE, sse_movups_load, 0)                                   \
    E(1, 0x10, PX_66, sse_movups_load, 0)                                     \
    E(1, 0x10, PX_F3, sse_movss_load, 0)                                      \
    E(1, 0x10, PX_F2, sse_movsd_load, 0)                                      \
    E(1, 0x11, PX_NONE, sse_movups_store, 0)                                  \
    E(1, 0x11, PX_66, sse_movups_store, 0)                                    \
    E(1, 0x11, PX_F3, sse_movss_store, 0)                                     \
    E(1, 0x11, PX_F2, sse_movsd_store, 0)                                     \
    E(1, 0x12, PX_NONE, sse_movlps_load, 0)                                   \
    E(1, 0x12, PX_66, sse_movlpd_load, 0)                                     \
    E(1, 0x12, PX_F3, sse_movsldup, 0)                                        \
    E(1, 0x12, PX_F2, sse_movddup, 0)                                         \
    E(1, 0x13, PX_NONE, sse_movlps_store, 0)                                  \
    E(1, 0x13, PX_66, sse_movlps_store, 0)                                    \
    E(1, 0x14, PX_NONE, sse_punpckldq_xmm, 0)                                 \
    E(1, 0x14, PX_66, sse_punpcklqdq_xmm, 0)                                  \
    E(1, 0x15, PX_NONE, sse_punpckhdq_xmm, 0)                                 \
    E(1, 0x15, PX_66, sse_punpckhqdq_xmm, 0)                                  \
    E(1, 0x16, PX_NONE, sse_movhps_load, 0)                                   \
    E(1, 0x16, PX_66, sse_movhpd_load, 0)                                     \
    E(1, 0x16, PX_F3, sse_movshdup, 0)                                        \
    E(1, 0x17, PX_NONE, sse_movhps_store, 0)                                  \
    E(1, 0x17, PX_66, sse_movhps_store, 0)                                    \
    E(1, 0x28, PX_NONE, sse_movaps_load, 0)                                   \
    E(1, 0x28, PX_66, sse_movaps_load, 0)                                     \
    E(1, 0x29, PX_NONE, sse_movaps_store, 0)                                  \
    E(1, 0x29, PX_66, sse_movaps_store, 0)                                    \
    E(1, 0x2a, PX_NONE, sse_cvtpi2ps, 0)                                      \
    E(1, 0x2a, PX_66, sse_cvtpi2pd, 0)                                        \
    E(1, 0x2a, PX_F3, sse_cvtsi2ss, 0)                                        \
    E(1, 0x2a, PX_F2, sse_cvtsi2sd, 0)                                        \
    E(1, 0x2b, PX_NONE, sse_movntps, 0)                                       \
    E(1, 0x2b, PX_66, sse_movntps, 0)                                         \
    E(1, 0x2c, PX_NONE, sse_cvttps2pi, 0)                                     \
    E(1, 0x2c, PX_66, sse_cvttpd2pi, 0)                                       \
    E(1, 0x2c, PX_F3, sse_cvttss2si, 0)                                       \
    E(1, 0x2c, PX_F2, sse_cvttsd2si, 0)                                       \
    E(1, 0x2d, PX_NONE, sse_cvtps2pi, 0)                                      \
    E(1, 0x2d, PX_66, sse_cvtpd2pi, 0)                                        \
    E(1, 0x2d, PX_F3, sse_cvtss2si, 0)                                        \
    E(1, 0x2d, PX_F2, sse_cvtsd2si, 0)                                        \
    E(1, 0x2e, PX_NONE, sse_ucomiss, 0)                                       \
    E(1, 0x2e, PX_66, sse_ucomisd, 0)                                         \
    E(1, 0x2f, PX_NONE, sse_comiss, 0)                                        \
    E(1, 0x2f, PX_66, sse_comisd, 0)                                          \
    E(1, 0x50, PX_NONE, sse_movmskps, 0)                                      \
    E(1, 0x50, PX_66, sse_movmskpd, 0)                                        \
    SSE_FP4(E, 0x51, sqrt)                                                    \
    E(1, 0x52, PX_NONE, sse_rsqrtps, 0)                                       \
    E(1, 0x52, PX_F3, sse_rsqrtss, 0)                                         \
    E(1, 0x53, PX_NONE, sse_rcpps, 0)                                         \
    E(1, 0x53, PX_F3, sse_rcpss, 0)                                           \
    E(1, 0x54, PX_NONE, sse_pand_xmm, 0)                                      \
    E(1, 0x54, PX_66, sse_pand_xmm, 0)                                        \
    E(1, 0x55, PX_NONE, sse_pandn_xmm, 0)                                     \
    E(1, 0x55, PX_66, sse_pandn_xmm, 0)                                       \
    E(1, 0x56, PX_NONE, sse_por_xmm, 0)                                       \
    E(1, 0x56, PX_66, sse_por_xmm, 0)                                         \
    E(1, 0x57, PX_NONE, sse_pxor_xmm, 0)                                      \
    E(1, 0x57, PX_66, sse_pxor_xmm, 0)                                        \
    SSE_FP4(E, 0x58, add)                                                     \
    SSE_FP4(E, 0x59, mul)                                                     \
    E(1, 0x5a, PX_NONE, sse_cvtps2pd, 0)                                      \
    E(1, 0x5a, PX_66, sse_cvtpd2ps, 0)                                        \
    E(1, 0x5a, PX_F3, sse_cvtss2sd, 0)                                        \
    E(1, 0x5a, PX_F2, sse_cvtsd2ss, 0)                                        \
    E(1, 0x5b, PX_NONE, sse_cvtdq2ps, 0)                                      \
    E(1, 0x5b, PX_66, sse_cvtps2dq, 0)                                        \
    E(1, 0x5b, PX_F3, sse_cvttps2dq, 0)                                       \
    SSE_FP4(E, 0x5c, sub)                                                     \
    SSE_FP4(E, 0x5d, min)                                                     \
    SSE_FP4(E, 0x5e, div)                                                     \
    SSE_FP4(E, 0x5f, max)                                                     \
    SSE_INT(E, 1, 0x60, punpcklbw)                                            \
    SSE_INT(E, 1, 0x61, punpcklwd)                                            \
    SSE_INT(E, 1, 0x62, punpckldq)                                            \
    SSE_INT(E, 1, 0x63, packsswb)                                             \
    SSE_INT(E, 1, 0x64, pcmpgtb)                                              \
    SSE_INT(E, 1, 0x65, pcmpgtw)                                              \
    SSE_INT(E, 1, 0x66, pcmpgtd)                                              \
    SSE_INT(E, 1, 0x67, packuswb)                                             \
    SSE_INT(E, 1, 0x68, punpckhbw)                                            \
    SSE_INT(E, 1, 0x69, punpckhwd)                                            \
    SSE_INT(E, 1, 0x6a, punpckhdq)                                            \
    SSE_INT(E, 1, 0x6b, packssdw)                                             \
    E(1, 0x6c, PX_66, sse_punpcklqdq_xmm, 0)                                  \
    E(1, 0x6d, PX_66, sse_punpckhqdq_xmm, 0)                                  \
    E(1, 0x6e, PX_NONE, sse_movd_mm_load, 0)                                  \
    E(1, 0x6e, PX_66, sse_movd_xmm_load, 0)                                   \
    E(1, 0x6f, PX_NONE, sse_movq_mm_load, 0)                                  \
    E(1, 0x6f, PX_66, sse_movaps_load, 0)                                     \
    E(1, 0x6f, PX_F3, sse_movups_load, 0)                                     \
    E(1, 0x70, PX_NONE, sse_pshufw_mmx, 1)                                    \
    E(1, 0x70, PX_66, sse_pshufd_xmm, 1)                                      \
    E(1, 0x70, PX_F3, sse_pshufhw_xmm, 1)                                     \
    E(1, 0x70, PX_F2, sse_pshuflw_xmm, 1)                                     \
    E(1, 0x71, PX_NONE, sse_grp71_mmx, 1)                                     \
    E(1, 0x71, PX_66, sse_grp71_xmm, 1)                                       \
    E(1, 0x72, PX_NONE, sse_grp72_mmx, 1)                                     \
    E(1, 0x72, PX_66, sse_grp72_xmm, 1)                                       \
    E(1, 0x73, PX_NONE, sse_grp73_mmx, 1)                                     \
    E(1, 0x73, PX_66, sse_grp73_xmm, 1)                                       \
    SSE_INT(E, 1, 0x74, pcmpeqb)                                              \
    SSE_INT(E, 1, 0x75, pcmpeqw)                                              \
    SSE_INT(E, 1, 0x76, pcmpeqd)                                              \
    E(1, 0x77, PX_NONE, sse_emms, 0)                                          \
    E(1, 0x7c, PX_66, sse_haddpd, 0)                                          \
    E(1, 0x7c, PX_F2, sse_haddps, 0)                                          \
    E(1, 0x7d, PX_66, sse_hsubpd, 0)                                          \
    E(1, 0x7d, PX_F2, sse_hsubps, 0)                                          \
    E(1, 0x7e, PX_NONE, sse_movd_mm_store, 0)                                 \
    E(1, 0x7e, PX_66, sse_movd_xmm_store, 0)                                  \
    E(1, 0x7e, PX_F3, sse_movq_xmm_load, 0)                                   \
    E(1, 0x7f, PX_NONE, sse_movq_mm_store, 0)                                 \
    E(1, 0x7f, PX_66, sse_movaps_store, 0)                                    \
    E(1, 0x7f, PX_F3, sse_movups_store, 0)                                    \
    E(1, 0xc2, PX_NONE, sse_cmpps, 1)                                         \
    E(1, 0xc2, PX_66, sse_cmppd, 1)                                           \
    E(1, 0xc2, PX_F3, sse_cmpss, 1)                                           \
    E(1, 0xc2, PX_F2, sse_cmpsd, 1)                                           \
    E(1, 0xc3, PX_NONE, sse_movnti, 0)                                        \
    E(1, 0xc4, PX_NONE, sse_pinsrw_mmx, 1)                                    \
    E(1, 0xc4, PX_66, sse_pinsrw_xmm, 1)                                      \
    E(1, 0xc5, PX_NONE, sse_pextrw_mmx, 1)                                    \
    E(1, 0xc5, PX_66, sse_pextrw_xmm, 1)                                      \
    E(1, 0xc6, PX_NONE, sse_shufps, 1)                                        \
    E(1, 0xc6, PX_66, sse_shufpd, 1)                                          \
    E(1, 0xd0, PX_66, sse_addsubpd, 0)                                        \
    E(1, 0xd0, PX_F2, sse_addsubps, 0)                                        \
    SSE_INT(E, 1, 0xd1, psrlw)                                                \
    SSE_INT(E, 1, 0xd2, psrld)                                                \
    SSE_INT(E, 1, 0xd3, psrlq)                                                \
    SSE_INT(E, 1, 0xd4, paddq)                                                \
    SSE_INT(E, 1, 0xd5, pmullw)                                               \
    E(1, 0xd6, PX_66, sse_movq_xmm_store, 0)                                  \
    E(1, 0xd6, PX_F3, sse_movq2dq, 0)                                         \
    E(1, 0xd6, PX_F2, sse_movdq2q, 0)                                         \
    SSE_INT(E, 1, 0xd7, pmovmskb)                                             \
    SSE_INT(E, 1, 0xd8, psubusb)                                              \
    SSE_INT(E, 1, 0xd9, psubusw)                                              \
    SSE_INT(E, 1, 0xda, pminub)                                               \
    SSE_INT(E, 1, 0xdb, pand)                                                 \
    SSE_INT(E, 1, 0xdc, paddusb)                                              \
    SSE_INT(E, 1, 0xdd, paddusw)                                              \
    SSE_INT(E, 1, 0xde, pmaxub)                                               \
    SSE_INT(E, 1, 0xdf, pandn)                                                \
    SSE_INT(E, 1, 0xe0, pavgb)                                                \
    SSE_INT(E, 1, 0xe1, psraw)                                                \
    SSE_INT(E, 1, 0xe2, psrad)                                                \
    SSE_INT(E, 1, 0xe3, pavgw)                                                \
    SSE_INT(E, 1, 0xe4, pmulhuw)                                              \
    SSE_INT(E, 1, 0xe5, pmulhw)                                               \
    E(1, 0xe6, PX_66, sse_cvttpd2dq, 0)                                       \
    E(1, 0xe6, PX_F3, sse_cvtdq2pd, 0)                                        \
    E(1, 0xe6, PX_F2, sse_cvtpd2dq, 0)                                        \
    E(1, 0xe7, PX_NONE, sse_movntq, 0)                                        \
    E(1, 0xe7, PX_66, sse_movntps, 0)                                         \
    SSE_INT(E, 1, 0xe8, psubsb)                                               \
    SSE_INT(E, 1, 0xe9, psubsw)                                               \
    SSE_INT(E, 1, 0xea, pminsw)                                               \
    SSE_INT(E, 1, 0xeb, por)                                                  \
    SSE_INT(E, 1, 0xec, paddsb)                                               \
    SSE_INT(E, 1, 0xed, paddsw)                                               \
    SSE_INT(E, 1, 0xee, pmaxsw)                                               \
    SSE_INT(E, 1, 0xef, pxor)                                                 \
    E(1, 0xf0, PX_F2, sse_lddqu, 0)                                           \
    SSE_INT(E, 1, 0xf1, psllw)                                                \
    SSE_INT(E, 1, 0xf2, pslld)                                                \
    SSE_INT(E, 1, 0xf3, psllq)                                                \
    SSE_INT(E, 1, 0xf4, pmuludq)                                              \
    SSE_INT(E, 1, 0xf5, pmaddwd)                                              \
    SSE_INT(E, 1, 0xf6, psadbw)                                               \
    E(1, 0xf7, PX_NONE, sse_maskmovq, 0)                                      \
    E(1, 0xf7, PX_66, sse_maskmovdqu, 0)                                      \
    SSE_INT(E, 1, 0xf8, psubb)                                                \
    SSE_INT(E, 1, 0xf9, psubw)                                                \
    SSE_INT(E, 1, 0xfa, psubd)                                                \
    SSE_INT(E, 1, 0xfb, psubq)                                                \
    SSE_INT(E, 1, 0xfc, paddb)                                                \
    SSE_INT(E, 1, 0xfd, paddw)                                                \
    SSE_INT(E, 1, 0xfe, paddd)                                                \
    SSE_INT(E, 2, 0x00, pshufb)                                               \
    SSE_INT(E, 2, 0x01, phaddw)                                               \
    SSE_INT(E, 2, 0x02, phaddd)                                               \
    SSE_INT(E, 2, 0x03, phaddsw)                                              \
    SSE_INT(E, 2, 0x04, pmaddubsw)                                            \
    SSE_INT(E, 2, 0x05, phsubw)                                               \
    SSE_INT(E, 2, 0x06, phsubd)                                               \
    SSE_INT(E, 2, 0x07, phsubsw)                                              \
    SSE_INT(E, 2, 0x08, psignb)                                               \
    SSE_INT(E, 2, 0x09, psignw)                                               \
    SSE_INT(E, 2, 0x0a, psignd)                                               \
    SSE_INT(E, 2, 0x0b, pmulhrsw)                                             \
    SSE_INT(E, 2, 0x1c, pabsb)                                                \
    SSE_INT(E, 2, 0x1d, pabsw)                                                \
    SSE_INT(E, 2, 0x1e, pabsd)                                                \
    E(3, 0x0f, PX_NONE, sse_palignr_mmx, 1)                                   \
    E(3, 0x0f, PX_66, sse_palignr_xmm, 1)

#define SSE_DECLARE(map, op, px, fn, imm) void fn(CPU *cpu, const Insn *i);
SSE_OPS(SSE_DECLARE)

#endif
