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
want = {"algo": str, "name": str, "distance": str, "count": np.integer, "run_count": np.integer,
        "build_time": np.floating, "index_size": np.floating, "best_search_time": np.floating,
        "candidates": np.floating, "batch_mode": np.bool_, "expect_extra": np.bool_}
for k, t in want.items():
    assert k in p, "no attribute " + k
    assert isinstance(p[k], t), "%s is %r" % (k, type(p[k]))
assert p["algo"] == "vecseg" and p["distance"] == "euclidean" and p["count"] == 10, p
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
