/* test_truth.c - loop ground truth: loops.txt parsing (valid, hostile, out of memory), write /
 * read round trip, truth from poses on a hand-made square route with exact expected pairs, against
 * a brute-force reference on random walks, bad poses and rules, and a 10^5-pose run. */
#include "test.h"
#include "test_util.h"
#include "truth.h"

#define PI 3.14159265358979323846

/* ---- helpers ----------------------------------------------------------------------------- */

static deja__truth *parse(const char *text, uint32_t n_frames)
{
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    deja_status st = deja__truth_parse(NULL, text, strlen(text), "t.txt", n_frames, &t, err);
    if (st != DEJA_OK) fprintf(stderr, "  parse: %s (%s)\n", deja_status_name(st), err);
    return t;
}

/* Matches of q as "a b c" for comparisons. */
static const char *list(const deja__truth *t, uint32_t q)
{
    static char buf[256];
    uint32_t n;
    const uint32_t *m = deja__truth_matches(t, q, &n);
    buf[0] = '\0';
    for (uint32_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), i ? " %u" : "%u", m[i]);
    return buf;
}

#define EXPECT_LIST(t, q, want)                                                                    \
    do {                                                                                           \
        const char *got_ = list(t, q);                                                             \
        if (strcmp(got_, want) != 0)                                                               \
            TEST_FAIL_AT("matches of %u: '%s', expected '%s'", (unsigned)(q), got_, want);         \
    } while (0)

/* Pose looking horizontally along (hx, hy) at p: z axis = heading, y down (-Z world). */
static void pose_heading(double *pose, double x, double y, double z, double hx, double hy)
{
    double r[12] = {hy, 0, hx, x, -hx, 0, hy, y, 0, -1, 0, z};
    memcpy(pose, r, sizeof r);
}

/* Brute-force reference of the rule. */
static int ref_loop(const double *poses, const uint8_t *has, uint32_t q, uint32_t m,
                    const deja__truth_rule *r)
{
    uint32_t gap = r->min_gap ? r->min_gap : 1;
    if ((has && (!has[q] || !has[m])) || m + gap > q) return 0;
    const double *a = poses + (size_t)q * 12, *b = poses + (size_t)m * 12;
    double dx = a[3] - b[3], dy = a[7] - b[7], dz = a[11] - b[11];
    if (dx * dx + dy * dy + dz * dz > r->max_dist_m * r->max_dist_m) return 0;
    if (r->max_angle_deg > 0 && r->max_angle_deg < 180) {
        double na = sqrt(a[2] * a[2] + a[6] * a[6] + a[10] * a[10]);
        double nb = sqrt(b[2] * b[2] + b[6] * b[6] + b[10] * b[10]);
        double c = (a[2] * b[2] + a[6] * b[6] + a[10] * b[10]) / (na * nb);
        if (c < cos(r->max_angle_deg * PI / 180)) return 0;
    }
    return 1;
}

/* ---- parsing ----------------------------------------------------------------------------- */

TEST(parse_reads_comments_crlf_tabs_unsorted_and_out_of_order_lines)
{
    const char *text = "# loops\r\n"
                       "\r\n"
                       "9 3\t1 2\r\n"
                       "  # indented comment\n"
                       "5 0\n"
                       "\t7   6 0  \n"
                       "8 007"; /* no final newline, leading zeros */
    deja__truth *t = parse(text, 10);
    ASSERT(t);
    EXPECT_EQ(t->n_frames, 10);
    EXPECT_EQ(t->n_queries, 4);
    EXPECT_EQ(t->n_pairs, 7);
    EXPECT_LIST(t, 5, "0");
    EXPECT_LIST(t, 7, "0 6");
    EXPECT_LIST(t, 8, "7");
    EXPECT_LIST(t, 9, "1 2 3");
    EXPECT_LIST(t, 0, "");
    EXPECT_LIST(t, 6, "");
    EXPECT_LIST(t, 99, "");
    EXPECT(deja__truth_is_loop(t, 9, 2));
    EXPECT(deja__truth_is_loop(t, 7, 6));
    EXPECT(!deja__truth_is_loop(t, 9, 4));
    EXPECT(!deja__truth_is_loop(t, 2, 9)); /* the other way round is not a loop */
    EXPECT(!deja__truth_is_loop(t, 10, 0));
    EXPECT_EQ(t->offsets[10], 7);
    deja__truth_destroy(t);
}

TEST(parse_takes_empty_and_comment_only_text_as_no_loops)
{
    const char *texts[] = {"", "\n\n", "# nothing\n  \t\n#\r\n"};
    for (int i = 0; i < 3; i++) {
        deja__truth *t = parse(texts[i], 5);
        ASSERT(t);
        EXPECT_EQ(t->n_queries, 0);
        EXPECT_EQ(t->n_pairs, 0);
        EXPECT(!deja__truth_is_loop(t, 4, 0));
        EXPECT_LIST(t, 4, "");
        deja__truth_destroy(t);
    }
    deja__truth *t = parse("", 0); /* zero frames too */
    ASSERT(t);
    deja__truth_destroy(t);
}

TEST(parse_rejects_hostile_lines_naming_file_line_and_field)
{
    static const struct {
        const char *text, *want; /* want: a piece of the message */
    } cases[] = {
        {"5 1\n6 x\n", "t.txt:2: field 2 ('x'): not a frame index"},
        {"5 1\n\n6 -2\n", "t.txt:3: field 2 ('-2'): negative"},
        {"-6 2\n", "t.txt:1: field 1 ('-6'): negative"},
        {"5 1\n6 4294967296\n", "t.txt:2: field 2 ('4294967296'): frame index overflows"},
        {"6 99999999999999999999999\n", "t.txt:1: field 2 ('99999999999999999999999')"},
        {"# c\n10 1\n", "t.txt:2: field 1: frame 10 >= 10 frames"},
        {"5 1 12\n", "t.txt:1: field 3: frame 12 >= 10"},
        {"5 5\n", "t.txt:1: field 2: match 5 is not earlier than its query 5"},
        {"5 1 7\n", "t.txt:1: field 3: match 7 is not earlier"},
        {"5 1\n6 2\n5 3\n", "t.txt:3: field 1: query 5 is also on line 1"},
        {"5 1\n6 2 4 2\n", "t.txt:2: match 2 of query 6 is listed twice"},
        {"5 1\n6\n", "t.txt:2: query 6 lists no match"},
        {"5 +1\n", "t.txt:1: field 2 ('+1'): not a frame index"},
        {"5 1.0\n", "t.txt:1: field 2 ('1.0')"},
        {"5 0x1\n", "t.txt:1: field 2 ('0x1')"},
        {"5 1,2\n", "t.txt:1: field 2 ('1,2')"},
        {"5 1\r2\n", "t.txt:1: field 2 ('1?2')"},
        {"5 1 # note\n", "t.txt:1: field 3 ('#')"},
        {"\xff\xfe 1\n", "t.txt:1: field 1 ('?"
                         "?')"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        deja__truth *t = NULL;
        char err[DEJA_ERROR_BYTES] = "";
        deja_status st =
            deja__truth_parse(NULL, cases[i].text, strlen(cases[i].text), "t.txt", 10, &t, err);
        if (st != DEJA_FORMAT)
            TEST_FAIL_AT("case %zu: %s, expected FORMAT", i, deja_status_name(st));
        if (!strstr(err, cases[i].want))
            TEST_FAIL_AT("case %zu: message '%s' lacks '%s'", i, err, cases[i].want);
        EXPECT(t == NULL);
    }
    /* a NUL byte inside the text is a bad token, not the end */
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__truth_parse(NULL, "5 1\n6 2\0 3\n", 11, "t.txt", 10, &t, err), DEJA_FORMAT);
    EXPECT(strstr(err, "t.txt:2:"));
    EXPECT_STATUS(deja__truth_parse(NULL, NULL, 3, "t.txt", 10, &t, err), DEJA_INVALID_ARG);
}

TEST(parse_frees_everything_on_errors_and_fails_cleanly_out_of_memory)
{
    const char *good = "9 3 1 2\n5 0\n7 6 0\n8 7\n";
    const char *bad = "9 3 1 2\n5 0\n7 6 0\n8 9\n";
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__truth_parse(&o, bad, strlen(bad), "b", 10, &t, err), DEJA_FORMAT);
    EXPECT_EQ(c.live, 0);
    size_t before = c.calls;
    ASSERT_OK(deja__truth_parse(&o, good, strlen(good), "g", 10, &t, err));
    size_t calls = c.calls - before;
    EXPECT(c.live > 0);
    deja__truth_destroy(t);
    EXPECT_EQ(c.live, 0);
    EXPECT_EQ(c.blocks, 0);
    for (size_t k = 1; k <= calls; k++) {
        test_counter f = {.fail_at = k};
        deja_options of = test_counting_options(&f);
        t = NULL;
        deja_status st = deja__truth_parse(&of, good, strlen(good), "g", 10, &t, err);
        if (st != DEJA_NOMEM) TEST_FAIL_AT("fail at %zu: %s", k, deja_status_name(st));
        EXPECT(t == NULL);
        EXPECT_EQ(f.live, 0);
    }
}

TEST(parse_memory_is_bounded_by_the_text_not_by_numbers_in_it)
{
    /* one huge index in range must not make the parser allocate per index value */
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    const char *text = "1000000 999999 5\n";
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__truth_parse(&o, text, strlen(text), "t", 1000001, &t, err));
    /* offsets (n_frames + 1) * 8 bytes, the rest bounded by a few tokens */
    EXPECT_LE(c.peak, (1000002.0 * 8) + 4096);
    EXPECT_LIST(t, 1000000, "5 999999");
    deja__truth_destroy(t);
}

TEST(parse_of_mangled_text_errors_or_gives_a_consistent_truth)
{
    const char *valid = "# loops\n9 3 1 2\r\n5 0\n\n7 6\t0\n";
    static const char subst[] = {0, ' ', '\n', '\r', '-', '9', '0', '#', '\t', (char)0xff};
    size_t n = strlen(valid), ok = 0;
    char buf[64];
    for (size_t i = 0; i <= n; i++)
        for (size_t v = 0; v <= sizeof subst; v++) {
            if (i == n && v) break;
            memcpy(buf, valid, n);
            size_t len = v ? n : i; /* v == 0: truncate at i, else replace byte i */
            if (v) buf[i] = subst[v - 1];
            deja__truth *t = NULL;
            char err[DEJA_ERROR_BYTES];
            deja_status st = deja__truth_parse(NULL, buf, len, "m.txt", 10, &t, err);
            if (st != DEJA_OK) {
                if (st != DEJA_FORMAT || !strstr(err, "m.txt:"))
                    TEST_FAIL_AT("byte %zu value %zu: %s (%s)", i, v, deja_status_name(st), err);
                continue;
            }
            ok++;
            size_t pairs = 0;
            for (uint32_t q = 0; q < 10; q++) {
                uint32_t k;
                const uint32_t *m = deja__truth_matches(t, q, &k);
                for (uint32_t j = 0; j < k; j++)
                    if (m[j] >= q || (j && m[j] <= m[j - 1])) TEST_FAIL_AT("bad list of %u", q);
                pairs += k;
            }
            EXPECT_EQ(pairs, t->n_pairs);
            deja__truth_destroy(t);
        }
    EXPECT_GE(ok, 50); /* many mangled texts stay valid (blanks, comments, other digits) */
}

/* ---- files ------------------------------------------------------------------------------- */

TEST(write_then_read_gives_the_same_truth_and_canonical_text)
{
    deja__truth *t = parse("9 3 1 2\n5 0\n7 6 0\n", 12);
    ASSERT(t);
    char err[DEJA_ERROR_BYTES];
    const char *path = test_tmp_path("loops_rt.txt");
    ASSERT_OK(deja__truth_write(t, path, err));
    size_t len;
    uint8_t *text = test_read_file(path, &len);
    EXPECT(strcmp((const char *)text, "5 0\n7 0 6\n9 1 2 3\n") == 0);
    free(text);
    deja__truth *back = NULL;
    ASSERT_OK(deja__truth_read(NULL, path, 12, &back, err));
    EXPECT(deja__truth_equal(t, back));
    deja__truth_destroy(back);
    /* the frame count is checked on reading */
    back = NULL;
    EXPECT_STATUS(deja__truth_read(NULL, path, 9, &back, err), DEJA_FORMAT);
    EXPECT(strstr(err, "loops_rt.txt:3: field 1: frame 9 >= 9"));
    deja__truth_destroy(t);
    unlink(path);
}

TEST(read_reports_missing_files_and_the_size_limit)
{
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    const char *path = test_tmp_path("no_such_loops.txt");
    EXPECT_STATUS(deja__truth_read(NULL, path, 10, &t, err), DEJA_IO);
    EXPECT(strstr(err, "no_such_loops.txt"));
    const char *small = test_tmp_path("small.txt");
    ASSERT(test_write_file(small, "5 1 2 3 4\n", 10));
    deja_allocator a = deja__allocator(NULL);
    char *text;
    size_t len;
    EXPECT_STATUS(deja__text_read(&a, small, 9, &text, &len, err), DEJA_LIMIT);
    EXPECT(strstr(err, "10 bytes"));
    ASSERT_OK(deja__text_read(&a, small, 10, &text, &len, err));
    EXPECT_EQ(len, 10);
    EXPECT_EQ(text[10], 0);
    deja__free(&a, text, len + 1);
    EXPECT_STATUS(deja__truth_read(NULL, test_tmp_dir(), 10, &t, err), DEJA_IO); /* a folder */
    unlink(small);
}

TEST(write_reports_an_unwritable_path)
{
    deja__truth *t = parse("5 1\n", 6);
    ASSERT(t);
    char err[DEJA_ERROR_BYTES];
    EXPECT_STATUS(deja__truth_write(t, "/nonexistent_dir_deja/loops.txt", err), DEJA_IO);
    EXPECT(strstr(err, "/nonexistent_dir_deja/loops.txt"));
    deja__truth_destroy(t);
}

/* ---- from poses -------------------------------------------------------------------------- */

/* A 4 m square walked at 1 m per frame, 16 frames a lap. Lap 0 at height 0, lap 1 at 0.3 m, lap 2
 * at 0.7 m, lap 3 at height 0 in the opposite direction (axes 180 degrees apart). */
static void square_route(double *poses)
{
    static const double corner[4][2] = {{0, 0}, {4, 0}, {4, 4}, {0, 4}};
    static const double z[4] = {0, 0.3, 0.7, 0};
    for (int lap = 0; lap < 4; lap++)
        for (int k = 0; k < 16; k++) {
            int s = lap == 3 ? (16 - k) % 16 : k; /* position along the perimeter */
            int side = s / 4, step = s % 4;
            const double *a = corner[side], *b = corner[(side + 1) % 4];
            double hx = (b[0] - a[0]) / 4, hy = (b[1] - a[1]) / 4;
            double x = a[0] + hx * step, y = a[1] + hy * step;
            if (lap == 3) hx = -hx, hy = -hy;
            pose_heading(poses + (size_t)(16 * lap + k) * 12, x, y, z[lap], hx, hy);
        }
}

static deja__truth *from_poses(const double *poses, uint32_t n, deja__truth_rule r)
{
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    deja_status st = deja__truth_from_poses(NULL, poses, n, &r, &t, err);
    if (st != DEJA_OK) fprintf(stderr, "  from poses: %s (%s)\n", deja_status_name(st), err);
    return t;
}

TEST(from_poses_finds_exactly_the_square_route_revisits)
{
    double poses[64 * 12];
    square_route(poses);
    /* 0.5 m, 30 deg, gap 16: lap 1 closes on lap 0 and lap 2 on lap 1, frame for frame */
    deja__truth *t = from_poses(poses, 64, (deja__truth_rule){0.5, 30, 16});
    ASSERT(t);
    EXPECT_EQ(t->n_pairs, 32);
    EXPECT_EQ(t->n_queries, 32);
    for (uint32_t k = 0; k < 16; k++) {
        char want[16];
        snprintf(want, sizeof want, "%u", k);
        EXPECT_LIST(t, 16 + k, want);
        snprintf(want, sizeof want, "%u", 16 + k);
        EXPECT_LIST(t, 32 + k, want);
        EXPECT_LIST(t, 48 + k, ""); /* reverse lap: axes opposite */
    }
    deja__truth_destroy(t);
    /* the gap is inclusive: one frame more and the 16-frame revisits are gone */
    t = from_poses(poses, 64, (deja__truth_rule){0.5, 30, 17});
    ASSERT(t);
    EXPECT_EQ(t->n_pairs, 0);
    deja__truth_destroy(t);
    t = from_poses(poses, 64, (deja__truth_rule){0.5, 30, 15});
    ASSERT(t);
    EXPECT_EQ(t->n_pairs, 32);
    deja__truth_destroy(t);
    /* the distance is inclusive: 0.3 m keeps lap 1 - lap 0 (0.3 m) and drops lap 2 - lap 1 */
    t = from_poses(poses, 64, (deja__truth_rule){0.3, 30, 16});
    ASSERT(t);
    EXPECT_EQ(t->n_pairs, 16);
    EXPECT_LIST(t, 20, "4");
    EXPECT_LIST(t, 36, "");
    deja__truth_destroy(t);
}

TEST(from_poses_without_angle_check_adds_the_reverse_lap)
{
    double poses[64 * 12];
    square_route(poses);
    for (int pass = 0; pass < 2; pass++) {
        /* 0 and >= 180 both mean no angle check */
        deja__truth *t = from_poses(poses, 64, (deja__truth_rule){0.5, pass ? 180 : 0, 16});
        ASSERT(t);
        EXPECT_EQ(t->n_pairs, 64);
        for (uint32_t k = 0; k < 16; k++) {
            uint32_t s = (16 - k) % 16;
            char want[32];
            snprintf(want, sizeof want, "%u %u", s, 16 + s);
            EXPECT_LIST(t, 48 + k, want);
        }
        deja__truth_destroy(t);
    }
}

TEST(from_poses_angle_limit_is_inclusive_around_the_optical_axes)
{
    double poses[2 * 12];
    pose_heading(poses, 1, 2, 3, 1, 0);
    double a = 30 * PI / 180;
    pose_heading(poses + 12, 1, 2, 3, cos(a), sin(a));
    deja__truth *t = from_poses(poses, 2, (deja__truth_rule){0.1, 30.001, 1});
    ASSERT(t);
    EXPECT_LIST(t, 1, "0");
    deja__truth_destroy(t);
    t = from_poses(poses, 2, (deja__truth_rule){0.1, 29.999, 1});
    ASSERT(t);
    EXPECT_LIST(t, 1, "");
    deja__truth_destroy(t);
    /* min_gap 0 acts as 1: a frame is never its own loop */
    t = from_poses(poses, 2, (deja__truth_rule){0.1, 0, 0});
    ASSERT(t);
    EXPECT_EQ(t->n_pairs, 1);
    EXPECT_LIST(t, 0, "");
    deja__truth_destroy(t);
}

TEST(from_poses_equals_brute_force_on_random_walks)
{
    uint64_t seed = 7;
    enum { N = 3000 };
    double *poses = malloc(sizeof(double) * 12 * N);
    uint8_t *has = malloc(N);
    ASSERT(poses && has);
    /* a walk in a 6 x 6 x 1 m box with a wandering heading: many revisits */
    double x = 3, y = 3, z = 0.5, yaw = 0;
    for (int i = 0; i < N; i++) {
        yaw += test_uniform(&seed, -0.3, 0.3);
        x = fmin(6, fmax(0, x + 0.1 * cos(yaw))), y = fmin(6, fmax(0, y + 0.1 * sin(yaw)));
        z = fmin(1, fmax(0, z + test_uniform(&seed, -0.02, 0.02)));
        pose_heading(poses + (size_t)i * 12, x, y, z, cos(yaw), sin(yaw));
        has[i] = test_rnd(&seed) % 5 != 0;
    }
    const deja__truth_rule rules[] = {{0.3, 20, 50}, {0.05, 0, 10}, {1.0, 90, 1}, {0, 0, 1}};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; r++)
        for (int masked = 0; masked < 2; masked++) {
            deja__truth *t = NULL;
            char err[DEJA_ERROR_BYTES];
            ASSERT_OK(deja__truth_from_poses_mask(NULL, poses, masked ? has : NULL, N, &rules[r],
                                                  &t, err));
            size_t pairs = 0, wrong = 0;
            uint32_t queries = 0;
            for (uint32_t q = 0; q < N; q++) {
                int any = 0;
                for (uint32_t m = 0; m < q; m++) {
                    int want = ref_loop(poses, masked ? has : NULL, q, m, &rules[r]);
                    wrong += want != deja__truth_is_loop(t, q, m);
                    pairs += want, any |= want;
                }
                queries += any;
            }
            EXPECT_EQ(wrong, 0);
            EXPECT_EQ(t->n_pairs, pairs);
            EXPECT_EQ(t->n_queries, queries);
            if (r == 0) EXPECT(pairs > 1000); /* the walk does revisit */
            deja__truth_destroy(t);
        }
    free(poses);
    free(has);
}

TEST(from_poses_rejects_non_finite_poses_and_bad_rules_naming_the_frame)
{
    double poses[64 * 12];
    square_route(poses);
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    deja__truth_rule r = {0.5, 30, 16};
    poses[7 * 12 + 7] = NAN;
    EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &r, &t, err), DEJA_FORMAT);
    EXPECT(strstr(err, "frame 7: pose element 7"));
    square_route(poses);
    poses[40 * 12 + 0] = -INFINITY;
    EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &r, &t, err), DEJA_FORMAT);
    EXPECT(strstr(err, "frame 40"));
    square_route(poses);
    poses[3 * 12 + 11] = 1e12;
    EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &r, &t, err), DEJA_FORMAT);
    EXPECT(strstr(err, "frame 3"));
    square_route(poses);
    poses[5 * 12 + 2] = poses[5 * 12 + 6] = poses[5 * 12 + 10] = 0;
    EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &r, &t, err), DEJA_FORMAT);
    EXPECT(strstr(err, "frame 5: optical axis"));
    r.max_angle_deg = 0; /* no angle check: the axis is not needed */
    ASSERT_OK(deja__truth_from_poses(NULL, poses, 64, &r, &t, err));
    deja__truth_destroy(t);
    /* a frame without pose may hold anything */
    square_route(poses);
    uint8_t has[64];
    memset(has, 1, sizeof has);
    poses[9 * 12 + 3] = NAN;
    has[9] = 0;
    r.max_angle_deg = 30;
    EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &r, &t, err), DEJA_FORMAT);
    ASSERT_OK(deja__truth_from_poses_mask(NULL, poses, has, 64, &r, &t, err));
    EXPECT_LIST(t, 25, "");
    deja__truth_destroy(t);
    t = NULL;
    const deja__truth_rule bad[] = {
        {-1, 30, 16}, {NAN, 30, 16}, {0.5, NAN, 16}, {INFINITY, 0, 1}, {0.5, -5, 16}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT_STATUS(deja__truth_from_poses(NULL, poses, 64, &bad[i], &t, err), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__truth_from_poses(NULL, NULL, 64, &r, &t, err), DEJA_INVALID_ARG);
    EXPECT(t == NULL);
    ASSERT_OK(deja__truth_from_poses(NULL, NULL, 0, &r, &t, err)); /* no frames: no loops */
    EXPECT_EQ(t->n_pairs, 0);
    deja__truth_destroy(t);
}

TEST(from_poses_fails_cleanly_out_of_memory)
{
    double poses[64 * 12];
    square_route(poses);
    deja__truth_rule r = {0.5, 30, 16};
    char err[DEJA_ERROR_BYTES];
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja__truth *t = NULL;
    ASSERT_OK(deja__truth_from_poses(&o, poses, 64, &r, &t, err));
    deja__truth_destroy(t);
    EXPECT_EQ(c.live, 0);
    for (size_t k = 1; k <= c.calls; k++) {
        test_counter f = {.fail_at = k};
        deja_options of = test_counting_options(&f);
        t = NULL;
        EXPECT_STATUS(deja__truth_from_poses(&of, poses, 64, &r, &t, err), DEJA_NOMEM);
        EXPECT(t == NULL);
        EXPECT_EQ(f.live, 0);
    }
}

TEST(from_poses_handles_100000_poses_quickly)
{
    /* 10 laps of a 50 m circle, 10^4 frames a lap (3.1 cm apart); the axis turns with the
     * heading. A query's true matches are its neighbours within 10 cm on every earlier lap. */
    enum { N = 100000, LAP = 10000 };
    double *poses = malloc(sizeof(double) * 12 * N);
    ASSERT(poses);
    for (int i = 0; i < N; i++) {
        double a = 2 * PI * (i % LAP) / LAP, lift = 0.01 * (i / LAP);
        pose_heading(poses + (size_t)i * 12, 50 * cos(a), 50 * sin(a), lift, -sin(a), cos(a));
    }
    deja__truth_rule r = {0.1, 10, 100};
    deja__truth *t = NULL;
    char err[DEJA_ERROR_BYTES];
    uint64_t t0 = deja__now_ns();
    ASSERT_OK(deja__truth_from_poses(NULL, poses, N, &r, &t, err));
    double ms = (double)(deja__now_ns() - t0) * 1e-6;
    fprintf(stderr, "  100000 poses: %zu pairs, %u queries in %.0f ms\n", t->n_pairs, t->n_queries,
            ms);
    /* every frame after the first lap, and the first lap's last 3 frames, which close the
       circle on frame 0 (3 steps = 9.4 cm) */
    EXPECT_EQ(t->n_queries, N - LAP + 3);
    EXPECT_LIST(t, LAP - 3, "0");
    EXPECT_LIST(t, LAP - 1, "0 1 2");
    /* spot checks against the rule for a few queries over all earlier frames */
    uint64_t seed = 3;
    for (int k = 0; k < 20; k++) {
        uint32_t q = LAP + (uint32_t)(test_rnd(&seed) % (N - LAP)), n_want = 0, n;
        for (uint32_t m = 0; m < q; m++)
            if (ref_loop(poses, NULL, q, m, &r)) {
                n_want++;
                if (!deja__truth_is_loop(t, q, m)) TEST_FAIL_AT("(%u, %u) missing", q, m);
            }
        deja__truth_matches(t, q, &n);
        EXPECT_EQ(n, n_want);
        EXPECT(n_want >= 3 * (q / LAP)); /* at least the 3 nearest on every earlier lap */
    }
    deja__truth_destroy(t);
    free(poses);
}
