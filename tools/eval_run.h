/* eval_run.h - one evaluation of `deja eval` (and the report of `deja run --report`): a sequence
 * opened by the sequence readers, run through the detector (or events read from a file), scored
 * against its truth, and kept for the report. Also the frame source over a sequence. */
#ifndef DEJA_EVAL_RUN_H
#define DEJA_EVAL_RUN_H

#include "report.h"
#include "runner.h"
#include "seq.h"

/* Frames of a sequence, decoded one at a time. */
typedef struct {
    const deja__sequence *seq;
    deja_decoder *dec;
} seq_source;

frame_source sequence_frames(seq_source *s);
/* --fps F (30): the frame rate that makes timestamps for frames that have none. */
double opt_fps(int argc, char **argv);

/* Open a sequence (rule from --truth-dist/--truth-angle/--truth-gap over the layout's default);
 * prints the error and returns NULL on failure. */
deja__sequence *open_sequence(int argc, char **argv, const char *path);

typedef struct {
    int argc;
    char **argv;
    const char *truth_path; /* --truth */
    int loose;              /* --loose */
    int require_truth;      /* deja eval: a sequence without truth is an error */
    int sweep;              /* run with min_inliers at the floor (8) to get the whole PR curve */
    deja_detector_params params; /* from the command line; min_inliers is the operating point */
    run_config cfg;              /* threads, printing, CSV, features; record is set per run */
    char features_path[1100];    /* cfg.features points here (--features) */
} eval_options;

/* Options of `deja eval` (sweep, truth required, quiet). false (after printing why) for a bad
 * --features; the rest is filled in anyway. */
bool eval_options_from_args(int argc, char **argv, eval_options *eo);

typedef struct {
    deja__sequence *seq;
    deja__truth *truth_file; /* --truth, owned */
    deja__truth *own_truth, *own_loose; /* truths made by the caller (a generated world), owned */
    double *own_poses;                  /* poses made by the caller, owned (malloc) */
    run_record rec;
    run_summary sum;
    deja__event *events;
    size_t n_events;
    int events_from_file;
    deja__eval eval;
    double threshold;
    float *stage_ms;
    uint64_t *rss;
    char name[128], source[1200];
    deja__report_seq report;
} eval_run;

/* Run the detector over src into run: the record, the summary, the verified candidates as
 * events, and their score when run->report.truth is set. 0, or 1 after printing the error. */
int eval_run_frames(eval_run *run, const frame_source *src, const deja_vocab *voc,
                    const eval_options *eo, const char *const *names);
/* 0, or 1 after printing the error (run is then freed). */
int eval_run_detector(eval_run *run, const char *path, const deja_vocab *voc, const eval_options *eo);
int eval_run_events(eval_run *run, const char *path, const char *events_path, const eval_options *eo);
void eval_run_free(eval_run *run);
/* The report of the runs in dir; cmd ("eval", "run") and argv make the command line shown.
 * optional: a build without libpng skips it with a note instead of failing. */
int eval_write_report(const eval_run *runs, int n, const char *dir, const char *cmd, int argc,
                      char **argv, int optional);

#endif
