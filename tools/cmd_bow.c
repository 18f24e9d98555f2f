/* cmd_bow.c - `deja orb` and `deja bow`: run decode -> ORB (-> BoW transform) over images and
 * report time per stage; `deja bow --match` also names each frame's most similar earlier frame. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_DECODE, T_ORB, T_BOW, N_STAGES };
static const char *const stage_names[N_STAGES] = {"decode", "orb", "transform"};

typedef struct {
    deja_bow_vector v; /* owned copies */
} stored_bow;

static int run(int argc, char **argv, int with_bow)
{
    static const char *const valued[] = {"--vocab", "--level", "--csv", "--simd", NULL};
    char *inputs[64];
    int n_in = positionals(argc, argv, valued, inputs, 64);
    const char *vocab_path = opt_str(argc, argv, "--vocab", NULL);
    if (n_in < 1 || n_in > 64 || (with_bow && !vocab_path)) {
        if (with_bow)
            fprintf(stderr, "usage: deja bow --vocab V.dvoc [--level 2] [--match] [--csv FILE]\n"
                            "       [--simd scalar] IMAGES|FOLDER|LIST...\n");
        else
            fprintf(stderr, "usage: deja orb [--csv FILE] [--simd scalar] IMAGES|FOLDER|LIST...\n");
        return 2;
    }
    path_list paths = {0};
    if (!paths_add_all(&paths, inputs, n_in)) return 1;
    deja_options o = deja_options_default();
    const char *simd = opt_str(argc, argv, "--simd", NULL);
    if (simd && strcmp(simd, "scalar") == 0) o.simd = DEJA_SIMD_SCALAR;
    uint32_t level = (uint32_t)opt_long(argc, argv, "--level", 2);
    int match = opt_flag(argc, argv, "--match");
    deja_decoder *dec = NULL;
    deja_orb *orb = NULL;
    deja_vocab *voc = NULL;
    deja_bow *bow = NULL;
    FILE *csv = NULL;
    double *times[N_STAGES] = {0};
    stored_bow *db = NULL;
    int rc = 0;
    deja_status st;
    uint64_t t_load = now_ns();
    if ((st = deja_decoder_create(&o, &dec)) != DEJA_OK || (st = deja_orb_create(&o, &orb)) != DEJA_OK
        || (with_bow && (st = deja_vocab_load(&o, vocab_path, 0, &voc)) != DEJA_OK)
        || (with_bow && (st = deja_bow_create(&o, voc, &bow)) != DEJA_OK)) {
        rc = fail("setup", st, deja_last_error());
        goto done;
    }
    double load_ms = ms_since(t_load);
    const char *csv_path = opt_str(argc, argv, "--csv", NULL);
    if (csv_path && !(csv = fopen(csv_path, "w"))) {
        fprintf(stderr, "deja: %s: cannot write\n", csv_path);
        rc = 1;
        goto done;
    }
    if (csv) fprintf(csv, "frame,decode_ms,orb_ms,transform_ms,keypoints,words\n");
    for (int s = 0; s < N_STAGES; s++) times[s] = calloc(paths.n, sizeof(double));
    if (match) db = calloc(paths.n, sizeof *db);
    double sum_kp = 0, sum_words = 0;
    progress bar;
    progress_start(&bar, with_bow ? "bow" : "orb", paths.n);
    for (size_t i = 0; i < paths.n; i++) {
        deja_image im;
        deja_features f;
        deja_bow_result r = {0};
        uint64_t t0 = now_ns();
        if ((st = deja_decoder_read_file(dec, paths.paths[i], &im)) != DEJA_OK) {
            rc = fail(paths.paths[i], st, deja_decoder_error(dec));
            break;
        }
        uint64_t t1 = now_ns();
        if ((st = deja_orb_detect(orb, &im, &f)) != DEJA_OK) {
            rc = fail(paths.paths[i], st, deja_orb_error(orb));
            break;
        }
        uint64_t t2 = now_ns();
        if (with_bow && (st = deja_bow_transform(bow, &f, level, &r)) != DEJA_OK) {
            rc = fail(paths.paths[i], st, deja_bow_error(bow));
            break;
        }
        uint64_t t3 = now_ns();
        times[T_DECODE][i] = (double)(t1 - t0) / 1e6;
        times[T_ORB][i] = (double)(t2 - t1) / 1e6;
        times[T_BOW][i] = (double)(t3 - t2) / 1e6;
        sum_kp += (double)f.n;
        sum_words += (double)r.bow.n;
        if (csv)
            fprintf(csv, "%zu,%.4f,%.4f,%.4f,%zu,%zu\n", i, times[T_DECODE][i], times[T_ORB][i],
                    times[T_BOW][i], f.n, r.bow.n);
        if (match) {
            uint32_t *w = malloc(r.bow.n * sizeof *w + 1);
            float *wt = malloc(r.bow.n * sizeof *wt + 1);
            if (w && wt) {
                memcpy(w, r.bow.words, r.bow.n * sizeof *w);
                memcpy(wt, r.bow.weights, r.bow.n * sizeof *wt);
            }
            db[i].v = (deja_bow_vector){w && wt ? r.bow.n : 0, w, wt};
            float best = -1;
            size_t best_j = 0;
            for (size_t j = 0; j < i; j++) {
                float sc = deja_bow_score_l1(&db[i].v, &db[j].v);
                if (sc > best) best = sc, best_j = j;
            }
            if (i > 0) printf("%zu %s best %zu (%.4f)\n", i, paths.paths[i], best_j, best);
        }
        progress_update(&bar, i + 1);
    }
    progress_end(&bar);
    if (rc == 0 && paths.n > 0) {
        size_t n = paths.n;
        printf("%zu frames, %.0f keypoints/frame", n, sum_kp / (double)n);
        if (with_bow) printf(", %.0f words/frame, vocabulary loaded in %.2f ms", sum_words / (double)n, load_ms);
        printf("\n%-10s %10s %10s %10s\n", "stage", "median ms", "p99 ms", "mean ms");
        for (int s = 0; s < (with_bow ? N_STAGES : T_BOW); s++) {
            double mean = 0;
            for (size_t i = 0; i < n; i++) mean += times[s][i];
            mean /= (double)n;
            double med = quantile(times[s], n, 0.5), p99 = quantile(times[s], n, 0.99);
            printf("%-10s %10.3f %10.3f %10.3f\n", stage_names[s], med, p99, mean);
        }
    }
done:
    if (db)
        for (size_t i = 0; i < paths.n; i++) {
            free((void *)db[i].v.words);
            free((void *)db[i].v.weights);
        }
    free(db);
    for (int s = 0; s < N_STAGES; s++) free(times[s]);
    if (csv) fclose(csv);
    deja_bow_destroy(bow);
    deja_vocab_destroy(voc);
    deja_orb_destroy(orb);
    deja_decoder_destroy(dec);
    paths_free(&paths);
    return rc;
}

int cmd_orb(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_bow(int argc, char **argv)
{
    return run(argc, argv, 1);
}
