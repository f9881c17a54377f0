#!/usr/bin/python3
"""bench/report.py OUT [SET...]: the report of `make bench` from bench/run's measurements.

Reads OUT/run.tsv and, for each SET (default: every OUT/<set>/ that bench/run wrote, in the
order of bench/run's sets), OUT/<set>/meta.tsv, builds.tsv, search.tsv and startup.tsv.
OUT/notes.md, if present, is quoted after the machine. Writes OUT/report.md and OUT/<set>.png (recall@10 against queries per second, 1 thread
beside batched, drawn by bench/plot.gp with gnuplot).

The report reads the targets of issue 10 directly. For each set, mode (one query at a time
on one thread; batched on two) and index, it gives vecseg's and the peer's best measured QPS
among the sweep's points with recall@10 >= 0.95 and >= 0.99 and their ratio (the peer:
hnswlib -march=native for HNSW, FAISS for IVF and exact search), the highest recall each
sweep reaches (does vecseg's stop below the peer's?), build seconds and their ratio, and
for IVF_PQ with refine the file against the raw vectors. Exact search one query at a time is
held against the memory bandwidth, and one query as a whole command is taken apart into its
costs (startup.tsv).
"""
import math
import os
import re
import subprocess
import sys

SYS = {"vecseg": "vecseg", "hnswlib": "hnswlib -march=native",
       "faiss": "FAISS (Debian)", "hnswlib-py": "hnswlib (Debian python, generic)"}
IX = {"flat": "exact", "hnsw": "HNSW", "ivf_flat": "IVF_FLAT", "ivf_pq": "IVF_PQ", "ivf_sq8": "IVF_SQ8"}
ORDER_SYS = ["vecseg", "hnswlib", "faiss", "hnswlib-py"]
ORDER_IX = ["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]
ORDER_SETS = ["fashion", "fashion-rot", "wordvecs", "lowcontrast", "clustered1m"]
# the peer each vecseg index is held to
PEER = {"hnsw": "hnswlib", "ivf_flat": "faiss", "ivf_sq8": "faiss", "ivf_pq": "faiss", "flat": "faiss"}
# plot styles: the colour tells the index (hnswlib -march=native, the bar, has its own), the
# dash the system (vecseg and hnswlib -march=native solid, FAISS dashed, hnswlib python dotted)
COLOUR = {"flat": "#000000", "hnsw": "#d62728", "ivf_flat": "#1f77b4"}
REFINE_COLOURS = {"ivf_pq": ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#bcbd22"],
                  "ivf_sq8": ["#17becf", "#7f7f7f", "#393b79"]}
DASH = {"vecseg": 1, "hnswlib": 1, "faiss": 2, "hnswlib-py": 4}
POINT = {"vecseg": 7, "hnswlib": 9, "faiss": 4, "hnswlib-py": 12}
TARGETS = [0.95, 0.99]
GOAL = 1.3   # the issue's QPS ratio for HNSW and IVF


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


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def mode(t):
    return "1 thread, one at a time" if t == 1 else f"{t} threads, batched"


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
    return (d.get("refine", 0), d.get("ef", 0), d.get("nprobe", 0), knob)


def best_at(points, level):
    """The measured point (recall, qps, knob) with the most QPS among those with recall >=
    level, or None."""
    reach = [p for p in points if p[0] >= level]
    return max(reach, key=lambda p: p[1]) if reach else None


def top_recall(points):
    return max((p[0] for p in points), default=None)


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
                            "rss_kb", "note", "search_qps"])
        self.startup = rows(os.path.join(d, "startup.tsv"), ["name", "mean", "sd", "min", "median"])
        self.threads = [int(t) for t in self.meta.get("threads", "1 2").split()]
        self.title = self.meta.get("title", name)

    def points(self, system, index, threads, refine=None, knob=None, whole=False):
        """(recall, qps, knob) of the sweep; exact search one at a time (knob exact1) only
        when asked for by knob. QPS of the search calls (vec-query's own account of its
        search for vecseg), or with whole, of vecseg's whole vec-query command."""
        pts = []
        for r in self.search:
            if (r["system"], r["index"], r["threads"]) != (system, index, str(threads)):
                continue
            if (r["knob"] == "exact1") != (knob == "exact1"):
                continue
            if refine is not None and knobs(r["knob"]).get("refine", 0) != refine:
                continue
            q = num(r["qps"]) if whole else (num(r["search_qps"]) or num(r["qps"]))
            if num(r["recall"]) is not None and q:
                pts.append((num(r["recall"]), q, r["knob"]))
        return pts

    def exact(self, system, t, whole=False):
        """The exact-search point of mode t: one at a time (exact1) on 1 thread, else batched."""
        pts = self.points(system, "flat", t, knob="exact1" if t == 1 else None, whole=whole)
        return pts[0] if pts else None

    def build(self, system, index):
        for b in self.builds:
            if (b["system"], b["index"]) == (system, index):
                return b
        return None

    def build_s(self, system, index):
        b = self.build(system, index)
        return num(b["build_s"]) if b and b["status"] == "ok" else None

    def raw_bytes(self):
        return int(self.meta.get("rows", 0)) * int(self.meta.get("dim", 0)) * 4

    def series(self):
        """(label, system, index, refine, colour, dash, point) for every configuration
        measured, in report order."""
        out = []
        for s in ORDER_SYS:
            for ix in ORDER_IX:
                rs = [r for r in self.search if (r["system"], r["index"]) == (s, ix) and num(r["qps"])
                      and r["knob"] != "exact1"]
                if not rs:
                    continue
                style = (DASH[s], POINT[s])
                if ix in REFINE_COLOURS:
                    refs = sorted({knobs(r["knob"]).get("refine", 0) for r in self.search if r["index"] == ix})
                    for ref in sorted({knobs(r["knob"]).get("refine", 0) for r in rs}):
                        col = REFINE_COLOURS[ix][refs.index(ref) % len(REFINE_COLOURS[ix])]
                        out.append((f"{SYS[s]} {IX[ix]} refine={ref}", s, ix, ref, col) + style)
                else:
                    col = "#e377c2" if s == "hnswlib" else COLOUR[ix]
                    out.append((f"{SYS[s]} {IX[ix]}", s, ix, None, col) + style)
        return out


def bandwidth(run):
    """{threads: GB/s} from run.tsv's 'bandwidth' ('1=6.5 2=6.4')."""
    out = {}
    for part in run.get("bandwidth", "").split():
        t, _, g = part.partition("=")
        if num(t) and num(g):
            out[int(t)] = num(g)
    return out


def exact1_limit(st, run):
    """(vecseg exact1 qps, the bandwidth-limit qps, their quotient) or Nones: the limit
    vecseg_exact1 measured beside its searches (reading the same bytes, alternating with
    them), else the run's one-thread bandwidth (measured once, under another load)."""
    bw = bandwidth(run).get(1)
    p = st.exact("vecseg", 1)
    lim = bw * 1e9 / st.raw_bytes() if bw and st.raw_bytes() else None
    notes = [r.get("note", "") for r in st.search
             if (r["system"], r["index"], r["knob"]) == ("vecseg", "flat", "exact1")]
    side = [num(x) for n in notes for x in re.findall(r"read limit ([0-9.]+) q/s", n)]
    lim = side[0] if side and side[0] else lim
    return (p[1] if p else None), lim, (p[1] / lim if p and lim else None)


def at_a_glance(sets, run, w):
    """One table: every set and mode, the QPS ratio at each level for each index."""
    w("## Targets at a glance\n")
    w(f"vecseg's best QPS over its peer's at recall@10 >= 0.95 / >= 0.99, each the best measured "
      f"point of its sweep reaching the level (HNSW: hnswlib -march=native; IVF: FAISS; goal "
      f">= {GOAL}x). QPS of the searches alone: the peers' search calls in-process, vecseg's own "
      f"account of its search inside vec-query; in parentheses, vecseg as the whole vec-query "
      f"command (process start, libraries, opening the collection, reading the queries, writing "
      f"the results: a fixed cost per command, over the run's queries). 'v<' means vecseg's "
      f"sweep never reaches the level while the peer's does, 'p<' the reverse, 'none' neither. "
      f"Exact, one at a time: vecseg's QPS as a share of the memory-bandwidth limit (goal >= "
      f"0.9); batched: vecseg / FAISS IndexFlat (goal >= 1.0).\n")
    w("| set | mode | HNSW | IVF_FLAT | IVF_SQ8 | IVF_PQ | exact |")
    w("|---|---|---|---|---|---|---|")
    for st in sets:
        for t in st.threads:
            cells = []
            for ix in ["hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]:
                v, p = st.points("vecseg", ix, t), st.points(PEER[ix], ix, t)
                if not v and not p:
                    cells.append("-")
                    continue
                vw = st.points("vecseg", ix, t, whole=True)
                parts = []
                for level in TARGETS:
                    bv, bp, bw = best_at(v, level), best_at(p, level), best_at(vw, level)
                    parts.append(f"{ratio(bv[1], bp[1])} ({ratio(bw[1], bp[1])})" if bv and bp and bw else
                                 "v<" if bp else "p<" if bv else "none")
                cells.append(" / ".join(parts))
            if t == 1:
                _, _, share = exact1_limit(st, run)
                ex = f"{share:.2f} of bw" if share else "-"
            else:
                v, f, vw = st.exact("vecseg", t), st.exact("faiss", t), st.exact("vecseg", t, whole=True)
                ex = (f"{ratio(v[1] if v else None, f[1] if f else None)} "
                      f"({ratio(vw[1] if vw else None, f[1] if f else None)})")
            w(f"| {st.name} | {mode(t)} | " + " | ".join(cells) + f" | {ex} |")
    w("")


def targets(sets, run, w):
    """Issue 10's targets, each read from the measurements: met, or where not."""
    w("## Targets: met or not\n")
    w("Each target checked on every set and mode measured (search QPS, as at a glance); where it "
      "is not met, the cells that miss it.\n")

    def check(name, misses, measured):
        if not measured:
            w(f"- {name}: not measured.")
        elif misses:
            w(f"- {name}: **not met**: {'; '.join(misses)}.")
        else:
            w(f"- {name}: met ({measured} checks).")

    for ixs, peer_name in [(["hnsw"], "hnswlib -march=native"), (["ivf_flat", "ivf_sq8", "ivf_pq"], "FAISS")]:
        misses, n = [], 0
        for st in sets:
            for t in st.threads:
                for ix in ixs:
                    v, p = st.points("vecseg", ix, t), st.points(PEER[ix], ix, t)
                    for level in TARGETS:
                        bv, bp = best_at(v, level), best_at(p, level)
                        if not bp:
                            continue
                        n += 1
                        if not bv:
                            misses.append(f"{st.name} {IX[ix]} {mode(t)} @{level}: vecseg never reaches it")
                        elif bv[1] < GOAL * bp[1]:
                            misses.append(f"{st.name} {IX[ix]} {mode(t)} @{level}: {bv[1] / bp[1]:.2f}x")
        names = "/".join(IX[i] for i in ixs)
        check(f"{names} >= {GOAL}x {peer_name} at recall 0.95 and 0.99", misses, n)
    misses, n = [], 0
    for st in sets:
        for t in st.threads:
            tv, tp = top_recall(st.points("vecseg", "hnsw", t)), top_recall(st.points("hnswlib", "hnsw", t))
            if tv is None or tp is None:
                continue
            n += 1
            if tv < tp:
                misses.append(f"{st.name} {mode(t)}: {tv:.4f} < {tp:.4f}")
    check("HNSW's highest recall at least hnswlib's (no plateau)", misses, n)
    misses, n = [], 0
    for st in sets:
        vs, ps = st.build_s("vecseg", "hnsw"), st.build_s("hnswlib", "hnsw")
        if vs and ps:
            n += 1
            if vs > ps:
                misses.append(f"{st.name}: {vs / ps:.2f}x hnswlib's seconds")
    check("HNSW build no slower than hnswlib's", misses, n)
    misses, n = [], 0
    for st in sets:
        b = st.build("vecseg", "ivf_pq")
        if not b or b["status"] != "ok" or not st.raw_bytes():
            continue
        n += 1
        fb = num(b["file_bytes"]) / st.raw_bytes()
        reach = any(best_at([x for x in st.points("vecseg", "ivf_pq", t) if knobs(x[2]).get("refine", 0) > 0], 0.95)
                    for t in st.threads)
        if fb >= 1 / 3 or not reach:
            misses.append(f"{st.name}: file {fb:.2f} of the raw vectors" + ("" if reach else ", 0.95 not reached"))
    check("IVF_PQ with refine reaching 0.95 from a file under a third of the raw vectors", misses, n)
    misses, n = [], 0
    for st in sets:
        r = {x["name"]: num(x["mean"]) for x in st.startup if num(x["mean"]) is not None}
        if "query-reexec" in r:
            n += 1
            if r["query-reexec"] >= 5:
                misses.append(f"{st.name}: {r['query-reexec']:.1f} ms mean")
    check("one query on a 60,000-row HNSW collection, whole command, under 5 ms", misses, n)
    misses, n = [], 0
    for st in sets:
        t = max(st.threads)
        v, f = st.exact("vecseg", t), st.exact("faiss", t)
        if t > 1 and v and f:
            n += 1
            if v[1] < f[1]:
                misses.append(f"{st.name}: {v[1] / f[1]:.2f}x")
    check("exact batched >= 1.0x FAISS IndexFlat", misses, n)
    misses, n = [], 0
    for st in sets:
        _, _, share = exact1_limit(st, run)
        if share is not None:
            n += 1
            if share < 0.9:
                misses.append(f"{st.name}: {share:.2f}")
    check("exact one query at a time >= 0.9 of the memory-bandwidth limit", misses, n)
    w("")


def summary(st, run, w):
    m = st.meta
    w(f"### {st.title}\n")
    step = m.get("step", "").split()
    contrast = m.get("contrast", "").split()
    data = [f"{int(m.get('rows', 0)):,} x {m.get('dim')}, {m.get('metric', 'euclidean')}, "
            f"{m.get('queries')} queries, k={m.get('k')}"]
    if len(step) == 3:
        data.append(f"8-bit step (per-dimension range / 255{', unit rows' if m.get('metric') == 'angular' else ''}) "
                    f"{step[0]} to {step[2]}, mean {step[1]}{'; integer values' if m.get('integers') == 'yes' else ''}")
    if "dup_noise" in m:
        data.append(f"generator: centers in [-{m.get('center_range')}, {m.get('center_range')}], "
                    f"{float(m.get('dups', 0)):.0%} of rows copied, every second copy exact, the others with noise "
                    f"sd {m.get('dup_noise')}")
    if len(contrast) == 2:
        data.append(f"true 10th / 1st distance {contrast[0]}, median gap 10th to 11th {contrast[1]} of the 10th")
    w("Data: " + "; ".join(data) + ".\n")

    w("| index (peer) | mode | vecseg >= 0.95 | peer >= 0.95 | ratio | vecseg >= 0.99 | peer >= 0.99 | "
      "ratio | top recall vecseg / peer |")
    w("|---|---|---|---|---|---|---|---|---|")
    for ix in ["hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]:
        peer = PEER[ix]
        for t in st.threads:
            v, p = st.points("vecseg", ix, t), st.points(peer, ix, t)
            if not v and not p:
                continue
            vw = st.points("vecseg", ix, t, whole=True)
            cells = []
            for level in TARGETS:
                bv, bp, bw = best_at(v, level), best_at(p, level), best_at(vw, level)
                cells += [f"{fint(bv[1])} ({bv[2]}; whole {fint(bw[1]) if bw else '-'})" if bv else "not reached",
                          f"{fint(bp[1])} ({bp[2]})" if bp else "not reached",
                          ratio(bv[1] if bv else None, bp[1] if bp else None)]
            tv, tp = top_recall(v), top_recall(p)
            flag = " **(stops lower)**" if tv is not None and tp is not None and tv < tp else ""
            w(f"| {IX[ix]} ({SYS[peer]}) | {mode(t)} | " + " | ".join(cells) +
              f" | {'-' if tv is None else f'{tv:.4f}'} / {'-' if tp is None else f'{tp:.4f}'}{flag} |")
    w("\nQPS: the searches alone (vecseg's own account inside vec-query; the peers' search calls), "
      "with vecseg's whole vec-query command beside it (whole: start-up and file open included); "
      "the knob of the point is in parentheses (refine R: R*k candidates re-ranked exactly). Top "
      "recall: the highest recall@10 the sweep reaches.\n")

    w("| build (2 cores) | vecseg s | peer s | vecseg / peer | vecseg peak RSS MB | peer peak RSS MB |")
    w("|---|---|---|---|---|---|")
    for ix in ["hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]:
        vb, pb = st.build("vecseg", ix), st.build(PEER[ix], ix)
        if vb is None and pb is None:
            continue
        vs, ps = st.build_s("vecseg", ix), st.build_s(PEER[ix], ix)
        w(f"| {IX[ix]} vs {SYS[PEER[ix]]} | {'-' if vs is None else f'{vs:.1f}'} | "
          f"{'-' if ps is None else f'{ps:.1f}'} | {ratio(vs, ps)} | {fmb(vb['rss_kb']) if vb else '-'} | "
          f"{fmb(pb['rss_kb']) if pb else '-'} |")
    w("\nvecseg: the whole vec-seal --all command (reading the growing segment, building, writing "
      "and syncing the file); peers: their build calls in-process. A ratio below 1 is faster.\n")

    raw = st.raw_bytes()
    w(f"IVF_PQ (nlist={m.get('nlist')}, m={m.get('pq_m')}, 8 bits) against the raw vectors "
      f"({raw:,} bytes; a third is {raw // 3:,}):\n")
    w("| system | index bytes / raw | file bytes / raw | best refine point with recall >= 0.95, 1 thread | "
      "same, batched |")
    w("|---|---|---|---|---|")
    for s in ["vecseg", "faiss"]:
        b = st.build(s, "ivf_pq")
        if b is None:
            continue
        if b["status"] != "ok":
            w(f"| {SYS[s]} | failed: {b['note']} | | | |")
            continue
        ib, fb = num(b["index_bytes"]), num(b["file_bytes"])
        cells = []
        for t in st.threads[:2]:
            p = best_at([x for x in st.points(s, "ivf_pq", t) if knobs(x[2]).get("refine", 0) > 0], 0.95)
            cells.append(f"{fint(p[1])} q/s ({p[2]}, recall {p[0]:.4f})" if p else "not reached")
        w(f"| {SYS[s]} | {ib / raw:.3f} ({fbytes(ib)}) | {fb / raw:.3f} ({fbytes(fb)}) | " + " | ".join(cells) + " |")
    vb = st.build("vecseg", "ivf_pq")
    apart = vb is not None and "cold-apart=1" in (vb["params"] or "")
    w("\nIndex bytes: vecseg's index sections (types 16 and up: lists, codebooks, codes); "
      "FAISS's IndexIVFPQ alone. File bytes: vecseg's sealed segment files (`.vseg`), "
      + ("which with cold-apart=1 (SPEC 5.6.1) hold no vectors: the raw vectors the refine step "
         "reads are in `.vcold` files beside them, read only for the candidates; "
         if apart else "which keep the raw vectors the refine step reads; ")
      + "FAISS's IndexRefineFlat file (IVFPQ plus raw vectors).\n")

    v1, lim, share = exact1_limit(st, run)
    f1 = st.exact("faiss", 1)
    bw = bandwidth(run).get(1)
    tmax = max(st.threads)
    vb, fb, vw = st.exact("vecseg", tmax), st.exact("faiss", tmax), st.exact("vecseg", tmax, whole=True)
    w(f"Exact search. One query at a time on one thread (first {m.get('exact1', '?')} queries, "
      f"each reading {raw / 1e6:,.1f} MB of rows): vecseg {fint(v1)} q/s, FAISS {fint(f1[1] if f1 else None)} "
      f"q/s; the read limit is {fint(lim)} q/s (one thread reading the same bytes, measured beside the "
      f"searches; the start's {bw or '?'} GB/s on one thread would give "
      f"{fint(bw * 1e9 / raw) if bw and raw else '-'} q/s), so vecseg runs at "
      f"{'-' if share is None else f'{share:.2f}'} of it. Batched on {tmax} threads: vec-query "
      f"{fint(vb[1] if vb else None)} q/s (its search; {fint(vw[1] if vw else None)} q/s as the whole command), FAISS {fint(fb[1] if fb else None)} q/s: "
      f"{ratio(vb[1] if vb else None, fb[1] if fb else None)}.\n")


def startup_section(st, w):
    """One query as a whole command, taken apart (bench/run's startup)."""
    keys = ("error", "coretype", "libraries", "loader_cycles", "tsc_mhz", "query_line", "load")
    r = {x["name"]: x for x in st.startup if x["name"] not in keys and num(x["mean"]) is not None}
    info = {x["name"]: x["mean"] for x in st.startup if x["name"] in keys}
    if not r:
        if "error" in info:
            w(f"## One query, whole command\n\nnot measured: {info['error']}\n")
        return
    mean = lambda n: num(r[n]["mean"]) if n in r else None
    w(f"## One query, whole command ({st.title}, HNSW)\n")
    w(f"hyperfine -N (no shell), at least 100 runs after 5 warm-ups, load {info.get('load', '?')} "
      f"as it ended. The empty programs are `int main(void) {{ return 0; }}`, linked as named "
      f"(with --no-as-needed, so the libraries load and initialise as in vec-query). "
      f"OPENBLAS_CORETYPE={info.get('coretype') or 'unset'} and OPENBLAS_NUM_THREADS=1 unless the row says unset.\n")
    w("| command | mean ms | sd | min | median |")
    w("|---|---|---|---|---|")
    label = {"noop": "empty C program (process start)",
             "noop-hdf5": "empty program + HDF5 (and what it pulls in)",
             "noop-openblas": "empty program + OpenBLAS",
             "noop-all": "empty program + vec-query's libraries (HDF5, OpenBLAS, zlib)",
             "version": "vec-query --version",
             "query": "vec-query -k 10, one query (OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS set: no re-exec)",
             "version-reexec": "vec-query --version, both unset (re-exec)",
             "query-reexec": "vec-query -k 10, one query, both unset (re-exec): what a user runs"}
    for n in label:
        if n in r:
            x = r[n]
            w(f"| {label[n]} | {num(x['mean']):.2f} | {num(x['sd']):.2f} | {num(x['min']):.2f} | {num(x['median']):.2f} |")
    w("")
    parts = []
    if mean("noop") is not None:
        parts.append(f"process start {mean('noop'):.1f} ms")
    # vec-query opens HDF5 and OpenBLAS only when a step needs them (lib/util/dl.c): what they
    # would cost is context, not a part of its start
    if mean("noop-all") is not None and mean("noop") is not None:
        parts.append(f"loading and initialising the shared libraries, which vec-query opens only when a "
                     f"step needs them (an HNSW query from an fvecs file needs neither), would cost "
                     f"{mean('noop-all') - mean('noop'):.1f} ms "
                     f"(HDF5 {mean('noop-hdf5') - mean('noop'):.1f}, OpenBLAS {mean('noop-openblas') - mean('noop'):.1f})")
    if mean("version") is not None and mean("noop") is not None:
        parts.append(f"vec-query's own start to --version {mean('version') - mean('noop'):.1f} ms")
    if mean("query") is not None and mean("version") is not None:
        parts.append(f"opening the collection, reading the query, searching and writing "
                     f"{mean('query') - mean('version'):.1f} ms")
    if mean("query-reexec") is not None and mean("query") is not None:
        d = mean("query-reexec") - mean("query")
        parts.append(f"the start-up re-exec (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS) {0.0 if abs(d) < 0.05 else d:.1f} ms"
                     + (" (within the noise of the two means)" if abs(d) < 0.1 else ""))
    cyc, mhz = num(info.get("loader_cycles")), num(info.get("tsc_mhz"))
    loader = f"; the dynamic loader alone (LD_DEBUG=statistics, best of 5) {cyc / mhz / 1e3:.1f} ms" if cyc and mhz else ""
    total = mean("query-reexec")
    w(f"Breakdown of the means: {'; '.join(parts)}. vec-query loads {info.get('libraries', '?')} shared "
      f"libraries{loader}. vec-query's own account of the query: `{info.get('query_line', '?')}`. "
      f"Target: under 5 ms for the whole command ({'met' if total is not None and total < 5 else 'not met'}: "
      f"{'-' if total is None else f'{total:.1f}'} ms as a user runs it).\n")


def qps_cell(r):
    """A point's QPS: the search's, and for vecseg the whole command's beside it."""
    q, sq = num(r["qps"]), num(r["search_qps"])
    return f"{fint(sq)} ({fint(q)})" if r["system"] == "vecseg" and sq and r["knob"] != "exact1" else fint(q)


def set_section(st, out, w):
    m = st.meta
    w(f"## {st.title}\n")
    w(f"Run {m.get('date', '?')}: {m.get('minutes', '?')} min; load average (1, 5, 15 min) "
      f"{m.get('load_start', '?')} at the start, {m.get('load_end', '?')} at the end. "
      f"{m.get('rows')} rows x {m.get('dim')} ({m.get('metric', 'euclidean')}), {m.get('queries')} queries, "
      f"k={m.get('k')}, best of {m.get('runs')} runs (fewer once a point's runs add up to "
      f"{m.get('point_secs', '?')} s). Sweeps: ef {m.get('ef')}; nprobe {m.get('nprobe')}; IVF_PQ refine "
      f"{m.get('refine')}; IVF_SQ8 refine {m.get('sq8_refine', '0')}. Systems: {m.get('systems')}; "
      f"indexes: {m.get('indexes')}.\n")

    ex = [r for r in st.search if r["index"] == "flat" and r["system"] in ("vecseg", "faiss")]
    if ex:
        w("### Exact search\n")
        w("| system | how | threads | queries | seconds | queries/s | recall@10 |")
        w("|---|---|---|---|---|---|---|")
        for r in sorted(ex, key=lambda r: (r["knob"] != "exact1", r["threads"], r["system"])):
            how = ("one query per call" if r["knob"] == "exact1" else
                   "vec-query, whole command (queries in sgemm blocks)" if r["system"] == "vecseg" else
                   "one batched call")
            nq = m.get("exact1") if r["knob"] == "exact1" else m.get("queries")
            if num(r["qps"]):
                nq = f"{num(r['qps']) * num(r['seconds']):.0f}"
            w(f"| {SYS[r['system']]} | {how} | {r['threads'] or '-'} | {nq} | {r['seconds'] or '-'} | "
              f"{fint(num(r['qps']))} | {r['recall'] or r['note']} |")
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
    tcols = " | ".join(f"QPS {mode(t)}" for t in st.threads)
    w(f"| system | index | knob | recall@10 | {tcols} | query RSS MB | note |")
    w("|---|---|---|---|" + "---|" * len(st.threads) + "---|---|")
    for s in ORDER_SYS:
        for ix in ORDER_IX:
            rs = [r for r in st.search if (r["system"], r["index"]) == (s, ix) and r["knob"] != "exact1"]
            for r in rs:
                if not r["threads"]:
                    w(f"| {SYS[s]} | {IX[ix]} | - | - |" + " |" * len(st.threads) + f" - | {r['note']} |")
            for knob in sorted({r["knob"] for r in rs if r["threads"]}, key=sort_key):
                by_t = {r["threads"]: r for r in rs if r["knob"] == knob}
                recs = sorted({by_t[t]["recall"] for t in by_t if by_t[t]["recall"]})
                qps = " | ".join(qps_cell(by_t[str(t)]) if str(t) in by_t else "-" for t in st.threads)
                rss = max((num(r["rss_kb"]) or 0 for r in by_t.values()), default=0)
                notes = []
                for t in st.threads:
                    r = by_t.get(str(t))
                    if r and r["note"] and not r["note"].startswith(("search call", "one batched")):
                        notes.append(f"{t}t: {r['note']}")
                w(f"| {SYS[s]} | {IX[ix]} | {knob} | {' / '.join(recs) or '-'} | {qps} | "
                  f"{fmb(rss) if rss else '-'} | {'; '.join(notes)} |")
    w("\nQPS: vecseg's own account of its search inside vec-query (best of the runs), then in "
      "parentheses queries / wall clock of the whole vec-query process (start-up, opening the "
      "collection, reading queries and truth, writing results). Peers: queries / time of their "
      "search calls in one process. One thread: each query its own call, one after another (vec-query -t 1 searches "
      "them one after another, except exact search, which it does in sgemm blocks); batched: all "
      "queries in one call. Query RSS: peak RSS of the process doing the searches.\n")

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
        files.append((path, mode(t)))
    if len(files) == 1:
        files.append(files[0])
    # the targets are at 0.95 and 0.99: show from 0.8 unless nothing reaches it
    xmin = 0.8 if any(x >= 0.85 for x in lows) else max(0.0, math.floor(min(lows or [0.5]) * 10) / 10)
    png = os.path.join(out, f"{st.name}.png")
    title = st.title.replace("'", "")
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
        key=lambda n: (ORDER_SETS.index(n) if n in ORDER_SETS else len(ORDER_SETS), n))
    sets = [Set(out, n) for n in names]
    run = kv(os.path.join(out, "run.tsv"))
    bw = bandwidth(run)
    lines = []
    w = lines.append
    w("# vecseg benchmark\n")
    w(f"{run.get('date', '?')}, {run.get('cores', '?')} cores, {run.get('cpu', '?')} "
      f"(flags: {run.get('flags', '?').strip() or 'no avx2'}); OPENBLAS_CORETYPE={run.get('coretype', 'unset')} "
      f"for vecseg and the peers alike, OMP_WAIT_POLICY={run.get('omp_wait', '?')} (FAISS); "
      f"{run.get('vecseg', '')}; FAISS {run.get('faiss', '?')} and hnswlib {run.get('hnswlib', '?')} "
      f"from Debian; hnswlib_bench built with g++ {run.get('gxx', '?')} -O3 -march=native. Memory "
      f"read bandwidth (bench/bandwidth.c, 2 GB, best of 7): "
      f"{', '.join(f'{g} GB/s on {t} thread(s)' for t, g in sorted(bw.items())) or 'not measured'}. "
      f"Load average (1, 5, 15 min) {run.get('load_start', '?')} at the start of the run and "
      f"{run.get('load_end', '?')} at its end; the whole run took {run.get('minutes', '?')} min. "
      f"The machine is shared: compare ratios, not absolute times; each set gives its own load.\n")
    # a note on how this run was made, when it was not one plain bench/run (OUT/notes.md)
    notes = os.path.join(out, "notes.md")
    if os.path.exists(notes):
        w(open(notes).read().strip() + "\n")
    at_a_glance(sets, run, w)
    targets(sets, run, w)
    w("## Per set\n")
    for st in sets:
        summary(st, run, w)
    for st in sets:
        if st.startup:
            startup_section(st, w)
    for st in sets:
        set_section(st, out, w)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
