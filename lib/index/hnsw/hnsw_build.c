/*
 * hnsw_build.c - builds the HNSW index of a sealed segment: the Hierarchical Navigable
 * Small World graph of Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
 * search using Hierarchical Navigable Small World graphs" (2016, IEEE TPAMI 2018), algorithms 1
 * (INSERT), 2 (SEARCH-LAYER) and 4 (SELECT-NEIGHBORS-HEURISTIC), with an 8-bit scalar-quantized
 * copy of the rows stored beside the level-0 links (layout in hnsw.h, SPEC.md 5.5).
 *
 * Determinism: a row's level is a function of (seed, row) alone; rows are inserted in batches
 * of consecutive rows, and the result of a batch does not depend on the thread count or on
 * timing because
 *   1. each batch row searches the graph as it stood at the batch start (read-only, in
 *      parallel), plus the batch rows before it by brute force, and selects its neighbours;
 *   2. one thread then installs the batch rows' own links and lists every reverse link,
 *      sorted by (level, target, source);
 *   3. each target's list is then extended or re-pruned, targets in parallel, each touching
 *      only its own list.
 * Batches start at one row and grow with the graph (about 1/64 of it, at most BATCH_MAX), so a
 * row misses only a small, recent part of the graph, and sees even that part through step 1's
 * brute force.  After the last batch, repair_reach links every row the entry does not reach
 * over level-0 links (pruning can strand one), so a search can find every row.
 *
 * The graph is built with row numbers as node numbers; write_sections then lays the nodes out
 * breadth first from the entry point and renumbers every link (node_order), so a node's
 * neighbours tend to share pages and cache lines at search time.
 *
 * Distances: the walk uses the approximate distance of the inserted row's exact vector to a
 * node's code (as the search does).  The heuristic takes its candidates in the order of that
 * distance and makes each of its decisions ("is a kept neighbour nearer to the candidate than
 * the row is?") as the exact distances would.  From HNSW_BOUND_DIM up it decides from bounds on
 * the codes' error where they decide it (bound_dist; each row's error ||x - x^|| is known, so
 * the decoded distances are within a known radius of the exact ones), from the exact distances
 * otherwise: most decisions then need no vector, as the codes just walked are in cache and the
 * rows are not (on 784-d data, re-scoring the candidates exactly read 4x the walk's bytes).
 * For ip the graph is built as an L2 graph over the rows augmented with one coordinate
 * a(x) = sqrt(P - |x|^2), P the largest squared norm (Bachrach et al., "Speeding up the Xbox
 * recommender system using a Euclidean transformation for inner-product spaces", 2014): all
 * augmented rows lie on one sphere, where nearest by L2 is largest inner product, and a query
 * augmented with 0 is nearest by L2 exactly where -q.x is smallest, so the search walks with
 * -q.x unchanged.  Its heuristic then works in a metric space, which -q.x is not.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw/hnsw.h"
#include "simd/metric.h"
#include "index/hnsw/hnsw_heap.h"
#include "util/parallel.h"

#define BATCH_MAX 256
#define BATCH_DIV 64
/* The heuristic decides from the codes' error bounds from this dimension up; below it the
   exact distances cost no more than the bounds (measured on 96- and 100-d sets, whose rows
   stay in cache; on 784-d rows the bounds halved the heuristic's time).  Either way the
   bytes are the same. */
#define HNSW_BOUND_DIM 256
#define THREADS_MAX 64   /* each thread's scratch takes 12 bytes per row: bound the total */

typedef struct req {           /* a reverse link: source joins target's list on level */
    uint32_t level, target, source;
} req;

int vs_hnsw_build_bounds;
int vs_hnsw_build_check;
unsigned long vs_hnsw_build_checked, vs_hnsw_build_mismatched;

typedef struct tscratch {
    uint32_t *visited;           /* n epoch stamps */
    uint32_t epoch;
    cand *cq;                    /* candidate min-heap, room for n */
    cand *wq;                    /* result max-heap, room for ef+1 */
    cand *pool;                  /* selection input, room for max(ef, M0) + BATCH_MAX */
    float *bdist;                /* distances to earlier batch rows */
    float *qo;                   /* the selecting row's coded vector minus off */
    float *w;                    /* query weights */
    int8_t *q8;
    int16_t *q16;
    uint32_t *ids;               /* nodes to score: a hop's unvisited neighbours, a list */
    float *dist;                 /* their distances (score) */
} tscratch;

typedef struct builder {
    size_t n;
    uint32_t dim, M, M0, efc, stride;
    uint32_t code_bytes, pf_ahead;   /* bytes of a block the walk reads; nodes prefetched ahead */
    int metric;
    const float *vecs;
    const float *norms;
    float *off, *step;
    float *aug;                  /* ip: a(x) per row; NULL otherwise */
    float pmax;                  /* ip: P */
    float *res;                  /* per row: ||x - x^||, its code's error (INFINITY: no bound) */
    float delta, eps_abs, dscale;/* bound_dist's rounding margins */
    int bounds;                  /* whether the heuristic uses them (HNSW_BOUND_DIM) */
    vs_code_l2_fn l2k;
    vs_code_l2c_fn l2c;
    uint8_t *nodes;              /* n * stride */
    uint32_t *upper;
    uint64_t words;
    uint8_t *level;
    uint32_t *uoff;              /* per row: its record in upper, or HNSW_NO_UPPER */
    int gmax;                    /* top level of the graph; -1 while empty */
    uint32_t entry;
    /* the batch in progress */
    size_t b0, bn;
    uint32_t *selo;              /* per batch row: start of its selections in sel */
    uint32_t *sel;               /* per batch row, per level 0..L: count, then M ids */
    req *reqs;
    size_t nreqs;
    size_t *groups;              /* start of each (level, target) run in reqs, then nreqs */
    size_t ngroups;
    tscratch *ts;
    int threads;
} builder;

/* ---- parallel loop: vs_parallel_for, each item's output in its own slot, so the result does
   not depend on which thread ran what; worker w works in scratch ts[w] -------------------- */

typedef void (*item_fn)(builder *b, size_t item, tscratch *ts);

typedef struct pfor {
    builder *b;
    item_fn fn;
} pfor;

static void pfor_item(void *ctx, size_t i, int w)
{
    pfor *p = ctx;
    p->fn(p->b, i, &p->b->ts[w]);
}

static void parallel_for(builder *b, size_t n, item_fn fn)
{
    pfor p = {b, fn};
    vs_parallel_for(b->threads, n, pfor_item, &p);
}

/* ---- graph access ---------------------------------------------------------------------- */

static inline uint8_t *node(const builder *b, uint32_t r) { return b->nodes + (size_t)r * b->stride; }

/* The list of row r on level l: count, then the links. */
static inline uint32_t *list_at(const builder *b, uint32_t r, int l)
{
    if (l == 0)
        return (uint32_t *)(node(b, r) + hnsw_count_off(b->dim));
    return b->upper + b->uoff[r] + 1 + (size_t)(l - 1) * (b->M + 1);
}

/* The dot form's distance of node block p whose integer dot product is dot. */
static inline float approx_dot(const builder *b, const hnsw_query *hq, const uint8_t *p, int32_t dot)
{
    float aux;
    memcpy(&aux, p + hnsw_aux_off(b->dim), 4);
    return hq->c0 + hq->ca * aux + hq->sq * (float)dot;
}

static inline float approx(const builder *b, const hnsw_query *hq, uint32_t r)
{
    const uint8_t *p = node(b, r);
    if (hq->l2)
        return hq->l2(hq->w, hq->step, p, b->dim);
    return approx_dot(b, hq, p, hq->dot(hq->q8, hq->q16, p, b->dim));
}

/* The exact internal distance between rows a and c (SPEC.md 9). */
static float pair_dist(const builder *b, uint32_t a, uint32_t c)
{
    const float *x = b->vecs + (size_t)a * b->dim, *y = b->vecs + (size_t)c * b->dim;
    if (b->metric == VF_METRIC_IP) /* squared L2 of the augmented rows */
        return 2 * b->pmax - 2 * vs_dot(x, y, b->dim) - 2 * b->aug[a] * b->aug[c];
    return vs_metric_exact(b->metric, x, b->norms[a], y, b->norms[c], b->dim);
}

static inline void prefetch_code(const builder *b, uint32_t r)
{
    const char *p = (const char *)node(b, r);
    for (uint32_t o = 0; o < b->code_bytes; o += 64)
        __builtin_prefetch(p + o);
}

/* dist[i] = approx(b, hq, ids[i]) for i < m, the codes of the next pf_ahead nodes prefetched.
   The dot form scores four nodes a call of the dots kernel, which shares each load of the
   query's weights among them (as the search's hop_dots); its int32 sums are the dot kernel's,
   so every distance is approx()'s to the bit and the graph is the same. */
static void score(const builder *b, const hnsw_query *hq, const uint32_t *ids, size_t m, float *dist)
{
    size_t pf = b->pf_ahead, i = 0;
    for (; i < m && i < pf; i++)
        prefetch_code(b, ids[i]);
    for (size_t k = 0; k < m; k += 4) {
        size_t e = k + 4 < m ? k + 4 : m;
        for (; i < m && i < e + pf; i++)
            prefetch_code(b, ids[i]);
        if (hq->l2) {
            for (size_t j = k; j < e; j++)
                dist[j] = hq->l2(hq->w, hq->step, node(b, ids[j]), b->dim);
            continue;
        }
        const uint8_t *nb[4];
        int32_t dv[4];
        for (size_t j = k; j < e; j++)
            nb[j - k] = node(b, ids[j]);
        hq->dots(hq->q16, nb, e - k, b->dim, dv);
        for (size_t j = k; j < e; j++)
            dist[j] = approx_dot(b, hq, nb[j - k], dv[j - k]);
    }
    if (vs_hnsw_build_check) /* test hook: every distance against approx() */
        for (size_t j = 0; j < m; j++) {
            float a = approx(b, hq, ids[j]);
            __atomic_fetch_add(&vs_hnsw_build_checked, 1, __ATOMIC_RELAXED);
            if (memcmp(&a, &dist[j], sizeof a))
                __atomic_fetch_add(&vs_hnsw_build_mismatched, 1, __ATOMIC_RELAXED);
        }
}

/* Sorts a[0..n) nearest first (cand_cmp's order): a heap sort with hnsw_heap.h's inline
   compares.  The candidates are distinct nodes, so (d, id) are distinct and every sort gives
   this order. */
static void sort_cands(cand *a, size_t n)
{
    size_t k = 0;
    while (k < n) {
        cand c = a[k];
        maxheap_push(a, &k, c);
    }
    while (k > 1) {
        cand top = a[0];
        maxheap_pop(a, &k);
        a[k] = top;
    }
}

/* ---- search on one level (SEARCH-LAYER) ------------------------------------------------- */

static void greedy(const builder *b, tscratch *ts, const hnsw_query *hq, cand *cur, int l)
{
    for (int changed = 1; changed;) {
        changed = 0;
        const uint32_t *ls = list_at(b, cur->id, l);
        score(b, hq, ls + 1, ls[0], ts->dist);
        for (uint32_t i = 0; i < ls[0]; i++) {
            float d = ts->dist[i];
            if (d < cur->d) {
                *cur = (cand){d, ls[1 + i]};
                changed = 1;
            }
        }
    }
}

/* The ef nearest nodes found from ep on level l, left in ts->wq (a max-heap); returns their
   number. */
static size_t search_layer(const builder *b, tscratch *ts, const hnsw_query *hq, cand ep, size_t ef, int l)
{
    uint32_t e = ++ts->epoch;
    if (e == 0) {
        memset(ts->visited, 0, b->n * sizeof *ts->visited);
        e = ts->epoch = 1;
    }
    size_t nc = 0, nw = 0;
    ts->visited[ep.id] = e;
    minheap_push(ts->cq, &nc, ep);
    maxheap_push(ts->wq, &nw, ep);
    while (nc) {
        cand c = minheap_pop(ts->cq, &nc);
        if (c.d > ts->wq[0].d)
            break;
        const uint32_t *ls = list_at(b, c.id, l);
        /* without a branch on visited, which a predictor loses about every other link; the
           stamps are fetched first, as they are scattered over n words */
        uint32_t m = 0, cnt = ls[0];
        for (uint32_t i = 0; i < cnt; i++)
            __builtin_prefetch(ts->visited + ls[1 + i]);
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t x = ls[1 + i], fresh = ts->visited[x] != e;
            ts->visited[x] = e;
            ts->ids[m] = x;
            m += fresh;
        }
        score(b, hq, ts->ids, m, ts->dist);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t x = ts->ids[i];
            float d = ts->dist[i];
            if (nw < ef || d < ts->wq[0].d) {
                cand y = {d, x};
                minheap_push(ts->cq, &nc, y);
                maxheap_push(ts->wq, &nw, y);
                if (nw > ef)
                    maxheap_pop(ts->wq, &nw);
            }
        }
    }
    return nw;
}

/* Bounds lo <= D <= hi on the f32 value pair_dist gives for two rows whose coded vectors
   (normalised for cosine, without the ip coordinate) are t apart up to rad, t computed in f32
   from codes, rad the sum of the codes' errors (triangle inequality), da the difference of the
   ip coordinates.  The margins cover f32 rounding: delta (relative, 4 (dim + 16) units of
   2^-24: the sums' error grows with dim) on the distances and on D, eps_abs (4 units of the
   largest coded vector's norm) for decoding and subtracting off, and for D the absolute
   error of 1 - cos (cosine, delta * 2) and of 2P - 2 x.y - 2 a a (ip, delta * 4P). */
static void bound_dist(const builder *b, float t, float rad, float da, float *lo, float *hi)
{
    float e = b->delta * (t + rad) + b->eps_abs;
    float tl = t - rad - e, th = t + rad + e;
    tl = tl > 0 ? tl : 0;
    float l = tl * tl, h = th * th;
    if (b->metric == VF_METRIC_COSINE) { /* 1 - x.y = ||x - y||^2 / 2 for unit vectors */
        l *= 0.5f;
        h *= 0.5f;
    } else if (b->metric == VF_METRIC_IP) { /* ||x - y||^2 + (a(x) - a(y))^2 */
        l += da * da;
        h += da * da;
    }
    *lo = l - b->delta * (l + b->dscale);
    *hi = h + b->delta * (h + b->dscale);
}

static inline float aug_diff(const builder *b, uint32_t x, uint32_t y)
{
    return b->metric == VF_METRIC_IP ? b->aug[x] - b->aug[y] : 0.0f;
}

/* SELECT-NEIGHBORS-HEURISTIC for row r: from pool (taken in ascending order of the walk's
   distance, ties by node), keep a candidate unless a kept one is nearer to it than r is, by
   exact distances; at most msel kept, written to out.  Returns the count.  pool is made a
   min-heap and taken from lazily: the heuristic often stops (msel kept) long before the ef
   candidates are used, and qsort's call per compare took a tenth of a wordvecs build; the
   nodes are distinct, so the order is the one a full sort gives.  With b->bounds (qo: r's row_qo), each
   comparison is decided from bound_dist when the bounds do not overlap, else with r's exact
   distance to the candidate, else with both exact, so the choice is the one exact distances
   give either way. */
static uint32_t select_heuristic(const builder *b, uint32_t r, const float *qo, cand *pool, size_t np,
                                 uint32_t msel, uint32_t *out)
{
    uint32_t ns = 0;
    size_t nh = 0;
    while (nh < np) {
        cand c = pool[nh];
        minheap_push(pool, &nh, c);
    }
    if (np <= msel) {
        while (nh)
            out[ns++] = minheap_pop(pool, &nh).id;
        return ns;
    }
    int bounds = b->bounds && !isinf(b->res[r]); /* not the cosine zero row */
    while (nh && ns < msel) {
        uint32_t v = minheap_pop(pool, &nh).id;
        float dlo = -INFINITY, dhi = INFINITY, d = 0;
        int dexact = 0, good = 1;
        for (uint32_t j = 0; j < ns && good; j++) {
            uint32_t u = out[j];
            float plo = -INFINITY, phi = INFINITY;
            if (bounds) {
                if (j == 0) /* r's coded vector to v's decoded code */
                    bound_dist(b, sqrtf(b->l2k(qo, b->step, node(b, v), b->dim)), b->res[v], aug_diff(b, r, v),
                               &dlo, &dhi);
                float t = sqrtf(b->l2c(node(b, v), node(b, u), b->step, b->dim));
                bound_dist(b, t, b->res[v] + b->res[u], aug_diff(b, v, u), &plo, &phi);
            }
            if (phi < dlo) {
                good = 0;
                break;
            }
            if (plo >= dhi)
                continue;
            if (!dexact) {
                d = dlo = dhi = pair_dist(b, r, v);
                dexact = 1;
                if (phi < d) {
                    good = 0;
                    break;
                }
                if (plo >= d)
                    continue;
            }
            if (pair_dist(b, v, u) < d)
                good = 0;
        }
        if (good)
            out[ns++] = v;
    }
    return ns;
}

/* The row's coded vector minus off (normalised for cosine, as encode_row codes it). */
static void row_qo(const builder *b, uint32_t r, float *qo)
{
    const float *x = b->vecs + (size_t)r * b->dim;
    float s = b->metric == VF_METRIC_COSINE ? vs_metric_inv_norm(b->norms[r]) : 1.0f;
    for (uint32_t j = 0; j < b->dim; j++)
        qo[j] = x[j] * s - b->off[j];
}

/* ---- the three steps of a batch --------------------------------------------------------- */

/* The walk's query for row r: its approximate distance to a node's code. */
static hnsw_query row_query(const builder *b, uint32_t r, tscratch *ts)
{
    hnsw_query hq = {.w = ts->w, .q8 = ts->q8, .q16 = ts->q16};
    vs_hnsw_query_prep(&hq, b->vecs + (size_t)r * b->dim, b->norms[r], b->metric, b->off, b->step, b->dim);
    if (b->metric == VF_METRIC_IP) { /* the augmented L2 distance 2P - 2 r.x - 2 a(r) a(x), as pair_dist */
        hq.c0 = 2 * b->pmax + 2 * hq.c0;
        hq.sq *= 2;
        hq.ca = -2 * b->aug[r];
    }
    return hq;
}

static void insert_search(builder *b, size_t i, tscratch *ts)
{
    uint32_t r = (uint32_t)(b->b0 + i);
    int L = b->level[r];
    hnsw_query hq = row_query(b, r, ts);
    if (b->bounds)
        row_qo(b, r, ts->qo);
    for (size_t j = 0; j < i; j++)
        ts->ids[j] = (uint32_t)(b->b0 + j);
    score(b, &hq, ts->ids, i, ts->bdist);
    uint32_t *sel = b->sel + b->selo[i];
    cand ep = {0, b->entry};
    if (b->gmax >= 0) {
        ep.d = approx(b, &hq, b->entry);
        for (int l = b->gmax; l > L; l--)
            greedy(b, ts, &hq, &ep, l);
    }
    for (int l = L; l >= 0; l--) {
        size_t np = 0;
        if (l <= b->gmax) {
            size_t nw = search_layer(b, ts, &hq, ep, b->efc, l);
            memcpy(ts->pool, ts->wq, nw * sizeof(cand));
            np = nw;
            for (size_t j = 0; j < nw; j++)
                if (worse(ep, ts->pool[j]))
                    ep = ts->pool[j];
        }
        for (size_t j = 0; j < i; j++)
            if (b->level[b->b0 + j] >= l)
                ts->pool[np++] = (cand){ts->bdist[j], (uint32_t)(b->b0 + j)};
        /* the heuristic decides by exact distances (bounded or computed): with code distances,
           rows closer together than the codes' step (near-duplicates) pruned each other away
           and left nodes unreachable */
        uint32_t *s = sel + (size_t)l * (b->M + 1);
        s[0] = select_heuristic(b, r, ts->qo, ts->pool, np, b->M, s + 1);
    }
}

static int req_cmp(const void *a, const void *b)
{
    const req *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    return x->source < y->source ? -1 : x->source > y->source;
}

/* Step 2: installs the batch rows' lists and gathers the reverse links. */
static void install(builder *b)
{
    b->nreqs = 0;
    for (size_t i = 0; i < b->bn; i++) {
        uint32_t r = (uint32_t)(b->b0 + i);
        const uint32_t *sel = b->sel + b->selo[i];
        for (int l = 0; l <= b->level[r]; l++) {
            const uint32_t *s = sel + (size_t)l * (b->M + 1);
            uint32_t *ls = list_at(b, r, l);
            ls[0] = s[0];
            memcpy(ls + 1, s + 1, s[0] * sizeof(uint32_t));
            for (uint32_t j = 0; j < s[0]; j++)
                b->reqs[b->nreqs++] = (req){(uint32_t)l, s[1 + j], r};
        }
    }
    qsort(b->reqs, b->nreqs, sizeof(req), req_cmp);
    b->ngroups = 0;
    for (size_t i = 0; i < b->nreqs; i++)
        if (i == 0 || b->reqs[i].level != b->reqs[i - 1].level || b->reqs[i].target != b->reqs[i - 1].target)
            b->groups[b->ngroups++] = i;
    b->groups[b->ngroups] = b->nreqs;
}

/* Step 3: one target's list gains its new sources, re-pruned by the heuristic on overflow. */
static void link_back(builder *b, size_t g, tscratch *ts)
{
    const req *rq = b->reqs + b->groups[g];
    size_t nr = b->groups[g + 1] - b->groups[g];
    uint32_t t = rq[0].target;
    int l = (int)rq[0].level;
    uint32_t cap = l ? b->M : b->M0;
    uint32_t *ls = list_at(b, t, l);
    if (ls[0] + nr <= cap) {
        for (size_t j = 0; j < nr; j++)
            ls[1 + ls[0]++] = rq[j].source;
        return;
    }
    size_t np = 0;
    hnsw_query hq = row_query(b, t, ts);
    if (b->bounds)
        row_qo(b, t, ts->qo);
    memcpy(ts->ids, ls + 1, ls[0] * sizeof(uint32_t));
    for (size_t j = 0; j < nr; j++)
        ts->ids[ls[0] + j] = rq[j].source;
    score(b, &hq, ts->ids, ls[0] + nr, ts->dist);
    for (; np < ls[0] + nr; np++)
        ts->pool[np] = (cand){ts->dist[np], ts->ids[np]};
    ls[0] = select_heuristic(b, t, ts->qo, ts->pool, np, cap, ls + 1);
    /* the words past the count are zero (SPEC 5.5.1), not the links the pruning dropped */
    memset(ls + 1 + ls[0], 0, (cap - ls[0]) * sizeof(uint32_t));
}

/* ---- reachability repair ------------------------------------------------------------------ */

/* Marks reach[] for every row reachable over level-0 links from `from` (already marked or
   not), using stack (room for n) as the work list. */
static void mark_reachable(const builder *b, uint32_t from, uint8_t *reach, uint32_t *stack)
{
    size_t top = 0;
    reach[from] = 1;
    stack[top++] = from;
    while (top) {
        const uint32_t *ls = list_at(b, stack[--top], 0);
        for (uint32_t i = 0; i < ls[0]; i++)
            if (!reach[ls[1 + i]]) {
                reach[ls[1 + i]] = 1;
                stack[top++] = ls[1 + i];
            }
    }
}

/* Links the unreachable row u from a reachable node: the walk for u from the entry (which
   meets only reachable nodes on level 0) offers ef_construction candidates; by exact distance,
   lowest row on ties, the first with a free level-0 slot gains the link u, or, when every one
   is full, the nearest replaces its farthest link with u.  u links back when it has room. */
static void link_unreachable(builder *b, uint32_t u, const uint8_t *reach, tscratch *ts)
{
    hnsw_query hq = row_query(b, u, ts);
    cand ep = {approx(b, &hq, b->entry), b->entry};
    for (int l = b->gmax; l > 0; l--)
        greedy(b, ts, &hq, &ep, l);
    if (!reach[ep.id]) /* reachable on an upper level only: walk level 0 from the entry */
        ep = (cand){approx(b, &hq, b->entry), b->entry};
    size_t np = 0, nw = search_layer(b, ts, &hq, ep, b->efc, 0);
    for (size_t j = 0; j < nw; j++)
        if (reach[ts->wq[j].id])
            ts->pool[np++] = (cand){pair_dist(b, u, ts->wq[j].id), ts->wq[j].id};
    if (np == 0) /* cannot happen: the entry is reachable */
        ts->pool[np++] = (cand){pair_dist(b, u, b->entry), b->entry};
    sort_cands(ts->pool, np);
    size_t pick = 0;
    while (pick < np && list_at(b, ts->pool[pick].id, 0)[0] >= b->M0)
        pick++;
    uint32_t v = ts->pool[pick < np ? pick : 0].id;
    uint32_t *ls = list_at(b, v, 0);
    if (ls[0] < b->M0) {
        ls[1 + ls[0]++] = u;
    } else {
        uint32_t far = 0;
        float fd = -INFINITY;
        for (uint32_t i = 0; i < ls[0]; i++) {
            float d = pair_dist(b, v, ls[1 + i]);
            if (d > fd || (d == fd && ls[1 + i] > ls[1 + far])) {
                fd = d;
                far = i;
            }
        }
        ls[1 + far] = u;
    }
    uint32_t *us = list_at(b, u, 0);
    int has = 0;
    for (uint32_t i = 0; i < us[0]; i++)
        has |= us[1 + i] == v;
    if (!has && us[0] < b->M0)
        us[1 + us[0]++] = v;
}

/* Makes every row reachable from the entry over level-0 links (SPEC 5.5.1, Building): the
   rows not reached, in ascending order, each still unreached one linked by link_unreachable;
   a replaced link can strand its target, so passes repeat until none is left. */
static int repair_reach(builder *b)
{
    if (b->n == 0)
        return 0;
    uint8_t *reach = malloc(b->n);
    uint32_t *stack = malloc(b->n * sizeof(uint32_t));
    if (!reach || !stack) {
        free(reach);
        free(stack);
        return VF_ENOMEM;
    }
    for (int pass = 0, left = 1; left && pass < 64; pass++) {
        memset(reach, 0, b->n);
        mark_reachable(b, b->entry, reach, stack);
        left = 0;
        for (size_t u = 0; u < b->n; u++)
            if (!reach[u]) {
                link_unreachable(b, (uint32_t)u, reach, &b->ts[0]);
                mark_reachable(b, (uint32_t)u, reach, stack);
                left = 1;
            }
    }
    free(reach);
    free(stack);
    return 0;
}

/* ---- quantizer and levels ----------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

int vs_hnsw_level(uint64_t seed, uint64_t r, uint32_t M)
{
    uint64_t h = splitmix64(seed ^ splitmix64(r));
    double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double lv = -log(u) / log((double)M);
    return lv >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)lv;
}

/* Per dimension: off = min, step = (max - min) / 255 over the rows (normalised for cosine). */
static void fit_quantizer(builder *b)
{
    for (uint32_t j = 0; j < b->dim; j++) {
        b->off[j] = INFINITY;
        b->step[j] = -INFINITY; /* holds the max until the end */
    }
    for (size_t r = 0; r < b->n; r++) {
        const float *x = b->vecs + r * b->dim;
        float s = 1.0f;
        if (b->metric == VF_METRIC_COSINE)
            s = vs_metric_inv_norm(b->norms[r]);
        for (uint32_t j = 0; j < b->dim; j++) {
            float v = x[j] * s;
            b->off[j] = v < b->off[j] ? v : b->off[j];
            b->step[j] = v > b->step[j] ? v : b->step[j];
        }
    }
    double big = 0; /* the squared norm of the largest coded vector (off and decoding) */
    for (uint32_t j = 0; j < b->dim; j++) {
        if (b->n == 0)
            b->off[j] = b->step[j] = 0;
        else
            b->step[j] = (b->step[j] - b->off[j]) / 255.0f;
        double m = fabs((double)b->off[j]) + 256.0 * b->step[j];
        big += m * m;
    }
    const double u = 1.0 / 16777216; /* 2^-24, f32's unit roundoff */
    b->delta = (float)(4 * (b->dim + 16.0) * u);
    b->eps_abs = (float)(4 * u * sqrt(big));
    b->dscale = b->metric == VF_METRIC_COSINE ? 2.0f : b->metric == VF_METRIC_IP ? 4 * b->pmax : 0.0f;
}

static void encode_row(builder *b, size_t r, tscratch *ts)
{
    (void)ts;
    const float *x = b->vecs + r * b->dim;
    uint8_t *c = node(b, (uint32_t)r);
    float s = 1.0f;
    if (b->metric == VF_METRIC_COSINE)
        s = vs_metric_inv_norm(b->norms[r]);
    float aux = 0;
    double e2 = 0;
    for (uint32_t j = 0; j < b->dim; j++) {
        float v = 0;
        if (b->step[j] > 0) {
            v = rintf((x[j] * s - b->off[j]) / b->step[j]);
            v = v < 0 ? 0 : v > 255 ? 255 : v;
        }
        c[j] = (uint8_t)v;
        float y = b->off[j] + b->step[j] * v;
        aux += y * y;
        double e = (double)x[j] * s - y;
        e2 += e * e;
    }
    /* the cosine zero row: its exact distance is 1, not that of its (zero) coded vector */
    b->res[r] = b->metric == VF_METRIC_COSINE && b->norms[r] <= 0 ? INFINITY : (float)sqrt(e2);
    if (b->metric == VF_METRIC_IP)
        aux = b->aug[r];
    else if (b->metric == VF_METRIC_COSINE)
        aux = 0;
    memcpy(c + hnsw_aux_off(b->dim), &aux, 4); /* upper and row are set as blocks are written */
}

/* ---- the build ---------------------------------------------------------------------------- */

static void release(builder *b)
{
    if (b->ts)
        for (int t = 0; t < b->threads; t++) {
            free(b->ts[t].visited);
            free(b->ts[t].cq);
            free(b->ts[t].wq);
            free(b->ts[t].pool);
            free(b->ts[t].bdist);
            free(b->ts[t].qo);
            free(b->ts[t].w);
            free(b->ts[t].q8);
            free(b->ts[t].q16);
            free(b->ts[t].ids);
            free(b->ts[t].dist);
        }
    free(b->ts);
    free(b->off);
    free(b->step);
    free(b->aug);
    free(b->res);
    free(b->nodes);
    free(b->upper);
    free(b->level);
    free(b->uoff);
    free(b->selo);
    free(b->sel);
    free(b->reqs);
    free(b->groups);
}

/* The node order: breadth first over level 0 from the entry (then from each row not yet
   reached, in row order), neighbours in list order.  perm[k] is node k's row, inv its inverse. */
static void node_order(const builder *b, uint32_t *perm, uint32_t *inv)
{
    for (size_t r = 0; r < b->n; r++)
        inv[r] = UINT32_MAX;
    size_t head = 0, tail = 0, next = 0;
    uint32_t start = b->entry;
    while (tail < b->n) {
        if (head == tail) { /* a new component */
            while (inv[start] != UINT32_MAX)
                start = (uint32_t)next++;
            inv[start] = (uint32_t)tail;
            perm[tail++] = start;
        }
        uint32_t r = perm[head++];
        const uint32_t *ls = list_at(b, r, 0);
        for (uint32_t i = 0; i < ls[0]; i++)
            if (inv[ls[1 + i]] == UINT32_MAX) {
                inv[ls[1 + i]] = (uint32_t)tail;
                perm[tail++] = ls[1 + i];
            }
    }
}

static int write_sections(builder *b, uint64_t seed, vf_seg_writer *w, vf_error *err)
{
    size_t mlen = HNSW_META_FIXED + 8ull * b->dim + 4;
    uint8_t *meta = calloc(1, mlen), *blk = calloc(1, b->stride);
    uint32_t *perm = malloc((b->n ? b->n : 1) * sizeof(uint32_t));
    uint32_t *inv = malloc((b->n ? b->n : 1) * sizeof(uint32_t));
    uint32_t *up = calloc(b->words ? b->words : 1, sizeof(uint32_t));
    int rc = 0;
    if (!meta || !blk || !perm || !inv || !up) {
        rc = vf_fail(err, VF_ENOMEM, "hnsw: out of memory");
        goto out;
    }
    node_order(b, perm, inv);
    hnsw_meta m = {.version = HNSW_VERSION,
                   .dim = b->dim,
                   .metric = (uint32_t)b->metric,
                   .M = b->M,
                   .M0 = b->M0,
                   .ef_construction = b->efc,
                   .rows = b->n,
                   .max_level = b->gmax < 0 ? 0 : (uint32_t)b->gmax,
                   .entry = b->n ? inv[b->entry] : 0,
                   .stride = b->stride,
                   .code_kind = HNSW_CODE_U8,
                   .upper_words = b->words,
                   .seed = seed};
    memcpy(meta, &m, sizeof m);
    memcpy(meta + HNSW_META_FIXED, b->off, 4ull * b->dim);
    memcpy(meta + HNSW_META_FIXED + 4ull * b->dim, b->step, 4ull * b->dim);
    uint32_t crc = vf_crc32(0, meta, mlen - 4);
    memcpy(meta + mlen - 4, &crc, 4);
    rc = vf_seg_writer_section(w, VS_SEC_HNSW_META, VF_SECTION_REQUIRED, meta, mlen, err);
    if (!rc)
        rc = vf_seg_writer_begin(w, VS_SEC_HNSW_NODES, VF_SECTION_REQUIRED, err);
    uint64_t words = 0;
    for (size_t k = 0; !rc && k < b->n; k++) {
        uint32_t r = perm[k], uo = HNSW_NO_UPPER;
        memcpy(blk, node(b, r), b->stride);
        if (b->level[r]) { /* the upper record, in node order, links renumbered */
            uo = (uint32_t)words;
            const uint32_t *src = b->upper + b->uoff[r];
            uint32_t *dst = up + words;
            size_t len = 1 + (size_t)b->level[r] * (b->M + 1);
            memcpy(dst, src, len * sizeof(uint32_t));
            for (int l = 1; l <= b->level[r]; l++) {
                uint32_t *ls = dst + 1 + (size_t)(l - 1) * (b->M + 1);
                for (uint32_t i = 0; i < ls[0]; i++)
                    ls[1 + i] = inv[ls[1 + i]];
            }
            words += len;
        }
        memcpy(blk + hnsw_upper_off(b->dim), &uo, 4);
        memcpy(blk + hnsw_row_off(b->dim), &r, 4);
        uint32_t *ls = (uint32_t *)(blk + hnsw_count_off(b->dim));
        for (uint32_t i = 0; i < ls[0]; i++)
            ls[1 + i] = inv[ls[1 + i]];
        rc = vf_seg_writer_write(w, blk, b->stride, err);
    }
    if (!rc)
        rc = vf_seg_writer_end(w, err);
    if (!rc)
        rc = vf_seg_writer_section(w, VS_SEC_HNSW_UPPER, VF_SECTION_REQUIRED, up, b->words * 4, err);
out:
    free(meta);
    free(blk);
    free(perm);
    free(inv);
    free(up);
    return rc;
}

int vs_hnsw_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err)
{
    builder B = {0}, *b = &B;
    b->n = rows->n;
    b->dim = rows->dim;
    b->metric = rows->metric;
    b->vecs = rows->vecs;
    b->M = bp->M ? bp->M : VS_HNSW_M_DEFAULT;
    b->efc = bp->ef_construction ? bp->ef_construction : VS_HNSW_EFC_DEFAULT;
    if (b->M < VS_HNSW_M_MIN || b->M > VS_HNSW_M_MAX)
        return vf_fail(err, VF_EARG, "hnsw: M %u is outside %d..%d", b->M, VS_HNSW_M_MIN, VS_HNSW_M_MAX);
    if (b->efc < VS_HNSW_EFC_MIN || b->efc > VS_HNSW_EFC_MAX)
        return vf_fail(err, VF_EARG, "hnsw: ef_construction %u is outside %d..%d", b->efc, VS_HNSW_EFC_MIN,
                       VS_HNSW_EFC_MAX);
    if (b->n >= UINT32_MAX)
        return vf_fail(err, VF_EARG, "hnsw: %zu rows is too many for one segment", b->n);
    if (b->metric < VF_METRIC_L2 || b->metric > VF_METRIC_COSINE || b->dim == 0)
        return vf_fail(err, VF_EARG, "hnsw: bad rows (metric %d, dim %u)", b->metric, b->dim);
    b->M0 = 2 * b->M;
    b->stride = (uint32_t)hnsw_stride(b->dim, b->M0);
    b->code_bytes = hnsw_l2_form(b->metric, b->dim) ? b->dim : hnsw_aux_off(b->dim) + 4;
    b->pf_ahead = hnsw_pf_ahead(b->code_bytes);
    b->gmax = -1;
    b->l2k = vs_code_l2_kernel();
    b->l2c = vs_code_l2c_kernel();
    b->bounds = vs_hnsw_build_bounds ? vs_hnsw_build_bounds > 0 : b->dim >= HNSW_BOUND_DIM;
    b->threads = bp->threads > 0 ? bp->threads : vs_cores();
    if (b->threads > THREADS_MAX)
        b->threads = THREADS_MAX;

    float *own_norms = NULL;
    b->norms = rows->norms;
    int rc = VF_ENOMEM;
    size_t poolcap = (b->efc > b->M0 + BATCH_MAX ? b->efc : b->M0 + BATCH_MAX) + BATCH_MAX;
    if (!b->norms) {
        own_norms = malloc((b->n ? b->n : 1) * sizeof(float));
        if (!own_norms)
            goto out;
        for (size_t r = 0; r < b->n; r++)
            own_norms[r] = vs_dot(b->vecs + r * b->dim, b->vecs + r * b->dim, b->dim);
        b->norms = own_norms;
    }
    b->off = malloc(4ull * b->dim);
    b->step = malloc(4ull * b->dim);
    b->nodes = calloc(b->n ? b->n : 1, b->stride);
    b->level = malloc(b->n ? b->n : 1);
    b->uoff = malloc((b->n ? b->n : 1) * sizeof(uint32_t));
    b->selo = malloc((BATCH_MAX + 1) * sizeof(uint32_t));
    b->sel = malloc((size_t)BATCH_MAX * (HNSW_MAX_LEVEL + 1) * (b->M + 1) * sizeof(uint32_t));
    b->reqs = malloc((size_t)BATCH_MAX * (HNSW_MAX_LEVEL + 1) * b->M * sizeof(req));
    b->groups = malloc(((size_t)BATCH_MAX * (HNSW_MAX_LEVEL + 1) * b->M + 1) * sizeof(size_t));
    b->ts = calloc((size_t)b->threads, sizeof(tscratch));
    b->res = malloc((b->n ? b->n : 1) * sizeof(float));
    if (!b->off || !b->step || !b->nodes || !b->level || !b->uoff || !b->selo || !b->sel || !b->reqs ||
        !b->groups || !b->ts || !b->res)
        goto out;
    for (int t = 0; t < b->threads; t++) {
        tscratch *ts = &b->ts[t];
        ts->visited = calloc(b->n ? b->n : 1, sizeof(uint32_t));
        ts->cq = malloc((b->n + 1) * sizeof(cand));
        ts->wq = malloc((b->efc + 2) * sizeof(cand));
        ts->pool = malloc(poolcap * sizeof(cand));
        ts->bdist = malloc(BATCH_MAX * sizeof(float));
        ts->qo = malloc(4ull * b->dim);
        ts->w = malloc(4ull * b->dim);
        ts->q8 = malloc(b->dim);
        ts->q16 = malloc(2ull * b->dim);
        /* room for a hop (M0), the batch rows before one (BATCH_MAX) or a list and its new
           sources (M0 + BATCH_MAX) */
        ts->ids = malloc((b->M0 + BATCH_MAX) * sizeof(uint32_t));
        ts->dist = malloc((b->M0 + BATCH_MAX) * sizeof(float));
        if (!ts->visited || !ts->cq || !ts->wq || !ts->pool || !ts->bdist || !ts->qo || !ts->w || !ts->q8 ||
            !ts->q16 || !ts->ids || !ts->dist)
            goto out;
    }

    /* levels, and the upper records laid out in row order */
    uint64_t words = 0;
    for (size_t r = 0; r < b->n; r++) {
        int L = vs_hnsw_level(bp->seed, r, b->M);
        b->level[r] = (uint8_t)L;
        b->uoff[r] = L ? (uint32_t)words : HNSW_NO_UPPER;
        words += L ? 1 + (uint64_t)L * (b->M + 1) : 0;
        if (words >= UINT32_MAX) {
            rc = vf_fail(err, VF_EARG, "hnsw: upper levels too large");
            goto out;
        }
    }
    b->words = words;
    b->upper = calloc(words ? words : 1, sizeof(uint32_t));
    if (!b->upper)
        goto out;
    for (size_t r = 0; r < b->n; r++)
        if (b->level[r])
            b->upper[b->uoff[r]] = b->level[r];

    if (b->metric == VF_METRIC_IP) {
        if (!(b->aug = malloc((b->n ? b->n : 1) * sizeof(float)))) {
            rc = VF_ENOMEM;
            goto out;
        }
        for (size_t r = 0; r < b->n; r++)
            b->pmax = b->norms[r] > b->pmax ? b->norms[r] : b->pmax;
        for (size_t r = 0; r < b->n; r++)
            b->aug[r] = sqrtf(b->pmax - b->norms[r] > 0 ? b->pmax - b->norms[r] : 0);
    }
    fit_quantizer(b);
    parallel_for(b, b->n, encode_row);

    /* insertion, batch by batch */
    for (size_t b0 = 0; b0 < b->n;) {
        size_t inserted = b0, bn = inserted / BATCH_DIV;
        bn = bn < 1 ? 1 : bn > BATCH_MAX ? BATCH_MAX : bn;
        if (bn > b->n - b0)
            bn = b->n - b0;
        b->b0 = b0;
        b->bn = bn;
        uint32_t o = 0;
        for (size_t i = 0; i < bn; i++) {
            b->selo[i] = o;
            o += (uint32_t)(b->level[b0 + i] + 1) * (b->M + 1);
        }
        parallel_for(b, bn, insert_search);
        install(b);
        parallel_for(b, b->ngroups, link_back);
        for (size_t i = 0; i < bn; i++)
            if ((int)b->level[b0 + i] > b->gmax) {
                b->gmax = b->level[b0 + i];
                b->entry = (uint32_t)(b0 + i);
            }
        b0 += bn;
    }
    rc = repair_reach(b);
    if (!rc)
        rc = write_sections(b, bp->seed, w, err);
    if (!rc) /* after the graph's sections: types ascend (SPEC.md 5.5.1) */
        rc = vs_hnsw_summary_write(bp, rows, w, err);
out:
    if (rc == VF_ENOMEM)
        vf_fail(err, rc, "hnsw: out of memory");
    release(b);
    free(own_norms);
    return rc;
}
