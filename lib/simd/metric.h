/*
 * metric.h - the distances of SPEC.md section 9, written once (lib/ internal): the internal
 * distance of each metric from the kernels' squared L2 or dot product and the squared norms,
 * the cosine rule for zero vectors, normalisation, and the distance reported to people.
 *
 *   metric   internal distance                                   reported
 *   l2       sum (q_i - x_i)^2                                   its square root
 *   ip       -(q . x)                                            the same
 *   cosine   1 - (q . x) / (|q| |x|), or 1 when either norm is 0   the same
 *
 * Every exact distance in lib/ goes through these, so a row gets the same bits whichever
 * search (exact scan, index, re-ranking) computed it.
 */
#ifndef VS_SIMD_METRIC_H
#define VS_SIMD_METRIC_H

#include <math.h>

#include "simd/distance.h"
#include "vecseg_format.h"

/* The cosine distance from the dot product and the two norms (not squared). */
static inline float vs_metric_cosine(float dot, float qs, float xs)
{
    float den = qs * xs;
    return den > 0 ? 1.0f - dot / den : 1.0f;
}

/* The ip or cosine distance from the dot product and the squared norms (xn unused for ip). */
static inline float vs_metric_from_dot(int metric, float dot, float qn, float xn)
{
    return metric == VF_METRIC_IP ? -dot : vs_metric_cosine(dot, sqrtf(qn), sqrtf(xn));
}

/* The exact internal distance of q (squared norm qn) to x (squared norm xn, read only for
   cosine), both of d floats. */
static inline float vs_metric_exact(int metric, const float *q, float qn, const float *x, float xn, size_t d)
{
    if (metric == VF_METRIC_L2)
        return vs_l2sq(q, x, d);
    return vs_metric_from_dot(metric, vs_dot(q, x, d), qn, xn);
}

/* 1/|x| from the squared norm, 0 for the zero vector: normalising keeps it zero. */
static inline float vs_metric_inv_norm(float xn)
{
    return xn > 0 ? 1.0f / sqrtf(xn) : 0.0f;
}

/* The distance reported for an internal one: the square root for l2 (0 below 0). */
static inline float vs_metric_report(int metric, float internal)
{
    if (metric == VF_METRIC_L2)
        return sqrtf(internal > 0 ? internal : 0);
    return internal;
}

#endif
