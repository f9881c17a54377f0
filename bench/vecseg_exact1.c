/* bench/vecseg_exact1.c: vecseg's exact search one query at a time on one thread, the rate
 * bench/run holds against the memory-bandwidth limit.
 *
 *   vecseg_exact1 COLL TEST.fvecs NEIGHBORS.ivecs DISTANCES.fvecs K N RUNS
 *
 * Opens one snapshot of COLL (sealed FLAT segments), searches the first N queries of TEST
 * with one vs_search call each (threads = 1), and prints one TSV line: queries/s, seconds
 * of the best of RUNS passes, recall@K, and the read limit in queries/s. One query is
 * searched first, untimed, so the mapped rows are paged in. vec-query cannot show this
 * rate: given many queries it searches them together in sgemm blocks, and given one, its
 * start-up dominates.
 *
 * The read limit is the rate at which one thread merely reads the bytes each query must
 * read (rows x dim x 4: a buffer of that size summed with wide loads and prefetch), read
 * before every search, best of RUNS: measured beside the searches, on a shared machine the
 * two see the same load, and a buffer the size of the rows sits in the same level of the
 * cache hierarchy as they do (a 16 MB set reads from the L3 cache, faster than DRAM).
 *
 * Recall@K counts a returned row as a hit when it is among the true neighbours at most as
 * far as the K-th (ties are not misses), the rule of bench/peers.py and hnswlib_bench.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vecseg.h"

#define BENCH_TOOL "vecseg_exact1"
#include "vecs.h"

/* Sums the n floats at p (n a multiple of 256) as fast as one thread reads: four streams at
   once (the buffer's quarters: several streams keep more reads in flight than one), each
   with two vector sums (GCC vector extensions: the widest loads the target has) and a
   software prefetch ahead, as vecseg's kernels read four rows at once. */
typedef float vec4 __attribute__((vector_size(16)));

static float sum_floats(const float *p, size_t n)
{
    vec4 a[8] = {{0}};
    size_t quarter = n / 4;
    for (size_t i = 0; i < quarter; i += 16)
        for (int s = 0; s < 4; s++) {
            const float *x = p + (size_t)s * quarter + i;
            __builtin_prefetch(x + 2048, 0, 3);
            vec4 v[4];
            memcpy(v, x, sizeof v);
            a[2 * s] += v[0] + v[1];
            a[2 * s + 1] += v[2] + v[3];
        }
    vec4 t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    return t[0] + t[1] + t[2] + t[3];
}

int main(int argc, char **argv)
{
    if (argc != 8)
        die("usage: vecseg_exact1 COLL TEST.fvecs NEIGHBORS.ivecs DISTANCES.fvecs K N RUNS", NULL);
    size_t nq, dim, tq, tk, dq, dk;
    float *test = read_vecs(argv[2], &nq, &dim);
    int32_t *tn = read_vecs(argv[3], &tq, &tk);
    float *td = read_vecs(argv[4], &dq, &dk);
    size_t k = strtoul(argv[5], NULL, 10), n = strtoul(argv[6], NULL, 10);
    int runs = atoi(argv[7]);
    if (n == 0 || n > nq)
        n = nq;
    if (tq != nq || dq != nq || dk != tk || k == 0 || k > tk || runs < 1)
        die("queries, neighbours and distances do not match, or K > truth columns", NULL);
    vf_error err = {0};
    vs_snapshot *s;
    if (vs_snapshot_open(&s, argv[1], &err) != 0)
        die(err.msg, argv[1]);
    vs_search_opts o = {.k = k, .threads = 1};
    uint64_t *ids = malloc(n * k * sizeof *ids);
    float *dist = malloc(k * sizeof *dist);
    if (!ids || !dist)
        die("out of memory", NULL);
    if (vs_search(s, test, 1, &o, ids, dist, &err) != 0)
        die(err.msg, "search");
    size_t floats = ((size_t)vs_snapshot_rows(s) * dim + 255) / 256 * 256;
    float *buf = malloc(floats * sizeof *buf);
    if (!buf)
        die("out of memory", NULL);
    for (size_t i = 0; i < floats; i++) /* every page touched */
        buf[i] = (float)(i & 255);
    volatile float sink = 0;
    double best = 1e300, best_read = 1e300;
    for (int r = 0; r < runs; r++) {
        /* each query's search right after a read of as many bytes: the two alternate within
           milliseconds, so a load that comes and goes slows both alike */
        double secs = 0, rsecs = 0;
        for (size_t q = 0; q < n; q++) {
            double t0 = now();
            sink += sum_floats(buf, floats);
            double t1 = now();
            if (vs_search(s, test + q * dim, 1, &o, ids + q * k, dist, &err) != 0)
                die(err.msg, "search");
            double t2 = now();
            rsecs += t1 - t0;
            secs += t2 - t1;
        }
        best_read = rsecs < best_read ? rsecs : best_read;
        best = secs < best ? secs : best;
    }
    size_t hits = 0;
    for (size_t q = 0; q < n; q++) {
        float lim = td[q * tk + k - 1], tol = lim + 1e-4f * fabsf(lim) + 1e-6f;
        for (size_t j = 0; j < k; j++)
            for (size_t t = 0; t < tk && td[q * tk + t] <= tol; t++)
                if (ids[q * k + j] != VS_NO_ID && (uint64_t)tn[q * tk + t] == ids[q * k + j]) {
                    hits++;
                    break;
                }
    }
    printf("%.2f\t%.4f\t%.4f\t%.2f\n", (double)n / best, best, (double)hits / (double)(n * k), (double)n / best_read);
    vs_snapshot_close(s);
    free(ids);
    free(dist);
    free(test);
    free(tn);
    free(td);
    free(buf);
    return sink == -1.0f; /* never: keeps the sums */
}
