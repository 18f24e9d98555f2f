/* engine_build.c - one node of the model -> the engine's steps, with the fusions that look back.
 *
 * Each builder checks what the kernels (ops.h) can do and fails naming the node otherwise. The
 * fusions: a Relu/Clip merges its clamp into the Conv or binary step that wrote its single-use
 * input (a clamp of a clamp is a clamp); an Add of a single-use Conv output c and a tensor t
 * becomes that Conv accumulating into t's storage when nothing reads or writes t's bytes between
 * the Conv and the Add; Slice (one axis, step 1, leading dims 1) and Flatten alias their input;
 * elementwise steps write over an input whose bytes nothing reads later.
 *
 * Storage is a tree of aliases: a value either owns a buffer (a root) or lives at an offset in
 * another value's storage. Overlap checks walk the root's tree, so a Slice view keeps its bytes
 * alive while a neighbouring slice of the same buffer is overwritten. */
#include "engine_impl.h"

#include <math.h>
#include <string.h>

#define NERR(st, ...) deja__onnx_node_error(c->m, ni, c->err, st, __FILE__, __LINE__, __VA_ARGS__)
#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

/* ---- small helpers --------------------------------------------------------------------- */

static const char *vname(const deja__eng_ctx *c, int32_t v)
{
    return v >= 0 ? c->m->values[v].name : "";
}

static int to_int(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int)v;
}

static deja__eng_ref ref(int32_t v, size_t extra)
{
    deja__eng_ref r = {v, extra, NULL, false, 0};
    return r;
}

int32_t deja__eng_root(const deja__eng_ctx *c, int32_t v, size_t *off)
{
    size_t o = 0;
    while (c->alias[v] >= 0) {
        o += c->alias_off[v];
        v = c->alias[v];
    }
    *off = o;
    return v;
}

void deja__eng_link(deja__eng_ctx *c, int32_t v, int32_t target, size_t off)
{
    c->alias[v] = target;
    c->alias_off[v] = off;
    c->sibling[v] = c->child[target];
    c->child[target] = v;
}

bool deja__eng_const_scalar(const deja__eng_ctx *c, int32_t v, float *out)
{
    if (v < 0 || c->state[v] != DEJA__V_CONST || c->count[v] != 1) return false;
    if (c->shapes[v].dtype == DEJA__ONNX_FLOAT && c->cptr[v]) {
        *out = c->cptr[v][0];
        return true;
    }
    const deja__onnx_tensor *t = c->m->values[v].tensor;
    if (t && t->dtype == DEJA__ONNX_INT64) {
        *out = (float)deja__onnx_tensor_i64(t)[0];
        return true;
    }
    return false;
}

static deja__eng_step *new_step(deja__eng_ctx *c, deja__eng_kind kind, uint32_t ni)
{
    /* cap_steps is sized for the worst case before the first step (plan_build). */
    deja__eng_step *s = &c->steps[c->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->node = ni;
    s->in[0] = s->in[1] = s->out = s->acc = ref(-1, 0);
    return s;
}

static int32_t step_index(const deja__eng_ctx *c, const deja__eng_step *s)
{
    return (int32_t)(s - c->steps);
}

/* s writes value o (its whole storage). */
static void set_out(deja__eng_ctx *c, deja__eng_step *s, int32_t o)
{
    s->out = ref(o, 0);
    c->writer[o] = step_index(c, s);
    c->last_write[o] = step_index(c, s);
}

/* ---- overlap checks on the alias tree --------------------------------------------------- */

typedef bool (*region_fn)(const deja__eng_ctx *c, int32_t w, const void *arg);

/* fn(w) for every stored value w whose bytes overlap [off, off + n) of root r; stops at the
 * first false. */
static bool region_all(const deja__eng_ctx *c, int32_t r, size_t off, size_t n, region_fn fn,
                       const void *arg)
{
    size_t top = 0;
    c->stack[top] = r;
    c->stack_off[top++] = 0;
    while (top) {
        top--;
        int32_t v = c->stack[top];
        size_t o = c->stack_off[top];
        if (c->state[v] != DEJA__V_DROPPED && o < off + n && off < o + c->count[v] &&
            !fn(c, v, arg))
            return false;
        for (int32_t ch = c->child[v]; ch >= 0; ch = c->sibling[ch]) {
            c->stack[top] = ch;
            c->stack_off[top++] = o + c->alias_off[ch];
        }
    }
    return true;
}

/* Nothing reads w after node k. */
static bool dead_after(const deja__eng_ctx *c, int32_t w, const void *arg)
{
    uint32_t k = *(const uint32_t *)arg;
    if (deja__eng_is_output(c, w)) return false;
    for (uint32_t i = c->use_start[w]; i < c->use_start[w + 1]; i++)
        if (c->uses[i] > k) return false;
    return true;
}

typedef struct acc_arg {
    uint32_t conv_node, add_node;
    int32_t conv_step;
} acc_arg;

/* w's bytes may take a Conv's accumulate at conv_step for the Add at add_node: all writes into
 * them come before the Conv, all reads before it or at the Add. */
static bool free_for_acc(const deja__eng_ctx *c, int32_t w, const void *arg)
{
    const acc_arg *a = arg;
    if (deja__eng_is_output(c, w) || c->last_write[w] >= a->conv_step) return false;
    for (uint32_t i = c->use_start[w]; i < c->use_start[w + 1]; i++)
        if (c->uses[i] >= a->conv_node && c->uses[i] != a->add_node) return false;
    return true;
}

/* o takes x's storage when x is a computed tensor of the same size whose bytes nothing reads
 * after node k, and the step's other operand (or -1) does not lie in them: an elementwise
 * kernel may write over the operand it reads at the same index, not over one it reads later. */
static void try_inplace(deja__eng_ctx *c, uint32_t k, deja__eng_step *s, int32_t o, int32_t x,
                        int32_t other)
{
    if ((c->flags & DEJA__ENGINE_NO_INPLACE) || c->fold || c->alias[o] >= 0) return;
    if (c->state[x] != DEJA__V_RUNTIME || c->count[x] != c->count[o]) return;
    size_t off, other_off;
    int32_t r = deja__eng_root(c, x, &off);
    if (c->state[r] != DEJA__V_RUNTIME) return; /* the caller's input, or a constant */
    if (other >= 0 && other != x && deja__eng_root(c, other, &other_off) == r &&
        other_off < off + c->count[x] && off < other_off + c->count[other])
        return;
    if (!region_all(c, r, off, c->count[x], dead_after, &k)) return;
    deja__eng_link(c, o, x, 0);
    s->in_place = true;
    c->plan->stats.n_inplace++;
}

/* ---- fusions that look back --------------------------------------------------------------- */

static float onnx_clip(float v, float lo, float hi)
{
    return fminf(fmaxf(v, lo), hi);
}

/* Relu/Clip [lo, hi] on x into the Conv/binary step that wrote x, if x is used once. */
static bool try_fuse_clamp(deja__eng_ctx *c, int32_t x, int32_t o, float lo, float hi)
{
    if ((c->flags & DEJA__ENGINE_NO_FUSE) || c->fold) return false;
    if (c->state[x] != DEJA__V_RUNTIME || c->writer[x] < 0) return false;
    deja__eng_step *s = &c->steps[c->writer[x]];
    if (s->out.value != x || s->out.extra) return false;
    deja__nn_post *post = s->kind == DEJA__ENG_CONV     ? &s->u.conv.post
                          : s->kind == DEJA__ENG_BINARY ? &s->u.bin.post
                                                        : NULL;
    if (!post || deja__eng_n_uses(c, x) != 1 || deja__eng_is_output(c, x)) return false;
    if (c->alias[x] >= 0 && c->alias[o] >= 0) return false;
    /* A clamp of a clamp is a clamp: to where the pair sends -inf and +inf. */
    float a = post->clamp ? post->lo : -INFINITY, b = post->clamp ? post->hi : INFINITY;
    post->lo = onnx_clip(onnx_clip(-INFINITY, a, b), lo, hi);
    post->hi = onnx_clip(onnx_clip(INFINITY, a, b), lo, hi);
    post->clamp = true;
    if (c->alias[x] >= 0) deja__eng_link(c, o, c->alias[x], c->alias_off[x]);
    c->state[x] = DEJA__V_DROPPED;
    set_out(c, s, o);
    c->plan->stats.n_fused_act++;
    return true;
}

/* Add(a, b) as the Conv that wrote one of them accumulating into the other's storage. */
static bool try_residual(deja__eng_ctx *c, uint32_t k)
{
    const deja__onnx_node *nd = &c->m->nodes[k];
    int32_t a = nd->inputs[0], b = nd->inputs[1], o = nd->outputs[0];
    if ((c->flags & DEJA__ENGINE_NO_FUSE) || c->alias[o] >= 0) return false;
    if (c->count[a] != c->count[o] || c->count[b] != c->count[o] || a == b) return false;
    for (int pass = 0; pass < 2; pass++) {
        int32_t cv = pass ? b : a, t = pass ? a : b;
        if (c->state[cv] != DEJA__V_RUNTIME || c->writer[cv] < 0 || c->state[t] != DEJA__V_RUNTIME)
            continue;
        deja__eng_step *s = &c->steps[c->writer[cv]];
        if (s->kind != DEJA__ENG_CONV || s->out.value != cv || s->u.conv.post.clamp ||
            s->u.conv.post.accumulate)
            continue;
        if (deja__eng_n_uses(c, cv) != 1 || deja__eng_is_output(c, cv) || c->alias[cv] >= 0)
            continue;
        size_t off;
        int32_t r = deja__eng_root(c, t, &off);
        if (c->state[r] != DEJA__V_RUNTIME) continue;
        acc_arg arg = {s->node, k, step_index(c, s)};
        if (!region_all(c, r, off, c->count[t], free_for_acc, &arg)) continue;
        s->u.conv.post.accumulate = true;
        s->acc = ref(t, 0);
        deja__eng_link(c, o, t, 0);
        c->state[cv] = DEJA__V_DROPPED;
        set_out(c, s, o);
        c->plan->stats.n_fused_add++;
        return true;
    }
    return false;
}

/* ---- one node -> steps ------------------------------------------------------------------ */

static deja_status build_conv(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], w = nd->inputs[1], b = deja__eng_in_val(nd, 2), o = nd->outputs[0];
    if (c->state[w] != DEJA__V_CONST || !c->cptr[w])
        return NERR(DEJA_UNSUPPORTED, "weight '%s' is computed at run time; deja needs a constant",
                    vname(c, w));
    if (b >= 0 && (c->state[b] != DEJA__V_CONST || !c->cptr[b]))
        return NERR(DEJA_UNSUPPORTED, "bias '%s' is computed at run time; deja needs a constant",
                    vname(c, b));
    const deja__onnx_shape *xs = &c->shapes[x], *ws = &c->shapes[w];
    deja__onnx_window win;
    CHECK(deja__onnx_window_params(c->m, ni, &ws->dims[2], &win, c->err));
    if (win.dilation[0] != 1 || win.dilation[1] != 1)
        return NERR(DEJA_UNSUPPORTED, "dilations %lldx%lld: the kernels do dilation 1 only",
                    (long long)win.dilation[0], (long long)win.dilation[1]);
    deja__nn_conv_shape s = {to_int(xs->dims[1]),   to_int(xs->dims[2]),   to_int(xs->dims[3]),
                             to_int(ws->dims[0]),   to_int(win.kernel[0]), to_int(win.kernel[1]),
                             to_int(win.stride[0]), to_int(win.stride[1]), to_int(win.pad[0]),
                             to_int(win.pad[1]),    to_int(win.pad[2]),    to_int(win.pad[3]),
                             to_int(win.group)};
    char why[DEJA_ERROR_BYTES];
    if (deja__nn_conv_check(&s, why) != DEJA_OK) {
        /* The kernel's message starts "file:line: "; keep what follows. */
        const char *msg = strstr(why, ": ");
        return NERR(DEJA_UNSUPPORTED, "%s", msg ? msg + 2 : why);
    }
    deja__eng_step *st = new_step(c, DEJA__ENG_CONV, ni);
    st->in[0] = ref(x, 0);
    st->u.conv.s = s;
    st->u.conv.batch = (size_t)xs->dims[0];
    st->u.conv.w = c->cptr[w];
    st->u.conv.post = (deja__nn_post){b >= 0 ? c->cptr[b] : NULL, 0.0f, 0.0f, false, false};
    set_out(c, st, o);
    return DEJA_OK;
}

static deja_status build_unary(deja__eng_ctx *c, uint32_t ni, deja__nn_unop op, float a0, float a1)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    deja__eng_step *st = new_step(c, DEJA__ENG_UNARY, ni);
    st->in[0] = ref(x, 0);
    st->u.un.op = op;
    st->u.un.arg0 = a0;
    st->u.un.arg1 = a1;
    st->u.un.n = c->count[o];
    set_out(c, st, o);
    try_inplace(c, ni, st, o, x, -1);
    return DEJA_OK;
}

/* Relu and Clip: fused into the producer when possible, else a unary step. */
static deja_status build_clamp(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    float lo = 0.0f, hi = INFINITY;
    if (nd->op == DEJA__OP_CLIP) {
        lo = -INFINITY;
        for (uint32_t i = 1; i < 3; i++) {
            int32_t v = deja__eng_in_val(nd, i);
            if (v < 0) continue;
            float *bound = i == 1 ? &lo : &hi;
            if (!deja__eng_const_scalar(c, v, bound))
                return NERR(DEJA_UNSUPPORTED,
                            "%s '%s' is computed at run time; deja needs a constant",
                            i == 1 ? "min" : "max", vname(c, v));
        }
        if (lo > hi) lo = hi; /* ONNX: min(max(x, lo), hi) = hi everywhere */
    }
    if (try_fuse_clamp(c, nd->inputs[0], nd->outputs[0], lo, hi)) return DEJA_OK;
    return nd->op == DEJA__OP_RELU ? build_unary(c, ni, DEJA__NN_RELU, 0.0f, 0.0f)
                                   : build_unary(c, ni, DEJA__NN_CLIP, lo, hi);
}

/* How an operand of shape in broadcasts to out, over the axes where out is not 1:
 * 0 full, 1 scalar, 2 per-channel (full then broadcast), 3 per-pixel (broadcast then full);
 * *split = number of leading axes on the channel side. -1 if none of these. */
static int bcast_kind(const deja__onnx_shape *out, const deja__onnx_shape *in, int *split)
{
    int flags[DEJA__ONNX_MAX_RANK], n = 0;
    for (int i = 0; i < out->rank; i++) {
        if (out->dims[i] == 1) continue;
        int j = i - (out->rank - in->rank);
        flags[n++] = j >= 0 && in->dims[j] == out->dims[i]; /* 1 = full on this axis */
    }
    int changes = 0, at = 0;
    for (int i = 1; i < n; i++)
        if (flags[i] != flags[i - 1]) {
            changes++;
            at = i;
        }
    *split = at;
    if (changes == 0) return n == 0 || flags[0] ? 0 : 1;
    if (changes > 1) return -1;
    return flags[0] ? 2 : 3;
}

static deja_status build_binary(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t a = nd->inputs[0], b = nd->inputs[1], o = nd->outputs[0];
    if (nd->op == DEJA__OP_ADD && try_residual(c, ni)) return DEJA_OK;
    const deja__onnx_shape *os = &c->shapes[o];
    int sa, sb, ka = bcast_kind(os, &c->shapes[a], &sa), kb = bcast_kind(os, &c->shapes[b], &sb);
    if (ka < 0 || kb < 0 || (ka >= 2 && kb >= 2 && sa != sb)) {
        char ta[96], tb[96];
        deja__onnx_shape_text(&c->shapes[a], ta, sizeof ta);
        deja__onnx_shape_text(&c->shapes[b], tb, sizeof tb);
        return NERR(DEJA_UNSUPPORTED,
                    "broadcast of %s ('%s') with %s ('%s'): the kernel takes full, scalar, "
                    "per-channel or per-pixel operands on one split of the axes",
                    ta, vname(c, a), tb, vname(c, b));
    }
    int split = ka >= 2 ? sa : kb >= 2 ? sb : 0;
    /* c = product of the first `split` non-1 axes, p = the rest. */
    size_t cc = 1, p = 1;
    for (int i = 0, n = 0; i < os->rank; i++) {
        if (os->dims[i] == 1) continue;
        if (n++ < split)
            cc *= (size_t)os->dims[i];
        else
            p *= (size_t)os->dims[i];
    }
    static const size_t stride_c[4] = {0, 0, 1, 0}, stride_p[4] = {1, 0, 0, 1};
    deja__eng_step *st = new_step(c, DEJA__ENG_BINARY, ni);
    st->in[0] = ref(a, 0);
    st->in[1] = ref(b, 0);
    st->u.bin.op = nd->op == DEJA__OP_ADD   ? DEJA__NN_ADD
                   : nd->op == DEJA__OP_SUB ? DEJA__NN_SUB
                   : nd->op == DEJA__OP_MUL ? DEJA__NN_MUL
                                            : DEJA__NN_DIV;
    st->u.bin.c = cc;
    st->u.bin.p = p;
    st->u.bin.a_c = ka == 0 ? p : stride_c[ka];
    st->u.bin.a_p = stride_p[ka];
    st->u.bin.b_c = kb == 0 ? p : stride_c[kb];
    st->u.bin.b_p = stride_p[kb];
    set_out(c, st, o);
    if (ka == 0) try_inplace(c, ni, st, o, a, b);
    if (!st->in_place && kb == 0) try_inplace(c, ni, st, o, b, a);
    return DEJA_OK;
}

static deja_status build_pow(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    float e;
    if (!deja__eng_const_scalar(c, nd->inputs[1], &e))
        return NERR(DEJA_UNSUPPORTED,
                    "exponent '%s' must be a constant scalar (the kernel raises to one power)",
                    vname(c, nd->inputs[1]));
    return build_unary(c, ni, DEJA__NN_POW, e, 0.0f);
}

static deja_status build_maxpool(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    if (nd->n_outputs > 1 && nd->outputs[1] >= 0 &&
        (deja__eng_n_uses(c, nd->outputs[1]) || deja__eng_is_output(c, nd->outputs[1])))
        return NERR(DEJA_UNSUPPORTED, "output Indices '%s' is used; deja computes only the maxima",
                    vname(c, nd->outputs[1]));
    deja__onnx_window w;
    CHECK(deja__onnx_window_params(c->m, ni, NULL, &w, c->err));
    if (w.dilation[0] != 1 || w.dilation[1] != 1)
        return NERR(DEJA_UNSUPPORTED, "dilations %lldx%lld: the kernel does dilation 1 only",
                    (long long)w.dilation[0], (long long)w.dilation[1]);
    if (w.pad[0] || w.pad[1] || w.pad[2] || w.pad[3])
        return NERR(DEJA_UNSUPPORTED, "pads [%lld, %lld, %lld, %lld]: the kernel does no padding",
                    (long long)w.pad[0], (long long)w.pad[1], (long long)w.pad[2],
                    (long long)w.pad[3]);
    const deja__onnx_shape *xs = &c->shapes[x], *os = &c->shapes[o];
    for (int a = 0; a < 2; a++)
        if (os->dims[2 + a] != (xs->dims[2 + a] - w.kernel[a]) / w.stride[a] + 1)
            return NERR(DEJA_UNSUPPORTED,
                        "ceil_mode adds a partial window on spatial axis %d; the kernel floors", a);
    deja__eng_step *st = new_step(c, DEJA__ENG_MAXPOOL, ni);
    st->in[0] = ref(x, 0);
    st->u.pool.c = (size_t)xs->dims[0] * (size_t)xs->dims[1];
    st->u.pool.h = (size_t)xs->dims[2];
    st->u.pool.w = (size_t)xs->dims[3];
    st->u.pool.k_h = (size_t)w.kernel[0];
    st->u.pool.k_w = (size_t)w.kernel[1];
    st->u.pool.s_h = (size_t)w.stride[0];
    st->u.pool.s_w = (size_t)w.stride[1];
    set_out(c, st, o);
    return DEJA_OK;
}

static deja_status build_gap(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    const deja__onnx_shape *xs = &c->shapes[nd->inputs[0]];
    deja__eng_step *st = new_step(c, DEJA__ENG_GAP, ni);
    st->in[0] = ref(nd->inputs[0], 0);
    st->u.gap.c = deja__eng_dims_prod(xs, 0, 2);
    st->u.gap.hw = deja__eng_dims_prod(xs, 2, xs->rank);
    set_out(c, st, nd->outputs[0]);
    return DEJA_OK;
}

static deja_status build_resize(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    const char *mode = deja__onnx_attr_string(nd, "mode", "nearest");
    const char *ctm = deja__onnx_attr_string(nd, "coordinate_transformation_mode", "half_pixel");
    if (strcmp(mode, "linear") != 0)
        return NERR(DEJA_UNSUPPORTED, "mode '%.64s' not supported (linear only)", mode);
    if (strcmp(ctm, "align_corners") != 0)
        return NERR(DEJA_UNSUPPORTED,
                    "coordinate_transformation_mode '%.64s' not supported (align_corners only)",
                    ctm);
    if (deja__onnx_attr_int(nd, "exclude_outside", 0) != 0)
        return NERR(DEJA_UNSUPPORTED, "exclude_outside 1 not supported");
    const deja__onnx_shape *xs = &c->shapes[x], *os = &c->shapes[o];
    if (xs->rank != 4)
        return NERR(DEJA_UNSUPPORTED, "input '%s' has rank %d; deja resizes NCHW (rank 4)",
                    vname(c, x), xs->rank);
    if (os->dims[0] != xs->dims[0] || os->dims[1] != xs->dims[1])
        return NERR(DEJA_UNSUPPORTED, "resizes the batch or channel axis (%lldx%lld -> %lldx%lld)",
                    (long long)xs->dims[0], (long long)xs->dims[1], (long long)os->dims[0],
                    (long long)os->dims[1]);
    deja__eng_step *st = new_step(c, DEJA__ENG_RESIZE, ni);
    st->in[0] = ref(x, 0);
    st->u.resize.c = deja__eng_dims_prod(xs, 0, 2);
    st->u.resize.h = (size_t)xs->dims[2];
    st->u.resize.w = (size_t)xs->dims[3];
    st->u.resize.h_out = (size_t)os->dims[2];
    st->u.resize.w_out = (size_t)os->dims[3];
    set_out(c, st, o);
    return DEJA_OK;
}

bool deja__eng_reduce_axes(const deja__eng_ctx *c, uint32_t ni, int *a0, int *a1)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int r = c->shapes[nd->inputs[0]].rank;
    bool red[DEJA__ONNX_MAX_RANK] = {false};
    const deja__onnx_attr *axes = deja__onnx_attr_find(nd, "axes");
    for (int i = 0; i < r; i++)
        red[i] = !(axes && axes->n); /* no axes: all */
    for (size_t i = 0; axes && i < axes->n; i++)
        red[axes->ints[i] < 0 ? axes->ints[i] + r : axes->ints[i]] = true; /* range checked */
    *a0 = -1;
    *a1 = -2;
    for (int i = 0; i < r; i++)
        if (red[i]) {
            if (*a0 < 0)
                *a0 = i;
            else if (*a1 != i - 1)
                return false;
            *a1 = i;
        }
    return *a0 >= 0;
}

static deja_status build_reduce_l2(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    const deja__onnx_shape *xs = &c->shapes[nd->inputs[0]];
    int a0, a1;
    if (!deja__eng_reduce_axes(c, ni, &a0, &a1))
        return NERR(DEJA_UNSUPPORTED, "reduces axes that are not adjacent");
    deja__eng_step *st = new_step(c, DEJA__ENG_REDUCEL2, ni);
    st->in[0] = ref(nd->inputs[0], 0);
    st->u.l2.outer = deja__eng_dims_prod(xs, 0, a0);
    st->u.l2.c = deja__eng_dims_prod(xs, a0, a1 + 1);
    st->u.l2.p = deja__eng_dims_prod(xs, a1 + 1, xs->rank);
    set_out(c, st, nd->outputs[0]);
    return DEJA_OK;
}

/* A copy of src (from extra floats on) into dst (at dst_extra) as outer x mid runs of inner. */
static deja__eng_step *copy_step(deja__eng_ctx *c, uint32_t ni, int32_t src, size_t src_extra,
                                 int32_t dst, size_t dst_extra)
{
    deja__eng_step *st = new_step(c, DEJA__ENG_COPY, ni);
    st->in[0] = ref(src, src_extra);
    st->out = ref(dst, dst_extra);
    c->last_write[dst] = step_index(c, st);
    c->plan->stats.n_copies++;
    return st;
}

size_t deja__eng_concat_axis(const deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int64_t axis = deja__onnx_attr_int(nd, "axis", 0), r = c->shapes[nd->outputs[0]].rank;
    return (size_t)(axis < 0 ? axis + r : axis); /* range checked by shape inference */
}

static deja_status build_concat(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t o = nd->outputs[0];
    const deja__onnx_shape *os = &c->shapes[o];
    int axis = (int)deja__eng_concat_axis(c, ni);
    size_t outer = deja__eng_dims_prod(os, 0, axis),
           inner = deja__eng_dims_prod(os, axis + 1, os->rank), c0 = 0;
    c->writer[o] = -1;
    for (uint32_t i = 0; i < nd->n_inputs; i++) {
        int32_t v = nd->inputs[i];
        size_t len = (size_t)c->shapes[v].dims[axis];
        bool in_slot = c->placed[v] && c->alias[v] == o && c->alias_off[v] == c0 * inner;
        if (!in_slot && c->count[v]) {
            deja__eng_step *st = copy_step(c, ni, v, 0, o, c0 * inner);
            st->u.copy.outer = outer;
            st->u.copy.mid = 1;
            st->u.copy.inner = len * inner;
            st->u.copy.src_outer = (ptrdiff_t)(len * inner);
            st->u.copy.dst_outer = (ptrdiff_t)((size_t)os->dims[axis] * inner);
        }
        c0 += len;
    }
    return DEJA_OK;
}

static deja_status build_slice(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    const deja__onnx_shape *xs = &c->shapes[x];
    int64_t first[DEJA__ONNX_MAX_RANK], cnt[DEJA__ONNX_MAX_RANK], step[DEJA__ONNX_MAX_RANK];
    for (int a = 0; a < xs->rank; a++) {
        first[a] = 0;
        cnt[a] = xs->dims[a];
        step[a] = 1;
    }
    /* Shape inference checked: constant INT64 starts/ends/axes/steps, axes in range, once. */
    const deja__onnx_tensor *ts = c->m->values[nd->inputs[1]].tensor;
    const deja__onnx_tensor *te = c->m->values[nd->inputs[2]].tensor;
    int32_t va = deja__eng_in_val(nd, 3), vs = deja__eng_in_val(nd, 4);
    const int64_t *axes = va >= 0 ? deja__onnx_tensor_i64(c->m->values[va].tensor) : NULL;
    const int64_t *steps = vs >= 0 ? deja__onnx_tensor_i64(c->m->values[vs].tensor) : NULL;
    for (size_t i = 0; i < ts->count; i++) {
        int64_t a = axes ? axes[i] : (int64_t)i;
        if (a < 0) a += xs->rank;
        step[a] = steps ? steps[i] : 1;
        CHECK(deja__nn_slice_resolve(xs->dims[a], deja__onnx_tensor_i64(ts)[i],
                                     deja__onnx_tensor_i64(te)[i], step[a], &first[a], &cnt[a]));
    }
    int changed = -1, n_changed = 0;
    for (int a = 0; a < xs->rank; a++)
        if (cnt[a] != xs->dims[a] || step[a] != 1) {
            changed = a;
            n_changed++;
        }
    if (n_changed > 1)
        return NERR(DEJA_UNSUPPORTED, "slices %d axes at once; deja slices one", n_changed);
    int a = changed < 0 ? 0 : changed;
    size_t outer = deja__eng_dims_prod(xs, 0, a), inner = deja__eng_dims_prod(xs, a + 1, xs->rank);
    if (changed < 0) {
        first[0] = 0;
        cnt[0] = xs->dims[0];
    }
    bool views = !(c->flags & DEJA__ENGINE_NO_VIEWS) && !c->fold;
    if (views && step[a] == 1 && outer == 1) {
        deja__eng_link(c, o, x, (size_t)first[a] * inner);
        c->plan->stats.n_views++;
        return DEJA_OK;
    }
    deja__eng_step *st = copy_step(c, ni, x, (size_t)first[a] * inner, o, 0);
    st->u.copy.outer = outer;
    st->u.copy.mid = (size_t)cnt[a];
    st->u.copy.inner = inner;
    st->u.copy.src_outer = (ptrdiff_t)((size_t)xs->dims[a] * inner);
    st->u.copy.src_mid = (ptrdiff_t)step[a] * (ptrdiff_t)inner;
    st->u.copy.dst_outer = (ptrdiff_t)((size_t)cnt[a] * inner);
    st->u.copy.dst_mid = (ptrdiff_t)inner;
    c->writer[o] = step_index(c, st);
    return DEJA_OK;
}

static deja_status build_flatten(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    if (!c->fold) {
        deja__eng_link(c, o, x, 0); /* same bytes, other dims */
        c->plan->stats.n_views++;
        return DEJA_OK;
    }
    deja__eng_step *st = copy_step(c, ni, x, 0, o, 0);
    st->u.copy.outer = st->u.copy.mid = 1;
    st->u.copy.inner = c->count[o];
    return DEJA_OK;
}

/* The Div node ni of a ReduceL2 -> Clip -> Div chain (found by find_l2). */
static deja_status build_l2(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    int32_t x = nd->inputs[0], o = nd->outputs[0];
    const deja__onnx_node *clip = &c->m->nodes[c->m->values[nd->inputs[1]].producer];
    float eps = 0.0f;
    (void)deja__eng_const_scalar(c, clip->inputs[1], &eps); /* checked by find_l2 */
    const deja__onnx_shape *xs = &c->shapes[x];
    deja__eng_step *st = new_step(c, DEJA__ENG_L2NORM, ni);
    st->in[0] = ref(x, 0);
    st->u.l2.outer = (size_t)xs->dims[0];
    st->u.l2.c = (size_t)xs->dims[1];
    st->u.l2.p = deja__eng_dims_prod(xs, 2, xs->rank);
    st->u.l2.eps = eps;
    set_out(c, st, o);
    try_inplace(c, ni, st, o, x, -1);
    c->plan->stats.n_fused_l2++;
    return DEJA_OK;
}

deja_status deja__eng_build_node(deja__eng_ctx *c, uint32_t ni)
{
    const deja__onnx_node *nd = &c->m->nodes[ni];
    if (c->node_mark[ni] & DEJA__N_L2) return build_l2(c, ni);
    switch (nd->op) {
    case DEJA__OP_CONV:
        return build_conv(c, ni);
    case DEJA__OP_RELU:
    case DEJA__OP_CLIP:
        return build_clamp(c, ni);
    case DEJA__OP_SIGMOID:
        return build_unary(c, ni, DEJA__NN_SIGMOID, 0.0f, 0.0f);
    case DEJA__OP_POW:
        return build_pow(c, ni);
    case DEJA__OP_ADD:
    case DEJA__OP_SUB:
    case DEJA__OP_MUL:
    case DEJA__OP_DIV:
        return build_binary(c, ni);
    case DEJA__OP_MAXPOOL:
        return build_maxpool(c, ni);
    case DEJA__OP_GLOBALAVERAGEPOOL:
        return build_gap(c, ni);
    case DEJA__OP_RESIZE:
        return build_resize(c, ni);
    case DEJA__OP_REDUCEL2:
        return build_reduce_l2(c, ni);
    case DEJA__OP_CONCAT:
        return build_concat(c, ni);
    case DEJA__OP_SLICE:
        return build_slice(c, ni);
    case DEJA__OP_FLATTEN:
        return build_flatten(c, ni);
    case DEJA__OP_CONSTANT:
    default:
        return DEJA_OK; /* Constant: its tensor is the value */
    }
}
