/* world_source.c - generated worlds as frame sources, their ground truth, precision / recall. */
#define _POSIX_C_SOURCE 200809L
#include "world_source.h"

#include <stdlib.h>
#include <string.h>

bool world_source_open(world_source *ws, const deja__world_params *p, char *err, size_t err_bytes)
{
    memset(ws, 0, sizeof *ws);
    /* The world is a fixture, not part of the measured library: plain malloc. */
    deja_allocator a = deja__allocator(NULL);
    if (deja__world_create(&a, p, &ws->world) != DEJA_OK) {
        snprintf(err, err_bytes, "world: %s", deja_last_error());
        return false;
    }
    ws->width = p->width;
    ws->height = p->height;
    ws->pixels = malloc((size_t)p->width * (size_t)p->height);
    if (!ws->pixels) {
        snprintf(err, err_bytes, "world: out of memory");
        deja__world_destroy(ws->world);
        ws->world = NULL;
        return false;
    }
    return true;
}

bool world_params_from_args(int argc, char **argv, uint32_t default_frames, deja__world_params *p,
                            photo_set *photos)
{
    *p = deja__world_params_default();
    memset(photos, 0, sizeof *photos);
    p->seed = (uint64_t)opt_long(argc, argv, "--seed", 7);
    p->n_frames = (uint32_t)opt_long(argc, argv, "--frames", default_frames);
    p->width = (int)opt_long(argc, argv, "--width", p->width);
    p->height = (int)opt_long(argc, argv, "--height", p->height);
    long blocks = opt_long(argc, argv, "--blocks", 0);
    if (blocks > 0) p->blocks_x = p->blocks_y = (int)blocks;
    /* larger worlds: coarser wall textures keep the atlas under its 200 MiB limit (ORB finds
       as many matches at 128 texels/m as at 192: docs/world.md) */
    if (blocks > 6) p->texels_per_m = 128;
    const char *dir = opt_str(argc, argv, "--textures", NULL);
    if (!dir) return true;
    path_list paths = {0};
    if (!paths_add(&paths, dir)) return false;
    size_t n = paths.n < 64 ? paths.n : 64;
    photos->images = calloc(n, sizeof *photos->images);
    photos->pixels = calloc(n, sizeof *photos->pixels);
    deja_decoder *dec = NULL;
    deja_options o = deja_options_default();
    bool ok = photos->images && photos->pixels && deja_decoder_create(&o, &dec) == DEJA_OK;
    for (size_t k = 0; ok && k < n; k++) {
        /* spread the chosen photographs over the whole folder */
        const char *path = paths.paths[k * paths.n / n];
        deja_image im;
        if (deja_decoder_read_file(dec, path, &im) != DEJA_OK) {
            fprintf(stderr, "deja: --textures: %s\n", deja_decoder_error(dec));
            ok = false;
            break;
        }
        size_t bytes = (size_t)im.width * (size_t)im.height;
        photos->pixels[k] = malloc(bytes);
        if (!photos->pixels[k]) {
            ok = false;
            break;
        }
        for (int y = 0; y < im.height; y++)
            memcpy(photos->pixels[k] + (size_t)y * im.width, im.pixels + (size_t)y * im.stride,
                   (size_t)im.width);
        photos->images[k] = (deja_image){im.width, im.height, im.width, photos->pixels[k]};
        photos->n = k + 1;
    }
    deja_decoder_destroy(dec);
    paths_free(&paths);
    p->photos = photos->images;
    p->n_photos = photos->n;
    return ok;
}

void photo_set_free(photo_set *ps)
{
    for (size_t k = 0; k < ps->n; k++) free(ps->pixels[k]);
    free(ps->pixels);
    free(ps->images);
    memset(ps, 0, sizeof *ps);
}

void world_source_close(world_source *ws)
{
    deja__world_destroy(ws->world);
    free(ws->pixels);
    memset(ws, 0, sizeof *ws);
}

static bool next_world_frame(void *ctx, size_t i, deja_image *im, double *t, char *err,
                             size_t err_bytes)
{
    world_source *ws = ctx;
    if (deja__world_render(ws->world, (uint32_t)i, ws->pixels, ws->width) != DEJA_OK) {
        snprintf(err, err_bytes, "world frame %zu: %s", i, deja_last_error());
        return false;
    }
    *im = (deja_image){ws->width, ws->height, ws->width, ws->pixels};
    *t = (double)i / deja__world_get_params(ws->world)->fps;
    return true;
}

frame_source world_frames(world_source *ws)
{
    return (frame_source){deja__world_n_frames(ws->world), next_world_frame, ws};
}

/* Camera-to-world poses of every frame (n x 12, malloc'd), or NULL. */
static double *world_poses(const deja__world *w)
{
    uint32_t n = deja__world_n_frames(w);
    double *poses = malloc((size_t)n * 12 * sizeof *poses);
    for (uint32_t i = 0; poses && i < n; i++) {
        deja__world_pose wp;
        double q[4];
        if (deja__world_pose_of(w, i, &wp) != DEJA_OK) {
            free(poses);
            return NULL;
        }
        deja__world_pose_quat(&wp, q);
        deja__pose_from_pq((const double[3]){wp.x, wp.y, wp.z}, q, &poses[(size_t)i * 12]);
    }
    return poses;
}

int detect_world_loops(int argc, char **argv, const deja_vocab *voc, world_source *ws,
                       const run_config *cfg, const char *report_dir, const char *command)
{
    uint32_t n = deja__world_n_frames(ws->world);
    const deja__world_params *wp = deja__world_get_params(ws->world);
    eval_options eo;
    eval_options_from_args(argc, argv, &eo);
    eo.require_truth = 0;
    eo.sweep = 0;
    eo.cfg = *cfg;
    deja__world_intrinsics(ws->world, &eo.params.fx, &eo.params.fy, &eo.params.cx, &eo.params.cy);

    /* the truths: the world's rule (recall), and the loose rule (what is not a false positive) */
    eval_run run = {0};
    char err[DEJA_ERROR_BYTES];
    deja__truth_rule strict = {wp->gt_max_dist_m, wp->gt_max_angle_deg, wp->gt_min_gap},
                     loose = {DEJA__WORLD_LOOSE_DIST_M, DEJA__WORLD_LOOSE_ANGLE_DEG, wp->gt_min_gap};
    deja_status st = (run.own_poses = world_poses(ws->world)) ? DEJA_OK : DEJA_NOMEM;
    if (st == DEJA_OK) st = deja__truth_from_poses(NULL, run.own_poses, n, &strict, &run.own_truth, err);
    if (st == DEJA_OK) st = deja__truth_from_poses(NULL, run.own_poses, n, &loose, &run.own_loose, err);
    if (st != DEJA_OK) {
        eval_run_free(&run);
        return fail("ground truth", st, st == DEJA_NOMEM ? "out of memory" : err);
    }
    snprintf(run.name, sizeof run.name, "%s", command);
    snprintf(run.source, sizeof run.source,
             "generated world: %u frames of %dx%d, seed %llu; truth: centres within %g m and axes "
             "within %g deg, %u+ frames apart; events judged by the loose rule (%g m, %g deg)",
             n, ws->width, ws->height, (unsigned long long)wp->seed, strict.max_dist_m,
             strict.max_angle_deg, strict.min_gap, loose.max_dist_m, loose.max_angle_deg);
    run.report = (deja__report_seq){.name = run.name, .source = run.source, .n_frames = n,
                                    .threshold_name = "RANSAC inliers", .truth = run.own_truth,
                                    .judge = run.own_loose, .poses = run.own_poses};
    if (!cfg->json)
        printf("sequence: %u frames of %dx%d through a generated world; %u frames revisit an "
               "earlier place\n", n, ws->width, ws->height, run.own_truth->n_queries);
    frame_source src = world_frames(ws);
    int rc = eval_run_frames(&run, &src, voc, &eo, NULL);
    if (rc == 0 && !cfg->json) {
        const deja__pr_point *at = &run.eval.at;
        printf("loops: %zu events, %zu correct (loose truth): precision %.3f; recall %.3f (%u of %u "
               "frames within %g m of an earlier one found)\n",
               at->accepted, at->correct, at->precision, at->recall, at->found,
               run.eval.n_queries, strict.max_dist_m);
        print_summary(&run.sum, n);
    }
    if (rc == 0 && report_dir) rc = eval_write_report(&run, 1, report_dir, command, argc, argv,
                                                     strcmp(command, "demo") == 0);
    eval_run_free(&run);
    return rc;
}

deja_status train_world_vocab(const deja_options *o, const deja__world_params *p, uint32_t n_images,
                              uint32_t depth, deja_vocab **out)
{
    char err[600];
    world_source ws;
    if (!world_source_open(&ws, p, err, sizeof err)) return DEJA_ERR(NULL, DEJA_NOMEM, "%s", err);
    deja_orb *orb = NULL;
    deja_status st = deja_orb_create(o, &orb);
    deja_features *sets = calloc(n_images, sizeof *sets);
    uint8_t **desc = calloc(n_images, sizeof *desc);
    uint32_t n_frames = deja__world_n_frames(ws.world);
    if (!sets || !desc) st = DEJA_NOMEM;
    for (uint32_t k = 0; k < n_images && st == DEJA_OK; k++) {
        uint32_t i = (uint32_t)((uint64_t)k * n_frames / n_images);
        deja_features f;
        st = deja__world_render(ws.world, i, ws.pixels, ws.width);
        deja_image im = {ws.width, ws.height, ws.width, ws.pixels};
        if (st == DEJA_OK) st = deja_orb_detect(orb, &im, &f);
        if (st == DEJA_OK) {
            desc[k] = malloc(f.n * 32 + 1);
            if (!desc[k]) st = DEJA_NOMEM;
            else memcpy(desc[k], f.descriptors, f.n * 32);
            sets[k] = (deja_features){.n = f.n, .descriptors = desc[k], .kind = DEJA_DESC_BINARY,
                                      .desc_bytes = 32};
        }
    }
    if (st == DEJA_OK) {
        deja_vocab_params vp = deja_vocab_params_default();
        vp.depth = depth;
        st = deja_vocab_train(o, &vp, sets, n_images, out);
    }
    for (uint32_t k = 0; desc && k < n_images; k++) free(desc[k]);
    free(desc);
    free(sets);
    deja_orb_destroy(orb);
    world_source_close(&ws);
    return st;
}
