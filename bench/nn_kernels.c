/* nn_kernels.c - speed of the nn kernels (src/onnx/ops.h): GEMM GFLOP/s at the shapes of the
 * ALIKE / MobileNet convs (scalar vs AVX2/NEON, 1 and 2 threads, and OpenBLAS's cblas_sgemm
 * when the bench was built with it), then the whole ALIKE-t and MobileNetV1-0.25+GeM layer
 * stacks assembled from the kernels alone (random weights), per layer and in total.
 *
 * Usage: nn_kernels [repeats]   (default 11; every figure is the median of the repeats).
 * The machine is shared and noisy: medians, and both sides of a comparison in the same run. */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(DEJA_HAVE_OPENBLAS)
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
#endif

static uint64_t seed = 0x9E3779B97F4A7C15ull;

static float *rand_buf(size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = scale * ((float)(deja__splitmix64(&seed) >> 40) / (float)(1 << 24) - 0.5f);
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- GEMM ---------------------------------------------------------------------------------- */

typedef struct gemm_size {
    size_t M, N, K;
    const char *what;
} gemm_size;

static const gemm_size gemm_sizes[] = {
    {64, 76800, 288, "3x3 conv 32->64 at 320x240 (ALIKE-n block1-like)"},
    {16, 76800, 64, "1x1 conv 64->16 at 320x240"},
    {16, 76800, 72, "3x3 conv 8->16 at 320x240"},
    {65, 81920, 64, "1x1 head 64->65 at 320x256 (ALIKE-t)"},
    {8, 76800, 27, "3x3 conv 3->8 at 320x240 (first layer)"},
    {128, 1120, 128, "1x1 128->128 at 28x40 (MobileNet pw)"},
    {256, 70, 256, "1x1 256->256 at 7x10 (MobileNet last pw)"},
};

/* GFLOP/s of the median run; *best gets the fastest run's. */
static double time_gemm(const deja__nn *nn, const gemm_size *g, int reps, const float *A,
                        const float *B, float *C, void *scratch, double *best)
{
    double *t = malloc((size_t)reps * sizeof(double));
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        uint64_t t0 = deja__now_ns();
        deja__nn_gemm(nn, g->M, g->N, g->K, A, g->K, B, g->N, C, g->N, NULL, scratch);
        if (r >= 0) t[r] = (double)(deja__now_ns() - t0);
    }
    double flop = 2.0 * (double)g->M * (double)g->N * (double)g->K, gf = flop / median(t, reps);
    *best = flop / t[0]; /* sorted by median() */
    free(t);
    return gf;
}

#if defined(DEJA_HAVE_OPENBLAS)
static double time_openblas(const gemm_size *g, int threads, int reps, const float *A,
                            const float *B, float *C, double *best)
{
    openblas_set_num_threads(threads);
    double *t = malloc((size_t)reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        uint64_t t0 = deja__now_ns();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->M, (int)g->N, (int)g->K,
                    1.0f, A, (int)g->K, B, (int)g->N, 0.0f, C, (int)g->N);
        if (r >= 0) t[r] = (double)(deja__now_ns() - t0);
    }
    double flop = 2.0 * (double)g->M * (double)g->N * (double)g->K, gf = flop / median(t, reps);
    *best = flop / t[0];
    free(t);
    return gf;
}
#endif

static void bench_gemm(deja__nn sets[][2], int n_sets, int reps)
{
    printf("\n### GEMM, GFLOP/s: median / best of %d (scalar: of %d); C = A*B, row-major, "
           "no post-op\n\n",
           reps, (reps + 1) / 2);
    printf("| M x N x K | shape | ");
    for (int s = 0; s < n_sets; s++)
        printf("deja %s 1 thr | deja %s 2 thr | ", deja_simd_name(sets[s][0].kind),
               deja_simd_name(sets[s][0].kind));
#if defined(DEJA_HAVE_OPENBLAS)
    printf("OpenBLAS 1 thr | OpenBLAS 2 thr | best deja / best OpenBLAS |");
#endif
    printf("\n|---|---|");
    for (int s = 0; s < n_sets; s++)
        printf("---|---|");
#if defined(DEJA_HAVE_OPENBLAS)
    printf("---|---|---|");
#endif
    printf("\n");
    for (size_t i = 0; i < sizeof gemm_sizes / sizeof gemm_sizes[0]; i++) {
        const gemm_size *g = &gemm_sizes[i];
        float *A = rand_buf(g->M * g->K, 1), *B = rand_buf(g->K * g->N, 1);
        float *C = rand_buf(g->M * g->N, 1);
        size_t bytes = deja__nn_gemm_scratch_bytes(&sets[n_sets - 1][1], g->M, g->N, g->K);
        for (int s = 0; s < n_sets; s++) {
            size_t b = deja__nn_gemm_scratch_bytes(&sets[s][1], g->M, g->N, g->K);
            if (b > bytes) bytes = b;
        }
        void *scratch = malloc(bytes);
        printf("| %zu x %zu x %zu | %s | ", g->M, g->N, g->K, g->what);
        fflush(stdout);
        double best = 0;
        for (int s = 0; s < n_sets; s++)
            for (int t = 0; t < 2; t++) {
                /* The scalar set is slow: fewer repeats keep the run short. */
                int r = sets[s][t].kind == DEJA_SIMD_SCALAR ? (reps + 1) / 2 : reps;
                double top, gf = time_gemm(&sets[s][t], g, r, A, B, C, scratch, &top);
                if (gf > best) best = gf;
                printf("%.1f / %.1f | ", gf, top);
                fflush(stdout);
            }
#if defined(DEJA_HAVE_OPENBLAS)
        double t1, t2, o1 = time_openblas(g, 1, reps, A, B, C, &t1);
        double o2 = time_openblas(g, 2, reps, A, B, C, &t2), ob = o1 > o2 ? o1 : o2;
        /* OpenBLAS's workers spin for a while after a call: let them go to sleep before the
         * next size's deja runs, or those run against a busy second core. */
        openblas_set_num_threads(1);
        usleep(300000);
        printf("%.1f / %.1f | %.1f / %.1f | %.2f |", o1, t1, o2, t2, best / ob);
#endif
        printf("\n");
        free(A);
        free(B);
        free(C);
        free(scratch);
    }
}

/* ---- layer stacks ------------------------------------------------------------------------- */

enum { L_CONV, L_MAXPOOL, L_RESIZE, L_SIGMOID, L_L2NORM, L_BINARY, L_UNARY, L_GAP };

typedef struct layer {
    int kind;
    char name[48];
    deja__nn_conv_shape conv;
    deja__nn_post post;
    const float *in;
    float *out;
    float *w, *bias;
    size_t c, h, w_, h_out, w_out, k; /* pool / resize / elementwise dims */
    deja__nn_binop bop;
    deja__nn_unop uop;
    float arg0;
} layer;

#define MAX_LAYERS 64

typedef struct stack {
    layer l[MAX_LAYERS];
    int n;
    float *bufs[MAX_LAYERS * 2];
    int n_bufs;
} stack;

static float *stack_buf(stack *s, size_t n)
{
    float *p = rand_buf(n, 1);
    s->bufs[s->n_bufs++] = p;
    return p;
}

static layer *add(stack *s, int kind, const char *name)
{
    layer *l = &s->l[s->n++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    return l;
}

/* A conv layer from in (c_in x h x w) to a new or given output. */
static float *conv(stack *s, const char *name, const float *in, int c_in, int h, int w, int c_out,
                   int k, int stride, int pt, int pl, int pb, int pr, int groups, int bias,
                   float clip_hi, int accumulate, float *out)
{
    layer *l = add(s, L_CONV, name);
    deja__nn_conv_shape cs = {c_in, h, w, c_out, k, k, stride, stride, pt, pl, pb, pr, groups};
    char err[DEJA_ERROR_BYTES];
    if (deja__nn_conv_check(&cs, err) != DEJA_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    l->conv = cs;
    l->in = in;
    size_t n_out =
        (size_t)c_out * (size_t)deja__nn_conv_h_out(&cs) * (size_t)deja__nn_conv_w_out(&cs);
    l->out = out ? out : stack_buf(s, n_out);
    l->w = stack_buf(s, (size_t)c_out * (size_t)(c_in / groups) * (size_t)(k * k));
    /* Keep activations O(1) through the stack: weights ~ 1/sqrt(fan-in). */
    float sc = 2.0f / sqrtf((float)((c_in / groups) * k * k));
    for (size_t i = 0; i < (size_t)c_out * (size_t)(c_in / groups) * (size_t)(k * k); i++)
        l->w[i] *= sc;
    l->bias = bias ? stack_buf(s, (size_t)c_out) : NULL;
    l->post = (deja__nn_post){l->bias, 0.0f, clip_hi, clip_hi > 0, accumulate != 0};
    return l->out;
}

static float *maxpool(stack *s, const char *name, const float *in, size_t c, size_t h, size_t w,
                      size_t k)
{
    layer *l = add(s, L_MAXPOOL, name);
    l->in = in;
    l->c = c;
    l->h = h;
    l->w_ = w;
    l->k = k;
    l->out = stack_buf(s, c * (h / k) * (w / k));
    return l->out;
}

static void resize(stack *s, const char *name, const float *in, size_t c, size_t h, size_t w,
                   size_t scale, float *out)
{
    layer *l = add(s, L_RESIZE, name);
    l->in = in;
    l->c = c;
    l->h = h;
    l->w_ = w;
    l->h_out = h * scale;
    l->w_out = w * scale;
    l->out = out;
}

static size_t stack_scratch(const deja__nn *nn, const stack *s)
{
    size_t m = 0;
    for (int i = 0; i < s->n; i++) {
        size_t b = 0;
        if (s->l[i].kind == L_CONV) b = deja__nn_conv_scratch_bytes(nn, &s->l[i].conv);
        if (s->l[i].kind == L_RESIZE) b = deja__nn_resize_scratch_bytes(nn, s->l[i].w_out);
        if (b > m) m = b;
    }
    return m;
}

static void run_layer(const deja__nn *nn, layer *l, void *scratch)
{
    switch (l->kind) {
    case L_CONV:
        deja__nn_conv(nn, &l->conv, l->in, l->w, &l->post, l->out, scratch);
        break;
    case L_MAXPOOL:
        deja__nn_maxpool(nn, l->c, l->h, l->w_, l->k, l->k, l->k, l->k, l->in, l->out);
        break;
    case L_RESIZE:
        deja__nn_resize_bilinear_ac(nn, l->c, l->h, l->w_, l->h_out, l->w_out, l->in, l->out,
                                    scratch);
        break;
    case L_SIGMOID:
        deja__nn_unary(nn, DEJA__NN_SIGMOID, 0, 0, l->c, l->in, l->out);
        break;
    case L_UNARY:
        deja__nn_unary(nn, l->uop, l->arg0, INFINITY, l->c, l->in, l->out);
        break;
    case L_L2NORM:
        deja__nn_l2_normalize_channels(nn, l->c, l->h, 1e-12f, l->in, l->out);
        break;
    case L_GAP:
        deja__nn_global_avgpool(nn, l->c, l->h, l->in, l->out);
        break;
    case L_BINARY:
        deja__nn_binary(nn, l->bop, l->c, l->h, (deja__nn_operand){l->in, l->h, 1},
                        (deja__nn_operand){&l->arg0, 0, 0}, l->out, NULL);
        break;
    }
}

static double conv_mflop(const layer *l)
{
    if (l->kind != L_CONV) return 0;
    const deja__nn_conv_shape *c = &l->conv;
    return 2.0 * c->c_out * (double)deja__nn_conv_h_out(c) * deja__nn_conv_w_out(c) *
           (c->c_in / c->groups) * c->k_h * c->k_w / 1e6;
}

static const char *path_name(const layer *l)
{
    if (l->kind != L_CONV) return "";
    switch (deja__nn_conv_path_of(&l->conv)) {
    case DEJA__NN_CONV_1X1:
        return "1x1 GEMM";
    case DEJA__NN_CONV_IM2COL:
        return "im2col GEMM";
    case DEJA__NN_CONV_DEPTHWISE3:
        return "depthwise";
    }
    return "";
}

/* Time the stack on each configuration: per layer and total, medians of reps. */
static void bench_stack(const char *title, stack *s, deja__nn *cfg, const char **cfg_names,
                        int n_cfg, int reps)
{
    double *per = calloc((size_t)(n_cfg * s->n * reps), sizeof(double));
    double *tot = calloc((size_t)(n_cfg * reps), sizeof(double));
    for (int c = 0; c < n_cfg; c++) {
        void *scratch = malloc(stack_scratch(&cfg[c], s));
        int r_n = cfg[c].kind == DEJA_SIMD_SCALAR ? (reps + 1) / 2 : reps;
        for (int r = -1; r < r_n; r++) {
            uint64_t t_start = deja__now_ns();
            for (int i = 0; i < s->n; i++) {
                uint64_t t0 = deja__now_ns();
                run_layer(&cfg[c], &s->l[i], scratch);
                if (r >= 0) per[(c * s->n + i) * reps + r] = (double)(deja__now_ns() - t0) / 1e6;
            }
            if (r >= 0) tot[c * reps + r] = (double)(deja__now_ns() - t_start) / 1e6;
        }
        free(scratch);
    }
    printf("\n### %s: ms per layer, median of %d runs (scalar: %d)\n\n", title, reps,
           (reps + 1) / 2);
    printf("| layer | path | MFLOP |");
    for (int c = 0; c < n_cfg; c++)
        printf(" %s |", cfg_names[c]);
    printf("\n|---|---|---|");
    for (int c = 0; c < n_cfg; c++)
        printf("---|");
    printf("\n");
    double flop = 0;
    for (int i = 0; i < s->n; i++) {
        flop += conv_mflop(&s->l[i]);
        printf("| %s | %s | %.1f |", s->l[i].name, path_name(&s->l[i]), conv_mflop(&s->l[i]));
        for (int c = 0; c < n_cfg; c++) {
            int r_n = cfg[c].kind == DEJA_SIMD_SCALAR ? (reps + 1) / 2 : reps;
            printf(" %.3f |", median(per + (c * s->n + i) * reps, r_n));
        }
        printf("\n");
    }
    printf("| **total**, median / best run | | %.0f |", flop);
    for (int c = 0; c < n_cfg; c++) {
        int r_n = cfg[c].kind == DEJA_SIMD_SCALAR ? (reps + 1) / 2 : reps;
        double m = median(tot + c * reps, r_n);
        printf(" **%.2f** / %.2f |", m, tot[c * reps]);
    }
    printf("\n");
    free(per);
    free(tot);
}

static void stack_free(stack *s)
{
    for (int i = 0; i < s->n_bufs; i++)
        free(s->bufs[i]);
}

/* ALIKE-t (ALNet c1=8 c2=16 c3=32 c4=64 dim=64) on a 320x240 frame padded to 320x256. */
static void build_alike_t(stack *s)
{
    const int H = 256, W = 320;
    const float R = INFINITY; /* ReLU */
    float *x = stack_buf(s, (size_t)3 * H * W);
    float *x1 = conv(s, "block1 conv1 3->8", x, 3, H, W, 8, 3, 1, 1, 1, 1, 1, 1, 1, R, 0, NULL);
    x1 = conv(s, "block1 conv2 8->8", x1, 8, H, W, 8, 3, 1, 1, 1, 1, 1, 1, 1, R, 0, NULL);
    float *p = maxpool(s, "maxpool 2", x1, 8, H, W, 2);
    /* ResBlock: shortcut 1x1 first, then conv1 + ReLU, conv2 accumulates onto it + ReLU. */
    int c_in = 8, h = H / 2, w = W / 2;
    float *xs[3];
    static const int cs[3] = {16, 32, 64};
    for (int b = 0; b < 3; b++) {
        char n1[48], n2[48], n3[48];
        snprintf(n1, sizeof n1, "block%d shortcut 1x1 %d->%d", b + 2, c_in, cs[b]);
        snprintf(n2, sizeof n2, "block%d conv1 %d->%d", b + 2, c_in, cs[b]);
        snprintf(n3, sizeof n3, "block%d conv2 %d->%d (+res)", b + 2, cs[b], cs[b]);
        float *r = conv(s, n1, p, c_in, h, w, cs[b], 1, 1, 0, 0, 0, 0, 1, 1, -1, 0, NULL);
        float *t = conv(s, n2, p, c_in, h, w, cs[b], 3, 1, 1, 1, 1, 1, 1, 1, R, 0, NULL);
        xs[b] = conv(s, n3, t, cs[b], h, w, cs[b], 3, 1, 1, 1, 1, 1, 1, 1, R, 1, r);
        c_in = cs[b];
        if (b < 2) {
            p = maxpool(s, b == 0 ? "maxpool 4 (a)" : "maxpool 4 (b)", xs[b], (size_t)c_in,
                        (size_t)h, (size_t)w, 4);
            h /= 4;
            w /= 4;
        }
    }
    /* Reductions to 16 channels, upsampled straight into the concat's slices. */
    size_t plane = (size_t)H * W;
    float *cat = stack_buf(s, 64 * plane);
    conv(s, "reduce x1 1x1 8->16", x1, 8, H, W, 16, 1, 1, 0, 0, 0, 0, 1, 0, R, 0, cat);
    float *r2 = conv(s, "reduce x2 1x1 16->16", xs[0], 16, H / 2, W / 2, 16, 1, 1, 0, 0, 0, 0, 1, 0,
                     R, 0, NULL);
    float *r3 = conv(s, "reduce x3 1x1 32->16", xs[1], 32, H / 8, W / 8, 16, 1, 1, 0, 0, 0, 0, 1, 0,
                     R, 0, NULL);
    float *r4 = conv(s, "reduce x4 1x1 64->16", xs[2], 64, H / 32, W / 32, 16, 1, 1, 0, 0, 0, 0, 1,
                     0, R, 0, NULL);
    resize(s, "resize x2 -> slice 1", r2, 16, (size_t)H / 2, (size_t)W / 2, 2, cat + 16 * plane);
    resize(s, "resize x8 -> slice 2", r3, 16, (size_t)H / 8, (size_t)W / 8, 8, cat + 32 * plane);
    resize(s, "resize x32 -> slice 3", r4, 16, (size_t)H / 32, (size_t)W / 32, 32,
           cat + 48 * plane);
    float *head =
        conv(s, "head 1x1 64->65", cat, 64, H, W, 65, 1, 1, 0, 0, 0, 0, 1, 0, -1, 0, NULL);
    layer *l = add(s, L_SIGMOID, "sigmoid (score channel)");
    l->c = plane;
    l->in = head + 64 * plane;
    l->out = stack_buf(s, plane);
    l = add(s, L_L2NORM, "L2 normalise 64 ch (in place)");
    l->c = 64;
    l->h = plane;
    l->in = head;
    l->out = head;
}

/* MobileNetV1 alpha 0.25 at 224x320, then GeM (p = 3) and L2 normalisation. */
static void build_mobilenet(stack *s)
{
    const int H = 224, W = 320;
    float *x = stack_buf(s, (size_t)3 * H * W);
    layer *l = add(s, L_BINARY, "x * 2");
    l->bop = DEJA__NN_MUL;
    l->arg0 = 2;
    l->c = 3;
    l->h = (size_t)H * W;
    l->in = x;
    l->out = stack_buf(s, (size_t)3 * H * W);
    float *x2 = l->out;
    l = add(s, L_BINARY, "- 1");
    l->bop = DEJA__NN_SUB;
    l->arg0 = 1;
    l->c = 3;
    l->h = (size_t)H * W;
    l->in = x2;
    l->out = x2;
    float *y = conv(s, "conv1 3x3/2 3->8", x2, 3, H, W, 8, 3, 2, 0, 0, 1, 1, 1, 1, 6, 0, NULL);
    int h = H / 2, w = W / 2, c = 8;
    static const int outs[13] = {16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256};
    static const int strides[13] = {1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
    for (int b = 0; b < 13; b++) {
        char n1[48], n2[48];
        int st = strides[b];
        snprintf(n1, sizeof n1, "dw%d 3x3/%d %d ch at %dx%d", b + 1, st, c, w, h);
        snprintf(n2, sizeof n2, "pw%d 1x1 %d->%d", b + 1, c, outs[b]);
        if (st == 2)
            y = conv(s, n1, y, c, h, w, c, 3, 2, 0, 0, 1, 1, c, 1, 6, 0, NULL);
        else
            y = conv(s, n1, y, c, h, w, c, 3, 1, 1, 1, 1, 1, c, 1, 6, 0, NULL);
        h /= st;
        w /= st;
        y = conv(s, n2, y, c, h, w, outs[b], 1, 1, 0, 0, 0, 0, 1, 1, 6, 0, NULL);
        c = outs[b];
    }
    size_t hw = (size_t)h * w;
    l = add(s, L_UNARY, "GeM clip 1e-6");
    l->uop = DEJA__NN_CLIP;
    l->arg0 = 1e-6f;
    l->c = (size_t)c * hw;
    l->in = y;
    l->out = y;
    l = add(s, L_UNARY, "GeM pow 3");
    l->uop = DEJA__NN_POW;
    l->arg0 = 3;
    l->c = (size_t)c * hw;
    l->in = y;
    l->out = y;
    l = add(s, L_GAP, "GlobalAveragePool");
    l->c = (size_t)c;
    l->h = hw;
    l->in = y;
    l->out = stack_buf(s, (size_t)c);
    float *g = l->out;
    l = add(s, L_UNARY, "GeM pow 1/3");
    l->uop = DEJA__NN_POW;
    l->arg0 = 0.33333334f;
    l->c = (size_t)c;
    l->in = g;
    l->out = g;
    l = add(s, L_L2NORM, "L2 normalise 256");
    l->c = (size_t)c;
    l->h = 1;
    l->in = g;
    l->out = g;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 11;
    if (reps < 1) reps = 1;
    deja_allocator a = deja__allocator(NULL);
    deja__pool *pool2 = NULL;
    if (deja__pool_create(&a, 2, &pool2) != DEJA_OK) return 1;
    deja__nn sets[2][2];
    int n_sets = 0;
    if (deja__nn_init(&sets[0][0], DEJA_SIMD_SCALAR, NULL) != DEJA_OK ||
        deja__nn_init(&sets[0][1], DEJA_SIMD_SCALAR, pool2) != DEJA_OK)
        return 1;
    n_sets = 1;
    deja__nn best;
    if (deja__nn_init(&best, DEJA_SIMD_AUTO, NULL) == DEJA_OK && best.kind != DEJA_SIMD_SCALAR) {
        sets[1][0] = best;
        if (deja__nn_init(&sets[1][1], DEJA_SIMD_AUTO, pool2) != DEJA_OK) return 1;
        n_sets = 2;
    }
    printf("nn_kernels: %d repeats; kernels: %s (micro-tile %dx%d); pool threads %d; "
           "compiler %s\n",
           reps, deja_simd_name(sets[n_sets - 1][0].kind), sets[n_sets - 1][0].mr,
           sets[n_sets - 1][0].nr, deja__pool_threads(pool2), __VERSION__);
    FILE *la = fopen("/proc/loadavg", "r");
    char load[64] = "?";
    if (la) {
        if (!fgets(load, sizeof load, la)) snprintf(load, sizeof load, "?\n");
        fclose(la);
        printf("load average at start: %s", load);
    }
#if defined(DEJA_HAVE_OPENBLAS)
    printf("OpenBLAS: %s\n", openblas_get_config());
#else
    printf("OpenBLAS: not built in (install libopenblas-dev and reconfigure)\n");
#endif
    bench_gemm(sets, n_sets, reps);

    deja__nn cfg[4];
    const char *names[4];
    int n_cfg = 0;
    for (int s = n_sets - 1; s >= 0; s--)
        for (int t = 0; t < 2; t++) {
            cfg[n_cfg] = sets[s][t];
            names[n_cfg++] =
                s == 0 ? (t ? "scalar 2 thr" : "scalar 1 thr") : (t ? "best 2 thr" : "best 1 thr");
        }
    static stack st; /* large: static */
    memset(&st, 0, sizeof st);
    build_alike_t(&st);
    bench_stack("ALIKE-t at 320x256 (a 320x240 frame padded to /32)", &st, cfg, names, n_cfg, reps);
    stack_free(&st);
    memset(&st, 0, sizeof st);
    build_mobilenet(&st);
    bench_stack("MobileNetV1-0.25 + GeM at 320x224", &st, cfg, names, n_cfg, reps);
    stack_free(&st);
    deja__pool_destroy(pool2);
    return 0;
}
