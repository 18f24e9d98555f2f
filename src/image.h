/* image.h - owned grey images, resize and blur for the pyramid, geometric warps for tests. */
#ifndef DEJA_IMAGE_H
#define DEJA_IMAGE_H

#include "base.h"

/* A grey image that owns its pixels; capacity grows, never shrinks (reused per frame). */
typedef struct deja__gray {
    int width, height, stride;
    uint8_t *pixels;
    size_t cap; /* bytes allocated */
} deja__gray;

/* Make g width x height (stride = width rounded up to 16), reusing its buffer when large enough.
 * Contents are undefined afterwards. false on overflow / NOMEM. */
bool deja__gray_resize_buffer(const deja_allocator *a, deja__gray *g, int width, int height);
void deja__gray_free(const deja_allocator *a, deja__gray *g);
deja_image deja__gray_view(const deja__gray *g);

/* Bilinear downscale of src into dst (dst's size is set by the caller). */
void deja__image_resize(const deja_image *src, deja__gray *dst);
/* Gaussian blur, 7x7, sigma 2 (BRIEF smoothing), border replicated. tmp: width*height*2 bytes
 * scratch at least. */
void deja__image_blur7(const deja_image *src, deja__gray *dst, uint16_t *tmp);
/* dst(x, y) = src(A * (x, y, 1)) for the 2x3 affine A, bilinear, 0 outside. For tests. */
void deja__image_warp_affine(const deja_image *src, deja__gray *dst, const double A[6]);

#endif
