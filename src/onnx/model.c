/* model.c - load an ONNX ModelProto into the immutable graph of model.h.
 *
 * How it works: the file is mapped (or the caller's buffer borrowed) and walked with the pb.h
 * cursor; nothing is decoded through generated code. Each message is walked more than once where
 * that keeps the code simple: a counting walk sizes the arrays, then filling walks read the
 * fields in the order the graph needs them (graph inputs, then initializers, then nodes, then
 * outputs), whatever their order in the file. Skipping a field costs one length check, so extra
 * walks are cheap. Names, nodes, attributes and values go into a chunk arena the model owns;
 * tensor data is located during the walk and copied at the end into one 64-byte aligned weight
 * arena, after which no pointer refers to the file, which is unmapped.
 *
 * Every field is checked before use: wire types, string lengths (no NUL inside names), counts
 * against the limits of model.h, dims >= 0 with an overflow-checked element count that must
 * match the data, node inputs that name an earlier value, outputs defined once. Errors say the
 * file, the field path, the byte offset of the field, the value and the limit. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* O_CLOEXEC when built outside CMake */
#endif
#include "model_load.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- value names ----------------------------------------------------------------------- */

static uint32_t name_hash(const void *s, size_t n)
{
    return (uint32_t)deja__hash64(s, n, 0x4f4e4e58u);
}

static int32_t find_name(const loader *ld, const void *s, size_t n)
{
    if (!ld->n_slots) return -1;
    uint32_t h = name_hash(s, n);
    size_t mask = ld->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot sl = ld->slots[i];
        if (sl.id < 0) return -1;
        const char *nm = ld->values[sl.id].name;
        if (sl.hash == h && strlen(nm) == n && memcmp(nm, s, n) == 0) return sl.id;
    }
}

static void insert_slot(loader *ld, int32_t id, uint32_t h)
{
    size_t mask = ld->n_slots - 1, i = h & mask;
    while (ld->slots[i].id >= 0)
        i = (i + 1) & mask;
    ld->slots[i] = (slot){id, h};
}

static deja_status grow_slots(loader *ld, size_t at)
{
    size_t n = ld->n_slots ? ld->n_slots * 2 : 64;
    slot *s = deja__alloc(&ld->a, n * sizeof *s);
    if (!s) return FAIL(ld, DEJA_NOMEM, at, "out of memory (%zu bytes)", n * sizeof *s);
    deja__free(&ld->a, ld->slots, ld->n_slots * sizeof *ld->slots);
    ld->slots = s;
    ld->n_slots = n;
    for (size_t i = 0; i < n; i++)
        s[i].id = -1;
    for (size_t v = 0; v < ld->n_values; v++) {
        const char *nm = ld->values[v].name;
        insert_slot(ld, (int32_t)v, name_hash(nm, strlen(nm)));
    }
    return DEJA_OK;
}

/* A new value named by string field f (checked by the caller, not yet defined). */
static deja_status add_value(loader *ld, const deja__pb_field *f, deja__onnx_value_kind kind,
                             int32_t producer, int32_t *id)
{
    if (ld->n_values >= DEJA__ONNX_MAX_VALUES)
        return FAIL(ld, DEJA_LIMIT, f->offset, "value count %zu reaches limit %d", ld->n_values,
                    DEJA__ONNX_MAX_VALUES);
    if ((ld->n_values + 1) * 2 > ld->n_slots) CHECK(grow_slots(ld, f->offset));
    if (!deja__reserve(&ld->a, (void **)&ld->values, &ld->cap_values, ld->n_values + 1,
                       sizeof *ld->values))
        return FAIL(ld, DEJA_NOMEM, f->offset, "out of memory (%zu values)", ld->n_values + 1);
    const char *name = NULL;
    CHECK(copy_string(ld, f, "value name", &name));
    deja__onnx_value *v = &ld->values[ld->n_values];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->kind = kind;
    v->producer = producer;
    v->last_use = -1;
    v->rank = -1;
    insert_slot(ld, (int32_t)ld->n_values, name_hash(name, f->len));
    *id = (int32_t)ld->n_values++;
    return DEJA_OK;
}

static const char *defined_as(const loader *ld, int32_t id, char *buf, size_t size)
{
    const deja__onnx_value *v = &ld->values[id];
    switch (v->kind) {
    case DEJA__VALUE_INPUT:
        return "a graph input";
    case DEJA__VALUE_INITIALIZER:
        return "an initializer";
    default:
        snprintf(buf, size, "an output of graph.node[%d]", v->producer);
        return buf;
    }
}

static void set_declared(deja__onnx_value *v, const value_info *vi)
{
    v->dtype = vi->dtype;
    v->rank = vi->rank;
    for (int i = 0; i < DEJA__ONNX_MAX_RANK; i++)
        v->dims[i] = i < vi->rank ? vi->dims[i] : (deja__onnx_dim){-1, NULL};
}

static void set_from_tensor(deja__onnx_value *v, const deja__onnx_tensor *t)
{
    v->tensor = t;
    v->dtype = t->dtype;
    v->rank = t->rank;
    for (int i = 0; i < DEJA__ONNX_MAX_RANK; i++)
        v->dims[i] = (deja__onnx_dim){i < t->rank ? t->dims[i] : -1, NULL};
}

/* ---- attributes ------------------------------------------------------------------------ */

static bool type_kept(int64_t type)
{
    return type == DEJA__ATTR_FLOAT || type == DEJA__ATTR_INT || type == DEJA__ATTR_STRING ||
           type == DEJA__ATTR_TENSOR || type == DEJA__ATTR_FLOATS || type == DEJA__ATTR_INTS;
}

static deja_status parse_attr(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                              deja__onnx_op op, deja__onnx_attr *a)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, name = {0}, s = {0}, t = {0};
    bool has_name = false, has_s = false, has_t = false;
    int64_t type = 0;
    size_t n_ints = 0, n_floats = 0, k;
    deja__pb_result res;
    a->s = "";
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        switch (x.number) {
        case A_NAME:
            CHECK(check_string(ld, &x, "attribute name"));
            name = x;
            has_name = true;
            break;
        case A_TYPE:
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "type"));
            type = (int64_t)x.u;
            break;
        case A_F:
            CHECK(want_wire(ld, &x, DEJA__PB_I32, "f"));
            a->f = deja__pb_float(&x);
            break;
        case A_I:
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "i"));
            a->i = deja__pb_int64(&x);
            break;
        case A_S:
            CHECK(check_string(ld, &x, "s"));
            s = x;
            has_s = true;
            break;
        case A_T:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "t"));
            if (has_t) return FAIL(ld, DEJA_FORMAT, x.offset, "t given twice");
            t = x;
            has_t = true;
            break;
        case A_FLOATS:
            CHECK(want_repeated(ld, &x, DEJA__PB_I32, "floats"));
            if (!deja__pb_count(&r, &x, DEJA__PB_ELEM_FIXED32, &k)) return PB_FAIL(ld, &r);
            n_floats += k;
            break;
        case A_INTS:
            CHECK(want_repeated(ld, &x, DEJA__PB_VARINT, "ints"));
            if (!deja__pb_count(&r, &x, DEJA__PB_ELEM_VARINT, &k)) return PB_FAIL(ld, &r);
            n_ints += k;
            break;
        default:
            break;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    if (!has_name || name.len == 0)
        return FAIL(ld, DEJA_FORMAT, f->offset, "attribute has no name");
    CHECK(copy_string(ld, &name, "attribute name", &a->name));
    if (!type_kept(type))
        return FAIL(ld, DEJA_UNSUPPORTED, f->offset,
                    "attribute '%s' has type %s (%lld): not supported", a->name,
                    deja__onnx_attr_type_name(type >= 0 && type < 100 ? (int32_t)type : -1),
                    (long long)type);
    a->type = (int32_t)type;
    int32_t want = deja__onnx_op_attr_type(op, a->name);
    if (want && want != a->type)
        return FAIL(ld, DEJA_FORMAT, f->offset, "attribute '%s' has type %s, expected %s", a->name,
                    deja__onnx_attr_type_name(a->type), deja__onnx_attr_type_name(want));
    size_t n = a->type == DEJA__ATTR_INTS ? n_ints : a->type == DEJA__ATTR_FLOATS ? n_floats : 0;
    if (n > DEJA__ONNX_MAX_ATTR_ELEMS)
        return FAIL(ld, DEJA_LIMIT, f->offset, "attribute '%s' has %zu values > limit %d", a->name,
                    n, DEJA__ONNX_MAX_ATTR_ELEMS);
    switch (a->type) {
    case DEJA__ATTR_STRING:
        if (has_s) CHECK(copy_string(ld, &s, "s", &a->s));
        a->n = has_s ? s.len : 0;
        break;
    case DEJA__ATTR_TENSOR: {
        if (!has_t)
            return FAIL(ld, DEJA_FORMAT, f->offset, "TENSOR attribute '%s' has no t", a->name);
        size_t old = push(ld, ".t");
        deja__onnx_tensor *tp = NULL;
        CHECK(deja__onnx_ld_tensor(ld, &r, &t, &tp, NULL));
        a->t = tp;
        pop(ld, old);
        break;
    }
    case DEJA__ATTR_INTS:
    case DEJA__ATTR_FLOATS: {
        a->n = n;
        if (!n) break;
        bool ints = a->type == DEJA__ATTR_INTS;
        uint64_t *tmp;
        void *dst;
        TAKE(ld, tmp, n * sizeof *tmp, f->offset);
        TAKE(ld, dst, n * (ints ? 8 : 4), f->offset);
        deja__pb_reader r2;
        deja__pb_enter(parent, f, &r2); /* same depth as r: cannot fail now */
        size_t got = 0;
        while (deja__pb_next(&r2, &x) == DEJA__PB_FIELD && got < n) {
            if (x.number != (ints ? A_INTS : A_FLOATS)) continue;
            if (!deja__pb_decode(&r2, &x, ints ? DEJA__PB_ELEM_VARINT : DEJA__PB_ELEM_FIXED32,
                                 tmp + got, n - got, &k))
                return PB_FAIL(ld, &r2);
            got += k;
        }
        for (size_t i = 0; i < n; i++) {
            if (ints) {
                ((int64_t *)dst)[i] = (int64_t)tmp[i];
            } else {
                uint32_t bits = (uint32_t)tmp[i];
                memcpy((float *)dst + i, &bits, 4);
            }
        }
        if (ints)
            a->ints = dst;
        else
            a->floats = dst;
        break;
    }
    default:
        break;
    }
    return DEJA_OK;
}

/* Constant: exactly one value attribute becomes the tensor of its output. */
static deja_status constant_tensor(loader *ld, deja__onnx_node *nd, size_t at,
                                   const deja__onnx_tensor **out)
{
    const deja__onnx_attr *v = NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < nd->n_attrs; i++) {
        const deja__onnx_attr *a = &nd->attrs[i];
        if (!deja__onnx_op_attr_type(DEJA__OP_CONSTANT, a->name))
            return FAIL(
                ld, DEJA_UNSUPPORTED, at,
                "Constant '%s' with attribute '%s' is not supported (value, value_float(s), "
                "value_int(s))",
                nd->name, a->name);
        v = a;
        n++;
    }
    if (n != 1)
        return FAIL(ld, DEJA_FORMAT, at, "Constant '%s' has %u value attributes, expected 1",
                    nd->name, n);
    if (v->type == DEJA__ATTR_TENSOR) {
        *out = v->t;
        return DEJA_OK;
    }
    deja__onnx_tensor *t;
    TAKE(ld, t, sizeof *t, at);
    bool list = v->type == DEJA__ATTR_FLOATS || v->type == DEJA__ATTR_INTS;
    t->dtype = v->type == DEJA__ATTR_FLOAT || v->type == DEJA__ATTR_FLOATS ? DEJA__ONNX_FLOAT
                                                                           : DEJA__ONNX_INT64;
    t->rank = list ? 1 : 0;
    t->dims[0] = list ? (int64_t)v->n : 0;
    t->count = list ? v->n : 1;
    t->bytes = t->count * deja__onnx_dtype_bytes(t->dtype);
    const void *src = v->type == DEJA__ATTR_FLOAT    ? (const void *)&v->f
                      : v->type == DEJA__ATTR_INT    ? (const void *)&v->i
                      : v->type == DEJA__ATTR_FLOATS ? (const void *)v->floats
                                                     : (const void *)v->ints;
    *out = t;
    return deja__onnx_ld_queue(ld, t, SRC_ATTR, 0, 0, src, at);
}

/* ---- nodes ----------------------------------------------------------------------------- */

/* op_type and domain of node field f, for the up-front operator check. */
static deja_status scan_node(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                             uint32_t ni)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, op = {0}, dom = {0};
    deja__pb_result res;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        if (x.number == N_OP_TYPE) {
            CHECK(check_string(ld, &x, "op_type"));
            op = x;
        } else if (x.number == N_DOMAIN) {
            CHECK(check_string(ld, &x, "domain"));
            dom = x;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    if (op.len == 0) return FAIL(ld, DEJA_FORMAT, f->offset, "node has no op_type");
    char name[72];
    bool default_domain = dom.len == 0 || field_is(ld, &dom, "ai.onnx");
    if (default_domain)
        snprintf(name, sizeof name, "%.*s", (int)(op.len < 64 ? op.len : 64),
                 (const char *)ld->buf + op.data);
    else
        snprintf(name, sizeof name, "%.*s:%.*s", (int)(dom.len < 32 ? dom.len : 32),
                 (const char *)ld->buf + dom.data, (int)(op.len < 32 ? op.len : 32),
                 (const char *)ld->buf + op.data);
    if (default_domain && deja__onnx_op_from_name(name) != DEJA__OP_UNSUPPORTED) return DEJA_OK;
    for (uint32_t i = 0; i < ld->n_unsup; i++)
        if (strcmp(ld->unsup[i].name, name) == 0) {
            ld->unsup[i].count++;
            return DEJA_OK;
        }
    if (ld->n_unsup == MAX_UNSUP) {
        ld->n_unsup_more++;
        return DEJA_OK;
    }
    unsup *u = &ld->unsup[ld->n_unsup++];
    memcpy(u->name, name, sizeof u->name);
    u->count = 1;
    u->first = ni;
    return DEJA_OK;
}

static deja_status report_unsupported(loader *ld, size_t at)
{
    char list[DEJA_ERROR_BYTES];
    size_t k = 0;
    list[0] = '\0';
    for (uint32_t i = 0; i < ld->n_unsup && k < sizeof list; i++) {
        const unsup *u = &ld->unsup[i];
        int w = u->count > 1
                    ? snprintf(list + k, sizeof list - k, "%s%s (%u nodes, first graph.node[%u])",
                               i ? ", " : "", u->name, u->count, u->first)
                    : snprintf(list + k, sizeof list - k, "%s%s (graph.node[%u])", i ? ", " : "",
                               u->name, u->first);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (ld->n_unsup_more && k < sizeof list)
        snprintf(list + k, sizeof list - k, " and %u more nodes", ld->n_unsup_more);
    return FAIL(ld, DEJA_UNSUPPORTED, at, "unsupported operators: %s", list);
}

/* Input and output counts against the op's table; required inputs present. */
static deja_status check_arity(loader *ld, const deja__onnx_node *nd, size_t at)
{
    const deja__onnx_op_info *info = deja__onnx_op_get(nd->op);
    if (nd->n_inputs < info->min_in || nd->n_inputs > info->max_in)
        return FAIL(ld, DEJA_FORMAT, at, "%s '%s' has %u inputs, expected %u..%u", info->name,
                    nd->name, nd->n_inputs, info->min_in, info->max_in);
    if (nd->n_outputs < info->min_out || nd->n_outputs > info->max_out)
        return FAIL(ld, DEJA_FORMAT, at, "%s '%s' has %u outputs, expected %u..%u", info->name,
                    nd->name, nd->n_outputs, info->min_out, info->max_out);
    return DEJA_OK;
}

static deja_status parse_node(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                              uint32_t ni, deja__onnx_node *nd)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, op = {0};
    deja__pb_result res;
    uint32_t n_in = 0, n_out = 0, n_attr = 0;
    nd->name = "";
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        switch (x.number) {
        case N_INPUT:
            CHECK(check_string(ld, &x, "input"));
            if (++n_in > DEJA__ONNX_MAX_NODE_IO)
                return FAIL(ld, DEJA_LIMIT, x.offset, "input count > limit %d",
                            DEJA__ONNX_MAX_NODE_IO);
            break;
        case N_OUTPUT:
            CHECK(check_string(ld, &x, "output"));
            if (++n_out > DEJA__ONNX_MAX_NODE_IO)
                return FAIL(ld, DEJA_LIMIT, x.offset, "output count > limit %d",
                            DEJA__ONNX_MAX_NODE_IO);
            break;
        case N_NAME:
            CHECK(copy_string(ld, &x, "name", &nd->name));
            break;
        case N_OP_TYPE:
            op = x; /* checked by scan_node */
            break;
        case N_ATTRIBUTE:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "attribute"));
            if (++n_attr > DEJA__ONNX_MAX_ATTRS)
                return FAIL(ld, DEJA_LIMIT, x.offset, "attribute count > limit %d",
                            DEJA__ONNX_MAX_ATTRS);
            break;
        default:
            break;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    CHECK(copy_string(ld, &op, "op_type", &nd->op_type));
    nd->op = deja__onnx_op_from_name(nd->op_type); /* supported: scan_node said so */
    nd->n_inputs = n_in;
    nd->n_outputs = n_out;
    nd->n_attrs = n_attr;
    CHECK(check_arity(ld, nd, f->offset));
    int32_t *in, *out;
    deja__onnx_attr *attrs;
    TAKE(ld, in, (n_in + 1) * sizeof *in, f->offset);
    TAKE(ld, out, (n_out + 1) * sizeof *out, f->offset);
    TAKE(ld, attrs, (n_attr + 1) * sizeof *attrs, f->offset);
    nd->inputs = in;
    nd->outputs = out;
    nd->attrs = attrs;
    const deja__onnx_op_info *info = deja__onnx_op_get(nd->op);

    /* Inputs and attributes, then outputs: a node may not consume its own output. */
    deja__pb_enter(parent, f, &r);
    uint32_t i = 0, ai = 0, o = 0;
    char def[64];
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number == N_INPUT) {
            if (x.len == 0) {
                if (i < info->required_in)
                    return FAIL(ld, DEJA_FORMAT, x.offset,
                                "%s '%s': input[%u] is required, got \"\"", nd->op_type, nd->name,
                                i);
                in[i++] = DEJA__ONNX_ABSENT;
                continue;
            }
            int32_t id = find_name(ld, ld->buf + x.data, x.len);
            if (id < 0)
                return FAIL(ld, DEJA_FORMAT, x.offset,
                            "%s '%s': input[%u] '%.*s' is not an earlier node output, initializer "
                            "or graph input",
                            nd->op_type, nd->name, i, (int)(x.len < 128 ? x.len : 128),
                            (const char *)ld->buf + x.data);
            in[i++] = id;
        } else if (x.number == N_ATTRIBUTE) {
            size_t old = push(ld, ".attribute[%u]", ai);
            CHECK(parse_attr(ld, &r, &x, nd->op, &attrs[ai]));
            for (uint32_t j = 0; j < ai; j++)
                if (strcmp(attrs[j].name, attrs[ai].name) == 0)
                    return FAIL(ld, DEJA_FORMAT, x.offset, "attribute '%s' given twice (also [%u])",
                                attrs[ai].name, j);
            pop(ld, old);
            ai++;
        }
    }
    deja__pb_enter(parent, f, &r);
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number != N_OUTPUT) continue;
        if (x.len == 0) {
            if (o == 0)
                return FAIL(ld, DEJA_FORMAT, x.offset, "%s '%s': output[0] is \"\"", nd->op_type,
                            nd->name);
            out[o++] = DEJA__ONNX_ABSENT;
            continue;
        }
        int32_t id = find_name(ld, ld->buf + x.data, x.len);
        if (id >= 0)
            return FAIL(ld, DEJA_FORMAT, x.offset, "%s '%s': output[%u] '%s' is already %s",
                        nd->op_type, nd->name, o, ld->values[id].name,
                        defined_as(ld, id, def, sizeof def));
        CHECK(add_value(ld, &x, DEJA__VALUE_NODE, (int32_t)ni, &id));
        out[o++] = id;
    }
    if (nd->op == DEJA__OP_CONSTANT) {
        const deja__onnx_tensor *t = NULL;
        CHECK(constant_tensor(ld, nd, f->offset, &t));
        deja__onnx_value *v = &ld->values[out[0]];
        v->kind = DEJA__VALUE_CONSTANT;
        set_from_tensor(v, t);
    }
    return DEJA_OK;
}

/* ---- graph ----------------------------------------------------------------------------- */

typedef struct graph_counts {
    uint32_t nodes, initializers, inputs, outputs;
} graph_counts;

static deja_status count_graph(loader *ld, deja__pb_reader *r, deja__onnx_model *m, graph_counts *c)
{
    deja__pb_field x;
    deja__pb_result res;
    memset(c, 0, sizeof *c);
    while ((res = deja__pb_next(r, &x)) == DEJA__PB_FIELD) {
        switch (x.number) {
        case G_NODE: {
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "node"));
            if (c->nodes >= DEJA__ONNX_MAX_NODES)
                return FAIL(ld, DEJA_LIMIT, x.offset, "node count > limit %d",
                            DEJA__ONNX_MAX_NODES);
            size_t old = push(ld, ".node[%u]", c->nodes);
            CHECK(scan_node(ld, r, &x, c->nodes));
            pop(ld, old);
            c->nodes++;
            break;
        }
        case G_NAME:
            CHECK(copy_string(ld, &x, "graph name", &m->graph_name));
            break;
        case G_INITIALIZER:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "initializer"));
            if (++c->initializers > DEJA__ONNX_MAX_TENSORS)
                return FAIL(ld, DEJA_LIMIT, x.offset, "initializer count > limit %d",
                            DEJA__ONNX_MAX_TENSORS);
            break;
        case G_INPUT:
        case G_OUTPUT:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, x.number == G_INPUT ? "input" : "output"));
            if (++*(x.number == G_INPUT ? &c->inputs : &c->outputs) > DEJA__ONNX_MAX_VALUES)
                return FAIL(ld, DEJA_LIMIT, x.offset, "graph input/output count > limit %d",
                            DEJA__ONNX_MAX_VALUES);
            break;
        case G_SPARSE_INIT:
            return FAIL(ld, DEJA_UNSUPPORTED, x.offset, "sparse_initializer is not supported");
        default:
            break;
        }
    }
    return res == DEJA__PB_BAD ? PB_FAIL(ld, r) : DEJA_OK;
}

static deja_status parse_graph(loader *ld, deja__pb_reader *parent, const deja__pb_field *gf,
                               deja__onnx_model *m, int32_t **input_ids)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, gf, &r)) return PB_FAIL(ld, parent);
    graph_counts c;
    CHECK(count_graph(ld, &r, m, &c));
    if (ld->n_unsup) return report_unsupported(ld, gf->offset);
    if (c.outputs == 0) return FAIL(ld, DEJA_FORMAT, gf->offset, "graph has no outputs");

    deja__onnx_node *nodes;
    int32_t *ins, *outs;
    TAKE(ld, nodes, (c.nodes + 1) * sizeof *nodes, gf->offset);
    TAKE(ld, ins, (c.inputs + 1) * sizeof *ins, gf->offset);
    TAKE(ld, outs, (c.outputs + 1) * sizeof *outs, gf->offset);
    m->nodes = nodes;
    m->n_nodes = c.nodes;
    m->outputs = outs;
    m->n_outputs = c.outputs;
    *input_ids = ins;
    ld->n_graph_inputs = c.inputs;

    deja__pb_field x;
    value_info vi;
    char def[64];
    uint32_t k = 0;
    /* Graph inputs. */
    deja__pb_enter(parent, gf, &r);
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number != G_INPUT) continue;
        size_t old = push(ld, ".input[%u]", k);
        CHECK(deja__onnx_ld_value_info(ld, &r, &x, &vi));
        int32_t id = find_name(ld, ld->buf + vi.name.data, vi.name.len);
        if (id >= 0)
            return FAIL(ld, DEJA_FORMAT, x.offset, "input '%s' is listed twice",
                        ld->values[id].name);
        CHECK(add_value(ld, &vi.name, DEJA__VALUE_INPUT, -1, &id));
        set_declared(&ld->values[id], &vi);
        ins[k++] = id;
        pop(ld, old);
    }
    /* Initializers (an input of the same name takes the initializer as its value). */
    deja__pb_enter(parent, gf, &r);
    k = 0;
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number != G_INITIALIZER) continue;
        size_t old = push(ld, ".initializer[%u]", k++);
        deja__onnx_tensor *t = NULL;
        deja__pb_field name = {0};
        CHECK(deja__onnx_ld_tensor(ld, &r, &x, &t, &name));
        if (name.len == 0) return FAIL(ld, DEJA_FORMAT, x.offset, "initializer has no name");
        int32_t id = find_name(ld, ld->buf + name.data, name.len);
        if (id >= 0 && ld->values[id].kind != DEJA__VALUE_INPUT)
            return FAIL(ld, DEJA_FORMAT, x.offset, "initializer '%s' is already %s",
                        ld->values[id].name, defined_as(ld, id, def, sizeof def));
        if (id < 0) CHECK(add_value(ld, &name, DEJA__VALUE_INITIALIZER, -1, &id));
        ld->values[id].kind = DEJA__VALUE_INITIALIZER;
        set_from_tensor(&ld->values[id], t);
        pop(ld, old);
    }
    /* Nodes. */
    deja__pb_enter(parent, gf, &r);
    k = 0;
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number != G_NODE) continue;
        size_t old = push(ld, ".node[%u]", k);
        CHECK(parse_node(ld, &r, &x, k, &nodes[k]));
        pop(ld, old);
        k++;
    }
    /* Outputs. */
    deja__pb_enter(parent, gf, &r);
    k = 0;
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD) {
        if (x.number != G_OUTPUT) continue;
        size_t old = push(ld, ".output[%u]", k);
        CHECK(deja__onnx_ld_value_info(ld, &r, &x, &vi));
        int32_t id = find_name(ld, ld->buf + vi.name.data, vi.name.len);
        if (id < 0)
            return FAIL(ld, DEJA_FORMAT, x.offset, "output '%.*s' is not a value of the graph",
                        (int)(vi.name.len < 128 ? vi.name.len : 128),
                        (const char *)ld->buf + vi.name.data);
        deja__onnx_value *v = &ld->values[id];
        if (v->is_output)
            return FAIL(ld, DEJA_FORMAT, x.offset, "output '%s' is listed twice", v->name);
        v->is_output = true;
        if (!v->tensor) set_declared(v, &vi);
        outs[k++] = id;
        pop(ld, old);
    }
    return DEJA_OK;
}

/* ---- model ----------------------------------------------------------------------------- */

static deja_status parse_opset(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                               int64_t *version, bool *is_default)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, dom = {0};
    deja__pb_result res;
    *version = 0;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        if (x.number == OS_DOMAIN) {
            CHECK(check_string(ld, &x, "domain"));
            dom = x;
        } else if (x.number == OS_VERSION) {
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "version"));
            *version = (int64_t)x.u;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    *is_default = dom.len == 0 || field_is(ld, &dom, "ai.onnx");
    if (!*is_default)
        return FAIL(ld, DEJA_UNSUPPORTED, f->offset,
                    "operator set domain '%.*s' (version %lld) is not supported: default domain "
                    "only",
                    (int)(dom.len < 128 ? dom.len : 128), (const char *)ld->buf + dom.data,
                    (long long)*version);
    return DEJA_OK;
}

static deja_status parse_model(loader *ld, deja__onnx_model *m, int32_t **input_ids)
{
    if (ld->n == 0) return FAIL(ld, DEJA_FORMAT, 0, "empty file, not an ONNX model");
    deja__pb_reader r;
    deja__pb_init(&r, ld->buf, ld->n);
    deja__pb_field x, graph = {0};
    deja__pb_result res;
    bool has_graph = false, has_opset = false;
    uint32_t k = 0;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        switch (x.number) {
        case M_IR_VERSION:
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "ir_version"));
            m->ir_version = (int64_t)x.u;
            break;
        case M_PRODUCER_NAME:
            CHECK(copy_string(ld, &x, "producer_name", &m->producer_name));
            break;
        case M_PRODUCER_VERSION:
            CHECK(copy_string(ld, &x, "producer_version", &m->producer_version));
            break;
        case M_GRAPH:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "graph"));
            if (has_graph) return FAIL(ld, DEJA_FORMAT, x.offset, "graph given twice");
            graph = x;
            has_graph = true;
            break;
        case M_OPSET: {
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "opset_import"));
            size_t old = push(ld, "opset_import[%u]", k++);
            int64_t version = 0;
            bool is_default = false;
            CHECK(parse_opset(ld, &r, &x, &version, &is_default));
            if (has_opset) return FAIL(ld, DEJA_FORMAT, x.offset, "default domain imported twice");
            has_opset = true;
            m->opset = version;
            if (version < DEJA__ONNX_OPSET_MIN || version > DEJA__ONNX_OPSET_MAX)
                return FAIL(ld, DEJA_UNSUPPORTED, x.offset,
                            "opset version %lld outside the supported %d..%d", (long long)version,
                            DEJA__ONNX_OPSET_MIN, DEJA__ONNX_OPSET_MAX);
            pop(ld, old);
            break;
        }
        default:
            break;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    if (!has_opset)
        return FAIL(ld, DEJA_FORMAT, 0, "no opset_import for the default domain (not ONNX?)");
    if (!has_graph) return FAIL(ld, DEJA_FORMAT, 0, "no graph (not an ONNX model?)");
    size_t old = push(ld, "graph");
    CHECK(parse_graph(ld, &r, &graph, m, input_ids));
    pop(ld, old);
    return DEJA_OK;
}

/* Values into the arena, run-time inputs, uses, then the weight arena. */
static deja_status finish(loader *ld, deja__onnx_model *m, const int32_t *input_ids,
                          uint32_t n_declared)
{
    deja__onnx_value *values;
    int32_t *ins;
    TAKE(ld, values, (ld->n_values + 1) * sizeof *values, 0);
    TAKE(ld, ins, (n_declared + 1) * sizeof *ins, 0);
    if (ld->n_values) memcpy(values, ld->values, ld->n_values * sizeof *values);
    m->values = values;
    m->n_values = (uint32_t)ld->n_values;
    for (uint32_t i = 0; i < n_declared; i++)
        if (values[input_ids[i]].kind == DEJA__VALUE_INPUT) ins[m->n_inputs++] = input_ids[i];
    m->inputs = ins;
    for (uint32_t ni = 0; ni < m->n_nodes; ni++) {
        const deja__onnx_node *nd = &m->nodes[ni];
        for (uint32_t i = 0; i < nd->n_inputs; i++) {
            if (nd->inputs[i] < 0) continue;
            values[nd->inputs[i]].n_uses++;
            values[nd->inputs[i]].last_use = (int32_t)ni;
        }
    }
    for (uint32_t i = 0; i < m->n_outputs; i++)
        values[m->outputs[i]].last_use = (int32_t)m->n_nodes;

    m->n_tensors = (uint32_t)ld->n_pend;
    m->weight_bytes = ld->weight_bytes;
    size_t raw_bytes = ld->weight_bytes + WEIGHT_ALIGN;
    uint8_t *raw = deja__alloc(&ld->a, raw_bytes);
    if (!raw) return FAIL(ld, DEJA_NOMEM, 0, "out of memory (weights, %zu bytes)", raw_bytes);
    m->arena_raw = raw;
    m->arena_raw_bytes = raw_bytes;
    uint8_t *base = raw + (WEIGHT_ALIGN - (uintptr_t)raw % WEIGHT_ALIGN) % WEIGHT_ALIGN;
    memset(base, 0, ld->weight_bytes);
    m->weights = base;
    for (size_t i = 0; i < ld->n_pend; i++) {
        const pending *p = &ld->pend[i];
        uint8_t *dst = base + p->offset;
        if (p->t->count == 0) continue;
        if (p->src == SRC_RAW)
            memcpy(dst, ld->buf + p->at, p->len); /* little-endian host */
        else if (p->src == SRC_ATTR)
            memcpy(dst, p->attr_data, p->t->bytes);
        else
            deja__onnx_ld_copy_typed(ld, p, dst);
        p->t->data = dst;
    }
    return DEJA_OK;
}

static deja_status load(const deja_options *o, const uint8_t *buf, size_t n, const char *name,
                        deja__onnx_model **out, char *err)
{
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    (void)o, (void)buf, (void)n, (void)out;
    return DEJA_ERR(err, DEJA_UNSUPPORTED, "%s: little-endian hosts only (ONNX raw_data)", name);
#endif
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.buf = buf;
    ld.n = n;
    ld.source = name;
    ld.err = err;
    ld.a = deja__allocator(o);
    deja__onnx_model *m = take(&ld, sizeof *m);
    char *source = m ? take(&ld, strlen(name) + 1) : NULL;
    deja_status st;
    int32_t *input_ids = NULL;
    if (!m || !source) {
        st = FAIL(&ld, DEJA_NOMEM, 0, "out of memory (model)");
    } else {
        memcpy(source, name, strlen(name) + 1);
        m->source = source;
        m->producer_name = m->producer_version = m->graph_name = "";
        m->alloc = ld.a;
        st = parse_model(&ld, m, &input_ids);
        if (st == DEJA_OK) st = finish(&ld, m, input_ids, ld.n_graph_inputs);
    }
    deja__free(&ld.a, ld.values, ld.cap_values * sizeof *ld.values);
    deja__free(&ld.a, ld.slots, ld.n_slots * sizeof *ld.slots);
    deja__free(&ld.a, ld.pend, ld.cap_pend * sizeof *ld.pend);
    if (st != DEJA_OK) {
        if (m) deja__free(&ld.a, m->arena_raw, m->arena_raw_bytes);
        free_chunks(&ld.a, ld.chunks);
        return st;
    }
    m->chunks = ld.chunks;
    *out = m;
    return DEJA_OK;
}

deja_status deja__onnx_model_load_memory(const deja_options *o, const void *bytes, size_t n,
                                         const char *name, deja__onnx_model **out, char *err)
{
    if (!name) name = "<memory>";
    if (!out || (!bytes && n))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: NULL bytes or out", name);
    if ((uint64_t)n > DEJA__ONNX_MAX_FILE_BYTES)
        return DEJA_ERR(err, DEJA_LIMIT, "%s: size %zu bytes > limit %llu", name, n,
                        (unsigned long long)DEJA__ONNX_MAX_FILE_BYTES);
    return load(o, bytes, n, name, out, err);
}

deja_status deja__onnx_model_load(const deja_options *o, const char *path, deja__onnx_model **out,
                                  char *err)
{
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "onnx load: NULL path or out");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DEJA_ERR(err, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return DEJA_ERR(err, DEJA_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return DEJA_ERR(err, DEJA_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > DEJA__ONNX_MAX_FILE_BYTES) {
        close(fd);
        return DEJA_ERR(err, DEJA_LIMIT, "%s: file size %llu bytes > limit %llu", path,
                        (unsigned long long)st.st_size,
                        (unsigned long long)DEJA__ONNX_MAX_FILE_BYTES);
    }
    size_t n = (size_t)st.st_size;
    void *map = NULL;
    if (n) {
        map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return DEJA_ERR(err, DEJA_IO, "%s: cannot map %zu bytes: %s", path, n, strerror(e));
        }
    }
    close(fd);
    deja_status s = load(o, map, n, path, out, err);
    if (map) munmap(map, n);
    return s;
}

void deja__onnx_model_destroy(deja__onnx_model *m)
{
    if (!m) return;
    deja_allocator a = m->alloc;
    chunk *c = m->chunks; /* m itself lives in one of them */
    deja__free(&a, m->arena_raw, m->arena_raw_bytes);
    free_chunks(&a, c);
}
