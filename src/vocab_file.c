/* vocab_file.c - the binary vocabulary file (.dvoc): save atomically, load by mmap.
 *
 * How it works: the file is a fixed 192-byte little-endian header followed by the four arrays
 * of struct deja_vocab (child_begin, node_word, word_weight, node_desc) exactly as they sit in
 * memory, each 64-byte aligned. Loading maps the file read-only and points the vocabulary at the
 * sections: no parsing, no copy, so a 10^6-word tree opens in a few milliseconds and several
 * processes share its pages. Nothing in the file is trusted: the header carries its own checksum,
 * every count, offset and size is checked (overflow-safe) before use, the small topology sections
 * are checksummed and walked by deja__vocab_validate on every load, and DEJA_VOCAB_VERIFY adds a
 * checksum of the whole payload (the large centroid section included) and a finiteness check of
 * float centroids. The layout is documented field by field in docs/vocab.md ("File format"). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* O_CLOEXEC, pwrite, fsync when built outside CMake */
#endif
#include "vocab.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DVOC_VERSION        1u
#define DVOC_HEADER_BYTES   192u
#define DVOC_ALIGN          64u
#define DVOC_BLOCK_BYTES    ((size_t)1 << 20) /* payload checksum granularity */
#define DVOC_MAX_DESC_BYTES 8192u             /* 2048 floats: more than any descriptor we know */
#define DVOC_N_SECTIONS     4

/* Header field offsets (bytes). */
enum {
    H_MAGIC = 0,         /* "DEJAVOC\0" */
    H_VERSION = 8,       /* u32 */
    H_HEADER_BYTES = 12, /* u32, 192 */
    H_KIND = 16,         /* u32 deja_desc_kind */
    H_DESC_BYTES = 20,   /* u32 */
    H_N_NODES = 24,      /* u32 */
    H_N_WORDS = 28,      /* u32 */
    H_K = 32,            /* u32 largest fan-out */
    H_DEPTH = 36,        /* u32 */
    H_WEIGHTING = 40,    /* u32 deja_weighting */
    H_FLAGS = 44,        /* u32, 0 */
    H_FILE_BYTES = 48,   /* u64 */
    H_SECTIONS = 56,     /* 4 x {u64 offset, u64 bytes} */
    H_TOPO_SUM = 120,    /* u64 */
    H_PAYLOAD_SUM = 128, /* u64 */
    H_RESERVED = 136,    /* 48 zero bytes */
    H_HEADER_SUM = 184   /* u64 over bytes [0, 184) */
};

static const char dvoc_magic[8] = {'D', 'E', 'J', 'A', 'V', 'O', 'C', '\0'};
static const char *const section_name[DVOC_N_SECTIONS] = {"child_begin", "node_word", "word_weight",
                                                          "node_desc"};
#define SEED_HEADER  0x4844u /* "DH" */
#define SEED_TOPO    0x5444u /* "DT" */
#define SEED_PAYLOAD 0x5044u /* "DP" */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t x)
{
    wr32(p, (uint32_t)x);
    wr32(p + 4, (uint32_t)(x >> 32));
}

static uint64_t align_up(uint64_t x)
{
    return (x + DVOC_ALIGN - 1) & ~(uint64_t)(DVOC_ALIGN - 1);
}

/* Expected byte size of each section from the counts; the counts are already range-checked, so
 * 64-bit math cannot overflow (2^26 nodes x 8192 bytes < 2^40). */
static void section_sizes(uint32_t n_nodes, uint32_t n_words, uint32_t desc_bytes,
                          uint64_t size[DVOC_N_SECTIONS])
{
    size[0] = ((uint64_t)n_nodes + 1) * 4;
    size[1] = (uint64_t)n_nodes * 4;
    size[2] = (uint64_t)n_words * 4;
    size[3] = (uint64_t)n_nodes * desc_bytes;
}

/* Topology checksum: child_begin, node_word and word_weight chained in that order. */
static uint64_t topo_sum(const void *cb, const void *nw, const void *ww, const uint64_t *size)
{
    uint64_t h = deja__hash64(cb, size[0], SEED_TOPO);
    h = deja__hash64(nw, size[1], h);
    return deja__hash64(ww, size[2], h);
}

/* Payload checksum: the bytes after the header hashed in 1 MiB blocks, each block seeding the
 * next, so that the writer can hash what it streams and the layout of the sections is free. */
static uint64_t payload_sum(const uint8_t *p, size_t bytes)
{
    uint64_t h = SEED_PAYLOAD;
    for (size_t off = 0; off < bytes; off += DVOC_BLOCK_BYTES) {
        size_t n = bytes - off < DVOC_BLOCK_BYTES ? bytes - off : DVOC_BLOCK_BYTES;
        h = deja__hash64(p + off, n, h);
    }
    return h;
}

/* Largest fan-out and depth from the breadth-first arrays (the level walk of validate). Saved
 * values are computed, not copied, so that a vocabulary whose k field holds the training
 * branching factor still loads (the loader compares against what validate finds). */
static void tree_shape(const deja_vocab *v, uint32_t *k, uint32_t *depth)
{
    const uint32_t *cb = v->child_begin;
    uint32_t max_k = 0, d = 0, a = 0, b = 1;
    for (uint32_t i = 0; i < v->n_nodes; i++)
        if (cb[i + 1] > cb[i] && cb[i + 1] - cb[i] > max_k) max_k = cb[i + 1] - cb[i];
    while (a < b && b <= v->n_nodes && d <= DEJA_VOCAB_MAX_DEPTH) {
        uint32_t na = cb[a], nb = cb[b];
        if (na != b || nb <= na) break;
        d++;
        a = na;
        b = nb;
    }
    *k = max_k;
    *depth = d;
}

/* ---- load ------------------------------------------------------------------------------ */

static deja_status range(const char *path, unsigned off, const char *name, uint64_t x, uint64_t lo,
                         uint64_t hi)
{
    if (x > hi)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s byte %u: %s %llu > limit %llu", path, off, name,
                        (unsigned long long)x, (unsigned long long)hi);
    if (x < lo)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s byte %u: %s %llu < minimum %llu", path, off, name,
                        (unsigned long long)x, (unsigned long long)lo);
    return DEJA_OK;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        deja_status s_ = (call);                                                                   \
        if (s_ != DEJA_OK) return s_;                                                              \
    } while (0)

/* Header up to the section table: identity, self-checksum, counts. */
static deja_status check_header(const uint8_t *h, uint64_t file_size, const char *path)
{
    if (memcmp(h + H_MAGIC, dvoc_magic, 8) != 0)
        return DEJA_ERR(NULL, DEJA_FORMAT, "%s byte 0: bad magic, not a deja vocabulary (.dvoc)",
                        path);
    uint32_t version = rd32(h + H_VERSION);
    if (version > DVOC_VERSION)
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED, "%s byte %d: version %u > supported %u", path,
                        H_VERSION, version, DVOC_VERSION);
    CHECK(range(path, H_VERSION, "version", version, 1, DVOC_VERSION));
    CHECK(range(path, H_HEADER_BYTES, "header_bytes", rd32(h + H_HEADER_BYTES), DVOC_HEADER_BYTES,
                DVOC_HEADER_BYTES));
    uint64_t want = deja__hash64(h, H_HEADER_SUM, SEED_HEADER), got = rd64(h + H_HEADER_SUM);
    if (want != got)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: header checksum %016llx != computed %016llx (corrupt header)",
                        path, H_HEADER_SUM, (unsigned long long)got, (unsigned long long)want);
    CHECK(range(path, H_FLAGS, "flags", rd32(h + H_FLAGS), 0, 0));
    for (unsigned i = H_RESERVED; i < H_HEADER_SUM; i++)
        if (h[i] != 0)
            return DEJA_ERR(NULL, DEJA_FORMAT, "%s byte %u: reserved byte is %u, expected 0", path,
                            i, h[i]);
    uint32_t kind = rd32(h + H_KIND), desc_bytes = rd32(h + H_DESC_BYTES);
    if (kind != DEJA_DESC_BINARY && kind != DEJA_DESC_FLOAT32)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: descriptor kind %u is neither binary (%d) nor float32 (%d)",
                        path, H_KIND, kind, DEJA_DESC_BINARY, DEJA_DESC_FLOAT32);
    CHECK(range(path, H_DESC_BYTES, "desc_bytes", desc_bytes, 1, DVOC_MAX_DESC_BYTES));
    if (kind == DEJA_DESC_FLOAT32 && desc_bytes % 4 != 0)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: desc_bytes %u of float descriptors is not a multiple of 4",
                        path, H_DESC_BYTES, desc_bytes);
    uint32_t n_nodes = rd32(h + H_N_NODES);
    CHECK(range(path, H_N_NODES, "n_nodes", n_nodes, 1, DEJA_VOCAB_MAX_NODES));
    CHECK(range(path, H_N_WORDS, "n_words", rd32(h + H_N_WORDS), 0, n_nodes));
    CHECK(range(path, H_K, "k", rd32(h + H_K), 0, DEJA_VOCAB_MAX_K));
    CHECK(range(path, H_DEPTH, "depth", rd32(h + H_DEPTH), 0, DEJA_VOCAB_MAX_DEPTH));
    CHECK(range(path, H_WEIGHTING, "weighting", rd32(h + H_WEIGHTING), DEJA_WEIGHT_TF_IDF,
                DEJA_WEIGHT_BINARY));
    uint64_t file_bytes = rd64(h + H_FILE_BYTES);
    if (file_bytes != file_size)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: file_bytes %llu != file size %llu "
                        "(truncated or trailing bytes)",
                        path, H_FILE_BYTES, (unsigned long long)file_bytes,
                        (unsigned long long)file_size);
    return DEJA_OK;
}

/* Section table: sizes match the counts, 64-byte aligned, after the header, inside the file,
 * pairwise disjoint, and the last one ends the file. Fills off[] on success. */
static deja_status check_sections(const uint8_t *h, const char *path, uint64_t off[DVOC_N_SECTIONS])
{
    uint64_t want[DVOC_N_SECTIONS], end[DVOC_N_SECTIONS], last = DVOC_HEADER_BYTES;
    uint64_t file_bytes = rd64(h + H_FILE_BYTES);
    section_sizes(rd32(h + H_N_NODES), rd32(h + H_N_WORDS), rd32(h + H_DESC_BYTES), want);
    for (int i = 0; i < DVOC_N_SECTIONS; i++) {
        unsigned at = H_SECTIONS + 16u * (unsigned)i;
        uint64_t o = rd64(h + at), n = rd64(h + at + 8);
        const char *name = section_name[i];
        if (n != want[i])
            return DEJA_ERR(NULL, DEJA_FORMAT,
                            "%s byte %u: %s bytes %llu != %llu implied by the counts", path, at + 8,
                            name, (unsigned long long)n, (unsigned long long)want[i]);
        if (o % DVOC_ALIGN != 0)
            return DEJA_ERR(NULL, DEJA_FORMAT, "%s byte %u: %s offset %llu is not %u-byte aligned",
                            path, at, name, (unsigned long long)o, DVOC_ALIGN);
        if (o < DVOC_HEADER_BYTES)
            return DEJA_ERR(NULL, DEJA_FORMAT,
                            "%s byte %u: %s offset %llu < limit %u (inside the header)", path, at,
                            name, (unsigned long long)o, DVOC_HEADER_BYTES);
        if (o > file_bytes || n > file_bytes - o)
            return DEJA_ERR(NULL, DEJA_FORMAT,
                            "%s byte %u: %s [%llu, +%llu) ends past the file size %llu", path, at,
                            name, (unsigned long long)o, (unsigned long long)n,
                            (unsigned long long)file_bytes);
        off[i] = o;
        end[i] = o + n;
        for (int j = 0; j < i; j++)
            if (n && want[j] && o < end[j] && off[j] < end[i])
                return DEJA_ERR(
                    NULL, DEJA_FORMAT, "%s byte %u: %s [%llu, %llu) overlaps %s [%llu, %llu)", path,
                    at, name, (unsigned long long)o, (unsigned long long)end[i], section_name[j],
                    (unsigned long long)off[j], (unsigned long long)end[j]);
        if (end[i] > last) last = end[i];
    }
    if (last != file_bytes)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: file_bytes %llu != end of the last "
                        "section %llu (trailing bytes)",
                        path, H_FILE_BYTES, (unsigned long long)file_bytes,
                        (unsigned long long)last);
    return DEJA_OK;
}

/* Everything after the mapping exists: header, sections, topology, optional full verification.
 * On success v points into map. */
static deja_status check_file(const uint8_t *map, uint64_t size, const char *path, unsigned flags,
                              deja_vocab *v)
{
    CHECK(check_header(map, size, path));
    uint64_t off[DVOC_N_SECTIONS], sz[DVOC_N_SECTIONS];
    CHECK(check_sections(map, path, off));
    v->kind = (deja_desc_kind)rd32(map + H_KIND);
    v->desc_bytes = rd32(map + H_DESC_BYTES);
    v->n_nodes = rd32(map + H_N_NODES);
    v->n_words = rd32(map + H_N_WORDS);
    v->weighting = (deja_weighting)rd32(map + H_WEIGHTING);
    v->child_begin = (const uint32_t *)(const void *)(map + off[0]);
    v->node_word = (const uint32_t *)(const void *)(map + off[1]);
    v->word_weight = (const float *)(const void *)(map + off[2]);
    v->node_desc = map + off[3];
    section_sizes(v->n_nodes, v->n_words, v->desc_bytes, sz);

    /* The topology drives every index computed later: checksum it before walking it. */
    uint64_t want = rd64(map + H_TOPO_SUM);
    uint64_t got = topo_sum(v->child_begin, v->node_word, v->word_weight, sz);
    if (want != got)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: topology checksum %016llx != computed "
                        "%016llx (corrupt tree arrays)",
                        path, H_TOPO_SUM, (unsigned long long)want, (unsigned long long)got);
    CHECK(deja__vocab_validate(v, path, NULL));
    if (v->k != rd32(map + H_K) || v->depth != rd32(map + H_DEPTH))
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: k %u, depth %u in the header but the "
                        "tree has fan-out %u, depth %u",
                        path, H_K, rd32(map + H_K), rd32(map + H_DEPTH), v->k, v->depth);

    v->payload_bytes = size - DVOC_HEADER_BYTES;
    v->checksum = rd64(map + H_PAYLOAD_SUM);
    if (!(flags & DEJA_VOCAB_VERIFY)) return DEJA_OK;
    got = payload_sum(map + DVOC_HEADER_BYTES, (size_t)v->payload_bytes);
    if (got != v->checksum)
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte %d: payload checksum %016llx != computed %016llx (corrupt data)",
                        path, H_PAYLOAD_SUM, (unsigned long long)v->checksum,
                        (unsigned long long)got);
    if (v->kind == DEJA_DESC_FLOAT32) {
        /* The root's centroid is never compared; every other one must be a real vector. */
        size_t dim = v->desc_bytes / 4;
        for (uint32_t i = 1; i < v->n_nodes; i++) {
            const float *c =
                (const float *)(const void *)(v->node_desc + (size_t)i * v->desc_bytes);
            for (size_t d = 0; d < dim; d++)
                if (!isfinite(c[d]))
                    return DEJA_ERR(NULL, DEJA_FORMAT,
                                    "%s byte %llu: node %u centroid[%zu] is %g, not finite", path,
                                    (unsigned long long)(off[3] + ((size_t)i * dim + d) * 4), i, d,
                                    (double)c[d]);
        }
    }
    return DEJA_OK;
}

deja_status deja_vocab_load(const deja_options *o, const char *path, unsigned flags,
                            deja_vocab **out)
{
    if (!path || !out || (flags & ~DEJA_VOCAB_VERIFY))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab load: NULL path/out or unknown flags %#x",
                        flags);
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return DEJA_ERR(NULL, DEJA_UNSUPPORTED, "%s: .dvoc is mapped as is, little-endian hosts only",
                    path);
#endif
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DEJA_ERR(NULL, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return DEJA_ERR(NULL, DEJA_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return DEJA_ERR(NULL, DEJA_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < DVOC_HEADER_BYTES || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return DEJA_ERR(NULL, DEJA_FORMAT,
                        "%s byte 0: file size %lld outside %u..%zu (not a "
                        "deja vocabulary, or truncated)",
                        path, (long long)st.st_size, DVOC_HEADER_BYTES, (size_t)SIZE_MAX);
    }
    size_t size = (size_t)st.st_size;
    /* No MAP_POPULATE: without VERIFY only the topology pages are touched, and pre-faulting the
     * whole file measured slower (3.1 vs 2.7 ms for 10^6 words); with VERIFY it gained nothing
     * measurable over the faults of the sequential checksum pass. */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return DEJA_ERR(NULL, DEJA_IO, "%s: mmap of %zu bytes failed: %s", path, size, strerror(e));
    deja_allocator a = deja__allocator(o);
    deja_vocab *v = deja__calloc(&a, 1, sizeof *v);
    if (!v) {
        munmap(map, size);
        return DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory", path);
    }
    v->alloc = a;
    deja_status s = check_file(map, size, path, flags, v);
    if (s != DEJA_OK) {
        munmap(map, size);
        deja__free(&a, v, sizeof *v);
        return s;
    }
    v->map = map;
    v->map_bytes = size;
    *out = v;
    return DEJA_OK;
}

/* ---- save ------------------------------------------------------------------------------ */

/* Streams the payload through one 1 MiB buffer, hashing each block as the loader will. */
typedef struct {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t sum;
    int err; /* errno of the first failed write, 0 if none */
} writer;

static void write_all(int fd, const void *p, size_t n, int *err)
{
    const uint8_t *q = p;
    while (n && !*err) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            *err = w < 0 ? errno : EIO;
            return;
        }
        q += w;
        n -= (size_t)w;
    }
}

static void flush(writer *w)
{
    if (!w->len) return;
    w->sum = deja__hash64(w->buf, w->len, w->sum);
    write_all(w->fd, w->buf, w->len, &w->err);
    w->len = 0;
}

/* Append n bytes of src, or n zero bytes when src is NULL. */
static void put(writer *w, const void *src, uint64_t n)
{
    const uint8_t *p = src;
    while (n) {
        size_t room = DVOC_BLOCK_BYTES - w->len, take = n < room ? (size_t)n : room;
        if (p) {
            memcpy(w->buf + w->len, p, take);
            p += take;
        } else {
            memset(w->buf + w->len, 0, take);
        }
        w->len += take;
        n -= take;
        if (w->len == DVOC_BLOCK_BYTES) flush(w);
    }
}

/* Make the rename durable: sync the directory that holds path (best effort; some file systems
 * refuse fsync on directories, and the data itself is already synced). */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if ((size_t)(slash - path) < sizeof dir) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    } else {
        return;
    }
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

deja_status deja_vocab_save(const deja_vocab *v, const char *path)
{
    if (!v || !path || !*path)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab save: NULL vocabulary or empty path");
    uint64_t size[DVOC_N_SECTIONS], off[DVOC_N_SECTIONS], at = DVOC_HEADER_BYTES;
    section_sizes(v->n_nodes, v->n_words, v->desc_bytes, size);
    for (int i = 0; i < DVOC_N_SECTIONS; i++) {
        off[i] = align_up(at);
        at = off[i] + size[i];
    }
    uint32_t k, depth;
    tree_shape(v, &k, &depth);
    const void *data[DVOC_N_SECTIONS] = {v->child_begin, v->node_word, v->word_weight,
                                         v->node_desc};

    uint8_t h[DVOC_HEADER_BYTES] = {0};
    memcpy(h + H_MAGIC, dvoc_magic, 8);
    wr32(h + H_VERSION, DVOC_VERSION);
    wr32(h + H_HEADER_BYTES, DVOC_HEADER_BYTES);
    wr32(h + H_KIND, (uint32_t)v->kind);
    wr32(h + H_DESC_BYTES, v->desc_bytes);
    wr32(h + H_N_NODES, v->n_nodes);
    wr32(h + H_N_WORDS, v->n_words);
    wr32(h + H_K, k);
    wr32(h + H_DEPTH, depth);
    wr32(h + H_WEIGHTING, (uint32_t)v->weighting);
    wr64(h + H_FILE_BYTES, at);
    for (int i = 0; i < DVOC_N_SECTIONS; i++) {
        wr64(h + H_SECTIONS + 16 * i, off[i]);
        wr64(h + H_SECTIONS + 16 * i + 8, size[i]);
    }
    wr64(h + H_TOPO_SUM, topo_sum(data[0], data[1], data[2], size));

    /* Write to path.tmp, sync, rename: readers see the old file or the whole new one. */
    const deja_allocator *a = &v->alloc;
    size_t plen = strlen(path), tlen = plen + 5;
    char *tmp = deja__alloc(a, tlen);
    uint8_t *buf = deja__alloc(a, DVOC_BLOCK_BYTES);
    if (!tmp || !buf) {
        deja__free(a, tmp, tlen);
        deja__free(a, buf, DVOC_BLOCK_BYTES);
        return DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory for the write buffer", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    deja_status st = DEJA_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = DEJA_ERR(NULL, DEJA_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    writer w = {fd, buf, 0, SEED_PAYLOAD, 0};
    write_all(fd, h, DVOC_HEADER_BYTES, &w.err); /* placeholder until the checksum is known */
    for (int i = 0; i < DVOC_N_SECTIONS; i++) {
        put(&w, NULL, off[i] - (i ? off[i - 1] + size[i - 1] : DVOC_HEADER_BYTES));
        put(&w, data[i], size[i]);
    }
    flush(&w);
    wr64(h + H_PAYLOAD_SUM, w.sum);
    wr64(h + H_HEADER_SUM, deja__hash64(h, H_HEADER_SUM, SEED_HEADER));
    errno = 0;
    if (!w.err && pwrite(fd, h, DVOC_HEADER_BYTES, 0) != (ssize_t)DVOC_HEADER_BYTES)
        w.err = errno ? errno : EIO;
    if (!w.err && fsync(fd) != 0) w.err = errno;
    if (close(fd) != 0 && !w.err) w.err = errno;
    if (!w.err && rename(tmp, path) != 0) w.err = errno;
    if (w.err) {
        st = DEJA_ERR(NULL, DEJA_IO, "%s: write failed: %s", tmp, strerror(w.err));
        unlink(tmp);
    } else {
        sync_dir(path);
    }
done:
    deja__free(a, tmp, tlen);
    deja__free(a, buf, DVOC_BLOCK_BYTES);
    return st;
}
