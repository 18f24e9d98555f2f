/* image.c - owned grey buffers, bilinear resize, 7x7 Gaussian blur, affine warp.
 *
 * Resize (the ORB pyramid, one level from the previous one) is centre-aligned bilinear, as
 * OpenCV's INTER_LINEAR: dst pixel x samples src at (x + 0.5) * sw / dw - 0.5. Vertical
 * interpolation comes first, into a 16-bit row (7-bit weights: 255 * 128 fits int16), eight
 * pixels per SSE2 multiply; the horizontal pass reads each output's (left, right) pair as one
 * 32-bit load and blends four outputs per _mm_madd_epi16, with a table of taps and weights
 * built once per column chunk (positions are exact 16.16 fixed point, computed per column and
 * per row, not per pixel). Weights are rounded to 1/128, so results are within 2.5 grey levels
 * of exact bilinear at the sharpest edges and 0.3 on average (tests/test_image.c).
 *
 * Blur is the BRIEF pre-smoothing of Rublee et al. 2011 (7x7, sigma 2), separable: a
 * horizontal pass with 8-bit integer taps (sum 256) into 16-bit, then a vertical pass with
 * 16-bit taps (sum 65536) as high-half products, so that every lane stays 16 bits wide: on
 * x86-64 eight pixels per SSE2 instruction (SSE2 is part of the base ISA), elsewhere the same
 * integer formulas in scalar code, bit for bit. Borders are replicated.
 *
 * The affine warp is for tests only: double arithmetic, bilinear, 0 outside the source. */
#include "image.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

bool deja__gray_resize_buffer(const deja_allocator *a, deja__gray *g, int width, int height)
{
    if (width <= 0 || height <= 0 || width > INT32_MAX - 15) return false;
    int stride = (width + 15) & ~15;
    size_t bytes;
    if (!deja__mul_ok((size_t)stride, (size_t)height, &bytes)) return false;
    if (bytes > g->cap) {
        /* Contents are undefined after a resize: free first instead of copying. */
        void *p = deja__alloc(a, bytes);
        if (!p) return false;
        deja__free(a, g->pixels, g->cap);
        g->pixels = p;
        g->cap = bytes;
    }
    g->width = width;
    g->height = height;
    g->stride = stride;
    return true;
}

void deja__gray_free(const deja_allocator *a, deja__gray *g)
{
    deja__free(a, g->pixels, g->cap);
    memset(g, 0, sizeof *g);
}

deja_image deja__gray_view(const deja__gray *g)
{
    return (deja_image){g->width, g->height, g->stride, g->pixels};
}

/* ---- resize ------------------------------------------------------------------------------- */

/* 16.16 source position of dst pixel x: ((x + 0.5) * sn / dn - 0.5), exact to 1/65536. */
static inline int64_t src_pos(int x, int sn, int dn)
{
    return ((((int64_t)(2 * (int64_t)x + 1) * sn - dn) << 16) / (2 * (int64_t)dn));
}

/* Sample position -> left tap and 7-bit weight of the right tap (position rounded to 1/128
 * pixel, so a blend is off by at most half a step), clamped to [0, n - 1]. */
static inline void tap(int64_t f, int n, int *i0, int *w)
{
    f = f < 0 ? 0 : (f + 256) >> 9;
    *i0 = (int)(f >> 7), *w = (int)(f & 127);
    if (*i0 >= n - 1) *i0 = n - 1, *w = 0;
}

/* Work in column chunks with stack tables, so resize needs no scratch from the caller:
 * RESIZE_DST dst pixels per chunk, and their taps span at most RESIZE_SRC src pixels. */
#define RESIZE_DST 256
#define RESIZE_SRC 1024

/* Vertical blend of one chunk of two rows, 7-bit weights: at most 255 * 128 (fits int16). */
static void resize_vertical(const uint8_t *r0, const uint8_t *r1, int n, int wy, int16_t *t)
{
    int c = 0;
#if defined(__x86_64__)
    const __m128i z = _mm_setzero_si128();
    const __m128i w0 = _mm_set1_epi16((short)(128 - wy)), w1 = _mm_set1_epi16((short)wy);
    for (; c + 8 <= n; c += 8) {
        __m128i a = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(r0 + c)), z);
        __m128i b = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(r1 + c)), z);
        __m128i v = _mm_add_epi16(_mm_mullo_epi16(a, w0), _mm_mullo_epi16(b, w1));
        _mm_storeu_si128((__m128i *)(t + c), v);
    }
#endif
    for (; c < n; c++)
        t[c] = (int16_t)(r0[c] * (128 - wy) + r1[c] * wy);
}

void deja__image_resize(const deja_image *src, deja__gray *dst)
{
    const int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height;
    int32_t xo[RESIZE_DST];     /* left tap, relative to the chunk's first src column */
    int16_t wt[2 * RESIZE_DST]; /* (128 - w, w) pairs, as _mm_madd_epi16 wants them */
    int16_t tmp[RESIZE_SRC + 8];
    for (int x = 0; x < dw;) {
        /* Build the chunk's tables; stop where its taps would leave RESIZE_SRC columns. */
        int c0, w, n = 0;
        tap(src_pos(x, sw, dw), sw, &c0, &w);
        for (; n < RESIZE_DST && x + n < dw; n++) {
            int i0;
            tap(src_pos(x + n, sw, dw), sw, &i0, &w);
            if (i0 + 1 - c0 >= RESIZE_SRC) break;
            xo[n] = i0 - c0;
            wt[2 * n] = (int16_t)(128 - w), wt[2 * n + 1] = (int16_t)w;
        }
        int span = xo[n - 1] + 2 < sw - c0 ? xo[n - 1] + 2 : sw - c0; /* src columns used */
        for (int y = 0; y < dh; y++) {
            int y0, wy;
            tap(src_pos(y, sh, dh), sh, &y0, &wy);
            int y1 = y0 + 1 < sh ? y0 + 1 : y0;
            resize_vertical(src->pixels + (ptrdiff_t)y0 * src->stride + c0,
                            src->pixels + (ptrdiff_t)y1 * src->stride + c0, span, wy, tmp);
            tmp[span] = tmp[span - 1]; /* right border: replicate (weight 0 anyway) */
            uint8_t *out = dst->pixels + (ptrdiff_t)y * dst->stride + x;
            int i = 0;
#if defined(__x86_64__)
            /* Each output is one multiply-add of a (left, right) pair: load the pair as 32
             * bits, four pixels per _mm_madd_epi16. Sums stay below 255 * 128 * 128. */
            const __m128i half = _mm_set1_epi32(1 << 13);
            for (; i + 8 <= n; i += 8) {
                __m128i q[2];
                for (int h = 0; h < 2; h++) {
                    const int32_t *o = xo + i + 4 * h;
                    int32_t p0, p1, p2, p3;
                    memcpy(&p0, tmp + o[0], 4), memcpy(&p1, tmp + o[1], 4);
                    memcpy(&p2, tmp + o[2], 4), memcpy(&p3, tmp + o[3], 4);
                    __m128i pr = _mm_set_epi32(p3, p2, p1, p0);
                    __m128i ww = _mm_loadu_si128((const __m128i *)(wt + 2 * (i + 4 * h)));
                    q[h] = _mm_srai_epi32(_mm_add_epi32(_mm_madd_epi16(pr, ww), half), 14);
                }
                __m128i v16 = _mm_packs_epi32(q[0], q[1]);
                _mm_storel_epi64((__m128i *)(out + i), _mm_packus_epi16(v16, v16));
            }
#endif
            for (; i < n; i++) {
                int v = tmp[xo[i]] * wt[2 * i] + tmp[xo[i] + 1] * wt[2 * i + 1];
                out[i] = (uint8_t)((v + (1 << 13)) >> 14);
            }
        }
        x += n;
    }
}

/* ---- blur ----------------------------------------------------------------------------------- */

/* exp(-d^2 / 8) for d = 0..3, normalised: horizontal taps sum to 256, vertical to 65536. */
static const uint16_t HTAP[4] = {56, 49, 33, 18};
static const uint16_t VTAP[4] = {14162, 12499, 8590, 4598};

static inline uint16_t hblur_px(const uint8_t *r, const int *ix)
{
    return (uint16_t)(HTAP[0] * r[ix[3]] + HTAP[1] * (r[ix[2]] + r[ix[4]]) +
                      HTAP[2] * (r[ix[1]] + r[ix[5]]) + HTAP[3] * (r[ix[0]] + r[ix[6]]));
}

/* One row of the horizontal pass: borders with clamped indices, the middle straight. */
static void hblur_row(const uint8_t *r, int w, uint16_t *o)
{
    int x = 0;
    for (; x < w && x < 3; x++) {
        int ix[7];
        for (int k = 0; k < 7; k++) {
            int c = x + k - 3;
            ix[k] = c < 0 ? 0 : c >= w ? w - 1 : c;
        }
        o[x] = hblur_px(r, ix);
    }
#if defined(__x86_64__)
    const __m128i z = _mm_setzero_si128();
    const __m128i t0 = _mm_set1_epi16((short)HTAP[0]), t1 = _mm_set1_epi16((short)HTAP[1]);
    const __m128i t2 = _mm_set1_epi16((short)HTAP[2]), t3 = _mm_set1_epi16((short)HTAP[3]);
    for (; x + 8 + 3 <= w; x += 8) {
        const uint8_t *p = r + x;
#define LD(k) _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(p + (k))), z)
        __m128i s = _mm_mullo_epi16(LD(0), t0);
        s = _mm_add_epi16(s, _mm_mullo_epi16(_mm_add_epi16(LD(-1), LD(1)), t1));
        s = _mm_add_epi16(s, _mm_mullo_epi16(_mm_add_epi16(LD(-2), LD(2)), t2));
        s = _mm_add_epi16(s, _mm_mullo_epi16(_mm_add_epi16(LD(-3), LD(3)), t3));
#undef LD
        _mm_storeu_si128((__m128i *)(o + x), s);
    }
#endif
    for (; x + 3 < w; x++) {
        const uint8_t *p = r + x;
        o[x] = (uint16_t)(HTAP[0] * p[0] + HTAP[1] * (p[-1] + p[1]) + HTAP[2] * (p[-2] + p[2]) +
                          HTAP[3] * (p[-3] + p[3]));
    }
    for (; x < w; x++) {
        int ix[7];
        for (int k = 0; k < 7; k++) {
            int c = x + k - 3;
            ix[k] = c < 0 ? 0 : c >= w ? w - 1 : c;
        }
        o[x] = hblur_px(r, ix);
    }
}

static inline uint16_t mulhi(uint16_t a, uint16_t b)
{
    return (uint16_t)(((uint32_t)a * b) >> 16);
}

/* One output row of the vertical pass from seven 16-bit rows (border rows already clamped). */
static void vblur_row(const uint16_t *const rows[7], int w, uint8_t *o)
{
    int x = 0;
#if defined(__x86_64__)
    const __m128i t0 = _mm_set1_epi16((short)VTAP[0]), t1 = _mm_set1_epi16((short)VTAP[1]);
    const __m128i t2 = _mm_set1_epi16((short)VTAP[2]), t3 = _mm_set1_epi16((short)VTAP[3]);
    const __m128i half = _mm_set1_epi16(128);
    for (; x + 16 <= w; x += 16) {
        __m128i res[2];
        for (int h = 0; h < 2; h++) {
#define LD(k) _mm_loadu_si128((const __m128i *)(rows[k] + x + 8 * h))
            /* Each product is rounded down separately, exactly as the scalar loop does. */
            __m128i s = _mm_mulhi_epu16(LD(3), t0);
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(2), t1));
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(4), t1));
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(1), t2));
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(5), t2));
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(0), t3));
            s = _mm_add_epi16(s, _mm_mulhi_epu16(LD(6), t3));
#undef LD
            res[h] = _mm_srli_epi16(_mm_add_epi16(s, half), 8);
        }
        _mm_storeu_si128((__m128i *)(o + x), _mm_packus_epi16(res[0], res[1]));
    }
#endif
    for (; x < w; x++) {
        /* Sum <= 65280 (each tap rounds down), so + 128 still fits in 16 bits. */
        uint32_t s = mulhi(rows[3][x], VTAP[0]) + mulhi(rows[2][x], VTAP[1]) +
                     mulhi(rows[4][x], VTAP[1]) + mulhi(rows[1][x], VTAP[2]) +
                     mulhi(rows[5][x], VTAP[2]) + mulhi(rows[0][x], VTAP[3]) +
                     mulhi(rows[6][x], VTAP[3]);
        o[x] = (uint8_t)((s + 128) >> 8);
    }
}

void deja__image_blur7(const deja_image *src, deja__gray *dst, uint16_t *tmp)
{
    const int w = src->width, h = src->height;
    for (int y = 0; y < h; y++)
        hblur_row(src->pixels + (ptrdiff_t)y * src->stride, w, tmp + (ptrdiff_t)y * w);
    for (int y = 0; y < h; y++) {
        const uint16_t *rows[7];
        for (int k = 0; k < 7; k++) {
            int r = y + k - 3;
            r = r < 0 ? 0 : r >= h ? h - 1 : r;
            rows[k] = tmp + (ptrdiff_t)r * w;
        }
        vblur_row(rows, w, dst->pixels + (ptrdiff_t)y * dst->stride);
    }
}

/* ---- affine warp ---------------------------------------------------------------------------- */

void deja__image_warp_affine(const deja_image *src, deja__gray *dst, const double A[6])
{
    const int sw = src->width, sh = src->height;
    for (int y = 0; y < dst->height; y++) {
        uint8_t *out = dst->pixels + (ptrdiff_t)y * dst->stride;
        for (int x = 0; x < dst->width; x++) {
            double sx = A[0] * x + A[1] * y + A[2], sy = A[3] * x + A[4] * y + A[5];
            /* Outside (or NaN): black, so that tests can tell the overlap. */
            if (!(sx >= 0 && sy >= 0 && sx <= sw - 1 && sy <= sh - 1)) {
                out[x] = 0;
                continue;
            }
            int x0 = (int)sx, y0 = (int)sy;
            int x1 = x0 + 1 < sw ? x0 + 1 : x0, y1 = y0 + 1 < sh ? y0 + 1 : y0;
            double fx = sx - x0, fy = sy - y0;
            const uint8_t *r0 = src->pixels + (ptrdiff_t)y0 * src->stride;
            const uint8_t *r1 = src->pixels + (ptrdiff_t)y1 * src->stride;
            double v = (1 - fy) * ((1 - fx) * r0[x0] + fx * r0[x1]) +
                       fy * ((1 - fx) * r1[x0] + fx * r1[x1]);
            out[x] = (uint8_t)floor(v + 0.5);
        }
    }
}
