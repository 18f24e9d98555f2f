/* orb.c - our ORB extractor: FAST-9 + NMS, Harris ranking, pyramid, quadtree spread,
 * intensity-centroid angle, 256-bit steered BRIEF.
 *
 * Papers: Rublee, Rabaud, Konolige, Bradski 2011 "ORB: an efficient alternative to SIFT or
 * SURF"; Mur-Artal, Montiel, Tardos 2015 "ORB-SLAM" (its extractor: per-cell FAST thresholds and
 * the quadtree spread); Rosten & Drummond 2006 (FAST); Rosin 1999 (intensity centroid);
 * Harris & Stephens 1988. See docs/orb.md for the choices and the measurements.
 *
 * Per level (level 0 is the input, level i is the bilinear resize of level i-1 by 1/scale):
 * 1. FAST-9 with the fast_row kernel (threshold fast_threshold) over the level minus the edge;
 *    cells of ~30 px that found nothing are searched again with min_fast_threshold.
 * 2. Each candidate's FAST score goes into a level-sized byte map (kept all-zero between uses,
 *    cleared point by point), and 3x3 non-maximum suppression keeps local maxima; equal scores
 *    are broken by raster order, so no two neighbours both survive.
 * 3. A quadtree (ORB-SLAM's DistributeOctTree) splits the level until it has SPREAD times as
 *    many non-empty nodes as the level's share of the features; each node keeps its best Harris
 *    response (7x7 block, Sobel gradients, k = 0.04, integer sums), and the strongest of those
 *    winners are kept (SPREAD 1 would be ORB-SLAM's; see below and docs/orb.md).
 * 4. Angle by the intensity centroid on the radius-15 disc; descriptor by 256 tests of our
 *    pattern (orb_pattern.c) rotated to the nearest of 64 angle bins, on the level blurred by a
 *    7x7 sigma-2 Gaussian. Rotated patterns are kept as pixel offsets for the blur buffer's
 *    stride, which is the same for every level.
 * Every buffer belongs to the handle and is sized for the largest level when the frame size
 * changes (worst cases, not guesses), so later frames of that size allocate nothing. */
#include "orb.h"

#include "image.h"
#include "simd.h"

#include <math.h>
#include <string.h>

#define MAX_LEVELS 32
#define CELL_PX    30 /* ORB-SLAM's FAST cell size */
/* Quadtree nodes per wanted feature. ORB-SLAM uses 1 (one winner per node: the widest spread);
 * on warped TUM frames that costs 0.2 of repeatability against OpenCV's strongest-N choice.
 * With 7 nodes per feature and the strongest node winners kept, repeatability equals OpenCV's
 * while clusters are still broken up (one keypoint per node). docs/orb.md has the trade-off. */
#define SPREAD 7

typedef struct {
    int32_t x, y;
} point;

/* An NMS survivor at level coordinates (16 bits: the quadtree moves these around a lot). */
typedef struct {
    int16_t x, y;
} cand;

/* Quadtree node: a half-open pixel box and the range of survivors inside it. */
typedef struct {
    int32_t x0, y0, x1, y1;
    int32_t begin, end;
} qnode;

/* A node winner: Harris response and survivor index. Ranks by response, then index (a total
 * order, so the selected set does not depend on the algorithm). */
typedef struct {
    int64_t key;
    int32_t idx;
} ranked;

struct deja_orb {
    deja_allocator alloc;
    deja_orb_params p;
    deja__kernels k;
    bool simd; /* use the SSE2 kernels of orb_kern.c (not with DEJA_SIMD_SCALAR) */
    char err[DEJA_ERROR_BYTES];

    int8_t rot[DEJA_ORB_ANGLE_BINS][DEJA_ORB_BITS][4];       /* rotated pattern points */
    int32_t rot_off[DEJA_ORB_ANGLE_BINS][2 * DEJA_ORB_BITS]; /* same as offsets at rot_stride */
    int rot_stride;
    int umax[DEJA_ORB_PATCH_RADIUS + 1]; /* half width of the orientation disc per row */
    int level_target[MAX_LEVELS];        /* features per level before carry-over */

    /* Frame-size dependent; set up by setup_size(). */
    int fw, fh, n_levels;
    int lw[MAX_LEVELS], lh[MAX_LEVELS];
    deja__gray lev[2]; /* ping-pong pyramid levels >= 1 */
    deja__gray blur;   /* stride fixed to the level-0 stride */
    uint16_t *blur_tmp;
    size_t blur_tmp_cap;
    uint8_t *score; /* level-sized, all zero between levels */
    size_t score_cap;
    point *cands;
    size_t cands_cap;
    int32_t *xs;
    size_t xs_cap;
    int32_t *cells;
    size_t cells_cap;
    cand *surv, *surv_tmp;
    size_t surv_cap, surv_tmp_cap;
    qnode *nodes[2];
    size_t nodes_cap[2];
    uint64_t *keys; /* quadtree: nodes to split, by population */
    size_t keys_cap;
    ranked *win; /* node winners */
    size_t win_cap;

    /* Output. */
    deja_keypoint *kps;
    size_t kps_cap;
    uint8_t *desc;
    size_t desc_cap;
};

/* ---- create / destroy ----------------------------------------------------------------------- */

static deja_status check_params(const deja_orb_params *p, char *err)
{
    if (p->n_features < 1 || p->n_features > (1 << 20))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "orb: n_features %d not in [1, %d]", p->n_features,
                        1 << 20);
    if (p->n_levels < 1 || p->n_levels > MAX_LEVELS)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "orb: n_levels %d not in [1, %d]", p->n_levels,
                        MAX_LEVELS);
    if (!(p->scale_factor > 1.001f && p->scale_factor <= 4.0f))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "orb: scale_factor %g not in (1, 4]",
                        (double)p->scale_factor);
    if (p->fast_threshold < 1 || p->fast_threshold > 254 || p->min_fast_threshold < 1 ||
        p->min_fast_threshold > p->fast_threshold)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "orb: FAST thresholds %d, %d: need 1 <= min_fast_threshold <= "
                        "fast_threshold <= 254",
                        p->fast_threshold, p->min_fast_threshold);
    /* The orientation disc and the pattern reach 15 pixels, plus one for 16-byte loads. */
    if (p->edge_threshold < DEJA_ORB_PATCH_RADIUS + 1 || p->edge_threshold > 1024)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "orb: edge_threshold %d not in [%d, 1024]",
                        p->edge_threshold, DEJA_ORB_PATCH_RADIUS + 1);
    return DEJA_OK;
}

/* Features per level: a geometric series of ratio 1 / scale, as ORB-SLAM and OpenCV. */
static void level_targets(const deja_orb_params *p, int *out)
{
    double f = 1.0 / p->scale_factor, n = p->n_features;
    double first = n * (1 - f) / (1 - pow(f, p->n_levels));
    int sum = 0;
    for (int i = 0; i < p->n_levels - 1; i++) {
        out[i] = (int)lround(first * pow(f, i));
        sum += out[i];
    }
    out[p->n_levels - 1] = p->n_features - sum > 0 ? p->n_features - sum : 0;
}

deja_status deja_orb_create(const deja_options *o, deja_orb **out)
{
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "orb: out is NULL");
    deja_options opt = deja__options_resolve(o);
    deja_status st = check_params(&opt.orb, NULL);
    if (st != DEJA_OK) return st;
    deja__kernels k;
    if ((st = deja__kernels_get(opt.simd, &k)) != DEJA_OK) return st;
    deja_allocator a = deja__allocator(&opt);
    deja_orb *h = deja__calloc(&a, 1, sizeof *h);
    if (!h) return DEJA_ERR(NULL, DEJA_NOMEM, "orb: no memory for the handle");
    h->alloc = a;
    h->p = opt.orb;
    h->k = k;
    h->simd = k.kind != DEJA_SIMD_SCALAR;

    int8_t pat[DEJA_ORB_BITS][4];
    deja__orb_pattern(DEJA_ORB_PATTERN_SEED, pat);
    for (int b = 0; b < DEJA_ORB_ANGLE_BINS; b++)
        deja__orb_pattern_rotate(pat, b, h->rot[b]);
    /* u^2 + v^2 <= 15.5^2: a round digital disc, symmetric in u and v. */
    for (int v = 0; v <= DEJA_ORB_PATCH_RADIUS; v++) {
        int u = 0;
        while ((u + 1) * (u + 1) + v * v <= 240)
            u++;
        h->umax[v] = u;
    }
    level_targets(&h->p, h->level_target);

    size_t n = (size_t)h->p.n_features;
    if (!deja__reserve(&a, (void **)&h->kps, &h->kps_cap, n, sizeof *h->kps) ||
        !deja__reserve(&a, (void **)&h->desc, &h->desc_cap, n * 32, 1)) {
        deja_orb_destroy(h);
        return DEJA_ERR(NULL, DEJA_NOMEM, "orb: no memory for %zu features", n);
    }
    *out = h;
    return DEJA_OK;
}

void deja_orb_destroy(deja_orb *h)
{
    if (!h) return;
    deja_allocator a = h->alloc;
    deja__gray_free(&a, &h->lev[0]);
    deja__gray_free(&a, &h->lev[1]);
    deja__gray_free(&a, &h->blur);
    deja__free(&a, h->blur_tmp, h->blur_tmp_cap * sizeof *h->blur_tmp);
    deja__free(&a, h->score, h->score_cap);
    deja__free(&a, h->cands, h->cands_cap * sizeof *h->cands);
    deja__free(&a, h->xs, h->xs_cap * sizeof *h->xs);
    deja__free(&a, h->cells, h->cells_cap * sizeof *h->cells);
    deja__free(&a, h->surv, h->surv_cap * sizeof *h->surv);
    deja__free(&a, h->surv_tmp, h->surv_tmp_cap * sizeof *h->surv_tmp);
    deja__free(&a, h->nodes[0], h->nodes_cap[0] * sizeof *h->nodes[0]);
    deja__free(&a, h->nodes[1], h->nodes_cap[1] * sizeof *h->nodes[1]);
    deja__free(&a, h->keys, h->keys_cap * sizeof *h->keys);
    deja__free(&a, h->win, h->win_cap * sizeof *h->win);
    deja__free(&a, h->kps, h->kps_cap * sizeof *h->kps);
    deja__free(&a, h->desc, h->desc_cap);
    deja__free(&a, h, sizeof *h);
}

const char *deja_orb_error(const deja_orb *h)
{
    return h ? h->err : "orb: NULL handle";
}

/* ---- per-size setup ------------------------------------------------------------------------- */

static bool reserve(deja_orb *h, void *buf, size_t *cap, size_t need, size_t elem)
{
    return deja__reserve(&h->alloc, (void **)buf, cap, need, elem);
}

/* Level sizes and every buffer at its worst case for a w x h frame. */
static deja_status setup_size(deja_orb *h, int w, int hgt)
{
    const int e = h->p.edge_threshold;
    double s = 1.0;
    h->n_levels = 0;
    for (int i = 0; i < h->p.n_levels; i++, s *= h->p.scale_factor) {
        int lw = i == 0 ? w : (int)lround(w / s), lh = i == 0 ? hgt : (int)lround(hgt / s);
        if (lw <= 2 * e || lh <= 2 * e) break; /* no room for a keypoint */
        h->lw[i] = lw, h->lh[i] = lh;
        h->n_levels++;
    }
    size_t area = (size_t)w * (size_t)hgt; /* checked by the caller */
    size_t rw = (size_t)(w - 2 * e), rh = (size_t)(hgt - 2 * e);
    size_t cells = (rw / CELL_PX + 1) * (rh / CELL_PX + 1);
    /* NMS leaves at most one survivor per 2x2 block (two neighbours never both survive). */
    size_t surv = ((rw + 1) / 2) * ((rh + 1) / 2);
    size_t stride = ((size_t)w + 15) & ~(size_t)15, score_before = h->score_cap;
    bool ok =
        h->n_levels < 2 || (deja__gray_resize_buffer(&h->alloc, &h->lev[0], h->lw[1], h->lh[1]) &&
                            deja__gray_resize_buffer(&h->alloc, &h->lev[1], h->lw[1], h->lh[1]));
    ok = ok && deja__gray_resize_buffer(&h->alloc, &h->blur, w, hgt);
    ok = ok && reserve(h, &h->blur_tmp, &h->blur_tmp_cap, area, sizeof *h->blur_tmp);
    if (ok && area > h->score_cap) {
        /* The map must start zeroed; calloc-like, not reserve (no copy needed). */
        uint8_t *m = deja__calloc(&h->alloc, area, 1);
        ok = m != NULL;
        if (ok) {
            deja__free(&h->alloc, h->score, score_before);
            h->score = m;
            h->score_cap = area;
        }
    }
    ok = ok && reserve(h, &h->cands, &h->cands_cap, rw * rh, sizeof *h->cands);
    ok = ok && reserve(h, &h->xs, &h->xs_cap, (size_t)w, sizeof *h->xs);
    ok = ok && reserve(h, &h->cells, &h->cells_cap, cells, sizeof *h->cells);
    /* + 1: nms() writes one slot past the last survivor (branch-free). */
    ok = ok && reserve(h, &h->surv, &h->surv_cap, surv + 1, sizeof *h->surv);
    ok = ok && reserve(h, &h->surv_tmp, &h->surv_tmp_cap, surv + 1, sizeof *h->surv_tmp);
    /* Full rounds fill one list from the other; the careful phase appends children after dead
     * parents, and every split adds at least one live node: 2 * survivors bounds both. */
    ok = ok && reserve(h, &h->nodes[0], &h->nodes_cap[0], 2 * surv + 64, sizeof(qnode));
    ok = ok && reserve(h, &h->nodes[1], &h->nodes_cap[1], 2 * surv + 64, sizeof(qnode));
    ok = ok && reserve(h, &h->keys, &h->keys_cap, 2 * surv + 64, sizeof *h->keys);
    ok = ok && reserve(h, &h->win, &h->win_cap, 2 * surv + 64, sizeof *h->win);
    if (!ok) {
        h->fw = h->fh = 0;
        return DEJA_ERR(h->err, DEJA_NOMEM, "orb: no memory for %dx%d frames", w, hgt);
    }
    /* All levels are blurred into one buffer with the level-0 stride: one offset table. */
    if ((int)stride != h->rot_stride) {
        for (int b = 0; b < DEJA_ORB_ANGLE_BINS; b++)
            for (int i = 0; i < DEJA_ORB_BITS; i++)
                for (int k = 0; k < 2; k++)
                    h->rot_off[b][2 * i + k] =
                        h->rot[b][i][2 * k + 1] * (int32_t)stride + h->rot[b][i][2 * k];
        h->rot_stride = (int)stride;
    }
    h->fw = w, h->fh = hgt;
    return DEJA_OK;
}

/* ---- FAST score, Harris, angle, descriptor -------------------------------------------------- */

/* The kernels of orb_kern.c: SSE2 on x86-64 unless the scalar set was asked for. */
static inline int fast_score(const deja_orb *h, const uint8_t *p, ptrdiff_t st)
{
#if defined(__x86_64__)
    if (h->simd) return deja__orb_fast_score_sse2(p, st);
#endif
    (void)h;
    return deja__orb_fast_score_ref(p, st);
}

static inline int64_t harris(const deja_orb *h, const uint8_t *c, ptrdiff_t st)
{
#if defined(__x86_64__)
    if (h->simd) return deja__orb_harris_sse2(c, st);
#endif
    (void)h;
    return deja__orb_harris_ref(c, st);
}

/* Intensity centroid angle in degrees [0, 360): atan2(m01, m10), y down. */
static float ic_angle(const deja_orb *h, const uint8_t *c, ptrdiff_t st)
{
    int32_t m10, m01;
#if defined(__x86_64__)
    if (h->simd)
        deja__orb_moments_sse2(c, st, h->umax, &m10, &m01);
    else
#endif
        deja__orb_moments_ref(c, st, h->umax, &m10, &m01);
    float ang = atan2f((float)m01, (float)m10) * (float)(180.0 / 3.14159265358979323846);
    if (ang < 0) ang += 360.0f;
    if (ang >= 360.0f) ang -= 360.0f;
    return ang;
}

static void brief(const int32_t *off, const uint8_t *c, uint8_t *out)
{
    for (int i = 0; i < 32; i++, off += 16) {
        unsigned byte = 0;
        for (int j = 0; j < 8; j++)
            byte |= (unsigned)(c[off[2 * j]] < c[off[2 * j + 1]]) << j;
        out[i] = (uint8_t)byte;
    }
}

/* ---- detection ------------------------------------------------------------------------------ */

/* FAST over one level into h->cands; returns the count. Cells of ~CELL_PX that found nothing at
 * fast_threshold are searched again at min_fast_threshold (ORB-SLAM). */
static size_t detect_fast(deja_orb *h, const deja_image *im)
{
    const int e = h->p.edge_threshold, w = im->width, hg = im->height;
    const int rw = w - 2 * e, rh = hg - 2 * e;
    const int ncx = rw / CELL_PX > 0 ? rw / CELL_PX : 1, ncy = rh / CELL_PX > 0 ? rh / CELL_PX : 1;
    const int cw = (rw + ncx - 1) / ncx, ch = (rh + ncy - 1) / ncy;
    memset(h->cells, 0, (size_t)ncx * (size_t)ncy * sizeof *h->cells);
    point *out = h->cands;
    size_t n = 0;
    for (int y = e, cy = 0, ybound = e + ch; y < hg - e; y++) {
        if (y >= ybound) cy++, ybound += ch;
        const uint8_t *row = im->pixels + (ptrdiff_t)y * im->stride;
        int m = h->k.fast_row(row, im->stride, e, w - e, h->p.fast_threshold, h->xs);
        int32_t *cellrow = h->cells + (ptrdiff_t)cy * ncx;
        int cx = 0, xbound = e + cw;
        for (int i = 0; i < m; i++) {
            int x = h->xs[i];
            while (x >= xbound)
                cx++, xbound += cw; /* xs ascend: walk the cell edges */
            cellrow[cx]++;
            out[n++] = (point){x, y};
        }
    }
    if (h->p.min_fast_threshold >= h->p.fast_threshold) return n;
    for (int cy = 0; cy < ncy; cy++) {
        for (int cx = 0; cx < ncx; cx++) {
            if (h->cells[cy * ncx + cx]) continue;
            int x0 = e + cx * cw, x1 = x0 + cw < w - e ? x0 + cw : w - e;
            int y0 = e + cy * ch, y1 = y0 + ch < hg - e ? y0 + ch : hg - e;
            for (int y = y0; y < y1; y++) {
                const uint8_t *row = im->pixels + (ptrdiff_t)y * im->stride;
                int m = h->k.fast_row(row, im->stride, x0, x1, h->p.min_fast_threshold, h->xs);
                for (int i = 0; i < m; i++)
                    out[n++] = (point){h->xs[i], y};
            }
        }
    }
    return n;
}

/* Scores into the map, 3x3 NMS into h->surv, map cleared again. Returns the survivors. */
static size_t nms(deja_orb *h, const deja_image *im, size_t n)
{
    const int w = im->width;
    uint8_t *map = h->score;
    for (size_t i = 0; i < n; i++) {
        const point q = h->cands[i];
        int s = fast_score(h, im->pixels + (ptrdiff_t)q.y * im->stride + q.x, im->stride);
        map[(size_t)q.y * w + q.x] = (uint8_t)(s > 0 ? s : 1);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const point q = h->cands[i];
        const uint8_t *c = map + (size_t)q.y * w + q.x;
        const int s = c[0];
        /* Ties: a pixel beats the neighbours before it in raster order, loses to those after.
         * Branch-free: the outcome is a coin toss to the predictor. */
        int before = c[-w - 1] > c[-w] ? c[-w - 1] : c[-w];
        before = before > c[-w + 1] ? before : c[-w + 1];
        before = before > c[-1] ? before : c[-1];
        int after = c[1] > c[w - 1] ? c[1] : c[w - 1];
        after = after > c[w] ? after : c[w];
        after = after > c[w + 1] ? after : c[w + 1];
        h->surv[m] = (cand){(int16_t)q.x, (int16_t)q.y};
        m += (s >= before) & (s > after);
    }
    for (size_t i = 0; i < n; i++)
        map[(size_t)h->cands[i].y * w + h->cands[i].x] = 0;
    return m;
}

/* Heap sort, ascending, of plain 64-bit keys (no allocation, unlike qsort in some libcs). */
static void sift_u64(uint64_t *v, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && v[c + 1] > v[c]) c++;
        if (v[i] >= v[c]) return;
        uint64_t t = v[i];
        v[i] = v[c], v[c] = t;
        i = c;
    }
}

static void sort_u64(uint64_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_u64(v, i, n);
    for (size_t end = n; end > 1; end--) {
        uint64_t t = v[0];
        v[0] = v[end - 1], v[end - 1] = t;
        sift_u64(v, 0, end - 1);
    }
}

static inline bool ranks_before(ranked a, ranked b)
{
    return a.key > b.key || (a.key == b.key && a.idx < b.idx);
}

/* Reorder v so that v[0..k) are the k best-ranked (in no particular order): quickselect with
 * median-of-three pivots, O(n) on average. */
static void select_top(ranked *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        /* Median of three to the end as pivot. */
        if (ranks_before(v[mid], v[lo])) {
            ranked t = v[mid];
            v[mid] = v[lo], v[lo] = t;
        }
        if (ranks_before(v[last], v[lo])) {
            ranked t = v[last];
            v[last] = v[lo], v[lo] = t;
        }
        if (ranks_before(v[mid], v[last])) {
            ranked t = v[mid];
            v[mid] = v[last], v[last] = t;
        }
        const ranked p = v[last];
        size_t i = lo;
        for (size_t j = lo; j < last; j++) {
            if (ranks_before(v[j], p)) {
                ranked t = v[i];
                v[i++] = v[j], v[j] = t;
            }
        }
        v[last] = v[i], v[i] = p;
        if (k <= i)
            hi = i;
        else if (k > i + 1)
            lo = i + 1;
        else
            return;
    }
}

/* Move the survivors of [b, e) with pred true to the front; returns the split point. */
static int32_t partition(cand *c, int32_t b, int32_t e, int by_y, int32_t mid)
{
    while (b < e) {
        if ((by_y ? c[b].y : c[b].x) < mid) {
            b++;
        } else {
            cand t = c[--e];
            c[e] = c[b], c[b] = t;
        }
    }
    return b;
}

/* Split node q (>= 2 survivors) into its non-empty quadrants, appended at out[*n]. A split that
 * leaves everything in one quadrant shrinks to it and splits again, so every call adds >= 2.
 * One counting pass and one branch-free scatter through tmp (a compare-and-swap partition
 * mispredicts every other survivor). */
static void split(cand *c, cand *tmp, qnode q, qnode *out, size_t *n)
{
    for (;;) {
        const int32_t xm = (q.x0 + q.x1) / 2, ym = (q.y0 + q.y1) / 2;
        int32_t cnt[4] = {0, 0, 0, 0};
        for (int32_t j = q.begin; j < q.end; j++)
            cnt[(c[j].y >= ym) * 2 + (c[j].x >= xm)]++;
        qnode k[4] = {{q.x0, q.y0, xm, ym, 0, 0},
                      {xm, q.y0, q.x1, ym, 0, 0},
                      {q.x0, ym, xm, q.y1, 0, 0},
                      {xm, ym, q.x1, q.y1, 0, 0}};
        int32_t pos[4], at = q.begin, live = 0, last = 0;
        for (int i = 0; i < 4; i++) {
            k[i].begin = pos[i] = at;
            k[i].end = at += cnt[i];
            if (cnt[i]) live++, last = i;
        }
        if (live == 1) {
            q = (qnode){k[last].x0, k[last].y0, k[last].x1, k[last].y1, q.begin, q.end};
            continue;
        }
        for (int32_t j = q.begin; j < q.end; j++)
            tmp[pos[(c[j].y >= ym) * 2 + (c[j].x >= xm)]++ - q.begin] = c[j];
        memcpy(c + q.begin, tmp, (size_t)(q.end - q.begin) * sizeof *c);
        for (int i = 0; i < 4; i++)
            if (cnt[i]) out[(*n)++] = k[i];
        return;
    }
}

/* ORB-SLAM's DistributeOctTree: split nodes (all at once while that stays below the target,
 * then the most populated first) until there are `target` non-empty nodes or nothing left to
 * split. Returns the node list (dead nodes have begin == end) and its length. */
static qnode *quadtree(deja_orb *h, size_t n_surv, int w, int hg, int target, size_t *n_nodes)
{
    const int e = h->p.edge_threshold;
    const int rw = w - 2 * e, rh = hg - 2 * e;
    int n_ini = (int)lround((double)rw / rh);
    n_ini = n_ini < 1 ? 1 : n_ini > 64 ? 64 : n_ini;
    qnode *cur = h->nodes[0], *next = h->nodes[1];
    size_t n = 0;
    /* Initial columns of nodes, about square. */
    int32_t b = 0;
    for (int i = 0; i < n_ini; i++) {
        int32_t x0 = e + (int32_t)((int64_t)rw * i / n_ini);
        int32_t x1 = e + (int32_t)((int64_t)rw * (i + 1) / n_ini);
        int32_t m = partition(h->surv, b, (int32_t)n_surv, 0, x1);
        if (m > b) cur[n++] = (qnode){x0, e, x1, hg - e, b, m};
        b = m;
    }
    size_t live = n;
    for (;;) {
        size_t splittable = 0;
        for (size_t i = 0; i < n; i++)
            splittable += cur[i].end - cur[i].begin > 1;
        if (splittable == 0 || live >= (size_t)target) break;
        if (live + 3 * splittable < (size_t)target) {
            /* Far from the target: split every node in one round. */
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                if (cur[i].end - cur[i].begin > 1)
                    split(h->surv, h->surv_tmp, cur[i], next, &m);
                else if (cur[i].end > cur[i].begin)
                    next[m++] = cur[i];
            }
            qnode *t = cur;
            cur = next, next = t;
            n = live = m;
            continue;
        }
        /* Close to it: split the most populated nodes first, stop on reaching it. */
        /* Keys: count high, then the node index reversed, so that a descending walk takes
         * the most populated first and ties in index order. */
        uint64_t *keys = h->keys;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t cnt = (uint64_t)(cur[i].end - cur[i].begin);
            if (cnt > 1) keys[k++] = cnt << 32 | (uint64_t)(UINT32_MAX - (uint32_t)i);
        }
        sort_u64(keys, k);
        for (size_t j = k; j-- > 0 && live < (size_t)target;) {
            size_t idx = UINT32_MAX - (uint32_t)keys[j];
            size_t before_n = n;
            split(h->surv, h->surv_tmp, cur[idx], cur, &n);
            cur[idx].end = cur[idx].begin; /* parent dies */
            live += n - before_n - 1;
        }
        if (live >= (size_t)target) break;
    }
    *n_nodes = n;
    return cur;
}

/* Detect on one level: FAST, NMS, quadtree, best Harris per node, the strongest `target` of
 * those. Leaves them in h->win and returns how many. */
static size_t select_level(deja_orb *h, const deja_image *im, int target)
{
    size_t n = detect_fast(h, im);
    size_t m = nms(h, im, n);
    if (m == 0 || target <= 0) return 0;
    size_t n_nodes;
    /* SPREAD nodes per wanted feature, then the strongest node winners (docs/orb.md). */
    qnode *nodes = quadtree(h, m, im->width, im->height, SPREAD * target, &n_nodes);
    size_t k = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        if (nodes[i].end == nodes[i].begin) continue;
        ranked best = {INT64_MIN, -1};
        for (int32_t j = nodes[i].begin; j < nodes[i].end; j++) {
            const cand *c = &h->surv[j];
            int64_t r = harris(h, im->pixels + (ptrdiff_t)c->y * im->stride + c->x, im->stride);
            if (best.idx < 0 || r > best.key) best = (ranked){r, j};
        }
        h->win[k++] = best;
    }
    if (k > (size_t)target) {
        select_top(h->win, k, (size_t)target);
        k = (size_t)target;
    }
    return k;
}

static deja_status check_image(deja_orb *h, const deja_image *im)
{
    if (!im) return DEJA_ERR(h->err, DEJA_INVALID_ARG, "orb: image is NULL");
    if (!im->pixels) return DEJA_ERR(h->err, DEJA_INVALID_ARG, "orb: image pixels are NULL");
    if (im->width <= 0 || im->height <= 0)
        return DEJA_ERR(h->err, DEJA_INVALID_ARG, "orb: image size %dx%d", im->width, im->height);
    if (im->stride < im->width)
        return DEJA_ERR(h->err, DEJA_INVALID_ARG, "orb: stride %d < width %d", im->stride,
                        im->width);
    const int e = h->p.edge_threshold;
    if (im->width <= 2 * e || im->height <= 2 * e)
        return DEJA_ERR(h->err, DEJA_INVALID_ARG,
                        "orb: image %dx%d is too small: needs more than %d pixels each way "
                        "(edge_threshold %d on both sides)",
                        im->width, im->height, 2 * e, e);
    if (im->width > 32767 || im->height > 32767)
        return DEJA_ERR(h->err, DEJA_LIMIT, "orb: image %dx%d: at most 32767 pixels each way",
                        im->width, im->height);
    return DEJA_OK;
}

deja_status deja_orb_detect(deja_orb *h, const deja_image *im, deja_features *out)
{
    if (!h) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "orb: handle is NULL");
    if (!out) return DEJA_ERR(h->err, DEJA_INVALID_ARG, "orb: out is NULL");
    deja_status st = check_image(h, im);
    if (st != DEJA_OK) return st;
    if ((im->width != h->fw || im->height != h->fh) &&
        (st = setup_size(h, im->width, im->height)) != DEJA_OK)
        return st;

    size_t total = 0;
    int carry = 0;
    deja_image level = *im;
    for (int L = 0; L < h->n_levels; L++) {
        if (L > 0) {
            deja__gray *g = &h->lev[L & 1];
            g->width = h->lw[L], g->height = h->lh[L];
            deja__image_resize(&level, g);
            level = deja__gray_view(g);
        }
        int target = h->level_target[L] + carry;
        size_t k = select_level(h, &level, target);
        carry = target - (int)k;
        if (k == 0) continue;

        /* Blur the level into the shared-stride buffer, then angle + descriptor. */
        h->blur.width = level.width, h->blur.height = level.height;
        deja__image_blur7(&level, &h->blur, h->blur_tmp);
        const double sx = (double)h->fw / level.width, sy = (double)h->fh / level.height;
        const float size = (float)(2 * DEJA_ORB_PATCH_RADIUS + 1) * (float)sx;
        for (size_t i = 0; i < k; i++) {
            const cand *c = &h->surv[h->win[i].idx];
            const int64_t response = h->win[i].key;
            float ang =
                ic_angle(h, level.pixels + (ptrdiff_t)c->y * level.stride + c->x, level.stride);
            int bin = (int)(ang * (DEJA_ORB_ANGLE_BINS / 360.0f) + 0.5f);
            if (bin >= DEJA_ORB_ANGLE_BINS) bin -= DEJA_ORB_ANGLE_BINS;
            const uint8_t *center = h->blur.pixels + (ptrdiff_t)c->y * h->blur.stride + c->x;
            brief(h->rot_off[bin], center, h->desc + total * 32);
            /* Centre-aligned resizes compose: level pixel x covers level-0 (x + .5) * sx - .5. */
            const double k4 = 1.0 / (4.0 * 7 * 255);
            h->kps[total] = (deja_keypoint){
                .x = (float)((c->x + 0.5) * sx - 0.5),
                .y = (float)((c->y + 0.5) * sy - 0.5),
                .size = size,
                .angle = ang,
                .response = (float)((double)response / 25 * k4 * k4 * k4 * k4),
                .octave = L,
            };
            total++;
        }
    }
    *out = (deja_features){total, h->kps, h->desc, DEJA_DESC_BINARY, 32};
    return DEJA_OK;
}
