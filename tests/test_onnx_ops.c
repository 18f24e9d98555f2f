/* test_onnx_ops.c - the nn kernels of src/onnx/ops.h against their naive references and hand
 * computations.
 *
 * Every optimised kernel runs with each kernel set this machine has (the portable set forced
 * through deja_simd SCALAR, and AVX2 or NEON), on 1 thread and on a 2-thread pool, over many
 * shapes: odd sizes around the SIMD widths and micro-tiles, single rows and columns, tiny and
 * 320x240-sized. Scratch buffers are exactly *_scratch_bytes() long at odd addresses, outputs
 * sit between guard values, so ASan and the guards catch any access outside.
 *
 * Tolerances: GEMM and conv within 1e-5 relative to sum_k |a_ik b_kj| (+ |bias| + |old output|),
 * the scale of the float rounding, for K up to 1200 (the references sum in double); resize
 * within 2e-6 absolute on inputs in [-1, 1); ReduceL2 and the L2 normalisation 1e-5 relative;
 * Sigmoid and Pow 1e-6 relative; pooling, ReLU, Clip, the binary ops, concat and slice exactly.
 * The 2-thread contexts split every call however small (par_min_ns = 0), and must reproduce
 * 1 thread bit for bit. */
#include "ops.h"
#include "test.h"
#include "test_util.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

#define GUARD      16
#define GUARD_BITS 0x7FC0DEADu /* a NaN no kernel produces */

/* ---- helpers ----------------------------------------------------------------------------- */

static float *rand_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = test_rndf(&rng);
    return p;
}

static float *abs_copy(const float *x, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = fabsf(x[i]);
    return p;
}

/* n floats with GUARD guard values on both sides; returns the first usable one. */
static float *guarded(size_t n)
{
    if (n > ((size_t)1 << 28)) abort(); /* test sizes are far smaller; bounds n for the compiler */
    float *p = malloc((n + 2 * GUARD) * sizeof(float));
    if (!p) abort();
    uint32_t g = GUARD_BITS;
    for (size_t i = 0; i < n + 2 * GUARD; i++)
        memcpy(p + i, &g, 4);
    return p + GUARD;
}

static int guards_intact(const float *p, size_t n)
{
    for (size_t i = 0; i < GUARD; i++) {
        uint32_t a, b;
        memcpy(&a, p - 1 - i, 4);
        memcpy(&b, p + n + i, 4);
        if (a != GUARD_BITS || b != GUARD_BITS) return 0;
    }
    return 1;
}

static void guarded_free(float *p)
{
    if (p) free(p - GUARD);
}

/* Scratch of exactly `bytes` at an address offset by 0..3 bytes from malloc's. */
typedef struct scratch {
    uint8_t *base;
    void *p;
} scratch;

static scratch scratch_new(size_t bytes)
{
    size_t off = (size_t)(test_rnd(&rng) % 4);
    scratch s;
    s.base = malloc(bytes + off);
    s.p = s.base + off;
    return s;
}

/* The sets to test: portable (forced), and the best of this CPU if that differs. */
typedef struct sets {
    deja__nn nn[4];
    int n;
} sets;

/* With a pool, every call splits however small (par_min_ns 0): the split's edges get tested. */
static sets make_sets(deja__pool *pool)
{
    sets s = {0};
    deja__nn a;
    if (deja__nn_init(&a, DEJA_SIMD_SCALAR, pool) == DEJA_OK) s.nn[s.n++] = a;
    if (deja__nn_init(&a, DEJA_SIMD_AUTO, pool) == DEJA_OK && a.kind != DEJA_SIMD_SCALAR)
        s.nn[s.n++] = a;
    for (int i = 0; i < s.n; i++) s.nn[i].par_min_ns = 0.0;
    return s;
}

typedef struct env {
    deja__pool *pool;
    sets one, two; /* 1 thread, 2 threads */
} env;

static env env_new(void)
{
    env e = {0};
    deja_allocator a = deja__allocator(NULL);
    if (deja__pool_create(&a, 2, &e.pool) != DEJA_OK) e.pool = NULL;
    e.one = make_sets(NULL);
    e.two = make_sets(e.pool);
    return e;
}

static void env_free(env *e)
{
    deja__pool_destroy(e->pool);
}

/* max |got - want| / scale over n; scale from the reference on absolute values. */
static double worst_rel(const float *got, const float *want, const float *scale, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]) / ((double)scale[i] + 1e-30);
        if (!(d <= w)) w = d; /* NaN propagates */
    }
    return w;
}

/* ---- context ----------------------------------------------------------------------------- */

TEST(init_forces_the_portable_set_and_auto_takes_the_best)
{
    deja__nn nn;
    ASSERT_OK(deja__nn_init(&nn, DEJA_SIMD_SCALAR, NULL));
    EXPECT_EQ(nn.kind, DEJA_SIMD_SCALAR);
    EXPECT(nn.ukr == deja__nn_ukr_portable);
    EXPECT_EQ(nn.n_threads, 1);
    ASSERT_OK(deja__nn_init(&nn, DEJA_SIMD_AUTO, NULL));
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("popcnt")) {
        EXPECT_EQ(nn.kind, DEJA_SIMD_AVX2);
        EXPECT(nn.ukr == deja__nn_ukr_avx2);
        EXPECT_EQ(nn.mr, 4);
        EXPECT_EQ(nn.nr, 24);
    }
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt")) {
        ASSERT_OK(deja__nn_init(&nn, DEJA_SIMD_SSE42, NULL));
        EXPECT_EQ(nn.kind, DEJA_SIMD_SCALAR); /* no SSE4.2 nn kernels: the portable ones */
    }
    EXPECT_STATUS(deja__nn_init(&nn, DEJA_SIMD_NEON, NULL), DEJA_UNSUPPORTED);
#elif defined(__aarch64__)
    EXPECT_EQ(nn.kind, DEJA_SIMD_NEON);
    EXPECT(nn.ukr == deja__nn_ukr_neon);
    EXPECT_STATUS(deja__nn_init(&nn, DEJA_SIMD_AVX2, NULL), DEJA_UNSUPPORTED);
#endif
    EXPECT_STATUS(deja__nn_init(&nn, (deja_simd)99, NULL), DEJA_INVALID_ARG);
    ASSERT_OK(deja__nn_init(&nn, DEJA_SIMD_AUTO, NULL));
    fprintf(stderr, "  auto = %s, micro-tile %dx%d\n", deja_simd_name(nn.kind), nn.mr, nn.nr);
}

/* ---- GEMM -------------------------------------------------------------------------------- */

typedef struct gemm_case {
    size_t M, N, K;
} gemm_case;

/* One GEMM on every set and thread count against the reference; returns 0 on a failure. */
static int check_gemm(env *e, size_t M, size_t N, size_t K, int variant)
{
    size_t lda = K + (size_t)(variant & 1) * 3, ldb = N + (size_t)(variant & 2),
           ldc = N + (size_t)(variant % 3);
    float *A = rand_floats(M * lda), *B = rand_floats(K * ldb), *bias = rand_floats(M);
    float *C0 = rand_floats(M * ldc);
    deja__nn_post post = {variant % 4 ? bias : NULL, -0.25f, 0.5f, variant % 5 < 2,
                          variant % 3 == 1};
    float *want = malloc((M * ldc + 1) * sizeof(float));
    memcpy(want, C0, M * ldc * sizeof(float));
    deja__nn_ref_gemm(M, N, K, A, lda, B, ldb, want, ldc, &post);
    /* Scale: the same product on absolute values, without the clamp. */
    float *aA = abs_copy(A, M * lda), *aB = abs_copy(B, K * ldb), *abias = abs_copy(bias, M);
    float *scale = abs_copy(C0, M * ldc);
    deja__nn_post ps = {post.bias ? abias : NULL, 0, 0, false, post.accumulate};
    deja__nn_ref_gemm(M, N, K, aA, lda, aB, ldb, scale, ldc, &ps);
    int ok = 1;
    float *first = NULL;
    for (int t = 0; t < 2 && ok; t++) {
        sets *ss = t ? &e->two : &e->one;
        for (int s = 0; s < ss->n && ok; s++) {
            const deja__nn *nn = &ss->nn[s];
            float *C = guarded(M * ldc);
            memcpy(C, C0, M * ldc * sizeof(float));
            scratch sc = scratch_new(deja__nn_gemm_scratch_bytes(nn, M, N, K));
            deja__nn_gemm(nn, M, N, K, A, lda, B, ldb, C, ldc, &post, sc.p);
            free(sc.base);
            double w = 0.0;
            for (size_t i = 0; i < M; i++) {
                double r = worst_rel(C + i * ldc, want + i * ldc, scale + i * ldc, N);
                if (!(r <= w)) w = r;
                /* Padding columns between rows stay as they were. */
                if (memcmp(C + i * ldc + N, C0 + i * ldc + N, (ldc - N) * sizeof(float))) w = 1.0;
            }
            if (!(w <= 1e-5) || !guards_intact(C, M * ldc)) {
                TEST_FAIL_AT("gemm %s %d thr M=%zu N=%zu K=%zu variant %d: rel err %g%s",
                             deja_simd_name(nn->kind), nn->n_threads, M, N, K, variant, w,
                             guards_intact(C, M * ldc) ? "" : ", guard overwritten");
                ok = 0;
            }
            /* Same set, 2 threads: bit-identical to 1 thread. */
            if (t == 0 && s == ss->n - 1) {
                first = malloc(M * ldc * sizeof(float));
                memcpy(first, C, M * ldc * sizeof(float));
            }
            if (t == 1 && s == ss->n - 1 && first &&
                memcmp(first, C, M * ldc * sizeof(float)) != 0) {
                TEST_FAIL_AT("gemm M=%zu N=%zu K=%zu: 2 threads differ from 1", M, N, K);
                ok = 0;
            }
            guarded_free(C);
        }
    }
    free(first);
    free(A);
    free(B);
    free(bias);
    free(C0);
    free(want);
    free(aA);
    free(aB);
    free(abias);
    free(scale);
    return ok;
}

TEST(gemm_matches_reference_on_awkward_shapes)
{
    env e = env_new();
    static const size_t Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 33, 65};
    static const size_t Ns[] = {1, 2, 7, 8, 11, 12, 23, 24, 25, 47, 49, 100, 193, 385};
    static const size_t Ks[] = {0, 1, 2, 3, 9, 27, 72, 255, 256, 257, 288};
    int variant = 0, failures = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof Ns[0]; j++) {
            /* Every M x N pair with two K values, cycling through all K. */
            for (int r = 0; r < 2; r++, variant++) {
                size_t K = Ks[(size_t)variant % (sizeof Ks / sizeof Ks[0])];
                if (!check_gemm(&e, Ms[i], Ns[j], K, variant) && ++failures > 5) goto out;
            }
        }
out:
    env_free(&e);
}

TEST(gemm_matches_reference_with_long_k_and_many_threads_of_work)
{
    env e = env_new();
    static const gemm_case cases[] = {{17, 150, 1200}, {64, 500, 288}, {16, 2000, 64},
                                      {65, 301, 64},   {256, 70, 256}, {129, 37, 1152},
                                      {8, 3000, 27},   {100, 5, 600}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int v = 0; v < 3; v++)
            check_gemm(&e, cases[i].M, cases[i].N, cases[i].K, v * 5 + 1);
    env_free(&e);
}

TEST(every_micro_kernel_matches_on_one_tile)
{
    deja__nn_ukr_fn fns[3] = {deja__nn_ukr_portable};
    int mrs[3] = {4}, nrs[3] = {8}, n = 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fns[n] = deja__nn_ukr_avx2;
        mrs[n] = 4;
        nrs[n++] = 24;
    }
#endif
#if defined(__aarch64__)
    fns[n] = deja__nn_ukr_neon;
    mrs[n] = 8;
    nrs[n++] = 12;
#endif
    for (int f = 0; f < n; f++)
        for (size_t kc = 0; kc < 40; kc += 13) {
            size_t mr = (size_t)mrs[f], nr = (size_t)nrs[f], ldc = nr + 5;
            float *a = rand_floats(kc * mr), *b = rand_floats(kc * nr), *bias = rand_floats(mr);
            float *c = guarded(mr * ldc), *old = rand_floats(mr * ldc);
            memcpy(c, old, mr * ldc * sizeof(float));
            deja__nn_tile t = {bias, -0.3f, 0.3f, 1, 1};
            fns[f](kc, a, b, c, ldc, &t);
            for (size_t i = 0; i < mr; i++)
                for (size_t j = 0; j < ldc; j++) {
                    float got = c[i * ldc + j], prev = old[i * ldc + j];
                    if (j >= nr) {
                        if (got != prev)
                            TEST_FAIL_AT("ukr %d wrote column %zu past its tile", f, j);
                        continue;
                    }
                    double s = 0.0, sc = fabs(prev) + fabs(bias[i]);
                    for (size_t k = 0; k < kc; k++) {
                        s += (double)a[k * mr + i] * b[k * nr + j];
                        sc += fabs((double)a[k * mr + i] * b[k * nr + j]);
                    }
                    double want = s + prev + bias[i];
                    want = want < -0.3 ? -0.3 : want > 0.3 ? 0.3 : want;
                    if (fabs(got - want) > 1e-5 * sc + 1e-7)
                        TEST_FAIL_AT("ukr %d kc %zu (%zu,%zu): %g vs %g", f, kc, i, j, got, want);
                }
            EXPECT(guards_intact(c, mr * ldc));
            free(a);
            free(b);
            free(bias);
            free(old);
            guarded_free(c);
        }
}

/* ---- convolution ------------------------------------------------------------------------- */

static deja__nn_conv_shape conv_shape(int c_in, int h, int w, int c_out, int k, int stride, int pt,
                                      int pl, int pb, int pr, int groups)
{
    deja__nn_conv_shape s = {c_in, h, w, c_out, k, k, stride, stride, pt, pl, pb, pr, groups};
    return s;
}

/* One conv on every set and thread count against the reference; returns 0 on a failure. */
static int check_conv(env *e, const deja__nn_conv_shape *s, int variant)
{
    char err[DEJA_ERROR_BYTES];
    if (deja__nn_conv_check(s, err) != DEJA_OK) {
        TEST_FAIL_AT("shape rejected: %s", err);
        return 0;
    }
    int h_out = deja__nn_conv_h_out(s), w_out = deja__nn_conv_w_out(s);
    if (h_out < 1 || w_out < 1 || h_out > 1 << 14 || w_out > 1 << 14) { /* checked shapes never */
        TEST_FAIL_AT("output %dx%d", h_out, w_out);
        return 0;
    }
    size_t ho = (size_t)h_out, wo = (size_t)w_out;
    size_t n_in = (size_t)s->c_in * (size_t)s->h_in * (size_t)s->w_in;
    size_t n_out = (size_t)s->c_out * ho * wo;
    size_t n_w = (size_t)s->c_out * (size_t)(s->c_in / s->groups) * (size_t)s->k_h * (size_t)s->k_w;
    float *in = rand_floats(n_in), *w = rand_floats(n_w), *bias = rand_floats((size_t)s->c_out);
    float *old = rand_floats(n_out);
    deja__nn_post post = {variant % 3 ? bias : NULL, 0.0f, variant % 2 ? 6.0f : INFINITY,
                          variant % 4 != 3, variant % 5 == 2};
    float *want = malloc(n_out * sizeof(float));
    memcpy(want, old, n_out * sizeof(float));
    deja__nn_ref_conv(s, in, w, &post, want);
    float *ain = abs_copy(in, n_in), *aw = abs_copy(w, n_w),
          *abias = abs_copy(bias, (size_t)s->c_out);
    float *scale = abs_copy(old, n_out);
    deja__nn_post ps = {post.bias ? abias : NULL, 0, 0, false, post.accumulate};
    deja__nn_ref_conv(s, ain, aw, &ps, scale);
    int ok = 1;
    float *first = NULL;
    for (int t = 0; t < 2 && ok; t++) {
        sets *ss = t ? &e->two : &e->one;
        for (int k = 0; k < ss->n && ok; k++) {
            const deja__nn *nn = &ss->nn[k];
            float *out = guarded(n_out);
            memcpy(out, old, n_out * sizeof(float));
            scratch sc = scratch_new(deja__nn_conv_scratch_bytes(nn, s));
            deja__nn_conv(nn, s, in, w, &post, out, sc.p);
            free(sc.base);
            double r = worst_rel(out, want, scale, n_out);
            if (!(r <= 1e-5) || !guards_intact(out, n_out)) {
                TEST_FAIL_AT("conv %s %d thr path %d: c_in %d %dx%d c_out %d k %dx%d s %d,%d "
                             "pads %d,%d,%d,%d g %d variant %d: rel err %g%s",
                             deja_simd_name(nn->kind), nn->n_threads, (int)deja__nn_conv_path_of(s),
                             s->c_in, s->h_in, s->w_in, s->c_out, s->k_h, s->k_w, s->stride_h,
                             s->stride_w, s->pad_t, s->pad_l, s->pad_b, s->pad_r, s->groups,
                             variant, r, guards_intact(out, n_out) ? "" : ", guard overwritten");
                ok = 0;
            }
            if (t == 0 && k == ss->n - 1) {
                first = malloc(n_out * sizeof(float));
                memcpy(first, out, n_out * sizeof(float));
            }
            if (t == 1 && k == ss->n - 1 && first && memcmp(first, out, n_out * sizeof(float))) {
                TEST_FAIL_AT("conv path %d: 2 threads differ from 1",
                             (int)deja__nn_conv_path_of(s));
                ok = 0;
            }
            guarded_free(out);
        }
    }
    free(first);
    free(in);
    free(w);
    free(bias);
    free(old);
    free(want);
    free(ain);
    free(aw);
    free(abias);
    free(scale);
    return ok;
}

TEST(conv_paths_match_reference_on_many_shapes)
{
    env e = env_new();
    static const int sizes[][2] = {{1, 1},  {1, 7},  {5, 1},   {2, 3},   {4, 4},
                                   {7, 13}, {9, 17}, {16, 25}, {33, 10}, {12, 40}};
    int variant = 0, failures = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int h = sizes[i][0], w = sizes[i][1];
        deja__nn_conv_shape list[] = {
            conv_shape(3, h, w, 8, 3, 1, 1, 1, 1, 1, 1),   /* ALIKE 3x3 */
            conv_shape(5, h, w, 7, 3, 1, 1, 1, 1, 1, 1),   /* odd channel counts */
            conv_shape(3, h, w, 8, 3, 2, 0, 0, 1, 1, 1),   /* MobileNet stem, TF 'same' */
            conv_shape(16, h, w, 17, 1, 1, 0, 0, 0, 0, 1), /* 1x1 */
            conv_shape(2, h, w, 3, 1, 2, 0, 0, 0, 0, 1),   /* 1x1 stride 2: im2col */
            conv_shape(3, h, w, 5, 3, 2, 1, 1, 1, 1, 1),   /* 3x3 stride 2, pads 1 */
            conv_shape(2, h, w, 3, 5, 2, 2, 1, 0, 4, 1),   /* 5x5 stride 2, lopsided pads */
            conv_shape(2, h, w, 2, 3, 3, 1, 2, 0, 1, 1),   /* stride 3 */
            conv_shape(4, h, w, 6, 2, 1, 1, 0, 0, 1, 2),   /* 2x2, asymmetric pads, 2 groups */
            conv_shape(6, h, w, 6, 3, 1, 1, 1, 1, 1, 6),   /* depthwise stride 1 */
            conv_shape(6, h, w, 6, 3, 2, 0, 0, 1, 1, 6),   /* depthwise stride 2 'same' */
            conv_shape(3, h, w, 3, 3, 2, 1, 1, 1, 1, 3),   /* depthwise stride 2, pads 1 */
            conv_shape(3, h, w, 3, 3, 1, 0, 2, 2, 0, 3),   /* depthwise, lopsided pads */
            conv_shape(4, h, w, 4, 5, 1, 2, 2, 2, 2, 4),   /* depthwise 5x5: im2col */
        };
        for (size_t j = 0; j < sizeof list / sizeof list[0]; j++, variant++) {
            deja__nn_conv_shape *s = &list[j];
            if (s->h_in + s->pad_t + s->pad_b < s->k_h || s->w_in + s->pad_l + s->pad_r < s->k_w)
                continue;
            if (!check_conv(&e, s, variant) && ++failures > 5) goto out;
        }
    }
    /* Depthwise rows of every width 1..40 cross the SIMD bodies and tails. */
    for (int w = 1; w <= 40; w++) {
        deja__nn_conv_shape a = conv_shape(2, 3, w, 2, 3, 1, 1, 1, 1, 1, 2);
        deja__nn_conv_shape b = conv_shape(2, 4, w + 1, 2, 3, 2, 0, 0, 1, 1, 2);
        check_conv(&e, &a, w);
        check_conv(&e, &b, w + 1);
    }
out:
    env_free(&e);
}

TEST(conv_paths_are_the_documented_ones)
{
    deja__nn_conv_shape a = conv_shape(16, 8, 8, 32, 1, 1, 0, 0, 0, 0, 1);
    deja__nn_conv_shape b = conv_shape(16, 8, 8, 16, 3, 2, 0, 0, 1, 1, 16);
    deja__nn_conv_shape c = conv_shape(16, 8, 8, 32, 3, 1, 1, 1, 1, 1, 1);
    deja__nn_conv_shape d = conv_shape(16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 16);
    EXPECT_EQ(deja__nn_conv_path_of(&a), DEJA__NN_CONV_1X1);
    EXPECT_EQ(deja__nn_conv_path_of(&b), DEJA__NN_CONV_DEPTHWISE3);
    EXPECT_EQ(deja__nn_conv_path_of(&c), DEJA__NN_CONV_IM2COL);
    EXPECT_EQ(deja__nn_conv_path_of(&d), DEJA__NN_CONV_IM2COL); /* stride 3 */
}

TEST(conv_layers_of_320x240_frames_match_reference)
{
    env e = env_new();
    deja__nn_conv_shape list[] = {
        conv_shape(3, 240, 320, 8, 3, 1, 1, 1, 1, 1, 1), /* ALIKE-t block1 conv1 */
        conv_shape(8, 120, 160, 4, 3, 1, 1, 1, 1, 1, 1),
        conv_shape(8, 240, 320, 5, 1, 1, 0, 0, 0, 0, 1), /* 1x1 reduction, odd c_out */
        conv_shape(3, 224, 320, 8, 3, 2, 0, 0, 1, 1, 1), /* MobileNet stem */
        conv_shape(8, 112, 160, 8, 3, 1, 1, 1, 1, 1, 8), /* MobileNet depthwise */
        conv_shape(4, 112, 160, 4, 3, 2, 0, 0, 1, 1, 4),
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        check_conv(&e, &list[i], (int)i);
    env_free(&e);
}

/* The 4x4 input 1..16 (row-major); pads 1, stride 1. */
static const float in16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

TEST(conv_3x3_on_4x4_with_pads_matches_hand_computation)
{
    env e = env_new();
    /* Channel 0: all ones = sums of the 3x3 neighbourhood, +0.5 bias. Channel 1: w[0][0] = 1,
     * w[2][2] = 2, so out(y, x) = in(y-1, x-1) + 2 in(y+1, x+1) - 100, then ReLU-ed at 0 only
     * where it would be negative (all of it: a check of the fused clamp). */
    float w[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    static const float sums[16] = {14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54};
    static const float diag[16] = {12, 14, 16, 0, 20, 23, 26, 3, 28, 35, 38, 7, 0, 9, 10, 11};
    for (int t = 0; t < 2; t++) {
        sets *ss = t ? &e.two : &e.one;
        for (int k = 0; k < ss->n; k++) {
            const deja__nn *nn = &ss->nn[k];
            /* Two output channels: the im2col path. */
            deja__nn_conv_shape s = conv_shape(1, 4, 4, 2, 3, 1, 1, 1, 1, 1, 1);
            float bias[2] = {0.5f, -100.0f}, out[32];
            deja__nn_post post = deja__nn_post_make(bias, false);
            scratch sc = scratch_new(deja__nn_conv_scratch_bytes(nn, &s));
            deja__nn_conv(nn, &s, in16, w, &post, out, sc.p);
            for (int i = 0; i < 16; i++) {
                EXPECT_EQ(out[i] * 2, sums[i] * 2 + 1);
                EXPECT_EQ(out[16 + i], diag[i] - 100);
            }
            post.clamp = true;
            deja__nn_conv(nn, &s, in16, w, &post, out, sc.p);
            for (int i = 0; i < 16; i++)
                EXPECT_EQ(out[16 + i], 0);
            free(sc.base);
            /* One channel: the depthwise path, same numbers. */
            deja__nn_conv_shape d = conv_shape(1, 4, 4, 1, 3, 1, 1, 1, 1, 1, 1);
            EXPECT_EQ(deja__nn_conv_path_of(&d), DEJA__NN_CONV_DEPTHWISE3);
            sc = scratch_new(deja__nn_conv_scratch_bytes(nn, &d));
            deja__nn_conv(nn, &d, in16, w + 9, NULL, out, sc.p);
            for (int i = 0; i < 16; i++)
                EXPECT_EQ(out[i], diag[i]);
            free(sc.base);
            /* Stride 2 with TF 'same' pads [0,0,1,1]: 2x2 sums of 3x3 windows, both paths. */
            static const float s2[4] = {54, 45, 72, 54};
            deja__nn_conv_shape g = conv_shape(1, 4, 4, 1, 3, 2, 0, 0, 1, 1, 1);
            deja__nn_conv_shape g2 = conv_shape(1, 4, 4, 2, 3, 2, 0, 0, 1, 1, 1);
            float w2[18];
            for (int i = 0; i < 18; i++)
                w2[i] = 1;
            sc = scratch_new(deja__nn_conv_scratch_bytes(nn, &g2));
            deja__nn_conv(nn, &g2, in16, w2, NULL, out, sc.p);
            for (int i = 0; i < 4; i++)
                EXPECT_EQ(out[i], s2[i]);
            free(sc.base);
            sc = scratch_new(deja__nn_conv_scratch_bytes(nn, &g));
            deja__nn_conv(nn, &g, in16, w2, NULL, out, sc.p);
            for (int i = 0; i < 4; i++)
                EXPECT_EQ(out[i], s2[i]);
            free(sc.base);
        }
    }
    env_free(&e);
}

TEST(conv_accumulate_fuses_a_residual_add)
{
    env e = env_new();
    const deja__nn *nn = &e.one.nn[e.one.n - 1];
    deja__nn_conv_shape s = conv_shape(1, 4, 4, 1, 1, 1, 0, 0, 0, 0, 1); /* 1x1: out = 2 * in */
    float w = 2.0f, out[16];
    for (int i = 0; i < 16; i++)
        out[i] = -3.0f * in16[i];
    deja__nn_post post = {NULL, 0.0f, INFINITY, true, true}; /* ReLU(out + 2 in) = ReLU(-in) */
    scratch sc = scratch_new(deja__nn_conv_scratch_bytes(nn, &s));
    deja__nn_conv(nn, &s, in16, &w, &post, out, sc.p);
    for (int i = 0; i < 16; i++)
        EXPECT_EQ(out[i], 0);
    for (int i = 0; i < 16; i++)
        out[i] = 1.0f;
    deja__nn_conv(nn, &s, in16, &w, &post, out, sc.p);
    for (int i = 0; i < 16; i++)
        EXPECT_EQ(out[i], 1 + 2 * in16[i]);
    free(sc.base);
    env_free(&e);
}

TEST(conv_check_names_the_bad_field)
{
    char err[DEJA_ERROR_BYTES];
    deja__nn_conv_shape ok = conv_shape(3, 8, 8, 4, 3, 1, 1, 1, 1, 1, 1);
    ASSERT_OK(deja__nn_conv_check(&ok, err));
    struct {
        deja__nn_conv_shape s;
        const char *word;
    } bad[] = {
        {conv_shape(0, 8, 8, 4, 3, 1, 1, 1, 1, 1, 1), "c_in 0"},
        {conv_shape(3, -1, 8, 4, 3, 1, 1, 1, 1, 1, 1), "h_in -1"},
        {conv_shape(3, 8, 70000, 4, 3, 1, 1, 1, 1, 1, 1), "w_in 70000"},
        {conv_shape(3, 8, 8, 4, 3, 0, 1, 1, 1, 1, 1), "stride_h 0"},
        {conv_shape(3, 8, 8, 4, 3, 1, 3, 1, 1, 1, 1), "pad_t 3"},
        {conv_shape(3, 8, 8, 4, 3, 1, 1, -1, 1, 1, 1), "pad_l -1"},
        {conv_shape(3, 8, 8, 4, 3, 1, 1, 1, 1, 1, 2), "groups 2"},
        {conv_shape(3, 1, 8, 4, 5, 1, 1, 1, 1, 1, 1), "kernel 5x5"},
        {conv_shape(4096, 4096, 4096, 4, 1, 1, 0, 0, 0, 0, 1), "limit 2^31"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        EXPECT_STATUS(deja__nn_conv_check(&bad[i].s, err), DEJA_INVALID_ARG);
        if (!strstr(err, bad[i].word)) TEST_FAIL_AT("'%s' does not say '%s'", err, bad[i].word);
    }
}

/* ---- pooling and resize ---------------------------------------------------------------- */

TEST(maxpool_2x2_matches_hand_computation_and_floors)
{
    env e = env_new();
    static const float in[25] = {1, 5,  2,  0,  99, 3,  -1, 7,  4,  99, -2, -3, 8,
                                 6, 99, -4, -5, 9,  10, 99, 99, 99, 99, 99, 99};
    static const float want[4] = {5, 7, -2, 10};
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < (t ? e.two.n : e.one.n); k++) {
            const deja__nn *nn = t ? &e.two.nn[k] : &e.one.nn[k];
            float out[4] = {0};
            deja__nn_maxpool(nn, 1, 5, 5, 2, 2, 2, 2, in,
                             out); /* 5x5 -> 2x2, row 4 / col 4 unused */
            for (int i = 0; i < 4; i++)
                EXPECT_EQ(out[i], want[i]);
        }
    env_free(&e);
}

TEST(maxpool_matches_reference_on_many_shapes)
{
    env e = env_new();
    static const size_t dims[][3] = {{1, 2, 2},   {3, 5, 9},      {2, 8, 8},
                                     {4, 17, 31}, {16, 256, 320}, {8, 64, 80}};
    static const size_t ks[] = {2, 4, 3};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (size_t ki = 0; ki < 3; ki++) {
            size_t c = dims[d][0], h = dims[d][1], w = dims[d][2], k = ks[ki];
            if (h < k || w < k) continue;
            size_t ho = (h - k) / k + 1, wo = (w - k) / k + 1, n = c * ho * wo;
            float *in = rand_floats(c * h * w), *want = malloc(n * sizeof(float));
            deja__nn_ref_maxpool(c, h, w, k, k, k, k, in, want);
            for (int t = 0; t < 2; t++)
                for (int s = 0; s < (t ? e.two.n : e.one.n); s++) {
                    float *out = guarded(n);
                    deja__nn_maxpool(t ? &e.two.nn[s] : &e.one.nn[s], c, h, w, k, k, k, k, in, out);
                    EXPECT(memcmp(out, want, n * sizeof(float)) == 0);
                    EXPECT(guards_intact(out, n));
                    guarded_free(out);
                }
            free(in);
            free(want);
        }
    env_free(&e);
}

TEST(global_avgpool_matches_reference)
{
    env e = env_new();
    static const size_t dims[][2] = {{1, 1}, {3, 7}, {256, 70}, {64, 76800}};
    for (size_t d = 0; d < 4; d++) {
        size_t c = dims[d][0], hw = dims[d][1];
        float *in = rand_floats(c * hw), *want = malloc(c * sizeof(float));
        deja__nn_ref_global_avgpool(c, hw, in, want);
        for (int t = 0; t < 2; t++) {
            float *out = guarded(c);
            deja__nn_global_avgpool(t ? &e.two.nn[0] : &e.one.nn[0], c, hw, in, out);
            EXPECT(memcmp(out, want, c * sizeof(float)) == 0);
            EXPECT(guards_intact(out, c));
            guarded_free(out);
        }
        free(in);
        free(want);
    }
    float in[4] = {1, 2, 3, 6}, out[1];
    deja__nn_global_avgpool(&e.one.nn[0], 1, 4, in, out);
    EXPECT_EQ(out[0], 3);
    env_free(&e);
}

TEST(resize_align_corners_2x2_to_4x4_matches_hand_computation)
{
    env e = env_new();
    /* in = [[0, 3], [6, 9]]: out(y, x) = 6 y/3 + 3 x/3 = 2y + x. */
    static const float in[4] = {0, 3, 6, 9};
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < (t ? e.two.n : e.one.n); k++) {
            const deja__nn *nn = t ? &e.two.nn[k] : &e.one.nn[k];
            float out[16];
            scratch sc = scratch_new(deja__nn_resize_scratch_bytes(nn, 4));
            deja__nn_resize_bilinear_ac(nn, 1, 2, 2, 4, 4, in, out, sc.p);
            free(sc.base);
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                    EXPECT_NEAR(out[y * 4 + x], 2 * y + x, 1e-6);
            /* Corners are the input corners exactly. */
            EXPECT_EQ(out[0], 0);
            EXPECT_EQ(out[3], 3);
            EXPECT_EQ(out[12], 6);
            EXPECT_EQ(out[15], 9);
        }
    float ref[16];
    deja__nn_ref_resize_bilinear_ac(1, 2, 2, 4, 4, in, ref);
    for (int i = 0; i < 16; i++)
        EXPECT_NEAR(ref[i], (i / 4) * 2 + i % 4, 1e-6);
    env_free(&e);
}

TEST(resize_matches_reference_at_alike_scales)
{
    env e = env_new();
    static const size_t dims[][4] = {/* c, h, w, scale */ {16, 128, 160, 2},
                                     {16, 32, 40, 8},
                                     {16, 8, 10, 32},
                                     {3, 1, 1, 4},
                                     {2, 1, 5, 3},
                                     {2, 7, 1, 2},
                                     {1, 3, 3, 1},
                                     {5, 9, 13, 8}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t c = dims[d][0], h = dims[d][1], w = dims[d][2], s = dims[d][3];
        size_t ho = h * s, wo = w * s, n = c * ho * wo;
        float *in = rand_floats(c * h * w), *want = malloc(n * sizeof(float)), *first = NULL;
        deja__nn_ref_resize_bilinear_ac(c, h, w, ho, wo, in, want);
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < (t ? e.two.n : e.one.n); k++) {
                const deja__nn *nn = t ? &e.two.nn[k] : &e.one.nn[k];
                float *out = guarded(n);
                scratch sc = scratch_new(deja__nn_resize_scratch_bytes(nn, wo));
                deja__nn_resize_bilinear_ac(nn, c, h, w, ho, wo, in, out, sc.p);
                free(sc.base);
                double worst = 0;
                for (size_t i = 0; i < n; i++) {
                    double dlt = fabs(out[i] - want[i]);
                    if (!(dlt <= worst)) worst = dlt;
                }
                if (!(worst <= 2e-6)) /* inputs in [-1, 1) */
                    TEST_FAIL_AT("resize %zux%zux%zu x%zu: err %g", c, h, w, s, worst);
                EXPECT(guards_intact(out, n));
                if (!first) {
                    first = malloc(n * sizeof(float));
                    memcpy(first, out, n * sizeof(float));
                } else if (t == 1 && k == 0) {
                    EXPECT(memcmp(first, out, n * sizeof(float)) == 0);
                }
                guarded_free(out);
            }
        free(first);
        free(in);
        free(want);
    }
    env_free(&e);
}

/* ---- elementwise -------------------------------------------------------------------------- */

TEST(binary_ops_broadcast_like_numpy)
{
    env e = env_new();
    static const size_t dims[][2] = {{1, 1}, {3, 5}, {64, 4097}, {1, 256}, {16, 76800}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t c = dims[d][0], p = dims[d][1], n = c * p;
        float *a = rand_floats(n), *b = rand_floats(n);
        for (size_t i = 0; i < n; i++)
            b[i] += b[i] >= 0 ? 0.5f : -0.5f; /* no division by ~0 */
        /* full, per channel, per pixel, scalar */
        deja__nn_operand modes_a[4] = {{a, p, 1}, {a, 1, 0}, {a, 0, 1}, {a, 0, 0}};
        deja__nn_operand modes_b[4] = {{b, p, 1}, {b, 1, 0}, {b, 0, 1}, {b, 0, 0}};
        for (int op = 0; op < 4; op++)
            for (int ma = 0; ma < 4; ma++)
                for (int mb = 0; mb < 4; mb++) {
                    deja__nn_post post = deja__nn_post_clip(NULL, -0.7f, 0.9f);
                    const deja__nn_post *pp = (op + ma + mb) % 2 ? &post : NULL;
                    float *want = malloc(n * sizeof(float));
                    deja__nn_ref_binary((deja__nn_binop)op, c, p, modes_a[ma], modes_b[mb], want,
                                        pp);
                    for (int t = 0; t < 2; t++) {
                        float *out = guarded(n);
                        deja__nn_binary(t ? &e.two.nn[0] : &e.one.nn[0], (deja__nn_binop)op, c, p,
                                        modes_a[ma], modes_b[mb], out, pp);
                        if (memcmp(out, want, n * sizeof(float)))
                            TEST_FAIL_AT("binary op %d modes %d,%d %zux%zu differs", op, ma, mb, c,
                                         p);
                        EXPECT(guards_intact(out, n));
                        guarded_free(out);
                    }
                    free(want);
                }
        free(a);
        free(b);
    }
    /* Hand values: [1 2; 3 4] - per-channel [10; 20], / scalar 2, in place. */
    float x[4] = {1, 2, 3, 4}, ch[2] = {10, 20}, two = 2;
    deja__nn_binary(&e.one.nn[0], DEJA__NN_SUB, 2, 2, (deja__nn_operand){x, 2, 1},
                    (deja__nn_operand){ch, 1, 0}, x, NULL);
    deja__nn_binary(&e.one.nn[0], DEJA__NN_DIV, 2, 2, (deja__nn_operand){x, 2, 1},
                    (deja__nn_operand){&two, 0, 0}, x, NULL);
    EXPECT_EQ(x[0] * 2, -9);
    EXPECT_EQ(x[1], -4);
    EXPECT_EQ(x[2] * 2, -17);
    EXPECT_EQ(x[3], -8);
    env_free(&e);
}

TEST(unary_ops_match_reference)
{
    env e = env_new();
    static const size_t ns[] = {0, 1, 7, 4097, 76800};
    struct {
        deja__nn_unop op;
        float a0, a1, tol; /* relative; 0 = exact */
    } ops[] = {{DEJA__NN_RELU, 0, 0, 0},    {DEJA__NN_SIGMOID, 0, 0, 1e-6f},
               {DEJA__NN_CLIP, 0, 6, 0},    {DEJA__NN_CLIP, 1e-6f, INFINITY, 0},
               {DEJA__NN_POW, 3, 0, 1e-6f}, {DEJA__NN_POW, 0.33333334f, 0, 1e-6f},
               {DEJA__NN_POW, 2, 0, 1e-6f}, {DEJA__NN_POW, 1, 0, 0}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            size_t n = ns[i];
            float *x = rand_floats(n), *want = malloc((n + 1) * sizeof(float));
            if (ops[o].op == DEJA__NN_POW && ops[o].a0 < 1)
                for (size_t k = 0; k < n; k++)
                    x[k] = fabsf(x[k]) * 8; /* GeM: positive */
            else
                for (size_t k = 0; k < n; k++)
                    x[k] *= 8;
            deja__nn_ref_unary(ops[o].op, ops[o].a0, ops[o].a1, n, x, want);
            for (int t = 0; t < 3; t++) {
                float *out = guarded(n);
                if (t == 2) memcpy(out, x, n * sizeof(float)); /* in place */
                deja__nn_unary(t == 1 ? &e.two.nn[0] : &e.one.nn[0], ops[o].op, ops[o].a0,
                               ops[o].a1, n, t == 2 ? out : x, out);
                for (size_t k = 0; k < n; k++) {
                    double tol = ops[o].tol * fabs(want[k]) + (ops[o].tol ? 1e-30 : 0);
                    if (!(fabs(out[k] - want[k]) <= tol)) {
                        TEST_FAIL_AT("unary op %d arg %g n %zu [%zu]: %.9g vs %.9g", (int)ops[o].op,
                                     ops[o].a0, n, k, out[k], want[k]);
                        break;
                    }
                }
                EXPECT(guards_intact(out, n));
                guarded_free(out);
            }
            free(x);
            free(want);
        }
    float v[3] = {-2, 0.5f, 9}, r[3];
    deja__nn_unary(&e.one.nn[0], DEJA__NN_CLIP, 0, 6, 3, v, r);
    EXPECT_EQ(r[0], 0);
    EXPECT_EQ(r[1] * 2, 1);
    EXPECT_EQ(r[2], 6);
    deja__nn_unary(&e.one.nn[0], DEJA__NN_SIGMOID, 0, 0, 1, &r[0], &r[0]);
    EXPECT_EQ(r[0] * 2, 1);
    env_free(&e);
}

TEST(l2_normalize_matches_reference_and_keeps_zero_vectors_zero)
{
    env e = env_new();
    static const size_t dims[][2] = {{1, 1}, {3, 5}, {64, 300}, {256, 1}, {65, 76800}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t c = dims[d][0], p = dims[d][1], n = c * p;
        float *x = rand_floats(n), *want = malloc(n * sizeof(float)),
              *wn = malloc(p * sizeof(float));
        for (size_t ch = 0; ch < c; ch++)
            x[ch * p] = 0; /* pixel 0: the zero vector */
        deja__nn_ref_l2_normalize_channels(c, p, 1e-12f, x, want);
        deja__nn_ref_reduce_l2_channels(c, p, x, wn);
        float *first = NULL;
        for (int t = 0; t < 3; t++) {
            float *out = guarded(n), *norm = guarded(p);
            if (t == 2) memcpy(out, x, n * sizeof(float));
            const deja__nn *nn = t == 1 ? &e.two.nn[0] : &e.one.nn[0];
            deja__nn_l2_normalize_channels(nn, c, p, 1e-12f, t == 2 ? out : x, out);
            deja__nn_reduce_l2_channels(nn, c, p, x, norm);
            for (size_t i = 0; i < n; i++)
                if (!(fabs(out[i] - want[i]) <= 1e-5 * fabs(want[i]) + 1e-7)) {
                    TEST_FAIL_AT("l2norm %zux%zu [%zu]: %.9g vs %.9g", c, p, i, out[i], want[i]);
                    break;
                }
            for (size_t i = 0; i < p; i++)
                if (!(fabs(norm[i] - wn[i]) <= 1e-5 * wn[i])) {
                    TEST_FAIL_AT("reduce_l2 %zux%zu [%zu]: %.9g vs %.9g", c, p, i, norm[i], wn[i]);
                    break;
                }
            EXPECT_EQ(out[0], 0);
            EXPECT(guards_intact(out, n) && guards_intact(norm, p));
            if (!first) {
                first = malloc(n * sizeof(float));
                memcpy(first, out, n * sizeof(float));
            } else {
                EXPECT(memcmp(first, out, n * sizeof(float)) == 0);
            }
            guarded_free(out);
            guarded_free(norm);
        }
        free(first);
        free(x);
        free(want);
        free(wn);
    }
    /* (3, 4) -> (0.6, 0.8) */
    float v[2] = {3, 4};
    deja__nn_l2_normalize_channels(&e.one.nn[0], 2, 1, 1e-12f, v, v);
    EXPECT_NEAR(v[0], 0.6, 1e-7);
    EXPECT_NEAR(v[1], 0.8, 1e-7);
    env_free(&e);
}

/* ---- concat and slice --------------------------------------------------------------------- */

TEST(concat_and_slice_on_channels)
{
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, out[6];
    const float *ins[2] = {a, b};
    size_t ch[2] = {2, 1};
    deja__nn_concat_channels(2, ins, ch, 2, out);
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(out[i], i + 1);
    /* A producer that already wrote into its slice is left alone. */
    const float *ins2[2] = {out, out + 4};
    deja__nn_concat_channels(2, ins2, ch, 2, out);
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(out[i], i + 1);

    int64_t first, count;
    ASSERT_OK(deja__nn_slice_resolve(65, 0, -1, 1, &first, &count)); /* ALIKE descriptors */
    EXPECT_EQ(first, 0);
    EXPECT_EQ(count, 64);
    ASSERT_OK(deja__nn_slice_resolve(65, -1, INT64_MAX, 1, &first, &count)); /* score */
    EXPECT_EQ(first, 64);
    EXPECT_EQ(count, 1);
    ASSERT_OK(deja__nn_slice_resolve(10, 1, 8, 3, &first, &count)); /* 1, 4, 7 */
    EXPECT_EQ(first, 1);
    EXPECT_EQ(count, 3);
    ASSERT_OK(deja__nn_slice_resolve(10, -1, INT64_MIN, -4, &first, &count)); /* 9, 5, 1 */
    EXPECT_EQ(first, 9);
    EXPECT_EQ(count, 3);
    ASSERT_OK(deja__nn_slice_resolve(10, 20, 30, 1, &first, &count));
    EXPECT_EQ(count, 0);
    ASSERT_OK(deja__nn_slice_resolve(10, 5, 2, 1, &first, &count));
    EXPECT_EQ(count, 0);
    ASSERT_OK(deja__nn_slice_resolve(10, 9, 0, INT64_MIN, &first, &count));
    EXPECT_EQ(first, 9);
    EXPECT_EQ(count, 1);
    EXPECT_STATUS(deja__nn_slice_resolve(10, 0, 5, 0, &first, &count), DEJA_INVALID_ARG);

    float sl[4];
    deja__nn_slice_channels(2, out, 2, 2, -1, sl); /* channels 2, 1 */
    EXPECT_EQ(sl[0], 5);
    EXPECT_EQ(sl[1], 6);
    EXPECT_EQ(sl[2], 3);
    EXPECT_EQ(sl[3], 4);
}
