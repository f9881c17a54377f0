/*
 * hnsw_heap.h - the candidate heaps of SEARCH-LAYER (Malkov & Yashunin, algorithm 2), shared
 * by the build (hnsw_build.c) and the search (hnsw_search.c), which walk the graph the same
 * way.  Internal to lib/index/hnsw/.
 *
 * A candidate is (approximate distance, node).  One order on them, `worse`: larger distance,
 * ties broken by the larger node, so every walk is deterministic.  The heaps live in caller
 * arrays with a caller-kept count n (push needs room for one more):
 *  - the min-heap of candidates still to expand: h[0] is the nearest;
 *  - the max-heap of the ef results kept: h[0] is the farthest, the one evicted.
 */
#ifndef VS_HNSW_HEAP_H
#define VS_HNSW_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cand {
    float d;
    uint32_t id;
} cand;

/* Without a branch: the heaps choose between two children by it, a coin toss a branch
   predictor loses half the time. */
static inline int worse(cand a, cand b) { return (a.d > b.d) | ((a.d == b.d) & (a.id > b.id)); }

static inline void minheap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(h[p], c))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static inline cand minheap_pop(cand *h, size_t *n)
{
    cand top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m)
            c += (size_t)worse(h[c], h[c + 1]);
        if (!worse(last, h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    if (m)
        h[i] = last;
    return top;
}

static inline void maxheap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(c, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

/* Drops the farthest result, h[0]. */
static inline void maxheap_pop(cand *h, size_t *n)
{
    cand last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m)
            c += (size_t)worse(h[c + 1], h[c]);
        if (!worse(h[c], last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (m)
        h[i] = last;
}

/* qsort order: nearest first. */
static inline int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return worse(*x, *y) ? 1 : worse(*y, *x) ? -1 : 0;
}

#endif
