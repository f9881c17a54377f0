/*
 * topk.h - the k best hits of a search (the hit itself, the merge of hit lists, what a search
 * reports and hit lists as partial results are public: vecseg.h).
 *
 * A hit is (distance, id).  Hits are ordered by distance ascending, ties broken by the smaller
 * id, so every result is deterministic.  A missing hit (a list padded up to k) has
 * id = VS_NO_ID and dist = +INFINITY.  A *hit list* is k hits, ascending, real hits first and
 * padded with missing ones: what vs_search_share writes per query and vs_hits_merge_lists
 * keeps.  Distances in hit lists are internal (see vs_distance_report).
 */
#ifndef VS_TOPK_H
#define VS_TOPK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define VECSEG_STATIC_LINKING_ONLY /* vs_hit, VS_NO_ID and vs_hits_merge */
#include "vecseg.h"

/* Nonzero if hit a ranks before hit b: smaller distance, or equal distance and smaller id. */
static inline int vs_hit_before(const vs_hit *a, const vs_hit *b)
{
    return a->dist < b->dist || (a->dist == b->dist && a->id < b->id);
}

/*
 * A bounded max-heap keeping the k best hits pushed: h[0] is the worst kept hit once n == k.
 * Ids are not deduplicated: push each row once.
 */
typedef struct vs_topk {
    vs_hit *h;
    size_t n, k;
} vs_topk;

/* Starts an empty top-k of capacity k in buf, which holds k hits and stays caller-owned. */
void vs_topk_init(vs_topk *t, vs_hit *buf, size_t k);

/*
 * The worst distance still kept: +INFINITY while fewer than k hits are held (-INFINITY when
 * k == 0).  A row whose distance exceeds it cannot enter, so callers may skip it cheaply.
 */
static inline float vs_topk_bound(const vs_topk *t)
{
    if (t->n < t->k)
        return INFINITY;
    return t->k ? t->h[0].dist : -INFINITY;
}

/* The slow path of vs_topk_push, for a hit that may enter (internal; call vs_topk_push). */
void vs_topk_push_slow(vs_topk *t, float dist, uint64_t id);

/*
 * Offers the hit (dist, id): kept if fewer than k hits are held or it ranks before the worst
 * kept one, which it then evicts.  A NaN distance is ignored.
 */
static inline void vs_topk_push(vs_topk *t, float dist, uint64_t id)
{
    if (!(dist <= vs_topk_bound(t))) /* also drops NaN */
        return;
    vs_topk_push_slow(t, dist, id);
}

/*
 * Sorts h[0..n) ascending by (dist, id), in place, in O(n log n) with no allocation.  After it
 * the heap order is gone: only read h[0..n), or vs_topk_init again.
 */
void vs_topk_sort(vs_topk *t);

#endif
