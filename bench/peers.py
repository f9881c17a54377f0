#!/usr/bin/python3
"""The peers' side of `make bench`: FAISS and hnswlib as their users run them, and the
data preparation and recall rule every system shares.

  bench/peers.py queries DATA.hdf5 N OUT.hdf5
      the first N test queries (all if N is 0) with their neighbors and distances.
  bench/peers.py export DATA.hdf5 QUERIES.hdf5 DIR
      DIR/train.fvecs, test.fvecs, neighbors.ivecs, distances.fvecs for hnswlib_bench.
  bench/peers.py build SYSTEM DATA.hdf5 INDEX [--M N --efc N --nlist N --pq-m N --threads N
                     --quantizer-from IVF-INDEX]
      builds and saves an index; prints build seconds, peak RSS kB, index bytes, file bytes
      (TSV). Index bytes leave out the raw vectors a refine step keeps (IVF_PQ).
      --quantizer-from (IVF_PQ): the trained coarse quantizer of a saved IVF index over
      the same rows, so only the PQ codebooks are trained (bench/large).
  bench/peers.py search SYSTEM INDEX QUERIES.hdf5 [--k K --runs R --secs S --min-secs M
                      --threads 1,2 --ef LIST --nprobe LIST --refine LIST --exact1 N
                      --stop-at RECALL]
      for each thread count and each point of the sweep, best of R runs of the search call
      (fewer once the runs of a point add up to S seconds, more, up to 10, while they add up
      to less than M seconds):
      `threads knob recall qps seconds` (TSV; knob as ef=64, nprobe=8 or nprobe=8,refine=4),
      then `rss` and the process's peak RSS kB. One thread searches one query per call, one
      after another; more threads search all queries in one call (batched). Exact search
      (faiss-flat) is one batched call on each thread count ("exact"), and with --exact1 N
      also the first N queries one per call on one thread ("exact1"). --stop-at ends a
      thread count's sweep at its first point with recall >= RECALL.
  bench/peers.py recall QUERIES.hdf5 RESULT.h5...
      recall@K of vec-query -o results (K from the file), one line per file.
  bench/peers.py stats DATA.hdf5
      what makes the data easy or hard for an 8-bit per-dimension code, as `key value` TSV
      lines: the quantisation step (per-dimension range / 255; of the unit rows for angular)
      at its smallest, mean and largest, whether every value is an integer, the true
      neighbours' contrast (mean distance of the 10th over the 1st, median gap between the
      10th and 11th relative to the 10th), and the generator's attributes if any.

SYSTEM is faiss-flat, faiss-hnsw, faiss-ivf_flat, faiss-ivf_sq8, faiss-ivf_pq (the last two
an IndexRefineFlat over an IndexIVFScalarQuantizer (8 bits) or IndexIVFPQ, so --refine R
re-ranks R*k candidates exactly as vec-query does; R=0 searches the base index alone) or
hnswlib-py. These are Debian's generic builds (no AVX): FAISS is the bar for exact and IVF
search, hnswlib_bench.cpp (the CPU-compiled hnswlib) the bar for HNSW.

The metric is the data's `distance` attribute: euclidean (L2 indexes), or angular, where rows
and queries are scaled to unit length and FAISS searches by inner product
(METRIC_INNER_PRODUCT, IndexFlatIP) and hnswlib-py uses its "cosine" space.

Recall counts a returned row as a hit when it is one of the true neighbours at most as far
as the K-th (ties are not misses). It uses row numbers, not the distances a system returns,
so quantized (approximate) distances cannot count as hits.
"""
import argparse
import ctypes
import os
import resource
import sys
import time

import h5py
import numpy as np


def recall(ids, tn, td, k):
    """Share of ids[:, :k] that are true neighbours no farther than the k-th (ties count)."""
    lim = td[:, k - 1:k]
    ok = td <= lim + 1e-4 * np.abs(lim) + 1e-6
    ids = ids[:, :k].astype(np.int64)
    hit = (ids[:, :, None] == tn[:, None, :].astype(np.int64)) & ok[:, None, :]
    return float(np.mean(np.any(hit, axis=2) & (ids >= 0)))


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def metric_of(f):
    m = f.attrs.get("distance", "euclidean")
    m = m.decode() if isinstance(m, bytes) else str(m)
    if m not in ("euclidean", "angular"):
        sys.exit(f"peers.py: distance '{m}' is neither euclidean nor angular")
    return m


def unit(x, metric):
    """Rows scaled to unit length for angular (zero rows stay zero); x itself otherwise."""
    if metric != "angular":
        return x
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(n > 0, n, 1), dtype=np.float32)


def load_queries(path):
    """The queries (unit length for angular), their true neighbours and distances, the metric."""
    with h5py.File(path, "r") as f:
        metric = metric_of(f)
        return (unit(np.ascontiguousarray(f["test"][:], dtype=np.float32), metric), f["neighbors"][:],
                f["distances"][:], metric)


def blas_threads(n):
    """FAISS's exact search calls OpenBLAS (Debian's libopenblas, already loaded by faiss)."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except (OSError, AttributeError):
        pass


def cmd_queries(a):
    with h5py.File(a.data, "r") as f, h5py.File(a.out + ".tmp", "w") as g:
        n = a.n or f["test"].shape[0]
        for name in ("test", "neighbors", "distances"):
            g.create_dataset(name, data=f[name][:n])
        for key, val in f.attrs.items():
            g.attrs[key] = val
    os.replace(a.out + ".tmp", a.out)


def write_vecs(path, arr, dtype):
    arr = np.ascontiguousarray(arr, dtype=dtype)
    rows = np.empty((arr.shape[0], arr.shape[1] + 1), dtype=dtype)
    rows[:, 0] = np.array([arr.shape[1]], dtype=np.int32).view(dtype)[0]
    rows[:, 1:] = arr
    rows.tofile(path + ".tmp")
    os.replace(path + ".tmp", path)


def cmd_export(a):
    os.makedirs(a.dir, exist_ok=True)
    with h5py.File(a.data, "r") as f:
        train = f["train"]
        # the train rows in chunks, so a large set needs little memory
        with open(os.path.join(a.dir, "train.fvecs.tmp"), "wb") as out:
            for s in range(0, train.shape[0], 65536):
                chunk = np.ascontiguousarray(train[s:s + 65536], dtype=np.float32)
                rows = np.empty((chunk.shape[0], chunk.shape[1] + 1), dtype=np.float32)
                rows[:, 0] = np.array([chunk.shape[1]], dtype=np.int32).view(np.float32)[0]
                rows[:, 1:] = chunk
                rows.tofile(out)
        os.replace(os.path.join(a.dir, "train.fvecs.tmp"), os.path.join(a.dir, "train.fvecs"))
    with h5py.File(a.queries, "r") as f:
        test = f["test"][:]
    _, tn, td, _ = load_queries(a.queries)
    write_vecs(os.path.join(a.dir, "test.fvecs"), test, np.float32)
    write_vecs(os.path.join(a.dir, "neighbors.ivecs"), tn, np.int32)
    write_vecs(os.path.join(a.dir, "distances.fvecs"), td, np.float32)


def cmd_build(a):
    with h5py.File(a.data, "r") as f:
        metric = metric_of(f)
        train = np.ascontiguousarray(f["train"][:], dtype=np.float32)
    n, d = train.shape
    index_bytes = None
    if a.system == "hnswlib-py":
        import hnswlib
        t0 = time.perf_counter()
        index = hnswlib.Index(space="cosine" if metric == "angular" else "l2", dim=d)
        index.init_index(max_elements=n, ef_construction=a.efc, M=a.M)
        index.add_items(train, np.arange(n), num_threads=a.threads)
        secs = time.perf_counter() - t0
        index.save_index(a.index)
    else:
        import faiss
        faiss.omp_set_num_threads(a.threads)
        blas_threads(a.threads)
        # angular: unit rows (their normalisation is part of the build) and inner product
        ip = metric == "angular"
        mt = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
        flat = lambda: faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
        t0 = time.perf_counter()
        train = unit(train, metric)
        if a.system == "faiss-flat":
            index = flat()
        elif a.system == "faiss-hnsw":
            index = faiss.IndexHNSWFlat(d, a.M, mt)
            index.hnsw.efConstruction = a.efc
        elif a.system == "faiss-ivf_flat":
            index = faiss.IndexIVFFlat(flat(), d, a.nlist, mt)
        elif a.system == "faiss-ivf_sq8":
            index = faiss.IndexRefineFlat(
                faiss.IndexIVFScalarQuantizer(flat(), d, a.nlist, faiss.ScalarQuantizer.QT_8bit, mt))
        elif a.system == "faiss-ivf_pq":
            # --quantizer-from: the coarse quantizer of a saved IVF index over the same rows,
            # as a FAISS user builds a second IVF index without training its lists again
            quantizer = flat()
            if a.quantizer_from:
                # src owns the quantizer: it lives until the index is written
                src = faiss.read_index(a.quantizer_from)
                quantizer = faiss.extract_index_ivf(src).quantizer
            ivfpq = faiss.IndexIVFPQ(quantizer, d, a.nlist, a.pq_m, 8, mt)
            # the codebooks trained as vecseg trains them (lib/index/ivf/ivf.h: 20 iterations
            # on 32,768 residuals; FAISS's defaults, 25 on 65,536, take 2.5x the work)
            ivfpq.pq.cp.niter = 20
            ivfpq.pq.cp.max_points_per_centroid = 128
            index = faiss.IndexRefineFlat(ivfpq)
        else:
            sys.exit(f"peers.py: unknown system '{a.system}'")
        if not index.is_trained:
            index.train(train)
        index.add(train)
        secs = time.perf_counter() - t0
        faiss.write_index(index, a.index)
        if a.system in ("faiss-ivf_pq", "faiss-ivf_sq8"):
            index_bytes = faiss.serialize_index(faiss.downcast_index(index.base_index)).size
    file_bytes = os.path.getsize(a.index)
    print(f"{secs:.3f}\t{peak_rss_kb()}\t{index_bytes or file_bytes}\t{file_bytes}")


def sweep(a):
    """The points of the sweep as (label, settings) pairs."""
    if a.system.endswith("hnsw") or a.system == "hnswlib-py":
        return [(f"ef={e}", {"ef": e}) for e in a.ef]
    if a.system == "faiss-ivf_flat":
        return [(f"nprobe={p}", {"nprobe": p}) for p in a.nprobe]
    if a.system in ("faiss-ivf_pq", "faiss-ivf_sq8"):
        refine = a.refine if a.system == "faiss-ivf_pq" else a.sq8_refine
        return [(f"nprobe={p},refine={r}", {"nprobe": p, "refine": r})
                for r in refine for p in a.nprobe]
    return [("exact", {})]


def cmd_search(a):
    test, tn, td, metric = load_queries(a.queries)
    nq, k = len(test), a.k
    if a.system == "hnswlib-py":
        import hnswlib
        index = hnswlib.Index(space="cosine" if metric == "angular" else "l2", dim=test.shape[1])
        index.load_index(a.index)

        def setup(s, threads):
            """Applies one point of the sweep; returns the search call: queries -> ids."""
            index.set_ef(s["ef"])
            return lambda q: index.knn_query(q, k=k, num_threads=threads)[0]
    else:
        import faiss
        index = faiss.read_index(a.index)
        refined = a.system in ("faiss-ivf_pq", "faiss-ivf_sq8")
        base = faiss.downcast_index(index.base_index) if refined else index

        def setup(s, threads):
            """Applies one point of the sweep; returns the search call: queries -> ids."""
            faiss.omp_set_num_threads(threads)
            blas_threads(threads)
            if "ef" in s:
                index.hnsw.efSearch = s["ef"]
            if "nprobe" in s:
                faiss.extract_index_ivf(base).nprobe = s["nprobe"]
            if s.get("refine", 0) > 0:
                index.k_factor = s["refine"]
                return lambda q: index.search(q, k)[1]
            return lambda q: base.search(q, k)[1]

    points = [(t, label, s, t == 1 and a.system != "faiss-flat", nq)
              for t in a.threads for label, s in sweep(a)]
    if a.system == "faiss-flat" and a.exact1 and 1 in a.threads:
        points.append((1, "exact1", {}, True, min(a.exact1, nq)))
    stopped = set()   # thread counts whose sweep reached --stop-at
    for threads, label, s, one, n in points:
        if threads in stopped:
            continue
        search = setup(s, threads)
        best, spent, r = float("inf"), 0.0, 0
        while r == 0 or (r < max(a.runs, 10) and spent < a.secs
                         and (r < a.runs or spent < a.min_secs)):
            r += 1
            t0 = time.perf_counter()
            if one:
                ids = np.empty((n, k), dtype=np.int64)
                for i in range(n):
                    ids[i] = search(test[i:i + 1])[0]
            else:
                ids = search(test)
            best = min(best, time.perf_counter() - t0)
            spent += time.perf_counter() - t0
        rec = recall(ids, tn[:n], td[:n], k)
        print(f"{threads}\t{label}\t{rec:.4f}\t{n / best:.1f}\t{best:.4f}", flush=True)
        if a.stop_at and rec >= a.stop_at:
            stopped.add(threads)
    print(f"rss\t{peak_rss_kb()}")


def cmd_stats(a):
    with h5py.File(a.data, "r") as f:
        metric = metric_of(f)
        train = f["train"]
        lo = np.full(train.shape[1], np.inf, dtype=np.float32)
        hi = -lo
        integers = True
        for s in range(0, train.shape[0], 65536):
            x = unit(np.asarray(train[s:s + 65536], dtype=np.float32), metric)
            lo, hi = np.minimum(lo, x.min(0)), np.maximum(hi, x.max(0))
            integers = integers and bool(np.all(x == np.round(x)))
        td = f["distances"][:].astype(np.float64)
        attrs = {key: f.attrs[key] for key in ("center_range", "dups", "dup_noise") if key in f.attrs}
    step = (hi - lo) / 255
    print(f"step\t{step.min():.5g} {step.mean():.5g} {step.max():.5g}")
    print(f"integers\t{'yes' if integers else 'no'}")
    ok = td[:, 0] > 0
    print(f"contrast\t{np.mean(td[ok, 9] / td[ok, 0]):.4g} "
          f"{np.median((td[:, 10] - td[:, 9]) / np.where(td[:, 9] > 0, td[:, 9], 1)):.4g}")
    for key, val in attrs.items():
        print(f"{key}\t{val}")


def cmd_recall(a):
    _, tn, td, _ = load_queries(a.queries)
    for path in a.results:
        with h5py.File(path, "r") as f:
            ids = f["neighbors"][:]
        print(f"{recall(ids, tn, td, ids.shape[1]):.4f}")


def ints(s):
    return [int(x) for x in s.replace(",", " ").split()]


def main():
    p = argparse.ArgumentParser(description="FAISS and hnswlib beside vecseg (bench/run)")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("queries")
    c.add_argument("data")
    c.add_argument("n", type=int)
    c.add_argument("out")
    c = sub.add_parser("export")
    c.add_argument("data")
    c.add_argument("queries")
    c.add_argument("dir")
    c = sub.add_parser("build")
    c.add_argument("system")
    c.add_argument("data")
    c.add_argument("index")
    c.add_argument("--M", type=int, default=16)
    c.add_argument("--efc", type=int, default=200)
    c.add_argument("--nlist", type=int, default=1024)
    c.add_argument("--pq-m", type=int, default=8)
    c.add_argument("--threads", type=int, default=os.cpu_count())
    c.add_argument("--quantizer-from", metavar="INDEX")
    c = sub.add_parser("search")
    c.add_argument("system")
    c.add_argument("index")
    c.add_argument("queries")
    c.add_argument("--k", type=int, default=10)
    c.add_argument("--runs", type=int, default=3)
    c.add_argument("--secs", type=float, default=20.0)
    c.add_argument("--min-secs", type=float, default=2.0)
    c.add_argument("--threads", type=ints, default=[1, 2])
    c.add_argument("--ef", type=ints, default=[64])
    c.add_argument("--nprobe", type=ints, default=[8])
    c.add_argument("--refine", type=ints, default=[0])
    c.add_argument("--sq8-refine", type=ints, default=[0])
    c.add_argument("--exact1", type=int, default=0)
    c.add_argument("--stop-at", type=float, default=0.0)
    c = sub.add_parser("stats")
    c.add_argument("data")
    c = sub.add_parser("recall")
    c.add_argument("queries")
    c.add_argument("results", nargs="+")
    a = p.parse_args()
    {"queries": cmd_queries, "export": cmd_export, "build": cmd_build,
     "search": cmd_search, "recall": cmd_recall,
     "stats": cmd_stats}[a.cmd](a)


if __name__ == "__main__":
    main()
