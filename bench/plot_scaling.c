/* plot_scaling.c - the scaling charts of bench/README.md, drawn with deja's own plotting code:
 * time per frame and resident memory against frame index for deja and, when given, the Python
 * baseline, as the write-up deja comes from showed them.
 *
 * usage: plot_scaling OUT_DIR DEJA_CSV [BASELINE_CSV]
 *   DEJA_CSV: deja run --csv (frame,decode_ms,features_ms,transform_ms,query_ms,verify_ms,total_ms,
 *             keypoints,words,loop_match,rss_kb,allocs)
 *   BASELINE_CSV: bench/baseline.py --csv (frame,decode_ms,features_ms,bow_ms,compare_ms,total_ms,
 *             rss_kb)
 * Writes OUT_DIR/scaling-time.png (both systems), scaling-time-deja.png (deja alone, its own
 * scale) and scaling-memory.png. Each series is reduced to medians of 600 bins of frames.
 * DEJA_PLOT_WORLD set: deja's series is labelled as including the in-process world renderer. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BINS = 600 };

typedef struct {
    double *frame, *ms, *rss_mb;
    size_t n, cap;
} series;

/* Columns (0-based) of the frame index, total ms and rss_kb in a CSV with a header line. */
static int read_csv(const char *path, int col_ms, int col_rss, series *s)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "plot_scaling: cannot open %s\n", path);
        return 0;
    }
    char line[1024];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        double v[16] = {0};
        int k = 0;
        for (char *p = line; k < 16 && *p;) {
            v[k++] = strtod(p, &p);
            while (*p && *p != ',') p++;
            if (*p == ',') p++;
        }
        if (k <= col_ms || k <= col_rss) continue;
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 4096;
            s->frame = realloc(s->frame, s->cap * sizeof *s->frame);
            s->ms = realloc(s->ms, s->cap * sizeof *s->ms);
            s->rss_mb = realloc(s->rss_mb, s->cap * sizeof *s->rss_mb);
            if (!s->frame || !s->ms || !s->rss_mb) {
                fclose(f);
                return 0;
            }
        }
        s->frame[s->n] = v[0];
        s->ms[s->n] = v[col_ms];
        s->rss_mb[s->n] = v[col_rss] > 0 ? v[col_rss] / 1024.0 : NAN;
        s->n++;
    }
    fclose(f);
    return s->n > 0;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Medians of y over BINS equal runs of samples: x and y out, *n_out points. */
static void binned(const double *x, const double *y, size_t n, double *bx, double *by, size_t *n_out)
{
    size_t bins = n < BINS ? n : BINS, k = 0;
    double *tmp = malloc((n / (bins ? bins : 1) + 2) * sizeof *tmp);
    for (size_t b = 0; tmp && b < bins; b++) {
        size_t lo = b * n / bins, hi = (b + 1) * n / bins, m = 0;
        for (size_t i = lo; i < hi; i++)
            if (isfinite(y[i])) tmp[m++] = y[i];
        if (!m) continue;
        qsort(tmp, m, sizeof *tmp, by_value);
        bx[k] = x[(lo + hi) / 2];
        by[k++] = tmp[m / 2];
    }
    free(tmp);
    *n_out = k;
}

static double top_of(const double *y, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && y[i] > t) t = y[i];
    return t;
}

static const char *deja_label = "deja, median per bin";

static int chart(const char *path, const char *title, const char *ylabel, const series *a,
                 const double *ya, const series *b, const double *yb)
{
    double ax[BINS], ay[BINS], bx[BINS], by[BINS];
    size_t na = 0, nb = 0;
    binned(a->frame, ya, a->n, ax, ay, &na);
    if (b) binned(b->frame, yb, b->n, bx, by, &nb);
    double xmax = a->n ? a->frame[a->n - 1] : 1, ymax = top_of(ay, na);
    if (b && b->n && b->frame[b->n - 1] > xmax) xmax = b->frame[b->n - 1];
    if (b && top_of(by, nb) > ymax) ymax = top_of(by, nb);
    double lo, hi, step;
    deja__nice_range(0, ymax * 1.05, 6, &lo, &hi, &step);
    deja__canvas c = {0};
    deja__chart ch;
    char err[DEJA_ERROR_BYTES];
    deja__chart_spec spec = {title, "frame", ylabel, 0, xmax, 0, hi, 0, 1};
    deja_status st = deja__canvas_init(&c, NULL, 900, 500, err);
    if (st == DEJA_OK) st = deja__chart_begin(&ch, &c, &spec, err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, ax, ay, na, DEJA__OI_BLUE, 2, deja_label);
        if (b) deja__chart_line(&ch, bx, by, nb, DEJA__OI_VERMILION, 2,
                                "Python baseline, median per bin");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = deja__canvas_write_png(&c, path, err);
    deja__canvas_free(&c);
    if (st != DEJA_OK) fprintf(stderr, "plot_scaling: %s\n", err);
    else printf("wrote %s\n", path);
    return st == DEJA_OK;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: plot_scaling OUT_DIR DEJA_CSV [BASELINE_CSV]\n");
        return 2;
    }
    series d = {0}, b = {0};
    /* deja's long run renders its generated world in-process: its ~300 MB of textures are part
     * of the resident set (the baseline reads the frames from files) */
    if (getenv("DEJA_PLOT_WORLD")) deja_label = "deja + world renderer, median per bin";
    if (!read_csv(argv[2], 6, 10, &d)) return 1;
    int have_b = argc == 4 && read_csv(argv[3], 5, 6, &b);
    char path[4096];
    int ok = 1;
    snprintf(path, sizeof path, "%s/scaling-time.png", argv[1]);
    ok &= chart(path, "time per frame against frame index", "time per frame (ms)", &d, d.ms,
                have_b ? &b : NULL, b.ms);
    snprintf(path, sizeof path, "%s/scaling-time-deja.png", argv[1]);
    ok &= chart(path, "deja: time per frame against frame index", "time per frame (ms)", &d, d.ms,
                NULL, NULL);
    snprintf(path, sizeof path, "%s/scaling-memory.png", argv[1]);
    ok &= chart(path, "resident memory against frame index", "resident memory (MiB)", &d, d.rss_mb,
                have_b ? &b : NULL, b.rss_mb);
    free(d.frame), free(d.ms), free(d.rss_mb), free(b.frame), free(b.ms), free(b.rss_mb);
    return ok ? 0 : 1;
}
