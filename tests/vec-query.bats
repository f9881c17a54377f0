#!/usr/bin/env bats
# vec-query: exact search against an independent brute force, output formats, recall against
# ground truth, and refusal of bad queries, damaged segments and bad options.

load test_helper

# ---- argument rejection -------------------------------------------------------------------

@test "an unknown option is a usage error" {
    run -64 --separate-stderr vec-query --bogus coll q.npy
    assert_stderr_matches "Try 'vec-query --help'"
}

@test "missing arguments are a usage error" {
    run -64 --separate-stderr vec-query coll
    assert_stderr_matches "missing COLL or QUERIES"
    run -64 --separate-stderr vec-query coll q.npy extra
    assert_stderr_matches "too many arguments"
}

@test "-k 0 and a non-numeric -k are usage errors" {
    run -64 --separate-stderr vec-query -k 0 coll q.npy
    assert_stderr_matches "'-k'"
    run -64 --separate-stderr vec-query -k ten coll q.npy
    assert_stderr_matches "'-k'"
}

@test "-j 0 and -t 0 are usage errors" {
    run -64 --separate-stderr vec-query -j 0 coll q.npy
    assert_stderr_matches "--jobs"
    run -64 --separate-stderr vec-query -t 0 coll q.npy
    assert_stderr_matches "--threads"
}

@test "an unknown output format is a usage error" {
    run -64 --separate-stderr vec-query --format xml coll q.npy
    assert_stderr_matches "unknown output format 'xml'"
}

@test "an unknown input format is a usage error" {
    run -64 --separate-stderr vec-query -F parquet coll q.npy
    assert_stderr_matches "unknown input format 'parquet'"
}

@test "--output with --format is a usage error" {
    run -64 --separate-stderr vec-query --format jsonl -o r.h5 coll q.npy
    assert_stderr_matches "exclude each other"
    [ ! -e r.h5 ]
}

@test "--help shows the usage and exits 0" {
    run -0 vec-query --help
    assert_line --index 0 --partial "Usage: vec-query"
    assert_output --partial "--truth"
}

@test "--version exits 0" {
    run -0 vec-query --version
    assert_line --index 0 --regexp '^vec-query \(vecseg\) '
}

# ---- refused searches -----------------------------------------------------------------------

@test "a missing collection exits 66 naming it" {
    vectors q.npy npy-f4 3
    run -66 --separate-stderr vec-query nothere q.npy
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'nothere'"
}

@test "a missing query file exits 66 naming it" {
    vectors a.npy npy-f4 20
    vec-ingest -q coll a.npy
    run -66 --separate-stderr vec-query coll nothere.npy
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'nothere.npy'"
}

@test "queries of the wrong dimension are refused with 65" {
    vectors a.npy npy-f4 20 8
    vectors q.npy npy-f4 3 5
    vec-ingest -q coll a.npy
    run -65 --separate-stderr vec-query coll q.npy
    assert_output ""
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'q.npy': row 1: dimension 5 does not match the collection's 8$"
}

@test "queries with a NaN are refused with 65 naming the row" {
    vectors a.npy npy-f4 20 8
    vectors q.npy npy-f4 5 8 2 --nan-row 4
    vec-ingest -q coll a.npy
    run -65 --separate-stderr vec-query coll q.npy
    assert_output ""
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'q.npy': row 4: "
}

@test "a segment file with a damaged header is refused naming the file" {
    vectors a.npy npy-f4 50 8
    vec-ingest -q coll a.npy
    vec-seal -q --all coll
    local seg
    seg=$(cd coll && ls *.vseg)
    [ -n "$seg" ]
    fixtures flip "coll/$seg" 12
    run -65 --separate-stderr vec-query coll a.npy
    assert_output ""
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: .*'$seg'"
}

@test "a segment file with a damaged magic number is refused naming the file" {
    vectors a.npy npy-f4 50 8
    vec-ingest -q coll a.npy
    vec-seal -q --all coll
    local seg
    seg=$(cd coll && ls *.vseg)
    fixtures flip "coll/$seg" 0
    run -65 --separate-stderr vec-query coll a.npy
    assert_one_stderr_line
    assert_stderr_matches "'$seg'"
}

@test "a truncated segment file is refused naming the file" {
    vectors a.npy npy-f4 50 8
    vec-ingest -q coll a.npy
    vec-seal -q --all coll
    local seg
    seg=$(cd coll && ls *.vseg)
    truncate -s -7 "coll/$seg"
    run -65 --separate-stderr vec-query coll a.npy
    assert_one_stderr_line
    assert_stderr_matches "'$seg'.*truncated"
}

@test "a damaged record in a growing segment is refused naming the file" {
    vectors a.npy npy-f4 50 8
    vec-ingest -q coll a.npy
    fixtures flip coll/g-00000001.log 100
    run -65 --separate-stderr vec-query coll a.npy
    assert_output ""
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'g-00000001\.log': .*record at offset [0-9]+ fails its checksum$"
}

# ---- exact search against brute force -------------------------------------------------------

# same_for_all_parallelism COLL QUERIES K - vec-query prints byte-identical results for every
# mix of -j and -t; leaves them in r.tsv.
same_for_all_parallelism() {
    local coll=$1 q=$2 k=$3 opts
    vec-query -q -k "$k" -j 1 -t 1 "$coll" "$q" >r.tsv
    [ -s r.tsv ] || fail "no results"
    for opts in "-j 1 -t 3" "-j 3 -t 1" "-j 3 -t 2" "-j 2" "-t 4"; do
        # shellcheck disable=SC2086
        vec-query -q -k "$k" $opts "$coll" "$q" >r2.tsv
        cmp r.tsv r2.tsv || fail "vec-query $opts differs from -j 1 -t 1"
    done
}

# brute_force_round_trip METRIC - growing-only, then sealed plus growing with deletes, each
# checked against the NumPy brute force with every -j / -t mix.
brute_force_round_trip() {
    local metric=$1
    vectors a.npy npy-f4 400 16 11
    vectors b.npy npy-f4 150 16 12
    vectors q.npy npy-f4 30 16 13
    vec-ingest -q --metric "$metric" --shards 3 coll a.npy
    same_for_all_parallelism coll q.npy 10
    check_results r.tsv --metric "$metric" -k 10 --base a.npy --queries q.npy

    vec-seal -q --all coll
    same_for_all_parallelism coll q.npy 10
    check_results r.tsv --metric "$metric" -k 10 --base a.npy --queries q.npy

    # sealed and growing segments together, deleted rows in both
    vec-ingest -q coll b.npy
    vec-query -q -k 3 coll q.npy | cut -f3 | sort -nu >del.txt
    echo 405 >>del.txt
    vec-ingest -q --delete coll del.txt
    same_for_all_parallelism coll q.npy 10
    check_results r.tsv --metric "$metric" -k 10 --base a.npy --base b.npy \
        --exclude "$(paste -sd, del.txt)" --queries q.npy
}

@test "l2 results equal brute force on growing and sealed segments for any -j and -t" {
    brute_force_round_trip l2
}

@test "ip results equal brute force on growing and sealed segments for any -j and -t" {
    brute_force_round_trip ip
}

@test "cosine results equal brute force on growing and sealed segments for any -j and -t" {
    brute_force_round_trip cosine
}

@test "a larger k equals brute force too" {
    vectors a.npy npy-f4 300 8 21
    vectors q.npy npy-f4 12 8 22
    vec-ingest -q coll a.npy
    vec-query -q -k 100 -j 3 coll q.npy >r.tsv
    check_results r.tsv -k 100 --base a.npy --queries q.npy
}

# ---- output -------------------------------------------------------------------------------

@test "TSV lines are query, rank, id, distance with queries from 0 and ranks from 1" {
    vectors a.npy npy-f4 50 8
    vectors q.npy npy-f4 4 8 2
    vec-ingest -q coll a.npy
    run -0 --separate-stderr vec-query -k 3 coll q.npy
    assert_equal "${#lines[@]}" 12
    assert_equal "$(cut -f1,2 <<<"$output" | tr '\t\n' ': ')" "0:1 0:2 0:3 1:1 1:2 1:3 2:1 2:2 2:3 3:1 3:2 3:3 "
    assert_equal "$(awk -F'\t' 'NF != 4 || $3 !~ /^[0-9]+$/ || $4 !~ /^[0-9.e+-]+$/' <<<"$output")" ""
    assert_stderr_matches "^vec-query: 4 queries, k=3, 50 rows"
}

@test "l2 distances are Euclidean, not squared" {
    printf '0,0\n3,4\n6,8\n' >a.csv
    vec-ingest -q coll a.csv
    printf '0,0\n' | vec-query -q -k 3 coll - >r.tsv
    assert_equal "$(cat r.tsv)" "$(printf '0\t1\t0\t0\n0\t2\t1\t5\n0\t3\t2\t10')"
}

@test "ip distances are the negated dot product" {
    printf '1,2\n0,1\n' >a.csv
    vec-ingest -q -m ip coll a.csv
    printf '3,4\n' | vec-query -q -k 2 coll - >r.tsv
    assert_equal "$(cat r.tsv)" "$(printf '0\t1\t0\t-11\n0\t2\t1\t-4')"
}

@test "cosine distances are one minus the cosine similarity" {
    printf '2,0\n0,5\n-1,0\n' >a.csv
    vec-ingest -q -m cosine coll a.csv
    printf '3,0\n' | vec-query -q -k 3 coll - >r.tsv
    assert_equal "$(cat r.tsv)" "$(printf '0\t1\t0\t0\n0\t2\t1\t1\n0\t3\t2\t2')"
}

@test "--format jsonl writes one JSON object per query that equals the TSV" {
    vectors a.npy npy-f4 80 8
    vectors q.npy npy-f4 6 8 2
    vec-ingest -q coll a.npy
    vec-query -q -k 5 coll q.npy >r.tsv
    vec-query -q -k 5 --format jsonl coll q.npy >r.jsonl
    assert_equal "$(wc -l <r.jsonl)" 6
    run -0 "$PY" -c '
import json, sys
rows = [json.loads(l) for l in open("r.jsonl")]
for i, o in enumerate(rows):
    assert o["query"] == i and len(o["ids"]) == 5 and len(o["distances"]) == 5, o
    for j, (n, d) in enumerate(zip(o["ids"], o["distances"])):
        print("%d\t%d\t%d\t%.9g" % (i, j + 1, n, d))
'
    assert_equal "$output" "$(cat r.tsv)"
    check_results r.jsonl -k 5 --base a.npy --queries q.npy
}

@test "--output writes neighbors and distances datasets of shape (nq, k)" {
    vectors a.npy npy-f4 80 8
    vectors q.npy npy-f4 6 8 2
    vec-ingest -q coll a.npy
    run -0 --separate-stderr vec-query -k 7 -o out.h5 coll q.npy
    assert_output ""
    run -0 "$PY" -c '
import h5py
f = h5py.File("out.h5", "r")
print(sorted(f.keys()), f["neighbors"].shape, f["distances"].shape)
'
    assert_output "['distances', 'neighbors', 'times'] (6, 7) (6, 7)"
    check_results out.h5 -k 7 --base a.npy --queries q.npy
}

@test "--output marks missing hits with -1 when k exceeds the rows" {
    vectors a.npy npy-f4 4 8
    vec-ingest -q coll a.npy
    vec-query -q -k 6 -o out.h5 coll a.npy
    run -0 "$PY" -c '
import h5py, numpy as np
f = h5py.File("out.h5", "r")
n, d = f["neighbors"][:], f["distances"][:]
print(n.shape, (n[:, 4:] == -1).all(), np.isinf(d[:, 4:]).all(), sorted(n[0, :4]))
'
    assert_output "(4, 6) True True [0, 1, 2, 3]"
}

@test "--truth prints recall@10 1.0000 for exact search" {
    ann data.h5 --n 500 --nq 20 --dim 16 --k 10
    vec-ingest -q coll data.h5:/train
    run -0 --separate-stderr vec-query -q -k 10 --truth data.h5:/neighbors coll data.h5:/test
    assert_equal "$stderr" "recall@10 1.0000"
    assert_equal "${#lines[@]}" 200
    # the same with the results written to a file, and for cosine
    run -0 --separate-stderr vec-query -q -k 10 -o out.h5 --truth data.h5:/neighbors coll data.h5:/test
    assert_equal "$stderr" "recall@10 1.0000"
    check_results out.h5 -k 10 --base data.h5:/train --queries data.h5:/test
}

@test "--truth prints recall@10 1.0000 for exact cosine search" {
    ann data.h5 --n 300 --nq 10 --dim 8 --k 10 --metric cosine
    vec-ingest -q -m cosine coll data.h5:/train
    vec-seal -q --all coll
    run -0 --separate-stderr vec-query -k 10 --truth data.h5:/neighbors coll data.h5:/test
    assert_line --index 0 --regexp $'^0\t1\t'
    assert_stderr_matches "(^|"$'\n'")recall@10 1.0000("$'\n'"|$)"
}

@test "--truth with too few neighbours per query is refused" {
    ann data.h5 --n 100 --nq 5 --dim 8 --k 5
    vec-ingest -q coll data.h5:/train
    run -65 --separate-stderr vec-query -q -k 10 --truth data.h5:/neighbors coll data.h5:/test
    assert_one_stderr_line
    assert_stderr_matches "^vec-query: 'data.h5:/neighbors'"
}

@test "-k larger than the row count returns every row" {
    vectors a.npy npy-f4 7 8
    vectors q.npy npy-f4 3 8 2
    vec-ingest -q coll a.npy
    vec-query -q -k 50 coll q.npy >r.tsv
    assert_equal "$(wc -l <r.tsv)" 21
    assert_equal "$(awk -F'\t' '$1 == 1 {print $2}' r.tsv | tr '\n' ' ')" "1 2 3 4 5 6 7 "
    assert_equal "$(awk -F'\t' '$1 == 2 {print $3}' r.tsv | sort -n | tr '\n' ' ')" "0 1 2 3 4 5 6 "
    check_results r.tsv -k 50 --base a.npy --queries q.npy
}

@test "-k larger than the live rows returns only live rows" {
    vectors a.npy npy-f4 10 8
    vec-ingest -q coll a.npy
    vec-seal -q --all coll
    printf '2\n7\n' | vec-ingest -q --delete coll
    vec-query -q -k 50 -j 3 coll a.npy >r.tsv
    assert_equal "$(wc -l <r.tsv)" 80
    assert_equal "$(result_ids r.tsv | tr '\n' ' ')" "0 1 3 4 5 6 8 9 "
}

@test "queries are read from stdin as csv" {
    vectors a.npy npy-f4 30 4
    vec-ingest -q coll a.npy
    vectors - csv 30 4 | vec-query -q -k 1 coll - >r.tsv
    assert_equal "$(cut -f3 r.tsv | tr '\n' ' ')" "$(seq_ids 0 29) "
}

@test "raw queries on stdin take the collection's dimension" {
    vectors a.npy npy-f4 30 4
    vec-ingest -q coll a.npy
    vectors - raw 30 4 | vec-query -q -k 1 -F raw coll - >r.tsv
    assert_equal "$(cut -f3 r.tsv | tr '\n' ' ')" "$(seq_ids 0 29) "
}

@test "--quiet prints no summary line" {
    vectors a.npy npy-f4 30 4
    vec-ingest -q coll a.npy
    run -0 --separate-stderr vec-query --quiet coll a.npy
    assert_equal "$stderr" ""
    assert_equal "${#lines[@]}" 300
}

@test "segments that disagree with their manifest line are refused naming the file" {
    vectors a.npy npy-f4 50 8
    vec-ingest -q coll a.npy
    vec-seal -q --all coll
    vectors b.npy npy-f4 30 8 2
    vec-ingest -q coll b.npy
    cp -r coll good
    # a manifest dim above the files': their rows no longer fit the committed bytes
    edit_manifest coll 's/^dim 8$/dim 16/'
    vectors q.npy npy-f4 2 16 3
    refuses coll 65 "^vec-query: 'manifest-[0-9]+': '[gs]-[0-9]+\.(log|vseg)': [0-9]+ rows cannot fit in [0-9]+ bytes$" \
        vec-query coll q.npy
    # below the files': the rows fit, and the file's header gives it away
    rm -rf coll && cp -r good coll
    edit_manifest coll 's/^dim 8$/dim 4/'
    vectors q.npy npy-f4 2 4 3
    refuses coll 65 "^vec-query: '[gs]-[0-9]+\.(log|vseg)': dim is 8 in the file but 4 in the manifest$" \
        vec-query coll q.npy
    rm -rf coll && cp -r good coll
    edit_manifest coll 's/^\(growing [^ ]*\) shard=0/\1 shard=5/'
    refuses coll 65 "^vec-query: 'manifest-[0-9]+': 'g-[0-9]+\.log' belongs to shard 5, which is not listed$" \
        vec-query coll a.npy
    rm -rf coll && cp -r good coll
    edit_manifest coll 's/^\(growing .*\) rows=30/\1 rows=29/'
    refuses coll 65 "^vec-query: 'g-[0-9]+\.log': the row count is 30 in the file but 29 in the manifest$" \
        vec-query coll a.npy
}

@test "-o naming a FIFO or a device is refused, and the FIFO stays (a rename would replace it)" {
    vectors v.fvecs fvecs 20 4 1
    vectors q.fvecs fvecs 2 4 2
    vec-ingest -q c v.fvecs
    mkfifo f
    run -64 vec-query -q -o f c q.fvecs
    assert_output --partial "'f': not a regular file"
    [ -p f ] || fail "the FIFO was replaced"
}
