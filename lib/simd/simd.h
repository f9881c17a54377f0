/*
 * simd.h - what every kernel file of lib/simd/ shares (lib/ internal): the instruction-set
 * levels, the one run-time choice among them, the target attributes, the horizontal
 * reductions, and the fixed summation order that makes stored values the same on every level.
 *
 * Levels form a ladder: each runs everything the ones below it run.  The level in use is
 * chosen once per process (pthread_once in simd.c): the highest the CPU runs, or the one
 * VECSEG_SIMD names if the CPU runs it (an unknown or unsupported value is ignored, since lib/
 * never prints: compare vs_simd_name() with the variable to report it).  vs_simd_select
 * replaces it for every later call, in every thread.  A kernel file keeps one constant table
 * of function pointers per level and calls through table[vs_simd_active()]; no other code in
 * lib/ tests the CPU.
 *
 * No -m flags are needed: a function using wider instructions carries one of the VS_TARGET_*
 * attributes and is reached only through the table of a level the CPU was found to run
 * (__builtin_cpu_supports also checks that the OS saves the wide registers).
 *
 * The blocked order (SPEC.md 5.4, [R-SEG-DETERMINISTIC]).  Every float sum whose result can
 * reach a file - the squared norms of NORMS, the distances an index build compares, the HNSW
 * code distances of its walk - is summed in one order that each level emulates, so every
 * level gives the same bits: term i of a vector of d terms (i < d) goes to accumulator
 * A[j][l], l = i mod 16, j = (i mod 64) / 16, except the terms of a last group of fewer than
 * 16 (i >= 16*floor(d/16)), which go to A[3][l]; that group is padded with zero terms to 16,
 * so every lane of A[3] takes one more step.  Each A[j][l] starts at +0 and takes its terms
 * in ascending i, each step one fused multiply-add (fmaf: one rounding; for squared L2 the
 * term of t = q[i] - x[i] is fmaf(t, t, A), t rounded first).  Then
 * S[l] = (A[0][l] + A[1][l]) + (A[2][l] + A[3][l]) and the result is vs_tree16(S):
 * u[l] = S[l] + S[l+8], w[l] = u[l] + u[l+4], x[l] = w[l] + w[l+2], result x[0] + x[1].
 * AVX-512 holds A[j] in one register, AVX2 in two, scalar code in an array
 * (VS_TARGET_SCALAR).
 */
#ifndef VS_SIMD_H
#define VS_SIMD_H

#include <immintrin.h>
#include <stdatomic.h>
#include <stddef.h>

typedef enum vs_simd_level {
    VS_SIMD_SCALAR = 0,   /* "scalar": plain C */
    VS_SIMD_AVX2,         /* "avx2": AVX2 and FMA */
    VS_SIMD_AVX512F,      /* "avx512f": AVX-512 Foundation */
    VS_SIMD_AVX512BW,     /* "avx512bw": and BW, VL (8- and 16-bit lanes) */
    VS_SIMD_AVX512VNNI,   /* "avx512vnni": and VNNI (8-bit dot products) */
    VS_SIMD_LEVELS
} vs_simd_level;

/* The highest level this CPU runs. */
vs_simd_level vs_simd_cpu(void);

/* The name of a level ("scalar", ..., "avx512vnni"), or "?" */
const char *vs_simd_level_name(vs_simd_level l);

/* The level in use: chosen on the first call, then one relaxed load (the tables it indexes
   are constant, so nothing else needs ordering). */
extern _Atomic int vs_simd_now;          /* -1 until chosen (simd.c) */
vs_simd_level vs_simd_choose(void);
static inline vs_simd_level vs_simd_active(void)
{
    int l = atomic_load_explicit(&vs_simd_now, memory_order_relaxed);
    return __builtin_expect(l >= 0, 1) ? (vs_simd_level)l : vs_simd_choose();
}

/* ---- target attributes ------------------------------------------------------------------ */

#define VS_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define VS_TARGET_AVX512F __attribute__((target("avx2,fma,avx512f")))
#define VS_TARGET_AVX512BW __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))
#define VS_TARGET_AVX512VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define VS_INLINE static inline __attribute__((always_inline))
/* The plain-C kernels of level "scalar" step the blocked order with fmaf.  The compiler builds
   them twice and its ifunc picks, once, the build with the FMA instruction where the CPU has
   one (the other calls libm's fmaf): both round once, so both give the same bits, and only a
   CPU without FMA pays for the call. */
#define VS_TARGET_SCALAR __attribute__((target_clones("default", "fma")))

/* ---- one step of a sum: squared differences (l2) or products -------------------------------- */

/* acc + (q - x)^2 with q - x rounded first (l2), or acc + q * x, one fused multiply-add per lane. */
VS_TARGET_AVX512F VS_INLINE __m512 vs_step512(int l2, __m512 acc, __m512 q, __m512 x)
{
    if (l2) {
        __m512 t = _mm512_sub_ps(q, x);
        return _mm512_fmadd_ps(t, t, acc);
    }
    return _mm512_fmadd_ps(q, x, acc);
}

VS_TARGET_AVX2 VS_INLINE __m256 vs_step256(int l2, __m256 acc, __m256 q, __m256 x)
{
    if (l2) {
        __m256 t = _mm256_sub_ps(q, x);
        return _mm256_fmadd_ps(t, t, acc);
    }
    return _mm256_fmadd_ps(q, x, acc);
}

/* ---- horizontal reductions ---------------------------------------------------------------- */

/* The tree of the blocked order over 16 lanes (above). */
VS_INLINE float vs_tree16(const float s[16])
{
    float u[8], w[4];
    for (int l = 0; l < 8; l++)
        u[l] = s[l] + s[l + 8];
    for (int l = 0; l < 4; l++)
        w[l] = u[l] + u[l + 4];
    return (w[0] + w[2]) + (w[1] + w[3]);
}

/* The last three steps of the tree, on 8 lanes u: the whole tree of lanes (lo, hi) is
   vs_hsum256(lo + hi). */
VS_TARGET_AVX2 VS_INLINE float vs_hsum256(__m256 u)
{
    __m128 w = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    w = _mm_add_ps(w, _mm_movehl_ps(w, w));          /* x0 = w0 + w2, x1 = w1 + w3 */
    return _mm_cvtss_f32(_mm_add_ss(w, _mm_movehdup_ps(w)));
}

/* The tree over 16 lanes in one register: the same bits as vs_tree16. */
VS_TARGET_AVX512F VS_INLINE float vs_hsum512(__m512 s)
{
    __m256 lo = _mm512_castps512_ps256(s);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
    return vs_hsum256(_mm256_add_ps(lo, hi));
}

/* Integer sums are exact: any order gives the same value. */
VS_TARGET_AVX2 VS_INLINE int vs_hsum256i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

VS_TARGET_AVX512F VS_INLINE int vs_hsum512i(__m512i v)
{
    return vs_hsum256i(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

/* ---- masks for tails ---------------------------------------------------------------------- */

/* The AVX2 mask of the first r < 8 lanes (r <= 0: none; r >= 8: all). */
VS_TARGET_AVX2 VS_INLINE __m256i vs_mask256(int r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The AVX-512 mask of the first r lanes of 16 (r < 16). */
static inline __mmask16 vs_mask16(size_t r)
{
    return (__mmask16)((1u << r) - 1);
}

#endif
