/*
 * balance.c - placement of segments on nodes (the second routing layer).
 *
 * Every segment, growing or sealed, of every shard is placed on a node so
 * the estimated query cost per node is even; a shard is never pinned to a
 * node, so a hot tenant's segments spread like any other data.  The plan
 * moves as little as it can: segments stay where they are unless their node
 * left; segments without a node go, largest first, to the least loaded node
 * (longest-processing-time order); then moves from the busiest to the idlest
 * node even out the rest, so a joining node receives about its share and no
 * more.  Segments too coarse for the node count (8 of 524k rows over five
 * nodes) are cut: vec-balance rewrites a piece of the right size as a new
 * segment on the idlest node (vs_place_cuts; the rewrite is seal.c's).
 *
 * Invariants: every move comes from the busiest node and lowers it; moves
 * stop once the busiest carries at most (1 + VS_PLACE_TOL) x the mean; the
 * same items give the same plan.
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

static size_t most_loaded(const double *load, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (load[i] > load[best])
            best = i;
    return best;
}

/* Moves item i (or a piece of it) to node `to`: the loads follow. */
static void move_cost(double *load, long from, long to, double cost)
{
    load[from] -= cost;
    load[to] += cost;
}

/* Levels out whole segments by batches: every node at the maximum gives its
   biggest segment that leaves both ends below that maximum to the idlest
   node; a batch is kept only if every busiest node was lowered, so no move
   is kept that does not lower the maximum.  Stops once the maximum is at
   most cap: moves past the bound would only add moved rows.  Returns the
   moves kept. */
static size_t polish(vs_place_item *it, size_t n, double *load, size_t nnodes, double cap, long *undo)
{
    size_t kept = 0;
    for (int round = 0; round < 1000; round++) {
        double mx = load[most_loaded(load, nnodes)], eps = mx * 1e-12;
        if (mx <= cap)
            break;
        size_t nu = 0;
        int ok = 1;
        for (size_t hi = 0; ok && hi < nnodes; hi++) {
            if (load[hi] < mx - eps)
                continue;
            size_t lo = least_loaded(load, nnodes);
            double best = 0;
            long pick = -1;
            for (size_t i = 0; i < n; i++)
                if (it[i].to == (long)hi && it[i].cost > best && load[lo] + it[i].cost < mx - eps &&
                    load[hi] - it[i].cost < mx - eps) {
                    best = it[i].cost;
                    pick = (long)i;
                }
            if (pick < 0) {
                ok = 0;
                break;
            }
            undo[nu++] = pick;
            move_cost(load, (long)hi, (long)lo, best);
            it[pick].to = (long)lo;
            undo[nu++] = (long)hi;
        }
        if (!ok) { /* revert the batch: it would not lower the maximum */
            while (nu) {
                long from = undo[--nu], i = undo[--nu];
                move_cost(load, it[i].to, from, it[i].cost);
                it[i].to = from;
            }
            break;
        }
        kept += nu / 2;
    }
    return kept;
}

/*
 * The placement, with cuts when cuts != NULL.  Segments on a node that left
 * go, largest first, to the least loaded node (they must move: part of the
 * minimum).  Then, while the busiest node carries more than (1 + tol) x the
 * mean, it gives the idlest node the cost that brings one of them to the
 * mean: its biggest segment that fits (within tol x the mean), else, with
 * cuts, a piece of its smallest segment that is too big.  Every move comes
 * from the busiest node and leaves the idlest below it, so the moved cost is
 * about the minimum (the busiest nodes' excess over the mean).  Whole
 * segments that cannot go below the bound are levelled by polish().
 */
static int place(vs_place_item *it, size_t n, size_t nnodes, double tol, vs_place_cut **cuts, size_t *ncuts,
                 vf_error *err)
{
    if (nnodes == 0)
        return vf_fail(err, VF_EARG, "placement needs at least one node");
    size_t maxrounds = 2 * n + 4 * nnodes + 16, nc = 0;
    double *load = calloc(nnodes, sizeof *load);
    size_t *order = malloc((n ? n : 1) * sizeof *order), *pool = malloc((n ? n : 1) * sizeof *pool), np = 0;
    long *undo = malloc(2 * (nnodes + 1) * sizeof *undo);
    vs_place_cut *cut = cuts ? calloc(maxrounds, sizeof *cut) : NULL;
    if (!load || !order || !pool || !undo || (cuts && !cut)) {
        free(load);
        free(order);
        free(pool);
        free(undo);
        free(cut);
        return vf_fail(err, VF_ENOMEM, "placement: out of memory");
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        it[i].to = it[i].from < (long)nnodes ? it[i].from : -1;
        if (it[i].to >= 0)
            load[it[i].to] += it[i].cost;
        total += it[i].cost;
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
    double mean = total / (double)nnodes, slack = tol * mean;
    for (size_t round = 0; round < maxrounds; round++) {
        size_t hi = most_loaded(load, nnodes), lo = least_loaded(load, nnodes);
        if (load[hi] <= mean + slack)
            break;
        double amount = fmin(load[hi] - mean, mean - load[lo]);
        if (amount <= 0)
            break;
        long whole = -1, big = -1;
        for (size_t r = 0; r < n; r++) { /* largest first: the biggest that fits */
            size_t i = order[r];
            if (it[i].to != (long)hi || it[i].cost <= 0)
                continue;
            if (it[i].cost <= amount + slack && load[lo] + it[i].cost < load[hi]) {
                whole = (long)i;
                break;
            }
            if (!it[i].whole)
                big = (long)i; /* ends as the smallest too big to fit */
        }
        if (whole >= 0) {
            it[whole].to = (long)lo;
            move_cost(load, (long)hi, (long)lo, it[whole].cost);
            continue;
        }
        if (!cuts || big < 0 || it[big].rows < 2)
            break;
        /* a piece of `amount` cost, in whole rows, from 1 to all but one */
        double per_row = it[big].cost / (double)it[big].rows;
        uint64_t rows = (uint64_t)llround(amount / per_row);
        if (rows < 1)
            rows = 1;
        if (rows > it[big].rows - 1)
            rows = it[big].rows - 1;
        cut[nc].item = (size_t)big;
        cut[nc].rows = rows;
        cut[nc].to = (long)lo;
        nc++;
        it[big].rows -= rows;
        it[big].cost -= (double)rows * per_row;
        load[hi] -= (double)rows * per_row;
        load[lo] += (double)rows * per_row;
    }
    polish(it, n, load, nnodes, mean + slack, undo);
    free(load);
    free(order);
    free(pool);
    free(undo);
    if (cuts) {
        *cuts = cut;
        *ncuts = nc;
    }
    return 0;
}

int vs_place(vs_place_item *it, size_t n, size_t nnodes, vf_error *err)
{
    return place(it, n, nnodes, VS_PLACE_TOL, NULL, NULL, err);
}

int vs_place_cuts(vs_place_item *it, size_t n, size_t nnodes, vs_place_cut **cuts, size_t *ncuts, vf_error *err)
{
    *cuts = NULL;
    *ncuts = 0;
    return place(it, n, nnodes, VS_PLACE_TOL, cuts, ncuts, err);
}

uint64_t vs_place_min_moved(const vs_place_item *it, size_t n, size_t nnodes)
{
    /* the cost that must move for every node to carry the mean: all of a
       node that left, and each node's excess over the mean; in rows at the
       collection's average rows per cost */
    double *load = calloc(nnodes ? nnodes : 1, sizeof *load), total = 0, rows = 0, need = 0;
    if (!load || nnodes == 0) {
        free(load);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        total += it[i].cost;
        rows += (double)it[i].rows;
        if (it[i].from >= 0 && it[i].from < (long)nnodes)
            load[it[i].from] += it[i].cost;
        else
            need += it[i].cost;
    }
    for (size_t k = 0; k < nnodes; k++)
        if (load[k] > total / (double)nnodes)
            need += load[k] - total / (double)nnodes;
    free(load);
    return total > 0 ? (uint64_t)llround(need * rows / total) : 0;
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
    vs_balance_opts o = {0};
    o.dry_run = dry_run;
    return vs_balance_with(path, nodes, nnodes, &o, rep, err);
}

int vs_balance_with(const char *path, const char *const *nodes, size_t nnodes, const vs_balance_opts *o,
                    vs_balance_report *rep, vf_error *err)
{
    int dry_run = o->dry_run;
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
                               (size_t)rows, m.dim, m.metric, NULL};
            if (vs_index_open(&ix, s, &rv, NULL) == 0)
                type = vs_index_type_of(ix);
            vs_index_close(ix);
            vf_seg_close(s);
        }
        it[i].rows = rows;
        it[i].whole = !sealed; /* a growing segment is a log: it moves whole */
        it[i].cost = vs_segment_cost(rows, m.dim, type);
        it[i].from = -1;
        for (size_t k = 0; k < nnodes; k++)
            if (!strcmp(nodes[k], node))
                it[i].from = (long)k;
    }
    vs_place_cut *cut = NULL;
    size_t nc = 0;
    if (rc == 0) {
        rep->min_rows = vs_place_min_moved(it, n, nnodes);
        rc = vs_place_cuts(it, n, nnodes, &cut, &nc, err);
    }
    if (rc == 0 && !(rep->moves = calloc(n + nc + 1, sizeof *rep->moves)))
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
        /* the pieces cut off this segment */
        for (size_t k = 0; k < nc; k++) {
            if (cut[k].item != i)
                continue;
            double cost = it[i].cost / (double)(it[i].rows ? it[i].rows : 1) * (double)cut[k].rows;
            if (load)
                load[cut[k].to] += cost;
            rep->rows += cut[k].rows;
            vs_balance_move *mv = &rep->moves[rep->nmoves++];
            snprintf(mv->segment, sizeof mv->segment, "%s", file);
            snprintf(mv->from, sizeof mv->from, "%s", node);
            snprintf(mv->to, sizeof mv->to, "%s", nodes[cut[k].to]);
            mv->rows = cut[k].rows;
            rep->moved_rows += cut[k].rows;
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
    vs_seal_cut *spec = NULL;
    size_t ns = 0;
    if (rc == 0 && nc && !(spec = calloc(2 * nc, sizeof *spec)))
        rc = vf_fail(err, VF_ENOMEM, "balance: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* a cut segment becomes its pieces, in row order, then what stays */
        uint64_t lo = 0;
        for (size_t k = 0; k < nc; k++)
            if (cut[k].item == i) {
                spec[ns++] = (vs_seal_cut){i, lo, lo + cut[k].rows, nodes[cut[k].to]};
                lo += cut[k].rows;
            }
        if (lo)
            spec[ns++] = (vs_seal_cut){i, lo, lo + it[i].rows, nodes[it[i].to]};
    }
    rep->cuts = 0;
    for (size_t k = 0; k < ns; k++)
        rep->cuts += k == 0 || spec[k].sealed != spec[k - 1].sealed;
    /* nothing moves or is cut and the node list is the one the manifest has (in any order):
       commit nothing, so CURRENT keeps its generation and its mtime */
    int same = rc == 0 && rep->nmoves == 0 && ns == 0 && m.nnodes == nnodes;
    for (size_t k = 0; same && k < nnodes; k++) {
        int found = 0;
        for (size_t j = 0; !found && j < m.nnodes; j++)
            found = !strcmp(m.nodes[j], nodes[k]);
        same = found;
    }
    if (same && !dry_run)
        rep->generation = m.generation;
    if (rc == 0 && !dry_run && !same) {
        bal_ctx ctx = {nodes, nnodes, &m};
        vf_manifest done;
        if (ns) {
            vs_seal_opts po = {0}; /* the progress callback, nothing else */
            po.progress = o->progress;
            po.progress_arg = o->progress_arg;
            rc = vs_seal_cuts(c, &m, spec, ns, apply_balance, &ctx, &po, &rep->generation, err);
        } else if ((rc = vf_coll_commit(c, apply_balance, &ctx, &done, err)) == 0) {
            rep->generation = done.generation;
            vf_manifest_release(&done);
        }
    }
    free(spec);
    free(cut);
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
