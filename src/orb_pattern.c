/* orb_pattern.c - our BRIEF sampling pattern and its rotated copies.
 *
 * Calonder et al. 2010 (BRIEF) found that point pairs drawn from an isotropic Gaussian around
 * the keypoint, sigma = patch / 5 ("G II"), work best among simple random patterns; Rublee et
 * al. 2011 (ORB) steer such a pattern by the keypoint angle. We draw our own 256 pairs that way:
 * sigma = 31 / 5 = 6.2 pixels, points outside the radius-15 disc rejected (so that every
 * rotation stays inside the patch), pairs closer than 2 pixels and repeated pairs rejected (a
 * test between neighbouring pixels of the smoothed image is mostly noise).
 *
 * Determinism: the generator is splitmix64 (Steele, Lea, Flood 2014), and the Gaussian is the
 * sum of 12 uniform 16-bit draws (Irwin-Hall, variance 1 in units of 65536), scaled and rounded
 * with integer arithmetic, so the pattern is bit-identical on every compiler and CPU; a test
 * pins its checksum because vocabularies trained on our descriptors depend on it. Rotation uses
 * cos/sin once per bin at create time. */
#include "orb.h"

#include <math.h>


/* Round num / den to nearest, halves away from zero (den > 0). */
static int64_t div_round(int64_t num, int64_t den)
{
    return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

/* One coordinate ~ N(0, 6.2^2), rounded to a pixel. */
static int gauss_px(uint64_t *s)
{
    int64_t sum = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t r = deja__splitmix64(s); /* four 16-bit uniforms per draw */
        for (int k = 0; k < 4; k++)
            sum += (int64_t)((r >> (16 * k)) & 0xFFFF);
    }
    sum -= 6 * 65536 - 6; /* centre: 12 * 65535 / 2 */
    return (int)div_round(sum * 62, 10 * 65536);
}

static void gauss_point(uint64_t *s, int *x, int *y)
{
    const int r2 = DEJA_ORB_PATCH_RADIUS * DEJA_ORB_PATCH_RADIUS;
    do {
        *x = gauss_px(s);
        *y = gauss_px(s);
    } while (*x * *x + *y * *y > r2);
}

void deja__orb_pattern(uint64_t seed, int8_t p[DEJA_ORB_BITS][4])
{
    uint64_t s = seed;
    int n = 0;
    while (n < DEJA_ORB_BITS) {
        int x0, y0, x1, y1;
        gauss_point(&s, &x0, &y0);
        gauss_point(&s, &x1, &y1);
        int dx = x1 - x0, dy = y1 - y0;
        if (dx * dx + dy * dy < 4) continue;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++) {
            dup = (p[i][0] == x0 && p[i][1] == y0 && p[i][2] == x1 && p[i][3] == y1) ||
                  (p[i][0] == x1 && p[i][1] == y1 && p[i][2] == x0 && p[i][3] == y0);
        }
        if (dup) continue;
        p[n][0] = (int8_t)x0, p[n][1] = (int8_t)y0, p[n][2] = (int8_t)x1, p[n][3] = (int8_t)y1;
        n++;
    }
}

void deja__orb_pattern_rotate(const int8_t p[DEJA_ORB_BITS][4], int bin,
                              int8_t out[DEJA_ORB_BITS][4])
{
    const double a = bin * (2 * 3.14159265358979323846 / DEJA_ORB_ANGLE_BINS);
    const double c = cos(a), s = sin(a);
    for (int i = 0; i < DEJA_ORB_BITS; i++) {
        for (int k = 0; k < 4; k += 2) {
            double x = p[i][k], y = p[i][k + 1];
            /* |rotated| = |point| <= 15, so rounding stays within the disc's box. */
            out[i][k] = (int8_t)lround(x * c - y * s);
            out[i][k + 1] = (int8_t)lround(x * s + y * c);
        }
    }
}
