/* engine_plan.c - the planner's passes over a model for one input size, and the plan's life.
 *
 * How it works, in passes over the nodes (file order is topological):
 * 1. Shapes (shape inference), then liveness backwards from the graph outputs: dead nodes go.
 * 2. Constness forwards: a node whose inputs are all constant is folded: its steps are built
 *    like any other (without views or fusion) and run once, here, into a plan-owned block.
 * 3. Patterns that need the look-ahead: Concat inputs that their producers can write straight
 *    into the Concat's slot (an alias), and ReduceL2 -> Clip(eps) -> Div(x, .) chains.
 * 4. One step (or none, or a few copies) per remaining node: engine_build.c.
 * 5. Stretches of small steps to split among the workers: engine_team.c.
 * 6. Arena offsets and addresses: engine_memory.c. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

#define NERR(st, ...) deja__onnx_node_error(c->m, ni, c->err, st, __FILE__, __LINE__, __VA_ARGS__)
#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

static const char *vname(const deja__eng_ctx *c, int32_t v)
{
    return v >= 0 ? c->m->values[v].name : "";
}

/* ---- analysis passes -------------------------------------------------------------------- */

/* Liveness backwards from the graph outputs; consumer lists of the live nodes. */
static deja_status find_live(deja__eng_ctx *c)
{
    const deja__onnx_model *m = c->m;
    bool *need = (bool *)c->placed; /* borrowed as scratch, cleared below */
    for (uint32_t v = 0; v < m->n_values; v++)
        need[v] = m->values[v].is_output;
    for (uint32_t k = m->n_nodes; k-- > 0;) {
        const deja__onnx_node *nd = &m->nodes[k];
        bool live = false;
        for (uint32_t i = 0; i < nd->n_outputs; i++)
            live |= nd->outputs[i] >= 0 && need[nd->outputs[i]];
        if (!live) {
            c->node_mark[k] |= DEJA__N_DEAD;
            c->plan->stats.n_dead++;
            continue;
        }
        for (uint32_t i = 0; i < nd->n_inputs; i++)
            if (nd->inputs[i] >= 0) need[nd->inputs[i]] = true;
    }
    memset(need, 0, m->n_values * sizeof *need);
    /* Consumer lists (CSR), node ids ascending per value. */
    memset(c->use_start, 0, (m->n_values + 1) * sizeof *c->use_start);
    for (uint32_t k = 0; k < m->n_nodes; k++)
        for (uint32_t i = 0; !(c->node_mark[k] & DEJA__N_DEAD) && i < m->nodes[k].n_inputs; i++)
            if (m->nodes[k].inputs[i] >= 0) c->use_start[m->nodes[k].inputs[i] + 1]++;
    for (uint32_t v = 0; v < m->n_values; v++)
        c->use_start[v + 1] += c->use_start[v];
    int32_t *fill = c->stack; /* borrowed: entries filled per value */
    memset(fill, 0, m->n_values * sizeof *fill);
    for (uint32_t k = 0; k < m->n_nodes; k++)
        for (uint32_t i = 0; !(c->node_mark[k] & DEJA__N_DEAD) && i < m->nodes[k].n_inputs; i++) {
            int32_t v = m->nodes[k].inputs[i];
            if (v >= 0) c->uses[c->use_start[v] + (uint32_t)fill[v]++] = k;
        }
    return DEJA_OK;
}

/* Constness forwards; states; folded nodes marked; every run-time value checked. */
static deja_status classify(deja__eng_ctx *c, size_t *fold_floats)
{
    const deja__onnx_model *m = c->m;
    for (uint32_t v = 0; v < m->n_values; v++) {
        const deja__onnx_tensor *t = m->values[v].tensor;
        if (t) {
            c->state[v] = DEJA__V_CONST;
            c->cptr[v] = deja__onnx_tensor_f32(t);
        }
    }
    c->state[m->inputs[0]] = DEJA__V_INPUT;
    *fold_floats = 0;
    for (uint32_t ni = 0; ni < m->n_nodes; ni++) {
        const deja__onnx_node *nd = &m->nodes[ni];
        if (c->node_mark[ni] & DEJA__N_DEAD) continue;
        if (nd->op == DEJA__OP_CONSTANT) {
            c->plan->stats.n_folded++;
            continue;
        }
        bool all_const = true;
        for (uint32_t i = 0; i < nd->n_inputs; i++)
            all_const &= nd->inputs[i] < 0 || c->state[nd->inputs[i]] == DEJA__V_CONST;
        int32_t o = nd->outputs[0];
        char t[96];
        deja__onnx_shape_text(&c->shapes[o], t, sizeof t);
        if (c->shapes[o].dtype != DEJA__ONNX_FLOAT)
            return NERR(DEJA_UNSUPPORTED, "output '%s' is %s; deja computes FLOAT tensors only",
                        vname(c, o), deja__onnx_dtype_name(c->shapes[o].dtype));
        if (c->count[o] == 0)
            return NERR(DEJA_UNSUPPORTED, "output '%s' is empty (%s)", vname(c, o), t);
        if (all_const) {
            c->node_mark[ni] |= DEJA__N_FOLD;
            c->state[o] = DEJA__V_CONST;
            *fold_floats += (c->count[o] + 15) / 16 * 16;
            c->plan->stats.n_folded++;
        } else {
            c->state[o] = DEJA__V_RUNTIME;
            c->plan->stats.tensor_bytes += c->count[o] * sizeof(float);
        }
    }
    for (uint32_t i = 0; i < m->n_outputs; i++) {
        int32_t v = m->outputs[i];
        if (c->shapes[v].dtype != DEJA__ONNX_FLOAT)
            return DEJA_ERR(c->err, DEJA_UNSUPPORTED,
                            "%s: graph.output[%u] '%s' is %s; deja returns FLOAT outputs only",
                            m->source, i, vname(c, v), deja__onnx_dtype_name(c->shapes[v].dtype));
    }
    return DEJA_OK;
}

/* Run step s now (plan time): every operand is a constant. */
static deja_status run_const_step(deja__eng_ctx *c, deja__eng_step *s)
{
    deja__eng_ref *refs[4] = {&s->in[0], &s->in[1], &s->out, &s->acc};
    for (int i = 0; i < 4; i++)
        if (refs[i]->value >= 0) refs[i]->p = c->cptr[refs[i]->value] + refs[i]->extra;
    size_t bytes = deja__eng_step_scratch(c->nn, s);
    void *scratch = bytes ? deja__alloc(c->a, bytes) : NULL;
    if (bytes && !scratch)
        return DEJA_ERR(c->err, DEJA_NOMEM, "constant folding: %zu bytes of scratch", bytes);
    deja__eng_step_run(c->nn, s, NULL, scratch);
    deja__free(c->a, scratch, bytes);
    return DEJA_OK;
}

/* Evaluate the folded nodes in order into the plan's folded block. */
static deja_status fold(deja__eng_ctx *c, size_t floats)
{
    const deja__onnx_model *m = c->m;
    deja__eng_plan *p = c->plan;
    if (!floats) return DEJA_OK;
    p->folded_bytes = floats * sizeof(float);
    p->folded = deja__alloc(c->a, p->folded_bytes);
    if (!p->folded)
        return DEJA_ERR(c->err, DEJA_NOMEM, "%s: %zu bytes of folded constants", m->source,
                        p->folded_bytes);
    size_t at = 0;
    c->fold = true;
    for (uint32_t ni = 0; ni < m->n_nodes; ni++) {
        if (!(c->node_mark[ni] & DEJA__N_FOLD)) continue;
        int32_t o = m->nodes[ni].outputs[0];
        c->cptr[o] = p->folded + at;
        at += (c->count[o] + 15) / 16 * 16;
        c->n_steps = 0;
        CHECK(deja__eng_build_node(c, ni));
        for (uint32_t s = 0; s < c->n_steps; s++)
            CHECK(run_const_step(c, &c->steps[s]));
    }
    c->fold = false;
    c->n_steps = 0;
    for (uint32_t v = 0; v < m->n_values; v++)
        c->writer[v] = c->last_write[v] = -1;
    return DEJA_OK;
}

/* Concat inputs that their producer can write straight into the output's slot. */
static void place_concat_inputs(deja__eng_ctx *c)
{
    const deja__onnx_model *m = c->m;
    for (uint32_t ni = 0; ni < m->n_nodes; ni++) {
        const deja__onnx_node *nd = &m->nodes[ni];
        if (nd->op != DEJA__OP_CONCAT || (c->node_mark[ni] & (DEJA__N_DEAD | DEJA__N_FOLD)))
            continue;
        int32_t o = nd->outputs[0];
        const deja__onnx_shape *os = &c->shapes[o];
        int axis = (int)deja__eng_concat_axis(c, ni);
        if (deja__eng_dims_prod(os, 0, axis) != 1) continue; /* inputs are not contiguous slices */
        size_t inner = deja__eng_dims_prod(os, axis + 1, os->rank), c0 = 0;
        for (uint32_t i = 0; i < nd->n_inputs; i++) {
            int32_t v = nd->inputs[i];
            size_t len = (size_t)c->shapes[v].dims[axis];
            bool once = true;
            for (uint32_t j = 0; j < nd->n_inputs; j++)
                once &= j == i || nd->inputs[j] != v;
            int32_t pn = m->values[v].producer;
            deja__onnx_op op = pn >= 0 ? m->nodes[pn].op : DEJA__OP_CONSTANT;
            if (once && c->state[v] == DEJA__V_RUNTIME && c->alias[v] < 0 && op != DEJA__OP_SLICE &&
                op != DEJA__OP_FLATTEN) {
                deja__eng_link(c, v, o, c0 * inner);
                c->placed[v] = true;
                c->plan->stats.n_concat_inplace++;
            }
            c0 += len;
        }
    }
}

/* ReduceL2(x, axes [1], keepdims) -> Clip(eps) -> Div(x, .) with single-use links: the Div
 * becomes one L2 normalisation, the other two are absorbed. */
static void find_l2(deja__eng_ctx *c)
{
    const deja__onnx_model *m = c->m;
    for (uint32_t k = 0; k < m->n_nodes; k++) {
        const deja__onnx_node *div = &m->nodes[k];
        if (div->op != DEJA__OP_DIV || (c->node_mark[k] & (DEJA__N_DEAD | DEJA__N_FOLD))) continue;
        int32_t x = div->inputs[0], b = div->inputs[1];
        if (c->state[b] != DEJA__V_RUNTIME || deja__eng_n_uses(c, b) != 1 ||
            deja__eng_is_output(c, b))
            continue;
        const deja__onnx_node *clip = &m->nodes[m->values[b].producer];
        float eps, hi = INFINITY;
        if (clip->op != DEJA__OP_CLIP ||
            !deja__eng_const_scalar(c, deja__eng_in_val(clip, 1), &eps) || isnan(eps))
            continue;
        if (deja__eng_in_val(clip, 2) >= 0 &&
            (!deja__eng_const_scalar(c, deja__eng_in_val(clip, 2), &hi) || hi != INFINITY))
            continue;
        int32_t n = clip->inputs[0];
        if (c->state[n] != DEJA__V_RUNTIME || deja__eng_n_uses(c, n) != 1 ||
            deja__eng_is_output(c, n))
            continue;
        uint32_t kr = (uint32_t)m->values[n].producer;
        const deja__onnx_node *red = &m->nodes[kr];
        int a0, a1;
        if (red->op != DEJA__OP_REDUCEL2 || red->inputs[0] != x ||
            deja__onnx_attr_int(red, "keepdims", 1) != 1 ||
            !deja__eng_reduce_axes(c, kr, &a0, &a1) || a0 != 1 || a1 != 1 ||
            c->state[x] == DEJA__V_CONST)
            continue;
        c->node_mark[kr] |= DEJA__N_ABSORBED;
        c->node_mark[m->values[b].producer] |= DEJA__N_ABSORBED;
        c->node_mark[k] |= DEJA__N_L2;
        c->state[n] = c->state[b] = DEJA__V_DROPPED;
    }
}

/* ---- driver ----------------------------------------------------------------------------- */

static void *take(uint8_t **at, size_t bytes)
{
    void *p = *at;
    *at += (bytes + 63) / 64 * 64;
    return p;
}

void deja__eng_plan_free(const deja_allocator *a, deja__eng_plan *p)
{
    if (!p) return;
    deja__free(a, p->steps, p->n_steps * sizeof *p->steps);
    deja__free(a, p->outs, p->n_outputs * sizeof *p->outs);
    deja__free(a, p->out_shapes, p->n_outputs * sizeof *p->out_shapes);
    deja__free(a, p->folded, p->folded_bytes);
    deja__free(a, p->block, p->block_bytes);
    memset(p, 0, sizeof *p);
}

deja_status deja__eng_plan_build(const deja__onnx_model *m, const deja__nn *nn,
                                 const deja_allocator *a, unsigned flags, const int64_t *dims,
                                 int rank, deja__eng_plan *p, char *err)
{
    memset(p, 0, sizeof *p);
    size_t nv = m->n_values, nn_ = m->n_nodes, cap = nn_;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == DEJA__OP_CONCAT) cap += m->nodes[i].n_inputs;
    /* One block for every per-value and per-node array (the model's limits keep these
     * products far from overflow). */
    size_t n_in = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        n_in += m->nodes[i].n_inputs;
    const size_t sizes[] = {nv * sizeof(deja__onnx_shape),
                            nv * sizeof(size_t),
                            nv,
                            nv * sizeof(float *),
                            nv * sizeof(int32_t),
                            nv * sizeof(size_t),
                            nv * sizeof(int32_t),
                            nv * sizeof(int32_t),
                            nv * sizeof(bool),
                            nv * sizeof(int32_t),
                            nv * sizeof(int32_t),
                            (nv + 1) * sizeof(uint32_t),
                            n_in * sizeof(uint32_t),
                            nn_ + 1,
                            nv * sizeof(int32_t),
                            nv * sizeof(size_t),
                            cap * sizeof(deja__eng_step)};
    size_t bytes = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bytes += (sizes[i] + 63) / 64 * 64;
    void *block = deja__calloc(a, 1, bytes);
    if (!block)
        return DEJA_ERR(err, DEJA_NOMEM, "%s: %zu bytes of planner state", m->source, bytes);
    uint8_t *at = block;
    deja__eng_ctx cx = {0}, *c = &cx;
    c->m = m;
    c->nn = nn;
    c->a = a;
    c->flags = flags;
    c->err = err;
    c->plan = p;
    c->shapes = take(&at, sizes[0]);
    c->count = take(&at, sizes[1]);
    c->state = take(&at, sizes[2]);
    c->cptr = take(&at, sizes[3]);
    c->alias = take(&at, sizes[4]);
    c->alias_off = take(&at, sizes[5]);
    c->child = take(&at, sizes[6]);
    c->sibling = take(&at, sizes[7]);
    c->placed = take(&at, sizes[8]);
    c->writer = take(&at, sizes[9]);
    c->last_write = take(&at, sizes[10]);
    c->use_start = take(&at, sizes[11]);
    c->uses = take(&at, sizes[12]);
    c->node_mark = take(&at, sizes[13]);
    c->stack = take(&at, sizes[14]);
    c->stack_off = take(&at, sizes[15]);
    c->steps = take(&at, sizes[16]);
    c->cap_steps = (uint32_t)cap;
    for (size_t v = 0; v < nv; v++)
        c->alias[v] = c->child[v] = c->sibling[v] = c->writer[v] = c->last_write[v] = -1;
    p->stats.n_nodes = m->n_nodes;

    deja_status st = deja__onnx_infer_shapes1(m, dims, rank, c->shapes, err);
    if (st == DEJA_OK) {
        for (size_t v = 0; v < nv; v++)
            c->count[v] =
                c->shapes[v].rank >= 0 ? (size_t)deja__onnx_shape_count(&c->shapes[v]) : 0;
        st = find_live(c);
    }
    size_t fold_floats = 0;
    if (st == DEJA_OK) st = classify(c, &fold_floats);
    if (st == DEJA_OK) st = fold(c, fold_floats);
    if (st == DEJA_OK) {
        if (!(flags & DEJA__ENGINE_NO_VIEWS)) place_concat_inputs(c);
        if (!(flags & DEJA__ENGINE_NO_FUSE)) find_l2(c);
        for (uint32_t ni = 0; st == DEJA_OK && ni < m->n_nodes; ni++)
            if (!(c->node_mark[ni] & (DEJA__N_DEAD | DEJA__N_FOLD | DEJA__N_ABSORBED)))
                st = deja__eng_build_node(c, ni);
    }
    if (st == DEJA_OK) {
        p->in_rank = rank;
        memcpy(p->in_dims, dims, (size_t)rank * sizeof *dims);
        p->in_count = c->count[m->inputs[0]];
        deja__eng_team_mark(nn, flags, c->steps, c->n_steps, &p->stats);
        st = deja__eng_memory(c);
    }
    deja__free(a, block, bytes);
    if (st != DEJA_OK) deja__eng_plan_free(a, p);
    return st;
}
