/*
 * vecseg_format.h - the bytes of a vecseg collection (format/ layer).
 *
 * A collection is a directory (SPEC.md section 2).  Its state is a versioned,
 * line-oriented manifest plus a pointer file, CURRENT, naming the live one.
 * Rows arrive in growing segments (append-only logs of checksummed records),
 * are turned into sealed segments (one immutable, mmap-able, self-describing
 * file each) and are deleted through tombstone files.  A query's share of
 * work produces a partial result file.  This header covers all of them; it
 * knows nothing of distances or indexes (that is lib/, vecseg.h).
 *
 * Everything on disk is little-endian.  Every call returns 0 or a negative
 * VF_E* code and fills the caller's vf_error (see vf_error.h).
 */
#ifndef VECSEG_FORMAT_H
#define VECSEG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "vf_error.h"

#if defined(__cplusplus)
extern "C" {
#endif

/* ---- versions ---------------------------------------------------------- */
#define VF_FORMAT_VERSION 1          /* log, tombstone, partial, and a segment with its vectors */
#define VF_SEG_VERSION 2             /* the highest segment read_version this reads: 2, vectors apart */
#define VF_MANIFEST_MAJOR 2          /* the highest major this reads; 1 is written without cold files */
#define VF_MANIFEST_MINOR 0
#define VF_QUOTE_(x) #x
#define VF_EXPAND_AND_QUOTE_(x) VF_QUOTE_(x)
#define VF_VERSION_STRING                                                                         \
    "format " VF_EXPAND_AND_QUOTE_(VF_SEG_VERSION) ", manifest " VF_EXPAND_AND_QUOTE_(            \
        VF_MANIFEST_MAJOR) "." VF_EXPAND_AND_QUOTE_(VF_MANIFEST_MINOR)
VF_API const char *vf_version_string(void); /* VF_VERSION_STRING: "format 2, manifest 2.0" */

/* ---- enumerations pinned by SPEC.md ------------------------------------ */
enum vf_metric { VF_METRIC_L2 = 1, VF_METRIC_IP = 2, VF_METRIC_COSINE = 3 };
enum vf_elem { VF_ELEM_F32 = 1 };

/* Metric names "l2", "ip", "cosine"; parse returns 0 when unknown. */
VF_API const char *vf_metric_name(int metric);
VF_API int vf_metric_parse(const char *name);

/* ---- limits pinned by SPEC.md ------------------------------------------ */
#define VF_ID_MAX ((uint64_t)INT64_MAX)      /* ids are 0 .. 2^63-1; next-id <= 2^63 */
#define VF_DIM_MAX 65536                     /* dim is 1 .. 65536 in every file */
#define VF_CURRENT_MAX 64                    /* bytes of CURRENT (SPEC.md 2.1) */
#define VF_MANIFEST_MAX ((size_t)64 << 20)   /* bytes of a manifest (SPEC.md 3) */
#define VF_PARTIAL_K_MAX 1000000             /* hits per query of a partial result */

/* Strict decimal u64 (SPEC.md 3): digits only, no leading zero, no
   overflow.  0 on success, -1 otherwise. */
VF_API int vf_parse_u64(const char *s, uint64_t *out);

/* ---- the manifest (SPEC.md section 3) ---------------------------------- */
#define VF_NAME_MAX 40               /* file names inside a collection */

typedef struct vf_shard_ent {        /* rows whose hash's low `depth` bits equal value, */
    uint32_t id, depth;
    uint64_t value;
    int has_key;                     /* ... or, when has_key, the rows of one partition key */
    uint64_t key;
} vf_shard_ent;

#define VF_NODE_MAX 64               /* node names (placement), "" = not placed */

typedef struct vf_growing_ent {      /* a growing segment: log bytes [start, length) are live rows */
    char file[VF_NAME_MAX];
    uint32_t shard;
    uint64_t start, length, rows;
    char node[VF_NODE_MAX];
} vf_growing_ent;

typedef struct vf_sealed_ent {
    char file[VF_NAME_MAX];
    uint32_t shard;
    uint64_t rows, bytes;
    char node[VF_NODE_MAX];
    uint64_t cold_bytes;             /* size of its .vcold file (vectors apart), 0 when none */
} vf_sealed_ent;

typedef struct vf_tomb_ent {
    char file[VF_NAME_MAX];
    uint64_t count;
} vf_tomb_ent;

typedef struct vf_setting {
    char key[32];
    char value[64];
} vf_setting;

typedef struct vf_manifest {
    uint64_t generation;
    uint32_t major, minor;           /* version the manifest was read with (major: 2 iff a cold file is named) */
    uint32_t dim;
    int metric;
    int keys;                        /* 1: every row carries a partition key */
    uint64_t next_id, next_lsn, next_ingest_file, next_maint_file;
    size_t nshards, ngrowing, nsealed, ntombs, nsettings, nnodes;
    vf_shard_ent *shards;
    vf_growing_ent *growing;
    vf_sealed_ent *sealed;
    vf_tomb_ent *tombs;
    vf_setting *settings;
    char (*nodes)[VF_NODE_MAX];      /* the nodes segments are placed on (vec-balance) */
} vf_manifest;

VF_API void vf_manifest_release(vf_manifest *m);   /* frees the arrays, keeps the struct */
/* Deep copy; dst must be released. */
VF_API int vf_manifest_copy(vf_manifest *dst, const vf_manifest *src, vf_error *err);
/* Serialises to text (malloc'd, NUL-terminated, crc32 line included). */
VF_API int vf_manifest_format(const vf_manifest *m, char **text, size_t *len, vf_error *err);
/* Parses text; name is used in messages. */
VF_API int vf_manifest_parse(vf_manifest *m, const char *text, size_t len, const char *name, vf_error *err);

/* Appenders that grow the arrays. */
VF_API int vf_manifest_add_growing(vf_manifest *m, const vf_growing_ent *g, vf_error *err);
VF_API int vf_manifest_add_sealed(vf_manifest *m, const vf_sealed_ent *s, vf_error *err);
VF_API int vf_manifest_add_tomb(vf_manifest *m, const vf_tomb_ent *t, vf_error *err);
VF_API int vf_manifest_add_shard(vf_manifest *m, const vf_shard_ent *s, vf_error *err);
VF_API int vf_manifest_add_node(vf_manifest *m, const char *name, vf_error *err);
/* The node that serves a segment placed on node (may be ""): node itself if
   the manifest lists it, else the first listed node, else "". */
VF_API const char *vf_manifest_serving_node(const vf_manifest *m, const char *node);
/* Settings: get returns the value or NULL; set adds or replaces. */
VF_API const char *vf_manifest_get(const vf_manifest *m, const char *key);
VF_API int vf_manifest_set(vf_manifest *m, const char *key, const char *value, vf_error *err);
VF_API vf_growing_ent *vf_manifest_find_growing(vf_manifest *m, const char *file);

/* ---- the collection directory ------------------------------------------ */
typedef struct vf_coll vf_coll;

/* Opens an existing collection (a directory with CURRENT). */
VF_API int vf_coll_open(vf_coll **c, const char *path, vf_error *err);
/* Creates a collection at path with the given first manifest (generation is
   set to 1), SPEC.md 2.6.  The directory may exist only if empty or holding
   what an interrupted creation left; VF_EBUSY when another process created
   the collection meanwhile.  *created_dir tells whether the directory itself
   was made (for vf_coll_create_undo on failure). */
VF_API int vf_coll_create(vf_coll **c, const char *path, vf_manifest *first, int *created_dir, vf_error *err);
/* Undoes a vf_coll_create that nothing was committed to since: deletes every
   file in the collection's directory, and the directory itself when
   created_dir, then closes c (accepts NULL). */
VF_API void vf_coll_create_undo(vf_coll *c, int created_dir);
VF_API void vf_coll_close(vf_coll *c);                 /* accepts NULL */
VF_API int vf_coll_dirfd(const vf_coll *c);
VF_API const char *vf_coll_path(const vf_coll *c);

/* Reads the snapshot CURRENT names (one consistent manifest).  On failure
   *m is left empty, so releasing it is always safe. */
VF_API int vf_coll_snapshot(vf_coll *c, vf_manifest *m, vf_error *err);
/* Reads the manifest of one generation (a snapshot another process chose);
   VF_ENOENT once garbage collection has removed it.  On failure *m is left
   empty, as by vf_coll_snapshot. */
VF_API int vf_coll_snapshot_at(vf_coll *c, uint64_t generation, vf_manifest *m, vf_error *err);

/* The three locks (SPEC.md 2.3).  Returns a fd to pass to vf_unlock. */
enum vf_lock_kind { VF_LOCK_COMMIT, VF_LOCK_INGEST, VF_LOCK_MAINT };
VF_API int vf_lock(vf_coll *c, int kind, int wait, int *fd, vf_error *err);
VF_API void vf_unlock(int fd);

/* Commits the next manifest: takes the commit lock, reads the current
   manifest, lets apply() change a copy of it, then writes generation+1 and
   switches CURRENT (write, fsync, rename, fsync dir each).  apply returning
   non-zero aborts with nothing written, and so does a next manifest the
   parser would refuse or a current generation of 2^64-1 (VF_ECORRUPT).  On
   success *out (if not NULL) receives the committed manifest (caller
   releases). */
typedef int (*vf_apply_fn)(vf_manifest *next, void *arg, vf_error *err);
VF_API int vf_coll_commit(vf_coll *c, vf_apply_fn apply, void *arg, vf_manifest *out, vf_error *err);

/* Removes files no live manifest needs (SPEC.md 2.4): manifests superseded
   more than grace seconds ago, segment and tombstone files referenced by no
   remaining manifest and older than grace, stale temporary files.  Returns
   the number of files removed, or a negative code. */
VF_API long vf_coll_gc(vf_coll *c, long grace, vf_error *err);

/* Repair (SPEC.md 2.5, repair.c).  The caller holds the lock that owns the
   counter of name (ingest.lock for g-/t- files, maint.lock for s- files),
   read m under it, and is about to create name: a regular file already
   there, numbered at or above the counter and named by no manifest, is an
   orphan a killed writer left, and is removed.  VF_ECORRUPT when the file
   there is not an orphan or not a regular file. */
VF_API int vf_coll_clear_orphan(vf_coll *c, const vf_manifest *m, const char *name, vf_error *err);

enum vf_repair_kind {
    VF_REPAIR_ORPHAN = 1,            /* g-/t-/s- file at or above its counter, in no manifest */
    VF_REPAIR_TMP,                   /* a *.tmp file */
    VF_REPAIR_MANIFEST,              /* a manifest above the current generation */
    VF_REPAIR_TAIL                   /* log bytes past the committed length, cut */
};
typedef struct vf_repair_action {
    int kind;
    char file[VF_NAME_MAX + 8];
    uint64_t from, to;               /* bytes before and after (to = 0: removed) */
} vf_repair_action;
/* Takes maint.lock and ingest.lock (VF_EBUSY when either is held) and the
   commit lock, then removes orphans, temporary files and uncommitted
   manifests and cuts torn tails of the current manifest's logs; never a
   byte a committed manifest needs.  *acts (malloc'd, sorted by file, also
   on failure) lists what was done. */
VF_API int vf_coll_repair(vf_coll *c, vf_repair_action **acts, size_t *nacts, vf_error *err);

/* Names of files: "g-00000001.log", "s-00000001.vseg", "t-00000001.tomb". */
VF_API void vf_file_name(char out[VF_NAME_MAX], char kind, uint64_t n);
/* The cold file of a sealed segment's name or path: "s-00000001.vseg" gives
   "s-00000001.vcold" (SPEC.md 5.6.1).  -1 when name does not end in ".vseg"
   or the result does not fit n bytes. */
VF_API int vf_cold_name(char *out, size_t n, const char *name);
/* The number n >= 1 of a name that is exactly vf_file_name(kind, n) (SPEC.md
   2.1); 0 on success, -1 for any other name. */
VF_API int vf_file_number(const char *name, char kind, uint64_t *n);

/* Durable file helpers: write a whole file under a temporary name, fsync,
   rename into place, fsync the directory. */
VF_API int vf_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, vf_error *err);
VF_API int vf_fsync_dir(int dirfd, vf_error *err);

VF_API uint32_t vf_crc32(uint32_t crc, const void *data, size_t len);

/* ---- growing segments: logs (SPEC.md section 4) ------------------------- */
#define VF_LOG_HEADER_SIZE 32
#define VF_LOG_REC_ROWS 1
#define VF_LOG_FLAG_KEYS 1u

/* Creates name (must not exist) with its header, fsynced. Returns an fd open
   for appending in *fd, positioned at the end. */
VF_API int vf_log_create(int dirfd, const char *name, uint32_t dim, uint32_t shard, uint32_t flags,
                         int *fd, vf_error *err);
/* Opens an existing log for appending after its first `length` bytes,
   discarding anything past them (an uncommitted tail). */
VF_API int vf_log_open_append(int dirfd, const char *name, uint64_t length, int *fd, vf_error *err);
/* Appends one rows record (n rows, lsn, ids, optional keys, vectors);
   *length advances by the record's size.  Not synced: the caller fsyncs. */
VF_API int vf_log_append(int fd, uint64_t *length, uint32_t dim, uint64_t lsn, uint32_t n,
                         const uint64_t *ids, const uint64_t *keys, const float *vecs, vf_error *err);
/* Cuts a log back to length (undo of an uncommitted append). */
VF_API int vf_log_truncate(int fd, uint64_t length, vf_error *err);

typedef struct vf_log_view {         /* a mapped log, read-only */
    const uint8_t *map;
    size_t maplen;
    uint32_t dim, shard, flags;
} vf_log_view;

typedef struct vf_rows {             /* one record's rows, pointing into the mapping */
    uint64_t lsn;
    uint32_t n;
    const uint64_t *ids;
    const uint64_t *keys;            /* NULL unless VF_LOG_FLAG_KEYS */
    const float *vecs;
} vf_rows;

/* Maps the first `length` bytes of a log and checks its header. */
VF_API int vf_log_map(int dirfd, const char *name, uint64_t length, vf_log_view *v, vf_error *err);
VF_API void vf_log_unmap(vf_log_view *v);
/* Reads the record at *off (< end), checks bounds, CRC and the rows (LSN >= 1,
   ids <= VF_ID_MAX, finite vectors), advances *off.  Returns 1 with a record,
   0 at end, negative on damage. */
VF_API int vf_log_next(const vf_log_view *v, uint64_t *off, uint64_t end, vf_rows *rows, vf_error *err);

/* ---- sealed segments (SPEC.md section 5) ------------------------------- */
#define VF_SEG_HEADER_SIZE 64
#define VF_SEG_ENTRY_SIZE 32
#define VF_SEG_FOOTER_SIZE 32
#define VF_SEG_ALIGN 64
#define VF_SEG_MAX_SECTIONS 256
#define VF_SEG_FLAG_KEYS 1u
#define VF_SEG_FLAG_APART 2u         /* a .vseg whose VECTORS live in its .vcold file (5.6.1) */
#define VF_SEG_FLAG_COLD 4u          /* a .vcold file: VECTORS only */
#define VF_SECTION_REQUIRED 1u
#define VF_COLD_REF_SIZE 32

enum vf_section_type {               /* SPEC.md 5.4; 16..127 reserved for indexes */
    VF_SEC_VECTORS = 1, VF_SEC_IDS = 2, VF_SEC_LSNS = 3, VF_SEC_NORMS = 4,
    VF_SEC_KEYS = 5, VF_SEC_ID_ORDER = 6, VF_SEC_COLD_REF = 7
};

typedef struct vf_cold_ref {         /* what pairs a .vseg with its .vcold (COLD_REF, 5.6.1) */
    uint64_t size;                   /* the .vcold file's size */
    uint32_t footer_crc;             /* CRC-32 of its 32 footer bytes */
} vf_cold_ref;

typedef struct vf_seg_info {
    uint32_t dim, elem, metric, shard, flags;
    uint64_t rows;
} vf_seg_info;

typedef struct vf_section {
    uint32_t type, flags, crc, param;
    uint64_t offset, length;
} vf_section;

typedef struct vf_seg_writer vf_seg_writer;
/* Starts a segment that will be renamed to name by finish. */
VF_API int vf_seg_writer_open(vf_seg_writer **w, int dirfd, const char *name, const vf_seg_info *info,
                              vf_error *err);
/* Sections are written in call order, each starting 64-byte aligned.  A
   section may be streamed with begin, any number of write, end. */
VF_API int vf_seg_writer_begin(vf_seg_writer *w, uint32_t type, uint32_t flags, vf_error *err);
VF_API int vf_seg_writer_write(vf_seg_writer *w, const void *data, size_t len, vf_error *err);
VF_API int vf_seg_writer_end(vf_seg_writer *w, vf_error *err);
VF_API int vf_seg_writer_section(vf_seg_writer *w, uint32_t type, uint32_t flags, const void *data,
                                 size_t len, vf_error *err);
/* Writes the table, header and footer, fsyncs, renames into place, fsyncs
   the directory, and frees w.  *bytes receives the file size. */
VF_API int vf_seg_writer_finish(vf_seg_writer *w, uint64_t *bytes, vf_error *err);
VF_API void vf_seg_writer_abort(vf_seg_writer *w);     /* removes the temporary file; accepts NULL */
/* Vectors apart (SPEC.md 5.6.1).  vf_seg_write_cold writes name (a .vcold
   file: info's rows of VECTORS, 4*rows*dim bytes at vecs) durably and fills
   *ref; vf_seg_writer_cold_ref then writes the COLD_REF section into a
   segment in VECTORS' place and marks it "vectors apart".  The .vcold is
   complete and synced before the .vseg that names it is begun. */
VF_API int vf_seg_write_cold(int dirfd, const char *name, const vf_seg_info *info, const void *vecs,
                             vf_cold_ref *ref, vf_error *err);
VF_API int vf_seg_writer_cold_ref(vf_seg_writer *w, const vf_cold_ref *ref, vf_error *err);

typedef struct vf_seg vf_seg;
/* Maps a segment and validates header, section table and footer against the
   file size: O(1) in the row count.  Section contents are not read.  name is
   a collection's file: a symbolic link or a non-regular file is refused.  A
   segment with its vectors apart also opens (not maps) its .vcold file, so
   garbage collection cannot take it later, and checks its size against
   COLD_REF; a missing one is VF_ENOENT from vf_seg_open (the caller tells a
   removal from damage) and VF_ECORRUPT from vf_seg_open_path. */
VF_API int vf_seg_open(vf_seg **s, int dirfd, const char *name, vf_error *err);
/* The same for a path a user named: it may be a link to a regular file. */
VF_API int vf_seg_open_path(vf_seg **s, const char *path, vf_error *err);
VF_API void vf_seg_close(vf_seg *s);                   /* accepts NULL */
VF_API const vf_seg_info *vf_seg_get_info(const vf_seg *s);
/* The section of a type, or NULL; valid while s is open. */
VF_API const void *vf_seg_section(const vf_seg *s, uint32_t type, uint64_t *len);
VF_API size_t vf_seg_nsections(const vf_seg *s);
VF_API const vf_section *vf_seg_section_at(const vf_seg *s, size_t i);
VF_API uint64_t vf_seg_file_size(const vf_seg *s);
/* The size of the segment's .vcold file, 0 when its vectors are in place. */
VF_API uint64_t vf_seg_cold_size(const vf_seg *s);
/* The VECTORS rows (rows*dim f32): in place, or from the .vcold file, mapped
   on the first call (MADV_RANDOM) after its footer is checked against
   COLD_REF and its header, table and footer against the segment's: O(1).
   Thread-safe; *v stays valid while s is open. */
VF_API int vf_seg_vectors(const vf_seg *s, const float **v, vf_error *err);
/* Checks every section's CRC and the rows: finite vectors, ids <= VF_ID_MAX,
   LSNs >= 1, ID_ORDER in (id, row) order (reads the whole file, and the
   .vcold file of vectors apart).  Messages name no file but the .vcold. */
VF_API int vf_seg_verify(const vf_seg *s, vf_error *err);

/* ---- tombstones (SPEC.md section 6) ------------------------------------- */
typedef struct vf_tomb {             /* rows with this id and an LSN below lsn are deleted */
    uint64_t id, lsn;
} vf_tomb;

/* Writes a tombstone file (entries sorted here by id, then lsn), durably. */
VF_API int vf_tomb_write(int dirfd, const char *name, vf_tomb *ents, size_t n, vf_error *err);
/* Reads a whole tombstone file, its size checked against its count before
   any allocation, reserved fields, ranges and order checked; *ents is
   malloc'd. */
VF_API int vf_tomb_read(int dirfd, const char *name, vf_tomb **ents, size_t *n, vf_error *err);

/* ---- partial results (SPEC.md section 7) ------------------------------- */
#define VF_PARTIAL_HEADER_SIZE 32
typedef struct vf_partial_hdr {
    uint32_t metric, nq, k;
    uint64_t generation;
} vf_partial_hdr;
/* Entries: nq*k of (float dist, uint64 id), per query ascending, missing
   hits id UINT64_MAX and dist +inf.  dist and id are parallel arrays here. */
VF_API int vf_partial_write_fd(int fd, const vf_partial_hdr *h, const float *dist, const uint64_t *ids,
                               const char *name, vf_error *err);
/* Reads a partial from a file or a pipe; memory grows only as entries
   arrive.  Reserved fields, ids, NaN distances and order are checked.  *dist
   and *ids are malloc'd (nq*k each). */
VF_API int vf_partial_read_fd(int fd, vf_partial_hdr *h, float **dist, uint64_t **ids, const char *name,
                              vf_error *err);

#if defined(__cplusplus)
}
#endif
#endif
