/*
 * pq.h - product-quantization kernels (lib/ internal): distance tables against codewords
 * stored transposed, as the IVF_PQ codebooks are, the nearest codeword, and the ADC
 * lookup-sum.  Dispatched by instruction-set level (simd.h); every level gives the same bits.
 */
#ifndef VS_SIMD_PQ_H
#define VS_SIMD_PQ_H

#include <stddef.h>
#include <stdint.h>

/*
 * Distance tables against k codewords stored transposed, ct[t * k + c] (component t of
 * codeword c), for c < k, t < d:
 *   vs_table_l2: out[c] = sum_t (x[t] - ct[t*k + c])^2
 *   vs_table_dot: out[c] = scale * sum_t x[t] * ct[t*k + c]
 * Each out[c] is a chain of fmaf over t ascending from +0 (SPEC.md 5.5.2), on every level.
 */
void vs_table_l2(const float *x, const float *ct, uint32_t d, uint32_t k, float *out);
void vs_table_dot(const float *x, const float *ct, uint32_t d, uint32_t k, float scale, float *out);

/* m tables at once, one per sub-vector: out[j*k + c] = sum_t x[j*d + t] *
   ct[(j*d + t)*k + c], the dot form of vs_table_dot for each j < m. */
void vs_tables_dot(const float *x, const float *ct, uint32_t m, uint32_t d, uint32_t k, float *out);

/* The index of the smallest of v[0..k) (k >= 1; the lowest index on ties; 0 if all are NaN);
   *best receives its value. */
uint32_t vs_argmin(const float *v, uint32_t k, float *best);

/* vs_table_l2 then vs_argmin, fused where a level allows (the same result): the nearest of k
   transposed codewords to x.  buf: k floats of scratch.  *best receives the squared
   distance. */
uint32_t vs_table_l2_argmin(const float *x, const float *ct, uint32_t d, uint32_t k, float *buf, float *best);

/* ADC: out[i] = sum_j lut[j*256 + codes[i*m + j]] for n rows of m codes, summed as four
   partial sums over j mod 4, then (s0 + s1) + (s2 + s3).  Plain C on every level: the
   lookups, not the arithmetic, limit it, and gathers are no faster here. */
void vs_adc(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out);

#endif
