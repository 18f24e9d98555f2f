/* world.h - a deterministic synthetic 3D world with known loops: the fixture of the core tests,
 * the built-in demo and the long benchmarks (internal).
 *
 * The world is a grid of rectangular blocks separated by corridors (an indoor "city"), walls of
 * fixed height with a floor and a ceiling; every wall piece carries its own procedural texture
 * (or tiles of caller photographs). A camera walks along the corridors on a route that goes round
 * blocks several times, in both directions and with a lateral offset on revisits; frame i is
 * rendered on demand from its index with per-frame lighting, sensor noise and motion blur, so
 * 10^5-frame sequences need no storage. The true loops follow from the exact poses.
 * See src/world.c, src/world_path.c, src/world_render.c and docs/world.md.
 *
 * Threads: a deja__world is read-only after create, except its built-in render scratch: calls on
 * one world from several threads at once are allowed only through separate deja__world_view
 * objects (one per thread). Memory: all through the allocator given to create; rendering
 * allocates nothing after create (views allocate once, at their create). */
#ifndef DEJA_WORLD_H
#define DEJA_WORLD_H

#include "base.h"

typedef struct deja__world_params {
    uint64_t seed;     /* everything derives from it; default 1 */
    int width, height; /* image size in pixels, 16..8192; default 640 x 480 */
    double hfov_deg;   /* horizontal field of view, 10..160; default 70 */
    uint32_t n_frames; /* sequence length, 1..10^8; default 3000 */
    double fps;        /* timestamps of the pose file only; default 30 */
    /* floor plan */
    int blocks_x, blocks_y;   /* blocks per side, 1..64; default 4 x 4 */
    double block_min_m;       /* block side lengths drawn in [min, max] per grid row/column; */
    double block_max_m;       /*   defaults 5 and 9 */
    double corridor_m;        /* corridor width; default 3 */
    double wall_height_m;     /* default 3 */
    double segment_m;         /* a wall side is cut into pieces of at most this length, each with
                                 its own texture; default 4 */
    double texels_per_m;      /* wall texture resolution, 16..1024; default 192 */
    uint64_t max_atlas_bytes; /* limit on the wall textures with their mipmaps; default 200 MiB */
    double repeat_frac;       /* share of wall pieces that repeat an earlier piece's texture
                                 (stretched to their length): look-alike places, as in real
                                 buildings; default 0.1 */
    /* route */
    double speed_m;         /* camera travel per frame; default 0.1 (3 m/s at 30 fps) */
    double camera_height_m; /* default 1.6 */
    double turn_radius_m;   /* corners are circular arcs of this radius at most; default 1.5 */
    double offset_m;        /* largest lateral offset from the corridor centre; default 0.5 */
    double sway_deg;        /* amplitude of the head's yaw sway; default 2 */
    /* per-frame nuisances */
    double gain_amp;    /* lighting gain 1 +- gain_amp, slowly varying; default 0.25 */
    double bias_amp;    /* lighting bias +- bias_amp grey levels; default 15 */
    double noise_sigma; /* sensor noise (approximately Gaussian), grey levels; default 3 */
    double exposure;    /* shutter open time / frame interval, for motion blur; default 0.2
                           (0: no blur) */
    /* ground truth: j < i is a loop of i when i - j >= gt_min_gap, the camera centres are within
       gt_max_dist_m and the optical axes within gt_max_angle_deg */
    uint32_t gt_min_gap;     /* default 50 (the detector's default recent window) */
    double gt_max_dist_m;    /* default 1.0 */
    double gt_max_angle_deg; /* default 30 */
    /* optional real photographs tiled onto the walls instead of the procedural textures;
       borrowed during create only. NULL / 0: procedural. */
    const deja_image *photos;
    size_t n_photos;
} deja__world_params;

/* The loose rule: pairs this close are not false positives. With a 70-degree field of view in
 * 3 m corridors, two cameras within 8 m whose axes differ by at most 45 degrees look at the same
 * stretch of walls (the nearer one sees part of what the further one sees). */
#define DEJA__WORLD_LOOSE_DIST_M    8.0
#define DEJA__WORLD_LOOSE_ANGLE_DEG 45.0

typedef struct deja__world deja__world;
typedef struct deja__world_view deja__world_view;

/* Camera pose. The camera looks horizontally (no pitch or roll) along yaw; the plan is the x-y
 * plane, z is up. Camera axes are OpenCV's: x right, y down, z forward. */
typedef struct deja__world_pose {
    double x, y, z; /* camera centre in metres (z: height above the floor) */
    double yaw;     /* optical axis heading in radians, counter-clockwise from +x, in (-pi, pi] */
} deja__world_pose;

/* What a frame's picture suffers besides geometry: out = gain * in + bias + noise, after a
 * horizontal box blur of blur_px pixels (0: none). */
typedef struct deja__world_nuisance {
    double gain, bias;
    double noise_sigma;
    uint64_t noise_seed;
    double blur_px;
} deja__world_nuisance;

/* Sizes for memory reports. */
typedef struct deja__world_info {
    uint32_t n_walls;       /* textured wall pieces */
    uint32_t n_route_nodes; /* corridor crossings visited by the route (with repeats) */
    double plan_w_m, plan_h_m;
    double route_m;       /* route length generated (>= n_frames * speed) */
    uint64_t atlas_bytes; /* wall textures with mipmaps */
    uint64_t total_bytes; /* everything the world holds from the allocator */
} deja__world_info;

deja__world_params deja__world_params_default(void);

/* Build the plan, the textures and the route. INVALID_ARG (a parameter out of range or not
 * finite, a bad photo), LIMIT (textures over max_atlas_bytes), NOMEM; the message is in
 * deja_last_error(). */
DEJA_NODISCARD deja_status deja__world_create(const deja_allocator *a, const deja__world_params *p,
                                              deja__world **out);
void deja__world_destroy(deja__world *w); /* NULL ok */

uint32_t deja__world_n_frames(const deja__world *w);
const deja__world_params *deja__world_get_params(const deja__world *w);
void deja__world_get_info(const deja__world *w, deja__world_info *out);
/* Pinhole intrinsics of the rendered images (square pixels, centre at ((w-1)/2, (h-1)/2)). */
void deja__world_intrinsics(const deja__world *w, double *fx, double *fy, double *cx, double *cy);

/* Pose of frame i (any i < n_frames; computed from i, O(log route)). INVALID_ARG if i is out of
 * range. */
DEJA_NODISCARD deja_status deja__world_pose_of(const deja__world *w, uint32_t i,
                                               deja__world_pose *out);
/* Camera-to-world rotation as a unit quaternion (qx, qy, qz, qw), TUM order. */
void deja__world_pose_quat(const deja__world_pose *p, double q[4]);
/* The nuisances of frame i (lighting, noise seed, blur from the yaw rate). */
DEJA_NODISCARD deja_status deja__world_nuisance_of(const deja__world *w, uint32_t i,
                                                   deja__world_nuisance *out);

/* Render frame i into dst (width x height bytes, rows stride >= width bytes apart). Uses the
 * world's scratch: not thread-safe (see deja__world_view). Allocates nothing. INVALID_ARG on a
 * NULL dst, a small stride or i out of range. */
DEJA_NODISCARD deja_status deja__world_render(deja__world *w, uint32_t i, uint8_t *dst, int stride);
/* Render any pose (inside the corridors; elsewhere the picture is undefined but safe) with the
 * given nuisances, NULL for none. INVALID_ARG on NaN / infinite values or a bad nuisance. */
DEJA_NODISCARD deja_status deja__world_render_pose(deja__world *w, const deja__world_pose *pose,
                                                   const deja__world_nuisance *nz, uint8_t *dst,
                                                   int stride);

/* A render scratch of its own for another thread; the world must outlive it. */
DEJA_NODISCARD deja_status deja__world_view_create(const deja__world *w, deja__world_view **out);
void deja__world_view_destroy(deja__world_view *v); /* NULL ok */
DEJA_NODISCARD deja_status deja__world_view_render(deja__world_view *v, uint32_t i, uint8_t *dst,
                                                   int stride);
DEJA_NODISCARD deja_status deja__world_view_render_pose(deja__world_view *v,
                                                        const deja__world_pose *pose,
                                                        const deja__world_nuisance *nz,
                                                        uint8_t *dst, int stride);

/* Ground truth. fn is called once per query frame that has at least one true loop, queries
 * ascending, with its matches ascending (all earlier frames); matches is valid during the call
 * only. Cost: a spatial grid over the camera centres, not O(N^2). Allocates scratch for the call
 * (about 40 bytes per frame) and frees it. NOMEM. */
typedef void (*deja__world_loop_fn)(void *user, uint32_t query, const uint32_t *matches,
                                    size_t n_matches);
DEJA_NODISCARD deja_status deja__world_loops(const deja__world *w, deja__world_loop_fn fn,
                                             void *user);
/* The same with another rule: camera centres within max_dist_m, optical axes within
 * max_angle_deg (the index gap stays gt_min_gap). A looser rule gives the pairs that are not
 * counted as false positives: views a few metres apart down the same corridor share content. */
DEJA_NODISCARD deja_status deja__world_loops_within(const deja__world *w, double max_dist_m,
                                                    double max_angle_deg, deja__world_loop_fn fn,
                                                    void *user);
/* The loop rule on two poses (the one the ground truth applies, without the index gap). */
int deja__world_poses_loop(const deja__world *w, const deja__world_pose *a,
                           const deja__world_pose *b);

/* Write loops.txt (the ../shared/data format: "query match1 match2 ..." per query with at least
 * one match, 0-based, matches earlier and ascending) and the poses as ../shared/data's
 * poses_per_frame.txt ("index image timestamp tx ty tz qx qy qz qw", image "%06u.pgm", camera to
 * world, timestamp i / fps). IO with the path and errno text. */
DEJA_NODISCARD deja_status deja__world_write_loops(const deja__world *w, const char *path);
DEJA_NODISCARD deja_status deja__world_write_loops_within(const deja__world *w, const char *path,
                                                          double max_dist_m,
                                                          double max_angle_deg);
DEJA_NODISCARD deja_status deja__world_write_poses(const deja__world *w, const char *path);

#endif
