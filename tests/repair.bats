#!/usr/bin/env bats
# vec-inspect --repair: removes what killed writers leave behind (orphans,
# temporary files, uncommitted manifests, torn log tails), says what it did,
# and never changes a byte a committed manifest needs (SPEC.md 2.5).

load test_helper
load manifest_edit

# committed_digest COLL - one digest over every byte a committed manifest needs: CURRENT,
# the manifests up to the current generation, every sealed segment and tombstone file they
# name, and of every log they name the bytes up to its committed length.
committed_digest() {
    local coll=$1 gen m g f len
    gen=$(manifest_field "$coll" generation)
    {
        cat "$coll/CURRENT"
        for m in "$coll"/manifest-*; do
            g=${m##*manifest-}
            [[ $g =~ ^[0-9]+$ ]] && ((10#$g <= gen)) || continue
            echo "$m"
            sha256sum <"$m"
            for f in $(awk '$1 == "sealed" || $1 == "tombstones" {print $2}' "$m"); do
                echo "$f"
                sha256sum <"$coll/$f"
            done
            while read -r f len; do
                echo "$f $len"
                head -c "$len" "$coll/$f" | sha256sum
            done < <(awk '$1 == "growing" {for (i = 3; i <= NF; i++) if ($i ~ /^length=/) print $2, substr($i, 8)}' "$m")
        done
    } | sha256sum | cut -d' ' -f1
}

# busy_coll - a collection with sealed and growing rows and a tombstone file.
busy_coll() {
    vectors a.fvecs fvecs 200 8 1
    vectors b.fvecs fvecs 50 8 2
    vec-ingest -q coll a.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll b.fvecs
    echo 3 >del.txt
    vec-ingest -q --delete coll del.txt
}

@test "--repair is refused for a file, with other options, and with no collection" {
    busy_coll
    run -64 --separate-stderr vec-inspect --repair coll/CURRENT
    assert_equal "${stderr_lines[0]}" "vec-inspect: --repair takes a collection directory, not 'coll/CURRENT'"
    run -64 --separate-stderr vec-inspect --repair --verify coll
    assert_equal "${stderr_lines[0]}" "vec-inspect: --repair goes alone (with -q)"
    run -64 vec-inspect --repair --rows 3 coll
    run -66 vec-inspect --repair nowhere
}

@test "--repair on a clean collection changes nothing and has nothing to do" {
    busy_coll
    before=$(coll_digest coll)
    run -0 --separate-stderr vec-inspect --repair coll
    assert_equal "$output" ""
    assert_equal "$stderr" "vec-inspect: 'coll': nothing to repair"
    assert_equal "$(coll_digest coll)" "$before"
}

@test "--repair removes every kind of orphan and a torn tail, and no committed byte" {
    busy_coll
    gen=$(manifest_field coll generation)
    g=$(next_file_name coll g)
    t=$(next_file_name coll t)
    s=$(next_file_name coll s)
    log=$(awk '$1 == "growing" {print $2}' "$(current_manifest coll)" | tail -n 1)
    len=$(stat -c %s "coll/$log")
    committed=$(committed_digest coll)
    # what killed writers leave: orphans at and past the counters, temporary files,
    # a manifest CURRENT never named, uncommitted bytes at the end of the log
    plant_orphan coll "$g"
    plant_orphan coll "g-$(printf %08d $((10#${g:2:8} + 5))).log"
    printf 'tombstones' >"coll/$t"
    cp coll/s-00000001.vseg "coll/$s"
    printf 'partial' >"coll/$s.tmp"
    printf 'partial' >"coll/CURRENT.tmp"
    next=$(printf 'manifest-%08d' $((gen + 1)))
    cp "$(current_manifest coll)" "coll/$next"
    cp "$(current_manifest coll)" "coll/$next.tmp"
    printf 'torn record' >>"coll/$log"
    # and what repair must leave: a file below the counter (garbage collection's), a foreign file
    printf 'old' >coll/g-00000000.log
    printf 'notes' >coll/notes.txt
    run -0 --separate-stderr vec-inspect --repair coll
    assert_equal "$stderr" "vec-inspect: 'coll': repaired"
    expected=$(printf '%s\n' \
        "removed CURRENT.tmp bytes=7 reason=temporary" \
        "truncated $log from=$((len + 11)) to=$len reason=torn-tail" \
        "removed $g bytes=49 reason=orphan" \
        "removed g-$(printf %08d $((10#${g:2:8} + 5))).log bytes=49 reason=orphan" \
        "removed $next bytes=$(stat -c %s "$(current_manifest coll)") reason=uncommitted" \
        "removed $next.tmp bytes=$(stat -c %s "$(current_manifest coll)") reason=temporary" \
        "removed $s bytes=$(stat -c %s coll/s-00000001.vseg) reason=orphan" \
        "removed $s.tmp bytes=7 reason=temporary" \
        "removed $t bytes=10 reason=orphan" | LC_ALL=C sort -t' ' -k2,2)
    assert_equal "$output" "$expected"
    assert_equal "$(committed_digest coll)" "$committed"
    assert_equal "$(stat -c %s "coll/$log")" "$len"
    [ -f coll/g-00000000.log ] && [ -f coll/notes.txt ]
    [ -z "$(ls coll | grep '\.tmp$')" ]
    run -0 vec-inspect --verify coll
    # a second repair has nothing to do
    after=$(coll_digest coll)
    run -0 --separate-stderr vec-inspect --repair coll
    assert_equal "$output" ""
    assert_equal "$stderr" "vec-inspect: 'coll': nothing to repair"
    assert_equal "$(coll_digest coll)" "$after"
    # and the collection takes the next rows under the names repair freed
    run -0 vec-ingest -q coll b.fvecs
    run -0 vec-seal -q --all coll
    run -0 vec-inspect --verify coll
}

@test "--repair while an ingest or a seal holds its lock exits 75 and changes nothing" {
    busy_coll
    plant_orphan coll "$(next_file_name coll g)"
    hold_lock coll/ingest.lock 30
    refuses coll 75 "^vec-inspect: 'coll/ingest.lock': held by another process$" vec-inspect --repair coll
    kill "$LOCK_PID"
    wait "$LOCK_PID" 2>/dev/null || true
    hold_lock coll/maint.lock 30
    refuses coll 75 "^vec-inspect: 'coll/maint.lock': held by another process$" vec-inspect --repair coll
}

@test "-q repairs silently" {
    busy_coll
    plant_orphan coll "$(next_file_name coll g)"
    run -0 --separate-stderr vec-inspect -q --repair coll
    assert_equal "$output" ""
    assert_equal "$stderr" ""
    run -0 --separate-stderr vec-inspect --repair coll
    assert_equal "$stderr" "vec-inspect: 'coll': nothing to repair"
}
