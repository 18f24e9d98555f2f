/* test_plot.c - the plotting library (src/plot.h): nice ranges and tick labels, canvas limits,
 * exact pixels of lines and text, clipping with hostile data, stacked areas over 10^5 samples,
 * PNG round trips through deja's decoder, out-of-memory sweeps. With DEJA_PLOT_SAMPLES=<dir> set
 * it also renders one picture of each chart kind (and the font) into <dir> for a person to see. */
#include "plot.h"
#include "test.h"
#include "test_util.h"

#include <limits.h>
#include <sys/stat.h>

static char err[DEJA_ERROR_BYTES];

#define WHITE 0xFFFFFFu
#define RED   0xFF0000u

/* Pixels of c differing from white, inside [x0,x1) x [y0,y1) (inside = 1) or outside it. */
static size_t count_ink(const deja__canvas *c, int x0, int y0, int x1, int y1, int inside)
{
    size_t n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            const int in = x >= x0 && x < x1 && y >= y0 && y < y1;
            if (in == inside && deja__canvas_get(c, x, y) != WHITE) n++;
        }
    return n;
}

/* Bounding box of pixels equal to rgb; false if none. */
static int ink_box(const deja__canvas *c, uint32_t rgb, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++)
            if (deja__canvas_get(c, x, y) == rgb) {
                if (x < *x0) *x0 = x;
                if (y < *y0) *y0 = y;
                if (x > *x1) *x1 = x;
                if (y > *y1) *y1 = y;
            }
    return *x1 >= 0;
}

/* ---- nice numbers ------------------------------------------------------------------------ */

TEST(nice_range_picks_1_2_5_steps)
{
    double lo, hi, step;
    deja__nice_range(0, 1, 6, &lo, &hi, &step);
    EXPECT_NEAR(lo, 0, 1e-12);
    EXPECT_NEAR(hi, 1, 1e-12);
    EXPECT_NEAR(step, 0.2, 1e-12);
    deja__nice_range(0, 97, 6, &lo, &hi, &step);
    EXPECT_NEAR(lo, 0, 1e-9);
    EXPECT_NEAR(hi, 100, 1e-9);
    EXPECT_NEAR(step, 20, 1e-9);
    deja__nice_range(-3.2, 7.9, 5, &lo, &hi, &step);
    EXPECT_NEAR(lo, -5, 1e-9);
    EXPECT_NEAR(hi, 10, 1e-9);
    EXPECT_NEAR(step, 5, 1e-9);
    deja__nice_range(0, 1e5, 5, &lo, &hi, &step);
    EXPECT_NEAR(step, 2e4, 1e-6);
    EXPECT_NEAR(hi, 1e5, 1e-6);
    deja__nice_range(0.6, 1.4, 4, &lo, &hi, &step); /* 0.6 / 0.2 must not floor to 2 */
    EXPECT_NEAR(lo, 0.6, 1e-12);
    EXPECT_NEAR(hi, 1.4, 1e-12);
    deja__nice_range(0, 0.003, 6, &lo, &hi, &step);
    EXPECT_NEAR(step, 5e-4, 1e-15);
    EXPECT_NEAR(hi, 0.003, 1e-15);
    deja__nice_range(10, 0, 0, &lo, &hi, &step); /* swapped, default tick count */
    EXPECT_NEAR(lo, 0, 1e-12);
    EXPECT_NEAR(hi, 10, 1e-12);
    EXPECT_NEAR(step, 2, 1e-12);
}

TEST(nice_range_survives_degenerate_input)
{
    double lo, hi, step;
    deja__nice_range(5, 5, 6, &lo, &hi, &step);
    EXPECT(lo < 5 && hi > 5 && step > 0);
    deja__nice_range(0, 0, 6, &lo, &hi, &step);
    EXPECT(lo < 0 && hi > 0 && step > 0);
    deja__nice_range(NAN, 3, 6, &lo, &hi, &step);
    EXPECT_NEAR(lo, 0, 0);
    EXPECT_NEAR(hi, 1, 0);
    deja__nice_range(-INFINITY, INFINITY, 6, &lo, &hi, &step);
    EXPECT(isfinite(lo) && isfinite(hi) && step > 0);
    deja__nice_range(-1.7e308, 1.7e308, 6, &lo, &hi, &step);
    EXPECT(isfinite(lo) && isfinite(hi) && isfinite(step) && step > 0);
    EXPECT(lo <= -1.7e308 && hi >= 1.7e308);
    deja__nice_range(1e-300, 3e-300, 4, &lo, &hi, &step);
    EXPECT(step > 0 && lo <= 1e-300 && hi >= 3e-300);
}

TEST(tick_labels_are_compact)
{
    char b[32];
    const struct {
        double v, step, amax;
        const char *want;
    } cases[] = {
        {0.25, 0.05, 1, "0.25"},        {-3, 1, 10, "-3"},
        {1e-17, 0.2, 1, "0"},           {3, 0.5, 3, "3.0"},
        {20000, 20000, 1e5, "2e4"},     {150000, 5e4, 2e5, "1.5e5"},
        {1e5, 2e4, 1e5, "1e5"},         {5e-4, 1e-4, 8e-4, "5e-4"},
        {-2e6, 1e6, 3e6, "-2e6"},       {40000, 10000, 9e4, "40000"},
        {0.001, 0.001, 0.005, "0.001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        deja__tick_label(cases[i].v, cases[i].step, cases[i].amax, b, sizeof b);
        if (strcmp(b, cases[i].want) != 0)
            TEST_FAIL_AT("tick %g step %g: \"%s\", expected \"%s\"", cases[i].v, cases[i].step, b,
                         cases[i].want);
    }
    deja__tick_label(123456.789, 1e-9, 1e6, b, 6); /* cut to the buffer, NUL-terminated */
    EXPECT_EQ(strlen(b), 5);
}

/* ---- canvas ------------------------------------------------------------------------------ */

TEST(canvas_refuses_bad_and_huge_sizes)
{
    deja__canvas c = {0};
    EXPECT_STATUS(deja__canvas_init(&c, NULL, 0, 10, err), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__canvas_init(&c, NULL, 10, -5, err), DEJA_INVALID_ARG);
    EXPECT_STATUS(deja__canvas_init(&c, NULL, 40000, 10, err), DEJA_LIMIT);
    EXPECT(strstr(err, "40000x10") && strstr(err, "too large"));
    EXPECT_STATUS(deja__canvas_init(&c, NULL, 30000, 30000, err), DEJA_LIMIT);
    EXPECT(strstr(err, "max_pixels"));
    deja_options o = deja_options_default();
    o.max_pixels = 1000;
    EXPECT_STATUS(deja__canvas_init(&c, &o, 100, 11, err), DEJA_LIMIT);
    EXPECT(c.rgb == NULL); /* untouched on failure */
    ASSERT_OK(deja__canvas_init(&c, &o, 100, 10, err));
    EXPECT_EQ(deja__canvas_get(&c, 99, 9), WHITE);
    EXPECT_EQ(count_ink(&c, 0, 0, 0, 0, 0), 0);
    deja__canvas_free(&c);
    deja__canvas_free(&c); /* twice is fine */
}

TEST(canvas_memory_goes_through_the_allocator)
{
    test_counter k = {0};
    deja_options o = test_counting_options(&k);
    deja__canvas c;
    k.fail_at = 1;
    EXPECT_STATUS(deja__canvas_init(&c, &o, 50, 40, err), DEJA_NOMEM);
    k.fail_at = 0;
    ASSERT_OK(deja__canvas_init(&c, &o, 50, 40, err));
    EXPECT_EQ(k.live, 50 * 40 * 3);
    deja__canvas_free(&c);
    EXPECT_EQ(k.live, 0);
}

TEST(horizontal_line_hits_exactly_its_row)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 64, 48, err));
    deja__line(&c, 10, 20.5, 50, 20.5, 1, RED);
    for (int x = 10; x < 50; x++)
        EXPECT_EQ(deja__canvas_get(&c, x, 20), RED);
    /* Round caps: half a pixel beyond each end at half coverage, nothing else anywhere. */
    EXPECT(deja__canvas_get(&c, 9, 20) != WHITE && deja__canvas_get(&c, 9, 20) != RED);
    EXPECT(deja__canvas_get(&c, 50, 20) != WHITE && deja__canvas_get(&c, 50, 20) != RED);
    EXPECT_EQ(count_ink(&c, 9, 20, 51, 21, 0), 0);
    /* A 3 px vertical line covers exactly 3 columns. */
    deja__line(&c, 30.5, 30, 30.5, 45, 3, 0x0000FFu);
    for (int x = 29; x <= 31; x++)
        EXPECT_EQ(deja__canvas_get(&c, x, 38), 0x0000FFu);
    EXPECT_EQ(deja__canvas_get(&c, 28, 38), WHITE);
    EXPECT_EQ(deja__canvas_get(&c, 32, 38), WHITE);
    deja__canvas_free(&c);
}

TEST(diagonal_line_is_anti_aliased_and_stays_near_the_segment)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 60, 60, err));
    deja__line(&c, 5, 8, 55, 40, 1.5f, 0x000000u);
    int partial = 0, full = 0;
    for (int y = 0; y < c.h; y++)
        for (int x = 0; x < c.w; x++) {
            const uint32_t p = deja__canvas_get(&c, x, y);
            if (p == WHITE) continue;
            /* distance of the pixel centre to the line through the segment */
            const double dx = 50, dy = 32, len = sqrt(dx * dx + dy * dy);
            const double d = fabs((x + 0.5 - 5) * dy - (y + 0.5 - 8) * dx) / len;
            EXPECT_LE(d, 0.75 + 0.5);
            EXPECT_GE(x, 4);
            EXPECT_LE(x, 55);
            if (p == 0)
                full++;
            else
                partial++;
        }
    EXPECT_GE(full, 20);    /* centre within 0.25 px of the line */
    EXPECT_GE(partial, 60); /* grey edge pixels: the anti-aliasing */
    deja__canvas_free(&c);
}

TEST(primitives_never_draw_outside_the_clip)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 100, 80, err));
    deja__canvas_clip(&c, 20, 15, 60, 55);
    deja__line(&c, -1e300, -1e300, 1e300, 1e300, 4, RED); /* crosses the clip */
    deja__line(&c, -500, 70, 900, 72, 7, RED);            /* below it */
    deja__line(&c, NAN, 1, 5, 5, 1, RED);
    deja__line(&c, 1, 1, INFINITY, 5, 1, RED);
    deja__line(&c, 25, 25, 26, 26, NAN, RED);
    deja__disc(&c, 19, 30, 10, RED);
    deja__disc(&c, 1e308, 30, 1e9f, RED);
    deja__fill_rect(&c, -1000, -1000, 2000, 17, RED);
    deja__text(&c, 55, 30, "clipped text", 3, DEJA__LEFT, RED);
    deja__text_vertical(&c, 10, 40, "vertical", 2, DEJA__LEFT | DEJA__MIDDLE, RED);
    deja__text(&c, INT_MAX, INT_MIN, "far away", 1000, DEJA__RIGHT | DEJA__BOTTOM, RED);
    deja__text_vertical(&c, INT_MIN, INT_MAX, "far away", INT_MAX, DEJA__CENTER, RED);
    EXPECT_EQ(count_ink(&c, 20, 15, 60, 55, 0), 0);
    EXPECT_GE(count_ink(&c, 20, 15, 60, 55, 1), 100);
    deja__canvas_unclip(&c);
    deja__fill_rect(&c, -5, -5, 3, 3, RED);
    EXPECT_EQ(deja__canvas_get(&c, 2, 2), RED);
    deja__canvas_free(&c);
}

/* ---- text -------------------------------------------------------------------------------- */

TEST(text_glyph_has_the_expected_box)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 60, 60, err));
    int x0, y0, x1, y1;
    deja__text(&c, 5, 3, "H", 1, DEJA__LEFT | DEJA__TOP, RED);
    ASSERT(ink_box(&c, RED, &x0, &y0, &x1, &y1));
    EXPECT_EQ(x0, 5); /* 5 columns, capital rows 2..9 */
    EXPECT_EQ(x1, 9);
    EXPECT_EQ(y0, 5);
    EXPECT_EQ(y1, 12);
    EXPECT_EQ(deja__canvas_get(&c, 7, 8), RED); /* H's bar on row 5 */
    EXPECT_EQ(deja__canvas_get(&c, 7, 7), WHITE);
    deja__fill_rect(&c, 0, 0, 60, 60, WHITE);
    deja__text(&c, 30, 30, "H", 3, DEJA__CENTER | DEJA__MIDDLE, RED);
    ASSERT(ink_box(&c, RED, &x0, &y0, &x1, &y1));
    EXPECT_EQ(x1 - x0 + 1, 15);
    EXPECT_EQ(y1 - y0 + 1, 24);
    EXPECT_LE(abs((x0 + x1 + 1) / 2 - 30), 1); /* centred both ways */
    EXPECT_LE(abs((y0 + y1 + 1) / 2 - 30), 1);
    EXPECT_EQ(deja__text_width("abc", 1), 17);
    EXPECT_EQ(deja__text_width("abc", 2), 34);
    EXPECT_EQ(deja__text_width("", 2), 0);
    deja__canvas_free(&c);
}

TEST(vertical_text_reads_bottom_to_top)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 40, 40, err));
    deja__text_vertical(&c, 5, 3, "L", 1, DEJA__LEFT | DEJA__TOP, RED);
    int x0, y0, x1, y1;
    ASSERT(ink_box(&c, RED, &x0, &y0, &x1, &y1));
    EXPECT_EQ(x0, 7); /* font rows 2..9 become columns */
    EXPECT_EQ(x1, 14);
    EXPECT_EQ(y0, 3); /* font columns 0..4 become rows, turned upwards */
    EXPECT_EQ(y1, 7);
    /* L's stem (font column 0) lies along the bottom row, its foot (font row 9) on the right. */
    for (int x = 7; x <= 14; x++)
        EXPECT_EQ(deja__canvas_get(&c, x, 7), RED);
    for (int y = 3; y <= 7; y++)
        EXPECT_EQ(deja__canvas_get(&c, 14, y), RED);
    EXPECT_EQ(deja__canvas_get(&c, 7, 3), WHITE);
    deja__canvas_free(&c);
}

TEST(font_covers_printable_ascii_with_distinct_glyphs)
{
    unsigned rows[95][12];
    for (int ch = 32; ch < 127; ch++) {
        unsigned ink = 0;
        for (int r = 0; r < 12; r++)
            ink |= rows[ch - 32][r] = deja__glyph_row((unsigned char)ch, r);
        if ((ch == ' ') != (ink == 0)) TEST_FAIL_AT("glyph '%c': ink %u", ch, ink);
    }
    for (int a = 0; a < 95; a++)
        for (int b = a + 1; b < 95; b++) {
            if (a + 32 == '0' && b + 32 == 'O') continue; /* the same oval, as in many fonts */
            if (memcmp(rows[a], rows[b], sizeof rows[a]) == 0)
                TEST_FAIL_AT("glyphs '%c' and '%c' are identical", a + 32, b + 32);
        }
    /* Bytes outside 32..126 draw as '?'. */
    for (int r = 0; r < 12; r++) {
        EXPECT_EQ(deja__glyph_row(200, r), deja__glyph_row('?', r));
        EXPECT_EQ(deja__glyph_row('\n', r), deja__glyph_row('?', r));
    }
    EXPECT_EQ(deja__glyph_row('A', 12), 0);
}

/* ---- charts ------------------------------------------------------------------------------ */

static deja__chart_spec unit_spec(void)
{
    return (deja__chart_spec){"Title", "x (s)", "y (m)", 0, 1, 0, 1, 0, 0};
}

TEST(chart_line_lands_where_the_data_says)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 400, 300, err));
    deja__chart ch;
    deja__chart_spec s = unit_spec();
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    EXPECT(ch.px > 20 && ch.py > 20 && ch.px + ch.pw < 400 && ch.py + ch.ph < 300);
    const double x[2] = {0.1, 0.9}, y[2] = {0.5, 0.5};
    deja__chart_line(&ch, x, y, 2, RED, 2, "series");
    ASSERT_OK(deja__chart_end(&ch));
    const int row = (int)floor(deja__chart_py(&ch, 0.5)), col = (int)deja__chart_px(&ch, 0.3);
    const uint32_t hit =
        deja__canvas_get(&c, col, row) == RED ? RED : deja__canvas_get(&c, col, row - 1);
    EXPECT_EQ(hit, RED);
    EXPECT(deja__canvas_get(&c, col, row - 3) != RED);
    EXPECT(deja__canvas_get(&c, (int)deja__chart_px(&ch, 0.05), row) != RED);
    /* The legend entry got drawn: red ink in the top-right corner of the plot area. */
    size_t red = 0;
    for (int yy = ch.py; yy < ch.py + 40; yy++)
        for (int xx = ch.px + ch.pw - 120; xx < ch.px + ch.pw; xx++)
            red += deja__canvas_get(&c, xx, yy) == RED;
    EXPECT_GE(red, 20);
    deja__canvas_free(&c);
}

TEST(legend_merges_line_and_markers_of_one_series)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 400, 300, err));
    deja__chart ch;
    deja__chart_spec s = unit_spec();
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    const double x[2] = {0.2, 0.8}, y[2] = {0.2, 0.8};
    deja__chart_line(&ch, x, y, 2, RED, 2, "P/R");
    deja__chart_points(&ch, x, y, 2, RED, 3, "P/R");
    deja__chart_points(&ch, x, y, 2, 0x00FF00u, 3, "P/R"); /* other colour: own entry */
    deja__chart_cells(&ch, x, y, 2, 0.1, RED, "P/R");      /* other kind: own entry */
    for (int i = 0; i < 20; i++)
        deja__chart_line(&ch, x, y, 2, (uint32_t)i, 1, "many");
    EXPECT_EQ(ch.n_legend, DEJA__LEGEND_MAX);
    EXPECT(strcmp(ch.legend[0].text, "P/R") == 0 && strcmp(ch.legend[3].text, "many") == 0);
    EXPECT(strcmp(ch.legend[1].text, "P/R") == 0 && ch.legend[1].rgb == 0x00FF00u);
    EXPECT(ch.legend[0].kind != ch.legend[1].kind && ch.legend[0].kind != ch.legend[2].kind);
    ASSERT_OK(deja__chart_end(&ch));
    deja__canvas_free(&c);
}

TEST(chart_clips_hostile_data_to_the_plot_area)
{
    deja__canvas ref, c;
    ASSERT_OK(deja__canvas_init(&ref, NULL, 400, 300, err));
    ASSERT_OK(deja__canvas_init(&c, NULL, 400, 300, err));
    deja__chart_spec s = unit_spec();
    s.legend = -1;
    deja__chart a, b;
    ASSERT_OK(deja__chart_begin(&a, &ref, &s, err));
    ASSERT_OK(deja__chart_end(&a));
    ASSERT_OK(deja__chart_begin(&b, &c, &s, err));
    const double x[] = {-1e6, 0.5, NAN, 2e9, INFINITY, 0.2, -INFINITY, 1e308, -1e308, 0.7};
    const double y[] = {0.5, 1e7, 0.5, -3e8, 0.1, NAN, 0.9, -1e308, 1e308, 0.3};
    const size_t n = sizeof x / sizeof x[0];
    deja__chart_line(&b, x, y, n, RED, 3, "l");
    deja__chart_points(&b, x, y, n, RED, 6, "p");
    deja__chart_cells(&b, x, y, n, 0.5, RED, "c");
    deja__chart_grey_cells(&b, x, y, y, n, 0.3, "g");
    const double seg[8] = {-5, -5, 5, 5, NAN, 0, 1, 1};
    deja__chart_segments(&b, seg, 2, RED, 5, "s");
    const double *ys[1] = {y};
    const uint32_t col[1] = {RED};
    deja__chart_stacked(&b, x, ys, 1, n, col, NULL);
    /* Empty and NULL inputs do nothing. */
    deja__chart_line(&b, NULL, NULL, 5, RED, 1, NULL);
    deja__chart_line(&b, x, y, 0, RED, 1, NULL);
    deja__chart_stacked(&b, x, ys, 1, 0, col, NULL);
    deja__chart_stacked(&b, NULL, NULL, 1, 3, col, NULL);
    ASSERT_OK(deja__chart_end(&b));
    size_t outside = 0, inside = 0;
    for (int yy = 0; yy < c.h; yy++)
        for (int xx = 0; xx < c.w; xx++) {
            const int in = xx >= b.px && xx < b.px + b.pw && yy >= b.py && yy < b.py + b.ph;
            const int diff = deja__canvas_get(&c, xx, yy) != deja__canvas_get(&ref, xx, yy);
            if (in)
                inside += diff;
            else
                outside += diff;
        }
    EXPECT_EQ(outside, 0);
    EXPECT_GE(inside, 100); /* the parts inside the range were drawn */
    deja__canvas_free(&ref);
    deja__canvas_free(&c);
}

TEST(chart_handles_degenerate_ranges_and_tiny_canvases)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 300, 200, err));
    deja__chart ch;
    deja__chart_spec s = {NULL, NULL, NULL, 5, 5, NAN, INFINITY, 0, 0};
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    EXPECT(ch.x0 < 5 && ch.x1 > 5 && ch.y1 > ch.y0);
    ASSERT_OK(deja__chart_end(&ch));
    s = (deja__chart_spec){"t", "x", "y", -1e308, 1e308, 1e-300, 2e-300, 0, 0};
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    ASSERT_OK(deja__chart_end(&ch));
    deja__canvas_free(&c);
    ASSERT_OK(deja__canvas_init(&c, NULL, 100, 100, err));
    EXPECT_STATUS(deja__chart_begin(&ch, &c, &s, err), DEJA_INVALID_ARG);
    EXPECT(strstr(err, "too small"));
    deja__canvas_free(&c);
}

TEST(equal_aspect_gives_the_same_units_per_pixel)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 900, 500, err));
    deja__chart ch;
    deja__chart_spec s = {"t", "x (m)", "y (m)", -3, 40, 0, 2, 1, 0};
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    EXPECT_NEAR((ch.x1 - ch.x0) / ch.pw, (ch.y1 - ch.y0) / ch.ph, 1e-9);
    EXPECT(ch.x0 <= -3 && ch.x1 >= 40 && ch.y0 <= 0 && ch.y1 >= 2);
    /* A unit square is square on screen. */
    const double w = deja__chart_px(&ch, 1) - deja__chart_px(&ch, 0);
    const double h = deja__chart_py(&ch, 0) - deja__chart_py(&ch, 1);
    EXPECT_NEAR(w, h, 1e-9);
    ASSERT_OK(deja__chart_end(&ch));
    deja__canvas_free(&c);
}

TEST(stacked_areas_bin_100k_samples_per_column)
{
    enum { N = 100000 };
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 900, 500, err));
    double *x = malloc(N * sizeof *x), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    double *t = malloc(N * sizeof *t);
    ASSERT(x && a && b && t);
    for (int i = 0; i < N; i++) {
        x[i] = i;
        a[i] = i % 2 ? 2.0 : 0.0; /* mean 1 per column */
        b[i] = 2;
        t[i] = i % 1000 == 7 ? NAN : 3; /* NaN counts as 0, rarely */
    }
    const double *ys[3] = {a, b, t};
    const uint32_t col[3] = {DEJA__OI_BLUE, DEJA__OI_ORANGE, DEJA__OI_GREEN};
    const char *names[3] = {"decode", "features", "query"};
    deja__chart ch;
    deja__chart_spec s = {"time", "frame", "time (ms)", 0, N, 0, 8, 0, 0};
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    deja__chart_stacked(&ch, x, ys, 3, N, col, names);
    ASSERT_OK(deja__chart_end(&ch));
    const int mid = (int)deja__chart_px(&ch, N / 2 + 1234); /* off the x grid lines */
    EXPECT_EQ(deja__canvas_get(&c, mid, (int)deja__chart_py(&ch, 0.5)), DEJA__OI_BLUE);
    EXPECT_EQ(deja__canvas_get(&c, mid, (int)deja__chart_py(&ch, 2.0)), DEJA__OI_ORANGE);
    EXPECT_EQ(deja__canvas_get(&c, mid, (int)deja__chart_py(&ch, 4.5)), DEJA__OI_GREEN);
    EXPECT_EQ(deja__canvas_get(&c, mid, (int)deja__chart_py(&ch, 6.5)), WHITE);
    /* The top band (first legend row) shows its colour in the legend too. */
    EXPECT_EQ(ch.n_legend, 3);
    EXPECT(strcmp(ch.legend[0].text, "query") == 0);
    free(x), free(a), free(b), free(t);
    deja__canvas_free(&c);
}

TEST(stacked_areas_interpolate_between_sparse_samples)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 600, 400, err));
    const double x[3] = {10, 0, 5}, y[3] = {4, 0, 2}; /* unsorted on purpose */
    const double *ys[1] = {y};
    const uint32_t col[1] = {DEJA__OI_VERMILION};
    deja__chart ch;
    deja__chart_spec s = {NULL, NULL, NULL, 0, 10, 0, 5, 0, -1};
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    deja__chart_stacked(&ch, x, ys, 1, 3, col, NULL);
    ASSERT_OK(deja__chart_end(&ch));
    /* At x = 7.5 the top is near 3: filled just below, white just above. */
    const int px = (int)deja__chart_px(&ch, 7.5);
    EXPECT_EQ(deja__canvas_get(&c, px, (int)deja__chart_py(&ch, 3) + 3), DEJA__OI_VERMILION);
    EXPECT_EQ(deja__canvas_get(&c, px, (int)deja__chart_py(&ch, 3) - 4), WHITE);
    deja__canvas_free(&c);
}

TEST(stacked_areas_report_out_of_memory)
{
    test_counter k = {0};
    deja_options o = test_counting_options(&k);
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, &o, 400, 300, err));
    deja__chart ch;
    deja__chart_spec s = unit_spec();
    ASSERT_OK(deja__chart_begin(&ch, &c, &s, err));
    const double x[2] = {0, 1}, y[2] = {0.5, 0.5};
    const double *ys[1] = {y};
    const uint32_t col[1] = {RED};
    k.fail_at = k.calls + 1;
    deja__chart_stacked(&ch, x, ys, 1, 2, col, NULL);
    EXPECT_STATUS(deja__chart_end(&ch), DEJA_NOMEM);
    EXPECT(strstr(err, "stacked"));
    deja__canvas_free(&c);
    EXPECT_EQ(k.live, 0);
}

/* ---- PNG --------------------------------------------------------------------------------- */

static void paint_test_card(deja__canvas *c)
{
    deja__fill_rect(c, 0, 0, 40, 30, RED);
    deja__fill_rect(c, 80, 50, 120, 80, 0x0000FFu);
    deja__text(c, 45, 35, "PNG", 1, DEJA__LEFT, 0x000000u);
}

#ifdef DEJA_HAVE_PNG
TEST(png_round_trip_through_the_decoder)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 120, 80, err));
    paint_test_card(&c);
    const char *path = test_tmp_path("card.png");
    ASSERT_OK(deja__canvas_write_png(&c, path, err));
    deja_decoder *d;
    ASSERT_OK(deja_decoder_create(NULL, &d));
    deja_image im;
    ASSERT_OK(deja_decoder_read_file(d, path, &im));
    EXPECT_EQ(im.width, 120);
    EXPECT_EQ(im.height, 80);
    /* BT.601 luma of red, blue, white; black text ink. */
    EXPECT_EQ(im.pixels[5 * im.stride + 5], 76);
    EXPECT_EQ(im.pixels[60 * im.stride + 100], 29);
    EXPECT_EQ(im.pixels[70 * im.stride + 20], 255);
    EXPECT_EQ(im.pixels[(35 + 2) * im.stride + 45], 0); /* 'P' stem, top row */
    /* The in-memory PNG is the same file. */
    uint8_t *bytes;
    size_t n, file_n;
    ASSERT_OK(deja__canvas_png_bytes(&c, &bytes, &n, err));
    uint8_t *file = test_read_file(path, &file_n);
    EXPECT_EQ(n, file_n);
    EXPECT(n == file_n && memcmp(bytes, file, n) == 0);
    free(file);
    deja__png_bytes_free(&c, bytes, n);
    deja_decoder_destroy(d);
    remove(path);
    EXPECT_STATUS(deja__canvas_write_png(&c, "/nonexistent-dir/x.png", err), DEJA_IO);
    EXPECT(strstr(err, "/nonexistent-dir/x.png"));
    deja__canvas_free(&c);
}

TEST(png_bytes_out_of_memory_sweep)
{
    test_counter k = {0};
    deja_options o = test_counting_options(&k);
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, &o, 120, 80, err));
    paint_test_card(&c);
    const size_t base = k.calls;
    int ok = 0;
    for (size_t f = 1; f < 200 && !ok; f++) {
        k.fail_at = base + f;
        uint8_t *bytes = NULL;
        size_t n = 0;
        deja_status st = deja__canvas_png_bytes(&c, &bytes, &n, err);
        if (st == DEJA_OK) {
            ok = 1;
            EXPECT(n > 8 && bytes[1] == 'P');
            deja__png_bytes_free(&c, bytes, n);
        } else {
            EXPECT_EQ(st, DEJA_NOMEM);
            EXPECT(bytes == NULL);
        }
        EXPECT_EQ(k.live, 120 * 80 * 3); /* only the raster is left */
        k.calls = base;
    }
    EXPECT(ok);
    deja__canvas_free(&c);
    EXPECT_EQ(k.live, 0);
}
#else
TEST(png_writers_say_png_is_not_compiled_in)
{
    deja__canvas c;
    ASSERT_OK(deja__canvas_init(&c, NULL, 120, 80, err));
    paint_test_card(&c);
    EXPECT_STATUS(deja__canvas_write_png(&c, test_tmp_path("x.png"), err), DEJA_UNSUPPORTED);
    EXPECT(strstr(err, "DEJA_PNG=OFF"));
    uint8_t *bytes = NULL;
    size_t n = 0;
    EXPECT_STATUS(deja__canvas_png_bytes(&c, &bytes, &n, err), DEJA_UNSUPPORTED);
    EXPECT(bytes == NULL);
    deja__canvas_free(&c);
}
#endif

/* ---- samples for people ------------------------------------------------------------------ */

/* Synthetic evaluation data for the samples: deterministic, shaped like a real run. */
static double rnd(uint64_t *s)
{
    return (double)(deja__splitmix64(s) >> 11) * 0x1.0p-53;
}

static deja_status save(deja__canvas *c, const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    deja_status st = deja__canvas_write_png(c, path, err);
    if (st == DEJA_OK) fprintf(stderr, "  wrote %s\n", path);
    return st;
}

static deja_status sample_font(const char *dir)
{
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, DEJA__PLOT_W, DEJA__PLOT_H, err);
    if (st != DEJA_OK) return st;
    char line[40];
    for (int band = 0; band < 4; band++) {
        int k = 0;
        for (int ch = 32 + band * 24; ch < 127 && ch < 32 + (band + 1) * 24; ch++)
            line[k++] = (char)ch;
        line[k] = '\0';
        deja__text(&c, 10, 10 + band * 16, line, 1, DEJA__LEFT, 0x000000u);
        deja__text(&c, 200, 10 + band * 26, line, 2, DEJA__LEFT, 0x000000u);
        deja__text(&c, 10, 120 + band * 38, line, 3, DEJA__LEFT, 0x000000u);
    }
    deja__text(&c, 10, 280, "The quick brown fox jumps over the lazy dog. 0.25 1e5 -3 (ms) [MiB]",
               1, DEJA__LEFT, 0x333333u);
    deja__text(&c, 10, 300, "Recall 0.97 at precision 1.00; frame 12345 matches 678", 2, DEJA__LEFT,
               DEJA__OI_BLUE);
    deja__text_vertical(&c, 10, 490, "time per frame (ms)", 1, DEJA__LEFT | DEJA__BOTTOM, 0);
    deja__text_vertical(&c, 40, 490, "resident memory (MiB)", 2, DEJA__LEFT | DEJA__BOTTOM, 0);
    deja__text(&c, 450, 420, "centre, middle", 2, DEJA__CENTER | DEJA__MIDDLE, DEJA__OI_VERMILION);
    deja__fill_rect(&c, 449, 390, 451, 450, DEJA__OI_SKY);
    deja__fill_rect(&c, 300, 419, 600, 421, DEJA__OI_SKY);
    st = save(&c, dir, "font.png");
    deja__canvas_free(&c);
    return st;
}

static deja_status sample_timing(const char *dir)
{
    enum { N = 100000, S = 5 };
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, DEJA__PLOT_W, DEJA__PLOT_H, err);
    if (st != DEJA_OK) return st;
    double *x = malloc(N * sizeof *x), *ys[S];
    for (int s = 0; s < S; s++)
        ys[s] = malloc(N * sizeof *ys[s]);
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        x[i] = i;
        ys[0][i] = 1.2 + 0.3 * rnd(&seed);                         /* decode */
        ys[1][i] = 6.5 + 1.5 * rnd(&seed) + (i > 60000 ? 1.0 : 0); /* ORB */
        ys[2][i] = 1.0 + 0.4 * rnd(&seed);                         /* BoW */
        ys[3][i] = 0.5 + 2.5 * (double)i / N + 0.3 * rnd(&seed);   /* index query */
        ys[4][i] = rnd(&seed) < 0.05 ? 3 + 8 * rnd(&seed) : 0.2;   /* geometry */
    }
    const uint32_t col[S] = {DEJA__OI_SKY, DEJA__OI_BLUE, DEJA__OI_GREEN, DEJA__OI_ORANGE,
                             DEJA__OI_VERMILION};
    const char *names[S] = {"decode", "ORB features", "BoW transform", "index query",
                            "geometric check"};
    double lo, hi, step;
    deja__nice_range(0, 16, 6, &lo, &hi, &step);
    deja__chart ch;
    deja__chart_spec s = {
        "Time per frame by stage", "frame index", "time (ms)", 0, N, lo, hi, 0, 1};
    st = deja__chart_begin(&ch, &c, &s, err);
    if (st == DEJA_OK) {
        deja__chart_stacked(&ch, x, (const double *const *)ys, S, N, col, names);
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = save(&c, dir, "timing.png");
    free(x);
    for (int k = 0; k < S; k++)
        free(ys[k]);
    deja__canvas_free(&c);
    return st;
}

static deja_status sample_memory(const char *dir)
{
    enum { N = 100000 };
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, DEJA__PLOT_W, DEJA__PLOT_H, err);
    if (st != DEJA_OK) return st;
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint64_t seed = 7;
    double cap = 64;
    for (int i = 0; i < N; i++) {
        x[i] = i;
        const double need = 40 + 0.0021 * i; /* index grows with the frames */
        while (cap < need)
            cap *= 1.5; /* geometric growth steps */
        y[i] = 35 + cap + 2 * rnd(&seed);
        if (i == 50000) y[i] = NAN; /* a gap in the log */
    }
    double lo, hi, step;
    deja__nice_range(0, 400, 6, &lo, &hi, &step);
    deja__chart ch;
    deja__chart_spec s = {
        "Resident memory", "frame index", "resident set (MiB)", 0, N, lo, hi, 0, 1};
    st = deja__chart_begin(&ch, &c, &s, err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, x, y, N, DEJA__OI_BLUE, 1.5f, "RSS");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = save(&c, dir, "memory.png");
    free(x);
    free(y);
    deja__canvas_free(&c);
    return st;
}

static deja_status sample_pr(const char *dir, int w, int h, const char *name)
{
    enum { N = 41 };
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, w, h, err);
    if (st != DEJA_OK) return st;
    double r[N], p[N], r2[N], p2[N];
    for (int i = 0; i < N; i++) {
        const double t = (double)i / (N - 1);
        r[i] = 0.92 * t;
        p[i] = 1.0 - 0.6 * pow(t, 6);
        r2[i] = 0.8 * t;
        p2[i] = 1.0 - 0.15 * t - 0.5 * pow(t, 3);
    }
    deja__chart ch;
    deja__chart_spec s = {"Precision-recall", "recall", "precision", 0, 1, 0, 1.05, 0, 3};
    st = deja__chart_begin(&ch, &c, &s, err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, r, p, N, DEJA__OI_BLUE, 2, "deja, temporal check on");
        deja__chart_points(&ch, r, p, N, DEJA__OI_BLUE, 3, "deja, temporal check on");
        deja__chart_line(&ch, r2, p2, N, DEJA__OI_ORANGE, 2, "deja, temporal check off");
        deja__chart_points(&ch, r2, p2, N, DEJA__OI_ORANGE, 3, "deja, temporal check off");
        const double ox[1] = {0.74}, oy[1] = {1.0};
        deja__chart_points(&ch, ox, oy, 1, DEJA__OI_VERMILION, 5, "operating point");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = save(&c, dir, name);
    deja__canvas_free(&c);
    return st;
}

static deja_status sample_matrix(const char *dir)
{
    enum { N = 600, M = 4 * N };
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, 700, 640, err);
    if (st != DEJA_OK) return st;
    static double gx[M], gy[M], gv[M], tx[N], ty[N], cx[N], cy[N], wx[20], wy[20];
    int ng = 0, nt = 0, nc = 0, nw = 0;
    uint64_t seed = 3;
    for (int i = 0; i < N; i++) {
        /* frames 380..580 revisit 60..260 */
        const int j = i >= 380 && i < 580 ? i - 320 : -1;
        for (int k = 0; k < 3; k++) { /* candidate similarities */
            const int cand = (int)(rnd(&seed) * (i > 1 ? i : 1));
            gx[ng] = i, gy[ng] = cand, gv[ng++] = 0.2 + 0.3 * rnd(&seed);
        }
        if (j >= 0) {
            gx[ng] = i, gy[ng] = j, gv[ng++] = 0.9;
            tx[nt] = i, ty[nt++] = j;
            if (rnd(&seed) < 0.7) cx[nc] = i, cy[nc++] = j;
        }
        if (nw < 20 && rnd(&seed) < 0.03 && i > 100)
            wx[nw] = i, wy[nw++] = (int)(rnd(&seed) * (i - 50));
    }
    deja__chart ch;
    deja__chart_spec s = {"Loop matrix", "query frame", "matched frame", 0, N, 0, N, 1, 1};
    st = deja__chart_begin(&ch, &c, &s, err);
    if (st == DEJA_OK) {
        deja__chart_grey_cells(&ch, gx, gy, gv, (size_t)ng, 3, "similarity");
        deja__chart_cells(&ch, tx, ty, (size_t)nt, 10, DEJA__OI_SKY, "true loop");
        deja__chart_cells(&ch, cx, cy, (size_t)nc, 3, DEJA__OI_GREEN, "detected, correct");
        deja__chart_cells(&ch, wx, wy, (size_t)nw, 6, DEJA__OI_VERMILION, "detected, wrong");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = save(&c, dir, "matrix.png");
    deja__canvas_free(&c);
    return st;
}

static deja_status sample_trajectory(const char *dir)
{
    enum { N = 800 };
    deja__canvas c;
    deja_status st = deja__canvas_init(&c, NULL, DEJA__PLOT_W, DEJA__PLOT_H, err);
    if (st != DEJA_OK) return st;
    static double x[N], y[N], seg[4 * 40];
    uint64_t seed = 11;
    for (int i = 0; i < N; i++) {
        /* a city block twice round, then off to the east */
        const double t = (double)i / 300 * 2 * 3.14159265358979;
        if (i < 600) {
            x[i] = 120 * cos(t) + 20 * cos(3 * t) + 3 * rnd(&seed);
            y[i] = 70 * sin(t) + 2 * rnd(&seed) + (i >= 300 ? 6 : 0);
        } else {
            x[i] = x[599] + 0.6 * (i - 599);
            y[i] = y[599] + 0.2 * (i - 599);
        }
    }
    int ns = 0;
    for (int i = 320; i < 600 && ns < 40; i += 7)
        seg[4 * ns] = x[i], seg[4 * ns + 1] = y[i], seg[4 * ns + 2] = x[i - 300],
                seg[4 * ns + 3] = y[i - 300], ns++;
    deja__chart ch;
    deja__chart_spec s = {"Trajectory (top view)", "x (m)", "y (m)", -160, 260, -90, 110, 1, 1};
    st = deja__chart_begin(&ch, &c, &s, err);
    if (st == DEJA_OK) {
        deja__chart_line(&ch, x, y, N, DEJA__OI_BLUE, 1.5f, "camera path");
        deja__chart_segments(&ch, seg, (size_t)ns, DEJA__OI_VERMILION, 1.5f, "detected loop");
        const double sx[1] = {x[0]}, sy[1] = {y[0]};
        deja__chart_points(&ch, sx, sy, 1, DEJA__OI_GREEN, 5, "start");
        st = deja__chart_end(&ch);
    }
    if (st == DEJA_OK) st = save(&c, dir, "trajectory.png");
    deja__canvas_free(&c);
    return st;
}

TEST(render_samples_when_asked)
{
    const char *dir = getenv("DEJA_PLOT_SAMPLES");
    if (!dir || !*dir) SKIP("set DEJA_PLOT_SAMPLES=<dir> to render sample charts");
#ifndef DEJA_HAVE_PNG
    SKIP("built without PNG");
#endif
    mkdir(dir, 0755);
    ASSERT_OK(sample_font(dir));
    ASSERT_OK(sample_timing(dir));
    ASSERT_OK(sample_memory(dir));
    ASSERT_OK(sample_pr(dir, DEJA__PLOT_W, DEJA__PLOT_H, "pr.png"));
    ASSERT_OK(sample_pr(dir, 2 * DEJA__PLOT_W, 2 * DEJA__PLOT_H, "pr_large.png"));
    ASSERT_OK(sample_matrix(dir));
    ASSERT_OK(sample_trajectory(dir));
}
