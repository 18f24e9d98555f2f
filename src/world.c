/* world.c - the synthetic world's plan and textures: a grid of blocks separated by corridors,
 * extruded to walls of one height, with a floor and a ceiling (Wolfenstein-style "2.5D": walls
 * are vertical, the camera never pitches, so a wall is seen as vertical texture columns).
 *
 * Plan: block side lengths are drawn per grid column / row; corridors of constant width run
 * between the blocks and along an outer wall. Each block side and outer wall side is cut into
 * pieces of at most segment_m; every piece gets its own texture in one atlas, with a box-filtered
 * mipmap chain (Williams 1983, "Pyramidal parametrics") so that far and grazing walls do not
 * alias into flickering corners. A uniform grid over the plan lists the pieces crossing each cell
 * for the ray caster (Amanatides & Woo 1987). Floor tiles and ceiling panels are per-world tables
 * of shades (so floors differ between places too) plus a small repeated detail tile.
 *
 * Wall textures are made to give ORB many corners at several scales and to differ from place to
 * place: a background (plaster panels, bricks, tiles or planks), then doors, windows, posters
 * holding text-like glyph lines, QR-like grids, Mondrian mosaics or blobs, small signs, stickers,
 * stains and pipes, then faint texel noise. With caller photographs, each piece instead shows a
 * mirrored tiling of one photograph at a random scale and offset. A share repeat_frac of the
 * pieces copies an earlier piece (stretched to its length): look-alike places that a loop detector
 * must not confuse. Everything comes from splitmix64 seeded by (seed, piece), so a world is a pure
 * function of its parameters.
 * The route and the ground truth are in world_path.c, rendering in world_render.c. */
#include "world_impl.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

deja__world_params deja__world_params_default(void)
{
    deja__world_params p;
    memset(&p, 0, sizeof p);
    p.seed = 1;
    p.width = 640;
    p.height = 480;
    p.hfov_deg = 70;
    p.n_frames = 3000;
    p.fps = 30;
    p.blocks_x = 4;
    p.blocks_y = 4;
    p.block_min_m = 5;
    p.block_max_m = 9;
    p.corridor_m = 3;
    p.wall_height_m = 3;
    p.segment_m = 4;
    p.texels_per_m = 192;
    p.max_atlas_bytes = (uint64_t)200 << 20;
    p.repeat_frac = 0.1;
    p.speed_m = 0.1;
    p.camera_height_m = 1.6;
    p.turn_radius_m = 1.5;
    p.offset_m = 0.5;
    p.sway_deg = 2;
    p.gain_amp = 0.25;
    p.bias_amp = 15;
    p.noise_sigma = 3;
    p.exposure = 0.2;
    p.gt_min_gap = 50;
    p.gt_max_dist_m = 1.0;
    p.gt_max_angle_deg = 30;
    return p;
}

/* NaN fails every comparison, so "!(lo <= v && v <= hi)" also rejects it. */
#define RANGE(f, lo, hi)                                                                           \
    do {                                                                                           \
        if (!((double)p->f >= (lo) && (double)p->f <= (hi)))                                       \
            return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world params: " #f " = %g outside [%g, %g]",  \
                            (double)p->f, (double)(lo), (double)(hi));                             \
    } while (0)

static deja_status check_params(const deja__world_params *p)
{
    RANGE(width, 16, 8192);
    RANGE(height, 16, 8192);
    RANGE(hfov_deg, 10, 160);
    RANGE(n_frames, 1, 1e8);
    RANGE(fps, 1e-3, 1e6);
    RANGE(blocks_x, 1, 64);
    RANGE(blocks_y, 1, 64);
    RANGE(block_min_m, 1, 100);
    RANGE(block_max_m, p->block_min_m, 100);
    RANGE(corridor_m, 1.5, 20);
    RANGE(wall_height_m, 1, 10);
    RANGE(segment_m, 0.5, 1000);
    RANGE(texels_per_m, 16, 1024);
    RANGE(repeat_frac, 0, 1);
    RANGE(speed_m, 1e-4, 5);
    RANGE(camera_height_m, 0.1, p->wall_height_m - 0.1);
    RANGE(turn_radius_m, 0, 50);
    /* the camera keeps 0.4 m from the walls */
    RANGE(offset_m, 0, p->corridor_m / 2 - 0.4);
    RANGE(sway_deg, 0, 20);
    RANGE(gain_amp, 0, 0.9);
    RANGE(bias_amp, 0, 100);
    RANGE(noise_sigma, 0, 50);
    RANGE(exposure, 0, 1);
    RANGE(gt_max_dist_m, 1e-3, 1e4);
    RANGE(gt_max_angle_deg, 0, 180);
    /* the route is generated ahead: bound its length (10^7 frames at 0.1 m) */
    if (!((double)p->n_frames * p->speed_m <= 1e6))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "world params: route of n_frames %u * speed_m %g = %g m exceeds 1e6 m",
                        p->n_frames, p->speed_m, (double)p->n_frames * p->speed_m);
    if (p->n_photos && !p->photos)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world params: n_photos %zu but photos is NULL",
                        p->n_photos);
    for (size_t k = 0; k < p->n_photos; k++) {
        const deja_image *im = &p->photos[k];
        if (!im->pixels || im->width < 8 || im->height < 8 || im->stride < im->width ||
            (double)im->width * im->height > (double)(1 << 28))
            return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                            "world params: photo %zu: %dx%d stride %d pixels %s: need >= 8x8, "
                            "<= 2^28 pixels, stride >= width, pixels",
                            k, im->width, im->height, im->stride, im->pixels ? "set" : "NULL");
    }
    return DEJA_OK;
}

/* ---- plan ------------------------------------------------------------------------------- */

/* Cut one wall side from (x0, y0) along unit t over len into pieces; count only if walls NULL. */
static void add_side(deja__world *w, uint32_t *n, double x0, double y0, double tx, double ty,
                     double len, uint64_t *rng)
{
    uint32_t k = (uint32_t)ceil(len / w->p.segment_m - 1e-9);
    if (k < 1) k = 1;
    for (uint32_t i = 0; i < k; i++, (*n)++) {
        if (!w->walls) continue;
        world_wall *wl = &w->walls[*n];
        double piece = len / k;
        wl->x0 = x0 + tx * piece * i;
        wl->y0 = y0 + ty * piece * i;
        wl->tx = tx;
        wl->ty = ty;
        /* t = (-n.y, n.x)  <=>  n = (t.y, -t.x) */
        wl->nx = ty;
        wl->ny = -tx;
        wl->len = piece;
        /* walls facing +-y get less light: corners between walls stay visible */
        double facing = fabs(wl->nx) > 0.5 ? 1.0 : 0.82;
        wl->shade = (uint16_t)lround(256 * facing * world_range(rng, 0.92, 1.06));
    }
}

/* Every wall piece, counted (walls NULL) or filled. Sides run so that the normal
 * n = (t.y, -t.x) points into the corridor: outward for blocks, inward for the outer wall. */
static uint32_t make_walls(deja__world *w, uint64_t seed)
{
    uint64_t rng = world_hash(seed, 0x3A11);
    uint32_t n = 0;
    double half = w->p.corridor_m / 2, W = w->plan_w, H = w->plan_h;
    for (int j = 0; j + 1 < w->n_streets_y; j++)
        for (int i = 0; i + 1 < w->n_streets_x; i++) {
            double xa = w->street_x[i] + half, xb = w->street_x[i + 1] - half;
            double ya = w->street_y[j] + half, yb = w->street_y[j + 1] - half;
            add_side(w, &n, xa, ya, 1, 0, xb - xa, &rng);  /* south face, n = (0, -1) */
            add_side(w, &n, xb, ya, 0, 1, yb - ya, &rng);  /* east face */
            add_side(w, &n, xb, yb, -1, 0, xb - xa, &rng); /* north face */
            add_side(w, &n, xa, yb, 0, -1, yb - ya, &rng); /* west face */
        }
    add_side(w, &n, W, 0, -1, 0, W, &rng); /* outer south wall, n = (0, 1) */
    add_side(w, &n, W, H, 0, -1, H, &rng); /* outer east wall */
    add_side(w, &n, 0, H, 1, 0, W, &rng);  /* outer north wall */
    add_side(w, &n, 0, 0, 0, 1, H, &rng);  /* outer west wall */
    return n;
}

static deja_status make_plan(deja__world *w)
{
    const deja__world_params *p = &w->p;
    uint64_t rng = world_hash(p->seed, 0x91A7);
    w->n_streets_x = p->blocks_x + 1;
    w->n_streets_y = p->blocks_y + 1;
    w->street_x = deja__calloc(&w->a, (size_t)w->n_streets_x, sizeof(double));
    w->street_y = deja__calloc(&w->a, (size_t)w->n_streets_y, sizeof(double));
    if (!w->street_x || !w->street_y) return DEJA_ERR(NULL, DEJA_NOMEM, "world: street lines");
    w->street_x[0] = w->street_y[0] = p->corridor_m / 2;
    for (int i = 1; i < w->n_streets_x; i++)
        w->street_x[i] =
            w->street_x[i - 1] + p->corridor_m + world_range(&rng, p->block_min_m, p->block_max_m);
    for (int j = 1; j < w->n_streets_y; j++)
        w->street_y[j] =
            w->street_y[j - 1] + p->corridor_m + world_range(&rng, p->block_min_m, p->block_max_m);
    w->plan_w = w->street_x[w->n_streets_x - 1] + p->corridor_m / 2;
    w->plan_h = w->street_y[w->n_streets_y - 1] + p->corridor_m / 2;

    w->n_walls = make_walls(w, p->seed);
    w->walls = deja__calloc(&w->a, w->n_walls, sizeof(world_wall));
    if (!w->walls) return DEJA_ERR(NULL, DEJA_NOMEM, "world: %u walls", w->n_walls);
    uint32_t again = make_walls(w, p->seed);
    (void)again;
    return DEJA_OK;
}

/* Cells a wall's bounding box (slightly grown) overlaps; fn NULL only counts. */
static void wall_cells(const deja__world *w, const world_wall *wl, uint32_t id, uint32_t *count,
                       uint32_t *fill)
{
    double x1 = wl->x0 + wl->tx * wl->len, y1 = wl->y0 + wl->ty * wl->len, e = 1e-6;
    int ia = (int)floor((fmin(wl->x0, x1) - e) / w->cell_m);
    int ib = (int)floor((fmax(wl->x0, x1) + e) / w->cell_m);
    int ja = (int)floor((fmin(wl->y0, y1) - e) / w->cell_m);
    int jb = (int)floor((fmax(wl->y0, y1) + e) / w->cell_m);
    if (ia < 0) ia = 0;
    if (ja < 0) ja = 0;
    if (ib >= w->grid_w) ib = w->grid_w - 1;
    if (jb >= w->grid_h) jb = w->grid_h - 1;
    for (int j = ja; j <= jb; j++)
        for (int i = ia; i <= ib; i++) {
            size_t c = (size_t)j * w->grid_w + i;
            if (fill)
                w->cell_items[fill[c]++] = id;
            else
                count[c]++;
        }
}

static deja_status make_grid(deja__world *w)
{
    /* cells of about a corridor width: a ray tests few walls per cell */
    w->cell_m = w->p.corridor_m;
    w->grid_w = (int)ceil(w->plan_w / w->cell_m) + 1;
    w->grid_h = (int)ceil(w->plan_h / w->cell_m) + 1;
    size_t n_cells = (size_t)w->grid_w * w->grid_h;
    w->cell_start = deja__calloc(&w->a, n_cells + 1, sizeof(uint32_t));
    if (!w->cell_start) return DEJA_ERR(NULL, DEJA_NOMEM, "world: grid of %zu cells", n_cells);
    for (uint32_t k = 0; k < w->n_walls; k++)
        wall_cells(w, &w->walls[k], k, w->cell_start, NULL);
    /* counts -> starts (exclusive prefix sum) */
    uint32_t sum = 0;
    for (size_t c = 0; c <= n_cells; c++) {
        uint32_t n = w->cell_start[c];
        w->cell_start[c] = sum;
        sum += n;
    }
    w->n_cell_items = sum;
    w->cell_items = deja__calloc(&w->a, sum ? sum : 1, sizeof(uint32_t));
    uint32_t *fill = deja__calloc(&w->a, n_cells, sizeof(uint32_t));
    if (!w->cell_items || !fill) {
        deja__free(&w->a, fill, n_cells * sizeof(uint32_t));
        return DEJA_ERR(NULL, DEJA_NOMEM, "world: grid items");
    }
    memcpy(fill, w->cell_start, n_cells * sizeof(uint32_t));
    for (uint32_t k = 0; k < w->n_walls; k++)
        wall_cells(w, &w->walls[k], k, NULL, fill);
    deja__free(&w->a, fill, n_cells * sizeof(uint32_t));
    return DEJA_OK;
}

/* ---- procedural wall textures ------------------------------------------------------------ */

/* A texture being drawn: column-major, v = 0 at the top of the wall; shapes are given in metres
 * (u along the wall, v down from the top) so that looks do not depend on texels_per_m. */
typedef struct {
    uint8_t *p;
    int w, h;
    double tpm;
    uint64_t rng;
} canvas;

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void rect(canvas *c, double u0, double v0, double u1, double v1, int val)
{
    int a = clampi((int)lround(u0 * c->tpm), 0, c->w),
        b = clampi((int)lround(u1 * c->tpm), 0, c->w);
    int t = clampi((int)lround(v0 * c->tpm), 0, c->h),
        d = clampi((int)lround(v1 * c->tpm), 0, c->h);
    if (d <= t) return;
    uint8_t v = (uint8_t)clampi(val, 0, 255);
    for (int u = a; u < b; u++)
        memset(c->p + (size_t)u * c->h + t, v, (size_t)(d - t));
}

/* Rectangle outline of thickness th (metres). */
static void frame(canvas *c, double u0, double v0, double u1, double v1, double th, int val)
{
    rect(c, u0, v0, u1, v0 + th, val);
    rect(c, u0, v1 - th, u1, v1, val);
    rect(c, u0, v0, u0 + th, v1, val);
    rect(c, u1 - th, v0, u1, v1, val);
}

static void ellipse(canvas *c, double cu, double cv, double ru, double rv, int val)
{
    int a = clampi((int)floor((cu - ru) * c->tpm), 0, c->w);
    int b = clampi((int)ceil((cu + ru) * c->tpm), 0, c->w);
    uint8_t v = (uint8_t)clampi(val, 0, 255);
    for (int u = a; u < b; u++) {
        double du = ((u + 0.5) / c->tpm - cu) / ru, q = 1 - du * du;
        if (q <= 0) continue;
        double half = rv * sqrt(q);
        int t = clampi((int)lround((cv - half) * c->tpm), 0, c->h);
        int d = clampi((int)lround((cv + half) * c->tpm), 0, c->h);
        if (d > t) memset(c->p + (size_t)u * c->h + t, v, (size_t)(d - t));
    }
}

static double rnd(canvas *c, double lo, double hi)
{
    return world_range(&c->rng, lo, hi);
}
static int rndi(canvas *c, int lo, int hi) /* inclusive */
{
    return lo + (int)(world_uni(&c->rng) * (hi - lo + 1));
}
/* A grey level at least 70 away from bg: ink on paper, paper on a wall. */
static int contrast(canvas *c, int bg)
{
    int v = bg < 128 ? rndi(c, bg + 70, 255) : rndi(c, 0, bg - 70);
    return clampi(v, 0, 255);
}

/* Lines of glyphs, each glyph 1-3 strokes in a cell: reads like text at a distance and has
 * corners at the scale of the letter height. */
static void text_block(canvas *c, double u0, double v0, double u1, double v1, int ink)
{
    double lh = rnd(c, 0.015, 0.05), gw = lh * rnd(c, 0.5, 0.75), sw = lh * 0.18;
    for (double v = v0 + lh * 0.5; v + lh < v1; v += lh * rnd(c, 1.4, 1.9)) {
        double end = u1 - rnd(c, 0, (u1 - u0) * 0.4); /* ragged right margin */
        for (double u = u0 + lh * 0.3; u + gw < end; u += gw * 1.25) {
            if (world_uni(&c->rng) < 0.16) continue; /* word gap */
            int strokes = rndi(c, 1, 3);
            for (int s = 0; s < strokes; s++) {
                int kind = rndi(c, 0, 3);
                if (kind == 0)
                    rect(c, u, v, u + sw, v + lh, ink); /* stem */
                else if (kind == 1) {
                    double bar = v + lh * rnd(c, 0, 0.8);
                    rect(c, u, bar, u + gw, bar + sw, ink);
                } else if (kind == 2)
                    rect(c, u + gw - sw, v + lh * 0.4, u + gw, v + lh, ink);
                else
                    rect(c, u + gw * 0.3, v, u + gw * 0.3 + sw * 1.4, v + sw * 1.4, ink);
            }
        }
    }
}

/* A QR-like grid: random cells with three nested finder squares; corners everywhere. */
static void qr_block(canvas *c, double u0, double v0, double size, int dark, int light)
{
    int k = rndi(c, 9, 21);
    double cell = size / k;
    rect(c, u0, v0, u0 + size, v0 + size, light);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            if (world_uni(&c->rng) < 0.5)
                rect(c, u0 + i * cell, v0 + j * cell, u0 + (i + 1) * cell, v0 + (j + 1) * cell,
                     dark);
    for (int f = 0; f < 3; f++) {
        double fu = f == 1 ? u0 + size - 7 * cell : u0, fv = f == 2 ? v0 + size - 7 * cell : v0;
        rect(c, fu, fv, fu + 7 * cell, fv + 7 * cell, dark);
        rect(c, fu + cell, fv + cell, fu + 6 * cell, fv + 6 * cell, light);
        rect(c, fu + 2 * cell, fv + 2 * cell, fu + 5 * cell, fv + 5 * cell, dark);
    }
}

/* Mondrian-style recursive split into shaded rectangles with dark borders. */
static void mosaic(canvas *c, double u0, double v0, double u1, double v1, int depth)
{
    if (depth == 0 || u1 - u0 < 0.06 || v1 - v0 < 0.06) {
        rect(c, u0, v0, u1, v1, rndi(c, 20, 240));
        frame(c, u0, v0, u1, v1, 0.008, rndi(c, 0, 40));
        return;
    }
    double t = rnd(c, 0.3, 0.7);
    if ((u1 - u0) > (v1 - v0)) {
        double m = u0 + (u1 - u0) * t;
        mosaic(c, u0, v0, m, v1, depth - 1);
        mosaic(c, m, v0, u1, v1, depth - 1);
    } else {
        double m = v0 + (v1 - v0) * t;
        mosaic(c, u0, v0, u1, m, depth - 1);
        mosaic(c, u0, m, u1, v1, depth - 1);
    }
}

static void poster(canvas *c, double len, double wall_h)
{
    double pw = rnd(c, 0.3, fmin(1.1, len * 0.8)), ph = rnd(c, 0.35, 1.0);
    double u0 = rnd(c, 0, len - pw), v0 = rnd(c, 0.3, fmax(0.31, wall_h - ph - 0.6));
    int bg = world_uni(&c->rng) < 0.7 ? rndi(c, 170, 250) : rndi(c, 10, 80);
    rect(c, u0, v0, u0 + pw, v0 + ph, bg);
    frame(c, u0, v0, u0 + pw, v0 + ph, rnd(c, 0.005, 0.03), contrast(c, bg));
    double m = fmin(pw, ph) * 0.08;
    switch (rndi(c, 0, 4)) {
    case 0:
    case 1: { /* headline bar then body text */
        int ink = contrast(c, bg);
        rect(c, u0 + m, v0 + m, u0 + pw * rnd(c, 0.4, 0.9), v0 + m + ph * 0.12, ink);
        text_block(c, u0 + m, v0 + m + ph * 0.18, u0 + pw - m, v0 + ph - m, ink);
        break;
    }
    case 2:
        qr_block(c, u0 + m, v0 + m, fmin(pw, ph) - 2 * m, contrast(c, bg), bg);
        break;
    case 3:
        mosaic(c, u0 + m, v0 + m, u0 + pw - m, v0 + ph - m, rndi(c, 3, 5));
        break;
    default: /* blobs */
        for (int k = rndi(c, 3, 9); k > 0; k--) {
            double r = fmin(pw, ph) * rnd(c, 0.05, 0.25);
            ellipse(c, u0 + rnd(c, r, pw - r), v0 + rnd(c, r, ph - r), r, r * rnd(c, 0.5, 1.5),
                    rndi(c, 0, 255));
        }
        break;
    }
}

static void background(canvas *c, double len, double wall_h, int base)
{
    switch (rndi(c, 0, 3)) {
    case 0: /* plaster panels with seams */
        for (double u = 0; u < len;) {
            double pw = rnd(c, 0.6, 1.6);
            rect(c, u, 0, u + pw, wall_h, clampi(base + rndi(c, -18, 18), 0, 255));
            rect(c, u, 0, u + 0.012, wall_h, base - 50);
            u += pw;
        }
        break;
    case 1: { /* running-bond bricks */
        double bl = rnd(c, 0.2, 0.32), bh = rnd(c, 0.06, 0.1), mortar = 0.012;
        int mcol = base + (world_uni(&c->rng) < 0.5 ? 60 : -60);
        rect(c, 0, 0, len, wall_h, mcol);
        int row = 0;
        for (double v = 0; v < wall_h; v += bh, row++)
            for (double u = (row & 1) ? -bl / 2 : 0; u < len; u += bl)
                rect(c, u + mortar, v + mortar, u + bl, v + bh,
                     clampi(base + rndi(c, -28, 28), 0, 255));
        break;
    }
    case 2: { /* tiles below, plaster above */
        double ts = rnd(c, 0.15, 0.3), top = rnd(c, 1.0, 1.6);
        rect(c, 0, 0, len, wall_h, base);
        int grout = base > 128 ? base - 70 : base + 70;
        rect(c, 0, wall_h - top, len, wall_h, grout);
        for (double v = wall_h - top; v < wall_h; v += ts)
            for (double u = 0; u < len; u += ts)
                rect(c, u + 0.006, v + 0.006, u + ts - 0.006, v + ts - 0.006,
                     clampi(base + rndi(c, -30, 30), 0, 255));
        break;
    }
    default: /* vertical planks with grain */
        for (double u = 0; u < len;) {
            double pw = rnd(c, 0.08, 0.2);
            int sh = clampi(base + rndi(c, -35, 35), 0, 255);
            rect(c, u, 0, u + pw, wall_h, sh);
            rect(c, u, 0, u + 0.008, wall_h, sh - 60);
            for (int g = rndi(c, 0, 3); g > 0; g--) {
                double gv = rnd(c, 0, wall_h);
                rect(c, u + rnd(c, 0.01, pw * 0.5), gv, u + pw, gv + rnd(c, 0.005, 0.02), sh - 40);
            }
            u += pw;
        }
        break;
    }
}

static void procedural(canvas *c, double len, double wall_h)
{
    int base = rndi(c, 70, 200);
    background(c, len, wall_h, base);
    if (world_uni(&c->rng) < 0.35) { /* pipe with brackets */
        double v = rnd(c, 0.15, 0.6), th = rnd(c, 0.04, 0.09);
        int col = contrast(c, base);
        rect(c, 0, v, len, v + th, col);
        for (double u = rnd(c, 0, 0.5); u < len; u += rnd(c, 0.5, 1.0))
            rect(c, u, v - 0.02, u + 0.04, v + th + 0.02, contrast(c, col));
    }
    if (len > 1.2 && world_uni(&c->rng) < 0.3) { /* door: frame, two panels, handle */
        double u0 = rnd(c, 0.1, len - 1.05), top = wall_h - 2.1;
        int fr = contrast(c, base), leaf = clampi(fr + rndi(c, -40, 40), 0, 255);
        rect(c, u0, top, u0 + 0.95, wall_h, fr);
        rect(c, u0 + 0.06, top + 0.06, u0 + 0.89, wall_h, leaf);
        frame(c, u0 + 0.16, top + 0.16, u0 + 0.79, top + 0.9, 0.02, contrast(c, leaf));
        frame(c, u0 + 0.16, top + 1.05, u0 + 0.79, wall_h - 0.15, 0.02, contrast(c, leaf));
        rect(c, u0 + 0.75, top + 0.95, u0 + 0.85, top + 1.0, contrast(c, leaf));
    } else if (len > 1.4 && world_uni(&c->rng) < 0.4) { /* window with panes */
        double ww = rnd(c, 0.9, fmin(1.8, len - 0.3)), wh = rnd(c, 0.8, 1.3);
        double u0 = rnd(c, 0.1, len - ww - 0.1), v0 = rnd(c, 0.4, 0.8);
        int glass = rndi(c, 15, 70), fr = rndi(c, 180, 250);
        rect(c, u0, v0, u0 + ww, v0 + wh, glass);
        int nu = rndi(c, 1, 3), nv = rndi(c, 1, 3);
        for (int k = 0; k <= nu; k++)
            rect(c, u0 + ww * k / nu - 0.025, v0, u0 + ww * k / nu + 0.025, v0 + wh, fr);
        for (int k = 0; k <= nv; k++)
            rect(c, u0, v0 + wh * k / nv - 0.025, u0 + ww, v0 + wh * k / nv + 0.025, fr);
        for (int k = rndi(c, 1, 4); k > 0; k--) { /* reflections */
            double ru = u0 + rnd(c, 0.05, ww - 0.2), rv = v0 + rnd(c, 0.05, wh - 0.2);
            rect(c, ru, rv, ru + rnd(c, 0.03, 0.15), rv + rnd(c, 0.05, 0.2),
                 glass + rndi(c, 40, 90));
        }
    }
    for (int k = (int)(len * rnd(c, 0.3, 1.0)) + 1; k > 0; k--)
        poster(c, len, wall_h);
    for (int k = (int)(len * rnd(c, 0.3, 1.2)); k > 0; k--) { /* small signs */
        double sw = rnd(c, 0.12, 0.35), sh = rnd(c, 0.06, 0.18);
        double u0 = rnd(c, 0, len - sw), v0 = rnd(c, 0.3, wall_h - 0.5);
        int bg = rndi(c, 0, 255);
        rect(c, u0, v0, u0 + sw, v0 + sh, bg);
        text_block(c, u0 + 0.01, v0 + 0.005, u0 + sw - 0.01, v0 + sh - 0.005, contrast(c, bg));
    }
    for (int k = (int)(len * rnd(c, 0.2, 0.8)); k > 0; k--) /* stains, low contrast */
        ellipse(c, rnd(c, 0, len), rnd(c, 0, wall_h), rnd(c, 0.05, 0.3), rnd(c, 0.05, 0.3),
                clampi(base + rndi(c, -35, 35), 0, 255));
    for (int k = (int)(len * rnd(c, 3, 9)); k > 0; k--) { /* stickers and marks */
        double s = rnd(c, 0.015, 0.07), u0 = rnd(c, 0, len), v0 = rnd(c, 0.2, wall_h - 0.1);
        rect(c, u0, v0, u0 + s * rnd(c, 0.6, 1.6), v0 + s, rndi(c, 0, 255));
    }
    /* skirting board and cornice: the same on every wall, like real corridors */
    rect(c, 0, wall_h - 0.1, len, wall_h, 45);
    rect(c, 0, 0, len, 0.05, 225);
    /* faint texel noise: no perfectly flat areas, but far below the FAST threshold */
    size_t n = (size_t)c->w * c->h;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = deja__splitmix64(&c->rng);
        for (size_t k = 0; k < 8 && i + k < n; k++, r >>= 8) {
            int v = c->p[i + k] + (int)((r & 0xFF) % 9) - 4;
            c->p[i + k] = (uint8_t)clampi(v, 0, 255);
        }
    }
}

/* Mirrored repeat of coordinate x over [0, n). */
static int mirror(int x, int n)
{
    int m = x % (2 * n);
    if (m < 0) m += 2 * n;
    return m < n ? m : 2 * n - 1 - m;
}

/* One caller photograph, mirrored-tiled at a random scale and offset, bilinear. */
static void photo(canvas *c, const deja_image *im)
{
    /* photo height covers 50-100 % of the wall height */
    double ppt = im->height / (c->h * rnd(c, 0.5, 1.0));
    double ou = rnd(c, 0, im->width), ov = rnd(c, 0, im->height * 0.3);
    for (int u = 0; u < c->w; u++) {
        double pu = ou + (u + 0.5) * ppt - 0.5;
        int x0 = (int)floor(pu);
        int fx = (int)((pu - x0) * 256);
        int xa = mirror(x0, im->width), xb = mirror(x0 + 1, im->width);
        uint8_t *col = c->p + (size_t)u * c->h;
        for (int v = 0; v < c->h; v++) {
            double pv = ov + (v + 0.5) * ppt - 0.5;
            int y0 = (int)floor(pv), fy = (int)((pv - y0) * 256);
            const uint8_t *r0 = im->pixels + (size_t)mirror(y0, im->height) * im->stride;
            const uint8_t *r1 = im->pixels + (size_t)mirror(y0 + 1, im->height) * im->stride;
            int top = r0[xa] * (256 - fx) + r0[xb] * fx, bot = r1[xa] * (256 - fx) + r1[xb] * fx;
            col[v] = (uint8_t)((top * (256 - fy) + bot * fy + (1 << 15)) >> 16);
        }
    }
}

/* Level l+1 = 2x2 box average of level l (the last row / column is repeated when odd). */
static void downsample(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    for (int u = 0; u < dw; u++) {
        const uint8_t *c0 = src + (size_t)(2 * u) * sh;
        const uint8_t *c1 = src + (size_t)(2 * u + 1 < sw ? 2 * u + 1 : 2 * u) * sh;
        uint8_t *d = dst + (size_t)u * dh;
        for (int v = 0; v < dh; v++) {
            int a = 2 * v, b = 2 * v + 1 < sh ? 2 * v + 1 : 2 * v;
            d[v] = (uint8_t)((c0[a] + c0[b] + c1[a] + c1[b] + 2) >> 2);
        }
    }
}

/* Texture sizes and atlas offsets of every wall; LIMIT over max_atlas_bytes. */
static deja_status layout_atlas(deja__world *w)
{
    const deja__world_params *p = &w->p;
    uint64_t off = 0;
    int h0 = (int)lround(p->wall_height_m * p->texels_per_m);
    for (uint32_t k = 0; k < w->n_walls; k++) {
        world_wall *wl = &w->walls[k];
        int tw = (int)lround(wl->len * p->texels_per_m), th = h0;
        if (tw < 2) tw = 2;
        wl->n_mips = 0;
        /* stop when a level is too small to be worth sampling */
        while (wl->n_mips < WORLD_MAX_MIPS && (wl->n_mips == 0 || (tw >= 2 && th >= 8))) {
            wl->tex_w[wl->n_mips] = (uint32_t)tw;
            wl->tex_h[wl->n_mips] = (uint32_t)th;
            wl->tex_off[wl->n_mips] = off;
            off += (uint64_t)tw * th;
            wl->n_mips++;
            tw = (tw + 1) / 2;
            th = (th + 1) / 2;
        }
        if (off > p->max_atlas_bytes)
            return DEJA_ERR(NULL, DEJA_LIMIT,
                            "world: wall textures need more than max_atlas_bytes %llu (%u walls, "
                            "%g texels/m); lower texels_per_m or the number of blocks",
                            (unsigned long long)p->max_atlas_bytes, w->n_walls, p->texels_per_m);
    }
    if (off > SIZE_MAX) return DEJA_ERR(NULL, DEJA_LIMIT, "world: atlas exceeds address space");
    w->atlas_bytes = (size_t)off;
    return DEJA_OK;
}

static deja_status make_textures(deja__world *w, const deja__world_params *p)
{
    deja_status st = layout_atlas(w);
    if (st != DEJA_OK) return st;
    w->atlas = deja__alloc(&w->a, w->atlas_bytes);
    if (!w->atlas) return DEJA_ERR(NULL, DEJA_NOMEM, "world: atlas of %zu bytes", w->atlas_bytes);
    for (uint32_t k = 0; k < w->n_walls; k++) {
        world_wall *wl = &w->walls[k];
        canvas c = {w->atlas + wl->tex_off[0], (int)wl->tex_w[0], (int)wl->tex_h[0],
                    p->texels_per_m, world_hash(p->seed ^ 0x7E57ull, k)};
        if (k > 0 && world_uni(&c.rng) < p->repeat_frac) {
            /* a look-alike: an earlier piece's level 0, columns stretched to this length */
            const world_wall *src = &w->walls[deja__splitmix64(&c.rng) % k];
            for (int u = 0; u < c.w; u++)
                memcpy(c.p + (size_t)u * c.h,
                       w->atlas + src->tex_off[0] + (size_t)u * src->tex_w[0] / c.w * c.h,
                       (size_t)c.h);
        } else if (p->n_photos) {
            photo(&c, &p->photos[deja__splitmix64(&c.rng) % p->n_photos]);
        } else {
            procedural(&c, c.w / p->texels_per_m, c.h / p->texels_per_m);
        }
        for (int l = 1; l < wl->n_mips; l++)
            downsample(w->atlas + wl->tex_off[l - 1], (int)wl->tex_w[l - 1], (int)wl->tex_h[l - 1],
                       w->atlas + wl->tex_off[l], (int)wl->tex_w[l], (int)wl->tex_h[l]);
    }
    return DEJA_OK;
}

/* Floor: a shade per 0.5 m tile, in 4 m areas of their own tone, a few odd tiles; ceiling: a
 * kind per 1 m panel (shade, or >= 240 for a lamp); a 1 m detail tile of speckles and spots. */
static deja_status make_floor_ceiling(deja__world *w)
{
    uint64_t rng = world_hash(w->p.seed, 0xF100);
    double tile = (double)(1 << WORLD_TILE_SHIFT) / 1024,
           panel = (double)(1 << WORLD_PANEL_SHIFT) / 1024;
    w->floor_w = (int)ceil(w->plan_w / tile) + 1;
    w->floor_h = (int)ceil(w->plan_h / tile) + 1;
    w->ceil_w = (int)ceil(w->plan_w / panel) + 1;
    w->ceil_h = (int)ceil(w->plan_h / panel) + 1;
    size_t nf = (size_t)w->floor_w * w->floor_h, nc = (size_t)w->ceil_w * w->ceil_h;
    w->floor_map = deja__alloc(&w->a, nf);
    w->ceil_map = deja__alloc(&w->a, nc);
    w->detail = deja__alloc(&w->a, WORLD_DETAIL * WORLD_DETAIL);
    if (!w->floor_map || !w->ceil_map || !w->detail)
        return DEJA_ERR(NULL, DEJA_NOMEM, "world: floor and ceiling maps");
    int area = (int)(4 / tile);
    for (int y = 0; y < w->floor_h; y++)
        for (int x = 0; x < w->floor_w; x++) {
            uint64_t h = world_hash(w->p.seed ^ 0xA4EAull, (uint64_t)(y / area) * 65536 + x / area);
            int tone = 70 + (int)(h % 90);
            double r = world_uni(&rng);
            int v = r < 0.03 ? 25 : r < 0.06 ? 215 : tone + (int)(world_uni(&rng) * 36) - 18;
            w->floor_map[(size_t)y * w->floor_w + x] = (uint8_t)clampi(v, 0, 255);
        }
    for (size_t i = 0; i < nc; i++)
        w->ceil_map[i] = world_uni(&rng) < 0.12 ? 250 : (uint8_t)(165 + deja__splitmix64(&rng) % 50);
    canvas c = {w->detail, WORLD_DETAIL, WORLD_DETAIL, WORLD_DETAIL, rng};
    for (int i = 0; i < WORLD_DETAIL * WORLD_DETAIL; i++)
        w->detail[i] = (uint8_t)(128 + (int)(deja__splitmix64(&c.rng) % 13) - 6);
    for (int k = 0; k < 25; k++) /* spots, as offsets below 128 */
        ellipse(&c, rnd(&c, 0.05, 0.95), rnd(&c, 0.05, 0.95), rnd(&c, 0.006, 0.03),
                rnd(&c, 0.006, 0.03), rndi(&c, 60, 100));
    return DEJA_OK;
}

/* ---- handle ------------------------------------------------------------------------------ */

deja_status deja__world_create(const deja_allocator *a, const deja__world_params *p,
                               deja__world **out)
{
    if (!a || !p || !out)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "deja__world_create: NULL argument");
    deja_status st = check_params(p);
    if (st != DEJA_OK) return st;
    deja__world *w = deja__calloc(a, 1, sizeof *w);
    if (!w) return DEJA_ERR(NULL, DEJA_NOMEM, "world: handle");
    w->a = *a;
    w->p = *p;
    w->p.photos = NULL; /* borrowed during create only */
    w->p.n_photos = 0;
    double hfov = p->hfov_deg * PI / 180;
    w->fx = w->fy = (p->width / 2.0) / tan(hfov / 2);
    w->cx = (p->width - 1) / 2.0;
    w->cy = (p->height - 1) / 2.0;
    uint64_t rng = world_hash(p->seed, 0x11647);
    for (int k = 0; k < 8; k++)
        w->light_phase[k] = world_range(&rng, 0, 2 * PI);
    if ((st = make_plan(w)) != DEJA_OK || (st = make_grid(w)) != DEJA_OK ||
        (st = make_textures(w, p)) != DEJA_OK || (st = make_floor_ceiling(w)) != DEJA_OK ||
        (st = deja__world_build_route(w)) != DEJA_OK ||
        (st = deja__world_view_init(&w->view, w, &w->a)) != DEJA_OK) {
        deja__world_destroy(w);
        return st;
    }
    w->total_bytes = sizeof *w + w->atlas_bytes + w->n_walls * sizeof(world_wall) +
                     ((size_t)w->grid_w * w->grid_h + 1 + w->n_cell_items) * sizeof(uint32_t) +
                     (size_t)w->floor_w * w->floor_h + (size_t)w->ceil_w * w->ceil_h +
                     WORLD_DETAIL * WORLD_DETAIL + w->n_prims * sizeof(world_prim) +
                     (size_t)(w->n_streets_x + w->n_streets_y) * sizeof(double) + w->view.bytes;
    *out = w;
    return DEJA_OK;
}

void deja__world_destroy(deja__world *w)
{
    if (!w) return;
    const deja_allocator *a = &w->a;
    deja__world_view_release(&w->view);
    deja__free(a, w->prims, w->n_prims * sizeof(world_prim));
    deja__free(a, w->detail, WORLD_DETAIL * WORLD_DETAIL);
    deja__free(a, w->ceil_map, (size_t)w->ceil_w * w->ceil_h);
    deja__free(a, w->floor_map, (size_t)w->floor_w * w->floor_h);
    deja__free(a, w->atlas, w->atlas_bytes);
    deja__free(a, w->cell_items, (w->n_cell_items ? w->n_cell_items : 1) * sizeof(uint32_t));
    if (w->cell_start)
        deja__free(a, w->cell_start, ((size_t)w->grid_w * w->grid_h + 1) * sizeof(uint32_t));
    deja__free(a, w->walls, w->n_walls * sizeof(world_wall));
    deja__free(a, w->street_y, (size_t)w->n_streets_y * sizeof(double));
    deja__free(a, w->street_x, (size_t)w->n_streets_x * sizeof(double));
    deja_allocator copy = *a;
    deja__free(&copy, w, sizeof *w);
}

uint32_t deja__world_n_frames(const deja__world *w)
{
    return w->p.n_frames;
}

const deja__world_params *deja__world_get_params(const deja__world *w)
{
    return &w->p;
}

void deja__world_get_info(const deja__world *w, deja__world_info *out)
{
    memset(out, 0, sizeof *out);
    out->n_walls = w->n_walls;
    out->n_route_nodes = w->n_route_nodes;
    out->plan_w_m = w->plan_w;
    out->plan_h_m = w->plan_h;
    out->route_m = w->route_m;
    out->atlas_bytes = w->atlas_bytes;
    out->total_bytes = w->total_bytes;
}

void deja__world_intrinsics(const deja__world *w, double *fx, double *fy, double *cx, double *cy)
{
    if (fx) *fx = w->fx;
    if (fy) *fy = w->fy;
    if (cx) *cx = w->cx;
    if (cy) *cy = w->cy;
}
