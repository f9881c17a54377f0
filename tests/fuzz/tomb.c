/*
 * tomb - fuzz target: the tombstone reader, and the deletes it feeds to a search.
 *
 * The input is a tombstone file; its trailer CRC is fixed up.  It is read with vf_tomb_read,
 * then a manifest naming it beside one growing log and one sealed segment with an id order
 * (made once, at the first input) is published for vs_snapshot_open + vs_search, so the
 * tombstones are applied both by scanning and by binary search in the id order.
 */
#include "fuzz.h"

#define LOG "g-00000001.log"
#define SEG "s-00000001.vseg"
#define TOMB "t-00000001.tomb"
#define DIM 4
#define ROWS 256

static uint64_t log_len, seg_bytes;

/* Rows: ids 0, 2, 4, ... (so some tombstones hit between rows), LSN 5 in the log; the sealed
   segment holds the same ids, LSNs 1..ROWS. */
static void setup(void)
{
    float vecs[ROWS * DIM], norms[ROWS];
    uint64_t ids[ROWS], lsns[ROWS];
    uint32_t order[ROWS];
    for (int i = 0; i < ROWS; i++) {
        norms[i] = 0;
        for (int j = 0; j < DIM; j++) {
            vecs[i * DIM + j] = (float)((i * 7 + j * 3) % 11) - 5.0f;
            norms[i] += vecs[i * DIM + j] * vecs[i * DIM + j];
        }
        ids[i] = 2 * (uint64_t)i;
        lsns[i] = (uint64_t)i + 1;
        order[i] = (uint32_t)i;
    }
    int fd;
    log_len = VF_LOG_HEADER_SIZE;
    if (vf_log_create(fz_dirfd, LOG, DIM, 0, 0, &fd, NULL) ||
        vf_log_append(fd, &log_len, DIM, 5, ROWS, ids, NULL, vecs, NULL))
        abort();
    close(fd);
    vf_seg_info in = {.dim = DIM, .elem = VF_ELEM_F32, .metric = VF_METRIC_L2, .rows = ROWS};
    vf_seg_writer *w;
    if (vf_seg_writer_open(&w, fz_dirfd, SEG, &in, NULL) ||
        vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, vecs, sizeof vecs, NULL) ||
        vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, ids, sizeof ids, NULL) ||
        vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, lsns, sizeof lsns, NULL) ||
        vf_seg_writer_section(w, VF_SEC_NORMS, 0, norms, sizeof norms, NULL) ||
        vf_seg_writer_section(w, VF_SEC_ID_ORDER, 0, order, sizeof order, NULL) ||
        vf_seg_writer_finish(w, &seg_bytes, NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fz_scratch();
        setup();
        ready = 1;
    }
    uint8_t *b = fz_copy(data, size);
    if (size >= 8)
        fz_fix_crc(b, size, size - 8, 0, size - 8);
    fz_write(TOMB, b, size);
    free(b);
    vf_tomb *t;
    size_t n;
    if (vf_tomb_read(fz_dirfd, TOMB, &t, &n, NULL))
        return 0;
    free(t);

    vf_manifest m;
    fz_manifest_init(&m, DIM, VF_METRIC_L2, 0);
    vf_growing_ent g = {.shard = m.shards[0].id, .start = VF_LOG_HEADER_SIZE, .length = log_len, .rows = ROWS};
    vf_sealed_ent se = {.shard = m.shards[0].id, .rows = ROWS, .bytes = seg_bytes};
    vf_tomb_ent te = {.count = n};
    strcpy(g.file, LOG);
    strcpy(se.file, SEG);
    strcpy(te.file, TOMB);
    if (vf_manifest_add_growing(&m, &g, NULL) || vf_manifest_add_sealed(&m, &se, NULL) ||
        vf_manifest_add_tomb(&m, &te, NULL))
        abort();
    fz_publish(&m);
    vf_manifest_release(&m);
    vs_snapshot *s;
    if (vs_snapshot_open(&s, fz_scratch(), NULL) == 0) {
        float q[DIM] = {0.5f, -1.0f, 2.0f, 0.0f};
        fz_search(s, q, DIM, vf_crc32(0, data, size), NULL);
        vs_snapshot_close(s);
    }
    return 0;
}
