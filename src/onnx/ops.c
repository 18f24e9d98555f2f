/* ops.c - the memory-bound nn kernels: MaxPool, GlobalAveragePool, bilinear Resize
 * (align_corners), elementwise Add/Sub/Mul/Div with broadcasting, Relu/Sigmoid/Clip/Pow,
 * ReduceL2 over channels (alone and fused with Clip + Div), Concat and Slice on channels.
 *
 * These move more bytes than they compute, so they are plain C loops that the compiler
 * vectorises (contiguous inner loops, no aliasing tricks) and that touch each byte once: the
 * bilinear resize interpolates an input row pair horizontally once and reuses it for all output
 * rows between them (up to 32 at ALIKE's x32), the L2 normalisation sums squares and divides in
 * blocks of 256 pixels that stay in L1 between the two passes. Threads split channels or blocks
 * of pixels, never a sum, so results do not depend on the thread count. */
#include "ops.h"

#include <string.h>

#define CHUNK    4096 /* pixels per elementwise work item */
#define L2_BLOCK 256

static inline float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- MaxPool ----------------------------------------------------------------------------- */

typedef struct pool_job {
    size_t h, w, k_h, k_w, s_h, s_w, h_out, w_out;
    const float *in;
    float *out;
} pool_job;

static inline float maxf(float m, float v)
{
    return v > m ? v : m;
}

static void maxpool_rows(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const pool_job *j = ctx;
    for (size_t idx = begin; idx < end; idx++) {
        size_t c = idx / j->h_out, oy = idx % j->h_out;
        const float *src = j->in + (c * j->h + oy * j->s_h) * j->w;
        float *o = j->out + idx * j->w_out;
        if (j->k_h == 2 && j->k_w == 2 && j->s_w == 2) {
            const float *r1 = src + j->w;
            for (size_t x = 0; x < j->w_out; x++)
                o[x] = maxf(maxf(maxf(src[2 * x], src[2 * x + 1]), r1[2 * x]), r1[2 * x + 1]);
            continue;
        }
        for (size_t x = 0; x < j->w_out; x++)
            o[x] = src[x * j->s_w];
        for (size_t ky = 0; ky < j->k_h; ky++) {
            const float *r = src + ky * j->w;
            for (size_t x = 0; x < j->w_out; x++) {
                float m = o[x];
                for (size_t kx = 0; kx < j->k_w; kx++)
                    m = maxf(m, r[x * j->s_w + kx]);
                o[x] = m;
            }
        }
    }
}

void deja__nn_maxpool(const deja__nn *nn, size_t c, size_t h, size_t w, size_t k_h, size_t k_w,
                      size_t s_h, size_t s_w, const float *in, float *out)
{
    pool_job j = {h, w, k_h, k_w, s_h, s_w, (h - k_h) / s_h + 1, (w - k_w) / s_w + 1, in, out};
    size_t rows = c * j.h_out;
    deja__nn_parallel(nn, rows, (double)(c * h * w) * 0.2, maxpool_rows, &j);
}

void deja__nn_ref_maxpool(size_t c, size_t h, size_t w, size_t k_h, size_t k_w, size_t s_h,
                          size_t s_w, const float *in, float *out)
{
    size_t ho = (h - k_h) / s_h + 1, wo = (w - k_w) / s_w + 1;
    for (size_t ch = 0; ch < c; ch++)
        for (size_t oy = 0; oy < ho; oy++)
            for (size_t ox = 0; ox < wo; ox++) {
                float m = -INFINITY;
                for (size_t ky = 0; ky < k_h; ky++)
                    for (size_t kx = 0; kx < k_w; kx++)
                        m = maxf(m, in[(ch * h + oy * s_h + ky) * w + ox * s_w + kx]);
                out[(ch * ho + oy) * wo + ox] = m;
            }
}

/* ---- GlobalAveragePool ------------------------------------------------------------------- */

typedef struct gap_job {
    size_t hw;
    const float *in;
    float *out;
} gap_job;

static void gap_channels(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const gap_job *j = ctx;
    for (size_t c = begin; c < end; c++) {
        const float *p = j->in + c * j->hw;
        double s = 0.0;
        for (size_t i = 0; i < j->hw; i++)
            s += p[i];
        j->out[c] = (float)(s / (double)j->hw);
    }
}

void deja__nn_global_avgpool(const deja__nn *nn, size_t c, size_t hw, const float *in, float *out)
{
    gap_job j = {hw, in, out};
    deja__nn_parallel(nn, c, (double)(c * hw) * 0.5, gap_channels, &j);
}

void deja__nn_ref_global_avgpool(size_t c, size_t hw, const float *in, float *out)
{
    gap_job j = {hw, in, out};
    gap_channels(&j, 0, c, 0);
}

/* ---- Resize (bilinear, align_corners) ----------------------------------------------------- */

/* Source position of output index o: i0, i1 = i0 + 1 (clamped) and the weight f of i1. */
static void src_coord(size_t o, size_t n_in, size_t n_out, size_t *i0, size_t *i1, float *f)
{
    *i0 = *i1 = 0;
    *f = 0.0f;
    if (n_out <= 1 || n_in <= 1) return;
    double x = (double)o * (double)(n_in - 1) / (double)(n_out - 1);
    size_t a = (size_t)x;
    if (a >= n_in - 1) {
        *i0 = *i1 = n_in - 1;
        return;
    }
    *i0 = a;
    *i1 = a + 1;
    *f = (float)(x - (double)a);
}

typedef struct resize_job {
    size_t h, w, h_out, w_out;
    const float *in;
    float *out;
    const uint32_t *x0; /* w_out each: left source column, weight of the right one */
    const float *fx;
    float *rows; /* per worker: 2 * w_out */
    size_t rows_floats;
} resize_job;

static void hlerp(const resize_job *j, const float *src, float *dst)
{
    for (size_t x = 0; x < j->w_out; x++) {
        size_t a = j->x0[x], b = a + 1 < j->w ? a + 1 : a;
        dst[x] = src[a] + j->fx[x] * (src[b] - src[a]);
    }
}

static void resize_channels(void *ctx, size_t begin, size_t end, int worker)
{
    const resize_job *j = ctx;
    float *h0 = j->rows + (size_t)worker * j->rows_floats, *h1 = h0 + j->w_out;
    for (size_t c = begin; c < end; c++) {
        const float *plane = j->in + c * j->h * j->w;
        size_t have0 = SIZE_MAX, have1 = SIZE_MAX; /* source rows in h0, h1 */
        for (size_t oy = 0; oy < j->h_out; oy++) {
            size_t y0, y1;
            float fy;
            src_coord(oy, j->h, j->h_out, &y0, &y1, &fy);
            if (y0 != have0) {
                if (y0 == have1) { /* moving down one row: the lower row becomes the upper */
                    float *t = h0;
                    h0 = h1;
                    h1 = t;
                    have1 = SIZE_MAX;
                } else {
                    hlerp(j, plane + y0 * j->w, h0);
                }
                have0 = y0;
            }
            if (y1 != have1) {
                hlerp(j, plane + y1 * j->w, h1);
                have1 = y1;
            }
            float *o = j->out + (c * j->h_out + oy) * j->w_out;
            for (size_t x = 0; x < j->w_out; x++)
                o[x] = h0[x] + fy * (h1[x] - h0[x]);
        }
    }
}

size_t deja__nn_resize_scratch_bytes(const deja__nn *nn, size_t w_out)
{
    size_t per = (2 * w_out + 16) * sizeof(float);
    return 64 + w_out * (sizeof(uint32_t) + sizeof(float)) + 64 + per * (size_t)nn->n_threads;
}

void deja__nn_resize_bilinear_ac(const deja__nn *nn, size_t c, size_t h, size_t w, size_t h_out,
                                 size_t w_out, const float *in, float *out, void *scratch)
{
    uint8_t *p = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint32_t *x0 = (uint32_t *)p;
    float *fx = (float *)(p + w_out * sizeof(uint32_t));
    float *rows = (float *)(((uintptr_t)(fx + w_out) + 63) & ~(uintptr_t)63);
    for (size_t x = 0; x < w_out; x++) {
        size_t a, b;
        src_coord(x, w, w_out, &a, &b, &fx[x]);
        x0[x] = (uint32_t)a;
    }
    resize_job j = {h, w, h_out, w_out, in, out, x0, fx, rows, 2 * w_out + 16};
    deja__nn_parallel(nn, c, (double)(c * h_out * w_out) * 0.5, resize_channels, &j);
}

void deja__nn_ref_resize_bilinear_ac(size_t c, size_t h, size_t w, size_t h_out, size_t w_out,
                                     const float *in, float *out)
{
    for (size_t ch = 0; ch < c; ch++)
        for (size_t oy = 0; oy < h_out; oy++) {
            size_t y0, y1;
            float fy;
            src_coord(oy, h, h_out, &y0, &y1, &fy);
            for (size_t ox = 0; ox < w_out; ox++) {
                size_t x0, x1;
                float fx;
                src_coord(ox, w, w_out, &x0, &x1, &fx);
                const float *pl = in + ch * h * w;
                double v =
                    (1.0 - fy) * ((1.0 - fx) * pl[y0 * w + x0] + fx * (double)pl[y0 * w + x1]) +
                    fy * ((1.0 - fx) * pl[y1 * w + x0] + fx * (double)pl[y1 * w + x1]);
                out[(ch * h_out + oy) * w_out + ox] = (float)v;
            }
        }
}

/* ---- binary ------------------------------------------------------------------------------ */

typedef struct bin_job {
    deja__nn_binop op;
    size_t c, p, chunks;
    deja__nn_operand a, b;
    float *out;
    const deja__nn_post *post;
} bin_job;

/* One loop per (op, which operands are contiguous); x and y are the operands' values. */
#define BIN_LOOPS(EXPR)                                                                            \
    do {                                                                                           \
        if (sa && sb)                                                                              \
            for (size_t i = 0; i < n; i++) {                                                       \
                float x = a[i], y = b[i];                                                          \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        else if (sa) {                                                                             \
            float y = b[0];                                                                        \
            for (size_t i = 0; i < n; i++) {                                                       \
                float x = a[i];                                                                    \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sb) {                                                                           \
            float x = a[0];                                                                        \
            for (size_t i = 0; i < n; i++) {                                                       \
                float y = b[i];                                                                    \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            float x = a[0], y = b[0], v = (EXPR);                                                  \
            for (size_t i = 0; i < n; i++)                                                         \
                o[i] = v;                                                                          \
        }                                                                                          \
    } while (0)

static void bin_span(deja__nn_binop op, size_t n, const float *a, size_t sa, const float *b,
                     size_t sb, float *o)
{
    switch (op) {
    case DEJA__NN_ADD:
        BIN_LOOPS(x + y);
        break;
    case DEJA__NN_SUB:
        BIN_LOOPS(x - y);
        break;
    case DEJA__NN_MUL:
        BIN_LOOPS(x * y);
        break;
    case DEJA__NN_DIV:
        BIN_LOOPS(x / y);
        break;
    }
}

static void bin_items(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const bin_job *j = ctx;
    for (size_t it = begin; it < end; it++) {
        size_t c = it / j->chunks, p0 = it % j->chunks * CHUNK;
        size_t n = j->p - p0 < CHUNK ? j->p - p0 : CHUNK;
        const float *a = j->a.data + c * j->a.stride_c + p0 * j->a.stride_p;
        const float *b = j->b.data + c * j->b.stride_c + p0 * j->b.stride_p;
        float *o = j->out + c * j->p + p0;
        bin_span(j->op, n, a, j->a.stride_p, b, j->b.stride_p, o);
        if (j->post && j->post->clamp)
            for (size_t i = 0; i < n; i++)
                o[i] = clampf(o[i], j->post->lo, j->post->hi);
    }
}

void deja__nn_binary(const deja__nn *nn, deja__nn_binop op, size_t c, size_t p, deja__nn_operand a,
                     deja__nn_operand b, float *out, const deja__nn_post *post)
{
    if (p == 0) return;
    bin_job j = {op, c, p, (p + CHUNK - 1) / CHUNK, a, b, out, post};
    deja__nn_parallel(nn, c * j.chunks, (double)(c * p) * 0.3, bin_items, &j);
}

void deja__nn_ref_binary(deja__nn_binop op, size_t c, size_t p, deja__nn_operand a,
                         deja__nn_operand b, float *out, const deja__nn_post *post)
{
    for (size_t ch = 0; ch < c; ch++)
        for (size_t i = 0; i < p; i++) {
            float x = a.data[ch * a.stride_c + i * a.stride_p];
            float y = b.data[ch * b.stride_c + i * b.stride_p];
            float v = op == DEJA__NN_ADD   ? x + y
                      : op == DEJA__NN_SUB ? x - y
                      : op == DEJA__NN_MUL ? x * y
                                           : x / y;
            if (post && post->clamp) v = clampf(v, post->lo, post->hi);
            out[ch * p + i] = v;
        }
}

/* ---- unary ------------------------------------------------------------------------------- */

typedef struct un_job {
    deja__nn_unop op;
    float arg0, arg1;
    size_t n;
    const float *in;
    float *out;
} un_job;

static void un_span(deja__nn_unop op, float arg0, float arg1, size_t n, const float *x, float *o)
{
    switch (op) {
    case DEJA__NN_RELU:
        for (size_t i = 0; i < n; i++)
            o[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case DEJA__NN_SIGMOID:
        for (size_t i = 0; i < n; i++)
            o[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case DEJA__NN_CLIP:
        for (size_t i = 0; i < n; i++)
            o[i] = clampf(x[i], arg0, arg1);
        break;
    case DEJA__NN_POW:
        /* The models' exponents 3 (GeM) and 1/3; small integers skip powf. */
        if (arg0 == 1.0f)
            memmove(o, x, n * sizeof(float));
        else if (arg0 == 2.0f)
            for (size_t i = 0; i < n; i++)
                o[i] = x[i] * x[i];
        else if (arg0 == 3.0f)
            for (size_t i = 0; i < n; i++)
                o[i] = x[i] * x[i] * x[i];
        else
            for (size_t i = 0; i < n; i++)
                o[i] = powf(x[i], arg0);
        break;
    }
}

static void un_items(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const un_job *j = ctx;
    size_t i0 = begin * CHUNK, i1 = end * CHUNK < j->n ? end * CHUNK : j->n;
    un_span(j->op, j->arg0, j->arg1, i1 - i0, j->in + i0, j->out + i0);
}

void deja__nn_unary(const deja__nn *nn, deja__nn_unop op, float arg0, float arg1, size_t n,
                    const float *in, float *out)
{
    un_job j = {op, arg0, arg1, n, in, out};
    int pow_call = op == DEJA__NN_POW && arg0 != 1.0f && arg0 != 2.0f && arg0 != 3.0f;
    double per = op == DEJA__NN_SIGMOID ? 2.0 : pow_call ? 10.0 : 0.3; /* ns per element */
    deja__nn_parallel(nn, (n + CHUNK - 1) / CHUNK, (double)n * per, un_items, &j);
}

void deja__nn_ref_unary(deja__nn_unop op, float arg0, float arg1, size_t n, const float *in,
                        float *out)
{
    for (size_t i = 0; i < n; i++) {
        double x = in[i];
        switch (op) {
        case DEJA__NN_RELU:
            out[i] = (float)(x > 0.0 ? x : 0.0);
            break;
        case DEJA__NN_SIGMOID:
            out[i] = (float)(1.0 / (1.0 + exp(-x)));
            break;
        case DEJA__NN_CLIP:
            out[i] = clampf(in[i], arg0, arg1);
            break;
        case DEJA__NN_POW:
            out[i] = (float)pow(x, (double)arg0);
            break;
        }
    }
}

/* ---- ReduceL2 over channels -------------------------------------------------------------- */

typedef struct l2_job {
    size_t c, p;
    float eps;
    int normalize;
    const float *in;
    float *out; /* normalised tensor, or the norms */
} l2_job;

static void l2_blocks(void *ctx, size_t begin, size_t end, int worker)
{
    (void)worker;
    const l2_job *j = ctx;
    float acc[L2_BLOCK];
    for (size_t blk = begin; blk < end; blk++) {
        size_t p0 = blk * L2_BLOCK, n = j->p - p0 < L2_BLOCK ? j->p - p0 : L2_BLOCK;
        memset(acc, 0, sizeof acc);
        for (size_t c = 0; c < j->c; c++) {
            const float *x = j->in + c * j->p + p0;
            for (size_t i = 0; i < n; i++)
                acc[i] += x[i] * x[i];
        }
        if (!j->normalize) {
            for (size_t i = 0; i < n; i++)
                j->out[p0 + i] = sqrtf(acc[i]);
            continue;
        }
        /* One division per pixel, then multiplies: within 1 ulp of ONNX's Div, and the pass
         * stays memory-bound instead of bound by the divider. */
        for (size_t i = 0; i < n; i++) {
            float nrm = sqrtf(acc[i]);
            acc[i] = 1.0f / (nrm > j->eps ? nrm : j->eps);
        }
        for (size_t c = 0; c < j->c; c++) {
            const float *x = j->in + c * j->p + p0;
            float *o = j->out + c * j->p + p0;
            for (size_t i = 0; i < n; i++)
                o[i] = x[i] * acc[i];
        }
    }
}

static void l2_run(const deja__nn *nn, size_t c, size_t p, float eps, int normalize,
                   const float *in, float *out)
{
    l2_job j = {c, p, eps, normalize, in, out};
    deja__nn_parallel(nn, (p + L2_BLOCK - 1) / L2_BLOCK, (double)(c * p) * (normalize ? 0.4 : 0.2),
                      l2_blocks, &j);
}

void deja__nn_reduce_l2_channels(const deja__nn *nn, size_t c, size_t p, const float *in,
                                 float *norm)
{
    l2_run(nn, c, p, 0.0f, 0, in, norm);
}

void deja__nn_l2_normalize_channels(const deja__nn *nn, size_t c, size_t p, float eps,
                                    const float *in, float *out)
{
    l2_run(nn, c, p, eps, 1, in, out);
}

void deja__nn_ref_reduce_l2_channels(size_t c, size_t p, const float *in, float *norm)
{
    for (size_t i = 0; i < p; i++) {
        double s = 0.0;
        for (size_t ch = 0; ch < c; ch++)
            s += (double)in[ch * p + i] * in[ch * p + i];
        norm[i] = (float)sqrt(s);
    }
}

void deja__nn_ref_l2_normalize_channels(size_t c, size_t p, float eps, const float *in, float *out)
{
    for (size_t i = 0; i < p; i++) {
        double s = 0.0;
        for (size_t ch = 0; ch < c; ch++)
            s += (double)in[ch * p + i] * in[ch * p + i];
        double d = sqrt(s) > eps ? sqrt(s) : eps;
        for (size_t ch = 0; ch < c; ch++)
            out[ch * p + i] = (float)(in[ch * p + i] / d);
    }
}

/* ---- Concat, Slice ----------------------------------------------------------------------- */

void deja__nn_concat_channels(size_t n, const float *const *in, const size_t *channels, size_t p,
                              float *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t bytes = channels[i] * p * sizeof(float);
        if (in[i] != out) memmove(out, in[i], bytes); /* already in place: planner's slice */
        out += channels[i] * p;
    }
}

deja_status deja__nn_slice_resolve(int64_t dim, int64_t start, int64_t end, int64_t step,
                                   int64_t *first, int64_t *count)
{
    if (step == 0) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "slice step 0: must be non-zero");
    if (dim < 0)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "slice axis length %lld: negative", (long long)dim);
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t n;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        n = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        uint64_t back = (uint64_t)0 - (uint64_t)step; /* -step without overflow at INT64_MIN */
        n = start > end ? (int64_t)((uint64_t)(start - end - 1) / back) + 1 : 0;
    }
    *first = n ? start : 0;
    *count = n;
    return DEJA_OK;
}

void deja__nn_slice_channels(size_t p, const float *in, int64_t first, int64_t count, int64_t step,
                             float *out)
{
    for (int64_t i = 0; i < count; i++)
        memcpy(out + (size_t)i * p, in + (size_t)(first + i * step) * p, p * sizeof(float));
}
