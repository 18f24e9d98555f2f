/* gemm_neon.c - aarch64 NEON kernels of the nn ops: the GEMM micro-kernel and depthwise 3x3 rows.
 * (Advanced SIMD is part of ARMv8-A: no run-time check.)
 *
 * Micro-kernel 8 x 12: 24 of the 32 q-registers accumulate; per k step A is two 4-float loads
 * and B three, and each accumulator takes one FMLA by lane (vfmaq_laneq_f32), so no broadcasts.
 * 8 rows divide every channel count of the models from 8 up.
 *
 * Depthwise rows: 4 outputs per step; stride 1 loads each input row at offsets 0, 1, 2;
 * stride 2 uses LD2, which splits even and odd lanes while loading. Sums in the portable order
 * (bias, then taps row by row); the tails use fmaf (one FMADD) like the vector body. */
#if defined(__aarch64__)

#include "ops.h"

#include <arm_neon.h>

static inline float32x4_t finish(float32x4_t v, const float *c, const deja__nn_tile *t,
                                 float32x4_t bias, float32x4_t lo, float32x4_t hi)
{
    if (t->load_c) v = vaddq_f32(v, vld1q_f32(c));
    v = vaddq_f32(v, bias);
    if (t->clamp) v = vminq_f32(vmaxq_f32(v, lo), hi);
    return v;
}

static inline void store_row(float *c, const deja__nn_tile *t, int r, float32x4_t v0,
                             float32x4_t v1, float32x4_t v2)
{
    float32x4_t bias = vdupq_n_f32(t->bias ? t->bias[r] : 0.0f);
    float32x4_t lo = vdupq_n_f32(t->lo), hi = vdupq_n_f32(t->hi);
    vst1q_f32(c, finish(v0, c, t, bias, lo, hi));
    vst1q_f32(c + 4, finish(v1, c + 4, t, bias, lo, hi));
    vst1q_f32(c + 8, finish(v2, c + 8, t, bias, lo, hi));
}

#define FMLA_ROW(x0, x1, x2, av, lane)                                                             \
    do {                                                                                           \
        x0 = vfmaq_laneq_f32(x0, b0, av, lane);                                                    \
        x1 = vfmaq_laneq_f32(x1, b1, av, lane);                                                    \
        x2 = vfmaq_laneq_f32(x2, b2, av, lane);                                                    \
    } while (0)

void deja__nn_ukr_neon(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                       const deja__nn_tile *t)
{
    float32x4_t z = vdupq_n_f32(0.0f);
    float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
    float32x4_t c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
    float32x4_t c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
    for (size_t k = 0; k < kc; k++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        FMLA_ROW(c00, c01, c02, a0, 0);
        FMLA_ROW(c10, c11, c12, a0, 1);
        FMLA_ROW(c20, c21, c22, a0, 2);
        FMLA_ROW(c30, c31, c32, a0, 3);
        FMLA_ROW(c40, c41, c42, a1, 0);
        FMLA_ROW(c50, c51, c52, a1, 1);
        FMLA_ROW(c60, c61, c62, a1, 2);
        FMLA_ROW(c70, c71, c72, a1, 3);
        a += 8;
        b += 12;
    }
    store_row(c, t, 0, c00, c01, c02);
    store_row(c + ldc, t, 1, c10, c11, c12);
    store_row(c + 2 * ldc, t, 2, c20, c21, c22);
    store_row(c + 3 * ldc, t, 3, c30, c31, c32);
    store_row(c + 4 * ldc, t, 4, c40, c41, c42);
    store_row(c + 5 * ldc, t, 5, c50, c51, c52);
    store_row(c + 6 * ldc, t, 6, c60, c61, c62);
    store_row(c + 7 * ldc, t, 7, c70, c71, c72);
}

static inline float finish1(float v, const float *old, const deja__nn_tile *t)
{
    if (t->load_c) v += *old;
    if (t->clamp) v = v < t->lo ? t->lo : v > t->hi ? t->hi : v;
    return v;
}

void deja__nn_dw3_s1_neon(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    float32x4_t lo = vdupq_n_f32(t->lo), hi = vdupq_n_f32(t->hi);
    size_t i = 0;
    /* Reads up to r[ky][i + 5] <= r[ky][n + 1], the last tap. */
    for (; i + 4 <= n; i += 4) {
        float32x4_t s = vdupq_n_f32(bias);
        for (int ky = 0; ky < 3; ky++) {
            const float *p = r[ky] + i;
            s = vfmaq_n_f32(s, vld1q_f32(p), w[3 * ky]);
            s = vfmaq_n_f32(s, vld1q_f32(p + 1), w[3 * ky + 1]);
            s = vfmaq_n_f32(s, vld1q_f32(p + 2), w[3 * ky + 2]);
        }
        vst1q_f32(out + i, finish(s, out + i, t, vdupq_n_f32(0.0f), lo, hi));
    }
    for (; i < n; i++) {
        float s = bias;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s = fmaf(w[3 * ky + kx], r[ky][i + (size_t)kx], s);
        out[i] = finish1(s, out + i, t);
    }
}

void deja__nn_dw3_s2_neon(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    float32x4_t lo = vdupq_n_f32(t->lo), hi = vdupq_n_f32(t->hi);
    size_t i = 0;
    /* LD2 at 2i + 2 reads up to r[ky][2i + 9] <= r[ky][2n - 1] while i + 5 <= n. */
    for (; i + 5 <= n; i += 4) {
        float32x4_t s = vdupq_n_f32(bias);
        for (int ky = 0; ky < 3; ky++) {
            const float *p = r[ky] + 2 * i;
            float32x4x2_t l = vld2q_f32(p), m = vld2q_f32(p + 2);
            s = vfmaq_n_f32(s, l.val[0], w[3 * ky]);
            s = vfmaq_n_f32(s, l.val[1], w[3 * ky + 1]);
            s = vfmaq_n_f32(s, m.val[0], w[3 * ky + 2]);
        }
        vst1q_f32(out + i, finish(s, out + i, t, vdupq_n_f32(0.0f), lo, hi));
    }
    for (; i < n; i++) {
        float s = bias;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s = fmaf(w[3 * ky + kx], r[ky][2 * i + (size_t)kx], s);
        out[i] = finish1(s, out + i, t);
    }
}

#endif
