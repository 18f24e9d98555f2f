/* geom.c - matching two frames through their direct indices, and geometric verification of the
 * matches: fundamental or essential matrix by the normalised 8-point algorithm inside RANSAC,
 * with the small dense solvers it needs (those are in geom_solve.c).
 *
 * Matching follows DBoW2 / ORB-SLAM's SearchByBoW (Mur-Artal et al. 2015): features can only
 * correspond if they fell under the same vocabulary node at the direct-index level, so the two
 * ascending node lists are walked in step and, per shared node, each feature of A is compared
 * with all of B's (one 1 x n Hamming / L2 kernel call). The nearest is kept if it is within
 * max distance and clearly nearer than the second (Lowe's 2004 ratio test). Candidates are then
 * made one-to-one, nearest first, and (binary features by default) filtered by ORB-SLAM's
 * rotation check: a histogram of keypoint angle differences, keeping its three fullest bins.
 *
 * 8-point (Longuet-Higgins 1981; Hartley 1997, "In defense of the eight-point algorithm"): each
 * correspondence x_a <-> x_b gives one linear equation x_b^T F x_a = 0 in the nine entries of F.
 * Points of each image are first translated so that their centroid is the origin and scaled so
 * that their mean distance to it is sqrt(2); without this the system is badly conditioned (pixel
 * coordinates ~ 500 make its columns differ by 10^5). For more than 8 matches the least-squares F
 * is the eigenvector of A^T A (9 x 9) for the smallest eigenvalue, found by cyclic Jacobi
 * rotations in double; a second eigenvalue that is also ~0 means the null space is not
 * one-dimensional, i.e. the points are degenerate (coincident, collinear, or an exactly planar
 * scene). For exactly 8 (every RANSAC sample) the same null vector comes from Gaussian
 * elimination with full pivoting, with the same degeneracy test on the pivots. Rank 2 is enforced
 * with a 3 x 3 SVD (one-sided Jacobi) in normalised coordinates, then F is denormalised,
 * F = T_b^T F' T_a.
 *
 * RANSAC (Fischler & Bolles 1981): samples of 8 distinct matches are drawn by a partial
 * Fisher-Yates shuffle with our own splitmix64 generator, reset to the seed at each call, so a
 * call's result depends only on its input. Each hypothesis is scored in pixels by the Sampson
 * error (first-order geometric error, Hartley & Zisserman 2004, 11.4.3); with isotropic Gaussian
 * noise of sigma pixels it is ~ sigma^2 chi^2 with 1 degree of freedom (a point of R^4 to a
 * codimension-1 variety), so inliers are those under 3.84 sigma^2 (95 %), as ORB-SLAM does.
 * Most inliers wins, ties go to the smaller summed error. The number of samples adapts to the
 * inlier ratio w: N = log(1 - confidence) / log(1 - w^8), capped by max_iterations. A new best
 * model, and any sample with a third of the best's inliers, is locally optimised (LO-RANSAC,
 * Chum et al. 2003, simplified: see refine) before N is updated, because a minimal 8-point F from
 * noisy points keeps only a part of the true inliers.
 *
 * Essential matrix (intrinsics given): the linear 8-point E on K^-1 x, projected onto singular
 * values (1, 1, 0) (Hartley & Zisserman 9.6, 11.7.3), fits noisy data clearly worse than F does
 * (it keeps ~87 % of the true inliers where F keeps ~95 %, and RANSAC over such samples often
 * settles on a wrong model). So the search runs over F, and E is fitted to its consensus: linear
 * 8-point E, then Levenberg-Marquardt on the Sampson error over the essential manifold, rescored
 * (see fit_essential). The 5-point solver (Nister 2004) would sample E directly with 5 matches
 * and handle planar scenes; it is left for later. */
#include "geom.h"

#include <math.h>
#include <string.h>

struct deja__geom {
    deja_allocator alloc;
    deja__kernels kern;
    deja__geom_params p;
    char err[DEJA_ERROR_BYTES];
    /* matching */
    uint8_t *rows; /* B's descriptors under one node, contiguous for one 1 x n kernel call */
    uint32_t *dist_u;
    float *dist_f;
    deja__match *cand, *matches;
    uint8_t *used_a, *used_b;
    size_t rows_cap, dist_u_cap, dist_f_cap, cand_cap, matches_cap, used_a_cap, used_b_cap;
    /* verification */
    double *pix, *nrm; /* per match (x_a, y_a, x_b, y_b): pixels, and K^-1 x when essential */
    uint32_t *idx, *inl;
    uint8_t *mask, *best_mask;
    size_t pix_cap, nrm_cap, idx_cap, inl_cap, mask_cap, best_mask_cap;
};

deja__geom_params deja__geom_params_default(void)
{
    deja__geom_params p;
    memset(&p, 0, sizeof p);
    p.ratio = 0.8f;
    p.max_hamming = 64;
    p.max_l2 = 0.7f;
    p.rotation_check = -1;
    p.rotation_bins = 30;
    p.sigma_px = 1.0f;
    p.confidence = 0.99f;
    p.max_iterations = 500;
    p.min_inliers = 20;
    p.seed = 1;
    return p;
}

#define MAX_BINS       360
#define MAX_ITERATIONS 1000000u
#define CHI2_1DOF_95   3.841459

static deja_status check_params(const deja__geom_params *p)
{
    if (!(p->ratio > 0.0f && p->ratio <= 1.0f))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: ratio %g is not in (0, 1]", p->ratio);
    if (!(p->max_l2 >= 0.0f)) /* +inf allowed: no absolute bound */
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: max_l2 %g is not >= 0", p->max_l2);
    if (p->rotation_check < -1 || p->rotation_check > 1)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: rotation_check %d is not -1, 0 or 1",
                        p->rotation_check);
    if (p->rotation_bins < 1 || p->rotation_bins > MAX_BINS)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: rotation_bins %u is not in [1, %d]",
                        p->rotation_bins, MAX_BINS);
    if (!(p->sigma_px > 0.0f && isfinite(p->sigma_px)))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: sigma_px %g is not a positive number",
                        p->sigma_px);
    if (!(p->confidence > 0.0f && p->confidence < 1.0f))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: confidence %g is not in (0, 1)",
                        p->confidence);
    if (p->max_iterations < 1 || p->max_iterations > MAX_ITERATIONS)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: max_iterations %u is not in [1, %u]",
                        p->max_iterations, MAX_ITERATIONS);
    return DEJA_OK;
}

deja_status deja__geom_create(const deja_options *o, const deja__geom_params *p, deja__geom **out)
{
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom: out is NULL");
    deja__geom_params params = p ? *p : deja__geom_params_default();
    deja_status st = check_params(&params);
    if (st != DEJA_OK) return st;
    deja_options opt = deja__options_resolve(o);
    deja__kernels k;
    st = deja__kernels_get(opt.simd, &k);
    if (st != DEJA_OK) return st; /* the message is already in deja_last_error() */
    deja_allocator a = deja__allocator(&opt);
    deja__geom *g = deja__calloc(&a, 1, sizeof *g);
    if (!g) return DEJA_ERR(NULL, DEJA_NOMEM, "geom: out of memory for the handle");
    g->alloc = a;
    g->kern = k;
    g->p = params;
    *out = g;
    return DEJA_OK;
}

void deja__geom_destroy(deja__geom *g)
{
    if (!g) return;
    deja_allocator a = g->alloc;
    deja__free(&a, g->rows, g->rows_cap);
    deja__free(&a, g->dist_u, g->dist_u_cap * sizeof *g->dist_u);
    deja__free(&a, g->dist_f, g->dist_f_cap * sizeof *g->dist_f);
    deja__free(&a, g->cand, g->cand_cap * sizeof *g->cand);
    deja__free(&a, g->matches, g->matches_cap * sizeof *g->matches);
    deja__free(&a, g->used_a, g->used_a_cap);
    deja__free(&a, g->used_b, g->used_b_cap);
    deja__free(&a, g->pix, g->pix_cap * sizeof *g->pix);
    deja__free(&a, g->nrm, g->nrm_cap * sizeof *g->nrm);
    deja__free(&a, g->idx, g->idx_cap * sizeof *g->idx);
    deja__free(&a, g->inl, g->inl_cap * sizeof *g->inl);
    deja__free(&a, g->mask, g->mask_cap);
    deja__free(&a, g->best_mask, g->best_mask_cap);
    deja__free(&a, g, sizeof *g);
}

const char *deja__geom_error(const deja__geom *g)
{
    return g ? g->err : "";
}

/* ---- matching ----------------------------------------------------------------------------- */

/* Order of candidates for the one-to-one pass: nearest first; ties by A then B index, so the
 * outcome does not depend on the order in which nodes were visited. */
static int before_dist(const deja__match *x, const deja__match *y)
{
    if (x->distance != y->distance) return x->distance < y->distance;
    if (x->ia != y->ia) return x->ia < y->ia;
    return x->ib < y->ib;
}

static int before_ia(const deja__match *x, const deja__match *y)
{
    return x->ia < y->ia;
}

/* Stable bottom-up merge sort of m[0..n) with tmp (n entries) as scratch. Our own rather than
 * qsort: glibc's qsort may call malloc, and a frame's call must not allocate. */
static void sort_matches(deja__match *m, deja__match *tmp, size_t n,
                         int (*before)(const deja__match *, const deja__match *))
{
    deja__match *src = m, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        deja__match *t = src;
        src = dst, dst = t;
    }
    if (src != m) memcpy(m, src, n * sizeof *m);
}

static deja_status check_index(deja__geom *g, const deja_direct_index *d, size_t n_features,
                               const char *name)
{
    if (!d) return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: direct index %s is NULL", name);
    if (d->n_nodes == 0) return DEJA_OK;
    if (!d->nodes || !d->offsets)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: direct index %s: %s is NULL", name,
                        d->nodes ? "offsets" : "nodes");
    for (size_t i = 0; i < d->n_nodes; i++) {
        /* The merge walk relies on strictly ascending ids. */
        if (i > 0 && d->nodes[i] <= d->nodes[i - 1])
            return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                            "geom_match: direct index %s: node %zu has id %u after %u (ids must "
                            "ascend)",
                            name, i, d->nodes[i], d->nodes[i - 1]);
        if (d->offsets[i + 1] < d->offsets[i])
            return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                            "geom_match: direct index %s: offsets[%zu] = %u < offsets[%zu] = %u",
                            name, i + 1, d->offsets[i + 1], i, d->offsets[i]);
    }
    uint32_t lo = d->offsets[0], hi = d->offsets[d->n_nodes];
    if (hi > lo && !d->features)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: direct index %s: features is NULL",
                        name);
    for (uint32_t k = lo; k < hi; k++)
        if (d->features[k] >= n_features)
            return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                            "geom_match: direct index %s: features[%u] = %u >= %zu features", name,
                            k, d->features[k], n_features);
    return DEJA_OK;
}

static deja_status check_features(deja__geom *g, const deja_features *f, const char *name)
{
    if (!f) return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: features %s are NULL", name);
    if (f->kind != DEJA_DESC_BINARY && f->kind != DEJA_DESC_FLOAT32)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: features %s: kind %d is unknown",
                        name, (int)f->kind);
    if (f->desc_bytes == 0 || (f->kind == DEJA_DESC_FLOAT32 && f->desc_bytes % 4 != 0))
        return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                        "geom_match: features %s: %u-byte descriptors do not fit kind %s", name,
                        f->desc_bytes, f->kind == DEJA_DESC_FLOAT32 ? "float32" : "binary");
    if (f->n > UINT32_MAX)
        return DEJA_ERR(g->err, DEJA_LIMIT, "geom_match: features %s: %zu > %u", name, f->n,
                        UINT32_MAX);
    if (f->n > 0 && !f->descriptors)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: features %s: descriptors are NULL",
                        name);
    return DEJA_OK;
}

/* Nearest and second-nearest feature of B under one node for each feature of A under it;
 * candidates that pass both thresholds are appended to g->cand. */
static deja_status match_node(deja__geom *g, const deja_features *a, const uint32_t *fa, size_t na,
                              const deja_features *b, const uint32_t *fb, size_t nb, size_t *nc)
{
    if (na == 0 || nb == 0) return DEJA_OK;
    const deja_allocator *al = &g->alloc;
    size_t bytes = a->desc_bytes, row_bytes, need_c;
    if (!deja__mul_ok(nb, bytes, &row_bytes) || !deja__add_ok(*nc, na, &need_c))
        return DEJA_ERR(g->err, DEJA_LIMIT, "geom_match: node of %zu x %zu features", na, nb);
    int bin = a->kind == DEJA_DESC_BINARY;
    if (!deja__reserve(al, (void **)&g->rows, &g->rows_cap, row_bytes, 1) ||
        !deja__reserve(al, (void **)&g->cand, &g->cand_cap, need_c, sizeof *g->cand) ||
        (bin && !deja__reserve(al, (void **)&g->dist_u, &g->dist_u_cap, nb, 4)) ||
        (!bin && !deja__reserve(al, (void **)&g->dist_f, &g->dist_f_cap, nb, 4)))
        return DEJA_ERR(g->err, DEJA_NOMEM, "geom_match: out of memory for a node of %zu x %zu", na,
                        nb);
    /* B's rows are gathered once per node so that each A feature is one 1 x nb kernel call. */
    const uint8_t *desc_a = a->descriptors, *desc_b = b->descriptors;
    for (size_t k = 0; k < nb; k++)
        memcpy(g->rows + k * bytes, desc_b + (size_t)fb[k] * bytes, bytes);
    float ratio = g->p.ratio;
    for (size_t k = 0; k < na; k++) {
        const uint8_t *q = desc_a + (size_t)fa[k] * bytes;
        size_t bi = 0;
        float dist;
        if (bin) {
            g->kern.hamming_1xn(q, g->rows, bytes, nb, g->dist_u);
            uint32_t d1 = UINT32_MAX, d2 = UINT32_MAX;
            for (size_t t = 0; t < nb; t++) {
                uint32_t d = g->dist_u[t];
                if (d < d1)
                    d2 = d1, d1 = d, bi = t;
                else if (d < d2)
                    d2 = d;
            }
            /* No second candidate: the ratio test cannot reject (ORB-SLAM behaves alike). */
            if (d1 > g->p.max_hamming || (d2 != UINT32_MAX && !((float)d1 < ratio * (float)d2)))
                continue;
            dist = (float)d1;
        } else {
            /* Squared distances: the ratio applies squared; NaN rows never win a comparison. */
            g->kern.l2sq_1xn((const float *)(const void *)q, (const float *)(const void *)g->rows,
                             bytes / 4, nb, g->dist_f);
            float d1 = INFINITY, d2 = INFINITY;
            int found = 0;
            for (size_t t = 0; t < nb; t++) {
                float d = g->dist_f[t];
                if (d < d1)
                    d2 = d1, d1 = d, bi = t, found = 1;
                else if (d < d2)
                    d2 = d;
            }
            float max2 = g->p.max_l2 * g->p.max_l2;
            if (!found || !(d1 <= max2) || (isfinite(d2) && !(d1 < ratio * ratio * d2))) continue;
            dist = sqrtf(d1);
        }
        g->cand[(*nc)++] = (deja__match){fa[k], fb[bi], dist};
    }
    return DEJA_OK;
}

/* Bin of an angle difference in degrees, bin 0 centred on 0; -1 for a non-finite angle. */
static int angle_bin(float d, uint32_t bins)
{
    if (!isfinite(d)) return -1;
    double r = fmod((double)d, 360.0);
    if (r < 0.0) r += 360.0;
    long b = lround(r * (double)bins / 360.0);
    return (int)(b >= (long)bins ? b - (long)bins : b);
}

/* ORB-SLAM's rotation consistency: a true match rotates its keypoint by the camera roll, so the
 * angle differences of the inliers pile up in one bin (or its neighbours). Keep the matches of
 * the three fullest bins; the second and third only if they hold >= 10 % of the first. */
static size_t rotation_filter(const deja__geom_params *p, const deja_keypoint *ka,
                              const deja_keypoint *kb, deja__match *m, size_t n)
{
    uint32_t bins = p->rotation_bins, hist[MAX_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = angle_bin(ka[m[i].ia].angle - kb[m[i].ib].angle, bins);
        if (b >= 0) hist[b]++;
    }
    int top[3] = {-1, -1, -1};
    for (uint32_t b = 0; b < bins; b++) {
        if (hist[b] == 0) continue;
        int c = (int)b;
        for (int r = 0; r < 3; r++) { /* insertion; the lower bin stays first on ties */
            if (top[r] < 0 || hist[c] > hist[top[r]]) {
                int t = top[r];
                top[r] = c, c = t;
                if (c < 0) break;
            }
        }
    }
    if (top[0] < 0) return 0;
    double floor10 = 0.1 * (double)hist[top[0]];
    if (top[1] >= 0 && (double)hist[top[1]] < floor10)
        top[1] = top[2] = -1;
    else if (top[2] >= 0 && (double)hist[top[2]] < floor10)
        top[2] = -1;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        int b = angle_bin(ka[m[i].ia].angle - kb[m[i].ib].angle, bins);
        if (b >= 0 && (b == top[0] || b == top[1] || b == top[2])) m[kept++] = m[i];
    }
    return kept;
}

deja_status deja__geom_match(deja__geom *g, const deja_features *a, const deja_direct_index *da,
                             const deja_features *b, const deja_direct_index *db,
                             const deja__match **out, size_t *n_out)
{
    if (!g) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "geom_match: handle is NULL");
    if (!out || !n_out)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_match: %s is NULL", out ? "n_out" : "out");
    deja_status st;
    if ((st = check_features(g, a, "A")) != DEJA_OK || (st = check_features(g, b, "B")) != DEJA_OK)
        return st;
    if (a->kind != b->kind || a->desc_bytes != b->desc_bytes)
        return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                        "geom_match: features A (kind %d, %u bytes) and B (kind %d, %u bytes) "
                        "differ",
                        (int)a->kind, a->desc_bytes, (int)b->kind, b->desc_bytes);
    if ((st = check_index(g, da, a->n, "A")) != DEJA_OK ||
        (st = check_index(g, db, b->n, "B")) != DEJA_OK)
        return st;
    int rot = g->p.rotation_check < 0 ? a->kind == DEJA_DESC_BINARY : g->p.rotation_check;
    if (rot && ((a->n && !a->keypoints) || (b->n && !b->keypoints)))
        return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                        "geom_match: the rotation check needs keypoints, features %s have none",
                        a->n && !a->keypoints ? "A" : "B");
    const deja_allocator *al = &g->alloc;
    if (!deja__reserve(al, (void **)&g->used_a, &g->used_a_cap, a->n + 1, 1) ||
        !deja__reserve(al, (void **)&g->used_b, &g->used_b_cap, b->n + 1, 1))
        return DEJA_ERR(g->err, DEJA_NOMEM, "geom_match: out of memory for %zu + %zu features",
                        a->n, b->n);
    /* Walk both node lists in step (both ascending): only nodes present in both match. */
    size_t nc = 0, i = 0, j = 0;
    while (i < da->n_nodes && j < db->n_nodes) {
        uint32_t ni = da->nodes[i], nj = db->nodes[j];
        if (ni != nj) {
            i += ni < nj, j += nj < ni;
            continue;
        }
        const uint32_t *fa = da->features + da->offsets[i], *fb = db->features + db->offsets[j];
        st = match_node(g, a, fa, da->offsets[i + 1] - da->offsets[i], b, fb,
                        db->offsets[j + 1] - db->offsets[j], &nc);
        if (st != DEJA_OK) return st;
        i++, j++;
    }
    if (!deja__reserve(al, (void **)&g->matches, &g->matches_cap, nc + 1, sizeof *g->matches))
        return DEJA_ERR(g->err, DEJA_NOMEM, "geom_match: out of memory for %zu matches", nc);
    /* One-to-one, nearest first: a feature of B claimed by two of A goes to the closer. A feature
     * of A appears once in a valid index; the used_a test covers a hand-made one. */
    sort_matches(g->cand, g->matches, nc, before_dist);
    memset(g->used_a, 0, a->n);
    memset(g->used_b, 0, b->n);
    size_t nm = 0;
    for (size_t k = 0; k < nc; k++) {
        const deja__match *c = &g->cand[k];
        if (g->used_a[c->ia] || g->used_b[c->ib]) continue;
        g->used_a[c->ia] = g->used_b[c->ib] = 1;
        g->matches[nm++] = *c;
    }
    if (rot) nm = rotation_filter(&g->p, a->keypoints, b->keypoints, g->matches, nm);
    sort_matches(g->matches, g->cand, nm, before_ia);
    *out = g->matches; /* a valid buffer even when empty */
    *n_out = nm;
    return DEJA_OK;
}

/* ---- RANSAC ------------------------------------------------------------------------------- */


/* Uniform in [0, k) by the multiply-high method (bias < k / 2^32, irrelevant here). */
static uint32_t below(uint64_t *s, uint32_t k)
{
    return (uint32_t)(((deja__splitmix64(s) >> 32) * (uint64_t)k) >> 32);
}

/* Count matches whose Sampson error under the pixel-space F is below thr (px^2); the mask marks
 * them and *cost sums their errors. r^2 < thr * den avoids the division and makes den == 0 (a
 * point on both epipoles) an outlier. */
static uint32_t score(const double F[9], const double *pix, size_t n, double thr, uint8_t *mask,
                      double *cost)
{
    uint32_t count = 0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *q = pix + 4 * i;
        double xa = q[0], ya = q[1], xb = q[2], yb = q[3];
        double lb0 = F[0] * xa + F[1] * ya + F[2], lb1 = F[3] * xa + F[4] * ya + F[5];
        double lb2 = F[6] * xa + F[7] * ya + F[8];
        double la0 = F[0] * xb + F[3] * yb + F[6], la1 = F[1] * xb + F[4] * yb + F[7];
        double r = xb * lb0 + yb * lb1 + lb2;
        double den = lb0 * lb0 + lb1 * lb1 + la0 * la0 + la1 * la1;
        int in = r * r < thr * den;
        mask[i] = (uint8_t)in;
        if (in) {
            count++;
            sum += r * r / den;
        }
    }
    *cost = sum;
    return count;
}

/* F = K^-T E K^-1 for scoring in pixels. */
static void essential_to_pixel(const double e[9], const deja__geom_intrinsics *k, double f[9])
{
    double ki[9] = {1.0 / k->fx, 0, -k->cx / k->fx, 0, 1.0 / k->fy, -k->cy / k->fy, 0, 0, 1};
    double kit[9];
    deja__geom_transpose3(ki, kit);
    deja__geom_mul3(kit, e, f);
    deja__geom_mul3(f, ki, f);
    deja__geom_canonical(f, 1.0);
}

/* Samples needed so that one of them is all inliers with the given confidence. */
static uint32_t needed_samples(uint32_t inliers, size_t n, double confidence, uint32_t cap)
{
    double w = (double)inliers / (double)n, p8 = pow(w, 8.0);
    if (p8 <= 0.0) return cap;
    if (p8 >= 1.0) return 1;
    double k = ceil(log(1.0 - confidence) / log1p(-p8));
    return k < (double)cap ? (uint32_t)(k < 1.0 ? 1.0 : k) : cap;
}

/* The best model so far: its fitted matrix (F, or E when essential), F in pixels for scoring,
 * its inlier count and summed Sampson error. Its mask is g->best_mask. */
typedef struct {
    uint32_t count;
    double cost, m[9], f[9];
} model;

/* Take m / f (scored into g->mask) as the best model if it beats it. */
static int offer(deja__geom *g, size_t n, model *best, uint32_t c, double cost, const double m[9],
                 const double f[9])
{
    if (c < best->count || (c == best->count && !(cost < best->cost)) || c == 0) return 0;
    best->count = c, best->cost = cost;
    memcpy(best->m, m, sizeof best->m), memcpy(best->f, f, sizeof best->f);
    memcpy(g->best_mask, g->mask, n);
    return 1;
}

/* Local optimisation (Chum, Matas & Kittler 2003, "Locally optimized RANSAC", simplified):
 * from a promising F, refit by least squares on all matches within a widened threshold (9, 4,
 * 2 times, then 1 time thr, repeated while it gains) and offer each refit as the best. Why: a
 * sample's F fits 8 noisy points exactly and extrapolates badly; with 1 px noise an all-inlier
 * sample typically keeps only 20-50 % of the true inliers. Refitting on just those inliers can
 * stall in a wrong model that explains a part of them; the wide first rounds take in the other
 * true inliers (and few outliers: a 5-8 px band) and pull F to the truth. */
#define REFINE_ROUNDS 12
static void refine(deja__geom *g, size_t n, double thr, const double start[9], model *best)
{
    static const double widen[] = {9.0, 4.0, 2.0};
    double cur[9], cost;
    memcpy(cur, start, sizeof cur);
    for (int round = 0; round < REFINE_ROUNDS; round++) {
        double mult = round < 3 ? widen[round] : 1.0;
        score(cur, g->pix, n, thr * mult, g->mask, &cost);
        size_t n_in = 0;
        for (size_t i = 0; i < n; i++)
            if (g->mask[i]) g->inl[n_in++] = (uint32_t)i;
        if (n_in < 9 || !deja__geom_fit8(g->pix, g->inl, n_in, 0, cur)) return;
        uint32_t c = score(cur, g->pix, n, thr, g->mask, &cost);
        if (!offer(g, n, best, c, cost, cur, cur) && mult == 1.0) return;
    }
}

/* exp([w]x), Rodrigues' formula. */
static void rodrigues(const double w[3], double r[9])
{
    double th = deja__geom_norm3(w);
    for (int i = 0; i < 9; i++)
        r[i] = (i % 4) == 0;
    if (!(th > 0.0)) return;
    double k[3] = {w[0] / th, w[1] / th, w[2] / th}, c = cos(th), sn = sin(th), v = 1.0 - c;
    double kx[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i * 3 + j] = c * (i == j) + sn * kx[i * 3 + j] + v * k[i] * k[j];
}

/* Pixel F of the essential matrix U' diag(1, 1, 0) V'^T, U' = U exp([p0..2]x), V' = V
 * exp([p3..5]x): a chart of the 5-dimensional essential manifold around (U, V) (6 parameters,
 * one redundant: equal turns about both third axes leave E unchanged). */
static void essential_at(const double u[9], const double v[9], const double p[6],
                         const deja__geom_intrinsics *k, double f[9])
{
    double ra[9], rb[9], uu[9], vv[9], e[9];
    rodrigues(p, ra), rodrigues(p + 3, rb);
    deja__geom_mul3(u, ra, uu), deja__geom_mul3(v, rb, vv);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            e[i * 3 + j] = uu[i * 3] * vv[j * 3] + uu[i * 3 + 1] * vv[j * 3 + 1];
    essential_to_pixel(e, k, f);
}

/* Signed Sampson residual (its square is the Sampson error) of one match under pixel F. */
static double sampson_residual(const double F[9], const double *q)
{
    double xa = q[0], ya = q[1], xb = q[2], yb = q[3];
    double lb0 = F[0] * xa + F[1] * ya + F[2], lb1 = F[3] * xa + F[4] * ya + F[5];
    double lb2 = F[6] * xa + F[7] * ya + F[8];
    double la0 = F[0] * xb + F[3] * yb + F[6], la1 = F[1] * xb + F[4] * yb + F[7];
    double den = lb0 * lb0 + lb1 * lb1 + la0 * la0 + la1 * la1;
    return den > 0.0 ? (xb * lb0 + yb * lb1 + lb2) / sqrt(den) : 0.0;
}

static double sampson_cost(const double F[9], const double *pix, const uint32_t *idx, size_t m)
{
    double sum = 0.0;
    for (size_t i = 0; i < m; i++) {
        double r = sampson_residual(F, pix + 4 * (size_t)idx[i]);
        sum += r * r;
    }
    return sum;
}

/* Cholesky solve of the 6 x 6 SPD system a x = b (a destroyed); 0 if a is not positive. */
static int solve6(double a[36], const double b[6], double x[6])
{
    for (int j = 0; j < 6; j++) {
        double d = a[j * 6 + j];
        for (int k = 0; k < j; k++)
            d -= a[j * 6 + k] * a[j * 6 + k];
        if (!(d > 0.0)) return 0;
        a[j * 6 + j] = sqrt(d);
        for (int i = j + 1; i < 6; i++) {
            double t = a[i * 6 + j];
            for (int k = 0; k < j; k++)
                t -= a[i * 6 + k] * a[j * 6 + k];
            a[i * 6 + j] = t / a[j * 6 + j];
        }
    }
    double y[6];
    for (int i = 0; i < 6; i++) {
        double t = b[i];
        for (int k = 0; k < i; k++)
            t -= a[i * 6 + k] * y[k];
        y[i] = t / a[i * 6 + i];
    }
    for (int i = 5; i >= 0; i--) {
        double t = y[i];
        for (int k = i + 1; k < 6; k++)
            t -= a[k * 6 + i] * x[k];
        x[i] = t / a[i * 6 + i];
    }
    return 1;
}

/* Levenberg-Marquardt on the summed Sampson error of matches idx[0..m) over the essential
 * manifold (Hartley & Zisserman 11.4.3 and A6.2), from e (singular values (1, 1, 0)).
 * Why: the linear E, projected onto (1, 1, 0), is not the best E for noisy data; on the test
 * scenes it keeps ~87 % of the true inliers where the linear F keeps ~95 %. The Jacobian is
 * by forward differences: 7 F evaluations per step, one pass over the matches. */
static void polish_essential(const double *pix, const uint32_t *idx, size_t m,
                             const deja__geom_intrinsics *k, double e[9])
{
    double u[9], s[3], v[9], zero[6] = {0}, f0[9];
    deja__geom_svd3(e, u, s, v);
    essential_at(u, v, zero, k, f0);
    double cost = sampson_cost(f0, pix, idx, m), lambda = 1e-3;
    const double h = 1e-7;
    for (int iter = 0; iter < 10 && cost > 0.0; iter++) {
        double fj[7][9], jtj[36] = {0}, jtr[6] = {0};
        memcpy(fj[0], f0, sizeof f0);
        for (int j = 0; j < 6; j++) {
            double p[6] = {0};
            p[j] = h;
            essential_at(u, v, p, k, fj[j + 1]);
        }
        for (size_t i = 0; i < m; i++) {
            const double *q = pix + 4 * (size_t)idx[i];
            double r = sampson_residual(fj[0], q), jr[6];
            for (int j = 0; j < 6; j++)
                jr[j] = (sampson_residual(fj[j + 1], q) - r) / h;
            for (int a = 0; a < 6; a++) {
                jtr[a] += jr[a] * r;
                for (int b = 0; b <= a; b++)
                    jtj[a * 6 + b] += jr[a] * jr[b];
            }
        }
        int stepped = 0;
        for (int tries = 0; tries < 6 && !stepped; tries++) {
            double a[36], step[6], neg[6];
            for (int r = 0; r < 6; r++) {
                neg[r] = -jtr[r];
                for (int c = 0; c <= r; c++)
                    a[r * 6 + c] = a[c * 6 + r] = jtj[r * 6 + c];
                a[r * 6 + r] += lambda * jtj[r * 6 + r] + 1e-12;
            }
            if (solve6(a, neg, step)) {
                double f1[9];
                essential_at(u, v, step, k, f1);
                double c1 = sampson_cost(f1, pix, idx, m);
                if (c1 < cost) {
                    double ra[9], rb[9];
                    rodrigues(step, ra), rodrigues(step + 3, rb);
                    deja__geom_mul3(u, ra, u), deja__geom_mul3(v, rb, v);
                    memcpy(f0, f1, sizeof f1);
                    stepped = 1;
                    lambda = fmax(lambda * 0.1, 1e-9);
                    if (cost - c1 < 1e-9 * cost) iter = 10; /* converged */
                    cost = c1;
                    continue;
                }
            }
            lambda *= 10.0;
        }
        if (!stepped) break;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            e[i * 3 + j] = u[i * 3] * v[j * 3] + u[i * 3 + 1] * v[j * 3 + 1];
    deja__geom_canonical(e, sqrt(2.0));
}

/* E from the inliers of the best F: the linear 8-point E on K^-1 x, then LM, then rescoring;
 * repeated on the new inliers while that gains. Returns 0 if no E could be fitted. */
#define ESSENTIAL_ROUNDS 4
static int fit_essential(deja__geom *g, size_t n, double thr, const deja__geom_intrinsics *k,
                         model *best)
{
    model em = {0, INFINITY, {0}, {0}};
    for (int round = 0; round < ESSENTIAL_ROUNDS; round++) {
        size_t n_in = 0;
        for (size_t i = 0; i < n; i++)
            if (g->best_mask[i]) g->inl[n_in++] = (uint32_t)i;
        double e[9], f[9], cost;
        if (n_in < 8 || !deja__geom_fit8(g->nrm, g->inl, n_in, 1, e)) break;
        polish_essential(g->pix, g->inl, n_in, k, e);
        essential_to_pixel(e, k, f);
        uint32_t c = score(f, g->pix, n, thr, g->mask, &cost);
        if (!offer(g, n, &em, c, cost, e, f)) break;
    }
    if (em.count == 0) return 0;
    *best = em;
    return 1;
}

static deja_status reserve_verify(deja__geom *g, size_t n, int essential)
{
    const deja_allocator *a = &g->alloc;
    size_t n4;
    if (!deja__mul_ok(n, 4, &n4)) return DEJA_ERR(g->err, DEJA_LIMIT, "geom: %zu matches", n);
    if (!deja__reserve(a, (void **)&g->pix, &g->pix_cap, n4, sizeof(double)) ||
        (essential && !deja__reserve(a, (void **)&g->nrm, &g->nrm_cap, n4, sizeof(double))) ||
        !deja__reserve(a, (void **)&g->idx, &g->idx_cap, n, sizeof(uint32_t)) ||
        !deja__reserve(a, (void **)&g->inl, &g->inl_cap, n, sizeof(uint32_t)) ||
        !deja__reserve(a, (void **)&g->mask, &g->mask_cap, n, 1) ||
        !deja__reserve(a, (void **)&g->best_mask, &g->best_mask_cap, n, 1))
        return DEJA_ERR(g->err, DEJA_NOMEM, "geom: out of memory for %zu matches", n);
    return DEJA_OK;
}

deja_status deja__geom_reserve(deja__geom *g, size_t n, uint32_t desc_bytes, int essential)
{
    const deja_allocator *al = &g->alloc;
    size_t row_bytes;
    if (!deja__mul_ok(n, desc_bytes, &row_bytes))
        return DEJA_ERR(g->err, DEJA_LIMIT, "geom: reserve for %zu features", n);
    if (!deja__reserve(al, (void **)&g->rows, &g->rows_cap, row_bytes, 1) ||
        !deja__reserve(al, (void **)&g->cand, &g->cand_cap, n, sizeof *g->cand) ||
        !deja__reserve(al, (void **)&g->dist_u, &g->dist_u_cap, n, 4) ||
        !deja__reserve(al, (void **)&g->dist_f, &g->dist_f_cap, n, 4) ||
        !deja__reserve(al, (void **)&g->used_a, &g->used_a_cap, n + 1, 1) ||
        !deja__reserve(al, (void **)&g->used_b, &g->used_b_cap, n + 1, 1) ||
        !deja__reserve(al, (void **)&g->matches, &g->matches_cap, n + 1, sizeof *g->matches))
        return DEJA_ERR(g->err, DEJA_NOMEM, "geom: out of memory reserving %zu features", n);
    return reserve_verify(g, n, essential);
}

static int finite_kp(const deja_keypoint *k)
{
    return isfinite(k->x) && isfinite(k->y);
}

deja_status deja__geom_verify(deja__geom *g, const deja_keypoint *ka, size_t na,
                              const deja_keypoint *kb, size_t nb, const deja__match *m, size_t n,
                              const deja__geom_intrinsics *intr, deja__geom_result *out)
{
    if (!g || !out)
        return DEJA_ERR(g ? g->err : NULL, DEJA_INVALID_ARG, "geom_verify: %s is NULL",
                        g ? "result" : "handle");
    if (n > 0 && (!m || !ka || !kb))
        return DEJA_ERR(g->err, DEJA_INVALID_ARG, "geom_verify: %s is NULL for %zu matches",
                        !m    ? "matches"
                        : !ka ? "keypoints A"
                              : "keypoints B",
                        n);
    if (n > UINT32_MAX)
        return DEJA_ERR(g->err, DEJA_LIMIT, "geom_verify: %zu matches > %u", n, UINT32_MAX);
    int essential = intr != NULL;
    if (intr && !(intr->fx > 0 && intr->fy > 0 && isfinite(intr->fx) && isfinite(intr->fy) &&
                  isfinite(intr->cx) && isfinite(intr->cy)))
        return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                        "geom_verify: intrinsics fx %g fy %g cx %g cy %g: focal lengths must be "
                        "positive and all finite",
                        intr->fx, intr->fy, intr->cx, intr->cy);
    deja_status st = reserve_verify(g, n, essential);
    if (st != DEJA_OK) return st;
    for (size_t i = 0; i < n; i++) {
        if (m[i].ia >= na || m[i].ib >= nb)
            return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                            "geom_verify: match %zu: (%u, %u) out of range (%zu, %zu keypoints)", i,
                            m[i].ia, m[i].ib, na, nb);
        const deja_keypoint *pa = &ka[m[i].ia], *pb = &kb[m[i].ib];
        if (!finite_kp(pa) || !finite_kp(pb))
            return DEJA_ERR(g->err, DEJA_INVALID_ARG,
                            "geom_verify: match %zu: keypoint %s[%u] has non-finite coordinates "
                            "(%g, %g)",
                            i, finite_kp(pa) ? "B" : "A", finite_kp(pa) ? m[i].ib : m[i].ia,
                            finite_kp(pa) ? pb->x : pa->x, finite_kp(pa) ? pb->y : pa->y);
        double *q = g->pix + 4 * i;
        q[0] = pa->x, q[1] = pa->y, q[2] = pb->x, q[3] = pb->y;
        if (essential) {
            double *r = g->nrm + 4 * i;
            r[0] = (q[0] - intr->cx) / intr->fx, r[1] = (q[1] - intr->cy) / intr->fy;
            r[2] = (q[2] - intr->cx) / intr->fx, r[3] = (q[3] - intr->cy) / intr->fy;
        }
    }
    deja__geom_result res;
    memset(&res, 0, sizeof res);
    res.essential = essential;
    res.inlier_mask = n ? g->best_mask : NULL;
    if (n) memset(g->best_mask, 0, n);
    if (n < 8) {
        res.outcome = DEJA__GEOM_TOO_FEW_MATCHES;
        *out = res;
        return DEJA_OK;
    }
    double thr = CHI2_1DOF_95 * (double)g->p.sigma_px * (double)g->p.sigma_px;
    uint64_t rng = g->p.seed;
    for (size_t i = 0; i < n; i++)
        g->idx[i] = (uint32_t)i;
    uint32_t cap = g->p.max_iterations, needed = n == 8 ? 1 : cap, it;
    model best = {0, INFINITY, {0}, {0}};
    for (it = 0; it < needed; it++) {
        /* Partial Fisher-Yates: idx[0..8) becomes a uniform sample of 8 distinct matches; the
         * permutation carries over to the next draw, which is just as uniform. */
        for (uint32_t k = 0; k < 8; k++) {
            uint32_t j = k + below(&rng, (uint32_t)n - k), t = g->idx[k];
            g->idx[k] = g->idx[j], g->idx[j] = t;
        }
        double fp[9], cost;
        if (!deja__geom_fit8(g->pix, g->idx, 8, 0, fp)) continue;
        uint32_t c = score(fp, g->pix, n, thr, g->mask, &cost);
        /* Polish a new best, and also a sample with a third of the best's inliers: a clean but
         * noisy sample scores low (see refine) and may still lead to the right model. Samples
         * with outliers rarely get there, so this runs a few times per call. */
        int is_best = offer(g, n, &best, c, cost, fp, fp);
        if (is_best || (c >= 16 && 3 * (uint64_t)c >= best.count)) {
            uint32_t before = best.count;
            refine(g, n, thr, fp, &best);
            if (is_best || best.count > before) {
                uint32_t k = needed_samples(best.count, n, g->p.confidence, cap);
                if (k < needed) needed = k;
            }
        }
    }
    res.iterations = it;
    /* With intrinsics, E is fitted to the consensus of the F search (see fit_essential). */
    if (best.count == 0 || (essential && !fit_essential(g, n, thr, intr, &best))) {
        res.outcome = DEJA__GEOM_DEGENERATE;
        memset(g->best_mask, 0, n);
        *out = res;
        return DEJA_OK;
    }
    memcpy(res.F, best.f, sizeof best.f);
    if (essential) memcpy(res.E, best.m, sizeof best.m);
    res.n_inliers = best.count;
    res.outcome = best.count >= g->p.min_inliers ? DEJA__GEOM_OK : DEJA__GEOM_TOO_FEW_INLIERS;
    *out = res;
    return DEJA_OK;
}
