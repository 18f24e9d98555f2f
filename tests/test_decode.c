/* test_decode.c - image input: exact round trips for every PGM/PPM/PNG layout, JPEG within a
 * small tolerance, every truncation and byte flip of small valid files (a status, never a crash),
 * limits checked before allocation, clear messages naming the file, buffer reuse, OOM sweeps.
 * PNG and JPEG inputs are written here with libpng / libjpeg directly, when the library was built
 * with them (DEJA_HAVE_PNG / DEJA_HAVE_JPEG, set for tests by CMakeLists.txt). */
#include "test.h"
#include "test_util.h"

#include "deja.h"

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef DEJA_HAVE_PNG
#include <png.h>
#endif
#ifdef DEJA_HAVE_JPEG
#include <jpeglib.h>
#endif

/* ---- helpers ----------------------------------------------------------------------------- */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void mb_append(membuf *m, const void *data, size_t n)
{
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p) abort();
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

/* Exact BT.601 luma of 8-bit samples, from the definition (ties cannot be misrounded: k.5 is
 * exact in binary and lround rounds it up). */
static int luma_ref(int r, int g, int b)
{
    return (int)lround((299.0 * r + 587.0 * g + 114.0 * b) / 1000.0);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* Every decode of a hostile input must give one of the defined statuses, and an OK image must
 * be in bounds; summing its pixels makes valgrind/MSan see any uninitialised byte. */
static void check_any_result(deja_decoder *d, const uint8_t *data, size_t n, const char *name)
{
    uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan catches reads past the end */
    memcpy(copy, data, n);
    deja_image im;
    deja_status st = deja_decoder_read_memory(d, copy, n, name, &im);
    EXPECT(st == DEJA_OK || st == DEJA_FORMAT || st == DEJA_LIMIT || st == DEJA_UNSUPPORTED);
    if (st == DEJA_OK) {
        EXPECT(im.width > 0 && im.height > 0 && im.stride >= im.width);
        unsigned sum = 0;
        for (int y = 0; y < im.height; y++)
            for (int x = 0; x < im.width; x++)
                sum += im.pixels[(size_t)y * im.stride + x];
        EXPECT(sum != 0xFFFFFFFFu); /* keeps the loop */
    } else {
        EXPECT(strstr(deja_decoder_error(d), name) != NULL);
    }
    free(copy);
}

/* Every strict prefix fails with FORMAT and a message naming the input. */
static void check_truncations(const uint8_t *data, size_t n, const char *name)
{
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, data, len);
        deja_image im;
        deja_status st = deja_decoder_read_memory(d, copy, len, name, &im);
        if (st != DEJA_FORMAT || !strstr(deja_decoder_error(d), name)) {
            if (bad++ < 5)
                TEST_FAIL_AT("%s cut to %zu of %zu bytes: %s (%s)", name, len, n,
                             deja_status_name(st), deja_decoder_error(d));
        }
        free(copy);
    }
    /* And the whole file still decodes with the same decoder afterwards. */
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, data, n, name, &im), DEJA_OK);
    deja_decoder_destroy(d);
}

/* Flip every byte (xor 0xFF), and every single bit of the first 64 bytes (the headers). */
static void check_flips(const uint8_t *data, size_t n, const char *name)
{
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, data, n);
        buf[i] ^= 0xFF;
        check_any_result(d, buf, n, name);
        for (int b = 0; i < 64 && b < 8; b++) {
            memcpy(buf, data, n);
            buf[i] ^= (uint8_t)(1u << b);
            check_any_result(d, buf, n, name);
        }
    }
    free(buf);
    deja_decoder_destroy(d);
}

/* Fails allocation call k for k = 0, 1, ... < max_k: every run is NOMEM or OK, never another
 * status, never a leak, and exactly one run gets past the last call. Decodes data[0..n) under
 * the given name, or the file at name when data is NULL. */
static void check_nomem_sweep(const uint8_t *data, size_t n, const char *name, long max_k)
{
    int ok_runs = 0;
    for (long k = 0; k < max_k && ok_runs == 0; k++) {
        test_counter c = {.fail_at = (size_t)k + 1}; /* call index k fails */
        deja_options o = test_counting_options(&c);
        deja_decoder *d = NULL;
        deja_status st = deja_decoder_create(&o, &d);
        deja_image im;
        if (st == DEJA_OK)
            st = data ? deja_decoder_read_memory(d, data, n, name, &im)
                      : deja_decoder_read_file(d, name, &im);
        if (st == DEJA_OK && (long)c.calls <= k) ok_runs++; /* k was past the last call */
        if (st != DEJA_OK && st != DEJA_NOMEM)
            TEST_FAIL_AT("%s, fail at %ld: %s (%s)", name, k, deja_status_name(st),
                         deja_last_error());
        deja_decoder_destroy(d);
        EXPECT_EQ(c.live, 0);
    }
    EXPECT_EQ(ok_runs, 1);
}

static membuf make_pnm(const char *magic, int w, int h, unsigned maxval, const void *raster,
                       size_t raster_bytes)
{
    membuf m = {0};
    char head[64];
    int k = snprintf(head, sizeof head, "%s\n%d %d\n%u\n", magic, w, h, maxval);
    mb_append(&m, head, (size_t)k);
    mb_append(&m, raster, raster_bytes);
    return m;
}

static membuf small_pgm(void)
{
    uint8_t px[16 * 12];
    for (int i = 0; i < 16 * 12; i++)
        px[i] = (uint8_t)(i * 7);
    return make_pnm("P5", 16, 12, 255, px, sizeof px);
}

/* ---- PGM / PPM --------------------------------------------------------------------------- */

TEST(pgm_round_trip_through_write_pgm_with_stride)
{
    enum { W = 37, H = 23, STRIDE = 40 };
    uint8_t px[STRIDE * H];
    for (int i = 0; i < STRIDE * H; i++)
        px[i] = (uint8_t)rnd();
    deja_image src = {W, H, STRIDE, px};
    const char *path = test_tmp_path("round.pgm");
    ASSERT_OK(deja_image_write_pgm(&src, path));
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    ASSERT_OK(deja_decoder_read_file(d, path, &im));
    ASSERT_EQ(im.width, W);
    ASSERT_EQ(im.height, H);
    int diff = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            diff += im.pixels[y * im.stride + x] != px[y * STRIDE + x];
    EXPECT_EQ(diff, 0);
    deja_decoder_destroy(d);
}

TEST(pgm_comments_and_maxval_are_scaled_with_rounding)
{
    /* Comments between every field; maxval 100: v * 255 / 100 rounded. */
    static const char head[] = "P5 # a comment\n3 # width\n#another\n2\n100\n";
    uint8_t px[6] = {0, 50, 100, 1, 99, 25};
    membuf m = {0};
    mb_append(&m, head, sizeof head - 1);
    mb_append(&m, px, sizeof px);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    ASSERT_OK(deja_decoder_read_memory(d, m.p, m.n, "c.pgm", &im));
    ASSERT_EQ(im.width, 3);
    ASSERT_EQ(im.height, 2);
    static const uint8_t want[6] = {0, 128, 255, 3, 252, 64}; /* 127.5 -> 128, 2.55 -> 3 ... */
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(im.pixels[(i / 3) * im.stride + i % 3], want[i]);
    /* A sample above maxval is corrupt. */
    m.p[m.n - 1] = 101;
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "c.pgm", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "maxval") != NULL);
    free(m.p);
    deja_decoder_destroy(d);
}

TEST(pgm_16bit_is_rounded_to_8bit)
{
    /* Big-endian samples; 65535 -> v / 257 rounded, 1000 -> v * 255 / 1000 rounded. */
    static const uint16_t v[6] = {0, 257, 65535, 32767, 32896, 1000};
    static const uint8_t want[6] = {0, 1, 255, 127, 128, 4};
    uint8_t raw[12];
    for (int i = 0; i < 6; i++)
        raw[2 * i] = (uint8_t)(v[i] >> 8), raw[2 * i + 1] = (uint8_t)v[i];
    membuf m = make_pnm("P5", 6, 1, 65535, raw, sizeof raw);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    ASSERT_OK(deja_decoder_read_memory(d, m.p, m.n, "w.pgm", &im));
    ASSERT_EQ(im.width, 6);
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(im.pixels[i], want[i]);
    free(m.p);
    static const uint16_t v2[3] = {500, 1000, 2}; /* maxval 1000: 127.5 -> 128, 255, 0.51 -> 1 */
    for (int i = 0; i < 3; i++)
        raw[2 * i] = (uint8_t)(v2[i] >> 8), raw[2 * i + 1] = (uint8_t)v2[i];
    m = make_pnm("P5", 3, 1, 1000, raw, 6);
    ASSERT_OK(deja_decoder_read_memory(d, m.p, m.n, "k.pgm", &im));
    EXPECT_EQ(im.pixels[0], 128);
    EXPECT_EQ(im.pixels[1], 255);
    EXPECT_EQ(im.pixels[2], 1);
    raw[0] = 0x03, raw[1] = 0xE9; /* 1001 > maxval */
    free(m.p);
    m = make_pnm("P5", 3, 1, 1000, raw, 6);
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "k.pgm", &im), DEJA_FORMAT);
    free(m.p);
    deja_decoder_destroy(d);
}

TEST(ppm_colour_gives_bt601_grey)
{
    /* Hand-computed: 0.299*255 = 76.245, 0.587*255 = 149.685, 0.114*255 = 29.07,
     * (10,20,30) -> 2.99 + 11.74 + 3.42 = 18.15, (100,200,50) -> 29.9 + 117.4 + 5.7 = 153. */
    static const uint8_t rgb[7][3] = {{255, 0, 0}, {0, 255, 0},  {0, 0, 255},   {255, 255, 255},
                                      {0, 0, 0},   {10, 20, 30}, {100, 200, 50}};
    static const uint8_t want[7] = {76, 150, 29, 255, 0, 18, 153};
    membuf m = make_pnm("P6", 7, 1, 255, rgb, sizeof rgb);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    ASSERT_OK(deja_decoder_read_memory(d, m.p, m.n, "c.ppm", &im));
    ASSERT_EQ(im.width, 7);
    for (int i = 0; i < 7; i++) {
        EXPECT_EQ(im.pixels[i], want[i]);
        EXPECT_EQ(luma_ref(rgb[i][0], rgb[i][1], rgb[i][2]), want[i]); /* the table is right */
    }
    free(m.p);
    /* 16-bit PPM: each sample is scaled first, then weighted. */
    uint8_t raw[7 * 6];
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < 3; k++)
            raw[6 * i + 2 * k] = raw[6 * i + 2 * k + 1] = rgb[i][k];
    m = make_pnm("P6", 7, 1, 65535, raw, sizeof raw); /* v * 257 is exactly v after scaling */
    ASSERT_OK(deja_decoder_read_memory(d, m.p, m.n, "w.ppm", &im));
    for (int i = 0; i < 7; i++)
        EXPECT_EQ(im.pixels[i], want[i]);
    free(m.p);
    deja_decoder_destroy(d);
}

TEST(pnm_bad_headers_fail_with_format_or_unsupported)
{
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    static const struct {
        const char *text;
        deja_status st;
        const char *needle;
    } cases[] = {
        {"P5\n0 5\n255\n", DEJA_FORMAT, "zero"},
        {"P5\n5 0\n255\n", DEJA_FORMAT, "zero"},
        {"P5\n2 2\n0\n....", DEJA_FORMAT, "maxval"},
        {"P5\n2 2\n70000\n....", DEJA_FORMAT, "maxval"},
        {"P5\n2x 2\n255\n....", DEJA_FORMAT, "width"},
        {"P5\n-2 2\n255\n....", DEJA_FORMAT, "width"},
        {"P5\n2 2\n255#c\n....", DEJA_FORMAT, "maxval"},
        {"P52 2\n255\n....", DEJA_FORMAT, "magic"},
        {"P5\n99999999999 2\n255\n", DEJA_LIMIT, "width"},
        {"P2\n2 2\n255\n1 2 3 4\n", DEJA_UNSUPPORTED, "P2"},
        {"P4\n2 2\n..", DEJA_UNSUPPORTED, "P4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        deja_status st =
            deja_decoder_read_memory(d, cases[i].text, strlen(cases[i].text), "h.pgm", &im);
        if (st != cases[i].st || !strstr(deja_decoder_error(d), cases[i].needle) ||
            !strstr(deja_decoder_error(d), "h.pgm"))
            TEST_FAIL_AT("case %zu: %s: got %s (%s)", i, cases[i].text, deja_status_name(st),
                         deja_decoder_error(d));
    }
    deja_decoder_destroy(d);
}

/* ---- PNG --------------------------------------------------------------------------------- */

#ifdef DEJA_HAVE_PNG
static void png_mem_write(png_structp png, png_bytep data, size_t n)
{
    mb_append(png_get_io_ptr(png), data, n);
}

static void png_mem_flush(png_structp png)
{
    (void)png;
}

/* Encodes samples (one uint16 per channel value, row-major) as a PNG. libpng's default error
 * handling aborts, which only a bug in this test can trigger. */
static membuf png_encode(int w, int h, int colour, int depth, int interlace,
                         const uint16_t *samples, const png_color *pal, int n_pal,
                         const png_byte *trns, int n_trns)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, colour, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, n_pal);
    /* Grey and RGB get a transparent colour too: libpng may turn it into an alpha channel. */
    png_color_16 key = {0, 1, 2, 3, 1}; /* index, red, green, blue, grey */
    if (trns) png_set_tRNS(png, info, trns, n_trns, NULL);
    if (colour == PNG_COLOR_TYPE_GRAY || colour == PNG_COLOR_TYPE_RGB)
        png_set_tRNS(png, info, NULL, 0, &key);
    png_write_info(png, info);
    const int ch = png_get_channels(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    uint8_t *data = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc(sizeof *rows * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = data + (size_t)y * rowbytes;
        for (int i = 0; i < w * ch; i++) {
            unsigned v = samples[(size_t)y * w * ch + i];
            if (depth == 16) {
                rows[y][2 * i] = (uint8_t)(v >> 8), rows[y][2 * i + 1] = (uint8_t)v;
            } else if (depth == 8) {
                rows[y][i] = (uint8_t)v;
            } else { /* packed, most significant bits first */
                int per = 8 / depth;
                rows[y][i / per] |= (uint8_t)(v << (8 - depth * (i % per + 1)));
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(data);
    return m;
}

/* Random samples of the given layout, encoded, decoded, compared pixel by pixel with the grey
 * value derived independently from the samples. */
static void check_png_layout(int colour, int depth, int interlace, int w, int h)
{
    const int ch = colour == PNG_COLOR_TYPE_GRAY         ? 1
                   : colour == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                   : colour == PNG_COLOR_TYPE_RGB        ? 3
                   : colour == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                                                         : 1;
    const unsigned top = (1u << depth) - 1;
    png_color pal[16];
    png_byte trns[16];
    const int n_pal = colour == PNG_COLOR_TYPE_PALETTE ? (int)(top < 15 ? top + 1 : 16) : 0;
    for (int i = 0; i < n_pal; i++) {
        pal[i] = (png_color){(png_byte)rnd(), (png_byte)rnd(), (png_byte)rnd()};
        trns[i] = (png_byte)rnd();
    }
    uint16_t *s = malloc(sizeof *s * (size_t)(w * h * ch));
    for (int i = 0; i < w * h * ch; i++)
        s[i] = (uint16_t)(n_pal ? rnd() % (unsigned)n_pal : rnd() % (top + 1));
    membuf m = png_encode(w, h, colour, depth, interlace, s, n_pal ? pal : NULL, n_pal,
                          n_pal ? trns : NULL, n_pal);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    deja_status st = deja_decoder_read_memory(d, m.p, m.n, "t.png", &im);
    if (st != DEJA_OK) {
        TEST_FAIL_AT("colour %d depth %d interlace %d: %s", colour, depth, interlace,
                     deja_decoder_error(d));
    } else {
        EXPECT_EQ(im.width, w);
        EXPECT_EQ(im.height, h);
        int bad = 0;
        for (int i = 0; i < w * h; i++) {
            const uint16_t *p = s + (size_t)i * ch;
            int v8[3];
            for (int k = 0; k < (ch >= 3 ? 3 : 1); k++)
                v8[k] = depth == 16 ? (int)lround(p[k] / 257.0) : (int)(p[k] * 255 / top);
            int want = n_pal     ? luma_ref(pal[p[0]].red, pal[p[0]].green, pal[p[0]].blue)
                       : ch >= 3 ? luma_ref(v8[0], v8[1], v8[2])
                                 : v8[0];
            int got = im.pixels[(i / w) * im.stride + i % w];
            if (got != want && bad++ < 3)
                TEST_FAIL_AT("colour %d depth %d interlace %d pixel %d: %d vs %d", colour, depth,
                             interlace, i, got, want);
        }
    }
    deja_decoder_destroy(d);
    free(m.p);
    free(s);
}

TEST(png_every_layout_round_trips_exactly)
{
    static const struct {
        int colour, depth;
    } layouts[] = {
        {PNG_COLOR_TYPE_GRAY, 1},        {PNG_COLOR_TYPE_GRAY, 2},
        {PNG_COLOR_TYPE_GRAY, 4},        {PNG_COLOR_TYPE_GRAY, 8},
        {PNG_COLOR_TYPE_GRAY, 16},       {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB, 8},
        {PNG_COLOR_TYPE_RGB, 16},        {PNG_COLOR_TYPE_RGB_ALPHA, 8},
        {PNG_COLOR_TYPE_RGB_ALPHA, 16},  {PNG_COLOR_TYPE_PALETTE, 1},
        {PNG_COLOR_TYPE_PALETTE, 2},     {PNG_COLOR_TYPE_PALETTE, 4},
        {PNG_COLOR_TYPE_PALETTE, 8},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        for (int il = 0; il <= 1; il++) /* PNG_INTERLACE_NONE, PNG_INTERLACE_ADAM7 */
            check_png_layout(layouts[i].colour, layouts[i].depth, il, 13, 11);
    /* Sizes below the 8x8 Adam7 block leave some passes empty. */
    check_png_layout(PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 1, 1);
    check_png_layout(PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_ADAM7, 3, 2);
}

static membuf small_png(int colour, int interlace)
{
    enum { W = 8, H = 6 };
    int ch = colour == PNG_COLOR_TYPE_RGB ? 3 : 1;
    uint16_t s[W * H * 3];
    for (int i = 0; i < W * H * ch; i++)
        s[i] = (uint16_t)(i * 5 % 256);
    return png_encode(W, H, colour, 8, interlace, s, NULL, 0, NULL, 0);
}

/* The CRC of a chunk type + data, to forge headers that pass libpng's checks. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & -(c & 1u));
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* Rewrites IHDR's size (bytes 16..23) and its CRC, so only the size is wrong. */
static void png_forge_size(membuf *m, uint32_t w, uint32_t h)
{
    put32(m->p + 16, w);
    put32(m->p + 20, h);
    put32(m->p + 29, crc32_png(m->p + 12, 17));
}

TEST(png_truncated_at_every_length_fails_cleanly)
{
    membuf a = small_png(PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE);
    membuf b = small_png(PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7);
    check_truncations(a.p, a.n, "cut_rgb.png");
    check_truncations(b.p, b.n, "cut_interlaced.png");
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, a.p, a.n - 20, "img.png", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "img.png: PNG: ") != NULL);
    EXPECT(strstr(deja_decoder_error(d), "truncated") != NULL);
    deja_decoder_destroy(d);
    free(a.p);
    free(b.p);
}

TEST(png_flipped_bytes_never_crash)
{
    membuf a = small_png(PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE);
    membuf b = small_png(PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7);
    check_flips(a.p, a.n, "flip.png");
    check_flips(b.p, b.n, "flip_interlaced.png");
    free(a.p);
    free(b.p);
}

TEST(png_absurd_size_is_a_limit_before_allocation)
{
    membuf m = small_png(PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE);
    png_forge_size(&m, 100000, 100000);
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(&o, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "huge.png", &im), DEJA_LIMIT);
    EXPECT(strstr(deja_decoder_error(d), "huge.png") != NULL);
    EXPECT(strstr(deja_decoder_error(d), "100000x100000") != NULL);
    EXPECT_LE(c.peak, 256 * 1024); /* libpng's structs, never the 10 GB of pixels */
    png_forge_size(&m, 0, 6);
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "zero.png", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "zero.png") != NULL);
    png_forge_size(&m, 0x7FFFFFFF, 0x7FFFFFFF); /* the largest size PNG allows */
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "max.png", &im), DEJA_LIMIT);
    EXPECT_LE(c.peak, 256 * 1024);
    deja_decoder_destroy(d);
    EXPECT_EQ(c.live, 0);
    free(m.p);
}

TEST(png_memory_goes_through_the_allocator_and_every_failure_is_nomem)
{
    membuf m = small_png(PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7);
    check_nomem_sweep(m.p, m.n, "oom.png", 200);
    free(m.p);
}
#endif

/* ---- JPEG -------------------------------------------------------------------------------- */

#ifdef DEJA_HAVE_JPEG
/* Encodes w x h pixels of `comps` samples; jpeg_space 0 keeps libjpeg's default. */
static membuf jpeg_encode(int w, int h, int comps, J_COLOR_SPACE in, J_COLOR_SPACE jpeg_space,
                          int quality, bool progressive, const uint8_t *px)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* exits on error: only a bug in this test can trigger it */
    jpeg_create_compress(&ci);
    unsigned char *out = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&ci, &out, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = in;
    jpeg_set_defaults(&ci);
    if (jpeg_space != JCS_UNKNOWN) jpeg_set_colorspace(&ci, jpeg_space);
    jpeg_set_quality(&ci, quality, TRUE);
    if (progressive) jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * (size_t)(w * comps));
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return (membuf){out, n, n};
}

static membuf small_jpeg(bool colour, bool progressive)
{
    enum { W = 16, H = 16 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        px[i] = (uint8_t)(i * 3 % 251);
    return colour ? jpeg_encode(W, H, 3, JCS_RGB, JCS_UNKNOWN, 90, progressive, px)
                  : jpeg_encode(W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 90, progressive, px);
}

/* Max and mean absolute difference between the decoded image and want (w x h, dense). */
static void jpeg_compare(const membuf *m, const uint8_t *want, int w, int h, const char *name,
                         double max_tol, double mean_tol)
{
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    deja_status st = deja_decoder_read_memory(d, m->p, m->n, name, &im);
    if (st != DEJA_OK) {
        TEST_FAIL_AT("%s: %s", name, deja_decoder_error(d));
    } else {
        EXPECT_EQ(im.width, w);
        EXPECT_EQ(im.height, h);
        int worst = 0;
        double sum = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int e = abs(im.pixels[y * im.stride + x] - want[y * w + x]);
                worst = e > worst ? e : worst;
                sum += e;
            }
        if (worst > max_tol || sum / (w * h) > mean_tol)
            TEST_FAIL_AT("%s: max error %d (tol %g), mean %.3f (tol %g)", name, worst, max_tol,
                         sum / (w * h), mean_tol);
    }
    deja_decoder_destroy(d);
}

TEST(jpeg_grey_and_colour_decode_within_tolerance)
{
    /* Smooth content at high quality: the codec error is a level or two. Sizes not multiples of
     * 8/16 exercise the partial MCUs. */
    enum { W = 45, H = 27 };
    uint8_t grey[W * H], rgb[W * H * 3], want[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            grey[y * W + x] = (uint8_t)(40 + 3 * x + 2 * y);
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = (uint8_t)(200 - 2 * x), p[1] = (uint8_t)(30 + 4 * y), p[2] = (uint8_t)(60 + x);
            want[y * W + x] = (uint8_t)luma_ref(p[0], p[1], p[2]);
        }
    for (int prog = 0; prog <= 1; prog++) {
        membuf g = jpeg_encode(W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 95, prog, grey);
        jpeg_compare(&g, grey, W, H, prog ? "grey_progressive.jpg" : "grey.jpg", 3, 1.0);
        /* YCbCr with 4:2:0 chroma: grey is Y, which subsampling does not touch. */
        membuf c = jpeg_encode(W, H, 3, JCS_RGB, JCS_UNKNOWN, 95, prog, rgb);
        jpeg_compare(&c, want, W, H, prog ? "ycc_progressive.jpg" : "ycc.jpg", 3, 1.0);
        free(g.p);
        free(c.p);
    }
    /* RGB stored without the YCbCr transform (Adobe marker): libjpeg computes the luma. */
    membuf r = jpeg_encode(W, H, 3, JCS_RGB, JCS_RGB, 95, false, rgb);
    jpeg_compare(&r, want, W, H, "rgb.jpg", 3, 1.0);
    free(r.p);
}

TEST(jpeg_flat_colours_give_their_bt601_grey)
{
    /* 16x16 flat blocks (one 4:2:0 MCU each) at quality 100: error at most 1 from rounding. */
    static const uint8_t colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 150, 50}};
    static const uint8_t grey_of[4] = {76, 150, 29, 154}; /* 59.8 + 88.05 + 5.7 = 153.55 */
    uint8_t rgb[32 * 32 * 3], want[32 * 32];
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            int b = (y / 16) * 2 + x / 16;
            memcpy(rgb + (y * 32 + x) * 3, colours[b], 3);
            want[y * 32 + x] = grey_of[b];
        }
    membuf m = jpeg_encode(32, 32, 3, JCS_RGB, JCS_UNKNOWN, 100, false, rgb);
    jpeg_compare(&m, want, 32, 32, "flat.jpg", 2, 1.0);
    free(m.p);
}

TEST(jpeg_cmyk_is_unsupported)
{
    uint8_t px[16 * 16 * 4];
    for (int i = 0; i < 16 * 16 * 4; i++)
        px[i] = (uint8_t)(i * 13);
    membuf m = jpeg_encode(16, 16, 4, JCS_CMYK, JCS_UNKNOWN, 90, false, px);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "cmyk.jpg", &im), DEJA_UNSUPPORTED);
    EXPECT(strstr(deja_decoder_error(d), "cmyk.jpg: JPEG: CMYK") != NULL);
    deja_decoder_destroy(d);
    free(m.p);
}

TEST(jpeg_truncated_at_every_length_fails_cleanly)
{
    membuf a = small_jpeg(true, false);
    membuf b = small_jpeg(false, true);
    check_truncations(a.p, a.n, "cut.jpg");
    check_truncations(b.p, b.n, "cut_progressive.jpg");
    /* Cutting only the EOI marker is "premature end of data" to libjpeg, a mere warning that
     * would leave made-up pixels; here it is an error. */
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, a.p, a.n - 2, "eoi.jpg", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "eoi.jpg: JPEG: ") != NULL);
    EXPECT_STATUS(deja_decoder_read_memory(d, a.p, a.n / 2, "half.jpg", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "half.jpg: JPEG: ") != NULL);
    deja_decoder_destroy(d);
    free(a.p);
    free(b.p);
}

TEST(jpeg_flipped_bytes_never_crash)
{
    membuf a = small_jpeg(true, false);
    membuf b = small_jpeg(true, true);
    check_flips(a.p, a.n, "flip.jpg");
    check_flips(b.p, b.n, "flip_progressive.jpg");
    free(a.p);
    free(b.p);
}

/* Finds the SOF0/SOF2 segment and rewrites height and width. */
static bool jpeg_forge_size(membuf *m, unsigned w, unsigned h)
{
    for (size_t i = 2; i + 9 < m->n; i++) {
        if (m->p[i] == 0xFF && (m->p[i + 1] == 0xC0 || m->p[i + 1] == 0xC2)) {
            m->p[i + 5] = (uint8_t)(h >> 8), m->p[i + 6] = (uint8_t)h;
            m->p[i + 7] = (uint8_t)(w >> 8), m->p[i + 8] = (uint8_t)w;
            return true;
        }
    }
    return false;
}

TEST(jpeg_absurd_or_zero_size_fails_before_decoding)
{
    membuf m = small_jpeg(true, false);
    ASSERT(jpeg_forge_size(&m, 65000, 65000));
    deja_decoder *d = NULL;
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    ASSERT_OK(deja_decoder_create(&o, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "huge.jpg", &im), DEJA_LIMIT);
    EXPECT(strstr(deja_decoder_error(d), "huge.jpg: JPEG: 65000x65000") != NULL);
    EXPECT_LE(c.peak, 64 * 1024); /* the output buffer was never grown */
    ASSERT(jpeg_forge_size(&m, 0, 16));
    EXPECT_STATUS(deja_decoder_read_memory(d, m.p, m.n, "zero.jpg", &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "zero.jpg") != NULL);
    deja_decoder_destroy(d);
    free(m.p);
}
#endif

/* ---- every format ------------------------------------------------------------------------ */

TEST(pgm_and_ppm_truncations_and_flips_fail_cleanly)
{
    membuf g = small_pgm();
    uint16_t raw16[5 * 4 * 3];
    for (int i = 0; i < 5 * 4 * 3; i++)
        raw16[i] = (uint16_t)(i * 1000);
    membuf p = make_pnm("P6", 5, 4, 65535, raw16, sizeof raw16);
    check_truncations(g.p, g.n, "cut.pgm");
    check_truncations(p.p, p.n, "cut.ppm");
    check_flips(g.p, g.n, "flip.pgm");
    check_flips(p.p, p.n, "flip.ppm");
    free(g.p);
    free(p.p);
}

TEST(absurd_pgm_size_is_a_limit_without_allocating_it)
{
    static const char huge[] = "P5\n100000 100000\n255\n\x01\x02\x03";
    const char *path = test_tmp_path("huge.pgm");
    ASSERT(test_write_file(path, huge, sizeof huge - 1));
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(&o, &d));
    deja_image im;
    EXPECT_STATUS(deja_decoder_read_file(d, path, &im), DEJA_LIMIT);
    EXPECT(strstr(deja_decoder_error(d), path) != NULL);
    EXPECT(strstr(deja_decoder_error(d), "100000x100000") != NULL);
    EXPECT_LE(c.peak, 4096);
    deja_decoder_destroy(d);
    EXPECT_EQ(c.live, 0);
}

TEST(max_pixels_option_limits_every_format)
{
    deja_options o = deja_options_default();
    o.max_pixels = 16 * 12 - 1; /* one pixel short of the inputs below */
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(&o, &d));
    deja_image im;
    membuf g = small_pgm();
    EXPECT_STATUS(deja_decoder_read_memory(d, g.p, g.n, "a.pgm", &im), DEJA_LIMIT);
    EXPECT(strstr(deja_decoder_error(d), "max_pixels 191") != NULL);
    free(g.p);
#ifdef DEJA_HAVE_PNG
    uint16_t s[16 * 12] = {0};
    membuf pn = png_encode(16, 12, PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL, 0);
    EXPECT_STATUS(deja_decoder_read_memory(d, pn.p, pn.n, "a.png", &im), DEJA_LIMIT);
    free(pn.p);
#endif
#ifdef DEJA_HAVE_JPEG
    uint8_t px[16 * 12] = {0};
    membuf j = jpeg_encode(16, 12, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 90, false, px);
    EXPECT_STATUS(deja_decoder_read_memory(d, j.p, j.n, "a.jpg", &im), DEJA_LIMIT);
    free(j.p);
#endif
    deja_decoder_destroy(d);
    /* One pixel more and all of them decode. */
    o.max_pixels = 16 * 12;
    ASSERT_OK(deja_decoder_create(&o, &d));
    g = small_pgm();
    EXPECT_STATUS(deja_decoder_read_memory(d, g.p, g.n, "a.pgm", &im), DEJA_OK);
    free(g.p);
    deja_decoder_destroy(d);
}

TEST(empty_missing_and_foreign_files_give_status_and_name)
{
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im = {0, 0, 0, NULL};

    const char *empty = test_tmp_path("empty.png");
    ASSERT(test_write_file(empty, "", 0));
    EXPECT_STATUS(deja_decoder_read_file(d, empty, &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "empty.png: empty") != NULL);

    static const char text[] = "hello, this is not an image\n";
    const char *txt = test_tmp_path("notes.jpg"); /* the name does not matter, the content does */
    ASSERT(test_write_file(txt, text, sizeof text - 1));
    EXPECT_STATUS(deja_decoder_read_file(d, txt, &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "notes.jpg: not a PNG, JPEG") != NULL);

    const char *missing = test_tmp_path("missing.pgm");
    EXPECT_STATUS(deja_decoder_read_file(d, missing, &im), DEJA_IO);
    EXPECT(strstr(deja_decoder_error(d), "missing.pgm: cannot open: No such file") != NULL);

    EXPECT_STATUS(deja_decoder_read_file(d, "/tmp", &im), DEJA_IO);
    EXPECT(strstr(deja_decoder_error(d), "/tmp: not a regular file") != NULL);

    EXPECT_STATUS(deja_decoder_read_memory(d, text, 3, NULL, &im), DEJA_FORMAT);
    EXPECT(strstr(deja_decoder_error(d), "<memory>") != NULL);
    EXPECT_STATUS(deja_decoder_read_memory(d, NULL, 3, "x", &im), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_decoder_read_file(d, NULL, &im), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_decoder_read_file(NULL, missing, &im), DEJA_INVALID_ARG);
    EXPECT(im.pixels == NULL); /* out-parameters untouched on failure */
    deja_decoder_destroy(d);
    deja_decoder_destroy(NULL);
}

TEST(write_pgm_rejects_bad_images_and_paths)
{
    uint8_t px[4] = {1, 2, 3, 4};
    deja_image im = {2, 2, 1, px}; /* stride < width */
    EXPECT_STATUS(deja_image_write_pgm(&im, test_tmp_path("x.pgm")), DEJA_INVALID_ARG);
    im.stride = 2;
    EXPECT_STATUS(deja_image_write_pgm(NULL, test_tmp_path("x.pgm")), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja_image_write_pgm(&im, "/nonexistent-dir/x.pgm"), DEJA_IO);
    EXPECT(strstr(deja_last_error(), "/nonexistent-dir/x.pgm: cannot create") != NULL);
}

TEST(codecs_left_out_of_the_build_say_so)
{
    static const uint8_t png_head[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                         0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    static const uint8_t jpg_head[4] = {0xFF, 0xD8, 0xFF, 0xE0};
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    deja_status st = deja_decoder_read_memory(d, png_head, sizeof png_head, "p.png", &im);
#ifdef DEJA_HAVE_PNG
    EXPECT_EQ(st, DEJA_FORMAT); /* compiled in: it is just truncated */
#else
    EXPECT_EQ(st, DEJA_UNSUPPORTED);
    EXPECT(strstr(deja_decoder_error(d), "PNG support not compiled in") != NULL);
#endif
    st = deja_decoder_read_memory(d, jpg_head, sizeof jpg_head, "j.jpg", &im);
#ifdef DEJA_HAVE_JPEG
    EXPECT_EQ(st, DEJA_FORMAT);
#else
    EXPECT_EQ(st, DEJA_UNSUPPORTED);
    EXPECT(strstr(deja_decoder_error(d), "JPEG support not compiled in") != NULL);
#endif
    EXPECT(strstr(deja_decoder_error(d), "j.jpg") != NULL);
    deja_decoder_destroy(d);
}

TEST(same_size_frames_allocate_nothing_after_the_first)
{
    test_counter c = {0};
    deja_options o = test_counting_options(&c);
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(&o, &d));
    enum { W = 64, H = 48 };
    uint8_t px[W * H];
    char name[32];
    for (int f = 0; f < 4; f++) {
        for (int i = 0; i < W * H; i++)
            px[i] = (uint8_t)(i + f);
        deja_image src = {W, H, W, px};
        snprintf(name, sizeof name, "frame%d.pgm", f);
        ASSERT_OK(deja_image_write_pgm(&src, test_tmp_path(name)));
    }
    deja_image im;
    ASSERT_OK(deja_decoder_read_file(d, test_tmp_path("frame0.pgm"), &im));
    const size_t warm = c.calls;
    for (int round = 0; round < 5; round++) {
        for (int f = 0; f < 4; f++) {
            snprintf(name, sizeof name, "frame%d.pgm", f);
            ASSERT_OK(deja_decoder_read_file(d, test_tmp_path(name), &im));
            EXPECT_EQ(im.pixels[0], f); /* a new frame each time, not a stale buffer */
        }
    }
    EXPECT_EQ(c.calls, warm);
    /* A smaller frame fits in the same buffers (they never shrink). */
    membuf small = make_pnm("P5", 4, 4, 255, px, 16);
    ASSERT_OK(deja_decoder_read_memory(d, small.p, small.n, "small.pgm", &im));
    EXPECT_EQ(im.width, 4);
    EXPECT_EQ(c.calls, warm);
    free(small.p);
    deja_decoder_destroy(d);
    EXPECT_EQ(c.live, 0);
}

TEST(pgm_every_allocation_failure_is_nomem_without_leaks)
{
    membuf g = small_pgm();
    const char *path = test_tmp_path("oom.pgm");
    ASSERT(test_write_file(path, g.p, g.n));
    check_nomem_sweep(NULL, 0, path, 20);
    free(g.p);
}

/* ---- shared data ------------------------------------------------------------------------- */

static int image_file(const struct dirent *e)
{
    const char *dot = strrchr(e->d_name, '.');
    return dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".png"));
}

TEST(shared_data_images_decode_at_their_documented_size)
{
    const char *shared = test_shared_dir();
    if (!shared) SKIP("shared data not found (set DEJA_SHARED)");
    static const struct {
        const char *folder;
        int w, h;
        bool png;
    } sets[] = {
        {"tum-fr1-xyz", 640, 480, false},
        {"vocab-train", 752, 480, true},
        {"rtabmap-samples", 512, 384, false},
        {"corridor-vprbench", 160, 120, false},
    };
    deja_decoder *d = NULL;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    int checked = 0;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
#ifndef DEJA_HAVE_PNG
        if (sets[i].png) continue;
#endif
#ifndef DEJA_HAVE_JPEG
        if (!sets[i].png) continue;
#endif
        char dir[1200], path[1600];
        snprintf(dir, sizeof dir, "%s/data/%s/images", shared, sets[i].folder);
        struct dirent **list = NULL;
        int n = scandir(dir, &list, image_file, alphasort);
        if (n <= 0) {
            TEST_FAIL_AT("%s: no images", dir);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, list[0]->d_name);
        for (int k = 0; k < n; k++)
            free(list[k]);
        free(list);
        deja_image im;
        deja_status st = deja_decoder_read_file(d, path, &im);
        if (st != DEJA_OK) {
            TEST_FAIL_AT("%s: %s", path, deja_decoder_error(d));
            continue;
        }
        EXPECT_EQ(im.width, sets[i].w);
        EXPECT_EQ(im.height, sets[i].h);
        /* Real photos are not flat: a decoder that filled grey would fail this. */
        int lo = 255, hi = 0;
        for (int k = 0; k < im.width * im.height; k++) {
            lo = im.pixels[k] < lo ? im.pixels[k] : lo;
            hi = im.pixels[k] > hi ? im.pixels[k] : hi;
        }
        EXPECT_GE(hi - lo, 64);
        checked++;
    }
    deja_decoder_destroy(d);
    if (checked == 0) SKIP("built without PNG and JPEG support");
}
