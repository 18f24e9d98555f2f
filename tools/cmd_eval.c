/* cmd_eval.c - `deja eval`: run the detector over sequences with ground truth (or read saved
 * events) and score them: precision, recall, recall at 100% precision, the precision-recall curve
 * over the inlier threshold and its area; a table over the sequences and, with --report, PNG
 * charts and an HTML page.
 *
 * The curve is exact: the detector verifies at most one candidate per frame and the verification
 * does not change its state, so one run with min_inliers at the floor (8) gives, for every
 * threshold t, the events a run with min_inliers t would accept (inliers >= t and the inlier
 * ratio). The operating point is the detector's min_inliers (40). */
#define _POSIX_C_SOURCE 200809L
#include "eval_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: deja eval --vocab V.dvoc [options] SEQUENCE...\n"
            "       deja eval --events FILE [options] SEQUENCE   score events saved by deja run --events\n"
            "  SEQUENCE  a folder with images/ and loops.txt (deja synth, ../shared/data), a KITTI\n"
            "            odometry sequence, a TUM RGB-D or EuRoC folder (truth from poses), or a\n"
            "            folder / list of images with --truth\n"
            "  --truth FILE         loops.txt-style truth (query match1 match2 ..., 0-based)\n"
            "  --loose              judge events by loops_loose.txt where the sequence has one\n"
            "  --truth-dist M --truth-angle DEG --truth-gap N\n"
            "                       the rule for truth derived from poses (defaults per layout)\n"
            "  --report DIR         PNG charts and DIR/index.html\n"
            "  --json               one JSON object per sequence instead of the table\n"
            FEATURES_USAGE
            "  --threads 1|2, --recent, --candidates, --stop-words, --min-score, --consistency,\n"
            "  --min-inliers (the operating threshold), --intrinsics: as deja run\n");
}

static void print_table_head(void)
{
    printf("| sequence | frames | truth queries | events | precision | recall | recall @100%% P | "
           "AP | ms/frame median | p99 | RSS growth KB/frame | detector heap KB/frame |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

/* v with `decimals`, or a dash when it is not known (NaN). */
static const char *num(char *buf, double v, int decimals)
{
    if (isfinite(v)) snprintf(buf, 32, "%.*f", decimals, v);
    else snprintf(buf, 32, "-");
    return buf;
}

static void print_row(const char *name, const deja__report_row *r)
{
    char b[8][32];
    printf("| %s | %u | %u | %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, r->frames,
           r->queries, r->accepted, num(b[0], r->precision, 3), num(b[1], r->recall, 3),
           num(b[2], r->recall_full_precision, 3), num(b[3], r->average_precision, 3),
           num(b[4], r->ms_median, 2), num(b[5], r->ms_p99, 2), num(b[6], r->rss_growth_kb, 1),
           num(b[7], r->heap_kb, 2));
}

/* v as a JSON number, or null when it is not known. */
static const char *json_num(char *buf, double v)
{
    if (isfinite(v)) snprintf(buf, 32, "%.6g", v);
    else snprintf(buf, 32, "null");
    return buf;
}

static void print_json(const char *name, const eval_run *run, const deja__report_row *r)
{
    char b[9][32];
    printf("{\"sequence\":\"%s\",\"layout\":\"%s\",\"frames\":%u,\"truth_queries\":%u,"
           "\"events\":%zu,\"correct\":%zu,\"precision\":%s,\"recall\":%s,"
           "\"recall_at_full_precision\":%s,\"threshold_at_full_precision\":%s,"
           "\"average_precision\":%s,\"threshold\":%g,\"ms_median\":%s,\"ms_p99\":%s,"
           "\"rss_growth_kb_per_frame\":%s,\"detector_heap_kb_per_frame\":%.3f,\"curve\":[",
           name, run->seq ? deja__seq_layout_name(run->seq->layout) : "generated", r->frames,
           r->queries, r->accepted, r->correct, json_num(b[0], r->precision),
           json_num(b[1], r->recall), json_num(b[2], r->recall_full_precision),
           json_num(b[3], run->eval.threshold_full_precision), json_num(b[4], r->average_precision),
           run->threshold, json_num(b[5], r->ms_median), json_num(b[6], r->ms_p99),
           json_num(b[7], r->rss_growth_kb), r->heap_kb);
    for (size_t i = 0; i < run->eval.n_curve; i++) {
        const deja__pr_point *p = &run->eval.curve[i];
        printf("%s[%g,%.6f,%.6f]", i ? "," : "", p->threshold, p->precision, p->recall);
    }
    printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
    static const char *const valued[] = {
        "--vocab", "--events", "--truth", "--truth-dist", "--truth-angle", "--truth-gap",
        "--report", "--threads", "--recent", "--candidates", "--consistency", "--min-inliers",
        "--level", "--stop-words", "--min-score", "--intrinsics", "--explain", "--fps",
        "--features", "--models", NULL};
    char *inputs[64];
    int n_in = positionals(argc, argv, valued, inputs, 64);
    const char *vocab_path = opt_str(argc, argv, "--vocab", NULL);
    const char *events_path = opt_str(argc, argv, "--events", NULL);
    if (n_in < 1 || n_in > 64 || (!vocab_path && !events_path) || (events_path && n_in != 1)) {
        usage();
        return 2;
    }
    eval_options eo;
    if (!eval_options_from_args(argc, argv, &eo)) return 2;
    int json = opt_flag(argc, argv, "--json");
    const char *report_dir = opt_str(argc, argv, "--report", NULL);

    deja_options o = deja_options_default();
    deja_vocab *voc = NULL;
    deja_status st;
    if (vocab_path && !events_path && (st = deja_vocab_load(&o, vocab_path, 0, &voc)) != DEJA_OK)
        return fail(vocab_path, st, deja_last_error());

    eval_run *runs = calloc((size_t)n_in, sizeof *runs);
    if (!runs) {
        deja_vocab_destroy(voc);
        return fail("eval", DEJA_NOMEM, "out of memory");
    }
    int rc = 0, n_runs = 0;
    for (int i = 0; i < n_in && rc == 0; i++) {
        eval_run *run = &runs[n_runs];
        rc = events_path ? eval_run_events(run, inputs[i], events_path, &eo)
                         : eval_run_detector(run, inputs[i], voc, &eo);
        if (rc != 0) break;
        n_runs++;
        deja__report_row row;
        char err[DEJA_ERROR_BYTES];
        if ((st = deja__report_row_compute(&o, &run->report, &row, err)) != DEJA_OK) {
            rc = fail("eval", st, err);
            break;
        }
        if (json) print_json(run->report.name, run, &row);
        else {
            if (n_runs == 1) print_table_head();
            print_row(run->report.name, &row);
        }
        fflush(stdout);
    }
    if (rc == 0 && report_dir) rc = eval_write_report(runs, n_runs, report_dir, "eval", argc, argv, 0);
    for (int i = 0; i < n_runs; i++) eval_run_free(&runs[i]);
    free(runs);
    deja_vocab_destroy(voc);
    return rc;
}
