/* test_image.c - owned grey buffers, bilinear resize, 7x7 Gaussian blur and affine warp, each
 * against a straightforward double-precision computation of the same definition. */
#include "image.h"
#include "test.h"
#include "test_util.h"

/* Random image with a stride larger than the width (padding filled with junk). Mixes noise and
 * flat steps so that both sharp edges and smooth areas are covered. */
static uint8_t *random_image(int w, int h, int stride, uint64_t seed)
{
    (void)w; /* the padding gets the same kind of values */
    uint8_t *p = malloc((size_t)stride * h);
    uint64_t s = seed;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < stride; x++) {
            uint64_t r = deja__splitmix64(&s);
            p[(size_t)y * stride + x] =
                (x / 7 + y / 5) % 3 == 0 ? (uint8_t)r : (uint8_t)((x * 3 + y) & 255);
        }
    return p;
}

static deja_allocator alloc_default(void)
{
    return deja__allocator(NULL);
}

static double ref_bilinear(const deja_image *s, double sx, double sy)
{
    if (sx < 0) sx = 0;
    if (sy < 0) sy = 0;
    if (sx > s->width - 1) sx = s->width - 1;
    if (sy > s->height - 1) sy = s->height - 1;
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < s->width ? x0 + 1 : x0, y1 = y0 + 1 < s->height ? y0 + 1 : y0;
    double fx = sx - x0, fy = sy - y0;
    const uint8_t *r0 = s->pixels + (size_t)y0 * s->stride,
                  *r1 = s->pixels + (size_t)y1 * s->stride;
    return (1 - fy) * ((1 - fx) * r0[x0] + fx * r0[x1]) + fy * ((1 - fx) * r1[x0] + fx * r1[x1]);
}

TEST(gray_buffer_stride_is_16_aligned_and_reused)
{
    deja_allocator a = alloc_default();
    deja__gray g = {0};
    ASSERT(deja__gray_resize_buffer(&a, &g, 33, 10));
    EXPECT_EQ(g.stride, 48);
    EXPECT_EQ(g.width, 33);
    uint8_t *p = g.pixels;
    ASSERT(deja__gray_resize_buffer(&a, &g, 20, 12)); /* smaller: same buffer */
    EXPECT(g.pixels == p);
    EXPECT_EQ(g.stride, 32);
    EXPECT(!deja__gray_resize_buffer(&a, &g, 0, 5));
    EXPECT(!deja__gray_resize_buffer(&a, &g, 5, -1));
    deja_image v = deja__gray_view(&g);
    EXPECT_EQ(v.width, 20);
    EXPECT_EQ(v.stride, 32);
    deja__gray_free(&a, &g);
    EXPECT(g.pixels == NULL);
}

/* Centre-aligned bilinear: dst x samples src (x + 0.5) * sw / dw - 0.5. Positions are rounded
 * to 1/128 pixel in each direction (at most 255 / 256 off per pass on a 0 -> 255 edge), plus the
 * final rounding: at most 2.5 grey levels, and a small mean on this noisy image. */
static void check_resize(int sw, int sh, int dw, int dh, uint64_t seed)
{
    deja_allocator a = alloc_default();
    uint8_t *px = random_image(sw, sh, sw + 5, seed);
    deja_image src = {sw, sh, sw + 5, px};
    deja__gray dst = {0};
    ASSERT(deja__gray_resize_buffer(&a, &dst, dw, dh));
    deja__image_resize(&src, &dst);
    double worst = 0, sum = 0;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            double ref = ref_bilinear(&src, (x + 0.5) * sw / dw - 0.5, (y + 0.5) * sh / dh - 0.5);
            double err = fabs(dst.pixels[(size_t)y * dst.stride + x] - ref);
            worst = err > worst ? err : worst;
            sum += err;
        }
    EXPECT_LE(worst, 2.5);
    EXPECT_LE(sum / ((double)dw * dh), 0.35);
    deja__gray_free(&a, &dst);
    free(px);
}

TEST(resize_matches_reference_bilinear)
{
    check_resize(640, 480, 533, 400, 1); /* the first pyramid step */
    check_resize(101, 77, 84, 64, 2);    /* odd sizes */
    check_resize(300, 200, 120, 80, 3);  /* factor 2.5 */
    check_resize(2600, 40, 2167, 33, 4); /* wider than one column chunk */
    check_resize(17, 9, 3, 2, 5);
}

TEST(resize_to_same_size_is_identity)
{
    deja_allocator a = alloc_default();
    uint8_t *px = random_image(97, 31, 97, 9);
    deja_image src = {97, 31, 97, px};
    deja__gray dst = {0};
    ASSERT(deja__gray_resize_buffer(&a, &dst, 97, 31));
    deja__image_resize(&src, &dst);
    int diff = 0;
    for (int y = 0; y < 31; y++)
        for (int x = 0; x < 97; x++)
            diff += dst.pixels[(size_t)y * dst.stride + x] != px[y * 97 + x];
    EXPECT_EQ(diff, 0);
    deja__gray_free(&a, &dst);
    free(px);
}

/* exp(-d^2 / (2 * 2^2)) for |d| <= 3, normalised, borders replicated, in double. */
static void check_blur(int w, int h, uint64_t seed)
{
    deja_allocator a = alloc_default();
    uint8_t *px = random_image(w, h, w + 3, seed);
    deja_image src = {w, h, w + 3, px};
    deja__gray dst = {0};
    ASSERT(deja__gray_resize_buffer(&a, &dst, w, h));
    uint16_t *tmp = malloc((size_t)w * h * sizeof *tmp);
    deja__image_blur7(&src, &dst, tmp);
    double g[7], gs = 0;
    for (int k = 0; k < 7; k++)
        gs += g[k] = exp(-(k - 3) * (k - 3) / 8.0);
    double worst = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 0;
            for (int j = 0; j < 7; j++)
                for (int i = 0; i < 7; i++) {
                    int yy = y + j - 3, xx = x + i - 3;
                    yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                    xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
                    v += g[j] * g[i] * px[(size_t)yy * (w + 3) + xx];
                }
            double err = fabs(dst.pixels[(size_t)y * dst.stride + x] - v / (gs * gs));
            worst = err > worst ? err : worst;
        }
    EXPECT_LE(worst, 1.0);
    free(tmp);
    deja__gray_free(&a, &dst);
    free(px);
}

TEST(blur_matches_reference_gaussian)
{
    check_blur(64, 48, 11);
    check_blur(35, 13, 12); /* not a multiple of 8 or 16 */
    check_blur(5, 4, 13);   /* smaller than the kernel: all border */
    check_blur(1, 1, 14);
}

TEST(blur_keeps_a_flat_image_flat)
{
    deja_allocator a = alloc_default();
    uint8_t px[40 * 30];
    memset(px, 255, sizeof px);
    deja_image src = {40, 30, 40, px};
    deja__gray dst = {0};
    ASSERT(deja__gray_resize_buffer(&a, &dst, 40, 30));
    uint16_t tmp[40 * 30];
    deja__image_blur7(&src, &dst, tmp);
    int off = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            off += dst.pixels[(size_t)y * dst.stride + x] != 255;
    EXPECT_EQ(off, 0);
    deja__gray_free(&a, &dst);
}

TEST(warp_affine_matches_reference_and_blanks_outside)
{
    deja_allocator a = alloc_default();
    const int w = 80, h = 60;
    uint8_t *px = random_image(w, h, w, 21);
    deja_image src = {w, h, w, px};
    deja__gray dst = {0};
    ASSERT(deja__gray_resize_buffer(&a, &dst, w, h));
    /* Rotation by 30 degrees and scale 1.1 about the centre, as dst -> src. */
    double c = cos(0.5235987755982988) * 1.1, s = sin(0.5235987755982988) * 1.1;
    double A[6] = {c, -s, 0, s, c, 0};
    A[2] = w / 2.0 - (c * w / 2.0 - s * h / 2.0);
    A[5] = h / 2.0 - (s * w / 2.0 + c * h / 2.0);
    deja__image_warp_affine(&src, &dst, A);
    int bad = 0, outside = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double sx = A[0] * x + A[1] * y + A[2], sy = A[3] * x + A[4] * y + A[5];
            int got = dst.pixels[(size_t)y * dst.stride + x];
            if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) {
                outside++;
                bad += got != 0;
            } else {
                bad += fabs(got - ref_bilinear(&src, sx, sy)) > 0.5 + 1e-9;
            }
        }
    EXPECT_EQ(bad, 0);
    EXPECT_GE(outside, 100); /* the corners left the source */
    /* Integer translation: an exact shift. */
    double T[6] = {1, 0, 3, 0, 1, -2};
    deja__image_warp_affine(&src, &dst, T);
    EXPECT_EQ(dst.pixels[10 * dst.stride + 20], px[8 * w + 23]);
    EXPECT_EQ(dst.pixels[0 * dst.stride + 20], 0); /* row -2 of the source */
    deja__gray_free(&a, &dst);
    free(px);
}
