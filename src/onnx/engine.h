/* engine.h - deja's ONNX inference engine: a loaded model (model.h) planned once for one input
 * size, then run on the kernels of ops.h with no allocation per run.
 *
 * Planning (at create and at reshape, for the given input dims):
 * - shapes: static shape inference (deja__onnx_infer_shapes1); nodes nothing uses are dropped;
 * - constant folding: every node whose inputs are all constant is evaluated once, at plan time;
 * - fusion: Relu/Clip with constant bounds into the Conv or binary op before it (clamp in the
 *   kernel's write-back); a residual Add of a Conv output and an earlier tensor as the Conv's
 *   `accumulate` into that tensor's buffer; ReduceL2 + Clip + Div as one L2 normalisation;
 * - views: Slice on one axis with step 1 (leading dims 1) and Flatten alias their input; Concat
 *   inputs are written by their producers straight into their slice of the output;
 * - in place: elementwise ops write over an input that nothing reads afterwards;
 * - memory: every remaining tensor is a buffer with a lifetime (first writing step to last
 *   reading step); buffers are placed greedily by size into one arena (a buffer may reuse bytes
 *   of any buffer whose lifetime does not overlap), plus one scratch area sized for the largest
 *   kernel call.
 * A run executes the steps in order. Any construct the kernels cannot run (an attribute value,
 * a non-constant weight, a broadcast pattern) fails at create with DEJA_UNSUPPORTED naming the
 * node. docs/onnx.md, "Engine".
 *
 * Threads: an engine is one handle (one caller at a time); the model it borrows is immutable and
 * may be shared by several engines. Long kernel calls split their work over the engine's pool;
 * stretches of short steps run split among the workers in one hand-off (engine_team.c). 1 and 2
 * threads give bit-identical outputs. */
#ifndef DEJA_ONNX_ENGINE_H
#define DEJA_ONNX_ENGINE_H

#include "model.h"
#include "pool.h"

#include <stdio.h>

typedef struct deja__onnx_engine deja__onnx_engine;

/* Debug switches (deja__onnx_engine_params.flags); 0 = every optimisation. */
#define DEJA__ENGINE_NO_FUSE    1u  /* no Relu/Clip, residual-Add or L2 fusion */
#define DEJA__ENGINE_NO_VIEWS   2u  /* Slice and Concat copy instead of aliasing */
#define DEJA__ENGINE_NO_INPLACE 4u  /* elementwise ops never write over their input */
#define DEJA__ENGINE_NO_REUSE   8u  /* each buffer its own arena range (no lifetime sharing) */
#define DEJA__ENGINE_PLAIN      15u /* all four: one kernel call per node, one buffer per value */
#define DEJA__ENGINE_SPLIT_ALL  16u /* tests: kernels split even tiny calls (and no teams) */
#define DEJA__ENGINE_TEAM_ALL   32u /* tests: every splittable step runs as a team */
#define DEJA__ENGINE_NO_TEAM    64u /* small steps stay single-threaded in their kernels */

typedef struct deja__onnx_engine_params {
    int n_threads;    /* 0 = deja_options.n_threads (0 there: online cores, max 8); 1 = no pool */
    deja__pool *pool; /* borrowed pool to run on (n_threads ignored); NULL = the engine's own */
    unsigned flags;   /* DEJA__ENGINE_* */
} deja__onnx_engine_params;

/* One graph output after a run: data points into the engine (or at a constant, or into the
 * caller's input for an output that is a view of it) until the engine's next run, reshape or
 * destroy. Dense, row-major. */
typedef struct deja__onnx_output {
    const char *name;
    const float *data;
    int rank;
    int64_t dims[DEJA__ONNX_MAX_RANK];
    size_t count;
} deja__onnx_output;

typedef struct deja__onnx_plan_stats {
    uint32_t n_nodes;          /* nodes in the model */
    uint32_t n_dead;           /* nodes no output depends on: dropped */
    uint32_t n_folded;         /* nodes evaluated at plan time (Constant nodes included) */
    uint32_t n_steps;          /* kernel calls (and copies) per run */
    uint32_t n_fused_act;      /* Relu/Clip merged into the Conv or binary op before it */
    uint32_t n_fused_add;      /* residual Adds done as a Conv's accumulate */
    uint32_t n_fused_l2;       /* ReduceL2 + Clip + Div done as one L2 normalisation */
    uint32_t n_views;          /* Slice / Flatten outputs that alias their input */
    uint32_t n_concat_inplace; /* Concat inputs written straight into their slice */
    uint32_t n_copies;         /* copy steps (Concat inputs or Slices that are not views) */
    uint32_t n_inplace;        /* elementwise steps writing over their input */
    uint32_t n_buffers;        /* arena buffers (after aliasing) */
    uint32_t n_team;           /* steps split by the engine among the workers (engine_team.c) */
    size_t tensor_bytes;       /* sum of every run-time node output: no fusion, views or reuse */
    size_t buffer_bytes;       /* sum of the arena buffers: after fusion and aliasing */
    size_t arena_bytes;        /* the arena: buffers placed by lifetime */
    size_t scratch_bytes;      /* kernel scratch shared by every step */
    size_t folded_bytes;       /* constants computed at plan time */
} deja__onnx_plan_stats;

/* Plan model m (borrowed: it must outlive the engine) for its one run-time input with dims
 * input_dims (as many as the input's declared rank, e.g. {1, 3, 480, 640}). o: allocator, simd
 * (SCALAR forces the portable kernels) and n_threads; may be NULL. p may be NULL (defaults).
 * err: NULL or DEJA_ERROR_BYTES (also deja_last_error()). Errors: INVALID_ARG (dims, a model
 * without exactly one run-time input), UNSUPPORTED naming the node (dilation 2, Resize mode
 * nearest, a non-constant weight, ...), FORMAT/LIMIT from shape inference, NOMEM. */
DEJA_NODISCARD deja_status deja__onnx_engine_create(const deja_options *o,
                                                    const deja__onnx_model *m,
                                                    const int64_t *input_dims,
                                                    const deja__onnx_engine_params *p,
                                                    deja__onnx_engine **out, char *err);
/* The same from a file; the engine owns the model it loads. */
DEJA_NODISCARD deja_status deja__onnx_engine_load(const deja_options *o, const char *path,
                                                  const int64_t *input_dims,
                                                  const deja__onnx_engine_params *p,
                                                  deja__onnx_engine **out, char *err);
void deja__onnx_engine_destroy(deja__onnx_engine *e); /* NULL ok */

/* Run on input (the planned dims, dense float32; borrowed, never written). outs receives
 * deja__onnx_engine_n_outputs() entries in the model's output order. Allocates nothing.
 * INVALID_ARG for NULL arguments; the message is in deja__onnx_engine_error(e). */
DEJA_NODISCARD deja_status deja__onnx_engine_run(deja__onnx_engine *e, const float *input,
                                                 deja__onnx_output *outs);

/* Re-plan for other input dims (allocates). On failure the engine keeps its previous plan. */
DEJA_NODISCARD deja_status deja__onnx_engine_reshape(deja__onnx_engine *e,
                                                     const int64_t *input_dims);

uint32_t deja__onnx_engine_n_outputs(const deja__onnx_engine *e);
/* The planned input: rank and dims, and its element count. */
size_t deja__onnx_engine_input(const deja__onnx_engine *e, int *rank, int64_t *dims);
const deja__onnx_model *deja__onnx_engine_model(const deja__onnx_engine *e);
void deja__onnx_engine_stats(const deja__onnx_engine *e, deja__onnx_plan_stats *out);
/* The steps, one line each (kernel, node, shapes, arena offsets), for debugging and docs. */
void deja__onnx_engine_print(const deja__onnx_engine *e, FILE *f);
const char *deja__onnx_engine_error(const deja__onnx_engine *e); /* "" if none */

#endif
