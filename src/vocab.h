/* vocab.h - the in-memory vocabulary tree shared by training, the file format, DBoW2 import and
 * the BoW transform.
 *
 * Layout: nodes in breadth-first order; the children of node i are the contiguous nodes
 * child_begin[i] .. child_begin[i+1]-1, so the k centroids a descent compares are contiguous in
 * node_desc (cache- and SIMD-friendly). Node 0 is the root (its descriptor is unused). A node is
 * a leaf iff child_begin[i] == child_begin[i+1]; its word is node_word[i] (UINT32_MAX for inner
 * nodes). The arrays point either into an mmap'd file or into owned memory. */
#ifndef DEJA_VOCAB_H
#define DEJA_VOCAB_H

#include "base.h"

#define DEJA_VOCAB_MAX_DEPTH 16
#define DEJA_VOCAB_MAX_K     256
#define DEJA_VOCAB_MAX_NODES (1u << 26) /* 67M nodes */

struct deja_vocab {
    deja_allocator alloc;
    deja_desc_kind kind;
    uint32_t desc_bytes;
    uint32_t k, depth; /* depth: longest root-to-leaf path in edges (<= DEJA_VOCAB_MAX_DEPTH) */
    uint32_t n_nodes, n_words;
    deja_weighting weighting;
    const uint32_t *child_begin; /* n_nodes + 1 */
    const uint32_t *node_word;   /* n_nodes */
    const float *word_weight;    /* n_words: idf (1 for TF / BINARY weighting) */
    const uint8_t *node_desc;    /* n_nodes * desc_bytes */
    /* ownership */
    void *owned;          /* one block holding the arrays when not mapped */
    size_t owned_bytes;   /* its size */
    void *map;            /* mmap base when mapped */
    size_t map_bytes;     /* mapping length */
    uint64_t payload_bytes, checksum;
};

/* A vocabulary with owned, writable arrays for n_nodes / n_words (contents zeroed, child_begin
 * and node_word to be filled by the caller). Training and the DBoW2 importer build with this. */
deja_status deja__vocab_alloc(const deja_allocator *a, deja_desc_kind kind, uint32_t desc_bytes,
                              uint32_t n_nodes, uint32_t n_words, deja_vocab **out);
/* Writable views of an owned vocabulary's arrays (NULL for a mapped one). */
uint32_t *deja__vocab_child_begin_w(deja_vocab *v);
uint32_t *deja__vocab_node_word_w(deja_vocab *v);
float *deja__vocab_word_weight_w(deja_vocab *v);
uint8_t *deja__vocab_node_desc_w(deja_vocab *v);

/* Check the topology (BFS contiguity, bounds, depth <= DEJA_VOCAB_MAX_DEPTH, leaf <-> word,
 * finite non-negative weights) and set v->depth and v->k (largest fan-out). what names the
 * source in messages (a path); err gets the message. O(n_nodes) over the small arrays only. */
deja_status deja__vocab_validate(deja_vocab *v, const char *what, char *err);

#endif
