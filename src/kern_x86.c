/* kern_x86.c - x86-64 kernels: SSE4.2+POPCNT and AVX2(+FMA) variants of simd.h's kernels.
 *
 * The file is compiled without -m flags; each function carries its own
 * __attribute__((target(...))), so the library runs on any x86-64 and simd.c calls a variant only
 * after __builtin_cpu_supports has confirmed the instructions exist.
 *
 * Hamming: the 32-byte ORB descriptor is the hot case (a vocabulary descent compares one query
 * with k ~ 10 contiguous centroids per level). Two ways to count bits were measured for 1 x 10
 * rows (docs/simd.md): four scalar POPCNTs per row (12.2 ns per call), and AVX2 nibble lookup
 * (Mula, Kurz, Lemire 2018, "Faster population counts using AVX2 instructions": VPSHUFB on each
 * nibble, then VPSADBW sums bytes) four rows at a time so that one horizontal reduction serves
 * four rows (10.7 ns). The SSE4.2 set uses the former, the AVX2 set the latter. Other lengths
 * take 8-byte POPCNT steps plus a tail packed into one word; long rows use the lookup too.
 *
 * Floats: lanes accumulate independently (two accumulators hide the add latency) and are
 * reduced at the end; the AVX2 set uses FMA when the CPU has it, which rounds once per
 * multiply-add, so results differ from the reference in the last bits only. */
#if defined(__x86_64__)

#include "simd.h"

#include <immintrin.h>
#include <string.h>

#define T_POPCNT __attribute__((target("popcnt")))
#define T_SSE42  __attribute__((target("sse4.2,popcnt")))
#define T_AVX2   __attribute__((target("avx2,popcnt")))
#define T_FMA    __attribute__((target("avx2,fma,popcnt")))

/* Bytes [i, bytes) of a ^ b, at most 7 of them, counted in one POPCNT. */
T_POPCNT static inline uint32_t tail_bits(const uint8_t *a, const uint8_t *b, size_t i,
                                          size_t bytes)
{
    uint64_t t = 0;
    for (size_t s = 0; i < bytes; i++, s += 8)
        t |= (uint64_t)(a[i] ^ b[i]) << s;
    return (uint32_t)__builtin_popcountll(t);
}

T_POPCNT static inline uint32_t popcnt_words(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    uint32_t d = 0;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8)
        d += (uint32_t)__builtin_popcountll(deja__load64(a + i) ^ deja__load64(b + i));
    return d + tail_bits(a, b, i, bytes);
}

/* ---- SSE4.2 + POPCNT ----------------------------------------------------------------------- */

T_SSE42 void deja__hamming_1xn_sse42(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                                     uint32_t *out)
{
    if (bytes == 32) {
        /* The query stays in registers; each row is four loads, XORs and POPCNTs. */
        uint64_t q0 = deja__load64(q), q1 = deja__load64(q + 8), q2 = deja__load64(q + 16), q3 = deja__load64(q + 24);
        for (size_t r = 0; r < n; r++) {
            const uint8_t *p = rows + r * 32;
            out[r] = (uint32_t)(__builtin_popcountll(q0 ^ deja__load64(p)) +
                                __builtin_popcountll(q1 ^ deja__load64(p + 8)) +
                                __builtin_popcountll(q2 ^ deja__load64(p + 16)) +
                                __builtin_popcountll(q3 ^ deja__load64(p + 24)));
        }
        return;
    }
    for (size_t r = 0; r < n; r++)
        out[r] = popcnt_words(q, rows + r * bytes, bytes);
}

/* Horizontal sum of 4 floats. */
T_SSE42 static inline float hsum128(__m128 v)
{
    __m128 h = _mm_add_ps(v, _mm_movehl_ps(v, v));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

T_SSE42 static float l2sq_sse42(const float *q, const float *row, size_t dim)
{
    __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m128 d0 = _mm_sub_ps(_mm_loadu_ps(q + i), _mm_loadu_ps(row + i));
        __m128 d1 = _mm_sub_ps(_mm_loadu_ps(q + i + 4), _mm_loadu_ps(row + i + 4));
        a0 = _mm_add_ps(a0, _mm_mul_ps(d0, d0));
        a1 = _mm_add_ps(a1, _mm_mul_ps(d1, d1));
    }
    if (i + 4 <= dim) {
        __m128 d0 = _mm_sub_ps(_mm_loadu_ps(q + i), _mm_loadu_ps(row + i));
        a0 = _mm_add_ps(a0, _mm_mul_ps(d0, d0));
        i += 4;
    }
    float s = hsum128(_mm_add_ps(a0, a1));
    for (; i < dim; i++) {
        float d = deja__loadf(q, i) - deja__loadf(row, i);
        s += d * d;
    }
    return s;
}

T_SSE42 void deja__l2sq_1xn_sse42(const float *q, const float *rows, size_t dim, size_t n,
                                  float *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = l2sq_sse42(q, rows + r * dim, dim);
}

T_SSE42 float deja__dot_f32_sse42(const float *a, const float *b, size_t n)
{
    __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
    }
    if (i + 4 <= n) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        i += 4;
    }
    float s = hsum128(_mm_add_ps(a0, a1));
    for (; i < n; i++)
        s += deja__loadf(a, i) * deja__loadf(b, i);
    return s;
}

/* ---- AVX2 ------------------------------------------------------------------------------------ */

/* Per-byte popcount of v: look up the low and the high nibble in a 16-entry table. */
T_AVX2 static inline __m256i popcnt_bytes(__m256i v)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                         1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
    __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
    return _mm256_add_epi8(lo, hi);
}

/* Four 64-bit partial sums per row (VPSADBW) for rows r0..r3 of 32 bytes. */
T_AVX2 static inline __m256i sad_row(__m256i qv, const uint8_t *p)
{
    __m256i x = _mm256_xor_si256(qv, _mm256_loadu_si256((const __m256i *)p));
    return _mm256_sad_epu8(popcnt_bytes(x), _mm256_setzero_si256());
}

/* Four rows at a time: interleave the four rows' partial sums as 32-bit lanes so that two
 * unpacks and two adds reduce all four together, then store the four distances at once. */
T_AVX2 static void hamming32_lut(const uint8_t *q, const uint8_t *rows, size_t n, uint32_t *out)
{
    __m256i qv = _mm256_loadu_si256((const __m256i *)q);
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const uint8_t *p = rows + r * 32;
        __m256i s0 = sad_row(qv, p), s1 = sad_row(qv, p + 32);
        __m256i s2 = sad_row(qv, p + 64), s3 = sad_row(qv, p + 96);
        /* 32-bit lanes per 128-bit half: [r0 r1 r0 r1] and [r2 r3 r2 r3]. */
        __m256i s01 = _mm256_or_si256(s0, _mm256_slli_epi64(s1, 32));
        __m256i s23 = _mm256_or_si256(s2, _mm256_slli_epi64(s3, 32));
        __m256i t =
            _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
        __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        _mm_storeu_si128((__m128i *)(out + r), u);
    }
    for (; r < n; r++) {
        __m256i s = sad_row(qv, rows + r * 32);
        __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        out[r] = (uint32_t)(_mm_cvtsi128_si32(h) + _mm_extract_epi32(h, 2));
    }
}

/* Any length: 32-byte blocks by lookup, summed in 64-bit lanes, then POPCNT for the rest. */
T_AVX2 static uint32_t hamming_long_avx2(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32) {
        __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + i)),
                                     _mm256_loadu_si256((const __m256i *)(b + i)));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_bytes(x), _mm256_setzero_si256()));
    }
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    uint64_t d = (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
    return (uint32_t)d + popcnt_words(a + i, b + i, bytes - i);
}

T_AVX2 void deja__hamming_1xn_avx2(const uint8_t *q, const uint8_t *rows, size_t bytes, size_t n,
                                   uint32_t *out)
{
    if (bytes == 32) {
        hamming32_lut(q, rows, n, out);
        return;
    }
    if (bytes < 32) {
        for (size_t r = 0; r < n; r++)
            out[r] = popcnt_words(q, rows + r * bytes, bytes);
        return;
    }
    for (size_t r = 0; r < n; r++)
        out[r] = hamming_long_avx2(q, rows + r * bytes, bytes);
}

T_AVX2 static inline float hsum256(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

T_FMA static float l2sq_fma(const float *q, const float *row, size_t dim)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(row + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(row + i + 8));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    if (i + 8 <= dim) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(row + i));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < dim; i++) {
        float d = deja__loadf(q, i) - deja__loadf(row, i);
        s += d * d;
    }
    return s;
}

T_FMA void deja__l2sq_1xn_avx2(const float *q, const float *rows, size_t dim, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++)
        out[r] = l2sq_fma(q, rows + r * dim, dim);
}

T_FMA float deja__dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        i += 8;
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += deja__loadf(a, i) * deja__loadf(b, i);
    return s;
}

#else
typedef int deja__kern_x86_empty; /* ISO C wants a non-empty translation unit */
#endif /* __x86_64__ */
