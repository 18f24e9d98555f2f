/* test_vocab_file.c - the .dvoc binary vocabulary: round trips (mapped and owned), info, every
 * truncation and every byte flip of a small file, hand-crafted hostile headers, I/O errors. The
 * format constants below are the documented layout (docs/vocab.md), restated on purpose: a change
 * to the file layout must show up here. */
#include "test.h"
#include "test_util.h"
#include "test_vocab_util.h"
#include "vocab.h"

#include <sys/stat.h>
#include <unistd.h>

/* Layout from docs/vocab.md. */
#define HDR            192
#define SEED_HEADER    0x4844u
#define SEED_TOPO      0x5444u
#define SEED_PAYLOAD   0x5044u
#define OFF_SECTION(i) (56 + 16 * (i))

/* Random positive weights with a spread of magnitudes (TF vocabularies get 1 instead). */
static float spread(uint32_t w, uint64_t r)
{
    (void)w;
    return (float)(r % 100000) / 7919.0f;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}
static void wr32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}
static void rehash_header(uint8_t *f)
{
    wr64(f + 184, deja__hash64(f, 184, SEED_HEADER));
}

/* Load path expecting st; when st is not OK the message must contain each non-NULL needle. */
static int load_expect(const char *path, unsigned flags, deja_status st, const char *n1,
                       const char *n2)
{
    deja_vocab *v = NULL;
    deja_status got = deja_vocab_load(NULL, path, flags, &v);
    if (got == DEJA_OK) deja_vocab_destroy(v);
    int ok = got == st;
    if (ok && st != DEJA_OK) {
        const char *m = deja_last_error();
        ok = (strstr(m, "vocab_file.c:") == m || strstr(m, "vocab.c:") == m) &&
             (!n1 || strstr(m, n1)) && (!n2 || strstr(m, n2));
    }
    if (!ok)
        fprintf(stderr, "    load %s: got %s (%s), expected %s with '%s' '%s'\n", path,
                deja_status_name(got), got ? deja_last_error() : "", deja_status_name(st),
                n1 ? n1 : "", n2 ? n2 : "");
    return ok;
}

TEST(save_load_round_trip_is_exact_mapped_and_verified)
{
    struct {
        uint32_t k, depth;
        int full;
        deja_desc_kind kind;
        uint32_t desc_bytes;
        deja_weighting wt;
    } cases[] = {{3, 3, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF},
                 {4, 5, 0, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_IDF},
                 {5, 3, 0, DEJA_DESC_FLOAT32, 4 * 7, DEJA_WEIGHT_TF},
                 {1, 1, 1, DEJA_DESC_BINARY, 3, DEJA_WEIGHT_BINARY},
                 {10, 4, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF},
                 {9, 6, 0, DEJA_DESC_BINARY, 61, DEJA_WEIGHT_TF_IDF}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        deja_vocab *v = test_make_vocab(cases[c].k, cases[c].depth, cases[c].full, cases[c].kind,
                                        cases[c].desc_bytes, cases[c].wt, 100 + c,
                                        cases[c].wt == DEJA_WEIGHT_TF ? NULL : spread);
        const char *p = test_tmp_path("rt.dvoc");
        ASSERT_OK(deja_vocab_save(v, p));
        EXPECT(access(test_tmp_path("rt.dvoc.tmp"), F_OK) != 0); /* renamed away */
        for (unsigned flags = 0; flags <= DEJA_VOCAB_VERIFY; flags++) {
            deja_vocab *l = NULL;
            ASSERT_OK(deja_vocab_load(NULL, p, flags, &l));
            EXPECT(test_same_vocab(v, l));
            EXPECT(l->map != NULL && l->owned == NULL);
            /* Sections are 64-byte aligned in memory too (the mapping is page aligned). */
            EXPECT((uintptr_t)l->child_begin % 64 == 0 && (uintptr_t)l->node_desc % 64 == 0);
            deja_vocab_info info;
            deja_vocab_get_info(l, &info);
            struct stat st;
            ASSERT(stat(p, &st) == 0);
            EXPECT_EQ(info.kind, cases[c].kind);
            EXPECT_EQ(info.desc_bytes, cases[c].desc_bytes);
            EXPECT_EQ(info.k, cases[c].full ? cases[c].k : v->k);
            EXPECT_EQ(info.depth, cases[c].full ? cases[c].depth : v->depth);
            EXPECT_EQ(info.n_nodes, v->n_nodes);
            EXPECT_EQ(info.n_words, v->n_words);
            EXPECT_EQ(info.weighting, cases[c].wt);
            EXPECT_EQ(info.payload_bytes, (uint64_t)st.st_size - HDR);
            EXPECT(info.checksum != 0);
            EXPECT_EQ(info.mapped, 1);
            /* A mapped vocabulary saves to the same bytes. */
            const char *p2 = test_tmp_path("rt2.dvoc");
            ASSERT_OK(deja_vocab_save(l, p2));
            size_t n1, n2;
            uint8_t *b1 = test_read_file(p, &n1), *b2 = test_read_file(p2, &n2);
            EXPECT(n1 == n2 && memcmp(b1, b2, n1) == 0);
            free(b1);
            free(b2);
            deja_vocab_destroy(l);
        }
        deja_vocab_info info;
        deja_vocab_get_info(v, &info);
        EXPECT_EQ(info.mapped, 0);
        EXPECT_EQ(info.payload_bytes, 0);
        deja_vocab_destroy(v);
    }
}

TEST(file_layout_matches_the_documentation)
{
    deja_vocab *v = test_make_vocab(3, 3, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF, 7, spread);
    const char *p = test_tmp_path("layout.dvoc");
    ASSERT_OK(deja_vocab_save(v, p));
    size_t n;
    uint8_t *f = test_read_file(p, &n);
    EXPECT(memcmp(f, "DEJAVOC\0", 8) == 0);
    EXPECT_EQ(f[8], 1);    /* version */
    EXPECT_EQ(f[12], HDR); /* header bytes */
    EXPECT_EQ(f[16], DEJA_DESC_BINARY);
    EXPECT_EQ(f[20], 32);
    EXPECT_EQ(rd64(f + 24) & 0xffffffffu, 40); /* 1 + 3 + 9 + 27 nodes */
    EXPECT_EQ(rd64(f + 28) & 0xffffffffu, 27);
    EXPECT_EQ(f[32], 3);
    EXPECT_EQ(f[36], 3);
    EXPECT_EQ(rd64(f + 48), n);
    uint64_t sz[4] = {41 * 4, 40 * 4, 27 * 4, 40 * 32}, end = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t off = rd64(f + OFF_SECTION(i));
        EXPECT_EQ(off % 64, 0);
        EXPECT_GE(off, end);
        EXPECT_EQ(rd64(f + OFF_SECTION(i) + 8), sz[i]);
        end = off + sz[i];
    }
    EXPECT_EQ(end, n);
    EXPECT_EQ(memcmp(f + rd64(f + OFF_SECTION(0)), v->child_begin, sz[0]), 0);
    EXPECT_EQ(memcmp(f + rd64(f + OFF_SECTION(3)), v->node_desc, sz[3]), 0);
    /* Checksums as documented: header, topology chain, payload in 1 MiB blocks. */
    EXPECT(rd64(f + 184) == deja__hash64(f, 184, SEED_HEADER));
    uint64_t t = deja__hash64(v->child_begin, sz[0], SEED_TOPO);
    t = deja__hash64(v->node_word, sz[1], t);
    t = deja__hash64(v->word_weight, sz[2], t);
    EXPECT(rd64(f + 120) == t);
    EXPECT(rd64(f + 128) == deja__hash64(f + HDR, n - HDR, SEED_PAYLOAD));
    free(f);
    deja_vocab_destroy(v);
}

/* A small vocabulary (k = depth = 3, full or not) saved as name and read back into memory to
 * edit; NULL (and the test fails) if the save does. */
static uint8_t *saved_file(int full, deja_desc_kind kind, uint32_t desc_bytes, uint64_t seed,
                           const char *name, size_t *n)
{
    deja_vocab *v = test_make_vocab(3, 3, full, kind, desc_bytes, DEJA_WEIGHT_TF_IDF, seed, spread);
    const char *p = test_tmp_path(name);
    deja_status st = deja_vocab_save(v, p);
    deja_vocab_destroy(v);
    EXPECT_STATUS(st, DEJA_OK);
    return st == DEJA_OK ? test_read_file(p, n) : NULL;
}

/* A valid small file in memory to edit. */
static uint8_t *valid_file(deja_desc_kind kind, uint32_t desc_bytes, size_t *n)
{
    uint8_t *f = saved_file(1, kind, desc_bytes, 21, "valid.dvoc", n);
    if (!f) abort();
    return f;
}

TEST(every_truncation_is_a_format_error)
{
    size_t n;
    uint8_t *f = saved_file(0, DEJA_DESC_BINARY, 32, 11, "trunc_src.dvoc", &n);
    ASSERT(f != NULL);
    const char *q = test_tmp_path("trunc.dvoc");
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        ASSERT(test_write_file(q, f, len));
        for (unsigned flags = 0; flags <= DEJA_VOCAB_VERIFY; flags++)
            bad += !load_expect(q, flags, DEJA_FORMAT, "trunc.dvoc byte ", NULL);
    }
    /* Trailing garbage too. */
    uint8_t *g = malloc(n + 64);
    memcpy(g, f, n);
    memset(g + n, 0, 64);
    for (size_t extra = 1; extra <= 64; extra += 21) {
        ASSERT(test_write_file(q, g, n + extra));
        bad += !load_expect(q, 0, DEJA_FORMAT, "byte 48: file_bytes", NULL);
    }
    EXPECT_EQ(bad, 0);
    free(g);
    free(f);
}

TEST(every_byte_flip_is_detected_with_verify_and_never_crashes)
{
    size_t n;
    uint8_t *f = saved_file(0, DEJA_DESC_BINARY, 32, 12, "flip_src.dvoc", &n);
    ASSERT(f != NULL);
    const char *q = test_tmp_path("flip.dvoc");
    int missed = 0, bad_status = 0, plain_ok_checked = 0, plain_ok = 0;
    for (size_t i = 0; i < n; i++) {
        f[i] ^= 0xA5;
        ASSERT(test_write_file(q, f, n));
        deja_vocab *l = NULL;
        deja_status s = deja_vocab_load(NULL, q, DEJA_VOCAB_VERIFY, &l);
        if (s == DEJA_OK) {
            missed++;
            deja_vocab_destroy(l);
        } else if (s != DEJA_FORMAT && !(s == DEJA_UNSUPPORTED && i >= 8 && i < 12)) {
            bad_status++;
        }
        /* Without VERIFY the header and the topology sections are checked: a flip there must
         * be caught; one in the centroids or in padding may load. */
        s = deja_vocab_load(NULL, q, 0, &l);
        if (s == DEJA_OK) {
            plain_ok++;
            int checked = i < HDR;
            for (int k = 0; k < 3; k++) {
                uint64_t o = rd64(f + OFF_SECTION(k)), sz = rd64(f + OFF_SECTION(k) + 8);
                checked |= i >= o && i < o + sz;
            }
            plain_ok_checked += checked;
            deja_vocab_destroy(l);
        }
        f[i] ^= 0xA5;
    }
    EXPECT_EQ(missed, 0);
    EXPECT_EQ(bad_status, 0);
    EXPECT_EQ(plain_ok_checked, 0);
    EXPECT_GE(plain_ok, 1); /* centroid flips load without VERIFY, by design */
    free(f);
}

typedef struct {
    unsigned at, width;
    uint64_t value;
    deja_status st;
    const char *n1, *n2;
} edit;

TEST(hostile_headers_name_the_field_and_its_byte)
{
    size_t n;
    uint8_t *f = valid_file(DEJA_DESC_BINARY, 32, &n);
    uint64_t cb = rd64(f + OFF_SECTION(0)), nw = rd64(f + OFF_SECTION(1));
    const edit edits[] = {
        {24, 4, 0xffffffffu, DEJA_FORMAT,
         "hostile.dvoc byte 24: n_nodes 4294967295 > limit 67108864", NULL},
        {24, 4, 0, DEJA_FORMAT, "byte 24: n_nodes 0 < minimum 1", NULL},
        {28, 4, 41, DEJA_FORMAT, "byte 28: n_words 41 > limit 40", NULL},
        {16, 4, 7, DEJA_FORMAT, "byte 16: descriptor kind 7", NULL},
        {20, 4, 0, DEJA_FORMAT, "byte 20: desc_bytes 0 < minimum 1", NULL},
        {20, 4, 0x7fffffff, DEJA_FORMAT, "byte 20: desc_bytes 2147483647 > limit", NULL},
        {32, 4, 1000, DEJA_FORMAT, "byte 32: k 1000 > limit 256", NULL},
        {36, 4, 99, DEJA_FORMAT, "byte 36: depth 99 > limit 16", NULL},
        {40, 4, 9, DEJA_FORMAT, "byte 40: weighting 9 > limit 3", NULL},
        {44, 4, 1, DEJA_FORMAT, "byte 44: flags 1 > limit 0", NULL},
        {150, 1, 5, DEJA_FORMAT, "byte 150: reserved byte is 5", NULL},
        {8, 4, 0, DEJA_FORMAT, "byte 8: version 0 < minimum 1", NULL},
        {8, 4, 2, DEJA_UNSUPPORTED, "byte 8: version 2 > supported 1", NULL},
        {12, 4, 128, DEJA_FORMAT, "byte 12: header_bytes 128", NULL},
        {48, 8, n - 64, DEJA_FORMAT, "byte 48: file_bytes", "!= file size"},
        {48, 8, UINT64_MAX, DEJA_FORMAT, "byte 48: file_bytes 18446744073709551615", NULL},
        /* sections */
        {OFF_SECTION(0) + 8, 8, 8, DEJA_FORMAT, "byte 64: child_begin bytes 8 != 164", NULL},
        {OFF_SECTION(1), 8, nw + 4, DEJA_FORMAT, "byte 72: node_word offset",
         "not 64-byte aligned"},
        {OFF_SECTION(1), 8, cb, DEJA_FORMAT, "byte 72: node_word", "overlaps child_begin"},
        {OFF_SECTION(3), 8, (uint64_t)1 << 62, DEJA_FORMAT, "byte 104: node_desc",
         "ends past the file"},
        {OFF_SECTION(3), 8, UINT64_MAX & ~(uint64_t)63, DEJA_FORMAT, "byte 104: node_desc",
         "ends past the file"},
        {OFF_SECTION(0), 8, 0, DEJA_FORMAT, "byte 56: child_begin offset 0 < limit 192", NULL},
        {OFF_SECTION(0), 8, 128, DEJA_FORMAT, "byte 56: child_begin offset 128", NULL},
        {OFF_SECTION(3), 8, n - 1280 + 64, DEJA_FORMAT, "byte 104: node_desc", NULL},
        /* a header whose counts lie about the tree */
        {32, 4, 4, DEJA_FORMAT, "byte 32: k 4, depth 3 in the header but the tree has fan-out 3",
         NULL},
        {120, 8, 12345, DEJA_FORMAT, "byte 120: topology checksum", NULL},
    };
    const char *q = test_tmp_path("hostile.dvoc");
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        uint8_t *g = malloc(n);
        memcpy(g, f, n);
        if (edits[e].width == 1)
            g[edits[e].at] = (uint8_t)edits[e].value;
        else if (edits[e].width == 4)
            wr32(g + edits[e].at, (uint32_t)edits[e].value);
        else
            wr64(g + edits[e].at, edits[e].value);
        rehash_header(g);
        ASSERT(test_write_file(q, g, n));
        if (!load_expect(q, 0, edits[e].st, edits[e].n1, edits[e].n2))
            TEST_FAIL_AT("edit %zu (byte %u)", e, edits[e].at);
        free(g);
    }
    /* Edits without fixing the header checksum, and a bad magic. */
    f[30] ^= 1;
    ASSERT(test_write_file(q, f, n));
    EXPECT(load_expect(q, 0, DEJA_FORMAT, "byte 184: header checksum", NULL));
    f[30] ^= 1;
    f[2] = 'X';
    ASSERT(test_write_file(q, f, n));
    EXPECT(load_expect(q, 0, DEJA_FORMAT, "hostile.dvoc byte 0: bad magic", NULL));
    free(f);
}

/* A topology edited with its checksum recomputed reaches deja__vocab_validate. */
TEST(hostile_topology_with_a_matching_checksum_is_rejected)
{
    size_t n;
    uint8_t *f = valid_file(DEJA_DESC_BINARY, 32, &n);
    const char *q = test_tmp_path("topo.dvoc");
    uint64_t off[3], sz[3];
    for (int i = 0; i < 3; i++) {
        off[i] = rd64(f + OFF_SECTION(i));
        sz[i] = rd64(f + OFF_SECTION(i) + 8);
    }
    struct {
        int section;
        uint32_t index, value;
        const char *needle;
    } edits[] = {
        {0, 1, 0, "not after it"},                     /* a child pointing back at the root */
        {0, 2, 1000000, "node 1 has 999996 children"}, /* fan-out past the limit */
        {0, 40, 39, "root children"},                  /* child_begin[n] != n */
        {1, 20, 100, "leaf 20 has word 100"},          /* word out of range */
        {1, 1, 0, "inner node 1 carries word"},        /* inner node with a word */
        {2, 3, 0x7fc00000u, "weight nan"},             /* NaN weight */
        {2, 4, 0xbf800000u, "weight -1"},              /* negative weight */
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        uint8_t *g = malloc(n);
        memcpy(g, f, n);
        wr32(g + off[edits[e].section] + 4 * edits[e].index, edits[e].value);
        uint64_t t = deja__hash64(g + off[0], sz[0], SEED_TOPO);
        t = deja__hash64(g + off[1], sz[1], t);
        t = deja__hash64(g + off[2], sz[2], t);
        wr64(g + 120, t);
        rehash_header(g);
        ASSERT(test_write_file(q, g, n));
        if (!load_expect(q, 0, DEJA_FORMAT, "topo.dvoc", edits[e].needle))
            TEST_FAIL_AT("topology edit %zu", e);
        free(g);
    }
    free(f);
}

TEST(verify_checks_the_payload_checksum_and_finite_centroids)
{
    size_t n;
    uint8_t *f = valid_file(DEJA_DESC_FLOAT32, 16, &n);
    const char *q = test_tmp_path("payload.dvoc");
    uint64_t desc = rd64(f + OFF_SECTION(3));
    /* A centroid changed: loads without VERIFY (by design), fails the checksum with it. */
    f[desc + 16 * 5 + 2] ^= 0x10;
    ASSERT(test_write_file(q, f, n));
    EXPECT(load_expect(q, 0, DEJA_OK, NULL, NULL));
    EXPECT(load_expect(q, DEJA_VOCAB_VERIFY, DEJA_FORMAT, "byte 128: payload checksum", NULL));
    /* A NaN centroid with the checksum recomputed: only the finiteness check catches it. */
    wr32(f + desc + 16 * 7 + 8, 0x7fc00000u);
    wr64(f + 128, deja__hash64(f + HDR, n - HDR, SEED_PAYLOAD));
    rehash_header(f);
    ASSERT(test_write_file(q, f, n));
    EXPECT(load_expect(q, 0, DEJA_OK, NULL, NULL));
    char needle[64];
    snprintf(needle, sizeof needle, "byte %llu: node 7 centroid[2] is nan",
             (unsigned long long)(desc + 16 * 7 + 8));
    EXPECT(load_expect(q, DEJA_VOCAB_VERIFY, DEJA_FORMAT, needle, NULL));
    free(f);
}

TEST(io_errors_and_bad_arguments)
{
    deja_vocab *v = NULL;
    EXPECT(load_expect(test_tmp_path("missing.dvoc"), 0, DEJA_IO, "missing.dvoc: cannot open",
                       "No such file"));
    EXPECT(load_expect(test_tmp_dir(), 0, DEJA_IO, "not a regular file", NULL));
    EXPECT_STATUS(deja_vocab_load(NULL, NULL, 0, &v), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_vocab_load(NULL, "x", 2, &v), DEJA_INVALID_ARG);
    EXPECT(v == NULL);
    deja_vocab *w = test_make_vocab(2, 2, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF, 3, spread);
    EXPECT_STATUS(deja_vocab_save(w, "/nonexistent-dir/x.dvoc"), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "/nonexistent-dir/x.dvoc.tmp: cannot create: No such file"));
    EXPECT_STATUS(deja_vocab_save(NULL, "x"), DEJA_INVALID_ARG);
    /* Saving over an existing file replaces it whole. */
    const char *p = test_tmp_path("replace.dvoc");
    ASSERT(test_write_file(p, "old contents", 12));
    ASSERT_OK(deja_vocab_save(w, p));
    EXPECT(load_expect(p, DEJA_VOCAB_VERIFY, DEJA_OK, NULL, NULL));
    /* Renaming onto a directory fails after the write: the temporary file is removed. */
    const char *d = test_tmp_path("adir.dvoc");
    ASSERT(mkdir(d, 0700) == 0);
    EXPECT_STATUS(deja_vocab_save(w, d), DEJA_IO);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", d);
    EXPECT(access(tmp, F_OK) != 0);
    rmdir(d);
    deja_vocab_destroy(w);
}

TEST(load_uses_the_allocator_hook_and_frees_everything)
{
    deja_vocab *w = test_make_vocab(4, 3, 0, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF, 4, spread);
    const char *p = test_tmp_path("alloc.dvoc");
    ASSERT_OK(deja_vocab_save(w, p));
    deja_vocab_destroy(w);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_vocab *v = NULL;
    ASSERT_OK(deja_vocab_load(&o, p, DEJA_VOCAB_VERIFY, &v));
    EXPECT_EQ(c.calls, 1); /* the struct only: the arrays stay in the mapping */
    deja_vocab_destroy(v);
    EXPECT_EQ(c.live, 0);
    /* A failed load leaves nothing behind either. */
    ASSERT(test_write_file(p, "DEJAVOC", 8));
    EXPECT_STATUS(deja_vocab_load(&o, p, 0, &v), DEJA_FORMAT);
    EXPECT_EQ(c.live, 0);
}

/* Runs last (tests run in registration order): remove the scratch directory. */
TEST(zz_cleanup)
{
    if (!test_tmp_dir()[0]) return;
    const char *names[] = {"rt.dvoc",      "rt2.dvoc",      "layout.dvoc",  "trunc_src.dvoc",
                           "trunc.dvoc",   "flip_src.dvoc", "flip.dvoc",    "valid.dvoc",
                           "hostile.dvoc", "topo.dvoc",     "payload.dvoc", "replace.dvoc",
                           "alloc.dvoc"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(test_tmp_path(names[i]));
    EXPECT_EQ(rmdir(test_tmp_dir()), 0);
}
