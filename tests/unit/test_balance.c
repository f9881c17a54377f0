/*
 * test_balance.c - placement of segments on nodes (lib/coll/balance.c) on the
 * workload of issue 4: 1,000 tenants whose sizes follow a Zipf law (s = 1.1),
 * routed by partition key to shards whose rows are cut into segments of at
 * most segment-rows rows.  Targets: the busiest of 8 nodes carries at most
 * 1.10 times the mean; adding a ninth node moves at most 1.25/9 of the rows.
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

int main(void)
{
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
