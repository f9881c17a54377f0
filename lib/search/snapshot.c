/*
 * snapshot.c - one consistent view of a collection for reading: the manifest
 * CURRENT named when it was opened, every sealed segment mapped in place,
 * every growing log mapped up to its committed length, and the tombstones.
 * Also the one place where a file a manifest names is opened for anyone
 * (readers, vec-seal, vec-shard, vec-balance, vec-ingest, vec-inspect
 * --verify): its header is checked against the manifest line before any
 * byte is trusted [R-MANIFEST-MATCH].
 *
 * Invariants: a row is deleted iff some tombstone for its id has an LSN
 * above the row's ([R-TOMB-LSN] in SPEC.md); the per-part bitmaps say
 * exactly that.  Every file of the snapshot is opened (mapped, or read for
 * tombstones) by vs_snapshot_open, before any search starts, so garbage
 * collection cannot take a file from a search under way; one it took
 * before is a retryable failure [R-GC-RETRY].  A segment's .vcold (vectors
 * apart) is opened then too, and mapped by the first search that re-ranks.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib_internal.h"

void (*vs_snapshot_test_hook)(const char *path);

static int names_file(const vf_manifest *m, const char *file)
{
    for (size_t i = 0; i < m->nsealed; i++)
        if (!strcmp(m->sealed[i].file, file))
            return 1;
    for (size_t i = 0; i < m->ngrowing; i++)
        if (!strcmp(m->growing[i].file, file))
            return 1;
    for (size_t i = 0; i < m->ntombs; i++)
        if (!strcmp(m->tombs[i].file, file))
            return 1;
    return 0;
}

/* rc from opening file, a file m names: when the file is missing and CURRENT
   has since moved to a manifest that no longer names it, garbage collection
   removed it after m was read (a grace period shorter than this reader's
   wait) and a new snapshot will do: VF_EBUSY, which asks to retry.  A file
   the current manifest still names is missing for good: rc stands. */
static int gone(vf_coll *c, const vf_manifest *m, const char *file, int rc, vf_error *err)
{
    if (rc != VF_ENOENT)
        return rc;
    vf_manifest cur;
    if (vf_coll_snapshot(c, &cur, NULL) != 0)
        return rc;
    int moved = cur.generation != m->generation && !names_file(&cur, file);
    vf_manifest_release(&cur);
    if (!moved)
        return rc;
    return vf_fail(err, VF_EBUSY, "'%s': removed since generation %llu was read (a newer one replaced it); retry",
                   file, (unsigned long long)m->generation);
}

/* "'FILE': FIELD is A in the file but B in the manifest": a file that does not
   hold what the manifest says it holds is damaged, whatever its checksums. */
static int mismatch(vf_error *err, const char *file, const char *field, uint64_t in_file, uint64_t in_manifest)
{
    return vf_fail(err, VF_ECORRUPT, "'%s': %s is %llu in the file but %llu in the manifest", file, field,
                   (unsigned long long)in_file, (unsigned long long)in_manifest);
}

int vs_sealed_open(vf_coll *c, const vf_manifest *m, size_t i, vf_seg **out, vf_error *err)
{
    const vf_sealed_ent *e = &m->sealed[i];
    vf_seg *s;
    int rc = vf_seg_open(&s, vf_coll_dirfd(c), e->file, err);
    if (rc == VF_ENOENT) {
        /* the .vseg or its .vcold: retryable when garbage collection took
           them after m was read, else missing for good; a .vseg still there
           with its .vcold missing is damage (SPEC.md 5.6.1) */
        vf_error e2 = err ? *err : (vf_error){0};
        struct stat st;
        rc = gone(c, m, e->file, rc, err);
        if (rc == VF_ENOENT && fstatat(vf_coll_dirfd(c), e->file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (err)
                *err = e2;
            rc = vf_fail(err, VF_ECORRUPT, "%s", e2.msg);
        }
        return rc;
    }
    if (rc)
        return gone(c, m, e->file, rc, err);
    const vf_seg_info *in = vf_seg_get_info(s);
    if (in->dim != m->dim)
        rc = mismatch(err, e->file, "dim", in->dim, m->dim);
    else if (in->metric != (uint32_t)m->metric)
        rc = mismatch(err, e->file, "metric", in->metric, (uint64_t)m->metric);
    else if (in->shard != e->shard)
        rc = mismatch(err, e->file, "shard", in->shard, e->shard);
    else if (!(in->flags & VF_SEG_FLAG_KEYS) != !m->keys)
        rc = mismatch(err, e->file, "the partition keys flag", in->flags & VF_SEG_FLAG_KEYS, m->keys != 0);
    else if (in->rows != e->rows)
        rc = mismatch(err, e->file, "the row count", in->rows, e->rows);
    else if (vf_seg_file_size(s) != e->bytes)
        rc = mismatch(err, e->file, "the size in bytes", vf_seg_file_size(s), e->bytes);
    else if (vf_seg_cold_size(s) != e->cold_bytes)
        rc = mismatch(err, e->file, "the size of its cold file", vf_seg_cold_size(s), e->cold_bytes);
    if (rc) {
        vf_seg_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vs_growing_map(vf_coll *c, const vf_manifest *m, size_t i, vf_log_view *v, vf_error *err)
{
    const vf_growing_ent *g = &m->growing[i];
    int rc = vf_log_map(vf_coll_dirfd(c), g->file, g->length, v, err);
    if (rc)
        return gone(c, m, g->file, rc, err);
    if (v->dim != m->dim)
        rc = mismatch(err, g->file, "dim", v->dim, m->dim);
    else if (v->shard != g->shard)
        rc = mismatch(err, g->file, "shard", v->shard, g->shard);
    else if (!(v->flags & VF_LOG_FLAG_KEYS) != !m->keys)
        rc = mismatch(err, g->file, "the partition keys flag", v->flags & VF_LOG_FLAG_KEYS, m->keys != 0);
    if (rc)
        vf_log_unmap(v);
    return rc;
}

int vs_tombs_load(vf_coll *coll, const vf_manifest *m, vs_idmap *map, vf_error *err)
{
    for (size_t i = 0; i < m->ntombs; i++) {
        vf_tomb *t;
        size_t n;
        int rc = vf_tomb_read(vf_coll_dirfd(coll), m->tombs[i].file, &t, &n, err);
        if (rc)
            return gone(coll, m, m->tombs[i].file, rc, err);
        /* [R-MANIFEST-MATCH] a tombstone file holds the count its line gives */
        if (n != m->tombs[i].count) {
            free(t);
            return mismatch(err, m->tombs[i].file, "the entry count", n, m->tombs[i].count);
        }
        for (size_t j = 0; j < n && rc == 0; j++) {
            uint64_t *cur = vs_idmap_get(map, t[j].id);
            if (cur && *cur >= t[j].lsn)
                continue;
            if (vs_idmap_put(map, t[j].id, t[j].lsn))
                rc = vf_fail(err, VF_ENOMEM, "tombstones: out of memory");
        }
        free(t);
        if (rc)
            return rc;
    }
    return 0;
}

static int add_part(vs_snapshot *s, const vs_part *p, vf_error *err)
{
    if ((s->nparts & (s->nparts - 1)) == 0) {
        size_t cap = s->nparts ? s->nparts * 2 : 8;
        vs_part *np = realloc(s->parts, cap * sizeof *np);
        if (!np)
            return vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
        s->parts = np;
    }
    s->parts[s->nparts++] = *p;
    s->rows += p->n;
    s->selected += p->n;
    return 0;
}

/* Frees what a part owns when it could not join s->parts (which vs_snapshot_close frees). */
static void part_release(vs_part *p)
{
    free(p->deleted);
    free(p->own_norms);
}

static void mark(vs_part *p, size_t i)
{
    p->deleted[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* Sets p->deleted for the rows some tombstone covers; leaves it NULL when none. */
static int mark_deleted(vs_snapshot *s, vs_part *p, const uint32_t *order, vf_error *err)
{
    if (s->tomb.n == 0)
        return 0;
    p->deleted = calloc((p->n + 7) / 8, 1);
    if (!p->deleted)
        return vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
    int any = 0;
    if (order && s->tomb.n * 32 < p->n) {
        /* few tombstones: binary-search each in the id order, O(T log n) */
        for (size_t t = 0; t < s->tomb.cap; t++) {
            uint64_t id = s->tomb.keys[t];
            if (id == VS_NO_ID)
                continue;
            size_t lo = 0, hi = p->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                uint32_t r = order[mid];
                if (r >= p->n)
                    return vf_fail(err, VF_ECORRUPT, "segment: id order section out of range");
                if (p->ids[r] < id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; lo < p->n && order[lo] < p->n && p->ids[order[lo]] == id; lo++)
                if (vs_part_lsn(p, order[lo]) < s->tomb.vals[t]) {
                    mark(p, order[lo]);
                    any = 1;
                }
        }
    } else {
        for (size_t i = 0; i < p->n; i++) {
            uint64_t *t = vs_idmap_get(&s->tomb, p->ids[i]);
            if (t && vs_part_lsn(p, i) < *t) {
                mark(p, i);
                any = 1;
            }
        }
    }
    if (!any) {
        free(p->deleted);
        p->deleted = NULL;
    }
    return 0;
}

int vs_snapshot_build(vs_snapshot **out, vf_coll *coll, const vf_manifest *m, vf_error *err)
{
    vs_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        vf_coll_close(coll);
        return vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
    }
    vs_idmap_init(&s->tomb);
    s->coll = coll; /* owned from here on, whatever happens */
    int rc = vf_manifest_copy(&s->m, m, err);
    if (rc) {
        vf_coll_close(coll);
        free(s);
        return rc;
    }
    s->sealed = calloc(m->nsealed + 1, sizeof *s->sealed);
    s->logs = calloc(m->ngrowing + 1, sizeof *s->logs);
    if (!s->sealed || !s->logs)
        rc = vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
    if (rc == 0)
        rc = vs_tombs_load(coll, m, &s->tomb, err);
    for (size_t i = 0; rc == 0 && i < m->nsealed; i++) {
        rc = vs_sealed_open(coll, m, i, &s->sealed[i], err);
        if (rc)
            break;
        const vf_seg_info *in = vf_seg_get_info(s->sealed[i]);
        vs_part p;
        memset(&p, 0, sizeof p);
        p.vecs = vf_seg_section(s->sealed[i], VF_SEC_VECTORS, NULL);
        p.ids = vf_seg_section(s->sealed[i], VF_SEC_IDS, NULL);
        p.lsns = vf_seg_section(s->sealed[i], VF_SEC_LSNS, NULL);
        p.keys = vf_seg_section(s->sealed[i], VF_SEC_KEYS, NULL);
        p.norms = vf_seg_section(s->sealed[i], VF_SEC_NORMS, NULL);
        p.n = (size_t)in->rows;
        p.shard = m->sealed[i].shard;
        p.segment = i;
        if (p.n == 0)
            continue;
        if (!p.norms) {
            p.own_norms = malloc(p.n * sizeof(float));
            if (!p.own_norms) {
                rc = vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
                break;
            }
            for (size_t r = 0; r < p.n; r++)
                p.own_norms[r] = vs_dot(p.vecs + r * m->dim, p.vecs + r * m->dim, m->dim);
            p.norms = p.own_norms;
        }
        rc = mark_deleted(s, &p, vf_seg_section(s->sealed[i], VF_SEC_ID_ORDER, NULL), err);
        p.rows = (vs_rows_view){p.vecs, p.norms, p.n, m->dim, m->metric, p.vecs ? NULL : s->sealed[i]};
        if (rc == 0)
            rc = add_part(s, &p, err);
        if (rc)
            part_release(&p);
    }
    for (size_t i = 0; rc == 0 && i < m->ngrowing; i++) {
        const vf_growing_ent *g = &m->growing[i];
        rc = vs_growing_map(coll, m, i, &s->logs[i], err);
        if (rc)
            break;
        uint64_t off = g->start, rows = 0;
        vf_rows r;
        int more;
        while ((more = vf_log_next(&s->logs[i], &off, g->length, &r, err)) == 1) {
            rows += r.n;
            vs_part p;
            memset(&p, 0, sizeof p);
            p.vecs = r.vecs;
            p.ids = r.ids;
            p.keys = r.keys;
            p.lsn = r.lsn;
            p.n = r.n;
            p.shard = g->shard;
            p.segment = m->nsealed + i;
            p.own_norms = malloc(p.n * sizeof(float));
            if (!p.own_norms) {
                rc = vf_fail(err, VF_ENOMEM, "snapshot: out of memory");
                break;
            }
            for (size_t j = 0; j < p.n; j++)
                p.own_norms[j] = vs_dot(p.vecs + j * m->dim, p.vecs + j * m->dim, m->dim);
            p.norms = p.own_norms;
            rc = mark_deleted(s, &p, NULL, err);
            if (rc == 0)
                rc = add_part(s, &p, err);
            if (rc) {
                part_release(&p);
                break;
            }
        }
        if (more < 0) /* name the file: the record reader only knows offsets */
            rc = vf_fail_in(err, VF_ECORRUPT, g->file);
        else if (rc == 0 && rows != g->rows)
            rc = mismatch(err, g->file, "the row count", rows, g->rows);
    }
    /* indexes keep a pointer to their part's row view: open them once the
       parts array has stopped moving */
    for (size_t i = 0; rc == 0 && i < s->nparts; i++) {
        vs_part *p = &s->parts[i];
        if (p->segment >= m->nsealed)
            continue;
        if ((rc = vs_index_open(&p->index, s->sealed[p->segment], &p->rows, err)))
            rc = vf_fail_in(err, rc, m->sealed[p->segment].file);
        else if (!p->index && !p->vecs) /* vectors apart, no index: an exact scan reads them all */
            rc = vf_seg_vectors(s->sealed[p->segment], &p->vecs, err);
    }
    if (rc) {
        vs_snapshot_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vs_snapshot_open(vs_snapshot **out, const char *path, vf_error *err)
{
    return vs_snapshot_open_at(out, path, 0, err);
}

int vs_snapshot_open_at(vs_snapshot **out, const char *path, uint64_t generation, vf_error *err)
{
    vf_coll *c;
    int rc = vf_coll_open(&c, path, err);
    if (rc)
        return rc;
    vf_manifest m;
    rc = generation ? vf_coll_snapshot_at(c, generation, &m, err) : vf_coll_snapshot(c, &m, err);
    if (rc == VF_ENOENT && generation) {
        /* the chosen generation expired (a newer one exists): retryable */
        vf_manifest cur;
        if (vf_coll_snapshot(c, &cur, NULL) == 0 && cur.generation > generation)
            rc = vf_fail(err, VF_EBUSY, "'%s': generation %llu was removed (the collection is at %llu); retry", path,
                         (unsigned long long)generation, (unsigned long long)cur.generation);
        vf_manifest_release(&cur);
    }
    if (rc) {
        vf_coll_close(c);
        return rc;
    }
    if (vs_snapshot_test_hook)
        vs_snapshot_test_hook(path);
    rc = vs_snapshot_build(out, c, &m, err); /* takes c */
    vf_manifest_release(&m);
    return rc;
}

void vs_snapshot_close(vs_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nparts; i++) {
        vs_index_close(s->parts[i].index);
        free(s->parts[i].deleted);
        free(s->parts[i].own_norms);
    }
    free(s->parts);
    for (size_t i = 0; s->sealed && i < s->m.nsealed; i++)
        vf_seg_close(s->sealed[i]);
    for (size_t i = 0; s->logs && i < s->m.ngrowing; i++)
        vf_log_unmap(&s->logs[i]);
    free(s->sealed);
    free(s->logs);
    vs_idmap_release(&s->tomb);
    vf_manifest_release(&s->m);
    vf_coll_close(s->coll);
    free(s);
}

const vf_manifest *vs_snapshot_manifest(const vs_snapshot *s) { return &s->m; }

static const char *segment_file(const vs_snapshot *s, size_t seg)
{
    return seg < s->m.nsealed ? s->m.sealed[seg].file : s->m.growing[seg - s->m.nsealed].file;
}

int vs_snapshot_filter_keys(vs_snapshot *s, const uint64_t *keys, size_t n, vf_error *err)
{
    if (!s->m.keys)
        return vf_fail(err, VF_EARG, "the collection has no partition keys");
    /* the shards that can hold one of the keys */
    uint8_t *want = calloc(s->m.nshards + 1, 1);
    if (!want)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        long sh = vs_route_shard(&s->m, keys[i]);
        if (sh >= 0)
            want[sh] = 1;
    }
    s->selected = 0;
    int rc = 0;
    for (size_t p = 0; rc == 0 && p < s->nparts; p++) {
        vs_part *part = &s->parts[p];
        size_t si = 0;
        while (si < s->m.nshards && s->m.shards[si].id != part->shard)
            si++;
        if (part->skip || si == s->m.nshards || !want[si] || !part->keys) {
            part->skip = 1;
            continue;
        }
        /* rows of other keys are left out exactly as deleted ones are */
        uint8_t *bits = calloc((part->n + 7) / 8, 1);
        if (!bits) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory");
            break;
        }
        size_t live = 0;
        for (size_t r = 0; r < part->n; r++) {
            int match = 0;
            for (size_t i = 0; i < n && !match; i++)
                match = part->keys[r] == keys[i];
            if (!match || vs_part_deleted(part, r))
                bits[r >> 3] |= (uint8_t)(1u << (r & 7));
            else
                live++;
        }
        free(part->deleted);
        part->deleted = bits;
        if (live == 0)
            part->skip = 1;
        else
            s->selected += part->n;
    }
    free(want);
    return rc;
}

int vs_snapshot_select(vs_snapshot *s, const char *const *files, size_t n, vf_error *err)
{
    size_t nseg = s->m.nsealed + s->m.ngrowing;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < nseg && strcmp(segment_file(s, j), files[i]) != 0)
            j++;
        if (j == nseg)
            return vf_fail(err, VF_EARG, "'%s': no such segment in generation %llu", files[i],
                           (unsigned long long)s->m.generation);
    }
    /* restrictions only narrow: a part another one left out (another node's,
       another tenant's) stays out, in whatever order they come */
    s->selected = 0;
    for (size_t p = 0; p < s->nparts; p++) {
        const char *f = segment_file(s, s->parts[p].segment);
        int in = 0;
        for (size_t i = 0; i < n && !in; i++)
            in = strcmp(f, files[i]) == 0;
        s->parts[p].skip |= !in;
        if (!s->parts[p].skip)
            s->selected += s->parts[p].n;
    }
    return 0;
}
uint64_t vs_snapshot_rows(const vs_snapshot *s) { return s->rows; }
