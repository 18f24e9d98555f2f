/* kern_ref.c - portable reference kernels: Hamming distance, squared L2 distance, dot product.
 *
 * These define the results every SIMD variant is tested against, and they are the fallback on
 * any CPU. Hamming counts bits of 8-byte words with the SWAR popcount of Hacker's Delight
 * (Warren, 2nd ed., 5-1: pairs, nibbles, bytes, then one multiply adds the bytes), so no libgcc
 * call or POPCNT instruction is needed. Floats are summed left to right in float, the order a
 * reader expects; SIMD variants sum in lanes and differ in the last bits (tests allow 1e-5).
 * All loads go through memcpy: callers may pass rows at any byte offset. */
#include "simd.h"

#include <string.h>

static inline uint32_t popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

static uint32_t hamming(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    uint32_t d = 0;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8)
        d += popcount64(deja__load64(a + i) ^ deja__load64(b + i));
    /* Up to 7 tail bytes, packed into one word. */
    uint64_t t = 0;
    for (size_t s = 0; i < bytes; i++, s += 8)
        t |= (uint64_t)(a[i] ^ b[i]) << s;
    return d + popcount64(t);
}

void deja__hamming_1xn_ref(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                           uint32_t *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = hamming(q, rows + r * bytes, bytes);
}

void deja__l2sq_1xn_ref(const float *q, const float *rows, size_t dim, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++) {
        const uint8_t *row = (const uint8_t *)rows + r * dim * sizeof(float);
        float s = 0;
        for (size_t i = 0; i < dim; i++) {
            float d = deja__loadf(q, i) - deja__loadf(row, i);
            s += d * d;
        }
        out[r] = s;
    }
}

float deja__dot_f32_ref(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += deja__loadf(a, i) * deja__loadf(b, i);
    return s;
}
