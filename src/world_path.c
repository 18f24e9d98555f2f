/* world_path.c - the camera route through the world, poses and per-frame nuisances computed from
 * the frame index, and the ground-truth loops.
 *
 * Route: the corridor centre lines form a grid graph (crossings are nodes). The route is a
 * sequence of "laps": from the current crossing, pick a rectangle of 1-3 x 1-3 blocks having that
 * crossing on its boundary, a direction (clockwise or not) and a lateral offset (0 on the first
 * lap and a third of the others, else uniform in +-offset_m, to the right of travel), then walk
 * once around it (closing a loop) and on for up to 3/4 of a lap more with an offset of its own;
 * a lap may not start by turning back (no U-turns). Laps around the same
 * blocks revisit corridors in the same and in the opposite direction, shifted sideways. The
 * offset edges give a polyline whose corners become circular arcs of radius turn_radius_m (less
 * where segments are short), and an offset change on a straight crossing becomes a smooth jog.
 * The route is generated once at create for n_frames * speed_m metres (about 48 bytes per
 * piece, one piece per few metres); frame i is at arc length i * speed_m, found by binary search.
 * A slow two-tone yaw sway (a function of arc length, so it differs between revisits) is added.
 *
 * Ground truth: j < i is a loop of i when i - j >= gt_min_gap, |c_i - c_j| <= gt_max_dist_m and
 * the yaw difference <= gt_max_angle_deg. The camera centres are binned into a uniform grid of
 * cells at least gt_max_dist_m wide (counting sort, frames ascending per cell); a query scans the
 * 3 x 3 cells around it, so the cost is the number of nearby frames, not N^2. */
#include "world_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI       3.14159265358979323846
#define MAX_SPAN 3 /* rectangle side in blocks */

typedef struct {
    int fi, fj, ti, tj; /* from and to crossings */
    double off;
} edge;

typedef struct {
    double x, y;
} pt;

typedef struct {
    const deja__world *w;
    edge *e;
    size_t n_e, cap_e;
    pt *wp;
    size_t n_wp, cap_wp;
    world_prim *pr;
    size_t n_pr, cap_pr;
} builder;

static pt node_pos(const deja__world *w, int i, int j)
{
    return (pt){w->street_x[i], w->street_y[j]};
}

static int irand(uint64_t *rng, int n) /* [0, n) */
{
    return (int)(world_uni(rng) * n);
}

/* The boundary crossings of rectangle [i0, i1] x [j0, j1], counter-clockwise from (i0, j0). */
static int cycle(int i0, int j0, int i1, int j1, int *ci, int *cj)
{
    int n = 0;
    for (int i = i0; i < i1; i++, n++)
        ci[n] = i, cj[n] = j0;
    for (int j = j0; j < j1; j++, n++)
        ci[n] = i1, cj[n] = j;
    for (int i = i1; i > i0; i--, n++)
        ci[n] = i, cj[n] = j1;
    for (int j = j1; j > j0; j--, n++)
        ci[n] = i0, cj[n] = j;
    return n;
}

/* Append the edges of laps until their length reaches target metres. State (current crossing,
 * incoming direction, lap count, rng) carries over between calls. */
typedef struct {
    uint64_t rng;
    int ci, cj, di, dj, lap;
    double len;
} walker;

static deja_status walk(builder *b, walker *k, double target)
{
    const deja__world *w = b->w;
    int nsx = w->n_streets_x, nsy = w->n_streets_y;
    int cyc_i[4 * MAX_SPAN], cyc_j[4 * MAX_SPAN];
    while (k->len < target) {
        int i0 = 0, j0 = 0, i1 = 0, j1 = 0, n = 0, at = -1, dir = 1, tries = 0;
        for (;; tries++) {
            if (tries > 10000) return DEJA_ERR(NULL, DEJA_STATE, "world: no lap from a crossing");
            int si = 1 + irand(&k->rng, nsx - 1 < MAX_SPAN ? nsx - 1 : MAX_SPAN);
            int sj = 1 + irand(&k->rng, nsy - 1 < MAX_SPAN ? nsy - 1 : MAX_SPAN);
            int side = irand(&k->rng, 4);
            i0 = side == 0 ? k->ci : side == 1 ? k->ci - si : k->ci - irand(&k->rng, si + 1);
            j0 = side == 2 ? k->cj : side == 3 ? k->cj - sj : k->cj - irand(&k->rng, sj + 1);
            i1 = i0 + si;
            j1 = j0 + sj;
            if (i0 < 0 || j0 < 0 || i1 >= nsx || j1 >= nsy) continue;
            n = cycle(i0, j0, i1, j1, cyc_i, cyc_j);
            for (at = 0; at < n && (cyc_i[at] != k->ci || cyc_j[at] != k->cj); at++) {
            }
            if (at == n) continue; /* cannot happen: the crossing is on the chosen side */
            dir = irand(&k->rng, 2) ? 1 : -1;
            int nx = (at + dir + n) % n;
            int di = cyc_i[nx] - k->ci, dj = cyc_j[nx] - k->cj;
            di = (di > 0) - (di < 0);
            dj = (dj > 0) - (dj < 0);
            if (di == -k->di && dj == -k->dj) continue; /* no U-turn */
            break;
        }
        /* a full lap closes a loop on itself; the rest moves the next lap's start. The second
           round gets an offset of its own: a revisit from a shifted viewpoint */
        double off = 0, off2 = 0;
        if (k->lap > 0 && world_uni(&k->rng) >= 1.0 / 3)
            off = world_range(&k->rng, -w->p.offset_m, w->p.offset_m);
        if (world_uni(&k->rng) >= 1.0 / 3)
            off2 = world_range(&k->rng, -w->p.offset_m, w->p.offset_m);
        int steps = n + (int)lround(n * world_range(&k->rng, 0, 0.75));
        for (int s = 1; s <= steps; s++) {
            if (s == n + 1) off = off2;
            int nx = ((at + dir * s) % n + n) % n;
            if (!deja__reserve(&w->a, (void **)&b->e, &b->cap_e, b->n_e + 1, sizeof(edge)))
                return DEJA_ERR(NULL, DEJA_NOMEM, "world: route of %zu edges", b->n_e + 1);
            edge *e = &b->e[b->n_e++];
            *e = (edge){k->ci, k->cj, cyc_i[nx], cyc_j[nx], off};
            pt p0 = node_pos(w, e->fi, e->fj), p1 = node_pos(w, e->ti, e->tj);
            k->len += hypot(p1.x - p0.x, p1.y - p0.y);
            k->di = (e->ti > e->fi) - (e->ti < e->fi);
            k->dj = (e->tj > e->fj) - (e->tj < e->fj);
            k->ci = e->ti;
            k->cj = e->tj;
        }
        k->lap++;
    }
    return DEJA_OK;
}

static deja_status add_wp(builder *b, double x, double y)
{
    if (b->n_wp && hypot(x - b->wp[b->n_wp - 1].x, y - b->wp[b->n_wp - 1].y) < 1e-6) return DEJA_OK;
    if (!deja__reserve(&b->w->a, (void **)&b->wp, &b->cap_wp, b->n_wp + 1, sizeof(pt)))
        return DEJA_ERR(NULL, DEJA_NOMEM, "world: route of %zu waypoints", b->n_wp + 1);
    b->wp[b->n_wp++] = (pt){x, y};
    return DEJA_OK;
}

/* Corner points of the offset route: the offset lines of consecutive edges meet at a turn; on a
 * straight crossing with an offset change, a jog of 2 J metres. right(d) = (d.y, -d.x). */
static deja_status waypoints(builder *b)
{
    b->n_wp = 0;
    deja_status st = DEJA_OK;
    for (size_t k = 0; k < b->n_e && st == DEJA_OK; k++) {
        const edge *e = &b->e[k];
        pt p0 = node_pos(b->w, e->fi, e->fj), p1 = node_pos(b->w, e->ti, e->tj);
        double l1 = hypot(p1.x - p0.x, p1.y - p0.y);
        double dx = (p1.x - p0.x) / l1, dy = (p1.y - p0.y) / l1;
        if (k == 0) st = add_wp(b, p0.x + e->off * dy, p0.y - e->off * dx);
        if (st != DEJA_OK) break;
        if (k + 1 == b->n_e) {
            st = add_wp(b, p1.x + e->off * dy, p1.y - e->off * dx);
            break;
        }
        const edge *f = &b->e[k + 1];
        pt q1 = node_pos(b->w, f->ti, f->tj);
        double l2 = hypot(q1.x - p1.x, q1.y - p1.y);
        double ex = (q1.x - p1.x) / l2, ey = (q1.y - p1.y) / l2;
        if (fabs(dx * ex + dy * ey) < 0.5) { /* a turn */
            st = add_wp(b, p1.x + e->off * dy + f->off * ey, p1.y - e->off * dx - f->off * ex);
        } else if (e->off != f->off) {
            double J = fmin(1.5, 0.3 * fmin(l1, l2));
            st = add_wp(b, p1.x - J * dx + e->off * dy, p1.y - J * dy - e->off * dx);
            if (st == DEJA_OK)
                st = add_wp(b, p1.x + J * dx + f->off * dy, p1.y + J * dy - f->off * dx);
        }
    }
    return st;
}

static deja_status add_prim(builder *b, double x0, double y0, double h0, double len, double kappa)
{
    if (len < 1e-9) return DEJA_OK;
    if (!deja__reserve(&b->w->a, (void **)&b->pr, &b->cap_pr, b->n_pr + 1, sizeof(world_prim)))
        return DEJA_ERR(NULL, DEJA_NOMEM, "world: route of %zu pieces", b->n_pr + 1);
    double s0 = b->n_pr ? b->pr[b->n_pr - 1].s0 + b->pr[b->n_pr - 1].len : 0;
    b->pr[b->n_pr++] = (world_prim){s0, len, x0, y0, h0, kappa};
    return DEJA_OK;
}

/* Lines between the waypoints, each corner replaced by the tangent arc of radius r (shrunk so
 * that an arc uses at most half of each neighbouring segment). */
static deja_status fillet(builder *b)
{
    b->n_pr = 0;
    double r = b->w->p.turn_radius_m;
    pt cur = b->wp[0];
    deja_status st = DEJA_OK;
    for (size_t k = 1; k + 1 < b->n_wp && st == DEJA_OK; k++) {
        pt p = b->wp[k - 1], q = b->wp[k], s = b->wp[k + 1];
        double la = hypot(q.x - p.x, q.y - p.y), lb = hypot(s.x - q.x, s.y - q.y);
        double ax = (q.x - p.x) / la, ay = (q.y - p.y) / la, bx = (s.x - q.x) / lb,
               by = (s.y - q.y) / lb;
        double crs = ax * by - ay * bx, theta = atan2(fabs(crs), ax * bx + ay * by);
        double T = r * tan(theta / 2);
        if (T > 0.5 * fmin(la, lb)) T = 0.5 * fmin(la, lb);
        if (theta < 1e-9 || T <= 0) { /* straight on, or a sharp corner when r = 0 */
            st = add_prim(b, cur.x, cur.y, atan2(ay, ax), hypot(q.x - cur.x, q.y - cur.y), 0);
            cur = q;
            continue;
        }
        double re = T / tan(theta / 2);
        pt A = {q.x - ax * T, q.y - ay * T};
        st = add_prim(b, cur.x, cur.y, atan2(ay, ax), hypot(A.x - cur.x, A.y - cur.y), 0);
        if (st == DEJA_OK)
            st = add_prim(b, A.x, A.y, atan2(ay, ax), re * theta, (crs > 0 ? 1 : -1) / re);
        cur = (pt){q.x + bx * T, q.y + by * T};
    }
    pt end = b->wp[b->n_wp - 1];
    if (st == DEJA_OK)
        st = add_prim(b, cur.x, cur.y, atan2(end.y - cur.y, end.x - cur.x),
                      hypot(end.x - cur.x, end.y - cur.y), 0);
    return st;
}

deja_status deja__world_build_route(deja__world *w)
{
    builder b = {w};
    double need = (double)(w->p.n_frames - 1) * w->p.speed_m;
    walker k = {world_hash(w->p.seed, 0x20E7E)};
    k.ci = irand(&k.rng, w->n_streets_x);
    k.cj = irand(&k.rng, w->n_streets_y);
    /* corners and jogs shorten the route a little: walk more until it is long enough */
    double target = need * 1.1 + 20;
    deja_status st;
    for (;;) {
        if ((st = walk(&b, &k, target)) != DEJA_OK || (st = waypoints(&b)) != DEJA_OK ||
            (st = fillet(&b)) != DEJA_OK)
            break;
        double len = b.pr[b.n_pr - 1].s0 + b.pr[b.n_pr - 1].len;
        if (len > need + 1e-6) break;
        target = k.len + need - len + 20;
    }
    if (st == DEJA_OK) {
        w->n_route_nodes = (uint32_t)b.n_e + 1;
        w->route_m = b.pr[b.n_pr - 1].s0 + b.pr[b.n_pr - 1].len;
        /* keep exactly n_pr pieces (the destroy size) */
        world_prim *pr = deja__alloc(&w->a, b.n_pr * sizeof(world_prim));
        if (pr) {
            memcpy(pr, b.pr, b.n_pr * sizeof(world_prim));
            w->prims = pr;
            w->n_prims = b.n_pr;
        } else {
            st = DEJA_ERR(NULL, DEJA_NOMEM, "world: route of %zu pieces", b.n_pr);
        }
    }
    deja__free(&w->a, b.e, b.cap_e * sizeof(edge));
    deja__free(&w->a, b.wp, b.cap_wp * sizeof(pt));
    deja__free(&w->a, b.pr, b.cap_pr * sizeof(world_prim));
    return st;
}

/* ---- poses and nuisances ----------------------------------------------------------------- */

static double wrap_angle(double a)
{
    a = remainder(a, 2 * PI);
    return a <= -PI ? a + 2 * PI : a;
}

static void pose_at(const deja__world *w, double s, deja__world_pose *out)
{
    size_t lo = 0, hi = w->n_prims; /* last piece with s0 <= s */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (w->prims[mid].s0 <= s)
            lo = mid;
        else
            hi = mid;
    }
    const world_prim *p = &w->prims[lo];
    double ds = s - p->s0, z = p->kappa * ds / 2;
    /* chord of an arc: length ds * sinc(z) along the mean heading h0 + z; exact for lines too */
    double sinc = fabs(z) < 1e-6 ? 1 - z * z / 6 : sin(z) / z;
    out->x = p->x0 + ds * sinc * cos(p->h0 + z);
    out->y = p->y0 + ds * sinc * sin(p->h0 + z);
    out->z = w->p.camera_height_m;
    double sway = w->p.sway_deg * PI / 180 *
                  (0.6 * sin(2 * PI * s / 7.3 + w->light_phase[0]) +
                   0.4 * sin(2 * PI * s / 3.1 + w->light_phase[1]));
    out->yaw = wrap_angle(p->h0 + 2 * z + sway);
}

deja_status deja__world_pose_of(const deja__world *w, uint32_t i, deja__world_pose *out)
{
    if (!w || !out || i >= w->p.n_frames)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world pose: frame %u of %u", i,
                        w ? w->p.n_frames : 0);
    pose_at(w, (double)i * w->p.speed_m, out);
    return DEJA_OK;
}

void deja__world_pose_quat(const deja__world_pose *p, double q[4])
{
    /* camera-to-world rotation = Rz(yaw) C, where C takes the camera axes (right, down,
       forward) to the world's (-y, -z, +x) at yaw 0; C's quaternion is (-1, 1, -1, 1) / 2, and
       the Hamilton product with (0, 0, sin(yaw/2), cos(yaw/2)) gives: */
    double c = cos(p->yaw / 2), s = sin(p->yaw / 2);
    double sg = c + s < 0 ? -1 : 1; /* q and -q are the same rotation: keep qw >= 0 */
    q[0] = -0.5 * (c + s) * sg;
    q[1] = 0.5 * (c - s) * sg;
    q[2] = -0.5 * (c - s) * sg;
    q[3] = 0.5 * (c + s) * sg;
}

deja_status deja__world_nuisance_of(const deja__world *w, uint32_t i, deja__world_nuisance *out)
{
    if (!w || !out || i >= w->p.n_frames)
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world nuisance: frame %u of %u", i,
                        w ? w->p.n_frames : 0);
    const double *ph = w->light_phase;
    double t = i;
    /* periods of 7, 22 and 70 s at 30 fps: slow drifts, different on every revisit */
    double g = 0.5 * sin(2 * PI * t / 2100 + ph[2]) + 0.3 * sin(2 * PI * t / 660 + ph[3]) +
               0.2 * sin(2 * PI * t / 210 + ph[4]);
    double bias = 0.6 * sin(2 * PI * t / 1500 + ph[5]) + 0.4 * sin(2 * PI * t / 470 + ph[6]);
    out->gain = 1 + w->p.gain_amp * g;
    out->bias = w->p.bias_amp * bias;
    out->noise_sigma = w->p.noise_sigma;
    out->noise_seed = world_hash(w->p.seed ^ 0x5E45ull, i);
    /* horizontal smear while the shutter is open: yaw rate times exposure, in pixels */
    out->blur_px = 0;
    if (w->p.n_frames > 1 && w->p.exposure > 0) {
        deja__world_pose a, b;
        uint32_t j = i > 0 ? i - 1 : 1;
        pose_at(w, (double)i * w->p.speed_m, &a);
        pose_at(w, (double)j * w->p.speed_m, &b);
        out->blur_px = fabs(wrap_angle(a.yaw - b.yaw)) * w->fx * w->p.exposure;
    }
    return DEJA_OK;
}

/* ---- ground truth ------------------------------------------------------------------------ */

static int poses_within(const deja__world_pose *a, const deja__world_pose *b, double r,
                        double amax_rad)
{
    double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
    return dx * dx + dy * dy + dz * dz <= r * r && fabs(wrap_angle(a->yaw - b->yaw)) <= amax_rad;
}

int deja__world_poses_loop(const deja__world *w, const deja__world_pose *a,
                           const deja__world_pose *b)
{
    return poses_within(a, b, w->p.gt_max_dist_m, w->p.gt_max_angle_deg * PI / 180);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

deja_status deja__world_loops(const deja__world *w, deja__world_loop_fn fn, void *user)
{
    if (!w) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world loops: NULL argument");
    return deja__world_loops_within(w, w->p.gt_max_dist_m, w->p.gt_max_angle_deg, fn, user);
}

deja_status deja__world_loops_within(const deja__world *w, double max_dist_m,
                                     double max_angle_deg, deja__world_loop_fn fn, void *user)
{
    if (!w || !fn) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world loops: NULL argument");
    if (!(max_dist_m > 0 && max_dist_m < 1e4) || !(max_angle_deg >= 0 && max_angle_deg <= 180))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world loops: distance %g m or angle %g deg out "
                        "of range", max_dist_m, max_angle_deg);
    const deja_allocator *a = &w->a;
    size_t n = w->p.n_frames;
    double amax = max_angle_deg * PI / 180;
    /* cells >= the match radius; at most about 2^20 of them */
    double cell = fmax(max_dist_m, sqrt(w->plan_w * w->plan_h / (double)(1 << 20)));
    int gw = (int)(w->plan_w / cell) + 1, gh = (int)(w->plan_h / cell) + 1;
    size_t n_cells = (size_t)gw * gh;
    deja__world_pose *pose = deja__alloc(a, n * sizeof *pose);
    uint32_t *cell_of = deja__alloc(a, n * sizeof(uint32_t));
    uint32_t *order = deja__alloc(a, n * sizeof(uint32_t));
    uint32_t *start = deja__calloc(a, n_cells + 1, sizeof(uint32_t));
    uint32_t *match = NULL;
    size_t cap = 0;
    deja_status st = DEJA_OK;
    if (!pose || !cell_of || !order || !start) {
        st = DEJA_ERR(NULL, DEJA_NOMEM, "world loops: scratch for %zu frames", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        pose_at(w, (double)i * w->p.speed_m, &pose[i]);
        int cx = (int)(pose[i].x / cell), cy = (int)(pose[i].y / cell);
        cx = cx < 0 ? 0 : cx >= gw ? gw - 1 : cx;
        cy = cy < 0 ? 0 : cy >= gh ? gh - 1 : cy;
        cell_of[i] = (uint32_t)((size_t)cy * gw + cx);
        start[cell_of[i] + 1]++;
    }
    for (size_t c = 0; c < n_cells; c++)
        start[c + 1] += start[c];
    /* counting sort, stable: frames ascending inside each cell; the fill moves each start to
       the next cell's start, so shift them back afterwards */
    for (size_t i = 0; i < n; i++)
        order[start[cell_of[i]]++] = (uint32_t)i;
    for (size_t c = n_cells; c > 0; c--)
        start[c] = start[c - 1];
    start[0] = 0;
    size_t gap = w->p.gt_min_gap ? w->p.gt_min_gap : 1;
    for (size_t i = gap; i < n; i++) {
        int cx = (int)(cell_of[i] % (uint32_t)gw), cy = (int)(cell_of[i] / (uint32_t)gw);
        size_t m = 0;
        for (int y = cy - 1; y <= cy + 1; y++)
            for (int x = cx - 1; x <= cx + 1; x++) {
                if (x < 0 || y < 0 || x >= gw || y >= gh) continue;
                size_t c = (size_t)y * gw + x;
                for (uint32_t k = start[c]; k < start[c + 1] && order[k] <= i - gap; k++) {
                    if (!poses_within(&pose[i], &pose[order[k]], max_dist_m, amax)) continue;
                    if (!deja__reserve(a, (void **)&match, &cap, m + 1, sizeof(uint32_t))) {
                        st = DEJA_ERR(NULL, DEJA_NOMEM, "world loops: %zu matches", m + 1);
                        goto done;
                    }
                    match[m++] = order[k];
                }
            }
        if (!m) continue;
        qsort(match, m, sizeof(uint32_t), cmp_u32);
        fn(user, (uint32_t)i, match, m);
    }
done:
    deja__free(a, match, cap * sizeof(uint32_t));
    deja__free(a, start, (n_cells + 1) * sizeof(uint32_t));
    deja__free(a, order, n * sizeof(uint32_t));
    deja__free(a, cell_of, n * sizeof(uint32_t));
    deja__free(a, pose, n * sizeof *pose);
    return st;
}

/* ---- files ------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    char buf[1 << 16];
    size_t n;
} writer;

static void put_u32(writer *o, uint32_t v, char sep)
{
    if (o->n + 12 > sizeof o->buf) {
        fwrite(o->buf, 1, o->n, o->f);
        o->n = 0;
    }
    char tmp[10];
    int k = 0;
    do
        tmp[k++] = (char)('0' + v % 10), v /= 10;
    while (v);
    while (k)
        o->buf[o->n++] = tmp[--k];
    o->buf[o->n++] = sep;
}

static void write_loop(void *user, uint32_t q, const uint32_t *m, size_t n)
{
    writer *o = user;
    put_u32(o, q, ' ');
    for (size_t k = 0; k < n; k++)
        put_u32(o, m[k], k + 1 == n ? '\n' : ' ');
}

static deja_status close_checked(FILE *f, const char *path, int failed)
{
    int err = failed || ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (err) return DEJA_ERR(NULL, DEJA_IO, "%s: write failed: %s", path, strerror(err));
    return DEJA_OK;
}

deja_status deja__world_write_loops(const deja__world *w, const char *path)
{
    if (!w) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world write loops: NULL argument");
    return deja__world_write_loops_within(w, path, w->p.gt_max_dist_m, w->p.gt_max_angle_deg);
}

deja_status deja__world_write_loops_within(const deja__world *w, const char *path,
                                           double max_dist_m, double max_angle_deg)
{
    if (!w || !path) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world write loops: NULL argument");
    writer *o = deja__alloc(&w->a, sizeof *o);
    if (!o) return DEJA_ERR(NULL, DEJA_NOMEM, "world write loops: buffer");
    o->n = 0;
    o->f = fopen(path, "wb");
    if (!o->f) {
        int e = errno;
        deja__free(&w->a, o, sizeof *o);
        return DEJA_ERR(NULL, DEJA_IO, "%s: cannot open for writing: %s", path, strerror(e));
    }
    errno = 0;
    deja_status st = deja__world_loops_within(w, max_dist_m, max_angle_deg, write_loop, o);
    fwrite(o->buf, 1, o->n, o->f);
    deja_status cs = close_checked(o->f, path, 0);
    deja__free(&w->a, o, sizeof *o);
    return st != DEJA_OK ? st : cs;
}

deja_status deja__world_write_poses(const deja__world *w, const char *path)
{
    if (!w || !path) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "world write poses: NULL argument");
    FILE *f = fopen(path, "wb");
    if (!f)
        return DEJA_ERR(NULL, DEJA_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    errno = 0;
    int failed = fprintf(f, "# index image timestamp tx ty tz qx qy qz qw (camera to world)\n") < 0;
    for (uint32_t i = 0; i < w->p.n_frames && !failed; i++) {
        deja__world_pose p;
        double q[4];
        pose_at(w, (double)i * w->p.speed_m, &p);
        deja__world_pose_quat(&p, q);
        failed = fprintf(f, "%u %06u.pgm %.6f %.6f %.6f %.6f %.9f %.9f %.9f %.9f\n", i, i,
                         i / w->p.fps, p.x, p.y, p.z, q[0], q[1], q[2], q[3]) < 0;
    }
    return close_checked(f, path, failed);
}
