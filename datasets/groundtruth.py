"""Exact k-nearest-neighbour ground truth and ann-benchmarks HDF5 files.

Shared by fashion-mnist.py and gen-clustered.py; independent of vecseg, so it
can judge vecseg's answers.

Ground truth is exact brute force in NumPy float64, in bounded memory:
  1. Train rows arrive in chunks. For each chunk and a block of queries, a
     matrix product gives approximate distances (|q|^2 + |x|^2 - 2 q.x for
     euclidean, 1 - q.x / (|q| |x|) for angular). Its rounding error is at
     most tol (see _tol), so a row whose approximate distance exceeds the
     running k-th distance by more than tol cannot be among the k nearest;
     all other rows become candidates. Until k rows have been seen there is
     no k-th distance yet, and the k + margin smallest of the chunk are taken.
  2. Each candidate's distance is recomputed directly in float64
     (sum((q - x)^2), or 1 - q.x / (|q| |x|)), and merged with the running
     top k, ordered by (distance, row index): ties go to the smaller index.
  3. Rows left out in step 1's second case are at least the last candidate's
     approximate distance minus tol. A query whose final k-th distance is not
     strictly below that (which takes many near-ties, e.g. duplicate rows) is
     redone over all rows, recomputing exactly every row whose approximate
     distance is within tol of its k-th distance.
Euclidean distances are ranked by exact squared distance and stored as
float32 square roots; angular ones as float32 1 - cosine. A zero vector has
cosine 0 with everything (angular distance 1).
"""

import os
import re
import sys

import h5py
import numpy as np

EPS = np.finfo(np.float64).eps
BLOCK = 1 << 24       # float64 elements in one query-by-rows product block
GATHER = 1 << 22      # float64 elements in one candidate gather for recomputing


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def describe(e, path):
    """One-line message for an exception: "'file': reason" for I/O errors."""
    if not isinstance(e, OSError):
        return str(e)
    m = re.search(r"error message = '([^']+)'", str(e))   # h5py's wording of errno
    why = m.group(1) if m else e.strerror or str(e)
    name = re.sub(r"\.tmp\d+$", "", e.filename) if isinstance(e.filename, str) else path
    return f"'{name}': {why[0].lower()}{why[1:]}"


def _safe_norms(x):
    """Row norms of x, with 1 for zero rows so division leaves them zero."""
    n = np.sqrt(np.einsum("ij,ij->i", x, x))
    n[n == 0] = 1.0
    return n


class Knn:
    """Running exact k-NN of a fixed query set over train rows added in chunks."""

    def __init__(self, queries, k, metric):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"unknown metric '{metric}'")
        q = np.asarray(queries, dtype=np.float64)
        self.k, self.metric, self.dim = k, metric, q.shape[1]
        self.margin = k + max(16, k // 4)
        self.q = q
        # The product block is the largest array here, so _approx makes it in
        # one pass: qm @ x.T (+ |x|^2) is the distance minus off.
        if metric == "euclidean":
            self.qm = -2.0 * q
            self.off = np.einsum("ij,ij->i", q, q)
        else:
            self.qm = -(q / _safe_norms(q)[:, None])
            self.off = np.ones(len(q))
        n = len(q)
        self.dist = np.full((n, k), np.inf)     # exact; squared for euclidean
        self.ids = np.full((n, k), -1, dtype=np.int64)
        self.bound = np.full(n, np.inf)         # rows left out are >= this
        self.seen = 0

    def _prepare(self, rows):
        """Float64 rows, the rows the product uses, |x|^2 (euclidean) and its max."""
        x = np.asarray(rows, dtype=np.float64)
        if self.metric == "euclidean":
            xx = np.einsum("ij,ij->i", x, x)
            return x, x, xx, xx.max(initial=0.0)
        return x, x / _safe_norms(x)[:, None], None, 0.0

    def _approx(self, qs, xa, xx):
        """Approximate distances of queries qs to rows xa, minus self.off[qs]."""
        a = self.qm[qs] @ xa.T
        if xx is not None:
            a += xx[None, :]
        return a

    def _tol(self, qs, xxmax):
        # Bounds the product's rounding plus the direct recomputation's.
        scale = self.off[qs] + xxmax if self.metric == "euclidean" else 2.0
        return 4.0 * (self.dim + 4) * EPS * scale

    def _exact(self, qi, x, xi):
        """Direct float64 distances between queries self.q[qi] and rows x[xi], pairwise."""
        out = np.empty(len(qi))
        step = max(1, GATHER // self.dim)
        for s in range(0, len(qi), step):
            q, xc = self.q[qi[s:s + step]], x[xi[s:s + step]]
            if self.metric == "euclidean":
                diff = xc - q
                out[s:s + step] = np.einsum("ij,ij->i", diff, diff)
            else:
                den = np.sqrt(np.einsum("ij,ij->i", xc, xc)) * np.sqrt(np.einsum("ij,ij->i", q, q))
                dot = np.einsum("ij,ij->i", xc, q)
                out[s:s + step] = 1.0 - np.divide(dot, den, out=np.zeros_like(dot), where=den > 0)
        return out

    def _merge(self, qs, r, ids, dist):
        """Merge pairs (query qs.start + r, row ids, exact dist) into the top k of qs."""
        n = self.dist[qs].shape[0]
        rr = np.concatenate([np.repeat(np.arange(n), self.k), r])
        dd = np.concatenate([self.dist[qs].ravel(), dist])
        ii = np.concatenate([self.ids[qs].ravel(), ids])
        o = np.lexsort((ii, dd, rr))
        rr, dd, ii = rr[o], dd[o], ii[o]
        keep = np.arange(len(rr)) - np.searchsorted(rr, np.arange(n))[rr] < self.k
        self.dist[qs] = dd[keep].reshape(n, self.k)
        self.ids[qs] = ii[keep].reshape(n, self.k)

    def add(self, rows):
        """Add the next chunk of train rows (their indices follow the previous chunk's)."""
        start, nrows = self.seen, len(rows)
        self.seen += nrows
        if nrows == 0:
            return
        x, xa, xx, xxmax = self._prepare(rows)
        m = min(self.margin, nrows)
        step = max(1, BLOCK // nrows)
        for s in range(0, len(self.q), step):
            qs = slice(s, s + step)
            a = self._approx(qs, xa, xx)
            tol = self._tol(qs, xxmax)
            if start >= self.k:
                limit = self.dist[qs, -1] - self.off[qs] + tol
                r, c = np.nonzero(a <= limit[:, None])
            elif nrows > m:
                part = np.argpartition(a, m, axis=1)
                left = np.take_along_axis(a, part[:, m:m + 1], axis=1)[:, 0]
                self.bound[qs] = np.minimum(self.bound[qs], left + self.off[qs] - tol)
                r, c = np.repeat(np.arange(len(a)), m), part[:, :m].ravel()
            else:
                r, c = np.repeat(np.arange(len(a)), nrows), np.tile(np.arange(nrows), len(a))
            self._merge(qs, r, c + start, self._exact(r + s, x, c))

    def unsure(self):
        """Indices of queries whose top k may miss a row left out of the candidates."""
        return np.nonzero(~(self.dist[:, -1] < self.bound))[0]

    def redo(self, qids, chunks):
        """Recompute queries qids exactly from a fresh pass over all train rows."""
        limit = self.dist[qids, -1] - self.off[qids]
        self.dist[qids], self.ids[qids] = np.inf, -1
        start = 0
        for rows in chunks:
            x, xa, xx, xxmax = self._prepare(rows)
            for j, qi in enumerate(qids):
                qs = slice(qi, qi + 1)
                c = np.nonzero(self._approx(qs, xa, xx)[0] <= limit[j] + self._tol(qs, xxmax))[0]
                r = np.zeros(len(c), dtype=np.int64)
                self._merge(qs, r, c + start, self._exact(r + qi, x, c))
            start += len(rows)

    def finish(self, rechunks):
        """(neighbors int32, distances float32), each queries x k, after a second
        pass over rechunks() (all rows again) for any queries that need it."""
        if self.seen < self.k:
            raise ValueError(f"{self.seen} train rows, fewer than k={self.k}")
        redo = self.unsure()
        if len(redo):
            log(f"ground truth: second pass for {len(redo)} queries with near-ties")
            self.redo(redo, rechunks())
        d = np.sqrt(self.dist) if self.metric == "euclidean" else self.dist
        return self.ids.astype(np.int32), d.astype(np.float32)


def knn(queries, k, metric, chunks, rechunks=None):
    """Exact k-NN of queries over the rows yielded by iterable chunks.

    rechunks, when given, is a callable returning a fresh iterable over the
    same rows, used only for queries that need a second pass; without it the
    rows of chunks are kept for that pass. Returns (neighbors, distances).
    """
    acc = Knn(queries, k, metric)
    kept = [] if rechunks is None else None
    for rows in chunks:
        acc.add(rows)
        if kept is not None:
            kept.append(rows)
    return acc.finish(rechunks or (lambda: kept))


class AnnWriter:
    """Writes an ann-benchmarks HDF5 file under a temporary name, then renames it.

    Layout: attrs distance, type="dense", point_type="float", dimension;
    datasets train and test (float32), neighbors (int32), distances (float32).
    """

    def __init__(self, path, nrows, dim, metric):
        self.path = path
        self.tmp = f"{path}.tmp{os.getpid()}"
        self.f = h5py.File(self.tmp, "w")
        self.f.attrs["distance"] = metric
        self.f.attrs["type"] = "dense"
        self.f.attrs["point_type"] = "float"
        self.f.attrs["dimension"] = dim
        self.train = self.f.create_dataset("train", (nrows, dim), dtype="f4")

    def put(self, name, array):
        self.f.create_dataset(name, data=array)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def check_ann(path, nsample=100):
    """Verify an ann-benchmarks file's layout and, for nsample evenly spaced
    queries, its neighbors and distances against a fresh brute force.

    Returns a list of problems (empty when the file is good).
    """
    bad = []
    with h5py.File(path, "r") as f:
        metric = f.attrs.get("distance")
        for name, want in (("type", "dense"), ("point_type", "float")):
            if f.attrs.get(name) != want:
                bad.append(f"attribute {name} is {f.attrs.get(name)!r}, want {want!r}")
        if metric not in ("euclidean", "angular"):
            return bad + [f"attribute distance is {metric!r}"]
        for name, dt in (("train", "f4"), ("test", "f4"), ("neighbors", "i4"), ("distances", "f4")):
            if name not in f:
                return bad + [f"no dataset '{name}'"]
            if f[name].dtype != np.dtype(dt):
                bad.append(f"dataset '{name}' has type {f[name].dtype}, want {dt}")
        train, test = f["train"], f["test"]
        nb, dist = f["neighbors"], f["distances"]
        dim = train.shape[1]
        if f.attrs.get("dimension") != dim or test.shape[1] != dim:
            bad.append(f"dimension attribute {f.attrs.get('dimension')}, train {dim}, test {test.shape[1]}")
        if nb.shape != dist.shape or nb.shape[0] != test.shape[0]:
            bad.append(f"neighbors {nb.shape}, distances {dist.shape}, test {test.shape}")
        if bad:
            return bad
        k = nb.shape[1]
        pick = np.unique(np.linspace(0, test.shape[0] - 1, min(nsample, test.shape[0])).astype(int))
        step = 1 << 16
        chunks = lambda: (train[s:s + step] for s in range(0, train.shape[0], step))
        ids, d = knn(test[pick], k, metric, chunks(), chunks)
        for j, qi in enumerate(pick):
            if not np.array_equal(ids[j], nb[qi]):
                bad.append(f"query {qi}: neighbors differ from brute force")
            elif not np.allclose(d[j], dist[qi], rtol=1e-6, atol=1e-6):
                bad.append(f"query {qi}: distances differ from brute force")
    return bad
