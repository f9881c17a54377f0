/*
 * parallel.h - how lib/ runs work on threads (internal to lib/); parallel.c also holds
 * vs_cores(), how many threads "all the cores" is (declared in vecseg.h for the tools).
 *
 * Every pool in lib/ (search shares, segment builds, k-means blocks, HNSW batches) is one
 * vs_parallel_for, so they all size themselves the same way and fail the same way.
 */
#ifndef VS_PARALLEL_H
#define VS_PARALLEL_H

#include <stddef.h>

#define VECSEG_STATIC_LINKING_ONLY
#include "vecseg.h" /* VS_THREADS_MAX and vs_cores(), whose rules are documented there */

/*
 * The CPU quota of the cgroups of this process, rounded up to whole CPUs, or 0 when none is
 * set.  Reads ROOT/proc/self/cgroup and ROOT/proc/self/mountinfo and the files they lead to
 * under ROOT (root "" is the real system; tests pass a fake tree).  Read once per process by
 * vs_cores.
 */
int vs_cgroup_cpus(const char *root);

/*
 * Runs fn(ctx, i, w) once for every i in [0, n), on min(threads, n) workers: the caller is
 * worker 0 and the others are threads started for the call and joined before it returns.
 * Workers take the next i from a shared counter, so uneven items keep every worker busy.
 * w is in [0, min(threads, n)) and two calls with one w never overlap, so w may index
 * per-worker scratch.  threads < 1 means vs_cores().
 *
 * The rule when a thread cannot start (pthread_create fails, or no memory for the pool): no
 * further thread is started and the workers already running, the caller among them, run
 * every remaining item.  So fn must make each item's result depend on i alone, never on w,
 * on timing or on the order items run in: then the results are identical whatever the
 * thread count or failures, only the time differs.
 *
 * Returns the number of workers that ran, the caller included (tests check the rule).
 */
int vs_parallel_for(int threads, size_t n, void (*fn)(void *ctx, size_t i, int w), void *ctx);

/*
 * Makes OpenBLAS run each sgemm on the calling thread alone.  lib/ calls sgemm only from
 * vs_parallel_for workers, which already cover the cores: OpenBLAS threads of its own would
 * oversubscribe them.  OpenBLAS's count is one setting for the whole process, so it is set to
 * 1 and left there (saving and restoring it around each call would race between two builds
 * running at once); call before the workers start.
 */
void vs_blas_serial(void);

#endif
