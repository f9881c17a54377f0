#!/usr/bin/python3
"""bench/large_report.py OUT [ROWS...]: the report of `make bench-large` (bench/large).

Reads OUT/run.tsv and, for each ROWS (default: every OUT/<rows>/ that bench/large wrote),
OUT/<rows>/meta.tsv and search.tsv. Writes OUT/report.md, with one line per target of issue 12
(its figure, met or not met), and OUT/query-time.png and OUT/seal-time.png (bench/large.gp).

QPS at a recall level: the sweep's points are in nprobe order; the QPS at the level is
interpolated (log QPS linear in recall) between the last point below it and the first point
reaching it, or that first point's QPS when the sweep starts above the level; a sweep that
never reaches the level has none; a sweep at several refine values (FAISS's) gives the best.
The table also names the first point reaching it.
"""
import math
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import kv, knobs, rows, num, fint, fmb, ratio, sort_key  # noqa: E402

LEVELS = [0.90, 0.95]
SERIES = [("vecseg", "ivf_pq"), ("faiss", "ivf_pq"), ("vecseg", "ivf_flat"), ("faiss", "ivf_flat"),
          ("vecseg", "hnsw")]
NAME = {"vecseg": "vecseg", "faiss": "FAISS (Debian)"}
IXN = {"ivf_pq": "IVF_PQ", "ivf_flat": "IVF_FLAT", "hnsw": "HNSW"}
GOAL_FAISS = 1.3     # issue 12: QPS over FAISS IVF at equal recall, at 4M and 16M
GOAL_GROWTH = 2.0    # 4x the rows costs at most 2x the query time
GOAL_CAP = 2.0       # under a cap of 1.5x the hot bytes, within 2x of uncapped
GOAL_BUSIEST, GOAL_MOVED = 1.10, 1.25


class Size:
    def __init__(self, out, name):
        d = os.path.join(out, name)
        self.name = name
        self.m = kv(os.path.join(d, "meta.tsv"))
        self.rows = int(self.m.get("rows", name))
        self.dim = int(self.m.get("dim", 0) or 0)
        self.search = rows(os.path.join(d, "search.tsv"),
                           ["system", "index", "threads", "knob", "recall", "qps"])

    def points(self, system, index, threads):
        pts = [(num(r["recall"]), num(r["qps"]), r["knob"]) for r in self.search
               if r["system"] == system and r["index"] == index and r["threads"] == str(threads)
               and num(r["recall"]) is not None and num(r["qps"])]
        return sorted(pts, key=lambda p: sort_key(p[2]))

    def at(self, system, index, threads, level, pts=None):
        """(QPS at the level, the first point reaching it) or (None, None); pts: other points
        of the same sweep (recall, qps, knob) than search.tsv's.  A sweep run at several
        refine values (FAISS's) gives the best of them."""
        pts = pts if pts is not None else self.points(system, index, threads)
        best = (None, None)
        for r in sorted({knobs(p[2]).get("refine", 0) for p in pts}):
            q, p = self.at_one(sorted((p for p in pts if knobs(p[2]).get("refine", 0) == r),
                                      key=lambda p: sort_key(p[2])), level)
            if q is not None and (best[0] is None or q > best[0]):
                best = (q, p)
        return best

    @staticmethod
    def at_one(pts, level):
        for i, p in enumerate(pts):
            if p[0] >= level:
                if i == 0 or pts[i - 1][0] >= p[0]:
                    return p[1], p
                lo = pts[i - 1]
                f = (level - lo[0]) / (p[0] - lo[0])
                return math.exp(math.log(lo[1]) + f * (math.log(p[1]) - math.log(lo[1]))), p
        return None, None

    def f(self, key):
        return num(self.m.get(key))

    def label(self):
        return f"{self.rows:,} x {self.dim}"


def verdict(ok):
    return "-" if ok is None else ("**met**" if ok else "**not met**")


def join_figures(line):
    """(busiest over mean, moved over minimum) from vec-balance's summary line."""
    b = re.search(r"busiest node ([0-9.]+) x", line or "")
    m = re.search(r"\(minimum [0-9]+, ([0-9.]+) x\)", line or "")
    return (float(b.group(1)) if b else None, float(m.group(1)) if m else None)


def growth_points(out):
    """{(index, rows): [(recall, qps, knob)]} of OUT/growth.tsv (bench/large's growth step:
    rows index knob recall qps; a file of runs before HNSW joined it has no index column, and
    its points are IVF_PQ's)."""
    g = {}
    for r in rows(os.path.join(out, "growth.tsv"), ["rows", "index", "knob", "recall", "qps"]):
        if not r["qps"]:  # four columns: rows knob recall qps
            r = dict(zip(["rows", "knob", "recall", "qps"], [r["rows"], r["index"], r["knob"], r["recall"]]), index="ivf_pq")
        if num(r["recall"]) is not None and num(r["qps"]):
            g.setdefault((r["index"], int(r["rows"])), []).append((num(r["recall"]), num(r["qps"]), r["knob"]))
    return g


def targets(sizes, run, w, growth):
    w("## Targets of issue 12\n")
    w("| target | size | figure | |")
    w("|---|---|---|---|")
    by = {s.rows: s for s in sizes}
    # 1. 4x the rows, at most 2x the query time (one thread), for every pair of sizes 4x apart:
    # from the growth step (the sizes searched in turn, under one load), else the sweeps
    pairs = [(a, by[a.rows * 4]) for a in sizes if a.rows * 4 in by]
    for a, b in pairs:
        for ix in ("ivf_pq", "ivf_flat", "hnsw"):
            if not a.points("vecseg", ix, 1) and not b.points("vecseg", ix, 1):
                continue
            for lv in LEVELS:
                turn = (ix, a.rows) in growth and (ix, b.rows) in growth
                qa, _ = a.at("vecseg", ix, 1, lv, growth[(ix, a.rows)] if turn else None)
                qb, _ = b.at("vecseg", ix, 1, lv, growth[(ix, b.rows)] if turn else None)
                g = qa / qb if qa and qb else None
                dim = "" if a.dim == b.dim else f" (dimension {a.dim} -> {b.dim})"
                how = "searched in turn" if turn else "from the sweeps (minutes apart)"
                # FAISS's one index over all rows grows on the same data too: what the data asks
                fa, _ = a.at("faiss", ix, 1, lv)
                fb, _ = b.at("faiss", ix, 1, lv)
                peer = f"; FAISS's one index {fa / fb:.2f}x, from its sweeps" if fa and fb else ""
                w(f"| 4x rows <= {GOAL_GROWTH:.0f}x query time, one thread, {IXN[ix]} recall {lv:.2f} "
                  f"| {a.rows:,} -> {b.rows:,}{dim} | {'-' if g is None else f'{g:.2f}x'} ({how}{peer}) "
                  f"| {verdict(None if g is None else g <= GOAL_GROWTH)} |")
    if not pairs:
        w("| 4x rows <= 2x query time | - | no two sizes 4x apart were run | - |")
    # 2. >= 1.3x FAISS IVF at 4M and 16M (shown for every size)
    for s in sizes:
        for ix in ("ivf_pq", "ivf_flat"):
            if not s.points("vecseg", ix, 1) and not s.points("faiss", ix, 1):
                continue
            for t in (1, 2):
                figs, oks = [], []
                for lv in LEVELS:
                    v, _ = s.at("vecseg", ix, t, lv)
                    f, _ = s.at("faiss", ix, t, lv)
                    r = v / f if v and f else None
                    figs.append(f"{lv:.2f}: {'-' if r is None else f'{r:.2f}x'}")
                    oks.append(None if r is None else r >= GOAL_FAISS)
                ok = None if None in oks else all(oks)
                w(f"| >= {GOAL_FAISS}x FAISS IVF QPS at equal recall, {IXN[ix]}, "
                  f"{'1 thread' if t == 1 else '2 threads batched'} | {s.label()} | {'; '.join(figs)} "
                  f"| {verdict(ok) if s.rows >= 4000000 else '(context: the target is at 4M and 16M)'} |")
    # 3. the memory cap: the warm runs (the second of each side), the cold ones beside them
    for s in sizes:
        u, c = s.f("uncapped_warm_qps"), s.f("capped_warm_qps")
        uc, cc = s.f("uncapped_cold_qps"), s.f("capped_cold_qps")
        cold = f"; from a cold cache {uc / cc:.2f}x" if uc and cc else ""
        if u is None:
            w(f"| under a cap of 1.5x hot bytes, within 2x of uncapped | {s.label()} | not measured | - |")
        elif c is None:
            why = next((v for k, v in s.m.items() if k.startswith("fail_capped") or k == "fail_cgroup"), "?")
            w(f"| under a cap of 1.5x hot bytes, within 2x of uncapped | {s.label()} | failed: {why} | **not met** |")
        else:
            w(f"| under a cap of 1.5x hot bytes, within 2x of uncapped | {s.label()} | {u / c:.2f}x the time "
              f"(second run of each){cold} | {verdict(u / c <= GOAL_CAP)} |")
    # 4. the node join
    for s in sizes:
        b, m = join_figures(s.m.get("join_line"))
        w(f"| node join: busiest <= {GOAL_BUSIEST:.2f}x mean | {s.label()} | {'-' if b is None else f'{b:.3f}x'} "
          f"| {verdict(None if b is None else b <= GOAL_BUSIEST)} |")
        w(f"| node join: moved <= {GOAL_MOVED:.2f}x minimum | {s.label()} | {'-' if m is None else f'{m:.2f}x'} "
          f"| {verdict(None if m is None else m <= GOAL_MOVED)} |")
    # 5. MPI ranks bound to cores
    cores = int(run.get("cores", "0") or 0)
    for s in sizes:
        t1, dflt = s.f("fan_mpi_clones_t1"), s.f("fan_mpi_clones_default")
        summ = s.m.get("fan_mpi_summary", "")
        mt = re.search(r"ranks? of ([0-9-]+) thread", summ)
        if t1 is None or dflt is None:
            w(f"| mpirun -np 2 --bind-to core: busy threads <= cores | {s.label()} | not measured | - |")
            continue
        extra = int(dflt - t1)
        per_rank = int(mt.group(1)) if mt and mt.group(1).isdigit() else None
        w(f"| mpirun -np 2 --bind-to core: busy threads <= cores ({cores}) | {s.label()} "
          f"| {mt.group(1) if mt else '?'} search thread(s) per rank; {extra} thread(s) started beyond -t 1's "
          f"| {verdict(None if per_rank is None else extra <= 0 and 2 * per_rank <= cores)} |")
    w("")


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or sorted((d for d in os.listdir(out) if d.isdigit()), key=int)
    sizes = [Size(out, n) for n in names if os.path.exists(os.path.join(out, n, "meta.tsv"))]
    run = kv(os.path.join(out, "run.tsv"))
    lines = []
    w = lines.append
    w("# vecseg at scale (`make bench-large`, issue 12)\n")
    w(f"- CPU: {run.get('cpu', '?')}, {run.get('cores', '?')} cores, flags: {run.get('flags', '').strip() or 'none of avx2/avx512f/avx512bw'}; "
      f"{run.get('mem_gb', '?')} GB RAM")
    w(f"- {run.get('vecseg', '')}; FAISS {run.get('faiss', '?')} (Debian's generic build)")
    w(f"- started {run.get('date', '?')}, load average {run.get('load_start', '?')} at the start, "
      f"{run.get('load_end', '?')} at the end")
    notes = os.path.join(out, "notes.md")
    if os.path.exists(notes):
        w("")
        w(open(notes).read().strip())
    w("")
    growth = growth_points(out)
    targets(sizes, run, w, growth)

    w("## Ingest, seal, bytes\n")
    w("| rows x dim | segments (nlist each) | ingest MB/s (peak RSS MB) | seal IVF_PQ s (RSS MB) | seal IVF_FLAT s (RSS MB) "
      "| seal HNSW s (RSS MB) | FAISS IVF_FLAT build s | FAISS IVF_PQ build s (on its lists) | on disk, IVF_PQ (x raw) "
      "| hot bytes (x raw) | cold bytes | on disk, HNSW (x raw) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in sizes:
        raw = s.f("raw_bytes")
        ing = s.f("ingest_s")
        mbs = raw / ing / 1e6 if raw and ing else None
        disk, hot = s.f("disk_bytes"), s.f("hot_bytes")
        w(f"| {s.label()} | {s.m.get('segments', '-')} ({s.m.get('segment_nlist', '?')}) "
          f"| {'-' if mbs is None else f'{mbs:.0f}'} ({fmb(s.m.get('ingest_rss_kb'))}) "
          f"| {s.m.get('seal_ivf_pq_s', '-')} ({fmb(s.m.get('seal_ivf_pq_rss_kb'))}) "
          f"| {s.m.get('seal_ivf_flat_s', '-')} ({fmb(s.m.get('seal_ivf_flat_rss_kb'))}) "
          f"| {s.m.get('seal_hnsw_s', '-')} ({fmb(s.m.get('seal_hnsw_rss_kb'))}) "
          f"| {s.m.get('build_faiss-ivf_flat_s', '-')} | {s.m.get('build_faiss-ivf_pq_s', '-')} "
          f"| {fint(disk)} ({ratio(disk, raw)}) | {fint(hot)} ({ratio(hot, raw)}) | {fint(s.f('cold_bytes'))} "
          f"| {fint(s.f('hnsw_disk_bytes'))} ({ratio(s.f('hnsw_disk_bytes'), raw)}) |")
    w("")

    w("## QPS at recall@10 0.90 and 0.95\n")
    w("QPS of the searches (vecseg: vec-query's own account of its search; FAISS: its search calls "
      "in-process), interpolated between the sweep's points; in parentheses the first point reaching "
      "the level. One thread searches one query at a time; two threads search the batch. The sizes "
      "ran minutes apart: the growth step below compares them under one load.\n")
    w("| rows x dim | threads | recall | " + " | ".join(f"{NAME[a]} {IXN[b]}" for a, b in SERIES)
      + " | vecseg / FAISS IVF_PQ | vecseg / FAISS IVF_FLAT |")
    w("|---|---|---|" + "---|" * (len(SERIES) + 2))
    for s in sizes:
        for t in (1, 2):
            for lv in LEVELS:
                cells, q = [], {}
                for a, b in SERIES:
                    v, p = s.at(a, b, t, lv)
                    q[(a, b)] = v
                    cells.append("-" if v is None else f"{v:,.0f} ({p[2]}, {p[0]:.3f})")
                w(f"| {s.label()} | {t} | {lv:.2f} | " + " | ".join(cells)
                  + f" | {ratio(q[('vecseg', 'ivf_pq')], q[('faiss', 'ivf_pq')])}"
                  + f" | {ratio(q[('vecseg', 'ivf_flat')], q[('faiss', 'ivf_flat')])} |")
    w("")

    if growth:
        w("### Growth: the sizes searched in turn\n")
        w("One thread, the points of each sweep around recall 0.90 and 0.95, the sizes' "
          "queries run in turn (best of the rounds), so all sizes ran under the same load:\n")
        w("| index | rows | point | recall | QPS |")
        w("|---|---|---|---|---|")
        for ix, r in sorted(growth, key=lambda g: (list(IXN).index(g[0]), g[1])):
            for p in sorted(growth[(ix, r)], key=lambda p: sort_key(p[2])):
                w(f"| {IXN[ix]} | {r:,} | {p[2]} | {p[0]:.4f} | {p[1]:,.0f} |")
        w("")

    w("## Fan-out, memory cap, split, node join\n")
    w("| rows x dim | vec-query -t 1 s | -j 2 s (same answers) | mpirun -np 2 --bind-to core s (same answers) | MPI summary "
      "| cap bytes | uncapped QPS cold, warm (major faults; peak RSS MB) | capped QPS cold, warm (major faults; peak RSS MB) |")
    w("|---|---|---|---|---|---|---|---|")

    def side(s, name):
        g = s.m.get
        return (f"{g(name + '_cold_qps', '-')}, {g(name + '_warm_qps', '-')} "
                f"({g(name + '_cold_majflt', '-')}, {g(name + '_warm_majflt', '-')}; "
                f"{fmb(g(name + '_warm_rss_kb'))})")
    for s in sizes:
        w(f"| {s.label()} | {s.m.get('fan_j1_s', '-')} | {s.m.get('fan_j2_s', '-')} ({s.m.get('fan_j2_same', '-')}) "
          f"| {s.m.get('fan_mpi_s', '-')} ({s.m.get('fan_mpi_same', '-')}) | {s.m.get('fan_mpi_summary', '-')} "
          f"| {fint(s.f('cap_bytes'))} | {side(s, 'uncapped')} | {side(s, 'capped')} |")
    w("")
    for s in sizes:
        w(f"- {s.label()}: split (`vec-shard --split 0`): {s.m.get('split_s', '-')} s, `{s.m.get('split_line', '-')}`; "
          f"a fifth node joining four (`vec-balance`): {s.m.get('join_s', '-')} s, `{s.m.get('join_line', '-')}`")
    w("")

    fails = [(s, k[5:], v) for s in sizes for k, v in s.m.items() if k.startswith("fail_")]
    if fails:
        w("## Steps that failed\n")
        for s, step, why in fails:
            w(f"- {s.label()}: {step}: {why or '(no message)'}")
        w("")

    w("## Time per size\n")
    for s in sizes:
        w(f"- {s.label()}: {s.m.get('minutes', '?')} min (load {s.m.get('load_start', '?')} at the start, "
          f"{s.m.get('load_end', '?')} at the end)")
    w("")

    pngs = plots(out, sizes)
    for p in pngs:
        w(f"![{os.path.basename(p)}]({os.path.basename(p)})\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def plots(out, sizes):
    """query-time.png (ms per query at recall 0.95, one thread) and seal-time.png (seconds)
    against rows, log-log, one line per system and index."""
    made = []
    q = os.path.join(out, "query-time.dat")
    with open(q, "w") as f:
        f.write("rows " + " ".join(f'"{NAME[a]} {IXN[b]}"' for a, b in SERIES) + "\n")
        for s in sizes:
            vals = [s.at(a, b, 1, 0.95)[0] for a, b in SERIES]
            f.write(f"{s.rows} " + " ".join("NaN" if v is None else f"{1000 / v:.4f}" for v in vals) + "\n")
    b = os.path.join(out, "seal-time.dat")
    keys = [("seal_ivf_pq_s", "vecseg IVF_PQ seal"), ("seal_ivf_flat_s", "vecseg IVF_FLAT seal"), ("seal_hnsw_s", "vecseg HNSW seal"),
            ("build_faiss-ivf_flat_s", "FAISS IVF_FLAT build"), ("build_faiss-ivf_pq_s", "FAISS IVF_PQ build (its lists reused)")]
    with open(b, "w") as f:
        f.write("rows " + " ".join(f'"{n}"' for _, n in keys) + "\n")
        for s in sizes:
            f.write(f"{s.rows} " + " ".join("NaN" if s.f(k) is None else str(s.f(k)) for k, _ in keys) + "\n")
    here = os.path.dirname(os.path.abspath(__file__))
    for dat, png, ylab, title, n in ((q, "query-time.png", "ms per query (log)", "query time at recall@10 0.95, one thread", len(SERIES)),
                                     (b, "seal-time.png", "seconds (log)", "seal and build time", len(keys))):
        path = os.path.join(out, png)
        cmd = f"out='{path}'; dat='{dat}'; n={n}; ylab='{ylab}'; name='{title}'"
        r = subprocess.run(["gnuplot", "-e", cmd, os.path.join(here, "large.gp")], capture_output=True, text=True)
        if r.returncode == 0:
            made.append(path)
        else:
            sys.stderr.write(f"large_report.py: gnuplot failed for {png}: {r.stderr.strip()}\n")
    return made


if __name__ == "__main__":
    main()
