/*
 * f16.c - distances to half-precision rows (f16.h), on the AVX-512 levels only.
 */
#include "simd/f16.h"
#include "simd/simd.h"

/* Squared L2 (l2) or dot product of q and the R f16 rows x, x + dp, ... (R <= 4, a constant
   after inlining) of dp components (a multiple of 16) into out: the query is loaded once per
   step for the R rows. */
VS_TARGET_AVX512F VS_INLINE void rows512(int l2, int R, const float *q, const uint16_t *x, size_t dp, float *out)
{
    __m512 a[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        a[r] = _mm512_setzero_ps();
    for (size_t t = 0; t < dp; t += 16) {
        __m512 qv = _mm512_loadu_ps(q + t);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            a[r] = vs_step512(l2, a[r], qv, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + r * dp + t))));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = vs_hsum512(a[r]);
}

VS_TARGET_AVX512F VS_INLINE void many512(int l2, const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        rows512(l2, 4, q, x + i * dp, dp, out + i);
    for (; i < n; i++)
        rows512(l2, 1, q, x + i * dp, dp, out + i);
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
    many512(1, q, x, n, dp, out);
}

VS_TARGET_AVX512F static void dot_many512(const float *q, const uint16_t *x, size_t n, size_t dp, float *out)
{
    many512(0, q, x, n, dp, out);
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
