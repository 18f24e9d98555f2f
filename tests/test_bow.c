/* test_bow.c - BoW transform against a brute-force descent written here, DBoW2 weighting per
 * scheme, L1 normalisation, the direct index, the L1 score, SCALAR vs SIMD, float vocabularies,
 * invalid input, out-of-memory, and zero allocations once warmed up. Vocabularies are built by
 * hand (random centroids) with deja__vocab_alloc, so no training code is involved. */
#include "simd.h"
#include "test.h"
#include "test_util.h"
#include "vocab.h"

static uint64_t rng = 0x243F6A8885A308D3ull; /* one stream for the whole file */

/* A tree in breadth-first order: every node above depth gets k children (irregular: a random
 * 0..k, so leaves appear at several levels and fan-outs differ; the root always gets k). */
static deja_vocab *build_vocab(deja_desc_kind kind, uint32_t desc_bytes, uint32_t k, uint32_t depth,
                               int irregular, deja_weighting weighting)
{
    size_t cap = 1024, n = 1;
    uint32_t *fan = malloc(cap * 4), *lvl = malloc(cap * 4);
    if (!fan || !lvl) return NULL;
    lvl[0] = 0;
    uint32_t leaves = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t f = 0;
        if (lvl[i] < depth) f = (irregular && i > 0) ? (uint32_t)(test_rnd(&rng) % (k + 1)) : k;
        fan[i] = f;
        leaves += f == 0;
        if (n + f > cap) {
            cap = (n + f) * 2;
            fan = realloc(fan, cap * 4), lvl = realloc(lvl, cap * 4);
            if (!fan || !lvl) return NULL;
        }
        for (uint32_t c = 0; c < f; c++)
            lvl[n++] = lvl[i] + 1;
    }
    deja_allocator a = deja__allocator(NULL);
    deja_vocab *v = NULL;
    if (deja__vocab_alloc(&a, kind, desc_bytes, (uint32_t)n, leaves, &v) != DEJA_OK) return NULL;
    uint32_t *cb = deja__vocab_child_begin_w(v), *nw = deja__vocab_node_word_w(v);
    float *ww = deja__vocab_word_weight_w(v);
    uint8_t *nd = deja__vocab_node_desc_w(v);
    cb[0] = 1;
    uint32_t word = 0;
    for (size_t i = 0; i < n; i++) {
        cb[i + 1] = cb[i] + fan[i];
        nw[i] = (fan[i] == 0) ? word++ : UINT32_MAX;
    }
    for (uint32_t w = 0; w < leaves; w++) {
        int unit = weighting == DEJA_WEIGHT_TF || weighting == DEJA_WEIGHT_BINARY;
        ww[w] = unit ? 1.0f : 0.1f + (float)(test_rnd(&rng) % 1000) / 333.0f;
    }
    if (kind == DEJA_DESC_BINARY) {
        for (size_t i = 0; i < n * desc_bytes; i++)
            nd[i] = (uint8_t)test_rnd(&rng);
    } else {
        float *fd = (float *)(void *)nd;
        for (size_t i = 0; i < n * desc_bytes / 4; i++)
            fd[i] = test_rndf(&rng);
    }
    v->weighting = weighting;
    free(fan), free(lvl);
    char err[DEJA_ERROR_BYTES];
    if (deja__vocab_validate(v, "test", err) != DEJA_OK) {
        fprintf(stderr, "  %s\n", err);
        deja_vocab_destroy(v);
        return NULL;
    }
    return v;
}

/* ---- brute force, independent of bow.c and the kernels ------------------------------------ */

typedef struct {
    uint32_t leaf, len;
    uint32_t path[DEJA_VOCAB_MAX_DEPTH + 1]; /* path[l] = node at level l, l <= len */
} walk;

static double distance(const deja_vocab *v, const uint8_t *q, uint32_t node)
{
    const uint8_t *c = v->node_desc + (size_t)node * v->desc_bytes;
    if (v->kind == DEJA_DESC_BINARY) {
        uint32_t d = 0;
        for (uint32_t i = 0; i < v->desc_bytes; i++)
            for (int bit = 0; bit < 8; bit++)
                d += ((q[i] ^ c[i]) >> bit) & 1u;
        return d;
    }
    /* Same arithmetic as the reference kernel (float, left to right), so SCALAR must agree
     * exactly even on near-ties. */
    float s = 0;
    for (uint32_t i = 0; i < v->desc_bytes / 4; i++) {
        float a, b;
        memcpy(&a, q + 4 * i, 4);
        memcpy(&b, c + 4 * i, 4);
        float d = a - b;
        s += d * d;
    }
    return s;
}

static void brute_descend(const deja_vocab *v, const uint8_t *q, walk *w)
{
    uint32_t node = 0;
    w->len = 0;
    w->path[0] = 0;
    while (v->child_begin[node] != v->child_begin[node + 1]) {
        uint32_t best = v->child_begin[node];
        double best_d = distance(v, q, best);
        for (uint32_t c = best + 1; c < v->child_begin[node + 1]; c++) {
            double d = distance(v, q, c);
            if (d < best_d) best_d = d, best = c; /* strict: ties keep the first */
        }
        node = best;
        w->path[++w->len] = node;
    }
    w->leaf = node;
}

static uint32_t node_at(const walk *w, uint32_t level)
{
    return level <= w->len ? w->path[level] : w->leaf;
}

static uint8_t *random_binary(size_t n, uint32_t bytes)
{
    uint8_t *d = malloc(n * bytes + 1);
    for (size_t i = 0; d && i < n * bytes; i++)
        d[i] = (uint8_t)test_rnd(&rng);
    return d;
}

static float *random_float(size_t n, uint32_t dim)
{
    float *d = malloc(n * dim * 4 + 4);
    for (size_t i = 0; d && i < n * dim; i++)
        d[i] = test_rndf(&rng);
    return d;
}

static deja_bow *make_bow(const deja_vocab *v, deja_simd simd)
{
    deja_options o = deja_options_default();
    o.simd = simd;
    deja_bow *b = NULL;
    if (deja_bow_create(&o, v, &b) != DEJA_OK) return NULL;
    return b;
}

/* Every structural property of a result, checked against the brute-force walks. */
static void check_result(const deja_vocab *v, const deja_bow_result *r, const walk *walks, size_t n,
                         uint32_t direct_level)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = v->node_word[walks[i].leaf];
        if (r->feature_words[i] != w) {
            TEST_FAIL_AT("feature %zu: word %u, brute force %u", i, r->feature_words[i], w);
            return;
        }
        kept += v->word_weight[w] > 0;
    }
    /* Vector: words strictly ascending, weights positive, L1 norm 1. */
    double l1 = 0;
    for (size_t j = 0; j < r->bow.n; j++) {
        if (j > 0) ASSERT(r->bow.words[j] > r->bow.words[j - 1]);
        ASSERT(r->bow.words[j] < v->n_words);
        ASSERT(r->bow.weights[j] > 0);
        l1 += r->bow.weights[j];
    }
    if (kept > 0)
        EXPECT_NEAR(l1, 1.0, 1e-5);
    else
        EXPECT_EQ(r->bow.n, 0);
    /* Direct index: nodes ascending, every kept feature exactly once, features ascending within
     * a node, each under its ancestor at direct_level. */
    const deja_direct_index *d = &r->direct;
    EXPECT_EQ(d->offsets[0], 0);
    ASSERT_EQ(d->offsets[d->n_nodes], kept);
    unsigned char *seen = calloc(n + 1, 1);
    for (size_t j = 0; j < d->n_nodes; j++) {
        if (j > 0) ASSERT(d->nodes[j] > d->nodes[j - 1]);
        ASSERT(d->offsets[j + 1] > d->offsets[j]);
        for (uint32_t e = d->offsets[j]; e < d->offsets[j + 1]; e++) {
            uint32_t f = d->features[e];
            ASSERT(f < n);
            if (e > d->offsets[j]) ASSERT(f > d->features[e - 1]);
            ASSERT(!seen[f]);
            seen[f] = 1;
            ASSERT_EQ(d->nodes[j], node_at(&walks[f], direct_level));
        }
    }
    for (size_t i = 0; i < n; i++)
        EXPECT_EQ(seen[i], v->word_weight[v->node_word[walks[i].leaf]] > 0);
    free(seen);
}

/* Expected weights by hand, per DBoW2's rules, for the brute-force words. */
static void check_weights(const deja_vocab *v, const deja_bow_result *r, const walk *walks,
                          size_t n)
{
    double *raw = calloc(v->n_words, sizeof *raw);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = v->node_word[walks[i].leaf];
        double idf = v->word_weight[w];
        if (idf <= 0) continue;
        switch (v->weighting) {
        case DEJA_WEIGHT_TF_IDF: /* idf per occurrence */
        case DEJA_WEIGHT_TF:     /* stored weight is 1: a count */
            raw[w] += idf;
            break;
        case DEJA_WEIGHT_IDF: /* idf once */
        case DEJA_WEIGHT_BINARY:
            raw[w] = idf;
            break;
        }
    }
    size_t distinct = 0;
    for (uint32_t w = 0; w < v->n_words; w++)
        sum += raw[w], distinct += raw[w] > 0;
    ASSERT_EQ(r->bow.n, distinct);
    for (size_t j = 0; j < r->bow.n; j++) {
        uint32_t w = r->bow.words[j];
        EXPECT_NEAR(r->bow.weights[j], raw[w] / sum, 1e-6);
        if (v->weighting == DEJA_WEIGHT_BINARY)
            EXPECT_NEAR(r->bow.weights[j], 1.0 / distinct, 1e-6);
    }
    free(raw);
}

static void transform_and_check(deja_vocab *v, size_t n, const void *desc, uint32_t level)
{
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b);
    walk *walks = malloc((n + 1) * sizeof *walks);
    for (size_t i = 0; i < n; i++)
        brute_descend(v, (const uint8_t *)desc + i * v->desc_bytes, &walks[i]);
    deja_features f = {n, NULL, desc, v->kind, v->desc_bytes};
    deja_bow_result r;
    deja_status st = deja_bow_transform(b, &f, level, &r);
    if (st != DEJA_OK) TEST_FAIL_AT("transform: %s", deja_bow_error(b));
    if (st == DEJA_OK) {
        check_result(v, &r, walks, n, level);
        check_weights(v, &r, walks, n);
    }
    free(walks);
    deja_bow_destroy(b);
}

TEST(words_match_a_brute_force_descent_k4_depth3)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 3, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    EXPECT_EQ(v->n_words, 64);
    EXPECT_EQ(v->depth, 3);
    uint8_t *desc = random_binary(1000, 32);
    for (uint32_t level = 0; level <= 4; level++)
        transform_and_check(v, 1000, desc, level);
    free(desc);
    deja_vocab_destroy(v);
}

TEST(irregular_trees_with_shallow_leaves_and_odd_descriptor_lengths)
{
    static const uint32_t lengths[] = {1, 7, 33, 61};
    for (size_t li = 0; li < 4; li++) {
        deja_vocab *v = build_vocab(DEJA_DESC_BINARY, lengths[li], 6, 4, 1, DEJA_WEIGHT_TF_IDF);
        ASSERT(v);
        uint8_t *desc = random_binary(700, lengths[li]);
        for (uint32_t level = 0; level <= 5; level += 2)
            transform_and_check(v, 700, desc, level);
        free(desc);
        deja_vocab_destroy(v);
    }
}

TEST(weights_follow_each_dbow2_weighting)
{
    static const deja_weighting schemes[] = {DEJA_WEIGHT_TF_IDF, DEJA_WEIGHT_TF, DEJA_WEIGHT_IDF,
                                             DEJA_WEIGHT_BINARY};
    for (int s = 0; s < 4; s++) {
        /* k=3, depth 2: 9 words for 200 features, so words repeat and counts matter. */
        deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 3, 2, 0, schemes[s]);
        ASSERT(v);
        uint8_t *desc = random_binary(200, 32);
        transform_and_check(v, 200, desc, 1);
        free(desc);
        deja_vocab_destroy(v);
    }
}

TEST(hand_computed_tf_idf_vector)
{
    /* Root with two leaves: descriptor 0x00.. goes to leaf 1 (word 0, idf 2), 0xFF.. to leaf 2
     * (word 1, idf 0.5). Three features on word 0 and one on word 1: raw 6 and 0.5. */
    deja_allocator a = deja__allocator(NULL);
    deja_vocab *v;
    ASSERT_OK(deja__vocab_alloc(&a, DEJA_DESC_BINARY, 4, 3, 2, &v));
    uint32_t *cb = deja__vocab_child_begin_w(v), *nw = deja__vocab_node_word_w(v);
    cb[0] = 1, cb[1] = 3, cb[2] = 3, cb[3] = 3;
    nw[0] = UINT32_MAX, nw[1] = 0, nw[2] = 1;
    deja__vocab_word_weight_w(v)[0] = 2.0f;
    deja__vocab_word_weight_w(v)[1] = 0.5f;
    memset(deja__vocab_node_desc_w(v) + 8, 0xFF, 4);
    ASSERT_OK(deja__vocab_validate(v, "hand", NULL));
    uint8_t desc[4][4] = {{0, 0, 0, 1}, {0xFF, 0xFF, 0xFF, 0}, {0, 0, 0, 0}, {0x10, 0, 0, 0}};
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b);
    deja_features f = {4, NULL, desc, DEJA_DESC_BINARY, 4};
    deja_bow_result r;
    ASSERT_OK(deja_bow_transform(b, &f, 1, &r));
    ASSERT_EQ(r.bow.n, 2);
    EXPECT_EQ(r.bow.words[0], 0);
    EXPECT_EQ(r.bow.words[1], 1);
    EXPECT_NEAR(r.bow.weights[0], 6.0 / 6.5, 1e-7);
    EXPECT_NEAR(r.bow.weights[1], 0.5 / 6.5, 1e-7);
    EXPECT_EQ(r.feature_words[0], 0);
    EXPECT_EQ(r.feature_words[1], 1);
    EXPECT_EQ(r.feature_words[2], 0);
    EXPECT_EQ(r.feature_words[3], 0);
    ASSERT_EQ(r.direct.n_nodes, 2);
    EXPECT_EQ(r.direct.nodes[0], 1);
    EXPECT_EQ(r.direct.nodes[1], 2);
    EXPECT_EQ(r.direct.offsets[1], 3);
    EXPECT_EQ(r.direct.features[0], 0);
    EXPECT_EQ(r.direct.features[1], 2);
    EXPECT_EQ(r.direct.features[2], 3);
    EXPECT_EQ(r.direct.features[3], 1);
    /* IDF: each word once -> 2 / 2.5 and 0.5 / 2.5. */
    v->weighting = DEJA_WEIGHT_IDF;
    ASSERT_OK(deja_bow_transform(b, &f, 1, &r));
    EXPECT_NEAR(r.bow.weights[0], 0.8, 1e-7);
    EXPECT_NEAR(r.bow.weights[1], 0.2, 1e-7);
    deja_bow_destroy(b);
    deja_vocab_destroy(v);
}

TEST(ties_go_to_the_first_child)
{
    /* All centroids equal: every comparison is a tie, so every feature takes child 0 at each
     * level and lands on the first leaf. */
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 5, 3, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    memset(deja__vocab_node_desc_w(v), 0x5A, (size_t)v->n_nodes * 32);
    uint8_t *desc = random_binary(50, 32);
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b);
    deja_features f = {50, NULL, desc, DEJA_DESC_BINARY, 32};
    deja_bow_result r;
    ASSERT_OK(deja_bow_transform(b, &f, 2, &r));
    uint32_t first_leaf = v->child_begin[v->child_begin[v->child_begin[0]]];
    for (size_t i = 0; i < 50; i++)
        EXPECT_EQ(r.feature_words[i], v->node_word[first_leaf]);
    ASSERT_EQ(r.direct.n_nodes, 1);
    EXPECT_EQ(r.direct.nodes[0], v->child_begin[v->child_begin[0]]);
    EXPECT_EQ(r.bow.n, 1);
    EXPECT_NEAR(r.bow.weights[0], 1.0, 1e-7);
    deja_bow_destroy(b);
    free(desc);
    deja_vocab_destroy(v);
}

TEST(stop_words_are_left_out_of_vector_and_direct_index)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 2, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    float *ww = deja__vocab_word_weight_w(v);
    for (uint32_t w = 0; w < v->n_words; w += 2)
        ww[w] = 0; /* every other word stopped */
    uint8_t *desc = random_binary(300, 32);
    transform_and_check(v, 300, desc, 1); /* check_result expects stopped features absent */
    /* All words stopped: an empty vector and an empty direct index, still OK. */
    for (uint32_t w = 0; w < v->n_words; w++)
        ww[w] = 0;
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b);
    deja_features f = {300, NULL, desc, DEJA_DESC_BINARY, 32};
    deja_bow_result r;
    ASSERT_OK(deja_bow_transform(b, &f, 1, &r));
    EXPECT_EQ(r.bow.n, 0);
    EXPECT_EQ(r.direct.n_nodes, 0);
    EXPECT_EQ(r.direct.offsets[0], 0);
    deja_bow_destroy(b);
    free(desc);
    deja_vocab_destroy(v);
}

TEST(float_vocabularies_match_brute_force)
{
    for (uint32_t dim = 1; dim <= 130; dim += 43) {
        deja_vocab *v = build_vocab(DEJA_DESC_FLOAT32, dim * 4, 5, 3, dim > 1, DEJA_WEIGHT_TF_IDF);
        ASSERT(v);
        float *desc = random_float(400, dim);
        deja_bow *b = make_bow(v, DEJA_SIMD_SCALAR);
        ASSERT(b);
        walk *walks = malloc(400 * sizeof *walks);
        for (size_t i = 0; i < 400; i++)
            brute_descend(v, (const uint8_t *)(desc + i * dim), &walks[i]);
        deja_features f = {400, NULL, desc, DEJA_DESC_FLOAT32, dim * 4};
        deja_bow_result r;
        ASSERT_OK(deja_bow_transform(b, &f, 2, &r));
        check_result(v, &r, walks, 400, 2);
        check_weights(v, &r, walks, 400);
        free(walks);
        deja_bow_destroy(b);
        free(desc);
        deja_vocab_destroy(v);
    }
}

static void expect_same_result(const deja_bow_result *x, const deja_bow_result *y, size_t n)
{
    ASSERT_EQ(x->bow.n, y->bow.n);
    EXPECT(memcmp(x->bow.words, y->bow.words, x->bow.n * 4) == 0);
    EXPECT(memcmp(x->bow.weights, y->bow.weights, x->bow.n * 4) == 0);
    EXPECT(memcmp(x->feature_words, y->feature_words, n * 4) == 0);
    ASSERT_EQ(x->direct.n_nodes, y->direct.n_nodes);
    EXPECT(memcmp(x->direct.nodes, y->direct.nodes, x->direct.n_nodes * 4) == 0);
    EXPECT(memcmp(x->direct.offsets, y->direct.offsets, (x->direct.n_nodes + 1) * 4) == 0);
    EXPECT(memcmp(x->direct.features, y->direct.features,
                  x->direct.offsets[x->direct.n_nodes] * 4) == 0);
}

TEST(scalar_and_best_simd_give_identical_results)
{
    deja_simd best = deja_simd_detect();
    fprintf(stderr, "  scalar vs %s\n", deja_simd_name(best));
    for (int kind = 0; kind < 2; kind++) {
        uint32_t bytes = kind == 0 ? 32 : 64 * 4;
        deja_vocab *v = build_vocab(kind == 0 ? DEJA_DESC_BINARY : DEJA_DESC_FLOAT32, bytes, 8, 3,
                                    0, DEJA_WEIGHT_TF_IDF);
        ASSERT(v);
        void *desc = kind == 0 ? (void *)random_binary(1000, 32) : (void *)random_float(1000, 64);
        deja_bow *s = make_bow(v, DEJA_SIMD_SCALAR), *x = make_bow(v, best);
        ASSERT(s && x);
        deja_features f = {1000, NULL, desc, v->kind, bytes};
        deja_bow_result rs, rx;
        ASSERT_OK(deja_bow_transform(s, &f, 2, &rs));
        ASSERT_OK(deja_bow_transform(x, &f, 2, &rx));
        expect_same_result(&rs, &rx, 1000);
        deja_bow_destroy(s);
        deja_bow_destroy(x);
        free(desc);
        deja_vocab_destroy(v);
    }
}

TEST(empty_input_gives_an_empty_result)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 2, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b);
    deja_features f = {0, NULL, NULL, DEJA_DESC_BINARY, 32};
    deja_bow_result r;
    ASSERT_OK(deja_bow_transform(b, &f, 1, &r));
    EXPECT_EQ(r.bow.n, 0);
    EXPECT_EQ(r.direct.n_nodes, 0);
    ASSERT(r.direct.offsets);
    EXPECT_EQ(r.direct.offsets[0], 0);
    EXPECT_EQ(deja_bow_score_l1(&r.bow, &r.bow), 0);
    deja_bow_destroy(b);
    deja_vocab_destroy(v);
}

TEST(invalid_input_is_reported_and_leaves_out_alone)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 2, 0, DEJA_WEIGHT_TF_IDF);
    deja_vocab *vf = build_vocab(DEJA_DESC_FLOAT32, 16, 4, 2, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v && vf);
    deja_bow *b = make_bow(v, DEJA_SIMD_AUTO), *bf = make_bow(vf, DEJA_SIMD_AUTO);
    ASSERT(b && bf);
    uint8_t desc[10 * 32] = {0};
    deja_bow_result r, before;
    memset(&r, 0x77, sizeof r);
    before = r;
    deja_features f = {10, NULL, NULL, DEJA_DESC_BINARY, 32};
    EXPECT_STATUS(deja_bow_transform(b, &f, 1, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_bow_error(b), "descriptors is NULL") != NULL);
    f.descriptors = desc;
    f.desc_bytes = 16;
    EXPECT_STATUS(deja_bow_transform(b, &f, 1, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_bow_error(b), "bow.c:") == deja_bow_error(b));
    f.desc_bytes = 32;
    f.kind = DEJA_DESC_FLOAT32;
    EXPECT_STATUS(deja_bow_transform(b, &f, 1, &r), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_bow_transform(b, NULL, 1, &r), DEJA_INVALID_ARG);
    f.kind = DEJA_DESC_BINARY;
    EXPECT_STATUS(deja_bow_transform(b, &f, 1, NULL), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_bow_transform(NULL, &f, 1, &r), DEJA_INVALID_ARG);
    /* NaN and infinity in float descriptors name the feature. */
    float fd[10 * 4];
    for (int i = 0; i < 40; i++)
        fd[i] = test_rndf(&rng);
    fd[7 * 4 + 2] = NAN;
    deja_features ff = {10, NULL, fd, DEJA_DESC_FLOAT32, 16};
    EXPECT_STATUS(deja_bow_transform(bf, &ff, 1, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_bow_error(bf), "feature 7") != NULL);
    EXPECT(strstr(deja_bow_error(bf), "NaN") != NULL);
    fd[7 * 4 + 2] = 0;
    fd[3 * 4] = -INFINITY;
    EXPECT_STATUS(deja_bow_transform(bf, &ff, 1, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_bow_error(bf), "feature 3") != NULL);
    EXPECT(memcmp(&r, &before, sizeof r) == 0);
    fd[3 * 4] = 1;
    EXPECT_STATUS(deja_bow_transform(bf, &ff, 1, &r), DEJA_OK); /* the handle still works */
    /* create */
    deja_bow *nb = NULL;
    EXPECT_STATUS(deja_bow_create(NULL, NULL, &nb), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_bow_create(NULL, v, NULL), DEJA_INVALID_ARG);
    deja_options o = deja_options_default();
#if defined(__aarch64__)
    o.simd = DEJA_SIMD_AVX2;
#else
    o.simd = DEJA_SIMD_NEON;
#endif
    EXPECT_STATUS(deja_bow_create(&o, v, &nb), DEJA_UNSUPPORTED);
    EXPECT(strstr(deja_last_error(), deja_simd_name(o.simd)) != NULL);
    EXPECT(nb == NULL);
    deja_bow_destroy(NULL);
    EXPECT(strcmp(deja_bow_error(NULL), "") == 0);
    deja_bow_destroy(b);
    deja_bow_destroy(bf);
    deja_vocab_destroy(v);
    deja_vocab_destroy(vf);
}

static deja_bow_vector vec(size_t n, const uint32_t *w, const float *x)
{
    return (deja_bow_vector){n, w, x};
}

TEST(l1_score_properties)
{
    uint32_t wa[] = {1, 2}, wb[] = {2, 3}, wc[] = {5, 9};
    float xa[] = {0.5f, 0.5f}, xb[] = {0.25f, 0.75f}, xc[] = {0.9f, 0.1f};
    deja_bow_vector a = vec(2, wa, xa), b = vec(2, wb, xb), c = vec(2, wc, xc);
    /* 1 - 0.5 * (0.5 + 0.25 + 0.75) = 0.25 */
    EXPECT_NEAR(deja_bow_score_l1(&a, &b), 0.25, 1e-7);
    EXPECT_NEAR(deja_bow_score_l1(&b, &a), 0.25, 1e-7);
    EXPECT_NEAR(deja_bow_score_l1(&a, &a), 1.0, 1e-7);
    EXPECT_EQ(deja_bow_score_l1(&a, &c), 0); /* disjoint */
    EXPECT_EQ(deja_bow_score_l1(&a, NULL), 0);
    /* Frames of the same tree: identical -> 1, symmetric, within [0, 1], and a frame scores
     * higher against a copy with a few features changed than against an unrelated frame. */
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 10, 3, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    deja_bow *b1 = make_bow(v, DEJA_SIMD_AUTO), *b2 = make_bow(v, DEJA_SIMD_AUTO),
             *b3 = make_bow(v, DEJA_SIMD_AUTO);
    ASSERT(b1 && b2 && b3);
    uint8_t *d1 = random_binary(500, 32), *d3 = random_binary(500, 32), *d2 = malloc(500 * 32);
    memcpy(d2, d1, 500 * 32);
    memcpy(d2, d3, 50 * 32); /* 10% replaced */
    deja_features f1 = {500, NULL, d1, DEJA_DESC_BINARY, 32}, f2 = f1, f3 = f1;
    f2.descriptors = d2;
    f3.descriptors = d3;
    deja_bow_result r1, r2, r3;
    ASSERT_OK(deja_bow_transform(b1, &f1, 0, &r1));
    ASSERT_OK(deja_bow_transform(b2, &f2, 0, &r2));
    ASSERT_OK(deja_bow_transform(b3, &f3, 0, &r3));
    EXPECT_NEAR(deja_bow_score_l1(&r1.bow, &r1.bow), 1.0, 1e-6);
    float s12 = deja_bow_score_l1(&r1.bow, &r2.bow), s21 = deja_bow_score_l1(&r2.bow, &r1.bow);
    float s13 = deja_bow_score_l1(&r1.bow, &r3.bow);
    EXPECT_NEAR(s12, s21, 1e-6);
    EXPECT_GE(s13, 0);
    EXPECT_LE(s12, 1);
    EXPECT(s12 > s13 + 0.3f);
    /* Against the merged definition 1 - 0.5 * sum |a_i - b_i| computed densely. */
    double *dense = calloc(v->n_words, sizeof *dense);
    for (size_t j = 0; j < r1.bow.n; j++)
        dense[r1.bow.words[j]] += r1.bow.weights[j];
    for (size_t j = 0; j < r3.bow.n; j++)
        dense[r3.bow.words[j]] -= r3.bow.weights[j];
    double l1 = 0;
    for (uint32_t w = 0; w < v->n_words; w++)
        l1 += fabs(dense[w]);
    EXPECT_NEAR(s13, 1 - 0.5 * l1, 1e-5);
    free(dense), free(d1), free(d2), free(d3);
    deja_bow_destroy(b1), deja_bow_destroy(b2), deja_bow_destroy(b3);
    deja_vocab_destroy(v);
}

TEST(steady_state_frames_allocate_nothing)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 3, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_bow *b;
    ASSERT_OK(deja_bow_create(&o, v, &b));
    uint8_t *desc = malloc(1000 * 32);
    ASSERT(desc);
    size_t after_warmup = 0;
    for (int frame = 0; frame < 500; frame++) {
        /* Growing sizes first (10, 300, 1000), then 1000 per frame as the brief frame size. */
        size_t n = frame == 0 ? 10 : frame == 1 ? 300 : 1000;
        for (size_t i = 0; i < n * 32; i++)
            desc[i] = (uint8_t)test_rnd(&rng);
        deja_features f = {n, NULL, desc, DEJA_DESC_BINARY, 32};
        deja_bow_result r;
        ASSERT_OK(deja_bow_transform(b, &f, (uint32_t)(frame % 4), &r));
        ASSERT_EQ(r.direct.offsets[r.direct.n_nodes], n);
        if (frame == 4) after_warmup = c.calls;
    }
    EXPECT_EQ(c.calls, after_warmup);
    deja_bow_destroy(b);
    EXPECT_EQ(c.live, 0);
    free(desc);
    deja_vocab_destroy(v);
}

TEST(out_of_memory_at_every_allocation_is_reported_and_recoverable)
{
    deja_vocab *v = build_vocab(DEJA_DESC_BINARY, 32, 4, 3, 0, DEJA_WEIGHT_TF_IDF);
    ASSERT(v);
    uint8_t *desc = random_binary(200, 32);
    deja_features f = {200, NULL, desc, DEJA_DESC_BINARY, 32};
    deja_bow *ref = make_bow(v, DEJA_SIMD_SCALAR);
    ASSERT(ref);
    deja_bow_result want;
    ASSERT_OK(deja_bow_transform(ref, &f, 2, &want));
    int failures = 0;
    for (size_t k = 1; k < 40; k++) {
        test_counter c = {.fail_at = k};
        deja_options o = test_counting_options(&c);
        deja_bow *b = NULL;
        deja_status st = deja_bow_create(&o, v, &b);
        deja_bow_result r;
        if (st == DEJA_OK) st = deja_bow_transform(b, &f, 2, &r);
        if (st == DEJA_OK) {
            expect_same_result(&want, &r, 200);
        } else {
            EXPECT_EQ(st, DEJA_NOMEM);
            failures++;
            if (b) { /* a failed transform leaves a working handle */
                c.fail_at = 0;
                ASSERT_OK(deja_bow_transform(b, &f, 2, &r));
                expect_same_result(&want, &r, 200);
            }
        }
        deja_bow_destroy(b);
        EXPECT_EQ(c.live, 0);
    }
    EXPECT_GE(failures, 2); /* the handle and at least one buffer */
    deja_bow_destroy(ref);
    free(desc);
    deja_vocab_destroy(v);
}
