/* detector.c - the loop-closure detector: deja_detector_* over the stages.
 *
 * Per frame (Galvez-Lopez & Tardos 2012, "Bags of binary words for fast place recognition in
 * image sequences"; DLoopDetector):
 *  1. BoW transform of the frame's descriptors, with the direct index at direct_level.
 *  2. Score against the previous frame: the normaliser. A frame whose predecessor score is below
 *     min_predecessor_score (e.g. after a sudden turn) has no reliable normaliser and is not a
 *     query.
 *  3. Inverted-index query of the frames older than the recent window: top max_candidates by L1
 *     score, normalised by the predecessor score; those below min_score are dropped.
 *  4. Islands: candidates closer than island_gap frames are grouped, scored by their sum; the best
 *     island's best frame is the candidate of this query.
 *  5. Temporal consistency: the best islands of temporal_consistency consecutive queries must
 *     each lie within temporal_gap frames of the previous one.
 *  6. Geometric verification: descriptor matches under the same direct-index nodes (ratio test,
 *     rotation check), then RANSAC over the 8-point fundamental matrix (or essential matrix when
 *     intrinsics are given); accepted with max(min_inliers, min_inlier_ratio * matches) inliers.
 * The frame is then added to the index and its features to the file-backed store.
 *
 * Frames given as images go through the detector's extractor (feat.c): ORB for a binary
 * vocabulary, or the network of params.feature_model for a float one of its descriptor size.
 *
 * Every candidate the explanation reports carries the stage that stopped it and the figure that
 * failed. All buffers are owned and reused: a steady-state frame allocates nothing. */
#include "feat.h"
#include "geom.h"
#include "index.h"
#include "store.h"
#include "vocab.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CANDIDATES 1024

typedef struct {
    uint32_t first, last; /* frames */
    uint32_t best;        /* frame with the best normalised score */
    float best_ns, best_score, sum;
} island;

struct deja_detector {
    deja_allocator alloc;
    deja_options opts;
    deja_detector_params p;
    const deja_vocab *vocab;
    deja_extractor *feat; /* NULL: a float vocabulary without feature_model */
    deja_bow *bow, *bow_candidate;
    deja__index *index;
    deja__store *store;
    deja__geom *geom;
    double *timestamps;
    size_t timestamps_cap;
    /* the previous frame's BoW vector: the normaliser's other side */
    uint32_t *prev_words;
    float *prev_weights;
    size_t prev_n, prev_words_cap, prev_weights_cap;
    uint32_t n_frames;
    /* temporal consistency state */
    int have_last_island;
    island last_island;
    uint32_t consistent;
    /* per-query scratch */
    deja__index_result results[MAX_CANDIDATES];
    float normalised[MAX_CANDIDATES];
    uint32_t order[MAX_CANDIDATES];
    deja_candidate explained[MAX_CANDIDATES];
    char err[DEJA_ERROR_BYTES];
};

const char *deja_stage_name(deja_stage s)
{
    switch (s) {
#define DEJA_X_(n)                                                                                 \
    case DEJA_STAGE_##n:                                                                           \
        return #n;
        DEJA_STAGES(DEJA_X_)
#undef DEJA_X_
    }
    return "UNKNOWN";
}

deja_detector_params deja_detector_params_default(void)
{
    deja_detector_params p;
    memset(&p, 0, sizeof p);
    p.direct_level = 2;
    p.recent_frames = 50;
    p.max_candidates = 50;
    p.max_word_frames = 500;
    p.min_predecessor_score = 0.005f;
    p.min_score = 0.3f;
    p.island_gap = 3;
    p.temporal_consistency = 3;
    p.temporal_gap = 3;
    p.match_ratio = 0.8f;
    p.max_hamming = 64;
    p.min_inliers = 40;
    p.min_inlier_ratio = 0.25f;
    p.sigma_px = 1.0f;
    p.ransac_iterations = 500;
    return p;
}

static deja_status check_params(const deja_detector_params *p, const deja_vocab *v)
{
#define BAD(cond, ...)                                                                             \
    if (cond) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "detector params: " __VA_ARGS__)
    BAD(p->direct_level > v->depth, "direct_level %u > vocabulary depth %u", p->direct_level, v->depth);
    BAD(p->max_candidates < 1 || p->max_candidates > MAX_CANDIDATES, "max_candidates %u not in 1..%d",
        p->max_candidates, MAX_CANDIDATES);
    BAD(!(p->min_score >= 0) || !(p->min_predecessor_score >= 0), "score thresholds must be >= 0");
    BAD(!(p->recent_seconds >= 0) || !isfinite(p->recent_seconds), "recent_seconds must be >= 0");
    BAD(p->temporal_consistency < 1, "temporal_consistency must be >= 1");
    BAD(!(p->match_ratio > 0 && p->match_ratio <= 1), "match_ratio %g not in (0, 1]", (double)p->match_ratio);
    BAD(p->min_inliers < 8, "min_inliers %u < 8 (a model needs 8 matches)", p->min_inliers);
    BAD(!(p->min_inlier_ratio >= 0 && p->min_inlier_ratio <= 1), "min_inlier_ratio not in [0, 1]");
    BAD(!(p->sigma_px > 0) || !isfinite(p->sigma_px), "sigma_px must be > 0");
    BAD(p->ransac_iterations < 1, "ransac_iterations must be >= 1");
    BAD(p->explain > MAX_CANDIDATES, "explain %u > %d", p->explain, MAX_CANDIDATES);
    int any_k = p->fx != 0 || p->fy != 0 || p->cx != 0 || p->cy != 0;
    BAD(any_k && !(p->fx > 0 && p->fy > 0 && isfinite(p->cx) && isfinite(p->cy)),
        "intrinsics need fx, fy > 0 and finite cx, cy (or all 0)");
#undef BAD
    return DEJA_OK;
}

/* "binary, 32-byte descriptors" / "float32, 64 floats = 256-byte descriptors" */
static const char *kind_text(char *buf, size_t n, deja_desc_kind kind, uint32_t bytes)
{
    if (kind == DEJA_DESC_FLOAT32)
        snprintf(buf, n, "float32, %u floats = %u-byte descriptors", bytes / 4, bytes);
    else if (kind == DEJA_DESC_BINARY) snprintf(buf, n, "binary, %u-byte descriptors", bytes);
    else snprintf(buf, n, "kind %d, %u-byte descriptors", (int)kind, bytes);
    return buf;
}

/* The extractor for add_image: the model's network, ORB for a binary vocabulary, else none. The
 * model's descriptors must be the vocabulary's. */
static deja_status create_extractor(deja_detector *d)
{
    const char *model = d->p.feature_model;
    if (!model || !model[0])
        return d->vocab->kind == DEJA_DESC_BINARY
                   ? deja_extractor_create(&d->opts, NULL, 0, 0, &d->feat)
                   : DEJA_OK;
    deja_status st = deja_extractor_create(&d->opts, model, 0, 0, &d->feat);
    if (st != DEJA_OK) return st;
    deja_extractor_info info;
    deja_extractor_get_info(d->feat, &info);
    if (info.kind == d->vocab->kind && info.desc_bytes == d->vocab->desc_bytes) return DEJA_OK;
    char a[64], b[64];
    return DEJA_ERR(NULL, DEJA_INVALID_ARG, "feature model %s gives %s; the vocabulary has %s: "
                    "train the vocabulary on this model's features (deja vocab train --features)",
                    model,
                    kind_text(a, sizeof a, info.kind, info.desc_bytes),
                    kind_text(b, sizeof b, d->vocab->kind, d->vocab->desc_bytes));
}

/* Size the per-frame buffers of every stage for frames of up to orb.n_features features, so that
 * a later frame does not allocate when it is the largest so far. */
static deja_status warm_up(deja_detector *d)
{
    size_t n = (size_t)(d->opts.orb.n_features > 0 ? d->opts.orb.n_features : 1000);
    uint32_t bytes = d->vocab->desc_bytes;
    deja_status st;
    if ((st = deja__geom_reserve(d->geom, n, bytes, d->p.fx > 0)) != DEJA_OK
        || (st = deja__store_reserve_record(d->store, n, bytes)) != DEJA_OK)
        return st;
    if (!deja__reserve(&d->alloc, (void **)&d->prev_words, &d->prev_words_cap, n, 4)
        || !deja__reserve(&d->alloc, (void **)&d->prev_weights, &d->prev_weights_cap, n, 4))
        return DEJA_ERR(NULL, DEJA_NOMEM, "detector: warm-up buffers");
    uint8_t *zeros = deja__calloc(&d->alloc, n, bytes);
    if (!zeros) return DEJA_ERR(NULL, DEJA_NOMEM, "detector: warm-up buffer");
    deja_features f = {.n = n, .descriptors = zeros, .kind = d->vocab->kind, .desc_bytes = bytes};
    deja_bow_result r;
    if ((st = deja_bow_transform(d->bow, &f, d->p.direct_level, &r)) == DEJA_OK)
        st = deja_bow_transform(d->bow_candidate, &f, d->p.direct_level, &r);
    deja__free(&d->alloc, zeros, (size_t)n * bytes);
    return st;
}

deja_status deja_detector_create(const deja_options *o, const deja_vocab *v,
                                 const deja_detector_params *p, deja_detector **out)
{
    if (!v || !out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "detector: vocabulary or out is NULL");
    deja_detector_params params = p ? *p : deja_detector_params_default();
    deja_status st = check_params(&params, v);
    if (st != DEJA_OK) return st;
    deja_options opts = deja__options_resolve(o);
    deja_allocator a = deja__allocator(&opts);
    deja_detector *d = deja__calloc(&a, 1, sizeof *d);
    if (!d) return DEJA_ERR(NULL, DEJA_NOMEM, "detector: out of memory");
    d->alloc = a;
    d->opts = opts;
    d->p = params;
    d->vocab = v;
    deja__geom_params gp = deja__geom_params_default();
    gp.ratio = params.match_ratio;
    gp.max_hamming = params.max_hamming;
    gp.min_inliers = params.min_inliers;
    gp.sigma_px = params.sigma_px;
    gp.max_iterations = params.ransac_iterations;
    if ((st = create_extractor(d)) == DEJA_OK
        && (st = deja_bow_create(&opts, v, &d->bow)) == DEJA_OK
        && (st = deja_bow_create(&opts, v, &d->bow_candidate)) == DEJA_OK
        && (st = deja__index_create(&a, v->n_words, DEJA__SCORE_L1, 0, &d->index)) == DEJA_OK
        && (st = deja__store_create(&a, params.store_dir, &d->store)) == DEJA_OK
        && (st = deja__geom_create(&opts, &gp, &d->geom)) == DEJA_OK
        && (st = warm_up(d)) == DEJA_OK) {
        deja__index_set_stop_words(d->index, params.max_word_frames);
        *out = d;
        return DEJA_OK;
    }
    char msg[DEJA_ERROR_BYTES];
    deja__error_copy(msg);
    deja_detector_destroy(d);
    return DEJA_ERR(NULL, st, "detector: %s", msg);
}

void deja_detector_destroy(deja_detector *d)
{
    if (!d) return;
    deja_extractor_destroy(d->feat);
    deja_bow_destroy(d->bow);
    deja_bow_destroy(d->bow_candidate);
    deja__index_destroy(d->index);
    deja__store_destroy(d->store);
    deja__geom_destroy(d->geom);
    deja__free(&d->alloc, d->timestamps, d->timestamps_cap * sizeof *d->timestamps);
    deja__free(&d->alloc, d->prev_words, d->prev_words_cap * sizeof *d->prev_words);
    deja__free(&d->alloc, d->prev_weights, d->prev_weights_cap * sizeof *d->prev_weights);
    deja_allocator a = d->alloc;
    deja__free(&a, d, sizeof *d);
}

deja_status deja_detector_reserve(deja_detector *d, uint32_t n_frames)
{
    deja_status st;
    /* Upper bound: a frame stores at most one posting per feature (ORB's target count), plus
     * the word-table pages (12 B per word, half a posting's share). */
    uint64_t per_frame = (uint64_t)(d->opts.orb.n_features > 0 ? d->opts.orb.n_features : 1000);
    uint64_t postings = (uint64_t)n_frames * per_frame + d->vocab->n_words / 2;
    if ((st = deja__index_reserve(d->index, n_frames, postings)) != DEJA_OK
        || (st = deja__store_reserve(d->store, n_frames)) != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    if (!deja__reserve(&d->alloc, (void **)&d->timestamps, &d->timestamps_cap, n_frames,
                       sizeof *d->timestamps))
        return DEJA_ERR(d->err, DEJA_NOMEM, "detector: no memory for %u frames", n_frames);
    return DEJA_OK;
}

uint32_t deja_detector_size(const deja_detector *d)
{
    return d->n_frames;
}

const char *deja_detector_error(const deja_detector *d)
{
    return d->err;
}

void deja_detector_memory(const deja_detector *d, uint64_t *heap_bytes, uint64_t *store_bytes)
{
    deja__index_stats s;
    deja__index_get_stats(d->index, &s);
    if (heap_bytes)
        *heap_bytes = sizeof *d + s.total_bytes + deja__store_heap_bytes(d->store)
                      + d->timestamps_cap * sizeof *d->timestamps;
    if (store_bytes) *store_bytes = deja__store_file_bytes(d->store);
}

/* L1 score against the previous frame over the words the index does not skip as stop words, so
 * that the normaliser and the candidates' scores count the same words. */
static float predecessor_score(const deja_detector *d, const deja_bow_vector *v)
{
    double sum = 0;
    size_t i = 0, j = 0;
    while (i < v->n && j < d->prev_n) {
        if (v->words[i] < d->prev_words[j]) i++;
        else if (v->words[i] > d->prev_words[j]) j++;
        else {
            if (!deja__index_is_stop_word(d->index, v->words[i]))
                sum += fmin(v->weights[i], d->prev_weights[j]);
            i++, j++;
        }
    }
    return (float)sum; /* sum min(a, b) = 1 - 0.5 |a - b|_1 for L1-normalised vectors */
}

/* Oldest frame id that is not recent: frames >= it are skipped. */
static uint32_t query_cutoff(const deja_detector *d, double t)
{
    uint32_t n = d->n_frames;
    uint32_t cut = n > d->p.recent_frames ? n - d->p.recent_frames : 0;
    if (d->p.recent_seconds > 0) {
        /* first frame with timestamp > t - recent_seconds (timestamps non-decreasing) */
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (d->timestamps[mid] <= t - d->p.recent_seconds) lo = mid + 1;
            else hi = mid;
        }
        if (lo < cut) cut = lo;
    }
    return cut;
}

static int islands_close(const island *a, const island *b, uint32_t gap)
{
    /* [a.first - gap, a.last + gap] overlaps [b.first, b.last] */
    return (uint64_t)b->last + gap >= a->first && (uint64_t)a->last + gap >= b->first;
}

/* Candidates sorted by frame id (order[] holds indices into results). */
static void sort_by_frame(deja_detector *d, uint32_t *idx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t x = idx[i];
        size_t j = i;
        while (j > 0 && d->results[idx[j - 1]].frame > d->results[x].frame) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

static void explain(deja_detector *d, size_t i, deja_stage stage, float value, float threshold)
{
    if (i >= d->p.explain) return;
    d->explained[i] = (deja_candidate){d->results[i].frame, d->results[i].score, d->normalised[i],
                                       stage, value, threshold};
}

/* Geometric check of the current frame (features f, direct index of the bow handle's last
 * transform in cur) against frame `match`. */
static deja_status verify(deja_detector *d, const deja_features *f, const deja_bow_result *cur,
                          uint32_t match, deja_loop *loop, deja_stage *stage, float *value,
                          float *threshold)
{
    deja_features cand;
    deja_bow_result cr;
    deja_status st = deja__store_read(d->store, match, &cand);
    if (st == DEJA_OK) st = deja_bow_transform(d->bow_candidate, &cand, d->p.direct_level, &cr);
    const deja__match *m = NULL;
    size_t n_m = 0;
    if (st == DEJA_OK)
        st = deja__geom_match(d->geom, f, &cur->direct, &cand, &cr.direct, &m, &n_m);
    if (st != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    loop->n_matches = (uint32_t)n_m;
    if (n_m < 8 || n_m < d->p.min_inliers) {
        *stage = DEJA_STAGE_MATCHES;
        *value = (float)n_m;
        *threshold = (float)(d->p.min_inliers > 8 ? d->p.min_inliers : 8);
        return DEJA_OK;
    }
    deja__geom_intrinsics k = {d->p.fx, d->p.fy, d->p.cx, d->p.cy};
    deja__geom_result r;
    st = deja__geom_verify(d->geom, f->keypoints, f->n, cand.keypoints, cand.n, m, n_m,
                           d->p.fx > 0 ? &k : NULL, &r);
    if (st != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    float need = fmaxf((float)d->p.min_inliers, d->p.min_inlier_ratio * (float)n_m);
    int no_model = r.outcome == DEJA__GEOM_TOO_FEW_MATCHES || r.outcome == DEJA__GEOM_DEGENERATE;
    loop->n_inliers = no_model ? 0 : r.n_inliers;
    memcpy(loop->F, r.F, sizeof loop->F);
    *value = (float)r.n_inliers;
    *threshold = need;
    *stage = !no_model && (float)r.n_inliers >= need
                 ? DEJA_STAGE_ACCEPTED
                 : DEJA_STAGE_INLIERS;
    return DEJA_OK;
}

static deja_status add_frame(deja_detector *d, const deja_features *f, double t, double features_ms,
                             deja_frame_result *out)
{
    if (!f || !out) return DEJA_ERR(d->err, DEJA_INVALID_ARG, "detector: features or out is NULL");
    if (f->kind != d->vocab->kind || f->desc_bytes != d->vocab->desc_bytes) {
        char a[64], b[64];
        return DEJA_ERR(d->err, DEJA_INVALID_ARG,
                        "detector: features of %s; the vocabulary has %s: it must be trained on "
                        "the same kind of features",
                        kind_text(a, sizeof a, f->kind, f->desc_bytes),
                        kind_text(b, sizeof b, d->vocab->kind, d->vocab->desc_bytes));
    }
    if (f->n > 0 && !f->keypoints)
        return DEJA_ERR(d->err, DEJA_INVALID_ARG, "detector: keypoints are required");
    if (!isfinite(t) || (d->n_frames > 0 && d->timestamps && t < d->timestamps[d->n_frames - 1]))
        return DEJA_ERR(d->err, DEJA_INVALID_ARG, "detector: timestamp %g is not finite or goes "
                        "back in time", t);
    if (d->n_frames == UINT32_MAX - 2)
        return DEJA_ERR(d->err, DEJA_LIMIT, "detector: frame limit reached");
    memset(out, 0, sizeof *out);
    out->ms[DEJA_TIME_FEATURES] = features_ms;
    out->frame = d->n_frames;
    out->n_keypoints = (uint32_t)f->n;
    /* Reserve everything that this frame will append to before changing any state, so that a
     * failure leaves the detector as it was. */
    if (!deja__reserve(&d->alloc, (void **)&d->timestamps, &d->timestamps_cap, d->n_frames + 1,
                       sizeof *d->timestamps))
        return DEJA_ERR(d->err, DEJA_NOMEM, "detector: out of memory");

    uint64_t t0 = deja__now_ns();
    deja_bow_result r;
    deja_status st = deja_bow_transform(d->bow, f, d->p.direct_level, &r);
    if (st != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    out->n_words = (uint32_t)r.bow.n;
    uint64_t t1 = deja__now_ns();

    /* 2-3. normaliser and query */
    float prev_score = d->n_frames > 0 ? predecessor_score(d, &r.bow) : 0;
    size_t n_res = 0;
    st = deja__index_query(d->index, &r.bow, query_cutoff(d, t), d->p.max_candidates, d->results,
                           &n_res);
    if (st != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    uint64_t t2 = deja__now_ns();
    int queried = prev_score >= d->p.min_predecessor_score && prev_score > 0;
    size_t n_kept = 0;
    for (size_t i = 0; i < n_res; i++) {
        d->normalised[i] = queried ? d->results[i].score / prev_score : 0;
        if (!queried) explain(d, i, DEJA_STAGE_PREDECESSOR, prev_score, d->p.min_predecessor_score);
        else if (d->normalised[i] < d->p.min_score)
            explain(d, i, DEJA_STAGE_SCORE, d->normalised[i], d->p.min_score);
        else d->order[n_kept++] = (uint32_t)i;
    }

    /* 4. islands over the kept candidates, by frame id */
    island best = {0};
    int have_best = 0;
    sort_by_frame(d, d->order, n_kept);
    for (size_t i = 0; i < n_kept;) {
        island is = {d->results[d->order[i]].frame, d->results[d->order[i]].frame, 0, -1, 0, 0};
        size_t j = i;
        for (; j < n_kept; j++) {
            const deja__index_result *c = &d->results[d->order[j]];
            if (j > i && c->frame - is.last > d->p.island_gap) break;
            float ns = d->normalised[d->order[j]];
            is.last = c->frame;
            is.sum += ns;
            if (ns > is.best_ns) is.best_ns = ns, is.best = c->frame, is.best_score = c->score;
        }
        if (!have_best || is.sum > best.sum) best = is, have_best = 1;
        i = j;
    }

    /* 5. temporal consistency (committed to the detector only once the frame is stored) */
    uint32_t consistent = 0;
    if (have_best)
        consistent = d->have_last_island && islands_close(&d->last_island, &best, d->p.temporal_gap)
                         ? d->consistent + 1
                         : 1;

    /* 6. verification of the best island's best frame once consistent */
    deja_stage best_stage = DEJA_STAGE_TEMPORAL;
    float best_value = (float)consistent, best_threshold = (float)d->p.temporal_consistency;
    if (have_best && consistent >= d->p.temporal_consistency) {
        deja_loop loop = {out->frame, best.best, best.best_score, best.best_ns, 0, 0, {0}};
        st = verify(d, f, &r, best.best, &loop, &best_stage, &best_value, &best_threshold);
        if (st != DEJA_OK) return st;
        out->verified = 1;
        out->candidate = loop;
        if (best_stage == DEJA_STAGE_ACCEPTED) {
            out->has_loop = 1;
            out->loop = loop;
        }
    }
    uint64_t t3 = deja__now_ns();
    for (size_t k = 0; k < n_kept; k++) {
        size_t i = d->order[k];
        const deja__index_result *c = &d->results[i];
        if (c->frame == best.best) explain(d, i, best_stage, best_value, best_threshold);
        else {
            int in_best = c->frame >= best.first && c->frame <= best.last;
            explain(d, i, DEJA_STAGE_ISLAND, in_best ? d->normalised[i] : 0,
                    in_best ? best.best_ns : best.sum);
        }
    }
    out->n_candidates = n_res < d->p.explain ? n_res : d->p.explain;
    out->candidates = d->explained;

    /* 7. remember the frame */
    uint32_t id;
    if ((st = deja__store_append(d->store, f)) != DEJA_OK) {
        deja__error_copy(d->err);
        return st;
    }
    if ((st = deja__index_add(d->index, &r.bow, &id)) != DEJA_OK) {
        deja__error_copy(d->err);
        deja__store_truncate(d->store, d->n_frames); /* keep store and index in step */
        return st;
    }
    d->timestamps[d->n_frames++] = t;
    memcpy(d->prev_words, r.bow.words, r.bow.n * sizeof *d->prev_words);
    memcpy(d->prev_weights, r.bow.weights, r.bow.n * sizeof *d->prev_weights);
    d->prev_n = r.bow.n;
    d->consistent = consistent;
    d->have_last_island = have_best;
    if (have_best) d->last_island = best;
    out->ms[DEJA_TIME_TRANSFORM] = (double)(t1 - t0) / 1e6;
    out->ms[DEJA_TIME_QUERY] = (double)(t2 - t1) / 1e6;
    out->ms[DEJA_TIME_VERIFY] = (double)(t3 - t2) / 1e6;
    out->ms[DEJA_TIME_FEATURES] = features_ms;
    return DEJA_OK;
}

deja_status deja_detector_add_features(deja_detector *d, const deja_features *f, double t,
                                       deja_frame_result *out)
{
    return add_frame(d, f, t, 0, out);
}

deja_status deja_detector_add_image(deja_detector *d, const deja_image *im, double t,
                                    deja_frame_result *out)
{
    if (!d->feat)
        return DEJA_ERR(d->err, DEJA_STATE, "detector: the vocabulary has float descriptors and "
                        "params.feature_model is NULL, so there is no extractor: set "
                        "feature_model to the network that made the vocabulary's features, or "
                        "add features instead");
    if (!out) return DEJA_ERR(d->err, DEJA_INVALID_ARG, "detector: out is NULL");
    deja_features f;
    uint64_t t0 = deja__now_ns();
    deja_status st = deja_extractor_extract(d->feat, im, &f);
    if (st != DEJA_OK) return DEJA_ERR(d->err, st, "detector: %s", deja_extractor_error(d->feat));
    return add_frame(d, &f, t, (double)(deja__now_ns() - t0) / 1e6, out);
}
