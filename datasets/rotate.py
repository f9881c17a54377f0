#!/usr/bin/python3
"""An ann-benchmarks file under a seeded random rotation, with ground truth recomputed.

A rotation keeps every distance, so the neighbours are those of the source up to float32
rounding, but the values stop being small integers (fashion-mnist's pixels are 0..255): a
search that quantises per dimension can no longer do so losslessly.  The same data, a
different kind of float.

  datasets/rotate.py [--seed S] SRC.hdf5 OUT.hdf5

The rotation is Q of the QR decomposition of a DIM x DIM standard normal matrix drawn from
numpy's default_rng(S), with the signs fixed so that diag(R) > 0 (a Haar-random orthogonal
matrix).  train and test are multiplied by it in float64 and stored as float32; neighbors and
distances are recomputed exactly by groundtruth.py (float32 rounding can reorder near ties).
"""

import argparse
import sys
import time

sys.dont_write_bytecode = True
import h5py  # noqa: E402
import numpy as np  # noqa: E402

import groundtruth as gt  # noqa: E402


def rotation(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("src")
    p.add_argument("out")
    a = p.parse_args()
    t0 = time.time()
    with h5py.File(a.src, "r") as f:
        metric = f.attrs["distance"]
        metric = metric.decode() if isinstance(metric, bytes) else str(metric)
        train, test = f["train"][:], f["test"][:]
        k = f["neighbors"].shape[1]
    rot = rotation(train.shape[1], a.seed)
    train = (train.astype(np.float64) @ rot).astype(np.float32)
    test = (test.astype(np.float64) @ rot).astype(np.float32)
    step = 8192
    chunks = lambda: (train[s:s + step] for s in range(0, len(train), step))
    neighbors, distances = gt.knn(test, k, metric, chunks(), chunks)
    with gt.AnnWriter(a.out, len(train), train.shape[1], metric) as w:
        w.train[:] = train
        w.put("test", test)
        w.put("neighbors", neighbors)
        w.put("distances", distances)
        w.f.attrs["rotation_seed"] = a.seed
    gt.log(f"rotate: wrote '{a.out}' ({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
