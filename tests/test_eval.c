/* test_eval.c - precision, recall, the PR curve, recall at 100% precision and its area on
 * hand-made ground truth, where each figure is worked out by hand. */
#include "eval.h"
#include "test.h"

#include <unistd.h>

static deja__truth *truth(const char *text, uint32_t n_frames)
{
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    if (deja__truth_parse(NULL, text, strlen(text), "test", n_frames, &t, err) != DEJA_OK) {
        fprintf(stderr, "  truth: %s\n", err);
        return NULL;
    }
    return t;
}

/* 3 true queries (5, 7, 9); values 50 (right), 45 (wrong), 40 (right), 30 (frame 6: no loop). */
static const deja__event mixed[] = {{7, 2, 40}, {9, 8, 45}, {5, 0, 50}, {6, 1, 30}};

TEST(operating_point_counts_the_threshold_itself)
{
    deja__truth *t = truth("5 0 1\n7 2\n9 3 4\n", 10);
    ASSERT(t);
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__eval_score(NULL, t, NULL, mixed, 4, 40, &e, err));
    EXPECT_EQ(e.n_queries, 3);
    EXPECT_EQ(e.at.accepted, 3);
    EXPECT_EQ(e.at.correct, 2);
    EXPECT_NEAR(e.at.precision, 2.0 / 3, 1e-12);
    EXPECT_NEAR(e.at.recall, 2.0 / 3, 1e-12);
    deja__eval_free(&e);
    ASSERT_OK(deja__eval_score(NULL, t, NULL, mixed, 4, 40.5, &e, err));
    EXPECT_EQ(e.at.accepted, 2);
    EXPECT_NEAR(e.at.precision, 0.5, 1e-12);
    EXPECT_NEAR(e.at.recall, 1.0 / 3, 1e-12);
    deja__eval_free(&e);
    deja__truth_destroy(t);
}

TEST(curve_full_precision_recall_and_area)
{
    deja__truth *t = truth("5 0 1\n7 2\n9 3 4\n", 10);
    ASSERT(t);
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__eval_score(NULL, t, NULL, mixed, 4, 40, &e, err));
    ASSERT_EQ(e.n_curve, 4);
    const double thr[] = {50, 45, 40, 30}, prec[] = {1, 0.5, 2.0 / 3, 0.5},
                 rec[] = {1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3};
    for (int i = 0; i < 4; i++) {
        EXPECT_NEAR(e.curve[i].threshold, thr[i], 1e-12);
        EXPECT_NEAR(e.curve[i].precision, prec[i], 1e-12);
        EXPECT_NEAR(e.curve[i].recall, rec[i], 1e-12);
    }
    EXPECT_NEAR(e.recall_full_precision, 1.0 / 3, 1e-12);
    EXPECT_NEAR(e.threshold_full_precision, 50, 1e-12);
    EXPECT_NEAR(e.average_precision, 1.0 / 3 + 2.0 / 9, 1e-12);
    deja__eval_free(&e);
    deja__truth_destroy(t);
}

TEST(a_query_is_found_once_and_ties_enter_together)
{
    deja__truth *t = truth("5 0 1\n7 2\n", 8);
    ASSERT(t);
    /* two right events for query 5, then a tie at 20 of a right and a wrong event */
    const deja__event ev[] = {{5, 0, 30}, {5, 1, 30}, {7, 2, 20}, {6, 0, 20}};
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__eval_score(NULL, t, NULL, ev, 4, 0, &e, err));
    ASSERT_EQ(e.n_curve, 2);
    EXPECT_EQ(e.curve[0].found, 1);
    EXPECT_EQ(e.curve[0].correct, 2);
    EXPECT_NEAR(e.curve[0].recall, 0.5, 1e-12);
    EXPECT_EQ(e.curve[1].found, 2);
    EXPECT_NEAR(e.curve[1].precision, 0.75, 1e-12);
    /* the tie brings a wrong event with the right one: full precision stops at 30 */
    EXPECT_NEAR(e.recall_full_precision, 0.5, 1e-12);
    EXPECT_NEAR(e.threshold_full_precision, 30, 1e-12);
    deja__eval_free(&e);
    deja__truth_destroy(t);
}

TEST(loose_truth_judges_events_strict_truth_counts_recall)
{
    deja__truth *strict = truth("5 0\n", 8), *loose = truth("5 0 1\n6 1\n", 8);
    ASSERT(strict && loose);
    const deja__event ev[] = {{5, 1, 9}, {6, 1, 9}};
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__eval_score(NULL, strict, loose, ev, 2, 9, &e, err));
    EXPECT_NEAR(e.at.precision, 1, 1e-12);
    EXPECT_NEAR(e.at.recall, 0, 1e-12); /* 5 -> 1 is only loosely right */
    deja__eval_free(&e);
    ASSERT_OK(deja__eval_score(NULL, strict, NULL, ev, 2, 9, &e, err));
    EXPECT_NEAR(e.at.precision, 0, 1e-12);
    deja__eval_free(&e);
    deja__truth_destroy(strict);
    deja__truth_destroy(loose);
}

TEST(no_events_and_no_truth)
{
    deja__truth *t = truth("", 4), *t2 = truth("3 0\n", 4);
    ASSERT(t && t2);
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__eval_score(NULL, t2, NULL, NULL, 0, 40, &e, err));
    EXPECT_EQ(e.n_curve, 0);
    EXPECT_EQ(e.at.accepted, 0);
    EXPECT_NEAR(e.at.recall, 0, 0);
    EXPECT_NEAR(e.recall_full_precision, 0, 0);
    EXPECT_NEAR(e.average_precision, 0, 0);
    deja__eval_free(&e);
    const deja__event ev[] = {{3, 0, 1}};
    ASSERT_OK(deja__eval_score(NULL, t, NULL, ev, 1, 1, &e, err));
    EXPECT_EQ(e.n_queries, 0);
    EXPECT_NEAR(e.at.precision, 0, 0);
    EXPECT_NEAR(e.at.recall, 0, 0);
    deja__eval_free(&e);
    deja__truth_destroy(t);
    deja__truth_destroy(t2);
}

TEST(bad_events_are_refused)
{
    deja__truth *t = truth("3 0\n", 4), *other = truth("", 5);
    ASSERT(t && other);
    deja__eval e;
    char err[DEJA_ERROR_BYTES];
    const deja__event late[] = {{4, 0, 1}}, ahead[] = {{2, 2, 1}}, nan_v[] = {{3, 0, NAN}};
    EXPECT_STATUS(deja__eval_score(NULL, t, NULL, late, 1, 1, &e, err), DEJA_INVALID_ARG);
    EXPECT(strstr(err, "query 4 >= 4 frames"));
    EXPECT_STATUS(deja__eval_score(NULL, t, NULL, ahead, 1, 1, &e, err), DEJA_INVALID_ARG);
    EXPECT(strstr(err, "not before"));
    EXPECT_STATUS(deja__eval_score(NULL, t, NULL, nan_v, 1, 1, &e, err), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__eval_score(NULL, t, other, late, 0, 1, &e, err), DEJA_INVALID_ARG);
    deja__truth_destroy(t);
    deja__truth_destroy(other);
}


TEST(events_file_round_trip)
{
    char dir[] = "/tmp/deja_eval_XXXXXX", path[64];
    ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ev.txt", dir);
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__events_write(path, mixed, 4, 40, "inliers", err));
    deja__event *ev = NULL;
    size_t n = 0;
    double thr = 0;
    ASSERT_OK(deja__events_read(NULL, path, 10, &ev, &n, &thr, err));
    ASSERT_EQ(n, 4);
    EXPECT_NEAR(thr, 40, 0);
    for (size_t i = 0; i < n; i++) {
        EXPECT_EQ(ev[i].query, mixed[i].query);
        EXPECT_EQ(ev[i].match, mixed[i].match);
        EXPECT_NEAR(ev[i].value, mixed[i].value, 0);
    }
    deja__events_free(NULL, ev, n);
    EXPECT_STATUS(deja__events_read(NULL, path, 9, &ev, &n, &thr, err), DEJA_FORMAT);
    EXPECT(strstr(err, "line 4: query 9 >= 9 frames"));
    remove(path);
    EXPECT_STATUS(deja__events_read(NULL, path, 10, &ev, &n, &thr, err), DEJA_IO);
    rmdir(dir);
}

TEST(events_text_without_values_and_with_comments)
{
    const char *text = "# saved by hand\r\n\n  3 1\n\t4 0  2.5 \n# threshold 2\n";
    deja__event *ev = NULL;
    size_t n = 0;
    double thr = 0;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__events_parse(NULL, text, strlen(text), "t", 5, &ev, &n, &thr, err));
    ASSERT_EQ(n, 2);
    EXPECT_EQ(ev[0].query, 3);
    EXPECT_NEAR(ev[0].value, 1, 0);
    EXPECT_NEAR(ev[1].value, 2.5, 0);
    EXPECT_NEAR(thr, 2, 0);
    deja__events_free(NULL, ev, n);
    ASSERT_OK(deja__events_parse(NULL, "", 0, "t", 5, &ev, &n, &thr, err));
    EXPECT_EQ(n, 0);
    EXPECT(isnan(thr));
    deja__events_free(NULL, ev, n);
}

TEST(hostile_events_text_names_the_line)
{
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"3 1\n3 x\n", "line 2: expected"},
        {"3 1 nan\n", "line 1: value"},
        {"3 1 2 4\n", "more than 3 fields"},
        {"99999999999 1\n", "line 1: expected"},
        {"-3 1\n", "line 1: expected"},
        {"3 3\n", "not before"},
        {"\n\n7 1\n", "line 3: query 7 >= 5"},
        {"3 1 1e39\n", "out of range"},
        {"# threshold abc\n", "bad threshold"},
        {"3\n", "expected"},
    };
    char err[DEJA_ERROR_BYTES];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        deja__event *ev = NULL;
        size_t n = 0;
        double thr;
        EXPECT_STATUS(deja__events_parse(NULL, bad[i].text, strlen(bad[i].text), "t", 5, &ev, &n,
                                         &thr, err),
                      DEJA_FORMAT);
        if (!strstr(err, bad[i].says)) TEST_FAIL_AT("case %zu: '%s' lacks '%s'", i, err, bad[i].says);
    }
}
