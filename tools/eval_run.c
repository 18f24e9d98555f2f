/* eval_run.c - a sequence through the detector (or saved events), scored, kept for the report. */
#define _POSIX_C_SOURCE 200809L
#include "eval_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SIMILAR_K = 8, SWEEP_FLOOR = 8 };

static bool next_frame(void *ctx, size_t i, deja_image *im, double *t, char *err, size_t err_bytes)
{
    seq_source *s = ctx;
    deja_status st = deja_decoder_read_file(s->dec, s->seq->paths[i], im);
    if (st != DEJA_OK) {
        snprintf(err, err_bytes, "%s", deja_decoder_error(s->dec));
        return false;
    }
    *t = s->seq->timestamps[i];
    return true;
}

frame_source sequence_frames(seq_source *s)
{
    return (frame_source){s->seq->n, next_frame, s};
}

double opt_fps(int argc, char **argv)
{
    const char *s = opt_str(argc, argv, "--fps", NULL);
    double fps = s ? strtod(s, NULL) : 30;
    return fps > 0 && fps < 1e6 ? fps : 30;
}

deja__sequence *open_sequence(int argc, char **argv, const char *path)
{
    char err[DEJA_ERROR_BYTES];
    deja__sequence *s = NULL;
    deja_status st = deja__sequence_open(NULL, path, NULL, &s, err);
    const char *d = opt_str(argc, argv, "--truth-dist", NULL), *a = opt_str(argc, argv, "--truth-angle", NULL),
               *g = opt_str(argc, argv, "--truth-gap", NULL);
    if (st == DEJA_OK && (d || a || g)) {
        /* the layout's rule with the overrides */
        deja__truth_rule r = deja__truth_rule_default(s->layout);
        if (d) r.max_dist_m = strtod(d, NULL);
        if (a) r.max_angle_deg = strtod(a, NULL);
        if (g) r.min_gap = (uint32_t)strtoul(g, NULL, 10);
        deja__sequence_destroy(s);
        s = NULL;
        st = deja__sequence_open(NULL, path, &r, &s, err);
    }
    if (st != DEJA_OK) {
        fail(path, st, err);
        return NULL;
    }
    double fps = opt_fps(argc, argv);
    if (!s->has_timestamps) /* the readers' stand-in is i / 30 */
        for (uint32_t i = 0; i < s->n; i++) s->timestamps[i] = (double)i / fps;
    return s;
}

bool eval_options_from_args(int argc, char **argv, eval_options *eo)
{
    memset(eo, 0, sizeof *eo);
    eo->argc = argc;
    eo->argv = argv;
    eo->truth_path = opt_str(argc, argv, "--truth", NULL);
    eo->loose = opt_flag(argc, argv, "--loose");
    eo->require_truth = 1;
    eo->sweep = 1;
    eo->params = params_from_args(argc, argv);
    eo->cfg = (run_config){.threads = (int)opt_long(argc, argv, "--threads", 2), .quiet = 1,
                           .events = stdout, .progress = isatty(STDERR_FILENO)};
    return features_from_args(argc, argv, eo->features_path, sizeof eo->features_path,
                              &eo->cfg.features);
}

/* File-name-safe name from the path's last component. */
static void name_from_path(char *out, size_t bytes, const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t k = 0;
    for (size_t i = start; i < len && k + 1 < bytes; i++) {
        char c = path[i];
        out[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
                           || c == '_' || c == '.'
                       ? c
                       : '_';
    }
    if (k == 0) out[k++] = 's';
    out[k] = 0;
}

/* Truth for the run: --truth, else the sequence's. */
static int attach_truth(eval_run *run, const eval_options *eo)
{
    char err[DEJA_ERROR_BYTES];
    if (eo->truth_path) {
        deja_status st = deja__truth_read(NULL, eo->truth_path, run->seq->n, &run->truth_file, err);
        if (st != DEJA_OK) return fail(eo->truth_path, st, err);
    }
    const deja__truth *t = run->truth_file ? run->truth_file : run->seq->truth;
    if (!t && eo->require_truth) {
        fprintf(stderr, "deja: %s: no ground truth (%s layout): give --truth FILE, or a folder with "
                        "loops.txt or poses\n", run->source, deja__seq_layout_name(run->seq->layout));
        return 1;
    }
    run->report.truth = t;
    run->report.judge = eo->loose && run->seq->truth_loose && !run->truth_file ? run->seq->truth_loose : t;
    size_t len = strlen(run->source);
    if (run->truth_file)
        snprintf(run->source + len, sizeof run->source - len, "; truth %s", eo->truth_path);
    else if (t && run->seq->truth_from_poses)
        snprintf(run->source + len, sizeof run->source - len,
                 "; truth from poses: within %g m and %g deg, %u+ frames apart",
                 run->seq->rule_used.max_dist_m, run->seq->rule_used.max_angle_deg,
                 run->seq->rule_used.min_gap);
    else if (t)
        snprintf(run->source + len, sizeof run->source - len, "; truth loops.txt%s",
                 run->report.judge != t ? ", events judged by loops_loose.txt" : "");
    return 0;
}

static int score(eval_run *run)
{
    run->report.events = run->events;
    run->report.n_events = run->n_events;
    run->report.threshold = run->threshold;
    if (!run->report.truth) return 0;
    char err[DEJA_ERROR_BYTES];
    deja_status st = deja__eval_score(NULL, run->report.truth,
                                      run->report.judge != run->report.truth ? run->report.judge : NULL,
                                      run->events, run->n_events, run->threshold, &run->eval, err);
    if (st != DEJA_OK) return fail(run->source, st, err);
    run->report.eval = &run->eval;
    return 0;
}

static int begin(eval_run *run, const char *path, const eval_options *eo)
{
    memset(run, 0, sizeof *run);
    run->seq = open_sequence(eo->argc, eo->argv, path);
    if (!run->seq) return 1;
    name_from_path(run->name, sizeof run->name, path);
    snprintf(run->source, sizeof run->source, "%s (%s, %u frames)", path,
             deja__seq_layout_name(run->seq->layout), run->seq->n);
    run->report.name = run->name;
    run->report.source = run->source;
    run->report.n_frames = run->seq->n;
    run->report.poses = run->seq->poses;
    run->report.has_pose = run->seq->has_pose;
    run->report.threshold_name = "RANSAC inliers";
    int rc = attach_truth(run, eo);
    if (rc) eval_run_free(run);
    return rc;
}

/* Events, per-frame series and the report's pointers from the run's record. */
static int collect(eval_run *run, const eval_options *eo)
{
    uint32_t n = (uint32_t)run->sum.frames;
    run->events = calloc(n ? n : 1, sizeof *run->events);
    run->stage_ms = calloc((size_t)(n ? n : 1) * DEJA__REPORT_STAGES, sizeof *run->stage_ms);
    run->rss = calloc(n ? n : 1, sizeof *run->rss);
    if (!run->events || !run->stage_ms || !run->rss) return fail("eval", DEJA_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const frame_record *f = &run->rec.frames[i];
        memcpy(&run->stage_ms[(size_t)i * DEJA__REPORT_STAGES], f->ms, sizeof f->ms);
        run->rss[i] = f->rss;
        if (f->match == UINT32_MAX) continue;
        /* what min_inliers = t accepts: inliers >= t and >= the ratio of the matches */
        float ratio_need = eo->params.min_inlier_ratio * (float)f->matches;
        if (f->inliers < SWEEP_FLOOR || (float)f->inliers < ratio_need) continue;
        run->events[run->n_events++] = (deja__event){i, f->match, (float)f->inliers};
    }
    run->threshold = eo->params.min_inliers;
    run->report.n_frames = n;
    run->report.stage_ms = run->stage_ms;
    run->report.rss = run->rss;
    run->report.heap_bytes = run->sum.heap_bytes;
    run->report.cand_k = run->rec.k;
    run->report.cand_frame = run->rec.cand_frame;
    run->report.cand_score = run->rec.cand_score;
    return score(run);
}

int eval_run_frames(eval_run *run, const frame_source *src, const deja_vocab *voc,
                    const eval_options *eo, const char *const *names)
{
    alloc_counter counter = {0};
    deja_options o = deja_options_default();
    o.allocator = counting_allocator(&counter);
    deja_detector_params p = eo->params;
    if (eo->sweep && p.min_inliers > SWEEP_FLOOR) p.min_inliers = SWEEP_FLOOR;
    if (p.explain < SIMILAR_K) p.explain = SIMILAR_K;
    deja_detector *det = NULL;
    deja_status st;
    uint32_t n = (uint32_t)src->n_frames;
    int rc = 0;
    if ((st = deja_detector_create(&o, voc, &p, &det)) != DEJA_OK
        || (st = deja_detector_reserve(det, n < 10000 ? n : 10000)) != DEJA_OK) {
        rc = fail("setup", st, det ? deja_detector_error(det) : deja_last_error());
    } else if (!run_record_init(&run->rec, n, SIMILAR_K)) {
        rc = fail("eval", DEJA_NOMEM, "out of memory for the per-frame record");
    } else {
        run_config cfg = eo->cfg;
        cfg.record = &run->rec;
        cfg.names = names;
        rc = run_frames(det, &o, src, &cfg, &counter, &run->sum);
        if (rc == 0) rc = collect(run, eo);
    }
    deja_detector_destroy(det);
    return rc;
}

int eval_run_detector(eval_run *run, const char *path, const deja_vocab *voc, const eval_options *eo)
{
    int rc = begin(run, path, eo);
    if (rc) return rc;
    deja_decoder *dec = NULL;
    deja_status st = deja_decoder_create(NULL, &dec);
    if (st != DEJA_OK) {
        rc = fail("decoder", st, deja_last_error());
    } else {
        seq_source ss = {run->seq, dec};
        frame_source src = sequence_frames(&ss);
        rc = eval_run_frames(run, &src, voc, eo, (const char *const *)run->seq->paths);
    }
    deja_decoder_destroy(dec);
    if (rc) eval_run_free(run);
    return rc;
}

int eval_run_events(eval_run *run, const char *path, const char *events_path, const eval_options *eo)
{
    int rc = begin(run, path, eo);
    if (rc) return rc;
    char err[DEJA_ERROR_BYTES];
    double thr = NAN;
    deja__event *ev = NULL;
    size_t n = 0;
    deja_status st = deja__events_read(NULL, events_path, run->seq->n, &ev, &n, &thr, err);
    if (st != DEJA_OK) {
        eval_run_free(run);
        return fail(events_path, st, err);
    }
    /* own copy with the CLI's allocator, so that eval_run_free frees one way */
    run->events = malloc((n ? n : 1) * sizeof *run->events);
    if (run->events && n) memcpy(run->events, ev, n * sizeof *ev);
    deja__events_free(NULL, ev, n);
    if (!run->events) {
        eval_run_free(run);
        return fail("eval", DEJA_NOMEM, "out of memory");
    }
    run->n_events = n;
    run->events_from_file = 1;
    int given = opt_str(eo->argc, eo->argv, "--min-inliers", NULL) != NULL;
    run->threshold = given || !isfinite(thr) ? eo->params.min_inliers : thr;
    size_t len = strlen(run->source);
    snprintf(run->source + len, sizeof run->source - len, "; events %s", events_path);
    rc = score(run);
    if (rc) eval_run_free(run);
    return rc;
}

void eval_run_free(eval_run *run)
{
    deja__sequence_destroy(run->seq);
    deja__truth_destroy(run->truth_file);
    deja__truth_destroy(run->own_truth);
    deja__truth_destroy(run->own_loose);
    free(run->own_poses);
    run_record_free(&run->rec);
    if (run->sum.frame_ms || run->sum.loop_query) run_summary_free(&run->sum);
    deja__eval_free(&run->eval);
    free(run->events);
    free(run->stage_ms);
    free(run->rss);
    memset(run, 0, sizeof *run);
}

int eval_write_report(const eval_run *runs, int n, const char *dir, const char *cmd, int argc,
                      char **argv, int optional)
{
    deja__report_seq *seqs = calloc((size_t)(n ? n : 1), sizeof *seqs);
    char command[2048];
    size_t k = (size_t)snprintf(command, sizeof command, "deja");
    for (int i = -1; i < argc && k < sizeof command; i++)
        k += (size_t)snprintf(command + k, sizeof command - k, " %s", i < 0 ? cmd : argv[i]);
    if (!seqs) return fail("report", DEJA_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) seqs[i] = runs[i].report;
    char err[DEJA_ERROR_BYTES];
    char title[64];
    snprintf(title, sizeof title, "deja %s report", cmd);
    deja_status st = deja__report_write(NULL, dir, title, command, seqs, (size_t)n, err);
    free(seqs);
    if (st == DEJA_UNSUPPORTED && optional) {
        fprintf(stderr, "report skipped: %s\n", err);
        return 0;
    }
    if (st != DEJA_OK) return fail("report", st, err);
    fprintf(stderr, "report: %s/index.html\n", dir);
    return 0;
}
