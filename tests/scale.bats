#!/usr/bin/env bats
# Scale: one rule for index settings (a one-off --index becomes the
# setting), and the hot/cold bytes vec-inspect reports for memory sizing.

load test_helper

manifest() { cat "$1/$(cat "$1/CURRENT")"; }

# index_lines DIR - the index line of each segment the manifest names
index_lines() {
    manifest "$1" | awk '/^sealed / {print $2}' | while read -r f; do
        vec-inspect "$1/$f" | grep '^index '
    done
}

@test "vec-seal --index makes the index and its parameters the collection's settings" {
    vectors rows.fvecs fvecs 3000 16 3
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all --index ivf_pq --pq-m 4 --nlist 8 coll
    run -0 vec-inspect coll
    assert_line "setting index ivf_pq"
    assert_line "setting pq-m 4"
    assert_line "setting ivf-nlist 8"
    # settled: a plain run has nothing to rebuild
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 0
}

@test "a split keeps the IVF_PQ index and its parameters that vec-seal --index chose" {
    vectors rows.csv csv 3000 16 3 --id-col 1 --key-col 2 --keys-mod 7
    vec-ingest -q -s 2 --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --all --index ivf_pq --pq-m 4 --nlist 8 coll
    vec-shard -q --split 0 coll
    [ "$(manifest coll | grep -c '^shard ')" -eq 3 ]
    run -0 index_lines coll
    assert_equal "${#lines[@]}" 3
    for l in "${lines[@]}"; do
        [[ "$l" == "index ivf_pq nlist=8 "*" pq-m=4 pq-bits=8" ]] || { echo "mixed: $l"; return 1; }
    done
}

@test "vec-seal --index rebuilds the segments an earlier run built with another index" {
    vectors rows.fvecs fvecs 3000 16 3
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    run -0 index_lines coll
    assert_equal "$output" "index flat"
    run -0 --separate-stderr vec-seal --dry-run --index ivf_sq8 --nlist 4 coll
    [[ "${lines[0]}" == *$'\t'ivf_sq8$'\t'rebuild ]]
    vec-seal -q --index ivf_sq8 --nlist 4 coll
    run -0 index_lines coll
    [[ "$output" == "index ivf_sq8 nlist=4 "* ]]
}

@test "a fifth node joining 8 coarse segments on 4 nodes gets its share by cuts, answers unchanged" {
    vectors rows.fvecs fvecs 4000 8 3
    vectors q.fvecs fvecs 20 8 9
    vec-ingest -q -s 8 coll rows.fvecs
    vec-seal -q --all coll
    vec-balance -q --nodes a,b,c,d coll
    vec-query -q -k 10 coll q.fvecs >before.tsv
    run -0 --separate-stderr vec-balance --nodes a,b,c,d,e coll
    [[ "$stderr" =~ \(minimum\ ([0-9]+),\ ([0-9.]+)\ x\),\ ([0-9]+)\ segment.*busiest\ node\ ([0-9.]+)\ x ]]
    echo "$stderr"
    [ "${BASH_REMATCH[1]}" -eq 800 ]
    awk -v r="${BASH_REMATCH[2]}" -v b="${BASH_REMATCH[4]}" 'BEGIN { exit !(r <= 1.25 && b <= 1.10) }'
    [ "${BASH_REMATCH[3]}" -gt 0 ]
    # every row once, each node's rows within 1.10x the mean (flat segments: cost ~ rows)
    manifest coll | awk '/^sealed / { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        n[f["node"]] += f["rows"]; t += f["rows"] }
        END { if (t != 4000) exit 1; for (k in n) if (n[k] > 1.10 * t / 5) exit 1; exit length(n) != 5 }'
    vec-query -q -k 10 coll q.fvecs >after.tsv
    cmp before.tsv after.tsv
    # settled: nothing more moves
    run -0 --separate-stderr vec-balance --nodes a,b,c,d,e coll
    [[ "$stderr" == *"moved 0 segment(s), 0 of 4000 rows"* ]]
}

@test "vec-inspect splits a segment's bytes into hot and cold: the vectors of indexed segments are cold" {
    vectors rows.fvecs fvecs 3000 16 3
    vec-ingest -q pq rows.fvecs
    vec-seal -q --all --index ivf_pq --pq-m 4 --nlist 8 pq
    vec-ingest -q flat rows.fvecs
    vec-seal -q --all --index flat flat
    bytes=$(stat -c %s pq/s-00000001.vseg)
    run -0 vec-inspect pq/s-00000001.vseg
    assert_line "memory hot-bytes=$((bytes - 3000 * 16 * 4)) cold-bytes=$((3000 * 16 * 4))"
    run -0 vec-inspect flat/s-00000001.vseg
    assert_line "memory hot-bytes=$(stat -c %s flat/s-00000001.vseg) cold-bytes=0"
    # a collection sums its segments and counts its logs as hot
    vec-ingest -q pq rows.fvecs
    log=$(manifest pq | awk '/^growing / {print $2}')
    run -0 vec-inspect pq
    assert_line "memory hot-bytes=$((bytes - 3000 * 16 * 4 + $(stat -c %s "pq/$log"))) cold-bytes=$((3000 * 16 * 4))"
}

@test "vec-inspect still summarises a collection with an unreadable segment, and --verify refuses it" {
    vectors rows.fvecs fvecs 300 8 3
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    truncate -s 100 coll/s-00000001.vseg
    run -0 vec-inspect coll
    assert_line "memory hot-bytes=0 cold-bytes=0 unreadable-segments=1"
    run -65 vec-inspect --verify coll
}

@test "the pieces a cut writes carry the collection's index and parameters" {
    vectors rows.fvecs fvecs 4000 8 3
    vec-ingest -q -s 8 coll rows.fvecs
    vec-seal -q --all --index ivf_sq8 --nlist 4 coll
    vec-balance -q --nodes a,b,c,d coll
    run -0 --separate-stderr vec-balance --nodes a,b,c,d,e coll
    [[ "$stderr" == *" 4 segment(s) cut,"* ]]
    run -0 index_lines coll
    [ "${#lines[@]}" -eq 12 ]
    for l in "${lines[@]}"; do
        [[ "$l" == "index ivf_sq8 nlist=4 "* ]] || { echo "$l"; return 1; }
    done
}

@test "a seal after a balance keeps the placement: small segments merge only on one node" {
    vectors v.fvecs fvecs 200 8 1
    vec-ingest -q c v.fvecs
    vec-seal -q --all c
    vec-balance -q --nodes a,b c
    before=$(vec-inspect --nodes c)
    run -0 vec-inspect --nodes c
    assert_line --regexp '^a	1	100	'
    assert_line --regexp '^b	1	100	'
    # the cron seal finds two small segments of one shard: on two nodes they stay apart
    vec-seal -q c
    assert_equal "$(vec-inspect --nodes c)" "$before"
}
