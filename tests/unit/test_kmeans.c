/*
 * test_kmeans.c - k-means and its helpers (lib/index/ivf/kmeans.c): separated
 * clusters are found, the result is deterministic for a seed whatever the
 * thread count, assignment matches a double-precision brute force, empty
 * clusters and tiny inputs are handled, and sampling is uniform and sorted
 * (the distance tables and argmin are test_simd.c's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd/distance.h"
#include "index/ivf/kmeans.h"
#include "unit.h"

#define N 6000
#define D 24
#define C 12

static float x[N * D], centres[C * D];
static int truth[N];

static uint64_t st;

static double urand(void)
{
    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(st >> 11) / 9007199254740992.0;
}

/* C centres far apart (coordinates in [-10, 10]), rows within 0.5 of one. */
static void gen(void)
{
    st = 99;
    for (int i = 0; i < C * D; i++)
        centres[i] = (float)(20 * urand() - 10);
    for (int i = 0; i < N; i++) {
        truth[i] = i % C;
        for (int t = 0; t < D; t++)
            x[i * D + t] = centres[truth[i] * D + t] + (float)(urand() - 0.5);
    }
}

static double l2d(const float *a, const float *b, int d)
{
    double s = 0;
    for (int t = 0; t < d; t++)
        s += ((double)a[t] - b[t]) * ((double)a[t] - b[t]);
    return s;
}

static void test_clusters(int init)
{
    static float cent[C * D];
    vs_kmeans_params p = {.k = C, .iters = 30, .max_per_centroid = N / C, .init = init, .seed = 1, .threads = 2};
    vs_kmeans_stats s;
    static uint32_t asg[N];
    CHECK(vs_kmeans_train(x, N, D, &p, cent, &s, asg, NULL) == 0);
    CHECK(s.train_rows == N && s.iterations >= 1 && s.assigned);
    /* k-means++ finds every true centre (a centroid within 0.15) and puts
       the rows of one true cluster together; random seeding may put two
       seeds in one cluster and none in another, a local minimum Lloyd
       keeps, so it only has to find most */
    int matched = 0;
    for (int c = 0; c < C; c++) {
        double best = INFINITY;
        for (int j = 0; j < C; j++) {
            double v = l2d(centres + c * D, cent + j * D, D);
            best = v < best ? v : best;
        }
        matched += best < 0.02;
    }
    CHECK_MSG(matched >= (init == VS_KMEANS_PLUSPLUS ? C : C / 4), "init %d: %d of %d centres found", init,
              matched, C);
    int consistent = 1;
    for (int i = C; i < N; i++)
        consistent &= asg[i] == asg[i % C];
    CHECK(consistent || init != VS_KMEANS_PLUSPLUS);
    /* the returned assignment is the nearest centroid for the returned ones */
    static uint32_t a2[N];
    CHECK(vs_kmeans_assign(x, N, D, cent, C, 1, a2, NULL, NULL) == 0);
    CHECK(memcmp(asg, a2, sizeof a2) == 0);
    /* objective: about N * D / 12 for uniform noise of width 1 */
    if (init == VS_KMEANS_PLUSPLUS)
        CHECK_MSG(s.objective < N * D / 12.0 * 1.1, "objective %g", s.objective);
}

static void test_determinism(void)
{
    static float c1[64 * D], c2[64 * D], c3[64 * D];
    vs_kmeans_params p = {.k = 64, .iters = 8, .max_per_centroid = 50, .seed = 7, .threads = 1};
    vs_kmeans_stats s;
    CHECK(vs_kmeans_train(x, N, D, &p, c1, &s, NULL, NULL) == 0);
    CHECK(s.train_rows == 64 * 50);
    p.threads = 2;
    CHECK(vs_kmeans_train(x, N, D, &p, c2, NULL, NULL, NULL) == 0);
    CHECK(memcmp(c1, c2, sizeof c1) == 0);
    p.threads = 3;
    CHECK(vs_kmeans_train(x, N, D, &p, c2, NULL, NULL, NULL) == 0);
    CHECK(memcmp(c1, c2, sizeof c1) == 0);
    p.seed = 8;
    CHECK(vs_kmeans_train(x, N, D, &p, c3, NULL, NULL, NULL) == 0);
    CHECK(memcmp(c1, c3, sizeof c1) != 0);
    /* a large d takes the sgemm path, a small one the table path */
    static float big[500 * 80], cb1[20 * 80], cb2[20 * 80];
    st = 5;
    for (int i = 0; i < 500 * 80; i++)
        big[i] = (float)urand();
    vs_kmeans_params q = {.k = 20, .iters = 5, .seed = 3, .threads = 1, .init = VS_KMEANS_PLUSPLUS};
    CHECK(vs_kmeans_train(big, 500, 80, &q, cb1, NULL, NULL, NULL) == 0);
    q.threads = 2;
    CHECK(vs_kmeans_train(big, 500, 80, &q, cb2, NULL, NULL, NULL) == 0);
    CHECK(memcmp(cb1, cb2, sizeof cb1) == 0);
}

/* Assignment against double brute force, for both paths (d = 4 tables,
   d = 80 sgemm); a disagreement is allowed only on a near tie. */
static void test_assign(void)
{
    for (int pass = 0; pass < 2; pass++) {
        int d = pass ? 80 : 4, n = 1000, k = pass ? 300 : 256;
        float *xs = malloc((size_t)n * d * 4), *cs = malloc((size_t)k * d * 4), *dist = malloc(n * 4);
        uint32_t *a = malloc(n * 4);
        st = 11 + pass;
        for (int i = 0; i < n * d; i++)
            xs[i] = (float)urand();
        for (int i = 0; i < k * d; i++)
            cs[i] = (float)urand();
        CHECK(vs_kmeans_assign(xs, n, d, cs, k, 2, a, dist, NULL) == 0);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            double best = INFINITY;
            for (int j = 0; j < k; j++) {
                double v = l2d(xs + i * d, cs + j * d, d);
                best = v < best ? v : best;
            }
            double got = l2d(xs + i * d, cs + a[i] * d, d);
            bad += got > best + 1e-4 * (1 + best) || fabs(dist[i] - got) > 1e-3 * (1 + got);
        }
        CHECK_MSG(bad == 0, "d %d: %d rows misassigned", d, bad);
        free(xs);
        free(cs);
        free(dist);
        free(a);
    }
}

/* Duplicated rows force empty clusters; tiny inputs give the rows back. */
static void test_degenerate(void)
{
    static float dup[300 * 3], cent[10 * 3];
    for (int i = 0; i < 300; i++)
        for (int t = 0; t < 3; t++)
            dup[i * 3 + t] = (float)(i % 3) + (float)t;
    vs_kmeans_params p = {.k = 10, .iters = 10, .seed = 1, .threads = 2};
    CHECK(vs_kmeans_train(dup, 300, 3, &p, cent, NULL, NULL, NULL) == 0);
    int finite = 1;
    for (int i = 0; i < 30; i++)
        finite &= isfinite(cent[i]);
    CHECK(finite);
    /* n <= k: centroid j is row j mod n */
    float two[2 * 3] = {1, 2, 3, 4, 5, 6};
    uint32_t a[2];
    vs_kmeans_stats s;
    CHECK(vs_kmeans_train(two, 2, 3, &p, cent, &s, a, NULL) == 0);
    CHECK(memcmp(cent, two, sizeof two) == 0 && memcmp(cent + 6, two, sizeof two) == 0);
    CHECK(s.assigned && a[0] == 0 && a[1] == 1);
    /* n == 0: zeros; k == 0: refused */
    CHECK(vs_kmeans_train(two, 0, 3, &p, cent, NULL, NULL, NULL) == 0 && cent[0] == 0);
    p.k = 0;
    CHECK(vs_kmeans_train(two, 2, 3, &p, cent, NULL, NULL, NULL) == VF_EARG);
}

static void test_sample(void)
{
    static uint32_t s[1000];
    static int count[100];
    for (int rep = 0; rep < 2000; rep++) {
        vs_sample_rows(100, 10, (uint64_t)rep, s);
        int ok = 1;
        for (int i = 0; i < 10; i++) {
            ok &= s[i] < 100 && (i == 0 || s[i] > s[i - 1]);
            count[s[i]]++;
        }
        CHECK(ok);
    }
    int lo = 1 << 30, hi = 0; /* each row expected 200 times */
    for (int i = 0; i < 100; i++) {
        lo = count[i] < lo ? count[i] : lo;
        hi = count[i] > hi ? count[i] : hi;
    }
    CHECK_MSG(lo > 140 && hi < 260, "counts %d..%d", lo, hi);
    vs_sample_rows(1000, 1000, 1, s);
    int all = 1;
    for (int i = 0; i < 1000; i++)
        all &= s[i] == (uint32_t)i;
    CHECK(all);
}

int main(void)
{
    gen();
    test_clusters(VS_KMEANS_RANDOM);
    test_clusters(VS_KMEANS_PLUSPLUS);
    test_determinism();
    test_assign();
    test_degenerate();
    test_sample();
    UNIT_DONE();
}
