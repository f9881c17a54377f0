/*
 * seal.c - turning growing segments into sealed FLAT segment files.
 *
 * For each growing segment past a threshold, the committed rows after its
 * start are written to a new sealed segment (rows some tombstone already
 * deletes are left out), and one commit then adds the sealed segments and
 * moves each log's start past the rows now sealed.  A log that is wholly
 * sealed and no longer the newest of its shard leaves the manifest; its file
 * goes with garbage collection.
 *
 * Invariants: maint.lock is held for the whole run (one maintainer at a
 * time); the commit lock only for the commit; segment files are complete on
 * disk before any manifest names them; the same rows give the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib_internal.h"

typedef struct job {
    size_t g;               /* index into the snapshot's growing list */
    vs_seal_plan plan;
    uint64_t end;           /* the log length sealed up to */
} job;

typedef struct seal_ctx {
    job *jobs;
    size_t njobs;
    uint64_t next_file;
    int ingest_idle;        /* we hold ingest.lock: no ingest is appending */
} seal_ctx;

static int cmp_order(const void *a, const void *b, void *arg)
{
    const uint64_t *ids = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (ids[x] != ids[y])
        return ids[x] < ids[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Writes rows [start, end) of one log, minus deleted rows, as a FLAT segment. */
static int seal_one(vf_coll *c, const vf_manifest *m, const vs_idmap *tomb, const vf_growing_ent *g, job *jb,
                    vf_error *err)
{
    int dirfd = vf_coll_dirfd(c);
    vf_log_view v;
    int rc = vf_log_map(dirfd, g->file, g->length, &v, err);
    if (rc)
        return rc;
    uint32_t d = m->dim;
    size_t cap = (size_t)g->rows;
    uint64_t *ids = malloc((cap ? cap : 1) * 8), *lsns = malloc((cap ? cap : 1) * 8);
    uint64_t *keys = m->keys ? malloc((cap ? cap : 1) * 8) : NULL;
    float *norms = malloc((cap ? cap : 1) * 4);
    uint32_t *order = malloc((cap ? cap : 1) * 4);
    vf_seg_writer *w = NULL;
    vf_seg_info info = {d, VF_ELEM_F32, (uint32_t)m->metric, g->shard, m->keys ? VF_SEG_FLAG_KEYS : 0, 0};
    if (!ids || !lsns || !norms || !order || (m->keys && !keys))
        rc = vf_fail(err, VF_ENOMEM, "seal: out of memory");
    if (rc == 0)
        rc = vf_seg_writer_open(&w, dirfd, jb->plan.sealed, &info, err);
    if (rc == 0)
        rc = vf_seg_writer_begin(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, err);
    uint64_t off = g->start, n = 0, read = 0;
    vf_rows r;
    int more = 0;
    while (rc == 0 && (more = vf_log_next(&v, &off, g->length, &r, err)) == 1) {
        for (uint32_t i = 0; rc == 0 && i < r.n; i++) {
            read++;
            const uint64_t *t = vs_idmap_get(tomb, r.ids[i]);
            if (t && r.lsn < *t)
                continue; /* deleted for good: purge */
            if (n == cap) {
                rc = vf_fail(err, VF_ECORRUPT, "'%s': more rows than the manifest says", g->file);
                break;
            }
            const float *x = r.vecs + (size_t)i * d;
            ids[n] = r.ids[i];
            lsns[n] = r.lsn;
            if (keys)
                keys[n] = r.keys[i];
            norms[n] = vs_dot(x, x, d);
            order[n] = (uint32_t)n;
            n++;
            rc = vf_seg_writer_write(w, x, (size_t)d * 4, err);
        }
    }
    if (more < 0) {
        /* name the file: the record reader only knows offsets */
        char msg[VF_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "damaged record");
        rc = vf_fail(err, VF_ECORRUPT, "'%s': %s", g->file, msg);
    }
    if (rc == 0 && read != g->rows)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': %llu rows found, the manifest says %llu", g->file,
                     (unsigned long long)read, (unsigned long long)g->rows);
    if (rc == 0)
        rc = vf_seg_writer_end(w, err);
    /* the id order lets a reader find a row by id in O(log n): tombstones */
    qsort_r(order, (size_t)n, sizeof *order, cmp_order, ids);
    info.rows = n;
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_IDS, VF_SECTION_REQUIRED, ids, (size_t)n * 8, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_LSNS, VF_SECTION_REQUIRED, lsns, (size_t)n * 8, err);
    if (rc == 0 && keys)
        rc = vf_seg_writer_section(w, VF_SEC_KEYS, VF_SECTION_REQUIRED, keys, (size_t)n * 8, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_NORMS, 0, norms, (size_t)n * 4, err);
    if (rc == 0)
        rc = vf_seg_writer_section(w, VF_SEC_ID_ORDER, 0, order, (size_t)n * 4, err);
    if (rc == 0) {
        vf_seg_writer_set_rows(w, n);
        rc = vf_seg_writer_finish(w, &jb->plan.bytes, err);
        w = NULL;
    }
    vf_seg_writer_abort(w);
    jb->plan.rows = read;
    jb->plan.kept = n;
    jb->end = g->length;
    free(ids);
    free(lsns);
    free(keys);
    free(norms);
    free(order);
    vf_log_unmap(&v);
    return rc;
}

static int apply_seal(vf_manifest *next, void *arg, vf_error *err)
{
    seal_ctx *ctx = arg;
    for (size_t i = 0; i < ctx->njobs; i++) {
        const job *jb = &ctx->jobs[i];
        vf_growing_ent *g = vf_manifest_find_growing(next, jb->plan.growing);
        if (!g || g->length < jb->end || g->rows < jb->plan.rows)
            return vf_fail(err, VF_ECORRUPT, "'%s': growing segment changed while sealing", jb->plan.growing);
        g->start = jb->end;
        g->rows -= jb->plan.rows;
        vf_sealed_ent s;
        memset(&s, 0, sizeof s);
        snprintf(s.file, sizeof s.file, "%s", jb->plan.sealed);
        s.shard = jb->plan.shard;
        s.rows = jb->plan.kept;
        s.bytes = jb->plan.bytes;
        int rc = vf_manifest_add_sealed(next, &s, err);
        if (rc)
            return rc;
    }
    /* drop logs wholly sealed that no ingest can append to: a newer log of
       the same shard exists, or no ingest runs (the next one starts a new log) */
    size_t w = 0;
    for (size_t i = 0; i < next->ngrowing; i++) {
        const vf_growing_ent *g = &next->growing[i];
        int newer = 0;
        for (size_t j = i + 1; j < next->ngrowing; j++)
            newer |= next->growing[j].shard == g->shard;
        if (!(g->start == g->length && (newer || ctx->ingest_idle)))
            next->growing[w++] = *g;
    }
    next->ngrowing = w;
    if (ctx->next_file > next->next_maint_file)
        next->next_maint_file = ctx->next_file;
    return 0;
}

int vs_seal(const char *path, const vs_seal_opts *o, vs_seal_report *rep, vf_error *err)
{
    memset(rep, 0, sizeof *rep);
    vf_coll *c;
    int rc = vf_coll_open(&c, path, err);
    if (rc)
        return rc;
    int mlock;
    rc = vf_lock(c, VF_LOCK_MAINT, o->wait, &mlock, err);
    if (rc) {
        vf_coll_close(c);
        return rc;
    }
    vf_manifest m;
    vs_idmap tomb;
    vs_idmap_init(&tomb);
    seal_ctx ctx = {0};
    rc = vf_coll_snapshot(c, &m, err);
    if (rc == 0)
        rc = vs_tombs_load(c, &m, &tomb, err);
    if (rc == 0 && !(ctx.jobs = calloc(m.ngrowing + 1, sizeof *ctx.jobs)))
        rc = vf_fail(err, VF_ENOMEM, "seal: out of memory");
    if (rc == 0) {
        uint64_t seal_rows = vs_setting_u64(&m, "seal-rows", VS_SEAL_ROWS_DEFAULT);
        uint64_t idle = vs_setting_u64(&m, "seal-idle", VS_SEAL_IDLE_DEFAULT);
        time_t now = time(NULL);
        ctx.next_file = m.next_maint_file;
        for (size_t i = 0; i < m.ngrowing; i++) {
            const vf_growing_ent *g = &m.growing[i];
            if (g->rows == 0)
                continue;
            struct stat st;
            int stale = fstatat(vf_coll_dirfd(c), g->file, &st, 0) == 0 && now - st.st_mtime >= (time_t)idle;
            if (!o->all && g->rows < seal_rows && !stale)
                continue;
            job *jb = &ctx.jobs[ctx.njobs++];
            jb->g = i;
            snprintf(jb->plan.growing, sizeof jb->plan.growing, "%s", g->file);
            vf_file_name(jb->plan.sealed, 's', ctx.next_file++);
            jb->plan.shard = g->shard;
            jb->plan.rows = g->rows;
        }
    }
    for (size_t i = 0; rc == 0 && !o->dry_run && i < ctx.njobs; i++)
        rc = seal_one(c, &m, &tomb, &m.growing[ctx.jobs[i].g], &ctx.jobs[i], err);
    if (rc == 0 && !o->dry_run && ctx.njobs) {
        vf_manifest done;
        int ilock = -1;
        ctx.ingest_idle = vf_lock(c, VF_LOCK_INGEST, 0, &ilock, NULL) == 0;
        rc = vf_coll_commit(c, apply_seal, &ctx, &done, err);
        vf_unlock(ilock);
        if (rc == 0) {
            rep->generation = done.generation;
            vf_manifest_release(&done);
        }
    }
    if (rc) {
        /* nothing names the files written so far: remove them */
        for (size_t i = 0; i < ctx.njobs; i++)
            unlinkat(vf_coll_dirfd(c), ctx.jobs[i].plan.sealed, 0);
    }
    if (rc == 0 && !o->dry_run) {
        long grace = o->grace >= 0 ? o->grace : (long)vs_setting_u64(&m, "grace", VS_GRACE_DEFAULT);
        long removed = vf_coll_gc(c, grace, err);
        if (removed < 0)
            rc = (int)removed;
        else
            rep->removed = removed;
    }
    if (rc == 0) {
        rep->nplans = ctx.njobs;
        rep->plans = malloc((ctx.njobs ? ctx.njobs : 1) * sizeof *rep->plans);
        for (size_t i = 0; rep->plans && i < ctx.njobs; i++)
            rep->plans[i] = ctx.jobs[i].plan;
        if (!rep->plans)
            rep->nplans = 0;
    }
    free(ctx.jobs);
    vs_idmap_release(&tomb);
    vf_manifest_release(&m);
    vf_unlock(mlock);
    vf_coll_close(c);
    return rc;
}

void vs_seal_report_release(vs_seal_report *rep)
{
    free(rep->plans);
    rep->plans = NULL;
    rep->nplans = 0;
}
