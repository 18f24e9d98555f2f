/* test_detector.c - the loop-closure detector end to end on the generated world (exact ground
 * truth): precision and recall pinned, steady-state frames allocate nothing, explanations are
 * consistent with events, bad input leaves the detector unchanged. Also the feature store. */
#include "deja.h"
#include "store.h"
#include "test.h"
#include "test_util.h"
#include "test_vocab_util.h"
#include "world.h"

/* Ground truth of a world as a query x match bitmap (small sequences only). */
typedef struct {
    uint32_t n;
    uint8_t *bits;
    uint32_t n_queries;
} truth;

static void on_loop(void *user, uint32_t q, const uint32_t *m, size_t n)
{
    truth *t = user;
    for (size_t i = 0; i < n; i++) t->bits[(size_t)q * t->n + m[i]] = 1;
    t->n_queries++;
}

TEST(finds_the_true_loops_of_a_generated_world)
{
    deja_options o = deja_options_default();
    deja_vocab *voc = test_world_vocab(&o, 1000010, 120);
    ASSERT(voc != NULL);
    deja__world_params p = deja__world_params_default();
    p.seed = 7;
    p.n_frames = 1500;
    deja_allocator a = deja__allocator(NULL);
    deja__world *w;
    ASSERT_OK(deja__world_create(&a, &p, &w));
    /* Recall over the strict truth (centres within 1 m); an event is correct when the loose truth
     * (within 8 m and 45 degrees: the same stretch of corridor seen from further back) has it. */
    truth t = {p.n_frames, calloc((size_t)p.n_frames * p.n_frames, 1), 0};
    truth loose = {p.n_frames, calloc((size_t)p.n_frames * p.n_frames, 1), 0};
    ASSERT_OK(deja__world_loops(w, on_loop, &t));
    ASSERT_OK(deja__world_loops_within(w, DEJA__WORLD_LOOSE_DIST_M, DEJA__WORLD_LOOSE_ANGLE_DEG,
                                       on_loop, &loose));
    ASSERT(t.n_queries > 100); /* the route revisits places */
    deja_detector_params dp = deja_detector_params_default();
    deja__world_intrinsics(w, &dp.fx, &dp.fy, &dp.cx, &dp.cy);
    dp.explain = 5;
    deja_detector *det;
    ASSERT_OK(deja_detector_create(&o, voc, &dp, &det));
    uint8_t *px = malloc((size_t)p.width * p.height);
    size_t events = 0, correct = 0, found_queries = 0, accepted_explained = 0;
    for (uint32_t i = 0; i < p.n_frames; i++) {
        ASSERT_OK(deja__world_render(w, i, px, p.width));
        deja_image im = {p.width, p.height, p.width, px};
        deja_frame_result r;
        ASSERT_OK(deja_detector_add_image(det, &im, i / 30.0, &r));
        EXPECT_EQ(r.frame, i);
        for (size_t c = 0; c < r.n_candidates; c++) {
            EXPECT(r.candidates[c].frame + dp.recent_frames <= i);
            if (r.candidates[c].stage == DEJA_STAGE_ACCEPTED) {
                accepted_explained++;
                EXPECT(r.has_loop && r.loop.match == r.candidates[c].frame);
            }
        }
        if (!r.has_loop) continue;
        events++;
        EXPECT(r.loop.query == i && r.loop.match + dp.recent_frames <= i);
        EXPECT_GE(r.loop.n_inliers, dp.min_inliers);
        if (loose.bits[(size_t)i * t.n + r.loop.match]) correct++;
        else { /* say what the false positive was, for whoever has to look into it */
            deja__world_pose pa, pb;
            if (deja__world_pose_of(w, i, &pa) == DEJA_OK
                && deja__world_pose_of(w, r.loop.match, &pb) == DEJA_OK)
                fprintf(stderr, "  false: %u -> %u: %.2f m, %.1f deg, score %.3f x%.2f, %u/%u "
                        "inliers\n", i, r.loop.match, hypot(pa.x - pb.x, pa.y - pb.y),
                        fabs(pa.yaw - pb.yaw) * 57.3, r.loop.score, r.loop.normalised,
                        r.loop.n_inliers, r.loop.n_matches);
        }
        if (t.bits[(size_t)i * t.n + r.loop.match]) found_queries++;
    }
    double precision = events ? (double)correct / events : 0, recall = (double)found_queries / t.n_queries;
    fprintf(stderr, "  %zu events, %zu correct, precision %.3f, recall %.3f of %u queries\n", events,
            correct, precision, recall, t.n_queries);
    EXPECT_EQ(correct, events); /* precision 1.0 */
    EXPECT_GE(recall, 0.85);    /* measured 0.917 (754 events, all correct) */
    EXPECT_LE(recall, 1.0);
    EXPECT(accepted_explained > 0);
    EXPECT_EQ(deja_detector_size(det), p.n_frames);
    free(px);
    free(t.bits);
    free(loose.bits);
    deja_detector_destroy(det);
    deja__world_destroy(w);
    deja_vocab_destroy(voc);
}

TEST(steady_state_frames_allocate_nothing)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_vocab *voc = test_world_vocab(&o, 1000010, 40);
    ASSERT(voc != NULL);
    deja__world_params p = deja__world_params_default();
    p.seed = 7;
    p.n_frames = 400;
    deja_allocator a = deja__allocator(NULL); /* the fixture is not counted */
    deja__world *w;
    ASSERT_OK(deja__world_create(&a, &p, &w));
    deja_detector_params dp = deja_detector_params_default();
    dp.explain = 3;
    deja_detector *det;
    ASSERT_OK(deja_detector_create(&o, voc, &dp, &det));
    ASSERT_OK(deja_detector_reserve(det, p.n_frames));
    uint8_t *px = malloc((size_t)p.width * p.height);
    size_t before = 0;
    for (uint32_t i = 0; i < p.n_frames; i++) {
        if (i == 200) before = c.calls;
        ASSERT_OK(deja__world_render(w, i, px, p.width));
        deja_image im = {p.width, p.height, p.width, px};
        deja_frame_result r;
        ASSERT_OK(deja_detector_add_image(det, &im, i / 30.0, &r));
    }
    EXPECT_EQ(c.calls, before); /* frames 200..399 */
    free(px);
    deja_detector_destroy(det);
    deja__world_destroy(w);
    deja_vocab_destroy(voc);
    EXPECT_EQ(c.live, 0);
}

static deja_vocab *tiny_vocab(void)
{
    /* Any valid vocabulary will do for argument checks: train on random descriptors. */
    static uint8_t desc[64 * 32];
    for (size_t i = 0; i < sizeof desc; i++) desc[i] = (uint8_t)(i * 2654435761u >> 13);
    deja_features f = {.n = 64, .descriptors = desc, .kind = DEJA_DESC_BINARY, .desc_bytes = 32};
    deja_vocab_params vp = deja_vocab_params_default();
    vp.k = 4;
    vp.depth = 3;
    deja_vocab *v = NULL;
    if (deja_vocab_train(NULL, &vp, &f, 1, &v) != DEJA_OK) return NULL;
    return v;
}

TEST(bad_parameters_and_input_are_errors_that_change_nothing)
{
    deja_vocab *v = tiny_vocab();
    ASSERT(v != NULL);
    deja_detector *det;
    deja_detector_params p = deja_detector_params_default();
    p.direct_level = 9;
    EXPECT_STATUS(deja_detector_create(NULL, v, &p, &det), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_last_error(), "direct_level") != NULL);
    p = deja_detector_params_default();
    p.min_inliers = 3;
    EXPECT_STATUS(deja_detector_create(NULL, v, &p, &det), DEJA_INVALID_ARG);
    p = deja_detector_params_default();
    p.fx = -1;
    EXPECT_STATUS(deja_detector_create(NULL, v, &p, &det), DEJA_INVALID_ARG);
    p = deja_detector_params_default();
    p.direct_level = 1;
    ASSERT_OK(deja_detector_create(NULL, v, &p, &det));
    deja_keypoint kp[2] = {{10, 10, 31, 0, 1, 0}, {20, 20, 31, 90, 1, 0}};
    uint8_t d[2 * 32] = {0};
    deja_features f = {.n = 2, .keypoints = kp, .descriptors = d, .kind = DEJA_DESC_BINARY,
                       .desc_bytes = 32};
    deja_frame_result r;
    ASSERT_OK(deja_detector_add_features(det, &f, 1.0, &r));
    EXPECT_EQ(deja_detector_size(det), 1);
    deja_features wrong = f;
    wrong.desc_bytes = 16;
    EXPECT_STATUS(deja_detector_add_features(det, &wrong, 2.0, &r), DEJA_INVALID_ARG);
    EXPECT(strstr(deja_detector_error(det), "16-byte") != NULL);
    wrong = f;
    wrong.keypoints = NULL;
    EXPECT_STATUS(deja_detector_add_features(det, &wrong, 2.0, &r), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_detector_add_features(det, &f, 0.5, &r), DEJA_INVALID_ARG); /* time goes back */
    EXPECT_STATUS(deja_detector_add_features(det, &f, NAN, &r), DEJA_INVALID_ARG);
    EXPECT_EQ(deja_detector_size(det), 1);
    ASSERT_OK(deja_detector_add_features(det, &f, 2.0, &r));
    EXPECT_EQ(r.frame, 1);
    deja_image bad = {0, 0, 0, NULL};
    EXPECT(deja_detector_add_image(det, &bad, 3.0, &r) != DEJA_OK);
    EXPECT_EQ(deja_detector_size(det), 2);
    deja_detector_destroy(det);
    deja_vocab_destroy(v);
}

TEST(feature_store_reads_back_what_it_stored)
{
    deja_allocator a = deja__allocator(NULL);
    deja__store *s;
    ASSERT_OK(deja__store_create(&a, NULL, &s));
    enum { N = 300 };
    deja_keypoint kp[N];
    uint8_t desc[N * 32];
    for (int frame = 0; frame < 5; frame++) {
        size_t n = (size_t)(frame * 70);
        for (size_t i = 0; i < n; i++) {
            kp[i] = (deja_keypoint){(float)i + 0.25f, (float)frame, 31, (float)(i % 360), 5, (int)(i % 8)};
            for (int b = 0; b < 32; b++) desc[i * 32 + b] = (uint8_t)(i + b + frame);
        }
        deja_features f = {.n = n, .keypoints = kp, .descriptors = desc, .kind = DEJA_DESC_BINARY,
                           .desc_bytes = 32};
        ASSERT_OK(deja__store_append(s, &f));
    }
    EXPECT_EQ(deja__store_size(s), 5);
    for (uint32_t frame = 0; frame < 5; frame++) {
        deja_features f;
        ASSERT_OK(deja__store_read(s, frame, &f));
        ASSERT_EQ(f.n, frame * 70);
        for (size_t i = 0; i < f.n; i++) {
            EXPECT_NEAR(f.keypoints[i].x, (float)i + 0.25f, 1e-6);
            EXPECT_NEAR(f.keypoints[i].y, frame, 1e-6);
            EXPECT_NEAR(f.keypoints[i].angle, (float)(i % 360), 0.01);
            EXPECT_EQ(f.keypoints[i].octave, (int)(i % 8));
            EXPECT_EQ(((const uint8_t *)f.descriptors)[i * 32 + 7], (uint8_t)(i + 7 + frame));
        }
    }
    deja_features f;
    EXPECT_STATUS(deja__store_read(s, 5, &f), DEJA_INVALID_ARG);
    deja__store_truncate(s, 3);
    EXPECT_EQ(deja__store_size(s), 3);
    EXPECT_STATUS(deja__store_read(s, 3, &f), DEJA_INVALID_ARG);
    ASSERT_OK(deja__store_read(s, 2, &f));
    EXPECT_EQ(f.n, 140);
    deja__store_destroy(s);
    EXPECT_STATUS(deja__store_create(&a, "/nonexistent/folder", &s), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "/nonexistent/folder") != NULL);
}
