/* bench/summary_skip.c: what HNSW segment summaries (SPEC.md 5.5.1 HNSW_SUMMARY) save a
 * search: the same queries with skipping on and off (VECSEG_SUMMARY), side by side.
 *
 *   summary_skip COLL QUERIES.fvecs [TRUTH.ivecs] K EF RUNS
 *
 * Opens one snapshot of COLL and searches every query of QUERIES with one vs_search call
 * of the whole set on one thread, RUNS times each with skipping on and off (which goes first
 * alternates), and prints per mode the best
 * queries/s, then the share of segment searches skipped, whether the two modes returned the
 * same ids and distances, and recall@K against TRUTH (a returned row counts when it is among
 * the first K true neighbours).  Built against build/libvecseg.a (it reads the skip counts,
 * an internal call): see bench/README.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VECSEG_STATIC_LINKING_ONLY
#include "vecseg.h"

void vs_search_summary_counts(unsigned long long *searched, unsigned long long *skipped); /* search.c */

#define BENCH_TOOL "summary_skip"
#include "vecs.h"

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7)
        die("usage: summary_skip COLL QUERIES.fvecs [TRUTH.ivecs] K EF RUNS", NULL);
    int a = argc == 7 ? 4 : 3;
    size_t nq, dim, tq = 0, tk = 0;
    float *qs = read_vecs(argv[2], &nq, &dim);
    int32_t *truth = argc == 7 ? read_vecs(argv[3], &tq, &tk) : NULL;
    size_t k = strtoul(argv[a], NULL, 10);
    uint32_t ef = (uint32_t)strtoul(argv[a + 1], NULL, 10);
    int runs = atoi(argv[a + 2]);
    if (truth && (tq != nq || tk < k))
        die("truth does not match the queries", NULL);
    vf_error err = {0};
    vs_snapshot *s;
    if (vs_snapshot_open(&s, argv[1], &err) != 0)
        die(err.msg, argv[1]);
    vs_search_opts o = {.k = k, .ef = ef, .threads = 1};
    uint64_t *ids[2] = {malloc(nq * k * 8), malloc(nq * k * 8)};
    float *dist[2] = {malloc(nq * k * 4), malloc(nq * k * 4)};
    double best[2] = {1e300, 1e300};
    unsigned long long searched[2] = {0, 0}, skipped[2] = {0, 0};
    for (int r = 0; r < runs; r++)
        for (int m = 0; m < 2; m++) {
            int on = (r + m) % 2; /* which mode goes first alternates: the first of a pair ran
                                     about 9% slower on main's code, with no summary to skip */
            setenv("VECSEG_SUMMARY", on ? "1" : "0", 1);
            unsigned long long s0, k0, s1, k1;
            vs_search_summary_counts(&s0, &k0);
            double t0 = now();
            if (vs_search(s, qs, nq, &o, ids[on], dist[on], &err) != 0)
                die(err.msg, "search");
            double t = now() - t0;
            vs_search_summary_counts(&s1, &k1);
            best[on] = t < best[on] ? t : best[on];
            searched[on] = s1 - s0;
            skipped[on] = k1 - k0;
        }
    int same = !memcmp(ids[0], ids[1], nq * k * 8) && !memcmp(dist[0], dist[1], nq * k * 4);
    double recall = -1;
    if (truth) {
        size_t hit = 0;
        for (size_t q = 0; q < nq; q++)
            for (size_t i = 0; i < k; i++)
                for (size_t j = 0; j < k; j++)
                    if (ids[1][q * k + i] == (uint64_t)truth[q * tk + j]) {
                        hit++;
                        break;
                    }
        recall = (double)hit / (double)(nq * k);
    }
    unsigned long long total = searched[1] + skipped[1];
    printf("qps_on\t%.1f\nqps_off\t%.1f\nratio\t%.3f\nskipped\t%llu of %llu (%.1f%%)\nsame\t%s\nrecall\t%.4f\n",
           nq / best[1], nq / best[0], best[0] / best[1], skipped[1], total,
           total ? 100.0 * skipped[1] / total : 0.0, same ? "yes" : "NO", recall);
    vs_snapshot_close(s);
    return same ? 0 : 2;
}
