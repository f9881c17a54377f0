/*
 * unit_seg.h - a sealed segment for the index tests (test_hnsw, test_summary, test_ivf):
 * VECTORS, IDS, LSNS (all 1), NORMS and the index bp describes, written through the library's
 * own writer.
 */
#ifndef VS_UNIT_SEG_H
#define VS_UNIT_SEG_H

#include <stdio.h>
#include <stdlib.h>

#include "index/index_internal.h"

/* Writes `name` in directory dirfd from the first n rows; 0 or the writer's error (printed
   unless quiet: a test expecting the failure). */
static inline int unit_write_seg(int dirfd, const char *name, const float *vecs, const float *norms,
                                 const uint64_t *ids, size_t n, uint32_t dim, int metric,
                                 const vs_build_params *bp, int quiet)
{
    uint64_t *lsns = malloc((n ? n : 1) * sizeof *lsns);
    if (!lsns)
        return -1;
    for (size_t i = 0; i < n; i++)
        lsns[i] = 1;
    vf_seg_info info = {.dim = dim, .elem = VF_ELEM_F32, .metric = (uint32_t)metric, .rows = n};
    vf_seg_writer *w = NULL;
    vf_error err = {0};
    int rc = vf_seg_writer_open(&w, dirfd, name, &info, &err);
    if (!rc)
        rc = vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, vecs, n * dim * 4, &err);
    if (!rc)
        rc = vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, ids, n * 8, &err);
    if (!rc)
        rc = vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, lsns, n * 8, &err);
    if (!rc)
        rc = vf_seg_writer_section(w, VF_SEC_NORMS, 0, norms, n * 4, &err);
    vs_rows_view rows = {vecs, norms, n, dim, metric, NULL};
    if (!rc)
        rc = vs_index_build(bp, &rows, w, &err);
    if (!rc)
        rc = vf_seg_writer_finish(w, NULL, &err);
    else if (w)
        vf_seg_writer_abort(w);
    if (rc && !quiet)
        fprintf(stderr, "write_seg %s: %s\n", name, err.msg);
    free(lsns);
    return rc;
}

#endif
