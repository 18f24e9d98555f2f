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

/* ---- saved events (read with the line and number helpers of truth.h) ---- */

/* "# threshold T": 1 and *t set; 0 for any other line; -1 for a malformed value. */
static int threshold_line(const char *s, const char *e, double *t)
{
    static const char key[] = "# threshold ";
    size_t k = sizeof key - 1;
    if ((size_t)(e - s) <= k || memcmp(s, key, k) != 0) return 0;
    const char *p = s + k, *tb, *te;
    if (!deja__token(&p, e, &tb, &te) || !deja__parse_f64(tb, te, t) || deja__token(&p, e, &tb, &te))
        return -1;
    return 1;
}

/* One `query match [value]` line into *ev. */
static deja_status event_line(const char *name, uint32_t line, const char *s, const char *e,
                              uint32_t n_frames, deja__event *ev, char *err)
{
    const char *tb, *te, *vb = NULL, *ve = NULL;
    uint64_t q = 0, m = 0;
    double v = 1;
    int ok = deja__token(&s, e, &tb, &te) && deja__parse_u64(tb, te, UINT32_MAX, &q)
             && deja__token(&s, e, &tb, &te) && deja__parse_u64(tb, te, UINT32_MAX, &m);
    if (!ok)
        return DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: expected `query match [value]`", name,
                        line);
    if (deja__token(&s, e, &vb, &ve) && (!deja__parse_f64(vb, ve, &v) || deja__token(&s, e, &tb, &te)))
        return DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: value is not a finite number or the "
                        "line has more than 3 fields", name, line);
    if (q >= n_frames)
        return DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: query %u >= %u frames", name, line,
                        (uint32_t)q, n_frames);
    if (m >= q)
        return DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: match %u is not before query %u",
                        name, line, (uint32_t)m, (uint32_t)q);
    if (fabs(v) > 3e38)
        return DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: value %g out of range", name, line, v);
    *ev = (deja__event){(uint32_t)q, (uint32_t)m, (float)v};
    return DEJA_OK;
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
    size_t n = 0;
    deja_status st = DEJA_OK;
    deja__lines it = {text, text + len, 0};
    const char *s, *e;
    while (st == DEJA_OK && deja__lines_next(&it, &s, &e)) {
        int t = threshold_line(s, e, threshold);
        if (t < 0) st = DEJA_ERR(err, DEJA_FORMAT, "events: %s line %u: bad threshold", name, it.line);
        else if (!t && !deja__line_is_skip(s, e))
            if ((st = event_line(name, it.line, s, e, n_frames, &ev[n], err)) == DEJA_OK) n++;
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
    deja_allocator a = deja__allocator(o);
    char *text = NULL;
    size_t len = 0;
    deja_status st = deja__text_read(&a, path, (size_t)1 << 30, &text, &len, err);
    if (st != DEJA_OK) return st;
    st = deja__events_parse(o, text, len, path, n_frames, out, n, threshold, err);
    deja__free(&a, text, len + 1);
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
