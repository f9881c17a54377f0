#!/usr/bin/python3
"""fixtures.py - seeded test data and an independent brute-force oracle for the bats suite.

Run with Debian's /usr/bin/python3 (NumPy, h5py).  Subcommands:

  vectors OUT     write N seeded rows of dimension D as fvecs, bvecs, ivecs, npy (f4, f8, u1),
                  HDF5 (FILE.h5:/dataset), csv, tsv, txt or raw float32; optional id and key
                  columns for text, and deliberate damage (NaN, Inf, a bad number, a ragged row)
  ids OUT         write a list of ids (ivecs, npy, HDF5 dataset, or text with one id a line)
  ann OUT.h5      an ann-benchmarks file: train, test, neighbors, distances (exact, float64)
  check RESULT    compare vec-query output (TSV, JSON lines or HDF5) with a float64 brute force
  flip FILE OFF   invert the bits of the byte at offset OFF

Rows are a pure function of (seed, n, dim, kind), so a test can write the same rows in two
formats, or the same rows again as queries.  The oracle reads only the formats this script
writes and never calls vecseg, so a bug in the tools' readers cannot hide a bug in search.
"""
import argparse
import json
import sys

import numpy as np


def h5py():
    import h5py as h  # slow to import, and most calls do not need it
    return h


def rows(n, dim, seed, kind):
    """n x dim seeded rows: 'float' (standard normal, float64), 'byte' (0..255) or 'int'."""
    rng = np.random.default_rng(seed)
    if kind == "byte":
        return rng.integers(0, 256, size=(n, dim)).astype(np.float64)
    if kind == "int":
        return rng.integers(-1000, 1000, size=(n, dim)).astype(np.float64)
    return rng.standard_normal((n, dim))


def split_spec(spec):
    """'FILE.h5:/name' -> ('FILE.h5', 'name'); anything else -> (spec, None)."""
    for ext in (".h5:", ".hdf5:"):
        i = spec.find(ext)
        if i >= 0:
            return spec[: i + len(ext) - 1], spec[i + len(ext):].lstrip("/")
    return spec, None


def write_xvecs(path, x, dtype):
    d = x.shape[1]
    with open(path, "wb") as f:
        for r in x:
            np.array([d], "<i4").tofile(f)
            r.astype(dtype).tofile(f)


def write_h5(spec, x, dtype):
    path, name = split_spec(spec)
    with h5py().File(path, "a") as f:
        if name in f:
            del f[name]
        f.create_dataset(name, data=x.astype(dtype))


def fmt_value(v, kind):
    return "%d" % v if kind != "float" else repr(float(np.float32(v)))


def write_text(path, x, sep, a, kind):
    n, d = x.shape
    lines = []
    if a.header:
        names = ["v%d" % j for j in range(d)]
        for col, name in sorted([(a.id_col, "id"), (a.key_col, "key")]):
            if col:
                names.insert(col - 1, name)
        lines.append(sep.join(names))
    for i in range(n):
        fields = [fmt_value(v, kind) for v in x[i]]
        extra = []
        if a.id_col:
            extra.append((a.id_col, str(a.id_start + i)))
        if a.key_col:
            extra.append((a.key_col, str(i % a.keys_mod)))
        for col, val in sorted(extra):
            fields.insert(col - 1, val)
        if a.bad_number_row == i + 1:
            fields[-1] = "1.2.3"
        if a.ragged_row == i + 1:
            fields.pop()
        lines.append(sep.join(fields))
    data = "\n".join(lines) + "\n"
    if path == "-":
        sys.stdout.write(data)
    else:
        with open(path, "w") as f:
            f.write(data)


def cmd_vectors(a):
    kind = a.kind or ("byte" if a.format in ("bvecs", "npy-u1") else "int" if a.format == "ivecs" else "float")
    x = rows(a.n, a.dim, a.seed, kind) + a.offset
    if a.duplicate_row:        # repeat row 1 at this 1-based row
        x[a.duplicate_row - 1] = x[0]
    if a.nan_row:
        x[a.nan_row - 1, a.dim // 2] = np.nan
    if a.inf_row:
        x[a.inf_row - 1, a.dim - 1] = -np.inf if a.inf_row % 2 == 0 else np.inf
    fmt = a.format
    if fmt == "fvecs":
        write_xvecs(a.out, x, "<f4")
    elif fmt == "bvecs":
        write_xvecs(a.out, x, "u1")
    elif fmt == "ivecs":
        write_xvecs(a.out, x, "<i4")
    elif fmt.startswith("npy-"):
        arr = x.astype({"npy-f4": "<f4", "npy-f8": "<f8", "npy-u1": "u1"}[fmt])
        if a.out == "-":
            np.save(sys.stdout.buffer, arr)
        else:
            with open(a.out, "wb") as f:
                np.save(f, arr)
    elif fmt == "h5":
        write_h5(a.out, x, "<f4")
    elif fmt == "raw":
        b = x.astype("<f4").tobytes()
        if a.out == "-":
            sys.stdout.buffer.write(b)
        else:
            with open(a.out, "wb") as f:
                f.write(b)
    elif fmt in ("csv", "tsv", "txt"):
        write_text(a.out, x, {"csv": ",", "tsv": "\t", "txt": "  "}[fmt], a, kind)
    else:
        sys.exit("fixtures.py: unknown format '%s'" % fmt)


def parse_id_list(s):
    out = []
    for part in s.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def cmd_ids(a):
    ids = np.array(parse_id_list(a.list), dtype=np.int64)
    path, name = split_spec(a.out)
    if name is not None:
        write_h5(a.out, ids.reshape(-1), "<i8")
    elif path.endswith(".ivecs"):
        write_xvecs(path, ids.reshape(-1, 1).astype(np.float64), "<i4")
    elif path.endswith(".npy"):
        np.save(path, ids)
    else:
        with open(path, "w") as f:
            f.write("".join("%d\n" % i for i in ids))


def distances(metric, base, queries):
    """Reported distances, float64: Euclidean for l2, -dot for ip, 1 - cosine for cosine."""
    if metric == "l2":
        d2 = (queries ** 2).sum(1)[:, None] + (base ** 2).sum(1)[None, :] - 2 * queries @ base.T
        return np.sqrt(np.maximum(d2, 0))
    if metric == "ip":
        return -(queries @ base.T)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    bn = base / np.linalg.norm(base, axis=1, keepdims=True)
    return 1 - qn @ bn.T


def brute(metric, base, ids, queries, k):
    """Exact top-k, ascending by (distance, id): (ids, distances) of shape (nq, min(k, n))."""
    d = distances(metric, base, queries)
    k = min(k, len(ids))
    order = np.lexsort((np.broadcast_to(ids, d.shape), d), axis=1)[:, :k]
    return ids[order], np.take_along_axis(d, order, 1)


def cmd_ann(a):
    train = rows(a.n, a.dim, a.seed, "float")
    test = rows(a.nq, a.dim, a.seed + 1000, "float")
    nb, dist = brute(a.metric, train, np.arange(a.n), test, a.k)
    with h5py().File(a.out, "w") as f:
        f.create_dataset("train", data=train.astype("<f4"))
        f.create_dataset("test", data=test.astype("<f4"))
        f.create_dataset("neighbors", data=nb.astype("<i4"))
        f.create_dataset("distances", data=dist.astype("<f4"))
        f.attrs["distance"] = {"l2": "euclidean", "ip": "dot", "cosine": "angular"}[a.metric]


def read_vectors(spec):
    """Reads the vectors of a file this script wrote (fvecs, bvecs, ivecs, npy, HDF5 dataset)."""
    path, name = split_spec(spec)
    if name is not None:
        with h5py().File(path, "r") as f:
            return np.asarray(f[name], dtype=np.float64)
    if path.endswith(".npy"):
        return np.load(path).astype(np.float64)
    raw = open(path, "rb").read()
    width = {"fvecs": 4, "ivecs": 4, "bvecs": 1}[path.rsplit(".", 1)[1]]
    d = int(np.frombuffer(raw[:4], "<i4")[0])
    rec = 4 + d * width
    dt = {"fvecs": "<f4", "ivecs": "<i4", "bvecs": "u1"}[path.rsplit(".", 1)[1]]
    return np.array([np.frombuffer(raw[off + 4: off + rec], dt).astype(np.float64)
                     for off in range(0, len(raw), rec)])


def read_results(path, k):
    """vec-query output as {query: [(rank, id, distance), ...]} from TSV, JSON lines or HDF5."""
    res = {}
    if path.endswith(".h5"):
        with h5py().File(path, "r") as f:
            nb, di = np.asarray(f["neighbors"]), np.asarray(f["distances"])
        for q in range(nb.shape[0]):
            res[q] = [(j + 1, int(nb[q, j]), float(di[q, j])) for j in range(nb.shape[1]) if nb[q, j] >= 0]
        return res
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            res[o["query"]] = [(j + 1, i, d) for j, (i, d) in enumerate(zip(o["ids"], o["distances"]))]
            continue
        q, r, i, d = line.split("\t")
        res.setdefault(int(q), []).append((int(r), int(i), float(d)))
    return res


def cmd_check(a):
    """Exit 0 when the result equals brute force over the live rows; print the first difference."""
    base = np.vstack([read_vectors(s) for s in a.base])
    ids = np.array(parse_id_list(a.ids) if a.ids else range(len(base)), dtype=np.int64)
    if len(ids) != len(base):
        sys.exit("check: %d ids for %d rows" % (len(ids), len(base)))
    if a.skip_rows:
        keep = np.ones(len(ids), bool)
        keep[parse_id_list(a.skip_rows)] = False
        base, ids = base[keep], ids[keep]
    if a.exclude:
        keep = ~np.isin(ids, parse_id_list(a.exclude))
        base, ids = base[keep], ids[keep]
    queries = read_vectors(a.queries)
    want_ids, want_d = brute(a.metric, base, ids, queries, a.k)
    got = read_results(a.result, a.k)
    bad = []
    if sorted(got) != list(range(len(queries))):
        bad.append("queries %s, expected 0..%d" % (sorted(got)[:5], len(queries) - 1))
    for q in range(len(queries)):
        hits = got.get(q, [])
        if [h[0] for h in hits] != list(range(1, want_ids.shape[1] + 1)):
            bad.append("query %d: ranks %s, expected 1..%d" % (q, [h[0] for h in hits], want_ids.shape[1]))
            continue
        for j, (rank, i, d) in enumerate(hits):
            tol = 1e-4 * max(1.0, abs(want_d[q, j]))
            if abs(d - want_d[q, j]) > tol:
                bad.append("query %d rank %d: distance %r, expected %r" % (q, rank, d, want_d[q, j]))
            elif i != want_ids[q, j]:
                # a different id is fine only when it ties with the expected one
                alt = np.where(ids == i)[0]
                dq = distances(a.metric, base[alt], queries[q:q + 1])[0] if len(alt) else [np.inf]
                if len(alt) == 0 or abs(dq[0] - want_d[q, j]) > tol:
                    bad.append("query %d rank %d: id %d, expected %d" % (q, rank, i, want_ids[q, j]))
    if bad:
        sys.stderr.write("check: %d difference(s) from brute force; first: %s\n" % (len(bad), "; ".join(bad[:3])))
        sys.exit(1)


def cmd_flip(a):
    with open(a.file, "r+b") as f:
        f.seek(a.offset)
        b = f.read(1)
        f.seek(a.offset)
        f.write(bytes([b[0] ^ 0xFF]))


def main():
    p = argparse.ArgumentParser(prog="fixtures.py")
    sub = p.add_subparsers(dest="cmd", required=True)

    v = sub.add_parser("vectors")
    v.add_argument("out", help="file, '-' for stdout, or FILE.h5:/dataset")
    v.add_argument("--format", required=True,
                   help="fvecs bvecs ivecs npy-f4 npy-f8 npy-u1 h5 csv tsv txt raw")
    v.add_argument("--n", type=int, default=100)
    v.add_argument("--dim", type=int, default=8)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--kind", choices=["float", "byte", "int"])
    v.add_argument("--offset", type=float, default=0.0, help="added to every value (a drifted set)")
    v.add_argument("--header", action="store_true")
    v.add_argument("--id-col", type=int, default=0)
    v.add_argument("--id-start", type=int, default=0)
    v.add_argument("--key-col", type=int, default=0)
    v.add_argument("--keys-mod", type=int, default=7)
    v.add_argument("--nan-row", type=int, default=0)
    v.add_argument("--inf-row", type=int, default=0)
    v.add_argument("--bad-number-row", type=int, default=0)
    v.add_argument("--ragged-row", type=int, default=0)
    v.add_argument("--duplicate-row", type=int, default=0)
    v.set_defaults(fn=cmd_vectors)

    i = sub.add_parser("ids")
    i.add_argument("out", help=".ivecs, .npy, .txt or FILE.h5:/dataset")
    i.add_argument("list", help="ids and ranges: 0-9,20,30-31")
    i.set_defaults(fn=cmd_ids)

    h = sub.add_parser("ann")
    h.add_argument("out")
    h.add_argument("--n", type=int, default=500)
    h.add_argument("--nq", type=int, default=20)
    h.add_argument("--dim", type=int, default=16)
    h.add_argument("--k", type=int, default=10)
    h.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"])
    h.add_argument("--seed", type=int, default=1)
    h.set_defaults(fn=cmd_ann)

    c = sub.add_parser("check")
    c.add_argument("result", help="vec-query output: TSV, JSON lines, or .h5 from --output")
    c.add_argument("--base", action="append", required=True, help="rows, in ingest order")
    c.add_argument("--ids", help="ids of the rows (default 0, 1, ...)")
    c.add_argument("--exclude", help="deleted ids")
    c.add_argument("--skip-rows", help="0-based rows of the bases to leave out (replaced rows)")
    c.add_argument("--queries", required=True)
    c.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"])
    c.add_argument("-k", type=int, default=10)
    c.set_defaults(fn=cmd_check)

    f = sub.add_parser("flip")
    f.add_argument("file")
    f.add_argument("offset", type=int)
    f.set_defaults(fn=cmd_flip)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
