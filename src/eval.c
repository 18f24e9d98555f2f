/* eval.c - precision / recall of loop events and the curve over the acceptance threshold. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_value_desc(const void *a, const void *b)
{
    const deja__event *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    if (x->query != y->query) return x->query < y->query ? -1 : 1;
    return x->match < y->match ? -1 : x->match > y->match;
}

static deja_status check_events(const deja__truth *t, const deja__event *ev, size_t n, char *err)
{
    for (size_t i = 0; i < n; i++) {
        if (ev[i].query >= t->n_frames)
            return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: event %zu: query %u >= %u frames", i,
                            ev[i].query, t->n_frames);
        if (ev[i].match >= ev[i].query)
            return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: event %zu: match %u is not before query %u",
                            i, ev[i].match, ev[i].query);
        if (!isfinite(ev[i].value))
            return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: event %zu (%u -> %u): value is not finite",
                            i, ev[i].query, ev[i].match);
    }
    return DEJA_OK;
}

static deja__pr_point point(double threshold, size_t accepted, size_t correct, uint32_t found,
                            uint32_t n_queries)
{
    return (deja__pr_point){threshold, accepted ? (double)correct / (double)accepted : 1.0,
                            n_queries ? (double)found / n_queries : 0.0, accepted, correct, found};
}

deja_status deja__eval_score(const deja_options *o, const deja__truth *strict, const deja__truth *loose,
                             const deja__event *events, size_t n, double threshold, deja__eval *out,
                             char *err)
{
    if (!strict || !out || (n && !events))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: truth, events or out is NULL");
    if (loose && loose->n_frames != strict->n_frames)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: loose truth has %u frames, strict %u",
                        loose->n_frames, strict->n_frames);
    if (isnan(threshold)) return DEJA_ERR(err, DEJA_INVALID_ARG, "eval: threshold is NaN");
    deja_status st = check_events(strict, events, n, err);
    if (st != DEJA_OK) return st;
    const deja__truth *ok_truth = loose ? loose : strict;

    deja_allocator a = deja__allocator(o);
    deja__event *sorted = deja__calloc(&a, n ? n : 1, sizeof *sorted);
    uint8_t *found = deja__calloc(&a, strict->n_frames ? strict->n_frames : 1, 1);
    deja__pr_point *curve = deja__calloc(&a, n ? n : 1, sizeof *curve);
    if (!sorted || !found || !curve) {
        deja__free(&a, sorted, (n ? n : 1) * sizeof *sorted);
        deja__free(&a, found, strict->n_frames ? strict->n_frames : 1);
        deja__free(&a, curve, (n ? n : 1) * sizeof *curve);
        return DEJA_ERR(err, DEJA_NOMEM, "eval: out of memory for %zu events", n);
    }
    if (n) memcpy(sorted, events, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_value_desc);

    memset(out, 0, sizeof *out);
    out->alloc = a;
    out->n_queries = strict->n_queries;
    out->threshold_full_precision = INFINITY;
    out->at = point(threshold, 0, 0, 0, strict->n_queries);
    size_t accepted = 0, correct = 0, n_curve = 0;
    uint32_t n_found = 0;
    double last_recall = 0;
    int clean = 1; /* no wrong event accepted yet */
    for (size_t i = 0; i < n;) {
        float v = sorted[i].value;
        for (; i < n && sorted[i].value == v; i++) {
            const deja__event *e = &sorted[i];
            accepted++;
            if (deja__truth_is_loop(ok_truth, e->query, e->match)) correct++;
            if (!found[e->query] && deja__truth_is_loop(strict, e->query, e->match)) {
                found[e->query] = 1;
                n_found++;
            }
        }
        deja__pr_point p = point(v, accepted, correct, n_found, strict->n_queries);
        curve[n_curve++] = p;
        out->average_precision += (p.recall - last_recall) * p.precision;
        last_recall = p.recall;
        if (correct < accepted) clean = 0;
        if (clean) {
            out->recall_full_precision = p.recall;
            out->threshold_full_precision = v;
        }
        if (v >= threshold) out->at = p;
    }
    out->curve = curve;
    out->n_curve = n_curve;
    out->curve_cap = n ? n : 1;
    deja__free(&a, sorted, (n ? n : 1) * sizeof *sorted);
    deja__free(&a, found, strict->n_frames ? strict->n_frames : 1);
    return DEJA_OK;
}

void deja__eval_free(deja__eval *e)
{
    if (!e || !e->curve) return;
    deja__free(&e->alloc, e->curve, e->curve_cap * sizeof *e->curve);
    e->curve = NULL;
    e->n_curve = 0;
}

/* ---- saved events ---- */

static int skip_blank(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r')) (*p)++;
    return *p < end && **p != '\n';
}

/* A decimal unsigned integer < 2^32. */
static bool read_index(const char **p, const char *end, uint32_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    while (s < end && *s >= '0' && *s <= '9' && x <= UINT32_MAX) x = x * 10 + (uint64_t)(*s++ - '0');
    if (s == *p || x > UINT32_MAX || (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n'))
        return false;
    *v = (uint32_t)x;
    *p = s;
    return true;
}

static bool read_number(const char **p, const char *end, double *v)
{
    char buf[64];
    size_t k = 0;
    const char *s = *p;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && k < sizeof buf - 1)
        buf[k++] = *s++;
    if (k == 0 || k == sizeof buf - 1) return false;
    buf[k] = 0;
    char *e;
    *v = strtod(buf, &e);
    if (*e || !isfinite(*v)) return false;
    *p = s;
    return true;
}

deja_status deja__events_parse(const deja_options *o, const char *text, size_t len, const char *name,
                               uint32_t n_frames, deja__event **out, size_t *n_out, double *threshold,
                               char *err)
{
    if (!out || !n_out || !threshold || (len && !text))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "events: text, out, n or threshold is NULL");
    *threshold = NAN;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    deja_allocator a = deja__allocator(o);
    deja__event *ev = deja__calloc(&a, lines, sizeof *ev);
    if (!ev) return DEJA_ERR(err, DEJA_NOMEM, "events: %s: out of memory for %zu lines", name, lines);
    size_t n = 0, line = 0;
    const char *p = text, *end = text + len;
    deja_status st = DEJA_OK;
    while (p < end && st == DEJA_OK) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (!skip_blank(&p, eol)) {
        } else if (*p == '#') {
            static const char key[] = "# threshold ";
            double t;
            const char *q = p + sizeof key - 1;
            if ((size_t)(eol - p) > sizeof key - 1 && memcmp(p, key, sizeof key - 1) == 0) {
                if (!read_number(&q, eol, &t) || skip_blank(&q, eol))
                    st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: bad threshold", name, line);
                else *threshold = t;
            }
        } else {
            deja__event e = {0, 0, 1};
            double v = 1;
            if (!read_index(&p, eol, &e.query) || !skip_blank(&p, eol) || !read_index(&p, eol, &e.match))
                st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: expected `query match [value]`",
                              name, line);
            else if (skip_blank(&p, eol) && (!read_number(&p, eol, &v) || skip_blank(&p, eol)))
                st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: value is not a finite number or "
                              "the line has more than 3 fields", name, line);
            else if (e.query >= n_frames)
                st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: query %u >= %u frames", name,
                              line, e.query, n_frames);
            else if (e.match >= e.query)
                st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: match %u is not before query %u",
                              name, line, e.match, e.query);
            else if (fabs(v) > 3e38)
                st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %zu: value %g out of range", name,
                              line, v);
            else {
                e.value = (float)v;
                ev[n++] = e;
            }
        }
        p = eol + (eol < end);
    }
    if (st != DEJA_OK) {
        deja__free(&a, ev, lines * sizeof *ev);
        return st;
    }
    /* shrink to n (the caller frees n entries) */
    deja__event *fit = deja__calloc(&a, n ? n : 1, sizeof *fit);
    if (!fit) {
        deja__free(&a, ev, lines * sizeof *ev);
        return DEJA_ERR(err, DEJA_NOMEM, "events: %s: out of memory", name);
    }
    if (n) memcpy(fit, ev, n * sizeof *fit);
    deja__free(&a, ev, lines * sizeof *ev);
    *out = fit;
    *n_out = n;
    return DEJA_OK;
}

deja_status deja__events_read(const deja_options *o, const char *path, uint32_t n_frames,
                              deja__event **out, size_t *n, double *threshold, char *err)
{
    enum { MAX_BYTES = 1 << 30 };
    FILE *f = fopen(path, "rb");
    if (!f) return DEJA_ERR(err, DEJA_IO, "events: cannot open %s", path);
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return DEJA_ERR(err, size > MAX_BYTES ? DEJA_LIMIT : DEJA_IO,
                        "events: %s: size %ld unreadable or over %d bytes", path, size, MAX_BYTES);
    }
    deja_allocator a = deja__allocator(o);
    char *text = deja__alloc(&a, (size_t)size + 1);
    if (!text) {
        fclose(f);
        return DEJA_ERR(err, DEJA_NOMEM, "events: %s: out of memory for %ld bytes", path, size);
    }
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    deja_status st = got == (size_t)size
                         ? deja__events_parse(o, text, got, path, n_frames, out, n, threshold, err)
                         : DEJA_ERR(err, DEJA_IO, "events: %s: read %zu of %ld bytes", path, got, size);
    deja__free(&a, text, (size_t)size + 1);
    return st;
}

deja_status deja__events_write(const char *path, const deja__event *ev, size_t n, double threshold,
                               const char *value_name, char *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return DEJA_ERR(err, DEJA_IO, "events: cannot write %s", path);
    fprintf(f, "# deja events: query match value (%s); accepted when value >= threshold\n",
            value_name ? value_name : "value");
    if (isfinite(threshold)) fprintf(f, "# threshold %.9g\n", threshold);
    for (size_t i = 0; i < n; i++) fprintf(f, "%u %u %.9g\n", ev[i].query, ev[i].match, ev[i].value);
    if (fclose(f) != 0) return DEJA_ERR(err, DEJA_IO, "events: writing %s failed", path);
    return DEJA_OK;
}

void deja__events_free(const deja_options *o, deja__event *ev, size_t n)
{
    deja_allocator a = deja__allocator(o);
    deja__free(&a, ev, (n ? n : 1) * sizeof *ev);
}
