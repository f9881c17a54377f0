/*
 * f16.h - distances to half-precision rows (lib/ internal): the rounded copy of the IVF
 * centroids that ranks the lists (ivf_search.c) and reads half the bytes of the f32 ones.
 * Only the AVX-512 levels have these kernels (F16C conversions at 16 lanes); elsewhere
 * vs_f16_ready() is 0 and the caller ranks on the f32 rows.  For ranking only: the values
 * differ from the f32 distances by the rounding of the copy.
 */
#ifndef VS_SIMD_F16_H
#define VS_SIMD_F16_H

#include <stddef.h>
#include <stdint.h>

/* Whether the level in use has the kernels below. */
int vs_f16_ready(void);

/* Converts n rows of d floats, times scale, to f16 rows of dp components (dp a multiple of
   16 and >= d; zero padded), rounding to nearest.  Only when vs_f16_ready(). */
void vs_f16_encode(const float *x, size_t n, size_t d, float scale, size_t dp, uint16_t *out);

/* out[i] = squared L2 (vs_f16_l2sq_many) or dot product (vs_f16_dot_many) of q (dp floats)
   and f16 row i of x (n rows of dp).  Only when vs_f16_ready(). */
void vs_f16_l2sq_many(const float *q, const uint16_t *x, size_t n, size_t dp, float *out);
void vs_f16_dot_many(const float *q, const uint16_t *x, size_t n, size_t dp, float *out);

#endif
