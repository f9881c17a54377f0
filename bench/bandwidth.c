/* bench/bandwidth.c: the machine's memory read bandwidth, the limit of exact search one query
 * at a time (each query reads every row once: rows x dim x 4 bytes).
 *
 *   bandwidth [MB] [RUNS]
 *
 * Sums a buffer of MB megabytes (default 2048: several times the largest cache a VM reports) with 1 thread, then
 * with 2, ... up to the cores of the affinity mask, each thread reading its own contiguous
 * share; prints `threads<TAB>GB/s` (1e9 bytes per second), the best of RUNS passes (default
 * 7). bench/run builds it with -O3 -march=native, so the loop reads with the widest vector
 * loads the CPU has, and eight independent sums keep the loads from waiting on the adds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} share;

static void *sum(void *arg)
{
    share *s = arg;
    uint64_t a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= s->n; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] += s->p[i + j];
    for (; i < s->n; i++)
        a[0] += s->p[i];
    s->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    cpu_set_t cs;
    int cores = sched_getaffinity(0, sizeof cs, &cs) == 0 ? CPU_COUNT(&cs) : 1;
    size_t n = mb * 1000000 / sizeof(uint64_t);
    uint64_t *buf = malloc(n * sizeof *buf);
    if (!buf || mb == 0 || runs < 1 || cores < 1) {
        fprintf(stderr, "bandwidth: usage: bandwidth [MB] [RUNS] (or out of memory)\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) /* every page touched, and not all zero */
        buf[i] = i;
    volatile uint64_t sink = 0;
    for (int t = 1; t <= cores; t++) {
        share sh[t];
        pthread_t tid[t];
        double best = 1e300;
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            for (int i = 0; i < t; i++) {
                sh[i].p = buf + n * (size_t)i / (size_t)t;
                sh[i].n = n * (size_t)(i + 1) / (size_t)t - n * (size_t)i / (size_t)t;
                if (i > 0)
                    pthread_create(&tid[i], NULL, sum, &sh[i]);
            }
            sum(&sh[0]);
            for (int i = 1; i < t; i++)
                pthread_join(tid[i], NULL);
            double secs = now() - t0;
            if (secs < best)
                best = secs;
            for (int i = 0; i < t; i++)
                sink += sh[i].sum;
        }
        printf("%d\t%.2f\n", t, (double)(n * sizeof *buf) / best / 1e9);
    }
    free(buf);
    return sink == 1; /* never: keeps the sums */
}
