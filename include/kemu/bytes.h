/*
 * Little-endian loads and stores on byte buffers: boot-protocol headers,
 * firmware tables, ELF images and FXSAVE areas are little-endian whatever
 * the host is, and the buffers need not be aligned.
 *
 * Each is byte by byte, so it is correct on any host and at any alignment;
 * compilers turn each one into a single load or store on x86 hosts.
 */
#ifndef KEMU_BYTES_H
#define KEMU_BYTES_H

#include <stdint.h>

/* Read the little-endian 16-bit value at @p. */
static inline uint16_t ld16_le(const void *p)
{
    const uint8_t *b = p;

    return (uint16_t)(b[0] | (b[1] << 8));
}

/* Read the little-endian 32-bit value at @p. */
static inline uint32_t ld32_le(const void *p)
{
    const uint8_t *b = p;

    return ld16_le(b) | ((uint32_t)ld16_le(b + 2) << 16);
}

/* Read the little-endian 64-bit value at @p. */
static inline uint64_t ld64_le(const void *p)
{
    const uint8_t *b = p;

    return ld32_le(b) | ((uint64_t)ld32_le(b + 4) << 32);
}

/* Write @v at @p as 2 little-endian bytes. */
static inline void st16_le(void *p, uint16_t v)
{
    uint8_t *b = p;

    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

/* Write @v at @p as 4 little-endian bytes. */
static inline void st32_le(void *p, uint32_t v)
{
    uint8_t *b = p;

    st16_le(b, (uint16_t)v);
    st16_le(b + 2, (uint16_t)(v >> 16));
}

/* Write @v at @p as 8 little-endian bytes. */
static inline void st64_le(void *p, uint64_t v)
{
    uint8_t *b = p;

    st32_le(b, (uint32_t)v);
    st32_le(b + 4, (uint32_t)(v >> 32));
}

/* Read @size (1 to 8) little-endian bytes at @p, zero-extended. */
static inline uint64_t ldn_le(const void *p, unsigned size)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

/* Write the low @size (1 to 8) bytes of @v at @p, little-endian. */
static inline void stn_le(void *p, uint64_t v, unsigned size)
{
    uint8_t *b = p;

    for (unsigned i = 0; i < size; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
}

#endif
