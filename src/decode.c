/* decode.c - image input: PNG (libpng), JPEG (libjpeg-turbo) and binary PGM/PPM to 8-bit grey.
 *
 * How it works. The format is chosen from the first bytes (PNG signature, JPEG SOI, "P5"/"P6"),
 * never from the file name. Each format reads its header first, checks width x height against
 * options.max_pixels (DEJA_LIMIT) and only then grows the output buffer. That buffer belongs to
 * the decoder and is reused (it grows, never shrinks), so same-size frames allocate nothing after
 * the first. Colour becomes grey with ITU-R BT.601 luma on 8-bit samples,
 * Y = (299 R + 587 G + 114 B + 500) / 1000, the exact rounding of 0.299 R + 0.587 G + 0.114 B.
 * Alpha is dropped, not composited. JPEG asks libjpeg for JCS_GRAYSCALE output; for YCbCr files
 * that is the stored Y channel (computed by the encoder with the same weights), so the chroma
 * planes are never even upsampled.
 *
 * Errors. libpng and libjpeg report fatal errors through callbacks that must not return. Ours
 * copy the library's text and longjmp to a setjmp in a small noinline "run" function whose
 * mutable state all lives in a context struct owned by its caller; so no local of the function
 * containing setjmp changes between setjmp and longjmp (those would be indeterminate afterwards),
 * and the caller frees the library state the same way on success and failure. libjpeg's warnings
 * about corrupt data (premature end of file, bad Huffman code...) are errors here: otherwise a
 * truncated JPEG "decodes" with grey-filled rows. Nothing is ever printed.
 *
 * Memory. Output pixels, file bytes (read_file) and a colour scratch buffer belong to the
 * decoder. libpng allocates through the deja allocator (png_create_read_struct_2, with a size
 * header in front of each block because deja_allocator.free wants the size back); libjpeg takes
 * its per-image pools from malloc, which only replacing its memory manager could change.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef DEJA_HAVE_PNG
#include <png.h>
#endif
#ifdef DEJA_HAVE_JPEG
#include <jerror.h>
#include <jpeglib.h>
#endif

/* Files above this are refused before reading: a max_pixels 16-bit PPM needs 400 MB, and it caps
 * what a hostile path (a huge sparse file) can make us allocate. */
#define MAX_FILE_BYTES ((uint64_t)1 << 30)
/* A progressive JPEG with more scans than this is hostile (libjpeg would redo the coefficient
 * work for each one); real encoders write about 10. */
#define MAX_JPEG_SCANS 500

struct deja_decoder {
    deja_allocator alloc;
    uint64_t max_pixels;
    void *pixels; /* output grey, width * height bytes, stride = width */
    size_t pixels_cap;
    void *file; /* read_file's bytes */
    size_t file_cap;
    void *scratch; /* PNG colour rows (a whole RGB image when interlaced) */
    size_t scratch_cap;
    char error[DEJA_ERROR_BYTES];
};

static inline uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
}

/* The limit check comes from the header alone, before any pixel memory exists. */
static deja_status check_size(deja_decoder *d, const char *name, const char *fmt, uint64_t w,
                              uint64_t h)
{
    if (w == 0 || h == 0)
        return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: zero image size %" PRIu64 "x%" PRIu64, name,
                        fmt, w, h);
    if (w > INT_MAX || h > INT_MAX || w * h > d->max_pixels)
        return DEJA_ERR(d->error, DEJA_LIMIT,
                        "%s: %s: %" PRIu64 "x%" PRIu64 " pixels exceeds max_pixels %" PRIu64, name,
                        fmt, w, h, d->max_pixels);
    return DEJA_OK;
}

/* Grows the output buffer (checked size) and describes it in *im. */
static deja_status begin_frame(deja_decoder *d, const char *name, int w, int h, deja_image *im)
{
    size_t n;
    if (!deja__mul_ok((size_t)w, (size_t)h, &n) ||
        !deja__reserve(&d->alloc, &d->pixels, &d->pixels_cap, n, 1))
        return DEJA_ERR(d->error, DEJA_NOMEM, "%s: no memory for %dx%d pixels", name, w, h);
    *im = (deja_image){w, h, w, d->pixels};
    return DEJA_OK;
}

/* ---- PGM / PPM (P5 / P6) ----------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t n, i;
} cursor;

static bool pnm_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Netpbm allows '#' comments to end of line wherever header whitespace may be. */
static void pnm_skip(cursor *c)
{
    while (c->i < c->n) {
        if (c->p[c->i] == '#') {
            while (c->i < c->n && c->p[c->i] != '\n' && c->p[c->i] != '\r')
                c->i++;
        } else if (pnm_space(c->p[c->i])) {
            c->i++;
        } else {
            break;
        }
    }
}

/* One header number (after whitespace/comments). 0 ok, 1 truncated, 2 not a number, 3 > 2^32-1.
 * It must end in whitespace or a comment, so "12x" is not read as 12. */
static int pnm_number(cursor *c, uint64_t *out)
{
    pnm_skip(c);
    if (c->i >= c->n) return 1;
    if (c->p[c->i] < '0' || c->p[c->i] > '9') return 2;
    uint64_t v = 0;
    while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
        v = v * 10 + (uint64_t)(c->p[c->i++] - '0');
        if (v > UINT32_MAX) return 3;
    }
    if (c->i >= c->n) return 1;
    if (!pnm_space(c->p[c->i]) && c->p[c->i] != '#') return 2;
    *out = v;
    return 0;
}

/* Converts n pixels of ch samples (1 or 2 bytes, big-endian) scaled from maxval to 255.
 * Returns false if a sample exceeds maxval (the file is corrupt). */
static bool pnm_convert(uint8_t *dst, const uint8_t *src, size_t n, int ch, int bps,
                        unsigned maxval)
{
    /* 8-bit samples go through a table; 0x100 marks values above maxval so one OR finds them. */
    uint16_t lut[256];
    if (bps == 1)
        for (unsigned v = 0; v < 256; v++)
            lut[v] = (uint16_t)(v > maxval ? 0x100 : (v * 255 + maxval / 2) / maxval);
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned s[3];
        for (int k = 0; k < ch; k++) {
            if (bps == 1) {
                s[k] = lut[*src++];
            } else {
                unsigned v = (unsigned)src[0] << 8 | src[1];
                src += 2;
                bad |= v > maxval;
                s[k] = (v * 255 + maxval / 2) / maxval;
            }
        }
        if (ch == 1) {
            bad |= s[0] >> 8;
            dst[i] = (uint8_t)s[0];
        } else {
            bad |= (s[0] | s[1] | s[2]) >> 8;
            dst[i] = luma(s[0], s[1], s[2]);
        }
    }
    return bad == 0;
}

static deja_status decode_pnm(deja_decoder *d, const uint8_t *data, size_t bytes, const char *name,
                              deja_image *out)
{
    const int ch = data[1] == '6' ? 3 : 1;
    const char *fmt = ch == 3 ? "PPM" : "PGM";
    cursor c = {data, bytes, 2};
    static const char *const field[3] = {"width", "height", "maxval"};
    uint64_t v[3] = {0, 0, 0};
    if (c.i < c.n && !pnm_space(data[c.i]) && data[c.i] != '#')
        return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: no whitespace after magic", name, fmt);
    for (int k = 0; k < 3; k++) {
        int r = pnm_number(&c, &v[k]);
        if (r == 1)
            return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: header truncated before %s end", name,
                            fmt, field[k]);
        if (r == 2)
            return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: %s at byte %zu is not a number", name,
                            fmt, field[k], c.i);
        if (r == 3 && k < 2)
            return DEJA_ERR(d->error, DEJA_LIMIT, "%s: %s: %s too large (> 2^32-1)", name, fmt,
                            field[k]);
        if (r == 3 || (k == 2 && (v[2] == 0 || v[2] > 65535)))
            return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: maxval not in 1..65535", name, fmt);
    }
    deja_status st = check_size(d, name, fmt, v[0], v[1]);
    if (st != DEJA_OK) return st;
    /* Exactly one whitespace byte ends the header; a comment may not follow maxval. */
    if (!pnm_space(data[c.i]))
        return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: no whitespace after maxval", name, fmt);
    c.i++;
    const int w = (int)v[0], h = (int)v[1], bps = v[2] > 255 ? 2 : 1;
    size_t n_px = (size_t)w * (size_t)h, need; /* <= max_pixels, checked above */
    if (!deja__mul_ok(n_px, (size_t)(ch * bps), &need) || need > bytes - c.i)
        return DEJA_ERR(d->error, DEJA_FORMAT,
                        "%s: %s: raster truncated: %dx%d needs %zu bytes, %zu present", name, fmt,
                        w, h, n_px * (size_t)(ch * bps), bytes - c.i);
    deja_image im;
    if ((st = begin_frame(d, name, w, h, &im)) != DEJA_OK) return st;
    if (ch == 1 && bps == 1 && v[2] == 255)
        memcpy(d->pixels, data + c.i, n_px); /* the common case is a plain copy */
    else if (!pnm_convert(d->pixels, data + c.i, n_px, ch, bps, (unsigned)v[2]))
        return DEJA_ERR(d->error, DEJA_FORMAT, "%s: %s: a sample exceeds maxval %u", name, fmt,
                        (unsigned)v[2]);
    *out = im;
    return DEJA_OK;
}

/* ---- PNG --------------------------------------------------------------------------------- */

#ifdef DEJA_HAVE_PNG
typedef struct png_ctx {
    deja_decoder *d;
    const char *name;
    const uint8_t *data;
    size_t bytes, pos;
    png_structp png;
    png_infop info;
    bool nomem; /* our allocator failed: the libpng error is really NOMEM */
    jmp_buf jmp;
    char msg[256];
} png_ctx;

/* libpng's free does not pass the size, our allocator wants it: keep it in front of the block. */
typedef union block_head {
    size_t bytes;
    max_align_t align;
} block_head;

static png_voidp png_mem_alloc(png_structp png, png_alloc_size_t bytes)
{
    png_ctx *c = png_get_mem_ptr(png);
    size_t total;
    block_head *h = NULL;
    if (deja__add_ok(bytes, sizeof *h, &total)) h = deja__alloc(&c->d->alloc, total);
    if (!h) {
        c->nomem = true;
        return NULL;
    }
    h->bytes = total;
    return h + 1;
}

static void png_mem_free(png_structp png, png_voidp p)
{
    if (!p) return;
    png_ctx *c = png_get_mem_ptr(png);
    block_head *h = (block_head *)p - 1;
    deja__free(&c->d->alloc, h, h->bytes);
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jmp, 1);
}

/* Warnings are benign by libpng's rules (bad ancillary CRC, extra IDAT data): ignored, silent. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->bytes - c->pos) {
        /* Name the chunk being read: "IDAT truncated" says more than "read error". */
        png_uint_32 t = png_get_io_chunk_type(png);
        char tag[5] = {(char)(t >> 24), (char)(t >> 16), (char)(t >> 8), (char)t, 0};
        bool named = t != 0;
        for (int k = 0; k < 4; k++)
            named = named && ((tag[k] >= 'A' && tag[k] <= 'Z') || (tag[k] >= 'a' && tag[k] <= 'z'));
        char msg[128];
        snprintf(msg, sizeof msg, "%s truncated (file ends at byte %zu)",
                 named ? tag : "signature/chunk header", c->bytes);
        png_error(png, msg);
    }
    memcpy(dst, c->data + c->pos, n);
    c->pos += n;
}

static void rgb_to_grey(uint8_t *dst, const uint8_t *rgb, size_t n)
{
    for (size_t i = 0; i < n; i++, rgb += 3)
        dst[i] = luma(rgb[0], rgb[1], rgb[2]);
}

/* Everything libpng touches after setjmp lives in *c (owned by the caller), so it is still valid
 * after a longjmp; noinline keeps it a separate frame from the caller's. */
__attribute__((noinline)) static deja_status png_run(png_ctx *c, deja_image *out)
{
    deja_decoder *d = c->d;
    if (setjmp(c->jmp))
        return DEJA_ERR(d->error, c->nomem ? DEJA_NOMEM : DEJA_FORMAT, "%s: PNG: %s", c->name,
                        c->msg);
    c->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning, c,
                                      png_mem_alloc, png_mem_free);
    if (c->png) c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info)
        return DEJA_ERR(d->error, DEJA_NOMEM, "%s: PNG: cannot create the libpng reader", c->name);
    png_set_read_fn(c->png, c, png_read_mem);
    /* Our max_pixels is the limit; libpng's own (1e6 per side) would turn it into a FORMAT. */
    png_set_user_limits(c->png, 0x7fffffff, 0x7fffffff);
    /* Skip all ancillary chunks (text, ICC, gamma...): not needed for grey pixels, and less
     * parsing of hostile bytes; critical chunks and tRNS are always processed. */
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(c->png, c->info);

    png_uint_32 w, h;
    int depth, colour, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &colour, &interlace, NULL, NULL);
    deja_status st = check_size(d, c->name, "PNG", w, h);
    if (st != DEJA_OK) return st;
    /* Reduce every layout to 8-bit grey or 8-bit RGB; luma is ours, not png_set_rgb_to_gray's
     * (which is gamma-dependent and rounds differently). */
    if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
    if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
    /* palette_to_rgb also turns tRNS into alpha: strip that too. */
    if ((colour & PNG_COLOR_MASK_ALPHA) || png_get_valid(c->png, c->info, PNG_INFO_tRNS))
        png_set_strip_alpha(c->png);
    if (depth == 16) png_set_scale_16(c->png); /* rounds v / 257, unlike strip_16 */
    const int passes = png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    const int channels = png_get_channels(c->png, c->info);
    if (png_get_bit_depth(c->png, c->info) != 8 || (channels != 1 && channels != 3))
        return DEJA_ERR(d->error, DEJA_UNSUPPORTED, "%s: PNG: layout colour %d depth %d unhandled",
                        c->name, colour, depth);

    deja_image im;
    if ((st = begin_frame(d, c->name, (int)w, (int)h, &im)) != DEJA_OK) return st;
    uint8_t *dst = d->pixels;
    const size_t row = w;
    if (channels == 1) {
        /* Interlaced passes merge into the rows in place, so grey goes straight to the output. */
        for (int p = 0; p < passes; p++)
            for (size_t y = 0; y < h; y++)
                png_read_row(c->png, dst + y * row, NULL);
    } else {
        /* RGB needs scratch: one row, or the whole image when passes revisit every row. */
        size_t n_rows = passes > 1 ? h : 1, need;
        if (!deja__mul_ok(row * 3, n_rows, &need) ||
            !deja__reserve(&d->alloc, &d->scratch, &d->scratch_cap, need, 1))
            return DEJA_ERR(d->error, DEJA_NOMEM, "%s: PNG: no memory for %zu rows of RGB", c->name,
                            n_rows);
        uint8_t *rgb = d->scratch;
        for (int p = 0; p < passes; p++) {
            for (size_t y = 0; y < h; y++) {
                uint8_t *r = passes > 1 ? rgb + y * row * 3 : rgb;
                png_read_row(c->png, r, NULL);
                if (passes == 1) rgb_to_grey(dst + y * row, r, row);
            }
        }
        if (passes > 1)
            for (size_t y = 0; y < h; y++)
                rgb_to_grey(dst + y * row, rgb + y * row * 3, row);
    }
    /* Reading to IEND verifies the last CRCs and catches a file cut after the pixels. */
    png_read_end(c->png, NULL);
    *out = im;
    return DEJA_OK;
}

static deja_status decode_png(deja_decoder *d, const uint8_t *data, size_t bytes, const char *name,
                              deja_image *out)
{
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.name = name;
    c.data = data;
    c.bytes = bytes;
    deja_status st = png_run(&c, out);
    if (c.png) png_destroy_read_struct(&c.png, c.info ? &c.info : NULL, NULL);
    return st;
}
#endif

/* ---- JPEG -------------------------------------------------------------------------------- */

#ifdef DEJA_HAVE_JPEG
typedef struct jpeg_ctx {
    deja_decoder *d;
    const char *name;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX + 32];
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr ci)
{
    jpeg_ctx *c = ci->client_data;
    char text[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, text);
    snprintf(c->msg, sizeof c->msg, "%s", text);
    longjmp(c->jmp, 1);
}

/* Level -1 is a warning: libjpeg "recovers" from corrupt or missing data by inventing pixels, so
 * every warning fails the image except two about header metadata that do not affect pixels. */
static void jpeg_on_message(j_common_ptr ci, int level)
{
    if (level >= 0) return; /* trace output */
    int code = ci->err->msg_code;
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM) return;
    jpeg_on_error(ci);
}

static void jpeg_on_output(j_common_ptr ci)
{
    (void)ci; /* never print to stderr */
}

static void jpeg_on_progress(j_common_ptr ci)
{
    j_decompress_ptr di = (j_decompress_ptr)ci;
    if (di->input_scan_number <= MAX_JPEG_SCANS) return;
    jpeg_ctx *c = ci->client_data;
    snprintf(c->msg, sizeof c->msg, "more than %d scans (hostile progressive file)",
             MAX_JPEG_SCANS);
    longjmp(c->jmp, 1);
}

/* Same setjmp discipline as png_run. */
__attribute__((noinline)) static deja_status jpeg_run(jpeg_ctx *c, const uint8_t *data,
                                                      size_t bytes, deja_image *out)
{
    deja_decoder *d = c->d;
    j_decompress_ptr ci = &c->cinfo;
    if (setjmp(c->jmp)) {
        deja_status st = c->err.msg_code == JERR_OUT_OF_MEMORY ? DEJA_NOMEM : DEJA_FORMAT;
        return DEJA_ERR(d->error, st, "%s: JPEG: %s", c->name, c->msg);
    }
    ci->err = jpeg_std_error(&c->err);
    c->err.error_exit = jpeg_on_error;
    c->err.emit_message = jpeg_on_message;
    c->err.output_message = jpeg_on_output;
    ci->client_data = c; /* kept by jpeg_create_decompress */
    jpeg_create_decompress(ci);
    c->progress.progress_monitor = jpeg_on_progress;
    ci->progress = &c->progress;
    jpeg_mem_src(ci, data, (unsigned long)bytes);
    jpeg_read_header(ci, TRUE);

    deja_status st = check_size(d, c->name, "JPEG", ci->image_width, ci->image_height);
    if (st != DEJA_OK) return st;
    /* libjpeg derives grey from Y (YCbCr), the single channel, or RGB; not from CMYK. */
    if (ci->jpeg_color_space != JCS_GRAYSCALE && ci->jpeg_color_space != JCS_YCbCr &&
        ci->jpeg_color_space != JCS_RGB)
        return DEJA_ERR(d->error, DEJA_UNSUPPORTED,
                        "%s: JPEG: %s colour space (%d components) not supported", c->name,
                        ci->jpeg_color_space == JCS_CMYK   ? "CMYK"
                        : ci->jpeg_color_space == JCS_YCCK ? "YCCK"
                                                           : "unknown",
                        ci->num_components);
    ci->out_color_space = JCS_GRAYSCALE;
    const int w = (int)ci->image_width, h = (int)ci->image_height;
    deja_image im;
    if ((st = begin_frame(d, c->name, w, h, &im)) != DEJA_OK) return st;
    jpeg_start_decompress(ci);
    if ((int)ci->output_width != w || (int)ci->output_height != h || ci->output_components != 1)
        return DEJA_ERR(d->error, DEJA_FORMAT, "%s: JPEG: output %ux%ux%d, expected %dx%dx1",
                        c->name, ci->output_width, ci->output_height, ci->output_components, w, h);
    uint8_t *dst = d->pixels;
    while ((int)ci->output_scanline < h) {
        JSAMPROW rows[16];
        int n = h - (int)ci->output_scanline;
        if (n > 16) n = 16;
        for (int k = 0; k < n; k++)
            rows[k] = dst + (size_t)(ci->output_scanline + k) * (size_t)w;
        if (jpeg_read_scanlines(ci, rows, (JDIMENSION)n) == 0)
            return DEJA_ERR(d->error, DEJA_FORMAT, "%s: JPEG: no rows after row %u", c->name,
                            ci->output_scanline);
    }
    /* Reads up to EOI: a file cut after the last scan fails here (JWRN_JPEG_EOF). */
    jpeg_finish_decompress(ci);
    *out = im;
    return DEJA_OK;
}

static deja_status decode_jpeg(deja_decoder *d, const uint8_t *data, size_t bytes, const char *name,
                               deja_image *out)
{
    jpeg_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.name = name;
    deja_status st = jpeg_run(&c, data, bytes, out);
    jpeg_destroy_decompress(&c.cinfo); /* safe on a zeroed or half-created struct */
    return st;
}
#endif

/* ---- dispatch ---------------------------------------------------------------------------- */

static deja_status decode(deja_decoder *d, const uint8_t *p, size_t bytes, const char *name,
                          deja_image *out)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes == 0) return DEJA_ERR(d->error, DEJA_FORMAT, "%s: empty (0 bytes)", name);
    if (memcmp(p, png_sig, bytes < 8 ? bytes : 8) == 0) {
        if (bytes < 8) return DEJA_ERR(d->error, DEJA_FORMAT, "%s: PNG: truncated signature", name);
#ifdef DEJA_HAVE_PNG
        return decode_png(d, p, bytes, name, out);
#else
        return DEJA_ERR(d->error, DEJA_UNSUPPORTED,
                        "%s: PNG support not compiled in (built with DEJA_PNG=OFF)", name);
#endif
    }
    if (bytes >= 2 && p[0] == 0xFF && p[1] == 0xD8) {
#ifdef DEJA_HAVE_JPEG
        return decode_jpeg(d, p, bytes, name, out);
#else
        return DEJA_ERR(d->error, DEJA_UNSUPPORTED,
                        "%s: JPEG support not compiled in (built with DEJA_JPEG=OFF)", name);
#endif
    }
    if (bytes >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6'))
        return decode_pnm(d, p, bytes, name, out);
    if (bytes >= 3 && p[0] == 'P' && strchr("12347", p[1]) && p[1] && pnm_space(p[2]))
        return DEJA_ERR(d->error, DEJA_UNSUPPORTED,
                        "%s: netpbm P%c (plain text, bitmap or PAM) not supported; only P5/P6",
                        name, p[1]);
    uint8_t head[4] = {0, 0, 0, 0};
    memcpy(head, p, bytes < 4 ? bytes : 4);
    return DEJA_ERR(d->error, DEJA_FORMAT,
                    "%s: not a PNG, JPEG or binary PGM/PPM (starts %02x %02x %02x %02x)", name,
                    head[0], head[1], head[2], head[3]);
}

/* ---- public ------------------------------------------------------------------------------ */

deja_status deja_decoder_create(const deja_options *o, deja_decoder **out)
{
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "deja_decoder_create: out is NULL");
    deja_options r = deja__options_resolve(o);
    deja_allocator a = deja__allocator(&r);
    deja_decoder *d = deja__calloc(&a, 1, sizeof *d);
    if (!d) return DEJA_ERR(NULL, DEJA_NOMEM, "deja_decoder_create: no memory");
    d->alloc = a;
    d->max_pixels = r.max_pixels;
    *out = d;
    return DEJA_OK;
}

void deja_decoder_destroy(deja_decoder *d)
{
    if (!d) return;
    deja__free(&d->alloc, d->pixels, d->pixels_cap);
    deja__free(&d->alloc, d->file, d->file_cap);
    deja__free(&d->alloc, d->scratch, d->scratch_cap);
    deja_allocator a = d->alloc;
    deja__free(&a, d, sizeof *d);
}

const char *deja_decoder_error(const deja_decoder *d)
{
    return d ? d->error : deja_last_error();
}

deja_status deja_decoder_read_memory(deja_decoder *d, const void *data, size_t bytes,
                                     const char *name, deja_image *out)
{
    if (!d) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "deja_decoder_read_memory: decoder is NULL");
    if (!out || (!data && bytes))
        return DEJA_ERR(d->error, DEJA_INVALID_ARG, "deja_decoder_read_memory: %s is NULL",
                        out ? "data" : "out");
    return decode(d, data, bytes, name ? name : "<memory>", out);
}

deja_status deja_decoder_read_file(deja_decoder *d, const char *path, deja_image *out)
{
    if (!d) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "deja_decoder_read_file: decoder is NULL");
    if (!path || !out)
        return DEJA_ERR(d->error, DEJA_INVALID_ARG, "deja_decoder_read_file: %s is NULL",
                        path ? "out" : "path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DEJA_ERR(d->error, DEJA_IO, "%s: cannot open: %s", path, strerror(errno));
    /* Size first: the limit is checked and the reused buffer grown before reading a byte. */
    struct stat sb;
    deja_status st = DEJA_OK;
    if (fstat(fd, &sb) != 0)
        st = DEJA_ERR(d->error, DEJA_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = DEJA_ERR(d->error, DEJA_IO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > MAX_FILE_BYTES)
        st = DEJA_ERR(d->error, DEJA_LIMIT, "%s: file is %" PRIu64 " bytes, limit %" PRIu64, path,
                      (uint64_t)sb.st_size, MAX_FILE_BYTES);
    else if (!deja__reserve(&d->alloc, &d->file, &d->file_cap, (size_t)sb.st_size, 1))
        st = DEJA_ERR(d->error, DEJA_NOMEM, "%s: no memory for %" PRIu64 " file bytes", path,
                      (uint64_t)sb.st_size);
    size_t size = st == DEJA_OK ? (size_t)sb.st_size : 0, got = 0;
    while (got < size) {
        ssize_t r = read(fd, (uint8_t *)d->file + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = DEJA_ERR(d->error, DEJA_IO, "%s: read failed at byte %zu: %s", path, got,
                          strerror(errno));
            break;
        }
        if (r == 0) break; /* the file shrank: decode what is there (it will look truncated) */
        got += (size_t)r;
    }
    close(fd);
    if (st != DEJA_OK) return st;
    return decode(d, d->file, got, path, out);
}

deja_status deja_image_write_pgm(const deja_image *im, const char *path)
{
    if (!im || !path || !im->pixels || im->width <= 0 || im->height <= 0 || im->stride < im->width)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG,
                        "deja_image_write_pgm: %s: NULL argument or bad image geometry",
                        path ? path : "(null)");
    FILE *f = fopen(path, "wb");
    if (!f) return DEJA_ERR(NULL, DEJA_IO, "%s: cannot create: %s", path, strerror(errno));
    bool ok = fprintf(f, "P5\n%d %d\n255\n", im->width, im->height) > 0;
    for (int y = 0; ok && y < im->height; y++)
        ok = fwrite(im->pixels + (size_t)y * (size_t)im->stride, 1, (size_t)im->width, f) ==
             (size_t)im->width;
    int err = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) return DEJA_ERR(NULL, DEJA_IO, "%s: write failed: %s", path, strerror(err));
    return DEJA_OK;
}
