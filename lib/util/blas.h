/*
 * blas.h - OpenBLAS, loaded on first use (internal to lib/; see util/dl.h for why).
 *
 * lib/ runs sgemm for batches of queries (search/search.c) and in k-means (index/ivf/kmeans.c),
 * always on vs_parallel_for workers.  A caller about to start such workers calls
 * vs_blas_serial(), which loads OpenBLAS the first time; cblas_sgemm below then calls the
 * function it found.  OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS when it loads,
 * so whatever sets them (the tools: cli_init) must do so before the first search or build.
 */
#ifndef VS_BLAS_H
#define VS_BLAS_H

#include <cblas.h> /* the enums and the prototype; the library itself is not linked */

#include "vecseg.h"

extern __typeof__(cblas_sgemm) *vs_blas_sgemm;
#define cblas_sgemm (*vs_blas_sgemm)

/*
 * Loads OpenBLAS if not yet loaded and makes it run each sgemm on the calling thread alone.
 * lib/ calls sgemm only from vs_parallel_for workers, which already cover the cores: OpenBLAS
 * threads of its own would oversubscribe them.  OpenBLAS's count is one setting for the whole
 * process, so it is set to 1 and left there (saving and restoring it around each call would
 * race between two builds running at once); call before the workers start.  Returns 0, or
 * VF_EUNSUPPORTED when OpenBLAS cannot be loaded (then cblas_sgemm must not be called).
 */
int vs_blas_serial(vf_error *err);

#endif
