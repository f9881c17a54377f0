#!/usr/bin/env bats
# vec-shard and partition keys: growing the shard count, splitting one
# shard, isolating a tenant, all online, and --partition queries.

load test_helper

# rows.csv: id, partition key (id mod 7), 4 values; q.fvecs: queries
make_rows() {
    vectors rows.csv csv "${1:-400}" 4 3 --id-col 1 --key-col 2 --keys-mod 7
    vectors q.fvecs fvecs 30 4 9
}

all_ids() {
    printf '0,0,0,0\n' | vec-query -q -k 100000 -F csv "$1" - | cut -f3 | sort -n
}

manifest() { cat "$1/$(cat "$1/CURRENT")"; }

@test "bad vec-shard options are usage errors" {
    run -64 vec-shard
    run -64 vec-shard --shards 0 coll
    run -64 vec-shard --shards 2 --auto coll
    run -64 vec-shard --dry-run coll
    run -66 vec-shard nowhere
}

@test "vec-shard lists shards as TSV (data only, the column names with --header), or as JSON lines" {
    make_rows
    vec-ingest -q -s 3 --id-col 1 --key-col 2 coll rows.csv
    run -0 vec-shard coll
    assert_equal "${#lines[@]}" 3
    [ "$(printf '%s\n' "${lines[@]}" | awk -F'\t' '{n += $5} END {print n}')" -eq 400 ]
    run -0 vec-shard --header coll
    assert_equal "${lines[0]}" $'shard\tdepth\tvalue\tkey\trows\tdeleted\tgrowing\tsealed\tbytes\tnodes\tindexes'
    assert_equal "${#lines[@]}" 4
    [ "$(printf '%s\n' "${lines[@]:1}" | awk -F'\t' '{n += $5} END {print n}')" -eq 400 ]
    run -0 vec-shard --format jsonl coll
    printf '%s\n' "${lines[@]}" | /usr/bin/python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert sum(x["rows"] for x in r) == 400'
}

@test "raising the shard count keeps every row once and every answer the same" {
    make_rows
    vec-ingest -q --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --all coll
    printf '%s\n' 5 6 | vec-ingest -q --delete coll
    vec-query -q -k 10 coll q.fvecs >before.tsv
    run -0 --separate-stderr vec-shard --shards 5 coll
    [[ "$stderr" == *"split 4 shard(s)"* ]]
    [ "$(manifest coll | grep -c '^shard ')" -eq 5 ]
    vec-query -q -k 10 coll q.fvecs >after.tsv
    cmp before.tsv after.tsv
    run all_ids coll
    [ "${#lines[@]}" -eq 398 ] && [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 398 ]
    run -0 vec-inspect --verify coll
}

@test "a split rewrites only the shard it splits" {
    make_rows
    vec-ingest -q -s 2 --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --all coll
    other=$(manifest coll | awk '/^sealed/ && /shard=1 / {print $2}')
    [ -n "$other" ]
    vec-shard -q --split 0 coll
    manifest coll | grep -q "^sealed $other shard=1 "
    ! manifest coll | grep -q 'shard=0 '
    [ "$(manifest coll | grep -c '^shard ')" -eq 3 ]
}

@test "--dry-run names the shard it would split and changes nothing" {
    make_rows
    vec-ingest -q --id-col 1 --key-col 2 coll rows.csv
    before=$(coll_digest coll)
    run -0 --separate-stderr vec-shard --dry-run --shards 2 coll
    assert_output "0"
    assert_equal "$(coll_digest coll)" "$before"
}

@test "--auto splits the shards past split-rows" {
    make_rows
    vec-ingest -q --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --set split-rows=150 coll
    vec-shard -q --auto coll
    vec-shard coll | awk -F'\t' 'NR > 1 && $5 > 150 { bad = 1 } END { exit bad }'
    [ "$(manifest coll | grep -c '^shard ')" -ge 3 ]
}

@test "--isolate gives a tenant its own shard; --partition equals a filter over everything" {
    make_rows
    vec-ingest -q -s 2 --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --all coll
    awk -F, '$2 == 3' rows.csv >only3.csv
    vec-ingest -q --id-col 1 --key-col 2 ref only3.csv
    vec-query -q -k 10 ref q.fvecs >want.tsv
    vec-query -q -k 10 --partition 3 coll q.fvecs >got.tsv
    cmp want.tsv got.tsv
    vec-shard -q --isolate 3 coll
    manifest coll | grep -qE '^shard [0-9]+ key=3$'
    vec-query -q -k 10 --partition 3 coll q.fvecs >got2.tsv
    cmp want.tsv got2.tsv
    # the tenant's new rows go to its shard
    printf '9001,3,0.5,0.5,0.5,0.5\n' >new.csv
    vec-ingest -q --id-col 1 --key-col 2 coll new.csv
    run -0 vec-shard coll
    printf '%s\n' "${lines[@]}" | awk -F'\t' '$4 == 3 && $5 == 58 { ok = 1 } END { exit !ok }'
    vec-ingest -q nokeys q.fvecs
    run -64 --separate-stderr vec-query --partition 3 nokeys q.fvecs
    assert_equal "$stderr" "vec-query: --partition: the collection has no partition keys"
}

@test "an ingest running during a split loses nothing" {
    make_rows 2000
    vec-ingest -q --id-col 1 --key-col 2 coll rows.csv
    vec-seal -q --all coll
    vectors more.csv csv 3000 4 5 --id-col 1 --id-start 100000 --key-col 2 --keys-mod 7
    # The ingest reads a pipe kept open, so its transaction (and ingest.lock) stays open while
    # the split starts; the split copies the sealed rows, then waits for the ingest to commit
    # before it copies the growing ones.  Both points are seen in /proc/locks, not guessed.
    mkfifo in
    vec-ingest -q -f csv --id-col 1 --key-col 2 coll - <in &
    ing=$!
    exec {w}>in
    head -n 1500 more.csv >&"$w"
    wait_flock "$ing" coll/ingest.lock held
    vec-shard -q --shards 4 coll {w}>&- &  # not a writer of the pipe: the ingest must see its end
    split=$!
    wait_flock "$split" coll/ingest.lock waiting
    tail -n +1501 more.csv >&"$w"
    exec {w}>&-
    wait "$ing"
    wait "$split"
    run all_ids coll
    [ "${#lines[@]}" -eq 5000 ]
    [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 5000 ]
    vec-inspect --verify coll >/dev/null
}

@test "a split's halves keep the IVF quantiser their segment shares (SPEC.md 5.5.2)" {
    vectors base.npy npy-f4 4000 16 1
    vectors q.npy npy-f4 20 16 2
    vec-ingest -q -s 2 coll base.npy
    vec-seal -q --set ivf-shared=1 coll
    vec-seal -q --all --index ivf_pq coll
    q() { vec-inspect coll | grep '^sealed' | grep -o 'quantiser=[0-9a-f]*' | sort -u; }
    before=$(q)
    [ -n "$before" ] || fail "vec-inspect shows no quantiser"
    assert_equal "$(echo "$before" | wc -l)" 1
    vec-shard -q --split 0 coll
    assert_equal "$(vec-inspect coll | grep -c '^sealed')" 3
    assert_equal "$(q)" "$before"
    vec-query -q -k 10 --nprobe 253 --refine 10000 coll q.npy >r.tsv
    check_results r.tsv -k 10 --base base.npy --queries q.npy
}

@test "a split's halves, sharing their quantiser, answer alike with any worker count" {
    # the halves form a group [R-IVF-GROUP]; -j hands them to different workers, which must
    # answer as one process does
    vectors base.npy npy-f4 4000 16 1
    vectors q.npy npy-f4 50 16 2
    vec-ingest -q -s 2 coll base.npy
    vec-seal -q --all --index ivf_pq --pq-m 4 coll
    vec-shard -q --split 0 coll
    for j in 1 2 3; do
        vec-query -q -j $j -k 10 --nprobe 4 --refine 1 coll q.npy >r$j.tsv
    done
    cmp r1.tsv r2.tsv
    cmp r1.tsv r3.tsv
}
