/* test_alike.c - ALIKE post-processing and input tensor (alike.h): hand-made score maps for each
 * rule of the README's DKD (NMS and its two rounds, ties, border, threshold and mean fallback,
 * n_limit / top_k / max_keypoints, sub-pixel offsets, bilinear score and descriptor), no
 * allocation per frame, hostile sizes; then the shared test vectors of ../shared/models/alike-*:
 * keypoints and scores on the full 240x320 scores map, descriptors on the 32x64 crop maps, and
 * (with DEJA_ALIKE_DESC_MAP=<1xDx240x320 .npy from the engine>) the full-frame descriptors. */
#include "alike.h"
#include "npy.h"
#include "test.h"
#include "test_util.h"

#include <unistd.h>

#define W 32
#define H 32

/* A w x h map of value bg. */
static float *map_fill(int w, int h, float bg)
{
    float *s = malloc((size_t)w * h * sizeof *s);
    for (int i = 0; i < w * h; i++)
        s[i] = bg;
    return s;
}

/* A descriptor map, dim x h x w: smooth, non-zero, different per channel. */
static float *desc_map(int w, int h, int dim)
{
    float *d = malloc((size_t)dim * w * h * sizeof *d);
    for (int c = 0; c < dim; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                d[((size_t)c * h + y) * w + x] = 1.0f + (float)c + 0.25f * x - 0.125f * y * c;
    return d;
}

static deja__alike_params pixel_params(void)
{
    deja__alike_params p = deja__alike_params_default();
    p.sub_pixel = 0;
    p.max_keypoints = 0;
    return p;
}

/* Create a handle for w x h (dim 4), run once on s; returns the status, *post kept for reads. */
static deja_status run_once(const deja__alike_params *p, const float *s, int w, int h,
                            deja__alike_post **post, deja_features *f)
{
    float *d = desc_map(w, h, 4);
    deja_status st = deja__alike_post_create(NULL, p, w, h, 4, post);
    if (st == DEJA_OK) {
        deja__alike_maps m = {s, d, w, h, w, h, 4};
        st = deja__alike_post_run(*post, &m, f);
    }
    free(d);
    return st;
}

/* 1 if f holds exactly the pixels xy[0..n) (x, y pairs) in that order. */
static int has_pixels(const deja_features *f, const int *xy, size_t n)
{
    int ok = f->n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = f->keypoints[i].x == (float)xy[2 * i] && f->keypoints[i].y == (float)xy[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "    got %zu keypoints:", f->n);
        for (size_t i = 0; i < f->n && i < 12; i++)
            fprintf(stderr, " (%g, %g)", f->keypoints[i].x, f->keypoints[i].y);
        fprintf(stderr, "\n");
    }
    return ok;
}

/* ---- NMS, border, selection ------------------------------------------------------------- */

TEST(a_single_peak_is_one_keypoint_with_its_score_and_fields)
{
    float *s = map_fill(W, H, 0.01f);
    s[12 * W + 10] = 0.9f;
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){10, 12}, 1));
    if (f.n == 1) {
        EXPECT_EQ(f.keypoints[0].response, 0.9f);
        EXPECT_EQ(f.keypoints[0].size, 5);
        EXPECT_EQ(f.keypoints[0].angle, 0);
        EXPECT_EQ(f.keypoints[0].octave, 0);
        EXPECT_EQ(f.kind, DEJA_DESC_FLOAT32);
        EXPECT_EQ(f.desc_bytes, 16);
    }
    deja__alike_post_destroy(post);
    free(s);
}

TEST(a_weaker_peak_within_the_radius_is_suppressed_one_further_out_is_not)
{
    float *s = map_fill(W, H, 0.01f);
    s[10 * W + 10] = 0.9f;
    s[11 * W + 12] = 0.8f; /* 2 px right, 1 down: inside the 5x5 window */
    s[20 * W + 10] = 0.9f;
    s[20 * W + 13] = 0.8f; /* 3 px right: outside */
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){10, 10, 10, 20, 13, 20}, 3));
    deja__alike_post_destroy(post);
    free(s);
}

TEST(exactly_two_suppression_rounds_recover_peaks_hidden_by_suppressed_ones)
{
    /* A chain 2 px apart, falling: 0.9 at x = 10, 0.8 at 12, ..., 0.3 at 22. At first only A
     * (x 10) is a maximum: each other has a stronger one in its window. Round 1 zeroes the
     * pixels within 2 of A (x 12), so x 14 becomes a maximum; round 2 zeroes x 16, so x 18 does.
     * A third round would add x 22; the original stops at two. */
    float *s = map_fill(W, H, 0.01f);
    for (int i = 0; i < 7; i++)
        s[10 * W + 10 + 2 * i] = 0.9f - 0.1f * (float)i;
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){10, 10, 14, 10, 18, 10}, 3));
    deja__alike_post_destroy(post);
    free(s);
}

TEST(a_plateau_of_equal_maxima_keeps_every_pixel_like_torch)
{
    float *s = map_fill(W, H, 0.01f);
    for (int y = 10; y <= 12; y++)
        for (int x = 10; x <= 12; x++)
            s[y * W + x] = 0.5f;
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(
        &f, (const int[]){10, 10, 11, 10, 12, 10, 10, 11, 11, 11, 12, 11, 10, 12, 11, 12, 12, 12},
        9));
    deja__alike_post_destroy(post);
    /* sub-pixel: all nine are pulled to the plateau's centre (the centre exactly) */
    p.sub_pixel = 1;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    ASSERT_EQ(f.n, 9);
    for (size_t i = 0; i < f.n; i++) {
        EXPECT_NEAR(f.keypoints[i].x, 11.0, 0.05);
        EXPECT_NEAR(f.keypoints[i].y, 11.0, 0.05);
    }
    EXPECT_NEAR(f.keypoints[4].x, 11.0, 1e-6);
    EXPECT_NEAR(f.keypoints[4].y, 11.0, 1e-6);
    deja__alike_post_destroy(post);
    free(s);
}

TEST(peaks_on_the_border_rows_and_columns_are_dropped)
{
    /* zeroed: rows/cols 0..2 (radius + 1) and the last 2 (radius) */
    float *s = map_fill(W, H, 0.01f);
    const int dropped[][2] = {{2, 8}, {W - 2, 16}, {8, 2}, {16, H - 2}, {0, 24}, {W - 1, 24}};
    const int kept[][2] = {{16, 3}, {29, 8}, {3, 16}, {8, 29}};
    for (int i = 0; i < 6; i++)
        s[dropped[i][1] * W + dropped[i][0]] = 0.9f;
    for (int i = 0; i < 4; i++)
        s[kept[i][1] * W + kept[i][0]] = 0.9f;
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){16, 3, 29, 8, 3, 16, 8, 29}, 4)); /* raster order */
    deja__alike_post_destroy(post);
    free(s);
}

TEST(with_no_score_above_the_threshold_the_mean_is_the_threshold)
{
    float *s = map_fill(W, H, 0.05f);
    s[10 * W + 10] = 0.15f;
    s[20 * W + 20] = 0.12f;
    s[25 * W + 6] = 0.19f;
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    /* the flat 0.05 background is made of tied maxima too, but 0.05 < mean */
    EXPECT(has_pixels(&f, (const int[]){10, 10, 20, 20, 6, 25}, 3));
    deja__alike_post_destroy(post);
    /* one pixel above 0.2: the threshold stays 0.2 */
    s[5 * W + 25] = 0.21f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){25, 5}, 1));
    deja__alike_post_destroy(post);
    /* scores_th <= 0: the mean directly */
    p.scores_th = 0.0f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    EXPECT(has_pixels(&f, (const int[]){25, 5, 10, 10, 20, 20, 6, 25}, 4));
    deja__alike_post_destroy(post);
    free(s);
}

/* A 64x64 map with isolated peaks every 3 px, scores drawn from a few levels (ties included). */
#define GW 64
static float *grid_map(size_t *n_peaks)
{
    float *s = map_fill(GW, GW, 0.0f);
    uint64_t seed = 7;
    *n_peaks = 0;
    for (int y = 3; y < GW - 2; y += 3)
        for (int x = 3; x < GW - 2; x += 3) {
            s[y * GW + x] = 0.3f + 0.05f * (float)(test_rnd(&seed) % 13);
            (*n_peaks)++;
        }
    return s;
}

/* 1 if f is the lim strongest peaks of s (score, then raster), best first. */
static int is_strongest_sorted(const deja_features *f, const float *s, size_t lim)
{
    if (f->n != lim) {
        fprintf(stderr, "    %zu keypoints, expected %zu\n", f->n, lim);
        return 0;
    }
    long prev = -1;
    float prev_s = 2.0f;
    for (size_t i = 0; i < f->n; i++) {
        long idx = (long)f->keypoints[i].y * GW + (long)f->keypoints[i].x;
        float sc = s[idx];
        if (sc > prev_s || (sc == prev_s && idx <= prev) || f->keypoints[i].response != sc) {
            fprintf(stderr, "    keypoint %zu out of order\n", i);
            return 0;
        }
        prev = idx, prev_s = sc;
    }
    /* nothing left out is stronger than the weakest kept */
    size_t stronger = 0;
    for (int i = 0; i < GW * GW; i++)
        stronger += s[i] > prev_s || (s[i] == prev_s && i <= prev);
    return stronger == lim;
}

TEST(beyond_n_limit_the_strongest_are_kept_sorted_by_score_then_raster)
{
    size_t peaks;
    float *s = grid_map(&peaks);
    ASSERT(peaks == 400);
    deja__alike_params p = pixel_params();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT_EQ(f.n, peaks); /* under the limit: raster order */
    for (size_t i = 1; i < f.n; i++)
        EXPECT(
            f.keypoints[i].y > f.keypoints[i - 1].y ||
            (f.keypoints[i].y == f.keypoints[i - 1].y && f.keypoints[i].x > f.keypoints[i - 1].x));
    deja__alike_post_destroy(post);
    p.n_limit = 50;
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT(is_strongest_sorted(&f, s, 50));
    deja__alike_post_destroy(post);
    /* max_keypoints acts as min(n_limit, max_keypoints) */
    p.n_limit = 5000;
    p.max_keypoints = 50;
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT(is_strongest_sorted(&f, s, 50));
    deja__alike_post_destroy(post);
    p.n_limit = 37;
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT(is_strongest_sorted(&f, s, 37));
    deja__alike_post_destroy(post);
    free(s);
}

TEST(top_k_takes_the_k_largest_nms_scores_in_score_order)
{
    size_t peaks;
    float *s = grid_map(&peaks);
    deja__alike_params p = pixel_params();
    p.top_k = 25;
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT(is_strongest_sorted(&f, s, 25));
    deja__alike_post_destroy(post);
    p.max_keypoints = 10; /* min(top_k, max_keypoints) */
    ASSERT_OK(run_once(&p, s, GW, GW, &post, &f));
    EXPECT(is_strongest_sorted(&f, s, 10));
    deja__alike_post_destroy(post);
    free(s);
}

/* ---- sub-pixel position, score, descriptor --------------------------------------------- */

/* The soft-argmax offset written out for a 5x5 patch (row-major, dy then dx from -2). */
static void soft_argmax(const float p[25], double *ox, double *oy)
{
    float mx = p[0];
    for (int i = 1; i < 25; i++)
        mx = p[i] > mx ? p[i] : mx;
    double se = 0, sx = 0, sy = 0;
    for (int i = 0; i < 25; i++) {
        double e = exp((p[i] - mx) / 0.1);
        se += e, sx += e * (i % 5 - 2), sy += e * (i / 5 - 2);
    }
    *ox = sx / se, *oy = sy / se;
}

TEST(sub_pixel_offset_is_zero_for_a_symmetric_peak_and_leans_to_the_stronger_side)
{
    float *s = map_fill(W, H, 0.01f);
    /* symmetric: a plus of 0.6 around 0.9 */
    s[10 * W + 10] = 0.9f;
    s[10 * W + 9] = s[10 * W + 11] = s[9 * W + 10] = s[11 * W + 10] = 0.6f;
    /* asymmetric: right 0.7 > left 0.5, below 0.65 > above 0.4 */
    s[20 * W + 20] = 0.9f;
    s[20 * W + 21] = 0.7f, s[20 * W + 19] = 0.5f;
    s[21 * W + 20] = 0.65f, s[19 * W + 20] = 0.4f;
    deja__alike_params p = deja__alike_params_default();
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, W, H, &post, &f));
    ASSERT_EQ(f.n, 2);
    EXPECT_NEAR(f.keypoints[0].x, 10.0, 1e-9);
    EXPECT_NEAR(f.keypoints[0].y, 10.0, 1e-9);
    EXPECT_NEAR(f.keypoints[0].response, 0.9, 1e-7);
    float patch[25];
    for (int i = 0; i < 25; i++)
        patch[i] = s[(20 + i / 5 - 2) * W + 20 + i % 5 - 2];
    double ox, oy;
    soft_argmax(patch, &ox, &oy);
    EXPECT(ox > 0.05 && oy > 0.05 && ox > oy); /* the patch leans right and down, right more */
    EXPECT_NEAR(f.keypoints[1].x, 20.0 + ox, 1e-5);
    EXPECT_NEAR(f.keypoints[1].y, 20.0 + oy, 1e-5);
    /* score: bilinear between 0.9 (20,20), 0.7 (21,20), 0.65 (20,21), 0.01 (21,21) */
    double fx = ox, fy = oy;
    double want =
        0.9 * (1 - fx) * (1 - fy) + 0.7 * fx * (1 - fy) + 0.65 * (1 - fx) * fy + 0.01 * fx * fy;
    EXPECT_NEAR(f.keypoints[1].response, want, 1e-6);
    /* descriptor: desc_map is affine in x and y per channel, so bilinear is exact */
    const float *d = (const float *)f.descriptors + 4;
    double v[4], n2 = 0;
    for (int c = 0; c < 4; c++) {
        v[c] = 1.0 + c + 0.25 * (20 + ox) - 0.125 * (20 + oy) * c;
        n2 += v[c] * v[c];
    }
    for (int c = 0; c < 4; c++)
        EXPECT_NEAR(d[c], v[c] / sqrt(n2), 1e-6);
    deja__alike_post_destroy(post);
    free(s);
}

TEST(score_and_descriptor_are_bilinear_at_the_sub_pixel_position_and_renormalised)
{
    /* a peak on the last kept row and column, pulled outwards by strong neighbours */
    float *s = map_fill(W, H, 0.01f);
    int x0 = W - 3, y0 = H - 3;
    s[y0 * W + x0] = 0.9f;
    s[y0 * W + x0 + 2] = 0.89f, s[(y0 + 2) * W + x0] = 0.89f, s[(y0 + 2) * W + x0 + 2] = 0.89f;
    s[y0 * W + x0 + 1] = 0.3f, s[(y0 + 1) * W + x0] = 0.3f;
    float *d = desc_map(W, H, 4);
    for (int i = 0; i < 4 * W * H; i++)
        d[i] *= 3.0f; /* not unit vectors: the output must be */
    deja__alike_post *post = NULL;
    deja__alike_params p = deja__alike_params_default();
    ASSERT_OK(deja__alike_post_create(NULL, &p, W, H, 4, &post));
    deja__alike_maps m = {s, d, W, H, W, H, 4};
    deja_features f;
    ASSERT_OK(deja__alike_post_run(post, &m, &f));
    ASSERT_EQ(f.n, 1);
    double x = f.keypoints[0].x, y = f.keypoints[0].y;
    EXPECT(x > x0 + 0.5 && y > y0 + 0.5 && x < W - 1 && y < H - 1);
    /* direct: the four corners, weights, zero outside */
    int ix = (int)floor(x), iy = (int)floor(y);
    double fx = x - ix, fy = y - iy, want = 0, n2 = 0, v[4] = {0};
    for (int k = 0; k < 4; k++) {
        int xx = ix + (k & 1), yy = iy + (k >> 1);
        double wt = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
        if (xx >= W || yy >= H) continue;
        want += wt * s[yy * W + xx];
        for (int c = 0; c < 4; c++)
            v[c] += wt * d[(c * H + yy) * W + xx];
    }
    EXPECT_NEAR(f.keypoints[0].response, want, 1e-6);
    for (int c = 0; c < 4; c++)
        n2 += v[c] * v[c];
    const float *got = f.descriptors;
    double g2 = 0;
    for (int c = 0; c < 4; c++) {
        EXPECT_NEAR(got[c], v[c] / sqrt(n2), 1e-6);
        g2 += (double)got[c] * got[c];
    }
    EXPECT_NEAR(g2, 1.0, 1e-6);
    deja__alike_post_destroy(post);
    free(s);
    free(d);
}

TEST(top_k_beyond_the_maxima_takes_zero_pixels_and_samples_with_zero_padding)
{
    /* With the border rule, patches and bilinear taps of threshold keypoints stay inside the
     * image; top_k larger than the maxima also returns zero-score pixels (torch.topk), corners
     * included, whose patches and taps reach outside: those read as 0. Negative scores (not a
     * sigmoid, but legal input) make the zeros outside the patch maximum: positions are pulled
     * out of the image, and their bilinear taps are partly padding. */
    enum { w = 8, h = 6 };
    float *s = map_fill(w, h, 0.0f);
    uint64_t seed = 3;
    for (int i = 0; i < w * h; i++)
        s[i] = (float)test_uniform(&seed, -1.0, -0.1);
    s[3 * w + 4] = 1.5f; /* the only pixel inside the border: the one maximum */
    deja__alike_params p = deja__alike_params_default();
    p.top_k = w * h;
    p.sub_pixel = 0;
    deja__alike_post *post = NULL;
    deja_features f;
    ASSERT_OK(run_once(&p, s, w, h, &post, &f));
    ASSERT_EQ(f.n, w * h);
    EXPECT(f.keypoints[0].x == 4 && f.keypoints[0].y == 3); /* the maximum first */
    int pix[w * h][2];
    for (int i = 0; i < w * h; i++)
        pix[i][0] = (int)f.keypoints[i].x, pix[i][1] = (int)f.keypoints[i].y;
    deja__alike_post_destroy(post);
    p.sub_pixel = 1;
    ASSERT_OK(run_once(&p, s, w, h, &post, &f));
    ASSERT_EQ(f.n, w * h);
    int worst_at = -1, outside = 0;
    double worst = 0;
    for (int i = 0; i < w * h; i++) { /* same selection, same order as in pixel mode */
        int x0 = pix[i][0], y0 = pix[i][1];
        float patch[25];
        for (int k = 0; k < 25; k++) {
            int xx = x0 + k % 5 - 2, yy = y0 + k / 5 - 2;
            patch[k] = xx >= 0 && yy >= 0 && xx < w && yy < h ? s[yy * w + xx] : 0.0f;
        }
        double ox, oy;
        soft_argmax(patch, &ox, &oy);
        double x = x0 + ox, y = y0 + oy, want = 0;
        outside += x < 0 || y < 0 || x > w - 1 || y > h - 1;
        int ix = (int)floor(x), iy = (int)floor(y);
        for (int k = 0; k < 4; k++) {
            int xx = ix + (k & 1), yy = iy + (k >> 1);
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            want += ((k & 1) ? x - ix : 1 - (x - ix)) * ((k >> 1) ? y - iy : 1 - (y - iy)) *
                    s[yy * w + xx];
        }
        double e = fmax(fabs(f.keypoints[i].x - x), fabs(f.keypoints[i].y - y));
        e = fmax(e, fabs(f.keypoints[i].response - want));
        if (e > worst) worst = e, worst_at = i;
    }
    EXPECT(outside > 0);
    if (worst > 1e-5) TEST_FAIL_AT("keypoint %d off by %g", worst_at, worst);
    deja__alike_post_destroy(post);
    free(s);
}

TEST(padded_maps_are_read_only_inside_the_valid_region)
{
    /* tensors 64 x 64, image 40 x 35: NaN in the padding would poison any read there */
    int mw = 64, mh = 64, w = 40, h = 35;
    float *s = map_fill(mw, mh, NAN), *d = desc_map(mw, mh, 4);
    for (int y = 0; y < mh; y++)
        for (int x = 0; x < mw; x++) {
            if (x < w && y < h) continue;
            s[y * mw + x] = NAN;
            for (int c = 0; c < 4; c++)
                d[(c * mh + y) * mw + x] = NAN;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            s[y * mw + x] = 0.01f;
    s[(h - 3) * mw + (w - 3)] = 0.9f; /* next to the padding */
    s[(h - 3) * mw + (w - 2)] = 0.8f;
    s[10 * mw + 10] = 0.7f;
    for (int sub = 0; sub < 2; sub++) {
        deja__alike_params p = deja__alike_params_default();
        p.sub_pixel = sub;
        deja__alike_post *post = NULL;
        ASSERT_OK(deja__alike_post_create(NULL, &p, w, h, 4, &post));
        deja__alike_maps m = {s, d, mw, mh, w, h, 4};
        deja_features f;
        ASSERT_OK(deja__alike_post_run(post, &m, &f));
        EXPECT_EQ(f.n, 2);
        for (size_t i = 0; i < f.n; i++) {
            EXPECT(isfinite(f.keypoints[i].x) && isfinite(f.keypoints[i].response));
            for (int c = 0; c < 4; c++)
                EXPECT(isfinite(((const float *)f.descriptors)[i * 4 + c]));
        }
        if (f.n == 2) {
            EXPECT_EQ(f.keypoints[1].x >= w - 3 - 0.01, 1);
            EXPECT_EQ(f.keypoints[1].x < w - 1, 1);
        }
        /* desc_map is affine per channel: the bilinear sample is the formula at (x, y) */
        for (size_t i = 0; i < f.n; i++) {
            double x = f.keypoints[i].x, y = f.keypoints[i].y, v[4], n2 = 0;
            for (int c = 0; c < 4; c++) {
                v[c] = 1.0 + c + 0.25 * x - 0.125 * y * c;
                n2 += v[c] * v[c];
            }
            for (int c = 0; c < 4; c++)
                EXPECT_NEAR(((const float *)f.descriptors)[i * 4 + c], v[c] / sqrt(n2), 1e-6);
        }
        deja__alike_post_destroy(post);
    }
    free(s);
    free(d);
}

/* ---- memory and hostile input ----------------------------------------------------------- */

TEST(runs_allocate_nothing_after_create_and_destroy_frees_all)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__alike_post *post = NULL;
    ASSERT_OK(deja__alike_post_create(&o, NULL, GW, GW, 4, &post));
    size_t after_create = c.calls;
    size_t peaks;
    float *s = grid_map(&peaks), *d = desc_map(GW, GW, 4);
    deja_features f;
    for (int frame = 0; frame < 3; frame++) {
        deja__alike_maps m = {s, d, GW, GW, GW - 8 * frame, GW - 5 * frame, 4};
        ASSERT_OK(deja__alike_post_run(post, &m, &f));
        EXPECT(f.n > 0);
    }
    EXPECT_EQ(c.calls, after_create);
    deja__alike_post_destroy(post);
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
    /* out of memory at each allocation of create: NOMEM, nothing leaked */
    for (size_t k = 1; k <= after_create; k++) {
        test_counter fc = {.fail_at = k};
        o = test_counting_options(&fc);
        post = NULL;
        EXPECT_STATUS(deja__alike_post_create(&o, NULL, GW, GW, 4, &post), DEJA_NOMEM);
        EXPECT(post == NULL);
        EXPECT_EQ(fc.live, 0);
    }
    free(s);
    free(d);
}

/* status st and every needle in the message */
static int expect_err(deja_status got, deja_status st, const char *msg, const char *n1,
                      const char *n2)
{
    int ok =
        got == st && strstr(msg, "alike") && (!n1 || strstr(msg, n1)) && (!n2 || strstr(msg, n2));
    if (!ok)
        fprintf(stderr, "    got %s '%s', expected %s with '%s' '%s'\n", deja_status_name(got), msg,
                deja_status_name(st), n1 ? n1 : "", n2 ? n2 : "");
    return ok;
}

TEST(bad_sizes_and_parameters_give_clear_errors)
{
    deja__alike_post *post = NULL;
    deja__alike_params p = deja__alike_params_default();
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 0, 10, 64, &post), DEJA_LIMIT,
                      deja_last_error(), "0 x 10", NULL));
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 100000, 10, 64, &post), DEJA_LIMIT,
                      deja_last_error(), "100000", NULL));
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 10, 10, 0, &post), DEJA_INVALID_ARG,
                      deja_last_error(), "dim 0", NULL));
    p.radius = 0;
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 10, 10, 64, &post), DEJA_INVALID_ARG,
                      deja_last_error(), "radius 0", NULL));
    p = deja__alike_params_default();
    p.n_limit = 0;
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 10, 10, 64, &post), DEJA_INVALID_ARG,
                      deja_last_error(), "n_limit 0", NULL));
    p = deja__alike_params_default();
    p.scores_th = NAN;
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 10, 10, 64, &post), DEJA_INVALID_ARG,
                      deja_last_error(), "scores_th", NULL));
    p = deja__alike_params_default();
    p.max_keypoints = -1;
    EXPECT(expect_err(deja__alike_post_create(NULL, &p, 10, 10, 64, &post), DEJA_INVALID_ARG,
                      deja_last_error(), "max_keypoints -1", NULL));
    EXPECT(post == NULL);

    ASSERT_OK(deja__alike_post_create(NULL, NULL, 64, 48, 4, &post));
    float *s = map_fill(64, 64, 0.5f), *d = desc_map(64, 64, 4);
    deja_features f = {.n = 12345};
    deja__alike_maps m = {s, d, 64, 64, 64, 49, 4}; /* 49 rows > 48 */
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_LIMIT, deja__alike_post_error(post),
                      "64 x 49", "64 x 48"));
    m = (deja__alike_maps){s, d, 64, 64, 0, 10, 4};
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_INVALID_ARG,
                      deja__alike_post_error(post), "0 x 10", NULL));
    m = (deja__alike_maps){s, d, 64, 64, 64, 48, 8};
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_INVALID_ARG,
                      deja__alike_post_error(post), "8 channels", "expects 4"));
    m = (deja__alike_maps){s, d, 32, 64, 64, 48, 4};
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_INVALID_ARG,
                      deja__alike_post_error(post), "32 x 64", "smaller"));
    m = (deja__alike_maps){s, NULL, 64, 64, 64, 48, 4};
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_INVALID_ARG,
                      deja__alike_post_error(post), "descriptor map", NULL));
    EXPECT(expect_err(deja__alike_post_run(post, NULL, &f), DEJA_INVALID_ARG,
                      deja__alike_post_error(post), "maps", NULL));
    EXPECT_EQ(f.n, 12345); /* untouched on failure */

    /* non-finite values at a keypoint: FORMAT, never a crash */
    for (int i = 0; i < 64 * 64; i++)
        s[i] = 0.01f;
    s[20 * 64 + 20] = 0.9f;
    s[21 * 64 + 21] = INFINITY; /* a maximum itself, and in the patch of (20, 20) */
    m = (deja__alike_maps){s, d, 64, 64, 64, 48, 4};
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_FORMAT, deja__alike_post_error(post),
                      "non-finite", NULL));
    s[21 * 64 + 21] = NAN; /* NaN wins max-pool: (20, 20) is no maximum, nothing selected */
    ASSERT_OK(deja__alike_post_run(post, &m, &f));
    EXPECT_EQ(f.n, 0);
    s[21 * 64 + 21] = 0.01f;
    d[(2 * 64 + 20) * 64 + 20] = NAN;
    EXPECT(expect_err(deja__alike_post_run(post, &m, &f), DEJA_FORMAT, deja__alike_post_error(post),
                      "descriptor map", "(20.00, 20.00)"));
    deja__alike_post_destroy(post);
    free(s);
    free(d);
}

/* ---- input tensor ----------------------------------------------------------------------- */

TEST(grey_and_rgb_pixels_become_a_zero_padded_planar_tensor)
{
    int pw, ph;
    ASSERT_OK(deja__alike_padded_size(33, 32, &pw, &ph, NULL));
    EXPECT(pw == 64 && ph == 32);
    EXPECT_STATUS(deja__alike_padded_size(0, 32, &pw, &ph, NULL), DEJA_LIMIT);
    uint8_t grey[3 * 8];
    for (int i = 0; i < 24; i++)
        grey[i] = (uint8_t)(i * 11);
    deja_image im = {5, 3, 8, grey};
    float *t = map_fill(32, 32 * 3, -1.0f);
    ASSERT_OK(deja__alike_input_grey(&im, t, 32, 32, NULL));
    int wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                float want = x < 5 && y < 3 ? (float)grey[y * 8 + x] / 255.0f : 0.0f;
                wrong += t[(c * 32 + y) * 32 + x] != want;
            }
    EXPECT_EQ(wrong, 0);
    uint8_t rgb[2 * 10]; /* 3 x 2 pixels, stride 10 */
    for (int i = 0; i < 20; i++)
        rgb[i] = (uint8_t)(255 - i * 7);
    ASSERT_OK(deja__alike_input_rgb(rgb, 3, 2, 10, t, 32, 32, NULL));
    EXPECT(t[0] == rgb[0] / 255.0f && t[32 * 32] == rgb[1] / 255.0f &&
           t[2 * 32 * 32] == rgb[2] / 255.0f);
    EXPECT(t[32 + 2] == rgb[10 + 6] / 255.0f && t[2 * 32 * 32 + 32 + 2] == rgb[10 + 8] / 255.0f);
    EXPECT(t[3] == 0.0f && t[2 * 32] == 0.0f && t[3 * 32 * 32 - 1] == 0.0f);
    char err[DEJA_ERROR_BYTES];
    EXPECT(expect_err(deja__alike_input_rgb(rgb, 3, 2, 8, t, 32, 32, err), DEJA_INVALID_ARG, err,
                      "stride 8", NULL));
    EXPECT(expect_err(deja__alike_input_grey(&im, t, 30, 32, err), DEJA_INVALID_ARG, err, "30 x 32",
                      NULL));
    im.width = 40;
    EXPECT(expect_err(deja__alike_input_grey(&im, t, 32, 32, err), DEJA_INVALID_ARG, err, "40 x 3",
                      NULL));
    free(t);
}

/* ---- shared test vectors ---------------------------------------------------------------- */

typedef struct model {
    char dir[1200];
    int dim;
} model;

/* Directories of the shared models present; 0 if none (then the caller skips). */
static int shared_models(model out[2])
{
    const char *shared = test_shared_dir();
    if (!shared) return 0;
    const char *names[2] = {"alike-t", "alike-n"};
    const int dims[2] = {64, 128};
    int n = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(out[n].dir, sizeof out[n].dir, "%s/models/%s", shared, names[k]);
        out[n].dim = dims[k];
        if (access(out[n].dir, R_OK) == 0) n++;
    }
    return n;
}

static int load(const char *dir, const char *file, unsigned flags, deja__npy *a)
{
    char path[2600], err[DEJA_ERROR_BYTES];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (deja__npy_load(NULL, path, flags, a, err) != DEJA_OK) {
        TEST_FAIL_AT("%s", err);
        return 0;
    }
    return 1;
}

TEST(shared_test_image_crop_gives_the_reference_input_tensor_exactly)
{
    model ms[2];
    int nm = shared_models(ms);
    if (!nm) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    deja__npy img, in;
    ASSERT(load(ms[0].dir, "test_image_240x320_rgb_u8.npy", 0, &img));
    if (!load(ms[0].dir, "test_input_1x3x32x64.npy", 0, &in)) {
        deja__npy_free(&img);
        return;
    }
    /* rows 96..127, cols 128..191 of the image as a 64 x 32 RGB view */
    const uint8_t *px = (const uint8_t *)img.data + (96 * 320 + 128) * 3;
    float *t = malloc(3 * 32 * 64 * sizeof *t);
    ASSERT_OK(deja__alike_input_rgb(px, 64, 32, 320 * 3, t, 64, 32, NULL));
    size_t diff = 0;
    for (int i = 0; i < 3 * 32 * 64; i++)
        diff += t[i] != deja__npy_f32(&in)[i];
    EXPECT_EQ(diff, 0);
    /* the full image pads to 320 x 256 */
    int pw, ph;
    ASSERT_OK(deja__alike_padded_size(320, 240, &pw, &ph, NULL));
    EXPECT(pw == 320 && ph == 256);
    free(t);
    deja__npy_free(&img);
    deja__npy_free(&in);
}

/* Our keypoints on the full expected scores map (embedded in a 320 x 256 tensor, NaN padding) vs
 * the expected ones. desc: a 1 x dim x 256 x 320 descriptor tensor, or NULL (then a dummy dim-1
 * map and descriptors are not checked). */
static void check_full_frame(const model *md, const float *desc, int dim)
{
    deja__npy sm, pk = {0}, ps = {0}, sk = {0}, ss = {0}, pd = {0}, sd = {0};
    if (!load(md->dir, "expected_scores_map_1x1x240x320.npy", 0, &sm)) return;
    int ok = load(md->dir, "expected_pixel_keypoints_xy.npy", 0, &pk) &&
             load(md->dir, "expected_pixel_scores.npy", 0, &ps) &&
             load(md->dir, "expected_subpixel_keypoints_xy.npy", 0, &sk) &&
             load(md->dir, "expected_subpixel_scores.npy", 0, &ss);
    if (ok && desc)
        ok = load(md->dir, "expected_pixel_descriptors.npy", 0, &pd) &&
             load(md->dir, "expected_subpixel_descriptors.npy", DEJA__NPY_FORTRAN_TO_C, &sd);
    const int w = 320, h = 240, mh = 256;
    float *s = map_fill(w, mh, NAN), *dummy = NULL;
    memcpy(s, sm.data, (size_t)w * h * sizeof *s);
    if (!desc) {
        dummy = map_fill(w, mh, 1.0f);
        desc = dummy, dim = 1;
    }
    size_t n_exp = ok ? (size_t)pk.dims[0] : 0;
    const float *exy[2] = {deja__npy_f32(&pk), deja__npy_f32(&sk)};
    const float *esc[2] = {deja__npy_f32(&ps), deja__npy_f32(&ss)};
    const float *ede[2] = {deja__npy_f32(&pd), deja__npy_f32(&sd)};
    int *ours_at = malloc((size_t)w * h * sizeof *ours_at); /* pixel -> our pixel-mode index */
    for (int i = 0; ok && i < w * h; i++)
        ours_at[i] = -1;
    size_t pix_n = 0;
    for (int sub = 0; ok && sub < 2; sub++) {
        deja__alike_params p = deja__alike_params_default();
        p.sub_pixel = sub;
        p.max_keypoints = 0;
        deja__alike_post *post = NULL;
        ASSERT_OK(deja__alike_post_create(NULL, &p, w, h, dim, &post));
        deja__alike_maps m = {s, desc, w, mh, w, h, dim};
        deja_features f;
        deja_status st = deja__alike_post_run(post, &m, &f);
        if (st != DEJA_OK) {
            TEST_FAIL_AT("%s: %s", md->dir, deja__alike_post_error(post));
            deja__alike_post_destroy(post);
            break;
        }
        if (!sub) { /* pixel mode: integer positions, the NMS pixels */
            for (size_t i = 0; i < f.n; i++)
                ours_at[(int)f.keypoints[i].y * w + (int)f.keypoints[i].x] = (int)i;
            pix_n = f.n;
        }
        EXPECT_EQ(f.n, pix_n); /* same selection in both modes */
        size_t same = 0;
        double worst_xy = 0, worst_s = 0, worst_d = 0;
        for (size_t e = 0; e < n_exp; e++) {
            int px = (int)exy[0][2 * e], py = (int)exy[0][2 * e + 1];
            int i = ours_at[py * w + px]; /* the same NMS pixel; same index in both modes */
            if (i < 0) continue;
            same++;
            const deja_keypoint *k = &f.keypoints[i];
            worst_xy = fmax(worst_xy,
                            fmax(fabs(k->x - exy[sub][2 * e]), fabs(k->y - exy[sub][2 * e + 1])));
            worst_s = fmax(worst_s, fabs(k->response - esc[sub][e]));
            if (!dummy)
                for (int c = 0; c < dim; c++)
                    worst_d = fmax(worst_d, fabs(((const float *)f.descriptors)[i * dim + c] -
                                                 ede[sub][e * dim + c]));
        }
        fprintf(stderr,
                "  %s %s: %zu ours, %zu expected, %zu same; worst |dxy| %.2g, |dscore| %.2g%s",
                strrchr(md->dir, '/') + 1, sub ? "sub-pixel" : "pixel", f.n, n_exp, same, worst_xy,
                worst_s, dummy ? "\n" : "");
        if (!dummy) fprintf(stderr, ", |ddesc| %.2g\n", worst_d);
        EXPECT_GE((double)same, 0.99 * (double)n_exp);
        EXPECT_GE((double)same, 0.99 * (double)f.n);
        EXPECT_LE(worst_xy, 1e-3);
        EXPECT_LE(worst_s, 1e-4);
        if (!dummy) EXPECT_LE(worst_d, 1e-4);
        deja__alike_post_destroy(post);
    }
    free(ours_at);
    free(s);
    free(dummy);
    deja__npy *all[7] = {&sm, &pk, &ps, &sk, &ss, &pd, &sd};
    for (int i = 0; i < 7; i++)
        deja__npy_free(all[i]);
}

TEST(shared_full_frame_keypoints_and_scores_match_the_original)
{
    model ms[2];
    int nm = shared_models(ms);
    if (!nm) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    for (int k = 0; k < nm; k++)
        check_full_frame(&ms[k], NULL, 0);
}

/* Descriptors on the 32x64 crop outputs, against the sampling written out here. These maps are
 * the network's outputs for the crop as input, not a crop of the full-frame maps, so they say
 * nothing about expected_*_descriptors (see the DEJA_ALIKE_DESC_MAP test below). */
TEST(shared_crop_descriptors_are_the_sampled_and_renormalised_map)
{
    model ms[2];
    int nm = shared_models(ms);
    if (!nm) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    for (int k = 0; k < nm; k++) {
        deja__npy sm, dm;
        if (!load(ms[k].dir, "expected_scores_map_1x1x32x64.npy", 0, &sm)) continue;
        if (!load(ms[k].dir, "expected_descriptor_map_1xDx32x64.npy", 0, &dm)) {
            deja__npy_free(&sm);
            continue;
        }
        const int w = 64, h = 32, dim = ms[k].dim;
        const float *S = deja__npy_f32(&sm), *D = deja__npy_f32(&dm);
        EXPECT_EQ(dm.dims[1], dim);
        for (int sub = 0; sub < 2 && dm.dims[1] == dim; sub++) {
            deja__alike_params p = deja__alike_params_default();
            p.sub_pixel = sub;
            deja__alike_post *post = NULL;
            ASSERT_OK(deja__alike_post_create(NULL, &p, w, h, dim, &post));
            deja__alike_maps m = {S, D, w, h, w, h, dim};
            deja_features f;
            ASSERT_OK(deja__alike_post_run(post, &m, &f));
            EXPECT(f.n >= 3); /* the crop has a few strong corners */
            double worst = 0, worst_norm = 0;
            for (size_t i = 0; i < f.n; i++) {
                double x = f.keypoints[i].x, y = f.keypoints[i].y, v[128] = {0}, n2 = 0;
                int ix = (int)floor(x), iy = (int)floor(y);
                double fx = x - ix, fy = y - iy;
                for (int c = 0; c < dim; c++) {
                    const float *pl = D + (size_t)c * w * h;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            int xx = ix + dx, yy = iy + dy;
                            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                            v[c] += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * pl[yy * w + xx];
                        }
                    n2 += v[c] * v[c];
                }
                if (!sub) EXPECT(fx == 0 && fy == 0);
                double g2 = 0;
                for (int c = 0; c < dim; c++) {
                    float g = ((const float *)f.descriptors)[i * dim + c];
                    worst = fmax(worst, fabs(g - v[c] / sqrt(n2)));
                    g2 += (double)g * g;
                }
                worst_norm = fmax(worst_norm, fabs(g2 - 1.0));
            }
            EXPECT_LE(worst, 1e-6);
            EXPECT_LE(worst_norm, 1e-5);
            deja__alike_post_destroy(post);
        }
        deja__npy_free(&sm);
        deja__npy_free(&dm);
    }
}

/* Full-frame descriptors need the engine's descriptor map of the test image:
 * DEJA_ALIKE_DESC_MAP=<.npy 1xDx240x320 or 1xDx256x320 (padded), D = 64: alike-t, 128: alike-n>.
 * Scores come from the expected scores map; the expected descriptors must match within 1e-4. */
TEST(shared_full_frame_descriptors_match_with_the_engines_descriptor_map)
{
    const char *path = getenv("DEJA_ALIKE_DESC_MAP");
    if (!path || !*path) SKIP("set DEJA_ALIKE_DESC_MAP=<engine's 1xDx240x320 .npy of the image>");
    model ms[2];
    int nm = shared_models(ms);
    if (!nm) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    deja__npy dm;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__npy_load(NULL, path, 0, &dm, err));
    int dim = dm.rank == 4 ? (int)dm.dims[1] : 0;
    if (!deja__npy_f32(&dm) || dm.dims[0] != 1 || (dim != 64 && dim != 128) || dm.dims[3] != 320 ||
        (dm.dims[2] != 240 && dm.dims[2] != 256)) {
        TEST_FAIL_AT("%s: want float32 1x{64,128}x{240,256}x320", path);
        deja__npy_free(&dm);
        return;
    }
    const model *md = NULL;
    for (int k = 0; k < nm; k++)
        if (ms[k].dim == dim) md = &ms[k];
    if (!md) {
        deja__npy_free(&dm);
        SKIP("no shared model with %d-dim descriptors", dim);
    }
    /* check_full_frame reads a 256-row tensor: pad a 240-row map with NaN rows */
    const float *D = deja__npy_f32(&dm);
    float *padded = NULL;
    if (dm.dims[2] == 240) {
        padded = malloc((size_t)dim * 256 * 320 * sizeof *padded);
        for (size_t i = 0; i < (size_t)dim * 256 * 320; i++)
            padded[i] = NAN;
        for (int c = 0; c < dim; c++)
            memcpy(padded + (size_t)c * 256 * 320, D + (size_t)c * 240 * 320,
                   240 * 320 * sizeof *padded);
        D = padded;
    }
    check_full_frame(md, D, dim);
    free(padded);
    deja__npy_free(&dm);
}
