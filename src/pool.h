/* pool.h - persistent worker threads and a blocking parallel-for over disjoint slices. */
#ifndef DEJA_POOL_H
#define DEJA_POOL_H

#include "base.h"

typedef struct deja__pool deja__pool;

/* fn is called for [begin, end) slices; worker is 0..n_threads-1 (for per-worker scratch). */
typedef void (*deja__pool_fn)(void *ctx, size_t begin, size_t end, int worker);

/* n_threads <= 0: number of online cores, capped at 8. 1 thread runs everything inline. */
deja_status deja__pool_create(const deja_allocator *a, int n_threads, deja__pool **out);
void deja__pool_destroy(deja__pool *p);
int deja__pool_threads(const deja__pool *p);
/* Split [0, n) into n_threads contiguous slices (slice i to worker i) and wait for all. The split
 * depends only on n and the thread count, so fixed-order reductions over workers are repeatable. */
void deja__pool_for(deja__pool *p, size_t n, deja__pool_fn fn, void *ctx);

#endif
