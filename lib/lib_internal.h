/* lib_internal.h - structures shared inside lib/ only (cli/ never includes this). */
#ifndef VS_LIB_INTERNAL_H
#define VS_LIB_INTERNAL_H

#include "util/idmap.h"
#include "index/index.h"
#include "simd/distance.h"
#define VECSEG_STATIC_LINKING_ONLY /* lib/ is built from the whole API */
#include "vecseg.h"

/* A contiguous block of rows of one segment: a sealed segment, or one record
   of a growing log.  Pointers go into mapped files and stay valid while the
   snapshot is open. */
typedef struct vs_part {
    const float *vecs;
    const uint64_t *ids;
    const uint64_t *lsns;  /* per row, or NULL when every row has lsn */
    const uint64_t *keys;  /* NULL without partition keys */
    const float *norms;    /* squared L2 norm per row */
    uint64_t lsn;
    size_t n;
    uint32_t shard;
    size_t segment;        /* index of the segment in the snapshot's list */
    uint8_t *deleted;      /* bitmap of tombstoned rows, or NULL if none */
    float *own_norms;      /* norms computed at open (growing rows) */
    vs_index *index;       /* the sealed segment's index, NULL for an exact scan */
    int skip;              /* not searched (vs_snapshot_select) */
    vs_rows_view rows;     /* what the index searches */
} vs_part;

struct vs_snapshot {
    vf_coll *coll;
    vf_manifest m;
    vf_seg **sealed;       /* m.nsealed */
    vf_log_view *logs;     /* m.ngrowing */
    vs_part *parts;
    size_t nparts;
    vs_idmap tomb;         /* id -> highest tombstone lsn */
    uint64_t rows;         /* rows of all parts */
    uint64_t selected;     /* rows of the parts searched */
};

static inline uint64_t vs_part_lsn(const vs_part *p, size_t i)
{
    return p->lsns ? p->lsns[i] : p->lsn;
}

static inline int vs_part_deleted(const vs_part *p, size_t i)
{
    return p->deleted && (p->deleted[i >> 3] >> (i & 7) & 1);
}

/* Tests only: called by vs_snapshot_open(_at) between reading the manifest
   and opening the files it names, to make a concurrent writer's work happen
   exactly there. */
extern void (*vs_snapshot_test_hook)(const char *path);

/* Opens a snapshot of an already opened collection at manifest m (copied).
   Takes coll: it is closed with the snapshot, or at once on failure. */
int vs_snapshot_build(vs_snapshot **out, vf_coll *coll, const vf_manifest *m, vf_error *err);
/* Loads every tombstone file of m into map (id -> highest lsn). */
int vs_tombs_load(vf_coll *coll, const vf_manifest *m, vs_idmap *map, vf_error *err);

/* Rows gathered in memory for a new sealed segment (segbuild.c). */
typedef struct vs_rowbuf {
    uint32_t dim;
    int keys;
    size_t n, cap;
    float *vecs, *norms;
    uint64_t *ids, *lsns, *key;
} vs_rowbuf;

int vs_rowbuf_reserve(vs_rowbuf *b, size_t cap, vf_error *err);
/* Adds the rows no tombstone deletes (lsns NULL: every row has lsn). */
void vs_rowbuf_add(vs_rowbuf *b, const vs_idmap *tomb, size_t n, const float *vecs, const uint64_t *ids,
                   const uint64_t *lsns, uint64_t lsn, const uint64_t *keys);
void vs_rowbuf_release(vs_rowbuf *b);
/* Writes b as the sealed segment name of shard, with the index of params
   (AUTO resolved by row count, its name put in index); *bytes = file size,
   *cold_bytes = the size of its .vcold file when the cold-apart setting put
   its vectors there (SPEC.md 5.6.1), else 0. */
int vs_rowbuf_write(vf_coll *coll, const vf_manifest *m, const vs_build_params *params, const vs_rowbuf *b,
                    uint32_t shard, const char *name, uint64_t *bytes, uint64_t *cold_bytes, char index[16],
                    vf_error *err);
/* The build parameters: the collection's settings, overridden by o. */
int vs_build_params_of(const vf_manifest *m, const vs_seal_opts *o, vs_build_params *bp, vf_error *err);

/* A piece of a sealed segment for vec-balance: rows [lo, hi) of the
   snapshot's sealed segment `sealed`, rewritten as a new segment on node. */
typedef struct vs_seal_cut {
    size_t sealed;
    uint64_t lo, hi;
    const char *node;
} vs_seal_cut;
/* Writes the cuts (the pieces of a segment must cover all its rows) and
   commits them, replacing their sources, with more(next, more_arg) applied
   in the same commit; the caller holds maint.lock (seal.c).  po (may be NULL)
   gives only a progress callback. */
int vs_seal_cuts(vf_coll *c, const vf_manifest *m, const vs_seal_cut *cuts, size_t n, vf_apply_fn more,
                 void *more_arg, const vs_seal_opts *po, uint64_t *generation, vf_error *err);

/* Puts every setting's default into a new collection's manifest (settings.c). */
int vs_settings_init(vf_manifest *m, vf_error *err);
/* Takes the next number of a file counter (next-ingest-file for kind 'g'
   and 't', next-maint-file for 's') and names the file; refuses to wrap,
   which would reuse a name ([R-NAMES-UNIQUE]).  With coll, the caller holds
   the lock that owns the counter and is about to create the file: an orphan
   a killed writer left under that name is removed (vf_coll_clear_orphan). */
int vs_file_take(vf_coll *coll, const vf_manifest *m, uint64_t *counter, char kind, char name[VF_NAME_MAX],
                 vf_error *err);

#endif
