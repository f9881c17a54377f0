#!/usr/bin/env bats
# Durability and concurrency: what an acknowledged ingest wrote survives a
# killed writer, and ingest, seal and query running at once lose nothing.

load test_helper

# all_ids COLL DIM: every id a query for k = a lot returns, sorted, one per line
all_ids() {
    printf '%s\n' "$(seq -s, 1 "$2" | sed 's/[0-9]*/0/g')" |
        vec-query -q -k 100000 -F csv "$1" - | cut -f3 | sort -n
}

@test "an ingest killed mid-stream leaves the acknowledged rows and a usable collection" {
    vectors first.f32 raw 100 8 1
    vectors more.f32 raw 5000 8 2
    vec-ingest -q -f raw -d 8 coll first.f32
    before=$(coll_digest coll)
    # a writer that has appended part of its rows and then dies
    ( cat more.f32; sleep 30 ) | vec-ingest -q -f raw -d 8 coll - &
    pid=$!
    for _ in $(seq 50); do
        [ "$(stat -c %s coll/g-00000001.log)" -gt 100000 ] && break
        sleep 0.1
    done
    pkill -9 -P "$pid" vec-ingest || true
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # the uncommitted tail is on disk but no reader sees it
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 100 (sealed 0, growing 100)"
    [ "$(all_ids coll 8 | wc -l)" -eq 100 ]
    # the next ingest cuts the tail and commits on top of the last acknowledged state
    vec-ingest -q -f raw -d 8 coll first.f32
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 200 (sealed 0, growing 200)"
    [ "$(all_ids coll 8 | uniq | wc -l)" -eq 200 ]
    [ "$before" != "$(coll_digest coll)" ]
}

@test "ingests, seals and queries at the same time lose no row and return each once" {
    vectors base.fvecs fvecs 200 8 1
    vec-ingest -q coll base.fvecs
    for i in $(seq 1 12); do vectors "b$i.fvecs" fvecs 50 8 "$((i + 10))"; done
    (
        for i in $(seq 1 12); do vec-ingest -q coll "b$i.fvecs" || exit 1; done
    ) &
    writer=$!
    (
        for _ in $(seq 1 8); do vec-seal -q --all --wait --grace 0 coll || exit 1; sleep 0.05; done
    ) &
    sealer=$!
    for _ in $(seq 1 10); do
        all_ids coll 8 >seen
        n=$(wc -l <seen)
        u=$(uniq seen | wc -l)
        [ "$n" -eq "$u" ] || { echo "a query saw duplicates: $n rows, $u distinct"; return 1; }
    done
    wait "$writer"
    wait "$sealer"
    vec-seal -q --all coll
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 800 (sealed 800, growing 0)"
    run all_ids coll 8
    [ "${#lines[@]}" -eq 800 ]
    [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 800 ]
    [ "${lines[0]}" -eq 0 ] && [ "${lines[799]}" -eq 799 ]
}

@test "a query keeps its snapshot while seal and garbage collection replace the files" {
    vectors rows.fvecs fvecs 3000 16 1
    vectors q.fvecs fvecs 200 16 9
    vec-ingest -q coll rows.fvecs
    vec-query -q -k 5 coll q.fvecs >before.tsv
    vec-query -q -k 5 -j 2 coll q.fvecs >during.tsv &
    q=$!
    vec-seal -q --all --grace 0 coll
    wait "$q"
    vec-query -q -k 5 coll q.fvecs >after.tsv
    cmp before.tsv during.tsv
    cmp before.tsv after.tsv
}
