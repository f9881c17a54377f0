/*
 * topk.h - hit lists: the k best hits of a search, the merge of partial hit lists, what a
 * search reports, and hit lists as partial results (SPEC.md section 7).
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

#include "vecseg_format.h"

typedef struct vs_hit {
    float dist;
    uint32_t pad; /* zero; keeps the struct 16 bytes with no uninitialised holes */
    uint64_t id;
} vs_hit;

#define VS_NO_ID UINT64_MAX

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

/*
 * Merges two hit lists, each ascending by (dist, id) as vs_topk_sort leaves them, into the best
 * k hits of their union, ascending.  An id found more than once is kept once, with its smallest
 * distance; missing hits (id VS_NO_ID) and NaN distances in the inputs are skipped.  The merge is
 * commutative and associative, so partial results may be merged in any order and grouping.
 * a, b: na and nb hits (may be NULL when the count is 0); out: room for k hits, must not overlap
 * a or b; it is filled to k with missing hits.
 * Returns the number of real hits written to out[0..return).
 */
size_t vs_hits_merge(const vs_hit *a, size_t na, const vs_hit *b, size_t nb, vs_hit *out,
                     size_t k);

/*
 * Merges nq hit lists of k hits each: acc[q*k..] becomes the best k hits of itself and
 * b[q*k..] (vs_hits_merge's rules, missing hits anywhere in either list skipped, so no count
 * is needed).  Every fan-out merge goes through here: threads, worker processes, MPI ranks
 * and vec-query --merge.  VF_ENOMEM (acc unchanged) when k hits of scratch cannot be had.
 */
int vs_hits_merge_lists(vs_hit *acc, const vs_hit *b, size_t nq, size_t k, vf_error *err);

/* Fills n hit lists' worth of hits (n = lists * k) with missing hits. */
void vs_hits_clear(vs_hit *h, size_t n);

/*
 * What a search reports for n hits: ids[i] = h[i].id and dist[i] its reported distance under
 * metric (vs_distance_report); a missing hit gives VS_NO_ID and +INFINITY.
 */
void vs_hits_report(const vs_hit *h, size_t n, int metric, uint64_t *ids, float *dist);

/*
 * Hit lists as a partial result (SPEC.md section 7): writes hd->nq lists of hd->k hits to fd
 * (name for messages), or reads them, *h malloc'd (hd->nq * hd->k hits; free it).  The
 * format's calls (vf_partial_write_fd, vf_partial_read_fd) with the copy between hits and the
 * format's distance and id arrays done once, here.
 */
int vs_hits_write_partial(int fd, const vf_partial_hdr *hd, const vs_hit *h, const char *name, vf_error *err);
int vs_hits_read_partial(int fd, vf_partial_hdr *hd, vs_hit **h, const char *name, vf_error *err);

#endif
