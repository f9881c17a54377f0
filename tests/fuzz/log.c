/*
 * log - fuzz target: the growing-segment (log) reader, then a search over the log's rows by
 * the calls vec-query makes.
 *
 * The input is a log file.  Its header CRC and the CRC of every record whose length fits are
 * fixed up; the records are read with vf_log_map and vf_log_next, and a manifest naming the
 * log (committed length = the whole file) is published for vs_snapshot_open + vs_search.
 */
#include "fuzz.h"

#define LOG "g-00000001.log"

static void fix_log(uint8_t *b, size_t size)
{
    fz_fix_crc(b, size, 28, 0, 28);
    for (uint64_t o = VF_LOG_HEADER_SIZE; size - o >= 8 + 16;) {
        uint64_t blen = fz_get32(b + o);
        if (blen > size - o - 8)
            break;
        fz_fix_crc(b, size, o + 4, o + 8, o + 8 + blen);
        o = (o + 8 + blen + 7) / 8 * 8;
        if (o > size)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < VF_LOG_HEADER_SIZE)
        return 0;
    uint8_t *b = fz_copy(data, size);
    fix_log(b, size);
    fz_write(LOG, b, size);
    free(b);

    vf_log_view v;
    if (vf_log_map(fz_dirfd, LOG, size, &v, NULL))
        return 0;
    uint32_t dim = v.dim, h = vf_crc32(0, data, size);
    int keys = (v.flags & VF_LOG_FLAG_KEYS) != 0;
    float *q = NULL;
    uint64_t key = 0, off = VF_LOG_HEADER_SIZE;
    vf_rows r;
    while (vf_log_next(&v, &off, size, &r, NULL) == 1)
        if (!q && dim <= VF_DIM_MAX) {
            q = fz_query(r.vecs, r.n, dim, h);
            if (r.keys)
                key = r.keys[h % r.n];
        }
    vf_log_unmap(&v);
    if (dim > VF_DIM_MAX) /* no manifest can name it */
        return 0;
    if (!q)
        q = fz_query(NULL, 0, dim, h);

    vf_manifest m;
    fz_manifest_init(&m, dim, VF_METRIC_L2 + (int)(h % 3), keys);
    vf_growing_ent g = {.shard = m.shards[0].id, .start = VF_LOG_HEADER_SIZE, .length = size};
    strcpy(g.file, LOG);
    if (vf_manifest_add_growing(&m, &g, NULL))
        abort();
    fz_publish(&m);
    vf_manifest_release(&m);
    vs_snapshot *s;
    if (vs_snapshot_open(&s, fz_scratch(), NULL) == 0) {
        fz_search(s, q, dim, h, keys ? &key : NULL);
        vs_snapshot_close(s);
    }
    free(q);
    return 0;
}
