/* index.c - inverted-index database of BoW vectors, scored as DBoW2 does.
 *
 * An inverted file (Sivic & Zisserman 2003, "Video Google"; Nister & Stewenius 2006) maps each
 * word to its postings (frame id, weight). Because frames arrive in order, every list is sorted
 * by frame, so a query walks each of its words' lists from the oldest frame and stops at the
 * first frame >= the cut-off: the cost is the postings of the query's words, never the number of
 * frames. Scores follow DBoW2 (Galvez-Lopez & Tardos 2012, TemplatedDatabase::queryL1 etc.):
 * each posting adds its word's term to its frame's accumulator; the first touch of a frame sets
 * a bit and appends it to a touched list, so resetting after a query costs the touched frames
 * only. A bounded heap (in the caller's result array) keeps the best top_k, ties to the lower id.
 *
 * Postings. Lists ascend by frame, so a posting stores the gap to the list's previous frame, as
 * compressed inverted files do (Zobel & Moffat 2006, "Inverted files for text search engines"),
 * and the word's term in the form its scoring needs (sqrt for Bhattacharyya, log for KL,
 * L2-normalised for L2), so queries do one multiply or min each. Two slot layouts:
 * - compact (L1, L2, chi-square, Bhattacharyya: values in [0, 1] for normalised vectors), 4 B:
 *   a u16 gap and a u16 float of 5 exponent and 11 mantissa bits over [2^-24, 256), rounded to
 *   nearest (relative error <= 2^-12; no sign, the values are >= 0). Decoding is a shift and an
 *   add to f32 bits. A gap over 65535 first takes a skip slot (gap field 0, its value field k
 *   advances the frame by 65535 k), rare: a word unseen for 65535 frames, or first seen then.
 * - wide (KL, whose values are log d - log eps ~ 36 where absolute error counts, and DOT, whose
 *   vectors come unnormalised), 8 B: a u32 gap and the f32 value.
 *
 * Memory. Postings, stored vectors and word-table pages live in one arena of 1 MiB chunks,
 * addressed by 16-byte units (u32: 64 GiB). Unit 0 is reserved as "none".
 * - Posting lists are chains of blocks growing x1.5 with the list, 16 B to 4 KiB (a one-slot
 *   header holding the next block, then 3, 7, 11, 15, 23, ..., 1023 compact slots or 1, 3, 5,
 *   ..., 511 wide ones), then staying at 4 KiB: the many rare words of a large vocabulary cost
 *   16 B, the unused tail of a list's last block is small, and long lists (common words, read
 *   by most queries) come in page-sized blocks that the hardware prefetcher streams, with one
 *   pointer chase and TLB miss per block. A word's state is head, tail, slots, last frame
 *   (16 B); the tail block's class and fill follow from the slot count, so blocks carry no size
 *   field, and the last frame gives the next gap.
 * - The word table is two-level: a u32 per 128 words (2 MiB at most for 2^26 words), pages of 128
 *   word states (2 KiB) carved from the arena when a word of theirs is first seen, so words
 *   never seen cost nothing. (A calloc'd flat table would rely on untouched zero pages, which the
 *   allocator hook cannot promise: it has no calloc.)
 * - With DEJA__INDEX_STORE_VECTORS a frame's vector (words, then weights, non-zero entries only)
 *   sits contiguously in one chunk and the frame keeps its unit and length (8 B). Score
 *   accumulators (8 B), the touched list (4 B) and the touched bitmap (1 bit) are the other
 *   per-frame arrays.
 *
 * Adding is all-or-nothing: word pages are made first (harmless if later steps fail), then the
 * vector and the new blocks are carved in a dry run that may open chunks; the arena position is
 * rolled back and the same carving is replayed for real, which cannot fail because every chunk
 * it needs now exists. */
#include "index.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define UNIT_SHIFT       4
#define CHUNK_UNIT_SHIFT 16 /* 2^16 units of 16 B = 1 MiB */
#define CHUNK_UNITS      (1u << CHUNK_UNIT_SHIFT)
#define MAX_CHUNKS       ((uint64_t)1 << 16) /* keeps units below 2^32 */
#define PAGE_SHIFT       7
#define PAGE_WORDS       (1u << PAGE_SHIFT)
#define PAGE_UNITS       PAGE_WORDS /* 128 word states of 16 B */
#define N_CLASSES        16
#define BIG_CLASS        (N_CLASSES - 1) /* 4 KiB blocks from the sixteenth block of a list on */
#define PREFETCH_BYTES   1024 /* of the next block; the hardware streams the rest of a page */
#define H16_SHIFT        12   /* f32 mantissa bits a compact value drops (11 kept) */
#define H16_BIAS         (103u << 23) /* f32 bits of 2^-24, the value of code 0 */
#define H16_MAX          0xFFFFu
#define SKIP_STEP        65535u     /* frames a skip slot advances per unit of its value field */
#define NO_FRAME         UINT32_MAX /* "before frame 0": a list's first gap is frame + 1 */

/* Block sizes in 16 B units: x1.5 per block, so a list's last block is on average less empty
 * than with doubling (5.4 -> 4.9 B per posting at 10^5 Zipf frames, docs/index.md). */
static const uint16_t class_units[N_CLASSES] = {1,  2,  3,  4,  6,  8,   12,  16,
                                                24, 32, 48, 64, 96, 128, 192, 256};

typedef struct wstate {
    uint32_t head, tail, slots, last; /* block units; slots used; frame of the last posting */
} wstate;

struct deja__index {
    deja_allocator alloc;
    char err[DEJA_ERROR_BYTES];
    uint32_t n_words;
    deja__index_scoring scoring;
    uint32_t flags;
    uint32_t max_word_slots; /* stop words: lists longer than this are skipped (0: none) */
    int compact;    /* 4 B slots (u16 gap, u16 value) rather than 8 B (u32 gap, f32 value) */
    unsigned kslog; /* log2 of slots per 16 B unit: 2 compact, 1 wide; the header is one slot */
    uint32_t start[N_CLASSES]; /* first slot of a list's block of each class */
    /* arena: chunks[c] holds units [c << 15, (c + 1) << 15) */
    char **chunks;
    size_t n_chunks, chunks_cap;
    uint64_t cur, end; /* next free unit, end of the open chunk */
    uint64_t chunk_allocs;
    /* word table: page unit per 128 words, 0 = none */
    uint32_t *pages;
    size_t n_pages;
    uint64_t words_seen, n_postings, word_pages, skip_slots, block_units, vector_units;
    /* per frame */
    uint32_t n_frames;
    uint32_t *vec_unit, *vec_n; /* STORE_VECTORS only */
    size_t vec_unit_cap, vec_n_cap;
    double *acc;
    size_t acc_cap;
    uint32_t *touched;
    size_t touched_cap;
    uint8_t *bits;
    size_t bits_cap;
    uint64_t last_visited, last_touched;
};

static inline char *addr(const deja__index *ix, uint32_t unit)
{
    return ix->chunks[unit >> CHUNK_UNIT_SHIFT] +
           ((size_t)(unit & (CHUNK_UNITS - 1)) << UNIT_SHIFT);
}

static inline wstate *word_state(const deja__index *ix, uint32_t w)
{
    uint32_t p = ix->pages[w >> PAGE_SHIFT];
    return p ? (wstate *)(void *)addr(ix, p) + (w & (PAGE_WORDS - 1)) : NULL;
}

/* Slots of a block of class c after its one-slot header, with 2^ks slots per 16 B unit. */
static inline uint32_t block_cap(unsigned ks, unsigned c)
{
    return ((uint32_t)class_units[c] << ks) - 1u;
}

/* Class of the block that slot number `n` of a list falls in, and its place there. Long lists
 * (the common words) leave at the first test. */
static inline unsigned block_slot(const deja__index *ix, uint32_t n, uint32_t *slot)
{
    uint32_t big = ix->start[BIG_CLASS];
    if (n >= big) {
        *slot = (n - big) % block_cap(ix->kslog, BIG_CLASS);
        return BIG_CLASS;
    }
    unsigned c = 0;
    while (n >= ix->start[c + 1])
        c++;
    *slot = n - ix->start[c];
    return c;
}

/* Compact value code of v >= 0: round to nearest on the f32 bits (a carry moves to the next
 * binade by itself); below 2^-24 (weights of no consequence) becomes 2^-24. > H16_MAX: too big. */
static inline uint32_t h16_encode(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    return b < H16_BIAS ? 0 : (b - H16_BIAS + (1u << (H16_SHIFT - 1))) >> H16_SHIFT;
}

static deja_status chunk_new(deja__index *ix)
{
    if (ix->n_chunks >= MAX_CHUNKS)
        return DEJA_ERR(ix->err, DEJA_LIMIT, "index: arena full (%llu chunks of 1 MiB)",
                        (unsigned long long)MAX_CHUNKS);
    if (!deja__reserve(&ix->alloc, (void **)&ix->chunks, &ix->chunks_cap, ix->n_chunks + 1,
                       sizeof *ix->chunks))
        return DEJA_ERR(ix->err, DEJA_NOMEM, "index: out of memory growing the chunk table");
    char *c = deja__alloc(&ix->alloc, DEJA__INDEX_CHUNK_BYTES);
    if (!c)
        return DEJA_ERR(ix->err, DEJA_NOMEM, "index: out of memory for arena chunk %zu (1 MiB)",
                        ix->n_chunks);
    ix->chunks[ix->n_chunks++] = c;
    ix->chunk_allocs++;
    return DEJA_OK;
}

/* Carve units (<= one chunk) from the arena; a request that does not fit the open chunk's tail
 * moves to the next chunk (existing spare or new), wasting the tail. */
static deja_status arena_alloc(deja__index *ix, uint32_t units, uint32_t *out)
{
    while (ix->end - ix->cur < units) { /* twice for a whole chunk at the start of chunk 0 */
        uint64_t c = ix->end >> CHUNK_UNIT_SHIFT;
        if (c >= ix->n_chunks) {
            deja_status st = chunk_new(ix);
            if (st != DEJA_OK) return st;
        }
        ix->cur = c << CHUNK_UNIT_SHIFT;
        if (c == 0) ix->cur = 1; /* unit 0 means "none" */
        ix->end = (c + 1) << CHUNK_UNIT_SHIFT;
    }
    *out = (uint32_t)ix->cur;
    ix->cur += units;
    return DEJA_OK;
}

/* Grow the per-frame arrays to hold n frames; new bitmap bytes are zeroed. */
static deja_status frames_reserve(deja__index *ix, size_t n)
{
    size_t bits_old = ix->bits_cap;
    int vecs = (ix->flags & DEJA__INDEX_STORE_VECTORS) != 0;
    if ((vecs && (!deja__reserve(&ix->alloc, (void **)&ix->vec_unit, &ix->vec_unit_cap, n, 4) ||
                  !deja__reserve(&ix->alloc, (void **)&ix->vec_n, &ix->vec_n_cap, n, 4))) ||
        !deja__reserve(&ix->alloc, (void **)&ix->acc, &ix->acc_cap, n, 8) ||
        !deja__reserve(&ix->alloc, (void **)&ix->touched, &ix->touched_cap, n, 4) ||
        !deja__reserve(&ix->alloc, (void **)&ix->bits, &ix->bits_cap, (n + 7) / 8, 1))
        return DEJA_ERR(ix->err, DEJA_NOMEM, "index: out of memory for %zu frames", n);
    if (ix->bits_cap > bits_old) memset(ix->bits + bits_old, 0, ix->bits_cap - bits_old);
    return DEJA_OK;
}

/* Words strictly ascending and < n_words, weights finite and >= 0; *n_nz gets the non-zeros and
 * *i_max the position of the largest weight. */
static deja_status check_vector(deja__index *ix, const deja_bow_vector *v, const char *what,
                                size_t *n_nz, size_t *i_max)
{
    if (v->n > 0 && (!v->words || !v->weights))
        return DEJA_ERR(ix->err, DEJA_INVALID_ARG, "index: %s vector of %zu words has NULL %s",
                        what, v->n, v->words ? "weights" : "words");
    size_t nz = 0, im = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint32_t w = v->words[i];
        float x = v->weights[i];
        if (w >= ix->n_words)
            return DEJA_ERR(ix->err, DEJA_INVALID_ARG,
                            "index: %s word %u at position %zu >= %u vocabulary words (a vector "
                            "from another vocabulary?)",
                            what, w, i, ix->n_words);
        if (i > 0 && w <= v->words[i - 1])
            return DEJA_ERR(ix->err, DEJA_INVALID_ARG,
                            "index: %s words not strictly ascending at position %zu (%u after %u)",
                            what, i, w, v->words[i - 1]);
        if (!(x >= 0.0f) || !isfinite(x))
            return DEJA_ERR(ix->err, DEJA_INVALID_ARG,
                            "index: %s weight %g of word %u at position %zu is not finite and "
                            ">= 0",
                            what, (double)x, w, i);
        nz += x > 0.0f;
        if (x > v->weights[im]) im = i;
    }
    *n_nz = nz;
    *i_max = im;
    return DEJA_OK;
}

deja_status deja__index_create(const deja_allocator *a, uint32_t n_words,
                               deja__index_scoring scoring, uint32_t flags, deja__index **out)
{
    if (!a || !out)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: %s is NULL", a ? "out" : "allocator");
    if (n_words == 0 || n_words > DEJA__INDEX_MAX_WORDS)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: %u vocabulary words, expected 1..%u",
                        n_words, DEJA__INDEX_MAX_WORDS);
    if ((unsigned)scoring > (unsigned)DEJA__SCORE_DOT)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: scoring %d is unknown", (int)scoring);
    if (flags & ~DEJA__INDEX_STORE_VECTORS)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: unknown flags 0x%x", flags);
    deja_allocator al = *a;
    if (!al.alloc || !al.free) al = deja__allocator(NULL);
    deja__index *ix = deja__calloc(&al, 1, sizeof *ix);
    if (!ix) return DEJA_ERR(NULL, DEJA_NOMEM, "index: out of memory for the handle");
    ix->alloc = al;
    ix->n_words = n_words;
    ix->scoring = scoring;
    ix->flags = flags;
    ix->compact = scoring != DEJA__SCORE_KL && scoring != DEJA__SCORE_DOT;
    ix->kslog = ix->compact ? 2 : 1;
    for (unsigned c = 1; c < N_CLASSES; c++)
        ix->start[c] = ix->start[c - 1] + block_cap(ix->kslog, c - 1);
    ix->n_pages = ((size_t)n_words + PAGE_WORDS - 1) >> PAGE_SHIFT;
    ix->pages = deja__calloc(&al, ix->n_pages, sizeof *ix->pages);
    if (!ix->pages) {
        size_t n_pages = ix->n_pages;
        deja__free(&al, ix, sizeof *ix);
        return DEJA_ERR(NULL, DEJA_NOMEM, "index: out of memory for the word table (%zu pages)",
                        n_pages);
    }
    *out = ix;
    return DEJA_OK;
}

void deja__index_destroy(deja__index *ix)
{
    if (!ix) return;
    const deja_allocator *a = &ix->alloc;
    for (size_t c = 0; c < ix->n_chunks; c++)
        deja__free(a, ix->chunks[c], DEJA__INDEX_CHUNK_BYTES);
    deja__free(a, ix->chunks, ix->chunks_cap * sizeof *ix->chunks);
    deja__free(a, ix->pages, ix->n_pages * sizeof *ix->pages);
    deja__free(a, ix->vec_unit, ix->vec_unit_cap * 4);
    deja__free(a, ix->vec_n, ix->vec_n_cap * 4);
    deja__free(a, ix->acc, ix->acc_cap * 8);
    deja__free(a, ix->touched, ix->touched_cap * 4);
    deja__free(a, ix->bits, ix->bits_cap);
    deja_allocator al = *a;
    deja__free(&al, ix, sizeof *ix);
}

deja_status deja__index_reserve(deja__index *ix, uint32_t n_frames, uint64_t n_postings)
{
    if (!ix) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: reserve on a NULL index");
    if (n_frames > DEJA__INDEX_MAX_FRAMES)
        return DEJA_ERR(ix->err, DEJA_LIMIT, "index: reserve of %u frames > %u", n_frames,
                        DEJA__INDEX_MAX_FRAMES);
    if (n_frames > ix->n_frames) {
        deja_status st = frames_reserve(ix, n_frames);
        if (st != DEJA_OK) return st;
    }
    /* Arena estimate for what is still to come, per posting: its slot and its share of partly
     * filled blocks, skip slots and small lists (measured 4.9 B compact at 10^5 Zipf frames,
     * see docs/index.md: 8 B leaves room; 16 B wide), the stored vector (8 B); per frame the
     * vector's rounding (16 B). */
    uint64_t per_p = (ix->compact ? 8 : 16) + (ix->flags & DEJA__INDEX_STORE_VECTORS ? 8 : 0);
    uint64_t more_p = n_postings > ix->n_postings ? n_postings - ix->n_postings : 0;
    uint64_t more_f = n_frames > ix->n_frames ? n_frames - ix->n_frames : 0;
    if (more_p > (UINT64_MAX - 16 * (uint64_t)UINT32_MAX) / per_p)
        return DEJA_ERR(ix->err, DEJA_LIMIT, "index: reserve of %llu postings is too large",
                        (unsigned long long)n_postings);
    uint64_t bytes = more_p * per_p + more_f * 16;
    uint64_t want = (ix->end >> CHUNK_UNIT_SHIFT) +
                    (bytes + DEJA__INDEX_CHUNK_BYTES - 1) / DEJA__INDEX_CHUNK_BYTES;
    if (want > MAX_CHUNKS)
        return DEJA_ERR(ix->err, DEJA_LIMIT,
                        "index: reserve needs %llu chunks of 1 MiB, more than %llu",
                        (unsigned long long)want, (unsigned long long)MAX_CHUNKS);
    while (ix->n_chunks < want) {
        deja_status st = chunk_new(ix);
        if (st != DEJA_OK) return st;
    }
    return DEJA_OK;
}

/* The value a posting stores for weight d, per scoring. norm: the frame's L2 norm (L2 only). */
static inline float posting_value(deja__index_scoring s, float d, double norm)
{
    switch (s) {
    case DEJA__SCORE_L2:
        return (float)(d / norm);
    case DEJA__SCORE_KL:
        /* d's part of KL's correction for a word both vectors have: log(d) - log(eps). */
        return (float)(log(d) - log(DBL_EPSILON));
    case DEJA__SCORE_BHATTACHARYYA:
        return sqrtf(d);
    default:
        return d;
    }
}

/* Compact slots for a posting `gap` frames after the list's previous one: skip slots while the
 * gap is over 65535 (each takes k <= 65535 steps of 65535 so that 1 <= the rest), then the
 * posting. Returns the number of slots (1 to 3: gaps are < 2^32). */
static inline uint32_t compact_slots(uint32_t gap, uint32_t code, uint32_t out[3])
{
    uint32_t n = 0;
    while (gap > 0xFFFFu) {
        uint32_t k = (gap - 1) / SKIP_STEP;
        if (k > 0xFFFFu) k = 0xFFFFu;
        out[n++] = k << 16;
        gap -= k * SKIP_STEP;
    }
    out[n++] = code << 16 | gap;
    return n;
}

/* Carve the frame's vector (if stored) and the new blocks of its words; with write, also fill
 * them. The dry run (write = 0) and the replay make the same arena calls in the same order. */
static deja_status place(deja__index *ix, const deja_bow_vector *v, size_t n_nz, double norm,
                         int write)
{
    uint32_t vec = 0;
    int store = (ix->flags & DEJA__INDEX_STORE_VECTORS) && n_nz > 0;
    if (store) {
        deja_status st = arena_alloc(ix, (uint32_t)((n_nz + 1) / 2), &vec);
        if (st != DEJA_OK) return st;
    }
    const size_t sb = ix->compact ? 4 : 8; /* slot (and header) bytes */
    uint32_t frame = ix->n_frames, k = 0;
    uint32_t *words = store && write ? (uint32_t *)(void *)addr(ix, vec) : NULL;
    float *weights = words ? (float *)(words + n_nz) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        /* Word states and tail blocks are cache misses scattered over the arena: the dry run
         * fetches the states 16 words ahead, the replay the tail slots 8 words ahead. */
        if (!write && i + 16 < v->n) __builtin_prefetch(word_state(ix, v->words[i + 16]));
        if (write && i + 8 < v->n) {
            const wstate *a = word_state(ix, v->words[i + 8]); /* NULL: a zero weight's word */
            uint32_t s = 0;
            if (a) block_slot(ix, a->slots, &s);
            if (s > 0) __builtin_prefetch(addr(ix, a->tail) + (s + 1) * sb, 1);
        }
        float d = v->weights[i];
        if (d == 0.0f) continue;
        wstate *ws = word_state(ix, v->words[i]);
        uint32_t gap = frame - (ws->slots ? ws->last : NO_FRAME); /* >= 1, wraps from NO_FRAME */
        uint32_t slotv[3], n_slots = 1; /* the dry run needs only the number of slots */
        unsigned char wide[8];
        float value = write ? posting_value(ix->scoring, d, norm) : 0.0f;
        if (ix->compact) {
            n_slots = compact_slots(gap, h16_encode(value), slotv);
        } else {
            memcpy(wide, &gap, 4);
            memcpy(wide + 4, &value, 4);
        }
        uint32_t n = ws->slots;
        for (uint32_t j = 0; j < n_slots; j++, n++) {
            uint32_t slot;
            unsigned cls = block_slot(ix, n, &slot);
            uint32_t blk = ws->tail;
            if (slot == 0) {
                deja_status st = arena_alloc(ix, class_units[cls], &blk);
                if (st != DEJA_OK) return st;
            }
            if (!write) continue;
            char *b = addr(ix, blk);
            if (slot == 0) {
                memset(b, 0, sb);
                if (n == 0) {
                    ws->head = blk;
                    ix->words_seen++;
                } else {
                    memcpy(addr(ix, ws->tail), &blk, 4); /* link the old tail to the new block */
                }
                ws->tail = blk;
                ix->block_units += class_units[cls];
            }
            memcpy(b + (slot + 1) * sb, ix->compact ? (const void *)&slotv[j] : wide, sb);
        }
        if (!write) continue;
        ix->skip_slots += n_slots - 1;
        ws->slots = n;
        ws->last = frame;
        if (words) {
            words[k] = v->words[i];
            weights[k++] = d;
        }
    }
    if (write && (ix->flags & DEJA__INDEX_STORE_VECTORS)) {
        ix->vec_unit[frame] = vec;
        ix->vec_n[frame] = (uint32_t)n_nz;
        ix->vector_units += (n_nz + 1) / 2;
    }
    return DEJA_OK;
}

deja_status deja__index_add(deja__index *ix, const deja_bow_vector *v, uint32_t *frame)
{
    if (!ix) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: add on a NULL index");
    if (!v || !frame)
        return DEJA_ERR(ix->err, DEJA_INVALID_ARG, "index: add: %s is NULL",
                        v ? "frame" : "vector");
    size_t n_nz, i_max;
    deja_status st = check_vector(ix, v, "added", &n_nz, &i_max);
    if (st != DEJA_OK) return st;
    /* Compact values must fit the 16-bit float; L2's (d / |d|_2) always do. */
    if (ix->compact && ix->scoring != DEJA__SCORE_L2 && n_nz > 0 &&
        h16_encode(posting_value(ix->scoring, v->weights[i_max], 1)) > H16_MAX)
        return DEJA_ERR(ix->err, DEJA_INVALID_ARG,
                        "index: added weight %g of word %u at position %zu: the index's value "
                        "is >= %g, the largest compact postings hold (weights of L1-normalised "
                        "vectors are <= 1)",
                        (double)v->weights[i_max], v->words[i_max], i_max, DEJA__INDEX_MAX_COMPACT);
    if (ix->n_frames >= DEJA__INDEX_MAX_FRAMES)
        return DEJA_ERR(ix->err, DEJA_LIMIT, "index: full (%u frames)", ix->n_frames);
    if (n_nz > DEJA__INDEX_MAX_FRAME_WORDS)
        return DEJA_ERR(ix->err, DEJA_LIMIT, "index: vector of %zu non-zero words > %u", n_nz,
                        DEJA__INDEX_MAX_FRAME_WORDS);
    st = frames_reserve(ix, (size_t)ix->n_frames + 1);
    if (st != DEJA_OK) return st;
    /* Word pages first: a page made for a failed add stays, zeroed, and is used later. */
    for (size_t i = 0; i < v->n; i++) {
        size_t p = v->words[i] >> PAGE_SHIFT;
        if (ix->pages[p] || v->weights[i] == 0.0f) continue;
        uint32_t unit;
        st = arena_alloc(ix, PAGE_UNITS, &unit);
        if (st != DEJA_OK) return st;
        memset(addr(ix, unit), 0, (size_t)PAGE_UNITS << UNIT_SHIFT);
        ix->pages[p] = unit;
        ix->word_pages++;
    }
    double norm = 0;
    if (ix->scoring == DEJA__SCORE_L2) {
        for (size_t i = 0; i < v->n; i++)
            norm += (double)v->weights[i] * v->weights[i];
        norm = sqrt(norm);
    }
    uint64_t cur = ix->cur, end = ix->end;
    st = place(ix, v, n_nz, norm, 0);
    ix->cur = cur, ix->end = end;
    if (st != DEJA_OK) return st;
    st = place(ix, v, n_nz, norm, 1);
    if (st != DEJA_OK) return st; /* not reached: the dry run made every chunk it needs */
    ix->n_postings += n_nz;
    *frame = ix->n_frames++;
    return DEJA_OK;
}

enum { ACC_MIN, ACC_PROD, ACC_CHI };

/* Add one query word's terms to the frames of its postings below limit. Inlined per layout and
 * mode so that the inner loop has no branch on either. */
static inline __attribute__((always_inline)) uint64_t scan(deja__index *ix, const wstate *ws,
                                                           double q, uint32_t limit,
                                                           size_t *n_touched, int mode, int compact)
{
    double *acc = ix->acc;
    uint8_t *bits = ix->bits;
    uint32_t *touched = ix->touched;
    const unsigned ks = compact ? 2 : 1;
    const size_t sb = compact ? 4 : 8;
    size_t nt = *n_touched;
    uint32_t left = ws->slots, blk = ws->head, f = NO_FRAME;
    uint64_t skipped = 0, slots = 0;
    /* Weights are >= 0, and non-negative floats order as their bit patterns: min(q, d) is an
     * integer min, which compiles to a conditional move (a float compare became a branch that
     * random weights mispredict). */
    float qf = (float)q;
    uint32_t qbits;
    memcpy(&qbits, &qf, 4);
    for (unsigned b = 0; left > 0; b++) {
        const char *base = addr(ix, blk);
        uint32_t next;
        memcpy(&next, base, 4);
        unsigned cls = b < BIG_CLASS ? b : BIG_CLASS;
        uint32_t m = block_cap(ks, cls) < left ? block_cap(ks, cls) : left;
        if (m < left) {
            /* Blocks of one list lie far apart: fetch the next one while this one is scored
             * (its class is known: the one after this, or the largest). */
            const char *nb = addr(ix, next);
            size_t bytes = (size_t)class_units[cls + 1 < BIG_CLASS ? cls + 1 : BIG_CLASS]
                           << UNIT_SHIFT;
            if (bytes > PREFETCH_BYTES) bytes = PREFETCH_BYTES;
            for (size_t o = 0; o < bytes; o += 64)
                __builtin_prefetch(nb + o);
        }
        const char *s = base + sb;
        for (uint32_t i = 0; i < m; i++) {
            uint32_t vb; /* the value's f32 bits */
            if (compact) {
                uint32_t x;
                memcpy(&x, s + 4 * i, 4);
                uint32_t g = x & 0xFFFFu;
                f += g;
                if (__builtin_expect(g == 0, 0)) { /* skip slot: a gap over 65535 */
                    f += (x >> 16) * SKIP_STEP;
                    skipped++;
                    continue;
                }
                vb = ((x >> 16) << H16_SHIFT) + H16_BIAS;
            } else {
                uint32_t g;
                memcpy(&g, s + 8 * i, 4);
                memcpy(&vb, s + 8 * i + 4, 4);
                f += g;
            }
            if (f >= limit) { /* lists ascend by frame: the rest are newer */
                slots += i;
                goto done;
            }
            double t;
            if (mode == ACC_MIN) {
                vb = vb < qbits ? vb : qbits;
                float mf;
                memcpy(&mf, &vb, 4);
                t = mf;
            } else {
                float df;
                memcpy(&df, &vb, 4);
                double d = df;
                t = mode == ACC_PROD ? q * d : q * d / (q + d);
            }
            uint8_t bit = (uint8_t)(1u << (f & 7));
            if (bits[f >> 3] & bit) {
                acc[f] += t;
            } else {
                bits[f >> 3] |= bit;
                touched[nt++] = f;
                acc[f] = t;
            }
        }
        slots += m;
        left -= m;
        blk = next;
    }
done:
    *n_touched = nt;
    return slots - skipped;
}

/* Heap order: a is worse than b (lower score, or equal and newer). */
static inline int worse(const double *acc, uint32_t a, uint32_t b)
{
    return acc[a] < acc[b] || (acc[a] == acc[b] && a > b);
}

static void sift_down(deja__index_result *h, size_t n, size_t i, const double *acc)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && worse(acc, h[l].frame, h[m].frame)) m = l;
        if (l + 1 < n && worse(acc, h[l + 1].frame, h[m].frame)) m = l + 1;
        if (m == i) return;
        deja__index_result t = h[i];
        h[i] = h[m], h[m] = t;
        i = m;
    }
}

static void sift_up(deja__index_result *h, size_t i, const double *acc)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(acc, h[i].frame, h[p].frame)) return;
        deja__index_result t = h[i];
        h[i] = h[p], h[p] = t;
        i = p;
    }
}

void deja__index_set_stop_words(deja__index *ix, uint32_t max_postings)
{
    ix->max_word_slots = max_postings;
}

int deja__index_is_stop_word(const deja__index *ix, uint32_t word)
{
    if (!ix->max_word_slots || word >= ix->n_words) return 0;
    const wstate *ws = word_state(ix, word);
    return ws && ws->slots > ix->max_word_slots;
}

deja_status deja__index_query(deja__index *ix, const deja_bow_vector *q,
                              uint32_t max_frame_exclusive, size_t top_k,
                              deja__index_result *results, size_t *n_results)
{
    if (!ix) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: query on a NULL index");
    if (!q || !n_results || (!results && top_k > 0))
        return DEJA_ERR(ix->err, DEJA_INVALID_ARG, "index: query: %s is NULL",
                        !q           ? "vector"
                        : !n_results ? "n_results"
                                     : "results");
    size_t n_nz, i_max;
    deja_status st = check_vector(ix, q, "query", &n_nz, &i_max);
    if (st != DEJA_OK) return st;
    ix->last_visited = ix->last_touched = 0;
    uint32_t limit = max_frame_exclusive < ix->n_frames ? max_frame_exclusive : ix->n_frames;
    if (top_k == 0 || limit == 0 || n_nz == 0) {
        *n_results = 0;
        return DEJA_OK;
    }
    /* Per-query side of the scoring: the query's own normalisation and constants. */
    double qnorm = 1, kl_const = 0;
    deja__index_scoring s = ix->scoring;
    if (s == DEJA__SCORE_L2) {
        qnorm = 0;
        for (size_t i = 0; i < q->n; i++)
            qnorm += (double)q->weights[i] * q->weights[i];
        qnorm = sqrt(qnorm);
    }
    size_t nt = 0;
    uint64_t visited = 0;
    for (size_t i = 0; i < q->n; i++) {
        /* Each word's state and head block are cache misses: fetch the states 16 words ahead
         * and, from them (fetched 8 words ago), the first two lines of the head blocks. */
        if (i + 16 < q->n) __builtin_prefetch(word_state(ix, q->words[i + 16]));
        if (i + 8 < q->n) {
            const wstate *a = word_state(ix, q->words[i + 8]);
            if (a && a->slots) {
                const char *h = addr(ix, a->head);
                __builtin_prefetch(h);
                __builtin_prefetch(h + 64);
            }
        }
        double x = q->weights[i];
        if (x == 0.0) continue;
        if (s == DEJA__SCORE_KL) kl_const += x * (log(x) - log(DBL_EPSILON));
        const wstate *ws = word_state(ix, q->words[i]);
        if (!ws || ws->slots == 0) continue;
        if (ix->max_word_slots && ws->slots > ix->max_word_slots) continue; /* a stop word */
        switch (s) {
        case DEJA__SCORE_L1:
            visited += scan(ix, ws, x, limit, &nt, ACC_MIN, 1);
            break;
        case DEJA__SCORE_CHI_SQUARE:
            visited += scan(ix, ws, x, limit, &nt, ACC_CHI, 1);
            break;
        case DEJA__SCORE_L2:
            visited += scan(ix, ws, x / qnorm, limit, &nt, ACC_PROD, 1);
            break;
        case DEJA__SCORE_BHATTACHARYYA:
            visited += scan(ix, ws, sqrt(x), limit, &nt, ACC_PROD, 1);
            break;
        default: /* KL: accumulate the common words' correction; DOT: the product */
            visited += scan(ix, ws, x, limit, &nt, ACC_PROD, 0);
            break;
        }
    }
    /* Bounded heap of the best top_k touched frames, worst at the root. */
    size_t h = 0;
    const double *acc = ix->acc;
    for (size_t i = 0; i < nt; i++) {
        uint32_t f = ix->touched[i];
        ix->bits[f >> 3] = 0; /* reset as we go: touched frames only */
        if (h < top_k) {
            results[h].frame = f;
            sift_up(results, h++, acc);
        } else if (worse(acc, results[0].frame, f)) {
            results[0].frame = f;
            sift_down(results, h, 0, acc);
        }
    }
    /* Heap sort: popping the worst to the back leaves the best first. */
    for (size_t n = h; n > 1; n--) {
        deja__index_result t = results[0];
        results[0] = results[n - 1], results[n - 1] = t;
        sift_down(results, n - 1, 0, acc);
    }
    for (size_t i = 0; i < h; i++) {
        double a = acc[results[i].frame], sc;
        switch (s) {
        case DEJA__SCORE_L1:
            sc = a < 0 ? 0 : a > 1 ? 1 : a; /* sum min(q, d) = 1 - 0.5 |q - d|_1 */
            break;
        case DEJA__SCORE_L2:
            sc = a >= 1 ? 1 : 1 - sqrt(1 - a); /* |q - d|_2 = sqrt(2 - 2 q.d) */
            break;
        case DEJA__SCORE_CHI_SQUARE:
            sc = 2 * a;
            break;
        case DEJA__SCORE_KL:
            sc = kl_const - a;
            break;
        default:
            sc = a;
            break;
        }
        results[i].score = (float)sc;
    }
    ix->last_visited = visited;
    ix->last_touched = nt;
    *n_results = h;
    return DEJA_OK;
}

deja_status deja__index_frame(const deja__index *ix, uint32_t frame, deja_bow_vector *out)
{
    if (!ix || !out)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: frame: %s is NULL", ix ? "out" : "index");
    if (frame >= ix->n_frames)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "index: frame %u not added (%u frames)", frame,
                        ix->n_frames);
    if (!(ix->flags & DEJA__INDEX_STORE_VECTORS))
        return DEJA_ERR(NULL, DEJA_STATE,
                        "index: frame %u: vectors are not stored (create the index with "
                        "DEJA__INDEX_STORE_VECTORS)",
                        frame);
    uint32_t n = ix->vec_n[frame];
    const uint32_t *w = n ? (const uint32_t *)(const void *)addr(ix, ix->vec_unit[frame]) : NULL;
    out->n = n;
    out->words = w;
    out->weights = w ? (const float *)(w + n) : NULL;
    return DEJA_OK;
}

uint32_t deja__index_size(const deja__index *ix)
{
    return ix ? ix->n_frames : 0;
}

void deja__index_get_stats(const deja__index *ix, deja__index_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!ix) return;
    out->n_frames = ix->n_frames;
    out->n_postings = ix->n_postings;
    out->words_seen = ix->words_seen;
    out->skip_slots = ix->skip_slots;
    out->block_bytes = ix->block_units << UNIT_SHIFT;
    out->vector_bytes = ix->vector_units << UNIT_SHIFT;
    out->arena_bytes = (uint64_t)ix->n_chunks * DEJA__INDEX_CHUNK_BYTES;
    out->arena_used = ix->cur << UNIT_SHIFT; /* includes the tails skipped at chunk ends */
    out->frame_bytes = ix->vec_unit_cap * 4 + ix->vec_n_cap * 4 + ix->acc_cap * 8 +
                       ix->touched_cap * 4 + ix->bits_cap;
    out->table_bytes = ix->n_pages * sizeof *ix->pages;
    out->word_pages = ix->word_pages;
    out->total_bytes = out->arena_bytes + out->frame_bytes + out->table_bytes +
                       ix->chunks_cap * sizeof *ix->chunks + sizeof *ix;
    out->chunk_allocs = ix->chunk_allocs;
    out->last_visited = ix->last_visited;
    out->last_touched = ix->last_touched;
}

const char *deja__index_error(const deja__index *ix)
{
    return ix ? ix->err : deja_last_error();
}
