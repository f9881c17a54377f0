/*
 * kmeans.c - Lloyd's k-means (the IVF coarse quantizer and the PQ codebooks),
 * nearest-centroid assignment and seeded sampling.  The distance kernels it
 * runs are lib/simd/'s, its threads util/parallel.c's.
 *
 * Invariants (determinism: same input, seed and parameters give the same
 * centroids whatever the thread count):
 *  - assignment works on fixed blocks of ARB rows (vs_parallel_for items); a
 *    block's result depends only on its rows and the centroids, never on
 *    which thread ran it, and the sgemm calls inside run single-threaded
 *    (vs_blas_serial);
 *  - the assignment is decided by exact distances in the blocked order of
 *    lib/simd/simd.h, sgemm only narrowing the candidates within a proven
 *    error bound, so it is also the same whatever OpenBLAS kernel or
 *    instruction set a machine runs;
 *  - centroid sums run per cluster over its rows in ascending row order,
 *    in double precision;
 *  - every random choice comes from splitmix64 seeded by the caller's seed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf/kmeans.h"
#include "simd/distance.h"
#include "simd/pq.h"
#include "util/blas.h"
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

float *vs_sample_copy(const float *x, size_t n, uint32_t d, size_t m, uint64_t seed)
{
    uint32_t *idx = malloc((m ? m : 1) * sizeof *idx);
    float *out = malloc((m ? m : 1) * d * sizeof *out);
    if (idx && out) {
        vs_sample_rows(n, m, seed, idx);
        for (size_t i = 0; i < m; i++)
            memcpy(out + i * d, x + (size_t)idx[i] * d, d * sizeof *out);
    } else {
        free(out);
        out = NULL;
    }
    free(idx);
    return out;
}

/* ---- assignment ------------------------------------------------------------------------ */

typedef struct assign_ctx {
    const float *x, *c;
    size_t n;
    uint32_t d, k;
    const float *cn;   /* sgemm path: squared centroid norms */
    float cmax;        /* sgemm path: the largest centroid norm */
    const float *ct;   /* direct path: centroids transposed, d x k */
    float *work;       /* per worker: work_per floats */
    size_t work_per;
    uint32_t *assign;
    float *dist;
} assign_ctx;

/*
 * The sgemm path decides by exact distances, so that the assignment is the same whatever
 * OpenBLAS kernel a machine runs: sgemm gives each centroid an estimate
 * e_c = |c|^2 - 2 x.c of D_c - |x|^2, and only centroids whose estimate lies within `band` of
 * the smallest seen so far get their exact distance vs_l2sq (the blocked order of simd.h: the
 * same bits everywhere), which decides, ties to the lower index.  With g = 2 (d + 2) 2^-24
 * and S = (|x| + max |c|)^2, every estimate is within g S of D_c - |x|^2 and every vs_l2sq
 * within g S of D_c (rounding error bounds for any summation order), so the winner's estimate
 * is within 4 g S of the smallest estimate: band = 5 g S never skips it.  Most rows compute a
 * handful of exact distances.
 */
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
    float low[ARB], band[ARB], best[ARB];
    uint32_t arg[ARB];
    const float g = 2.0f * ((float)d + 2) * 0x1p-24f;
    for (size_t i = 0; i < nr; i++) {
        const float *xi = a->x + (r0 + i) * d;
        float s = sqrtf(vs_dot(xi, xi, d)) + a->cmax;
        band[i] = 5 * g * s * s;
        low[i] = best[i] = INFINITY;
        arg[i] = 0;
    }
    for (uint32_t c0 = 0; c0 < k; c0 += ACB) {
        uint32_t nc = k - c0 < ACB ? k - c0 : ACB;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, (int)d, 1.0f, a->x + r0 * d,
                    (int)d, a->c + (size_t)c0 * d, (int)d, 0.0f, buf, (int)nc);
        const float *cn = a->cn + c0;
        for (size_t i = 0; i < nr; i++) {
            const float *row = buf + i * nc, *xi = a->x + (r0 + i) * d;
            for (uint32_t j = 0; j < nc; j++) {
                float e = cn[j] - 2.0f * row[j];
                if (!(e <= low[i] + band[i]))
                    continue;
                low[i] = e < low[i] ? e : low[i];
                float v = vs_l2sq(xi, a->c + (size_t)(c0 + j) * d, d);
                if (v < best[i]) {
                    best[i] = v;
                    arg[i] = c0 + j;
                }
            }
        }
    }
    for (size_t i = 0; i < nr; i++) {
        a->assign[r0 + i] = arg[i];
        if (a->dist)
            a->dist[r0 + i] = best[i];
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
        for (uint32_t j = 0; j < k; j++) {
            aux[j] = vs_dot(c + (size_t)j * d, c + (size_t)j * d, d);
            a.cmax = aux[j] > a.cmax ? aux[j] : a.cmax;
        }
        a.cmax = sqrtf(a.cmax);
        a.cn = aux;
    }
    int rc = direct ? 0 : vs_blas_serial(err); /* our threads each run sgemm */
    if (rc) {
        free(aux);
        free(a.work);
        return rc;
    }
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
    if (ns < n) {
        if (!(own = vs_sample_copy(x, n, d, ns, sample_seed)))
            return vf_fail(err, VF_ENOMEM, "k-means: out of memory");
        xs = own;
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
