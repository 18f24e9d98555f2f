/* cmd_vocab.c - `deja vocab train|info|import|export`. Training extracts features (ORB, or a
 * network with --features: a float vocabulary) from image folders on two threads (one decoder +
 * extractor each; a network then runs single-threaded in each, one image per thread), then builds
 * the tree with the library's worker pool. */
#define _POSIX_C_SOURCE 200809L
#include "runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const path_list *paths;
    size_t next;          /* next image to take */
    size_t done;          /* images finished */
    pthread_mutex_t mu;
    deja_options opts;
    const char *model;    /* --features: NULL = ORB */
    deja_desc_kind kind;  /* of the extractors' descriptors */
    uint32_t desc_bytes;
    uint8_t **desc;       /* per image: descriptors (malloc) */
    size_t *n_desc;
    int error;            /* first failure stops everyone */
    char message[600];
} extract_job;

static void *extract_worker(void *arg)
{
    extract_job *job = arg;
    deja_decoder *dec = NULL;
    deja_extractor *x = NULL;
    deja_status st = deja_decoder_create(&job->opts, &dec);
    if (st == DEJA_OK) st = deja_extractor_create(&job->opts, job->model, 0, 0, &x);
    pthread_mutex_lock(&job->mu);
    if (st != DEJA_OK) {
        job->error = 1;
        snprintf(job->message, sizeof job->message, "%s", deja_last_error());
    } else {
        deja_extractor_info info;
        deja_extractor_get_info(x, &info);
        job->kind = info.kind;
        job->desc_bytes = info.desc_bytes;
    }
    pthread_mutex_unlock(&job->mu);
    for (;;) {
        pthread_mutex_lock(&job->mu);
        size_t i = job->next++;
        int stop = job->error || i >= job->paths->n;
        pthread_mutex_unlock(&job->mu);
        if (stop) break;
        deja_image im;
        deja_features f;
        const char *msg = NULL;
        st = deja_decoder_read_file(dec, job->paths->paths[i], &im);
        if (st != DEJA_OK) msg = deja_decoder_error(dec);
        else if ((st = deja_extractor_extract(x, &im, &f)) != DEJA_OK)
            msg = deja_extractor_error(x);
        if (st == DEJA_OK) {
            job->desc[i] = malloc(f.n * f.desc_bytes + 1);
            if (job->desc[i]) {
                memcpy(job->desc[i], f.descriptors, f.n * f.desc_bytes);
                job->n_desc[i] = f.n;
            } else {
                st = DEJA_NOMEM;
                msg = "out of memory";
            }
        }
        pthread_mutex_lock(&job->mu);
        if (st != DEJA_OK && !job->error) {
            job->error = 1;
            snprintf(job->message, sizeof job->message, "%s", msg);
        }
        job->done++;
        pthread_mutex_unlock(&job->mu);
    }
    deja_extractor_destroy(x);
    deja_decoder_destroy(dec);
    return NULL;
}

static void train_progress(void *user, uint64_t done, uint64_t total)
{
    progress *p = user;
    p->total = total ? total : 1;
    progress_update(p, done);
}

static int vocab_train(int argc, char **argv)
{
    static const char *const valued[] = {"-o", "--out", "--k", "--depth", "--iterations",
                                         "--threads", "--seed", "--max-images", "--features",
                                         "--models", NULL};
    char *inputs[64];
    int n_in = positionals(argc, argv, valued, inputs, 64);
    const char *out = opt_str(argc, argv, "-o", opt_str(argc, argv, "--out", NULL));
    if (n_in < 1 || n_in > 64 || !out) {
        fprintf(stderr, "usage: deja vocab train -o OUT.dvoc [--k 10] [--depth 6] [--iterations 10]\n"
                        "       [--threads N] [--seed 1] [--max-images N] [--features F]\n"
                        "       FOLDER|LIST...\n"
                        FEATURES_USAGE);
        return 2;
    }
    char model_buf[1100];
    const char *model = NULL;
    if (!features_from_args(argc, argv, model_buf, sizeof model_buf, &model)) return 2;
    path_list paths = {0};
    if (!paths_add_all(&paths, inputs, n_in)) return 1;
    long max_images = opt_long(argc, argv, "--max-images", 0);
    if (max_images > 0 && (size_t)max_images < paths.n) {
        /* Spread the subset over the whole sequence rather than taking its start. */
        for (long i = 0; i < max_images; i++) {
            size_t j = (size_t)i * paths.n / (size_t)max_images;
            char *tmp = paths.paths[i];
            paths.paths[i] = paths.paths[j];
            paths.paths[j] = tmp;
        }
        for (size_t i = (size_t)max_images; i < paths.n; i++) free(paths.paths[i]);
        paths.n = (size_t)max_images;
    }
    deja_options o = deja_options_default();
    o.n_threads = (int)opt_long(argc, argv, "--threads", 0);
    extract_job job = {.paths = &paths, .opts = o, .model = model};
    job.opts.n_threads = 1; /* a network: one image per thread rather than one image on all */
    pthread_mutex_init(&job.mu, NULL);
    job.desc = calloc(paths.n, sizeof *job.desc);
    job.n_desc = calloc(paths.n, sizeof *job.n_desc);
    int n_workers = o.n_threads > 0 ? o.n_threads : 2;
    if (n_workers > 8) n_workers = 8;
    pthread_t th[8];
    uint64_t t0 = now_ns();
    progress bar;
    progress_start(&bar, "features", paths.n);
    int started = 0;
    for (int i = 0; i < n_workers; i++)
        if (pthread_create(&th[i], NULL, extract_worker, &job) == 0) started++;
    if (started == 0) extract_worker(&job);
    for (;;) {
        pthread_mutex_lock(&job.mu);
        size_t done = job.done;
        int err = job.error;
        pthread_mutex_unlock(&job.mu);
        progress_update(&bar, done);
        if (done >= paths.n || err) break;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    progress_end(&bar);
    int rc = 0;
    size_t total = 0;
    deja_features *sets = calloc(paths.n, sizeof *sets);
    if (job.error) {
        fprintf(stderr, "deja: vocab train: %s\n", job.message);
        rc = 1;
    } else {
        for (size_t i = 0; i < paths.n; i++) {
            sets[i] = (deja_features){.n = job.n_desc[i], .descriptors = job.desc[i],
                                      .kind = job.kind, .desc_bytes = job.desc_bytes};
            total += job.n_desc[i];
        }
        double extract_ms = ms_since(t0);
        fprintf(stderr, "deja: %zu images, %zu descriptors in %.1f s\n", paths.n, total,
                extract_ms / 1e3);
        deja_vocab_params p = deja_vocab_params_default();
        p.k = (uint32_t)opt_long(argc, argv, "--k", p.k);
        p.depth = (uint32_t)opt_long(argc, argv, "--depth", p.depth);
        p.max_iterations = (uint32_t)opt_long(argc, argv, "--iterations", p.max_iterations);
        p.seed = (uint64_t)opt_long(argc, argv, "--seed", (long)p.seed);
        progress_start(&bar, "training", 1);
        p.progress = train_progress;
        p.progress_user = &bar;
        deja_vocab *v = NULL;
        uint64_t t1 = now_ns();
        deja_status st = deja_vocab_train(&o, &p, sets, paths.n, &v);
        progress_end(&bar);
        if (st != DEJA_OK) {
            rc = fail("vocab train", st, deja_last_error());
        } else {
            double train_ms = ms_since(t1);
            st = deja_vocab_save(v, out);
            if (st != DEJA_OK) rc = fail("vocab save", st, deja_last_error());
            deja_vocab_info info;
            deja_vocab_get_info(v, &info);
            printf("trained %s: k=%u depth=%u, %u nodes, %u words from %zu %s descriptors of "
                   "%zu images (%s); features %.1f s, training %.1f s\n",
                   out, info.k, info.depth, info.n_nodes, info.n_words, total,
                   job.kind == DEJA_DESC_FLOAT32 ? "float" : "binary", paths.n,
                   model ? model : "ORB", extract_ms / 1e3, train_ms / 1e3);
            deja_vocab_destroy(v);
        }
    }
    for (size_t i = 0; i < paths.n; i++) free(job.desc[i]);
    free(job.desc);
    free(job.n_desc);
    free(sets);
    pthread_mutex_destroy(&job.mu);
    paths_free(&paths);
    return rc;
}

/* Open a vocabulary by its content: our binary format, or DBoW2 text otherwise. */
static deja_status open_vocab(const char *path, unsigned flags, deja_vocab **v)
{
    FILE *f = fopen(path, "rb");
    char magic[8] = {0};
    if (f) {
        size_t got = fread(magic, 1, sizeof magic, f);
        (void)got;
        fclose(f);
    }
    deja_options o = deja_options_default();
    if (memcmp(magic, "DEJAVOC", 7) == 0) return deja_vocab_load(&o, path, flags, v);
    return deja_vocab_import_dbow2(&o, path, v);
}

static const char *kind_name(deja_desc_kind k)
{
    return k == DEJA_DESC_BINARY ? "binary (Hamming)" : k == DEJA_DESC_FLOAT32 ? "float32 (L2)" : "?";
}

static const char *weighting_name(deja_weighting w)
{
    static const char *const names[] = {"TF-IDF", "TF", "IDF", "binary"};
    return (unsigned)w < 4 ? names[w] : "?";
}

static int vocab_info(int argc, char **argv)
{
    char *in[1];
    if (positionals(argc, argv, NULL, in, 1) != 1) {
        fprintf(stderr, "usage: deja vocab info [--verify] FILE.dvoc|ORBvoc.txt\n");
        return 2;
    }
    deja_vocab *v;
    uint64_t t0 = now_ns();
    deja_status st = open_vocab(in[0], opt_flag(argc, argv, "--verify") ? DEJA_VOCAB_VERIFY : 0, &v);
    double ms = ms_since(t0);
    if (st != DEJA_OK) return fail(in[0], st, deja_last_error());
    deja_vocab_info i;
    deja_vocab_get_info(v, &i);
    printf("file:        %s\n", in[0]);
    printf("descriptors: %s, %u bytes\n", kind_name(i.kind), i.desc_bytes);
    printf("tree:        k=%u, depth=%u, %u nodes, %u words\n", i.k, i.depth, i.n_nodes, i.n_words);
    printf("weighting:   %s\n", weighting_name(i.weighting));
    if (i.mapped)
        printf("payload:     %llu bytes, checksum %016llx%s\n", (unsigned long long)i.payload_bytes,
               (unsigned long long)i.checksum, opt_flag(argc, argv, "--verify") ? " (verified)" : "");
    printf("loaded in:   %.3f ms (%s)\n", ms, i.mapped ? "mmap" : "parsed");
    deja_vocab_destroy(v);
    return 0;
}

static int vocab_convert(int argc, char **argv, int to_text)
{
    static const char *const valued[] = {"-o", "--out", NULL};
    char *in[1];
    const char *out = opt_str(argc, argv, "-o", opt_str(argc, argv, "--out", NULL));
    if (positionals(argc, argv, valued, in, 1) != 1 || !out) {
        fprintf(stderr, "usage: deja vocab %s IN -o OUT\n", to_text ? "export" : "import");
        return 2;
    }
    deja_vocab *v;
    uint64_t t0 = now_ns();
    deja_status st = open_vocab(in[0], DEJA_VOCAB_VERIFY, &v);
    if (st != DEJA_OK) return fail(in[0], st, deja_last_error());
    double read_ms = ms_since(t0);
    st = to_text ? deja_vocab_export_dbow2(v, out) : deja_vocab_save(v, out);
    deja_vocab_destroy(v);
    if (st != DEJA_OK) return fail(out, st, deja_last_error());
    printf("%s -> %s (read in %.1f ms)\n", in[0], out, read_ms);
    return 0;
}

int cmd_vocab(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "train") == 0) return vocab_train(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "info") == 0) return vocab_info(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "import") == 0) return vocab_convert(argc - 1, argv + 1, 0);
    if (argc >= 1 && strcmp(argv[0], "export") == 0) return vocab_convert(argc - 1, argv + 1, 1);
    fprintf(stderr, "usage: deja vocab train|info|import|export ...\n"
                    "  train  -o OUT.dvoc FOLDER...   build a vocabulary from ORB features\n"
                    "         [--features alike-t]    or from a network's (float vocabulary)\n"
                    "  info   FILE [--verify]         what a .dvoc or DBoW2 text file holds\n"
                    "  import ORBvoc.txt -o OUT.dvoc  convert DBoW2/ORB-SLAM text to .dvoc\n"
                    "  export IN.dvoc -o OUT.txt      write DBoW2 text\n");
    return 2;
}
