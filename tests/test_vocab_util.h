/* test_vocab_util.h - vocabulary fixtures shared by several tests: a random breadth-first tree
 * built directly with deja__vocab_alloc (no training involved) and an exact comparison of two
 * vocabularies, for the file-format tests; a vocabulary trained on frames of a generated world,
 * for the pipeline and detector tests. */
#ifndef DEJA_TEST_VOCAB_UTIL_H
#define DEJA_TEST_VOCAB_UTIL_H

#include "deja.h"
#include "vocab.h"
#include "world.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The LCG behind the fixtures (Knuth's MMIX constants); the high half is the output. */
static inline uint64_t test_lcg_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* A breadth-first tree with fan-out 1..k per inner node (exactly k when full), leaves possible
 * at any level when !full, random descriptors; words are the leaves in BFS order. Word w weighs
 * weight(w, r) with r a fresh draw, or 1 when weight is NULL (no draw). Aborts on failure. */
static inline deja_vocab *test_make_vocab(uint32_t k, uint32_t depth, int full, deja_desc_kind kind,
                                          uint32_t desc_bytes, deja_weighting wt, uint64_t seed,
                                          float (*weight)(uint32_t w, uint64_t r))
{
    uint64_t s = seed;
    size_t cap = 1024, n = 1;
    uint32_t *fan = malloc(cap * 4), *lev = malloc(cap * 4);
    if (!fan || !lev) abort();
    lev[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t f = 0;
        if (lev[i] < depth && (full || i == 0 || test_lcg_next(&s) % 4 != 0))
            f = full ? k : 1 + (uint32_t)(test_lcg_next(&s) % k);
        fan[i] = f;
        if (n + f > cap) {
            while (n + f > cap)
                cap *= 2;
            fan = realloc(fan, cap * 4);
            lev = realloc(lev, cap * 4);
            if (!fan || !lev) abort();
        }
        for (uint32_t c = 0; c < f; c++)
            lev[n++] = lev[i] + 1;
    }
    uint32_t n_words = 0;
    for (size_t i = 1; i < n; i++)
        n_words += fan[i] == 0;
    deja_allocator a = deja__allocator(NULL);
    deja_vocab *v = NULL;
    if (deja__vocab_alloc(&a, kind, desc_bytes, (uint32_t)n, n_words, &v) != DEJA_OK) abort();
    uint32_t *cb = deja__vocab_child_begin_w(v), *nw = deja__vocab_node_word_w(v);
    float *ww = deja__vocab_word_weight_w(v);
    uint8_t *desc = deja__vocab_node_desc_w(v);
    uint32_t next = 1, word = 0;
    for (size_t i = 0; i < n; i++) {
        cb[i] = next;
        next += fan[i];
        nw[i] = (i > 0 && fan[i] == 0) ? word++ : UINT32_MAX;
    }
    cb[n] = next;
    for (uint32_t w = 0; w < n_words; w++)
        ww[w] = weight ? weight(w, test_lcg_next(&s)) : 1.0f;
    /* The root has no descriptor; float centroids are multiples of 1/64 in [-15.625, 15.625]. */
    for (size_t i = desc_bytes; i < n * desc_bytes; i++) {
        if (kind == DEJA_DESC_FLOAT32 && i % 4 == 0) {
            float x = (float)((int)(test_lcg_next(&s) % 2001) - 1000) / 64.0f;
            memcpy(desc + i, &x, 4);
            i += 3;
        } else if (kind == DEJA_DESC_BINARY) {
            desc[i] = (uint8_t)test_lcg_next(&s);
        }
    }
    v->weighting = wt;
    if (deja__vocab_validate(v, "make_vocab", NULL) != DEJA_OK) abort();
    free(fan);
    free(lev);
    return v;
}

/* Same header fields and byte-identical arrays. */
static inline int test_same_vocab(const deja_vocab *a, const deja_vocab *b)
{
    if (a->kind != b->kind || a->desc_bytes != b->desc_bytes || a->n_nodes != b->n_nodes ||
        a->n_words != b->n_words || a->weighting != b->weighting || a->k != b->k ||
        a->depth != b->depth)
        return 0;
    return !memcmp(a->child_begin, b->child_begin, ((size_t)a->n_nodes + 1) * 4) &&
           !memcmp(a->node_word, b->node_word, (size_t)a->n_nodes * 4) &&
           !memcmp(a->word_weight, b->word_weight, (size_t)a->n_words * 4) &&
           !memcmp(a->node_desc, b->node_desc, (size_t)a->n_nodes * a->desc_bytes);
}

/* A vocabulary (depth 5, other parameters default) trained on ORB features of n_images frames
 * spread evenly over a 3000-frame generated world of this seed. ORB and training use o (its
 * allocator and threads); the world itself uses malloc. NULL on any failure. */
static inline deja_vocab *test_world_vocab(const deja_options *o, uint64_t seed, int n_images)
{
    deja__world_params p = deja__world_params_default();
    p.seed = seed;
    p.n_frames = 3000;
    deja_allocator a = deja__allocator(NULL);
    deja__world *w = NULL;
    deja_orb *orb = NULL;
    if (deja__world_create(&a, &p, &w) != DEJA_OK) return NULL;
    if (deja_orb_create(o, &orb) != DEJA_OK) {
        deja__world_destroy(w);
        return NULL;
    }
    uint8_t *px = malloc((size_t)p.width * p.height);
    deja_features *sets = calloc((size_t)n_images, sizeof *sets);
    uint8_t **d = calloc((size_t)n_images, sizeof *d);
    int ok = px && sets && d;
    for (int k = 0; k < n_images && ok; k++) {
        deja_image im = {p.width, p.height, p.width, px};
        deja_features f;
        ok = deja__world_render(w, (uint32_t)(k * 3000 / n_images), px, p.width) == DEJA_OK &&
             deja_orb_detect(orb, &im, &f) == DEJA_OK;
        /* The ORB handle reuses its buffers: keep a copy of each frame's descriptors. */
        if (ok) ok = (d[k] = malloc(f.n * 32 + 1)) != NULL;
        if (ok) {
            memcpy(d[k], f.descriptors, f.n * 32);
            sets[k] = (deja_features){
                .n = f.n, .descriptors = d[k], .kind = DEJA_DESC_BINARY, .desc_bytes = 32};
        }
    }
    deja_vocab *v = NULL;
    deja_vocab_params vp = deja_vocab_params_default();
    vp.depth = 5;
    if (ok && deja_vocab_train(o, &vp, sets, (size_t)n_images, &v) != DEJA_OK) v = NULL;
    for (int k = 0; d && k < n_images; k++)
        free(d[k]);
    free(d);
    free(sets);
    free(px);
    deja_orb_destroy(orb);
    deja__world_destroy(w);
    return v;
}

#endif
