/* test_npy.c - the .npy reader (npy.h): files written here in the layout numpy.save uses (v1.0
 * and v2.0), every dtype deja reads, scalar / empty / 1-D shapes, hostile headers with their
 * status and message, every truncation and byte flip of a small file, and the shared test
 * vectors of ../shared/models (shapes from their READMEs, cross-checked against each other). */
#include "npy.h"
#include "test.h"
#include "test_util.h"

#include <unistd.h>

/* A .npy image: preamble, dict text padded with spaces to a multiple of 64 and '\n' (as numpy
 * writes), then data. pad < 0 leaves the header unpadded and without '\n'. */
static uint8_t *make_npy(int major, const char *dict, const void *data, size_t bytes, size_t *n,
                         int pad)
{
    size_t prelude = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = pad < 0 ? dl : ((prelude + dl + 1 + 63) / 64) * 64 - prelude;
    *n = prelude + hlen + bytes;
    uint8_t *b = malloc(*n ? *n : 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    for (size_t i = 0; i < prelude - 8; i++)
        b[8 + i] = (uint8_t)(hlen >> (8 * i));
    memset(b + prelude, ' ', hlen);
    memcpy(b + prelude, dict, dl);
    if (pad >= 0) b[prelude + hlen - 1] = '\n';
    if (bytes) memcpy(b + prelude + hlen, data, bytes);
    return b;
}

/* Loads bytes expecting st (and, on failure, the needle in the message). */
static int expect_npy(const uint8_t *b, size_t n, deja_status st, const char *needle)
{
    deja__npy a;
    char err[DEJA_ERROR_BYTES] = "";
    uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees over-reads */
    memcpy(copy, b, n);
    deja_status got = deja__npy_load_memory(NULL, copy, n, "h.npy", 0, &a, err);
    free(copy);
    deja__npy_free(&a);
    int ok =
        got == st && (st == DEJA_OK || (strstr(err, "h.npy") && (!needle || strstr(err, needle))));
    if (!ok)
        fprintf(stderr, "    got %s (%s), expected %s with '%s'\n", deja_status_name(got), err,
                deja_status_name(st), needle ? needle : "");
    return ok;
}

TEST(reads_every_dtype_in_v1_and_v2_from_memory_and_file)
{
    const float f4[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    const double f8[2] = {1e300, -0.5};
    const int32_t i4[3] = {-7, 0, 2147483647};
    const int64_t i8[2] = {INT64_MIN, 42};
    const uint8_t u1[5] = {0, 1, 128, 254, 255};
    struct {
        const char *dict;
        const void *data;
        size_t bytes, count;
        deja__npy_dtype dtype;
        int rank;
        int64_t d0, d1;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4, 24, 6, DEJA__NPY_F32, 2,
         2, 3},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8, 16, 2, DEJA__NPY_F64, 1,
         2, 0},
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i4, 12, 3, DEJA__NPY_I32, 1,
         3, 0},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", i8, 16, 2, DEJA__NPY_I64, 2,
         1, 2},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", u1, 5, 5, DEJA__NPY_U8, 1, 5,
         0},
        /* key order free, double quotes, no trailing comma, no spaces */
        {"{\"shape\":(5,),\"fortran_order\":False,\"descr\":\"|u1\"}", u1, 5, 5, DEJA__NPY_U8, 1, 5,
         0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f4, 4, 1, DEJA__NPY_F32, 0, 0,
         0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0, 0, DEJA__NPY_F32,
         2, 0, 3},
    };
    test_counter cnt = {0};
    deja_options o = test_counting_options(&cnt);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int major = 1; major <= 2; major++) {
            size_t n;
            uint8_t *b = make_npy(major, cases[i].dict, cases[i].data, cases[i].bytes, &n, 0);
            EXPECT_EQ((n - cases[i].bytes) % 64, 0);
            for (int from_file = 0; from_file < 2; from_file++) {
                deja__npy a;
                if (from_file) {
                    const char *path = test_tmp_path("a.npy");
                    ASSERT(test_write_file(path, b, n));
                    ASSERT_OK(deja__npy_load(&o, path, 0, &a, NULL));
                    unlink(path);
                } else {
                    ASSERT_OK(deja__npy_load_memory(&o, b, n, NULL, 0, &a, NULL));
                }
                EXPECT_EQ(a.dtype, cases[i].dtype);
                EXPECT_EQ(a.rank, cases[i].rank);
                EXPECT_EQ(a.count, cases[i].count);
                if (a.rank > 0) EXPECT_EQ(a.dims[0], cases[i].d0);
                if (a.rank > 1) EXPECT_EQ(a.dims[1], cases[i].d1);
                if (a.count) {
                    EXPECT_EQ((uintptr_t)a.data % 64, 0);
                    EXPECT(memcmp(a.data, cases[i].data, cases[i].bytes) == 0);
                } else {
                    EXPECT(a.data == NULL);
                }
                EXPECT((deja__npy_f32(&a) != NULL) == (a.dtype == DEJA__NPY_F32 && a.count));
                deja__npy_free(&a);
                deja__npy_free(&a); /* twice is harmless */
            }
            free(b);
        }
    }
    EXPECT_EQ(cnt.live, 0);
    EXPECT(strcmp(deja__npy_dtype_name(DEJA__NPY_I64), "<i8") == 0);
}

TEST(hostile_headers_fail_with_status_and_message)
{
    const float f2[2] = {1, 2};
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    struct {
        const char *dict;
        size_t bytes; /* of data appended */
        deja_status st;
        const char *needle;
    } cases[] = {
        {ok, 8, DEJA_OK, NULL},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, DEJA_UNSUPPORTED,
         "fortran_order True"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, DEJA_UNSUPPORTED,
         "big-endian"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, DEJA_UNSUPPORTED,
         "dtype '<c8' not supported"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 8, DEJA_UNSUPPORTED, "'|O'"},
        {"{'descr': '<f4', 'shape': (2,), }", 8, DEJA_FORMAT, "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
         DEJA_FORMAT, "key 'descr' given twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, DEJA_FORMAT,
         "unknown key 'x'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8, DEJA_FORMAT,
         "one-element shape without ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, DEJA_FORMAT,
         "non-negative integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 8, DEJA_FORMAT,
         "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,2), }", 8, DEJA_LIMIT,
         "more than 8 dims"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8,
         DEJA_LIMIT, "> limit"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576), }", 8,
         DEJA_LIMIT, "more than 1073741824 data bytes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, DEJA_FORMAT,
         "8 data bytes but shape and dtype <f4 need 12 (truncated)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, DEJA_FORMAT,
         "(trailing bytes)"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", 8, DEJA_UNSUPPORTED,
         "dtype '<f4, ' not supported"},
        {"{'descr': '<f4}", 8, DEJA_FORMAT, "unterminated string"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, DEJA_FORMAT,
         "neither True nor False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, DEJA_FORMAT,
         "text after the closing"},
        {"{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,), }", 8, DEJA_FORMAT, "escapes"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", 8, DEJA_FORMAT,
         "expected ',' or '}' after 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), \t}", 8, DEJA_FORMAT,
         "non-printable 0x09"},
        {"['descr', '<f4']", 8, DEJA_FORMAT, "expected '{'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        uint8_t *b = make_npy(1, cases[i].dict, f2, cases[i].bytes, &n, 0);
        if (!expect_npy(b, n, cases[i].st, cases[i].needle))
            TEST_FAIL_AT("case %zu: %s", i, cases[i].dict);
        free(b);
    }
    /* Preamble faults. */
    size_t n;
    uint8_t *b = make_npy(1, ok, f2, 8, &n, 0);
    uint8_t *m = malloc(n);
    ASSERT_EQ(b[8] | b[9] << 8, 118); /* the numbers below follow from it */
    struct {
        size_t at;
        uint8_t v;
        deja_status st;
        const char *needle;
    } pre[] = {{0, 0x92, DEJA_FORMAT, "no \\x93NUMPY magic"},
               {6, 3, DEJA_UNSUPPORTED, "version 3.0 (UTF-8 header)"},
               {6, 4, DEJA_FORMAT, "version 4.0"},
               {7, 1, DEJA_FORMAT, "version 1.1"},
               {9, 0x50, DEJA_LIMIT, "header length 20598 > limit 16384"},
               {9, 0x01, DEJA_FORMAT, "header length 374 > 126 bytes left"},
               {8, 0x30, DEJA_FORMAT, "does not end in '\\n'"}};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        memcpy(m, b, n);
        m[pre[i].at] = pre[i].v;
        if (!expect_npy(m, n, pre[i].st, pre[i].needle)) TEST_FAIL_AT("preamble case %zu", i);
    }
    EXPECT(expect_npy(b, 0, DEJA_FORMAT, "not a .npy file"));
    free(m);
    free(b);
    /* An unpadded header without '\n'. */
    b = make_npy(1, ok, f2, 8, &n, -1);
    EXPECT(expect_npy(b, n, DEJA_FORMAT, "does not end in"));
    free(b);
    /* Version 2.0 with a 4-byte length, and files. */
    b = make_npy(2, ok, f2, 8, &n, 0);
    EXPECT(expect_npy(b, n, DEJA_OK, NULL));
    const char *path = test_tmp_path("bad.npy");
    deja__npy a;
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__npy_load(NULL, path, 0, &a, err), DEJA_IO);
    EXPECT(strstr(err, "bad.npy: cannot open") != NULL);
    ASSERT(test_write_file(path, b, n - 1));
    EXPECT_STATUS(deja__npy_load(NULL, path, 0, &a, err), DEJA_FORMAT);
    EXPECT(strstr(err, "bad.npy: 7 data bytes but") != NULL);
    EXPECT(a.data == NULL);
    ASSERT(test_write_file(path, b, 40));
    EXPECT_STATUS(deja__npy_load(NULL, path, 0, &a, err), DEJA_FORMAT);
    EXPECT(strstr(err, "header length 116 > 28 bytes left") != NULL);
    unlink(path);
    free(b);
}

TEST(fortran_order_is_rejected_or_transposed_on_request)
{
    /* C-order values v[i][j][k] = 100 i + 10 j + k for shape (2, 3, 4), stored Fortran order. */
    int32_t f[24], c[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                c[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
                f[i + 2 * (j + 3 * k)] = 100 * i + 10 * j + k;
            }
    size_t n;
    uint8_t *b = make_npy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }", f,
                          sizeof f, &n, 0);
    EXPECT(expect_npy(b, n, DEJA_UNSUPPORTED, "fortran_order True: C order only"));
    deja__npy a;
    ASSERT_OK(deja__npy_load_memory(NULL, b, n, "f", DEJA__NPY_FORTRAN_TO_C, &a, NULL));
    EXPECT(memcmp(a.data, c, sizeof c) == 0);
    deja__npy_free(&a);
    const char *path = test_tmp_path("f.npy");
    ASSERT(test_write_file(path, b, n));
    test_counter cnt = {0};
    deja_options o = test_counting_options(&cnt);
    ASSERT_OK(deja__npy_load(&o, path, DEJA__NPY_FORTRAN_TO_C, &a, NULL));
    EXPECT(memcmp(a.data, c, sizeof c) == 0);
    EXPECT_EQ(a.dims[2], 4);
    deja__npy_free(&a);
    EXPECT_EQ(cnt.live, 0);
    unlink(path);
    free(b);
    /* 1-D is the same in both orders. */
    b = make_npy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (4,), }", c, 16, &n, 0);
    ASSERT_OK(deja__npy_load_memory(NULL, b, n, "f", DEJA__NPY_FORTRAN_TO_C, &a, NULL));
    EXPECT(memcmp(a.data, c, 16) == 0);
    deja__npy_free(&a);
    free(b);
}

TEST(every_truncation_and_byte_flip_fails_cleanly_or_loads)
{
    const int64_t v[6] = {1, 2, 3, 4, 5, 6};
    size_t n;
    uint8_t *b = make_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", v,
                          sizeof v, &n, 0);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, b, k);
        deja__npy a;
        EXPECT(deja__npy_load_memory(&o, p, k, "t", 0, &a, NULL) != DEJA_OK);
        deja__npy_free(&a);
        free(p);
    }
    int loaded = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            deja__npy a;
            if (deja__npy_load_memory(&o, b, n, "t", 0, &a, NULL) == DEJA_OK) {
                loaded++;
                EXPECT_EQ(a.count * a.elem_bytes, sizeof v); /* only the data may change */
            }
            deja__npy_free(&a);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    EXPECT_GE(loaded, 8 * (int)sizeof v);
    EXPECT_EQ(c.live, 0);
    /* Out of memory for the data. */
    test_counter f = {.fail_at = 1};
    o = test_counting_options(&f);
    deja__npy a;
    EXPECT_STATUS(deja__npy_load_memory(&o, b, n, "t", 0, &a, NULL), DEJA_NOMEM);
    free(b);
}

/* ---- the shared test vectors --------------------------------------------------------------- */

typedef struct vec {
    const char *file;
    deja__npy_dtype dtype;
    int rank;
    int64_t dims[4];
} vec;

static int load_vec(const char *dir, const vec *v, deja__npy *a)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, v->file);
    char err[DEJA_ERROR_BYTES];
    if (deja__npy_load(NULL, path, DEJA__NPY_FORTRAN_TO_C, a, err) != DEJA_OK) {
        TEST_FAIL_AT("%s", err);
        return 0;
    }
    int ok = a->dtype == v->dtype && a->rank == v->rank;
    for (int i = 0; ok && i < v->rank; i++)
        ok = a->dims[i] == v->dims[i];
    if (!ok)
        TEST_FAIL_AT("%s: dtype %s rank %d dims[0] %lld", v->file, deja__npy_dtype_name(a->dtype),
                     a->rank, (long long)a->dims[0]);
    return ok;
}

#define F4 DEJA__NPY_F32
#define U1 DEJA__NPY_U8

TEST(shared_alike_vectors_have_the_readme_shapes_and_agree)
{
    const char *shared = test_shared_dir();
    char dir[1200];
    if (!shared) SKIP("no ../shared (set DEJA_SHARED)");
    const char *names[2] = {"alike-t", "alike-n"};
    const int64_t dim[2] = {64, 128}, nk[2] = {990, 962};
    int found = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(dir, sizeof dir, "%s/models/%s", shared, names[k]);
        if (access(dir, R_OK) != 0) continue;
        found++;
        const vec vecs[] = {
            {"expected_descriptor_map_1xDx32x64.npy", F4, 4, {1, dim[k], 32, 64}},
            {"expected_pixel_descriptors.npy", F4, 2, {nk[k], dim[k]}},
            {"expected_pixel_keypoints_xy.npy", F4, 2, {nk[k], 2}},
            {"expected_pixel_scores.npy", F4, 1, {nk[k]}},
            {"expected_scores_map_1x1x240x320.npy", F4, 4, {1, 1, 240, 320}},
            {"expected_scores_map_1x1x32x64.npy", F4, 4, {1, 1, 32, 64}},
            {"expected_subpixel_descriptors.npy", F4, 2, {nk[k], dim[k]}},
            {"expected_subpixel_keypoints_xy.npy", F4, 2, {nk[k], 2}},
            {"expected_subpixel_scores.npy", F4, 1, {nk[k]}},
            {"test_image_240x320_rgb_u8.npy", U1, 3, {240, 320, 3}},
            {"test_input_1x3x32x64.npy", F4, 4, {1, 3, 32, 64}},
        };
        /* The subpixel descriptors are stored fortran_order True (unlike the README says). */
        char path[1400];
        snprintf(path, sizeof path, "%s/expected_subpixel_descriptors.npy", dir);
        deja__npy f;
        char err[DEJA_ERROR_BYTES];
        deja_status fst = deja__npy_load(NULL, path, 0, &f, err);
        if (fst != DEJA_OK)
            EXPECT(strstr(err, "fortran_order True") != NULL);
        else
            fprintf(stderr, "  note: %s is C order now\n", path);
        deja__npy_free(&f);
        deja__npy a[11];
        memset(a, 0, sizeof a);
        int all = 1;
        for (int i = 0; i < 11; i++)
            all &= load_vec(dir, &vecs[i], &a[i]);
        if (all) {
            /* The crop input = image rows 96..127, cols 128..191, / 255, CHW. */
            const uint8_t *img = a[9].data;
            const float *in = deja__npy_f32(&a[10]);
            double worst = 0;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 64; x++) {
                        double d = in[(c * 32 + y) * 64 + x] -
                                   img[((96 + y) * 320 + 128 + x) * 3 + c] / 255.0;
                        worst = fmax(worst, fabs(d));
                    }
            EXPECT_LE(worst, 1e-6);
            /* Descriptors (pixel, and subpixel after the transposition) are unit vectors, scores
             * in (0.2, 1), pixel keypoints integral. */
            const float *desc = deja__npy_f32(&a[1]), *kp = deja__npy_f32(&a[2]);
            const float *sub = deja__npy_f32(&a[6]);
            for (int64_t i = 0; i < nk[k]; i++) {
                double s = 0, s2 = 0;
                for (int64_t j = 0; j < dim[k]; j++) {
                    s += (double)desc[i * dim[k] + j] * desc[i * dim[k] + j];
                    s2 += (double)sub[i * dim[k] + j] * sub[i * dim[k] + j];
                }
                EXPECT_NEAR(s, 1.0, 1e-4);
                EXPECT_NEAR(s2, 1.0, 1e-4);
                EXPECT(kp[2 * i] == floorf(kp[2 * i]) && kp[2 * i] >= 0 && kp[2 * i] < 320);
                float sc = deja__npy_f32(&a[3])[i];
                EXPECT(sc > 0.2f && sc < 1.0f);
            }
        }
        for (int i = 0; i < 11; i++)
            deja__npy_free(&a[i]);
    }
    if (!found) SKIP("no ../shared/models/alike-*");
}

TEST(shared_mobilenet_vectors_have_the_readme_shapes_and_agree)
{
    const char *shared = test_shared_dir();
    char dir[1200];
    if (!shared) SKIP("no ../shared (set DEJA_SHARED)");
    snprintf(dir, sizeof dir, "%s/models/mobilenetv1-0.25-gem", shared);
    if (access(dir, R_OK) != 0) SKIP("no ../shared/models/mobilenetv1-0.25-gem");
    const vec vecs[] = {
        {"expected_descriptor_1x256.npy", F4, 2, {1, 256}},
        {"expected_descriptor_1x256_from_64x96.npy", F4, 2, {1, 256}},
        {"expected_last_feature_map_1x256x7x10.npy", F4, 4, {1, 256, 7, 10}},
        {"test_image_224x320_rgb_u8.npy", U1, 3, {224, 320, 3}},
        {"test_input_1x3x224x320.npy", F4, 4, {1, 3, 224, 320}},
        {"test_input_1x3x64x96.npy", F4, 4, {1, 3, 64, 96}},
    };
    deja__npy a[6];
    memset(a, 0, sizeof a);
    int all = 1;
    for (int i = 0; i < 6; i++)
        all &= load_vec(dir, &vecs[i], &a[i]);
    if (all) {
        const uint8_t *img = a[3].data;
        const float *in = deja__npy_f32(&a[4]), *crop = deja__npy_f32(&a[5]);
        double worst = 0, worst_crop = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 224; y++)
                for (int x = 0; x < 320; x++) {
                    float v = in[(c * 224 + y) * 320 + x];
                    worst = fmax(worst, fabs(v - img[(y * 320 + x) * 3 + c] / 255.0));
                    if (y >= 64 && y < 128 && x >= 96 && x < 192)
                        worst_crop =
                            fmax(worst_crop, fabs(crop[(c * 64 + y - 64) * 96 + x - 96] - v));
                }
        EXPECT_LE(worst, 1e-6);
        EXPECT_LE(worst_crop, 0);
        for (int d = 0; d < 2; d++) {
            double s = 0;
            for (int j = 0; j < 256; j++)
                s += (double)deja__npy_f32(&a[d])[j] * deja__npy_f32(&a[d])[j];
            EXPECT_NEAR(s, 1.0, 1e-4);
        }
    }
    for (int i = 0; i < 6; i++)
        deja__npy_free(&a[i]);
}
