/*
 * balance.c - placement of segments on nodes (the second routing layer).
 *
 * Every segment, growing or sealed, of every shard is placed on a node so
 * the estimated query cost per node is even; a shard is never pinned to a
 * node, so a hot tenant's segments spread like any other data.  The plan
 * moves as little as it can: segments stay where they are unless their node
 * left; segments without a node go, largest first, to the least loaded node
 * (longest-processing-time order); then single moves of the biggest segment
 * that still lowers the maximum, from the busiest to the idlest node, even
 * out the rest, so a joining node receives about its share and no more.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib_internal.h"

/* Estimated query cost of a segment per row and dimension, relative to an
   exact scan: the share of its rows a search touches. */
static double type_weight(int type)
{
    switch (type) {
    case VS_INDEX_HNSW: return 0.05;
    case VS_INDEX_IVF_FLAT: return 0.15;
    case VS_INDEX_IVF_SQ8: return 0.08;
    case VS_INDEX_IVF_PQ: return 0.05;
    }
    return 1.0;
}

double vs_segment_cost(uint64_t rows, uint32_t dim, int index_type)
{
    return (double)rows * dim * type_weight(index_type);
}

static int cmp_desc(const void *a, const void *b, void *arg)
{
    const vs_place_item *it = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (it[x].cost != it[y].cost)
        return it[x].cost > it[y].cost ? -1 : 1;
    return x < y ? -1 : x > y; /* deterministic ties */
}

static size_t least_loaded(const double *load, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (load[i] < load[best])
            best = i;
    return best;
}

int vs_place(vs_place_item *it, size_t n, size_t nnodes, vf_error *err)
{
    if (nnodes == 0)
        return vf_fail(err, VF_EARG, "placement needs at least one node");
    double *load = calloc(nnodes, sizeof *load);
    size_t *order = malloc((n ? n : 1) * sizeof *order), *pool = malloc((n ? n : 1) * sizeof *pool), np = 0;
    if (!load || !order || !pool) {
        free(load);
        free(order);
        free(pool);
        return vf_fail(err, VF_ENOMEM, "placement: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        it[i].to = it[i].from < (long)nnodes ? it[i].from : -1;
        if (it[i].to >= 0)
            load[it[i].to] += it[i].cost;
    }
    qsort_r(order, n, sizeof *order, cmp_desc, it);
    for (size_t r = 0; r < n; r++)
        if (it[order[r]].to < 0)
            pool[np++] = order[r];
    for (size_t p = 0; p < np; p++) { /* largest first, to the least loaded */
        size_t node = least_loaded(load, nnodes);
        it[pool[p]].to = (long)node;
        load[node] += it[pool[p]].cost;
    }
    /* polish: move one segment from the busiest to the idlest node while
       that lowers the maximum */
    for (int round = 0; round < 1000; round++) {
        size_t hi = 0, lo = least_loaded(load, nnodes);
        for (size_t i = 1; i < nnodes; i++)
            if (load[i] > load[hi])
                hi = i;
        double gap = load[hi] - load[lo], best = 0;
        long pick = -1;
        for (size_t i = 0; i < n; i++)
            if (it[i].to == (long)hi && it[i].cost < gap && it[i].cost > best) {
                /* the biggest segment whose move still lowers the maximum */
                best = it[i].cost;
                pick = (long)i;
            }
        if (pick < 0 || load[lo] + best >= load[hi])
            break;
        it[pick].to = (long)lo;
        load[hi] -= best;
        load[lo] += best;
    }
    free(load);
    free(order);
    free(pool);
    return 0;
}

/* ---- vec-balance: plan and commit ----------------------------------------- */

typedef struct bal_ctx {
    const char *const *nodes;
    size_t nnodes;
    vf_manifest *plan;   /* the manifest with new placements */
} bal_ctx;

static int apply_balance(vf_manifest *next, void *arg, vf_error *err)
{
    bal_ctx *ctx = arg;
    /* segments the plan knows get its node; others (new since) keep theirs */
    for (size_t i = 0; i < next->nsealed; i++)
        for (size_t j = 0; j < ctx->plan->nsealed; j++)
            if (!strcmp(next->sealed[i].file, ctx->plan->sealed[j].file))
                memcpy(next->sealed[i].node, ctx->plan->sealed[j].node, VF_NODE_MAX);
    for (size_t i = 0; i < next->ngrowing; i++)
        for (size_t j = 0; j < ctx->plan->ngrowing; j++)
            if (!strcmp(next->growing[i].file, ctx->plan->growing[j].file))
                memcpy(next->growing[i].node, ctx->plan->growing[j].node, VF_NODE_MAX);
    free(next->nodes);
    next->nodes = NULL;
    next->nnodes = 0;
    for (size_t i = 0; i < ctx->nnodes; i++) {
        int rc = vf_manifest_add_node(next, ctx->nodes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

int vs_balance(const char *path, const char *const *nodes, size_t nnodes, int dry_run, vs_balance_report *rep,
               vf_error *err)
{
    memset(rep, 0, sizeof *rep);
    if (nnodes == 0)
        return vf_fail(err, VF_EARG, "no nodes given");
    vf_manifest probe = {0};
    for (size_t i = 0; i < nnodes; i++) {
        int rc = vf_manifest_add_node(&probe, nodes[i], err); /* checks names and duplicates */
        if (rc) {
            vf_manifest_release(&probe);
            return rc;
        }
    }
    vf_manifest_release(&probe);
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
    rc = vf_coll_snapshot(c, &m, err);
    size_t n = m.nsealed + m.ngrowing;
    vs_place_item *it = rc ? NULL : calloc(n + 1, sizeof *it);
    if (rc == 0 && !it)
        rc = vf_fail(err, VF_ENOMEM, "balance: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int sealed = i < m.nsealed;
        const char *node = sealed ? m.sealed[i].node : m.growing[i - m.nsealed].node;
        uint64_t rows = sealed ? m.sealed[i].rows : m.growing[i - m.nsealed].rows;
        int type = VS_INDEX_FLAT;
        if (sealed) {
            vf_seg *s;
            if ((rc = vs_sealed_open(c, &m, i, &s, err)))
                break;
            vs_index *ix = NULL;
            vs_rows_view rv = {vf_seg_section(s, VF_SEC_VECTORS, NULL), vf_seg_section(s, VF_SEC_NORMS, NULL),
                               (size_t)rows, m.dim, m.metric};
            if (vs_index_open(&ix, s, &rv, NULL) == 0)
                type = vs_index_type_of(ix);
            vs_index_close(ix);
            vf_seg_close(s);
        }
        it[i].rows = rows;
        it[i].cost = vs_segment_cost(rows, m.dim, type);
        it[i].from = -1;
        for (size_t k = 0; k < nnodes; k++)
            if (!strcmp(nodes[k], node))
                it[i].from = (long)k;
    }
    if (rc == 0)
        rc = vs_place(it, n, nnodes, err);
    if (rc == 0 && !(rep->moves = calloc(n + 1, sizeof *rep->moves)))
        rc = vf_fail(err, VF_ENOMEM, "balance: out of memory");
    double *load = rc ? NULL : calloc(nnodes, sizeof *load);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int sealed = i < m.nsealed;
        char *node = sealed ? m.sealed[i].node : m.growing[i - m.nsealed].node;
        const char *file = sealed ? m.sealed[i].file : m.growing[i - m.nsealed].file;
        if (load)
            load[it[i].to] += it[i].cost;
        rep->rows += it[i].rows;
        if (it[i].to != it[i].from) {
            vs_balance_move *mv = &rep->moves[rep->nmoves++];
            snprintf(mv->segment, sizeof mv->segment, "%s", file);
            snprintf(mv->from, sizeof mv->from, "%s", node);
            snprintf(mv->to, sizeof mv->to, "%s", nodes[it[i].to]);
            mv->rows = it[i].rows;
            rep->moved_rows += it[i].rows;
        }
        snprintf(node, VF_NODE_MAX, "%s", nodes[it[i].to]);
    }
    if (rc == 0 && load) {
        double mx = 0, sum = 0;
        for (size_t k = 0; k < nnodes; k++) {
            sum += load[k];
            if (load[k] > mx)
                mx = load[k];
        }
        rep->max_over_mean = sum > 0 ? mx / (sum / (double)nnodes) : 1.0;
    }
    free(load);
    if (rc == 0 && !dry_run) {
        bal_ctx ctx = {nodes, nnodes, &m};
        vf_manifest done;
        rc = vf_coll_commit(c, apply_balance, &ctx, &done, err);
        if (rc == 0) {
            rep->generation = done.generation;
            vf_manifest_release(&done);
        }
    }
    free(it);
    vf_manifest_release(&m);
    vf_unlock(mlock);
    vf_coll_close(c);
    if (rc)
        vs_balance_report_release(rep);
    return rc;
}

void vs_balance_report_release(vs_balance_report *rep)
{
    free(rep->moves);
    rep->moves = NULL;
    rep->nmoves = 0;
}
