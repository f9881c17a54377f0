/*
 * hnsw_search.c - searches the HNSW index of a sealed segment in place: the greedy
 * descent and SEARCH-LAYER (algorithms 2 and 5) of Malkov & Yashunin, "Efficient and robust
 * approximate nearest neighbor search using Hierarchical Navigable Small World graphs" (2016,
 * IEEE TPAMI 2018), over the sections hnsw_build.c writes (hnsw.h, SPEC.md 5.5).
 * Also owns the query preparation both files share (vs_hnsw_query_prep).
 *
 * Speed comes from reading few bytes per hop: the walk ranks nodes by an approximate distance
 * from each node's 8-bit code, which sits beside the node's level-0 links in one block, nodes
 * laid out breadth first so neighbours share pages; the query becomes 8-bit weights and a
 * node costs one integer dot product (simd/codes.c), or, for l2 when that saves a cache
 * line, one float L2 kernel; the codes of the next few neighbours are prefetched while one is
 * scored.  The walk results are then re-ranked with exact distances from VECTORS; only exact
 * distances are pushed.
 *
 * Invariants: opening reads only HNSW_META (fixed size plus 8 bytes per dimension) and checks
 * its CRC and every field against the segment [R-HNSW-META]; the walk checks each count, link,
 * row number, upper-record offset and level before use [R-HNSW-CHECK], so damaged bytes give
 * VF_ECORRUPT, never an out-of-bounds read; deleted rows are walked through but never pushed, and when the walk
 * finds fewer than k live rows while more exist, an exact scan of the live rows completes the
 * answer; scratch is per thread, the index itself is read-only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw/hnsw.h"
#include "index/hnsw/hnsw_heap.h"
#include "simd/metric.h"

typedef struct hnsw_ix {
    const vs_rows_view *rows;
    const uint64_t *ids;         /* the segment's IDS, the tie order of equal distances; may be NULL */
    const uint8_t *nodes;
    const uint32_t *upper;
    uint64_t words;
    size_t n;
    uint32_t dim, M, M0, stride, max_level, entry;
    uint32_t aux_off, upper_off, row_off, count_off;
    uint32_t code_bytes;         /* bytes of a block the walk reads: the code, and aux unless the L2 form */
    uint32_t pf_ahead;           /* hnsw_pf_ahead(code_bytes) */
    int metric;
    const float *off, *step;     /* in the mapped META */
} hnsw_ix;

typedef struct hscratch {
    uint16_t *visited;           /* n epoch stamps */
    uint16_t epoch;
    cand *cq, *wq;               /* candidate min-heap, result max-heap */
    size_t cqcap, wqcap;
    float *w;
    int16_t *q16;
    uint32_t *ids;               /* unvisited neighbours of one hop */
    const uint8_t **nb;          /* their node blocks */
    int32_t *dv;                 /* their integer dot products */
} hscratch;

/* ---- open and close ------------------------------------------------------------------------- */

/* Every count, link, row, upper offset and level is checked before use [R-HNSW-CHECK]. */
static int bad(vf_error *err, const char *what)
{
    return vf_fail(err, VF_ECORRUPT, "hnsw index: %s", what);
}

/* Checks HNSW_META as SPEC 5.5.1 lists [R-HNSW-META]; reads nothing else [R-INDEX-OPEN]. */
static int hnsw_open(void **impl, const vf_seg *seg, const vs_rows_view *rows, vf_error *err)
{
    uint64_t mlen = 0, nlen = 0, ulen = 0;
    const uint8_t *meta = vf_seg_section(seg, VS_SEC_HNSW_META, &mlen);
    const uint8_t *nodes = vf_seg_section(seg, VS_SEC_HNSW_NODES, &nlen);
    const uint8_t *upper = vf_seg_section(seg, VS_SEC_HNSW_UPPER, &ulen);
    hnsw_meta m;
    if (!meta || mlen < HNSW_META_FIXED + 4)
        return bad(err, "metadata section too short");
    memcpy(&m, meta, sizeof m);
    if (m.version != HNSW_VERSION)
        return vf_fail(err, m.version > HNSW_VERSION ? VF_EVERSION : VF_ECORRUPT,
                       "hnsw index: version %u is not supported", m.version);
    if (m.dim != rows->dim || m.dim > HNSW_DIM_MAX || mlen != HNSW_META_FIXED + 8ull * m.dim + 4)
        return bad(err, "metadata length or dimension does not match the segment");
    uint32_t crc;
    memcpy(&crc, meta + mlen - 4, 4);
    if (crc != vf_crc32(0, meta, mlen - 4))
        return bad(err, "metadata checksum mismatch");
    if (m.metric != (uint32_t)rows->metric || m.rows != rows->n)
        return bad(err, "metadata does not match the segment's metric or rows");
    if (m.M < VS_HNSW_M_MIN || m.M > VS_HNSW_M_MAX || m.M0 < m.M || m.M0 > 2 * VS_HNSW_M_MAX ||
        m.stride != hnsw_stride(m.dim, m.M0) || m.code_kind != HNSW_CODE_U8 || m.max_level > HNSW_MAX_LEVEL)
        return bad(err, "bad graph parameters");
    if (m.rows && m.entry >= m.rows)
        return bad(err, "entry point out of range");
    if (!nodes || nlen / m.stride != m.rows || nlen % m.stride)
        return bad(err, "node section missing or of the wrong length");
    /* ulen / 4, not 4 * upper_words: a crafted count near 2^62 must not wrap */
    if (!upper || ulen % 4 || ulen / 4 != m.upper_words)
        return bad(err, "upper-level section missing or of the wrong length");
    const float *off = (const float *)(meta + HNSW_META_FIXED), *step = off + m.dim;
    for (uint32_t j = 0; j < m.dim; j++)
        if (!isfinite(off[j]) || !isfinite(step[j]) || step[j] < 0)
            return bad(err, "bad quantizer");
    hnsw_ix *ix = calloc(1, sizeof *ix);
    if (!ix)
        return vf_fail(err, VF_ENOMEM, "hnsw index: out of memory");
    ix->rows = rows;
    uint64_t idlen = 0;
    ix->ids = vf_seg_section(seg, VF_SEC_IDS, &idlen);
    if (idlen != 8ull * m.rows)
        ix->ids = NULL;
    ix->nodes = nodes;
    ix->upper = (const uint32_t *)upper;
    ix->words = m.upper_words;
    ix->n = (size_t)m.rows;
    ix->dim = m.dim;
    ix->M = m.M;
    ix->M0 = m.M0;
    ix->stride = m.stride;
    ix->max_level = m.max_level;
    ix->entry = m.entry;
    ix->aux_off = hnsw_aux_off(m.dim);
    ix->upper_off = hnsw_upper_off(m.dim);
    ix->row_off = hnsw_row_off(m.dim);
    ix->code_bytes = hnsw_l2_form((int)m.metric, m.dim) ? m.dim : hnsw_aux_off(m.dim) + 4;
    ix->pf_ahead = hnsw_pf_ahead(ix->code_bytes);
    ix->count_off = hnsw_count_off(m.dim);
    ix->metric = (int)m.metric;
    ix->off = off;
    ix->step = step;
    *impl = ix;
    return 0;
}

static void hnsw_close(void *impl) { free(impl); }

static void hnsw_scratch_free(void *scratch)
{
    hscratch *s = scratch;
    if (!s)
        return;
    free(s->visited);
    free(s->cq);
    free(s->wq);
    free(s->w);
    free(s->q16);
    free(s->ids);
    free(s->nb);
    free(s->dv);
    free(s);
}

static void *hnsw_scratch_new(const void *impl)
{
    const hnsw_ix *ix = impl;
    hscratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->visited = calloc(ix->n ? ix->n : 1, sizeof *s->visited);
    s->w = malloc(4ull * ix->dim);
    s->q16 = malloc(2ull * ix->dim);
    size_t mx = (ix->M0 > ix->M ? ix->M0 : ix->M) + 1;
    s->ids = malloc(mx * sizeof *s->ids);
    s->nb = malloc(mx * sizeof *s->nb);
    s->dv = malloc(mx * sizeof *s->dv);
    s->cqcap = s->wqcap = 256;
    s->cq = malloc(s->cqcap * sizeof(cand));
    s->wq = malloc(s->wqcap * sizeof(cand));
    if (!s->visited || !s->w || !s->q16 || !s->ids || !s->nb || !s->dv || !s->cq || !s->wq) {
        hnsw_scratch_free(s);
        return NULL;
    }
    return s;
}

void vs_hnsw_query_prep(hnsw_query *hq, const float *q, float qn, int metric, const float *off, const float *step,
                     uint32_t dim)
{
    if (hnsw_l2_form(metric, dim)) {
        for (uint32_t j = 0; j < dim; j++)
            hq->w[j] = q[j] - off[j];
        hq->step = step;
        hq->l2 = vs_code_l2_kernel();
        hq->c0 = hq->ca = hq->sq = 0;
        hq->dot = NULL;
        return;
    }
    hq->l2 = NULL;
    float scale = -1.0f, c0 = 0.0f;
    if (metric == VF_METRIC_L2) {
        scale = -2.0f;
        c0 = qn;
    } else if (metric == VF_METRIC_COSINE) {
        c0 = 1.0f;
        scale = -vs_metric_inv_norm(qn);
    }
    float dot = 0;
    for (uint32_t j = 0; j < dim; j++) {
        hq->w[j] = scale * q[j] * step[j];
        dot += q[j] * off[j];
    }
    hq->c0 = c0 + scale * dot;
    hq->ca = metric == VF_METRIC_L2 ? 1.0f : 0.0f;
    vs_hnsw_query_quantize(hq, dim);
}

void vs_hnsw_query_quantize(hnsw_query *hq, uint32_t dim)
{
    float mx = 0;
    for (uint32_t j = 0; j < dim; j++)
        mx = fabsf(hq->w[j]) > mx ? fabsf(hq->w[j]) : mx;
    /* as many levels as int16 holds while the int32 sum stays exact (255 * qmax * dim < 2^31):
       with 127 levels the query's rounding was 3x the codes' own error */
    int64_t lim = 2147483647 / (255 * (int64_t)(dim ? dim : 1));
    float qmax = (float)(lim > 32767 ? 32767 : lim < 1 ? 1 : lim);
    hq->sq = mx > 0 ? mx / qmax : 0.0f;
    float inv = mx > 0 ? qmax / mx : 0.0f;
    for (uint32_t j = 0; j < dim; j++) {
        float v = hq->w[j] * inv;
        /* a weight that overflowed (a huge quantizer step in a damaged file) makes inf * 0 =
           NaN here, and converting NaN to an integer is undefined: count it as 0 */
        v = v == v ? v : 0.0f;
        v = v > qmax ? qmax : v;
        v = v < -qmax ? -qmax : v;
        /* round half away from zero, the sign copied rather than tested: a branch on it
           mispredicted every other weight (-0 rounds to 0 either way) */
        hq->q16[j] = (int16_t)(int32_t)(v + copysignf(0.5f, v));
    }
    hq->dot = vs_code_dot_kernel();
    hq->dots = vs_code_dots_kernel();
}

/* ---- the walk ------------------------------------------------------------------------------ */

static inline const uint8_t *node(const hnsw_ix *ix, uint32_t r) { return ix->nodes + (size_t)r * ix->stride; }

/* The dot form's distance of node block p whose integer dot product is dot. */
static inline float approx_dot(const hnsw_ix *ix, const hnsw_query *hq, const uint8_t *p, int32_t dot)
{
    float aux;
    memcpy(&aux, p + ix->aux_off, 4);
    return hq->c0 + hq->ca * aux + hq->sq * (float)dot;
}

static inline float approx(const hnsw_ix *ix, const hnsw_query *hq, uint32_t r)
{
    const uint8_t *p = node(ix, r);
    if (hq->l2)
        return hq->l2(hq->w, hq->step, p, ix->dim);
    return approx_dot(ix, hq, p, hq->dot(hq->q8, hq->q16, p, ix->dim));
}

static inline void prefetch_block(const hnsw_ix *ix, const uint8_t *p)
{
    for (uint32_t o = 0; o < ix->code_bytes; o += 64)
        __builtin_prefetch((const char *)p + o);
}

/* The dot form's integer dot products of the m nodes at nb into dv, four nodes a call while
   the codes of the next pf_ahead are prefetched. */
static void hop_dots(const hnsw_ix *ix, const hnsw_query *hq, const uint8_t *const *nb, uint32_t m, int32_t *dv)
{
    uint32_t pf = ix->pf_ahead, i = 0;
    for (; i < m && i < pf; i++)
        prefetch_block(ix, nb[i]);
    for (uint32_t b = 0; b < m; b += 4) {
        uint32_t e = b + 4 < m ? b + 4 : m;
        for (; i < m && i < e + pf; i++)
            prefetch_block(ix, nb[i]);
        hq->dots(hq->q16, nb + b, e - b, ix->dim, dv + b);
    }
}

static inline void prefetch_links(const hnsw_ix *ix, uint32_t r)
{
    const char *p = (const char *)node(ix, r);
    for (uint32_t o = ix->count_off & ~63u; o < ix->stride; o += 64)
        __builtin_prefetch(p + o);
}

static inline void prefetch_row(const hnsw_ix *ix, uint32_t r)
{
    const char *p = (const char *)(vs_rows_vecs(ix->rows) + (size_t)r * ix->dim);
    for (size_t o = 0; o < 4ull * ix->dim; o += 64)
        __builtin_prefetch(p + o);
}

static inline int is_deleted(const uint8_t *del, uint32_t r) { return del && (del[r >> 3] >> (r & 7)) & 1; }

/* The row node k stands for (unchecked). */
static inline uint32_t row_of(const hnsw_ix *ix, uint32_t k)
{
    uint32_t r;
    memcpy(&r, node(ix, k) + ix->row_off, 4);
    return r;
}

/* 1 if node k's row is deleted, 0 if live, -1 if its row number is damaged. */
static inline int node_deleted(const hnsw_ix *ix, const uint8_t *del, uint32_t k)
{
    if (!del)
        return 0;
    uint32_t r = row_of(ix, k);
    return r >= ix->n ? -1 : is_deleted(del, r);
}

/* The checked list of row r on level l >= 1, or NULL if its bytes are damaged. */
static const uint32_t *upper_list(const hnsw_ix *ix, uint32_t r, uint32_t l)
{
    uint32_t u;
    memcpy(&u, node(ix, r) + ix->upper_off, 4);
    if (u >= ix->words)
        return NULL;
    uint32_t L = ix->upper[u];
    if (L < l || L > ix->max_level || u + 1 + (uint64_t)L * (ix->M + 1) > ix->words)
        return NULL;
    const uint32_t *ls = ix->upper + u + 1 + (size_t)(l - 1) * (ix->M + 1);
    if (ls[0] > ix->M)
        return NULL;
    return ls;
}

static int grow(cand **h, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap * 2 > need ? *cap * 2 : need;
    cand *p = realloc(*h, c * sizeof(cand));
    if (!p)
        return VF_ENOMEM;
    *h = p;
    *cap = c;
    return 0;
}

static uint16_t next_epoch(const hnsw_ix *ix, hscratch *s)
{
    if (++s->epoch == 0) {
        memset(s->visited, 0, ix->n * sizeof *s->visited);
        s->epoch = 1;
    }
    return s->epoch;
}

/* SEARCH-LAYER on level 0 from ep: leaves the (up to) ef nearest live rows found in s->wq, a
   max-heap, and their number in *nw. */
static int search_base(const hnsw_ix *ix, hscratch *s, const hnsw_query *hq, cand ep, size_t ef,
                       const uint8_t *del, size_t *nwp, vf_error *err)
{
    uint16_t e = next_epoch(ix, s);
    size_t nc = 0, nw = 0;
    s->visited[ep.id] = e;
    minheap_push(s->cq, &nc, ep);
    float lower = INFINITY;
    int dl = node_deleted(ix, del, ep.id);
    if (dl < 0)
        return bad(err, "row number out of range");
    if (!dl) {
        maxheap_push(s->wq, &nw, ep);
        lower = ep.d;
    }
    while (nc) {
        cand c = minheap_pop(s->cq, &nc);
        if (c.d > lower && nw == ef)
            break;
        if (nc) /* the likely next hop's links, while this hop runs */
            prefetch_links(ix, s->cq[0].id);
        const uint32_t *ls = (const uint32_t *)(node(ix, c.id) + ix->count_off);
        uint32_t cnt = ls[0], m = 0;
        if (cnt > ix->M0)
            return bad(err, "level-0 link count out of range");
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t x = ls[1 + i];
            if (x >= ix->n)
                return bad(err, "level-0 link out of range");
            /* without a branch: whether a neighbour was seen is a coin toss */
            s->ids[m] = x;
            m += s->visited[x] != e;
            s->visited[x] = e;
        }
        if (grow(&s->cq, &s->cqcap, nc + m))
            return vf_fail(err, VF_ENOMEM, "hnsw index: out of memory");
        /* the dot form scores every new neighbour in one call, then pushes them in order */
        for (uint32_t i = 0; i < m; i++)
            s->nb[i] = node(ix, s->ids[i]);
        if (!hq->l2)
            hop_dots(ix, hq, s->nb, m, s->dv);
        else
            for (uint32_t i = 0; i < m && i < ix->pf_ahead; i++)
                prefetch_block(ix, s->nb[i]);
        for (uint32_t i = 0; i < m; i++) {
            uint32_t x = s->ids[i];
            float d;
            if (!hq->l2)
                d = approx_dot(ix, hq, s->nb[i], s->dv[i]);
            else {
                if (i + ix->pf_ahead < m)
                    prefetch_block(ix, s->nb[i + ix->pf_ahead]);
                d = hq->l2(hq->w, hq->step, s->nb[i], ix->dim);
            }
            if (nw < ef || d < lower) {
                cand y = {d, x};
                minheap_push(s->cq, &nc, y);
                dl = node_deleted(ix, del, x);
                if (dl < 0)
                    return bad(err, "row number out of range");
                if (!dl) {
                    maxheap_push(s->wq, &nw, y);
                    if (nw > ef)
                        maxheap_pop(s->wq, &nw);
                    lower = s->wq[0].d;
                }
            }
        }
    }
    *nwp = nw;
    return 0;
}

/* Pushes every live row not marked with epoch e, exactly: the fallback when the graph walk
   reaches fewer than k live rows. */
static void scan_rest(const hnsw_ix *ix, hscratch *s, uint16_t e, const float *q, float qn, const uint8_t *del,
                      vs_topk *t)
{
    for (size_t r = 0; r < ix->n; r++)
        if (s->visited[r] != e && !is_deleted(del, (uint32_t)r))
            vs_topk_push(t, vs_row_distance(ix->rows, q, qn, r), r);
}

/* t holds the k best of ex[0..n) by (distance, row); when rows tied at its k-th distance were
   left out, keeps instead those of the smallest ids, the order the caller merges by
   [R-SEARCH-ORDER].  tmp has room for n. */
static void ties_by_id(const uint64_t *ids, const cand *ex, size_t n, vs_topk *t, cand *tmp)
{
    float b = vs_topk_bound(t);
    size_t kept = 0, tied = 0;
    for (size_t i = 0; i < t->n; i++)
        kept += t->h[i].dist == b;
    for (size_t i = 0; i < n; i++)
        if (ex[i].d == b)
            tmp[tied++] = ex[i];
    if (tied == kept)
        return;
    size_t k = t->k;
    vs_topk_init(t, t->h, k);
    for (size_t i = 0; i < n; i++)
        if (ex[i].d < b)
            vs_topk_push(t, ex[i].d, ex[i].id);
    /* the tied rows by id: a partial selection of the k - n smallest */
    for (size_t j = 0; t->n < k && j < tied; j++) {
        size_t m = j;
        for (size_t i = j + 1; i < tied; i++)
            if (ids[tmp[i].id] < ids[tmp[m].id])
                m = i;
        cand c = tmp[m];
        tmp[m] = tmp[j];
        vs_topk_push(t, c.d, c.id);
    }
}

static int hnsw_search(const void *impl, const float *q, float qn, const vs_query_params *qp, const uint8_t *del,
                       vs_topk *t, void *scratch, vf_error *err)
{
    const hnsw_ix *ix = impl;
    hscratch *s = scratch;
    size_t k = t->k;
    if (!k || !ix->n)
        return 0;
    size_t ef = qp && qp->ef ? qp->ef : HNSW_EF_DEFAULT;
    ef = ef < k ? k : ef;
    ef = ef > ix->n ? ix->n : ef;
    if (grow(&s->wq, &s->wqcap, ef + 2))
        return vf_fail(err, VF_ENOMEM, "hnsw index: out of memory");

    hnsw_query hq = {.w = s->w, .q16 = s->q16};
    vs_hnsw_query_prep(&hq, q, qn, ix->metric, ix->off, ix->step, ix->dim);

    cand cur = {approx(ix, &hq, ix->entry), ix->entry};
    for (uint32_t l = ix->max_level; l >= 1; l--) {
        for (int changed = 1; changed;) {
            changed = 0;
            const uint32_t *ls = upper_list(ix, cur.id, l);
            if (!ls)
                return bad(err, "upper-level record damaged");
            uint32_t cnt = ls[0];
            for (uint32_t i = 0; i < cnt; i++) {
                if (ls[1 + i] >= ix->n)
                    return bad(err, "upper-level link out of range");
                s->nb[i] = node(ix, ls[1 + i]);
            }
            if (!hq.l2) /* the list scored in one call, as a hop on level 0 */
                hop_dots(ix, &hq, s->nb, cnt, s->dv);
            for (uint32_t i = 0; i < cnt; i++) {
                float d = hq.l2 ? hq.l2(hq.w, hq.step, s->nb[i], ix->dim) : approx_dot(ix, &hq, s->nb[i], s->dv[i]);
                if (d < cur.d) {
                    cur = (cand){d, ls[1 + i]};
                    changed = 1;
                }
            }
        }
    }

    size_t nw = 0;
    int rc = search_base(ix, s, &hq, cur, ef, del, &nw, err);
    if (rc)
        return rc;

    /* re-rank the walk results exactly, every one unless --refine asks for fewer: no earlier
       stop is sound, since rows may sit closer together than the codes' error
       (near-duplicates).  Their rows are marked with a fresh epoch, which also catches two
       nodes claiming one row. */
    size_t nr = qp && qp->refine && (size_t)qp->refine * k < nw ? (size_t)qp->refine * k : nw;
    if (nr < nw) /* the best nr by the codes' distance */
        qsort(s->wq, nw, sizeof(cand), cand_cmp);
    uint16_t e = next_epoch(ix, s);
    for (size_t i = 0; i < nw; i++) {
        uint32_t r = row_of(ix, s->wq[i].id);
        if (r >= ix->n || s->visited[r] == e)
            return bad(err, "row number out of range or repeated");
        s->visited[r] = e;
        s->wq[i].id = r;
    }
    vs_rerank rr;
    vs_rerank_begin(&rr, ix->rows);
    for (size_t i = 0; rr.ahead && i < nr; i++)
        vs_rerank_row(&rr, s->wq[i].id);
    for (size_t i = 0; i < nr && i < HNSW_PF_ROWS; i++)
        prefetch_row(ix, s->wq[i].id);
    for (size_t i = 0; i < nr; i++) {
        if (i + HNSW_PF_ROWS < nr)
            prefetch_row(ix, s->wq[i + HNSW_PF_ROWS].id);
        s->wq[i].d = vs_row_distance(ix->rows, q, qn, s->wq[i].id);
        vs_topk_push(t, s->wq[i].d, s->wq[i].id);
    }
    vs_rerank_end(&rr);
    if (ix->ids && nr > k) {
        if (grow(&s->cq, &s->cqcap, nr))
            return vf_fail(err, VF_ENOMEM, "hnsw index: out of memory");
        ties_by_id(ix->ids, s->wq, nr, t, s->cq);
    }

    if (nw < k) {
        size_t live = ix->n;
        if (del)
            for (size_t r = 0; r < ix->n; r++)
                live -= is_deleted(del, (uint32_t)r);
        if (live > nw)
            scan_rest(ix, s, e, q, qn, del, t);
    }
    return 0;
}

const vs_index_ops vs_hnsw_ops = {
    .open = hnsw_open,
    .close = hnsw_close,
    .scratch_new = hnsw_scratch_new,
    .scratch_free = hnsw_scratch_free,
    .search = hnsw_search,
};
