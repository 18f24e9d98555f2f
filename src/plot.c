/* plot.c - the canvas of src/plot.h: an RGB raster, clipped anti-aliased primitives, PNG output.
 *
 * How it works. Lines and discs are drawn by coverage from a distance field: a pixel whose
 * centre lies at distance d from the ideal shape (a segment with round caps of radius r, or a
 * disc of radius r) is blended with alpha clamp(r + 0.5 - d, 0, 1). That is a one-pixel linear
 * ramp across the edge, the same idea as Xiaolin Wu's lines but for any width, and each pixel is
 * visited once per primitive so nothing is blended twice inside one segment. Only a band of
 * pixels around the segment is visited (per column for shallow segments, per row for steep
 * ones), and segments are first clipped (Liang & Barsky 1984) to the clip rectangle grown by the
 * line width, so huge coordinates cost nothing and never reach integer conversion.
 *
 * PNG. libpng writes 8-bit RGB rows straight from the raster. Its memory comes from the deja
 * allocator (with a size header in front of each block, since deja_allocator.free wants the
 * size back); its fatal errors longjmp to a small noinline function whose state all lives in a
 * context struct owned by the caller, as in decode.c. A failed file write removes the file.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#ifdef DEJA_HAVE_PNG
#include <png.h>
#endif

uint32_t deja__palette(int i)
{
    static const uint32_t order[8] = {DEJA__OI_BLUE,      DEJA__OI_ORANGE, DEJA__OI_GREEN,
                                      DEJA__OI_VERMILION, DEJA__OI_PURPLE, DEJA__OI_SKY,
                                      DEJA__OI_YELLOW,    DEJA__OI_BLACK};
    return order[(unsigned)i % 8u];
}

/* ---- canvas ------------------------------------------------------------------------------ */

deja_status deja__canvas_init(deja__canvas *c, const deja_options *o, int w, int h, char *err)
{
    if (!c) return DEJA_ERR(err, DEJA_INVALID_ARG, "deja__canvas_init: canvas is NULL");
    if (w < 1 || h < 1)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "canvas %dx%d: width and height must be >= 1", w, h);
    const deja_options r = deja__options_resolve(o);
    if (w > DEJA__CANVAS_MAX_SIDE || h > DEJA__CANVAS_MAX_SIDE ||
        (uint64_t)w * (uint64_t)h > r.max_pixels)
        return DEJA_ERR(err, DEJA_LIMIT,
                        "canvas %dx%d too large: each side <= %d and w*h <= max_pixels %llu", w, h,
                        DEJA__CANVAS_MAX_SIDE, (unsigned long long)r.max_pixels);
    deja_allocator a = deja__allocator(&r);
    size_t bytes;
    if (!deja__mul_ok((size_t)w * (size_t)h, 3, &bytes))
        return DEJA_ERR(err, DEJA_LIMIT, "canvas %dx%d: size overflows", w, h);
    uint8_t *px = deja__alloc(&a, bytes);
    if (!px) return DEJA_ERR(err, DEJA_NOMEM, "canvas %dx%d: no memory for %zu bytes", w, h, bytes);
    memset(px, 255, bytes);
    *c = (deja__canvas){w, h, px, a, 0, 0, w, h};
    return DEJA_OK;
}

void deja__canvas_free(deja__canvas *c)
{
    if (!c) return;
    if (c->rgb) deja__free(&c->alloc, c->rgb, (size_t)c->w * (size_t)c->h * 3);
    memset(c, 0, sizeof *c);
}

void deja__canvas_clip(deja__canvas *c, int x0, int y0, int x1, int y1)
{
    c->clip_x0 = x0 < 0 ? 0 : x0 > c->w ? c->w : x0;
    c->clip_y0 = y0 < 0 ? 0 : y0 > c->h ? c->h : y0;
    c->clip_x1 = x1 < c->clip_x0 ? c->clip_x0 : x1 > c->w ? c->w : x1;
    c->clip_y1 = y1 < c->clip_y0 ? c->clip_y0 : y1 > c->h ? c->h : y1;
}

void deja__canvas_unclip(deja__canvas *c)
{
    deja__canvas_clip(c, 0, 0, c->w, c->h);
}

uint32_t deja__canvas_get(const deja__canvas *c, int x, int y)
{
    if (!c || !c->rgb || x < 0 || y < 0 || x >= c->w || y >= c->h) return 0;
    const uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* ---- primitives -------------------------------------------------------------------------- */

void deja__fill_rect(deja__canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    if (x0 < c->clip_x0) x0 = c->clip_x0;
    if (y0 < c->clip_y0) y0 = c->clip_y0;
    if (x1 > c->clip_x1) x1 = c->clip_x1;
    if (y1 > c->clip_y1) y1 = c->clip_y1;
    if (x0 >= x1 || y0 >= y1) return;
    const uint8_t r = (uint8_t)(rgb >> 16), g = (uint8_t)(rgb >> 8), b = (uint8_t)rgb;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x0) * 3;
        for (int x = x0; x < x1; x++, p += 3) {
            p[0] = r;
            p[1] = g;
            p[2] = b;
        }
    }
}

void deja__blend(deja__canvas *c, int x, int y, uint32_t rgb, float a)
{
    if (x < c->clip_x0 || y < c->clip_y0 || x >= c->clip_x1 || y >= c->clip_y1) return;
    if (!(a > 0)) return; /* also NaN */
    const unsigned k = a >= 1 ? 255u : (unsigned)(a * 255.0f + 0.5f), l = 255u - k;
    if (k == 0) return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = (uint8_t)(((rgb >> 16 & 255u) * k + p[0] * l + 127u) / 255u);
    p[1] = (uint8_t)(((rgb >> 8 & 255u) * k + p[1] * l + 127u) / 255u);
    p[2] = (uint8_t)(((rgb & 255u) * k + p[2] * l + 127u) / 255u);
}

/* Liang-Barsky: clip the segment to [xa, xb] x [ya, yb]; false if nothing is left. */
static bool clip_segment(double *x0, double *y0, double *x1, double *y1, double xa, double ya,
                         double xb, double yb)
{
    const double dx = *x1 - *x0, dy = *y1 - *y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {*x0 - xa, xb - *x0, *y0 - ya, yb - *y0};
    double t0 = 0, t1 = 1;
    for (int k = 0; k < 4; k++) {
        if (p[k] == 0) {
            if (q[k] < 0) return false; /* parallel and outside */
            continue;
        }
        const double t = q[k] / p[k];
        if (p[k] < 0) {
            if (t > t1) return false;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return false;
            if (t < t1) t1 = t;
        }
    }
    const double ox = *x0, oy = *y0;
    *x0 = ox + t0 * dx;
    *y0 = oy + t0 * dy;
    *x1 = ox + t1 * dx;
    *y1 = oy + t1 * dy;
    return true;
}

/* Coverage of pixel (i, j) by the capsule of radius r around (x0,y0)-(x0+dx,y0+dy). */
static float capsule_cover(int i, int j, double x0, double y0, double dx, double dy, double len2,
                           double r)
{
    const double px = i + 0.5 - x0, py = j + 0.5 - y0;
    double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const double ex = px - t * dx, ey = py - t * dy;
    return (float)(r + 0.5 - sqrt(ex * ex + ey * ey));
}

static int clampi(double v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

void deja__line(deja__canvas *c, double x0, double y0, double x1, double y1, float width,
                uint32_t rgb)
{
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    if (!(width >= 1)) width = 1; /* also NaN */
    if (width > 1000) width = 1000;
    const double r = width * 0.5, grow = r + 2;
    if (!clip_segment(&x0, &y0, &x1, &y1, c->clip_x0 - grow, c->clip_y0 - grow, c->clip_x1 + grow,
                      c->clip_y1 + grow))
        return;
    const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy, len = sqrt(len2);
    const bool shallow = fabs(dx) >= fabs(dy);
    /* Walk the long axis; across it, pixels within r + 0.5 of the segment lie within `half` of
     * the centre line (which is clamped to the segment so the caps are covered too). */
    const double along = shallow ? fabs(dx) : fabs(dy);
    const double half = (r + 0.5) * (along > 0 ? len / along : 1) + 1;
    const double a0 = shallow ? x0 : y0, a1 = shallow ? x1 : y1;
    const int lo = shallow ? c->clip_x0 : c->clip_y0, hi = shallow ? c->clip_x1 : c->clip_y1;
    const int cross_lo = shallow ? c->clip_y0 : c->clip_x0;
    const int cross_hi = shallow ? c->clip_y1 : c->clip_x1;
    const int ia = clampi(floor((a0 < a1 ? a0 : a1) - r - 1), lo, hi);
    const int ib = clampi(ceil((a0 > a1 ? a0 : a1) + r + 1), lo, hi);
    for (int i = ia; i < ib; i++) {
        double t = along > 0 ? (i + 0.5 - a0) / (a1 - a0) : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const double mid = shallow ? y0 + t * dy : x0 + t * dx;
        const int ja = clampi(floor(mid - half), cross_lo, cross_hi);
        const int jb = clampi(ceil(mid + half), cross_lo, cross_hi);
        for (int j = ja; j < jb; j++) {
            const int x = shallow ? i : j, y = shallow ? j : i;
            deja__blend(c, x, y, rgb, capsule_cover(x, y, x0, y0, dx, dy, len2, r));
        }
    }
}

void deja__disc(deja__canvas *c, double cx, double cy, float r, uint32_t rgb)
{
    if (!isfinite(cx) || !isfinite(cy)) return;
    if (!(r >= 0.5f)) r = 0.5f;
    if (r > 1000) r = 1000;
    const int xa = clampi(floor(cx - r - 1), c->clip_x0, c->clip_x1);
    const int xb = clampi(ceil(cx + r + 1), c->clip_x0, c->clip_x1);
    const int ya = clampi(floor(cy - r - 1), c->clip_y0, c->clip_y1);
    const int yb = clampi(ceil(cy + r + 1), c->clip_y0, c->clip_y1);
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++)
            deja__blend(c, x, y, rgb, capsule_cover(x, y, cx, cy, 0, 0, 0, r));
}

/* ---- PNG --------------------------------------------------------------------------------- */

#ifdef DEJA_HAVE_PNG
typedef struct png_out {
    const deja__canvas *c;
    const char *name; /* path, or "<memory>" */
    FILE *f;          /* NULL: into buf */
    uint8_t *buf;
    size_t n, cap;
    bool nomem;
    png_structp png;
    png_infop info;
    jmp_buf jmp;
    char msg[256];
} png_out;

/* libpng's free does not pass the size, our allocator wants it: keep it in front of the block. */
typedef union block_head {
    size_t bytes;
    max_align_t align;
} block_head;

static png_voidp png_mem_alloc(png_structp png, png_alloc_size_t bytes)
{
    png_out *o = png_get_mem_ptr(png);
    size_t total;
    block_head *h = NULL;
    if (deja__add_ok(bytes, sizeof *h, &total)) h = deja__alloc(&o->c->alloc, total);
    if (!h) {
        o->nomem = true;
        return NULL;
    }
    h->bytes = total;
    return h + 1;
}

static void png_mem_free(png_structp png, png_voidp p)
{
    if (!p) return;
    png_out *o = png_get_mem_ptr(png);
    block_head *h = (block_head *)p - 1;
    deja__free(&o->c->alloc, h, h->bytes);
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);
    if (!o->msg[0]) snprintf(o->msg, sizeof o->msg, "%s", msg);
    longjmp(o->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_write_data(png_structp png, png_bytep data, size_t n)
{
    png_out *o = png_get_io_ptr(png);
    if (o->f) {
        if (fwrite(data, 1, n, o->f) != n) {
            snprintf(o->msg, sizeof o->msg, "write failed: %s", strerror(errno));
            png_error(png, o->msg);
        }
        return;
    }
    size_t need;
    if (!deja__add_ok(o->n, n, &need) ||
        !deja__reserve(&o->c->alloc, (void **)&o->buf, &o->cap, need, 1)) {
        o->nomem = true;
        snprintf(o->msg, sizeof o->msg, "no memory for %zu PNG bytes", o->n + n);
        png_error(png, o->msg);
    }
    memcpy(o->buf + o->n, data, n);
    o->n += n;
}

static void png_flush_data(png_structp png)
{
    png_out *o = png_get_io_ptr(png);
    if (o->f) fflush(o->f);
}

/* Everything libpng touches after setjmp lives in *o (owned by the caller). */
__attribute__((noinline)) static deja_status png_run(png_out *o, char *err)
{
    const deja__canvas *c = o->c;
    if (setjmp(o->jmp))
        return DEJA_ERR(err, o->nomem ? DEJA_NOMEM : DEJA_IO, "%s: PNG: %s", o->name, o->msg);
    o->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, o, png_on_error, png_on_warning, o,
                                       png_mem_alloc, png_mem_free);
    if (o->png) o->info = png_create_info_struct(o->png);
    if (!o->png || !o->info)
        return DEJA_ERR(err, DEJA_NOMEM, "%s: PNG: cannot create the libpng writer", o->name);
    png_set_write_fn(o->png, o, png_write_data, png_flush_data);
    png_set_compression_level(o->png, 6);
    png_set_IHDR(o->png, o->info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(o->png, o->info);
    for (int y = 0; y < c->h; y++)
        png_write_row(o->png, c->rgb + (size_t)y * (size_t)c->w * 3);
    png_write_end(o->png, o->info);
    return DEJA_OK;
}

static deja_status png_encode(png_out *o, char *err)
{
    deja_status st = png_run(o, err);
    if (o->png) png_destroy_write_struct(&o->png, o->info ? &o->info : NULL);
    return st;
}
#endif

static deja_status check_canvas(const deja__canvas *c, const char *name, char *err)
{
    if (!c || !c->rgb || c->w < 1 || c->h < 1)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: PNG: canvas is NULL or empty", name);
    return DEJA_OK;
}

deja_status deja__canvas_write_png(const deja__canvas *c, const char *path, char *err)
{
    if (!path) return DEJA_ERR(err, DEJA_INVALID_ARG, "deja__canvas_write_png: path is NULL");
    deja_status st = check_canvas(c, path, err);
    if (st != DEJA_OK) return st;
#ifdef DEJA_HAVE_PNG
    png_out o;
    memset(&o, 0, sizeof o);
    o.c = c;
    o.name = path;
    o.f = fopen(path, "wb");
    if (!o.f) return DEJA_ERR(err, DEJA_IO, "%s: cannot create: %s", path, strerror(errno));
    st = png_encode(&o, err);
    if (fclose(o.f) != 0 && st == DEJA_OK)
        st = DEJA_ERR(err, DEJA_IO, "%s: write failed: %s", path, strerror(errno));
    if (st != DEJA_OK) remove(path);
    return st;
#else
    return DEJA_ERR(err, DEJA_UNSUPPORTED,
                    "%s: PNG output not compiled in (built with DEJA_PNG=OFF)", path);
#endif
}

deja_status deja__canvas_png_bytes(const deja__canvas *c, uint8_t **out, size_t *n, char *err)
{
    if (!out || !n)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "deja__canvas_png_bytes: out or n is NULL");
    deja_status st = check_canvas(c, "<memory>", err);
    if (st != DEJA_OK) return st;
#ifdef DEJA_HAVE_PNG
    png_out o;
    memset(&o, 0, sizeof o);
    o.c = c;
    o.name = "<memory>";
    st = png_encode(&o, err);
    /* Hand back an exact-size block so that the caller can free it with n alone. */
    uint8_t *exact = NULL;
    if (st == DEJA_OK && !(exact = deja__alloc(&c->alloc, o.n)))
        st = DEJA_ERR(err, DEJA_NOMEM, "<memory>: PNG: no memory for %zu bytes", o.n);
    if (exact) memcpy(exact, o.buf, o.n);
    deja__free(&c->alloc, o.buf, o.cap);
    if (st != DEJA_OK) return st;
    *out = exact;
    *n = o.n;
    return DEJA_OK;
#else
    return DEJA_ERR(err, DEJA_UNSUPPORTED,
                    "<memory>: PNG output not compiled in (built with DEJA_PNG=OFF)");
#endif
}

void deja__png_bytes_free(const deja__canvas *c, uint8_t *p, size_t n)
{
    if (c && p) deja__free(&c->alloc, p, n);
}
