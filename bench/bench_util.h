/* bench_util.h - shared by the C benchmarks: a full random vocabulary tree and sorting helpers. */
#ifndef DEJA_BENCH_UTIL_H
#define DEJA_BENCH_UTIL_H

#include "vocab.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A complete k-ary tree of the given depth (k=10, depth 6: 1,111,111 nodes, 10^6 words) with
 * random 32-byte centroids and idf-like weights, built directly in the vocabulary layout. */
static deja_vocab *full_tree(uint32_t k, uint32_t depth)
{
    uint32_t n = 1, level = 1, words;
    for (uint32_t d = 0; d < depth; d++) {
        level *= k;
        n += level;
    }
    words = level;
    deja_allocator a = deja__allocator(NULL);
    deja_vocab *v;
    if (deja__vocab_alloc(&a, DEJA_DESC_BINARY, 32, n, words, &v) != DEJA_OK) return NULL;
    uint32_t *cb = deja__vocab_child_begin_w(v), *nw = deja__vocab_node_word_w(v);
    float *ww = deja__vocab_word_weight_w(v);
    uint8_t *desc = deja__vocab_node_desc_w(v);
    uint32_t inner = n - words, next = 1;
    for (uint32_t i = 0; i < n; i++) {
        cb[i] = next;
        if (i < inner) next += k;
        nw[i] = i < inner ? UINT32_MAX : i - inner;
    }
    cb[n] = next;
    uint64_t s = 12345;
    for (uint32_t w = 0; w < words; w++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ww[w] = (float)(s >> 40) / (float)(1 << 20); /* idf-like values in [0, 16) */
    }
    for (size_t i = 32; i < (size_t)n * 32; i += 8) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(desc + i, &s, 8);
    }
    v->weighting = DEJA_WEIGHT_TF_IDF;
    if (deja__vocab_validate(v, "bench", NULL) != DEJA_OK) {
        deja_vocab_destroy(v);
        return NULL;
    }
    return v;
}

#endif
