/* engine_team.c - small steps split among the pool's workers inside one hand-off.
 *
 * Why: a kernel splits a call over the pool only when the call is long (ops.h: 150 us, because
 * waking the pool's sleeping worker costs 3-55 us). MobileNet at 320x224 is 33 steps of 20-300
 * us, so all of it ran on one core. Here a stretch of consecutive small steps runs inside one
 * deja__pool_for: each worker computes its part of every step (whole output channels, planes,
 * groups or element ranges, each through the same single-thread kernel) and the workers meet at
 * a spinning barrier between steps. One wake-up per stretch instead of one per layer.
 *
 * Which steps: those whose parts do no work twice (1x1 Conv split by pixel columns as the GEMM
 * splits itself, depthwise / grouped Conv by groups, pools, resize and elementwise ops by planes
 * or ranges) at any size, and any step the kernels would not split anyway (an im2col Conv is
 * split by output channels, each worker packing the whole image: fine only when short).
 *
 * Every output element is computed by the same instructions in the same order as on one thread:
 * GEMM splits fall on micro-tile boundaries (rows of mr, columns of nr) or whole groups, so
 * tiles and the k order are unchanged; elementwise ranges are element-exact. 1 and 2 threads
 * stay bit-identical (tested). */
#include "engine_impl.h"

#include <sched.h>
#include <stdatomic.h>

#define SPINS_BEFORE_YIELD 2000

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- which steps ---------------------------------------------------------------------- */

/* Estimated single-thread time of a step (ns), as the kernels estimate it for their split. */
static double work_ns(const deja__nn *nn, const deja__eng_step *s)
{
    switch (s->kind) {
    case DEJA__ENG_CONV: {
        const deja__nn_conv_shape *c = &s->u.conv.s;
        double n = (double)deja__nn_conv_h_out(c) * (double)deja__nn_conv_w_out(c);
        double b = (double)s->u.conv.batch;
        if (deja__nn_conv_path_of(c) == DEJA__NN_CONV_DEPTHWISE3)
            return b * (double)c->c_out * n * (nn->kind == DEJA_SIMD_SCALAR ? 2.0 : 0.5);
        double k = (double)(c->c_in / c->groups) * c->k_h * c->k_w;
        double flop_ns = nn->kind == DEJA_SIMD_AVX2 ? 90.0 : 20.0;
        return b * (2.0 * (double)c->c_out * n * k / flop_ns + 0.5 * k * n * c->groups);
    }
    case DEJA__ENG_MAXPOOL:
        return (double)(s->u.pool.c * s->u.pool.h * s->u.pool.w) * 0.2;
    case DEJA__ENG_GAP:
        return (double)(s->u.gap.c * s->u.gap.hw) * 0.5;
    case DEJA__ENG_RESIZE:
        return (double)(s->u.resize.c * s->u.resize.h_out * s->u.resize.w_out) * 0.5;
    case DEJA__ENG_BINARY:
        return (double)(s->u.bin.c * s->u.bin.p) * 0.3;
    case DEJA__ENG_UNARY:
        return (double)s->u.un.n * (s->u.un.op == DEJA__NN_SIGMOID ? 2.0
                                    : s->u.un.op == DEJA__NN_POW   ? 10.0
                                                                   : 0.3);
    case DEJA__ENG_L2NORM:
    case DEJA__ENG_REDUCEL2:
        return (double)(s->u.l2.outer * s->u.l2.c * s->u.l2.p) * 0.4;
    case DEJA__ENG_COPY:
        return (double)(s->u.copy.outer * s->u.copy.mid * s->u.copy.inner) * 0.2;
    }
    return 0.0;
}

/* Whether a step may join a team at any size: its parts together do the work of the whole call
 * and nothing twice. An im2col Conv split by output channels would pack the whole image in every
 * worker, and L2 / copies run on one worker: those join only when short. */
static bool splits_cleanly(const deja__eng_step *s)
{
    switch (s->kind) {
    case DEJA__ENG_CONV:
        return s->u.conv.s.groups > 1 || deja__nn_conv_path_of(&s->u.conv.s) == DEJA__NN_CONV_1X1;
    case DEJA__ENG_L2NORM:
    case DEJA__ENG_REDUCEL2:
    case DEJA__ENG_COPY:
        return false;
    default:
        return true;
    }
}

void deja__eng_team_mark(const deja__nn *nn, unsigned flags, deja__eng_step *steps, uint32_t n,
                         deja__onnx_plan_stats *stats)
{
    bool all = flags & DEJA__ENGINE_TEAM_ALL;
    if (!nn->pool || nn->n_threads < 2 || (flags & DEJA__ENGINE_NO_TEAM)) return;
    if ((flags & DEJA__ENGINE_SPLIT_ALL) && !all) return; /* that tests the kernels' splits */
    for (uint32_t s = 0; s < n;) {
        /* A stretch of steps that split cleanly or that the kernels would run on one thread;
         * worth one hand-off when together they are as long as a call the kernels split. */
        uint32_t e = s;
        double total = 0.0;
        while (e < n &&
               (all || splits_cleanly(&steps[e]) || work_ns(nn, &steps[e]) < nn->par_min_ns))
            total += work_ns(nn, &steps[e++]);
        bool worth = all || total >= nn->par_min_ns;
        for (uint32_t i = s; i < e; i++) {
            steps[i].team = worth;
            stats->n_team += worth;
        }
        s = e > s ? e : s + 1;
    }
}

size_t deja__eng_team_scratch(const deja__nn *nn, const deja__eng_step *steps, uint32_t n)
{
    deja__nn one = *nn;
    one.pool = NULL;
    one.n_threads = 1;
    size_t most = 0;
    for (uint32_t s = 0; s < n; s++) {
        /* A part's scratch is at most the whole step's on one thread (fewer rows of A). */
        size_t b = steps[s].team ? deja__eng_step_scratch(&one, &steps[s]) : 0;
        if (b > most) most = b;
    }
    return (most + 63) / 64 * 64;
}

/* ---- one worker's part of a step -------------------------------------------------------- */

/* Part i of t of [0, units): [*b, *e). */
static void part(size_t units, int i, int t, size_t *b, size_t *e)
{
    *b = units * (size_t)i / (size_t)t;
    *e = units * (size_t)(i + 1) / (size_t)t;
}

static void conv_part(const deja__nn *one, const deja__eng_step *s, const float *in, float *out,
                      int i, int t, void *scratch)
{
    deja__nn_conv_shape c = s->u.conv.s;
    size_t hw_in = (size_t)c.h_in * (size_t)c.w_in;
    size_t hw_out = (size_t)deja__nn_conv_h_out(&c) * (size_t)deja__nn_conv_w_out(&c);
    size_t in_n = (size_t)c.c_in * hw_in, out_n = (size_t)c.c_out * hw_out;
    size_t k = (size_t)(c.c_in / c.groups) * (size_t)c.k_h * (size_t)c.k_w;
    const float *w = s->u.conv.w;
    deja__nn_post post = s->u.conv.post;
    size_t in_off = 0, out_off = 0, b, e;
    if (deja__nn_conv_path_of(&c) == DEJA__NN_CONV_1X1) {
        /* The GEMM out = W * in over whole nr-wide column panels of the pixels, as the kernel
         * itself splits: each worker packs only its own columns. */
        size_t nr = (size_t)one->nr, panels = (hw_in + nr - 1) / nr;
        part(panels, i, t, &b, &e);
        b *= nr;
        e = e * nr < hw_in ? e * nr : hw_in;
        if (b >= e) return;
        for (size_t n = 0; n < s->u.conv.batch; n++)
            deja__nn_gemm(one, (size_t)c.c_out, e - b, (size_t)c.c_in, w, (size_t)c.c_in,
                          in + n * in_n + b, hw_in, out + n * out_n + b, hw_out, &post, scratch);
        return;
    }
    if (c.groups == 1) {
        /* Whole micro-tile rows: the same tiles as one call over all output channels. */
        size_t mr = (size_t)one->mr, tiles = ((size_t)c.c_out + mr - 1) / mr;
        part(tiles, i, t, &b, &e);
        b *= mr;
        e = e * mr < (size_t)c.c_out ? e * mr : (size_t)c.c_out;
        if (b >= e) return;
        w += b * k;
        out_off = b * hw_out;
        c.c_out = (int)(e - b);
    } else {
        size_t cig = (size_t)(c.c_in / c.groups), cog = (size_t)(c.c_out / c.groups);
        part((size_t)c.groups, i, t, &b, &e);
        if (b >= e) return;
        in_off = b * cig * hw_in;
        w += b * cog * k;
        out_off = b * cog * hw_out;
        c.c_in = (int)((e - b) * cig);
        c.c_out = (int)((e - b) * cog);
        c.groups = (int)(e - b);
        b *= cog; /* first output channel, for the bias */
    }
    if (post.bias) post.bias += b;
    for (size_t n = 0; n < s->u.conv.batch; n++)
        deja__nn_conv(one, &c, in + n * in_n + in_off, w, &post, out + n * out_n + out_off,
                      scratch);
}

static void run_part(const deja__nn *one, const deja__eng_step *s, int i, int t, const float *input,
                     void *scratch)
{
    const float *a = s->in[0].from_input ? input + s->in[0].off : s->in[0].p;
    const float *x = s->in[1].from_input ? input + s->in[1].off : s->in[1].p;
    float *o = (float *)s->out.p;
    size_t b, e;
    switch (s->kind) {
    case DEJA__ENG_CONV:
        conv_part(one, s, a, o, i, t, scratch);
        return;
    case DEJA__ENG_MAXPOOL: {
        size_t h = s->u.pool.h, w = s->u.pool.w;
        size_t ho = (h - s->u.pool.k_h) / s->u.pool.s_h + 1,
               wo = (w - s->u.pool.k_w) / s->u.pool.s_w + 1;
        part(s->u.pool.c, i, t, &b, &e);
        if (b < e)
            deja__nn_maxpool(one, e - b, h, w, s->u.pool.k_h, s->u.pool.k_w, s->u.pool.s_h,
                             s->u.pool.s_w, a + b * h * w, o + b * ho * wo);
        return;
    }
    case DEJA__ENG_GAP:
        part(s->u.gap.c, i, t, &b, &e);
        if (b < e) deja__nn_global_avgpool(one, e - b, s->u.gap.hw, a + b * s->u.gap.hw, o + b);
        return;
    case DEJA__ENG_RESIZE: {
        size_t in_p = s->u.resize.h * s->u.resize.w, out_p = s->u.resize.h_out * s->u.resize.w_out;
        part(s->u.resize.c, i, t, &b, &e);
        if (b < e)
            deja__nn_resize_bilinear_ac(one, e - b, s->u.resize.h, s->u.resize.w, s->u.resize.h_out,
                                        s->u.resize.w_out, a + b * in_p, o + b * out_p, scratch);
        return;
    }
    case DEJA__ENG_BINARY: {
        const deja__nn_post *post = s->u.bin.post.clamp ? &s->u.bin.post : NULL;
        size_t c = s->u.bin.c, p = s->u.bin.p;
        if (c >= (size_t)t) { /* whole channels */
            part(c, i, t, &b, &e);
            deja__nn_operand pa = {a + b * s->u.bin.a_c, s->u.bin.a_c, s->u.bin.a_p};
            deja__nn_operand pb = {x + b * s->u.bin.b_c, s->u.bin.b_c, s->u.bin.b_p};
            if (b < e) deja__nn_binary(one, s->u.bin.op, e - b, p, pa, pb, o + b * p, post);
        } else if (c == 1) { /* one row: ranges of it */
            part(p, i, t, &b, &e);
            deja__nn_operand pa = {a + b * s->u.bin.a_p, s->u.bin.a_c, s->u.bin.a_p};
            deja__nn_operand pb = {x + b * s->u.bin.b_p, s->u.bin.b_c, s->u.bin.b_p};
            if (b < e) deja__nn_binary(one, s->u.bin.op, 1, e - b, pa, pb, o + b, post);
        } else if (i == 0) {
            deja__eng_step_run(one, s, input, scratch);
        }
        return;
    }
    case DEJA__ENG_UNARY:
        part(s->u.un.n, i, t, &b, &e);
        if (b < e) deja__nn_unary(one, s->u.un.op, s->u.un.arg0, s->u.un.arg1, e - b, a + b, o + b);
        return;
    case DEJA__ENG_L2NORM:
    case DEJA__ENG_REDUCEL2:
    case DEJA__ENG_COPY:
        if (i == 0) deja__eng_step_run(one, s, input, scratch); /* small at these shapes */
        return;
    }
}

/* ---- running a stretch ------------------------------------------------------------------ */

typedef struct team {
    const deja__nn *one;
    const deja__eng_step *steps;
    uint32_t first, end;
    const float *input;
    uint8_t *scratch;
    size_t per_worker;
    int n;
    atomic_uint arrived, generation;
} team;

/* All n workers wait here until the last arrives; its writes before are visible after. */
static void barrier(team *t)
{
    unsigned g = atomic_load_explicit(&t->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) + 1 == (unsigned)t->n) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->generation, 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&t->generation, memory_order_acquire) == g;)
        if (++spins < SPINS_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield(); /* the other worker lost its core: let it run */
}

static void team_worker(void *ctx, size_t begin, size_t end, int worker)
{
    (void)end;
    (void)worker;
    team *t = ctx;
    int i = (int)begin; /* deja__pool_for over n items on n threads: one each */
    for (uint32_t s = t->first; s < t->end; s++) {
        run_part(t->one, &t->steps[s], i, t->n, t->input, t->scratch + (size_t)i * t->per_worker);
        if (s + 1 < t->end) barrier(t);
    }
}

void deja__eng_team_run(const deja__nn *nn, const deja__eng_step *steps, uint32_t first,
                        uint32_t end, const float *input, void *scratch, size_t per_worker)
{
    deja__nn one = *nn;
    one.pool = NULL;
    one.n_threads = 1;
    team t = {&one, steps, first, end, input, scratch, per_worker, nn->n_threads, 0, 0};
    deja__pool_for(nn->pool, (size_t)nn->n_threads, team_worker, &t);
}
