/*
 * distance.h - distance kernels between float32 vectors, dispatched at run time.
 *
 * Three kernel sets exist: "avx512" (AVX-512F, 16 lanes), "avx2" (AVX2 + FMA, 8 lanes) and
 * "scalar" (plain C).  The first call picks the best set the CPU supports, once and thread-safely;
 * the environment variable VECSEG_SIMD=scalar|avx2|avx512 forces a set the CPU supports (an
 * unknown or unsupported value is ignored, since lib/ never prints: compare vs_simd_name() with
 * the variable to report it).  Vectors may have any length and need no alignment.
 *
 * Within one kernel set, out[i] of the _many calls is bit-identical to the single-pair call on
 * the same row, so a distance never depends on which call computed it.  Different sets sum in
 * different orders, so their results may differ in the last bits.
 */
#ifndef VS_DISTANCE_H
#define VS_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

#define VECSEG_STATIC_LINKING_ONLY /* vs_simd_name */
#include "vecseg.h"

/* Squared Euclidean distance sum((a[i] - b[i])^2) of two vectors of length d (0 when d == 0). */
float vs_l2sq(const float *a, const float *b, size_t d);

/* Dot product sum(a[i] * b[i]) of two vectors of length d (0 when d == 0). */
float vs_dot(const float *a, const float *b, size_t d);

/*
 * One query against n contiguous rows: out[i] = vs_l2sq(q, x + i*d, d) for i < n.
 * q: d floats; x: n*d floats, row-major; out: n floats (must not overlap q or x).
 */
void vs_l2sq_many(const float *q, const float *x, size_t n, size_t d, float *out);

/* As vs_l2sq_many, with out[i] = vs_dot(q, x + i*d, d). */
void vs_dot_many(const float *q, const float *x, size_t n, size_t d, float *out);

/*
 * The candidate scan of batched search: writes to idx (room for n) every j < n with
 * a*p[j] + b*c[j] + g*c[j]*p[j] <= thr, ascending, and returns how many.  The affine form covers
 * the error-bounded estimates of all three metrics (search.c).
 */
size_t vs_scan_le(const float *c, const float *p, size_t n, float a, float b, float g, float thr,
                  uint32_t *idx);

/* vs_simd_name(), the kernel set in use, is public: vecseg.h. */

/*
 * Switches every later call (in all threads) to kernel set name: "scalar", "avx2", "avx512", or
 * "auto" for the best the CPU supports.  Meant for tests and benchmarks.
 * Returns 0, or VF_EUNSUPPORTED (leaving the set unchanged) if the CPU lacks it or the name is
 * unknown or NULL.
 */
int vs_simd_select(const char *name);

#endif
