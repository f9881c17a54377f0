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

/* A trained IVF quantiser: what segments sharing it hold byte for byte (SPEC.md 5.5.2):
   the coarse centroids and, for IVF_PQ, the codebooks, for IVF_SQ8 the parameters. */
typedef struct vs_ivf_quant {
    uint32_t kind, dim, metric, nlist, pq_m;
    uint32_t train_rows;     /* the coarse k-means sample (informational, copied to IVF_META) */
    uint64_t rows;           /* vs_ivf_quant_read: the rows of the segment it came from */
    float *cent;             /* nlist * dim */
    float *cbt;              /* IVF_PQ: dim * 256, transposed as PQ_CODEBOOKS */
    float *sq;               /* IVF_SQ8: min[dim], scale[dim] */
} vs_ivf_quant;

typedef struct vs_build_params {
    int type;                /* enum vs_index_type */
    uint32_t M;              /* HNSW: links per node on upper levels (2*M on level 0) */
    uint32_t ef_construction;
    uint32_t nlist;          /* IVF: lists; 0 = about 4*sqrt(n) */
    uint32_t pq_m;           /* IVF_PQ: sub-quantizers (must divide dim); 0 = dim/4 rounded to a divisor */
    uint64_t seed;           /* every random choice derives from it: same input, same bytes */
    int threads;             /* 0 = all cores */
    const vs_ivf_quant *quant; /* IVF: encode with this quantiser (its nlist, pq_m) instead of
                                  training one; NULL trains on the rows */
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

/* Trains the quantiser an IVF index of bp->type would (bp->nlist lists, clamped to the rows;
   bp->pq_m; bp->seed) on rows, a sample of the rows it will serve.  Release with
   vs_ivf_quant_release.  Deterministic for a given seed, whatever bp->threads. */
int vs_ivf_quant_train(const vs_build_params *bp, const vs_rows_view *rows, vs_ivf_quant *q, vf_error *err);

/* Drift (SPEC.md 5.5.2, [R-IVF-DRIFT]): how far rows lie from q's centroids, against how far
   q's own rows lie.  Takes up to VS_IVF_DRIFT_ROWS of own (nown rows) and of rows (nrows),
   chosen with seed, and gives for each side the mean squared L2 distance of its rows to their
   nearest centroid (cosine: of the normalised row, as an index assigns it); an empty side's
   mean is 0.  Both are dim floats a row, in q's metric.  Returns 0, VF_EARG or VF_ENOMEM. */
#define VS_IVF_DRIFT_ROWS 8192
int vs_ivf_quant_drift(const vs_ivf_quant *q, const float *own, size_t nown, const float *rows, size_t nrows,
                       uint64_t seed, int threads, double *own_mean, double *rows_mean, vf_error *err);

/* The quantiser of seg's IVF index: its fields, and with copy its arrays (malloc'd);
   VF_ENOENT when seg has none. */
int vs_ivf_quant_read(const vf_seg *seg, int copy, vs_ivf_quant *q, vf_error *err);
void vs_ivf_quant_release(vs_ivf_quant *q); /* accepts NULL */

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

/* A lower bound on the internal distance (SPEC.md section 9) of q (squared norm qn) to every
   row of ix's segment, deleted or not, from the segment's summary (SPEC.md 5.5.1
   HNSW_SUMMARY), never above the distance a search of ix would push for a row; -INFINITY
   when ix has none (a segment written before summaries, FLAT or IVF).  Costs O(c * dim), c
   the summary's centres (at most 64). */
float vs_index_lower_bound(const vs_index *ix, const float *q, float qn);
/* The summary's centres, 0 when ix has none. */
uint32_t vs_index_summary_count(const vs_index *ix);
/* search/search.c: the segment searches that summaries let run and pass over since the
   process started, over every thread (for measurements). */
void vs_search_summary_counts(unsigned long long *searched, unsigned long long *skipped);

/* Groups (SPEC.md 5.5.2): IVF indexes whose quantisers are byte-identical search as one.
   vs_index_same_quantiser: whether b may join the group a leads (1) or not (0); the first
   yes for a pair is confirmed byte by byte and remembered, so later calls cost a compare.
   vs_index_search_group: searches the n indexes ix (each vs_index_same_quantiser with ix[0])
   as one index over their rows: the lists ranked and the PQ or SQ8 tables built once, the
   nprobe nearest lists scanned in every member, the refine candidates and the k best taken
   over the group.  Hits go to t as (internal distance, member << 32 | row number).
   deleted[i] is member i's deleted bitmap (may be NULL; deleted itself may be NULL).
   scratch: vs_index_scratch_new(ix[0]). */
int vs_index_same_quantiser(const vs_index *a, const vs_index *b);
int vs_index_search_group(const vs_index *const *ix, size_t n, const uint8_t *const *deleted, const float *q, float qn,
                          const vs_query_params *qp, vs_topk *t, void *scratch, vf_error *err);

#endif
