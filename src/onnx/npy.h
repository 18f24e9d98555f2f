/* npy.h - read NumPy .npy arrays (format versions 1.0 and 2.0, C order, little-endian or
 * byte-sized types): the test vectors of the ONNX models.
 *
 * Format (numpy/lib/format.py, NEP 1): "\x93NUMPY", major, minor, header length (uint16 LE in
 * 1.0, uint32 LE in 2.0), an ASCII Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 64), } padded with spaces and
 * ended by '\n', then the raw data. The header is parsed strictly (exactly these three keys, each
 * once); object arrays and other dtypes are rejected; the data must fill the rest of the file
 * exactly. fortran_order True is rejected unless DEJA__NPY_FORTRAN_TO_C asks for a conversion to
 * C order (two of the shared test vectors are stored that way). */
#ifndef DEJA_ONNX_NPY_H
#define DEJA_ONNX_NPY_H

#include "base.h"

#define DEJA__NPY_MAX_RANK         8
#define DEJA__NPY_MAX_HEADER_BYTES 16384
#define DEJA__NPY_MAX_BYTES        ((uint64_t)1 << 30) /* data bytes */

/* Load flags. */
#define DEJA__NPY_FORTRAN_TO_C 1u /* accept fortran_order True: transpose into C order */

typedef enum deja__npy_dtype {
    DEJA__NPY_F32 = 1, /* '<f4' */
    DEJA__NPY_F64,     /* '<f8' */
    DEJA__NPY_I32,     /* '<i4' */
    DEJA__NPY_I64,     /* '<i8' */
    DEJA__NPY_U8       /* '|u1' */
} deja__npy_dtype;

typedef struct deja__npy {
    deja__npy_dtype dtype;
    int rank; /* 0 = scalar */
    int64_t dims[DEJA__NPY_MAX_RANK];
    size_t count;      /* elements (product of dims; 1 for a scalar) */
    size_t elem_bytes; /* 4, 8 or 1 */
    void *data;        /* count * elem_bytes, 64-byte aligned, native order; NULL if count 0 */
    /* private */
    deja_allocator alloc;
    void *raw;
    size_t raw_bytes;
} deja__npy;

/* Load path into *out (zeroed first, and left empty on failure; free with deja__npy_free).
 * o may be NULL (malloc); flags 0 or DEJA__NPY_FORTRAN_TO_C; err NULL or DEJA_ERROR_BYTES long.
 * FORMAT for a malformed file, UNSUPPORTED for fortran order (without the flag), other dtypes,
 * big-endian, version 3; LIMIT past the limits; IO if unreadable. */
DEJA_NODISCARD deja_status deja__npy_load(const deja_options *o, const char *path, unsigned flags,
                                          deja__npy *out, char *err);
/* The same from memory; name is used in messages (NULL: "<memory>"). */
DEJA_NODISCARD deja_status deja__npy_load_memory(const deja_options *o, const void *bytes, size_t n,
                                                 const char *name, unsigned flags, deja__npy *out,
                                                 char *err);
void deja__npy_free(deja__npy *a); /* zeroed or NULL ok */

const char *deja__npy_dtype_name(deja__npy_dtype t); /* "<f4" ... */

static inline const float *deja__npy_f32(const deja__npy *a)
{
    return a->dtype == DEJA__NPY_F32 ? (const float *)a->data : NULL;
}

#endif
