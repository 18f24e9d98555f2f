/* test_index.c - the inverted-index database against brute force: top-K equal to scoring every
 * earlier frame with deja_bow_score_l1 (and a dense reference per scoring) within the compact
 * postings' rounding bound, cut-off windows, deterministic ties, gaps coded with skip slots,
 * stored vectors and their absence, invalid input, limits, zero allocations after reserve, an
 * out-of-memory sweep, and that a query reads exactly its words' postings however many unrelated
 * frames exist. `DEJA_BENCH_INDEX=1 ./test_index bench_zipf` measures time and memory per frame
 * (Zipf-distributed words over a 10^6-word vocabulary); it is skipped otherwise. */
#include "index.h"
#include "test.h"

#include <float.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* ---- vectors ----------------------------------------------------------------------------- */

typedef struct vec {
    size_t n;
    uint32_t *words;
    float *weights;
} vec;

static deja_bow_vector view(const vec *v)
{
    return (deja_bow_vector){v->n, v->words, v->weights};
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* n distinct random words < n_words (ascending), positive weights summing to 1. */
static vec random_vec(uint32_t n_words, size_t n)
{
    vec v = {0};
    v.words = malloc((n ? n : 1) * 4);
    v.weights = malloc((n ? n : 1) * 4);
    for (size_t i = 0; i < n; i++)
        v.words[i] = (uint32_t)(rnd() % n_words);
    qsort(v.words, n, 4, cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (v.n == 0 || v.words[i] != v.words[v.n - 1]) v.words[v.n++] = v.words[i];
    double sum = 0;
    for (size_t i = 0; i < v.n; i++)
        sum += v.weights[i] = (float)(0.05 + rnd01());
    for (size_t i = 0; i < v.n; i++)
        v.weights[i] = (float)(v.weights[i] / sum);
    return v;
}

/* A revisit of an earlier place: most of its words kept with jittered weights, some new. */
static vec revisit(const vec *src, uint32_t n_words)
{
    vec extra = random_vec(n_words, src->n / 4 + 1);
    vec v = {0};
    v.words = malloc((src->n + extra.n) * 4);
    v.weights = malloc((src->n + extra.n) * 4);
    size_t i = 0, j = 0;
    while (i < src->n || j < extra.n) {
        int take_src = j >= extra.n || (i < src->n && src->words[i] <= extra.words[j]);
        uint32_t w = take_src ? src->words[i] : extra.words[j];
        float x = take_src ? src->weights[i] * (float)(0.5 + rnd01()) : extra.weights[j];
        if (take_src && j < extra.n && extra.words[j] == w) j++;
        if (take_src)
            i++;
        else
            j++;
        if (take_src && rnd() % 5 == 0) continue; /* lose a word */
        v.words[v.n] = w;
        v.weights[v.n++] = x;
    }
    double sum = 0;
    for (size_t k = 0; k < v.n; k++)
        sum += v.weights[k];
    for (size_t k = 0; k < v.n; k++)
        v.weights[k] = (float)(v.weights[k] / sum);
    free(extra.words);
    free(extra.weights);
    return v;
}

static void vec_free(vec *v)
{
    free(v->words);
    free(v->weights);
    memset(v, 0, sizeof *v);
}

/* A sequence: random frames, every fourth a revisit of a random earlier one. */
static vec *make_frames(size_t n, uint32_t n_words, size_t lo, size_t hi)
{
    vec *f = calloc(n, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        if (i > 10 && i % 4 == 0)
            f[i] = revisit(&f[rnd() % (i - 5)], n_words);
        else
            f[i] = random_vec(n_words, lo + (size_t)(rnd() % (hi - lo + 1)));
    }
    return f;
}

static void frames_free(vec *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vec_free(&f[i]);
    free(f);
}

/* ---- references -------------------------------------------------------------------------- */

static int share_word(const vec *a, const vec *b)
{
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->words[i] == b->words[j]) return 1;
        if (a->words[i] < b->words[j])
            i++;
        else
            j++;
    }
    return 0;
}

/* DBoW2's scores written densely over the whole vocabulary (qd, dd: scratch of n_words). */
static double dense_score(deja__index_scoring s, const vec *q, const vec *d, uint32_t n_words,
                          double *qd, double *dd)
{
    memset(qd, 0, n_words * sizeof *qd);
    memset(dd, 0, n_words * sizeof *dd);
    for (size_t i = 0; i < q->n; i++)
        qd[q->words[i]] = q->weights[i];
    for (size_t i = 0; i < d->n; i++)
        dd[d->words[i]] = d->weights[i];
    double qn = 0, dn = 0, r = 0;
    for (uint32_t w = 0; w < n_words; w++)
        qn += qd[w] * qd[w], dn += dd[w] * dd[w];
    qn = sqrt(qn), dn = sqrt(dn);
    for (uint32_t w = 0; w < n_words; w++) {
        double x = qd[w], y = dd[w];
        switch (s) {
        case DEJA__SCORE_L1:
            r += fabs(x - y);
            break;
        case DEJA__SCORE_L2:
            r += (x / qn - y / dn) * (x / qn - y / dn);
            break;
        case DEJA__SCORE_CHI_SQUARE:
            if (x + y > 0) r += (x - y) * (x - y) / (x + y);
            break;
        case DEJA__SCORE_KL:
            if (x > 0) r += x * (log(x) - (y > 0 ? log(y) : log(DBL_EPSILON)));
            break;
        case DEJA__SCORE_BHATTACHARYYA:
            r += sqrt(x * y);
            break;
        case DEJA__SCORE_DOT:
            r += x * y;
            break;
        }
    }
    switch (s) {
    case DEJA__SCORE_L1:
        return 1 - 0.5 * r;
    case DEJA__SCORE_L2:
        return 1 - sqrt(r) / sqrt(2.0); /* |q - d|_2 = sqrt(2 - 2 q.d) */
    case DEJA__SCORE_CHI_SQUARE:
        return 1 - 0.5 * r; /* = 2 sum qd/(q+d) for unit vectors */
    default:
        return r;
    }
}

typedef struct ref {
    uint32_t frame;
    double score, key; /* key: larger is better */
} ref;

/* Compact postings (L1, L2, chi-square, Bhattacharyya) keep each stored value with 11 mantissa
 * bits, rounded to nearest: relative error <= 2^-12 for values >= 2^-24 (all weights here). Each
 * of these scorings sums terms that move by at most that relative amount when the stored value
 * does: min(q, d) (if d < q: |d' - d|; else it changes only when d' < q < d, by q - d' <= eps q),
 * q d, q sqrt(d) (sqrt d stored), q d / (q + d) (relative change q / (q + d) <= 1 times d's). So
 * the sum is within 2^-12 of itself, and L2's score 1 - sqrt(1 - sum) is that mapped through the
 * curve (steep near 1). KL and DOT keep f32 values: no bound beyond the usual tolerance. */
#define QREL (1.0 / 4096)

static double quant_bound(deja__index_scoring s, double score)
{
    switch (s) {
    case DEJA__SCORE_L1:
    case DEJA__SCORE_CHI_SQUARE:
    case DEJA__SCORE_BHATTACHARYYA:
        return QREL * score;
    case DEJA__SCORE_L2: {
        double sum = 1 - (1 - score) * (1 - score);
        double hi = fmin(1, sum * (1 + QREL)), lo = sum * (1 - QREL);
        return fmax((1 - sqrt(1 - hi)) - score, score - (1 - sqrt(1 - lo)));
    }
    default:
        return 0;
    }
}

static int cmp_ref(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return (x->frame > y->frame) - (x->frame < y->frame);
}

/* Brute force: every frame < limit sharing a word with q, scored, best first. dense: use
 * dense_score (else deja_bow_score_l1). Returns the count; out has room for n_frames. */
static size_t brute(deja__index_scoring s, const vec *q, const vec *frames, uint32_t n_frames,
                    uint32_t limit, int dense, uint32_t n_words, double *qd, double *dd, ref *out)
{
    size_t n = 0;
    for (uint32_t f = 0; f < n_frames && f < limit; f++) {
        if (!share_word(q, &frames[f])) continue;
        double sc;
        if (dense) {
            sc = dense_score(s, q, &frames[f], n_words, qd, dd);
        } else {
            deja_bow_vector a = view(q), b = view(&frames[f]);
            sc = deja_bow_score_l1(&a, &b);
        }
        out[n++] = (ref){f, sc, s == DEJA__SCORE_KL ? -sc : sc};
    }
    qsort(out, n, sizeof *out, cmp_ref);
    return n;
}

/* The index's answer equals the reference's first top_k: the same number of distinct frames,
 * each a candidate whose reference score is within tol plus the rounding bound of the returned
 * one, in the reference's order except where two frames' reference scores are within their
 * rounding bounds (+1e-6): such near-ties may swap. Returns the number of swapped positions. */
static int check_topk(deja__index_scoring s, const deja__index_result *got, size_t n_got,
                      const ref *want, size_t n_want, size_t top_k, double tol, const char *what)
{
    size_t n = n_want < top_k ? n_want : top_k;
    int swaps = 0;
    if (n_got != n) {
        TEST_FAIL_AT("%s: %zu results, expected %zu", what, n_got, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const ref *g = NULL;
        for (size_t j = 0; j < n_want && !g; j++)
            if (want[j].frame == got[i].frame) g = &want[j];
        for (size_t j = 0; j < i; j++)
            if (got[j].frame == got[i].frame)
                TEST_FAIL_AT("%s: frame %u returned twice", what, got[i].frame);
        if (!g) {
            TEST_FAIL_AT("%s: result %zu is frame %u, not a candidate", what, i, got[i].frame);
            continue;
        }
        double qg = quant_bound(s, g->score), qw = quant_bound(s, want[i].score);
        if (fabs(got[i].score - g->score) > tol + qg)
            TEST_FAIL_AT("%s: result %zu: frame %u score %.8f, its reference %.8f (+- %.2g)", what,
                         i, got[i].frame, (double)got[i].score, g->score, tol + qg);
        if (got[i].frame != want[i].frame) {
            if (!(fabs(g->score - want[i].score) <= qg + qw + 1e-6))
                TEST_FAIL_AT("%s: result %zu is frame %u (%.8f), expected %u (%.8f)", what, i,
                             got[i].frame, g->score, want[i].frame, want[i].score);
            swaps++;
        }
    }
    return swaps;
}

/* ---- counting allocator ------------------------------------------------------------------ */

typedef struct counter {
    size_t calls, live, peak;
    long fail_at; /* the call (0-based) that returns NULL; -1: never */
} counter;

static void *count_alloc(void *user, size_t bytes)
{
    counter *c = user;
    if ((long)c->calls++ == c->fail_at) return NULL;
    c->live += bytes;
    if (c->live > c->peak) c->peak = c->live;
    return malloc(bytes);
}

static void count_free(void *user, void *p, size_t bytes)
{
    counter *c = user;
    c->live -= bytes;
    free(p);
}

static deja_allocator plain(void)
{
    return deja__allocator(NULL);
}

/* ---- tests ------------------------------------------------------------------------------- */

TEST(create_rejects_bad_arguments)
{
    deja_allocator a = plain();
    deja__index *ix = NULL;
    EXPECT_STATUS(deja__index_create(&a, 0, DEJA__SCORE_L1, 0, &ix), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_last_error(), "vocabulary words") != NULL);
    EXPECT_STATUS(deja__index_create(&a, DEJA__INDEX_MAX_WORDS + 1, DEJA__SCORE_L1, 0, &ix),
                  DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_create(&a, 10, (deja__index_scoring)6, 0, &ix), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_create(&a, 10, DEJA__SCORE_L1, 0, NULL), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_create(NULL, 10, DEJA__SCORE_L1, 0, &ix), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_create(&a, 10, DEJA__SCORE_L1, 2, &ix), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_last_error(), "unknown flags 0x2") != NULL);
    EXPECT(ix == NULL);
    deja__index_destroy(NULL);
}

TEST(query_on_empty_index_returns_nothing)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 1000, DEJA__SCORE_L1, 0, &ix));
    vec q = random_vec(1000, 50);
    deja_bow_vector qv = view(&q);
    deja__index_result r[4];
    size_t n = 99;
    ASSERT_OK(deja__index_query(ix, &qv, UINT32_MAX, 4, r, &n));
    EXPECT_EQ(n, 0);
    /* a frame exists but lies at or above the cut-off, or top_k is 0 */
    uint32_t id = 7;
    ASSERT_OK(deja__index_add(ix, &qv, &id));
    EXPECT_EQ(id, 0);
    ASSERT_OK(deja__index_query(ix, &qv, 0, 4, r, &n));
    EXPECT_EQ(n, 0);
    ASSERT_OK(deja__index_query(ix, &qv, UINT32_MAX, 0, NULL, &n));
    EXPECT_EQ(n, 0);
    ASSERT_OK(deja__index_query(ix, &qv, 1, 4, r, &n));
    ASSERT_EQ(n, 1);
    EXPECT_EQ(r[0].frame, 0);
    EXPECT_NEAR(r[0].score, 1.0, QREL); /* compact values: within 2^-12 of the score */
    /* an empty query vector shares no word */
    deja_bow_vector empty = {0, NULL, NULL};
    ASSERT_OK(deja__index_query(ix, &empty, UINT32_MAX, 4, r, &n));
    EXPECT_EQ(n, 0);
    vec_free(&q);
    deja__index_destroy(ix);
}

/* For every frame t: query with its vector against frames < t - gap for several gaps, and with
 * fresh random vectors; compare with deja_bow_score_l1 over all earlier frames. */
static void l1_against_brute_force(uint32_t V, uint32_t N, size_t lo, size_t hi, uint32_t every,
                                   uint32_t flags)
{
    vec *frames = make_frames(N, V, lo, hi);
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, flags, &ix));
    ref *want = malloc(N * sizeof *want);
    deja__index_result got[40];
    const size_t ks[] = {1, 5, 40};
    const uint32_t gaps[] = {0, 1, 10, 100};
    int swaps = 0;
    size_t checks = 0, nonempty = 0, results = 0;
    for (uint32_t t = 0; t < N; t++) {
        deja_bow_vector qv = view(&frames[t]);
        for (size_t g = 0; g < 4 && t % every == 0; g++) {
            uint32_t limit = t > gaps[g] ? t - gaps[g] : 0;
            size_t k = ks[(t + g) % 3], n;
            ASSERT_OK(deja__index_query(ix, &qv, limit, k, got, &n));
            size_t nw = brute(DEJA__SCORE_L1, &frames[t], frames, t, limit, 0, V, NULL, NULL, want);
            char what[64];
            snprintf(what, sizeof what, "frame %u limit %u k %zu", t, limit, k);
            swaps += check_topk(DEJA__SCORE_L1, got, n, want, nw, k, 1e-5, what);
            checks++;
            nonempty += n > 0;
            results += n;
        }
        if (t % 50 == 0) { /* an unrelated query, all frames */
            vec r = random_vec(V, 80);
            deja_bow_vector rv = view(&r);
            size_t n;
            ASSERT_OK(deja__index_query(ix, &rv, UINT32_MAX, 40, got, &n));
            size_t nw = brute(DEJA__SCORE_L1, &r, frames, t, UINT32_MAX, 0, V, NULL, NULL, want);
            swaps += check_topk(DEJA__SCORE_L1, got, n, want, nw, 40, 1e-5, "random query");
            results += n;
            vec_free(&r);
        }
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &qv, &id));
        ASSERT_EQ(id, t);
    }
    /* Ties within the rounding bound are not rare (scores of unrelated frames crowd together),
     * but stay a small share: measured 0.3% and 0.6% of the results of the two tests below. */
    EXPECT_LE((size_t)swaps, results / 100);
    EXPECT_GE(nonempty, checks / 2); /* the check compared real lists */
    EXPECT_EQ(deja__index_size(ix), N);
    free(want);
    frames_free(frames, N);
    deja__index_destroy(ix);
}

TEST(l1_topk_equals_brute_force_with_windows)
{
    l1_against_brute_force(3000, 700, 10, 160, 1, 0); /* short lists: the small blocks */
}

TEST(l1_topk_equals_brute_force_on_long_lists)
{
    /* ~1300 postings a word: lists through every block class into chains of 4 KiB blocks;
     * stored vectors change nothing in the answers */
    l1_against_brute_force(50, 2200, 25, 50, 10, DEJA__INDEX_STORE_VECTORS);
}

TEST(every_scoring_equals_dense_reference)
{
    const uint32_t V = 1500, N = 250;
    const char *names[] = {"L1", "L2", "chi-square", "KL", "Bhattacharyya", "dot"};
    vec *frames = make_frames(N, V, 5, 80);
    double *qd = malloc(V * sizeof *qd), *dd = malloc(V * sizeof *dd);
    ref *want = malloc(N * sizeof *want);
    deja__index_result got[12];
    for (int s = DEJA__SCORE_L1; s <= DEJA__SCORE_DOT; s++) {
        deja_allocator a = plain();
        deja__index *ix;
        ASSERT_OK(deja__index_create(&a, V, (deja__index_scoring)s,
                                     s % 2 ? DEJA__INDEX_STORE_VECTORS : 0, &ix));
        int swaps = 0;
        size_t hits = 0;
        for (uint32_t t = 0; t < N; t++) {
            deja_bow_vector qv = view(&frames[t]);
            uint32_t limit = t > 3 ? t - 3 : 0;
            size_t n;
            ASSERT_OK(deja__index_query(ix, &qv, limit, 12, got, &n));
            size_t nw =
                brute((deja__index_scoring)s, &frames[t], frames, t, limit, 1, V, qd, dd, want);
            char what[64];
            snprintf(what, sizeof what, "%s frame %u", names[s], t);
            /* KL's values are ~36 (log eps): compare relative to that */
            swaps += check_topk((deja__index_scoring)s, got, n, want, nw, 12,
                                s == DEJA__SCORE_KL ? 1e-4 : 1e-5, what);
            hits += n;
            uint32_t id;
            ASSERT_OK(deja__index_add(ix, &qv, &id));
        }
        /* exact ties (a frame sharing one word whose weight is >= the query's scores exactly
         * that weight) come out of the dense reference in rounding order, and compact values
         * add ties within their rounding bound; they stay rare */
        if ((size_t)swaps > hits / 20)
            TEST_FAIL_AT("%s: %d near-tie swaps in %zu results", names[s], swaps, hits);
        EXPECT_GE(hits, N);
        deja__index_destroy(ix);
    }
    free(qd);
    free(dd);
    free(want);
    frames_free(frames, N);
}

TEST(equal_scores_rank_lower_frame_first)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 500, DEJA__SCORE_L1, 0, &ix));
    vec same = random_vec(500, 40), other = random_vec(500, 40);
    deja_bow_vector sv = view(&same), ov = view(&other);
    /* frames 0..9: same, other, same, other, ... */
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, i % 2 ? &ov : &sv, &id));
    }
    deja__index_result r[10];
    size_t n;
    ASSERT_OK(deja__index_query(ix, &sv, UINT32_MAX, 3, r, &n));
    ASSERT_EQ(n, 3);
    EXPECT_EQ(r[0].frame, 0);
    EXPECT_EQ(r[1].frame, 2);
    EXPECT_EQ(r[2].frame, 4);
    EXPECT(r[0].score == r[1].score && r[1].score == r[2].score);
    ASSERT_OK(deja__index_query(ix, &sv, 7, 10, r, &n));
    for (size_t i = 0; i < n; i++) {
        EXPECT_LE(r[i].frame, 6);
        if (i > 0) EXPECT(r[i - 1].score > r[i].score || r[i - 1].frame < r[i].frame);
    }
    /* repeated queries give the identical answer (state is reset between queries) */
    deja__index_result r2[10];
    size_t n2;
    ASSERT_OK(deja__index_query(ix, &sv, 7, 10, r2, &n2));
    ASSERT_EQ(n2, n);
    EXPECT(memcmp(r, r2, n * sizeof *r) == 0);
    vec_free(&same);
    vec_free(&other);
    deja__index_destroy(ix);
}

TEST(stored_vectors_round_trip_without_zero_weights)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 100000, DEJA__SCORE_L2, DEJA__INDEX_STORE_VECTORS, &ix));
    vec v[300];
    for (int i = 0; i < 300; i++) {
        v[i] = random_vec(100000, (size_t)(rnd() % 3000));
        if (v[i].n > 2) v[i].weights[1] = 0.0f; /* dropped */
        deja_bow_vector bv = view(&v[i]);
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &bv, &id));
    }
    for (uint32_t i = 0; i < 300; i++) {
        deja_bow_vector s;
        ASSERT_OK(deja__index_frame(ix, i, &s));
        size_t k = 0;
        for (size_t j = 0; j < v[i].n; j++) {
            if (v[i].weights[j] == 0.0f) continue;
            if (k >= s.n || s.words[k] != v[i].words[j] || s.weights[k] != v[i].weights[j]) break;
            k++;
        }
        EXPECT_EQ(k, s.n);
        EXPECT_EQ(s.n, v[i].n - (v[i].n > 2));
    }
    deja_bow_vector s;
    EXPECT_STATUS(deja__index_frame(ix, 300, &s), DEJA_INVALID_ARG);
    deja__index_stats st;
    deja__index_get_stats(ix, &st);
    EXPECT_GE(st.chunk_allocs, 2); /* the vectors span several chunks */
    EXPECT_GE(st.vector_bytes, 8 * st.n_postings);
    EXPECT_LE(st.vector_bytes, 8 * st.n_postings + 8 * 300);
    for (int i = 0; i < 300; i++)
        vec_free(&v[i]);
    deja__index_destroy(ix);
}

/* Without DEJA__INDEX_STORE_VECTORS (the detector's way) the answers are the same, the vectors'
 * 8 B per word are not kept, and asking for one is a STATE error. */
TEST(vectors_are_stored_only_when_asked)
{
    const uint32_t V = 5000, N = 400;
    vec *frames = make_frames(N, V, 20, 200);
    deja_allocator a = plain();
    deja__index *lean, *full;
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, 0, &lean));
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, DEJA__INDEX_STORE_VECTORS, &full));
    deja__index_result r1[10], r2[10];
    for (uint32_t t = 0; t < N; t++) {
        deja_bow_vector v = view(&frames[t]);
        size_t n1, n2;
        ASSERT_OK(deja__index_query(lean, &v, t, 10, r1, &n1));
        ASSERT_OK(deja__index_query(full, &v, t, 10, r2, &n2));
        ASSERT_EQ(n1, n2);
        EXPECT(memcmp(r1, r2, n1 * sizeof *r1) == 0);
        uint32_t id;
        ASSERT_OK(deja__index_add(lean, &v, &id));
        ASSERT_OK(deja__index_add(full, &v, &id));
    }
    deja_bow_vector s;
    EXPECT_STATUS(deja__index_frame(lean, 3, &s), DEJA_STATE);
    EXPECT(strstr(deja_last_error(), "DEJA__INDEX_STORE_VECTORS") != NULL);
    EXPECT_STATUS(deja__index_frame(lean, N, &s), DEJA_INVALID_ARG); /* not added comes first */
    ASSERT_OK(deja__index_frame(full, 3, &s));
    EXPECT_EQ(s.n, frames[3].n);
    deja__index_stats sl, sf;
    deja__index_get_stats(lean, &sl);
    deja__index_get_stats(full, &sf);
    EXPECT_EQ(sl.vector_bytes, 0);
    EXPECT_GE(sf.vector_bytes, 8 * sf.n_postings);
    EXPECT_EQ(sl.block_bytes, sf.block_bytes); /* the postings are the same */
    EXPECT_GE(sf.arena_used, sl.arena_used + sf.vector_bytes);
    EXPECT_GE(sf.frame_bytes, sl.frame_bytes + 8 * N); /* a vector's unit and length */
    frames_free(frames, N);
    deja__index_destroy(lean);
    deja__index_destroy(full);
}

/* A zero weight's word gets no posting (nor a word-table page), in add and in query. */
TEST(zero_weights_are_dropped)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 1u << 20, DEJA__SCORE_L1, DEJA__INDEX_STORE_VECTORS, &ix));
    uint32_t words[24];
    float weights[24];
    for (int i = 0; i < 24; i++)
        words[i] = (uint32_t)i * 4096, weights[i] = 1.0f / 22;
    weights[3] = 0.0f, weights[12] = -0.0f; /* -0 passes the >= 0 check and is a zero */
    deja_bow_vector v = {24, words, weights};
    uint32_t id;
    ASSERT_OK(deja__index_add(ix, &v, &id));
    ASSERT_OK(deja__index_add(ix, &v, &id));
    deja__index_stats st;
    deja__index_get_stats(ix, &st);
    EXPECT_EQ(st.words_seen, 22);
    EXPECT_EQ(st.n_postings, 44);
    deja_bow_vector s;
    ASSERT_OK(deja__index_frame(ix, 1, &s));
    ASSERT_EQ(s.n, 22);
    EXPECT_EQ(s.words[3], 4 * 4096);
    /* a query made of the zero-weight words only matches nothing */
    uint32_t qw[2] = {3 * 4096, 12 * 4096};
    float qx[2] = {0.5f, 0.5f};
    deja_bow_vector q = {2, qw, qx};
    deja__index_result r[2];
    size_t n;
    ASSERT_OK(deja__index_query(ix, &q, UINT32_MAX, 2, r, &n));
    EXPECT_EQ(n, 0);
    ASSERT_OK(deja__index_query(ix, &v, UINT32_MAX, 2, r, &n));
    ASSERT_EQ(n, 2);
    EXPECT_NEAR(r[0].score, 1.0, QREL);
    deja__index_destroy(ix);
}

/* Compact values are the stored weights rounded to nearest with 11 mantissa bits: an L1 query
 * of weight 1 against one-word frames scores exactly the stored value (min(1, d') = d' for d <=
 * 1, a float that the double sum keeps exactly), so the rounding shows directly. */
TEST(compact_values_round_to_nearest)
{
    const uint32_t N = 3000;
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, N, DEJA__SCORE_L1, 0, &ix));
    float *d = malloc(N * sizeof *d);
    uint32_t *qw = malloc(N * 4);
    float *qx = malloc(N * 4);
    for (uint32_t i = 0; i < N; i++) {
        /* log-uniform over [2^-24, 1], plus edge cases */
        d[i] = (float)exp2(-24.0 * rnd01());
        if (i == 0) d[i] = 1.0f;
        if (i == 1) d[i] = 0x1p-24f;               /* the smallest code */
        if (i == 2) d[i] = 1e-30f;                 /* below it: rounds up to 2^-24 */
        if (i == 3) d[i] = 0.375f;                 /* exactly representable */
        if (i == 4) d[i] = 0.5f + 0x1p-13f;        /* a tie rounds up... */
        if (i == 5) d[i] = nextafterf(1.0f, 0.0f); /* ...and a carry moves to the next binade */
        uint32_t w = i, id;
        deja_bow_vector v = {1, &w, &d[i]};
        ASSERT_OK(deja__index_add(ix, &v, &id));
        qw[i] = i, qx[i] = 1.0f;
    }
    deja_bow_vector q = {N, qw, qx};
    deja__index_result *r = malloc(N * sizeof *r);
    size_t n;
    ASSERT_OK(deja__index_query(ix, &q, UINT32_MAX, N, r, &n));
    ASSERT_EQ(n, N);
    double worst = 0, sum = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t f = r[k].frame;
        double got = r[k].score, want = f == 2 ? 0x1p-24 : d[f];
        double rel = (got - want) / want;
        if (fabs(rel) > QREL) TEST_FAIL_AT("frame %u: %.9g stored as %.9g", f, want, got);
        if (f > 5) worst = fmax(worst, fabs(rel)), sum += rel;
        if (f >= 1 && f <= 3) EXPECT(got == want);
        if (f == 4) EXPECT(got == 0.5 + 0x1p-12);
        if (f == 5) EXPECT(got == 1.0);
    }
    EXPECT_GE(worst, 0.9 * QREL);         /* 11 bits: the bound is reached... */
    EXPECT_LE(fabs(sum / (N - 6)), 2e-5); /* ...and errors average out: nearest, not truncated */
    free(r);
    free(d);
    free(qw);
    free(qx);
    deja__index_destroy(ix);
}

/* A gap of more than 65535 frames in a compact list takes a skip slot; so does a word first seen
 * at frame >= 65535. Every posting is found at its frame, with the cut-off anywhere. */
TEST(long_gaps_take_skip_slots)
{
    const uint32_t N = 270000;
    /* word 1's frames: gaps of 1 (from "before 0"), 1, 65535 (fits), 65536 (the first to skip),
     * 2, 65535 * 2 + 1 (one skip of two steps) */
    const uint32_t f1[] = {0, 1, 65536, 131072, 131074, 262145};
    const uint32_t f2 = 70000; /* word 2 is first seen here: a skip slot too */
    const uint32_t f3 = 65534; /* word 3 first: a gap of 65535, no skip */
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 10, DEJA__SCORE_BHATTACHARYYA, 0, &ix));
    size_t k = 0;
    for (uint32_t t = 0; t < N; t++) {
        uint32_t w[3] = {0, 1, 2}, id;
        float x[3] = {0.5f, 0.25f, 0.25f};
        int has1 = k < 6 && f1[k] == t;
        k += has1;
        deja_bow_vector v = {1, w, x}; /* filler: word 0 alone */
        if (has1 || t == f2 || t == f3) {
            w[1] = has1 ? 1 : t == f2 ? 2 : 3;
            x[1] = 0.5f;
            v.n = 2;
        }
        ASSERT_OK(deja__index_add(ix, &v, &id));
    }
    ASSERT_EQ(k, 6);
    deja__index_stats st;
    deja__index_get_stats(ix, &st);
    EXPECT_EQ(st.skip_slots, 3); /* word 1's gaps 65536 and 131071, word 2's first posting */
    uint32_t qw[3] = {1, 2, 3};
    float qx[3] = {0.5f, 0.5f, 0.5f};
    deja_bow_vector q = {3, qw, qx};
    deja__index_result r[10];
    const uint32_t cuts[] = {1,      2,      65534,  65535,  65536,  65537,  70000, 70001,
                             131072, 131073, 131074, 131075, 262145, 262146, N};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        size_t n, expect = (f2 < cuts[c]) + (f3 < cuts[c]);
        for (size_t i = 0; i < 6; i++)
            expect += f1[i] < cuts[c];
        ASSERT_OK(deja__index_query(ix, &q, cuts[c], 10, r, &n));
        ASSERT_EQ(n, expect);
        deja__index_get_stats(ix, &st);
        EXPECT_EQ(st.last_visited, expect);
        for (size_t i = 0; i < n; i++) { /* sqrt(0.5 * 0.5): all equal, so by frame */
            EXPECT_NEAR(r[i].score, 0.5, QREL);
            int known = r[i].frame == f2 || r[i].frame == f3;
            for (size_t j = 0; j < 6; j++)
                known |= r[i].frame == f1[j];
            EXPECT(known && r[i].frame < cuts[c]);
            if (i > 0) EXPECT_LE(r[i - 1].frame, r[i].frame);
        }
    }
    deja__index_destroy(ix);
}

TEST(invalid_input_is_rejected_and_leaves_index_unchanged)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 1000, DEJA__SCORE_L1, 0, &ix));
    vec good = random_vec(1000, 30);
    deja_bow_vector gv = view(&good);
    uint32_t id;
    ASSERT_OK(deja__index_add(ix, &gv, &id));
    uint32_t words[3] = {5, 9, 1000};
    float weights[3] = {0.25f, 0.25f, 0.5f};
    deja_bow_vector bad = {3, words, weights};
    deja__index_result r[4];
    size_t n;
    /* a word of another vocabulary */
    EXPECT_STATUS(deja__index_add(ix, &bad, &id), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__index_error(ix), "1000 at position 2 >= 1000 vocabulary words") != NULL);
    EXPECT_STATUS(deja__index_query(ix, &bad, UINT32_MAX, 4, r, &n), DEJA_INVALID_ARG);
    /* unordered, duplicate */
    words[2] = 7;
    EXPECT_STATUS(deja__index_add(ix, &bad, &id), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__index_error(ix), "ascending") != NULL);
    words[2] = 9;
    EXPECT_STATUS(deja__index_query(ix, &bad, UINT32_MAX, 4, r, &n), DEJA_INVALID_ARG);
    words[2] = 20;
    /* NaN, infinity, negative weights */
    weights[1] = NAN;
    EXPECT_STATUS(deja__index_add(ix, &bad, &id), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__index_error(ix), "not finite") != NULL);
    weights[1] = INFINITY;
    EXPECT_STATUS(deja__index_query(ix, &bad, UINT32_MAX, 4, r, &n), DEJA_INVALID_ARG);
    weights[1] = -0.25f;
    EXPECT_STATUS(deja__index_add(ix, &bad, &id), DEJA_INVALID_ARG);
    /* too large for a compact posting (L1 weights are <= 1); queries take any weight */
    weights[1] = 300.0f;
    EXPECT_STATUS(deja__index_add(ix, &bad, &id), DEJA_INVALID_ARG);
    EXPECT(strstr(deja__index_error(ix), "weight 300 of word 9 at position 1") != NULL);
    ASSERT_OK(deja__index_query(ix, &gv, UINT32_MAX, 4, r, &n));
    weights[1] = 0.25f;
    /* NULL arrays, NULL arguments */
    deja_bow_vector nul = {3, NULL, weights};
    EXPECT_STATUS(deja__index_add(ix, &nul, &id), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_add(ix, NULL, &id), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_add(ix, &bad, NULL), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_add(NULL, &bad, &id), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_query(ix, &bad, UINT32_MAX, 4, NULL, &n), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_query(ix, &bad, UINT32_MAX, 4, r, NULL), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_query(NULL, &bad, UINT32_MAX, 4, r, &n), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__index_reserve(NULL, 1, 1), DEJA_INVALID_ARG);
    EXPECT_EQ(deja__index_size(ix), 1);
    /* the index still answers as before, and the fixed vector goes in as frame 1 */
    ASSERT_OK(deja__index_query(ix, &gv, UINT32_MAX, 4, r, &n));
    ASSERT_EQ(n, 1);
    EXPECT_EQ(r[0].frame, 0);
    ASSERT_OK(deja__index_add(ix, &bad, &id));
    EXPECT_EQ(id, 1);
    vec_free(&good);
    deja__index_destroy(ix);
}

static void limits(uint32_t flags)
{
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, DEJA__INDEX_MAX_WORDS, DEJA__SCORE_L1, flags, &ix));
    /* the largest vector that fits a chunk, twice, and the last word of the vocabulary */
    size_t n = DEJA__INDEX_MAX_FRAME_WORDS;
    vec big = {n, malloc((n + 1) * 4), malloc((n + 1) * 4)};
    for (size_t i = 0; i < n; i++) {
        big.words[i] = (uint32_t)(i * 512);
        big.weights[i] = 1.0f / (float)n;
    }
    big.words[n - 1] = DEJA__INDEX_MAX_WORDS - 1;
    deja_bow_vector bv = view(&big);
    uint32_t id;
    ASSERT_OK(deja__index_add(ix, &bv, &id));
    ASSERT_OK(deja__index_add(ix, &bv, &id));
    deja__index_result r[2];
    size_t nr;
    ASSERT_OK(deja__index_query(ix, &bv, UINT32_MAX, 2, r, &nr));
    ASSERT_EQ(nr, 2);
    EXPECT_EQ(r[0].frame, 0);
    EXPECT_NEAR(r[1].score, 1.0, 1e-5);
    /* one word more is over the limit */
    big.words[n - 1] = (uint32_t)((n - 1) * 512);
    big.words[n] = DEJA__INDEX_MAX_WORDS - 1;
    big.weights[n] = 1.0f / (float)n;
    big.n = n + 1;
    bv = view(&big);
    EXPECT_STATUS(deja__index_add(ix, &bv, &id), DEJA_LIMIT);
    EXPECT_EQ(deja__index_size(ix), 2);
    EXPECT_STATUS(deja__index_reserve(ix, UINT32_MAX, 0), DEJA_LIMIT);
    vec_free(&big);
    deja__index_destroy(ix);
}

TEST(limits_vocabulary_and_vector_size)
{
    limits(DEJA__INDEX_STORE_VECTORS); /* a stored vector of the largest size fills a chunk */
    limits(0);
}

static void reserve_then_no_allocations(uint32_t flags)
{
    const uint32_t V = 4000, N = 2000;
    vec *frames = make_frames(N, V, 20, 120);
    uint64_t postings = 0;
    for (uint32_t i = 0; i < N; i++)
        postings += frames[i].n;
    counter c = {0, 0, 0, -1};
    deja_allocator a = {count_alloc, count_free, &c};
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, flags, &ix));
    ASSERT_OK(deja__index_reserve(ix, N, postings));
    size_t before = c.calls;
    deja__index_result r[10];
    for (uint32_t t = 0; t < N; t++) {
        deja_bow_vector v = view(&frames[t]);
        size_t n;
        ASSERT_OK(deja__index_query(ix, &v, t > 20 ? t - 20 : 0, 10, r, &n));
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &v, &id));
    }
    EXPECT_EQ(c.calls, before);
    /* without reserve: only growth of the per-frame arrays and new chunks, and queries never */
    deja__index_destroy(ix);
    EXPECT_EQ(c.live, 0);
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, flags, &ix));
    size_t adds = 0, queries = 0;
    for (uint32_t t = 0; t < N; t++) {
        deja_bow_vector v = view(&frames[t]);
        size_t n, c0 = c.calls;
        ASSERT_OK(deja__index_query(ix, &v, UINT32_MAX, 10, r, &n));
        queries += c.calls - c0;
        c0 = c.calls;
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &v, &id));
        adds += c.calls - c0;
    }
    deja__index_stats st;
    deja__index_get_stats(ix, &st);
    EXPECT_EQ(queries, 0);
    EXPECT_LE(adds, 5 * 20 + 2 * st.chunk_allocs); /* 5 arrays x log1.5(2000 / 16), chunks */
    EXPECT_EQ(st.total_bytes, c.live);             /* the stats account for every byte */
    deja__index_destroy(ix);
    EXPECT_EQ(c.live, 0);
    frames_free(frames, N);
}

TEST(after_reserve_adds_and_queries_allocate_nothing)
{
    reserve_then_no_allocations(0);
    reserve_then_no_allocations(DEJA__INDEX_STORE_VECTORS);
}

/* Fail allocation call k for k = 0, 1, ...: create or an add returns NOMEM, the frames added
 * before stay queryable, the same index then takes the remaining frames once memory is back,
 * and nothing leaks. Frames are big enough to need several chunks mid-add. */
static void out_of_memory_sweep(uint32_t flags)
{
    const uint32_t V = 20000, N = 400;
    vec *frames = make_frames(N, V, 300, 900);
    ref *want = malloc(N * sizeof *want);
    deja__index_result got[8];
    int completed = 0;
    for (long k = 0; k < 2000 && !completed; k++) {
        counter c = {0, 0, 0, k};
        deja_allocator a = {count_alloc, count_free, &c};
        deja__index *ix = NULL;
        deja_status st = deja__index_create(&a, V, DEJA__SCORE_L1, flags, &ix);
        if (st != DEJA_OK) {
            EXPECT_EQ(st, DEJA_NOMEM);
            EXPECT_EQ(c.live, 0);
            continue;
        }
        uint32_t t = 0, failed_at = UINT32_MAX;
        for (; t < N; t++) {
            deja_bow_vector v = view(&frames[t]);
            uint32_t id;
            st = deja__index_add(ix, &v, &id);
            if (st != DEJA_OK) {
                EXPECT_EQ(st, DEJA_NOMEM);
                EXPECT(strstr(deja__index_error(ix), "out of memory") != NULL);
                failed_at = t;
                break;
            }
            EXPECT_EQ(id, t);
        }
        if (failed_at == UINT32_MAX) {
            completed = 1;
        } else {
            EXPECT_EQ(deja__index_size(ix), failed_at);
            /* memory back: the rest goes in, then every frame answers as brute force says */
            c.fail_at = -1;
            for (t = failed_at; t < N; t++) {
                deja_bow_vector v = view(&frames[t]);
                uint32_t id;
                ASSERT_OK(deja__index_add(ix, &v, &id));
                ASSERT_EQ(id, t);
            }
        }
        for (uint32_t q = 0; q < N; q += 37) {
            deja_bow_vector v = view(&frames[q]);
            size_t n;
            ASSERT_OK(deja__index_query(ix, &v, UINT32_MAX, 8, got, &n));
            size_t nw =
                brute(DEJA__SCORE_L1, &frames[q], frames, N, UINT32_MAX, 0, V, NULL, NULL, want);
            check_topk(DEJA__SCORE_L1, got, n, want, nw, 8, 1e-5, "after NOMEM");
        }
        deja__index_destroy(ix);
        EXPECT_EQ(c.live, 0);
    }
    EXPECT(completed);
    free(want);
    frames_free(frames, N);
}

TEST(out_of_memory_sweep_keeps_earlier_frames)
{
    out_of_memory_sweep(0);
    out_of_memory_sweep(DEJA__INDEX_STORE_VECTORS);
}

/* A query reads exactly the postings of its words below the cut-off: adding thousands of frames
 * of unrelated words changes neither what it visits nor its answer. */
TEST(query_cost_is_independent_of_unrelated_frames)
{
    const uint32_t V = 50000;
    deja_allocator a = plain();
    deja__index *lean, *crowded;
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, 0, &lean));
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, 0, &crowded));
    /* related frames use words < 1000; unrelated ones words >= 1000 */
    vec rel[60];
    uint32_t rel_id[60];
    for (int i = 0; i < 60; i++)
        rel[i] = random_vec(1000, 60);
    for (int i = 0; i < 60; i++) {
        deja_bow_vector v = view(&rel[i]);
        uint32_t id;
        ASSERT_OK(deja__index_add(lean, &v, &id));
        for (int j = 0; j < 100; j++) {
            vec u = random_vec(V - 1000, 200);
            for (size_t w = 0; w < u.n; w++)
                u.words[w] += 1000;
            deja_bow_vector uv = view(&u);
            ASSERT_OK(deja__index_add(crowded, &uv, &id));
            vec_free(&u);
        }
        ASSERT_OK(deja__index_add(crowded, &v, &rel_id[i]));
    }
    EXPECT_EQ(deja__index_size(crowded), 60 * 101);
    vec q = random_vec(1000, 100);
    deja_bow_vector qv = view(&q);
    for (int cut = 0; cut <= 60; cut += 15) {
        /* expected postings: occurrences of q's words in the first `cut` related frames */
        uint64_t expect = 0;
        for (int i = 0; i < cut; i++)
            for (size_t w = 0; w < q.n; w++)
                for (size_t x = 0; x < rel[i].n; x++)
                    expect += rel[i].words[x] == q.words[w];
        deja__index_result r1[8], r2[8];
        size_t n1, n2;
        deja__index_stats s1, s2;
        ASSERT_OK(deja__index_query(lean, &qv, (uint32_t)cut, 8, r1, &n1));
        deja__index_get_stats(lean, &s1);
        uint32_t crowded_cut = cut == 0 ? 0 : rel_id[cut - 1] + 1;
        ASSERT_OK(deja__index_query(crowded, &qv, crowded_cut, 8, r2, &n2));
        deja__index_get_stats(crowded, &s2);
        EXPECT_EQ(s1.last_visited, expect);
        EXPECT_EQ(s2.last_visited, expect);
        EXPECT_EQ(s1.last_touched, s2.last_touched);
        ASSERT_EQ(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            EXPECT_EQ(rel_id[r1[i].frame], r2[i].frame);
            EXPECT(r1[i].score == r2[i].score);
        }
    }
    EXPECT_GE(deja__index_size(crowded), 6000);
    for (int i = 0; i < 60; i++)
        vec_free(&rel[i]);
    vec_free(&q);
    deja__index_destroy(lean);
    deja__index_destroy(crowded);
}

/* ---- benchmark (opt-in) ------------------------------------------------------------------ */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = -1;
    fclose(f);
    return res * 4;
}

/* ~1000 features per frame over a 10^6-word vocabulary, word ranks Zipf(1) (common words in
 * most frames), ranks scattered over word ids by a fixed permutation like a real tree's leaves,
 * tf-idf-like weights. Reports add and query time per frame and bytes per frame at 10^3, 10^4,
 * 10^5 frames. */
TEST(bench_zipf)
{
    if (!getenv("DEJA_BENCH_INDEX"))
        SKIP("set DEJA_BENCH_INDEX=1 to run the benchmark (=1000 or =10000 to stop there)");
    const uint32_t V = 1000000, FEAT = 1000;
    const uint32_t marks[] = {1000, 10000, 100000};
    long until = atol(getenv("DEJA_BENCH_INDEX")); /* a number >= 1000: stop at that mark */
    unsigned n_marks = until >= 10000 && until < 100000 ? 2
                       : until >= 1000 && until < 10000 ? 1
                                                        : 3;
    double *cdf = malloc(V * sizeof *cdf);
    uint32_t *perm = malloc(V * 4), *words = malloc(FEAT * 4), *vw = malloc(FEAT * 4);
    float *vx = malloc(FEAT * 4);
    double acc = 0;
    for (uint32_t r = 0; r < V; r++)
        cdf[r] = acc += 1.0 / (r + 1.0);
    for (uint32_t r = 0; r < V; r++)
        cdf[r] /= acc, perm[r] = r;
    for (uint32_t r = V - 1; r > 0; r--) {
        uint32_t j = (uint32_t)(rnd() % (r + 1)), t = perm[r];
        perm[r] = perm[j], perm[j] = t;
    }
    long rss0 = rss_kib();
    deja_allocator a = plain();
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, V, DEJA__SCORE_L1, 0, &ix));
    uint64_t add_ns = 0, q_ns = 0, q_n = 0;
    deja__index_result res[10];
    for (uint32_t t = 0, m = 0; m < n_marks; t++) {
        /* draw FEAT features: rank by inverse CDF; tf counts; idf ~ log(1 + rank) */
        for (uint32_t i = 0; i < FEAT; i++) {
            double u = rnd01();
            uint32_t lo = 0, hi = V - 1;
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            words[i] = lo;
        }
        qsort(words, FEAT, 4, cmp_u32);
        size_t n = 0;
        double sum = 0;
        for (uint32_t i = 0; i < FEAT; i++) {
            if (n > 0 && words[i] == words[i - 1]) {
                vx[n - 1] += (float)log(2.0 + words[i]);
                continue;
            }
            vw[n] = perm[words[i]];
            vx[n++] = (float)log(2.0 + words[i]);
        }
        /* sort by permuted id (weights follow) */
        for (size_t i = 1; i < n; i++) {
            uint32_t w = vw[i];
            float x = vx[i];
            size_t j = i;
            for (; j > 0 && vw[j - 1] > w; j--)
                vw[j] = vw[j - 1], vx[j] = vx[j - 1];
            vw[j] = w, vx[j] = x;
        }
        for (size_t i = 0; i < n; i++)
            sum += vx[i];
        for (size_t i = 0; i < n; i++)
            vx[i] = (float)(vx[i] / sum);
        deja_bow_vector v = {n, vw, vx};
        uint64_t t0 = deja__now_ns();
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &v, &id));
        add_ns += deja__now_ns() - t0;
        /* queries: every frame below 10^4, a sample above (a query costs ~N x common words) */
        if (t < 1000 || (t < 10000 && t % 7 == 0) || t % 97 == 0) {
            size_t nr;
            t0 = deja__now_ns();
            ASSERT_OK(deja__index_query(ix, &v, t > 50 ? t - 50 : 0, 10, res, &nr));
            uint64_t dt = deja__now_ns() - t0;
            if (t + 1 > marks[m] / 2) q_ns += dt, q_n++; /* second half before each mark */
        }
        if (t + 1 == marks[m]) {
            deja__index_stats st;
            deja__index_get_stats(ix, &st);
            long rss = rss_kib() - rss0;
            printf("frames %6u: add %7.1f us/frame, query %8.1f us (visited %llu postings, %llu "
                   "frames), postings/frame %.0f, words seen %llu (%llu pages), index %.0f "
                   "B/frame (arena %.0f), RSS %.0f B/frame\n",
                   marks[m], add_ns / 1e3 / marks[m], q_n ? q_ns / 1e3 / q_n : 0.0,
                   (unsigned long long)st.last_visited, (unsigned long long)st.last_touched,
                   (double)st.n_postings / st.n_frames, (unsigned long long)st.words_seen,
                   (unsigned long long)st.word_pages, (double)st.total_bytes / st.n_frames,
                   (double)st.arena_used / st.n_frames, rss * 1024.0 / st.n_frames);
            printf("    blocks %.2f B/posting (skip slots %.2f%%), word pages %.0f B/frame, "
                   "per-frame arrays %.1f B/frame, query %.2f ns/posting\n",
                   (double)st.block_bytes / st.n_postings,
                   100.0 * (double)st.skip_slots / st.n_postings,
                   st.word_pages * 2048.0 / st.n_frames, (double)st.frame_bytes / st.n_frames,
                   st.last_visited ? q_ns / (double)q_n * 1e0 / st.last_visited : 0.0);
            fflush(stdout);
            q_ns = q_n = 0;
            m++;
        }
    }
    deja__index_destroy(ix);
    free(cdf);
    free(perm);
    free(words);
    free(vw);
    free(vx);
}

TEST(stop_words_are_skipped_by_queries_once_their_lists_are_long)
{
    deja_allocator a = deja__allocator(NULL);
    deja__index *ix;
    ASSERT_OK(deja__index_create(&a, 100, DEJA__SCORE_L1, 0, &ix));
    /* Every frame has the common word 5 and one word of its own, 10 + i. */
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t w[2] = {5, 10 + i};
        float x[2] = {0.5f, 0.5f};
        deja_bow_vector v = {2, w, x};
        uint32_t id;
        ASSERT_OK(deja__index_add(ix, &v, &id));
    }
    uint32_t qw[2] = {5, 13};
    float qx[2] = {0.5f, 0.5f};
    deja_bow_vector q = {2, qw, qx};
    deja__index_result r[30];
    size_t n;
    ASSERT_OK(deja__index_query(ix, &q, UINT32_MAX, 30, r, &n));
    EXPECT_EQ(n, 20); /* word 5 reaches every frame */
    EXPECT_EQ(deja__index_is_stop_word(ix, 5), 0);
    deja__index_set_stop_words(ix, 10);
    EXPECT_EQ(deja__index_is_stop_word(ix, 5), 1);
    EXPECT_EQ(deja__index_is_stop_word(ix, 13), 0);
    ASSERT_OK(deja__index_query(ix, &q, UINT32_MAX, 30, r, &n));
    ASSERT_EQ(n, 1); /* only frame 3 shares word 13 */
    EXPECT_EQ(r[0].frame, 3);
    EXPECT_NEAR(r[0].score, 0.5, 1e-3);
    deja__index_set_stop_words(ix, 0);
    ASSERT_OK(deja__index_query(ix, &q, UINT32_MAX, 30, r, &n));
    EXPECT_EQ(n, 20);
    deja__index_destroy(ix);
}
