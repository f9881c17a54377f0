/*
 * test_ivf.c - IVF_FLAT, IVF_SQ8 and IVF_PQ through the real segment writer
 * and reader: recall@10 against brute force for every kind and metric,
 * exact distances where the index promises them, byte-identical builds
 * (same seed; 1 vs 2 threads), deleted rows never returned while k hits
 * still come back, and damaged index bytes giving VF_ECORRUPT (run once
 * under valgrind or -fsanitize=address to see that no read goes astray).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simd/distance.h"
#include "simd/simd.h"
#include "index/ivf/ivf.h"
#include "unit.h"
#include "unit_seg.h"
#include "vecseg_format.h"

#define N 4000
#define DMAX 37
#define NC 40        /* clusters of the generator */
#define NQ 60
#define K 10

static int D = 32;
static uint32_t pq_m_override;
static int expect_failure;       /* write_seg stays quiet */   /* test_recall's pq_m (0: the default) */   /* 32, then 37 (odd: kernel tails; prime: pq_m 1) */
static float vecs[N * DMAX], norms[N], qs[NQ * DMAX];
static uint64_t ids[N], lsns[N];
static char dir[256];
static int dirfd_;

/* ---- data --------------------------------------------------------------------------- */

static uint64_t rng_state;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double grand(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Clustered rows: NC centres in [-1, 1]^D, rows and queries scattered
   around them; an offset keeps ip and cosine different from l2. */
static void gen(uint64_t seed)
{
    static float cen[NC * DMAX];
    rng_state = seed;
    for (int i = 0; i < NC * D; i++)
        cen[i] = (float)(2 * urand() - 1) + 0.5f;
    for (int i = 0; i < N; i++) {
        int c = (int)(urand() * NC);
        float nn = 0;
        for (int t = 0; t < D; t++) {
            vecs[i * D + t] = cen[c * D + t] + 0.6f * (float)grand();
            nn += vecs[i * D + t] * vecs[i * D + t];
        }
        norms[i] = nn;
        ids[i] = 1000 + (uint64_t)i;
        lsns[i] = 1;
    }
    for (int i = 0; i < NQ; i++) {
        int c = (int)(urand() * NC);
        for (int t = 0; t < D; t++)
            qs[i * D + t] = cen[c * D + t] + 0.6f * (float)grand();
    }
}

/* ---- segments ----------------------------------------------------------------------- */

static vs_rows_view rows_of(int metric)
{
    return (vs_rows_view){vecs, norms, N, D, metric, NULL};
}

/* A segment of rows [lo, hi) of the generated set. */
static int write_range(const char *name, int metric, const vs_build_params *bp, size_t lo, size_t hi)
{
    return unit_write_seg(dirfd_, name, vecs + lo * D, norms + lo, ids + lo, hi - lo, D, metric, bp, expect_failure);
}

static int write_seg(const char *name, int metric, const vs_build_params *bp)
{
    return write_range(name, metric, bp, 0, N);
}

static void *slurp(const char *name, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(*len ? *len : 1);
    if (p && fread(p, 1, *len, f) != *len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void spit(const char *name, const void *p, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, len, f);
        fclose(f);
    }
}

static int same_bytes(const char *a, const char *b)
{
    size_t la, lb;
    void *pa = slurp(a, &la), *pb = slurp(b, &lb);
    int same = pa && pb && la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

/* An opened segment with its index. */
typedef struct opened {
    vf_seg *seg;
    vs_rows_view rows;
    vs_index *ix;
    void *scratch;
} opened;

static int open_seg(opened *o, const char *name, vf_error *e)
{
    memset(o, 0, sizeof *o);
    int rc = vf_seg_open(&o->seg, dirfd_, name, e);
    if (rc)
        return rc;
    const vf_seg_info *info = vf_seg_get_info(o->seg);
    o->rows = (vs_rows_view){vf_seg_section(o->seg, VF_SEC_VECTORS, NULL),
                             vf_seg_section(o->seg, VF_SEC_NORMS, NULL), (size_t)info->rows, info->dim,
                             (int)info->metric, NULL};
    rc = vs_index_open(&o->ix, o->seg, &o->rows, e);
    if (rc)
        return rc;
    o->scratch = vs_index_scratch_new(o->ix);
    return o->scratch ? 0 : VF_ENOMEM;
}

static void close_seg(opened *o)
{
    if (o->ix)
        vs_index_scratch_free(o->ix, o->scratch);
    vs_index_close(o->ix);
    vf_seg_close(o->seg);
}

/* Offset in the file of section `type`, and its length. */
static uint64_t section_off(const opened *o, uint32_t type, uint64_t *len)
{
    for (size_t i = 0; i < vf_seg_nsections(o->seg); i++) {
        const vf_section *s = vf_seg_section_at(o->seg, i);
        if (s->type == type) {
            *len = s->length;
            return s->offset;
        }
    }
    *len = 0;
    return 0;
}

/* ---- checks ------------------------------------------------------------------------- */

/* Exact top-K rows of query q among live rows, by vs_row_distance. */
static void brute(const vs_rows_view *rv, const float *q, const uint8_t *del, uint64_t *out)
{
    vs_hit buf[K];
    vs_topk t;
    vs_topk_init(&t, buf, K);
    float qn = vs_dot(q, q, D);
    for (size_t r = 0; r < N; r++)
        if (!del || !(del[r >> 3] >> (r & 7) & 1))
            vs_topk_push(&t, vs_row_distance(rv, q, qn, r), r);
    vs_topk_sort(&t);
    for (size_t i = 0; i < K; i++)
        out[i] = i < t.n ? t.h[i].id : VS_NO_ID;
}

/* Runs every query; returns recall@K against brute force, and counts hits
   whose distance differs from the exact one (when exact is set). */
static double run_queries(opened *o, const vs_query_params *qp, const uint8_t *del, int exact, int *inexact,
                          int *bad)
{
    int found = 0;
    *inexact = 0;
    *bad = 0;
    for (int i = 0; i < NQ; i++) {
        const float *q = qs + i * D;
        float qn = vs_dot(q, q, D);
        vs_hit buf[K];
        vs_topk t;
        vs_topk_init(&t, buf, K);
        vf_error e;
        if (vs_index_search(o->ix, q, qn, qp, del, &t, o->scratch, &e)) {
            (*bad)++;
            continue;
        }
        vs_topk_sort(&t);
        uint64_t want[K];
        brute(&o->rows, q, del, want);
        *bad += t.n != K;
        for (size_t j = 0; j < t.n; j++) {
            uint64_t r = t.h[j].id;
            if (r >= N || (del && del[r >> 3] >> (r & 7) & 1)) {
                (*bad)++;
                continue;
            }
            if (exact && t.h[j].dist != vs_row_distance(&o->rows, q, qn, (size_t)r))
                (*inexact)++;
            for (int a = 0; a < K; a++)
                found += want[a] == r;
        }
    }
    return (double)found / (NQ * K);
}

static const char *metric_name(int m) { return m == VF_METRIC_L2 ? "l2" : m == VF_METRIC_IP ? "ip" : "cosine"; }

/* Recall and exactness of one kind and metric at a few settings. */
static void test_recall(int kind, int metric)
{
    vs_build_params bp = {.type = kind, .nlist = 64, .pq_m = pq_m_override, .seed = 7, .threads = 2};
    char name[64];
    snprintf(name, sizeof name, "r-%d-%d.vseg", kind, metric);
    CHECK(write_seg(name, metric, &bp) == 0);
    opened o;
    vf_error e;
    int rc = open_seg(&o, name, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) {
        close_seg(&o);
        return;
    }
    CHECK(vs_index_type_of(o.ix) == kind);
    int inexact, bad;
    /* every list: exact for FLAT, the quantizer's own error otherwise */
    vs_query_params all = {.nprobe = 64};
    double rall = run_queries(&o, &all, NULL, kind == VS_INDEX_IVF_FLAT, &inexact, &bad);
    vs_query_params few = {.nprobe = 8};
    double rfew = run_queries(&o, &few, NULL, kind == VS_INDEX_IVF_FLAT, &inexact, &bad);
    CHECK(bad == 0);
    vs_query_params ref = {.nprobe = 8, .refine = 4};
    double rref = run_queries(&o, &ref, NULL, 1, &inexact, &bad);
    CHECK(bad == 0);
    CHECK_MSG(inexact == 0, "%d hits with inexact distances", inexact);
    vs_query_params dflt = {0};
    double rdef = run_queries(&o, &dflt, NULL, 0, &inexact, &bad);
    CHECK(bad == 0);
    printf("  d %d m %u %-8s %-6s recall@10: all lists %.3f, nprobe 8 %.3f, nprobe 8 refine 4 %.3f, defaults %.3f\n",
           D, pq_m_override, vs_index_type_name(kind), metric_name(metric), rall, rfew, rref, rdef);
    /* floors well below what the generator gives (see the printed values) */
    /* pq_m 1 codes a row in one byte: only a floor against nonsense */
    int coarse = kind == VS_INDEX_IVF_PQ && pq_m_override == 1;
    double floor_all = kind == VS_INDEX_IVF_FLAT ? 0.999 : kind == VS_INDEX_IVF_SQ8 ? 0.95 : coarse ? 0.1 : 0.6;
    CHECK_MSG(rall >= floor_all, "%s %s all lists: recall %.3f", vs_index_type_name(kind), metric_name(metric),
              rall);
    CHECK_MSG(rfew >= (kind != VS_INDEX_IVF_PQ ? 0.9 : coarse ? 0.1 : 0.55), "%s %s nprobe 8: recall %.3f",
              vs_index_type_name(kind), metric_name(metric), rfew);
    CHECK_MSG(rref >= (coarse ? 0.3 : 0.9), "%s %s refine: recall %.3f", vs_index_type_name(kind), metric_name(metric), rref);
    close_seg(&o);
}

/* Same seed, same bytes; the thread count does not matter. */
static void test_determinism(int kind, int metric)
{
    vs_build_params bp = {.type = kind, .seed = 42, .threads = 1};
    CHECK(write_seg("d1.vseg", metric, &bp) == 0);
    CHECK(write_seg("d2.vseg", metric, &bp) == 0);
    bp.threads = 2;
    CHECK(write_seg("d3.vseg", metric, &bp) == 0);
    CHECK_MSG(same_bytes("d1.vseg", "d2.vseg"), "%s %s: two builds differ", vs_index_type_name(kind),
              metric_name(metric));
    CHECK_MSG(same_bytes("d1.vseg", "d3.vseg"), "%s %s: 1 and 2 threads differ", vs_index_type_name(kind),
              metric_name(metric));
    bp.seed = 43;
    CHECK(write_seg("d4.vseg", metric, &bp) == 0);
    CHECK(!same_bytes("d1.vseg", "d4.vseg"));
}

/* Deleted rows never come back, and k hits still do: with most rows
   deleted the search walks past nprobe lists to find live ones. */
static void test_deleted(int kind)
{
    vs_build_params bp = {.type = kind, .nlist = 64, .seed = 3, .threads = 2};
    CHECK(write_seg("del.vseg", VF_METRIC_L2, &bp) == 0);
    opened o;
    vf_error e;
    CHECK(open_seg(&o, "del.vseg", &e) == 0);
    static uint8_t del[(N + 7) / 8];
    int inexact, bad;
    /* every other row, and all true top hits of query 0 */
    memset(del, 0x55, sizeof del);
    uint64_t want[K];
    brute(&o.rows, qs, NULL, want);
    for (int j = 0; j < K; j++)
        del[want[j] >> 3] |= (uint8_t)(1u << (want[j] & 7));
    vs_query_params qp = {.nprobe = 8, .refine = kind == VS_INDEX_IVF_FLAT ? 0 : 4};
    double rec = run_queries(&o, &qp, del, 0, &inexact, &bad);
    CHECK_MSG(bad == 0, "%s: %d bad or short results", vs_index_type_name(kind), bad);
    CHECK_MSG(rec >= 0.85, "%s half deleted: recall %.3f", vs_index_type_name(kind), rec);
    /* all but K rows deleted: they must be found with nprobe 1 */
    memset(del, 0xff, sizeof del);
    for (int j = 0; j < K; j++) {
        size_t r = (size_t)j * 397 % N;
        del[r >> 3] &= (uint8_t)~(1u << (r & 7));
    }
    vs_query_params one = {.nprobe = 1, .refine = qp.refine};
    rec = run_queries(&o, &one, del, 0, &inexact, &bad);
    CHECK_MSG(bad == 0 && rec == 1.0, "%s: %d bad, recall %.3f with K live rows", vs_index_type_name(kind), bad,
              rec);
    /* everything deleted: no hits, no error */
    memset(del, 0xff, sizeof del);
    vs_hit buf[K];
    vs_topk t;
    vs_topk_init(&t, buf, K);
    CHECK(vs_index_search(o.ix, qs, vs_dot(qs, qs, D), &one, del, &t, o.scratch, &e) == 0 && t.n == 0);
    close_seg(&o);
}

/* Runs all queries with every list probed; returns the first error code. */
static int search_all(opened *o)
{
    vs_query_params qp = {.nprobe = 64, .refine = 2};
    for (int i = 0; i < NQ; i++) {
        vs_hit buf[K];
        vs_topk t;
        vs_topk_init(&t, buf, K);
        vf_error e;
        int rc = vs_index_search(o->ix, qs + i * D, vs_dot(qs + i * D, qs + i * D, D), &qp, NULL, &t, o->scratch, &e);
        if (rc)
            return rc;
    }
    return 0;
}

/* Writes a copy of `src` with `len` bytes at `off` replaced, then opens it
   and searches: returns the first error code (0 if none). */
static int damaged(const uint8_t *src, size_t size, uint64_t off, const void *bytes, size_t len)
{
    uint8_t *p = malloc(size);
    memcpy(p, src, size);
    memcpy(p + off, bytes, len);
    spit("bad.vseg", p, size);
    free(p);
    opened o;
    vf_error e;
    int rc = open_seg(&o, "bad.vseg", &e);
    if (rc == 0)
        rc = search_all(&o);
    close_seg(&o);
    return rc;
}

static void test_damage(int kind)
{
    vs_build_params bp = {.type = kind, .nlist = 64, .seed = 5, .threads = 2};
    CHECK(write_seg("good.vseg", VF_METRIC_L2, &bp) == 0);
    size_t size;
    uint8_t *src = slurp("good.vseg", &size);
    opened o;
    vf_error e;
    CHECK(open_seg(&o, "good.vseg", &e) == 0);
    CHECK(search_all(&o) == 0);
    uint64_t mlen, olen, rlen;
    uint64_t moff = section_off(&o, VS_SEC_IVF_META, &mlen);
    uint64_t ooff = section_off(&o, VS_SEC_IVF_OFFSETS, &olen);
    uint64_t roff = section_off(&o, VS_SEC_IVF_ROWS, &rlen);
    uint64_t clen, coff = section_off(&o, VS_SEC_IVF_CENTROIDS, &clen);
    vs_ivf_meta m;
    CHECK(vs_ivf_meta_decode(src + moff, mlen, &m, &e) == 0);
    close_seg(&o);
    CHECK(mlen == VS_IVF_META_SIZE && olen == 65 * 8 && rlen == N * 4 && clen == (uint64_t)64 * D * 4);

    /* any flipped META byte: the CRC catches it */
    for (uint64_t i = 0; i < mlen; i += 7) {
        uint8_t b = src[moff + i] ^ 0x40;
        CHECK_MSG(damaged(src, size, moff + i, &b, 1) == VF_ECORRUPT, "meta byte %llu", (unsigned long long)i);
    }
    /* META with a valid CRC but impossible fields */
    vs_ivf_meta bad[5];
    for (int i = 0; i < 5; i++)
        bad[i] = m;
    bad[0].nlist = 1u << 30;
    bad[1].nlist = 0;
    bad[2].kind = 9;
    bad[3].dim = D + 1;
    bad[4].rows = N + 1;
    for (int i = 0; i < 5; i++) {
        uint8_t enc[VS_IVF_META_SIZE];
        vs_ivf_meta_encode(&bad[i], enc);
        CHECK_MSG(damaged(src, size, moff, enc, sizeof enc) == VF_ECORRUPT, "meta variant %d", i);
    }
    /* META fields one by one with a valid CRC: each range check on its own */
    struct {
        const char *what;
        uint32_t off, v;
        int kinds;           /* bit per kind the case applies to (0: all) */
        int want;
    } fields[] = {
        {"version 0", 4, 0, 0, VF_ECORRUPT},
        {"version 3", 4, 3, 0, VF_EVERSION},
        {"dim 0", 8, 0, 0, VF_ECORRUPT},
        {"dim huge", 8, 0xffffffffu, 0, VF_ECORRUPT},
        {"metric 0", 12, 0, 0, VF_ECORRUPT},
        {"metric 4", 12, 4, 0, VF_ECORRUPT},
        {"rows above 2^32", 20, 1, 0, VF_ECORRUPT},
        {"rows + 1", 16, N + 1, 0, VF_ECORRUPT},
        {"nlist rows + 1", 24, N + 1, 0, VF_ECORRUPT},
        {"nlist huge", 24, 0xffffffffu, 0, VF_ECORRUPT},
        {"pq_m 0", 28, 0, 1 << VS_INDEX_IVF_PQ, VF_ECORRUPT},
        {"pq_m 257", 28, 257, 1 << VS_INDEX_IVF_PQ, VF_ECORRUPT},
        {"pq_m not a divisor", 28, 5, 1 << VS_INDEX_IVF_PQ, VF_ECORRUPT},
        {"pq_m huge", 28, 0xffffffffu, 1 << VS_INDEX_IVF_PQ, VF_ECORRUPT},
        {"pq_m on a kind without pq", 28, 4, (1 << VS_INDEX_IVF_FLAT) | (1 << VS_INDEX_IVF_SQ8), VF_ECORRUPT},
        {"pq_bits 9", 32, 9, 1 << VS_INDEX_IVF_PQ, VF_ECORRUPT},
        {"reserved", 52, 1, 0, VF_ECORRUPT},
        /* a kind the other sections do not fit: their lengths are checked against it */
        {"kind", 0, (uint32_t)(kind == VS_INDEX_IVF_FLAT ? VS_INDEX_IVF_SQ8 : VS_INDEX_IVF_FLAT), 0, VF_ECORRUPT},
    };
    for (size_t c = 0; c < sizeof fields / sizeof fields[0]; c++) {
        if (fields[c].kinds && !(fields[c].kinds & (1 << kind)))
            continue;
        uint8_t raw[VS_IVF_META_SIZE];
        memcpy(raw, src + moff, sizeof raw);
        memcpy(raw + fields[c].off, &fields[c].v, 4);
        uint32_t crc = vf_crc32(0, raw, 60);
        memcpy(raw + 60, &crc, 4);
        int rc = damaged(src, size, moff, raw, sizeof raw);
        CHECK_MSG(rc == fields[c].want, "%s: meta %s: got %d", vs_index_type_name(kind), fields[c].what, rc);
    }
    /* every META word, extreme values, a valid CRC: an error or a result, never a crash */
    const uint32_t extremes[] = {0, 1, 0x7fffffff, 0x80000000u, 0xffffffffu};
    for (uint32_t off = 0; off < 60; off += 4)
        for (size_t x = 0; x < sizeof extremes / sizeof extremes[0]; x++) {
            uint8_t raw[VS_IVF_META_SIZE];
            memcpy(raw, src + moff, sizeof raw);
            memcpy(raw + off, &extremes[x], 4);
            uint32_t crc = vf_crc32(0, raw, 60);
            memcpy(raw + 60, &crc, 4);
            int rc = damaged(src, size, moff, raw, sizeof raw);
            CHECK_MSG(rc == 0 || rc == VF_ECORRUPT || rc == VF_EVERSION, "%s: meta word %u = %#x: got %d",
                      vs_index_type_name(kind), off, extremes[x], rc);
        }
    /* huge row numbers: every position */
    uint32_t *rowsb = malloc(N * 4);
    for (int i = 0; i < N; i++)
        rowsb[i] = 0xfffffff0u + (uint32_t)(i & 15);
    CHECK(damaged(src, size, roff, rowsb, N * 4) == VF_ECORRUPT);
    /* one row number just past the end */
    uint32_t past = N;
    CHECK(damaged(src, size, roff + 4 * 1234, &past, 4) == VF_ECORRUPT);
    free(rowsb);
    /* centroids: NaN and huge values rank lists strangely but read nothing
       out of bounds */
    float *junk = malloc(64 * D * 4);
    for (int i = 0; i < 64 * D; i++)
        junk[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? 3e38f : -INFINITY;
    int crc = damaged(src, size, coff, junk, 64 * D * 4);
    CHECK(crc == 0 || crc == VF_ECORRUPT);
    free(junk);
    /* offsets: a list running past the end, decreasing offsets, wrong total */
    uint64_t huge = (uint64_t)1 << 62, back = 1, total = N - 1;
    CHECK(damaged(src, size, ooff + 8 * 5, &huge, 8) == VF_ECORRUPT);
    CHECK(damaged(src, size, ooff + 8 * 40, &back, 8) == VF_ECORRUPT);
    CHECK(damaged(src, size, ooff + 8 * 64, &total, 8) == VF_ECORRUPT);
    free(src);
}

/* Segments of 0 and 5 rows: nlist shrinks to the rows, the PQ codewords
   are the rows themselves, and a search returns what there is. */
static void test_tiny(int kind)
{
    for (size_t n = 0; n <= 5; n += 5) {
        vf_seg_info info = {D, VF_ELEM_F32, VF_METRIC_L2, 0, 0, n};
        vf_seg_writer *w = NULL;
        vf_error e;
        vs_rows_view rv = {vecs, norms, n, (uint32_t)D, VF_METRIC_L2, NULL};
        vs_build_params bp = {.type = kind, .seed = 1};
        int rc = vf_seg_writer_open(&w, dirfd_, "tiny.vseg", &info, &e);
        if (!rc)
            rc = vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, vecs, n * D * 4, &e);
        if (!rc)
            rc = vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, ids, n * 8, &e);
        if (!rc)
            rc = vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, lsns, n * 8, &e);
        if (!rc)
            rc = vs_index_build(&bp, &rv, w, &e);
        if (!rc)
            rc = vf_seg_writer_finish(w, NULL, &e);
        else
            vf_seg_writer_abort(w);
        CHECK_MSG(rc == 0, "%s, %zu rows: %s", vs_index_type_name(kind), n, e.msg);
        opened o;
        rc = open_seg(&o, "tiny.vseg", &e);
        CHECK_MSG(rc == 0, "%s, %zu rows: %s", vs_index_type_name(kind), n, e.msg);
        if (rc == 0) {
            vs_hit buf[K];
            vs_topk t;
            vs_topk_init(&t, buf, K);
            vs_query_params qp = {.refine = 2};
            CHECK(vs_index_search(o.ix, vecs + 2 * D, vs_dot(vecs + 2 * D, vecs + 2 * D, D), &qp, NULL, &t,
                                  o.scratch, &e) == 0);
            vs_topk_sort(&t);
            CHECK(t.n == n && (n == 0 || (t.h[0].id == 2 && t.h[0].dist == 0)));
        }
        close_seg(&o);
    }
}

/* ---- probe order (SPEC.md 5.5.2 Search, step 1) -------------------------------------- */

typedef struct lrank {
    double d;
    uint32_t l;
} lrank;

static int lrank_cmp(const void *a, const void *b)
{
    const lrank *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : x->l < y->l ? -1 : x->l > y->l;
}

/* IVF_FLAT probes exactly the nprobe nearest lists by (distance, list number), so it answers
   as brute force over those lists' rows.  Rows sit on a 16 x 16 integer grid (each point
   repeated, one list per point) and queries on the half-integer grid, so many lists tie at
   the nprobe-th distance and every distance is exact, in f32, f16 and double alike, on every
   instruction-set level; the repeated rows tie at the k-th distance too, where the k best
   go by id. */
static void test_probe_order(const char *level)
{
    int d0 = D;
    D = 4;
    enum { NL = 256 };
    for (int i = 0; i < N; i++) {
        int p = i % NL;
        float v[4] = {(float)(p % 16), (float)(p / 16), 0, 0};
        memcpy(vecs + i * D, v, sizeof v);
        norms[i] = v[0] * v[0] + v[1] * v[1];
        ids[i] = 1000 + (uint64_t)i;
    }
    vs_build_params bp = {.type = VS_INDEX_IVF_FLAT, .nlist = NL, .seed = 5, .threads = 1};
    CHECK(write_seg("probe.vseg", VF_METRIC_L2, &bp) == 0);
    opened o;
    vf_error e;
    CHECK(open_seg(&o, "probe.vseg", &e) == 0);
    uint64_t clen = 0, olen = 0, rlen = 0;
    const float *cent = vf_seg_section(o.seg, VS_SEC_IVF_CENTROIDS, &clen);
    const uint64_t *off = vf_seg_section(o.seg, VS_SEC_IVF_OFFSETS, &olen);
    const uint32_t *prow = vf_seg_section(o.seg, VS_SEC_IVF_ROWS, &rlen);
    CHECK(cent && off && prow && clen == (uint64_t)NL * D * 4 && olen == (NL + 1) * 8);
    int bad = 0, ties = 0, runs = 0;
    static lrank rank[NL];
    static uint8_t in[N];
    rng_state = 99;
    for (int qi = 0; cent && off && prow && qi < 40; qi++) {
        float q[4] = {(float)(int)(urand() * 36 - 3) * 0.5f, (float)(int)(urand() * 36 - 3) * 0.5f, 0, 0};
        float qn = q[0] * q[0] + q[1] * q[1];
        for (uint32_t l = 0; l < NL; l++) {
            double s = 0;
            for (int t = 0; t < D; t++)
                s += ((double)q[t] - cent[l * D + t]) * ((double)q[t] - cent[l * D + t]);
            rank[l] = (lrank){s, l};
        }
        qsort(rank, NL, sizeof *rank, lrank_cmp);
        for (uint32_t np = 1; np <= NL; np += np < 24 ? 1 : 23) {
            /* the reference: the first np lists, then more until K rows (step 3) */
            memset(in, 0, sizeof in);
            size_t seen = 0;
            for (uint32_t j = 0; j < NL && (j < np || seen < K); j++)
                for (uint64_t p = off[rank[j].l]; p < off[rank[j].l + 1]; p++, seen++)
                    in[prow[p]] = 1;
            ties += np < NL && rank[np - 1].d == rank[np].d;
            vs_hit wb[K], gb[K];
            vs_topk want, got;
            vs_topk_init(&want, wb, K);
            vs_topk_init(&got, gb, K);
            for (size_t r = 0; r < N; r++)
                if (in[r])
                    vs_topk_push(&want, vs_row_distance(&o.rows, q, qn, r), r);
            vs_query_params qp = {.nprobe = np};
            bad += vs_index_search(o.ix, q, qn, &qp, NULL, &got, o.scratch, &e) != 0;
            vs_topk_sort(&want);
            vs_topk_sort(&got);
            bad += want.n != got.n;
            for (size_t j = 0; j < want.n && j < got.n; j++)
                bad += want.h[j].id != got.h[j].id || want.h[j].dist != got.h[j].dist;
            runs++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %d differences from the lists ranked by (distance, list) in %d searches", level, bad,
              runs);
    CHECK_MSG(ties > 50, "%s: only %d ties at the nprobe-th list", level, ties);
    close_seg(&o);
    D = d0;
}

/* With refine R the k best are the exact k best of the R*k best estimates by (estimate, id),
   which a search with refine 0 and R*k results returns: checked (R = 1 and 3) on grid rows
   as test_probe_order's, whose repeated rows share codes, so estimates tie at the R*k-th. */
static void test_refine_set(const char *level)
{
    int d0 = D;
    D = 4;
    enum { NL = 64, RMAX = 3 };
    for (int i = 0; i < N; i++) {
        int p = i % 256;
        float v[4] = {(float)(p % 16), (float)(p / 16), (float)(p % 3), 0};
        memcpy(vecs + i * D, v, sizeof v);
        norms[i] = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        ids[i] = 1000 + (uint64_t)i;
    }
    int kinds[2] = {VS_INDEX_IVF_PQ, VS_INDEX_IVF_SQ8};
    for (int ki = 0; ki < 2; ki++) {
        vs_build_params bp = {.type = kinds[ki], .nlist = NL, .pq_m = 2, .seed = 5, .threads = 1};
        CHECK(write_seg("refine.vseg", VF_METRIC_L2, &bp) == 0);
        opened o;
        vf_error e;
        CHECK(open_seg(&o, "refine.vseg", &e) == 0);
        int bad = 0;
        rng_state = 7;
        for (int qi = 0; qi < 40; qi++) {
            float q[4] = {(float)(urand() * 16 - 0.5), (float)(urand() * 16 - 0.5), (float)(int)(urand() * 3), 0};
            float qn = vs_dot(q, q, D);
            /* from 4 lists, which hold R * K rows: both searches scan the same lists (with
               fewer, step 3 of 5.5.2 goes on further for R * K hits than for K) */
            for (uint32_t np = 4, R = 1; np <= NL; np *= R == RMAX ? 4 : 1, R = R == RMAX ? 1 : RMAX) {
                vs_hit cb[RMAX * K], wb[K], gb[K];
                vs_topk cand, want, got;
                vs_topk_init(&cand, cb, R * K);
                vs_topk_init(&want, wb, K);
                vs_topk_init(&got, gb, K);
                vs_query_params q0 = {.nprobe = np}, qr = {.nprobe = np, .refine = R};
                bad += vs_index_search(o.ix, q, qn, &q0, NULL, &cand, o.scratch, &e) != 0;
                bad += vs_index_search(o.ix, q, qn, &qr, NULL, &got, o.scratch, &e) != 0;
                for (size_t j = 0; j < cand.n; j++)
                    vs_topk_push(&want, vs_row_distance(&o.rows, q, qn, (size_t)cand.h[j].id), cand.h[j].id);
                vs_topk_sort(&want);
                vs_topk_sort(&got);
                bad += want.n != got.n || cand.n != R * K;
                for (size_t j = 0; j < want.n && j < got.n; j++)
                    bad += want.h[j].id != got.h[j].id || want.h[j].dist != got.h[j].dist;
            }
        }
        CHECK_MSG(bad == 0, "%s %s: refine differs %d times from the exact best of refine 0's R*k",
                  vs_index_type_name(kinds[ki]), level, bad);
        close_seg(&o);
    }
    D = d0;
}

/* ---- shared quantisers (SPEC.md 5.5.2) ---------------------------------------------- */

/* One query's hits as (distance, union row), in a canonical order. */
typedef struct ghit {
    float d;
    uint64_t r;
} ghit;

static int ghit_cmp(const void *a, const void *b)
{
    const ghit *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : x->r < y->r ? -1 : x->r > y->r;
}

/* Segments sharing one quantiser, searched as a group, answer exactly as their members
   searched one by one and merged by (distance, row): each member keeps its own live rows,
   candidates and k best [R-IVF-GROUP], deleted rows included.  Parts: 1500 rows, 10 rows
   (fewer than the lists: a version 2 IVF_META), the rest.  With IVF_FLAT probing every list,
   the group's answer is the brute force over all rows. */
static void test_group(int kind, int metric)
{
    vs_build_params bp = {.type = kind, .nlist = 64, .seed = 9, .threads = 2};
    vs_rows_view all = rows_of(metric);
    vs_ivf_quant qz;
    vf_error e;
    CHECK(vs_ivf_quant_train(&bp, &all, &qz, &e) == 0);
    CHECK(qz.nlist == 64 && (kind != VS_INDEX_IVF_PQ || qz.pq_m == vs_ivf_pq_m_default((uint32_t)D)));
    vs_build_params bq = bp;
    bq.quant = &qz;
    size_t cut[4] = {0, 1500, 1510, N};
    const char *names[3] = {"g-a.vseg", "g-b.vseg", "g-c.vseg"};
    CHECK(write_range("g-u.vseg", metric, &bq, 0, N) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(write_range(names[i], metric, &bq, cut[i], cut[i + 1]) == 0);
    vs_build_params bs = bp;
    bs.seed = 10;
    CHECK(write_seg("g-own.vseg", metric, &bs) == 0); /* another seed: other centroids */
    /* the quantiser given is the one written, whatever the thread count */
    bq.threads = 1;
    CHECK(write_range("g-a1.vseg", metric, &bq, cut[0], cut[1]) == 0);
    CHECK(same_bytes("g-a.vseg", "g-a1.vseg"));
    opened u, own, part[3];
    CHECK(open_seg(&u, "g-u.vseg", &e) == 0);
    CHECK(open_seg(&own, "g-own.vseg", &e) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(open_seg(&part[i], names[i], &e) == 0);
    uint64_t len;
    const uint8_t *meta = vf_seg_section(part[1].seg, VS_SEC_IVF_META, &len);
    CHECK(meta && meta[4] == 2); /* 64 lists over 10 rows */
    meta = vf_seg_section(part[0].seg, VS_SEC_IVF_META, &len);
    CHECK(meta && meta[4] == 1);
    const vs_index *ix[3] = {part[0].ix, part[1].ix, part[2].ix};
    CHECK(vs_index_same_quantiser(ix[0], ix[1]) && vs_index_same_quantiser(ix[0], ix[2]));
    CHECK(vs_index_same_quantiser(ix[0], ix[2])); /* remembered: the same answer */
    CHECK(!vs_index_same_quantiser(ix[0], own.ix));
    vs_ivf_quant back;
    CHECK(vs_ivf_quant_read(part[2].seg, 1, &back, &e) == 0);
    CHECK(back.nlist == qz.nlist && !memcmp(back.cent, qz.cent, (size_t)qz.nlist * D * 4));
    vs_ivf_quant_release(&back);
    /* every 7th row deleted, in the union's and the parts' bitmaps */
    static uint8_t del[N / 8 + 1], pdel[3][N / 8 + 1];
    memset(del, 0, sizeof del);
    memset(pdel, 0, sizeof pdel);
    for (size_t r = 0; r < N; r += 7) {
        del[r >> 3] |= (uint8_t)(1 << (r & 7));
        int p = r < cut[1] ? 0 : r < cut[2] ? 1 : 2;
        size_t pr = r - cut[p];
        pdel[p][pr >> 3] |= (uint8_t)(1 << (pr & 7));
    }
    const uint8_t *pd[3] = {pdel[0], pdel[1], pdel[2]};
    vs_query_params qps[] = {{0, 1, 0}, {0, 4, 0}, {0, 0, 0}, {0, 4, 3}, {0, 64, 0}};
    int differ = 0, errs = 0, brute_miss = 0;
    for (size_t v = 0; v < sizeof qps / sizeof qps[0]; v++)
        for (int i = 0; i < NQ; i++) {
            const float *q = qs + i * D;
            float qn = vs_dot(q, q, D);
            vs_hit b2[K];
            vs_topk t2;
            vs_topk_init(&t2, b2, K);
            errs += vs_index_search_group(ix, 3, pd, q, qn, &qps[v], &t2, part[0].scratch, &e) != 0;
            /* the members one by one, each with its own scratch, merged */
            ghit g1[3 * K], g2[K];
            size_t n1 = 0;
            for (int p = 0; p < 3; p++) {
                vs_hit bp[K];
                vs_topk tp;
                vs_topk_init(&tp, bp, K);
                errs += vs_index_search(ix[p], q, qn, &qps[v], pd[p], &tp, part[p].scratch, &e) != 0;
                for (size_t j = 0; j < tp.n; j++)
                    g1[n1++] = (ghit){tp.h[j].dist, cut[p] + tp.h[j].id};
            }
            qsort(g1, n1, sizeof *g1, ghit_cmp);
            vs_topk t1 = {.n = n1 < K ? n1 : K};
            for (size_t j = 0; j < t2.n; j++) {
                uint64_t mem = t2.h[j].id >> 32, row = t2.h[j].id & 0xffffffffu;
                g2[j] = (ghit){t2.h[j].dist, mem < 3 ? cut[mem] + row : N};
            }
            qsort(g1, t1.n, sizeof *g1, ghit_cmp);
            qsort(g2, t2.n, sizeof *g2, ghit_cmp);
            int dd = t1.n != K || t2.n != K;
            for (int j = 0; !dd && j < K; j++)
                dd = g1[j].d != g2[j].d || g1[j].r != g2[j].r;
            differ += dd;
            if (kind == VS_INDEX_IVF_FLAT && qps[v].nprobe == 64) {
                uint64_t want[K];
                brute(&u.rows, q, del, want);
                for (int j = 0; j < K; j++)
                    brute_miss += g2[j].r != want[j];
            }
        }
    CHECK_MSG(errs == 0 && differ == 0, "%s %s: group vs one segment: %d errors, %d queries differ",
              vs_index_type_name(kind), metric_name(metric), errs, differ);
    CHECK_MSG(brute_miss == 0, "%s %s: every list probed misses %d brute-force hits", vs_index_type_name(kind),
              metric_name(metric), brute_miss);
    /* a group of one is the segment's own search */
    for (int i = 0; i < NQ; i++) {
        const float *q = qs + i * D;
        float qn = vs_dot(q, q, D);
        vs_hit b1[K], b2[K];
        vs_topk t1, t2;
        vs_topk_init(&t1, b1, K);
        vs_topk_init(&t2, b2, K);
        vs_index_search(part[0].ix, q, qn, &qps[1], pd[0], &t1, part[0].scratch, &e);
        vs_index_search_group(ix, 1, pd, q, qn, &qps[1], &t2, part[0].scratch, &e);
        vs_topk_sort(&t1);
        vs_topk_sort(&t2);
        int same = t1.n == t2.n;
        for (size_t j = 0; same && j < t1.n; j++)
            same = t1.h[j].dist == t2.h[j].dist && t1.h[j].id == t2.h[j].id;
        CHECK(same);
    }
    close_seg(&u);
    close_seg(&own);
    for (int i = 0; i < 3; i++)
        close_seg(&part[i]);
    /* a quantiser of another kind is not used (AUTO may resolve to another) */
    vs_build_params bo = bq;
    bo.type = kind == VS_INDEX_IVF_FLAT ? VS_INDEX_IVF_SQ8 : VS_INDEX_IVF_FLAT;
    CHECK(write_range("g-other.vseg", metric, &bo, 0, 100) == 0);
    vs_ivf_quant_release(&qz);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vecseg-ivf-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return 2;
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    gen(12345);
    int kinds[3] = {VS_INDEX_IVF_FLAT, VS_INDEX_IVF_SQ8, VS_INDEX_IVF_PQ};
    int metrics[3] = {VF_METRIC_L2, VF_METRIC_IP, VF_METRIC_COSINE};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            test_recall(kinds[a], metrics[b]);
    /* an odd, prime dimension: SIMD tails, pq_m 37 by default (1-d
       sub-vectors), and pq_m 1 (one 37-d sub-quantizer, trained through
       the sgemm path) */
    D = 37;
    gen(777);
    CHECK(vs_ivf_pq_m_default(37) == 37);
    for (int a = 0; a < 3; a++)
        test_recall(kinds[a], VF_METRIC_L2);
    pq_m_override = 1;
    test_recall(VS_INDEX_IVF_PQ, VF_METRIC_L2);
    pq_m_override = 0;
    test_recall(VS_INDEX_IVF_SQ8, VF_METRIC_COSINE);
    D = 32;
    gen(12345);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            test_determinism(kinds[a], metrics[b]);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            test_group(kinds[a], metrics[b]);
    for (int a = 0; a < 3; a++) {
        test_tiny(kinds[a]);
        test_deleted(kinds[a]);
        test_damage(kinds[a]);
    }
    for (int l = 0; l < VS_SIMD_LEVELS; l++) {
        const char *name = vs_simd_level_name((vs_simd_level)l);
        if (!vs_simd_select(name)) {
            test_probe_order(name);
            test_refine_set(name);
        }
    }
    vs_simd_select("auto");
    gen(12345);
    /* defaults */
    CHECK(vs_ivf_nlist_default(60000) == 980 && vs_ivf_nlist_default(0) == 1 && vs_ivf_nlist_default(3) == 3);
    CHECK(vs_ivf_pq_m_default(784) == 196 && vs_ivf_pq_m_default(128) == 32 && vs_ivf_pq_m_default(7) == 1);
    CHECK(vs_ivf_nprobe_default(980) == 31 && vs_ivf_nprobe_default(4) == 4 && vs_ivf_nprobe_default(64) == 8);
    /* parameters a build must refuse */
    vs_build_params bp = {.type = VS_INDEX_IVF_PQ, .pq_m = 5};
    expect_failure = 1;
    CHECK(write_seg("x.vseg", VF_METRIC_L2, &bp) == VF_EARG);
    bp.type = VS_INDEX_IVF_FLAT;
    bp.nlist = VS_IVF_NLIST_MAX + 1;
    CHECK(write_seg("x.vseg", VF_METRIC_L2, &bp) == VF_EARG);
    expect_failure = 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 2;
    UNIT_DONE();
}
