/* engine.c - the engine handle: create (kernels, threads, a plan from engine_plan.c), run (the
 * plan's steps in order on ops.h kernels, nothing allocated), reshape, statistics, printing.
 *
 * A run resolves only the operands that point into the caller's input (input + offset); every
 * other address was fixed when the arena was placed. Steps run one after another; a long kernel
 * call splits its work over the pool itself, a stretch of short ones runs as a team
 * (engine_team.c). */
#include "engine_impl.h"

#include <string.h>

struct deja__onnx_engine {
    deja_allocator alloc;
    const deja__onnx_model *model;
    deja__onnx_model *owned; /* loaded by deja__onnx_engine_load */
    deja__pool *pool;        /* owned unless borrowed */
    bool own_pool;
    unsigned flags;
    deja__nn nn;
    deja__eng_plan plan;
    char err[DEJA_ERROR_BYTES];
};

/* ---- steps ------------------------------------------------------------------------------ */

size_t deja__eng_step_scratch(const deja__nn *nn, const deja__eng_step *s)
{
    switch (s->kind) {
    case DEJA__ENG_CONV:
        return deja__nn_conv_scratch_bytes(nn, &s->u.conv.s);
    case DEJA__ENG_RESIZE:
        return deja__nn_resize_scratch_bytes(nn, s->u.resize.w_out);
    default:
        return 0;
    }
}

static const float *at(const deja__eng_ref *r, const float *input)
{
    return r->from_input ? input + r->off : r->p;
}

void deja__eng_step_run(const deja__nn *nn, const deja__eng_step *s, const float *input,
                        void *scratch)
{
    const float *a = at(&s->in[0], input), *b = at(&s->in[1], input);
    float *o = (float *)s->out.p; /* outputs are never the caller's input */
    switch (s->kind) {
    case DEJA__ENG_CONV: {
        const deja__nn_conv_shape *cs = &s->u.conv.s;
        size_t in_n = (size_t)cs->c_in * (size_t)cs->h_in * (size_t)cs->w_in;
        size_t out_n =
            (size_t)cs->c_out * (size_t)deja__nn_conv_h_out(cs) * (size_t)deja__nn_conv_w_out(cs);
        for (size_t i = 0; i < s->u.conv.batch; i++)
            deja__nn_conv(nn, cs, a + i * in_n, s->u.conv.w, &s->u.conv.post, o + i * out_n,
                          scratch);
        break;
    }
    case DEJA__ENG_MAXPOOL:
        deja__nn_maxpool(nn, s->u.pool.c, s->u.pool.h, s->u.pool.w, s->u.pool.k_h, s->u.pool.k_w,
                         s->u.pool.s_h, s->u.pool.s_w, a, o);
        break;
    case DEJA__ENG_GAP:
        deja__nn_global_avgpool(nn, s->u.gap.c, s->u.gap.hw, a, o);
        break;
    case DEJA__ENG_RESIZE:
        deja__nn_resize_bilinear_ac(nn, s->u.resize.c, s->u.resize.h, s->u.resize.w,
                                    s->u.resize.h_out, s->u.resize.w_out, a, o, scratch);
        break;
    case DEJA__ENG_BINARY: {
        deja__nn_operand x = {a, s->u.bin.a_c, s->u.bin.a_p}, y = {b, s->u.bin.b_c, s->u.bin.b_p};
        deja__nn_binary(nn, s->u.bin.op, s->u.bin.c, s->u.bin.p, x, y, o,
                        s->u.bin.post.clamp ? &s->u.bin.post : NULL);
        break;
    }
    case DEJA__ENG_UNARY:
        deja__nn_unary(nn, s->u.un.op, s->u.un.arg0, s->u.un.arg1, s->u.un.n, a, o);
        break;
    case DEJA__ENG_L2NORM:
        for (size_t i = 0, n = s->u.l2.c * s->u.l2.p; i < s->u.l2.outer; i++)
            deja__nn_l2_normalize_channels(nn, s->u.l2.c, s->u.l2.p, s->u.l2.eps, a + i * n,
                                           o + i * n);
        break;
    case DEJA__ENG_REDUCEL2:
        for (size_t i = 0; i < s->u.l2.outer; i++)
            deja__nn_reduce_l2_channels(nn, s->u.l2.c, s->u.l2.p, a + i * s->u.l2.c * s->u.l2.p,
                                        o + i * s->u.l2.p);
        break;
    case DEJA__ENG_COPY:
        for (size_t i = 0; i < s->u.copy.outer; i++)
            for (size_t j = 0; j < s->u.copy.mid; j++)
                memmove(o + (ptrdiff_t)i * s->u.copy.dst_outer + (ptrdiff_t)j * s->u.copy.dst_mid,
                        a + (ptrdiff_t)i * s->u.copy.src_outer + (ptrdiff_t)j * s->u.copy.src_mid,
                        s->u.copy.inner * sizeof(float));
        break;
    }
}

/* ---- handle ----------------------------------------------------------------------------- */

/* dims must have the rank the model declares for its one input. */
static deja_status input_rank(const deja__onnx_model *m, const int64_t *dims, int *rank, char *err)
{
    if (!dims) return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: input dims NULL", m->source);
    if (m->n_inputs != 1)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "%s: %u run-time inputs; the engine runs models with exactly one",
                        m->source, m->n_inputs);
    const deja__onnx_value *v = &m->values[m->inputs[0]];
    if (v->rank < 0)
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: input '%s' declares no rank", m->source,
                        v->name);
    *rank = v->rank;
    return DEJA_OK;
}

static deja_status create(const deja_options *o, const deja__onnx_model *m, deja__onnx_model *owned,
                          const int64_t *dims, const deja__onnx_engine_params *p,
                          deja__onnx_engine **out, char *err)
{
    deja_options opt = deja__options_resolve(o);
    deja_allocator a = deja__allocator(o);
    deja__onnx_engine_params par = p ? *p : (deja__onnx_engine_params){0, NULL, 0};
    int rank = 0;
    deja_status st = input_rank(m, dims, &rank, err);
    if (st != DEJA_OK) return st;
    deja__onnx_engine *e = deja__calloc(&a, 1, sizeof *e);
    if (!e) return DEJA_ERR(err, DEJA_NOMEM, "%s: engine: out of memory", m->source);
    e->alloc = a;
    e->model = m;
    e->owned = owned;
    e->flags = par.flags;
    e->pool = par.pool;
    int threads = par.n_threads ? par.n_threads : opt.n_threads;
    if (!e->pool && threads != 1) {
        st = deja__pool_create(&a, threads, &e->pool);
        if (st != DEJA_OK) {
            deja__error_copy(err);
            deja__free(&a, e, sizeof *e);
            return st;
        }
        e->own_pool = true;
    }
    st = deja__nn_init(&e->nn, opt.simd, e->pool);
    if (st != DEJA_OK) {
        deja__error_copy(err);
    } else {
        if (e->flags & DEJA__ENGINE_SPLIT_ALL) e->nn.par_min_ns = 0.0;
        st = deja__eng_plan_build(m, &e->nn, &a, e->flags, dims, rank, &e->plan, err);
    }
    if (st != DEJA_OK) {
        e->owned = NULL; /* the caller frees what it passed */
        deja__onnx_engine_destroy(e);
        return st;
    }
    *out = e;
    return DEJA_OK;
}

deja_status deja__onnx_engine_create(const deja_options *o, const deja__onnx_model *m,
                                     const int64_t *input_dims, const deja__onnx_engine_params *p,
                                     deja__onnx_engine **out, char *err)
{
    if (!m || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "engine_create: NULL model or out");
    return create(o, m, NULL, input_dims, p, out, err);
}

deja_status deja__onnx_engine_load(const deja_options *o, const char *path,
                                   const int64_t *input_dims, const deja__onnx_engine_params *p,
                                   deja__onnx_engine **out, char *err)
{
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "engine_load: NULL path or out");
    deja__onnx_model *m;
    deja_status st = deja__onnx_model_load(o, path, &m, err);
    if (st != DEJA_OK) return st;
    st = create(o, m, m, input_dims, p, out, err);
    if (st != DEJA_OK) deja__onnx_model_destroy(m);
    return st;
}

void deja__onnx_engine_destroy(deja__onnx_engine *e)
{
    if (!e) return;
    deja_allocator a = e->alloc;
    deja__eng_plan_free(&a, &e->plan);
    if (e->own_pool) deja__pool_destroy(e->pool);
    deja__onnx_model_destroy(e->owned);
    deja__free(&a, e, sizeof *e);
}

deja_status deja__onnx_engine_run(deja__onnx_engine *e, const float *input, deja__onnx_output *outs)
{
    if (!e) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "engine_run: NULL engine");
    if (!input || !outs)
        return DEJA_ERR(e->err, DEJA_INVALID_ARG, "%s: engine_run: NULL input or outputs",
                        e->model->source);
    const deja__eng_plan *p = &e->plan;
    for (uint32_t s = 0; s < p->n_steps;) {
        if (!p->steps[s].team) {
            deja__eng_step_run(&e->nn, &p->steps[s++], input, p->scratch);
            continue;
        }
        uint32_t end = s;
        while (end < p->n_steps && p->steps[end].team)
            end++;
        deja__eng_team_run(&e->nn, p->steps, s, end, input, p->scratch, p->team_scratch);
        s = end;
    }
    for (uint32_t i = 0; i < p->n_outputs; i++) {
        const deja__onnx_shape *sh = &p->out_shapes[i];
        deja__onnx_output *o = &outs[i];
        o->name = e->model->values[e->model->outputs[i]].name;
        o->data = at(&p->outs[i], input);
        o->rank = sh->rank;
        memcpy(o->dims, sh->dims, sizeof o->dims);
        o->count = (size_t)deja__onnx_shape_count(sh);
    }
    return DEJA_OK;
}

deja_status deja__onnx_engine_reshape(deja__onnx_engine *e, const int64_t *input_dims)
{
    if (!e) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "engine_reshape: NULL engine");
    int rank = 0;
    deja_status st = input_rank(e->model, input_dims, &rank, e->err);
    if (st != DEJA_OK) return st;
    deja__eng_plan next;
    st = deja__eng_plan_build(e->model, &e->nn, &e->alloc, e->flags, input_dims, rank, &next,
                              e->err);
    if (st != DEJA_OK) return st;
    deja__eng_plan_free(&e->alloc, &e->plan);
    e->plan = next;
    return DEJA_OK;
}

uint32_t deja__onnx_engine_n_outputs(const deja__onnx_engine *e)
{
    return e->model->n_outputs;
}

size_t deja__onnx_engine_input(const deja__onnx_engine *e, int *rank, int64_t *dims)
{
    if (rank) *rank = e->plan.in_rank;
    if (dims) memcpy(dims, e->plan.in_dims, (size_t)e->plan.in_rank * sizeof *dims);
    return e->plan.in_count;
}

const deja__onnx_model *deja__onnx_engine_model(const deja__onnx_engine *e)
{
    return e->model;
}

void deja__onnx_engine_stats(const deja__onnx_engine *e, deja__onnx_plan_stats *out)
{
    *out = e->plan.stats;
}

const char *deja__onnx_engine_error(const deja__onnx_engine *e)
{
    return e ? e->err : "";
}

/* ---- printing --------------------------------------------------------------------------- */

static void print_ref(const deja__onnx_engine *e, const deja__eng_ref *r, FILE *f)
{
    const deja__eng_plan *p = &e->plan;
    const char *name = e->model->values[r->value].name;
    if (r->from_input)
        fprintf(f, " %s@input+%zu", name, r->off * sizeof(float));
    else if (r->p >= p->arena &&
             (const uint8_t *)r->p < (const uint8_t *)p->arena + p->stats.arena_bytes)
        fprintf(f, " %s@%zu", name, (size_t)((const uint8_t *)r->p - (const uint8_t *)p->arena));
    else
        fprintf(f, " %s@const", name);
}

void deja__onnx_engine_print(const deja__onnx_engine *e, FILE *f)
{
    static const char *const kinds[] = {"conv",  "maxpool", "gap",      "resize", "binary",
                                        "unary", "l2norm",  "reducel2", "copy"};
    const deja__eng_plan *p = &e->plan;
    for (uint32_t s = 0; s < p->n_steps; s++) {
        const deja__eng_step *st = &p->steps[s];
        const deja__onnx_node *nd = &e->model->nodes[st->node];
        fprintf(f, "%3u %-8s %-24.24s", s, kinds[st->kind], nd->name);
        if (st->kind == DEJA__ENG_CONV) {
            const deja__nn_conv_shape *cs = &st->u.conv.s;
            const deja__nn_post *q = &st->u.conv.post;
            fprintf(f, " %dx%dx%d k%dx%d/%d g%d", cs->c_in, cs->h_in, cs->w_in, cs->k_h, cs->k_w,
                    cs->stride_h, cs->groups);
            if (q->clamp) fprintf(f, " clamp[%g,%g]", (double)q->lo, (double)q->hi);
            if (q->accumulate) fprintf(f, " +=");
        }
        if (st->in_place) fprintf(f, " in-place");
        if (st->team) fprintf(f, " team");
        fprintf(f, " <-");
        for (int i = 0; i < 2; i++)
            if (st->in[i].value >= 0) print_ref(e, &st->in[i], f);
        fprintf(f, " ->");
        print_ref(e, &st->out, f);
        fputc('\n', f);
    }
}
