/* test_route.c - routing (SPEC.md section 8): the hash to the bit, and shard
   layouts that cover every hash exactly once. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#define VECSEG_STATIC_LINKING_ONLY /* vs_route_* */
#include "vecseg.h"

int main(void)
{
    /* the worked values of SPEC.md section 8 */
    CHECK(vs_route_hash(0) == 0xE220A8397B1DCDAFull);
    CHECK(vs_route_hash(1) == 0x910A2DEC89025CC1ull);
    for (uint32_t n = 1; n <= 40; n++) {
        vf_manifest m;
        memset(&m, 0, sizeof m);
        CHECK(vs_shards_init(&m, n, NULL) == 0);
        CHECK(m.nshards == n);
        /* ids are 0..n-1, each once */
        int seen[64] = {0}, ok = 1;
        for (size_t i = 0; i < m.nshards; i++)
            ok &= m.shards[i].id < n && !seen[m.shards[i].id]++;
        CHECK_MSG(ok, "shard ids of n=%u", n);
        /* every key routes to exactly one shard */
        size_t counts[64] = {0};
        int cover = 1;
        for (uint64_t key = 0; key < 20000; key++) {
            uint64_t h = vs_route_hash(key);
            int owners = 0;
            for (size_t i = 0; i < m.nshards; i++) {
                uint64_t mask = (1ull << m.shards[i].depth) - 1;
                owners += (h & mask) == m.shards[i].value;
            }
            long s = vs_route_shard(&m, key);
            cover &= owners == 1 && s >= 0;
            if (s >= 0)
                counts[s]++;
        }
        CHECK_MSG(cover, "n=%u: some key has no or two owners", n);
        /* shards of equal depth get about equal shares */
        for (size_t i = 0; i < m.nshards; i++) {
            double want = 20000.0 / (double)(1u << m.shards[i].depth);
            CHECK_MSG(counts[i] > want * 0.85 && counts[i] < want * 1.15, "n=%u shard %zu: %zu keys, want ~%.0f", n,
                      i, counts[i], want);
        }
        vf_manifest_release(&m);
    }
    CHECK(vs_shards_init(&(vf_manifest){0}, 0, NULL) == VF_EARG);
    /* an isolated key goes to its own shard first; other keys to the trie */
    vf_manifest k;
    memset(&k, 0, sizeof k);
    vf_shard_ent trie = {0, 0, 0, 0, 0}, iso = {1, 0, 0, 1, 5};
    CHECK(vf_manifest_add_shard(&k, &trie, NULL) == 0 && vf_manifest_add_shard(&k, &iso, NULL) == 0);
    CHECK(vs_route_shard(&k, 5) == 1);
    CHECK(vs_route_shard(&k, 6) == 0 && vs_route_shard(&k, 0) == 0);
    vf_manifest_release(&k);
    UNIT_DONE();
}
