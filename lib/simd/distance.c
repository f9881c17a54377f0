/*
 * distance.c - squared L2 and dot-product kernels, and the run-time choice among them.
 *
 * Owns three kernel sets (scalar, AVX2+FMA, AVX-512F) and the pointer to the set in use.
 * Invariants:
 *  - The build needs no -mavx* or -march flags: ISA-specific functions carry a target attribute
 *    and are only reached through a set that __builtin_cpu_supports (which also checks that the
 *    OS saves the wide registers) approved.
 *  - The set in use is chosen once under pthread_once, may be replaced by vs_simd_select, and is
 *    published through an atomic pointer to a constant table, so a caller always sees one whole set.
 *  - Within a set every row is summed in the same order whether it goes through the single-pair
 *    or the _many call (the _many kernels only interleave several rows, each with its own
 *    accumulators), so both give bit-identical results.
 *
 * Summation order of the vector kernels, for lanes W (16 or 8): four accumulators s0..s3 take
 * blocks of 4W in turn; of the rest (< 4W), whole blocks of W go to s0, s1, s2, the masked tail
 * to s3; the result is the lane sum of (s0 + s1) + (s2 + s3).  Tails are loaded with masks, so
 * no kernel reads a byte past the end of a vector.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simd/distance.h"
#include "vf_error.h"

enum { OP_L2 = 0, OP_DOT = 1 };

typedef struct kernels {
    const char *name;
    float (*l2sq)(const float *, const float *, size_t);
    float (*dot)(const float *, const float *, size_t);
    void (*l2sq_many)(const float *, const float *, size_t, size_t, float *);
    void (*dot_many)(const float *, const float *, size_t, size_t, float *);
    size_t (*scan_le)(const float *, const float *, size_t, float, float, float, float, uint32_t *);
} kernels;

/* ---- scalar ---------------------------------------------------------------------------- */

/* Eight independent partial sums: shorter dependency chains, better rounding, and a shape the
   compiler may vectorize at the baseline ISA. */
static float l2sq_scalar(const float *a, const float *b, size_t d)
{
    float s[8] = {0}, r = 0;
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int j = 0; j < 8; j++) {
            float t = a[i + j] - b[i + j];
            s[j] += t * t;
        }
    for (; i < d; i++) {
        float t = a[i] - b[i];
        r += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + r;
}

static float dot_scalar(const float *a, const float *b, size_t d)
{
    float s[8] = {0}, r = 0;
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    for (; i < d; i++)
        r += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + r;
}

static void l2sq_many_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = l2sq_scalar(q, x + i * d, d);
}

static void dot_many_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dot_scalar(q, x + i * d, d);
}

/* ---- vector kernels -------------------------------------------------------------------- */

/*
 * The _many kernels read their rows as one sequential stream, and prefetching this far ahead of
 * it lifts throughput 10-15% over the hardware prefetcher alone (d = 784, rows out of cache).
 * Address arithmetic goes through uintptr_t and prefetches never fault, so running past the end
 * of the rows is harmless.  The single-pair calls do not prefetch: their caller's next row is
 * anywhere.
 */
#define PREFETCH_BYTES 8192

#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

INLINE void prefetch(const float *p)
{
    __builtin_prefetch((const void *)((uintptr_t)p + PREFETCH_BYTES), 0, 3);
}

/* ---- AVX-512F -------------------------------------------------------------------------- */

T512 INLINE __m512 step512(int op, __m512 s, __m512 q, __m512 x)
{
    if (op == OP_L2) {
        __m512 t = _mm512_sub_ps(q, x);
        return _mm512_fmadd_ps(t, t, s);
    }
    return _mm512_fmadd_ps(q, x, s);
}

/*
 * Distances from q to the R rows x, x + d, ... (R <= 4, a constant after inlining) into out.
 * The query block is loaded once per step and shared by the R rows.
 */
T512 INLINE void kern512(int op, const float *q, const float *x, size_t d, int R, int pf,
                         float *out)
{
    __m512 s[4][4];
    const float *row[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        row[r] = x + (size_t)r * d;
        s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm512_setzero_ps();
    }
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        if (pf) {
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    prefetch(row[r] + i + 16 * j);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m512 qv = _mm512_loadu_ps(q + i + 16 * j);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][j] = step512(op, s[r][j], qv, _mm512_loadu_ps(row[r] + i + 16 * j));
        }
    }
    size_t rem = d - i;
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
        if (rem >= 16 * (size_t)(j + 1)) {
            __m512 qv = _mm512_loadu_ps(q + i + 16 * j);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                s[r][j] = step512(op, s[r][j], qv, _mm512_loadu_ps(row[r] + i + 16 * j));
        }
    }
    if (rem & 15) {
        size_t o = i + (rem & ~(size_t)15);
        __mmask16 m = (__mmask16)((1u << (rem & 15)) - 1);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + o);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            s[r][3] = step512(op, s[r][3], qv, _mm512_maskz_loadu_ps(m, row[r] + o));
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]),
                                                    _mm512_add_ps(s[r][2], s[r][3])));
}

T512 static float l2sq_avx512(const float *a, const float *b, size_t d)
{
    float r;
    kern512(OP_L2, a, b, d, 1, 0, &r);
    return r;
}

T512 static float dot_avx512(const float *a, const float *b, size_t d)
{
    float r;
    kern512(OP_DOT, a, b, d, 1, 0, &r);
    return r;
}

T512 static void l2sq_many_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        kern512(OP_L2, q, x + i * d, d, 4, 1, out + i);
    for (; i < n; i++)
        kern512(OP_L2, q, x + i * d, d, 1, 1, out + i);
}

T512 static void dot_many_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        kern512(OP_DOT, q, x + i * d, d, 4, 1, out + i);
    for (; i < n; i++)
        kern512(OP_DOT, q, x + i * d, d, 1, 1, out + i);
}

/* Row j is a candidate when a*p[j] + b*c[j] + g*c[j]*p[j] <= thr. */
static size_t scan_le_scalar(const float *c, const float *p, size_t n, float a, float b, float g, float thr,
                             uint32_t *idx)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        float s = a * p[j] + b * c[j] + g * c[j] * p[j];
        idx[m] = (uint32_t)j;
        m += s <= thr;
    }
    return m;
}

/* ---- AVX2 + FMA ------------------------------------------------------------------------ */

/* tail_mask + 8 - r holds r all-ones lanes then zeros: the mask for a tail of r < 8 floats. */
static const int32_t tail_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

T256 INLINE __m256 step256(int op, __m256 s, __m256 q, __m256 x)
{
    if (op == OP_L2) {
        __m256 t = _mm256_sub_ps(q, x);
        return _mm256_fmadd_ps(t, t, s);
    }
    return _mm256_fmadd_ps(q, x, s);
}

T256 INLINE float hsum256(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* As kern512 with 8 lanes and R <= 2: the 16 ymm registers fit 8 accumulators, the query
   block and temporaries, not 16 accumulators. */
T256 INLINE void kern256(int op, const float *q, const float *x, size_t d, int R, int pf,
                         float *out)
{
    __m256 s[2][4];
    const float *row[2];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++) {
        row[r] = x + (size_t)r * d;
        s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm256_setzero_ps();
    }
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        if (pf) {
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) {
                prefetch(row[r] + i);
                prefetch(row[r] + i + 16);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256 qv = _mm256_loadu_ps(q + i + 8 * j);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                s[r][j] = step256(op, s[r][j], qv, _mm256_loadu_ps(row[r] + i + 8 * j));
        }
    }
    size_t rem = d - i;
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
        if (rem >= 8 * (size_t)(j + 1)) {
            __m256 qv = _mm256_loadu_ps(q + i + 8 * j);
#pragma GCC unroll 2
            for (int r = 0; r < R; r++)
                s[r][j] = step256(op, s[r][j], qv, _mm256_loadu_ps(row[r] + i + 8 * j));
        }
    }
    if (rem & 7) {
        size_t o = i + (rem & ~(size_t)7);
        __m256i m = _mm256_loadu_si256((const __m256i *)(tail_mask + 8 - (rem & 7)));
        __m256 qv = _mm256_maskload_ps(q + o, m);
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
            s[r][3] = step256(op, s[r][3], qv, _mm256_maskload_ps(row[r] + o, m));
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
        out[r] = hsum256(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]),
                                       _mm256_add_ps(s[r][2], s[r][3])));
}

T256 static float l2sq_avx2(const float *a, const float *b, size_t d)
{
    float r;
    kern256(OP_L2, a, b, d, 1, 0, &r);
    return r;
}

T256 static float dot_avx2(const float *a, const float *b, size_t d)
{
    float r;
    kern256(OP_DOT, a, b, d, 1, 0, &r);
    return r;
}

T256 static void l2sq_many_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        kern256(OP_L2, q, x + i * d, d, 2, 1, out + i);
    if (i < n)
        kern256(OP_L2, q, x + i * d, d, 1, 1, out + i);
}

T256 static void dot_many_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        kern256(OP_DOT, q, x + i * d, d, 2, 1, out + i);
    if (i < n)
        kern256(OP_DOT, q, x + i * d, d, 1, 1, out + i);
}

T256 static size_t scan_le_avx2(const float *c, const float *p, size_t n, float a, float b, float g, float thr,
                                uint32_t *idx)
{
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vg = _mm256_set1_ps(g), vt = _mm256_set1_ps(thr);
    size_t m = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 cv = _mm256_loadu_ps(c + j), pv = _mm256_loadu_ps(p + j);
        __m256 sv = _mm256_fmadd_ps(va, pv, _mm256_fmadd_ps(vb, cv, _mm256_mul_ps(vg, _mm256_mul_ps(cv, pv))));
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(sv, vt, _CMP_LE_OQ));
        while (bits) {
            idx[m++] = (uint32_t)(j + (size_t)__builtin_ctz(bits));
            bits &= bits - 1;
        }
    }
    /* the tail, with indices offset by j */
    for (; j < n; j++) {
        float sv = a * p[j] + b * c[j] + g * c[j] * p[j];
        idx[m] = (uint32_t)j;
        m += sv <= thr;
    }
    return m;
}

T512 static size_t scan_le_avx512(const float *c, const float *p, size_t n, float a, float b, float g, float thr,
                                  uint32_t *idx)
{
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vg = _mm512_set1_ps(g), vt = _mm512_set1_ps(thr);
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t m = 0, j = 0;
    for (; j < n; j += 16) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 cv = _mm512_maskz_loadu_ps(live, c + j), pv = _mm512_maskz_loadu_ps(live, p + j);
        __m512 sv = _mm512_fmadd_ps(va, pv, _mm512_fmadd_ps(vb, cv, _mm512_mul_ps(vg, _mm512_mul_ps(cv, pv))));
        __mmask16 hit = _mm512_mask_cmp_ps_mask(live, sv, vt, _CMP_LE_OQ);
        if (hit) {
            __m512i jv = _mm512_add_epi32(lane, _mm512_set1_epi32((int)j));
            _mm512_mask_compressstoreu_epi32(idx + m, hit, jv);
            m += (size_t)__builtin_popcount(hit);
        }
    }
    return m;
}

/* ---- dispatch -------------------------------------------------------------------------- */

static const kernels set_scalar = {"scalar", l2sq_scalar, dot_scalar, l2sq_many_scalar,
                                   dot_many_scalar, scan_le_scalar};
static const kernels set_avx2 = {"avx2", l2sq_avx2, dot_avx2, l2sq_many_avx2, dot_many_avx2, scan_le_avx2};
static const kernels set_avx512 = {"avx512", l2sq_avx512, dot_avx512, l2sq_many_avx512,
                                   dot_many_avx512, scan_le_avx512};

static _Atomic(const kernels *) active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static const kernels *best_set(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return &set_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &set_avx2;
    return &set_scalar;
}

/* The set called name if this CPU runs it, "auto" for the best; NULL otherwise. */
static const kernels *find_set(const char *name)
{
    if (!name)
        return NULL;
    __builtin_cpu_init();
    if (!strcmp(name, "auto"))
        return best_set();
    if (!strcmp(name, "scalar"))
        return &set_scalar;
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &set_avx2 : NULL;
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") ? &set_avx512 : NULL;
    return NULL;
}

static void choose_set(void)
{
    const kernels *k = find_set(getenv("VECSEG_SIMD"));
    atomic_store_explicit(&active, k ? k : best_set(), memory_order_release);
}

static inline const kernels *current(void)
{
    const kernels *k = atomic_load_explicit(&active, memory_order_acquire);
    if (__builtin_expect(k == NULL, 0)) {
        pthread_once(&active_once, choose_set);
        k = atomic_load_explicit(&active, memory_order_acquire);
    }
    return k;
}

float vs_l2sq(const float *a, const float *b, size_t d)
{
    return current()->l2sq(a, b, d);
}

float vs_dot(const float *a, const float *b, size_t d)
{
    return current()->dot(a, b, d);
}

void vs_l2sq_many(const float *q, const float *x, size_t n, size_t d, float *out)
{
    current()->l2sq_many(q, x, n, d, out);
}

void vs_dot_many(const float *q, const float *x, size_t n, size_t d, float *out)
{
    current()->dot_many(q, x, n, d, out);
}

size_t vs_scan_le(const float *c, const float *p, size_t n, float a, float b, float g, float thr, uint32_t *idx)
{
    return current()->scan_le(c, p, n, a, b, g, thr, idx);
}

const char *vs_simd_name(void)
{
    return current()->name;
}

int vs_simd_select(const char *name)
{
    const kernels *k = find_set(name);
    if (!k)
        return VF_EUNSUPPORTED;
    pthread_once(&active_once, choose_set); /* so a later first use cannot undo this choice */
    atomic_store_explicit(&active, k, memory_order_release);
    return 0;
}
