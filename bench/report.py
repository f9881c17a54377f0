#!/usr/bin/python3
"""bench/report.py OUT [SET...]: the report of `make bench` from bench/run's measurements.

Reads OUT/run.tsv and, for each SET (default: every OUT/<set>/ that bench/run wrote, fashion
first), OUT/<set>/meta.tsv, builds.tsv and search.tsv. Writes OUT/report.md (a summary that
answers the targets of the issue, then per set: exact search, ingest, builds, and the whole
sweep) and OUT/<set>.png (recall@10 against queries per second, 1 thread beside batched, drawn
by bench/plot.gp with gnuplot).

QPS at a recall level is interpolated on each configuration's Pareto frontier (the sweep's
points that no other point beats in both recall and QPS): log(QPS) linear in recall between
the two frontier points around the level. The best measured point reaching the level is given
beside it. When even the fastest frontier point is above the level, that point's QPS is used
as is (marked >=), since the sweep says nothing cheaper.
"""
import math
import os
import subprocess
import sys

SYS = {"vecseg": "vecseg", "hnswlib": "hnswlib -march=native",
       "faiss": "FAISS (Debian generic)", "hnswlib-py": "hnswlib (Debian python, generic)"}
IX = {"flat": "exact", "hnsw": "HNSW", "ivf_flat": "IVF_FLAT", "ivf_pq": "IVF_PQ", "ivf_sq8": "IVF_SQ8"}
ORDER_SYS = ["vecseg", "hnswlib", "faiss", "hnswlib-py"]
ORDER_IX = ["flat", "hnsw", "ivf_flat", "ivf_pq", "ivf_sq8"]
# plot styles: the colour tells the index (hnswlib -march=native, the bar, has its own), the
# dash the system (vecseg and hnswlib -march=native solid, FAISS dashed, hnswlib python dotted)
COLOUR = {"flat": "#000000", "hnsw": "#d62728", "ivf_flat": "#1f77b4", "ivf_sq8": "#17becf"}
PQ_COLOURS = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#bcbd22"]
DASH = {"vecseg": 1, "hnswlib": 1, "faiss": 2, "hnswlib-py": 4}
POINT = {"vecseg": 7, "hnswlib": 9, "faiss": 4, "hnswlib-py": 12}
TARGETS = [0.95, 0.99]


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t", 1)
            if len(parts) == 2 and parts[0] != "key":
                d[parts[0]] = parts[1]
    return d


def rows(path, names):
    out = []
    if os.path.exists(path):
        for line in open(path):
            if line.strip():
                vals = line.rstrip("\n").split("\t")
                out.append(dict(zip(names, vals + [""] * (len(names) - len(vals)))))
    return out


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fint(x):
    return "-" if x is None else f"{x:,.0f}"


def fmb(kb):
    return "-" if num(kb) is None else f"{num(kb) / 1024:,.0f}"


def fbytes(b):
    return "-" if num(b) is None else f"{int(num(b)):,}"


def knobs(s):
    """'nprobe=8,refine=4' -> {'nprobe': 8, 'refine': 4}; 'exact' -> {}."""
    d = {}
    for part in s.split(","):
        if "=" in part:
            key, val = part.split("=", 1)
            d[key] = int(val)
    return d


def sort_key(knob):
    d = knobs(knob)
    return (d.get("refine", 0), d.get("ef", 0), d.get("nprobe", 0))


def frontier(points):
    """Pareto frontier of (recall, qps, knob) points, by recall ascending."""
    pts = sorted(points, key=lambda p: (-p[0], -p[1]))
    front, top = [], -1.0
    for p in pts:
        if p[1] > top:
            front.append(p)
            top = p[1]
    return sorted(front)


def at_recall(points, target):
    """(qps, how, best) at recall target: how is '', '>=' or 'not reached'; best is the
    best measured point (recall, qps, knob) reaching the target, or None."""
    if not points:
        return None, "no data", None
    reach = [p for p in points if p[0] >= target]
    best = max(reach, key=lambda p: p[1]) if reach else None
    front = frontier(points)
    if front[-1][0] < target:
        return None, f"not reached (max {front[-1][0]:.4f})", None
    if front[0][0] >= target:
        return front[0][1], ">=", best
    for a, b in zip(front, front[1:]):
        if a[0] < target <= b[0]:
            t = (target - a[0]) / (b[0] - a[0])
            return math.exp(math.log(a[1]) + t * (math.log(b[1]) - math.log(a[1]))), "", best
    return None, "no data", None


def cell(points, target):
    q, how, best = at_recall(points, target)
    if q is None:
        return how, None
    s = f"{how}{fint(q)}"
    if best is not None and how != ">=":
        s += f" (best {fint(best[1])} at {best[2]})"
    elif best is not None:
        s += f" (at {best[2]})"
    return s, q


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


class Set:
    def __init__(self, out, name):
        self.name = name
        d = os.path.join(out, name)
        self.meta = kv(os.path.join(d, "meta.tsv"))
        self.builds = rows(os.path.join(d, "builds.tsv"),
                           ["set", "system", "index", "params", "status", "build_s", "rss_kb",
                            "index_bytes", "file_bytes", "note", "load"])
        self.search = rows(os.path.join(d, "search.tsv"),
                           ["set", "system", "index", "threads", "knob", "recall", "qps", "seconds",
                            "rss_kb", "note"])
        self.threads = [int(t) for t in self.meta.get("threads", "1 2").split()]

    def points(self, system, index, threads, refine=None):
        pts = []
        for r in self.search:
            if (r["system"], r["index"], r["threads"]) != (system, index, str(threads)):
                continue
            if refine is not None and knobs(r["knob"]).get("refine", 0) != refine:
                continue
            if num(r["recall"]) is not None and num(r["qps"]):
                pts.append((num(r["recall"]), num(r["qps"]), r["knob"]))
        return pts

    def build(self, system, index):
        for b in self.builds:
            if (b["system"], b["index"]) == (system, index):
                return b
        return None

    def series(self):
        """(label, system, index, refine, colour, dash, point) for every configuration
        measured, in report order."""
        out = []
        refs = sorted({knobs(r["knob"]).get("refine", 0) for r in self.search if r["index"] == "ivf_pq"})
        for s in ORDER_SYS:
            for ix in ORDER_IX:
                rs = [r for r in self.search if (r["system"], r["index"]) == (s, ix) and num(r["qps"])]
                if not rs:
                    continue
                style = (DASH[s], POINT[s])
                if ix == "ivf_pq":
                    for ref in sorted({knobs(r["knob"]).get("refine", 0) for r in rs}):
                        col = PQ_COLOURS[refs.index(ref) % len(PQ_COLOURS)]
                        out.append((f"{SYS[s]} {IX[ix]} refine={ref}", s, ix, ref, col) + style)
                else:
                    col = "#e377c2" if s == "hnswlib" else COLOUR[ix]
                    out.append((f"{SYS[s]} {IX[ix]}", s, ix, None, col) + style)
        return out


def summary(st, w):
    m = st.meta
    rows_n, dim = int(m.get("rows", 0)), int(m.get("dim", 0))
    w(f"### {m.get('title', st.name)}\n")
    w(f"HNSW at M={m.get('M')}, efConstruction={m.get('efc')}; {m.get('queries')} queries, "
      f"k={m.get('k')}. QPS: vecseg is the whole vec-query command, the peers their search call.\n")
    w("| threads | recall@10 | vecseg HNSW | hnswlib -march=native | vecseg / hnswlib | "
      "FAISS HNSW (generic) | vecseg / FAISS | hnswlib python (generic) |")
    w("|---|---|---|---|---|---|---|---|")
    for t in st.threads:
        for target in TARGETS:
            v, vq = cell(st.points("vecseg", "hnsw", t), target)
            h, hq = cell(st.points("hnswlib", "hnsw", t), target)
            f, fq = cell(st.points("faiss", "hnsw", t), target)
            p, _ = cell(st.points("hnswlib-py", "hnsw", t), target)
            mode = "1, one query at a time" if t == 1 else f"{t}, batched"
            w(f"| {mode} | >= {target} | {v} | {h} | {ratio(vq, hq)} | {f} | {ratio(vq, fq)} | {p} |")
    w("")
    bl = []
    for s in ["vecseg", "hnswlib", "faiss", "hnswlib-py"]:
        b = st.build(s, "hnsw")
        if b is None:
            continue
        if b["status"] == "ok":
            bl.append(f"{SYS[s]} {num(b['build_s']):.1f} s (peak RSS {fmb(b['rss_kb'])} MB)")
        else:
            bl.append(f"{SYS[s]} failed: {b['note']}")
    vb, hb = st.build("vecseg", "hnsw"), st.build("hnswlib", "hnsw")
    r = ratio(num(vb["build_s"]) if vb and vb["status"] == "ok" else None,
              num(hb["build_s"]) if hb and hb["status"] == "ok" else None)
    w(f"HNSW build, 2 cores: {'; '.join(bl) or 'not run'}. vecseg / hnswlib build time: {r}.\n")

    tmax = max(st.threads)
    v = st.points("vecseg", "flat", tmax)
    f = st.points("faiss", "flat", tmax)
    vq = v[0][1] if v else None
    fq = f[0][1] if f else None
    w(f"Exact search, batched on {tmax} threads: vecseg {fint(vq)} q/s (recall "
      f"{v[0][0] if v else '-'}), FAISS IndexFlatL2 {fint(fq)} q/s (recall {f[0][0] if f else '-'}): "
      f"vecseg / FAISS {ratio(vq, fq)}.\n")

    raw = rows_n * dim * 4
    w(f"IVF_PQ (nlist={m.get('nlist')}, m={m.get('pq_m')}, 8 bits) reaching recall@10 >= 0.95; "
      f"raw vectors {raw:,} bytes, a third is {raw // 3:,}:\n")
    w("| system | threads | best QPS at recall >= 0.95 | point | index bytes (share of raw) | "
      "file bytes (share of raw) |")
    w("|---|---|---|---|---|---|")
    for s in ["vecseg", "faiss"]:
        b = st.build(s, "ivf_pq")
        if b is None:
            continue
        if b["status"] != "ok":
            w(f"| {SYS[s]} | - | failed: {b['note']} | | | |")
            continue
        ib, fb = num(b["index_bytes"]), num(b["file_bytes"])
        for t in st.threads:
            reach = [p for p in st.points(s, "ivf_pq", t) if p[0] >= 0.95]
            best = max(reach, key=lambda p: p[1]) if reach else None
            w(f"| {SYS[s]} | {t} | {fint(best[1]) if best else 'not reached'} | "
              f"{f'{best[2]} (recall {best[0]:.4f})' if best else '-'} | "
              f"{fbytes(ib)} ({ib / raw:.3f}) | {fbytes(fb)} ({fb / raw:.3f}) |")
    w("")
    w("Index bytes: vecseg's index sections (types 16 and up: IVF lists, codebooks, codes); "
      "FAISS's IndexIVFPQ alone. File bytes: the whole sealed segment file(s), which also keep "
      "the raw vectors, ids and norms (the refine step reads the raw vectors); FAISS: the "
      "IndexRefineFlat file (IVFPQ plus the raw vectors).\n")


def set_section(st, out, w):
    m = st.meta
    w(f"## {m.get('title', st.name)}\n")
    w(f"Run {m.get('date', '?')}: {m.get('minutes', '?')} min; load average (1, 5, 15 min) "
      f"{m.get('load_start', '?')} at the start, {m.get('load_end', '?')} at the end. "
      f"{m.get('rows')} rows x {m.get('dim')}, {m.get('queries')} queries, k={m.get('k')}, "
      f"best of {m.get('runs')} runs (fewer once a point's runs add up to {m.get('point_secs', '?')} s). Sweeps: ef {m.get('ef')}; nprobe {m.get('nprobe')}; "
      f"refine {m.get('refine')}. Systems: {m.get('systems')}; indexes: {m.get('indexes')}.\n")

    tmax = max(st.threads)
    v = [r for r in st.search if (r["system"], r["index"], r["threads"]) == ("vecseg", "flat", str(tmax))]
    f = [r for r in st.search if (r["system"], r["index"], r["threads"]) == ("faiss", "flat", str(tmax))]
    if v or f:
        w(f"### Exact search, batched, {tmax} threads\n")
        w("| | seconds | queries/s | recall@10 | ratio |")
        w("|---|---|---|---|---|")
        fq = num(f[0]["qps"]) if f else None
        for label, rs in (("vec-query (whole command)", v), ("FAISS IndexFlatL2 (search call only)", f)):
            if rs and num(rs[0]["qps"]):
                r = rs[0]
                w(f"| {label} | {num(r['seconds']):.3f} | {fint(num(r['qps']))} | {r['recall']} | "
                  f"{ratio(num(r['qps']), fq)} FAISS |")
            elif rs:
                w(f"| {label} | {rs[0]['note']} | | | |")
        w("")
    if "ingest_s" in m:
        mb = int(m["rows"]) * int(m["dim"]) * 4 / 1e6
        b = st.build("vecseg", "flat")
        seal = f"; vec-seal --all (flat): {num(b['build_s']):.3f} s" if b and b["status"] == "ok" else ""
        w("### Ingest and seal\n")
        w(f"vec-ingest: {mb:.1f} MB in {num(m['ingest_s']):.3f} s = {mb / num(m['ingest_s']):.0f} MB/s "
          f"(whole command, fsync included){seal}\n")

    w("### Builds\n")
    w("| system | index | parameters | build s | peak RSS MB | index bytes | file bytes | load | status |")
    w("|---|---|---|---|---|---|---|---|---|")
    for s in ORDER_SYS:
        for ix in ORDER_IX:
            b = st.build(s, ix)
            if b is None:
                continue
            bs = num(b["build_s"])
            status = b["status"] + (f": {b['note']}" if b["note"] else "")
            w(f"| {SYS[s]} | {IX[ix]} | {b['params'] or '-'} | {'-' if bs is None else f'{bs:.2f}'} | "
              f"{fmb(b['rss_kb'])} | {fbytes(b['index_bytes'])} | {fbytes(b['file_bytes'])} | {b['load'] or '-'} | {status} |")
    w("\nvecseg: vec-seal --all, wall clock and peak RSS of the process (/usr/bin/time); index "
      "bytes are its index sections, file bytes the sealed segment files. Peers: the build call "
      "(train and add) timed in-process with 2 threads, peak RSS of the process (data loaded "
      "included), bytes of the saved index. Load: the 1-minute load average as the build began.\n")

    w("### Recall against queries per second\n")
    tcols = " | ".join(f"QPS {t} thread{'s' if t > 1 else ''}{' (one at a time)' if t == 1 else ' (batched)'}"
                       for t in st.threads)
    w(f"| system | index | knob | recall@10 | {tcols} | query RSS MB | note |")
    w("|---|---|---|---|" + "---|" * len(st.threads) + "---|---|")
    for s in ORDER_SYS:
        for ix in ORDER_IX:
            rs = [r for r in st.search if (r["system"], r["index"]) == (s, ix)]
            for r in rs:
                if not r["threads"]:
                    w(f"| {SYS[s]} | {IX[ix]} | - | - |" + " |" * len(st.threads) + f" - | {r['note']} |")
            for knob in sorted({r["knob"] for r in rs if r["threads"]}, key=sort_key):
                by_t = {r["threads"]: r for r in rs if r["knob"] == knob}
                recs = sorted({by_t[t]["recall"] for t in by_t if by_t[t]["recall"]})
                qps = " | ".join(fint(num(by_t[str(t)]["qps"])) if str(t) in by_t else "-" for t in st.threads)
                rss = max((num(r["rss_kb"]) or 0 for r in by_t.values()), default=0)
                notes = []
                for t in st.threads:
                    r = by_t.get(str(t))
                    if r and r["note"] and not r["note"].startswith("search call"):
                        notes.append(f"{t}t: {r['note']}")
                w(f"| {SYS[s]} | {IX[ix]} | {knob} | {' / '.join(recs) or '-'} | {qps} | "
                  f"{fmb(rss) if rss else '-'} | {'; '.join(notes)} |")
    w("\nQPS: vecseg is queries / wall clock of the whole vec-query process (start-up, opening "
      "the collection, reading queries and truth, writing results), best of the runs; its own "
      "search-only rate is in the note. Peers: queries / time of their search calls in one "
      "process. One thread: each query its own call, one after another; batched: all queries "
      "in one call. Query RSS: peak RSS of the process doing the searches.\n")

    png = plot(st, out)
    if png:
        w(f"![{st.name}]({os.path.basename(png)})\n")


def plot(st, out):
    series = st.series()
    if not series:
        return None
    d = os.path.join(out, st.name)
    files, lows = [], []
    for t in st.threads[:2]:
        path = os.path.join(d, f"plot-{t}.dat")
        with open(path, "w") as f:
            for label, s, ix, ref, *_ in series:
                pts = sorted(st.points(s, ix, t, ref), key=lambda p: sort_key(p[2]))
                f.write(f'"{label}"\n')
                for p in pts:
                    f.write(f"{p[0]} {p[1]}\n")
                    lows.append(p[0])
                if not pts:
                    f.write("NaN NaN\n")
                f.write("\n\n")
        files.append((path, "1 thread, one query at a time" if t == 1 else f"{t} threads, batched"))
    if len(files) == 1:
        files.append(files[0])
    # the targets are at 0.95 and 0.99: show from 0.8 unless nothing reaches it
    xmin = 0.8 if any(x >= 0.85 for x in lows) else max(0.0, math.floor(min(lows or [0.5]) * 10) / 10)
    png = os.path.join(out, f"{st.name}.png")
    title = st.meta.get("title", st.name).replace("'", "")
    cmd = (f"out='{png}'; name='{title}'; xmin={xmin}; n={len(series)}; "
           f"d1='{files[0][0]}'; h1='{files[0][1]}'; d2='{files[1][0]}'; h2='{files[1][1]}'; "
           f"cols='{' '.join(x[4] for x in series)}'; dts='{' '.join(str(x[5]) for x in series)}'; "
           f"pts='{' '.join(str(x[6]) for x in series)}'")
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["gnuplot", "-e", cmd, os.path.join(here, "plot.gp")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(f"report.py: gnuplot failed for {st.name}: {r.stderr.strip()}\n")
        return None
    return png


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: bench/report.py OUT [SET...]")
    out = sys.argv[1]
    names = sys.argv[2:] or sorted(
        (n for n in os.listdir(out) if os.path.exists(os.path.join(out, n, "meta.tsv"))),
        key=lambda n: (n != "fashion", n))
    sets = [Set(out, n) for n in names]
    run = kv(os.path.join(out, "run.tsv"))
    lines = []
    w = lines.append
    w("# vecseg benchmark\n")
    w(f"{run.get('date', '?')}, {run.get('cores', '?')} cores, {run.get('cpu', '?')} "
      f"({run.get('flags', '?')}); OPENBLAS_CORETYPE={run.get('coretype', 'unset')} for vecseg and "
      f"the peers alike, OMP_WAIT_POLICY={run.get('omp_wait', '?')} (FAISS); {run.get('vecseg', '')}; FAISS {run.get('faiss', '?')} and hnswlib "
      f"{run.get('hnswlib', '?')} from Debian; hnswlib_bench built with g++ {run.get('gxx', '?')} "
      f"-O3 -march=native. Ratios matter, absolute times drift; the machine is shared, see the "
      f"load averages per set.\n")
    w("## Summary\n")
    w("QPS at a recall level: interpolated on the configuration's Pareto frontier, log(QPS) "
      "linear in recall between the neighbouring sweep points; the best measured point reaching "
      "the level follows in parentheses. '>=' marks a level that even the fastest point of the "
      "frontier exceeds: its QPS is given, as the sweep says nothing cheaper. Ratios use the "
      "interpolated values.\n")
    for st in sets:
        summary(st, w)
    for st in sets:
        set_section(st, out, w)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
