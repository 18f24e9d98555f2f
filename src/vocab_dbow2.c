/* vocab_dbow2.c - DBoW2 / ORB-SLAM text vocabularies (ORBvoc.txt): import and export.
 *
 * The format (Galvez-Lopez & Tardos 2012, DBoW2; Mur-Artal et al., ORB-SLAM's text save):
 * line 1 is "k L scoring weighting" (ints; weighting 0 TF_IDF, 1 TF, 2 IDF, 3 BINARY, the same
 * numbers as deja_weighting; scoring 0..5 is ignored, deja always scores with L1); then one
 * line per node but the root, whose id is its position (root 0, the first line node 1, ...):
 * "parent is_leaf d0 .. d31 weight", 32 ORB descriptor bytes in decimal and the word weight (0 on
 * inner nodes). DBoW2 writes breadth-first, but the reader does not rely on it: it stores the
 * nodes in file order, builds child lists from the parent ids (children keep file order), then
 * lays the tree out breadth-first as struct deja_vocab wants; words are the leaves in that order.
 *
 * Speed: ORBvoc.txt is ~145 MB and ~1M lines, so the reader takes 1 MiB chunks with fread, walks
 * lines with memchr and parses integers by hand; a weight goes through an exact fast path
 * (decimal mantissa < 2^53 and |exponent| <= 22 give a correctly rounded double in one IEEE
 * operation, Clinger 1990) and only unusual spellings fall back to strtod. Node records grow
 * geometrically; nothing is allocated per line. Every malformed line is reported with its
 * number, and the tree is checked as it is read (parents earlier, fan-out <= k, depth <= L). */
#include "vocab.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORB_BYTES   32
#define MAX_LINE    4096u             /* a node line is ~150 bytes; anything this long is junk */
#define CHUNK_BYTES ((size_t)1 << 20) /* read size */
#define N_VALUES    (ORB_BYTES + 1)   /* after the leaf flag: the bytes and the weight */
#define MAX_SCORING 5 /* DBoW2 scoring enum: L1, L2, chi^2, KL, Bhattacharyya, dot */

/* One node as read, in file order. 48 bytes. */
typedef struct {
    uint32_t parent, n_children;
    float weight;
    uint8_t leaf, depth;
    uint8_t desc[ORB_BYTES];
} rec;

typedef struct {
    FILE *f;
    char *buf; /* CHUNK_BYTES + MAX_LINE */
    size_t pos, len;
    int eof;
} reader;

/* Next line in [*s, *e) without the newline; 0 at end of file, -1 if longer than MAX_LINE or
 * on a read error (errno kept in *err). Lines are served from buf until a partial one remains,
 * which moves to the front before the next chunk is appended. */
static int next_line(reader *r, const char **s, const char **e, int *err)
{
    for (;;) {
        char *p = r->buf + r->pos, *end = r->buf + r->len;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) {
            if ((size_t)(nl - p) > MAX_LINE) return -1; /* the same limit wherever chunks end */
            *s = p;
            *e = nl;
            r->pos = (size_t)(nl + 1 - r->buf);
            return 1;
        }
        if ((size_t)(end - p) > MAX_LINE) return -1;
        if (r->eof) {
            if (p == end) return 0;
            *s = p; /* last line without a newline */
            *e = end;
            r->pos = r->len;
            return 1;
        }
        size_t rest = (size_t)(end - p);
        memmove(r->buf, p, rest);
        r->pos = 0;
        r->len = rest;
        size_t got = fread(r->buf + rest, 1, CHUNK_BYTES, r->f);
        r->len += got;
        if (got < CHUNK_BYTES) {
            if (ferror(r->f)) {
                *err = errno ? errno : EIO;
                return -1;
            }
            r->eof = 1;
        }
    }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Split [s, e) at blanks; keeps the first max tokens, returns how many there are. */
static unsigned split(const char *s, const char *e, const char **tb, const char **te, unsigned max)
{
    unsigned n = 0;
    while (s < e) {
        while (s < e && is_space(*s))
            s++;
        if (s == e) break;
        const char *t = s;
        while (s < e && !is_space(*s))
            s++;
        if (n < max) {
            tb[n] = t;
            te[n] = s;
        }
        n++;
    }
    return n;
}

/* Unsigned decimal of up to 10 digits, no sign; false if not all digits or above max. */
static int parse_uint(const char *s, const char *e, uint64_t max, uint64_t *out)
{
    if (s == e || e - s > 10) return 0;
    uint64_t x = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9) return 0;
        x = x * 10 + d;
    }
    if (x > max) return 0;
    *out = x;
    return 1;
}

/* Decimal to double. Fast path exact (see top); otherwise strtod on a copy, with the '.' swapped
 * for the locale's decimal point so that a host program's setlocale cannot break the reader. */
static int parse_double(const char *s, const char *e, double *out)
{
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s;
    int neg = 0;
    if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
    uint64_t m = 0;
    int digits = 0, exp10 = 0, any = 0, fast = 1;
    for (; p < e && (unsigned)(*p - '0') <= 9; p++, any = 1) {
        if (m || *p != '0') digits++;
        if (digits > 19)
            fast = 0;
        else
            m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p < e && *p == '.') {
        for (p++; p < e && (unsigned)(*p - '0') <= 9; p++, any = 1) {
            if (m || *p != '0') digits++;
            if (digits > 19)
                fast = 0;
            else {
                m = m * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
        }
    }
    if (any && p < e && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        int eneg = 0, ex = 0, edig = 0;
        if (q < e && (*q == '-' || *q == '+')) eneg = *q++ == '-';
        for (; q < e && (unsigned)(*q - '0') <= 9; q++, edig++)
            if (ex < 10000) ex = ex * 10 + (*q - '0');
        if (edig) {
            exp10 += eneg ? -ex : ex;
            p = q;
        }
    }
    if (any && p == e && fast && m <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double x = (double)m;
        x = exp10 < 0 ? x / pow10[-exp10] : x * pow10[exp10];
        *out = neg ? -x : x;
        return 1;
    }
    char tmp[64];
    if (e - s >= (long)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)(e - s));
    tmp[e - s] = '\0';
    char dp = *localeconv()->decimal_point;
    if (dp && dp != '.')
        for (char *c = tmp; *c; c++)
            if (*c == '.') *c = dp;
    char *end;
    errno = 0;
    double x = strtod(tmp, &end);
    if (end != tmp + (e - s)) return 0;
    *out = x;
    return 1;
}

/* Token text for messages, cut to 24 bytes. */
#define TOK(b, e) (int)((e) - (b) > 24 ? 24 : (e) - (b)), (b)

typedef struct {
    const char *path;
    uint32_t k, depth_max;
    deja_weighting weighting;
    rec *nodes;
    size_t cap;
    uint32_t n, n_leaves;
} importer;

static deja_status parse_header(importer *im, const char *s, const char *e)
{
    const char *tb[5], *te[5];
    unsigned n = split(s, e, tb, te, 5);
    if (n != 4)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s line 1: expected \"k L scoring weighting\", found %u values", im->path,
                        n);
    static const char *const name[4] = {"k", "L", "scoring", "weighting"};
    static const uint64_t lo[4] = {1, 1, 0, 0};
    static const uint64_t hi[4] = {DEJA_VOCAB_MAX_K, DEJA_VOCAB_MAX_DEPTH, MAX_SCORING, 3};
    uint64_t x[4];
    for (int i = 0; i < 4; i++)
        if (!parse_uint(tb[i], te[i], UINT32_MAX, &x[i]) || x[i] < lo[i] || x[i] > hi[i])
            return DEJA_ERR(
                NULL, DEJA_FORMAT, "%s line 1: %s '%.*s' is not an integer in %llu..%llu", im->path,
                name[i], TOK(tb[i], te[i]), (unsigned long long)lo[i], (unsigned long long)hi[i]);
    static const deja_weighting wmap[4] = {DEJA_WEIGHT_TF_IDF, DEJA_WEIGHT_TF, DEJA_WEIGHT_IDF,
                                           DEJA_WEIGHT_BINARY};
    im->k = (uint32_t)x[0];
    im->depth_max = (uint32_t)x[1];
    im->weighting = wmap[x[3]];
    return DEJA_OK;
}

/* The fields of a node line. */
typedef struct {
    uint64_t parent, leaf;
    double weight;
    const char *wb, *we; /* the weight's text, for messages */
    uint8_t desc[ORB_BYTES];
} fields;

static int is_digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

/* One pass over a well-formed line, as nearly all are; 0 on anything unusual, which the slow
 * path then diagnoses. Stops at the first non-digit of each number, so that "12a" or "300" fail
 * here and get a message there. */
static int scan_fast(const char *p, const char *e, fields *f)
{
    uint64_t x = 0;
    int nd = 0;
    while (p < e && is_space(*p))
        p++;
    for (; p < e && is_digit(*p) && nd < 10; p++, nd++)
        x = x * 10 + (uint64_t)(*p - '0');
    if (!nd || p == e || !is_space(*p)) return 0;
    f->parent = x;
    while (p < e && is_space(*p))
        p++;
    if (e - p < 2 || (*p != '0' && *p != '1') || !is_space(p[1])) return 0;
    f->leaf = (uint64_t)(*p - '0');
    p += 2;
    for (int i = 0; i < ORB_BYTES; i++) {
        while (p < e && is_space(*p))
            p++;
        unsigned b = 0;
        for (nd = 0; p < e && is_digit(*p) && nd < 3; p++, nd++)
            b = b * 10 + (unsigned)(*p - '0');
        if (!nd || b > 255 || p == e || !is_space(*p)) return 0;
        f->desc[i] = (uint8_t)b;
    }
    while (p < e && is_space(*p))
        p++;
    f->wb = p;
    while (p < e && !is_space(*p))
        p++;
    f->we = p;
    while (p < e && is_space(*p))
        p++;
    return p == e && f->wb < f->we && parse_double(f->wb, f->we, &f->weight);
}

/* Tokenise and report the first malformed value with the line number. */
static deja_status scan_slow(const char *path, uint64_t line, const char *s, const char *e,
                             fields *f)
{
    const char *tb[N_VALUES + 2], *te[N_VALUES + 2];
    unsigned n = split(s, e, tb, te, N_VALUES + 2);
    unsigned long long ln = (unsigned long long)line;
    if (n < 2)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s line %llu: expected \"parent is_leaf d0 .. d31 "
                        "weight\", found %u values",
                        path, ln, n);
    if (!parse_uint(tb[0], te[0], UINT32_MAX, &f->parent))
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: parent id '%.*s' is not an earlier node",
                        path, ln, TOK(tb[0], te[0]));
    if (!parse_uint(tb[1], te[1], 1, &f->leaf))
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: is_leaf '%.*s' is not 0 or 1", path, ln,
                        TOK(tb[1], te[1]));
    if (n - 2 != N_VALUES)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s line %llu: expected %d descriptor bytes and a "
                        "weight, found %u values after is_leaf",
                        path, ln, ORB_BYTES, n - 2);
    for (int i = 0; i < ORB_BYTES; i++) {
        uint64_t b;
        if (!parse_uint(tb[2 + i], te[2 + i], 255, &b))
            return DEJA_ERR(NULL, DEJA_FORMAT,
                            "%s line %llu: descriptor byte %d '%.*s' is not an integer in 0..255",
                            path, ln, i, TOK(tb[2 + i], te[2 + i]));
        f->desc[i] = (uint8_t)b;
    }
    f->wb = tb[2 + ORB_BYTES];
    f->we = te[2 + ORB_BYTES];
    if (!parse_double(f->wb, f->we, &f->weight))
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: weight '%.*s' is not a number", path, ln,
                        TOK(f->wb, f->we));
    return DEJA_OK;
}

/* One node line; the node gets id im->n. The tree is checked here, where the line is known. */
static deja_status parse_node(importer *im, uint64_t line, const char *s, const char *e,
                              const deja_allocator *a)
{
    const char *path = im->path;
    unsigned long long ln = (unsigned long long)line;
    uint32_t id = im->n;
    fields f;
    if (!scan_fast(s, e, &f)) {
        deja_status st = scan_slow(path, line, s, e, &f);
        if (st != DEJA_OK) return st;
    }
    if (f.parent >= id)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s line %llu: parent id '%llu' is not an earlier "
                        "node (this line is node %u)",
                        path, ln, (unsigned long long)f.parent, id);
    if (!isfinite(f.weight) || !isfinite((float)f.weight) || f.weight < 0)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: weight '%.*s' is not a finite value >= 0",
                        path, ln, TOK(f.wb, f.we));
    rec *p = &im->nodes[f.parent];
    if (p->leaf)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: parent %llu is a leaf (line %llu)", path,
                        ln, (unsigned long long)f.parent, (unsigned long long)f.parent + 1);
    if (p->n_children >= im->k)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: node %llu gets more than k = %u children",
                        path, ln, (unsigned long long)f.parent, im->k);
    if (p->depth >= im->depth_max)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: node %u is at depth %u > L = %u", path,
                        ln, id, p->depth + 1u, im->depth_max);
    if (id >= DEJA_VOCAB_MAX_NODES)
        return DEJA_ERR(NULL, DEJA_LIMIT, "%s line %llu: more than %u nodes", path, ln,
                        DEJA_VOCAB_MAX_NODES);
    if (!deja__reserve(a, (void **)&im->nodes, &im->cap, (size_t)id + 1, sizeof(rec)))
        return DEJA_ERR(NULL, DEJA_NOMEM, "%s line %llu: out of memory for %u nodes", path, ln,
                        id + 1);
    p = &im->nodes[f.parent]; /* the array may have moved */
    rec *r = &im->nodes[id];
    memcpy(r->desc, f.desc, ORB_BYTES);
    r->parent = (uint32_t)f.parent;
    r->n_children = 0;
    r->weight = (float)f.weight;
    r->leaf = (uint8_t)f.leaf;
    r->depth = (uint8_t)(p->depth + 1);
    p->n_children++;
    im->n_leaves += (uint32_t)f.leaf;
    im->n = id + 1;
    return DEJA_OK;
}

/* Lay the file-order nodes out breadth-first: children lists by counting sort on the parent
 * (stable, so file order among siblings), then a queue from the root; a node's children take
 * the next free ids, which is exactly the contiguous child_begin layout. */
static deja_status build(importer *im, const deja_allocator *a, deja_vocab **out)
{
    uint32_t n = im->n;
    for (uint32_t i = 1; i < n; i++)
        if (!im->nodes[i].leaf && im->nodes[i].n_children == 0)
            return DEJA_ERR(NULL, DEJA_FORMAT,
                            "%s line %u: node %u is marked inner (is_leaf 0) "
                            "but no line names it as parent",
                            im->path, i + 1, i);
    size_t idx_bytes = ((size_t)n * 3 + 1) * sizeof(uint32_t);
    uint32_t *start = deja__alloc(a, idx_bytes);
    if (!start) return DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory for %u nodes", im->path, n);
    uint32_t *kids = start + n + 1, *order = kids + n;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        start[i] = sum;
        sum += im->nodes[i].n_children;
    }
    start[n] = sum;
    for (uint32_t i = 1; i < n; i++)
        kids[start[im->nodes[i].parent]++] = i;
    /* start[p] now holds the end of p's list; its beginning is the previous end. */
    deja_vocab *v;
    deja_status st = deja__vocab_alloc(a, DEJA_DESC_BINARY, ORB_BYTES, n, im->n_leaves, &v);
    if (st != DEJA_OK) {
        deja__free(a, start, idx_bytes);
        return st;
    }
    uint32_t *cb = deja__vocab_child_begin_w(v), *nw = deja__vocab_node_word_w(v);
    float *ww = deja__vocab_word_weight_w(v);
    uint8_t *desc = deja__vocab_node_desc_w(v);
    uint32_t tail = 1, word = 0;
    order[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t old = order[i];
        const rec *r = &im->nodes[old];
        cb[i] = tail;
        for (uint32_t c = old ? start[old - 1] : 0; c < start[old]; c++)
            order[tail++] = kids[c];
        nw[i] = UINT32_MAX;
        if (old && r->leaf) {
            ww[word] = r->weight;
            nw[i] = word++;
        }
        if (old) memcpy(desc + (size_t)i * ORB_BYTES, r->desc, ORB_BYTES);
    }
    cb[n] = tail;
    deja__free(a, start, idx_bytes);
    v->weighting = im->weighting;
    st = deja__vocab_validate(v, im->path, NULL);
    if (st != DEJA_OK) {
        deja_vocab_destroy(v);
        return st;
    }
    *out = v;
    return DEJA_OK;
}

deja_status deja_vocab_import_dbow2(const deja_options *o, const char *path, deja_vocab **out)
{
    if (!path || !out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "dbow2 import: NULL path or out");
    deja_allocator a = deja__allocator(o);
    FILE *f = fopen(path, "rb");
    if (!f) return DEJA_ERR(NULL, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t buf_bytes = CHUNK_BYTES + MAX_LINE;
    reader r = {f, deja__alloc(&a, buf_bytes), 0, 0, 0};
    importer im = {0};
    im.path = path;
    deja_status st = DEJA_OK;
    if (!r.buf || !deja__reserve(&a, (void **)&im.nodes, &im.cap, 1 << 16, sizeof(rec))) {
        st = DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory for the read buffer", path);
        goto done;
    }
    memset(&im.nodes[0], 0, sizeof(rec)); /* the root: inner, depth 0 */
    im.n = 1;
    const char *s, *e;
    int got, err = 0;
    uint64_t line = 0, blank = 0;
    while ((got = next_line(&r, &s, &e, &err)) == 1) {
        line++;
        const char *t = s;
        while (t < e && is_space(*t))
            t++;
        if (t == e) { /* blank lines are tolerated at the end only */
            if (!blank) blank = line;
            continue;
        }
        if (blank) {
            st = DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: empty line inside the vocabulary", path,
                          (unsigned long long)blank);
            goto done;
        }
        st = line == 1 ? parse_header(&im, s, e) : parse_node(&im, line, s, e, &a);
        if (st != DEJA_OK) goto done;
    }
    if (got < 0) {
        st = err ? DEJA_ERR(NULL, DEJA_IO, "%s: read failed: %s", path, strerror(err))
                 : DEJA_ERR(NULL, DEJA_FORMAT, "%s line %llu: longer than %u bytes", path,
                            (unsigned long long)line + 1, MAX_LINE);
        goto done;
    }
    if (line == 0 || blank == 1)
        st = DEJA_ERR(NULL, DEJA_FORMAT,
                      "%s line 1: empty file, expected \"k L scoring weighting\"", path);
    else if (im.n < 2)
        st = DEJA_ERR(NULL, DEJA_FORMAT, "%s line 2: no node lines after the header", path);
    else
        st = build(&im, &a, out);
done:
    fclose(f);
    deja__free(&a, r.buf, buf_bytes);
    deja__free(&a, im.nodes, im.cap * sizeof(rec));
    return st;
}

/* ---- export ---------------------------------------------------------------------------- */

static char *put_uint(char *p, uint32_t x)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        *p++ = tmp[--n];
    return p;
}

deja_status deja_vocab_export_dbow2(const deja_vocab *v, const char *path)
{
    if (!v || !path || !*path)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "dbow2 export: NULL vocabulary or empty path");
    if (v->kind != DEJA_DESC_BINARY || v->desc_bytes != ORB_BYTES)
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED,
                        "%s: DBoW2 text holds %d-byte binary (ORB) "
                        "descriptors, this vocabulary has %u-byte %s ones",
                        path, ORB_BYTES, v->desc_bytes,
                        v->kind == DEJA_DESC_BINARY ? "binary" : "float");
    if (v->n_nodes < 2)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "%s: vocabulary has no nodes below the root", path);
    const uint32_t *cb = v->child_begin;
    /* Header k and L from the arrays (largest fan-out, leaf depth), as the importer checks. */
    uint32_t k = 0, depth = 0, a0 = 0, b0 = 1;
    for (uint32_t i = 0; i < v->n_nodes; i++)
        if (cb[i + 1] > cb[i] && cb[i + 1] - cb[i] > k) k = cb[i + 1] - cb[i];
    while (a0 < b0 && depth <= DEJA_VOCAB_MAX_DEPTH && cb[a0] == b0 && cb[b0] > cb[a0]) {
        uint32_t na = cb[a0];
        b0 = cb[b0];
        a0 = na;
        depth++;
    }

    const deja_allocator *a = &v->alloc;
    size_t plen = strlen(path), tlen = plen + 5, buf_bytes = CHUNK_BYTES + MAX_LINE;
    char *tmp = deja__alloc(a, tlen), *buf = deja__alloc(a, buf_bytes);
    if (!tmp || !buf) {
        deja__free(a, tmp, tlen);
        deja__free(a, buf, buf_bytes);
        return DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory for the write buffer", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    deja_status st = DEJA_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = DEJA_ERR(NULL, DEJA_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    char dp = *localeconv()->decimal_point; /* printf writes it; DBoW2 expects '.' */
    char *p = buf;
    p += snprintf(p, 64, "%u %u 0 %d\n", k, depth, (int)v->weighting);
    int werr = 0;
    /* Node c's parent is the p whose child range holds c; ranges ascend with p (BFS). */
    for (uint32_t par = 0; par < v->n_nodes && !werr; par++) {
        for (uint32_t c = cb[par]; c < cb[par + 1]; c++) {
            int leaf = cb[c] == cb[c + 1];
            p = put_uint(p, par);
            *p++ = ' ';
            *p++ = (char)('0' + leaf);
            const uint8_t *d = v->node_desc + (size_t)c * ORB_BYTES;
            for (int i = 0; i < ORB_BYTES; i++) {
                *p++ = ' ';
                p = put_uint(p, d[i]);
            }
            *p++ = ' ';
            if (leaf) {
                /* %.9g round-trips every float exactly. */
                char *w = p;
                p += snprintf(p, 32, "%.9g", (double)v->word_weight[v->node_word[c]]);
                if (dp != '.')
                    for (; w < p; w++)
                        if (*w == dp) *w = '.';
            } else {
                *p++ = '0';
            }
            *p++ = '\n';
            if ((size_t)(p - buf) >= CHUNK_BYTES) {
                if (fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf))
                    werr = errno ? errno : EIO;
                p = buf;
                if (werr) break;
            }
        }
    }
    if (!werr && p > buf && fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf))
        werr = errno ? errno : EIO;
    if (!werr && fflush(f) != 0) werr = errno ? errno : EIO;
    if (!werr && fsync(fileno(f)) != 0) werr = errno; /* rename only complete data over path */
    if (fclose(f) != 0 && !werr) werr = errno ? errno : EIO;
    if (!werr && rename(tmp, path) != 0) werr = errno;
    if (werr) {
        st = DEJA_ERR(NULL, DEJA_IO, "%s: write failed: %s", tmp, strerror(werr));
        remove(tmp);
    }
done:
    deja__free(a, tmp, tlen);
    deja__free(a, buf, buf_bytes);
    return st;
}
