/* world_impl.h - the insides of deja__world shared by world.c (plan, textures), world_path.c
 * (route, poses, ground truth) and world_render.c (ray casting). Internal to those three. */
#ifndef DEJA_WORLD_IMPL_H
#define DEJA_WORLD_IMPL_H

#include "world.h"

#define WORLD_MAX_MIPS    8
#define WORLD_TILE_SHIFT  9   /* floor tiles: 512 / 1024 m = 0.5 m (fixed point, 1/1024 m) */
#define WORLD_PANEL_SHIFT 10  /* ceiling panels: 1 m */
#define WORLD_DETAIL      256 /* floor detail tile: 256 x 256 texels over 1 m, repeated */

/* One textured wall piece: the points p0 + u t, 0 <= u <= len, seen from the side n points to.
 * t = (-n.y, n.x), so u grows to the right of a viewer facing the wall: textures are not
 * mirrored. Texture level l is tex_w[l] columns of tex_h[l] texels, column-major (a column is
 * contiguous, top of the wall first), at atlas + tex_off[l]. */
typedef struct world_wall {
    double x0, y0, tx, ty, nx, ny, len;
    uint16_t shade; /* facing-dependent light, 256 = 1.0 */
    uint8_t n_mips;
    uint32_t tex_w[WORLD_MAX_MIPS], tex_h[WORLD_MAX_MIPS];
    uint64_t tex_off[WORLD_MAX_MIPS];
} world_wall;

/* A piece of the route: a straight line (kappa = 0) or a circular arc of curvature kappa
 * (positive: turning left), from (x0, y0) with heading h0, covering arc length [s0, s0 + len). */
typedef struct world_prim {
    double s0, len, x0, y0, h0, kappa;
} world_prim;

/* Per image row: what the floor or ceiling seen in that row needs (distance fades). */
typedef struct world_row {
    float depth;     /* metres along the optical axis to the floor / ceiling in this row */
    uint16_t light;  /* distance fall-off, 256 = 1.0 */
    uint16_t detail; /* weight of the floor detail tile, 256 = 1.0 */
    int16_t lines;   /* how much darker grout and panel lines are */
} world_row;

struct deja__world_view {
    const deja__world *w;
    deja_allocator a;
    int width, height;
    uint8_t *col;         /* width * height, column-major: the picture before nuisances */
    world_row *rows;      /* height */
    int32_t *hit_wall;    /* per column: wall index or -1 */
    float *hit_s, *hit_u; /* per column: depth (metres along the axis), u along the wall (m) */
    uint8_t *hit_mip;
    uint32_t *prefix; /* width + 1 prefix sums of a row for the box blur */
    size_t bytes;
};

struct deja__world {
    deja_allocator a;
    deja__world_params p; /* photos cleared: they are borrowed during create only */
    double fx, fy, cx, cy;
    double plan_w, plan_h;
    int n_streets_x, n_streets_y;
    double *street_x, *street_y; /* corridor centre lines */
    world_wall *walls;
    uint32_t n_walls;
    /* uniform grid over the plan: walls crossing cell c are cell_items[cell_start[c] ..
       cell_start[c+1]) */
    double cell_m;
    int grid_w, grid_h;
    uint32_t *cell_start, *cell_items;
    size_t n_cell_items;
    uint8_t *atlas;
    size_t atlas_bytes;
    uint8_t *floor_map, *ceil_map; /* per floor tile / ceiling panel: shade, kind */
    int floor_w, floor_h, ceil_w, ceil_h;
    uint8_t *detail; /* WORLD_DETAIL^2 floor detail texels (signed offsets + 128) */
    world_prim *prims;
    size_t n_prims;
    double route_m;
    uint32_t n_route_nodes;
    double light_phase[8]; /* sway, gain and bias sinusoids */
    deja__world_view view; /* the built-in scratch of deja__world_render */
    uint64_t total_bytes;
};

static inline uint64_t world_hash(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ull);
    deja__splitmix64(&s);
    return deja__splitmix64(&s);
}
/* Uniform in [0, 1). */
static inline double world_uni(uint64_t *s)
{
    return (double)(deja__splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double world_range(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * world_uni(s);
}

/* world_path.c: build the route (prims, route_m, n_route_nodes) from the plan. */
deja_status deja__world_build_route(deja__world *w);
/* world_render.c: allocate / free a view's scratch for w's image size. */
deja_status deja__world_view_init(deja__world_view *v, const deja__world *w,
                                  const deja_allocator *a);
void deja__world_view_release(deja__world_view *v);

#endif
