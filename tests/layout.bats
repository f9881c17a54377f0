#!/usr/bin/env bats
# Seeing the layout (index and node of every segment, a per-node load view, sizes for people
# on a terminal) and progress lines on a terminal (issue 11, "Habits of the field").

load test_helper

# on_tty CMD - runs CMD (a shell string) with stdin, stdout and stderr on a pseudo-terminal
# (util-linux script); what the terminal showed is in $output.
on_tty() {
    command -v script >/dev/null || skip "script (util-linux) is not installed"
    run script -qec "$1" /dev/null
}

# coll_hnsw C ROWS - a collection of ROWS rows of dimension 8, sealed with HNSW M=8.
coll_hnsw() {
    vectors v.fvecs fvecs "$2" 8 1
    vec-ingest -q "$1" v.fvecs
    vec-seal -q --all --index hnsw --hnsw-m 8 "$1"
}

@test "vec-inspect COLL names each segment's index, its parameters and its node" {
    coll_hnsw c 300
    vec-ingest -q c v.fvecs # a growing segment too
    run -0 vec-inspect c
    assert_line --regexp '^sealed s-[0-9]+\.vseg shard=0 rows=300 bytes=[0-9]+ node=- index=hnsw .*M=8 '
    assert_line --regexp '^growing g-[0-9]+\.log shard=0 rows=300 start=[0-9]+ length=[0-9]+ node=- index=flat$'
    # one key once: the index's own rows= is left out of the segment's line
    run -0 bash -c "vec-inspect c | grep '^sealed' | grep -o ' rows=' | wc -l"
    assert_output 1
    vec-balance -q --nodes a c
    run -0 vec-inspect c
    assert_line --regexp '^sealed .* node=a index=hnsw '
    assert_line --regexp '^growing .* node=a index=flat$'
}

@test "sizes are exact bytes on a pipe and KiB on a terminal" {
    coll_hnsw c 300
    bytes=$(vec-inspect c | sed -n 's/^sealed .* bytes=\([0-9]*\) .*/\1/p')
    [ "$bytes" -gt 1024 ]
    on_tty "vec-inspect c"
    assert_success
    assert_line --regexp '^sealed .* bytes=[0-9]+\.[0-9]KiB node='
    run -0 vec-shard c
    assert_output --regexp $'^0\t0\t0\t-\t300\t0\t0\t1\t[0-9]+\t-\thnsw:1$'
    on_tty "vec-shard c"
    assert_output --regexp $'\t[0-9]+\\.[0-9]KiB\t-\thnsw:1'
}

@test "vec-shard lists the index types of each shard at the end, in TSV and JSON lines" {
    coll_hnsw c 300
    vec-ingest -q c v.fvecs
    vec-seal -q --all --index flat c # compacts nothing HNSW: rebuilds the two as one flat
    run -0 vec-shard --header c
    assert_equal "${lines[0]}" $'shard\tdepth\tvalue\tkey\trows\tdeleted\tgrowing\tsealed\tbytes\tnodes\tindexes'
    [[ ${lines[1]} == *$'\tflat:'* ]]
    [ "$(awk -F'\t' '{ print NF }' <<<"${lines[1]}")" -eq 11 ]
    run -0 vec-shard --format jsonl c
    run -0 "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["indexes"])' "$output"
    assert_output --regexp '^flat:[0-9]+$'
}

@test "vec-inspect --nodes shows rows, bytes and cost per node as a bar chart" {
    coll_hnsw c 600
    vec-ingest -q c v.fvecs
    run -0 vec-inspect --nodes c
    assert_output --regexp $'^-\t2\t1200\t[0-9]+\t[0-9]+\t#{40}$'
    vec-balance -q --nodes a,b,c c
    run -0 vec-inspect --nodes c
    [ "${#lines[@]}" -eq 3 ]
    # every row once, on the three nodes; the busiest has the 40-wide bar
    [ "$(cut -f3 <<<"$output" | paste -sd+ | bc)" -eq 1200 ]
    assert_output --regexp $'\t#{40}(\n|$)'
    assert_equal "$(cut -f1 <<<"$output" | paste -sd,)" a,b,c
    run -0 vec-inspect --nodes -q c
    assert_output ''
    run -64 vec-inspect --nodes --verify c
    run -64 vec-inspect --nodes c/CURRENT
}

@test "vec-seal shows progress on a terminal, none when stderr is a file, same result" {
    vectors v.fvecs fvecs 400 8 1
    vec-ingest -q c v.fvecs
    vec-ingest -q d v.fvecs
    on_tty "vec-seal --all c"
    assert_success
    assert_output --regexp $'\r''vec-seal: sealing 400/400 rows \(100%\), [0-9]+ rows/s'
    vec-seal --all d 2>err
    run -0 cat err
    refute_output --partial 'rows/s'
    refute_output --partial $'\r'
    assert_equal "$(vec-shard c)" "$(vec-shard d)"
    vectors q.fvecs fvecs 5 8 2
    assert_equal "$(vec-query -q -k 3 c q.fvecs)" "$(vec-query -q -k 3 d q.fvecs)"
}

@test "-q silences progress on a terminal too" {
    vectors v.fvecs fvecs 400 8 1
    vec-ingest -q c v.fvecs
    on_tty "vec-seal -q --all c"
    assert_success
    assert_output ''
}

@test "vec-shard and vec-balance show progress on a terminal only" {
    coll_hnsw c 600
    seq 0 9 | vec-ingest -q --delete c # purged by the split: progress still reaches the total
    cp -r c d
    on_tty "vec-shard --shards 3 c"
    assert_success
    assert_output --regexp 'vec-shard: splitting 600/600 rows \(100%\)'
    vec-shard --shards 3 d 2>err
    run -0 cat err
    refute_output --partial 'splitting'
    assert_equal "$(vec-shard c)" "$(vec-shard d)"
    # one sealed segment per shard over three nodes: one is cut and rewritten
    on_tty "vec-balance --nodes a,b,c c"
    assert_success
    assert_output --regexp 'vec-balance: rewriting cut segments [0-9]+/[0-9]+ rows \(100%\)'
    vec-balance --nodes a,b,c d 2>err
    run -0 cat err
    refute_output --partial 'rewriting'
    assert_equal "$(vec-inspect --nodes c)" "$(vec-inspect --nodes d)"
}

@test "a large vec-query shows progress on a terminal; the answers are the same" {
    coll_hnsw c 200
    vectors q.fvecs fvecs 1500 8 3
    vec-query -k 3 c q.fvecs >file.tsv 2>err
    run -0 cat err
    refute_output --partial 'searching'
    on_tty "vec-query -k 3 c q.fvecs >tty.tsv"
    assert_success
    assert_output --regexp 'vec-query: searching 1500/1500 queries \(100%\), [0-9]+ queries/s'
    cmp file.tsv tty.tsv
    [ "$(wc -l <tty.tsv)" -eq 4500 ]
}

@test "a sealed segment's bytes line is exact on a pipe, KiB on a terminal" {
    coll_hnsw c 300
    seg=$(ls c/s-*.vseg | head -1)
    run -0 vec-inspect "$seg"
    assert_line "bytes $(stat -c %s "$seg")"
    on_tty "vec-inspect $seg"
    assert_line --regexp '^bytes [0-9]+\.[0-9]KiB'
}

@test "vec-ingest shows progress with percent and ETA on a terminal when the rows are known up front" {
    vectors v.fvecs fvecs 5000 8 1
    on_tty "vec-ingest c v.fvecs"
    assert_success
    assert_output --partial "v.fvecs 5000/5000 rows (100%)"
    rm -rf c
    vec-ingest c v.fvecs 2>err
    run grep -c '%' err
    assert_output 0
}
