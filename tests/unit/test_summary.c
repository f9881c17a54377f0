/*
 * test_summary.c - HNSW_SUMMARY (lib/index/hnsw/hnsw_summary.c, SPEC.md 5.5.1) through the
 * real segment writer and reader: the lower bound is never above the exact minimum distance
 * the search computes over the segment's rows (every metric; random, clustered and offset
 * data; queries among, near, far from the rows and zero), yet bites on clustered data; the
 * summary's bytes are the same on 1 and 2 threads; damaged summaries are refused
 * (VF_ECORRUPT) and a segment without one (written before summaries) opens with no bound.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/index_internal.h"
#include "simd/metric.h"
#include "unit.h"
#include "unit_seg.h"

#define N 3000
#define D 48
#define NQ 400

static float vecs[N * D], norms[N], qs[NQ * D], qns[NQ];
static char dir[4096];
static int dirfd_;

enum { RANDOM, CLUSTERED, OFFSET, KINDS };

/* Rows: uniform in [-1, 1] (RANDOM); 8 tight Gaussian clusters, rows in cluster order
   (CLUSTERED); the same moved far from the origin, so norms dwarf distances (OFFSET).  For
   cosine a few rows are zero.  Queries: 100 drawn like the rows, 100 rows themselves, 100
   rows nudged, 50 far away (10x the rows), 49 on the edges of the summary's balls (ray_queries),
   and the zero vector. */
static void gen(int kind, int metric, uint64_t seed)
{
    uint64_t s = seed;
    float c[8][D];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < D; j++)
            c[i][j] = (float)(unit_rnd(&s) * 20 - 10) + (kind == OFFSET ? 1000.0f : 0.0f);
    for (int r = 0; r < N + 100; r++) {
        float *x = r < N ? vecs + r * D : qs + (r - N) * D;
        int k = r < N ? r * 8 / N : (int)(unit_rnd(&s) * 8);
        for (int j = 0; j < D; j++)
            x[j] = kind == RANDOM ? (float)(unit_rnd(&s) * 2 - 1) : c[k][j] + 0.3f * (float)unit_gauss(&s);
    }
    if (metric == VF_METRIC_COSINE)
        for (int r = 0; r < N; r += 997)
            memset(vecs + r * D, 0, D * sizeof(float));
    for (int q = 100; q < 200; q++)
        memcpy(qs + q * D, vecs + (size_t)((q - 100) * 29 % N) * D, D * sizeof(float));
    for (int q = 200; q < 300; q++)
        for (int j = 0; j < D; j++)
            qs[q * D + j] = vecs[(size_t)((q - 200) * 31 % N) * D + j] * (1 + 1e-6f * (float)unit_gauss(&s));
    for (int q = 300; q < 350; q++)
        for (int j = 0; j < D; j++)
            qs[q * D + j] = qs[(q - 300) * D + j] * 10;
    memset(qs + (NQ - 1) * D, 0, D * sizeof(float));
    for (int r = 0; r < N; r++)
        norms[r] = vs_dot(vecs + r * D, vecs + r * D, D);
    for (int q = 0; q < NQ; q++)
        qns[q] = vs_dot(qs + q * D, qs + q * D, D);
}

static int write_seg(const char *name, size_t n, int metric, int threads)
{
    static uint64_t ids[N];
    for (size_t i = 0; i < n; i++)
        ids[i] = 1000 + i;
    vs_build_params bp = {.type = VS_INDEX_HNSW, .M = 8, .ef_construction = 40, .seed = 7, .threads = threads};
    return unit_write_seg(dirfd_, name, vecs, norms, ids, n, D, metric, &bp, 0);
}

typedef struct opened {
    vf_seg *seg;
    vs_index *ix;
    vs_rows_view rows;
} opened;

static int open_seg(opened *o, const char *name)
{
    memset(o, 0, sizeof *o);
    vf_error err = {0};
    int rc = vf_seg_open(&o->seg, dirfd_, name, &err);
    if (rc)
        return rc;
    const vf_seg_info *in = vf_seg_get_info(o->seg);
    o->rows = (vs_rows_view){vf_seg_section(o->seg, VF_SEC_VECTORS, NULL), vf_seg_section(o->seg, VF_SEC_NORMS, NULL),
                             (size_t)in->rows, in->dim, (int)in->metric, NULL};
    rc = vs_index_open(&o->ix, o->seg, &o->rows, &err);
    if (rc) {
        vf_seg_close(o->seg);
        o->seg = NULL;
    }
    return rc;
}

static void close_seg(opened *o)
{
    vs_index_close(o->ix);
    vf_seg_close(o->seg);
}

/* The section's bytes (the caller frees), and its offset and length in the file. */
static uint8_t *read_summary(const char *name, uint64_t *off, uint64_t *len);

/* Queries 350..398 where the bound is tight: for centre k, x the row farthest from it among
   the rows nearest to it (the one that sets its radius), l2: c + (x - c)(1 + e), just beyond
   x on the ray from the centre (e = 1e-2, 1e-5, 0); ip: the direction x - c scaled, whose
   best row is x.  Cosine keeps the draws (its queries are normalised off any ray). */
static void ray_queries(const char *name, int metric)
{
    if (metric == VF_METRIC_COSINE)
        return;
    uint64_t off, len;
    uint8_t *sec = read_summary(name, &off, &len);
    CHECK(sec != NULL);
    if (!sec)
        return;
    uint32_t c;
    memcpy(&c, sec + 4, 4);
    const float *cent = (const float *)(sec + 16);
    static float far_d[64];
    static int far_r[64];
    for (uint32_t k = 0; k < c; k++)
        far_d[k] = -1, far_r[k] = 0;
    for (int r = 0; r < N; r++) {
        uint32_t best = 0;
        double bd = INFINITY;
        for (uint32_t k = 0; k < c; k++) {
            double t = 0;
            for (int j = 0; j < D; j++)
                t += ((double)vecs[r * D + j] - cent[k * D + j]) * ((double)vecs[r * D + j] - cent[k * D + j]);
            if (t < bd)
                bd = t, best = k;
        }
        if (bd > far_d[best])
            far_d[best] = (float)bd, far_r[best] = r;
    }
    static const double eps[] = {1e-2, 1e-5, 0};
    for (int q = 350; q < NQ - 1; q++) {
        uint32_t k = (uint32_t)(q - 350) % c;
        const float *x = vecs + (size_t)far_r[k] * D, *ck = cent + (size_t)k * D;
        double e = eps[(q - 350) / c % 3];
        for (int j = 0; j < D; j++)
            qs[q * D + j] = metric == VF_METRIC_IP ? (float)(((double)x[j] - ck[j]) * 3)
                                                   : (float)(ck[j] + ((double)x[j] - ck[j]) * (1 + e));
        qns[q] = vs_dot(qs + q * D, qs + q * D, D);
    }
    free(sec);
}

static const char *metric_name(int m) { return m == VF_METRIC_L2 ? "l2" : m == VF_METRIC_IP ? "ip" : "cosine"; }

/* LB <= the least distance the search computes (vs_row_distance: what it pushes) for every
   query; and the bound says something: for the far queries on clustered data, at least a
   quarter of the least distance (l2), or within half of it (ip). */
static void test_bound(void)
{
    static const char *kinds[] = {"random", "clustered", "offset"};
    for (int metric = VF_METRIC_L2; metric <= VF_METRIC_COSINE; metric++)
        for (int kind = 0; kind < KINDS; kind++) {
            gen(kind, metric, 99 + (uint64_t)kind * 7 + (uint64_t)metric);
            CHECK(write_seg("b.vseg", N, metric, 2) == 0);
            ray_queries("b.vseg", metric);
            opened o;
            CHECK(open_seg(&o, "b.vseg") == 0);
            CHECK(vs_index_summary_count(o.ix) == vs_summary_count_for(N));
            int bad = 0, useful = 0;
            for (int q = 0; q < NQ; q++) {
                float lb = vs_index_lower_bound(o.ix, qs + q * D, qns[q]);
                float best = INFINITY;
                for (size_t r = 0; r < N; r++) {
                    float dd = vs_row_distance(&o.rows, qs + q * D, qns[q], r);
                    best = dd < best ? dd : best;
                }
                if (!(lb <= best)) {
                    if (bad++ < 3)
                        fprintf(stderr, "%s %s query %d: bound %.9g above the least distance %.9g\n",
                                metric_name(metric), kinds[kind], q, lb, best);
                }
                /* useful: within a factor (l2, cosine) or an offset (ip) of the truth */
                if (q >= 300 && q < 350 &&
                    (metric == VF_METRIC_IP ? lb >= best - 0.5f * fabsf(best) : lb >= 0.25f * best && lb > 0))
                    useful++;
            }
            CHECK_MSG(bad == 0, "%s %s: %d queries with a bound above their least distance", metric_name(metric),
                      kinds[kind], bad);
            /* the 50 far queries on clustered data: a bound that says something */
            if (kind != RANDOM && metric != VF_METRIC_COSINE)
                CHECK_MSG(useful >= 45, "%s %s: only %d useful bounds", metric_name(metric), kinds[kind], useful);
            close_seg(&o);
        }
}

/* The section's bytes (the caller frees), and its offset and length in the file. */
static uint8_t *read_summary(const char *name, uint64_t *off, uint64_t *len)
{
    vf_seg *s;
    vf_error err;
    if (vf_seg_open(&s, dirfd_, name, &err))
        return NULL;
    uint8_t *copy = NULL;
    for (size_t i = 0; i < vf_seg_nsections(s); i++) {
        const vf_section *sec = vf_seg_section_at(s, i);
        if (sec->type == VS_SEC_HNSW_SUMMARY) {
            *off = sec->offset;
            *len = sec->length;
            copy = malloc(sec->length);
            memcpy(copy, vf_seg_section(s, VS_SEC_HNSW_SUMMARY, NULL), sec->length);
        }
    }
    vf_seg_close(s);
    return copy;
}

static void test_deterministic(void)
{
    gen(CLUSTERED, VF_METRIC_L2, 5);
    CHECK(write_seg("t1.vseg", N, VF_METRIC_L2, 1) == 0);
    CHECK(write_seg("t2.vseg", N, VF_METRIC_L2, 2) == 0);
    uint64_t o1, l1, o2, l2;
    uint8_t *a = read_summary("t1.vseg", &o1, &l1), *b = read_summary("t2.vseg", &o2, &l2);
    CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0);
    /* the layout: version 1, c, dim, metric, then 20 + 4 c (dim + 1) bytes in all */
    uint32_t head[4];
    memcpy(head, a, sizeof head);
    CHECK(head[0] == 1 && head[1] == vs_summary_count_for(N) && head[2] == D && head[3] == VF_METRIC_L2);
    CHECK(l1 == 20 + 4ull * head[1] * (D + 1));
    free(a);
    free(b);
    /* c from the rows: 1 for a few rows, rows / 256, at most 64 */
    CHECK(vs_summary_count_for(0) == 0 && vs_summary_count_for(1) == 1 && vs_summary_count_for(511) == 1);
    CHECK(vs_summary_count_for(5120) == 20 && vs_summary_count_for(1u << 30) == 64);
}

static int copy_file(const char *from, const char *to)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cp %s %s", from, to);
    return system(cmd);
}

/* Writes len bytes of v at offset off of the summary (at soff, slen long) in name, and with
   fix the summary's own CRC after it, so only the field checks can see the damage. */
static void poke(const char *name, uint64_t soff, uint64_t slen, uint64_t off, const void *v, size_t len, int fix)
{
    uint8_t *sec = malloc(slen);
    int fd = open(name, O_RDWR);
    CHECK(fd >= 0 && pread(fd, sec, slen, (off_t)soff) == (ssize_t)slen);
    memcpy(sec + off, v, len);
    if (fix) {
        uint32_t crc = vf_crc32(0, sec, slen - 4);
        memcpy(sec + slen - 4, &crc, 4);
    }
    CHECK(pwrite(fd, sec, slen, (off_t)soff) == (ssize_t)slen);
    close(fd);
    free(sec);
}

/* Changes the summary's entry in the section table to type ty (and length len when not 0),
   with the footer's CRC fixed: an old writer's segment (ty unknown) or a bad length. */
static void retype(const char *name, uint32_t ty, uint64_t len)
{
    int fd = open(name, O_RDWR);
    uint8_t head[64];
    CHECK(fd >= 0 && pread(fd, head, 64, 0) == 64);
    uint64_t tab;
    uint32_t cnt;
    memcpy(&tab, head + 40, 8);
    memcpy(&cnt, head + 48, 4);
    uint8_t *t = malloc(64 + 32ull * cnt);
    memcpy(t, head, 64);
    CHECK(pread(fd, t + 64, 32ull * cnt, (off_t)tab) == (ssize_t)(32ull * cnt));
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t ty0;
        memcpy(&ty0, t + 64 + 32ull * i, 4);
        if (ty0 == VS_SEC_HNSW_SUMMARY) {
            memcpy(t + 64 + 32ull * i, &ty, 4);
            if (len)
                memcpy(t + 64 + 32ull * i + 16, &len, 8);
        }
    }
    uint32_t crc = vf_crc32(0, t, 64 + 32ull * cnt);
    CHECK(pwrite(fd, t + 64, 32ull * cnt, (off_t)tab) == (ssize_t)(32ull * cnt));
    CHECK(pwrite(fd, &crc, 4, (off_t)(tab + 32ull * cnt + 16)) == 4);
    close(fd);
    free(t);
}

static void test_damage(void)
{
    gen(CLUSTERED, VF_METRIC_L2, 11);
    CHECK(write_seg("d.vseg", N, VF_METRIC_L2, 2) == 0);
    uint64_t soff, slen;
    uint8_t *sec = read_summary("d.vseg", &soff, &slen);
    CHECK(sec != NULL);
    free(sec);
    uint32_t c = vs_summary_count_for(N);
    uint64_t rad = 16 + 4ull * c * D; /* the radii */
    uint32_t zero = 0, big = N + 1, v2 = 2, ip = VF_METRIC_IP, dim1 = D + 1;
    uint32_t nan = 0x7fc00000u, inf = 0x7f800000u, neg = 0xbf800000u, negz = 0x80000000u;
    struct {
        const char *what;
        uint64_t off;
        const void *v;
        int fix;
        int want;
    } cases[] = {
        {"a centre byte, crc not fixed", 20, &neg, 0, VF_ECORRUPT},
        {"the crc", slen - 4, &zero, 0, VF_ECORRUPT},
        {"version 2", 0, &v2, 1, VF_ECORRUPT},
        {"no centres", 4, &zero, 1, VF_ECORRUPT},
        {"more centres than rows", 4, &big, 1, VF_ECORRUPT},
        {"one centre fewer (length)", 4, &(uint32_t){c - 1}, 1, VF_ECORRUPT},
        {"dim", 8, &dim1, 1, VF_ECORRUPT},
        {"metric", 12, &ip, 1, VF_ECORRUPT},
        {"NaN centre", 16, &nan, 1, VF_ECORRUPT},
        {"NaN radius", rad, &nan, 1, VF_ECORRUPT},
        {"infinite radius", rad + 4, &inf, 1, VF_ECORRUPT},
        {"negative radius", rad, &neg, 1, VF_ECORRUPT},
        {"-0 radius (>= 0)", rad, &negz, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(copy_file("d.vseg", "bad.vseg") == 0);
        poke("bad.vseg", soff, slen, cases[i].off, cases[i].v, 4, cases[i].fix);
        opened o;
        int rc = open_seg(&o, "bad.vseg");
        CHECK_MSG(rc == cases[i].want, "%s: got %d", cases[i].what, rc);
        if (!rc)
            close_seg(&o);
    }
    /* a length that is not the one c and dim give, the summary's own CRC valid over it */
    CHECK(copy_file("d.vseg", "bad.vseg") == 0);
    retype("bad.vseg", VS_SEC_HNSW_SUMMARY, slen - 4);
    opened o;
    CHECK(open_seg(&o, "bad.vseg") == VF_ECORRUPT);
}

/* A segment whose writer knew no summaries: the section under a type readers skip. */
static void test_absent(void)
{
    gen(CLUSTERED, VF_METRIC_L2, 13);
    CHECK(write_seg("a.vseg", N, VF_METRIC_L2, 2) == 0);
    CHECK(copy_file("a.vseg", "old.vseg") == 0);
    retype("old.vseg", 200, 0);
    opened o;
    CHECK(open_seg(&o, "old.vseg") == 0);
    CHECK(vs_index_summary_count(o.ix) == 0);
    CHECK(vs_index_lower_bound(o.ix, qs, qns[0]) == -INFINITY);
    close_seg(&o);
    CHECK(open_seg(&o, "a.vseg") == 0);
    CHECK(vs_index_summary_count(o.ix) == vs_summary_count_for(N));
    close_seg(&o);
    /* FLAT: no index, no bound */
    CHECK(vs_index_lower_bound(NULL, qs, qns[0]) == -INFINITY && vs_index_summary_count(NULL) == 0);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_summary.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (chdir(dir)) {
        perror("chdir");
        return 1;
    }
    test_bound();
    test_deterministic();
    test_damage();
    test_absent();
    const char *names[] = {"b.vseg", "t1.vseg", "t2.vseg", "d.vseg", "bad.vseg", "a.vseg", "old.vseg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlinkat(dirfd_, names[i], 0);
    close(dirfd_);
    rmdir(dir);
    UNIT_DONE();
}
