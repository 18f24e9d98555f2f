/* kern_fast.c - FAST-9 segment test on a row (Rosten & Drummond 2006).
 *
 * The 16 pixels of the radius-3 Bresenham circle are classified brighter / darker / similar;
 * a corner has 9 contiguous pixels of one class. The scalar version rejects most pixels with
 * the four compass points first (a 9-arc always covers at least two of them).
 *
 * The SSE2 (x86-64 baseline) and NEON (aarch64 baseline) versions test 16 pixels at once, one
 * per byte lane. Saturating v + t and v - t give exactly the scalar comparisons (a circle pixel
 * can never be > 255 nor < 0). A 9-arc always covers two *adjacent* compass points, so
 * (b0 | b8) & (b4 | b12) over brighter (or darker) masks is a necessary condition that skips
 * two thirds of the 16-pixel blocks of a real image (and a polarity no lane passes is skipped).
 * Blocks that pass count run lengths along the circle in every lane, run = (run + 1) & mask,
 * keeping the lane maximum (two chains of 16 steps cover the 16 arc starts); a lane is a
 * corner when it reaches 9. A row tail is done as the last 16 pixels of the row again, with
 * the lanes already done shifted out. Rows shorter than 16 pixels and thresholds outside 0..255
 * go to the scalar version; all give identical output. An AVX2 version (32 pixels, same
 * steps) serves the AVX2 kernel set; its short rows go to the SSE2 one. */
#include "simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

/* The circle, clockwise from 12 o'clock (shared by every version). */
static const int CDX[16] = {0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1};
static const int CDY[16] = {-3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3};

/* Circle offsets, clockwise from 12 o'clock. */
static void circle(ptrdiff_t stride, ptrdiff_t off[16])
{
    for (int i = 0; i < 16; i++)
        off[i] = CDY[i] * stride + CDX[i];
}

static int has_arc9(unsigned mask16)
{
    unsigned m = mask16 | (mask16 << 16); /* wrap around */
    /* 9 consecutive ones: AND of 9 shifted copies. */
    unsigned r = m;
    for (int s = 1; s < 9; s++)
        r &= m >> s;
    return (r & 0xFFFFu) != 0;
}

int deja__fast_row_ref(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                       int32_t *xs)
{
    ptrdiff_t off[16];
    circle(stride, off);
    int n = 0;
    for (int x = x0; x < x1; x++) {
        const uint8_t *p = row + x;
        int v = p[0], hi = v + threshold, lo = v - threshold;
        int a = p[off[0]], b = p[off[4]], c = p[off[8]], d = p[off[12]];
        int bright = (a > hi) + (b > hi) + (c > hi) + (d > hi);
        int dark = (a < lo) + (b < lo) + (c < lo) + (d < lo);
        if (bright < 2 && dark < 2) continue;
        unsigned mb = 0, md = 0;
        for (int i = 0; i < 16; i++) {
            int q = p[off[i]];
            mb |= (unsigned)(q > hi) << i;
            md |= (unsigned)(q < lo) << i;
        }
        if (has_arc9(mb) || has_arc9(md)) xs[n++] = x;
    }
    return n;
}

#if defined(__x86_64__)
/* Unsigned a > b on bytes through the signed compare: flip the top bits first. */
static inline __m128i gt_u8(__m128i a, __m128i b)
{
    const __m128i k = _mm_set1_epi8((char)0x80);
    return _mm_cmpgt_epi8(_mm_xor_si128(a, k), _mm_xor_si128(b, k));
}

/* Lanes whose mask sequence m[0..15] holds 9 contiguous set lanes (circularly). Runs are
 * counted in two independent chains (shorter dependency chains for the out-of-order core):
 * steps 0..15 see the arcs that start at 0..7, steps 8..23 those that start at 8..15; only
 * runs ending at the 9th step of a chain or later can reach 9. */
static inline __m128i arc9(const __m128i m[16])
{
    __m128i ra = _mm_setzero_si128(), rb = ra, ba = ra, bb = ra;
    for (int k = 0; k < 16; k++) {
        __m128i ma = m[k], mb = m[(k + 8) & 15];
        ra = _mm_and_si128(_mm_sub_epi8(ra, ma), ma); /* masks are 0 or -1 */
        rb = _mm_and_si128(_mm_sub_epi8(rb, mb), mb);
        if (k >= 8) ba = _mm_max_epu8(ba, ra), bb = _mm_max_epu8(bb, rb);
    }
    return _mm_cmpgt_epi8(_mm_max_epu8(ba, bb), _mm_set1_epi8(8));
}

/* Corner lanes of the 16 pixels at p, as a bit mask. */
static inline unsigned block_sse2(const uint8_t *p, const ptrdiff_t off[16], __m128i t)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i hi = _mm_adds_epu8(v, t), lo = _mm_subs_epu8(v, t);
#define LD(i) _mm_loadu_si128((const __m128i *)(p + off[i]))
    __m128i c0 = LD(0), c4 = LD(4), c8 = LD(8), c12 = LD(12);
    __m128i b = _mm_and_si128(_mm_or_si128(gt_u8(c0, hi), gt_u8(c8, hi)),
                              _mm_or_si128(gt_u8(c4, hi), gt_u8(c12, hi)));
    __m128i d = _mm_and_si128(_mm_or_si128(gt_u8(lo, c0), gt_u8(lo, c8)),
                              _mm_or_si128(gt_u8(lo, c4), gt_u8(lo, c12)));
    /* Only polarities that some lane may still have are counted. */
    int any_b = _mm_movemask_epi8(b), any_d = _mm_movemask_epi8(d);
    if ((any_b | any_d) == 0) return 0;
    __m128i m[16], r = _mm_setzero_si128();
    if (any_b) {
        for (int i = 0; i < 16; i++)
            m[i] = gt_u8(LD(i), hi);
        r = arc9(m);
    }
    if (any_d) {
        for (int i = 0; i < 16; i++)
            m[i] = gt_u8(lo, LD(i));
        r = _mm_or_si128(r, arc9(m));
    }
#undef LD
    return (unsigned)_mm_movemask_epi8(r);
}

int deja__fast_row_sse2(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                        int32_t *xs)
{
    if (threshold < 0 || threshold > 255 || x1 - x0 < 16)
        return deja__fast_row_ref(row, stride, x0, x1, threshold, xs);
    ptrdiff_t off[16];
    circle(stride, off);
    const __m128i t = _mm_set1_epi8((char)threshold);
    int n = 0;
    for (int x = x0; x < x1; x += 16) {
        unsigned bits;
        if (x + 16 > x1) {
            /* Tail: the last 16 pixels again, without the lanes already done. */
            bits = block_sse2(row + x1 - 16, off, t) >> (x - (x1 - 16));
        } else {
            bits = block_sse2(row + x, off, t);
        }
        while (bits) {
            xs[n++] = x + __builtin_ctz(bits);
            bits &= bits - 1;
        }
    }
    return n;
}
#endif

#if defined(__x86_64__)
/* AVX2: the same, 32 pixels per block. The file is compiled without -m flags; these functions
 * carry their own target attribute, and simd.c hands them out only when the CPU has AVX2. */
#define T_AVX2 __attribute__((target("avx2")))

T_AVX2 static inline __m256i gt_u8_avx2(__m256i a, __m256i b)
{
    const __m256i k = _mm256_set1_epi8((char)0x80);
    return _mm256_cmpgt_epi8(_mm256_xor_si256(a, k), _mm256_xor_si256(b, k));
}

T_AVX2 static inline __m256i arc9_avx2(const __m256i m[16])
{
    __m256i ra = _mm256_setzero_si256(), rb = ra, ba = ra, bb = ra;
    for (int k = 0; k < 16; k++) {
        __m256i ma = m[k], mb = m[(k + 8) & 15];
        ra = _mm256_and_si256(_mm256_sub_epi8(ra, ma), ma);
        rb = _mm256_and_si256(_mm256_sub_epi8(rb, mb), mb);
        if (k >= 8) ba = _mm256_max_epu8(ba, ra), bb = _mm256_max_epu8(bb, rb);
    }
    return _mm256_cmpgt_epi8(_mm256_max_epu8(ba, bb), _mm256_set1_epi8(8));
}

T_AVX2 static inline uint32_t block_avx2(const uint8_t *p, const ptrdiff_t off[16], __m256i t)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_adds_epu8(v, t), lo = _mm256_subs_epu8(v, t);
#define LD(i) _mm256_loadu_si256((const __m256i *)(p + off[i]))
    __m256i c0 = LD(0), c4 = LD(4), c8 = LD(8), c12 = LD(12);
    __m256i b = _mm256_and_si256(_mm256_or_si256(gt_u8_avx2(c0, hi), gt_u8_avx2(c8, hi)),
                                 _mm256_or_si256(gt_u8_avx2(c4, hi), gt_u8_avx2(c12, hi)));
    __m256i d = _mm256_and_si256(_mm256_or_si256(gt_u8_avx2(lo, c0), gt_u8_avx2(lo, c8)),
                                 _mm256_or_si256(gt_u8_avx2(lo, c4), gt_u8_avx2(lo, c12)));
    int any_b = _mm256_movemask_epi8(b), any_d = _mm256_movemask_epi8(d);
    if ((any_b | any_d) == 0) return 0;
    __m256i m[16], r = _mm256_setzero_si256();
    if (any_b) {
        for (int i = 0; i < 16; i++)
            m[i] = gt_u8_avx2(LD(i), hi);
        r = arc9_avx2(m);
    }
    if (any_d) {
        for (int i = 0; i < 16; i++)
            m[i] = gt_u8_avx2(lo, LD(i));
        r = _mm256_or_si256(r, arc9_avx2(m));
    }
#undef LD
    return (uint32_t)_mm256_movemask_epi8(r);
}

T_AVX2 int deja__fast_row_avx2(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                               int32_t *xs)
{
    if (threshold < 0 || threshold > 255 || x1 - x0 < 32)
        return deja__fast_row_sse2(row, stride, x0, x1, threshold, xs);
    ptrdiff_t off[16];
    circle(stride, off);
    const __m256i t = _mm256_set1_epi8((char)threshold);
    int n = 0;
    for (int x = x0; x < x1; x += 32) {
        uint32_t bits;
        if (x + 32 > x1) {
            /* Tail: the last 32 pixels again, without the lanes already done. */
            bits = block_avx2(row + x1 - 32, off, t) >> (x - (x1 - 32));
        } else {
            bits = block_avx2(row + x, off, t);
        }
        while (bits) {
            xs[n++] = x + __builtin_ctz(bits);
            bits &= bits - 1;
        }
    }
    return n;
}
#endif

#if defined(__aarch64__)
static inline uint8x16_t arc9(const uint8x16_t m[16])
{
    uint8x16_t ra = vdupq_n_u8(0), rb = ra, ba = ra, bb = ra;
    for (int k = 0; k < 16; k++) {
        uint8x16_t ma = m[k], mb = m[(k + 8) & 15];
        ra = vandq_u8(vsubq_u8(ra, ma), ma); /* masks are 0 or 0xFF */
        rb = vandq_u8(vsubq_u8(rb, mb), mb);
        if (k >= 8) ba = vmaxq_u8(ba, ra), bb = vmaxq_u8(bb, rb);
    }
    return vcgtq_u8(vmaxq_u8(ba, bb), vdupq_n_u8(8));
}

/* Corner lanes of the 16 pixels at p, as a nibble per lane (NEON has no movemask). */
static inline uint64_t block_neon(const uint8_t *p, const ptrdiff_t off[16], uint8x16_t t)
{
    uint8x16_t v = vld1q_u8(p);
    uint8x16_t hi = vqaddq_u8(v, t), lo = vqsubq_u8(v, t);
#define LD(i) vld1q_u8(p + off[i])
    uint8x16_t c0 = LD(0), c4 = LD(4), c8 = LD(8), c12 = LD(12);
    uint8x16_t b = vandq_u8(vorrq_u8(vcgtq_u8(c0, hi), vcgtq_u8(c8, hi)),
                            vorrq_u8(vcgtq_u8(c4, hi), vcgtq_u8(c12, hi)));
    uint8x16_t d = vandq_u8(vorrq_u8(vcltq_u8(c0, lo), vcltq_u8(c8, lo)),
                            vorrq_u8(vcltq_u8(c4, lo), vcltq_u8(c12, lo)));
    int any_b = vmaxvq_u8(b) != 0, any_d = vmaxvq_u8(d) != 0;
    if (!any_b && !any_d) return 0;
    uint8x16_t m[16], r = vdupq_n_u8(0);
    if (any_b) {
        for (int i = 0; i < 16; i++)
            m[i] = vcgtq_u8(LD(i), hi);
        r = arc9(m);
    }
    if (any_d) {
        for (int i = 0; i < 16; i++)
            m[i] = vcltq_u8(LD(i), lo);
        r = vorrq_u8(r, arc9(m));
    }
#undef LD
    return vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(r), 4)), 0);
}

int deja__fast_row_neon(const uint8_t *row, ptrdiff_t stride, int x0, int x1, int threshold,
                        int32_t *xs)
{
    if (threshold < 0 || threshold > 255 || x1 - x0 < 16)
        return deja__fast_row_ref(row, stride, x0, x1, threshold, xs);
    ptrdiff_t off[16];
    circle(stride, off);
    const uint8x16_t t = vdupq_n_u8((uint8_t)threshold);
    int n = 0;
    for (int x = x0; x < x1; x += 16) {
        uint64_t bits;
        if (x + 16 > x1) {
            /* Tail: the last 16 pixels again, without the lanes already done. */
            bits = block_neon(row + x1 - 16, off, t) >> (4 * (x - (x1 - 16)));
        } else {
            bits = block_neon(row + x, off, t);
        }
        while (bits) {
            int lane = __builtin_ctzll(bits) >> 2;
            xs[n++] = x + lane;
            bits &= ~(0xFull << (lane * 4));
        }
    }
    return n;
}
#endif
