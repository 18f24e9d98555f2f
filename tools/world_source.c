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

typedef struct {
    ground_truth *gt;
    uint32_t next; /* next frame whose offset is not yet set */
    bool ok;
} gt_builder;

static void add_query(void *user, uint32_t query, const uint32_t *matches, size_t n)
{
    gt_builder *b = user;
    ground_truth *gt = b->gt;
    if (!b->ok) return;
    while (b->next <= query) gt->offsets[b->next++] = gt->n_matches;
    if (gt->n_matches + n > gt->cap) {
        size_t cap = (gt->n_matches + n) * 2;
        uint32_t *m = realloc(gt->matches, cap * sizeof *m);
        if (!m) {
            b->ok = false;
            return;
        }
        gt->matches = m;
        gt->cap = cap;
    }
    memcpy(gt->matches + gt->n_matches, matches, n * sizeof *matches);
    gt->n_matches += n;
    gt->n_queries++;
}

bool ground_truth_from_world(const deja__world *w, int loose, ground_truth *gt)
{
    memset(gt, 0, sizeof *gt);
    gt->n_frames = deja__world_n_frames(w);
    gt->offsets = calloc((size_t)gt->n_frames + 1, sizeof *gt->offsets);
    if (!gt->offsets) return false;
    gt_builder b = {gt, 0, true};
    const deja__world_params *p = deja__world_get_params(w);
    double dist = loose ? DEJA__WORLD_LOOSE_DIST_M : p->gt_max_dist_m;
    double angle = loose ? DEJA__WORLD_LOOSE_ANGLE_DEG : p->gt_max_angle_deg;
    if (deja__world_loops_within(w, dist, angle, add_query, &b) != DEJA_OK || !b.ok) {
        ground_truth_free(gt);
        return false;
    }
    while (b.next <= gt->n_frames) gt->offsets[b.next++] = gt->n_matches;
    return true;
}

void ground_truth_free(ground_truth *gt)
{
    free(gt->offsets);
    free(gt->matches);
    memset(gt, 0, sizeof *gt);
}

bool ground_truth_is_loop(const ground_truth *gt, uint32_t query, uint32_t match)
{
    if (query >= gt->n_frames) return false;
    uint64_t lo = gt->offsets[query], hi = gt->offsets[query + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (gt->matches[mid] < match) lo = mid + 1;
        else hi = mid;
    }
    return lo < gt->offsets[query + 1] && gt->matches[lo] == match;
}

loop_score score_loops(const ground_truth *strict, const ground_truth *loose, const uint32_t *query,
                       const uint32_t *match, size_t n)
{
    loop_score s = {.events = n};
    uint32_t last_found = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        if (ground_truth_is_loop(loose, query[i], match[i])) s.true_positives++;
        if (ground_truth_is_loop(strict, query[i], match[i]) && query[i] != last_found)
            s.queries_found++, last_found = query[i];
    }
    s.precision = n ? (double)s.true_positives / (double)n : 1.0;
    s.recall = strict->n_queries ? (double)s.queries_found / strict->n_queries : 0.0;
    return s;
}

int detect_world_loops(int argc, char **argv, const deja_options *o, alloc_counter *counter,
                       const deja_vocab *voc, world_source *ws, uint32_t reserve_frames,
                       const run_config *cfg)
{
    uint32_t n = deja__world_n_frames(ws->world);
    ground_truth gt = {0}, gt_loose = {0};
    run_summary sum = {0};
    deja_detector *det = NULL;
    int rc = 1;
    deja_detector_params dp = params_from_args(argc, argv);
    deja__world_intrinsics(ws->world, &dp.fx, &dp.fy, &dp.cx, &dp.cy);
    deja_status st;
    if ((st = deja_detector_create(o, voc, &dp, &det)) != DEJA_OK
        || (st = deja_detector_reserve(det, reserve_frames)) != DEJA_OK) {
        fail("detector", st, det ? deja_detector_error(det) : deja_last_error());
        goto done;
    }
    if (!ground_truth_from_world(ws->world, 0, &gt) || !ground_truth_from_world(ws->world, 1, &gt_loose)) {
        fail("ground truth", DEJA_NOMEM, "");
        goto done;
    }
    if (!cfg->json)
        printf("sequence: %u frames of %dx%d through a generated world; %u frames revisit an "
               "earlier place\n", n, ws->width, ws->height, gt.n_queries);
    frame_source src = world_frames(ws);
    if (run_frames(det, o, &src, cfg, counter, &sum) != 0) goto done;
    loop_score s = score_loops(&gt, &gt_loose, sum.loop_query, sum.loop_match, sum.loops);
    if (!cfg->json) {
        printf("loops: %zu events, %zu correct (loose truth): precision %.3f; recall %.3f (%u of %u "
               "frames within 1 m of an earlier one found)\n",
               s.events, s.true_positives, s.precision, s.recall, s.queries_found, gt.n_queries);
        print_summary(&sum, n);
    }
    rc = 0;
done:
    run_summary_free(&sum);
    ground_truth_free(&gt);
    ground_truth_free(&gt_loose);
    deja_detector_destroy(det);
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
