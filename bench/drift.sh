#!/bin/bash
# bench/drift.sh - vec-seal's drift test for shared IVF quantisers (SPEC.md 5.5.2,
# [R-IVF-DRIFT]) on several sets, not in CI: does it keep a quantiser for more rows like its own,
# and pass it over for rows that moved?
#
#   bench/drift.sh WORKDIR [ROWS]   (ROWS: rows taken of each set, default 100000)
#   B=DIR D=DIR bench/drift.sh ...  tools from B (default build/bin), sets from D (datasets/)
#
# Sets: fashion-mnist (784, l2) and wordvecs (100, cosine) from datasets/, a generated clustered
# set (128, l2) and standard normal rows (64, l2).  Each set's rows, shuffled, are cut in two
# halves three ways:
#   same   - at random: the second half is like the first;
#   pc1    - by the rows' first principal component: the second half lies further along it
#            (the set's main direction of spread; data whose mix shifts over time);
#   new    - (clustered only) the second half from other clusters (seed 8): a new topic.
# For each: the first half ingested and sealed as IVF_PQ with ivf-shared=1, drift_fit's ratio
# of the second half against it (1.5 is the threshold), then the second half ingested and
# sealed, and the quantisers the collection then holds (1: kept; 2: passed over).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
w=$1 n=${2:-100000}
B=${B:-$here/build/bin} D=${D:-$here/datasets}
mkdir -p "$w"
cd "$w"
cc -std=c11 -O2 -I"$here/lib" -I"$here/format" -I"$here/bench" $(pkg-config --cflags openblas zlib) -o drift_fit \
    "$here/bench/drift_fit.c" "$here/build/libvecseg.a" -lz -ljansson -lm -lpthread -ldl
/usr/bin/python3 - "$here" "$n" "$D" <<'PY'
import sys, numpy as np, h5py, subprocess
here, n, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def fvecs(path, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    out = np.empty((len(x), x.shape[1] + 1), "<f4")
    out[:, 0] = np.array([x.shape[1]], "<i4").view("<f4")[0]
    out[:, 1:] = x
    out.tofile(path)
def h5(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["train"], "f4")
def clustered(seed):
    subprocess.run(["/usr/bin/python3", here + "/datasets/gen-clustered.py", "-n", str(n), "-d", "128",
                    "--queries", "10", "--truth", "1", "--seed", str(seed), "-o", "gen%d.hdf5" % seed],
                   check=True, stdout=subprocess.DEVNULL)
    return h5("gen%d.hdf5" % seed)
rng = np.random.default_rng(1)
sets = {"fashion-mnist": (h5(data + "/fashion-mnist-784-euclidean.hdf5"), "l2"),
        "wordvecs": (h5(data + "/wordvecs-100-angular.hdf5"), "cosine"),
        "clustered": (clustered(7), "l2"),
        "normal": (rng.standard_normal((n, 64)).astype("f4"), "l2")}
with open("sets.tsv", "w") as out:
    for name, (x, metric) in sets.items():
        x = x[rng.permutation(len(x))[:n]]
        h = len(x) // 2
        cases = {"same": (x[:h], x[h:])}
        y = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
        c = y - y.mean(0)
        pc = np.linalg.svd(c[:20000], full_matrices=False)[2][0]
        o = np.argsort(c @ pc)
        cases["pc1"] = (x[o[:h]], x[o[h:]])
        if name == "clustered":
            cases["new"] = (x[:h], clustered(8)[:h])
        for case, (a, b) in cases.items():
            fvecs("%s-%s-a.fvecs" % (name, case), a)
            fvecs("%s-%s-b.fvecs" % (name, case), b)
            out.write("%s\t%s\t%s\n" % (name, case, metric))
PY
printf 'set\tcase\tmetric\tnlist\ttrain_rows\tratio\tquantisers\n'
while IFS=$'\t' read -r set case metric; do
    c=c-$set-$case
    rm -rf "$c"
    "$B/vec-ingest" -q --metric "$metric" "$c" "$set-$case-a.fvecs"
    "$B/vec-seal" -q --set ivf-shared=1 "$c"
    "$B/vec-seal" -q --all --index ivf_pq "$c"
    fit=$(./drift_fit "$(ls "$c"/s-*.vseg | head -n 1)" "$set-$case-b.fvecs")
    "$B/vec-ingest" -q "$c" "$set-$case-b.fvecs"
    "$B/vec-seal" -q --all "$c"
    nq=$("$B/vec-inspect" "$c" | awk '/^sealed/ { for (i = 1; i <= NF; i++) if ($i ~ /^quantiser=/) print $i }' | sort -u | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$case" "$metric" \
        "$(sed -nE 's/.*nlist=([0-9]+).*/\1/p' <<<"$fit")" "$(sed -nE 's/.*train_rows=([0-9]+).*/\1/p' <<<"$fit")" \
        "$(sed -nE 's/.*ratio=([0-9.]+).*/\1/p' <<<"$fit")" "$nq"
    rm -rf "$c"
done <sets.tsv
