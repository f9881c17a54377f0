/*
 * hnsw_summary.c - HNSW_SUMMARY (SPEC.md 5.5.1, type 19): c balls that hold every row of an
 * HNSW segment, and the lower bound they give on a query's distance to any of its rows, so a
 * search can pass over a segment that cannot hold one of the k best.
 *
 * Written by the HNSW build after its own sections: c = min(64, max(1, rows / 256)) centres
 * from seeded k-means (index/ivf/kmeans.h, deterministic whatever the thread count; random
 * seeding, a sample of 64 rows a centre) over the rows, normalised for cosine; each centre's
 * radius is the largest distance from it to a row assigned to it, computed in double and
 * rounded up to f32, so a stored ball never holds less than the rows it stands for.  Every
 * row is in the ball of its assigned centre, so
 *   l2      |q - x|         >= |q - c| - r
 *   cosine  1 - cos(q, x)    = |q' - x'|^2 / 2  (q', x' unit vectors), bounded as l2
 *   ip      -(q . x)        >= -(q . c) - |q| r
 * minimised over the centres.  The bound takes the centres' distances from the f32 SIMD
 * kernels and is lowered by a margin that covers their rounding and that of the distances a
 * search computes (simd/metric.h), so it is never above a distance the search would push.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_internal.h"
#include "index/ivf/kmeans.h"
#include "simd/distance.h"
#include "simd/metric.h"
#include "util/parallel.h"

#define SUMMARY_VERSION 1
#define SUMMARY_HEAD 16          /* version, count, dim, metric */
#define VS_SUMMARY_TRAIN_PER 64  /* k-means trains on at most this many rows a centre */

struct vs_summary {
    uint32_t c, dim;
    int metric;
    const float *cent;       /* c * dim, in the segment's mapping */
    const float *rad;        /* c */
    double *cn;              /* c: |centre| (ip's rounding margin) */
};

uint32_t vs_summary_count_for(uint64_t rows)
{
    uint64_t c = rows / VS_SUMMARY_ROWS_PER;
    return rows == 0 ? 0 : c < 1 ? 1 : c > VS_SUMMARY_MAX ? VS_SUMMARY_MAX : (uint32_t)c;
}

/* The f32 at or above v: a radius never rounds down. */
static float round_up(double v)
{
    float f = (float)v;
    return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/* The f32 at or below v: a bound never rounds up. */
static float round_down(double v)
{
    float f = (float)v;
    return (double)f > v ? nextafterf(f, -INFINITY) : f;
}

int vs_hnsw_summary_write(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err)
{
    size_t n = rows->n;
    uint32_t d = rows->dim, c = vs_summary_count_for(n);
    if (c == 0)
        return 0; /* no rows: no summary */
    size_t len = SUMMARY_HEAD + 4ull * c * d + 4ull * c + 4;
    float *own = NULL;
    const float *x = rows->vecs;
    uint8_t *sec = calloc(1, len);
    uint32_t *assign = malloc(n * sizeof *assign);
    int rc = sec && assign ? 0 : VF_ENOMEM;
    if (!rc && rows->metric == VF_METRIC_COSINE) {
        /* the unit rows, as the HNSW quantizer codes them: x (*) (1 (/) sqrt(n)) */
        if (!(own = malloc(n * d * sizeof *own)))
            rc = VF_ENOMEM;
        for (size_t i = 0; !rc && i < n; i++) {
            const float *xi = rows->vecs + i * d;
            float inv = vs_metric_inv_norm(rows->norms ? rows->norms[i] : vs_dot(xi, xi, d));
            for (uint32_t j = 0; j < d; j++)
                own[i * d + j] = xi[j] * inv;
        }
        x = own;
    }
    if (rc) {
        rc = vf_fail(err, VF_ENOMEM, "hnsw summary: out of memory");
        goto out;
    }
    float *cent = (float *)(sec + SUMMARY_HEAD), *rad = cent + (size_t)c * d;
    /* a small sample and random seeding: a ball's radius is set by the rows' spread, which a
       longer training barely narrows (measured on 25k clustered rows x 128: 0.1 s, where
       256 rows a centre and k-means++ took 0.4 s for larger radii) */
    vs_kmeans_params kp = {.k = c,
                           .max_per_centroid = VS_SUMMARY_TRAIN_PER,
                           .init = VS_KMEANS_RANDOM,
                           .seed = bp->seed ^ 0x53554d4dull, /* "SUMM": not the graph's draws */
                           .threads = bp->threads > 0 ? bp->threads : vs_cores()};
    vs_kmeans_stats ks = {0};
    rc = vs_kmeans_train(x, n, d, &kp, cent, &ks, assign, err);
    if (!rc && !ks.assigned)
        rc = vs_kmeans_assign(x, n, d, cent, c, kp.threads, assign, NULL, err);
    if (rc)
        goto out;
    double *r2 = calloc(c, sizeof *r2);
    if (!r2) {
        rc = vf_fail(err, VF_ENOMEM, "hnsw summary: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *ci = cent + (size_t)assign[i] * d;
        double s = 0;
        for (uint32_t j = 0; j < d; j++) {
            double e = (double)xi[j] - ci[j];
            s += e * e;
        }
        r2[assign[i]] = s > r2[assign[i]] ? s : r2[assign[i]];
    }
    for (uint32_t k = 0; k < c; k++)
        rad[k] = round_up(sqrt(r2[k]));
    free(r2);
    uint32_t head[4] = {SUMMARY_VERSION, c, d, (uint32_t)rows->metric};
    memcpy(sec, head, sizeof head);
    uint32_t crc = vf_crc32(0, sec, len - 4);
    memcpy(sec + len - 4, &crc, 4);
    rc = vf_seg_writer_section(w, VS_SEC_HNSW_SUMMARY, 0, sec, len, err);
out:
    free(own);
    free(sec);
    free(assign);
    return rc;
}

/* [R-HNSW-SUMMARY] */
int vs_summary_open(vs_summary **out, const vf_seg *seg, vf_error *err)
{
    *out = NULL;
    uint64_t len;
    const uint8_t *p = vf_seg_section(seg, VS_SEC_HNSW_SUMMARY, &len);
    if (!p)
        return 0;
    const vf_seg_info *info = vf_seg_get_info(seg);
    uint32_t head[4];
    if (len < SUMMARY_HEAD + 4)
        return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: %llu bytes is too short", (unsigned long long)len);
    memcpy(head, p, sizeof head);
    uint32_t c = head[1], d = info->dim;
    if (head[0] != SUMMARY_VERSION || head[2] != d || head[3] != info->metric)
        return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: version, dim or metric differ from the segment's");
    if (c < 1 || c > info->rows || c > VS_SUMMARY_MAX)
        return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: %u centres for %llu rows", c,
                       (unsigned long long)info->rows);
    /* c <= 64 and d <= 65536: no product wraps */
    if (len != SUMMARY_HEAD + 4ull * c * d + 4ull * c + 4)
        return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: %llu bytes, not %llu", (unsigned long long)len,
                       (unsigned long long)(SUMMARY_HEAD + 4ull * c * d + 4ull * c + 4));
    uint32_t crc;
    memcpy(&crc, p + len - 4, 4);
    if (vf_crc32(0, p, len - 4) != crc)
        return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: checksum mismatch");
    const float *cent = (const float *)(p + SUMMARY_HEAD), *rad = cent + (size_t)c * d;
    for (size_t i = 0; i < (size_t)c * d; i++)
        if (!isfinite(cent[i]))
            return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: a centre is not finite");
    for (uint32_t k = 0; k < c; k++)
        if (!isfinite(rad[k]) || !(rad[k] >= 0))
            return vf_fail(err, VF_ECORRUPT, "HNSW_SUMMARY: radius %u is not finite and >= 0", k);
    vs_summary *s = calloc(1, sizeof *s);
    double *cn = malloc(c * sizeof *cn);
    if (!s || !cn) {
        free(s);
        free(cn);
        return vf_fail(err, VF_ENOMEM, "HNSW_SUMMARY: out of memory");
    }
    for (uint32_t k = 0; k < c; k++) {
        double t = 0;
        for (uint32_t j = 0; j < d; j++)
            t += (double)cent[(size_t)k * d + j] * cent[(size_t)k * d + j];
        cn[k] = sqrt(t);
    }
    *s = (vs_summary){c, d, (int)info->metric, cent, rad, cn};
    *out = s;
    return 0;
}

void vs_summary_close(vs_summary *s)
{
    if (!s)
        return;
    free(s->cn);
    free(s);
}

uint32_t vs_summary_count(const vs_summary *s) { return s ? s->c : 0; }

/* The bound: the centres' distances by the SIMD kernels in f32 (a query costs c * dim
   multiply-adds per segment, a few of a walk's distances), then widened for every rounding
   in double.  A dot product or squared difference summed over d terms in f32 is within about
   (d + 2) u of its exact value relative to the sum of the terms' magnitudes (u = 2^-24), and
   so is a distance the search computes (simd/metric.h): eps = 2 (d + 16) u is a safe multiple
   of that, taken once for the kernels here and once for the search's distance; the unit
   query's own rounding (its norm summed in f32) moves it by at most (d + 6) u; 1e-6 covers what
   stays for cosine (the rows' norms). */
float vs_summary_lower_bound(const vs_summary *s, const float *q, float qn)
{
    uint32_t d = s->dim, c = s->c;
    const double eps = 2.0 * (d + 16.0) / 16777216.0;
    float t[VS_SUMMARY_MAX];
    double qs = sqrt((double)qn) * (1 + eps), best = INFINITY; /* |q|, rounded up */
    if (s->metric == VF_METRIC_IP) {
        vs_dot_many(q, s->cent, c, d, t);
        for (uint32_t k = 0; k < c; k++) {
            double lb = -(double)t[k] - qs * s->rad[k] - 2 * eps * qs * (s->cn[k] + s->rad[k]) - 1e-30;
            best = lb < best ? lb : best;
        }
        return round_down(best);
    }
    double shift = 0;
    if (s->metric == VF_METRIC_COSINE) {
        /* the unit query (the zero query: every distance is 1, and the bound below is at most
           1/2 since every unit row is within its ball) */
        float stack[256], *u = d <= 256 ? stack : malloc(d * sizeof *u);
        if (!u)
            return -INFINITY; /* no memory: no bound, the segment is searched */
        float inv = vs_metric_inv_norm(qn);
        for (uint32_t j = 0; j < d; j++)
            u[j] = q[j] * inv;
        vs_l2sq_many(u, s->cent, c, d, t);
        if (u != stack)
            free(u);
        shift = (d + 6.0) / 16777216.0;
    } else
        vs_l2sq_many(q, s->cent, c, d, t);
    for (uint32_t k = 0; k < c; k++) {
        double g = sqrt((double)t[k] * (1 - eps)) - s->rad[k] - shift;
        double lb = g > 0 ? g * g : 0;
        best = lb < best ? lb : best;
    }
    if (s->metric == VF_METRIC_COSINE)
        return round_down(best / 2 - 4 * eps - 1e-6); /* absolute: cosine distances lie in [0, 2] */
    best = best * (1 - eps) - 1e-30;
    return best > 0 ? round_down(best) : 0.0f; /* an f32 sum of squares is never below 0 */
}
