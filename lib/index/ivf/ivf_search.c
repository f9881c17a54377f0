/*
 * ivf_search.c - opens and searches IVF_FLAT, IVF_SQ8 and IVF_PQ
 * indexes in place on the segment's mapping (layout: ivf.h,
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
 * Speed: the lists are ranked on a half-precision copy of the centroids
 * (AVX-512; built once per open index by the first scratch_new), since
 * reading nlist*dim floats per query rivals the scan itself; the per-list
 * terms of the PQ distance use the f32 centroids.  SQ8 weights become 16-bit
 * integers per query (multiply-add of two codes per instruction), scaled so
 * no 32-bit sum overflows.  The kernels are lib/simd/'s (codes.h, pq.h,
 * f16.h), at the level VECSEG_SIMD or the CPU chose.  The nprobe lists are
 * a quickselect over one integer key per list and a sort of those alone; the k
 * best (and the refine candidates) a reservoir trimmed by a quickselect when
 * full, the scan pushing only what is within its threshold; the refine step
 * prefetches candidates' rows ahead, the scan the next list's first lines.
 *
 * Order: the k best go by (distance, id) [R-SEARCH-ORDER], ids from the segment's IDS section,
 * so a tie at the k-th distance keeps the smaller ids, as an exact scan does; the hits kept
 * carry their row numbers, which the caller maps to ids (index.h).
 *
 * Invariants: open reads only IVF_META and the two ends of IVF_OFFSETS ([R-INDEX-OPEN]) and
 * checks every section's length against it; a search checks each probed
 * list's offsets and each row number before use, so damaged bytes give
 * VF_ECORRUPT, never an out-of-bounds read.  Deleted rows are never pushed.
 * Searches of one index may run in parallel threads, each with its own
 * scratch; the index itself is only written under its lock (the f16 copy).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf/ivf.h"
#include "simd/codes.h"
#include "simd/f16.h"
#include "simd/metric.h"
#include "simd/pq.h"

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
    const uint64_t *ids;      /* n ids by row (IDS), the tie order; NULL: by row */
    /* the quantiser's sections (centroids, PQ codebooks, SQ8 parameters): lengths and CRCs
       from the section table, the cheap half of vs_ivf_same_quantiser */
    uint64_t qlen[3];
    uint32_t qcrc[3];
    const struct ivf *same_as; /* a leader whose quantiser bytes were found equal (under lock) */
    /* A half-precision copy of the centroids, scaled by c16_scale (a power
       of two) and padded to c16_dim (a multiple of 16) dimensions, built by
       the first scratch_new on an AVX-512 machine: ranking the lists reads
       half the bytes (the centroids outgrow L2 before anything else). */
    pthread_mutex_t lock;
    int c16_state;            /* 0 not tried, 1 ready, -1 unavailable */
    uint16_t *c16;
    float c16_scale;
    size_t c16_dim;
} ivf;

typedef struct hit {          /* a hit as the search ranks it: by (d, id), carrying its row and group member */
    float d;
    uint32_t row, mem;
    uint64_t id;
} hit;

/* The k best hits, kept as a reservoir: hits within thr are appended to h (room for
   best_room(k)); when it is full, a selection keeps the k best and thr becomes the largest
   of their distances.  A hit beyond thr can never be among the k best (k hits already
   rank before it), so the k best of all offered are the k best of what is kept; a push is
   one comparison and one store, where a heap of k sifted each one. */
typedef struct best {
    hit *h;
    size_t n, k;
    float thr;                /* +inf until the first selection */
    float *sd;                /* 2 * best_room(k) floats of scratch for best_trim */
    uint32_t mem;             /* the group member whose rows are pushed now */
} best;

static size_t best_room(size_t k) { return k < 32 ? k + 32 : 2 * k; }

typedef struct scratch {
    float *cd;                /* nlist: the lists' distances to the query, for ranking */
    uint64_t *pr;             /* nlist: the probe order, as list_key values */
    float *qx, *w;            /* d: the (normalised) query; SQ8 weights */
    float *q16;               /* c16_dim: the query scaled as the f16 centroids */
    float *lut;               /* PQ: pq_m * 256 */
    float sq_base;            /* SQ8: the query's constant term */
    int16_t *w16;             /* SQ8: the weights as integers ... */
    float w16_inv;            /* ... times this */
    int use16;                /* w16 is set for this query */
    float *buf;               /* CHUNK distances */
    hit *cand;                /* every member's refine candidates and k best */
    size_t cand_cap;
    hit *res;                 /* the k best of the group */
    size_t res_cap;
    float *sd;                /* best_trim's scratch: 2 * sd_cap floats */
    size_t sd_cap;
    struct member *mb;        /* a group's members */
    size_t mb_cap;
} scratch;

typedef struct member {       /* one segment of a group, searched as if alone */
    best cand, res;           /* its refine candidates, its k best */
    size_t live;              /* its live rows seen */
} member;

/* Builds the f16 copy once per open index (under the lock); leaves
   c16_state -1 when the level in use has no f16 kernels (simd/f16.h), the
   centroids are not all finite, or memory is short. */
static void c16_build(ivf *x)
{
    pthread_mutex_lock(&x->lock);
    if (x->c16_state == 0) {
        x->c16_state = -1;
        size_t n = x->nlist, d = x->d, dp = (d + 15) & ~(size_t)15;
        float mx = 0;
        int finite = 1;
        for (size_t i = 0; i < n * d; i++) {
            float a = fabsf(x->cent[i]);
            finite &= isfinite(a);
            mx = a > mx ? a : mx;
        }
        if (vs_f16_ready() && finite) {
            /* the largest value maps to [16384, 32768): far from f16's
               overflow (65504), and a power of two scales exactly */
            int e = 0;
            frexpf(mx > 0 ? mx : 1.0f, &e);
            float scale = ldexpf(1.0f, 15 - e);
            x->c16 = malloc(n * dp * sizeof *x->c16);
            if (x->c16) {
                vs_f16_encode(x->cent, n, d, scale, dp, x->c16);
                x->c16_scale = scale;
                x->c16_dim = dp;
                x->c16_state = 1;
            }
        }
    }
    pthread_mutex_unlock(&x->lock);
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
    pthread_mutex_init(&x->lock, NULL);
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
    const void *ids = vf_seg_section(seg, VF_SEC_IDS, &len);
    x->ids = ids && len == n * 8 ? ids : NULL;
    static const uint32_t qsec[3] = {VS_SEC_IVF_CENTROIDS, VS_SEC_PQ_CODEBOOKS, VS_SEC_SQ8_PARAMS};
    for (size_t i = 0; i < vf_seg_nsections(seg); i++) {
        const vf_section *sec = vf_seg_section_at(seg, i);
        for (int j = 0; j < 3; j++)
            if (sec->type == qsec[j]) {
                x->qlen[j] = sec->length;
                x->qcrc[j] = sec->crc;
            }
    }
    /* [R-IVF-META] the lists cover the positions exactly */
    if (!rc && (x->off[0] != 0 || x->off[m.nlist] != n))
        rc = vf_fail(err, VF_ECORRUPT, "ivf: list offsets run from %llu to %llu, expected 0 to %llu",
                     (unsigned long long)x->off[0], (unsigned long long)x->off[m.nlist], (unsigned long long)n);
    if (rc) {
        pthread_mutex_destroy(&x->lock);
        free(x);
        return rc;
    }
    *impl = x;
    return 0;
}

static void ivf_close(void *impl)
{
    ivf *x = impl;
    if (!x)
        return;
    pthread_mutex_destroy(&x->lock);
    free(x->c16);
    free(x);
}

static void *ivf_scratch_new(const void *impl)
{
    ivf *x = (ivf *)impl; /* ours, from ivf_open: only the lazy f16 copy changes */
    c16_build(x);
    scratch *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q16 = malloc(((x->d + 15) & ~(size_t)15) * sizeof *s->q16);
    s->cd = malloc(x->nlist * sizeof *s->cd);
    s->pr = malloc(x->nlist * sizeof *s->pr);
    s->qx = malloc(x->d * sizeof *s->qx);
    s->w = malloc(x->d * sizeof *s->w);
    s->lut = malloc(((size_t)x->pq_m * VS_PQ_KSUB + 1) * sizeof *s->lut);
    s->buf = malloc(CHUNK * sizeof *s->buf);
    s->w16 = malloc(x->d * sizeof *s->w16);
    if (!s->w16 || !s->cd || !s->pr || !s->qx || !s->w || !s->lut || !s->buf || !s->q16) {
        free(s->q16);
        free(s->w16);
        free(s->cd);
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
    free(s->pr);
    free(s->qx);
    free(s->w);
    free(s->lut);
    free(s->buf);
    free(s->cand);
    free(s->res);
    free(s->sd);
    free(s->mb);
    free(s->q16);
    free(s->w16);
    free(s);
}

/* ---- search ---------------------------------------------------------------------------- */

static inline int hit_before(const hit *a, const hit *b)
{
    return a->d < b->d ||
           (a->d == b->d && (a->id < b->id || (a->id == b->id && (a->row < b->row ||
                                                                  (a->row == b->row && a->mem < b->mem)))));
}

/* Leaves the k best by hit_before in a[0..k) (of n): a quickselect, the median of three
   swapped first so each partition (Hoare's, pivot first) leaves both sides non-empty. */
static void hits_select(hit *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* a[0..lo) <= a[lo..hi) <= a[hi..n), lo <= k <= hi */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1, m = lo;
        if (hit_before(&a[mid], &a[lo]) != hit_before(&a[mid], &a[last]))
            m = mid;
        else if (hit_before(&a[last], &a[lo]) != hit_before(&a[last], &a[mid]))
            m = last;
        hit piv = a[m];
        a[m] = a[lo];
        a[lo] = piv;
        size_t i = lo, j = hi;
        for (;;) { /* a[lo] is piv: the i scan stops there first */
            do
                j--;
            while (hit_before(&piv, &a[j]));
            while (hit_before(&a[i], &piv))
                i++;
            if (i >= j)
                break;
            hit t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
        }
        /* a[lo..j] <= piv <= a[j+1..hi), lo <= j < hi - 1 */
        if (k <= j)
            hi = j + 1;
        else
            lo = j + 1;
    }
}

/* The (k+1)-th smallest of a[0..n) (k < n; no NaN), a and b n floats of scratch each (a
   is overwritten): a quickselect whose partitions write each value to both ends of the
   other buffer and advance one end, so the loop has no branch on the data. */
static float kth_smallest(float *a, float *b, size_t n, size_t k)
{
    while (n > 8) {
        float x = a[0], y = a[n / 2], z = a[n - 1];
        float piv = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t l = 0, r = n - 1;
        for (size_t i = 0; i < n; i++) {
            float v = a[i];
            size_t c = v < piv;
            b[l] = v;
            b[r] = v;
            l += c;
            r -= 1 - c;
        }
        /* b[0..l) < piv <= b[l..n) */
        if (k < l)
            n = l;
        else if (l > 0) {
            b += l;
            n -= l;
            k -= l;
        } else { /* piv is the smallest: take the values equal to it off the front */
            size_t e = 0;
            for (size_t i = 0; i < n; i++) {
                float v = b[i];
                size_t c = v == piv;
                a[e] = v;
                e += c;
            }
            if (k < e)
                return piv;
            l = 0;
            for (size_t i = 0; i < n; i++) {
                float v = b[i];
                a[l] = v;
                l += v != piv;
            }
            n = l;
            k -= e;
            continue;
        }
        float *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort of the last few */
        float v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
    return a[k];
}

/* Keeps at least the k best of t's hits (all whose distance is within the k-th smallest;
   exactly the k best when exact) and lowers thr to that distance.  sd: 2 * best_room(k)
   floats of scratch. */
static void best_trim(best *t, float *sd, int exact)
{
    if (t->n <= t->k)
        return;
    size_t n = t->n;
    for (size_t i = 0; i < n; i++)
        sd[i] = t->h[i].d;
    float kd = kth_smallest(sd, sd + n, n, t->k - 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        hit h = t->h[i];
        t->h[w] = h;
        w += h.d <= kd;
    }
    t->n = w;
    t->thr = kd;
    if (w > t->k && (exact || w == best_room(t->k))) { /* ties at kd: by (distance, id) */
        hits_select(t->h, w, t->k);
        t->n = t->k;
    }
}

/* Offers (d, row) to the k best by (distance, id) [R-SEARCH-ORDER]; NaN never enters. */
static void best_push(best *t, const ivf *x, float d, uint32_t row)
{
    if (!(d <= t->thr) || t->k == 0)
        return;
    t->h[t->n++] = (hit){d, row, t->mem, x->ids ? x->ids[row] : row};
    if (t->n == best_room(t->k))
        best_trim(t, t->sd, 0);
}

/* Room for cap hits in *buf (of *have), grown as needed. */
static int hits_reserve(hit **buf, size_t *have, size_t cap)
{
    if (cap <= *have)
        return 0;
    hit *h = realloc(*buf, cap * sizeof *h);
    if (!h)
        return -1;
    *buf = h;
    *have = cap;
    return 0;
}

/* Room for best_trim's scratch for n hits. */
static int sd_reserve(scratch *s, size_t n)
{
    if (n <= s->sd_cap)
        return 0;
    float *p = realloc(s->sd, 2 * n * sizeof *p);
    if (!p)
        return -1;
    s->sd = p;
    s->sd_cap = n;
    return 0;
}

/* A list's rank key: its distance mapped to an integer of the same order (the sign bit
   flipped for positive values, every bit for negative ones; -0 is first made +0 so it ties
   with +0 as the float comparison does), above its list number: one integer comparison
   orders by (distance, list).  NaN distances were mapped to +inf. */
static inline uint64_t list_key(float d, uint32_t l)
{
    d += 0.0f; /* -0 + +0 = +0 */
    uint32_t u;
    memcpy(&u, &d, sizeof u);
    u = u >> 31 ? ~u : u | 0x80000000u;
    return (uint64_t)u << 32 | l;
}

/* Hoare's partition of key[lo..hi) (hi - lo >= 2) around the median of three, swapped
   first so that both sides are non-empty: returns j with key[lo..j] <= key[j+1..hi). */
static size_t keys_partition(uint64_t *key, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1, m = lo;
    if ((key[mid] < key[lo]) != (key[mid] < key[last]))
        m = mid;
    else if ((key[last] < key[lo]) != (key[last] < key[mid]))
        m = last;
    uint64_t piv = key[m];
    key[m] = key[lo];
    key[lo] = piv;
    size_t i = lo, j = hi;
    for (;;) { /* key[lo] is piv: the i scan stops there first */
        do
            j--;
        while (key[j] > piv);
        while (key[i] < piv)
            i++;
        if (i >= j)
            return j; /* lo <= j < hi - 1 */
        uint64_t t = key[i];
        key[i] = key[j];
        key[j] = t;
        i++;
    }
}

static void sort_keys(uint64_t *a, size_t n)
{
    while (n > 16) { /* quicksort: recursion on the smaller part, the loop on the larger */
        size_t left = keys_partition(a, 0, n) + 1;
        if (left < n - left) {
            sort_keys(a, left);
            a += left;
            n -= left;
        } else {
            sort_keys(a + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

/* The np nearest lists, ascending by (distance, list), in key[0..np): every list's key,
   a quickselect that leaves the np smallest first, then a sort of those and at most 16
   more.  The keys give the same order as a full sort by (distance, list). */
static void select_lists(const float *cd, uint32_t nlist, uint32_t np, uint64_t *key)
{
    for (uint32_t l = 0; l < nlist; l++)
        key[l] = list_key(cd[l], l);
    size_t lo = 0, hi = nlist; /* key[0..lo) < key[lo..hi) < key[hi..nlist), lo <= np <= hi */
    while (np < nlist && hi - lo > 16) {
        size_t j = keys_partition(key, lo, hi);
        if (np <= j)
            hi = j + 1;
        else
            lo = j + 1;
    }
    sort_keys(key, hi); /* np <= hi <= np + 16, or nlist */
}

/* The refine step reads the candidates' rows at random: each is fetched this many
   candidates ahead (its vector and norm), so the misses overlap. */
#define PREFETCH_AHEAD 6

/* Prefetches never fault; the addresses go through uintptr_t since they may run past the
   end of a section. */
static void prefetch_bytes(const void *p, size_t len)
{
    for (size_t o = 0; o < len; o += 64)
        __builtin_prefetch((const void *)((uintptr_t)p + o), 0, 3);
}

static void prefetch_row(const ivf *x, uint32_t row)
{
    const float *v = vs_rows_vecs(x->rows);
    if (row < x->n && v) {
        prefetch_bytes(v + (size_t)row * x->d, (size_t)x->d * 4);
        if (x->rows->norms)
            __builtin_prefetch(x->rows->norms + row, 0, 3);
        if (x->ids)
            __builtin_prefetch(x->ids + row, 0, 3);
    }
}

/* The next list's centroid (its constant term) and the first lines of its records, fetched
   while the current list is scanned: each list starts at a random place. */
static void prefetch_list(const ivf *x, uint32_t l)
{
    uint64_t lo = x->off[l];
    if (lo >= x->n)
        return;
    if (x->m.kind == VS_INDEX_IVF_PQ)
        prefetch_bytes(x->cent + (size_t)l * x->d, (size_t)x->d * 4);
    size_t rec = x->m.kind == VS_INDEX_IVF_PQ ? x->pq_m : x->m.kind == VS_INDEX_IVF_SQ8 ? x->d : (size_t)x->d * 4;
    const void *base = x->m.kind == VS_INDEX_IVF_FLAT ? (const void *)x->vecs : (const void *)x->codes;
    prefetch_bytes((const void *)((uintptr_t)base + lo * rec), rec * 4 < 256 ? 256 : rec * 4);
    __builtin_prefetch(x->pos_row + lo, 0, 3);
    if (x->terms)
        __builtin_prefetch(x->terms + lo, 0, 3);
}

typedef struct run {
    const ivf *x;
    scratch *s;
    const float *q, *qx;      /* the query; normalised for cosine */
    float qn;
    const uint8_t *deleted;
    best *out;                /* where hits go: the k best, or the refine candidates */
    size_t live;              /* live rows seen */
    float lbase;              /* PQ: the list's constant term, when have_lbase (once per group) */
    int have_lbase;
} run;

static int bad_row(uint32_t r, size_t p, vf_error *err)
{
    return vf_fail(err, VF_ECORRUPT, "ivf: row number %u at position %zu is out of range", r, p);
}

/* Scans list l: distances of its positions in chunks, pushed into r->out. */
static int scan_list(run *r, uint32_t l, vf_error *err)
{
    const ivf *x = r->x;
    scratch *s = r->s;
    uint64_t lo = x->off[l], hi = x->off[l + 1];
    if (lo > hi || hi > x->n) /* [R-IVF-BOUNDS] */
        return vf_fail(err, VF_ECORRUPT, "ivf: list %u spans positions %llu..%llu of %zu", l,
                       (unsigned long long)lo, (unsigned long long)hi, x->n);
    size_t d = x->d;
    int metric = (int)x->m.metric;
    /* the per-list constant of the approximate distance */
    float base = 0;
    if (x->m.kind == VS_INDEX_IVF_PQ && r->have_lbase)
        base = r->lbase;
    else if (x->m.kind == VS_INDEX_IVF_PQ) {
        const float *c = x->cent + (size_t)l * d;
        base = metric == VF_METRIC_L2 ? vs_l2sq(r->qx, c, d)
               : metric == VF_METRIC_IP ? -vs_dot(r->qx, c, d)
                                        : 1.0f - vs_dot(r->qx, c, d);
    } else if (x->m.kind == VS_INDEX_IVF_SQ8)
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
            if (s->use16)
                vs_sq8_dot_i16(s->w16, x->codes + p0 * d, cnt, d, s->w16_inv, buf);
            else
                vs_sq8_dot(s->w, x->codes + p0 * d, cnt, d, buf);
            break;
        default:
            vs_adc(s->lut, x->codes + p0 * x->pq_m, cnt, x->pq_m, buf);
        }
        if (!r->deleted && (x->m.kind != VS_INDEX_IVF_FLAT || metric == VF_METRIC_L2)) {
            /* every row live and its distance in buf alone: once the k best are held, a vector
               scan leaves best_push only the positions within the worst kept, the others it
               would turn away; the pushes are the same, in the same order */
            const uint32_t *pr = x->pos_row + p0;
            /* blocks of 8 the compiler vectorises (a fixed count needs no scalar remainder,
               so -O2 does): an unsigned compare folded into one flag */
            uint32_t lim = x->n < UINT32_MAX ? (uint32_t)x->n : UINT32_MAX, out = 0;
            size_t c8 = cnt & ~(size_t)7;
            for (size_t i = 0; i < c8; i += 8)
                for (size_t j = 0; j < 8; j++)
                    out |= pr[i + j] >= lim;
            for (size_t i = c8; i < cnt; i++)
                out |= pr[i] >= lim;
            for (size_t i = 0; out && i < cnt; i++)
                if (pr[i] >= x->n) /* [R-IVF-BOUNDS] */
                    return bad_row(pr[i], p0 + i, err);
            r->live += cnt;
            if (x->m.kind != VS_INDEX_IVF_FLAT) {
                float *restrict e = buf;
                const float *restrict tm = x->terms ? x->terms + p0 : NULL;
                float b0 = base + 0.0f; /* base plus a zero term: -0 becomes +0 */
                size_t i = 0;
                for (; tm && i < c8; i += 8)
                    for (size_t j = 0; j < 8; j++)
                        e[i + j] = (base + tm[i + j]) + e[i + j];
                for (; !tm && i < c8; i += 8)
                    for (size_t j = 0; j < 8; j++)
                        e[i + j] = b0 + e[i + j];
                for (; i < cnt; i++)
                    e[i] = (tm ? base + tm[i] : b0) + e[i];
            }
            best *t = r->out;
            uint32_t idx[CHUNK];
            size_t m = vs_scan_le1(buf, cnt, t->thr, idx);
            for (size_t j = 0; j < m; j++)
                best_push(t, x, buf[idx[j]], pr[idx[j]]);
            continue;
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t p = p0 + i;
            uint32_t row = x->pos_row[p];
            if (row >= x->n) /* [R-IVF-BOUNDS] */
                return bad_row(row, p, err);
            if (r->deleted /* never pushed [R-SEARCH-LIVE] */ && (r->deleted[row >> 3] >> (row & 7) & 1))
                continue;
            r->live++;
            float dist;
            if (x->m.kind == VS_INDEX_IVF_FLAT) {
                if (metric == VF_METRIC_L2)
                    dist = buf[i];
                else {
                    float xn = metric == VF_METRIC_IP ? 0 : x->rows->norms ? x->rows->norms[row] : -1;
                    if (xn < 0) { /* no NORMS: then VECTORS are in place (5.6.1 requires NORMS apart) */
                        const float *xr = x->rows->vecs + (size_t)row * d;
                        xn = vs_dot(xr, xr, d);
                    }
                    dist = vs_metric_from_dot(metric, buf[i], r->qn, xn);
                }
            } else
                dist = base + (x->terms ? x->terms[p] : 0.0f) + buf[i];
            best_push(r->out, x, dist, row);
        }
    }
    return 0;
}

/* Query-side set-up: the normalised query (returned), the lists' ranking
   distances, and the SQ8 weights or the PQ lookup table. */
static const float *prepare(const ivf *x, scratch *s, const float *q, float qn, int want16)
{
    uint32_t d = x->d, nlist = x->nlist;
    int metric = (int)x->m.metric;
    const float *qx = q;
    if (metric == VF_METRIC_COSINE) {
        float inv = vs_metric_inv_norm(qn);
        for (uint32_t t = 0; t < d; t++)
            s->qx[t] = q[t] * inv;
        qx = s->qx;
    }
    if (x->c16_state == 1 && vs_f16_ready()) {
        for (size_t t = 0; t < x->c16_dim; t++)
            s->q16[t] = t < d ? qx[t] * x->c16_scale : 0.0f;
        if (metric == VF_METRIC_IP)
            vs_f16_dot_many(s->q16, x->c16, nlist, x->c16_dim, s->cd);
        else
            vs_f16_l2sq_many(s->q16, x->c16, nlist, x->c16_dim, s->cd);
    } else if (metric == VF_METRIC_IP)
        vs_dot_many(qx, x->cent, nlist, d, s->cd);
    else
        vs_l2sq_many(qx, x->cent, nlist, d, s->cd);
    for (uint32_t l = 0; l < nlist; l++) {
        if (metric == VF_METRIC_IP)
            s->cd[l] = -s->cd[l];
        if (isnan(s->cd[l]))
            s->cd[l] = INFINITY;
    }
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
        s->use16 = 0;
        if (want16) {
            /* w16 = w * 2^e, the largest power of two keeping every |w16|
               and every row's sum (d codes of at most 255) in range */
            float mw = 0;
            for (uint32_t t = 0; t < d; t++)
                mw = fabsf(s->w[t]) > mw ? fabsf(s->w[t]) : mw;
            double lim = floor(2147483647.0 / (255.0 * d)) - 1;
            lim = lim < 32767 ? lim : 32767;
            if (isfinite(mw) && lim >= 1) {
                int e = 0;
                frexp(mw > 0 ? lim / mw : 1.0, &e);
                float ws = ldexpf(1.0f, e - 1);
                for (uint32_t t = 0; t < d; t++)
                    s->w16[t] = (int16_t)lrintf(s->w[t] * ws);
                s->w16_inv = 1.0f / ws;
                s->use16 = 1;
            }
        }
    } else if (x->m.kind == VS_INDEX_IVF_PQ) {
        /* the factor goes into the query (exact: a power of two) */
        float f = metric == VF_METRIC_L2 ? -2.0f : -1.0f;
        for (uint32_t t = 0; t < d; t++)
            s->w[t] = f * qx[t];
        vs_tables_dot(s->w, x->cbt, x->pq_m, x->dsub, VS_PQ_KSUB, s->lut);
    }
    return qx;
}

/* Scans list l in every member of the group (xs[0] ranked the lists for all), or with
   `needy` only in the members that have seen fewer than k live rows [R-IVF-LIVE]. */
static int scan_group(run *r, const ivf *const *xs, size_t nx, const uint8_t *const *deleted, member *mb,
                      int refine, size_t k, int needy, uint32_t l, vf_error *err)
{
    r->have_lbase = 0;
    for (size_t i = 0; i < nx; i++) {
        const ivf *x = xs[i];
        if (needy && mb[i].live >= k)
            continue;
        if (l < x->nlist && x->off[l] == x->off[l + 1] && x->off[l] <= x->n)
            continue; /* an empty list costs nothing */
        r->x = x;
        r->deleted = deleted ? deleted[i] : NULL;
        r->out = refine ? &mb[i].cand : &mb[i].res;
        r->live = mb[i].live;
        int rc = scan_list(r, l, err);
        mb[i].live = r->live;
        if (rc)
            return rc;
        if (nx > 1 && x->m.kind == VS_INDEX_IVF_PQ && !r->have_lbase) {
            /* the list's constant term is the same in every member: computed once */
            const float *c = x->cent + (size_t)l * x->d;
            int metric = (int)x->m.metric;
            r->lbase = metric == VF_METRIC_L2 ? vs_l2sq(r->qx, c, x->d)
                       : metric == VF_METRIC_IP ? -vs_dot(r->qx, c, x->d)
                                                : 1.0f - vs_dot(r->qx, c, x->d);
            r->have_lbase = 1;
        }
    }
    return 0;
}

/* Searches the nx indexes xs, which share one quantiser (vs_ivf_same_quantiser): the lists
   are ranked and the lookup tables built once, on xs[0]; then each member is searched as if
   alone — list l of every member for each of the nprobe nearest lists, its own live-row count,
   refine candidates and k best — and the k best of the members' answers by (distance, id)
   are the group's: the answer of searching the members one by one and merging, whichever
   members one process holds [R-IVF-GROUP].  Hits go to t as row numbers (one member) or
   member << 32 | row (tag). */
static int search_group(const ivf *const *xs, size_t nx, const uint8_t *const *deleted, const float *q, float qn,
                        const vs_query_params *qp, vs_topk *t, scratch *s, int tag, vf_error *err)
{
    const ivf *x = xs[0];
    size_t k = t->k;
    if (!s)
        return vf_fail(err, VF_ENOMEM, "ivf: no scratch memory");
    if (k == 0)
        return 0;
    uint32_t nlist = x->nlist;
    uint32_t np = qp && qp->nprobe ? qp->nprobe : vs_ivf_nprobe_default(nlist);
    if (np > nlist)
        np = nlist;
    size_t refine = qp && x->m.kind != VS_INDEX_IVF_FLAT ? qp->refine : 0;
    if (nx > s->mb_cap) {
        member *m = realloc(s->mb, nx * sizeof *m);
        if (!m)
            return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
        s->mb = m;
        s->mb_cap = nx;
    }
    member *mb = s->mb;
    /* each member's candidates: min(R*k, its rows), as when searched alone */
    size_t need = 0, room = best_room(k), any = 0;
    for (size_t i = 0; i < nx; i++) {
        size_t cap = refine * k;
        if (cap / k != refine || cap > xs[i]->n)
            cap = xs[i]->n;
        cap = refine ? cap : 0;
        size_t cr = cap ? best_room(cap) : 0;
        mb[i] = (member){.cand = {NULL, 0, cap, INFINITY, NULL, (uint32_t)i},
                         .res = {NULL, 0, k, INFINITY, NULL, (uint32_t)i},
                         .live = xs[i]->n ? 0 : SIZE_MAX}; /* no rows: nothing to find, as alone */
        any |= xs[i]->n != 0;
        room = cr > room ? cr : room;
        if (need > SIZE_MAX / 2 - best_room(k) - cr)
            return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
        need += best_room(k) + cr;
    }
    if (!any)
        return 0;
    if (hits_reserve(&s->res, &s->res_cap, best_room(k)) || hits_reserve(&s->cand, &s->cand_cap, need) ||
        sd_reserve(s, room))
        return vf_fail(err, VF_ENOMEM, "ivf: out of memory");
    for (size_t i = 0, o = 0; i < nx; i++) {
        mb[i].res.h = s->cand + o;
        mb[i].res.sd = mb[i].cand.sd = s->sd;
        o += best_room(k);
        mb[i].cand.h = s->cand + o;
        o += mb[i].cand.k ? best_room(mb[i].cand.k) : 0;
    }
    run r = {.x = x, .s = s, .q = q, .qn = qn};
    r.qx = prepare(x, s, q, qn, vs_sq8_i16_ready());
    select_lists(s->cd, nlist, np, s->pr);
    for (uint32_t i = 0; i < np; i++) {
        if (i + 1 < np && nx == 1)
            prefetch_list(x, (uint32_t)s->pr[i + 1]);
        int rc = scan_group(&r, xs, nx, deleted, mb, refine != 0, k, 0, (uint32_t)s->pr[i], err);
        if (rc)
            return rc;
    }
    size_t needy = 0;
    for (size_t i = 0; i < nx; i++)
        needy += mb[i].live < k;
    if (needy && np < nlist) {
        /* too few live rows in the nearest lists: go on in the same order [R-IVF-LIVE] */
        for (uint32_t l = 0; l < nlist; l++)
            s->pr[l] = list_key(s->cd[l], l);
        sort_keys(s->pr, nlist);
        for (uint32_t i = np; i < nlist && needy; i++) {
            int rc = scan_group(&r, xs, nx, deleted, mb, refine != 0, k, 1, (uint32_t)s->pr[i], err);
            if (rc)
                return rc;
            needy = 0;
            for (size_t j = 0; j < nx; j++)
                needy += mb[j].live < k;
        }
    }
    best res = {s->res, 0, k, INFINITY, s->sd, 0};
    for (size_t i = 0; i < nx; i++) {
        const ivf *m = xs[i];
        best *c = &mb[i].cand, *b = &mb[i].res;
        best_trim(c, s->sd, 1);
        vs_rerank rr;
        if (refine && c->n) {
            vs_rerank_begin(&rr, m->rows);
            for (size_t j = 0; rr.ahead && j < c->n; j++)
                vs_rerank_row(&rr, c->h[j].row);
        }
        for (size_t j = 0; refine && j < c->n; j++) {
            if (j + PREFETCH_AHEAD < c->n)
                prefetch_row(m, c->h[j + PREFETCH_AHEAD].row);
            best_push(b, m, vs_row_distance(m->rows, q, qn, c->h[j].row), c->h[j].row);
        }
        if (refine && c->n)
            vs_rerank_end(&rr);
        best_trim(b, s->sd, 1);
        res.mem = (uint32_t)i;
        for (size_t j = 0; j < b->n; j++)
            best_push(&res, m, b->h[j].d, b->h[j].row);
    }
    /* the k best by (distance, id), handed over by row: t keeps them all (it holds k) */
    best_trim(&res, s->sd, 1);
    for (size_t i = 0; i < res.n; i++)
        vs_topk_push(t, res.h[i].d, tag ? (uint64_t)res.h[i].mem << 32 | res.h[i].row : res.h[i].row);
    return 0;
}

static int ivf_search(const void *impl, const float *q, float qn, const vs_query_params *qp, const uint8_t *deleted,
                      vs_topk *t, void *vscratch, vf_error *err)
{
    const ivf *x = impl;
    return search_group(&x, 1, &deleted, q, qn, qp, t, vscratch, 0, err);
}

/* [R-IVF-GROUP] a and b share a quantiser when kind, dim, metric, nlist and pq_m agree and
   the centroid (and codebook or SQ8 parameter) sections are equal byte for byte: compared
   by length and CRC first, then by bytes, once per pair (b remembers a). */
int vs_ivf_same_quantiser(const void *va, const void *vb)
{
    const ivf *a = va;
    ivf *b = (ivf *)vb; /* ours, from ivf_open: only the remembered leader changes */
    if (a == b)
        return 1;
    if (a->m.kind != b->m.kind || a->d != b->d || a->m.metric != b->m.metric || a->nlist != b->nlist ||
        a->pq_m != b->pq_m)
        return 0;
    for (int j = 0; j < 3; j++)
        if (a->qlen[j] != b->qlen[j] || a->qcrc[j] != b->qcrc[j])
            return 0;
    pthread_mutex_lock(&b->lock);
    int same = b->same_as == a;
    pthread_mutex_unlock(&b->lock);
    if (same)
        return 1;
    size_t d = a->d;
    same = !memcmp(a->cent, b->cent, (size_t)a->nlist * d * 4) &&
           (a->m.kind != VS_INDEX_IVF_PQ || !memcmp(a->cbt, b->cbt, d * VS_PQ_KSUB * 4)) &&
           (a->m.kind != VS_INDEX_IVF_SQ8 || !memcmp(a->sq_min, b->sq_min, 2 * d * 4));
    if (same) {
        pthread_mutex_lock(&b->lock);
        b->same_as = a;
        pthread_mutex_unlock(&b->lock);
    }
    return same;
}

int vs_ivf_search_group(const void *const *impl, size_t n, const uint8_t *const *deleted, const float *q, float qn,
                        const vs_query_params *qp, vs_topk *t, void *scratch, vf_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (((const ivf *)impl[i])->n > UINT32_MAX)
            return vf_fail(err, VF_EARG, "ivf: a group member has too many rows");
    return search_group((const ivf *const *)impl, n, deleted, q, qn, qp, t, scratch, 1, err);
}

const vs_index_ops vs_ivf_ops = {ivf_open, ivf_close, ivf_scratch_new, ivf_scratch_free, ivf_search};
