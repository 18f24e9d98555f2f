/* ops.h - the compute kernels of deja's ONNX engine: plain functions over float arrays.
 *
 * Tensors are float32, NCHW, batch 1, dense (an activation of C channels and H x W pixels is C
 * planes of H*W floats). No graph types here: the engine's planner maps nodes to these calls.
 *
 * Rules shared by every kernel:
 * - Never allocates. A call that needs temporary memory takes `scratch`, at least as many bytes
 *   as its *_scratch_bytes() function says for the same deja__nn (kernel set and thread count)
 *   and dims; any alignment. Kernels without a scratch function need none.
 * - Inputs are borrowed and never written; outputs must not overlap inputs unless the kernel's
 *   comment allows it (elementwise kernels allow exact in-place).
 * - The kernel set and the threads come from a deja__nn context (deja__nn_init). With a pool of
 *   2+ threads, large calls split into disjoint output slices; every output element is computed
 *   by the same instructions in the same order whatever the split, so 1 and 2 threads give
 *   bit-identical results. A pool must not run two calls at once (one caller per pool).
 * - Each optimised kernel has a naive reference deja__nn_ref_* (single thread, no SIMD, sums in
 *   double) that the tests compare against; it is not meant for production use.
 * - Shapes are validated by the callers' checks (deja__nn_conv_check for convolutions); the
 *   kernels themselves trust their arguments.
 *
 * Fused post-processing (deja__nn_post): conv and GEMM write act(sum + bias [+ old output]),
 * where act clamps to [lo, hi] (ReLU = [0, +inf], Clip = [min, max]) while the tile is still in
 * registers. `accumulate` adds the output's previous contents, which fuses a residual Add
 * (conv B then conv A with accumulate and ReLU = ReLU(A(x) + B(y))).
 *
 * Concat along channels needs no kernel when the planner lets each producer write straight into
 * its slice of the concatenated tensor (channel offset c0 = pointer + c0*H*W, same layout);
 * deja__nn_concat_channels is the copying fallback. Slice along channels with step 1 is likewise
 * a view (pointer + first*H*W); deja__nn_slice_channels copies any step. Flatten is a no-op. */
#ifndef DEJA_ONNX_OPS_H
#define DEJA_ONNX_OPS_H

#include "base.h"
#include "pool.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- context ----------------------------------------------------------------------------- */

/* What a GEMM micro-kernel applies to its mr x nr tile after the sum over k. */
typedef struct deja__nn_tile {
    const float *bias; /* one value per tile row (mr of them), NULL = none */
    float lo, hi;      /* clamp bounds when clamp is set */
    int load_c;        /* add the tile's previous contents */
    int clamp;
} deja__nn_tile;

/* C[0..mr) x [0..nr) (row stride ldc) = post(sum_k a[k*mr + i] * b[k*nr + j]). */
typedef void (*deja__nn_ukr_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                const deja__nn_tile *t);
/* Depthwise 3x3 row: out[i] = post(bias + sum_ky,kx w[3ky+kx] * r[ky][i*stride + kx]) for i < n;
 * every tap is readable. t->bias points at the channel's one bias value (or is NULL). */
typedef void (*deja__nn_dw3_fn)(const float *const r[3], const float *w, size_t n, float *out,
                                const deja__nn_tile *t);

typedef struct deja__nn {
    deja_simd kind;   /* kernels in use: SCALAR (portable C), AVX2 (with FMA), NEON */
    deja__pool *pool; /* borrowed; NULL = everything on the calling thread */
    int n_threads;    /* 1 without a pool */
    int mr, nr;       /* GEMM micro-tile: AVX2 4x24, NEON 8x12, portable 4x8 */
    /* Calls whose estimated single-thread time (ns) is below this run inline; init sets 150000,
     * the tests 0 so that even tiny calls split. */
    double par_min_ns;
    deja__nn_ukr_fn ukr;
    deja__nn_dw3_fn dw3_s1, dw3_s2;
} deja__nn;

/* Pick the kernels for `want` (deja_options.simd) and bind the pool (NULL: 1 thread). AUTO takes
 * the best this CPU runs; SCALAR forces the portable C kernels. As deja__kernels_get, a set the
 * CPU or build lacks is DEJA_UNSUPPORTED. There are no SSE4.2 nn kernels: an SSE42 request, or
 * AVX2 on a CPU without FMA, runs the portable kernels (nn->kind then says SCALAR). */
DEJA_NODISCARD deja_status deja__nn_init(deja__nn *nn, deja_simd want, deja__pool *pool);

/* Run fn over [0, n) on the pool when work (the call's estimated single-thread time in ns) is at
 * least nn->par_min_ns, else inline as worker 0. */
void deja__nn_parallel(const deja__nn *nn, size_t n, double work, deja__pool_fn fn, void *ctx);

/* ---- fused post-processing -------------------------------------------------------------- */

typedef struct deja__nn_post {
    const float *bias; /* per output channel (GEMM: per row of C); NULL = none */
    float lo, hi;      /* clamp to [lo, hi] when clamp is set */
    bool clamp;
    bool accumulate; /* out = act(out + result) instead of act(result) */
} deja__nn_post;

static inline deja__nn_post deja__nn_post_make(const float *bias, bool relu)
{
    deja__nn_post p = {bias, 0.0f, INFINITY, relu, false};
    return p;
}

static inline deja__nn_post deja__nn_post_clip(const float *bias, float lo, float hi)
{
    deja__nn_post p = {bias, lo, hi, true, false};
    return p;
}

/* ---- GEMM -------------------------------------------------------------------------------- */

/* Row-major C (M x N, row stride ldc) = post(A (M x K, lda) * B (K x N, ldb)); post may be NULL
 * (plain product). post->bias has M entries. */
size_t deja__nn_gemm_scratch_bytes(const deja__nn *nn, size_t M, size_t N, size_t K);
void deja__nn_gemm(const deja__nn *nn, size_t M, size_t N, size_t K, const float *A, size_t lda,
                   const float *B, size_t ldb, float *C, size_t ldc, const deja__nn_post *post,
                   void *scratch);
void deja__nn_ref_gemm(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                       size_t ldb, float *C, size_t ldc, const deja__nn_post *post);

/* The GEMM with B produced on the fly (implicit im2col): pack writes rows [k0, k0+kc) and
 * columns [n0, n0+nc) of B as ceil(nc/nr) panels of kc x nr floats, panel p at dst + p*kc*nr,
 * element (k, j) at k*nr + j, columns past nc zero. Scratch as deja__nn_gemm. */
typedef void (*deja__nn_pack_fn)(const void *ctx, size_t k0, size_t kc, size_t n0, size_t nc,
                                 int nr, float *dst);
void deja__nn_gemm_packed(const deja__nn *nn, size_t M, size_t N, size_t K, const float *A,
                          size_t lda, deja__nn_pack_fn pack, const void *pack_ctx, float *C,
                          size_t ldc, const deja__nn_post *post, void *scratch);

/* Micro-kernels, exported so that tests can reach each one. */
void deja__nn_ukr_portable(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                           const deja__nn_tile *t);
void deja__nn_dw3_s1_portable(const float *const r[3], const float *w, size_t n, float *out,
                              const deja__nn_tile *t);
void deja__nn_dw3_s2_portable(const float *const r[3], const float *w, size_t n, float *out,
                              const deja__nn_tile *t);
#if defined(__x86_64__)
void deja__nn_ukr_avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                       const deja__nn_tile *t);
void deja__nn_dw3_s1_avx2(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t);
void deja__nn_dw3_s2_avx2(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t);
#endif
#if defined(__aarch64__)
void deja__nn_ukr_neon(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                       const deja__nn_tile *t);
void deja__nn_dw3_s1_neon(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t);
void deja__nn_dw3_s2_neon(const float *const r[3], const float *w, size_t n, float *out,
                          const deja__nn_tile *t);
#endif

/* ---- convolution ------------------------------------------------------------------------ */

/* ONNX Conv, batch 1, dilation 1. Weights OIHW: c_out x (c_in/groups) x k_h x k_w. Pads are
 * ONNX's [top, left, bottom, right]; output h_out = (h_in + pad_t + pad_b - k_h) / stride_h + 1. */
typedef struct deja__nn_conv_shape {
    int c_in, h_in, w_in, c_out;
    int k_h, k_w, stride_h, stride_w;
    int pad_t, pad_l, pad_b, pad_r;
    int groups; /* divides c_in and c_out; depthwise: groups == c_in == c_out */
} deja__nn_conv_shape;

typedef enum deja__nn_conv_path {
    DEJA__NN_CONV_1X1,       /* 1x1, stride 1, no pads, groups 1: GEMM on the channel matrix */
    DEJA__NN_CONV_IM2COL,    /* anything else: GEMM per group, B packed from the image */
    DEJA__NN_CONV_DEPTHWISE3 /* 3x3, stride 1 or 2, groups == c_in == c_out: direct */
} deja__nn_conv_path;

/* Dims must be positive and at most DEJA__NN_MAX_DIM, pads in [0, kernel), the output at
 * least 1x1, groups dividing both channel counts, tensors below 2^31 elements. DEJA_INVALID_ARG
 * with "conv <field> <value>: <rule>" in err (DEJA_ERROR_BYTES, may be NULL) otherwise. */
#define DEJA__NN_MAX_DIM 65536
DEJA_NODISCARD deja_status deja__nn_conv_check(const deja__nn_conv_shape *s, char *err);
int deja__nn_conv_h_out(const deja__nn_conv_shape *s);
int deja__nn_conv_w_out(const deja__nn_conv_shape *s);
deja__nn_conv_path deja__nn_conv_path_of(const deja__nn_conv_shape *s);
size_t deja__nn_conv_scratch_bytes(const deja__nn *nn, const deja__nn_conv_shape *s);
/* out: c_out x h_out x w_out; post->bias has c_out entries. Shape must pass the check. */
void deja__nn_conv(const deja__nn *nn, const deja__nn_conv_shape *s, const float *in,
                   const float *weights, const deja__nn_post *post, float *out, void *scratch);
void deja__nn_ref_conv(const deja__nn_conv_shape *s, const float *in, const float *weights,
                       const deja__nn_post *post, float *out);

/* ---- pooling, resize --------------------------------------------------------------------- */

/* MaxPool, no padding, floor mode: out c x ((h-k_h)/s_h+1) x ((w-k_w)/s_w+1); needs h >= k_h,
 * w >= k_w and all four >= 1. */
void deja__nn_maxpool(const deja__nn *nn, size_t c, size_t h, size_t w, size_t k_h, size_t k_w,
                      size_t s_h, size_t s_w, const float *in, float *out);
void deja__nn_ref_maxpool(size_t c, size_t h, size_t w, size_t k_h, size_t k_w, size_t s_h,
                          size_t s_w, const float *in, float *out);

/* GlobalAveragePool: out[ch] = mean of the plane (summed in double). */
void deja__nn_global_avgpool(const deja__nn *nn, size_t c, size_t hw, const float *in, float *out);
void deja__nn_ref_global_avgpool(size_t c, size_t hw, const float *in, float *out);

/* Resize, mode linear, coordinate_transformation_mode align_corners, any output size (ONNX:
 * floor(in * scale)): out(y, x) samples in at (y*(h-1)/(h_out-1), x*(w-1)/(w_out-1)), 0 when the
 * output has one row / column. */
size_t deja__nn_resize_scratch_bytes(const deja__nn *nn, size_t w_out);
void deja__nn_resize_bilinear_ac(const deja__nn *nn, size_t c, size_t h, size_t w, size_t h_out,
                                 size_t w_out, const float *in, float *out, void *scratch);
void deja__nn_ref_resize_bilinear_ac(size_t c, size_t h, size_t w, size_t h_out, size_t w_out,
                                     const float *in, float *out);

/* ---- elementwise ------------------------------------------------------------------------- */

typedef enum deja__nn_binop {
    DEJA__NN_ADD,
    DEJA__NN_SUB,
    DEJA__NN_MUL,
    DEJA__NN_DIV
} deja__nn_binop;

/* Broadcasting over a c x p view (p = H*W, or the last axis of a 2-D tensor): an operand is
 * read at channel * stride_c + pixel * stride_p, so (p, 1) = full tensor, (1, 0) = one value per
 * channel (1xCx1x1), (0, 1) = one plane for all channels (1x1xHxW), (0, 0) = scalar
 * (stride_p is 0 or 1).
 * out (c x p, dense) = post(a op b); post may be NULL, its bias and accumulate are ignored.
 * out may be a or b when that operand is a full tensor. */
typedef struct deja__nn_operand {
    const float *data;
    size_t stride_c, stride_p;
} deja__nn_operand;
void deja__nn_binary(const deja__nn *nn, deja__nn_binop op, size_t c, size_t p, deja__nn_operand a,
                     deja__nn_operand b, float *out, const deja__nn_post *post);
void deja__nn_ref_binary(deja__nn_binop op, size_t c, size_t p, deja__nn_operand a,
                         deja__nn_operand b, float *out, const deja__nn_post *post);

typedef enum deja__nn_unop {
    DEJA__NN_RELU,    /* max(x, 0) */
    DEJA__NN_SIGMOID, /* 1 / (1 + exp(-x)) */
    DEJA__NN_CLIP,    /* min(max(x, arg0), arg1); absent bounds are -INFINITY / INFINITY */
    DEJA__NN_POW      /* pow(x, arg0), scalar exponent */
} deja__nn_unop;
/* out[i] = op(in[i]) for i < n; out may equal in. */
void deja__nn_unary(const deja__nn *nn, deja__nn_unop op, float arg0, float arg1, size_t n,
                    const float *in, float *out);
void deja__nn_ref_unary(deja__nn_unop op, float arg0, float arg1, size_t n, const float *in,
                        float *out);

/* ---- channel reductions, concat, slice ------------------------------------------------- */

/* ReduceL2 over channels, keepdims: norm (p floats) = sqrt(sum_ch x^2). */
void deja__nn_reduce_l2_channels(const deja__nn *nn, size_t c, size_t p, const float *in,
                                 float *norm);
void deja__nn_ref_reduce_l2_channels(size_t c, size_t p, const float *in, float *norm);
/* ReduceL2 + Clip(eps) + Div in one pass per pixel block: out = in / max(||in[:, px]||, eps).
 * out may equal in. */
void deja__nn_l2_normalize_channels(const deja__nn *nn, size_t c, size_t p, float eps,
                                    const float *in, float *out);
void deja__nn_ref_l2_normalize_channels(size_t c, size_t p, float eps, const float *in, float *out);

/* Concat along channels: n inputs of channels[i] x p each, copied one after another. */
void deja__nn_concat_channels(size_t n, const float *const *in, const size_t *channels, size_t p,
                              float *out);

/* ONNX Slice on one axis of length dim: start/end/step as in the node (negative counts from the
 * end, clamped; INT64_MAX = to the end). Gives the first index and the element count (0 if
 * empty). DEJA_INVALID_ARG for step 0. */
DEJA_NODISCARD deja_status deja__nn_slice_resolve(int64_t dim, int64_t start, int64_t end,
                                                  int64_t step, int64_t *first, int64_t *count);
/* Channels first, first+step, ... (count of them) of a c x p tensor into out (count x p). */
void deja__nn_slice_channels(size_t p, const float *in, int64_t first, int64_t count, int64_t step,
                             float *out);

#endif
