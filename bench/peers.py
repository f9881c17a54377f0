#!/usr/bin/python3
"""The peers' side of `make bench`: FAISS exact search as its users run it.

  bench/peers.py flat DATA.hdf5 K THREADS

Prints one TSV line: peer, build seconds, search seconds, queries/s, recall@K.
Recall counts a hit as found when it is as near as the K-th true neighbour
(ties are not misses), as vec-query --truth does.
"""
import sys
import time

import h5py
import numpy as np


def recall(dist, truth_dist, k):
    lim = truth_dist[:, k - 1:k]
    return float(np.mean(np.sum(dist[:, :k] <= lim + 1e-4 * np.abs(lim) + 1e-6, axis=1) / k))


def main():
    what, path, k, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    f = h5py.File(path, "r")
    train = np.ascontiguousarray(f["train"][:], dtype=np.float32)
    test = np.ascontiguousarray(f["test"][:], dtype=np.float32)
    tdist = f["distances"][:]
    if what == "flat":
        import faiss
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index = faiss.IndexFlatL2(train.shape[1])
        index.add(train)
        t1 = time.perf_counter()
        d, _ = index.search(test, k)
        t2 = time.perf_counter()
        print(f"faiss IndexFlatL2\t{t1 - t0:.3f}\t{t2 - t1:.3f}\t{len(test) / (t2 - t1):.0f}\t"
              f"{recall(np.sqrt(np.maximum(d, 0)), tdist, k):.4f}")
    else:
        sys.exit(f"peers.py: unknown peer '{what}'")


if __name__ == "__main__":
    main()
