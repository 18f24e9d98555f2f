/* bow_transform.c - BoW transform time per frame of 1000 ORB descriptors on a 10^6-word tree
 * (k=10, L=6), for each SIMD kernel set this CPU has. Descriptors are real ORB descriptors of
 * the frames given on the command line (decoded and extracted once, outside the timing), or
 * random ones when no frames are given. Usage: bow_transform [frames to time] [IMAGE...] */
#include "bench_util.h"

#include <stdio.h>

#define MAX_FRAMES 64

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1) reps = 1;
    deja_vocab *v = full_tree(10, 6);
    if (!v) {
        fprintf(stderr, "tree: %s\n", deja_last_error());
        return 1;
    }
    /* Inputs: ORB descriptors of real frames, or random descriptors. */
    static uint8_t desc[MAX_FRAMES][1000 * 32];
    size_t n_desc[MAX_FRAMES];
    int n_frames = 0;
    deja_options o = deja_options_default();
    deja_decoder *dec = NULL;
    deja_orb *orb = NULL;
    if (argc > 2 && (deja_decoder_create(&o, &dec) != DEJA_OK || deja_orb_create(&o, &orb) != DEJA_OK)) {
        fprintf(stderr, "setup: %s\n", deja_last_error());
        return 1;
    }
    for (int i = 2; i < argc && n_frames < MAX_FRAMES; i++) {
        deja_image im;
        deja_features f;
        if (deja_decoder_read_file(dec, argv[i], &im) != DEJA_OK || deja_orb_detect(orb, &im, &f) != DEJA_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], deja_last_error());
            return 1;
        }
        n_desc[n_frames] = f.n < 1000 ? f.n : 1000;
        memcpy(desc[n_frames], f.descriptors, n_desc[n_frames] * 32);
        n_frames++;
    }
    deja_orb_destroy(orb);
    deja_decoder_destroy(dec);
    const char *source = n_frames ? "ORB descriptors of the given frames" : "random descriptors";
    if (n_frames == 0) {
        uint64_t s = 99;
        for (n_frames = 0; n_frames < 16; n_frames++) {
            for (size_t i = 0; i < sizeof desc[0]; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                desc[n_frames][i] = (uint8_t)(s >> 56);
            }
            n_desc[n_frames] = 1000;
        }
    }
    printf("BoW transform, k=10 L=6 (%u words), %s, direct level 2, %d frames per set\n",
           v->n_words, source, reps);
    printf("| kernels | median ms/frame | p90 ms/frame | mean descriptors |\n|---|---|---|---|\n");
    for (int simd = DEJA_SIMD_SCALAR; simd <= DEJA_SIMD_NEON; simd++) {
        o.simd = (deja_simd)simd;
        deja_bow *b;
        if (deja_bow_create(&o, v, &b) != DEJA_OK) continue; /* not on this CPU */
        uint64_t *t = malloc(sizeof *t * (size_t)reps);
        double sum_n = 0;
        for (int r = 0; r < reps + 5; r++) {
            int i = r % n_frames;
            deja_features f = {.n = n_desc[i], .descriptors = desc[i], .kind = DEJA_DESC_BINARY,
                               .desc_bytes = 32};
            deja_bow_result res;
            uint64_t t0 = deja__now_ns();
            if (deja_bow_transform(b, &f, 2, &res) != DEJA_OK) {
                fprintf(stderr, "transform: %s\n", deja_bow_error(b));
                return 1;
            }
            if (r >= 5) t[r - 5] = deja__now_ns() - t0, sum_n += (double)f.n; /* 5 warm-up frames */
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_u64);
        printf("| %s | %.3f | %.3f | %.0f |\n", deja_simd_name((deja_simd)simd), (double)t[reps / 2] / 1e6,
               (double)t[reps * 9 / 10] / 1e6, sum_n / reps);
        free(t);
        deja_bow_destroy(b);
    }
    deja_vocab_destroy(v);
    return 0;
}
