#!/usr/bin/env bats
# The seal and compaction policy of vec-seal: settings, thresholds, compaction
# that keeps every live row exactly once, and byte-for-byte deterministic
# index builds.

load test_helper

# all_ids COLL DIM: every id a k = all query returns, sorted, one per line
all_ids() {
    printf '%s\n' "$(seq -s, 1 "$2" | sed 's/[0-9]*/0/g')" |
        vec-query -q -k 100000 -F csv "$1" - | cut -f3 | sort -n
}

sealed_count() {
    grep -c '^sealed ' "$1/$(cat "$1/CURRENT")" || true
}

@test "--set with an unknown key or a bad value is refused and changes nothing" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    before=$(coll_digest coll)
    run -64 --separate-stderr vec-seal --set bogus=1 coll
    assert_equal "$stderr" "vec-seal: setting 'bogus' is unknown"
    run -64 --separate-stderr vec-seal --set seal-rows=many coll
    assert_equal "$stderr" "vec-seal: setting 'seal-rows': 'many' is not a number"
    run -64 --separate-stderr vec-seal --set index=btree coll
    assert_equal "$stderr" "vec-seal: setting 'index': unknown index type 'btree'"
    run -64 vec-seal --set seal-rows=5 --all coll
    assert_equal "$(coll_digest coll)" "$before"
}

@test "--set changes settings in one commit, visible in the manifest" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    run -0 vec-seal --set seal-rows=50 --set index=hnsw coll
    m="coll/$(cat coll/CURRENT)"
    grep -qx 'setting seal-rows 50' "$m"
    grep -qx 'setting index hnsw' "$m"
}

@test "a growing segment is sealed once it passes seal-rows, not before" {
    vectors a.fvecs fvecs 40 8 1
    vectors b.fvecs fvecs 20 8 2
    vec-ingest -q coll a.fvecs
    vec-seal -q --set seal-rows=50 coll
    run -0 --separate-stderr vec-seal coll
    [[ "$stderr" == *"nothing to seal"* ]]
    [ "$(sealed_count coll)" -eq 0 ]
    vec-ingest -q coll b.fvecs
    run -0 --separate-stderr vec-seal coll
    [[ "$stderr" == *"sealed 1 segment(s), 60 rows"* ]]
    [ "$(sealed_count coll)" -eq 1 ]
}

@test "a growing segment idle for seal-idle seconds is sealed" {
    vectors a.fvecs fvecs 10 8
    vec-ingest -q coll a.fvecs
    vec-seal -q coll
    [ "$(sealed_count coll)" -eq 0 ]
    vec-seal -q --set seal-idle=0 coll
    vec-seal -q coll
    [ "$(sealed_count coll)" -eq 1 ]
}

@test "sealing splits a long log into segments of about segment-rows rows" {
    for i in 1 2 3 4; do
        vectors "b$i.fvecs" fvecs 100 8 "$i"
        vec-ingest -q coll "b$i.fvecs"
    done
    vec-seal -q --set segment-rows=150 coll
    run -0 --separate-stderr vec-seal --dry-run --all coll
    assert_equal "${#lines[@]}" 2
    vec-seal -q --all coll
    [ "$(sealed_count coll)" -eq 2 ]
    run all_ids coll 8
    [ "${#lines[@]}" -eq 400 ] && [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 400 ]
}

@test "compaction merges small segments and keeps every live row exactly once" {
    for i in 1 2 3; do
        vectors "b$i.fvecs" fvecs 50 8 "$i"
        vec-ingest -q coll "b$i.fvecs"
        # 50 rows is not small (a quarter of segment-rows) yet: nothing merges
        [ "$i" -gt 1 ] || vec-seal -q --set segment-rows=100 coll
        vec-seal -q --all coll
    done
    [ "$(sealed_count coll)" -eq 3 ]
    printf '%s\n' 3 60 149 | vec-ingest -q --delete coll
    vec-query -q -k 5 coll b2.fvecs >before.tsv
    vec-seal -q --set segment-rows=1000 coll
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 1
    [[ "${lines[0]}" == *$'\t'compact ]]
    run -0 --separate-stderr vec-seal --grace 0 coll
    [[ "$stderr" == *"sealed 1 segment(s), 147 rows (3 deleted rows purged)"* ]]
    [ "$(sealed_count coll)" -eq 1 ]
    run all_ids coll 8
    [ "${#lines[@]}" -eq 147 ]
    [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 147 ]
    ! printf '%s\n' "${lines[@]}" | grep -qxE '3|60|149'
    vec-query -q -k 5 coll b2.fvecs >after.tsv
    cmp before.tsv after.tsv
    # the merged-away files are gone once the grace period is over
    [ "$(ls coll/s-*.vseg | wc -l)" -eq 1 ]
}

@test "a segment whose deleted share passes compact-deleted is rewritten without them" {
    vectors rows.fvecs fvecs 100 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --set segment-rows=100 coll
    vec-seal -q --all coll
    seq 0 9 | vec-ingest -q --delete coll
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 0
    seq 10 29 | vec-ingest -q --delete coll
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 1
    vec-seal -q coll
    run -0 vec-inspect coll
    assert_line "rows 70 (sealed 70, growing 0)"
    run all_ids coll 8
    [ "${#lines[@]}" -eq 70 ] && [ "${lines[0]}" -eq 30 ]
}

@test "an index build is deterministic: the same rows and seed give the same bytes" {
    vectors rows.fvecs fvecs 3000 16 3
    for t in flat hnsw ivf_flat ivf_sq8 ivf_pq; do
        for c in a b; do
            vec-ingest -q "$t-$c" rows.fvecs
            vec-seal -q --all --index "$t" --seed 7 --nlist 16 --pq-m 4 "$t-$c"
        done
        cmp "$t-a/s-00000001.vseg" "$t-b/s-00000001.vseg" || { echo "$t differs"; return 1; }
    done
}

@test "every index type returns k live rows and never a deleted one" {
    ann data.h5 --n 3000 --dim 16 --nq 50 --k 10
    for t in flat hnsw ivf_flat ivf_sq8 ivf_pq; do
        vec-ingest -q "$t" data.h5:/train
        seq 0 2 2999 | vec-ingest -q --delete "$t"
        vec-seal -q --all --index "$t" --nlist 16 --pq-m 8 "$t"
        run -0 --separate-stderr vec-query -k 10 --nprobe 16 --refine 4 --ef 64 "$t" data.h5:/test
        [ "${#lines[@]}" -eq 500 ] || { echo "$t: ${#lines[@]} hits"; return 1; }
        ! cut -f3 <<<"$output" | awk '$1 % 2 == 0 { bad = 1 } END { exit !bad }' || { echo "$t returned a deleted row"; return 1; }
    done
}

@test "segments built under an old index setting are rebuilt by the next vec-seal" {
    vectors rows.fvecs fvecs 3000 16 3
    vectors q.fvecs fvecs 20 16 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    vec-query -q -k 5 coll q.fvecs >flat.tsv
    vec-seal -q --set index=ivf_flat --set ivf-nlist=8 coll
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 1
    [[ "${lines[0]}" == *$'\t'ivf_flat$'\t'rebuild ]]
    vec-seal -q --grace 0 coll
    run -0 vec-inspect coll/s-00000002.vseg
    assert_line --partial "section type=32 "
    # all lists probed: the IVF answer is the exact one
    vec-query -q -k 5 --nprobe 8 coll q.fvecs >ivf.tsv
    cmp flat.tsv ivf.tsv
    # settled: nothing more to do
    run -0 --separate-stderr vec-seal --dry-run coll
    assert_equal "${#lines[@]}" 0
}
