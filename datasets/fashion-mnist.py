#!/usr/bin/python3
"""Convert Debian's dataset-fashion-mnist package to an ann-benchmarks HDF5 file.

Reads the IDX image files (train 60000 and t10k 10000 images of 28x28 bytes),
writes train and test as float32 rows of 784 pixel values 0..255, and exact
Euclidean ground truth (100 neighbours per test row) from groundtruth.py.
The file is written under a temporary name and renamed into place.

  datasets/fashion-mnist.py [-o OUT] [--src DIR]
  datasets/fashion-mnist.py --check [-o OUT]
"""

import argparse
import gzip
import os
import sys
import time

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

import groundtruth as gt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = "/usr/share/datasets/fashion-mnist"
K = 100
CHUNK = 8192   # train rows per ground-truth chunk: later chunks need few recomputations


def read_idx_images(path):
    """Images of an IDX3 file (magic 0x00000803, big-endian sizes) as float32 rows."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 16:
        raise ValueError(f"'{path}': too short for an IDX header")
    magic, n, rows, cols = np.frombuffer(data, dtype=">u4", count=4)
    if magic != 0x803:
        raise ValueError(f"'{path}': magic {magic:#010x} is not an IDX3 image file")
    if len(data) != 16 + n * rows * cols:
        raise ValueError(f"'{path}': {len(data) - 16} pixel bytes, header says {n}x{rows}x{cols}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32)


def load(src):
    train = read_idx_images(os.path.join(src, "train-images-idx3-ubyte.gz"))
    test = read_idx_images(os.path.join(src, "t10k-images-idx3-ubyte.gz"))
    return train, test


def check(path, src):
    """Verify the file's layout, its rows against the source, and a sample of ground truth."""
    import h5py
    train, test = load(src)
    with h5py.File(path, "r") as f:
        bad = []
        if f.attrs.get("distance") != "euclidean" or f.attrs.get("dimension") != 784:
            bad.append("attributes distance/dimension are not euclidean/784")
        for name, want in (("train", train), ("test", test)):
            if name in f and not (f[name].shape == want.shape and np.array_equal(f[name][:], want)):
                bad.append(f"dataset '{name}' differs from the source images")
        if "neighbors" in f and f["neighbors"].shape != (len(test), K):
            bad.append(f"neighbors has shape {f['neighbors'].shape}, want {(len(test), K)}")
    bad += gt.check_ann(path, nsample=200)
    return bad


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", default=os.path.join(HERE, "fashion-mnist-784-euclidean.hdf5"),
                   help="output file (default: %(default)s)")
    p.add_argument("--src", default=SRC, help="directory of the IDX files (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="only verify an existing OUT")
    a = p.parse_args()
    t0 = time.time()
    try:
        if a.check:
            gt.log(f"fashion-mnist: checking '{a.output}'")
            bad = check(a.output, a.src)
            for b in bad:
                gt.log(f"fashion-mnist: '{a.output}': {b}")
            gt.log(f"fashion-mnist: '{a.output}': {'bad' if bad else 'ok'} ({time.time() - t0:.1f}s)")
            return 1 if bad else 0
        gt.log(f"fashion-mnist: reading IDX files in '{a.src}'")
        train, test = load(a.src)
        gt.log(f"fashion-mnist: brute-force {K}-NN of {len(test)} test rows over {len(train)} train rows")
        chunks = (train[s:s + CHUNK] for s in range(0, len(train), CHUNK))
        neighbors, distances = gt.knn(test, K, "euclidean", chunks, lambda: [train])
        gt.log(f"fashion-mnist: ground truth done ({time.time() - t0:.1f}s), writing '{a.output}'")
        with gt.AnnWriter(a.output, len(train), train.shape[1], "euclidean") as w:
            w.train[:] = train
            w.put("test", test)
            w.put("neighbors", neighbors)
            w.put("distances", distances)
    except (OSError, ValueError) as e:
        gt.log(f"fashion-mnist: {gt.describe(e, a.output)}")
        return 1
    gt.log(f"fashion-mnist: wrote '{a.output}' ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
