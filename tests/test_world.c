/* test_world.c - the synthetic world: determinism, textured frames with ORB corners, ground truth
 * equal to a brute-force check, a route that revisits places, continuous poses, similar images at
 * the same place and dissimilar ones elsewhere, no allocation per frame, bad parameters.
 * DEJA_WORLD_DUMP=dir writes a few frames as PGM there (for looking at them). */
#include "test.h"
#include "test_util.h"
#include "seq.h"
#include "world_impl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#define PI 3.14159265358979323846

/* ---- helpers ----------------------------------------------------------------------------- */

static const deja_allocator plain = {NULL, NULL, NULL};

static deja_allocator resolved(void)
{
    return deja__allocator(NULL);
}

/* A small fast world for structural tests. */
static deja__world_params small_params(void)
{
    deja__world_params p = deja__world_params_default();
    p.width = 320;
    p.height = 240;
    p.blocks_x = 3;
    p.blocks_y = 2;
    p.texels_per_m = 64;
    return p;
}

static deja__world *make(const deja__world_params *p)
{
    deja_allocator a = resolved();
    deja__world *w = NULL;
    deja_status st = deja__world_create(&a, p, &w);
    if (st != DEJA_OK)
        fprintf(stderr, "  create: %s (%s)\n", deja_status_name(st), deja_last_error());
    return w;
}

static double ncc(const uint8_t *a, const uint8_t *b, size_t n)
{
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (size_t i = 0; i < n; i++) {
        sa += a[i], sb += b[i];
        saa += (double)a[i] * a[i], sbb += (double)b[i] * b[i], sab += (double)a[i] * b[i];
    }
    double ma = sa / n, mb = sb / n;
    double va = saa / n - ma * ma, vb = sbb / n - mb * mb, cov = sab / n - ma * mb;
    return va > 0 && vb > 0 ? cov / sqrt(va * vb) : 0;
}

static double yaw_diff(double a, double b)
{
    double d = fmod(fabs(a - b), 2 * PI);
    return d > PI ? 2 * PI - d : d;
}

/* Loops collected from the callback: per query, its matches. */
typedef struct {
    uint32_t n_frames;
    uint32_t *n_of;      /* matches per query */
    uint32_t **m_of;     /* the matches */
    uint32_t last_query; /* queries must come ascending */
    int order_ok;
    size_t n_queries, n_matches;
} loops;

static void collect(void *user, uint32_t q, const uint32_t *m, size_t n)
{
    loops *L = user;
    if ((L->n_queries && q <= L->last_query) || q >= L->n_frames || n == 0) L->order_ok = 0;
    for (size_t k = 0; k < n; k++)
        if (m[k] >= q || (k && m[k] <= m[k - 1])) L->order_ok = 0;
    if (q < L->n_frames && !L->m_of[q]) {
        L->m_of[q] = malloc(n * sizeof(uint32_t));
        memcpy(L->m_of[q], m, n * sizeof(uint32_t));
        L->n_of[q] = (uint32_t)n;
    }
    L->last_query = q;
    L->n_queries++;
    L->n_matches += n;
}

static int get_loops(const deja__world *w, loops *L)
{
    memset(L, 0, sizeof *L);
    L->n_frames = deja__world_n_frames(w);
    L->n_of = calloc(L->n_frames, sizeof(uint32_t));
    L->m_of = calloc(L->n_frames, sizeof(uint32_t *));
    L->order_ok = 1;
    return deja__world_loops(w, collect, L) == DEJA_OK;
}

static void free_loops(loops *L)
{
    for (uint32_t i = 0; i < L->n_frames; i++)
        free(L->m_of[i]);
    free(L->m_of);
    free(L->n_of);
}

static deja__world_pose *all_poses(const deja__world *w)
{
    uint32_t n = deja__world_n_frames(w);
    deja__world_pose *p = malloc(n * sizeof *p);
    for (uint32_t i = 0; i < n; i++)
        if (deja__world_pose_of(w, i, &p[i]) != DEJA_OK) {
            free(p);
            return NULL;
        }
    return p;
}

/* ---- tests ------------------------------------------------------------------------------- */

TEST(same_seed_gives_identical_frames_and_other_seeds_differ)
{
    deja__world_params p = small_params();
    deja__world *a = make(&p), *b = make(&p);
    p.seed = 2;
    deja__world *c = make(&p);
    ASSERT(a && b && c);
    size_t n = (size_t)p.width * p.height;
    uint8_t *fa = malloc(n), *fb = malloc(n), *fc = malloc(n);
    uint32_t frames[] = {0, 1, 777, 2999};
    for (int k = 0; k < 4; k++) {
        ASSERT_OK(deja__world_render(a, frames[k], fa, p.width));
        ASSERT_OK(deja__world_render(b, frames[k], fb, p.width));
        ASSERT_OK(deja__world_render(c, frames[k], fc, p.width));
        EXPECT(memcmp(fa, fb, n) == 0);
        EXPECT(memcmp(fa, fc, n) != 0);
        /* rendering again from the same handle gives the same bytes too */
        ASSERT_OK(deja__world_render(a, frames[k], fb, p.width));
        EXPECT(memcmp(fa, fb, n) == 0);
    }
    deja__world_pose pa, pc;
    ASSERT_OK(deja__world_pose_of(a, 500, &pa));
    ASSERT_OK(deja__world_pose_of(c, 500, &pc));
    EXPECT(pa.x != pc.x || pa.y != pc.y);
    free(fa), free(fb), free(fc);
    deja__world_destroy(a), deja__world_destroy(b), deja__world_destroy(c);
}

static void dump(const char *dir, uint32_t i, const uint8_t *px, int w, int h)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/world_%05u.pgm", dir, i);
    deja_image im = {w, h, w, px};
    if (deja_image_write_pgm(&im, path) != DEJA_OK) fprintf(stderr, "  %s\n", deja_last_error());
}

/* The default world at 640x480: frames have contrast everywhere, few flat areas, and ORB finds
 * its full 1000 features (the reason the textures are made as they are). */
TEST(frames_are_textured_with_many_corners)
{
    deja__world_params p = deja__world_params_default();
    deja__world *w = make(&p);
    ASSERT(w);
    deja_options o = deja_options_default();
    deja_orb *orb = NULL;
    ASSERT_OK(deja_orb_create(&o, &orb));
    const char *dir = getenv("DEJA_WORLD_DUMP");
    int W = p.width, H = p.height, n_checked = 0;
    uint8_t *px = malloc((size_t)W * H);
    double orb_sum = 0, orb_min = 1e9, flat_max = 0, flat_sum = 0, grad_min = 1, sd_min = 1e9;
    for (uint32_t i = 0; i < p.n_frames; i += 97, n_checked++) {
        ASSERT_OK(deja__world_render(w, i, px, W));
        if (dir && *dir) dump(dir, i, px, W, H);
        double s = 0, ss = 0;
        long strong = 0;
        for (int y = 1; y + 1 < H; y++)
            for (int x = 1; x + 1 < W; x++) {
                const uint8_t *q = px + (size_t)y * W + x;
                int gx = q[1] - q[-1], gy = q[W] - q[-W];
                if (gx * gx + gy * gy > 30 * 30) strong++;
                s += q[0], ss += (double)q[0] * q[0];
            }
        double m = s / ((W - 2.0) * (H - 2)), sd = sqrt(ss / ((W - 2.0) * (H - 2)) - m * m);
        /* a 32x32 block is flat if its range is within the sensor noise */
        int flat = 0, blocks = 0;
        for (int by = 0; by + 32 <= H; by += 32)
            for (int bx = 0; bx + 32 <= W; bx += 32, blocks++) {
                int lo = 255, hi = 0;
                for (int y = by; y < by + 32; y++)
                    for (int x = bx; x < bx + 32; x++) {
                        int v = px[(size_t)y * W + x];
                        lo = v < lo ? v : lo;
                        hi = v > hi ? v : hi;
                    }
                flat += hi - lo <= 24;
            }
        deja_image im = {W, H, W, px};
        deja_features f;
        ASSERT_OK(deja_orb_detect(orb, &im, &f));
        orb_sum += (double)f.n;
        orb_min = fmin(orb_min, (double)f.n);
        flat_max = fmax(flat_max, (double)flat / blocks);
        flat_sum += (double)flat / blocks;
        grad_min = fmin(grad_min, strong / ((W - 2.0) * (H - 2)));
        sd_min = fmin(sd_min, sd);
    }
    fprintf(stderr,
            "  %d frames: ORB mean %.0f min %.0f, strong-gradient fraction >= %.3f, "
            "flat 32x32 blocks %.2f on average, <= %.2f, intensity sd >= %.1f\n",
            n_checked, orb_sum / n_checked, orb_min, grad_min, flat_sum / n_checked, flat_max,
            sd_min);
    EXPECT_GE(orb_sum / n_checked, 900);
    EXPECT_GE(orb_min, 600);
    EXPECT_GE(grad_min, 0.03);
    /* a plain wall seen from close by may be flat; on average little is */
    EXPECT_LE(flat_sum / n_checked, 0.15);
    EXPECT_LE(flat_max, 0.5);
    EXPECT_GE(sd_min, 25);
    free(px);
    deja_orb_destroy(orb);
    deja__world_destroy(w);
}

/* The spatial-grid ground truth equals the O(N^2) rule on every pair of 3000 frames. */
TEST(ground_truth_equals_brute_force)
{
    deja__world_params p = small_params();
    p.n_frames = 3000;
    deja__world *w = make(&p);
    ASSERT(w);
    loops L;
    ASSERT(get_loops(w, &L));
    EXPECT(L.order_ok);
    deja__world_pose *ps = all_poses(w);
    ASSERT(ps);
    double r2 = p.gt_max_dist_m * p.gt_max_dist_m, amax = p.gt_max_angle_deg * PI / 180;
    size_t mismatches = 0, brute_pairs = 0;
    for (uint32_t i = 0; i < p.n_frames; i++) {
        uint32_t k = 0;
        for (uint32_t j = 0; j + p.gt_min_gap <= i; j++) {
            double dx = ps[i].x - ps[j].x, dy = ps[i].y - ps[j].y, dz = ps[i].z - ps[j].z;
            int loop = dx * dx + dy * dy + dz * dz <= r2 && yaw_diff(ps[i].yaw, ps[j].yaw) <= amax;
            if (!loop) continue;
            brute_pairs++;
            if (k >= L.n_of[i] || L.m_of[i][k] != j)
                mismatches++;
            else
                k++;
        }
        if (k != L.n_of[i]) mismatches++;
    }
    fprintf(stderr, "  %zu queries, %zu pairs (brute force %zu)\n", L.n_queries, L.n_matches,
            brute_pairs);
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(L.n_matches, brute_pairs);
    EXPECT(L.n_queries > 0);
    free(ps);
    free_loops(&L);
    deja__world_destroy(w);
}

/* The route comes back: queries exist, some query matches two separate earlier traversals, and
 * some places are also passed in the opposite direction (not loops, by the heading rule). */
TEST(route_revisits_places_both_ways)
{
    deja__world_params p = deja__world_params_default();
    p.texels_per_m = 32; /* textures do not matter here */
    deja__world *w = make(&p);
    ASSERT(w);
    loops L;
    ASSERT(get_loops(w, &L));
    size_t multi = 0;
    for (uint32_t q = 0; q < L.n_frames; q++)
        for (uint32_t k = 1; k < L.n_of[q]; k++)
            if (L.m_of[q][k] - L.m_of[q][k - 1] > p.gt_min_gap) {
                multi++; /* two runs of matches: two earlier traversals */
                break;
            }
    deja__world_pose *ps = all_poses(w);
    ASSERT(ps);
    size_t reverse = 0;
    for (uint32_t i = 0; i < p.n_frames; i += 10)
        for (uint32_t j = 0; j + p.gt_min_gap <= i; j += 3) {
            double d = hypot(ps[i].x - ps[j].x, ps[i].y - ps[j].y);
            if (d < 0.5 && yaw_diff(ps[i].yaw, ps[j].yaw) > 150 * PI / 180) {
                reverse++;
                break;
            }
        }
    fprintf(stderr,
            "  %zu of %u frames are queries, %zu match >= 2 traversals, %zu sampled "
            "frames revisit in reverse\n",
            L.n_queries, p.n_frames, multi, reverse);
    EXPECT_GE(L.n_queries, p.n_frames / 10);
    EXPECT_GE(multi, 10);
    EXPECT_GE(reverse, 5);
    free(ps);
    free_loops(&L);
    deja__world_destroy(w);
}

/* Consecutive poses are speed_m apart (a chord of an arc is a little shorter), the heading turns
 * smoothly, and the camera stays inside the corridors. */
TEST(poses_are_continuous_and_inside_corridors)
{
    deja__world_params p = small_params();
    p.n_frames = 5000;
    deja__world *w = make(&p);
    ASSERT(w);
    deja__world_pose *ps = all_poses(w);
    ASSERT(ps);
    double step_min = 1e9, step_max = 0, turn_max = 0, clear_min = 1e9;
    for (uint32_t i = 0; i < p.n_frames; i++) {
        if (i) {
            double d = hypot(ps[i].x - ps[i - 1].x, ps[i].y - ps[i - 1].y);
            step_min = fmin(step_min, d);
            step_max = fmax(step_max, d);
            turn_max = fmax(turn_max, yaw_diff(ps[i].yaw, ps[i - 1].yaw));
        }
        EXPECT_NEAR(ps[i].z, p.camera_height_m, 1e-12);
        /* clearance: distance to the nearest wall piece */
        double clear = 1e9;
        for (uint32_t k = 0; k < w->n_walls; k++) {
            const world_wall *wl = &w->walls[k];
            double u = (ps[i].x - wl->x0) * wl->tx + (ps[i].y - wl->y0) * wl->ty;
            u = u < 0 ? 0 : u > wl->len ? wl->len : u;
            clear =
                fmin(clear, hypot(ps[i].x - wl->x0 - u * wl->tx, ps[i].y - wl->y0 - u * wl->ty));
        }
        clear_min = fmin(clear_min, clear);
        EXPECT(ps[i].x > 0 && ps[i].x < w->plan_w && ps[i].y > 0 && ps[i].y < w->plan_h);
    }
    /* turning at radius >= 1.5 / 2 (shrunk near jogs), plus the sway */
    fprintf(stderr, "  step %.4f..%.4f m, max turn %.2f deg/frame, clearance >= %.2f m\n", step_min,
            step_max, turn_max * 180 / PI, clear_min);
    EXPECT_LE(step_max, p.speed_m + 1e-9);
    EXPECT_GE(step_min, 0.97 * p.speed_m);
    EXPECT_LE(turn_max * 180 / PI, 10);
    EXPECT_GE(clear_min, 0.4);
    /* the quaternion turns the optical axis (0, 0, 1) to (cos yaw, sin yaw, 0) */
    /* and (1, 0, 0), (0, 1, 0) to right (sin yaw, -cos yaw, 0) and down (0, 0, -1); at every
       heading (all quadrants) */
    for (int k = -8; k <= 8; k++) {
        deja__world_pose pk = {0, 0, 1, k * PI / 8 + 0.01};
        double q[4];
        deja__world_pose_quat(&pk, q);
        double x = q[0], y = q[1], z = q[2], s = q[3], yaw = pk.yaw;
        double fz[3] = {2 * (x * z + s * y), 2 * (y * z - s * x), 1 - 2 * (x * x + y * y)};
        double fx[3] = {1 - 2 * (y * y + z * z), 2 * (x * y + s * z), 2 * (x * z - s * y)};
        double fy[3] = {2 * (x * y - s * z), 1 - 2 * (x * x + z * z), 2 * (y * z + s * x)};
        EXPECT_NEAR(fz[0], cos(yaw), 1e-12);
        EXPECT_NEAR(fz[1], sin(yaw), 1e-12);
        EXPECT_NEAR(fz[2], 0, 1e-12);
        EXPECT_NEAR(fx[0], sin(yaw), 1e-12);
        EXPECT_NEAR(fx[1], -cos(yaw), 1e-12);
        EXPECT_NEAR(fx[2], 0, 1e-12);
        EXPECT_NEAR(fy[0], 0, 1e-12);
        EXPECT_NEAR(fy[1], 0, 1e-12);
        EXPECT_NEAR(fy[2], -1, 1e-12);
        EXPECT_NEAR(x * x + y * y + z * z + s * s, 1, 1e-12);
        EXPECT(s >= 0);
    }
    free(ps);
    deja__world_destroy(w);
}

/* The same pose under another frame's lighting and noise looks the same; a true revisit (GT
 * pair closest in pose) looks alike; a far place does not. */
TEST(revisit_looks_alike_and_other_places_differ)
{
    deja__world_params p = deja__world_params_default();
    deja__world *w = make(&p);
    ASSERT(w);
    loops L;
    ASSERT(get_loops(w, &L));
    deja__world_pose *ps = all_poses(w);
    ASSERT(ps);
    /* the closest GT pair in position */
    uint32_t bi = 0, bj = 0;
    double best = 1e9;
    for (uint32_t q = 0; q < L.n_frames; q++)
        for (uint32_t k = 0; k < L.n_of[q]; k++) {
            uint32_t j = L.m_of[q][k];
            double d = hypot(ps[q].x - ps[j].x, ps[q].y - ps[j].y) + yaw_diff(ps[q].yaw, ps[j].yaw);
            if (d < best) best = d, bi = q, bj = j;
        }
    ASSERT(best < 0.2);
    size_t n = (size_t)p.width * p.height;
    uint8_t *a = malloc(n), *b = malloc(n), *c = malloc(n);
    deja__world_nuisance nz;
    ASSERT_OK(deja__world_nuisance_of(w, bi, &nz));
    ASSERT_OK(deja__world_render(w, bj, a, p.width));
    ASSERT_OK(deja__world_render_pose(w, &ps[bj], &nz, b, p.width));
    double same_pose = ncc(a, b, n);
    ASSERT_OK(deja__world_render(w, bi, b, p.width));
    double revisit = ncc(a, b, n);
    /* the farthest frame that is no loop of anything near bi */
    uint32_t far = 0;
    double dmax = 0;
    for (uint32_t k = 0; k < p.n_frames; k++) {
        double d = hypot(ps[k].x - ps[bi].x, ps[k].y - ps[bi].y);
        if (d > dmax) dmax = d, far = k;
    }
    ASSERT_OK(deja__world_render(w, far, c, p.width));
    double other = ncc(b, c, n);
    fprintf(stderr,
            "  frames %u / %u (%.3f m + rad apart): NCC same pose %.3f, revisit %.3f; "
            "frame %u %.1f m away: %.3f\n",
            bi, bj, best, same_pose, revisit, far, dmax, other);
    EXPECT_GE(same_pose, 0.9);
    EXPECT_GE(revisit, 0.6);
    EXPECT_LE(other, 0.35);
    free(a), free(b), free(c);
    free(ps);
    free_loops(&L);
    deja__world_destroy(w);
}

TEST(rendering_allocates_nothing_per_frame)
{
    test_counter c = {0};
    deja_allocator a = test_counting_allocator(&c);
    deja__world_params p = small_params();
    deja__world *w = NULL;
    ASSERT_OK(deja__world_create(&a, &p, &w));
    deja__world_view *v = NULL;
    ASSERT_OK(deja__world_view_create(w, &v));
    uint8_t *px = malloc((size_t)p.width * p.height);
    ASSERT_OK(deja__world_render(w, 0, px, p.width));
    size_t before = c.calls;
    for (uint32_t i = 1; i < 200; i += 3) {
        ASSERT_OK(deja__world_render(w, i, px, p.width));
        ASSERT_OK(deja__world_view_render(v, i, px, p.width));
        deja__world_pose pose;
        ASSERT_OK(deja__world_pose_of(w, i, &pose));
        ASSERT_OK(deja__world_render_pose(w, &pose, NULL, px, p.width));
    }
    EXPECT_EQ(c.calls, before);
    deja__world_view_destroy(v);
    deja__world_destroy(w);
    EXPECT_EQ(c.blocks, 0);
    free(px);
}

/* Every allocation failure during create is NOMEM and leaks nothing. */
TEST(create_fails_cleanly_on_every_allocation_failure)
{
    deja__world_params p = small_params();
    p.blocks_x = p.blocks_y = 1;
    p.texels_per_m = 16;
    p.width = p.height = 32;
    test_counter c = {0};
    deja_allocator a = test_counting_allocator(&c);
    deja__world *w = NULL;
    ASSERT_OK(deja__world_create(&a, &p, &w));
    size_t total = c.calls;
    deja__world_destroy(w);
    EXPECT_EQ(c.blocks, 0);
    for (size_t k = 1; k <= total; k++) {
        c = (test_counter){.fail_at = k};
        w = NULL;
        EXPECT_STATUS(deja__world_create(&a, &p, &w), DEJA_NOMEM);
        EXPECT(w == NULL);
        EXPECT_EQ(c.blocks, 0);
    }
}

typedef struct {
    deja__world_view *v;
    uint32_t first;
    uint8_t *out;
    int width, height;
    deja_status st;
} job;

static void *render_job(void *arg)
{
    job *j = arg;
    size_t n = (size_t)j->width * j->height;
    for (uint32_t k = 0; k < 4 && j->st == DEJA_OK; k++)
        j->st = deja__world_view_render(j->v, j->first + k * 50, j->out + k * n, j->width);
    return NULL;
}

/* Two threads with a view each render the same bytes as the world's own scratch. */
TEST(views_render_in_parallel_like_the_world)
{
    deja__world_params p = small_params();
    deja__world *w = make(&p);
    ASSERT(w);
    size_t n = (size_t)p.width * p.height;
    job jobs[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        jobs[t] = (job){NULL, (uint32_t)(t * 1000), malloc(4 * n), p.width, p.height, DEJA_OK};
        ASSERT_OK(deja__world_view_create(w, &jobs[t].v));
    }
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, render_job, &jobs[t]);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    uint8_t *ref = malloc(n);
    for (int t = 0; t < 2; t++) {
        EXPECT_EQ(jobs[t].st, DEJA_OK);
        for (uint32_t k = 0; k < 4; k++) {
            ASSERT_OK(deja__world_render(w, jobs[t].first + k * 50, ref, p.width));
            EXPECT(memcmp(ref, jobs[t].out + k * n, n) == 0);
        }
        deja__world_view_destroy(jobs[t].v);
        free(jobs[t].out);
    }
    free(ref);
    deja__world_destroy(w);
}

/* Photographs tiled onto the walls: the frames show them (not the procedural look), stay
 * deterministic and keep plenty of corners. */
TEST(photo_textures_are_tiled_onto_walls)
{
    /* two "photos": a noisy checkerboard and a pattern of rings */
    int pw = 200, ph = 150;
    uint8_t *img[2] = {malloc((size_t)pw * ph), malloc((size_t)pw * ph)};
    uint64_t s = 7;
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            img[0][y * pw + x] =
                (uint8_t)((((x / 17) + (y / 13)) & 1 ? 200 : 50) + deja__splitmix64(&s) % 9);
            double r = hypot(x - 100, y - 75);
            img[1][y * pw + x] = (uint8_t)(((int)(r / 9) & 1) ? 230 : 30);
        }
    deja_image photos[2] = {{pw, ph, pw, img[0]}, {pw, ph, pw, img[1]}};
    deja__world_params p = small_params();
    p.photos = photos;
    p.n_photos = 2;
    deja__world *w = make(&p), *w2 = make(&p);
    p.n_photos = 0;
    deja__world *proc = make(&p);
    ASSERT(w && w2 && proc);
    EXPECT(deja__world_get_params(w)->photos == NULL); /* borrowed during create only */
    size_t n = (size_t)p.width * p.height;
    uint8_t *a = malloc(n), *b = malloc(n);
    ASSERT_OK(deja__world_render(w, 100, a, p.width));
    ASSERT_OK(deja__world_render(w2, 100, b, p.width));
    EXPECT(memcmp(a, b, n) == 0);
    ASSERT_OK(deja__world_render(proc, 100, b, p.width));
    EXPECT(memcmp(a, b, n) != 0);
    /* the wall atlas holds only photo grey levels: the rings image has 30 and 230 (bilinear
       mixes in between), so the histogram is strongly bimodal */
    const world_wall *wl = &w->walls[0];
    size_t extreme = 0, texels = (size_t)wl->tex_w[0] * wl->tex_h[0];
    for (size_t i = 0; i < texels; i++) {
        uint8_t v = w->atlas[wl->tex_off[0] + i];
        extreme += v < 75 || v > 185;
    }
    EXPECT_GE((double)extreme / texels, 0.6);
    free(a), free(b), free(img[0]), free(img[1]);
    deja__world_destroy(w), deja__world_destroy(w2), deja__world_destroy(proc);
}

/* repeat_frac 1: every piece is a stretched copy of an earlier one, hence of piece 0; with 0
 * pieces all differ (so look-alike places come only from the parameter). */
TEST(repeated_textures_copy_earlier_pieces)
{
    deja__world_params p = small_params();
    for (int rep = 0; rep <= 1; rep++) {
        p.repeat_frac = rep;
        deja__world *w = make(&p);
        ASSERT(w);
        const world_wall *w0 = &w->walls[0];
        size_t same = 0, h = w0->tex_h[0];
        for (uint32_t k = 1; k < w->n_walls; k++)
            same += memcmp(w->atlas + w->walls[k].tex_off[0], w->atlas + w0->tex_off[0], h) == 0;
        EXPECT_EQ(same, rep ? w->n_walls - 1 : 0);
        deja__world_destroy(w);
    }
}

static int file_lines(const char *path, size_t *lines, size_t *numbers)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ch, prev = '\n';
    *lines = *numbers = 0;
    while ((ch = fgetc(f)) != EOF) {
        if (ch == '\n') ++*lines;
        if (ch != ' ' && ch != '\n' && (prev == ' ' || prev == '\n')) ++*numbers;
        prev = ch;
    }
    fclose(f);
    return 1;
}

TEST(loops_and_poses_files_follow_their_formats)
{
    deja__world_params p = small_params();
    p.n_frames = 2000;
    deja__world *w = make(&p);
    ASSERT(w);
    loops L;
    ASSERT(get_loops(w, &L));
    const char *lp = DEJA_BINARY_DIR "/test_world_loops.txt",
               *pp = DEJA_BINARY_DIR "/test_world_poses.txt";
    ASSERT_OK(deja__world_write_loops(w, lp));
    ASSERT_OK(deja__world_write_poses(w, pp));
    size_t lines, numbers;
    ASSERT(file_lines(lp, &lines, &numbers));
    EXPECT_EQ(lines, L.n_queries);
    EXPECT_EQ(numbers, L.n_queries + L.n_matches);
    /* first line: the first query and its matches, exactly */
    FILE *f = fopen(lp, "rb");
    ASSERT(f);
    unsigned q = 0, m = 0;
    ASSERT(fscanf(f, "%u", &q) == 1);
    EXPECT(L.n_of[q] > 0);
    for (uint32_t k = 0; k < L.n_of[q]; k++) {
        ASSERT(fscanf(f, "%u", &m) == 1);
        EXPECT_EQ(m, L.m_of[q][k]);
    }
    fclose(f);
    /* poses_per_frame.txt: a comment line, then "index image t tx ty tz qx qy qz qw" */
    ASSERT(file_lines(pp, &lines, &numbers));
    EXPECT_EQ(lines, p.n_frames + 1);
    f = fopen(pp, "rb");
    ASSERT(f);
    char head[128], image[32];
    ASSERT(fgets(head, sizeof head, f) && head[0] == '#');
    unsigned index = 0;
    double v[8];
    for (int line = 0; line < 11; line++)
        ASSERT(fscanf(f, "%u %31s %lf %lf %lf %lf %lf %lf %lf %lf", &index, image, &v[0], &v[1],
                      &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 10);
    fclose(f);
    EXPECT_EQ(index, 10);
    EXPECT(strcmp(image, "000010.pgm") == 0);
    deja__world_pose ps;
    ASSERT_OK(deja__world_pose_of(w, 10, &ps));
    EXPECT_NEAR(v[0], 10 / p.fps, 1e-6);
    EXPECT_NEAR(v[1], ps.x, 1e-6);
    EXPECT_NEAR(v[2], ps.y, 1e-6);
    EXPECT_NEAR(v[3], ps.z, 1e-6);
    EXPECT_STATUS(deja__world_write_loops(w, "/nonexistent-dir/loops.txt"), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "/nonexistent-dir/loops.txt") != NULL);
    EXPECT_STATUS(deja__world_write_poses(w, "/nonexistent-dir/poses.txt"), DEJA_IO);
    remove(lp);
    remove(pp);
    free_loops(&L);
    deja__world_destroy(w);
}

static void expect_invalid(deja__world_params p, const char *field)
{
    deja_allocator a = resolved();
    deja__world *w = (deja__world *)&a; /* must stay untouched */
    deja_status st = deja__world_create(&a, &p, &w);
    if (st != DEJA_INVALID_ARG || !strstr(deja_last_error(), field) || w != (deja__world *)&a)
        TEST_FAIL_AT("%s: got %s (%s)", field, deja_status_name(st), deja_last_error());
}

TEST(invalid_parameters_are_rejected_with_a_message)
{
    deja__world_params d = small_params(), p;
#define BAD(field, value)                                                                          \
    p = d;                                                                                         \
    p.field = value;                                                                               \
    expect_invalid(p, #field)
    BAD(width, 8);
    BAD(height, 100000);
    BAD(hfov_deg, NAN);
    BAD(hfov_deg, 179);
    BAD(n_frames, 0);
    BAD(blocks_x, 0);
    BAD(blocks_y, 65);
    BAD(block_min_m, 0.5);
    BAD(block_max_m, 2);
    BAD(corridor_m, INFINITY);
    BAD(camera_height_m, 3.5);
    BAD(texels_per_m, 4);
    BAD(speed_m, -0.1);
    BAD(offset_m, 1.2);
    BAD(noise_sigma, NAN);
    BAD(gain_amp, 1.5);
    BAD(exposure, 2);
    BAD(gt_max_dist_m, 0);
    BAD(repeat_frac, -0.1);
    BAD(n_photos, 2);
#undef BAD
    p = d;
    p.n_frames = 100000000;
    p.speed_m = 1;
    expect_invalid(p, "route");
    uint8_t px[64] = {0};
    deja_image tiny = {4, 4, 4, px};
    p = d;
    p.photos = &tiny;
    p.n_photos = 1;
    expect_invalid(p, "photo 0");
    deja_allocator a = resolved();
    deja__world *w = NULL;
    EXPECT_STATUS(deja__world_create(&a, NULL, &w), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__world_create(NULL, &d, &w), DEJA_INVALID_ARG);
    (void)plain;
    /* textures over the atlas limit */
    p = d;
    p.texels_per_m = 1024;
    p.max_atlas_bytes = 1 << 20;
    EXPECT_STATUS(deja__world_create(&a, &p, &w), DEJA_LIMIT);
    EXPECT(strstr(deja_last_error(), "max_atlas_bytes") != NULL);
    /* bad calls on a good world */
    w = make(&d);
    ASSERT(w);
    uint8_t *buf = malloc((size_t)d.width * d.height);
    deja__world_pose pose;
    EXPECT_STATUS(deja__world_pose_of(w, d.n_frames, &pose), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__world_render(w, d.n_frames, buf, d.width), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__world_render(w, 0, buf, d.width - 1), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__world_render(w, 0, NULL, d.width), DEJA_INVALID_ARG);
    ASSERT_OK(deja__world_pose_of(w, 0, &pose));
    pose.x = NAN;
    EXPECT_STATUS(deja__world_render_pose(w, &pose, NULL, buf, d.width), DEJA_INVALID_ARG);
    ASSERT_OK(deja__world_pose_of(w, 0, &pose));
    pose.z = 5;
    EXPECT_STATUS(deja__world_render_pose(w, &pose, NULL, buf, d.width), DEJA_INVALID_ARG);
    ASSERT_OK(deja__world_pose_of(w, 0, &pose));
    deja__world_nuisance nz = {1, 0, NAN, 0, 0};
    EXPECT_STATUS(deja__world_render_pose(w, &pose, &nz, buf, d.width), DEJA_INVALID_ARG);
    /* a pose outside the plan renders (floor and ceiling only) without harm */
    pose.x = -500;
    ASSERT_OK(deja__world_render_pose(w, &pose, NULL, buf, d.width));
    free(buf);
    deja__world_destroy(w);
}

/* The picture agrees with the intrinsics: facing a black wall straight on from distance D, every
 * column shows it exactly in rows cy - (H - h) fy / D .. cy + h fy / D (depth is D in all columns
 * since the wall is perpendicular to the optical axis). */
TEST(rendered_geometry_matches_the_intrinsics)
{
    uint8_t black[64] = {0};
    deja_image photo = {8, 8, 8, black};
    deja__world_params p = small_params();
    p.photos = &photo;
    p.n_photos = 1;
    p.hfov_deg = 120; /* the whole wall height in view from within the corridor */
    deja__world *w = make(&p);
    ASSERT(w);
    double fx, fy, cx, cy;
    deja__world_intrinsics(w, &fx, &fy, &cx, &cy);
    EXPECT_NEAR(fx, p.width / 2.0 / tan(p.hfov_deg * PI / 360), 1e-9);
    EXPECT_NEAR(fy, fx, 1e-12);
    EXPECT_NEAR(cx, (p.width - 1) / 2.0, 1e-12);
    EXPECT_NEAR(cy, (p.height - 1) / 2.0, 1e-12);
    /* in the bottom outer corridor, looking south at the outer wall (y = 0), which fills the
       image width */
    double D = 1.3;
    deja__world_pose pose = {w->street_x[1] + 0.3, D, p.camera_height_m, -PI / 2};
    uint8_t *buf = malloc((size_t)p.width * p.height);
    ASSERT_OK(deja__world_render_pose(w, &pose, NULL, buf, p.width));
    double bottom = cy + p.camera_height_m * fy / D;
    double top = cy - (p.wall_height_m - p.camera_height_m) * fy / D;
    int bad = 0;
    for (int x = 0; x < p.width; x += 7) {
        int y0 = (int)cy, y1 = (int)cy;
        while (y0 > 0 && buf[(size_t)(y0 - 1) * p.width + x] == 0)
            y0--;
        while (y1 + 1 < p.height && buf[(size_t)(y1 + 1) * p.width + x] == 0)
            y1++;
        if (fabs(y0 - top) > 1 || fabs(y1 - bottom) > 1) {
            if (!bad++)
                fprintf(stderr, "  column %d: wall rows %d..%d, predicted %.2f..%.2f\n", x, y0, y1,
                        top, bottom);
        }
    }
    EXPECT_EQ(bad, 0);
    free(buf);
    deja__world_destroy(w);
}

/* deja synth's folder read back by the sequence reader: the truth derived from the written poses
 * with the world's rule equals the world's own loops.txt (checks the quaternion conventions). */
TEST(sequence_reader_reads_the_world_back)
{
    deja__world_params p = small_params();
    p.n_frames = 2000;
    deja__world *w = make(&p);
    ASSERT(w);
    char dir[] = "/tmp/deja_world_seq_XXXXXX", path[256];
    ASSERT(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/images", dir);
    ASSERT(mkdir(path, 0755) == 0);
    for (uint32_t i = 0; i < p.n_frames; i++) { /* placeholders: the reader lists, not decodes */
        snprintf(path, sizeof path, "%s/images/%06u.pgm", dir, i);
        FILE *f = fopen(path, "wb");
        ASSERT(f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/loops.txt", dir);
    ASSERT_OK(deja__world_write_loops(w, path));
    snprintf(path, sizeof path, "%s/poses_per_frame.txt", dir);
    ASSERT_OK(deja__world_write_poses(w, path));
    deja__sequence *s = NULL;
    char err[DEJA_ERROR_BYTES];
    ASSERT_OK(deja__sequence_open(NULL, dir, NULL, &s, err));
    EXPECT_EQ(s->layout, DEJA__SEQ_SHARED);
    EXPECT_EQ(s->n, p.n_frames);
    ASSERT(s->truth && s->poses);
    EXPECT_GE(s->truth->n_queries, 100);
    deja__truth_rule rule = {p.gt_max_dist_m, p.gt_max_angle_deg, p.gt_min_gap};
    deja__truth *derived = NULL;
    ASSERT_OK(deja__truth_from_poses(NULL, s->poses, s->n, &rule, &derived, err));
    EXPECT(deja__truth_equal(derived, s->truth));
    EXPECT_EQ(derived->n_pairs, s->truth->n_pairs);
    deja__truth_destroy(derived);
    deja__sequence_destroy(s);
    for (uint32_t i = 0; i < p.n_frames; i++) {
        snprintf(path, sizeof path, "%s/images/%06u.pgm", dir, i);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/images", dir), rmdir(path);
    snprintf(path, sizeof path, "%s/loops.txt", dir), remove(path);
    snprintf(path, sizeof path, "%s/poses_per_frame.txt", dir), remove(path);
    rmdir(dir);
    deja__world_destroy(w);
}
