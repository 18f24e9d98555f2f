/* cmd_demo.c - `deja demo`, the built-in default: a camera walks through a generated textured 3D
 * world on a route that revisits places (lighting changes, sensor noise, motion blur, lateral
 * offsets and reversed directions on revisits), with its true loops known from the exact poses.
 * A vocabulary is trained on a separately generated world, the detector runs over the sequence,
 * and precision / recall against the known loops are printed. `deja synth` writes such a
 * sequence to a folder (PGM frames, loops.txt, poses_per_frame.txt) for other tools and
 * benchmarks. */
#define _POSIX_C_SOURCE 200809L
#include "world_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "deja: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_synth(int argc, char **argv)
{
    static const char *const valued[] = {"--seed", "--frames", "--width", "--height", "--blocks",
                                         "--textures", NULL};
    char *out[1];
    if (positionals(argc, argv, valued, out, 1) != 1) {
        fprintf(stderr, "usage: deja synth [--frames 3000] [--seed 7] [--width 640] [--height 480]\n"
                        "                  [--blocks 4] [--textures PHOTO_FOLDER] OUT\n"
                        "  writes OUT/images/NNNNNN.pgm, OUT/loops.txt (query match1 match2 ...:\n"
                        "  centres within 1 m, axes within 30 degrees, 100+ frames apart),\n"
                        "  OUT/loops_loose.txt (within 8 m and 45 degrees: not false positives),\n"
                        "  OUT/poses_per_frame.txt (index image timestamp tx ty tz qx qy qz qw)\n"
                        "  the layout of ../shared/data, which deja eval reads\n");
        return 2;
    }
    deja__world_params p;
    photo_set photos;
    char path[4096], err[600];
    snprintf(path, sizeof path, "%s/images", out[0]);
    if (!world_params_from_args(argc, argv, 3000, &p, &photos) || make_dir(out[0]) || make_dir(path)) {
        photo_set_free(&photos);
        return 1;
    }
    world_source ws;
    bool opened = world_source_open(&ws, &p, err, sizeof err);
    photo_set_free(&photos);
    if (!opened) return fail("synth", DEJA_INVALID_ARG, err);
    int rc = 0;
    snprintf(path, sizeof path, "%s/loops.txt", out[0]);
    deja_status st = deja__world_write_loops(ws.world, path);
    snprintf(path, sizeof path, "%s/loops_loose.txt", out[0]);
    if (st == DEJA_OK)
        st = deja__world_write_loops_within(ws.world, path, DEJA__WORLD_LOOSE_DIST_M,
                                            DEJA__WORLD_LOOSE_ANGLE_DEG);
    snprintf(path, sizeof path, "%s/poses_per_frame.txt", out[0]);
    if (st == DEJA_OK) st = deja__world_write_poses(ws.world, path);
    progress bar;
    progress_start(&bar, "frames", p.n_frames);
    for (uint32_t i = 0; i < p.n_frames && st == DEJA_OK; i++) {
        st = deja__world_render(ws.world, i, ws.pixels, ws.width);
        snprintf(path, sizeof path, "%s/images/%06u.pgm", out[0], i);
        deja_image im = {ws.width, ws.height, ws.width, ws.pixels};
        if (st == DEJA_OK) st = deja_image_write_pgm(&im, path);
        progress_update(&bar, i + 1);
    }
    progress_end(&bar);
    if (st != DEJA_OK) rc = fail("synth", st, deja_last_error());
    else printf("wrote %u frames, loops.txt, loops_loose.txt and poses_per_frame.txt to %s\n", p.n_frames, out[0]);
    world_source_close(&ws);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    static const char *const valued[] = {"--out", "--seed", "--frames", "--threads", "--width", "--explain",
                                         "--height", "--vocab-images", "--blocks", "--textures", "--stop-words", NULL};
    char *unused[1];
    if (positionals(argc, argv, valued, unused, 1) != 0) {
        fprintf(stderr, "usage: deja demo [--out deja-demo] [--frames 1500] [--seed 7] [--threads 2]\n"
                        "                 [--blocks 4] [--textures PHOTO_FOLDER]\n"
                        "                 [--vocab-images 200] [--explain N] [deja run options]\n");
        return 2;
    }
    const char *out = opt_str(argc, argv, "--out", "deja-demo");
    if (make_dir(out)) return 1;
    deja__world_params wp;
    photo_set photos;
    if (!world_params_from_args(argc, argv, 1500, &wp, &photos)) {
        photo_set_free(&photos);
        return 1;
    }
    char path[4096], err[600];
    uint64_t t0 = now_ns();

    /* 1. A vocabulary from another world: other plan, other textures. */
    deja__world_params vp = wp;
    vp.seed = wp.seed + 1000003;
    vp.n_frames = 3000;
    alloc_counter counter = {0};
    deja_options o = deja_options_default();
    o.allocator = counting_allocator(&counter);
    deja_vocab *trained = NULL, *voc = NULL;
    uint32_t vocab_images = (uint32_t)opt_long(argc, argv, "--vocab-images", 200);
    printf("deja demo: %s kernels; training a vocabulary on %u frames of another generated world\n",
           deja_simd_name(deja_simd_detect()), vocab_images);
    deja_status st = train_world_vocab(&o, &vp, vocab_images, 5, &trained);
    if (st != DEJA_OK) photo_set_free(&photos);
    snprintf(path, sizeof path, "%s/vocab.dvoc", out);
    if (st == DEJA_OK) st = deja_vocab_save(trained, path);
    deja_vocab_destroy(trained);
    if (st != DEJA_OK) return fail("demo vocabulary", st, deja_last_error());
    uint64_t t1 = now_ns();
    if ((st = deja_vocab_load(&o, path, 0, &voc)) != DEJA_OK) {
        photo_set_free(&photos);
        return fail(path, st, deja_last_error());
    }
    double load_ms = ms_since(t1);
    deja_vocab_info vi;
    deja_vocab_get_info(voc, &vi);
    printf("vocabulary: %u words, trained in %.1f s, %s loads by mmap in %.2f ms\n", vi.n_words,
           (double)(t1 - t0) / 1e9, path, load_ms);

    /* 2. The sequence, its true loops, and detection. Intrinsics are known here, so
     * verification uses the essential matrix. */
    world_source ws;
    bool opened = world_source_open(&ws, &wp, err, sizeof err);
    photo_set_free(&photos);
    if (!opened) {
        deja_vocab_destroy(voc);
        return fail("demo world", DEJA_INVALID_ARG, err);
    }
    int rc = 1;
    char csv_path[4096];
    snprintf(csv_path, sizeof csv_path, "%s/frames.csv", out);
    snprintf(path, sizeof path, "%s/loops.txt", out);
    FILE *events = NULL, *csv = NULL;
    if ((st = deja__world_write_loops(ws.world, path)) != DEJA_OK) {
        fail(path, st, deja_last_error());
    } else {
        printf("true loops: %s\n", path);
        snprintf(path, sizeof path, "%s/events.txt", out);
        events = fopen(path, "w");
        csv = fopen(csv_path, "w");
        if (!events || !csv) {
            fprintf(stderr, "deja: cannot write in %s\n", out);
        } else {
            run_config cfg = {.threads = (int)opt_long(argc, argv, "--threads", 2),
                              .events = events, .csv = csv, .progress = isatty(STDERR_FILENO),
                              .explain = opt_long(argc, argv, "--explain", 0) > 0};
            char report[4096];
            snprintf(report, sizeof report, "%s/report", out);
            rc = detect_world_loops(argc, argv, voc, &ws, &cfg, report, "demo");
            if (rc == 0) printf("events: %s; per-frame times and memory: %s\n", path, csv_path);
        }
    }
    if (events) fclose(events);
    if (csv) fclose(csv);
    world_source_close(&ws);
    deja_vocab_destroy(voc);
    return rc;
}
