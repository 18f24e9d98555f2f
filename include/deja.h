/*
 * deja.h - fast, memory-lean visual loop-closure detection.
 *
 * One header, one library (libdeja). Pipeline for a frame:
 *   decode image -> ORB (or learned) features -> bag-of-words (BoW) vector over a vocabulary
 *   tree -> ...
 *
 * Conventions
 * - Every call that can fail returns a deja_status; out-parameters are written only on success.
 * - A handle keeps the message of its last failure: deja_<handle>_error(h). A failed _create or
 *   _load has no handle, so its message is in deja_last_error() (thread-local).
 *   Messages say what, where and why: "vocab_file.c:212: a.dvoc byte 40132: child 912000 >= ...".
 * - Inputs are borrowed. Pointers a handle returns stay valid until the next call on that handle.
 * - Threads: one thread at a time per handle; immutable objects (a loaded deja_vocab) may be read
 *   from any number of threads; handles share nothing mutable. No global mutable state.
 * - Memory: all allocation goes through deja_options.allocator (malloc/free when left zero).
 *   Once warmed up (first frames), per-frame calls allocate nothing.
 */
#ifndef DEJA_H
#define DEJA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DEJA_NODISCARD __attribute__((warn_unused_result))
#define DEJA_API       __attribute__((visibility("default")))
#else
#define DEJA_NODISCARD
#define DEJA_API
#endif

#define DEJA_VERSION_MAJOR 0
#define DEJA_VERSION_MINOR 1
#define DEJA_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------------------------ */

#define DEJA_STATUS(X)                                                                             \
    X(OK)          /* success */                                                                   \
    X(INVALID_ARG) /* a parameter is out of range or NULL where it may not be */                   \
    X(NOMEM)       /* the allocator returned NULL */                                               \
    X(IO)          /* a file could not be opened, read, written or mapped */                       \
    X(FORMAT)      /* a file or buffer is corrupt, truncated, hostile or of another kind */        \
    X(UNSUPPORTED) /* valid input that deja does not handle (a format variant, an operator) */      \
    X(LIMIT)       /* input exceeds a configured limit (pixels, nodes, features) */                \
    X(STATE)       /* call not allowed in the handle's current state */

typedef enum deja_status {
#define DEJA_X_(n) DEJA_##n,
    DEJA_STATUS(DEJA_X_)
#undef DEJA_X_
} deja_status;

/* "OK", "INVALID_ARG", ...; "UNKNOWN" for other values. Never NULL. */
DEJA_API const char *deja_status_name(deja_status s);
/* Message of the last failed _create/_load/_train/_import on this thread ("" if none). */
DEJA_API const char *deja_last_error(void);
/* "0.1.0" */
DEJA_API const char *deja_version(void);

/* ---- options ----------------------------------------------------------------------------- */

/* Allocation hook. free receives the size that was asked for. user is passed back untouched. */
typedef struct deja_allocator {
    void *(*alloc)(void *user, size_t bytes);
    void (*free)(void *user, void *ptr, size_t bytes);
    void *user;
} deja_allocator;

/* Which SIMD kernels to use. AUTO picks the best the CPU supports at create time. */
typedef enum deja_simd {
    DEJA_SIMD_AUTO = 0,
    DEJA_SIMD_SCALAR = 1, /* the portable reference kernels */
    DEJA_SIMD_SSE42 = 2,  /* x86-64: SSE4.2 + POPCNT */
    DEJA_SIMD_AVX2 = 3,   /* x86-64: AVX2 + POPCNT */
    DEJA_SIMD_NEON = 4    /* aarch64 */
} deja_simd;

/* ORB parameters (Rublee et al. 2011, as in ORB-SLAM). */
typedef struct deja_orb_params {
    int n_features;         /* target keypoints per image; default 1000 */
    int n_levels;           /* pyramid levels; default 8 */
    float scale_factor;     /* between levels; default 1.2 */
    int fast_threshold;     /* FAST-9 intensity threshold; default 20 */
    int min_fast_threshold; /* retried in cells that found nothing; default 7 */
    int edge_threshold;     /* border in pixels where no keypoint is taken; default 19 */
} deja_orb_params;

typedef struct deja_options {
    deja_allocator allocator; /* zero = malloc/free */
    int n_threads;            /* worker threads for training; 0 = number of cores (max 8) */
    deja_simd simd;           /* kernel choice; default AUTO */
    uint64_t max_pixels;      /* decoder limit, width*height; default 1<<26 (67 Mpx) */
    deja_orb_params orb;
} deja_options;

/* Defaults, documented field by field above. */
DEJA_API deja_options deja_options_default(void);
/* The kernel set AUTO resolves to on this CPU, and a name for any value ("avx2"...). */
DEJA_API deja_simd deja_simd_detect(void);
DEJA_API const char *deja_simd_name(deja_simd s);

/* ---- images ------------------------------------------------------------------------------ */

/* An 8-bit grey image view. Row y starts at pixels + y * stride. */
typedef struct deja_image {
    int width, height;
    int stride; /* bytes per row, >= width */
    const uint8_t *pixels;
} deja_image;

/* Decodes PNG (libpng), JPEG (libjpeg-turbo) and binary PGM/PPM (P5/P6) to grey, into a buffer
 * the decoder reuses; colour is converted with ITU-R BT.601 luma weights. */
typedef struct deja_decoder deja_decoder;

DEJA_NODISCARD DEJA_API deja_status deja_decoder_create(const deja_options *o, deja_decoder **out);
DEJA_API void deja_decoder_destroy(deja_decoder *d); /* NULL ok */
/* Decode a file; *out points into the decoder's buffer until its next call. The format is
 * detected from the content, not the name. Corrupt, truncated, empty or larger-than-max_pixels
 * images fail with DEJA_FORMAT / DEJA_LIMIT / DEJA_IO, never crash. */
DEJA_NODISCARD DEJA_API deja_status deja_decoder_read_file(deja_decoder *d, const char *path,
                                                          deja_image *out);
/* Same for bytes in memory; name is used in messages only (may be NULL). */
DEJA_NODISCARD DEJA_API deja_status deja_decoder_read_memory(deja_decoder *d, const void *data,
                                                            size_t bytes, const char *name,
                                                            deja_image *out);
DEJA_API const char *deja_decoder_error(const deja_decoder *d);

/* Write a grey image as binary PGM (P5). For tests, tools and debugging. */
DEJA_NODISCARD DEJA_API deja_status deja_image_write_pgm(const deja_image *im, const char *path);

/* ---- features ---------------------------------------------------------------------------- */

typedef struct deja_keypoint {
    float x, y;     /* level-0 pixel coordinates */
    float size;     /* patch diameter at level 0 */
    float angle;    /* orientation in degrees, [0, 360) */
    float response; /* Harris score */
    int32_t octave; /* pyramid level */
} deja_keypoint;

typedef enum deja_desc_kind {
    DEJA_DESC_BINARY = 1, /* bit strings, Hamming distance (ORB: 32 bytes) */
    DEJA_DESC_FLOAT32 = 2 /* float vectors, squared L2 distance (deep features) */
} deja_desc_kind;

/* A set of features. keypoints may be NULL where only descriptors matter. */
typedef struct deja_features {
    size_t n;
    const deja_keypoint *keypoints;
    const void *descriptors; /* n * desc_bytes bytes, row-major */
    deja_desc_kind kind;
    uint32_t desc_bytes; /* 32 for ORB; 4 * dim for FLOAT32 */
} deja_features;

/* Our ORB: FAST-9 + NMS, Harris ranking, pyramid, quadtree spread, intensity-centroid angle,
 * 256-bit steered BRIEF. See docs/orb.md. */
typedef struct deja_orb deja_orb;

DEJA_NODISCARD DEJA_API deja_status deja_orb_create(const deja_options *o, deja_orb **out);
DEJA_API void deja_orb_destroy(deja_orb *orb);
/* Detect and describe. *out points into the extractor until its next call. */
DEJA_NODISCARD DEJA_API deja_status deja_orb_detect(deja_orb *orb, const deja_image *im,
                                                   deja_features *out);
DEJA_API const char *deja_orb_error(const deja_orb *orb);

/* A feature source chosen at run time: our ORB (binary, 32 bytes), or a learned local-feature
 * network in ONNX with ALIKE's interface (Zhao et al. 2022; ../shared/models/alike-t, alike-n):
 * input 1x3xHxW RGB in [0, 1] with H, W multiples of 32, outputs a 1x1xHxW keypoint score map
 * and a 1xDxHxW descriptor map. The network runs on deja's own inference engine, followed by
 * ALIKE's keypoint selection (NMS, threshold 0.2, sub-pixel refinement; docs/alike.md); its
 * features are float (DEJA_DESC_FLOAT32, desc_bytes = 4 * D: 256 for alike-t, 512 for alike-n)
 * and need a vocabulary trained on the same network's features. Grey frames are fed as
 * R = G = B; sides are padded with zeros to multiples of 32.
 * The model is loaded once, at create. The engine is planned for a frame size: at create when
 * one is given, else at the first frame; a frame of another size re-plans (and allocates) once;
 * frames of the planned size allocate nothing. See docs/detector.md, "Learned features". */
typedef struct deja_extractor deja_extractor;

typedef struct deja_extractor_info {
    deja_desc_kind kind;    /* BINARY for ORB, FLOAT32 for a network */
    uint32_t desc_bytes;    /* 32 for ORB; 4 * D for a network */
    uint32_t max_keypoints; /* per frame (deja_options.orb.n_features): the strongest are kept */
    int width, height;      /* frame size the network is planned for; 0 before the first frame
                               (and for ORB) */
    const char *model;      /* the model path, "" for ORB; valid while the handle lives */
} deja_extractor_info;

/* model: NULL or "" for ORB with o->orb; else the path of an .onnx file. width, height: frame
 * size to plan the network for now (0, 0: at the first frame). The network keeps at most
 * o->orb.n_features keypoints per frame and runs on o->n_threads threads (0: the online cores,
 * at most 8). Errors (message in deja_last_error()): IO / FORMAT / UNSUPPORTED for the model
 * file, UNSUPPORTED for a model whose input or outputs are not ALIKE's (the message says what
 * it has), LIMIT / INVALID_ARG for sizes, NOMEM. */
DEJA_NODISCARD DEJA_API deja_status deja_extractor_create(const deja_options *o, const char *model,
                                                         int width, int height,
                                                         deja_extractor **out);
DEJA_API void deja_extractor_destroy(deja_extractor *x); /* NULL ok */
/* Detect and describe. *out points into the extractor until its next call. Errors:
 * INVALID_ARG (NULL, empty image), LIMIT (a side above 16384 for a network), NOMEM (re-planning
 * for a new size), FORMAT (non-finite network outputs). */
DEJA_NODISCARD DEJA_API deja_status deja_extractor_extract(deja_extractor *x, const deja_image *im,
                                                          deja_features *out);
DEJA_API void deja_extractor_get_info(const deja_extractor *x, deja_extractor_info *out);
DEJA_API const char *deja_extractor_error(const deja_extractor *x);

/* ---- vocabulary -------------------------------------------------------------------------- */

typedef enum deja_weighting {
    DEJA_WEIGHT_TF_IDF = 0,
    DEJA_WEIGHT_TF = 1,
    DEJA_WEIGHT_IDF = 2,
    DEJA_WEIGHT_BINARY = 3
} deja_weighting;

/* Hierarchical k-means vocabulary tree (Nister & Stewenius 2006; DBoW2). Immutable once built or
 * loaded; shareable between threads and detectors; must outlive them. */
typedef struct deja_vocab deja_vocab;

typedef struct deja_vocab_params {
    uint32_t k;               /* branching; default 10 */
    uint32_t depth;           /* levels L; default 6 (k^L leaves at most) */
    uint32_t max_iterations;  /* k-means iterations per node; default 10 */
    uint64_t seed;            /* k-means++ seeding; default 1 */
    deja_weighting weighting; /* default TF_IDF */
    /* Called now and then from the calling thread with done <= total; may be NULL. */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
} deja_vocab_params;

DEJA_API deja_vocab_params deja_vocab_params_default(void);

/* Train from descriptor sets, one per training image (IDF counts images). All sets must have the
 * same kind and desc_bytes. Uses o->n_threads workers. */
DEJA_NODISCARD DEJA_API deja_status deja_vocab_train(const deja_options *o,
                                                    const deja_vocab_params *p,
                                                    const deja_features *sets, size_t n_sets,
                                                    deja_vocab **out);

/* Load our binary format (.dvoc) by mmap. Validates the header, section bounds, the tree
 * topology and weights, and a checksum of the topology; with DEJA_VOCAB_VERIFY also the checksum
 * of the whole payload and that float centroids are finite. A hostile file gives DEJA_FORMAT. */
#define DEJA_VOCAB_VERIFY 1u
DEJA_NODISCARD DEJA_API deja_status deja_vocab_load(const deja_options *o, const char *path,
                                                   unsigned flags, deja_vocab **out);
/* Write our binary format. */
DEJA_NODISCARD DEJA_API deja_status deja_vocab_save(const deja_vocab *v, const char *path);
/* Import a DBoW2 / ORB-SLAM text vocabulary (ORBvoc.txt): "k L scoring weighting", then a line
 * per node "parent is_leaf d0 .. d31 weight". Binary 256-bit descriptors only. */
DEJA_NODISCARD DEJA_API deja_status deja_vocab_import_dbow2(const deja_options *o,
                                                           const char *path, deja_vocab **out);
/* Export to that text format (for peers and round-trip tests). */
DEJA_NODISCARD DEJA_API deja_status deja_vocab_export_dbow2(const deja_vocab *v, const char *path);
DEJA_API void deja_vocab_destroy(deja_vocab *v);

typedef struct deja_vocab_info {
    deja_desc_kind kind;
    uint32_t desc_bytes;
    uint32_t k, depth;
    uint32_t n_nodes, n_words;
    deja_weighting weighting;
    uint64_t payload_bytes; /* 0 for a vocabulary not loaded from a file */
    uint64_t checksum;      /* payload checksum as stored / as it would be stored */
    int mapped;             /* 1 if backed by mmap */
} deja_vocab_info;

DEJA_API void deja_vocab_get_info(const deja_vocab *v, deja_vocab_info *out);

/* ---- bag of words ------------------------------------------------------------------------ */

/* A sparse BoW vector: words ascending, weights L1-normalised (sum |w| = 1). */
typedef struct deja_bow_vector {
    size_t n;
    const uint32_t *words;
    const float *weights;
} deja_bow_vector;

/* Direct index: for each vocabulary node at the chosen level, the features under it. Node ids
 * ascending; features of node i are features[offsets[i] .. offsets[i+1]). */
typedef struct deja_direct_index {
    size_t n_nodes;
    const uint32_t *nodes;
    const uint32_t *offsets; /* n_nodes + 1 entries */
    const uint32_t *features;
} deja_direct_index;

typedef struct deja_bow_result {
    deja_bow_vector bow;
    deja_direct_index direct;
    const uint32_t *feature_words; /* word of each input feature, n entries */
} deja_bow_result;

/* Per-thread transform state over a shared vocabulary. */
typedef struct deja_bow deja_bow;

DEJA_NODISCARD DEJA_API deja_status deja_bow_create(const deja_options *o, const deja_vocab *v,
                                                   deja_bow **out);
DEJA_API void deja_bow_destroy(deja_bow *b);
/* Descend the tree for each descriptor. direct_level is counted from the root (0 = root, the
 * whole set in one node; DBoW2's "levelsup 4" on L=6 is direct_level 2). *out points into the
 * handle until its next call. Allocates only while buffers grow to a new maximum size. */
DEJA_NODISCARD DEJA_API deja_status deja_bow_transform(deja_bow *b, const deja_features *f,
                                                      uint32_t direct_level, deja_bow_result *out);
DEJA_API const char *deja_bow_error(const deja_bow *b);

/* DBoW2's L1 score between two L1-normalised vectors: 1 - 0.5 * |a - b|_1, in [0, 1]. */
DEJA_API float deja_bow_score_l1(const deja_bow_vector *a, const deja_bow_vector *b);

/* ---- loop-closure detector --------------------------------------------------------------- */

/* Where a candidate stopped on its way to a loop event (deja_candidate.stage). */
#define DEJA_STAGES(X)                                                                             \
    X(ACCEPTED)    /* verified: a loop event */                                                    \
    X(PREDECESSOR) /* the frame's score against its predecessor is below min_predecessor_score, \
                      so no normalised score exists: the frame is not a query */                   \
    X(SCORE)       /* normalised score below min_score */                                          \
    X(ISLAND)      /* not the best frame of the best island */                                     \
    X(TEMPORAL)    /* best island, not yet consistent over temporal_consistency queries */         \
    X(MATCHES)     /* too few descriptor matches to fit a model */                                 \
    X(INLIERS)     /* too few geometric inliers */

typedef enum deja_stage {
#define DEJA_X_(n) DEJA_STAGE_##n,
    DEJA_STAGES(DEJA_X_)
#undef DEJA_X_
} deja_stage;

/* "ACCEPTED", "SCORE", ...; "UNKNOWN" for other values. */
DEJA_API const char *deja_stage_name(deja_stage s);

/* Detector parameters. Defaults (deja_detector_params_default) follow DLoopDetector / ORB-SLAM
 * practice and are one set for every sequence. */
typedef struct deja_detector_params {
    uint32_t direct_level;       /* vocabulary level of the direct index used for matching; 2 */
    uint32_t recent_frames;      /* frames this recent are never candidates; 50 */
    double recent_seconds;       /* and/or frames this recent in time (0 = off); 0 */
    uint32_t max_candidates;     /* top-K frames by BoW score per query; 50 */
    uint32_t max_word_frames;    /* stop words: a word already seen in more frames than this is
                                    left out of queries and of the normaliser, which bounds a
                                    query's cost however long the sequence (0 = off); 500 */
    float min_predecessor_score; /* a frame whose score against the previous frame is lower has
                                    no reliable normaliser and is not queried; 0.005 */
    float min_score;             /* normalised score (score / predecessor score) to keep; 0.3 */
    uint32_t island_gap;         /* frames closer than this form one island; 3 */
    uint32_t temporal_consistency; /* consecutive queries whose best islands must agree; 3
                                      (1 = no temporal check) */
    uint32_t temporal_gap;       /* islands this close (in frames) agree; 3 */
    /* geometric verification */
    float match_ratio;           /* best < ratio * second-best descriptor distance; 0.8 */
    uint32_t max_hamming;        /* binary descriptors: best match at most this far; 64 */
    uint32_t min_inliers;        /* absolute minimum of RANSAC inliers; 40 */
    float min_inlier_ratio;      /* and at least this fraction of the matches; 0.25 */
    float sigma_px;              /* keypoint noise for the RANSAC threshold; 1 */
    uint32_t ransac_iterations;  /* at most; 500 */
    /* intrinsics (pixels) of the camera; all 0 = unknown: verify with a fundamental matrix */
    double fx, fy, cx, cy;
    uint32_t explain;            /* report this many best candidates per frame with the stage
                                    that stopped each (0 = off); 0 */
    const char *store_dir;       /* folder of the temporary feature-store file; NULL: $TMPDIR
                                    or /tmp. The file is unlinked at once: nothing is left. */
    const char *feature_model;   /* features of deja_detector_add_image: NULL = ORB (a binary
                                    vocabulary); else the path of an ALIKE-style .onnx model
                                    (deja_extractor), loaded once at create; the vocabulary
                                    must then be float with the model's descriptor size; NULL */
} deja_detector_params;

DEJA_API deja_detector_params deja_detector_params_default(void);

/* A loop closure: the query frame was recognised as the earlier matched frame. */
typedef struct deja_loop {
    uint32_t query, match;
    float score;      /* BoW score of the pair */
    float normalised; /* score / the query's predecessor score */
    uint32_t n_matches, n_inliers;
    double F[9];      /* x_match^T F x_query = 0 (pixels), row-major */
} deja_loop;

/* A candidate of the explanation: where it stopped and on what figure. */
typedef struct deja_candidate {
    uint32_t frame;
    float score, normalised;
    deja_stage stage;
    float value;     /* the figure that failed (or passed, for ACCEPTED) */
    float threshold; /* what it had to reach */
} deja_candidate;

enum { DEJA_TIME_FEATURES, DEJA_TIME_TRANSFORM, DEJA_TIME_QUERY, DEJA_TIME_VERIFY, DEJA_TIMES };

/* What happened to one frame. Pointers are valid until the detector's next call. */
typedef struct deja_frame_result {
    uint32_t frame;        /* id of this frame: 0, 1, 2, ... in order of addition */
    int has_loop;          /* 1 if loop is set */
    deja_loop loop;
    int verified;          /* 1 if a candidate reached geometric verification, accepted or not */
    deja_loop candidate;   /* that candidate (n_inliers 0 when it had too few matches or a
                              degenerate model): what a sweep of min_inliers would accept */
    uint32_t n_keypoints, n_words;
    double ms[DEJA_TIMES]; /* time of each stage (features only when the detector extracted) */
    size_t n_candidates;   /* explained candidates, best BoW score first (params.explain) */
    const deja_candidate *candidates;
} deja_frame_result;

/* Streams frames and reports loop closures. Owns a feature extractor (ORB, or the network of
 * params.feature_model), a BoW transform, the inverted index and a file-backed feature store;
 * borrows the vocabulary (it must outlive the detector). */
typedef struct deja_detector deja_detector;

DEJA_NODISCARD DEJA_API deja_status deja_detector_create(const deja_options *o,
                                                        const deja_vocab *v,
                                                        const deja_detector_params *p,
                                                        deja_detector **out);
DEJA_API void deja_detector_destroy(deja_detector *d); /* NULL ok */
/* Pre-size for n_frames frames in all: the index arena for the worst case (one posting per
 * feature, ~24 B each: 24 KB per frame at 1000 features, virtual until used), the per-frame
 * arrays and the store's offsets; frames up to n_frames then allocate nothing. Without it the
 * index grows by 1 MiB chunks (about one every 50-100 frames). */
DEJA_NODISCARD DEJA_API deja_status deja_detector_reserve(deja_detector *d, uint32_t n_frames);
/* Add a frame from an image: ORB (or params.feature_model), then as deja_detector_add_features.
 * timestamp_s is used by recent_seconds only (pass the frame's capture time, or 0). With a float
 * vocabulary and no feature_model there is no extractor: DEJA_STATE (add features instead). */
DEJA_NODISCARD DEJA_API deja_status deja_detector_add_image(deja_detector *d, const deja_image *im,
                                                           double timestamp_s,
                                                           deja_frame_result *out);
/* Add a frame from features computed elsewhere (keypoints required, the vocabulary's kind and
 * descriptor size). On failure the detector is unchanged: no frame was added. */
DEJA_NODISCARD DEJA_API deja_status deja_detector_add_features(deja_detector *d,
                                                              const deja_features *f,
                                                              double timestamp_s,
                                                              deja_frame_result *out);
DEJA_API uint32_t deja_detector_size(const deja_detector *d); /* frames added */
/* Bytes the detector holds in memory (index, buffers), and in its feature-store file. */
DEJA_API void deja_detector_memory(const deja_detector *d, uint64_t *heap_bytes,
                                   uint64_t *store_bytes);
DEJA_API const char *deja_detector_error(const deja_detector *d);

#ifdef __cplusplus
}
#endif
#endif /* DEJA_H */
