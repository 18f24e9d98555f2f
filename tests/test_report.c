/* test_report.c - the report's summary figures on known data, and a whole report (five charts
 * and the HTML page with the charts embedded) written for a made-up run. */
#include "report.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

enum { N = 400 };

typedef struct {
    float stage_ms[N * DEJA__REPORT_STAGES];
    uint64_t rss[N];
    deja__event events[N];
    size_t n_events;
    uint32_t cand_frame[N * 2];
    float cand_score[N * 2];
    double poses[N * 12];
    deja__truth *truth;
    deja__eval eval;
    deja__report_seq seq;
} fake_run;

/* A circle driven twice: frames 200.. revisit frames 0..; events right, with one wrong. */
static bool fake_run_init(fake_run *r)
{
    memset(r, 0, sizeof *r);
    for (uint32_t i = 0; i < N; i++) {
        for (int k = 0; k < DEJA__REPORT_STAGES; k++)
            r->stage_ms[i * DEJA__REPORT_STAGES + k] = (float)(k + 1) * (i == 17 ? 10.0f : 1.0f);
        r->rss[i] = (uint64_t)(10u << 20) + (uint64_t)i * 4096;
        double a = 2 * M_PI * (i % 200) / 200.0;
        double *p = &r->poses[i * 12];
        p[0] = p[5] = p[10] = 1;
        p[3] = 10 * cos(a), p[7] = 10 * sin(a), p[11] = 0.01 * i;
        r->cand_frame[i * 2] = i >= 200 ? i - 200 : UINT32_MAX;
        r->cand_frame[i * 2 + 1] = UINT32_MAX;
        r->cand_score[i * 2] = 0.5f;
    }
    char text[N * 16], *t = text;
    for (uint32_t q = 200; q < N; q++) t += sprintf(t, "%u %u\n", q, q - 200);
    char err[DEJA_ERROR_BYTES];
    if (deja__truth_parse(NULL, text, strlen(text), "fake", N, &r->truth, err) != DEJA_OK) return false;
    for (uint32_t q = 220; q < N; q += 2) r->events[r->n_events++] = (deja__event){q, q - 200, 60};
    r->events[r->n_events++] = (deja__event){301, 5, 45}; /* wrong */
    if (deja__eval_score(NULL, r->truth, NULL, r->events, r->n_events, 40, &r->eval, err) != DEJA_OK)
        return false;
    r->seq = (deja__report_seq){.name = "fake", .source = "made up <by> test_report",
                                .n_frames = N, .stage_ms = r->stage_ms, .rss = r->rss,
                                .heap_bytes = N * 2048, .events = r->events,
                                .n_events = r->n_events, .threshold = 40,
                                .threshold_name = "RANSAC inliers", .truth = r->truth,
                                .judge = r->truth, .eval = &r->eval, .cand_k = 2,
                                .cand_frame = r->cand_frame, .cand_score = r->cand_score,
                                .poses = r->poses};
    return true;
}

static void fake_run_free(fake_run *r)
{
    deja__eval_free(&r->eval);
    deja__truth_destroy(r->truth);
}

TEST(summary_row_figures)
{
    static fake_run r;
    ASSERT(fake_run_init(&r));
    deja__report_row row;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__report_row_compute(NULL, &r.seq, &row, err));
    EXPECT_EQ(row.frames, N);
    EXPECT_EQ(row.queries, 200);
    EXPECT_EQ(row.accepted, 91);
    EXPECT_EQ(row.correct, 90);
    EXPECT_NEAR(row.precision, 90.0 / 91, 1e-12);
    EXPECT_NEAR(row.recall, 90.0 / 200, 1e-12);
    EXPECT_NEAR(row.recall_full_precision, 90.0 / 200, 1e-12);
    /* every frame totals 15 ms except frame 17 (150 ms): median 15, p99 (rank 396) 15 */
    EXPECT_NEAR(row.ms_median, 15, 1e-9);
    EXPECT_NEAR(row.ms_p99, 15, 1e-9);
    EXPECT_NEAR(row.ms_stage_mean[4], 5 + 45.0 / N, 1e-6);
    EXPECT_NEAR(row.rss_growth_kb, 4, 1e-9);
    EXPECT_NEAR(row.heap_kb, 2, 1e-12);
    /* without truth: events counted at the threshold, scores unknown */
    deja__report_seq bare = r.seq;
    bare.truth = bare.judge = NULL;
    bare.eval = NULL;
    bare.rss = NULL;
    ASSERT_OK(deja__report_row_compute(NULL, &bare, &row, err));
    EXPECT_EQ(row.accepted, 91);
    EXPECT(isnan(row.precision) && isnan(row.rss_growth_kb));
    fake_run_free(&r);
}

static inline long file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

TEST(report_writes_charts_and_a_self_contained_page)
{
    static fake_run r;
    ASSERT(fake_run_init(&r));
    char dir[] = "/tmp/deja_report_XXXXXX", sub[64], err[DEJA_ERROR_BYTES];
    ASSERT(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/out", dir); /* created by the report */
    deja_status st = deja__report_write(NULL, sub, "test report", "deja eval x", &r.seq, 1, err);
#ifndef DEJA_HAVE_PNG
    EXPECT_STATUS(st, DEJA_UNSUPPORTED);
#else
    ASSERT_OK(st);
    static const char *const charts[] = {"fake-time.png", "fake-memory.png", "fake-pr.png",
                                         "fake-matrix.png", "fake-trajectory.png"};
    for (int i = 0; i < 5; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", sub, charts[i]);
        deja_decoder *dec = NULL;
        deja_image im;
        ASSERT_OK(deja_decoder_create(NULL, &dec));
        EXPECT_STATUS(deja_decoder_read_file(dec, path, &im), DEJA_OK);
        EXPECT_GE(im.width, 600);
        EXPECT_GE(im.height, 400);
        deja_decoder_destroy(dec);
        remove(path);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/index.html", sub);
    FILE *f = fopen(path, "rb");
    ASSERT(f);
    static char html[1 << 22];
    size_t n = fread(html, 1, sizeof html - 1, f);
    fclose(f);
    html[n] = 0;
    int images = 0;
    for (const char *p = html; (p = strstr(p, "data:image/png;base64,")); p++) images++;
    EXPECT_EQ(images, 5);
    EXPECT(strstr(html, "<td>fake</td><td>400</td><td>200</td><td>91</td><td>0.989</td>"));
    EXPECT(strstr(html, "made up &lt;by&gt; test_report")); /* escaped */
    EXPECT(strstr(html, "</html>"));
    remove(path);
    /* without poses and truth: no trajectory and no PR chart */
    deja__report_seq bare = r.seq;
    bare.poses = NULL;
    bare.truth = bare.judge = NULL;
    bare.eval = NULL;
    ASSERT_OK(deja__report_write(NULL, sub, "bare", NULL, &bare, 1, err));
    EXPECT_GE(file_size(sub, "fake-matrix.png"), 1000);
    EXPECT_EQ(file_size(sub, "fake-pr.png"), -1);
    EXPECT_EQ(file_size(sub, "fake-trajectory.png"), -1);
    remove(path);
    snprintf(path, sizeof path, "%s/fake-time.png", sub), remove(path);
    snprintf(path, sizeof path, "%s/fake-memory.png", sub), remove(path);
    snprintf(path, sizeof path, "%s/fake-matrix.png", sub), remove(path);
#endif
    rmdir(sub);
    rmdir(dir);
    /* a folder that cannot be made */
    EXPECT_STATUS(deja__report_write(NULL, "/proc/no/such/dir", "t", NULL, &r.seq, 1, err), DEJA_IO);
    EXPECT(strstr(err, "/proc/no/such/dir"));
    fake_run_free(&r);
}
