/*
 * ivf_build.c - builds IVF_FLAT, IVF_SQ8 and IVF_PQ indexes and
 * appends their sections (layout: ivf.h, SPEC.md 5.5).
 *
 * Steps: coarse k-means on a seeded sample (kmeans.c) gives nlist centroids;
 * every row goes to its nearest centroid's list; the lists are laid out by
 * position (list 0's rows in ascending row order, then list 1's, ...), and
 * the kind's payload is written in that order:
 *  - IVF_FLAT: a copy of each row's vector;
 *  - IVF_SQ8: 8-bit scalar quantization, per dimension
 *    code = round((x - min) / scale), scale = (max - min) / 255 over all rows;
 *  - IVF_PQ: IVFADC (Jegou, Douze, Schmid, "Product quantization for nearest
 *    neighbor search", IEEE TPAMI 2011): the residual r = x - c to the list's
 *    centroid is cut into pq_m sub-vectors, each replaced by the nearest of
 *    256 codewords of its sub-quantizer (k-means on residuals of a sample).
 * For l2, SQ8 and PQ also store per position the norm term that lets a
 * search use one lookup table per query (ivf_search.c).
 * cosine works on normalised vectors (centroids, codes); ip on raw ones.
 *
 * Invariants: the bytes depend only on the rows, the parameters and the
 * seed, not on the thread count (fixed blocks, per-block outputs, sums in
 * ascending order: kmeans.h); OpenBLAS runs single-threaded (kmeans.c:
 * vs_blas_serial; our own threads split the work).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf/ivf.h"
#include "index/ivf/kmeans.h"
#include "simd/distance.h"
#include "simd/pq.h"
#include "util/parallel.h"

#define EBLOCK 256   /* rows per encoding block */

typedef struct build {
    const vs_rows_view *rows;
    uint32_t d, nlist, m, dsub, kind;
    int metric, threads;
    size_t n;
    const float *x;          /* rows to index: the vectors, or normalised copies for cosine */
    float *cent;             /* nlist * d */
    uint32_t *list;          /* n: list of each row */
    uint64_t *off;           /* nlist + 1 */
    uint32_t *pos_row;       /* n: row number of each position */
    /* SQ8 */
    float *sq_min, *sq_scale;
    /* PQ */
    float *cbt;              /* m * dsub * 256, transposed codebooks */
    const float *train;      /* PQ training residuals, ntrain * d */
    size_t ntrain;
    uint64_t pq_seed;
    int *sub_rc;
    /* outputs by position */
    uint8_t *codes;
    float *terms;            /* l2: norm terms */
} build;

/* ---- coarse quantizer ------------------------------------------------------------------ */

static float *normalised_copy(const vs_rows_view *rows)
{
    size_t n = rows->n;
    uint32_t d = rows->dim;
    float *y = malloc((n ? n : 1) * d * sizeof *y);
    if (!y)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const float *xi = rows->vecs + i * d;
        float nn = rows->norms ? rows->norms[i] : vs_dot(xi, xi, d);
        float inv = nn > 0 ? 1.0f / sqrtf(nn) : 0.0f;
        for (uint32_t t = 0; t < d; t++)
            y[i * d + t] = xi[t] * inv;
    }
    return y;
}

/* The rows a build reads: normalised copies (in *own, the caller frees it) for cosine,
   the rows themselves otherwise; NULL when the copy cannot be made. */
static const float *build_input(const vs_rows_view *rows, int metric, float **own)
{
    *own = metric == VF_METRIC_COSINE ? normalised_copy(rows) : NULL;
    return metric == VF_METRIC_COSINE ? *own : rows->vecs;
}

/* Lists by counting sort: positions of list l are off[l]..off[l+1]-1, rows
   ascending within a list.  *max_list receives the longest list's length. */
static int lay_out_lists(build *b, uint32_t *max_list_out)
{
    memset(b->off, 0, ((size_t)b->nlist + 1) * sizeof *b->off);
    for (size_t i = 0; i < b->n; i++)
        b->off[b->list[i] + 1]++;
    uint32_t max_list = 0;
    for (uint32_t l = 0; l < b->nlist; l++) {
        if (b->off[l + 1] > max_list)
            max_list = (uint32_t)b->off[l + 1];
        b->off[l + 1] += b->off[l];
    }
    *max_list_out = max_list;
    uint64_t *cur = malloc((size_t)b->nlist * sizeof *cur);
    if (!cur)
        return VF_ENOMEM;
    memcpy(cur, b->off, (size_t)b->nlist * sizeof *cur);
    for (size_t i = 0; i < b->n; i++)
        b->pos_row[cur[b->list[i]]++] = (uint32_t)i;
    free(cur);
    return 0;
}

/* ---- SQ8 ------------------------------------------------------------------------------- */

static void sq8_block(void *vctx, size_t blk, int w)
{
    (void)w;
    build *b = vctx;
    size_t p0 = blk * EBLOCK, p1 = p0 + EBLOCK < b->n ? p0 + EBLOCK : b->n;
    uint32_t d = b->d;
    for (size_t p = p0; p < p1; p++) {
        const float *x = b->x + (size_t)b->pos_row[p] * d;
        uint8_t *c = b->codes + p * d;
        double nn = 0;
        for (uint32_t t = 0; t < d; t++) {
            float s = b->sq_scale[t];
            long q = s > 0 ? lrintf((x[t] - b->sq_min[t]) / s) : 0;
            c[t] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            float v = b->sq_min[t] + s * (float)c[t]; /* the decoded value */
            nn += (double)v * v;
        }
        if (b->terms)
            b->terms[p] = (float)nn;
    }
}

static int sq8_params(build *b)
{
    uint32_t d = b->d;
    float *mx = malloc(d * sizeof *mx);
    if (!mx)
        return VF_ENOMEM;
    for (uint32_t t = 0; t < d; t++) {
        b->sq_min[t] = b->n ? b->x[t] : 0;
        mx[t] = b->sq_min[t];
    }
    for (size_t i = 1; i < b->n; i++) {
        const float *x = b->x + i * d;
        for (uint32_t t = 0; t < d; t++) {
            if (x[t] < b->sq_min[t])
                b->sq_min[t] = x[t];
            if (x[t] > mx[t])
                mx[t] = x[t];
        }
    }
    for (uint32_t t = 0; t < d; t++)
        b->sq_scale[t] = (mx[t] - b->sq_min[t]) / 255.0f;
    free(mx);
    return 0;
}

/* ---- PQ -------------------------------------------------------------------------------- */

/* Trains sub-quantizer j (k-means with 256 centroids on the j-th slice of
   the training residuals) and stores it transposed. */
static void pq_train_block(void *vctx, size_t j, int w)
{
    (void)w;
    build *b = vctx;
    uint32_t ds = b->dsub, d = b->d;
    size_t nt = b->ntrain;
    float *sub = malloc((nt ? nt : 1) * ds * sizeof *sub);
    float *cb = malloc((size_t)VS_PQ_KSUB * ds * sizeof *cb);
    if (!sub || !cb) {
        free(sub);
        free(cb);
        b->sub_rc[j] = VF_ENOMEM;
        return;
    }
    for (size_t i = 0; i < nt; i++)
        memcpy(sub + i * ds, b->train + i * d + j * ds, ds * sizeof *sub);
    vs_kmeans_params kp = {.k = VS_PQ_KSUB,
                           .iters = VS_PQ_TRAIN_ITERS,
                           .max_per_centroid = VS_PQ_TRAIN_ROWS / VS_PQ_KSUB,
                           .init = VS_KMEANS_RANDOM,
                           .seed = b->pq_seed + j,
                           .threads = 1};
    b->sub_rc[j] = vs_kmeans_train(sub, nt, ds, &kp, cb, NULL, NULL, NULL);
    float *ct = b->cbt + j * (size_t)ds * VS_PQ_KSUB;
    for (uint32_t c = 0; c < VS_PQ_KSUB; c++)
        for (uint32_t t = 0; t < ds; t++)
            ct[(size_t)t * VS_PQ_KSUB + c] = cb[(size_t)c * ds + t];
    free(sub);
    free(cb);
}

/* Encodes the positions of one block: nearest codeword per sub-vector of
   the residual, and for l2 the term |r'|^2 + 2 c.r' of the decoded r'. */
static void pq_encode_block(void *vctx, size_t blk, int w)
{
    (void)w;
    build *b = vctx;
    size_t p0 = blk * EBLOCK, p1 = p0 + EBLOCK < b->n ? p0 + EBLOCK : b->n;
    uint32_t d = b->d, ds = b->dsub, m = b->m;
    float r[4096], tab[VS_PQ_KSUB];
    float *res = d <= 4096 ? r : malloc(d * sizeof *res);
    if (!res) {
        b->sub_rc[0] = VF_ENOMEM;
        return;
    }
    for (size_t p = p0; p < p1; p++) {
        uint32_t row = b->pos_row[p];
        const float *x = b->x + (size_t)row * d, *c = b->cent + (size_t)b->list[row] * d;
        for (uint32_t t = 0; t < d; t++)
            res[t] = x[t] - c[t];
        uint8_t *code = b->codes + p * m;
        double term = 0;
        for (uint32_t j = 0; j < m; j++) {
            const float *ct = b->cbt + (size_t)j * ds * VS_PQ_KSUB;
            float best;
            uint32_t q = vs_table_l2_argmin(res + (size_t)j * ds, ct, ds, VS_PQ_KSUB, tab, &best);
            code[j] = (uint8_t)q;
            if (b->terms)
                for (uint32_t t = 0; t < ds; t++) {
                    double v = ct[(size_t)t * VS_PQ_KSUB + q];
                    term += v * v + 2.0 * (double)c[j * ds + t] * v;
                }
        }
        if (b->terms)
            b->terms[p] = (float)term;
    }
    if (res != r)
        free(res);
}

static int pq_train(build *b, uint64_t seed, vf_error *err)
{
    size_t nt = b->n < VS_PQ_TRAIN_ROWS ? b->n : VS_PQ_TRAIN_ROWS;
    uint32_t d = b->d;
    uint64_t s = seed ^ 0x5051ULL; /* "PQ": a stream apart from the coarse k-means */
    uint64_t sample_seed = vs_rand64(&s);
    b->pq_seed = vs_rand64(&s);
    uint32_t *idx = malloc((nt ? nt : 1) * sizeof *idx);
    float *tr = malloc((nt ? nt : 1) * d * sizeof *tr);
    if (!b->sub_rc)
        b->sub_rc = calloc(b->m, sizeof *b->sub_rc);
    if (!idx || !tr || !b->sub_rc) {
        free(idx);
        free(tr);
        return vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
    }
    vs_sample_rows(b->n, nt, sample_seed, idx);
    for (size_t i = 0; i < nt; i++) {
        const float *x = b->x + (size_t)idx[i] * d, *c = b->cent + (size_t)b->list[idx[i]] * d;
        for (uint32_t t = 0; t < d; t++)
            tr[i * d + t] = x[t] - c[t];
    }
    free(idx);
    b->train = tr;
    b->ntrain = nt;
    vs_parallel_for(b->threads, b->m, pq_train_block, b);
    free(tr);
    b->train = NULL;
    for (uint32_t j = 0; j < b->m; j++)
        if (b->sub_rc[j])
            return vf_fail(err, b->sub_rc[j], "ivf build: pq training failed");
    return 0;
}

/* ---- writing --------------------------------------------------------------------------- */

static int write_sections(build *b, const vs_build_params *bp, uint32_t train_rows, uint32_t max_list,
                          vf_seg_writer *w, vf_error *err)
{
    vs_ivf_meta m = {.kind = b->kind,
                     .dim = b->d,
                     .metric = (uint32_t)b->metric,
                     .nlist = b->nlist,
                     .rows = b->n,
                     .pq_m = b->kind == VS_INDEX_IVF_PQ ? b->m : 0,
                     .pq_bits = b->kind == VS_INDEX_IVF_PQ ? VS_PQ_BITS : 0,
                     .seed = bp->seed,
                     .train_rows = train_rows,
                     .max_list = max_list};
    uint8_t meta[VS_IVF_META_SIZE];
    vs_ivf_meta_encode(&m, meta);
    size_t n = b->n, d = b->d;
    /* Derived from the FLAT sections: a reader that skips them can still
       answer exactly, so none is marked required [R-IVF-OPTIONAL]. */
    int rc = vf_seg_writer_section(w, VS_SEC_IVF_META, 0, meta, sizeof meta, err);
    if (!rc)
        rc = vf_seg_writer_section(w, VS_SEC_IVF_CENTROIDS, 0, b->cent, (size_t)b->nlist * d * 4, err);
    if (!rc)
        rc = vf_seg_writer_section(w, VS_SEC_IVF_OFFSETS, 0, b->off, ((size_t)b->nlist + 1) * 8, err);
    if (!rc)
        rc = vf_seg_writer_section(w, VS_SEC_IVF_ROWS, 0, b->pos_row, n * 4, err);
    if (rc)
        return rc;
    switch (b->kind) {
    case VS_INDEX_IVF_FLAT:
        rc = vf_seg_writer_begin(w, VS_SEC_IVF_VECTORS, 0, err);
        for (size_t p = 0; !rc && p < n; p++)
            rc = vf_seg_writer_write(w, b->rows->vecs + (size_t)b->pos_row[p] * d, d * 4, err);
        if (!rc)
            rc = vf_seg_writer_end(w, err);
        break;
    case VS_INDEX_IVF_SQ8:
        rc = vf_seg_writer_begin(w, VS_SEC_SQ8_PARAMS, 0, err);
        if (!rc)
            rc = vf_seg_writer_write(w, b->sq_min, d * 4, err);
        if (!rc)
            rc = vf_seg_writer_write(w, b->sq_scale, d * 4, err);
        if (!rc)
            rc = vf_seg_writer_end(w, err);
        if (!rc)
            rc = vf_seg_writer_section(w, VS_SEC_SQ8_CODES, 0, b->codes, n * d, err);
        if (!rc && b->terms)
            rc = vf_seg_writer_section(w, VS_SEC_SQ8_NORMS, 0, b->terms, n * 4, err);
        break;
    case VS_INDEX_IVF_PQ:
        rc = vf_seg_writer_section(w, VS_SEC_PQ_CODEBOOKS, 0, b->cbt, d * VS_PQ_KSUB * 4, err);
        if (!rc)
            rc = vf_seg_writer_section(w, VS_SEC_PQ_CODES, 0, b->codes, n * b->m, err);
        if (!rc && b->terms)
            rc = vf_seg_writer_section(w, VS_SEC_PQ_TERMS, 0, b->terms, n * 4, err);
        break;
    }
    return rc;
}

/* The checks and defaults every build shares; fills b's sizes. */
static int build_setup(build *b, const vs_build_params *bp, const vs_rows_view *rows, vf_error *err)
{
    *b = (build){.rows = rows, .d = rows->dim, .kind = (uint32_t)bp->type, .metric = rows->metric, .n = rows->n};
    if (b->kind != VS_INDEX_IVF_FLAT && b->kind != VS_INDEX_IVF_PQ && b->kind != VS_INDEX_IVF_SQ8)
        return vf_fail(err, VF_EARG, "ivf build: index type %d is not an ivf kind", bp->type);
    if (b->d == 0 || b->metric < VF_METRIC_L2 || b->metric > VF_METRIC_COSINE)
        return vf_fail(err, VF_EARG, "ivf build: dim %u or metric %d out of range", b->d, b->metric);
    if (b->n > UINT32_MAX)
        return vf_fail(err, VF_EARG, "ivf build: %zu rows, at most %u fit one index", b->n, UINT32_MAX);
    if (bp->nlist > VS_IVF_NLIST_MAX)
        return vf_fail(err, VF_EARG, "ivf build: nlist %u above the maximum %d", bp->nlist, VS_IVF_NLIST_MAX);
    b->nlist = bp->nlist ? bp->nlist : vs_ivf_nlist_default(b->n);
    if (b->nlist > b->n)
        b->nlist = b->n ? (uint32_t)b->n : 1;
    if (b->kind == VS_INDEX_IVF_PQ) {
        b->m = bp->pq_m ? bp->pq_m : vs_ivf_pq_m_default(b->d);
        if (b->m > VS_PQ_M_MAX || b->d % b->m)
            return vf_fail(err, VF_EARG, "ivf build: pq_m %u must divide dim %u and be at most %d", b->m, b->d,
                           VS_PQ_M_MAX);
        b->dsub = b->d / b->m;
    }
    b->threads = bp->threads > 0 ? bp->threads : vs_cores();
    return 0;
}

/* Trains b's coarse centroids on its rows (b->cent, b->list filled). */
static int train_coarse(build *b, uint64_t seed, vs_kmeans_stats *ks, vf_error *err)
{
    vs_kmeans_params kp = {.k = b->nlist,
                           .iters = VS_IVF_TRAIN_ITERS,
                           .max_per_centroid = VS_IVF_TRAIN_PER_LIST,
                           .init = VS_KMEANS_RANDOM,
                           .seed = seed,
                           .threads = b->threads};
    int rc = vs_kmeans_train(b->x, b->n, b->d, &kp, b->cent, ks, b->list, err);
    if (!rc && !ks->assigned)
        rc = vs_kmeans_assign(b->x, b->n, b->d, b->cent, b->nlist, b->threads, b->list, NULL, err);
    return rc;
}

static void build_free(build *b)
{
    free(b->list);
    free(b->off);
    free(b->pos_row);
    free(b->sub_rc);
    free(b->codes);
    free(b->terms);
}

int vs_ivf_build(const vs_build_params *bp, const vs_rows_view *rows, vf_seg_writer *w, vf_error *err)
{
    build b;
    int rc = build_setup(&b, bp, rows, err);
    if (rc)
        return rc;
    const vs_ivf_quant *qz = bp->quant;
    if (qz && qz->kind != b.kind)
        qz = NULL; /* a quantiser serves indexes of its kind (AUTO may resolve otherwise) */
    if (qz) {
        /* a shared quantiser (SPEC.md 5.5.2): its nlist and pq_m, whatever the rows */
        if (qz->kind != b.kind || qz->dim != b.d || qz->metric != (uint32_t)b.metric || !qz->cent ||
            qz->nlist < VS_IVF_NLIST_MIN || qz->nlist > VS_IVF_NLIST_MAX ||
            (b.kind == VS_INDEX_IVF_PQ && (!qz->cbt || !qz->pq_m || b.d % qz->pq_m)) ||
            (b.kind == VS_INDEX_IVF_SQ8 && !qz->sq))
            return vf_fail(err, VF_EARG, "ivf build: the quantiser given does not fit the index");
        b.nlist = qz->nlist;
        if (b.kind == VS_INDEX_IVF_PQ) {
            b.m = qz->pq_m;
            b.dsub = b.d / b.m;
        }
    }
    float *own = NULL, *own_cent = NULL, *own_cbt = NULL, *own_sq = NULL;
    uint32_t max_list = 0;
    vs_kmeans_stats ks = {0};
    b.x = build_input(rows, b.metric, &own);
    b.cent = qz ? qz->cent : (own_cent = malloc((size_t)b.nlist * b.d * sizeof *b.cent));
    b.list = malloc((b.n ? b.n : 1) * sizeof *b.list);
    b.off = malloc(((size_t)b.nlist + 1) * sizeof *b.off);
    b.pos_row = malloc((b.n ? b.n : 1) * sizeof *b.pos_row);
    if (!b.x || !b.cent || !b.list || !b.off || !b.pos_row) {
        rc = vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
        goto out;
    }
    if (qz) {
        rc = vs_kmeans_assign(b.x, b.n, b.d, b.cent, b.nlist, b.threads, b.list, NULL, err);
        ks.train_rows = qz->train_rows;
    } else
        rc = train_coarse(&b, bp->seed, &ks, err);
    if (rc)
        goto out;
    if (lay_out_lists(&b, &max_list)) {
        rc = vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
        goto out;
    }
    size_t nblocks = (b.n + EBLOCK - 1) / EBLOCK;
    if (b.kind == VS_INDEX_IVF_SQ8) {
        if (qz) {
            b.sq_min = qz->sq;
            b.sq_scale = qz->sq + b.d;
        } else {
            own_sq = malloc(2 * (size_t)b.d * sizeof *own_sq);
            b.sq_min = own_sq;
            b.sq_scale = own_sq ? own_sq + b.d : NULL;
        }
        b.codes = malloc((b.n ? b.n : 1) * b.d);
        if (b.metric == VF_METRIC_L2)
            b.terms = malloc((b.n ? b.n : 1) * sizeof *b.terms);
        if (!b.sq_min || !b.codes || (b.metric == VF_METRIC_L2 && !b.terms) || (!qz && sq8_params(&b))) {
            rc = vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
            goto out;
        }
        vs_parallel_for(b.threads, nblocks, sq8_block, &b);
    } else if (b.kind == VS_INDEX_IVF_PQ) {
        b.cbt = qz ? qz->cbt : (own_cbt = malloc((size_t)b.d * VS_PQ_KSUB * sizeof *b.cbt));
        b.codes = malloc((b.n ? b.n : 1) * b.m);
        b.sub_rc = calloc(b.m, sizeof *b.sub_rc);
        if (b.metric == VF_METRIC_L2)
            b.terms = malloc((b.n ? b.n : 1) * sizeof *b.terms);
        if (!b.cbt || !b.codes || !b.sub_rc || (b.metric == VF_METRIC_L2 && !b.terms)) {
            rc = vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
            goto out;
        }
        if (!qz && (rc = pq_train(&b, bp->seed, err)) != 0)
            goto out;
        vs_parallel_for(b.threads, nblocks, pq_encode_block, &b);
        if (b.sub_rc[0]) {
            rc = vf_fail(err, VF_ENOMEM, "ivf build: out of memory");
            goto out;
        }
    }
    rc = write_sections(&b, bp, (uint32_t)ks.train_rows, max_list, w, err);
out:
    free(own);
    free(own_cent);
    free(own_cbt);
    free(own_sq);
    build_free(&b);
    return rc;
}

/* ---- shared quantisers (SPEC.md 5.5.2) ------------------------------------------------- */

int vs_ivf_quant_train(const vs_build_params *bp, const vs_rows_view *rows, vs_ivf_quant *qz, vf_error *err)
{
    memset(qz, 0, sizeof *qz);
    build b;
    int rc = build_setup(&b, bp, rows, err);
    if (rc)
        return rc;
    if (b.n == 0)
        return vf_fail(err, VF_EARG, "ivf train: no rows");
    float *own = NULL;
    vs_kmeans_stats ks = {0};
    b.x = build_input(rows, b.metric, &own);
    qz->kind = b.kind;
    qz->dim = b.d;
    qz->metric = (uint32_t)b.metric;
    qz->nlist = b.nlist;
    qz->pq_m = b.kind == VS_INDEX_IVF_PQ ? b.m : 0;
    b.cent = qz->cent = malloc((size_t)b.nlist * b.d * sizeof *b.cent);
    b.list = malloc(b.n * sizeof *b.list);
    if (!b.x || !b.cent || !b.list) {
        rc = vf_fail(err, VF_ENOMEM, "ivf train: out of memory");
        goto out;
    }
    if ((rc = train_coarse(&b, bp->seed, &ks, err)) != 0)
        goto out;
    qz->train_rows = (uint32_t)ks.train_rows;
    if (b.kind == VS_INDEX_IVF_SQ8) {
        b.sq_min = qz->sq = malloc(2 * (size_t)b.d * sizeof *qz->sq);
        if (!qz->sq || (b.sq_scale = qz->sq + b.d, sq8_params(&b))) {
            rc = vf_fail(err, VF_ENOMEM, "ivf train: out of memory");
            goto out;
        }
    } else if (b.kind == VS_INDEX_IVF_PQ) {
        b.cbt = qz->cbt = malloc((size_t)b.d * VS_PQ_KSUB * sizeof *qz->cbt);
        if (!qz->cbt) {
            rc = vf_fail(err, VF_ENOMEM, "ivf train: out of memory");
            goto out;
        }
        rc = pq_train(&b, bp->seed, err);
    }
out:
    free(own);
    build_free(&b);
    if (rc)
        vs_ivf_quant_release(qz);
    return rc;
}

/* The mean squared L2 distance of the n rows x (dim floats each, the quantiser's metric) to
   their nearest centroid of qz (cosine: of the normalised row, as an index assigns it). */
static int quant_fit(const vs_ivf_quant *qz, const float *x, size_t n, int threads, double *mean, vf_error *err)
{
    *mean = 0;
    if (n == 0)
        return 0;
    vs_rows_view rows = {x, NULL, n, qz->dim, (int)qz->metric, NULL};
    float *own = NULL, *dist = malloc(n * sizeof *dist);
    uint32_t *list = malloc(n * sizeof *list);
    const float *in = build_input(&rows, rows.metric, &own);
    int rc = in && dist && list ? vs_kmeans_assign(in, n, qz->dim, qz->cent, qz->nlist, threads, list, dist, err)
                                : vf_fail(err, VF_ENOMEM, "ivf fit: out of memory");
    double sum = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) /* in row order: the same sum on every machine */
        sum += dist[i];
    if (rc == 0)
        *mean = sum / (double)n;
    free(own);
    free(dist);
    free(list);
    return rc;
}

int vs_ivf_quant_drift(const vs_ivf_quant *qz, const float *own, size_t nown, const float *rows, size_t nrows,
                       uint64_t seed, int threads, double *own_mean, double *rows_mean, vf_error *err)
{
    *own_mean = *rows_mean = 0;
    if (!qz->cent || qz->dim == 0)
        return vf_fail(err, VF_EARG, "ivf drift: no quantiser");
    const float *side[2] = {own, rows};
    size_t n[2] = {nown, nrows};
    double *mean[2] = {own_mean, rows_mean};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        size_t k = n[i] < VS_IVF_DRIFT_ROWS ? n[i] : VS_IVF_DRIFT_ROWS;
        float *x = vs_sample_copy(side[i], n[i], qz->dim, k, seed);
        rc = x ? quant_fit(qz, x, k, threads, mean[i], err) : vf_fail(err, VF_ENOMEM, "ivf drift: out of memory");
        free(x);
    }
    return rc;
}

int vs_ivf_quant_read(const vf_seg *seg, int copy, vs_ivf_quant *qz, vf_error *err)
{
    memset(qz, 0, sizeof *qz);
    uint64_t len = 0;
    const void *p = vf_seg_section(seg, VS_SEC_IVF_META, &len);
    if (!p)
        return vf_fail(err, VF_ENOENT, "ivf: no ivf index");
    vs_ivf_meta m;
    int rc = vs_ivf_meta_decode(p, len, &m, err);
    if (rc)
        return rc;
    size_t d = m.dim, cl = (size_t)m.nlist * d * 4;
    const void *c = vf_seg_section(seg, VS_SEC_IVF_CENTROIDS, &len);
    if (!c || len != cl)
        return vf_fail(err, VF_ECORRUPT, "ivf: centroids section missing or of the wrong size");
    const void *cb = NULL, *sq = NULL;
    if (m.kind == VS_INDEX_IVF_PQ && (!(cb = vf_seg_section(seg, VS_SEC_PQ_CODEBOOKS, &len)) ||
                                      len != d * VS_PQ_KSUB * 4))
        return vf_fail(err, VF_ECORRUPT, "ivf: codebooks section missing or of the wrong size");
    if (m.kind == VS_INDEX_IVF_SQ8 && (!(sq = vf_seg_section(seg, VS_SEC_SQ8_PARAMS, &len)) || len != 2 * d * 4))
        return vf_fail(err, VF_ECORRUPT, "ivf: sq8 parameters missing or of the wrong size");
    *qz = (vs_ivf_quant){.kind = m.kind, .dim = m.dim, .metric = m.metric, .nlist = m.nlist, .pq_m = m.pq_m,
                         .train_rows = m.train_rows, .rows = m.rows};
    if (!copy)
        return 0;
    qz->cent = malloc(cl);
    qz->cbt = cb ? malloc(d * VS_PQ_KSUB * 4) : NULL;
    qz->sq = sq ? malloc(2 * d * 4) : NULL;
    if (!qz->cent || (cb && !qz->cbt) || (sq && !qz->sq)) {
        vs_ivf_quant_release(qz);
        return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
    }
    memcpy(qz->cent, c, cl);
    if (cb)
        memcpy(qz->cbt, cb, d * VS_PQ_KSUB * 4);
    if (sq)
        memcpy(qz->sq, sq, 2 * d * 4);
    return 0;
}

void vs_ivf_quant_release(vs_ivf_quant *qz)
{
    if (!qz)
        return;
    free(qz->cent);
    free(qz->cbt);
    free(qz->sq);
    qz->cent = qz->cbt = qz->sq = NULL;
}
