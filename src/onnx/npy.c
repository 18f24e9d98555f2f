/* npy.c - the .npy reader of npy.h.
 *
 * How it works: the preamble gives the header length; the header, a Python dict literal, is
 * parsed by a small strict scanner (quoted keys, a quoted descr, True/False, a tuple of decimal
 * integers with the trailing comma Python writes for one element); the data size that shape and
 * descr imply must equal the bytes left. Files are read with two reads (header, then data
 * straight into the 64-byte aligned array), memory buffers are copied. */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAGIC_BYTES 6
#define MAX_DIM     ((int64_t)1 << 40)
#define ALIGN       64

static const char magic[MAGIC_BYTES] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    deja__npy_dtype dtype;
    size_t bytes;
} dtypes[] = {{"<f4", DEJA__NPY_F32, 4},
              {"<f8", DEJA__NPY_F64, 8},
              {"<i4", DEJA__NPY_I32, 4},
              {"<i8", DEJA__NPY_I64, 8},
              {"|u1", DEJA__NPY_U8, 1}};

const char *deja__npy_dtype_name(deja__npy_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].descr;
    return "?";
}

/* ---- header ---------------------------------------------------------------------------- */

typedef struct scan {
    const char *s;
    size_t pos, end, base; /* base: file offset of s[0], for messages */
    const char *name;
    char *err;
    bool allow_fortran;
    bool fortran; /* the header says fortran_order True */
} scan;

#define SERR(sc, st, ...) scan_fail((sc), (st), __LINE__, __VA_ARGS__)

static deja_status scan_fail(scan *sc, deja_status st, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static deja_status scan_fail(scan *sc, deja_status st, int line, const char *fmt, ...)
{
    char msg[DEJA_ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return deja__error(sc->err, st, __FILE__, line, "%s: header byte %zu: %s", sc->name,
                       sc->base + sc->pos, msg);
}

static void skip_spaces(scan *sc)
{
    while (sc->pos < sc->end && sc->s[sc->pos] == ' ')
        sc->pos++;
}

static deja_status expect(scan *sc, char c)
{
    skip_spaces(sc);
    if (sc->pos >= sc->end || sc->s[sc->pos] != c)
        return SERR(sc, DEJA_FORMAT, "expected '%c', found '%c'", c,
                    sc->pos < sc->end ? sc->s[sc->pos] : '?');
    sc->pos++;
    return DEJA_OK;
}

/* A quoted string ('...' or "...") without escapes, at most cap-1 bytes. */
static deja_status quoted(scan *sc, char *out, size_t cap)
{
    skip_spaces(sc);
    char q = sc->pos < sc->end ? sc->s[sc->pos] : 0;
    if (q != '\'' && q != '"') return SERR(sc, DEJA_FORMAT, "expected a quoted string");
    size_t start = ++sc->pos;
    while (sc->pos < sc->end && sc->s[sc->pos] != q) {
        if (sc->s[sc->pos] == '\\') return SERR(sc, DEJA_FORMAT, "escapes are not supported");
        sc->pos++;
    }
    if (sc->pos >= sc->end) return SERR(sc, DEJA_FORMAT, "unterminated string");
    size_t n = sc->pos - start;
    sc->pos++;
    if (n >= cap) return SERR(sc, DEJA_FORMAT, "string of %zu bytes > limit %zu", n, cap - 1);
    memcpy(out, sc->s + start, n);
    out[n] = '\0';
    return DEJA_OK;
}

static deja_status parse_shape(scan *sc, deja__npy *a)
{
    if (expect(sc, '(')) return DEJA_FORMAT;
    bool comma = false;
    for (;;) {
        skip_spaces(sc);
        if (sc->pos < sc->end && sc->s[sc->pos] == ')') break;
        if (a->rank > 0 && !comma) return SERR(sc, DEJA_FORMAT, "expected ',' or ')' in shape");
        if (sc->pos >= sc->end || sc->s[sc->pos] < '0' || sc->s[sc->pos] > '9')
            return SERR(sc, DEJA_FORMAT, "expected a non-negative integer in shape");
        if (a->rank >= DEJA__NPY_MAX_RANK)
            return SERR(sc, DEJA_LIMIT, "shape has more than %d dims", DEJA__NPY_MAX_RANK);
        int64_t v = 0;
        while (sc->pos < sc->end && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9') {
            v = v * 10 + (sc->s[sc->pos++] - '0');
            if (v > MAX_DIM)
                return SERR(sc, DEJA_LIMIT, "dim %d > limit %lld", a->rank, (long long)MAX_DIM);
        }
        a->dims[a->rank++] = v;
        skip_spaces(sc);
        comma = sc->pos < sc->end && sc->s[sc->pos] == ',';
        if (comma) sc->pos++;
    }
    if (a->rank == 1 && !comma)
        return SERR(sc, DEJA_FORMAT, "one-element shape without ',' (Python writes (n,))");
    sc->pos++; /* ')' */
    return DEJA_OK;
}

/* The dict: {'descr': ..., 'fortran_order': ..., 'shape': (...), } in any key order. */
static deja_status parse_header(scan *sc, deja__npy *a)
{
    enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
    unsigned seen = 0;
    char key[32], descr[16];
    deja_status st;
    if ((st = expect(sc, '{'))) return st;
    for (;;) {
        skip_spaces(sc);
        if (sc->pos < sc->end && sc->s[sc->pos] == '}') break;
        if ((st = quoted(sc, key, sizeof key))) return st;
        if ((st = expect(sc, ':'))) return st;
        skip_spaces(sc);
        unsigned k = strcmp(key, "descr") == 0           ? DESCR
                     : strcmp(key, "fortran_order") == 0 ? FORTRAN
                     : strcmp(key, "shape") == 0         ? SHAPE
                                                         : 0;
        if (!k) return SERR(sc, DEJA_FORMAT, "unknown key '%s'", key);
        if (seen & k) return SERR(sc, DEJA_FORMAT, "key '%s' given twice", key);
        seen |= k;
        if (k == DESCR) {
            if ((st = quoted(sc, descr, sizeof descr))) return st;
            size_t i = 0, n = sizeof dtypes / sizeof dtypes[0];
            while (i < n && strcmp(dtypes[i].descr, descr) != 0)
                i++;
            if (i == n)
                return SERR(sc, DEJA_UNSUPPORTED,
                            "dtype '%s' not supported (<f4, <f8, <i4, <i8, |u1)%s", descr,
                            descr[0] == '>' ? ": big-endian" : "");
            a->dtype = dtypes[i].dtype;
            a->elem_bytes = dtypes[i].bytes;
        } else if (k == FORTRAN) {
            const char *rest = sc->s + sc->pos;
            size_t left = sc->end - sc->pos;
            if (left >= 5 && memcmp(rest, "False", 5) == 0) {
                sc->pos += 5;
            } else if (left >= 4 && memcmp(rest, "True", 4) == 0) {
                if (!sc->allow_fortran)
                    return SERR(
                        sc, DEJA_UNSUPPORTED,
                        "fortran_order True: C order only (DEJA__NPY_FORTRAN_TO_C converts)");
                sc->fortran = true;
                sc->pos += 4;
            } else {
                return SERR(sc, DEJA_FORMAT, "fortran_order is neither True nor False");
            }
        } else if ((st = parse_shape(sc, a))) {
            return st;
        }
        skip_spaces(sc);
        if (sc->pos < sc->end && sc->s[sc->pos] == ',')
            sc->pos++;
        else if (sc->pos >= sc->end || sc->s[sc->pos] != '}')
            return SERR(sc, DEJA_FORMAT, "expected ',' or '}' after '%s'", key);
    }
    sc->pos++; /* '}' */
    skip_spaces(sc);
    if (sc->pos != sc->end) return SERR(sc, DEJA_FORMAT, "text after the closing '}'");
    if (seen != (DESCR | FORTRAN | SHAPE))
        return SERR(sc, DEJA_FORMAT, "missing key%s%s%s", seen & DESCR ? "" : " 'descr'",
                    seen & FORTRAN ? "" : " 'fortran_order'", seen & SHAPE ? "" : " 'shape'");
    return DEJA_OK;
}

/* Preamble at p[0, n) (n >= 8): version and header length; *prelude = bytes before the dict. */
static deja_status preamble(const uint8_t *p, size_t n, const char *name, size_t *prelude,
                            size_t *hlen, char *err)
{
    if (n < MAGIC_BYTES + 2 || memcmp(p, magic, MAGIC_BYTES) != 0)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: byte 0: no \\x93NUMPY magic, not a .npy file", name);
    unsigned major = p[6], minor = p[7];
    if (major == 3)
        return DEJA_ERR(err, DEJA_UNSUPPORTED,
                        "%s: byte 6: version 3.%u (UTF-8 header) not "
                        "supported (1.0, 2.0)",
                        name, minor);
    if ((major != 1 && major != 2) || minor != 0)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: byte 6: version %u.%u, expected 1.0 or 2.0", name,
                        major, minor);
    *prelude = major == 1 ? 10 : 12;
    if (n < *prelude)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: truncated preamble (%zu bytes)", name, n);
    *hlen = major == 1
                ? (size_t)p[8] | (size_t)p[9] << 8
                : (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    if (*hlen > DEJA__NPY_MAX_HEADER_BYTES)
        return DEJA_ERR(err, DEJA_LIMIT, "%s: byte 8: header length %zu > limit %d", name, *hlen,
                        DEJA__NPY_MAX_HEADER_BYTES);
    return DEJA_OK;
}

/* Checks the header text h[0, hlen) (file offset base) and fills dtype, shape, count. */
static deja_status header(const char *h, size_t hlen, size_t base, const char *name, deja__npy *a,
                          unsigned flags, bool *fortran, char *err)
{
    if (hlen == 0 || h[hlen - 1] != '\n')
        return DEJA_ERR(err, DEJA_FORMAT, "%s: header of %zu bytes does not end in '\\n'", name,
                        hlen);
    for (size_t i = 0; i + 1 < hlen; i++)
        if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: header byte %zu: non-printable 0x%02x", name,
                            base + i, (unsigned char)h[i]);
    scan sc = {h, 0, hlen - 1, base, name, err, (flags & DEJA__NPY_FORTRAN_TO_C) != 0, false};
    deja_status st = parse_header(&sc, a);
    if (st) return st;
    *fortran = sc.fortran && a->rank > 1; /* 0-D and 1-D read the same in both orders */
    uint64_t count = 1;
    for (int i = 0; i < a->rank; i++)
        if (__builtin_mul_overflow(count, (uint64_t)a->dims[i], &count) ||
            count > DEJA__NPY_MAX_BYTES / a->elem_bytes)
            return DEJA_ERR(err, DEJA_LIMIT, "%s: shape needs more than %llu data bytes", name,
                            (unsigned long long)DEJA__NPY_MAX_BYTES);
    a->count = (size_t)count;
    return DEJA_OK;
}

static deja_status alloc_data(deja__npy *a, const char *name, char *err)
{
    size_t bytes = a->count * a->elem_bytes;
    if (!bytes) return DEJA_OK;
    a->raw_bytes = bytes + ALIGN;
    a->raw = deja__alloc(&a->alloc, a->raw_bytes);
    if (!a->raw) {
        a->raw_bytes = 0;
        return DEJA_ERR(err, DEJA_NOMEM, "%s: out of memory (%zu bytes)", name, bytes);
    }
    uintptr_t p = (uintptr_t)a->raw;
    a->data = (uint8_t *)a->raw + (ALIGN - p % ALIGN) % ALIGN;
    return DEJA_OK;
}

static deja_status data_size(const deja__npy *a, uint64_t have, const char *name, char *err)
{
    uint64_t want = (uint64_t)a->count * a->elem_bytes;
    if (have != want)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: %llu data bytes but shape and dtype %s need %llu%s",
                        name, (unsigned long long)have, deja__npy_dtype_name(a->dtype),
                        (unsigned long long)want,
                        have < want ? " (truncated)" : " (trailing bytes)");
    return DEJA_OK;
}

/* src holds a in Fortran order (= C order of the reversed shape); write C order to a->data. */
static void from_fortran(deja__npy *a, const uint8_t *src)
{
    size_t stride[DEJA__NPY_MAX_RANK], idx[DEJA__NPY_MAX_RANK] = {0}, off = 0, es = a->elem_bytes;
    int r = a->rank;
    stride[0] = 1;
    for (int i = 1; i < r; i++)
        stride[i] = stride[i - 1] * (size_t)a->dims[i - 1];
    uint8_t *dst = a->data;
    for (size_t k = 0; k < a->count; k++) {
        memcpy(dst + k * es, src + off * es, es);
        /* Odometer over the C-order index, last axis fastest. */
        for (int i = r - 1; i >= 0; i--) {
            off += stride[i];
            if (++idx[i] < (size_t)a->dims[i]) break;
            off -= stride[i] * idx[i];
            idx[i] = 0;
        }
    }
}

static void start(deja__npy *a, const deja_options *o)
{
    memset(a, 0, sizeof *a);
    a->alloc = deja__allocator(o);
}

deja_status deja__npy_load_memory(const deja_options *o, const void *bytes, size_t n,
                                  const char *name, unsigned flags, deja__npy *out, char *err)
{
    if (!name) name = "<memory>";
    if (!out || (!bytes && n))
        return DEJA_ERR(err, DEJA_INVALID_ARG, "%s: NULL bytes or out", name);
    start(out, o);
    const uint8_t *p = bytes;
    size_t prelude = 0, hlen = 0;
    deja_status st = preamble(p, n, name, &prelude, &hlen, err);
    if (st) return st;
    if (n - prelude < hlen)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: header length %zu > %zu bytes left", name, hlen,
                        n - prelude);
    bool fortran = false;
    if ((st = header((const char *)p + prelude, hlen, prelude, name, out, flags, &fortran, err)))
        return st;
    if ((st = data_size(out, n - prelude - hlen, name, err))) return st;
    if ((st = alloc_data(out, name, err))) return st;
    if (!out->data) return DEJA_OK;
    if (fortran)
        from_fortran(out, p + prelude + hlen);
    else
        memcpy(out->data, p + prelude + hlen, out->count * out->elem_bytes);
    return DEJA_OK;
}

deja_status deja__npy_load(const deja_options *o, const char *path, unsigned flags, deja__npy *out,
                           char *err)
{
    if (!path || !out) return DEJA_ERR(err, DEJA_INVALID_ARG, "npy load: NULL path or out");
    start(out, o);
    FILE *f = fopen(path, "rb");
    if (!f) return DEJA_ERR(err, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    deja_status st = DEJA_OK;
    uint8_t head[12 + DEJA__NPY_MAX_HEADER_BYTES];
    size_t got = 0, prelude = 0, hlen = 0, bytes = 0;
    uint8_t *tmp = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = DEJA_ERR(err, DEJA_IO, "%s: not a readable regular file", path);
        goto done;
    }
    got = fread(head, 1, 12, f);
    if ((st = preamble(head, got, path, &prelude, &hlen, err))) goto done;
    if ((uint64_t)sb.st_size < prelude + hlen) {
        st = DEJA_ERR(err, DEJA_FORMAT, "%s: header length %zu > %llu bytes left", path, hlen,
                      (unsigned long long)sb.st_size - prelude);
        goto done;
    }
    if (got < prelude + hlen) got += fread(head + got, 1, prelude + hlen - got, f);
    if (got < prelude + hlen || fseek(f, (long)(prelude + hlen), SEEK_SET) != 0) {
        st = DEJA_ERR(err, DEJA_IO, "%s: short read of the header", path);
        goto done;
    }
    bool fortran = false;
    if ((st = header((const char *)head + prelude, hlen, prelude, path, out, flags, &fortran, err)))
        goto done;
    if ((st = data_size(out, (uint64_t)sb.st_size - prelude - hlen, path, err))) goto done;
    if ((st = alloc_data(out, path, err))) goto done;
    bytes = out->count * out->elem_bytes;
    tmp = fortran && bytes ? deja__alloc(&out->alloc, bytes) : NULL;
    if (fortran && bytes && !tmp) {
        st = DEJA_ERR(err, DEJA_NOMEM, "%s: out of memory (%zu bytes)", path, bytes);
        goto done;
    }
    if (bytes && fread(tmp ? tmp : out->data, 1, bytes, f) != bytes)
        st = DEJA_ERR(err, DEJA_IO, "%s: short read of %zu data bytes", path, bytes);
    else if (tmp)
        from_fortran(out, tmp);
done:
    if (tmp) deja__free(&out->alloc, tmp, bytes);
    fclose(f);
    if (st) deja__npy_free(out);
    return st;
}

void deja__npy_free(deja__npy *a)
{
    if (!a) return;
    if (a->raw) deja__free(&a->alloc, a->raw, a->raw_bytes);
    a->raw = a->data = NULL;
    a->raw_bytes = 0;
}
