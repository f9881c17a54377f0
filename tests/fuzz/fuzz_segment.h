/*
 * fuzz_segment.h - the body of the segment_* targets: the segment opener, then a search
 * through the segment's index, by the calls vec-query makes.
 *
 * The input is a sealed segment file.  Its CRCs are fixed up (header, table, section and
 * index metadata checksums), it is written to the scratch collection, opened and verified;
 * when the opener accepts it, a manifest naming it (and a tombstone file deleting id 3) is
 * published and vs_snapshot_open + vs_search run as in vec-query.  Each target searches only
 * segments whose index is FUZZ_INDEX, so its corpus stays on that index's search code.
 */
#ifndef FUZZ_SEGMENT_H
#define FUZZ_SEGMENT_H

#include "fuzz.h"
#include "index/index_internal.h"
#include "lib_internal.h"

#define SEG "s-00000001.vseg"
#define TOMB "t-00000001.tomb"

/* Recomputes every checksum the opener and the index openers check. */
static void fix_segment(uint8_t *b, size_t size)
{
    if (size < VF_SEG_HEADER_SIZE + VF_SEG_FOOTER_SIZE)
        return;
    uint64_t table = fz_get64(b + 40);
    uint32_t nsec = fz_get32(b + 48);
    int table_ok = nsec <= VF_SEG_MAX_SECTIONS && table <= size && (size - table) / VF_SEG_ENTRY_SIZE >= nsec;
    for (uint32_t i = 0; table_ok && i < nsec; i++) {
        uint8_t *e = b + table + (size_t)i * VF_SEG_ENTRY_SIZE;
        uint32_t type = fz_get32(e);
        uint64_t off = fz_get64(e + 8), len = fz_get64(e + 16);
        if (off > size || len > size - off)
            continue;
        if (type == VS_SEC_HNSW_META && len >= 4)
            fz_fix_crc(b, size, off + len - 4, off, off + len - 4);
        if (type == VS_SEC_IVF_META && len >= 64)
            fz_fix_crc(b, size, off + 60, off, off + 60);
        fz_fix_crc(b, size, (uint64_t)(e - b) + 24, off, off + len);
    }
    fz_fix_crc(b, size, 60, 0, 60);
    if (table_ok) {
        uint32_t crc = vf_crc32(0, b, VF_SEG_HEADER_SIZE);
        fz_put32(b + size - VF_SEG_FOOTER_SIZE + 16, vf_crc32(crc, b + table, (size_t)nsec * VF_SEG_ENTRY_SIZE));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        vf_tomb t = {3, UINT64_MAX};
        fz_scratch();
        if (vf_tomb_write(fz_dirfd, TOMB, &t, 1, NULL))
            abort();
        ready = 1;
    }
    uint8_t *b = fz_copy(data, size);
    fix_segment(b, size);
    fz_write(SEG, b, size);
    free(b);

    vf_seg *seg;
    if (vf_seg_open(&seg, fz_dirfd, SEG, NULL))
        return 0;
    vf_seg_verify(seg, NULL);
    vf_seg_info in = *vf_seg_get_info(seg);
    const float *vecs = vf_seg_section(seg, VF_SEC_VECTORS, NULL);
    const uint64_t *keys = vf_seg_section(seg, VF_SEC_KEYS, NULL);
    uint32_t h = vf_crc32(0, data, size);
    float *q = NULL;
    uint64_t key = 0;
    if (in.dim <= VF_DIM_MAX) { /* a larger one no manifest can name */
        q = fz_query(vecs, (size_t)in.rows, in.dim, h);
        if (keys && in.rows)
            key = keys[h % in.rows];
    }
    vf_seg_close(seg);
    if (!q)
        return 0;

    vf_manifest m;
    fz_manifest_init(&m, in.dim, (int)in.metric, keys != NULL);
    vf_sealed_ent se = {.shard = m.shards[0].id, .rows = in.rows, .bytes = size};
    vf_tomb_ent te = {.count = 1};
    strcpy(se.file, SEG);
    strcpy(te.file, TOMB);
    if (vf_manifest_add_sealed(&m, &se, NULL) || vf_manifest_add_tomb(&m, &te, NULL))
        abort();
    fz_publish(&m);
    vf_manifest_release(&m);

    vs_snapshot *s;
    if (vs_snapshot_open(&s, fz_scratch(), NULL) == 0) {
        const vs_part *p = s->nparts ? &s->parts[0] : NULL;
        int type = p && p->index ? vs_index_type_of(p->index) : VS_INDEX_FLAT;
        if (type == FUZZ_INDEX)
            fz_search(s, q, in.dim, h, keys ? &key : NULL);
        vs_snapshot_close(s);
    }
    free(q);
    return 0;
}

#endif
