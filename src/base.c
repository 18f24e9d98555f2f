/* base.c - errors, allocation hook, growable buffers, options, clock, checksum.
 *
 * Errors: each handle owns a DEJA_ERROR_BYTES buffer; every error is also kept in a thread-local
 * buffer so that a failed _create (no handle yet) can be explained by deja_last_error(). */
#define _POSIX_C_SOURCE 200809L
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_error[DEJA_ERROR_BYTES];

const char *deja_status_name(deja_status s)
{
    switch (s) {
#define DEJA_X_(n)                                                                                 \
    case DEJA_##n:                                                                                 \
        return #n;
        DEJA_STATUS(DEJA_X_)
#undef DEJA_X_
    }
    return "UNKNOWN";
}

const char *deja_last_error(void)
{
    return last_error;
}

const char *deja_version(void)
{
    return "0.1.0";
}

deja_status deja__error(char *buf, deja_status st, const char *file, int line, const char *fmt,
                        ...)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(last_error, sizeof last_error, "%s:%d: ", base, line);
    if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    if (buf && buf != last_error) memcpy(buf, last_error, sizeof last_error);
    return st;
}

void deja__error_copy(char *buf)
{
    if (buf && buf != last_error) memcpy(buf, last_error, sizeof last_error);
}

static void *default_alloc(void *user, size_t bytes)
{
    (void)user;
    return malloc(bytes);
}

static void default_free(void *user, void *p, size_t bytes)
{
    (void)user;
    (void)bytes;
    free(p);
}

deja_allocator deja__allocator(const deja_options *o)
{
    if (o && o->allocator.alloc && o->allocator.free) return o->allocator;
    return (deja_allocator){default_alloc, default_free, NULL};
}

void *deja__alloc(const deja_allocator *a, size_t bytes)
{
    return a->alloc(a->user, bytes ? bytes : 1);
}

void *deja__calloc(const deja_allocator *a, size_t n, size_t size)
{
    size_t bytes;
    if (!deja__mul_ok(n, size, &bytes)) return NULL;
    void *p = deja__alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void deja__free(const deja_allocator *a, void *p, size_t bytes)
{
    if (p) a->free(a->user, p, bytes ? bytes : 1);
}

bool deja__reserve(const deja_allocator *a, void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t new_cap = *cap + *cap / 2;
    if (new_cap < need) new_cap = need;
    if (new_cap < 16) new_cap = 16;
    size_t bytes, old_bytes = *cap * elem;
    if (!deja__mul_ok(new_cap, elem, &bytes)) return false;
    void *p = deja__alloc(a, bytes);
    if (!p) return false;
    if (*buf && old_bytes) memcpy(p, *buf, old_bytes);
    deja__free(a, *buf, old_bytes);
    *buf = p;
    *cap = new_cap;
    return true;
}

deja_options deja_options_default(void)
{
    deja_options o;
    memset(&o, 0, sizeof o);
    o.n_threads = 0;
    o.simd = DEJA_SIMD_AUTO;
    o.max_pixels = (uint64_t)1 << 26;
    o.orb.n_features = 1000;
    o.orb.n_levels = 8;
    o.orb.scale_factor = 1.2f;
    o.orb.fast_threshold = 20;
    o.orb.min_fast_threshold = 7;
    o.orb.edge_threshold = 19;
    return o;
}

deja_options deja__options_resolve(const deja_options *in)
{
    deja_options d = deja_options_default();
    if (!in) return d;
    deja_options o = *in;
    if (o.max_pixels == 0) o.max_pixels = d.max_pixels;
    if (o.orb.n_features == 0) o.orb.n_features = d.orb.n_features;
    if (o.orb.n_levels == 0) o.orb.n_levels = d.orb.n_levels;
    if (o.orb.scale_factor == 0) o.orb.scale_factor = d.orb.scale_factor;
    if (o.orb.fast_threshold == 0) o.orb.fast_threshold = d.orb.fast_threshold;
    if (o.orb.min_fast_threshold == 0) o.orb.min_fast_threshold = d.orb.min_fast_threshold;
    if (o.orb.edge_threshold == 0) o.orb.edge_threshold = d.orb.edge_threshold;
    return o;
}

uint64_t deja__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Four independent lanes over 32-byte blocks keep the multiplier pipelines busy (~8 GB/s); the
 * tail and the lengths are folded in at the end. Constants are odd 64-bit mixers. */
#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v; /* little-endian hosts only (x86-64, aarch64); checked in tests */
}

static inline uint64_t lane(uint64_t acc, uint64_t v)
{
    return rotl(acc + v * P2, 31) * P1;
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t deja__hash64(const void *data, size_t bytes, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32) {
        a = lane(a, load64(p + i));
        b = lane(b, load64(p + i + 8));
        c = lane(c, load64(p + i + 16));
        d = lane(d, load64(p + i + 24));
    }
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + (uint64_t)bytes;
    for (; i + 8 <= bytes; i += 8) h = rotl(h ^ lane(0, load64(p + i)), 27) * P1 + P3;
    for (; i < bytes; i++) h = rotl(h ^ (p[i] * P3), 11) * P1;
    return finish(h);
}
