/* model_tensor.c - the loader's TensorProto and ValueInfoProto readers.
 *
 * A tensor is checked completely before its data is queued: data_type FLOAT or INT64, at most
 * DEJA__ONNX_MAX_RANK dims each >= 0, an overflow-checked element count that the data matches
 * exactly (raw_data bytes, or float_data / int64_data values, packed or not, never both), no
 * external data, no segments. The data itself is copied later (model.c: finish) into the weight
 * arena at the 64-byte aligned offset reserved here, so the arena is one allocation. */
#include "model_load.h"

/* ---- tensors --------------------------------------------------------------------------- */

deja_status deja__onnx_ld_queue(loader *ld, deja__onnx_tensor *t, int src, size_t at, size_t len,
                                const void *attr_data, size_t field_at)
{
    if (ld->n_pend >= DEJA__ONNX_MAX_TENSORS)
        return FAIL(ld, DEJA_LIMIT, field_at, "tensor count reaches limit %d",
                    DEJA__ONNX_MAX_TENSORS);
    size_t off = (ld->weight_bytes + WEIGHT_ALIGN - 1) & ~(size_t)(WEIGHT_ALIGN - 1);
    if (t->bytes > DEJA__ONNX_MAX_WEIGHT_BYTES - off)
        return FAIL(ld, DEJA_LIMIT, field_at, "tensor data %zu bytes brings the weights past %llu",
                    t->bytes, (unsigned long long)DEJA__ONNX_MAX_WEIGHT_BYTES);
    if (!deja__reserve(&ld->a, (void **)&ld->pend, &ld->cap_pend, ld->n_pend + 1, sizeof *ld->pend))
        return FAIL(ld, DEJA_NOMEM, field_at, "out of memory (%zu tensors)", ld->n_pend + 1);
    ld->pend[ld->n_pend++] = (pending){t, src, at, len, attr_data, off};
    ld->weight_bytes = off + t->bytes;
    return DEJA_OK;
}

/* Element count of dims, overflow-checked; also sets t->count and t->bytes. */
static deja_status tensor_size(loader *ld, deja__onnx_tensor *t, size_t at)
{
    uint64_t count = 1;
    for (int i = 0; i < t->rank; i++)
        if (__builtin_mul_overflow(count, (uint64_t)t->dims[i], &count) || count > SIZE_MAX / 8) {
            char d[160];
            dims_text(t->dims, t->rank, d, sizeof d);
            return FAIL(ld, DEJA_LIMIT, at, "element count of dims %s overflows", d);
        }
    t->count = (size_t)count;
    t->bytes = t->count * deja__onnx_dtype_bytes(t->dtype);
    return DEJA_OK;
}

deja_status deja__onnx_ld_tensor(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                                 deja__onnx_tensor **out, deja__pb_field *name_f)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__onnx_tensor *t;
    TAKE(ld, t, sizeof *t, f->offset);
    deja__pb_field x, raw = {0}, name = {0};
    bool has_raw = false;
    size_t n_float = 0, n_int64 = 0, k = 0, wrong_at = 0;
    const char *wrong = NULL;
    deja__pb_result res;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        switch (x.number) {
        case T_DIMS: {
            uint64_t d[DEJA__ONNX_MAX_RANK];
            CHECK(want_repeated(ld, &x, DEJA__PB_VARINT, "dims"));
            if (!deja__pb_count(&r, &x, DEJA__PB_ELEM_VARINT, &k)) return PB_FAIL(ld, &r);
            if (k > (size_t)(DEJA__ONNX_MAX_RANK - t->rank))
                return FAIL(ld, DEJA_LIMIT, x.offset, "dims count %zu > limit %d",
                            (size_t)t->rank + k, DEJA__ONNX_MAX_RANK);
            if (!deja__pb_decode(&r, &x, DEJA__PB_ELEM_VARINT, d, k, &k)) return PB_FAIL(ld, &r);
            for (size_t i = 0; i < k; i++) {
                if ((int64_t)d[i] < 0)
                    return FAIL(ld, DEJA_FORMAT, x.offset, "dims[%d] = %lld < 0", t->rank,
                                (long long)(int64_t)d[i]);
                t->dims[t->rank++] = (int64_t)d[i];
            }
            break;
        }
        case T_DATA_TYPE:
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "data_type"));
            t->dtype = x.u > INT32_MAX ? -1 : (int32_t)x.u;
            break;
        case T_SEGMENT:
            return FAIL(ld, DEJA_UNSUPPORTED, x.offset, "segmented tensors are not supported");
        case T_FLOAT_DATA:
            CHECK(want_repeated(ld, &x, DEJA__PB_I32, "float_data"));
            if (!deja__pb_count(&r, &x, DEJA__PB_ELEM_FIXED32, &k)) return PB_FAIL(ld, &r);
            n_float += k;
            break;
        case T_INT64_DATA:
            CHECK(want_repeated(ld, &x, DEJA__PB_VARINT, "int64_data"));
            if (!deja__pb_count(&r, &x, DEJA__PB_ELEM_VARINT, &k)) return PB_FAIL(ld, &r);
            n_int64 += k;
            break;
        case T_INT32_DATA:
        case T_STRING_DATA:
        case T_DOUBLE_DATA:
        case T_UINT64_DATA:
            if (!wrong) {
                static const char *const names[] = {[T_INT32_DATA] = "int32_data",
                                                    [T_STRING_DATA] = "string_data",
                                                    [T_DOUBLE_DATA] = "double_data",
                                                    [T_UINT64_DATA] = "uint64_data"};
                wrong = names[x.number];
                wrong_at = x.offset;
            }
            break;
        case T_NAME:
            CHECK(check_string(ld, &x, "tensor name"));
            name = x;
            break;
        case T_RAW_DATA:
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "raw_data"));
            if (has_raw) return FAIL(ld, DEJA_FORMAT, x.offset, "raw_data given twice");
            raw = x;
            has_raw = true;
            break;
        case T_EXTERNAL_DATA:
            return FAIL(ld, DEJA_UNSUPPORTED, x.offset,
                        "external data (external_data) is not supported: the weights must be "
                        "inside the .onnx file");
        case T_DATA_LOCATION:
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "data_location"));
            if (x.u != 0)
                return FAIL(ld, DEJA_UNSUPPORTED, x.offset,
                            "data_location %llu (EXTERNAL) is not supported: the weights must be "
                            "inside the .onnx file",
                            (unsigned long long)x.u);
            break;
        default:
            break;
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    if (name_f) *name_f = name;
    size_t esize = deja__onnx_dtype_bytes(t->dtype);
    if (!esize)
        return FAIL(ld, DEJA_UNSUPPORTED, f->offset,
                    "tensor data_type %s (%d) is not supported (FLOAT, INT64)",
                    deja__onnx_dtype_name(t->dtype), t->dtype);
    CHECK(tensor_size(ld, t, f->offset));
    if (wrong)
        return FAIL(ld, DEJA_FORMAT, wrong_at, "%s in a %s tensor", wrong,
                    deja__onnx_dtype_name(t->dtype));
    if ((t->dtype == DEJA__ONNX_FLOAT && n_int64) || (t->dtype == DEJA__ONNX_INT64 && n_float))
        return FAIL(ld, DEJA_FORMAT, f->offset, "%s in a %s tensor",
                    n_int64 ? "int64_data" : "float_data", deja__onnx_dtype_name(t->dtype));
    size_t typed = t->dtype == DEJA__ONNX_FLOAT ? n_float : n_int64;
    char d[160];
    dims_text(t->dims, t->rank, d, sizeof d);
    if (has_raw && typed)
        return FAIL(ld, DEJA_FORMAT, raw.offset, "both raw_data and %zu typed values given", typed);
    if (has_raw && raw.len != t->bytes)
        return FAIL(ld, DEJA_FORMAT, raw.offset,
                    "raw_data has %zu bytes but dims %s of %s need %zu", raw.len, d,
                    deja__onnx_dtype_name(t->dtype), t->bytes);
    if (!has_raw && typed != t->count)
        return FAIL(ld, DEJA_FORMAT, f->offset, "%zu %s values but dims %s need %zu", typed,
                    t->dtype == DEJA__ONNX_FLOAT ? "float_data" : "int64_data", d, t->count);
    *out = t;
    if (has_raw) return deja__onnx_ld_queue(ld, t, SRC_RAW, raw.data, raw.len, NULL, f->offset);
    return deja__onnx_ld_queue(ld, t, SRC_TYPED, f->data, f->len, NULL, f->offset);
}

/* Element counts were matched when queued, so the walk cannot fail here. */
void deja__onnx_ld_copy_typed(const loader *ld, const pending *p, uint8_t *dst)
{
    deja__pb_reader r;
    deja__pb_init(&r, ld->buf, p->at + p->len);
    r.pos = p->at;
    bool f32 = p->t->dtype == DEJA__ONNX_FLOAT;
    uint32_t want = f32 ? T_FLOAT_DATA : T_INT64_DATA;
    size_t k = 0;
    deja__pb_field x;
    while (deja__pb_next(&r, &x) == DEJA__PB_FIELD && k < p->t->count) {
        if (x.number != want) continue;
        if (x.wire != DEJA__PB_LEN) {
            if (f32) {
                uint32_t bits = (uint32_t)x.u;
                memcpy(dst + 4 * k++, &bits, 4);
            } else {
                memcpy(dst + 8 * k++, &x.u, 8);
            }
            continue;
        }
        size_t pos = x.data, end = x.data + x.len;
        while (pos < end && k < p->t->count) {
            if (f32) {
                memcpy(dst + 4 * k++, ld->buf + pos, 4); /* little-endian host */
                pos += 4;
            } else {
                uint64_t v = 0;
                if (!deja__pb_varint(ld->buf, &pos, end, &v)) return; /* counted before */
                memcpy(dst + 8 * k++, &v, 8);
            }
        }
    }
}

static deja_status parse_dim(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                             deja__onnx_dim *d)
{
    deja__pb_reader r;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    d->value = -1;
    d->param = NULL;
    deja__pb_field x;
    deja__pb_result res;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        if (x.number == D_VALUE) {
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "dim_value"));
            if ((int64_t)x.u < 0)
                return FAIL(ld, DEJA_FORMAT, x.offset, "dim_value %lld < 0", (long long)x.u);
            d->value = (int64_t)x.u;
            d->param = NULL;
        } else if (x.number == D_PARAM) {
            CHECK(copy_string(ld, &x, "dim_param", &d->param));
            d->value = -1;
        }
    }
    return res == DEJA__PB_BAD ? PB_FAIL(ld, &r) : DEJA_OK;
}

/* TypeProto.Tensor: elem_type and the optional shape. */
static deja_status parse_tensor_type(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                                     value_info *vi)
{
    deja__pb_reader r, rs;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, y;
    deja__pb_result res, res2;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        if (x.number == TT_ELEM_TYPE) {
            CHECK(want_wire(ld, &x, DEJA__PB_VARINT, "elem_type"));
            vi->dtype = x.u > INT32_MAX ? -1 : (int32_t)x.u;
        } else if (x.number == TT_SHAPE) {
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "shape"));
            if (!deja__pb_enter(&r, &x, &rs)) return PB_FAIL(ld, &r);
            vi->rank = 0;
            while ((res2 = deja__pb_next(&rs, &y)) == DEJA__PB_FIELD) {
                if (y.number != SH_DIM) continue;
                CHECK(want_wire(ld, &y, DEJA__PB_LEN, "dim"));
                if (vi->rank >= DEJA__ONNX_MAX_RANK)
                    return FAIL(ld, DEJA_LIMIT, y.offset, "dims count %d > limit %d", vi->rank + 1,
                                DEJA__ONNX_MAX_RANK);
                CHECK(parse_dim(ld, &rs, &y, &vi->dims[vi->rank]));
                vi->rank++;
            }
            if (res2 == DEJA__PB_BAD) return PB_FAIL(ld, &rs);
        }
    }
    return res == DEJA__PB_BAD ? PB_FAIL(ld, &r) : DEJA_OK;
}

deja_status deja__onnx_ld_value_info(loader *ld, deja__pb_reader *parent, const deja__pb_field *f,
                                     value_info *vi)
{
    memset(vi, 0, sizeof *vi);
    vi->rank = -1;
    deja__pb_reader r, rt;
    if (!deja__pb_enter(parent, f, &r)) return PB_FAIL(ld, parent);
    deja__pb_field x, y;
    deja__pb_result res, res2;
    bool named = false;
    while ((res = deja__pb_next(&r, &x)) == DEJA__PB_FIELD) {
        if (x.number == VI_NAME) {
            CHECK(check_string(ld, &x, "name"));
            vi->name = x;
            named = true;
        } else if (x.number == VI_TYPE) {
            CHECK(want_wire(ld, &x, DEJA__PB_LEN, "type"));
            if (!deja__pb_enter(&r, &x, &rt)) return PB_FAIL(ld, &r);
            while ((res2 = deja__pb_next(&rt, &y)) == DEJA__PB_FIELD) {
                if (y.number == TY_TENSOR) {
                    CHECK(want_wire(ld, &y, DEJA__PB_LEN, "tensor_type"));
                    CHECK(parse_tensor_type(ld, &rt, &y, vi));
                } else if (y.number == 4 || y.number == 5 || y.number == 8 || y.number == 9) {
                    return FAIL(ld, DEJA_UNSUPPORTED, y.offset,
                                "type field %u (sequence, map, sparse or optional) is not "
                                "supported: tensors only",
                                y.number);
                }
            }
            if (res2 == DEJA__PB_BAD) return PB_FAIL(ld, &rt);
        }
    }
    if (res == DEJA__PB_BAD) return PB_FAIL(ld, &r);
    if (!named || vi->name.len == 0) return FAIL(ld, DEJA_FORMAT, f->offset, "no name");
    return DEJA_OK;
}
