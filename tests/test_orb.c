/* test_orb.c - our ORB: kernels against their references, output invariants, determinism,
 * no allocation once warm, invalid input, and quality under known warps (repeatability and
 * descriptor matching) on generated textures and, when /work/shared is there, real frames. */
#include "image.h"
#include "orb.h"
#include "simd.h"
#include "test.h"
#include "test_util.h"

static int rng_int(uint64_t *s, int n)
{
    return (int)(deja__splitmix64(s) % (uint64_t)n);
}

/* A deterministic textured scene: a smooth gradient, then random rectangles and discs of random
 * grey (corners and curved edges at every scale), then mild noise. */
static uint8_t *texture(int w, int h, uint64_t seed)
{
    uint8_t *p = malloc((size_t)w * h);
    uint64_t s = seed;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p[(size_t)y * w + x] = (uint8_t)(60 + (x + y) * 80 / (w + h));
    int shapes = w * h / 700;
    for (int i = 0; i < shapes; i++) {
        int cx = rng_int(&s, w), cy = rng_int(&s, h), r = 3 + rng_int(&s, i < shapes / 8 ? 60 : 14);
        uint8_t g = (uint8_t)rng_int(&s, 256);
        int disc = rng_int(&s, 2), rh = 3 + rng_int(&s, 2 * r);
        for (int y = cy - r; y <= cy + r; y++)
            for (int x = cx - r; x <= cx + r; x++) {
                if (x < 0 || y < 0 || x >= w || y >= h) continue;
                if (disc && (x - cx) * (x - cx) + (y - cy) * (y - cy) > r * r) continue;
                if (!disc && abs(y - cy) > rh / 2) continue;
                p[(size_t)y * w + x] = g;
            }
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        int v = p[i] + rng_int(&s, 7) - 3;
        p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return p;
}

static deja_orb *make_orb(deja_simd simd)
{
    deja_options o = deja_options_default();
    o.simd = simd;
    deja_orb *orb = NULL;
    if (deja_orb_create(&o, &orb) != DEJA_OK) return NULL;
    return orb;
}

/* A copy of a feature set (the handle's buffers are reused by the next call). */
typedef struct {
    size_t n;
    deja_keypoint *kps;
    uint8_t *desc;
} feats;

static feats copy_feats(const deja_features *f)
{
    feats c = {f->n, malloc(f->n * sizeof *c.kps + 1), malloc(f->n * 32 + 1)};
    memcpy(c.kps, f->keypoints, f->n * sizeof *c.kps);
    memcpy(c.desc, f->descriptors, f->n * 32);
    return c;
}

static void free_feats(feats *f)
{
    free(f->kps);
    free(f->desc);
}

static bool detect_copy(deja_orb *orb, const uint8_t *px, int w, int h, int stride, feats *out)
{
    deja_image im = {w, h, stride, px};
    deja_features f;
    if (deja_orb_detect(orb, &im, &f) != DEJA_OK) return false;
    *out = copy_feats(&f);
    return true;
}

/* ---- kernels against their references ------------------------------------------------------- */

TEST(fast_row_simd_matches_reference)
{
#if defined(__x86_64__) || defined(__aarch64__)
    const int w = 200, h = 40;
    uint64_t s = 5;
    uint8_t *img = malloc((size_t)w * h);
    int32_t a[256], b[256];
    long total = 0;
    for (int round = 0; round < 60; round++) {
        /* Noise, blocky noise (many corners) or flat with spikes (few). */
        for (int i = 0; i < w * h; i++) {
            int x = i % w, y = i / w;
            img[i] = round % 3 == 0   ? (uint8_t)deja__splitmix64(&s)
                     : round % 3 == 1 ? (uint8_t)(((x / 3) * 7919 + (y / 3) * 104729 + round) * 37)
                                      : (uint8_t)(rng_int(&s, 50) ? 100 : rng_int(&s, 256));
        }
        int t = round % 5 == 0 ? 0 : round % 5 == 1 ? 255 : 1 + rng_int(&s, 60);
        for (int y = 3; y < h - 3; y++) {
            int x0 = 3 + rng_int(&s, 40), x1 = x0 + rng_int(&s, w - 3 - x0 + 1);
            const uint8_t *row = img + y * w;
            int na = deja__fast_row_ref(row, w, x0, x1, t, a);
#if defined(__x86_64__)
            int nb = deja__fast_row_sse2(row, w, x0, x1, t, b);
            ASSERT_EQ(na, nb);
            for (int i = 0; i < na; i++)
                ASSERT_EQ(a[i], b[i]);
            if (deja_simd_detect() == DEJA_SIMD_AVX2)
                nb = deja__fast_row_avx2(row, w, x0, x1, t, b);
#else
            int nb = deja__fast_row_neon(row, w, x0, x1, t, b);
#endif
            ASSERT_EQ(na, nb);
            for (int i = 0; i < na; i++)
                ASSERT_EQ(a[i], b[i]);
            total += na;
        }
    }
    EXPECT_GE(total, 1000); /* the comparison saw corners */
    free(img);
#else
    SKIP("no SIMD fast_row on this architecture");
#endif
}

TEST(fast_score_is_the_largest_passing_threshold)
{
    const int w = 64, h = 16;
    uint8_t img[64 * 16];
    uint64_t s = 77;
    int checked = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < w * h; i++)
            img[i] = (uint8_t)(rng_int(&s, 4) ? 128 : deja__splitmix64(&s));
        for (int y = 3; y < h - 3; y++)
            for (int x = 3; x < w - 3; x++) {
                const uint8_t *p = img + y * w + x;
                int sc = deja__orb_fast_score_ref(p, w);
                int32_t xs[1];
                /* Corner at threshold sc - 1, not at sc. */
                if (sc > 0) EXPECT_EQ(deja__fast_row_ref(img + y * w, w, x, x + 1, sc - 1, xs), 1);
                EXPECT_EQ(deja__fast_row_ref(img + y * w, w, x, x + 1, sc, xs), 0);
#if defined(__x86_64__)
                ASSERT_EQ(deja__orb_fast_score_sse2(p, w), sc);
#endif
                checked += sc > 0;
            }
    }
    EXPECT_GE(checked, 100);
}

TEST(harris_and_moments_simd_match_reference)
{
#if defined(__x86_64__)
    const int w = 80, h = 80;
    uint8_t *img = texture(w, h, 3);
    uint64_t s = 9;
    int umax[16];
    for (int v = 0; v < 16; v++)
        umax[v] = 15 - v / 2;
    for (int i = 0; i < 2000; i++) {
        if (i % 100 == 0)
            for (int k = 0; k < w * h; k++)
                img[k] = (uint8_t)(i % 200 ? deja__splitmix64(&s) : 255 * (k & 1));
        int x = 16 + rng_int(&s, w - 33), y = 16 + rng_int(&s, h - 32);
        const uint8_t *c = img + y * w + x;
        ASSERT_EQ(deja__orb_harris_sse2(c, w), deja__orb_harris_ref(c, w));
        int32_t a10, a01, b10, b01;
        deja__orb_moments_ref(c, w, umax, &a10, &a01);
        deja__orb_moments_sse2(c, w, umax, &b10, &b01);
        ASSERT_EQ(a10, b10);
        ASSERT_EQ(a01, b01);
    }
    free(img);
#else
    SKIP("the SSE2 kernels exist on x86-64 only");
#endif
}

TEST(harris_is_high_on_a_corner_and_negative_on_an_edge)
{
    uint8_t img[32 * 32];
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            img[y * 32 + x] = (x >= 16 && y >= 16) ? 200 : 20;
    int64_t corner = deja__orb_harris_ref(img + 16 * 32 + 16, 32);
    int64_t edge = deja__orb_harris_ref(img + 24 * 32 + 16, 32); /* vertical edge only */
    int64_t flat = deja__orb_harris_ref(img + 6 * 32 + 6, 32);
    EXPECT(corner > 0);
    EXPECT(edge < 0);
    EXPECT_EQ(flat, 0);
}

TEST(pattern_is_pinned_inside_the_disc_and_free_of_repeats)
{
    int8_t p[DEJA_ORB_BITS][4];
    deja__orb_pattern(DEJA_ORB_PATTERN_SEED, p);
    for (int i = 0; i < DEJA_ORB_BITS; i++) {
        for (int k = 0; k < 4; k += 2)
            EXPECT_LE(p[i][k] * p[i][k] + p[i][k + 1] * p[i][k + 1], 225);
        EXPECT(p[i][0] != p[i][2] || p[i][1] != p[i][3]);
        for (int j = 0; j < i; j++)
            EXPECT(memcmp(p[i], p[j], 4) != 0);
    }
    /* Vocabularies trained on our descriptors depend on this exact pattern: any change must be
     * deliberate (docs/orb.md says how to regenerate and what it breaks). */
    EXPECT_EQ(deja__hash64(p, sizeof p, 0), 0x81B711493C727118ull);
    /* Rotation by a quarter turn is exact. */
    int8_t r[DEJA_ORB_BITS][4];
    deja__orb_pattern_rotate(p, DEJA_ORB_ANGLE_BINS / 4, r);
    for (int i = 0; i < DEJA_ORB_BITS; i++) {
        EXPECT_EQ(r[i][0], -p[i][1]);
        EXPECT_EQ(r[i][1], p[i][0]);
    }
}

/* ---- output invariants ---------------------------------------------------------------------- */

TEST(textured_vga_gives_near_target_count_inside_borders)
{
    const int w = 640, h = 480;
    uint8_t *img = texture(w, h, 1);
    deja_orb *orb = make_orb(DEJA_SIMD_AUTO);
    ASSERT(orb);
    deja_image im = {w, h, w, img};
    deja_features f;
    ASSERT_OK(deja_orb_detect(orb, &im, &f));
    EXPECT_GE(f.n, 900);
    EXPECT_LE(f.n, 1000);
    EXPECT_EQ(f.kind, DEJA_DESC_BINARY);
    EXPECT_EQ(f.desc_bytes, 32);
    int levels[8] = {0};
    for (size_t i = 0; i < f.n; i++) {
        const deja_keypoint *k = &f.keypoints[i];
        EXPECT(k->x >= 19 && k->x <= w - 20 && k->y >= 19 && k->y <= h - 20);
        EXPECT(k->angle >= 0 && k->angle < 360);
        ASSERT(k->octave >= 0 && k->octave < 8);
        levels[k->octave]++;
        EXPECT_NEAR(k->size, 31 * pow(1.2, k->octave), 0.05 * k->size);
        EXPECT(isfinite(k->response));
        if (i + 1 < f.n && k->octave == k[1].octave) {
            /* no two keypoints of a level at the same place */
            EXPECT(k->x != k[1].x || k->y != k[1].y);
        }
    }
    for (int l = 0; l < 8; l++)
        EXPECT_GE(levels[l], 20); /* every level contributes */
    deja_orb_destroy(orb);
    free(img);
}

TEST(same_image_gives_identical_output_and_scalar_equals_simd)
{
    const int w = 500, h = 375;
    uint8_t *img = texture(w, h, 2);
    /* A stride wider than the width, with junk in the padding. */
    uint8_t *padded = malloc((size_t)(w + 13) * h);
    for (int y = 0; y < h; y++) {
        memcpy(padded + (size_t)y * (w + 13), img + (size_t)y * w, (size_t)w);
        memset(padded + (size_t)y * (w + 13) + w, 0xA5, 13);
    }
    deja_orb *a = make_orb(DEJA_SIMD_AUTO), *s = make_orb(DEJA_SIMD_SCALAR);
    ASSERT(a && s);
    feats f1, f2, f3, f4;
    ASSERT(detect_copy(a, img, w, h, w, &f1));
    ASSERT(detect_copy(a, img, w, h, w, &f2));
    ASSERT(detect_copy(s, img, w, h, w, &f3));
    ASSERT(detect_copy(a, padded, w, h, w + 13, &f4));
    ASSERT(f1.n > 500);
    ASSERT_EQ(f1.n, f2.n);
    ASSERT_EQ(f1.n, f3.n);
    ASSERT_EQ(f1.n, f4.n);
    EXPECT(memcmp(f1.kps, f2.kps, f1.n * sizeof *f1.kps) == 0);
    EXPECT(memcmp(f1.desc, f2.desc, f1.n * 32) == 0);
    EXPECT(memcmp(f1.kps, f3.kps, f1.n * sizeof *f1.kps) == 0);
    EXPECT(memcmp(f1.desc, f3.desc, f1.n * 32) == 0);
    EXPECT(memcmp(f1.kps, f4.kps, f1.n * sizeof *f1.kps) == 0);
    EXPECT(memcmp(f1.desc, f4.desc, f1.n * 32) == 0);
    free_feats(&f1), free_feats(&f2), free_feats(&f3), free_feats(&f4);
    deja_orb_destroy(a);
    deja_orb_destroy(s);
    free(padded);
    free(img);
}

TEST(frames_after_warm_up_allocate_nothing)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_orb *orb;
    ASSERT_OK(deja_orb_create(&o, &orb));
    uint8_t *img[4];
    for (int i = 0; i < 4; i++)
        img[i] = texture(640, 480, 100 + i);
    deja_features f;
    deja_image im = {640, 480, 640, img[0]};
    ASSERT_OK(deja_orb_detect(orb, &im, &f));
    size_t warm = c.calls;
    for (int r = 0; r < 8; r++) {
        im.pixels = img[r % 4];
        ASSERT_OK(deja_orb_detect(orb, &im, &f));
    }
    EXPECT_EQ(c.calls, warm);
    /* A smaller frame fits in the buffers too. */
    im = (deja_image){320, 240, 640, img[1]};
    ASSERT_OK(deja_orb_detect(orb, &im, &f));
    EXPECT_EQ(c.calls, warm);
    deja_orb_destroy(orb);
    EXPECT_EQ(c.live, 0);
    for (int i = 0; i < 4; i++)
        free(img[i]);
}

TEST(invalid_input_is_refused_with_a_message)
{
    deja_orb *orb = make_orb(DEJA_SIMD_AUTO);
    ASSERT(orb);
    uint8_t px[100 * 100] = {0};
    deja_features f;
    deja_image ok = {100, 100, 100, px};
    EXPECT_STATUS(deja_orb_detect(orb, NULL, &f), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_orb_error(orb), "orb") != NULL);
    EXPECT_STATUS(deja_orb_detect(orb, &ok, NULL), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_orb_detect(NULL, &ok, &f), DEJA_INVALID_ARG);
    deja_image bad = ok;
    bad.pixels = NULL;
    EXPECT_STATUS(deja_orb_detect(orb, &bad, &f), DEJA_INVALID_ARG);
    bad = ok, bad.width = 0;
    EXPECT_STATUS(deja_orb_detect(orb, &bad, &f), DEJA_INVALID_ARG);
    bad = ok, bad.height = -3;
    EXPECT_STATUS(deja_orb_detect(orb, &bad, &f), DEJA_INVALID_ARG);
    bad = ok, bad.stride = 99;
    EXPECT_STATUS(deja_orb_detect(orb, &bad, &f), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_orb_error(orb), "stride 99 < width 100") != NULL);
    bad = ok, bad.width = 38, bad.stride = 38; /* not more than 2 * edge */
    EXPECT_STATUS(deja_orb_detect(orb, &bad, &f), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_orb_error(orb), "too small") != NULL);
    /* After errors the handle still works; a flat image has no features. */
    ASSERT_OK(deja_orb_detect(orb, &ok, &f));
    EXPECT_EQ(f.n, 0);
    deja_orb_destroy(orb);

    deja_options o = deja_options_default();
    deja_orb *h = NULL;
    EXPECT_STATUS(deja_orb_create(&o, NULL), DEJA_INVALID_ARG);
    o.orb.scale_factor = 1.0f;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_last_error(), "scale_factor") != NULL);
    o = deja_options_default(), o.orb.n_levels = 40;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    o = deja_options_default(), o.orb.edge_threshold = 10;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    o = deja_options_default(), o.orb.n_features = -5;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    o = deja_options_default(), o.orb.min_fast_threshold = 30;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    o = deja_options_default(), o.orb.scale_factor = NAN;
    EXPECT_STATUS(deja_orb_create(&o, &h), DEJA_INVALID_ARG);
    EXPECT(h == NULL);
}

/* ---- quality under known warps -------------------------------------------------------------- */

/* dst -> src map A (what deja__image_warp_affine takes) for: rotate by deg and scale by s
 * about the centre, dst = R s (src - c) + c. */
static void warp_about_centre(int w, int h, double deg, double s, double A[6])
{
    double r = deg * 3.14159265358979323846 / 180, c = cos(r) / s, n = sin(r) / s;
    double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    /* src = R^-1 (dst - c) / s + c */
    A[0] = c, A[1] = n, A[2] = cx - c * cx - n * cy;
    A[3] = -n, A[4] = c, A[5] = cy + n * cx - c * cy;
}

static void apply(const double M[6], double x, double y, double *ox, double *oy)
{
    *ox = M[0] * x + M[1] * y + M[2];
    *oy = M[3] * x + M[4] * y + M[5];
}

static void invert(const double A[6], double B[6])
{
    double det = A[0] * A[4] - A[1] * A[3];
    B[0] = A[4] / det, B[1] = -A[1] / det, B[3] = -A[3] / det, B[4] = A[0] / det;
    B[2] = -(B[0] * A[2] + B[1] * A[5]);
    B[5] = -(B[3] * A[2] + B[4] * A[5]);
}

typedef struct {
    double rep, match;
} quality;

static int hamming(const uint8_t *a, const uint8_t *b)
{
    int d = 0;
    for (int i = 0; i < 32; i++)
        d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
    return d;
}

/* The bench's metric (bench/orb_vs_opencv.cpp). F maps image a to image b (src -> dst).
 * Common area: points whose image in the other frame lies 20 px inside it, and which are not
 * next to the black fill (the warp's outside). rep: a's keypoints with one of b within 2.5 px
 * of their image, and the same from b to a; the smaller count over min(#a, #b). match: a's
 * keypoints whose nearest Hamming neighbour in b lies within 2.5 px of their image. */
static quality measure(const feats *a, const feats *b, const double F[6], int w, int h)
{
    double G[6];
    invert(F, G);
    const double m = 20, tol2 = 2.5 * 2.5;
    size_t na = 0, nb = 0, rep_a = 0, rep_b = 0, match = 0;
    for (size_t i = 0; i < b->n; i++) {
        double x, y;
        apply(G, b->kps[i].x, b->kps[i].y, &x, &y);
        if (x < m || y < m || x >= w - m || y >= h - m) continue;
        nb++;
        bool near = false;
        for (size_t j = 0; j < a->n && !near; j++) {
            double u, v;
            apply(F, a->kps[j].x, a->kps[j].y, &u, &v);
            near = (u - b->kps[i].x) * (u - b->kps[i].x) + (v - b->kps[i].y) * (v - b->kps[i].y) <=
                   tol2;
        }
        rep_b += near;
    }
    for (size_t j = 0; j < a->n; j++) {
        double u, v;
        apply(F, a->kps[j].x, a->kps[j].y, &u, &v);
        if (u < m || v < m || u >= w - m || v >= h - m) continue;
        na++;
        bool near = false;
        size_t best = 0;
        int bestd = 1 << 30;
        for (size_t i = 0; i < b->n; i++) {
            double dx = b->kps[i].x - u, dy = b->kps[i].y - v;
            near = near || dx * dx + dy * dy <= tol2;
            int d = hamming(a->desc + j * 32, b->desc + i * 32);
            if (d < bestd) bestd = d, best = i;
        }
        rep_a += near;
        double dx = b->kps[best].x - u, dy = b->kps[best].y - v;
        match += dx * dx + dy * dy <= tol2;
    }
    size_t nmin = na < nb ? na : nb;
    quality q = {0, 0};
    if (nmin == 0 || na == 0) return q;
    q.rep = (double)(rep_a < rep_b ? rep_a : rep_b) / (double)nmin;
    q.match = (double)match / (double)na;
    return q;
}

/* Warp img (w x h) by rotation deg and scale s about the centre, then gain and bias; detect on
 * both; return the quality. */
static quality warped_quality(deja_orb *orb, const uint8_t *img, int w, int h, double deg, double s,
                              double gain, double bias)
{
    deja_allocator al = deja__allocator(NULL);
    deja__gray g = {0};
    quality q = {-1, -1};
    if (!deja__gray_resize_buffer(&al, &g, w, h)) return q;
    double A[6], F[6];
    warp_about_centre(w, h, deg, s, A);
    invert(A, F);
    deja_image src = {w, h, w, img};
    deja__image_warp_affine(&src, &g, A);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = g.pixels + (size_t)y * g.stride + x;
            double v = *p * gain + bias;
            *p = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
        }
    feats a, b;
    if (detect_copy(orb, img, w, h, w, &a) && detect_copy(orb, g.pixels, w, h, g.stride, &b)) {
        q = measure(&a, &b, F, w, h);
        free_feats(&a), free_feats(&b);
    }
    deja__gray_free(&al, &g);
    return q;
}

/* Thresholds: the extractor measures repeatability 0.81-0.97 and matching 0.55-0.94 under these
 * warps on the textures and real frames; the limits leave 0.15-0.3 of margin. Matching has a
 * chance level near 0 (the nearest of ~600 candidates must be the one true keypoint), so
 * orientation that does not follow the rotation fails by far: with every angle forced to 0,
 * matching measured 0.04 at 30 degrees, 0.00 at 90 and 0.29 at 20 degrees + scale 0.8 (limits
 * 0.5, 0.6, 0.35); so does a broken descriptor. */
typedef struct {
    double deg, scale, gain, bias, min_rep, min_match;
} warp_case;

static const warp_case CASES[] = {
    {30, 1.0, 1.0, 0, 0.6, 0.5},  {90, 1.0, 1.0, 0, 0.7, 0.6}, {0, 0.7, 1.0, 0, 0.5, 0.35},
    {0, 1.3, 1.0, 0, 0.5, 0.35},  {0, 1.0, 1.0, 40, 0.7, 0.6}, {0, 1.0, 0.7, 0, 0.6, 0.55},
    {20, 0.8, 1.0, 0, 0.5, 0.35},
};

static void check_cases(deja_orb *orb, const uint8_t *img, int w, int h, const char *what)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const warp_case *c = &CASES[i];
        quality q = warped_quality(orb, img, w, h, c->deg, c->scale, c->gain, c->bias);
        fprintf(stderr,
                "  %s: rotate %g, scale %g, gain %g, bias %g: repeatability %.3f, "
                "matching %.3f\n",
                what, c->deg, c->scale, c->gain, c->bias, q.rep, q.match);
        EXPECT_GE(q.rep, c->min_rep);
        EXPECT_GE(q.match, c->min_match);
    }
}

TEST(repeatable_and_matching_under_warps_on_textures)
{
    deja_orb *orb = make_orb(DEJA_SIMD_AUTO);
    ASSERT(orb);
    for (int k = 0; k < 2; k++) {
        uint8_t *img = texture(640, 480, 1000 + k);
        check_cases(orb, img, 640, 480, "texture");
        free(img);
    }
    deja_orb_destroy(orb);
}

TEST(repeatable_and_matching_under_warps_on_real_frames)
{
    const char *shared = test_shared_dir();
    if (!shared) SKIP("no shared data directory (../shared or DEJA_SHARED)");
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/data/tum-fr1-xyz/images", shared);
    deja_options o = deja_options_default();
    deja_decoder *dec;
    ASSERT_OK(deja_decoder_create(&o, &dec));
    deja_orb *orb = make_orb(DEJA_SIMD_AUTO);
    ASSERT(orb);
    const char *names[] = {"1305031102.175304.jpg", "1305031110.479331.jpg",
                           "1305031118.811221.jpg"};
    int done = 0;
    for (int i = 0; i < 3; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        deja_image im;
        deja_status st = deja_decoder_read_file(dec, path, &im);
        if (st == DEJA_UNSUPPORTED) {
            deja_orb_destroy(orb);
            deja_decoder_destroy(dec);
            SKIP("JPEG input not built in: %s", deja_last_error());
        }
        ASSERT_OK(st);
        uint8_t *px = malloc((size_t)im.width * im.height);
        for (int y = 0; y < im.height; y++)
            memcpy(px + (size_t)y * im.width, im.pixels + (size_t)y * im.stride, (size_t)im.width);
        check_cases(orb, px, im.width, im.height, names[i]);
        free(px);
        done++;
    }
    deja_orb_destroy(orb);
    deja_decoder_destroy(dec);
    if (!done) SKIP("tum-fr1-xyz frames not found in %s", dir);
}
