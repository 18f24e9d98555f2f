/* test_geom.c - the dense solvers (9 x 9 symmetric eigen, 3 x 3 SVD) against their defining
 * identities; the 8-point F and E on synthetic two-camera scenes with known R, t, K (exact,
 * noisy, with outliers); degenerate and invalid inputs; determinism; matching through a
 * hand-made direct index (thresholds, ratio test, one-to-one, rotation check, float
 * descriptors); zero allocations once warmed up and out-of-memory recovery. */
#include "geom.h"
#include "test.h"
#include "test_util.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uni(double lo, double hi) /* uniform in [lo, hi) */
{
    return test_uniform(&rng, lo, hi);
}

static double gauss(void) /* Box-Muller */
{
    double u = uni(1e-12, 1.0), v = uni(0.0, 1.0);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- linear algebra helpers ---------------------------------------------------------------- */

static void mul3(const double *a, const double *b, double *out)
{
    double r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    memcpy(out, r, sizeof r);
}

static void transpose3(const double *a, double *out)
{
    double r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i * 3 + j] = a[j * 3 + i];
    memcpy(out, r, sizeof r);
}

static double frob(const double *a, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

/* Rotation from angles in degrees about x, then y, then z. */
static void rotation(double ax, double ay, double az, double R[9])
{
    double a = ax * M_PI / 180, b = ay * M_PI / 180, c = az * M_PI / 180;
    double rx[9] = {1, 0, 0, 0, cos(a), -sin(a), 0, sin(a), cos(a)};
    double ry[9] = {cos(b), 0, sin(b), 0, 1, 0, -sin(b), 0, cos(b)};
    double rz[9] = {cos(c), -sin(c), 0, sin(c), cos(c), 0, 0, 0, 1};
    mul3(ry, rx, R);
    mul3(rz, R, R);
}

/* Largest |x - s y| over entries, with s = +-1 chosen to fit (F and -F are the same model). */
static double diff_up_to_sign(const double *x, const double *y, int n)
{
    double dp = 0, dm = 0;
    for (int i = 0; i < n; i++) {
        dp = fmax(dp, fabs(x[i] - y[i]));
        dm = fmax(dm, fabs(x[i] + y[i]));
    }
    return fmin(dp, dm);
}

/* ---- synthetic two-view scenes ------------------------------------------------------------ */

enum { SCENE_GENERAL, SCENE_PLANE, SCENE_LINE };

typedef struct {
    double R[9], t[3]; /* camera B: X_b = R X_a + t */
    deja__geom_intrinsics k;
    double F[9], E[9]; /* ground truth, unit Frobenius norm */
    size_t n;
    deja_keypoint *ka, *kb;
    deja__match *m;
    uint8_t *outlier; /* 1 where the match was replaced by a random one */
} scene;

static void scene_free(scene *s)
{
    free(s->ka), free(s->kb), free(s->m), free(s->outlier);
}

static void project(const scene *s, const double X[3], float *u, float *v)
{
    *u = (float)(s->k.fx * X[0] / X[2] + s->k.cx);
    *v = (float)(s->k.fy * X[1] / X[2] + s->k.cy);
}

/* n correspondences of points seen by both cameras (640 x 480), pixel noise sigma, a fraction
 * of outliers (B's point replaced by a random pixel). */
static scene make_scene(size_t n, int kind, double sigma, double outlier_frac)
{
    scene s;
    memset(&s, 0, sizeof s);
    rotation(4, -12, 3, s.R);
    s.t[0] = 1.0, s.t[1] = 0.15, s.t[2] = 0.3;
    s.k = (deja__geom_intrinsics){520.0, 515.0, 318.0, 243.0};
    /* E = [t]x R, F = K^-T E K^-1 */
    double tx[9] = {0, -s.t[2], s.t[1], s.t[2], 0, -s.t[0], -s.t[1], s.t[0], 0};
    mul3(tx, s.R, s.E);
    double ki[9] = {1 / s.k.fx, 0, -s.k.cx / s.k.fx, 0, 1 / s.k.fy, -s.k.cy / s.k.fy, 0, 0, 1};
    double kit[9];
    transpose3(ki, kit);
    mul3(kit, s.E, s.F);
    mul3(s.F, ki, s.F);
    double nf = frob(s.F, 9), ne = frob(s.E, 9);
    for (int i = 0; i < 9; i++)
        s.F[i] /= nf, s.E[i] /= ne;
    s.n = n;
    s.ka = calloc(n + 1, sizeof *s.ka), s.kb = calloc(n + 1, sizeof *s.kb);
    s.m = calloc(n + 1, sizeof *s.m), s.outlier = calloc(n + 1, 1);
    double p0[3] = {uni(-1, 1), uni(-1, 1), 6}, dir[3] = {0.8, 0.3, 0.5};
    for (size_t i = 0; i < n;) {
        double X[3];
        if (kind == SCENE_LINE) {
            double l = uni(-4, 4);
            for (int c = 0; c < 3; c++)
                X[c] = p0[c] + l * dir[c];
        } else {
            X[0] = uni(-4, 4), X[1] = uni(-3, 3);
            X[2] = kind == SCENE_PLANE ? 6.0 + 0.3 * X[0] - 0.2 * X[1] : uni(4, 12);
        }
        double Y[3];
        for (int r = 0; r < 3; r++)
            Y[r] = s.R[r * 3] * X[0] + s.R[r * 3 + 1] * X[1] + s.R[r * 3 + 2] * X[2] + s.t[r];
        if (X[2] < 0.5 || Y[2] < 0.5) continue;
        float ua, va, ub, vb;
        project(&s, X, &ua, &va);
        project(&s, Y, &ub, &vb);
        ua += (float)(sigma * gauss()), va += (float)(sigma * gauss());
        ub += (float)(sigma * gauss()), vb += (float)(sigma * gauss());
        if (ua < 0 || ua >= 640 || va < 0 || va >= 480 || ub < 0 || ub >= 640 || vb < 0 ||
            vb >= 480)
            continue;
        s.ka[i] = (deja_keypoint){ua, va, 31, 0, 1, 0};
        s.kb[i] = (deja_keypoint){ub, vb, 31, 0, 1, 0};
        s.m[i] = (deja__match){(uint32_t)i, (uint32_t)i, 0};
        i++;
    }
    /* The first round(frac n) matches: the points are in random order already. */
    for (size_t i = 0; i < (size_t)(outlier_frac * (double)n + 0.5); i++) {
        s.kb[i].x = (float)uni(0, 640), s.kb[i].y = (float)uni(0, 480);
        s.outlier[i] = 1;
    }
    return s;
}

/* |x_b^T F x_a| / (|x_b| |F| |x_a|) over the scene's inlier matches, worst case. */
static double worst_residual(const scene *s, const double *F)
{
    double worst = 0, nf = frob(F, 9);
    for (size_t i = 0; i < s->n; i++) {
        if (s->outlier[i]) continue;
        double xa[3] = {s->ka[i].x, s->ka[i].y, 1}, xb[3] = {s->kb[i].x, s->kb[i].y, 1};
        double r = 0;
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++)
                r += xb[p] * F[p * 3 + q] * xa[q];
        worst = fmax(worst, fabs(r) / (frob(xa, 3) * frob(xb, 3) * nf));
    }
    return worst;
}

static deja__geom *make_geom(const deja__geom_params *p)
{
    deja__geom *g = NULL;
    if (deja__geom_create(NULL, p, &g) != DEJA_OK) return NULL;
    return g;
}

/* Points in the layout fit8 takes: (x_a, y_a, x_b, y_b) per match. */
static double *scene_points(const scene *s, int normalised)
{
    double *p = malloc(s->n * 4 * sizeof *p + 1);
    for (size_t i = 0; i < s->n; i++) {
        double q[4] = {s->ka[i].x, s->ka[i].y, s->kb[i].x, s->kb[i].y};
        if (normalised) {
            q[0] = (q[0] - s->k.cx) / s->k.fx, q[2] = (q[2] - s->k.cx) / s->k.fx;
            q[1] = (q[1] - s->k.cy) / s->k.fy, q[3] = (q[3] - s->k.cy) / s->k.fy;
        }
        memcpy(p + 4 * i, q, sizeof q);
    }
    return p;
}

static uint32_t *iota(size_t n)
{
    uint32_t *idx = malloc(n * sizeof *idx + 1);
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    return idx;
}

/* ---- solvers ------------------------------------------------------------------------------- */

TEST(eigen_sym_satisfies_av_equals_lambda_v_with_orthonormal_vectors)
{
    for (int trial = 0; trial < 50; trial++) {
        int n = 2 + trial % 8;
        double a[81], a0[81], w[9], v[81];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
                a[i * n + j] = a[j * n + i] = uni(-10, 10);
        if (trial % 5 == 4) /* repeated eigenvalues: 3 I */
            for (int i = 0; i < n * n; i++)
                a[i] = (i % (n + 1)) == 0 ? 3.0 : 0.0;
        memcpy(a0, a, sizeof a);
        deja__geom_eigen_sym(a, n, w, v);
        double scale = frob(a0, n * n);
        for (int j = 0; j < n; j++) {
            if (j > 0) EXPECT_LE(w[j - 1], w[j]);
            for (int r = 0; r < n; r++) {
                double av = 0;
                for (int c = 0; c < n; c++)
                    av += a0[r * n + c] * v[c * n + j];
                EXPECT_NEAR(av, w[j] * v[r * n + j], 1e-12 * scale);
            }
            for (int k = 0; k < n; k++) {
                double d = 0;
                for (int r = 0; r < n; r++)
                    d += v[r * n + j] * v[r * n + k];
                EXPECT_NEAR(d, j == k, 1e-12);
            }
        }
    }
}

TEST(svd3_reconstructs_full_rank_rank2_rank1_and_zero_matrices)
{
    for (int trial = 0; trial < 200; trial++) {
        double m[9], u[9], s[3], v[9];
        for (int i = 0; i < 9; i++)
            m[i] = uni(-5, 5);
        int kind = trial % 4;
        if (kind == 1) /* rank 2: third row = a mix of the first two */
            for (int j = 0; j < 3; j++)
                m[6 + j] = 0.3 * m[j] - 1.7 * m[3 + j];
        if (kind == 2) { /* rank 1: an outer product */
            double x[3] = {m[0], m[1], m[2]}, y[3] = {m[3], m[4], m[5]};
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    m[i * 3 + j] = x[i] * y[j];
        }
        if (kind == 3 && trial % 8 == 3) memset(m, 0, sizeof m);
        deja__geom_svd3(m, u, s, v);
        EXPECT(s[0] >= s[1] && s[1] >= s[2] && s[2] >= 0);
        double us[9], vt[9], r[9];
        for (int i = 0; i < 9; i++)
            us[i] = u[i] * s[i % 3];
        transpose3(v, vt);
        mul3(us, vt, r);
        double scale = frob(m, 9) + 1e-300;
        for (int i = 0; i < 9; i++)
            EXPECT_NEAR(r[i], m[i], 1e-13 * scale + 1e-300);
        double utu[9], vtv[9], ut[9];
        transpose3(u, ut);
        mul3(ut, u, utu);
        mul3(vt, v, vtv);
        for (int i = 0; i < 9; i++) {
            EXPECT_NEAR(utu[i], (i % 4) == 0, 1e-12);
            EXPECT_NEAR(vtv[i], (i % 4) == 0, 1e-12);
        }
        if (kind == 1) EXPECT_LE(s[2], 1e-13 * s[0]);
        if (kind == 2) EXPECT_LE(s[1], 1e-13 * s[0]);
    }
}

/* ---- 8-point -------------------------------------------------------------------------------- */

TEST(eight_point_on_exact_data_satisfies_the_epipolar_constraint)
{
    for (int trial = 0; trial < 20; trial++) {
        size_t n = trial % 2 ? 8 : 100;
        scene s = make_scene(n, SCENE_GENERAL, 0.0, 0.0);
        double *pts = scene_points(&s, 0);
        uint32_t *idx = iota(n);
        double f[9];
        ASSERT(deja__geom_fit8(pts, idx, n, 0, f));
        EXPECT_LE(worst_residual(&s, f), 1e-6);
        /* And it is the true F: the coordinates are exact up to float rounding. */
        EXPECT_LE(diff_up_to_sign(f, s.F, 9), n == 8 ? 1e-3 : 1e-4);
        double u[9], sv[3], v[9];
        deja__geom_svd3(f, u, sv, v);
        EXPECT_LE(sv[2], 1e-12 * sv[0]); /* rank 2 */
        EXPECT_NEAR(frob(f, 9), 1.0, 1e-12);
        free(pts), free(idx), scene_free(&s);
    }
}

TEST(eight_point_minimal_elimination_agrees_with_the_jacobi_least_squares)
{
    /* 8 matches go through Gaussian elimination, more through the eigen solver; the same 8
     * matches listed twice give the same system, so both paths must give the same F. */
    for (int trial = 0; trial < 50; trial++) {
        scene s = make_scene(8, SCENE_GENERAL, trial % 2 ? 1.0 : 0.0, 0.0);
        double *pts = scene_points(&s, 0);
        uint32_t idx[16];
        for (uint32_t i = 0; i < 16; i++)
            idx[i] = i % 8;
        double fa[9], fb[9];
        ASSERT(deja__geom_fit8(pts, idx, 8, 0, fa));
        ASSERT(deja__geom_fit8(pts, idx, 16, 0, fb));
        EXPECT_LE(diff_up_to_sign(fa, fb, 9), 1e-7);
        free(pts), scene_free(&s);
    }
}

TEST(eight_point_essential_has_singular_values_s_s_0_and_true_epipoles)
{
    scene s = make_scene(60, SCENE_GENERAL, 0.0, 0.0);
    double *pts = scene_points(&s, 1);
    uint32_t *idx = iota(s.n);
    double e[9], u[9], sv[3], v[9];
    ASSERT(deja__geom_fit8(pts, idx, s.n, 1, e));
    deja__geom_svd3(e, u, sv, v);
    EXPECT_NEAR(sv[0], 1.0, 1e-12);
    EXPECT_NEAR(sv[1], 1.0, 1e-12);
    EXPECT_NEAR(sv[2], 0.0, 1e-12);
    double e1[9];
    for (int i = 0; i < 9; i++)
        e1[i] = e[i] / sqrt(2.0); /* unit Frobenius norm, as s.E */
    EXPECT_LE(diff_up_to_sign(e1, s.E, 9), 1e-4);
    /* E^T t = 0: the left null vector is t (epipole of A's centre in B); E (R^T t) = 0. */
    double nt = frob(s.t, 3), cosb = 0, rt[3] = {0}, cosa = 0;
    for (int r = 0; r < 3; r++) {
        cosb += u[r * 3 + 2] * s.t[r] / nt;
        for (int c = 0; c < 3; c++)
            rt[r] += s.R[c * 3 + r] * s.t[c] / nt;
    }
    for (int r = 0; r < 3; r++)
        cosa += v[r * 3 + 2] * rt[r];
    EXPECT_NEAR(fabs(cosb), 1.0, 1e-8);
    EXPECT_NEAR(fabs(cosa), 1.0, 1e-8);
    free(pts), free(idx), scene_free(&s);
}

TEST(eight_point_rejects_coincident_collinear_and_exactly_planar_sets)
{
    scene line = make_scene(30, SCENE_LINE, 0.0, 0.0);
    scene plane = make_scene(30, SCENE_PLANE, 0.0, 0.0);
    scene same = make_scene(30, SCENE_GENERAL, 0.0, 0.0);
    for (size_t i = 0; i < same.n; i++)
        same.ka[i] = same.ka[0], same.kb[i] = same.kb[0];
    const scene *all[3] = {&line, &plane, &same};
    for (int k = 0; k < 3; k++) {
        double *pts = scene_points(all[k], 0);
        uint32_t *idx = iota(all[k]->n);
        double f[9];
        EXPECT_EQ(deja__geom_fit8(pts, idx, 8, 0, f), 0);
        EXPECT_EQ(deja__geom_fit8(pts, idx, all[k]->n, 0, f), 0);
        EXPECT_EQ(deja__geom_fit8(pts, idx, all[k]->n, 1, f), 0);
        EXPECT_EQ(deja__geom_fit8(pts, idx, 7, 0, f), 0); /* too few */
        pts[5] = NAN;
        EXPECT_EQ(deja__geom_fit8(pts, idx, all[k]->n, 0, f), 0);
        free(pts), free(idx);
    }
    scene_free(&line), scene_free(&plane), scene_free(&same);
}

/* ---- RANSAC -------------------------------------------------------------------------------- */

typedef struct {
    size_t true_in, found_in, out, flagged_out, mask_sum;
} tally;

static tally count(const scene *s, const deja__geom_result *r)
{
    tally t = {0};
    for (size_t i = 0; i < s->n; i++) {
        t.mask_sum += r->inlier_mask[i];
        if (s->outlier[i])
            t.out++, t.flagged_out += r->inlier_mask[i];
        else
            t.true_in++, t.found_in += r->inlier_mask[i];
    }
    return t;
}

TEST(ransac_finds_the_inliers_among_40_percent_outliers_with_1px_noise)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    for (int trial = 0; trial < 10; trial++) {
        scene s = make_scene(300, SCENE_GENERAL, 1.0, 0.4);
        for (int ess = 0; ess < 2; ess++) {
            deja__geom_result r;
            ASSERT_OK(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, ess ? &s.k : NULL, &r));
            tally t = count(&s, &r);
            EXPECT_EQ(r.outcome, DEJA__GEOM_OK);
            EXPECT_EQ(r.essential, ess);
            EXPECT_EQ(t.mask_sum, r.n_inliers);
            EXPECT_GE(t.found_in, 0.9 * (double)t.true_in);
            EXPECT_LE(t.flagged_out, 0.05 * (double)t.out);
            EXPECT_LE(r.iterations, deja__geom_params_default().max_iterations);
            /* The model is close to the truth, entry by entry. */
            EXPECT_LE(diff_up_to_sign(r.F, s.F, 9), 0.05);
            if (ess) {
                double u[9], sv[3], v[9];
                deja__geom_svd3(r.E, u, sv, v);
                EXPECT_NEAR(sv[0], 1.0, 1e-9);
                EXPECT_NEAR(sv[1], 1.0, 1e-9);
                EXPECT_NEAR(sv[2], 0.0, 1e-9);
                double nt = frob(s.t, 3), c = 0;
                for (int k = 0; k < 3; k++)
                    c += u[k * 3 + 2] * s.t[k] / nt;
                EXPECT_GE(fabs(c), cos(3.0 * M_PI / 180)); /* epipole within 3 degrees */
            }
        }
        scene_free(&s);
    }
    deja__geom_destroy(g);
}

TEST(ransac_stops_early_on_clean_data_and_at_the_cap_on_hopeless_data)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    scene clean = make_scene(200, SCENE_GENERAL, 0.5, 0.0);
    deja__geom_result r;
    ASSERT_OK(
        deja__geom_verify(g, clean.ka, clean.n, clean.kb, clean.n, clean.m, clean.n, NULL, &r));
    EXPECT_LE(r.iterations, 10); /* w ~ 1: log(0.01) / log(1 - w^8) is a handful */
    EXPECT_GE(r.n_inliers, 190);
    scene junk = make_scene(200, SCENE_GENERAL, 0.5, 1.0);
    ASSERT_OK(deja__geom_verify(g, junk.ka, junk.n, junk.kb, junk.n, junk.m, junk.n, NULL, &r));
    EXPECT_EQ(r.iterations, deja__geom_params_default().max_iterations);
    EXPECT_EQ(r.outcome, DEJA__GEOM_TOO_FEW_INLIERS);
    fprintf(stderr, "  all outliers: %u inliers\n", r.n_inliers);
    scene_free(&clean), scene_free(&junk);
    deja__geom_destroy(g);
}

TEST(ransac_is_deterministic_for_a_seed)
{
    scene s = make_scene(300, SCENE_GENERAL, 1.0, 0.5);
    deja__geom *g1 = make_geom(NULL), *g2 = make_geom(NULL);
    ASSERT(g1 && g2);
    deja__geom_result r1, r2, r3;
    uint8_t *mask1 = malloc(s.n);
    ASSERT_OK(deja__geom_verify(g1, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r1));
    memcpy(mask1, r1.inlier_mask, s.n);
    /* Another call on another scene in between must not change the next result. */
    scene other = make_scene(100, SCENE_GENERAL, 1.0, 0.2);
    ASSERT_OK(
        deja__geom_verify(g2, other.ka, other.n, other.kb, other.n, other.m, other.n, NULL, &r2));
    ASSERT_OK(deja__geom_verify(g2, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r2));
    ASSERT_OK(deja__geom_verify(g1, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r3));
    EXPECT(memcmp(r1.F, r2.F, sizeof r1.F) == 0);
    EXPECT(memcmp(r1.F, r3.F, sizeof r1.F) == 0);
    EXPECT_EQ(r1.iterations, r2.iterations);
    EXPECT_EQ(r1.n_inliers, r2.n_inliers);
    EXPECT(memcmp(mask1, r2.inlier_mask, s.n) == 0);
    /* Another seed draws other samples and still finds the model. */
    deja__geom_params p = deja__geom_params_default();
    p.seed = 12345;
    deja__geom *g3 = make_geom(&p);
    ASSERT(g3);
    ASSERT_OK(deja__geom_verify(g3, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r3));
    EXPECT_EQ(r3.outcome, DEJA__GEOM_OK);
    EXPECT_NEAR(r3.n_inliers, r1.n_inliers, 5);
    free(mask1), scene_free(&s), scene_free(&other);
    deja__geom_destroy(g1), deja__geom_destroy(g2), deja__geom_destroy(g3);
}

static int finite9(const double *m)
{
    for (int i = 0; i < 9; i++)
        if (!isfinite(m[i])) return 0;
    return 1;
}

TEST(degenerate_inputs_report_an_outcome_and_never_a_nan_model)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    deja__geom_result r;
    /* fewer than 8 matches, and none */
    scene s = make_scene(7, SCENE_GENERAL, 0.0, 0.0);
    ASSERT_OK(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r));
    EXPECT_EQ(r.outcome, DEJA__GEOM_TOO_FEW_MATCHES);
    EXPECT_EQ(r.n_inliers, 0);
    EXPECT_EQ(r.inlier_mask[6], 0);
    ASSERT_OK(deja__geom_verify(g, NULL, 0, NULL, 0, NULL, 0, NULL, &r));
    EXPECT_EQ(r.outcome, DEJA__GEOM_TOO_FEW_MATCHES);
    EXPECT(r.inlier_mask == NULL);
    scene_free(&s);
    /* all identical points; all on one 3D line; an exactly planar scene */
    scene same = make_scene(50, SCENE_GENERAL, 0.0, 0.0);
    for (size_t i = 0; i < same.n; i++)
        same.ka[i] = same.ka[0], same.kb[i] = same.kb[0];
    scene line = make_scene(50, SCENE_LINE, 0.0, 0.0);
    scene plane = make_scene(100, SCENE_PLANE, 0.0, 0.0);
    const scene *all[3] = {&same, &line, &plane};
    for (int k = 0; k < 3; k++) {
        for (int ess = 0; ess < 2; ess++) {
            const scene *d = all[k];
            ASSERT_OK(
                deja__geom_verify(g, d->ka, d->n, d->kb, d->n, d->m, d->n, ess ? &d->k : NULL, &r));
            EXPECT_EQ(r.outcome, DEJA__GEOM_DEGENERATE);
            EXPECT_EQ(r.n_inliers, 0);
            EXPECT_EQ(r.iterations, deja__geom_params_default().max_iterations);
            EXPECT(finite9(r.F) && frob(r.F, 9) == 0.0);
            EXPECT_EQ(count(d, &r).mask_sum, 0);
        }
    }
    /* A noisy plane is not detectably degenerate: F is one of a 3-parameter family that all
     * explain the plane, so the inliers are right even though F is arbitrary. Report it. */
    scene noisy = make_scene(200, SCENE_PLANE, 1.0, 0.3);
    ASSERT_OK(
        deja__geom_verify(g, noisy.ka, noisy.n, noisy.kb, noisy.n, noisy.m, noisy.n, NULL, &r));
    tally t = count(&noisy, &r);
    fprintf(stderr,
            "  noisy plane: outcome %d, %u inliers, %zu/%zu true inliers, %zu/%zu "
            "outliers flagged, %u iterations\n",
            (int)r.outcome, r.n_inliers, t.found_in, t.true_in, t.flagged_out, t.out, r.iterations);
    EXPECT(finite9(r.F));
    EXPECT_EQ(t.mask_sum, r.n_inliers);
    EXPECT_LE(r.n_inliers, noisy.n);
    scene_free(&same), scene_free(&line), scene_free(&plane), scene_free(&noisy);
    deja__geom_destroy(g);
}

TEST(invalid_verify_input_is_an_error_naming_the_match)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    scene s = make_scene(40, SCENE_GENERAL, 0.0, 0.0);
    deja__geom_result r;
    float keep_y = s.ka[17].y, keep_x = s.kb[3].x;
    s.ka[17].y = NAN;
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__geom_error(g), "match 17") && strstr(deja__geom_error(g), "A[17]"));
    s.ka[17].y = keep_y;
    s.kb[3].x = INFINITY;
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__geom_error(g), "B[3]") != NULL);
    s.kb[3].x = keep_x;
    s.m[5].ib = 40;
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__geom_error(g), "match 5") != NULL);
    s.m[5].ib = 5;
    deja__geom_intrinsics bad = {0.0, 500, 320, 240};
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, &bad, &r), DEJA_INVALID_ARG);
    bad.fx = 500, bad.cy = NAN;
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, &bad, &r), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, NULL, s.n, NULL, &r),
                  DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, NULL),
                  DEJA_INVALID_ARG);
    /* The handle still works after the errors. */
    ASSERT_OK(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, NULL, &r));
    EXPECT_EQ(r.n_inliers, 40);
    scene_free(&s);
    deja__geom_destroy(g);
}

TEST(bad_parameters_are_rejected_at_create)
{
    deja__geom *g = NULL;
    deja__geom_params p = deja__geom_params_default();
    p.ratio = 0;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    p = deja__geom_params_default(), p.confidence = 1.0f;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    p = deja__geom_params_default(), p.sigma_px = NAN;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    p = deja__geom_params_default(), p.max_iterations = 0;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    p = deja__geom_params_default(), p.rotation_bins = 0;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    p = deja__geom_params_default(), p.rotation_check = 2;
    EXPECT_STATUS(deja__geom_create(NULL, &p, &g), DEJA_INVALID_ARG);
    EXPECT(g == NULL);
    EXPECT_STATUS(deja__geom_create(NULL, NULL, NULL), DEJA_INVALID_ARG);
}

/* ---- matching ------------------------------------------------------------------------------ */

/* A hand-made frame pair. B: nb random 32-byte descriptors in nodes by index; A: copies of
 * B's first n_true features with a few flipped bits, shuffled, rotated by rot_deg, plus random
 * distractors. truth[ia] is the B feature A's feature ia was made from, or UINT32_MAX. */
typedef struct {
    size_t na, nb;
    uint8_t *da, *db;
    deja_keypoint *ka, *kb;
    uint32_t *truth;
    uint32_t *node_of_a, *node_of_b;
    /* direct indices, built from node_of_* */
    uint32_t nodes_a[16], off_a[17], *feat_a, nodes_b[16], off_b[17], *feat_b;
    size_t n_nodes_a, n_nodes_b;
} pair;

static const uint32_t NODE_IDS[6] = {3, 7, 12, 40, 41, 90};

static void flip_bits(uint8_t *d, int k)
{
    for (int i = 0; i < k;) {
        int bit = (int)(test_rnd(&rng) % 256);
        /* distinct bits, so the distance is exactly k */
        uint8_t mask = (uint8_t)(1u << (bit & 7));
        if (d[32 + bit / 8] & mask) continue; /* scratch bytes after the row mark flips */
        d[32 + bit / 8] |= mask;
        d[bit / 8] ^= mask;
        i++;
    }
}

/* Direct index over node_of[0..n): nodes in NODE_IDS ascending order, features ascending. */
static void build_index(const uint32_t *node_of, size_t n, uint32_t *nodes, uint32_t *off,
                        uint32_t *feat, size_t *n_nodes)
{
    size_t k = 0, f = 0;
    off[0] = 0;
    for (int j = 0; j < 6; j++) {
        size_t start = f;
        for (size_t i = 0; i < n; i++)
            if (node_of[i] == NODE_IDS[j]) feat[f++] = (uint32_t)i;
        if (f == start) continue;
        nodes[k] = NODE_IDS[j];
        off[++k] = (uint32_t)f;
    }
    *n_nodes = k;
}

static void pair_index(pair *p)
{
    build_index(p->node_of_a, p->na, p->nodes_a, p->off_a, p->feat_a, &p->n_nodes_a);
    build_index(p->node_of_b, p->nb, p->nodes_b, p->off_b, p->feat_b, &p->n_nodes_b);
}

static pair make_pair(size_t nb, size_t n_true, size_t n_distract, int max_flips, double rot_deg)
{
    pair p;
    memset(&p, 0, sizeof p);
    p.nb = nb, p.na = n_true + n_distract;
    p.db = malloc(nb * 32), p.da = malloc(p.na * 32);
    p.kb = calloc(nb, sizeof *p.kb), p.ka = calloc(p.na, sizeof *p.ka);
    p.truth = malloc(p.na * 4), p.node_of_a = malloc(p.na * 4), p.node_of_b = malloc(nb * 4);
    p.feat_a = malloc(p.na * 4), p.feat_b = malloc(nb * 4);
    for (size_t i = 0; i < nb * 32; i++)
        p.db[i] = (uint8_t)test_rnd(&rng);
    for (size_t i = 0; i < nb; i++) {
        p.kb[i] =
            (deja_keypoint){(float)uni(0, 640), (float)uni(0, 480), 31, (float)uni(0, 360), 1, 0};
        p.node_of_b[i] = NODE_IDS[1 + i % 4]; /* nodes 7, 12, 40, 41 */
    }
    /* A's order: a random permutation of the true copies and the distractors. */
    uint32_t *perm = iota(p.na);
    for (size_t i = p.na; i > 1; i--) {
        size_t j = test_rnd(&rng) % i;
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j], perm[j] = t;
    }
    for (size_t k = 0; k < p.na; k++) {
        size_t ia = perm[k];
        uint8_t row[64] = {0};
        if (k < n_true) {
            memcpy(row, p.db + k * 32, 32);
            flip_bits(row, (int)(test_rnd(&rng) % (size_t)(max_flips + 1)));
            p.truth[ia] = (uint32_t)k;
            p.node_of_a[ia] = p.node_of_b[k];
            float ang = p.kb[k].angle + (float)rot_deg + (float)uni(-3, 3);
            p.ka[ia] = (deja_keypoint){p.kb[k].x, p.kb[k].y, 31, fmodf(ang + 360.0f, 360.0f), 1, 0};
        } else {
            for (int b = 0; b < 32; b++)
                row[b] = (uint8_t)test_rnd(&rng);
            p.truth[ia] = UINT32_MAX;
            p.node_of_a[ia] = NODE_IDS[test_rnd(&rng) % 6]; /* 3 and 90 exist only in A */
            p.ka[ia] = (deja_keypoint){
                (float)uni(0, 640), (float)uni(0, 480), 31, (float)uni(0, 360), 1, 0};
        }
        memcpy(p.da + ia * 32, row, 32);
    }
    free(perm);
    pair_index(&p);
    return p;
}

static void pair_free(pair *p)
{
    free(p->da), free(p->db), free(p->ka), free(p->kb), free(p->truth);
    free(p->node_of_a), free(p->node_of_b), free(p->feat_a), free(p->feat_b);
}

static deja_features feats(size_t n, const deja_keypoint *k, const void *d)
{
    return (deja_features){n, k, d, DEJA_DESC_BINARY, 32};
}

static deja_direct_index dindex(const uint32_t *nodes, const uint32_t *off, const uint32_t *f,
                                size_t n)
{
    return (deja_direct_index){n, nodes, off, f};
}

static deja_status run_match(deja__geom *g, pair *p, const deja__match **m, size_t *n)
{
    deja_features fa = feats(p->na, p->ka, p->da), fb = feats(p->nb, p->kb, p->db);
    deja_direct_index ia = dindex(p->nodes_a, p->off_a, p->feat_a, p->n_nodes_a);
    deja_direct_index ib = dindex(p->nodes_b, p->off_b, p->feat_b, p->n_nodes_b);
    return deja__geom_match(g, &fa, &ia, &fb, &ib, m, n);
}

static uint32_t hamming(const uint8_t *a, const uint8_t *b)
{
    uint32_t d = 0;
    for (int i = 0; i < 32; i++)
        d += (uint32_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    return d;
}

TEST(matching_recovers_the_true_pairs_and_no_distractor)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    pair p = make_pair(300, 150, 80, 10, 24.0);
    const deja__match *m;
    size_t n;
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 150);
    for (size_t i = 0; i < n; i++) {
        EXPECT_EQ(m[i].ib, p.truth[m[i].ia]);
        EXPECT_EQ((uint32_t)m[i].distance, hamming(p.da + m[i].ia * 32, p.db + m[i].ib * 32));
        if (i > 0) EXPECT(m[i - 1].ia < m[i].ia);
    }
    /* Features under different nodes never match: move one true copy to node 3 (A only). */
    uint32_t moved = 0;
    while (p.truth[moved] == UINT32_MAX)
        moved++;
    p.node_of_a[moved] = 3;
    pair_index(&p);
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 149);
    for (size_t i = 0; i < n; i++)
        EXPECT(m[i].ia != moved);
    /* Same result with the SCALAR kernels (the handle took AUTO's). */
    deja_options o = deja_options_default();
    o.simd = DEJA_SIMD_SCALAR;
    deja__geom *gs = NULL;
    ASSERT_OK(deja__geom_create(&o, NULL, &gs));
    const deja__match *ms;
    size_t ns;
    ASSERT_OK(run_match(gs, &p, &ms, &ns));
    ASSERT_OK(run_match(g, &p, &m, &n));
    ASSERT_EQ(ns, n);
    EXPECT(memcmp(ms, m, n * sizeof *m) == 0);
    deja__geom_destroy(gs);
    pair_free(&p);
    deja__geom_destroy(g);
}

TEST(matching_applies_max_distance_and_the_ratio_test)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    pair p = make_pair(100, 60, 0, 0, 24.0); /* exact copies: distance 0 */
    /* A feature 0 becomes 70 bits from its source: over max_hamming 64. */
    uint32_t far = 0, amb = 1;
    uint8_t row[64] = {0};
    memcpy(row, p.db + p.truth[far] * 32, 32);
    flip_bits(row, 70);
    memcpy(p.da + far * 32, row, 32);
    /* B's source of A feature 1 gets a near twin under the same node: best 4 vs second 5, and
     * 4 < 0.8 * 5 fails. The twin replaces a B feature of the same node that has no copy. */
    uint32_t src = p.truth[amb], twin = UINT32_MAX;
    for (uint32_t j = 60; j < 100; j++)
        if (p.node_of_b[j] == p.node_of_b[src]) twin = j;
    ASSERT(twin != UINT32_MAX);
    memset(row, 0, sizeof row);
    memcpy(row, p.db + src * 32, 32);
    flip_bits(row, 9);
    memcpy(p.db + twin * 32, row, 32); /* twin = src ^ 9 bits */
    memset(row, 0, sizeof row);
    memcpy(row, p.db + src * 32, 32);
    /* A1 = src with 4 of the twin's 9 bits flipped: d(A1, src) = 4, d(A1, twin) = 5. */
    int flipped = 0;
    for (int byte = 0; byte < 32 && flipped < 4; byte++)
        for (int bit = 0; bit < 8 && flipped < 4; bit++)
            if ((p.db[twin * 32 + byte] ^ p.db[src * 32 + byte]) & (1u << bit))
                row[byte] ^= (uint8_t)(1u << bit), flipped++;
    memcpy(p.da + amb * 32, row, 32);
    ASSERT_EQ(hamming(p.da + amb * 32, p.db + src * 32), 4);
    ASSERT_EQ(hamming(p.da + amb * 32, p.db + twin * 32), 5);
    const deja__match *m;
    size_t n;
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 58);
    for (size_t i = 0; i < n; i++)
        EXPECT(m[i].ia != far && m[i].ia != amb);
    deja__geom_destroy(g);
    /* Ratio 1.0 lets 4 < 5 through; max_hamming 70 lets the far one through. */
    deja__geom_params prm = deja__geom_params_default();
    prm.ratio = 1.0f, prm.max_hamming = 70;
    g = make_geom(&prm);
    ASSERT(g);
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 60);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].ia == amb) {
            EXPECT_EQ(m[i].ib, src);
            seen++;
        }
        if (m[i].ia == far) {
            EXPECT_EQ(m[i].distance, 70);
            seen++;
        }
    }
    EXPECT_EQ(seen, 2);
    pair_free(&p);
    deja__geom_destroy(g);
}

TEST(matching_is_one_to_one_keeping_the_nearest)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    pair p = make_pair(100, 40, 0, 0, 24.0);
    /* Two A features that both pick one B feature: A x at 5 bits, A y at 2 bits. */
    uint32_t x = 0, y = 1, target = p.truth[y];
    uint8_t row[64] = {0};
    memcpy(row, p.db + target * 32, 32);
    flip_bits(row, 5);
    memcpy(p.da + x * 32, row, 32);
    p.node_of_a[x] = p.node_of_b[target];
    p.ka[x].angle = p.ka[y].angle; /* consistent rotation: only the distance decides */
    memset(row, 0, sizeof row);
    memcpy(row, p.db + target * 32, 32);
    flip_bits(row, 2);
    memcpy(p.da + y * 32, row, 32);
    pair_index(&p);
    const deja__match *m;
    size_t n;
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 39);
    int got_y = 0;
    for (size_t i = 0; i < n; i++) {
        EXPECT(m[i].ia != x);
        if (m[i].ia == y) {
            got_y = 1;
            EXPECT_EQ(m[i].ib, target);
            EXPECT_EQ(m[i].distance, 2);
        }
        for (size_t j = 0; j < i; j++)
            EXPECT(m[j].ib != m[i].ib);
    }
    EXPECT(got_y);
    /* Swap their distances: now x wins. */
    memcpy(row, p.da + x * 32, 32);
    memcpy(p.da + x * 32, p.da + y * 32, 32);
    memcpy(p.da + y * 32, row, 32);
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 39);
    for (size_t i = 0; i < n; i++) {
        EXPECT(m[i].ia != y);
        if (m[i].ia == x) EXPECT_EQ(m[i].ib, target);
    }
    pair_free(&p);
    deja__geom_destroy(g);
}

TEST(rotation_check_drops_matches_off_the_dominant_rotations)
{
    pair p = make_pair(400, 200, 0, 6, 24.0);
    /* 8 true matches rotated by a further 150 degrees (< 10 % of the main bin: dropped) */
    size_t odd = 0;
    for (size_t ia = 0; ia < p.na && odd < 8; ia++, odd++)
        p.ka[ia].angle = fmodf(p.ka[ia].angle + 150.0f, 360.0f);
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    const deja__match *m;
    size_t n;
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 192);
    for (size_t i = 0; i < n; i++)
        EXPECT(m[i].ia >= 8);
    /* Off: all 200 are kept. */
    deja__geom_params prm = deja__geom_params_default();
    prm.rotation_check = 0;
    deja__geom *off = make_geom(&prm);
    ASSERT(off);
    ASSERT_OK(run_match(off, &p, &m, &n));
    EXPECT_EQ(n, 200);
    /* 40 at +150 (20 % of the main bin): their bin is the second largest and is kept. A 0/360
     * wrap-around: angles near 0 and near 360 land in the same bin. */
    for (size_t ia = 8; ia < 40; ia++)
        p.ka[ia].angle = fmodf(p.ka[ia].angle + 150.0f, 360.0f);
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 200);
    for (size_t ia = 0; ia < p.na; ia++) {
        float d = p.ka[ia].angle - p.kb[p.truth[ia]].angle;
        p.ka[ia].angle = (d > 0 ? 359.0f : 1.0f) + (float)uni(-0.9, 0.9);
        p.kb[p.truth[ia]].angle = (d > 0 ? 0.5f : 359.5f);
    }
    ASSERT_OK(run_match(g, &p, &m, &n));
    EXPECT_EQ(n, 200);
    /* Keypoints are needed for it. */
    deja_features fa = feats(p.na, NULL, p.da), fb = feats(p.nb, p.kb, p.db);
    deja_direct_index ia = dindex(p.nodes_a, p.off_a, p.feat_a, p.n_nodes_a);
    deja_direct_index ib = dindex(p.nodes_b, p.off_b, p.feat_b, p.n_nodes_b);
    EXPECT_STATUS(deja__geom_match(g, &fa, &ia, &fb, &ib, &m, &n), DEJA_INVALID_ARG);
    ASSERT_OK(deja__geom_match(off, &fa, &ia, &fb, &ib, &m, &n));
    EXPECT_EQ(n, 200);
    pair_free(&p);
    deja__geom_destroy(g), deja__geom_destroy(off);
}

TEST(matching_float_descriptors_uses_l2_distance)
{
    enum { NB = 120, NA = 80, DIM = 24 };
    float *db = malloc(NB * DIM * 4), *da = malloc(NA * DIM * 4);
    for (int i = 0; i < NB * DIM; i++)
        db[i] = (float)uni(-0.5, 0.5);
    float noise[NA];
    for (int i = 0; i < NA; i++) {
        double ss = 0;
        noise[i] = i == 7 ? 1.2f : 0.05f; /* feature 7: beyond max_l2 0.7 */
        for (int d = 0; d < DIM; d++) {
            float e = (float)gauss() * noise[i] / sqrtf((float)DIM);
            da[i * DIM + d] = db[i * DIM + d] + e;
            ss += (double)e * e;
        }
        noise[i] = (float)sqrt(ss);
    }
    uint32_t nodes[1] = {5}, off_a[2] = {0, NA}, off_b[2] = {0, NB};
    uint32_t *fa = iota(NA), *fb = iota(NB);
    deja_features a = {NA, NULL, da, DEJA_DESC_FLOAT32, DIM * 4};
    deja_features b = {NB, NULL, db, DEJA_DESC_FLOAT32, DIM * 4};
    deja_direct_index ia = {1, nodes, off_a, fa}, ib = {1, nodes, off_b, fb};
    deja__geom *g = make_geom(NULL); /* rotation check auto: off for float */
    ASSERT(g);
    const deja__match *m;
    size_t n;
    ASSERT_OK(deja__geom_match(g, &a, &ia, &b, &ib, &m, &n));
    ASSERT(noise[7] > 0.7f);
    EXPECT_EQ(n, NA - 1);
    for (size_t i = 0; i < n; i++) {
        EXPECT_EQ(m[i].ia, m[i].ib);
        EXPECT_NEAR(m[i].distance, noise[m[i].ia], 1e-4);
    }
    /* Mixed kinds are refused. */
    uint8_t bin[NB * 32] = {0};
    deja_features wrong = {NB, NULL, bin, DEJA_DESC_BINARY, 32};
    EXPECT_STATUS(deja__geom_match(g, &a, &ia, &wrong, &ib, &m, &n), DEJA_INVALID_ARG);
    free(da), free(db), free(fa), free(fb);
    deja__geom_destroy(g);
}

TEST(invalid_direct_indices_are_errors)
{
    deja__geom *g = make_geom(NULL);
    ASSERT(g);
    pair p = make_pair(50, 30, 5, 4, 0.0);
    const deja__match *m;
    size_t n;
    ASSERT_OK(run_match(g, &p, &m, &n));
    /* node ids not ascending */
    uint32_t keep = p.nodes_b[1];
    p.nodes_b[1] = p.nodes_b[0];
    EXPECT_STATUS(run_match(g, &p, &m, &n), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__geom_error(g), "ascend") != NULL);
    p.nodes_b[1] = keep;
    /* a feature index out of range */
    keep = p.feat_a[3];
    p.feat_a[3] = (uint32_t)p.na;
    EXPECT_STATUS(run_match(g, &p, &m, &n), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__geom_error(g), "features[3]") != NULL);
    p.feat_a[3] = keep;
    /* decreasing offsets */
    keep = p.off_a[1];
    p.off_a[1] = p.off_a[2] + 1;
    EXPECT_STATUS(run_match(g, &p, &m, &n), DEJA_INVALID_ARG);
    p.off_a[1] = keep;
    /* empty indices and empty sets match nothing */
    deja_features fa = feats(p.na, p.ka, p.da), none = feats(0, NULL, NULL);
    deja_direct_index ia = dindex(p.nodes_a, p.off_a, p.feat_a, p.n_nodes_a);
    deja_direct_index empty = {0, NULL, NULL, NULL};
    ASSERT_OK(deja__geom_match(g, &fa, &ia, &none, &empty, &m, &n));
    EXPECT_EQ(n, 0);
    EXPECT_STATUS(deja__geom_match(g, &fa, NULL, &none, &empty, &m, &n), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__geom_match(g, &fa, &ia, &fa, &ia, NULL, &n), DEJA_INVALID_ARG);
    ASSERT_OK(run_match(g, &p, &m, &n)); /* still works */
    pair_free(&p);
    deja__geom_destroy(g);
}

/* ---- memory -------------------------------------------------------------------------------- */

TEST(match_and_verify_allocate_nothing_once_warmed_up)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__geom *g;
    ASSERT_OK(deja__geom_create(&o, NULL, &g));
    pair big = make_pair(600, 300, 100, 8, 24.0);
    scene sbig = make_scene(400, SCENE_GENERAL, 1.0, 0.4);
    const deja__match *m;
    size_t n;
    deja__geom_result r;
    ASSERT_OK(run_match(g, &big, &m, &n));
    ASSERT_OK(deja__geom_verify(g, sbig.ka, sbig.n, sbig.kb, sbig.n, sbig.m, sbig.n, &sbig.k, &r));
    size_t warm = c.calls;
    EXPECT_GE(warm, 2);
    for (int frame = 0; frame < 20; frame++) {
        pair p = make_pair(100 + 20 * (size_t)frame, 50 + 10 * (size_t)frame, 30, 8, 24.0);
        scene s = make_scene(100 + 15 * (size_t)frame, SCENE_GENERAL, 1.0, 0.3);
        ASSERT_OK(run_match(g, &p, &m, &n));
        EXPECT_GE(n, 40);
        ASSERT_OK(
            deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, frame % 2 ? &s.k : NULL, &r));
        EXPECT_EQ(r.outcome, DEJA__GEOM_OK);
        /* verify on the matcher's own output, too */
        ASSERT_OK(deja__geom_verify(g, p.ka, p.na, p.kb, p.nb, m, n, NULL, &r));
        pair_free(&p), scene_free(&s);
    }
    EXPECT_EQ(c.calls, warm);
    deja__geom_destroy(g);
    EXPECT_EQ(c.live, 0);
    pair_free(&big), scene_free(&sbig);
}

TEST(out_of_memory_is_reported_and_the_handle_recovers)
{
    pair p = make_pair(200, 100, 30, 6, 24.0);
    scene s = make_scene(150, SCENE_GENERAL, 1.0, 0.3);
    int failures = 0;
    for (size_t k = 1; k < 30; k++) {
        test_counter c = {.fail_at = k};
        deja_options o = test_counting_options(&c);
        deja__geom *g = NULL;
        const deja__match *m;
        size_t n;
        deja__geom_result r;
        deja_status st = deja__geom_create(&o, NULL, &g);
        if (st == DEJA_OK) st = run_match(g, &p, &m, &n);
        if (st == DEJA_OK) st = deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, &s.k, &r);
        if (st != DEJA_OK) {
            EXPECT_EQ(st, DEJA_NOMEM);
            failures++;
            if (g) {
                c.fail_at = 0;
                ASSERT_OK(run_match(g, &p, &m, &n));
                EXPECT_EQ(n, 100);
                ASSERT_OK(deja__geom_verify(g, s.ka, s.n, s.kb, s.n, s.m, s.n, &s.k, &r));
                EXPECT_EQ(r.outcome, DEJA__GEOM_OK);
            }
        }
        deja__geom_destroy(g);
        EXPECT_EQ(c.live, 0);
    }
    EXPECT_GE(failures, 5);
    pair_free(&p), scene_free(&s);
}
