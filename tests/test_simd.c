/* test_simd.c - every kernel set this CPU (and build) can run gives the reference's results:
 * integers exactly, floats within 1e-5 relative, at awkward sizes and unaligned addresses; the
 * set selection honours the CPU and reports what it cannot do. */
#include "simd.h"
#include "test.h"
#include "test_util.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull; /* xorshift64*: the same data under qemu */

static const deja_simd all_sets[] = {DEJA_SIMD_SCALAR, DEJA_SIMD_SSE42, DEJA_SIMD_AVX2,
                                     DEJA_SIMD_NEON};
#define N_SETS (sizeof all_sets / sizeof all_sets[0])

/* The sets available here; returns how many. */
static int available(deja__kernels *ks)
{
    int n = 0;
    for (size_t i = 0; i < N_SETS; i++)
        if (deja__kernels_get(all_sets[i], &ks[n]) == DEJA_OK) n++;
    return n;
}

/* How many sets this build must offer on this CPU: tests fail if the selection silently lost
 * one (for instance NEON under qemu, or AVX2 on an AVX2 machine). */
static int expected_sets(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    int sse = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
    int avx = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    return 1 + sse + avx;
#elif defined(__aarch64__)
    return 2;
#else
    return 1;
#endif
}

TEST(scalar_set_is_always_available)
{
    deja__kernels k;
    ASSERT_OK(deja__kernels_get(DEJA_SIMD_SCALAR, &k));
    EXPECT_EQ(k.kind, DEJA_SIMD_SCALAR);
    EXPECT(k.hamming_1xn == deja__hamming_1xn_ref);
    EXPECT(k.l2sq_1xn == deja__l2sq_1xn_ref);
    EXPECT(k.dot_f32 == deja__dot_f32_ref);
    EXPECT(k.fast_row == deja__fast_row_ref);
}

TEST(auto_picks_the_best_set_of_this_cpu)
{
    deja__kernels k;
    ASSERT_OK(deja__kernels_get(DEJA_SIMD_AUTO, &k));
    EXPECT_EQ(k.kind, deja_simd_detect());
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        EXPECT_EQ(k.kind, DEJA_SIMD_AVX2);
    else if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt"))
        EXPECT_EQ(k.kind, DEJA_SIMD_SSE42);
    else
        EXPECT_EQ(k.kind, DEJA_SIMD_SCALAR);
#elif defined(__aarch64__)
    EXPECT_EQ(k.kind, DEJA_SIMD_NEON);
#endif
    deja__kernels ks[N_SETS];
    int n = available(ks);
    EXPECT_EQ(n, expected_sets());
    fprintf(stderr, "  sets here:");
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %s", deja_simd_name(ks[i].kind));
    fprintf(stderr, " (auto = %s)\n", deja_simd_name(k.kind));
}

TEST(unavailable_or_unknown_sets_are_errors_that_leave_the_output_alone)
{
    deja__kernels k;
    memset(&k, 0xAB, sizeof k);
    deja__kernels before = k;
#if defined(__aarch64__)
    deja_simd foreign = DEJA_SIMD_AVX2;
#else
    deja_simd foreign = DEJA_SIMD_NEON;
#endif
    EXPECT_STATUS(deja__kernels_get(foreign, &k), DEJA_UNSUPPORTED);
    EXPECT(strstr(deja_last_error(), deja_simd_name(foreign)) != NULL);
    EXPECT(strstr(deja_last_error(), "simd.c:") == deja_last_error());
    EXPECT_STATUS(deja__kernels_get((deja_simd)99, &k), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__kernels_get((deja_simd)-1, &k), DEJA_INVALID_ARG);
    EXPECT(memcmp(&k, &before, sizeof k) == 0);
}

TEST(set_names)
{
    EXPECT(strcmp(deja_simd_name(DEJA_SIMD_AUTO), "auto") == 0);
    EXPECT(strcmp(deja_simd_name(DEJA_SIMD_SCALAR), "scalar") == 0);
    EXPECT(strcmp(deja_simd_name(DEJA_SIMD_SSE42), "sse4.2") == 0);
    EXPECT(strcmp(deja_simd_name(DEJA_SIMD_AVX2), "avx2") == 0);
    EXPECT(strcmp(deja_simd_name(DEJA_SIMD_NEON), "neon") == 0);
    EXPECT(strcmp(deja_simd_name((deja_simd)42), "unknown") == 0);
}

/* Bit count by the definition, independent of kern_ref.c. */
static uint32_t naive_hamming(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    uint32_t d = 0;
    for (size_t i = 0; i < bytes; i++)
        for (int bit = 0; bit < 8; bit++)
            d += ((a[i] ^ b[i]) >> bit) & 1u;
    return d;
}

TEST(reference_hamming_counts_bits)
{
    uint8_t a[61], b[61];
    for (int t = 0; t < 50; t++) {
        for (size_t i = 0; i < sizeof a; i++)
            a[i] = (uint8_t)test_rnd(&rng), b[i] = (uint8_t)test_rnd(&rng);
        for (size_t bytes = 1; bytes <= sizeof a; bytes++) {
            uint32_t d;
            deja__hamming_1xn_ref(a, b, bytes, 1, &d);
            ASSERT_EQ(d, naive_hamming(a, b, bytes));
        }
    }
    memset(a, 0, 32);
    memset(b, 0xFF, 32);
    uint32_t d;
    deja__hamming_1xn_ref(a, b, 32, 1, &d);
    EXPECT_EQ(d, 256);
}

static const size_t row_counts[] = {0, 1, 2, 3, 4, 5, 10, 31, 33, 1000};
#define N_COUNTS (sizeof row_counts / sizeof row_counts[0])

TEST(hamming_variants_equal_reference_exactly)
{
    static const size_t lengths[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 61, 64, 96, 100};
    deja__kernels ks[N_SETS];
    int n_sets = available(ks);
    size_t max_n = 1000, max_bytes = 100;
    uint8_t *qbuf = malloc(max_bytes + 4), *rbuf = malloc(max_n * max_bytes + 4);
    uint8_t *src = malloc(max_n * max_bytes), *q = malloc(max_bytes);
    uint32_t *want = malloc((max_n + 1) * 4), *got = malloc((max_n + 1) * 4);
    ASSERT(qbuf && rbuf && src && q && want && got);
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        size_t bytes = lengths[li];
        for (size_t i = 0; i < bytes; i++)
            q[i] = (uint8_t)test_rnd(&rng);
        for (size_t i = 0; i < max_n * bytes; i++)
            src[i] = (uint8_t)test_rnd(&rng);
        /* Extremes: equal to q (0), its complement (every bit, 256 for ORB), sparse bits. */
        memcpy(src, q, bytes);
        for (size_t i = 0; i < bytes; i++)
            src[bytes + i] = (uint8_t)~q[i];
        for (size_t i = 0; i < bytes; i++)
            src[2 * bytes + i] = q[i] ^ (uint8_t)(i % 3 == 0);
        for (size_t ci = 0; ci < N_COUNTS; ci++) {
            size_t n = row_counts[ci];
            for (size_t r = 0; r < n && r < 3; r++) {
                deja__hamming_1xn_ref(q, src + r * bytes, bytes, 1, want);
                ASSERT_EQ(want[0], naive_hamming(q, src + r * bytes, bytes));
            }
            for (int qo = 0; qo < 4; qo++) {
                int ro = (qo * 3 + 1) % 4; /* query and rows at different misalignments */
                memcpy(qbuf + qo, q, bytes);
                memcpy(rbuf + ro, src, n * bytes);
                deja__hamming_1xn_ref(qbuf + qo, rbuf + ro, bytes, n, want);
                for (int s = 0; s < n_sets; s++) {
                    got[n] = 0xDEADBEEF; /* must stay: n outputs, not one more */
                    ks[s].hamming_1xn(qbuf + qo, rbuf + ro, bytes, n, got);
                    for (size_t r = 0; r < n; r++) {
                        if (got[r] != want[r]) {
                            TEST_FAIL_AT("%s: bytes %zu n %zu row %zu offsets %d/%d: %u vs %u",
                                         deja_simd_name(ks[s].kind), bytes, n, r, qo, ro, got[r],
                                         want[r]);
                            goto done;
                        }
                    }
                    EXPECT_EQ(got[n], 0xDEADBEEF);
                }
            }
        }
    }
done:
    free(qbuf), free(rbuf), free(src), free(q), free(want), free(got);
}

/* |got - want| <= 1e-5 * scale, where scale is the sum of the magnitudes of the terms (for l2sq
 * that is the result itself; for dot it bounds the rounding whatever the cancellation). */
static int close_enough(float got, float want, double scale)
{
    return fabs((double)got - (double)want) <= 1e-5 * scale + 1e-30;
}

static void place_floats(uint8_t *buf, int offset, const float *src, size_t n)
{
    memcpy(buf + offset, src, n * sizeof(float));
}

TEST(l2sq_variants_equal_reference_within_1e5_relative)
{
    deja__kernels ks[N_SETS];
    int n_sets = available(ks);
    size_t max_dim = 130, max_n = 1000;
    float *q = malloc(max_dim * 4), *rows = malloc(max_n * max_dim * 4);
    uint8_t *qbuf = malloc(max_dim * 4 + 4), *rbuf = malloc(max_n * max_dim * 4 + 4);
    float *want = malloc((max_n + 1) * 4), *got = malloc((max_n + 1) * 4);
    ASSERT(q && rows && qbuf && rbuf && want && got);
    for (size_t dim = 1; dim <= max_dim; dim++) {
        for (size_t i = 0; i < dim; i++)
            q[i] = test_rndf(&rng);
        for (size_t ci = 0; ci < N_COUNTS; ci++) {
            size_t n = row_counts[ci];
            if (n == 1000 && dim % 16 != 1 && dim != 130) continue; /* keep the run short */
            for (size_t i = 0; i < n * dim; i++)
                rows[i] = test_rndf(&rng) * 4;
            if (n > 0) memcpy(rows, q, dim * 4); /* distance exactly 0 */
            int qo = (int)(dim % 4), ro = (int)((dim + ci) % 4);
            place_floats(qbuf, qo, q, dim);
            place_floats(rbuf, ro, rows, n * dim);
            const float *qp = (const float *)(qbuf + qo), *rp = (const float *)(rbuf + ro);
            deja__l2sq_1xn_ref(qp, rp, dim, n, want);
            for (size_t r = 0; r < n && r < 4; r++) {
                double s = 0;
                for (size_t i = 0; i < dim; i++) {
                    double d = (double)q[i] - rows[r * dim + i];
                    s += d * d;
                }
                ASSERT(close_enough(want[r], (float)s, s));
            }
            for (int s = 0; s < n_sets; s++) {
                got[n] = -7.0f;
                ks[s].l2sq_1xn(qp, rp, dim, n, got);
                for (size_t r = 0; r < n; r++) {
                    if (!close_enough(got[r], want[r], want[r])) {
                        TEST_FAIL_AT("%s: dim %zu n %zu row %zu: %.9g vs %.9g",
                                     deja_simd_name(ks[s].kind), dim, n, r, (double)got[r],
                                     (double)want[r]);
                        goto done;
                    }
                }
                EXPECT(got[n] == -7.0f);
            }
        }
    }
done:
    free(q), free(rows), free(qbuf), free(rbuf), free(want), free(got);
}

TEST(dot_variants_equal_reference_within_1e5_relative)
{
    deja__kernels ks[N_SETS];
    int n_sets = available(ks);
    size_t max_n = 1000;
    float *a = malloc(max_n * 4), *b = malloc(max_n * 4);
    uint8_t *abuf = malloc(max_n * 4 + 4), *bbuf = malloc(max_n * 4 + 4);
    ASSERT(a && b && abuf && bbuf);
    for (size_t n = 0; n <= max_n; n += n < 140 ? 1 : 287) {
        double scale = 0, exact = 0;
        for (size_t i = 0; i < n; i++) {
            a[i] = test_rndf(&rng), b[i] = test_rndf(&rng) * 3;
            scale += fabs((double)a[i] * b[i]);
            exact += (double)a[i] * b[i];
        }
        int ao = (int)(n % 4), bo = (int)((n / 4) % 4);
        place_floats(abuf, ao, a, n);
        place_floats(bbuf, bo, b, n);
        const float *ap = (const float *)(abuf + ao), *bp = (const float *)(bbuf + bo);
        float want = deja__dot_f32_ref(ap, bp, n);
        ASSERT(close_enough(want, (float)exact, scale));
        for (int s = 0; s < n_sets; s++) {
            float got = ks[s].dot_f32(ap, bp, n);
            if (!close_enough(got, want, scale)) {
                TEST_FAIL_AT("%s: n %zu: %.9g vs %.9g (scale %g)", deja_simd_name(ks[s].kind), n,
                             (double)got, (double)want, scale);
                break;
            }
        }
    }
    free(a), free(b), free(abuf), free(bbuf);
}

TEST(fast_row_of_every_set_equals_reference)
{
    deja__kernels ks[N_SETS];
    int n_sets = available(ks);
    enum { W = 80, H = 24 };
    static uint8_t img[W * H];
    /* Noise plus bright and dark squares, so that corners of both polarities exist. */
    for (int i = 0; i < W * H; i++)
        img[i] = (uint8_t)(100 + test_rnd(&rng) % 40);
    for (int y = 6; y < 14; y++)
        for (int x = 10; x < 20; x++)
            img[y * W + x] = 230, img[y * W + x + 30] = 10;
    int32_t want[W], got[W];
    int total = 0;
    for (int y = 3; y < H - 3; y++) {
        for (int t = 10; t <= 40; t += 15) {
            int nw = deja__fast_row_ref(img + y * W, W, 3, W - 3, t, want);
            total += nw;
            for (int s = 0; s < n_sets; s++) {
                int ng = ks[s].fast_row(img + y * W, W, 3, W - 3, t, got);
                ASSERT_EQ(ng, nw);
                for (int i = 0; i < nw; i++)
                    ASSERT_EQ(got[i], want[i]);
            }
        }
    }
    EXPECT_GE(total, 4); /* the squares' corners at least */
}
