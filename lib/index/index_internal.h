/*
 * index_internal.h - what each index module implements (lib/ internal).
 * index.c dispatches vs_index_* to the module of the segment's index type.
 */
#ifndef VS_INDEX_INTERNAL_H
#define VS_INDEX_INTERNAL_H

#include "index/index.h"

typedef struct vs_index_ops {
    int (*open)(void **impl, const vf_seg *seg, const vs_rows_view *rows, vf_error *err);
    void (*close)(void *impl);
    void *(*scratch_new)(const void *impl);
    void (*scratch_free)(void *scratch);
    int (*search)(const void *impl, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                  vs_topk *t, void *scratch, vf_error *err);
} vs_index_ops;

/* HNSW (hnsw_build.c, hnsw_search.c): sections 16..31. */
int vs_hnsw_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err);
extern const vs_index_ops vs_hnsw_ops;
#define VS_SEC_HNSW_META 16          /* the section whose presence marks an HNSW index */

/* HNSW_SUMMARY (hnsw_summary.c, SPEC.md 5.5.1): balls holding every row of a segment, and the
   lower bound they give on a query's internal distance to its rows (index.h,
   vs_index_lower_bound).  Written by vs_hnsw_build; a segment without one is searched whole. */
#define VS_SEC_HNSW_SUMMARY 19
#define VS_SUMMARY_ROWS_PER 256      /* c = min(VS_SUMMARY_MAX, max(1, rows / VS_SUMMARY_ROWS_PER)) */
#define VS_SUMMARY_MAX 64
typedef struct vs_summary vs_summary;
uint32_t vs_summary_count_for(uint64_t rows);  /* c for a segment of rows rows (0 for none) */
int vs_hnsw_summary_write(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err);
/* Opens and checks seg's summary [R-HNSW-SUMMARY]; *s is NULL when seg has none. */
int vs_summary_open(vs_summary **s, const vf_seg *seg, vf_error *err);
void vs_summary_close(vs_summary *s); /* accepts NULL */
uint32_t vs_summary_count(const vs_summary *s);
float vs_summary_lower_bound(const vs_summary *s, const float *q, float qn);

/* IVF_FLAT, IVF_PQ, IVF_SQ8 (ivf/): sections 32..63. */
int vs_ivf_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err);
extern const vs_index_ops vs_ivf_ops;
#define VS_SEC_IVF_META 32           /* the section whose presence marks an IVF index */
/* Groups of IVF indexes sharing a quantiser (ivf_search.c; index.h says what they do). */
int vs_ivf_same_quantiser(const void *a, const void *b);
int vs_ivf_search_group(const void *const *impl, size_t n, const uint8_t *const *deleted, const float *q, float qn,
                        const vs_query_params *qp, vs_topk *t, void *scratch, vf_error *err);

/* The exact internal distance of q (squared norm qn) to row r (SPEC.md 9, simd/metric.h);
   rows->norms may be NULL. */
float vs_row_distance(const vs_rows_view *rows, const float *q, float qn, size_t r);

/* A re-rank that may read its rows from disk [R-RERANK-AHEAD]: begin, then vs_rerank_row for
   each candidate before any is read (it asks the kernel for the row's pages when re-ranks
   have been faulting), then the exact distances, then end (which notes major faults). */
typedef struct vs_rerank {
    const vs_rows_view *rows;
    const float *ahead;      /* the rows' vectors when asking for them ahead, else NULL */
    long page;               /* the page size, when ahead */
    long majflt;             /* the thread's major faults at begin, when not ahead */
} vs_rerank;
void vs_rerank_begin(vs_rerank *rr, const vs_rows_view *rows);
void vs_rerank_row(const vs_rerank *rr, size_t r);
void vs_rerank_end(const vs_rerank *rr);
/* Tests: the re-ranks left to ask ahead for; set >= 0 sets it (returning the old value). */
long vs_rerank_ahead_left(long set);

#endif
