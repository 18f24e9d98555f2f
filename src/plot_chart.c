/* plot_chart.c - charts on a deja__canvas: nice axes, grid, labels, series and a legend.
 *
 * How it works. Ticks are multiples of a "nice" step, 1, 2 or 5 times a power of ten (Heckbert,
 * "Nice numbers for graph labels", Graphics Gems 1990), chosen per axis from the axis length in
 * pixels and widened until the tick labels fit between the ticks. The plot area is what the
 * canvas leaves after the title, the axis labels and the widest tick label; for equal aspect
 * the data range (not the area) grows so that both axes get the same units per pixel, and the
 * layout is done twice because the y labels may change width. Series clip to the plot area.
 *
 * Stacked areas are drawn per pixel column: each column shows the mean of the samples falling
 * in it, columns without samples interpolate between their neighbours, and each pixel gets the
 * exact fraction of every band that covers it (so band edges are anti-aliased without seams).
 * That keeps 10^5 frames as cheap and as readable as 100.
 */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_TEXT  0x222222u
#define COL_TICK  0x444444u
#define COL_FRAME 0x555555u
#define COL_GRID  0xE4E4E4u
#define COL_BOX   0xB8B8B8u
#define GREY_DARK 48 /* grey cells: v = 1 */
#define MAX_TICKS 64

/* Legend swatch kinds; a line and markers of the same text and colour share one entry. */
enum { KIND_LINE = 1, KIND_MARKER = 2, KIND_AREA = 4, KIND_GREY = 8 };

/* ---- nice numbers ------------------------------------------------------------------------ */

void deja__nice_range(double lo, double hi, int ticks, double *nlo, double *nhi, double *step)
{
    if (ticks < 1) ticks = 6;
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == hi) {
        const double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    /* Divide before subtracting: hi - lo may overflow when both are near DBL_MAX. */
    const double raw = hi / ticks - lo / ticks;
    const double mag = pow(10, floor(log10(raw)));
    const double f = raw / mag;
    const double s = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    /* The fuzz keeps 0.6 / 0.2 = 2.9999999999999996 from flooring to 2. */
    double a = floor(lo / s + 1e-9) * s, b = ceil(hi / s - 1e-9) * s;
    if (!isfinite(a) || a > lo) a = lo;
    if (!isfinite(b) || b < hi) b = hi;
    *nlo = a;
    *nhi = b;
    *step = s;
}

/* Copy s into buf[n], cut if needed (snprintf "%s" would warn about the cut). */
static void put(char *buf, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (k >= n) k = n - 1;
    memcpy(buf, s, k);
    buf[k] = '\0';
}

void deja__tick_label(double v, double step, double amax, char *buf, size_t n)
{
    if (!buf || n == 0) return;
    if (!isfinite(v) || !isfinite(step) || !(step > 0)) {
        snprintf(buf, n, "%g", v);
        return;
    }
    if (fabs(v) < step * 1e-6) {
        snprintf(buf, n, "0"); /* never "-0" or "1e-17" for a tick that is zero */
        return;
    }
    const int step_exp = (int)floor(log10(step) + 1e-9);
    if (!(amax >= 1e5 || amax < 1e-3)) {
        const int dec = step_exp >= 0 ? 0 : -step_exp > 15 ? 15 : -step_exp;
        snprintf(buf, n, "%.*f", dec, v);
        return;
    }
    /* Short exponent: the mantissa has as many decimals as the step needs, no zeros at its end,
     * and the exponent no '+' or leading zeros ("1.5e5", "2e-4"). */
    int dec = (int)floor(log10(fabs(v)) + 1e-9) - step_exp;
    dec = dec < 0 ? 0 : dec > 15 ? 15 : dec;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", dec, v);
    char *e = strchr(tmp, 'e');
    if (!e) {
        put(buf, n, tmp);
        return;
    }
    *e = '\0';
    const int ex = (int)strtol(e + 1, NULL, 10);
    if (strchr(tmp, '.')) {
        char *end = e - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.') *end = '\0';
    }
    const size_t m = strlen(tmp);
    snprintf(tmp + m, sizeof tmp - m, "e%d", ex);
    put(buf, n, tmp);
}

/* ---- layout ------------------------------------------------------------------------------ */

typedef struct axis {
    double step;
    int n;
    double v[MAX_TICKS];
    char label[MAX_TICKS][32];
    int max_w; /* widest label, px */
} axis;

static void make_ticks(axis *t, double a, double b, double step, int scale)
{
    t->step = step;
    t->n = 0;
    t->max_w = 0;
    const double first = ceil(a / step - 1e-9), amax = fmax(fabs(a), fabs(b));
    for (int k = 0; t->n < MAX_TICKS; k++) {
        const double v = (first + k) * step;
        if (!(v <= b + step * 1e-9)) break;
        t->v[t->n] = v;
        deja__tick_label(v, step, amax, t->label[t->n], sizeof t->label[0]);
        const int w = deja__text_width(t->label[t->n], scale);
        if (w > t->max_w) t->max_w = w;
        t->n++;
    }
}

/* Ticks on [a, b] drawn over len px: at least min_gap px apart, and for x (horizontal labels)
 * far enough apart for the labels to fit. Fewer ticks until they do. */
static void fit_ticks(axis *t, double a, double b, int len, int min_gap, bool horizontal, int scale)
{
    for (int want = len / min_gap > 1 ? len / min_gap : 1;; want--) {
        double lo, hi, step;
        deja__nice_range(a, b, want, &lo, &hi, &step);
        make_ticks(t, a, b, step, scale);
        const double gap = len * step / (b - a);
        const int need = horizontal ? t->max_w + 12 * scale : 3 * DEJA__FONT_HEIGHT * scale / 2;
        if (want <= 1 || (gap >= need && t->n <= MAX_TICKS)) return;
    }
}

static void resolve_range(double *a, double *b)
{
    if (isfinite(*a) && isfinite(*b) && *b > *a && isfinite(*b - *a)) return;
    double step;
    deja__nice_range(*a, *b, 6, a, b, &step);
    if (!isfinite(*b - *a)) *a = -1e307, *b = 1e307; /* keeps every later division finite */
}

/* Grows the smaller-per-pixel range about its centre so both axes have the same units/px. */
static void equalise(double *x0, double *x1, double *y0, double *y1, int pw, int ph)
{
    const double ux = (*x1 - *x0) / pw, uy = (*y1 - *y0) / ph;
    if (ux < uy) {
        const double c = 0.5 * (*x0 + *x1), half = 0.5 * uy * pw;
        *x0 = c - half;
        *x1 = c + half;
    } else if (uy < ux) {
        const double c = 0.5 * (*y0 + *y1), half = 0.5 * ux * ph;
        *y0 = c - half;
        *y1 = c + half;
    }
}

double deja__chart_px(const deja__chart *ch, double x)
{
    return ch->px + (x - ch->x0) / (ch->x1 - ch->x0) * ch->pw;
}

double deja__chart_py(const deja__chart *ch, double y)
{
    return ch->py + ch->ph - (y - ch->y0) / (ch->y1 - ch->y0) * ch->ph;
}

/* Pixel column / row of a tick, kept inside the plot area. */
static int tick_col(const deja__chart *ch, double v)
{
    const double p = floor(deja__chart_px(ch, v));
    return p < ch->px ? ch->px : p > ch->px + ch->pw - 1 ? ch->px + ch->pw - 1 : (int)p;
}

static int tick_row(const deja__chart *ch, double v)
{
    const double p = floor(deja__chart_py(ch, v));
    return p < ch->py ? ch->py : p > ch->py + ch->ph - 1 ? ch->py + ch->ph - 1 : (int)p;
}

static bool has(const char *s)
{
    return s && *s;
}

deja_status deja__chart_begin(deja__chart *ch, deja__canvas *c, const deja__chart_spec *s,
                              char *err)
{
    if (!ch || !c || !c->rgb || !s)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "deja__chart_begin: chart, canvas or spec is NULL");
    if (c->w < 160 || c->h < 120)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "chart: canvas %dx%d too small (min 160x120)", c->w,
                        c->h);
    memset(ch, 0, sizeof *ch);
    ch->c = c;
    ch->err = err;
    ch->legend_corner = s->legend;
    /* Text doubles on canvases about twice the default 900 x 500. */
    const int sc = c->w >= 1700 && c->h >= 950 ? 2 : 1;
    ch->scale = sc;
    const int fh = DEJA__FONT_HEIGHT * sc, pad = 10 * sc, tick = 5 * sc;
    double X0 = s->xmin, X1 = s->xmax, Y0 = s->ymin, Y1 = s->ymax;
    resolve_range(&X0, &X1);
    resolve_range(&Y0, &Y1);

    const int top = pad + (has(s->title) ? 2 * fh + pad : pad / 2);
    const int bottom = pad + tick + 3 * sc + fh + (has(s->xlabel) ? 6 * sc + fh : 0);
    const int label_left = pad + (has(s->ylabel) ? fh + 6 * sc : 0);
    axis xa, ya;
    axis *xt = &xa, *yt = &ya;
    double x0 = X0, x1 = X1, y0 = Y0, y1 = Y1;
    int ph = c->h - top - bottom, pw = 0, left = 0, right = 0;
    /* Twice: the y labels set the left margin, which sets pw, which (equal aspect) sets y. */
    for (int pass = 0; pass < 2; pass++) {
        fit_ticks(yt, y0, y1, ph, 45 * sc, false, sc);
        left = label_left + yt->max_w + tick + 4 * sc;
        /* Room for half of a label centred on the last x tick. */
        right = pad + 3 * DEJA__FONT_ADVANCE * sc;
        pw = c->w - left - right;
        if (pw < 40 || ph < 40)
            return DEJA_ERR(err, DEJA_INVALID_ARG,
                            "chart: canvas %dx%d leaves a %dx%d plot area after labels", c->w, c->h,
                            pw, ph);
        x0 = X0, x1 = X1, y0 = Y0, y1 = Y1;
        if (s->equal_aspect) equalise(&x0, &x1, &y0, &y1, pw, ph);
    }
    fit_ticks(yt, y0, y1, ph, 45 * sc, false, sc);
    fit_ticks(xt, x0, x1, pw, 60 * sc, true, sc);
    if (s->equal_aspect && xt->step != yt->step) {
        /* Square grid cells: both axes take the larger step. */
        const double step = fmax(xt->step, yt->step);
        make_ticks(xt, x0, x1, step, sc);
        make_ticks(yt, y0, y1, step, sc);
    }
    ch->x0 = x0, ch->x1 = x1, ch->y0 = y0, ch->y1 = y1;
    ch->px = left, ch->py = top, ch->pw = pw, ch->ph = ph;

    deja__canvas_unclip(c);
    deja__fill_rect(c, 0, 0, c->w, c->h, 0xFFFFFFu);
    for (int i = 0; i < xt->n; i++) {
        const int gx = tick_col(ch, xt->v[i]);
        deja__fill_rect(c, gx, top, gx + 1, top + ph, COL_GRID);
        deja__fill_rect(c, gx, top + ph + 1, gx + 1, top + ph + 1 + tick, COL_FRAME);
        deja__text(c, gx, top + ph + 1 + tick + 3 * sc, xt->label[i], sc, DEJA__CENTER | DEJA__TOP,
                   COL_TICK);
    }
    for (int i = 0; i < yt->n; i++) {
        const int gy = tick_row(ch, yt->v[i]);
        deja__fill_rect(c, left, gy, left + pw, gy + 1, COL_GRID);
        deja__fill_rect(c, left - 1 - tick, gy, left - 1, gy + 1, COL_FRAME);
        deja__text(c, left - 1 - tick - 4 * sc, gy, yt->label[i], sc, DEJA__RIGHT | DEJA__MIDDLE,
                   COL_TICK);
    }
    /* Frame just outside the plot area, so data clipped to the area never covers it. */
    deja__fill_rect(c, left - 1, top - 1, left + pw + 1, top, COL_FRAME);
    deja__fill_rect(c, left - 1, top + ph, left + pw + 1, top + ph + 1, COL_FRAME);
    deja__fill_rect(c, left - 1, top, left, top + ph, COL_FRAME);
    deja__fill_rect(c, left + pw, top, left + pw + 1, top + ph, COL_FRAME);
    if (has(s->title))
        deja__text(c, left + pw / 2, pad, s->title, 2 * sc, DEJA__CENTER | DEJA__TOP, COL_TEXT);
    if (has(s->xlabel))
        deja__text(c, left + pw / 2, top + ph + 1 + tick + 3 * sc + fh + 6 * sc, s->xlabel, sc,
                   DEJA__CENTER | DEJA__TOP, COL_TEXT);
    if (has(s->ylabel))
        deja__text_vertical(c, pad, top + ph / 2, s->ylabel, sc, DEJA__LEFT | DEJA__MIDDLE,
                            COL_TEXT);
    ch->status = DEJA_OK;
    return DEJA_OK;
}

/* ---- series ------------------------------------------------------------------------------ */

static void add_legend(deja__chart *ch, const char *text, uint32_t rgb, int kind)
{
    if (!has(text)) return;
    for (int i = 0; i < ch->n_legend; i++) {
        deja__legend_entry *e = &ch->legend[i];
        if (e->rgb == rgb && strncmp(e->text, text, sizeof e->text - 1) == 0 &&
            ((e->kind | kind) & ~(KIND_LINE | KIND_MARKER)) == 0) {
            e->kind |= kind;
            return;
        }
    }
    if (ch->n_legend >= DEJA__LEGEND_MAX) return;
    deja__legend_entry *e = &ch->legend[ch->n_legend++];
    snprintf(e->text, sizeof e->text, "%s", text);
    e->rgb = rgb;
    e->kind = kind;
}

static void clip_plot(deja__chart *ch)
{
    deja__canvas_clip(ch->c, ch->px, ch->py, ch->px + ch->pw, ch->py + ch->ph);
}

static bool usable(const deja__chart *ch)
{
    return ch && ch->c && ch->c->rgb && ch->pw > 0;
}

void deja__chart_line(deja__chart *ch, const double *x, const double *y, size_t n, uint32_t rgb,
                      float width, const char *legend)
{
    if (!usable(ch)) return;
    add_legend(ch, legend, rgb, KIND_LINE);
    if (!x || !y) return;
    width *= (float)ch->scale;
    clip_plot(ch);
    double ax = NAN, ay = NAN;
    for (size_t i = 0; i < n; i++) {
        const double bx = deja__chart_px(ch, x[i]), by = deja__chart_py(ch, y[i]);
        const bool ok = isfinite(bx) && isfinite(by);
        if (ok && isfinite(ax))
            deja__line(ch->c, ax, ay, bx, by, width, rgb);
        else if (ok && (i + 1 == n || !isfinite(x[i + 1]) || !isfinite(y[i + 1])))
            deja__disc(ch->c, bx, by, width > 1 ? width * 0.5f : 0.5f, rgb); /* lone point */
        ax = ok ? bx : NAN;
        ay = by;
    }
    deja__canvas_unclip(ch->c);
}

void deja__chart_points(deja__chart *ch, const double *x, const double *y, size_t n, uint32_t rgb,
                        float radius, const char *legend)
{
    if (!usable(ch)) return;
    add_legend(ch, legend, rgb, KIND_MARKER);
    if (!x || !y) return;
    if (!(radius >= 1)) radius = 1;
    radius *= (float)ch->scale;
    clip_plot(ch);
    for (size_t i = 0; i < n; i++) {
        const double px = deja__chart_px(ch, x[i]), py = deja__chart_py(ch, y[i]);
        deja__disc(ch->c, px, py, radius + 1.2f * (float)ch->scale, 0xFFFFFFu);
        deja__disc(ch->c, px, py, radius, rgb);
    }
    deja__canvas_unclip(ch->c);
}

void deja__chart_segments(deja__chart *ch, const double *xy4, size_t n, uint32_t rgb, float width,
                          const char *legend)
{
    if (!usable(ch)) return;
    add_legend(ch, legend, rgb, KIND_LINE);
    if (!xy4) return;
    width *= (float)ch->scale;
    clip_plot(ch);
    for (size_t i = 0; i < n; i++) {
        const double *s = xy4 + 4 * i;
        deja__line(ch->c, deja__chart_px(ch, s[0]), deja__chart_py(ch, s[1]),
                   deja__chart_px(ch, s[2]), deja__chart_py(ch, s[3]), width, rgb);
    }
    deja__canvas_unclip(ch->c);
}

/* Pixel range [a, b) of a cell of data size `size` centred on v along an axis that maps data
 * units to `k` px, at least 1 px; false if not finite. */
static bool cell_span(double centre, double size_px, int lo, int hi, int *a, int *b)
{
    if (!isfinite(centre) || !isfinite(size_px)) return false;
    double fa = floor(centre - size_px * 0.5 + 0.5), fb = floor(centre + size_px * 0.5 + 0.5);
    if (fb <= fa) fb = fa + 1;
    /* Outside by more than a pixel: clamping keeps the int conversion defined. */
    fa = fa < lo - 1 ? lo - 1 : fa > hi + 1 ? hi + 1 : fa;
    fb = fb < lo - 1 ? lo - 1 : fb > hi + 1 ? hi + 1 : fb;
    *a = (int)fa;
    *b = (int)fb;
    return true;
}

static void cells(deja__chart *ch, const double *x, const double *y, const double *v, size_t n,
                  double cell, uint32_t rgb)
{
    const double wpx = fabs(cell) / (ch->x1 - ch->x0) * ch->pw;
    const double hpx = fabs(cell) / (ch->y1 - ch->y0) * ch->ph;
    clip_plot(ch);
    for (size_t i = 0; i < n; i++) {
        int xa, xb, ya, yb;
        if (!cell_span(deja__chart_px(ch, x[i]), wpx, ch->px, ch->px + ch->pw, &xa, &xb) ||
            !cell_span(deja__chart_py(ch, y[i]), hpx, ch->py, ch->py + ch->ph, &ya, &yb))
            continue;
        uint32_t col = rgb;
        if (v) {
            if (!isfinite(v[i])) continue;
            const double t = v[i] < 0 ? 0 : v[i] > 1 ? 1 : v[i];
            const uint32_t g = (uint32_t)lround(255 - t * (255 - GREY_DARK));
            col = g << 16 | g << 8 | g;
        }
        deja__fill_rect(ch->c, xa, ya, xb, yb, col);
    }
    deja__canvas_unclip(ch->c);
}

void deja__chart_cells(deja__chart *ch, const double *x, const double *y, size_t n, double cell,
                       uint32_t rgb, const char *legend)
{
    if (!usable(ch)) return;
    add_legend(ch, legend, rgb, KIND_AREA);
    if (x && y) cells(ch, x, y, NULL, n, cell, rgb);
}

void deja__chart_grey_cells(deja__chart *ch, const double *x, const double *y, const double *v,
                            size_t n, double cell, const char *legend)
{
    if (!usable(ch)) return;
    add_legend(ch, legend, 0x808080u, KIND_GREY);
    if (x && y && v) cells(ch, x, y, v, n, cell, 0);
}

void deja__chart_stacked(deja__chart *ch, const double *x, const double *const *ys, size_t n_series,
                         size_t n, const uint32_t *rgb, const char *const *legends)
{
    if (!usable(ch) || n_series == 0 || !rgb) return;
    /* Legend top to bottom in the order the bands stack on screen. */
    for (size_t s = n_series; s-- > 0;)
        add_legend(ch, legends ? legends[s] : NULL, rgb[s], KIND_AREA);
    if (!x || !ys || n == 0) return;
    for (size_t s = 0; s < n_series; s++)
        if (!ys[s]) return;
    const size_t W = (size_t)ch->pw, H = (size_t)ch->ph, S = n_series;
    /* One block: per-column sums (S x W), per-column counts (W), one column of RGBA (H x 4). */
    size_t n_sum, bytes = 0;
    bool ok = deja__mul_ok(S, W, &n_sum) && deja__mul_ok(n_sum + W + 4 * H, sizeof(double), &bytes);
    double *block = ok ? deja__alloc(&ch->c->alloc, bytes) : NULL;
    if (!block) {
        if (ch->status == DEJA_OK)
            ch->status =
                DEJA_ERR(ch->err, DEJA_NOMEM,
                         "chart: stacked areas: no memory for %zu series x %zu columns", S, W);
        return;
    }
    double *sum = block, *cnt = block + n_sum, *acc = cnt + W;
    memset(block, 0, (n_sum + W) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const double fx = (x[i] - ch->x0) / (ch->x1 - ch->x0) * (double)W;
        if (!(fx >= 0 && fx <= (double)W)) continue; /* also NaN */
        const size_t col = fx >= (double)W ? W - 1 : (size_t)fx;
        cnt[col] += 1;
        for (size_t s = 0; s < S; s++) {
            const double v = ys[s][i];
            if (v > 0 && isfinite(v)) sum[s * W + col] += v;
        }
    }
    /* Means, then straight lines across the columns that got no sample. */
    size_t prev = SIZE_MAX;
    for (size_t col = 0; col < W; col++) {
        if (cnt[col] == 0) continue;
        for (size_t s = 0; s < S; s++)
            sum[s * W + col] /= cnt[col];
        if (prev != SIZE_MAX && col > prev + 1) {
            for (size_t k = prev + 1; k < col; k++) {
                const double t = (double)(k - prev) / (double)(col - prev);
                for (size_t s = 0; s < S; s++)
                    sum[s * W + k] = sum[s * W + prev] * (1 - t) + sum[s * W + col] * t;
                cnt[k] = -1; /* interpolated */
            }
        }
        prev = col;
    }
    deja__canvas *c = ch->c;
    const double top = ch->py, bot = ch->py + ch->ph;
    for (size_t col = 0; col < W; col++) {
        if (cnt[col] == 0) continue;
        memset(acc, 0, 4 * H * sizeof(double));
        double cum = 0;
        for (size_t s = 0; s < S; s++) {
            const double lo = cum;
            cum += sum[s * W + col];
            /* Screen span of the band, clamped to just outside the area (keeps ints defined). */
            double ya = deja__chart_py(ch, cum), yb = deja__chart_py(ch, lo);
            ya = ya < top ? top : ya > bot ? bot : ya;
            yb = yb < top ? top : yb > bot ? bot : yb;
            if (!(yb > ya)) continue;
            for (int r = (int)floor(ya); r < (int)ceil(yb) && r < ch->py + ch->ph; r++) {
                const double f = fmin(r + 1, yb) - fmax(r, ya);
                double *a = acc + 4 * (size_t)(r - ch->py);
                a[0] += f * (rgb[s] >> 16 & 255);
                a[1] += f * (rgb[s] >> 8 & 255);
                a[2] += f * (rgb[s] & 255);
                a[3] += f;
            }
        }
        const size_t px = (size_t)ch->px + col;
        for (size_t r = 0; r < H; r++) {
            const double *a = acc + 4 * r;
            if (a[3] <= 0) continue;
            uint8_t *p = c->rgb + (((size_t)ch->py + r) * (size_t)c->w + px) * 3;
            const double keep = a[3] >= 1 ? 0 : 1 - a[3], scale = a[3] > 1 ? 1 / a[3] : 1;
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)lround(fmin(255, a[k] * scale + keep * p[k]));
        }
    }
    deja__free(&ch->c->alloc, block, bytes);
}

/* ---- legend ------------------------------------------------------------------------------ */

deja_status deja__chart_end(deja__chart *ch)
{
    if (!usable(ch))
        return DEJA_ERR(ch ? ch->err : NULL, DEJA_INVALID_ARG,
                        "deja__chart_end: chart is NULL or was not begun");
    deja__canvas *c = ch->c;
    deja__canvas_unclip(c);
    if (ch->n_legend == 0 || ch->legend_corner < 0 || ch->legend_corner > 3) return ch->status;
    const int sc = ch->scale, in = 6 * sc, sw = 22 * sc, gap = 6 * sc, row = 16 * sc;
    const int fh = DEJA__FONT_HEIGHT * sc;
    int text_w = 0;
    for (int i = 0; i < ch->n_legend; i++) {
        const int w = deja__text_width(ch->legend[i].text, sc);
        if (w > text_w) text_w = w;
    }
    const int bw = in + sw + gap + text_w + in, bh = in + (ch->n_legend - 1) * row + fh + in;
    const int m = 8 * sc, corner = ch->legend_corner;
    const int bx = corner == 1 || corner == 3 ? ch->px + m : ch->px + ch->pw - m - bw;
    const int by = corner >= 2 ? ch->py + ch->ph - m - bh : ch->py + m;
    deja__fill_rect(c, bx, by, bx + bw, by + bh, COL_BOX);
    deja__fill_rect(c, bx + 1, by + 1, bx + bw - 1, by + bh - 1, 0xFFFFFFu);
    for (int i = 0; i < ch->n_legend; i++) {
        const deja__legend_entry *e = &ch->legend[i];
        const int ty = by + in + i * row, yc = ty + (DEJA__FONT_CAP_TOP + DEJA__FONT_BASE) / 2 * sc;
        const int sx = bx + in;
        if (e->kind & KIND_LINE)
            deja__line(c, sx + 1, yc + 0.5, sx + sw - 1, yc + 0.5, 2.5f * sc, e->rgb);
        if (e->kind & KIND_MARKER) {
            deja__disc(c, sx + sw * 0.5, yc + 0.5, 5.2f * sc, 0xFFFFFFu);
            deja__disc(c, sx + sw * 0.5, yc + 0.5, 4.0f * sc, e->rgb);
        }
        if (e->kind & KIND_AREA) deja__fill_rect(c, sx, yc - 5 * sc, sx + sw, yc + 5 * sc, e->rgb);
        if (e->kind & KIND_GREY) {
            /* a ramp from white to dark, framed so that its white end shows */
            deja__fill_rect(c, sx, yc - 5 * sc, sx + sw, yc + 5 * sc, COL_BOX);
            for (int k = 1; k < sw - 1; k++) {
                const uint32_t g = (uint32_t)(255 - (255 - GREY_DARK) * k / (sw - 2));
                deja__fill_rect(c, sx + k, yc - 5 * sc + 1, sx + k + 1, yc + 5 * sc - 1,
                                g << 16 | g << 8 | g);
            }
        }
        deja__text(c, sx + sw + gap, ty, e->text, sc, DEJA__LEFT | DEJA__TOP, COL_TEXT);
    }
    return ch->status;
}
