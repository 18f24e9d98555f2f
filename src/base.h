/* base.h - status and error text, the allocator hook, growable buffers, checked size math.
 * Every other module includes this first. Internal: nothing here is exported. */
#ifndef DEJA_BASE_H
#define DEJA_BASE_H

#include "deja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEJA_ERROR_BYTES 512

/* Resolved allocator: never has NULL function pointers. */
deja_allocator deja__allocator(const deja_options *o);
void *deja__alloc(const deja_allocator *a, size_t bytes);
void *deja__calloc(const deja_allocator *a, size_t n, size_t size); /* zeroed; overflow -> NULL */
void deja__free(const deja_allocator *a, void *p, size_t bytes);     /* NULL ok */

/* Make *buf hold at least need elements of elem bytes, growing geometrically (x1.5, at least
 * min_cap). Keeps the contents. Returns false on overflow or NOMEM (then *buf is unchanged). */
bool deja__reserve(const deja_allocator *a, void **buf, size_t *cap, size_t need, size_t elem);

/* Overflow-checked size math. */
static inline bool deja__mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool deja__add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Format "file.c:123: message" into buf (if not NULL, DEJA_ERROR_BYTES long) and into the
 * thread's last-error text. Returns st so that callers can `return DEJA_ERR(...)`. */
deja_status deja__error(char *buf, deja_status st, const char *file, int line, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));
#define DEJA_ERR(buf, st, ...) deja__error((buf), (st), __FILE__, __LINE__, __VA_ARGS__)

/* Copy the thread's last-error text into buf (a handle's error after a nested call failed). */
void deja__error_copy(char *buf);

/* Options with defaults filled in where the caller left zeros; NULL gives the defaults. */
deja_options deja__options_resolve(const deja_options *o);

/* Monotonic clock in nanoseconds. */
uint64_t deja__now_ns(void);

/* splitmix64 (Steele, Lea & Flood 2014): the one PRNG of deja (sampling patterns, k-means++,
 * RANSAC, generated worlds), deterministic on every platform. */
static inline uint64_t deja__splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 64-bit checksum of bytes (our own 4-lane multiply-rotate hash; fast, not cryptographic). */
uint64_t deja__hash64(const void *data, size_t bytes, uint64_t seed);

#endif
