/*
 * kmeans.c - Lloyd's k-means (the IVF coarse quantizer and the PQ codebooks),
 * nearest-centroid assignment, seeded sampling and the transposed-codebook
 * distance tables.
 *
 * Invariants (determinism: same input, seed and parameters give the same
 * centroids whatever the thread count):
 *  - assignment works on fixed blocks of ARB rows (vs_parallel_for items); a
 *    block's result depends only on its rows and the centroids, never on
 *    which thread ran it, and the sgemm calls inside run single-threaded
 *    (vs_blas_serial);
 *  - centroid sums run per cluster over its rows in ascending row order,
 *    in double precision;
 *  - every random choice comes from splitmix64 seeded by the caller's seed.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "simd/distance.h"
#include "index/ivf/kmeans.h"
#include "util/parallel.h"

#define ARB 256       /* rows per assignment block */
#define ACB 1024      /* centroids per sgemm block: the product is 1 MiB */
#define DIRECT_D 16   /* dimensions up to which distance tables beat sgemm */
#define UCB 16        /* clusters per mean-update block */
#define SPLIT_EPS (1.0f / 1024) /* relative perturbation of a split centroid */

uint64_t vs_rand64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A double uniform in [0, 1). */
static double rand_unit(uint64_t *s) { return (double)(vs_rand64(s) >> 11) * (1.0 / 9007199254740992.0); }

void vs_sample_rows(size_t n, size_t m, uint64_t seed, uint32_t *out)
{
    /* Knuth 3.4.2 algorithm S: row i is taken with probability
       (still needed) / (still left), which is uniform over m-subsets */
    uint64_t s = seed;
    size_t got = 0;
    for (size_t i = 0; i < n && got < m; i++)
        if (rand_unit(&s) * (double)(n - i) < (double)(m - got))
            out[got++] = (uint32_t)i;
}

/* ---- transposed distance tables -------------------------------------------------------- */

#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))

/* 2 = avx512, 1 = avx2, 0 = scalar: the set distance.c uses ("avx512",
   "avx2", "scalar" differ in their fourth byte), so VECSEG_SIMD and
   vs_simd_select steer these kernels too. */
static int simd_level(void)
{
    const char *s = vs_simd_name();
    return s[3] == '5' ? 2 : s[3] == '2' ? 1 : 0;
}

static void table_tail(const float *x, const float *ct, uint32_t d, uint32_t k, uint32_t c, int l2,
                       float *out)
{
    for (; c < k; c++) {
        float s = 0;
        for (uint32_t t = 0; t < d; t++) {
            float v = ct[(size_t)t * k + c];
            s += l2 ? (x[t] - v) * (x[t] - v) : x[t] * v;
        }
        out[c] = s;
    }
}

T512 static void table_512(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    uint32_t c = 0;
    /* four blocks of 16 codewords at once: independent FMA chains */
    for (; c + 64 <= k; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]);
            __m512 v0 = _mm512_loadu_ps(p), v1 = _mm512_loadu_ps(p + 16);
            __m512 v2 = _mm512_loadu_ps(p + 32), v3 = _mm512_loadu_ps(p + 48);
            if (l2) {
                v0 = _mm512_sub_ps(xv, v0);
                v1 = _mm512_sub_ps(xv, v1);
                v2 = _mm512_sub_ps(xv, v2);
                v3 = _mm512_sub_ps(xv, v3);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
                a1 = _mm512_fmadd_ps(v1, v1, a1);
                a2 = _mm512_fmadd_ps(v2, v2, a2);
                a3 = _mm512_fmadd_ps(v3, v3, a3);
            } else {
                a0 = _mm512_fmadd_ps(xv, v0, a0);
                a1 = _mm512_fmadd_ps(xv, v1, a1);
                a2 = _mm512_fmadd_ps(xv, v2, a2);
                a3 = _mm512_fmadd_ps(xv, v3, a3);
            }
        }
        _mm512_storeu_ps(out + c, a0);
        _mm512_storeu_ps(out + c + 16, a1);
        _mm512_storeu_ps(out + c + 32, a2);
        _mm512_storeu_ps(out + c + 48, a3);
    }
    for (; c + 16 <= k; c += 16) {
        __m512 a0 = _mm512_setzero_ps();
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]), v0 = _mm512_loadu_ps(p);
            if (l2) {
                v0 = _mm512_sub_ps(xv, v0);
                a0 = _mm512_fmadd_ps(v0, v0, a0);
            } else
                a0 = _mm512_fmadd_ps(xv, v0, a0);
        }
        _mm512_storeu_ps(out + c, a0);
    }
    table_tail(x, ct, d, k, c, l2, out);
}

T256 static void table_256(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    uint32_t c = 0;
    for (; c + 32 <= k; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m256 xv = _mm256_set1_ps(x[t]);
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
            __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            if (l2) {
                v0 = _mm256_sub_ps(xv, v0);
                v1 = _mm256_sub_ps(xv, v1);
                v2 = _mm256_sub_ps(xv, v2);
                v3 = _mm256_sub_ps(xv, v3);
                a0 = _mm256_fmadd_ps(v0, v0, a0);
                a1 = _mm256_fmadd_ps(v1, v1, a1);
                a2 = _mm256_fmadd_ps(v2, v2, a2);
                a3 = _mm256_fmadd_ps(v3, v3, a3);
            } else {
                a0 = _mm256_fmadd_ps(xv, v0, a0);
                a1 = _mm256_fmadd_ps(xv, v1, a1);
                a2 = _mm256_fmadd_ps(xv, v2, a2);
                a3 = _mm256_fmadd_ps(xv, v3, a3);
            }
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
    }
    for (; c + 8 <= k; c += 8) {
        __m256 a0 = _mm256_setzero_ps();
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m256 xv = _mm256_set1_ps(x[t]), v0 = _mm256_loadu_ps(p);
            if (l2) {
                v0 = _mm256_sub_ps(xv, v0);
                a0 = _mm256_fmadd_ps(v0, v0, a0);
            } else
                a0 = _mm256_fmadd_ps(xv, v0, a0);
        }
        _mm256_storeu_ps(out + c, a0);
    }
    table_tail(x, ct, d, k, c, l2, out);
}

typedef void (*table_fn)(const float *, const float *, uint32_t, uint32_t, int, float *);

static void table_scalar(const float *x, const float *ct, uint32_t d, uint32_t k, int l2, float *out)
{
    table_tail(x, ct, d, k, 0, l2, out);
}

/* The table kernel of the set in use (resolved once per batch of calls). */
static table_fn table_pick(void)
{
    int l = simd_level();
    return l == 2 ? table_512 : l == 1 ? table_256 : table_scalar;
}

void vs_table_l2(const float *x, const float *ct, uint32_t d, uint32_t k, float *out)
{
    table_pick()(x, ct, d, k, 1, out);
}

void vs_table_dot(const float *x, const float *ct, uint32_t d, uint32_t k, float scale, float *out)
{
    table_pick()(x, ct, d, k, 0, out);
    if (scale != 1.0f)
        for (uint32_t c = 0; c < k; c++)
            out[c] *= scale;
}

void vs_tables_dot(const float *x, const float *ct, uint32_t m, uint32_t d, uint32_t k, float *out)
{
    table_fn f = table_pick();
    for (uint32_t j = 0; j < m; j++)
        f(x + (size_t)j * d, ct + (size_t)j * d * k, d, k, 0, out + (size_t)j * k);
}

typedef uint32_t (*argmin_fn)(const float *, uint32_t, float *);

static uint32_t argmin_tail(const float *v, uint32_t k, uint32_t c, uint32_t arg, float *best)
{
    float b = *best;
    for (; c < k; c++)
        if (v[c] < b) {
            b = v[c];
            arg = c;
        }
    *best = b;
    return arg;
}

static uint32_t argmin_scalar(const float *v, uint32_t k, float *best)
{
    *best = v[0];
    return argmin_tail(v, k, 1, 0, best);
}

/* Each lane keeps the lowest index reaching its minimum; the lanes then
   reduce to the lowest index of the overall minimum, as the scalar scan. */
T512 static uint32_t argmin_512(const float *v, uint32_t k, float *best)
{
    if (k < 16)
        return argmin_scalar(v, k, best);
    __m512 bv = _mm512_loadu_ps(v);
    __m512i bi = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), ci = bi;
    const __m512i step = _mm512_set1_epi32(16);
    uint32_t c = 16;
    for (; c + 16 <= k; c += 16) {
        ci = _mm512_add_epi32(ci, step);
        __m512 x = _mm512_loadu_ps(v + c);
        __mmask16 lt = _mm512_cmp_ps_mask(x, bv, _CMP_LT_OQ);
        bv = _mm512_mask_mov_ps(bv, lt, x);
        bi = _mm512_mask_mov_epi32(bi, lt, ci);
    }
    float b = _mm512_reduce_min_ps(bv);
    __mmask16 eq = _mm512_cmp_ps_mask(bv, _mm512_set1_ps(b), _CMP_EQ_OQ);
    if (!eq) /* all NaN */
        return argmin_scalar(v, k, best);
    uint32_t arg = (uint32_t)_mm512_mask_reduce_min_epi32(eq, bi);
    *best = b;
    return argmin_tail(v, k, c, arg, best);
}

T256 static uint32_t argmin_256(const float *v, uint32_t k, float *best)
{
    if (k < 8)
        return argmin_scalar(v, k, best);
    __m256 bv = _mm256_loadu_ps(v);
    __m256i bi = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), ci = bi;
    const __m256i step = _mm256_set1_epi32(8);
    uint32_t c = 8;
    for (; c + 8 <= k; c += 8) {
        ci = _mm256_add_epi32(ci, step);
        __m256 x = _mm256_loadu_ps(v + c);
        __m256 lt = _mm256_cmp_ps(x, bv, _CMP_LT_OQ);
        bv = _mm256_blendv_ps(bv, x, lt);
        bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(ci), lt));
    }
    float lv[8];
    uint32_t li[8];
    _mm256_storeu_ps(lv, bv);
    _mm256_storeu_si256((__m256i *)li, bi);
    int have = 0;
    float b = 0;
    uint32_t arg = 0;
    for (int l = 0; l < 8; l++)
        if (lv[l] == lv[l] && (!have || lv[l] < b || (lv[l] == b && li[l] < arg))) {
            b = lv[l];
            arg = li[l];
            have = 1;
        }
    if (!have)
        return argmin_scalar(v, k, best);
    *best = b;
    return argmin_tail(v, k, c, arg, best);
}

static argmin_fn argmin_pick(void)
{
    int l = simd_level();
    return l == 2 ? argmin_512 : l == 1 ? argmin_256 : argmin_scalar;
}

uint32_t vs_argmin(const float *v, uint32_t k, float *best) { return argmin_pick()(v, k, best); }

/* (v1, i1) replaces (v0, i0) in the lanes where it ranks first: smaller
   value, or equal value and lower index. */
T512 static inline void merge_512(__m512 *v0, __m512i *i0, __m512 v1, __m512i i1)
{
    __mmask16 take = _mm512_cmp_ps_mask(v1, *v0, _CMP_LT_OQ) |
                     (_mm512_cmp_ps_mask(v1, *v0, _CMP_EQ_OQ) & _mm512_cmplt_epi32_mask(i1, *i0));
    *v0 = _mm512_mask_mov_ps(*v0, take, v1);
    *i0 = _mm512_mask_mov_epi32(*i0, take, i1);
}

/* Table and argmin in one pass for k a multiple of 64: four running minima
   per lane (one per 16-codeword slot of a 64 block), merged at the end. */
T512 static uint32_t table_argmin_512(const float *x, const float *ct, uint32_t d, uint32_t k, float *best)
{
    const __m512 inf = _mm512_set1_ps(INFINITY);
    __m512 b0 = inf, b1 = inf, b2 = inf, b3 = inf;
    __m512i i0 = _mm512_setzero_si512(), i1 = i0, i2 = i0, i3 = i0;
    __m512i c0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i s16 = _mm512_set1_epi32(16), s64 = _mm512_set1_epi32(64);
    for (uint32_t c = 0; c < k; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *p = ct + c;
        for (uint32_t t = 0; t < d; t++, p += k) {
            __m512 xv = _mm512_set1_ps(x[t]);
            __m512 v0 = _mm512_sub_ps(xv, _mm512_loadu_ps(p)), v1 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 16));
            __m512 v2 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 32)), v3 = _mm512_sub_ps(xv, _mm512_loadu_ps(p + 48));
            a0 = _mm512_fmadd_ps(v0, v0, a0);
            a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2);
            a3 = _mm512_fmadd_ps(v3, v3, a3);
        }
        __m512i c1 = _mm512_add_epi32(c0, s16), c2 = _mm512_add_epi32(c1, s16), c3 = _mm512_add_epi32(c2, s16);
        __mmask16 m0 = _mm512_cmp_ps_mask(a0, b0, _CMP_LT_OQ), m1 = _mm512_cmp_ps_mask(a1, b1, _CMP_LT_OQ);
        __mmask16 m2 = _mm512_cmp_ps_mask(a2, b2, _CMP_LT_OQ), m3 = _mm512_cmp_ps_mask(a3, b3, _CMP_LT_OQ);
        b0 = _mm512_mask_mov_ps(b0, m0, a0);
        b1 = _mm512_mask_mov_ps(b1, m1, a1);
        b2 = _mm512_mask_mov_ps(b2, m2, a2);
        b3 = _mm512_mask_mov_ps(b3, m3, a3);
        i0 = _mm512_mask_mov_epi32(i0, m0, c0);
        i1 = _mm512_mask_mov_epi32(i1, m1, c1);
        i2 = _mm512_mask_mov_epi32(i2, m2, c2);
        i3 = _mm512_mask_mov_epi32(i3, m3, c3);
        c0 = _mm512_add_epi32(c0, s64);
    }
    merge_512(&b0, &i0, b1, i1);
    merge_512(&b2, &i2, b3, i3);
    merge_512(&b0, &i0, b2, i2);
    float b = _mm512_reduce_min_ps(b0);
    __mmask16 eq = _mm512_cmp_ps_mask(b0, _mm512_set1_ps(b), _CMP_EQ_OQ);
    if (!eq) { /* every distance NaN */
        *best = NAN;
        return 0;
    }
    *best = b;
    return (uint32_t)_mm512_mask_reduce_min_epi32(eq, i0);
}

/* The nearest of k transposed codewords; buf (k floats) is scratch for the
   kernel sets without a fused version.  Same result as vs_table_l2 then
   vs_argmin: the fused kernel sums in the same order. */
uint32_t vs_table_l2_argmin(const float *x, const float *ct, uint32_t d, uint32_t k, float *buf, float *best)
{
    if (k % 64 == 0 && simd_level() == 2)
        return table_argmin_512(x, ct, d, k, best);
    table_pick()(x, ct, d, k, 1, buf);
    return vs_argmin(buf, k, best);
}

/* ---- assignment ------------------------------------------------------------------------ */

typedef struct assign_ctx {
    const float *x, *c;
    size_t n;
    uint32_t d, k;
    const float *cn;   /* sgemm path: squared centroid norms */
    const float *ct;   /* direct path: centroids transposed, d x k */
    float *work;       /* per worker: work_per floats */
    size_t work_per;
    uint32_t *assign;
    float *dist;
} assign_ctx;

static void assign_block(void *vctx, size_t b, int w)
{
    const assign_ctx *a = vctx;
    size_t r0 = b * ARB, nr = a->n - r0 < ARB ? a->n - r0 : ARB;
    uint32_t d = a->d, k = a->k;
    float *buf = a->work + (size_t)w * a->work_per;
    if (a->ct) {
        for (size_t i = 0; i < nr; i++) {
            float best;
            a->assign[r0 + i] = vs_table_l2_argmin(a->x + (r0 + i) * d, a->ct, d, k, buf, &best);
            if (a->dist)
                a->dist[r0 + i] = best;
        }
        return;
    }
    float best[ARB];
    uint32_t arg[ARB];
    for (size_t i = 0; i < nr; i++) {
        best[i] = INFINITY;
        arg[i] = 0;
    }
    for (uint32_t c0 = 0; c0 < k; c0 += ACB) {
        uint32_t nc = k - c0 < ACB ? k - c0 : ACB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, (int)d, 1.0f, a->x + r0 * d,
                    (int)d, a->c + (size_t)c0 * d, (int)d, 0.0f, buf, (int)nc);
        const float *cn = a->cn + c0;
        for (size_t i = 0; i < nr; i++) {
            const float *row = buf + i * nc;
            float bi = best[i];
            uint32_t ai = arg[i];
            for (uint32_t j = 0; j < nc; j++) {
                float v = cn[j] - 2.0f * row[j];
                if (v < bi) {
                    bi = v;
                    ai = c0 + j;
                }
            }
            best[i] = bi;
            arg[i] = ai;
        }
    }
    for (size_t i = 0; i < nr; i++) {
        a->assign[r0 + i] = arg[i];
        if (a->dist) {
            const float *xi = a->x + (r0 + i) * d;
            float v = vs_dot(xi, xi, d) + best[i];
            a->dist[r0 + i] = v > 0 ? v : 0;
        }
    }
}

int vs_kmeans_assign(const float *x, size_t n, uint32_t d, const float *c, uint32_t k, int threads,
                     uint32_t *assign, float *dist, vf_error *err)
{
    if (n == 0)
        return 0;
    if (threads < 1)
        threads = 1;
    size_t nblocks = (n + ARB - 1) / ARB;
    if ((size_t)threads > nblocks)
        threads = (int)nblocks;
    assign_ctx a = {.x = x, .c = c, .n = n, .d = d, .k = k, .assign = assign, .dist = dist};
    float *aux = NULL;
    int direct = d <= DIRECT_D;
    if (direct) {
        aux = malloc((size_t)d * k * sizeof *aux);
        a.work_per = k;
    } else {
        aux = malloc((size_t)k * sizeof *aux);
        a.work_per = (size_t)ARB * (k < ACB ? k : ACB);
    }
    a.work = malloc((size_t)threads * a.work_per * sizeof *a.work);
    if (!aux || !a.work) {
        free(aux);
        free(a.work);
        return vf_fail(err, VF_ENOMEM, "k-means: out of memory");
    }
    if (direct) {
        for (uint32_t j = 0; j < k; j++)
            for (uint32_t t = 0; t < d; t++)
                aux[(size_t)t * k + j] = c[(size_t)j * d + t];
        a.ct = aux;
    } else {
        for (uint32_t j = 0; j < k; j++)
            aux[j] = vs_dot(c + (size_t)j * d, c + (size_t)j * d, d);
        a.cn = aux;
    }
    if (!direct)
        vs_blas_serial(); /* our threads each run sgemm */
    vs_parallel_for(threads, nblocks, assign_block, &a);
    free(aux);
    free(a.work);
    return 0;
}

/* ---- training -------------------------------------------------------------------------- */

typedef struct update_ctx {
    const float *x;
    uint32_t d, k;
    const uint32_t *order;   /* rows grouped by cluster, ascending within each */
    const size_t *start;     /* k + 1 offsets into order */
    float *cent;
    double *acc;             /* per worker: d doubles */
} update_ctx;

static void update_block(void *vctx, size_t b, int w)
{
    const update_ctx *u = vctx;
    double *acc = u->acc + (size_t)w * u->d;
    uint32_t j1 = (uint32_t)((b + 1) * UCB < u->k ? (b + 1) * UCB : u->k);
    for (uint32_t j = (uint32_t)(b * UCB); j < j1; j++) {
        size_t lo = u->start[j], hi = u->start[j + 1];
        if (lo == hi)
            continue; /* empty: re-seeded afterwards */
        memset(acc, 0, u->d * sizeof *acc);
        for (size_t p = lo; p < hi; p++) {
            const float *xi = u->x + (size_t)u->order[p] * u->d;
            for (uint32_t t = 0; t < u->d; t++)
                acc[t] += xi[t];
        }
        float *c = u->cent + (size_t)j * u->d;
        for (uint32_t t = 0; t < u->d; t++)
            c[t] = (float)(acc[t] / (double)(hi - lo));
    }
}

/* k-means++ seeding: each next centroid is a row drawn with probability
   proportional to its squared distance to the nearest centroid so far. */
static void init_plusplus(const float *x, size_t n, uint32_t d, uint32_t k, uint64_t *rng, float *cent,
                          float *mind)
{
    size_t first = (size_t)(rand_unit(rng) * (double)n);
    memcpy(cent, x + first * d, d * sizeof *cent);
    for (size_t i = 0; i < n; i++)
        mind[i] = vs_l2sq(x + i * d, cent, d);
    for (uint32_t j = 1; j < k; j++) {
        double total = 0;
        for (size_t i = 0; i < n; i++)
            total += mind[i];
        size_t pick = n - 1;
        if (total > 0) {
            double r = rand_unit(rng) * total, cum = 0;
            for (size_t i = 0; i < n; i++) {
                cum += mind[i];
                if (r < cum) {
                    pick = i;
                    break;
                }
            }
        } else
            pick = (size_t)(rand_unit(rng) * (double)n);
        float *c = cent + (size_t)j * d;
        memcpy(c, x + pick * d, d * sizeof *c);
        for (size_t i = 0; i < n; i++) {
            float v = vs_l2sq(x + i * d, c, d);
            if (v < mind[i])
                mind[i] = v;
        }
    }
}

/* Re-seeds each empty cluster (ascending) by splitting the largest one, as
   FAISS does: the two copies move apart by a relative SPLIT_EPS. */
static void split_empty(uint32_t d, uint32_t k, size_t *count, float *cent)
{
    for (uint32_t e = 0; e < k; e++) {
        if (count[e])
            continue;
        uint32_t m = 0;
        for (uint32_t j = 1; j < k; j++)
            if (count[j] > count[m])
                m = j;
        if (count[m] < 2)
            return; /* nothing left to split */
        float *ce = cent + (size_t)e * d, *cm = cent + (size_t)m * d;
        for (uint32_t t = 0; t < d; t++) {
            float delta = SPLIT_EPS * (fabsf(cm[t]) + 1e-6f);
            float v = cm[t];
            ce[t] = t % 2 ? v - delta : v + delta;
            cm[t] = t % 2 ? v + delta : v - delta;
        }
        count[e] = count[m] / 2;
        count[m] -= count[e];
    }
}

int vs_kmeans_train(const float *x, size_t n, uint32_t d, const vs_kmeans_params *p, float *cent,
                    vs_kmeans_stats *stats, uint32_t *assign, vf_error *err)
{
    uint32_t k = p->k;
    if (!k || !d)
        return vf_fail(err, VF_EARG, "k-means: k and dim must be positive");
    uint32_t iters = p->iters ? p->iters : VS_KMEANS_ITERS_DEFAULT;
    size_t per = p->max_per_centroid ? p->max_per_centroid : VS_KMEANS_MAX_PER_CENTROID_DEFAULT;
    int threads = p->threads < 1 ? 1 : p->threads;
    vs_kmeans_stats st = {0};
    if (stats)
        *stats = st;
    if (n == 0) {
        memset(cent, 0, (size_t)k * d * sizeof *cent);
        return 0;
    }
    uint64_t rng = p->seed;
    uint64_t sample_seed = vs_rand64(&rng);
    size_t ns = n;
    if (per <= SIZE_MAX / k && ns > per * k)
        ns = per * k;
    const float *xs = x;
    float *own = NULL;
    uint32_t *idx = NULL;
    if (ns < n) {
        idx = malloc(ns * sizeof *idx);
        own = malloc(ns * d * sizeof *own);
        if (!idx || !own) {
            free(idx);
            free(own);
            return vf_fail(err, VF_ENOMEM, "k-means: out of memory");
        }
        vs_sample_rows(n, ns, sample_seed, idx);
        for (size_t i = 0; i < ns; i++)
            memcpy(own + i * d, x + (size_t)idx[i] * d, d * sizeof *own);
        xs = own;
        free(idx);
        idx = NULL;
    }
    st.train_rows = ns;
    if (ns <= k) {
        for (uint32_t j = 0; j < k; j++)
            memcpy(cent + (size_t)j * d, xs + (j % ns) * d, d * sizeof *cent);
        if (assign && ns == n) {
            for (size_t i = 0; i < n; i++)
                assign[i] = (uint32_t)i; /* its own copy: distance 0 */
            st.assigned = 1;
        }
        free(own);
        if (stats)
            *stats = st;
        return 0;
    }
    uint32_t *asg = malloc(ns * sizeof *asg), *prev = malloc(ns * sizeof *prev);
    uint32_t *order = malloc(ns * sizeof *order);
    float *dist = malloc(ns * sizeof *dist);
    size_t *count = malloc((size_t)k * sizeof *count), *start = malloc(((size_t)k + 1) * sizeof *start);
    double *acc = malloc((size_t)threads * d * sizeof *acc);
    uint32_t *pick = p->init == VS_KMEANS_PLUSPLUS ? NULL : malloc((size_t)k * sizeof *pick);
    int rc = 0;
    if (!asg || !prev || !order || !dist || !count || !start || !acc || (p->init != VS_KMEANS_PLUSPLUS && !pick)) {
        rc = vf_fail(err, VF_ENOMEM, "k-means: out of memory");
        goto out;
    }
    if (p->init == VS_KMEANS_PLUSPLUS)
        init_plusplus(xs, ns, d, k, &rng, cent, dist);
    else {
        vs_sample_rows(ns, k, vs_rand64(&rng), pick);
        for (uint32_t j = 0; j < k; j++)
            memcpy(cent + (size_t)j * d, xs + (size_t)pick[j] * d, d * sizeof *cent);
    }
    for (uint32_t it = 0; it < iters; it++) {
        rc = vs_kmeans_assign(xs, ns, d, cent, k, threads, asg, dist, err);
        if (rc)
            goto out;
        size_t changed = 0;
        double obj = 0;
        for (size_t i = 0; i < ns; i++) {
            changed += it == 0 || asg[i] != prev[i];
            obj += dist[i];
        }
        st.iterations = it + 1;
        st.objective = obj;
        /* no update after the last assignment: the centroids stay those
           the assignment is exact for */
        if (changed == 0 || it + 1 == iters)
            break;
        memcpy(prev, asg, ns * sizeof *prev);
        memset(count, 0, (size_t)k * sizeof *count);
        for (size_t i = 0; i < ns; i++)
            count[asg[i]]++;
        start[0] = 0;
        for (uint32_t j = 0; j < k; j++)
            start[j + 1] = start[j] + count[j];
        memcpy(count, start, (size_t)k * sizeof *count); /* fill cursors */
        for (size_t i = 0; i < ns; i++)
            order[count[asg[i]]++] = (uint32_t)i;
        for (uint32_t j = 0; j < k; j++)
            count[j] = start[j + 1] - start[j];
        update_ctx u = {xs, d, k, order, start, cent, acc};
        vs_parallel_for(threads, (k + UCB - 1) / UCB, update_block, &u);
        split_empty(d, k, count, cent);
    }
    if (!rc && assign && ns == n) {
        memcpy(assign, asg, n * sizeof *assign);
        st.assigned = 1;
    }
out:
    if (stats)
        *stats = st;
    free(own);
    free(asg);
    free(prev);
    free(order);
    free(dist);
    free(count);
    free(start);
    free(acc);
    free(pick);
    return rc;
}
