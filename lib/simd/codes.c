/*
 * codes.c - kernels over 8-bit codes (codes.h): the integer dot products that rank HNSW
 * nodes and IVF_SQ8 rows, the float form of the IVF_SQ8 scan, and the HNSW L2 form.  One set
 * per instruction-set level (simd.h).
 *
 * Invariants: the integer kernels are exact (int32), so every level gives the same value; the
 * HNSW L2 forms (code to vector, code to code) sum in the blocked order of simd.h on every level, so an HNSW graph built with
 * it is the same on every machine; every level has the 16-bit SQ8 scan, exact, which searches
 * use; the float SQ8 scan (only for weights that are not finite) may differ between levels in
 * the last bits.  No kernel reads past c[d-1], w[d-1], qo[d-1]
 * or step[d-1] (tails are masked, or copied, or scalar).
 */
#include <math.h>
#include <string.h>

#include "simd/codes.h"
#include "simd/simd.h"

/* ---- the integer dot product: sum_t w[t] * c[t], 8-bit codes c --------------------------- */

static int32_t dot_scalar(const int8_t *w8, const int16_t *w16, const uint8_t *c, size_t d)
{
    (void)w8;
    int32_t s[4] = {0};
    size_t i = 0;
    for (; i + 4 <= d; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += (int32_t)w16[i + j] * c[i + j];
    for (; i < d; i++)
        s[0] += (int32_t)w16[i] * c[i];
    return s[0] + s[1] + s[2] + s[3];
}

/* R rows c[0..R) against 16-bit weights, 16 codes a step: codes widened to 16 bits, vpmaddwd
   with the weights. */
VS_TARGET_AVX2 VS_INLINE void i16_256p(const int16_t *w, const uint8_t *const *c, size_t d, int R, int32_t *out)
{
    __m256i a[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm256_setzero_si256();
    size_t t = 0;
    for (; t + 16 <= d; t += 16) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(w + t));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = _mm256_add_epi32(
                a[r], _mm256_madd_epi16(wv, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c[r] + t)))));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        int32_t s = vs_hsum256i(a[r]);
        for (size_t u = t; u < d; u++)
            s += (int32_t)w[u] * c[r][u];
        out[r] = s;
    }
}

/* R rows c, c + stride, ... (R <= 4) as i16_256p. */
VS_TARGET_AVX2 VS_INLINE void i16_256(const int16_t *w, const uint8_t *c, size_t stride, size_t d, int R,
                                      int32_t *out)
{
    const uint8_t *cr[4] = {c, c + stride, c + 2 * stride, c + 3 * stride};
    i16_256p(w, cr, d, R, out);
}

/* As i16_256p with 32 codes a step and a masked tail. */
VS_TARGET_AVX512BW VS_INLINE void i16_512p(const int16_t *w, const uint8_t *const *c, size_t d, int R, int32_t *out)
{
    __m512i a[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm512_setzero_si512();
    size_t t = 0;
    for (; t + 32 <= d; t += 32) {
        __m512i wv = _mm512_loadu_si512(w + t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = _mm512_add_epi32(
                a[r], _mm512_madd_epi16(wv, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(c[r] + t)))));
    }
    if (t < d) {
        __mmask32 m = (__mmask32)((1u << (d - t)) - 1);
        __m512i wv = _mm512_maskz_loadu_epi16(m, w + t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = _mm512_add_epi32(
                a[r], _mm512_madd_epi16(wv, _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c[r] + t))));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = vs_hsum512i(a[r]);
}

/* R rows c, c + stride, ... (R <= 4) as i16_512p. */
VS_TARGET_AVX512BW VS_INLINE void i16_512(const int16_t *w, const uint8_t *c, size_t stride, size_t d, int R,
                                          int32_t *out)
{
    const uint8_t *cr[4] = {c, c + stride, c + 2 * stride, c + 3 * stride};
    i16_512p(w, cr, d, R, out);
}

VS_TARGET_AVX2 static int32_t dot_avx2(const int8_t *w8, const int16_t *w16, const uint8_t *c, size_t d)
{
    (void)w8;
    int32_t s;
    i16_256(w16, c, 0, d, 1, &s);
    return s;
}

VS_TARGET_AVX512BW static int32_t dot_avx512bw(const int8_t *w8, const int16_t *w16, const uint8_t *c, size_t d)
{
    (void)w8;
    int32_t s;
    i16_512(w16, c, 0, d, 1, &s);
    return s;
}

/* The dot product of n rows given by pointers (the HNSW walk's new neighbours of one hop),
   four at a time sharing each load of the weights. */
static void dots_scalar(const int16_t *w16, const uint8_t *const *c, size_t n, size_t d, int32_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dot_scalar(NULL, w16, c[i], d);
}

VS_TARGET_AVX2 static void dots_avx2(const int16_t *w16, const uint8_t *const *c, size_t n, size_t d, int32_t *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        i16_256p(w16, c + i, d, 4, out + i);
    for (; i < n; i++)
        i16_256p(w16, c + i, d, 1, out + i);
}

VS_TARGET_AVX512BW static void dots_avx512bw(const int16_t *w16, const uint8_t *const *c, size_t n, size_t d,
                                             int32_t *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        i16_512p(w16, c + i, d, 4, out + i);
    for (; i < n; i++)
        i16_512p(w16, c + i, d, 1, out + i);
}

/* The IVF_SQ8 scan with 16-bit weights: out[i] = inv * (float)(sum_t w[t] * row i's code t).
   The sum is exact, so every level gives the same estimate (SPEC 5.5.2). */
static void sq8i_scalar(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * d;
        int32_t s = 0;
        for (size_t t = 0; t < d; t++)
            s += (int32_t)w[t] * c[t];
        out[i] = (float)s * inv;
    }
}

/* Four rows at a time sharing each load of w. */
VS_TARGET_AVX2 static void sq8i_256(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out)
{
    int32_t s[4];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        i16_256(w, codes + i * d, d, d, 4, s);
        for (int r = 0; r < 4; r++)
            out[i + r] = (float)s[r] * inv;
    }
    for (; i < n; i++) {
        i16_256(w, codes + i * d, d, d, 1, s);
        out[i] = (float)s[0] * inv;
    }
}

VS_TARGET_AVX512BW static void sq8i_512(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv,
                                        float *out)
{
    int32_t s[4];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        i16_512(w, codes + i * d, d, d, 4, s);
        for (int r = 0; r < 4; r++)
            out[i + r] = (float)s[r] * inv;
    }
    for (; i < n; i++) {
        i16_512(w, codes + i * d, d, d, 1, s);
        out[i] = (float)s[0] * inv;
    }
}

/* ---- the float IVF_SQ8 scan: out[i] = sum_t w[t] * row i's code t ------------------------ */

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

/* R rows (R <= 4, a constant after inlining) sharing each load of w: one accumulator each over
   the whole groups of 16 (or 8) codes, its lane sum, then the rest in order. */
VS_TARGET_AVX512F VS_INLINE void f32rows512(const float *w, const uint8_t *c, size_t d, int R, float *out)
{
    size_t d16 = d & ~(size_t)15;
    __m512 a[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm512_setzero_ps();
    for (size_t t = 0; t < d16; t += 16) {
        __m512 wv = _mm512_loadu_ps(w + t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = _mm512_fmadd_ps(
                wv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + r * d + t)))), a[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        float s = vs_hsum512(a[r]);
        for (size_t t = d16; t < d; t++)
            s += w[t] * (float)c[r * d + t];
        out[r] = s;
    }
}

VS_TARGET_AVX2 VS_INLINE void f32rows256(const float *w, const uint8_t *c, size_t d, int R, float *out)
{
    size_t d8 = d & ~(size_t)7;
    __m256 a[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm256_setzero_ps();
    for (size_t t = 0; t < d8; t += 8) {
        __m256 wv = _mm256_loadu_ps(w + t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = _mm256_fmadd_ps(
                wv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + r * d + t)))), a[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        float s = vs_hsum256(a[r]);
        for (size_t t = d8; t < d; t++)
            s += w[t] * (float)c[r * d + t];
        out[r] = s;
    }
}

VS_TARGET_AVX512F static void sq8_512(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        f32rows512(w, codes + i * d, d, 4, out + i);
    for (; i < n; i++)
        f32rows512(w, codes + i * d, d, 1, out + i);
}

VS_TARGET_AVX2 static void sq8_256(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        f32rows256(w, codes + i * d, d, 4, out + i);
    for (; i < n; i++)
        f32rows256(w, codes + i * d, d, 1, out + i);
}

/* ---- the HNSW L2 form: sum_i (qo[i] - step[i] * c[i])^2 in the blocked order ------------- */

/* Term i: t = qo[i] - step[i] * c[i] rounded once, then fmaf(t, t, A). */
VS_INLINE float l2_step1(float a, float qo, float step, float c)
{
    float t = fmaf(-step, c, qo);
    return fmaf(t, t, a);
}

VS_TARGET_SCALAR static float l2_scalar(const float *qo, const float *step, const uint8_t *c, size_t d)
{
    float A[64] = {0}, S[16];
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        for (int l = 0; l < 64; l++)
            A[l] = l2_step1(A[l], qo[i + l], step[i + l], c[i + l]);
    for (int j = 0; i + 16 <= d; i += 16, j++)
        for (int l = 0; l < 16; l++)
            A[16 * j + l] = l2_step1(A[16 * j + l], qo[i + l], step[i + l], c[i + l]);
    if (i < d)
        for (size_t l = 0; l < 16; l++) /* the last group, padded with zero terms */
            A[48 + l] = i + l < d ? l2_step1(A[48 + l], qo[i + l], step[i + l], c[i + l])
                                  : l2_step1(A[48 + l], 0.0f, 0.0f, 0.0f);
    for (int l = 0; l < 16; l++)
        S[l] = (A[l] + A[16 + l]) + (A[32 + l] + A[48 + l]);
    return vs_tree16(S);
}

VS_TARGET_AVX2 VS_INLINE __m256 l2_step256(__m256 a, const float *qo, const float *step, __m128i c8)
{
    __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c8));
    __m256 t = _mm256_fnmadd_ps(_mm256_loadu_ps(step), x, _mm256_loadu_ps(qo));
    return _mm256_fmadd_ps(t, t, a);
}

/* Accumulator A[j] in two registers, lanes 0-7 and 8-15. */
VS_TARGET_AVX2 static float l2_avx2(const float *qo, const float *step, const uint8_t *c, size_t d)
{
    __m256 s[4][2];
    for (int j = 0; j < 4; j++)
        s[j][0] = s[j][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            s[k >> 1][k & 1] = l2_step256(s[k >> 1][k & 1], qo + i + 8 * k, step + i + 8 * k,
                                          _mm_loadl_epi64((const __m128i *)(c + i + 8 * k)));
    for (int j = 0; i + 16 <= d; i += 16, j++)
        for (int h = 0; h < 2; h++)
            s[j][h] = l2_step256(s[j][h], qo + i + 8 * h, step + i + 8 * h,
                                 _mm_loadl_epi64((const __m128i *)(c + i + 8 * h)));
    if (i < d) { /* the last group through a zero-padded copy */
        float q16[16] = {0}, s16[16] = {0};
        uint8_t c16[16] = {0};
        memcpy(q16, qo + i, (d - i) * sizeof *q16);
        memcpy(s16, step + i, (d - i) * sizeof *s16);
        memcpy(c16, c + i, d - i);
        for (int h = 0; h < 2; h++)
            s[3][h] = l2_step256(s[3][h], q16 + 8 * h, s16 + 8 * h, _mm_loadl_epi64((const __m128i *)(c16 + 8 * h)));
    }
    __m256 lo = _mm256_add_ps(_mm256_add_ps(s[0][0], s[1][0]), _mm256_add_ps(s[2][0], s[3][0]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(s[0][1], s[1][1]), _mm256_add_ps(s[2][1], s[3][1]));
    return vs_hsum256(_mm256_add_ps(lo, hi));
}

VS_TARGET_AVX512BW VS_INLINE __m512 l2_step512(__m512 a, __m512 qo, __m512 step, __m128i c16)
{
    __m512 t = _mm512_fnmadd_ps(step, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c16)), qo);
    return _mm512_fmadd_ps(t, t, a);
}

/* Accumulator A[j] in one register; the last group with masked loads. */
VS_TARGET_AVX512BW static float l2_avx512(const float *qo, const float *step, const uint8_t *c, size_t d)
{
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            s[j] = l2_step512(s[j], _mm512_loadu_ps(qo + i + 16 * j), _mm512_loadu_ps(step + i + 16 * j),
                              _mm_loadu_si128((const __m128i *)(c + i + 16 * j)));
    for (int j = 0; i + 16 <= d; i += 16, j++)
        s[j] = l2_step512(s[j], _mm512_loadu_ps(qo + i), _mm512_loadu_ps(step + i),
                          _mm_loadu_si128((const __m128i *)(c + i)));
    if (i < d) {
        __mmask16 m = vs_mask16(d - i);
        s[3] = l2_step512(s[3], _mm512_maskz_loadu_ps(m, qo + i), _mm512_maskz_loadu_ps(m, step + i),
                          _mm_maskz_loadu_epi8(m, c + i));
    }
    return vs_hsum512(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
}

/* ---- two codes: sum_i (step[i] * (a[i] - c[i]))^2 in the blocked order ---------------------- */

/* Term i: t = step[i] * (a[i] - c[i]) (the difference exact) rounded once, then fmaf(t, t, A). */
VS_INLINE float l2c_step1(float acc, float step, int diff)
{
    float t = step * (float)diff;
    return fmaf(t, t, acc);
}

VS_TARGET_SCALAR static float l2c_scalar(const uint8_t *a, const uint8_t *c, const float *step, size_t d)
{
    float A[64] = {0}, S[16];
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        for (int l = 0; l < 64; l++)
            A[l] = l2c_step1(A[l], step[i + l], a[i + l] - c[i + l]);
    for (int j = 0; i + 16 <= d; i += 16, j++)
        for (int l = 0; l < 16; l++)
            A[16 * j + l] = l2c_step1(A[16 * j + l], step[i + l], a[i + l] - c[i + l]);
    if (i < d)
        for (size_t l = 0; l < 16; l++) /* the last group, padded with zero terms */
            A[48 + l] = l2c_step1(A[48 + l], i + l < d ? step[i + l] : 0.0f, i + l < d ? a[i + l] - c[i + l] : 0);
    for (int l = 0; l < 16; l++)
        S[l] = (A[l] + A[16 + l]) + (A[32 + l] + A[48 + l]);
    return vs_tree16(S);
}

VS_TARGET_AVX2 VS_INLINE __m256 l2c_step256(__m256 acc, const float *step, __m128i a8, __m128i c8)
{
    __m256i dv = _mm256_sub_epi32(_mm256_cvtepu8_epi32(a8), _mm256_cvtepu8_epi32(c8));
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(step), _mm256_cvtepi32_ps(dv));
    return _mm256_fmadd_ps(t, t, acc);
}

/* Accumulator A[j] in two registers, lanes 0-7 and 8-15. */
VS_TARGET_AVX2 static float l2c_avx2(const uint8_t *a, const uint8_t *c, const float *step, size_t d)
{
    __m256 s[4][2];
    for (int j = 0; j < 4; j++)
        s[j][0] = s[j][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            s[k >> 1][k & 1] = l2c_step256(s[k >> 1][k & 1], step + i + 8 * k,
                                           _mm_loadl_epi64((const __m128i *)(a + i + 8 * k)),
                                           _mm_loadl_epi64((const __m128i *)(c + i + 8 * k)));
    for (int j = 0; i + 16 <= d; i += 16, j++)
        for (int h = 0; h < 2; h++)
            s[j][h] = l2c_step256(s[j][h], step + i + 8 * h, _mm_loadl_epi64((const __m128i *)(a + i + 8 * h)),
                                  _mm_loadl_epi64((const __m128i *)(c + i + 8 * h)));
    if (i < d) { /* the last group through zero-padded copies */
        float s16[16] = {0};
        uint8_t a16[16] = {0}, c16[16] = {0};
        memcpy(s16, step + i, (d - i) * sizeof *s16);
        memcpy(a16, a + i, d - i);
        memcpy(c16, c + i, d - i);
        for (int h = 0; h < 2; h++)
            s[3][h] = l2c_step256(s[3][h], s16 + 8 * h, _mm_loadl_epi64((const __m128i *)(a16 + 8 * h)),
                                  _mm_loadl_epi64((const __m128i *)(c16 + 8 * h)));
    }
    __m256 lo = _mm256_add_ps(_mm256_add_ps(s[0][0], s[1][0]), _mm256_add_ps(s[2][0], s[3][0]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(s[0][1], s[1][1]), _mm256_add_ps(s[2][1], s[3][1]));
    return vs_hsum256(_mm256_add_ps(lo, hi));
}

VS_TARGET_AVX512BW VS_INLINE __m512 l2c_step512(__m512 acc, __m512 step, __m128i a16, __m128i c16)
{
    __m512i dv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(a16), _mm512_cvtepu8_epi32(c16));
    __m512 t = _mm512_mul_ps(step, _mm512_cvtepi32_ps(dv));
    return _mm512_fmadd_ps(t, t, acc);
}

/* Accumulator A[j] in one register; the last group with masked loads. */
VS_TARGET_AVX512BW static float l2c_avx512(const uint8_t *a, const uint8_t *c, const float *step, size_t d)
{
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            s[j] = l2c_step512(s[j], _mm512_loadu_ps(step + i + 16 * j), _mm_loadu_si128((const __m128i *)(a + i + 16 * j)),
                               _mm_loadu_si128((const __m128i *)(c + i + 16 * j)));
    for (int j = 0; i + 16 <= d; i += 16, j++)
        s[j] = l2c_step512(s[j], _mm512_loadu_ps(step + i), _mm_loadu_si128((const __m128i *)(a + i)),
                           _mm_loadu_si128((const __m128i *)(c + i)));
    if (i < d) {
        __mmask16 m = vs_mask16(d - i);
        s[3] = l2c_step512(s[3], _mm512_maskz_loadu_ps(m, step + i), _mm_maskz_loadu_epi8(m, a + i),
                           _mm_maskz_loadu_epi8(m, c + i));
    }
    return vs_hsum512(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
}

/* ---- dispatch -------------------------------------------------------------------------- */

typedef struct kernels {
    vs_code_dot_fn dot;
    vs_code_dots_fn dots;
    vs_code_l2_fn l2;
    vs_code_l2c_fn l2c;
    void (*sq8)(const float *, const uint8_t *, size_t, size_t, float *);
    void (*sq8i)(const int16_t *, const uint8_t *, size_t, size_t, float, float *); /* NULL: none */
} kernels;

/* AVX-512F alone has no byte or word lanes: it keeps the AVX2 code kernels.  Every level has
   the 16-bit SQ8 scan, so IVF_SQ8 estimates are the same on every machine. */
static const kernels sets[VS_SIMD_LEVELS] = {
    [VS_SIMD_SCALAR] = {dot_scalar, dots_scalar, l2_scalar, l2c_scalar, sq8_scalar, sq8i_scalar},
    [VS_SIMD_AVX2] = {dot_avx2, dots_avx2, l2_avx2, l2c_avx2, sq8_256, sq8i_256},
    [VS_SIMD_AVX512F] = {dot_avx2, dots_avx2, l2_avx2, l2c_avx2, sq8_512, sq8i_256},
    [VS_SIMD_AVX512BW] = {dot_avx512bw, dots_avx512bw, l2_avx512, l2c_avx512, sq8_512, sq8i_512},
    [VS_SIMD_AVX512VNNI] = {dot_avx512bw, dots_avx512bw, l2_avx512, l2c_avx512, sq8_512, sq8i_512},
};

vs_code_dot_fn vs_code_dot_kernel(void) { return sets[vs_simd_active()].dot; }
vs_code_dots_fn vs_code_dots_kernel(void) { return sets[vs_simd_active()].dots; }
vs_code_l2_fn vs_code_l2_kernel(void) { return sets[vs_simd_active()].l2; }
vs_code_l2c_fn vs_code_l2c_kernel(void) { return sets[vs_simd_active()].l2c; }

void vs_sq8_dot(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    sets[vs_simd_active()].sq8(w, codes, n, d, out);
}

int vs_sq8_i16_ready(void) { return sets[vs_simd_active()].sq8i != NULL; }

void vs_sq8_dot_i16(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out)
{
    sets[vs_simd_active()].sq8i(w, codes, n, d, inv, out);
}
