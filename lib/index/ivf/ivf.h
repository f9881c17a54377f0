/*
 * ivf.h - the byte layout of the IVF family of indexes (IVF_FLAT,
 * IVF_SQ8, IVF_PQ) and what ivf.c, ivf_build.c and
 * ivf_search.c share (lib/ internal).  SPEC.md section 5.5 (IVF)
 * specifies every byte; the names here match its tables.
 *
 * An IVF index partitions the rows into nlist inverted lists, one per
 * coarse centroid (k-means, kmeans.c).  Every list-ordered section stores
 * its per-row records by *position*: list l holds positions
 * offsets[l] .. offsets[l+1]-1, and ROWS maps a position to its row number.
 * A probe therefore scans contiguous memory.
 */
#ifndef VS_INDEX_IVF_H
#define VS_INDEX_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "index/index_internal.h"

/* Section types (32..47 IVF, 48..63 quantizers).  VS_SEC_IVF_META (32) is in
   index_internal.h; its first u32 is the kind, read by index.c. */
#define VS_SEC_IVF_CENTROIDS 33   /* f32[nlist][dim] */
#define VS_SEC_IVF_OFFSETS 34     /* u64[nlist + 1] */
#define VS_SEC_IVF_ROWS 35        /* u32[rows]: row number of each position */
#define VS_SEC_IVF_VECTORS 36     /* IVF_FLAT: f32[rows][dim] by position */
#define VS_SEC_SQ8_PARAMS 48      /* IVF_SQ8: f32 min[dim], f32 scale[dim] */
#define VS_SEC_SQ8_CODES 49       /* IVF_SQ8: u8[rows][dim] by position */
#define VS_SEC_SQ8_NORMS 50       /* IVF_SQ8, l2 only: f32[rows], |decoded|^2 by position */
#define VS_SEC_PQ_CODEBOOKS 56    /* IVF_PQ: f32[pq_m][dsub][256] (transposed codebooks) */
#define VS_SEC_PQ_CODES 57        /* IVF_PQ: u8[rows][pq_m] by position */
#define VS_SEC_PQ_TERMS 58        /* IVF_PQ, l2 only: f32[rows], |r|^2 + 2 c.r by position */

/* IVF_META: 64 bytes, CRC-32 of bytes 0..59 at 60. */
#define VS_IVF_META_SIZE 64
/* Version 2 (SPEC.md 5.5.2): nlist may exceed rows (a shared quantiser's lists, some empty);
   a writer writes 2 only then, so a segment a version-1 reader can search keeps version 1. */
#define VS_IVF_VERSION 2
#define VS_PQ_KSUB 256            /* codewords per sub-quantizer (8-bit codes) */
#define VS_PQ_BITS 8

typedef struct vs_ivf_meta {
    uint32_t kind;                /* VS_INDEX_IVF_FLAT, _IVF_PQ or _IVF_SQ8 */
    uint32_t dim, metric, nlist;
    uint64_t rows;
    uint32_t pq_m, pq_bits;       /* IVF_PQ only, else 0 */
    uint32_t max_list;            /* informational: longest list */
    uint64_t seed;                /* informational */
    uint32_t train_rows;          /* informational: coarse k-means sample */
} vs_ivf_meta;

/* The version m needs: 2 when nlist exceeds rows, else 1. */
uint32_t vs_ivf_meta_version(const vs_ivf_meta *m);

/* Serialises m into out (VS_IVF_META_SIZE bytes, CRC included). */
void vs_ivf_meta_encode(const vs_ivf_meta *m, uint8_t *out);

/* Parses and checks an IVF_META section of len bytes: size, CRC, reserved
   bytes, version, kind, and the fields' ranges against each other.
   Returns 0, VF_EVERSION (a newer layout) or VF_ECORRUPT. */
int vs_ivf_meta_decode(const void *p, uint64_t len, vs_ivf_meta *m, vf_error *err);

/* Defaults (SPEC.md 5.5, index.h).
   nlist: round(4 * sqrt(n)), clamped to [1, min(n, VS_IVF_NLIST_MAX)].
   pq_m: the divisor of dim nearest dim / 4 by ratio (the smaller on ties),
   at most VS_PQ_M_MAX: sub-vectors of about 4 dimensions (784 -> 196,
   128 -> 32, a prime p -> p when p <= 256).
   nprobe: round(sqrt(nlist)), at least 8, at most nlist. */
uint32_t vs_ivf_nlist_default(size_t n);
uint32_t vs_ivf_pq_m_default(uint32_t dim);
uint32_t vs_ivf_nprobe_default(uint32_t nlist);

/* Coarse k-means: FAISS's IVF settings (at most 256 rows per centroid). */
#define VS_IVF_TRAIN_ITERS 10
#define VS_IVF_TRAIN_PER_LIST 256
/* PQ codebooks: k-means per sub-quantizer on residuals of a sample. */
#define VS_PQ_TRAIN_ITERS 20
#define VS_PQ_TRAIN_ROWS 32768

#endif
