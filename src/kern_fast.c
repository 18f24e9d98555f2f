/* kern_fast.c - FAST-9 segment test on a row (Rosten & Drummond 2006).
 *
 * The 16 pixels of the radius-3 Bresenham circle are classified brighter / darker / similar;
 * a corner has 9 contiguous pixels of one class. The scalar version rejects most pixels with
 * the four compass points first (a 9-arc always covers at least two of them). */
#include "simd.h"

/* Circle offsets, clockwise from 12 o'clock. */
static void circle(ptrdiff_t stride, ptrdiff_t off[16])
{
    static const int dx[16] = {0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1};
    static const int dy[16] = {-3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3};
    for (int i = 0; i < 16; i++) off[i] = dy[i] * stride + dx[i];
}

static int has_arc9(unsigned mask16)
{
    unsigned m = mask16 | (mask16 << 16); /* wrap around */
    /* 9 consecutive ones: AND of 9 shifted copies. */
    unsigned r = m;
    for (int s = 1; s < 9; s++) r &= m >> s;
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
