/* seq_formats.c - readers of public dataset layouts: KITTI odometry, TUM RGB-D, EuRoC MAV.
 *
 * KITTI (Geiger et al. 2012): sequences/NN/image_0/NNNNNN.png, times.txt (seconds, one a line) and
 * poses/NN.txt (12 numbers a line: the 3x4 camera-to-world pose of the left camera), also taken
 * from poses.txt inside the sequence folder.
 * TUM RGB-D (Sturm et al. 2012): rgb.txt "timestamp filename", groundtruth.txt "timestamp tx ty
 * tz qx qy qz qw" at ~100 Hz, any order.
 * EuRoC (Burri et al. 2016): mav0/cam0/data.csv "timestamp_ns,filename", images in
 * mav0/cam0/data/, body poses in mav0/state_groundtruth_estimate0/data.csv "timestamp_ns, px,
 * py, pz, qw, qx, qy, qz, ..." (w first), the camera's extrinsics T_BS in mav0/cam0/sensor.yaml.
 * TUM and EuRoC poses are interpolated at the image times (seq_pose.c); frames outside the
 * ground truth's span get none, and fewer than half the frames with a pose is an error. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "seq.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A growing array of doubles (times) or of pose samples. */
typedef struct {
    void *v;
    size_t n, cap;
} vec;

static int vec_push(const deja_allocator *a, vec *v, const void *x, size_t elem)
{
    if (!deja__reserve(a, &v->v, &v->cap, v->n + 1, elem)) return 0;
    memcpy((char *)v->v + v->n * elem, x, elem);
    v->n++;
    return 1;
}

static void vec_free(const deja_allocator *a, vec *v, size_t elem)
{
    deja__free(a, v->v, v->cap * elem);
    memset(v, 0, sizeof *v);
}

/* Split a line into at most max fields at sep (',' for CSV, 0 for blanks), fields trimmed of
 * blanks; returns the number of fields (more than max: max + 1). */
static int split(const char *s, const char *e, char sep, const char **tb, const char **te, int max)
{
    int n = 0;
    if (!sep) {
        const char *b, *end;
        while (deja__token(&s, e, &b, &end)) {
            if (n == max) return max + 1;
            tb[n] = b, te[n] = end, n++;
        }
        return n;
    }
    for (;;) {
        const char *c = memchr(s, sep, (size_t)(e - s)), *f = c ? c : e;
        if (n == max) return max + 1;
        const char *b = deja__skip_blank(s, f), *end = f;
        while (end > b && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        tb[n] = b, te[n] = end, n++;
        if (!c) return n;
        s = c + 1;
    }
}

/* Nanoseconds (digits only) to seconds. */
static int parse_ns(const char *s, const char *e, double *t)
{
    uint64_t ns;
    if (!deja__parse_u64(s, e, UINT64_MAX, &ns)) return 0;
    *t = (double)(ns / 1000000000u) + (double)(ns % 1000000000u) * 1e-9;
    return 1;
}

static deja_status need_half(const deja__sequence *s, const char *gt_file, char *err)
{
    if ((uint64_t)s->n_posed * 2 >= s->n) return DEJA_OK;
    return DEJA_ERR(err, DEJA_FORMAT,
                    "%s: only %u of %u images lie within the ground truth's "
                    "time span (gaps up to %g s)",
                    gt_file, s->n_posed, s->n, DEJA__SEQ_MAX_GT_GAP_S);
}

/* ---- KITTI ------------------------------------------------------------------------------- */

static deja_status kitti_poses(deja__sequence *s, const char *file, char *err)
{
    char *text;
    size_t len;
    deja_status st = deja__text_read(&s->alloc, file, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    if ((st = deja__seq_alloc_poses(s, err)) != DEJA_OK) goto done;
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[12], *te[12];
    char q[32];
    uint32_t k = 0;
    while (deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        int nf = split(ls, le, 0, tb, te, 12);
        if (nf != 12) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: %s12 numbers expected (3x4 pose)", file,
                          it.line, nf > 12 ? "more than " : "fewer than ");
            goto done;
        }
        if (k >= s->n) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: more poses than the %u images", file, it.line,
                          s->n);
            goto done;
        }
        double *p = s->poses + (size_t)k * 12;
        for (int f = 0; f < 12; f++)
            if (!deja__parse_f64(tb[f], te[f], &p[f]) ||
                (f % 4 == 3 && fabs(p[f]) > DEJA__POSE_MAX_M)) {
                st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field %d ('%s'): not a number in range",
                              file, it.line, f + 1, deja__quote(tb[f], te[f], q));
                goto done;
            }
        if (deja__rotation_error(p) > 1e-2) {
            st = DEJA_ERR(err, DEJA_FORMAT,
                          "%s:%u: the 3x3 part is not a rotation (|R^T R - I| "
                          "= %g)",
                          file, it.line, deja__rotation_error(p));
            goto done;
        }
        s->has_pose[k++] = 1;
    }
    if (k != s->n) st = DEJA_ERR(err, DEJA_FORMAT, "%s: %u poses for %u images", file, k, s->n);
    s->n_posed = k;
done:
    deja__free(&s->alloc, text, len + 1);
    return st;
}

deja_status deja__seq_read_kitti(deja__sequence *s, const char *path, char *err)
{
    char file[PATH_MAX], images[PATH_MAX], q[32];
    char *text;
    size_t len;
    vec times = {0};
    deja__seq_builder b = {.a = s->alloc};
    deja__path_join(file, sizeof file, path, "times.txt");
    deja_status st = deja__text_read(&s->alloc, file, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[2], *te[2];
    while (deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        double t;
        if (split(ls, le, 0, tb, te, 1) != 1 || !deja__parse_f64(tb[0], te[0], &t) || t < 0) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: expected one time in seconds >= 0, got '%s'",
                          file, it.line, deja__quote(ls, le, q));
            goto done;
        }
        if (times.n && t < ((double *)times.v)[times.n - 1]) {
            st = DEJA_ERR(err, DEJA_FORMAT,
                          "%s:%u: time %.9g s is earlier than the line "
                          "before",
                          file, it.line, t);
            goto done;
        }
        if (!vec_push(&s->alloc, &times, &t, sizeof t)) {
            st = DEJA_ERR(err, DEJA_NOMEM, "%s:%u: no memory", file, it.line);
            goto done;
        }
    }
    deja__path_join(images, sizeof images, path, "image_0");
    if (!deja__is_dir(images)) deja__path_join(images, sizeof images, path, "image_2");
    if ((st = deja__seq_add_folder(&b, images, err)) != DEJA_OK) goto done;
    if (b.n != times.n) {
        st = DEJA_ERR(err, DEJA_FORMAT, "%s: %u images, but %s has %zu times", images, b.n, file,
                      times.n);
        goto done;
    }
    if ((st = deja__seq_finish(&b, s, path, err)) != DEJA_OK) goto done;
    memcpy(s->timestamps, times.v, s->n * sizeof *s->timestamps);
    s->has_timestamps = 1;
    /* poses.txt beside the images, else KITTI's dataset/poses/NN.txt */
    char poses[PATH_MAX], rel[PATH_MAX];
    deja__path_join(poses, sizeof poses, path, "poses.txt");
    if (!deja__is_file(poses)) {
        snprintf(rel, sizeof rel, "../../poses/%s.txt", s->name);
        if (!deja__path_join(poses, sizeof poses, path, rel)) poses[0] = '\0';
    }
    if (deja__is_file(poses)) st = kitti_poses(s, poses, err);
done:
    deja__free(&s->alloc, text, len + 1);
    vec_free(&s->alloc, &times, sizeof(double));
    deja__seq_builder_free(&b);
    return st;
}

/* ---- TUM RGB-D --------------------------------------------------------------------------- */

/* Ground-truth samples of a TUM groundtruth.txt (w last) or an EuRoC CSV (w first). */
static deja_status read_samples(const deja_allocator *a, const char *file, const char *text,
                                size_t len, int euroc, vec *out, char *err)
{
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[32], *te[32];
    char q[32];
    while (deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        int nf = split(ls, le, euroc ? ',' : 0, tb, te, 31);
        if (euroc ? nf < 8 || nf > 31 : nf != 8)
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: %d fields, expected %s", file, it.line, nf,
                            euroc ? "timestamp_ns,px,py,pz,qw,qx,qy,qz[,...]"
                                  : "8: timestamp tx ty tz qx qy qz qw");
        deja__pose_sample smp = {.line = it.line};
        double v[32];
        for (int f = 0; f < nf; f++) {
            int ok = f == 0 && euroc ? parse_ns(tb[f], te[f], &v[f])
                                     : deja__parse_f64(tb[f], te[f], &v[f]);
            if (!ok || (f == 0 && v[f] < 0) || (f >= 1 && f <= 3 && fabs(v[f]) > DEJA__POSE_MAX_M))
                return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field %d ('%s'): not a number in range",
                                file, it.line, f + 1, deja__quote(tb[f], te[f], q));
        }
        smp.t = v[0];
        memcpy(smp.p, v + 1, sizeof smp.p);
        if (euroc)
            smp.q[0] = v[5], smp.q[1] = v[6], smp.q[2] = v[7], smp.q[3] = v[4];
        else
            memcpy(smp.q, v + 4, sizeof smp.q);
        if (!deja__quat_normalise(smp.q))
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: quaternion (fields 5-8) has norm ~0", file,
                            it.line);
        if (!vec_push(a, out, &smp, sizeof smp))
            return DEJA_ERR(err, DEJA_NOMEM, "%s:%u: no memory", file, it.line);
    }
    return deja__pose_samples_sort(out->v, out->n, file, err);
}

/* Interpolate samples of file (read already) at the frame times; post (if not NULL) is applied
 * on the right of every pose (the camera's extrinsics). */
static deja_status interpolate_file(deja__sequence *s, const char *file, const char *text,
                                    size_t len, int euroc, const double *post, char *err)
{
    vec smp = {0};
    deja_status st = read_samples(&s->alloc, file, text, len, euroc, &smp, err);
    if (st == DEJA_OK) st = deja__seq_alloc_poses(s, err);
    if (st == DEJA_OK) {
        s->n_posed = deja__pose_interpolate(smp.v, smp.n, s->timestamps, s->n,
                                            DEJA__SEQ_MAX_GT_GAP_S, s->poses, s->has_pose);
        for (uint32_t i = 0; post && i < s->n; i++) {
            double body[12];
            if (!s->has_pose[i]) continue;
            memcpy(body, s->poses + (size_t)i * 12, sizeof body);
            deja__pose_compose(body, post, s->poses + (size_t)i * 12);
        }
        st = need_half(s, file, err);
    }
    vec_free(&s->alloc, &smp, sizeof(deja__pose_sample));
    return st;
}

deja_status deja__seq_read_tum(deja__sequence *s, const char *path, char *err)
{
    char file[PATH_MAX], q[32];
    char *text;
    size_t len;
    deja__path_join(file, sizeof file, path, "rgb.txt");
    deja_status st = deja__text_read(&s->alloc, file, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    deja__seq_builder b = {.a = s->alloc};
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[2], *te[2];
    while (st == DEJA_OK && deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        double t;
        if (split(ls, le, 0, tb, te, 2) != 2 || !deja__parse_f64(tb[0], te[0], &t) || t < 0) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: expected 'timestamp filename', got '%s'", file,
                          it.line, deja__quote(ls, le, q));
            break;
        }
        st = deja__seq_add(&b, path, tb[1], (size_t)(te[1] - tb[1]), t, 1, file, it.line, err);
    }
    deja__free(&s->alloc, text, len + 1);
    if (st != DEJA_OK) {
        deja__seq_builder_free(&b);
        return st;
    }
    if ((st = deja__seq_finish(&b, s, path, err)) != DEJA_OK) return st;
    s->has_timestamps = 1;
    if ((st = deja__seq_read_text(&s->alloc, path, "groundtruth.txt", 1, &text, &len, err)) !=
            DEJA_OK ||
        !text)
        return st;
    deja__path_join(file, sizeof file, path, "groundtruth.txt");
    st = interpolate_file(s, file, text, len, 0, NULL, err);
    deja__free(&s->alloc, text, len + 1);
    return st;
}

/* ---- EuRoC ------------------------------------------------------------------------------- */

/* T_BS of a Kalibr / EuRoC sensor.yaml: "T_BS:" then "data: [16 numbers]" over several lines. */
static deja_status euroc_extrinsics(const char *file, const char *text, size_t len, double t[12],
                                    char *err)
{
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *p = NULL;
    int in_tbs = 0;
    while (!p && deja__lines_next(&it, &ls, &le)) {
        const char *b = deja__skip_blank(ls, le);
        if ((size_t)(le - b) >= 5 && memcmp(b, "T_BS:", 5) == 0)
            in_tbs = 1;
        else if (in_tbs && (size_t)(le - b) >= 5 && memcmp(b, "data:", 5) == 0)
            p = b + 5;
    }
    if (!p) return DEJA_ERR(err, DEJA_FORMAT, "%s: no 'T_BS:' with 'data: [...]'", file);
    p = deja__skip_blank(p, le);
    if (p == le || *p != '[')
        return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: T_BS data does not start with '['", file,
                        it.line);
    p++;
    double m[16];
    int k = 0;
    char q[32];
    for (;;) { /* numbers separated by commas and blanks, possibly over lines, up to ']' */
        while (p < le && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == le) {
            if (!deja__lines_next(&it, &ls, &le))
                return DEJA_ERR(err, DEJA_FORMAT, "%s: T_BS data has no closing ']'", file);
            p = ls;
            continue;
        }
        if (*p == ']') break;
        const char *e = p;
        while (e < le && *e != ',' && *e != ']' && *e != ' ' && *e != '\t')
            e++;
        if (k == 16 || !deja__parse_f64(p, e, &m[k]))
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: T_BS value %d ('%s'): %s", file, it.line,
                            k + 1, deja__quote(p, e, q), k == 16 ? "more than 16" : "not a number");
        k++;
        p = e;
    }
    if (k != 16)
        return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: T_BS has %d values, expected 16", file, it.line,
                        k);
    memcpy(t, m, 12 * sizeof *t);
    if (fabs(m[12]) + fabs(m[13]) + fabs(m[14]) + fabs(m[15] - 1) > 1e-6 ||
        deja__rotation_error(t) > 1e-2)
        return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: T_BS is not a rigid transform", file, it.line);
    return DEJA_OK;
}

deja_status deja__seq_read_euroc(deja__sequence *s, const char *path, char *err)
{
    char root[PATH_MAX], file[PATH_MAX], images[PATH_MAX], q[32];
    if (!deja__path_join(root, sizeof root, path, "mav0"))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: path too long", path);
    deja__path_join(file, sizeof file, root, "cam0/data.csv");
    if (!deja__is_file(file)) snprintf(root, sizeof root, "%s", path); /* path is mav0 itself */
    deja__path_join(file, sizeof file, root, "cam0/data.csv");
    deja__path_join(images, sizeof images, root, "cam0/data");
    char *text;
    size_t len;
    deja_status st = deja__text_read(&s->alloc, file, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    deja__seq_builder b = {.a = s->alloc};
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[3], *te[3];
    while (st == DEJA_OK && deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        double t;
        if (split(ls, le, ',', tb, te, 2) != 2 || !parse_ns(tb[0], te[0], &t)) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: expected 'timestamp_ns,filename', got '%s'",
                          file, it.line, deja__quote(ls, le, q));
            break;
        }
        st = deja__seq_add(&b, images, tb[1], (size_t)(te[1] - tb[1]), t, 1, file, it.line, err);
    }
    deja__free(&s->alloc, text, len + 1);
    if (st != DEJA_OK) {
        deja__seq_builder_free(&b);
        return st;
    }
    if ((st = deja__seq_finish(&b, s, path, err)) != DEJA_OK) return st;
    s->has_timestamps = 1;
    /* camera extrinsics: without sensor.yaml the body pose stands for the camera's */
    double tbs[12], *post = NULL;
    if ((st = deja__seq_read_text(&s->alloc, root, "cam0/sensor.yaml", 1, &text, &len, err)) !=
        DEJA_OK)
        return st;
    if (text) {
        deja__path_join(file, sizeof file, root, "cam0/sensor.yaml");
        st = euroc_extrinsics(file, text, len, tbs, err);
        deja__free(&s->alloc, text, len + 1);
        if (st != DEJA_OK) return st;
        post = tbs;
    }
    const char *gt = "state_groundtruth_estimate0/data.csv";
    if ((st = deja__seq_read_text(&s->alloc, root, gt, 1, &text, &len, err)) != DEJA_OK || !text)
        return st;
    deja__path_join(file, sizeof file, root, gt);
    st = interpolate_file(s, file, text, len, 1, post, err);
    deja__free(&s->alloc, text, len + 1);
    return st;
}
