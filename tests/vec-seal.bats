#!/usr/bin/env bats
# vec-seal: sealing growing segments into segment files, dry runs, purging deleted rows, one
# maintainer at a time, and garbage collection of files no manifest needs.

load test_helper

# ---- argument rejection -------------------------------------------------------------------

@test "an unknown option is a usage error" {
    run -64 --separate-stderr vec-seal --bogus coll
    assert_stderr_matches "Try 'vec-seal --help'"
}

@test "a missing collection argument is a usage error" {
    run -64 --separate-stderr vec-seal
    assert_stderr_matches "missing COLL"
}

@test "two collection arguments are a usage error" {
    run -64 --separate-stderr vec-seal a b
    assert_stderr_matches "too many arguments"
}

@test "a grace that is not a number is a usage error" {
    run -64 --separate-stderr vec-seal --grace soon coll
    assert_stderr_matches "--grace"
    run -64 --separate-stderr vec-seal --grace -5 coll
    assert_stderr_matches "--grace"
}

@test "--help shows the usage and exits 0" {
    run -0 vec-seal --help
    assert_line --index 0 --partial "Usage: vec-seal"
    assert_output --partial "--dry-run"
}

@test "--version exits 0" {
    run -0 vec-seal --version
    assert_line --index 0 --regexp '^vec-seal \(vecseg\) '
}

@test "a missing collection exits 66 naming it" {
    run -66 --separate-stderr vec-seal nothere
    assert_one_stderr_line
    assert_stderr_matches "^vec-seal: 'nothere'"
}

@test "a directory that is not a collection exits 66" {
    mkdir empty
    run -66 --separate-stderr vec-seal --all empty
    assert_one_stderr_line
    assert_stderr_matches "^vec-seal: 'empty'"
    assert_equal "$(ls -A empty)" ""
}

# ---- sealing ------------------------------------------------------------------------------

make_coll() {   # make_coll N [vec-ingest OPTIONS]
    local n=$1
    shift
    vectors base.npy npy-f4 "$n" 12 1
    vectors q.npy npy-f4 15 12 2
    vec-ingest -q "$@" coll base.npy
}

@test "with nothing to do it exits 0 and changes nothing" {
    make_coll 50
    local before
    before=$(coll_digest coll)
    run -0 --separate-stderr vec-seal coll
    assert_output ""
    assert_stderr_matches "^vec-seal: nothing to seal in 'coll'"
    assert_equal "$(coll_digest coll)" "$before"
}

@test "sealing rows that were all deleted purges them all" {
    make_coll 20
    seq 0 19 | vec-ingest -q --delete coll
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "sealed 1 segment\(s\), 0 rows \(20 deleted rows purged\)"
    run -0 vec-query -q coll q.npy
    assert_output ""
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "nothing to seal"
}

@test "--dry-run prints the plan as TSV and changes nothing" {
    make_coll 90 --shards 3
    local before
    before=$(coll_digest coll)
    run -0 --separate-stderr vec-seal --dry-run --all coll
    assert_equal "${#lines[@]}" 3
    for l in "${lines[@]}"; do
        [[ $l =~ ^g-[^$'\t']+$'\t's-[^$'\t']+\.vseg$'\t'[0-2]$'\t'[0-9]+$'\t'flat$'\t'seal$ ]] || fail "bad plan line: $l"
    done
    assert_equal "$(awk -F'\t' '{n += $4} END {print n}' <<<"$output")" 90
    assert_stderr_matches "^vec-seal: would seal 3 growing segment\(s\) and compact 0, 90 rows \(dry run\)$"
    assert_equal "$(coll_digest coll)" "$before"
    # the plan names the files a real run writes
    local plan=$output
    vec-seal -q --all coll
    for f in $(cut -f2 <<<"$plan"); do
        [ -f "coll/$f" ] || fail "planned segment '$f' was not written"
    done
}

@test "--dry-run without --all plans nothing below the thresholds" {
    make_coll 30
    run -0 --separate-stderr vec-seal -n coll
    assert_output ""
    assert_stderr_matches "would seal 0 growing"
}

@test "--all seals the growing rows into a segment file and results stay identical" {
    make_coll 200
    vec-query -q -k 10 coll q.npy >before.tsv
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "^vec-seal: sealed 1 segment\(s\), 200 rows \(0 deleted rows purged\), .* generation [0-9]+; removed [0-9]+ unused file\(s\)$"
    [ -n "$(find coll -name '*.vseg')" ] || fail "no segment file was written"
    vec-query -q -k 10 coll q.npy >after.tsv
    cmp before.tsv after.tsv
    check_results after.tsv -k 10 --base base.npy --queries q.npy
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "nothing to seal"
}

@test "sealing a collection of several shards keeps the results identical" {
    make_coll 300 --shards 4 --metric cosine
    vec-query -q -k 8 coll q.npy >before.tsv
    vec-seal -q --all coll
    assert_equal "$(find coll -name '*.vseg' | wc -l)" 4
    vec-query -q -k 8 coll q.npy >after.tsv
    cmp before.tsv after.tsv
    check_results after.tsv -k 8 --metric cosine --base base.npy --queries q.npy
}

@test "rows added after sealing are found together with the sealed ones" {
    make_coll 100
    vec-seal -q --all coll
    vectors more.npy npy-f4 50 12 3
    vec-ingest -q coll more.npy
    assert_equal "$(top_ids coll more.npy)" "$(seq_ids 100 149)"
    vec-query -q -k 10 coll q.npy >r.tsv
    check_results r.tsv -k 10 --base base.npy --base more.npy --queries q.npy
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "sealed 1 segment\(s\), 50 rows"
    vec-query -q -k 10 coll q.npy >r2.tsv
    cmp r.tsv r2.tsv
}

@test "rows deleted before sealing are purged and never returned" {
    make_coll 100
    seq 10 19 >del.txt
    vec-ingest -q --delete coll del.txt
    run -0 --separate-stderr vec-seal --all coll
    assert_stderr_matches "sealed 1 segment\(s\), 90 rows \(10 deleted rows purged\)"
    vec-query -q -k 100 coll base.npy >r.tsv
    assert_equal "$(comm -12 <(result_ids r.tsv) del.txt)" ""
    assert_equal "$(wc -l <r.tsv)" $((100 * 90))
    vec-query -q -k 10 coll q.npy >r10.tsv
    assert_equal "$(wc -l <r10.tsv)" 150
    check_results r10.tsv -k 10 --base base.npy --exclude 10-19 --queries q.npy
}

@test "rows deleted after sealing are never returned" {
    make_coll 100
    vec-seal -q --all coll
    seq 40 59 | vec-ingest -q --delete coll
    vec-query -q -k 10 coll q.npy >r.tsv
    assert_equal "$(wc -l <r.tsv)" 150
    check_results r.tsv -k 10 --base base.npy --exclude 40-59 --queries q.npy
    run -0 --separate-stderr vec-seal --all coll
    vec-query -q -k 10 coll q.npy >r2.tsv
    cmp r.tsv r2.tsv
}

@test "upserted rows keep their new vectors through sealing" {
    make_coll 40
    vectors new.npy npy-f4 3 12 7
    ids up.txt 5,6,7
    vec-ingest -q --upsert --ids up.txt coll new.npy
    vec-seal -q --all coll
    assert_equal "$(top_ids coll new.npy)" "5 6 7"
    vec-query -q -k 10 coll q.npy >r.tsv
    check_results r.tsv -k 10 --base base.npy --base new.npy --ids 0-39,5-7 --skip-rows 5-7 --queries q.npy
}

@test "a damaged growing segment is refused naming the file and changes nothing" {
    make_coll 50
    fixtures flip coll/g-00000001.log 100
    refuses coll 65 "^vec-seal: 'g-00000001\.log': .*record at offset [0-9]+ fails its checksum$" \
        vec-seal --all coll
    [ -z "$(find coll -name '*.vseg*')" ]
}

# ---- one maintainer at a time ---------------------------------------------------------------

@test "a second seal while one runs exits 75 and changes nothing" {
    make_coll 60
    hold_lock coll/maint.lock 30
    refuses coll 75 "^vec-seal: 'coll/maint\.lock': held by another process$" vec-seal --all coll
    [ -z "$(find coll -name '*.vseg')" ]
}

@test "--wait waits for the running seal instead of exiting 75" {
    make_coll 60
    hold_lock coll/maint.lock 60
    vec-seal --wait --all coll 2>stderr &
    local seal=$!
    # certainly waiting on the lock (/proc/locks), and nothing sealed meanwhile
    wait_flock "$seal" coll/maint.lock waiting
    [ -z "$(find coll -name '*.vseg')" ]
    kill "$LOCK_PID"
    wait "$LOCK_PID" 2>/dev/null || true
    LOCK_PID=
    wait "$seal"
    run cat stderr
    assert_output --regexp "sealed 1 segment\(s\), 60 rows"
    [ -n "$(find coll -name '*.vseg')" ]
}

@test "a dry run while a seal runs exits 75 too" {
    make_coll 60
    hold_lock coll/maint.lock 30
    refuses coll 75 "maint\.lock" vec-seal --dry-run --all coll
}

# ---- garbage collection ---------------------------------------------------------------------

# referenced COLL - the files the current manifest names, one a line, sorted.
referenced() {
    awk '$1 == "growing" || $1 == "sealed" || $1 == "tombstones" {print $2}' "$1/$(cat "$1/CURRENT")" | sort
}

@test "with the default grace unreferenced files stay" {
    make_coll 60
    seq 0 4 | vec-ingest -q --delete coll
    vec-seal -q --all coll
    touch coll/s-00000999.vseg coll/g-00000999.log
    local manifests
    manifests=$(ls coll | grep -c '^manifest-')
    [ "$manifests" -gt 1 ]
    run -0 --separate-stderr vec-seal coll
    assert_stderr_matches "removed 0 unused file\(s\)"
    assert_equal "$(ls coll | grep -c '^manifest-')" "$manifests"
    [ -f coll/s-00000999.vseg ] && [ -f coll/g-00000999.log ]
}

@test "--grace 0 removes files no manifest references and keeps the rest" {
    make_coll 60
    seq 0 4 | vec-ingest -q --delete coll
    vec-seal -q --all coll
    vec-query -q -k 10 coll q.npy >before.tsv
    touch coll/s-00000999.vseg coll/g-00000999.log coll/t-00000999.tomb
    local current
    current=$(cat coll/CURRENT)
    run -0 --separate-stderr vec-seal --grace 0 coll
    assert_stderr_matches "removed [1-9][0-9]* unused file\(s\)"
    # only the current manifest is left, with every file it names
    assert_equal "$(ls coll | grep '^manifest-')" "$current"
    [ ! -e coll/s-00000999.vseg ] && [ ! -e coll/g-00000999.log ] && [ ! -e coll/t-00000999.tomb ]
    for f in $(referenced coll); do
        [ -f "coll/$f" ] || fail "referenced file '$f' was removed"
    done
    vec-query -q -k 10 coll q.npy >after.tsv
    cmp before.tsv after.tsv
    # nothing is left to remove
    run -0 --separate-stderr vec-seal --grace 0 coll
    assert_stderr_matches "removed 0 unused file\(s\)"
}

@test "--grace keeps files younger than the grace period" {
    make_coll 60
    vec-seal -q --all coll
    touch coll/s-00000998.vseg
    touch -d '2 hours ago' coll/s-00000999.vseg
    run -0 --separate-stderr vec-seal --grace 3600 coll
    [ -f coll/s-00000998.vseg ]
    [ ! -e coll/s-00000999.vseg ]
}

# ---- damaged collections ------------------------------------------------------------------

@test "a CURRENT that names no manifest is refused with one line, never a crash" {
    make_coll 30
    for kind in missing garbage empty dotdot; do
        rm -rf bad && cp -r coll bad && break_current bad "$kind"
        local want=65
        [ "$kind" != missing ] || want=66
        for opts in --all --dry-run "--set grace=5"; do
            # shellcheck disable=SC2086
            refuses bad "$want" "^vec-seal: '(bad/CURRENT|manifest-00000099)'" vec-seal $opts bad
        done
    done
}

@test "a growing log narrower than the manifest's dim is refused and nothing is sealed" {
    make_coll 40
    edit_manifest coll 's/^dim 12$/dim 64/'
    refuses coll 65 "^vec-seal: 'manifest-00000002': 'g-00000001\.log': 40 rows cannot fit in 2264 bytes$" \
        vec-seal --all coll
    ! ls coll/s-* 2>/dev/null
    # a dim the rows would fit: the log's header is compared with the manifest
    edit_manifest coll 's/^dim 64$/dim 6/'
    refuses coll 65 "^vec-seal: 'g-00000001\.log': dim is 12 in the file but 6 in the manifest$" vec-seal --all coll
    ! ls coll/s-* 2>/dev/null
}

# ---- shared IVF quantisers (SPEC.md 5.5.2) --------------------------------------------------

# quantisers COLL - the distinct quantiser= values of COLL's sealed segments, one a line.
quantisers() {
    vec-inspect "$1" | awk '/^sealed/ { for (i = 1; i <= NF; i++) if ($i ~ /^quantiser=/) print $i }' | sort -u
}

# nlists COLL - the distinct nlist= values of COLL's sealed segments, one a line.
nlists() {
    vec-inspect "$1" | awk '/^sealed/ { for (i = 1; i <= NF; i++) if ($i ~ /^nlist=/) print $i }' | sort -u
}

@test "IVF segments share one quantiser, answer as one index, and retrain when the rows outgrow it" {
    # (records of 500 rows: a seal cuts segments at record boundaries)
    vectors base.npy npy-f4 4000 16 1
    vectors q.npy npy-f4 20 16 2
    vec-ingest -q --commit-every 500 coll base.npy
    vec-seal -q --set segment-rows=1000 --set ivf-shared=1 coll
    vec-seal -q --all --index ivf_pq coll
    assert_equal "$(vec-inspect coll | grep -c '^sealed')" 4
    assert_equal "$(quantisers coll | wc -l)" 1
    assert_equal "$(nlists coll)" "nlist=253"   # 4 sqrt(4000): the rows served, not 4 sqrt(1000)
    # every list probed: the brute force over all rows, through one group
    vec-query -q -k 10 --nprobe 253 --refine 10000 coll q.npy >all.tsv
    check_results all.tsv -k 10 --base base.npy --queries q.npy
    # 8,000 rows: 253 lists are still at least half of 4 sqrt(8000) = 358, so reused
    vectors more.npy npy-f4 4000 16 3
    vec-ingest -q --commit-every 500 coll more.npy
    vec-seal -q --all coll
    assert_equal "$(vec-inspect coll | grep -c '^sealed')" 8
    assert_equal "$(quantisers coll | wc -l)" 1
    # 24,000 rows: 4 sqrt(24000) = 620 lists, more than twice 253: a new quantiser
    vectors big.npy npy-f4 16000 16 4
    vec-ingest -q --commit-every 500 coll big.npy
    vec-seal -q --all coll
    assert_equal "$(quantisers coll | wc -l)" 2
    assert_equal "$(nlists coll | tr '\n' ' ')" "nlist=253 nlist=620 "
    VECSEG_IVF_GROUPS=1 vec-query -q -k 10 --nprobe 620 --refine 10000 coll q.npy >r.tsv
    check_results r.tsv -k 10 --base base.npy --base more.npy --base big.npy --queries q.npy
    # each segment searched alone (the default) finds the same when every list is probed
    vec-query -q -k 10 --nprobe 620 --refine 10000 coll q.npy >alone.tsv
    cmp r.tsv alone.tsv
}

@test "a shared quantiser is passed over for rows that drifted from it, and kept for rows that did not" {
    # [R-IVF-DRIFT]: rows of another region (every value +3) lie far further from the quantiser's
    # centroids than its own rows; rows like its own (other seeds) do not
    vectors a1.npy npy-f4 6000 16 1
    vec-ingest -q --commit-every 500 coll a1.npy
    vec-seal -q --set segment-rows=1000 --set ivf-shared=1 coll
    vec-seal -q --all --index ivf_pq --pq-m 4 coll
    assert_equal "$(nlists coll)" "nlist=310"   # 4 sqrt(6000), trained on 19 rows a list
    # 8,000 rows like the first: kept
    vectors a2.npy npy-f4 2000 16 2
    vec-ingest -q --commit-every 500 coll a2.npy
    vec-seal -q --all coll
    assert_equal "$(quantisers coll | wc -l)" 1
    # 17,000 rows: 310 lists are still at least half of 4 sqrt(17000) = 522, but the new rows
    # drifted: a new quantiser of 522 lists, trained on them
    vectors b.npy npy-f4 9000 16 3 --offset 3
    vec-ingest -q --commit-every 500 coll b.npy
    vec-seal -q --all coll
    assert_equal "$(quantisers coll | wc -l)" 2
    assert_equal "$(nlists coll | tr '\n' ' ')" "nlist=310 nlist=522 "
    b_quant=$(vec-inspect coll | awk '/^sealed/ && / nlist=522/ { for (i = 1; i <= NF; i++) if ($i ~ /^quantiser=/) print $i }' | sort -u)
    # rows like the first again: the most lists (522) drifted from them, the first one did not
    vectors a3.npy npy-f4 2000 16 4
    vec-ingest -q --commit-every 500 coll a3.npy
    vec-seal -q --all coll
    assert_equal "$(quantisers coll | wc -l)" 2
    assert_equal "$(vec-inspect coll | awk '/^sealed/ && / nlist=310/' | wc -l)" 10
    assert_equal "$(vec-inspect coll | grep '^sealed' | grep -c -- "$b_quant")" 9
    # every list probed: the brute force over all rows, near both regions
    vectors q.npy npy-f4 10 16 5
    vectors qb.npy npy-f4 10 16 6 --offset 3
    for qf in q.npy qb.npy; do
        vec-query -q -k 10 --nprobe 522 --refine 10000 coll $qf >r.tsv
        check_results r.tsv -k 10 --base a1.npy --base a2.npy --base b.npy --base a3.npy --queries $qf
    done
}

@test "segments sharing a quantiser answer as when searched one by one, with any worker count" {
    # [R-IVF-GROUP]: a group ranks the lists once, then each member keeps its own live rows,
    # refine candidates and k best: grouping (the default) changes no answer, whatever the
    # members a worker holds; deleted rows, too few live rows in the probed lists, refine
    vectors base.npy npy-f4 4000 16 1
    vectors q.npy npy-f4 60 16 2
    vec-ingest -q --commit-every 500 coll base.npy
    vec-seal -q --set segment-rows=500 --set ivf-shared=1 coll
    vec-seal -q --all --index ivf_pq --pq-m 4 coll
    assert_equal "$(vec-inspect coll | grep -c "^sealed")" 8
    assert_equal "$(quantisers coll | wc -l)" 1
    seq 0 3 3999 | vec-ingest -q --delete coll
    for opts in "--nprobe 1" "--nprobe 3 --refine 2" "--nprobe 8 --refine 1" "--refine 4" "--nprobe 1000 --refine 1000"; do
        # shellcheck disable=SC2086
        VECSEG_IVF_GROUPS=0 vec-query -q -k 10 $opts coll q.npy >alone.tsv
        for j in 1 2 3; do
            # shellcheck disable=SC2086
            VECSEG_IVF_GROUPS=1 vec-query -q -j $j -k 10 $opts coll q.npy >g$j.tsv
            cmp alone.tsv g$j.tsv || fail "$opts -j $j: the group answers otherwise than its members one by one"
        done
        # shellcheck disable=SC2086
        vec-query -q -t 2 -k 10 $opts coll q.npy >t2.tsv
        cmp alone.tsv t2.tsv || fail "$opts -t 2 (grouping by default): answers differ"
    done
}

@test "segments sharing a quantiser have the same bytes whatever the thread and job counts" {
    vectors base.npy npy-f4 3000 16 1
    for run in 1 2 3; do
        vec-ingest -q --commit-every 500 c$run base.npy
        vec-seal -q --set segment-rows=1000 --set ivf-shared=1 c$run
    done
    VECSEG_THREADS=1 vec-seal -q --all --index ivf_pq --pq-m 4 c1
    VECSEG_THREADS=2 vec-seal -q --all --index ivf_pq --pq-m 4 c2
    VECSEG_THREADS=2 vec-seal -q -j 3 --all --index ivf_pq --pq-m 4 c3
    assert_equal "$(quantisers c1 | wc -l)" 1
    n=0
    for f in c1/s-*.vseg; do
        cmp "$f" "c2/${f#c1/}"
        cmp "$f" "c3/${f#c1/}"
        n=$((n + 1))
    done
    assert_equal "$n" 3
}

@test "with ivf-shared=0 each IVF segment trains its own quantiser on its rows" {
    vectors base.npy npy-f4 3000 16 1
    vec-ingest -q --commit-every 500 coll base.npy
    vec-seal -q --set segment-rows=1000 --set ivf-shared=0 coll
    vec-seal -q --all --index ivf_flat coll
    assert_equal "$(quantisers coll | wc -l)" 3
    assert_equal "$(nlists coll)" "nlist=126"   # 4 sqrt(1000)
}
