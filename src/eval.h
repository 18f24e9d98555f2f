/* eval.h - precision and recall of loop events against a ground truth, the precision-recall
 * curve over an acceptance threshold, recall at 100% precision and the curve's area.
 *
 * An event (query, match, value) is accepted at threshold t when value >= t. It is correct when
 * the acceptable truth (the loose one if given, else the strict one) has the pair. Recall is over
 * the strict truth's queries: a query counts as found once an accepted event for it is in the
 * strict truth. */
#ifndef DEJA_EVAL_H
#define DEJA_EVAL_H

#include "base.h"
#include "truth.h"

typedef struct {
    uint32_t query, match;
    float value; /* the figure the threshold sweeps (e.g. RANSAC inliers) */
} deja__event;

typedef struct {
    double threshold;
    double precision; /* 1 when no event is accepted */
    double recall;
    size_t accepted, correct;
    uint32_t found; /* strict queries found */
} deja__pr_point;

typedef struct {
    deja__pr_point at;         /* at the operating threshold */
    double recall_full_precision;    /* the highest recall with no wrong event accepted */
    double threshold_full_precision; /* the lowest threshold giving it (inf: none) */
    double average_precision;  /* area under the curve: sum of precision x recall step */
    deja__pr_point *curve;     /* one point per distinct event value, threshold descending */
    size_t n_curve, curve_cap;
    uint32_t n_queries;        /* strict truth queries */
    deja_allocator alloc;
} deja__eval;

/* Score n events (any order; several per query allowed). loose may be NULL. Events must lie in the
 * truth's frames with match < query and a finite value. out->curve is freed by deja__eval_free. */
deja_status deja__eval_score(const deja_options *o, const deja__truth *strict, const deja__truth *loose,
                             const deja__event *events, size_t n, double threshold, deja__eval *out,
                             char *err);
void deja__eval_free(deja__eval *e);

/* Saved events, one per line: `query match [value]` (value 1 when absent), '#' comments; a line
 * `# threshold T` gives the threshold the run used (*threshold NaN when absent). Indices are
 * checked against n_frames. *out is freed with deja__events_free. */
deja_status deja__events_parse(const deja_options *o, const char *text, size_t len, const char *name,
                               uint32_t n_frames, deja__event **out, size_t *n, double *threshold,
                               char *err);
deja_status deja__events_read(const deja_options *o, const char *path, uint32_t n_frames,
                              deja__event **out, size_t *n, double *threshold, char *err);
deja_status deja__events_write(const char *path, const deja__event *ev, size_t n, double threshold,
                               const char *value_name, char *err);
void deja__events_free(const deja_options *o, deja__event *ev, size_t n);

#endif
