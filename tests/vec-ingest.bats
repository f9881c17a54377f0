#!/usr/bin/env bats
# vec-ingest: creating, appending, every input format, ids, partition keys, deletes, upserts,
# and bad input that must leave the collection exactly as it was.

load test_helper

# ---- argument rejection -------------------------------------------------------------------

@test "an unknown option is a usage error" {
    run -64 --separate-stderr vec-ingest --bogus coll x.fvecs
    assert_stderr_matches "Try 'vec-ingest --help'"
    [ ! -e coll ]
}

@test "a missing collection argument is a usage error" {
    run -64 --separate-stderr vec-ingest
    assert_stderr_matches "missing COLL"
}

@test "an unknown metric is a usage error" {
    vectors a.fvecs fvecs 10
    run -64 --separate-stderr vec-ingest -m hamming coll a.fvecs
    assert_stderr_matches "unknown metric 'hamming'"
    [ ! -e coll ]
}

@test "a shard count of zero is a usage error" {
    vectors a.fvecs fvecs 10
    run -64 --separate-stderr vec-ingest --shards 0 coll a.fvecs
    assert_stderr_matches "--shards"
    [ ! -e coll ]
}

@test "an unknown input format is a usage error" {
    vectors a.fvecs fvecs 10
    run -64 --separate-stderr vec-ingest --format parquet coll a.fvecs
    assert_stderr_matches "unknown format 'parquet'"
    [ ! -e coll ]
}

@test "--ids and --id-col together are a usage error" {
    vectors a.csv csv 10 8 1 --id-col 1
    ids i.txt 0-9
    run -64 --separate-stderr vec-ingest --ids i.txt --id-col 1 coll a.csv
    assert_stderr_matches "exclude each other"
    [ ! -e coll ]
}

@test "--upsert without given ids is a usage error" {
    vectors a.fvecs fvecs 10
    run -64 --separate-stderr vec-ingest --upsert coll a.fvecs
    assert_stderr_matches "--upsert needs given ids"
    [ ! -e coll ]
}

@test "--delete with --ids is a usage error" {
    ids i.txt 0-3
    run -64 --separate-stderr vec-ingest --delete --ids i.txt coll i.txt
    assert_stderr_matches "--delete takes only id files"
}

@test "reading stdin twice is a usage error" {
    vectors a.npy npy-f4 10
    run -64 --separate-stderr vec-ingest --ids - coll - <a.npy
    assert_stderr_matches "stdin"
    [ ! -e coll ]
}

@test "raw input without --dim is a usage error" {
    vectors - raw 10 >a.f32
    run -64 --separate-stderr vec-ingest --format raw coll - <a.f32
    assert_stderr_matches "--dim"
    [ ! -e coll ]
}

@test "--help shows the usage and exits 0" {
    run -0 vec-ingest --help
    assert_line --index 0 --partial "Usage: vec-ingest"
    assert_output --partial "--delete"
}

@test "--version names the tool, library and format and exits 0" {
    run -0 vec-ingest --version
    assert_line --index 0 --regexp '^vec-ingest \(vecseg\) [0-9]+\.[0-9]+\.[0-9]+$'
    assert_line --index 1 --partial "library"
}

# ---- creating and appending -------------------------------------------------------------

@test "the first ingest creates the collection with the input's dimension" {
    vectors a.fvecs fvecs 40 12
    run -0 --separate-stderr vec-ingest coll a.fvecs
    assert_stderr_matches "^vec-ingest: 40 rows, .* into 'coll' \(created\), generation [0-9]+$"
    [ -f coll/CURRENT ]
    # 12-dimensional queries work, 8-dimensional ones do not
    assert_equal "$(top_ids coll a.fvecs)" "$(seq_ids 0 39)"
    vectors q8.fvecs fvecs 3 8
    run -65 --separate-stderr vec-query coll q8.fvecs
    assert_stderr_matches "dimension 8 does not match the collection's 12"
}

@test "a second ingest appends to the collection" {
    vectors a.fvecs fvecs 30 8 1
    vectors b.fvecs fvecs 20 8 2
    vec-ingest -q coll a.fvecs
    run -0 --separate-stderr vec-ingest coll b.fvecs
    assert_stderr_matches "^vec-ingest: 20 rows, .* into 'coll', generation [0-9]+$"
    [[ $stderr != *created* ]] || fail "appending reported a new collection: $stderr"
    assert_equal "$(top_ids coll a.fvecs)" "$(seq_ids 0 29)"
    assert_equal "$(top_ids coll b.fvecs)" "$(seq_ids 30 49)"
}

@test "several input files go into one command" {
    vectors a.fvecs fvecs 10 8 1
    vectors b.npy npy-f4 15 8 2
    run -0 --separate-stderr vec-ingest coll a.fvecs b.npy
    assert_stderr_matches "25 rows"
    assert_equal "$(top_ids coll b.npy)" "$(seq_ids 10 24)"
}

@test "--metric ip creates an inner-product collection" {
    vectors a.npy npy-f4 120 8 3
    vectors q.npy npy-f4 10 8 4
    vec-ingest -q -m ip coll a.npy
    vec-query -q -k 7 coll q.npy >r.tsv
    check_results r.tsv --metric ip -k 7 --base a.npy --queries q.npy
}

@test "--metric cosine creates a cosine collection" {
    vectors a.npy npy-f4 120 8 3
    vectors q.npy npy-f4 10 8 4
    vec-ingest -q --metric cosine coll a.npy
    vec-query -q -k 7 coll q.npy >r.tsv
    check_results r.tsv --metric cosine -k 7 --base a.npy --queries q.npy
}

@test "the metric of an existing collection is kept when appending" {
    vectors a.npy npy-f4 60 8 3
    vectors b.npy npy-f4 60 8 5
    vectors q.npy npy-f4 10 8 4
    vec-ingest -q -m cosine coll a.npy
    vec-ingest -q coll b.npy
    vec-query -q -k 5 coll q.npy >r.tsv
    check_results r.tsv --metric cosine -k 5 --base a.npy --base b.npy --queries q.npy
}

@test "--shards N spreads the rows over N shards" {
    vectors a.fvecs fvecs 200 8
    vec-ingest -q --shards 4 coll a.fvecs
    run -0 vec-seal --all --dry-run -q coll
    assert_equal "$(cut -f3 <<<"$output" | sort -u | tr '\n' ' ')" "0 1 2 3 "
    assert_equal "$(awk -F'\t' '{n += $4} END {print n}' <<<"$output")" 200
    assert_equal "$(top_ids coll a.fvecs)" "$(seq_ids 0 199)"
}

# ---- input formats ------------------------------------------------------------------------

# ingests_as_ids FILE QUERIES FIRST LAST [vec-ingest OPTIONS] - a new collection from FILE finds
# every query at distance 0 with ids FIRST..LAST.
ingests_as_ids() {
    local file=$1 q=$2 first=$3 last=$4
    shift 4
    vec-ingest -q "$@" coll "$file"
    assert_equal "$(top_ids coll "$q")" "$(seq_ids "$first" "$last")"
    run -0 vec-query -q -k 1 coll "$q"
    assert_equal "$(awk -F'\t' '$4 != 0' <<<"$output")" ""   # every distance is 0
}

@test "fvecs input is read" {
    vectors a.fvecs fvecs 25
    ingests_as_ids a.fvecs a.fvecs 0 24
}

@test "bvecs input is read as byte vectors" {
    vectors a.bvecs bvecs 25
    vectors q.npy npy-f4 25 8 1 --kind byte
    ingests_as_ids a.bvecs q.npy 0 24
}

@test "ivecs input is read as integer vectors" {
    vectors a.ivecs ivecs 25
    vectors q.npy npy-f4 25 8 1 --kind int
    ingests_as_ids a.ivecs q.npy 0 24
}

@test "npy float32 input is read" {
    vectors a.npy npy-f4 25
    ingests_as_ids a.npy a.npy 0 24
}

@test "npy float64 input is read" {
    vectors a.npy npy-f8 25
    vectors q.fvecs fvecs 25
    ingests_as_ids a.npy q.fvecs 0 24
}

@test "npy uint8 input is read" {
    vectors a.npy npy-u1 25
    vectors q.fvecs fvecs 25 8 1 --kind byte
    ingests_as_ids a.npy q.fvecs 0 24
}

@test "an HDF5 dataset is read as FILE.h5:/train" {
    ann data.h5 --n 60 --dim 8
    ingests_as_ids data.h5:/train data.h5:/train 0 59
}

@test "csv with a header and an id column is read" {
    vectors a.csv csv 25 8 1 --header --id-col 1 --id-start 500
    vectors q.npy npy-f4 25
    head -1 a.csv | grep -q '^id,v0'
    ingests_as_ids a.csv q.npy 500 524 --id-col 1
}

@test "csv without a header is read" {
    vectors a.csv csv 25
    vectors q.npy npy-f4 25
    ingests_as_ids a.csv q.npy 0 24
}

@test "tsv input is read" {
    vectors a.tsv tsv 25 8 1 --header
    vectors q.npy npy-f4 25
    ingests_as_ids a.tsv q.npy 0 24
}

@test "txt input is read" {
    vectors a.txt txt 25
    vectors q.npy npy-f4 25
    ingests_as_ids a.txt q.npy 0 24
}

@test "raw float32 on stdin is read with --format raw --dim N" {
    vectors - raw 25 6 >a.f32
    vectors q.npy npy-f4 25 6
    vec-ingest -q --format raw --dim 6 coll - <a.f32
    assert_equal "$(top_ids coll q.npy)" "$(seq_ids 0 24)"
}

@test "raw float32 is read from stdin when no file is named" {
    vectors q.npy npy-f4 25 6
    vectors - raw 25 6 | vec-ingest -q -f raw -d 6 coll
    assert_equal "$(top_ids coll q.npy)" "$(seq_ids 0 24)"
}

@test "npy on stdin is read via '-'" {
    vectors q.npy npy-f4 25
    vectors - npy-f4 25 | vec-ingest -q coll -
    assert_equal "$(top_ids coll q.npy)" "$(seq_ids 0 24)"
}

@test "csv on stdin is read via '-'" {
    vectors q.npy npy-f4 25
    vectors - csv 25 8 1 --header | vec-ingest -q coll -
    assert_equal "$(top_ids coll q.npy)" "$(seq_ids 0 24)"
}

# ---- ids ----------------------------------------------------------------------------------

@test "automatic ids increase across commands and are never reused" {
    vectors a.npy npy-f4 10 8 1
    vectors b.npy npy-f4 10 8 2
    vectors c.npy npy-f4 10 8 3
    vec-ingest -q coll a.npy
    vec-ingest -q coll b.npy
    assert_equal "$(top_ids coll a.npy)" "$(seq_ids 0 9)"
    assert_equal "$(top_ids coll b.npy)" "$(seq_ids 10 19)"
    # deleting the newest rows does not make their ids free again
    seq 10 19 | vec-ingest -q --delete coll
    vec-ingest -q coll c.npy
    assert_equal "$(top_ids coll c.npy)" "$(seq_ids 20 29)"
}

@test "a rejected ingest does not use up automatic ids" {
    vectors a.npy npy-f4 10 8 1
    vectors bad.npy npy-f4 10 8 2 --nan-row 7
    vectors c.npy npy-f4 10 8 3
    vec-ingest -q coll a.npy
    run -65 vec-ingest -q coll bad.npy
    vec-ingest -q coll c.npy
    assert_equal "$(top_ids coll c.npy)" "$(seq_ids 10 19)"
}

@test "ids are given with --ids as ivecs" {
    vectors a.npy npy-f4 10
    ids i.ivecs 100-104,200-204
    vec-ingest -q --ids i.ivecs coll a.npy
    assert_equal "$(top_ids coll a.npy)" "100 101 102 103 104 200 201 202 203 204"
}

@test "ids are given with --ids as an HDF5 dataset" {
    vectors a.npy npy-f4 10
    ids i.h5:/ids 40-49
    ingests_as_ids a.npy a.npy 40 49 --ids i.h5:/ids
}

@test "ids are given with --ids as text" {
    vectors a.npy npy-f4 10
    ids i.txt 7000-7009
    ingests_as_ids a.npy a.npy 7000 7009 --ids i.txt
}

@test "ids are given with --id-col in any column" {
    vectors a.tsv tsv 10 8 1 --id-col 9 --id-start 60
    vectors q.npy npy-f4 10
    ingests_as_ids a.tsv q.npy 60 69 --id-col 9
}

@test "automatic ids continue above the largest given id" {
    vectors a.npy npy-f4 5 8 1
    vectors b.npy npy-f4 5 8 2
    ids i.txt 1000-1004
    vec-ingest -q --ids i.txt coll a.npy
    vec-ingest -q coll b.npy
    local got
    got=$(top_ids coll b.npy)
    for id in $got; do
        [ "$id" -gt 1004 ] || fail "automatic id $id collides with the given ids 1000-1004"
    done
    assert_equal "$(tr ' ' '\n' <<<"$got" | sort -nu | wc -l)" 5
}

# ---- partition keys -------------------------------------------------------------------------

@test "partition keys from --key-col are accepted and then required" {
    vectors k.csv csv 30 8 1 --key-col 9
    vectors p.npy npy-f4 5 8 2
    vectors q.npy npy-f4 30
    vec-ingest -q --key-col 9 coll k.csv
    assert_equal "$(top_ids coll q.npy)" "$(seq_ids 0 29)"
    refuses coll 65 "^vec-ingest: 'p.npy': the collection has partition keys" vec-ingest coll p.npy
    ids keys.txt 1-5
    vec-ingest -q --keys keys.txt coll p.npy
    assert_equal "$(top_ids coll p.npy)" "$(seq_ids 30 34)"
}

@test "partition keys from --keys are accepted" {
    vectors a.npy npy-f4 20
    ids keys.npy 0-19
    run -0 vec-ingest --keys keys.npy coll a.npy
    assert_equal "$(top_ids coll a.npy)" "$(seq_ids 0 19)"
    refuses coll 65 "partition keys" vec-ingest coll a.npy
}

@test "keys are refused by a collection created without them" {
    vectors a.npy npy-f4 20
    ids keys.txt 0-19
    vec-ingest -q coll a.npy
    refuses coll 65 "^vec-ingest: 'a.npy': the collection has no partition keys" \
        vec-ingest --keys keys.txt coll a.npy
}

# ---- deletes and upserts --------------------------------------------------------------------

@test "--delete with an id file hides those ids and queries still return k results" {
    vectors a.npy npy-f4 60 8 1
    vectors q.npy npy-f4 8 8 9
    vec-ingest -q coll a.npy
    vec-query -q -k 10 coll q.npy >before.tsv
    # delete the ids that were the best answers
    awk -F'\t' '$2 <= 3 {print $3}' before.tsv | sort -nu >del.txt
    run -0 --separate-stderr vec-ingest --delete coll del.txt
    assert_stderr_matches "^vec-ingest: deleted [0-9]+ ids \([0-9]+ were live\) in 'coll'"
    vec-query -q -k 10 coll q.npy >after.tsv
    assert_equal "$(wc -l <after.tsv)" 80
    assert_equal "$(comm -12 <(result_ids after.tsv) del.txt)" ""
    check_results after.tsv -k 10 --base a.npy --exclude "$(paste -sd, del.txt)" --queries q.npy
}

@test "--delete reads ids from stdin" {
    vectors a.npy npy-f4 20
    vec-ingest -q coll a.npy
    printf '3\n4\n5\n' | vec-ingest -q --delete coll
    vec-query -q -k 20 coll a.npy >r.tsv
    assert_equal "$(result_ids r.tsv | tr '\n' ' ')" "$(seq_ids 0 2) $(seq_ids 6 19) "
    assert_equal "$(wc -l <r.tsv)" $((20 * 17))
}

@test "--delete of a missing collection exits 66 and creates nothing" {
    refuses coll 66 "^vec-ingest: 'coll'" bash -c 'echo 1 | vec-ingest --delete coll'
    [ ! -e coll ]
}

@test "--upsert replaces a row: its new vector finds the id, its old vector does not" {
    vectors old.npy npy-f4 10 8 1
    vectors new.npy npy-f4 2 8 2
    vec-ingest -q coll old.npy
    ids up.txt 3-4
    vec-ingest -q --upsert --ids up.txt coll new.npy
    assert_equal "$(top_ids coll new.npy)" "3 4"
    run -0 vec-query -q -k 1 coll old.npy
    refute_line --regexp $'^3\t1\t3\t'
    refute_line --regexp $'^4\t1\t4\t'
    # the rows equal the old file with rows 3 and 4 replaced by the new ones
    vec-query -q -k 10 coll old.npy >r.tsv
    check_results r.tsv -k 10 --base old.npy --base new.npy --ids 0-9,3-4 --skip-rows 3,4 --queries old.npy
}

@test "--upsert of a new id adds the row" {
    vectors a.npy npy-f4 5 8 1
    vectors b.npy npy-f4 1 8 2
    vec-ingest -q coll a.npy
    ids up.txt 77
    vec-ingest -q --upsert --ids up.txt coll b.npy
    assert_equal "$(top_ids coll b.npy)" "77"
    assert_equal "$(top_ids coll a.npy)" "$(seq_ids 0 4)"
}

# ---- bad input leaves the collection as it was ---------------------------------------------

setup_coll() {
    vectors base.fvecs fvecs 30 8 1
    vec-ingest -q coll base.fvecs
}

@test "a wrong dimension is refused naming the file" {
    setup_coll
    vectors d4.fvecs fvecs 5 4
    refuses coll 65 "^vec-ingest: 'd4.fvecs': row 1: dimension 4 does not match the collection's 8$" \
        vec-ingest coll d4.fvecs
}

@test "a NaN is refused naming the file and row" {
    setup_coll
    vectors nan.npy npy-f4 5 8 2 --nan-row 3
    refuses coll 65 "^vec-ingest: 'nan.npy': row 3: .*NaN" vec-ingest coll nan.npy
}

@test "an infinity is refused naming the file and row" {
    setup_coll
    vectors inf.fvecs fvecs 5 8 2 --inf-row 4
    refuses coll 65 "^vec-ingest: 'inf.fvecs': row 4: .*infinite" vec-ingest coll inf.fvecs
}

@test "an infinity in csv is refused naming the file, row and column" {
    setup_coll
    vectors inf.csv csv 5 8 2 --inf-row 3
    refuses coll 65 "^vec-ingest: 'inf.csv': row 3 .*column 8.*infinite" vec-ingest coll inf.csv
}

@test "a truncated fvecs file is refused naming the file and row" {
    setup_coll
    vectors t.fvecs fvecs 9 8 2
    truncate -s -5 t.fvecs
    refuses coll 65 "^vec-ingest: 't.fvecs': row 9: truncated" vec-ingest coll t.fvecs
}

@test "a truncated npy file is refused naming the file and row" {
    setup_coll
    vectors t.npy npy-f4 9 8 2
    truncate -s -5 t.npy
    refuses coll 65 "^vec-ingest: 't.npy': row 9: truncated" vec-ingest coll t.npy
}

@test "an unknown extension is refused naming the file" {
    setup_coll
    cp base.fvecs data.vectors
    refuses coll 65 "^vec-ingest: 'data.vectors': unknown format" vec-ingest coll data.vectors
}

@test "a missing HDF5 dataset exits 66 naming the file and dataset" {
    setup_coll
    ann data.h5 --n 10 --dim 8
    refuses coll 66 "^vec-ingest: 'data.h5': .*'/nope'" vec-ingest coll data.h5:/nope
}

@test "a missing file exits 66 naming the file" {
    setup_coll
    refuses coll 66 "^vec-ingest: 'nothere.fvecs': no such file" vec-ingest coll nothere.fvecs
}

@test "an id given twice in the input is refused naming the row" {
    setup_coll
    vectors dup.csv csv 6 8 2 --id-col 1 --id-start 1000
    sed -i '5s/^1004,/1001,/' dup.csv
    refuses coll 65 "^vec-ingest: 'dup.csv': row 5: duplicate id 1001" vec-ingest --id-col 1 coll dup.csv
}

@test "an id already in the collection is refused naming the row" {
    setup_coll
    vectors ex.npy npy-f4 5 8 2
    ids ex.txt 100,101,29,102,103
    refuses coll 65 "^vec-ingest: 'ex.npy': row 3: id 29 is already in the collection" \
        vec-ingest --ids ex.txt coll ex.npy
}

@test "a malformed csv number is refused naming the file, row and column" {
    setup_coll
    vectors bad.csv csv 6 8 2 --bad-number-row 4
    refuses coll 65 "^vec-ingest: 'bad.csv': row 4 \(line 4\), column 8: '1.2.3' is not a number$" \
        vec-ingest coll bad.csv
}

@test "a ragged csv row is refused naming the file and row" {
    setup_coll
    vectors rag.csv csv 6 8 2 --header --ragged-row 5
    refuses coll 65 "^vec-ingest: 'rag.csv': row 5 \(line 6\): 7 columns, expected 8$" vec-ingest coll rag.csv
}

@test "an ingest with given ids refuses a damaged segment file naming it" {
    setup_coll
    vec-seal -q --all coll
    local seg
    seg=$(cd coll && ls *.vseg)
    fixtures flip "coll/$seg" 12
    vectors a.npy npy-f4 3 8 2
    ids i.txt 100-102
    refuses coll 65 "^vec-ingest: .*'$seg'" vec-ingest --ids i.txt coll a.npy
}

@test "an id file shorter than the vectors is refused" {
    setup_coll
    vectors a.npy npy-f4 5 8 2
    ids short.txt 100-103
    refuses coll 65 "^vec-ingest: 'short.txt'" vec-ingest --ids short.txt coll a.npy
}

@test "a bad second file rolls back the rows of the first" {
    setup_coll
    vectors good.npy npy-f4 5 8 2
    vectors nan.npy npy-f4 5 8 3 --nan-row 2
    refuses coll 65 "^vec-ingest: 'nan.npy': row 2" vec-ingest coll good.npy nan.npy
}

@test "a failed first ingest leaves no collection directory" {
    vectors nan.npy npy-f4 5 8 1 --nan-row 5
    refuses coll 65 "^vec-ingest: 'nan.npy': row 5" vec-ingest coll nan.npy
    [ ! -e coll ]
}

@test "a failed first ingest of several files leaves no collection directory" {
    vectors good.fvecs fvecs 5 8 1
    vectors t.fvecs fvecs 5 8 2
    truncate -s -1 t.fvecs
    refuses coll 65 "^vec-ingest: 't.fvecs': row 5: truncated" vec-ingest coll good.fvecs t.fvecs
    [ ! -e coll ]
}

@test "a failed first ingest from a missing file leaves no collection directory" {
    refuses coll 66 "^vec-ingest: 'nothere.npy'" vec-ingest coll nothere.npy
    [ ! -e coll ]
}

# ---- output ---------------------------------------------------------------------------------

@test "the summary line goes to stderr and stdout stays empty" {
    vectors a.npy npy-f4 12
    run -0 --separate-stderr vec-ingest coll a.npy
    assert_output ""
    assert_one_stderr_line
    assert_stderr_matches "^vec-ingest: 12 rows, "
}

@test "--quiet prints no summary line" {
    vectors a.npy npy-f4 12
    vectors b.npy npy-f4 12 8 2
    run -0 --separate-stderr vec-ingest --quiet coll a.npy
    assert_equal "$stderr" ""
    assert_output ""
    run -0 --separate-stderr vec-ingest -q coll b.npy
    assert_equal "$stderr" ""
    echo 3 >d.txt
    run -0 --separate-stderr vec-ingest -q --delete coll d.txt
    assert_equal "$stderr" ""
}
