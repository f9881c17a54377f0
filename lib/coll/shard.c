/*
 * shard.c - the first routing layer at work: listing shards, and changing
 * them online without manual sharding.
 *
 * A split replaces one shard by two children and rewrites only that shard's
 * segments: a hash split sends each row to the child whose low depth+1 hash
 * bits it matches (extendible hashing, SPEC.md 8); an isolation gives one
 * partition key a shard of its own.  Sealed segments are rewritten first,
 * outside any lock readers or ingest wait on; then, holding ingest.lock so no
 * append is lost, the shard's growing rows are copied record by record (LSNs
 * kept) into new logs of the children, and one commit swaps everything in.
 * Readers of older snapshots keep their files for the grace period.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"
#include "lib_internal.h"

static int shard_index(const vf_manifest *m, uint32_t id)
{
    for (size_t i = 0; i < m->nshards; i++)
        if (m->shards[i].id == id)
            return (int)i;
    return -1;
}

int vs_shard_list(const char *path, vs_shard_info **out, size_t *n, vf_error *err)
{
    vs_snapshot *s;
    int rc = vs_snapshot_open(&s, path, err);
    if (rc)
        return rc;
    const vf_manifest *m = &s->m;
    vs_shard_info *v = calloc(m->nshards + 1, sizeof *v);
    if (!v) {
        vs_snapshot_close(s);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->nshards; i++) {
        vs_shard_info *x = &v[i];
        x->id = m->shards[i].id;
        x->depth = m->shards[i].depth;
        x->value = m->shards[i].value;
        x->has_key = m->shards[i].has_key;
        x->key = m->shards[i].key;
        for (size_t j = 0; j < m->nsealed; j++)
            if (m->sealed[j].shard == x->id) {
                x->nsealed++;
                int t = vs_seg_index_type(s->sealed[j]);
                if (t >= 0 && (size_t)t < sizeof x->nindex / sizeof x->nindex[0])
                    x->nindex[t]++;
                x->rows += m->sealed[j].rows;
                x->bytes += m->sealed[j].bytes;
                const char *node = vf_manifest_serving_node(m, m->sealed[j].node);
                if (*node && !strstr(x->nodes, node) && strlen(x->nodes) + strlen(node) + 2 < sizeof x->nodes)
                    snprintf(x->nodes + strlen(x->nodes), sizeof x->nodes - strlen(x->nodes), "%s%s",
                             x->nodes[0] ? "," : "", node);
            }
        for (size_t j = 0; j < m->ngrowing; j++)
            if (m->growing[j].shard == x->id) {
                x->ngrowing++;
                x->rows += m->growing[j].rows;
                x->bytes += m->growing[j].length - m->growing[j].start;
                const char *node = vf_manifest_serving_node(m, m->growing[j].node);
                if (*node && !strstr(x->nodes, node) && strlen(x->nodes) + strlen(node) + 2 < sizeof x->nodes)
                    snprintf(x->nodes + strlen(x->nodes), sizeof x->nodes - strlen(x->nodes), "%s%s",
                             x->nodes[0] ? "," : "", node);
            }
    }
    /* tombstoned rows, from the snapshot's per-part bitmaps */
    for (size_t p = 0; p < s->nparts; p++) {
        int si = shard_index(m, s->parts[p].shard);
        if (si < 0 || !s->parts[p].deleted)
            continue;
        for (size_t r = 0; r < s->parts[p].n; r++)
            v[si].deleted += vs_part_deleted(&s->parts[p], r);
    }
    *out = v;
    *n = m->nshards;
    vs_snapshot_close(s);
    return 0;
}

/* ---- splitting one shard --------------------------------------------------- */

typedef struct split {
    const vf_manifest *m;
    int src;                   /* index of the shard split */
    vf_shard_ent child[2];
    int isolate;               /* child 1 owns key only */
    uint64_t key;
    /* results */
    vf_sealed_ent *sealed;     /* new sealed segments */
    size_t nsealed;
    vf_growing_ent grow[2];    /* new logs, file "" when a child got no growing rows */
    int grow_made[2];          /* this split created grow[h].file: only those are removed on failure */
    uint64_t next_maint, next_ingest, moved;
    const vs_shard_opts *o;    /* its progress callback, if any */
    uint64_t before, total, read; /* rows moved by earlier splits; sealed rows to read, read */
} split;

/* Which child a row goes to. */
static int side(const split *sp, uint64_t id, const uint64_t *key)
{
    uint64_t rk = sp->m->keys ? *key : id;
    if (sp->isolate)
        return rk == sp->key;
    return (int)((vs_route_hash(rk) >> (sp->child[0].depth - 1)) & 1); /* the new bit */
}

static int add_sealed(split *sp, const vf_sealed_ent *e, vf_error *err)
{
    vf_sealed_ent *n = realloc(sp->sealed, (sp->nsealed + 1) * sizeof *n);
    if (!n)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    sp->sealed = n;
    sp->sealed[sp->nsealed++] = *e;
    return 0;
}

/* Rewrites each sealed segment of the shard as up to two, one per child. */
static int split_sealed(vf_coll *c, split *sp, const vs_idmap *tomb, const vs_build_params *bp, vf_error *err)
{
    const vf_manifest *m = sp->m;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->nsealed; i++) {
        if (m->sealed[i].shard != m->shards[sp->src].id)
            continue;
        vf_seg *s;
        if ((rc = vs_sealed_open(c, m, i, &s, err)))
            break;
        const vf_seg_info *in = vf_seg_get_info(s);
        const float *vec;
        if ((rc = vf_seg_vectors(s, &vec, err))) {
            vf_seg_close(s);
            break;
        }
        const uint64_t *ids = vf_seg_section(s, VF_SEC_IDS, NULL), *lsn = vf_seg_section(s, VF_SEC_LSNS, NULL);
        const uint64_t *keys = vf_seg_section(s, VF_SEC_KEYS, NULL);
        vs_rowbuf b[2] = {{m->dim, m->keys, 0, 0, NULL, NULL, NULL, NULL, NULL},
                          {m->dim, m->keys, 0, 0, NULL, NULL, NULL, NULL, NULL}};
        for (int h = 0; rc == 0 && h < 2; h++)
            rc = vs_rowbuf_reserve(&b[h], in->rows ? (size_t)in->rows : 1, err);
        for (uint64_t r = 0; rc == 0 && r < in->rows; r++) {
            int h = side(sp, ids[r], keys ? keys + r : NULL);
            vs_rowbuf_add(&b[h], tomb, 1, vec + r * m->dim, ids + r, lsn + r, 0, keys ? keys + r : NULL);
        }
        /* each half keeps its source's IVF quantiser, so the halves stay in its search group
           (SPEC.md 5.5.2) and nothing is trained */
        vs_ivf_quant qz = {0};
        vs_build_params hbp = *bp;
        if (rc == 0 && (vs_seg_index_type(s) == bp->type || bp->type == VS_INDEX_AUTO) &&
            vs_ivf_quant_read(s, 1, &qz, NULL) == 0)
            hbp.quant = &qz;
        for (int h = 0; rc == 0 && h < 2; h++) {
            if (b[h].n == 0)
                continue;
            vf_sealed_ent e;
            memset(&e, 0, sizeof e);
            if ((rc = vs_file_take(c, m, &sp->next_maint, 's', e.file, err)) != 0)
                break;
            e.shard = sp->child[h].id;
            e.rows = b[h].n;
            snprintf(e.node, sizeof e.node, "%s", m->sealed[i].node);
            char index[16];
            rc = vs_rowbuf_write(c, m, &hbp, &b[h], e.shard, e.file, &e.bytes, &e.cold_bytes, index, err);
            if (rc == 0)
                rc = add_sealed(sp, &e, err);
            sp->moved += b[h].n;
        }
        vs_ivf_quant_release(&qz);
        sp->read += in->rows; /* rows read, deleted ones too: the count reaches the total */
        vs_rowbuf_release(&b[0]);
        vs_rowbuf_release(&b[1]);
        vf_seg_close(s);
        if (rc == 0 && sp->o && sp->o->progress)
            sp->o->progress(sp->o->progress_arg, sp->before + sp->read, sp->before + sp->total);
    }
    return rc;
}

/* Copies the shard's committed growing rows into one new log per child,
   record by record so every row keeps its LSN.  Needs ingest.lock. */
static int split_growing(vf_coll *c, split *sp, const vf_manifest *m2, vf_error *err)
{
    int dirfd = vf_coll_dirfd(c), fd[2] = {-1, -1}, rc = 0;
    uint64_t *ids = NULL, *keys = NULL;
    float *vecs = NULL;
    size_t cap = 0;
    for (size_t i = 0; rc == 0 && i < m2->ngrowing; i++) {
        const vf_growing_ent *g = &m2->growing[i];
        if (g->shard != m2->shards[sp->src].id || g->rows == 0)
            continue;
        vf_log_view v;
        if ((rc = vs_growing_map(c, m2, i, &v, err)))
            break;
        uint64_t off = g->start;
        vf_rows r;
        int more;
        while (rc == 0 && (more = vf_log_next(&v, &off, g->length, &r, err)) == 1) {
            if (r.n > cap) {
                cap = r.n;
                free(ids);
                free(keys);
                free(vecs);
                ids = malloc(cap * 8);
                keys = malloc(cap * 8);
                vecs = malloc(cap * m2->dim * 4);
                if (!ids || !keys || !vecs) {
                    rc = vf_fail(err, VF_ENOMEM, "out of memory");
                    break;
                }
            }
            for (int h = 0; rc == 0 && h < 2; h++) {
                uint32_t n = 0;
                for (uint32_t k = 0; k < r.n; k++)
                    if (side(sp, r.ids[k], r.keys ? r.keys + k : NULL) == h) {
                        ids[n] = r.ids[k];
                        if (r.keys)
                            keys[n] = r.keys[k];
                        memcpy(vecs + (size_t)n * m2->dim, r.vecs + (size_t)k * m2->dim, m2->dim * 4);
                        n++;
                    }
                if (n == 0)
                    continue;
                vf_growing_ent *ng = &sp->grow[h];
                if (fd[h] < 0) {
                    rc = vs_file_take(c, m2, &sp->next_ingest, 'g', ng->file, err);
                    ng->shard = sp->child[h].id;
                    ng->start = ng->length = VF_LOG_HEADER_SIZE;
                    snprintf(ng->node, sizeof ng->node, "%s", g->node);
                    if (rc == 0)
                        rc = vf_log_create(dirfd, ng->file, m2->dim, ng->shard, m2->keys ? VF_LOG_FLAG_KEYS : 0,
                                           &fd[h], err);
                    sp->grow_made[h] = rc == 0;
                    if (rc)
                        break;
                }
                if (rc == 0)
                    rc = vf_log_append(fd[h], &ng->length, m2->dim, r.lsn, n, ids, r.keys ? keys : NULL, vecs, err);
                ng->rows += n;
                sp->moved += n;
            }
        }
        if (rc == 0 && more < 0)
            rc = vf_fail_in(err, VF_ECORRUPT, g->file);
        vf_log_unmap(&v);
    }
    for (int h = 0; h < 2; h++)
        if (fd[h] >= 0) {
            if (rc == 0 && fdatasync(fd[h]) != 0)
                rc = vf_fail(err, VF_EIO, "'%s': fsync failed", sp->grow[h].file);
            close(fd[h]);
        }
    free(ids);
    free(keys);
    free(vecs);
    return rc;
}

static int apply_split(vf_manifest *next, void *arg, vf_error *err)
{
    split *sp = arg;
    uint32_t src = sp->m->shards[sp->src].id;
    int si = shard_index(next, src);
    if (si < 0)
        return vf_fail(err, VF_ECORRUPT, "shard %u vanished during the split", src);
    next->shards[si] = sp->child[0];
    int rc = vf_manifest_add_shard(next, &sp->child[1], err);
    size_t w = 0;
    for (size_t i = 0; i < next->nsealed; i++)
        if (next->sealed[i].shard != src)
            next->sealed[w++] = next->sealed[i];
    next->nsealed = w;
    w = 0;
    for (size_t i = 0; i < next->ngrowing; i++)
        if (next->growing[i].shard != src)
            next->growing[w++] = next->growing[i];
    next->ngrowing = w;
    for (size_t i = 0; rc == 0 && i < sp->nsealed; i++)
        rc = vf_manifest_add_sealed(next, &sp->sealed[i], err);
    for (int h = 0; rc == 0 && h < 2; h++)
        if (sp->grow[h].file[0])
            rc = vf_manifest_add_growing(next, &sp->grow[h], err);
    if (sp->next_maint > next->next_maint_file)
        next->next_maint_file = sp->next_maint;
    if (sp->next_ingest > next->next_ingest_file)
        next->next_ingest_file = sp->next_ingest;
    return rc;
}

/* Splits shard index src of the current manifest (isolate: key k). */
static int split_one(vf_coll *c, int src_id, int isolate, uint64_t key, const vs_shard_opts *o, uint64_t *read,
                     vs_shard_report *rep, vf_error *err)
{
    vf_manifest m, m2;
    int rc = vf_coll_snapshot(c, &m, err);
    if (rc)
        return rc;
    vs_idmap tomb;
    vs_idmap_init(&tomb);
    split sp;
    memset(&sp, 0, sizeof sp);
    sp.m = &m;
    sp.src = shard_index(&m, (uint32_t)src_id);
    sp.isolate = isolate;
    sp.key = key;
    sp.next_maint = m.next_maint_file;
    sp.o = o;
    sp.before = *read;
    for (size_t i = 0; i < m.nsealed; i++)
        sp.total += m.sealed[i].shard == (uint32_t)src_id ? m.sealed[i].rows : 0;
    uint32_t maxid = 0;
    for (size_t i = 0; i < m.nshards; i++)
        if (m.shards[i].id > maxid)
            maxid = m.shards[i].id;
    const vf_shard_ent *s = &m.shards[sp.src];
    if (isolate) {
        sp.child[0] = (vf_shard_ent){maxid + 1, s->depth, s->value, s->has_key, s->key};
        sp.child[1] = (vf_shard_ent){maxid + 2, 0, 0, 1, key};
    } else if (s->has_key || s->depth >= 63) {
        rc = vf_fail(err, VF_EARG, "shard %u cannot be split by hash", s->id);
    } else {
        sp.child[0] = (vf_shard_ent){maxid + 1, s->depth + 1, s->value, 0, 0};
        sp.child[1] = (vf_shard_ent){maxid + 2, s->depth + 1, s->value + (1ull << s->depth), 0, 0};
    }
    vs_seal_opts none = {0};
    vs_build_params bp;
    if (rc == 0)
        rc = vs_build_params_of(&m, &none, &bp, err);
    if (rc == 0)
        rc = vs_tombs_load(c, &m, &tomb, err);
    if (rc == 0)
        rc = split_sealed(c, &sp, &tomb, &bp, err);
    int ilock = -1;
    if (rc == 0)
        rc = vf_lock(c, VF_LOCK_INGEST, 1, &ilock, err);
    if (rc == 0)
        rc = vf_coll_snapshot(c, &m2, err);
    if (rc == 0) {
        sp.next_ingest = m2.next_ingest_file;
        int si2 = shard_index(&m2, (uint32_t)src_id);
        if (si2 < 0)
            rc = vf_fail(err, VF_ECORRUPT, "shard %d vanished during the split", src_id);
        else {
            int keep = sp.src;
            sp.src = si2;
            rc = split_growing(c, &sp, &m2, err);
            sp.src = keep;
        }
        if (rc == 0) {
            vf_manifest done;
            rc = vf_coll_commit(c, apply_split, &sp, &done, err);
            if (rc == 0) {
                rep->generation = done.generation;
                vf_manifest_release(&done);
            }
        }
        vf_manifest_release(&m2);
    }
    vf_unlock(ilock);
    if (rc) {
        for (size_t i = 0; i < sp.nsealed; i++) { /* with the .vcold each wrote */
            char cold[VF_NAME_MAX];
            unlinkat(vf_coll_dirfd(c), sp.sealed[i].file, 0);
            if (sp.sealed[i].cold_bytes && vf_cold_name(cold, sizeof cold, sp.sealed[i].file) == 0)
                unlinkat(vf_coll_dirfd(c), cold, 0);
        }
        for (int h = 0; h < 2; h++)
            if (sp.grow_made[h])
                unlinkat(vf_coll_dirfd(c), sp.grow[h].file, 0);
    } else {
        rep->splits++;
        rep->rows_moved += sp.moved;
        *read += sp.read;
        for (size_t i = 0; i < sp.nsealed; i++)
            rep->bytes_written += sp.sealed[i].bytes;
        for (int h = 0; h < 2; h++)
            rep->bytes_written += sp.grow[h].length;
    }
    free(sp.sealed);
    vs_idmap_release(&tomb);
    vf_manifest_release(&m);
    return rc;
}

int vs_shard_change(const char *path, const vs_shard_opts *o, vs_shard_report *rep, vf_error *err)
{
    memset(rep, 0, sizeof *rep);
    vf_coll *c;
    int rc = vf_coll_open(&c, path, err);
    if (rc)
        return rc;
    int mlock;
    rc = vf_lock(c, VF_LOCK_MAINT, 1, &mlock, err);
    if (rc) {
        vf_coll_close(c);
        return rc;
    }
    vf_manifest m;
    uint64_t grace = 0, limit = 0, read = 0; /* read: sealed rows read by the splits, for progress */
    for (int round = 0; rc == 0 && round < 1 << 16; round++) {
        if ((rc = vf_coll_snapshot(c, &m, err)))
            break;
        /* settings are read before the first split: a bad one fails up front */
        if (round == 0)
            rc = vs_setting_get(&m, "grace", &grace, err);
        if (rc == 0 && round == 0 && o->auto_split)
            rc = vs_setting_get(&m, "split-rows", &limit, err);
        int pick = -1, isolate = 0;
        if (o->isolate) {
            if (!m.keys)
                rc = vf_fail(err, VF_EARG, "'%s': the collection has no partition keys to isolate", path);
            for (size_t i = 0; rc == 0 && i < m.nshards; i++)
                if (m.shards[i].has_key && m.shards[i].key == o->key)
                    pick = -2; /* already isolated */
            if (rc == 0 && pick == -1 && round == 0) {
                long si = vs_route_shard(&m, o->key);
                pick = si >= 0 ? (int)m.shards[si].id : -1;
                isolate = 1;
            } else if (pick == -2)
                pick = -1;
        } else if (o->split >= 0) {
            if (round == 0) {
                pick = shard_index(&m, (uint32_t)o->split) >= 0 ? (int)o->split : -1;
                if (pick < 0)
                    rc = vf_fail(err, VF_EARG, "'%s': no shard %ld", path, o->split);
            }
        } else {
            /* grow to o->shards (linear-hashing order: shallowest, smallest
               value first), or split every shard past split-rows */
            for (size_t i = 0; rc == 0 && i < m.nshards; i++) {
                const vf_shard_ent *s = &m.shards[i];
                if (s->has_key)
                    continue;
                uint64_t rows = 0;
                for (size_t j = 0; j < m.nsealed; j++)
                    rows += m.sealed[j].shard == s->id ? m.sealed[j].rows : 0;
                for (size_t j = 0; j < m.ngrowing; j++)
                    rows += m.growing[j].shard == s->id ? m.growing[j].rows : 0;
                int want = o->shards ? m.nshards < o->shards : (o->auto_split && rows > limit);
                if (!want)
                    continue;
                const vf_shard_ent *b = pick >= 0 ? &m.shards[shard_index(&m, (uint32_t)pick)] : NULL;
                if (!b || s->depth < b->depth || (s->depth == b->depth && s->value < b->value))
                    pick = (int)s->id;
            }
        }
        vf_manifest_release(&m);
        if (rc || pick < 0)
            break;
        if (o->dry_run) {
            rep->planned = pick; /* the first split it would make */
            rep->splits = 1;
            break;
        }
        rc = split_one(c, pick, isolate, o->key, o, &read, rep, err);
    }
    if (rc == 0 && !o->dry_run && rep->splits)
        (void)vf_coll_gc(c, (long)grace, NULL);
    vf_unlock(mlock);
    vf_coll_close(c);
    return rc;
}
