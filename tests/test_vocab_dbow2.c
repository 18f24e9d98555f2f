/* test_vocab_dbow2.c - DBoW2 / ORB-SLAM text vocabularies: export -> import is exact, a
 * hand-written file with a non-breadth-first node order is laid out as documented, and every
 * kind of malformed text gives DEJA_FORMAT with the line number. */
#include "test.h"
#include "test_util.h"
#include "test_vocab_util.h"
#include "vocab.h"

#include <unistd.h>

/* Random bit patterns below +inf exercise every exponent the text must carry. */
static float any_float(uint32_t w, uint64_t r)
{
    (void)w;
    uint32_t bits = (uint32_t)(r % 0x7f800000u);
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

/* Edge cases of float printing: zero, extremes, subnormals, integers past 2^24. */
static float small_weights(uint32_t w, uint64_t r)
{
    (void)r;
    static const float tricky[] = {
        0.0f,        1.0f, 0.1f,       1e-30f, 3.4028235e38f, 1.4e-45f, 1.17549435e-38f,
        123456.789f, 2.5f, 16777217.0f};
    return tricky[w % (sizeof tricky / sizeof tricky[0])];
}

TEST(export_then_import_is_exact)
{
    struct {
        uint32_t k, depth;
        int full;
        deja_weighting wt;
        float (*weight)(uint32_t, uint64_t);
    } cases[] = {{3, 3, 1, DEJA_WEIGHT_TF_IDF, any_float},
                 {4, 5, 0, DEJA_WEIGHT_IDF, any_float},
                 {2, 1, 1, DEJA_WEIGHT_TF, small_weights},
                 {7, 4, 0, DEJA_WEIGHT_BINARY, small_weights},
                 /* > 1 MiB of text: lines straddle the reader's chunks */
                 {10, 4, 1, DEJA_WEIGHT_TF_IDF, any_float}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        deja_vocab *v = test_make_vocab(cases[c].k, cases[c].depth, cases[c].full, DEJA_DESC_BINARY,
                                        32, cases[c].wt, 40 + c, cases[c].weight);
        const char *p = test_tmp_path("rt.txt"), *q = test_tmp_path("rt2.txt");
        ASSERT_OK(deja_vocab_export_dbow2(v, p));
        deja_vocab *w = NULL;
        ASSERT_OK(deja_vocab_import_dbow2(NULL, p, &w));
        EXPECT(test_same_vocab(v, w));
        if (!test_same_vocab(v, w)) TEST_FAIL_AT("case %zu differs", c);
        deja_vocab_info info;
        deja_vocab_get_info(w, &info);
        EXPECT_EQ(info.kind, DEJA_DESC_BINARY);
        EXPECT_EQ(info.desc_bytes, 32);
        EXPECT_EQ(info.n_nodes, v->n_nodes);
        EXPECT_EQ(info.weighting, cases[c].wt);
        EXPECT_EQ(info.mapped, 0);
        /* And the text itself is stable. */
        ASSERT_OK(deja_vocab_export_dbow2(w, q));
        size_t n1, n2;
        char *t1 = (char *)test_read_file(p, &n1), *t2 = (char *)test_read_file(q, &n2);
        EXPECT(n1 == n2 && memcmp(t1, t2, n1) == 0);
        if (c == 4) EXPECT_GE(n1, 1u << 20);
        free(t1);
        free(t2);
        deja_vocab_destroy(w);
        deja_vocab_destroy(v);
    }
}

TEST(exported_text_has_the_dbow2_layout)
{
    deja_vocab *v =
        test_make_vocab(2, 2, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_IDF, 5, small_weights);
    const char *p = test_tmp_path("layout.txt");
    ASSERT_OK(deja_vocab_export_dbow2(v, p));
    size_t n;
    char *t = (char *)test_read_file(p, &n);
    /* "k L scoring weighting", then node 1 (parent 0, inner, weight 0) ... node 3 a leaf. */
    EXPECT(strncmp(t, "2 2 0 2\n0 0 ", 12) == 0);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += t[i] == '\n';
    EXPECT_EQ(lines, 7); /* header + 6 nodes */
    char *l4 = t;
    for (int i = 0; i < 3; i++)
        l4 = strchr(l4, '\n') + 1;
    EXPECT(strncmp(l4, "1 1 ", 4) == 0); /* node 3: parent 1, leaf */
    char want[160];
    int m = snprintf(want, sizeof want, "%u", v->node_desc[3 * 32]);
    EXPECT(strncmp(l4 + 4, want, (size_t)m) == 0);
    char *eol = strchr(l4, '\n');
    EXPECT(eol - l4 > 2 && strncmp(eol - 2, " 0", 2) == 0); /* word 0 weight 0 */
    free(t);
    deja_vocab_destroy(v);
}

/* A node line: parent, leaf flag, 32 bytes b, b+1, ..., weight. */
static char *node_line(char *p, unsigned parent, int leaf, unsigned b, const char *weight)
{
    p += sprintf(p, "%u %d", parent, leaf);
    for (int i = 0; i < 32; i++)
        p += sprintf(p, " %u", b + (unsigned)i);
    return p + sprintf(p, " %s\n", weight);
}

TEST(import_relays_a_non_breadth_first_file)
{
    /* File order (ids): 1 root->inner, 2 1->leaf, 3 root->inner, 4 3->leaf, 5 1->leaf,
     * 6 root->leaf, 7 3->leaf. Breadth-first with children in file order:
     * new 0=root, 1=old1, 2=old3, 3=old6, 4=old2, 5=old5, 6=old4, 7=old7. */
    char text[4096], *p = text;
    p += sprintf(p, "3 2  1 1\r\n"); /* double blank and CRLF as some writers produce */
    p = node_line(p, 0, 0, 10, "0");
    p = node_line(p, 1, 1, 20, "0.5");
    p = node_line(p, 0, 0, 30, "0");
    p = node_line(p, 3, 1, 40, "1.5e-3");
    p = node_line(p, 1, 1, 50, "2");
    p = node_line(p, 0, 1, 60, "+7.25");
    p = node_line(p, 3, 1, 70, "1e+2");
    strcpy(p, "\n\n"); /* trailing blank lines are fine */
    const char *path = test_tmp_path("hand.txt");
    ASSERT(test_write_file(path, text, strlen(text)));
    deja_vocab *v = NULL;
    ASSERT_OK(deja_vocab_import_dbow2(NULL, path, &v));
    ASSERT_EQ(v->n_nodes, 8);
    ASSERT_EQ(v->n_words, 5);
    EXPECT_EQ(v->k, 3);
    EXPECT_EQ(v->depth, 2);
    EXPECT_EQ(v->weighting, DEJA_WEIGHT_TF);
    const uint32_t cb[9] = {1, 4, 6, 8, 8, 8, 8, 8, 8};
    const uint32_t nw[8] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, 0, 1, 2, 3, 4};
    const unsigned first_byte[8] = {0, 10, 30, 60, 20, 50, 40, 70};
    const float ww[5] = {7.25f, 0.5f, 2.0f, 1.5e-3f, 100.0f};
    for (int i = 0; i < 9; i++)
        EXPECT_EQ(v->child_begin[i], cb[i]);
    for (int i = 0; i < 8; i++) {
        EXPECT_EQ(v->node_word[i], nw[i]);
        EXPECT_EQ(v->node_desc[i * 32], first_byte[i]);
        EXPECT_EQ(v->node_desc[i * 32 + 31], i ? (first_byte[i] + 31) % 256 : 0);
    }
    for (int w = 0; w < 5; w++)
        EXPECT(v->word_weight[w] == ww[w]);
    deja_vocab_destroy(v);
}

/* Import text expecting DEJA_FORMAT (or st) and a message containing needle. */
static int import_fails(const char *text, deja_status st, const char *needle)
{
    const char *path = test_tmp_path("bad.txt");
    if (!test_write_file(path, text, strlen(text))) return 0;
    deja_vocab *v = NULL;
    deja_status got = deja_vocab_import_dbow2(NULL, path, &v);
    if (got == DEJA_OK) deja_vocab_destroy(v);
    const char *m = deja_last_error();
    int ok = got == st && strstr(m, "vocab_dbow2.c:") == m && strstr(m, "bad.txt line ") &&
             strstr(m, needle);
    if (!ok)
        fprintf(stderr, "    got %s (%s), expected %s with '%s'\n", deja_status_name(got),
                got ? m : "", deja_status_name(st), needle);
    return ok;
}

TEST(malformed_text_names_the_line)
{
    char good[2][1024], text[8192], *p;
    node_line(good[0], 0, 0, 1, "0");
    node_line(good[1], 1, 1, 2, "0.25");
    const char *hdr = "2 2 0 0\n";
#define BUILD(...)                                                                                 \
    do {                                                                                           \
        p = text;                                                                                  \
        p += sprintf(p, __VA_ARGS__);                                                              \
    } while (0)
    int bad = 0;
    bad += !import_fails("", DEJA_FORMAT, "line 1: empty file");
    bad += !import_fails("\n\n", DEJA_FORMAT, "line 1: empty file");
    bad += !import_fails("10 6 0\n", DEJA_FORMAT, "line 1: expected \"k L scoring weighting\"");
    bad += !import_fails("10 6 0 0 0\n", DEJA_FORMAT, "line 1: expected");
    bad += !import_fails("0 6 0 0\n", DEJA_FORMAT, "line 1: k '0' is not an integer in 1..256");
    bad += !import_fails("10 17 0 0\n", DEJA_FORMAT, "line 1: L '17'");
    bad += !import_fails("10 6 6 0\n", DEJA_FORMAT, "line 1: scoring '6'");
    bad += !import_fails("10 6 0 4\n", DEJA_FORMAT, "line 1: weighting '4'");
    bad += !import_fails("10 six 0 0\n", DEJA_FORMAT, "line 1: L 'six'");
    bad += !import_fails("10 6 0 0\n", DEJA_FORMAT, "line 2: no node lines");
    /* missing bytes */
    BUILD("%s%s0 1 1 2 3 4 5 6 7 8 9 10 11 12 0.5\n", hdr, good[0]);
    bad += !import_fails(text, DEJA_FORMAT,
                         "line 3: expected 32 descriptor bytes and a weight, found 13 values");
    /* byte 300 */
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 1, 1, 300, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: descriptor byte 0 '300' is not an integer");
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 1, 1, 250, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: descriptor byte 6 '256' is not an integer");
    /* parent id forward, equal to itself, out of range, negative */
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 3, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: parent id '3' is not an earlier node");
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 2, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: parent id '2'");
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 4294967295u, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: parent id '4294967295'");
    BUILD("%s%s-1 1 %s", hdr, good[0], good[1] + 4);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: parent id '-1'");
    BUILD("%s%s99999999999999999999 1 %s", hdr, good[0], good[1] + 4);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: parent id '99999999999999999999'");
    /* weights */
    const char *bad_weights[] = {"nan", "NaN", "inf", "-inf", "1e999", "-0.5",
                                 "abc", "0x",  "1e",  "--1",  "1.2.3"};
    for (size_t i = 0; i < sizeof bad_weights / sizeof bad_weights[0]; i++) {
        BUILD("%s%s", hdr, good[0]);
        node_line(p, 1, 1, 0, bad_weights[i]);
        char needle[64];
        snprintf(needle, sizeof needle, "line 3: weight '%s' is not", bad_weights[i]);
        bad += !import_fails(text, DEJA_FORMAT, needle);
    }
    /* truncated last line (no newline, cut mid-descriptor) */
    BUILD("%s%s%.40s", hdr, good[0], good[1]);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: expected 32 descriptor bytes");
    /* structure */
    BUILD("%s%s", hdr, good[1]);
    bad += !import_fails(text, DEJA_FORMAT, "line 2: parent id '1' is not an earlier node");
    BUILD("%s%s%s", hdr, good[0], good[1]);
    node_line(p, 2, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 4: parent 2 is a leaf (line 3)");
    BUILD("%s%s%s%s", hdr, good[0], good[1], good[1]);
    node_line(p, 1, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 5: node 1 gets more than k = 2 children");
    BUILD("%s%s", hdr, good[0]);
    p = node_line(p, 1, 0, 0, "0");
    node_line(p, 2, 1, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 4: node 3 is at depth 3 > L = 2");
    BUILD("%s%s%s", hdr, good[0], good[1]);
    node_line(p, 0, 0, 0, "0");
    bad += !import_fails(text, DEJA_FORMAT, "line 4: node 3 is marked inner");
    BUILD("%s%s", hdr, good[0]);
    node_line(p, 1, 2, 0, "1");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: is_leaf '2' is not 0 or 1");
    BUILD("%s%s\n%s", hdr, good[0], good[1]);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: empty line inside");
    BUILD("%s%s", hdr, good[0]);
    p = node_line(p, 1, 1, 0, "1");
    p[-1] = ' ';
    memset(p, '7', 5000);
    strcpy(p + 5000, "\n");
    bad += !import_fails(text, DEJA_FORMAT, "line 3: longer than 4096 bytes");
    BUILD("%s%s1 1 0\n", hdr, good[0]);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: expected 32 descriptor bytes");
    BUILD("%s%s1\n", hdr, good[0]);
    bad += !import_fails(text, DEJA_FORMAT, "line 3: expected \"parent is_leaf d0 .. d31");
#undef BUILD
    EXPECT_EQ(bad, 0);
}

TEST(io_errors_and_unsupported_vocabularies)
{
    deja_vocab *v = NULL;
    EXPECT_STATUS(deja_vocab_import_dbow2(NULL, test_tmp_path("missing.txt"), &v), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "missing.txt: cannot open: No such file"));
    EXPECT_STATUS(deja_vocab_import_dbow2(NULL, NULL, &v), DEJA_INVALID_ARG);
    EXPECT(v == NULL);
    deja_allocator a = deja__allocator(NULL);
    ASSERT_OK(deja__vocab_alloc(&a, DEJA_DESC_FLOAT32, 64, 3, 2, &v));
    EXPECT_STATUS(deja_vocab_export_dbow2(v, test_tmp_path("f.txt")), DEJA_UNSUPPORTED);
    deja_vocab_destroy(v);
    deja_vocab *w =
        test_make_vocab(2, 2, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF, 9, any_float);
    EXPECT_STATUS(deja_vocab_export_dbow2(w, "/nonexistent-dir/voc.txt"), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "/nonexistent-dir/voc.txt.tmp: cannot create"));
    deja_vocab_destroy(w);
}

TEST(import_allocates_through_the_hook_and_not_per_line)
{
    /* 11111 nodes */
    deja_vocab *v =
        test_make_vocab(10, 4, 1, DEJA_DESC_BINARY, 32, DEJA_WEIGHT_TF_IDF, 77, any_float);
    const char *p = test_tmp_path("alloc.txt");
    ASSERT_OK(deja_vocab_export_dbow2(v, p));
    deja_vocab_destroy(v);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    ASSERT_OK(deja_vocab_import_dbow2(&o, p, &v));
    EXPECT_LE(c.calls, 12); /* buffers and the vocabulary, not one per line */
    deja_vocab_destroy(v);
    EXPECT_EQ(c.live, 0);
    const char *bad = "2 2 0 0\n0 0 1\n";
    ASSERT(test_write_file(p, bad, strlen(bad)));
    EXPECT_STATUS(deja_vocab_import_dbow2(&o, p, &v), DEJA_FORMAT);
    EXPECT_EQ(c.live, 0);
}

TEST(zz_cleanup)
{
    if (!test_tmp_dir()[0]) return;
    const char *names[] = {"rt.txt", "rt2.txt", "layout.txt", "hand.txt", "bad.txt", "alloc.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(test_tmp_path(names[i]));
    EXPECT_EQ(rmdir(test_tmp_dir()), 0);
}
