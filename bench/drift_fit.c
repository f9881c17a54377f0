/* bench/drift_fit.c: how far rows lie from a sealed IVF segment's quantiser, against how far the
 * segment's own rows lie: the two sides of vec-seal's drift test (SPEC.md 5.5.2, [R-IVF-DRIFT]).
 *
 *   drift_fit SEG.vseg ROWS.fvecs
 *
 * Calls vs_ivf_quant_drift, as vec-seal does (the same VS_IVF_DRIFT_ROWS of each side, sampled
 * with seed 1 where vec-seal uses the index seed), and prints one line: nlist, train_rows, the
 * two mean squared distances to the nearest centroid and their ratio (rows / own; vec-seal
 * passes the quantiser over above 1.5).  Built against build/libvecseg.a (an internal call):
 * bench/drift.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

#define BENCH_TOOL "drift_fit"
#include "vecs.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage: drift_fit SEG.vseg ROWS.fvecs", NULL);
    vf_error err = {0};
    vf_seg *sg;
    vs_ivf_quant q;
    const float *own;
    if (vf_seg_open_path(&sg, argv[1], &err) || vs_ivf_quant_read(sg, 1, &q, &err) || vf_seg_vectors(sg, &own, &err))
        die(err.msg, argv[1]);
    const vf_seg_info *info = vf_seg_get_info(sg);
    size_t n, dim;
    float *rows = read_vecs(argv[2], &n, &dim);
    if (dim != info->dim)
        die("dimension differs from the segment's", argv[2]);
    double fo, fr;
    if (vs_ivf_quant_drift(&q, own, (size_t)info->rows, rows, n, 1, 0, &fo, &fr, &err))
        die(err.msg, NULL);
    printf("nlist=%u train_rows=%u own=%.6g rows=%.6g ratio=%.3f\n", q.nlist, q.train_rows, fo, fr, fo > 0 ? fr / fo : 0);
    vs_ivf_quant_release(&q);
    vf_seg_close(sg);
    free(rows);
    return 0;
}
