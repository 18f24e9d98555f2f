/* test_onnx_engine.c - the ONNX engine (engine.h): planning and running.
 *
 * A tiny model written here with a small protobuf writer uses every supported operator: Constant
 * nodes, a folded Mul that makes a Conv's weights, Conv (3x3, 1x1, depthwise stride 2 with pads
 * [0,0,1,1]) with fused Relu/Clip, a residual Add done as an accumulate, MaxPool, broadcasts
 * (scalar, per-channel), Resize, Concat written in place, Slice views, Sigmoid, the fused L2
 * normalisation, GeM (Clip, Pow, GlobalAveragePool, Pow), Flatten, a standalone ReduceL2 and a
 * dead node. Its outputs are checked against the same graph computed by hand with the reference
 * kernels (ops.h deja__nn_ref_*), with every optimisation on and with all of them off, on each
 * kernel set, on 1 and 2 threads; the plan statistics show which fusions happened. Models that
 * use what the kernels cannot do fail at create naming the node. The shared models
 * (../shared/models, skipped when absent) must reproduce their test vectors. */
#include "engine.h"
#include "npy.h"
#include "ops.h"
#include "test.h"
#include "test_util.h"

/* ---- protobuf writer ----------------------------------------------------------------------- */

typedef struct pb {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_put(pb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    pb_put(b, t, n);
}

/* Wire types: 0 varint, 2 length-delimited. */
static void pb_int(pb *b, uint32_t field, int64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, (uint64_t)v);
}

static void pb_len(pb *b, uint32_t field, const void *src, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_put(b, src, n);
}

static void pb_str(pb *b, uint32_t field, const char *s)
{
    pb_len(b, field, s, strlen(s));
}

/* Appends sub as field and frees it. */
static void pb_sub(pb *b, uint32_t field, pb *sub)
{
    pb_len(b, field, sub->p, sub->n);
    free(sub->p);
    *sub = (pb){0};
}

/* ---- ONNX model builder (onnx.proto field numbers) ----------------------------------------- */

/* TensorProto: dims 1, data_type 2, name 8, raw_data 9. */
static pb tensor(const char *name, int dtype, const int64_t *dims, int rank, const void *data)
{
    pb t = {0};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        pb_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    pb_int(&t, 2, dtype);
    if (name) pb_str(&t, 8, name);
    pb_len(&t, 9, data, n * (dtype == 7 ? 8 : 4));
    return t;
}

/* AttributeProto: name 1, f 2, i 3, s 4, t 5, ints 8, type 20. */
static pb a_int(const char *name, int64_t v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, 2);
    return a;
}

static pb a_str(const char *name, const char *s)
{
    pb a = {0};
    pb_str(&a, 1, name);
    pb_str(&a, 4, s);
    pb_int(&a, 20, 3);
    return a;
}

static pb a_ints(const char *name, int n, const int64_t *v)
{
    pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++)
        pb_int(&a, 8, v[i]);
    pb_int(&a, 20, 7);
    return a;
}

typedef struct model {
    pb graph;
} model;

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. ins: comma-separated value
 * names, an empty item is an omitted input. The node is named after its output. attrs (n of
 * them) are consumed. */
static void node(model *m, const char *op, const char *ins, const char *out, pb *attrs, int n)
{
    pb nd = {0};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ins);
    for (char *s = buf, *e; *ins; s = e + 1) {
        e = strchr(s, ',');
        if (e) *e = '\0';
        pb_str(&nd, 1, s);
        if (!e) break;
    }
    pb_str(&nd, 2, out);
    pb_str(&nd, 3, out);
    pb_str(&nd, 4, op);
    for (int i = 0; i < n; i++)
        pb_sub(&nd, 5, &attrs[i]);
    pb_sub(&m->graph, 1, &nd);
}

static void init_f32(model *m, const char *name, int rank, const int64_t *dims, const float *v)
{
    pb t = tensor(name, 1, dims, rank, v);
    pb_sub(&m->graph, 5, &t);
}

/* A Constant node with a tensor value. */
static void constant(model *m, const char *out, int dtype, int rank, const int64_t *dims,
                     const void *v)
{
    pb t = tensor(NULL, dtype, dims, rank, v);
    pb a = {0};
    pb_str(&a, 1, "value");
    pb_sub(&a, 5, &t);
    pb_int(&a, 20, 4);
    node(m, "Constant", "", out, &a, 1);
}

static void const_scalar(model *m, const char *out, float v)
{
    constant(m, out, 1, 0, NULL, &v);
}

static void const_i64(model *m, const char *out, int64_t v)
{
    const int64_t one = 1;
    constant(m, out, 7, 1, &one, &v);
}

/* ValueInfoProto name 1, type 2 -> tensor_type 1 -> elem_type 1, shape 2 -> dim 1 ->
 * dim_value 1 | dim_param 2. rank -1: no shape. A dim < 0 is symbolic ("d<i>"). */
static pb value_info(const char *name, int rank, const int64_t *dims)
{
    pb shape = {0}, tt = {0}, ty = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        pb d = {0};
        char sym[8];
        snprintf(sym, sizeof sym, "d%d", i);
        if (dims[i] >= 0)
            pb_int(&d, 1, dims[i]);
        else
            pb_str(&d, 2, sym);
        pb_sub(&shape, 1, &d);
    }
    pb_int(&tt, 1, 1);
    if (rank >= 0) pb_sub(&tt, 2, &shape);
    free(shape.p);
    pb_sub(&ty, 1, &tt);
    pb_str(&vi, 1, name);
    pb_sub(&vi, 2, &ty);
    return vi;
}

static void graph_input(model *m, const char *name, int rank, const int64_t *dims)
{
    pb vi = value_info(name, rank, dims);
    pb_sub(&m->graph, 11, &vi);
}

static void graph_output(model *m, const char *name)
{
    pb vi = value_info(name, -1, NULL);
    pb_sub(&m->graph, 12, &vi);
}

/* ModelProto: ir_version 1, graph 7, opset_import 8 (version 2). Loads it (malloc). */
static deja__onnx_model *finish(model *m)
{
    pb mp = {0}, os = {0};
    pb_int(&mp, 1, 7);
    pb_str(&m->graph, 2, "g");
    pb_sub(&mp, 7, &m->graph);
    pb_int(&os, 2, 13);
    pb_sub(&mp, 8, &os);
    deja__onnx_model *out = NULL;
    char err[DEJA_ERROR_BYTES];
    if (deja__onnx_model_load_memory(NULL, mp.p, mp.n, "tiny.onnx", &out, err) != DEJA_OK) {
        fprintf(stderr, "  tiny model: %s\n", err);
        out = NULL;
    }
    free(mp.p);
    return out;
}

/* ---- the tiny model -------------------------------------------------------------------- */

#define C_IN 3
#define C1   4
#define C_H  5 /* head: 4 descriptor channels + 1 score */

typedef struct weights {
    float w1a[C1 * C_IN * 9], b1[C1], w2[C1 * C1 * 9], b2[C1], w3[C1 * C1], b3[C1];
    float wd[C1 * 9], bd[C1], chb[C1], wk[C1 * C1], wh[C_H * 2 * C1];
} weights;

static weights W;

static void fill(float *v, size_t n, uint64_t *s, float scale)
{
    for (size_t i = 0; i < n; i++)
        v[i] = scale * test_rndf(s);
}

static void make_weights(void)
{
    uint64_t s = 77;
    fill(W.w1a, sizeof W.w1a / 4, &s, 1.0f);
    fill(W.b1, C1, &s, 0.2f);
    fill(W.w2, sizeof W.w2 / 4, &s, 0.4f);
    fill(W.b2, C1, &s, 0.2f);
    fill(W.w3, sizeof W.w3 / 4, &s, 0.5f);
    fill(W.b3, C1, &s, 0.2f);
    fill(W.wd, sizeof W.wd / 4, &s, 1.0f);
    fill(W.bd, C1, &s, 0.5f);
    fill(W.chb, C1, &s, 1.0f);
    fill(W.wk, sizeof W.wk / 4, &s, 0.7f);
    fill(W.wh, sizeof W.wh / 4, &s, 0.6f);
}

/* Variants for the unsupported-construct tests. */
typedef struct variant {
    int64_t dilation;        /* of conv c2; 0 = 1 */
    const char *resize_mode; /* NULL = linear */
    bool maxpool_pads;       /* pads [0,0,1,1] on the MaxPool */
    bool weight_from_input;  /* conv c3's weight is computed from x at run time */
    bool pow_runtime;        /* Pow's exponent is a run-time tensor */
} variant;

/* x (1x3xHxW, H % 4 == 0, W % 4 == 0) -> score 1x1xHxW, desc 1x4xHxW, glob 1x4, glob_n 1x1. */
static deja__onnx_model *tiny_model(const variant *v)
{
    static const variant none = {0};
    if (!v) v = &none;
    make_weights();
    model m = {{0}};
    const int64_t xd[4] = {1, C_IN, -1, -1};
    graph_input(&m, "x", 4, xd);
    const int64_t d_w1[4] = {C1, C_IN, 3, 3}, d_c[1] = {C1}, d_w2[4] = {C1, C1, 3, 3};
    const int64_t d_w3[4] = {C1, C1, 1, 1}, d_wd[4] = {C1, 1, 3, 3}, d_chb[4] = {1, C1, 1, 1};
    const int64_t d_wh[4] = {C_H, 2 * C1, 1, 1};
    init_f32(&m, "w1a", 4, d_w1, W.w1a);
    init_f32(&m, "b1", 1, d_c, W.b1);
    init_f32(&m, "w2", 4, d_w2, W.w2);
    init_f32(&m, "b2", 1, d_c, W.b2);
    init_f32(&m, "w3", 4, d_w3, W.w3);
    init_f32(&m, "b3", 1, d_c, W.b3);
    init_f32(&m, "wd", 4, d_wd, W.wd);
    init_f32(&m, "bd", 1, d_c, W.bd);
    init_f32(&m, "chb", 4, d_chb, W.chb);
    init_f32(&m, "wk", 4, d_w3, W.wk);
    init_f32(&m, "wh", 4, d_wh, W.wh);
    const_scalar(&m, "half", 0.5f);
    const_scalar(&m, "two", 2.0f);
    const_scalar(&m, "one", 1.0f);
    const_scalar(&m, "zero", 0.0f);
    const_scalar(&m, "five", 5.0f);
    const_scalar(&m, "eps", 1e-12f);
    const_scalar(&m, "gem_eps", 1e-6f);
    const_scalar(&m, "three", 3.0f);
    const_scalar(&m, "third", 1.0f / 3.0f);
    const int64_t d4[1] = {4};
    const float scales[4] = {1, 1, 4, 4};
    constant(&m, "scales", 1, 1, d4, scales);
    const_i64(&m, "s0", 0);
    const_i64(&m, "e0", 4);
    const_i64(&m, "ax", 1);
    const_i64(&m, "s1", -1);
    const_i64(&m, "e1", INT64_MAX);

    const int64_t p1[4] = {1, 1, 1, 1}, p0[4] = {0, 0, 1, 1}, pz[4] = {0, 0, 0, 0};
    const int64_t k2[2] = {2, 2}, s2[2] = {2, 2}, ax1[1] = {1};
    int64_t dil[2] = {v->dilation ? v->dilation : 1, v->dilation ? v->dilation : 1};
    node(&m, "Mul", "w1a,half", "w1", NULL, 0);  /* folded: the conv's weight */
    node(&m, "Add", "five,one", "six", NULL, 0); /* folded: the Clip's bound */
    node(&m, "Relu", "x", "unused", NULL, 0);    /* dead */
    node(&m, "Mul", "x,two", "m", NULL, 0);      /* scalar broadcast */
    node(&m, "Sub", "m,one", "s", NULL, 0);      /* in place */
    pb at[3] = {a_ints("pads", 4, p1)};
    node(&m, "Conv", "s,w1,b1", "c1", at, 1);
    node(&m, "Relu", "c1", "r1", NULL, 0); /* fused */
    at[0] = a_ints("pads", 4, dil[0] > 1 ? (const int64_t[4]){2, 2, 2, 2} : p1);
    at[1] = a_ints("dilations", 2, dil);
    node(&m, "Conv", "r1,w2,b2", "c2", at, 2);
    if (v->weight_from_input) {
        node(&m, "ReduceL2", "x", "xr", NULL, 0); /* 1x1x1x1, computed per run */
        node(&m, "Mul", "w3,xr", "xw", NULL, 0);
        node(&m, "Conv", "r1,xw,b3", "c3", NULL, 0);
    } else {
        node(&m, "Conv", "r1,w3,b3", "c3", NULL, 0);
    }
    node(&m, "Add", "c2,c3", "a", NULL, 0); /* residual: c3 accumulates into c2 */
    node(&m, "Relu", "a", "r2", NULL, 0);   /* fused into that */
    at[0] = a_ints("kernel_shape", 2, k2);
    at[1] = a_ints("strides", 2, s2);
    at[2] = a_ints("pads", 4, v->maxpool_pads ? p0 : pz);
    node(&m, "MaxPool", "r2", "p", at, 3);
    at[0] = a_ints("pads", 4, p0);
    at[1] = a_ints("strides", 2, s2);
    at[2] = a_int("group", C1);
    node(&m, "Conv", "p,wd,bd", "d", at, 3); /* depthwise 3x3/2 */
    node(&m, "Clip", "d,zero,six", "cl", NULL, 0);
    node(&m, "Add", "cl,chb", "q", NULL, 0); /* per-channel broadcast */
    at[0] = a_str("mode", v->resize_mode ? v->resize_mode : "linear");
    at[1] = a_str("coordinate_transformation_mode", "align_corners");
    node(&m, "Resize", "q,,scales", "u", at, 2);
    node(&m, "Conv", "r2,wk", "k", NULL, 0);
    node(&m, "Relu", "k", "kr", NULL, 0);
    at[0] = a_int("axis", 1);
    node(&m, "Concat", "kr,u", "cat", at, 1); /* both written in place */
    node(&m, "Conv", "cat,wh", "h", NULL, 0);
    node(&m, "Slice", "h,s0,e0,ax", "sl0", NULL, 0);
    node(&m, "Slice", "h,s1,e1,ax", "sl1", NULL, 0);
    node(&m, "Sigmoid", "sl1", "score", NULL, 0);
    at[0] = a_ints("axes", 1, ax1);
    at[1] = a_int("keepdims", 1);
    node(&m, "ReduceL2", "sl0", "nrm", at, 2);
    node(&m, "Clip", "nrm,eps", "nc", NULL, 0);
    node(&m, "Div", "sl0,nc", "desc", NULL, 0); /* with the two above: one L2 step */
    node(&m, "Clip", "p,gem_eps", "g0", NULL, 0);
    node(&m, "Pow", v->pow_runtime ? "g0,g0" : "g0,three", "g1", NULL, 0);
    node(&m, "GlobalAveragePool", "g1", "g2", NULL, 0);
    node(&m, "Pow", "g2,third", "g3", NULL, 0);
    at[0] = a_int("axis", 1);
    node(&m, "Flatten", "g3", "g4", at, 1);
    at[0] = a_ints("axes", 1, ax1);
    node(&m, "ReduceL2", "g4", "glob_n", at, 1);
    node(&m, "Div", "g4,glob_n", "glob", NULL, 0);
    graph_output(&m, "score");
    graph_output(&m, "desc");
    graph_output(&m, "glob");
    graph_output(&m, "glob_n");
    return finish(&m);
}

/* ---- the tiny model by hand, on the reference kernels ------------------------------------ */

typedef struct expect {
    float *score, *desc, glob[C1], glob_n;
} expect;

static float *fmalloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

static void reference(const float *x, int H, int Wd, expect *e)
{
    size_t hw = (size_t)H * (size_t)Wd;
    float *s = fmalloc(C_IN * hw), *w1 = fmalloc(sizeof W.w1a / 4);
    for (size_t i = 0; i < C_IN * hw; i++)
        s[i] = x[i] * 2.0f - 1.0f;
    for (size_t i = 0; i < sizeof W.w1a / 4; i++)
        w1[i] = W.w1a[i] * 0.5f;
    deja__nn_conv_shape cs1 = {C_IN, H, Wd, C1, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    float *r1 = fmalloc(C1 * hw), *c2 = fmalloc(C1 * hw), *c3 = fmalloc(C1 * hw);
    deja__nn_post relu_b1 = deja__nn_post_make(W.b1, true), b2 = deja__nn_post_make(W.b2, false);
    deja__nn_post b3 = deja__nn_post_make(W.b3, false);
    deja__nn_ref_conv(&cs1, s, w1, &relu_b1, r1);
    deja__nn_conv_shape cs2 = {C1, H, Wd, C1, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    deja__nn_ref_conv(&cs2, r1, W.w2, &b2, c2);
    deja__nn_conv_shape cs3 = {C1, H, Wd, C1, 1, 1, 1, 1, 0, 0, 0, 0, 1};
    deja__nn_ref_conv(&cs3, r1, W.w3, &b3, c3);
    float *r2 = fmalloc(C1 * hw);
    for (size_t i = 0; i < C1 * hw; i++)
        r2[i] = c2[i] + c3[i] > 0.0f ? c2[i] + c3[i] : 0.0f;
    int h2 = H / 2, w2 = Wd / 2;
    float *p = fmalloc(C1 * (size_t)h2 * (size_t)w2);
    deja__nn_ref_maxpool(C1, (size_t)H, (size_t)Wd, 2, 2, 2, 2, r2, p);
    deja__nn_conv_shape csd = {C1, h2, w2, C1, 3, 3, 2, 2, 0, 0, 1, 1, C1};
    int h4 = deja__nn_conv_h_out(&csd), w4 = deja__nn_conv_w_out(&csd);
    float *q = fmalloc(C1 * (size_t)h4 * (size_t)w4);
    deja__nn_post clip6 = deja__nn_post_clip(W.bd, 0.0f, 6.0f);
    deja__nn_ref_conv(&csd, p, W.wd, &clip6, q);
    for (int c = 0; c < C1; c++)
        for (int i = 0; i < h4 * w4; i++)
            q[c * h4 * w4 + i] += W.chb[c];
    float *cat = fmalloc(2 * C1 * hw), *h = fmalloc(C_H * hw);
    deja__nn_post relu = deja__nn_post_make(NULL, true);
    deja__nn_ref_conv(&cs3, r2, W.wk, &relu, cat);
    deja__nn_ref_resize_bilinear_ac(C1, (size_t)h4, (size_t)w4, (size_t)(h4 * 4), (size_t)(w4 * 4),
                                    q, cat + C1 * hw);
    deja__nn_conv_shape csh = {2 * C1, H, Wd, C_H, 1, 1, 1, 1, 0, 0, 0, 0, 1};
    deja__nn_ref_conv(&csh, cat, W.wh, NULL, h);
    e->score = fmalloc(hw);
    e->desc = fmalloc(C1 * hw);
    for (size_t i = 0; i < hw; i++)
        e->score[i] = (float)(1.0 / (1.0 + exp(-(double)h[C1 * hw + i])));
    deja__nn_ref_l2_normalize_channels(C1, hw, 1e-12f, h, e->desc);
    double g[C1], nrm = 0.0;
    size_t phw = (size_t)h2 * (size_t)w2;
    for (int c = 0; c < C1; c++) {
        double sum = 0.0;
        for (size_t i = 0; i < phw; i++) {
            double v = p[c * phw + i] > 1e-6f ? p[c * phw + i] : 1e-6f;
            sum += v * v * v;
        }
        g[c] = pow(sum / (double)phw, 1.0 / 3.0);
        nrm += g[c] * g[c];
    }
    e->glob_n = (float)sqrt(nrm);
    for (int c = 0; c < C1; c++)
        e->glob[c] = (float)(g[c] / sqrt(nrm));
    free(s), free(w1), free(r1), free(c2), free(c3), free(r2), free(p), free(q), free(cat), free(h);
}

static void expect_free(expect *e)
{
    free(e->score);
    free(e->desc);
}

/* Largest |a - b| / (1 + |b|). */
static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= m)) m = d; /* NaN sticks */
    }
    return m;
}

static double max_abs(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

static float *tiny_input(int H, int Wd)
{
    size_t n = (size_t)C_IN * (size_t)H * (size_t)Wd;
    float *x = fmalloc(n);
    uint64_t s = 99 + (uint64_t)H;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)test_uniform(&s, 0.0, 1.0);
    return x;
}

/* Runs e on a fresh input of H x W and compares all four outputs with the hand computation. */
static int tiny_matches(deja__onnx_engine *e, int H, int Wd, double tol)
{
    float *x = tiny_input(H, Wd);
    expect ex;
    reference(x, H, Wd, &ex);
    deja__onnx_output o[4];
    int ok = deja__onnx_engine_run(e, x, o) == DEJA_OK;
    size_t hw = (size_t)H * (size_t)Wd;
    ok = ok && deja__onnx_engine_n_outputs(e) == 4 && o[0].count == hw && o[1].count == C1 * hw &&
         o[2].count == C1 && o[3].count == 1;
    ok = ok && o[0].rank == 4 && o[0].dims[1] == 1 && o[0].dims[2] == H && o[0].dims[3] == Wd;
    ok = ok && o[2].rank == 2 && o[2].dims[1] == C1 && strcmp(o[1].name, "desc") == 0;
    double e0 = ok ? max_rel(o[0].data, ex.score, hw) : 1e9;
    double e1 = ok ? max_rel(o[1].data, ex.desc, C1 * hw) : 1e9;
    double e2 = ok ? max_rel(o[2].data, ex.glob, C1) : 1e9;
    double e3 = ok ? max_rel(o[3].data, &ex.glob_n, 1) : 1e9;
    if (!(e0 <= tol && e1 <= tol && e2 <= tol && e3 <= tol)) {
        fprintf(stderr, "    %dx%d: score %g desc %g glob %g glob_n %g (tol %g)\n", H, Wd, e0, e1,
                e2, e3, tol);
        ok = 0;
    }
    expect_free(&ex);
    free(x);
    return ok;
}

/* ---- tiny model tests ------------------------------------------------------------------- */

static const int64_t tiny_dims[4] = {1, C_IN, 8, 12};

TEST(tiny_model_matches_hand_computation_on_every_kernel_set_thread_count_and_plan)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    const deja_simd sets[2] = {DEJA_SIMD_SCALAR, DEJA_SIMD_AUTO};
    const unsigned plans[4] = {0, DEJA__ENGINE_PLAIN, DEJA__ENGINE_NO_FUSE, DEJA__ENGINE_TEAM_ALL};
    for (int k = 0; k < 2; k++)
        for (int threads = 1; threads <= 2; threads++)
            for (int pl = 0; pl < 4; pl++) {
                deja_options o = deja_options_default();
                o.simd = sets[k];
                deja__onnx_engine_params par = {threads, NULL, plans[pl] | DEJA__ENGINE_SPLIT_ALL};
                deja__onnx_engine *e;
                ASSERT_OK(deja__onnx_engine_create(&o, m, tiny_dims, &par, &e, NULL));
                if (!tiny_matches(e, 8, 12, 2e-5))
                    TEST_FAIL_AT("simd %s, %d threads, flags %u", deja_simd_name(sets[k]), threads,
                                 plans[pl]);
                deja__onnx_engine_destroy(e);
            }
    deja__onnx_model_destroy(m);
}

TEST(tiny_model_plan_fuses_folds_aliases_and_reuses_memory)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    deja__onnx_engine *e;
    deja__onnx_plan_stats s, q;
    deja__onnx_engine_params par = {1, NULL, 0};
    ASSERT_OK(deja__onnx_engine_create(NULL, m, tiny_dims, &par, &e, NULL));
    deja__onnx_engine_stats(e, &s);
    deja__onnx_engine_destroy(e);
    EXPECT_EQ(s.n_nodes, m->n_nodes);
    EXPECT_EQ(s.n_dead, 1);           /* Relu(x) that nothing reads */
    EXPECT_EQ(s.n_folded, 15 + 2);    /* 15 Constant nodes, Mul(w1a, half), Add(five, one) */
    EXPECT_EQ(s.n_fused_act, 4);      /* relu c1, relu after the Add, clip d, relu k */
    EXPECT_EQ(s.n_fused_add, 1);      /* c3 accumulated into c2 */
    EXPECT_EQ(s.n_fused_l2, 1);       /* ReduceL2 + Clip + Div on sl0 */
    EXPECT_EQ(s.n_views, 3);          /* two Slices, Flatten */
    EXPECT_EQ(s.n_concat_inplace, 2); /* kr and u written into cat */
    EXPECT_EQ(s.n_copies, 0);
    /* Sub over Mul's output, Add q over cl, Sigmoid over sl1, the L2 over sl0, Clip g0 over
     * p, both Pows, Div glob over g4 */
    EXPECT_EQ(s.n_inplace, 8);
    /* Mul Sub conv conv conv(+=) maxpool conv(dw) add resize conv conv(head) sigmoid l2 clip pow
     * gap pow reducel2 div */
    EXPECT_EQ(s.n_steps, 19);
    EXPECT(s.arena_bytes < s.buffer_bytes && s.buffer_bytes < s.tensor_bytes);
    EXPECT(s.scratch_bytes > 0);
    EXPECT_EQ(s.folded_bytes, 128 * 4); /* w1 (108 floats -> 112) + six (1 -> 16) */

    par.flags = DEJA__ENGINE_PLAIN;
    ASSERT_OK(deja__onnx_engine_create(NULL, m, tiny_dims, &par, &e, NULL));
    deja__onnx_engine_stats(e, &q);
    deja__onnx_engine_destroy(e);
    EXPECT_EQ(q.n_fused_act + q.n_fused_add + q.n_fused_l2 + q.n_inplace + q.n_concat_inplace, 0);
    EXPECT_EQ(q.n_views, 1);  /* Flatten stays a view */
    EXPECT_EQ(q.n_copies, 4); /* 2 Concat inputs, 2 Slices */
    EXPECT_EQ(q.n_steps, 30); /* one per node but Flatten, two for the Concat */
    EXPECT_EQ(q.tensor_bytes, s.tensor_bytes);
    EXPECT_EQ(q.arena_bytes, q.buffer_bytes); /* no reuse */
    EXPECT(q.buffer_bytes > s.buffer_bytes);
    deja__onnx_model_destroy(m);
}

TEST(tiny_model_two_threads_equal_one_bit_for_bit_kernel_split_or_team)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    const int64_t dims[4] = {1, C_IN, 32, 40};
    float *x = tiny_input(32, 40);
    float *first[4] = {NULL};
    /* 1 thread; 2 with every kernel call split; 2 with every step split by the engine. */
    const unsigned flags[3] = {0, DEJA__ENGINE_SPLIT_ALL, DEJA__ENGINE_TEAM_ALL};
    for (int run = 0; run < 3; run++) {
        int threads = run ? 2 : 1;
        deja__onnx_engine_params par = {threads, NULL, flags[run]};
        deja__onnx_engine *e;
        ASSERT_OK(deja__onnx_engine_create(NULL, m, dims, &par, &e, NULL));
        deja__onnx_output o[4];
        ASSERT_OK(deja__onnx_engine_run(e, x, o));
        deja__onnx_plan_stats st;
        deja__onnx_engine_stats(e, &st);
        EXPECT_EQ(st.n_team, run == 2 ? st.n_steps : 0);
        for (int i = 0; i < 4; i++) {
            if (threads == 1) {
                first[i] = fmalloc(o[i].count);
                memcpy(first[i], o[i].data, o[i].count * sizeof(float));
            } else {
                EXPECT(memcmp(first[i], o[i].data, o[i].count * sizeof(float)) == 0);
            }
        }
        deja__onnx_engine_destroy(e);
    }
    for (int i = 0; i < 4; i++)
        free(first[i]);
    free(x);
    deja__onnx_model_destroy(m);
}

TEST(runs_allocate_nothing_and_destroy_frees_everything)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__onnx_engine_params par = {2, NULL, 0};
    deja__onnx_engine *e;
    ASSERT_OK(deja__onnx_engine_create(&o, m, tiny_dims, &par, &e, NULL));
    float *x = tiny_input(8, 12);
    deja__onnx_output out[4];
    size_t before = c.calls;
    EXPECT(before > 0);
    for (int i = 0; i < 10; i++)
        ASSERT_OK(deja__onnx_engine_run(e, x, out));
    EXPECT_EQ(c.calls, before);
    deja__onnx_engine_destroy(e);
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
    free(x);
    deja__onnx_model_destroy(m);
}

TEST(create_out_of_memory_at_every_allocation_fails_cleanly)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    int done = 0;
    for (size_t k = 1; k < 200 && !done; k++) {
        test_counter c = {0};
        c.fail_at = k;
        deja_options o = test_counting_options(&c);
        deja__onnx_engine_params par = {2, NULL, 0};
        deja__onnx_engine *e = NULL;
        deja_status st = deja__onnx_engine_create(&o, m, tiny_dims, &par, &e, NULL);
        if (st == DEJA_OK) {
            done = tiny_matches(e, 8, 12, 2e-5);
            deja__onnx_engine_destroy(e);
        } else {
            EXPECT_EQ(st, DEJA_NOMEM);
        }
        EXPECT_EQ(c.live, 0);
        EXPECT_EQ(c.blocks, 0);
    }
    EXPECT(done);
    deja__onnx_model_destroy(m);
}

TEST(reshape_replans_for_another_size_and_back)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__onnx_engine *e;
    ASSERT_OK(deja__onnx_engine_create(&o, m, tiny_dims, NULL, &e, NULL));
    EXPECT(tiny_matches(e, 8, 12, 2e-5));
    const int64_t big[4] = {1, C_IN, 24, 16}, bad[4] = {1, C_IN, 0, 16}, odd[4] = {1, 2, 8, 8};
    ASSERT_OK(deja__onnx_engine_reshape(e, big));
    int64_t dims[4];
    int rank;
    EXPECT_EQ(deja__onnx_engine_input(e, &rank, dims), C_IN * 24 * 16);
    EXPECT_EQ(rank, 4);
    EXPECT_EQ(dims[2], 24);
    EXPECT(tiny_matches(e, 24, 16, 2e-5));
    /* A failed reshape keeps the plan. */
    EXPECT_STATUS(deja__onnx_engine_reshape(e, bad), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__onnx_engine_reshape(e, odd), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__onnx_engine_error(e), "tiny.onnx") != NULL);
    EXPECT(tiny_matches(e, 24, 16, 2e-5));
    ASSERT_OK(deja__onnx_engine_reshape(e, tiny_dims));
    EXPECT(tiny_matches(e, 8, 12, 2e-5));
    size_t before = c.calls;
    float *x = tiny_input(8, 12);
    deja__onnx_output out[5];
    ASSERT_OK(deja__onnx_engine_run(e, x, out));
    EXPECT_EQ(c.calls, before);
    free(x);
    deja__onnx_engine_destroy(e);
    EXPECT_EQ(c.live, 0);
    deja__onnx_model_destroy(m);
}

/* Create must fail with st and a message that names the file, the node and why. */
static void expect_rejected(const variant *v, deja_status st, const char *what, const char *why)
{
    deja__onnx_model *m = tiny_model(v);
    if (!m) {
        TEST_FAIL_AT("model did not load");
        return;
    }
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    char err[DEJA_ERROR_BYTES] = "";
    deja__onnx_engine *e = NULL;
    deja_status got = deja__onnx_engine_create(&o, m, tiny_dims, NULL, &e, err);
    if (got != st || !strstr(err, "tiny.onnx") || !strstr(err, what) || !strstr(err, why) ||
        c.live != 0) {
        TEST_FAIL_AT("got %s '%s' (live %zu), expected %s with '%s' and '%s'",
                     deja_status_name(got), err, c.live, deja_status_name(st), what, why);
        if (got == DEJA_OK) deja__onnx_engine_destroy(e);
    }
    EXPECT(strcmp(err, deja_last_error()) == 0);
    deja__onnx_model_destroy(m);
}

TEST(unsupported_constructs_fail_at_create_naming_the_node)
{
    variant v = {0};
    v.dilation = 2;
    expect_rejected(&v, DEJA_UNSUPPORTED, "'c2' (Conv)", "dilations 2x2");
    v = (variant){0};
    v.resize_mode = "nearest";
    expect_rejected(&v, DEJA_UNSUPPORTED, "'u' (Resize)", "mode 'nearest' not supported");
    v = (variant){0};
    v.maxpool_pads = true;
    expect_rejected(&v, DEJA_UNSUPPORTED, "'p' (MaxPool)", "pads [0, 0, 1, 1]");
    v = (variant){0};
    v.weight_from_input = true;
    expect_rejected(&v, DEJA_UNSUPPORTED, "'c3' (Conv)", "weight 'xw' is computed at run time");
    v = (variant){0};
    v.pow_runtime = true;
    expect_rejected(&v, DEJA_UNSUPPORTED, "'g1' (Pow)", "exponent 'g0' must be a constant");
}

TEST(bad_arguments_are_rejected)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    deja__onnx_engine *e = NULL;
    char err[DEJA_ERROR_BYTES];
    const int64_t three_ch[4] = {1, 2, 8, 12};
    EXPECT_STATUS(deja__onnx_engine_create(NULL, m, NULL, NULL, &e, err), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__onnx_engine_create(NULL, m, three_ch, NULL, &e, err), DEJA_INVALID_ARG);
    EXPECT(strstr(err, "tiny.onnx: input 'x' dim 1 = 2") != NULL);
    EXPECT_STATUS(deja__onnx_engine_create(NULL, NULL, tiny_dims, NULL, &e, err), DEJA_INVALID_ARG);
    deja_options o = deja_options_default();
#if defined(__x86_64__)
    o.simd = DEJA_SIMD_NEON;
#else
    o.simd = DEJA_SIMD_AVX2;
#endif
    EXPECT_STATUS(deja__onnx_engine_create(&o, m, tiny_dims, NULL, &e, err), DEJA_UNSUPPORTED);
    EXPECT_STATUS(deja__onnx_engine_load(NULL, "/nonexistent/m.onnx", tiny_dims, NULL, &e, err),
                  DEJA_IO);
    ASSERT_OK(deja__onnx_engine_create(NULL, m, tiny_dims, NULL, &e, err));
    deja__onnx_output out[4];
    EXPECT_STATUS(deja__onnx_engine_run(e, NULL, out), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__onnx_engine_error(e), "NULL input") != NULL);
    deja__onnx_engine_destroy(e);
    deja__onnx_engine_destroy(NULL);
    deja__onnx_model_destroy(m);
}

TEST(print_lists_every_step)
{
    deja__onnx_model *m = tiny_model(NULL);
    ASSERT(m);
    deja__onnx_engine *e;
    ASSERT_OK(deja__onnx_engine_create(NULL, m, tiny_dims, NULL, &e, NULL));
    const char *path = test_tmp_path("plan.txt");
    FILE *f = fopen(path, "w");
    ASSERT(f);
    deja__onnx_engine_print(e, f);
    fclose(f);
    if (getenv("DEJA_ENGINE_PRINT")) deja__onnx_engine_print(e, stderr); /* to look at it */
    size_t n;
    char *text = (char *)test_read_file(path, &n);
    unlink(path);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    deja__onnx_plan_stats s;
    deja__onnx_engine_stats(e, &s);
    EXPECT_EQ(lines, s.n_steps);
    EXPECT(strstr(text, "conv") && strstr(text, " +=") && strstr(text, "clamp[0,6]"));
    EXPECT(strstr(text, "l2norm") && strstr(text, "in-place") && strstr(text, "x@input+0"));
    free(text);
    deja__onnx_engine_destroy(e);
    deja__onnx_model_destroy(m);
}

/* A graph where the shortcuts would be wrong: t is read by a Sigmoid after the Conv that could
 * accumulate into it; z's bytes are read by a Mul after a Sigmoid of a Slice view of z; a view
 * of k is read after a Relu of k; a Mul of kk by a view of kk's first channel. */
static deja__onnx_model *hazard_model(void)
{
    model m = {{0}};
    const int64_t xd[4] = {1, 2, -1, -1}, wd[4] = {2, 2, 1, 1};
    static const float wt[4] = {0.5f, -1.0f, 2.0f, 0.25f}, wc[4] = {-0.75f, 1.5f, 0.5f, 1.0f};
    graph_input(&m, "x", 4, xd);
    init_f32(&m, "wt", 4, wd, wt);
    init_f32(&m, "wc", 4, wd, wc);
    const_i64(&m, "s0", 0);
    const_i64(&m, "e0", 1);
    const_i64(&m, "ax", 1);
    node(&m, "Conv", "x,wt", "t", NULL, 0);
    node(&m, "Conv", "x,wc", "c", NULL, 0);
    node(&m, "Sigmoid", "t", "y", NULL, 0); /* t read after conv c */
    node(&m, "Add", "c,t", "a", NULL, 0);   /* so c must not accumulate into t */
    node(&m, "Relu", "a", "r", NULL, 0);
    node(&m, "Add", "r,y", "z", NULL, 0);
    node(&m, "Slice", "z,s0,e0,ax", "s", NULL, 0);
    node(&m, "Sigmoid", "s", "q", NULL, 0); /* must not overwrite z's bytes ... */
    node(&m, "Mul", "z,z", "w", NULL, 0);   /* ... which this reads afterwards */
    node(&m, "Conv", "x,wt", "k", NULL, 0);
    node(&m, "Slice", "k,s0,e0,ax", "ks", NULL, 0);
    node(&m, "Relu", "k", "kr", NULL, 0);     /* must not overwrite k: the view ks ... */
    node(&m, "Sigmoid", "ks", "kq", NULL, 0); /* ... is read afterwards */
    node(&m, "Conv", "x,wc", "kk", NULL, 0);
    node(&m, "Slice", "kk,s0,e0,ax", "kks", NULL, 0);
    node(&m, "Mul", "kk,kks", "km", NULL, 0); /* not over kk: its other operand is inside kk */
    graph_output(&m, "q");
    graph_output(&m, "w");
    graph_output(&m, "kr");
    graph_output(&m, "kq");
    graph_output(&m, "km");
    return finish(&m);
}

TEST(fusions_and_in_place_wait_for_later_readers)
{
    deja__onnx_model *m = hazard_model();
    ASSERT(m);
    const int H = 4, Wd = 6, hw = H * Wd;
    const int64_t dims[4] = {1, 2, H, Wd};
    float x[2 * 4 * 6];
    uint64_t seed = 5;
    for (int i = 0; i < 2 * hw; i++)
        x[i] = test_rndf(&seed);
    /* By hand: 1x1 convs without bias. */
    float q[4 * 6], w[2 * 4 * 6], kr[2 * 4 * 6], kq[4 * 6], km[2 * 4 * 6];
    static const float wt[4] = {0.5f, -1.0f, 2.0f, 0.25f}, wc[4] = {-0.75f, 1.5f, 0.5f, 1.0f};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < hw; i++) {
            float t = wt[2 * o] * x[i] + wt[2 * o + 1] * x[hw + i];
            float c = wc[2 * o] * x[i] + wc[2 * o + 1] * x[hw + i];
            float a = c + t, r = a > 0.0f ? a : 0.0f;
            float z = r + 1.0f / (1.0f + expf(-t));
            w[o * hw + i] = z * z;
            kr[o * hw + i] = t > 0.0f ? t : 0.0f;
            if (o == 0) q[i] = 1.0f / (1.0f + expf(-z));
            if (o == 0) kq[i] = 1.0f / (1.0f + expf(-t));
            float c0 = wc[0] * x[i] + wc[1] * x[hw + i];
            km[o * hw + i] = c * c0;
        }
    deja__onnx_engine *e;
    ASSERT_OK(deja__onnx_engine_create(NULL, m, dims, NULL, &e, NULL));
    deja__onnx_output out[5];
    ASSERT_OK(deja__onnx_engine_run(e, x, out));
    EXPECT_LE(max_rel(out[0].data, q, (size_t)hw), 1e-5);
    EXPECT_LE(max_rel(out[1].data, w, 2 * (size_t)hw), 1e-5);
    EXPECT_LE(max_rel(out[2].data, kr, 2 * (size_t)hw), 1e-5);
    EXPECT_LE(max_rel(out[3].data, kq, (size_t)hw), 1e-5);
    EXPECT_LE(max_rel(out[4].data, km, 2 * (size_t)hw), 1e-5);
    deja__onnx_plan_stats s;
    deja__onnx_engine_stats(e, &s);
    EXPECT_EQ(s.n_fused_add, 0); /* refused: y reads t after conv c */
    EXPECT_EQ(s.n_fused_act, 1); /* the Relu into the Add's binary step */
    EXPECT_EQ(s.n_views, 3);
    /* Sigmoid over t: refused (Add reads t); Add a over c, Add z over r: yes; Sigmoid over s:
     * refused (Mul reads z); Mul over z: yes; Relu over k: refused (Sigmoid reads the view ks);
     * Sigmoid kq over ks: yes (nothing reads k's first channel later); Mul km over kk: refused
     * (its other operand, the view kks, lies inside kk). */
    EXPECT_EQ(s.n_inplace, 4);
    deja__onnx_engine_destroy(e);
    deja__onnx_model_destroy(m);
}

/* ---- the shared models ------------------------------------------------------------------- */

typedef struct shared_model {
    const char *dir;
    deja__onnx_model *m;
} shared_model;

static deja__onnx_model *load_shared(const char *name, char *dir, size_t size)
{
    const char *shared = test_shared_dir();
    if (!shared) return NULL;
    snprintf(dir, size, "%s/models/%s", shared, name);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    deja__onnx_model *m = NULL;
    char err[DEJA_ERROR_BYTES];
    if (deja__onnx_model_load(NULL, path, &m, err) != DEJA_OK) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    return m;
}

/* A .npy of dir as float32 (NULL data on failure). */
static deja__npy npy(const char *dir, const char *file)
{
    char path[1200], err[DEJA_ERROR_BYTES];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    deja__npy a;
    if (deja__npy_load(NULL, path, 0, &a, err) != DEJA_OK) {
        fprintf(stderr, "  %s\n", err);
        memset(&a, 0, sizeof a);
    }
    return a;
}

/* Runs a fresh engine (simd, threads, flags) on input of dims; copies output i into *out. */
static deja_status run_once(const deja__onnx_model *m, deja_simd simd, int threads, unsigned flags,
                            const int64_t *dims, const float *input, float **out, size_t *counts)
{
    deja_options o = deja_options_default();
    o.simd = simd;
    deja__onnx_engine_params par = {threads, NULL, flags};
    deja__onnx_engine *e;
    deja_status st = deja__onnx_engine_create(&o, m, dims, &par, &e, NULL);
    if (st != DEJA_OK) return st;
    deja__onnx_output o2[2];
    st = deja__onnx_engine_run(e, input, o2);
    for (uint32_t i = 0; st == DEJA_OK && i < deja__onnx_engine_n_outputs(e); i++) {
        out[i] = fmalloc(o2[i].count);
        memcpy(out[i], o2[i].data, o2[i].count * sizeof(float));
        counts[i] = o2[i].count;
    }
    deja__onnx_engine_destroy(e);
    return st;
}

static const char *const alikes[2] = {"alike-t", "alike-n"};

TEST(shared_alike_32x64_matches_the_test_vectors_on_both_kernel_sets_and_plans)
{
    for (int k = 0; k < 2; k++) {
        char dir[1100];
        deja__onnx_model *m = load_shared(alikes[k], dir, sizeof dir);
        if (!m) SKIP("../shared/models not found");
        deja__npy in = npy(dir, "test_input_1x3x32x64.npy");
        deja__npy es = npy(dir, "expected_scores_map_1x1x32x64.npy");
        deja__npy ed = npy(dir, "expected_descriptor_map_1xDx32x64.npy");
        ASSERT(in.data && es.data && ed.data);
        const int64_t dims[4] = {1, 3, 32, 64};
        const deja_simd sets[2] = {DEJA_SIMD_SCALAR, DEJA_SIMD_AUTO};
        for (int s = 0; s < 2; s++)
            for (int pl = 0; pl < 2; pl++) {
                float *out[2] = {NULL, NULL};
                size_t n[2];
                unsigned fl = pl ? DEJA__ENGINE_PLAIN : 0;
                ASSERT_OK(run_once(m, sets[s], 2, fl, dims, deja__npy_f32(&in), out, n));
                EXPECT_EQ(n[0], es.count);
                EXPECT_EQ(n[1], ed.count);
                double e0 = max_abs(out[0], deja__npy_f32(&es), es.count);
                double e1 = max_abs(out[1], deja__npy_f32(&ed), ed.count);
                if (!(e0 <= 1e-4 && e1 <= 1e-4))
                    TEST_FAIL_AT("%s %s flags %u: scores %g, descriptors %g", alikes[k],
                                 deja_simd_name(sets[s]), fl, e0, e1);
                free(out[0]);
                free(out[1]);
            }
        deja__npy_free(&in);
        deja__npy_free(&es);
        deja__npy_free(&ed);
        deja__onnx_model_destroy(m);
    }
}

/* The 240x320 test image as the README prepares it: /255, CHW, zero rows to 256. */
static float *alike_image(const char *dir)
{
    deja__npy im = npy(dir, "test_image_240x320_rgb_u8.npy");
    if (!im.data || im.dtype != DEJA__NPY_U8 || im.count != 240 * 320 * 3) {
        deja__npy_free(&im);
        return NULL;
    }
    float *x = fmalloc(3 * 256 * 320);
    const uint8_t *px = im.data;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 240; y++)
            for (int xx = 0; xx < 320; xx++)
                x[((size_t)c * 256 + (size_t)y) * 320 + (size_t)xx] =
                    (float)px[((size_t)y * 320 + (size_t)xx) * 3 + (size_t)c] / 255.0f;
    deja__npy_free(&im);
    return x;
}

TEST(shared_alike_240x320_image_scores_match_and_threads_agree_bit_for_bit)
{
    for (int k = 0; k < 2; k++) {
        char dir[1100];
        deja__onnx_model *m = load_shared(alikes[k], dir, sizeof dir);
        if (!m) SKIP("../shared/models not found");
        float *x = alike_image(dir);
        deja__npy es = npy(dir, "expected_scores_map_1x1x240x320.npy");
        ASSERT(x && es.data);
        const int64_t dims[4] = {1, 3, 256, 320};
        const deja_simd sets[2] = {DEJA_SIMD_AUTO, DEJA_SIMD_SCALAR};
        for (int s = 0; s < 2; s++) {
            float *out[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
            size_t n[2];
            const unsigned fl[3] = {0, DEJA__ENGINE_SPLIT_ALL, DEJA__ENGINE_TEAM_ALL};
            for (int t = 0; t < 3; t++)
                ASSERT_OK(run_once(m, sets[s], t ? 2 : 1, fl[t], dims, x, out[t], n));
            /* Cropped to the image's 240 rows. */
            double e0 = max_abs(out[0][0], deja__npy_f32(&es), 240 * 320);
            if (!(e0 <= 1e-4))
                TEST_FAIL_AT("%s %s: scores max error %g", alikes[k], deja_simd_name(sets[s]), e0);
            for (int t = 1; t < 3; t++) {
                EXPECT(memcmp(out[0][0], out[t][0], n[0] * sizeof(float)) == 0);
                EXPECT(memcmp(out[0][1], out[t][1], n[1] * sizeof(float)) == 0);
            }
            for (int t = 0; t < 3; t++)
                free(out[t][0]), free(out[t][1]);
        }
        free(x);
        deja__npy_free(&es);
        deja__onnx_model_destroy(m);
    }
}

TEST(shared_mobilenet_descriptors_match_at_both_sizes)
{
    char dir[1100];
    deja__onnx_model *m = load_shared("mobilenetv1-0.25-gem", dir, sizeof dir);
    if (!m) SKIP("../shared/models not found");
    const char *ins[2] = {"test_input_1x3x224x320.npy", "test_input_1x3x64x96.npy"};
    const char *exs[2] = {"expected_descriptor_1x256.npy",
                          "expected_descriptor_1x256_from_64x96.npy"};
    const int64_t dims[2][4] = {{1, 3, 224, 320}, {1, 3, 64, 96}};
    for (int k = 0; k < 2; k++) {
        deja__npy in = npy(dir, ins[k]), ex = npy(dir, exs[k]);
        ASSERT(in.data && ex.data);
        const deja_simd sets[2] = {DEJA_SIMD_AUTO, DEJA_SIMD_SCALAR};
        float *first = NULL;
        for (int s = 0; s < 2; s++)
            for (int t = 1; t <= 2; t++)
                for (int pl = 0; pl < 3; pl++) {
                    float *out[1] = {NULL};
                    size_t n[1];
                    const unsigned fls[3] = {DEJA__ENGINE_SPLIT_ALL, DEJA__ENGINE_PLAIN,
                                             DEJA__ENGINE_TEAM_ALL};
                    unsigned fl = fls[pl];
                    ASSERT_OK(run_once(m, sets[s], t, fl, dims[k], deja__npy_f32(&in), out, n));
                    ASSERT_EQ(n[0], 256);
                    double e = max_abs(out[0], deja__npy_f32(&ex), 256);
                    if (!(e <= 1e-5))
                        TEST_FAIL_AT("%s %s %d threads flags %u: max error %g", ins[k],
                                     deja_simd_name(sets[s]), t, fl, e);
                    if (pl == 0 && t == 1) {
                        free(first);
                        first = out[0];
                    } else {
                        if (pl != 1) EXPECT(memcmp(first, out[0], 256 * sizeof(float)) == 0);
                        free(out[0]);
                    }
                }
        free(first);
        deja__npy_free(&in);
        deja__npy_free(&ex);
    }
    deja__onnx_model_destroy(m);
}

TEST(shared_models_run_without_allocating_and_reshape_back_and_forth)
{
    const char *names[3] = {"alike-t", "alike-n", "mobilenetv1-0.25-gem"};
    for (int k = 0; k < 3; k++) {
        char dir[1100];
        deja__onnx_model *m = load_shared(names[k], dir, sizeof dir);
        if (!m) SKIP("../shared/models not found");
        bool mob = k == 2;
        deja__npy in = npy(dir, mob ? "test_input_1x3x64x96.npy" : "test_input_1x3x32x64.npy");
        deja__npy ex = npy(dir, mob ? "expected_descriptor_1x256_from_64x96.npy"
                                    : "expected_scores_map_1x1x32x64.npy");
        ASSERT(in.data && ex.data);
        const int64_t small[4] = {1, 3, mob ? 64 : 32, mob ? 96 : 64}, big[4] = {1, 3, 256, 320};
        test_counter c = {0};
        deja_options o = test_counting_options(&c);
        deja__onnx_engine_params par = {2, NULL, 0};
        deja__onnx_engine *e;
        ASSERT_OK(deja__onnx_engine_create(&o, m, small, &par, &e, NULL));
        deja__onnx_output out[2];
        size_t before = c.calls;
        for (int i = 0; i < 10; i++)
            ASSERT_OK(deja__onnx_engine_run(e, deja__npy_f32(&in), out));
        EXPECT_EQ(c.calls, before);
        EXPECT_LE(max_abs(out[0].data, deja__npy_f32(&ex), ex.count), mob ? 1e-5 : 1e-4);
        ASSERT_OK(deja__onnx_engine_reshape(e, big));
        float *zeros = fmalloc(3 * 256 * 320);
        ASSERT_OK(deja__onnx_engine_run(e, zeros, out));
        EXPECT_EQ(out[0].count, mob ? 256 : 256 * 320);
        free(zeros);
        ASSERT_OK(deja__onnx_engine_reshape(e, small));
        before = c.calls;
        ASSERT_OK(deja__onnx_engine_run(e, deja__npy_f32(&in), out));
        EXPECT_EQ(c.calls, before);
        EXPECT_LE(max_abs(out[0].data, deja__npy_f32(&ex), ex.count), mob ? 1e-5 : 1e-4);
        deja__onnx_plan_stats s;
        deja__onnx_engine_stats(e, &s);
        EXPECT(s.arena_bytes < s.tensor_bytes / 2);
        EXPECT_EQ(s.n_fused_l2, 1);
        EXPECT_EQ(s.n_fused_add, mob ? 0 : 3);
        EXPECT_EQ(s.n_fused_act, mob ? 28 : 12);
        deja__onnx_engine_destroy(e);
        EXPECT_EQ(c.live, 0);
        deja__npy_free(&in);
        deja__npy_free(&ex);
        deja__onnx_model_destroy(m);
    }
}
