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
    vectors more.f32 raw 70000 8 2
    vec-ingest -q -f raw -d 8 coll first.f32
    before=$(coll_digest coll)
    # a writer that has appended part of its rows and then dies: its input stays open, so it
    # cannot reach the end and commit; it appends each batch it reads (65536 rows, vec-ingest.c)
    # and is killed once its log has grown past the acknowledged rows
    local committed _
    committed=$(stat -c %s coll/g-00000001.log)
    mkfifo in
    vec-ingest -q -f raw -d 8 coll - <in &
    pid=$!
    exec {w}>in
    cat more.f32 >&"$w"
    for _ in $(seq 600); do
        [ "$(stat -c %s coll/g-00000001.log)" -gt $((committed + 100000)) ] && break
        kill -0 "$pid" || fail "the ingest ended before it was killed"
        sleep 0.05
    done
    [ "$(stat -c %s coll/g-00000001.log)" -gt $((committed + 100000)) ] || fail "the ingest never appended"
    kill -9 "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 137 ] # it died of SIGKILL, not of its own accord
    exec {w}>&-
    # the uncommitted tail is on disk but no reader sees it
    [ "$(stat -c %s coll/g-00000001.log)" -gt $((committed + 100000)) ]
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
    # queries back to back for as long as either runs, so they cover the whole window; at least
    # one must have run from start to end while both did, or the test proves nothing
    local overlapped=0 both
    while kill -0 "$writer" 2>/dev/null || kill -0 "$sealer" 2>/dev/null; do
        both=0
        kill -0 "$writer" 2>/dev/null && kill -0 "$sealer" 2>/dev/null && both=1
        all_ids coll 8 >seen
        n=$(wc -l <seen)
        u=$(uniq seen | wc -l)
        [ "$n" -eq "$u" ] || fail "a query saw duplicates: $n rows, $u distinct"
        kill -0 "$writer" 2>/dev/null && kill -0 "$sealer" 2>/dev/null && overlapped=$((overlapped + both))
    done
    wait "$writer"
    wait "$sealer"
    [ "$overlapped" -ge 1 ] || fail "no query ran while the ingests and seals did"
    vec-seal -q --all coll
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 800 (sealed 800, growing 0)"
    run all_ids coll 8
    [ "${#lines[@]}" -eq 800 ]
    [ "$(printf '%s\n' "${lines[@]}" | uniq | wc -l)" -eq 800 ]
    [ "${lines[0]}" -eq 0 ] && [ "${lines[799]}" -eq 799 ]
}

@test "a query keeps its snapshot while an ingest, a seal and garbage collection replace the files" {
    vectors rows.fvecs fvecs 3000 16 1
    vectors q.fvecs fvecs 5000 16 9
    vectors more.fvecs fvecs 500 16 3
    vec-ingest -q coll rows.fvecs
    vec-query -q -k 5 coll q.fvecs >before.tsv
    # vec-query opens its snapshot, then reads the queries, here from a pipe kept open.  Once it
    # has taken more of them than a pipe holds (64 KiB) it is certainly past the snapshot; the
    # rest wait while an ingest commits and a seal replaces and removes that snapshot's files.
    mkfifo qpipe
    vec-query -q -k 5 -j 2 -F fvecs coll - <qpipe >during.tsv &
    q=$!
    exec {w}>qpipe
    timeout 60 head -c $((4000 * 68)) q.fvecs >&"$w"
    vec-ingest -q coll more.fvecs
    vec-seal -q --all --grace 0 coll
    # the query still maps the log garbage collection removed
    [ ! -e coll/g-00000001.log ]
    grep -q 'g-00000001\.log (deleted)$' "/proc/$q/maps" || fail "the query does not hold its snapshot's log"
    tail -c +$((4000 * 68 + 1)) q.fvecs >&"$w"
    exec {w}>&-
    wait "$q"
    vec-query -q -k 5 coll q.fvecs >after.tsv
    cmp before.tsv during.tsv
    # after the ingest some neighbours are new rows: the query above did not see them
    run ! cmp -s before.tsv after.tsv
}
