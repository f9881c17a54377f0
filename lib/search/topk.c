/*
 * topk.c - the bounded heap of best hits, the merge of partial hit lists, and hit lists as
 * reported and as partial results.
 *
 * Owns the one order on hits (distance, then id; vs_hit_before) and two structures built on it:
 *  - vs_topk, a binary max-heap in a caller's buffer: while n <= k every parent ranks at or after
 *    its children, so h[0] is the worst kept hit and the bound vs_topk_push tests against.
 *    NaN distances never enter, so the order is total on what the heap holds.
 *  - vs_hits_merge, a two-way merge of ascending lists.  Walking both lists in ascending order,
 *    the first time an id appears is its smallest distance, so deduplication is "skip ids already
 *    written"; ids written so far are tracked in a small set (a scan of out for small k, a hash
 *    table beyond).  Dropping an id found again with a larger distance keeps the merge
 *    associative: an id cut from a truncated partial result is beaten by k distinct ids that stay.
 */
#include <stdlib.h>
#include <string.h>

#include "search/topk.h"

static const vs_hit missing_hit = {INFINITY, 0, VS_NO_ID};

void vs_topk_init(vs_topk *t, vs_hit *buf, size_t k)
{
    t->h = buf;
    t->n = 0;
    t->k = k;
}

/* Moves hit x down from slot i of the heap h[0..n) to where the heap order holds. */
static void sift_down(vs_hit *h, size_t n, size_t i, vs_hit x)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && vs_hit_before(&h[c], &h[c + 1]))
            c++; /* the worse child */
        if (!vs_hit_before(&x, &h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

void vs_topk_push_slow(vs_topk *t, float dist, uint64_t id)
{
    vs_hit x = {dist, 0, id};
    if (isnan(dist))
        return;
    if (t->n < t->k) {
        size_t i = t->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!vs_hit_before(&t->h[p], &x))
                break;
            t->h[i] = t->h[p];
            i = p;
        }
        t->h[i] = x;
        return;
    }
    if (t->k == 0 || !vs_hit_before(&x, &t->h[0]))
        return; /* a tie on distance with a larger id stays out */
    sift_down(t->h, t->n, 0, x);
}

void vs_topk_sort(vs_topk *t)
{
    /* Heapsort: the worst hit goes to the end, the heap shrinks by one, repeat. */
    for (size_t end = t->n; end > 1; end--) {
        vs_hit last = t->h[end - 1];
        t->h[end - 1] = t->h[0];
        sift_down(t->h, end - 1, 0, last);
    }
}

/* ---- merge ----------------------------------------------------------------------------- */

enum { SCAN_MAX_K = 64, STACK_SLOTS = 2048 };

/* The ids written to out so far: a hash table of slots (VS_NO_ID = empty), or, with slot NULL,
   a scan of out itself. */
typedef struct idset {
    uint64_t *slot;
    unsigned shift; /* 64 - log2(number of slots) */
    int heap;       /* slot came from malloc */
} idset;

static void idset_init(idset *s, uint64_t *stack_slots, size_t k)
{
    s->slot = NULL;
    s->shift = 0;
    s->heap = 0;
    if (k <= SCAN_MAX_K)
        return;
    unsigned bits = 1;
    while (bits < 63 && ((size_t)1 << bits) < 2 * k) /* load factor <= 1/2 */
        bits++;
    size_t nslots = (size_t)1 << bits;
    if (nslots <= STACK_SLOTS) {
        s->slot = stack_slots;
    } else {
        s->slot = malloc(nslots * sizeof *s->slot);
        s->heap = s->slot != NULL; /* on failure fall back to scanning: slow but correct */
    }
    if (s->slot) {
        for (size_t i = 0; i < nslots; i++)
            s->slot[i] = VS_NO_ID;
        s->shift = 64 - bits;
    }
}

/* Adds id; returns 1 if it was new, 0 if already present.  out[0..m) are the hits written. */
static int idset_add(idset *s, const vs_hit *out, size_t m, uint64_t id)
{
    if (!s->slot) {
        for (size_t i = 0; i < m; i++)
            if (out[i].id == id)
                return 0;
        return 1;
    }
    size_t mask = ((size_t)1 << (64 - s->shift)) - 1;
    size_t i = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> s->shift); /* Fibonacci hashing */
    for (;; i = (i + 1) & mask) {
        if (s->slot[i] == id)
            return 0;
        if (s->slot[i] == VS_NO_ID) {
            s->slot[i] = id;
            return 1;
        }
    }
}

static int skip_hit(const vs_hit *h)
{
    return h->id == VS_NO_ID || isnan(h->dist);
}

size_t vs_hits_merge(const vs_hit *a, size_t na, const vs_hit *b, size_t nb, vs_hit *out,
                     size_t k)
{
    uint64_t stack_slots[STACK_SLOTS];
    idset seen;
    size_t i = 0, j = 0, m = 0;

    idset_init(&seen, stack_slots, k);
    while (m < k) {
        while (i < na && skip_hit(&a[i]))
            i++;
        while (j < nb && skip_hit(&b[j]))
            j++;
        const vs_hit *h;
        if (i < na && (j >= nb || !vs_hit_before(&b[j], &a[i])))
            h = &a[i++];
        else if (j < nb)
            h = &b[j++];
        else
            break;
        if (idset_add(&seen, out, m, h->id))
            out[m++] = (vs_hit){h->dist, 0, h->id};
    }
    if (seen.heap)
        free(seen.slot);
    for (size_t r = m; r < k; r++)
        out[r] = missing_hit;
    return m;
}

/* ---- hit lists ---------------------------------------------------------------------------- */

int vs_hits_merge_lists(vs_hit *acc, const vs_hit *b, size_t nq, size_t k, vf_error *err)
{
    vs_hit *tmp = malloc((k ? k : 1) * sizeof *tmp);
    if (!tmp)
        return vf_fail(err, VF_ENOMEM, "merge: out of memory");
    for (size_t q = 0; q < nq; q++) {
        vs_hits_merge(acc + q * k, k, b + q * k, k, tmp, k);
        memcpy(acc + q * k, tmp, k * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

void vs_hits_clear(vs_hit *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = missing_hit;
}

void vs_hits_report(const vs_hit *h, size_t n, int metric, uint64_t *ids, float *dist)
{
    for (size_t i = 0; i < n; i++) {
        ids[i] = h[i].id;
        dist[i] = h[i].id == VS_NO_ID ? INFINITY : vs_distance_report(metric, h[i].dist);
    }
}

int vs_hits_write_partial(int fd, const vf_partial_hdr *hd, const vs_hit *h, const char *name, vf_error *err)
{
    size_t n = (size_t)hd->nq * hd->k;
    float *dist = malloc((n ? n : 1) * sizeof *dist);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    int rc = !dist || !ids ? vf_fail(err, VF_ENOMEM, "'%s': out of memory", name) : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        dist[i] = h[i].dist;
        ids[i] = h[i].id;
    }
    if (rc == 0)
        rc = vf_partial_write_fd(fd, hd, dist, ids, name, err);
    free(dist);
    free(ids);
    return rc;
}

int vs_hits_read_partial(int fd, vf_partial_hdr *hd, vs_hit **h, const char *name, vf_error *err)
{
    float *dist;
    uint64_t *ids;
    *h = NULL;
    int rc = vf_partial_read_fd(fd, hd, &dist, &ids, name, err);
    if (rc)
        return rc;
    size_t n = (size_t)hd->nq * hd->k;
    vs_hit *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        rc = vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    for (size_t i = 0; v && i < n; i++)
        v[i] = (vs_hit){dist[i], 0, ids[i]};
    free(dist);
    free(ids);
    *h = v;
    return rc;
}
