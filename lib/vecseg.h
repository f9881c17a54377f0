/*
 * vecseg.h - the vector layer of vecseg (lib/): the public API.
 *
 * A collection (see vecseg_format.h and SPEC.md) holds rows: a uint64 id, a
 * float32 vector and, optionally, a uint64 partition key.  This layer knows
 * what the bytes mean: it routes rows to shards, ingests them into growing
 * segments in one atomic transaction, seals growing segments into FLAT
 * segment files, and answers exact k-nearest-neighbour searches over one
 * snapshot, in shares a caller may fan out over processes.  It also reads the
 * foreign formats rows and queries arrive in (io.h), and holds the distance
 * kernels (distance.h) and top-k merging (topk.h).
 *
 * Simple calls come first, advanced ones last.  Every call returns 0 or a
 * negative VF_E* code and fills a caller-owned vf_error, which may be NULL.
 * Nothing here prints or exits.
 */
#ifndef VECSEG_H
#define VECSEG_H

#include <stddef.h>
#include <stdint.h>

#include "vecseg_format.h"
#include "simd/distance.h"
#include "index/index.h"
#include "io/io.h"
#include "search/topk.h"

/* ---- version ----------------------------------------------------------- */
#define VS_VERSION_MAJOR 0
#define VS_VERSION_MINOR 1
#define VS_VERSION_PATCH 0
const char *vs_version(void);     /* "0.1.0" */

/* ---- distances as reported -------------------------------------------- */
/* Searches rank by an internal distance: squared L2 for l2, -dot for ip,
   1 - cosine similarity for cosine.  Reported distances are Euclidean (the
   square root) for l2 and the internal value otherwise. */
float vs_distance_report(int metric, float internal);

/* ---- routing (SPEC.md section 8) -------------------------------------- */
/* The 64-bit routing hash of a key (the id, or the partition key). */
uint64_t vs_route_hash(uint64_t key);
/* Index into m->shards of the shard owning key, or -1 if none does. */
long vs_route_shard(const vf_manifest *m, uint64_t key);
/* Fills m->shards for a new collection of n >= 1 shards. */
int vs_shards_init(vf_manifest *m, uint32_t n, vf_error *err);

/* ---- collection settings (SPEC.md 3.1) --------------------------------- */
/* Every setting has a type, a default and a range in one table (settings.c):
   it gives new collections their defaults, vec-seal --set its checks, the
   code its typed getters, vec-seal --help its list and vec-inspect its
   listing.  The DEFAULT/MIN/MAX macros below (and VS_HNSW_* and friends in
   index.h) are what the table is made of. */
#define VS_SEAL_ROWS_DEFAULT 1000000   /* seal a growing segment at this many rows */
#define VS_SEAL_ROWS_MIN 1
#define VS_SEAL_IDLE_DEFAULT 3600      /* ... or when its last append is this old (s) */
#define VS_LOG_BYTES_DEFAULT (1ull << 30) /* start a new log past this size */
#define VS_LOG_BYTES_MIN 4096
#define VS_GRACE_DEFAULT 600           /* seconds a superseded file is kept */
#define VS_SEGMENT_ROWS_DEFAULT 1000000 /* target rows of a sealed segment */
#define VS_SEGMENT_ROWS_MIN 100
#define VS_COMPACT_DELETED_DEFAULT 20   /* rewrite a segment once this percent of it is deleted */
#define VS_SPLIT_ROWS_DEFAULT 10000000  /* vec-shard --auto splits a shard past this */
#define VS_SPLIT_ROWS_MIN 100
#define VS_ROWS_MAX ((uint64_t)INT64_MAX)   /* row counts: ids are below 2^63 */
#define VS_BYTES_MAX ((uint64_t)INT64_MAX)  /* file sizes: off_t */
#define VS_SECONDS_MAX 100000000ull         /* about three years */
#define VS_SHARDS_MAX 65536
#define VS_DIM_MAX 65536             /* the manifest's limit on dim (SPEC.md 3) */

typedef enum vs_setting_type {
    VS_SETTING_UINT,              /* a decimal number from min to max */
    VS_SETTING_INDEX              /* an index type name (vs_index_type_parse) */
} vs_setting_type;

typedef struct vs_setting_def {
    const char *key;
    vs_setting_type type;
    uint64_t def, min, max;       /* INDEX: def is a VS_INDEX_* type; min, max unused */
    const char *help;             /* one line */
} vs_setting_def;

/* The table, in SPEC.md order; *n receives its length.  Static storage. */
const vs_setting_def *vs_settings_table(size_t *n);
/* The entry of key, or NULL when no setting has that name. */
const vs_setting_def *vs_setting_find(const char *key);
/* Parses text as a value of setting d: VF_EARG when it is not a number (or
   index type) or is out of range, with a message naming the range. */
int vs_setting_parse(const vs_setting_def *d, const char *text, uint64_t *value, vf_error *err);
/* value as text ("16", "auto"); the range as text ("2 to 128"). */
void vs_setting_format(const vs_setting_def *d, uint64_t value, char *buf, size_t n);
void vs_setting_range(const vs_setting_def *d, char *buf, size_t n);
/* The typed getter: the value of setting key in m, or its default when m
   has none.  A value out of range is VF_ECORRUPT naming the manifest and
   the range: never wrapped, clamped or replaced by the default. */
int vs_setting_get(const vf_manifest *m, const char *key, uint64_t *value, vf_error *err);

/* ---- ingest: one atomic transaction ------------------------------------ */
typedef struct vs_ingest_opts {   /* zeroed = defaults */
    uint32_t dim;       /* for a new collection: required; else ignored (see vs_ingest_dim) */
    int metric;         /* for a new collection: VF_METRIC_*, 0 = l2 */
    uint32_t shards;    /* for a new collection: 0 = 1 */
    int keys;           /* rows carry partition keys (a new collection takes it) */
    int upsert;         /* given ids replace existing rows */
    int create;         /* may create the collection when it does not exist */
} vs_ingest_opts;

typedef struct vs_ingest_stats {
    uint64_t rows, deleted, deleted_live, generation;
    int created;
} vs_ingest_stats;

typedef struct vs_ingest vs_ingest;
/* Opens (or, with o->create, creates) the collection at path and starts a
   transaction.  Holds the collection's ingest lock until commit or abort. */
int vs_ingest_open(vs_ingest **h, const char *path, const vs_ingest_opts *o, vf_error *err);
/* The dimension / metric / keys flag of the collection being written. */
uint32_t vs_ingest_dim(const vs_ingest *h);
int vs_ingest_has_keys(const vs_ingest *h);
/* Adds n rows.  ids NULL means automatic ids; keys must be given exactly
   when the collection has partition keys.  src and first_row (1-based) name
   the rows in error messages.  Vectors must be finite (the readers check). */
int vs_ingest_add(vs_ingest *h, size_t n, const float *vecs, const uint64_t *ids, const uint64_t *keys,
                  const char *src, uint64_t first_row, vf_error *err);
/* Records tombstones for n ids. */
int vs_ingest_delete(vs_ingest *h, size_t n, const uint64_t *ids, vf_error *err);
/* Makes everything added durable and visible, atomically, and frees h. */
int vs_ingest_commit(vs_ingest *h, vs_ingest_stats *st, vf_error *err);
/* Undoes everything: the collection is left exactly as it was.  Frees h;
   accepts NULL. */
void vs_ingest_abort(vs_ingest *h);

/* ---- seal and compaction --------------------------------------------- */

typedef struct vs_seal_opts {     /* zeroed = defaults (the collection's settings) */
    int all;            /* seal every growing segment with rows, whatever the thresholds */
    int dry_run;        /* plan only */
    long grace;         /* seconds before unreferenced files go; <0 = setting/default */
    int wait;           /* wait for another vec-seal instead of returning VF_EBUSY */
    const char *index;  /* index type name for this run, NULL = setting "index" */
    uint32_t M, ef_construction, nlist, pq_m;   /* index parameters, 0 = settings */
    uint64_t seed;      /* 0 = setting "index-seed" */
    int jobs;           /* segments built at once; 0 = 1 */
    int threads;        /* threads per build; 0 = vs_cores() / jobs */
} vs_seal_opts;

typedef struct vs_seal_plan {     /* one sealed segment written */
    char action[8];               /* "seal" (from a growing segment), "compact" or "rebuild" */
    char growing[256];            /* the source: a growing segment, or sealed segments joined by ',' */
    char sealed[VF_NAME_MAX];     /* the new file */
    char index[16];               /* its index type */
    uint32_t shard;
    uint64_t rows, kept, bytes;   /* rows read, rows kept (deleted ones purged), file size */
} vs_seal_plan;

typedef struct vs_seal_report {
    vs_seal_plan *plans;          /* malloc'd; release with vs_seal_report_release */
    size_t nplans;
    long removed;                 /* files removed by garbage collection */
    uint64_t generation;          /* committed manifest, 0 when nothing was committed */
} vs_seal_report;

/* Seals growing segments past the thresholds (all with o->all), compacts
   sealed ones (small, or with too many deleted rows), commits once, then
   removes files no snapshot needs.  Returns VF_EBUSY if another maintainer
   runs (unless o->wait). */
int vs_seal(const char *path, const vs_seal_opts *o, vs_seal_report *rep, vf_error *err);
void vs_seal_report_release(vs_seal_report *rep);

/* Commits new values for collection settings, given as "KEY=VALUE" strings
   (the table above); unknown keys and values out of range are refused
   (VF_EARG) before anything is written. */
int vs_settings_set(const char *path, const char *const *kv, size_t n, uint64_t *generation, vf_error *err);

/* ---- shards (vec-shard) -------------------------------------------------- */
typedef struct vs_shard_info {
    uint32_t id, depth;
    uint64_t value;
    int has_key;                  /* an isolated partition key's shard */
    uint64_t key;
    uint64_t rows, deleted, bytes;    /* rows stored, of them tombstoned, segment bytes */
    size_t ngrowing, nsealed;
    char nodes[256];              /* the nodes serving its segments, comma-separated */
} vs_shard_info;

/* Lists the shards of the current snapshot; *out is malloc'd. */
int vs_shard_list(const char *path, vs_shard_info **out, size_t *n, vf_error *err);

typedef struct vs_shard_opts {
    uint32_t shards;              /* split shards (shallowest first) until there are this many */
    long split;                   /* split this shard id; -1 = none */
    int auto_split;               /* split every shard past the split-rows setting */
    int isolate;                  /* give partition key `key` a shard of its own */
    uint64_t key;
    int dry_run;
} vs_shard_opts;

typedef struct vs_shard_report {
    size_t splits;                /* shards split */
    long planned;                 /* dry run: the shard the first split would take */
    uint64_t rows_moved, bytes_written, generation;
} vs_shard_report;

/* Changes the shards online: each split rewrites only the shard it splits,
   waits for running ingests only while copying that shard's growing rows,
   and commits atomically. */
int vs_shard_change(const char *path, const vs_shard_opts *o, vs_shard_report *rep, vf_error *err);

/* ---- placement on nodes (vec-balance) --------------------------------- */
typedef struct vs_place_item {    /* one segment to place */
    uint64_t rows;
    double cost;                  /* vs_segment_cost */
    long from;                    /* current node index, -1 = none or a node that left */
    long to;                      /* filled by vs_place */
} vs_place_item;

/* Estimated query cost of a segment: rows x dim, weighted by how much of the
   rows its index touches (1 for an exact scan). */
double vs_segment_cost(uint64_t rows, uint32_t dim, int index_type);
/* Places n segments on nnodes nodes so the costs are even, moving as few as
   it can: a segment stays on its node unless the node left; then single
   moves from the busiest to the idlest node even the load.  Deterministic. */
int vs_place(vs_place_item *items, size_t n, size_t nnodes, vf_error *err);

typedef struct vs_balance_move {
    char segment[VF_NAME_MAX], from[VF_NODE_MAX], to[VF_NODE_MAX];
    uint64_t rows;
} vs_balance_move;

typedef struct vs_balance_report {
    vs_balance_move *moves;       /* malloc'd; vs_balance_report_release */
    size_t nmoves;
    uint64_t rows, moved_rows;
    double max_over_mean;         /* the busiest node's cost over the mean */
    uint64_t generation;          /* committed manifest, 0 on a dry run */
} vs_balance_report;

/* Places every segment of the collection on the given nodes and commits the
   placement (unless dry_run). */
int vs_balance(const char *path, const char *const *nodes, size_t nnodes, int dry_run, vs_balance_report *rep,
               vf_error *err);
void vs_balance_report_release(vs_balance_report *rep);

/* ---- the files a manifest names ----------------------------------------- */
/* Every reader and writer opens a segment a manifest names through these, so
   a file that does not hold what its manifest line says is refused as damage
   (VF_ECORRUPT naming the file) before any byte of it is used.  A file that
   garbage collection removed after m was read (CURRENT names a newer manifest
   without it) gives VF_EBUSY: take a new snapshot and retry. */
/* Opens sealed segment i of m, checking dim, metric, shard, the keys flag,
   the row count and the file size against the manifest. */
int vs_sealed_open(vf_coll *c, const vf_manifest *m, size_t i, vf_seg **s, vf_error *err);
/* Maps growing segment i of m up to its committed length, checking dim,
   shard and the keys flag of its header against the manifest (its row count
   is known once its records are read: callers compare it). */
int vs_growing_map(vf_coll *c, const vf_manifest *m, size_t i, vf_log_view *v, vf_error *err);

/* ---- threads ----------------------------------------------------------- */
#define VS_THREADS_MAX 1024
/* What "all the cores" means wherever a thread count of 0 is taken: the
   environment variable VECSEG_THREADS when it holds a number from 1 to
   VS_THREADS_MAX, else the CPUs this process may run on (its affinity mask:
   taskset, cpusets) lowered to its cgroup CPU quota (rounded up).  lib/
   runs sgemm on its own threads, so searches and builds set OpenBLAS to one
   thread per caller (openblas_set_num_threads(1)) for the process. */
int vs_cores(void);

/* ---- search ------------------------------------------------------------ */
typedef struct vs_snapshot vs_snapshot;
/* Opens one consistent snapshot of a collection for searching: maps every
   segment (O(1) each for sealed ones) and loads the tombstones, all before
   it returns.  VF_EBUSY when a file of the snapshot was removed by a newer
   generation meanwhile (a short grace period): retry. */
int vs_snapshot_open(vs_snapshot **s, const char *path, vf_error *err);
/* The same for one given generation (0 = current): processes that search
   parts of one snapshot (MPI ranks) all open the generation one chose. */
int vs_snapshot_open_at(vs_snapshot **s, const char *path, uint64_t generation, vf_error *err);
void vs_snapshot_close(vs_snapshot *s);   /* accepts NULL */
const vf_manifest *vs_snapshot_manifest(const vs_snapshot *s);
uint64_t vs_snapshot_rows(const vs_snapshot *s);    /* stored rows, deleted included */
/* Restricts later searches to the named segment files (growing or sealed)
   of the snapshot: one node's share.  A name the manifest lacks is refused.
   Restrictions (this and vs_snapshot_filter_keys) combine, in any order. */
int vs_snapshot_select(vs_snapshot *s, const char *const *files, size_t n, vf_error *err);
/* Restricts later searches to rows whose partition key is one of keys: only
   the segments of shards that can hold them are searched, and in those the
   rows of other keys are skipped like deleted ones, so the result equals a
   filter over the whole collection. */
int vs_snapshot_filter_keys(vs_snapshot *s, const uint64_t *keys, size_t n, vf_error *err);

typedef struct vs_search_opts {   /* zeroed = defaults */
    size_t k;           /* neighbours per query; 0 = 10 */
    int threads;        /* threads; 0 = vs_cores() */
    uint32_t ef;        /* HNSW segments: candidate list size; 0 = the index's default */
    uint32_t nprobe;    /* IVF segments: lists visited; 0 = the index's default */
    uint32_t refine;    /* IVF_PQ/IVF_SQ8: re-rank refine*k candidates exactly; 0 = none */
} vs_search_opts;

/* Exact k-nearest-neighbour search of nq queries (nq*dim floats).  Fills
   ids[nq*k] and dist[nq*k] (reported distances, see vs_distance_report),
   each query's hits ascending by (distance, id); missing hits (fewer than k
   live rows) are id VS_NO_ID and distance +inf.  Never returns a deleted row. */
int vs_search(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, uint64_t *ids,
              float *dist, vf_error *err);

/* One share of a search: rows [share*N/nshares, (share+1)*N/nshares) of the
   snapshot's rows in manifest order (an indexed segment belongs whole to the
   share holding its first row).  Fills out[nq*k] with nq hit lists (topk.h):
   internal distances, ascending, padded with missing hits.  The fan-out
   (worker processes, MPI ranks: the caller's choice) runs shares and merges
   their lists with vs_hits_merge_lists, associatively. */
int vs_search_share(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, int share,
                    int nshares, vs_hit *out, vf_error *err);

#endif
