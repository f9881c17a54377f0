#!/usr/bin/python3
"""The peers' side of `make bench`: FAISS and hnswlib as their users run them, and the
data preparation and recall rule every system shares.

  bench/peers.py flat DATA.hdf5 K THREADS
      FAISS IndexFlatL2 exact search, one TSV line: peer, build seconds, search seconds,
      queries/s, recall@K (the exact-search section of bench/run).
  bench/peers.py queries DATA.hdf5 N OUT.hdf5
      the first N test queries (all if N is 0) with their neighbors and distances.
  bench/peers.py export DATA.hdf5 QUERIES.hdf5 DIR
      DIR/train.fvecs, test.fvecs, neighbors.ivecs, distances.fvecs for hnswlib_bench.
  bench/peers.py build SYSTEM DATA.hdf5 INDEX [--M N --efc N --nlist N --pq-m N --threads N]
      builds and saves an index; prints build seconds, peak RSS kB, index bytes, file bytes
      (TSV). Index bytes leave out the raw vectors a refine step keeps (IVF_PQ).
  bench/peers.py search SYSTEM INDEX QUERIES.hdf5 [--k K --runs R --secs S --min-secs M
                                          --threads 1,2 --ef LIST --nprobe LIST --refine LIST]
      for each thread count and each point of the sweep, best of R runs of the search call
      (fewer once the runs of a point add up to S seconds, more, up to 10, while they add up
      to less than M seconds):
      `threads knob recall qps seconds` (TSV; knob as ef=64, nprobe=8 or nprobe=8,refine=4),
      then `rss` and the process's peak RSS kB. One thread searches one query per call, one
      after another; more threads search all queries in one call (batched). exact search
      (faiss-flat) is always batched.
  bench/peers.py recall QUERIES.hdf5 RESULT.h5...
      recall@K of vec-query -o results (K from the file), one line per file.

SYSTEM is faiss-flat, faiss-hnsw, faiss-ivf_flat, faiss-ivf_pq (an IndexRefineFlat over an
IndexIVFPQ, so --refine R re-ranks R*k candidates exactly as vec-query does; R=0 searches the
IVFPQ alone) or hnswlib-py. These are Debian's generic builds (no AVX), reported beside vecseg
but not its bar; hnswlib_bench.cpp is the CPU-compiled hnswlib.

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


def load_queries(path):
    with h5py.File(path, "r") as f:
        return (np.ascontiguousarray(f["test"][:], dtype=np.float32), f["neighbors"][:],
                f["distances"][:])


def blas_threads(n):
    """FAISS's exact search calls OpenBLAS (Debian's libopenblas, already loaded by faiss)."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except (OSError, AttributeError):
        pass


def cmd_flat(a):
    import faiss
    f = h5py.File(a.data, "r")
    train = np.ascontiguousarray(f["train"][:], dtype=np.float32)
    test = np.ascontiguousarray(f["test"][:], dtype=np.float32)
    tn, td = f["neighbors"][:], f["distances"][:]
    faiss.omp_set_num_threads(a.threads)
    blas_threads(a.threads)
    t0 = time.perf_counter()
    index = faiss.IndexFlatL2(train.shape[1])
    index.add(train)
    t1 = time.perf_counter()
    _, ids = index.search(test, a.k)
    t2 = time.perf_counter()
    print(f"faiss IndexFlatL2\t{t1 - t0:.3f}\t{t2 - t1:.3f}\t{len(test) / (t2 - t1):.0f}\t"
          f"{recall(ids, tn, td, a.k):.4f}")


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
    test, tn, td = load_queries(a.queries)
    write_vecs(os.path.join(a.dir, "test.fvecs"), test, np.float32)
    write_vecs(os.path.join(a.dir, "neighbors.ivecs"), tn, np.int32)
    write_vecs(os.path.join(a.dir, "distances.fvecs"), td, np.float32)


def cmd_build(a):
    with h5py.File(a.data, "r") as f:
        train = np.ascontiguousarray(f["train"][:], dtype=np.float32)
    n, d = train.shape
    index_bytes = None
    if a.system == "hnswlib-py":
        import hnswlib
        t0 = time.perf_counter()
        index = hnswlib.Index(space="l2", dim=d)
        index.init_index(max_elements=n, ef_construction=a.efc, M=a.M)
        index.add_items(train, np.arange(n), num_threads=a.threads)
        secs = time.perf_counter() - t0
        index.save_index(a.index)
    else:
        import faiss
        faiss.omp_set_num_threads(a.threads)
        blas_threads(a.threads)
        t0 = time.perf_counter()
        if a.system == "faiss-flat":
            index = faiss.IndexFlatL2(d)
        elif a.system == "faiss-hnsw":
            index = faiss.IndexHNSWFlat(d, a.M)
            index.hnsw.efConstruction = a.efc
        elif a.system == "faiss-ivf_flat":
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, a.nlist)
        elif a.system == "faiss-ivf_pq":
            base = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, a.nlist, a.pq_m, 8)
            index = faiss.IndexRefineFlat(base)
        else:
            sys.exit(f"peers.py: unknown system '{a.system}'")
        if not index.is_trained:
            index.train(train)
        index.add(train)
        secs = time.perf_counter() - t0
        faiss.write_index(index, a.index)
        if a.system == "faiss-ivf_pq":
            index_bytes = faiss.serialize_index(faiss.downcast_index(index.base_index)).size
    file_bytes = os.path.getsize(a.index)
    print(f"{secs:.3f}\t{peak_rss_kb()}\t{index_bytes or file_bytes}\t{file_bytes}")


def sweep(a):
    """The points of the sweep as (label, settings) pairs."""
    if a.system.endswith("hnsw") or a.system == "hnswlib-py":
        return [(f"ef={e}", {"ef": e}) for e in a.ef]
    if a.system == "faiss-ivf_flat":
        return [(f"nprobe={p}", {"nprobe": p}) for p in a.nprobe]
    if a.system == "faiss-ivf_pq":
        return [(f"nprobe={p},refine={r}", {"nprobe": p, "refine": r})
                for r in a.refine for p in a.nprobe]
    return [("exact", {})]


def cmd_search(a):
    test, tn, td = load_queries(a.queries)
    nq, k = len(test), a.k
    if a.system == "hnswlib-py":
        import hnswlib
        index = hnswlib.Index(space="l2", dim=test.shape[1])
        index.load_index(a.index)

        def setup(s, threads):
            """Applies one point of the sweep; returns the search call: queries -> ids."""
            index.set_ef(s["ef"])
            return lambda q: index.knn_query(q, k=k, num_threads=threads)[0]
    else:
        import faiss
        index = faiss.read_index(a.index)
        base = faiss.downcast_index(index.base_index) if a.system == "faiss-ivf_pq" else index

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

    for threads in a.threads:
        for label, s in sweep(a):
            search = setup(s, threads)
            best, spent, r = float("inf"), 0.0, 0
            while r == 0 or (r < max(a.runs, 10) and spent < a.secs
                             and (r < a.runs or spent < a.min_secs)):
                r += 1
                t0 = time.perf_counter()
                if threads == 1 and a.system != "faiss-flat":
                    ids = np.empty((nq, k), dtype=np.int64)
                    for i in range(nq):
                        ids[i] = search(test[i:i + 1])[0]
                else:
                    ids = search(test)
                best = min(best, time.perf_counter() - t0)
                spent += time.perf_counter() - t0
            print(f"{threads}\t{label}\t{recall(ids, tn, td, k):.4f}\t{nq / best:.1f}\t{best:.4f}",
                  flush=True)
    print(f"rss\t{peak_rss_kb()}")


def cmd_recall(a):
    _, tn, td = load_queries(a.queries)
    for path in a.results:
        with h5py.File(path, "r") as f:
            ids = f["neighbors"][:]
        print(f"{recall(ids, tn, td, ids.shape[1]):.4f}")


def ints(s):
    return [int(x) for x in s.replace(",", " ").split()]


def main():
    p = argparse.ArgumentParser(description="FAISS and hnswlib beside vecseg (bench/run)")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("flat")
    c.add_argument("data")
    c.add_argument("k", type=int)
    c.add_argument("threads", type=int)
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
    c = sub.add_parser("recall")
    c.add_argument("queries")
    c.add_argument("results", nargs="+")
    a = p.parse_args()
    {"flat": cmd_flat, "queries": cmd_queries, "export": cmd_export, "build": cmd_build,
     "search": cmd_search, "recall": cmd_recall}[a.cmd](a)


if __name__ == "__main__":
    main()
