/* alike.c - ALIKE keypoints and descriptors from the network's dense outputs (alike.h).
 *
 * How it works (DKD of ALIKE's soft_detect.py, Zhao et al. 2022; spec in the model README):
 * 1. NMS as SuperPoint's simple_nms: M = S == maxpool(S) over a (2r+1)^2 window (-inf outside
 *    the image); twice: pixels within r of a kept maximum are zeroed and the maxima of what
 *    remains join M. Max-pool is separable (rows, then columns), so it is exact, in any order.
 *    Equality keeps every tied maximum, as torch does.
 * 2. N = M ? S : 0, zeroed on the r+1 first and r last rows and columns.
 * 3. Candidates N > scores_th (else > mean(S)) in raster order; beyond the limit the strongest
 *    (score, then raster index) by a heap of size limit, then sorted. top_k ranks all pixels.
 * 4. Sub-pixel: soft-argmax of exp((P - max P) / 0.1) over the 5x5 patch of S (zeros outside).
 * 5. Score and descriptor by bilinear sampling in pixel coordinates (align_corners) with zero
 *    padding, then the descriptor is L2-normalised (norm clamped at 1e-12).
 * All buffers are sized for max_w x max_h at create and carved from one block. */
#include "alike.h"

#include <math.h>
#include <string.h>

struct deja__alike_post {
    deja_allocator alloc;
    deja__alike_params p;
    int max_w, max_h, dim;
    size_t cap_kp; /* keypoints a run can return */
    void *block;
    size_t block_bytes;
    float *s, *tmp, *pool, *n; /* per pixel: scores, row-pass max, pooled, NMS scores */
    uint8_t *mask, *supp;      /* per pixel: kept maxima, suppressed */
    uint32_t *cand;            /* per pixel: candidate indices */
    deja_keypoint *kp;
    float *desc; /* cap_kp * dim */
    char err[DEJA_ERROR_BYTES];
};

deja__alike_params deja__alike_params_default(void)
{
    return (deja__alike_params){.radius = 2,
                                .scores_th = 0.2f,
                                .top_k = -1,
                                .n_limit = 5000,
                                .sub_pixel = 1,
                                .max_keypoints = 1000};
}

const char *deja__alike_post_error(const deja__alike_post *post)
{
    return post ? post->err : "alike: handle is NULL";
}

/* ---- create / destroy ------------------------------------------------------------------- */

static deja_status check_params(const deja__alike_params *p)
{
    if (p->radius < 1 || p->radius > DEJA__ALIKE_MAX_RADIUS)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: radius %d is not in [1, %d]", p->radius,
                        DEJA__ALIKE_MAX_RADIUS);
    if (!isfinite(p->scores_th))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: scores_th %g is not finite",
                        (double)p->scores_th);
    if (p->n_limit < 1)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: n_limit %d is not >= 1", p->n_limit);
    if (p->sub_pixel != 0 && p->sub_pixel != 1)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: sub_pixel %d is not 0 or 1", p->sub_pixel);
    if (p->max_keypoints < 0)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: max_keypoints %d is negative (0 = no cap)",
                        p->max_keypoints);
    return DEJA_OK;
}

/* Keypoints a selection can yield at most: the path's limit, deja's cap, the pixel count. */
static size_t selection_limit(const deja__alike_params *p, size_t pixels)
{
    size_t lim = p->top_k > 0 ? (size_t)p->top_k : (size_t)p->n_limit;
    if (p->max_keypoints > 0 && (size_t)p->max_keypoints < lim) lim = (size_t)p->max_keypoints;
    return lim < pixels ? lim : pixels;
}

/* Bytes of an aligned slice of n elements of size elem, added to *total; false on overflow. */
static bool slice(size_t *total, size_t n, size_t elem, size_t *offset)
{
    size_t bytes, end;
    *offset = (*total + 63) & ~(size_t)63;
    if (!deja__mul_ok(n, elem, &bytes) || !deja__add_ok(*offset, bytes, &end)) return false;
    *total = end;
    return true;
}

deja_status deja__alike_post_create(const deja_options *o, const deja__alike_params *p, int max_w,
                                    int max_h, int dim, deja__alike_post **out)
{
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: out is NULL");
    deja__alike_params params = p ? *p : deja__alike_params_default();
    deja_status st = check_params(&params);
    if (st != DEJA_OK) return st;
    if (max_w < 1 || max_h < 1 || max_w > DEJA__ALIKE_MAX_SIDE || max_h > DEJA__ALIKE_MAX_SIDE)
        return DEJA_ERR(NULL, DEJA_LIMIT, "alike: max size %d x %d is not in 1..%d per side", max_w,
                        max_h, DEJA__ALIKE_MAX_SIDE);
    if (dim < 1 || dim > DEJA__ALIKE_MAX_DIM)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: descriptor dim %d is not in 1..%d", dim,
                        DEJA__ALIKE_MAX_DIM);
    size_t px = (size_t)max_w * (size_t)max_h; /* < 2^28: no overflow */
    size_t cap = selection_limit(&params, px);
    size_t total = 0, off[9], desc_n;
    bool ok = deja__mul_ok(cap, (size_t)dim, &desc_n);
    for (int i = 0; i < 4; i++)
        ok = ok && slice(&total, px, sizeof(float), &off[i]);
    ok = ok && slice(&total, px, 1, &off[4]) && slice(&total, px, 1, &off[5]) &&
         slice(&total, px, sizeof(uint32_t), &off[6]) &&
         slice(&total, cap, sizeof(deja_keypoint), &off[7]) &&
         slice(&total, desc_n, sizeof(float), &off[8]);
    if (!ok)
        return DEJA_ERR(NULL, DEJA_LIMIT, "alike: buffers for %d x %d, dim %d overflow size_t",
                        max_w, max_h, dim);

    deja_allocator a = deja__allocator(o);
    deja__alike_post *h = deja__calloc(&a, 1, sizeof *h);
    if (!h) return DEJA_ERR(NULL, DEJA_NOMEM, "alike: out of memory for the handle");
    uint8_t *b = deja__alloc(&a, total + 63);
    if (!b) {
        deja__free(&a, h, sizeof *h);
        return DEJA_ERR(NULL, DEJA_NOMEM, "alike: out of memory for %zu bytes of buffers (%d x %d)",
                        total, max_w, max_h);
    }
    h->alloc = a;
    h->p = params;
    h->max_w = max_w, h->max_h = max_h, h->dim = dim;
    h->cap_kp = cap;
    h->block = b;
    h->block_bytes = total + 63;
    uint8_t *base = b + ((64 - ((uintptr_t)b & 63)) & 63);
    h->s = (float *)(base + off[0]);
    h->tmp = (float *)(base + off[1]);
    h->pool = (float *)(base + off[2]);
    h->n = (float *)(base + off[3]);
    h->mask = base + off[4];
    h->supp = base + off[5];
    h->cand = (uint32_t *)(base + off[6]);
    h->kp = (deja_keypoint *)(base + off[7]);
    h->desc = (float *)(base + off[8]);
    *out = h;
    return DEJA_OK;
}

void deja__alike_post_destroy(deja__alike_post *post)
{
    if (!post) return;
    deja_allocator a = post->alloc;
    deja__free(&a, post->block, post->block_bytes);
    deja__free(&a, post, sizeof *post);
}

/* ---- NMS -------------------------------------------------------------------------------- */

/* torch's max: NaN wins and stays. */
static inline float max_nan(float m, float v)
{
    return (v > m || isnan(v)) ? v : m;
}

/* out = max-pool of in over (2r+1)^2, stride 1, -inf outside (the window is clipped). */
static void max_pool(const float *in, float *tmp, float *out, int w, int h, int r)
{
    for (int y = 0; y < h; y++) {
        const float *row = in + (size_t)y * w;
        float *t = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
            float m = row[x0];
            for (int k = x0 + 1; k <= x1; k++)
                m = max_nan(m, row[k]);
            t[x] = m;
        }
    }
    for (int y = 0; y < h; y++) {
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
        float *o = out + (size_t)y * w;
        memcpy(o, tmp + (size_t)y0 * w, (size_t)w * sizeof *o);
        for (int k = y0 + 1; k <= y1; k++) {
            const float *t = tmp + (size_t)k * w;
            for (int x = 0; x < w; x++)
                o[x] = max_nan(o[x], t[x]);
        }
    }
}

/* out = 1 where a kept maximum lies within r (max-pool of the 0/1 mask > 0); tmp: w*h bytes. */
static void dilate(const uint8_t *in, uint8_t *tmp, uint8_t *out, int w, int h, int r)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *row = in + (size_t)y * w;
        uint8_t *t = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= w ? w - 1 : x + r;
            uint8_t m = 0;
            for (int k = x0; k <= x1; k++)
                m |= row[k];
            t[x] = m;
        }
    }
    for (int y = 0; y < h; y++) {
        int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
        uint8_t *o = out + (size_t)y * w;
        memset(o, 0, (size_t)w);
        for (int k = y0; k <= y1; k++) {
            const uint8_t *t = tmp + (size_t)k * w;
            for (int x = 0; x < w; x++)
                o[x] |= t[x];
        }
    }
}

/* post->n = NMS scores of post->s, border zeroed. */
static void nms(deja__alike_post *post, int w, int h)
{
    int r = post->p.radius;
    size_t px = (size_t)w * (size_t)h;
    const float *s = post->s;
    float *pool = post->pool, *ss = post->n;
    uint8_t *mask = post->mask, *supp = post->supp;
    /* the byte tmp of dilate borrows the float tmp's memory: it is idle then */
    uint8_t *btmp = (uint8_t *)post->tmp;
    max_pool(s, post->tmp, pool, w, h, r);
    for (size_t i = 0; i < px; i++)
        mask[i] = s[i] == pool[i];
    for (int round = 0; round < 2; round++) {
        dilate(mask, btmp, supp, w, h, r);
        for (size_t i = 0; i < px; i++)
            ss[i] = supp[i] ? 0.0f : s[i];
        max_pool(ss, post->tmp, pool, w, h, r);
        for (size_t i = 0; i < px; i++)
            mask[i] |= (uint8_t)(ss[i] == pool[i] && !supp[i]);
    }
    for (size_t i = 0; i < px; i++)
        ss[i] = mask[i] ? s[i] : 0.0f;
    /* border: r+1 rows/cols at the top/left, r at the bottom/right (as the original) */
    for (int y = 0; y < h; y++) {
        float *row = ss + (size_t)y * w;
        if (y <= r || y >= h - r) {
            memset(row, 0, (size_t)w * sizeof *row);
            continue;
        }
        for (int x = 0; x <= r && x < w; x++)
            row[x] = 0.0f;
        for (int x = w - r < 0 ? 0 : w - r; x < w; x++)
            row[x] = 0.0f;
    }
}

/* ---- selection -------------------------------------------------------------------------- */

/* a ranks before b: higher score, then lower raster index. */
static inline bool better(const float *key, uint32_t a, uint32_t b)
{
    return key[a] > key[b] || (key[a] == key[b] && a < b);
}

/* Heap with the worst element at the root. */
static void sift_down(const float *key, uint32_t *heap, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && better(key, heap[c], heap[c + 1])) c++; /* the worse child */
        if (!better(key, heap[i], heap[c])) return;
        uint32_t t = heap[i];
        heap[i] = heap[c], heap[c] = t;
        i = c;
    }
}

/* Reorder c[0..n) so that c[0..lim) are its lim best, best first. */
static void select_best(const float *key, uint32_t *c, size_t n, size_t lim)
{
    if (lim > n) lim = n;
    if (lim == 0) return;
    for (size_t i = lim / 2; i-- > 0;)
        sift_down(key, c, lim, i);
    for (size_t i = lim; i < n; i++) {
        if (better(key, c[i], c[0])) {
            c[0] = c[i];
            sift_down(key, c, lim, 0);
        }
    }
    for (size_t m = lim; m > 1; m--) { /* heapsort: the worst goes last */
        uint32_t t = c[0];
        c[0] = c[m - 1], c[m - 1] = t;
        sift_down(key, c, m - 1, 0);
    }
}

/* Candidate indices into post->cand; returns their count (<= cap_kp). */
static size_t select_keypoints(deja__alike_post *post, int w, int h)
{
    const float *key = post->n;
    uint32_t *c = post->cand;
    size_t px = (size_t)w * (size_t)h, lim = selection_limit(&post->p, px), n = 0;
    if (post->p.top_k > 0) {
        for (size_t i = 0; i < px; i++)
            c[i] = (uint32_t)i;
        select_best(key, c, px, lim);
        return lim;
    }
    float th = post->p.scores_th;
    if (th > 0.0f)
        for (size_t i = 0; i < px; i++)
            if (key[i] > th) c[n++] = (uint32_t)i;
    if (n == 0) { /* the original's fallback: the mean of the whole scores map */
        double sum = 0.0;
        for (size_t i = 0; i < px; i++)
            sum += post->s[i];
        th = (float)(sum / (double)px);
        for (size_t i = 0; i < px; i++)
            if (key[i] > th) c[n++] = (uint32_t)i;
    }
    if (n > lim) {
        select_best(key, c, n, lim);
        n = lim;
    }
    return n;
}

/* ---- positions, scores, descriptors ----------------------------------------------------- */

/* Soft-argmax offset of the (2r+1)^2 patch of s around (x, y), zeros outside; false if it is not
 * finite (a non-finite score in the patch). */
static bool subpixel(const float *s, int w, int h, int x, int y, int r, double *ox, double *oy)
{
    float mx = -INFINITY;
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int xx = x + dx, yy = y + dy;
            float v = xx >= 0 && xx < w && yy >= 0 && yy < h ? s[(size_t)yy * w + xx] : 0.0f;
            mx = max_nan(mx, v);
        }
    double se = 0.0, sx = 0.0, sy = 0.0;
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int xx = x + dx, yy = y + dy;
            float v = xx >= 0 && xx < w && yy >= 0 && yy < h ? s[(size_t)yy * w + xx] : 0.0f;
            double e = exp((double)(v - mx) / DEJA__ALIKE_TEMPERATURE);
            se += e, sx += e * dx, sy += e * dy;
        }
    *ox = sx / se, *oy = sy / se;
    return isfinite(*ox) && isfinite(*oy);
}

/* Bilinear taps at (x, y) in pixel coordinates, zero padding: up to 4 (offset, weight) pairs of
 * pixels inside w x h, offsets for a row stride of `stride` elements. */
typedef struct taps {
    int n;
    size_t off[4];
    double wt[4];
} taps;

static taps bilinear_taps(double x, double y, int w, int h, size_t stride)
{
    taps t = {0};
    double fx0 = floor(x), fy0 = floor(y), fx = x - fx0, fy = y - fy0;
    long x0 = (long)fx0, y0 = (long)fy0; /* x, y finite and within a few px of the image */
    for (int k = 0; k < 4; k++) {
        long xx = x0 + (k & 1), yy = y0 + (k >> 1);
        double wt = ((k & 1) ? fx : 1.0 - fx) * ((k >> 1) ? fy : 1.0 - fy);
        if (xx < 0 || xx >= w || yy < 0 || yy >= h || wt == 0.0) continue;
        t.off[t.n] = (size_t)yy * stride + (size_t)xx;
        t.wt[t.n++] = wt;
    }
    return t;
}

/* Descriptor at taps t of the dim x plane map, L2-normalised into out; false if not finite. */
static bool sample_desc(const float *desc, size_t plane, int dim, const taps *t, float *out)
{
    double ss = 0.0;
    for (int c = 0; c < dim; c++) {
        const float *p = desc + (size_t)c * plane;
        double v = 0.0;
        for (int k = 0; k < t->n; k++)
            v += t->wt[k] * p[t->off[k]];
        out[c] = (float)v;
        ss += v * v;
    }
    if (!isfinite(ss)) return false;
    double norm = sqrt(ss);
    if (norm < 1e-12) norm = 1e-12;
    for (int c = 0; c < dim; c++)
        out[c] = (float)(out[c] / norm);
    return true;
}

deja_status deja__alike_post_run(deja__alike_post *post, const deja__alike_maps *m,
                                 deja_features *out)
{
    if (!post) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "alike: handle is NULL");
    if (!m || !out)
        return DEJA_ERR(post->err, DEJA_INVALID_ARG, "alike: %s is NULL", m ? "out" : "maps");
    if (!m->scores || !m->desc)
        return DEJA_ERR(post->err, DEJA_INVALID_ARG, "alike: %s map is NULL",
                        m->scores ? "descriptor" : "scores");
    int w = m->width, h = m->height;
    if (w < 1 || h < 1)
        return DEJA_ERR(post->err, DEJA_INVALID_ARG, "alike: image size %d x %d is empty", w, h);
    if (w > post->max_w || h > post->max_h)
        return DEJA_ERR(post->err, DEJA_LIMIT,
                        "alike: image %d x %d exceeds the %d x %d the handle was created for", w, h,
                        post->max_w, post->max_h);
    if (m->map_w < w || m->map_h < h)
        return DEJA_ERR(post->err, DEJA_INVALID_ARG,
                        "alike: maps %d x %d are smaller than the image %d x %d", m->map_w,
                        m->map_h, w, h);
    if (m->dim != post->dim)
        return DEJA_ERR(post->err, DEJA_INVALID_ARG,
                        "alike: descriptor map has %d channels, the handle expects %d", m->dim,
                        post->dim);
    size_t plane, total;
    if (!deja__mul_ok((size_t)m->map_w, (size_t)m->map_h, &plane) ||
        !deja__mul_ok(plane, (size_t)m->dim, &total))
        return DEJA_ERR(post->err, DEJA_LIMIT, "alike: maps %d x %d x %d overflow size_t", m->map_w,
                        m->map_h, m->dim);

    for (int y = 0; y < h; y++) /* the valid region, contiguous */
        memcpy(post->s + (size_t)y * w, m->scores + (size_t)y * m->map_w,
               (size_t)w * sizeof(float));
    nms(post, w, h);
    size_t n = select_keypoints(post, w, h);

    int r = post->p.radius, dim = post->dim;
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = post->cand[i];
        int x = (int)(idx % (uint32_t)w), y = (int)(idx / (uint32_t)w);
        float *d = post->desc + i * (size_t)dim;
        double kx = x, ky = y;
        float score = post->s[idx];
        taps t = {1, {(size_t)y * m->map_w + (size_t)x}, {1.0}};
        if (post->p.sub_pixel) {
            double ox, oy;
            if (!subpixel(post->s, w, h, x, y, r, &ox, &oy))
                return DEJA_ERR(post->err, DEJA_FORMAT,
                                "alike: scores map has a non-finite value within %d px of "
                                "keypoint (%d, %d)",
                                r, x, y);
            kx += ox, ky += oy;
            taps ts = bilinear_taps(kx, ky, w, h, (size_t)w);
            double v = 0.0;
            for (int k = 0; k < ts.n; k++)
                v += ts.wt[k] * post->s[ts.off[k]];
            score = (float)v;
            t = bilinear_taps(kx, ky, w, h, (size_t)m->map_w);
        }
        if (!sample_desc(m->desc, plane, dim, &t, d))
            return DEJA_ERR(post->err, DEJA_FORMAT,
                            "alike: descriptor map has a non-finite (or huge) value at keypoint "
                            "(%.2f, %.2f)",
                            kx, ky);
        post->kp[i] = (deja_keypoint){.x = (float)kx,
                                      .y = (float)ky,
                                      .size = (float)(2 * r + 1),
                                      .angle = 0.0f,
                                      .response = score,
                                      .octave = 0};
    }
    *out = (deja_features){.n = n,
                           .keypoints = post->kp,
                           .descriptors = post->desc,
                           .kind = DEJA_DESC_FLOAT32,
                           .desc_bytes = (uint32_t)dim * 4u};
    return DEJA_OK;
}

/* ---- input tensor ----------------------------------------------------------------------- */

deja_status deja__alike_padded_size(int width, int height, int *padded_w, int *padded_h, char *err)
{
    if (!padded_w || !padded_h)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: padded size output is NULL");
    if (width < 1 || height < 1 || width > DEJA__ALIKE_MAX_SIDE || height > DEJA__ALIKE_MAX_SIDE)
        return DEJA_ERR(err, DEJA_LIMIT, "alike: image %d x %d is not in 1..%d per side", width,
                        height, DEJA__ALIKE_MAX_SIDE);
    *padded_w = (width + DEJA__ALIKE_ALIGN - 1) / DEJA__ALIKE_ALIGN * DEJA__ALIKE_ALIGN;
    *padded_h = (height + DEJA__ALIKE_ALIGN - 1) / DEJA__ALIKE_ALIGN * DEJA__ALIKE_ALIGN;
    return DEJA_OK;
}

static deja_status check_tensor(int width, int height, const float *chw, int pw, int ph, char *err)
{
    if (!chw) return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: input tensor is NULL");
    if (width < 1 || height < 1 || width > DEJA__ALIKE_MAX_SIDE || height > DEJA__ALIKE_MAX_SIDE)
        return DEJA_ERR(err, DEJA_LIMIT, "alike: image %d x %d is not in 1..%d per side", width,
                        height, DEJA__ALIKE_MAX_SIDE);
    if (pw < width || ph < height || pw % DEJA__ALIKE_ALIGN || ph % DEJA__ALIKE_ALIGN ||
        pw > DEJA__ALIKE_MAX_SIDE + DEJA__ALIKE_ALIGN ||
        ph > DEJA__ALIKE_MAX_SIDE + DEJA__ALIKE_ALIGN)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "alike: tensor %d x %d does not hold the image %d x %d in multiples of %d",
                        pw, ph, width, height, DEJA__ALIKE_ALIGN);
    return DEJA_OK;
}

/* Planar fill; channels = 1 (grey, replicated) or 3 (interleaved RGB). */
static void fill(const uint8_t *px, int width, int height, size_t stride, int channels, float *chw,
                 int pw, int ph)
{
    float lut[256]; /* the same float32 quotient as the original's uint8 / 255.0 */
    for (int i = 0; i < 256; i++)
        lut[i] = (float)i / 255.0f;
    size_t plane = (size_t)pw * (size_t)ph;
    for (int c = 0; c < 3; c++) {
        float *o = chw + (size_t)c * plane;
        int src_c = channels == 3 ? c : 0;
        for (int y = 0; y < height; y++) {
            const uint8_t *row = px + (size_t)y * stride;
            float *orow = o + (size_t)y * pw;
            for (int x = 0; x < width; x++)
                orow[x] = lut[row[(size_t)x * channels + src_c]];
            memset(orow + width, 0, (size_t)(pw - width) * sizeof *orow);
        }
        memset(o + (size_t)height * pw, 0, (size_t)(ph - height) * pw * sizeof *o);
    }
}

deja_status deja__alike_input_grey(const deja_image *im, float *chw, int padded_w, int padded_h,
                                   char *err)
{
    if (!im || !im->pixels)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: image%s is NULL", im ? " pixels" : "");
    deja_status st = check_tensor(im->width, im->height, chw, padded_w, padded_h, err);
    if (st != DEJA_OK) return st;
    if (im->stride < im->width)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: image stride %d < width %d", im->stride,
                        im->width);
    fill(im->pixels, im->width, im->height, (size_t)im->stride, 1, chw, padded_w, padded_h);
    return DEJA_OK;
}

deja_status deja__alike_input_rgb(const uint8_t *rgb, int width, int height, size_t stride_bytes,
                                  float *chw, int padded_w, int padded_h, char *err)
{
    if (!rgb) return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: RGB pixels are NULL");
    deja_status st = check_tensor(width, height, chw, padded_w, padded_h, err);
    if (st != DEJA_OK) return st;
    if (stride_bytes < (size_t)width * 3)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "alike: RGB stride %zu < 3 * width %d", stride_bytes,
                        width);
    fill(rgb, width, height, stride_bytes, 3, chw, padded_w, padded_h);
    return DEJA_OK;
}
