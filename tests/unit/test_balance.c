/*
 * test_balance.c - placement of segments on nodes (lib/coll/balance.c) on the
 * workload of issue 4: 1,000 tenants whose sizes follow a Zipf law (s = 1.1),
 * routed by partition key to shards whose rows are cut into segments of at
 * most segment-rows rows.  Targets: the busiest of 8 nodes carries at most
 * 1.10 times the mean; adding a ninth node moves at most 1.25/9 of the rows.
 * And the coarse case of issue 12: 4,194,304 rows in 8 segments of 524,288
 * on 4 nodes, a fifth joins: whole segments cannot balance it (no move may
 * be kept that does not lower the busiest node), cuts must, within 1.10x the
 * mean, moving at most 1.25x the minimum.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#define VECSEG_STATIC_LINKING_ONLY /* vs_place */
#include "vecseg.h"

#define TENANTS 1000
#define SHARDS 64
#define TOTAL 200000000.0   /* rows */
#define SEGROWS 1000000u

static double ratio(const vs_place_item *it, size_t n, size_t nodes)
{
    double load[16] = {0}, sum = 0, mx = 0;
    for (size_t i = 0; i < n; i++)
        load[it[i].to] += it[i].cost;
    for (size_t k = 0; k < nodes; k++) {
        sum += load[k];
        if (load[k] > mx)
            mx = load[k];
    }
    return mx / (sum / (double)nodes);
}

/* Loads after cuts: items at their node, pieces at theirs. */
static double ratio_cuts(const vs_place_item *it, size_t n, const vs_place_cut *c, size_t nc, size_t nodes,
                         uint64_t *moved)
{
    double load[16] = {0}, sum = 0, mx = 0;
    *moved = 0;
    for (size_t i = 0; i < n; i++) {
        load[it[i].to] += it[i].cost;
        *moved += it[i].to != it[i].from ? it[i].rows : 0;
    }
    for (size_t k = 0; k < nc; k++) {
        const vs_place_item *src = &it[c[k].item];
        load[c[k].to] += src->cost / (double)src->rows * (double)c[k].rows;
        *moved += c[k].to != src->from ? c[k].rows : 0;
    }
    for (size_t k = 0; k < nodes; k++) {
        sum += load[k];
        if (load[k] > mx)
            mx = load[k];
    }
    return mx / (sum / (double)nodes);
}

/* nseg segments of `rows` (cost of IVF_PQ at 128 dimensions), spread round
   robin over `nodes` nodes. */
static void coarse(vs_place_item *it, size_t nseg, uint64_t rows, long nodes)
{
    for (size_t i = 0; i < nseg; i++) {
        it[i].rows = rows;
        it[i].cost = vs_segment_cost(rows, 128, VS_INDEX_IVF_PQ);
        it[i].from = (long)i % nodes;
        it[i].to = -1;
        it[i].whole = 0;
    }
}

/* A node joins a collection of nseg segments of `rows` on `nodes` nodes. */
static void node_joins(size_t nseg, uint64_t rows, long nodes)
{
    vs_place_item it[64];
    coarse(it, nseg, rows, nodes);
    uint64_t min = vs_place_min_moved(it, nseg, (size_t)nodes + 1), moved;
    vs_place_cut *cut;
    size_t nc;
    CHECK(vs_place_cuts(it, nseg, (size_t)nodes + 1, &cut, &nc, NULL) == 0);
    double r = ratio_cuts(it, nseg, cut, nc, (size_t)nodes + 1, &moved);
    printf("%zu x %llu rows, %ld -> %ld nodes: %zu cut(s), busiest / mean = %.4f, moved %llu rows, minimum %llu "
           "(%.3f x)\n", nseg, (unsigned long long)rows, nodes, nodes + 1, nc, r, (unsigned long long)moved,
           (unsigned long long)min, (double)moved / (double)min);
    CHECK_MSG(r <= 1.10, "busiest carries %.3f x the mean", r);
    CHECK_MSG((double)moved <= 1.25 * (double)min, "moved %llu rows, minimum %llu", (unsigned long long)moved,
              (unsigned long long)min);
    /* cuts come from segments that stay, and go to the node that joined */
    for (size_t k = 0; k < nc; k++)
        CHECK(it[cut[k].item].to == it[cut[k].item].from && cut[k].to == nodes && cut[k].rows > 0);
    free(cut);
}

static void issue12(void)
{
    enum { SEG = 524288 };
    vs_place_item it[8];
    coarse(it, 8, SEG, 4);
    /* the minimum: a fifth of the rows reach the new node */
    uint64_t min = vs_place_min_moved(it, 8, 5);
    CHECK_MSG(min == 8ull * SEG / 5 || min == 8ull * SEG / 5 + 1, "minimum %llu", (unsigned long long)min);
    /* whole segments only: 2,2,2,2,0 -> moving one leaves the maximum at 2,
       so nothing moves (it used to move 31% and end at 1.25x) */
    CHECK(vs_place(it, 8, 5, NULL) == 0);
    int moves = 0;
    for (size_t i = 0; i < 8; i++)
        moves += it[i].to != it[i].from;
    CHECK_MSG(moves == 0, "%d whole segment(s) moved without lowering the busiest node", moves);
    /* with cuts: within the bounds */
    node_joins(8, SEG, 4);
    /* other coarse shapes of a few million rows */
    node_joins(6, 500000, 3);
    node_joins(16, 262144, 4);
    node_joins(3, 1000000, 2);
    node_joins(8, SEG, 8);
    /* a segment that may not be cut (a growing log) is never cut */
    vs_place_item g[8];
    coarse(g, 8, SEG, 4);
    for (size_t i = 0; i < 8; i++)
        g[i].whole = 1;
    vs_place_cut *cut;
    size_t nc;
    CHECK(vs_place_cuts(g, 8, 5, &cut, &nc, NULL) == 0);
    CHECK(nc == 0);
    free(cut);
}

int main(void)
{
    issue12();
    /* tenant sizes: Zipf(1.1) over ranks 1..1000, scaled to TOTAL rows */
    double h = 0, shard_rows[SHARDS] = {0};
    for (int r = 1; r <= TENANTS; r++)
        h += pow(r, -1.1);
    for (int r = 1; r <= TENANTS; r++) {
        double rows = TOTAL * pow(r, -1.1) / h;
        shard_rows[vs_route_hash((uint64_t)r) % SHARDS] += rows;
    }
    /* each shard's rows in segments of at most SEGROWS */
    vs_place_item *it = calloc(4096, sizeof *it);
    size_t n = 0;
    uint64_t all = 0;
    for (int s = 0; s < SHARDS; s++) {
        uint64_t left = (uint64_t)shard_rows[s];
        while (left > 0) {
            uint64_t rows = left > SEGROWS ? SEGROWS : left;
            it[n].rows = rows;
            it[n].cost = vs_segment_cost(rows, 128, VS_INDEX_HNSW);
            it[n].from = -1;
            all += rows;
            left -= rows;
            n++;
        }
    }
    printf("%zu segments, %llu rows; the biggest tenant has %.1f%% of the rows\n", n, (unsigned long long)all,
           100.0 * pow(1, -1.1) / h);
    CHECK(vs_place(it, n, 8, NULL) == 0);
    double r8 = ratio(it, n, 8);
    printf("8 nodes: busiest / mean = %.4f\n", r8);
    CHECK_MSG(r8 <= 1.10, "8 nodes: busiest carries %.3f x the mean", r8);
    /* deterministic */
    vs_place_item *again = malloc(n * sizeof *again);
    memcpy(again, it, n * sizeof *again);
    for (size_t i = 0; i < n; i++)
        again[i].from = -1;
    CHECK(vs_place(again, n, 8, NULL) == 0);
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= again[i].to == it[i].to;
    CHECK(same);
    /* a ninth node joins: few rows move */
    for (size_t i = 0; i < n; i++)
        it[i].from = it[i].to;
    CHECK(vs_place(it, n, 9, NULL) == 0);
    uint64_t moved = 0;
    for (size_t i = 0; i < n; i++)
        moved += it[i].to != it[i].from ? it[i].rows : 0;
    double r9 = ratio(it, n, 9);
    printf("9 nodes: busiest / mean = %.4f, moved %.4f of the rows (limit %.4f)\n", r9, (double)moved / (double)all,
           1.25 / 9);
    CHECK_MSG((double)moved <= 1.25 / 9 * (double)all, "moved %.4f of the rows", (double)moved / (double)all);
    CHECK_MSG(r9 <= 1.10, "9 nodes: busiest carries %.3f x the mean", r9);
    /* a node leaves: its segments go, nothing else needs to */
    for (size_t i = 0; i < n; i++)
        it[i].from = it[i].to == 8 ? -1 : it[i].to;
    CHECK(vs_place(it, n, 8, NULL) == 0);
    CHECK(ratio(it, n, 8) <= 1.10);
    CHECK(vs_place(it, n, 0, NULL) == VF_EARG);
    free(it);
    free(again);
    UNIT_DONE();
}
