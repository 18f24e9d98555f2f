/* report.h - the evaluation report of one or more runs: PNG charts (time per stage and resident
 * memory against frame index, the precision-recall curve, the loop matrix, the trajectory with
 * its loops) and one self-contained HTML page (charts embedded) with the summary table. */
#ifndef DEJA_REPORT_H
#define DEJA_REPORT_H

#include "base.h"
#include "eval.h"
#include "truth.h"

enum { DEJA__REPORT_STAGES = 5 }; /* decode, features, transform, query, verify */

typedef struct {
    const char *name;          /* file-name safe: used for the PNG names */
    const char *source;        /* what was run (path, layout), shown on the page */
    uint32_t n_frames;
    const float *stage_ms;     /* n_frames x DEJA__REPORT_STAGES, or NULL */
    const uint64_t *rss;       /* n_frames resident bytes after each frame, or NULL */
    uint64_t heap_bytes;       /* the detector's own memory at the end */
    const deja__event *events; /* verified candidates: accepted when value >= threshold */
    size_t n_events;
    double threshold;
    const char *threshold_name; /* what value is, e.g. "RANSAC inliers" */
    const deja__truth *truth;  /* NULL: no ground truth (no PR curve) */
    const deja__truth *judge;  /* the truth that judges events: loose or truth */
    const deja__eval *eval;    /* scored events, NULL without truth */
    uint32_t cand_k;           /* best BoW candidates per frame, for the matrix's grey cells */
    const uint32_t *cand_frame; /* n_frames x cand_k (UINT32_MAX: none), or NULL */
    const float *cand_score;
    const double *poses;       /* n_frames x 12 ([R|t] camera-to-world), or NULL */
    const uint8_t *has_pose;   /* n_frames: 0 where a frame has no pose; NULL: all have */
} deja__report_seq;

/* The figures of the summary table (shared by the page and the command line). */
typedef struct {
    uint32_t frames, queries;
    size_t accepted, correct;
    double precision, recall, recall_full_precision, average_precision; /* NaN without truth */
    double ms_median, ms_p99, ms_stage_mean[DEJA__REPORT_STAGES];
    double rss_growth_kb; /* resident growth per frame over the run, KB (NaN without rss) */
    double heap_kb;       /* detector memory per frame, KB */
} deja__report_row;

deja_status deja__report_row_compute(const deja_options *o, const deja__report_seq *s,
                                     deja__report_row *row, char *err);

/* Write DIR/<name>-{time,memory,pr,matrix,trajectory}.png (charts that have data) and
 * DIR/index.html. dir is created if missing. */
deja_status deja__report_write(const deja_options *o, const char *dir, const char *title,
                               const char *command, const deja__report_seq *seqs, size_t n,
                               char *err);

#endif
