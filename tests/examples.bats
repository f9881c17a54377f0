#!/usr/bin/env bats
# examples.bats - what a user copies from the README and examples/: the -o results file that
# ann-benchmarks' plotting reads, the Makefile pipeline, the crontab and the jq pipeline.

load test_helper

# The attributes and datasets ann-benchmarks' runner.py writes (store_results) and its plotting
# (plot.py, metrics.py via compute_metrics) reads, with the Python types h5py gives them there.
@test "vec-query -o writes what an ann-benchmarks results file carries, as h5py reads it" {
    ann a.h5 --n 300 --nq 12 --dim 8 --k 10
    vec-ingest -q c a.h5:/train
    vec-seal -q -a c
    vec-query -q -k 10 -o r.h5 c a.h5:/test
    run "$PY" - r.h5 a.h5 <<'PY'
import sys, h5py, numpy as np
f, a = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
p = dict(f.attrs)
want = {"algo": str, "name": str, "dataset": str, "distance": str, "count": np.integer, "run_count": np.integer,
        "build_time": np.floating, "index_size": np.floating, "best_search_time": np.floating,
        "candidates": np.floating, "batch_mode": np.bool_, "expect_extra": np.bool_}
for k, t in want.items():
    assert k in p, "no attribute " + k
    assert isinstance(p[k], t), "%s is %r" % (k, type(p[k]))
assert p["algo"] == "vecseg" and p["distance"] == "euclidean" and p["count"] == 10, p
assert p["dataset"] == "a", p  # ann-benchmarks names a data set after its file
assert p["batch_mode"] and not p["expect_extra"] and p["run_count"] == 1, p
assert p["best_search_time"] > 0 and p["index_size"] > 0, p
nq = a["test"].shape[0]
assert f["neighbors"].shape == (nq, 10) and f["neighbors"].dtype.kind == "i"
assert f["distances"].shape == (nq, 10) and f["distances"].dtype == np.float32
assert f["times"].shape == (nq,) and f["times"].dtype == np.float32
assert np.allclose(f["times"][:], p["best_search_time"])
# ann-benchmarks' knn recall: a result counts when within the true k-th distance (+1e-3)
d, t = f["distances"][:], a["distances"][:, :10]
assert ((d <= t[:, -1:] + 1e-3).sum(axis=1) / 10.0).mean() == 1.0
print("ok", 1.0 / p["best_search_time"], "queries/s")
PY
    assert_success
    assert_output --partial "ok "
}

@test "vec-query-mpi -o and vec-query --merge -o carry the same attributes; merge's times are 0" {
    ann a.h5 --n 200 --nq 6 --dim 8 --k 5
    vec-ingest -q c a.h5:/train
    vec-query -q -k 5 --share 0/1 --partial p0 c a.h5:/test
    vec-query -q -k 5 --merge -o merged.h5 p0
    files=(merged.h5)
    if command -v mpirun >/dev/null && [ -x "$BIN_DIR/vec-query-mpi" ]; then
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            mpirun --oversubscribe -np 2 vec-query-mpi -q -k 5 -o mpi.h5 c a.h5:/test
        files+=(mpi.h5)
    fi
    run -0 "$PY" - "${files[@]}" <<'PY'
import sys, h5py
for fn in sys.argv[1:]:
    f = h5py.File(fn, "r")
    p = dict(f.attrs)
    assert {"algo", "name", "dataset", "distance", "count", "run_count", "build_time", "index_size",
            "best_search_time", "candidates", "batch_mode", "expect_extra"} <= set(p), (fn, p)
    assert f["times"].shape == (6,) and p["count"] == 5, fn
    assert (p["best_search_time"] == 0) == (fn == "merged.h5"), (fn, p)
print("ok")
PY
    assert_output ok
}

REPO="$(cd "$TESTS_DIR/.." && pwd)"

# pmake ARGS... - make in the copy of the pipeline, as a user runs it: not as a sub-make of the
# make check running this suite (no jobserver, no "Entering directory" lines)
pmake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C p DATA=../data "$@"
}

# A copy of examples/pipeline and of datasets/tiny, so the test may touch inputs.
pipeline_copy() {
    cp -r "$REPO/examples/pipeline" p
    cp -r "$REPO/datasets/tiny" data
}

@test "examples/pipeline: make builds the recall report; a second make does nothing" {
    pipeline_copy
    run -0 pmake
    assert_line --partial "vec-ingest -q coll"
    assert_line --partial "vec-balance -q --nodes-file nodes.txt coll"
    assert_equal "$(cat p/recall.txt)" "recall@10 1.0000"
    assert_equal "$(wc -l <p/results.tsv)" 100
    run -0 vec-shard --format jsonl p/coll
    assert_output --partial node-a
    assert_output --partial node-b
    before=$(stat -c '%i %Y %s' p/coll/CURRENT p/results.tsv p/recall.txt)
    sleep 1.1   # a rerun within the same second could hide a rewrite from %Y
    run -0 pmake
    assert_output --partial "Nothing to be done for 'all'"
    refute_output --partial vec-
    assert_equal "$(stat -c '%i %Y %s' p/coll/CURRENT p/results.tsv p/recall.txt)" "$before"
    run -0 pmake -q   # make -q: 0 when everything is up to date
}

@test "examples/pipeline: new queries rerun the queries only; new nodes rebuild the collection" {
    pipeline_copy
    pmake -s
    sleep 1.1
    touch data/tiny-queries.fvecs
    run -0 pmake
    assert_line --partial "vec-query -q -k 10 coll"
    refute_output --partial vec-ingest
    refute_output --partial vec-balance
    echo node-c >>p/nodes.txt
    run -0 pmake
    assert_line --partial "vec-ingest -q coll"
    run -0 vec-shard --format jsonl p/coll
    assert_output --partial node-c
}

@test "examples/pipeline: a recall below MIN_RECALL fails the build and leaves no report" {
    pipeline_copy
    run pmake MIN_RECALL=1.5
    assert_failure
    assert_output --partial "recall@10 1.0000"
    [ ! -e p/recall.txt ]
}

# The crontab's jobs as cron runs them: its variables in a bare environment (pointed at this
# test's directory), \% as %, each command by sh.  Every job must print nothing and exit 0.
@test "examples/crontab: every job runs silently, again and again" {
    vec-ingest -q coll "$REPO/datasets/tiny/tiny.fvecs"
    : >new.jsonl
    mkdir backups
    env=(PATH="$BIN_DIR:/usr/bin:/bin" COLL="$PWD/coll" NEW="$PWD/new.jsonl" BACKUPS="$PWD/backups")
    run -0 grep -c '^[0-9*]' "$REPO/examples/crontab"
    assert_output 3
    for round in 1 2; do
        if [ $round = 2 ]; then
            printf '{"id":1000,"vector":[0,0,0,0,0,0,0,0]}\n' >new.jsonl
            rm -rf backups/*
        fi
        while read -r m h dom mon dow cmd; do
            cmd=${cmd//\\%/%}
            run env -i "${env[@]}" sh -c "$cmd"
            assert_success
            assert_output ""
        done < <(grep '^[0-9*]' "$REPO/examples/crontab")
    done
    run -0 vec-query -q -k 1 coll - <<<'0,0,0,0,0,0,0,0'
    assert_output --regexp $'^0\t1\t1000\t0$'
    run -0 vec-query -q -k 1 backups/coll-"$(date +%F)" - <<<'0,0,0,0,0,0,0,0'
    assert_output --regexp $'^0\t1\t1000\t0$'
}

@test "examples/nearest.sh: vec-query's JSON lines through jq" {
    command -v jq >/dev/null || skip "jq is not installed (scripts/deps check)"
    q="$REPO/datasets/tiny/tiny-queries.fvecs"
    vec-ingest -q coll "$REPO/datasets/tiny/tiny.fvecs"
    run -0 "$REPO/examples/nearest.sh" coll "$q" 10
    assert_equal "${#lines[@]}" 11
    # the nearest of each query is vec-query's rank 1
    assert_equal "$(printf '%s\n' "${lines[@]:0:10}" | cut -f1,2)" \
                 "$(vec-query -q -k 1 coll "$q" | cut -f1,3)"
    assert_equal "$(jq length <<<"${lines[10]}")" 5
    assert_equal "$(jq '[.[].hits] | add <= 100 and .[0] >= .[4]' <<<"${lines[10]}")" true
    # and a vec-query that fails fails the script
    run "$REPO/examples/nearest.sh" nosuchcoll "$q"
    assert_failure
}

# The README's quickstart, after its build lines, as a new user pastes it (tools on PATH).
@test "README quickstart: ingest, seal, balance and query datasets/tiny" {
    ln -s "$REPO/datasets" datasets
    awk '/^## Quickstart/ { q = 1 } q && /^```sh/ { on = 1; next } on && /^```/ { exit } on' \
        "$REPO/README.md" | grep -v -e '^scripts/deps' -e '^export PATH' >quickstart.sh
    run -0 grep -c '^vec-' quickstart.sh
    assert [ "$output" -ge 6 ]
    run -0 bash -eo pipefail quickstart.sh
    assert_line "recall@10 1.0000"
    assert_line --regexp $'^0\t1\t39\t2\\.55'
    run -0 vec-shard tiny
    # the nodes column, then the index types (the last column)
    assert_output --regexp $'\t(b,a|a,b)\t[^\t]+$'
}
