/* model.h - an ONNX model (ModelProto, onnx.proto) read into an immutable graph for deja's own
 * inference engine, and static shape inference over it.
 *
 * What is kept: ir_version, the default-domain opset, producer; the nodes in file order (which
 * ONNX requires to be topological) with their attributes; every value (graph input, initializer,
 * Constant output, node output) interned to a dense id 0..n_values-1, so later stages index
 * arrays instead of comparing names; initializer and Constant data copied into one 64-byte
 * aligned weight arena (the file is unmapped after loading; the model owns everything).
 *
 * Scope: the default domain ("" or "ai.onnx") at opset DEJA__ONNX_OPSET_MIN..MAX, tensors FLOAT
 * and INT64, the operators of deja__onnx_op. Anything else fails with DEJA_UNSUPPORTED naming
 * what; corrupt or hostile files fail with DEJA_FORMAT / DEJA_LIMIT naming the file, the field
 * path (graph.node[12].attribute[3]), the byte offset, the value and the limit. Never a crash.
 *
 * Threads: a loaded model is immutable; any number of threads may read it. docs/onnx.md. */
#ifndef DEJA_ONNX_MODEL_H
#define DEJA_ONNX_MODEL_H

#include "base.h"

/* ---- limits ---------------------------------------------------------------------------- */

#define DEJA__ONNX_MAX_RANK         8
#define DEJA__ONNX_MAX_FILE_BYTES   ((uint64_t)512 << 20)
#define DEJA__ONNX_MAX_WEIGHT_BYTES ((uint64_t)1 << 30) /* arena (int64_data can grow x8) */
#define DEJA__ONNX_MAX_NODES        65536
#define DEJA__ONNX_MAX_VALUES       262144
#define DEJA__ONNX_MAX_TENSORS      65536 /* initializers + Constant nodes */
#define DEJA__ONNX_MAX_NAME         4096  /* bytes of a name, op type, domain, string attribute */
#define DEJA__ONNX_MAX_NODE_IO      1024  /* inputs, and outputs, of one node */
#define DEJA__ONNX_MAX_ATTRS        64    /* attributes of one node */
#define DEJA__ONNX_MAX_ATTR_ELEMS   4096  /* elements of an INTS / FLOATS attribute */
#define DEJA__ONNX_MAX_ELEMS        ((int64_t)1 << 31) /* elements of one value (shape inference) */
#define DEJA__ONNX_MAX_WINDOW       65536 /* Conv/MaxPool kernel, stride, dilation, pad */
#define DEJA__ONNX_OPSET_MIN        11
#define DEJA__ONNX_OPSET_MAX        17

#define DEJA__ONNX_ABSENT (-1) /* value id of an omitted optional input or output ("") */

/* ---- types ----------------------------------------------------------------------------- */

/* Element types, TensorProto.DataType numbering. Tensors in a model are FLOAT or INT64; graph
 * inputs/outputs keep whatever number the file declares. */
enum { DEJA__ONNX_UNDEFINED = 0, DEJA__ONNX_FLOAT = 1, DEJA__ONNX_INT32 = 6, DEJA__ONNX_INT64 = 7 };
const char *deja__onnx_dtype_name(int32_t dtype); /* "FLOAT", "INT64", "type 11" style */
size_t deja__onnx_dtype_bytes(int32_t dtype);     /* 4, 8; 0 for types deja does not handle */

/* The supported operators (order = deja__onnx_op_name table). */
typedef enum deja__onnx_op {
    DEJA__OP_CONV,
    DEJA__OP_RELU,
    DEJA__OP_CLIP,
    DEJA__OP_MAXPOOL,
    DEJA__OP_ADD,
    DEJA__OP_MUL,
    DEJA__OP_SUB,
    DEJA__OP_DIV,
    DEJA__OP_POW,
    DEJA__OP_SIGMOID,
    DEJA__OP_RESIZE,
    DEJA__OP_CONCAT,
    DEJA__OP_SLICE,
    DEJA__OP_REDUCEL2,
    DEJA__OP_GLOBALAVERAGEPOOL,
    DEJA__OP_FLATTEN,
    DEJA__OP_CONSTANT,
    DEJA__OP_COUNT,
    DEJA__OP_UNSUPPORTED = DEJA__OP_COUNT /* only seen while loading; never in a loaded model */
} deja__onnx_op;
const char *deja__onnx_op_name(deja__onnx_op op); /* "Conv" ... */
/* The op for an op_type in the default domain; DEJA__OP_UNSUPPORTED if none. */
deja__onnx_op deja__onnx_op_from_name(const char *op_type);

/* A constant tensor: an initializer or the value of a Constant node. */
typedef struct deja__onnx_tensor {
    int32_t dtype; /* DEJA__ONNX_FLOAT or DEJA__ONNX_INT64 */
    int32_t rank;  /* 0..DEJA__ONNX_MAX_RANK; 0 = scalar */
    int64_t dims[DEJA__ONNX_MAX_RANK];
    size_t count;     /* product of dims (1 for a scalar) */
    size_t bytes;     /* count * element size */
    const void *data; /* 64-byte aligned in the weight arena, little-endian; NULL if count 0 */
} deja__onnx_tensor;

static inline const float *deja__onnx_tensor_f32(const deja__onnx_tensor *t)
{
    return t->dtype == DEJA__ONNX_FLOAT ? (const float *)t->data : NULL;
}
static inline const int64_t *deja__onnx_tensor_i64(const deja__onnx_tensor *t)
{
    return t->dtype == DEJA__ONNX_INT64 ? (const int64_t *)t->data : NULL;
}

/* AttributeProto.AttributeType numbering; only these are kept. */
enum {
    DEJA__ATTR_FLOAT = 1,
    DEJA__ATTR_INT = 2,
    DEJA__ATTR_STRING = 3,
    DEJA__ATTR_TENSOR = 4,
    DEJA__ATTR_FLOATS = 6,
    DEJA__ATTR_INTS = 7
};
const char *deja__onnx_attr_type_name(int32_t type); /* "INTS", "GRAPH", ... */

typedef struct deja__onnx_attr {
    const char *name;
    int32_t type;               /* DEJA__ATTR_* */
    int64_t i;                  /* INT */
    float f;                    /* FLOAT */
    const char *s;              /* STRING: NUL-terminated copy; "" otherwise */
    size_t n;                   /* STRING: bytes; INTS / FLOATS: elements; else 0 */
    const int64_t *ints;        /* INTS (NULL if n == 0) */
    const float *floats;        /* FLOATS (NULL if n == 0) */
    const deja__onnx_tensor *t; /* TENSOR */
} deja__onnx_attr;

typedef struct deja__onnx_node {
    deja__onnx_op op;
    const char *op_type; /* as in the file */
    const char *name;    /* "" if the file gives none */
    uint32_t n_inputs, n_outputs, n_attrs;
    const int32_t *inputs;        /* value ids; DEJA__ONNX_ABSENT for an omitted optional input */
    const int32_t *outputs;       /* value ids; DEJA__ONNX_ABSENT for an omitted optional output */
    const deja__onnx_attr *attrs; /* file order */
} deja__onnx_node;

typedef enum deja__onnx_value_kind {
    DEJA__VALUE_INPUT,       /* graph input without an initializer: fed at run time */
    DEJA__VALUE_INITIALIZER, /* tensor != NULL (an input with an initializer counts here) */
    DEJA__VALUE_CONSTANT,    /* output of a Constant node; tensor != NULL */
    DEJA__VALUE_NODE         /* output of any other node */
} deja__onnx_value_kind;

/* A declared dimension: value >= 0, or -1 with param = the symbolic name ("H"), or -1 with
 * param NULL when the file leaves it unknown. */
typedef struct deja__onnx_dim {
    int64_t value;
    const char *param;
} deja__onnx_dim;

typedef struct deja__onnx_value {
    const char *name;
    deja__onnx_value_kind kind;
    int32_t producer; /* node index (CONSTANT, NODE), else -1 */
    int32_t last_use; /* last consuming node index; n_nodes if a graph output; -1 if unused */
    uint32_t n_uses;  /* node inputs naming it (a node naming it twice counts twice) */
    bool is_output;   /* a graph output */
    int32_t dtype;    /* tensors: their type; inputs/outputs: declared; else UNDEFINED */
    int32_t rank;     /* declared rank (inputs/outputs; tensors: theirs); -1 = unknown */
    deja__onnx_dim dims[DEJA__ONNX_MAX_RANK];
    const deja__onnx_tensor *tensor; /* INITIALIZER, CONSTANT; else NULL */
} deja__onnx_value;

typedef struct deja__onnx_model {
    const char *source; /* the path, or the name given to _load_memory */
    int64_t ir_version;
    int64_t opset; /* version of the default domain */

    const char *producer_name, *producer_version, *graph_name; /* "" when absent */

    uint32_t n_nodes, n_values, n_inputs, n_outputs;
    uint32_t n_tensors; /* initializers + Constant values */
    const deja__onnx_node *nodes;
    const deja__onnx_value *values;
    const int32_t *inputs;  /* value ids of the run-time inputs (kind INPUT), file order */
    const int32_t *outputs; /* value ids of the graph outputs, file order */
    const void *weights;    /* the arena holding every tensor's data */
    size_t weight_bytes;    /* its size (each tensor padded to 64 bytes) */
    /* private */
    deja_allocator alloc;
    void *chunks;    /* metadata blocks (names, nodes, attributes, values) */
    void *arena_raw; /* allocation behind weights */
    size_t arena_raw_bytes;
} deja__onnx_model;

/* ---- loading --------------------------------------------------------------------------- */

/* Load path (read-only mmap, at most DEJA__ONNX_MAX_FILE_BYTES; unmapped before returning).
 * o may be NULL (malloc); err is NULL or DEJA_ERROR_BYTES long (the message also goes to
 * deja_last_error()). *out is set on success only; free it with deja__onnx_model_destroy. */
DEJA_NODISCARD deja_status deja__onnx_model_load(const deja_options *o, const char *path,
                                                 deja__onnx_model **out, char *err);
/* The same from bytes in memory (borrowed; nothing points into them afterwards). name is used
 * in messages and as source (may be NULL: "<memory>"). */
DEJA_NODISCARD deja_status deja__onnx_model_load_memory(const deja_options *o, const void *bytes,
                                                        size_t n, const char *name,
                                                        deja__onnx_model **out, char *err);
void deja__onnx_model_destroy(deja__onnx_model *m); /* NULL ok */

/* Value id of name, or -1. Linear: for tests and tools, not per frame. */
int32_t deja__onnx_find_value(const deja__onnx_model *m, const char *name);
/* Number of nodes of an op. */
uint32_t deja__onnx_count_op(const deja__onnx_model *m, deja__onnx_op op);

/* ---- attributes ------------------------------------------------------------------------ */

/* The attribute called name, or NULL. */
const deja__onnx_attr *deja__onnx_attr_find(const deja__onnx_node *n, const char *name);
/* Scalar lookups with a default when absent (types are checked at load for supported ops). */
int64_t deja__onnx_attr_int(const deja__onnx_node *n, const char *name, int64_t def);
float deja__onnx_attr_float(const deja__onnx_node *n, const char *name, float def);
const char *deja__onnx_attr_string(const deja__onnx_node *n, const char *name, const char *def);

/* Conv / MaxPool window over the two spatial axes of an NCHW tensor, defaults filled in:
 * pads [top, left, bottom, right] (ONNX order x1_begin, x2_begin, x1_end, x2_end). */
typedef struct deja__onnx_window {
    int64_t kernel[2], stride[2], dilation[2], pad[4];
    int64_t group;  /* Conv: group (1 = dense, C = depthwise); MaxPool: 1 */
    bool ceil_mode; /* MaxPool */
} deja__onnx_window;

/* Fill w for Conv or MaxPool node index ni. Conv takes the kernel from kernel_shape, else from
 * kernel_dims (the weight's dims, OIHW; may be NULL when kernel_shape is given). Errors name the
 * node: wrong lengths, values out of 1..DEJA__ONNX_MAX_WINDOW (pads 0..), auto_pad other than
 * NOTSET / VALID, kernel_shape != weight dims. */
DEJA_NODISCARD deja_status deja__onnx_window_params(const deja__onnx_model *m, uint32_t ni,
                                                    const int64_t *kernel_dims,
                                                    deja__onnx_window *w, char *err);

/* ---- shape inference ------------------------------------------------------------------- */

typedef struct deja__onnx_shape {
    int32_t dtype; /* DEJA__ONNX_FLOAT / INT64; UNDEFINED for absent values */
    int32_t rank;
    int64_t dims[DEJA__ONNX_MAX_RANK];
} deja__onnx_shape;

/* Elements of a shape (1 for rank 0). Shapes out of inference never exceed
 * DEJA__ONNX_MAX_ELEMS, so this does not overflow for them. */
int64_t deja__onnx_shape_count(const deja__onnx_shape *s);

/* Every value's shape and type for concrete input shapes. inputs: m->n_inputs shapes in the
 * order of m->inputs (dtype may be UNDEFINED = take the declared one); each must match the
 * declared rank and fixed dims (symbolic dims take any size >= 1). shapes: m->n_values entries,
 * written for every value (tensors: their dims). Errors name the node and the values involved:
 * channel mismatch in Conv, shapes that do not broadcast, a window larger than its padded input,
 * non-constant Resize scales or Slice indices, results above DEJA__ONNX_MAX_ELEMS (LIMIT). */
DEJA_NODISCARD deja_status deja__onnx_infer_shapes(const deja__onnx_model *m,
                                                   const deja__onnx_shape *inputs,
                                                   deja__onnx_shape *shapes, char *err);
/* The single-input form: the one run-time input has dims[0..rank). */
DEJA_NODISCARD deja_status deja__onnx_infer_shapes1(const deja__onnx_model *m, const int64_t *dims,
                                                    int rank, deja__onnx_shape *shapes, char *err);

/* "1x3x480x640" (scalar: "scalar") into out. */
void deja__onnx_shape_text(const deja__onnx_shape *s, char *out, size_t size);

/* ---- per-op tables (shared by loading and shape inference) ----------------------------- */

typedef struct deja__onnx_op_info {
    const char *name;
    uint16_t min_in, max_in;   /* input count range */
    uint16_t required_in;      /* the first required_in inputs may not be "" */
    uint16_t min_out, max_out; /* output count range; the first output may not be "" */
} deja__onnx_op_info;
const deja__onnx_op_info *deja__onnx_op_get(deja__onnx_op op);

/* Expected type of a known attribute of op (DEJA__ATTR_*), or 0 if op has no such attribute. */
int32_t deja__onnx_op_attr_type(deja__onnx_op op, const char *attr);

/* Formats "<source>: graph.node[ni] '<name>' (<op_type>): <fmt...>" like DEJA_ERR. */
deja_status deja__onnx_node_error(const deja__onnx_model *m, uint32_t ni, char *err, deja_status st,
                                  const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

#endif
