/*
 * kmeans.h - Lloyd's k-means, the nearest-centroid assignment it is built
 * on, and the small helpers the IVF build shares with it (lib/ internal).
 *
 * Everything here is deterministic for a given input, seed and parameters,
 * whatever the thread count: work is cut into fixed blocks whose results do
 * not depend on which thread computes them, and every sum over rows runs in
 * ascending row order.
 */
#ifndef VS_KMEANS_H
#define VS_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"

enum vs_kmeans_init {
    VS_KMEANS_RANDOM = 0,    /* k distinct training rows, chosen uniformly (as FAISS does) */
    VS_KMEANS_PLUSPLUS = 1   /* k-means++ D^2 seeding (Arthur & Vassilvitskii 2007) */
};

#define VS_KMEANS_ITERS_DEFAULT 20
#define VS_KMEANS_MAX_PER_CENTROID_DEFAULT 256

typedef struct vs_kmeans_params {
    uint32_t k;                 /* centroids, >= 1 */
    uint32_t iters;             /* Lloyd iterations at most; 0 = VS_KMEANS_ITERS_DEFAULT */
    uint32_t max_per_centroid;  /* train on at most this * k rows (a seeded subsample);
                                   0 = VS_KMEANS_MAX_PER_CENTROID_DEFAULT */
    int init;                   /* enum vs_kmeans_init */
    uint64_t seed;
    int threads;                /* >= 1 */
} vs_kmeans_params;

typedef struct vs_kmeans_stats {
    size_t train_rows;          /* rows in the training sample */
    uint32_t iterations;        /* Lloyd iterations run (stops early when no row moves) */
    double objective;           /* sum of squared distances at the last assignment */
    int assigned;               /* the caller's assign array was filled */
} vs_kmeans_stats;

/*
 * Trains p->k centroids on the n rows of x (n * d floats, row-major) with
 * Lloyd's algorithm: seeded subsample, seeding by p->init, then up to
 * p->iters assignment steps (vs_kmeans_assign), each but the last followed
 * by the mean update; it stops early when no row changed cluster.  So the
 * centroids returned are those of the last assignment, which is exact for
 * them.  An empty cluster is re-seeded by splitting the largest one (lowest
 * index on ties) with a small symmetric perturbation, as FAISS does.  When
 * the sample has no more than k rows, centroid j is sample row j mod the
 * sample size (zero error).  n == 0 gives zero centroids.
 * cent: room for k * d floats.  stats may be NULL.  assign may be NULL; if
 * not, and the sample is all n rows, it receives each row's centroid from
 * the last assignment (saving the caller that pass) and stats->assigned
 * is set.
 * Returns 0, VF_EARG (k == 0, d == 0) or VF_ENOMEM.
 */
int vs_kmeans_train(const float *x, size_t n, uint32_t d, const vs_kmeans_params *p, float *cent,
                    vs_kmeans_stats *stats, uint32_t *assign, vf_error *err);

/*
 * The nearest of k centroids c (k * d floats) for each of the n rows of x by
 * squared L2 distance as vs_l2sq computes it (the same bits on every machine),
 * ties to the lower centroid index.  Candidates come from |c|^2 - 2 x.c,
 * computed with OpenBLAS sgemm over fixed blocks of rows and centroids, within
 * a proven rounding bound of the best (or from distance tables when d is
 * small).  assign: n entries; dist (may be NULL): the n squared distances.
 * Uses `threads` threads (OpenBLAS itself single-threaded meanwhile; its
 * setting is restored).
 * Returns 0 or VF_ENOMEM.
 */
int vs_kmeans_assign(const float *x, size_t n, uint32_t d, const float *c, uint32_t k, int threads,
                     uint32_t *assign, float *dist, vf_error *err);

/*
 * Chooses m of the row numbers 0..n-1 (m <= n) uniformly without replacement,
 * seeded, and writes them ascending to out (Knuth's selection sampling).
 */
void vs_sample_rows(size_t n, size_t m, uint64_t seed, uint32_t *out);

/*
 * A malloc'd copy of the m rows (m <= n) of the n rows x (d floats each) that vs_sample_rows
 * chooses with seed, in ascending row order; NULL when out of memory.
 */
float *vs_sample_copy(const float *x, size_t n, uint32_t d, size_t m, uint64_t seed);

/* splitmix64: the next value of the generator whose state is *s. */
uint64_t vs_rand64(uint64_t *s);

#endif
