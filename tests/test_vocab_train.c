/* test_vocab_train.c - hierarchical k-means training: known clusters come out as words (binary
 * and float), degenerate inputs, IDF against hand computation, majority/mean centroids,
 * determinism over seeds and thread counts, the out-of-memory sweep, parameter checks,
 * progress. The timing run is opt-in: DEJA_TRAIN_BENCH=1 ./test_vocab_train large_random_run */
#include "deja.h"
#include "test.h"
#include "test_util.h"
#include "vocab.h"

#include <time.h>

/* ---- helpers -------------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rnd_unit(uint64_t *s)
{
    return (double)(rnd(s) >> 11) * 0x1.0p-53;
}

static double dist(const deja_vocab *v, const uint8_t *a, const uint8_t *b)
{
    double d = 0;
    if (v->kind == DEJA_DESC_BINARY) {
        for (uint32_t i = 0; i < v->desc_bytes; i++)
            d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
        return d;
    }
    for (uint32_t i = 0; i < v->desc_bytes / 4; i++) {
        float x, y;
        memcpy(&x, a + 4 * i, 4);
        memcpy(&y, b + 4 * i, 4);
        d += ((double)x - y) * ((double)x - y);
    }
    return d;
}

/* The node reached at `level` (or the leaf on the way) by brute-force nearest-child descent. */
static uint32_t descend(const deja_vocab *v, const void *q, uint32_t level)
{
    uint32_t node = 0;
    for (uint32_t l = 0; l < level && v->child_begin[node] != v->child_begin[node + 1]; l++) {
        uint32_t best = v->child_begin[node];
        for (uint32_t c = best; c < v->child_begin[node + 1]; c++)
            if (dist(v, q, v->node_desc + (size_t)c * v->desc_bytes) <
                dist(v, q, v->node_desc + (size_t)best * v->desc_bytes))
                best = c;
        node = best;
    }
    return node;
}

static uint32_t word_of(const deja_vocab *v, const void *q)
{
    uint32_t leaf = descend(v, q, DEJA_VOCAB_MAX_DEPTH + 1);
    return v->node_word[leaf];
}

/* n binary descriptors around K random centres (row i belongs to centre i % K); one row in
 * flip_one_in gets up to max_flip flipped bits. Spread round-robin over n_sets sets.
 * Why mostly exact copies: k-means++ on Hamming distance (as DBoW2) draws a second seed inside
 * an already covered cluster with probability ~ (intra-cluster distance) / (128 bits between
 * clusters); with 3 flips in every member that is ~30 % over 8 clusters, and Lloyd iterations
 * cannot undo it. With 1 row in 40 flipped it is ~0.5 %, so the cluster tests do not hang on a
 * lucky seed. */
typedef struct {
    size_t n, n_sets;
    uint8_t *rows;    /* n * 32 */
    uint8_t *centres; /* K * 32 */
    deja_features *sets;
    uint8_t *set_rows; /* rows regrouped per set */
    size_t *origin;    /* row index of each set_rows row */
} fixture;

static void fixture_sets(fixture *f, deja_desc_kind kind, uint32_t bytes)
{
    f->sets = calloc(f->n_sets, sizeof *f->sets);
    f->set_rows = malloc(f->n * bytes);
    f->origin = malloc(f->n * sizeof *f->origin);
    size_t at = 0;
    for (size_t s = 0; s < f->n_sets; s++) {
        size_t first = at;
        for (size_t i = s; i < f->n; i += f->n_sets) {
            memcpy(f->set_rows + at * bytes, f->rows + i * bytes, bytes);
            f->origin[at++] = i;
        }
        f->sets[s] = (deja_features){.n = at - first,
                                     .descriptors = f->set_rows + first * bytes,
                                     .kind = kind,
                                     .desc_bytes = bytes};
    }
}

static void fixture_binary(fixture *f, size_t K, size_t n, size_t n_sets, int max_flip,
                           int flip_one_in, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    f->n_sets = n_sets;
    f->centres = malloc(K * 32);
    f->rows = malloc(n * 32);
    for (size_t i = 0; i < K * 32; i++)
        f->centres[i] = (uint8_t)rnd(&seed);
    for (size_t i = 0; i < n; i++) {
        memcpy(f->rows + i * 32, f->centres + (i % K) * 32, 32);
        int flips = (int)(rnd(&seed) % (uint64_t)(max_flip + 1));
        if (rnd(&seed) % (uint64_t)flip_one_in) flips = 0;
        for (int b = 0; b < flips; b++) {
            unsigned bit = (unsigned)(rnd(&seed) % 256);
            f->rows[i * 32 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    fixture_sets(f, DEJA_DESC_BINARY, 32);
}

/* Float rows: centres spread over +-100 per dimension, members within +-1 of them. */
static void fixture_float(fixture *f, size_t K, size_t dim, size_t n, size_t n_sets, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    f->n_sets = n_sets;
    f->centres = malloc(K * dim * 4);
    f->rows = malloc(n * dim * 4);
    float *c = (float *)(void *)f->centres, *r = (float *)(void *)f->rows;
    for (size_t i = 0; i < K * dim; i++)
        c[i] = (float)(rnd_unit(&seed) * 200 - 100);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < dim; d++)
            r[i * dim + d] = c[(i % K) * dim + d] + (float)(rnd_unit(&seed) * 2 - 1);
    fixture_sets(f, DEJA_DESC_FLOAT32, (uint32_t)(dim * 4));
}

static void fixture_free(fixture *f)
{
    free(f->rows);
    free(f->centres);
    free(f->sets);
    free(f->set_rows);
    free(f->origin);
}

static deja_options opts(int threads)
{
    deja_options o = deja_options_default();
    o.n_threads = threads;
    return o;
}

static deja_vocab_params params(uint32_t k, uint32_t depth)
{
    deja_vocab_params p = deja_vocab_params_default();
    p.k = k;
    p.depth = depth;
    return p;
}

/* Every leaf has a distinct word, all words are used. */
static void expect_words_cover(const deja_vocab *v)
{
    char *seen = calloc(v->n_words, 1);
    uint32_t leaves = 0;
    for (uint32_t i = 1; i < v->n_nodes; i++) {
        if (v->child_begin[i] != v->child_begin[i + 1]) continue;
        leaves++;
        uint32_t w = v->node_word[i];
        EXPECT(w < v->n_words);
        if (w < v->n_words) {
            EXPECT(!seen[w]);
            seen[w] = 1;
        }
    }
    EXPECT_EQ(leaves, v->n_words);
    free(seen);
}

/* ---- clusters come out as words ------------------------------------------------------------- */

TEST(binary_clusters_become_one_word_each_with_majority_centroids)
{
    enum { K = 8 };
    fixture f;
    fixture_binary(&f, K, 3200, 10, 3, 40, 11); /* 400 members: lanes flush */
    deja_options o = opts(2);
    deja_vocab_params p = params(K, 1);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
    EXPECT_EQ(v->n_words, K);
    EXPECT_EQ(v->n_nodes, K + 1);
    EXPECT_EQ(v->depth, 1);
    expect_words_cover(v);
    uint32_t word[K];
    for (int c = 0; c < K; c++)
        word[c] = word_of(v, f.centres + c * 32);
    for (size_t i = 0; i < f.n; i++)
        EXPECT_EQ(word_of(v, f.set_rows + i * 32), word[f.origin[i] % K]);
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++)
            EXPECT(word[a] != word[b]);
    /* 400 members, ~10 with <= 3 flipped bits: the bitwise majority is the centre itself. */
    for (int c = 0; c < K; c++) {
        uint32_t leaf = descend(v, f.centres + c * 32, 1);
        EXPECT(memcmp(v->node_desc + (size_t)leaf * 32, f.centres + c * 32, 32) == 0);
    }
    deja_vocab_destroy(v);
    fixture_free(&f);
}

TEST(binary_clusters_split_at_level_one_of_a_two_level_tree)
{
    enum { K = 6 };
    fixture f;
    fixture_binary(&f, K, 3000, 7, 6, 40, 5);
    deja_options o = opts(1);
    deja_vocab_params p = params(K, 2);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
    EXPECT_EQ(v->depth, 2);
    EXPECT_GE(v->n_words, K + 1); /* members differ: level 2 splits each cluster further */
    expect_words_cover(v);
    uint32_t node[K];
    for (int c = 0; c < K; c++)
        node[c] = descend(v, f.centres + c * 32, 1);
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++)
            EXPECT(node[a] != node[b]);
    size_t wrong = 0;
    for (size_t i = 0; i < f.n; i++)
        wrong += descend(v, f.set_rows + i * 32, 1) != node[f.origin[i] % K];
    EXPECT_EQ(wrong, 0);
    deja_vocab_destroy(v);
    fixture_free(&f);
}

TEST(float_clusters_become_one_word_each_with_mean_centroids)
{
    enum { K = 5, DIM = 8 };
    fixture f;
    fixture_float(&f, K, DIM, 1000, 9, 3);
    deja_options o = opts(2);
    deja_vocab_params p = params(K, 1);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
    EXPECT_EQ(v->kind, DEJA_DESC_FLOAT32);
    EXPECT_EQ(v->n_words, K);
    expect_words_cover(v);
    uint32_t word[K];
    for (int c = 0; c < K; c++)
        word[c] = word_of(v, f.centres + c * DIM * 4);
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++)
            EXPECT(word[a] != word[b]);
    for (size_t i = 0; i < f.n; i++)
        EXPECT_EQ(word_of(v, f.set_rows + i * DIM * 4), word[f.origin[i] % K]);
    /* Each leaf is the mean of its members. */
    const float *r = (const float *)(const void *)f.rows;
    for (int c = 0; c < K; c++) {
        double mean[DIM] = {0};
        size_t n = 0;
        for (size_t i = (size_t)c; i < f.n; i += K, n++)
            for (int d = 0; d < DIM; d++)
                mean[d] += r[i * DIM + d];
        uint32_t leaf = descend(v, f.centres + c * DIM * 4, 1);
        const float *cent = (const float *)(const void *)(v->node_desc + (size_t)leaf * DIM * 4);
        for (int d = 0; d < DIM; d++)
            EXPECT_NEAR(cent[d], mean[d] / (double)n, 1e-4);
    }
    deja_vocab_destroy(v);
    fixture_free(&f);
}

TEST(majority_ties_give_a_zero_bit)
{
    /* Cluster A: byte 0 is 0x03, 0x03, 0x02, 0x00: bit 0 in 2 of 4 (tie -> 0), bit 1 in 3 of 4
     * (-> 1). Cluster B: all ones but one bit in one row, far away. Each row repeated reps times:
     * 1 uses the 8-bit counters only, 150 (600 members) spills into the 32-bit ones. */
    for (int reps = 1; reps <= 150; reps += 149) {
        uint8_t(*rows)[32] = calloc((size_t)8 * reps, 32);
        for (int r = 0; r < reps; r++) {
            uint8_t(*g)[32] = rows + 8 * r;
            g[0][0] = g[1][0] = 0x03;
            g[2][0] = 0x02;
            for (int i = 4; i < 8; i++)
                memset(g[i], 0xFF, 32);
            g[7][5] = 0x7F;
        }
        deja_features set = {(size_t)8 * reps, NULL, rows, DEJA_DESC_BINARY, 32};
        deja_vocab_params p = params(2, 1);
        deja_options o = opts(1);
        deja_vocab *v;
        ASSERT_OK(deja_vocab_train(&o, &p, &set, 1, &v));
        ASSERT_EQ(v->n_words, 2);
        uint32_t a = descend(v, rows[0], 1), b = descend(v, rows[4], 1);
        EXPECT(a != b);
        EXPECT_EQ(v->node_desc[a * 32], 0x02);
        for (int i = 1; i < 32; i++)
            EXPECT_EQ(v->node_desc[a * 32 + i], 0);
        for (int i = 0; i < 32; i++)
            EXPECT_EQ(v->node_desc[b * 32 + i], 0xFF); /* 1 of 4 members lacks a bit of byte 5 */
        deja_vocab_destroy(v);
        free(rows);
    }
}

TEST(descriptors_of_any_byte_length_train)
{
    /* 13-byte binary descriptors: the second 64-bit word of a row is 5 bytes long. Two clusters,
     * 0x00.. and 0xFF.., where every member has its own bit of bytes 8..12 flipped: no member
     * equals the majority, so the centroid's short word must really be computed and stored. */
    uint8_t rows[40][13];
    for (int i = 0; i < 40; i++) {
        memset(rows[i], i % 2 ? 0xFF : 0x00, 13);
        int bit = i / 2; /* 0..19 within bytes 8..12 */
        rows[i][8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    deja_features set = {40, NULL, rows, DEJA_DESC_BINARY, 13};
    deja_vocab_params p = params(2, 1);
    deja_options o = opts(2);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, &set, 1, &v));
    ASSERT_EQ(v->n_words, 2);
    for (int i = 0; i < 2; i++) {
        uint8_t want[13];
        memset(want, i ? 0xFF : 0x00, 13);
        uint32_t leaf = descend(v, rows[i], 1);
        EXPECT(memcmp(v->node_desc + (size_t)leaf * 13, want, 13) == 0);
    }
    deja_vocab_destroy(v);
}

/* ---- degenerate inputs ---------------------------------------------------------------------- */

TEST(fewer_descriptors_than_k_become_one_leaf_each)
{
    uint8_t rows[5][32];
    for (int i = 0; i < 5; i++)
        memset(rows[i], 0x11 * (i % 3), 32); /* rows 3 and 4 repeat rows 0 and 1 */
    deja_features set = {5, NULL, rows, DEJA_DESC_BINARY, 32};
    deja_vocab_params p = params(10, 6);
    deja_options o = opts(2);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, &set, 1, &v));
    EXPECT_EQ(v->n_nodes, 4);
    EXPECT_EQ(v->n_words, 3);
    EXPECT_EQ(v->depth, 1);
    for (int i = 0; i < 3; i++)
        EXPECT(memcmp(v->node_desc + (size_t)(1 + i) * 32, rows[i], 32) == 0);
    expect_words_cover(v);
    deja_vocab_destroy(v);
}

TEST(identical_descriptors_give_a_single_word)
{
    uint8_t rows[500][32];
    memset(rows, 0xA5, sizeof rows);
    deja_features set = {500, NULL, rows, DEJA_DESC_BINARY, 32};
    deja_vocab_params p = params(10, 3);
    deja_options o = opts(2);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, &set, 1, &v));
    EXPECT_EQ(v->n_nodes, 2);
    EXPECT_EQ(v->n_words, 1);
    EXPECT(memcmp(v->node_desc + 32, rows[0], 32) == 0);
    deja_vocab_destroy(v);

    float frows[300][4];
    for (int i = 0; i < 300; i++)
        for (int d = 0; d < 4; d++)
            frows[i][d] = 0.25f * (float)d;
    deja_features fset = {300, NULL, frows, DEJA_DESC_FLOAT32, 16};
    ASSERT_OK(deja_vocab_train(&o, &p, &fset, 1, &v));
    EXPECT_EQ(v->n_nodes, 2);
    EXPECT_EQ(v->n_words, 1);
    deja_vocab_destroy(v);
}

TEST(a_cluster_of_equal_rows_stops_as_a_leaf)
{
    /* 3 distinct values, 200 rows, k = 2, depth 5: a leaf per value, none deeper than needed. */
    uint8_t rows[200][32];
    for (int i = 0; i < 200; i++)
        memset(rows[i], i % 3 == 0 ? 0x00 : i % 3 == 1 ? 0xFF : 0x0F, 32);
    deja_features set = {200, NULL, rows, DEJA_DESC_BINARY, 32};
    deja_vocab_params p = params(2, 5);
    deja_options o = opts(1);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, &set, 1, &v));
    EXPECT_EQ(v->n_words, 3);
    EXPECT_LE(v->depth, 2);
    for (int i = 0; i < 3; i++)
        EXPECT(memcmp(v->node_desc + (size_t)descend(v, rows[i], 16) * 32, rows[i], 32) == 0);
    deja_vocab_destroy(v);
}

TEST(empty_clusters_are_reseeded_so_random_data_keeps_k_words)
{
    /* On random bit strings majority centroids often lose all their members during Lloyd
     * iterations (at the root of several of these runs); each must be reseeded, not lost. */
    fixture f;
    fixture_binary(&f, 1, 20000, 40, 256, 1, 21);
    for (uint32_t k = 8; k <= 32; k *= 2)
        for (uint64_t seed = 1; seed <= 8; seed++) {
            deja_vocab_params p = params(k, 1);
            p.seed = seed;
            deja_options o = opts(2);
            deja_vocab *v;
            ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
            EXPECT_EQ(v->n_words, k);
            size_t members[32] = {0};
            for (size_t i = 0; i < f.n; i++)
                members[word_of(v, f.set_rows + i * 32) & 31]++;
            for (uint32_t w = 0; w < k; w++)
                EXPECT_GE(members[w], 1); /* every word is reached by training descriptors */
            deja_vocab_destroy(v);
        }
    fixture_free(&f);
}

TEST(a_single_set_gives_zero_idf)
{
    fixture f;
    fixture_binary(&f, 4, 400, 1, 20, 1, 9);
    deja_vocab_params p = params(4, 2);
    deja_options o = opts(1);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, f.sets, 1, &v));
    EXPECT_GE(v->n_words, 4);
    for (uint32_t w = 0; w < v->n_words; w++)
        EXPECT_EQ(v->word_weight[w], 0.0f); /* log(1 / 1) */
    deja_vocab_destroy(v);
    fixture_free(&f);
}

/* ---- weights -------------------------------------------------------------------------------- */

TEST(idf_matches_hand_computation)
{
    /* Words A, B, C, D (pairwise >= 128 bits apart); images {A, A, B}, {B, C}, {D}, {}. N = 4:
     * idf(A) = log 4 (A twice in one image counts once), idf(B) = log 2, idf(C) = idf(D) = log 4.
     * k = 4 takes the k-means path (6 rows), k = 8 the one-leaf-per-row path. */
    uint8_t A[32], B[32], C[32], D[32];
    memset(A, 0x00, 32);
    memset(B, 0xFF, 32);
    memset(C, 0xF0, 32);
    memset(D, 0x0F, 32);
    uint8_t s0[3][32], s1[2][32], s2[1][32];
    memcpy(s0[0], A, 32);
    memcpy(s0[1], A, 32);
    memcpy(s0[2], B, 32);
    memcpy(s1[0], B, 32);
    memcpy(s1[1], C, 32);
    memcpy(s2[0], D, 32);
    deja_features sets[4] = {{3, NULL, s0, DEJA_DESC_BINARY, 32},
                             {2, NULL, s1, DEJA_DESC_BINARY, 32},
                             {1, NULL, s2, DEJA_DESC_BINARY, 32},
                             {0, NULL, NULL, 0, 0}};
    const uint8_t *q[4] = {A, B, C, D};
    const double want[4] = {log(4.0), log(2.0), log(4.0), log(4.0)};
    uint32_t ks[2] = {4, 8};
    for (int ki = 0; ki < 2; ki++) {
        for (int wt = DEJA_WEIGHT_TF_IDF; wt <= DEJA_WEIGHT_BINARY; wt++) {
            deja_vocab_params p = params(ks[ki], 3);
            p.weighting = (deja_weighting)wt;
            deja_options o = opts(2);
            deja_vocab *v;
            ASSERT_OK(deja_vocab_train(&o, &p, sets, 4, &v));
            EXPECT_EQ(v->n_words, 4);
            EXPECT_EQ(v->weighting, wt);
            uint32_t seen = 0;
            for (int i = 0; i < 4; i++) {
                uint32_t w = word_of(v, q[i]);
                ASSERT(w < 4);
                seen |= 1u << w;
                bool idf = wt == DEJA_WEIGHT_TF_IDF || wt == DEJA_WEIGHT_IDF;
                EXPECT_NEAR(v->word_weight[w], idf ? want[i] : 1.0, 1e-6);
            }
            EXPECT_EQ(seen, 15);
            deja_vocab_destroy(v);
        }
    }
}

/* ---- determinism ---------------------------------------------------------------------------- */

static bool same_vocab(const deja_vocab *a, const deja_vocab *b)
{
    return a->n_nodes == b->n_nodes && a->n_words == b->n_words && a->desc_bytes == b->desc_bytes &&
           memcmp(a->child_begin, b->child_begin, ((size_t)a->n_nodes + 1) * 4) == 0 &&
           memcmp(a->node_word, b->node_word, (size_t)a->n_nodes * 4) == 0 &&
           memcmp(a->word_weight, b->word_weight, (size_t)a->n_words * 4) == 0 &&
           memcmp(a->node_desc, b->node_desc, (size_t)a->n_nodes * a->desc_bytes) == 0;
}

/* Big enough that the root runs on all workers and the lower levels as runs of small nodes. */
static void check_determinism(const fixture *f, uint32_t k, uint32_t depth)
{
    deja_vocab_params p = params(k, depth);
    p.seed = 7;
    deja_options o1 = opts(1), o2 = opts(2);
    deja_vocab *a, *b, *c, *d;
    ASSERT_OK(deja_vocab_train(&o1, &p, f->sets, f->n_sets, &a));
    ASSERT_OK(deja_vocab_train(&o1, &p, f->sets, f->n_sets, &b));
    ASSERT_OK(deja_vocab_train(&o2, &p, f->sets, f->n_sets, &c));
    p.seed = 8;
    ASSERT_OK(deja_vocab_train(&o2, &p, f->sets, f->n_sets, &d));
    EXPECT(same_vocab(a, b));
    EXPECT(same_vocab(a, c));  /* 1 and 2 threads */
    EXPECT(!same_vocab(a, d)); /* the seed matters */
    EXPECT_GE(a->n_words, 100);
    deja_vocab_destroy(a);
    deja_vocab_destroy(b);
    deja_vocab_destroy(c);
    deja_vocab_destroy(d);
}

TEST(binary_training_is_identical_for_a_seed_and_any_thread_count)
{
    fixture f;
    fixture_binary(&f, 1, 20000, 40, 256, 1, 21); /* up to 256 flips from one centre: random */
    check_determinism(&f, 8, 4);
    fixture_free(&f);
}

TEST(float_training_is_identical_for_a_seed_and_any_thread_count)
{
    fixture f;
    fixture_float(&f, 50, 16, 12000, 30, 4);
    check_determinism(&f, 8, 3);
    fixture_free(&f);
}

/* ---- memory --------------------------------------------------------------------------------- */

static void nomem_sweep(const fixture *f, deja_weighting wt)
{
    deja_vocab_params p = params(4, 3);
    p.weighting = wt;
    size_t failures = 0;
    for (size_t k = 0; k < 1000; k++) {
        test_counter c = {.fail_at = k + 1}; /* call index k fails */
        deja_options o = opts(2);
        o.allocator = test_counting_allocator(&c);
        deja_vocab *v = NULL;
        deja_status st = deja_vocab_train(&o, &p, f->sets, f->n_sets, &v);
        if (st == DEJA_OK) {
            EXPECT(c.calls <= k); /* the failing call was never reached */
            deja_vocab_destroy(v);
            EXPECT_EQ(c.live, 0);
            break;
        }
        EXPECT_EQ(st, DEJA_NOMEM);
        EXPECT_EQ(c.live, 0);
        EXPECT(strstr(deja_last_error(), "memory") != NULL);
        failures++;
    }
    EXPECT_GE(failures, 8); /* rows, pool, scratch, tree, level lists, vocabulary... */
}

TEST(every_failed_allocation_returns_nomem_and_leaks_nothing)
{
    fixture f;
    fixture_binary(&f, 3, 600, 6, 40, 1, 2);
    nomem_sweep(&f, DEJA_WEIGHT_TF_IDF);
    nomem_sweep(&f, DEJA_WEIGHT_BINARY);
    fixture_free(&f);
    fixture_float(&f, 3, 4, 600, 6, 2);
    nomem_sweep(&f, DEJA_WEIGHT_IDF);
    fixture_free(&f);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void expect_invalid(const deja_vocab_params *p, const deja_features *sets, size_t n_sets,
                           const char *needle)
{
    deja_options o = opts(1);
    deja_vocab *v = (deja_vocab *)&o; /* must stay untouched */
    deja_status st = deja_vocab_train(&o, p, sets, n_sets, &v);
    EXPECT_EQ(st, DEJA_INVALID_ARG);
    EXPECT(v == (deja_vocab *)&o);
    if (!strstr(deja_last_error(), needle))
        TEST_FAIL_AT("message \"%s\" lacks \"%s\"", deja_last_error(), needle);
}

TEST(invalid_parameters_and_inputs_are_rejected_with_a_reason)
{
    uint8_t rows[4][32] = {{1}, {2}, {3}, {4}};
    float frows[4][4] = {{0}};
    deja_features good = {4, NULL, rows, DEJA_DESC_BINARY, 32};
    deja_vocab_params p = params(10, 6);
    deja_vocab_params bad = p;
    bad.k = 1;
    expect_invalid(&bad, &good, 1, "k = 1");
    bad.k = 257;
    expect_invalid(&bad, &good, 1, "k = 257");
    bad = p;
    bad.depth = 0;
    expect_invalid(&bad, &good, 1, "depth = 0");
    bad.depth = 17;
    expect_invalid(&bad, &good, 1, "depth = 17");
    bad = params(10, 8); /* 111M nodes */
    expect_invalid(&bad, &good, 1, "nodes");
    bad = params(256, 4);
    expect_invalid(&bad, &good, 1, "nodes");
    bad = p;
    bad.weighting = (deja_weighting)7;
    expect_invalid(&bad, &good, 1, "weighting");

    expect_invalid(&p, &good, 0, "no descriptors");
    expect_invalid(&p, NULL, 3, "NULL");
    deja_features empty[2] = {{0, NULL, NULL, DEJA_DESC_BINARY, 32}, {0}};
    expect_invalid(&p, empty, 2, "no descriptors");

    deja_features mixed[3] = {good, good, {4, NULL, frows, DEJA_DESC_FLOAT32, 16}};
    expect_invalid(&p, mixed, 3, "set 2");
    mixed[2] = (deja_features){4, NULL, rows, DEJA_DESC_BINARY, 16};
    expect_invalid(&p, mixed, 3, "set 2");
    mixed[1] = (deja_features){4, NULL, NULL, DEJA_DESC_BINARY, 32};
    expect_invalid(&p, mixed, 2, "set 1");
    mixed[0] = (deja_features){4, NULL, rows, (deja_desc_kind)9, 32};
    expect_invalid(&p, mixed, 1, "kind");
    mixed[0] = (deja_features){4, NULL, frows, DEJA_DESC_FLOAT32, 10};
    expect_invalid(&p, mixed, 1, "desc_bytes = 10");
    mixed[0] = (deja_features){4, NULL, rows, DEJA_DESC_BINARY, 0};
    expect_invalid(&p, mixed, 1, "desc_bytes = 0");
    mixed[0] = (deja_features){1, NULL, rows, DEJA_DESC_BINARY, 8193}; /* above the .dvoc limit */
    expect_invalid(&p, mixed, 1, "desc_bytes = 8193");

    deja_features fl[2] = {{4, NULL, frows, DEJA_DESC_FLOAT32, 16},
                           {4, NULL, frows, DEJA_DESC_FLOAT32, 16}};
    frows[2][3] = NAN;
    expect_invalid(&p, fl, 2, "set 0 descriptor 2 component 3");
    frows[2][3] = 0;
    frows[1][0] = -INFINITY;
    expect_invalid(&p, fl, 1, "set 0 descriptor 1 component 0");
    frows[1][0] = 1e30f;
    expect_invalid(&p, fl, 1, "descriptor 1");
    frows[1][0] = 0;

    deja_options o = opts(1);
    EXPECT_STATUS(deja_vocab_train(&o, &p, &good, 1, NULL), DEJA_INVALID_ARG);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, fl, 2, &v)); /* the same sets, repaired, train */
    deja_vocab_destroy(v);
    ASSERT_OK(deja_vocab_train(NULL, NULL, &good, 1, &v)); /* NULL options and params: defaults */
    EXPECT_EQ(v->n_words, 4);
    deja_vocab_destroy(v);
}

/* ---- progress ------------------------------------------------------------------------------- */

typedef struct {
    int calls;
    uint64_t last, total;
    int bad;
} progress_log;

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    progress_log *l = user;
    if (done < l->last || done > total || (l->total && total != l->total)) l->bad++;
    l->calls++;
    l->last = done;
    l->total = total;
}

TEST(progress_is_monotone_bounded_and_ends_at_total)
{
    fixture f;
    fixture_binary(&f, 1, 30000, 20, 256, 1, 77);
    deja_vocab_params p = params(10, 4);
    progress_log log = {0};
    p.progress = on_progress;
    p.progress_user = &log;
    deja_options o = opts(2);
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
    EXPECT_EQ(log.bad, 0);
    EXPECT_GE(log.calls, 5);
    EXPECT_LE(log.calls, 110);
    EXPECT_EQ(log.last, log.total);
    EXPECT_EQ(log.total, 30000ull * 5);
    deja_vocab_destroy(v);
    fixture_free(&f);
}

/* ---- timing (opt-in, not asserted) ---------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

TEST(large_random_run)
{
    const char *env = getenv("DEJA_TRAIN_BENCH");
    if (!env || !*env) SKIP("set DEJA_TRAIN_BENCH=1 (or =N descriptors) to time training");
    size_t n = strtoul(env, NULL, 10);
    if (n < 1000) n = 200000;
    /* Uniformly random bits, 1000 per set (an image's worth of ORB features). */
    fixture f;
    memset(&f, 0, sizeof f);
    f.n = n;
    f.n_sets = (n + 999) / 1000;
    f.rows = malloc(n * 32);
    uint64_t seed = 1234;
    for (size_t i = 0; i < n * 32; i++)
        f.rows[i] = (uint8_t)(rnd(&seed) >> 32);
    fixture_sets(&f, DEJA_DESC_BINARY, 32);
    deja_vocab_params p = params(10, 6);
    for (int threads = 1; threads <= 2; threads++) {
        deja_options o = opts(threads);
        deja_vocab *v;
        double t0 = now_s();
        ASSERT_OK(deja_vocab_train(&o, &p, f.sets, f.n_sets, &v));
        double t1 = now_s();
        fprintf(stderr,
                "  %zu random 32-byte descriptors, %zu sets, k=10 L=6, %d thread(s): "
                "%.2f s, %u nodes, %u words\n",
                n, f.n_sets, threads, t1 - t0, v->n_nodes, v->n_words);
        expect_words_cover(v);
        deja_vocab_destroy(v);
    }
    fixture_free(&f);
}
