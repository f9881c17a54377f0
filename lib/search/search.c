/*
 * search.c - exact k-nearest-neighbour search over a snapshot.
 *
 * The rows of a snapshot are numbered 0..N-1 in manifest order (sealed
 * segments, then growing records).  A *share* is a contiguous range of those
 * rows; threads here, and worker processes or MPI ranks in cli/, each search a
 * share and their hit lists are merged (topk.c), which is associative, so any
 * split gives the same answer.  The library only searches shares: how shares
 * run (threads, processes, ranks) is the caller's choice.
 *
 * Two kernels:
 *  - many queries: blocks of queries times blocks of rows through OpenBLAS
 *    sgemm, which gives each distance up to a rounding error; a row whose
 *    estimate is within a proven error bound of the current k-th best gets its
 *    exact distance from the SIMD kernel before it is pushed.  So every pushed
 *    distance is the exact kernel value and results do not depend on blocking.
 *  - few queries: the SIMD kernels (distance.c) over each row directly.
 *
 * Internal distances: squared L2 (l2), -dot (ip), 1 - cosine (cosine), all
 * through simd/metric.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib_internal.h"
#include "simd/metric.h"
#include "util/blas.h"
#include "util/parallel.h"

#define QBLOCK 1024      /* queries per sgemm block (tuned on fashion-mnist) */
#define RBLOCK 1024      /* rows per sgemm block: C is 4 MiB */
#define BATCH_MIN 8      /* fewer queries than this use the SIMD kernels */

float vs_distance_report(int metric, float internal)
{
    return vs_metric_report(metric, internal);
}

/* A piece is rows [lo, hi) of one part; a share is a list of pieces. */
typedef struct piece {
    const vs_part *part;
    size_t lo, hi;
} piece;

typedef struct task {
    const vs_snapshot *s;
    const float *q, *qn;   /* queries and their squared norms */
    size_t q0, q1;         /* query range */
    uint64_t r0, r1;       /* row share */
    size_t k;
    const vs_query_params *qp;
    vf_error err;          /* details when rc is set */
    vs_hit *out;           /* (q1-q0)*k hits, each list sorted and padded */
    int parts;             /* TASK_SCAN, TASK_INDEX or both: which pieces the task searches */
    piece *pieces;         /* the rows r0..r1: shared when given, else the task's own */
    size_t npieces;
    void **cache;          /* index scratch kept per worker and piece (npieces a worker), or NULL */
    void **scratch;        /* this task's worker's row of cache */
    int rc;
} task;

#define TASK_SCAN 1        /* the pieces without an index: sgemm or SIMD scans */
#define TASK_INDEX 2       /* the indexed pieces, one query at a time */
#define QCHUNK 8           /* queries per index task at least: workers claim them one by one */

/* The pieces of global rows [r0, r1); *np receives their count (malloc'd). */
static piece *share_pieces(const vs_snapshot *s, uint64_t r0, uint64_t r1, size_t *np)
{
    piece *v = malloc((s->nparts ? s->nparts : 1) * sizeof *v);
    size_t n = 0;
    uint64_t base = 0;
    for (size_t i = 0; v && i < s->nparts; i++) {
        const vs_part *p = &s->parts[i];
        if (p->skip)
            continue; /* shares number the selected rows only */
        uint64_t end = base + p->n;
        if (p->index) {
            /* an index is searched whole, by the share holding its first row */
            if (base >= r0 && base < r1)
                v[n++] = (piece){p, 0, p->n};
        } else if (end > r0 && base < r1)
            v[n++] = (piece){p, (size_t)(r0 > base ? r0 - base : 0), (size_t)(r1 < end ? r1 - base : p->n)};
        base = end;
    }
    *np = n;
    return v;
}

/* Offers rows b..b+n of part, at distances dist, to h: until h is full every live row enters,
   then only those the vector scan finds within its bound, each checked against the bound as
   it stands when pushed.  The same hits as offering every row in order. */
static void push_rows(vs_topk *h, const float *dist, size_t n, const vs_part *part, size_t b, uint32_t *idx)
{
    size_t j = 0;
    for (; j < n && vs_topk_bound(h) == INFINITY; j++)
        if (!vs_part_deleted(part, b + j)) /* live rows only [R-SEARCH-LIVE] */
            vs_topk_push(h, dist[j], part->ids[b + j]);
    size_t m = j < n ? vs_scan_le1(dist + j, n - j, vs_topk_bound(h), idx) : 0;
    for (size_t r = 0; r < m; r++) {
        size_t i = j + idx[r];
        if (dist[i] <= vs_topk_bound(h) && !vs_part_deleted(part, b + i))
            vs_topk_push(h, dist[i], part->ids[b + i]);
    }
}

static void search_simd(task *t, vs_topk *tk, float *buf, uint32_t *idx)
{
    const vs_snapshot *s = t->s;
    uint32_t d = s->m.dim;
    int metric = s->m.metric;
    for (size_t qi = t->q0; qi < t->q1; qi++) {
        const float *q = t->q + qi * d;
        vs_topk *h = &tk[qi - t->q0];
        for (size_t pi = 0; pi < t->npieces; pi++) {
            const vs_part *part = t->pieces[pi].part;
            size_t lo = t->pieces[pi].lo, hi = t->pieces[pi].hi;
            if (part->index)
                continue;
            for (size_t b = lo; b < hi; b += RBLOCK) {
                size_t n = hi - b < RBLOCK ? hi - b : RBLOCK;
                if (metric == VF_METRIC_L2)
                    vs_l2sq_many(q, part->vecs + b * d, n, d, buf);
                else {
                    vs_dot_many(q, part->vecs + b * d, n, d, buf);
                    if (metric == VF_METRIC_IP)
                        for (size_t j = 0; j < n; j++)
                            buf[j] = -buf[j];
                    else
                        vs_cosine_many(buf, part->norms + b, n, sqrtf(t->qn[qi]));
                }
                push_rows(h, buf, n, part, b, idx);
            }
        }
    }
}

static void search_blas(task *t, vs_topk *tk, float *c, float *pbuf, uint32_t *idx)
{
    const vs_snapshot *s = t->s;
    uint32_t d = s->m.dim;
    int metric = s->m.metric;
    /* sgemm's error on a dot product is at most d*u*|q||x| (u = 2^-24);
       twice that, plus slack, bounds the error of every estimate below */
    const float rel = (float)d * 1.2e-7f + 1e-6f;
    for (size_t qb = t->q0; qb < t->q1; qb += QBLOCK) {
        size_t nq = t->q1 - qb < QBLOCK ? t->q1 - qb : QBLOCK;
        const float *q = t->q + qb * d;
        for (size_t pi = 0; pi < t->npieces; pi++) {
            const vs_part *part = t->pieces[pi].part;
            size_t lo = t->pieces[pi].lo, hi = t->pieces[pi].hi;
            if (part->index)
                continue;
            for (size_t b = lo; b < hi; b += RBLOCK) {
                size_t n = hi - b < RBLOCK ? hi - b : RBLOCK;
                const float *x = part->vecs + b * d;
                const float *xn = part->norms + b, *p = xn;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)n, (int)d, 1.0f, q, (int)d, x,
                            (int)d, 0.0f, c, (int)n);
                /* each row's estimate minus its error bound is a*p + b*c + g*c*p,
                   with p the row's norm term (the SPEC.md section 9 distances) */
                if (metric != VF_METRIC_L2) {
                    for (size_t j = 0; j < n; j++) {
                        float xs = sqrtf(xn[j]);
                        pbuf[j] = metric == VF_METRIC_IP ? xs : xs > 0 ? 1.0f / xs : 0.0f;
                    }
                    p = pbuf;
                }
                for (size_t i = 0; i < nq; i++) {
                    size_t qi = qb + i;
                    vs_topk *h = &tk[qi - t->q0];
                    const float *ci = c + i * n;
                    float qn = t->qn[qi], qs = sqrtf(qn), ca, cb, cg, shift;
                    if (metric == VF_METRIC_L2) {
                        ca = 1.0f - rel, cb = -2.0f, cg = 0, shift = (1.0f - rel) * qn;
                    } else if (metric == VF_METRIC_IP) {
                        ca = -rel * qs, cb = -1.0f, cg = 0, shift = 0;
                    } else {
                        ca = 0, cb = 0, cg = qs > 0 ? -1.0f / qs : 0.0f, shift = 1.0f - rel;
                    }
                    size_t m = vs_scan_le(ci, p, n, ca, cb, cg, vs_topk_bound(h) - shift, idx);
                    for (size_t r = 0; r < m; r++) {
                        size_t j = idx[r];
                        /* the bound has tightened since the scan: look again */
                        if (ca * p[j] + cb * ci[j] + cg * ci[j] * p[j] > vs_topk_bound(h) - shift ||
                            vs_part_deleted(part, b + j))
                            continue;
                        vs_topk_push(h, vs_metric_exact(metric, t->q + qi * d, qn, part->vecs + (b + j) * d,
                                                        part->norms[b + j], d),
                                     part->ids[b + j]);
                    }
                }
            }
        }
    }
}

/* Whether IVF segments sharing a quantiser are searched as groups: unless
   VECSEG_IVF_GROUPS=0 (for measuring).  A group ranks the lists once and searches
   each member as if alone, so grouping never changes an answer. */
static int groups_on(void)
{
    const char *e = getenv("VECSEG_IVF_GROUPS");
    return !(e && e[0] == '0' && e[1] == 0);
}

/* Whether HNSW segments with a summary are passed over when they cannot contribute
   (search_bounded): on unless VECSEG_SUMMARY=0, which tests and measurements use to compare. */
static int summary_on(void)
{
    const char *e = getenv("VECSEG_SUMMARY");
    return !(e && e[0] == '0' && e[1] == 0);
}

/* Segment searches run and passed over by search_bounded, over the process (for
   measurements: vs_search_summary_counts). */
static _Atomic unsigned long long bounded_searched, bounded_skipped;

void vs_search_summary_counts(unsigned long long *searched, unsigned long long *skipped)
{
    *searched = bounded_searched;
    *skipped = bounded_skipped;
}

/* Pushes the hits of a search of one index (local; row numbers, or for a group member << 32
   | row) into h as ids. */
static int push_local(task *t, const vs_topk *local, const size_t *grp, size_t n, vs_topk *h)
{
    for (size_t j = 0; j < local->n; j++) {
        /* a group's hits carry their member above the row number */
        uint64_t mem = n > 1 ? local->h[j].id >> 32 : 0, row = n > 1 ? local->h[j].id & 0xffffffffu : local->h[j].id;
        const vs_part *p = mem < n ? t->pieces[grp[mem]].part : NULL;
        if (!p || row >= p->n)
            return vf_fail(&t->err, VF_ECORRUPT, "index returned row %llu of %zu", (unsigned long long)row,
                           p ? p->n : 0);
        vs_topk_push(h, local->h[j].dist, p->ids[row]);
    }
    return 0;
}

/* Queries search_bounded takes at once: at most BOUNDED_QBLOCK, and their bounds at most
   BOUNDED_CELLS floats whatever the segment count. */
#define BOUNDED_QBLOCK 1024
#define BOUNDED_CELLS (1u << 20)

/* Searches piece sp[i] for query qi of t into tk, with the scratch scr[i] (taken when a query
   first needs it: a segment every query passes over costs no memory). */
static int bounded_one(task *t, vs_topk *tk, const size_t *sp, size_t i, void **scr, size_t qi, vs_hit *rows)
{
    size_t pi = sp[i];
    const vs_part *part = t->pieces[pi].part;
    if (!scr[i] && !(scr[i] = vs_index_scratch_new(part->index)))
        return VF_ENOMEM;
    vs_topk local;
    vs_topk_init(&local, rows, t->k);
    int rc = vs_index_search(part->index, t->q + qi * t->s->m.dim, t->qn[qi], t->qp, part->deleted, &local, scr[i],
                             &t->err);
    return rc ? rc : push_local(t, &local, &pi, 1, &tk[qi - t->q0]);
}

/* Searches the ns pieces sp (indexes with a summary), passing over a segment for a query when
   the segment's lower bound (vs_index_lower_bound) is strictly above the query's k-th
   distance with k hits held: every row of it is then farther than k hits already held, so
   the answer is the one searching every segment gives (a row at exactly the k-th distance may
   still enter by its id, [R-SEARCH-ORDER], so an equal bound is searched) [R-SUMMARY-SKIP].
   Run after every other piece, whose hits tighten the k-th distance first.
   Two passes over a block of queries, each grouping the queries by segment so that one
   segment's graph serves many queries in a row (a query walking every segment in turn would
   keep no graph in cache): first each query's segment of least bound, which most often holds
   its nearest rows and so makes its k-th distance tight; then every segment in manifest order
   for the queries whose bound it does not exceed. */
static int search_bounded(task *t, vs_topk *tk, const size_t *sp, size_t ns, vs_hit *rows)
{
    uint32_t d = t->s->m.dim;
    size_t qb = BOUNDED_CELLS / (ns ? ns : 1);
    qb = qb < 1 ? 1 : qb > BOUNDED_QBLOCK ? BOUNDED_QBLOCK : qb;
    void **scr = calloc(ns ? ns : 1, sizeof *scr);
    float *lb = malloc(qb * (ns ? ns : 1) * sizeof *lb);       /* lb[j * ns + i]: query j, piece i */
    size_t *first = malloc(qb * sizeof *first), *by = malloc(qb * sizeof *by);
    size_t *start = malloc((ns + 1) * sizeof *start);          /* the first pass's buckets */
    int rc = scr && lb && first && by && start ? 0 : VF_ENOMEM;
    for (size_t i = 0; scr && t->scratch && i < ns; i++) /* the worker's cached scratch (run_task) */
        scr[i] = t->scratch[sp[i]];
    unsigned long long searched = 0, skipped = 0;
    for (size_t q0 = t->q0; rc == 0 && q0 < t->q1; q0 += qb) {
        size_t nb = t->q1 - q0 < qb ? t->q1 - q0 : qb;
        memset(start, 0, (ns + 1) * sizeof *start);
        for (size_t j = 0; j < nb; j++) {
            float *l = lb + j * ns;
            first[j] = 0;
            for (size_t i = 0; i < ns; i++) {
                l[i] = vs_index_lower_bound(t->pieces[sp[i]].part->index, t->q + (q0 + j) * d, t->qn[q0 + j]);
                first[j] = l[i] < l[first[j]] ? i : first[j];
            }
            start[first[j] + 1]++;
        }
        /* pass 1: each query's least bound, queries grouped by segment (a counting sort) */
        for (size_t i = 0; i < ns; i++)
            start[i + 1] += start[i];
        for (size_t j = 0; j < nb; j++)
            by[start[first[j]]++] = j;
        for (size_t a = 0; rc == 0 && a < nb; a++) {
            size_t j = by[a];
            if (lb[j * ns + first[j]] > vs_topk_bound(&tk[q0 + j - t->q0])) {
                skipped++;
                continue;
            }
            rc = bounded_one(t, tk, sp, first[j], scr, q0 + j, rows);
            searched++;
        }
        /* pass 2: every other segment, for the queries it may still serve */
        for (size_t i = 0; rc == 0 && i < ns; i++)
            for (size_t j = 0; rc == 0 && j < nb; j++) {
                if (i == first[j])
                    continue;
                if (lb[j * ns + i] > vs_topk_bound(&tk[q0 + j - t->q0])) {
                    skipped++;
                    continue;
                }
                rc = bounded_one(t, tk, sp, i, scr, q0 + j, rows);
                searched++;
            }
    }
    bounded_searched += searched;
    bounded_skipped += skipped;
    for (size_t i = 0; scr && i < ns; i++)
        if (t->scratch)
            t->scratch[sp[i]] = scr[i];
        else
            vs_index_scratch_free(t->pieces[sp[i]].part->index, scr[i]);
    free(scr);
    free(lb);
    free(first);
    free(by);
    free(start);
    return rc;
}

/* Searches the indexed pieces one query at a time: the index pushes row
   numbers, which become ids here.  IVF segments whose quantisers are equal
   (SPEC.md 5.5.2 [R-IVF-GROUP]) form a group led by its first piece and are
   searched together: the query-side work (ranking the lists, the tables) is
   paid once per group, not per segment.  Indexes with a summary
   (HNSW_SUMMARY) go last, through search_bounded, unless summary_on says no. */
static int search_indexes(task *t, vs_topk *tk)
{
    uint32_t d = t->s->m.dim;
    size_t np = t->npieces;
    vs_hit *rows = malloc(t->k * sizeof *rows);
    size_t *grp = malloc((np ? np : 1) * sizeof *grp);    /* members, group by group */
    const vs_index **ix = malloc((np ? np : 1) * sizeof *ix);
    const uint8_t **del = malloc((np ? np : 1) * sizeof *del);
    uint8_t *taken = calloc(np ? np : 1, 1);
    size_t *sp = malloc((np ? np : 1) * sizeof *sp), ns = 0; /* pieces for search_bounded */
    int rc = rows && grp && ix && del && taken && sp ? 0 : VF_ENOMEM, grouping = groups_on(), bounding = summary_on();
    for (size_t pi = 0; rc == 0 && pi < np; pi++) {
        const vs_part *part = t->pieces[pi].part;
        if (!part->index || taken[pi])
            continue;
        if (bounding && vs_index_summary_count(part->index)) {
            sp[ns++] = pi;
            continue;
        }
        size_t n = 0;
        grp[n++] = pi;
        for (size_t pj = pi + 1; grouping && pj < np; pj++) {
            const vs_part *o = t->pieces[pj].part;
            if (!taken[pj] && o->index && vs_index_same_quantiser(part->index, o->index)) {
                taken[pj] = 1;
                grp[n++] = pj;
            }
        }
        for (size_t g = 0; g < n; g++) {
            ix[g] = t->pieces[grp[g]].part->index;
            del[g] = t->pieces[grp[g]].part->deleted;
        }
        void *scratch = t->scratch && t->scratch[pi] ? t->scratch[pi] : vs_index_scratch_new(part->index);
        if (!scratch) {
            rc = VF_ENOMEM;
            break;
        }
        for (size_t qi = t->q0; rc == 0 && qi < t->q1; qi++) {
            vs_topk local;
            vs_topk_init(&local, rows, t->k);
            const float *q = t->q + qi * d;
            if (n > 1)
                rc = vs_index_search_group(ix, n, del, q, t->qn[qi], t->qp, &local, scratch, &t->err);
            else
                rc = vs_index_search(part->index, q, t->qn[qi], t->qp, part->deleted, &local, scratch, &t->err);
            if (rc == 0)
                rc = push_local(t, &local, grp, n, &tk[qi - t->q0]);
        }
        if (t->scratch)
            t->scratch[pi] = scratch;
        else
            vs_index_scratch_free(part->index, scratch);
    }
    if (rc == 0 && ns)
        rc = search_bounded(t, tk, sp, ns, rows);
    free(rows);
    free(grp);
    free(ix);
    free(del);
    free(taken);
    free(sp);
    return rc;
}

/* Runs task ti of the array ctx (a vs_parallel_for item) on worker w: its hits depend on the
   task alone (a cached scratch carries no state from one query to the next). */
static void run_task(void *ctx, size_t ti, int w)
{
    task *t = (task *)ctx + ti;
    size_t nq = t->q1 - t->q0;
    int scan = t->parts & TASK_SCAN, own = !t->pieces;
    vs_topk *tk = malloc((nq ? nq : 1) * sizeof *tk);
    float *buf = scan ? malloc((size_t)QBLOCK * RBLOCK * sizeof(float) + RBLOCK * sizeof(float)) : NULL;
    uint32_t *idx = scan ? malloc(RBLOCK * sizeof *idx) : NULL;
    if (own && tk && (!scan || (buf && idx)))
        t->pieces = share_pieces(t->s, t->r0, t->r1, &t->npieces);
    if (!tk || (scan && (!buf || !idx)) || !t->pieces) {
        free(tk);
        free(buf);
        free(idx);
        if (own)
            free(t->pieces);
        t->rc = VF_ENOMEM;
        return;
    }
    t->scratch = t->cache ? t->cache + (size_t)w * t->npieces : NULL;
    for (size_t i = 0; i < nq; i++)
        vs_topk_init(&tk[i], t->out + i * t->k, t->k);
    if (scan && nq >= BATCH_MIN)
        search_blas(t, tk, buf, buf + (size_t)QBLOCK * RBLOCK, idx);
    else if (scan)
        search_simd(t, tk, buf, idx);
    int rc = t->parts & TASK_INDEX ? search_indexes(t, tk) : 0;
    for (size_t i = 0; i < nq; i++) {
        vs_topk_sort(&tk[i]);
        vs_hits_clear(t->out + i * t->k + tk[i].n, t->k - tk[i].n);
    }
    free(tk);
    free(buf);
    free(idx);
    if (own)
        free(t->pieces);
    t->rc = rc;
}

/* Searches share `share` of nshares of the selected rows on `threads` threads (0: vs_cores).
   Few queries split the share's rows over the threads, and the threads' hit lists are merged.
   Many queries: the rows without an index are scanned in one large block of queries a
   thread (sgemm wants them), and the indexed rows are searched in small chunks of queries
   that the workers claim one by one, so a worker slowed for a moment (the machine busy) holds
   up one chunk, not half the batch; the two hit lists of a query are then merged.  Any split
   gives the same answer. */
static int share_search(vs_snapshot *s, const float *queries, size_t nq, size_t k, const vs_query_params *qp,
                        int share, int nshares, int threads, vs_hit *out, vf_error *err)
{
    if (k == 0 || nshares < 1 || share < 0 || share >= nshares)
        return vf_fail(err, VF_EARG, "search: bad k or share");
    uint32_t d = s->m.dim;
    uint64_t r0 = s->selected * (uint64_t)share / (uint64_t)nshares;
    uint64_t r1 = s->selected * (uint64_t)(share + 1) / (uint64_t)nshares;
    if (threads < 1)
        threads = vs_cores();
    int by_rows = nq < (size_t)threads * BATCH_MIN;
    size_t np = 0, nscan = (size_t)threads, nindex = 0, chunk = 0;
    piece *pc = NULL;
    void **cache = NULL;
    if (!by_rows) {
        pc = share_pieces(s, r0, r1, &np);
        int has_scan = 0, has_index = 0;
        for (size_t i = 0; pc && i < np; i++) {
            has_index |= pc[i].part->index != NULL;
            has_scan |= pc[i].part->index == NULL;
        }
        chunk = nq / ((size_t)threads * 64) > QCHUNK ? nq / ((size_t)threads * 64) : QCHUNK;
        nindex = has_index ? (nq + chunk - 1) / chunk : 0;
        nscan = has_scan || !has_index ? (size_t)threads : 0;
        cache = nindex ? calloc((size_t)threads * np, sizeof *cache) : NULL;
    }
    size_t ntasks = nscan + nindex;
    float *qn = malloc((nq ? nq : 1) * sizeof *qn);
    task *ts = calloc(ntasks, sizeof *ts);
    /* by rows, thread 0 fills out and the others lists of their own, merged into it; by
       queries with both kinds of rows, the index tasks fill lists merged into out */
    size_t ntmp = by_rows ? (size_t)(threads - 1) : nscan && nindex ? 1 : 0;
    vs_hit *tmp = ntmp ? malloc(ntmp * (nq ? nq : 1) * k * sizeof *tmp) : NULL;
    if (!qn || !ts || (ntmp && !tmp) || (!by_rows && (!pc || (nindex && !cache)))) {
        free(qn);
        free(ts);
        free(tmp);
        free(pc);
        free(cache);
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    }
    for (size_t i = 0; i < nq; i++)
        qn[i] = vs_dot(queries + i * d, queries + i * d, d);
    for (size_t i = 0; i < ntasks; i++) {
        task *t = &ts[i];
        t->s = s;
        t->q = queries;
        t->qn = qn;
        t->k = k;
        t->qp = qp;
        t->r0 = r0;
        t->r1 = r1;
        if (by_rows) {
            t->q0 = 0;
            t->q1 = nq;
            t->r0 = r0 + (r1 - r0) * (uint64_t)i / (uint64_t)threads;
            t->r1 = r0 + (r1 - r0) * (uint64_t)(i + 1) / (uint64_t)threads;
            t->out = i == 0 ? out : tmp + (i - 1) * nq * k;
            t->parts = TASK_SCAN | TASK_INDEX;
            continue;
        }
        t->pieces = pc;
        t->npieces = np;
        if (i < nscan) {
            t->q0 = nq * i / nscan;
            t->q1 = nq * (i + 1) / nscan;
            t->out = out + t->q0 * k;
            t->parts = TASK_SCAN;
        } else {
            t->q0 = (i - nscan) * chunk;
            t->q1 = t->q0 + chunk < nq ? t->q0 + chunk : nq;
            t->out = (nscan ? tmp : out) + t->q0 * k;
            t->parts = TASK_INDEX;
            t->cache = cache;
        }
    }
    /* each scan task of BATCH_MIN queries or more calls sgemm itself (run_task): other
       searches never load OpenBLAS */
    int blas = 0;
    for (size_t i = 0; i < nscan; i++)
        blas |= ts[i].q1 - ts[i].q0 >= BATCH_MIN;
    int rc = blas ? vs_blas_serial(err) : 0;
    if (rc == 0)
        vs_parallel_for(threads, ntasks, run_task, ts);
    for (size_t i = 0; i < ntasks && rc == 0; i++)
        if (ts[i].rc) {
            rc = ts[i].rc;
            if (ts[i].err.code == rc)
                vf_fail(err, rc, "%s", ts[i].err.msg);
            else
                vf_fail(err, rc, "search: %s", vf_code_str(rc));
        }
    for (size_t i = 0; rc == 0 && i < ntmp; i++)
        rc = vs_hits_merge_lists(out, tmp + i * nq * k, nq, k, err);
    for (size_t i = 0; cache && i < (size_t)threads * np; i++)
        if (cache[i])
            vs_index_scratch_free(pc[i % np].part->index, cache[i]);
    free(cache);
    free(pc);
    free(tmp);
    free(qn);
    free(ts);
    return rc;
}

int vs_search_share(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, int share,
                    int nshares, vs_hit *out, vf_error *err)
{
    vs_query_params qp = {o->ef, o->nprobe, o->refine};
    return share_search(s, queries, nq, o->k ? o->k : 10, &qp, share, nshares, o->threads, out, err);
}

int vs_search(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, uint64_t *ids, float *dist,
              vf_error *err)
{
    vs_search_opts def = {0};
    if (!o)
        o = &def;
    size_t k = o->k ? o->k : 10;
    vs_hit *h = malloc((nq ? nq : 1) * k * sizeof *h);
    if (!h)
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    int rc = vs_search_share(s, queries, nq, o, 0, 1, h, err);
    if (rc == 0)
        vs_hits_report(h, nq * k, s->m.metric, ids, dist);
    free(h);
    return rc;
}
