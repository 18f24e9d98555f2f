/* orb_kern.c - per-keypoint kernels of the ORB extractor: FAST score, Harris response,
 * intensity-centroid moments. Each has a portable _ref and an x86-64 SSE2 version (SSE2 is part
 * of the base ISA, so no run-time check); all are integer and give identical results, which
 * tests/test_orb.c checks on random images. DEJA_SIMD_SCALAR makes orb.c call the _ref ones.
 *
 * FAST score (Rosten & Drummond 2006): the largest threshold at which the pixel is still a
 * corner = max over the 16 9-arcs and both polarities of the smallest difference on the arc.
 * Arc minima by doubling windows (2, 4, 8, then 9); the SSE2 version holds the 16 saturated
 * differences of one polarity in the bytes of a register and rotates it.
 *
 * Harris (Harris & Stephens 1988) on the 7x7 block with 3x3 Sobel gradients, as OpenCV's ORB:
 * a = sum Ix^2, b = sum Iy^2, c = sum Ix Iy (< 2^31), response * 25 = 25 (ab - c^2) - (a + b)^2,
 * i.e. k = 0.04, in 64 bits. SSE2: one register row of 8 int16 lanes per block row (7 used),
 * Sobel as row differences and [1 2 1] sums, squares summed by _mm_madd_epi16.
 *
 * Moments (Rosin 1999): m10 = sum u I, m01 = sum v I over the disc |u| <= umax[|v|]; rows +v
 * and -v are done together (their sum is weighted by u, their difference by v). SSE2: 32-byte
 * rows, masked to the disc, widened to int16 and weighted with _mm_madd_epi16. */
#include "orb.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

static const int CDX[16] = {0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1};
static const int CDY[16] = {-3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3};

int deja__orb_fast_score_ref(const uint8_t *p, ptrdiff_t st)
{
    /* Differences doubled over 25 entries so that every 9-arc is contiguous. */
    int d[25];
    const int v = p[0];
    for (int i = 0; i < 16; i++)
        d[i] = p[CDY[i] * st + CDX[i]] - v;
    for (int i = 16; i < 25; i++)
        d[i] = d[i - 16];
    int mn[24], mx[24];
    for (int i = 0; i < 24; i++) {
        mn[i] = d[i] < d[i + 1] ? d[i] : d[i + 1];
        mx[i] = d[i] > d[i + 1] ? d[i] : d[i + 1];
    }
    for (int i = 0; i < 22; i++) {
        mn[i] = mn[i] < mn[i + 2] ? mn[i] : mn[i + 2];
        mx[i] = mx[i] > mx[i + 2] ? mx[i] : mx[i + 2];
    }
    int bright = -255, dark = 255;
    for (int i = 0; i < 16; i++) {
        int a = mn[i] < mn[i + 4] ? mn[i] : mn[i + 4];
        int b = mx[i] > mx[i + 4] ? mx[i] : mx[i + 4];
        a = a < d[i + 8] ? a : d[i + 8];
        b = b > d[i + 8] ? b : d[i + 8];
        bright = a > bright ? a : bright;
        dark = b < dark ? b : dark;
    }
    int s = bright > -dark ? bright : -dark;
    return s > 0 ? s : 0;
}

int64_t deja__orb_harris_ref(const uint8_t *c, ptrdiff_t st)
{
    int32_t a = 0, b = 0, cc = 0;
    for (int v = -3; v <= 3; v++) {
        const uint8_t *r = c + v * st, *u = r - st, *d = r + st;
        for (int k = -3; k <= 3; k++) {
            int ix = 2 * (r[k + 1] - r[k - 1]) + (u[k + 1] - u[k - 1]) + (d[k + 1] - d[k - 1]);
            int iy = 2 * (d[k] - u[k]) + (d[k - 1] - u[k - 1]) + (d[k + 1] - u[k + 1]);
            a += ix * ix, b += iy * iy, cc += ix * iy;
        }
    }
    return 25 * ((int64_t)a * b - (int64_t)cc * cc) - ((int64_t)a + b) * ((int64_t)a + b);
}

void deja__orb_moments_ref(const uint8_t *c, ptrdiff_t st, const int *umax, int32_t *m10,
                           int32_t *m01)
{
    int32_t s10 = 0, s01 = 0;
    for (int u = -umax[0]; u <= umax[0]; u++)
        s10 += u * c[u];
    for (int v = 1; v <= DEJA_ORB_PATCH_RADIUS; v++) {
        const uint8_t *dn = c + v * st, *up = c - v * st;
        int d = umax[v], vsum = 0;
        for (int u = -d; u <= d; u++) {
            vsum += dn[u] - up[u];
            s10 += u * (dn[u] + up[u]);
        }
        s01 += v * vsum;
    }
    *m10 = s10, *m01 = s01;
}

#if defined(__x86_64__)
/* Lane i <- lane i + k (mod 16): a byte rotation. */
#define ROT(x, k) _mm_or_si128(_mm_srli_si128((x), (k)), _mm_slli_si128((x), 16 - (k)))

static inline __m128i arc_min9(__m128i d)
{
    __m128i m = _mm_min_epu8(d, ROT(d, 1));
    m = _mm_min_epu8(m, ROT(m, 2));
    m = _mm_min_epu8(m, ROT(m, 4));
    return _mm_min_epu8(m, ROT(d, 8));
}

int deja__orb_fast_score_sse2(const uint8_t *p, ptrdiff_t st)
{
    /* Gather the circle two bytes at a time. */
    __m128i c = _mm_setzero_si128();
#define PAIR(i)                                                                                    \
    (p[CDY[2 * (i)] * st + CDX[2 * (i)]] | p[CDY[2 * (i) + 1] * st + CDX[2 * (i) + 1]] << 8)
    c = _mm_insert_epi16(c, PAIR(0), 0);
    c = _mm_insert_epi16(c, PAIR(1), 1);
    c = _mm_insert_epi16(c, PAIR(2), 2);
    c = _mm_insert_epi16(c, PAIR(3), 3);
    c = _mm_insert_epi16(c, PAIR(4), 4);
    c = _mm_insert_epi16(c, PAIR(5), 5);
    c = _mm_insert_epi16(c, PAIR(6), 6);
    c = _mm_insert_epi16(c, PAIR(7), 7);
#undef PAIR
    const __m128i v = _mm_set1_epi8((char)p[0]);
    /* Saturated differences: min over an arc of max(d, 0) = max(min over the arc, 0). */
    __m128i m = _mm_max_epu8(arc_min9(_mm_subs_epu8(c, v)), arc_min9(_mm_subs_epu8(v, c)));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 8));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 4));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 2));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 1));
    return _mm_cvtsi128_si32(m) & 0xFF;
}

static inline int32_t hsum32(__m128i x)
{
    x = _mm_add_epi32(x, _mm_srli_si128(x, 8));
    x = _mm_add_epi32(x, _mm_srli_si128(x, 4));
    return _mm_cvtsi128_si32(x);
}

int64_t deja__orb_harris_sse2(const uint8_t *c, ptrdiff_t st)
{
    const __m128i z = _mm_setzero_si128();
    /* Lanes 0..6 hold block columns -3..3; lane 7 is masked out. */
    const __m128i keep = _mm_set_epi16(0, -1, -1, -1, -1, -1, -1, -1);
    __m128i dx[9], sm[9];
    for (int r = 0; r < 9; r++) {
        __m128i row = _mm_loadu_si128((const __m128i *)(c + (r - 4) * st - 4));
        __m128i l = _mm_unpacklo_epi8(row, z);                    /* columns -4..3 */
        __m128i m = _mm_unpacklo_epi8(_mm_srli_si128(row, 1), z); /* -3..4 */
        __m128i h = _mm_unpacklo_epi8(_mm_srli_si128(row, 2), z); /* -2..5 */
        dx[r] = _mm_sub_epi16(h, l);
        sm[r] = _mm_add_epi16(_mm_add_epi16(l, h), _mm_add_epi16(m, m));
    }
    __m128i a = z, b = z, cc = z;
    for (int r = 1; r < 8; r++) {
        __m128i ix =
            _mm_add_epi16(_mm_add_epi16(dx[r - 1], dx[r + 1]), _mm_add_epi16(dx[r], dx[r]));
        __m128i iy = _mm_sub_epi16(sm[r + 1], sm[r - 1]);
        ix = _mm_and_si128(ix, keep), iy = _mm_and_si128(iy, keep);
        a = _mm_add_epi32(a, _mm_madd_epi16(ix, ix));
        b = _mm_add_epi32(b, _mm_madd_epi16(iy, iy));
        cc = _mm_add_epi32(cc, _mm_madd_epi16(ix, iy));
    }
    int64_t sa = hsum32(a), sb = hsum32(b), sc = hsum32(cc);
    return 25 * (sa * sb - sc * sc) - (sa + sb) * (sa + sb);
}

void deja__orb_moments_sse2(const uint8_t *c, ptrdiff_t st, const int *umax, int32_t *m10,
                            int32_t *m01)
{
    const __m128i z = _mm_setzero_si128();
    /* Bytes of the 32-pixel row c[-15 .. 16]: |u| per lane, and u per int16 lane. */
    const __m128i abs_lo = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m128i abs_hi = _mm_setr_epi8(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const __m128i u0 = _mm_setr_epi16(-15, -14, -13, -12, -11, -10, -9, -8);
    const __m128i u1 = _mm_setr_epi16(-7, -6, -5, -4, -3, -2, -1, 0);
    const __m128i u2 = _mm_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8);
    const __m128i u3 = _mm_setr_epi16(9, 10, 11, 12, 13, 14, 15, 16);
    __m128i acc10 = z, acc01 = z;
    for (int v = 0; v <= DEJA_ORB_PATCH_RADIUS; v++) {
        const __m128i lim = _mm_set1_epi8((char)(umax[v] + 1));
        const __m128i mlo = _mm_cmplt_epi8(abs_lo, lim), mhi = _mm_cmplt_epi8(abs_hi, lim);
        const uint8_t *dn = c + v * st - 15, *up = c - v * st - 15;
        __m128i dlo = _mm_and_si128(_mm_loadu_si128((const __m128i *)dn), mlo);
        __m128i dhi = _mm_and_si128(_mm_loadu_si128((const __m128i *)(dn + 16)), mhi);
        /* Row 0 is counted once: pair it with zeros. */
        __m128i ulo = z, uhi = z;
        if (v > 0) {
            ulo = _mm_and_si128(_mm_loadu_si128((const __m128i *)up), mlo);
            uhi = _mm_and_si128(_mm_loadu_si128((const __m128i *)(up + 16)), mhi);
        }
        __m128i d0 = _mm_unpacklo_epi8(dlo, z), d1 = _mm_unpackhi_epi8(dlo, z);
        __m128i d2 = _mm_unpacklo_epi8(dhi, z), d3 = _mm_unpackhi_epi8(dhi, z);
        __m128i p0 = _mm_unpacklo_epi8(ulo, z), p1 = _mm_unpackhi_epi8(ulo, z);
        __m128i p2 = _mm_unpacklo_epi8(uhi, z), p3 = _mm_unpackhi_epi8(uhi, z);
        /* m10: u * (down + up); |u| <= 16, sums <= 510: pair sums fit easily. */
        acc10 = _mm_add_epi32(acc10, _mm_madd_epi16(_mm_add_epi16(d0, p0), u0));
        acc10 = _mm_add_epi32(acc10, _mm_madd_epi16(_mm_add_epi16(d1, p1), u1));
        acc10 = _mm_add_epi32(acc10, _mm_madd_epi16(_mm_add_epi16(d2, p2), u2));
        acc10 = _mm_add_epi32(acc10, _mm_madd_epi16(_mm_add_epi16(d3, p3), u3));
        /* m01: v * (down - up). */
        __m128i diff = _mm_add_epi16(_mm_add_epi16(_mm_sub_epi16(d0, p0), _mm_sub_epi16(d1, p1)),
                                     _mm_add_epi16(_mm_sub_epi16(d2, p2), _mm_sub_epi16(d3, p3)));
        acc01 = _mm_add_epi32(acc01, _mm_madd_epi16(diff, _mm_set1_epi16((short)v)));
    }
    *m10 = hsum32(acc10), *m01 = hsum32(acc01);
}
#endif
