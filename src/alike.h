/* alike.h - the C side of the ALIKE learned local features (Zhao et al., IEEE TMM 2022) around
 * deja's ONNX engine: the input tensor from 8-bit pixels, and the post-processing ("DKD" of the
 * original soft_detect.py) that turns the network's scores map and dense descriptor map into
 * keypoints and float descriptors (DEJA_DESC_FLOAT32, desc_bytes = 4 * dim). Spec:
 * ../shared/models/alike-t/README.md, "Post-processing"; our choices: docs/alike.md.
 *
 * Per frame: deja__alike_padded_size, deja__alike_input_{grey,rgb} into the 1x3xHpxWp tensor,
 * run the model, deja__alike_post_run on its two outputs with the valid (unpadded) size. */
#ifndef DEJA_ALIKE_H
#define DEJA_ALIKE_H

#include "base.h"

#define DEJA__ALIKE_ALIGN       32    /* network input sides must be multiples of this */
#define DEJA__ALIKE_MAX_SIDE    16384 /* image width / height limit */
#define DEJA__ALIKE_MAX_RADIUS  8
#define DEJA__ALIKE_MAX_DIM     1024 /* descriptor channels */
#define DEJA__ALIKE_TEMPERATURE 0.1  /* sub-pixel soft-argmax, as the original */

typedef struct deja__alike_params {
    int radius;        /* NMS radius (window 2r+1), border and sub-pixel patch; 2 */
    float scores_th;   /* keep NMS maxima with score > scores_th; if none (or scores_th <= 0),
                          the mean of the scores map is the threshold; 0.2 */
    int top_k;         /* > 0: take the top_k largest NMS scores instead (zeros included, as
                          torch.topk); <= 0: threshold; -1 */
    int n_limit;       /* threshold path: more candidates than this -> the n_limit strongest,
                          sorted by score; 5000 */
    int sub_pixel;     /* 1: soft-argmax offset in the 5x5 patch, bilinear score and descriptor;
                          0: integer pixel, S[y][x], D[:, y, x]; 1 */
    int max_keypoints; /* deja's cap, applied after the selection: the strongest kept. Same as
                          selecting with min(n_limit, max_keypoints) (min(top_k, ..) for top_k);
                          0 = no cap; 1000 */
} deja__alike_params;

deja__alike_params deja__alike_params_default(void);

/* The network's outputs for one frame. Tensors are map_w x map_h (the padded input size); only
 * the top-left width x height region is the image and is read. */
typedef struct deja__alike_maps {
    const float *scores; /* 1 x 1 x map_h x map_w, sigmoid scores */
    const float *desc;   /* 1 x dim x map_h x map_w, per-pixel L2-normalised */
    int map_w, map_h;
    int width, height; /* valid region, 1 <= width <= map_w, 1 <= height <= map_h */
    int dim;           /* descriptor channels: must equal the handle's */
} deja__alike_maps;

typedef struct deja__alike_post deja__alike_post;

/* Buffers for images up to max_w x max_h and dim-channel descriptors are allocated here, once,
 * through o's allocator (o may be NULL); p NULL = defaults. Bad sizes or parameters are
 * DEJA_INVALID_ARG / DEJA_LIMIT, memory DEJA_NOMEM; the message is in deja_last_error(). */
DEJA_NODISCARD deja_status deja__alike_post_create(const deja_options *o,
                                                   const deja__alike_params *p, int max_w,
                                                   int max_h, int dim, deja__alike_post **out);
void deja__alike_post_destroy(deja__alike_post *post); /* NULL ok */
const char *deja__alike_post_error(const deja__alike_post *post);

/* NMS, border, selection, positions, scores, descriptors. Never allocates. out->keypoints and
 * out->descriptors (n * dim floats) point into the handle until its next run. keypoint:
 * x, y pixels of the valid region; response = score; size = 2 * radius + 1 (NMS window; ALIKE
 * has no scale); angle 0 (no orientation); octave 0. Order: raster order of the NMS pixel, or
 * score descending (then raster) when a limit cut the candidates or top_k is used.
 * Sizes above the handle's, a dim mismatch, NULL maps: DEJA_INVALID_ARG / DEJA_LIMIT; non-finite
 * values met at a keypoint (score patch or descriptor): DEJA_FORMAT. On failure *out is
 * unchanged. */
DEJA_NODISCARD deja_status deja__alike_post_run(deja__alike_post *post, const deja__alike_maps *m,
                                                deja_features *out);

/* ---- input tensor --------------------------------------------------------------------------- */

/* Network input size for a width x height image: each side rounded up to a multiple of 32.
 * err: NULL or DEJA_ERROR_BYTES. Sides outside 1..DEJA__ALIKE_MAX_SIDE are DEJA_LIMIT. */
DEJA_NODISCARD deja_status deja__alike_padded_size(int width, int height, int *padded_w,
                                                   int *padded_h, char *err);

/* Fill the 1 x 3 x padded_h x padded_w planar RGB tensor chw (padded_w * padded_h * 3 floats):
 * pixel / 255.0f, zeros right of and below the image. Grey replicates to the three planes; rgb is
 * interleaved R, G, B bytes, row y at rgb + y * stride_bytes. padded sides must be multiples of
 * 32 and hold the image, else DEJA_INVALID_ARG. */
DEJA_NODISCARD deja_status deja__alike_input_grey(const deja_image *im, float *chw, int padded_w,
                                                  int padded_h, char *err);
DEJA_NODISCARD deja_status deja__alike_input_rgb(const uint8_t *rgb, int width, int height,
                                                 size_t stride_bytes, float *chw, int padded_w,
                                                 int padded_h, char *err);

#endif
