/* kern_neon.c - aarch64 NEON kernels (Advanced SIMD is part of the base ARMv8-A ISA, so there is
 * no run-time check: every aarch64 CPU runs these).
 *
 * Hamming: XOR 16-byte blocks, VCNT counts bits per byte, and per-byte counts are added in 8-bit
 * lanes (at most 8 per block, so up to 31 blocks fit before a lane could pass 255), widened to
 * 16-bit lanes with UADALP, and summed across lanes once per row. The 32-byte case is two blocks
 * and one widening add-across (UADDLV; a plain ADDV would wrap at 256 differing bits).
 * Floats: two 4-lane accumulators with fused multiply-add (VFMA), reduced at the end. */
#if defined(__aarch64__)

#include "simd.h"

#include <arm_neon.h>
#include <string.h>

static uint32_t hamming_any(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    uint16x8_t acc = vdupq_n_u16(0);
    size_t i = 0;
    while (i + 16 <= bytes) {
        /* Byte lanes gather at most 31 blocks (31 * 8 = 248) before widening. */
        uint8x16_t c = vdupq_n_u8(0);
        for (int blk = 0; blk < 31 && i + 16 <= bytes; blk++, i += 16)
            c = vaddq_u8(c, vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i))));
        acc = vpadalq_u8(acc, c);
    }
    uint32_t d = vaddlvq_u16(acc);
    if (i + 8 <= bytes) {
        d += vaddv_u8(vcnt_u8(veor_u8(vld1_u8(a + i), vld1_u8(b + i))));
        i += 8;
    }
    /* Up to 7 tail bytes, packed into one 8-byte lane. */
    uint64_t t = 0;
    for (size_t s = 0; i < bytes; i++, s += 8)
        t |= (uint64_t)(a[i] ^ b[i]) << s;
    return d + vaddv_u8(vcnt_u8(vcreate_u8(t)));
}

void deja__hamming_1xn_neon(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                            uint32_t *out)
{
    if (bytes == 32) {
        uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
        for (size_t r = 0; r < n; r++) {
            const uint8_t *p = rows + r * 32;
            uint8x16_t c = vaddq_u8(vcntq_u8(veorq_u8(q0, vld1q_u8(p))),
                                    vcntq_u8(veorq_u8(q1, vld1q_u8(p + 16))));
            out[r] = vaddlvq_u8(c);
        }
        return;
    }
    for (size_t r = 0; r < n; r++)
        out[r] = hamming_any(q, rows + r * bytes, bytes);
}

static float l2sq_row(const float *q, const float *row, size_t dim)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(q + i), vld1q_f32(row + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(q + i + 4), vld1q_f32(row + i + 4));
        a0 = vfmaq_f32(a0, d0, d0);
        a1 = vfmaq_f32(a1, d1, d1);
    }
    if (i + 4 <= dim) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(q + i), vld1q_f32(row + i));
        a0 = vfmaq_f32(a0, d0, d0);
        i += 4;
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < dim; i++) {
        float d = deja__loadf(q, i) - deja__loadf(row, i);
        s += d * d;
    }
    return s;
}

void deja__l2sq_1xn_neon(const float *q, const float *rows, size_t dim, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = l2sq_row(q, rows + r * dim, dim);
}

float deja__dot_f32_neon(const float *a, const float *b, size_t n)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(a + i), vld1q_f32(b + i));
        a1 = vfmaq_f32(a1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    if (i + 4 <= n) {
        a0 = vfmaq_f32(a0, vld1q_f32(a + i), vld1q_f32(b + i));
        i += 4;
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++)
        s += deja__loadf(a, i) * deja__loadf(b, i);
    return s;
}

#else
typedef int deja__kern_neon_empty; /* ISO C wants a non-empty translation unit */
#endif /* __aarch64__ */
