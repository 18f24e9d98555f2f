/* store.c - the feature store. Each frame is one record appended to an unlinked temporary file:
 *   u32 n, u32 kind, u32 desc_bytes, u32 reserved,
 *   n x {f32 x, f32 y, u16 angle_centi_deg, u8 octave, u8 pad}  (12 B per keypoint),
 *   n x desc_bytes descriptor bytes.
 * Records are written with pwrite and read back with pread into reused buffers. Reading (rather
 * than mmap'ing) keeps verified frames out of the process's resident set: the kernel's page cache
 * holds what is hot, and the process grows only by the 8-byte offset per frame. */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint32_t n, kind, desc_bytes, reserved;
} record_head;

typedef struct {
    float x, y;
    uint16_t angle;
    uint8_t octave, pad;
} packed_kp;

struct deja__store {
    deja_allocator alloc;
    int fd;
    uint64_t end;       /* bytes written */
    uint64_t *offsets;  /* per frame */
    size_t n, offsets_cap;
    uint8_t *io;        /* one record's bytes */
    size_t io_cap;
    deja_keypoint *kps; /* unpacked keypoints of the last read */
    size_t kps_cap;
    char err[DEJA_ERROR_BYTES];
};

deja_status deja__store_create(const deja_allocator *a, const char *dir, deja__store **out)
{
    if (!dir || !*dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    deja__store *s = deja__calloc(a, 1, sizeof *s);
    if (!s) return DEJA_ERR(NULL, DEJA_NOMEM, "feature store: out of memory");
    s->alloc = *a;
#ifdef O_TMPFILE
    s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#else
    s->fd = -1;
#endif
    if (s->fd < 0) { /* file systems without O_TMPFILE: create and unlink at once */
        char path[4096];
        snprintf(path, sizeof path, "%s/deja-store-XXXXXX", dir);
        s->fd = mkstemp(path);
        if (s->fd >= 0) unlink(path);
    }
    if (s->fd < 0) {
        int e = errno;
        deja__free(a, s, sizeof *s);
        return DEJA_ERR(NULL, DEJA_IO, "feature store: cannot create a file in %s: %s", dir,
                        strerror(e));
    }
    *out = s;
    return DEJA_OK;
}

void deja__store_destroy(deja__store *s)
{
    if (!s) return;
    close(s->fd);
    deja__free(&s->alloc, s->offsets, s->offsets_cap * sizeof *s->offsets);
    deja__free(&s->alloc, s->io, s->io_cap);
    deja__free(&s->alloc, s->kps, s->kps_cap * sizeof *s->kps);
    deja_allocator a = s->alloc;
    deja__free(&a, s, sizeof *s);
}

deja_status deja__store_reserve(deja__store *s, uint32_t n_frames)
{
    if (!deja__reserve(&s->alloc, (void **)&s->offsets, &s->offsets_cap, n_frames,
                       sizeof *s->offsets))
        return DEJA_ERR(s->err, DEJA_NOMEM, "feature store: no memory for %u frames", n_frames);
    return DEJA_OK;
}

static size_t record_bytes(size_t n, size_t desc_bytes)
{
    return sizeof(record_head) + n * (sizeof(packed_kp) + desc_bytes);
}

deja_status deja__store_reserve_record(deja__store *s, size_t n, uint32_t desc_bytes)
{
    if (n > (1u << 24)) return DEJA_ERR(s->err, DEJA_LIMIT, "feature store: %zu features", n);
    if (!deja__reserve(&s->alloc, (void **)&s->io, &s->io_cap, record_bytes(n, desc_bytes), 1)
        || !deja__reserve(&s->alloc, (void **)&s->kps, &s->kps_cap, n, sizeof *s->kps))
        return DEJA_ERR(s->err, DEJA_NOMEM, "feature store: out of memory");
    return DEJA_OK;
}

static deja_status write_all(deja__store *s, const uint8_t *p, size_t bytes, uint64_t at)
{
    while (bytes > 0) {
        ssize_t w = pwrite(s->fd, p, bytes, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return DEJA_ERR(s->err, DEJA_IO, "feature store: write of %zu bytes at %llu: %s",
                            bytes, (unsigned long long)at, w < 0 ? strerror(errno) : "no space");
        p += w;
        at += (uint64_t)w;
        bytes -= (size_t)w;
    }
    return DEJA_OK;
}

deja_status deja__store_append(deja__store *s, const deja_features *f)
{
    if (f->n > (1u << 24) || (f->n > 0 && (!f->keypoints || !f->descriptors)))
        return DEJA_ERR(s->err, DEJA_INVALID_ARG, "feature store: %zu features with%s keypoints",
                        f->n, f->keypoints ? "" : "out");
    size_t bytes = record_bytes(f->n, f->desc_bytes);
    if (!deja__reserve(&s->alloc, (void **)&s->io, &s->io_cap, bytes, 1)
        || !deja__reserve(&s->alloc, (void **)&s->offsets, &s->offsets_cap, s->n + 1,
                          sizeof *s->offsets))
        return DEJA_ERR(s->err, DEJA_NOMEM, "feature store: out of memory for a %zu-byte record",
                        bytes);
    record_head h = {(uint32_t)f->n, (uint32_t)f->kind, f->desc_bytes, 0};
    memcpy(s->io, &h, sizeof h);
    packed_kp *pk = (packed_kp *)(s->io + sizeof h);
    for (size_t i = 0; i < f->n; i++) {
        const deja_keypoint *k = &f->keypoints[i];
        float a = k->angle >= 0 && k->angle < 360 ? k->angle : 0;
        packed_kp p = {k->x, k->y, (uint16_t)(a * 100.0f + 0.5f), (uint8_t)k->octave, 0};
        memcpy(&pk[i], &p, sizeof p);
    }
    memcpy(s->io + sizeof h + f->n * sizeof(packed_kp), f->descriptors, f->n * f->desc_bytes);
    deja_status st = write_all(s, s->io, bytes, s->end);
    if (st != DEJA_OK) return st;
    s->offsets[s->n++] = s->end;
    s->end += bytes;
    return DEJA_OK;
}

deja_status deja__store_read(deja__store *s, uint32_t frame, deja_features *out)
{
    if (frame >= s->n)
        return DEJA_ERR(s->err, DEJA_INVALID_ARG, "feature store: frame %u of %zu", frame, s->n);
    uint64_t at = s->offsets[frame];
    uint64_t end = frame + 1 < s->n ? s->offsets[frame + 1] : s->end;
    size_t bytes = (size_t)(end - at);
    if (!deja__reserve(&s->alloc, (void **)&s->io, &s->io_cap, bytes, 1))
        return DEJA_ERR(s->err, DEJA_NOMEM, "feature store: out of memory");
    for (size_t done = 0; done < bytes;) {
        ssize_t r = pread(s->fd, s->io + done, bytes - done, (off_t)(at + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return DEJA_ERR(s->err, DEJA_IO, "feature store: read of frame %u: %s", frame,
                            r < 0 ? strerror(errno) : "short file");
        done += (size_t)r;
    }
    record_head h;
    memcpy(&h, s->io, sizeof h);
    if (record_bytes(h.n, h.desc_bytes) != bytes)
        return DEJA_ERR(s->err, DEJA_FORMAT, "feature store: frame %u record is damaged", frame);
    if (!deja__reserve(&s->alloc, (void **)&s->kps, &s->kps_cap, h.n, sizeof *s->kps))
        return DEJA_ERR(s->err, DEJA_NOMEM, "feature store: out of memory");
    const uint8_t *pk = s->io + sizeof h;
    for (uint32_t i = 0; i < h.n; i++) {
        packed_kp p;
        memcpy(&p, pk + i * sizeof p, sizeof p);
        s->kps[i] = (deja_keypoint){p.x, p.y, 0, p.angle / 100.0f, 0, p.octave};
    }
    *out = (deja_features){.n = h.n, .keypoints = s->kps,
                           .descriptors = s->io + sizeof h + (size_t)h.n * sizeof(packed_kp),
                           .kind = (deja_desc_kind)h.kind, .desc_bytes = h.desc_bytes};
    return DEJA_OK;
}

void deja__store_truncate(deja__store *s, uint32_t n)
{
    if (n >= s->n) return;
    s->end = s->offsets[n];
    s->n = n;
}

uint32_t deja__store_size(const deja__store *s)
{
    return (uint32_t)s->n;
}

uint64_t deja__store_file_bytes(const deja__store *s)
{
    return s->end;
}

uint64_t deja__store_heap_bytes(const deja__store *s)
{
    return sizeof *s + s->offsets_cap * sizeof *s->offsets + s->io_cap + s->kps_cap * sizeof *s->kps;
}

const char *deja__store_error(const deja__store *s)
{
    return s->err;
}
