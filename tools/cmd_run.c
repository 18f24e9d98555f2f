/* cmd_run.c - `deja run`: loop-closure detection over a folder of images or a list file, with
 * ORB or learned features (--features). */
#define _POSIX_C_SOURCE 200809L
#include "eval_run.h"
#include "world_source.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Detector parameters from the command line (documented in `deja run` usage). */
deja_detector_params params_from_args(int argc, char **argv)
{
    deja_detector_params p = deja_detector_params_default();
    p.recent_frames = (uint32_t)opt_long(argc, argv, "--recent", p.recent_frames);
    p.max_candidates = (uint32_t)opt_long(argc, argv, "--candidates", p.max_candidates);
    p.max_word_frames = (uint32_t)opt_long(argc, argv, "--stop-words", p.max_word_frames);
    p.temporal_consistency = (uint32_t)opt_long(argc, argv, "--consistency", p.temporal_consistency);
    p.min_inliers = (uint32_t)opt_long(argc, argv, "--min-inliers", p.min_inliers);
    p.direct_level = (uint32_t)opt_long(argc, argv, "--level", p.direct_level);
    p.explain = (uint32_t)opt_long(argc, argv, "--explain", 0);
    const char *s;
    if ((s = opt_str(argc, argv, "--min-score", NULL))) p.min_score = strtof(s, NULL);
    if ((s = opt_str(argc, argv, "--intrinsics", NULL)))
        if (sscanf(s, "%lf,%lf,%lf,%lf", &p.fx, &p.fy, &p.cx, &p.cy) != 4) {
            fprintf(stderr, "deja: --intrinsics expects fx,fy,cx,cy\n");
            exit(2);
        }
    return p;
}

void print_summary(const run_summary *s, size_t n_frames)
{
    if (s->frames == 0) return;
    double *sorted = malloc(s->frames * sizeof *sorted);
    if (!sorted) return;
    memcpy(sorted, s->frame_ms, s->frames * sizeof *sorted);

    double n = (double)s->frames;
    printf("%zu of %zu frames, %zu loop events\n", s->frames, n_frames, s->loops);
    printf("ms/frame: total median %.2f, p99 %.2f; mean decode %.2f, features %.2f, transform %.3f, "
           "query %.3f, verify %.3f\n",
           quantile(sorted, s->frames, 0.5), quantile(sorted, s->frames, 0.99), s->ms_total[0] / n,
           s->ms_total[1] / n, s->ms_total[2] / n, s->ms_total[3] / n, s->ms_total[4] / n);
    printf("memory: resident %.1f MB after frame 0, %.1f MB at the end (%.0f B/frame); detector heap "
           "%.1f MB, feature store file %.1f MB; %zu allocations after frame 100\n",
           s->rss_first / 1e6, s->rss_last / 1e6,
           s->frames > 1 ? ((double)s->rss_last - (double)s->rss_first) / (n - 1) : 0.0,
           s->heap_bytes / 1e6, s->store_bytes / 1e6, s->allocs_after_warmup);
    free(sorted);
}

/* `deja run --world N`: the detector over a generated sequence, scored against its true loops. */
static int run_world(int argc, char **argv, const char *vocab_path, long n_frames)
{
    alloc_counter counter = {0};
    deja_options o = deja_options_default();
    o.allocator = counting_allocator(&counter);
    deja__world_params wp;
    photo_set photos;
    world_source ws;
    deja_vocab *voc = NULL;
    char err[600], model_buf[1100];
    const char *model = NULL;
    if (!features_from_args(argc, argv, model_buf, sizeof model_buf, &model)) return 2;
    bool ok = world_params_from_args(argc, argv, (uint32_t)n_frames, &wp, &photos);
    wp.n_frames = (uint32_t)n_frames;
    deja_status st = ok ? deja_vocab_load(&o, vocab_path, 0, &voc) : DEJA_OK;
    if (ok && st != DEJA_OK) fail(vocab_path, st, deja_last_error());
    ok = ok && st == DEJA_OK && world_source_open(&ws, &wp, err, sizeof err);
    photo_set_free(&photos);
    if (!ok) {
        if (voc) fail("world", DEJA_INVALID_ARG, err);
        deja_vocab_destroy(voc);
        return 1;
    }
    FILE *csv = NULL;
    const char *csv_path = opt_str(argc, argv, "--csv", NULL);
    int rc = 1;
    if (csv_path && !(csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "deja: %s: cannot write\n", csv_path);
    } else {
        run_config cfg = {.threads = (int)opt_long(argc, argv, "--threads", 2),
                          .features = model,
                          .json = opt_flag(argc, argv, "--json"), .events = stdout, .csv = csv,
                          .quiet = opt_flag(argc, argv, "--quiet"),
                          .explain = opt_long(argc, argv, "--explain", 0) > 0,
                          .progress = isatty(STDERR_FILENO)};
        rc = detect_world_loops(argc, argv, voc, &ws, &cfg, opt_str(argc, argv, "--report", NULL),
                                "world");
    }
    if (csv) fclose(csv);
    world_source_close(&ws);
    deja_vocab_destroy(voc);
    return rc;
}

/* One sequence (any layout the sequence readers know): events as they come, the summary, the
 * score when the sequence has truth, and --events / --report. */
static int run_sequence(int argc, char **argv, const char *path, const char *vocab_path)
{
    eval_options eo;
    if (!eval_options_from_args(argc, argv, &eo)) return 2;
    eo.require_truth = 0;
    eo.sweep = 0;
    eo.cfg.quiet = opt_flag(argc, argv, "--quiet");
    eo.cfg.json = opt_flag(argc, argv, "--json");
    eo.cfg.explain = eo.params.explain > 0;
    const char *csv_path = opt_str(argc, argv, "--csv", NULL), *events_path = opt_str(argc, argv, "--events", NULL),
               *report_dir = opt_str(argc, argv, "--report", NULL);
    if (csv_path && !(eo.cfg.csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "deja: %s: cannot write\n", csv_path);
        return 1;
    }
    deja_options o = deja_options_default();
    deja_vocab *voc = NULL;
    deja_status st = deja_vocab_load(&o, vocab_path, 0, &voc);
    int rc = st == DEJA_OK ? 0 : fail(vocab_path, st, deja_last_error());
    eval_run run;
    if (rc == 0) rc = eval_run_detector(&run, path, voc, &eo);
    deja_vocab_destroy(voc);
    if (eo.cfg.csv) fclose(eo.cfg.csv);
    if (rc) return rc;
    if (!eo.cfg.json) {
        print_summary(&run.sum, run.seq->n);
        if (run.report.eval)
            printf("score: precision %.3f, recall %.3f (%zu events, %zu right; %u truth queries); "
                   "recall at 100%% precision %.3f\n",
                   run.eval.at.precision, run.eval.at.recall, run.eval.at.accepted,
                   run.eval.at.correct, run.eval.n_queries, run.eval.recall_full_precision);
    }
    if (csv_path) fprintf(stderr, "per-frame CSV: %s\n", csv_path);
    char err[DEJA_ERROR_BYTES];
    if (events_path) {
        st = deja__events_write(events_path, run.events, run.n_events, run.threshold,
                                "RANSAC inliers of every verified candidate", err);
        if (st != DEJA_OK) rc = fail(events_path, st, err);
        else fprintf(stderr, "verified candidates: %s (deja eval --events %s %s)\n", events_path,
                     events_path, path);
    }
    if (rc == 0 && report_dir) rc = eval_write_report(&run, 1, report_dir, "run", argc, argv, 0);
    eval_run_free(&run);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    static const char *const valued[] = {"--vocab", "--csv", "--threads", "--recent", "--candidates",
                                         "--consistency", "--min-inliers", "--level", "--explain", "--stop-words",
                                         "--min-score", "--intrinsics", "--fps", "--world", "--seed", "--blocks",
                                         "--textures", "--width", "--height", "--events", "--report",
                                         "--truth", "--truth-dist", "--truth-angle", "--truth-gap",
                                         "--features", "--models", NULL};
    char *inputs[64];
    int n_in = positionals(argc, argv, valued, inputs, 64);
    const char *vocab_path = opt_str(argc, argv, "--vocab", NULL);
    long world_frames_n = opt_long(argc, argv, "--world", 0);
    if (world_frames_n > 0 && n_in == 0 && vocab_path) return run_world(argc, argv, vocab_path, world_frames_n);
    if (n_in == 1 && vocab_path) return run_sequence(argc, argv, inputs[0], vocab_path);
    if (n_in > 1 && (opt_str(argc, argv, "--report", NULL) || opt_str(argc, argv, "--events", NULL))) {
        fprintf(stderr, "deja: --report and --events take one sequence\n");
        return 2;
    }
    if (n_in < 1 || n_in > 64 || !vocab_path) {
        fprintf(stderr,
                "usage: deja run --vocab V.dvoc [options] SEQUENCE|IMAGES...\n"
                "  SEQUENCE: a folder of images, a list file, a KITTI / TUM / EuRoC folder or a\n"
                "  folder with images/ and loops.txt (then the run is also scored)\n"
                "  --report DIR         PNG charts (time, memory, loop matrix, trajectory, PR) + index.html\n"
                "  --events FILE        every verified candidate with its inliers (for deja eval --events)\n"
                "  --truth FILE         loops.txt-style truth for a plain folder\n"
                "  --json               loop events (and --explain) as JSON lines\n"
                "  --quiet              no per-event output, only the summary\n"
                "  --explain N          per frame, the N best candidates and the stage that stopped each\n"
                "  --csv FILE           per-frame CSV: time of each stage, resident memory, allocations\n"
                FEATURES_USAGE
                "  --threads 1|2        overlap decode + features of the next frame with the detector (2)\n"
                "  --recent N           frames this recent are never candidates (50)\n"
                "  --candidates N       top-K BoW candidates per query (50)\n"
                "  --stop-words N       skip words already seen in more than N frames (500; 0 off)\n"
                "  --min-score X        normalised score to keep a candidate (0.3)\n"
                "  --consistency N      consecutive consistent queries before verification (3)\n"
                "  --min-inliers N      geometric inliers to accept (40)\n"
                "  --intrinsics fx,fy,cx,cy   verify with an essential matrix\n"
                "  --fps F              frame rate for timestamps (30)\n"
                "or:    deja run --vocab V.dvoc --world N [--seed 7] [--blocks 4] [--textures DIR]\n"
                "  a generated world sequence of N frames, scored against its true loops\n");
        return 2;
    }
    char model_buf[1100];
    const char *model = NULL;
    if (!features_from_args(argc, argv, model_buf, sizeof model_buf, &model)) return 2;
    path_list paths = {0};
    if (!paths_add_all(&paths, inputs, n_in)) return 1;
    alloc_counter counter = {0};
    deja_options o = deja_options_default();
    o.allocator = counting_allocator(&counter);
    deja_detector_params dp = params_from_args(argc, argv);
    deja_vocab *voc = NULL;
    deja_detector *det = NULL;
    deja_decoder *dec = NULL;
    double *times = NULL;
    deja_status st;
    int rc = 1;
    if ((st = deja_vocab_load(&o, vocab_path, 0, &voc)) != DEJA_OK
        || (st = deja_detector_create(&o, voc, &dp, &det)) != DEJA_OK
        || (st = deja_detector_reserve(det, (uint32_t)(paths.n < 10000 ? paths.n : 10000))) != DEJA_OK
        || (st = deja_decoder_create(&o, &dec)) != DEJA_OK) {
        fail("setup", st, det ? deja_detector_error(det) : deja_last_error());
        goto done;
    }
    /* the inputs as one sequence: paths in order, timestamps i / fps */
    double fps = opt_fps(argc, argv);
    times = malloc((paths.n ? paths.n : 1) * sizeof *times);
    if (!times) {
        fail("run", DEJA_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < paths.n; i++) times[i] = (double)i / fps;
    deja__sequence seq = {.layout = DEJA__SEQ_LIST, .n = (uint32_t)paths.n, .paths = paths.paths,
                          .timestamps = times};
    seq_source ss = {&seq, dec};
    frame_source src = sequence_frames(&ss);
    run_config cfg = {.threads = (int)opt_long(argc, argv, "--threads", 2),
                      .features = model,
                      .json = opt_flag(argc, argv, "--json"),
                      .quiet = opt_flag(argc, argv, "--quiet"),
                      .explain = dp.explain > 0,
                      .events = stdout,
                      .progress = isatty(STDERR_FILENO),
                      .names = (const char *const *)paths.paths};
    const char *csv_path = opt_str(argc, argv, "--csv", NULL);
    if (csv_path && !(cfg.csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "deja: %s: cannot write\n", csv_path);
        goto done;
    }
    run_summary sum;
    rc = run_frames(det, &o, &src, &cfg, &counter, &sum);
    if (!cfg.json) print_summary(&sum, paths.n);
    if (csv_path) fprintf(stderr, "per-frame CSV: %s\n", csv_path);
    run_summary_free(&sum);
    if (cfg.csv) fclose(cfg.csv);
done:
    free(times);
    deja_decoder_destroy(dec);
    deja_detector_destroy(det);
    deja_vocab_destroy(voc);
    paths_free(&paths);
    return rc;
}
