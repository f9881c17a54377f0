/*
 * index.h - the indexes a sealed segment carries (the advanced part of the
 * lib/ API; vecseg.h includes it).  Each index is one or more sections of the segment file
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

enum vs_index_type {
    VS_INDEX_FLAT = 0,      /* no index sections: exact scan */
    VS_INDEX_HNSW = 1,
    VS_INDEX_IVF_FLAT = 2,
    VS_INDEX_IVF_PQ = 3,
    VS_INDEX_IVF_SQ8 = 4,
    VS_INDEX_AUTO = 99      /* chosen by segment size and metric at build time */
};

/* "flat", "hnsw", "ivf_flat", "ivf_pq", "ivf_sq8", "auto"; parse returns -1 if unknown. */
const char *vs_index_type_name(int type);
/* The SPEC.md name of a section type ("VECTORS", "HNSW_NODES", ...), "unknown" for others. */
const char *vs_section_name(uint32_t type);
/* One line describing segment s's index from its META section (opened and checked by
   vf_seg_open and vs_index_open): "index hnsw M=16 ..." as key=value words, "index flat"
   without index sections.  out receives at most len bytes, NUL included. */
int vs_index_describe(const vf_seg *s, char *out, size_t len, vf_error *err);
int vs_index_type_parse(const char *name);

/* Build parameters; zero means the default.  DEFAULT/MIN/MAX per tunable. */
#define VS_HNSW_M_DEFAULT 16
#define VS_HNSW_M_MIN 2
#define VS_HNSW_M_MAX 128
#define VS_HNSW_EFC_DEFAULT 200
#define VS_HNSW_EFC_MIN 8
#define VS_HNSW_EFC_MAX 4096
#define VS_IVF_NLIST_MIN 1
#define VS_IVF_NLIST_MAX 65536
#define VS_PQ_M_MIN 1
#define VS_PQ_M_MAX 256

typedef struct vs_build_params {
    int type;                /* enum vs_index_type */
    uint32_t M;              /* HNSW: links per node on upper levels (2*M on level 0) */
    uint32_t ef_construction;
    uint32_t nlist;          /* IVF: lists; 0 = about 4*sqrt(n) */
    uint32_t pq_m;           /* IVF_PQ: sub-quantizers (must divide dim); 0 = dim/4 rounded to a divisor */
    uint64_t seed;           /* every random choice derives from it: same input, same bytes */
    int threads;             /* 0 = all cores */
} vs_build_params;

/* The rows an index is built over or searches: the segment's own sections. */
typedef struct vs_rows_view {
    const float *vecs;       /* n * dim */
    const float *norms;      /* n squared L2 norms */
    size_t n;
    uint32_t dim;
    int metric;              /* VF_METRIC_* */
} vs_rows_view;

/* Builds the index of bp->type over rows and appends its sections to w
   (after the FLAT sections).  AUTO must be resolved by the caller first
   (vs_index_auto).  Deterministic for a given seed and thread count. */
int vs_index_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err);

/* The type AUTO picks for a segment of n rows: FLAT when small, HNSW up to a
   few million rows, IVF_PQ above. */
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
