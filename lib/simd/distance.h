/*
 * distance.h - distance kernels between float32 vectors, dispatched at run time.
 *
 * The kernels exist for each instruction-set level (lib/simd/simd.h): "scalar" (plain C),
 * "avx2" (AVX2 + FMA), and the AVX-512 levels "avx512f", "avx512bw", "avx512vnni".  The first
 * call picks the highest level the CPU runs, once and thread-safely; the environment variable
 * VECSEG_SIMD names a level to use instead, if the CPU runs it ("avx512": the highest AVX-512
 * level it runs; "auto" or an unknown or unsupported value: the highest level, since lib/
 * never prints: compare vs_simd_name() with the variable to report it).  Vectors may have any
 * length and need no alignment.
 *
 * Every level sums in the same fixed order (the blocked order of simd.h, SPEC.md 5.4), so a
 * distance has the same bits on every machine and level, and out[i] of the _many calls equals
 * the single-pair call on the same row.
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

/* The plain scan of one-query search: every j < n with c[j] <= thr (NaN never), ascending. */
size_t vs_scan_le1(const float *c, size_t n, float thr, uint32_t *idx);

/*
 * Dot products to cosine distances, in place: c[j] = vs_metric_cosine(c[j], qs, sqrtf(xn[j]))
 * (simd/metric.h), bit for bit on every level; xn: the rows' squared norms, qs: |q|.
 */
void vs_cosine_many(float *c, const float *xn, size_t n, float qs);

/* vs_simd_name(), the kernel set in use, is public: vecseg.h. */

/*
 * Switches every later call (in all threads, every kernel file) to level name: a name above,
 * "avx512" for the highest AVX-512 level the CPU runs, or "auto" for the highest level.  Meant
 * for tests and benchmarks.  Returns 0, or VF_EUNSUPPORTED (leaving the level unchanged) if
 * the CPU lacks it or the name is unknown or NULL.
 */
int vs_simd_select(const char *name);

#endif
