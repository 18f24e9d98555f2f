/* plot.h - deja's own small plotting library: an RGB raster with anti-aliased drawing, a bitmap
 * font, charts with nice axes and a legend, and PNG output through libpng (DEJA_HAVE_PNG).
 *
 * Coordinates are pixels, x right, y down; pixel (i, j) covers [i, i+1) x [j, j+1), so a line at
 * y = j + 0.5 and width 1 lands exactly on row j. Colours are 0xRRGGBB. Every primitive clips to
 * the canvas clip rectangle (initially the whole canvas) and never writes outside the raster.
 * Charts map data to a plot area, clip series to it, and skip NaN/inf points. Text is ASCII
 * 32..126 in a hand-drawn 5x12 font on a 6 px advance (other bytes draw as '?').
 *
 * Memory: the raster and all scratch go through the deja_allocator of the options given to
 * deja__canvas_init. No globals; one thread per canvas at a time. See docs/plot.md. */
#ifndef DEJA_PLOT_H
#define DEJA_PLOT_H

#include "base.h"

/* Okabe & Ito (2008) colour-blind-safe palette, and deja__palette(i)'s series order. */
#define DEJA__OI_BLACK     0x000000u
#define DEJA__OI_ORANGE    0xE69F00u
#define DEJA__OI_SKY       0x56B4E9u
#define DEJA__OI_GREEN     0x009E73u
#define DEJA__OI_YELLOW    0xF0E442u
#define DEJA__OI_BLUE      0x0072B2u
#define DEJA__OI_VERMILION 0xD55E00u
#define DEJA__OI_PURPLE    0xCC79A7u
/* Series colour i (any i >= 0, cycles after 8): blue, orange, green, vermilion, purple, sky,
 * yellow, black. */
uint32_t deja__palette(int i);

/* Canvas: w x h pixels, 3 bytes each, rows top to bottom, stride 3 w. */
typedef struct deja__canvas {
    int w, h;
    uint8_t *rgb;
    deja_allocator alloc;
    int clip_x0, clip_y0, clip_x1, clip_y1; /* drawing limited to [x0, x1) x [y0, y1) */
} deja__canvas;

/* The size charts are designed for; text doubles from about twice that. */
#define DEJA__PLOT_W 900
#define DEJA__PLOT_H 500
/* Largest side accepted; w * h is also limited by options.max_pixels (default 1 << 26). */
#define DEJA__CANVAS_MAX_SIDE 32768

/* A white canvas. INVALID_ARG for w or h < 1, LIMIT past the limits above, NOMEM. err (may be
 * NULL) receives the message, DEJA_ERROR_BYTES long. o may be NULL (malloc). */
DEJA_NODISCARD deja_status deja__canvas_init(deja__canvas *c, const deja_options *o, int w, int h,
                                             char *err);
void deja__canvas_free(deja__canvas *c); /* zeroed canvas ok; leaves it zeroed */
/* Limit drawing to [x0, x1) x [y0, y1) intersected with the canvas; unclip resets. */
void deja__canvas_clip(deja__canvas *c, int x0, int y0, int x1, int y1);
void deja__canvas_unclip(deja__canvas *c);
/* 0xRRGGBB of pixel (x, y); 0 outside the canvas. */
uint32_t deja__canvas_get(const deja__canvas *c, int x, int y);

/* ---- primitives (all clip; non-finite coordinates draw nothing) -------------------------- */

/* Opaque fill of whole pixels [x0, x1) x [y0, y1). */
void deja__fill_rect(deja__canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb);
/* Blend rgb over pixel (x, y) with coverage a in [0, 1]. */
void deja__blend(deja__canvas *c, int x, int y, uint32_t rgb, float a);
/* Anti-aliased line with round caps, width >= 1 px (smaller widths are drawn as 1). Coverage is
 * from the distance of each pixel centre to the segment, so a pixel is blended once per call. */
void deja__line(deja__canvas *c, double x0, double y0, double x1, double y1, float width,
                uint32_t rgb);
/* Anti-aliased filled disc of radius r px (r >= 0.5). */
void deja__disc(deja__canvas *c, double cx, double cy, float r, uint32_t rgb);

/* ---- text --------------------------------------------------------------------------------- */

/* Anchor: one horizontal and one vertical flag, OR-ed. For horizontal text: x is the left,
 * centre or right edge of the ink box; y is the top of the 12-px cell, the middle of the capital
 * letters (or digits), or the bottom of the cell. Vertical text turns the box 90 degrees
 * counter-clockwise (reads bottom to top); the flags then name the turned box's edges on screen. */
enum {
    DEJA__LEFT = 0,
    DEJA__CENTER = 1,
    DEJA__RIGHT = 2,
    DEJA__TOP = 0,
    DEJA__MIDDLE = 4,
    DEJA__BOTTOM = 8
};
#define DEJA__FONT_ADVANCE 6 /* px per character at scale 1 */
#define DEJA__FONT_HEIGHT  12
#define DEJA__FONT_CAP_TOP 2 /* capital letters occupy rows 2..9, lower case 4..9 */
#define DEJA__FONT_BASE    10

/* Width in px of the ink box of s at scale (advance * length - one gap; 0 for ""). Scales are
 * clamped to 1..1000 and strings cut at 10000 characters everywhere. */
int deja__text_width(const char *s, int scale);
/* Draw s (NUL-terminated) at an integer scale with the given anchor. */
void deja__text(deja__canvas *c, int x, int y, const char *s, int scale, int anchor, uint32_t rgb);
void deja__text_vertical(deja__canvas *c, int x, int y, const char *s, int scale, int anchor,
                         uint32_t rgb);
/* Row r (0..11) of character ch as 5 bits, bit 4 = leftmost column; '?' for bytes outside
 * 32..126. */
unsigned deja__glyph_row(unsigned char ch, int r);

/* ---- PNG ---------------------------------------------------------------------------------- */

/* 8-bit RGB PNG. DEJA_UNSUPPORTED when built without libpng; IO when the file cannot be
 * written; NOMEM. */
DEJA_NODISCARD deja_status deja__canvas_write_png(const deja__canvas *c, const char *path,
                                                  char *err);
/* The same PNG in memory: *out (exactly *n bytes) comes from the canvas's allocator; release it
 * with deja__png_bytes_free. Out-params are set only on success. */
DEJA_NODISCARD deja_status deja__canvas_png_bytes(const deja__canvas *c, uint8_t **out, size_t *n,
                                                  char *err);
void deja__png_bytes_free(const deja__canvas *c, uint8_t *p, size_t n);

/* ---- axes --------------------------------------------------------------------------------- */

/* A range that contains [lo, hi] and starts and ends on multiples of step, where step is 1, 2 or
 * 5 times a power of ten, chosen to give about `ticks` intervals (default 6 when ticks < 1).
 * lo > hi is swapped; lo == hi widens around the value; NaN or inf gives [0, 1]. */
void deja__nice_range(double lo, double hi, int ticks, double *nlo, double *nhi, double *step);
/* Tick label of v for ticks `step` apart on an axis whose largest |value| is amax: fixed
 * decimals as many as step needs ("0.25", "-3", "0"), or a short exponent ("2e4", "1.5e5",
 * "5e-4") when amax >= 1e5 or amax < 1e-3. buf gets at most n bytes. */
void deja__tick_label(double v, double step, double amax, char *buf, size_t n);

/* ---- charts ------------------------------------------------------------------------------- */

typedef struct deja__chart_spec {
    const char *title, *xlabel, *ylabel; /* NULL or "" = none; put units in the labels */
    double xmin, xmax, ymin, ymax;       /* data range shown; a degenerate or non-finite range is
                                            widened with deja__nice_range */
    int equal_aspect;                    /* 1: one data unit is as many px along x as along y */
    int legend;                          /* 0 top-right, 1 top-left, 2 bottom-right,
                                            3 bottom-left, -1 no legend */
} deja__chart_spec;

#define DEJA__LEGEND_MAX  12
#define DEJA__LEGEND_TEXT 48

typedef struct deja__legend_entry {
    char text[DEJA__LEGEND_TEXT];
    uint32_t rgb;
    int kind; /* swatch: line and/or marker, area, grey ramp */
} deja__legend_entry;

/* One chart on a canvas. Series calls clip to the plot area; a failure in one (NOMEM) is kept
 * and returned by deja__chart_end. Widths and radii are in px at the default size; where the
 * text doubles (canvases from about 1700 x 950) they double too. */
typedef struct deja__chart {
    deja__canvas *c;
    double x0, x1, y0, y1; /* data range after widening / equal aspect */
    int px, py, pw, ph;    /* plot area [px, px+pw) x [py, py+ph) */
    int scale;             /* text scale */
    int legend_corner;
    int n_legend;
    deja__legend_entry legend[DEJA__LEGEND_MAX];
    deja_status status;
    char *err;
} deja__chart;

/* Lays out the plot area from the label sizes (the canvas must be at least 160 x 120), clears it
 * to white and draws the title, grid, ticks, tick labels and axis labels. err (may be NULL) must
 * outlive the chart; later series errors are written there too. */
DEJA_NODISCARD deja_status deja__chart_begin(deja__chart *ch, deja__canvas *c,
                                             const deja__chart_spec *s, char *err);
/* Data to pixel (continuous) coordinates. */
double deja__chart_px(const deja__chart *ch, double x);
double deja__chart_py(const deja__chart *ch, double y);

/* Polyline through (x[i], y[i]); a non-finite point breaks it. legend NULL = no entry; a line
 * and points given the same legend text and colour share one entry (a line with a marker). */
void deja__chart_line(deja__chart *ch, const double *x, const double *y, size_t n, uint32_t rgb,
                      float width, const char *legend);
/* Discs of radius px with a white rim, so that overlapping markers stay apart. */
void deja__chart_points(deja__chart *ch, const double *x, const double *y, size_t n, uint32_t rgb,
                        float radius, const char *legend);
/* n segments, xy4 = x0 y0 x1 y1 per segment. */
void deja__chart_segments(deja__chart *ch, const double *xy4, size_t n, uint32_t rgb, float width,
                          const char *legend);
/* Stacked areas: ys[s][i] of series s at x[i] (s = 0 at the bottom), negative and non-finite
 * values count as 0. Each pixel column shows the mean of the samples that fall in it; columns
 * between samples interpolate, so 10 or 10^5 samples both read well. x need not be sorted. */
void deja__chart_stacked(deja__chart *ch, const double *x, const double *const *ys, size_t n_series,
                         size_t n, const uint32_t *rgb, const char *const *legends);
/* Filled squares of data size `cell` (at least 1 px) centred on (x[i], y[i]). */
void deja__chart_cells(deja__chart *ch, const double *x, const double *y, size_t n, double cell,
                       uint32_t rgb, const char *legend);
/* The same with a grey level per cell: v[i] in [0, 1] goes from white (0) to dark grey (1). */
void deja__chart_grey_cells(deja__chart *ch, const double *x, const double *y, const double *v,
                            size_t n, double cell, const char *legend);
/* Redraws the frame over the data, draws the legend box; returns the first series error. */
DEJA_NODISCARD deja_status deja__chart_end(deja__chart *ch);

#endif
