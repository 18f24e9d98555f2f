/* test_base.c - status names, error text, allocator hook, growable buffers, checksum, pool. */
#include "base.h"
#include "pool.h"
#include "test.h"
#include "test_util.h"

TEST(status_names_cover_every_status)
{
    EXPECT(strcmp(deja_status_name(DEJA_OK), "OK") == 0);
    EXPECT(strcmp(deja_status_name(DEJA_FORMAT), "FORMAT") == 0);
    EXPECT(strcmp(deja_status_name((deja_status)999), "UNKNOWN") == 0);
}

TEST(errors_say_file_line_and_message)
{
    char buf[DEJA_ERROR_BYTES];
    deja_status st = DEJA_ERR(buf, DEJA_FORMAT, "byte %d: bad", 40);
    EXPECT_EQ(st, DEJA_FORMAT);
    EXPECT(strstr(buf, "test_base.c:") == buf);
    EXPECT(strstr(buf, ": byte 40: bad") != NULL);
    EXPECT(strcmp(buf, deja_last_error()) == 0);
}

TEST(reserve_grows_geometrically_and_frees_exact_sizes)
{
    test_counter c = {0};
    deja_allocator a = test_counting_allocator(&c);
    int *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 10000; i++) {
        ASSERT(deja__reserve(&a, (void **)&buf, &cap, i + 1, sizeof *buf));
        buf[i] = (int)i;
    }
    EXPECT_LE(c.calls, 30); /* geometric: ~log1.5(10000/16) + 1 */
    EXPECT_EQ(buf[9999], 9999);
    EXPECT_EQ(buf[123], 123);
    deja__free(&a, buf, cap * sizeof *buf);
    EXPECT_EQ(c.live, 0);
}

TEST(reserve_reports_overflow)
{
    deja_allocator a = deja__allocator(NULL);
    void *buf = NULL;
    size_t cap = 0;
    EXPECT(!deja__reserve(&a, &buf, &cap, SIZE_MAX / 2, 8));
    EXPECT(buf == NULL);
}

TEST(hash_is_stable_and_sensitive_to_every_byte)
{
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (uint8_t)(i * 7);
    uint64_t h = deja__hash64(data, sizeof data, 0);
    EXPECT(h == deja__hash64(data, sizeof data, 0));
    EXPECT(h != deja__hash64(data, sizeof data, 1));
    for (int i = 0; i < 1000; i += 37) {
        data[i] ^= 1;
        EXPECT(h != deja__hash64(data, sizeof data, 0));
        data[i] ^= 1;
    }
    for (size_t n = 0; n < 70; n++) EXPECT(deja__hash64(data, n, 0) != deja__hash64(data, n + 1, 0));
    uint32_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    EXPECT_EQ(first, 1); /* file formats assume a little-endian host */
}

static void sum_slice(void *ctx, size_t b, size_t e, int worker)
{
    uint64_t *sums = ctx;
    for (size_t i = b; i < e; i++) sums[worker] += i;
}

TEST(pool_covers_every_index_once)
{
    deja_allocator a = deja__allocator(NULL);
    for (int t = 1; t <= 3; t++) {
        deja__pool *p;
        ASSERT_OK(deja__pool_create(&a, t, &p));
        EXPECT_EQ(deja__pool_threads(p), t);
        for (int rep = 0; rep < 50; rep++) {
            uint64_t sums[8] = {0};
            size_t n = 1000 + (size_t)rep;
            deja__pool_for(p, n, sum_slice, sums);
            uint64_t total = 0;
            for (int i = 0; i < 8; i++) total += sums[i];
            EXPECT_EQ(total, (uint64_t)n * (n - 1) / 2);
        }
        deja__pool_destroy(p);
    }
}
