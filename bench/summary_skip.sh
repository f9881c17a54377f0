#!/bin/bash
# bench/summary_skip.sh - issue 12's HNSW summary measurement (not in CI): a generated
# clustered set ingested in cluster order (data arriving by topic or by day) and shuffled,
# each sealed as HNSW into SEGS segments, then bench/summary_skip.c on each.
#
#   bench/summary_skip.sh WORKDIR [ROWS DIM CLUSTERS SEGS QUERIES]   (default 200000 128 16 8 1000)
#   B=DIR bench/summary_skip.sh ...   tools from DIR (default build/bin): another build's seal
#
# Prints per order the seal seconds, and summary_skip's QPS with and without skipping, the
# share skipped, identical answers and recall@10 (ef 64).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
w=$1 n=${2:-200000} d=${3:-128} c=${4:-16} segs=${5:-8} nq=${6:-1000}
B=${B:-$here/build/bin}
mkdir -p "$w"
cd "$w"
[ -f base.fvecs ] || /usr/bin/python3 "$here/datasets/gen-clustered.py" -n "$n" -d "$d" --clusters "$c" \
    --queries "$nq" --truth 10 --seed 7 -o base.fvecs
cc -std=c11 -O2 -I"$here/lib" -I"$here/format" $(pkg-config --cflags openblas zlib) -o summary_skip \
    "$here/bench/summary_skip.c" "$here/build/libvecseg.a" -lz -ljansson -lm -lpthread -ldl
# the rows in cluster order (nearest generating centre) and shuffled, in SEGS files each, and
# the truth renumbered to the ids ingest gives (the position in the new order)
/usr/bin/python3 - "$here/datasets" "$n" "$d" "$c" "$segs" <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[1]); sys.argv[0] = "gen-clustered.py"
import importlib.util
spec = importlib.util.spec_from_file_location("g", sys.argv[1] + "/gen-clustered.py")
g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
n, d, c, segs = map(int, sys.argv[2:6])
x = np.fromfile("base.fvecs", "<f4").reshape(n, d + 1)
cent = g.Mixture(n, d, c, 7).centers
v = x[:, 1:]
lab = np.argmin(((v[:, None, :] - cent[None]) ** 2).sum(-1), axis=1) if n * c * d < 4e9 else None
t = np.fromfile("base-truth.ivecs", "<i4").reshape(-1, 11)
for name, perm in (("sorted", np.argsort(lab, kind="stable")), ("shuffled", np.random.default_rng(1).permutation(n))):
    inv = np.empty(n, np.int64); inv[perm] = np.arange(n)
    for s in range(segs):
        x[perm[s * n // segs:(s + 1) * n // segs]].tofile(f"{name}-{s}.fvecs")
    tt = t.copy(); tt[:, 1:] = inv[t[:, 1:]]; tt.tofile(f"{name}-truth.ivecs")
PY
for order in sorted shuffled; do
    rm -rf "c-$order"
    for s in $(seq 0 $((segs - 1))); do "$B/vec-ingest" -q "c-$order" "$order-$s.fvecs"; done
    "$B/vec-seal" -q --set segment-rows=$((n / segs)) "c-$order"
    t0=$(date +%s.%N)
    VECSEG_THREADS=1 "$B/vec-seal" -q --all --index hnsw "c-$order"
    t1=$(date +%s.%N)
    echo "== $order: seal $(echo "$t1 - $t0" | bc) s (one thread), $("$B/vec-inspect" "c-$order" | grep -c '^sealed') segments"
    ./summary_skip "c-$order" base-queries.fvecs "$order-truth.ivecs" 10 64 3 || true
done
