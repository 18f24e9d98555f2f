/* world_source.h - frames of a generated world as a frame source, its ground truth, and scoring
 * of detected loops against it (used by `deja demo`, `deja run --world` and `deja synth`). */
#ifndef DEJA_WORLD_SOURCE_H
#define DEJA_WORLD_SOURCE_H

#include "runner.h"
#include "world.h"

typedef struct {
    deja__world *world;
    uint8_t *pixels; /* one frame */
    int width, height;
} world_source;

/* Open a world: p's geometry, with --textures DIR (if given in argv) tiling up to 64 decoded
 * photographs onto the walls instead of the procedural textures. */
bool world_source_open(world_source *ws, const deja__world_params *p, char *err, size_t err_bytes);
/* World parameters from --seed (7), --frames (default_frames), --width, --height, --blocks N
 * (N x N blocks) and --textures DIR (photographs for the walls; kept in *photos until freed). */
typedef struct {
    deja_image *images;
    uint8_t **pixels;
    size_t n;
} photo_set;
bool world_params_from_args(int argc, char **argv, uint32_t default_frames, deja__world_params *p,
                            photo_set *photos);
void photo_set_free(photo_set *ps);
void world_source_close(world_source *ws);
frame_source world_frames(world_source *ws);

/* True loops: for query q, matches[offsets[q] .. offsets[q+1]) ascending. */
typedef struct {
    uint32_t n_frames;
    uint64_t *offsets; /* n_frames + 1 */
    uint32_t *matches;
    size_t n_matches, cap;
    uint32_t n_queries; /* frames with at least one true match */
} ground_truth;

/* loose = 0: the world's rule (loops.txt); 1: DEJA__WORLD_LOOSE_DIST_M (loops_loose.txt). */
bool ground_truth_from_world(const deja__world *w, int loose, ground_truth *gt);
void ground_truth_free(ground_truth *gt);
bool ground_truth_is_loop(const ground_truth *gt, uint32_t query, uint32_t match);

typedef struct {
    size_t events, true_positives;
    uint32_t queries_found; /* ground-truth queries with a correct event */
    double precision, recall;
} loop_score;

/* Precision counts an event correct when the loose truth has it; recall is over the strict
 * truth's queries (a strict query counts as found when an event for it is in the strict truth). */
loop_score score_loops(const ground_truth *strict, const ground_truth *loose, const uint32_t *query,
                       const uint32_t *match, size_t n);

/* Run a detector (parameters from argv, intrinsics from the world, reserved for reserve_frames)
 * over the world's frames with cfg, then print the sequence, precision / recall against the
 * world's truths and the run summary (unless cfg->json). 0 or 1 (after printing the error). */
int detect_world_loops(int argc, char **argv, const deja_options *o, alloc_counter *counter,
                       const deja_vocab *voc, world_source *ws, uint32_t reserve_frames,
                       const run_config *cfg);

/* Train a vocabulary on every `step`-th frame of a world of its own (another seed). */
deja_status train_world_vocab(const deja_options *o, const deja__world_params *p, uint32_t n_images,
                              uint32_t depth, deja_vocab **out);

#endif
