/* synth.c - deterministic textured scenes: a "place" is a canvas of random shapes (rectangles,
 * ellipses, stripes, blobs) with fine noise, large enough to hold corners at every scale; a view
 * of it is an affine crop (rotation, scale, shift) with lighting change and sensor noise.
 * Everything derives from (seed, place, view) through splitmix64, so runs are repeatable. */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uni(uint64_t *s)
{
    return (double)(mix(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int irange(uint64_t *s, int lo, int hi)
{
    return lo + (int)(uni(s) * (hi - lo + 1));
}

typedef struct {
    int w, h;
    uint8_t *p;
} canvas;

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, int v)
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    for (int y = y0; y < y1; y++) memset(c->p + (size_t)y * c->w + x0, v, (size_t)(x1 - x0 > 0 ? x1 - x0 : 0));
}

static void fill_ellipse(canvas *c, double cx, double cy, double rx, double ry, int v)
{
    int y0 = (int)(cy - ry), y1 = (int)(cy + ry) + 1;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++) {
        double t = (y - cy) / ry, half = 1 - t * t;
        if (half <= 0) continue;
        double dx = rx * sqrt(half);
        int a = (int)(cx - dx), b = (int)(cx + dx);
        if (a < 0) a = 0;
        if (b >= c->w) b = c->w - 1;
        if (b >= a) memset(c->p + (size_t)y * c->w + a, v, (size_t)(b - a + 1));
    }
}

static void stripes(canvas *c, int x0, int y0, int x1, int y1, int period, int v0, int v1, int vertical)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) {
            int t = vertical ? x : y;
            c->p[(size_t)y * c->w + x] = (uint8_t)((t / period) % 2 ? v1 : v0);
        }
}

/* Place canvas: 2x the view size so that views can move and rotate inside it. */
static bool render_place(uint64_t seed, int place, int w, int h, canvas *c)
{
    c->w = w;
    c->h = h;
    c->p = malloc((size_t)w * h);
    if (!c->p) return false;
    uint64_t s = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(place + 1));
    int base = irange(&s, 60, 190);
    memset(c->p, base, (size_t)w * h);
    int n_shapes = (w * h) / 2500;
    for (int i = 0; i < n_shapes; i++) {
        int kind = irange(&s, 0, 9), v = irange(&s, 0, 255);
        int x = irange(&s, -20, w), y = irange(&s, -20, h);
        int sx = irange(&s, 6, 90), sy = irange(&s, 6, 90);
        if (kind <= 4) fill_rect(c, x, y, x + sx, y + sy, v);
        else if (kind <= 7) fill_ellipse(c, x, y, sx / 2.0 + 2, sy / 2.0 + 2, v);
        else stripes(c, x, y, x + sx, y + sy, irange(&s, 3, 9), v, 255 - v, kind == 9);
    }
    /* Fine texture so that blank areas still carry some corners. */
    for (size_t i = 0; i < (size_t)w * h; i++) {
        int t = c->p[i] + (int)(mix(&s) % 17) - 8;
        c->p[i] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
    }
    return true;
}

bool deja__synth_render(uint64_t seed, int place, int view, int width, int height,
                        deja__synth_image *out)
{
    canvas c;
    int cw = width * 2, ch = height * 2;
    if (!render_place(seed, place, cw, ch, &c)) return false;
    out->width = width;
    out->height = height;
    out->pixels = malloc((size_t)width * height);
    if (!out->pixels) {
        free(c.p);
        return false;
    }
    /* View parameters: canonical for view 0, then a random small viewpoint and lighting change. */
    uint64_t s = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(place + 7)) ^ ((uint64_t)view << 40);
    double ang = 0, scale = 1, dx = 0, dy = 0, gain = 1, bias = 0, noise = 0;
    if (view != 0) {
        ang = (uni(&s) - 0.5) * 0.2;       /* +-5.7 degrees */
        scale = 0.88 + uni(&s) * 0.24;      /* 0.88 .. 1.12 */
        dx = (uni(&s) - 0.5) * width * 0.12;
        dy = (uni(&s) - 0.5) * height * 0.12;
        gain = 0.75 + uni(&s) * 0.5;
        bias = (uni(&s) - 0.5) * 50;
        noise = 4;
    }
    double ca = cos(ang) / scale, sa = sin(ang) / scale;
    double cx = cw / 2.0 + dx, cy = ch / 2.0 + dy;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            double u = x - width / 2.0, v = y - height / 2.0;
            double px = cx + ca * u - sa * v, py = cy + sa * u + ca * v;
            int ix = (int)floor(px), iy = (int)floor(py);
            double fx = px - ix, fy = py - iy, val = 0;
            if (ix >= 0 && iy >= 0 && ix + 1 < cw && iy + 1 < ch) {
                const uint8_t *r = c.p + (size_t)iy * cw + ix;
                val = (r[0] * (1 - fx) + r[1] * fx) * (1 - fy) + (r[cw] * (1 - fx) + r[cw + 1] * fx) * fy;
            }
            val = val * gain + bias;
            if (noise > 0) val += ((double)(mix(&s) % 1000) / 1000.0 - 0.5) * 2 * noise;
            out->pixels[(size_t)y * width + x] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val + 0.5);
        }
    }
    free(c.p);
    return true;
}

void deja__synth_free(deja__synth_image *im)
{
    free(im->pixels);
    im->pixels = NULL;
}
