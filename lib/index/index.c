/*
 * index.c - index types, the AUTO choice, the exact distance of a row, and dispatch to the
 * index modules (HNSW in hnsw/, the IVF family in ivf/).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "simd/metric.h"
#include "index/index_internal.h"

struct vs_index {
    const vs_index_ops *ops;
    int type;
    void *impl;
    const vs_rows_view *rows;
    vs_summary *summary;     /* HNSW_SUMMARY, or NULL */
};

static const char *names[] = {"flat", "hnsw", "ivf_flat", "ivf_pq", "ivf_sq8"};

const char *vs_index_type_name(int type)
{
    if (type == VS_INDEX_AUTO)
        return "auto";
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "?";
}

int vs_index_type_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcmp(name, "auto"))
        return VS_INDEX_AUTO;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

int vs_index_auto(size_t n, uint32_t dim, int metric)
{
    (void)dim;
    (void)metric;
    /* the thresholds and why: vecseg.h */
    if (n < VS_AUTO_HNSW_ROWS_MIN)
        return VS_INDEX_FLAT;
    if (n <= VS_AUTO_HNSW_ROWS_MAX)
        return VS_INDEX_HNSW;
    return VS_INDEX_IVF_PQ;
}

const float *vs_rows_vecs(const vs_rows_view *rows)
{
    const float *v = rows->vecs;
    if (!v && rows->cold && vf_seg_vectors(rows->cold, &v, NULL))
        v = NULL;
    return v;
}

float vs_row_distance(const vs_rows_view *rows, const float *q, float qn, size_t r)
{
    const float *x = vs_rows_vecs(rows) + r * rows->dim;
    float xn = 0;
    if (rows->metric == VF_METRIC_COSINE) /* a view without NORMS computes the norm it needs */
        xn = rows->norms ? rows->norms[r] : vs_dot(x, x, rows->dim);
    return vs_metric_exact(rows->metric, q, qn, x, xn, rows->dim);
}

/* [R-RERANK-AHEAD] Re-ranking reads its candidates' rows at random.  When they are on disk
   (vectors apart and not cached, or squeezed out by a memory cap) each read waits for the
   device in turn; asking the kernel for all of them first (MADV_WILLNEED) lets the device
   serve them together: 640 random 512-byte rows read 2.7x faster so, on a virtio disk.  The
   asking costs a system call per row (about 0.5 us), which a re-rank from memory should not
   pay: so it is on only while needed.  A re-rank that ran without it and took a major fault
   turns it on for the process's next RERANK_AHEAD_RUN re-ranks; then one runs without it
   again, to see.  It never changes what is read, only when. */
#define RERANK_AHEAD_RUN 64
static _Atomic long ahead_left;

static long thread_majflt(void)
{
    struct rusage ru;
#ifdef RUSAGE_THREAD
    if (getrusage(RUSAGE_THREAD, &ru) == 0)
#else
    if (getrusage(RUSAGE_SELF, &ru) == 0)
#endif
        return ru.ru_majflt;
    return 0;
}

void vs_rerank_begin(vs_rerank *rr, const vs_rows_view *rows)
{
    rr->rows = rows;
    rr->ahead = NULL;
    if (atomic_load_explicit(&ahead_left, memory_order_relaxed) > 0) {
        atomic_fetch_sub_explicit(&ahead_left, 1, memory_order_relaxed);
        rr->ahead = vs_rows_vecs(rows);
        rr->page = sysconf(_SC_PAGESIZE);
        rr->page = rr->page > 0 ? rr->page : 4096;
    } else {
        rr->majflt = thread_majflt();
    }
}

void vs_rerank_row(const vs_rerank *rr, size_t r)
{
    if (!rr->ahead || r >= rr->rows->n)
        return;
    uint32_t dim = rr->rows->dim;
    uintptr_t lo = (uintptr_t)(rr->ahead + r * dim), hi = lo + (uintptr_t)dim * sizeof(float);
    lo &= ~(uintptr_t)(rr->page - 1);
    madvise((void *)lo, hi - lo, MADV_WILLNEED); /* a hint: its failure changes nothing read */
}

void vs_rerank_end(const vs_rerank *rr)
{
    if (!rr->ahead && thread_majflt() > rr->majflt)
        atomic_store_explicit(&ahead_left, RERANK_AHEAD_RUN, memory_order_relaxed);
}

long vs_rerank_ahead_left(long set)
{
    return set >= 0 ? atomic_exchange_explicit(&ahead_left, set, memory_order_relaxed)
                    : atomic_load_explicit(&ahead_left, memory_order_relaxed);
}

int vs_index_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err)
{
    switch (bp->type) {
    case VS_INDEX_FLAT:
        return 0;
    case VS_INDEX_HNSW:
        return vs_hnsw_build(bp, rows, w, err);
    case VS_INDEX_IVF_FLAT:
    case VS_INDEX_IVF_PQ:
    case VS_INDEX_IVF_SQ8:
        return vs_ivf_build(bp, rows, w, err);
    }
    return vf_fail(err, VF_EARG, "index type %d cannot be built (resolve auto first)", bp->type);
}

/* [R-INDEX-OPEN] each module's open reads only its META section (IVF: and the ends of IVF_OFFSETS) */
int vs_index_open(vs_index **out, const vf_seg *seg, const vs_rows_view *rows, vf_error *err)
{
    *out = NULL;
    const vs_index_ops *ops = NULL;
    int type = VS_INDEX_FLAT;
    if (vf_seg_section(seg, VS_SEC_HNSW_META, NULL)) {
        ops = &vs_hnsw_ops;
        type = VS_INDEX_HNSW;
    } else if (vf_seg_section(seg, VS_SEC_IVF_META, NULL)) {
        ops = &vs_ivf_ops;
        type = -1; /* the module knows which IVF kind */
    }
    if (!ops)
        return 0;
    vs_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return vf_fail(err, VF_ENOMEM, "index: out of memory");
    ix->ops = ops;
    ix->type = type;
    ix->rows = rows;
    int rc = ops->open(&ix->impl, seg, rows, err);
    if (rc) {
        free(ix);
        return rc;
    }
    /* a damaged summary refuses the segment like any damaged index section: a wrong ball
       would make searches pass over rows [R-HNSW-SUMMARY] */
    if (type == VS_INDEX_HNSW && (rc = vs_summary_open(&ix->summary, seg, err)) != 0) {
        ops->close(ix->impl);
        free(ix);
        return rc;
    }
    if (ix->type < 0) {
        /* IVF meta's first u32 is its kind (SPEC.md 5.5) */
        uint64_t len;
        const uint32_t *meta = vf_seg_section(seg, VS_SEC_IVF_META, &len);
        ix->type = len >= 4 ? (int)meta[0] : VS_INDEX_IVF_FLAT;
    }
    *out = ix;
    return 0;
}

void vs_index_close(vs_index *ix)
{
    if (!ix)
        return;
    ix->ops->close(ix->impl);
    vs_summary_close(ix->summary);
    free(ix);
}

float vs_index_lower_bound(const vs_index *ix, const float *q, float qn)
{
    return ix && ix->summary ? vs_summary_lower_bound(ix->summary, q, qn) : -INFINITY;
}

uint32_t vs_index_summary_count(const vs_index *ix) { return ix ? vs_summary_count(ix->summary) : 0; }

int vs_index_type_of(const vs_index *ix) { return ix ? ix->type : VS_INDEX_FLAT; }

void *vs_index_scratch_new(const vs_index *ix) { return ix->ops->scratch_new(ix->impl); }

void vs_index_scratch_free(const vs_index *ix, void *scratch)
{
    if (ix && scratch)
        ix->ops->scratch_free(scratch);
}

/* Whether a search of ix with qp reads VECTORS: HNSW re-ranks its walk,
   IVF_SQ8 and IVF_PQ only with refine; IVF_FLAT scans its own copies. */
static int reads_vectors(const vs_index *ix, const vs_query_params *qp)
{
    return ix->type == VS_INDEX_HNSW ||
           ((ix->type == VS_INDEX_IVF_PQ || ix->type == VS_INDEX_IVF_SQ8) && qp && qp->refine);
}

/* Vectors apart: mapped by the first search that needs them, so a search
   that re-ranks nothing reads no cold byte (SPEC.md 5.6.1). */
static int map_cold(const vs_index *ix, const vs_query_params *qp, vf_error *err)
{
    const float *v;
    if (!ix->rows->vecs && ix->rows->cold && reads_vectors(ix, qp))
        return vf_seg_vectors(ix->rows->cold, &v, err);
    return 0;
}

int vs_index_search(const vs_index *ix, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                    vs_topk *t, void *scratch, vf_error *err)
{
    int rc = map_cold(ix, qp, err);
    if (rc)
        return rc;
    return ix->ops->search(ix->impl, q, qn, qp, deleted, t, scratch, err);
}

static int is_ivf(const vs_index *ix)
{
    return ix && ix->ops == &vs_ivf_ops;
}

int vs_index_same_quantiser(const vs_index *a, const vs_index *b)
{
    return is_ivf(a) && is_ivf(b) && vs_ivf_same_quantiser(a->impl, b->impl);
}

int vs_index_search_group(const vs_index *const *ix, size_t n, const uint8_t *const *deleted, const float *q, float qn,
                          const vs_query_params *qp, vs_topk *t, void *scratch, vf_error *err)
{
    const void *stack[64], **impl = n <= 64 ? stack : malloc(n * sizeof *impl);
    if (!impl)
        return vf_fail(err, VF_ENOMEM, "index: out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!is_ivf(ix[i]))
            rc = vf_fail(err, VF_EARG, "index: a group holds an index that is not ivf");
        else if ((rc = map_cold(ix[i], qp, err)) == 0)
            impl[i] = ix[i]->impl;
    if (!rc)
        rc = vs_ivf_search_group(impl, n, deleted, q, qn, qp, t, scratch, err);
    if (impl != stack)
        free(impl);
    return rc;
}
