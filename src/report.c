/* report.c - the evaluation report: five charts per sequence and one self-contained HTML page.
 *
 * Charts (deja's own plotting, src/plot.h): time per frame by stage (stacked), resident memory,
 * the precision-recall curve over the acceptance threshold with the operating point, the loop
 * matrix (query frame x matched frame: BoW similarity in grey, true loops, detected loops right
 * and wrong) and the trajectory (top view of the two widest axes) with the detected loops. */
#include "report.h"
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CHART_W = 900, CHART_H = 480, SQUARE = 640 };

static const char *const stage_names[DEJA__REPORT_STAGES] = {"decode", "features (ORB)",
                                                            "BoW transform", "query", "verification"};

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank quantile of v[0..n) (sorted in place). */
static double quantile_of(double *v, size_t n, double q)
{
    if (n == 0) return NAN;
    qsort(v, n, sizeof *v, by_double);
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static double frame_total(const deja__report_seq *s, uint32_t i)
{
    double t = 0;
    for (int k = 0; k < DEJA__REPORT_STAGES; k++) t += s->stage_ms[(size_t)i * DEJA__REPORT_STAGES + k];
    return t;
}

deja_status deja__report_row_compute(const deja_options *o, const deja__report_seq *s,
                                     deja__report_row *row, char *err)
{
    memset(row, 0, sizeof *row);
    row->frames = s->n_frames;
    row->precision = row->recall = row->recall_full_precision = row->average_precision = NAN;
    /* precision stays NaN without events: it is undefined */
    row->ms_median = row->ms_p99 = row->rss_growth_kb = NAN;
    if (s->eval) {
        row->queries = s->eval->n_queries;
        row->accepted = s->eval->at.accepted;
        row->correct = s->eval->at.correct;
        if (row->accepted) row->precision = s->eval->at.precision; /* else unknown */
        row->recall = s->eval->at.recall;
        row->recall_full_precision = s->eval->recall_full_precision;
        row->average_precision = s->eval->average_precision;
    } else {
        for (size_t i = 0; i < s->n_events; i++) row->accepted += s->events[i].value >= s->threshold;
    }
    uint32_t n = s->n_frames;
    if (s->stage_ms && n) {
        deja_allocator a = deja__allocator(o);
        double *tot = deja__calloc(&a, n, sizeof *tot);
        if (!tot) return DEJA_ERR(err, DEJA_NOMEM, "report: out of memory for %u frames", n);
        for (uint32_t i = 0; i < n; i++) {
            tot[i] = frame_total(s, i);
            for (int k = 0; k < DEJA__REPORT_STAGES; k++)
                row->ms_stage_mean[k] += s->stage_ms[(size_t)i * DEJA__REPORT_STAGES + k] / n;
        }
        row->ms_p99 = quantile_of(tot, n, 0.99);
        row->ms_median = quantile_of(tot, n, 0.5);
        deja__free(&a, tot, n * sizeof *tot);
    }
    if (s->rss && n > 1 && s->rss[0] && s->rss[n - 1])
        row->rss_growth_kb = ((double)s->rss[n - 1] - (double)s->rss[0]) / (n - 1) / 1024;
    row->heap_kb = n ? (double)s->heap_bytes / n / 1024 : 0;
    return DEJA_OK;
}

/* ---- charts ---- */

typedef struct {
    const deja_options *o;
    char *err;
    FILE *html;
    const char *dir;
} writer;

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void write_base64(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0)
                     | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        fwrite(q, 1, 4, f);
    }
}

/* Write the canvas to DIR/<name>-<what>.png and embed it in the page. */
static deja_status emit(writer *w, deja__canvas *c, const char *name, const char *what,
                        const char *alt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%s.png", w->dir, name, what);
    deja_status st = deja__canvas_write_png(c, path, w->err);
    uint8_t *png = NULL;
    size_t n = 0;
    if (st == DEJA_OK) st = deja__canvas_png_bytes(c, &png, &n, w->err);
    if (st != DEJA_OK) return st;
    fprintf(w->html, "<figure><img alt=\"%s\" src=\"data:image/png;base64,", alt);
    write_base64(w->html, png, n);
    fprintf(w->html, "\"><figcaption>%s-%s.png</figcaption></figure>\n", name, what);
    deja__png_bytes_free(c, png, n);
    return DEJA_OK;
}

static deja_status chart_time(writer *w, const deja__report_seq *s)
{
    uint32_t n = s->n_frames;
    deja_allocator a = deja__allocator(w->o);
    double *buf = deja__calloc(&a, (size_t)n * (DEJA__REPORT_STAGES + 2), sizeof *buf);
    if (!buf) return DEJA_ERR(w->err, DEJA_NOMEM, "report: out of memory for %u frames", n);
    double *x = buf, *tot = buf + n, *ys[DEJA__REPORT_STAGES];
    for (int k = 0; k < DEJA__REPORT_STAGES; k++) ys[k] = buf + (size_t)n * (2 + k);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = i;
        tot[i] = frame_total(s, i);
        for (int k = 0; k < DEJA__REPORT_STAGES; k++)
            ys[k][i] = s->stage_ms[(size_t)i * DEJA__REPORT_STAGES + k];
    }
    /* the top of the axis at the 99.5th percentile: a few spikes do not flatten the rest */
    double top = quantile_of(tot, n, 0.995) * 1.15;
    uint32_t colours[DEJA__REPORT_STAGES] = {DEJA__OI_SKY, DEJA__OI_BLUE, DEJA__OI_GREEN,
                                             DEJA__OI_ORANGE, DEJA__OI_VERMILION};
    deja__canvas c = {0};
    deja__chart ch;
    char title[256];
    snprintf(title, sizeof title, "%s: time per frame by stage (pixel column = mean)", s->name);
    deja__chart_spec spec = {title, "frame", "time (ms)", 0, n > 1 ? n - 1 : 1, 0, top > 0 ? top : 1,
                             0, 0};
    deja_status st = deja__canvas_init(&c, w->o, CHART_W, CHART_H, w->err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, w->err);
    if (st == DEJA_OK) {
        deja__chart_stacked(&ch, x, (const double *const *)ys, DEJA__REPORT_STAGES, n, colours,
                            stage_names);
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = emit(w, &c, s->name, "time", "time per frame by stage");
    deja__canvas_free(&c);
    deja__free(&a, buf, (size_t)n * (DEJA__REPORT_STAGES + 2) * sizeof *buf);
    return st;
}

static deja_status chart_memory(writer *w, const deja__report_seq *s, const deja__report_row *row)
{
    uint32_t n = s->n_frames;
    deja_allocator a = deja__allocator(w->o);
    double *x = deja__calloc(&a, (size_t)n * 2, sizeof *x);
    if (!x) return DEJA_ERR(w->err, DEJA_NOMEM, "report: out of memory for %u frames", n);
    double *y = x + n, lo = INFINITY, hi = -INFINITY;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = i;
        y[i] = s->rss[i] ? (double)s->rss[i] / 1048576.0 : NAN;
        if (isfinite(y[i])) lo = fmin(lo, y[i]), hi = fmax(hi, y[i]);
    }
    char title[256];
    snprintf(title, sizeof title, "%s: resident memory (%.1f KB/frame growth)", s->name,
             row->rss_growth_kb);
    deja__chart_spec spec = {title, "frame", "resident memory (MiB)", 0, n > 1 ? n - 1 : 1,
                             isfinite(lo) ? fmax(0, lo - (hi - lo) * 0.2 - 1) : 0,
                             isfinite(hi) ? hi + (hi - lo) * 0.1 + 1 : 1, 0, 3};
    deja__canvas c = {0};
    deja__chart ch;
    deja_status st = deja__canvas_init(&c, w->o, CHART_W, CHART_H, w->err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, w->err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, x, y, n, DEJA__OI_BLUE, 2, "resident set (VmRSS)");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = emit(w, &c, s->name, "memory", "resident memory against frame");
    deja__canvas_free(&c);
    deja__free(&a, x, (size_t)n * 2 * sizeof *x);
    return st;
}

static deja_status chart_pr(writer *w, const deja__report_seq *s)
{
    const deja__eval *e = s->eval;
    size_t n = e->n_curve;
    deja_allocator a = deja__allocator(w->o);
    double *x = deja__calloc(&a, (n + 1) * 2, sizeof *x);
    if (!x) return DEJA_ERR(w->err, DEJA_NOMEM, "report: out of memory for the curve");
    double *y = x + n + 1;
    for (size_t i = 0; i < n; i++) x[i] = e->curve[i].recall, y[i] = e->curve[i].precision;
    char title[256], op[96], full[96];
    snprintf(title, sizeof title, "%s: precision-recall (AP %.3f)", s->name, e->average_precision);
    if (e->at.accepted)
        snprintf(op, sizeof op, "operating point (>= %g): P %.2f R %.2f", s->threshold,
                 e->at.precision, e->at.recall);
    else snprintf(op, sizeof op, "operating point (>= %g): no event", s->threshold);
    snprintf(full, sizeof full, "100%% precision: R %.2f", e->recall_full_precision);
    char xl[96];
    snprintf(xl, sizeof xl, "recall (threshold on %s, high to low)",
             s->threshold_name ? s->threshold_name : "the event value");
    deja__chart_spec spec = {title, xl, "precision", 0, 1, 0, 1.05, 0, 3};
    deja__canvas c = {0};
    deja__chart ch;
    deja_status st = deja__canvas_init(&c, w->o, SQUARE + 60, SQUARE, w->err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, w->err);
    if (st == DEJA_OK) {
        char curve[96];
        snprintf(curve, sizeof curve, "curve: thresholds %g down to %g", n ? e->curve[0].threshold : 0,
                 n ? e->curve[n - 1].threshold : 0);
        deja__chart_line(&ch, x, y, n, DEJA__OI_BLUE, 2, curve);
        double fx = e->recall_full_precision, fy = 1;
        deja__chart_points(&ch, &fx, &fy, isfinite(e->threshold_full_precision), DEJA__OI_GREEN, 6,
                           full);
        double ox = e->at.recall, oy = e->at.precision;
        deja__chart_points(&ch, &ox, &oy, e->at.accepted > 0, DEJA__OI_ORANGE, 6,
                           e->at.accepted ? op : NULL);
        if (!e->at.accepted)
            deja__text(&c, ch.px + ch.pw - 8, ch.py + 8, op, ch.scale, DEJA__RIGHT, DEJA__OI_BLACK);
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = emit(w, &c, s->name, "pr", "precision-recall curve");
    deja__canvas_free(&c);
    deja__free(&a, x, (n + 1) * 2 * sizeof *x);
    return st;
}

/* Cells (x, y) of a class, appended to xy. */
typedef struct {
    double *x, *y, *v;
    size_t n, cap;
} cells;

static bool cells_push(const deja_allocator *a, cells *c, double x, double y, double v)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        double *nx = deja__calloc(a, cap * 3, sizeof *nx);
        if (!nx) return false;
        if (c->n) {
            memcpy(nx, c->x, c->n * sizeof *nx);
            memcpy(nx + cap, c->y, c->n * sizeof *nx);
            memcpy(nx + 2 * cap, c->v, c->n * sizeof *nx);
        }
        deja__free(a, c->x, c->cap * 3 * sizeof *nx);
        c->x = nx, c->y = nx + cap, c->v = nx + 2 * cap, c->cap = cap;
    }
    c->x[c->n] = x, c->y[c->n] = y, c->v[c->n] = v, c->n++;
    return true;
}

static void cells_free(const deja_allocator *a, cells *c)
{
    deja__free(a, c->x, c->cap * 3 * sizeof *c->x);
    memset(c, 0, sizeof *c);
}

static deja_status chart_matrix(writer *w, const deja__report_seq *s)
{
    deja_allocator a = deja__allocator(w->o);
    cells grey = {0}, truth = {0}, right = {0}, wrong = {0};
    bool ok = true;
    uint32_t n = s->n_frames;
    if (s->cand_frame && s->cand_score) {
        float top = 0;
        for (size_t i = 0; i < (size_t)n * s->cand_k; i++)
            if (s->cand_frame[i] != UINT32_MAX && s->cand_score[i] > top) top = s->cand_score[i];
        for (size_t i = 0; ok && i < (size_t)n * s->cand_k; i++)
            if (s->cand_frame[i] != UINT32_MAX && top > 0)
                ok = cells_push(&a, &grey, (double)(i / s->cand_k), s->cand_frame[i],
                                s->cand_score[i] / top);
    }
    if (s->truth)
        for (uint32_t q = 0; ok && q < n && q < s->truth->n_frames; q++) {
            uint32_t k;
            const uint32_t *m = deja__truth_matches(s->truth, q, &k);
            for (uint32_t j = 0; ok && j < k; j++) ok = cells_push(&a, &truth, q, m[j], 1);
        }
    for (size_t i = 0; ok && i < s->n_events; i++) {
        const deja__event *e = &s->events[i];
        if (e->value < s->threshold) continue;
        int good = s->judge && deja__truth_is_loop(s->judge, e->query, e->match);
        ok = cells_push(&a, s->judge && !good ? &wrong : &right, e->query, e->match, 1);
    }
    deja_status st = ok ? DEJA_OK : DEJA_ERR(w->err, DEJA_NOMEM, "report: out of memory for cells");
    char title[256];
    snprintf(title, sizeof title, "%s: loop matrix", s->name);
    deja__chart_spec spec = {title, "query frame", "matched frame", 0, n > 1 ? n - 1 : 1, 0,
                             n > 1 ? n - 1 : 1, 1, 1};
    deja__canvas c = {0};
    deja__chart ch;
    if (st == DEJA_OK) st = deja__canvas_init(&c, w->o, SQUARE + 120, SQUARE, w->err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, w->err);
    if (st == DEJA_OK) {
        double cell = n > 400 ? n / 400.0 : 1;
        deja__chart_grey_cells(&ch, grey.x, grey.y, grey.v, grey.n, cell,
                               grey.n ? "BoW similarity (best candidates)" : NULL);
        deja__chart_cells(&ch, truth.x, truth.y, truth.n, cell, DEJA__OI_SKY,
                          truth.n ? "true loop" : NULL);
        deja__chart_cells(&ch, right.x, right.y, right.n, cell * 2, DEJA__OI_GREEN,
                          s->judge ? "detected, right" : "detected");
        if (s->judge) deja__chart_cells(&ch, wrong.x, wrong.y, wrong.n, cell * 2, DEJA__OI_VERMILION,
                                        "detected, wrong");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = emit(w, &c, s->name, "matrix", "loop matrix");
    deja__canvas_free(&c);
    cells_free(&a, &grey);
    cells_free(&a, &truth);
    cells_free(&a, &right);
    cells_free(&a, &wrong);
    return st;
}

static const char axis_name[3] = {'x', 'y', 'z'};

static deja_status chart_trajectory(writer *w, const deja__report_seq *s)
{
    uint32_t n = s->n_frames;
    /* the two axes along which the camera centre spreads most */
    double mean[3] = {0}, var[3] = {0}, n_posed = 0;
    for (uint32_t i = 0; i < n; i++) n_posed += !s->has_pose || s->has_pose[i];
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < 3 && (!s->has_pose || s->has_pose[i]); k++)
            mean[k] += s->poses[(size_t)i * 12 + 4 * k + 3] / n_posed;
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < 3 && (!s->has_pose || s->has_pose[i]); k++) {
            double d = s->poses[(size_t)i * 12 + 4 * k + 3] - mean[k];
            var[k] += d * d;
        }
    int u = 0, v = 1, least = 2;
    for (int k = 0; k < 3; k++)
        if (var[k] < var[least]) least = k;
    u = least == 0 ? 1 : 0;
    v = least == 2 ? 1 : 2;
    deja_allocator a = deja__allocator(w->o);
    size_t n_ev = s->n_events;
    double *buf = deja__calloc(&a, (size_t)n * 2 + n_ev * 8 + 2, sizeof *buf);
    if (!buf) return DEJA_ERR(w->err, DEJA_NOMEM, "report: out of memory for the trajectory");
    double *x = buf, *y = buf + n, *good = buf + 2 * (size_t)n, *bad = good + n_ev * 4;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (uint32_t i = 0; i < n; i++) {
        int posed = !s->has_pose || s->has_pose[i];
        x[i] = posed ? s->poses[(size_t)i * 12 + 4 * u + 3] : NAN;
        y[i] = posed ? s->poses[(size_t)i * 12 + 4 * v + 3] : NAN;
        if (isfinite(x[i]) && isfinite(y[i])) {
            lo[0] = fmin(lo[0], x[i]), hi[0] = fmax(hi[0], x[i]);
            lo[1] = fmin(lo[1], y[i]), hi[1] = fmax(hi[1], y[i]);
        }
    }
    size_t n_good = 0, n_bad = 0;
    for (size_t i = 0; i < n_ev; i++) {
        const deja__event *e = &s->events[i];
        if (e->value < s->threshold || e->query >= n || !isfinite(x[e->query]) || !isfinite(x[e->match]))
            continue;
        int right = !s->judge || deja__truth_is_loop(s->judge, e->query, e->match);
        double *seg = right ? good + 4 * n_good++ : bad + 4 * n_bad++;
        seg[0] = x[e->query], seg[1] = y[e->query], seg[2] = x[e->match], seg[3] = y[e->match];
    }
    double pad = fmax(hi[0] - lo[0], hi[1] - lo[1]) * 0.05 + 1e-3;
    char title[256], xl[32], yl[32];
    snprintf(title, sizeof title, "%s: trajectory (top view) with detected loops", s->name);
    snprintf(xl, sizeof xl, "%c (m)", axis_name[u]);
    snprintf(yl, sizeof yl, "%c (m)", axis_name[v]);
    deja__chart_spec spec = {title, xl, yl, lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad, 1, 0};
    deja__canvas c = {0};
    deja__chart ch;
    deja_status st = deja__canvas_init(&c, w->o, SQUARE + 160, SQUARE, w->err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, w->err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, x, y, n, 0x909090u, 1.5f, "camera path");
        deja__chart_segments(&ch, good, n_good, DEJA__OI_GREEN, 1.5f,
                             s->judge ? "loop, right" : "loop");
        if (s->judge) deja__chart_segments(&ch, bad, n_bad, DEJA__OI_VERMILION, 1.5f, "loop, wrong");
        deja__chart_points(&ch, x, y, n ? 1 : 0, DEJA__OI_BLACK, 5, "start");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = emit(w, &c, s->name, "trajectory", "trajectory with loops");
    deja__canvas_free(&c);
    deja__free(&a, buf, ((size_t)n * 2 + n_ev * 8 + 2) * sizeof *buf);
    return st;
}

/* ---- page ---- */

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void html_num(FILE *f, double v, const char *fmt)
{
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("&ndash;", f);
}

static void html_row(FILE *f, const deja__report_seq *s, const deja__report_row *r)
{
    fputs("<tr><td>", f);
    html_text(f, s->name);
    fprintf(f, "</td><td>%u</td><td>%u</td><td>%zu</td><td>", r->frames, r->queries, r->accepted);
    html_num(f, r->precision, "%.3f");
    fputs("</td><td>", f);
    html_num(f, r->recall, "%.3f");
    fputs("</td><td>", f);
    html_num(f, r->recall_full_precision, "%.3f");
    fputs("</td><td>", f);
    html_num(f, r->average_precision, "%.3f");
    fputs("</td><td>", f);
    html_num(f, r->ms_median, "%.2f");
    fputs("</td><td>", f);
    html_num(f, r->ms_p99, "%.2f");
    fputs("</td><td>", f);
    html_num(f, r->rss_growth_kb, "%.1f");
    fputs("</td><td>", f);
    html_num(f, r->heap_kb, "%.2f");
    fputs("</td></tr>\n", f);
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>%s</title>\n"
    "<style>body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;"
    "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#eee}"
    "figure{display:inline-block;margin:.5em}figcaption{font-size:80%%;color:#666}"
    "code{background:#f4f4f4;padding:.1em .3em}</style></head><body>\n<h1>%s</h1>\n";

deja_status deja__report_write(const deja_options *o, const char *dir, const char *title,
                               const char *command, const deja__report_seq *seqs, size_t n,
                               char *err)
{
    if (!dir || (n && !seqs)) return DEJA_ERR(err, DEJA_INVALID_ARG, "report: dir or seqs is NULL");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return DEJA_ERR(err, DEJA_IO, "report: cannot create %s: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    if (!f) return DEJA_ERR(err, DEJA_IO, "report: cannot write %s: %s", path, strerror(errno));
    writer w = {o, err, f, dir};
    fprintf(f, page_head, title, title);
    if (command) {
        fputs("<p>Command: <code>", f);
        html_text(f, command);
        fputs("</code></p>\n", f);
    }
    fprintf(f, "<p>deja %s (SIMD: %s)</p>\n", deja_version(), deja_simd_name(deja_simd_detect()));
    fputs("<table><tr><th>sequence</th><th>frames</th><th>truth queries</th><th>events</th>"
          "<th>precision</th><th>recall</th><th>recall @100% P</th><th>AP</th>"
          "<th>ms/frame median</th><th>p99</th><th>RSS growth KB/frame</th>"
          "<th>detector heap KB/frame</th></tr>\n", f);
    deja_status st = DEJA_OK;
    deja__report_row *rows = NULL;
    deja_allocator a = deja__allocator(o);
    if (n && !(rows = deja__calloc(&a, n, sizeof *rows)))
        st = DEJA_ERR(err, DEJA_NOMEM, "report: out of memory");
    for (size_t i = 0; st == DEJA_OK && i < n; i++)
        if ((st = deja__report_row_compute(o, &seqs[i], &rows[i], err)) == DEJA_OK)
            html_row(f, &seqs[i], &rows[i]);
    fputs("</table>\n<p>Precision and recall at the operating threshold; recall @100% P is the "
          "highest recall of any threshold with no wrong event; AP is the area under the "
          "precision-recall curve. RSS growth is the resident memory's growth per frame over the "
          "run; detector heap is the detector's own memory (index, buffers) divided by the frames.</p>\n", f);
    for (size_t i = 0; st == DEJA_OK && i < n; i++) {
        const deja__report_seq *s = &seqs[i];
        fputs("<h2>", f);
        html_text(f, s->name);
        fputs("</h2>\n<p>", f);
        html_text(f, s->source);
        fputs("</p>\n", f);
        if (s->stage_ms && s->n_frames) {
            fputs("<p>Mean ms/frame by stage:", f);
            for (int k = 0; k < DEJA__REPORT_STAGES; k++)
                fprintf(f, " %s %.3f%s", stage_names[k], rows[i].ms_stage_mean[k],
                        k + 1 < DEJA__REPORT_STAGES ? "," : ".");
            fputs("</p>\n", f);
            st = chart_time(&w, s);
        }
        if (st == DEJA_OK && s->rss && s->n_frames) st = chart_memory(&w, s, &rows[i]);
        if (st == DEJA_OK && s->eval) st = chart_pr(&w, s);
        if (st == DEJA_OK && s->n_frames) st = chart_matrix(&w, s);
        if (st == DEJA_OK && s->poses && s->n_frames) st = chart_trajectory(&w, s);
    }
    fputs("</body></html>\n", f);
    if (rows) deja__free(&a, rows, n * sizeof *rows);
    if (fclose(f) != 0 && st == DEJA_OK) st = DEJA_ERR(err, DEJA_IO, "report: writing %s failed", path);
    return st;
}
