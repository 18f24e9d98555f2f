/* test_util.h - helpers several tests share, next to the harness in test.h: a counting allocator
 * that can fail at a chosen call (the out-of-memory sweeps of SQLite's test_malloc.c), a private
 * temporary directory, whole-file read/write, and the small seeded generators the tests draw
 * their data from. Everything is static inline and prefixed test_, so a test includes this next
 * to test.h, uses what it needs, and its own helpers' names stay free. */
#ifndef DEJA_TEST_UTIL_H
#define DEJA_TEST_UTIL_H

#include "base.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- counting allocator ------------------------------------------------------------------ */

/* calls counts every call to alloc, the failed ones too; live and peak are bytes, blocks the
 * allocations not yet freed. fail_at: the fail_at-th call (1-based) returns NULL, 0 = never. */
typedef struct test_counter {
    size_t calls, live, peak, blocks, fail_at;
} test_counter;

static inline void *test_count_alloc(void *user, size_t bytes)
{
    test_counter *c = user;
    if (++c->calls == c->fail_at) return NULL;
    void *p = malloc(bytes);
    if (p) {
        c->live += bytes;
        c->blocks++;
        if (c->live > c->peak) c->peak = c->live;
    }
    return p;
}

static inline void test_count_free(void *user, void *p, size_t bytes)
{
    test_counter *c = user;
    c->live -= bytes; /* a wrong size shows up as live != 0 at the end */
    if (p) c->blocks--;
    free(p);
}

static inline deja_allocator test_counting_allocator(test_counter *c)
{
    return (deja_allocator){test_count_alloc, test_count_free, c};
}

/* Default options whose allocations all go through c. */
static inline deja_options test_counting_options(test_counter *c)
{
    deja_options o = deja_options_default();
    o.allocator = test_counting_allocator(c);
    return o;
}

/* ---- files ------------------------------------------------------------------------------- */

/* This run's private directory under /tmp, made on first use; "" until then. */
static inline char *test_tmp_dir(void)
{
    static char dir[64];
    return dir;
}

/* Removes the directory and whatever is left in it (at exit; tests may also remove it first). */
static inline void test_tmp_cleanup(void)
{
    const char *root = test_tmp_dir();
    DIR *dir = root[0] ? opendir(root) : NULL;
    if (!dir) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(root);
}

/* dir/name in the private directory. The last 4 results stay valid, so a test can hold two or
 * three paths at once. */
static inline const char *test_tmp_path(const char *name)
{
    static char path[4][512];
    static unsigned next;
    char *dir = test_tmp_dir();
    if (!dir[0]) {
        snprintf(dir, 64, "/tmp/deja_test_XXXXXX");
        if (!mkdtemp(dir)) abort();
        atexit(test_tmp_cleanup);
    }
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

/* Writes n bytes; false if the file cannot be created or written. */
static inline int test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The whole file in a malloc'd buffer with a '\0' after its *len bytes; aborts if unreadable
 * (the tests read only files they have just written). */
static inline uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!p) abort();
    *len = fread(p, 1, n > 0 ? (size_t)n : 0, f);
    p[*len] = '\0';
    fclose(f);
    return p;
}

/* ---- random numbers (also deja__splitmix64 from base.h) ---------------------------------- */

/* xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators"): the
 * same sequence on every platform, so qemu and x86 runs see the same data. */
static inline uint64_t test_rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi) from the top 53 bits of one test_rnd draw. */
static inline double test_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(test_rnd(s) >> 11) * 0x1.0p-53);
}

/* Uniform float in [-1, 1). */
static inline float test_rndf(uint64_t *s)
{
    return (float)test_uniform(s, -1.0, 1.0);
}

#endif
