/* engine_memory.c - static memory planning: every buffer (a root of the alias tree that steps
 * compute into) gets an offset in one arena from its lifetime, then every step operand becomes
 * an address.
 *
 * How it works: a buffer lives from the first step that writes any byte of it to the last step
 * that reads any byte (graph outputs: to the end of the run). Buffers are placed largest first;
 * each goes into the smallest gap, between the buffers already placed whose lifetimes overlap
 * its own, that fits it, else above them all ("greedy by size", as TensorFlow Lite's arena
 * planner; Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net Inference", 2020).
 * The same placement in order of first use is tried too, and the smaller arena kept.
 * Offsets are multiples of 64 bytes. Two tensors live at the same step never share bytes, so a
 * kernel never reads what it writes unless the planner made it in place on purpose. One scratch
 * area, as large as the largest kernel call needs, follows the arena in the same allocation. */
#include "engine_impl.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16 /* 64 bytes */

typedef struct buf {
    int32_t v;           /* root value */
    int32_t first, last; /* steps */
    size_t size, off;    /* floats */
} buf;

static int by_size(const void *pa, const void *pb)
{
    const buf *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v;
}

static int by_first(const void *pa, const void *pb)
{
    const buf *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return by_size(pa, pb);
}

static int by_off(const void *pa, const void *pb)
{
    const buf *const *a = pa, *const *b = pb;
    return (*a)->off < (*b)->off ? -1 : (*a)->off > (*b)->off;
}

/* Root of v when it is an arena buffer, else -1. */
static int32_t arena_root(const deja__eng_ctx *c, int32_t v)
{
    size_t off;
    int32_t r = deja__eng_root(c, v, &off);
    return c->state[r] == DEJA__V_RUNTIME ? r : -1;
}

static void touch(const deja__eng_ctx *c, int32_t *first, int32_t *last, int32_t v, int32_t s)
{
    if (v < 0) return;
    int32_t r = arena_root(c, v);
    if (r < 0) return;
    if (first[r] < 0 || s < first[r]) first[r] = s;
    if (s > last[r]) last[r] = s;
}

/* Greedy by size: bufs sorted largest first; overlap is scratch for n pointers. */
static size_t place(buf *bufs, size_t n, buf **overlap, bool reuse)
{
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        buf *b = &bufs[i];
        size_t k = 0;
        for (size_t j = 0; j < i; j++)
            if (!reuse || (bufs[j].first <= b->last && b->first <= bufs[j].last))
                overlap[k++] = &bufs[j];
        qsort(overlap, k, sizeof *overlap, by_off);
        size_t end = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (size_t j = 0; j < k; j++) {
            if (overlap[j]->off > end) {
                size_t gap = overlap[j]->off - end;
                if (gap >= b->size && gap < best_gap) {
                    best_gap = gap;
                    best = end;
                }
            }
            if (overlap[j]->off + overlap[j]->size > end) end = overlap[j]->off + overlap[j]->size;
        }
        b->off = best != SIZE_MAX ? best : end;
        if (b->off + b->size > top) top = b->off + b->size;
    }
    return top;
}

/* The address of r's storage (or the run's input + off). */
static void resolve(const deja__eng_ctx *c, const size_t *root_off, const float *arena,
                    deja__eng_ref *r)
{
    if (r->value < 0) return;
    size_t off;
    int32_t root = deja__eng_root(c, r->value, &off);
    off += r->extra;
    r->from_input = false;
    switch (c->state[root]) {
    case DEJA__V_INPUT:
        r->from_input = true;
        r->off = off;
        r->p = NULL;
        break;
    case DEJA__V_CONST:
        r->p = c->cptr[root] + off;
        break;
    default:
        r->p = arena + root_off[root] + off;
        break;
    }
}

deja_status deja__eng_memory(deja__eng_ctx *c)
{
    const deja__onnx_model *m = c->m;
    deja__eng_plan *p = c->plan;
    size_t nv = m->n_values;
    const deja_allocator *a = c->a;
    /* first, last, root_off per value; bufs; overlap pointers. */
    size_t bytes = nv * (2 * sizeof(int32_t) + sizeof(size_t) + 2 * sizeof(buf) + sizeof(buf *));
    uint8_t *tmp = deja__alloc(a, bytes ? bytes : 1);
    if (!tmp)
        return DEJA_ERR(c->err, DEJA_NOMEM, "%s: %zu bytes of planner state", m->source, bytes);
    int32_t *first = (int32_t *)tmp, *last = first + nv;
    size_t *root_off = (size_t *)(last + nv);
    buf *bufs = (buf *)(root_off + nv);
    buf *alt = bufs + nv;
    buf **overlap = (buf **)(alt + nv);
    for (size_t v = 0; v < nv; v++) {
        first[v] = last[v] = -1;
        root_off[v] = 0;
    }
    for (uint32_t s = 0; s < c->n_steps; s++) {
        const deja__eng_step *st = &c->steps[s];
        touch(c, first, last, st->in[0].value, (int32_t)s);
        touch(c, first, last, st->in[1].value, (int32_t)s);
        touch(c, first, last, st->acc.value, (int32_t)s);
        touch(c, first, last, st->out.value, (int32_t)s);
    }
    for (uint32_t i = 0; i < m->n_outputs; i++) {
        int32_t r = arena_root(c, m->outputs[i]);
        if (r >= 0) {
            if (first[r] < 0) first[r] = 0;
            last[r] = INT32_MAX; /* read by the caller after the run */
        }
    }
    size_t n = 0;
    for (size_t v = 0; v < nv; v++)
        if (first[v] >= 0) {
            size_t size = (c->count[v] + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
            bufs[n++] = (buf){(int32_t)v, first[v], last[v], size, 0};
            p->stats.buffer_bytes += size * sizeof(float);
        }
    /* Largest first usually wins; in order of first use sometimes packs tighter (a chain of
     * layers whose sizes rise and fall). Keep the smaller arena. */
    bool reuse = !(c->flags & DEJA__ENGINE_NO_REUSE);
    memcpy(alt, bufs, n * sizeof *bufs);
    qsort(bufs, n, sizeof *bufs, by_size);
    qsort(alt, n, sizeof *alt, by_first);
    size_t arena_floats = place(bufs, n, overlap, reuse),
           alt_floats = place(alt, n, overlap, reuse);
    if (alt_floats < arena_floats) {
        memcpy(bufs, alt, n * sizeof *bufs);
        arena_floats = alt_floats;
    }
    for (size_t i = 0; i < n; i++)
        root_off[bufs[i].v] = bufs[i].off;
    p->stats.n_buffers = (uint32_t)n;
    p->stats.arena_bytes = arena_floats * sizeof(float);

    size_t scratch = 0;
    for (uint32_t s = 0; s < c->n_steps; s++) {
        size_t b = c->steps[s].team ? 0 : deja__eng_step_scratch(c->nn, &c->steps[s]);
        if (b > scratch) scratch = b;
    }
    /* Team steps: one area per worker (the same bytes, at other times). */
    p->team_scratch = deja__eng_team_scratch(c->nn, c->steps, c->n_steps);
    if (p->team_scratch * (size_t)c->nn->n_threads > scratch)
        scratch = p->team_scratch * (size_t)c->nn->n_threads;
    p->stats.scratch_bytes = scratch;
    p->stats.folded_bytes = p->folded_bytes;
    p->stats.n_steps = c->n_steps;

    deja_status st = DEJA_OK;
    p->block_bytes = 64 + p->stats.arena_bytes + scratch + 64;
    p->block = deja__alloc(a, p->block_bytes);
    p->steps = c->n_steps ? deja__alloc(a, c->n_steps * sizeof *p->steps) : NULL;
    p->n_steps = p->steps ? c->n_steps : 0;
    p->n_outputs = m->n_outputs;
    p->outs = deja__calloc(a, m->n_outputs, sizeof *p->outs);
    p->out_shapes = deja__calloc(a, m->n_outputs, sizeof *p->out_shapes);
    if (!p->block || (c->n_steps && !p->steps) || !p->outs || !p->out_shapes) {
        st = DEJA_ERR(c->err, DEJA_NOMEM, "%s: %zu bytes of arena and scratch", m->source,
                      p->block_bytes);
    } else {
        p->arena = (float *)(((uintptr_t)p->block + 63) & ~(uintptr_t)63);
        p->scratch = (uint8_t *)p->arena + p->stats.arena_bytes;
        for (uint32_t s = 0; s < c->n_steps; s++) {
            deja__eng_step *d = &p->steps[s];
            *d = c->steps[s];
            resolve(c, root_off, p->arena, &d->in[0]);
            resolve(c, root_off, p->arena, &d->in[1]);
            resolve(c, root_off, p->arena, &d->acc);
            resolve(c, root_off, p->arena, &d->out);
        }
        for (uint32_t i = 0; i < m->n_outputs; i++) {
            p->outs[i] = (deja__eng_ref){m->outputs[i], 0, NULL, false, 0};
            resolve(c, root_off, p->arena, &p->outs[i]);
            p->out_shapes[i] = c->shapes[m->outputs[i]];
        }
    }
    deja__free(a, tmp, bytes ? bytes : 1);
    return st;
}
