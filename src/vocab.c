/* vocab.c - vocabulary object: allocation, topology validation, info, destroy.
 * Training is in vocab_train.c, the binary file in vocab_file.c, DBoW2 text in vocab_dbow2.c. */
#include "vocab.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

/* Arrays are placed 64-byte aligned inside one block. */
static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

typedef struct {
    size_t child_begin, node_word, word_weight, node_desc, total;
} block_layout;

static bool layout(uint32_t n_nodes, uint32_t n_words, uint32_t desc_bytes, block_layout *l)
{
    size_t desc_total;
    if (!deja__mul_ok(n_nodes, desc_bytes, &desc_total)) return false;
    l->child_begin = 0;
    l->node_word = align64(((size_t)n_nodes + 1) * 4);
    l->word_weight = l->node_word + align64((size_t)n_nodes * 4);
    l->node_desc = l->word_weight + align64((size_t)n_words * 4);
    return deja__add_ok(l->node_desc, align64(desc_total), &l->total);
}

deja_status deja__vocab_alloc(const deja_allocator *a, deja_desc_kind kind, uint32_t desc_bytes,
                              uint32_t n_nodes, uint32_t n_words, deja_vocab **out)
{
    if (n_nodes == 0 || n_nodes > DEJA_VOCAB_MAX_NODES || n_words > n_nodes || desc_bytes == 0)
        return DEJA_ERR(NULL, DEJA_LIMIT, "vocabulary: %u nodes, %u words, %u-byte descriptors "
                        "out of range (nodes 1..%u)", n_nodes, n_words, desc_bytes,
                        DEJA_VOCAB_MAX_NODES);
    block_layout l;
    if (!layout(n_nodes, n_words, desc_bytes, &l))
        return DEJA_ERR(NULL, DEJA_LIMIT, "vocabulary: size overflows");
    deja_vocab *v = deja__calloc(a, 1, sizeof *v);
    uint8_t *block = v ? deja__calloc(a, 1, l.total + 64) : NULL;
    if (!block) {
        deja__free(a, v, sizeof *v);
        return DEJA_ERR(NULL, DEJA_NOMEM, "vocabulary: out of memory for %zu bytes", l.total);
    }
    uint8_t *base = (uint8_t *)align64((size_t)block);
    v->alloc = *a;
    v->kind = kind;
    v->desc_bytes = desc_bytes;
    v->n_nodes = n_nodes;
    v->n_words = n_words;
    v->child_begin = (const uint32_t *)(base + l.child_begin);
    v->node_word = (const uint32_t *)(base + l.node_word);
    v->word_weight = (const float *)(base + l.word_weight);
    v->node_desc = base + l.node_desc;
    v->owned = block;
    v->owned_bytes = l.total + 64;
    *out = v;
    return DEJA_OK;
}

uint32_t *deja__vocab_child_begin_w(deja_vocab *v)
{
    return v->owned ? (uint32_t *)v->child_begin : NULL;
}
uint32_t *deja__vocab_node_word_w(deja_vocab *v)
{
    return v->owned ? (uint32_t *)v->node_word : NULL;
}
float *deja__vocab_word_weight_w(deja_vocab *v)
{
    return v->owned ? (float *)v->word_weight : NULL;
}
uint8_t *deja__vocab_node_desc_w(deja_vocab *v)
{
    return v->owned ? (uint8_t *)v->node_desc : NULL;
}

/* Breadth-first order means each level is a contiguous node range, and the children of a level
 * [a, b) are exactly [child_begin[a], child_begin[b]). Walking the levels checks contiguity and
 * depth without any scratch memory. */
deja_status deja__vocab_validate(deja_vocab *v, const char *what, char *err)
{
    const uint32_t *cb = v->child_begin;
    uint32_t n = v->n_nodes;
    if (n == 0 || cb[0] != 1 || cb[n] != n)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: root children start at %u and end at %u, "
                        "expected 1 and %u", what, cb[0], cb[n], n);
    uint32_t max_k = 0, leaves = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (cb[i + 1] < cb[i] || cb[i] <= i)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: node %u: children [%u, %u) are not after it "
                            "in breadth-first order", what, i, cb[i], cb[i + 1]);
        uint32_t fan = cb[i + 1] - cb[i];
        if (fan > DEJA_VOCAB_MAX_K)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: node %u has %u children, limit %u", what, i,
                            fan, DEJA_VOCAB_MAX_K);
        if (fan > max_k) max_k = fan;
        uint32_t w = v->node_word[i];
        if (fan == 0 && i > 0) {
            if (w >= v->n_words)
                return DEJA_ERR(err, DEJA_FORMAT, "%s: leaf %u has word %u, only %u words",
                                what, i, w, v->n_words);
            leaves++;
        } else if (w != UINT32_MAX) {
            return DEJA_ERR(err, DEJA_FORMAT, "%s: inner node %u carries word %u", what, i, w);
        }
    }
    uint32_t a = 0, b = 1, depth = 0;
    while (a < b) {
        uint32_t na = cb[a], nb = cb[b];
        if (na != b)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: level %u children start at node %u, "
                            "expected %u (not breadth-first)", what, depth + 1, na, b);
        if (na == nb) break;
        if (++depth > DEJA_VOCAB_MAX_DEPTH)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: tree deeper than %u levels", what,
                            DEJA_VOCAB_MAX_DEPTH);
        a = na;
        b = nb;
    }
    if (b != n)
        return DEJA_ERR(err, DEJA_FORMAT, "%s: levels cover %u of %u nodes", what, b, n);
    for (uint32_t w = 0; w < v->n_words; w++) {
        float x = v->word_weight[w];
        if (!isfinite(x) || x < 0)
            return DEJA_ERR(err, DEJA_FORMAT, "%s: word %u weight %g is not a finite value >= 0",
                            what, w, (double)x);
    }
    (void)leaves;
    v->k = max_k;
    v->depth = depth;
    return DEJA_OK;
}

deja_vocab_params deja_vocab_params_default(void)
{
    deja_vocab_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    p.depth = 6;
    p.max_iterations = 10;
    p.seed = 1;
    p.weighting = DEJA_WEIGHT_TF_IDF;
    return p;
}

void deja_vocab_get_info(const deja_vocab *v, deja_vocab_info *out)
{
    memset(out, 0, sizeof *out);
    out->kind = v->kind;
    out->desc_bytes = v->desc_bytes;
    out->k = v->k;
    out->depth = v->depth;
    out->n_nodes = v->n_nodes;
    out->n_words = v->n_words;
    out->weighting = v->weighting;
    out->payload_bytes = v->payload_bytes;
    out->checksum = v->checksum;
    out->mapped = v->map != NULL;
}

void deja_vocab_destroy(deja_vocab *v)
{
    if (!v) return;
    deja_allocator a = v->alloc;
    if (v->map) munmap(v->map, v->map_bytes);
    deja__free(&a, v->owned, v->owned_bytes);
    deja__free(&a, v, sizeof *v);
}
