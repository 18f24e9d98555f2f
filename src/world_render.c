/* world_render.c - rendering a frame of the synthetic world by per-column ray casting.
 *
 * The camera looks horizontally, so every image column is one horizontal ray through the plan
 * (the classic "2.5D" ray caster). The ray walks the uniform grid of wall pieces cell by cell
 * (Amanatides & Woo 1987, "A fast voxel traversal algorithm") and keeps the nearest front-facing
 * hit, which gives the depth s along the optical axis and the position u along the wall. In that
 * column the wall spans the rows whose height h - s (y - cy) / fy lies between floor and
 * ceiling, and the wall texture coordinate is affine in y: the texture column is sampled with a
 * constant step (bilinear, from the mip level matching the footprint of a pixel). Rows above and
 * below show the ceiling and floor at depth h fy / (y - cy): the point is the camera centre plus
 * that depth times the column's ray, looked up in the per-world tile tables (floor casting).
 * Light falls off with depth. Columns are drawn into a column-major buffer (contiguous writes),
 * then transposed in 8-row strips into the caller's rows while the nuisances are applied: a
 * horizontal box blur of the yaw smear, gain and bias, and noise that is the sum of four uniform
 * bytes (Irwin-Hall, close to Gaussian), from splitmix64 seeded per frame and row.
 * Cost is O(pixels) with a few integer operations each; nothing is allocated per frame. */
#include "world_impl.h"

#include <math.h>
#include <string.h>

#define MAX_DEPTH 4096.0f
#define IH_SD     147.80 /* standard deviation of the sum of 4 uniform bytes */

static size_t view_bytes(int w, int h)
{
    return (size_t)w * h + (size_t)h * sizeof(world_row) +
           (size_t)w * (sizeof(int32_t) + 2 * sizeof(float) + 1) +
           (size_t)(w + 1) * sizeof(uint32_t);
}

deja_status deja__world_view_init(deja__world_view *v, const deja__world *w,
                                  const deja_allocator *a)
{
    memset(v, 0, sizeof *v);
    v->w = w;
    v->a = *a;
    v->width = w->p.width;
    v->height = w->p.height;
    size_t W = (size_t)v->width, H = (size_t)v->height;
    v->col = deja__alloc(a, W * H);
    v->rows = deja__alloc(a, H * sizeof(world_row));
    v->hit_wall = deja__alloc(a, W * sizeof(int32_t));
    v->hit_s = deja__alloc(a, W * sizeof(float));
    v->hit_u = deja__alloc(a, W * sizeof(float));
    v->hit_mip = deja__alloc(a, W);
    v->prefix = deja__alloc(a, (W + 1) * sizeof(uint32_t));
    if (!v->col || !v->rows || !v->hit_wall || !v->hit_s || !v->hit_u || !v->hit_mip ||
        !v->prefix) {
        deja__world_view_release(v);
        return DEJA_ERR(NULL, DEJA_NOMEM, "world view: scratch for %zux%zu", W, H);
    }
    v->bytes = view_bytes(v->width, v->height);
    return DEJA_OK;
}

void deja__world_view_release(deja__world_view *v)
{
    size_t W = (size_t)v->width, H = (size_t)v->height;
    const deja_allocator *a = &v->a;
    deja__free(a, v->col, W * H);
    deja__free(a, v->rows, H * sizeof(world_row));
    deja__free(a, v->hit_wall, W * sizeof(int32_t));
    deja__free(a, v->hit_s, W * sizeof(float));
    deja__free(a, v->hit_u, W * sizeof(float));
    deja__free(a, v->hit_mip, W);
    deja__free(a, v->prefix, (W + 1) * sizeof(uint32_t));
    memset(v, 0, sizeof *v);
}

/* ---- geometry ---------------------------------------------------------------------------- */

/* Nearest front-facing wall along (px, py) + s (dx, dy), s > 0; -1 when the ray leaves the
 * grid without a hit (a camera outside the plan). */
static int32_t cast(const deja__world *w, double px, double py, double dx, double dy, float *s_out,
                    float *u_out)
{
    double cell = w->cell_m, inf = 1e300;
    int ci = (int)floor(px / cell), cj = (int)floor(py / cell);
    if (ci < 0 || cj < 0 || ci >= w->grid_w || cj >= w->grid_h) return -1;
    int si = dx > 0 ? 1 : -1, sj = dy > 0 ? 1 : -1;
    double tx = dx != 0 ? ((ci + (dx > 0)) * cell - px) / dx : inf;
    double ty = dy != 0 ? ((cj + (dy > 0)) * cell - py) / dy : inf;
    double ddx = dx != 0 ? cell / fabs(dx) : inf, ddy = dy != 0 ? cell / fabs(dy) : inf;
    double best = inf, best_u = 0;
    int32_t hit = -1;
    for (;;) {
        size_t c = (size_t)cj * w->grid_w + ci;
        for (uint32_t k = w->cell_start[c]; k < w->cell_start[c + 1]; k++) {
            const world_wall *wl = &w->walls[w->cell_items[k]];
            double den = wl->nx * dx + wl->ny * dy;
            if (den >= -1e-12) continue; /* seen from behind or edge-on */
            double s = (wl->nx * (wl->x0 - px) + wl->ny * (wl->y0 - py)) / den;
            if (s <= 1e-9 || s >= best) continue;
            double u = (px + s * dx - wl->x0) * wl->tx + (py + s * dy - wl->y0) * wl->ty;
            if (u < -1e-7 || u > wl->len + 1e-7) continue;
            best = s;
            best_u = u < 0 ? 0 : u > wl->len ? wl->len : u;
            hit = (int32_t)w->cell_items[k];
        }
        /* a hit inside this cell cannot be beaten by a later cell */
        if (hit >= 0 && best <= (tx < ty ? tx : ty)) break;
        if (tx < ty) {
            ci += si;
            tx += ddx;
        } else {
            cj += sj;
            ty += ddy;
        }
        if (ci < 0 || cj < 0 || ci >= w->grid_w || cj >= w->grid_h) break;
    }
    *s_out = (float)best;
    *u_out = (float)best_u;
    return hit;
}

/* Distance fall-off of the lighting, 256 = 1.0: about 2/3 at 12 m, 0.4 at 40 m. */
static uint16_t light_of(double depth)
{
    double q = depth / 12;
    return (uint16_t)lround(256 * (0.35 + 0.65 / (1 + q * q)));
}

static inline uint8_t clamp8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Floor (below the horizon) or ceiling texel seen at depth row r along the column's ray. */
static inline uint8_t floor_texel(const deja__world *w, const world_row *r, float px, float py,
                                  float dx, float dy)
{
    int32_t xi = (int32_t)((px + r->depth * dx) * 1024),
            yi = (int32_t)((py + r->depth * dy) * 1024);
    int tx = xi >> WORLD_TILE_SHIFT, ty = yi >> WORLD_TILE_SHIFT;
    tx = tx < 0 ? 0 : tx >= w->floor_w ? w->floor_w - 1 : tx;
    ty = ty < 0 ? 0 : ty >= w->floor_h ? w->floor_h - 1 : ty;
    int v = w->floor_map[(size_t)ty * w->floor_w + tx];
    int d = w->detail[((yi >> 2) & (WORLD_DETAIL - 1)) * WORLD_DETAIL +
                      ((xi >> 2) & (WORLD_DETAIL - 1))];
    v += ((d - 128) * r->detail) >> 8;
    int mask = (1 << WORLD_TILE_SHIFT) - 1;
    if ((xi & mask) < 10 || (yi & mask) < 10) v -= r->lines; /* grout, about 1 cm */
    return clamp8((v * r->light) >> 8);
}

static inline uint8_t ceil_texel(const deja__world *w, const world_row *r, float px, float py,
                                 float dx, float dy)
{
    int32_t xi = (int32_t)((px + r->depth * dx) * 1024),
            yi = (int32_t)((py + r->depth * dy) * 1024);
    int tx = xi >> WORLD_PANEL_SHIFT, ty = yi >> WORLD_PANEL_SHIFT;
    tx = tx < 0 ? 0 : tx >= w->ceil_w ? w->ceil_w - 1 : tx;
    ty = ty < 0 ? 0 : ty >= w->ceil_h ? w->ceil_h - 1 : ty;
    int kind = w->ceil_map[(size_t)ty * w->ceil_w + tx], v = kind;
    int fx = xi & 1023, fy = yi & 1023;
    if (fx < 16 || fy < 16)
        v = 190 - r->lines; /* panel frame */
    else if (kind >= 240)
        v = fx > 200 && fx < 824 && fy > 330 && fy < 694 ? 255 : 215; /* lamp */
    return clamp8((v * r->light) >> 8);
}

/* One wall column: rows [y0, y1] of out from texture level L of wall wl, hit at u metres. */
static void wall_column(const deja__world *w, const world_wall *wl, int L, double u, double s,
                        double h, int y0, int y1, int shade, uint8_t *out)
{
    int tw = (int)wl->tex_w[L], th = (int)wl->tex_h[L];
    const uint8_t *tex = w->atlas + wl->tex_off[L];
    double su = tw / wl->len, sv = th / w->p.wall_height_m; /* texels per metre at this level */
    double uf = u * su - 0.5;
    if (uf < 0) uf = 0;
    if (uf > tw - 1) uf = tw - 1;
    int u0 = (int)uf, u1 = u0 + 1 < tw ? u0 + 1 : u0, fu = (int)((uf - u0) * 256);
    const uint8_t *c0 = tex + (size_t)u0 * th, *c1 = tex + (size_t)u1 * th;
    /* height at row y is h - s (y - cy) / fy; v counts down from the top of the wall */
    double top = w->p.wall_height_m - h;
    int64_t v = llround(((top + s * (y0 - w->cy) / w->fy) * sv - 0.5) * 65536);
    int64_t dv = llround(s / w->fy * sv * 65536);
    /* 64-bit: at a grazing depth in a tiny image the step may exceed 2^31 */
    int64_t vmax = (int64_t)(th - 1) * 65536 - 1;
    for (int y = y0; y <= y1; y++, v += dv) {
        int32_t vc = (int32_t)(v < 0 ? 0 : v > vmax ? vmax : v);
        int vi = vc >> 16, fv = (vc >> 8) & 255;
        int a = c0[vi] * (256 - fv) + c0[vi + 1] * fv, b = c1[vi] * (256 - fv) + c1[vi + 1] * fv;
        int t = (a * (256 - fu) + b * fu + (1 << 15)) >> 16;
        out[y] = clamp8((t * shade) >> 8);
    }
}

/* The picture of pose p (no nuisances) into v->col, column-major. */
static void draw(deja__world_view *v, const deja__world_pose *p)
{
    const deja__world *w = v->w;
    int W = v->width, H = v->height;
    double h = p->z, Hw = w->p.wall_height_m;
    for (int y = 0; y < H; y++) {
        double dy = y - w->cy, depth = MAX_DEPTH;
        if (dy > 0.25)
            depth = h * w->fy / dy;
        else if (dy < -0.25)
            depth = (Hw - h) * w->fy / -dy;
        if (depth > MAX_DEPTH) depth = MAX_DEPTH;
        world_row *r = &v->rows[y];
        r->depth = (float)depth;
        r->light = light_of(depth);
        /* fade fine detail and thin lines with distance: they would alias into noise */
        r->detail = (uint16_t)lround(256 * fmax(0, 1 - depth / 6));
        r->lines = (int16_t)lround(60 * fmax(0, 1 - depth / 12));
    }
    double fx = cos(p->yaw), fy = sin(p->yaw), rx = fy, ry = -fx;
    for (int x = 0; x < W; x++) {
        double a = (x - w->cx) / w->fx;
        v->hit_wall[x] = cast(w, p->x, p->y, fx + a * rx, fy + a * ry, &v->hit_s[x], &v->hit_u[x]);
    }
    double tpm = w->p.texels_per_m;
    for (int x = 0; x < W; x++) {
        int32_t k = v->hit_wall[x];
        v->hit_mip[x] = 0;
        if (k < 0) continue;
        /* texels per pixel: vertically from the depth, horizontally from the neighbours' u;
           the level follows their geometric mean (a compromise for walls seen at a grazing
           angle, where the horizontal footprint is much longer) */
        double vs = v->hit_s[x] * tpm / w->fy, us = 0;
        if (x > 0 && v->hit_wall[x - 1] == k) us = fabs(v->hit_u[x] - v->hit_u[x - 1]) * tpm;
        if (x + 1 < W && v->hit_wall[x + 1] == k)
            us = fmax(us, fabs(v->hit_u[x + 1] - v->hit_u[x]) * tpm);
        double step = us > vs ? sqrt(us * vs) : vs;
        int L = 0;
        while (step > 1.41 && L + 1 < w->walls[k].n_mips) {
            step *= 0.5;
            L++;
        }
        v->hit_mip[x] = (uint8_t)L;
    }
    for (int x = 0; x < W; x++) {
        uint8_t *out = v->col + (size_t)x * H;
        double a = (x - w->cx) / w->fx;
        float dx = (float)(fx + a * rx), dy = (float)(fy + a * ry), px = (float)p->x,
              py = (float)p->y;
        int32_t k = v->hit_wall[x];
        int y0 = H, y1 = H - 1; /* wall rows; none when nothing was hit */
        if (k >= 0) {
            double s = v->hit_s[x];
            double top = w->cy + (h - Hw) * w->fy / s, bot = w->cy + h * w->fy / s;
            y0 = top < 0 ? 0 : (int)ceil(top);
            y1 = bot > H - 1 ? H - 1 : (int)floor(bot);
            int shade = (w->walls[k].shade * light_of(s)) >> 8;
            if (y1 >= y0)
                wall_column(w, &w->walls[k], v->hit_mip[x], v->hit_u[x], s, h, y0, y1, shade, out);
        }
        int ylim = k >= 0 ? y0 : H;
        for (int y = 0; y < ylim && y < H; y++) {
            const world_row *r = &v->rows[y];
            if (y - w->cy < -0.25)
                out[y] = ceil_texel(w, r, px, py, dx, dy);
            else if (y - w->cy > 0.25)
                out[y] = floor_texel(w, r, px, py, dx, dy);
            else
                out[y] = 128; /* horizon row with nothing in front: a far grey */
        }
        for (int y = k >= 0 ? y1 + 1 : H; y < H; y++)
            out[y] = floor_texel(w, &v->rows[y], px, py, dx, dy);
    }
}

/* Transpose v->col into dst rows and apply blur, gain, bias and noise. */
static void finish(deja__world_view *v, const deja__world_nuisance *nz, uint8_t *dst, int stride)
{
    int W = v->width, H = v->height;
    for (int y0 = 0; y0 < H; y0 += 8) {
        int n = H - y0 < 8 ? H - y0 : 8;
        for (int x = 0; x < W; x++) {
            const uint8_t *src = v->col + (size_t)x * H + y0;
            for (int k = 0; k < n; k++)
                dst[(size_t)(y0 + k) * stride + x] = src[k];
        }
    }
    if (!nz) return;
    int rb = (int)lround(nz->blur_px / 2);
    int32_t G = (int32_t)lround(nz->gain * 65536), B = (int32_t)lround(nz->bias * 65536) + 32768;
    int32_t K = (int32_t)lround(nz->noise_sigma * 65536 / IH_SD);
    for (int y = 0; y < H; y++) {
        uint8_t *row = dst + (size_t)y * stride;
        if (rb >= 1) {
            uint32_t *P = v->prefix;
            P[0] = 0;
            for (int x = 0; x < W; x++)
                P[x + 1] = P[x] + row[x];
            for (int x = 0; x < W; x++) {
                int a = x - rb < 0 ? 0 : x - rb, b = x + rb + 1 > W ? W : x + rb + 1;
                row[x] = (uint8_t)((P[b] - P[a] + (uint32_t)(b - a) / 2) / (uint32_t)(b - a));
            }
        }
        uint64_t rng = world_hash(nz->noise_seed, (uint64_t)y);
        for (int x = 0; x < W; x += 2) {
            uint64_t r = K ? deja__splitmix64(&rng) : 0;
            for (int k = 0; k < 2 && x + k < W; k++, r >>= 32) {
                int sum = (int)(r & 0xFF) + (int)((r >> 8) & 0xFF) + (int)((r >> 16) & 0xFF) +
                          (int)((r >> 24) & 0xFF);
                int32_t val = row[x + k] * G + B + (K ? (sum - 510) * K : 0);
                row[x + k] = val < 0 ? 0 : clamp8(val >> 16);
            }
        }
    }
}

static deja_status check_dst(const deja__world_view *v, const uint8_t *dst, int stride)
{
    if (!dst || stride < v->width)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world render: dst %s, stride %d < width %d",
                        dst ? "set" : "NULL", stride, v->width);
    return DEJA_OK;
}

static deja_status render_frame(deja__world_view *v, uint32_t i, uint8_t *dst, int stride)
{
    deja__world_pose p;
    deja__world_nuisance nz;
    deja_status st = check_dst(v, dst, stride);
    if (st == DEJA_OK) st = deja__world_pose_of(v->w, i, &p);
    if (st == DEJA_OK) st = deja__world_nuisance_of(v->w, i, &nz);
    if (st != DEJA_OK) return st;
    draw(v, &p);
    finish(v, &nz, dst, stride);
    return DEJA_OK;
}

static deja_status render_pose(deja__world_view *v, const deja__world_pose *p,
                               const deja__world_nuisance *nz, uint8_t *dst, int stride)
{
    deja_status st = check_dst(v, dst, stride);
    if (st != DEJA_OK) return st;
    /* bounds keep the fixed-point floor coordinates and the ray grid walk in range */
    if (!p || !(fabs(p->x) <= 1e5 && fabs(p->y) <= 1e5 && isfinite(p->yaw) && p->z > 0 &&
                p->z < v->w->p.wall_height_m))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "world render: pose (%g, %g, %g, yaw %g) needs |x|, |y| <= 1e5 and "
                        "0 < z < wall height %g",
                        p ? p->x : 0, p ? p->y : 0, p ? p->z : 0, p ? p->yaw : 0,
                        v->w->p.wall_height_m);
    if (nz && !(nz->gain >= 0 && nz->gain <= 4 && fabs(nz->bias) <= 255 && nz->noise_sigma >= 0 &&
                nz->noise_sigma <= 100 && nz->blur_px >= 0 && nz->blur_px <= v->width))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "world render: nuisance gain %g bias %g sigma %g blur %g outside [0, 4], "
                        "[-255, 255], [0, 100], [0, width]",
                        nz->gain, nz->bias, nz->noise_sigma, nz->blur_px);
    draw(v, p);
    finish(v, nz, dst, stride);
    return DEJA_OK;
}

deja_status deja__world_render(deja__world *w, uint32_t i, uint8_t *dst, int stride)
{
    if (!w) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world render: NULL world");
    return render_frame(&w->view, i, dst, stride);
}

deja_status deja__world_render_pose(deja__world *w, const deja__world_pose *pose,
                                    const deja__world_nuisance *nz, uint8_t *dst, int stride)
{
    if (!w) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world render: NULL world");
    return render_pose(&w->view, pose, nz, dst, stride);
}

deja_status deja__world_view_create(const deja__world *w, deja__world_view **out)
{
    if (!w || !out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world view: NULL argument");
    deja__world_view *v = deja__alloc(&w->a, sizeof *v);
    if (!v) return DEJA_ERR(NULL, DEJA_NOMEM, "world view: handle");
    deja_status st = deja__world_view_init(v, w, &w->a);
    if (st != DEJA_OK) {
        deja__free(&w->a, v, sizeof *v);
        return st;
    }
    *out = v;
    return DEJA_OK;
}

void deja__world_view_destroy(deja__world_view *v)
{
    if (!v) return;
    deja_allocator a = v->a;
    deja__world_view_release(v);
    deja__free(&a, v, sizeof *v);
}

deja_status deja__world_view_render(deja__world_view *v, uint32_t i, uint8_t *dst, int stride)
{
    if (!v) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world render: NULL view");
    return render_frame(v, i, dst, stride);
}

deja_status deja__world_view_render_pose(deja__world_view *v, const deja__world_pose *pose,
                                         const deja__world_nuisance *nz, uint8_t *dst, int stride)
{
    if (!v) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world render: NULL view");
    return render_pose(v, pose, nz, dst, stride);
}
