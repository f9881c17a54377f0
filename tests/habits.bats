#!/usr/bin/env bats
# habits.bats - vecseg in Makefiles, cron and pipelines: a command that changes nothing commits
# nothing (CURRENT, the make target, keeps its inode, mtime and bytes), every tool reports a
# failed write to stdout (exit 74), a cron vec-seal is silent when there is nothing to report,
# vec-ingest says it waits for the lock or, with --no-wait, does not wait, and the tools share
# one vocabulary of options.

load test_helper

# state COLL - what a Makefile rule on COLL/CURRENT sees, and the directory listing: CURRENT's
# inode, mtime (ns) and bytes, then every file name with its size and mtime.
state() {
    stat -c '%i %.9Y %s' "$1/CURRENT"
    cat "$1/CURRENT"
    (cd "$1" && find . -type f -printf '%p %s %T@\n' | LC_ALL=C sort)
}

# coll_csv COLL - a collection of 3 rows (ids 1-3) from CSV, balanced on nodes a,b.
coll_csv() {
    printf 'id,x,y\n1,0.1,0.2\n2,0.3,0.4\n3,0.5,0.6\n' >rows.csv
    vec-ingest -q --id-col 1 "$1" rows.csv
    vec-balance -q --nodes a,b "$1"
}

# unchanged COLL COMMAND... - COMMAND exits 0 and COLL's CURRENT and files are as they were.
unchanged() {
    local coll=$1 before
    shift
    before=$(state "$coll")
    sleep 0.01 # a commit would give CURRENT a later mtime
    run -0 --separate-stderr "$@"
    assert_equal "$(state "$coll")" "$before"
}

# --- no-ops commit nothing ----------------------------------------------------

@test "vec-balance with the nodes the collection already has commits nothing" {
    coll_csv c
    unchanged c vec-balance --nodes a,b c
    unchanged c vec-balance --nodes b,a c
    # a real change still commits
    run -0 vec-balance -q --nodes a,b,x c
    [ "$(cat c/CURRENT)" != manifest-00000003 ]
}

@test "vec-seal --set to the current value commits nothing, and says 'now has'" {
    coll_csv c
    vec-seal --set grace=120 c 2>/dev/null
    unchanged c vec-seal --set grace=120 c
    assert_stderr_matches "^vec-seal: 'c' now has grace=120, generation [0-9]+$"
    unchanged c vec-seal --set grace=120 --set hnsw-m=16 c
    run -0 vec-seal -q --set grace=121 c
    assert_equal "$(vec-inspect c | grep -c 'grace.*121' || true)" 1
}

@test "a header-only CSV ingest commits nothing" {
    coll_csv c
    printf 'id,x,y\n' >header.csv
    unchanged c vec-ingest --id-col 1 c header.csv
    assert_stderr_matches "^vec-ingest: no rows in the input: 'c' unchanged$"
}

@test "vec-seal with nothing to seal and nothing to remove commits nothing" {
    coll_csv c
    vec-seal -q --all c
    vec-seal -q --set grace=100000 c
    unchanged c vec-seal c
    unchanged c vec-seal --all c
    unchanged c vec-seal -q c
}

@test "vec-shard with nothing to split commits nothing" {
    coll_csv c
    unchanged c vec-shard --auto c
    unchanged c vec-shard --shards 1 c
    assert_equal "$stderr" "vec-shard: nothing to split: 'c' unchanged"
    unchanged c vec-shard c
}

@test "a Makefile rule on CURRENT does not rerun after a no-op" {
    coll_csv c
    cat >Makefile <<'EOF'
out.tsv: c/CURRENT
	vec-query -q -k 1 c q.csv >$@
EOF
    printf '0.1,0.2\n' >q.csv
    make -s
    run -0 make -q out.tsv
    vec-balance -q --nodes a,b c
    vec-seal -q --set grace=600 c
    printf 'id,x,y\n' | vec-ingest -q --id-col 1 -f csv c -
    run -0 make -q out.tsv
    # a real change makes it stale
    sleep 0.01
    printf 'id,x,y\n9,1,1\n' | vec-ingest -q --id-col 1 -f csv c -
    run -1 make -q out.tsv
}

# --- every failed write to stdout is reported -----------------------------------

# writers COLL - one command per line that writes to stdout, for every tool (the dry runs too)
writers() {
    cat <<EOF2
vec-shard $1
vec-inspect $1
vec-inspect --rows 2 $1
vec-seal --dry-run --all $1
vec-balance --dry-run --nodes x,y $1
vec-query -k 1 $1 q.csv
vec-query --format jsonl -k 1 $1 q.csv
vec-ingest --help
vec-seal --help
vec-query --help
vec-inspect --help
vec-balance --help
vec-shard --help
vec-ingest --version
EOF2
    [ ! -x "$BIN_DIR/vec-query-mpi" ] || echo "vec-query-mpi --version"
}

@test "a write to a full stdout fails with one line and exit 74, in every tool" {
    coll_csv c
    printf '0.1,0.2\n' >q.csv
    local cmd
    while IFS= read -r cmd; do
        run -74 --separate-stderr bash -c "$cmd >/dev/full"
        [[ $stderr == *"${cmd%% *}: write error on standard output: No space left on device" ]] ||
            fail "$cmd >/dev/full: $stderr"
        [ "$(grep -c 'standard output' <<<"$stderr")" -eq 1 ] || fail "$cmd: more than one line: $stderr"
    done < <(writers c)
}

@test "a write to a closed stdout fails with exit 74, in every tool, and never lands in a file" {
    coll_csv c
    printf '0.1,0.2\n' >q.csv
    local before cmd
    before=$(coll_digest c)
    while IFS= read -r cmd; do
        run -74 --separate-stderr bash -c "$cmd >&-"
        assert_stderr_matches "write error on standard output: Bad file descriptor$"
    done < <(writers c)
    assert_equal "$(coll_digest c)" "$before"
    # an ingest with stdout closed: the descriptor the tool opens next is not stdout
    printf 'id,x,y\n7,1,1\n' >more.csv
    run -0 bash -c 'vec-ingest -q --id-col 1 c more.csv >&-'
    run -0 vec-inspect --verify -q c
}

@test "a tool that writes nothing to a closed stdout exits 0" {
    coll_csv c
    run -0 bash -c 'vec-seal -q c >&-'
    run -0 bash -c 'vec-balance -q --nodes a,b c >&-'
}

@test "a reader that goes away is no error: SIGPIPE as usual, quiet exit when it is ignored" {
    coll_csv c
    # the reader is gone before the tool writes
    run bash -c '{ sleep 0.3; vec-shard c; echo "status $?" >&2; } | true'
    assert_output "status 141"
    run bash -c 'trap "" PIPE; { sleep 0.3; vec-shard c; echo "status $?" >&2; } | true'
    assert_output "status 0"
}

# --- cron and locks -----------------------------------------------------------

@test "vec-seal -q meeting a running vec-seal exits 75 without a word (the cron recipe)" {
    coll_csv c
    hold_lock c/maint.lock 30
    run -75 --separate-stderr vec-seal -q c
    assert_equal "$stderr" ""
    assert_output ""
    # without -q it says why
    run -75 --separate-stderr vec-seal c
    assert_one_stderr_line
    assert_stderr_matches "^vec-seal: 'c/maint.lock': held by another process$"
    # the crontab line of vec-seal(1) and README: silent, and a success for a wrapper
    run -0 --separate-stderr bash -c 'vec-seal -q c || [ $? -eq 75 ]'
    assert_equal "$stderr" ""
}

@test "vec-seal -q from cron with nothing to seal prints nothing and exits 0" {
    coll_csv c
    run -0 --separate-stderr vec-seal -q c
    assert_equal "$stderr$output" ""
}

@test "vec-ingest --no-wait exits 75 at once when another writer holds the collection" {
    coll_csv c
    local before
    before=$(coll_digest c)
    hold_lock c/ingest.lock 30
    printf 'id,x,y\n7,1,1\n' >more.csv
    run -75 --separate-stderr timeout 10 vec-ingest --no-wait --id-col 1 c more.csv
    assert_one_stderr_line
    assert_stderr_matches "^vec-ingest: 'c/ingest.lock': held by another process$"
    assert_equal "$(coll_digest c)" "$before"
}

@test "vec-ingest says it waits for another writer (not under -q), then ingests" {
    coll_csv c
    hold_lock c/ingest.lock 30
    printf 'id,x,y\n7,1,1\n' >more.csv
    vec-ingest --id-col 1 c more.csv 2>err &
    local pid=$!
    wait_flock "$pid" c/ingest.lock waiting
    run cat err
    assert_output "vec-ingest: 'c': waiting for another writer to finish (ingest.lock)"
    kill "$LOCK_PID"
    wait "$pid"
    printf "1,1\n" >q.csv
    run -0 top_ids c q.csv
    assert_output 7
    # -q waits silently
    hold_lock c/ingest.lock 30
    printf 'id,x,y\n8,2,2\n' >more.csv
    vec-ingest -q --id-col 1 c more.csv 2>err &
    pid=$!
    wait_flock "$pid" c/ingest.lock waiting
    kill "$LOCK_PID"
    wait "$pid"
    run cat err
    assert_output ""
}

# --- one vocabulary -----------------------------------------------------------

@test "the input format is -F, --input-format in vec-ingest as in vec-query; -f and --format still work" {
    printf '1,0.1,0.2\n2,0.3,0.4\n' >rows
    run -0 vec-ingest -q -F csv --id-col 1 a - <rows
    run -0 vec-ingest -q --input-format csv --id-col 1 b - <rows
    run -0 vec-ingest -q -f csv --id-col 1 c - <rows
    run -0 vec-ingest -q --format csv --id-col 1 d - <rows
    printf '0.1,0.2\n' >q
    local want
    want=$(vec-query -q -k 2 -F csv a - <q)
    for c in b c d; do
        assert_equal "$(vec-query -q -k 2 --input-format csv "$c" - <q)" "$want"
    done
    run -64 --separate-stderr vec-ingest -F nosuch x rows
    assert_stderr_matches "^vec-ingest: unknown format 'nosuch'"
}

@test "vec-seal's index options are named after their settings; the old spellings still work, and errors name what was typed" {
    vectors rows.fvecs fvecs 300 8 1
    vec-ingest -q a rows.fvecs
    vec-ingest -q b rows.fvecs
    vec-seal -q --all --index hnsw --hnsw-m 8 --hnsw-ef-construction 40 --index-seed 3 a
    vec-seal -q --all --index hnsw --M 8 --ef-construction 40 --seed 3 b
    cmp a/s-00000001.vseg b/s-00000001.vseg
    run -64 --separate-stderr vec-seal --all --hnsw-m 1 a
    assert_stderr_matches "option '--hnsw-m': '1' is not a number from 2 to 128"
    run -64 --separate-stderr vec-seal --all --M 1 a
    assert_stderr_matches "option '--M': '1' is not a number from 2 to 128"
    run -64 --separate-stderr vec-seal --all --ivf-nlist 0 a
    assert_stderr_matches "option '--ivf-nlist': '0' is not a number"
}

@test "the partition key filter is --key in vec-query (--partition still works)" {
    printf 'id,key,x,y\n1,7,0.1,0.2\n2,8,0.1,0.21\n3,7,0.9,0.9\n' >rows.csv
    vec-ingest -q --id-col 1 --key-col 2 c rows.csv
    printf '0.1,0.2\n' >q.csv
    run -0 vec-query -q -k 3 --key 8 c q.csv
    assert_output "$(printf '0\t1\t2\t0.00999999046')"
    assert_equal "$(vec-query -q -k 3 --partition 8 c q.csv)" "$output"
    run -64 --separate-stderr vec-query --merge --key 8 p
    assert_stderr_matches "^vec-query: --key applies where the partial results are made"
}

@test "nodes: --node NAME names one node in vec-balance as in vec-query, --nodes LIST a list" {
    coll_csv c
    cp -a c d
    vec-balance -q --node x --node y c
    vec-balance -q --nodes x,y d
    assert_equal "$(vec-shard c)" "$(vec-shard d)"
    run -64 --separate-stderr vec-balance --node x --nodes y c
    assert_stderr_matches "give the nodes once"
    run -64 --separate-stderr vec-balance --node x,y c
    assert_stderr_matches "^vec-balance: --node: 'x,y' is not one node name"
}

@test "TSV is data only in every tool; --header adds the column names" {
    coll_csv c
    printf '0.1,0.2\n' >q.csv
    run -0 vec-query -q -k 1 c q.csv
    assert_output "$(printf '0\t1\t1\t0')"
    run -0 vec-query -q -k 1 --header c q.csv
    assert_output "$(printf 'query\trank\tid\tdistance\n0\t1\t1\t0')"
    run -0 vec-shard c
    [[ ${lines[0]} == 0$'\t'* ]]
    run -0 vec-shard --header c
    [[ ${lines[0]} == shard$'\t'depth* ]]
    run -0 vec-seal -q -n --all --header c
    assert_equal "${lines[0]}" $'source\tsealed\tshard\trows\tindex\taction'
    run -0 vec-balance -q -n --header --nodes x c
    assert_equal "${lines[0]}" $'segment\tfrom\tto\trows'
    run -64 vec-seal --header c
    run -64 vec-balance --header --nodes x c
    run -64 vec-query --header --format jsonl c q.csv
    run -64 vec-shard --header --format jsonl c
}

@test "-v, --verbose: a line per step in vec-ingest, vec-seal and vec-balance, the snapshot in vec-query" {
    printf 'id,x,y\n1,0.1,0.2\n' >a.csv
    printf 'id,x,y\n2,0.3,0.4\n3,0.5,0.6\n' >b.csv
    run -0 --separate-stderr vec-ingest -v --id-col 1 c a.csv b.csv
    assert_equal "$(grep -c "'.\.csv': [0-9]* rows$" <<<"$stderr")" 2
    run -0 --separate-stderr vec-seal --verbose --all c
    assert_stderr_matches "vec-seal: seal: g-00000001.log -> s-[0-9]+\.vseg, shard 0, 3 rows, index flat"
    run -0 --separate-stderr vec-balance -v --nodes x c
    assert_stderr_matches "vec-balance: moved s-[0-9]+\.vseg from - to x, 3 rows"
    printf '0.1,0.2\n' >q.csv
    run -0 --separate-stderr vec-query -v -k 1 c q.csv
    assert_stderr_matches "^vec-query: 'c': generation [0-9]+, 1 sealed and 0 growing segment\(s\), 3 rows, dim 2, l2"
}

@test "a --delete of ids with no live row commits nothing" {
    coll_csv c
    seq 1000 1010 >absent.txt
    unchanged c vec-ingest --delete c absent.txt
    assert_stderr_matches "\(0 were live\)"
    # a live id still goes: a tombstone file and a new generation
    gen=$(cat c/CURRENT)
    echo 1 | vec-ingest -q --delete c
    [ "$(cat c/CURRENT)" != "$gen" ]
    ls c/t-*.tomb >/dev/null
}
