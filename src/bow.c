/* bow.c - bag-of-words transform over a vocabulary tree, and DBoW2's L1 score.
 *
 * Each descriptor descends the tree from the root (Nister & Stewenius 2006, "Scalable
 * recognition with a vocabulary tree"): at every level the query is compared with all children
 * of the current node, which lie contiguously in node_desc (vocab.h), with one 1 x k kernel call
 * (Hamming for binary, squared L2 for float descriptors), and the nearest child is taken; ties go
 * to the first child, as in DBoW2 (Galvez-Lopez & Tardos 2012, TemplatedVocabulary::transform).
 * The node passed at direct_level is the feature's direct-index node (the leaf if the leaf is
 * shallower). Features descend 16 at a time, level by level, with the next level's data
 * prefetched for all of them first, so that the cache misses of deep levels overlap.
 *
 * Weights follow DBoW2: TF_IDF and TF add the word's stored weight (idf; 1 for TF) once per
 * occurrence, IDF and BINARY once per word; words whose weight is 0 (stop words) are left out of
 * both the vector and the direct index, and the vector is L1-normalised.
 *
 * Grouping features by word and by node needs sorted (word, feature) pairs. Keys word<<32 | i are
 * written in feature order and sorted by a stable LSD radix sort on the upper half only (8-bit
 * digits, just as many passes as the largest word needs), so features stay ascending within a
 * word without sorting the lower half. All buffers belong to the handle and grow with
 * deja__reserve; once the largest frame has been seen a transform allocates nothing. */
#include "simd.h"
#include "vocab.h"

#include <math.h>
#include <string.h>

struct deja_bow {
    deja_allocator alloc;
    const deja_vocab *vocab;
    deja__kernels kern;
    char err[DEJA_ERROR_BYTES];
    uint32_t dist_u[DEJA_VOCAB_MAX_K]; /* distances to the children of one node */
    float dist_f[DEJA_VOCAB_MAX_K];
    /* per feature */
    uint32_t *feature_words, *feature_nodes;
    size_t feature_words_cap, feature_nodes_cap;
    uint64_t *keys, *keys_tmp;
    size_t keys_cap, keys_tmp_cap;
    /* results */
    uint32_t *words;
    float *weights;
    size_t words_cap, weights_cap;
    uint32_t *nodes, *offsets, *features;
    size_t nodes_cap, offsets_cap, features_cap;
};

deja_status deja_bow_create(const deja_options *o, const deja_vocab *v, deja_bow **out)
{
    if (!v || !out)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "bow: %s is NULL", v ? "out" : "vocabulary");
    if (v->kind != DEJA_DESC_BINARY && v->kind != DEJA_DESC_FLOAT32)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "bow: vocabulary descriptor kind %d is unknown",
                        (int)v->kind);
    if (v->desc_bytes == 0 || (v->kind == DEJA_DESC_FLOAT32 && v->desc_bytes % 4 != 0))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "bow: vocabulary descriptors of %u bytes do not "
                        "fit kind %s",
                        v->desc_bytes, v->kind == DEJA_DESC_FLOAT32 ? "float32" : "binary");
    if ((int)v->weighting < (int)DEJA_WEIGHT_TF_IDF || (int)v->weighting > (int)DEJA_WEIGHT_BINARY)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "bow: vocabulary weighting %d is unknown",
                        (int)v->weighting);
    if (v->n_words == 0 || v->n_nodes < 2)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "bow: vocabulary has no words (%u nodes)",
                        v->n_nodes);
    deja_options opt = deja__options_resolve(o);
    deja__kernels k;
    deja_status st = deja__kernels_get(opt.simd, &k);
    if (st != DEJA_OK) return st; /* the message is already in deja_last_error() */
    deja_allocator a = deja__allocator(&opt);
    deja_bow *b = deja__calloc(&a, 1, sizeof *b);
    if (!b) return DEJA_ERR(NULL, DEJA_NOMEM, "bow: out of memory for the handle");
    b->alloc = a;
    b->vocab = v;
    b->kern = k;
    *out = b;
    return DEJA_OK;
}

void deja_bow_destroy(deja_bow *b)
{
    if (!b) return;
    deja_allocator a = b->alloc;
    deja__free(&a, b->feature_words, b->feature_words_cap * sizeof *b->feature_words);
    deja__free(&a, b->feature_nodes, b->feature_nodes_cap * sizeof *b->feature_nodes);
    deja__free(&a, b->keys, b->keys_cap * sizeof *b->keys);
    deja__free(&a, b->keys_tmp, b->keys_tmp_cap * sizeof *b->keys_tmp);
    deja__free(&a, b->words, b->words_cap * sizeof *b->words);
    deja__free(&a, b->weights, b->weights_cap * sizeof *b->weights);
    deja__free(&a, b->nodes, b->nodes_cap * sizeof *b->nodes);
    deja__free(&a, b->offsets, b->offsets_cap * sizeof *b->offsets);
    deja__free(&a, b->features, b->features_cap * sizeof *b->features);
    deja__free(&a, b, sizeof *b);
}

const char *deja_bow_error(const deja_bow *b)
{
    return b ? b->err : "";
}

/* Grow every per-frame buffer to n features. All or nothing is not needed: a buffer that grew
 * stays grown, and a failed call publishes no result. */
static bool reserve_all(deja_bow *b, size_t n)
{
    const deja_allocator *a = &b->alloc;
    return deja__reserve(a, (void **)&b->feature_words, &b->feature_words_cap, n, 4) &&
           deja__reserve(a, (void **)&b->feature_nodes, &b->feature_nodes_cap, n, 4) &&
           deja__reserve(a, (void **)&b->keys, &b->keys_cap, n, 8) &&
           deja__reserve(a, (void **)&b->keys_tmp, &b->keys_tmp_cap, n, 8) &&
           deja__reserve(a, (void **)&b->words, &b->words_cap, n, 4) &&
           deja__reserve(a, (void **)&b->weights, &b->weights_cap, n, 4) &&
           deja__reserve(a, (void **)&b->nodes, &b->nodes_cap, n, 4) &&
           deja__reserve(a, (void **)&b->offsets, &b->offsets_cap, n + 1, 4) &&
           deja__reserve(a, (void **)&b->features, &b->features_cap, n, 4);
}

/* Index of the first smallest of d[0..n), n >= 1 (DBoW2 keeps the first on ties). */
static uint32_t argmin_u32(const uint32_t *d, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (d[i] < d[best]) best = i;
    return best;
}

static uint32_t argmin_f32(const float *d, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (d[i] < d[best]) best = i;
    return best;
}

/* Distances from q to the k contiguous children starting at node first; index of the nearest. */
static uint32_t nearest_child(deja_bow *b, const uint8_t *q, uint32_t first, uint32_t k)
{
    const deja_vocab *v = b->vocab;
    const uint8_t *kids = v->node_desc + (size_t)first * v->desc_bytes;
    if (v->kind == DEJA_DESC_BINARY) {
        b->kern.hamming_1xn(q, kids, v->desc_bytes, k, b->dist_u);
        return argmin_u32(b->dist_u, k);
    }
    b->kern.l2sq_1xn((const float *)(const void *)q, (const float *)(const void *)kids,
                     v->desc_bytes / 4, k, b->dist_f);
    return argmin_f32(b->dist_f, k);
}

static void prefetch_range(const uint8_t *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + bytes;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

/* Walk features [i0, i0 + g) from the root to their leaves, writing each leaf and the node at
 * direct_level (the leaf if shallower). The features go down level by level together: below
 * the top levels every step is a cache miss on child_begin and on the children's centroids, and
 * one feature's walk is a chain of dependent misses. Prefetching the next level's data for all
 * g features before computing any lets the misses overlap (measured in docs/simd.md); the
 * choices, and so the results, are those of one-at-a-time descent. The depth bound matters only
 * for a corrupt tree: a validated one reaches its leaves within v->depth levels. */
#define GROUP 16
static void descend_group(deja_bow *b, const uint8_t *desc, size_t i0, size_t g,
                          uint32_t direct_level, uint32_t *leaf, uint32_t *dnode)
{
    const deja_vocab *v = b->vocab;
    const uint32_t *cb = v->child_begin;
    size_t bytes = v->desc_bytes;
    uint32_t node[GROUP];
    for (size_t j = 0; j < g; j++)
        node[j] = 0, dnode[j] = 0;
    for (uint32_t level = 0; level < v->depth; level++) {
        for (size_t j = 0; j < g; j++) {
            uint32_t n = node[j];
            prefetch_range(v->node_desc + (size_t)cb[n] * bytes, (cb[n + 1] - cb[n]) * bytes);
        }
        bool moved = false;
        for (size_t j = 0; j < g; j++) {
            uint32_t n = node[j], first = cb[n], k = cb[n + 1] - first;
            if (k == 0) continue; /* at a leaf already */
            n = first + nearest_child(b, desc + (i0 + j) * bytes, first, k);
            node[j] = n;
            if (level + 1 <= direct_level) dnode[j] = n;
            __builtin_prefetch(&cb[n]);
            moved = true;
        }
        if (!moved) break;
    }
    memcpy(leaf, node, g * sizeof *leaf);
}

/* Stable LSD radix sort of keys[0..n) by their upper 32 bits, whose largest value is max_hi.
 * Returns the buffer (keys or tmp) that holds the result. */
static uint64_t *sort_by_hi(uint64_t *keys, uint64_t *tmp, size_t n, uint32_t max_hi)
{
    for (unsigned shift = 32; shift < 64 && (max_hi >> (shift - 32)) != 0; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(keys[i] >> shift) & 255]++;
        /* All keys share this digit: the pass would copy them in place. */
        if (count[(keys[0] >> shift) & 255] == n) continue;
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(keys[i] >> shift) & 255]++] = keys[i];
        uint64_t *t = keys;
        keys = tmp;
        tmp = t;
    }
    return keys;
}

/* Reject NaN and infinities: they make every distance NaN/inf and the descent meaningless. */
static deja_status check_floats(deja_bow *b, const uint8_t *desc, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < dim; j++) {
            float x;
            memcpy(&x, desc + (i * dim + j) * 4, 4);
            if (!isfinite(x))
                return DEJA_ERR(b->err, DEJA_INVALID_ARG,
                                "bow: feature %zu: component %zu is "
                                "%s",
                                i, j, isnan(x) ? "NaN" : "infinite");
        }
    }
    return DEJA_OK;
}

deja_status deja_bow_transform(deja_bow *b, const deja_features *f, uint32_t direct_level,
                               deja_bow_result *out)
{
    if (!b) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "bow: handle is NULL");
    if (!f || !out)
        return DEJA_ERR(b->err, DEJA_INVALID_ARG, "bow: %s is NULL", f ? "out" : "features");
    const deja_vocab *v = b->vocab;
    size_t n = f->n;
    if (f->kind != v->kind || f->desc_bytes != v->desc_bytes)
        return DEJA_ERR(b->err, DEJA_INVALID_ARG,
                        "bow: features are %s/%u bytes, the "
                        "vocabulary is %s/%u bytes",
                        f->kind == DEJA_DESC_BINARY    ? "binary"
                        : f->kind == DEJA_DESC_FLOAT32 ? "float32"
                                                       : "unknown",
                        f->desc_bytes, v->kind == DEJA_DESC_BINARY ? "binary" : "float32",
                        v->desc_bytes);
    if (n > 0 && !f->descriptors)
        return DEJA_ERR(b->err, DEJA_INVALID_ARG, "bow: %zu features but descriptors is NULL", n);
    size_t total;
    if (n >= UINT32_MAX || !deja__mul_ok(n, f->desc_bytes, &total))
        return DEJA_ERR(b->err, DEJA_LIMIT, "bow: %zu features, limit %u", n, UINT32_MAX - 1);
    const uint8_t *desc = f->descriptors;
    if (v->kind == DEJA_DESC_FLOAT32) {
        deja_status st = check_floats(b, desc, n, v->desc_bytes / 4);
        if (st != DEJA_OK) return st;
    }
    if (!reserve_all(b, n))
        return DEJA_ERR(b->err, DEJA_NOMEM, "bow: out of memory for %zu features", n);

    /* Descend; keep the non-stopped features as (word, feature) keys in feature order. */
    const float *ww = v->word_weight;
    size_t m = 0;
    uint32_t max_word = 0, max_node = 0;
    for (size_t i0 = 0; i0 < n; i0 += GROUP) {
        size_t g = n - i0 < GROUP ? n - i0 : GROUP;
        uint32_t leaves[GROUP];
        descend_group(b, desc, i0, g, direct_level, leaves, b->feature_nodes + i0);
        for (size_t j = 0; j < g; j++) {
            size_t i = i0 + j;
            uint32_t w = v->node_word[leaves[j]];
            if (w >= v->n_words)
                return DEJA_ERR(b->err, DEJA_FORMAT,
                                "bow: feature %zu ends at node %u, which "
                                "has no word (corrupt vocabulary)",
                                i, leaves[j]);
            b->feature_words[i] = w;
            if (!(ww[w] > 0)) continue; /* stop word (DBoW2: "not stopped" test) */
            b->keys[m++] = (uint64_t)w << 32 | i;
            if (w > max_word) max_word = w;
            if (b->feature_nodes[i] > max_node) max_node = b->feature_nodes[i];
        }
    }

    /* Words ascending; raw weight per word, then L1 normalisation (in double, as DBoW2). */
    uint64_t *sorted = sort_by_hi(b->keys, b->keys_tmp, m, max_word);
    bool per_occurrence = v->weighting == DEJA_WEIGHT_TF_IDF || v->weighting == DEJA_WEIGHT_TF;
    size_t n_words = 0;
    double sum = 0;
    for (size_t j = 0; j < m;) {
        uint32_t w = (uint32_t)(sorted[j] >> 32);
        size_t e = j + 1;
        while (e < m && (uint32_t)(sorted[e] >> 32) == w)
            e++;
        double raw = per_occurrence ? (double)(e - j) * ww[w] : (double)ww[w];
        b->words[n_words] = w;
        b->weights[n_words++] = (float)raw;
        sum += raw;
        j = e;
    }
    for (size_t t = 0; t < n_words; t++)
        b->weights[t] = (float)(b->weights[t] / sum);

    /* Direct index: the same features keyed by their node, again in feature order. */
    size_t md = 0;
    for (size_t i = 0; i < n; i++)
        if (ww[b->feature_words[i]] > 0) b->keys[md++] = (uint64_t)b->feature_nodes[i] << 32 | i;
    sorted = sort_by_hi(b->keys, b->keys_tmp, md, max_node);
    size_t n_nodes = 0;
    for (size_t j = 0; j < md; j++) {
        uint32_t node = (uint32_t)(sorted[j] >> 32);
        if (j == 0 || node != b->nodes[n_nodes - 1]) {
            b->nodes[n_nodes] = node;
            b->offsets[n_nodes] = (uint32_t)j;
            n_nodes++;
        }
        b->features[j] = (uint32_t)sorted[j];
    }
    b->offsets[n_nodes] = (uint32_t)md;

    out->bow.n = n_words;
    out->bow.words = b->words;
    out->bow.weights = b->weights;
    out->direct.n_nodes = n_nodes;
    out->direct.nodes = b->nodes;
    out->direct.offsets = b->offsets;
    out->direct.features = b->features;
    out->feature_words = b->feature_words;
    return DEJA_OK;
}

float deja_bow_score_l1(const deja_bow_vector *a, const deja_bow_vector *b)
{
    if (!a || !b || a->n == 0 || b->n == 0) return 0.0f;
    /* Over common words only: |a - b|_1 = 2 + sum(|a_i - b_i| - |a_i| - |b_i|) for unit vectors
     * (Nister & Stewenius 2006), so the score is -sum(...) / 2. */
    double s = 0;
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        uint32_t wa = a->words[i], wb = b->words[j];
        if (wa < wb) {
            i++;
        } else if (wb < wa) {
            j++;
        } else {
            double x = a->weights[i], y = b->weights[j];
            s += fabs(x - y) - fabs(x) - fabs(y);
            i++, j++;
        }
    }
    double score = -0.5 * s;
    if (score < 0) score = 0; /* rounding of weights that sum to 1 +- 1 ulp */
    if (score > 1) score = 1;
    return (float)score;
}
