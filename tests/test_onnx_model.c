/* test_onnx_model.c - the protobuf reader (pb.h) and the ONNX loader and shape inference
 * (model.h). Models are built here with a tiny protobuf writer (field numbers of onnx.proto
 * restated on purpose), loaded from memory and from files; every truncation and many byte
 * mutations must end in an error or a valid model, never a crash or a leak (run under ASan);
 * hand-made hostile models check status and message. The shared models (../shared/models) are
 * loaded when present: operator counts and output shapes as their READMEs state. */
#include "model.h"
#include "pb.h"
#include "test.h"
#include "test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a tiny protobuf writer ------------------------------------------------------------ */

typedef struct pbw {
    uint8_t *b;
    size_t n, cap;
} pbw;

static void w_raw(pbw *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
        if (!w->b) abort();
    }
    if (n) memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void w_varint(pbw *w, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b |= 0x80;
        w_raw(w, &b, 1);
    } while (v);
}
static void w_key(pbw *w, uint32_t field, int wire)
{
    w_varint(w, (uint64_t)field << 3 | (unsigned)wire);
}
static void w_int(pbw *w, uint32_t field, int64_t v)
{
    w_key(w, field, 0);
    w_varint(w, (uint64_t)v);
}
static void w_bytes(pbw *w, uint32_t field, const void *p, size_t n)
{
    w_key(w, field, 2);
    w_varint(w, n);
    w_raw(w, p, n);
}
static void w_str(pbw *w, uint32_t field, const char *s)
{
    w_bytes(w, field, s, strlen(s));
}
static void w_f32(pbw *w, uint32_t field, float f)
{
    w_key(w, field, 5);
    w_raw(w, &f, 4); /* little-endian host */
}
/* Appends sub as a LEN field and frees it. */
static void w_msg(pbw *w, uint32_t field, pbw *sub)
{
    w_bytes(w, field, sub->b, sub->n);
    free(sub->b);
    *sub = (pbw){0};
}
static void w_packed_i64(pbw *w, uint32_t field, const int64_t *v, size_t n)
{
    pbw p = {0};
    for (size_t i = 0; i < n; i++)
        w_varint(&p, (uint64_t)v[i]);
    w_msg(w, field, &p);
}
static void w_packed_f32(pbw *w, uint32_t field, const float *v, size_t n)
{
    w_bytes(w, field, v, 4 * n);
}

/* ---- ONNX messages (onnx.proto field numbers) ----------------------------------------- */

enum { RAW, TYPED, TYPED_UNPACKED };

/* TensorProto: dims 1, data_type 2, float_data 4, int64_data 7, name 8, raw_data 9. */
static pbw tensor(const char *name, int32_t dtype, const int64_t *dims, int rank, const void *data,
                  size_t count, int mode)
{
    pbw t = {0};
    for (int i = 0; i < rank; i++)
        w_int(&t, 1, dims[i]);
    w_int(&t, 2, dtype);
    if (name) w_str(&t, 8, name);
    size_t es = dtype == 7 ? 8 : 4;
    if (mode == RAW) {
        w_bytes(&t, 9, data, count * es);
    } else if (mode == TYPED) {
        if (dtype == 7)
            w_packed_i64(&t, 7, data, count);
        else
            w_packed_f32(&t, 4, data, count);
    } else {
        for (size_t i = 0; i < count; i++) {
            if (dtype == 7)
                w_int(&t, 7, ((const int64_t *)data)[i]);
            else
                w_f32(&t, 4, ((const float *)data)[i]);
        }
    }
    return t;
}

/* AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20. */
static pbw attr_ints(const char *name, const int64_t *v, size_t n)
{
    pbw a = {0};
    w_str(&a, 1, name);
    for (size_t i = 0; i < n; i++)
        w_int(&a, 8, v[i]);
    w_int(&a, 20, 7);
    return a;
}
static pbw attr_int(const char *name, int64_t v)
{
    pbw a = {0};
    w_str(&a, 1, name);
    w_int(&a, 3, v);
    w_int(&a, 20, 2);
    return a;
}
static pbw attr_float(const char *name, float v)
{
    pbw a = {0};
    w_str(&a, 1, name);
    w_f32(&a, 2, v);
    w_int(&a, 20, 1);
    return a;
}
static pbw attr_string(const char *name, const char *s)
{
    pbw a = {0};
    w_str(&a, 1, name);
    w_str(&a, 4, s);
    w_int(&a, 20, 3);
    return a;
}
static pbw attr_tensor(const char *name, pbw *t)
{
    pbw a = {0};
    w_str(&a, 1, name);
    w_msg(&a, 5, t);
    w_int(&a, 20, 4);
    return a;
}

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7. Lists end at NULL;
 * attrs (n_attrs of them) are consumed. */
static pbw node(const char *op, const char *name, const char *const *in, const char *const *out,
                pbw *attrs, int n_attrs)
{
    pbw n = {0};
    for (int i = 0; in && in[i]; i++)
        w_str(&n, 1, in[i]);
    for (int i = 0; out && out[i]; i++)
        w_str(&n, 2, out[i]);
    if (name) w_str(&n, 3, name);
    w_str(&n, 4, op);
    for (int i = 0; i < n_attrs; i++)
        w_msg(&n, 5, &attrs[i]);
    return n;
}

/* ValueInfoProto name 1, type 2 -> TypeProto tensor_type 1 -> elem_type 1, shape 2 -> dim 1
 * -> dim_value 1 | dim_param 2. dims: a number, or -1 for the next symbol. */
static pbw value_info(const char *name, int32_t elem, const int64_t *dims, int rank,
                      const char *const *syms)
{
    pbw shape = {0}, tt = {0}, ty = {0}, vi = {0};
    for (int i = 0, s = 0; i < rank; i++) {
        pbw d = {0};
        if (dims[i] >= 0)
            w_int(&d, 1, dims[i]);
        else
            w_str(&d, 2, syms[s++]);
        w_msg(&shape, 1, &d);
    }
    w_int(&tt, 1, elem);
    if (rank >= 0) w_msg(&tt, 2, &shape);
    free(shape.b);
    w_msg(&ty, 1, &tt);
    w_str(&vi, 1, name);
    w_msg(&vi, 2, &ty);
    return vi;
}

/* GraphProto node 1, name 2, initializer 5, input 11, output 12; ModelProto ir_version 1,
 * producer_name 2, graph 7, opset_import 8 (domain 1, version 2) written last. */
typedef struct gb {
    pbw graph;
} gb;

static void g_node(gb *g, pbw n)
{
    w_msg(&g->graph, 1, &n);
}
static void g_init(gb *g, pbw t)
{
    w_msg(&g->graph, 5, &t);
}
static void g_input(gb *g, pbw vi)
{
    w_msg(&g->graph, 11, &vi);
}
static void g_output(gb *g, pbw vi)
{
    w_msg(&g->graph, 12, &vi);
}
static pbw g_model(gb *g, int64_t opset, const char *domain)
{
    pbw m = {0}, os = {0};
    w_int(&m, 1, 7);
    w_str(&m, 2, "deja-test");
    w_str(&g->graph, 2, "g");
    w_msg(&m, 7, &g->graph);
    if (domain) w_str(&os, 1, domain);
    w_int(&os, 2, opset);
    w_msg(&m, 8, &os);
    return m;
}

/* ---- the small test model: Conv(3->4, 3x3, pads 1) + Relu --------------------------------- */

#define CIN  3
#define COUT 4
static float wdata[COUT * CIN * 9], bdata[COUT];

static void fill_weights(void)
{
    for (int i = 0; i < COUT * CIN * 9; i++)
        wdata[i] = (float)i * 0.25f - 3.0f;
    for (int i = 0; i < COUT; i++)
        bdata[i] = (float)i + 0.5f;
}

/* Variants for the hostile tests. */
typedef struct variant {
    int weight_mode;      /* RAW / TYPED / TYPED_UNPACKED */
    int64_t opset;        /* 0 = 13 */
    const char *domain;   /* opset domain; NULL = none written */
    const char *relu_in;  /* NULL = "c" */
    const char *relu_out; /* NULL = "y" */
    pbw *conv_extra_attr; /* added to Conv */
} variant;

static pbw small_model(const variant *v)
{
    fill_weights();
    gb g = {{0}};
    static const int64_t wd[4] = {COUT, CIN, 3, 3}, bd[1] = {COUT};
    static const int64_t xin[4] = {1, CIN, -1, -1}, yout[4] = {1, COUT, -1, -1};
    static const char *const hw[2] = {"H", "W"};
    g_input(&g, value_info("x", 1, xin, 4, hw));
    g_init(&g, tensor("w", 1, wd, 4, wdata, COUT * CIN * 9, v ? v->weight_mode : RAW));
    g_init(&g, tensor("b", 1, bd, 1, bdata, COUT, v ? v->weight_mode : RAW));
    static const int64_t pads[4] = {1, 1, 1, 1}, one[2] = {1, 1}, k3[2] = {3, 3};
    pbw at[6] = {attr_ints("dilations", one, 2), attr_int("group", 1),
                 attr_ints("kernel_shape", k3, 2), attr_ints("pads", pads, 4),
                 attr_ints("strides", one, 2)};
    int n_at = 5;
    if (v && v->conv_extra_attr) at[n_at++] = *v->conv_extra_attr;
    g_node(&g, node("Conv", "conv", (const char *const[]){"x", "w", "b", NULL},
                    (const char *const[]){"c", NULL}, at, n_at));
    const char *rin = v && v->relu_in ? v->relu_in : "c",
               *rout = v && v->relu_out ? v->relu_out : "y";
    g_node(&g, node("Relu", "relu", (const char *const[]){rin, NULL},
                    (const char *const[]){rout, NULL}, NULL, 0));
    g_output(&g, value_info("y", 1, yout, 4, hw));
    return g_model(&g, v && v->opset ? v->opset : 13, v ? v->domain : NULL);
}

/* Loads bytes expecting st; on failure the message must contain each non-NULL needle. Frees
 * the model if loaded. Returns 1 when as expected. */
static int expect_load(const pbw *m, deja_status st, const char *n1, const char *n2)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__onnx_model *mod = NULL;
    char err[DEJA_ERROR_BYTES] = "";
    deja_status got = deja__onnx_model_load_memory(&o, m->b, m->n, "t.onnx", &mod, err);
    if (got == DEJA_OK) deja__onnx_model_destroy(mod);
    int ok = got == st && c.live == 0 && c.blocks == 0;
    if (ok && st != DEJA_OK)
        ok = strstr(err, "t.onnx") && (!n1 || strstr(err, n1)) && (!n2 || strstr(err, n2)) &&
             strcmp(err, deja_last_error()) == 0;
    if (!ok)
        fprintf(stderr, "    got %s (%s), live %zu, expected %s with '%s' '%s'\n",
                deja_status_name(got), err, c.live, deja_status_name(st), n1 ? n1 : "",
                n2 ? n2 : "");
    return ok;
}

/* First occurrence of needle in b[0, n), or NULL (memmem is a GNU extension). */
static uint8_t *find_bytes(uint8_t *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, needle, k) == 0) return b + i;
    return NULL;
}

/* ---- pb tests ---------------------------------------------------------------------------- */

TEST(pb_varints_decode_up_to_ten_bytes)
{
    const uint64_t vals[] = {
        0, 1, 127, 128, 300, 16383, 16384, (uint64_t)1 << 32, (uint64_t)1 << 63, UINT64_MAX};
    const size_t lens[] = {1, 1, 1, 2, 2, 2, 3, 5, 10, 10};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pbw w = {0};
        w_varint(&w, vals[i]);
        EXPECT_EQ(w.n, lens[i]);
        size_t pos = 0;
        uint64_t v = 0;
        EXPECT(deja__pb_varint(w.b, &pos, w.n, &v));
        EXPECT(v == vals[i]);
        EXPECT_EQ(pos, w.n);
        /* Every truncation fails. */
        for (size_t k = 0; k < w.n; k++) {
            pos = 0;
            EXPECT(!deja__pb_varint(w.b, &pos, k, &v));
        }
        free(w.b);
    }
    /* Non-minimal but within 10 bytes is accepted (the encoding allows it). */
    const uint8_t padded[3] = {0x81, 0x80, 0x00};
    size_t pos = 0;
    uint64_t v;
    EXPECT(deja__pb_varint(padded, &pos, 3, &v) && v == 1 && pos == 3);
}

TEST(pb_varints_longer_than_ten_bytes_or_past_64_bits_fail)
{
    uint8_t b[12];
    memset(b, 0x80, sizeof b);
    b[10] = 0x00; /* 11 bytes */
    deja__pb_reader r;
    deja__pb_field f;
    uint8_t msg[16] = {0x08}; /* field 1 VARINT */
    memcpy(msg + 1, b, 11);
    deja__pb_init(&r, msg, 12);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_VARINT_TOO_LONG);
    EXPECT_EQ(r.fault_offset, 0);
    /* 10 bytes whose last sets bit 64. */
    memset(msg + 1, 0xff, 9);
    msg[10] = 0x02;
    deja__pb_init(&r, msg, 11);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_VARINT_TOO_LONG);
    msg[10] = 0x01; /* exactly UINT64_MAX */
    deja__pb_init(&r, msg, 11);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT(f.u == UINT64_MAX);
    EXPECT_EQ(deja__pb_int64(&f), -1);
    char text[160];
    deja__pb_init(&r, msg, 5);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
    deja__pb_error_text(&r, text, sizeof text);
    EXPECT(strstr(text, "truncated") != NULL);
}

/* A message with one field of each wire type. */
static pbw all_wire_types(void)
{
    pbw w = {0};
    w_int(&w, 1, -2); /* VARINT */
    w_key(&w, 2, 1);  /* I64 */
    w_raw(&w, (const uint8_t[8]){1, 2, 3, 4, 5, 6, 7, 8}, 8);
    w_str(&w, 3, "hello");   /* LEN */
    w_f32(&w, 4, 1.5f);      /* I32 */
    w_int(&w, 536870911, 7); /* largest field number */
    return w;
}

TEST(pb_reads_every_wire_type)
{
    pbw w = all_wire_types();
    deja__pb_reader r;
    deja__pb_field f;
    deja__pb_init(&r, w.b, w.n);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT_EQ(f.number, 1);
    EXPECT_EQ(f.wire, DEJA__PB_VARINT);
    EXPECT_EQ(deja__pb_int64(&f), -2);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT_EQ(f.wire, DEJA__PB_I64);
    EXPECT(f.u == 0x0807060504030201ull);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT_EQ(f.wire, DEJA__PB_LEN);
    EXPECT_EQ(f.len, 5);
    EXPECT(memcmp(w.b + f.data, "hello", 5) == 0);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT_EQ(f.wire, DEJA__PB_I32);
    EXPECT(deja__pb_float(&f) == 1.5f);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT_EQ(f.number, 536870911);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_END);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_END);
    free(w.b);
    /* Groups, wire types 6/7 and field number 0 are faults. */
    const uint8_t bad[][2] = {{0x0b, 0}, {0x0c, 0}, {0x0e, 0}, {0x0f, 0}, {0x00, 0}};
    const deja__pb_fault want[] = {DEJA__PB_FAULT_WIRE_TYPE, DEJA__PB_FAULT_WIRE_TYPE,
                                   DEJA__PB_FAULT_WIRE_TYPE, DEJA__PB_FAULT_WIRE_TYPE,
                                   DEJA__PB_FAULT_KEY_RANGE};
    for (int i = 0; i < 5; i++) {
        deja__pb_init(&r, bad[i], 2);
        EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
        EXPECT_EQ(r.fault, want[i]);
        EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD); /* sticky */
    }
    /* A key above 32 bits. */
    pbw k = {0};
    w_varint(&k, (uint64_t)1 << 35);
    deja__pb_init(&r, k.b, k.n);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_KEY_RANGE);
    free(k.b);
}

TEST(pb_truncation_at_every_length_faults_inside_a_field)
{
    pbw w = all_wire_types();
    /* Field boundaries: a prefix ending on one reads cleanly to END. */
    size_t bounds[8], nb = 0;
    deja__pb_reader r;
    deja__pb_field f;
    deja__pb_init(&r, w.b, w.n);
    bounds[nb++] = 0;
    while (deja__pb_next(&r, &f) == DEJA__PB_FIELD)
        bounds[nb++] = r.pos;
    for (size_t k = 0; k <= w.n; k++) {
        uint8_t *p = malloc(k ? k : 1); /* exact size: ASan catches any over-read */
        memcpy(p, w.b, k);
        deja__pb_init(&r, p, k);
        deja__pb_result res;
        int fields = 0;
        while ((res = deja__pb_next(&r, &f)) == DEJA__PB_FIELD)
            fields++;
        int boundary = 0;
        for (size_t i = 0; i < nb; i++)
            boundary |= bounds[i] == k;
        EXPECT_EQ(res, boundary ? DEJA__PB_END : DEJA__PB_BAD);
        free(p);
    }
    /* A LEN longer than what is left names both. */
    const uint8_t len[3] = {0x1a, 0x05, 'a'};
    deja__pb_init(&r, len, 3);
    EXPECT_EQ(deja__pb_next(&r, &f), DEJA__PB_BAD);
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_LENGTH);
    EXPECT_EQ(r.fault_value, 5);
    EXPECT_EQ(r.fault_limit, 1);
    char text[160];
    deja__pb_error_text(&r, text, sizeof text);
    EXPECT(strstr(text, "length 5 > 1 bytes left") != NULL);
    free(w.b);
}

TEST(pb_packed_and_unpacked_repeated_fields)
{
    pbw w = {0};
    const int64_t iv[4] = {1, 300, -1, 0};
    const float fv[3] = {0.5f, -2.0f, 1e30f};
    w_packed_i64(&w, 1, iv, 4);
    w_packed_f32(&w, 2, fv, 3);
    w_int(&w, 1, 42);    /* unpacked int */
    w_f32(&w, 2, 3.25f); /* unpacked float */
    w_bytes(&w, 3, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
    deja__pb_reader r;
    deja__pb_field f;
    uint64_t out[8];
    size_t n;
    deja__pb_init(&r, w.b, w.n);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    ASSERT(deja__pb_count(&r, &f, DEJA__PB_ELEM_VARINT, &n));
    EXPECT_EQ(n, 4);
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_VARINT, out, 8, &n));
    EXPECT_EQ(n, 4);
    for (int i = 0; i < 4; i++)
        EXPECT_EQ((int64_t)out[i], iv[i]);
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_VARINT, out, 2, &n)); /* capped */
    EXPECT_EQ(n, 2);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    ASSERT(deja__pb_count(&r, &f, DEJA__PB_ELEM_FIXED32, &n));
    EXPECT_EQ(n, 3);
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_FIXED32, out, 8, &n));
    for (int i = 0; i < 3; i++) {
        uint32_t bits = (uint32_t)out[i];
        float x;
        memcpy(&x, &bits, 4);
        EXPECT(x == fv[i]);
    }
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    ASSERT(deja__pb_count(&r, &f, DEJA__PB_ELEM_VARINT, &n));
    EXPECT_EQ(n, 1);
    ASSERT(deja__pb_count(&r, &f, DEJA__PB_ELEM_FIXED32, &n));
    EXPECT_EQ(n, 0); /* wrong wire type: not an element */
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_VARINT, out, 8, &n));
    EXPECT(n == 1 && out[0] == 42);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_FIXED32, out, 8, &n));
    EXPECT(n == 1 && out[0] == 0x40500000u);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    ASSERT(deja__pb_count(&r, &f, DEJA__PB_ELEM_FIXED64, &n));
    EXPECT_EQ(n, 2);
    ASSERT(deja__pb_decode(&r, &f, DEJA__PB_ELEM_FIXED64, out, 8, &n));
    EXPECT(out[1] == 0x100f0e0d0c0b0a09ull);
    free(w.b);

    /* Packed payloads that do not divide, or end inside a varint. */
    const uint8_t odd[7] = {0x12, 0x05, 1, 2, 3, 4, 5};
    deja__pb_init(&r, odd, 7);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT(!deja__pb_count(&r, &f, DEJA__PB_ELEM_FIXED32, &n));
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_PACKED_SIZE);
    const uint8_t cut[4] = {0x0a, 0x02, 0x05, 0x80};
    deja__pb_init(&r, cut, 4);
    ASSERT_EQ(deja__pb_next(&r, &f), DEJA__PB_FIELD);
    EXPECT(!deja__pb_count(&r, &f, DEJA__PB_ELEM_VARINT, &n));
    EXPECT_EQ(r.fault, DEJA__PB_FAULT_VARINT_TRUNCATED);
}

TEST(pb_nesting_depth_is_limited)
{
    /* 40 levels of field 1 LEN wrapping. */
    pbw inner = {0};
    w_int(&inner, 2, 5);
    for (int i = 0; i < 40; i++) {
        pbw outer = {0};
        w_msg(&outer, 1, &inner);
        inner = outer;
    }
    deja__pb_reader r[DEJA__PB_MAX_DEPTH + 2];
    deja__pb_field f;
    deja__pb_init(&r[0], inner.b, inner.n);
    int d = 0;
    for (;;) {
        ASSERT_EQ(deja__pb_next(&r[d], &f), DEJA__PB_FIELD);
        if (!deja__pb_enter(&r[d], &f, &r[d + 1])) break;
        d++;
    }
    EXPECT_EQ(d, DEJA__PB_MAX_DEPTH);
    EXPECT_EQ(r[d].fault, DEJA__PB_FAULT_DEPTH);
    EXPECT_EQ(deja__pb_next(&r[d], &f), DEJA__PB_BAD);
    free(inner.b);
}

/* ---- loading ------------------------------------------------------------------------------ */

static void check_small(const deja__onnx_model *m)
{
    EXPECT_EQ(m->ir_version, 7);
    EXPECT_EQ(m->opset, 13);
    EXPECT(strcmp(m->producer_name, "deja-test") == 0);
    EXPECT(strcmp(m->graph_name, "g") == 0);
    ASSERT_EQ(m->n_nodes, 2);
    ASSERT_EQ(m->n_values, 5); /* x, w, b, c, y */
    ASSERT_EQ(m->n_inputs, 1);
    ASSERT_EQ(m->n_outputs, 1);
    EXPECT_EQ(m->n_tensors, 2);
    const deja__onnx_node *conv = &m->nodes[0], *relu = &m->nodes[1];
    EXPECT_EQ(conv->op, DEJA__OP_CONV);
    EXPECT_EQ(relu->op, DEJA__OP_RELU);
    EXPECT(strcmp(conv->name, "conv") == 0 && strcmp(conv->op_type, "Conv") == 0);
    ASSERT_EQ(conv->n_inputs, 3);
    int32_t x = deja__onnx_find_value(m, "x"), w = deja__onnx_find_value(m, "w");
    int32_t b = deja__onnx_find_value(m, "b"), c = deja__onnx_find_value(m, "c");
    int32_t y = deja__onnx_find_value(m, "y");
    EXPECT(x >= 0 && w >= 0 && b >= 0 && c >= 0 && y >= 0);
    EXPECT_EQ(deja__onnx_find_value(m, "nope"), -1);
    EXPECT_EQ(conv->inputs[0], x);
    EXPECT_EQ(conv->inputs[1], w);
    EXPECT_EQ(conv->inputs[2], b);
    EXPECT_EQ(conv->outputs[0], c);
    EXPECT_EQ(relu->inputs[0], c);
    EXPECT_EQ(relu->outputs[0], y);
    EXPECT_EQ(m->inputs[0], x);
    EXPECT_EQ(m->outputs[0], y);
    const deja__onnx_value *vx = &m->values[x], *vw = &m->values[w], *vc = &m->values[c];
    const deja__onnx_value *vy = &m->values[y];
    EXPECT_EQ(vx->kind, DEJA__VALUE_INPUT);
    EXPECT_EQ(vx->dtype, DEJA__ONNX_FLOAT);
    ASSERT_EQ(vx->rank, 4);
    EXPECT_EQ(vx->dims[1].value, CIN);
    EXPECT(vx->dims[2].value == -1 && vx->dims[2].param && strcmp(vx->dims[2].param, "H") == 0);
    EXPECT(vx->dims[3].param && strcmp(vx->dims[3].param, "W") == 0);
    EXPECT_EQ(vw->kind, DEJA__VALUE_INITIALIZER);
    ASSERT(vw->tensor != NULL);
    EXPECT_EQ(vw->tensor->rank, 4);
    EXPECT_EQ(vw->tensor->dims[0], COUT);
    EXPECT_EQ(vw->tensor->count, COUT * CIN * 9);
    EXPECT_EQ((uintptr_t)vw->tensor->data % 64, 0);
    EXPECT(memcmp(vw->tensor->data, wdata, sizeof wdata) == 0);
    EXPECT(memcmp(m->values[b].tensor->data, bdata, sizeof bdata) == 0);
    EXPECT_EQ((uintptr_t)m->values[b].tensor->data % 64, 0);
    EXPECT_EQ(vc->kind, DEJA__VALUE_NODE);
    EXPECT_EQ(vc->producer, 0);
    EXPECT_EQ(vc->last_use, 1);
    EXPECT_EQ(vc->n_uses, 1);
    EXPECT_EQ(vc->rank, -1);
    EXPECT(vy->is_output && !vc->is_output);
    EXPECT_EQ(vy->last_use, 2);
    EXPECT_EQ(vy->rank, 4);
    EXPECT_EQ(vw->last_use, 0);
    /* Attributes in file order, with lookups. */
    ASSERT_EQ(conv->n_attrs, 5);
    const deja__onnx_attr *pads = deja__onnx_attr_find(conv, "pads");
    ASSERT(pads != NULL);
    EXPECT_EQ(pads->type, DEJA__ATTR_INTS);
    ASSERT_EQ(pads->n, 4);
    EXPECT_EQ(pads->ints[3], 1);
    EXPECT_EQ(deja__onnx_attr_int(conv, "group", 9), 1);
    EXPECT_EQ(deja__onnx_attr_int(conv, "missing", 9), 9);
    deja__onnx_window win;
    ASSERT_OK(deja__onnx_window_params(m, 0, NULL, &win, NULL));
    EXPECT(win.kernel[0] == 3 && win.stride[1] == 1 && win.pad[2] == 1 && win.group == 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CONV), 1);
}

TEST(loads_a_small_conv_relu_model_from_memory_and_file)
{
    pbw mb = small_model(NULL);
    test_counter cnt = {0};
    deja_options o = test_counting_options(&cnt);
    deja__onnx_model *m = NULL;
    ASSERT_OK(deja__onnx_model_load_memory(&o, mb.b, mb.n, "small", &m, NULL));
    EXPECT(strcmp(m->source, "small") == 0);
    check_small(m);
    /* Nothing points into the buffer: overwrite it, the model stays intact. */
    memset(mb.b, 0xAB, mb.n);
    check_small(m);
    deja__onnx_model_destroy(m);
    EXPECT_EQ(cnt.live, 0);
    free(mb.b);

    mb = small_model(NULL);
    const char *path = test_tmp_path("small.onnx");
    ASSERT(test_write_file(path, mb.b, mb.n));
    ASSERT_OK(deja__onnx_model_load(&o, path, &m, NULL));
    EXPECT(strcmp(m->source, path) == 0);
    check_small(m);
    deja__onnx_model_destroy(m);
    EXPECT_EQ(cnt.live, 0);
    unlink(path);
    free(mb.b);
    deja__onnx_model_destroy(NULL);
}

TEST(typed_data_packed_or_not_loads_like_raw_data)
{
    int modes[2] = {TYPED, TYPED_UNPACKED};
    for (int i = 0; i < 2; i++) {
        variant v = {.weight_mode = modes[i]};
        pbw mb = small_model(&v);
        deja__onnx_model *m = NULL;
        ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, NULL, &m, NULL));
        EXPECT(strcmp(m->source, "<memory>") == 0);
        check_small(m);
        deja__onnx_model_destroy(m);
        free(mb.b);
    }
}

/* Constant nodes of every value form feeding Slice / Resize / Clip. */
static pbw constants_model(void)
{
    gb g = {{0}};
    static const int64_t xin[4] = {1, 5, -1, -1};
    static const char *const hw[2] = {"H", "W"};
    g_input(&g, value_info("x", 1, xin, 4, hw));
    const int64_t one = 1, neg1 = -1, big = INT64_MAX, zero = 0;
    pbw t, a[1];
    t = tensor(NULL, 7, &one, 1, &zero, 1, RAW);
    a[0] = attr_tensor("value", &t);
    g_node(&g, node("Constant", "c_start", NULL, (const char *const[]){"start", NULL}, a, 1));
    t = tensor(NULL, 7, &one, 1, &neg1, 1, TYPED);
    a[0] = attr_tensor("value", &t);
    g_node(&g, node("Constant", "c_end", NULL, (const char *const[]){"end", NULL}, a, 1));
    a[0] = attr_ints("value_ints", &one, 1);
    g_node(&g, node("Constant", "c_axes", NULL, (const char *const[]){"axes", NULL}, a, 1));
    t = tensor(NULL, 7, &one, 1, &big, 1, TYPED_UNPACKED);
    a[0] = attr_tensor("value", &t);
    g_node(&g, node("Constant", "c_big", NULL, (const char *const[]){"big", NULL}, a, 1));
    a[0] = attr_float("value_float", 1e-6f);
    g_node(&g, node("Constant", "c_min", NULL, (const char *const[]){"lo", NULL}, a, 1));
    const int64_t four = 4;
    const float sc[4] = {1, 1, 2, 3};
    t = tensor(NULL, 1, &four, 1, sc, 4, TYPED_UNPACKED);
    a[0] = attr_tensor("value", &t);
    g_node(&g, node("Constant", "c_scales", NULL, (const char *const[]){"scales", NULL}, a, 1));
    /* body = x[:, 0:-1], head = x[:, -1:], both through Clip(lo, absent max); Resize head. */
    g_node(&g, node("Slice", "s0", (const char *const[]){"x", "start", "end", "axes", NULL},
                    (const char *const[]){"body", NULL}, NULL, 0));
    g_node(&g, node("Slice", "s1", (const char *const[]){"x", "end", "big", "axes", "axes", NULL},
                    (const char *const[]){"head", NULL}, NULL, 0));
    g_node(&g, node("Clip", "clip", (const char *const[]){"body", "lo", "", NULL},
                    (const char *const[]){"body_c", NULL}, NULL, 0));
    pbw ra[3] = {attr_string("mode", "linear"),
                 attr_string("coordinate_transformation_mode", "align_corners"),
                 attr_float("cubic_coeff_a", -0.75f)};
    g_node(&g, node("Resize", "up", (const char *const[]){"head", "", "scales", NULL},
                    (const char *const[]){"head_up", NULL}, ra, 3));
    static const int64_t keep[1] = {1};
    pbw rd[2] = {attr_ints("axes", keep, 1), attr_int("keepdims", 1)};
    g_node(&g, node("ReduceL2", "norm", (const char *const[]){"body_c", NULL},
                    (const char *const[]){"n", NULL}, rd, 2));
    g_node(&g, node("Div", "div", (const char *const[]){"body_c", "n", NULL},
                    (const char *const[]){"desc", NULL}, NULL, 0));
    g_node(&g, node("GlobalAveragePool", "gap", (const char *const[]){"desc", NULL},
                    (const char *const[]){"g", NULL}, NULL, 0));
    pbw fa[1] = {attr_int("axis", 1)};
    g_node(&g, node("Flatten", "flat", (const char *const[]){"g", NULL},
                    (const char *const[]){"gf", NULL}, fa, 1));
    static const int64_t o4[4] = {1, 4, -1, -1}, h4[4] = {1, 1, -1, -1}, g2[2] = {1, 4};
    g_output(&g, value_info("desc", 1, o4, 4, hw));
    g_output(&g, value_info("head_up", 1, h4, 4, (const char *const[]){"H2", "W3"}));
    g_output(&g, value_info("gf", 1, g2, 2, NULL));
    return g_model(&g, 13, "");
}

static void expect_shape(const deja__onnx_model *m, const deja__onnx_shape *s, const char *name,
                         const char *want)
{
    int32_t id = deja__onnx_find_value(m, name);
    char got[128] = "(no such value)";
    if (id >= 0) deja__onnx_shape_text(&s[id], got, sizeof got);
    if (strcmp(got, want) != 0) TEST_FAIL_AT("shape of '%s': %s, expected %s", name, got, want);
}

TEST(constants_slices_resize_reduce_and_flatten_infer_shapes)
{
    pbw mb = constants_model();
    deja__onnx_model *m = NULL;
    ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "const.onnx", &m, NULL));
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CONSTANT), 6);
    EXPECT_EQ(m->n_tensors, 6);
    const deja__onnx_value *big = &m->values[deja__onnx_find_value(m, "big")];
    EXPECT_EQ(big->kind, DEJA__VALUE_CONSTANT);
    EXPECT(deja__onnx_tensor_i64(big->tensor)[0] == INT64_MAX);
    const deja__onnx_value *lo = &m->values[deja__onnx_find_value(m, "lo")];
    EXPECT_EQ(lo->tensor->rank, 0);
    EXPECT(deja__onnx_tensor_f32(lo->tensor)[0] == 1e-6f);
    EXPECT_EQ(lo->producer, 4);
    const deja__onnx_node *clip = &m->nodes[8];
    EXPECT_EQ(clip->n_inputs, 3);
    EXPECT_EQ(clip->inputs[2], DEJA__ONNX_ABSENT);
    EXPECT_EQ(m->nodes[9].inputs[1], DEJA__ONNX_ABSENT);
    EXPECT(strcmp(deja__onnx_attr_string(&m->nodes[9], "mode", ""), "linear") == 0);
    EXPECT(deja__onnx_attr_float(&m->nodes[9], "cubic_coeff_a", 0) == -0.75f);

    deja__onnx_shape *s = calloc(m->n_values, sizeof *s);
    const int64_t dims[4] = {1, 5, 6, 7};
    ASSERT_OK(deja__onnx_infer_shapes1(m, dims, 4, s, NULL));
    expect_shape(m, s, "body", "1x4x6x7");
    expect_shape(m, s, "head", "1x1x6x7");
    expect_shape(m, s, "head_up", "1x1x12x21");
    expect_shape(m, s, "n", "1x1x6x7");
    expect_shape(m, s, "desc", "1x4x6x7");
    expect_shape(m, s, "g", "1x4x1x1");
    expect_shape(m, s, "gf", "1x4");
    expect_shape(m, s, "lo", "scalar");
    /* The input's channel count is declared 5. */
    const int64_t wrong[4] = {1, 6, 6, 7};
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, wrong, 4, s, err), DEJA_INVALID_ARG);
    EXPECT(strstr(err, "dim 1 = 6 (declared 5") != NULL);
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, dims, 3, s, err), DEJA_INVALID_ARG);
    free(s);
    deja__onnx_model_destroy(m);
    free(mb.b);
}

TEST(small_model_shapes_and_conv_channel_mismatch_names_the_node)
{
    pbw mb = small_model(NULL);
    deja__onnx_model *m = NULL;
    ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "small", &m, NULL));
    deja__onnx_shape s[8];
    const int64_t d[4] = {1, 3, 8, 10};
    ASSERT_OK(deja__onnx_infer_shapes1(m, d, 4, s, NULL));
    expect_shape(m, s, "c", "1x4x8x10");
    expect_shape(m, s, "y", "1x4x8x10");
    expect_shape(m, s, "w", "4x3x3x3");
    EXPECT_EQ(deja__onnx_shape_count(&s[m->outputs[0]]), 320);
    const int64_t tiny[4] = {1, 3, 1, 1}; /* 1x1 with pads 1: the 3x3 window still fits */
    ASSERT_OK(deja__onnx_infer_shapes1(m, tiny, 4, s, NULL));
    expect_shape(m, s, "y", "1x4x1x1");
    deja__onnx_model_destroy(m);
    free(mb.b);

    /* Input declared with a symbolic channel count, fed 2 channels: Conv wants 3. */
    gb g = {{0}};
    static const int64_t xin[4] = {1, -1, -1, -1}, wd[4] = {4, 3, 3, 3}, yo[4] = {1, 4, -1, -1};
    fill_weights();
    g_input(&g, value_info("x", 1, xin, 4, (const char *const[]){"C", "H", "W"}));
    g_init(&g, tensor("w", 1, wd, 4, wdata, 4 * 3 * 9, RAW));
    g_node(&g, node("Conv", "the_conv", (const char *const[]){"x", "w", NULL},
                    (const char *const[]){"y", NULL}, NULL, 0));
    g_output(&g, value_info("y", 1, yo, 4, (const char *const[]){"H2", "W2"}));
    mb = g_model(&g, 13, NULL);
    ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "mis.onnx", &m, NULL));
    const int64_t two[4] = {1, 2, 8, 8};
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, two, 4, s, err), DEJA_FORMAT);
    EXPECT(strstr(err, "graph.node[0] 'the_conv' (Conv)") != NULL);
    EXPECT(strstr(err, "2 channels") != NULL);
    const int64_t three[4] = {1, 3, 8, 8};
    ASSERT_OK(deja__onnx_infer_shapes1(m, three, 4, s, err));
    expect_shape(m, s, "y", "1x4x6x6"); /* no pads */
    deja__onnx_model_destroy(m);
    free(mb.b);
}

/* Two-input Add whose shapes do not broadcast, and MaxPool / asymmetric-pad stride-2 Conv. */
TEST(broadcasting_pooling_and_asymmetric_pads)
{
    gb g = {{0}};
    static const int64_t xin[4] = {1, 2, -1, -1}, wd[4] = {2, 1, 3, 3};
    static const char *const hw[2] = {"H", "W"};
    float w[18];
    for (int i = 0; i < 18; i++)
        w[i] = (float)i;
    g_input(&g, value_info("x", 1, xin, 4, hw));
    static const int64_t cd[4] = {1, 2, 1, 1};
    const float cv[2] = {1, 2};
    g_init(&g, tensor("k", 1, cd, 4, cv, 2, RAW));
    g_init(&g, tensor("w", 1, wd, 4, w, 18, RAW));
    static const int64_t pads[4] = {0, 0, 1, 1}, s2[2] = {2, 2}, k3[2] = {3, 3};
    pbw ca[4] = {attr_ints("pads", pads, 4), attr_ints("strides", s2, 2), attr_int("group", 2),
                 attr_ints("kernel_shape", k3, 2)};
    g_node(&g, node("Mul", "mul", (const char *const[]){"x", "k", NULL},
                    (const char *const[]){"xm", NULL}, NULL, 0));
    g_node(&g, node("Conv", "dw", (const char *const[]){"xm", "w", NULL},
                    (const char *const[]){"d", NULL}, ca, 4));
    static const int64_t pk[2] = {2, 2};
    pbw pa[3] = {attr_ints("kernel_shape", pk, 2), attr_ints("strides", pk, 2),
                 attr_int("ceil_mode", 1)};
    g_node(&g, node("MaxPool", "pool", (const char *const[]){"d", NULL},
                    (const char *const[]){"p", "", NULL}, pa, 3));
    g_node(&g, node("Add", "add", (const char *const[]){"p", "x", NULL},
                    (const char *const[]){"y", NULL}, NULL, 0));
    static const int64_t yo[4] = {1, 2, -1, -1};
    g_output(&g, value_info("p", 1, yo, 4, (const char *const[]){"a", "b"}));
    g_output(&g, value_info("y", 1, yo, 4, (const char *const[]){"c", "d"}));
    pbw mb = g_model(&g, 13, NULL);
    deja__onnx_model *m = NULL;
    ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "bc.onnx", &m, NULL));
    EXPECT_EQ(m->nodes[2].n_outputs, 2);
    EXPECT_EQ(m->nodes[2].outputs[1], DEJA__ONNX_ABSENT);
    deja__onnx_shape s[16];
    char err[DEJA_ERROR_BYTES];
    /* 9x9: conv (9+1-3)/2+1 = 4, pool ceil (4-2)/2+1 = 2; Add 1x2x2x2 + 1x2x9x9 fails. */
    const int64_t d9[4] = {1, 2, 9, 9};
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, d9, 4, s, err), DEJA_FORMAT);
    EXPECT(strstr(err, "graph.node[3] 'add' (Add)") && strstr(err, "do not broadcast"));
    expect_shape(m, s, "xm", "1x2x9x9");
    expect_shape(m, s, "d", "1x2x4x4");
    expect_shape(m, s, "p", "1x2x2x2");
    /* 1x1: conv (1+1-3)/2+1 = 0+1 = 1 ... window 3 > padded 2: error names the conv. */
    const int64_t d1[4] = {1, 2, 1, 1};
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, d1, 4, s, err), DEJA_FORMAT);
    EXPECT(strstr(err, "'dw' (Conv)") && strstr(err, "larger than the padded input"));
    /* 4x4: conv (4+1-3)/2+1 = 2, pool 1; Add 1x2x1x1 + 1x2x4x4 broadcasts. */
    const int64_t d4[4] = {1, 2, 4, 4};
    ASSERT_OK(deja__onnx_infer_shapes1(m, d4, 4, s, err));
    expect_shape(m, s, "p", "1x2x1x1");
    expect_shape(m, s, "y", "1x2x4x4");
    /* ceil_mode: 6x6 -> conv 3x3 -> pool ceil((3-2)/2)+1 = 2. */
    const int64_t d6[4] = {1, 2, 6, 6};
    EXPECT_STATUS(deja__onnx_infer_shapes1(m, d6, 4, s, err), DEJA_FORMAT);
    expect_shape(m, s, "p", "1x2x2x2");
    deja__onnx_model_destroy(m);
    free(mb.b);
}

/* ---- hostile models ------------------------------------------------------------------------ */

TEST(hostile_models_fail_with_status_and_message)
{
    pbw mb;
    variant v;

    /* Dangling input. */
    v = (variant){.relu_in = "nowhere"};
    mb = small_model(&v);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.node[1]", "input[0] 'nowhere' is not an earlier"));
    free(mb.b);
    /* A node consuming its own output. */
    v = (variant){.relu_in = "y"};
    mb = small_model(&v);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "'y' is not an earlier", "(byte "));
    free(mb.b);
    /* Duplicate output names (Relu writes Conv's output). */
    v = (variant){.relu_out = "c"};
    mb = small_model(&v);
    EXPECT(
        expect_load(&mb, DEJA_FORMAT, "output[0] 'c' is already an output of graph.node[0]", NULL));
    free(mb.b);
    v = (variant){.relu_out = "w"};
    mb = small_model(&v);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "'w' is already an initializer", NULL));
    free(mb.b);
    /* Opset: other domain, too old, missing. */
    v = (variant){.domain = "com.microsoft"};
    mb = small_model(&v);
    EXPECT(expect_load(&mb, DEJA_UNSUPPORTED, "opset_import[0]", "domain 'com.microsoft'"));
    free(mb.b);
    v = (variant){.opset = 9};
    mb = small_model(&v);
    EXPECT(
        expect_load(&mb, DEJA_UNSUPPORTED, "opset version 9 outside the supported 11..17", NULL));
    free(mb.b);
    /* Attributes: of the wrong type, given twice, of a type deja does not keep. */
    pbw bad = attr_int("pads", 1);
    v = (variant){.conv_extra_attr = &bad};
    mb = small_model(&v); /* consumes bad */
    EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.node[0].attribute[5]",
                       "attribute 'pads' has type INT, expected INTS"));
    free(mb.b);
    bad = attr_int("group", 1);
    v = (variant){.conv_extra_attr = &bad};
    mb = small_model(&v);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.node[0].attribute[5]",
                       "attribute 'group' given twice (also [1])"));
    free(mb.b);
    {
        gb g = {{0}};
        static const int64_t xin[4] = {1, 3, 4, 4};
        g_input(&g, value_info("x", 1, xin, 4, NULL));
        pbw a[1] = {attr_int("kernel_shape", 2)};
        g_node(&g, node("MaxPool", "p", (const char *const[]){"x", NULL},
                        (const char *const[]){"y", NULL}, a, 1));
        g_output(&g, value_info("y", 1, xin, -1, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.node[0].attribute[0]",
                           "'kernel_shape' has type INT, expected INTS"));
        free(mb.b);
    }
    {
        gb g = {{0}};
        static const int64_t xin[4] = {1, 3, 4, 4};
        g_input(&g, value_info("x", 1, xin, 4, NULL));
        pbw a = {0};
        w_str(&a, 1, "body");
        pbw sub = {0};
        w_str(&sub, 2, "sub");
        w_msg(&a, 6, &sub);
        w_int(&a, 20, 5); /* GRAPH */
        g_node(&g, node("Relu", "r", (const char *const[]){"x", NULL},
                        (const char *const[]){"y", NULL}, &a, 1));
        g_output(&g, value_info("y", 1, xin, 4, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(expect_load(&mb, DEJA_UNSUPPORTED, "attribute 'body' has type GRAPH (5)", NULL));
        free(mb.b);
    }
}

/* One initializer t (with the Conv+Relu around it replaced by a single Add x + t). */
static pbw model_with_init(pbw t)
{
    gb g = {{0}};
    static const int64_t xin[1] = {2};
    g_input(&g, value_info("x", 1, xin, 1, NULL));
    g_init(&g, t);
    g_node(&g, node("Add", "add", (const char *const[]){"x", "t", NULL},
                    (const char *const[]){"y", NULL}, NULL, 0));
    g_output(&g, value_info("y", 1, xin, 1, NULL));
    return g_model(&g, 13, NULL);
}

TEST(hostile_tensors_fail_with_status_and_message)
{
    const float f2[2] = {1, 2};
    const int64_t d2[1] = {2};
    pbw mb;
    /* Baseline loads. */
    mb = model_with_init(tensor("t", 1, d2, 1, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_OK, NULL, NULL));
    free(mb.b);
    /* raw_data length mismatch. */
    const int64_t d3[1] = {3};
    mb = model_with_init(tensor("t", 1, d3, 1, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.initializer[0]",
                       "raw_data has 8 bytes but dims 3 of FLOAT need 12"));
    free(mb.b);
    mb = model_with_init(tensor("t", 1, d3, 1, f2, 2, TYPED));
    EXPECT(expect_load(&mb, DEJA_FORMAT, "2 float_data values but dims 3 need 3", NULL));
    free(mb.b);
    /* Huge dims: the element count overflows. */
    const int64_t huge[3] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40};
    mb = model_with_init(tensor("t", 1, huge, 3, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_LIMIT, "element count of dims", "overflows"));
    free(mb.b);
    /* Negative dim, too many dims. */
    const int64_t neg[2] = {2, -1};
    mb = model_with_init(tensor("t", 1, neg, 2, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_FORMAT, "dims[1] = -1 < 0", NULL));
    free(mb.b);
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
    mb = model_with_init(tensor("t", 1, nine, 9, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_LIMIT, "dims count 9 > limit 8", NULL));
    free(mb.b);
    /* External data, both ways of saying it. */
    pbw t = tensor("t", 1, d2, 1, f2, 2, RAW);
    w_int(&t, 14, 1);
    mb = model_with_init(t);
    EXPECT(expect_load(&mb, DEJA_UNSUPPORTED, "data_location 1 (EXTERNAL)", NULL));
    free(mb.b);
    t = tensor("t", 1, d2, 1, NULL, 0, TYPED);
    pbw kv = {0};
    w_str(&kv, 1, "location");
    w_str(&kv, 2, "weights.bin");
    w_msg(&t, 13, &kv);
    mb = model_with_init(t);
    EXPECT(expect_load(&mb, DEJA_UNSUPPORTED, "external data", NULL));
    free(mb.b);
    /* Types deja does not take, and data in the wrong field. */
    mb = model_with_init(tensor("t", 6, d2, 1, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_UNSUPPORTED, "data_type INT32 (6) is not supported", NULL));
    free(mb.b);
    t = tensor("t", 1, d2, 1, f2, 2, RAW);
    w_int(&t, 7, 5);
    mb = model_with_init(t);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "int64_data in a FLOAT tensor", NULL));
    free(mb.b);
    t = tensor("t", 1, d2, 1, f2, 2, RAW);
    w_packed_f32(&t, 4, f2, 2);
    mb = model_with_init(t);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "both raw_data and 2 typed values", NULL));
    free(mb.b);
    /* No name; a name that is too long or holds a NUL. */
    mb = model_with_init(tensor(NULL, 1, d2, 1, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_FORMAT, "initializer has no name", NULL));
    free(mb.b);
    char *longname = malloc(5001);
    memset(longname, 'a', 5000);
    longname[5000] = '\0';
    mb = model_with_init(tensor(longname, 1, d2, 1, f2, 2, RAW));
    EXPECT(expect_load(&mb, DEJA_LIMIT, "tensor name length 5000 > limit 4096", NULL));
    free(mb.b);
    free(longname);
    /* Initializer named twice. */
    {
        gb g = {{0}};
        g_input(&g, value_info("x", 1, d2, 1, NULL));
        g_init(&g, tensor("t", 1, d2, 1, f2, 2, RAW));
        g_init(&g, tensor("t", 1, d2, 1, f2, 2, RAW));
        g_node(&g, node("Add", "add", (const char *const[]){"x", "t", NULL},
                        (const char *const[]){"y", NULL}, NULL, 0));
        g_output(&g, value_info("y", 1, d2, 1, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(
            expect_load(&mb, DEJA_FORMAT, "graph.initializer[1]", "'t' is already an initializer"));
        free(mb.b);
    }
    /* An input that has an initializer is not a run-time input. */
    {
        gb g = {{0}};
        g_input(&g, value_info("x", 1, d2, 1, NULL));
        g_input(&g, value_info("t", 1, d2, 1, NULL));
        g_init(&g, tensor("t", 1, d2, 1, f2, 2, RAW));
        g_node(&g, node("Add", "add", (const char *const[]){"x", "t", NULL},
                        (const char *const[]){"y", NULL}, NULL, 0));
        g_output(&g, value_info("y", 1, d2, 1, NULL));
        mb = g_model(&g, 13, NULL);
        deja__onnx_model *m = NULL;
        ASSERT_OK(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "in.onnx", &m, NULL));
        EXPECT_EQ(m->n_inputs, 1);
        EXPECT_EQ(m->values[deja__onnx_find_value(m, "t")].kind, DEJA__VALUE_INITIALIZER);
        deja__onnx_model_destroy(m);
        free(mb.b);
    }
}

TEST(unsupported_operators_are_listed_together)
{
    gb g = {{0}};
    static const int64_t xin[2] = {2, 2};
    g_input(&g, value_info("x", 1, xin, 2, NULL));
    const char *prev = "x";
    char names[6][8];
    const char *ops[6] = {"Gemm", "Relu", "Gemm", "LSTM", "Gemm", "Relu"};
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        g_node(&g, node(ops[i], NULL, (const char *const[]){prev, NULL},
                        (const char *const[]){names[i], NULL}, NULL, 0));
        prev = names[i];
    }
    pbw n = node("FusedConv", NULL, (const char *const[]){prev, NULL},
                 (const char *const[]){"z", NULL}, NULL, 0);
    w_str(&n, 7, "com.microsoft");
    g_node(&g, n);
    g_output(&g, value_info("z", 1, xin, 2, NULL));
    pbw mb = g_model(&g, 13, NULL);
    EXPECT(expect_load(&mb, DEJA_UNSUPPORTED,
                       "unsupported operators: Gemm (3 nodes, first graph.node[0]), LSTM "
                       "(graph.node[3]), com.microsoft:FusedConv (graph.node[6])",
                       NULL));
    free(mb.b);
}

TEST(structural_errors_name_the_field)
{
    pbw mb = {0};
    EXPECT(expect_load(&mb, DEJA_FORMAT, "empty file", NULL));
    /* A model without graph. */
    pbw os = {0};
    w_int(&os, 2, 13);
    w_msg(&mb, 8, &os);
    EXPECT(expect_load(&mb, DEJA_FORMAT, "no graph", NULL));
    free(mb.b);
    /* A graph whose output names nothing, a Conv with one input, a Constant with two values. */
    {
        gb g = {{0}};
        static const int64_t d[1] = {2};
        g_input(&g, value_info("x", 1, d, 1, NULL));
        g_node(&g, node("Relu", "r", (const char *const[]){"x", NULL},
                        (const char *const[]){"y", NULL}, NULL, 0));
        g_output(&g, value_info("q", 1, d, 1, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(expect_load(&mb, DEJA_FORMAT, "graph.output[0]", "'q' is not a value"));
        free(mb.b);
    }
    {
        gb g = {{0}};
        static const int64_t d[4] = {1, 1, 2, 2};
        g_input(&g, value_info("x", 1, d, 4, NULL));
        g_node(&g, node("Conv", "c1", (const char *const[]){"x", NULL},
                        (const char *const[]){"y", NULL}, NULL, 0));
        g_output(&g, value_info("y", 1, d, 4, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(expect_load(&mb, DEJA_FORMAT, "Conv 'c1' has 1 inputs, expected 2..3", NULL));
        free(mb.b);
    }
    {
        gb g = {{0}};
        static const int64_t d[1] = {1};
        g_input(&g, value_info("x", 1, d, 1, NULL));
        pbw a[2] = {attr_float("value_float", 1), attr_int("value_int", 2)};
        g_node(&g, node("Constant", "k", NULL, (const char *const[]){"c", NULL}, a, 2));
        g_node(&g, node("Add", "a", (const char *const[]){"x", "c", NULL},
                        (const char *const[]){"y", NULL}, NULL, 0));
        g_output(&g, value_info("y", 1, d, 1, NULL));
        mb = g_model(&g, 13, NULL);
        EXPECT(expect_load(&mb, DEJA_FORMAT, "Constant 'k' has 2 value attributes", NULL));
        free(mb.b);
    }
    /* A corrupt length inside a node names the path and the byte. */
    mb = small_model(NULL);
    deja__onnx_model *m = NULL;
    /* find "Relu" and claim a longer string */
    uint8_t *p = find_bytes(mb.b, mb.n, "Relu");
    ASSERT(p && p[-1] == 4);
    p[-1] = 100;
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__onnx_model_load_memory(NULL, mb.b, mb.n, "cut.onnx", &m, err), DEJA_FORMAT);
    EXPECT(strstr(err, "cut.onnx: graph.node[1]: corrupt protobuf at byte ") != NULL);
    EXPECT(strstr(err, "length 100 >") != NULL);
    free(mb.b);
}

TEST(file_errors_missing_empty_and_too_large)
{
    deja__onnx_model *m = NULL;
    char err[DEJA_ERROR_BYTES];
    const char *path = test_tmp_path("missing.onnx");
    EXPECT_STATUS(deja__onnx_model_load(NULL, path, &m, err), DEJA_IO);
    EXPECT(strstr(err, "missing.onnx: cannot open") != NULL);
    ASSERT(test_write_file(path, "", 0));
    EXPECT_STATUS(deja__onnx_model_load(NULL, path, &m, err), DEJA_FORMAT);
    EXPECT(strstr(err, "empty file") != NULL);
    /* A sparse file one byte over the limit: refused before mapping. */
    int fd = open(path, O_WRONLY);
    ASSERT(fd >= 0);
    EXPECT(ftruncate(fd, (off_t)DEJA__ONNX_MAX_FILE_BYTES + 1) == 0);
    close(fd);
    EXPECT_STATUS(deja__onnx_model_load(NULL, path, &m, err), DEJA_LIMIT);
    EXPECT(strstr(err, "file size 536870913 bytes > limit 536870912") != NULL);
    unlink(path);
    EXPECT_STATUS(deja__onnx_model_load(NULL, test_tmp_dir(), &m, err), DEJA_IO);
    EXPECT_STATUS(deja__onnx_model_load_memory(NULL, NULL, 3, "x", &m, err), DEJA_INVALID_ARG);
}

/* ---- fuzz-style sweeps --------------------------------------------------------------------- */

/* Loads bytes; on success also runs shape inference. Never crashes; leaks nothing. Returns the
 * load status. */
static deja_status load_any(const uint8_t *b, size_t n, const int64_t *dims, test_counter *c)
{
    deja_options o = test_counting_options(c);
    deja__onnx_model *m = NULL;
    uint8_t *copy = malloc(n ? n : 1); /* exact size for ASan */
    memcpy(copy, b, n);
    deja_status st = deja__onnx_model_load_memory(&o, copy, n, "fuzz", &m, NULL);
    if (st == DEJA_OK) {
        deja__onnx_shape *s = calloc(m->n_values + 1, sizeof *s);
        if (m->n_inputs == 1) {
            deja_status si = deja__onnx_infer_shapes1(m, dims, 4, s, NULL);
            (void)si;
        }
        free(s);
        deja__onnx_model_destroy(m);
    }
    free(copy);
    return st;
}

TEST(every_truncation_of_the_small_model_fails_cleanly)
{
    pbw mb = small_model(NULL);
    const int64_t dims[4] = {1, 3, 8, 8};
    test_counter c = {0};
    int fails = 0;
    for (size_t k = 0; k < mb.n; k++) {
        deja_status st = load_any(mb.b, k, dims, &c);
        fails += st != DEJA_OK;
        if (st == DEJA_OK) TEST_FAIL_AT("prefix of %zu / %zu bytes loaded", k, mb.n);
    }
    EXPECT_EQ(fails, mb.n);
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
    EXPECT_EQ(load_any(mb.b, mb.n, dims, &c), DEJA_OK);
    free(mb.b);
}

TEST(byte_mutations_of_built_models_never_crash_or_leak)
{
    pbw models[2] = {small_model(NULL), constants_model()};
    const int64_t dims[2][4] = {{1, 3, 8, 8}, {1, 5, 4, 6}};
    const uint8_t flips[5] = {0x01, 0x80, 0xff, 0x7f, 0x40};
    test_counter c = {0};
    int ok = 0, total = 0;
    for (int mi = 0; mi < 2; mi++) {
        pbw *mb = &models[mi];
        for (size_t i = 0; i < mb->n; i++) {
            for (int k = 0; k < 5; k++) {
                uint8_t keep = mb->b[i];
                mb->b[i] ^= flips[k];
                ok += load_any(mb->b, mb->n, dims[mi], &c) == DEJA_OK;
                total++;
                mb->b[i] = keep;
            }
        }
        free(mb->b);
    }
    fprintf(stderr, "  %d of %d mutants loaded\n", ok, total);
    EXPECT(ok > 0 && ok < total); /* weight bytes change values only; structure bytes fail */
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
}

TEST(out_of_memory_at_every_allocation_fails_cleanly)
{
    pbw mb = constants_model();
    int done = 0;
    for (size_t k = 1; k < 1000 && !done; k++) {
        test_counter c = {.fail_at = k};
        deja_options o = test_counting_options(&c);
        deja__onnx_model *m = NULL;
        char err[DEJA_ERROR_BYTES];
        deja_status st = deja__onnx_model_load_memory(&o, mb.b, mb.n, "oom", &m, err);
        if (st == DEJA_OK) {
            done = 1;
            EXPECT(c.calls >= 3);
            deja__onnx_model_destroy(m);
        } else {
            EXPECT_EQ(st, DEJA_NOMEM);
            if (st == DEJA_NOMEM) EXPECT(strstr(err, "out of memory") != NULL);
        }
        EXPECT_EQ(c.live, 0);
    }
    EXPECT(done);
    free(mb.b);
}

/* ---- the shared models ---------------------------------------------------------------------- */

static const char *model_path(const char *name, char *buf, size_t size)
{
    const char *shared = test_shared_dir();
    if (!shared) return NULL;
    snprintf(buf, size, "%s/models/%s/model.onnx", shared, name);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void shape_of(const deja__onnx_model *m, const deja__onnx_shape *s, int output, char *out,
                     size_t size)
{
    deja__onnx_shape_text(&s[m->outputs[output]], out, size);
}

TEST(shared_alike_models_load_with_the_readme_operator_counts_and_shapes)
{
    const char *names[2] = {"alike-t", "alike-n"};
    const int dim[2] = {64, 128};
    char path[1200];
    if (!model_path(names[0], path, sizeof path))
        SKIP("no ../shared/models/alike-t/model.onnx (set DEJA_SHARED)");
    for (int k = 0; k < 2; k++) {
        if (!model_path(names[k], path, sizeof path)) continue;
        test_counter c = {0};
        deja_options o = test_counting_options(&c);
        deja__onnx_model *m = NULL;
        uint64_t t0 = deja__now_ns();
        ASSERT_OK(deja__onnx_model_load(&o, path, &m, NULL));
        uint64_t t1 = deja__now_ns();
        fprintf(stderr,
                "  %s: %u nodes, %u values, %u tensors, %zu weight bytes, loaded in %.2f ms "
                "(%zu allocations)\n",
                names[k], m->n_nodes, m->n_values, m->n_tensors, m->weight_bytes,
                (double)(t1 - t0) / 1e6, c.calls);
        EXPECT_EQ(m->ir_version, 7);
        EXPECT_EQ(m->opset, 13);
        EXPECT(strcmp(m->producer_name, "pytorch") == 0);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CONV), 16);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_RELU), 12);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_MAXPOOL), 3);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_ADD), 3);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_RESIZE), 3);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CONCAT), 1);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_SLICE), 2);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_SIGMOID), 1);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_REDUCEL2), 1);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CLIP), 1);
        EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_DIV), 1);
        /* Conv split by kernel: 8 3x3 with bias, 3 1x1 with bias, 5 1x1 without. */
        int k3 = 0, k1b = 0, k1 = 0;
        size_t params = 0;
        for (uint32_t i = 0; i < m->n_nodes; i++) {
            const deja__onnx_node *nd = &m->nodes[i];
            if (nd->op != DEJA__OP_CONV) continue;
            const deja__onnx_tensor *w = m->values[nd->inputs[1]].tensor;
            ASSERT(w != NULL);
            k3 += w->dims[2] == 3;
            k1b += w->dims[2] == 1 && nd->n_inputs == 3;
            k1 += w->dims[2] == 1 && nd->n_inputs == 2;
        }
        for (uint32_t i = 0; i < m->n_values; i++)
            if (m->values[i].kind == DEJA__VALUE_INITIALIZER) params += m->values[i].tensor->count;
        EXPECT_EQ(k3, 8);
        EXPECT_EQ(k1b, 3);
        EXPECT_EQ(k1, 5);
        EXPECT_EQ(params, k ? 328688 : 82488); /* "values stored in the ONNX initializers" */
        ASSERT_EQ(m->n_inputs, 1);
        ASSERT_EQ(m->n_outputs, 2);
        EXPECT(strcmp(m->values[m->inputs[0]].name, "image") == 0);
        EXPECT(strcmp(m->values[m->outputs[0]].name, "scores_map") == 0);
        EXPECT(strcmp(m->values[m->outputs[1]].name, "descriptor_map") == 0);
        /* Resize: roi absent, scales a Constant. */
        for (uint32_t i = 0; i < m->n_nodes; i++) {
            const deja__onnx_node *nd = &m->nodes[i];
            if (nd->op != DEJA__OP_RESIZE) continue;
            EXPECT_EQ(nd->inputs[1], DEJA__ONNX_ABSENT);
            EXPECT_EQ(m->values[nd->inputs[2]].kind, DEJA__VALUE_CONSTANT);
        }

        deja__onnx_shape *s = calloc(m->n_values, sizeof *s);
        /* H, W must be multiples of 32: the 240x320 test image runs zero-padded to 256x320. */
        const int64_t sizes[2][4] = {{1, 3, 480, 640}, {1, 3, 256, 320}};
        for (int j = 0; j < 2; j++) {
            char got[64], want[64];
            ASSERT_OK(deja__onnx_infer_shapes1(m, sizes[j], 4, s, NULL));
            shape_of(m, s, 0, got, sizeof got);
            snprintf(want, sizeof want, "1x1x%lldx%lld", (long long)sizes[j][2],
                     (long long)sizes[j][3]);
            EXPECT(strcmp(got, want) == 0);
            shape_of(m, s, 1, got, sizeof got);
            snprintf(want, sizeof want, "1x%dx%lldx%lld", dim[k], (long long)sizes[j][2],
                     (long long)sizes[j][3]);
            if (strcmp(got, want) != 0) TEST_FAIL_AT("descriptor_map %s, expected %s", got, want);
        }
        /* Unpadded 1x3x240x320: the pools floor 240 -> 120 -> 30 -> 7, upsampled x2/x8/x32 to
         * 240, 240, 224 rows: the Concat with the 240-row block1 map fails, naming the Concat. */
        const int64_t odd[4] = {1, 3, 240, 320};
        char err[DEJA_ERROR_BYTES];
        EXPECT_STATUS(deja__onnx_infer_shapes1(m, odd, 4, s, err), DEJA_FORMAT);
        char frag[96];
        snprintf(frag, sizeof frag, "is 1x%dx224x320 but input[0] is 1x%dx240x320", dim[k] / 4,
                 dim[k] / 4);
        EXPECT(strstr(err, frag) != NULL);
        EXPECT(strstr(err, "(Concat)") != NULL);
        free(s);
        deja__onnx_model_destroy(m);
        EXPECT_EQ(c.live, 0);
    }
}

TEST(shared_mobilenet_gem_loads_and_gives_a_256_descriptor)
{
    char path[1200];
    if (!model_path("mobilenetv1-0.25-gem", path, sizeof path))
        SKIP("no ../shared/models/mobilenetv1-0.25-gem/model.onnx (set DEJA_SHARED)");
    deja__onnx_model *m = NULL;
    uint64_t t0 = deja__now_ns();
    ASSERT_OK(deja__onnx_model_load(NULL, path, &m, NULL));
    fprintf(stderr, "  mobilenetv1-0.25-gem: %u nodes, %zu weight bytes, loaded in %.2f ms\n",
            m->n_nodes, m->weight_bytes, (double)(deja__now_ns() - t0) / 1e6);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CONV), 27);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_CLIP), 29);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_MUL), 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_SUB), 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_POW), 2);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_GLOBALAVERAGEPOOL), 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_FLATTEN), 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_REDUCEL2), 1);
    EXPECT_EQ(deja__onnx_count_op(m, DEJA__OP_DIV), 1);
    int depthwise = 0, asym = 0;
    size_t params = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const deja__onnx_node *nd = &m->nodes[i];
        if (nd->op != DEJA__OP_CONV) continue;
        deja__onnx_window w;
        ASSERT_OK(
            deja__onnx_window_params(m, i, &m->values[nd->inputs[1]].tensor->dims[2], &w, NULL));
        depthwise += w.group > 1;
        asym += w.pad[0] == 0 && w.pad[2] == 1 && w.stride[0] == 2;
    }
    for (uint32_t i = 0; i < m->n_values; i++)
        if (m->values[i].kind == DEJA__VALUE_INITIALIZER) params += m->values[i].tensor->count;
    EXPECT_EQ(depthwise, 13);
    EXPECT_EQ(asym, 5); /* conv1 + 4 stride-2 depthwise */
    EXPECT_EQ(params, 210336);
    deja__onnx_shape *s = calloc(m->n_values, sizeof *s);
    const int64_t sizes[3][4] = {{1, 3, 224, 320}, {1, 3, 480, 640}, {1, 3, 64, 96}};
    for (int j = 0; j < 3; j++) {
        char got[64];
        ASSERT_OK(deja__onnx_infer_shapes1(m, sizes[j], 4, s, NULL));
        shape_of(m, s, 0, got, sizeof got);
        EXPECT(strcmp(got, "1x256") == 0);
        if (j == 0) {
            /* GlobalAveragePool sees the 1x256x7x10 conv_pw_13 map (through Clip, Pow). */
            for (uint32_t i = 0; i < m->n_nodes; i++)
                if (m->nodes[i].op == DEJA__OP_GLOBALAVERAGEPOOL) {
                    deja__onnx_shape_text(&s[m->nodes[i].inputs[0]], got, sizeof got);
                    EXPECT(strcmp(got, "1x256x7x10") == 0);
                }
        }
    }
    free(s);
    deja__onnx_model_destroy(m);
}

TEST(shared_alike_t_survives_truncations_and_byte_mutations)
{
    char path[1200];
    if (!model_path("alike-t", path, sizeof path))
        SKIP("no ../shared/models/alike-t/model.onnx (set DEJA_SHARED)");
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    const int64_t dims[4] = {1, 3, 32, 64};
    test_counter c = {0};
    uint64_t seed = 0x0a11ce7;
    int ok = 0;
    /* 500 truncation lengths: the first 300 bytes (header, first nodes) and spread over the rest.
     */
    for (size_t i = 0; i < 500; i++) {
        size_t k = i < 300 ? i : (size_t)(test_rnd(&seed) % n);
        EXPECT(load_any(b, k, dims, &c) != DEJA_OK);
    }
    /* 2000 single-byte mutations, half of them in the structure before the weights. */
    size_t first_raw = 0;
    deja__onnx_model *m = NULL;
    ASSERT_OK(deja__onnx_model_load_memory(NULL, b, n, "alike-t", &m, NULL));
    deja__onnx_model_destroy(m);
    uint8_t *p = find_bytes(b, n, "onnx::Conv_136"); /* the first weight name */
    first_raw = p ? (size_t)(p - b) : n / 2;
    for (int i = 0; i < 2000; i++) {
        uint64_t r = test_rnd(&seed);
        size_t at = i % 2 ? (size_t)(r % first_raw) : (size_t)(r % n);
        uint8_t x = (uint8_t)(r >> 32) | 1;
        b[at] ^= x;
        ok += load_any(b, n, dims, &c) == DEJA_OK;
        b[at] ^= x;
    }
    fprintf(stderr, "  %d of 2000 alike-t mutants loaded\n", ok);
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
    free(b);
}
