/* truth.c - loop ground truth: loops.txt read / parse / write, truth from poses, look-ups.
 *
 * Parsing keeps, per data line, the query, the line number and where its matches start in one
 * growing array of all matches; a query seen twice is found through offsets[], which holds the
 * line's record + 1 until the end. Then each line's matches are sorted (duplicates are an error)
 * and laid out by query. Nothing is sized from a number in the file except through n_frames (the
 * caller's): memory is O(tokens + n_frames).
 *
 * From poses: camera centres go into a 3D grid of cells at least max_dist_m wide (at most 2^20
 * cells a side), frames sorted by (cell, index); a query scans the 27 cells around its own
 * (9 runs of 3 consecutive z cells) and keeps the frames that pass the rule. Cost is
 * O(n log n + frames in neighbouring cells), not O(n^2). */
#define _POSIX_C_SOURCE 200809L
#include "truth.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PI 3.14159265358979323846

/* ---- text helpers ------------------------------------------------------------------------ */

deja_status deja__text_read(const deja_allocator *a, const char *path, size_t max_bytes,
                            char **text, size_t *len, char *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return DEJA_ERR(err, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return DEJA_ERR(err, DEJA_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return DEJA_ERR(err, DEJA_LIMIT, "%s: %lld bytes, above the limit of %zu", path,
                        (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = deja__alloc(a, n + 1);
    if (!buf) {
        close(fd);
        return DEJA_ERR(err, DEJA_NOMEM, "%s: no memory for %zu bytes", path, n + 1);
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            deja__free(a, buf, n + 1);
            return DEJA_ERR(err, DEJA_IO, "%s: read failed at byte %zu of %zu: %s", path, got, n,
                            e ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return DEJA_OK;
}

int deja__lines_next(deja__lines *it, const char **s, const char **e)
{
    if (it->p >= it->end) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *stop = nl ? nl : it->end;
    *s = it->p;
    *e = stop > it->p && stop[-1] == '\r' ? stop - 1 : stop;
    it->p = nl ? nl + 1 : it->end;
    it->line++;
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

const char *deja__skip_blank(const char *s, const char *e)
{
    while (s < e && is_blank(*s))
        s++;
    return s;
}

int deja__line_is_skip(const char *s, const char *e)
{
    s = deja__skip_blank(s, e);
    return s == e || *s == '#';
}

int deja__token(const char **s, const char *e, const char **tb, const char **te)
{
    const char *p = deja__skip_blank(*s, e);
    if (p == e) {
        *s = e;
        return 0;
    }
    *tb = p;
    while (p < e && !is_blank(*p))
        p++;
    *te = p;
    *s = p;
    return 1;
}

int deja__parse_u64(const char *s, const char *e, uint64_t max, uint64_t *out)
{
    if (s == e) return 0;
    uint64_t x = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || __builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, d, &x))
            return 0;
    }
    if (x > max) return 0;
    *out = x;
    return 1;
}

int deja__parse_f64(const char *s, const char *e, double *out)
{
    /* check the grammar here so that strtod cannot take inf, nan, hex or a prefix */
    const char *p = s;
    int digits = 0;
    if (p < e && (*p == '+' || *p == '-')) p++;
    for (; p < e && (unsigned)(*p - '0') <= 9; p++)
        digits++;
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') <= 9; p++)
            digits++;
    if (!digits) return 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        int exp_digits = 0;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++)
            exp_digits++;
        if (!exp_digits) return 0;
    }
    if (p != e) return 0;
    char tmp[128];
    if (e - s >= (long)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)(e - s));
    tmp[e - s] = '\0';
    /* strtod follows the host program's locale: give it its decimal point */
    char dp = *localeconv()->decimal_point;
    if (dp && dp != '.')
        for (char *c = tmp; *c; c++)
            if (*c == '.') *c = dp;
    char *end;
    double x = strtod(tmp, &end);
    if (end != tmp + (e - s) || !isfinite(x)) return 0;
    *out = x;
    return 1;
}

const char *deja__quote(const char *s, const char *e, char buf[32])
{
    size_t n = (size_t)(e - s), k = n > 24 ? 21 : n;
    for (size_t i = 0; i < k; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (k < n) memcpy(buf + k, "...", 3), k += 3;
    buf[k] = '\0';
    return buf;
}

/* ---- the truth object -------------------------------------------------------------------- */

void deja__truth_destroy(deja__truth *t)
{
    if (!t) return;
    deja_allocator a = t->alloc;
    deja__free(&a, t->offsets, ((size_t)t->n_frames + 1) * sizeof *t->offsets);
    deja__free(&a, t->matches, t->matches_cap * sizeof *t->matches);
    deja__free(&a, t, sizeof *t);
}

/* An empty truth for n frames: offsets zeroed, no matches. */
static deja_status truth_new(const deja_allocator *a, uint32_t n, deja__truth **out, char *err)
{
    deja__truth *t = deja__calloc(a, 1, sizeof *t);
    if (!t) return DEJA_ERR(err, DEJA_NOMEM, "truth: no memory");
    t->alloc = *a;
    t->n_frames = n;
    t->offsets = deja__calloc(a, (size_t)n + 1, sizeof *t->offsets);
    if (!t->offsets) {
        deja__free(a, t, sizeof *t);
        return DEJA_ERR(err, DEJA_NOMEM, "truth: no memory for %u frames", n);
    }
    *out = t;
    return DEJA_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int deja__truth_is_loop(const deja__truth *t, uint32_t q, uint32_t m)
{
    if (!t || q >= t->n_frames || !t->matches) return 0;
    const uint32_t *lo = t->matches + t->offsets[q], *hi = t->matches + t->offsets[q + 1];
    while (lo < hi) {
        const uint32_t *mid = lo + (hi - lo) / 2;
        if (*mid == m) return 1;
        if (*mid < m)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

const uint32_t *deja__truth_matches(const deja__truth *t, uint32_t q, uint32_t *n)
{
    static const uint32_t none[1] = {0};
    if (!t || q >= t->n_frames || !t->matches) {
        *n = 0;
        return none;
    }
    *n = (uint32_t)(t->offsets[q + 1] - t->offsets[q]);
    return t->matches + t->offsets[q];
}

int deja__truth_equal(const deja__truth *a, const deja__truth *b)
{
    if (a->n_frames != b->n_frames || a->n_pairs != b->n_pairs) return 0;
    if (memcmp(a->offsets, b->offsets, ((size_t)a->n_frames + 1) * sizeof *a->offsets) != 0)
        return 0;
    return a->n_pairs == 0 || memcmp(a->matches, b->matches, a->n_pairs * sizeof(uint32_t)) == 0;
}

/* ---- loops.txt --------------------------------------------------------------------------- */

typedef struct {
    uint32_t query, line;
    size_t start, count; /* in the match array */
} qline;

/* Field `field` of a line as a frame index < n_frames. */
static deja_status parse_index(const char *name, uint32_t line, unsigned field, const char *s,
                               const char *e, uint32_t n_frames, uint32_t *out, char *err)
{
    char q[32];
    if (*s == '-' && e - s > 1 && deja__parse_u64(s + 1, e, UINT64_MAX, &(uint64_t){0}))
        return DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field %u ('%s'): negative frame index", name,
                        line, field, deja__quote(s, e, q));
    const char *p = s;
    while (p < e && (unsigned)(*p - '0') <= 9)
        p++;
    if (p != e)
        return DEJA_ERR(err, DEJA_FORMAT,
                        "%s:%u: field %u ('%s'): not a frame index (digits "
                        "0-9 only)",
                        name, line, field, deja__quote(s, e, q));
    uint64_t v;
    if (!deja__parse_u64(s, e, UINT32_MAX, &v))
        return DEJA_ERR(err, DEJA_FORMAT,
                        "%s:%u: field %u ('%s'): frame index overflows 32 "
                        "bits",
                        name, line, field, deja__quote(s, e, q));
    if (v >= n_frames)
        return DEJA_ERR(err, DEJA_FORMAT,
                        "%s:%u: field %u: frame %llu >= %u frames in the "
                        "sequence",
                        name, line, field, (unsigned long long)v, n_frames);
    *out = (uint32_t)v;
    return DEJA_OK;
}

deja_status deja__truth_parse(const deja_options *o, const char *text, size_t len, const char *name,
                              uint32_t n_frames, deja__truth **out, char *err)
{
    if (!out || (!text && len))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "truth parse: NULL argument");
    if (!name) name = "loops.txt";
    if (len >= UINT32_MAX)
        return DEJA_ERR(err, DEJA_LIMIT, "%s: %zu bytes, above 4 GiB", name, len);
    deja_allocator a = deja__allocator(o);
    deja__truth *t;
    deja_status st = truth_new(&a, n_frames, &t, err);
    if (st != DEJA_OK) return st;
    qline *ql = NULL;
    uint32_t *m = NULL;
    size_t n_ql = 0, cap_ql = 0, n_m = 0, cap_m = 0;
    int in_order = 1; /* queries ascending line by line: matches are already laid out */
    deja__lines it = {text, text + len, 0};
    const char *s, *e, *tb = NULL, *te = NULL;
    while (deja__lines_next(&it, &s, &e)) {
        if (deja__line_is_skip(s, e)) continue;
        uint32_t q;
        deja__token(&s, e, &tb, &te);
        if ((st = parse_index(name, it.line, 1, tb, te, n_frames, &q, err)) != DEJA_OK) goto fail;
        if (t->offsets[q]) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: field 1: query %u is also on line %u", name,
                          it.line, q, ql[t->offsets[q] - 1].line);
            goto fail;
        }
        if (!deja__reserve(&a, (void **)&ql, &cap_ql, n_ql + 1, sizeof *ql)) goto nomem;
        if (n_ql && ql[n_ql - 1].query > q) in_order = 0;
        ql[n_ql] = (qline){q, it.line, n_m, 0};
        t->offsets[q] = ++n_ql;
        for (unsigned field = 2; deja__token(&s, e, &tb, &te); field++) {
            uint32_t v;
            st = parse_index(name, it.line, field, tb, te, n_frames, &v, err);
            if (st != DEJA_OK) goto fail;
            if (v >= q) {
                st = DEJA_ERR(err, DEJA_FORMAT,
                              "%s:%u: field %u: match %u is not earlier than "
                              "its query %u",
                              name, it.line, field, v, q);
                goto fail;
            }
            if (!deja__reserve(&a, (void **)&m, &cap_m, n_m + 1, sizeof *m)) goto nomem;
            m[n_m++] = v;
        }
        ql[n_ql - 1].count = n_m - ql[n_ql - 1].start;
        if (!ql[n_ql - 1].count) {
            st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: query %u lists no match", name, it.line, q);
            goto fail;
        }
    }
    for (size_t i = 0; i < n_ql; i++) {
        uint32_t *r = m + ql[i].start;
        qsort(r, ql[i].count, sizeof *r, cmp_u32);
        for (size_t k = 1; k < ql[i].count; k++)
            if (r[k] == r[k - 1]) {
                st = DEJA_ERR(err, DEJA_FORMAT, "%s:%u: match %u of query %u is listed twice", name,
                              ql[i].line, r[k], ql[i].query);
                goto fail;
            }
    }
    memset(t->offsets, 0, ((size_t)n_frames + 1) * sizeof *t->offsets);
    for (size_t i = 0; i < n_ql; i++)
        t->offsets[ql[i].query + 1] = ql[i].count;
    for (size_t q = 0; q < n_frames; q++)
        t->offsets[q + 1] += t->offsets[q];
    if (in_order || n_m == 0) {
        t->matches = m;
        t->matches_cap = cap_m;
    } else {
        t->matches = deja__alloc(&a, n_m * sizeof *m);
        if (!t->matches) goto nomem;
        t->matches_cap = n_m;
        for (size_t i = 0; i < n_ql; i++)
            memcpy(t->matches + t->offsets[ql[i].query], m + ql[i].start, ql[i].count * sizeof *m);
        deja__free(&a, m, cap_m * sizeof *m);
    }
    t->n_pairs = n_m;
    t->n_queries = (uint32_t)n_ql;
    deja__free(&a, ql, cap_ql * sizeof *ql);
    *out = t;
    return DEJA_OK;
nomem:
    st = DEJA_ERR(err, DEJA_NOMEM, "%s:%u: no memory for %zu matches", name, it.line, n_m);
fail:
    deja__free(&a, ql, cap_ql * sizeof *ql);
    deja__free(&a, m, cap_m * sizeof *m);
    deja__truth_destroy(t);
    return st;
}

deja_status deja__truth_read(const deja_options *o, const char *path, uint32_t n_frames,
                             deja__truth **out, char *err)
{
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "truth read: NULL argument");
    deja_allocator a = deja__allocator(o);
    char *text;
    size_t len;
    deja_status st = deja__text_read(&a, path, DEJA__TEXT_MAX_BYTES, &text, &len, err);
    if (st != DEJA_OK) return st;
    st = deja__truth_parse(o, text, len, path, n_frames, out, err);
    deja__free(&a, text, len + 1);
    return st;
}

deja_status deja__truth_write(const deja__truth *t, const char *path, char *err)
{
    if (!t || !path) return DEJA_ERR(err, DEJA_INVALID_ARG, "truth write: NULL argument");
    FILE *f = fopen(path, "w");
    if (!f) return DEJA_ERR(err, DEJA_IO, "%s: cannot create: %s", path, strerror(errno));
    for (uint32_t q = 0; q < t->n_frames; q++) {
        uint64_t b = t->offsets[q], e = t->offsets[q + 1];
        if (b == e) continue;
        fprintf(f, "%u", q);
        for (uint64_t k = b; k < e; k++)
            fprintf(f, " %u", t->matches[k]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    int saved = errno;
    if (fclose(f) != 0 && !bad) bad = 1, saved = errno;
    if (bad) return DEJA_ERR(err, DEJA_IO, "%s: write failed: %s", path, strerror(saved));
    return DEJA_OK;
}

/* ---- truth from poses -------------------------------------------------------------------- */

#define CELL_BITS 21 /* per axis in a 63-bit key; at most 2^20 + 1 cells are used */

typedef struct {
    uint64_t key;
    uint32_t frame;
} cell_entry;

static int cmp_entry(const void *a, const void *b)
{
    const cell_entry *x = a, *y = b;
    if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
    return (x->frame > y->frame) - (x->frame < y->frame);
}

static uint64_t cell_key(uint64_t cx, uint64_t cy, uint64_t cz)
{
    return cx << (2 * CELL_BITS) | cy << CELL_BITS | cz;
}

/* First entry with key >= k. */
static size_t lower_bound(const cell_entry *v, size_t n, uint64_t k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static deja_status check_poses(const double *poses, const uint8_t *has_pose, uint32_t n,
                               int need_axis, char *err)
{
    for (uint32_t i = 0; i < n; i++) {
        if (has_pose && !has_pose[i]) continue;
        const double *p = poses + (size_t)i * 12;
        for (int k = 0; k < 12; k++) {
            if (!isfinite(p[k]))
                return DEJA_ERR(err, DEJA_FORMAT,
                                "truth from poses: frame %u: pose element %d "
                                "(row %d, column %d) is not finite",
                                i, k, k / 4, k % 4);
            if (k % 4 == 3 && fabs(p[k]) > DEJA__POSE_MAX_M)
                return DEJA_ERR(err, DEJA_FORMAT,
                                "truth from poses: frame %u: camera centre "
                                "coordinate %g m beyond +-%g m",
                                i, p[k], DEJA__POSE_MAX_M);
        }
        if (need_axis && p[2] * p[2] + p[6] * p[6] + p[10] * p[10] < 1e-12)
            return DEJA_ERR(err, DEJA_FORMAT,
                            "truth from poses: frame %u: optical axis (third "
                            "column of R) has zero length",
                            i);
    }
    return DEJA_OK;
}

deja_status deja__truth_from_poses(const deja_options *o, const double *poses, uint32_t n,
                                   const deja__truth_rule *rule, deja__truth **out, char *err)
{
    return deja__truth_from_poses_mask(o, poses, NULL, n, rule, out, err);
}

deja_status deja__truth_from_poses_mask(const deja_options *o, const double *poses,
                                        const uint8_t *has_pose, uint32_t n,
                                        const deja__truth_rule *rule, deja__truth **out, char *err)
{
    if (!rule || !out || (n && !poses))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "truth from poses: NULL argument");
    if (!(rule->max_dist_m >= 0 && rule->max_dist_m <= DEJA__POSE_MAX_M) ||
        !(rule->max_angle_deg >= 0 && rule->max_angle_deg <= 1e6))
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "truth from poses: rule distance %g m or angle "
                        "%g deg out of range",
                        rule->max_dist_m, rule->max_angle_deg);
    int use_angle = rule->max_angle_deg > 0 && rule->max_angle_deg < 180;
    deja_status st = check_poses(poses, has_pose, n, use_angle, err);
    if (st != DEJA_OK) return st;
    deja_allocator a = deja__allocator(o);
    deja__truth *t;
    if ((st = truth_new(&a, n, &t, err)) != DEJA_OK) return st;
    double min_cos = cos(rule->max_angle_deg * PI / 180), r2 = rule->max_dist_m * rule->max_dist_m;
    uint64_t gap = rule->min_gap ? rule->min_gap : 1;

    /* cells: wider than the radius by a hair so that rounding never splits a pair by 2 cells */
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    size_t n_posed = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (has_pose && !has_pose[i]) continue;
        n_posed++;
        for (int k = 0; k < 3; k++) {
            lo[k] = fmin(lo[k], poses[(size_t)i * 12 + 4 * k + 3]);
            hi[k] = fmax(hi[k], poses[(size_t)i * 12 + 4 * k + 3]);
        }
    }
    double cell = rule->max_dist_m * (1 + 1e-6) + 1e-9;
    for (int k = 0; k < 3 && n_posed; k++)
        cell = fmax(cell, (hi[k] - lo[k]) / (double)(1 << 20));
    cell_entry *cells = deja__alloc(&a, (n_posed ? n_posed : 1) * sizeof *cells);
    uint64_t *cell_of = deja__alloc(&a, (n ? n : 1) * sizeof *cell_of);
    double *axis = use_angle ? deja__alloc(&a, (n ? n : 1) * 3 * sizeof *axis) : NULL;
    uint32_t *found = NULL, *m = NULL;
    size_t cap_found = 0, cap_m = 0, n_m = 0;
    if (!cells || !cell_of || (use_angle && !axis)) goto nomem;
    n_posed = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (has_pose && !has_pose[i]) continue;
        const double *p = poses + (size_t)i * 12;
        uint64_t c[3];
        for (int k = 0; k < 3; k++)
            c[k] = (uint64_t)floor((p[4 * k + 3] - lo[k]) / cell);
        cell_of[i] = cell_key(c[0], c[1], c[2]);
        cells[n_posed++] = (cell_entry){cell_of[i], i};
        if (use_angle) {
            double norm = sqrt(p[2] * p[2] + p[6] * p[6] + p[10] * p[10]);
            axis[3 * i] = p[2] / norm, axis[3 * i + 1] = p[6] / norm;
            axis[3 * i + 2] = p[10] / norm;
        }
    }
    qsort(cells, n_posed, sizeof *cells, cmp_entry);
    const uint64_t mask = ((uint64_t)1 << CELL_BITS) - 1;
    for (uint32_t q = 0; q < n; q++) {
        t->offsets[q + 1] = t->offsets[q];
        if (q < gap || (has_pose && !has_pose[q])) continue;
        const double *pq = poses + (size_t)q * 12;
        uint64_t cx = cell_of[q] >> (2 * CELL_BITS), cy = cell_of[q] >> CELL_BITS & mask;
        uint64_t cz = cell_of[q] & mask;
        size_t n_found = 0;
        for (uint64_t x = cx ? cx - 1 : 0; x <= cx + 1; x++)
            for (uint64_t y = cy ? cy - 1 : 0; y <= cy + 1; y++) {
                uint64_t kend = cell_key(x, y, cz + 1);
                for (size_t j = lower_bound(cells, n_posed, cell_key(x, y, cz ? cz - 1 : 0));
                     j < n_posed && cells[j].key <= kend; j++) {
                    uint32_t f = cells[j].frame;
                    if ((uint64_t)f + gap > q) continue;
                    const double *pm = poses + (size_t)f * 12;
                    double dx = pq[3] - pm[3], dy = pq[7] - pm[7], dz = pq[11] - pm[11];
                    if (dx * dx + dy * dy + dz * dz > r2) continue;
                    if (use_angle && axis[3 * q] * axis[3 * f] + axis[3 * q + 1] * axis[3 * f + 1] +
                                             axis[3 * q + 2] * axis[3 * f + 2] <
                                         min_cos)
                        continue;
                    if (!deja__reserve(&a, (void **)&found, &cap_found, n_found + 1, sizeof *found))
                        goto nomem;
                    found[n_found++] = f;
                }
            }
        if (!n_found) continue;
        if (n_m + n_found > DEJA__TRUTH_MAX_PAIRS) {
            st = DEJA_ERR(err, DEJA_LIMIT,
                          "truth from poses: more than %zu pairs by frame %u "
                          "(rule %g m, %g deg): the rule is too loose",
                          DEJA__TRUTH_MAX_PAIRS, q, rule->max_dist_m, rule->max_angle_deg);
            goto fail;
        }
        qsort(found, n_found, sizeof *found, cmp_u32);
        if (!deja__reserve(&a, (void **)&m, &cap_m, n_m + n_found, sizeof *m)) goto nomem;
        memcpy(m + n_m, found, n_found * sizeof *m);
        n_m += n_found;
        t->offsets[q + 1] = n_m;
        t->n_queries++;
    }
    t->matches = m;
    t->matches_cap = cap_m;
    t->n_pairs = n_m;
    m = NULL;
    st = DEJA_OK;
    goto done;
nomem:
    st = DEJA_ERR(err, DEJA_NOMEM, "truth from poses: no memory (%u frames, %zu pairs)", n, n_m);
fail:
    deja__truth_destroy(t);
    t = NULL;
done:
    deja__free(&a, cells, (n_posed ? n_posed : 1) * sizeof *cells);
    deja__free(&a, cell_of, (n ? n : 1) * sizeof *cell_of);
    deja__free(&a, axis, use_angle ? (n ? n : 1) * 3 * sizeof *axis : 0);
    deja__free(&a, found, cap_found * sizeof *found);
    deja__free(&a, m, cap_m * sizeof *m);
    if (t) *out = t;
    return st;
}
