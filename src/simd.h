/* simd.h - the one portable SIMD layer: a table of kernels chosen once per handle.
 *
 * Each kernel has a portable _ref version (the reference the tests compare against, and the
 * fallback on any CPU), and where it pays an x86-64 (SSE4.2+POPCNT, AVX2) and an aarch64 NEON
 * version. deja_options.simd forces a set; AUTO picks the best the CPU has
 * (__builtin_cpu_supports on x86-64; NEON is always there on aarch64). */
#ifndef DEJA_SIMD_H
#define DEJA_SIMD_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

#include <string.h>

/* Unaligned loads for the kernels' scalar parts (memcpy: no alignment or aliasing assumptions). */
static inline uint64_t deja__load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline float deja__loadf(const void *p, size_t i)
{
    float v;
    memcpy(&v, (const uint8_t *)p + i * sizeof v, sizeof v);
    return v;
}

typedef struct deja__kernels {
    deja_simd kind;
    /* out[i] = Hamming distance between q and rows + i*bytes, for i < n. Any bytes >= 1; the
     * 32-byte case (ORB) is the fast path. No alignment needed. */
    void (*hamming_1xn)(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                        uint32_t *out);
    /* out[i] = squared L2 distance between q and rows + i*dim, for i < n. */
    void (*l2sq_1xn)(const float *q, const float *rows, size_t dim, size_t n, float *out);
    /* sum a[i]*b[i] */
    float (*dot_f32)(const float *a, const float *b, size_t n);
    /* FAST-9 segment test on one image row: writes to xs the x in [x0, x1) where 9 contiguous
     * pixels of the radius-3 Bresenham circle are all brighter than p + threshold or all darker
     * than p - threshold; returns how many. row points at (0, y); the caller keeps 3 pixels of
     * margin on every side (x0 >= 3, x1 <= width - 3, 3 rows above and below). */
    int (*fast_row)(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                    int32_t *xs);
} deja__kernels;

/* Fill *out with the kernel set for want. DEJA_UNSUPPORTED if the CPU (or build) lacks it. */
deja_status deja__kernels_get(deja_simd want, deja__kernels *out);

/* Variants, exported internally so that tests can compare each with _ref. */
void deja__hamming_1xn_ref(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                           uint32_t *out);
void deja__l2sq_1xn_ref(const float *q, const float *rows, size_t dim, size_t n, float *out);
float deja__dot_f32_ref(const float *a, const float *b, size_t n);
int deja__fast_row_ref(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                       int32_t *xs);

#if defined(__x86_64__)
void deja__hamming_1xn_sse42(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                             uint32_t *out);
void deja__hamming_1xn_avx2(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                            uint32_t *out);
void deja__l2sq_1xn_avx2(const float *q, const float *rows, size_t dim, size_t n, float *out);
void deja__l2sq_1xn_sse42(const float *q, const float *rows, size_t dim, size_t n, float *out);
float deja__dot_f32_avx2(const float *a, const float *b, size_t n);
float deja__dot_f32_sse42(const float *a, const float *b, size_t n);
int deja__fast_row_sse2(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                        int32_t *xs);
int deja__fast_row_avx2(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                        int32_t *xs);
#endif
#if defined(__aarch64__)
void deja__hamming_1xn_neon(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                            uint32_t *out);
void deja__l2sq_1xn_neon(const float *q, const float *rows, size_t dim, size_t n, float *out);
float deja__dot_f32_neon(const float *a, const float *b, size_t n);
int deja__fast_row_neon(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                        int32_t *xs);
#endif

#endif
