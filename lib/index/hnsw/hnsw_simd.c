/*
 * hnsw_simd.c - the kernel of the HNSW walk (Malkov & Yashunin, HNSW, 2016/2018): the
 * integer dot product of a query's 8-bit weights with a row's 8-bit code, in four sets
 * (scalar; AVX2; AVX-512BW; AVX-512 VNNI), and the float L2 form (scalar, AVX2+FMA,
 * AVX-512), chosen like distance.c's.
 *
 * Invariants: no -m flags are needed (ISA-specific functions carry target attributes and are
 * reached only after __builtin_cpu_supports approved the set); the set follows vs_simd_name(),
 * so VECSEG_SIMD and vs_simd_select steer both files alike; every set computes the same exact
 * int32 dot product, so a dot-form walk does not depend on the set (the L2 form's float sums
 * may differ in the last bits between sets, as distance.c's do); no kernel
 * reads past c[d-1], q8[d-1] or q16[d-1] (tails use masked or scalar loads).
 */
#include <immintrin.h>
#include <string.h>

#include "simd/distance.h"
#include "index/hnsw/hnsw.h"

static int32_t dot_scalar(const hnsw_query *hq, const uint8_t *c, size_t d)
{
    int32_t s[4] = {0};
    size_t i = 0;
    for (; i + 4 <= d; i += 4)
        for (int j = 0; j < 4; j++)
            s[j] += (int32_t)hq->q8[i + j] * c[i + j];
    for (; i < d; i++)
        s[0] += (int32_t)hq->q8[i] * c[i];
    return s[0] + s[1] + s[2] + s[3];
}

/* 16 dimensions a step: codes widened to 16 bits, vpmaddwd with the 16-bit weights. */
__attribute__((target("avx2"))) static int32_t dot_avx2(const hnsw_query *hq, const uint8_t *c, size_t d)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    const int16_t *w = hq->q16;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i)));
        __m256i x1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i + 16)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, _mm256_loadu_si256((const __m256i *)(w + i))));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x1, _mm256_loadu_si256((const __m256i *)(w + i + 16))));
    }
    if (i + 16 <= d) {
        __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, _mm256_loadu_si256((const __m256i *)(w + i))));
        i += 16;
    }
    s0 = _mm256_add_epi32(s0, s1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    int32_t r = _mm_cvtsi128_si32(h);
    for (; i < d; i++)
        r += (int32_t)hq->q8[i] * c[i];
    return r;
}

/* 32 dimensions a step, as dot_avx2; the tail with masked loads. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static int32_t dot_avx512(const hnsw_query *hq,
                                                                               const uint8_t *c, size_t d)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    const int16_t *w = hq->q16;
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        __m512i x0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(c + i)));
        __m512i x1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(c + i + 32)));
        s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(x0, _mm512_loadu_si512(w + i)));
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(x1, _mm512_loadu_si512(w + i + 32)));
    }
    for (; i < d; i += 32) {
        size_t left = d - i;
        __mmask32 m = left >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << left) - 1);
        __m512i x = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + i));
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(x, _mm512_maskz_loadu_epi16(m, w + i)));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

/* 64 dimensions an instruction: vpdpbusd multiplies unsigned code bytes by signed weight bytes
   and adds each group of four products into a 32-bit lane. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static int32_t dot_vnni(const hnsw_query *hq,
                                                                                        const uint8_t *c, size_t d)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    const int8_t *w = hq->q8;
    size_t i = 0;
    for (; i + 128 <= d; i += 128) {
        s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(c + i), _mm512_loadu_si512(w + i));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(c + i + 64), _mm512_loadu_si512(w + i + 64));
    }
    for (; i < d; i += 64) {
        size_t left = d - i;
        __mmask64 m = left >= 64 ? ~0ull : (__mmask64)((1ull << left) - 1);
        s1 = _mm512_dpbusd_epi32(s1, _mm512_maskz_loadu_epi8(m, c + i), _mm512_maskz_loadu_epi8(m, w + i));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

/* ---- the L2 form: float, per dimension (qo - step * c)^2 -------------------------------- */

static float l2_scalar(const float *qo, const float *step, const uint8_t *c, size_t d)
{
    float s[8] = {0}, r = 0;
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int j = 0; j < 8; j++) {
            float t = qo[i + j] - step[i + j] * (float)c[i + j];
            s[j] += t * t;
        }
    for (; i < d; i++) {
        float t = qo[i] - step[i] * (float)c[i];
        r += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + r;
}

__attribute__((target("avx2,fma"))) static float l2_avx2(const float *qo, const float *step, const uint8_t *c,
                                                         size_t d)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(c + i));
        __m256 x0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 x1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
        __m256 t0 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), x0, _mm256_loadu_ps(qo + i));
        __m256 t1 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i + 8), x1, _mm256_loadu_ps(qo + i + 8));
        s0 = _mm256_fmadd_ps(t0, t0, s0);
        s1 = _mm256_fmadd_ps(t1, t1, s1);
    }
    if (i + 8 <= d) {
        __m256 x0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + i))));
        __m256 t0 = _mm256_fnmadd_ps(_mm256_loadu_ps(step + i), x0, _mm256_loadu_ps(qo + i));
        s0 = _mm256_fmadd_ps(t0, t0, s0);
        i += 8;
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) {
        float t = qo[i] - step[i] * (float)c[i];
        r += t * t;
    }
    return r;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float l2_avx512(const float *qo, const float *step,
                                                                            const uint8_t *c, size_t d)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m512 x0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
        __m512 x1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i + 16))));
        __m512 t0 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i), x0, _mm512_loadu_ps(qo + i));
        __m512 t1 = _mm512_fnmadd_ps(_mm512_loadu_ps(step + i + 16), x1, _mm512_loadu_ps(qo + i + 16));
        s0 = _mm512_fmadd_ps(t0, t0, s0);
        s1 = _mm512_fmadd_ps(t1, t1, s1);
    }
    for (; i < d; i += 16) {
        size_t left = d - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
        __m512 t = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, step + i), x, _mm512_maskz_loadu_ps(m, qo + i));
        s1 = _mm512_fmadd_ps(t, t, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

hnsw_l2_fn hnsw_l2_kernel_named(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "scalar"))
        return l2_scalar;
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? l2_avx2 : NULL;
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl")
                   ? l2_avx512
                   : NULL;
    return NULL;
}

hnsw_l2_fn hnsw_l2_kernel(void)
{
    const char *set = vs_simd_name();
    hnsw_l2_fn f = hnsw_l2_kernel_named(set);
    if (!f && strcmp(set, "scalar"))
        f = hnsw_l2_kernel_named("avx2");
    return f ? f : l2_scalar;
}

/* ---- dispatch of the dot form -------------------------------------------------------------- */

hnsw_dot_fn hnsw_dot_kernel_named(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "scalar"))
        return dot_scalar;
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") ? dot_avx2 : NULL;
    int bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    if (!strcmp(name, "avx512bw"))
        return bw ? dot_avx512 : NULL;
    if (!strcmp(name, "avx512vnni"))
        return bw && __builtin_cpu_supports("avx512vnni") ? dot_vnni : NULL;
    if (!strcmp(name, "avx512")) {
        hnsw_dot_fn f = hnsw_dot_kernel_named("avx512vnni");
        return f ? f : hnsw_dot_kernel_named("avx512bw");
    }
    return NULL;
}

hnsw_dot_fn hnsw_dot_kernel(void)
{
    const char *set = vs_simd_name();
    hnsw_dot_fn f = hnsw_dot_kernel_named(set);
    if (!f && strcmp(set, "scalar"))
        f = hnsw_dot_kernel_named("avx2"); /* an avx512 set without BW/VL */
    return f ? f : dot_scalar;
}
