/* world_source.h - frames of a generated world as a frame source, its ground truth, and scoring
 * of detected loops against it (used by `deja demo`, `deja run --world` and `deja synth`). */
#ifndef DEJA_WORLD_SOURCE_H
#define DEJA_WORLD_SOURCE_H

#include "eval_run.h"
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

/* Run a detector (parameters from argv, intrinsics from the world) over the world's frames
 * with cfg; print the sequence, precision (judged by the loose rule) / recall (of the world's
 * rule) and the run summary (unless cfg->json); with report_dir, write the report there.
 * command ("demo", "run") names the report. 0 or 1 (after printing the error). */
int detect_world_loops(int argc, char **argv, const deja_vocab *voc, world_source *ws,
                       const run_config *cfg, const char *report_dir, const char *command);

/* Train a vocabulary on every `step`-th frame of a world of its own (another seed). */
deja_status train_world_vocab(const deja_options *o, const deja__world_params *p, uint32_t n_images,
                              uint32_t depth, deja_vocab **out);

#endif
