/*
 * index.h - the indexes a sealed segment carries (inside lib/; the index
 * types, their names and parameter limits are in vecseg.h's advanced part).
 * Each index is one or more sections of the segment file
 * (SPEC.md section 5.5), written by a build function and searched in place
 * through the segment's mapping: opening an index reads only its small
 * metadata section, so it costs the same whatever the segment's size.
 *
 * Rows are numbered 0..n-1 in the segment's VECTORS order.  A search pushes
 * (internal distance, row number) hits into a vs_topk; the caller maps row
 * numbers to ids.  Internal distances are those of SPEC.md section 9.
 * Damaged index bytes must give VF_ECORRUPT, never a crash: every row number
 * and offset read from a section is checked before use.
 */
#ifndef VS_INDEX_H
#define VS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "search/topk.h"
#include "vecseg_format.h"
#define VECSEG_STATIC_LINKING_ONLY /* index types, their names and parameter limits */
#include "vecseg.h"

typedef struct vs_build_params {
    int type;                /* enum vs_index_type */
    uint32_t M;              /* HNSW: links per node on upper levels (2*M on level 0) */
    uint32_t ef_construction;
    uint32_t nlist;          /* IVF: lists; 0 = about 4*sqrt(n) */
    uint32_t pq_m;           /* IVF_PQ: sub-quantizers (must divide dim); 0 = dim/4 rounded to a divisor */
    uint64_t seed;           /* every random choice derives from it: same input, same bytes */
    int threads;             /* 0 = all cores */
} vs_build_params;

/* The rows an index is built over or searches: the segment's own sections.
   A segment whose vectors live apart (SPEC.md 5.6.1) has vecs NULL and cold
   set: vs_index_search maps them when a search needs them (re-ranking), and
   vs_rows_vecs then gives them. */
typedef struct vs_rows_view {
    const float *vecs;       /* n * dim, or NULL when apart */
    const float *norms;      /* n squared L2 norms */
    size_t n;
    uint32_t dim;
    int metric;              /* VF_METRIC_* */
    const vf_seg *cold;      /* the segment whose vectors are apart, or NULL */
} vs_rows_view;

/* rows->vecs, or the cold vectors once mapped (NULL before). */
const float *vs_rows_vecs(const vs_rows_view *rows);

/* Builds the index of bp->type over rows and appends its sections to w
   (after the FLAT sections).  AUTO must be resolved by the caller first
   (vs_index_auto).  Deterministic for a given seed and thread count. */
int vs_index_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err);

/* The type AUTO picks for a segment of n rows: FLAT, HNSW or IVF_PQ by the
   VS_AUTO_HNSW_ROWS_MIN/MAX thresholds (vecseg.h). */
int vs_index_auto(size_t n, uint32_t dim, int metric);

/* Search-time parameters; zero means the index's default. */
typedef struct vs_query_params {
    uint32_t ef;             /* HNSW: candidate list size (>= k) */
    uint32_t nprobe;         /* IVF: lists visited */
    uint32_t refine;         /* IVF_PQ, IVF_SQ8: re-rank the best refine*k by exact distance; 0 = none */
} vs_query_params;

typedef struct vs_index vs_index;

/* Opens the index a segment carries, or sets *ix to NULL for a FLAT one.
   Reads and checks only the index's metadata section.  rows stays owned by
   the caller and must outlive ix. */
int vs_index_open(vs_index **ix, const vf_seg *seg, const vs_rows_view *rows, vf_error *err);
void vs_index_close(vs_index *ix);   /* accepts NULL */
int vs_index_type_of(const vs_index *ix);

/* Scratch memory one thread needs for searches of ix (visited sets, candidate
   heaps); free with vs_index_scratch_free. */
void *vs_index_scratch_new(const vs_index *ix);
void vs_index_scratch_free(const vs_index *ix, void *scratch);

/* Searches one query q (dim floats, qn its squared norm): pushes its best
   hits, as (internal distance, row number), into t (capacity k), skipping
   rows whose bit is set in deleted (may be NULL), so t still fills to k when
   enough live rows exist.  Returns 0 or VF_ECORRUPT when the index's bytes
   are damaged. */
int vs_index_search(const vs_index *ix, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                    vs_topk *t, void *scratch, vf_error *err);

#endif
