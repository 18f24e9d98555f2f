/* pb.c - the protobuf wire-format cursor of pb.h.
 *
 * How it works: a message is a sequence of (key, value) pairs, key = field_number << 3 | wire
 * type, both base-128 varints (7 bits per byte, low group first, high bit = "more"). VARINT
 * values are one varint, I64 / I32 eight / four little-endian bytes, LEN a varint length then
 * that many bytes (strings, bytes, nested messages, packed repeated scalars). The reader checks
 * each item against the bytes left before touching them, so any truncation or hostile length
 * ends in a fault, never a read past the range. */
#include "pb.h"

#include <stdio.h>
#include <string.h>

void deja__pb_init(deja__pb_reader *r, const uint8_t *buf, size_t n)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->end = n;
}

static deja__pb_fault varint_at(const uint8_t *buf, size_t *pos, size_t end, uint64_t *v)
{
    uint64_t x = 0;
    size_t p = *pos;
    for (int i = 0; i < DEJA__PB_MAX_VARINT; i++) {
        if (p >= end) return DEJA__PB_FAULT_VARINT_TRUNCATED;
        uint8_t b = buf[p++];
        /* The 10th byte holds bit 63 only: anything above it is an overflow. */
        if (i == DEJA__PB_MAX_VARINT - 1 && b > 1) return DEJA__PB_FAULT_VARINT_TOO_LONG;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pos = p;
            *v = x;
            return DEJA__PB_FAULT_NONE;
        }
    }
    return DEJA__PB_FAULT_VARINT_TOO_LONG;
}

bool deja__pb_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *v)
{
    return varint_at(buf, pos, end, v) == DEJA__PB_FAULT_NONE;
}

static deja__pb_result fail(deja__pb_reader *r, deja__pb_fault k, size_t at, uint64_t value,
                            uint64_t limit)
{
    r->fault = k;
    r->fault_offset = at;
    r->fault_value = value;
    r->fault_limit = limit;
    return DEJA__PB_BAD;
}

static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

deja__pb_result deja__pb_next(deja__pb_reader *r, deja__pb_field *f)
{
    if (r->fault) return DEJA__PB_BAD;
    if (r->pos >= r->end) return DEJA__PB_END;
    size_t at = r->pos, p = r->pos;
    uint64_t key;
    deja__pb_fault k = varint_at(r->buf, &p, r->end, &key);
    if (k) return fail(r, k, at, p - at, r->end - at);
    if ((key >> 3) == 0 || key > UINT32_MAX) return fail(r, DEJA__PB_FAULT_KEY_RANGE, at, key, 0);
    memset(f, 0, sizeof *f);
    f->number = (uint32_t)(key >> 3);
    f->wire = (deja__pb_wire)(key & 7);
    f->offset = at;
    size_t left;
    switch (f->wire) {
    case DEJA__PB_VARINT:
        k = varint_at(r->buf, &p, r->end, &f->u);
        if (k) return fail(r, k, f->offset, p - f->offset, r->end - f->offset);
        break;
    case DEJA__PB_I64:
    case DEJA__PB_I32: {
        size_t need = f->wire == DEJA__PB_I64 ? 8 : 4;
        left = r->end - p;
        if (left < need) return fail(r, DEJA__PB_FAULT_FIXED_TRUNCATED, at, need, left);
        f->u = load_le(r->buf + p, (int)need);
        p += need;
        break;
    }
    case DEJA__PB_LEN: {
        uint64_t n;
        size_t len_at = p;
        k = varint_at(r->buf, &p, r->end, &n);
        if (k) return fail(r, k, len_at, p - len_at, r->end - len_at);
        left = r->end - p;
        if (n > left) return fail(r, DEJA__PB_FAULT_LENGTH, at, n, left);
        f->data = p;
        f->len = (size_t)n;
        p += (size_t)n;
        break;
    }
    default:
        return fail(r, DEJA__PB_FAULT_WIRE_TYPE, at, (uint64_t)f->wire, 0);
    }
    r->pos = p;
    return DEJA__PB_FIELD;
}

bool deja__pb_enter(deja__pb_reader *r, const deja__pb_field *f, deja__pb_reader *sub)
{
    if (r->depth + 1 > DEJA__PB_MAX_DEPTH) {
        fail(r, DEJA__PB_FAULT_DEPTH, f->offset, (uint64_t)r->depth + 1, DEJA__PB_MAX_DEPTH);
        return false;
    }
    memset(sub, 0, sizeof *sub);
    sub->buf = r->buf;
    sub->pos = f->data;
    sub->end = f->data + f->len;
    sub->depth = r->depth + 1;
    return true;
}

float deja__pb_float(const deja__pb_field *f)
{
    uint32_t bits = (uint32_t)f->u;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

double deja__pb_double(const deja__pb_field *f)
{
    double x;
    memcpy(&x, &f->u, sizeof x);
    return x;
}

/* Walks a packed payload; counts it, and stores up to cap values when out is not NULL. */
static bool packed(deja__pb_reader *r, const deja__pb_field *f, deja__pb_elem k, uint64_t *out,
                   size_t cap, size_t *n)
{
    size_t count = 0;
    if (k == DEJA__PB_ELEM_VARINT) {
        size_t p = f->data, end = f->data + f->len;
        while (p < end) {
            size_t at = p;
            uint64_t v;
            deja__pb_fault fk = varint_at(r->buf, &p, end, &v);
            if (fk) {
                fail(r, fk, at, p - at, end - at);
                return false;
            }
            if (out && count < cap) out[count] = v;
            count++;
        }
    } else {
        size_t size = k == DEJA__PB_ELEM_FIXED32 ? 4 : 8;
        if (f->len % size) {
            fail(r, DEJA__PB_FAULT_PACKED_SIZE, f->offset, f->len, size);
            return false;
        }
        count = f->len / size;
        for (size_t i = 0; out && i < count && i < cap; i++)
            out[i] = load_le(r->buf + f->data + i * size, (int)size);
    }
    *n = out && count > cap ? cap : count;
    return true;
}

bool deja__pb_count(deja__pb_reader *r, const deja__pb_field *f, deja__pb_elem k, size_t *n)
{
    if (f->wire == DEJA__PB_LEN) return packed(r, f, k, NULL, 0, n);
    *n = (int)f->wire == (int)k ? 1 : 0;
    return true;
}

bool deja__pb_decode(deja__pb_reader *r, const deja__pb_field *f, deja__pb_elem k, uint64_t *out,
                     size_t cap, size_t *n)
{
    if (f->wire == DEJA__PB_LEN) return packed(r, f, k, out, cap, n);
    *n = 0;
    if ((int)f->wire == (int)k && cap > 0) {
        out[0] = f->u;
        *n = 1;
    }
    return true;
}

const char *deja__pb_wire_name(int wire)
{
    static const char *const names[8] = {"VARINT", "I64", "LEN",       "SGROUP",
                                         "EGROUP", "I32", "invalid 6", "invalid 7"};
    return wire >= 0 && wire < 8 ? names[wire] : "invalid";
}

void deja__pb_error_text(const deja__pb_reader *r, char *out, size_t size)
{
    unsigned long long v = r->fault_value, lim = r->fault_limit;
    size_t at = r->fault_offset;
    switch (r->fault) {
    case DEJA__PB_FAULT_NONE:
        snprintf(out, size, "no error");
        break;
    case DEJA__PB_FAULT_VARINT_TRUNCATED:
        snprintf(out, size, "byte %zu: varint truncated after %llu byte(s) (%llu left)", at, v,
                 lim);
        break;
    case DEJA__PB_FAULT_VARINT_TOO_LONG:
        snprintf(out, size, "byte %zu: varint longer than %d bytes or above 64 bits", at,
                 DEJA__PB_MAX_VARINT);
        break;
    case DEJA__PB_FAULT_KEY_RANGE:
        snprintf(out, size, "byte %zu: field key %llu has field number 0 or exceeds 32 bits", at,
                 v);
        break;
    case DEJA__PB_FAULT_WIRE_TYPE:
        snprintf(out, size, "byte %zu: wire type %llu (%s) not supported (groups are obsolete)", at,
                 v, deja__pb_wire_name((int)v));
        break;
    case DEJA__PB_FAULT_FIXED_TRUNCATED:
        snprintf(out, size, "byte %zu: fixed-size value needs %llu bytes, %llu left", at, v, lim);
        break;
    case DEJA__PB_FAULT_LENGTH:
        snprintf(out, size, "byte %zu: length %llu > %llu bytes left", at, v, lim);
        break;
    case DEJA__PB_FAULT_DEPTH:
        snprintf(out, size, "byte %zu: nesting depth %llu > limit %llu", at, v, lim);
        break;
    case DEJA__PB_FAULT_PACKED_SIZE:
        snprintf(out, size, "byte %zu: packed length %llu is not a multiple of %llu", at, v, lim);
        break;
    }
}
