/* model_ops.c - what deja knows about each supported ONNX operator (input/output counts, the
 * attributes and their types, from the operator specs at opset 13), and the attribute lookups
 * the shape inference and the engine share: scalar getters with defaults and the normalised
 * Conv / MaxPool window. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MANY DEJA__ONNX_MAX_NODE_IO

static const deja__onnx_op_info op_table[DEJA__OP_COUNT] = {
    [DEJA__OP_CONV] = {"Conv", 2, 3, 2, 1, 1},
    [DEJA__OP_RELU] = {"Relu", 1, 1, 1, 1, 1},
    [DEJA__OP_CLIP] = {"Clip", 1, 3, 1, 1, 1},
    [DEJA__OP_MAXPOOL] = {"MaxPool", 1, 1, 1, 1, 2},
    [DEJA__OP_ADD] = {"Add", 2, 2, 2, 1, 1},
    [DEJA__OP_MUL] = {"Mul", 2, 2, 2, 1, 1},
    [DEJA__OP_SUB] = {"Sub", 2, 2, 2, 1, 1},
    [DEJA__OP_DIV] = {"Div", 2, 2, 2, 1, 1},
    [DEJA__OP_POW] = {"Pow", 2, 2, 2, 1, 1},
    [DEJA__OP_SIGMOID] = {"Sigmoid", 1, 1, 1, 1, 1},
    [DEJA__OP_RESIZE] = {"Resize", 1, 4, 1, 1, 1},
    [DEJA__OP_CONCAT] = {"Concat", 1, MANY, MANY, 1, 1},
    [DEJA__OP_SLICE] = {"Slice", 3, 5, 3, 1, 1},
    [DEJA__OP_REDUCEL2] = {"ReduceL2", 1, 1, 1, 1, 1},
    [DEJA__OP_GLOBALAVERAGEPOOL] = {"GlobalAveragePool", 1, 1, 1, 1, 1},
    [DEJA__OP_FLATTEN] = {"Flatten", 1, 1, 1, 1, 1},
    [DEJA__OP_CONSTANT] = {"Constant", 0, 0, 0, 1, 1},
};

static const struct {
    deja__onnx_op op;
    const char *name;
    int32_t type;
} attr_table[] = {
    {DEJA__OP_CONV, "auto_pad", DEJA__ATTR_STRING},
    {DEJA__OP_CONV, "dilations", DEJA__ATTR_INTS},
    {DEJA__OP_CONV, "group", DEJA__ATTR_INT},
    {DEJA__OP_CONV, "kernel_shape", DEJA__ATTR_INTS},
    {DEJA__OP_CONV, "pads", DEJA__ATTR_INTS},
    {DEJA__OP_CONV, "strides", DEJA__ATTR_INTS},
    {DEJA__OP_MAXPOOL, "auto_pad", DEJA__ATTR_STRING},
    {DEJA__OP_MAXPOOL, "ceil_mode", DEJA__ATTR_INT},
    {DEJA__OP_MAXPOOL, "dilations", DEJA__ATTR_INTS},
    {DEJA__OP_MAXPOOL, "kernel_shape", DEJA__ATTR_INTS},
    {DEJA__OP_MAXPOOL, "pads", DEJA__ATTR_INTS},
    {DEJA__OP_MAXPOOL, "storage_order", DEJA__ATTR_INT},
    {DEJA__OP_MAXPOOL, "strides", DEJA__ATTR_INTS},
    {DEJA__OP_RESIZE, "coordinate_transformation_mode", DEJA__ATTR_STRING},
    {DEJA__OP_RESIZE, "cubic_coeff_a", DEJA__ATTR_FLOAT},
    {DEJA__OP_RESIZE, "exclude_outside", DEJA__ATTR_INT},
    {DEJA__OP_RESIZE, "extrapolation_value", DEJA__ATTR_FLOAT},
    {DEJA__OP_RESIZE, "mode", DEJA__ATTR_STRING},
    {DEJA__OP_RESIZE, "nearest_mode", DEJA__ATTR_STRING},
    {DEJA__OP_CONCAT, "axis", DEJA__ATTR_INT},
    {DEJA__OP_REDUCEL2, "axes", DEJA__ATTR_INTS},
    {DEJA__OP_REDUCEL2, "keepdims", DEJA__ATTR_INT},
    {DEJA__OP_FLATTEN, "axis", DEJA__ATTR_INT},
    {DEJA__OP_CONSTANT, "value", DEJA__ATTR_TENSOR},
    {DEJA__OP_CONSTANT, "value_float", DEJA__ATTR_FLOAT},
    {DEJA__OP_CONSTANT, "value_floats", DEJA__ATTR_FLOATS},
    {DEJA__OP_CONSTANT, "value_int", DEJA__ATTR_INT},
    {DEJA__OP_CONSTANT, "value_ints", DEJA__ATTR_INTS},
};

const deja__onnx_op_info *deja__onnx_op_get(deja__onnx_op op)
{
    return (unsigned)op < DEJA__OP_COUNT ? &op_table[op] : NULL;
}

const char *deja__onnx_op_name(deja__onnx_op op)
{
    return (unsigned)op < DEJA__OP_COUNT ? op_table[op].name : "unsupported";
}

deja__onnx_op deja__onnx_op_from_name(const char *op_type)
{
    for (int i = 0; i < DEJA__OP_COUNT; i++)
        if (strcmp(op_table[i].name, op_type) == 0) return (deja__onnx_op)i;
    return DEJA__OP_UNSUPPORTED;
}

int32_t deja__onnx_op_attr_type(deja__onnx_op op, const char *attr)
{
    for (size_t i = 0; i < sizeof attr_table / sizeof attr_table[0]; i++)
        if (attr_table[i].op == op && strcmp(attr_table[i].name, attr) == 0)
            return attr_table[i].type;
    return 0;
}

const char *deja__onnx_dtype_name(int32_t dtype)
{
    static const char *const names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                        "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                        "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    if (dtype >= 0 && dtype < (int32_t)(sizeof names / sizeof names[0])) return names[dtype];
    return "unknown type";
}

size_t deja__onnx_dtype_bytes(int32_t dtype)
{
    return dtype == DEJA__ONNX_FLOAT ? 4 : dtype == DEJA__ONNX_INT64 ? 8 : 0;
}

const char *deja__onnx_attr_type_name(int32_t type)
{
    static const char *const names[] = {
        "UNDEFINED",      "FLOAT",      "INT",        "STRING",  "TENSOR", "GRAPH",
        "FLOATS",         "INTS",       "STRINGS",    "TENSORS", "GRAPHS", "SPARSE_TENSOR",
        "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
    if (type >= 0 && type < (int32_t)(sizeof names / sizeof names[0])) return names[type];
    return "unknown";
}

/* ---- lookups --------------------------------------------------------------------------- */

int32_t deja__onnx_find_value(const deja__onnx_model *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].name, name) == 0) return (int32_t)i;
    return -1;
}

uint32_t deja__onnx_count_op(const deja__onnx_model *m, deja__onnx_op op)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        n += m->nodes[i].op == op;
    return n;
}

const deja__onnx_attr *deja__onnx_attr_find(const deja__onnx_node *n, const char *name)
{
    for (uint32_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t deja__onnx_attr_int(const deja__onnx_node *n, const char *name, int64_t def)
{
    const deja__onnx_attr *a = deja__onnx_attr_find(n, name);
    return a && a->type == DEJA__ATTR_INT ? a->i : def;
}

float deja__onnx_attr_float(const deja__onnx_node *n, const char *name, float def)
{
    const deja__onnx_attr *a = deja__onnx_attr_find(n, name);
    return a && a->type == DEJA__ATTR_FLOAT ? a->f : def;
}

const char *deja__onnx_attr_string(const deja__onnx_node *n, const char *name, const char *def)
{
    const deja__onnx_attr *a = deja__onnx_attr_find(n, name);
    return a && a->type == DEJA__ATTR_STRING ? a->s : def;
}

/* ---- Conv / MaxPool window ------------------------------------------------------------- */

#define NODE_ERR(st, ...) deja__onnx_node_error(m, ni, err, st, __FILE__, __LINE__, __VA_ARGS__)

deja_status deja__onnx_node_error(const deja__onnx_model *m, uint32_t ni, char *err, deja_status st,
                                  const char *file, int line, const char *fmt, ...)
{
    char msg[DEJA_ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const deja__onnx_node *nd = &m->nodes[ni];
    return deja__error(err, st, file, line, "%s: graph.node[%u] '%.80s' (%s): %s", m->source, ni,
                       nd->name, nd->op_type, msg);
}

/* Reads INTS attribute name into out[want] (absent: def for each); checks the length and that
 * every value is in [lo, hi]. */
static deja_status window_ints(const deja__onnx_model *m, uint32_t ni, const char *name,
                               int64_t *out, uint32_t want, int64_t def, int64_t lo, int64_t hi,
                               bool required, char *err)
{
    const deja__onnx_node *nd = &m->nodes[ni];
    const deja__onnx_attr *a = deja__onnx_attr_find(nd, name);
    if (!a) {
        if (required) return NODE_ERR(DEJA_FORMAT, "attribute %s is required", name);
        for (uint32_t i = 0; i < want; i++)
            out[i] = def;
        return DEJA_OK;
    }
    if (a->type != DEJA__ATTR_INTS)
        return NODE_ERR(DEJA_FORMAT, "attribute %s has type %s, expected INTS", name,
                        deja__onnx_attr_type_name(a->type));
    if (a->n != want)
        return NODE_ERR(DEJA_UNSUPPORTED,
                        "attribute %s has %zu values, expected %u (2-D spatial only)", name, a->n,
                        want);
    for (uint32_t i = 0; i < want; i++) {
        if (a->ints[i] < lo || a->ints[i] > hi)
            return NODE_ERR(DEJA_FORMAT, "attribute %s[%u] = %lld outside [%lld, %lld]", name, i,
                            (long long)a->ints[i], (long long)lo, (long long)hi);
        out[i] = a->ints[i];
    }
    return DEJA_OK;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

deja_status deja__onnx_window_params(const deja__onnx_model *m, uint32_t ni,
                                     const int64_t *kernel_dims, deja__onnx_window *w, char *err)
{
    if (ni >= m->n_nodes) return DEJA_ERR(err, DEJA_INVALID_ARG, "node %u >= %u", ni, m->n_nodes);
    const deja__onnx_node *nd = &m->nodes[ni];
    bool conv = nd->op == DEJA__OP_CONV;
    if (!conv && nd->op != DEJA__OP_MAXPOOL)
        return NODE_ERR(DEJA_INVALID_ARG, "not a Conv or MaxPool node");
    memset(w, 0, sizeof *w);
    const int64_t hi = DEJA__ONNX_MAX_WINDOW;
    CHECK(window_ints(m, ni, "kernel_shape", w->kernel, 2, 0, 1, hi, !conv, err));
    CHECK(window_ints(m, ni, "strides", w->stride, 2, 1, 1, hi, false, err));
    CHECK(window_ints(m, ni, "dilations", w->dilation, 2, 1, 1, hi, false, err));
    CHECK(window_ints(m, ni, "pads", w->pad, 4, 0, 0, hi, false, err));
    const char *auto_pad = deja__onnx_attr_string(nd, "auto_pad", "NOTSET");
    if (strcmp(auto_pad, "VALID") == 0) {
        memset(w->pad, 0, sizeof w->pad);
    } else if (strcmp(auto_pad, "NOTSET") != 0) {
        return NODE_ERR(DEJA_UNSUPPORTED, "auto_pad '%.64s' not supported (NOTSET, VALID)",
                        auto_pad);
    }
    w->group = 1;
    if (conv) {
        w->group = deja__onnx_attr_int(nd, "group", 1);
        if (w->group < 1 || w->group > DEJA__ONNX_MAX_ELEMS)
            return NODE_ERR(DEJA_FORMAT, "group %lld outside [1, %lld]", (long long)w->group,
                            (long long)DEJA__ONNX_MAX_ELEMS);
        bool given = deja__onnx_attr_find(nd, "kernel_shape") != NULL;
        if (!given && !kernel_dims)
            return NODE_ERR(DEJA_FORMAT, "no kernel_shape and no weight dims to take it from");
        for (int i = 0; i < 2 && kernel_dims; i++) {
            if (given && kernel_dims[i] != w->kernel[i])
                return NODE_ERR(DEJA_FORMAT, "kernel_shape[%d] = %lld but the weight has %lld", i,
                                (long long)w->kernel[i], (long long)kernel_dims[i]);
            if (kernel_dims[i] < 1 || kernel_dims[i] > hi)
                return NODE_ERR(DEJA_FORMAT, "weight kernel dim %lld outside [1, %lld]",
                                (long long)kernel_dims[i], (long long)hi);
            w->kernel[i] = kernel_dims[i];
        }
    } else {
        int64_t ceil_mode = deja__onnx_attr_int(nd, "ceil_mode", 0);
        if (ceil_mode != 0 && ceil_mode != 1)
            return NODE_ERR(DEJA_FORMAT, "ceil_mode %lld is neither 0 nor 1", (long long)ceil_mode);
        w->ceil_mode = ceil_mode == 1;
    }
    return DEJA_OK;
}
