/* seq.c - evaluation sequences: layout detection, open / destroy, the frame builder the readers
 * share, and the readers of plain folders, list files and the ../shared/data layout.
 *
 * A reader appends frames ("dir/name", time) to a builder that keeps all paths in one growing
 * character pool; finish copies them into exact-size arrays of the sequence (paths point into
 * one block). Poses and truth follow once the frame count is known. Detection order and the
 * formats: docs/sequences.md. KITTI, TUM and EuRoC are in seq_formats.c. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "seq.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *deja__seq_layout_name(deja__seq_layout l)
{
    switch (l) {
    case DEJA__SEQ_FOLDER:
        return "folder";
    case DEJA__SEQ_LIST:
        return "list";
    case DEJA__SEQ_KITTI:
        return "kitti";
    case DEJA__SEQ_TUM:
        return "tum";
    case DEJA__SEQ_EUROC:
        return "euroc";
    case DEJA__SEQ_SHARED:
        return "shared";
    }
    return "unknown";
}

/* Reasons in docs/sequences.md. */
deja__truth_rule deja__truth_rule_default(deja__seq_layout l)
{
    switch (l) {
    case DEJA__SEQ_KITTI:
        return (deja__truth_rule){5.0, 0.0, 100};
    case DEJA__SEQ_EUROC:
        return (deja__truth_rule){0.5, 30.0, 100};
    default: /* TUM, and hand-held sequences without a rule of their own */
        return (deja__truth_rule){0.05, 15.0, 50};
    }
}

/* ---- files ------------------------------------------------------------------------------- */

int deja__path_join(char *buf, size_t size, const char *a, const char *b)
{
    size_t la = a ? strlen(a) : 0;
    const char *sep = la && a[la - 1] != '/' ? "/" : "";
    int n =
        la && b[0] != '/' ? snprintf(buf, size, "%s%s%s", a, sep, b) : snprintf(buf, size, "%s", b);
    return n >= 0 && (size_t)n < size;
}

int deja__is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int deja__is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    return deja__path_join(p, sizeof p, dir, name) && deja__is_dir(p);
}

static int is_file_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    return deja__path_join(p, sizeof p, dir, name) && deja__is_file(p);
}

deja_status deja__seq_read_text(const deja_allocator *a, const char *dir, const char *name,
                                int optional, char **text, size_t *len, char *err)
{
    char p[PATH_MAX];
    *text = NULL;
    *len = 0;
    if (!deja__path_join(p, sizeof p, dir, name))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s/%s: path too long", dir, name);
    if (optional && access(p, F_OK) != 0) return DEJA_OK;
    return deja__text_read(a, p, DEJA__TEXT_MAX_BYTES, text, len, err);
}

/* ---- builder ----------------------------------------------------------------------------- */

void deja__seq_builder_free(deja__seq_builder *b)
{
    deja__free(&b->a, b->pool, b->pool_cap);
    deja__free(&b->a, b->at, b->cap_at * sizeof *b->at);
    deja__free(&b->a, b->ts, b->cap_ts * sizeof *b->ts);
    memset(b, 0, sizeof *b);
}

deja_status deja__seq_add(deja__seq_builder *b, const char *dir, const char *name, size_t name_len,
                          double t, int check, const char *file, uint32_t line, char *err)
{
    char where[PATH_MAX + 32], full[PATH_MAX], q[32];
    if (file)
        snprintf(where, sizeof where, "%s:%u", file, line);
    else
        snprintf(where, sizeof where, "frame %u", b->n);
    if (b->n >= DEJA__SEQ_MAX_FRAMES)
        return DEJA_ERR(err, DEJA_LIMIT, "%s: more than %u frames", where, DEJA__SEQ_MAX_FRAMES);
    if (name_len == 0 || memchr(name, '\0', name_len))
        return DEJA_ERR(err, DEJA_FORMAT, "%s: image name '%s' is empty or holds a NUL byte", where,
                        deja__quote(name, name + name_len, q));
    if (name_len >= PATH_MAX)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: image name of %zu bytes, above %d", where, name_len,
                        PATH_MAX - 1);
    char nm[PATH_MAX];
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    if (!deja__path_join(full, sizeof full, dir, nm))
        return DEJA_ERR(err, DEJA_FORMAT, "%s: path %s/%s above %d bytes", where, dir, nm,
                        PATH_MAX - 1);
    if (check && !deja__is_file(full))
        return DEJA_ERR(err, DEJA_IO, "%s: image %s: %s", where, full,
                        access(full, F_OK) == 0 ? "not a regular file" : strerror(errno));
    if (b->n && t < b->ts[b->n - 1])
        return DEJA_ERR(err, DEJA_FORMAT,
                        "%s: timestamp %.9g s is earlier than the previous "
                        "frame's %.9g s",
                        where, t, b->ts[b->n - 1]);
    size_t len = strlen(full) + 1;
    if (!deja__reserve(&b->a, (void **)&b->pool, &b->pool_cap, b->pool_len + len, 1) ||
        !deja__reserve(&b->a, (void **)&b->at, &b->cap_at, (size_t)b->n + 1, sizeof *b->at) ||
        !deja__reserve(&b->a, (void **)&b->ts, &b->cap_ts, (size_t)b->n + 1, sizeof *b->ts))
        return DEJA_ERR(err, DEJA_NOMEM, "%s: no memory for %u frames", where, b->n + 1);
    memcpy(b->pool + b->pool_len, full, len);
    b->at[b->n] = b->pool_len;
    b->ts[b->n] = t;
    b->pool_len += len;
    b->n++;
    return DEJA_OK;
}

static int is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".pgm", ".ppm"};
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (strcasecmp(dot, ext[i]) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

deja_status deja__seq_add_folder(deja__seq_builder *b, const char *dir, char *err)
{
    DIR *d = opendir(dir);
    if (!d) return DEJA_ERR(err, DEJA_IO, "%s: cannot list: %s", dir, strerror(errno));
    /* names first (one pool), then sorted pointers into it */
    deja__seq_builder names = {.a = b->a};
    deja_status st = DEJA_OK;
    struct dirent *e;
    char full[PATH_MAX];
    while ((e = readdir(d))) {
        if (!is_image_name(e->d_name)) continue;
        if (!deja__path_join(full, sizeof full, dir, e->d_name) || !deja__is_file(full)) continue;
        if ((st = deja__seq_add(&names, NULL, e->d_name, strlen(e->d_name), 0, 0, dir, 0, err)) !=
            DEJA_OK)
            break;
    }
    closedir(d);
    char **sorted = NULL;
    if (st == DEJA_OK && names.n) {
        sorted = deja__alloc(&b->a, names.n * sizeof *sorted);
        if (!sorted) st = DEJA_ERR(err, DEJA_NOMEM, "%s: no memory for %u names", dir, names.n);
    }
    if (st == DEJA_OK && names.n) {
        for (uint32_t i = 0; i < names.n; i++)
            sorted[i] = names.pool + names.at[i];
        qsort(sorted, names.n, sizeof *sorted, cmp_str);
        uint32_t first = b->n;
        for (uint32_t i = 0; i < names.n && st == DEJA_OK; i++)
            st = deja__seq_add(b, dir, sorted[i], strlen(sorted[i]),
                               (double)(first + i) / DEJA__SEQ_DEFAULT_FPS, 0, dir, 0, err);
    }
    deja__free(&b->a, sorted, names.n * sizeof *sorted);
    deja__seq_builder_free(&names);
    return st;
}

/* Name of the sequence: the last component of the resolved path; EuRoC's "mav0" gives way to the
 * folder above it. */
static void sequence_name(const char *path, char *out, size_t size)
{
    char real[PATH_MAX];
    const char *p = realpath(path, real) ? real : path;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && p[start - 1] != '/')
        start--;
    if (len - start == 4 && memcmp(p + start, "mav0", 4) == 0 && start > 1) {
        len = start - 1;
        start = len;
        while (start > 0 && p[start - 1] != '/')
            start--;
    }
    snprintf(out, size, "%.*s", (int)(len - start), p + start);
}

deja_status deja__seq_finish(deja__seq_builder *b, deja__sequence *s, const char *name_path,
                             char *err)
{
    char name[PATH_MAX];
    sequence_name(name_path, name, sizeof name);
    if (b->n == 0) {
        deja__seq_builder_free(b);
        return DEJA_ERR(err, DEJA_FORMAT, "%s: no images (.png .jpg .jpeg .pgm .ppm)", name_path);
    }
    size_t name_bytes = strlen(name) + 1, bytes = b->pool_len + name_bytes;
    s->paths = deja__alloc(&s->alloc, b->n * sizeof *s->paths);
    s->timestamps = deja__alloc(&s->alloc, b->n * sizeof *s->timestamps);
    s->path_pool = deja__alloc(&s->alloc, bytes);
    if (!s->paths || !s->timestamps || !s->path_pool) {
        deja__free(&s->alloc, s->paths, b->n * sizeof *s->paths);
        deja__free(&s->alloc, s->timestamps, b->n * sizeof *s->timestamps);
        deja__free(&s->alloc, s->path_pool, bytes);
        s->paths = NULL, s->timestamps = NULL, s->path_pool = NULL;
        deja__seq_builder_free(b);
        return DEJA_ERR(err, DEJA_NOMEM, "%s: no memory for %u frames", name_path, b->n);
    }
    memcpy(s->path_pool, b->pool, b->pool_len);
    memcpy(s->path_pool + b->pool_len, name, name_bytes);
    s->path_pool_bytes = bytes;
    for (uint32_t i = 0; i < b->n; i++)
        s->paths[i] = s->path_pool + b->at[i];
    memcpy(s->timestamps, b->ts, b->n * sizeof *s->timestamps);
    s->name = s->path_pool + b->pool_len;
    s->n = b->n;
    deja__seq_builder_free(b);
    return DEJA_OK;
}

deja_status deja__seq_alloc_poses(deja__sequence *s, char *err)
{
    s->poses = deja__calloc(&s->alloc, (size_t)s->n * 12, sizeof *s->poses);
    s->has_pose = deja__calloc(&s->alloc, s->n, 1);
    if (!s->poses || !s->has_pose)
        return DEJA_ERR(err, DEJA_NOMEM, "%s: no memory for %u poses", s->name, s->n);
    return DEJA_OK;
}

void deja__sequence_destroy(deja__sequence *s)
{
    if (!s) return;
    deja_allocator a = s->alloc;
    deja__free(&a, s->paths, s->n * sizeof *s->paths);
    deja__free(&a, s->timestamps, s->n * sizeof *s->timestamps);
    deja__free(&a, s->path_pool, s->path_pool_bytes);
    deja__free(&a, s->poses, (size_t)s->n * 12 * sizeof *s->poses);
    deja__free(&a, s->has_pose, s->n);
    deja__truth_destroy(s->truth);
    deja__truth_destroy(s->truth_loose);
    deja__free(&a, s, sizeof *s);
}

/* ---- detection --------------------------------------------------------------------------- */

deja_status deja__seq_detect(const char *path, deja__seq_layout *out, char *err)
{
    struct stat st;
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "sequence detect: NULL argument");
    if (stat(path, &st) != 0) return DEJA_ERR(err, DEJA_IO, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode))
        *out = DEJA__SEQ_LIST;
    else if (!S_ISDIR(st.st_mode))
        return DEJA_ERR(err, DEJA_IO, "%s: neither a file nor a folder", path);
    else if (is_file_in(path, "mav0/cam0/data.csv") || is_file_in(path, "cam0/data.csv"))
        *out = DEJA__SEQ_EUROC;
    else if (is_dir_in(path, "images"))
        *out = DEJA__SEQ_SHARED;
    else if (is_file_in(path, "rgb.txt"))
        *out = DEJA__SEQ_TUM;
    else if (is_file_in(path, "times.txt") &&
             (is_dir_in(path, "image_0") || is_dir_in(path, "image_2")))
        *out = DEJA__SEQ_KITTI;
    else
        *out = DEJA__SEQ_FOLDER;
    return DEJA_OK;
}

/* ---- folder, list, shared ---------------------------------------------------------------- */

static deja_options options_of(const deja__sequence *s)
{
    deja_options o = deja_options_default();
    o.allocator = s->alloc;
    return o;
}

/* loops.txt -> truth, loops_loose.txt -> truth_loose, when present in dir. */
static deja_status read_truth_files(deja__sequence *s, const char *dir, char *err)
{
    static const char *const files[2] = {"loops.txt", "loops_loose.txt"};
    deja_options o = options_of(s);
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX];
        if (!deja__path_join(p, sizeof p, dir, files[i]))
            return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: path too long", dir);
        if (access(p, F_OK) != 0) continue;
        deja_status st = deja__truth_read(&o, p, s->n, i ? &s->truth_loose : &s->truth, err);
        if (st != DEJA_OK) return st;
    }
    return DEJA_OK;
}

static deja_status read_folder(deja__sequence *s, const char *path, char *err)
{
    deja__seq_builder b = {.a = s->alloc};
    deja_status st = deja__seq_add_folder(&b, path, err);
    if (st != DEJA_OK) {
        deja__seq_builder_free(&b);
        return st;
    }
    if ((st = deja__seq_finish(&b, s, path, err)) != DEJA_OK) return st;
    return read_truth_files(s, path, err);
}

/* Folder part of a file path ("." if none). */
static void dir_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, size, ".");
    else if (slash == path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(slash - path), path);
}

static deja_status read_list(deja__sequence *s, const char *path, char *err)
{
    char *text, dir[PATH_MAX];
    size_t len;
    dir_of(path, dir, sizeof dir);
    deja_status st = deja__text_read(&s->alloc, path, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    deja__seq_builder b = {.a = s->alloc};
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb, *te;
    int timed = -1; /* decided on the first data line */
    while (st == DEJA_OK && deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        while (le > ls && (le[-1] == ' ' || le[-1] == '\t'))
            le--;
        const char *rest = ls;
        double t = (double)b.n / DEJA__SEQ_DEFAULT_FPS;
        deja__token(&rest, le, &tb, &te);
        const char *name = deja__skip_blank(rest, le);
        if (timed < 0) timed = name < le && deja__parse_f64(tb, te, &t);
        if (timed) {
            char q[32];
            if (!deja__parse_f64(tb, te, &t) || t < 0 || name == le) {
                st = DEJA_ERR(err, DEJA_FORMAT,
                              "%s:%u: expected 'timestamp path' (as on the "
                              "first line), got '%s'",
                              path, it.line, deja__quote(ls, le, q));
                break;
            }
        } else {
            name = deja__skip_blank(ls, le);
        }
        st = deja__seq_add(&b, dir, name, (size_t)(le - name), t, 1, path, it.line, err);
    }
    deja__free(&s->alloc, text, len + 1);
    if (st != DEJA_OK) {
        deja__seq_builder_free(&b);
        return st;
    }
    s->has_timestamps = timed == 1;
    return deja__seq_finish(&b, s, path, err);
}

static const char *base_name(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

/* poses_per_frame.txt: "index image rgb_timestamp tx ty tz qx qy qz qw", one line per image. */
static deja_status read_shared_poses(deja__sequence *s, const char *file, const char *text,
                                     size_t len, char *err)
{
    deja_status st = deja__seq_alloc_poses(s, err);
    if (st != DEJA_OK) return st;
    deja__lines it = {text, text + len, 0};
    const char *ls, *le, *tb[11], *te[11];
    uint32_t k = 0;
    char q[32];
    while (deja__lines_next(&it, &ls, &le)) {
        if (deja__line_is_skip(ls, le)) continue;
        int nt = 0;
        while (nt < 11 && deja__token(&ls, le, &tb[nt], &te[nt]))
            nt++;
        if (nt != 10)
            return DEJA_ERR(err, DEJA_FORMAT,
                            "%s:%u: %s10 fields expected (index image "
                            "timestamp tx ty tz qx qy qz qw)",
                            file, it.line, nt > 10 ? "more than " : "fewer than ");
        uint64_t idx;
        if (!deja__parse_u64(tb[0], te[0], UINT32_MAX, &idx) || idx != k)
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field 1 ('%s'): expected frame index %u",
                            file, it.line, deja__quote(tb[0], te[0], q), k);
        if (k >= s->n)
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: more poses than the %u images", file, it.line,
                            s->n);
        const char *img = base_name(s->paths[k]);
        if (strlen(img) != (size_t)(te[1] - tb[1]) || memcmp(img, tb[1], strlen(img)) != 0)
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field 2 ('%s'): frame %u is image %s", file,
                            it.line, deja__quote(tb[1], te[1], q), k, img);
        double v[8];
        for (int f = 0; f < 8; f++)
            if (!deja__parse_f64(tb[f + 2], te[f + 2], &v[f]) ||
                (f >= 1 && f <= 3 && fabs(v[f]) > DEJA__POSE_MAX_M) || (f == 0 && v[f] < 0))
                return DEJA_ERR(err, DEJA_FORMAT,
                                "%s:%u: field %d ('%s'): not a number in "
                                "range",
                                file, it.line, f + 3, deja__quote(tb[f + 2], te[f + 2], q));
        if (k && v[0] < s->timestamps[k - 1])
            return DEJA_ERR(err, DEJA_FORMAT,
                            "%s:%u: timestamp %.9g s is earlier than the "
                            "previous frame's",
                            file, it.line, v[0]);
        if (!deja__quat_normalise(v + 4))
            return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: quaternion (fields 7-10) has norm ~0", file,
                            it.line);
        s->timestamps[k] = v[0];
        deja__pose_from_pq(v + 1, v + 4, s->poses + (size_t)k * 12);
        s->has_pose[k] = 1;
        k++;
    }
    if (k != s->n) return DEJA_ERR(err, DEJA_FORMAT, "%s: %u poses for %u images", file, k, s->n);
    s->n_posed = k;
    s->has_timestamps = 1;
    return DEJA_OK;
}

static deja_status read_shared(deja__sequence *s, const char *path, char *err)
{
    char images[PATH_MAX];
    if (!deja__path_join(images, sizeof images, path, "images"))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: path too long", path);
    deja__seq_builder b = {.a = s->alloc};
    deja_status st = deja__seq_add_folder(&b, images, err);
    if (st != DEJA_OK) {
        deja__seq_builder_free(&b);
        return st;
    }
    if ((st = deja__seq_finish(&b, s, path, err)) != DEJA_OK) return st;
    char *text, file[PATH_MAX];
    size_t len;
    st = deja__seq_read_text(&s->alloc, path, "poses_per_frame.txt", 1, &text, &len, err);
    if (st != DEJA_OK) return st;
    if (text) {
        deja__path_join(file, sizeof file, path, "poses_per_frame.txt");
        st = read_shared_poses(s, file, text, len, err);
        deja__free(&s->alloc, text, len + 1);
        if (st != DEJA_OK) return st;
    }
    return read_truth_files(s, path, err);
}

/* ---- open -------------------------------------------------------------------------------- */

deja_status deja__sequence_open_as(const deja_options *o, const char *path, deja__seq_layout layout,
                                   const deja__truth_rule *rule, deja__sequence **out, char *err)
{
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "sequence open: NULL argument");
    if (strlen(path) >= PATH_MAX - 64)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "sequence open: path of %zu bytes is too long",
                        strlen(path));
    deja_allocator a = deja__allocator(o);
    deja__sequence *s = deja__calloc(&a, 1, sizeof *s);
    if (!s) return DEJA_ERR(err, DEJA_NOMEM, "%s: no memory", path);
    s->alloc = a;
    s->layout = layout;
    s->rule_used = rule ? *rule : deja__truth_rule_default(layout);
    deja_status st;
    switch (layout) {
    case DEJA__SEQ_FOLDER:
        st = read_folder(s, path, err);
        break;
    case DEJA__SEQ_LIST:
        st = read_list(s, path, err);
        break;
    case DEJA__SEQ_KITTI:
        st = deja__seq_read_kitti(s, path, err);
        break;
    case DEJA__SEQ_TUM:
        st = deja__seq_read_tum(s, path, err);
        break;
    case DEJA__SEQ_EUROC:
        st = deja__seq_read_euroc(s, path, err);
        break;
    case DEJA__SEQ_SHARED:
        st = read_shared(s, path, err);
        break;
    default:
        st = DEJA_ERR(err, DEJA_INVALID_ARG, "sequence open: layout %d unknown", (int)layout);
    }
    if (st == DEJA_OK && !s->truth && s->poses) {
        deja_options so = options_of(s);
        st = deja__truth_from_poses_mask(&so, s->poses, s->has_pose, s->n, &s->rule_used, &s->truth,
                                         err);
        s->truth_from_poses = st == DEJA_OK;
    }
    if (st != DEJA_OK) {
        deja__sequence_destroy(s);
        return st;
    }
    *out = s;
    return DEJA_OK;
}

deja_status deja__sequence_open(const deja_options *o, const char *path,
                                const deja__truth_rule *rule, deja__sequence **out, char *err)
{
    deja__seq_layout l = DEJA__SEQ_FOLDER;
    deja_status st = deja__seq_detect(path, &l, err);
    if (st != DEJA_OK) return st;
    return deja__sequence_open_as(o, path, l, rule, out, err);
}
