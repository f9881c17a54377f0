/*
 * index_hnsw_simd.c - the kernel of the HNSW walk (Malkov & Yashunin, HNSW, 2016/2018): the
 * integer dot product of a query's 8-bit weights with a row's 8-bit code, in four sets
 * (scalar; AVX2; AVX-512BW; AVX-512 VNNI) chosen like distance.c's.
 *
 * Invariants: no -m flags are needed (ISA-specific functions carry target attributes and are
 * reached only after __builtin_cpu_supports approved the set); the set follows vs_simd_name(),
 * so VECSEG_SIMD and vs_simd_select steer both files alike; every set computes the same exact
 * int32 sum, so the walk, and hence the search result, does not depend on the set; no kernel
 * reads past c[d-1], q8[d-1] or q16[d-1] (tails use masked or scalar loads).
 */
#include <immintrin.h>
#include <string.h>

#include "distance.h"
#include "index_hnsw.h"

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
