/* truth.h - loop ground truth of an evaluation sequence (internal): the `loops.txt` format of
 * ../shared/data (read, parse, write), truth derived from camera poses by a distance / angle /
 * index-gap rule, and look-ups. Also the small text-file scanner the sequence readers share.
 *
 * A deja__truth is immutable after it is made; it may be read from any number of threads.
 * Memory: everything through the allocator of the options it was made with. See
 * docs/sequences.md for the formats. */
#ifndef DEJA_TRUTH_H
#define DEJA_TRUTH_H

#include "base.h"

/* Query q's true matches are matches[offsets[q] .. offsets[q+1]): strictly ascending, all < q.
 * A frame with no match has an empty range. */
typedef struct deja__truth {
    uint32_t n_frames;
    uint64_t *offsets;  /* n_frames + 1 */
    uint32_t *matches;  /* n_pairs used */
    uint32_t n_queries; /* frames with at least one match */
    size_t n_pairs;
    deja_allocator alloc;
    size_t matches_cap; /* allocated elements of matches (for free) */
} deja__truth;

/* (q, m) is a loop when m <= q - min_gap, the camera centres are at most max_dist_m apart and the
 * optical axes (camera +z, the third column of R) at most max_angle_deg apart. */
typedef struct deja__truth_rule {
    double max_dist_m;    /* >= 0 */
    double max_angle_deg; /* 0 or >= 180: no angle check */
    uint32_t min_gap;     /* frames; 0 acts as 1 (a frame is not its own loop) */
} deja__truth_rule;

/* Largest text file the readers take (loops.txt, rgb.txt, ...): DEJA_LIMIT above it. */
#define DEJA__TEXT_MAX_BYTES ((size_t)1 << 30)
/* Largest |t| (metres) of a camera centre; beyond it a pose is taken as corrupt. */
#define DEJA__POSE_MAX_M 1e9
/* from_poses refuses to produce more pairs than this (DEJA_LIMIT): 4 GiB of matches. */
#define DEJA__TRUTH_MAX_PAIRS ((size_t)1 << 30)

/* Parse loops.txt text: per line "query match1 match2 ...", 0-based indices < n_frames, matches
 * earlier than their query; '#' comment lines, blank lines, spaces / tabs, CRLF allowed; lines in
 * any order; matches of a line in any order (sorted here). Errors (DEJA_FORMAT, message with name,
 * line and field): a token that is not a decimal integer, a negative one, one above 2^32-1, an
 * index >= n_frames, a match >= its query, a query with no match, a query on two lines, a match
 * listed twice on one line. Empty text = no loops. Allocates O(tokens + n_frames). */
DEJA_NODISCARD deja_status deja__truth_parse(const deja_options *o, const char *text, size_t len,
                                             const char *name, uint32_t n_frames, deja__truth **out,
                                             char *err);
/* Read a loops.txt file (at most DEJA__TEXT_MAX_BYTES) and parse it; DEJA_IO if unreadable. */
DEJA_NODISCARD deja_status deja__truth_read(const deja_options *o, const char *path,
                                            uint32_t n_frames, deja__truth **out, char *err);
/* Write in the loops.txt format: one line per query, ascending; no comments. */
DEJA_NODISCARD deja_status deja__truth_write(const deja__truth *t, const char *path, char *err);

/* Truth from camera-to-world poses, n * 12 doubles (row-major 3x4 [R|t] per frame). Poses must be
 * finite with |t| <= DEJA__POSE_MAX_M (else DEJA_FORMAT naming the frame). O(n log n + pairs +
 * near pairs) by a 3D grid of cells of max_dist_m. */
DEJA_NODISCARD deja_status deja__truth_from_poses(const deja_options *o, const double *poses,
                                                  uint32_t n, const deja__truth_rule *rule,
                                                  deja__truth **out, char *err);
/* Same, where frames with has_pose[i] == 0 have no pose (their entries are ignored) and take part
 * in no pair. has_pose NULL: all frames have one. */
DEJA_NODISCARD deja_status deja__truth_from_poses_mask(const deja_options *o, const double *poses,
                                                       const uint8_t *has_pose, uint32_t n,
                                                       const deja__truth_rule *rule,
                                                       deja__truth **out, char *err);

/* 1 if m is a true match of q (binary search); 0 otherwise, also for indices out of range. */
int deja__truth_is_loop(const deja__truth *t, uint32_t q, uint32_t m);
/* q's matches, ascending; *n = 0 (and a non-NULL pointer) for a frame without any. */
const uint32_t *deja__truth_matches(const deja__truth *t, uint32_t q, uint32_t *n);
/* 1 if both have the same frames and pairs. */
int deja__truth_equal(const deja__truth *a, const deja__truth *b);
void deja__truth_destroy(deja__truth *t); /* NULL ok */

/* ---- text files (shared with the sequence readers) --------------------------------------- */

/* The whole file in *text (len bytes + a '\0', allocated with a; free len + 1 bytes). DEJA_IO if
 * it cannot be read, DEJA_LIMIT above max_bytes. */
DEJA_NODISCARD deja_status deja__text_read(const deja_allocator *a, const char *path,
                                           size_t max_bytes, char **text, size_t *len, char *err);

/* Line by line over [p, end): *s, *e without the '\n' and a '\r' before it; line counts from 1. */
typedef struct deja__lines {
    const char *p, *end;
    uint32_t line;
} deja__lines;
int deja__lines_next(deja__lines *it, const char **s, const char **e);
/* First non-blank (space / tab) character of [s, e), or e. */
const char *deja__skip_blank(const char *s, const char *e);
/* 1 if the line is blank or a '#' comment. */
int deja__line_is_skip(const char *s, const char *e);
/* Next token separated by spaces / tabs from *s (moved past it); 0 when none is left. */
int deja__token(const char **s, const char *e, const char **tb, const char **te);
/* Decimal unsigned integer (digits only) <= max; 0 otherwise. */
int deja__parse_u64(const char *s, const char *e, uint64_t max, uint64_t *out);
/* Finite decimal number ("-1.5", "2e-3", "+7."); 0 for anything else (inf, nan, hex, junk). */
int deja__parse_f64(const char *s, const char *e, double *out);
/* A printable copy of [s, e) for messages: at most 24 characters, others as '?', "..." if cut. */
const char *deja__quote(const char *s, const char *e, char buf[32]);

#endif
