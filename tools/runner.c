/* runner.c - the frame pipeline of `deja run` and `deja demo`.
 *
 * With 2 threads a producer decodes and extracts the features of frame i+1 (ORB or a network,
 * through its own deja_extractor, made when the thread starts) into one of two slots while the
 * caller's thread runs the detector on frame i from the other slot; a slot is handed back once
 * the detector is done with it. With 1 thread the caller's thread has the one extractor. Both
 * threads use the same counting allocator. */
#define _POSIX_C_SOURCE 200809L
#include "runner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *count_alloc(void *user, size_t bytes)
{
    alloc_counter *c = user;
    atomic_fetch_add((_Atomic size_t *)&c->calls, 1);
    atomic_fetch_add((_Atomic size_t *)&c->live, bytes);
    return malloc(bytes);
}

static void count_free(void *user, void *p, size_t bytes)
{
    alloc_counter *c = user;
    atomic_fetch_sub((_Atomic size_t *)&c->live, bytes);
    free(p);
}

deja_allocator counting_allocator(alloc_counter *c)
{
    return (deja_allocator){count_alloc, count_free, c};
}

uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

bool features_from_args(int argc, char **argv, char *buf, size_t bytes, const char **model)
{
    const char *f = opt_str(argc, argv, "--features", NULL);
    *model = NULL;
    if (!f || strcmp(f, "orb") == 0) return true;
    size_t len = strlen(f);
    if (len == 0) {
        fprintf(stderr, "deja: --features: empty value\n");
        return false;
    }
    if (strchr(f, '/') || (len > 5 && strcmp(f + len - 5, ".onnx") == 0)) {
        snprintf(buf, bytes, "%s", f);
    } else {
        const char *env = getenv("DEJA_MODELS");
        const char *dir = opt_str(argc, argv, "--models", env && *env ? env : "../shared/models");
        if ((size_t)snprintf(buf, bytes, "%s/%s/model.onnx", dir, f) >= bytes) {
            fprintf(stderr, "deja: --features %s: path too long\n", f);
            return false;
        }
    }
    if (access(buf, R_OK) != 0) {
        fprintf(stderr, "deja: --features %s: no readable model at %s (names are folders of "
                        "--models DIR, $DEJA_MODELS or ../shared/models)\n", f, buf);
        return false;
    }
    *model = buf;
    return true;
}

/* One frame's features, copied out of the extractor. */
typedef struct {
    deja_keypoint *kps;
    uint8_t *desc;
    size_t n, cap, desc_cap; /* cap keypoints, desc_cap bytes */
    deja_desc_kind kind;
    uint32_t desc_bytes;
    double t, decode_ms, features_ms;
    int state; /* 0 free, 1 full, 2 error/end */
    char err[600];
} slot;

typedef struct {
    const frame_source *src;
    deja_options opts;
    const char *features;
    slot slots[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
} pipeline;

static bool slot_fill(slot *s, deja_extractor *x, const frame_source *src, size_t i)
{
    deja_image im;
    uint64_t t0 = now_ns();
    if (!src->next(src->ctx, i, &im, &s->t, s->err, sizeof s->err)) return false;
    uint64_t t1 = now_ns();
    deja_features f;
    deja_status st = deja_extractor_extract(x, &im, &f);
    if (st != DEJA_OK) {
        snprintf(s->err, sizeof s->err, "frame %zu: %s", i, deja_extractor_error(x));
        return false;
    }
    size_t bytes = f.n * f.desc_bytes;
    if (f.n > s->cap || bytes > s->desc_cap) {
        free(s->kps);
        free(s->desc);
        s->kps = malloc((f.n ? f.n : 1) * sizeof *s->kps);
        s->desc = malloc(bytes ? bytes : 1);
        s->cap = s->kps && s->desc ? f.n : 0;
        s->desc_cap = s->kps && s->desc ? bytes : 0;
        if (!s->kps || !s->desc) {
            snprintf(s->err, sizeof s->err, "out of memory");
            return false;
        }
    }
    if (f.n) {
        memcpy(s->kps, f.keypoints, f.n * sizeof *s->kps);
        memcpy(s->desc, f.descriptors, bytes);
    }
    s->n = f.n;
    s->kind = f.kind;
    s->desc_bytes = f.desc_bytes;
    s->decode_ms = (double)(t1 - t0) / 1e6;
    s->features_ms = (double)(now_ns() - t1) / 1e6;
    return true;
}

static void *producer(void *arg)
{
    pipeline *p = arg;
    deja_extractor *x = NULL;
    deja_status st = deja_extractor_create(&p->opts, p->features, 0, 0, &x);
    for (size_t i = 0; i < p->src->n_frames; i++) {
        slot *s = &p->slots[i % 2];
        pthread_mutex_lock(&p->mu);
        while (s->state != 0 && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        bool ok = st == DEJA_OK && slot_fill(s, x, p->src, i);
        if (st != DEJA_OK) snprintf(s->err, sizeof s->err, "%s", deja_last_error());
        pthread_mutex_lock(&p->mu);
        s->state = ok ? 1 : 2;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (!ok) break;
    }
    deja_extractor_destroy(x);
    return NULL;
}

static void print_event(const run_config *cfg, const deja_frame_result *r)
{
    const char *const *nm = cfg->names;
    if (cfg->json) {
        fprintf(cfg->events, "{\"query\":%u,\"match\":%u,\"score\":%.5f,\"normalised\":%.4f,"
                             "\"matches\":%u,\"inliers\":%u,\"ms\":%.3f",
                r->loop.query, r->loop.match, r->loop.score, r->loop.normalised,
                r->loop.n_matches, r->loop.n_inliers,
                r->ms[DEJA_TIME_TRANSFORM] + r->ms[DEJA_TIME_QUERY] + r->ms[DEJA_TIME_VERIFY]);
        if (nm) fprintf(cfg->events, ",\"query_name\":\"%s\",\"match_name\":\"%s\"", nm[r->loop.query], nm[r->loop.match]);
        fprintf(cfg->events, "}\n");
    } else {
        fprintf(cfg->events, "loop %u -> %u  score %.4f (x%.2f)  inliers %u/%u", r->loop.query,
                r->loop.match, r->loop.score, r->loop.normalised, r->loop.n_inliers, r->loop.n_matches);
        if (nm) fprintf(cfg->events, "  %s -> %s", nm[r->loop.query], nm[r->loop.match]);
        fputc('\n', cfg->events);
    }
}

static void print_explain(const run_config *cfg, const deja_frame_result *r)
{
    if (r->n_candidates == 0) return;
    if (cfg->json) {
        fprintf(cfg->events, "{\"frame\":%u,\"candidates\":[", r->frame);
        for (size_t i = 0; i < r->n_candidates; i++) {
            const deja_candidate *c = &r->candidates[i];
            fprintf(cfg->events, "%s{\"frame\":%u,\"score\":%.5f,\"normalised\":%.4f,\"stage\":\"%s\","
                                 "\"value\":%.4g,\"threshold\":%.4g}",
                    i ? "," : "", c->frame, c->score, c->normalised, deja_stage_name(c->stage),
                    c->value, c->threshold);
        }
        fprintf(cfg->events, "]}\n");
        return;
    }
    fprintf(cfg->events, "frame %u:\n", r->frame);
    for (size_t i = 0; i < r->n_candidates; i++) {
        const deja_candidate *c = &r->candidates[i];
        fprintf(cfg->events, "  candidate %u  score %.4f (x%.2f)  %-11s %g vs %g\n", c->frame,
                c->score, c->normalised, deja_stage_name(c->stage), c->value, c->threshold);
    }
}

bool run_record_init(run_record *r, size_t n, uint32_t k)
{
    memset(r, 0, sizeof *r);
    r->k = k;
    r->frames = calloc(n ? n : 1, sizeof *r->frames);
    size_t cells = n * k > 0 ? n * k : 1;
    r->cand_frame = malloc(cells * sizeof *r->cand_frame);
    r->cand_score = calloc(cells, sizeof *r->cand_score);
    if (!r->frames || !r->cand_frame || !r->cand_score) {
        run_record_free(r);
        return false;
    }
    memset(r->cand_frame, 0xff, n * k * sizeof *r->cand_frame);
    return true;
}

void run_record_free(run_record *r)
{
    free(r->frames);
    free(r->cand_frame);
    free(r->cand_score);
    memset(r, 0, sizeof *r);
}

static void record_frame(run_record *rec, size_t i, const double ms[6], uint64_t rss,
                         const deja_frame_result *r)
{
    frame_record *f = &rec->frames[i];
    for (int k = 0; k < 5; k++) f->ms[k] = (float)ms[k];
    f->rss = rss;
    f->match = r->verified ? r->candidate.match : UINT32_MAX;
    f->inliers = r->verified ? r->candidate.n_inliers : 0;
    f->matches = r->verified ? r->candidate.n_matches : 0;
    f->accepted = (uint8_t)r->has_loop;
    size_t n = r->n_candidates < rec->k ? r->n_candidates : rec->k;
    for (size_t c = 0; c < n; c++) {
        rec->cand_frame[i * rec->k + c] = r->candidates[c].frame;
        rec->cand_score[i * rec->k + c] = r->candidates[c].score;
    }
}

int run_frames(deja_detector *det, const deja_options *o, const frame_source *src,
               const run_config *cfg, alloc_counter *counter, run_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    pipeline p = {.src = src, .opts = *o, .features = cfg->features};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    int threaded = cfg->threads > 1 && pthread_create(&th, NULL, producer, &p) == 0;
    deja_extractor *x = NULL;
    deja_status xst = threaded ? DEJA_OK : deja_extractor_create(o, cfg->features, 0, 0, &x);
    if (xst != DEJA_OK) {
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        return fail("features", xst, deja_last_error());
    }
    sum->frame_ms = calloc(src->n_frames + 1, sizeof(double));
    sum->loop_query = calloc(src->n_frames + 1, sizeof(uint32_t));
    sum->loop_match = calloc(src->n_frames + 1, sizeof(uint32_t));
    if (cfg->csv)
        fprintf(cfg->csv, "frame,decode_ms,features_ms,transform_ms,query_ms,verify_ms,total_ms,"
                          "keypoints,words,loop_match,rss_kb,allocs\n");
    progress bar;
    if (cfg->progress) progress_start(&bar, "frames", src->n_frames);
    int rc = 0;
    size_t calls_at_100 = 0;
    for (size_t i = 0; i < src->n_frames; i++) {
        slot *s = &p.slots[i % 2];
        if (threaded) {
            pthread_mutex_lock(&p.mu);
            while (s->state == 0) pthread_cond_wait(&p.cv, &p.mu);
            pthread_mutex_unlock(&p.mu);
            if (s->state == 2) {
                fprintf(stderr, "deja: %s\n", s->err);
                rc = 1;
                break;
            }
        } else if (!slot_fill(s, x, src, i)) {
            fprintf(stderr, "deja: %s\n", s->err);
            rc = 1;
            break;
        }
        if (i == 100) calls_at_100 = atomic_load((_Atomic size_t *)&counter->calls);
        deja_features f = {.n = s->n, .keypoints = s->kps, .descriptors = s->desc,
                           .kind = s->kind, .desc_bytes = s->desc_bytes};
        deja_frame_result r;
        deja_status st = deja_detector_add_features(det, &f, s->t, &r);
        double decode_ms = s->decode_ms, features_ms = s->features_ms;
        if (threaded) {
            pthread_mutex_lock(&p.mu);
            s->state = 0;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
        }
        if (st != DEJA_OK) {
            rc = fail("detector", st, deja_detector_error(det));
            break;
        }
        double ms[6] = {decode_ms, features_ms, r.ms[DEJA_TIME_TRANSFORM], r.ms[DEJA_TIME_QUERY],
                        r.ms[DEJA_TIME_VERIFY], 0};
        for (int k = 0; k < 5; k++) ms[5] += ms[k];
        for (int k = 0; k < 6; k++) sum->ms_total[k] += ms[k];
        sum->frame_ms[i] = ms[5];
        uint64_t rss = (i % 16 == 0 || i + 1 == src->n_frames || cfg->csv || cfg->record)
                           ? resident_bytes()
                           : 0;
        if (cfg->record) record_frame(cfg->record, i, ms, rss, &r);
        if (i == 0) sum->rss_first = rss;
        if (rss) sum->rss_last = rss;
        if (r.has_loop) {
            sum->loop_query[sum->loops] = r.loop.query;
            sum->loop_match[sum->loops] = r.loop.match;
            sum->loops++;
            if (!cfg->quiet) print_event(cfg, &r);
        }
        if (!cfg->quiet && cfg->explain) print_explain(cfg, &r);
        if (cfg->csv)
            fprintf(cfg->csv, "%zu,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%u,%u,%d,%llu,%zu\n", i, ms[0],
                    ms[1], ms[2], ms[3], ms[4], ms[5], r.n_keypoints, r.n_words,
                    r.has_loop ? (int)r.loop.match : -1, (unsigned long long)(rss / 1024),
                    atomic_load((_Atomic size_t *)&counter->calls));
        sum->frames = i + 1;
        if (cfg->progress) progress_update(&bar, i + 1);
    }
    if (cfg->progress) progress_end(&bar);
    if (threaded) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(th, NULL);
    }
    deja_extractor_destroy(x);
    if (sum->frames > 100)
        sum->allocs_after_warmup = atomic_load((_Atomic size_t *)&counter->calls) - calls_at_100;
    deja_detector_memory(det, &sum->heap_bytes, &sum->store_bytes);
    for (int k = 0; k < 2; k++) {
        free(p.slots[k].kps);
        free(p.slots[k].desc);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc;
}

void run_summary_free(run_summary *s)
{
    free(s->frame_ms);
    free(s->loop_query);
    free(s->loop_match);
    memset(s, 0, sizeof *s);
}
