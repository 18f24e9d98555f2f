/* pool.c - workers start at create and sleep on a condition variable between jobs; the caller
 * runs slice 0 itself, so one thread means no worker thread at all. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 8

struct deja__pool {
    deja_allocator alloc;
    int n_threads;
    pthread_t threads[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation; /* bumped per job */
    int pending;         /* workers still running the current job */
    int quit;
    size_t n;
    deja__pool_fn fn;
    void *ctx;
};


static void slice(const deja__pool *p, int i, size_t *begin, size_t *end)
{
    *begin = p->n * (size_t)i / (size_t)p->n_threads;
    *end = p->n * (size_t)(i + 1) / (size_t)p->n_threads;
}

static void *worker_main(void *arg)
{
    deja__pool *p = ((void **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        size_t b, e;
        slice(p, id, &b, &e);
        if (b < e) p->fn(p->ctx, b, e, id);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

deja_status deja__pool_create(const deja_allocator *a, int n_threads, deja__pool **out)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    deja__pool *p = deja__calloc(a, 1, sizeof *p + sizeof(void *) * 2 * MAX_THREADS);
    if (!p) return DEJA_ERR(NULL, DEJA_NOMEM, "thread pool: out of memory");
    p->alloc = *a;
    p->n_threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    void **slots = (void **)(p + 1);
    for (int i = 1; i < n_threads; i++) {
        slots[2 * i] = p;
        slots[2 * i + 1] = (void *)(intptr_t)i;
        if (pthread_create(&p->threads[i], NULL, worker_main, &slots[2 * i]) != 0) break;
        p->n_threads = i + 1;
    }
    *out = p;
    return DEJA_OK;
}

void deja__pool_destroy(deja__pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    deja_allocator a = p->alloc;
    deja__free(&a, p, sizeof *p + sizeof(void *) * 2 * MAX_THREADS);
}

int deja__pool_threads(const deja__pool *p)
{
    return p->n_threads;
}

void deja__pool_for(deja__pool *p, size_t n, deja__pool_fn fn, void *ctx)
{
    if (n == 0) return;
    p->n = n;
    p->fn = fn;
    p->ctx = ctx;
    if (p->n_threads > 1) {
        pthread_mutex_lock(&p->mu);
        p->pending = p->n_threads - 1;
        p->generation++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    size_t b, e;
    slice(p, 0, &b, &e);
    if (b < e) fn(ctx, b, e, 0);
    if (p->n_threads > 1) {
        pthread_mutex_lock(&p->mu);
        while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
