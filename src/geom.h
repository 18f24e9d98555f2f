/* geom.h - feature matching through the direct index, and two-view geometric verification
 * (fundamental / essential matrix by the normalised 8-point algorithm inside RANSAC).
 *
 * Internal. One handle per thread: it owns every buffer (grown with deja__reserve, so once the
 * largest frame pair has been seen a call allocates nothing) and the message of its last error.
 * See docs/geom.md for the parameters, their defaults and the measurements. */
#ifndef DEJA_GEOM_H
#define DEJA_GEOM_H

#include "base.h"
#include "simd.h"

typedef struct deja__geom_params {
    /* matching (DBoW2 / ORB-SLAM SearchByBoW) */
    float ratio;            /* best < ratio * second best; default 0.8 */
    uint32_t max_hamming;   /* binary: accept best <= this many bits; default 64 */
    float max_l2;           /* float: accept L2 distance (not squared) <= this; default 0.7 */
    int rotation_check;     /* -1 auto (on for binary, off for float), 0 off, 1 on; default -1 */
    uint32_t rotation_bins; /* angle-difference histogram bins; default 30 (12 degrees) */
    /* verification (RANSAC over the 8-point algorithm) */
    float sigma_px;          /* keypoint noise; inlier if Sampson error < 3.84 sigma^2; default 1 */
    float confidence;        /* stop once P(an all-inlier sample was drawn) >= this; default 0.99 */
    uint32_t max_iterations; /* samples drawn at most; default 500 */
    uint32_t min_inliers;    /* outcome OK needs this many; default 20 */
    uint64_t seed;           /* sampling PRNG, reset at every verify call; default 1 */
} deja__geom_params;

deja__geom_params deja__geom_params_default(void);

/* A correspondence: feature ia of frame A with feature ib of frame B. distance is Hamming bits
 * (binary) or L2 (float; not squared). */
typedef struct deja__match {
    uint32_t ia, ib;
    float distance;
} deja__match;

/* Pinhole intrinsics of the camera that took both frames (pixels). */
typedef struct deja__geom_intrinsics {
    double fx, fy, cx, cy;
} deja__geom_intrinsics;

typedef enum deja__geom_outcome {
    DEJA__GEOM_OK = 0,          /* a model with >= min_inliers inliers */
    DEJA__GEOM_TOO_FEW_MATCHES, /* fewer than 8 matches: no model can be fitted */
    DEJA__GEOM_DEGENERATE,      /* every sample drawn was degenerate (coincident, collinear,
                                   exactly planar points): no model */
    DEJA__GEOM_TOO_FEW_INLIERS  /* the best model has < min_inliers inliers (reported anyway) */
} deja__geom_outcome;

typedef struct deja__geom_result {
    deja__geom_outcome outcome;
    int essential; /* 1 if intrinsics were given and E is set */
    /* x_b^T F x_a = 0 for pixel coordinates x = (x, y, 1); unit Frobenius norm, largest-magnitude
     * entry positive; rank 2. All zeros when there is no model. Row-major. */
    double F[9];
    /* With intrinsics: y_b^T E y_a = 0 for y = K^-1 x; singular values (1, 1, 0), same sign
     * rule. F = K^-T E K^-1 (rescaled). Zeros otherwise. Row-major. */
    double E[9];
    uint32_t n_inliers;
    uint32_t iterations; /* samples drawn, degenerate ones included */
    /* One byte per match, 1 = inlier; points into the handle until its next call; NULL if n = 0. */
    const uint8_t *inlier_mask;
} deja__geom_result;

typedef struct deja__geom deja__geom;

/* o gives the allocator and the kernel set (o->simd); p NULL = defaults. Out-of-range parameters
 * are DEJA_INVALID_ARG. The message of a failed create is in deja_last_error(). */
deja_status deja__geom_create(const deja_options *o, const deja__geom_params *p, deja__geom **out);
void deja__geom_destroy(deja__geom *g); /* NULL ok */
const char *deja__geom_error(const deja__geom *g);
/* Size every buffer for frames of up to n features (so that matching and verifying such frames
 * never allocates). */
deja_status deja__geom_reserve(deja__geom *g, size_t n, uint32_t desc_bytes, int essential);

/* Match frame A against frame B through their direct indices (same vocabulary and level): for
 * every node present in both, each feature of A under it takes its nearest feature of B under
 * the same node if it passes the absolute and ratio thresholds; then matches are made one-to-one
 * (nearest first), then, if on, filtered by rotation consistency. *out (ascending ia) points into
 * the handle until its next call. Bad input (kinds differ, a feature index >= n, node ids not
 * ascending, offsets decreasing, keypoints missing for the rotation check) is DEJA_INVALID_ARG. */
deja_status deja__geom_match(deja__geom *g, const deja_features *a, const deja_direct_index *da,
                             const deja_features *b, const deja_direct_index *db,
                             const deja__match **out, size_t *n_out);

/* Verify matches between keypoints ka[0..na) and kb[0..nb): RANSAC over the normalised 8-point
 * algorithm, Sampson error, adaptive stopping, local optimisation of good models. intr NULL fits
 * F; otherwise E as well, fitted to F's consensus and refined (then F, mask and count are E's).
 * Deterministic for a given seed. A geometric failure (too few matches, degenerate samples, too
 * few inliers) is DEJA_OK with the outcome saying so; bad input (an index out of range,
 * non-finite coordinates or intrinsics) is DEJA_INVALID_ARG. */
deja_status deja__geom_verify(deja__geom *g, const deja_keypoint *ka, size_t na,
                              const deja_keypoint *kb, size_t nb, const deja__match *m, size_t n,
                              const deja__geom_intrinsics *intr, deja__geom_result *out);

/* The solvers, exposed for tests. */
/* Eigen-decomposition of the symmetric n x n matrix a (row-major, n <= 9; destroyed) by cyclic
 * Jacobi rotations: eigenvalues ascending in w, eigenvector j in column j of v (row-major). */
void deja__geom_eigen_sym(double *a, int n, double *w, double *v);
/* SVD of a 3 x 3 matrix m = U diag(s) V^T by one-sided Jacobi: s descending, >= 0; u and v
 * orthonormal, row-major, singular vectors in columns. */
void deja__geom_svd3(const double m[9], double u[9], double s[3], double v[9]);
/* Normalised 8-point algorithm on n >= 8 correspondences (x_a, y_a, x_b, y_b) in pts[4 i..]:
 * writes F (x_b^T F x_a = 0, rank 2; rank-2 then (1, 1, 0) if essential). Returns 0 for a
 * degenerate set (coincident, collinear, exactly planar, non-finite). */
int deja__geom_fit8(const double *pts, const uint32_t *idx, size_t n, int essential, double f[9]);
/* 3 x 3 helpers (row-major; out may alias an input). */
void deja__geom_mul3(const double a[9], const double b[9], double out[9]);
void deja__geom_transpose3(const double a[9], double out[9]);
double deja__geom_norm3(const double a[3]);
/* Scale f to Frobenius norm target_norm with its largest-magnitude entry positive (one
 * representative per projective class); 0 for a zero or non-finite matrix. */
int deja__geom_canonical(double f[9], double target_norm);

#endif
