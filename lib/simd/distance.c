/*
 * distance.c - squared L2 and dot-product kernels between float32 vectors, one set per
 * instruction-set level (simd.h), and the candidate scan of batched search.
 *
 * Invariants:
 *  - Every level sums in the blocked order of simd.h, so vs_l2sq, vs_dot and their _many forms
 *    give the same bits on every level: a NORMS section, an HNSW graph or a k-means assignment
 *    built from them does not depend on the machine.  The AVX-512 kernel is the order's natural
 *    shape (four 16-lane accumulators); AVX2 holds each accumulator in two registers; the scalar
 *    kernel keeps them in an array and steps them with fmaf (VS_TARGET_SCALAR).
 *  - The _many kernels only interleave several rows, each with its own accumulators, so
 *    out[i] is bit-identical to the single-pair call on the same row.
 *  - Tails are loaded with masks (zeros in the unused lanes, which the order's zero padding
 *    expects), so no kernel reads a byte past the end of a vector.
 */
#include <math.h>
#include <stdint.h>

#include "simd/distance.h"
#include "simd/metric.h"
#include "simd/simd.h"

enum { OP_L2 = 0, OP_DOT = 1 };

typedef struct kernels {
    float (*l2sq)(const float *, const float *, size_t);
    float (*dot)(const float *, const float *, size_t);
    void (*l2sq_many)(const float *, const float *, size_t, size_t, float *);
    void (*dot_many)(const float *, const float *, size_t, size_t, float *);
    size_t (*scan_le)(const float *, const float *, size_t, float, float, float, float, uint32_t *);
    size_t (*scan_le1)(const float *, size_t, float, uint32_t *);
    void (*cosine_many)(float *, const float *, size_t, float);
} kernels;

/* ---- scalar ---------------------------------------------------------------------------- */

VS_INLINE float step1(int op, float s, float q, float x)
{
    if (op == OP_L2) {
        float t = q - x;
        return fmaf(t, t, s);
    }
    return fmaf(q, x, s);
}

/* The blocked order of simd.h spelled out, with A[j][l] at A[16 * j + l]: term i of a whole
   group goes to A[i mod 64]. */
VS_INLINE float kern1(int op, const float *q, const float *x, size_t d)
{
    float A[64] = {0}, S[16];
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        for (int l = 0; l < 64; l++)
            A[l] = step1(op, A[l], q[i + l], x[i + l]);
    for (int j = 0; i + 16 <= d; i += 16, j++)
        for (int l = 0; l < 16; l++)
            A[16 * j + l] = step1(op, A[16 * j + l], q[i + l], x[i + l]);
    if (i < d)
        for (size_t l = 0; l < 16; l++) /* the last group, padded with zero terms */
            A[48 + l] = step1(op, A[48 + l], i + l < d ? q[i + l] : 0.0f, i + l < d ? x[i + l] : 0.0f);
    for (int l = 0; l < 16; l++)
        S[l] = (A[l] + A[16 + l]) + (A[32 + l] + A[48 + l]);
    return vs_tree16(S);
}

VS_TARGET_SCALAR static float l2sq_scalar(const float *a, const float *b, size_t d) { return kern1(OP_L2, a, b, d); }
VS_TARGET_SCALAR static float dot_scalar(const float *a, const float *b, size_t d) { return kern1(OP_DOT, a, b, d); }

VS_TARGET_SCALAR static void l2sq_many_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = kern1(OP_L2, q, x + i * d, d);
}

VS_TARGET_SCALAR static void dot_many_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = kern1(OP_DOT, q, x + i * d, d);
}

/* Row j is a candidate when a*p[j] + b*c[j] + g*c[j]*p[j] <= thr. */
static size_t scan_le_scalar(const float *c, const float *p, size_t n, float a, float b, float g, float thr,
                             uint32_t *idx)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        float s = a * p[j] + b * c[j] + g * c[j] * p[j];
        idx[m] = (uint32_t)j;
        m += s <= thr;
    }
    return m;
}

static size_t scan_le1_scalar(const float *c, size_t n, float thr, uint32_t *idx)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        idx[m] = (uint32_t)j;
        m += c[j] <= thr;
    }
    return m;
}

/* The reference the vector levels match bit for bit: sqrt, *, / and - are each rounded once
   (IEEE), and lanes whose product of norms is not above 0 (zero vectors, NaN) take 1. */
static void cosine_many_scalar(float *c, const float *xn, size_t n, float qs)
{
    for (size_t j = 0; j < n; j++)
        c[j] = vs_metric_cosine(c[j], qs, sqrtf(xn[j]));
}

/* ---- vector kernels -------------------------------------------------------------------- */

/*
 * The _many kernels read their rows as several sequential streams (AVX-512: four, the block's
 * quarters; AVX2: three): one query at a time, rows out of cache, one stream reads about 0.8x as
 * fast as one thread can read (d = 784, AVX2), three or four keep up with it.  Prefetching this
 * far ahead of each stream lifts throughput a few percent over the hardware prefetcher alone;
 * 8 KB ahead, with several streams, was slower than 2 KB (0.93x at d = 100, AVX2).
 * Address arithmetic goes through uintptr_t and prefetches never fault, so running past the end
 * of the rows is harmless.  The single-pair calls do not prefetch: their caller's next row is
 * anywhere.
 */
#define PREFETCH_BYTES 2048

VS_INLINE void prefetch(const float *p)
{
    __builtin_prefetch((const void *)((uintptr_t)p + PREFETCH_BYTES), 0, 3);
}

/* ---- AVX-512F: accumulator A[j] in one register ---------------------------------------- */

/*
 * Distances from q to the R rows x, x + step*d, ... (R <= 4, a constant after inlining) into
 * out[0], out[step], ...  The query block is loaded once per step and shared by the R rows.
 */
VS_TARGET_AVX512F VS_INLINE void kern512(int op, const float *q, const float *x, size_t d, int R, int pf,
                                         size_t step, float *out)
{
    __m512 s[4][4];
    const float *row[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        row[r] = x + (size_t)r * step * d;
        s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm512_setzero_ps();
    }
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        if (pf) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    prefetch(row[r] + i + 16 * j);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512 qv = _mm512_loadu_ps(q + i + 16 * j);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][j] = vs_step512(op == OP_L2, s[r][j], qv, _mm512_loadu_ps(row[r] + i + 16 * j));
        }
    }
    size_t rem = d - i;
    if (pf) /* the tail's lines too: at d = 96 they are a third of the row */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            for (size_t o = i; o < d; o += 16)
                prefetch(row[r] + o);
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
        if (rem >= 16 * (size_t)(j + 1)) {
            __m512 qv = _mm512_loadu_ps(q + i + 16 * j);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][j] = vs_step512(op == OP_L2, s[r][j], qv, _mm512_loadu_ps(row[r] + i + 16 * j));
        }
    }
    if (rem & 15) {
        size_t o = i + (rem & ~(size_t)15);
        __mmask16 m = vs_mask16(rem & 15);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + o);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            s[r][3] = vs_step512(op == OP_L2, s[r][3], qv, _mm512_maskz_loadu_ps(m, row[r] + o));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r * step] = vs_hsum512(_mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), _mm512_add_ps(s[r][2], s[r][3])));
}

VS_TARGET_AVX512F static float l2sq_avx512(const float *a, const float *b, size_t d)
{
    float r;
    kern512(OP_L2, a, b, d, 1, 0, 1, &r);
    return r;
}

VS_TARGET_AVX512F static float dot_avx512(const float *a, const float *b, size_t d)
{
    float r;
    kern512(OP_DOT, a, b, d, 1, 0, 1, &r);
    return r;
}

VS_TARGET_AVX512F VS_INLINE void many512(int op, const float *q, const float *x, size_t n, size_t d, float *out)
{
    /* rows i, i + n/4, i + n/2, i + 3n/4 together: four streams keep more reads in flight
       than one (the hardware prefetcher follows each) */
    size_t m = n / 4, i = 0;
    for (; i < m; i++)
        kern512(op, q, x + i * d, d, 4, 1, m, out + i);
    for (i = 4 * m; i < n; i++)
        kern512(op, q, x + i * d, d, 1, 1, 1, out + i);
}

VS_TARGET_AVX512F static void l2sq_many_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    many512(OP_L2, q, x, n, d, out);
}

VS_TARGET_AVX512F static void dot_many_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    many512(OP_DOT, q, x, n, d, out);
}

VS_TARGET_AVX512F static size_t scan_le_avx512(const float *c, const float *p, size_t n, float a, float b,
                                               float g, float thr, uint32_t *idx)
{
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vg = _mm512_set1_ps(g), vt = _mm512_set1_ps(thr);
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t m = 0, j = 0;
    for (; j < n; j += 16) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : vs_mask16(n - j);
        __m512 cv = _mm512_maskz_loadu_ps(live, c + j), pv = _mm512_maskz_loadu_ps(live, p + j);
        __m512 sv = _mm512_fmadd_ps(va, pv, _mm512_fmadd_ps(vb, cv, _mm512_mul_ps(vg, _mm512_mul_ps(cv, pv))));
        __mmask16 hit = _mm512_mask_cmp_ps_mask(live, sv, vt, _CMP_LE_OQ);
        if (hit) {
            __m512i jv = _mm512_add_epi32(lane, _mm512_set1_epi32((int)j));
            _mm512_mask_compressstoreu_epi32(idx + m, hit, jv);
            m += (size_t)__builtin_popcount(hit);
        }
    }
    return m;
}

VS_TARGET_AVX512F static size_t scan_le1_avx512(const float *c, size_t n, float thr, uint32_t *idx)
{
    __m512 vt = _mm512_set1_ps(thr);
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t m = 0;
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : vs_mask16(n - j);
        __mmask16 hit = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, c + j), vt, _CMP_LE_OQ);
        if (hit) {
            _mm512_mask_compressstoreu_epi32(idx + m, hit, _mm512_add_epi32(lane, _mm512_set1_epi32((int)j)));
            m += (size_t)__builtin_popcount(hit);
        }
    }
    return m;
}

VS_TARGET_AVX512F static void cosine_many_avx512(float *c, const float *xn, size_t n, float qs)
{
    __m512 vq = _mm512_set1_ps(qs), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : vs_mask16(n - j);
        __m512 den = _mm512_mul_ps(vq, _mm512_sqrt_ps(_mm512_maskz_loadu_ps(live, xn + j)));
        __mmask16 pos = _mm512_cmp_ps_mask(den, zero, _CMP_GT_OQ);
        __m512 r = _mm512_sub_ps(one, _mm512_div_ps(_mm512_maskz_loadu_ps(live, c + j), den));
        _mm512_mask_storeu_ps(c + j, live, _mm512_mask_blend_ps(pos, one, r));
    }
}

/* ---- AVX2 + FMA: accumulator A[j] in two registers, lanes 0-7 and 8-15 ---------------- */

/* As kern512: rows x, x + step*d, ... (R <= 4) into out[0], out[step], ...  With R > 1 the
   8R accumulators do not all fit the 16 ymm registers: the compiler keeps some in memory (a
   load and a store each per 64 terms, from L1), cheaper than the reads a single stream leaves
   idle. */
VS_TARGET_AVX2 VS_INLINE void kern256(int op, const float *q, const float *x, size_t d, int R, int pf, size_t step,
                                      float *out)
{
    __m256 s[4][4][2];
    const float *row[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        row[r] = x + (size_t)r * step * d;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            s[r][j][0] = s[r][j][1] = _mm256_setzero_ps();
    }
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        if (pf) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    prefetch(row[r] + i + 16 * j);
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m256 qv = _mm256_loadu_ps(q + i + 8 * k);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][k >> 1][k & 1] =
                    vs_step256(op == OP_L2, s[r][k >> 1][k & 1], qv, _mm256_loadu_ps(row[r] + i + 8 * k));
        }
    }
    size_t rem = d - i;
    if (pf) /* the tail's lines too */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            for (size_t o = i; o < d; o += 16)
                prefetch(row[r] + o);
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++)
        if (rem >= 16 * (size_t)(j + 1))
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256 qv = _mm256_loadu_ps(q + i + 16 * j + 8 * h);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    s[r][j][h] =
                        vs_step256(op == OP_L2, s[r][j][h], qv, _mm256_loadu_ps(row[r] + i + 16 * j + 8 * h));
            }
    if (rem & 15) {
        size_t o = i + (rem & ~(size_t)15);
        int p = (int)(rem & 15);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) { /* lanes 8-15 step with zeros when p <= 8, as padding asks */
            __m256i m = vs_mask256(p - 8 * h);
            __m256 qv = _mm256_maskload_ps(q + o + 8 * h, m);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][3][h] = vs_step256(op == OP_L2, s[r][3][h], qv, _mm256_maskload_ps(row[r] + o + 8 * h, m));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        __m256 lo = _mm256_add_ps(_mm256_add_ps(s[r][0][0], s[r][1][0]), _mm256_add_ps(s[r][2][0], s[r][3][0]));
        __m256 hi = _mm256_add_ps(_mm256_add_ps(s[r][0][1], s[r][1][1]), _mm256_add_ps(s[r][2][1], s[r][3][1]));
        out[r * step] = vs_hsum256(_mm256_add_ps(lo, hi));
    }
}

VS_TARGET_AVX2 static float l2sq_avx2(const float *a, const float *b, size_t d)
{
    float r;
    kern256(OP_L2, a, b, d, 1, 0, 1, &r);
    return r;
}

VS_TARGET_AVX2 static float dot_avx2(const float *a, const float *b, size_t d)
{
    float r;
    kern256(OP_DOT, a, b, d, 1, 0, 1, &r);
    return r;
}

VS_TARGET_AVX2 VS_INLINE void many256(int op, const float *q, const float *x, size_t n, size_t d, float *out)
{
    /* three streams, the block's thirds: rows out of cache read as fast as with four (within
       5%), and rows in L2 faster (about 1.1x at d = 96, 1.3x at d = 784), as four rows' 32
       accumulators spill half their registers */
    size_t m = n / 3, i = 0;
    for (; i < m; i++)
        kern256(op, q, x + i * d, d, 3, 1, m, out + i);
    for (i = 3 * m; i < n; i++)
        kern256(op, q, x + i * d, d, 1, 1, 1, out + i);
}

VS_TARGET_AVX2 static void l2sq_many_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    many256(OP_L2, q, x, n, d, out);
}

VS_TARGET_AVX2 static void dot_many_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    many256(OP_DOT, q, x, n, d, out);
}

VS_TARGET_AVX2 static size_t scan_le_avx2(const float *c, const float *p, size_t n, float a, float b, float g,
                                          float thr, uint32_t *idx)
{
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vg = _mm256_set1_ps(g), vt = _mm256_set1_ps(thr);
    size_t m = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 cv = _mm256_loadu_ps(c + j), pv = _mm256_loadu_ps(p + j);
        __m256 sv = _mm256_fmadd_ps(va, pv, _mm256_fmadd_ps(vb, cv, _mm256_mul_ps(vg, _mm256_mul_ps(cv, pv))));
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(sv, vt, _CMP_LE_OQ));
        while (bits) {
            idx[m++] = (uint32_t)(j + (size_t)__builtin_ctz(bits));
            bits &= bits - 1;
        }
    }
    for (; j < n; j++) {
        float sv = a * p[j] + b * c[j] + g * c[j] * p[j];
        idx[m] = (uint32_t)j;
        m += sv <= thr;
    }
    return m;
}

VS_TARGET_AVX2 static size_t scan_le1_avx2(const float *c, size_t n, float thr, uint32_t *idx)
{
    __m256 vt = _mm256_set1_ps(thr);
    size_t m = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(c + j), vt, _CMP_LE_OQ));
        while (bits) {
            idx[m++] = (uint32_t)(j + (size_t)__builtin_ctz(bits));
            bits &= bits - 1;
        }
    }
    for (; j < n; j++) {
        idx[m] = (uint32_t)j;
        m += c[j] <= thr;
    }
    return m;
}

VS_TARGET_AVX2 static void cosine_many_avx2(float *c, const float *xn, size_t n, float qs)
{
    __m256 vq = _mm256_set1_ps(qs), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 den = _mm256_mul_ps(vq, _mm256_sqrt_ps(_mm256_loadu_ps(xn + j)));
        __m256 r = _mm256_sub_ps(one, _mm256_div_ps(_mm256_loadu_ps(c + j), den));
        _mm256_storeu_ps(c + j, _mm256_blendv_ps(one, r, _mm256_cmp_ps(den, zero, _CMP_GT_OQ)));
    }
    cosine_many_scalar(c + j, xn + j, n - j, qs);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static const kernels set_scalar = {l2sq_scalar,    dot_scalar,      l2sq_many_scalar,  dot_many_scalar,
                                   scan_le_scalar, scan_le1_scalar, cosine_many_scalar};
static const kernels set_avx2 = {l2sq_avx2,    dot_avx2,      l2sq_many_avx2,  dot_many_avx2,
                                 scan_le_avx2, scan_le1_avx2, cosine_many_avx2};
static const kernels set_avx512 = {l2sq_avx512,    dot_avx512,      l2sq_many_avx512,  dot_many_avx512,
                                   scan_le_avx512, scan_le1_avx512, cosine_many_avx512};

static const kernels *const sets[VS_SIMD_LEVELS] = {&set_scalar, &set_avx2, &set_avx512, &set_avx512, &set_avx512};

float vs_l2sq(const float *a, const float *b, size_t d)
{
    return sets[vs_simd_active()]->l2sq(a, b, d);
}

float vs_dot(const float *a, const float *b, size_t d)
{
    return sets[vs_simd_active()]->dot(a, b, d);
}

void vs_l2sq_many(const float *q, const float *x, size_t n, size_t d, float *out)
{
    sets[vs_simd_active()]->l2sq_many(q, x, n, d, out);
}

void vs_dot_many(const float *q, const float *x, size_t n, size_t d, float *out)
{
    sets[vs_simd_active()]->dot_many(q, x, n, d, out);
}

size_t vs_scan_le(const float *c, const float *p, size_t n, float a, float b, float g, float thr, uint32_t *idx)
{
    return sets[vs_simd_active()]->scan_le(c, p, n, a, b, g, thr, idx);
}

size_t vs_scan_le1(const float *c, size_t n, float thr, uint32_t *idx)
{
    return sets[vs_simd_active()]->scan_le1(c, n, thr, idx);
}

void vs_cosine_many(float *c, const float *xn, size_t n, float qs)
{
    sets[vs_simd_active()]->cosine_many(c, xn, n, qs);
}
