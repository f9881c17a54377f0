/*
 * share_merge.cpp - a C++ program on the installed public header, advanced part included
 * (VECSEG_STATIC_LINKING_ONLY): it searches a collection in two shares, merges their hit lists
 * and checks the merge against one whole search, as the tools' fan-out does.  Prints the
 * merged hits "id distance" of each query.  Usage: share_merge COLL (3-dimensional)
 */
#define VECSEG_STATIC_LINKING_ONLY
#include "vecseg.h"

#include <cstdio>
#include <vector>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 64;
    vf_error err;
    vs_snapshot *s = nullptr;
    if (vs_snapshot_open(&s, argv[1], &err)) {
        std::fprintf(stderr, "share_merge: %s\n", err.msg);
        return 1;
    }
    const vf_manifest *m = vs_snapshot_manifest(s);
    const std::vector<float> q = {0.9f, 0.1f, 0.0f, 0.0f, 1.8f, 0.1f};
    const size_t nq = q.size() / m->dim, k = 2;
    vs_search_opts so = {};
    so.k = k;
    std::vector<vs_hit> a(nq * k), b(nq * k), merged(k);
    std::vector<uint64_t> ids(nq * k);
    std::vector<float> dist(nq * k);
    if (vs_search_share(s, q.data(), nq, &so, 0, 2, a.data(), &err) ||
        vs_search_share(s, q.data(), nq, &so, 1, 2, b.data(), &err) ||
        vs_search(s, q.data(), nq, &so, ids.data(), dist.data(), &err)) {
        std::fprintf(stderr, "share_merge: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < nq; i++) {
        vs_hits_merge(&a[i * k], k, &b[i * k], k, merged.data(), k);
        for (size_t j = 0; j < k; j++) {
            float d = vs_distance_report(m->metric, merged[j].dist);
            bad |= merged[j].id != ids[i * k + j] || d != dist[i * k + j];
            std::printf("%llu %.4f\n", (unsigned long long)merged[j].id, d);
        }
    }
    vs_snapshot_close(s);
    return bad;
}
