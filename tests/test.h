/* test.h - a tiny test harness: TEST(name) registers, EXPECT_* print both sides and file:line,
 * SKIP(...) ends a test as skipped. Each tests/test_<module>.c is one executable and one ctest
 * entry; the closing line is "N passed, N failed, N skipped". Run one test: ./test_x name. */
#ifndef DEJA_TEST_H
#define DEJA_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
typedef struct {
    const char *name;
    test_fn fn;
} test_case;

#define TEST_MAX 256
static test_case test_cases[TEST_MAX];
static int test_count;
static int test_failed_now, test_skipped_now;

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        if (test_count < TEST_MAX) test_cases[test_count++] = (test_case){#name, test_##name};     \
    }                                                                                              \
    static void test_##name(void)

#define TEST_FAIL_AT(...)                                                                          \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        test_failed_now = 1;                                                                       \
    } while (0)

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) TEST_FAIL_AT("expected %s", #cond);                                           \
    } while (0)
#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            TEST_FAIL_AT("expected %s", #cond);                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) TEST_FAIL_AT("%s == %s: %lld vs %lld", #a, #b, ea_, eb_);                  \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long ea_ = (long long)(a), eb_ = (long long)(b);                                      \
        if (ea_ != eb_) {                                                                          \
            TEST_FAIL_AT("%s == %s: %lld vs %lld", #a, #b, ea_, eb_);                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define EXPECT_GE(a, b)                                                                            \
    do {                                                                                           \
        double ea_ = (double)(a), eb_ = (double)(b);                                               \
        if (!(ea_ >= eb_)) TEST_FAIL_AT("%s >= %s: %g vs %g", #a, #b, ea_, eb_);                   \
    } while (0)
#define EXPECT_LE(a, b)                                                                            \
    do {                                                                                           \
        double ea_ = (double)(a), eb_ = (double)(b);                                               \
        if (!(ea_ <= eb_)) TEST_FAIL_AT("%s <= %s: %g vs %g", #a, #b, ea_, eb_);                   \
    } while (0)
#define EXPECT_NEAR(a, b, tol)                                                                     \
    do {                                                                                           \
        double ea_ = (double)(a), eb_ = (double)(b);                                               \
        if (!(fabs(ea_ - eb_) <= (tol)))                                                           \
            TEST_FAIL_AT("%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, ea_, eb_, (double)(tol));       \
    } while (0)
/* Expect a deja call to return status st (DEJA_OK etc.); prints the status name on mismatch. */
#define EXPECT_STATUS(call, st)                                                                    \
    do {                                                                                           \
        deja_status es_ = (call);                                                                  \
        if (es_ != (st))                                                                           \
            TEST_FAIL_AT("%s: got %s, expected %s (%s)", #call, deja_status_name(es_),             \
                         deja_status_name(st), deja_last_error());                                 \
    } while (0)
#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        deja_status es_ = (call);                                                                  \
        if (es_ != DEJA_OK) {                                                                      \
            TEST_FAIL_AT("%s: %s (%s)", #call, deja_status_name(es_), deja_last_error());          \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "  skipped: ");                                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        test_skipped_now = 1;                                                                      \
        return;                                                                                    \
    } while (0)

/* Path of ../shared (env DEJA_SHARED, else the source tree's ../shared); NULL if absent. */
static inline const char *test_shared_dir(void)
{
    static char path[1024];
    const char *env = getenv("DEJA_SHARED");
    snprintf(path, sizeof path, "%s", env && *env ? env : DEJA_SOURCE_DIR "/../shared");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/data/README.md", path);
    FILE *f = fopen(probe, "rb");
    if (!f) return NULL;
    fclose(f);
    return path;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && strcmp(argv[1], test_cases[i].name) != 0) continue;
        test_failed_now = test_skipped_now = 0;
        fprintf(stderr, "[ run  ] %s\n", test_cases[i].name);
        test_cases[i].fn();
        const char *verdict = test_failed_now ? "FAIL" : test_skipped_now ? "skip" : " ok ";
        fprintf(stderr, "[ %s ] %s\n", verdict, test_cases[i].name);
        if (test_failed_now) failed++;
        else if (test_skipped_now) skipped++;
        else passed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#endif
