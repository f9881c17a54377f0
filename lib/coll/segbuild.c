/*
 * segbuild.c - writing sealed segments from rows gathered in memory: the
 * FLAT sections, then the index the build parameters ask for.  Shared by
 * sealing and compaction (seal.c) and shard splits (shard.c).
 *
 * Invariant: rows some tombstone deletes never enter the buffer, so every
 * segment written purges them; the same rows and parameters give the same
 * bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "lib_internal.h"



void vs_rowbuf_release(vs_rowbuf *b)
{
    free(b->vecs);
    free(b->norms);
    free(b->ids);
    free(b->lsns);
    free(b->key);
    memset(b, 0, sizeof *b);
}

int vs_rowbuf_reserve(vs_rowbuf *b, size_t cap, vf_error *err)
{
    if (cap <= b->cap)
        return 0;
    float *v = realloc(b->vecs, cap * b->dim * sizeof *v), *nm = v ? realloc(b->norms, cap * sizeof *nm) : NULL;
    if (v)
        b->vecs = v;
    if (nm)
        b->norms = nm;
    uint64_t *i = nm ? realloc(b->ids, cap * 8) : NULL;
    if (i)
        b->ids = i;
    uint64_t *l = i ? realloc(b->lsns, cap * 8) : NULL;
    if (l)
        b->lsns = l;
    uint64_t *k = l && b->keys ? realloc(b->key, cap * 8) : NULL;
    if (k)
        b->key = k;
    if (!l || (b->keys && !k))
        return vf_fail(err, VF_ENOMEM, "seal: out of memory for %zu rows", cap);
    b->cap = cap;
    return 0;
}

/* Adds rows that no tombstone deletes. */
void vs_rowbuf_add(vs_rowbuf *b, const vs_idmap *tomb, size_t n, const float *vecs, const uint64_t *ids,
                       const uint64_t *lsns, uint64_t lsn, const uint64_t *keys)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t row_lsn = lsns ? lsns[i] : lsn;
        const uint64_t *t = vs_idmap_get(tomb, ids[i]);
        if (t && row_lsn < *t)
            continue; /* deleted for good: purge */
        const float *x = vecs + i * b->dim;
        memcpy(b->vecs + b->n * b->dim, x, b->dim * sizeof(float));
        b->norms[b->n] = vs_dot(x, x, b->dim);
        b->ids[b->n] = ids[i];
        b->lsns[b->n] = row_lsn;
        if (b->keys)
            b->key[b->n] = keys[i];
        b->n++;
    }
}

static int cmp_order(const void *a, const void *b, void *arg)
{
    const uint64_t *ids = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (ids[x] != ids[y])
        return ids[x] < ids[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

int vs_rowbuf_write(vf_coll *coll, const vf_manifest *m, const vs_build_params *params, const vs_rowbuf *b,
                    uint32_t shard, const char *name, uint64_t *bytes, uint64_t *cold_bytes, char index[16],
                    vf_error *err)
{
    vf_seg_info info = {m->dim, VF_ELEM_F32, (uint32_t)m->metric, shard, m->keys ? VF_SEG_FLAG_KEYS : 0, b->n};
    uint32_t *order = malloc((b->n ? b->n : 1) * sizeof *order);
    if (!order)
        return vf_fail(err, VF_ENOMEM, "seal: out of memory");
    /* the id order lets a reader find a row by id in O(log n): tombstones */
    for (size_t i = 0; i < b->n; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, b->n, sizeof *order, cmp_order, b->ids);
    vs_build_params bp = *params;
    if (bp.type == VS_INDEX_AUTO)
        bp.type = vs_index_auto(b->n, m->dim, m->metric);
    snprintf(index, 16, "%s", vs_index_type_name(bp.type));
    /* cold-apart: an indexed segment's VECTORS go to s-N.vcold, written and
       synced before the .vseg that pairs with it [R-COLD-WRITE] */
    uint64_t apart = 0;
    int rc = vs_setting_get(m, "cold-apart", &apart, err);
    apart = apart && bp.type != VS_INDEX_FLAT && b->n > 0;
    vf_cold_ref ref = {0, 0};
    char cold[VF_NAME_MAX];
    *cold_bytes = 0;
    if (rc == 0 && apart) {
        if (vf_cold_name(cold, sizeof cold, name))
            rc = vf_fail(err, VF_EARG, "'%s': not a segment name", name);
        else
            rc = vf_seg_write_cold(vf_coll_dirfd(coll), cold, &info, b->vecs, &ref, err);
    }
    vf_seg_writer *w = NULL;
    if (rc == 0)
        rc = vf_seg_writer_open(&w, vf_coll_dirfd(coll), name, &info, err);
    size_t n = b->n;
    if (rc == 0 && apart)
        rc = vf_seg_writer_cold_ref(w, &ref, err);
    else if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, b->vecs, n * m->dim * 4, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, b->ids, n * 8, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, b->lsns, n * 8, err);
    if (rc == 0 && b->keys)
        rc = vf_seg_writer_section(w, VF_SEC_KEYS, VF_SECTION_REQUIRED, b->key, n * 8, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_NORMS, 0, b->norms, n * 4, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_ID_ORDER, 0, order, n * 4, err);
    if (rc == 0 && bp.type != VS_INDEX_FLAT && n > 0) {
        vs_rows_view rows = {b->vecs, b->norms, n, m->dim, m->metric, NULL};
        rc = vs_index_build(&bp, &rows, w, err);
    }
    if (rc == 0) {
        rc = vf_seg_writer_finish(w, bytes, err);
        w = NULL;
    }
    vf_seg_writer_abort(w);
    if (rc == 0)
        *cold_bytes = ref.size;
    else if (ref.size) /* a failed command removes the files it created */
        unlinkat(vf_coll_dirfd(coll), cold, 0);
    free(order);
    return rc;
}

