/*
 * test_search.c - ingest, seal and exact search through the library, checked
 * against an independent brute force in double precision, for every metric,
 * with deletes, upserts, several shards, and every split of the work
 * (threads, and shares merged as the fan-out merges them).  Also the checks every open of a file a
 * manifest names makes, and a snapshot whose files a concurrent seal removed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib_internal.h"
#include "unit.h"

#define N 3000
#define D 24
#define NQ 40
#define K 10

static float vecs[N * D], qs[NQ * D];
static uint64_t ids[N];
static int deleted[N];

static double rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0;
}

/* Reference distance in double, as SPEC.md section 9 defines it. */
static double ref_dist(int metric, const float *q, const float *x)
{
    double dot = 0, qq = 0, xx = 0, l2 = 0;
    for (int j = 0; j < D; j++) {
        dot += (double)q[j] * x[j];
        qq += (double)q[j] * q[j];
        xx += (double)x[j] * x[j];
        l2 += ((double)q[j] - x[j]) * ((double)q[j] - x[j]);
    }
    if (metric == VF_METRIC_L2)
        return sqrt(l2);
    if (metric == VF_METRIC_IP)
        return -dot;
    return qq > 0 && xx > 0 ? 1 - dot / sqrt(qq * xx) : 1;
}

/* Checks results against brute force: the k-th distance matches, every hit
   is live, its distance is right, and no live row nearer than the k-th is
   missing (ties may pick either row). */
static int check(int metric, const uint64_t *rid, const float *rd)
{
    int bad = 0;
    static double all[N];
    for (int q = 0; q < NQ; q++) {
        int live = 0;
        for (int i = 0; i < N; i++) {
            all[i] = deleted[i] ? INFINITY : ref_dist(metric, qs + q * D, vecs + i * D);
            live += !deleted[i];
        }
        double sorted[N];
        memcpy(sorted, all, sizeof sorted);
        for (int a = 0; a < K; a++) /* partial selection sort: the K smallest */
            for (int b = a + 1; b < N; b++)
                if (sorted[b] < sorted[a]) {
                    double t = sorted[a];
                    sorted[a] = sorted[b];
                    sorted[b] = t;
                }
        int want = live < K ? live : K;
        for (int j = 0; j < K; j++) {
            uint64_t id = rid[q * K + j];
            if (j >= want) {
                bad += id != VS_NO_ID;
                continue;
            }
            if (id == VS_NO_ID || id >= N || deleted[id]) {
                bad++;
                continue;
            }
            double tol = 1e-4 * (fabs(sorted[j]) + 1);
            bad += fabs(rd[q * K + j] - all[id]) > tol;
            bad += fabs(rd[q * K + j] - sorted[j]) > tol;
            if (j > 0)
                bad += rd[q * K + j] < rd[q * K + j - 1];
        }
    }
    return bad;
}

/* The search split into nshares shares of `threads` threads each, merged as the CLI's fan-out
   merges them (vs_hits_merge_lists), and reported. */
static int search_shares(vs_snapshot *s, int nshares, int threads, uint64_t *rid, float *rd)
{
    vs_search_opts so = {.k = K, .threads = threads};
    static vs_hit acc[NQ * K], one[NQ * K];
    vf_error e;
    for (int i = 0; i < nshares; i++) {
        if (vs_search_share(s, qs, NQ, &so, i, nshares, i ? one : acc, &e))
            return -1;
        if (i && vs_hits_merge_lists(acc, one, NQ, K, &e))
            return -1;
    }
    vs_hits_report(acc, NQ * K, vs_snapshot_manifest(s)->metric, rid, rd);
    return 0;
}

static void run_metric(int metric, const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/coll-%s", root, vf_metric_name(metric));
    vf_error e;
    vs_ingest *h;
    vs_ingest_opts o = {.dim = D, .metric = metric, .shards = 3, .create = 1};
    memset(deleted, 0, sizeof deleted);
    /* two transactions: rows 0..N/2 with automatic ids, the rest given */
    CHECK(vs_ingest_open(&h, path, &o, &e) == 0);
    CHECK(vs_ingest_add(h, N / 2, vecs, NULL, NULL, "a", 1, &e) == 0);
    CHECK(vs_ingest_commit(h, NULL, &e) == 0);
    CHECK(vs_ingest_open(&h, path, &o, &e) == 0);
    CHECK(vs_ingest_add(h, N - N / 2, vecs + (N / 2) * D, ids + N / 2, NULL, "b", 1, &e) == 0);
    CHECK(vs_ingest_commit(h, NULL, &e) == 0);
    /* a duplicate given id is refused and changes nothing */
    CHECK(vs_ingest_open(&h, path, &o, &e) == 0);
    CHECK(vs_ingest_add(h, 1, vecs, ids + 5, NULL, "c", 1, &e) == VF_EDUP);
    vs_ingest_abort(h);
    /* delete every seventh row */
    uint64_t del[N];
    size_t nd = 0;
    for (int i = 0; i < N; i += 7) {
        del[nd++] = (uint64_t)i;
        deleted[i] = 1;
    }
    CHECK(vs_ingest_open(&h, path, &o, &e) == 0);
    CHECK(vs_ingest_delete(h, nd, del, &e) == 0);
    CHECK(vs_ingest_commit(h, NULL, &e) == 0);

    uint64_t rid[NQ * K], rid2[NQ * K];
    float rd[NQ * K], rd2[NQ * K];
    for (int phase = 0; phase < 2; phase++) {
        vs_snapshot *s;
        CHECK(vs_snapshot_open(&s, path, &e) == 0);
        if (!s)
            return;
        vs_search_opts so = {.k = K, .threads = 1};
        CHECK(vs_search(s, qs, NQ, &so, rid, rd, &e) == 0);
        CHECK_MSG(check(metric, rid, rd) == 0, "%s phase %d: results differ from brute force", vf_metric_name(metric),
                  phase);
        /* any split of the work gives the same bytes: threads, shares, one query */
        const int splits[][2] = {{1, 2}, {1, 3}, {3, 1}, {2, 2}, {4, 3}}; /* shares, threads */
        for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
            CHECK(search_shares(s, splits[i][0], splits[i][1], rid2, rd2) == 0);
            CHECK_MSG(!memcmp(rid, rid2, sizeof rid) && !memcmp(rd, rd2, sizeof rd), "%s: split %zu differs",
                      vf_metric_name(metric), i);
        }
        for (int q = 0; q < 3; q++) {
            CHECK(vs_search(s, qs + q * D, 1, &so, rid2, rd2, &e) == 0);
            CHECK_MSG(!memcmp(rid + q * K, rid2, K * 8) && !memcmp(rd + q * K, rd2, K * 4),
                      "%s: single query %d differs from batch", vf_metric_name(metric), q);
        }
        vs_snapshot_close(s);
        vs_seal_opts seal = {.all = 1};
        vs_seal_report rep;
        if (phase == 0) {
            CHECK(vs_seal(path, &seal, &rep, &e) == 0);
            CHECK(rep.nplans == 3); /* one per shard */
            uint64_t kept = 0;
            for (size_t i = 0; i < rep.nplans; i++)
                kept += rep.plans[i].kept;
            CHECK(kept == N - nd); /* deleted rows purged */
            vs_seal_report_release(&rep);
        }
    }
    /* upsert: row 1 moves onto query 0; the query's nearest is then id 1 */
    uint64_t one = 1;
    vs_ingest_opts up = o;
    up.upsert = 1;
    CHECK(vs_ingest_open(&h, path, &up, &e) == 0);
    CHECK(vs_ingest_add(h, 1, qs, &one, NULL, "u", 1, &e) == 0);
    CHECK(vs_ingest_commit(h, NULL, &e) == 0);
    vs_snapshot *s;
    CHECK(vs_snapshot_open(&s, path, &e) == 0);
    vs_search_opts so = {.k = K, .threads = 1};
    CHECK(vs_search(s, qs, 1, &so, rid, rd, &e) == 0);
    CHECK(rid[0] == 1 && (metric != VF_METRIC_L2 || rd[0] == 0));
    int ones = 0;
    for (int j = 0; j < K; j++)
        ones += rid[j] == 1;
    CHECK(ones == 1); /* the old version of row 1 is gone */
    vs_snapshot_close(s);
}


/* ---- files a manifest names ------------------------------------------------ */

/* Ingests rows [from, from + n) of vecs as one transaction (ids from `from`;
   with keys, partition key id mod 3) into a collection of `shards` shards. */
static int ingest_into(const char *path, int from, int n, int keys, uint32_t shards)
{
    vs_ingest *h;
    vf_error e;
    vs_ingest_opts o = {.dim = D, .metric = VF_METRIC_L2, .shards = shards, .keys = keys, .create = 1};
    uint64_t kv[N];
    for (int i = 0; i < n; i++)
        kv[i] = (uint64_t)(from + i) % 3;
    int rc = vs_ingest_open(&h, path, &o, &e);
    if (rc == 0)
        rc = vs_ingest_add(h, (size_t)n, vecs + from * D, ids + from, keys ? kv : NULL, "t", 1, &e);
    if (rc == 0)
        rc = vs_ingest_commit(h, NULL, &e);
    else
        vs_ingest_abort(h);
    return rc;
}

static int ingest(const char *path, int from, int n, int keys)
{
    return ingest_into(path, from, n, keys, 1);
}

static int seal_all(const char *path, long grace)
{
    vs_seal_opts o = {0};
    o.all = 1;
    o.grace = grace;
    vs_seal_report rep;
    vf_error e;
    int rc = vs_seal(path, &o, &rep, &e);
    if (rc == 0)
        vs_seal_report_release(&rep);
    return rc;
}

/* A manifest line that disagrees with its file's header, field by field:
   VF_ECORRUPT naming the file and the field, from the one opener every
   reader and writer uses. */
static void test_manifest_checks(const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/checks", root);
    CHECK(ingest(path, 0, 100, 0) == 0);
    CHECK(seal_all(path, 600) == 0);
    CHECK(ingest(path, 100, 50, 0) == 0);
    vf_coll *c;
    vf_manifest m, x;
    vf_error e;
    CHECK(vf_coll_open(&c, path, &e) == 0 && vf_coll_snapshot(c, &m, &e) == 0);
    CHECK(m.nsealed == 1 && m.ngrowing == 1);
    vf_seg *seg;
    vf_log_view v;
    CHECK(vs_sealed_open(c, &m, 0, &seg, &e) == 0);
    vf_seg_close(seg);
    CHECK(vs_growing_map(c, &m, 0, &v, &e) == 0);
    vf_log_unmap(&v);
    for (int f = 0; f < 6; f++) {
        CHECK(vf_manifest_copy(&x, &m, &e) == 0);
        const char *field[] = {"dim", "metric", "shard", "partition keys", "row count", "size"};
        switch (f) {
        case 0: x.dim++; break;
        case 1: x.metric = VF_METRIC_IP; break;
        case 2: x.sealed[0].shard = 7; break;
        case 3: x.keys = 1; break;
        case 4: x.sealed[0].rows++; break;
        case 5: x.sealed[0].bytes -= 64; break;
        }
        seg = NULL;
        int rc = vs_sealed_open(c, &x, 0, &seg, &e);
        CHECK_MSG(rc == VF_ECORRUPT && seg == NULL && strstr(e.msg, x.sealed[0].file) && strstr(e.msg, field[f]) &&
                      strstr(e.msg, "in the manifest"),
                  "sealed %s: rc %d: %s", field[f], rc, e.msg);
        vf_manifest_release(&x);
    }
    for (int f = 0; f < 4; f++) {
        CHECK(vf_manifest_copy(&x, &m, &e) == 0);
        const char *field[] = {"dim", "shard", "partition keys", "shorter"};
        switch (f) {
        case 0: x.dim = D * 4; break; /* the reported defect: more floats per row than the log holds */
        case 1: x.growing[0].shard = 7; break;
        case 2: x.keys = 1; break;
        case 3: x.growing[0].length += 8; break;
        }
        int rc = vs_growing_map(c, &x, 0, &v, &e);
        CHECK_MSG(rc == VF_ECORRUPT && v.map == NULL && strstr(e.msg, x.growing[0].file) && strstr(e.msg, field[f]),
                  "growing %s: rc %d: %s", field[f], rc, e.msg);
        vf_manifest_release(&x);
    }
    /* rows the records hold against the manifest's count: the snapshot counts */
    CHECK(vf_manifest_copy(&x, &m, &e) == 0);
    x.growing[0].rows++;
    vf_coll *c2;
    vs_snapshot *s = NULL;
    CHECK(vf_coll_open(&c2, path, &e) == 0);
    int rc = vs_snapshot_build(&s, c2, &x, &e);
    CHECK_MSG(rc == VF_ECORRUPT && strstr(e.msg, "row count"), "growing rows: rc %d: %s", rc, e.msg);
    vf_manifest_release(&x);
    vf_manifest_release(&m);
    vf_coll_close(c);
}

/* The hook runs a seal with no grace between the snapshot's manifest read and
   its file opens: the files it names are gone, deterministically. */
static const char *hook_path;
static void seal_now(const char *path)
{
    (void)path;
    CHECK(seal_all(hook_path, 0) == 0);
}

/* A file of the snapshot removed by a newer generation is a retryable
   condition (VF_EBUSY saying so), a file the current manifest still names
   but that is missing is not; and once the snapshot is open, nothing a
   seal removes can fail the search. */
static void test_vanished(const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/vanish", root);
    hook_path = path;
    vf_error e;
    vs_snapshot *s = NULL;
    vs_search_opts so = {.k = K, .threads = 1};
    uint64_t rid[K];
    float rd[K];
    /* a growing log sealed away */
    CHECK(ingest(path, 0, 200, 0) == 0);
    vs_snapshot_test_hook = seal_now;
    int rc = vs_snapshot_open(&s, path, &e);
    vs_snapshot_test_hook = NULL;
    CHECK_MSG(rc == VF_EBUSY && strstr(e.msg, "g-00000001.log") && strstr(e.msg, "retry"), "log: rc %d: %s", rc, e.msg);
    /* two small sealed segments compacted away */
    CHECK(ingest(path, 200, 200, 0) == 0);
    CHECK(seal_all(path, 600) == 0);
    vs_snapshot_test_hook = seal_now;
    rc = vs_snapshot_open(&s, path, &e);
    vs_snapshot_test_hook = NULL;
    CHECK_MSG(rc == VF_EBUSY && strstr(e.msg, ".vseg") && strstr(e.msg, "retry"), "segment: rc %d: %s", rc, e.msg);
    /* the retry succeeds and sees every row */
    CHECK(vs_snapshot_open(&s, path, &e) == 0);
    CHECK(s && vs_snapshot_rows(s) == 400);
    uint64_t gen = s ? vs_snapshot_manifest(s)->generation : 0;
    /* an open snapshot survives a seal that removes its files */
    CHECK(ingest(path, 400, 50, 0) == 0);
    CHECK(seal_all(path, 0) == 0);
    CHECK(s && vs_search(s, qs, 1, &so, rid, rd, &e) == 0 && rid[K - 1] != VS_NO_ID);
    vs_snapshot_close(s);
    /* a generation garbage collection removed: retry with a newer one */
    rc = vs_snapshot_open_at(&s, path, gen, &e);
    CHECK_MSG(rc == VF_EBUSY && strstr(e.msg, "retry"), "generation: rc %d: %s", rc, e.msg);
    /* a file the current manifest names, missing: damage, not a retry */
    vf_coll *c;
    vf_manifest m;
    CHECK(vf_coll_open(&c, path, &e) == 0 && vf_coll_snapshot(c, &m, &e) == 0);
    CHECK(m.nsealed >= 1 && unlinkat(vf_coll_dirfd(c), m.sealed[0].file, 0) == 0);
    rc = vs_snapshot_open(&s, path, &e);
    CHECK_MSG(rc == VF_ENOENT && strstr(e.msg, m.sealed[0].file), "missing: rc %d: %s", rc, e.msg);
    vf_manifest_release(&m);
    vf_coll_close(c);
}

/* Searches s and counts hits whose partition key (id mod 3) is not key. */
static int foreign_hits(vs_snapshot *s, uint64_t key, uint64_t *rid, float *rd)
{
    vf_error e;
    vs_search_opts so = {.k = K, .threads = 1};
    if (vs_search(s, qs, NQ, &so, rid, rd, &e) != 0)
        return -1;
    int bad = 0;
    for (int i = 0; i < NQ * K; i++)
        bad += rid[i] != VS_NO_ID && rid[i] % 3 != key;
    return bad;
}

/* A node's selection and a tenant's filter combine in either order: neither
   brings back what the other left out (a shard without the tenant's rows). */
static void test_restrictions(const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tenants", root);
    CHECK(ingest_into(path, 0, 600, 1, 4) == 0);
    CHECK(seal_all(path, 600) == 0);
    CHECK(ingest_into(path, 600, 300, 1, 4) == 0);
    vf_error e;
    vs_snapshot *a = NULL, *b = NULL;
    const uint64_t key = 1;
    CHECK(vs_snapshot_open(&a, path, &e) == 0 && vs_snapshot_open(&b, path, &e) == 0);
    if (!a || !b)
        return;
    const vf_manifest *m = vs_snapshot_manifest(a);
    const char *files[64];
    size_t nf = 0;
    for (size_t i = 0; i < m->nsealed && nf < 64; i++)
        files[nf++] = m->sealed[i].file;
    for (size_t i = 0; i < m->ngrowing && nf < 64; i++)
        files[nf++] = m->growing[i].file;
    CHECK(vs_snapshot_filter_keys(a, &key, 1, &e) == 0 && vs_snapshot_select(a, files, nf, &e) == 0);
    CHECK(vs_snapshot_select(b, files, nf, &e) == 0 && vs_snapshot_filter_keys(b, &key, 1, &e) == 0);
    static uint64_t ra[NQ * K], rb[NQ * K];
    static float da[NQ * K], db[NQ * K];
    CHECK_MSG(foreign_hits(a, key, ra, da) == 0, "filter, then select: other tenants' rows came back");
    CHECK(foreign_hits(b, key, rb, db) == 0);
    CHECK(!memcmp(ra, rb, sizeof ra) && !memcmp(da, db, sizeof da));
    CHECK(vs_snapshot_rows(a) == 900);
    vs_snapshot_close(a);
    vs_snapshot_close(b);
}

/* ---- how a batch is split over threads --------------------------------------- */

/* A batch over path searched on 1 to 6 threads, and query by query: the same bytes. */
static void compare_splits(const char *path, const char *what)
{
    vf_error e;
    vs_snapshot *s;
    CHECK(vs_snapshot_open(&s, path, &e) == 0);
    if (!s)
        return;
    uint64_t rid[NQ * K], rid2[NQ * K];
    float rd[NQ * K], rd2[NQ * K];
    vs_search_opts so = {.k = K, .threads = 1, .ef = 12};
    CHECK(vs_search(s, qs, NQ, &so, rid, rd, &e) == 0);
    for (int t = 2; t <= 6; t++) {
        so.threads = t;
        CHECK(vs_search(s, qs, NQ, &so, rid2, rd2, &e) == 0);
        CHECK_MSG(!memcmp(rid, rid2, sizeof rid) && !memcmp(rd, rd2, sizeof rd), "%s: %d threads differ", what, t);
    }
    so.threads = 1;
    for (int q = 0; q < NQ; q += 7) {
        CHECK(vs_search(s, qs + q * D, 1, &so, rid2, rd2, &e) == 0);
        CHECK_MSG(!memcmp(rid + q * K, rid2, K * 8) && !memcmp(rd + q * K, rd2, K * 4),
                  "%s: single query %d differs from batch", what, q);
    }
    vs_snapshot_close(s);
}

/* An HNSW segment alone, then beside growing rows: a batch searches the index in small
   chunks of queries the workers claim, with scratch kept per worker, and scans the growing
   rows a thread's block at a time (search.c share_search); no split changes the answer. */
static void test_split_indexed(const char *root)
{
    char path[512];
    snprintf(path, sizeof path, "%s/coll-split", root);
    vf_error e;
    CHECK(ingest(path, 0, 2000, 0) == 0);
    vs_seal_opts o = {.all = 1, .index = "hnsw"};
    vs_seal_report rep;
    CHECK(vs_seal(path, &o, &rep, &e) == 0);
    CHECK(rep.nplans == 1 && !strcmp(rep.plans[0].index, "hnsw"));
    vs_seal_report_release(&rep);
    compare_splits(path, "hnsw alone");
    CHECK(ingest(path, 2000, N - 2000, 0) == 0);
    compare_splits(path, "hnsw and growing rows");
}

int main(void)
{
    unsigned seed = 12345;
    for (int i = 0; i < N * D; i++)
        vecs[i] = (float)(rnd(&seed) * 2 - 1);
    for (int i = 0; i < NQ * D; i++)
        qs[i] = (float)(rnd(&seed) * 2 - 1);
    memcpy(vecs + 17 * D, vecs + 3 * D, D * sizeof(float)); /* exact ties */
    for (int i = 0; i < N; i++)
        ids[i] = (uint64_t)i;
    char root[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/vecseg-search-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        return 2;
    run_metric(VF_METRIC_L2, root);
    run_metric(VF_METRIC_IP, root);
    run_metric(VF_METRIC_COSINE, root);
    test_manifest_checks(root);
    test_vanished(root);
    test_restrictions(root);
    test_split_indexed(root);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        return 2;
    UNIT_DONE();
}
