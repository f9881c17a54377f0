/* bench/drift_fit.c: how far rows lie from a sealed IVF segment's quantiser, against how far the
 * segment's own rows lie: the two sides of vec-seal's drift test (SPEC.md 5.5.2, [R-IVF-DRIFT]).
 *
 *   drift_fit SEG.vseg ROWS.fvecs
 *
 * Samples up to 8,192 rows of each (as vec-seal does), takes each row's squared L2 distance to
 * its nearest centroid through vs_ivf_quant_fit (the call vec-seal makes), and prints one line:
 * nlist, train_rows, the two means and their ratio (rows / own; vec-seal passes over the
 * quantiser above 1.5).  Built against build/libvecseg.a (internal calls): bench/drift.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "index/ivf/kmeans.h"

#define BENCH_TOOL "drift_fit"
#include "vecs.h"

#define SAMPLE 8192

/* up to SAMPLE of the n rows x, chosen with seed 1 */
static float *sample(const float *x, size_t n, size_t dim, size_t *got)
{
    *got = n < SAMPLE ? n : SAMPLE;
    float *s = vs_sample_copy(x, n, (uint32_t)dim, *got, 1);
    if (!s)
        die("out of memory", NULL);
    return s;
}

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
    size_t n, dim, ns, nr;
    float *rows = read_vecs(argv[2], &n, &dim);
    if (dim != info->dim)
        die("dimension differs from the segment's", argv[2]);
    float *so = sample(own, (size_t)info->rows, dim, &ns), *sr = sample(rows, n, dim, &nr);
    vs_rows_view ov = {so, NULL, ns, info->dim, (int)info->metric, NULL};
    vs_rows_view rv = {sr, NULL, nr, info->dim, (int)info->metric, NULL};
    double fo, fr;
    if (vs_ivf_quant_fit(&q, &ov, 0, &fo, &err) || vs_ivf_quant_fit(&q, &rv, 0, &fr, &err))
        die(err.msg, NULL);
    printf("nlist=%u train_rows=%u own=%.6g rows=%.6g ratio=%.3f\n", q.nlist, q.train_rows, fo, fr, fo > 0 ? fr / fo : 0);
    vs_ivf_quant_release(&q);
    vf_seg_close(sg);
    free(so);
    free(sr);
    free(rows);
    return 0;
}
