/*
 * test_hnsw.c - the HNSW index (lib/index/hnsw/) through the real segment writer and
 * reader: recall@10 against brute force for every metric, exact pushed distances,
 * deterministic bytes (same seed twice; 1 thread against 2; the build's error bounds against
 * exact distances), deleted rows never returned while
 * k hits still come back, damaged index bytes giving VF_ECORRUPT (never a crash), the same
 * answers on every instruction-set level, the build's batched distances equal to its one-node
 * ones, the query quantizer and the level distribution.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/hnsw/hnsw.h"
#include "simd/distance.h"
#include "simd/simd.h"
#include "unit.h"
#include "unit_seg.h"

#define N 4000
#define DMAX 64
static uint32_t D = 32; /* 32: the dot form with aux; 64: L2 uses the L2 form (hnsw.h) */
#define NQ 100
#define K 10

static float vecs[N * DMAX], norms[N], qs[NQ * DMAX], qns[NQ];
static char dir[4096];
static int dirfd_;

/* Rows and queries from 12 Gaussian clusters of different spreads. */
static void gen(uint64_t seed)
{
    float c[12][DMAX], sp[12];
    uint64_t s = seed;
    for (int i = 0; i < 12; i++) {
        for (uint32_t j = 0; j < D; j++)
            c[i][j] = (float)(unit_rnd(&s) * 20 - 10);
        sp[i] = (float)(0.5 + 2.5 * unit_rnd(&s));
    }
    for (int r = 0; r < N + NQ; r++) {
        int k = (int)(unit_rnd(&s) * 12);
        float *x = r < N ? vecs + r * D : qs + (r - N) * D;
        for (uint32_t j = 0; j < D; j++)
            x[j] = c[k][j] + sp[k] * (float)unit_gauss(&s);
    }
    for (int r = 0; r < N; r++)
        norms[r] = vs_dot(vecs + r * D, vecs + r * D, D);
    for (int q = 0; q < NQ; q++)
        qns[q] = vs_dot(qs + q * D, qs + q * D, D);
}

static double ref_dist(int metric, const float *q, const float *x)
{
    double dot = 0, qq = 0, xx = 0, l2 = 0;
    for (uint32_t j = 0; j < D; j++) {
        dot += (double)q[j] * x[j];
        qq += (double)q[j] * q[j];
        xx += (double)x[j] * x[j];
        l2 += ((double)q[j] - x[j]) * ((double)q[j] - x[j]);
    }
    if (metric == VF_METRIC_L2)
        return l2;
    if (metric == VF_METRIC_IP)
        return -dot;
    return qq > 0 && xx > 0 ? 1 - dot / sqrt(qq * xx) : 1;
}

/* Writes segment `name` of the first n rows with an HNSW index. */
static int reverse_ids; /* ids falling with the row number (test_ties) */

static int write_seg(const char *name, size_t n, int metric, uint32_t M, int threads, uint64_t seed)
{
    static uint64_t ids[N];
    for (size_t i = 0; i < n; i++)
        ids[i] = reverse_ids ? 1000 + n - 1 - i : 1000 + i;
    vs_build_params bp = {.type = VS_INDEX_HNSW, .M = M, .ef_construction = 100, .seed = seed, .threads = threads};
    return unit_write_seg(dirfd_, name, vecs, norms, ids, n, D, metric, &bp, 0);
}

typedef struct opened {
    vf_seg *seg;
    vs_index *ix;
    vs_rows_view rows;
    void *scratch;
} opened;

static int open_seg(opened *o, const char *name, vf_error *err)
{
    memset(o, 0, sizeof *o);
    int rc = vf_seg_open(&o->seg, dirfd_, name, err);
    if (rc)
        return rc;
    const vf_seg_info *in = vf_seg_get_info(o->seg);
    o->rows = (vs_rows_view){vf_seg_section(o->seg, VF_SEC_VECTORS, NULL), vf_seg_section(o->seg, VF_SEC_NORMS, NULL),
                             (size_t)in->rows, in->dim, (int)in->metric, NULL};
    rc = vs_index_open(&o->ix, o->seg, &o->rows, err);
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

/* Searches every query; returns the mean recall@K against brute force over the live rows, and
   counts hits that are deleted, duplicated, wrongly distanced or missing. */
static double run_queries(opened *o, const uint8_t *del, uint32_t ef, int *bad_hits, int *short_lists)
{
    int metric = o->rows.metric;
    size_t n = o->rows.n, live = 0;
    for (size_t r = 0; r < n; r++)
        live += !(del && (del[r >> 3] >> (r & 7)) & 1);
    size_t want = live < K ? live : K;
    double hits = 0;
    static double dist[N];
    static int idx[N];
    for (int q = 0; q < NQ; q++) {
        vs_hit buf[K];
        vs_topk t;
        vs_topk_init(&t, buf, K);
        vs_query_params qp = {.ef = ef};
        vf_error err = {0};
        int rc = vs_index_search(o->ix, qs + q * D, qns[q], &qp, del, &t, o->scratch, &err);
        if (rc) {
            fprintf(stderr, "search: %s\n", err.msg);
            (*bad_hits)++;
            continue;
        }
        vs_topk_sort(&t);
        if (t.n != want)
            (*short_lists)++;
        /* the K-th true distance among live rows */
        size_t m = 0;
        for (size_t r = 0; r < n; r++)
            if (!(del && (del[r >> 3] >> (r & 7)) & 1)) {
                dist[m] = ref_dist(metric, qs + q * D, vecs + r * D);
                idx[m++] = (int)r;
            }
        for (size_t a = 0; a < want; a++) /* partial selection sort: the want nearest */
            for (size_t b = a + 1; b < m; b++)
                if (dist[b] < dist[a]) {
                    double td = dist[a];
                    dist[a] = dist[b];
                    dist[b] = td;
                    int ti = idx[a];
                    idx[a] = idx[b];
                    idx[b] = ti;
                }
        double kth = want ? dist[want - 1] : 0;
        for (size_t i = 0; i < t.n; i++) {
            uint64_t r = t.h[i].id;
            if (r >= n || (del && (del[r >> 3] >> (r & 7)) & 1)) {
                (*bad_hits)++;
                continue;
            }
            for (size_t j = 0; j < i; j++)
                if (t.h[j].id == r)
                    (*bad_hits)++;
            double ex = ref_dist(metric, qs + q * D, vecs + r * D);
            if (fabs(ex - t.h[i].dist) > 1e-3 * (1 + fabs(ex)))
                (*bad_hits)++;
            if (ex <= kth + 1e-6 * fabs(kth) + 1e-9)
                hits++;
        }
    }
    return want ? hits / ((double)NQ * want) : 1.0;
}

static void test_recall(void)
{
    static const char *mname[] = {"", "l2", "ip", "cosine"};
    /* ip is a harder walk (no triangle inequality), so its floor is lower */
    static const double floor_[] = {0, 0.97, 0.90, 0.97};
    /* dimension 32 puts aux on the code's last cache line (the dot form for l2); 64 does not
       (the L2 form for l2) */
    for (int pass = 0; pass < 2; pass++) {
        D = pass ? 64 : 32;
        gen(pass ? 777 : 12345);
        CHECK(hnsw_l2_form(VF_METRIC_L2, D) == pass);
        for (int metric = VF_METRIC_L2; metric <= VF_METRIC_COSINE; metric++) {
            char name[32];
            snprintf(name, sizeof name, "r%d%s.vseg", metric, pass ? "-64" : "");
            CHECK(write_seg(name, N, metric, 16, 2, 7) == 0);
            opened o;
            vf_error err;
            CHECK(open_seg(&o, name, &err) == 0);
            CHECK(vs_index_type_of(o.ix) == VS_INDEX_HNSW);
            int bad = 0, shorts = 0;
            double rec = run_queries(&o, NULL, 0, &bad, &shorts);
            printf("  dim %u %s recall@10 at default ef: %.4f\n", D, mname[metric], rec);
            CHECK_MSG(rec >= floor_[metric], "%s recall %.4f below %.2f", mname[metric], rec, floor_[metric]);
            CHECK(bad == 0 && shorts == 0);
            /* a larger ef does no worse, and every level walks alike (exact integer code dot
               products, the L2 form and the re-ranking in the blocked order) */
            double rec2 = run_queries(&o, NULL, 200, &bad, &shorts);
            CHECK_MSG(rec2 >= rec - 0.005 && rec2 >= floor_[metric] + 0.01, "%s ef 200 recall %.4f",
                      mname[metric], rec2);
            for (int l = 0; l < VS_SIMD_LEVELS; l++)
                if (vs_simd_select(vs_simd_level_name((vs_simd_level)l)) == 0) {
                    double r3 = run_queries(&o, NULL, 0, &bad, &shorts);
                    CHECK_MSG(r3 == rec, "%s on %s: recall %.4f vs %.4f", mname[metric], vs_simd_name(), r3, rec);
                }
            vs_simd_select("auto");
            CHECK(bad == 0 && shorts == 0);
            close_seg(&o);
        }
    }
    D = 32;
    gen(12345);
}

/* ---- the walk of SPEC.md 5.5.1, written out plainly ------------------------------------ */

typedef struct rwalk {
    const uint8_t *nodes;
    const uint32_t *upper;
    hnsw_meta m;
    hnsw_query hq;
} rwalk;

/* Step 2: a(v), the integer sum in a plain loop. */
static float ref_a(const rwalk *w, uint32_t v)
{
    const uint8_t *p = w->nodes + (size_t)v * w->m.stride;
    if (w->hq.l2)
        return w->hq.l2(w->hq.w, w->hq.step, p, w->m.dim);
    int64_t s = 0;
    for (uint32_t j = 0; j < w->m.dim; j++)
        s += (int64_t)w->hq.q16[j] * p[j];
    float aux;
    memcpy(&aux, p + hnsw_aux_off(w->m.dim), 4);
    return (w->hq.c0 + w->hq.ca * aux) + w->hq.sq * (float)s;
}

static uint32_t ref_u32(const rwalk *w, uint32_t v, uint32_t off)
{
    uint32_t x;
    memcpy(&x, w->nodes + (size_t)v * w->m.stride + off, 4);
    return x;
}

/* (a, node) order */
static int ref_before(float a1, uint32_t n1, float a2, uint32_t n2) { return a1 < a2 || (a1 == a2 && n1 < n2); }

/* Steps 3 to 5 for query q: the k rows of the exact re-rank of W, nearest first by (distance,
   row), into rows/dist; returns their number. */
static size_t ref_search(rwalk *w, const vs_rows_view *rv, const float *q, float qn, const uint8_t *del, size_t ef,
                         size_t k, uint64_t *rows, float *dist)
{
    static uint8_t seen[N];
    static float ca[N], wa[N + 1];
    static uint32_t cn[N], wn[N + 1];
    uint32_t dim = w->m.dim, n = (uint32_t)w->m.rows;
    ef = ef < k ? k : ef > n ? n : ef;
    uint32_t v = w->m.entry;
    float av = ref_a(w, v);
    for (uint32_t l = w->m.max_level; l >= 1; l--)
        for (int changed = 1; changed;) {
            changed = 0;
            const uint32_t *rec = w->upper + ref_u32(w, v, hnsw_upper_off(dim));
            const uint32_t *ls = rec + 1 + (size_t)(l - 1) * (w->m.M + 1);
            for (uint32_t i = 0; i < ls[0]; i++) {
                float au = ref_a(w, ls[1 + i]);
                if (au < av) {
                    v = ls[1 + i];
                    av = au;
                    changed = 1;
                }
            }
        }
    memset(seen, 0, n);
    size_t nc = 0, nw = 0;
    cn[nc] = v, ca[nc++] = av;
    seen[v] = 1;
    uint32_t r = ref_u32(w, v, hnsw_row_off(dim));
    if (!(del && (del[r >> 3] >> (r & 7)) & 1))
        wn[nw] = v, wa[nw++] = av;
    while (nc) {
        size_t b = 0;
        for (size_t i = 1; i < nc; i++)
            if (ref_before(ca[i], cn[i], ca[b], cn[b]))
                b = i;
        uint32_t c = cn[b];
        float ac = ca[b];
        cn[b] = cn[--nc], ca[b] = ca[nc];
        if (nw == ef && ac > wa[nw - 1])
            break;
        const uint32_t *ls = (const uint32_t *)(w->nodes + (size_t)c * w->m.stride + hnsw_count_off(dim));
        uint32_t fresh[64], nf = 0;
        for (uint32_t i = 0; i < ls[0]; i++)
            if (!seen[ls[1 + i]]) {
                seen[ls[1 + i]] = 1;
                fresh[nf++] = ls[1 + i];
            }
        for (uint32_t i = 0; i < nf; i++) {
            uint32_t u = fresh[i];
            float au = ref_a(w, u);
            if (nw < ef || au < wa[nw - 1]) {
                cn[nc] = u, ca[nc++] = au;
                r = ref_u32(w, u, hnsw_row_off(dim));
                if (del && (del[r >> 3] >> (r & 7)) & 1)
                    continue;
                size_t j = nw++; /* insertion into W, kept in (a, node) order */
                while (j > 0 && ref_before(au, u, wa[j - 1], wn[j - 1]))
                    wa[j] = wa[j - 1], wn[j] = wn[j - 1], j--;
                wa[j] = au, wn[j] = u;
                if (nw == ef + 1)
                    nw--;
            }
        }
    }
    /* step 5: every node of W re-ranked exactly; the k best by (distance, row) */
    static float ed[N];
    static uint64_t er[N];
    for (size_t i = 0; i < nw; i++) {
        er[i] = ref_u32(w, wn[i], hnsw_row_off(dim));
        ed[i] = vs_row_distance(rv, q, qn, (size_t)er[i]);
    }
    size_t got = nw < k ? nw : k;
    for (size_t a = 0; a < got; a++) {
        size_t b = a;
        for (size_t i = a + 1; i < nw; i++)
            if (ed[i] < ed[b] || (ed[i] == ed[b] && er[i] < er[b]))
                b = i;
        rows[a] = er[b], dist[a] = ed[b];
        er[b] = er[a], ed[b] = ed[a];
    }
    return got;
}

/* The search returns, bit for bit, what the plain walk of SPEC.md 5.5.1 returns, for every
   metric, both forms of the approximate distance, several ef and with deleted rows: a faster
   walk (batched kernels, branchless heaps) may not change the order nodes are taken in. */
static void test_reference_walk(void)
{
    static uint8_t del[N / 8 + 1];
    static float wbuf[DMAX];
    static int16_t q16[DMAX];
    for (int pass = 0; pass < 2; pass++) {
        D = pass ? 64 : 32;
        gen(pass ? 777 : 12345);
        for (int metric = VF_METRIC_L2; metric <= VF_METRIC_COSINE; metric++) {
            char name[32];
            snprintf(name, sizeof name, "r%d%s.vseg", metric, pass ? "-64" : "");
            opened o;
            vf_error err;
            CHECK(open_seg(&o, name, &err) == 0);
            rwalk w;
            const uint8_t *meta = vf_seg_section(o.seg, VS_SEC_HNSW_META, NULL);
            memcpy(&w.m, meta, sizeof w.m);
            w.nodes = vf_seg_section(o.seg, VS_SEC_HNSW_NODES, NULL);
            w.upper = vf_seg_section(o.seg, VS_SEC_HNSW_UPPER, NULL);
            const float *off = (const float *)(meta + HNSW_META_FIXED), *step = off + D;
            int bad = 0;
            for (int d = 0; d < 2; d++) {
                memset(del, 0, sizeof del);
                for (size_t r = 0; d && r < N; r += 5)
                    del[r >> 3] |= (uint8_t)(1u << (r & 7));
                static const uint32_t efs[] = {10, 37, 120};
                for (size_t e = 0; e < 3; e++)
                    for (int q = 0; q < NQ; q++) {
                        w.hq = (hnsw_query){.w = wbuf, .q16 = q16};
                        vs_hnsw_query_prep(&w.hq, qs + q * D, qns[q], metric, off, step, D);
                        uint64_t rr[K];
                        float rd[K];
                        size_t nr = ref_search(&w, &o.rows, qs + q * D, qns[q], d ? del : NULL, efs[e], K, rr, rd);
                        vs_hit buf[K];
                        vs_topk t;
                        vs_topk_init(&t, buf, K);
                        vs_query_params qp = {.ef = efs[e]};
                        CHECK(vs_index_search(o.ix, qs + q * D, qns[q], &qp, d ? del : NULL, &t, o.scratch, &err) == 0);
                        vs_topk_sort(&t);
                        int same = t.n == nr;
                        for (size_t i = 0; same && i < nr; i++)
                            same = t.h[i].id == rr[i] && !memcmp(&t.h[i].dist, &rd[i], 4);
                        bad += !same;
                    }
            }
            CHECK_MSG(bad == 0, "dim %u metric %d: %d searches differ from the plain walk", D, metric, bad);
            close_seg(&o);
        }
    }
    D = 32;
    gen(12345);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb"); /* names are relative to dir, the cwd */
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void test_determinism(void)
{
    CHECK(write_seg("d1.vseg", N, VF_METRIC_L2, 8, 2, 99) == 0);
    CHECK(write_seg("d2.vseg", N, VF_METRIC_L2, 8, 2, 99) == 0);
    CHECK(write_seg("d3.vseg", N, VF_METRIC_L2, 8, 1, 99) == 0);
    CHECK(write_seg("d4.vseg", N, VF_METRIC_L2, 8, 2, 100) == 0);
    CHECK_MSG(same_file("d1.vseg", "d2.vseg"), "two builds with one seed differ");
    CHECK_MSG(same_file("d1.vseg", "d3.vseg"), "1 and 2 threads give different bytes");
    CHECK_MSG(!same_file("d1.vseg", "d4.vseg"), "the seed changes nothing");
}

static void test_deleted(void)
{
    opened o;
    vf_error err;
    CHECK(open_seg(&o, "r1.vseg", &err) == 0);
    static uint8_t del[N / 8 + 1];
    uint64_t s = 5;
    /* 40% deleted at random */
    memset(del, 0, sizeof del);
    for (int r = 0; r < N; r++)
        if (unit_rnd(&s) < 0.4)
            del[r >> 3] |= (uint8_t)(1u << (r & 7));
    int bad = 0, shorts = 0;
    double rec = run_queries(&o, del, 0, &bad, &shorts);
    printf("  l2 recall@10 with 40%% deleted: %.4f\n", rec);
    CHECK(rec >= 0.95);
    CHECK(bad == 0 && shorts == 0);
    /* every near row of the first clusters deleted: the walk crosses deleted regions */
    memset(del, 0, sizeof del);
    for (int r = 0; r < N; r++)
        if (vecs[r * D] < 0)
            del[r >> 3] |= (uint8_t)(1u << (r & 7));
    bad = shorts = 0;
    rec = run_queries(&o, del, 0, &bad, &shorts);
    printf("  l2 recall@10 with half the space deleted: %.4f\n", rec);
    CHECK(rec >= 0.9);
    CHECK(bad == 0 && shorts == 0);
    /* only a few live rows, scattered: all of them come back */
    for (int live = 3; live <= 15; live += 12) {
        memset(del, 0xff, sizeof del);
        for (int i = 0; i < live; i++) {
            int r = (i * 337 + 11) % N;
            del[r >> 3] &= (uint8_t) ~(1u << (r & 7));
        }
        bad = shorts = 0;
        rec = run_queries(&o, del, 0, &bad, &shorts);
        CHECK_MSG(rec == 1.0 && bad == 0 && shorts == 0, "%d live rows: recall %.3f bad %d short %d", live, rec,
                  bad, shorts);
    }
    /* everything deleted: no hits */
    memset(del, 0xff, sizeof del);
    bad = shorts = 0;
    run_queries(&o, del, 0, &bad, &shorts);
    CHECK(bad == 0 && shorts == 0);
    close_seg(&o);
}

static void test_small(void)
{
    /* no rows, fewer rows than k, and a single row */
    size_t sizes[] = {0, 1, 2, 7, 40};
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%zu.vseg", sizes[i]);
        CHECK(write_seg(name, sizes[i], VF_METRIC_COSINE, 4, 2, 3) == 0);
        opened o;
        vf_error err;
        CHECK(open_seg(&o, name, &err) == 0);
        int bad = 0, shorts = 0;
        double rec = run_queries(&o, NULL, 0, &bad, &shorts);
        CHECK_MSG(rec == 1.0 && bad == 0 && shorts == 0, "%zu rows: recall %.3f", sizes[i], rec);
        close_seg(&o);
    }
}

/* ---- damage --------------------------------------------------------------------------------- */

static const vf_section *find_sec(const vf_seg *s, uint32_t type)
{
    for (size_t i = 0; i < vf_seg_nsections(s); i++)
        if (vf_seg_section_at(s, i)->type == type)
            return vf_seg_section_at(s, i);
    return NULL;
}

static int copy_file(const char *from, const char *to)
{
    static char buf[1 << 16];
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    size_t k;
    while (a && b && (k = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, k, b);
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return a && b ? 0 : -1;
}

static void poke(const char *name, uint64_t off, uint32_t v)
{
    int fd = open(name, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, &v, 4, (off_t)off) == 4);
    close(fd);
}

/* Overwrites len bytes at offset off of the HNSW_META section (at moff, mlen
   bytes long) of name and fixes the section's CRC: damage only the field
   checks can see. */
static void poke_meta(const char *name, uint64_t moff, uint64_t mlen, uint64_t off, const void *v, size_t len)
{
    static uint8_t meta[HNSW_META_FIXED + 8 * DMAX + 4];
    int fd = open(name, O_RDWR);
    CHECK(fd >= 0 && mlen <= sizeof meta && pread(fd, meta, mlen, (off_t)moff) == (ssize_t)mlen);
    memcpy(meta + off, v, len);
    uint32_t crc = vf_crc32(0, meta, mlen - 4);
    memcpy(meta + mlen - 4, &crc, 4);
    CHECK(pwrite(fd, meta, mlen, (off_t)moff) == (ssize_t)mlen);
    close(fd);
}

/* Opens name and runs every query: returns the first error (0 if none). */
static int open_and_search(const char *name)
{
    opened o;
    vf_error err = {0};
    int rc = open_seg(&o, name, &err);
    for (int q = 0; !rc && q < NQ; q++) {
        vs_hit buf[K];
        vs_topk t;
        vs_topk_init(&t, buf, K);
        rc = vs_index_search(o.ix, qs + q * D, qns[q], NULL, NULL, &t, o.scratch, &err);
    }
    close_seg(&o);
    return rc;
}

static void test_damage(void)
{
    vf_seg *s;
    vf_error err;
    CHECK(vf_seg_open(&s, dirfd_, "r1.vseg", &err) == 0);
    vf_section meta = *find_sec(s, VS_SEC_HNSW_META), nodes = *find_sec(s, VS_SEC_HNSW_NODES),
               upper = *find_sec(s, VS_SEC_HNSW_UPPER);
    hnsw_meta m;
    memcpy(&m, vf_seg_section(s, VS_SEC_HNSW_META, NULL), sizeof m);
    uint32_t ue; /* the entry row's upper record, in words */
    memcpy(&ue, (const uint8_t *)vf_seg_section(s, VS_SEC_HNSW_NODES, NULL) + (size_t)m.entry * m.stride +
                    hnsw_upper_off(D), 4);
    vf_seg_close(s);
    CHECK(ue < m.upper_words);
    CHECK(m.max_level >= 1 && m.upper_words > 0);
    uint32_t cnt_off = hnsw_count_off(D), up_off = hnsw_upper_off(D), row_off = hnsw_row_off(D);
    CHECK(open_and_search("r1.vseg") == 0);

    struct {
        const char *what;
        uint64_t off;
        uint32_t v;
        int all_nodes;       /* poke the field in every node block */
    } cases[] = {
        {"meta byte", meta.offset + 3, 0x01000000u, 0},
        {"meta entry", meta.offset + 36, 0x7fffffffu, 0},
        {"meta quantizer", meta.offset + HNSW_META_FIXED + 8, 0xffffffffu, 0},
        {"meta crc", meta.offset + meta.length - 4, 0, 0},
        {"level-0 link", nodes.offset + cnt_off + 4, 0xfffffff0u, 1},
        {"level-0 link = rows", nodes.offset + cnt_off + 8, N, 1},
        {"level-0 count", nodes.offset + cnt_off, 1000000u, 1},
        {"upper offset", nodes.offset + up_off, 0x7ffffff0u, 1},
        {"row number", nodes.offset + row_off, 0xfffffff0u, 1},
        {"row number = rows", nodes.offset + row_off, N, 1},
        {"one row for every node", nodes.offset + row_off, 17, 1},
        {"upper level", upper.offset + 4ull * ue, 0x00ffffffu, 0},
        {"upper level too low", upper.offset + 4ull * ue, 0, 0},
        {"upper count", upper.offset + 4ull * (ue + 1), 0x10000u, 0},
        {"upper link", upper.offset + 4ull * (ue + 2), 0xffffffffu, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CHECK(copy_file("r1.vseg", "bad.vseg") == 0);
        if (cases[c].all_nodes)
            for (uint32_t r = 0; r < N; r++)
                poke("bad.vseg", cases[c].off + (uint64_t)r * m.stride, cases[c].v);
        else
            poke("bad.vseg", cases[c].off, cases[c].v);
        int rc = open_and_search("bad.vseg");
        CHECK_MSG(rc == VF_ECORRUPT, "%s: got %d", cases[c].what, rc);
    }
    /* META fields with a valid CRC: the field checks alone must refuse them */
    uint64_t wrap = (1ull << 62) + m.upper_words; /* 4 * wrap == 4 * upper_words (mod 2^64) */
    uint32_t big_upper = 0x7ffffff0u, nan = 0x7fc00000u, neg = 0xbf800000u;
    struct {
        const char *what;
        uint64_t off;        /* in META */
        uint64_t v;
        size_t len;
    } fields[] = {
        {"upper_words near 2^62", 48, wrap, 8},
        {"upper_words + 1", 48, m.upper_words + 1, 8},
        {"upper_words 2^63", 48, 1ull << 63, 8},
        {"entry = rows", 36, N, 4},
        {"entry huge", 36, 0xffffffffu, 4},
        {"max_level 32", 32, 32, 4},
        {"max_level huge", 32, 0xffffffffu, 4},
        {"M 1", 12, 1, 4},
        {"M 129", 12, 129, 4},
        {"M0 below M", 16, m.M - 1, 4},
        {"M0 huge", 16, 0xffffffffu, 4},
        {"stride", 40, m.stride + 64, 4},
        {"stride 0", 40, 0, 4},
        {"code_kind", 44, 2, 4},
        {"rows + 1", 24, N + 1, 8},
        {"rows huge", 24, ~0ull, 8},
        {"dim + 1", 4, D + 1, 4},
        {"dim huge", 4, 0xfffffffcu, 4},
        {"metric", 8, 9, 4},
        {"version 0", 0, 0, 4},
        {"quantizer NaN", HNSW_META_FIXED, nan, 4},
        {"negative step", HNSW_META_FIXED + 4ull * D, neg, 4},
    };
    for (size_t c = 0; c < sizeof fields / sizeof fields[0]; c++) {
        CHECK(copy_file("r1.vseg", "bad.vseg") == 0);
        poke_meta("bad.vseg", meta.offset, meta.length, fields[c].off, &fields[c].v, fields[c].len);
        if (c == 0) /* the reported defect: a wrapped length, then an entry record far out */
            for (uint32_t r = 0; r < N; r++)
                poke("bad.vseg", nodes.offset + (uint64_t)r * m.stride + up_off, big_upper);
        int rc = open_and_search("bad.vseg");
        CHECK_MSG(rc == VF_ECORRUPT, "meta %s: got %d", fields[c].what, rc);
    }
    /* every META word, any extreme value, a valid CRC: an error or a result, never a crash */
    const uint32_t extremes[] = {0, 1, 2, 0x7fffffff, 0x80000000u, 0xfffffffe, 0xffffffffu};
    for (uint64_t off = 0; off < HNSW_META_FIXED; off += 4)
        for (size_t x = 0; x < sizeof extremes / sizeof extremes[0]; x++) {
            CHECK(copy_file("r1.vseg", "bad.vseg") == 0);
            poke_meta("bad.vseg", meta.offset, meta.length, off, &extremes[x], 4);
            int rc = open_and_search("bad.vseg");
            CHECK_MSG(rc == 0 || rc == VF_ECORRUPT || rc == VF_EVERSION, "meta word %llu = %#x: got %d",
                      (unsigned long long)off, extremes[x], rc);
        }
    /* every upper record's words damaged in turn, with huge values: never a crash */
    for (uint32_t wd = 0; wd < m.upper_words && wd < 400; wd += 7) {
        CHECK(copy_file("r1.vseg", "bad.vseg") == 0);
        poke("bad.vseg", upper.offset + 4ull * wd, 0xfffffff0u - wd);
        int rc = open_and_search("bad.vseg");
        CHECK_MSG(rc == 0 || rc == VF_ECORRUPT, "upper word %u: got %d", wd, rc);
    }
    unlink("bad.vseg");
}

/* ---- the query quantizer and levels ------------------------------------------------------- */

/* The weights become 16-bit integers within half a step, the extremes reach +-Q, and Q keeps
   the int32 sum exact: 32767 up to dim 257, then floor((2^31 - 1) / (255 dim)). */
static void test_quantize(void)
{
    static float w[1000];
    static int16_t q16[1000];
    uint64_t s = 17;
    for (int i = 0; i < 1000; i++)
        w[i] = (float)(unit_rnd(&s) * 2 - 1);
    static const uint32_t dims[] = {1000, 200};
    for (int t = 0; t < 2; t++) {
        uint32_t d = dims[t];
        int32_t Q = d == 1000 ? 2147483647 / (255 * 1000) : 32767;
        hnsw_query hq = {.w = w, .q16 = q16};
        vs_hnsw_query_quantize(&hq, d);
        int ok = 1, extreme = 0;
        for (uint32_t i = 0; i < d; i++) {
            ok &= q16[i] >= -Q && q16[i] <= Q && fabsf(q16[i] * hq.sq - w[i]) <= hq.sq * 0.5001f;
            extreme |= q16[i] == Q || q16[i] == -Q;
        }
        CHECK_MSG(ok && extreme && hq.dot == vs_code_dot_kernel(), "dim %u: weights not within half a step of "
                  "+-%d levels", d, Q);
    }
}

/* Marks in del the rows of nodes that level-0 links do not reach from the entry (node 0 in
   the vecseg writer); returns their number. */
static size_t mark_unreachable(const opened *o, uint8_t *del)
{
    uint32_t dim = o->rows.dim, m0, stride;
    const uint8_t *meta = vf_seg_section(o->seg, VS_SEC_HNSW_META, NULL);
    const uint8_t *nodes = vf_seg_section(o->seg, VS_SEC_HNSW_NODES, NULL);
    memcpy(&m0, meta + 16, 4);
    memcpy(&stride, meta + 40, 4);
    size_t n = o->rows.n, top = 0, miss = 0;
    static uint32_t stack[N];
    static uint8_t seen[N];
    memset(seen, 0, n);
    seen[0] = 1;
    stack[top++] = 0;
    while (top) {
        const uint32_t *ls = (const uint32_t *)(nodes + (size_t)stack[--top] * stride + hnsw_count_off(dim));
        for (uint32_t i = 0; i < ls[0] && i < m0; i++)
            if (!seen[ls[1 + i]]) {
                seen[ls[1 + i]] = 1;
                stack[top++] = ls[1 + i];
            }
    }
    memset(del, 0, (n + 7) / 8);
    for (size_t k = 0; k < n; k++)
        if (!seen[k]) {
            uint32_t r;
            memcpy(&r, nodes + k * stride + hnsw_row_off(dim), 4);
            del[r >> 3] |= (uint8_t)(1u << (r & 7));
            miss++;
        }
    return miss;
}

/* Near-duplicates closer together than the codes' step: 80 copies of one row, each moved by
   noise a tenth of the quantizer's step, and queries among them.  The codes rank the copies
   in noise, so only re-ranking every walk result exactly finds the 10 nearest (the old
   re-rank, at most 4k results and a stop on the error seen, had recall 0.58 to 0.90 here).
   The build's repair leaves no row unreachable (mark_unreachable then marks none).  Not
   cosine: its distances among these copies (about 1e-6) are too close to f32's resolution
   near 1 for an exact comparison with brute force in double. */
static void test_near_duplicates(void)
{
    enum { DUPS = 80 };
    static const char *mname[] = {"", "l2", "ip"};
    static uint8_t del[(N + 7) / 8];
    gen(4242);
    uint64_t s = 99;
    for (int r = 1; r <= DUPS; r++)
        for (uint32_t j = 0; j < D; j++)
            vecs[r * D + j] = vecs[j] + (float)(0.01 * unit_gauss(&s));
    for (int q = 0; q < NQ; q++)
        for (uint32_t j = 0; j < D; j++)
            qs[q * D + j] = vecs[j] + (float)(0.01 * unit_gauss(&s));
    for (int r = 0; r <= DUPS; r++)
        norms[r] = vs_dot(vecs + r * D, vecs + r * D, D);
    for (int q = 0; q < NQ; q++)
        qns[q] = vs_dot(qs + q * D, qs + q * D, D);
    for (int metric = VF_METRIC_L2; metric <= VF_METRIC_IP; metric++) {
        CHECK(write_seg("nd.vseg", N, metric, 16, 2, 7) == 0);
        opened o;
        vf_error err;
        CHECK(open_seg(&o, "nd.vseg", &err) == 0);
        size_t miss = mark_unreachable(&o, del);
        CHECK_MSG(miss == 0, "near-duplicates: %zu rows unreachable", miss);
        int bad = 0, shorts = 0;
        /* the 81 copies are one blur to the walk's codes: an ef above their count lets the walk
           hold them all, and the exact re-rank then finds the 10 (at ef 100, with every copy
           reachable since the build's repair, l2 gave 0.996 and ip 0.90) */
        double rec = run_queries(&o, del, 200, &bad, &shorts);
        printf("  near-duplicates, %s, ef 200: recall@10 %.4f (%zu rows unreachable)\n", mname[metric], rec, miss);
        CHECK_MSG(rec >= 0.999, "near-duplicates: recall %.4f at ef 200", rec);
        CHECK(bad == 0 && shorts == 0);
        close_seg(&o);
    }
    gen(12345);
}

/* The build's heuristic decides each comparison from bounds on the codes' error where they
   decide it and from exact distances otherwise: the bytes must be those of computing every
   distance exactly (vs_hnsw_build_bounds), for every metric, both walk forms (dims 32 and 64),
   near-duplicates closer than the codes' step (where the bounds overlap), exact duplicates and,
   for cosine, the zero row (which has no bound).  Every SIMD level gives the same bytes too. */
static void test_bounds_exact(void)
{
    for (int pass = 0; pass < 2; pass++) {
        D = pass ? 64 : 32;
        gen(4242 + (uint64_t)pass);
        uint64_t s = 5;
        for (int r = 1; r <= 60; r++)
            for (uint32_t j = 0; j < D; j++)
                vecs[r * D + j] = r <= 10 ? vecs[j] : vecs[j] + (float)(0.01 * unit_gauss(&s));
        memset(vecs + 61 * D, 0, D * sizeof *vecs);
        for (int r = 0; r <= 61; r++)
            norms[r] = vs_dot(vecs + r * D, vecs + r * D, D);
        for (int metric = VF_METRIC_L2; metric <= VF_METRIC_COSINE; metric++) {
            vs_hnsw_build_bounds = -1;
            CHECK(write_seg("be1.vseg", 2000, metric, 8, 2, 3) == 0);
            vs_hnsw_build_bounds = 1;
            CHECK(write_seg("be0.vseg", 2000, metric, 8, 2, 3) == 0);
            CHECK_MSG(same_file("be0.vseg", "be1.vseg"), "dim %u metric %d: bounded and exact builds differ", D,
                      metric);
            for (int l = 0; l < VS_SIMD_LEVELS; l++)
                if (vs_simd_select(vs_simd_level_name((vs_simd_level)l)) == 0) {
                    CHECK(write_seg("bel.vseg", 2000, metric, 8, 1, 3) == 0);
                    CHECK_MSG(same_file("be0.vseg", "bel.vseg"), "dim %u metric %d: %s builds other bytes", D,
                              metric, vs_simd_name());
                }
            vs_simd_select("auto");
            vs_hnsw_build_bounds = 0;
        }
    }
    D = 32;
    gen(12345);
}

/* The build scores a hop's neighbours (and a list being re-pruned, and the batch rows before
   a row) in batches of the dots kernel: every distance it so computes must equal, to the bit,
   approx()'s one node at a time (vs_hnsw_build_check), for every metric, both walk forms, a
   dimension with a kernel tail (37) and every SIMD level, or the graph would change. */
static void test_batched_distances(void)
{
    static const uint32_t dims[] = {32, 37, 64};
    for (size_t p = 0; p < 3; p++) {
        D = dims[p];
        gen(99 + p);
        for (int metric = VF_METRIC_L2; metric <= VF_METRIC_COSINE; metric++)
            for (int l = 0; l < VS_SIMD_LEVELS; l++) {
                if (vs_simd_select(vs_simd_level_name((vs_simd_level)l)) != 0)
                    continue;
                vs_hnsw_build_check = 1;
                vs_hnsw_build_checked = vs_hnsw_build_mismatched = 0;
                CHECK(write_seg("bd.vseg", 3000, metric, 8, 2, 11) == 0);
                vs_hnsw_build_check = 0;
                CHECK_MSG(vs_hnsw_build_checked > 3000, "dim %u metric %d %s: only %lu distances checked", D,
                          metric, vs_simd_name(), vs_hnsw_build_checked);
                CHECK_MSG(vs_hnsw_build_mismatched == 0, "dim %u metric %d %s: %lu of %lu batched distances differ",
                          D, metric, vs_simd_name(), vs_hnsw_build_mismatched, vs_hnsw_build_checked);
            }
        vs_simd_select("auto");
    }
    D = 32;
    gen(12345);
}

/* [R-SEARCH-ORDER]: 30 copies of one row at distance 0 from the query, ids falling with the row
   number: the 10 kept are those of the smallest ids (the largest rows), not the first rows. */
static void test_ties(void)
{
    static uint8_t del[(N + 7) / 8];
    gen(777);
    for (int r = 1; r < 30; r++)
        memcpy(vecs + r * D, vecs, D * sizeof *vecs);
    memcpy(qs, vecs, D * sizeof *vecs);
    for (int r = 0; r < 30; r++)
        norms[r] = norms[0];
    qns[0] = norms[0];
    reverse_ids = 1;
    CHECK(write_seg("t.vseg", N, VF_METRIC_L2, 16, 2, 7) == 0);
    reverse_ids = 0;
    opened o;
    vf_error err;
    CHECK(open_seg(&o, "t.vseg", &err) == 0);
    mark_unreachable(&o, del);
    int want[K], nw = 0; /* the reachable copies of the largest rows */
    for (int r = 29; r >= 0 && nw < K; r--)
        if (!((del[r >> 3] >> (r & 7)) & 1))
            want[nw++] = r;
    vs_hit buf[K];
    vs_topk t;
    vs_topk_init(&t, buf, K);
    vs_query_params qp = {.ef = 64};
    CHECK(vs_index_search(o.ix, qs, qns[0], &qp, del, &t, o.scratch, &err) == 0);
    int ok = t.n == K && nw == K;
    for (size_t i = 0; i < t.n; i++) {
        int found = 0;
        for (int j = 0; j < nw; j++)
            found |= t.h[i].id == (uint64_t)want[j];
        ok &= found && t.h[i].dist == 0;
    }
    CHECK_MSG(ok, "ties at distance 0 not kept by the smallest id");
    close_seg(&o);
    gen(12345);
}

static void test_levels(void)
{
    int above[4] = {0};
    int range_ok = 1;
    for (uint64_t r = 0; r < 200000; r++) {
        int l = vs_hnsw_level(42, r, 16);
        range_ok &= l >= 0 && l <= HNSW_MAX_LEVEL;
        for (int i = 0; i < 4 && i < l; i++)
            above[i]++;
    }
    CHECK(range_ok);
    /* P(level >= i) = 16^-i */
    CHECK(fabs(above[0] / 200000.0 - 1 / 16.0) < 0.005);
    CHECK(fabs(above[1] / 200000.0 - 1 / 256.0) < 0.001);
    CHECK(vs_hnsw_level(42, 5, 16) == vs_hnsw_level(42, 5, 16));
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_hnsw.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (chdir(dir)) {
        perror("chdir");
        return 1;
    }
    gen(12345);
    test_quantize();
    test_levels();
    test_recall();
    test_reference_walk();
    test_determinism();
    test_deleted();
    test_small();
    test_damage();
    test_near_duplicates();
    test_bounds_exact();
    test_batched_distances();
    test_ties();
    /* clean up */
    const char *names[] = {"r1.vseg", "r2.vseg", "r3.vseg", "r1-64.vseg", "r2-64.vseg", "r3-64.vseg", "d1.vseg", "d2.vseg", "d3.vseg", "d4.vseg",
                           "s0.vseg", "s1.vseg", "s2.vseg", "s7.vseg", "s40.vseg", "nd.vseg", "t.vseg", "be0.vseg", "be1.vseg", "bel.vseg", "bd.vseg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlinkat(dirfd_, names[i], 0);
    close(dirfd_);
    rmdir(dir);
    UNIT_DONE();
}
