/*
 * ingest.c - one ingest transaction: rows routed to the growing segment of
 * their shard, tombstones for deletes and upserts, and one manifest commit
 * that makes all of it visible at once.
 *
 * Invariants:
 *  - The transaction holds ingest.lock from open to commit/abort, so it is
 *    the only appender; the commit lock is held only for the commit itself.
 *  - Until the commit, nothing a reader looks at changes: appended records
 *    lie past the committed length of their log, new logs and tombstone
 *    files are in no manifest.  Abort cuts logs back to their committed
 *    length and removes new files, so the collection is byte for byte as it
 *    was ([R-INGEST-ATOMIC]).
 *  - Every row of one transaction carries the same LSN; an upsert's
 *    tombstones carry it too, so they delete older rows but not the new ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib_internal.h"

#define ID_MAX ((uint64_t)INT64_MAX)

typedef struct shard_log {
    int fd;                 /* -1 until the shard gets rows */
    int is_new;
    char file[VF_NAME_MAX];
    uint64_t length0, length, rows;
} shard_log;

struct vs_ingest {
    vf_coll *coll;
    int created, created_dir, ilock;
    vf_manifest m;          /* the state this transaction builds on */
    vs_ingest_opts o;
    uint64_t lsn, next_id, next_file, auto_lo, auto_hi;
    shard_log *logs;        /* one per m.shards entry */
    vf_tomb *tombs;
    size_t ntombs, cap_tombs;
    char tomb_file[VF_NAME_MAX];
    vs_idmap live;          /* ids live in the collection, loaded on demand */
    int live_loaded;
    vs_idmap txn;           /* given ids added by this transaction */
    float *gv;              /* per-shard gather buffers */
    uint64_t *gi, *gk;
    size_t gcap;
    vs_ingest_stats st;
};

static int new_manifest(vf_manifest *m, const vs_ingest_opts *o, vf_error *err)
{
    memset(m, 0, sizeof *m);
    m->dim = o->dim;
    m->metric = o->metric ? o->metric : VF_METRIC_L2;
    m->keys = o->keys != 0;
    m->next_lsn = 1;
    m->next_ingest_file = 1;
    m->next_maint_file = 1;
    int rc = vs_shards_init(m, o->shards ? o->shards : 1, err);
    if (rc == 0)
        rc = vs_settings_init(m, err);
    if (rc)
        vf_manifest_release(m);
    return rc;
}

int vs_file_take(vf_coll *coll, const vf_manifest *m, uint64_t *counter, char kind, char name[VF_NAME_MAX],
                 vf_error *err)
{
    /* [R-NAMES-UNIQUE] the counter never wraps; [R-ORPHAN] a leftover under the name goes */
    if (*counter == UINT64_MAX)
        return vf_fail(err, VF_ECORRUPT, "'%s': file numbers exhausted (%s is %llu): a new %c- file would reuse a name",
                       coll ? vf_coll_path(coll) : "manifest", kind == 's' ? "next-maint-file" : "next-ingest-file",
                       (unsigned long long)*counter, kind);
    vf_file_name(name, kind, (*counter)++);
    return coll ? vf_coll_clear_orphan(coll, m, name, err) : 0;
}

int vs_ingest_open(vs_ingest **out, const char *path, const vs_ingest_opts *o, vf_error *err)
{
    vs_ingest *h = calloc(1, sizeof *h);
    if (!h)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    h->o = *o;
    h->ilock = -1;
    vs_idmap_init(&h->live);
    vs_idmap_init(&h->txn);
    if (o->dim > VF_DIM_MAX) {
        free(h);
        return vf_fail(err, VF_EDIM, "'%s': dimension %u is above the limit of %d", path, o->dim, VF_DIM_MAX);
    }
    int rc = vf_coll_open(&h->coll, path, err);
    if (rc == VF_ENOENT && o->create) {
        if (o->dim == 0) {
            free(h);
            return vf_fail(err, VF_EARG, "'%s': a new collection needs a dimension", path);
        }
        vf_manifest first;
        rc = new_manifest(&first, o, err);
        if (rc == 0) {
            rc = vf_coll_create(&h->coll, path, &first, &h->created_dir, err);
            vf_manifest_release(&first);
        }
        h->created = rc == 0;
    }
    if (rc == 0)
        rc = vf_lock(h->coll, VF_LOCK_INGEST, !o->no_wait, &h->ilock, err);
    if (rc == 0)
        rc = vf_coll_snapshot(h->coll, &h->m, err);
    if (rc == 0 && o->shards && o->shards != h->m.nshards && !h->created)
        rc = vf_fail(err, VF_EARG, "'%s': the collection has %zu shard(s); --shards applies to a new collection",
                     path, h->m.nshards);
    if (rc == 0 && o->metric && o->metric != h->m.metric && !h->created)
        rc = vf_fail(err, VF_EARG, "'%s': the collection's metric is %s, not %s", path, vf_metric_name(h->m.metric),
                     vf_metric_name(o->metric));
    /* the transaction takes LSN next-lsn and leaves next-lsn + 1: never wrap ([R-NO-WRAP]) */
    if (rc == 0 && h->m.next_lsn == UINT64_MAX)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': LSNs exhausted (next-lsn is %llu): no transaction can commit", path,
                     (unsigned long long)h->m.next_lsn);
    if (rc == 0 && !(h->logs = calloc(h->m.nshards, sizeof *h->logs)))
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    if (rc) {
        vs_ingest_abort(h);
        return rc;
    }
    for (size_t i = 0; i < h->m.nshards; i++)
        h->logs[i].fd = -1;
    h->lsn = h->m.next_lsn;
    h->next_id = h->auto_lo = h->auto_hi = h->m.next_id;
    h->next_file = h->m.next_ingest_file;
    h->st.created = h->created;
    *out = h;
    return 0;
}

uint32_t vs_ingest_dim(const vs_ingest *h) { return h->m.dim; }
int vs_ingest_has_keys(const vs_ingest *h) { return h->m.keys; }

/* Loads the ids of every live row of the collection (for duplicate checks). */
static int load_live(vs_ingest *h, vf_error *err)
{
    if (h->live_loaded)
        return 0;
    vf_coll *c2;
    vs_snapshot *s;
    int rc = vf_coll_open(&c2, vf_coll_path(h->coll), err);
    if (rc)
        return rc;
    rc = vs_snapshot_build(&s, c2, &h->m, err); /* takes c2 */
    if (rc)
        return rc;
    for (size_t p = 0; rc == 0 && p < s->nparts; p++)
        for (size_t i = 0; i < s->parts[p].n; i++)
            if (!vs_part_deleted(&s->parts[p], i) && vs_idmap_put(&h->live, s->parts[p].ids[i], 1)) {
                rc = vf_fail(err, VF_ENOMEM, "out of memory");
                break;
            }
    vs_snapshot_close(s);
    h->live_loaded = rc == 0;
    return rc;
}

static int is_live(const vs_ingest *h, uint64_t id)
{
    uint64_t *v = vs_idmap_get(&h->live, id);
    return v && *v;
}

static int add_tomb(vs_ingest *h, uint64_t id, vf_error *err)
{
    if (h->ntombs == h->cap_tombs) {
        size_t cap = h->cap_tombs ? h->cap_tombs * 2 : 1024;
        vf_tomb *nt = realloc(h->tombs, cap * sizeof *nt);
        if (!nt)
            return vf_fail(err, VF_ENOMEM, "out of memory");
        h->tombs = nt;
        h->cap_tombs = cap;
    }
    h->tombs[h->ntombs++] = (vf_tomb){id, h->lsn};
    return 0;
}

/* Opens the log the shard's rows go to: its newest growing segment, or a new
   one when it has none or the newest passed log-bytes. */
static int open_shard_log(vs_ingest *h, size_t si, vf_error *err)
{
    shard_log *l = &h->logs[si];
    uint32_t shard = h->m.shards[si].id;
    const vf_growing_ent *newest = NULL;
    for (size_t i = 0; i < h->m.ngrowing; i++)
        if (h->m.growing[i].shard == shard)
            newest = &h->m.growing[i];
    int dirfd = vf_coll_dirfd(h->coll);
    uint64_t log_bytes;
    int rc = vs_setting_get(&h->m, "log-bytes", &log_bytes, err);
    if (rc)
        return rc;
    /* a log linked from elsewhere too (a `cp -al` copy of the collection) is never appended to
       or cut ([R-FILES]): its shard starts a new log, as when the log is full, so neither copy
       changes the other and both stay writable */
    struct stat st;
    int shared = newest && fstatat(dirfd, newest->file, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink != 1;
    if (newest && newest->length < log_bytes && !shared) {
        /* rows go only into a log that holds what its manifest line says */
        vf_log_view v;
        rc = vs_growing_map(h->coll, &h->m, (size_t)(newest - h->m.growing), &v, err);
        if (rc)
            return rc;
        vf_log_unmap(&v);
        snprintf(l->file, sizeof l->file, "%s", newest->file);
        l->length0 = l->length = newest->length;
        return vf_log_open_append(dirfd, l->file, l->length, &l->fd, err);
    }
    if ((rc = vs_file_take(h->coll, &h->m, &h->next_file, 'g', l->file, err)) != 0)
        return rc;
    l->is_new = 1;
    l->length0 = l->length = VF_LOG_HEADER_SIZE;
    return vf_log_create(dirfd, l->file, h->m.dim, shard, h->m.keys ? VF_LOG_FLAG_KEYS : 0, &l->fd, err);
}

static int check_ids(vs_ingest *h, size_t n, const uint64_t *ids, const char *src, uint64_t row0, vf_error *err)
{
    int rc = load_live(h, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t id = ids[i];
        if (id > ID_MAX)
            return vf_fail(err, VF_EINPUT, "'%s': row %llu: id %llu is out of range (0 to 2^63-1)", src,
                           (unsigned long long)(row0 + i), (unsigned long long)id);
        if (vs_idmap_get(&h->txn, id) || (id >= h->auto_lo && id < h->auto_hi))
            return vf_fail(err, VF_EDUP, "'%s': row %llu: duplicate id %llu in the input", src,
                           (unsigned long long)(row0 + i), (unsigned long long)id);
        if (is_live(h, id)) {
            if (!h->o.upsert)
                return vf_fail(err, VF_EDUP, "'%s': row %llu: id %llu is already in the collection (--upsert replaces)",
                               src, (unsigned long long)(row0 + i), (unsigned long long)id);
            rc = add_tomb(h, id, err);
        }
        if (rc == 0 && vs_idmap_put(&h->txn, id, 1))
            rc = vf_fail(err, VF_ENOMEM, "out of memory");
    }
    return rc;
}

int vs_ingest_add(vs_ingest *h, size_t n, const float *vecs, const uint64_t *ids, const uint64_t *keys,
                  const char *src, uint64_t first_row, vf_error *err)
{
    if (n == 0)
        return 0;
    if (!keys != !h->m.keys)
        return vf_fail(err, VF_EINPUT, "'%s': %s", src,
                       h->m.keys ? "the collection has partition keys: give each row one"
                                 : "the collection has no partition keys: rows cannot carry one");
    uint32_t d = h->m.dim;
    if (n > h->gcap) {
        free(h->gv);
        free(h->gi);
        free(h->gk);
        h->gv = malloc(n * d * sizeof *h->gv);
        h->gi = malloc(n * sizeof *h->gi);
        h->gk = malloc(n * sizeof *h->gk);
        h->gcap = n;
        if (!h->gv || !h->gi || !h->gk) {
            h->gcap = 0;
            return vf_fail(err, VF_ENOMEM, "out of memory");
        }
    }
    uint64_t *rowids = h->gi; /* the ids of this batch, auto or given */
    int rc = 0;
    if (ids) {
        rc = check_ids(h, n, ids, src, first_row, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= h->next_id)
                h->next_id = ids[i] + 1;
    } else {
        /* automatic ids are next-id .. next-id+n-1, all at most 2^63-1 ([R-NO-WRAP]) */
        if (h->next_id > ID_MAX || n > ID_MAX - h->next_id + 1)
            return vf_fail(err, VF_EINPUT, "'%s': automatic ids exhausted: %zu more from next-id %llu pass 2^63-1",
                           src, n, (unsigned long long)h->next_id);
        if (h->auto_hi != h->next_id)
            h->auto_lo = h->next_id; /* given ids came in between: start a new auto range */
        h->auto_hi = h->next_id + n;
    }
    uint64_t base = h->next_id;
    if (!ids)
        h->next_id += n;
    /* route and append one record per shard; rowids reused as the id buffer */
    uint64_t *tmpid = malloc(n * sizeof *tmpid);
    long *shard_of = malloc(n * sizeof *shard_of);
    if (!tmpid || !shard_of) {
        free(tmpid);
        free(shard_of);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        tmpid[i] = ids ? ids[i] : base + i;
        shard_of[i] = vs_route_shard(&h->m, h->m.keys ? keys[i] : tmpid[i]);
        if (shard_of[i] < 0) {
            rc = vf_fail(err, VF_ECORRUPT, "manifest: shards do not cover every key");
            break;
        }
    }
    for (size_t si = 0; rc == 0 && si < h->m.nshards; si++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (shard_of[i] == (long)si) {
                memcpy(h->gv + m * d, vecs + i * d, d * sizeof(float));
                rowids[m] = tmpid[i];
                if (keys)
                    h->gk[m] = keys[i];
                m++;
            }
        if (m == 0)
            continue;
        shard_log *l = &h->logs[si];
        if (l->fd < 0 && (rc = open_shard_log(h, si, err)) != 0)
            break;
        rc = vf_log_append(l->fd, &l->length, d, h->lsn, (uint32_t)m, rowids, keys ? h->gk : NULL, h->gv, err);
        l->rows += m;
    }
    free(tmpid);
    free(shard_of);
    if (rc == 0)
        h->st.rows += n;
    return rc;
}

int vs_ingest_delete(vs_ingest *h, size_t n, const uint64_t *ids, vf_error *err)
{
    int rc = load_live(h, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* an id with no live row gets no tombstone: it would delete nothing, and a delete of
           only such ids then commits nothing (SPEC 6) */
        if (is_live(h, ids[i])) {
            h->st.deleted_live++;
            vs_idmap_put(&h->live, ids[i], 0);
            rc = add_tomb(h, ids[i], err);
        }
    }
    if (rc == 0)
        h->st.deleted += n;
    return rc;
}

static int apply_commit(vf_manifest *next, void *arg, vf_error *err)
{
    vs_ingest *h = arg;
    for (size_t si = 0; si < h->m.nshards; si++) {
        shard_log *l = &h->logs[si];
        if (l->fd < 0)
            continue;
        if (l->is_new) {
            vf_growing_ent g;
            memset(&g, 0, sizeof g);
            snprintf(g.file, sizeof g.file, "%s", l->file);
            g.shard = h->m.shards[si].id;
            g.start = VF_LOG_HEADER_SIZE;
            g.length = l->length;
            g.rows = l->rows;
            int rc = vf_manifest_add_growing(next, &g, err);
            if (rc)
                return rc;
        } else {
            vf_growing_ent *g = vf_manifest_find_growing(next, l->file);
            if (!g || g->length != l->length0)
                return vf_fail(err, VF_ECORRUPT, "'%s': growing segment changed under the ingest lock", l->file);
            g->length = l->length;
            g->rows += l->rows;
        }
    }
    if (h->ntombs) {
        vf_tomb_ent t;
        memset(&t, 0, sizeof t);
        snprintf(t.file, sizeof t.file, "%s", h->tomb_file);
        t.count = h->ntombs;
        int rc = vf_manifest_add_tomb(next, &t, err);
        if (rc)
            return rc;
    }
    if (h->next_id > next->next_id)
        next->next_id = h->next_id;
    if (h->lsn + 1 > next->next_lsn)
        next->next_lsn = h->lsn + 1;
    if (h->next_file > next->next_ingest_file)
        next->next_ingest_file = h->next_file;
    return 0;
}

static void free_handle(vs_ingest *h)
{
    for (size_t si = 0; h->logs && si < h->m.nshards; si++)
        if (h->logs[si].fd >= 0)
            close(h->logs[si].fd);
    free(h->logs);
    free(h->tombs);
    free(h->gv);
    free(h->gi);
    free(h->gk);
    vs_idmap_release(&h->live);
    vs_idmap_release(&h->txn);
    vf_manifest_release(&h->m);
    vf_unlock(h->ilock);
    vf_coll_close(h->coll);
    free(h);
}

int vs_ingest_commit(vs_ingest *h, vs_ingest_stats *st, vf_error *err)
{
    int rc = 0;
    int dirfd = vf_coll_dirfd(h->coll);
    /* acknowledged means fsynced: data first, then the manifest naming it */
    for (size_t si = 0; rc == 0 && si < h->m.nshards; si++)
        if (h->logs[si].fd >= 0 && fdatasync(h->logs[si].fd) != 0)
            rc = vf_fail(err, VF_EIO, "'%s': fsync failed", h->logs[si].file);
    if (rc == 0 && h->ntombs) {
        rc = vs_file_take(h->coll, &h->m, &h->next_file, 't', h->tomb_file, err);
        if (rc == 0)
            rc = vf_tomb_write(dirfd, h->tomb_file, h->tombs, h->ntombs, err);
        if (rc)
            h->tomb_file[0] = 0;
    }
    /* no row appended and no id deleted (empty input, a header-only CSV): commit nothing, so
       CURRENT keeps its generation and its mtime */
    int nothing = !h->ntombs;
    for (size_t si = 0; nothing && si < h->m.nshards; si++)
        nothing = h->logs[si].fd < 0;
    if (rc == 0 && nothing && !h->created) {
        h->st.generation = h->m.generation;
        if (st)
            *st = h->st;
        free_handle(h);
        return 0;
    }
    vf_manifest done;
    if (rc == 0)
        rc = vf_coll_commit(h->coll, apply_commit, h, &done, err);
    if (rc) {
        if (h->tomb_file[0])
            unlinkat(dirfd, h->tomb_file, 0);
        vs_ingest_abort(h);
        return rc;
    }
    h->st.generation = done.generation;
    vf_manifest_release(&done);
    if (st)
        *st = h->st;
    free_handle(h);
    return 0;
}

void vs_ingest_abort(vs_ingest *h)
{
    if (!h)
        return;
    int dirfd = h->coll ? vf_coll_dirfd(h->coll) : -1;
    for (size_t si = 0; h->logs && si < h->m.nshards; si++) {
        shard_log *l = &h->logs[si];
        if (l->fd < 0)
            continue;
        if (l->is_new)
            unlinkat(dirfd, l->file, 0);
        else {
            vf_log_truncate(l->fd, l->length0, NULL);
            fdatasync(l->fd);
        }
    }
    if (h->created) {
        vf_coll *c = h->coll;
        h->coll = NULL;
        vf_unlock(h->ilock);
        h->ilock = -1;
        vf_coll_create_undo(c, h->created_dir);
    }
    free_handle(h);
}
