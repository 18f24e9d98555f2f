/* model_shape.c - static shape inference over a loaded model for concrete input shapes.
 *
 * How it works: nodes are in topological order (checked at load), so one pass in file order
 * sees every input's shape before its consumers. Each operator applies its rule from the ONNX
 * operator specs (opset 13): numpy-style multidirectional broadcasting for the elementwise ops;
 * out = floor((in + pad_begin + pad_end - ((k - 1) * dilation + 1)) / stride) + 1 for Conv and
 * MaxPool (ceil instead of floor with ceil_mode, dropping a last window that would start in the
 * end padding); Resize floor(in * scale) from a constant scales input (or constant sizes); Slice
 * with constant starts/ends/axes/steps, negative indices counted from the end and clamped as the
 * spec says (INT64_MAX = "to the end"); Concat, ReduceL2 (keepdims), Flatten, GlobalAveragePool.
 * All dims stay <= DEJA__ONNX_MAX_ELEMS and every product is overflow-checked. Declared output
 * dims, fixed or symbolic (a name bound by the inputs, e.g. H), are checked against the result. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NERR(st, ...) deja__onnx_node_error(m, ni, err, st, __FILE__, __LINE__, __VA_ARGS__)

#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

static int64_t mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t deja__onnx_shape_count(const deja__onnx_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n = mul_sat(n, s->dims[i]);
    return n;
}

void deja__onnx_shape_text(const deja__onnx_shape *s, char *out, size_t size)
{
    if (size == 0) return;
    out[0] = '\0';
    if (s->rank <= 0) {
        snprintf(out, size, s->rank == 0 ? "scalar" : "unknown");
        return;
    }
    size_t k = 0;
    for (int i = 0; i < s->rank && k < size; i++) {
        int w = snprintf(out + k, size - k, "%s%lld", i ? "x" : "", (long long)s->dims[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

/* Shared state of one inference run. */
typedef struct ctx {
    const deja__onnx_model *m;
    deja__onnx_shape *shapes;
    char *err;
} ctx;

/* Input i of node ni, or NULL when absent (omitted or ""). */
static const deja__onnx_shape *in_shape(const ctx *c, uint32_t ni, uint32_t i)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    if (i >= nd->n_inputs || nd->inputs[i] < 0) return NULL;
    return &c->shapes[nd->inputs[i]];
}

static const char *in_name(const ctx *c, uint32_t ni, uint32_t i)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    return i < nd->n_inputs && nd->inputs[i] >= 0 ? c->m->values[nd->inputs[i]].name : "";
}

/* The constant tensor behind input i (initializer or Constant output), or NULL. */
static const deja__onnx_tensor *in_const(const ctx *c, uint32_t ni, uint32_t i)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    if (i >= nd->n_inputs || nd->inputs[i] < 0) return NULL;
    return c->m->values[nd->inputs[i]].tensor;
}

static deja_status need(const ctx *c, uint32_t ni, uint32_t i, int rank, int32_t dtype)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_shape *s = in_shape(c, ni, i);
    char t[96];
    deja__onnx_shape_text(s, t, sizeof t);
    if (rank >= 0 && s->rank != rank)
        return NERR(DEJA_UNSUPPORTED, "input[%u] '%s' has shape %s (rank %d), expected rank %d", i,
                    in_name(c, ni, i), t, s->rank, rank);
    if (dtype && s->dtype != dtype)
        return NERR(DEJA_FORMAT, "input[%u] '%s' is %s, expected %s", i, in_name(c, ni, i),
                    deja__onnx_dtype_name(s->dtype), deja__onnx_dtype_name(dtype));
    return DEJA_OK;
}

/* ---- per-op rules ---------------------------------------------------------------------- */

static deja_status broadcast(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_shape *a = in_shape(c, ni, 0), *b = in_shape(c, ni, 1);
    bool pow = m->nodes[ni].op == DEJA__OP_POW;
    if (!pow && a->dtype != b->dtype)
        return NERR(DEJA_FORMAT, "inputs '%s' (%s) and '%s' (%s) differ in type", in_name(c, ni, 0),
                    deja__onnx_dtype_name(a->dtype), in_name(c, ni, 1),
                    deja__onnx_dtype_name(b->dtype));
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->dtype = a->dtype;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char ta[96], tb[96];
            deja__onnx_shape_text(a, ta, sizeof ta);
            deja__onnx_shape_text(b, tb, sizeof tb);
            return NERR(DEJA_FORMAT,
                        "shapes %s ('%s') and %s ('%s') do not broadcast (axis %d: %lld vs %lld)",
                        ta, in_name(c, ni, 0), tb, in_name(c, ni, 1), i, (long long)da,
                        (long long)db);
        }
        out->dims[i] = da == 1 ? db : da;
    }
    return DEJA_OK;
}

/* One spatial axis of a Conv / MaxPool window. */
static deja_status window_axis(const ctx *c, uint32_t ni, int axis, int64_t in,
                               const deja__onnx_window *w, int64_t *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    int64_t padded = in + w->pad[axis] + w->pad[axis + 2];
    int64_t span = (w->kernel[axis] - 1) * w->dilation[axis] + 1;
    if (padded < span)
        return NERR(DEJA_FORMAT,
                    "window %lld (kernel %lld, dilation %lld) larger than the padded input %lld "
                    "on spatial axis %d",
                    (long long)span, (long long)w->kernel[axis], (long long)w->dilation[axis],
                    (long long)padded, axis);
    int64_t s = w->stride[axis], n = padded - span;
    int64_t o = (w->ceil_mode ? (n + s - 1) / s : n / s) + 1;
    /* ceil_mode: the last window must start inside the input or the begin padding. */
    if (w->ceil_mode && (o - 1) * s >= in + w->pad[axis]) o--;
    *out = o;
    return DEJA_OK;
}

static deja_status conv(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    CHECK(need(c, ni, 0, 4, DEJA__ONNX_FLOAT));
    CHECK(need(c, ni, 1, 4, DEJA__ONNX_FLOAT));
    const deja__onnx_shape *x = in_shape(c, ni, 0), *wt = in_shape(c, ni, 1);
    deja__onnx_window w;
    CHECK(deja__onnx_window_params(m, ni, &wt->dims[2], &w, err));
    int64_t cin = x->dims[1], cout = wt->dims[0];
    if (mul_sat(wt->dims[1], w.group) != cin)
        return NERR(DEJA_FORMAT,
                    "input '%s' has %lld channels but weight '%s' takes %lld x group %lld",
                    in_name(c, ni, 0), (long long)cin, in_name(c, ni, 1), (long long)wt->dims[1],
                    (long long)w.group);
    if (cout % w.group != 0)
        return NERR(DEJA_FORMAT, "%lld output channels not divisible by group %lld",
                    (long long)cout, (long long)w.group);
    const deja__onnx_shape *b = in_shape(c, ni, 2);
    if (b) {
        CHECK(need(c, ni, 2, 1, DEJA__ONNX_FLOAT));
        if (b->dims[0] != cout)
            return NERR(DEJA_FORMAT, "bias '%s' has %lld values for %lld output channels",
                        in_name(c, ni, 2), (long long)b->dims[0], (long long)cout);
    }
    out->dtype = DEJA__ONNX_FLOAT;
    out->rank = 4;
    out->dims[0] = x->dims[0];
    out->dims[1] = cout;
    CHECK(window_axis(c, ni, 0, x->dims[2], &w, &out->dims[2]));
    return window_axis(c, ni, 1, x->dims[3], &w, &out->dims[3]);
}

static deja_status maxpool(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    CHECK(need(c, ni, 0, 4, DEJA__ONNX_FLOAT));
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    deja__onnx_window w;
    CHECK(deja__onnx_window_params(c->m, ni, NULL, &w, c->err));
    *out = *x;
    CHECK(window_axis(c, ni, 0, x->dims[2], &w, &out->dims[2]));
    return window_axis(c, ni, 1, x->dims[3], &w, &out->dims[3]);
}

/* Clip's optional min / max: one element of the input's type. */
static deja_status clip(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    *out = *in_shape(c, ni, 0);
    for (uint32_t i = 1; i < 3; i++) {
        const deja__onnx_shape *s = in_shape(c, ni, i);
        if (!s) continue;
        CHECK(need(c, ni, i, -1, out->dtype));
        if (deja__onnx_shape_count(s) != 1)
            return NERR(DEJA_FORMAT, "%s '%s' has %lld elements, expected a scalar",
                        i == 1 ? "min" : "max", in_name(c, ni, i),
                        (long long)deja__onnx_shape_count(s));
    }
    return DEJA_OK;
}

static deja_status resize(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    CHECK(need(c, ni, 0, -1, DEJA__ONNX_FLOAT));
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    const deja__onnx_shape *ss = in_shape(c, ni, 2), *zs = in_shape(c, ni, 3);
    bool use_scales = ss && deja__onnx_shape_count(ss) > 0;
    bool use_sizes = zs && deja__onnx_shape_count(zs) > 0;
    if (use_scales == use_sizes)
        return NERR(DEJA_FORMAT, "needs exactly one of scales and sizes (%s given)",
                    use_scales ? "both" : "neither");
    uint32_t i = use_scales ? 2 : 3;
    const deja__onnx_tensor *t = in_const(c, ni, i);
    if (!t)
        return NERR(DEJA_UNSUPPORTED, "%s '%s' is computed at run time; deja needs a constant",
                    use_scales ? "scales" : "sizes", in_name(c, ni, i));
    int32_t want = use_scales ? DEJA__ONNX_FLOAT : DEJA__ONNX_INT64;
    if (t->dtype != want || t->count != (size_t)x->rank)
        return NERR(DEJA_FORMAT, "%s '%s' is %zu x %s, expected %d x %s",
                    use_scales ? "scales" : "sizes", in_name(c, ni, i), t->count,
                    deja__onnx_dtype_name(t->dtype), x->rank, deja__onnx_dtype_name(want));
    *out = *x;
    for (int a = 0; a < x->rank; a++) {
        if (use_sizes) {
            int64_t v = deja__onnx_tensor_i64(t)[a];
            if (v < 0 || v > DEJA__ONNX_MAX_ELEMS)
                return NERR(DEJA_FORMAT, "sizes[%d] = %lld outside [0, %lld]", a, (long long)v,
                            (long long)DEJA__ONNX_MAX_ELEMS);
            out->dims[a] = v;
            continue;
        }
        double s = deja__onnx_tensor_f32(t)[a], d = (double)x->dims[a] * s;
        if (!(s > 0) || !isfinite(s) || !(d <= (double)DEJA__ONNX_MAX_ELEMS))
            return NERR(DEJA_FORMAT, "scales[%d] = %g gives axis %g from %lld (limit %lld)", a, s,
                        d, (long long)x->dims[a], (long long)DEJA__ONNX_MAX_ELEMS);
        out->dims[a] = (int64_t)floor(d);
    }
    return DEJA_OK;
}

static deja_status concat(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_node *nd = &m->nodes[ni];
    const deja__onnx_shape *first = in_shape(c, ni, 0);
    if (!deja__onnx_attr_find(nd, "axis")) return NERR(DEJA_FORMAT, "attribute axis is required");
    int64_t axis = deja__onnx_attr_int(nd, "axis", 0), r = first->rank;
    if (axis < -r || axis >= r)
        return NERR(DEJA_FORMAT, "axis %lld outside [%lld, %lld]", (long long)axis, (long long)-r,
                    (long long)(r - 1));
    if (axis < 0) axis += r;
    *out = *first;
    for (uint32_t i = 1; i < nd->n_inputs; i++) {
        const deja__onnx_shape *s = in_shape(c, ni, i);
        CHECK(need(c, ni, i, (int)r, first->dtype));
        for (int a = 0; a < r; a++) {
            if (a == axis) continue;
            if (s->dims[a] != first->dims[a]) {
                char t0[96], t1[96];
                deja__onnx_shape_text(first, t0, sizeof t0);
                deja__onnx_shape_text(s, t1, sizeof t1);
                return NERR(DEJA_FORMAT, "input[%u] '%s' is %s but input[0] is %s (axis %lld)", i,
                            in_name(c, ni, i), t1, t0, (long long)axis);
            }
        }
        out->dims[axis] += s->dims[axis]; /* each <= MAX_ELEMS, at most MAX_NODE_IO of them */
    }
    return DEJA_OK;
}

/* Slice's constant index input i (INT64, 1-D, k elements); NULL when absent. */
static deja_status slice_arg(const ctx *c, uint32_t ni, uint32_t i, const char *what, size_t k,
                             const int64_t **out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    *out = NULL;
    if (!in_shape(c, ni, i)) return DEJA_OK;
    const deja__onnx_tensor *t = in_const(c, ni, i);
    if (!t)
        return NERR(DEJA_UNSUPPORTED, "%s '%s' is computed at run time; deja needs a constant",
                    what, in_name(c, ni, i));
    if (t->dtype != DEJA__ONNX_INT64 || t->rank != 1 || (k != SIZE_MAX && t->count != k))
        return NERR(DEJA_FORMAT, "%s '%s' must be a 1-D INT64 tensor of %zu values", what,
                    in_name(c, ni, i), k == SIZE_MAX ? t->count : k);
    *out = deja__onnx_tensor_i64(t);
    return DEJA_OK;
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static deja_status slice(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    const int64_t *starts, *ends, *axes, *steps;
    CHECK(slice_arg(c, ni, 1, "starts", SIZE_MAX, &starts));
    size_t k = in_const(c, ni, 1)->count;
    if (k > (size_t)x->rank) return NERR(DEJA_FORMAT, "%zu starts for a rank-%d input", k, x->rank);
    CHECK(slice_arg(c, ni, 2, "ends", k, &ends));
    CHECK(slice_arg(c, ni, 3, "axes", k, &axes));
    CHECK(slice_arg(c, ni, 4, "steps", k, &steps));
    *out = *x;
    bool seen[DEJA__ONNX_MAX_RANK] = {false};
    for (size_t i = 0; i < k; i++) {
        int64_t a = axes ? axes[i] : (int64_t)i, r = x->rank;
        if (a < -r || a >= r)
            return NERR(DEJA_FORMAT, "axes[%zu] = %lld outside [%lld, %lld]", i, (long long)a,
                        (long long)-r, (long long)(r - 1));
        if (a < 0) a += r;
        if (seen[a]) return NERR(DEJA_FORMAT, "axis %lld sliced twice", (long long)a);
        seen[a] = true;
        int64_t step = steps ? steps[i] : 1, d = x->dims[a];
        if (step == 0) return NERR(DEJA_FORMAT, "steps[%zu] is 0", i);
        int64_t s = starts[i], e = ends[i];
        if (s < 0) s += d; /* no overflow: d >= 0 */
        if (e < 0) e += d;
        if (step > 0) {
            s = clamp64(s, 0, d);
            e = clamp64(e, 0, d);
        } else {
            s = clamp64(s, 0, d - 1);
            e = clamp64(e, -1, d - 1);
        }
        /* count = ceil(span / |step|), spans <= d + 1, written to avoid step overflow */
        uint64_t mag = step > 0 ? (uint64_t)step : (uint64_t)0 - (uint64_t)step;
        int64_t span = step > 0 ? e - s : s - e;
        out->dims[a] = span > 0 && d > 0 ? (int64_t)(((uint64_t)span - 1) / mag + 1) : 0;
    }
    return DEJA_OK;
}

static deja_status reduce_l2(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_node *nd = &m->nodes[ni];
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    const deja__onnx_attr *axes = deja__onnx_attr_find(nd, "axes");
    int64_t keep = deja__onnx_attr_int(nd, "keepdims", 1), r = x->rank;
    bool red[DEJA__ONNX_MAX_RANK] = {false};
    if (keep != 0 && keep != 1)
        return NERR(DEJA_FORMAT, "keepdims %lld is neither 0 nor 1", (long long)keep);
    for (int a = 0; a < r && !(axes && axes->n); a++)
        red[a] = true; /* no axes: reduce all */
    for (size_t i = 0; axes && i < axes->n; i++) {
        int64_t a = axes->ints[i];
        if (a < -r || a >= r)
            return NERR(DEJA_FORMAT, "axes[%zu] = %lld outside [%lld, %lld]", i, (long long)a,
                        (long long)-r, (long long)(r - 1));
        if (a < 0) a += r;
        if (red[a]) return NERR(DEJA_FORMAT, "axis %lld reduced twice", (long long)a);
        red[a] = true;
    }
    out->dtype = x->dtype;
    out->rank = 0;
    for (int a = 0; a < r; a++) {
        if (!red[a])
            out->dims[out->rank++] = x->dims[a];
        else if (keep)
            out->dims[out->rank++] = 1;
    }
    return DEJA_OK;
}

static deja_status flatten(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    int64_t axis = deja__onnx_attr_int(&m->nodes[ni], "axis", 1), r = x->rank;
    if (axis < -r || axis > r)
        return NERR(DEJA_FORMAT, "axis %lld outside [%lld, %lld]", (long long)axis, (long long)-r,
                    (long long)r);
    if (axis < 0) axis += r;
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < r; a++) {
        if (a < axis)
            outer = mul_sat(outer, x->dims[a]);
        else
            inner = mul_sat(inner, x->dims[a]);
    }
    out->dtype = x->dtype;
    out->rank = 2;
    out->dims[0] = outer;
    out->dims[1] = inner;
    return DEJA_OK;
}

static deja_status global_pool(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    char *err = c->err;
    CHECK(need(c, ni, 0, -1, DEJA__ONNX_FLOAT));
    const deja__onnx_shape *x = in_shape(c, ni, 0);
    if (x->rank < 3) return NERR(DEJA_FORMAT, "input rank %d < 3 (N, C, spatial...)", x->rank);
    *out = *x;
    for (int a = 2; a < x->rank; a++)
        out->dims[a] = 1;
    return DEJA_OK;
}

static deja_status infer_node(const ctx *c, uint32_t ni, deja__onnx_shape *out)
{
    const deja__onnx_model *m = c->m;
    const deja__onnx_node *nd = &m->nodes[ni];
    switch (nd->op) {
    case DEJA__OP_CONV:
        return conv(c, ni, out);
    case DEJA__OP_MAXPOOL:
        return maxpool(c, ni, out);
    case DEJA__OP_RELU:
        *out = *in_shape(c, ni, 0);
        return DEJA_OK;
    case DEJA__OP_SIGMOID:
        CHECK(need(c, ni, 0, -1, DEJA__ONNX_FLOAT));
        *out = *in_shape(c, ni, 0);
        return DEJA_OK;
    case DEJA__OP_CLIP:
        return clip(c, ni, out);
    case DEJA__OP_ADD:
    case DEJA__OP_MUL:
    case DEJA__OP_SUB:
    case DEJA__OP_DIV:
    case DEJA__OP_POW:
        return broadcast(c, ni, out);
    case DEJA__OP_RESIZE:
        return resize(c, ni, out);
    case DEJA__OP_CONCAT:
        return concat(c, ni, out);
    case DEJA__OP_SLICE:
        return slice(c, ni, out);
    case DEJA__OP_REDUCEL2:
        return reduce_l2(c, ni, out);
    case DEJA__OP_GLOBALAVERAGEPOOL:
        return global_pool(c, ni, out);
    case DEJA__OP_FLATTEN:
        return flatten(c, ni, out);
    case DEJA__OP_CONSTANT:
    default: {
        const deja__onnx_value *v = &m->values[nd->outputs[0]];
        out->dtype = v->tensor->dtype;
        out->rank = v->tensor->rank;
        memcpy(out->dims, v->tensor->dims, sizeof out->dims);
        return DEJA_OK;
    }
    }
}

/* ---- driver ---------------------------------------------------------------------------- */

static deja_status check_size(const deja__onnx_model *m, const deja__onnx_value *v,
                              const deja__onnx_shape *s, char *err, int32_t ni)
{
    int64_t n = 1;
    for (int a = 0; a < s->rank; a++) {
        if (s->dims[a] < 0 || s->dims[a] > DEJA__ONNX_MAX_ELEMS)
            n = INT64_MAX;
        else
            n = mul_sat(n, s->dims[a]);
    }
    if (n <= DEJA__ONNX_MAX_ELEMS) return DEJA_OK;
    char t[128];
    deja__onnx_shape_text(s, t, sizeof t);
    if (ni >= 0)
        return deja__onnx_node_error(m, (uint32_t)ni, err, DEJA_LIMIT, __FILE__, __LINE__,
                                     "output '%s' of shape %s exceeds %lld elements", v->name, t,
                                     (long long)DEJA__ONNX_MAX_ELEMS);
    return DEJA_ERR(err, DEJA_LIMIT, "%s: value '%s' of shape %s exceeds %lld elements", m->source,
                    v->name, t, (long long)DEJA__ONNX_MAX_ELEMS);
}

/* A symbolic dim of a graph output must equal the same symbol on an input. */
static int64_t symbol_value(const deja__onnx_model *m, const deja__onnx_shape *shapes,
                            const char *param)
{
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        const deja__onnx_value *v = &m->values[m->inputs[i]];
        for (int a = 0; a < v->rank; a++)
            if (v->dims[a].param && strcmp(v->dims[a].param, param) == 0)
                return shapes[m->inputs[i]].dims[a];
    }
    return -1;
}

static deja_status check_declared(const deja__onnx_model *m, const deja__onnx_shape *shapes,
                                  char *err)
{
    for (uint32_t i = 0; i < m->n_outputs; i++) {
        const deja__onnx_value *v = &m->values[m->outputs[i]];
        const deja__onnx_shape *s = &shapes[m->outputs[i]];
        char t[128];
        deja__onnx_shape_text(s, t, sizeof t);
        if (v->rank >= 0 && v->rank != s->rank)
            return DEJA_ERR(err, DEJA_FORMAT,
                            "%s: graph.output[%u] '%s' is declared rank %d but "
                            "computes to %s",
                            m->source, i, v->name, v->rank, t);
        for (int a = 0; v->rank >= 0 && a < v->rank; a++) {
            int64_t want = v->dims[a].value;
            if (want < 0 && v->dims[a].param) want = symbol_value(m, shapes, v->dims[a].param);
            if (want >= 0 && want != s->dims[a])
                return DEJA_ERR(
                    err, DEJA_FORMAT,
                    "%s: graph.output[%u] '%s' computes to %s but dim %d is declared "
                    "%lld%s%s%s",
                    m->source, i, v->name, t, a, (long long)want, v->dims[a].param ? " ('" : "",
                    v->dims[a].param ? v->dims[a].param : "", v->dims[a].param ? "')" : "");
        }
        if (v->dtype && v->dtype != s->dtype)
            return DEJA_ERR(err, DEJA_FORMAT,
                            "%s: graph.output[%u] '%s' is declared %s but "
                            "computes to %s",
                            m->source, i, v->name, deja__onnx_dtype_name(v->dtype),
                            deja__onnx_dtype_name(s->dtype));
    }
    return DEJA_OK;
}

static deja_status set_input(const deja__onnx_model *m, uint32_t i, const deja__onnx_shape *given,
                             deja__onnx_shape *s, char *err)
{
    const deja__onnx_value *v = &m->values[m->inputs[i]];
    *s = *given;
    if (s->dtype == DEJA__ONNX_UNDEFINED) s->dtype = v->dtype;
    if (s->dtype != DEJA__ONNX_FLOAT && s->dtype != DEJA__ONNX_INT64)
        return DEJA_ERR(err, DEJA_UNSUPPORTED, "%s: input '%s' has type %s (FLOAT, INT64 only)",
                        m->source, v->name, deja__onnx_dtype_name(s->dtype));
    if (s->rank < 0 || s->rank > DEJA__ONNX_MAX_RANK || (v->rank >= 0 && s->rank != v->rank))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: input '%s' given rank %d, declared %d",
                        m->source, v->name, s->rank, v->rank);
    for (int a = 0; a < s->rank; a++) {
        int64_t d = s->dims[a], want = v->rank >= 0 ? v->dims[a].value : -1;
        if (d < 1 || d > DEJA__ONNX_MAX_ELEMS || (want >= 0 && d != want))
            return DEJA_ERR(err, DEJA_INVALID_ARG,
                            "%s: input '%s' dim %d = %lld (declared %lld%s%s%s; range 1..%lld)",
                            m->source, v->name, a, (long long)d, (long long)want,
                            v->dims[a].param ? " '" : "", v->dims[a].param ? v->dims[a].param : "",
                            v->dims[a].param ? "'" : "", (long long)DEJA__ONNX_MAX_ELEMS);
    }
    return check_size(m, v, s, err, -1);
}

deja_status deja__onnx_infer_shapes(const deja__onnx_model *m, const deja__onnx_shape *inputs,
                                    deja__onnx_shape *shapes, char *err)
{
    if (!m || !shapes || (m->n_inputs && !inputs))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "infer_shapes: NULL model, inputs or shapes");
    for (uint32_t i = 0; i < m->n_values; i++) {
        shapes[i] = (deja__onnx_shape){DEJA__ONNX_UNDEFINED, -1, {0}};
        const deja__onnx_tensor *t = m->values[i].tensor;
        if (!t) continue;
        shapes[i].dtype = t->dtype;
        shapes[i].rank = t->rank;
        memcpy(shapes[i].dims, t->dims, sizeof t->dims);
        CHECK(check_size(m, &m->values[i], &shapes[i], err, -1));
    }
    for (uint32_t i = 0; i < m->n_inputs; i++)
        CHECK(set_input(m, i, &inputs[i], &shapes[m->inputs[i]], err));
    ctx c = {m, shapes, err};
    for (uint32_t ni = 0; ni < m->n_nodes; ni++) {
        const deja__onnx_node *nd = &m->nodes[ni];
        for (uint32_t i = 0; i < nd->n_inputs; i++)
            if (nd->inputs[i] >= 0 && shapes[nd->inputs[i]].rank < 0)
                return deja__onnx_node_error(m, ni, err, DEJA_STATE, __FILE__, __LINE__,
                                             "input '%s' has no shape yet",
                                             m->values[nd->inputs[i]].name);
        deja__onnx_shape out;
        memset(&out, 0, sizeof out);
        CHECK(infer_node(&c, ni, &out));
        const deja__onnx_value *v = &m->values[nd->outputs[0]];
        CHECK(check_size(m, v, &out, err, (int32_t)ni));
        shapes[nd->outputs[0]] = out;
        if (nd->op == DEJA__OP_MAXPOOL && nd->n_outputs > 1 && nd->outputs[1] >= 0) {
            out.dtype = DEJA__ONNX_INT64; /* Indices */
            shapes[nd->outputs[1]] = out;
        }
    }
    return check_declared(m, shapes, err);
}

deja_status deja__onnx_infer_shapes1(const deja__onnx_model *m, const int64_t *dims, int rank,
                                     deja__onnx_shape *shapes, char *err)
{
    if (!m || !dims || m->n_inputs != 1 || rank < 0 || rank > DEJA__ONNX_MAX_RANK)
        return DEJA_ERR(err, DEJA_INVALID_ARG,
                        "infer_shapes1: needs a model with 1 run-time input (has %u) and rank "
                        "0..%d (got %d)",
                        m ? m->n_inputs : 0, DEJA__ONNX_MAX_RANK, rank);
    deja__onnx_shape in = {DEJA__ONNX_UNDEFINED, rank, {0}};
    memcpy(in.dims, dims, (size_t)rank * sizeof *dims);
    return deja__onnx_infer_shapes(m, &in, shapes, err);
}
