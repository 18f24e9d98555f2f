/* cmd_demo.c - `deja gen` writes generated scenes as PGM; `deja demo` is the built-in default:
 * it trains a vocabulary on generated training places, stores one view of each test place, then
 * asks, for a second view of every test place (moved camera, other lighting, noise), which stored
 * place it is by BoW score. No files are needed; the vocabulary is written and mmap-loaded back. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_gen(int argc, char **argv)
{
    static const char *const valued[] = {"--places", "--views", "--seed", "--width", "--height", NULL};
    char *out[1];
    if (positionals(argc, argv, valued, out, 1) != 1) {
        fprintf(stderr, "usage: deja gen [--places 20] [--views 2] [--seed 1] [--width 640]\n"
                        "       [--height 480] OUT_FOLDER\n");
        return 2;
    }
    long places = opt_long(argc, argv, "--places", 20), views = opt_long(argc, argv, "--views", 2);
    long w = opt_long(argc, argv, "--width", 640), h = opt_long(argc, argv, "--height", 480);
    uint64_t seed = (uint64_t)opt_long(argc, argv, "--seed", 1);
    if (places < 1 || views < 1 || w < 64 || h < 64 || w > 8192 || h > 8192) {
        fprintf(stderr, "deja gen: places, views >= 1; width, height in 64..8192\n");
        return 2;
    }
    if (mkdir(out[0], 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "deja gen: %s: %s\n", out[0], strerror(errno));
        return 1;
    }
    for (long p = 0; p < places; p++)
        for (long v = 0; v < views; v++) {
            deja__synth_image im;
            if (!deja__synth_render(seed, (int)p, (int)v, (int)w, (int)h, &im)) return fail("gen", DEJA_NOMEM, "");
            char path[4096];
            snprintf(path, sizeof path, "%s/place%04ld_view%ld.pgm", out[0], p, v);
            deja_image view = {im.width, im.height, im.width, im.pixels};
            deja_status st = deja_image_write_pgm(&view, path);
            deja__synth_free(&im);
            if (st != DEJA_OK) return fail(path, st, deja_last_error());
        }
    printf("wrote %ld places x %ld views to %s\n", places, views, out[0]);
    return 0;
}

/* ORB descriptors of one rendered view, copied out (malloc). */
static deja_status describe(deja_orb *orb, uint64_t seed, int place, int view, uint8_t **desc,
                            size_t *n)
{
    deja__synth_image im;
    if (!deja__synth_render(seed, place, view, 640, 480, &im)) return DEJA_NOMEM;
    deja_image v = {im.width, im.height, im.width, im.pixels};
    deja_features f;
    deja_status st = deja_orb_detect(orb, &v, &f);
    if (st == DEJA_OK) {
        *desc = malloc(f.n * 32 + 1);
        if (!*desc) st = DEJA_NOMEM;
        else memcpy(*desc, f.descriptors, f.n * 32);
        *n = f.n;
    }
    deja__synth_free(&im);
    return st;
}

int cmd_demo(int argc, char **argv)
{
    static const char *const valued[] = {"--out", "--places", "--train-places", "--seed", NULL};
    char *unused[1];
    if (positionals(argc, argv, valued, unused, 1) != 0) {
        fprintf(stderr, "usage: deja demo [--out deja-demo] [--places 40] [--train-places 40] [--seed 7]\n");
        return 2;
    }
    const char *out = opt_str(argc, argv, "--out", "deja-demo");
    int places = (int)opt_long(argc, argv, "--places", 40);
    int train_places = (int)opt_long(argc, argv, "--train-places", 40);
    uint64_t seed = (uint64_t)opt_long(argc, argv, "--seed", 7);
    if (places < 2 || train_places < 1 || places > 100000 || train_places > 100000) {
        fprintf(stderr, "deja demo: --places >= 2, --train-places >= 1\n");
        return 2;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "deja demo: %s: %s\n", out, strerror(errno));
        return 1;
    }
    deja_options o = deja_options_default();
    deja_orb *orb = NULL;
    deja_vocab *voc = NULL;
    deja_bow *bow = NULL;
    deja_status st = deja_orb_create(&o, &orb);
    if (st != DEJA_OK) return fail("orb", st, deja_last_error());
    printf("deja demo: %s SIMD kernels, output in %s/\n", deja_simd_name(deja_simd_detect()), out);

    /* 1. Vocabulary from training places that the test never shows (other seed). */
    uint64_t t0 = now_ns();
    deja_features *sets = calloc((size_t)train_places, sizeof *sets);
    uint8_t **descs = calloc((size_t)train_places, sizeof *descs);
    size_t total = 0;
    progress bar;
    progress_start(&bar, "features", (uint64_t)train_places);
    for (int p = 0; p < train_places && st == DEJA_OK; p++) {
        size_t n = 0;
        st = describe(orb, seed * 1000003u + 17, p, 0, &descs[p], &n);
        sets[p] = (deja_features){.n = n, .descriptors = descs[p], .kind = DEJA_DESC_BINARY, .desc_bytes = 32};
        total += n;
        progress_update(&bar, (uint64_t)p + 1);
    }
    progress_end(&bar);
    char vocab_path[4096];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.dvoc", out);
    if (st == DEJA_OK) {
        deja_vocab_params vp = deja_vocab_params_default();
        vp.depth = 4; /* 10^4 words: enough for a few tens of thousands of training features */
        deja_vocab *trained = NULL;
        st = deja_vocab_train(&o, &vp, sets, (size_t)train_places, &trained);
        if (st == DEJA_OK) st = deja_vocab_save(trained, vocab_path);
        deja_vocab_destroy(trained);
    }
    for (int p = 0; p < train_places; p++) free(descs[p]);
    free(descs);
    free(sets);
    if (st != DEJA_OK) {
        deja_orb_destroy(orb);
        return fail("demo vocabulary", st, deja_last_error());
    }
    double train_ms = ms_since(t0);
    uint64_t t1 = now_ns();
    st = deja_vocab_load(&o, vocab_path, 0, &voc);
    double load_ms = ms_since(t1);
    if (st == DEJA_OK) st = deja_bow_create(&o, voc, &bow);
    if (st != DEJA_OK) {
        deja_orb_destroy(orb);
        deja_vocab_destroy(voc);
        return fail("demo load", st, deja_last_error());
    }
    deja_vocab_info info;
    deja_vocab_get_info(voc, &info);
    printf("vocabulary: %u words from %zu features of %d training places in %.1f s; "
           "mmap load %.3f ms\n", info.n_words, total, train_places, train_ms / 1e3, load_ms);

    /* 2. Store view 0 of each test place, then query with view 1. */
    uint32_t **words = calloc((size_t)places, sizeof *words);
    float **weights = calloc((size_t)places, sizeof *weights);
    deja_bow_vector *db = calloc((size_t)places, sizeof *db);
    double orb_ms = 0, bow_ms = 0;
    int correct = 0, frames = 0;
    char csv_path[4096];
    snprintf(csv_path, sizeof csv_path, "%s/queries.csv", out);
    FILE *csv = fopen(csv_path, "w");
    if (csv) fprintf(csv, "place,view,keypoints,words,best_place,best_score,true_score\n");
    progress_start(&bar, "places", (uint64_t)places * 2);
    for (int pass = 0; pass < 2 && st == DEJA_OK; pass++) {
        for (int p = 0; p < places && st == DEJA_OK; p++) {
            deja__synth_image im;
            if (!deja__synth_render(seed, p, pass, 640, 480, &im)) {
                st = DEJA_NOMEM;
                break;
            }
            deja_image v = {im.width, im.height, im.width, im.pixels};
            deja_features f;
            deja_bow_result r;
            uint64_t a = now_ns();
            st = deja_orb_detect(orb, &v, &f);
            uint64_t b = now_ns();
            if (st == DEJA_OK) st = deja_bow_transform(bow, &f, 2, &r);
            uint64_t c = now_ns();
            deja__synth_free(&im);
            if (st != DEJA_OK) break;
            orb_ms += (double)(b - a) / 1e6;
            bow_ms += (double)(c - b) / 1e6;
            frames++;
            if (pass == 0) {
                words[p] = malloc(r.bow.n * sizeof(uint32_t) + 1);
                weights[p] = malloc(r.bow.n * sizeof(float) + 1);
                if (!words[p] || !weights[p]) {
                    st = DEJA_NOMEM;
                    break;
                }
                memcpy(words[p], r.bow.words, r.bow.n * sizeof(uint32_t));
                memcpy(weights[p], r.bow.weights, r.bow.n * sizeof(float));
                db[p] = (deja_bow_vector){r.bow.n, words[p], weights[p]};
            } else {
                int best = -1;
                float best_score = -1;
                for (int q = 0; q < places; q++) {
                    float s = deja_bow_score_l1(&r.bow, &db[q]);
                    if (s > best_score) best_score = s, best = q;
                }
                correct += best == p;
                if (csv)
                    fprintf(csv, "%d,1,%zu,%zu,%d,%.5f,%.5f\n", p, f.n, r.bow.n, best, best_score,
                            deja_bow_score_l1(&r.bow, &db[p]));
            }
            progress_update(&bar, (uint64_t)(pass * places + p + 1));
        }
    }
    progress_end(&bar);
    if (csv) fclose(csv);
    int rc = 0;
    if (st != DEJA_OK) {
        rc = fail("demo", st, deja_last_error());
    } else {
        printf("place recognition: %d of %d changed views matched their place (top-1 %.1f %%)\n",
               correct, places, 100.0 * correct / places);
        printf("per frame: ORB %.2f ms, BoW transform %.3f ms (mean of %d frames)\n",
               orb_ms / frames, bow_ms / frames, frames);
        printf("per-query scores: %s\n", csv_path);
        if (correct * 10 < places * 9) {
            fprintf(stderr, "deja demo: recognition below 90 %%: something is wrong\n");
            rc = 1;
        }
    }
    for (int p = 0; p < places; p++) {
        free(words[p]);
        free(weights[p]);
    }
    free(words);
    free(weights);
    free(db);
    deja_bow_destroy(bow);
    deja_vocab_destroy(voc);
    deja_orb_destroy(orb);
    return rc;
}
