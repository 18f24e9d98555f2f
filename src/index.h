/* index.h - the inverted-index database of BoW vectors (internal; the loop-closure detector's
 * first stage). Frames are added in order and get ids 0, 1, 2, ...; a query scores the frames
 * older than a cut-off against a BoW vector through the inverted file, touching only the postings
 * of the query's words, and returns the best top_k. See src/index.c and docs/index.md.
 *
 * Postings are compact (4 B: a delta-coded frame id and a 16-bit float, relative error <= 2^-12)
 * for the L1, L2, chi-square and Bhattacharyya scorings, and 8 B (f32 value) for KL and DOT. The
 * frames' vectors are kept only when asked for (DEJA__INDEX_STORE_VECTORS, 8 B per word more).
 *
 * Threads: one thread at a time per index. Memory: all through the allocator given to create;
 * once reserved (deja__index_reserve), add allocates only when a new 1 MiB arena chunk is needed
 * and query never allocates. */
#ifndef DEJA_INDEX_H
#define DEJA_INDEX_H

#include "base.h"

#define DEJA__INDEX_MAX_WORDS       (1u << 26)        /* vocabulary size limit */
#define DEJA__INDEX_MAX_FRAMES      (UINT32_MAX - 1u) /* frame ids are < this */
#define DEJA__INDEX_MAX_FRAME_WORDS (1u << 17)        /* non-zero words of one frame */
#define DEJA__INDEX_CHUNK_BYTES     ((size_t)1 << 20) /* arena chunk */

/* Create flags. */
#define DEJA__INDEX_STORE_VECTORS 1u /* keep vectors for deja__index_frame (8 B/word) */

/* Compact postings hold values below this (a larger weight is INVALID_ARG for L1, chi-square and
 * Bhattacharyya, whose weights are <= 1 for L1-normalised vectors; L2's values are always <= 1). */
#define DEJA__INDEX_MAX_COMPACT 255.96875

/* DBoW2's scoring functions (Galvez-Lopez & Tardos 2012, ScoringObject / TemplatedDatabase).
 * All but DOT take L1-normalised vectors (deja_bow_vector's contract); L2 re-normalises both
 * sides by their L2 norm. Results come best first; the score reported is DBoW2's: */
typedef enum deja__index_scoring {
    DEJA__SCORE_L1 = 0,            /* 1 - 0.5 |q - d|_1, in [0, 1] (default) */
    DEJA__SCORE_L2 = 1,            /* 1 - sqrt(1 - q.d) on L2-normalised vectors, in [0, 1] */
    DEJA__SCORE_CHI_SQUARE = 2,    /* 2 sum q_i d_i / (q_i + d_i), in [0, 1] */
    DEJA__SCORE_KL = 3,            /* KL divergence q || d with log(eps) for missing words: LOWER is
                                      better (results still come best first) */
    DEJA__SCORE_BHATTACHARYYA = 4, /* sum sqrt(q_i d_i), in [0, 1] */
    DEJA__SCORE_DOT = 5            /* sum q_i d_i on the vectors as given */
} deja__index_scoring;

typedef struct deja__index deja__index;

typedef struct deja__index_result {
    uint32_t frame;
    float score;
} deja__index_result;

/* Counters for tests, tools and memory reports. */
typedef struct deja__index_stats {
    uint32_t n_frames;
    uint64_t n_postings;   /* postings stored (= non-zero words added) */
    uint64_t words_seen;   /* distinct words with at least one posting */
    uint64_t skip_slots;   /* compact lists: extra slots for frame gaps > 65535 */
    uint64_t block_bytes;  /* posting blocks carved from the arena */
    uint64_t vector_bytes; /* stored vectors carved from the arena (0 unless STORE_VECTORS) */
    uint64_t arena_bytes;  /* chunks obtained (postings, stored vectors, word-table pages) */
    uint64_t arena_used;   /* of which carved out */
    uint64_t frame_bytes;  /* per-frame arrays: scores, touched list, bitmap, vector refs */
    uint64_t table_bytes;  /* top level of the word table */
    uint64_t word_pages;   /* word-state pages made (128 words, 2 KiB each, in the arena) */
    uint64_t total_bytes;  /* everything the index holds from the allocator */
    uint64_t chunk_allocs; /* chunks obtained so far */
    uint64_t last_visited; /* postings read by the last query */
    uint64_t last_touched; /* distinct frames scored by the last query */
} deja__index_stats;

/* An empty index for a vocabulary of n_words (1 .. DEJA__INDEX_MAX_WORDS) words. flags: 0 or
 * DEJA__INDEX_STORE_VECTORS. Failure: INVALID_ARG (bad n_words, scoring, flags, NULL), NOMEM;
 * the message is in deja_last_error(). */
DEJA_NODISCARD deja_status deja__index_create(const deja_allocator *a, uint32_t n_words,
                                              deja__index_scoring scoring, uint32_t flags,
                                              deja__index **out);
void deja__index_destroy(deja__index *ix); /* NULL ok */

/* Pre-size for n_frames frames and n_postings non-zero words in total: the per-frame arrays, and
 * arena chunks for the postings (an estimate, per posting: 8 B compact, 16 B with f32 values,
 * 8 B more with stored vectors; and 16 B per frame). Word-table pages and many short posting
 * lists may still need a chunk later. */
DEJA_NODISCARD deja_status deja__index_reserve(deja__index *ix, uint32_t n_frames,
                                               uint64_t n_postings);

/* Append a frame. v: words strictly ascending, < n_words, weights finite and >= 0 (zero weights
 * are dropped; with compact postings a value must be < DEJA__INDEX_MAX_COMPACT). *frame gets the
 * new id. INVALID_ARG, LIMIT (too many frames / words in v / arena), NOMEM: the index is
 * unchanged (earlier frames stay queryable). */
DEJA_NODISCARD deja_status deja__index_add(deja__index *ix, const deja_bow_vector *v,
                                           uint32_t *frame);

/* Score the frames < max_frame_exclusive that share a word with q (UINT32_MAX: all) and write
 * the best min(top_k, their number) to results, best first; ties go to the lower frame id.
 * *n_results gets the count (0 on an empty index). Cost: the postings of q's words below the
 * cut-off plus the frames they touch times log(top_k), never the number of frames. Allocates
 * nothing. INVALID_ARG on NULL, a word >= n_words, unordered words, a weight < 0 or not finite. */
DEJA_NODISCARD deja_status deja__index_query(deja__index *ix, const deja_bow_vector *q,
                                             uint32_t max_frame_exclusive, size_t top_k,
                                             deja__index_result *results, size_t *n_results);

/* The stored vector of a frame (zero weights dropped, weights as given): points into the index,
 * valid until it is destroyed. INVALID_ARG for a frame not added; STATE when the index was made
 * without DEJA__INDEX_STORE_VECTORS. */
DEJA_NODISCARD deja_status deja__index_frame(const deja__index *ix, uint32_t frame,
                                             deja_bow_vector *out);

/* Stop words (Sivic & Zisserman 2003, "Video Google"): queries skip the words whose posting
 * lists have grown past max_postings slots (about that many frames), so that a query's cost is
 * bounded by |q| x max_postings however long the sequence. 0 (the default): no stop words. */
void deja__index_set_stop_words(deja__index *ix, uint32_t max_postings);
/* 1 if queries currently skip this word. */
int deja__index_is_stop_word(const deja__index *ix, uint32_t word);

uint32_t deja__index_size(const deja__index *ix);
void deja__index_get_stats(const deja__index *ix, deja__index_stats *out);
const char *deja__index_error(const deja__index *ix);

#endif
