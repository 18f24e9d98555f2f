/* test_seq.c - sequence readers: quaternions, slerp and pose interpolation on known values,
 * layout detection, each layout (folder, list, shared, KITTI, TUM, EuRoC) on small files the
 * test writes (empty placeholder images: readers list paths, they do not decode), bad numbers
 * and counts naming file and line, out-of-memory runs, and the ../shared/data sequences against
 * their READMEs (skipped when absent). */
#include "seq.h"
#include "test.h"
#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>

#define PI 3.14159265358979323846

/* ---- a private folder tree --------------------------------------------------------------- */

static char root[64];

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static void rm_root(void)
{
    if (root[0]) rm_tree(root);
}

/* root/rel; the last 8 results stay valid. */
static const char *at(const char *rel)
{
    static char buf[8][1024];
    static unsigned next;
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/deja_seq_XXXXXX");
        if (!mkdtemp(root)) abort();
        atexit(rm_root);
    }
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", root, rel);
    return p;
}

/* Write root/rel (parents made as needed). */
static void put(const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", at(rel));
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    if (!test_write_file(p, text, strlen(text))) abort();
}

static deja__sequence *open_seq(const char *rel, const deja__truth_rule *rule)
{
    deja__sequence *s = NULL;
    char err[DEJA_ERROR_BYTES];
    deja_status st = deja__sequence_open(NULL, at(rel), rule, &s, err);
    if (st != DEJA_OK) fprintf(stderr, "  open %s: %s (%s)\n", rel, deja_status_name(st), err);
    return s;
}

/* Expect opening rel to fail with st and a message containing want. */
#define EXPECT_OPEN_FAILS(rel, st, want)                                                           \
    do {                                                                                           \
        deja__sequence *s_ = NULL;                                                                 \
        char err_[DEJA_ERROR_BYTES] = "";                                                          \
        deja_status got_ = deja__sequence_open(NULL, at(rel), NULL, &s_, err_);                    \
        if (got_ != (st))                                                                          \
            TEST_FAIL_AT("open %s: %s, expected %s (%s)", rel, deja_status_name(got_),             \
                         deja_status_name(st), err_);                                              \
        else if (!strstr(err_, want))                                                              \
            TEST_FAIL_AT("open %s: message '%s' lacks '%s'", rel, err_, want);                     \
        if (s_) deja__sequence_destroy(s_);                                                        \
    } while (0)

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

#define EXPECT_TAIL(s, tail)                                                                       \
    do {                                                                                           \
        if (!ends_with(s, tail)) TEST_FAIL_AT("'%s' does not end with '%s'", s, tail);             \
    } while (0)

static double yaw_of(const double *pose) /* heading of the x axis in the x-y plane */
{
    return atan2(pose[4], pose[0]);
}

/* ---- poses ------------------------------------------------------------------------------- */

TEST(quaternions_give_the_known_rotation_matrices)
{
    double r[9], q[4];
    double id[4] = {0, 0, 0, 1};
    deja__quat_to_r(id, r);
    for (int i = 0; i < 9; i++)
        EXPECT_NEAR(r[i], i % 4 == 0, 1e-15);
    /* 90 degrees about z: x -> y */
    double qz[4] = {0, 0, sqrt(0.5), sqrt(0.5)}, rz[9] = {0, -1, 0, 1, 0, 0, 0, 0, 1};
    deja__quat_to_r(qz, r);
    for (int i = 0; i < 9; i++)
        EXPECT_NEAR(r[i], rz[i], 1e-15);
    /* 180 degrees about x, given unnormalised (norm 3) */
    double qx[4] = {3, 0, 0, 0}, rx[9] = {1, 0, 0, 0, -1, 0, 0, 0, -1};
    ASSERT(deja__quat_normalise(qx));
    deja__quat_to_r(qx, r);
    for (int i = 0; i < 9; i++)
        EXPECT_NEAR(r[i], rx[i], 1e-15);
    /* 120 degrees about (1,1,1): cycles the axes x -> y -> z */
    double qc[4] = {0.5, 0.5, 0.5, 0.5}, rc[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    deja__quat_to_r(qc, r);
    for (int i = 0; i < 9; i++)
        EXPECT_NEAR(r[i], rc[i], 1e-15);
    double zero[4] = {0, 0, 1e-9, 0}, nan4[4] = {NAN, 0, 0, 1};
    EXPECT(!deja__quat_normalise(zero));
    EXPECT(!deja__quat_normalise(nan4));
    memcpy(q, qz, sizeof q);
    double pose[12], p[3] = {1, 2, 3};
    deja__pose_from_pq(p, q, pose);
    EXPECT_NEAR(pose[3], 1, 0);
    EXPECT_NEAR(pose[7], 2, 0);
    EXPECT_NEAR(pose[11], 3, 0);
    EXPECT_NEAR(pose[1], -1, 1e-15);
    EXPECT_LE(deja__rotation_error(pose), 1e-15);
    pose[0] = 2;
    EXPECT_GE(deja__rotation_error(pose), 1);
}

TEST(slerp_takes_the_shorter_arc_at_constant_speed)
{
    double a[4] = {0, 0, 0, 1}, b[4] = {0, 0, sin(PI / 4), cos(PI / 4)}, out[4], r[9];
    for (int k = 0; k <= 4; k++) {
        double u = k / 4.0;
        deja__quat_slerp(a, b, u, out);
        deja__quat_to_r(out, r);
        EXPECT_NEAR(atan2(r[3], r[0]), u * PI / 2, 1e-12);
    }
    /* -b is the same rotation: the result must not go the long way round */
    double nb[4] = {-b[0], -b[1], -b[2], -b[3]};
    deja__quat_slerp(a, nb, 0.5, out);
    deja__quat_to_r(out, r);
    EXPECT_NEAR(atan2(r[3], r[0]), PI / 4, 1e-12);
    /* nearly equal quaternions (the lerp branch) stay unit */
    double c[4] = {0, 0, sin(1e-5), cos(1e-5)};
    deja__quat_slerp(a, c, 0.5, out);
    EXPECT_NEAR(out[0] * out[0] + out[1] * out[1] + out[2] * out[2] + out[3] * out[3], 1, 1e-15);
    EXPECT_NEAR(out[2], sin(0.5e-5), 1e-12);
}

TEST(compose_applies_the_right_transform_in_the_left_frame)
{
    /* a: 90 deg about z, at (1, 0, 0); b: translation (1, 0, 0) -> a*b is at (1, 1, 0) */
    double a[12] = {0, -1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0};
    double b[12] = {1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0}, out[12];
    deja__pose_compose(a, b, out);
    EXPECT_NEAR(out[3], 1, 1e-15);
    EXPECT_NEAR(out[7], 1, 1e-15);
    EXPECT_NEAR(out[11], 0, 1e-15);
    EXPECT_NEAR(out[1], -1, 1e-15);
}

TEST(interpolation_is_linear_in_position_slerp_in_rotation_and_bounded_by_gaps)
{
    deja__pose_sample s[4] = {
        {.t = 10.3, .p = {9, 9, 9}, .q = {0, 0, 0, 1}, .line = 4},
        {.t = 10.0, .p = {0, 0, 0}, .q = {0, 0, 0, 1}, .line = 1},
        {.t = 10.1, .p = {1, 2, 3}, .q = {0, 0, sin(PI / 4), cos(PI / 4)}, .line = 2},
        {.t = 10.0 + 1e-9, .p = {0, 0, 0}, .q = {0, 0, 0, 1}, .line = 3},
    };
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__pose_samples_sort(s, 4, "gt.txt", err));
    EXPECT_EQ(s[0].line, 1);
    EXPECT_EQ(s[3].line, 4);
    double times[6] = {9.99, 10.0, 10.0 + 1e-9 + (0.1 - 1e-9) / 4, 10.1, 10.2, 10.31};
    double poses[6 * 12];
    uint8_t has[6];
    uint32_t n = deja__pose_interpolate(s, 4, times, 6, 0.15, poses, has);
    EXPECT_EQ(n, 3);
    EXPECT(!has[0]); /* before the first sample */
    EXPECT(has[1] && has[2] && has[3]);
    EXPECT(!has[4]); /* between 10.1 and 10.3: gap 0.2 > 0.15 */
    EXPECT(!has[5]); /* after the last */
    EXPECT_NEAR(poses[12 + 3], 0, 1e-15);
    const double *p = poses + 2 * 12; /* a quarter of the way to the 10.1 sample */
    EXPECT_NEAR(p[3], 0.25, 1e-9);
    EXPECT_NEAR(p[7], 0.5, 1e-9);
    EXPECT_NEAR(p[11], 0.75, 1e-9);
    EXPECT_NEAR(yaw_of(p), PI / 8, 1e-9);
    EXPECT_NEAR(yaw_of(poses + 3 * 12), PI / 2, 1e-12); /* exactly at a sample */
    for (int k = 0; k < 12; k++)
        EXPECT_EQ(poses[4 * 12 + k], 0); /* no pose: zeros */
    /* with a wider gap allowance frame 4 gets a pose half way */
    n = deja__pose_interpolate(s, 4, times, 6, 0.25, poses, has);
    EXPECT_EQ(n, 4);
    EXPECT_NEAR(poses[4 * 12 + 3], 5, 1e-9);
    EXPECT_NEAR(yaw_of(poses + 4 * 12), PI / 4, 1e-9);
    /* two samples at one time are an error naming both lines */
    s[1].t = s[0].t;
    EXPECT_STATUS(deja__pose_samples_sort(s, 4, "gt.txt", err), DEJA_FORMAT);
    EXPECT(strstr(err, "gt.txt: lines 1 and 3"));
}

/* ---- detection --------------------------------------------------------------------------- */

TEST(detection_follows_the_documented_order)
{
    static const struct {
        const char *file, *dir;
        deja__seq_layout want;
    } cases[] = {
        {"det/list.txt", "det/list.txt", DEJA__SEQ_LIST},
        {"det/e1/mav0/cam0/data.csv", "det/e1", DEJA__SEQ_EUROC},
        {"det/e1/mav0/cam0/data.csv", "det/e1/mav0", DEJA__SEQ_EUROC},
        {"det/s1/images/0.png", "det/s1", DEJA__SEQ_SHARED},
        {"det/s1/rgb.txt", "det/s1", DEJA__SEQ_SHARED}, /* images/ wins over rgb.txt */
        {"det/t1/rgb.txt", "det/t1", DEJA__SEQ_TUM},
        {"det/k1/times.txt", "det/k1", DEJA__SEQ_FOLDER}, /* times.txt alone is not KITTI */
        {"det/k1/image_2/000000.png", "det/k1", DEJA__SEQ_KITTI},
        {"det/f1/a.png", "det/f1", DEJA__SEQ_FOLDER},
    };
    char err[DEJA_ERROR_BYTES];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        put(cases[i].file, "");
        deja__seq_layout l;
        ASSERT_OK(deja__seq_detect(at(cases[i].dir), &l, err));
        if (l != cases[i].want)
            TEST_FAIL_AT("%s: %s, expected %s", cases[i].dir, deja__seq_layout_name(l),
                         deja__seq_layout_name(cases[i].want));
    }
    deja__seq_layout l;
    EXPECT_STATUS(deja__seq_detect(at("det/missing"), &l, err), DEJA_IO);
    EXPECT(strstr(err, "det/missing"));
    EXPECT(strcmp(deja__seq_layout_name(DEJA__SEQ_EUROC), "euroc") == 0);
    EXPECT(strcmp(deja__seq_layout_name((deja__seq_layout)99), "unknown") == 0);
}

TEST(default_rules_are_the_documented_ones)
{
    deja__truth_rule r = deja__truth_rule_default(DEJA__SEQ_TUM);
    EXPECT_NEAR(r.max_dist_m, 0.05, 0);
    EXPECT_NEAR(r.max_angle_deg, 15, 0);
    EXPECT_EQ(r.min_gap, 50);
    r = deja__truth_rule_default(DEJA__SEQ_EUROC);
    EXPECT_NEAR(r.max_dist_m, 0.5, 0);
    EXPECT_NEAR(r.max_angle_deg, 30, 0);
    EXPECT_EQ(r.min_gap, 100);
    r = deja__truth_rule_default(DEJA__SEQ_KITTI);
    EXPECT_NEAR(r.max_dist_m, 5, 0);
    EXPECT_NEAR(r.max_angle_deg, 0, 0);
    EXPECT_EQ(r.min_gap, 100);
}

/* ---- folder and list --------------------------------------------------------------------- */

TEST(folder_lists_images_in_name_order_and_reads_loops_beside_them)
{
    put("fold/b.png", "");
    put("fold/a.JPG", "");
    put("fold/10.pgm", "");
    put("fold/c.Jpeg", "");
    put("fold/d.ppm", "");
    put("fold/notes.txt", "");
    put("fold/.hidden.png", "");
    put("fold/png", "");
    put("fold/sub/x.png", "");
    deja__sequence *s = open_seq("fold", NULL);
    ASSERT(s);
    EXPECT_EQ(s->layout, DEJA__SEQ_FOLDER);
    ASSERT_EQ(s->n, 5);
    EXPECT_TAIL(s->paths[0], "fold/10.pgm");
    EXPECT_TAIL(s->paths[1], "fold/a.JPG");
    EXPECT_TAIL(s->paths[2], "fold/b.png");
    EXPECT_TAIL(s->paths[3], "fold/c.Jpeg");
    EXPECT_TAIL(s->paths[4], "fold/d.ppm");
    EXPECT_EQ(s->has_timestamps, 0);
    EXPECT_NEAR(s->timestamps[3], 3 / 30.0, 1e-15);
    EXPECT(s->poses == NULL && s->truth == NULL && s->truth_loose == NULL);
    EXPECT(strcmp(s->name, "fold") == 0);
    deja__sequence_destroy(s);
    put("fold/loops.txt", "4 0 1\n");
    s = open_seq("fold/", NULL);
    ASSERT(s);
    ASSERT(s->truth);
    EXPECT(deja__truth_is_loop(s->truth, 4, 1));
    EXPECT_EQ(s->truth_from_poses, 0);
    EXPECT(strcmp(s->name, "fold") == 0); /* trailing slash */
    EXPECT(ends_with(s->paths[0], "/fold/10.pgm") && !strstr(s->paths[0], "//"));
    deja__sequence_destroy(s);
    put("fold/loops.txt", "5 0 1\n"); /* frame 5 of 5 */
    EXPECT_OPEN_FAILS("fold", DEJA_FORMAT, "loops.txt:1: field 1: frame 5 >= 5");
    put("empty/readme.md", "");
    EXPECT_OPEN_FAILS("empty", DEJA_FORMAT, "no images");
}

TEST(list_reads_paths_with_or_without_timestamps)
{
    put("lst/img/a.png", "");
    put("lst/img/b 2.png", "");
    put("lst/c.png", "");
    char text[1024];
    snprintf(text, sizeof text, "# frames\nimg/a.png\n\n  img/b 2.png  \r\n%s\n", at("lst/c.png"));
    put("lst/plain.txt", text);
    deja__sequence *s = open_seq("lst/plain.txt", NULL);
    ASSERT(s);
    EXPECT_EQ(s->layout, DEJA__SEQ_LIST);
    ASSERT_EQ(s->n, 3);
    EXPECT_TAIL(s->paths[0], "lst/img/a.png");
    EXPECT_TAIL(s->paths[1], "lst/img/b 2.png");
    EXPECT(strcmp(s->paths[2], at("lst/c.png")) == 0); /* absolute stays as it is */
    EXPECT_EQ(s->has_timestamps, 0);
    EXPECT(strcmp(s->name, "plain.txt") == 0);
    deja__sequence_destroy(s);
    put("lst/timed.txt", "100.5 img/a.png\n100.75\timg/b 2.png\n101 c.png\n");
    s = open_seq("lst/timed.txt", NULL);
    ASSERT(s);
    ASSERT_EQ(s->n, 3);
    EXPECT_EQ(s->has_timestamps, 1);
    EXPECT_NEAR(s->timestamps[1], 100.75, 1e-12);
    EXPECT_TAIL(s->paths[1], "lst/img/b 2.png");
    deja__sequence_destroy(s);
    put("lst/missing.txt", "img/a.png\nimg/zz.png\n");
    EXPECT_OPEN_FAILS("lst/missing.txt", DEJA_IO, "missing.txt:2: image");
    put("lst/mixed.txt", "1 img/a.png\nimg/b.png\n");
    EXPECT_OPEN_FAILS("lst/mixed.txt", DEJA_FORMAT, "mixed.txt:2: expected 'timestamp path'");
    put("lst/back.txt", "2 img/a.png\n1 c.png\n");
    EXPECT_OPEN_FAILS("lst/back.txt", DEJA_FORMAT, "back.txt:2: timestamp 1 s is earlier");
    put("lst/none.txt", "# nothing\n");
    EXPECT_OPEN_FAILS("lst/none.txt", DEJA_FORMAT, "no images");
}

/* ---- shared ------------------------------------------------------------------------------ */

/* frames 0..5 at x = 0, 1, 2, 0, 1.02, 2 (the last three revisit), all facing +z */
static const char *const shared_poses = "# index image rgb_timestamp tx ty tz qx qy qz qw\n"
                                        "0 0000.jpg 10.0 0 0 0 0 0 0 1\n"
                                        "1 0001.jpg 10.1 1 0 0 0 0 0 1\n"
                                        "2 0002.jpg 10.2 2 0 0 0 0 0 2\n"
                                        "3 0003.jpg 10.3 0 0 0 0 0 0 1\n"
                                        "4 0004.jpg 10.4 1.02 0 0 0 0 0 1\n"
                                        "5 0005.jpg 10.5 2 0 0 0 0 0 1\n";

static void put_shared(const char *dir, int with_loops, int with_poses)
{
    char p[256];
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/images/%04d.jpg", dir, i);
        put(p, "");
    }
    if (with_loops) {
        snprintf(p, sizeof p, "%s/loops.txt", dir);
        put(p, "5 1\n4 0\n");
        snprintf(p, sizeof p, "%s/loops_loose.txt", dir);
        put(p, "4 0 1\n5 0 1 2\n");
    }
    if (with_poses) {
        snprintf(p, sizeof p, "%s/poses_per_frame.txt", dir);
        put(p, shared_poses);
    }
}

TEST(shared_reads_images_loops_and_per_frame_poses)
{
    put_shared("sh1", 1, 1);
    deja__sequence *s = open_seq("sh1", NULL);
    ASSERT(s);
    EXPECT_EQ(s->layout, DEJA__SEQ_SHARED);
    ASSERT_EQ(s->n, 6);
    EXPECT_TAIL(s->paths[5], "sh1/images/0005.jpg");
    EXPECT_EQ(s->has_timestamps, 1);
    EXPECT_NEAR(s->timestamps[4], 10.4, 1e-12);
    ASSERT(s->poses && s->has_pose);
    EXPECT_EQ(s->n_posed, 6);
    EXPECT_NEAR(s->poses[4 * 12 + 3], 1.02, 1e-12);
    EXPECT_NEAR(s->poses[2 * 12 + 10], 1, 1e-12); /* quaternion (0,0,0,2) normalised */
    ASSERT(s->truth && s->truth_loose);
    EXPECT_EQ(s->truth_from_poses, 0); /* loops.txt wins over the poses */
    EXPECT_EQ(s->truth->n_pairs, 2);
    EXPECT_EQ(s->truth_loose->n_pairs, 5);
    EXPECT(deja__truth_is_loop(s->truth_loose, 5, 2));
    deja__sequence_destroy(s);
    /* without loops.txt the truth comes from the poses with the rule */
    put_shared("sh2", 0, 1);
    deja__truth_rule r = {0.05, 15, 3};
    s = open_seq("sh2", &r);
    ASSERT(s);
    ASSERT(s->truth);
    EXPECT_EQ(s->truth_from_poses, 1);
    EXPECT_EQ(s->rule_used.min_gap, 3);
    EXPECT(s->truth_loose == NULL);
    EXPECT_EQ(s->truth->n_pairs, 3); /* 3-0, 4-1 (2 cm), 5-2 */
    EXPECT(deja__truth_is_loop(s->truth, 4, 1));
    deja__sequence_destroy(s);
    r.max_dist_m = 0.01;
    s = open_seq("sh2", &r);
    ASSERT(s);
    EXPECT_EQ(s->truth->n_pairs, 2);
    EXPECT(!deja__truth_is_loop(s->truth, 4, 1));
    deja__sequence_destroy(s);
}

TEST(shared_pose_file_errors_name_the_line)
{
    put_shared("sh3", 1, 0);
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"0 0000.jpg 1 0 0 0 0 0 0 1\n1 0002.jpg 1 0 0 0 0 0 0 1\n",
         "poses_per_frame.txt:2: field 2 ('0002.jpg'): frame 1 is image 0001.jpg"},
        {"0 0000.jpg 1 0 0 0 0 0 0 1\n2 0001.jpg 1 0 0 0 0 0 0 1\n",
         "poses_per_frame.txt:2: field 1 ('2'): expected frame index 1"},
        {"0 0000.jpg 1 0 nan 0 0 0 0 1\n", "poses_per_frame.txt:1: field 5 ('nan')"},
        {"0 0000.jpg 1 0 0 0 0 0 0 0\n", "poses_per_frame.txt:1: quaternion"},
        {"0 0000.jpg 1 0 0 0 0 0 0\n", "poses_per_frame.txt:1: fewer than 10 fields"},
        {"0 0000.jpg 1 0 0 0 0 0 0 1\n", "poses_per_frame.txt: 1 poses for 6 images"},
        {"0 0000.jpg 2 0 0 0 0 0 0 1\n1 0001.jpg 1 0 0 0 0 0 0 1\n",
         "poses_per_frame.txt:2: timestamp 1 s is earlier"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        put("sh3/poses_per_frame.txt", cases[i].text);
        EXPECT_OPEN_FAILS("sh3", DEJA_FORMAT, cases[i].want);
    }
}

/* ---- KITTI ------------------------------------------------------------------------------- */

/* n frames along x at 1 m a frame, then back: frame i at x = min(i, 2 * (n/2) - i) */
static void put_kitti(const char *images_dir, const char *poses_file, int n)
{
    char p[512], line[256], times[4096] = "", poses[16384] = "";
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%06d.png", images_dir, i);
        put(p, "");
        snprintf(line, sizeof line, "%.6e\n", i * 0.1);
        strcat(times, line);
        int x = i <= n / 2 ? i : 2 * (n / 2) - i;
        snprintf(line, sizeof line,
                 "1.000000e+00 0.000000e+00 0.000000e+00 %d.000000e+00 0.000000e+00 "
                 "1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 "
                 "1.000000e+00 0.000000e+00\n",
                 x);
        strcat(poses, line);
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s", images_dir);
    *strrchr(dir, '/') = '\0';
    snprintf(p, sizeof p, "%s/times.txt", dir);
    put(p, times);
    if (poses_file) put(poses_file, poses);
}

TEST(kitti_reads_times_and_poses_from_the_dataset_tree)
{
    put_kitti("kitti/dataset/sequences/05/image_0", "kitti/dataset/poses/05.txt", 30);
    put("kitti/dataset/sequences/05/image_1/000000.png", ""); /* the right camera: ignored */
    deja__sequence *s = open_seq("kitti/dataset/sequences/05", NULL);
    ASSERT(s);
    EXPECT_EQ(s->layout, DEJA__SEQ_KITTI);
    ASSERT_EQ(s->n, 30);
    EXPECT(strcmp(s->name, "05") == 0);
    EXPECT_TAIL(s->paths[29], "05/image_0/000029.png");
    EXPECT_EQ(s->has_timestamps, 1);
    EXPECT_NEAR(s->timestamps[29], 2.9, 1e-12);
    ASSERT(s->poses);
    EXPECT_EQ(s->n_posed, 30);
    EXPECT_NEAR(s->poses[20 * 12 + 3], 10, 1e-12);
    /* default rule 5 m, gap 100: nothing in 30 frames */
    ASSERT(s->truth);
    EXPECT_EQ(s->truth_from_poses, 1);
    EXPECT_EQ(s->truth->n_pairs, 0);
    deja__sequence_destroy(s);
    /* 0.5 m, gap 4: frame 15 - k revisits frame 15 + k for 2k >= 4 */
    deja__truth_rule r = {0.5, 0, 4};
    s = open_seq("kitti/dataset/sequences/05", &r);
    ASSERT(s);
    EXPECT_EQ(s->truth->n_pairs, 14 - 1); /* q = 17..29 with m = 30 - q */
    EXPECT(deja__truth_is_loop(s->truth, 17, 13));
    EXPECT(!deja__truth_is_loop(s->truth, 16, 14));
    deja__sequence_destroy(s);
}

TEST(kitti_takes_poses_txt_and_image_2_and_checks_counts)
{
    put_kitti("kit2/image_2", "kit2/poses.txt", 8);
    deja__sequence *s = open_seq("kit2", NULL);
    ASSERT(s);
    EXPECT_EQ(s->n, 8);
    EXPECT_TAIL(s->paths[0], "kit2/image_2/000000.png");
    EXPECT(s->poses != NULL);
    deja__sequence_destroy(s);
    put("kit2/image_2/000008.png", "");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "9 images, but");
    unlink(at("kit2/image_2/000008.png"));
    put("kit2/times.txt", "0\n0.1\n0.2\n0.3\n0.2\n0.5\n0.6\n0.7\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "times.txt:5: time 0.2 s is earlier");
    put("kit2/times.txt", "0\n0.1\n0.2\n0.3\ninf\n0.5\n0.6\n0.7\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "times.txt:5: expected one time");
    put("kit2/times.txt", "0\n0.1\n0.2\n0.3\n0.4\n0.5\n0.6\n0.7\n");
    put("kit2/poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "poses.txt:2: fewer than 12 numbers");
    put("kit2/poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 x 0 1 0 0 0 0 1 0\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "poses.txt:2: field 4 ('x')");
    put("kit2/poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n2 0 0 0 0 1 0 0 0 0 1 0\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "poses.txt:2: the 3x3 part is not a rotation");
    put("kit2/poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n");
    EXPECT_OPEN_FAILS("kit2", DEJA_FORMAT, "poses.txt: 1 poses for 8 images");
}

/* ---- TUM --------------------------------------------------------------------------------- */

TEST(tum_interpolates_unsorted_ground_truth_at_image_times)
{
    put("tum/rgb/1.png", "");
    put("tum/rgb/2.png", "");
    put("tum/rgb/3.png", "");
    put("tum/rgb/4.png", "");
    put("tum/rgb.txt", "# color images\n# timestamp filename\n"
                       "100.00 rgb/1.png\n100.025 rgb/2.png\n100.10 rgb/3.png\n200 rgb/4.png\n");
    /* yaw 0 at 100.00, 90 deg about z at 100.10, given out of order */
    put("tum/groundtruth.txt", "# timestamp tx ty tz qx qy qz qw\n"
                               "100.10 1 2 3 0 0 0.7071067811865476 0.7071067811865476\n"
                               "100.00 0 0 0 0 0 0 1\n");
    deja__sequence *s = open_seq("tum", NULL);
    ASSERT(s);
    EXPECT_EQ(s->layout, DEJA__SEQ_TUM);
    ASSERT_EQ(s->n, 4);
    EXPECT_TAIL(s->paths[1], "tum/rgb/2.png");
    EXPECT_EQ(s->has_timestamps, 1);
    EXPECT_NEAR(s->timestamps[1], 100.025, 1e-9);
    EXPECT_EQ(s->n_posed, 3);
    EXPECT(s->has_pose[0] && s->has_pose[1] && s->has_pose[2] && !s->has_pose[3]);
    const double *p = s->poses + 12;
    EXPECT_NEAR(p[3], 0.25, 1e-6);
    EXPECT_NEAR(p[7], 0.5, 1e-6);
    EXPECT_NEAR(p[11], 0.75, 1e-6);
    EXPECT_NEAR(yaw_of(p), PI / 8, 1e-6);
    EXPECT_NEAR(s->poses[3 * 12 + 0], 0, 0); /* frame 3: no pose, zeros */
    ASSERT(s->truth);
    EXPECT_EQ(s->truth_from_poses, 1);
    deja__sequence_destroy(s);
    /* fewer than half the frames with a pose */
    put("tum/groundtruth.txt", "100.00 0 0 0 0 0 0 1\n");
    EXPECT_OPEN_FAILS("tum", DEJA_FORMAT, "only 1 of 4 images");
    /* without groundtruth.txt: frames only */
    unlink(at("tum/groundtruth.txt"));
    s = open_seq("tum", NULL);
    ASSERT(s);
    EXPECT(s->poses == NULL && s->truth == NULL);
    deja__sequence_destroy(s);
}

TEST(tum_rejects_bad_numbers_naming_file_and_line)
{
    put("tum2/rgb/1.png", "");
    put("tum2/rgb.txt", "100 rgb/1.png\n");
    static const struct {
        const char *gt, *want;
    } cases[] = {
        {"# x\n100 0 0 0 0 0 0 1\n101 0 0 nan 0 0 0 1\n", "groundtruth.txt:3: field 4 ('nan')"},
        {"100 0 0 0 0 0 0 1\n101 0 0 1e999 0 0 0 1\n", "groundtruth.txt:2: field 4 ('1e999')"},
        {"100 0 0 0 0 0 0 0\n", "groundtruth.txt:1: quaternion"},
        {"100 0 0 0 0 0 0\n", "groundtruth.txt:1: 7 fields"},
        {"100 0 0 0 0 0 0 1 5\n", "groundtruth.txt:1: 9 fields"},
        {"-1 0 0 0 0 0 0 1\n", "groundtruth.txt:1: field 1 ('-1')"},
        {"100 0 0 0 0 0 0 1\n100 1 0 0 0 0 0 1\n", "groundtruth.txt: lines 1 and 2"},
        {"100 0 0 2e9 0 0 0 1\n", "groundtruth.txt:1: field 4 ('2e9')"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        put("tum2/groundtruth.txt", cases[i].gt);
        EXPECT_OPEN_FAILS("tum2", DEJA_FORMAT, cases[i].want);
    }
    unlink(at("tum2/groundtruth.txt"));
    put("tum2/rgb.txt", "100 rgb/1.png extra\n");
    EXPECT_OPEN_FAILS("tum2", DEJA_FORMAT, "rgb.txt:1: expected 'timestamp filename'");
    put("tum2/rgb.txt", "# c\n100 rgb/2.png\n");
    EXPECT_OPEN_FAILS("tum2", DEJA_IO, "rgb.txt:2: image");
}

/* ---- EuRoC ------------------------------------------------------------------------------- */

/* Images at 1.00, 1.05, 1.10 s. Body poses: yaw 0 at x = 0 (1.0 s), yaw 90 deg at x = 2 (1.1 s),
 * listed out of order; camera extrinsics T_BS: the camera 0.1 m along the body's x axis. */
static void put_euroc(const char *dir)
{
    char p[256];
    const char *names[3] = {"1000000000.png", "1050000000.png", "1100000000.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/mav0/cam0/data/%s", dir, names[i]);
        put(p, "");
    }
    snprintf(p, sizeof p, "%s/mav0/cam0/data.csv", dir);
    put(p, "#timestamp [ns],filename\r\n1000000000,1000000000.png\r\n"
           "1050000000, 1050000000.png\r\n1100000000,1100000000.png\r\n");
    snprintf(p, sizeof p, "%s/mav0/cam0/sensor.yaml", dir);
    put(p, "%YAML:1.0\nsensor_type: camera\nT_BS:\n  cols: 4\n  rows: 4\n"
           "  data: [1.0, 0.0, 0.0, 0.1,\n         0.0, 1.0, 0.0, 0.0,\n"
           "         0.0, 0.0, 1.0, 0.0,\n         0.0, 0.0, 0.0, 1.0]\nrate_hz: 20\n");
    snprintf(p, sizeof p, "%s/mav0/state_groundtruth_estimate0/data.csv", dir);
    put(p, "#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], "
           "q_RS_y [], q_RS_z [], v_RS_R_x [m s^-1], v_RS_R_y, v_RS_R_z, b_w_RS_S_x, b_w_RS_S_y, "
           "b_w_RS_S_z, b_a_RS_S_x, b_a_RS_S_y, b_a_RS_S_z\n"
           "1100000000,2,0,0,0.7071067811865476,0,0,0.7071067811865476,0,0,0,0,0,0,0,0,0\n"
           "1000000000,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0\n");
}

TEST(euroc_reads_nanoseconds_w_first_quaternions_and_extrinsics)
{
    put_euroc("V1_01_easy");
    for (int as_mav0 = 0; as_mav0 < 2; as_mav0++) {
        deja__sequence *s = open_seq(as_mav0 ? "V1_01_easy/mav0" : "V1_01_easy", NULL);
        ASSERT(s);
        EXPECT_EQ(s->layout, DEJA__SEQ_EUROC);
        EXPECT(strcmp(s->name, "V1_01_easy") == 0);
        ASSERT_EQ(s->n, 3);
        EXPECT_TAIL(s->paths[1], "mav0/cam0/data/1050000000.png");
        EXPECT_NEAR(s->timestamps[1], 1.05, 1e-12);
        EXPECT_EQ(s->n_posed, 3);
        /* frame 1: body half way, x = 1, yaw 45 deg; the camera sits 0.1 m along the body x */
        const double *p = s->poses + 12;
        EXPECT_NEAR(yaw_of(p), PI / 4, 1e-9);
        EXPECT_NEAR(p[3], 1 + 0.1 * cos(PI / 4), 1e-9);
        EXPECT_NEAR(p[7], 0.1 * sin(PI / 4), 1e-9);
        /* frame 2: yaw 90 (w first: (w, x, y, z) = (0.707, 0, 0, 0.707)) */
        EXPECT_NEAR(yaw_of(s->poses + 24), PI / 2, 1e-9);
        EXPECT_NEAR(s->poses[24 + 7], 0.1, 1e-9);
        deja__sequence_destroy(s);
    }
    put("V1_01_easy/mav0/cam0/sensor.yaml", "T_BS:\n  data: [1, 0, 0]\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "T_BS has 3 values");
    put("V1_01_easy/mav0/cam0/sensor.yaml", "T_BS:\n  data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, "
                                            "0, 0, 0, 0, 2]\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "T_BS is not a rigid transform");
    put("V1_01_easy/mav0/cam0/sensor.yaml", "T_BS:\n  data: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, "
                                            "0, 0, 0, 0, 1\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "no closing ']'");
    put("V1_01_easy/mav0/cam0/sensor.yaml", "rate_hz: 20\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "no 'T_BS:'");
    unlink(at("V1_01_easy/mav0/cam0/sensor.yaml"));
    /* without extrinsics the body pose is the camera's */
    deja__sequence *s = open_seq("V1_01_easy", NULL);
    ASSERT(s);
    EXPECT_NEAR(s->poses[12 + 3], 1, 1e-9);
    deja__sequence_destroy(s);
    put("V1_01_easy/mav0/state_groundtruth_estimate0/data.csv", "1000000000,0,0,0,0,0,0,0\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "data.csv:1: quaternion");
    put("V1_01_easy/mav0/state_groundtruth_estimate0/data.csv", "1.5e9,0,0,0,1,0,0,0\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "data.csv:1: field 1 ('1.5e9')");
    put("V1_01_easy/mav0/state_groundtruth_estimate0/data.csv", "1000000000,0,0,0,1,0,0\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "data.csv:1: 7 fields");
    put("V1_01_easy/mav0/cam0/data.csv", "1000000000,1000000000.png\n900000000,1050000000.png\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "data.csv:2: timestamp 0.9 s is earlier");
    put("V1_01_easy/mav0/cam0/data.csv", "1000000000;1000000000.png\n");
    EXPECT_OPEN_FAILS("V1_01_easy", DEJA_FORMAT, "data.csv:1: expected 'timestamp_ns,filename'");
}

/* ---- hostile bytes ---------------------------------------------------------------------- */

/* Every truncation and a few replacements of every byte of a valid file: an error status, or
 * success with a consistent sequence; never a crash (ASan / UBSan builds check the rest). */
static void mangle_and_open(const char *dir, const char *file, const char *valid)
{
    static const char subst[] = {0, ' ', '\n', '-', '9', '#', '.', 'e', (char)0xff};
    char rel[256], buf[2048];
    size_t n = strlen(valid);
    snprintf(rel, sizeof rel, "%s/%s", dir, file);
    for (size_t i = 0; i <= n; i++)
        for (size_t v = 0; v <= sizeof subst; v++) {
            if (i == n && v) break;
            memcpy(buf, valid, n);
            size_t len = v ? n : i; /* v == 0: truncate at i, else replace byte i */
            if (v) buf[i] = subst[v - 1];
            if (!test_write_file(at(rel), buf, len)) abort();
            deja__sequence *s = NULL;
            char err[DEJA_ERROR_BYTES];
            deja_status st = deja__sequence_open(NULL, at(dir), NULL, &s, err);
            if (st != DEJA_OK && st != DEJA_FORMAT && st != DEJA_IO)
                TEST_FAIL_AT("%s byte %zu value %zu: %s", file, i, v, deja_status_name(st));
            if (st == DEJA_OK) {
                for (uint32_t k = 1; k < s->n; k++)
                    if (s->timestamps[k] < s->timestamps[k - 1]) TEST_FAIL_AT("time order");
                for (uint32_t k = 0; s->poses && k < s->n * 12; k++)
                    if (!isfinite(s->poses[k])) TEST_FAIL_AT("pose not finite");
                deja__sequence_destroy(s);
            } else if (!strstr(err, dir)) {
                TEST_FAIL_AT("%s byte %zu: message '%s' names no file", file, i, err);
            }
        }
    if (!test_write_file(at(rel), valid, n)) abort();
}

TEST(mangled_files_give_errors_never_crashes)
{
    put("mg_tum/rgb/1.png", "");
    put("mg_tum/rgb/2.png", "");
    const char *rgb = "# c\n1.5 rgb/1.png\n2.5 rgb/2.png\n";
    const char *gt = "1 0 0 0 0 0 0 1\n3 1 0 0 0.1 0 0 1\n";
    put("mg_tum/rgb.txt", rgb);
    put("mg_tum/groundtruth.txt", gt);
    mangle_and_open("mg_tum", "groundtruth.txt", gt);
    mangle_and_open("mg_tum", "rgb.txt", rgb);
    put_shared("mg_sh", 1, 1);
    mangle_and_open("mg_sh", "loops.txt", "5 1\n4 0\n");
    mangle_and_open("mg_sh", "poses_per_frame.txt", shared_poses);
    put_euroc("mg_eu");
    mangle_and_open("mg_eu/mav0", "cam0/sensor.yaml",
                    "T_BS:\n  data: [1, 0, 0, 0.1, 0, 1, 0, 0,\n 0, 0, 1, 0, 0, 0, 0, 1]\n");
}

/* ---- memory ------------------------------------------------------------------------------ */

TEST(open_frees_everything_and_fails_cleanly_out_of_memory)
{
    put_shared("oom_shared", 1, 1);
    put_euroc("oom_euroc");
    put("oom_tum/rgb/1.png", "");
    put("oom_tum/rgb/2.png", "");
    put("oom_tum/rgb.txt", "1 rgb/1.png\n2 rgb/2.png\n");
    put("oom_tum/groundtruth.txt", "1 0 0 0 0 0 0 1\n2 1 0 0 0 0 0 1\n");
    put_kitti("oom_kitti/image_0", "oom_kitti/poses.txt", 6);
    const char *dirs[4] = {"oom_shared", "oom_euroc", "oom_tum", "oom_kitti"};
    char err[DEJA_ERROR_BYTES];
    for (int d = 0; d < 4; d++) {
        test_counter c = {0};
        deja_options o = test_counting_options(&c);
        deja__sequence *s = NULL;
        ASSERT_OK(deja__sequence_open(&o, at(dirs[d]), NULL, &s, err));
        EXPECT(s->poses != NULL);
        deja__sequence_destroy(s);
        EXPECT_EQ(c.live, 0);
        EXPECT_EQ(c.blocks, 0);
        for (size_t k = 1; k <= c.calls; k++) {
            test_counter f = {.fail_at = k};
            deja_options of = test_counting_options(&f);
            s = NULL;
            deja_status st = deja__sequence_open(&of, at(dirs[d]), NULL, &s, err);
            if (st != DEJA_NOMEM)
                TEST_FAIL_AT("%s, fail at %zu: %s (%s)", dirs[d], k, deja_status_name(st), err);
            EXPECT(s == NULL);
            EXPECT_EQ(f.live, 0);
        }
    }
}

/* ---- ../shared/data ---------------------------------------------------------------------- */

static deja__sequence *open_shared(const char *name)
{
    const char *sh = test_shared_dir();
    char p[1200], err[DEJA_ERROR_BYTES];
    snprintf(p, sizeof p, "%s/data/%s", sh, name);
    deja__sequence *s = NULL;
    deja_status st = deja__sequence_open(NULL, p, NULL, &s, err);
    if (st != DEJA_OK) fprintf(stderr, "  open %s: %s (%s)\n", p, deja_status_name(st), err);
    return s;
}

TEST(shared_sequences_match_their_readmes)
{
    if (!test_shared_dir()) SKIP("no ../shared/data (set DEJA_SHARED)");
    static const struct {
        const char *name;
        uint32_t frames, queries;
        size_t pairs;
        int posed;
    } seqs[] = {
        {"rtabmap-samples", 84, 44, 228, 0},
        {"corridor-vprbench", 222, 111, 549, 0},
        {"tum-fr1-xyz", 798, 481, 8227, 1},
    };
    for (size_t i = 0; i < 3; i++) {
        deja__sequence *s = open_shared(seqs[i].name);
        ASSERT(s);
        EXPECT_EQ(s->layout, DEJA__SEQ_SHARED);
        EXPECT_EQ(s->n, seqs[i].frames);
        ASSERT(s->truth);
        EXPECT_EQ(s->truth_from_poses, 0);
        EXPECT_EQ(s->truth->n_queries, seqs[i].queries);
        EXPECT_EQ(s->truth->n_pairs, seqs[i].pairs);
        EXPECT_EQ(s->poses != NULL, seqs[i].posed);
        EXPECT_EQ(s->has_timestamps, seqs[i].posed);
        EXPECT(strcmp(s->name, seqs[i].name) == 0);
        if (seqs[i].posed) {
            EXPECT_EQ(s->n_posed, 798);
            ASSERT(s->truth_loose);
            EXPECT_EQ(s->truth_loose->n_queries, 639);
            EXPECT_EQ(s->truth_loose->n_pairs, 61228);
            EXPECT_NEAR(s->timestamps[0], 1305031102.175304, 1e-6);
            EXPECT_NEAR(s->timestamps[797], 1305031128.747363, 1e-6);
        }
        deja__sequence_destroy(s);
    }
}

/* Pairs in a but not in b. */
static size_t pairs_missing(const deja__truth *a, const deja__truth *b, int print)
{
    size_t n = 0;
    for (uint32_t q = 0; q < a->n_frames; q++) {
        uint32_t k;
        const uint32_t *m = deja__truth_matches(a, q, &k);
        for (uint32_t i = 0; i < k; i++)
            if (!deja__truth_is_loop(b, q, m[i])) {
                if (print && n < 5) fprintf(stderr, "    (%u, %u)\n", q, m[i]);
                n++;
            }
    }
    return n;
}

TEST(tum_fr1_xyz_truth_equals_its_pose_rule)
{
    if (!test_shared_dir()) SKIP("no ../shared/data (set DEJA_SHARED)");
    deja__sequence *s = open_shared("tum-fr1-xyz");
    ASSERT(s && s->poses);
    char err[DEJA_ERROR_BYTES];
    deja__truth_rule tum = deja__truth_rule_default(DEJA__SEQ_TUM), loose = {0.15, 20, 50};
    deja__truth *t = NULL, *tl = NULL;
    ASSERT_OK(deja__truth_from_poses(NULL, s->poses, s->n, &tum, &t, err));
    ASSERT_OK(deja__truth_from_poses(NULL, s->poses, s->n, &loose, &tl, err));
    size_t extra = pairs_missing(t, s->truth, 1), missing = pairs_missing(s->truth, t, 1);
    fprintf(stderr, "  strict: %zu derived pairs not in loops.txt, %zu in it not derived\n", extra,
            missing);
    EXPECT(deja__truth_equal(t, s->truth));
    extra = pairs_missing(tl, s->truth_loose, 1), missing = pairs_missing(s->truth_loose, tl, 1);
    fprintf(stderr, "  loose: %zu derived pairs not in loops_loose.txt, %zu in it not derived\n",
            extra, missing);
    EXPECT(deja__truth_equal(tl, s->truth_loose));
    /* our writer reproduces the file byte for byte */
    const char *out = at("fr1_loops.txt");
    ASSERT_OK(deja__truth_write(s->truth, out, err));
    char ref[1200];
    snprintf(ref, sizeof ref, "%s/data/tum-fr1-xyz/loops.txt", test_shared_dir());
    size_t la, lb;
    uint8_t *a = test_read_file(out, &la), *b = test_read_file(ref, &lb);
    EXPECT(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    deja__truth_destroy(t);
    deja__truth_destroy(tl);
    deja__sequence_destroy(s);
}

TEST(tum_reader_on_fr1_xyz_reproduces_the_per_frame_poses)
{
    if (!test_shared_dir()) SKIP("no ../shared/data (set DEJA_SHARED)");
    /* the original rgb.txt and groundtruth.txt with empty placeholder images: a TUM folder */
    char src[1200];
    size_t len;
    snprintf(src, sizeof src, "%s/data/tum-fr1-xyz/rgb.txt", test_shared_dir());
    uint8_t *rgb = test_read_file(src, &len);
    put("fr1/rgb.txt", (const char *)rgb);
    snprintf(src, sizeof src, "%s/data/tum-fr1-xyz/groundtruth.txt", test_shared_dir());
    uint8_t *gt = test_read_file(src, &len);
    put("fr1/groundtruth.txt", (const char *)gt);
    free(gt);
    char *line = strtok((char *)rgb, "\n");
    for (; line; line = strtok(NULL, "\n")) {
        char *name = strchr(line, ' '), p[256];
        if (line[0] == '#' || !name) continue;
        snprintf(p, sizeof p, "fr1/%s", name + 1);
        put(p, "");
    }
    free(rgb);
    deja__sequence *t = open_seq("fr1", NULL), *s = open_shared("tum-fr1-xyz");
    ASSERT(t && s);
    EXPECT_EQ(t->layout, DEJA__SEQ_TUM);
    ASSERT_EQ(t->n, s->n);
    EXPECT_EQ(t->n_posed, 798);
    double dp = 0, dr = 0;
    for (size_t i = 0; i < (size_t)s->n * 12; i++) {
        double d = fabs(t->poses[i] - s->poses[i]);
        if (i % 4 == 3)
            dp = fmax(dp, d);
        else
            dr = fmax(dr, d);
    }
    fprintf(stderr, "  TUM reader vs poses_per_frame.txt: position %.2g m, rotation %.2g\n", dp,
            dr);
    EXPECT_LE(dp, 2e-6); /* the file has 6 decimals */
    EXPECT_LE(dr, 1e-5);
    ASSERT(t->truth);
    size_t extra = pairs_missing(t->truth, s->truth, 1),
           missing = pairs_missing(s->truth, t->truth, 1);
    fprintf(stderr, "  truth from the TUM reader: %zu pairs not in loops.txt, %zu missing\n", extra,
            missing);
    EXPECT_LE(extra + missing, 10); /* only pairs on the rule's boundary may differ */
    deja__sequence_destroy(t);
    deja__sequence_destroy(s);
}
