/* seq_pose.c - pose arithmetic of the sequence readers: unit quaternions (Hamilton, x y z w) to
 * rotation matrices, slerp (Shoemake 1985), rigid-transform composition, and ground-truth
 * interpolation at image times as TUM's and EuRoC's tools do it: linear in position, slerp in
 * rotation, between the two samples that bracket the time. */
#include "seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int deja__quat_normalise(double q[4])
{
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (!(n >= 1e-6) || !isfinite(n)) return 0;
    for (int i = 0; i < 4; i++)
        q[i] /= n;
    return 1;
}

void deja__quat_to_r(const double q[4], double r[9])
{
    double x = q[0], y = q[1], z = q[2], w = q[3];
    r[0] = 1 - 2 * (y * y + z * z), r[1] = 2 * (x * y - z * w), r[2] = 2 * (x * z + y * w);
    r[3] = 2 * (x * y + z * w), r[4] = 1 - 2 * (x * x + z * z), r[5] = 2 * (y * z - x * w);
    r[6] = 2 * (x * z - y * w), r[7] = 2 * (y * z + x * w), r[8] = 1 - 2 * (x * x + y * y);
}

void deja__quat_slerp(const double a[4], const double b[4], double u, double out[4])
{
    double d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3], sb = 1;
    if (d < 0) d = -d, sb = -1; /* q and -q are one rotation: take the shorter arc */
    double wa = 1 - u, wb = u;
    if (d < 0.9995) { /* else nearly equal: lerp is exact enough and avoids 0/0 */
        double th = acos(d), s = sin(th);
        wa = sin((1 - u) * th) / s;
        wb = sin(u * th) / s;
    }
    for (int i = 0; i < 4; i++)
        out[i] = wa * a[i] + sb * wb * b[i];
    deja__quat_normalise(out);
}

void deja__pose_from_pq(const double p[3], const double q[4], double pose[12])
{
    double r[9];
    deja__quat_to_r(q, r);
    for (int i = 0; i < 3; i++) {
        pose[4 * i] = r[3 * i], pose[4 * i + 1] = r[3 * i + 1], pose[4 * i + 2] = r[3 * i + 2];
        pose[4 * i + 3] = p[i];
    }
}

void deja__pose_compose(const double a[12], const double b[12], double out[12])
{
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = a[4 * i] * b[j] + a[4 * i + 1] * b[4 + j] + a[4 * i + 2] * b[8 + j];
        out[4 * i + 3] += a[4 * i + 3];
    }
}

double deja__rotation_error(const double p[12])
{
    double worst = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double d = p[i] * p[j] + p[4 + i] * p[4 + j] + p[8 + i] * p[8 + j] - (i == j);
            worst = fmax(worst, fabs(d));
        }
    return isfinite(worst) ? worst : INFINITY;
}

static int cmp_sample(const void *a, const void *b)
{
    const deja__pose_sample *x = a, *y = b;
    if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
    return (x->line > y->line) - (x->line < y->line);
}

deja_status deja__pose_samples_sort(deja__pose_sample *s, size_t n, const char *file, char *err)
{
    if (n < 2) return DEJA_OK;
    qsort(s, n, sizeof *s, cmp_sample);
    for (size_t i = 1; i < n; i++)
        if (s[i].t == s[i - 1].t)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: lines %u and %u have the same time %.9f s", file,
                            s[i - 1].line, s[i].line, s[i].t);
    return DEJA_OK;
}

uint32_t deja__pose_interpolate(const deja__pose_sample *s, size_t n_s, const double *times,
                                uint32_t n, double max_gap_s, double *poses, uint8_t *has_pose)
{
    uint32_t n_posed = 0;
    size_t j = 0; /* image times mostly ascend: move on from the last bracket */
    for (uint32_t i = 0; i < n; i++) {
        double t = times[i], *pose = poses + (size_t)i * 12;
        memset(pose, 0, 12 * sizeof *pose);
        has_pose[i] = 0;
        if (j > 0 && j <= n_s && s[j - 1].t > t) j = 0;
        while (j < n_s && s[j].t < t)
            j++;
        /* s[j] is the first sample at or after t */
        if (j < n_s && s[j].t == t) {
            deja__pose_from_pq(s[j].p, s[j].q, pose);
        } else {
            if (j == 0 || j == n_s || s[j].t - s[j - 1].t > max_gap_s) continue;
            const deja__pose_sample *a = &s[j - 1], *b = &s[j];
            double u = (t - a->t) / (b->t - a->t), p[3], q[4];
            for (int k = 0; k < 3; k++)
                p[k] = a->p[k] + u * (b->p[k] - a->p[k]);
            deja__quat_slerp(a->q, b->q, u, q);
            deja__pose_from_pq(p, q, pose);
        }
        has_pose[i] = 1;
        n_posed++;
    }
    return n_posed;
}
