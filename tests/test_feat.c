/* test_feat.c - the feature extractor (deja_extractor_*, feat.c) and the detector's use of it.
 *
 * Without ../shared: a tiny ALIKE-shaped ONNX model that the test writes itself (scores =
 * sigmoid of a 1x1 conv, descriptors = a 3x3 conv) on images of bright dots: keypoints where the
 * dots are, descriptors as the conv gives them, output order free, non-feature models refused,
 * re-planning only on a new size, no allocation per frame (extractor and detector), an
 * out-of-memory sweep, the detector's checks of vocabulary against features; ORB through the
 * extractor equals deja_orb.
 * With ../shared (skipped otherwise): ALIKE-t / -n on the README's 240x320 test image reproduce
 * the expected sub-pixel keypoints, scores and full-frame descriptors; 1 and 2 threads agree; and
 * a float vocabulary trained on ALIKE features of tum-fr1-xyz finds loops in its first 300 frames
 * with precision >= 0.5 against loops_loose.txt. */
#include "deja.h"
#include "feat.h"
#include "npy.h"
#include "seq.h"
#include "test.h"
#include "test_util.h"

#include <unistd.h>

/* ---- a tiny ONNX model, written as protobuf by hand -------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_put(pb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t c[10];
    size_t n = 0;
    do {
        c[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_put(b, c, n);
}

static void pb_uint(pb *b, uint32_t field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void pb_bytes(pb *b, uint32_t field, const void *d, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_put(b, d, n);
}

static void pb_str(pb *b, uint32_t field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Append sub as a length-delimited field and free it. */
static void pb_msg(pb *b, uint32_t field, pb *sub)
{
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* TensorProto FLOAT with raw data. */
static void pb_tensor(pb *graph, const char *name, const int64_t *dims, int rank, const float *v)
{
    pb t = {0};
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        pb_uint(&t, 1, (uint64_t)dims[i]);
        count *= (size_t)dims[i];
    }
    pb_uint(&t, 2, 1);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, v, count * sizeof *v);
    pb_msg(graph, 5, &t);
}

/* NodeProto with up to 3 inputs and one output; conv3: kernel_shape and pads for a 3x3 conv. */
static void pb_node(pb *graph, const char *op, const char *const *in, int n_in, const char *out,
                    int conv3)
{
    pb n = {0};
    for (int i = 0; i < n_in; i++) pb_str(&n, 1, in[i]);
    pb_str(&n, 2, out);
    pb_str(&n, 4, op);
    const char *names[2] = {"kernel_shape", "pads"};
    const int counts[2] = {2, 4};
    for (int k = 0; conv3 && k < 2; k++) {
        pb a = {0};
        pb_str(&a, 1, names[k]);
        for (int i = 0; i < counts[k]; i++) pb_uint(&a, 8, k == 0 ? 3 : 1);
        pb_uint(&a, 20, 7); /* INTS */
        pb_msg(&n, 5, &a);
    }
    pb_msg(graph, 1, &n);
}

/* ValueInfoProto; rank 4 with (1, 3, "H", "W") for the input, name only otherwise. */
static void pb_value(pb *graph, uint32_t field, const char *name, int image)
{
    pb v = {0};
    pb_str(&v, 1, name);
    if (image) {
        pb shape = {0}, tt = {0}, ty = {0};
        const char *params[4] = {NULL, NULL, "H", "W"};
        for (int i = 0; i < 4; i++) {
            pb d = {0};
            if (params[i]) pb_str(&d, 2, params[i]);
            else pb_uint(&d, 1, i == 0 ? 1 : 3);
            pb_msg(&shape, 1, &d);
        }
        pb_uint(&tt, 1, 1); /* FLOAT */
        pb_msg(&tt, 2, &shape);
        pb_msg(&ty, 1, &tt);
        pb_msg(&v, 2, &ty);
    }
    pb_msg(graph, field, &v);
}

enum { TINY_DIM = 4 };
enum { TINY_ALIKE, TINY_SWAPPED, TINY_ONE_OUTPUT, TINY_WIDE_SCORES };

/* Write the model: scores = sigmoid(4 (R + G + B) - 6) (a 1x1 conv), descriptors = a seeded 3x3
 * conv with TINY_DIM channels and zero padding. Variants: outputs swapped, only the
 * descriptors, or scores with 2 channels. Returns the path. */
static const char *tiny_model(int variant)
{
    pb g = {0}, m = {0};
    const int64_t ws[4] = {variant == TINY_WIDE_SCORES ? 2 : 1, 3, 1, 1}, bs[1] = {ws[0]};
    const int64_t wd[4] = {TINY_DIM, 3, 3, 3}, bd[1] = {TINY_DIM};
    float w_s[6] = {4, 4, 4, 4, 4, 4}, b_s[2] = {-6, -6}, w_d[TINY_DIM * 27], b_d[TINY_DIM];
    uint64_t seed = 99;
    for (int i = 0; i < TINY_DIM * 27; i++) w_d[i] = test_rndf(&seed);
    for (int i = 0; i < TINY_DIM; i++) b_d[i] = 0.1f;
    const char *cs[3] = {"image", "ws", "bs"}, *cd[3] = {"image", "wd", "bd"}, *sg[1] = {"logit"};
    pb_node(&g, "Conv", cs, 3, "logit", 0);
    pb_node(&g, "Sigmoid", sg, 1, "scores", 0);
    pb_node(&g, "Conv", cd, 3, "desc", 1);
    pb_str(&g, 2, "tiny");
    pb_tensor(&g, "ws", ws, 4, w_s);
    pb_tensor(&g, "bs", bs, 1, b_s);
    pb_tensor(&g, "wd", wd, 4, w_d);
    pb_tensor(&g, "bd", bd, 1, b_d);
    pb_value(&g, 11, "image", 1);
    if (variant == TINY_SWAPPED) {
        pb_value(&g, 12, "desc", 0);
        pb_value(&g, 12, "scores", 0);
    } else {
        if (variant != TINY_ONE_OUTPUT) pb_value(&g, 12, "scores", 0);
        pb_value(&g, 12, "desc", 0);
    }
    pb_uint(&m, 1, 7);
    pb op = {0};
    pb_uint(&op, 2, 13);
    pb_msg(&m, 8, &op);
    pb_str(&m, 2, "test_feat");
    pb_msg(&m, 7, &g);
    char name[32];
    snprintf(name, sizeof name, "tiny%d.onnx", variant);
    const char *path = test_tmp_path(name);
    if (!test_write_file(path, m.p, m.n)) abort();
    free(m.p);
    return path;
}

/* A dark w x h image with n bright dots (150..255) at least 4 px from the border and 5 px apart,
 * each with a dimmer neighbour so that descriptors differ; dot centres in xy (2n ints). */
static uint8_t *dots(int w, int h, int n, uint64_t seed, int *xy)
{
    uint8_t *px = malloc((size_t)w * h);
    memset(px, 10, (size_t)w * h);
    for (int k = 0; k < n;) {
        int x = 4 + (int)(test_rnd(&seed) % (uint64_t)(w - 8));
        int y = 4 + (int)(test_rnd(&seed) % (uint64_t)(h - 8));
        int clear = 1;
        for (int j = 0; j < k && clear; j++)
            clear = abs(xy[2 * j] - x) >= 5 || abs(xy[2 * j + 1] - y) >= 5;
        if (!clear) continue;
        px[y * w + x] = (uint8_t)(150 + test_rnd(&seed) % 106);
        int dx = (int)(test_rnd(&seed) % 3) - 1, dy = dx ? 0 : 1;
        px[(y + dy) * w + x + dx] = (uint8_t)(40 + test_rnd(&seed) % 60);
        xy[2 * k] = x, xy[2 * k + 1] = y;
        k++;
    }
    return px;
}

/* 1 if (x, y) is within tol of one of the n points xy. */
static int near_point(const int *xy, int n, float x, float y, float tol)
{
    for (int k = 0; k < n; k++)
        if (fabsf(x - (float)xy[2 * k]) <= tol && fabsf(y - (float)xy[2 * k + 1]) <= tol) return 1;
    return 0;
}

/* 1 if the message has needle (printed when not). */
static int says(const char *msg, const char *needle)
{
    if (strstr(msg, needle)) return 1;
    fprintf(stderr, "    message \"%s\" lacks \"%s\"\n", msg, needle);
    return 0;
}

/* ---- the tiny model ------------------------------------------------------------------------ */

TEST(a_network_finds_the_dots_with_normalised_descriptors_and_info)
{
    int xy[40];
    uint8_t *px = dots(64, 48, 20, 5, xy);
    deja_image im = {64, 48, 64, px};
    deja_extractor *x;
    ASSERT_OK(deja_extractor_create(NULL, tiny_model(TINY_ALIKE), 0, 0, &x));
    deja_extractor_info info;
    deja_extractor_get_info(x, &info);
    EXPECT_EQ(info.kind, DEJA_DESC_FLOAT32);
    EXPECT_EQ(info.desc_bytes, 4 * TINY_DIM);
    EXPECT_EQ(info.max_keypoints, 1000);
    EXPECT_EQ(info.width, 0); /* not planned yet */
    EXPECT(strstr(info.model, "tiny0.onnx") != NULL);
    deja_features f;
    ASSERT_OK(deja_extractor_extract(x, &im, &f));
    deja_extractor_get_info(x, &info);
    EXPECT(info.width == 64 && info.height == 48);
    EXPECT_EQ(f.kind, DEJA_DESC_FLOAT32);
    EXPECT_EQ(f.desc_bytes, 4 * TINY_DIM);
    EXPECT_EQ(f.n, 20);
    const float *d = f.descriptors;
    for (size_t i = 0; i < f.n; i++) {
        /* a symmetric-enough peak: the soft-argmax stays within half a pixel of the dot */
        EXPECT(near_point(xy, 20, f.keypoints[i].x, f.keypoints[i].y, 0.5f));
        EXPECT(f.keypoints[i].response > 0.5f);
        double norm = 0;
        for (int c = 0; c < TINY_DIM; c++)
            norm += (double)d[i * TINY_DIM + c] * d[i * TINY_DIM + c];
        EXPECT_NEAR(norm, 1.0, 1e-5);
    }
    /* the descriptors are not all the same (the 3x3 conv sees each dot's neighbour) */
    int differ = 0;
    for (size_t i = 1; i < f.n; i++)
        differ += fabsf(d[i * TINY_DIM] - d[0]) > 1e-3f;
    EXPECT(differ > 5);
    deja_extractor_destroy(x);
    free(px);
}

TEST(output_order_does_not_matter_and_non_feature_models_are_refused)
{
    int xy[30];
    uint8_t *px = dots(64, 64, 15, 6, xy);
    deja_image im = {64, 64, 64, px};
    deja_extractor *a, *b, *c;
    ASSERT_OK(deja_extractor_create(NULL, tiny_model(TINY_ALIKE), 64, 64, &a));
    ASSERT_OK(deja_extractor_create(NULL, tiny_model(TINY_SWAPPED), 64, 64, &b));
    deja_features fa, fb;
    ASSERT_OK(deja_extractor_extract(a, &im, &fa));
    ASSERT_OK(deja_extractor_extract(b, &im, &fb));
    ASSERT_EQ(fa.n, fb.n);
    EXPECT(memcmp(fa.keypoints, fb.keypoints, fa.n * sizeof *fa.keypoints) == 0);
    EXPECT(memcmp(fa.descriptors, fb.descriptors, fa.n * fa.desc_bytes) == 0);
    deja_extractor_destroy(a);
    deja_extractor_destroy(b);

    c = NULL;
    EXPECT_STATUS(deja_extractor_create(NULL, tiny_model(TINY_ONE_OUTPUT), 0, 0, &c),
                  DEJA_UNSUPPORTED);
    EXPECT(says(deja_last_error(), "1 inputs and 1 outputs"));
    EXPECT_STATUS(deja_extractor_create(NULL, tiny_model(TINY_WIDE_SCORES), 0, 0, &c),
                  DEJA_UNSUPPORTED);
    EXPECT(says(deja_last_error(), "1x2x32x32"));
    EXPECT_STATUS(deja_extractor_create(NULL, "/nonexistent/m.onnx", 0, 0, &c), DEJA_IO);
    EXPECT(says(deja_last_error(), "/nonexistent/m.onnx"));
    const char *junk = test_tmp_path("junk.onnx");
    ASSERT(test_write_file(junk, "not a model at all", 18));
    EXPECT_STATUS(deja_extractor_create(NULL, junk, 0, 0, &c), DEJA_FORMAT);
    EXPECT_STATUS(deja_extractor_create(NULL, tiny_model(TINY_ALIKE), 64, 0, &c),
                  DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_extractor_create(NULL, tiny_model(TINY_ALIKE), 20000, 20000, &c),
                  DEJA_LIMIT);
    EXPECT(c == NULL);
    EXPECT_STATUS(deja_extractor_create(NULL, NULL, 0, 0, NULL), DEJA_INVALID_ARG);
    free(px);
}

TEST(bad_frames_fail_with_a_message_and_the_next_good_frame_works)
{
    deja_extractor *x;
    ASSERT_OK(deja_extractor_create(NULL, tiny_model(TINY_ALIKE), 0, 0, &x));
    int xy[20];
    uint8_t *px = dots(40, 40, 10, 7, xy);
    deja_image im = {40, 40, 40, px}, bad = im;
    deja_features f;
    EXPECT_STATUS(deja_extractor_extract(x, NULL, &f), DEJA_INVALID_ARG);
    bad.stride = 39;
    EXPECT_STATUS(deja_extractor_extract(x, &bad, &f), DEJA_INVALID_ARG);
    EXPECT(says(deja_extractor_error(x), "stride 39"));
    bad = im, bad.width = 0;
    EXPECT_STATUS(deja_extractor_extract(x, &bad, &f), DEJA_INVALID_ARG);
    bad = im, bad.width = 20000, bad.stride = 20000;
    EXPECT_STATUS(deja_extractor_extract(x, &bad, &f), DEJA_LIMIT);
    ASSERT_OK(deja_extractor_extract(x, &im, &f));
    EXPECT_EQ(f.n, 10);
    EXPECT_STATUS(deja__extractor_extract_rgb(x, NULL, 40, 40, 120, &f), DEJA_INVALID_ARG);
    deja_extractor_destroy(x);
    free(px);
}

TEST(frames_of_the_planned_size_allocate_nothing_and_a_new_size_replans_once)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_extractor *x;
    ASSERT_OK(deja_extractor_create(&o, tiny_model(TINY_ALIKE), 64, 48, &x));
    int xy[2][40];
    uint8_t *small = dots(64, 48, 20, 8, xy[0]), *big = dots(100, 70, 20, 9, xy[1]);
    deja_image a = {64, 48, 64, small}, b = {100, 70, 100, big};
    deja_features f;
    size_t before = c.calls;
    ASSERT_OK(deja_extractor_extract(x, &a, &f)); /* planned at create */
    EXPECT_EQ(c.calls, before);
    size_t n_small = f.n;
    float first_x = f.keypoints[0].x;
    ASSERT_OK(deja_extractor_extract(x, &b, &f));
    EXPECT(c.calls > before); /* a new size: re-planned */
    EXPECT_EQ(f.n, 20);
    before = c.calls;
    for (int i = 0; i < 5; i++) ASSERT_OK(deja_extractor_extract(x, &b, &f));
    EXPECT_EQ(c.calls, before);
    ASSERT_OK(deja_extractor_extract(x, &a, &f)); /* back: same features as before */
    EXPECT_EQ(f.n, n_small);
    EXPECT(f.keypoints[0].x == first_x);
    before = c.calls;
    ASSERT_OK(deja_extractor_extract(x, &a, &f));
    EXPECT_EQ(c.calls, before);
    deja_extractor_destroy(x);
    EXPECT_EQ(c.live, 0);
    free(small);
    free(big);
}

TEST(out_of_memory_at_any_allocation_fails_cleanly_and_leaks_nothing)
{
    const char *path = tiny_model(TINY_ALIKE);
    int xy[20];
    uint8_t *px = dots(64, 40, 10, 10, xy);
    deja_image im = {64, 40, 64, px}, other = {40, 40, 64, px};
    size_t k;
    for (k = 1; k < 10000; k++) {
        test_counter c = {0};
        c.fail_at = k;
        deja_options o = test_counting_options(&c);
        o.n_threads = 1;
        deja_extractor *x = NULL;
        deja_features f;
        deja_status st = deja_extractor_create(&o, path, 0, 0, &x);
        if (st == DEJA_OK) st = deja_extractor_extract(x, &im, &f);
        if (st == DEJA_OK) st = deja_extractor_extract(x, &other, &f);
        deja_extractor_destroy(x);
        EXPECT_EQ(c.live, 0);
        if (st == DEJA_OK) break;
        if (st != DEJA_NOMEM) {
            TEST_FAIL_AT("fail_at %zu: %s (%s)", k, deja_status_name(st), deja_last_error());
            break;
        }
    }
    EXPECT(k > 5 && k < 10000);
    fprintf(stderr, "  %zu allocations swept\n", k - 1);
    free(px);
}

TEST(orb_through_the_extractor_is_deja_orb)
{
    int w = 160, h = 120;
    uint8_t *px = malloc((size_t)w * h);
    uint64_t s = 3;
    for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(test_rnd(&s) % 256);
    deja_image im = {w, h, w, px};
    deja_extractor *x;
    deja_orb *orb;
    ASSERT_OK(deja_extractor_create(NULL, NULL, 0, 0, &x));
    ASSERT_OK(deja_orb_create(NULL, &orb));
    deja_extractor_info info;
    deja_extractor_get_info(x, &info);
    EXPECT(info.kind == DEJA_DESC_BINARY && info.desc_bytes == 32 && info.model[0] == 0);
    deja_features a, b;
    ASSERT_OK(deja_extractor_extract(x, &im, &a));
    ASSERT_OK(deja_orb_detect(orb, &im, &b));
    ASSERT(a.n > 50);
    ASSERT_EQ(a.n, b.n);
    EXPECT(memcmp(a.keypoints, b.keypoints, a.n * sizeof *a.keypoints) == 0);
    EXPECT(memcmp(a.descriptors, b.descriptors, a.n * 32) == 0);
    EXPECT_STATUS(deja__extractor_extract_rgb(x, px, 10, 10, 30, &a), DEJA_UNSUPPORTED);
    deja_extractor_destroy(x);
    deja_orb_destroy(orb);
    free(px);
}

/* ---- the detector with a model ------------------------------------------------------------- */

/* A vocabulary (k 4, depth 3) on the descriptors x gives for n frames of dots. */
static deja_vocab *vocab_from(deja_extractor *x, int n, int w, int h, uint64_t seed)
{
    deja_features *sets = calloc((size_t)n, sizeof *sets);
    void **copies = calloc((size_t)n, sizeof *copies);
    int *xy = malloc(2 * 40 * sizeof *xy);
    deja_vocab *v = NULL;
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        uint8_t *px = dots(w, h, 40, seed + (uint64_t)i, xy);
        deja_image im = {w, h, w, px};
        ok = deja_extractor_extract(x, &im, &sets[i]) == DEJA_OK;
        copies[i] = malloc(sets[i].n * sets[i].desc_bytes + 1);
        memcpy(copies[i], sets[i].descriptors, sets[i].n * sets[i].desc_bytes);
        sets[i].descriptors = copies[i];
        sets[i].keypoints = NULL;
        free(px);
    }
    deja_vocab_params vp = deja_vocab_params_default();
    vp.k = 4;
    vp.depth = 3;
    if (ok && deja_vocab_train(NULL, &vp, sets, (size_t)n, &v) != DEJA_OK) v = NULL;
    for (int i = 0; i < n; i++) free(copies[i]);
    free(copies);
    free(sets);
    free(xy);
    return v;
}

TEST(detector_runs_the_model_on_images_without_allocating_per_frame)
{
    const char *path = tiny_model(TINY_ALIKE);
    deja_extractor *x;
    ASSERT_OK(deja_extractor_create(NULL, path, 0, 0, &x));
    deja_vocab *v = vocab_from(x, 6, 96, 64, 100);
    ASSERT(v != NULL);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_detector_params p = deja_detector_params_default();
    p.feature_model = path;
    p.recent_frames = 5;
    p.min_inliers = 8;
    deja_detector *det;
    ASSERT_OK(deja_detector_create(&o, v, &p, &det));
    ASSERT_OK(deja_detector_reserve(det, 64));
    int xy[80];
    size_t before = 0;
    for (int i = 0; i < 40; i++) {
        if (i == 5) before = c.calls;
        /* frames repeat every 12, so later ones revisit earlier places */
        uint8_t *px = dots(96, 64, 40, 200 + (uint64_t)(i % 12), xy);
        deja_image im = {96, 64, 96, px};
        deja_frame_result r, r2;
        ASSERT_OK(deja_detector_add_image(det, &im, i / 30.0, &r));
        EXPECT_EQ(r.n_keypoints, 40);
        EXPECT(r.ms[DEJA_TIME_FEATURES] > 0);
        /* the extractor gives the detector the same features */
        if (i == 39) {
            deja_features f;
            ASSERT_OK(deja_extractor_extract(x, &im, &f));
            EXPECT_EQ(f.n, r.n_keypoints);
            (void)r2;
        }
        free(px);
    }
    EXPECT_EQ(c.calls, before);
    deja_detector_destroy(det);
    EXPECT_EQ(c.live, 0);
    deja_vocab_destroy(v);
    deja_extractor_destroy(x);
}

TEST(detector_refuses_a_vocabulary_of_other_descriptors_with_a_clear_message)
{
    const char *path = tiny_model(TINY_ALIKE);
    /* binary vocabulary + a model */
    uint8_t bin[64 * 32];
    uint64_t s = 4;
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)test_rnd(&s);
    deja_features bf = {.n = 64, .descriptors = bin, .kind = DEJA_DESC_BINARY, .desc_bytes = 32};
    deja_vocab_params vp = deja_vocab_params_default();
    vp.k = 4;
    vp.depth = 2;
    deja_vocab *vb, *vf8, *vf;
    ASSERT_OK(deja_vocab_train(NULL, &vp, &bf, 1, &vb));
    deja_detector_params p = deja_detector_params_default();
    p.feature_model = path;
    deja_detector *det = NULL;
    EXPECT_STATUS(deja_detector_create(NULL, vb, &p, &det), DEJA_INVALID_ARG);
    EXPECT(says(deja_last_error(), "float32, 4 floats"));
    EXPECT(says(deja_last_error(), "binary, 32-byte"));
    /* float vocabulary of another dimension (8) + the model (4) */
    float fl[64 * 8];
    for (size_t i = 0; i < 64 * 8; i++) fl[i] = test_rndf(&s);
    deja_features ff = {.n = 64, .descriptors = fl, .kind = DEJA_DESC_FLOAT32, .desc_bytes = 32};
    ASSERT_OK(deja_vocab_train(NULL, &vp, &ff, 1, &vf8));
    EXPECT_STATUS(deja_detector_create(NULL, vf8, &p, &det), DEJA_INVALID_ARG);
    EXPECT(says(deja_last_error(), "float32, 8 floats"));
    EXPECT(det == NULL);
    /* a float vocabulary without a model: created (for add_features), but add_image has no
     * extractor */
    ff.desc_bytes = 16;
    ff.n = 128;
    ASSERT_OK(deja_vocab_train(NULL, &vp, &ff, 1, &vf));
    p.feature_model = NULL;
    ASSERT_OK(deja_detector_create(NULL, vf, &p, &det));
    uint8_t px[64 * 64] = {0};
    deja_image im = {64, 64, 64, px};
    deja_frame_result r;
    EXPECT_STATUS(deja_detector_add_image(det, &im, 0, &r), DEJA_STATE);
    EXPECT(says(deja_detector_error(det), "feature_model"));
    /* ORB features into a float vocabulary: add_features says what differs */
    deja_keypoint kp[1] = {{1, 1, 31, 0, 1, 0}};
    deja_features orbf = {.n = 1, .keypoints = kp, .descriptors = bin, .kind = DEJA_DESC_BINARY,
                          .desc_bytes = 32};
    EXPECT_STATUS(deja_detector_add_features(det, &orbf, 0, &r), DEJA_INVALID_ARG);
    EXPECT(says(deja_detector_error(det), "binary, 32-byte"));
    EXPECT_EQ(deja_detector_size(det), 0);
    deja_detector_destroy(det);
    /* a model that does not load: the detector's create fails with the model's message */
    p.feature_model = "/nonexistent/model.onnx";
    EXPECT_STATUS(deja_detector_create(NULL, vf, &p, &det), DEJA_IO);
    EXPECT(says(deja_last_error(), "/nonexistent/model.onnx"));
    deja_vocab_destroy(vb);
    deja_vocab_destroy(vf8);
    deja_vocab_destroy(vf);
}

/* ---- shared models and data ---------------------------------------------------------------- */

typedef struct {
    char dir[1200], model[1300];
    int dim;
} shared_model;

/* The ALIKE models present under ../shared; 0 if none. */
static int shared_models(shared_model out[2])
{
    const char *shared = test_shared_dir();
    if (!shared) return 0;
    const char *names[2] = {"alike-t", "alike-n"};
    const int dims[2] = {64, 128};
    int n = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(out[n].dir, sizeof out[n].dir, "%s/models/%s", shared, names[k]);
        snprintf(out[n].model, sizeof out[n].model, "%s/model.onnx", out[n].dir);
        out[n].dim = dims[k];
        if (access(out[n].model, R_OK) == 0) n++;
    }
    return n;
}

static int load_npy(const char *dir, const char *file, unsigned flags, deja__npy *a)
{
    char path[2600], err[DEJA_ERROR_BYTES];
    snprintf(path, sizeof path, "%.1200s/%.200s", dir, file);
    if (deja__npy_load(NULL, path, flags, a, err) == DEJA_OK) return 1;
    TEST_FAIL_AT("%s", err);
    return 0;
}

/* BT.601 luma, as the decoder's colour conversion. */
static uint8_t *to_grey(const uint8_t *rgb, int w, int h)
{
    uint8_t *g = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++)
        g[i] = (uint8_t)((299 * rgb[3 * i] + 587 * rgb[3 * i + 1] + 114 * rgb[3 * i + 2] + 500) /
                         1000);
    return g;
}

TEST(shared_alike_reproduces_the_expected_keypoints_scores_and_full_frame_descriptors)
{
    shared_model ms[2];
    int nm = shared_models(ms);
    if (!nm) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    for (int k = 0; k < nm; k++) {
        deja__npy img, exy, esc, ede;
        ASSERT(load_npy(ms[k].dir, "test_image_240x320_rgb_u8.npy", 0, &img));
        ASSERT(load_npy(ms[k].dir, "expected_subpixel_keypoints_xy.npy", 0, &exy));
        ASSERT(load_npy(ms[k].dir, "expected_subpixel_scores.npy", 0, &esc));
        ASSERT(load_npy(ms[k].dir, "expected_subpixel_descriptors.npy", DEJA__NPY_FORTRAN_TO_C,
                        &ede));
        size_t n_exp = (size_t)exy.dims[0];
        ASSERT(ede.rank == 2 && ede.dims[0] == (int64_t)n_exp && ede.dims[1] == ms[k].dim);
        deja__alike_params ap = deja__alike_params_default();
        ap.max_keypoints = 0; /* the original's output */
        deja_extractor *x;
        ASSERT_OK(deja__extractor_create(NULL, ms[k].model, &ap, 320, 240, &x));
        deja_features f;
        ASSERT_OK(deja__extractor_extract_rgb(x, img.data, 320, 240, 320 * 3, &f));
        ASSERT_EQ(f.desc_bytes, 4 * ms[k].dim);
        const float *e_xy = deja__npy_f32(&exy), *e_s = deja__npy_f32(&esc),
                    *e_d = deja__npy_f32(&ede), *d = f.descriptors;
        size_t same = 0;
        double worst_px = 0, worst_score = 0, worst_desc = 0;
        for (size_t i = 0; i < n_exp; i++) {
            size_t best = SIZE_MAX;
            double bd = 1e9;
            for (size_t j = 0; j < f.n; j++) {
                double dx = f.keypoints[j].x - e_xy[2 * i], dy = f.keypoints[j].y - e_xy[2 * i + 1];
                double dd = fmax(fabs(dx), fabs(dy));
                if (dd < bd) bd = dd, best = j;
            }
            if (best == SIZE_MAX || bd > 1e-3) continue;
            same++;
            worst_px = fmax(worst_px, bd);
            worst_score = fmax(worst_score, fabs(f.keypoints[best].response - e_s[i]));
            for (int c = 0; c < ms[k].dim; c++)
                worst_desc = fmax(worst_desc, fabs(d[best * (size_t)ms[k].dim + (size_t)c] -
                                                   e_d[i * (size_t)ms[k].dim + (size_t)c]));
        }
        fprintf(stderr, "  %s: %zu of %zu expected keypoints (ours %zu); worst %.2g px, score "
                        "%.2g, descriptor %.2g\n",
                ms[k].dir, same, n_exp, f.n, worst_px, worst_score, worst_desc);
        EXPECT_GE((double)same, 0.99 * (double)n_exp);
        EXPECT_LE(fabs((double)f.n - (double)n_exp), 0.01 * (double)n_exp);
        EXPECT_LE(worst_score, 1e-4);
        EXPECT_LE(worst_desc, 1e-4);

        /* the grey path (what decoded frames take) runs on the same plan and finds mostly the
         * same keypoints */
        uint8_t *g = to_grey(img.data, 320, 240);
        deja_image im = {320, 240, 320, g};
        deja_features fg;
        ASSERT_OK(deja_extractor_extract(x, &im, &fg));
        size_t close = 0;
        for (size_t j = 0; j < fg.n; j++)
            for (size_t i = 0; i < n_exp; i++)
                if (fabsf(fg.keypoints[j].x - e_xy[2 * i]) <= 1.5f &&
                    fabsf(fg.keypoints[j].y - e_xy[2 * i + 1]) <= 1.5f) {
                    close++;
                    break;
                }
        fprintf(stderr, "  grey: %zu keypoints, %zu within 1.5 px of an RGB one\n", fg.n, close);
        EXPECT_GE((double)fg.n, 0.8 * (double)n_exp);
        EXPECT_GE((double)close, 0.8 * (double)fg.n);
        free(g);
        deja_extractor_destroy(x);
        deja__npy_free(&img);
        deja__npy_free(&exy);
        deja__npy_free(&esc);
        deja__npy_free(&ede);
    }
}

TEST(shared_alike_gives_identical_features_on_1_and_2_threads)
{
    shared_model ms[2];
    if (!shared_models(ms)) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    deja__npy img;
    ASSERT(load_npy(ms[0].dir, "test_image_240x320_rgb_u8.npy", 0, &img));
    uint8_t *g = to_grey(img.data, 320, 240);
    deja_image im = {320, 240, 320, g};
    deja_features f[2];
    deja_extractor *x[2];
    for (int t = 0; t < 2; t++) {
        deja_options o = deja_options_default();
        o.n_threads = t + 1;
        ASSERT_OK(deja_extractor_create(&o, ms[0].model, 0, 0, &x[t]));
        ASSERT_OK(deja_extractor_extract(x[t], &im, &f[t]));
    }
    ASSERT(f[0].n > 500);
    ASSERT_EQ(f[0].n, f[1].n);
    EXPECT(memcmp(f[0].keypoints, f[1].keypoints, f[0].n * sizeof *f[0].keypoints) == 0);
    EXPECT(memcmp(f[0].descriptors, f[1].descriptors, f[0].n * f[0].desc_bytes) == 0);
    for (int t = 0; t < 2; t++) deja_extractor_destroy(x[t]);
    free(g);
    deja__npy_free(&img);
}

/* An ALIKE-t float vocabulary from every 20th of the first 800 frames of tum-fr1-xyz, then the
 * detector with the model on its first 300 frames: loops found, right by the loose truth, and no
 * allocation per frame once warmed up. */
TEST(shared_alike_vocabulary_and_detector_find_loops_in_tum_fr1_xyz)
{
#ifndef DEJA_HAVE_JPEG
    SKIP("tum-fr1-xyz is JPEG and this build has no JPEG support (DEJA_JPEG=OFF)");
#endif
    shared_model ms[2];
    if (!shared_models(ms)) SKIP("no ../shared/models/alike-* (set DEJA_SHARED)");
    char path[1300], err[DEJA_ERROR_BYTES];
    snprintf(path, sizeof path, "%s/data/tum-fr1-xyz", test_shared_dir());
    deja__sequence *seq;
    if (deja__sequence_open(NULL, path, NULL, &seq, err) != DEJA_OK) SKIP("%s", err);
    ASSERT(seq->truth_loose != NULL && seq->n >= 300);
    deja_decoder *dec;
    deja_extractor *x;
    ASSERT_OK(deja_decoder_create(NULL, &dec));
    ASSERT_OK(deja_extractor_create(NULL, ms[0].model, 640, 480, &x));
    enum { N_TRAIN = 40, N_RUN = 300 };
    deja_features sets[N_TRAIN];
    void *copies[N_TRAIN] = {0};
    size_t n_sets = 0;
    for (uint32_t i = 0; i < seq->n && n_sets < N_TRAIN; i += 20) {
        deja_image im;
        ASSERT_OK(deja_decoder_read_file(dec, seq->paths[i], &im));
        deja_features f;
        ASSERT_OK(deja_extractor_extract(x, &im, &f));
        copies[n_sets] = malloc(f.n * f.desc_bytes + 1);
        memcpy(copies[n_sets], f.descriptors, f.n * f.desc_bytes);
        sets[n_sets] = f;
        sets[n_sets].keypoints = NULL;
        sets[n_sets].descriptors = copies[n_sets];
        n_sets++;
    }
    deja_extractor_destroy(x);
    deja_vocab_params vp = deja_vocab_params_default();
    vp.depth = 4;
    deja_vocab *v;
    ASSERT_OK(deja_vocab_train(NULL, &vp, sets, n_sets, &v));
    for (size_t i = 0; i < n_sets; i++) free(copies[i]);

    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_detector_params p = deja_detector_params_default();
    p.feature_model = ms[0].model;
    deja_detector *det;
    ASSERT_OK(deja_detector_create(&o, v, &p, &det));
    ASSERT_OK(deja_detector_reserve(det, N_RUN));
    size_t events = 0, correct = 0, before = 0;
    for (uint32_t i = 0; i < N_RUN; i++) {
        if (i == 5) before = c.calls;
        deja_image im;
        ASSERT_OK(deja_decoder_read_file(dec, seq->paths[i], &im));
        deja_frame_result r;
        ASSERT_OK(deja_detector_add_image(det, &im, seq->timestamps[i], &r));
        if (r.has_loop) {
            events++;
            correct += deja__truth_is_loop(seq->truth_loose, r.loop.query, r.loop.match) != 0;
        }
    }
    fprintf(stderr, "  %zu events, %zu right by loops_loose.txt\n", events, correct);
    EXPECT_EQ(c.calls, before);
    EXPECT(events > 0);
    if (events) EXPECT_GE((double)correct / (double)events, 0.5);
    deja_detector_destroy(det);
    EXPECT_EQ(c.live, 0);
    deja_vocab_destroy(v);
    deja_decoder_destroy(dec);
    deja__sequence_destroy(seq);
}
