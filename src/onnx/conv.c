/* conv.c - ONNX Conv (batch 1, NCHW, dilation 1) on the GEMM of gemm.c, or direct.
 *
 * Paths (deja__nn_conv_path_of):
 * - 1x1, stride 1, no pads, groups 1: the input planes already are the K x N matrix B (c_in rows
 *   of h*w pixels), so the conv is the GEMM out = W (c_out x c_in) * in, nothing copied but the
 *   GEMM's own packing.
 * - Depthwise 3x3 with horizontal stride 1 or 2: direct. Per output row, three input row
 *   pointers (a zero row stands in for rows in the padding) go to the SIMD row kernel for the
 *   columns whose taps are all inside; the few border columns take a bounds-checked loop.
 *   Threads split the (channel, output row) pairs.
 * - Everything else: implicit im2col, one GEMM per group. A is the group's weights
 *   (c_out/g x c_in/g*k_h*k_w, OIHW is already row-major in that shape), B (row k = (channel,
 *   ky, kx), column = output pixel) is never built whole: the GEMM asks for kc x nc blocks in its
 *   panel layout and pack_im2col reads them straight from the image, zeros in the padding. The
 *   scratch is then one packed block per thread, not a K x N matrix (8.3 MB for ALIKE's first
 *   conv at 320x256), and each block is used while it is still in L2. */
#include "ops.h"

#include <string.h>

int deja__nn_conv_h_out(const deja__nn_conv_shape *s)
{
    return (s->h_in + s->pad_t + s->pad_b - s->k_h) / s->stride_h + 1;
}

int deja__nn_conv_w_out(const deja__nn_conv_shape *s)
{
    return (s->w_in + s->pad_l + s->pad_r - s->k_w) / s->stride_w + 1;
}

deja_status deja__nn_conv_check(const deja__nn_conv_shape *s, char *err)
{
    const struct {
        const char *name;
        int v;
    } dims[] = {{"c_in", s->c_in},         {"h_in", s->h_in},         {"w_in", s->w_in},
                {"c_out", s->c_out},       {"k_h", s->k_h},           {"k_w", s->k_w},
                {"stride_h", s->stride_h}, {"stride_w", s->stride_w}, {"groups", s->groups}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v < 1 || dims[i].v > DEJA__NN_MAX_DIM)
            return DEJA_ERR(err, DEJA_INVALID_ARG, "conv %s %d: must be in [1, %d]", dims[i].name,
                            dims[i].v, DEJA__NN_MAX_DIM);
    const struct {
        const char *name;
        int v, k;
    } pads[] = {{"pad_t", s->pad_t, s->k_h},
                {"pad_l", s->pad_l, s->k_w},
                {"pad_b", s->pad_b, s->k_h},
                {"pad_r", s->pad_r, s->k_w}};
    for (size_t i = 0; i < 4; i++)
        if (pads[i].v < 0 || pads[i].v >= pads[i].k)
            return DEJA_ERR(err, DEJA_INVALID_ARG, "conv %s %d: must be in [0, kernel %d)",
                            pads[i].name, pads[i].v, pads[i].k);
    if (s->h_in + s->pad_t + s->pad_b < s->k_h || s->w_in + s->pad_l + s->pad_r < s->k_w)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "conv kernel %dx%d: larger than the padded input %dx%d", s->k_h, s->k_w,
                        s->h_in + s->pad_t + s->pad_b, s->w_in + s->pad_l + s->pad_r);
    if (s->c_in % s->groups || s->c_out % s->groups)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "conv groups %d: must divide c_in %d and c_out %d",
                        s->groups, s->c_in, s->c_out);
    int64_t limit = INT64_C(1) << 31;
    int64_t in_n = (int64_t)s->c_in * s->h_in * s->w_in;
    int64_t out_n = (int64_t)s->c_out * deja__nn_conv_h_out(s) * deja__nn_conv_w_out(s);
    int64_t w_n = (int64_t)s->c_out * (s->c_in / s->groups) * s->k_h * s->k_w;
    if (in_n >= limit || out_n >= limit || w_n >= limit)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "conv tensor too large (input %lld, output %lld, weights %lld elements): "
                        "limit 2^31",
                        (long long)in_n, (long long)out_n, (long long)w_n);
    return DEJA_OK;
}

deja__nn_conv_path deja__nn_conv_path_of(const deja__nn_conv_shape *s)
{
    if (s->groups == 1 && s->k_h == 1 && s->k_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
        !s->pad_t && !s->pad_l && !s->pad_b && !s->pad_r)
        return DEJA__NN_CONV_1X1;
    if (s->groups == s->c_in && s->groups == s->c_out && s->k_h == 3 && s->k_w == 3 &&
        (s->stride_w == 1 || s->stride_w == 2))
        return DEJA__NN_CONV_DEPTHWISE3;
    return DEJA__NN_CONV_IM2COL;
}

/* Per-group GEMM dims of the im2col path. */
static void group_dims(const deja__nn_conv_shape *s, size_t *M, size_t *N, size_t *K)
{
    *M = (size_t)(s->c_out / s->groups);
    *N = (size_t)deja__nn_conv_h_out(s) * (size_t)deja__nn_conv_w_out(s);
    *K = (size_t)(s->c_in / s->groups) * (size_t)s->k_h * (size_t)s->k_w;
}

size_t deja__nn_conv_scratch_bytes(const deja__nn *nn, const deja__nn_conv_shape *s)
{
    size_t M, N, K;
    switch (deja__nn_conv_path_of(s)) {
    case DEJA__NN_CONV_1X1:
        return deja__nn_gemm_scratch_bytes(nn, (size_t)s->c_out, (size_t)s->h_in * (size_t)s->w_in,
                                           (size_t)s->c_in);
    case DEJA__NN_CONV_DEPTHWISE3:
        return 64 + (size_t)s->w_in * sizeof(float); /* the zero row */
    case DEJA__NN_CONV_IM2COL:
        break;
    }
    group_dims(s, &M, &N, &K);
    return deja__nn_gemm_scratch_bytes(nn, M, N, K);
}

/* ---- implicit im2col -------------------------------------------------------------------- */

typedef struct im2col {
    const float *img; /* the group's first input channel */
    const deja__nn_conv_shape *s;
    int h_out, w_out;
} im2col;

/* One run of output pixels (same output row, same panel) of B row (ky, kx) of a channel. */
static inline void im2col_run(const im2col *m, const float *plane, int ky, int kx, int oy, int ox,
                              int run, float *dst)
{
    const deja__nn_conv_shape *s = m->s;
    int iy = oy * s->stride_h - s->pad_t + ky;
    if (iy < 0 || iy >= s->h_in) {
        memset(dst, 0, (size_t)run * sizeof(float));
        return;
    }
    const float *row = plane + (size_t)iy * (size_t)s->w_in;
    int sw = s->stride_w, base = ox * sw - s->pad_l + kx; /* input x of the run's first pixel */
    if (base >= 0 && base + (run - 1) * sw < s->w_in) {
        /* The common case, all inside: no bounds, and constant sizes become plain moves. */
        const float *src = row + base;
        if (sw != 1) {
            for (int t = 0; t < run; t++)
                dst[t] = src[t * sw];
            return;
        }
        switch (run) {
        case 24:
            memcpy(dst, src, 24 * sizeof(float));
            return;
        case 12:
            memcpy(dst, src, 12 * sizeof(float));
            return;
        case 8:
            memcpy(dst, src, 8 * sizeof(float));
            return;
        default:
            memcpy(dst, src, (size_t)run * sizeof(float));
            return;
        }
    }
    int lo = base >= 0 ? 0 : (-base + sw - 1) / sw;
    int hi = base > s->w_in - 1 ? 0 : (s->w_in - 1 - base) / sw + 1;
    if (hi > run) hi = run;
    if (lo > hi) lo = hi;
    for (int t = 0; t < lo; t++)
        dst[t] = 0.0f;
    for (int t = lo; t < hi; t++)
        dst[t] = row[base + t * sw];
    for (int t = hi; t < run; t++)
        dst[t] = 0.0f;
}

static void pack_im2col(const void *ctx, size_t k0, size_t kc, size_t n0, size_t nc, int nr,
                        float *dst)
{
    const im2col *m = ctx;
    const deja__nn_conv_shape *s = m->s;
    size_t taps = (size_t)s->k_h * (size_t)s->k_w, plane_n = (size_t)s->h_in * (size_t)s->w_in;
    size_t panel = kc * (size_t)nr;
    int oy0 = (int)(n0 / (size_t)m->w_out), ox0 = (int)(n0 % (size_t)m->w_out);
    for (size_t kk = 0; kk < kc; kk++) {
        size_t k = k0 + kk, tap = k % taps;
        const float *plane = m->img + (k / taps) * plane_n;
        int ky = (int)(tap / (size_t)s->k_w), kx = (int)(tap % (size_t)s->k_w);
        int oy = oy0, ox = ox0, q = 0;
        float *prow = dst + kk * (size_t)nr; /* row kk of the current panel */
        for (size_t j = 0; j < nc;) {
            /* A run ends at the panel's edge, the output row's end, or the block's end; all
             * counters step without divisions (they cost more than the copy). */
            int run = nr - q;
            if (run > m->w_out - ox) run = m->w_out - ox;
            if ((size_t)run > nc - j) run = (int)(nc - j);
            im2col_run(m, plane, ky, kx, oy, ox, run, prow + q);
            j += (size_t)run;
            q += run;
            if (q == nr) {
                q = 0;
                prow += panel;
            }
            ox += run;
            if (ox == m->w_out) {
                ox = 0;
                oy++;
            }
        }
        if (q) memset(prow + q, 0, (size_t)(nr - q) * sizeof(float)); /* past nc: zeros */
    }
}

/* ---- depthwise 3x3 ---------------------------------------------------------------------- */

typedef struct dw_job {
    const deja__nn *nn;
    const deja__nn_conv_shape *s;
    const float *in, *w, *zero;
    deja__nn_post post;
    float *out;
    int h_out, w_out, x_lo, x_hi; /* [x_lo, x_hi): output columns with every tap inside */
} dw_job;

/* Border pixel: taps outside the image are skipped. */
static float dw_point(const dw_job *j, const float *plane, const float *w, int oy, int ox,
                      float bias, const float *old, const deja__nn_tile *t)
{
    const deja__nn_conv_shape *s = j->s;
    float v = bias;
    for (int ky = 0; ky < 3; ky++) {
        int iy = oy * s->stride_h - s->pad_t + ky;
        if (iy < 0 || iy >= s->h_in) continue;
        for (int kx = 0; kx < 3; kx++) {
            int ix = ox * s->stride_w - s->pad_l + kx;
            if (ix >= 0 && ix < s->w_in)
                v += w[3 * ky + kx] * plane[(size_t)iy * (size_t)s->w_in + (size_t)ix];
        }
    }
    if (t->load_c) v += *old;
    if (t->clamp) v = v < t->lo ? t->lo : v > t->hi ? t->hi : v;
    return v;
}

static void dw_rows(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const dw_job *j = ctx;
    const deja__nn_conv_shape *s = j->s;
    size_t plane_n = (size_t)s->h_in * (size_t)s->w_in;
    deja__nn_dw3_fn row_fn = s->stride_w == 1 ? j->nn->dw3_s1 : j->nn->dw3_s2;
    for (size_t idx = begin; idx < end; idx++) {
        int c = (int)(idx / (size_t)j->h_out), oy = (int)(idx % (size_t)j->h_out);
        const float *plane = j->in + (size_t)c * plane_n, *w = j->w + (size_t)c * 9;
        float *o = j->out + ((size_t)c * (size_t)j->h_out + (size_t)oy) * (size_t)j->w_out;
        float bias = j->post.bias ? j->post.bias[c] : 0.0f;
        deja__nn_tile t = {j->post.bias ? j->post.bias + c : NULL, j->post.lo, j->post.hi,
                           j->post.accumulate, j->post.clamp};
        for (int ox = 0; ox < j->x_lo; ox++)
            o[ox] = dw_point(j, plane, w, oy, ox, bias, o + ox, &t);
        if (j->x_hi > j->x_lo) {
            const float *r[3];
            int ix0 = j->x_lo * s->stride_w - s->pad_l;
            for (int ky = 0; ky < 3; ky++) {
                int iy = oy * s->stride_h - s->pad_t + ky;
                r[ky] = (iy >= 0 && iy < s->h_in ? plane + (size_t)iy * (size_t)s->w_in : j->zero) +
                        ix0;
            }
            row_fn(r, w, (size_t)(j->x_hi - j->x_lo), o + j->x_lo, &t);
        }
        int from = j->x_hi > j->x_lo ? j->x_hi : j->x_lo;
        for (int ox = from; ox < j->w_out; ox++)
            o[ox] = dw_point(j, plane, w, oy, ox, bias, o + ox, &t);
    }
}

static void depthwise3(const deja__nn *nn, const deja__nn_conv_shape *s, const float *in,
                       const float *w, const deja__nn_post *post, float *out, void *scratch)
{
    float *zero = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    memset(zero, 0, (size_t)s->w_in * sizeof(float));
    dw_job j = {nn, s, in, w, zero, *post, out, deja__nn_conv_h_out(s), deja__nn_conv_w_out(s),
                0,  0};
    /* Columns whose three taps are inside: ox*sw - pad_l >= 0 and ox*sw - pad_l + 2 <= w_in-1. */
    int sw = s->stride_w;
    j.x_lo = (s->pad_l + sw - 1) / sw;
    j.x_hi = s->w_in - 3 + s->pad_l < 0 ? 0 : (s->w_in - 3 + s->pad_l) / sw + 1;
    if (j.x_lo > j.w_out) j.x_lo = j.w_out;
    if (j.x_hi > j.w_out) j.x_hi = j.w_out;
    size_t rows = (size_t)s->c_out * (size_t)j.h_out;
    double ns_per_px = nn->kind == DEJA_SIMD_SCALAR ? 2.0 : 0.5; /* measured, one core */
    deja__nn_parallel(nn, rows, (double)rows * (double)j.w_out * ns_per_px, dw_rows, &j);
}

/* ---- entry points ---------------------------------------------------------------------- */

void deja__nn_conv(const deja__nn *nn, const deja__nn_conv_shape *s, const float *in,
                   const float *weights, const deja__nn_post *post, float *out, void *scratch)
{
    deja__nn_post p = post ? *post : (deja__nn_post){NULL, 0.0f, 0.0f, false, false};
    size_t M, N, K;
    switch (deja__nn_conv_path_of(s)) {
    case DEJA__NN_CONV_1X1: {
        size_t hw = (size_t)s->h_in * (size_t)s->w_in;
        deja__nn_gemm(nn, (size_t)s->c_out, hw, (size_t)s->c_in, weights, (size_t)s->c_in, in, hw,
                      out, hw, &p, scratch);
        return;
    }
    case DEJA__NN_CONV_DEPTHWISE3:
        depthwise3(nn, s, in, weights, &p, out, scratch);
        return;
    case DEJA__NN_CONV_IM2COL:
        break;
    }
    group_dims(s, &M, &N, &K);
    size_t cig = (size_t)(s->c_in / s->groups), plane_n = (size_t)s->h_in * (size_t)s->w_in;
    for (int g = 0; g < s->groups; g++) {
        im2col m = {in + (size_t)g * cig * plane_n, s, deja__nn_conv_h_out(s),
                    deja__nn_conv_w_out(s)};
        deja__nn_post pg = p;
        if (p.bias) pg.bias = p.bias + (size_t)g * M;
        deja__nn_gemm_packed(nn, M, N, K, weights + (size_t)g * M * K, K, pack_im2col, &m,
                             out + (size_t)g * M * N, N, &pg, scratch);
    }
}

void deja__nn_ref_conv(const deja__nn_conv_shape *s, const float *in, const float *weights,
                       const deja__nn_post *post, float *out)
{
    int ho = deja__nn_conv_h_out(s), wo = deja__nn_conv_w_out(s);
    int cig = s->c_in / s->groups, cog = s->c_out / s->groups;
    for (int co = 0; co < s->c_out; co++) {
        int g = co / cog;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double acc = post && post->bias ? post->bias[co] : 0.0;
                for (int ci = 0; ci < cig; ci++)
                    for (int ky = 0; ky < s->k_h; ky++)
                        for (int kx = 0; kx < s->k_w; kx++) {
                            int iy = oy * s->stride_h - s->pad_t + ky;
                            int ix = ox * s->stride_w - s->pad_l + kx;
                            if (iy < 0 || iy >= s->h_in || ix < 0 || ix >= s->w_in) continue;
                            size_t wi = (((size_t)co * (size_t)cig + (size_t)ci) * (size_t)s->k_h +
                                         (size_t)ky) *
                                            (size_t)s->k_w +
                                        (size_t)kx;
                            size_t ii = ((size_t)(g * cig + ci) * (size_t)s->h_in + (size_t)iy) *
                                            (size_t)s->w_in +
                                        (size_t)ix;
                            acc += (double)weights[wi] * (double)in[ii];
                        }
                float *o = out + ((size_t)co * (size_t)ho + (size_t)oy) * (size_t)wo + (size_t)ox;
                if (post && post->accumulate) acc += *o;
                float v = (float)acc;
                if (post && post->clamp) v = v < post->lo ? post->lo : v > post->hi ? post->hi : v;
                *o = v;
            }
    }
}
