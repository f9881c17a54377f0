/*
 * describe.c - names every section type a segment may hold and prints an index's META
 * header as key=value words, and splits a segment's bytes into hot and cold (SPEC.md 5.6),
 * for vec-inspect (SPEC.md 5.4 and 5.5).  Reads only the META sections the opener already
 * checked; never walks an index.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "index/hnsw/hnsw.h"
#include "index/ivf/ivf.h"
#include "lib_internal.h"

const char *vs_section_name(uint32_t type)
{
    static const struct {
        uint32_t type;
        const char *name;
    } names[] = {
        {VF_SEC_VECTORS, "VECTORS"},       {VF_SEC_IDS, "IDS"},
        {VF_SEC_LSNS, "LSNS"},             {VF_SEC_NORMS, "NORMS"},
        {VF_SEC_KEYS, "KEYS"},             {VF_SEC_ID_ORDER, "ID_ORDER"},
        {VF_SEC_COLD_REF, "COLD_REF"},
        {VS_SEC_HNSW_META, "HNSW_META"},   {VS_SEC_HNSW_NODES, "HNSW_NODES"},
        {VS_SEC_HNSW_UPPER, "HNSW_UPPER"}, {VS_SEC_HNSW_SUMMARY, "HNSW_SUMMARY"},
        {VS_SEC_IVF_META, "IVF_META"},
        {VS_SEC_IVF_CENTROIDS, "IVF_CENTROIDS"}, {VS_SEC_IVF_OFFSETS, "IVF_OFFSETS"},
        {VS_SEC_IVF_ROWS, "IVF_ROWS"},     {VS_SEC_IVF_VECTORS, "IVF_VECTORS"},
        {VS_SEC_SQ8_PARAMS, "SQ8_PARAMS"}, {VS_SEC_SQ8_CODES, "SQ8_CODES"},
        {VS_SEC_SQ8_NORMS, "SQ8_NORMS"},   {VS_SEC_PQ_CODEBOOKS, "PQ_CODEBOOKS"},
        {VS_SEC_PQ_CODES, "PQ_CODES"},     {VS_SEC_PQ_TERMS, "PQ_TERMS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].type == type)
            return names[i].name;
    return "unknown";
}

int vs_index_describe(const vf_seg *s, char *out, size_t len, vf_error *err)
{
    uint64_t mlen;
    const uint8_t *p;
    if ((p = vf_seg_section(s, VS_SEC_HNSW_META, &mlen)) != NULL) {
        hnsw_meta m;
        if (mlen < sizeof m)
            return vf_fail(err, VF_ECORRUPT, "HNSW_META: %" PRIu64 " bytes, below its fixed %zu", mlen, sizeof m);
        memcpy(&m, p, sizeof m);
        snprintf(out, len,
                 "index hnsw version=%u M=%u M0=%u ef-construction=%u rows=%" PRIu64
                 " max-level=%u entry=%u stride=%u code=%s upper-words=%" PRIu64 " seed=%" PRIu64,
                 m.version, m.M, m.M0, m.ef_construction, m.rows, m.max_level, m.entry, m.stride,
                 m.code_kind == HNSW_CODE_U8 ? "u8" : "unknown", m.upper_words, m.seed);
        /* the summary's centres (SPEC.md 5.5.1 HNSW_SUMMARY), when the segment has one */
        uint64_t slen;
        const uint8_t *sp = vf_seg_section(s, VS_SEC_HNSW_SUMMARY, &slen);
        size_t used = strlen(out);
        if (sp && slen >= 8 && used < len) {
            uint32_t c;
            memcpy(&c, sp + 4, 4);
            snprintf(out + used, len - used, " summary=%u", c);
        }
        return 0;
    }
    if ((p = vf_seg_section(s, VS_SEC_IVF_META, &mlen)) != NULL) {
        vs_ivf_meta m;
        int rc = vs_ivf_meta_decode(p, mlen, &m, err);
        if (rc)
            return rc;
        /* the quantiser's section CRCs: segments showing the same value search as one group
           (SPEC.md 5.5.2) */
        uint32_t crc[2] = {0, 0};
        for (size_t i = 0; i < vf_seg_nsections(s); i++) {
            const vf_section *sec = vf_seg_section_at(s, i);
            if (sec->type == VS_SEC_IVF_CENTROIDS)
                crc[0] = sec->crc;
            else if (sec->type == VS_SEC_PQ_CODEBOOKS || sec->type == VS_SEC_SQ8_PARAMS)
                crc[1] = sec->crc;
        }
        char qz[32];
        if (m.kind == VS_INDEX_IVF_FLAT)
            snprintf(qz, sizeof qz, "%08x", crc[0]);
        else
            snprintf(qz, sizeof qz, "%08x-%08x", crc[0], crc[1]);
        int n = snprintf(out, len,
                         "index %s nlist=%u rows=%" PRIu64 " max-list=%u train-rows=%u seed=%" PRIu64 " quantiser=%s",
                         vs_index_type_name((int)m.kind), m.nlist, m.rows, m.max_list, m.train_rows, m.seed, qz);
        if (m.kind == VS_INDEX_IVF_PQ && n > 0 && (size_t)n < len)
            snprintf(out + n, len - (size_t)n, " pq-m=%u pq-bits=%u", m.pq_m, m.pq_bits);
        return 0;
    }
    snprintf(out, len, "index flat");
    return 0;
}

/* [R-HOT-BYTES] */
void vs_seg_memory(const vf_seg *s, uint64_t *hot, uint64_t *cold)
{
    /* an index searches its own sections (codes, graph, list copies) and
       reads VECTORS only to re-rank candidates; a FLAT segment scans them */
    int indexed = vf_seg_section(s, VS_SEC_HNSW_META, NULL) || vf_seg_section(s, VS_SEC_IVF_META, NULL);
    uint64_t len = 0;
    *cold = vf_seg_cold_size(s); /* vectors apart: hot bytes are the .vseg, cold the .vcold */
    if (*cold) {
        *hot = vf_seg_file_size(s);
        return;
    }
    if (indexed && vf_seg_section(s, VF_SEC_VECTORS, &len))
        *cold = len;
    *hot = vf_seg_file_size(s) - *cold;
}

int vs_seg_index_type(const vf_seg *s)
{
    uint64_t len = 0;
    const uint32_t *ivf = vf_seg_section(s, VS_SEC_IVF_META, &len);
    return vf_seg_section(s, VS_SEC_HNSW_META, NULL) ? VS_INDEX_HNSW : ivf && len >= 4 ? (int)ivf[0] : VS_INDEX_FLAT;
}
