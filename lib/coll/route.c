/*
 * route.c - the routing of rows to shards (SPEC.md section 8).
 *
 * A shard owns every key whose routing hash has its low `depth` bits equal
 * to the shard's `value`; the shards of a manifest cover every hash exactly
 * once.  This is the trie of extendible hashing: any shard can later split in
 * two by one more bit without touching the others.  A new collection of n
 * shards gets the layout linear hashing gives for n buckets.
 */
#include <stdlib.h>

#define VECSEG_STATIC_LINKING_ONLY /* vs_route_* */
#include "vecseg.h"

/* [R-ROUTE-HASH] the SplitMix64 finaliser of key + 0x9e3779b97f4a7c15 */
uint64_t vs_route_hash(uint64_t key)
{
    uint64_t z = key + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

long vs_route_shard(const vf_manifest *m, uint64_t key)
{
    /* [R-ROUTE-KEY] a key with a shard of its own goes there first */
    for (size_t i = 0; i < m->nshards; i++)
        if (m->shards[i].has_key && m->shards[i].key == key)
            return (long)i;
    uint64_t h = vs_route_hash(key);
    for (size_t i = 0; i < m->nshards; i++) {
        if (m->shards[i].has_key)
            continue;
        uint32_t d = m->shards[i].depth;
        uint64_t mask = d >= 64 ? ~0ull : (1ull << d) - 1;
        if ((h & mask) == m->shards[i].value)
            return (long)i;
    }
    return -1;
}

int vs_shards_init(vf_manifest *m, uint32_t n, vf_error *err)
{
    if (n < 1 || n > VS_SHARDS_MAX)
        return vf_fail(err, VF_EARG, "shard count %u is out of range (1 to %d)", n, VS_SHARDS_MAX);
    uint32_t level = 0;
    while ((2u << level) <= n)
        level++;
    uint64_t base = 1ull << level, split = n - base; /* buckets below split have split in two */
    for (uint64_t b = 0; b < base; b++) {
        int rc;
        if (b < split) {
            vf_shard_ent lo = {(uint32_t)b, level + 1, b, 0, 0}, hi = {(uint32_t)(b + base), level + 1, b + base, 0, 0};
            rc = vf_manifest_add_shard(m, &lo, err);
            if (rc == 0)
                rc = vf_manifest_add_shard(m, &hi, err);
        } else {
            vf_shard_ent s = {(uint32_t)b, level, b, 0, 0};
            rc = vf_manifest_add_shard(m, &s, err);
        }
        if (rc)
            return rc;
    }
    return 0;
}
