/*
 * index_ivf_search.c - opens and searches IVF_FLAT, IVF_SQ8 and IVF_PQ
 * indexes in place on the segment's mapping (layout: index_ivf.h,
 * SPEC.md 5.5).
 *
 * A search ranks the nlist centroids by the query's distance (l2 and cosine:
 * squared L2 to the query, normalised for cosine; ip: -q.c), then scans the
 * nprobe nearest lists; if they held fewer than k live rows it goes on with
 * the next lists until k live rows were seen or every list was scanned.
 *  - IVF_FLAT pushes exact distances, computed on the list-ordered copy of
 *    the vectors with the same kernels as vs_row_distance (bit-identical).
 *  - IVF_SQ8 and IVF_PQ compute approximate distances from the codes.  With
 *    refine R > 0 the best R*k of them are re-ranked by exact distance from
 *    the VECTORS section and the exact distances are pushed; with refine 0
 *    the approximate distances themselves are pushed (they rank the rows as
 *    the quantizer sees them and merge only approximately with other
 *    segments' exact ones).
 * IVF_PQ is IVFADC (Jegou, Douze, Schmid, "Product quantization for nearest
 * neighbor search", IEEE TPAMI 2011) with the query-to-residual term split
 * out, so one lookup table serves every probed list:
 *   l2:     |q - c - r|^2 = |q - c|^2 + (|r|^2 + 2 c.r) - 2 q.r
 *   ip:     -(q.x)        = -(q.c) - q.r
 *   cosine: 1 - q'.x'     = 1 - q'.c - q'.r    (q', x' normalised)
 * where q.r = sum_j LUT_j[code_j], LUT_j[i] = q_j . codeword_j,i, and the
 * bracket is the PQ_TERMS value stored per row.  IVF_SQ8 likewise computes
 * q.x' = q.min + sum_t (q_t scale_t) code_t, plus |x'|^2 (SQ8_NORMS) for l2.
 *
 * Invariants: open reads only IVF_META and the two ends of IVF_OFFSETS and
 * checks every section's length against it; a search checks each probed
 * list's offsets and each row number before use, so damaged bytes give
 * VF_ECORRUPT, never an out-of-bounds read.  Deleted rows are never pushed.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"
#include "index_ivf.h"
#include "kmeans.h"

#define CHUNK 256     /* positions per distance batch */

typedef struct ivf {
    vs_ivf_meta m;
    const vs_rows_view *rows;
    size_t n;
    uint32_t d, nlist, pq_m, dsub;
    const float *cent;        /* nlist * d */
    const uint64_t *off;      /* nlist + 1 */
    const uint32_t *pos_row;  /* n */
    const float *vecs;        /* IVF_FLAT: n * d by position */
    const float *sq_min, *sq_scale;
    const uint8_t *codes;     /* SQ8: n * d; PQ: n * pq_m */
    const float *terms;       /* l2, SQ8 and PQ: n by position */
    const float *cbt;         /* PQ: pq_m * dsub * 256 */
} ivf;

typedef struct pair {         /* a list and its distance to the query */
    float d;
    uint32_t l;
} pair;

typedef struct scratch {
    float *cd, *qc;           /* nlist: probe distances; q.c (PQ ip and cosine) */
    pair *pr;                 /* nlist: the probe order */
    float *qx, *w;            /* d: the (normalised) query; SQ8 weights */
    float *lut;               /* PQ: pq_m * 256 */
    float sq_base;            /* SQ8: the query's constant term */
    float *buf;               /* CHUNK distances */
    vs_hit *cand;             /* refine candidates */
    size_t cand_cap;
} scratch;

/* ---- kernels --------------------------------------------------------------------------- */

#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))

static int simd_level(void)
{
    const char *s = vs_simd_name(); /* "avx512", "avx2", "scalar": the fourth byte tells */
    return s[3] == '5' ? 2 : s[3] == '2' ? 1 : 0;
}

/* out[i] = sum_t w[t] * codes[i*d + t], for n rows of d u8 codes. */
typedef void (*sq8_fn)(const float *w, const uint8_t *codes, size_t n, size_t d, float *out);

static void sq8_scalar(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * d;
        float s[4] = {0};
        size_t t = 0;
        for (; t + 4 <= d; t += 4)
            for (int u = 0; u < 4; u++)
                s[u] += w[t + u] * (float)c[t + u];
        for (; t < d; t++)
            s[0] += w[t] * (float)c[t];
        out[i] = (s[0] + s[1]) + (s[2] + s[3]);
    }
}

T512 static inline __m512 u8x16(const uint8_t *c)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)c)));
}

T512 static void sq8_512(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t d16 = d & ~(size_t)15, i = 0;
    /* four rows at once share each load of w */
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d16; t += 16) {
            __m512 wv = _mm512_loadu_ps(w + t);
            a0 = _mm512_fmadd_ps(wv, u8x16(c0 + t), a0);
            a1 = _mm512_fmadd_ps(wv, u8x16(c1 + t), a1);
            a2 = _mm512_fmadd_ps(wv, u8x16(c2 + t), a2);
            a3 = _mm512_fmadd_ps(wv, u8x16(c3 + t), a3);
        }
        float r[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                      _mm512_reduce_add_ps(a3)};
        for (size_t t = d16; t < d; t++) {
            r[0] += w[t] * (float)c0[t];
            r[1] += w[t] * (float)c1[t];
            r[2] += w[t] * (float)c2[t];
            r[3] += w[t] * (float)c3[t];
        }
        memcpy(out + i, r, sizeof r);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * d;
        __m512 a = _mm512_setzero_ps();
        for (size_t t = 0; t < d16; t += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(w + t), u8x16(c + t), a);
        float r = _mm512_reduce_add_ps(a);
        for (size_t t = d16; t < d; t++)
            r += w[t] * (float)c[t];
        out[i] = r;
    }
}

T256 static inline __m256 u8x8(const uint8_t *c)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c)));
}

T256 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

T256 static void sq8_256(const float *w, const uint8_t *codes, size_t n, size_t d, float *out)
{
    size_t d8 = d & ~(size_t)7, i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < d8; t += 8) {
            __m256 wv = _mm256_loadu_ps(w + t);
            a0 = _mm256_fmadd_ps(wv, u8x8(c0 + t), a0);
            a1 = _mm256_fmadd_ps(wv, u8x8(c1 + t), a1);
            a2 = _mm256_fmadd_ps(wv, u8x8(c2 + t), a2);
            a3 = _mm256_fmadd_ps(wv, u8x8(c3 + t), a3);
        }
        float r[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (size_t t = d8; t < d; t++) {
            r[0] += w[t] * (float)c0[t];
            r[1] += w[t] * (float)c1[t];
            r[2] += w[t] * (float)c2[t];
            r[3] += w[t] * (float)c3[t];
        }
        memcpy(out + i, r, sizeof r);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * d;
        __m256 a = _mm256_setzero_ps();
        for (size_t t = 0; t < d8; t += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(w + t), u8x8(c + t), a);
        float r = hsum256(a);
        for (size_t t = d8; t < d; t++)
            r += w[t] * (float)c[t];
        out[i] = r;
    }
}

/* ADC: out[i] = sum_j lut[j*256 + codes[i*m + j]], for n rows of m codes. */
typedef void (*adc_fn)(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out);

static void adc_scalar(const float *lut, const uint8_t *codes, size_t n, uint32_t m, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * m;
        const float *l = lut;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        uint32_t j = 0;
        for (; j + 4 <= m; j += 4, l += 4 * VS_PQ_KSUB) {
            s0 += l[c[j]];
            s1 += l[VS_PQ_KSUB + c[j + 1]];
            s2 += l[2 * VS_PQ_KSUB + c[j + 2]];
            s3 += l[3 * VS_PQ_KSUB + c[j + 3]];
        }
        for (; j < m; j++, l += VS_PQ_KSUB)
            s0 += l[c[j]];
        out[i] = (s0 + s1) + (s2 + s3);
    }
}

typedef struct kernels {
    sq8_fn sq8;
    adc_fn adc;
} kernels;

static kernels kernels_pick(void)
{
    switch (simd_level()) {
    case 2:
        return (kernels){sq8_512, adc_scalar};
    case 1:
        return (kernels){sq8_256, adc_scalar};
    default:
        return (kernels){sq8_scalar, adc_scalar};
    }
}

/* ---- open ------------------------------------------------------------------------------ */

/* The section of type `type`, which must be exactly `want` bytes long. */
static int need(const vf_seg *seg, uint32_t type, uint64_t want, const void **out, vf_error *err)
{
    uint64_t len = 0;
    const void *p = vf_seg_section(seg, type, &len);
    if (!p)
        return vf_fail(err, VF_ECORRUPT, "ivf: section %u is missing", type);
    if (len != want)
        return vf_fail(err, VF_ECORRUPT, "ivf: section %u is %llu bytes, expected %llu", type,
                       (unsigned long long)len, (unsigned long long)want);
    *out = p;
    return 0;
}

static int ivf_open(void **impl, const vf_seg *seg, const vs_rows_view *rows, vf_error *err)
{
    *impl = NULL;
    uint64_t len = 0;
    const void *p = vf_seg_section(seg, VS_SEC_IVF_META, &len);
    vs_ivf_meta m;
    int rc = vs_ivf_meta_decode(p, len, &m, err);
    if (rc)
        return rc;
    const vf_seg_info *info = vf_seg_get_info(seg);
    if (m.dim != info->dim || m.metric != info->metric || m.rows != info->rows)
        return vf_fail(err, VF_ECORRUPT, "ivf meta: dim %u, metric %u, rows %llu disagree with the header", m.dim,
                       m.metric, (unsigned long long)m.rows);
    if (rows->n != m.rows || rows->dim != m.dim || (uint32_t)rows->metric != m.metric)
        return vf_fail(err, VF_EARG, "ivf: the rows given do not match the index");
    ivf *x = calloc(1, sizeof *x);
    if (!x)
        return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
    x->m = m;
    x->rows = rows;
    x->n = (size_t)m.rows;
    x->d = m.dim;
    x->nlist = m.nlist;
    x->pq_m = m.pq_m;
    uint64_t n = m.rows, d = m.dim;
    const void *v;
    int l2 = m.metric == VF_METRIC_L2;
    rc = need(seg, VS_SEC_IVF_CENTROIDS, (uint64_t)m.nlist * d * 4, &v, err);
    x->cent = v;
    if (!rc) {
        rc = need(seg, VS_SEC_IVF_OFFSETS, ((uint64_t)m.nlist + 1) * 8, &v, err);
        x->off = v;
    }
    if (!rc) {
        rc = need(seg, VS_SEC_IVF_ROWS, n * 4, &v, err);
        x->pos_row = v;
    }
    if (!rc && m.kind == VS_INDEX_IVF_FLAT) {
        rc = need(seg, VS_SEC_IVF_VECTORS, n * d * 4, &v, err);
        x->vecs = v;
    }
    if (!rc && m.kind == VS_INDEX_IVF_SQ8) {
        rc = need(seg, VS_SEC_SQ8_PARAMS, 2 * d * 4, &v, err);
        x->sq_min = v;
        x->sq_scale = x->sq_min + d;
        if (!rc) {
            rc = need(seg, VS_SEC_SQ8_CODES, n * d, &v, err);
            x->codes = v;
        }
        if (!rc && l2) {
            rc = need(seg, VS_SEC_SQ8_NORMS, n * 4, &v, err);
            x->terms = v;
        }
    }
    if (!rc && m.kind == VS_INDEX_IVF_PQ) {
        x->dsub = m.dim / m.pq_m;
        rc = need(seg, VS_SEC_PQ_CODEBOOKS, d * VS_PQ_KSUB * 4, &v, err);
        x->cbt = v;
        if (!rc) {
            rc = need(seg, VS_SEC_PQ_CODES, n * m.pq_m, &v, err);
            x->codes = v;
        }
        if (!rc && l2) {
            rc = need(seg, VS_SEC_PQ_TERMS, n * 4, &v, err);
            x->terms = v;
        }
    }
    if (!rc && (x->off[0] != 0 || x->off[m.nlist] != n))
        rc = vf_fail(err, VF_ECORRUPT, "ivf: list offsets run from %llu to %llu, expected 0 to %llu",
                     (unsigned long long)x->off[0], (unsigned long long)x->off[m.nlist], (unsigned long long)n);
    if (rc) {
        free(x);
        return rc;
    }
    *impl = x;
    return 0;
}

static void ivf_close(void *impl) { free(impl); }

static void *ivf_scratch_new(const void *impl)
{
    const ivf *x = impl;
    scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cd = malloc(x->nlist * sizeof *s->cd);
    s->qc = malloc(x->nlist * sizeof *s->qc);
    s->pr = malloc(x->nlist * sizeof *s->pr);
    s->qx = malloc(x->d * sizeof *s->qx);
    s->w = malloc(x->d * sizeof *s->w);
    s->lut = malloc(((size_t)x->pq_m * VS_PQ_KSUB + 1) * sizeof *s->lut);
    s->buf = malloc(CHUNK * sizeof *s->buf);
    if (!s->cd || !s->qc || !s->pr || !s->qx || !s->w || !s->lut || !s->buf) {
        free(s->cd);
        free(s->qc);
        free(s->pr);
        free(s->qx);
        free(s->w);
        free(s->lut);
        free(s->buf);
        free(s);
        return NULL;
    }
    return s;
}

static void ivf_scratch_free(void *p)
{
    scratch *s = p;
    if (!s)
        return;
    free(s->cd);
    free(s->qc);
    free(s->pr);
    free(s->qx);
    free(s->w);
    free(s->lut);
    free(s->buf);
    free(s->cand);
    free(s);
}

/* ---- search ---------------------------------------------------------------------------- */

static int pair_before(pair a, pair b) { return a.d < b.d || (a.d == b.d && a.l < b.l); }

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return pair_before(*x, *y) ? -1 : pair_before(*y, *x) ? 1 : 0;
}

static void sift_down(pair *h, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && pair_before(h[c], h[c + 1]))
            c++;
        if (!pair_before(h[i], h[c]))
            return;
        pair t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* The np nearest lists, ascending by (distance, list): a max-heap of np
   over all lists, then heapsort.  NaN distances were mapped to +inf, so the
   order is total and equals the first np of a full sort. */
static void select_lists(const float *cd, uint32_t nlist, uint32_t np, pair *h)
{
    for (uint32_t l = 0; l < nlist; l++) {
        pair p = {cd[l], l};
        if (l < np) {
            h[l] = p;
            if (l + 1 == np)
                for (size_t i = np / 2; i-- > 0;)
                    sift_down(h, np, i);
        } else if (pair_before(p, h[0])) {
            h[0] = p;
            sift_down(h, np, 0);
        }
    }
    for (size_t e = np; e > 1; e--) {
        pair t = h[0];
        h[0] = h[e - 1];
        h[e - 1] = t;
        sift_down(h, e - 1, 0);
    }
}

/* The exact internal distance of row r, as vs_row_distance, also when the
   segment has no NORMS section. */
static float exact_dist(const vs_rows_view *rows, const float *q, float qn, size_t r)
{
    if (rows->metric != VF_METRIC_COSINE || rows->norms)
        return vs_row_distance(rows, q, qn, r);
    const float *x = rows->vecs + r * rows->dim;
    float dot = vs_dot(q, x, rows->dim), xn = vs_dot(x, x, rows->dim);
    float den = sqrtf(qn) * sqrtf(xn);
    return den > 0 ? 1.0f - dot / den : 1.0f;
}

typedef struct run {
    const ivf *x;
    scratch *s;
    kernels kr;
    const float *q;
    float qn;
    const uint8_t *deleted;
    vs_topk *out;             /* where hits go: t, or the refine candidates */
    size_t live;              /* live rows seen */
} run;

static int bad_row(uint32_t r, size_t p, vf_error *err)
{
    return vf_fail(err, VF_ECORRUPT, "ivf: row number %u at position %zu is out of range", r, p);
}

/* Scans list l: distances of its positions in chunks, pushed into r->out. */
static int scan_list(run *r, uint32_t l, float cdl, vf_error *err)
{
    const ivf *x = r->x;
    scratch *s = r->s;
    uint64_t lo = x->off[l], hi = x->off[l + 1];
    if (lo > hi || hi > x->n)
        return vf_fail(err, VF_ECORRUPT, "ivf: list %u spans positions %llu..%llu of %zu", l,
                       (unsigned long long)lo, (unsigned long long)hi, x->n);
    size_t d = x->d;
    int metric = (int)x->m.metric;
    /* the per-list constant of the approximate distance */
    float base = 0;
    if (x->m.kind == VS_INDEX_IVF_PQ)
        base = metric == VF_METRIC_L2 ? cdl : metric == VF_METRIC_IP ? -s->qc[l] : 1.0f - s->qc[l];
    else if (x->m.kind == VS_INDEX_IVF_SQ8)
        base = s->sq_base;
    for (size_t p0 = (size_t)lo; p0 < hi; p0 += CHUNK) {
        size_t cnt = hi - p0 < CHUNK ? (size_t)(hi - p0) : CHUNK;
        float *buf = s->buf;
        switch (x->m.kind) {
        case VS_INDEX_IVF_FLAT:
            if (metric == VF_METRIC_L2)
                vs_l2sq_many(r->q, x->vecs + p0 * d, cnt, d, buf);
            else
                vs_dot_many(r->q, x->vecs + p0 * d, cnt, d, buf);
            break;
        case VS_INDEX_IVF_SQ8:
            r->kr.sq8(s->w, x->codes + p0 * d, cnt, d, buf);
            break;
        default:
            r->kr.adc(s->lut, x->codes + p0 * x->pq_m, cnt, x->pq_m, buf);
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t p = p0 + i;
            uint32_t row = x->pos_row[p];
            if (row >= x->n)
                return bad_row(row, p, err);
            if (r->deleted && (r->deleted[row >> 3] >> (row & 7) & 1))
                continue;
            r->live++;
            float dist;
            if (x->m.kind == VS_INDEX_IVF_FLAT) {
                if (metric == VF_METRIC_L2)
                    dist = buf[i];
                else if (metric == VF_METRIC_IP)
                    dist = -buf[i];
                else {
                    const float *xr = x->rows->vecs + (size_t)row * d;
                    float xn = x->rows->norms ? x->rows->norms[row] : vs_dot(xr, xr, d);
                    float den = sqrtf(r->qn) * sqrtf(xn);
                    dist = den > 0 ? 1.0f - buf[i] / den : 1.0f;
                }
            } else
                dist = base + (x->terms ? x->terms[p] : 0.0f) + buf[i];
            vs_topk_push(r->out, dist, row);
        }
    }
    return 0;
}

/* Query-side set-up: the normalised query, centroid distances, and the SQ8
   weights or the PQ lookup table. */
static void prepare(const ivf *x, scratch *s, const float *q, float qn)
{
    uint32_t d = x->d, nlist = x->nlist;
    int metric = (int)x->m.metric;
    const float *qx = q;
    if (metric == VF_METRIC_COSINE) {
        float inv = qn > 0 ? 1.0f / sqrtf(qn) : 0.0f;
        for (uint32_t t = 0; t < d; t++)
            s->qx[t] = q[t] * inv;
        qx = s->qx;
    }
    if (metric == VF_METRIC_IP) {
        vs_dot_many(qx, x->cent, nlist, d, s->qc);
        for (uint32_t l = 0; l < nlist; l++)
            s->cd[l] = -s->qc[l];
    } else {
        vs_l2sq_many(qx, x->cent, nlist, d, s->cd);
        if (metric == VF_METRIC_COSINE && x->m.kind == VS_INDEX_IVF_PQ)
            vs_dot_many(qx, x->cent, nlist, d, s->qc);
    }
    for (uint32_t l = 0; l < nlist; l++)
        if (isnan(s->cd[l]))
            s->cd[l] = INFINITY;
    if (x->m.kind == VS_INDEX_IVF_SQ8) {
        /* l2: |q - x'|^2 = qn - 2 q.min + |x'|^2 + sum_t (-2 q_t s_t) c_t
           ip: -q.x' = -q.min + sum_t (-q_t s_t) c_t;  cosine: 1 + the ip form */
        float f = metric == VF_METRIC_L2 ? -2.0f : -1.0f;
        double qm = 0;
        for (uint32_t t = 0; t < d; t++) {
            qm += (double)qx[t] * x->sq_min[t];
            s->w[t] = f * qx[t] * x->sq_scale[t];
        }
        s->sq_base = metric == VF_METRIC_L2 ? (float)(qn - 2.0 * qm)
                    : metric == VF_METRIC_IP ? (float)-qm
                                             : (float)(1.0 - qm);
    } else if (x->m.kind == VS_INDEX_IVF_PQ) {
        float f = metric == VF_METRIC_L2 ? -2.0f : -1.0f;
        size_t stride = (size_t)x->dsub * VS_PQ_KSUB;
        for (uint32_t j = 0; j < x->pq_m; j++)
            vs_table_dot(qx + (size_t)j * x->dsub, x->cbt + j * stride, x->dsub, VS_PQ_KSUB, f,
                         s->lut + (size_t)j * VS_PQ_KSUB);
    }
}

static int ivf_search(const void *impl, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                      vs_topk *t, void *vscratch, vf_error *err)
{
    const ivf *x = impl;
    scratch *s = vscratch;
    size_t k = t->k;
    if (!s)
        return vf_fail(err, VF_ENOMEM, "ivf: no scratch memory");
    if (k == 0 || x->n == 0)
        return 0;
    uint32_t nlist = x->nlist;
    uint32_t np = qp && qp->nprobe ? qp->nprobe : vs_ivf_nprobe_default(nlist);
    if (np > nlist)
        np = nlist;
    size_t refine = qp && x->m.kind != VS_INDEX_IVF_FLAT ? qp->refine : 0;
    run r = {.x = x, .s = s, .kr = kernels_pick(), .q = q, .qn = qn, .deleted = deleted, .out = t};
    vs_topk cand;
    if (refine) {
        size_t cap = refine * k;
        if (cap / k != refine || cap > x->n)
            cap = x->n;
        if (cap > s->cand_cap) {
            vs_hit *c = realloc(s->cand, cap * sizeof *c);
            if (!c)
                return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
            s->cand = c;
            s->cand_cap = cap;
        }
        vs_topk_init(&cand, s->cand, cap);
        r.out = &cand;
    }
    prepare(x, s, q, qn);
    select_lists(s->cd, nlist, np, s->pr);
    for (uint32_t i = 0; i < np; i++) {
        int rc = scan_list(&r, s->pr[i].l, s->pr[i].d, err);
        if (rc)
            return rc;
    }
    if (r.live < k && np < nlist) {
        /* too few live rows in the nearest lists: go on in the same order */
        for (uint32_t l = 0; l < nlist; l++)
            s->pr[l] = (pair){s->cd[l], l};
        qsort(s->pr, nlist, sizeof *s->pr, pair_cmp);
        for (uint32_t i = np; i < nlist && r.live < k; i++) {
            int rc = scan_list(&r, s->pr[i].l, s->pr[i].d, err);
            if (rc)
                return rc;
        }
    }
    if (refine)
        for (size_t i = 0; i < cand.n; i++) {
            size_t row = (size_t)cand.h[i].id;
            vs_topk_push(t, exact_dist(x->rows, q, qn, row), row);
        }
    return 0;
}

const vs_index_ops vs_ivf_ops = {ivf_open, ivf_close, ivf_scratch_new, ivf_scratch_free, ivf_search};
