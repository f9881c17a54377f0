/*
 * vecseg.h - the vector layer of vecseg (lib/): the public API.
 *
 * Introduction
 *
 * A collection is a directory (SPEC.md) holding rows: a uint64 id below 2^63,
 * a float32 vector of the collection's dimension and, when the collection has
 * them, a uint64 partition key.  Rows arrive in one atomic transaction
 * (vs_ingest_*) into growing segments and are visible as soon as it commits;
 * vs_seal turns growing segments into sealed segment files that carry their
 * own index; a search (vs_snapshot_open, vs_search) reads one consistent
 * snapshot, whatever writers do meanwhile, and returns the k nearest rows of
 * each query.  Deleted rows are never returned.  Shards (vs_shard_change)
 * and the placement of segments on nodes (vs_balance) change online.  Readers
 * of foreign vector formats (fvecs, npy, HDF5, text, ...) bring rows and
 * queries in.
 *
 * This header is the only one a program needs: it includes vecseg_format.h
 * (the bytes of a collection: the manifest and file types some calls take)
 * and vf_error.h (the error record and codes), which are installed beside it.
 * Build with `pkg-config --cflags --libs vecseg` (the shared library,
 * libvecseg.so) or `pkg-config --static --libs vecseg` (libvecseg.a and the
 * libraries it uses: zlib, jansson, libm, pthread, libdl).
 * OpenBLAS and HDF5 are not linked: the library loads each the first time a
 * call needs it (a batch search or an IVF build; an HDF5 file), and a call
 * that cannot load it fails with VF_EUNSUPPORTED.  OpenBLAS reads
 * OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS as it loads: set them before.
 *
 * Errors: every call that can fail returns 0 (or a count) on success and a
 * negative VF_E* code otherwise, and fills a caller-owned vf_error (which may
 * be NULL) with the code and a one-line message naming the file, row or
 * value at fault.  Nothing here prints or exits.
 *
 * Stability: the declarations in the first part are the stable API; their
 * meaning changes only with the major version.  The second part, fenced by
 * VECSEG_STATIC_LINKING_ONLY, holds the advanced calls the vecseg tools are
 * built from (settings table, routing, placement, index types, partial
 * searches and their merge).  They may change in any release: a program that
 * defines VECSEG_STATIC_LINKING_ONLY before including this header should link
 * the static library of the exact version it was built with.
 *
 * Simple calls come first, advanced ones last.
 */
#ifndef VECSEG_H
#define VECSEG_H

#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"
#include "vecseg_format.h"

#if defined(__cplusplus)
extern "C" {
#endif

/* The library's exported calls; built with -fvisibility=hidden, everything
   else in libvecseg stays inside it. */
#define VS_API VF_API

/* ---- version --------------------------------------------------------------
   The one place the version is written: the Makefile and every tool's
   --version read it from here. */
#define VS_VERSION_MAJOR 0
#define VS_VERSION_MINOR 1
#define VS_VERSION_PATCH 0
#define VS_VERSION_NUMBER (VS_VERSION_MAJOR * 10000 + VS_VERSION_MINOR * 100 + VS_VERSION_PATCH)
#define VS_QUOTE_(x) #x
#define VS_EXPAND_AND_QUOTE_(x) VS_QUOTE_(x)
#define VS_VERSION_STRING                                                                         \
    VS_EXPAND_AND_QUOTE_(VS_VERSION_MAJOR) "." VS_EXPAND_AND_QUOTE_(VS_VERSION_MINOR) "."        \
    VS_EXPAND_AND_QUOTE_(VS_VERSION_PATCH)

/* The version of the library linked at run time, which may differ from the
   header's VS_VERSION_STRING / VS_VERSION_NUMBER a program was compiled with. */
VS_API const char *vs_version(void);     /* "0.1.0" */
VS_API unsigned vs_version_number(void); /* 100 for 0.1.0 */

/* ---- ingest: one atomic transaction --------------------------------------- */
typedef struct vs_ingest_opts {   /* zeroed = defaults */
    uint32_t dim;       /* for a new collection: required; else ignored (see vs_ingest_dim) */
    int metric;         /* for a new collection: VF_METRIC_*, 0 = l2 */
    uint32_t shards;    /* for a new collection: 0 = 1 */
    int keys;           /* rows carry partition keys (a new collection takes it) */
    int upsert;         /* given ids replace existing rows */
    int create;         /* may create the collection when it does not exist */
    int no_wait;        /* VF_EBUSY at once when another writer holds the ingest lock */
} vs_ingest_opts;

typedef struct vs_ingest_stats {
    uint64_t rows, deleted, deleted_live, generation;
    int created;
} vs_ingest_stats;

typedef struct vs_ingest vs_ingest;
/* Opens (or, with o->create, creates) the collection at path and starts a
   transaction.  Holds the collection's ingest lock until commit or abort;
   waits for it unless o->no_wait (then VF_EBUSY, and nothing changed). */
VS_API int vs_ingest_open(vs_ingest **h, const char *path, const vs_ingest_opts *o, vf_error *err);
/* The dimension / metric / keys flag of the collection being written. */
VS_API uint32_t vs_ingest_dim(const vs_ingest *h);
VS_API int vs_ingest_has_keys(const vs_ingest *h);
/* Adds n rows.  ids NULL means automatic ids; keys must be given exactly
   when the collection has partition keys.  src and first_row (1-based) name
   the rows in error messages.  Vectors must be finite (the readers check). */
VS_API int vs_ingest_add(vs_ingest *h, size_t n, const float *vecs, const uint64_t *ids, const uint64_t *keys,
                         const char *src, uint64_t first_row, vf_error *err);
/* Records tombstones for n ids. */
VS_API int vs_ingest_delete(vs_ingest *h, size_t n, const uint64_t *ids, vf_error *err);
/* Makes everything added durable and visible, atomically, and frees h.  A
   transaction that added and deleted nothing commits nothing (st->generation
   is the current one). */
VS_API int vs_ingest_commit(vs_ingest *h, vs_ingest_stats *st, vf_error *err);
/* Undoes everything: the collection is left exactly as it was.  Frees h;
   accepts NULL. */
VS_API void vs_ingest_abort(vs_ingest *h);

/* ---- search ----------------------------------------------------------------- */
typedef struct vs_snapshot vs_snapshot;
/* Opens one consistent snapshot of a collection for searching: maps every
   segment (O(1) each for sealed ones) and loads the tombstones, all before
   it returns.  VF_EBUSY when a file of the snapshot was removed by a newer
   generation meanwhile (a short grace period): retry. */
VS_API int vs_snapshot_open(vs_snapshot **s, const char *path, vf_error *err);
VS_API void vs_snapshot_close(vs_snapshot *s);   /* accepts NULL */
/* The snapshot's manifest (dim, metric, shards, segments); valid until
   vs_snapshot_close. */
VS_API const vf_manifest *vs_snapshot_manifest(const vs_snapshot *s);
VS_API uint64_t vs_snapshot_rows(const vs_snapshot *s);    /* stored rows, deleted included */
/* Restricts later searches to rows whose partition key is one of keys: only
   the segments of shards that can hold them are searched, and in those the
   rows of other keys are skipped like deleted ones, so the result equals a
   filter over the whole collection. */
VS_API int vs_snapshot_filter_keys(vs_snapshot *s, const uint64_t *keys, size_t n, vf_error *err);

/* The id of a missing hit (fewer than k live rows). */
#define VS_NO_ID UINT64_MAX
/* The largest k, for every search and every tool: as many hits per query as
   a partial result carries (SPEC.md section 7). */
#define VS_K_MAX VF_PARTIAL_K_MAX

typedef struct vs_search_opts {   /* zeroed = defaults */
    size_t k;           /* neighbours per query, 1 to VS_K_MAX; 0 = 10 */
    int threads;        /* threads; 0 = vs_cores() */
    uint32_t ef;        /* HNSW segments: candidate list size; 0 = the index's default */
    uint32_t nprobe;    /* IVF segments: lists visited; 0 = the index's default */
    uint32_t refine;    /* IVF_PQ/IVF_SQ8: re-rank refine*k candidates exactly; 0 = none */
} vs_search_opts;

/* Exact k-nearest-neighbour search of nq queries (nq*dim floats).  Fills
   ids[nq*k] and dist[nq*k] (reported distances: Euclidean for l2, -dot for
   ip, 1 - cosine similarity for cosine), each query's hits ascending by
   (distance, id); missing hits (fewer than k live rows) are id VS_NO_ID and
   distance +inf.  Never returns a deleted row. */
VS_API int vs_search(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, uint64_t *ids,
                     float *dist, vf_error *err);

/* ---- seal and compaction ----------------------------------------------------- */
typedef struct vs_seal_opts {     /* zeroed = defaults (the collection's settings) */
    int all;            /* seal every growing segment with rows, whatever the thresholds */
    int dry_run;        /* plan only */
    long grace;         /* seconds before unreferenced files go; <0 = setting/default */
    int wait;           /* wait for another vec-seal instead of returning VF_EBUSY */
    const char *index;  /* index type name, NULL = setting "index"; committed as the setting */
    uint32_t M, ef_construction, nlist, pq_m;   /* index parameters, 0 = settings; given ones are committed */
    uint64_t seed;      /* 0 = setting "index-seed" */
    int jobs;           /* segments built at once; 0 = vs_cores() (at most one per segment) */
    int threads;        /* threads per build; 0 = vs_cores() / jobs */
    /* called after each segment is built, from the building thread (calls are
       serialized): rows done and in all; lib/ never prints, the caller may */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
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
VS_API int vs_seal(const char *path, const vs_seal_opts *o, vs_seal_report *rep, vf_error *err);
VS_API void vs_seal_report_release(vs_seal_report *rep);

/* Commits new values for collection settings, given as "KEY=VALUE" strings
   (SPEC.md 3.1; the table is vs_settings_table); unknown keys and values out
   of range are refused (VF_EARG) before anything is written.  Values equal
   to the current ones commit nothing (*generation is the current one). */
VS_API int vs_settings_set(const char *path, const char *const *kv, size_t n, uint64_t *generation, vf_error *err);

/* ---- shards ---------------------------------------------------------------- */
typedef struct vs_shard_info {
    uint32_t id, depth;
    uint64_t value;
    int has_key;                  /* an isolated partition key's shard */
    uint64_t key;
    uint64_t rows, deleted, bytes;    /* rows stored, of them tombstoned, segment bytes */
    size_t ngrowing, nsealed;
    char nodes[256];              /* the nodes serving its segments, comma-separated */
    size_t nindex[5];             /* its sealed segments by index type, indexed as vs_index_type_name
                                     numbers them (flat, hnsw, ivf_flat, ivf_pq, ivf_sq8) */
} vs_shard_info;

/* Lists the shards of the current snapshot; *out is malloc'd. */
VS_API int vs_shard_list(const char *path, vs_shard_info **out, size_t *n, vf_error *err);

typedef struct vs_shard_opts {
    uint32_t shards;              /* split shards (shallowest first) until there are this many */
    long split;                   /* split this shard id; -1 = none */
    int auto_split;               /* split every shard past the split-rows setting */
    int isolate;                  /* give partition key `key` a shard of its own */
    uint64_t key;
    int dry_run;
    /* called after each sealed segment a split rewrites: rows read and to read
       so far (over all splits of the call); lib/ never prints, the caller may */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
} vs_shard_opts;

typedef struct vs_shard_report {
    size_t splits;                /* shards split */
    long planned;                 /* dry run: the shard the first split would take */
    uint64_t rows_moved, bytes_written, generation;
} vs_shard_report;

/* Changes the shards online: each split rewrites only the shard it splits,
   waits for running ingests only while copying that shard's growing rows,
   and commits atomically. */
VS_API int vs_shard_change(const char *path, const vs_shard_opts *o, vs_shard_report *rep, vf_error *err);

/* ---- placement on nodes ------------------------------------------------------- */
typedef struct vs_balance_move {
    char segment[VF_NAME_MAX], from[VF_NODE_MAX], to[VF_NODE_MAX];
    uint64_t rows;
} vs_balance_move;

typedef struct vs_balance_report {
    vs_balance_move *moves;       /* malloc'd; vs_balance_report_release */
    size_t nmoves;
    uint64_t rows, moved_rows;
    uint64_t min_rows;            /* rows any plan must move to even the nodes (vs_place_min_moved) */
    size_t cuts;                  /* segments rewritten as pieces (a move of part of a segment) */
    double max_over_mean;         /* the busiest node's cost over the mean */
    uint64_t generation;          /* committed manifest, 0 on a dry run */
} vs_balance_report;

/* Places every segment of the collection on the given nodes and commits the
   placement (unless dry_run).  Sealed segments too coarse for the nodes are
   cut: the pieces to move are rewritten as new segments, in the same commit
   (moves then list the source segment with the rows of the piece).  When no segment
   moves or is cut and the nodes are the manifest's, nothing is committed and
   rep->generation is the current one. */
VS_API int vs_balance(const char *path, const char *const *nodes, size_t nnodes, int dry_run, vs_balance_report *rep,
                      vf_error *err);
VS_API void vs_balance_report_release(vs_balance_report *rep);

typedef struct vs_balance_opts {  /* zeroed = vs_balance's defaults */
    int dry_run;
    /* called after each piece of a cut segment is rewritten, from the writing
       thread (calls are serialized): rows written and to write; lib/ never prints */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
} vs_balance_opts;
/* vs_balance with options (vs_balance is this with o->dry_run only). */
VS_API int vs_balance_with(const char *path, const char *const *nodes, size_t nnodes, const vs_balance_opts *o,
                           vs_balance_report *rep, vf_error *err);

/* ---- readers of foreign vector formats -----------------------------------------
 *
 * A reader streams the rows of one source (a file, stdin, or one HDF5 dataset) as float32
 * vectors or as int64 rows, in batches the caller sizes, so any input is read in bounded
 * memory.  Formats:
 *
 *   fvecs, bvecs, ivecs  per row: int32 LE dim, then dim float32 / uint8 / int32 values
 *   npy                  .npy 1.0/2.0/3.0, C or Fortran order, shape (n, d) or (n,) (d = 1),
 *                        dtype <f2 <f4 <f8 |i1 |u1 <i4 <i8 <u4 <u8; arrays concatenated in one
 *                        stream (as a pipe of several np.save calls) are read one after the
 *                        other and must agree in dimension; any other trailing bytes are refused
 *   hdf5                 "FILE.h5:/dataset" (or .hdf5): a 1-D or 2-D float or integer dataset;
 *                        "FILE.h5" alone names the file's only dataset
 *   csv, tsv, txt        one row per line, separated by ',' / tab / runs of blanks; an optional
 *                        header line; optional id and partition-key columns
 *   raw                  little-endian float32, the dimension given by the caller
 *   jsonl                one JSON value per line (.jsonl, .ndjson; stdin when its first
 *                        character is '{' or '['): {"id": N, "vector": [...], "key": N}, where
 *                        id and key are optional but, when the first row has one, every row
 *                        has it; a bare [...] is a vector alone; other members are ignored
 *
 * Every value is checked: NaN and infinities, ragged or wrong dimensions, truncated rows and bad
 * numbers are refused with a message naming the source and the 1-based row (and, for text, the
 * column and line).
 */
typedef enum vs_format {
    VS_FMT_AUTO = 0,
    VS_FMT_FVECS,
    VS_FMT_BVECS,
    VS_FMT_IVECS,
    VS_FMT_NPY,
    VS_FMT_HDF5,
    VS_FMT_CSV,
    VS_FMT_TSV,
    VS_FMT_RAW,
    VS_FMT_TXT, /* whitespace-separated text (.txt) */
    VS_FMT_JSONL /* JSON lines (.jsonl, .ndjson) */
} vs_format;

/* The largest vector dimension a reader accepts (a larger one is taken as a damaged file). */
#define VS_READER_DIM_MAX (1u << 20)

/*
 * Parses a --format name: "fvecs", "bvecs", "ivecs", "npy", "hdf5" (or "h5"), "csv", "tsv",
 * "txt", "raw", "jsonl" (or "ndjson") or "auto".  Returns the vs_format value, or -1 if the name is unknown or NULL.
 */
VS_API int vs_format_parse(const char *name);

/* The name of format f as vs_format_parse accepts it ("auto" for VS_FMT_AUTO); static string. */
VS_API const char *vs_format_name(vs_format f);

/* Options of vs_reader_open; a zeroed struct means defaults. */
typedef struct vs_reader_opts {
    vs_format format; /* AUTO: from the file name extension; stdin is sniffed (npy magic, text) */
    uint32_t dim;     /* RAW needs it; if nonzero for other formats, rows must have it */
    int id_col;       /* text formats: 1-based column holding the row id, 0 none */
    int key_col;      /* text formats: 1-based column holding the partition key, 0 none */
    uint32_t raw_dim; /* RAW without dim: the dimension to assume (a collection's); others ignore it */
} vs_reader_opts;

typedef struct vs_reader vs_reader;

/*
 * Opens a source for reading.
 * spec: a path, "-" for stdin (every format but HDF5, which needs seeking), or "FILE.h5:/dataset"
 *       (also .hdf5) for an HDF5 dataset.
 * o:    options, or NULL for defaults.
 * On success *r is a new reader (free with vs_reader_free) and 0 is returned; the dimension is
 * known from then on.  Errors: VF_ENOENT (no such file or dataset), VF_EINPUT (unknown
 * extension, malformed header), VF_EUNSUPPORTED (a dtype or layout this reader refuses), VF_EDIM
 * (rows do not have o->dim), VF_EARG (bad options, RAW without dim), VF_EIO, VF_ENOMEM.
 */
VS_API int vs_reader_open(vs_reader **r, const char *spec, const vs_reader_opts *o, vf_error *err);

/* Columns per row (the vector dimension; 0 only for an empty source opened without o->dim). */
VS_API uint32_t vs_reader_dim(const vs_reader *r);

/* Total rows if known up front (HDF5; fvecs/bvecs/ivecs/raw regular files; an npy regular file
   holding one array exactly), else -1. */
VS_API int64_t vs_reader_rows(const vs_reader *r);

/* Nonzero if rows carry ids (text opened with id_col, JSON lines with "id"). */
VS_API int vs_reader_has_ids(const vs_reader *r);

/* Nonzero if rows carry partition keys (text opened with key_col, JSON lines with "key"). */
VS_API int vs_reader_has_keys(const vs_reader *r);

/* The spec given to vs_reader_open ("stdin" for "-"), for messages; valid until vs_reader_free. */
VS_API const char *vs_reader_name(const vs_reader *r);

/* The format the reader settled on (never VS_FMT_AUTO). */
VS_API vs_format vs_reader_format(const vs_reader *r);

/*
 * The metric the source declares: an HDF5 file's root attribute "distance" as ann-benchmarks
 * writes it (angular -> VF_METRIC_COSINE, euclidean -> VF_METRIC_L2, dot or ip -> VF_METRIC_IP).
 * Returns 0 when the source declares none, -1 for a distance vecseg has no metric for (hamming,
 * jaccard); *name (may be NULL) gets the attribute's value, valid until vs_reader_free, or NULL.
 */
VS_API int vs_reader_metric(const vs_reader *r, const char **name);

/*
 * Reads the next rows as float32.
 * vec:  room for max * dim floats, filled row-major.
 * ids, keys: room for max values each, or NULL; filled when the source has them
 *       (vs_reader_has_ids / vs_reader_has_keys), left alone otherwise.
 * Returns the number of rows read (0 at the end), or a negative VF_E* code: VF_EVALUE (NaN,
 * infinity, a float64 out of float32 range), VF_EDIM (ragged row), VF_EINPUT (truncated file,
 * bad number, bad id), VF_EIO.  An error is final: later calls return it again.
 */
VS_API long vs_reader_read(vs_reader *r, float *vec, uint64_t *ids, uint64_t *keys, size_t max, vf_error *err);

/*
 * Reads the next rows as int64 (ivecs, bvecs, npy integer dtypes, HDF5 integer datasets, text):
 * id files (dim 1) and ground-truth neighbor lists.
 * out: room for max * dim values, filled row-major.
 * Returns rows read (0 at the end) or a negative code as vs_reader_read; a float source
 * (fvecs, float npy or HDF5, raw) is refused with VF_EINPUT, an unsigned value above INT64_MAX
 * with VF_EVALUE.  Text id and key columns are skipped.
 */
VS_API long vs_reader_read_i64(vs_reader *r, int64_t *out, size_t max, vf_error *err);

/* Closes the source and frees the reader; accepts NULL. */
VS_API void vs_reader_free(vs_reader *r);

/*
 * Reads a whole source as int64: *out gets rows * cols values (free with free()).
 * Returns 0 or a negative code as vs_reader_open / vs_reader_read_i64; on error *out is NULL.
 */
VS_API int vs_read_all_i64(const char *spec, const vs_reader_opts *o, int64_t **out, size_t *rows, uint32_t *cols,
                           vf_error *err);

/*
 * Reads a whole source as float32: *out gets rows * dim values (free with free()).
 * Returns 0 or a negative code as vs_reader_open / vs_reader_read; on error *out is NULL.
 */
VS_API int vs_read_all_f32(const char *spec, const vs_reader_opts *o, float **out, size_t *rows, uint32_t *dim,
                           vf_error *err);

/*
 * As vs_read_all_f32, and *ids gets the rows' ids (free with free()) when the source carries
 * them (vs_reader_has_ids), else NULL.
 */
VS_API int vs_read_all_f32_ids(const char *spec, const vs_reader_opts *o, float **out, uint64_t **ids,
                               size_t *rows, uint32_t *dim, vf_error *err);

/*
 * Writes ann-benchmarks style results into the HDF5 file path: dataset "neighbors" (int64,
 * nq x k; -1 marks a missing hit) and "distances" (float32, nq x k; +inf for a missing hit),
 * both copied as given from ids and dist (nq * k values each, row-major).  The file is written
 * under a temporary name in the same directory, synced and renamed over path, so a reader sees
 * the old file or the complete new one.  Returns 0, VF_EIO or VF_EARG.
 */
VS_API int vs_h5_write_results(const char *path, size_t nq, size_t k, const int64_t *ids, const float *dist,
                               vf_error *err);

/* What an ann-benchmarks results file says besides its answers: the attributes its plotting
   tools read (ann_benchmarks/runner.py), and the per-query times ("times", float32, nq). */
typedef struct vs_h5_results_meta {
    const char *algo, *name;   /* "algo" and "name" attributes; NULL: "vecseg" */
    const char *distance;      /* ann-benchmarks' name: "euclidean", "angular", ... */
    const char *dataset;       /* "dataset": the data set's name; NULL: "" */
    double build_time;         /* seconds spent building the index (0: not known) */
    double index_size;         /* kB of index searched */
    double best_search_time;   /* seconds per query */
    double candidates;         /* mean distance computations per query (0: not counted) */
    int batch_mode;            /* 1: the queries were searched as one batch */
    int run_count;             /* runs of the query set; best_search_time is the best */
    const float *times;        /* nq seconds, one per query; NULL: best_search_time each */
} vs_h5_results_meta;

/* vs_h5_write_results, plus meta's attributes, "count" (k), "expect_extra" (false) and "times";
   meta NULL writes what vs_h5_write_results writes. */
VS_API int vs_h5_write_results_meta(const char *path, size_t nq, size_t k, const int64_t *ids, const float *dist,
                                    const vs_h5_results_meta *meta, vf_error *err);

#if defined(__cplusplus)
}
#endif
#endif /* VECSEG_H */

/* ============================================================================
 * The advanced API: not stable.  Define VECSEG_STATIC_LINKING_ONLY before
 * including this header to use it, and link the static library.  A separate
 * guard lets a file include the header again with the definition.
 * ============================================================================ */
#if defined(VECSEG_STATIC_LINKING_ONLY) && !defined(VECSEG_H_STATIC_LINKING_ONLY)
#define VECSEG_H_STATIC_LINKING_ONLY

#if defined(__cplusplus)
extern "C" {
#endif

/* ---- collection settings (SPEC.md 3.1) -------------------------------------- */
/* Every setting has a type, a default and a range in one table (settings.c):
   it gives new collections their defaults, vec-seal --set its checks, the
   code its typed getters, vec-seal --help its list and vec-inspect its
   listing.  The DEFAULT/MIN/MAX macros below (and those of the index
   parameters) are what the table is made of. */
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
VS_API const vs_setting_def *vs_settings_table(size_t *n);
/* The entry of key, or NULL when no setting has that name. */
VS_API const vs_setting_def *vs_setting_find(const char *key);
/* Parses text as a value of setting d: VF_EARG when it is not a number (or
   index type) or is out of range, with a message naming the range. */
VS_API int vs_setting_parse(const vs_setting_def *d, const char *text, uint64_t *value, vf_error *err);
/* value as text ("16", "auto"); the range as text ("2 to 128"). */
VS_API void vs_setting_format(const vs_setting_def *d, uint64_t value, char *buf, size_t n);
VS_API void vs_setting_range(const vs_setting_def *d, char *buf, size_t n);
/* The typed getter: the value of setting key in m, or its default when m
   has none.  A value out of range is VF_ECORRUPT naming the manifest and
   the range: never wrapped, clamped or replaced by the default. */
VS_API int vs_setting_get(const vf_manifest *m, const char *key, uint64_t *value, vf_error *err);

/* ---- index types and their parameters ---------------------------------------- */
enum vs_index_type {
    VS_INDEX_FLAT = 0,      /* no index sections: exact scan */
    VS_INDEX_HNSW = 1,
    VS_INDEX_IVF_FLAT = 2,
    VS_INDEX_IVF_PQ = 3,
    VS_INDEX_IVF_SQ8 = 4,
    VS_INDEX_AUTO = 99      /* chosen by segment size at build time, see below */
};

/* "flat", "hnsw", "ivf_flat", "ivf_pq", "ivf_sq8", "auto"; parse returns -1 if unknown. */
VS_API const char *vs_index_type_name(int type);
VS_API int vs_index_type_parse(const char *name);
/* The SPEC.md name of a section type ("VECTORS", "HNSW_NODES", ...), "unknown" for others. */
VS_API const char *vs_section_name(uint32_t type);
/* One line describing segment s's index from its META section (opened and checked by
   vf_seg_open and vs_index_open): "index hnsw M=16 ..." as key=value words, "index flat"
   without index sections.  out receives at most len bytes, NUL included. */
VS_API int vs_index_describe(const vf_seg *s, char *out, size_t len, vf_error *err);
/* The index type (enum vs_index_type) segment s carries, from its META sections. */
VS_API int vs_seg_index_type(const vf_seg *s);
/* The bytes of segment s a query reads whatever it asks (*hot: the header,
   section table and footer, and every section but the cold one) and those
   it reads only for the candidates it re-ranks (*cold: VECTORS, when the
   segment has an index, which scans its own sections instead); SPEC.md
   5.6.  With its vectors apart (5.6.1) they are the .vseg file's size and
   the .vcold file's.  Memory for the hot bytes keeps a query off the disk
   but for the cold rows of its candidates. */
VS_API void vs_seg_memory(const vf_seg *s, uint64_t *hot, uint64_t *cold);

/* AUTO builds FLAT below VS_AUTO_HNSW_ROWS_MIN rows (a scan of a few
   thousand rows beats any graph walk), HNSW from there up to
   VS_AUTO_HNSW_ROWS_MAX rows, and IVF_PQ above (past it a graph, about 4*M
   links a row plus the vectors, outgrows memory faster than quantized lists
   do).  SPEC.md 3.1 gives the same numbers.  Fixed, not settings: a
   collection that wants another type sets "index". */
#define VS_AUTO_HNSW_ROWS_MIN 20000
#define VS_AUTO_HNSW_ROWS_MAX 4000000

/* Build parameters (settings "hnsw-m", ...); zero means the default. */
#define VS_HNSW_M_DEFAULT 16
#define VS_HNSW_M_MIN 2
#define VS_HNSW_M_MAX 128
#define VS_HNSW_EFC_DEFAULT 200
#define VS_HNSW_EFC_MIN 8
#define VS_HNSW_EFC_MAX 4096
#define VS_IVF_NLIST_MIN 1
#define VS_IVF_NLIST_MAX 65536
#define VS_PQ_M_MIN 1
#define VS_PQ_M_MAX 256

/* ---- distances as reported ---------------------------------------------------- */
/* Searches rank by an internal distance: squared L2 for l2, -dot for ip,
   1 - cosine similarity for cosine.  Reported distances are Euclidean (the
   square root) for l2 and the internal value otherwise. */
VS_API float vs_distance_report(int metric, float internal);

/* The distance kernel set in use: "avx512", "avx2" or "scalar" (static). */
VS_API const char *vs_simd_name(void);

/* ---- routing (SPEC.md section 8) ---------------------------------------------- */
/* The 64-bit routing hash of a key (the id, or the partition key). */
VS_API uint64_t vs_route_hash(uint64_t key);
/* Index into m->shards of the shard owning key, or -1 if none does. */
VS_API long vs_route_shard(const vf_manifest *m, uint64_t key);
/* Fills m->shards for a new collection of n >= 1 shards. */
VS_API int vs_shards_init(vf_manifest *m, uint32_t n, vf_error *err);

/* ---- placement ------------------------------------------------------------------ */
typedef struct vs_place_item {    /* one segment to place */
    uint64_t rows;
    double cost;                  /* vs_segment_cost */
    long from;                    /* current node index, -1 = none or a node that left */
    long to;                      /* filled by vs_place */
    int whole;                    /* never cut (a growing segment) */
} vs_place_item;

/* Estimated query cost of a segment: rows x dim, weighted by how much of the
   rows its index touches (1 for an exact scan). */
VS_API double vs_segment_cost(uint64_t rows, uint32_t dim, int index_type);
/* Places n segments on nnodes nodes so the costs are even, moving as few as
   it can: a segment stays on its node unless the node left; then moves from
   the busiest to the idlest node even the load, each lowering the busiest
   node (none is made that would not), until it carries at most
   (1 + VS_PLACE_TOL) x the mean or no whole segment can.  Deterministic. */
VS_API int vs_place(vs_place_item *items, size_t n, size_t nnodes, vf_error *err);

/* Placements aim at the busiest node within (1 + VS_PLACE_TOL) x the mean. */
#define VS_PLACE_TOL 0.05
typedef struct vs_place_cut {     /* rows cut off a segment into a new one */
    size_t item;                  /* the segment cut: its rows and cost are what stays */
    uint64_t rows;                /* rows of the new segment */
    long to;                      /* its node */
} vs_place_cut;
/* vs_place, and where whole segments cannot bring the busiest node within
   the bound, pieces cut off the busiest nodes' segments for the idlest ones.
   *cuts is malloc'd (free it), *ncuts its length.  Deterministic. */
VS_API int vs_place_cuts(vs_place_item *items, size_t n, size_t nnodes, vs_place_cut **cuts, size_t *ncuts,
                         vf_error *err);
/* Rows that must move for every node to carry the mean cost, from the
   items' `from` placement: all rows of nodes that left and each node's
   excess (at the items' average rows per cost). */
VS_API uint64_t vs_place_min_moved(const vs_place_item *items, size_t n, size_t nnodes);

/* ---- the files a manifest names ------------------------------------------------- */
/* Every reader and writer opens a segment a manifest names through these, so
   a file that does not hold what its manifest line says is refused as damage
   (VF_ECORRUPT naming the file) before any byte of it is used.  A file that
   garbage collection removed after m was read (CURRENT names a newer manifest
   without it) gives VF_EBUSY: take a new snapshot and retry. */
/* Opens sealed segment i of m, checking dim, metric, shard, the keys flag,
   the row count and the file size against the manifest. */
VS_API int vs_sealed_open(vf_coll *c, const vf_manifest *m, size_t i, vf_seg **s, vf_error *err);
/* Maps growing segment i of m up to its committed length, checking dim,
   shard and the keys flag of its header against the manifest (its row count
   is known once its records are read: callers compare it). */
VS_API int vs_growing_map(vf_coll *c, const vf_manifest *m, size_t i, vf_log_view *v, vf_error *err);

/* ---- shares of a search and their merge (the fan-out) ---------------------------- */
/* The same as vs_snapshot_open for one given generation (0 = current):
   processes that search parts of one snapshot (MPI ranks) all open the
   generation one chose. */
VS_API int vs_snapshot_open_at(vs_snapshot **s, const char *path, uint64_t generation, vf_error *err);
/* Restricts later searches to the named segment files (growing or sealed)
   of the snapshot: one node's share.  A name the manifest lacks is refused.
   Restrictions (this and vs_snapshot_filter_keys) combine, in any order. */
VS_API int vs_snapshot_select(vs_snapshot *s, const char *const *files, size_t n, vf_error *err);

/* One live row of a snapshot; vec points into the snapshot's mapped files. */
typedef struct vs_row {
    uint64_t id, key;             /* key: 0 when the collection has no partition keys */
    const float *vec;             /* dim floats */
    uint32_t shard, pad;
} vs_row;
/* The rows a search of s may return (not deleted, not left out by
   vs_snapshot_filter_keys or vs_snapshot_select), sorted by id: *rows is
   malloc'd (*n entries; free it), valid while s is open. */
VS_API int vs_snapshot_live_rows(vs_snapshot *s, vs_row **rows, size_t *n, vf_error *err);

/* Writes rows as an HDF5 file: datasets "train" (float32, n x dim), "ids"
   (int64, n) and, with keys, "keys" (int64, n), and the root attribute
   "distance" (ann-benchmarks' name of the metric) when distance is not
   NULL.  Written like vs_h5_write_results (temporary name, synced, renamed
   over path); the bytes depend only on the rows (no timestamps).  open
   gives the row count up front; write adds rows in order; close commits,
   abort removes the temporary file (both free w; abort accepts NULL). */
typedef struct vs_h5_rows vs_h5_rows;
VS_API int vs_h5_rows_open(vs_h5_rows **w, const char *path, uint64_t n, uint32_t dim, int keys,
                           const char *distance, vf_error *err);
VS_API int vs_h5_rows_write(vs_h5_rows *w, size_t n, const float *vecs, const uint64_t *ids, const uint64_t *keys,
                            vf_error *err);
VS_API int vs_h5_rows_close(vs_h5_rows *w, vf_error *err);
VS_API void vs_h5_rows_abort(vs_h5_rows *w);

/* A hit: (internal distance, id).  Hits are ordered by distance ascending,
   ties broken by the smaller id, so every result is deterministic; a missing
   hit is id VS_NO_ID and distance +INFINITY. */
typedef struct vs_hit {
    float dist;
    uint32_t pad; /* zero; keeps the struct 16 bytes with no uninitialised holes */
    uint64_t id;
} vs_hit;

/* One share of a search: rows [share*N/nshares, (share+1)*N/nshares) of the
   snapshot's rows in manifest order (an indexed segment belongs whole to the
   share holding its first row).  Fills out[nq*k] with nq hit lists:
   internal distances, ascending, padded with missing hits.  The fan-out
   (worker processes, MPI ranks: the caller's choice) runs shares and merges
   their lists with vs_hits_merge_lists, associatively. */
VS_API int vs_search_share(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, int share,
                           int nshares, vs_hit *out, vf_error *err);

/*
 * Merges two hit lists, each ascending by (dist, id), into the best k hits of their union,
 * ascending.  An id found more than once is kept once, with its smallest distance; missing hits
 * (id VS_NO_ID) and NaN distances in the inputs are skipped.  The merge is commutative and
 * associative, so partial results may be merged in any order and grouping.
 * a, b: na and nb hits (may be NULL when the count is 0); out: room for k hits, must not overlap
 * a or b; it is filled to k with missing hits.
 * Returns the number of real hits written to out[0..return).
 */
VS_API size_t vs_hits_merge(const vs_hit *a, size_t na, const vs_hit *b, size_t nb, vs_hit *out, size_t k);

/*
 * Merges nq hit lists of k hits each: acc[q*k..] becomes the best k hits of itself and
 * b[q*k..] (vs_hits_merge's rules, missing hits anywhere in either list skipped, so no count
 * is needed).  Every fan-out merge goes through here: threads, worker processes, MPI ranks
 * and vec-query --merge.  VF_ENOMEM (acc unchanged) when k hits of scratch cannot be had.
 */
VS_API int vs_hits_merge_lists(vs_hit *acc, const vs_hit *b, size_t nq, size_t k, vf_error *err);

/* Fills n hit lists' worth of hits (n = lists * k) with missing hits. */
VS_API void vs_hits_clear(vs_hit *h, size_t n);

/*
 * What a search reports for n hits: ids[i] = h[i].id and dist[i] its reported distance under
 * metric (vs_distance_report); a missing hit gives VS_NO_ID and +INFINITY.
 */
VS_API void vs_hits_report(const vs_hit *h, size_t n, int metric, uint64_t *ids, float *dist);

/*
 * Hit lists as a partial result (SPEC.md section 7): writes hd->nq lists of hd->k hits to fd
 * (name for messages), or reads them, *h malloc'd (hd->nq * hd->k hits; free it).  The
 * format's calls (vf_partial_write_fd, vf_partial_read_fd) with the copy between hits and the
 * format's distance and id arrays done once, here.
 */
VS_API int vs_hits_write_partial(int fd, const vf_partial_hdr *hd, const vs_hit *h, const char *name, vf_error *err);
VS_API int vs_hits_read_partial(int fd, vf_partial_hdr *hd, vs_hit **h, const char *name, vf_error *err);

/* ---- threads ------------------------------------------------------------------ */
#define VS_THREADS_MAX 1024
/* What "all the cores" means wherever a thread count of 0 is taken: the
   environment variable VECSEG_THREADS when it holds a number from 1 to
   VS_THREADS_MAX, else the CPUs this process may run on (its affinity mask:
   taskset, cpusets) lowered to its cgroup CPU quota (rounded up).  lib/
   runs sgemm on its own threads, so searches and builds set OpenBLAS to one
   thread per caller (openblas_set_num_threads(1)) for the process. */
VS_API int vs_cores(void);

#if defined(__cplusplus)
}
#endif
#endif /* VECSEG_STATIC_LINKING_ONLY */
