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

VS_TARGET_AVX512F static void table_512(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    uint32_t c = 0;
    /* four blocks of 16 codewords at once: independent FMA chains */
    for (; c + 64 <= k; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]);
            __m512 v0 = _mm512_loadu_ps(p), v1 = _mm512_loadu_ps(p + 16);
            __m512 v2 = _mm512_loadu_ps(p + 32), v3 = _mm512_loadu_ps(p + 48);
            if (l2) {
                v0 = _mm512_sub_ps(xv, v0);
                v1 = _mm512_sub_ps(xv, v1);
                v2 = _mm512_sub_ps(xv, v2);
                v3 = _mm512_sub_ps(xv, v3);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
                a1 = _mm512_fmadd_ps(v1, v1, a1);
                a2 = _mm512_fmadd_ps(v2, v2, a2);
                a3 = _mm512_fmadd_ps(v3, v3, a3);
            } else {
                a0 = _mm512_fmadd_ps(xv, v0, a0);
                a1 = _mm512_fmadd_ps(xv, v1, a1);
                a2 = _mm512_fmadd_ps(xv, v2, a2);
                a3 = _mm512_fmadd_ps(xv, v3, a3);
            }
        }
        _mm512_storeu_ps(out + c, a0);
        _mm512_storeu_ps(out + c + 16, a1);
        _mm512_storeu_ps(out + c + 32, a2);
        _mm512_storeu_ps(out + c + 48, a3);
    }
    for (; c + 16 <= k; c += 16) {
        __m512 a0 = _mm512_setzero_ps();
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]), v0 = _mm512_loadu_ps(p);
            if (l2) {
                v0 = _mm512_sub_ps(xv, v0);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
            } else
                a0 = _mm512_fmadd_ps(xv, v0, a0);
        }
        _mm512_storeu_ps(out + c, a0);
    }
    table_tail(x, ct, d, k, c, l2, out);
}

VS_TARGET_AVX2 static void table_256(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    uint32_t c = 0;
    for (; c + 32 <= k; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m256 xv = _mm256_set1_ps(x[t]);
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
            __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            if (l2) {
                v0 = _mm256_sub_ps(xv, v0);
                v1 = _mm256_sub_ps(xv, v1);
                v2 = _mm256_sub_ps(xv, v2);
                v3 = _mm256_sub_ps(xv, v3);
                a0 = _mm256_fmadd_ps(v0, v0, a0);
                a1 = _mm256_fmadd_ps(v1, v1, a1);
                a2 = _mm256_fmadd_ps(v2, v2, a2);
                a3 = _mm256_fmadd_ps(v3, v3, a3);
            } else {
                a0 = _mm256_fmadd_ps(xv, v0, a0);
                a1 = _mm256_fmadd_ps(xv, v1, a1);
                a2 = _mm256_fmadd_ps(xv, v2, a2);
                a3 = _mm256_fmadd_ps(xv, v3, a3);
            }
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
    }
    for (; c + 8 <= k; c += 8) {
        __m256 a0 = _mm256_setzero_ps();
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m256 xv = _mm256_set1_ps(x[t]), v0 = _mm256_loadu_ps(p);
            if (l2) {
                v0 = _mm256_sub_ps(xv, v0);
                a0 = _mm256_fmadd_ps(v0, v0, a0);
            } else
                a0 = _mm256_fmadd_ps(xv, v0, a0);
        }
        _mm256_storeu_ps(out + c, a0);
    }
    table_tail(x, ct, d, k, c, l2, out);
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
    const __m512 inf = _mm512_set1_ps(INFINITY);
    __m512 b0 = inf, b1 = inf, b2 = inf, b3 = inf;
    __m512i i0 = _mm512_setzero_si512(), i1 = i0, i2 = i0, i3 = i0;
    __m512i c0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i s16 = _mm512_set1_epi32(16), s64 = _mm512_set1_epi32(64);
    for (uint32_t c = 0; c < k; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]);
            __m512 v0 = _mm512_sub_ps(xv, _mm512_loadu_ps(p)), v1 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 16));
            __m512 v2 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 32)), v3 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 48));
            a0 = _mm512_fmadd_ps(v0, v0, a0);
            a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2);
            a3 = _mm512_fmadd_ps(v3, v3, a3);
        }
        __m512i c1 = _mm512_add_epi32(c0, s16), c2 = _mm512_add_epi32(c1, s16), c3 = _mm512_add_epi32(c2, s16);
        __mmask16 m0 = _mm512_cmp_ps_mask(a0, b0, _CMP_LT_OQ), m1 = _mm512_cmp_ps_mask(a1, b1, _CMP_LT_OQ);
        __mmask16 m2 = _mm512_cmp_ps_mask(a2, b2, _CMP_LT_OQ), m3 = _mm512_cmp_ps_mask(a3, b3, _CMP_LT_OQ);
        b0 = _mm512_mask_mov_ps(b0, m0, a0);
        b1 = _mm512_mask_mov_ps(b1, m1, a1);
        b2 = _mm512_mask_mov_ps(b2, m2, a2);
        b3 = _mm512_mask_mov_ps(b3, m3, a3);
        i0 = _mm512_mask_mov_epi32(i0, m0, c0);
        i1 = _mm512_mask_mov_epi32(i1, m1, c1);
        i2 = _mm512_mask_mov_epi32(i2, m2, c2);
        i3 = _mm512_mask_mov_epi32(i3, m3, c3);
        c0 = _mm512_add_epi32(c0, s64);
    }
    merge_512(&b0, &i0, b1, i1);
    merge_512(&b2, &i2, b3, i3);
    merge_512(&b0, &i0, b2, i2);
    float b = _mm512_reduce_min_ps(b0);
    __mmask16 eq = _mm512_cmp_ps_mask(b0, _mm512_set1_ps(b), _CMP_EQ_OQ);
    if (!eq) { /* every distance NaN */
        *best = NAN;
        return 0;
    }
    *best = b;
    return (uint32_t)_mm512_mask_reduce_min_epi32(eq, i0);
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
