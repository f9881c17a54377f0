#!/usr/bin/python3
"""docs/billion-rows.py [ROWS]: the tables of docs/billion-rows.md, from SPEC.md's section sizes.

Bytes per row of each index type at dimensions 128 and 768 (segments of SEGMENT_ROWS rows,
the writer's defaults: nlist round(4 sqrt(rows)), pq-m dim/4, HNSW M 16), split into hot and
cold bytes (SPEC 5.6), and the nodes a collection of ROWS rows (default 10^9) needs for given
RAM and disk. Prints Markdown.
"""
import math
import sys

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10**9
SEGMENT_ROWS = 1_000_000          # the segment-rows setting's default
GIB, TB = 2**30, 10**12
RAM_HEADROOM = 1.5                # the memory a node gives the hot bytes: 1.5x them (issue 12's cap)
RAM_OS = 8 * GIB                  # kept for the system, the tools and the cold rows' page cache
DISK_FILL = 0.8                   # disks filled to at most 80%: room for a seal or a split


def pad64(n):
    return (n + 63) // 64 * 64


def per_row(ix, dim, seg=SEGMENT_ROWS):
    """(hot, cold) bytes per row of a segment of seg rows with index ix (SPEC 5.4, 5.5, 5.6).
    Every segment: VECTORS 4*dim (cold once indexed), IDS 8, LSNS 8, NORMS 4, ID_ORDER 4."""
    flat_hot = 8 + 8 + 4 + 4
    vec = 4 * dim
    if ix == "flat":
        return flat_hot + vec, 0.0
    if ix == "hnsw":
        m0 = 32                                           # 2 * M, M = 16
        stride = pad64((dim + 3) // 4 * 4 + 16 + 4 * m0)  # HNSW_NODES block
        upper = 4 * (1 + 17) / 15                         # levels >= 1: 1/M of the nodes per level
        return flat_hot + stride + upper, vec
    nlist = max(1, min(round(4 * math.sqrt(seg)), seg, 65536))
    common = 4 + (4 * nlist * dim + 8 * (nlist + 1) + 64) / seg   # IVF_ROWS, centroids, offsets, meta
    if ix == "ivf_flat":
        return flat_hot + common + vec, vec               # IVF_VECTORS: a list-ordered copy, scanned
    if ix == "ivf_sq8":
        return flat_hot + common + dim + 4 + 8 * dim / seg, vec
    if ix == "ivf_pq":
        m = dim // 4
        return flat_hot + common + m + 4 + 1024 * dim / seg, vec
    raise ValueError(ix)


def fmt_bytes(b):
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b:,.0f} B"


def main():
    ixs = ["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]
    print(f"Bytes per row (segments of {SEGMENT_ROWS:,} rows) and for {ROWS:,} rows:\n")
    print("| dim | index | hot B/row | cold B/row | total B/row | hot, all rows | cold, all rows | on disk, all rows |")
    print("|---|---|---|---|---|---|---|---|")
    for dim in (128, 768):
        for ix in ixs:
            h, c = per_row(ix, dim)
            print(f"| {dim} | {ix} | {h:,.1f} | {c:,.0f} | {h + c:,.1f} | {fmt_bytes(h * ROWS)} "
                  f"| {fmt_bytes(c * ROWS)} | {fmt_bytes((h + c) * ROWS)} |")
    print()
    print(f"Nodes needed to hold {ROWS:,} rows: RAM for {RAM_HEADROOM}x the hot bytes plus "
          f"{RAM_OS // GIB} GiB, disks filled to {DISK_FILL:.0%}; the larger of the two counts "
          "(the collection on shared storage: the disk column is the whole store):\n")
    nodes = [(64, 2), (256, 8)]
    print("| dim | index | " + " | ".join(f"nodes, {r} GiB RAM" for r, _ in nodes)
          + " | " + " | ".join(f"nodes, {d} TB local disk" for _, d in nodes) + " |")
    print("|---|---|" + "---|" * (2 * len(nodes)))
    for dim in (128, 768):
        for ix in ixs:
            h, c = per_row(ix, dim)
            ram = [math.ceil(RAM_HEADROOM * h * ROWS / (r * GIB - RAM_OS)) for r, _ in nodes]
            disk = [math.ceil((h + c) * ROWS / (d * TB * DISK_FILL)) for _, d in nodes]
            print(f"| {dim} | {ix} | " + " | ".join(str(x) for x in ram) + " | "
                  + " | ".join(str(x) for x in disk) + " |")
    print()
    segs = math.ceil(ROWS / SEGMENT_ROWS)
    print(f"Segments: {segs:,} of {SEGMENT_ROWS:,} rows (segment-rows).")


if __name__ == "__main__":
    main()
