/* seq.h - evaluation sequences on disk (internal): image paths in frame order, timestamps,
 * camera poses and loop ground truth from the layouts deja evaluates on: the ../shared/data
 * folders, KITTI odometry, TUM RGB-D, EuRoC MAV, a plain folder of images, a list file.
 *
 * Readers list paths, they do not decode images; every listed image must exist as a regular file
 * (an empty placeholder is fine). Every number read is checked (finite, in range) and every error
 * names the file and line. The layouts, the detection order and the pose rules are in
 * docs/sequences.md. A deja__sequence is immutable once open; memory goes through the options'
 * allocator. Implementation: seq.c (detection, folder, list, shared), seq_formats.c (KITTI, TUM,
 * EuRoC), seq_pose.c (quaternions, interpolation). */
#ifndef DEJA_SEQ_H
#define DEJA_SEQ_H

#include "base.h"
#include "truth.h"

typedef enum deja__seq_layout {
    DEJA__SEQ_FOLDER, /* a folder of images (+ loops.txt, loops_loose.txt if present) */
    DEJA__SEQ_LIST,   /* a text file: "path" or "timestamp path" per line */
    DEJA__SEQ_KITTI,  /* KITTI odometry sequence: image_0/ (or image_2/), times.txt, poses */
    DEJA__SEQ_TUM,    /* TUM RGB-D: rgb.txt, groundtruth.txt */
    DEJA__SEQ_EUROC,  /* EuRoC MAV: mav0/cam0/data.csv, mav0/state_groundtruth_estimate0/ */
    DEJA__SEQ_SHARED  /* ../shared/data: images/, loops.txt, loops_loose.txt, poses_per_frame */
} deja__seq_layout;

/* "folder", "list", "kitti", "tum", "euroc", "shared"; "unknown" for other values. */
const char *deja__seq_layout_name(deja__seq_layout l);

typedef struct deja__sequence {
    deja__seq_layout layout;
    uint32_t n;         /* frames, >= 1 */
    char **paths;       /* n usable file paths (the opened path joined with the listed name) */
    double *timestamps; /* n, seconds, non-decreasing; i / 30 when the layout has none */
    int has_timestamps; /* 0 when timestamps are the i / 30 stand-in */
    double *poses;      /* n * 12 (row-major 3x4 camera-to-world [R|t]) or NULL */
    uint8_t *has_pose;  /* n, set with poses: 0 = no pose for that frame (its 12 are zeros) */
    uint32_t n_posed;   /* frames with a pose */
    deja__truth *truth; /* NULL when none */
    deja__truth *truth_loose;   /* NULL unless a loose variant exists (loops_loose.txt) */
    int truth_from_poses;       /* 1 if truth was derived from poses with rule_used */
    deja__truth_rule rule_used; /* the caller's rule or the layout default, also when unused */
    char *name;                 /* last component of the resolved path ("00", "tum-fr1-xyz") */
    deja_allocator alloc;
    char *path_pool; /* storage of paths and name */
    size_t path_pool_bytes;
} deja__sequence;

/* Frames without timestamps get i / DEJA__SEQ_DEFAULT_FPS seconds. */
#define DEJA__SEQ_DEFAULT_FPS 30.0
/* TUM / EuRoC: an image time between two ground-truth samples further apart than this gets no
 * pose (mocap at 100-200 Hz; fr1_xyz's widest gap is 0.11 s). */
#define DEJA__SEQ_MAX_GT_GAP_S 0.2
/* Most frames a sequence may have. */
#define DEJA__SEQ_MAX_FRAMES ((uint32_t)1 << 30)

/* Rule used to derive truth from poses when the caller passes none. See docs/sequences.md. */
deja__truth_rule deja__truth_rule_default(deja__seq_layout l);

/* Which layout path has, in this order: a regular file -> LIST; a folder with mav0/cam0/data.csv
 * or cam0/data.csv -> EUROC; with images/ -> SHARED; with rgb.txt -> TUM; with times.txt and
 * image_0/ or image_2/ -> KITTI; any other folder -> FOLDER. DEJA_IO if path does not exist. */
DEJA_NODISCARD deja_status deja__seq_detect(const char *path, deja__seq_layout *out, char *err);

/* Detect the layout and open. rule NULL: the layout's default. Truth comes from the layout's
 * loops.txt when it has one, else from the poses with the rule (truth_from_poses = 1). */
DEJA_NODISCARD deja_status deja__sequence_open(const deja_options *o, const char *path,
                                               const deja__truth_rule *rule, deja__sequence **out,
                                               char *err);
/* Open as the given layout, without detection. */
DEJA_NODISCARD deja_status deja__sequence_open_as(const deja_options *o, const char *path,
                                                  deja__seq_layout layout,
                                                  const deja__truth_rule *rule,
                                                  deja__sequence **out, char *err);
void deja__sequence_destroy(deja__sequence *s); /* NULL ok */

/* ---- poses (seq_pose.c; also used by the tests) ------------------------------------------ */

/* A ground-truth sample: time, position, unit quaternion (x, y, z, w, Hamilton), source line. */
typedef struct deja__pose_sample {
    double t;
    double p[3];
    double q[4];
    uint32_t line;
} deja__pose_sample;

/* Normalise q (x, y, z, w) in place; 0 if its norm is below 1e-6 (or not finite). */
int deja__quat_normalise(double q[4]);
/* Rotation matrix (row-major 3x3) of a unit quaternion (x, y, z, w). */
void deja__quat_to_r(const double q[4], double r[9]);
/* Spherical interpolation between unit quaternions, u in [0, 1], along the shorter arc. */
void deja__quat_slerp(const double a[4], const double b[4], double u, double out[4]);
/* 3x4 pose [R(q) | p]. */
void deja__pose_from_pq(const double p[3], const double q[4], double pose[12]);
/* out = a * b as 4x4 rigid transforms (3x4 storage); out may not alias a or b. */
void deja__pose_compose(const double a[12], const double b[12], double out[12]);
/* Largest |R^T R - I| entry: 0 for a rotation. */
double deja__rotation_error(const double pose[12]);

/* Sort samples by time; DEJA_FORMAT naming `file` and both lines if two share a time. */
DEJA_NODISCARD deja_status deja__pose_samples_sort(deja__pose_sample *s, size_t n, const char *file,
                                                   char *err);
/* Pose at each time from sorted samples: exact at a sample time, else linear position and slerp
 * rotation between the two samples around it; none (has_pose 0, zeros) outside their span or
 * across a gap above max_gap_s. Returns the number of frames with a pose. */
uint32_t deja__pose_interpolate(const deja__pose_sample *s, size_t n_s, const double *times,
                                uint32_t n, double max_gap_s, double *poses, uint8_t *has_pose);

/* ---- internal to seq*.c ------------------------------------------------------------------ */

/* Growing list of frames while a reader scans its input. */
typedef struct deja__seq_builder {
    deja_allocator a;
    char *pool; /* "path\0path\0..." */
    size_t pool_len, pool_cap;
    size_t *at; /* offset of each path in pool */
    size_t cap_at;
    double *ts;
    size_t cap_ts;
    uint32_t n;
} deja__seq_builder;

/* Append dir/name (name alone if absolute or dir is NULL) at time t, which may not be earlier
 * than the previous frame's. With check, the file must exist (else DEJA_IO). Messages name
 * `file:line` where the name was read (file NULL: the frame number). */
DEJA_NODISCARD deja_status deja__seq_add(deja__seq_builder *b, const char *dir, const char *name,
                                         size_t name_len, double t, int check, const char *file,
                                         uint32_t line, char *err);
/* Images of a folder (.png .jpg .jpeg .pgm .ppm, any case; no hidden files) in strcmp order,
 * timestamps i / 30. */
DEJA_NODISCARD deja_status deja__seq_add_folder(deja__seq_builder *b, const char *dir, char *err);
/* Move the frames into s (paths, timestamps, n, name from name_path); frees the builder. */
DEJA_NODISCARD deja_status deja__seq_finish(deja__seq_builder *b, deja__sequence *s,
                                            const char *name_path, char *err);
void deja__seq_builder_free(deja__seq_builder *b);
/* Allocate s->poses and s->has_pose (zeroed) for s->n frames. */
DEJA_NODISCARD deja_status deja__seq_alloc_poses(deja__sequence *s, char *err);
/* "a/b" into buf; 0 if it does not fit. */
int deja__path_join(char *buf, size_t size, const char *a, const char *b);
int deja__is_dir(const char *path);
int deja__is_file(const char *path);
/* Text of dir/name (cap DEJA__TEXT_MAX_BYTES); *text NULL and DEJA_OK if absent and optional. */
DEJA_NODISCARD deja_status deja__seq_read_text(const deja_allocator *a, const char *dir,
                                               const char *name, int optional, char **text,
                                               size_t *len, char *err);
/* The layout readers (seq_formats.c): fill s (layout, frames, poses; truth is done by the
 * caller from the poses). */
DEJA_NODISCARD deja_status deja__seq_read_kitti(deja__sequence *s, const char *path, char *err);
DEJA_NODISCARD deja_status deja__seq_read_tum(deja__sequence *s, const char *path, char *err);
DEJA_NODISCARD deja_status deja__seq_read_euroc(deja__sequence *s, const char *path, char *err);

#endif
