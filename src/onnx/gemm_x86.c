/* gemm_x86.c - AVX2+FMA kernels of the nn ops: the GEMM micro-kernel and depthwise 3x3 rows.
 *
 * Built without -m flags; every function carries __attribute__((target("avx2,fma"))) and
 * deja__nn_init installs them only after __builtin_cpu_supports has seen avx2 and fma.
 *
 * Micro-kernel 4 x 24: 12 ymm accumulators, and per k step 3 loads of B, 4 broadcasts of A and
 * 12 FMAs, so the two FMA ports, not the two load ports (7 loads), bound it. 4 rows divide every
 * channel count of the ALIKE and MobileNet convs (8, 16, ..., 256) with no padded rows; a 6 x 16
 * tile would waste a third of the first conv's 8 rows. 24 columns divide 320 x 240 (3200 panels).
 *
 * Depthwise rows: 8 outputs per step; stride 1 reads each input row at offsets 0, 1, 2; stride 2
 * loads 16 floats and splits even and odd lanes (VSHUFPS + VPERMPD). Sums run in the portable
 * kernel's order (bias, then taps row by row), tails use fmaf so every element of a row is
 * computed alike. */
#if defined(__x86_64__)

#include "ops.h"

#include <immintrin.h>

#define T_FMA __attribute__((target("avx2,fma")))

T_FMA static inline __m256 finish(__m256 v, const float *c, const deja__nn_tile *t, __m256 bias,
                                  __m256 lo, __m256 hi)
{
    if (t->load_c) v = _mm256_add_ps(v, _mm256_loadu_ps(c));
    v = _mm256_add_ps(v, bias);
    if (t->clamp) v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    return v;
}

T_FMA static inline void store_row(float *c, const deja__nn_tile *t, int r, __m256 v0, __m256 v1,
                                   __m256 v2)
{
    __m256 bias = _mm256_set1_ps(t->bias ? t->bias[r] : 0.0f);
    __m256 lo = _mm256_set1_ps(t->lo), hi = _mm256_set1_ps(t->hi);
    _mm256_storeu_ps(c, finish(v0, c, t, bias, lo, hi));
    _mm256_storeu_ps(c + 8, finish(v1, c + 8, t, bias, lo, hi));
    _mm256_storeu_ps(c + 16, finish(v2, c + 16, t, bias, lo, hi));
}

#define FMA_ROW(r, x0, x1, x2)                                                                     \
    do {                                                                                           \
        __m256 a_ = _mm256_broadcast_ss(a + (r));                                                  \
        x0 = _mm256_fmadd_ps(a_, b0, x0);                                                          \
        x1 = _mm256_fmadd_ps(a_, b1, x1);                                                          \
        x2 = _mm256_fmadd_ps(a_, b2, x2);                                                          \
    } while (0)

T_FMA void deja__nn_ukr_avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                             const deja__nn_tile *t)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
#pragma GCC unroll 4
    for (size_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16);
        FMA_ROW(0, c00, c01, c02);
        FMA_ROW(1, c10, c11, c12);
        FMA_ROW(2, c20, c21, c22);
        FMA_ROW(3, c30, c31, c32);
        a += 4;
        b += 24;
    }
    store_row(c, t, 0, c00, c01, c02);
    store_row(c + ldc, t, 1, c10, c11, c12);
    store_row(c + 2 * ldc, t, 2, c20, c21, c22);
    store_row(c + 3 * ldc, t, 3, c30, c31, c32);
}

T_FMA static inline float finish1(float v, const float *old, const deja__nn_tile *t)
{
    if (t->load_c) v += *old;
    if (t->clamp) v = v < t->lo ? t->lo : v > t->hi ? t->hi : v;
    return v;
}

T_FMA void deja__nn_dw3_s1_avx2(const float *const r[3], const float *w, size_t n, float *out,
                                const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    __m256 wv[9];
    for (int i = 0; i < 9; i++)
        wv[i] = _mm256_set1_ps(w[i]);
    __m256 bv = _mm256_set1_ps(bias), lo = _mm256_set1_ps(t->lo), hi = _mm256_set1_ps(t->hi);
    __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    /* Reads up to r[ky][i + 9] <= r[ky][n + 1], the last tap. */
    for (; i + 8 <= n; i += 8) {
        __m256 s = bv;
        for (int ky = 0; ky < 3; ky++) {
            const float *p = r[ky] + i;
            s = _mm256_fmadd_ps(wv[3 * ky], _mm256_loadu_ps(p), s);
            s = _mm256_fmadd_ps(wv[3 * ky + 1], _mm256_loadu_ps(p + 1), s);
            s = _mm256_fmadd_ps(wv[3 * ky + 2], _mm256_loadu_ps(p + 2), s);
        }
        _mm256_storeu_ps(out + i, finish(s, out + i, t, zero, lo, hi));
    }
    for (; i < n; i++) {
        float s = bias;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s = fmaf(w[3 * ky + kx], r[ky][i + (size_t)kx], s);
        out[i] = finish1(s, out + i, t);
    }
}

/* Even and odd lanes of the 16 floats a:b, in order. */
T_FMA static inline __m256 evens(__m256 a, __m256 b)
{
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

T_FMA static inline __m256 odds(__m256 a, __m256 b)
{
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

T_FMA void deja__nn_dw3_s2_avx2(const float *const r[3], const float *w, size_t n, float *out,
                                const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    __m256 wv[9];
    for (int i = 0; i < 9; i++)
        wv[i] = _mm256_set1_ps(w[i]);
    __m256 bv = _mm256_set1_ps(bias), lo = _mm256_set1_ps(t->lo), hi = _mm256_set1_ps(t->hi);
    __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    /* Reads up to r[ky][2i + 17] <= r[ky][2n - 1] while i + 9 <= n; the last tap is 2n. */
    for (; i + 9 <= n; i += 8) {
        __m256 s = bv;
        for (int ky = 0; ky < 3; ky++) {
            const float *p = r[ky] + 2 * i;
            __m256 l0 = _mm256_loadu_ps(p), l1 = _mm256_loadu_ps(p + 8);
            __m256 m0 = _mm256_loadu_ps(p + 2), m1 = _mm256_loadu_ps(p + 10);
            s = _mm256_fmadd_ps(wv[3 * ky], evens(l0, l1), s);
            s = _mm256_fmadd_ps(wv[3 * ky + 1], odds(l0, l1), s);
            s = _mm256_fmadd_ps(wv[3 * ky + 2], evens(m0, m1), s);
        }
        _mm256_storeu_ps(out + i, finish(s, out + i, t, zero, lo, hi));
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
