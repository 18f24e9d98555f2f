/* orb.h - internals of the ORB extractor shared by orb.c and orb_pattern.c (and the tests). */
#ifndef DEJA_ORB_H
#define DEJA_ORB_H

#include "base.h"

#define DEJA_ORB_BITS         256 /* descriptor bits: 32 bytes */
#define DEJA_ORB_PATCH_RADIUS 15  /* orientation disc and BRIEF pattern radius (patch 31) */
#define DEJA_ORB_ANGLE_BINS   64  /* rotated copies of the pattern, 5.625 degrees apart */
#define DEJA_ORB_PATTERN_SEED 0x6465A1A0B2B0C0DEull

/* The BRIEF sampling pattern: pair i compares point (p[i][0], p[i][1]) with (p[i][2], p[i][3]),
 * bit i = 1 when the first is darker. Every point lies in the disc of radius
 * DEJA_ORB_PATCH_RADIUS, so any rotation of it does too. Generated from the seed with integer
 * arithmetic only (identical on every platform); see docs/orb.md. */
void deja__orb_pattern(uint64_t seed, int8_t p[DEJA_ORB_BITS][4]);

/* The pattern rotated by bin * 360 / DEJA_ORB_ANGLE_BINS degrees (y down, clockwise on
 * screen, as the keypoint angle), rounded to the nearest pixel. */
void deja__orb_pattern_rotate(const int8_t p[DEJA_ORB_BITS][4], int bin,
                              int8_t out[DEJA_ORB_BITS][4]);

/* Per-keypoint kernels (orb_kern.c); _ref is portable, _sse2 gives identical results.
 * FAST score of the pixel at p: the largest t for which it passes the segment test with
 * threshold t - 1 (0 if none). 3 pixels of margin. */
int deja__orb_fast_score_ref(const uint8_t *p, ptrdiff_t stride);
/* Harris response * 25 (k = 0.04) on the 7x7 block around c, 3x3 Sobel; reads c[-4 .. 11] on
 * rows -4 .. 4. */
int64_t deja__orb_harris_ref(const uint8_t *c, ptrdiff_t stride);
/* Intensity-centroid moments over the disc |u| <= umax[|v|] (umax[0..15], umax[v] <= 15);
 * reads c[-15 .. 16] on rows -15 .. 15. */
void deja__orb_moments_ref(const uint8_t *c, ptrdiff_t stride, const int *umax, int32_t *m10,
                           int32_t *m01);
#if defined(__x86_64__)
int deja__orb_fast_score_sse2(const uint8_t *p, ptrdiff_t stride);
int64_t deja__orb_harris_sse2(const uint8_t *c, ptrdiff_t stride);
void deja__orb_moments_sse2(const uint8_t *c, ptrdiff_t stride, const int *umax, int32_t *m10,
                            int32_t *m01);
#endif

#endif
