/* feat.h - the feature extractor behind deja_extractor_* (include/deja.h): our ORB, or an
 * ALIKE-style ONNX network (deja's engine + alike.h post-processing) loaded once per handle.
 * The detector owns one; the CLI makes one per thread. Internal extras for tests: explicit ALIKE
 * parameters and RGB input (the shared test vectors were made from RGB). docs/detector.md,
 * "Learned features". */
#ifndef DEJA_FEAT_H
#define DEJA_FEAT_H

#include "alike.h"

/* deja_extractor_create with explicit post-processing parameters for a network (ap NULL: the
 * defaults of alike.h with max_keypoints = o->orb.n_features). ap is ignored for ORB. */
DEJA_NODISCARD deja_status deja__extractor_create(const deja_options *o, const char *model,
                                                  const deja__alike_params *ap, int width,
                                                  int height, deja_extractor **out);

/* A network on an RGB frame: interleaved R, G, B bytes, row y at rgb + y * stride_bytes. The
 * extractor re-plans for a new size as deja_extractor_extract does. ORB handles are
 * DEJA_UNSUPPORTED (ORB takes grey images). */
DEJA_NODISCARD deja_status deja__extractor_extract_rgb(deja_extractor *x, const uint8_t *rgb,
                                                       int width, int height, size_t stride_bytes,
                                                       deja_features *out);

#endif
