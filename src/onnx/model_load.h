/* model_load.h - private to the ONNX loader (model.c, model_tensor.c): the loader state, the
 * onnx.proto field numbers, and the small helpers both files use (errors with the field path,
 * the metadata arena, field checks). Not for other modules: use model.h. */
#ifndef DEJA_ONNX_MODEL_LOAD_H
#define DEJA_ONNX_MODEL_LOAD_H

#include "model.h"
#include "pb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* onnx.proto field numbers. */
enum { M_IR_VERSION = 1, M_PRODUCER_NAME = 2, M_PRODUCER_VERSION = 3, M_GRAPH = 7, M_OPSET = 8 };
enum { OS_DOMAIN = 1, OS_VERSION = 2 };
enum { G_NODE = 1, G_NAME = 2, G_INITIALIZER = 5, G_INPUT = 11, G_OUTPUT = 12, G_SPARSE_INIT = 15 };
enum { N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP_TYPE = 4, N_ATTRIBUTE = 5, N_DOMAIN = 7 };
enum { A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_FLOATS = 7, A_INTS = 8, A_TYPE = 20 };
enum {
    T_DIMS = 1,
    T_DATA_TYPE = 2,
    T_SEGMENT = 3,
    T_FLOAT_DATA = 4,
    T_INT32_DATA = 5,
    T_STRING_DATA = 6,
    T_INT64_DATA = 7,
    T_NAME = 8,
    T_RAW_DATA = 9,
    T_DOUBLE_DATA = 10,
    T_UINT64_DATA = 11,
    T_EXTERNAL_DATA = 13,
    T_DATA_LOCATION = 14
};
enum { VI_NAME = 1, VI_TYPE = 2 };
enum { TY_TENSOR = 1 };
enum { TT_ELEM_TYPE = 1, TT_SHAPE = 2 };
enum { SH_DIM = 1 };
enum { D_VALUE = 1, D_PARAM = 2 };

#define CHUNK_BYTES  65536
#define WEIGHT_ALIGN 64
#define MAX_UNSUP    16 /* distinct unsupported operators listed by name */
#define ROOT_PATH    "model"

/* ---- loader state ---------------------------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t bytes; /* of the whole allocation, header included */
} chunk;
#define CHUNK_HDR ((sizeof(chunk) + 15) & ~(size_t)15)

enum { SRC_RAW, SRC_TYPED, SRC_ATTR };

/* A tensor whose data is copied into the weight arena once all sizes are known. */
typedef struct pending {
    deja__onnx_tensor *t;
    int src;
    size_t at, len;        /* RAW: raw_data payload; TYPED: the TensorProto payload */
    const void *attr_data; /* ATTR: a Constant's value_float(s) / value_int(s), in the arena */
    size_t offset;         /* in the weight arena */
} pending;

typedef struct slot {
    int32_t id; /* -1 = empty */
    uint32_t hash;
} slot;

typedef struct unsup {
    char name[72];
    uint32_t count, first;
} unsup;

typedef struct deja__onnx_loader {
    const uint8_t *buf;
    size_t n;
    const char *source;
    char *err;
    deja_allocator a;
    chunk *chunks;
    uint8_t *cur;
    size_t left;
    char path[224];
    size_t path_len;
    deja__onnx_value *values; /* growing; copied into the arena at the end */
    size_t n_values, cap_values;
    slot *slots; /* open addressing over values, power-of-two size */
    size_t n_slots;
    pending *pend;
    size_t n_pend, cap_pend;
    size_t weight_bytes;
    uint32_t n_graph_inputs; /* declared, initializers included */
    unsup unsup[MAX_UNSUP];
    uint32_t n_unsup, n_unsup_more;
} deja__onnx_loader;
typedef deja__onnx_loader loader;

/* ---- errors ---------------------------------------------------------------------------- */

#define FAIL(ld, st, at, ...) ld_fail((ld), (st), (at), __FILE__, __LINE__, __VA_ARGS__)
#define PB_FAIL(ld, r)        ld_pb_fail((ld), (r), __FILE__, __LINE__)

static inline deja_status ld_fail(loader *ld, deja_status st, size_t at, const char *file, int line,
                                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static inline deja_status ld_fail(loader *ld, deja_status st, size_t at, const char *file, int line,
                                  const char *fmt, ...)
{
    char msg[DEJA_ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return deja__error(ld->err, st, file, line, "%s: %s (byte %zu): %s", ld->source,
                       ld->path_len ? ld->path : ROOT_PATH, at, msg);
}

static inline deja_status ld_pb_fail(loader *ld, const deja__pb_reader *r, const char *file,
                                     int line)
{
    char msg[160];
    deja__pb_error_text(r, msg, sizeof msg);
    return deja__error(ld->err, DEJA_FORMAT, file, line, "%s: %s: corrupt protobuf at %s",
                       ld->source, ld->path_len ? ld->path : ROOT_PATH, msg);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

/* Field path: push appends ".node[3]" style text and returns the length to pop back to. */
static inline size_t push(loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline size_t push(loader *ld, const char *fmt, ...)
{
    size_t old = ld->path_len;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->path + old, sizeof ld->path - old, fmt, ap);
    va_end(ap);
    ld->path_len = strlen(ld->path);
    return old;
}

static inline void pop(loader *ld, size_t old)
{
    ld->path_len = old;
    ld->path[old] = '\0';
}

/* ---- memory ---------------------------------------------------------------------------- */

/* Zeroed, 16-byte aligned memory from the metadata arena; NULL on NOMEM. */
static inline void *take(loader *ld, size_t bytes)
{
    if (bytes > SIZE_MAX / 2) return NULL;
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes > ld->left) {
        size_t body = bytes > CHUNK_BYTES ? bytes : CHUNK_BYTES;
        chunk *c = deja__alloc(&ld->a, CHUNK_HDR + body);
        if (!c) return NULL;
        c->next = ld->chunks;
        c->bytes = CHUNK_HDR + body;
        ld->chunks = c;
        ld->cur = (uint8_t *)c + CHUNK_HDR;
        ld->left = body;
    }
    void *p = ld->cur;
    ld->cur += bytes;
    ld->left -= bytes;
    memset(p, 0, bytes);
    return p;
}

static inline void free_chunks(const deja_allocator *a, chunk *c)
{
    while (c) {
        chunk *next = c->next;
        deja__free(a, c, c->bytes);
        c = next;
    }
}

#define TAKE(ld, ptr, bytes, at)                                                                   \
    do {                                                                                           \
        size_t b_ = (bytes);                                                                       \
        if (!((ptr) = take((ld), b_)))                                                             \
            return FAIL((ld), DEJA_NOMEM, (at), "out of memory (%zu bytes)", b_);                  \
    } while (0)

/* ---- field helpers --------------------------------------------------------------------- */

static inline deja_status want_wire(loader *ld, const deja__pb_field *f, deja__pb_wire w,
                                    const char *what)
{
    if (f->wire == w) return DEJA_OK;
    return FAIL(ld, DEJA_FORMAT, f->offset, "%s (field %u) has wire type %s, expected %s", what,
                f->number, deja__pb_wire_name(f->wire), deja__pb_wire_name(w));
}

/* A repeated scalar: the element wire type, or LEN when packed. */
static inline deja_status want_repeated(loader *ld, const deja__pb_field *f, deja__pb_wire w,
                                        const char *what)
{
    if (f->wire == DEJA__PB_LEN) return DEJA_OK;
    return want_wire(ld, f, w, what);
}

/* A string field usable as a C string: LEN, at most DEJA__ONNX_MAX_NAME bytes, no NUL. */
static inline deja_status check_string(loader *ld, const deja__pb_field *f, const char *what)
{
    CHECK(want_wire(ld, f, DEJA__PB_LEN, what));
    if (f->len > DEJA__ONNX_MAX_NAME)
        return FAIL(ld, DEJA_LIMIT, f->offset, "%s length %zu > limit %d bytes", what, f->len,
                    DEJA__ONNX_MAX_NAME);
    if (memchr(ld->buf + f->data, 0, f->len))
        return FAIL(ld, DEJA_FORMAT, f->offset, "%s contains a NUL byte", what);
    return DEJA_OK;
}

static inline deja_status copy_string(loader *ld, const deja__pb_field *f, const char *what,
                                      const char **out)
{
    CHECK(check_string(ld, f, what));
    char *s;
    TAKE(ld, s, f->len + 1, f->offset);
    if (f->len) memcpy(s, ld->buf + f->data, f->len);
    *out = s;
    return DEJA_OK;
}

static inline bool field_is(const loader *ld, const deja__pb_field *f, const char *s)
{
    size_t n = strlen(s);
    return f->len == n && memcmp(ld->buf + f->data, s, n) == 0;
}

/* "1x3x3x3" / "scalar" for messages. */
static inline void dims_text(const int64_t *d, int rank, char *out, size_t size)
{
    if (rank == 0) {
        snprintf(out, size, "scalar");
        return;
    }
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < rank && k < size; i++) {
        int w = snprintf(out + k, size - k, "%s%lld", i ? "x" : "", (long long)d[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

/* ---- shared between the loader files -------------------------------------------------- */

typedef struct value_info {
    deja__pb_field name;
    int32_t dtype;
    int32_t rank; /* -1 = no shape */
    deja__onnx_dim dims[DEJA__ONNX_MAX_RANK];
} value_info;

/* model_tensor.c: a TensorProto (LEN field f of parent) into a new arena tensor, its data queued
 * for the weight arena; *name_f gets the name field (len 0 if none) when not NULL. */
deja_status deja__onnx_ld_tensor(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                                 deja__onnx_tensor **out, deja__pb_field *name_f);
/* Queue t's data (src SRC_*: at/len in the file, or attr_data) at the next aligned offset. */
deja_status deja__onnx_ld_queue(loader *ld, deja__onnx_tensor *t, int src, size_t at, size_t len,
                                const void *attr_data, size_t field_at);
/* Copy float_data / int64_data of a queued SRC_TYPED tensor into dst. */
void deja__onnx_ld_copy_typed(const loader *ld, const pending *p, uint8_t *dst);
/* A ValueInfoProto (graph input / output): name, element type, declared shape. */
deja_status deja__onnx_ld_value_info(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                                     value_info *vi);

#endif
