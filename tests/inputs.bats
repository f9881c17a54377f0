#!/usr/bin/env bats
# inputs.bats - inputs are never misread and JSON written is always valid (issue 11): JSON lines
# in and out, every npy array of a stream, npy float16/int8/Fortran order, the metric an
# ann-benchmarks file declares, query ids carried to the output, and empty input as a no-op.

load test_helper

# py CODE [ARGS...] - Debian's python3 (numpy, h5py) on CODE.
py() {
    "$PY" -c "$@"
}

# --- JSON lines ------------------------------------------------------------------------------

@test "a JSON line on stdin is read as JSON, not taken for a CSV header" {
    printf '{"id":1,"vector":[0.1,0.2]}\n' | vec-ingest -q cj
    run -0 vec-inspect cj
    assert_output --regexp 'dim[[:space:]]+2'
    run -0 vec-query -q -k 1 cj - <<<'0.1,0.2'
    assert_output $'0\t1\t1\t0'
}

@test "a JSON line given as csv or txt is refused, never skipped as a header" {
    for f in csv txt; do
        run -65 --separate-stderr vec-ingest -f $f cj - <<<'{"id":1,"vector":[0.1,0.2]}'
        assert_equal "$stderr" "vec-ingest: stdin: line 1 is JSON, not $f (use --input-format jsonl)"
    done
    [ ! -e cj ]
}

@test "JSON lines carry ids, keys and vectors; a bare array is a vector" {
    printf '%s\n' '{"id":10,"key":1,"vector":[1,0,0]}' '{"vector":[0,1,0],"id":11,"key":2,"note":"x"}' \
        '' '{"id":12,"key":1,"vector":[0,0,1]}' >rows.jsonl
    vec-ingest -q ck rows.jsonl
    run -0 vec-query -q -k 3 --partition 1 ck - <<<'[0,0,1]'
    assert_output $'0\t1\t12\t0\n0\t2\t10\t1.41421354'
    printf '[1,2]\n[3,4]\n' | vec-ingest -q ca
    run -0 vec-query -q -k 1 ca - <<<'[3,4]'
    assert_output $'0\t1\t1\t0'
}

@test "a bad JSON line is refused naming its line, and the collection is unchanged" {
    printf '1,2\n' | vec-ingest -q c
    before=$(coll_digest c)
    refuse() {
        run -65 --separate-stderr vec-ingest c
        assert_equal "$stderr" "vec-ingest: stdin: $1"
    }
    printf '{"id":1,"vector":[1,2]}\n\n{"vector":[1,2]}\n' | refuse 'row 2 (line 3): no "id" (the first row has one)'
    printf '{"vector":[1,2]}\n{"vector":[1,"x"]}\n' | refuse 'row 2 (line 2): value 2 is a string, not a number'
    printf '{"vector":[1,2]}\n{"vector":[1,2]} x\n' | refuse "row 2 (line 2): not JSON: end of file expected near 'x' (column 18)"
    printf '{"id":-1,"vector":[1,2]}\n' | refuse 'row 1 (line 1): "id" is a number (-1), not a non-negative integer'
    printf '{"id":1,"vector":[1,2],"vector":[3,4]}\n' | refuse "row 1 (line 1): not JSON: duplicate object key near '\"vector\"' (column 31)"
    printf '{"vector":[1,2]}\n{"vector":[1,NaN]}\n' | run -65 vec-ingest c
    assert_equal "$(coll_digest c)" "$before"
}

@test "--delete reads JSON lines of ids" {
    printf '{"id":%d,"vector":[%d,0]}\n' 1 1 2 2 3 3 | vec-ingest -q c
    printf '{"id":1}\n{"id":3}\n' | vec-ingest -q --delete c
    run -0 vec-query -q -k 5 c - <<<'[0,0]'
    assert_output $'0\t1\t2\t2'
}

@test "JSON lines out are valid JSON whatever a node name holds" {
    printf '1,2\n3,4\n' | vec-ingest -q c
    vec-seal -q --all c
    vec-balance -q --nodes 'a"b\c' c
    run -0 vec-shard --format jsonl c
    run -0 py 'import json,sys; print(json.loads(sys.argv[1])["nodes"])' "$output"
    assert_output 'a"b\c'
    run -0 vec-query -q -k 2 --format jsonl c - <<<'[1,2]'
    run -0 py 'import json,sys; o = json.loads(sys.argv[1]); print(o["query"], o["ids"], o["distances"])' "$output"
    assert_output '0 [0, 1] [0.0, 2.82842708]'
}

# --- npy streams and dtypes --------------------------------------------------------------------

@test "three npy arrays concatenated on a pipe are all read" {
    py 'import numpy as np, sys
for i in range(3): np.save(sys.stdout.buffer, np.full((10, 4), i, "<f4"))' | vec-ingest -q c
    run -0 vec-query -q -k 30 c - <<<'0,0,0,0'
    assert_equal "${#lines[@]}" 30
}

@test "bytes after an npy array that are not another array are refused" {
    py 'import numpy as np, sys
np.save(sys.stdout.buffer, np.ones((10, 4), "<f4")); sys.stdout.buffer.write(b"junk")' >junk.npy
    run -65 --separate-stderr vec-ingest c junk.npy
    assert_equal "$stderr" "vec-ingest: 'junk.npy': trailing bytes after npy array 1 (row 10), not another array"
    [ ! -e c ]
    py 'import numpy as np, sys
np.save(sys.stdout.buffer, np.ones((10, 4), "<f4")); np.save(sys.stdout.buffer, np.ones((2, 3), "<f4"))' >dims.npy
    run -65 --separate-stderr vec-ingest c - <dims.npy
    assert_equal "$stderr" "vec-ingest: stdin: npy array 2 (row 11): dim 3, expected 4"
}

@test "npy float16, int8, uint8 and Fortran order are read as their values" {
    py 'import numpy as np
a = np.arange(24, dtype="<f4").reshape(6, 4) - 12
np.save("f4.npy", a)
np.save("f2.npy", a.astype("<f2"))
np.save("i1.npy", a.astype("i1"))
np.save("u1.npy", (a + 12).astype("u1"))
np.save("fort.npy", np.asfortranarray(a))'
    vec-ingest -q base f4.npy
    want=$(vec-query -q -k 6 base f4.npy)
    for f in f2 i1 fort; do
        run -0 vec-query -q -k 6 base $f.npy
        assert_equal "$output" "$want"
    done
    vec-ingest -q fortcoll fort.npy
    run -0 vec-query -q -k 6 fortcoll f4.npy
    assert_equal "$output" "$want"
    run -0 vec-query -q -k 1 base - <<<'-12,-11,-10,-9'
    assert_output $'0\t1\t0\t0'
    run -0 vec-query -q -k 1 -o r.h5 base u1.npy
}

# --- metrics declared by the input ---------------------------------------------------------

@test "an angular ann-benchmarks file makes a cosine collection; a contradiction is refused" {
    ann data.h5 --n 200 --nq 10 --dim 8 --k 10 --metric cosine
    vec-ingest -q c data.h5:/train
    run -0 vec-inspect c
    assert_output --regexp 'metric[[:space:]]+cosine'
    run -0 --separate-stderr vec-query -k 10 --truth data.h5:/neighbors c data.h5:/test
    [[ "$stderr" == *"recall@10 1.0000"* ]]
    run -65 --separate-stderr vec-ingest -m l2 c2 data.h5:/train
    assert_equal "$stderr" "vec-ingest: 'data.h5:/train': distance 'angular' is cosine, but -m is l2"
    [ ! -e c2 ]
    ann l2.h5 --n 200 --nq 10 --dim 8 --k 10
    before=$(coll_digest c)
    run -65 --separate-stderr vec-ingest c l2.h5:/train
    assert_equal "$stderr" "vec-ingest: 'l2.h5:/train': distance 'euclidean' is l2, but the collection 'c' is cosine"
    assert_equal "$(coll_digest c)" "$before"
    # a later input of the same command is held to the metric the first one chose
    vectors plain.npy npy-f4 5 8
    run -65 --separate-stderr vec-ingest c3 plain.npy data.h5:/train
    assert_equal "$stderr" "vec-ingest: 'data.h5:/train': distance 'angular' is cosine, but the collection 'c3' is l2"
    [ ! -e c3 ]
}

@test "--truth refuses a truth file of another metric than the collection's" {
    ann data.h5 --n 200 --nq 10 --dim 8 --k 10 --metric cosine
    py 'import h5py, numpy as np; np.save("train.npy", np.asarray(h5py.File("data.h5")["train"]))'
    vec-ingest -q c train.npy
    run -65 --separate-stderr vec-query -q -k 10 --truth data.h5:/neighbors c data.h5:/test
    assert_equal "$stderr" "vec-query: 'data.h5:/neighbors': distance 'angular' is cosine, but the collection is l2: recall would compare across metrics"
}

# --- query ids --------------------------------------------------------------------------------

@test "queries carry ids the output repeats: text, JSON lines, and --ids beside HDF5" {
    printf '{"id":%d,"vector":[%d,0]}\n' 1 1 2 2 3 3 | vec-ingest -q c
    run -0 vec-query -q -k 1 --id-col 1 c - <<<$'qid,x,y\n700,3,0\n701,1,0'
    assert_output $'700\t1\t3\t0\n701\t1\t1\t0'
    run -0 vec-query -q -k 1 c - <<<$'{"id":42,"vector":[2,0]}'
    assert_output $'42\t1\t2\t0'
    run -0 vec-query -q -k 1 --format jsonl c - <<<$'{"id":42,"vector":[2,0]}'
    assert_output '{"query":42,"ids":[2],"distances":[0.0]}'
    py 'import h5py, numpy as np
with h5py.File("q.h5", "w") as f:
    f["test"] = np.array([[1, 0], [3, 0]], "<f4"); f["qid"] = np.array([5, 9], "<i8")'
    run -0 vec-query -q -k 1 --ids q.h5:/qid c q.h5:/test
    assert_output $'5\t1\t1\t0\n9\t1\t3\t0'
    run -65 --separate-stderr vec-query -q -k 1 --ids q.h5:/qid c - <<<'[1,0]'
    assert_equal "$stderr" "vec-query: 'q.h5:/qid': 2 rows of 1 values, expected 1 ids (one per query)"
    # without ids, queries are numbered from 0 as before
    run -0 vec-query -q -k 1 c - <<<$'[1,0]\n[3,0]'
    assert_output $'0\t1\t1\t0\n1\t1\t3\t0'
}

# --- empty input --------------------------------------------------------------------------------

@test "empty input adds nothing, commits nothing and exits 0" {
    printf '1,2\n' | vec-ingest -q c
    before=$(coll_digest c)
    run -0 --separate-stderr vec-ingest c </dev/null
    assert_equal "$stderr" "vec-ingest: no rows in stdin: 'c' unchanged"
    run -0 --separate-stderr vec-ingest --delete c </dev/null
    assert_equal "$stderr" "vec-ingest: no ids in the input: 'c' unchanged"
    run -0 vec-ingest -q c </dev/null
    assert_output ""
    assert_equal "$(coll_digest c)" "$before"
}

@test "empty input into a new collection creates nothing and exits 0; --delete needs the collection" {
    run -0 --separate-stderr vec-ingest new </dev/null
    assert_equal "$stderr" "vec-ingest: no rows in stdin: 'new' not created"
    [ ! -e new ]
    run -66 vec-ingest --delete new </dev/null
    [ ! -e new ]
    run -0 --separate-stderr vec-ingest new - <<<'x,y'
    assert_equal "$stderr" "vec-ingest: no rows in the input: 'new' not created"
    [ ! -e new ]
    # an empty first input: the dimension comes from the first with rows
    : >empty.csv
    printf '1,2,3\n' >one.csv
    run -0 --separate-stderr vec-ingest new empty.csv one.csv empty.csv
    [[ "$stderr" == *"1 rows"*"(created)"* ]]
    run -0 --separate-stderr vec-ingest new2 empty.csv empty.csv
    assert_equal "$stderr" "vec-ingest: no rows in the input: 'new2' not created"
    [ ! -e new2 ]
}

@test "a pipe by name (a FIFO, bash's <(...)) is sniffed like stdin; a file of unknown extension is not guessed" {
    printf '1,0.5,0.5\n2,0.1,0.2\n' >rows.csv
    vec-ingest -q --id-col 1 c rows.csv
    run -0 bash -c "vec-query -q -k 1 c <(printf '0.5,0.5\n')"
    assert_output "$(printf '0\t1\t1\t0')"
    mkfifo f
    printf '{"id":3,"vector":[1,1]}\n' >f &
    run -0 vec-ingest -q c f
    wait
    printf '0.5,0.5\n' >q.foo
    run -65 vec-query -q -k 1 c q.foo
    assert_output "vec-query: 'q.foo': unknown format (use --input-format)"
}
