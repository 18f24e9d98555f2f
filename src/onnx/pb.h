/* pb.h - a bounded reader of the protobuf wire format (the encoding spec at
 * protobuf.dev/programming-guides/encoding), enough to walk an ONNX file without generated code.
 *
 * A deja__pb_reader is a cursor over a byte range [pos, end) of one buffer. deja__pb_next yields
 * one field at a time: its number, wire type, and either the scalar (VARINT, I64, I32) or the
 * sub-range of a LEN field, which deja__pb_enter turns into a nested reader. Every length is
 * checked against the bytes that remain, varints stop at 10 bytes, groups (wire types 3, 4) are
 * rejected, nesting is capped at DEJA__PB_MAX_DEPTH. Offsets are from the start of the whole
 * buffer, so messages can name the byte of the fault. Nothing here allocates; errors are kept in
 * the reader as a reason + numbers and turned into text by deja__pb_error_text. */
#ifndef DEJA_ONNX_PB_H
#define DEJA_ONNX_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEJA__PB_MAX_DEPTH  32
#define DEJA__PB_MAX_VARINT 10 /* bytes: 64 bits in 7-bit groups */

typedef enum deja__pb_wire {
    DEJA__PB_VARINT = 0,
    DEJA__PB_I64 = 1,
    DEJA__PB_LEN = 2,
    DEJA__PB_SGROUP = 3, /* rejected */
    DEJA__PB_EGROUP = 4, /* rejected */
    DEJA__PB_I32 = 5
} deja__pb_wire;

/* What went wrong, with the numbers to print (value, limit meaning depends on the kind). */
typedef enum deja__pb_fault {
    DEJA__PB_FAULT_NONE = 0,
    DEJA__PB_FAULT_VARINT_TRUNCATED, /* value = bytes read before the end */
    DEJA__PB_FAULT_VARINT_TOO_LONG,  /* more than 10 bytes, or the 10th byte sets bits past 64 */
    DEJA__PB_FAULT_KEY_RANGE,        /* value = key; field number 0 or key >= 2^32 */
    DEJA__PB_FAULT_WIRE_TYPE,        /* value = wire type 3, 4 (groups), 6 or 7 */
    DEJA__PB_FAULT_FIXED_TRUNCATED,  /* value = bytes needed, limit = bytes left */
    DEJA__PB_FAULT_LENGTH,           /* value = declared length, limit = bytes left */
    DEJA__PB_FAULT_DEPTH,            /* value = depth, limit = DEJA__PB_MAX_DEPTH */
    DEJA__PB_FAULT_PACKED_SIZE       /* value = packed length, limit = element size */
} deja__pb_fault;

typedef struct deja__pb_reader {
    const uint8_t *buf; /* the whole buffer; offsets below count from here */
    size_t pos, end;
    int depth; /* 0 for the outermost message */
    deja__pb_fault fault;
    size_t fault_offset; /* byte where the faulty item starts */
    uint64_t fault_value, fault_limit;
} deja__pb_reader;

typedef struct deja__pb_field {
    uint32_t number;
    deja__pb_wire wire;
    size_t offset; /* of the key */
    uint64_t u;    /* VARINT value, I64 / I32 bits (I32 zero-extended) */
    size_t data;   /* LEN: payload offset */
    size_t len;    /* LEN: payload bytes */
} deja__pb_field;

typedef enum deja__pb_result {
    DEJA__PB_END = 0,   /* no more fields */
    DEJA__PB_FIELD = 1, /* *f holds the next field */
    DEJA__PB_BAD = -1   /* malformed: r->fault says why; the reader stays at the fault */
} deja__pb_result;

/* A reader over buf[0, n). */
void deja__pb_init(deja__pb_reader *r, const uint8_t *buf, size_t n);

/* Next field; see deja__pb_result. After BAD every further call returns BAD. */
deja__pb_result deja__pb_next(deja__pb_reader *r, deja__pb_field *f);

/* A reader over the payload of LEN field f of r, one level deeper. False (and the fault recorded
 * in r) past DEJA__PB_MAX_DEPTH. */
bool deja__pb_enter(deja__pb_reader *r, const deja__pb_field *f, deja__pb_reader *sub);

/* Scalar views of a field. int64/int32: two's complement of the varint (ONNX int64, int32 and
 * enum fields are plain varints, negative numbers take 10 bytes). */
static inline int64_t deja__pb_int64(const deja__pb_field *f)
{
    return (int64_t)f->u;
}
float deja__pb_float(const deja__pb_field *f);   /* I32 bits as IEEE binary32 */
double deja__pb_double(const deja__pb_field *f); /* I64 bits as IEEE binary64 */

/* Repeated scalars may come one per field or packed into one LEN field; these count / decode
 * both forms. Element kinds: */
typedef enum deja__pb_elem {
    DEJA__PB_ELEM_VARINT = 0, /* int32/int64/uint/enum/bool */
    DEJA__PB_ELEM_FIXED32 = 5,
    DEJA__PB_ELEM_FIXED64 = 1
} deja__pb_elem;

/* Number of elements of kind k that field f carries: 1 if unpacked with the matching wire type,
 * the packed count if LEN, else 0 (a field of another wire type: not an element). False (fault
 * in r) if a packed payload is malformed (a truncated varint, a size not a multiple of 4 / 8). */
bool deja__pb_count(deja__pb_reader *r, const deja__pb_field *f, deja__pb_elem k, size_t *n);

/* Decode up to cap elements of field f into out (raw 64-bit values: varints as is, fixed32 bits
 * zero-extended, fixed64 bits); *n gets the number written. Call deja__pb_count first. */
bool deja__pb_decode(deja__pb_reader *r, const deja__pb_field *f, deja__pb_elem k, uint64_t *out,
                     size_t cap, size_t *n);

/* Parse one varint at buf[*pos, end); advances *pos. False if truncated or too long. */
bool deja__pb_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *v);

/* "length 900 > 12 bytes left at byte 40" etc. into out (size bytes). */
void deja__pb_error_text(const deja__pb_reader *r, char *out, size_t size);

/* The name of a wire type ("VARINT", "LEN", ...). */
const char *deja__pb_wire_name(int wire);

#endif
