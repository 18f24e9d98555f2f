/* runner.h - streams frames through a detector, on one thread or with decode + features of the
 * next frame overlapping the detector's work on the current one (two threads). Shared by `deja
 * run`, `deja eval` and `deja demo`. Results are the same with 1 or 2 threads: the features are.
 * Features: ORB or a network (--features), through a deja_extractor per thread, its model loaded
 * once when the thread starts. */
#ifndef DEJA_RUNNER_H
#define DEJA_RUNNER_H

#include "cli.h"

#include <stdio.h>

/* A frame source: fill *im (valid until the next call) and *t for frame i; false + message on
 * error. Called from the producer thread only. */
typedef struct {
    size_t n_frames;
    bool (*next)(void *ctx, size_t i, deja_image *im, double *t, char *err, size_t err_bytes);
    void *ctx;
} frame_source;

/* Counts the library's allocation calls (all threads). */
typedef struct {
    size_t calls; /* atomic */
    size_t live;  /* atomic */
} alloc_counter;

deja_allocator counting_allocator(alloc_counter *c);

/* What a run keeps of each frame for evaluation and reports (run_config.record). */
typedef struct {
    float ms[5];      /* decode, features, transform, query, verify */
    uint64_t rss;     /* resident bytes after the frame */
    uint32_t match;   /* the candidate that reached verification; UINT32_MAX: none */
    uint32_t inliers, matches;
    uint8_t accepted; /* at the run's min_inliers */
} frame_record;

typedef struct {
    frame_record *frames; /* n_frames, filled by run_frames */
    uint32_t k;           /* best BoW candidates kept per frame (the detector's explain) */
    uint32_t *cand_frame; /* n_frames * k; UINT32_MAX where a frame had fewer */
    float *cand_score;    /* their BoW scores */
} run_record;

/* Allocate a record for n frames and k candidates each; false on out of memory. */
bool run_record_init(run_record *r, size_t n, uint32_t k);
void run_record_free(run_record *r);

typedef struct {
    int threads;      /* 1 or 2 */
    const char *features; /* model path (features_from_args), or NULL for ORB */
    int json;         /* events as JSON lines */
    int quiet;        /* no per-event output */
    int explain;      /* print the detector's explained candidates */
    FILE *events;     /* where events go (stdout) */
    FILE *csv;        /* per-frame CSV or NULL */
    int progress;     /* progress bar on stderr if a terminal */
    const char *const *names; /* frame names for output, or NULL */
    run_record *record;       /* per-frame record, or NULL */
} run_config;

typedef struct {
    size_t frames, loops;
    double ms_total[6]; /* decode, features, transform, query, verify, all */
    double *frame_ms;   /* per frame total (malloc'd, n_frames) */
    uint64_t rss_first, rss_last; /* bytes, after frame 0 and at the end */
    uint64_t heap_bytes, store_bytes;
    size_t allocs_after_warmup; /* allocation calls from frame 100 to the end */
    uint32_t *loop_query, *loop_match; /* detected events (malloc'd, loops entries) */
} run_summary;

/* Run all frames; returns 0 or prints the error and returns 1. */
int run_frames(deja_detector *det, const deja_options *o, const frame_source *src,
               const run_config *cfg, alloc_counter *counter, run_summary *sum);
void run_summary_free(run_summary *s);
uint64_t resident_bytes(void);
/* Detector parameters from `deja run`-style options; the summary lines of a run. */
deja_detector_params params_from_args(int argc, char **argv);
void print_summary(const run_summary *s, size_t n_frames);

/* --features orb|alike-t|alike-n|NAME|PATH.onnx: NULL for ORB (also when absent); a value with a
 * '/' or ending in .onnx is a path; a name is DIR/NAME/model.onnx with DIR from --models DIR,
 * else $DEJA_MODELS, else ../shared/models. The path goes into buf (bytes long). Prints an error
 * and returns false for a name without a readable model. */
bool features_from_args(int argc, char **argv, char *buf, size_t bytes, const char **model);
#define FEATURES_USAGE                                                                             \
    "  --features F         orb (default), alike-t, alike-n (../shared/models/F/model.onnx, or\n" \
    "                       under --models DIR / $DEJA_MODELS), or a model PATH.onnx; the\n"     \
    "                       vocabulary must be trained on the same features\n"

#endif
