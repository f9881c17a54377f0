/*
 * codes.h - kernels over 8-bit codes (lib/ internal): the HNSW walk's approximate distances
 * and the IVF_SQ8 scan.  Dispatched by instruction-set level (simd.h).
 */
#ifndef VS_SIMD_CODES_H
#define VS_SIMD_CODES_H

#include <stddef.h>
#include <stdint.h>

/* sum_t w16[t] * c[t] over d 8-bit codes c, exact in int32, the same on every level.  The
   caller keeps 255 * sum_t |w16[t]| below 2^31.  w8 is not read (the HNSW query's weights
   became 16-bit; the argument stays so the callers' query structure is unchanged). */
typedef int32_t (*vs_code_dot_fn)(const int8_t *w8, const int16_t *w16, const uint8_t *c, size_t d);

/* out[i] = sum_t w16[t] * c[i][t] for the n rows of d codes at c[0..n): the dot kernel over
   many rows at once (the HNSW walk scores a hop's new neighbours in one call), exact in int32
   as the dot kernel is, so the same values on every level. */
typedef void (*vs_code_dots_fn)(const int16_t *w16, const uint8_t *const *c, size_t n, size_t d, int32_t *out);

/* sum_t (qo[t] - step[t] * c[t])^2 in f32, summed in the blocked order of simd.h (each term
   qo - step * c rounded once): the squared L2 distance of q = qo + off to the decoded code,
   the same bits on every level. */
typedef float (*vs_code_l2_fn)(const float *qo, const float *step, const uint8_t *c, size_t d);

/* sum_t (step[t] * (a[t] - c[t]))^2 in f32 over two rows of d 8-bit codes, in the blocked
   order of simd.h (each difference exact, each term step * difference rounded once): the
   squared L2 distance of the two decoded codes, the same bits on every level. */
typedef float (*vs_code_l2c_fn)(const uint8_t *a, const uint8_t *c, const float *step, size_t d);

/* The kernels of the level in use; a caller may keep them for a whole query. */
vs_code_dot_fn vs_code_dot_kernel(void);
vs_code_dots_fn vs_code_dots_kernel(void);
vs_code_l2_fn vs_code_l2_kernel(void);
vs_code_l2c_fn vs_code_l2c_kernel(void);

/* The IVF_SQ8 scan: out[i] = sum_t w[t] * codes[i*d + t] for n rows of d codes, in f32.  The
   summation order depends on the level (a search uses it, no build). */
void vs_sq8_dot(const float *w, const uint8_t *codes, size_t n, size_t d, float *out);

/* The same with 16-bit weights, two codes per multiply-add: out[i] = inv * (float)(the exact
   int32 sum).  The caller keeps 255 * sum_t |w[t]| below 2^31.  Only when vs_sq8_i16_ready()
   (every level). */
int vs_sq8_i16_ready(void);
void vs_sq8_dot_i16(const int16_t *w, const uint8_t *codes, size_t n, size_t d, float inv, float *out);

#endif
