/* vocab_load.c - how long opening a vocabulary takes: the .dvoc binary (mmap + validation, with
 * and without DEJA_VOCAB_VERIFY) and the DBoW2 text import of the same tree.
 *
 * Builds a full k = 10, L = 6 tree (10^6 words, 1,111,111 nodes, random 32-byte descriptors)
 * directly with deja__vocab_alloc, saves it, loads it repeatedly (page cache warm: the file was
 * just written) and reports min / median; then exports it as ORBvoc-style text and imports that.
 * Usage: vocab_load [dir (default /tmp)] [load repeats (default 41)] */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static long long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Time `repeats` loads; report min and median of the load call, and of load + destroy. */
static int time_loads(const char *path, unsigned flags, int repeats, const deja_vocab *ref)
{
    uint64_t *t = malloc(sizeof *t * (size_t)repeats), *td = malloc(sizeof *td * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        deja_vocab *v;
        uint64_t t0 = deja__now_ns();
        if (deja_vocab_load(NULL, path, flags, &v) != DEJA_OK) {
            fprintf(stderr, "load failed: %s\n", deja_last_error());
            return 1;
        }
        uint64_t t1 = deja__now_ns();
        if (r == 0 && (v->n_nodes != ref->n_nodes ||
                       memcmp(v->node_desc, ref->node_desc, (size_t)v->n_nodes * 32) != 0)) {
            fprintf(stderr, "loaded vocabulary differs\n");
            return 1;
        }
        deja_vocab_destroy(v);
        t[r] = t1 - t0;
        td[r] = deja__now_ns() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_u64);
    qsort(td, (size_t)repeats, sizeof *td, cmp_u64);
    printf("load %-7s min %7.3f ms  median %7.3f ms   (load+destroy median %7.3f ms, %d runs)\n",
           flags ? "VERIFY" : "plain", ms(t[0]), ms(t[repeats / 2]), ms(td[repeats / 2]), repeats);
    free(t);
    free(td);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int repeats = argc > 2 ? atoi(argv[2]) : 41;
    if (repeats < 1) repeats = 1;
    char bin[1024], txt[1024];
    snprintf(bin, sizeof bin, "%s/deja_bench_vocab.dvoc", dir);
    snprintf(txt, sizeof txt, "%s/deja_bench_vocab.txt", dir);

    uint64_t t0 = deja__now_ns();
    deja_vocab *v = full_tree(10, 6);
    if (!v) {
        fprintf(stderr, "build failed: %s\n", deja_last_error());
        return 1;
    }
    printf("tree: k %u, depth %u, %u nodes, %u words (built in %.0f ms)\n", v->k, v->depth,
           v->n_nodes, v->n_words, ms(deja__now_ns() - t0));

    t0 = deja__now_ns();
    if (deja_vocab_save(v, bin) != DEJA_OK) {
        fprintf(stderr, "save failed: %s\n", deja_last_error());
        return 1;
    }
    printf("save   %.1f ms (with fsync), .dvoc %lld bytes\n", ms(deja__now_ns() - t0),
           file_size(bin));
    if (time_loads(bin, 0, repeats, v) || time_loads(bin, DEJA_VOCAB_VERIFY, repeats, v)) return 1;

    t0 = deja__now_ns();
    if (deja_vocab_export_dbow2(v, txt) != DEJA_OK) {
        fprintf(stderr, "export failed: %s\n", deja_last_error());
        return 1;
    }
    printf("export %.1f ms, DBoW2 text %lld bytes\n", ms(deja__now_ns() - t0), file_size(txt));
    uint64_t best = UINT64_MAX;
    for (int r = 0; r < 3; r++) {
        deja_vocab *w;
        t0 = deja__now_ns();
        if (deja_vocab_import_dbow2(NULL, txt, &w) != DEJA_OK) {
            fprintf(stderr, "import failed: %s\n", deja_last_error());
            return 1;
        }
        uint64_t t = deja__now_ns() - t0;
        if (t < best) best = t;
        int same = w->n_nodes == v->n_nodes && w->n_words == v->n_words &&
                   !memcmp(w->child_begin, v->child_begin, ((size_t)v->n_nodes + 1) * 4) &&
                   !memcmp(w->word_weight, v->word_weight, (size_t)v->n_words * 4) &&
                   !memcmp(w->node_desc, v->node_desc, (size_t)v->n_nodes * 32);
        deja_vocab_destroy(w);
        if (!same) {
            fprintf(stderr, "imported vocabulary differs\n");
            return 1;
        }
    }
    printf("import DBoW2 text: min %.1f ms of 3 (%.0f MB/s), identical to the original\n", ms(best),
           (double)file_size(txt) / 1e6 / (ms(best) / 1e3));
    deja_vocab_destroy(v);
    unlink(bin);
    unlink(txt);
    return 0;
}
