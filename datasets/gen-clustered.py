#!/usr/bin/python3
"""Generate seeded clustered vectors, with exact ground truth on request.

  gen-clustered.py -n ROWS -d DIM [--clusters C] [--queries Q] [--seed S]
                   [--metric euclidean|angular] [--truth K]
                   [--center-range R] [--dups F] [--dup-noise S] -o OUT

Rows are float32 draws from a mixture of C Gaussian clusters: centers uniform
in [-10, 10]^DIM, each cluster with its own spread (standard deviation 0.5 to
3 per coordinate) and weight (0.5 to 1.5, normalised); a small R overlaps the clusters (low contrast). With
--dups F, a fraction F of each chunk's rows is replaced by copies of other rows of the
chunk, every second copy exact and the others with N(0, S^2) noise per coordinate
(near-duplicates). Queries are further
draws from the same mixture. Rows are made in fixed chunks of 65536, each from
its own stream seeded by (S, chunk number), so any size streams in bounded
memory and the same arguments give the same bytes (with the same NumPy).

OUT ending in .csv: a header "id,x0,...", then each row's index and values.
OUT ending in .fvecs: the rows as fvecs; with --queries, also OUT-queries.fvecs
(BASE-queries.fvecs for BASE.fvecs), and with --truth, BASE-truth.ivecs
holding each query's K nearest row indices. Any other OUT: an ann-benchmarks
HDF5 file with train, test (the queries) and, with --truth, neighbors and
distances. Ground truth is exact NumPy brute force (see groundtruth.py).
Every file is written under a temporary name and renamed into place.
"""

import argparse
import os
import sys
import time

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

import groundtruth as gt  # noqa: E402

CHUNK = 65536


class Mixture:
    """The seeded cluster model; rows(i) is chunk i, queries(q) the query set."""

    def __init__(self, n, dim, clusters, seed, center_range=10.0, dups=0.0, dup_noise=0.0):
        self.n, self.dim, self.seed = n, dim, seed
        self.dups, self.dup_noise = dups, dup_noise
        rng = np.random.default_rng([seed, 0])
        self.centers = rng.uniform(-center_range, center_range, (clusters, dim)).astype(np.float32)
        self.spread = rng.uniform(0.5, 3.0, clusters).astype(np.float32)
        w = rng.uniform(0.5, 1.5, clusters)
        self.weights = w / w.sum()

    def _draw(self, rng, m):
        label = rng.choice(len(self.weights), size=m, p=self.weights)
        z = rng.standard_normal((m, self.dim), dtype=np.float32)
        z *= self.spread[label, None]
        z += self.centers[label]
        return z

    def chunks(self):
        for i, s in enumerate(range(0, self.n, CHUNK)):
            rows = self._draw(np.random.default_rng([self.seed, 1, i]), min(CHUNK, self.n - s))
            if self.dups > 0:
                self._duplicate(np.random.default_rng([self.seed, 3, i]), rows)
            yield rows

    def _duplicate(self, rng, rows):
        """Overwrites a fraction `dups` of the chunk's rows with copies of other rows of the
        chunk: every second one exact, the others plus Gaussian noise of sd dup_noise."""
        m = len(rows)
        ndup = int(round(self.dups * m))
        if ndup == 0 or m < 2:
            return
        dst = rng.choice(m, ndup, replace=False)
        src = rng.integers(0, m, ndup)
        noise = rng.standard_normal((ndup, self.dim), dtype=np.float32) * np.float32(self.dup_noise)
        noise[::2] = 0
        rows[dst] = rows[src] + noise

    def queries(self, q):
        return self._draw(np.random.default_rng([self.seed, 2]), q)


def vecs_bytes(rows, dtype):
    """fvecs/ivecs records: int32 dimension, then the row's values, little-endian."""
    rows = np.ascontiguousarray(rows, dtype=dtype)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype="<i4")
    out[:, 0] = rows.shape[1]
    out[:, 1:] = rows.view("<i4")
    return out.tobytes()


class Renamed:
    """A binary file written as PATH.tmpPID and renamed to PATH on success."""

    def __init__(self, path):
        self.path, self.tmp = path, f"{path}.tmp{os.getpid()}"

    def __enter__(self):
        self.f = open(self.tmp, "wb")
        return self.f

    def __exit__(self, exc_type, exc, tb):
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def write_fvecs(a, mix):
    base = a.output[:-len(".fvecs")]
    with Renamed(a.output) as f:
        if a.truth:
            acc = gt.Knn(mix.queries(a.queries), a.truth, a.metric)
        for rows in mix.chunks():
            f.write(vecs_bytes(rows, "<f4"))
            if a.truth:
                acc.add(rows)
    if a.queries:
        with Renamed(base + "-queries.fvecs") as f:
            f.write(vecs_bytes(mix.queries(a.queries), "<f4"))
        gt.log(f"gen-clustered: wrote '{base}-queries.fvecs'")
    if a.truth:
        neighbors, _ = acc.finish(mix.chunks)
        with Renamed(base + "-truth.ivecs") as f:
            f.write(vecs_bytes(neighbors, "<i4"))
        gt.log(f"gen-clustered: wrote '{base}-truth.ivecs'")


def write_csv(a, mix):
    """Header "id,x0,...", then one line per row: its index, then the shortest
    decimal forms that read back as the same float32 values."""
    with Renamed(a.output) as f:
        f.write(("id," + ",".join(f"x{j}" for j in range(a.dim)) + "\n").encode())
        start = 0
        for rows in mix.chunks():
            lines = [",".join([str(start + i)] + [np.format_float_positional(v, unique=True, trim="-")
                                                  for v in row])
                     for i, row in enumerate(rows)]
            f.write(("\n".join(lines) + "\n").encode())
            start += len(rows)


def write_hdf5(a, mix):
    with gt.AnnWriter(a.output, a.n, a.dim, a.metric) as w:
        queries = mix.queries(a.queries)
        if a.truth:
            acc = gt.Knn(queries, a.truth, a.metric)
        start = 0
        for rows in mix.chunks():
            w.train[start:start + len(rows)] = rows
            start += len(rows)
            if a.truth:
                acc.add(rows)
        if a.queries:
            w.put("test", queries)
        if a.truth:
            neighbors, distances = acc.finish(mix.chunks)
            w.put("neighbors", neighbors)
            w.put("distances", distances)
        # the arguments that made the file, so it describes itself
        for key in ("clusters", "seed", "center_range", "dups", "dup_noise"):
            w.f.attrs[key] = getattr(a, key)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, required=True, metavar="ROWS", help="number of rows")
    p.add_argument("-d", "--dim", type=int, required=True, metavar="DIM", help="dimension")
    p.add_argument("--clusters", type=int, default=16, metavar="C", help="number of clusters (default 16)")
    p.add_argument("--queries", type=int, default=0, metavar="Q", help="number of queries (default 0)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    p.add_argument("--center-range", type=float, default=10.0, metavar="R",
                   help="cluster centers uniform in [-R, R]^DIM (default 10; small R overlaps the clusters)")
    p.add_argument("--dups", type=float, default=0.0, metavar="F",
                   help="fraction of rows replaced by copies of other rows (default 0)")
    p.add_argument("--dup-noise", type=float, default=0.01, metavar="S",
                   help="sd of the noise added to every second copy (default 0.01)")
    p.add_argument("--metric", choices=("euclidean", "angular"), default="euclidean",
                   help="distance for the ground truth (default euclidean)")
    p.add_argument("--truth", type=int, metavar="K", default=0,
                   help="also write the K exact nearest rows of each query")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.fvecs, OUT.csv or an HDF5 file name")
    a = p.parse_args()
    for opt, low in (("-n", 1), ("-d", 1), ("--clusters", 1), ("--queries", 0), ("--seed", 0),
                     ("--truth", 0)):
        if getattr(a, {"-n": "n", "-d": "dim"}.get(opt, opt[2:])) < low:
            p.error(f"{opt} must be at least {low}")
    if a.output.endswith(".csv") and a.queries:
        p.error("a .csv OUT holds rows only: drop --queries and --truth")
    if a.truth and not a.queries:
        p.error("--truth needs --queries")
    if a.truth > a.n:
        p.error(f"--truth {a.truth} is more than the {a.n} rows")
    t0 = time.time()
    if not 0 <= a.dups < 1:
        p.error("--dups must be at least 0 and below 1")
    mix = Mixture(a.n, a.dim, a.clusters, a.seed, a.center_range, a.dups, a.dup_noise)
    what = f"{a.n} x {a.dim} rows in {a.clusters} clusters, seed {a.seed}"
    if a.queries:
        what += f", {a.queries} queries"
    if a.truth:
        what += f", {a.truth}-NN {a.metric} ground truth"
    gt.log(f"gen-clustered: {what}")
    try:
        if a.output.endswith(".fvecs"):
            write_fvecs(a, mix)
        elif a.output.endswith(".csv"):
            write_csv(a, mix)
        else:
            write_hdf5(a, mix)
    except (OSError, ValueError) as e:
        gt.log(f"gen-clustered: {gt.describe(e, a.output)}")
        return 1
    gt.log(f"gen-clustered: wrote '{a.output}' ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
