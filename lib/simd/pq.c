/*
 * pq.c - the kernels of product quantization (lib/simd/pq.h): distance tables against
 * codewords stored transposed, their argmin (the encoder's nearest codeword), and the ADC
 * lookup-sum of a search.  One set per instruction-set level (simd.h).
 *
 * Invariants: every level sums each table entry in the same order (a chain of fmaf over the
 * components, ascending), so tables, argmins, and the k-means codebooks and PQ codes built
 * from them are the same on every machine; argmin breaks ties by the lowest index on every
 * level; the fused table-argmin gives exactly the two steps' result.
 */
#include <math.h>
#include <string.h>

#include "simd/pq.h"
#include "simd/simd.h"

#define KSUB 256 /* codewords per sub-quantizer of the ADC tables (VS_PQ_KSUB) */

/* ---- transposed tables ------------------------------------------------------------------ */

/* Codewords c.. of k by the table order: each out[c] a chain of fmaf over t ascending from +0
   (the AVX kernels run the same chains, 16 or 8 codewords to a register). */
VS_INLINE void table_tail(const float *x, const float *ct, uint32_t d, uint32_t k, uint32_t c, int l2, float *out)
{
    for (; c < k; c++) {
        float s = 0;
        for (uint32_t t = 0; t < d; t++) {
            float v = ct[(size_t)t * k + c];
            s = l2 ? fmaf(x[t] - v, x[t] - v, s) : fmaf(x[t], v, s);
        }
        out[c] = s;
    }
}

/* The entries of R registers of codewords from p (R <= 4, a constant after inlining: R
   independent chains) into a. */
VS_TARGET_AVX512F VS_INLINE void block512(int l2, int R, const float *x, const float *p, uint32_t d, uint32_t k,
                                          __m512 *a)
{
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm512_setzero_ps();
    for (uint32_t t = 0; t < d; t++, p += k) {
        __m512 xv = _mm512_set1_ps(x[t]);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = vs_step512(l2, a[r], xv, _mm512_loadu_ps(p + 16 * r));
    }
}

VS_TARGET_AVX2 VS_INLINE void block256(int l2, int R, const float *x, const float *p, uint32_t d, uint32_t k,
                                       __m256 *a)
{
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm256_setzero_ps();
    for (uint32_t t = 0; t < d; t++, p += k) {
        __m256 xv = _mm256_set1_ps(x[t]);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = vs_step256(l2, a[r], xv, _mm256_loadu_ps(p + 8 * r));
    }
}

VS_TARGET_AVX512F VS_INLINE void table512(int l2, const float *x, const float *ct, uint32_t d, uint32_t k, float *out)
{
    __m512 a[4];
    uint32_t c = 0;
    for (; c + 64 <= k; c += 64) {
        block512(l2, 4, x, ct + c, d, k, a);
        for (int r = 0; r < 4; r++)
            _mm512_storeu_ps(out + c + 16 * r, a[r]);
    }
    for (; c + 16 <= k; c += 16) {
        block512(l2, 1, x, ct + c, d, k, a);
        _mm512_storeu_ps(out + c, a[0]);
    }
    table_tail(x, ct, d, k, c, l2, out);
}

VS_TARGET_AVX2 VS_INLINE void table256(int l2, const float *x, const float *ct, uint32_t d, uint32_t k, float *out)
{
    __m256 a[4];
    uint32_t c = 0;
    for (; c + 32 <= k; c += 32) {
        block256(l2, 4, x, ct + c, d, k, a);
        for (int r = 0; r < 4; r++)
            _mm256_storeu_ps(out + c + 8 * r, a[r]);
    }
    for (; c + 8 <= k; c += 8) {
        block256(l2, 1, x, ct + c, d, k, a);
        _mm256_storeu_ps(out + c, a[0]);
    }
    table_tail(x, ct, d, k, c, l2, out);
}

VS_TARGET_AVX512F static void table_512(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    if (l2)
        table512(1, x, ct, d, k, out);
    else
        table512(0, x, ct, d, k, out);
}

VS_TARGET_AVX2 static void table_256(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    if (l2)
        table256(1, x, ct, d, k, out);
    else
        table256(0, x, ct, d, k, out);
}

VS_TARGET_SCALAR static void table_scalar(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    table_tail(x, ct, d, k, 0, l2, out);
}

static uint32_t argmin_tail(const float *v, uint32_t k, uint32_t c, uint32_t arg, float *best)
{
    float b = *best;
    for (; c < k; c++)
        if (v[c] < b) {
            b = v[c];
            arg = c;
        }
    *best = b;
    return arg;
}

static uint32_t argmin_scalar(const float *v, uint32_t k, float *best)
{
    *best = v[0];
    return argmin_tail(v, k, 1, 0, best);
}

/* Each lane keeps the lowest index reaching its minimum; the lanes then
   reduce to the lowest index of the overall minimum, as the scalar scan. */
VS_TARGET_AVX512F static uint32_t argmin_512(const float *v, uint32_t k, float *best)
{
    if (k < 16)
        return argmin_scalar(v, k, best);
    __m512 bv = _mm512_loadu_ps(v);
    __m512i bi = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), ci = bi;
    const __m512i step = _mm512_set1_epi32(16);
    uint32_t c = 16;
    for (; c + 16 <= k; c += 16) {
        ci = _mm512_add_epi32(ci, step);
        __m512 x = _mm512_loadu_ps(v + c);
        __mmask16 lt = _mm512_cmp_ps_mask(x, bv, _CMP_LT_OQ);
        bv = _mm512_mask_mov_ps(bv, lt, x);
        bi = _mm512_mask_mov_epi32(bi, lt, ci);
    }
    float b = _mm512_reduce_min_ps(bv);
    __mmask16 eq = _mm512_cmp_ps_mask(bv, _mm512_set1_ps(b), _CMP_EQ_OQ);
    if (!eq) /* all NaN */
        return argmin_scalar(v, k, best);
    uint32_t arg = (uint32_t)_mm512_mask_reduce_min_epi32(eq, bi);
    *best = b;
    return argmin_tail(v, k, c, arg, best);
}

VS_TARGET_AVX2 static uint32_t argmin_256(const float *v, uint32_t k, float *best)
{
    if (k < 8)
        return argmin_scalar(v, k, best);
    __m256 bv = _mm256_loadu_ps(v);
    __m256i bi = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), ci = bi;
    const __m256i step = _mm256_set1_epi32(8);
    uint32_t c = 8;
    for (; c + 8 <= k; c += 8) {
        ci = _mm256_add_epi32(ci, step);
        __m256 x = _mm256_loadu_ps(v + c);
        __m256 lt = _mm256_cmp_ps(x, bv, _CMP_LT_OQ);
        bv = _mm256_blendv_ps(bv, x, lt);
        bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(ci), lt));
    }
    float lv[8];
    uint32_t li[8];
    _mm256_storeu_ps(lv, bv);
    _mm256_storeu_si256((__m256i *)li, bi);
    int have = 0;
    float b = 0;
    uint32_t arg = 0;
    for (int l = 0; l < 8; l++)
        if (lv[l] == lv[l] && (!have || lv[l] < b || (lv[l] == b && li[l] < arg))) {
            b = lv[l];
            arg = li[l];
            have = 1;
        }
    if (!have)
        return argmin_scalar(v, k, best);
    *best = b;
    return argmin_tail(v, k, c, arg, best);
}

/* (v1, i1) replaces (v0, i0) in the lanes where it ranks first: smaller
   value, or equal value and lower index. */
VS_TARGET_AVX512F static inline void merge_512(__m512 *v0, __m512i *i0, __m512 v1, __m512i i1)
{
    __mmask16 take = _mm512_cmp_ps_mask(v1, *v0, _CMP_LT_OQ) |
                     (_mm512_cmp_ps_mask(v1, *v0, _CMP_EQ_OQ) & _mm512_cmplt_epi32_mask(i1, *i0));
    *v0 = _mm512_mask_mov_ps(*v0, take, v1);
    *i0 = _mm512_mask_mov_epi32(*i0, take, i1);
}

/* Table and argmin in one pass for k a multiple of 64: four running minima
   per lane (one per 16-codeword slot of a 64 block), merged at the end. */
VS_TARGET_AVX512F static uint32_t table_argmin_512(const float *x, const float *ct, uint32_t d, uint32_t k, float *best)
{
    __m512 b[4], a[4];
    __m512i bi[4], ci[4];
    for (int r = 0; r < 4; r++) {
        b[r] = _mm512_set1_ps(INFINITY);
        bi[r] = _mm512_setzero_si512();
        ci[r] = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                 _mm512_set1_epi32(16 * r));
    }
    for (uint32_t c = 0; c < k; c += 64) {
        block512(1, 4, x, ct + c, d, k, a);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __mmask16 m = _mm512_cmp_ps_mask(a[r], b[r], _CMP_LT_OQ);
            b[r] = _mm512_mask_mov_ps(b[r], m, a[r]);
            bi[r] = _mm512_mask_mov_epi32(bi[r], m, ci[r]);
            ci[r] = _mm512_add_epi32(ci[r], _mm512_set1_epi32(64));
        }
    }
    merge_512(&b[0], &bi[0], b[1], bi[1]);
    merge_512(&b[2], &bi[2], b[3], bi[3]);
    merge_512(&b[0], &bi[0], b[2], bi[2]);
    float m = _mm512_reduce_min_ps(b[0]);
    __mmask16 eq = _mm512_cmp_ps_mask(b[0], _mm512_set1_ps(m), _CMP_EQ_OQ);
    if (!eq) { /* every distance NaN */
        *best = NAN;
        return 0;
    }
    *best = m;
    return (uint32_t)_mm512_mask_reduce_min_epi32(eq, bi[0]);
}

/* ---- dispatch -------------------------------------------------------------------------- */

typedef struct kernels {
    void (*table)(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out);
    uint32_t (*argmin)(const float *v, uint32_t k, float *best);
    /* table then argmin in one pass, for k a multiple of 64; NULL: the two steps */
    uint32_t (*table_argmin64)(const float *x, const float *ct, uint32_t d, uint32_t k, float *best);
} kernels;

static const kernels set_scalar = {table_scalar, argmin_scalar, NULL};
static const kernels set_avx2 = {table_256, argmin_256, NULL};
static const kernels set_avx512 = {table_512, argmin_512, table_argmin_512};

static const kernels *const sets[VS_SIMD_LEVELS] = {&set_scalar, &set_avx2, &set_avx512, &set_avx512, &set_avx512};

void vs_table_l2(const float *x, const float *ct, uint32_t d, uint32_t k, float *out)
{
    sets[vs_simd_active()]->table(x, ct, d, k, 1, out);
}

void vs_table_dot(const float *x, const float *ct, uint32_t d, uint32_t k, float scale, float *out)
{
    sets[vs_simd_active()]->table(x, ct, d, k, 0, out);
    if (scale != 1.0f)
        for (uint32_t c = 0; c < k; c++)
            out[c] *= scale;
}

void vs_tables_dot(const float *x, const float *ct, uint32_t m, uint32_t d, uint32_t k, float *out)
{
    const kernels *ks = sets[vs_simd_active()];
    for (uint32_t j = 0; j < m; j++)
        ks->table(x + (size_t)j * d, ct + (size_t)j * d * k, d, k, 0, out + (size_t)j * k);
}

uint32_t vs_argmin(const float *v, uint32_t k, float *best)
{
    return sets[vs_simd_active()]->argmin(v, k, best);
}

uint32_t vs_table_l2_argmin(const float *x, const float *ct, uint32_t d, uint32_t k, float *buf, float *best)
{
    const kernels *ks = sets[vs_simd_active()];
    if (k % 64 == 0 && ks->table_argmin64)
        return ks->table_argmin64(x, ct, d, k, best);
    ks->table(x, ct, d, k, 1, buf);
    return ks->argmin(buf, k, best);
}

/* ---- ADC ------------------------------------------------------------------------------- */

/* Two rows at a time, four codes per load: the lookups (two loads each
   otherwise) are what limits this loop.  Row sums: four partial sums over
   j mod 4, then (s0 + s1) + (s2 + s3). */
void vs_adc(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint8_t *c = codes + i * m, *e = c + m;
        const float *l = lut;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        uint32_t j = 0;
        for (; j + 4 <= m; j += 4, l += 4 * KSUB) {
            uint32_t w, v;
            memcpy(&w, c + j, 4);
            memcpy(&v, e + j, 4);
            s0 += l[w & 255];
            s1 += l[KSUB + (w >> 8 & 255)];
            s2 += l[2 * KSUB + (w >> 16 & 255)];
            s3 += l[3 * KSUB + (w >> 24)];
            t0 += l[v & 255];
            t1 += l[KSUB + (v >> 8 & 255)];
            t2 += l[2 * KSUB + (v >> 16 & 255)];
            t3 += l[3 * KSUB + (v >> 24)];
        }
        for (; j < m; j++, l += KSUB) {
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
        for (; j + 4 <= m; j += 4, l += 4 * KSUB) {
            s0 += l[c[j]];
            s1 += l[KSUB + c[j + 1]];
            s2 += l[2 * KSUB + c[j + 2]];
            s3 += l[3 * KSUB + c[j + 3]];
        }
        for (; j < m; j++, l += KSUB)
            s0 += l[c[j]];
        out[i] = (s0 + s1) + (s2 + s3);
    }
}
