/*
 * ivf_search.c - opens and searches IVF_FLAT, IVF_SQ8 and IVF_PQ
 * indexes in place on the segment's mapping (layout: ivf.h,
 * SPEC.md 5.5).
 *
 * A search ranks the nlist centroids by the query's distance (l2 and cosine:
 * squared L2 to the query, normalised for cosine; ip: -q.c), then scans the
 * nprobe nearest lists; if they held fewer than k live rows it goes on with
 * the next lists until k live rows were seen or every list was scanned.
 *  - IVF_FLAT pushes exact distances, computed on the list-ordered copy of
 *    the vectors with the same kernels as vs_row_distance (bit-identical).
 *  - IVF_SQ8 and IVF_PQ compute approximate distances from the codes.  With
 *    refine R > 0 the best R*k of them are re-ranked by exact distance from
 *    the VECTORS section and the exact distances are pushed; with refine 0
 *    the approximate distances themselves are pushed (they rank the rows as
 *    the quantizer sees them and merge only approximately with other
 *    segments' exact ones).
 * IVF_PQ is IVFADC (Jegou, Douze, Schmid, "Product quantization for nearest
 * neighbor search", IEEE TPAMI 2011) with the query-to-residual term split
 * out, so one lookup table serves every probed list:
 *   l2:     |q - c - r|^2 = |q - c|^2 + (|r|^2 + 2 c.r) - 2 q.r
 *   ip:     -(q.x)        = -(q.c) - q.r
 *   cosine: 1 - q'.x'     = 1 - q'.c - q'.r    (q', x' normalised)
 * where q.r = sum_j LUT_j[code_j], LUT_j[i] = q_j . codeword_j,i, and the
 * bracket is the PQ_TERMS value stored per row.  IVF_SQ8 likewise computes
 * q.x' = q.min + sum_t (q_t scale_t) code_t, plus |x'|^2 (SQ8_NORMS) for l2.
 *
 * Speed: the lists are ranked on a half-precision copy of the centroids
 * (AVX-512; built once per open index by the first scratch_new), since
 * reading nlist*dim floats per query rivals the scan itself; the per-list
 * terms of the PQ distance use the f32 centroids.  SQ8 weights become 16-bit
 * integers per query (multiply-add of two codes per instruction), scaled so
 * no 32-bit sum overflows.  ADC is a scalar gather-sum: gathers are no
 * faster here.  Kernels follow vs_simd_name() (VECSEG_SIMD).
 *
 * Invariants: open reads only IVF_META and the two ends of IVF_OFFSETS and
 * checks every section's length against it; a search checks each probed
 * list's offsets and each row number before use, so damaged bytes give
 * VF_ECORRUPT, never an out-of-bounds read.  Deleted rows are never pushed.
 * Searches of one index may run in parallel threads, each with its own
 * scratch; the index itself is only written under its lock (the f16 copy).
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "simd/distance.h"
#include "index/ivf/ivf.h"
#include "index/ivf/kmeans.h"

#define CHUNK 256     /* positions per distance batch */

typedef struct ivf {
    vs_ivf_meta m;
    const vs_rows_view *rows;
    size_t n;
    uint32_t d, nlist, pq_m, dsub;
    const float *cent;        /* nlist * d */
    const uint64_t *off;      /* nlist + 1 */
    const uint32_t *pos_row;  /* n */
    const float *vecs;        /* IVF_FLAT: n * d by position */
    const float *sq_min, *sq_scale;
    const uint8_t *codes;     /* SQ8: n * d; PQ: n * pq_m */
    const float *terms;       /* l2, SQ8 and PQ: n by position */
    const float *cbt;         /* PQ: pq_m * dsub * 256 */
    /* A half-precision copy of the centroids, scaled by c16_scale (a power
       of two) and padded to c16_dim (a multiple of 16) dimensions, built by
       the first scratch_new on an AVX-512 machine: ranking the lists reads
       half the bytes (the centroids outgrow L2 before anything else). */
    pthread_mutex_t lock;
    int c16_state;            /* 0 not tried, 1 ready, -1 unavailable */
    uint16_t *c16;
    float c16_scale;
    size_t c16_dim;
} ivf;

typedef struct pair {         /* a list and its distance to the query */
    float d;
    uint32_t l;
} pair;

typedef struct scratch {
    float *cd;                /* nlist: the lists' distances to the query, for ranking */
    pair *pr;                 /* nlist: the probe order */
    float *qx, *w;            /* d: the (normalised) query; SQ8 weights */
    float *q16;               /* c16_dim: the query scaled as the f16 centroids */
    float *lut;               /* PQ: pq_m * 256 */
    float sq_base;            /* SQ8: the query's constant term */
    int16_t *w16;             /* SQ8: the weights as integers ... */
    float w16_inv;            /* ... times this */
    int use16;                /* w16 is set for this query */
    float *buf;               /* CHUNK distances */
    vs_hit *cand;             /* refine candidates */
    size_t cand_cap;
} scratch;

/* ---- kernels --------------------------------------------------------------------------- */

#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))

static int simd_level(void)
{
    const char *s = vs_simd_name(); /* "avx512", "avx2", "scalar": the fourth byte tells */
    return s[3] == '5' ? 2 : s[3] == '2' ? 1 : 0;
}

/* out[i] = sum_t w[t] * codes[i*d + t], for n rows of d u8 codes. */
typedef void (*sq8_fn)(const float *w, const uint8_t *codes, size_t n, size_t d, float *out);

static void sq8_scalar(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * d;
        float s[4] = {0};
        size_t t = 0;
        for (; t + 4 <= d; t += 4)
            for (int u = 0; u < 4; u++)
                s[u] += w[t + u] * (float)c[t + u];
        for (; t < d; t++)
            s[0] += w[t] * (float)c[t];
        out[i] = (s[0] + s[1]) + (s[2] + s[3]);
    }
}

T512 static inline __m512 u8x16(const uint8_t *c)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)c)));
}

T512 static void sq8_512(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t d16 = d & ~(size_t)15, i = 0;
    /* four rows at once share each load of w */
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d16; t += 16) {
            __m512 wv = _mm512_loadu_ps(w + t);
            a0 = _mm512_fmadd_ps(wv, u8x16(c0 + t), a0);
            a1 = _mm512_fmadd_ps(wv, u8x16(c1 + t), a1);
            a2 = _mm512_fmadd_ps(wv, u8x16(c2 + t), a2);
            a3 = _mm512_fmadd_ps(wv, u8x16(c3 + t), a3);
        }
        float r[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                      _mm512_reduce_add_ps(a3)};
        for (size_t t = d16; t < d; t++) {
            r[0] += w[t] * (float)c0[t];
            r[1] += w[t] * (float)c1[t];
            r[2] += w[t] * (float)c2[t];
            r[3] += w[t] * (float)c3[t];
        }
        memcpy(out + i, r, sizeof r);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * d;
        __m512 a = _mm512_setzero_ps();
        for (size_t t = 0; t < d16; t += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(w + t), u8x16(c + t), a);
        float r = _mm512_reduce_add_ps(a);
        for (size_t t = d16; t < d; t++)
            r += w[t] * (float)c[t];
        out[i] = r;
    }
}

T256 static inline __m256 u8x8(const uint8_t *c)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c)));
}

T256 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

T256 static void sq8_256(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t d8 = d & ~(size_t)7, i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d8; t += 8) {
            __m256 wv = _mm256_loadu_ps(w + t);
            a0 = _mm256_fmadd_ps(wv, u8x8(c0 + t), a0);
            a1 = _mm256_fmadd_ps(wv, u8x8(c1 + t), a1);
            a2 = _mm256_fmadd_ps(wv, u8x8(c2 + t), a2);
            a3 = _mm256_fmadd_ps(wv, u8x8(c3 + t), a3);
        }
        float r[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (size_t t = d8; t < d; t++) {
            r[0] += w[t] * (float)c0[t];
            r[1] += w[t] * (float)c1[t];
            r[2] += w[t] * (float)c2[t];
            r[3] += w[t] * (float)c3[t];
        }
        memcpy(out + i, r, sizeof r);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * d;
        __m256 a = _mm256_setzero_ps();
        for (size_t t = 0; t < d8; t += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(w + t), u8x8(c + t), a);
        float r = hsum256(a);
        for (size_t t = d8; t < d; t++)
            r += w[t] * (float)c[t];
        out[i] = r;
    }
}

/* The integer form of the SQ8 dot product: out[i] = inv * sum_t w[t] *
   codes[i*d + t] with 16-bit weights (prepare scales them so that no 32-bit
   sum can overflow), two codes per multiply-add: half the instructions of
   the float kernels for the same bytes. */
typedef void (*sq8i_fn)(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out);

static int32_t sq8i_tail(const int16_t *w, const uint8_t *c, size_t t, size_t d)
{
    int32_t s = 0;
    for (; t < d; t++)
        s += (int32_t)w[t] * c[t];
    return s;
}

#define T512BW __attribute__((target("avx512f,avx512bw")))

T512BW static inline __m512i u8x32(const uint8_t *c)
{
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)c));
}

T512BW static void sq8i_512(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out)
{
    size_t d32 = d & ~(size_t)31, i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d32; t += 32) {
            __m512i wv = _mm512_loadu_si512((const void *)(w + t));
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(wv, u8x32(c0 + t)));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(wv, u8x32(c1 + t)));
            a2 = _mm512_add_epi32(a2, _mm512_madd_epi16(wv, u8x32(c2 + t)));
            a3 = _mm512_add_epi32(a3, _mm512_madd_epi16(wv, u8x32(c3 + t)));
        }
        out[i] = (float)(_mm512_reduce_add_epi32(a0) + sq8i_tail(w, c0, d32, d)) * inv;
        out[i + 1] = (float)(_mm512_reduce_add_epi32(a1) + sq8i_tail(w, c1, d32, d)) * inv;
        out[i + 2] = (float)(_mm512_reduce_add_epi32(a2) + sq8i_tail(w, c2, d32, d)) * inv;
        out[i + 3] = (float)(_mm512_reduce_add_epi32(a3) + sq8i_tail(w, c3, d32, d)) * inv;
    }
    for (; i < n; i++) {
        const uint8_t *c0 = codes + i * d;
        __m512i a0 = _mm512_setzero_si512();
        for (size_t t = 0; t < d32; t += 32)
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w + t)), u8x32(c0 + t)));
        out[i] = (float)(_mm512_reduce_add_epi32(a0) + sq8i_tail(w, c0, d32, d)) * inv;
    }
}

T256 static inline __m256i u8x16i(const uint8_t *c)
{
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)c));
}

T256 static int32_t hsum256i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

T256 static void sq8i_256(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out)
{
    size_t d16 = d & ~(size_t)15, i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d16; t += 16) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(w + t));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(wv, u8x16i(c0 + t)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(wv, u8x16i(c1 + t)));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(wv, u8x16i(c2 + t)));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(wv, u8x16i(c3 + t)));
        }
        out[i] = (float)(hsum256i(a0) + sq8i_tail(w, c0, d16, d)) * inv;
        out[i + 1] = (float)(hsum256i(a1) + sq8i_tail(w, c1, d16, d)) * inv;
        out[i + 2] = (float)(hsum256i(a2) + sq8i_tail(w, c2, d16, d)) * inv;
        out[i + 3] = (float)(hsum256i(a3) + sq8i_tail(w, c3, d16, d)) * inv;
    }
    for (; i < n; i++) {
        const uint8_t *c0 = codes + i * d;
        __m256i a0 = _mm256_setzero_si256();
        for (size_t t = 0; t < d16; t += 16)
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + t)), u8x16i(c0 + t)));
        out[i] = (float)(hsum256i(a0) + sq8i_tail(w, c0, d16, d)) * inv;
    }
}

/* ADC: out[i] = sum_j lut[j*256 + codes[i*m + j]], for n rows of m codes. */
typedef void (*adc_fn)(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out);

/* Two rows at a time, four codes per load: the lookups (two loads each
   otherwise) are what limits this loop.  Row sums: four partial sums over
   j mod 4, then (s0 + s1) + (s2 + s3). */
static void adc_scalar(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint8_t *c = codes + i * m, *e = c + m;
        const float *l = lut;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        uint32_t j = 0;
        for (; j + 4 <= m; j += 4, l += 4 * VS_PQ_KSUB) {
            uint32_t w, v;
            memcpy(&w, c + j, 4);
            memcpy(&v, e + j, 4);
            s0 += l[w & 255];
            s1 += l[VS_PQ_KSUB + (w >> 8 & 255)];
            s2 += l[2 * VS_PQ_KSUB + (w >> 16 & 255)];
            s3 += l[3 * VS_PQ_KSUB + (w >> 24)];
            t0 += l[v & 255];
            t1 += l[VS_PQ_KSUB + (v >> 8 & 255)];
            t2 += l[2 * VS_PQ_KSUB + (v >> 16 & 255)];
            t3 += l[3 * VS_PQ_KSUB + (v >> 24)];
        }
        for (; j < m; j++, l += VS_PQ_KSUB) {
            s0 += l[c[j]];
            t0 += l[e[j]];
        }
        out[i] = (s0 + s1) + (s2 + s3);
        out[i + 1] = (t0 + t1) + (t2 + t3);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * m;
        const float *l = lut;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        uint32_t j = 0;
        for (; j + 4 <= m; j += 4, l += 4 * VS_PQ_KSUB) {
            s0 += l[c[j]];
            s1 += l[VS_PQ_KSUB + c[j + 1]];
            s2 += l[2 * VS_PQ_KSUB + c[j + 2]];
            s3 += l[3 * VS_PQ_KSUB + c[j + 3]];
        }
        for (; j < m; j++, l += VS_PQ_KSUB)
            s0 += l[c[j]];
        out[i] = (s0 + s1) + (s2 + s3);
    }
}

/* Squared L2 (or dot) of q against n f16 rows of dp (a multiple of 16)
   components: ranking the lists only, the exact values come from f32. */
T512 static void c16_many_512(const float *q, const uint16_t *c, size_t n, size_t dp, int dot, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint16_t *c0 = c + i * dp, *c1 = c0 + dp, *c2 = c1 + dp, *c3 = c2 + dp;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < dp; t += 16) {
            __m512 qv = _mm512_loadu_ps(q + t);
            __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c0 + t)));
            __m512 v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c1 + t)));
            __m512 v2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c2 + t)));
            __m512 v3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c3 + t)));
            if (dot) {
                a0 = _mm512_fmadd_ps(qv, v0, a0);
                a1 = _mm512_fmadd_ps(qv, v1, a1);
                a2 = _mm512_fmadd_ps(qv, v2, a2);
                a3 = _mm512_fmadd_ps(qv, v3, a3);
            } else {
                v0 = _mm512_sub_ps(qv, v0);
                v1 = _mm512_sub_ps(qv, v1);
                v2 = _mm512_sub_ps(qv, v2);
                v3 = _mm512_sub_ps(qv, v3);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
                a1 = _mm512_fmadd_ps(v1, v1, a1);
                a2 = _mm512_fmadd_ps(v2, v2, a2);
                a3 = _mm512_fmadd_ps(v3, v3, a3);
            }
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const uint16_t *c0 = c + i * dp;
        __m512 a0 = _mm512_setzero_ps();
        for (size_t t = 0; t < dp; t += 16) {
            __m512 qv = _mm512_loadu_ps(q + t);
            __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(c0 + t)));
            if (dot)
                a0 = _mm512_fmadd_ps(qv, v0, a0);
            else {
                v0 = _mm512_sub_ps(qv, v0);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
            }
        }
        out[i] = _mm512_reduce_add_ps(a0);
    }
}

/* Converts n rows of d floats, times scale, to f16 rows of dp (zero padded). */
T512 static void to_f16_512(const float *c, size_t n, size_t d, float scale, size_t dp, uint16_t *out)
{
    float tmp[16];
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < dp; t += 16) {
            for (size_t u = 0; u < 16; u++)
                tmp[u] = t + u < d ? c[i * d + t + u] * scale : 0.0f;
            __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(tmp), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm256_storeu_si256((__m256i *)(out + i * dp + t), h);
        }
}

/* Builds the f16 copy once per open index (under the lock); leaves
   c16_state -1 when the CPU set is not AVX-512, the centroids are not all
   finite, or memory is short. */
static void c16_build(ivf *x)
{
    pthread_mutex_lock(&x->lock);
    if (x->c16_state == 0) {
        x->c16_state = -1;
        size_t n = x->nlist, d = x->d, dp = (d + 15) & ~(size_t)15;
        float mx = 0;
        int finite = 1;
        for (size_t i = 0; i < n * d; i++) {
            float a = fabsf(x->cent[i]);
            finite &= isfinite(a);
            mx = a > mx ? a : mx;
        }
        if (simd_level() == 2 && finite) {
            /* the largest value maps to [16384, 32768): far from f16's
               overflow (65504), and a power of two scales exactly */
            int e = 0;
            frexpf(mx > 0 ? mx : 1.0f, &e);
            float scale = ldexpf(1.0f, 15 - e);
            x->c16 = malloc(n * dp * sizeof *x->c16);
            if (x->c16) {
                to_f16_512(x->cent, n, d, scale, dp, x->c16);
                x->c16_scale = scale;
                x->c16_dim = dp;
                x->c16_state = 1;
            }
        }
    }
    pthread_mutex_unlock(&x->lock);
}

typedef struct kernels {
    sq8_fn sq8;
    sq8i_fn sq8i;             /* NULL: use sq8 */
    adc_fn adc;
} kernels;

static kernels kernels_pick(void)
{
    switch (simd_level()) {
    case 2:
        return (kernels){sq8_512, __builtin_cpu_supports("avx512bw") ? sq8i_512 : NULL, adc_scalar};
    case 1:
        return (kernels){sq8_256, sq8i_256, adc_scalar};
    default:
        return (kernels){sq8_scalar, NULL, adc_scalar};
    }
}

/* ---- open ------------------------------------------------------------------------------ */

/* The section of type `type`, which must be exactly `want` bytes long. */
static int need(const vf_seg *seg, uint32_t type, uint64_t want, const void **out, vf_error *err)
{
    uint64_t len = 0;
    const void *p = vf_seg_section(seg, type, &len);
    if (!p)
        return vf_fail(err, VF_ECORRUPT, "ivf: section %u is missing", type);
    if (len != want)
        return vf_fail(err, VF_ECORRUPT, "ivf: section %u is %llu bytes, expected %llu", type,
                       (unsigned long long)len, (unsigned long long)want);
    *out = p;
    return 0;
}

static int ivf_open(void **impl, const vf_seg *seg, const vs_rows_view *rows, vf_error *err)
{
    *impl = NULL;
    uint64_t len = 0;
    const void *p = vf_seg_section(seg, VS_SEC_IVF_META, &len);
    vs_ivf_meta m;
    int rc = vs_ivf_meta_decode(p, len, &m, err);
    if (rc)
        return rc;
    const vf_seg_info *info = vf_seg_get_info(seg);
    if (m.dim != info->dim || m.metric != info->metric || m.rows != info->rows)
        return vf_fail(err, VF_ECORRUPT, "ivf meta: dim %u, metric %u, rows %llu disagree with the header", m.dim,
                       m.metric, (unsigned long long)m.rows);
    if (rows->n != m.rows || rows->dim != m.dim || (uint32_t)rows->metric != m.metric)
        return vf_fail(err, VF_EARG, "ivf: the rows given do not match the index");
    ivf *x = calloc(1, sizeof *x);
    if (!x)
        return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
    x->m = m;
    pthread_mutex_init(&x->lock, NULL);
    x->rows = rows;
    x->n = (size_t)m.rows;
    x->d = m.dim;
    x->nlist = m.nlist;
    x->pq_m = m.pq_m;
    uint64_t n = m.rows, d = m.dim;
    const void *v;
    int l2 = m.metric == VF_METRIC_L2;
    rc = need(seg, VS_SEC_IVF_CENTROIDS, (uint64_t)m.nlist * d * 4, &v, err);
    x->cent = v;
    if (!rc) {
        rc = need(seg, VS_SEC_IVF_OFFSETS, ((uint64_t)m.nlist + 1) * 8, &v, err);
        x->off = v;
    }
    if (!rc) {
        rc = need(seg, VS_SEC_IVF_ROWS, n * 4, &v, err);
        x->pos_row = v;
    }
    if (!rc && m.kind == VS_INDEX_IVF_FLAT) {
        rc = need(seg, VS_SEC_IVF_VECTORS, n * d * 4, &v, err);
        x->vecs = v;
    }
    if (!rc && m.kind == VS_INDEX_IVF_SQ8) {
        rc = need(seg, VS_SEC_SQ8_PARAMS, 2 * d * 4, &v, err);
        x->sq_min = v;
        x->sq_scale = x->sq_min + d;
        if (!rc) {
            rc = need(seg, VS_SEC_SQ8_CODES, n * d, &v, err);
            x->codes = v;
        }
        if (!rc && l2) {
            rc = need(seg, VS_SEC_SQ8_NORMS, n * 4, &v, err);
            x->terms = v;
        }
    }
    if (!rc && m.kind == VS_INDEX_IVF_PQ) {
        x->dsub = m.dim / m.pq_m;
        rc = need(seg, VS_SEC_PQ_CODEBOOKS, d * VS_PQ_KSUB * 4, &v, err);
        x->cbt = v;
        if (!rc) {
            rc = need(seg, VS_SEC_PQ_CODES, n * m.pq_m, &v, err);
            x->codes = v;
        }
        if (!rc && l2) {
            rc = need(seg, VS_SEC_PQ_TERMS, n * 4, &v, err);
            x->terms = v;
        }
    }
    if (!rc && (x->off[0] != 0 || x->off[m.nlist] != n))
        rc = vf_fail(err, VF_ECORRUPT, "ivf: list offsets run from %llu to %llu, expected 0 to %llu",
                     (unsigned long long)x->off[0], (unsigned long long)x->off[m.nlist], (unsigned long long)n);
    if (rc) {
        pthread_mutex_destroy(&x->lock);
        free(x);
        return rc;
    }
    *impl = x;
    return 0;
}

static void ivf_close(void *impl)
{
    ivf *x = impl;
    if (!x)
        return;
    pthread_mutex_destroy(&x->lock);
    free(x->c16);
    free(x);
}

static void *ivf_scratch_new(const void *impl)
{
    ivf *x = (ivf *)impl; /* ours, from ivf_open: only the lazy f16 copy changes */
    c16_build(x);
    scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q16 = malloc(((x->d + 15) & ~(size_t)15) * sizeof *s->q16);
    s->cd = malloc(x->nlist * sizeof *s->cd);
    s->pr = malloc(x->nlist * sizeof *s->pr);
    s->qx = malloc(x->d * sizeof *s->qx);
    s->w = malloc(x->d * sizeof *s->w);
    s->lut = malloc(((size_t)x->pq_m * VS_PQ_KSUB + 1) * sizeof *s->lut);
    s->buf = malloc(CHUNK * sizeof *s->buf);
    s->w16 = malloc(x->d * sizeof *s->w16);
    if (!s->w16 || !s->cd || !s->pr || !s->qx || !s->w || !s->lut || !s->buf || !s->q16) {
        free(s->q16);
        free(s->w16);
        free(s->cd);
        free(s->pr);
        free(s->qx);
        free(s->w);
        free(s->lut);
        free(s->buf);
        free(s);
        return NULL;
    }
    return s;
}

static void ivf_scratch_free(void *p)
{
    scratch *s = p;
    if (!s)
        return;
    free(s->cd);
    free(s->pr);
    free(s->qx);
    free(s->w);
    free(s->lut);
    free(s->buf);
    free(s->cand);
    free(s->q16);
    free(s->w16);
    free(s);
}

/* ---- search ---------------------------------------------------------------------------- */

static int pair_before(pair a, pair b) { return a.d < b.d || (a.d == b.d && a.l < b.l); }

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return pair_before(*x, *y) ? -1 : pair_before(*y, *x) ? 1 : 0;
}

static void sift_down(pair *h, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && pair_before(h[c], h[c + 1]))
            c++;
        if (!pair_before(h[i], h[c]))
            return;
        pair t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* The np nearest lists, ascending by (distance, list): a max-heap of np
   over all lists, then heapsort.  NaN distances were mapped to +inf, so the
   order is total and equals the first np of a full sort. */
static void select_lists(const float *cd, uint32_t nlist, uint32_t np, pair *h)
{
    for (uint32_t l = 0; l < nlist; l++) {
        pair p = {cd[l], l};
        if (l < np) {
            h[l] = p;
            if (l + 1 == np)
                for (size_t i = np / 2; i-- > 0;)
                    sift_down(h, np, i);
        } else if (pair_before(p, h[0])) {
            h[0] = p;
            sift_down(h, np, 0);
        }
    }
    for (size_t e = np; e > 1; e--) {
        pair t = h[0];
        h[0] = h[e - 1];
        h[e - 1] = t;
        sift_down(h, e - 1, 0);
    }
}

/* The exact internal distance of row r, as vs_row_distance, also when the
   segment has no NORMS section. */
static float exact_dist(const vs_rows_view *rows, const float *q, float qn, size_t r)
{
    if (rows->metric != VF_METRIC_COSINE || rows->norms)
        return vs_row_distance(rows, q, qn, r);
    const float *x = rows->vecs + r * rows->dim;
    float dot = vs_dot(q, x, rows->dim), xn = vs_dot(x, x, rows->dim);
    float den = sqrtf(qn) * sqrtf(xn);
    return den > 0 ? 1.0f - dot / den : 1.0f;
}

typedef struct run {
    const ivf *x;
    scratch *s;
    kernels kr;
    const float *q, *qx;      /* the query; normalised for cosine */
    float qn;
    const uint8_t *deleted;
    vs_topk *out;             /* where hits go: t, or the refine candidates */
    size_t live;              /* live rows seen */
} run;

static int bad_row(uint32_t r, size_t p, vf_error *err)
{
    return vf_fail(err, VF_ECORRUPT, "ivf: row number %u at position %zu is out of range", r, p);
}

/* Scans list l: distances of its positions in chunks, pushed into r->out. */
static int scan_list(run *r, uint32_t l, vf_error *err)
{
    const ivf *x = r->x;
    scratch *s = r->s;
    uint64_t lo = x->off[l], hi = x->off[l + 1];
    if (lo > hi || hi > x->n)
        return vf_fail(err, VF_ECORRUPT, "ivf: list %u spans positions %llu..%llu of %zu", l,
                       (unsigned long long)lo, (unsigned long long)hi, x->n);
    size_t d = x->d;
    int metric = (int)x->m.metric;
    /* the per-list constant of the approximate distance */
    float base = 0;
    if (x->m.kind == VS_INDEX_IVF_PQ) {
        const float *c = x->cent + (size_t)l * d;
        base = metric == VF_METRIC_L2 ? vs_l2sq(r->qx, c, d)
               : metric == VF_METRIC_IP ? -vs_dot(r->qx, c, d)
                                        : 1.0f - vs_dot(r->qx, c, d);
    } else if (x->m.kind == VS_INDEX_IVF_SQ8)
        base = s->sq_base;
    for (size_t p0 = (size_t)lo; p0 < hi; p0 += CHUNK) {
        size_t cnt = hi - p0 < CHUNK ? (size_t)(hi - p0) : CHUNK;
        float *buf = s->buf;
        switch (x->m.kind) {
        case VS_INDEX_IVF_FLAT:
            if (metric == VF_METRIC_L2)
                vs_l2sq_many(r->q, x->vecs + p0 * d, cnt, d, buf);
            else
                vs_dot_many(r->q, x->vecs + p0 * d, cnt, d, buf);
            break;
        case VS_INDEX_IVF_SQ8:
            if (s->use16)
                r->kr.sq8i(s->w16, x->codes + p0 * d, cnt, d, s->w16_inv, buf);
            else
                r->kr.sq8(s->w, x->codes + p0 * d, cnt, d, buf);
            break;
        default:
            r->kr.adc(s->lut, x->codes + p0 * x->pq_m, cnt, x->pq_m, buf);
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t p = p0 + i;
            uint32_t row = x->pos_row[p];
            if (row >= x->n)
                return bad_row(row, p, err);
            if (r->deleted && (r->deleted[row >> 3] >> (row & 7) & 1))
                continue;
            r->live++;
            float dist;
            if (x->m.kind == VS_INDEX_IVF_FLAT) {
                if (metric == VF_METRIC_L2)
                    dist = buf[i];
                else if (metric == VF_METRIC_IP)
                    dist = -buf[i];
                else {
                    const float *xr = x->rows->vecs + (size_t)row * d;
                    float xn = x->rows->norms ? x->rows->norms[row] : vs_dot(xr, xr, d);
                    float den = sqrtf(r->qn) * sqrtf(xn);
                    dist = den > 0 ? 1.0f - buf[i] / den : 1.0f;
                }
            } else
                dist = base + (x->terms ? x->terms[p] : 0.0f) + buf[i];
            vs_topk_push(r->out, dist, row);
        }
    }
    return 0;
}

/* Query-side set-up: the normalised query (returned), the lists' ranking
   distances, and the SQ8 weights or the PQ lookup table. */
static const float *prepare(const ivf *x, scratch *s, const float *q, float qn, int want16)
{
    uint32_t d = x->d, nlist = x->nlist;
    int metric = (int)x->m.metric;
    const float *qx = q;
    if (metric == VF_METRIC_COSINE) {
        float inv = qn > 0 ? 1.0f / sqrtf(qn) : 0.0f;
        for (uint32_t t = 0; t < d; t++)
            s->qx[t] = q[t] * inv;
        qx = s->qx;
    }
    if (x->c16_state == 1 && simd_level() == 2) {
        for (size_t t = 0; t < x->c16_dim; t++)
            s->q16[t] = t < d ? qx[t] * x->c16_scale : 0.0f;
        c16_many_512(s->q16, x->c16, nlist, x->c16_dim, metric == VF_METRIC_IP, s->cd);
    } else if (metric == VF_METRIC_IP)
        vs_dot_many(qx, x->cent, nlist, d, s->cd);
    else
        vs_l2sq_many(qx, x->cent, nlist, d, s->cd);
    for (uint32_t l = 0; l < nlist; l++) {
        if (metric == VF_METRIC_IP)
            s->cd[l] = -s->cd[l];
        if (isnan(s->cd[l]))
            s->cd[l] = INFINITY;
    }
    if (x->m.kind == VS_INDEX_IVF_SQ8) {
        /* l2: |q - x'|^2 = qn - 2 q.min + |x'|^2 + sum_t (-2 q_t s_t) c_t
           ip: -q.x' = -q.min + sum_t (-q_t s_t) c_t;  cosine: 1 + the ip form */
        float f = metric == VF_METRIC_L2 ? -2.0f : -1.0f;
        double qm = 0;
        for (uint32_t t = 0; t < d; t++) {
            qm += (double)qx[t] * x->sq_min[t];
            s->w[t] = f * qx[t] * x->sq_scale[t];
        }
        s->sq_base = metric == VF_METRIC_L2 ? (float)(qn - 2.0 * qm)
                    : metric == VF_METRIC_IP ? (float)-qm
                                             : (float)(1.0 - qm);
        s->use16 = 0;
        if (want16) {
            /* w16 = w * 2^e, the largest power of two keeping every |w16|
               and every row's sum (d codes of at most 255) in range */
            float mw = 0;
            for (uint32_t t = 0; t < d; t++)
                mw = fabsf(s->w[t]) > mw ? fabsf(s->w[t]) : mw;
            double lim = floor(2147483647.0 / (255.0 * d)) - 1;
            lim = lim < 32767 ? lim : 32767;
            if (isfinite(mw) && lim >= 1) {
                int e = 0;
                frexp(mw > 0 ? lim / mw : 1.0, &e);
                float ws = ldexpf(1.0f, e - 1);
                for (uint32_t t = 0; t < d; t++)
                    s->w16[t] = (int16_t)lrintf(s->w[t] * ws);
                s->w16_inv = 1.0f / ws;
                s->use16 = 1;
            }
        }
    } else if (x->m.kind == VS_INDEX_IVF_PQ) {
        /* the factor goes into the query (exact: a power of two) */
        float f = metric == VF_METRIC_L2 ? -2.0f : -1.0f;
        for (uint32_t t = 0; t < d; t++)
            s->w[t] = f * qx[t];
        vs_tables_dot(s->w, x->cbt, x->pq_m, x->dsub, VS_PQ_KSUB, s->lut);
    }
    return qx;
}

static int ivf_search(const void *impl, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                      vs_topk *t, void *vscratch, vf_error *err)
{
    const ivf *x = impl;
    scratch *s = vscratch;
    size_t k = t->k;
    if (!s)
        return vf_fail(err, VF_ENOMEM, "ivf: no scratch memory");
    if (k == 0 || x->n == 0)
        return 0;
    uint32_t nlist = x->nlist;
    uint32_t np = qp && qp->nprobe ? qp->nprobe : vs_ivf_nprobe_default(nlist);
    if (np > nlist)
        np = nlist;
    size_t refine = qp && x->m.kind != VS_INDEX_IVF_FLAT ? qp->refine : 0;
    run r = {.x = x, .s = s, .kr = kernels_pick(), .q = q, .qn = qn, .deleted = deleted, .out = t};
    vs_topk cand;
    if (refine) {
        size_t cap = refine * k;
        if (cap / k != refine || cap > x->n)
            cap = x->n;
        if (cap > s->cand_cap) {
            vs_hit *c = realloc(s->cand, cap * sizeof *c);
            if (!c)
                return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
            s->cand = c;
            s->cand_cap = cap;
        }
        vs_topk_init(&cand, s->cand, cap);
        r.out = &cand;
    }
    r.qx = prepare(x, s, q, qn, r.kr.sq8i != NULL);
    select_lists(s->cd, nlist, np, s->pr);
    for (uint32_t i = 0; i < np; i++) {
        int rc = scan_list(&r, s->pr[i].l, err);
        if (rc)
            return rc;
    }
    if (r.live < k && np < nlist) {
        /* too few live rows in the nearest lists: go on in the same order */
        for (uint32_t l = 0; l < nlist; l++)
            s->pr[l] = (pair){s->cd[l], l};
        qsort(s->pr, nlist, sizeof *s->pr, pair_cmp);
        for (uint32_t i = np; i < nlist && r.live < k; i++) {
            int rc = scan_list(&r, s->pr[i].l, err);
            if (rc)
                return rc;
        }
    }
    if (refine)
        for (size_t i = 0; i < cand.n; i++) {
            size_t row = (size_t)cand.h[i].id;
            vs_topk_push(t, exact_dist(x->rows, q, qn, row), row);
        }
    return 0;
}

const vs_index_ops vs_ivf_ops = {ivf_open, ivf_close, ivf_scratch_new, ivf_scratch_free, ivf_search};
