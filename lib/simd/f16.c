/*
 * f16.c - distances to half-precision rows (f16.h), on the AVX-512 levels only.
 */
#include "simd/f16.h"
#include "simd/simd.h"

/* Squared L2 (or dot) of q against n f16 rows of dp (a multiple of 16)
   components: ranking the lists only, the exact values come from f32. */
VS_TARGET_AVX512F VS_INLINE void many512(const float *q, const uint16_t *c, size_t n, size_t dp, int dot, float *out)
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
        out[i] = vs_hsum512(a0);
        out[i + 1] = vs_hsum512(a1);
        out[i + 2] = vs_hsum512(a2);
        out[i + 3] = vs_hsum512(a3);
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
        out[i] = vs_hsum512(a0);
    }
}

/* Converts n rows of d floats, times scale, to f16 rows of dp (zero padded). */
VS_TARGET_AVX512F static void encode512(const float *c, size_t n, size_t d, float scale, size_t dp, uint16_t *out)
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

VS_TARGET_AVX512F static void l2sq_many512(const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    many512(q, x, n, dp, 0, out);
}

VS_TARGET_AVX512F static void dot_many512(const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    many512(q, x, n, dp, 1, out);
}

typedef struct kernels {
    void (*encode)(const float *, size_t, size_t, float, size_t, uint16_t *);
    void (*l2sq_many)(const float *, const uint16_t *, size_t, size_t, float *);
    void (*dot_many)(const float *, const uint16_t *, size_t, size_t, float *);
} kernels;

static const kernels set_none = {NULL, NULL, NULL};
static const kernels set_avx512 = {encode512, l2sq_many512, dot_many512};

static const kernels *const sets[VS_SIMD_LEVELS] = {&set_none, &set_none, &set_avx512, &set_avx512, &set_avx512};

int vs_f16_ready(void) { return sets[vs_simd_active()]->encode != NULL; }

void vs_f16_encode(const float *x, size_t n, size_t d, float scale, size_t dp, uint16_t *out)
{
    sets[vs_simd_active()]->encode(x, n, d, scale, dp, out);
}

void vs_f16_l2sq_many(const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    sets[vs_simd_active()]->l2sq_many(q, x, n, dp, out);
}

void vs_f16_dot_many(const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    sets[vs_simd_active()]->dot_many(q, x, n, dp, out);
}
