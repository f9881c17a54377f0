/*
 * seal.c - maintenance of a collection's segments: sealing and compaction.
 *
 * Sealing turns the committed rows of a growing segment (past the seal
 * thresholds, or all with --all) into sealed segment files of at most
 * segment-rows rows, each with the collection's index.  Compaction rewrites
 * sealed segments: it merges a shard's small segments into target-size ones
 * and rewrites a segment whose deleted share passed compact-deleted percent,
 * so deleted rows stop costing time.  A run's --index and build parameters
 * become the collection's settings in the same commit, so every later
 * rewrite (compaction, shard split, rebuild) keeps that index; segments
 * built with another index type are rebuilt.  Rows some tombstone deletes are left
 * out of every segment written.  One commit then swaps the new segments in:
 * it adds them, moves each sealed log's start past the rows now sealed, and
 * removes the compacted segments; garbage collection deletes the old files
 * once no snapshot can need them.
 *
 * Invariants: maint.lock is held for the whole run (one maintainer at a
 * time); the commit lock only for the commit; segment files are complete on
 * disk before any manifest names them; every live row is in exactly one
 * segment before and after; the same rows and settings give the same bytes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"
#include "index/ivf/ivf.h" /* the nlist and pq_m rules of a shared quantiser */
#include "lib_internal.h"
#include "util/parallel.h"

enum { JOB_SEAL, JOB_COMPACT };

typedef struct job {
    int kind;
    size_t g;               /* JOB_SEAL: index into the snapshot's growing list */
    uint64_t from, to;      /* JOB_SEAL: log byte range [from, to) sealed by this job */
    uint64_t rows_in;       /* rows the sources hold (deleted included) */
    size_t *src;            /* JOB_COMPACT: indexes into the snapshot's sealed list */
    size_t nsrc;
    uint64_t lo, hi;        /* a cut: rows [lo, hi) of its one source, when hi > 0 */
    int keep_src;           /* a cut after the first of its source: the first removes it */
    char node[VF_NODE_MAX]; /* a cut: the node of the new segment */
    vs_ivf_quant quant;     /* a cut: its source's IVF quantiser, kept (quant.cent set) */
    vs_seal_plan plan;
    uint64_t cold_bytes;    /* its .vcold file's size (cold-apart), 0 when none */
    int rc;
    vf_error err;
} job;

typedef struct seal_ctx {
    vf_coll *coll;
    const vf_manifest *m;
    const vs_idmap *tomb;
    vs_build_params bp;
    job *jobs;
    size_t njobs;
    uint64_t next_file;
    int ingest_idle;        /* we hold ingest.lock: no ingest is appending */
    vf_apply_fn more;       /* cuts: the caller's changes, in the same commit */
    void *more_arg;
    /* index options of this run that differ from the settings: committed as
       the settings (one rule: a one-off --index becomes the setting) */
    char set_key[6][24], set_val[6][24];
    size_t nset;
    const vs_seal_opts *o;  /* its progress callback, if any */
    pthread_mutex_t lock;   /* serializes the callback and its counter */
    uint64_t done, total;   /* rows built, rows to build */
    vs_ivf_quant quant;     /* the IVF quantiser this run's segments share (quant.cent set) */
} seal_ctx;

/* Removes the files job jb wrote (nothing names them): its .vseg, and its
   .vcold when it wrote one. */
static void remove_written(vf_coll *c, const job *jb)
{
    char cold[VF_NAME_MAX];
    unlinkat(vf_coll_dirfd(c), jb->plan.sealed, 0);
    if (jb->cold_bytes && vf_cold_name(cold, sizeof cold, jb->plan.sealed) == 0)
        unlinkat(vf_coll_dirfd(c), cold, 0);
}

/* Collects a job's rows from its sources into b (reserved here; the caller releases it). */
static int gather(seal_ctx *ctx, job *jb, vs_rowbuf *b_out, uint32_t *shard_out, uint64_t *seen_out, vf_error *err)
{
    const vf_manifest *m = ctx->m;
    vs_rowbuf b = {m->dim, m->keys, 0, 0, NULL, NULL, NULL, NULL, NULL};
    int rc = vs_rowbuf_reserve(&b, jb->rows_in ? (size_t)jb->rows_in : 1, err);
    uint32_t shard = 0;
    uint64_t seen = 0;
    if (rc == 0 && jb->kind == JOB_SEAL) {
        const vf_growing_ent *g = &m->growing[jb->g];
        shard = g->shard;
        vf_log_view v = {0};
        rc = vs_growing_map(ctx->coll, m, jb->g, &v, err);
        uint64_t off = jb->from;
        vf_rows r;
        int more = 0;
        while (rc == 0 && (more = vf_log_next(&v, &off, jb->to, &r, err)) == 1) {
            if (seen + r.n > jb->rows_in) {
                rc = vf_fail(err, VF_ECORRUPT, "'%s': more rows than the manifest says", g->file);
                break;
            }
            vs_rowbuf_add(&b, ctx->tomb, r.n, r.vecs, r.ids, NULL, r.lsn, r.keys);
            seen += r.n;
        }
        if (more < 0) /* name the file: the record reader only knows offsets */
            rc = vf_fail_in(err, VF_ECORRUPT, g->file);
        vf_log_unmap(&v);
    } else if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < jb->nsrc; i++) {
            const vf_sealed_ent *se = &m->sealed[jb->src[i]];
            shard = se->shard;
            vf_seg *s;
            rc = vs_sealed_open(ctx->coll, m, jb->src[i], &s, err);
            if (rc)
                break;
            const vf_seg_info *in = vf_seg_get_info(s);
            /* a cut reads rows [lo, hi) of its source, others all */
            uint64_t lo = jb->hi ? jb->lo : 0, hi = jb->hi ? jb->hi : in->rows;
            const float *vecs;
            if ((rc = vf_seg_vectors(s, &vecs, err))) { /* in place, or from its .vcold */
                vf_seg_close(s);
                break;
            }
            const uint64_t *ids = vf_seg_section(s, VF_SEC_IDS, NULL), *lsns = vf_seg_section(s, VF_SEC_LSNS, NULL),
                           *keys = vf_seg_section(s, VF_SEC_KEYS, NULL);
            if (hi > in->rows || lo > hi || seen + (hi - lo) > jb->rows_in)
                rc = vf_fail(err, VF_ECORRUPT, "'%s': segment does not match the manifest", se->file);
            else
                vs_rowbuf_add(&b, ctx->tomb, (size_t)(hi - lo), vecs + lo * m->dim, ids + lo, lsns + lo, 0,
                              keys ? keys + lo : NULL);
            seen += hi - lo;
            vf_seg_close(s);
        }
    }
    if (rc == 0 && seen != jb->rows_in)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': %llu rows found, the manifest says %llu", jb->plan.growing,
                     (unsigned long long)seen, (unsigned long long)jb->rows_in);
    *b_out = b;
    *shard_out = shard;
    *seen_out = seen;
    return rc;
}

/* Collects a job's rows from its sources and writes its segment. */
static int run_job(seal_ctx *ctx, job *jb, vf_error *err)
{
    vs_rowbuf b;
    uint32_t shard = 0;
    uint64_t seen = 0;
    int rc = gather(ctx, jb, &b, &shard, &seen, err);
    vs_build_params bp = ctx->bp;
    if (jb->quant.cent)
        bp.quant = &jb->quant;
    if (rc == 0)
        rc = vs_rowbuf_write(ctx->coll, ctx->m, &bp, &b, shard, jb->plan.sealed, &jb->plan.bytes, &jb->cold_bytes,
                             jb->plan.index, err);
    jb->plan.rows = seen;
    jb->plan.kept = b.n;
    jb->plan.shard = shard;
    vs_rowbuf_release(&b);
    return rc;
}

/* ---- the shared IVF quantiser (SPEC.md 5.5.2) ------------------------------ */

/* Training sample bound: about 64 rows per list (FAISS warns below 39), at most this many bytes. */
#define QUANT_ROWS_PER_LIST 64
#define QUANT_TRAIN_BYTES (1ull << 30)

/* The IVF kind this run builds, or -1: the index setting, or for auto the kind a job resolves to. */
static int ivf_kind(const seal_ctx *ctx)
{
    int t = ctx->bp.type;
    for (size_t i = 0; t == VS_INDEX_AUTO && i < ctx->njobs; i++)
        if (vs_index_auto((size_t)ctx->jobs[i].rows_in, ctx->m->dim, ctx->m->metric) == VS_INDEX_IVF_PQ)
            t = VS_INDEX_IVF_PQ;
    return t == VS_INDEX_IVF_FLAT || t == VS_INDEX_IVF_PQ || t == VS_INDEX_IVF_SQ8 ? t : -1;
}

/* Drift [R-IVF-DRIFT]: an existing quantiser serves this run's rows only while they lie on
   average at most QUANT_DRIFT times as far (squared L2) from their nearest centroid as the rows
   of the segment it came from (vs_ivf_quant_drift: VS_IVF_DRIFT_ROWS of each, sampled).  Rows
   of the same distribution came out 1.04 to 1.08 times as far as a quantiser's training rows on
   four sets, held-out uniform rows 1.24 times at 16 a list (bench/results/2026-12-01-drift),
   so 1.5 is past that.  With fewer than QUANT_FIT_MIN_PER_LIST training rows per list a
   quantiser's own rows sit on its centroids and cannot tell drift: it is kept. */
#define QUANT_DRIFT 1.5
#define QUANT_FIT_MIN_PER_LIST 16
#define QUANT_FIT_TRIES 4 /* distinct quantisers tried, most lists first, before training one */

/* The threads a quantiser's training or drift test uses: -t, else every core. */
static int quant_threads(const seal_ctx *ctx)
{
    return ctx->o && ctx->o->threads > 0 ? ctx->o->threads : vs_cores();
}

/* Whether q, the quantiser of sealed segment sg, still fits this run's rows (*ok).  The rows
   of the run's first job are gathered into *first on the first call (*have_first set): a
   quantiser trained after all starts from them. */
static int quant_fits(seal_ctx *ctx, const vf_seg *sg, const vs_ivf_quant *q, vs_rowbuf *first, int *have_first,
                      int *ok, vf_error *err)
{
    *ok = 1;
    if ((uint64_t)q->train_rows < (uint64_t)QUANT_FIT_MIN_PER_LIST * q->nlist)
        return 0;
    int rc = 0;
    if (!*have_first) {
        uint32_t shard;
        uint64_t seen;
        if ((rc = gather(ctx, &ctx->jobs[0], first, &shard, &seen, err)) != 0) {
            vs_rowbuf_release(first);
            return rc;
        }
        *have_first = 1;
    }
    const float *own = NULL;
    size_t nown = (size_t)vf_seg_get_info(sg)->rows;
    double fit_own = 0, fit_run = 0;
    if ((rc = vf_seg_vectors(sg, &own, err)) == 0)
        rc = vs_ivf_quant_drift(q, own, nown, first->vecs, first->n, ctx->bp.seed, quant_threads(ctx), &fit_own,
                                &fit_run, err);
    if (rc == 0 && nown && first->n)
        *ok = fit_run <= QUANT_DRIFT * fit_own;
    return rc;
}

/* Whether sg's quantiser is one of the n rejected ones q (the same bytes). */
static int rejected(const vf_seg *sg, const vs_ivf_quant *q, size_t n)
{
    uint64_t cl = 0, bl = 0;
    const void *c = vf_seg_section(sg, VS_SEC_IVF_CENTROIDS, &cl), *cb = vf_seg_section(sg, VS_SEC_PQ_CODEBOOKS, &bl);
    for (size_t i = 0; c && i < n; i++)
        if (cl == (uint64_t)q[i].nlist * q[i].dim * 4 && memcmp(c, q[i].cent, cl) == 0 &&
            (!q[i].cbt || (cb && bl == (uint64_t)q[i].dim * VS_PQ_KSUB * 4 && memcmp(cb, q[i].cbt, bl) == 0)))
            return 1;
    return 0;
}

/* [R-IVF-SHARED] Chooses the quantiser this run's IVF segments share, in ctx->quant: the
   collection's sealed segments' quantiser of the same kind and pq_m with the most lists,
   if it still fits the rows it will serve (nlist at least half the nlist rule for the
   collection's sealed rows after this run; exactly the ivf-nlist setting when that is set)
   and this run's rows have not drifted from it (quant_fits); else a new one, trained with
   that nlist on the rows of this run's first jobs (about 64 per list).  Rows of growing
   segments not sealed now do not count. */
static int choose_quant(seal_ctx *ctx, vf_error *err)
{
    const vf_manifest *m = ctx->m;
    /* IVF_PQ only: IVF_FLAT and IVF_SQ8 scan long rows, and a shared quantiser's short lists
       in many segments cost them more than the one ranking saves (IVF_FLAT, 16 segments of
       62,500 rows: 2.5x slower at recall 0.95) */
    int kind = ivf_kind(ctx) == VS_INDEX_IVF_PQ ? VS_INDEX_IVF_PQ : -1;
    uint64_t shared = 1;
    int rc = kind < 0 || ctx->njobs == 0 ? 0 : vs_setting_get(m, "ivf-shared", &shared, err);
    if (rc || kind < 0 || ctx->njobs == 0 || !shared)
        return rc;
    uint64_t served = 0;
    for (size_t i = 0; i < m->nsealed; i++)
        served += m->sealed[i].rows;
    for (size_t i = 0; i < ctx->njobs; i++)
        served += ctx->jobs[i].kind == JOB_SEAL ? ctx->jobs[i].rows_in : 0;
    uint32_t want = ctx->bp.nlist ? ctx->bp.nlist : vs_ivf_nlist_default((size_t)served);
    uint32_t pq_m = kind == VS_INDEX_IVF_PQ ? (ctx->bp.pq_m ? ctx->bp.pq_m : vs_ivf_pq_m_default(m->dim)) : 0;
    /* the best existing one: most lists, then the first in manifest order; a drifted one is
       passed over for the next best */
    vs_ivf_quant no[QUANT_FIT_TRIES];
    size_t nno = 0;
    vs_rowbuf first;
    int have_first = 0;
    while (rc == 0 && nno < QUANT_FIT_TRIES) {
        size_t best = m->nsealed;
        uint32_t best_nlist = 0;
        for (size_t i = 0; rc == 0 && i < m->nsealed; i++) {
            vf_seg *sg;
            if ((rc = vs_sealed_open(ctx->coll, m, i, &sg, err)) != 0)
                break;
            vs_ivf_quant q;
            int has = vs_ivf_quant_read(sg, 0, &q, NULL) == 0; /* not IVF, or damaged: not a candidate */
            if (has && q.kind == (uint32_t)kind && q.pq_m == pq_m && q.nlist > best_nlist &&
                (ctx->bp.nlist ? q.nlist == want : 2 * (uint64_t)q.nlist >= want) && !rejected(sg, no, nno)) {
                best = i;
                best_nlist = q.nlist;
            }
            vf_seg_close(sg);
        }
        if (rc || best == m->nsealed)
            break;
        vf_seg *sg;
        int ok = 0;
        if ((rc = vs_sealed_open(ctx->coll, m, best, &sg, err)) != 0)
            break;
        rc = vs_ivf_quant_read(sg, 1, &ctx->quant, err);
        if (rc == 0)
            rc = quant_fits(ctx, sg, &ctx->quant, &first, &have_first, &ok, err);
        vf_seg_close(sg);
        if (rc == 0 && ok) {
            ctx->bp.quant = &ctx->quant;
            break;
        }
        no[nno++] = ctx->quant;
        memset(&ctx->quant, 0, sizeof ctx->quant);
    }
    for (size_t i = 0; i < nno; i++)
        vs_ivf_quant_release(&no[i]);
    if (rc || ctx->bp.quant) {
        if (have_first)
            vs_rowbuf_release(&first);
        return rc;
    }
    /* a new one: the rows of the first jobs (in plan order, so the same plan trains the same) */
    uint64_t budget = (uint64_t)want * QUANT_ROWS_PER_LIST, cap = QUANT_TRAIN_BYTES / ((uint64_t)m->dim * 4);
    budget = budget < cap ? budget : cap;
    size_t n = 0;
    float *vecs = NULL, *norms = NULL;
    for (size_t i = 0; rc == 0 && i < ctx->njobs && n < budget; i++) {
        vs_rowbuf b;
        uint32_t shard;
        uint64_t seen;
        if (i == 0 && have_first) /* gathered for the drift test already */
            b = first, have_first = 0;
        else
            rc = gather(ctx, &ctx->jobs[i], &b, &shard, &seen, err);
        float *nv = rc ? NULL : realloc(vecs, (n + b.n + 1) * m->dim * sizeof *nv);
        float *nn = nv ? realloc(norms, (n + b.n + 1) * sizeof *nn) : NULL;
        if (nv)
            vecs = nv;
        if (nn)
            norms = nn;
        if (rc == 0 && !(nv && nn))
            rc = vf_fail(err, VF_ENOMEM, "seal: out of memory");
        if (rc == 0) {
            memcpy(vecs + n * m->dim, b.vecs, b.n * m->dim * sizeof *vecs);
            memcpy(norms + n, b.norms, b.n * sizeof *norms);
            n += b.n;
        }
        vs_rowbuf_release(&b);
    }
    if (rc == 0 && n > 0) {
        vs_build_params bp = ctx->bp;
        bp.type = kind;
        bp.nlist = want;
        bp.threads = quant_threads(ctx);
        vs_rows_view rows = {vecs, norms, n, m->dim, m->metric, NULL};
        rc = vs_ivf_quant_train(&bp, &rows, &ctx->quant, err);
        if (rc == 0)
            ctx->bp.quant = &ctx->quant;
    }
    free(vecs);
    free(norms);
    return rc;
}

/* Runs job i (a vs_parallel_for item). */
static void run_item(void *vctx, size_t i, int w)
{
    (void)w;
    seal_ctx *ctx = vctx;
    job *jb = &ctx->jobs[i];
    jb->rc = run_job(ctx, jb, &jb->err);
    if (ctx->o && ctx->o->progress) {
        pthread_mutex_lock(&ctx->lock);
        ctx->done += jb->rows_in;
        ctx->o->progress(ctx->o->progress_arg, ctx->done, ctx->total);
        pthread_mutex_unlock(&ctx->lock);
    }
}

/* ---- planning ------------------------------------------------------------ */

/* Adds a job writing the next s- file (*out); removes an orphan of that
   name unless this is a dry run. */
static int new_job(seal_ctx *ctx, size_t *cap, int dry_run, job **out, vf_error *err)
{
    if (ctx->njobs == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        job *nj = realloc(ctx->jobs, nc * sizeof *nj);
        if (!nj)
            return vf_fail(err, VF_ENOMEM, "seal: out of memory");
        ctx->jobs = nj;
        *cap = nc;
    }
    job *jb = &ctx->jobs[ctx->njobs];
    memset(jb, 0, sizeof *jb);
    int rc = vs_file_take(dry_run ? NULL : ctx->coll, ctx->m, &ctx->next_file, 's', jb->plan.sealed, err);
    if (rc == 0) {
        ctx->njobs++;
        *out = jb;
    }
    return rc;
}

/* *dead receives the rows of sealed segment i that tombstones delete.  A
   damaged segment fails the plan: a maintenance run that goes on around
   damage would exit 0 on a collection it cannot maintain. */
static int deleted_rows(vf_coll *c, const vf_manifest *m, const vs_idmap *tomb, size_t i, uint64_t *dead,
                        vf_error *err)
{
    *dead = 0;
    if (tomb->n == 0)
        return 0;
    vf_seg *s;
    int rc = vs_sealed_open(c, m, i, &s, err);
    if (rc)
        return rc;
    const vf_seg_info *in = vf_seg_get_info(s);
    const uint64_t *ids = vf_seg_section(s, VF_SEC_IDS, NULL), *lsns = vf_seg_section(s, VF_SEC_LSNS, NULL);
    uint64_t n = 0;
    for (uint64_t r = 0; r < in->rows; r++) {
        const uint64_t *t = vs_idmap_get(tomb, ids[r]);
        n += t && lsns[r] < *t;
    }
    vf_seg_close(s);
    *dead = n;
    return 0;
}

static int plan(seal_ctx *ctx, const vs_seal_opts *o, vf_error *err)
{
    const vf_manifest *m = ctx->m;
    size_t cap = 0;
    uint64_t seal_rows, idle, target, pct, want;
    int rc = vs_setting_get(m, "seal-rows", &seal_rows, err);
    if (rc == 0)
        rc = vs_setting_get(m, "seal-idle", &idle, err);
    if (rc == 0)
        rc = vs_setting_get(m, "segment-rows", &target, err);
    if (rc == 0)
        rc = vs_setting_get(m, "compact-deleted", &pct, err);
    if (rc == 0)
        rc = vs_setting_get(m, "index", &want, err);
    if (rc)
        return rc;
    time_t now = time(NULL);
    int dirfd = vf_coll_dirfd(ctx->coll);
    /* growing segments past a threshold: one job per segment-rows rows */
    for (size_t i = 0; i < m->ngrowing; i++) {
        const vf_growing_ent *g = &m->growing[i];
        if (g->rows == 0)
            continue;
        struct stat st;
        int stale = fstatat(dirfd, g->file, &st, 0) == 0 && now - st.st_mtime >= (time_t)idle;
        if (!o->all && g->rows < seal_rows && !stale)
            continue;
        /* split at record boundaries into jobs of about target rows */
        vf_log_view v;
        rc = vs_growing_map(ctx->coll, m, i, &v, err);
        if (rc)
            return rc;
        uint64_t off = g->start, from = g->start, rows = 0;
        vf_rows r;
        int more;
        while ((more = vf_log_next(&v, &off, g->length, &r, err)) == 1) {
            rows += r.n;
            if (rows >= target || off == g->length) {
                job *jb;
                if ((rc = new_job(ctx, &cap, o->dry_run, &jb, err)) != 0) {
                    vf_log_unmap(&v);
                    return rc;
                }
                jb->kind = JOB_SEAL;
                jb->g = i;
                jb->from = from;
                jb->to = off;
                jb->rows_in = rows;
                snprintf(jb->plan.growing, sizeof jb->plan.growing, "%s", g->file);
                jb->plan.shard = g->shard;
                jb->plan.rows = rows;
                snprintf(jb->plan.action, sizeof jb->plan.action, "seal");
                from = off;
                rows = 0;
            }
        }
        vf_log_unmap(&v);
        if (more < 0)
            return vf_fail_in(err, VF_ECORRUPT, g->file);
    }
    /* compaction, shard by shard: rewrite segments with too many deleted rows,
       merge small ones (under a quarter of the target) on one node up to the target */
    uint8_t *taken = calloc(m->nsealed + 1, 1);
    if (!taken)
        return vf_fail(err, VF_ENOMEM, "seal: out of memory");
    for (size_t i = 0; i < m->nsealed; i++) {
        if (taken[i])
            continue;
        uint64_t dead;
        if ((rc = deleted_rows(ctx->coll, m, ctx->tomb, i, &dead, err)) != 0) {
            free(taken);
            return rc;
        }
        int rewrite = m->sealed[i].rows > 0 && dead * 100 >= pct * m->sealed[i].rows && dead > 0;
        int small = m->sealed[i].rows < target / 4;
        if (!rewrite && !small)
            continue;
        size_t *src = malloc((m->nsealed + 1) * sizeof *src), ns = 0;
        if (!src) {
            free(taken);
            return vf_fail(err, VF_ENOMEM, "seal: out of memory");
        }
        uint64_t rows = 0;
        src[ns++] = i;
        taken[i] = 1;
        rows += m->sealed[i].rows;
        for (size_t j = i + 1; j < m->nsealed && rows < target; j++)
            /* only segments on one node merge: a merge across nodes would undo a placement
               (vec-balance cuts segments into node-sized pieces) and the next balance redo it */
            if (!taken[j] && m->sealed[j].shard == m->sealed[i].shard && m->sealed[j].rows < target / 4 &&
                rows + m->sealed[j].rows <= target && strcmp(m->sealed[j].node, m->sealed[i].node) == 0) {
                src[ns++] = j;
                taken[j] = 1;
                rows += m->sealed[j].rows;
            }
        if (ns == 1 && !rewrite) {
            free(src); /* a lone small segment: nothing to merge it with */
            taken[i] = 0;
            continue;
        }
        job *jb;
        if ((rc = new_job(ctx, &cap, o->dry_run, &jb, err)) != 0) {
            free(src);
            free(taken);
            return rc;
        }
        jb->kind = JOB_COMPACT;
        jb->src = src;
        jb->nsrc = ns;
        jb->rows_in = rows;
        jb->plan.shard = m->sealed[i].shard;
        jb->plan.rows = rows;
        snprintf(jb->plan.action, sizeof jb->plan.action, "compact");
        /* the source column lists the segments merged, comma-separated */
        size_t w = 0;
        for (size_t k = 0; k < ns && w + 2 < sizeof jb->plan.growing; k++)
            w += (size_t)snprintf(jb->plan.growing + w, sizeof jb->plan.growing - w, "%s%s", k ? "," : "",
                                  m->sealed[src[k]].file);
    }
    /* lazy rebuild: a segment whose index differs from an explicit index
       setting (changed since it was built, or by this run's --index, which
       becomes the setting) is rewritten with the new one */
    if (o->index)
        want = (uint64_t)ctx->bp.type;
    for (size_t i = 0; want != VS_INDEX_AUTO && i < m->nsealed; i++) {
        if (taken[i])
            continue;
        vf_seg *sg;
        if ((rc = vs_sealed_open(ctx->coll, m, i, &sg, err)) != 0) {
            free(taken);
            return rc;
        }
        int have = vs_seg_index_type(sg);
        vf_seg_close(sg);
        if ((uint64_t)have == want)
            continue;
        size_t *src = malloc(sizeof *src);
        job *jb;
        rc = src ? new_job(ctx, &cap, o->dry_run, &jb, err) : vf_fail(err, VF_ENOMEM, "seal: out of memory");
        if (rc) {
            free(src);
            free(taken);
            return rc;
        }
        src[0] = i;
        taken[i] = 1;
        jb->kind = JOB_COMPACT;
        jb->src = src;
        jb->nsrc = 1;
        jb->rows_in = m->sealed[i].rows;
        jb->plan.shard = m->sealed[i].shard;
        jb->plan.rows = m->sealed[i].rows;
        snprintf(jb->plan.action, sizeof jb->plan.action, "rebuild");
        snprintf(jb->plan.growing, sizeof jb->plan.growing, "%s", m->sealed[i].file);
    }
    free(taken);
    return 0;
}

/* ---- commit -------------------------------------------------------------- */

static int apply_seal(vf_manifest *next, void *arg, vf_error *err)
{
    seal_ctx *ctx = arg;
    const vf_manifest *m = ctx->m;
    for (size_t i = 0; i < ctx->nset; i++) {
        int rc = vf_manifest_set(next, ctx->set_key[i], ctx->set_val[i], err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < ctx->njobs; i++) {
        const job *jb = &ctx->jobs[i];
        if (jb->kind == JOB_SEAL) {
            vf_growing_ent *g = vf_manifest_find_growing(next, m->growing[jb->g].file);
            if (!g || g->start != jb->from || g->length < jb->to || g->rows < jb->plan.rows)
                return vf_fail(err, VF_ECORRUPT, "'%s': growing segment changed while sealing",
                               m->growing[jb->g].file);
            g->start = jb->to;
            g->rows -= jb->plan.rows;
        } else {
            for (size_t k = 0; !jb->keep_src && k < jb->nsrc; k++) {
                const char *file = m->sealed[jb->src[k]].file;
                size_t j = 0;
                while (j < next->nsealed && strcmp(next->sealed[j].file, file) != 0)
                    j++;
                if (j == next->nsealed)
                    return vf_fail(err, VF_ECORRUPT, "'%s': sealed segment vanished while compacting", file);
                next->sealed[j] = next->sealed[--next->nsealed];
            }
        }
        vf_sealed_ent s;
        memset(&s, 0, sizeof s);
        snprintf(s.file, sizeof s.file, "%s", jb->plan.sealed);
        /* the new segment stays where its rows were served until vec-balance moves it */
        snprintf(s.node, sizeof s.node, "%s",
                 jb->node[0] ? jb->node : jb->kind == JOB_SEAL ? m->growing[jb->g].node : m->sealed[jb->src[0]].node);
        s.shard = jb->plan.shard;
        s.rows = jb->plan.kept;
        s.bytes = jb->plan.bytes;
        s.cold_bytes = jb->cold_bytes;
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
    return ctx->more ? ctx->more(next, ctx->more_arg, err) : 0;
}

/* A build parameter: the option when given (non-zero, within the setting's
   range), else the setting. */
static int param(const vf_manifest *m, const char *key, uint64_t given, uint64_t *out, vf_error *err)
{
    const vs_setting_def *d = vs_setting_find(key);
    if (!given)
        return vs_setting_get(m, key, out, err);
    if (given < d->min || given > d->max)
        return vf_fail(err, VF_EARG, "%s %llu is out of range (%llu to %llu)", key, (unsigned long long)given,
                       (unsigned long long)d->min, (unsigned long long)d->max);
    *out = given;
    return 0;
}

/* [R-SETTINGS-INDEX] Notes the options of this run that change a setting: --index and the
   build parameters given with it become the collection's settings, so that
   later rewrites (compaction, splits, rebuilds) build the same index. */
static void note_settings(seal_ctx *ctx, const vs_seal_opts *o)
{
    const struct {
        const char *key;
        uint64_t given;
    } opt[] = {{"hnsw-m", o->M}, {"hnsw-ef-construction", o->ef_construction}, {"ivf-nlist", o->nlist},
               {"pq-m", o->pq_m}, {"index-seed", o->seed}};
    char val[24];
    ctx->nset = 0;
    for (size_t i = 0; i <= sizeof opt / sizeof opt[0]; i++) {
        const char *key = i ? opt[i - 1].key : "index";
        if (i == 0 && !o->index)
            continue;
        if (i > 0 && !opt[i - 1].given)
            continue;
        if (i == 0)
            snprintf(val, sizeof val, "%s", vs_index_type_name(ctx->bp.type));
        else
            snprintf(val, sizeof val, "%llu", (unsigned long long)opt[i - 1].given);
        const char *now = vf_manifest_get(ctx->m, key);
        if (now && !strcmp(now, val))
            continue;
        snprintf(ctx->set_key[ctx->nset], sizeof ctx->set_key[0], "%s", key);
        snprintf(ctx->set_val[ctx->nset], sizeof ctx->set_val[0], "%s", val);
        ctx->nset++;
    }
}

/* The build parameters: the collection's settings, overridden by o. */
int vs_build_params_of(const vf_manifest *m, const vs_seal_opts *o, vs_build_params *bp, vf_error *err)
{
    memset(bp, 0, sizeof *bp);
    uint64_t type, M, efc, nlist, pq_m;
    int rc = 0;
    if (o->index) {
        bp->type = vs_index_type_parse(o->index);
        if (bp->type < 0)
            return vf_fail(err, VF_EARG, "unknown index type '%s'", o->index);
    } else if ((rc = vs_setting_get(m, "index", &type, err)) == 0)
        bp->type = (int)type;
    /* each fits its field: the table's ranges and the options' stop below 2^32 */
    if (rc == 0)
        rc = param(m, "hnsw-m", o->M, &M, err);
    if (rc == 0)
        rc = param(m, "hnsw-ef-construction", o->ef_construction, &efc, err);
    if (rc == 0)
        rc = param(m, "ivf-nlist", o->nlist, &nlist, err);
    if (rc == 0)
        rc = param(m, "pq-m", o->pq_m, &pq_m, err);
    if (rc == 0)
        rc = param(m, "index-seed", o->seed, &bp->seed, err);
    if (rc)
        return rc;
    bp->M = (uint32_t)M;
    bp->ef_construction = (uint32_t)efc;
    bp->nlist = (uint32_t)nlist;
    bp->pq_m = (uint32_t)pq_m;
    if (bp->pq_m && m->dim % bp->pq_m)
        return vf_fail(err, VF_EARG, "--pq-m %u does not divide the dimension %u", bp->pq_m, m->dim);
    return 0;
}

/* Builds every job of ctx on `jobs` workers (ctx->bp.threads each), reporting progress through
   o; the first job's failure is the result. */
static int run_jobs(seal_ctx *ctx, int jobs, const vs_seal_opts *o, vf_error *err)
{
    ctx->o = o;
    pthread_mutex_init(&ctx->lock, NULL);
    for (size_t i = 0; i < ctx->njobs; i++)
        ctx->total += ctx->jobs[i].rows_in;
    vs_parallel_for(jobs, ctx->njobs, run_item, ctx);
    pthread_mutex_destroy(&ctx->lock);
    for (size_t i = 0; i < ctx->njobs; i++)
        if (ctx->jobs[i].rc) {
            if (err)
                *err = ctx->jobs[i].err;
            return ctx->jobs[i].rc;
        }
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
    seal_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.coll = c;
    ctx.tomb = &tomb;
    rc = vf_coll_snapshot(c, &m, err);
    ctx.m = &m;
    ctx.next_file = m.next_maint_file;
    if (rc == 0)
        rc = vs_build_params_of(&m, o, &ctx.bp, err);
    if (rc == 0)
        note_settings(&ctx, o);
    uint64_t grace = (uint64_t)o->grace; /* read up front: a bad setting fails before any work */
    if (rc == 0 && o->grace < 0)
        rc = vs_setting_get(&m, "grace", &grace, err);
    if (rc == 0)
        rc = vs_tombs_load(c, &m, &tomb, err);
    if (rc == 0)
        rc = plan(&ctx, o, err);
    ctx.o = o;
    if (rc == 0 && !o->dry_run && ctx.njobs)
        rc = choose_quant(&ctx, err);
    if (rc == 0 && !o->dry_run && ctx.njobs) {
        /* segments at once: -j, or by default one per core while several wait (a build's
           serial parts leave cores idle); the cores are shared among them, so one segment
           alone still builds on every core and the total never exceeds the cores */
        int cores = vs_cores(), jobs = o->jobs > 0 ? o->jobs : cores;
        if ((size_t)jobs > ctx.njobs)
            jobs = (int)ctx.njobs;
        ctx.bp.threads = o->threads > 0 ? o->threads : (cores / jobs > 1 ? cores / jobs : 1);
        rc = run_jobs(&ctx, jobs, o, err);
    }
    if (rc == 0 && !o->dry_run && (ctx.njobs || ctx.nset)) {
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
    if (rc && !o->dry_run) {
        /* nothing names the files written so far: remove them */
        for (size_t i = 0; i < ctx.njobs; i++)
            remove_written(c, &ctx.jobs[i]);
    }
    if (rc == 0 && !o->dry_run) {
        long removed = vf_coll_gc(c, (long)grace, err);
        if (removed < 0)
            rc = (int)removed;
        else
            rep->removed = removed;
    }
    if (rc == 0) {
        rep->nplans = ctx.njobs;
        rep->plans = malloc((ctx.njobs ? ctx.njobs : 1) * sizeof *rep->plans);
        for (size_t i = 0; rep->plans && i < ctx.njobs; i++) {
            rep->plans[i] = ctx.jobs[i].plan;
            if (o->dry_run) {
                /* what the build would choose */
                int type = ctx.bp.type == VS_INDEX_AUTO
                               ? vs_index_auto((size_t)ctx.jobs[i].rows_in, m.dim, m.metric)
                               : ctx.bp.type;
                snprintf(rep->plans[i].index, sizeof rep->plans[i].index, "%s", vs_index_type_name(type));
            }
        }
        if (!rep->plans)
            rep->nplans = 0;
    }
    for (size_t i = 0; i < ctx.njobs; i++)
        free(ctx.jobs[i].src);
    free(ctx.jobs);
    vs_ivf_quant_release(&ctx.quant);
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

/* ---- cuts (vec-balance) ---------------------------------------------------- */

int vs_seal_cuts(vf_coll *c, const vf_manifest *m, const vs_seal_cut *cuts, size_t n, vf_apply_fn more,
                 void *more_arg, const vs_seal_opts *po, uint64_t *generation, vf_error *err)
{
    vs_idmap tomb;
    vs_idmap_init(&tomb);
    seal_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.coll = c;
    ctx.m = m;
    ctx.tomb = &tomb;
    ctx.next_file = m->next_maint_file;
    ctx.more = more;
    ctx.more_arg = more_arg;
    vs_seal_opts none;
    memset(&none, 0, sizeof none);
    size_t cap = 0;
    int rc = vs_build_params_of(m, &none, &ctx.bp, err);
    if (rc == 0)
        rc = vs_tombs_load(c, m, &tomb, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        job *jb;
        size_t *src = malloc(sizeof *src);
        rc = src ? new_job(&ctx, &cap, 0, &jb, err) : vf_fail(err, VF_ENOMEM, "balance: out of memory");
        if (rc) {
            free(src);
            break;
        }
        src[0] = cuts[i].sealed;
        jb->kind = JOB_COMPACT;
        jb->src = src;
        jb->nsrc = 1;
        jb->lo = cuts[i].lo;
        jb->hi = cuts[i].hi;
        jb->rows_in = cuts[i].hi - cuts[i].lo;
        /* the first cut of a source removes it in the commit */
        for (size_t k = 0; k < i; k++)
            jb->keep_src |= cuts[k].sealed == cuts[i].sealed;
        snprintf(jb->node, sizeof jb->node, "%s", cuts[i].node);
        jb->plan.shard = m->sealed[cuts[i].sealed].shard;
        snprintf(jb->plan.action, sizeof jb->plan.action, "cut");
    }
    /* a cut keeps its source's quantiser (its group), whatever the collection's is: a move
       changes where rows are served, not how they are indexed */
    for (size_t i = 0; rc == 0 && i < ctx.njobs; i++) {
        vf_seg *sg;
        rc = vs_sealed_open(c, m, ctx.jobs[i].src[0], &sg, err);
        if (rc)
            break;
        if (vs_seg_index_type(sg) == ctx.bp.type || ctx.bp.type == VS_INDEX_AUTO) {
            rc = vs_ivf_quant_read(sg, 1, &ctx.jobs[i].quant, NULL);
            rc = rc == VF_ENOENT || rc == VF_ECORRUPT ? 0 : rc; /* not IVF, or trained anew */
        }
        vf_seg_close(sg);
    }
    if (rc == 0 && ctx.njobs) {
        int jobs = vs_cores() < (int)ctx.njobs ? vs_cores() : (int)ctx.njobs;
        ctx.bp.threads = vs_cores() / jobs > 1 ? vs_cores() / jobs : 1;
        rc = run_jobs(&ctx, jobs, po, err);
    }
    if (rc == 0) {
        vf_manifest done;
        rc = vf_coll_commit(c, apply_seal, &ctx, &done, err);
        if (rc == 0) {
            if (generation)
                *generation = done.generation;
            vf_manifest_release(&done);
        }
    }
    if (rc) /* nothing names the files written so far: remove them */
        for (size_t i = 0; i < ctx.njobs; i++)
            remove_written(c, &ctx.jobs[i]);
    for (size_t i = 0; i < ctx.njobs; i++) {
        free(ctx.jobs[i].src);
        vs_ivf_quant_release(&ctx.jobs[i].quant);
    }
    free(ctx.jobs);
    vs_ivf_quant_release(&ctx.quant);
    vs_idmap_release(&tomb);
    return rc;
}
