/* vocab_train.c - vocabulary training by hierarchical k-means (Nister & Stewenius, "Scalable
 * Recognition with a Vocabulary Tree", CVPR 2006), with the conventions of DBoW2 (Galvez-Lopez &
 * Tardos, "Bags of Binary Words for Fast Place Recognition in Image Sequences", T-RO 2012).
 *
 * How it works
 * - All descriptors are copied into one block of rows. A node owns a contiguous range of rows;
 *   clustering a node permutes its range in place (American flag sort by cluster) so that each
 *   child again owns a contiguous sub-range. Peak memory: the rows, 8 bytes per row (cluster id,
 *   distance), and the tree itself.
 * - The tree is built level by level, nodes in breadth-first order, so node ids come out in the
 *   layout of vocab.h directly: the children of a node are created together, in order.
 * - A node with more than k rows: k-means++ seeding (Arthur & Vassilvitskii 2007) from a random
 *   stream seeded by (params.seed, node id), then Lloyd iterations until no assignment changes
 *   or max_iterations. Each pass ends with an assignment, so every row sits in the Voronoi cell
 *   of its cluster: descending the finished tree puts it where training put it. An empty
 *   cluster is reseeded with the row farthest from its centroid, or dropped when every row sits
 *   on its centroid. A node with at most k rows makes each distinct row a child leaf (DBoW2 does
 *   this without the "distinct"; duplicates would only give words that no descriptor reaches).
 *   A node whose rows are all equal becomes a leaf (the root keeps one child).
 * - One code path for both descriptor kinds; a small vtable supplies the distance (Hamming or
 *   squared L2, from the SIMD kernel table) and the centroid (bitwise majority with ties to 0, or
 *   the mean).
 * - Threads: big nodes run their passes split over rows (assignment, distances) or over
 *   descriptor columns (centroids); runs of small nodes are spread over the workers whole. Every
 *   per-row result is independent and every sum runs in a fixed row order inside one column, so
 *   the tree is bit-identical for any number of threads.
 * - Weights: as DBoW2, the training images are transformed with the finished tree and
 *   idf_i = log(N / n_i) for TF_IDF and IDF (N images, n_i of them containing word i, 0 when no
 *   image does); 1 for TF and BINARY. */
#include "pool.h"
#include "simd.h"
#include "vocab.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_WORKERS    8         /* the pool's own cap */
#define DIST_CHUNK     256       /* rows per distance call, >= DEJA_VOCAB_MAX_K */
#define MAX_DESC_BYTES 8192      /* 2048 floats; the .dvoc limit (vocab_file.c) */
#define MAX_ABS_FLOAT  1e15      /* larger components could overflow float distances */
#define BIG_WORK       (1 << 16) /* rows * k from which a node gets all workers */
#define BATCH_BYTES    (4 << 20) /* result slots of a run of small nodes */

typedef struct trainer trainer;

/* What differs between binary and float descriptors. A column is the unit the centroid pass
 * splits over: a 64-bit word (the last may be short) or a float. */
typedef struct kind_ops {
    size_t col_bytes;     /* descriptor bytes per column */
    size_t acc_col_bytes; /* accumulator bytes per cluster and column */
    size_t max_cols;      /* columns per accumulation pass: bounds the accumulator */
    /* out[i] = distance of q to row i of rows, i < n <= DIST_CHUNK. */
    void (*dist)(const trainer *t, const uint8_t *q, const uint8_t *rows, size_t n, float *out);
    /* Columns [c0, c1) of the centroids of clusters 0..m-1 (empty ones left untouched). */
    void (*centroids)(const trainer *t, const uint8_t *rows, const uint32_t *as, size_t n,
                      uint32_t m, const uint32_t *counts, size_t c0, size_t c1, void *acc,
                      uint8_t *cents);
} kind_ops;

/* A node waiting at the current level; its id is the level's first id plus its index. */
typedef struct {
    uint32_t begin, n; /* rows */
} pending;

struct trainer {
    deja_allocator a;
    const kind_ops *ops;
    deja__kernels kern;
    deja__pool *pool;
    int n_workers;
    uint32_t k, depth, max_iter, desc_bytes;
    size_t n_cols;
    uint64_t seed;
    /* rows and per-row scratch */
    uint8_t *data;
    size_t n_rows;
    uint32_t *as; /* cluster of each row; later the word of each descriptor */
    void *md;     /* float distance of each row to its centroid; later uint32 scratch */
    /* per-worker scratch: centroid accumulator, then one row for swaps */
    uint8_t *wscratch;
    size_t wstride, acc_off, swap_off;
    /* the tree, grown as it is built */
    uint32_t *child_begin, *node_word;
    uint8_t *node_desc;
    size_t cb_cap, nw_cap, nd_cap;
    uint32_t n_nodes, n_words;
    /* nodes of this level and the next */
    pending *cur, *next;
    size_t cur_cap, next_cap, n_cur, n_next;
    /* results of a run of nodes: m, counts[k], centroids[k] */
    uint8_t *slots;
    size_t slot_stride, slot_cents, batch_nodes;
    /* progress */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
    uint64_t done, total, reported, next_report;
};

/* How a node's passes run: over the pool's workers, or inline on one worker. */
typedef struct {
    trainer *t;
    deja__pool *pool; /* NULL: inline */
    int worker;
} exec;

static void run(const exec *x, size_t n, deja__pool_fn fn, void *ctx)
{
    if (x->pool)
        deja__pool_for(x->pool, n, fn, ctx);
    else if (n)
        fn(ctx, 0, n, x->worker);
}

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

/* ---- binary descriptors: Hamming distance, bitwise majority -------------------------------- */

static void bin_dist(const trainer *t, const uint8_t *q, const uint8_t *rows, size_t n, float *out)
{
    uint32_t d[DIST_CHUNK];
    t->kern.hamming_1xn(q, rows, t->desc_bytes, n, d);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)d[i]; /* exact: at most 2^16 bits */
}

/* Word j (8 bytes; the last may be short) of a row. memcpy both ways keeps bit positions
 * consistent on any byte order, and majority is per bit. */
static inline uint64_t load_word(const uint8_t *row, size_t j, size_t bytes)
{
    uint64_t x = 0;
    size_t at = j * 8;
    memcpy(&x, row + at, at + 8 <= bytes ? 8 : bytes - at);
    return x;
}

static inline void store_word(uint8_t *row, size_t j, size_t bytes, uint64_t x)
{
    size_t at = j * 8;
    memcpy(row + at, &x, at + 8 <= bytes ? 8 : bytes - at);
}

/* Add the 8-plane counters of one word (64 bit counts) to 32-bit counts and clear them. */
static void flush_planes(uint64_t *q, uint32_t *ones)
{
    for (int b = 0; b < 64; b++) {
        uint32_t v = 0;
        for (int k = 0; k < 8; k++)
            v |= (uint32_t)((q[k] >> b) & 1) << k;
        ones[b] += v;
    }
    memset(q, 0, 8 * sizeof *q);
}

/* Columns are 64-bit words. Each cluster counts the ones of every bit in vertical (bit-sliced)
 * counters: plane k holds bit k of 64 counts, so adding a row is a ripple carry that stops after
 * two planes on average; planes hold 255 adds, then spill into 32-bit counts. The majority test
 * count > n/2 is a bit-sliced compare against a constant, 64 bits at a time. */
static void bin_centroids(const trainer *t, const uint8_t *rows, const uint32_t *as, size_t n,
                          uint32_t m, const uint32_t *counts, size_t c0, size_t c1, void *acc,
                          uint8_t *cents)
{
    size_t w = c1 - c0, bytes = t->desc_bytes;
    uint64_t *planes = acc;                                    /* m * w * 8 */
    uint32_t *ones = (uint32_t *)(planes + (size_t)m * w * 8); /* m * w * 64 */
    uint8_t since[DEJA_VOCAB_MAX_K];                           /* adds since the last spill */
    bool spilled[DEJA_VOCAB_MAX_K];
    memset(planes, 0, (size_t)m * w * 8 * sizeof *planes);
    memset(since, 0, m);
    memset(spilled, 0, m);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = as[i];
        const uint8_t *r = rows + i * bytes;
        uint64_t *pl = planes + (size_t)c * w * 8;
        for (size_t j = 0; j < w; j++) {
            uint64_t x = load_word(r, c0 + j, bytes), *q = pl + j * 8;
            for (int k = 0; x; k++) { /* k < 8: a counter holds at most 255 here */
                uint64_t carry = q[k] & x;
                q[k] ^= x;
                x = carry;
            }
        }
        if (++since[c] == 255) {
            uint32_t *o = ones + (size_t)c * w * 64;
            if (!spilled[c]) memset(o, 0, w * 64 * sizeof *o); /* small nodes never spill */
            spilled[c] = true;
            for (size_t j = 0; j < w; j++)
                flush_planes(pl + j * 8, o + j * 64);
            since[c] = 0;
        }
    }
    for (uint32_t c = 0; c < m; c++) {
        if (counts[c] == 0) continue;
        uint64_t *pl = planes + (size_t)c * w * 8;
        uint32_t *o = ones + (size_t)c * w * 64;
        uint32_t half = counts[c] / 2; /* majority: ones > half; a tie gives 0 */
        for (size_t j = 0; j < w; j++) {
            uint64_t *q = pl + j * 8, word = 0;
            if (spilled[c]) {
                flush_planes(q, o + j * 64);
                for (int b = 0; b < 64; b++)
                    if (o[j * 64 + b] > half) word |= 1ull << b;
            } else {
                /* From the top plane down: greater once a plane has 1 where half has 0 while
                 * all higher planes were equal. */
                uint64_t gt = 0, eq = ~0ull;
                for (int k = 7; k >= 0; k--) {
                    if ((half >> k) & 1) {
                        eq &= q[k];
                    } else {
                        gt |= eq & q[k];
                        eq &= ~q[k];
                    }
                }
                word = gt;
            }
            store_word(cents + (size_t)c * bytes, c0 + j, bytes, word);
        }
    }
}

/* ---- float descriptors: squared L2, mean ---------------------------------------------------- */

static void f32_dist(const trainer *t, const uint8_t *q, const uint8_t *rows, size_t n, float *out)
{
    t->kern.l2sq_1xn((const float *)(const void *)q, (const float *)(const void *)rows,
                     t->desc_bytes / 4, n, out);
}

static void f32_centroids(const trainer *t, const uint8_t *rows, const uint32_t *as, size_t n,
                          uint32_t m, const uint32_t *counts, size_t c0, size_t c1, void *acc,
                          uint8_t *cents)
{
    size_t w = c1 - c0, dim = t->desc_bytes / 4;
    double *sum = acc; /* m * w; double keeps long sums exact enough and order is fixed anyway */
    memset(sum, 0, (size_t)m * w * sizeof *sum);
    for (size_t i = 0; i < n; i++) {
        const float *r = (const float *)(const void *)(rows + i * t->desc_bytes) + c0;
        double *s = sum + (size_t)as[i] * w;
        for (size_t j = 0; j < w; j++)
            s[j] += r[j];
    }
    float *cf = (float *)(void *)cents;
    for (uint32_t c = 0; c < m; c++) {
        if (counts[c] == 0) continue;
        for (size_t j = 0; j < w; j++)
            cf[(size_t)c * dim + c0 + j] = (float)(sum[(size_t)c * w + j] / counts[c]);
    }
}

static const kind_ops binary_ops = {8, 8 * 8 + 64 * 4, 8, bin_dist, bin_centroids};
static const kind_ops float_ops = {4, 8, 256, f32_dist, f32_centroids};

/* ---- deterministic random stream (splitmix64, Steele et al. 2014) --------------------------- */


static double rng_unit(uint64_t *s) /* [0, 1) */
{
    return (double)(deja__splitmix64(s) >> 11) * 0x1.0p-53;
}

/* ---- progress ------------------------------------------------------------------------------- */

/* At most ~100 calls: only when done passed the next percent, or at the end. */
static void report(trainer *t, uint64_t done)
{
    if (!t->progress) return;
    if (done > t->total) done = t->total;
    if (done <= t->reported || (done < t->next_report && done < t->total)) return;
    t->reported = done;
    t->next_report = done + (t->total / 100 ? t->total / 100 : 1);
    t->progress(t->progress_user, done, t->total);
}

/* ---- one node: k-means or distinct rows ----------------------------------------------------- */

typedef struct {
    uint8_t *rows; /* the node's rows in t->data */
    size_t n;
    uint32_t *as;
    float *md;
    uint32_t id; /* node id: seeds the random stream */
    uint32_t m;  /* clusters */
    uint32_t *counts;
    uint8_t *cents;
} work;

typedef struct {
    const trainer *t;
    const uint8_t *rows, *centre;
    float *md;
    bool first;
} near_job;

/* md[i] = min(md[i], distance to the newest centre): one 1 x n kernel call per chunk. */
static void near_fn(void *ctx, size_t b, size_t e, int worker)
{
    near_job *j = ctx;
    size_t bytes = j->t->desc_bytes;
    float d[DIST_CHUNK];
    (void)worker;
    for (size_t i = b; i < e; i += DIST_CHUNK) {
        size_t n = e - i < DIST_CHUNK ? e - i : DIST_CHUNK;
        j->t->ops->dist(j->t, j->centre, j->rows + i * bytes, n, d);
        for (size_t r = 0; r < n; r++)
            if (j->first || d[r] < j->md[i + r]) j->md[i + r] = d[r];
    }
}

/* k-means++: the first centre uniformly, each next one with probability proportional to the
 * distance to the nearest centre so far (squared L2, or Hamming, which is the squared L2 of bit
 * vectors). Stops early when every row coincides with a centre. The sums run serially in row
 * order, so the draw does not depend on the thread count. */
static uint32_t seed_centres(const exec *x, work *w)
{
    trainer *t = x->t;
    size_t bytes = t->desc_bytes;
    uint64_t s = t->seed ^ ((uint64_t)w->id + 1) * 0xD1B54A32D192ED03ull;
    size_t first = (size_t)(rng_unit(&s) * (double)w->n);
    if (first >= w->n) first = w->n - 1;
    memcpy(w->cents, w->rows + first * bytes, bytes);
    near_job j = {t, w->rows, w->cents, w->md, true};
    run(x, w->n, near_fn, &j);
    j.first = false;
    uint32_t m = 1;
    while (m < t->k) {
        double total = 0;
        for (size_t i = 0; i < w->n; i++)
            total += w->md[i];
        if (!(total > 0)) break;
        /* First row whose running sum passes u: it has a positive weight. */
        double u = rng_unit(&s) * total, cum = 0;
        size_t pick = w->n;
        for (size_t i = 0; i < w->n && pick == w->n; i++) {
            cum += w->md[i];
            if (cum > u) pick = i;
        }
        if (pick == w->n) break; /* unreachable: the scan repeats the sum */
        j.centre = w->cents + (size_t)m * bytes;
        memcpy(w->cents + (size_t)m * bytes, w->rows + pick * bytes, bytes);
        run(x, w->n, near_fn, &j);
        m++;
    }
    return m;
}

typedef struct {
    const trainer *t;
    const uint8_t *rows, *cents;
    uint32_t m;
    uint32_t *as;
    float *md;
    size_t changed[MAX_WORKERS];
} assign_job;

/* Nearest centroid of each row (the first on ties, as a descent picks). */
static void assign_fn(void *ctx, size_t b, size_t e, int worker)
{
    assign_job *j = ctx;
    size_t bytes = j->t->desc_bytes, changed = 0;
    float d[DIST_CHUNK];
    for (size_t i = b; i < e; i++) {
        j->t->ops->dist(j->t, j->rows + i * bytes, j->cents, j->m, d);
        uint32_t best = 0;
        for (uint32_t c = 1; c < j->m; c++)
            if (d[c] < d[best]) best = c;
        changed += j->as[i] != best;
        j->as[i] = best;
        j->md[i] = d[best];
    }
    j->changed[worker] += changed;
}

typedef struct {
    const trainer *t;
    const uint8_t *rows;
    const uint32_t *as;
    size_t n;
    uint32_t m;
    const uint32_t *counts;
    uint8_t *cents;
} cent_job;

/* Centroid columns [b, e), in passes of at most max_cols columns over all rows in order. */
static void cent_fn(void *ctx, size_t b, size_t e, int worker)
{
    cent_job *j = ctx;
    const trainer *t = j->t;
    void *acc = t->wscratch + (size_t)worker * t->wstride + t->acc_off;
    for (size_t c0 = b; c0 < e; c0 += t->ops->max_cols) {
        size_t c1 = e - c0 < t->ops->max_cols ? e : c0 + t->ops->max_cols;
        t->ops->centroids(t, j->rows, j->as, j->n, j->m, j->counts, c0, c1, acc, j->cents);
    }
}

static void count_members(work *w)
{
    memset(w->counts, 0, w->m * sizeof *w->counts);
    for (size_t i = 0; i < w->n; i++)
        w->counts[w->as[i]]++;
}

/* Remove empty clusters, keeping the order of the others. */
static void drop_empty(const trainer *t, work *w)
{
    uint32_t remap[DEJA_VOCAB_MAX_K], m = 0;
    size_t bytes = t->desc_bytes;
    for (uint32_t c = 0; c < w->m; c++) {
        if (w->counts[c] == 0) continue;
        remap[c] = m;
        if (m != c) {
            memcpy(w->cents + (size_t)m * bytes, w->cents + (size_t)c * bytes, bytes);
            w->counts[m] = w->counts[c];
        }
        m++;
    }
    if (m == w->m) return;
    for (size_t i = 0; i < w->n; i++)
        w->as[i] = remap[w->as[i]];
    w->m = m;
}

/* An empty cluster takes the row farthest from its centroid (the first on ties); when every row
 * sits on its centroid there is nothing to split off and the cluster is dropped. */
static void reseed_empty(const trainer *t, work *w)
{
    size_t bytes = t->desc_bytes;
    for (uint32_t c = 0; c < w->m; c++) {
        if (w->counts[c]) continue;
        size_t far = w->n;
        float best = 0;
        for (size_t i = 0; i < w->n; i++)
            if (w->md[i] > best) {
                best = w->md[i];
                far = i;
            }
        if (far == w->n) break;
        w->counts[w->as[far]]--;
        w->as[far] = c;
        w->counts[c] = 1;
        w->md[far] = 0;
        memcpy(w->cents + (size_t)c * bytes, w->rows + far * bytes, bytes);
    }
    drop_empty(t, w);
}

static void kmeans(const exec *x, work *w)
{
    trainer *t = x->t;
    w->m = seed_centres(x, w);
    if (w->m == 1) { /* all rows equal */
        memset(w->as, 0, w->n * sizeof *w->as);
        w->counts[0] = (uint32_t)w->n;
        return;
    }
    for (size_t i = 0; i < w->n; i++)
        w->as[i] = UINT32_MAX;
    for (uint32_t it = 0;; it++) {
        assign_job aj = {t, w->rows, w->cents, w->m, w->as, w->md, {0}};
        run(x, w->n, assign_fn, &aj);
        size_t changed = 0;
        for (int i = 0; i < MAX_WORKERS; i++)
            changed += aj.changed[i];
        count_members(w);
        if (changed == 0 || it >= t->max_iter) break;
        reseed_empty(t, w);
        cent_job cj = {t, w->rows, w->as, w->n, w->m, w->counts, w->cents};
        run(x, t->n_cols, cent_fn, &cj);
        /* Big nodes run on the calling thread: show progress within them. */
        if (x->pool) report(t, t->done + w->n * (it + 1) / (t->max_iter + 2));
    }
    drop_empty(t, w);
}

/* At most k rows: each distinct row is a cluster of its own. */
static void distinct_rows(const trainer *t, work *w)
{
    size_t bytes = t->desc_bytes;
    float d[DIST_CHUNK];
    w->m = 0;
    for (size_t i = 0; i < w->n; i++) {
        const uint8_t *row = w->rows + i * bytes;
        uint32_t c = w->m;
        if (w->m) t->ops->dist(t, row, w->cents, w->m, d);
        for (uint32_t j = 0; j < w->m && c == w->m; j++)
            if (d[j] == 0) c = j;
        if (c == w->m) {
            memcpy(w->cents + (size_t)c * bytes, row, bytes);
            w->counts[c] = 0;
            w->m++;
        }
        w->as[i] = c;
        w->counts[c]++;
    }
}

/* American flag sort of the rows by cluster, in place: each swap puts one row home. */
static void group_rows(const trainer *t, work *w, uint8_t *swap)
{
    size_t bytes = t->desc_bytes, next[DEJA_VOCAB_MAX_K], end[DEJA_VOCAB_MAX_K], at = 0;
    for (uint32_t c = 0; c < w->m; c++) {
        next[c] = at;
        at += w->counts[c];
        end[c] = at;
    }
    for (uint32_t c = 0; c < w->m; c++) {
        while (next[c] < end[c]) {
            size_t i = next[c];
            uint32_t d = w->as[i];
            if (d == c) {
                next[c]++;
                continue;
            }
            size_t h = next[d]++;
            uint8_t *ri = w->rows + i * bytes, *rh = w->rows + h * bytes;
            memcpy(swap, ri, bytes);
            memcpy(ri, rh, bytes);
            memcpy(rh, swap, bytes);
            w->as[i] = w->as[h];
            w->as[h] = d;
        }
    }
}

static uint8_t *slot_at(const trainer *t, size_t i)
{
    return t->slots + i * t->slot_stride;
}

/* Cluster one node's rows; the result (m, counts, centroids) goes to its slot. */
static void cluster_node(const exec *x, const pending *p, uint32_t id, uint8_t *slot)
{
    trainer *t = x->t;
    uint32_t *hdr = (uint32_t *)(void *)slot;
    work w = {t->data + (size_t)p->begin * t->desc_bytes,
              p->n,
              t->as + p->begin,
              (float *)t->md + p->begin,
              id,
              0,
              hdr + 1,
              slot + t->slot_cents};
    if (w.n <= t->k)
        distinct_rows(t, &w);
    else
        kmeans(x, &w);
    int worker = x->pool ? 0 : x->worker; /* a big node regroups on the calling thread */
    group_rows(t, &w, t->wscratch + (size_t)worker * t->wstride + t->swap_off);
    hdr[0] = w.m;
}

typedef struct {
    trainer *t;
    const pending *nodes;
    uint32_t first_id;
    size_t n;
    atomic_size_t next;
} batch_job;

/* Workers take small nodes one by one; each node's result lands in its own slot, so the order
 * in which they are taken does not matter. */
static void batch_fn(void *ctx, size_t b, size_t e, int worker)
{
    batch_job *j = ctx;
    exec x = {j->t, NULL, worker};
    (void)b;
    (void)e;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= j->n) break;
        cluster_node(&x, &j->nodes[i], j->first_id + (uint32_t)i, slot_at(j->t, i));
    }
}

/* ---- the tree ------------------------------------------------------------------------------- */

static deja_status nomem(const char *what)
{
    return DEJA_ERR(NULL, DEJA_NOMEM, "vocab train: out of memory for the %s", what);
}

/* Node id's result: m children (0: a leaf) appended to the tree and to the next level. */
static deja_status emit(trainer *t, uint32_t id, uint32_t level, const pending *p,
                        const uint8_t *slot)
{
    const uint32_t *hdr = (const uint32_t *)(const void *)slot;
    uint32_t m = slot ? hdr[0] : 0;
    if (m == 1 && level > 0) m = 0; /* rows all equal: nothing below this node */
    t->child_begin[id] = t->n_nodes;
    if (m == 0) {
        t->node_word[id] = t->n_words++;
        if (level < t->depth) t->done += (uint64_t)p->n * (t->depth - level - 1);
        return DEJA_OK;
    }
    t->node_word[id] = UINT32_MAX;
    size_t need = (size_t)t->n_nodes + m + 1;
    if (!deja__reserve(&t->a, (void **)&t->child_begin, &t->cb_cap, need, 4) ||
        !deja__reserve(&t->a, (void **)&t->node_word, &t->nw_cap, need, 4) ||
        !deja__reserve(&t->a, (void **)&t->node_desc, &t->nd_cap, need, t->desc_bytes) ||
        !deja__reserve(&t->a, (void **)&t->next, &t->next_cap, t->n_next + m, sizeof *t->next))
        return nomem("tree nodes");
    uint32_t begin = p->begin;
    for (uint32_t c = 0; c < m; c++) {
        uint32_t child = t->n_nodes++;
        memcpy(t->node_desc + (size_t)child * t->desc_bytes,
               slot + t->slot_cents + (size_t)c * t->desc_bytes, t->desc_bytes);
        t->next[t->n_next++] = (pending){begin, hdr[1 + c]};
        begin += hdr[1 + c];
    }
    return DEJA_OK;
}

static bool is_big(const trainer *t, const pending *p)
{
    return (uint64_t)p->n * t->k >= BIG_WORK && p->n > t->k;
}

static deja_status build_level(trainer *t, uint32_t level, uint32_t first_id)
{
    deja_status st = DEJA_OK;
    size_t i = 0;
    while (i < t->n_cur && st == DEJA_OK) {
        const pending *p = &t->cur[i];
        if (level == t->depth) { /* deepest level: leaves */
            st = emit(t, first_id + (uint32_t)i, level, p, NULL);
            i++;
        } else if (is_big(t, p)) {
            exec x = {t, t->pool, 0};
            cluster_node(&x, p, first_id + (uint32_t)i, slot_at(t, 0));
            t->done += p->n;
            st = emit(t, first_id + (uint32_t)i, level, p, slot_at(t, 0));
            i++;
        } else {
            /* A run of small nodes, spread over the workers, then emitted in order. */
            size_t e = i;
            while (e < t->n_cur && e - i < t->batch_nodes && !is_big(t, &t->cur[e]))
                e++;
            batch_job j = {t, t->cur + i, first_id + (uint32_t)i, e - i, 0};
            deja__pool_for(t->pool, (size_t)t->n_workers, batch_fn, &j);
            for (size_t r = i; r < e && st == DEJA_OK; r++) {
                t->done += t->cur[r].n;
                st = emit(t, first_id + (uint32_t)r, level, &t->cur[r], slot_at(t, r - i));
            }
            i = e;
        }
        report(t, t->done);
    }
    return st;
}

/* Nodes the tree can have: level l holds at most min(k^l, rows) nodes (each owns a row), and as
 * every inner node but the root has >= 2 children, there are at most 2 rows + 1 in all.
 * Reserving that once avoids growth copies, during which old and new arrays are both live. */
static size_t node_bound(const trainer *t)
{
    size_t level = 1, bound = 1;
    for (uint32_t l = 0; l < t->depth; l++) {
        level = level * t->k < t->n_rows ? level * t->k : t->n_rows;
        bound += level;
    }
    return bound < 2 * t->n_rows + 1 ? bound : 2 * t->n_rows + 1;
}

static deja_status build_tree(trainer *t)
{
    size_t bound = node_bound(t);
    if (!deja__reserve(&t->a, (void **)&t->child_begin, &t->cb_cap, bound + 1, 4) ||
        !deja__reserve(&t->a, (void **)&t->node_word, &t->nw_cap, bound + 1, 4) ||
        !deja__reserve(&t->a, (void **)&t->node_desc, &t->nd_cap, bound, t->desc_bytes) ||
        !deja__reserve(&t->a, (void **)&t->cur, &t->cur_cap, 1, sizeof *t->cur))
        return nomem("tree nodes");
    memset(t->node_desc, 0, t->desc_bytes); /* the root's descriptor is unused */
    t->n_nodes = 1;
    t->cur[0] = (pending){0, (uint32_t)t->n_rows};
    t->n_cur = 1;
    uint32_t first_id = 0;
    for (uint32_t level = 0; level <= t->depth && t->n_cur; level++) {
        t->n_next = 0;
        deja_status st = build_level(t, level, first_id);
        if (st != DEJA_OK) return st;
        first_id += (uint32_t)t->n_cur;
        pending *sw = t->cur;
        t->cur = t->next;
        t->next = sw;
        size_t cap = t->cur_cap;
        t->cur_cap = t->next_cap;
        t->next_cap = cap;
        t->n_cur = t->n_next;
    }
    t->child_begin[t->n_nodes] = t->n_nodes;
    return DEJA_OK;
}

/* ---- weights -------------------------------------------------------------------------------- */

typedef struct {
    const trainer *t;
    const deja_vocab *v;
    const deja_features *sets;
    const size_t *offsets; /* first descriptor of each set in t->as */
    size_t s0, n;
    atomic_size_t next;
} idf_job;

/* The word of each training descriptor, by descending the finished tree. */
static void idf_fn(void *ctx, size_t b, size_t e, int worker)
{
    idf_job *j = ctx;
    const deja_vocab *v = j->v;
    size_t bytes = v->desc_bytes;
    float d[DIST_CHUNK];
    (void)b;
    (void)e;
    (void)worker;
    for (;;) {
        size_t s = j->s0 + atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (s >= j->s0 + j->n) break;
        const uint8_t *desc = j->sets[s].descriptors;
        for (size_t r = 0; r < j->sets[s].n; r++) {
            uint32_t node = 0;
            while (v->child_begin[node] != v->child_begin[node + 1]) {
                uint32_t c0 = v->child_begin[node], fan = v->child_begin[node + 1] - c0, best = 0;
                j->t->ops->dist(j->t, desc + r * bytes, v->node_desc + (size_t)c0 * bytes, fan, d);
                for (uint32_t c = 1; c < fan; c++)
                    if (d[c] < d[best]) best = c;
                node = c0 + best;
            }
            j->t->as[j->offsets[s] + r] = v->node_word[node];
        }
    }
}

static deja_status set_weights(trainer *t, deja_vocab *v, const deja_features *sets, size_t n_sets,
                               deja_weighting weighting)
{
    float *wt = deja__vocab_word_weight_w(v);
    if (weighting == DEJA_WEIGHT_TF || weighting == DEJA_WEIGHT_BINARY) {
        for (uint32_t w = 0; w < v->n_words; w++)
            wt[w] = 1.0f;
        return DEJA_OK;
    }
    size_t *offsets = deja__calloc(&t->a, n_sets, sizeof *offsets);
    uint32_t *n_img = deja__calloc(&t->a, v->n_words, sizeof *n_img);
    if (!offsets || !n_img) {
        deja__free(&t->a, offsets, n_sets * sizeof *offsets);
        deja__free(&t->a, n_img, (size_t)v->n_words * sizeof *n_img);
        return nomem("word counts");
    }
    for (size_t s = 1; s < n_sets; s++)
        offsets[s] = offsets[s - 1] + sets[s - 1].n;
    /* Descend in runs of about 1/32 of the descriptors, reporting between runs. */
    size_t s = 0;
    while (s < n_sets) {
        size_t e = s, rows = 0;
        while (e < n_sets && rows <= t->n_rows / 32)
            rows += sets[e++].n;
        idf_job j = {t, v, sets, offsets, s, e - s, 0};
        deja__pool_for(t->pool, (size_t)t->n_workers, idf_fn, &j);
        t->done += rows;
        report(t, t->done);
        s = e;
    }
    /* n_i counts each image once: last[w] is the last image that had word w. */
    uint32_t *last = t->md;
    for (uint32_t w = 0; w < v->n_words; w++)
        last[w] = UINT32_MAX;
    for (s = 0; s < n_sets; s++)
        for (size_t r = 0; r < sets[s].n; r++) {
            uint32_t w = t->as[offsets[s] + r];
            if (last[w] != (uint32_t)s) {
                last[w] = (uint32_t)s;
                n_img[w]++;
            }
        }
    for (uint32_t w = 0; w < v->n_words; w++)
        wt[w] = n_img[w] ? (float)log((double)n_sets / n_img[w]) : 0.0f;
    deja__free(&t->a, offsets, n_sets * sizeof *offsets);
    deja__free(&t->a, n_img, (size_t)v->n_words * sizeof *n_img);
    return DEJA_OK;
}

/* ---- checks and driver ---------------------------------------------------------------------- */

static deja_status check_params(const deja_vocab_params *p)
{
    if (p->k < 2 || p->k > DEJA_VOCAB_MAX_K)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: k = %u, expected 2..%u", p->k,
                        DEJA_VOCAB_MAX_K);
    if (p->depth < 1 || p->depth > DEJA_VOCAB_MAX_DEPTH)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: depth = %u, expected 1..%u", p->depth,
                        DEJA_VOCAB_MAX_DEPTH);
    /* Nodes of the full tree: 1 + k + ... + k^depth. */
    uint64_t level = 1, nodes = 1;
    for (uint32_t l = 0; l < p->depth && nodes <= DEJA_VOCAB_MAX_NODES; l++) {
        level *= p->k;
        nodes += level;
    }
    if (nodes > DEJA_VOCAB_MAX_NODES)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "vocab train: k = %u, depth = %u gives more than %u nodes", p->k, p->depth,
                        DEJA_VOCAB_MAX_NODES);
    if (p->weighting < DEJA_WEIGHT_TF_IDF || p->weighting > DEJA_WEIGHT_BINARY)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: unknown weighting %d",
                        (int)p->weighting);
    return DEJA_OK;
}

/* Same kind and size everywhere, descriptors present, floats finite; *n_rows gets the total.
 * Empty sets are images without features: they count for IDF and their kind is not looked at. */
static deja_status check_sets(const deja_features *sets, size_t n_sets, size_t *n_rows,
                              deja_desc_kind *kind, uint32_t *desc_bytes)
{
    if (!sets && n_sets > 0)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: sets is NULL, n_sets = %zu", n_sets);
    if (n_sets >= UINT32_MAX)
        return DEJA_ERR(NULL, DEJA_LIMIT, "vocab train: %zu sets, limit %u", n_sets,
                        UINT32_MAX - 1);
    size_t total = 0, ref = n_sets;
    for (size_t s = 0; s < n_sets; s++) {
        const deja_features *f = &sets[s];
        if (f->n == 0) continue;
        if (!f->descriptors)
            return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                            "vocab train: set %zu: %zu descriptors but descriptors is NULL", s,
                            f->n);
        if (ref == n_sets) {
            ref = s;
            if (f->kind != DEJA_DESC_BINARY && f->kind != DEJA_DESC_FLOAT32)
                return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                                "vocab train: set %zu: unknown descriptor kind %d", s,
                                (int)f->kind);
            if (f->desc_bytes == 0 || f->desc_bytes > MAX_DESC_BYTES ||
                (f->kind == DEJA_DESC_FLOAT32 && f->desc_bytes % 4))
                return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                                "vocab train: set %zu: desc_bytes = %u, expected 1..%u%s", s,
                                f->desc_bytes, MAX_DESC_BYTES,
                                f->kind == DEJA_DESC_FLOAT32 ? " and a multiple of 4" : "");
        } else if (f->kind != sets[ref].kind || f->desc_bytes != sets[ref].desc_bytes) {
            return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                            "vocab train: set %zu has kind %d with %u-byte descriptors, set %zu "
                            "kind %d with %u-byte ones",
                            s, (int)f->kind, f->desc_bytes, ref, (int)sets[ref].kind,
                            sets[ref].desc_bytes);
        }
        if (!deja__add_ok(total, f->n, &total) || total > UINT32_MAX)
            return DEJA_ERR(NULL, DEJA_LIMIT, "vocab train: more than %u descriptors", UINT32_MAX);
        if (f->kind != DEJA_DESC_FLOAT32) continue;
        size_t dim = f->desc_bytes / 4;
        const uint8_t *p = f->descriptors;
        for (size_t i = 0; i < f->n * dim; i++) {
            float x;
            memcpy(&x, p + i * 4, 4);
            if (!isfinite(x) || fabs(x) > MAX_ABS_FLOAT)
                return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                                "vocab train: set %zu descriptor %zu component %zu is %g (finite "
                                "values up to %g only)",
                                s, i / dim, i % dim, (double)x, MAX_ABS_FLOAT);
        }
    }
    if (total == 0)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: no descriptors in %zu sets", n_sets);
    *n_rows = total;
    *kind = sets[ref].kind;
    *desc_bytes = sets[ref].desc_bytes;
    return DEJA_OK;
}

static void release(trainer *t)
{
    const deja_allocator *a = &t->a;
    deja__free(a, t->data, t->n_rows * t->desc_bytes);
    deja__free(a, t->as, t->n_rows * sizeof *t->as);
    deja__free(a, t->md, t->n_rows * sizeof(float));
    deja__free(a, t->wscratch, (size_t)t->n_workers * t->wstride);
    deja__free(a, t->slots, t->batch_nodes * t->slot_stride);
    deja__free(a, t->child_begin, t->cb_cap * 4);
    deja__free(a, t->node_word, t->nw_cap * 4);
    deja__free(a, t->node_desc, t->nd_cap * t->desc_bytes);
    deja__free(a, t->cur, t->cur_cap * sizeof *t->cur);
    deja__free(a, t->next, t->next_cap * sizeof *t->next);
    deja__pool_destroy(t->pool);
}

/* Everything that needs memory before the build, from the calling thread (workers never
 * allocate). */
static deja_status setup(trainer *t, const deja_options *o, const deja_features *sets,
                         size_t n_sets)
{
    size_t data_bytes;
    if (!deja__mul_ok(t->n_rows, t->desc_bytes, &data_bytes))
        return DEJA_ERR(NULL, DEJA_LIMIT, "vocab train: descriptor data overflows");
    if (!(t->data = deja__alloc(&t->a, data_bytes)) ||
        !(t->as = deja__alloc(&t->a, t->n_rows * sizeof *t->as)) ||
        !(t->md = deja__alloc(&t->a, t->n_rows * sizeof(float))))
        return nomem("descriptor rows");
    size_t at = 0;
    for (size_t s = 0; s < n_sets; s++) {
        if (sets[s].n == 0) continue; /* descriptors may be NULL */
        memcpy(t->data + at, sets[s].descriptors, sets[s].n * t->desc_bytes);
        at += sets[s].n * t->desc_bytes;
    }
    int threads = o->n_threads > MAX_WORKERS ? MAX_WORKERS : o->n_threads;
    deja_status st = deja__pool_create(&t->a, threads, &t->pool);
    if (st != DEJA_OK) return st;
    t->n_workers = deja__pool_threads(t->pool);
    size_t cols = t->n_cols < t->ops->max_cols ? t->n_cols : t->ops->max_cols;
    t->acc_off = 0;
    t->swap_off = align64((size_t)t->k * cols * t->ops->acc_col_bytes);
    t->wstride = t->swap_off + align64(t->desc_bytes);
    t->wscratch = deja__alloc(&t->a, (size_t)t->n_workers * t->wstride);
    if (!t->wscratch) return nomem("worker scratch");
    t->slot_cents = align64(((size_t)t->k + 1) * 4);
    t->slot_stride = t->slot_cents + align64((size_t)t->k * t->desc_bytes);
    t->batch_nodes = BATCH_BYTES / t->slot_stride;
    if (t->batch_nodes == 0) t->batch_nodes = 1;
    t->slots = deja__alloc(&t->a, t->batch_nodes * t->slot_stride);
    if (!t->slots) return nomem("node results");
    return DEJA_OK;
}

deja_status deja_vocab_train(const deja_options *o_in, const deja_vocab_params *p_in,
                             const deja_features *sets, size_t n_sets, deja_vocab **out)
{
    deja_options o = deja__options_resolve(o_in);
    deja_vocab_params p = p_in ? *p_in : deja_vocab_params_default();
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "vocab train: out is NULL");
    deja_status st = check_params(&p);
    if (st != DEJA_OK) return st;
    trainer t;
    memset(&t, 0, sizeof t);
    deja_desc_kind kind = DEJA_DESC_BINARY;
    st = check_sets(sets, n_sets, &t.n_rows, &kind, &t.desc_bytes);
    if (st != DEJA_OK) return st;
    st = deja__kernels_get(o.simd, &t.kern);
    if (st != DEJA_OK) return st;
    t.a = deja__allocator(&o);
    t.ops = kind == DEJA_DESC_BINARY ? &binary_ops : &float_ops;
    t.n_cols = (t.desc_bytes + t.ops->col_bytes - 1) / t.ops->col_bytes;
    t.k = p.k;
    t.depth = p.depth;
    t.max_iter = p.max_iterations;
    t.seed = p.seed;
    t.progress = p.progress;
    t.progress_user = p.progress_user;
    /* Work: each row once per level, plus the descent that counts images per word. */
    t.total = (uint64_t)t.n_rows * (p.depth + 1);
    t.next_report = 0;

    deja_vocab *v = NULL;
    st = setup(&t, &o, sets, n_sets);
    if (st == DEJA_OK) st = build_tree(&t);
    if (st == DEJA_OK) {
        /* Rows, level lists and node results are done with: free them before the vocabulary
         * takes its memory, which lowers the peak. */
        deja__free(&t.a, t.data, t.n_rows * t.desc_bytes);
        deja__free(&t.a, t.cur, t.cur_cap * sizeof *t.cur);
        deja__free(&t.a, t.next, t.next_cap * sizeof *t.next);
        deja__free(&t.a, t.slots, t.batch_nodes * t.slot_stride);
        t.data = t.slots = NULL;
        t.cur = t.next = NULL;
        st = deja__vocab_alloc(&t.a, kind, t.desc_bytes, t.n_nodes, t.n_words, &v);
    }
    if (st == DEJA_OK) {
        memcpy(deja__vocab_child_begin_w(v), t.child_begin, ((size_t)t.n_nodes + 1) * 4);
        memcpy(deja__vocab_node_word_w(v), t.node_word, (size_t)t.n_nodes * 4);
        memcpy(deja__vocab_node_desc_w(v), t.node_desc, (size_t)t.n_nodes * t.desc_bytes);
        v->weighting = p.weighting;
        st = set_weights(&t, v, sets, n_sets, p.weighting);
    }
    if (st == DEJA_OK) st = deja__vocab_validate(v, "trained vocabulary", NULL);
    if (st == DEJA_OK) report(&t, t.total);
    release(&t);
    if (st != DEJA_OK) {
        deja_vocab_destroy(v);
        return st;
    }
    *out = v;
    return DEJA_OK;
}
