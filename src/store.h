/* store.h - append-only, file-backed store of each frame's keypoints and descriptors, which
 * geometric verification reads back for the few candidate frames it checks. Resident memory
 * stays at a small per-frame offset table; the data lives in an unlinked temporary file. */
#ifndef DEJA_STORE_H
#define DEJA_STORE_H

#include "base.h"

typedef struct deja__store deja__store;

/* dir: folder for the file (NULL: $TMPDIR or /tmp). The file is unlinked at once. */
deja_status deja__store_create(const deja_allocator *a, const char *dir, deja__store **out);
void deja__store_destroy(deja__store *s);
deja_status deja__store_reserve(deja__store *s, uint32_t n_frames);
/* Size the record buffers for frames of up to n features of desc_bytes. */
deja_status deja__store_reserve_record(deja__store *s, size_t n, uint32_t desc_bytes);
/* Append frame features (keypoints required); returns DEJA_IO on a write error. The frame id is
 * the number of frames appended before it. */
deja_status deja__store_append(deja__store *s, const deja_features *f);
/* Read frame `frame` back into the store's buffers: *out points into them until the next call.
 * Keypoints come back with x, y, angle (1/100 degree), octave; size and response are 0. */
deja_status deja__store_read(deja__store *s, uint32_t frame, deja_features *out);
/* Forget the frames >= n (undo appends after a later failure). */
void deja__store_truncate(deja__store *s, uint32_t n);
uint32_t deja__store_size(const deja__store *s);
uint64_t deja__store_file_bytes(const deja__store *s);
uint64_t deja__store_heap_bytes(const deja__store *s);
const char *deja__store_error(const deja__store *s);

#endif
