/* engine_impl.h - what the engine's source files share: the step list a plan runs, the plan, and
 * the planner's working state. engine_plan.c runs the passes (liveness, constant folding,
 * look-ahead patterns), engine_build.c turns nodes into steps (fusion, views, in place),
 * engine_memory.c gives buffers their arena offsets and resolves every operand to an address,
 * engine.c runs steps and holds the public functions of engine.h. */
#ifndef DEJA_ONNX_ENGINE_IMPL_H
#define DEJA_ONNX_ENGINE_IMPL_H

#include "engine.h"
#include "ops.h"

typedef enum deja__eng_kind {
    DEJA__ENG_CONV,
    DEJA__ENG_MAXPOOL,
    DEJA__ENG_GAP,
    DEJA__ENG_RESIZE,
    DEJA__ENG_BINARY,
    DEJA__ENG_UNARY,
    DEJA__ENG_L2NORM,
    DEJA__ENG_REDUCEL2,
    DEJA__ENG_COPY
} deja__eng_kind;

/* A step operand: a value (plus `extra` floats, a Concat slot), resolved after memory planning
 * to an address, or to the run's input + off. */
typedef struct deja__eng_ref {
    int32_t value; /* -1 = unused */
    size_t extra;
    const float *p;
    bool from_input;
    size_t off;
} deja__eng_ref;

typedef struct deja__eng_step {
    deja__eng_kind kind;
    uint32_t node;            /* the node it computes (fused: the Conv, or the L2 chain's Div) */
    deja__eng_ref in[2], out; /* out is written; in are read */
    deja__eng_ref acc;        /* Conv accumulate: the tensor added to (same storage as out) */
    bool in_place;
    bool team; /* run split among the pool's workers inside one hand-off (engine_team.c) */
    union {
        struct {
            deja__nn_conv_shape s;
            size_t batch;
            const float *w;
            deja__nn_post post;
        } conv;
        struct {
            size_t c, h, w, k_h, k_w, s_h, s_w;
        } pool;
        struct {
            size_t c, hw;
        } gap;
        struct {
            size_t c, h, w, h_out, w_out;
        } resize;
        struct {
            deja__nn_binop op;
            size_t c, p, a_c, a_p, b_c, b_p; /* operand strides (ops.h) */
            deja__nn_post post;
        } bin;
        struct {
            deja__nn_unop op;
            float arg0, arg1;
            size_t n;
        } un;
        struct {
            size_t outer, c, p;
            float eps;
        } l2; /* L2NORM and REDUCEL2 */
        struct {
            size_t outer, mid, inner;
            ptrdiff_t src_outer, src_mid, dst_outer, dst_mid; /* floats */
        } copy;
    } u;
} deja__eng_step;

/* A plan: everything a run needs, owned (through the engine's allocator). */
typedef struct deja__eng_plan {
    deja__eng_step *steps;
    uint32_t n_steps;
    int in_rank;
    int64_t in_dims[DEJA__ONNX_MAX_RANK];
    size_t in_count;
    uint32_t n_outputs;
    deja__eng_ref *outs;          /* n_outputs */
    deja__onnx_shape *out_shapes; /* n_outputs */
    float *folded;                /* constants computed at plan time */
    size_t folded_bytes;
    void *block; /* arena + scratch, one allocation */
    size_t block_bytes;
    float *arena;
    void *scratch;
    size_t team_scratch; /* per worker, for team steps */
    deja__onnx_plan_stats stats;
} deja__eng_plan;

/* Per-value state while planning. */
enum {
    DEJA__V_NONE,    /* absent, dead, or not yet produced */
    DEJA__V_INPUT,   /* the run-time input */
    DEJA__V_CONST,   /* initializer, Constant, or folded: cptr */
    DEJA__V_RUNTIME, /* computed by a step */
    DEJA__V_DROPPED  /* fused away: never stored */
};

/* Per-node marks. */
enum { DEJA__N_DEAD = 1, DEJA__N_FOLD = 2, DEJA__N_ABSORBED = 4, DEJA__N_L2 = 8 };

typedef struct deja__eng_ctx {
    const deja__onnx_model *m;
    const deja__nn *nn;
    const deja_allocator *a;
    unsigned flags;
    char *err;
    deja__onnx_shape *shapes;   /* n_values */
    size_t *count;              /* elements per value */
    uint8_t *state;             /* DEJA__V_* */
    const float **cptr;         /* DEJA__V_CONST float data */
    int32_t *alias;             /* storage lives inside this value's (or -1) ... */
    size_t *alias_off;          /* ... at this many floats */
    int32_t *child, *sibling;   /* the alias tree, for overlap checks */
    bool *placed;               /* a Concat input written straight into its slot */
    int32_t *writer;            /* step whose out is the value, or -1 */
    int32_t *last_write;        /* last step writing into the value's storage, or -1 */
    uint32_t *use_start, *uses; /* consumer node ids per value (CSR over live nodes) */
    uint8_t *node_mark;         /* per node: DEJA__N_* */
    int32_t *stack;             /* n_values: walks of the alias tree */
    size_t *stack_off;
    bool fold; /* building plan-time steps (constant folding) */
    deja__eng_step *steps;
    uint32_t n_steps, cap_steps;
    deja__eng_plan *plan;
} deja__eng_ctx;

static inline int32_t deja__eng_in_val(const deja__onnx_node *nd, uint32_t i)
{
    return i < nd->n_inputs ? nd->inputs[i] : DEJA__ONNX_ABSENT;
}

/* Consumers of v among the live nodes (a node naming it twice counts twice). */
static inline uint32_t deja__eng_n_uses(const deja__eng_ctx *c, int32_t v)
{
    return c->use_start[v + 1] - c->use_start[v];
}

static inline bool deja__eng_is_output(const deja__eng_ctx *c, int32_t v)
{
    return c->m->values[v].is_output;
}

static inline size_t deja__eng_dims_prod(const deja__onnx_shape *s, int from, int to)
{
    size_t n = 1;
    for (int i = from; i < to; i++)
        n *= (size_t)s->dims[i];
    return n;
}

/* engine_build.c: the steps of node ni (appended to c->steps; none for a view). */
DEJA_NODISCARD deja_status deja__eng_build_node(deja__eng_ctx *c, uint32_t ni);
/* v lives in target's storage at off floats. */
void deja__eng_link(deja__eng_ctx *c, int32_t v, int32_t target, size_t off);
/* A constant scalar (one element, FLOAT or INT64) as a float. */
bool deja__eng_const_scalar(const deja__eng_ctx *c, int32_t v, float *out);
/* The reduced axes of ReduceL2 node ni as one range [*a0, *a1]; false if not adjacent. */
bool deja__eng_reduce_axes(const deja__eng_ctx *c, uint32_t ni, int *a0, int *a1);
/* Concat node ni's axis, made non-negative. */
size_t deja__eng_concat_axis(const deja__eng_ctx *c, uint32_t ni);

/* engine_plan.c: build p for input dims (rank entries); on failure p is left empty. */
DEJA_NODISCARD deja_status deja__eng_plan_build(const deja__onnx_model *m, const deja__nn *nn,
                                                const deja_allocator *a, unsigned flags,
                                                const int64_t *dims, int rank, deja__eng_plan *p,
                                                char *err);
void deja__eng_plan_free(const deja_allocator *a, deja__eng_plan *p);

/* The storage root of v and v's offset in it (floats). */
int32_t deja__eng_root(const deja__eng_ctx *c, int32_t v, size_t *off);

/* engine_memory.c: lifetimes, arena placement, the plan's block, every ref resolved. */
DEJA_NODISCARD deja_status deja__eng_memory(deja__eng_ctx *c);

/* engine_team.c: mark the steps that run as a team (small ones in long enough stretches), the
 * scratch they need (all workers), and running a stretch [first, end) of team steps. */
void deja__eng_team_mark(const deja__nn *nn, unsigned flags, deja__eng_step *steps, uint32_t n,
                         deja__onnx_plan_stats *stats);
size_t deja__eng_team_scratch(const deja__nn *nn, const deja__eng_step *steps, uint32_t n);
void deja__eng_team_run(const deja__nn *nn, const deja__eng_step *steps, uint32_t first,
                        uint32_t end, const float *input, void *scratch, size_t per_worker);

/* engine.c: scratch bytes of one step, and running it. */
size_t deja__eng_step_scratch(const deja__nn *nn, const deja__eng_step *s);
void deja__eng_step_run(const deja__nn *nn, const deja__eng_step *s, const float *input,
                        void *scratch);

#endif
