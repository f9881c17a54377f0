/*
 * test_topk.c - vs_topk against sorting every hit, vs_hits_merge against a brute-force union.
 *
 * Distances are drawn from a few values so ties (broken by id) are everywhere.  The merge is
 * checked for deduplication across and within lists, padding, k larger than the inputs, the
 * scan and hash-table paths (k <= 64, k > 64, k > 1024), commutativity and associativity.
 * The hit-list calls on top: vs_hits_merge_lists against vs_hits_merge list by list (lists
 * padded to k, so no count is passed), vs_hits_report's ids and distances, and hit lists
 * through a partial result and back.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "search/topk.h"
#include "unit.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_hit(const void *x, const void *y)
{
    const vs_hit *a = x, *b = y;
    return vs_hit_before(a, b) ? -1 : vs_hit_before(b, a) ? 1 : 0;
}

static int same_hit(const vs_hit *a, const vs_hit *b)
{
    return a->id == b->id && a->pad == b->pad &&
           (a->dist == b->dist || (isinf(a->dist) && isinf(b->dist)));
}

/* A distance from a small set (many ties), sometimes a fractional one. */
static float rand_dist(int levels)
{
    uint64_t r = next();
    if (r % 5 == 0)
        return (float)(r >> 8 & 0xffff) / 1024.0f;
    return (float)((r >> 8) % (uint64_t)levels);
}

static void test_topk_vs_sort(void)
{
    static const size_t ks[] = {0, 1, 2, 3, 5, 10, 64, 100, 1000};
    static const size_t ns[] = {0, 1, 2, 9, 10, 11, 100, 999, 1000, 1001, 5000};
    vs_hit *all = malloc(5000 * sizeof *all), *buf = malloc(1000 * sizeof *buf);
    int bad = 0;
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (int levels = 1; levels <= 100; levels *= 10) {
                size_t k = ks[ki], n = ns[ni];
                vs_topk t;
                vs_topk_init(&t, buf, k);
                CHECK(vs_topk_bound(&t) == (k ? INFINITY : -INFINITY));
                for (size_t i = 0; i < n; i++) {
                    /* unique ids in a scrambled order */
                    uint64_t id = (i * 2654435761u) % 1000003u + (next() % 2) * 2000000u;
                    all[i] = (vs_hit){rand_dist(levels), 0, id};
                    vs_topk_push(&t, all[i].dist, all[i].id);
                    if (i % 7 == 0)
                        vs_topk_push(&t, NAN, i); /* ignored */
                }
                qsort(all, n, sizeof *all, cmp_hit);
                size_t want = n < k ? n : k;
                if (t.n != want) {
                    bad++;
                    continue;
                }
                if (k && n >= k && vs_topk_bound(&t) != all[k - 1].dist)
                    bad++;
                if (k && n < k && vs_topk_bound(&t) != INFINITY)
                    bad++;
                vs_topk_sort(&t);
                for (size_t i = 0; i < want; i++)
                    if (!same_hit(&t.h[i], &all[i])) {
                        bad++;
                        break;
                    }
            }
    CHECK_MSG(bad == 0, "%d top-k results differ from a full sort", bad);

    /* A tie at the bound: the smaller id enters, the larger stays out. */
    vs_topk t;
    vs_topk_init(&t, buf, 2);
    vs_topk_push(&t, 1.0f, 10);
    vs_topk_push(&t, 2.0f, 20);
    vs_topk_push(&t, 2.0f, 30);
    vs_topk_push(&t, 2.0f, 15);
    vs_topk_push(&t, 3.0f, 1);
    vs_topk_sort(&t);
    CHECK(t.n == 2 && t.h[0].id == 10 && t.h[1].id == 15 && t.h[1].dist == 2.0f);

    /* +INF distances are kept while there is room; k == 0 keeps nothing, even -INF. */
    vs_topk_init(&t, buf, 3);
    vs_topk_push(&t, INFINITY, 5);
    vs_topk_push(&t, 0.5f, 7);
    vs_topk_sort(&t);
    CHECK(t.n == 2 && t.h[0].id == 7 && t.h[1].id == 5);
    vs_topk_init(&t, buf, 0);
    vs_topk_push(&t, -INFINITY, 1);
    vs_topk_sort(&t);
    CHECK(t.n == 0);
    free(all);
    free(buf);
}

/* The best k of the union with each id at its smallest distance, padded: the definition. */
static size_t ref_merge(const vs_hit *a, size_t na, const vs_hit *b, size_t nb, vs_hit *out,
                        size_t k)
{
    vs_hit *u = malloc((na + nb + 1) * sizeof *u);
    size_t nu = 0;
    for (size_t s = 0; s < 2; s++) {
        const vs_hit *l = s ? b : a;
        size_t nl = s ? nb : na;
        for (size_t i = 0; i < nl; i++) {
            if (l[i].id == VS_NO_ID)
                continue;
            size_t j = 0;
            while (j < nu && u[j].id != l[i].id)
                j++;
            if (j == nu)
                u[nu++] = (vs_hit){l[i].dist, 0, l[i].id};
            else if (l[i].dist < u[j].dist)
                u[j].dist = l[i].dist;
        }
    }
    qsort(u, nu, sizeof *u, cmp_hit);
    size_t m = nu < k ? nu : k;
    for (size_t i = 0; i < k; i++)
        out[i] = i < m ? u[i] : (vs_hit){INFINITY, 0, VS_NO_ID};
    free(u);
    return m;
}

/* A sorted list of n hits with ids from [0, idrange); dups: ids may repeat in the list.
   pad: append up to that many missing hits, as a padded partial result has. */
static size_t rand_list(vs_hit *l, size_t n, uint64_t idrange, int levels, int dups, size_t pad)
{
    size_t m = 0;
    while (m < n) {
        uint64_t id = next() % idrange;
        int seen = 0;
        for (size_t j = 0; j < m && !dups; j++)
            seen |= l[j].id == id;
        if (seen && m < idrange)
            continue;
        l[m++] = (vs_hit){rand_dist(levels), 0, id};
    }
    qsort(l, m, sizeof *l, cmp_hit);
    for (size_t p = 0; p < pad; p++)
        l[m++] = (vs_hit){INFINITY, 0, VS_NO_ID};
    return m;
}

static int same_list(const vs_hit *a, const vs_hit *b, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (!same_hit(&a[i], &b[i]))
            return 0;
    return 1;
}

static void test_merge(void)
{
    static const size_t ks[] = {0, 1, 2, 5, 10, 64, 65, 200, 1000, 1500};
    size_t cap = 8000;
    vs_hit *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b), *c = malloc(cap * sizeof *c);
    vs_hit *ab = malloc(cap * sizeof *ab), *ba = malloc(cap * sizeof *ba);
    vs_hit *bc = malloc(cap * sizeof *bc), *l = malloc(cap * sizeof *l);
    vs_hit *r = malloc(cap * sizeof *r), *want = malloc(cap * sizeof *want);
    int bad_ref = 0, bad_comm = 0, bad_assoc = 0, bad_count = 0, bad_sorted = 0;

    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (int round = 0; round < (ks[ki] >= 1000 ? 8 : 40); round++) {
            size_t k = ks[ki];
            /* sizes below, at and above k; ids overlapping heavily across lists */
            size_t base = k ? k : 3;
            size_t sa = next() % (2 * base + 1), sb = next() % (2 * base + 1),
                   sc = next() % (base + 2);
            uint64_t idrange = 1 + next() % (3 * base + 2);
            int levels = 1 + (int)(next() % 20);
            int dups = round % 4 == 3;
            size_t na = rand_list(a, sa, idrange, levels, dups, round % 3 == 0 ? 3 : 0);
            size_t nb = rand_list(b, sb, idrange, levels, dups, 0);
            size_t nc = rand_list(c, sc, idrange, levels, dups, round % 5 == 0 ? k : 0);

            size_t m = vs_hits_merge(a, na, b, nb, ab, k);
            size_t mref = ref_merge(a, na, b, nb, want, k);
            if (m != mref || !same_list(ab, want, k))
                bad_ref++;
            for (size_t i = 0; i < m; i++)
                if (ab[i].id == VS_NO_ID || (i && !vs_hit_before(&ab[i - 1], &ab[i])))
                    bad_sorted++;
            size_t mba = vs_hits_merge(b, nb, a, na, ba, k);
            if (mba != m || !same_list(ab, ba, k))
                bad_comm++;

            /* (a+b)+c == a+(b+c) == the reference over all three */
            size_t m1 = vs_hits_merge(ab, k, c, nc, l, k);
            vs_hits_merge(b, nb, c, nc, bc, k);
            size_t m2 = vs_hits_merge(a, na, bc, k, r, k);
            if (m1 != m2 || !same_list(l, r, k))
                bad_assoc++;
            /* reference over all three: concatenate b and c (ref_merge ignores order) */
            memcpy(bc, b, nb * sizeof *b);
            memcpy(bc + nb, c, nc * sizeof *c);
            size_t m3 = ref_merge(a, na, bc, nb + nc, want, k);
            if (m3 != m1 || !same_list(l, want, k))
                bad_ref++;
            if (m > k)
                bad_count++;
        }
    CHECK_MSG(bad_ref == 0, "%d merges differ from the reference", bad_ref);
    CHECK_MSG(bad_sorted == 0, "%d merged lists not strictly ascending", bad_sorted);
    CHECK_MSG(bad_comm == 0, "%d merges not commutative", bad_comm);
    CHECK_MSG(bad_assoc == 0, "%d merges not associative", bad_assoc);
    CHECK(bad_count == 0);

    /* Hand-made: a duplicate keeps its smaller distance, k beyond the inputs is padded. */
    vs_hit x[] = {{1.0f, 0, 7}, {2.0f, 0, 3}, {5.0f, 0, 9}};
    vs_hit y[] = {{1.5f, 0, 3}, {2.0f, 0, 8}, {4.0f, 0, 7}};
    vs_hit o[6];
    memset(o, 0xab, sizeof o);
    size_t m = vs_hits_merge(x, 3, y, 3, o, 6);
    CHECK(m == 4);
    CHECK(o[0].id == 7 && o[0].dist == 1.0f);
    CHECK(o[1].id == 3 && o[1].dist == 1.5f);
    CHECK(o[2].id == 8 && o[2].dist == 2.0f);
    CHECK(o[3].id == 9 && o[3].dist == 5.0f);
    CHECK(o[4].id == VS_NO_ID && isinf(o[4].dist) && o[4].dist > 0 && o[4].pad == 0);
    CHECK(o[5].id == VS_NO_ID && isinf(o[5].dist) && o[5].pad == 0);
    m = vs_hits_merge(x, 3, y, 3, o, 2);
    CHECK(m == 2 && o[0].id == 7 && o[1].id == 3);
    m = vs_hits_merge(NULL, 0, NULL, 0, o, 3);
    CHECK(m == 0 && o[0].id == VS_NO_ID && o[2].id == VS_NO_ID);
    m = vs_hits_merge(x, 3, NULL, 0, o, 3);
    CHECK(m == 3 && same_list(o, x, 3));
    /* equal ties across lists: the smaller id first, the same hit twice kept once */
    vs_hit p[] = {{1.0f, 0, 4}, {1.0f, 0, 6}};
    vs_hit q[] = {{1.0f, 0, 5}, {1.0f, 0, 6}};
    m = vs_hits_merge(p, 2, q, 2, o, 4);
    CHECK(m == 3 && o[0].id == 4 && o[1].id == 5 && o[2].id == 6 && o[3].id == VS_NO_ID);

    free(a);
    free(b);
    free(c);
    free(ab);
    free(ba);
    free(bc);
    free(l);
    free(r);
    free(want);
}

static void test_hit_lists(void)
{
    enum { NQ = 7 };
    const size_t ks[] = {1, 5, 64, 200};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        size_t k = ks[ki];
        vs_hit *acc = malloc(NQ * k * sizeof *acc), *b = malloc(NQ * k * sizeof *b);
        vs_hit *want = malloc(NQ * k * sizeof *want);
        /* lists of 0..k real hits, padded to k, as a share writes them */
        for (size_t q = 0; q < NQ; q++) {
            size_t na = next() % (k + 1), nb = q == 0 ? 0 : next() % (k + 1);
            rand_list(acc + q * k, na, 3 * k, 4, 0, k - na);
            rand_list(b + q * k, nb, 3 * k, 4, 0, k - nb);
            vs_hits_merge(acc + q * k, na, b + q * k, nb, want + q * k, k);
        }
        CHECK(vs_hits_merge_lists(acc, b, NQ, k, NULL) == 0);
        CHECK_MSG(same_list(acc, want, NQ * k), "k=%zu: merge_lists differs from counted merges", k);
        /* merging the lists a second time changes nothing (ids are kept once) */
        CHECK(vs_hits_merge_lists(acc, b, NQ, k, NULL) == 0);
        CHECK_MSG(same_list(acc, want, NQ * k), "k=%zu: merging again changed the lists", k);
        /* an empty accumulator merged with b is b */
        vs_hits_clear(acc, NQ * k);
        CHECK(vs_hits_merge_lists(acc, b, NQ, k, NULL) == 0);
        CHECK_MSG(same_list(acc, b, NQ * k), "k=%zu: cleared lists merged with b are not b", k);
        free(acc);
        free(b);
        free(want);
    }

    /* report: ids as they are, distances as the metric reports them, missing hits +inf */
    vs_hit h[3] = {{4.0f, 0, 7}, {9.0f, 0, 3}, {INFINITY, 0, VS_NO_ID}};
    uint64_t ids[3];
    float dist[3];
    vs_hits_report(h, 3, VF_METRIC_L2, ids, dist);
    CHECK(ids[0] == 7 && ids[1] == 3 && ids[2] == VS_NO_ID);
    CHECK(dist[0] == 2.0f && dist[1] == 3.0f && isinf(dist[2]));
    h[0].dist = -5.0f;
    vs_hits_report(h, 3, VF_METRIC_IP, ids, dist);
    CHECK(dist[0] == -5.0f && dist[1] == 9.0f && isinf(dist[2]));

    /* hit lists through a partial result and back, as worker processes send them */
    enum { PK = 4 };
    vs_hit out[2 * PK], *back = NULL;
    rand_list(out, 3, 100, 4, 0, PK - 3);
    rand_list(out + PK, PK, 100, 4, 0, 0);
    vf_partial_hdr hd = {VF_METRIC_COSINE, 2, PK, 42}, got;
    int fd = memfd_create("partial", 0);
    CHECK(fd >= 0 && vs_hits_write_partial(fd, &hd, out, "memfd", NULL) == 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(vs_hits_read_partial(fd, &got, &back, "memfd", NULL) == 0);
    CHECK(back && got.nq == 2 && got.k == PK && got.metric == VF_METRIC_COSINE && got.generation == 42);
    CHECK(back && same_list(back, out, 2 * PK));
    free(back);
    close(fd);
}

int main(void)
{
    CHECK(sizeof(vs_hit) == 16);
    test_topk_vs_sort();
    test_merge();
    test_hit_lists();
    UNIT_DONE();
}
