/* geom_solve.c - the small dense solvers of geometric verification (see geom.c for the method):
 * symmetric eigen-decomposition by cyclic Jacobi rotations, 3 x 3 SVD by one-sided Jacobi, and
 * the normalised 8-point algorithm (Hartley 1997) with rank-2 / essential projection. Pure
 * functions in double; no allocation. */
#include "geom.h"

#include <math.h>
#include <string.h>

void deja__geom_eigen_sym(double *a, int n, double *w, double *v)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            v[i * n + j] = i == j;
    /* Cyclic Jacobi: each rotation zeroes one off-diagonal pair; convergence is quadratic, so
     * a 9 x 9 needs 6-10 sweeps. 64 is a bound for pathological input, not an expected count. */
    for (int sweep = 0; sweep < 64; sweep++) {
        double off = 0.0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (off == 0.0 || !isfinite(off)) break;
        for (int p = 0; p < n; p++) {
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q], app = a[p * n + p], aqq = a[q * n + q];
                if (apq == 0.0) continue;
                /* After a few sweeps, an entry below both diagonals' last bit is set to 0: the
                 * rotation could not change them, and the loop would never see off == 0. */
                double small = 100.0 * fabs(apq);
                if (sweep > 3 && fabs(app) + small == fabs(app) && fabs(aqq) + small == fabs(aqq)) {
                    a[p * n + q] = a[q * n + p] = 0.0;
                    continue;
                }
                /* tan of the rotation angle: the smaller root of t^2 + 2 theta t - 1 = 0 */
                double theta = (aqq - app) / (2.0 * apq), t;
                if (fabs(theta) > 1e150)
                    t = 0.5 / theta;
                else
                    t = 1.0 / (fabs(theta) + sqrt(theta * theta + 1.0));
                if (theta < 0.0 && fabs(theta) <= 1e150) t = -t;
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int r = 0; r < n; r++) {
                    if (r == p || r == q) continue;
                    double arp = a[r * n + p], arq = a[r * n + q];
                    a[r * n + p] = a[p * n + r] = c * arp - s * arq;
                    a[r * n + q] = a[q * n + r] = s * arp + c * arq;
                }
                a[p * n + p] = app - t * apq;
                a[q * n + q] = aqq + t * apq;
                a[p * n + q] = a[q * n + p] = 0.0;
                for (int r = 0; r < n; r++) {
                    double vrp = v[r * n + p], vrq = v[r * n + q];
                    v[r * n + p] = c * vrp - s * vrq;
                    v[r * n + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    for (int i = 0; i < n; i++)
        w[i] = a[i * n + i];
    /* Selection sort, ascending, moving eigenvector columns along. */
    for (int i = 0; i < n; i++) {
        int m = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] < w[m]) m = j;
        if (m == i) continue;
        double tw = w[i];
        w[i] = w[m], w[m] = tw;
        for (int r = 0; r < n; r++) {
            double tv = v[r * n + i];
            v[r * n + i] = v[r * n + m], v[r * n + m] = tv;
        }
    }
}

static void cross3(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

double deja__geom_norm3(const double a[3])
{
    return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
}

void deja__geom_svd3(const double m[9], double u[9], double s[3], double v[9])
{
    double a[9];
    memcpy(a, m, sizeof a);
    for (int i = 0; i < 9; i++)
        v[i] = (i % 4) == 0;
    /* One-sided Jacobi (Hestenes 1958): rotate column pairs of a (and of v alongside) until all
     * columns are orthogonal; then a = U diag(s) and m = a V^T. Accurate for small singular
     * values, unlike the eigenvectors of m^T m. */
    for (int sweep = 0; sweep < 64; sweep++) {
        int rotated = 0;
        for (int i = 0; i < 2; i++) {
            for (int j = i + 1; j < 3; j++) {
                double al = 0, be = 0, ga = 0;
                for (int k = 0; k < 3; k++) {
                    al += a[k * 3 + i] * a[k * 3 + i];
                    be += a[k * 3 + j] * a[k * 3 + j];
                    ga += a[k * 3 + i] * a[k * 3 + j];
                }
                if (ga == 0.0 || fabs(ga) <= 1e-15 * sqrt(al * be) || !isfinite(ga)) continue;
                double zeta = (be - al) / (2.0 * ga), t;
                if (fabs(zeta) > 1e150)
                    t = 0.5 / zeta;
                else
                    t = (zeta < 0 ? -1.0 : 1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                double c = 1.0 / sqrt(1.0 + t * t), sn = c * t;
                for (int k = 0; k < 3; k++) {
                    double ai = a[k * 3 + i], aj = a[k * 3 + j];
                    a[k * 3 + i] = c * ai - sn * aj;
                    a[k * 3 + j] = sn * ai + c * aj;
                    double vi = v[k * 3 + i], vj = v[k * 3 + j];
                    v[k * 3 + i] = c * vi - sn * vj;
                    v[k * 3 + j] = sn * vi + c * vj;
                }
                rotated = 1;
            }
        }
        if (!rotated) break;
    }
    double col[3][3];
    for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 3; k++)
            col[j][k] = a[k * 3 + j];
        s[j] = deja__geom_norm3(col[j]);
    }
    /* Sort descending, permuting the columns of a and v together. */
    int ord[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (s[ord[j]] > s[ord[i]]) {
                int t = ord[i];
                ord[i] = ord[j], ord[j] = t;
            }
    double vs[9], ss[3], uc[3][3];
    for (int j = 0; j < 3; j++) {
        ss[j] = s[ord[j]];
        for (int k = 0; k < 3; k++)
            vs[k * 3 + j] = v[k * 3 + ord[j]];
    }
    memcpy(v, vs, sizeof vs);
    memcpy(s, ss, sizeof ss);
    /* U's columns are a's normalised. A (near-)zero singular value leaves its column undefined:
     * complete an orthonormal basis from the ones before (cross product, or the axis least
     * aligned with u0 when two are missing). */
    double tiny = s[0] * 1e-14;
    for (int j = 0; j < 3; j++) {
        const double *cj = col[ord[j]];
        if (s[j] > tiny && s[j] > 0.0) {
            for (int k = 0; k < 3; k++)
                uc[j][k] = cj[k] / s[j];
        } else if (j == 2) {
            cross3(uc[0], uc[1], uc[2]);
        } else if (j == 1) {
            int ax = 0;
            for (int k = 1; k < 3; k++)
                if (fabs(uc[0][k]) < fabs(uc[0][ax])) ax = k;
            double e[3] = {0, 0, 0}, c[3];
            e[ax] = 1.0;
            cross3(uc[0], e, c);
            double nc = deja__geom_norm3(c);
            for (int k = 0; k < 3; k++)
                uc[1][k] = c[k] / nc;
        } else { /* m == 0 */
            uc[0][0] = 1.0, uc[0][1] = 0.0, uc[0][2] = 0.0;
        }
    }
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++)
            u[k * 3 + j] = uc[j][k];
}

void deja__geom_mul3(const double a[9], const double b[9], double out[9])
{
    double r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    memcpy(out, r, sizeof r);
}

void deja__geom_transpose3(const double a[9], double out[9])
{
    double r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[i * 3 + j] = a[j * 3 + i];
    memcpy(out, r, sizeof r);
}

/* Unit Frobenius norm, largest-magnitude entry positive: one representative per projective
 * class, so that results compare entry by entry. Returns 0 for a zero or non-finite matrix. */
int deja__geom_canonical(double f[9], double target_norm)
{
    double ss = 0.0;
    int big = 0;
    for (int i = 0; i < 9; i++) {
        ss += f[i] * f[i];
        if (fabs(f[i]) > fabs(f[big])) big = i;
    }
    if (!(ss > 0.0) || !isfinite(ss)) return 0;
    double k = target_norm / sqrt(ss);
    if (f[big] < 0) k = -k;
    for (int i = 0; i < 9; i++)
        f[i] *= k;
    return 1;
}

/* Hartley's normalising similarity for one image of the subset: centroid to the origin, mean
 * distance sqrt(2). off is 0 for image A's columns of pts, 2 for B's. */
static int hartley(const double *pts, const uint32_t *idx, size_t n, int off, double t[9])
{
    double cx = 0.0, cy = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *q = pts + 4 * (size_t)idx[i] + off;
        cx += q[0], cy += q[1];
    }
    cx /= (double)n, cy /= (double)n;
    double md = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *q = pts + 4 * (size_t)idx[i] + off;
        md += sqrt((q[0] - cx) * (q[0] - cx) + (q[1] - cy) * (q[1] - cy));
    }
    md /= (double)n;
    /* Coincident points (spread at rounding level of the coordinates) cannot be normalised. */
    if (!(md > 1e-9 * (fabs(cx) + fabs(cy) + 1e-3)) || !isfinite(md)) return 0;
    double s = sqrt(2.0) / md;
    double m[9] = {s, 0, -s * cx, 0, s, -s * cy, 0, 0, 1};
    memcpy(t, m, sizeof m);
    return 1;
}

/* Second eigenvalue of A^T A below this fraction of the largest: the null space is at least
 * two-dimensional (singular value ratio 1e-5), so the sample fixes no unique F. Exact data from
 * float keypoints stays far below (~1e-14, rounding); well-spread samples far above (~1e-4). */
#define DEGENERATE_EIG_RATIO 1e-10
/* F or E whose second singular value is this small relative to the first is rank 1. */
#define RANK1_RATIO 1e-9

/* Row of the linear system for one correspondence in normalised coordinates:
 * x_b^T F x_a = 0 is r . f = 0 with f = F row-major. */
static void design_row(const double *q, const double ta[9], const double tb[9], double r[9])
{
    double xa = ta[0] * q[0] + ta[2], ya = ta[4] * q[1] + ta[5];
    double xb = tb[0] * q[2] + tb[2], yb = tb[4] * q[3] + tb[5];
    r[0] = xb * xa, r[1] = xb * ya, r[2] = xb;
    r[3] = yb * xa, r[4] = yb * ya, r[5] = yb;
    r[6] = xa, r[7] = ya, r[8] = 1.0;
}

/* n > 8: the least-squares f is the eigenvector of A^T A for its smallest eigenvalue. */
static int least_squares(const double *pts, const uint32_t *idx, size_t n, const double ta[9],
                         const double tb[9], double f[9])
{
    double ata[81] = {0}, r[9];
    for (size_t i = 0; i < n; i++) {
        design_row(pts + 4 * (size_t)idx[i], ta, tb, r);
        for (int j = 0; j < 9; j++) /* upper triangle */
            for (int k = j; k < 9; k++)
                ata[j * 9 + k] += r[j] * r[k];
    }
    for (int j = 0; j < 9; j++)
        for (int k = 0; k < j; k++)
            ata[j * 9 + k] = ata[k * 9 + j];
    double w[9], v[81];
    deja__geom_eigen_sym(ata, 9, w, v);
    if (!isfinite(w[8]) || !(w[8] > 0.0) || w[1] <= DEGENERATE_EIG_RATIO * w[8]) return 0;
    for (int j = 0; j < 9; j++)
        f[j] = v[j * 9]; /* column 0: the smallest eigenvalue's vector */
    return 1;
}

/* n = 8 (every RANSAC sample): the 8 x 9 system has an exact null vector, the same as the
 * eigenvector above for eigenvalue 0, found ~50 times faster by Gaussian elimination with full
 * pivoting (Jacobi on A^T A took 70 % of a RANSAC run). A last pivot below 1e-5 of the first
 * means rank < 8: the same degeneracy test as the eigenvalue ratio (1e-10 = (1e-5)^2). */
#define DEGENERATE_PIVOT_RATIO 1e-5
static int null8(const double *pts, const uint32_t *idx, const double ta[9], const double tb[9],
                 double f[9])
{
    double a[8][9];
    int col[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    for (int i = 0; i < 8; i++)
        design_row(pts + 4 * (size_t)idx[i], ta, tb, a[i]);
    double first = 0.0;
    for (int k = 0; k < 8; k++) {
        int pr = k, pc = k;
        for (int i = k; i < 8; i++)
            for (int j = k; j < 9; j++)
                if (fabs(a[i][col[j]]) > fabs(a[pr][col[pc]])) pr = i, pc = j;
        double piv = a[pr][col[pc]];
        if (k == 0) first = fabs(piv);
        if (!(fabs(piv) > DEGENERATE_PIVOT_RATIO * first)) return 0; /* also NaN */
        if (pr != k)
            for (int j = 0; j < 9; j++) {
                double t = a[k][j];
                a[k][j] = a[pr][j], a[pr][j] = t;
            }
        int t = col[k];
        col[k] = col[pc], col[pc] = t;
        for (int i = k + 1; i < 8; i++) {
            double m = a[i][col[k]] / piv;
            for (int j = k; j < 9; j++)
                a[i][col[j]] -= m * a[k][col[j]];
        }
    }
    /* Free variable: the column left last, set to 1; back-substitute the pivots. */
    double x[9];
    x[col[8]] = 1.0;
    for (int k = 7; k >= 0; k--) {
        double sum = 0.0;
        for (int j = k + 1; j < 9; j++)
            sum += a[k][col[j]] * x[col[j]];
        x[col[k]] = -sum / a[k][col[k]];
    }
    double nx = 0.0;
    for (int j = 0; j < 9; j++)
        nx += x[j] * x[j];
    nx = sqrt(nx);
    for (int j = 0; j < 9; j++)
        f[j] = x[j] / nx;
    return isfinite(nx);
}

int deja__geom_fit8(const double *pts, const uint32_t *idx, size_t n, int essential, double f[9])
{
    if (n < 8) return 0;
    double ta[9], tb[9];
    if (!hartley(pts, idx, n, 0, ta) || !hartley(pts, idx, n, 2, tb)) return 0;
    double fh[9];
    if (n == 8 ? !null8(pts, idx, ta, tb, fh) : !least_squares(pts, idx, n, ta, tb, fh)) return 0;
    double u[9], s[3], vv[9], tbt[9];
    deja__geom_transpose3(tb, tbt);
    if (!essential) {
        /* Rank 2 in normalised coordinates (as Hartley), then F = T_b^T F' T_a. */
        deja__geom_svd3(fh, u, s, vv);
        if (!(s[1] > RANK1_RATIO * s[0])) return 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                fh[i * 3 + j] = s[0] * u[i * 3] * vv[j * 3] + s[1] * u[i * 3 + 1] * vv[j * 3 + 1];
        deja__geom_mul3(tbt, fh, fh);
        deja__geom_mul3(fh, ta, f);
        return deja__geom_canonical(f, 1.0);
    }
    /* Essential: denormalise first (the essential constraint holds in K^-1 x, not in Hartley's
     * frame), then project onto singular values (1, 1, 0). */
    deja__geom_mul3(tbt, fh, fh);
    deja__geom_mul3(fh, ta, fh);
    deja__geom_svd3(fh, u, s, vv);
    if (!(s[1] > RANK1_RATIO * s[0])) return 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            f[i * 3 + j] = u[i * 3] * vv[j * 3] + u[i * 3 + 1] * vv[j * 3 + 1];
    return deja__geom_canonical(f, sqrt(2.0));
}
