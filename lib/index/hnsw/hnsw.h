/*
 * hnsw.h - the on-disk layout of the HNSW index (lib/ internal), shared by
 * hnsw_build.c (which writes it) and hnsw_search.c (which walks it in place); the code
 * kernels are lib/simd/codes.c.  The graph is the Hierarchical Navigable Small World
 * graph of Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs" (2016, IEEE TPAMI 2018).
 *
 * Three sections (SPEC.md 5.5, HNSW):
 *   16 HNSW_META   fixed fields, the scalar quantizer (per-dimension offset and step), CRC-32
 *   17 HNSW_NODES  one block of `stride` bytes per graph node, in a locality order (breadth
 *                  first from the entry, so a node's neighbours sit in few pages): the 8-bit
 *                  code, f32 aux (L2: squared norm of the decoded code; IP: the row's
 *                  MIPS-to-L2 augmentation sqrt(max|x|^2 - |x|^2), used by the build), u32 upper
 *                  (offset of the node's upper-level record in HNSW_UPPER, or HNSW_NO_UPPER),
 *                  u32 row (the segment row the node stands for), u32 count, u32 links[M0]
 *                  (level-0 neighbours as node numbers, the first count valid), zero padding
 *   18 HNSW_UPPER  u32 words: per node of level >= 1, [level L][L times: count, links[M]]
 * The walk reads only HNSW_NODES codes and links, so one hop touches one run of cache lines;
 * all its results are re-ranked with exact distances from the raw VECTORS.
 */
#ifndef VS_INDEX_HNSW_H
#define VS_INDEX_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "index/index_internal.h"
#include "simd/codes.h"

#define VS_SEC_HNSW_NODES 17
#define VS_SEC_HNSW_UPPER 18

#define HNSW_VERSION 1
#define HNSW_CODE_U8 1          /* code_kind: one byte per dimension, x_j ~ off_j + step_j * c_j */
#define HNSW_META_FIXED 64      /* bytes before the quantizer arrays */
#define HNSW_NO_UPPER 0xFFFFFFFFu
#define HNSW_MAX_LEVEL 31
#define HNSW_DIM_MAX 65536      /* the manifest's limit (SPEC.md 3); keeps the u32 block offsets exact */

/* Search defaults (documented in SPEC.md 5.5): ef = max(k, HNSW_EF_DEFAULT); every walk
   result is re-ranked exactly, or the best vs_query_params.refine * k when refine is set. */
#define HNSW_EF_DEFAULT 64
/* Rows of VECTORS prefetched ahead of the one being re-ranked. */
#define HNSW_PF_ROWS 4
/* Neighbours whose codes are prefetched ahead of the one being scored: enough to keep about
   HNSW_PF_LINES cache lines in flight, 2 to 8 nodes (measured: 8 for 128-byte codes in DRAM,
   2 to 4 for 784-byte codes). */
#define HNSW_PF_LINES 24
static inline uint32_t hnsw_pf_ahead(uint32_t code_bytes)
{
    uint32_t lines = (code_bytes + 63) / 64, a = HNSW_PF_LINES / (lines ? lines : 1);
    return a < 2 ? 2 : a > 8 ? 8 : a;
}

/* Byte offsets inside a node block, derived from dim and M0 alone. */
static inline uint32_t hnsw_aux_off(uint32_t dim) { return (dim + 3u) & ~3u; }
static inline uint32_t hnsw_upper_off(uint32_t dim) { return hnsw_aux_off(dim) + 4; }
static inline uint32_t hnsw_row_off(uint32_t dim) { return hnsw_aux_off(dim) + 8; }
static inline uint32_t hnsw_count_off(uint32_t dim) { return hnsw_aux_off(dim) + 12; }
static inline uint32_t hnsw_links_off(uint32_t dim) { return hnsw_aux_off(dim) + 16; }
static inline uint64_t hnsw_stride(uint32_t dim, uint32_t m0)
{
    return ((uint64_t)hnsw_links_off(dim) + 4ull * m0 + 63) & ~63ull;
}

/* The fixed part of HNSW_META, as stored (little-endian host assumed, as in all of lib/). */
typedef struct hnsw_meta {
    uint32_t version;        /* 0: HNSW_VERSION */
    uint32_t dim;            /* 4 */
    uint32_t metric;         /* 8 */
    uint32_t M;              /* 12: links per node on levels >= 1 */
    uint32_t M0;             /* 16: links per node on level 0 */
    uint32_t ef_construction;/* 20 */
    uint64_t rows;           /* 24 */
    uint32_t max_level;      /* 32 */
    uint32_t entry;          /* 36: the entry node, on level max_level */
    uint32_t stride;         /* 40: bytes per node block */
    uint32_t code_kind;      /* 44: HNSW_CODE_U8 */
    uint64_t upper_words;    /* 48: u32 words in HNSW_UPPER */
    uint64_t seed;           /* 56: the build seed (informational) */
} hnsw_meta;

/* ---- the prepared query ------------------------------------------------------------ */

/* The approximate distance of a prepared query to a node is
   c0 + ca * aux + sq * dot(q16, code), the dot product exact in int32 (simd/codes.h): q16 are
   the query's per-dimension weights w quantized to [-Q, Q] with the one step sq
   (vs_hnsw_query_quantize). */
typedef struct hnsw_query {
    float *w;                /* dim float weights, or qo in the L2 form (room supplied by the caller) */
    int8_t *q8;              /* unused: room the build still supplies */
    int16_t *q16;            /* dim quantized weights */
    float c0, ca, sq;
    vs_code_dot_fn dot;
    vs_code_dots_fn dots;    /* dot over many nodes: the search scores a hop's neighbours at once */
    /* the L2 form (hnsw_l2_form): the distance is l2(w, step, code) and aux is not read */
    const float *step;
    vs_code_l2_fn l2;
} hnsw_query;

/* Whether l2 walks use the L2 form rather than the dot form: when aux would sit alone on a
   cache line after the code (dim a multiple of 64, or nearly), the L2 form, which needs no aux,
   reads one line fewer per node; otherwise the dot form's 8-bit integer kernel is cheaper. */
static inline int hnsw_l2_form(int metric, uint32_t dim)
{
    return metric == VF_METRIC_L2 && hnsw_aux_off(dim) + 4 > ((dim + 63u) & ~63u);
}

/* The level of row r (hnsw_build.c): floor(-ln(u) / ln(M)), at most HNSW_MAX_LEVEL,
   with u = (h >> 11 + 0.5) / 2^53 and h = splitmix64(seed XOR splitmix64(r)). */
int vs_hnsw_level(uint64_t seed, uint64_t r, uint32_t M);

/* Test hook (tests/unit/test_hnsw.c): the build's neighbour heuristic decides what it can from
   the codes' error bounds when > 0, computes every exact distance it compares when < 0, and
   chooses by the dimension when 0 (the default); the bytes written are the same. */
extern int vs_hnsw_build_bounds;

/* Test hook (tests/unit/test_hnsw.c): when nonzero, the build recomputes every distance its
   walk scores in batches one node at a time, counting them in vs_hnsw_build_checked and those
   that differ in a bit in vs_hnsw_build_mismatched (both updated atomically). */
extern int vs_hnsw_build_check;
extern unsigned long vs_hnsw_build_checked, vs_hnsw_build_mismatched;

/* ---- the query-side quantizer shared by build and search (hnsw_search.c) --------- */

/* Fills hq (w and q16 with room for dim values each) for query q of squared norm qn, with
   the quantizer off/step of metric: L2 w = -2 q*step, c0 = qn - 2 q.off, ca = 1; IP
   w = -q*step, c0 = -q.off, ca = 0; cosine the IP form of q/|q| plus 1 (c0 = 1 and w = 0 when
   |q| = 0).  Then quantizes w (vs_hnsw_query_quantize).  For the L2 form (hnsw_l2_form)
   instead w = q - off and the L2 kernel, with c0 = ca = 0. */
void vs_hnsw_query_prep(hnsw_query *hq, const float *q, float qn, int metric, const float *off, const float *step,
                     uint32_t dim);

/* Quantizes hq->w into q16 and sets sq and dot: sq = max|w| / Q, q16 = round(w / sq), with
   Q = min(32767, floor((2^31 - 1) / (255 dim))) so that the int32 sum cannot overflow. */
void vs_hnsw_query_quantize(hnsw_query *hq, uint32_t dim);

#endif
