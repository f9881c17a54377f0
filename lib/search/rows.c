/*
 * rows.c - the live rows of a snapshot, in id order: what vec-export writes.
 *
 * A row is live when no tombstone deletes it and no restriction of the
 * snapshot (vs_snapshot_filter_keys, vs_snapshot_select) leaves it out: the
 * rows a search over the snapshot may return, exactly.  Ids are unique among
 * live rows (an upsert's tombstone deletes the old row), so the order by id
 * is total and the same for every layout of the same rows.
 */
#include <stdlib.h>

#include "lib_internal.h"

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const vs_row *)a)->id, y = ((const vs_row *)b)->id;
    return x < y ? -1 : x > y;
}

int vs_snapshot_live_rows(vs_snapshot *s, vs_row **out, size_t *n, vf_error *err)
{
    *out = NULL;
    *n = 0;
    size_t live = 0;
    for (size_t p = 0; p < s->nparts; p++)
        for (size_t i = 0; !s->parts[p].skip && i < s->parts[p].n; i++)
            live += !vs_part_deleted(&s->parts[p], i);
    vs_row *rows = malloc((live ? live : 1) * sizeof *rows);
    if (!rows)
        return vf_fail(err, VF_ENOMEM, "out of memory for %zu rows", live);
    size_t k = 0;
    for (size_t p = 0; p < s->nparts; p++) {
        vs_part *part = &s->parts[p];
        if (!part->vecs && !part->skip && part->n) { /* vectors apart: mapped now, once */
            int rc = vf_seg_vectors(s->sealed[part->segment], &part->vecs, err);
            if (rc) {
                free(rows);
                return rc;
            }
        }
        for (size_t i = 0; !part->skip && i < part->n; i++) {
            if (vs_part_deleted(part, i))
                continue;
            rows[k].id = part->ids[i];
            rows[k].key = part->keys ? part->keys[i] : 0;
            rows[k].vec = part->vecs + i * s->m.dim;
            rows[k].shard = part->shard;
            rows[k].pad = 0;
            k++;
        }
    }
    qsort(rows, k, sizeof *rows, by_id);
    for (size_t i = 1; i < k; i++)
        if (rows[i].id == rows[i - 1].id) {
            uint64_t id = rows[i].id;
            free(rows);
            return vf_fail(err, VF_ECORRUPT, "generation %llu: id %llu is live twice",
                           (unsigned long long)s->m.generation, (unsigned long long)id);
        }
    *out = rows;
    *n = k;
    return 0;
}
