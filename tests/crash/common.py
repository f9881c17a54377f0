"""common.py - what the crash, power-loss and concurrency harnesses share.

  Tools      runs the built vecseg tools as real processes (optionally under the iotrace shim)
  Gen        seeded rows, ids, keys and the input files vec-ingest reads
  Model      the rows the harness knows were acknowledged: {id: (vector bytes, key)}
  compare    differences between a model and what vsreader finds
  read_trace the records iotrace.so wrote

Nothing here uses the library under test to decide what a collection holds: rows come from
tests/vsreader.py, written from SPEC.md.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TOP = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
import vsreader  # noqa: E402

BIN = os.environ.get("VECSEG_BIN") or os.path.join(TOP, "build", "bin")
SHIM = os.environ.get("VECSEG_IOTRACE") or os.path.join(TOP, "build", "tests", "iotrace.so")

# Failures the lead knows about and that other branches fix; counted apart, still failures.
KNOWN = {
    # issue 7: a kill between creating g-N.log and the commit leaves a file that blocks every
    # later ingest, upsert and split until a seal after the grace period
    "orphan-log": ("cannot create log: File exists",),
    # issue 7: a file of a reader's snapshot removed by a seal's garbage collection is exit 66,
    # not the retryable 75
    "removed-under-reader": ("cannot open segment: No such file or directory",
                             "cannot open log: No such file or directory"),
    # issue 7: a vec-shard split that fails on that orphan unlinks it: a failed command changed
    # the collection (the harness reports this category itself, see crash.py)
    "split-unlinks-orphan": ("(harness: vec-shard failed and changed the collection)",),
}


def known_category(stderr):
    for name, sigs in KNOWN.items():
        if any(s in stderr for s in sigs):
            return name
    return None


# ---- processes --------------------------------------------------------------------------------

class Result:
    def __init__(self, argv, rc, out, err, secs, killed, ops=None, phase=None, active=None):
        self.argv, self.rc, self.out, self.err, self.secs = argv, rc, out, err, secs
        self.killed, self.ops, self.phase = killed, ops, phase
        self.active = active  # (first, last): seconds from start to the first and last traced op

    def __repr__(self):
        return f"<{' '.join(self.argv)} rc={self.rc} killed={self.killed} phase={self.phase}>"


class Tools:
    """Runs vec-* commands.  trace_root: run under iotrace.so, tracing that directory."""

    def __init__(self, bindir=BIN, shim=SHIM):
        self.bindir, self.shim = bindir, shim
        self.env = dict(os.environ)
        self.env.pop("LD_PRELOAD", None)
        # The tools re-execute themselves to set OPENBLAS_CORETYPE (cli/common.c) and OpenBLAS
        # starts a thread per core: set both up front, with the tools' own choice of core,
        # so each of the thousands of short commands starts in a few milliseconds.
        if "OPENBLAS_CORETYPE" not in self.env:
            flags = set()
            try:
                for line in open("/proc/cpuinfo"):
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
            except OSError:
                pass
            if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
                self.env["OPENBLAS_CORETYPE"] = "SkylakeX"
            elif {"avx2", "fma"} <= flags:
                self.env["OPENBLAS_CORETYPE"] = "Haswell"
        self.env.setdefault("OPENBLAS_NUM_THREADS", "1")

    def argv(self, tool, *args):
        return [os.path.join(self.bindir, tool)] + [str(a) for a in args]

    def run(self, tool, *args, stdin=None, timeout=120, trace_root=None, trace_out=None, kill_at=None,
            kill_after=None, nodata=True, env=None):
        """Runs one command.  kill_at: SIGKILL just before the Nth traced operation (needs
        trace_root); kill_after: SIGKILL after that many seconds.  Result.killed is True only
        when the process really died of SIGKILL."""
        argv = self.argv(tool, *args)
        e = dict(self.env)
        if env:
            e.update(env)
        tmp_trace = None
        if trace_root:
            e["LD_PRELOAD"] = self.shim
            e["IOTRACE_ROOT"] = trace_root
            if trace_out is None:
                tmp_trace = trace_out = os.path.join(os.path.dirname(trace_root.rstrip("/")),
                                                     f".iotrace.{os.getpid()}")
                if os.path.exists(tmp_trace):
                    os.unlink(tmp_trace)
            e["IOTRACE_OUT"] = trace_out
            if nodata:
                e["IOTRACE_NODATA"] = "1"
            if kill_at:
                e["IOTRACE_KILL_AT"] = str(kill_at)
        t0 = time.monotonic_ns()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        if kill_after is not None:
            try:
                out, err = p.communicate(stdin, timeout=kill_after)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                out, err = p.communicate()
        else:
            try:
                out, err = p.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                out, err = p.communicate()
                err += b"\n(harness: timed out)"
        secs = (time.monotonic_ns() - t0) / 1e9
        killed = p.returncode == -signal.SIGKILL
        ops = phase = active = None
        if trace_root and killed:
            phase = "startup"  # killed before the shim's first record
        if trace_root and trace_out and os.path.exists(trace_out):
            recs = read_trace(trace_out, root=trace_root)
            ops = max([r.seq for r in recs if r.op != "KILL"], default=0)
            ts = [r.ts for r in recs if r.op != "KILL"]
            if ts:
                active = ((min(ts) - t0) / 1e9, (max(ts) - t0) / 1e9)
            if killed:
                phase = kill_phase(recs, trace_root)
            if tmp_trace:
                os.unlink(tmp_trace)
        return Result(argv, p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), secs,
                      killed, ops, phase, active)


# ---- traces -----------------------------------------------------------------------------------

OPS = {1: "OPEN", 2: "WRITE", 3: "TRUNC", 4: "FSYNC", 5: "FDATASYNC", 6: "RENAME", 7: "UNLINK", 8: "MKDIR",
       9: "RMDIR", 10: "KILL"}
F_CREATED, F_TRUNC, F_DIR = 1, 2, 4
REC = struct.Struct("<IIQQQQiIIIIIQ")


class Rec:
    __slots__ = ("op", "seq", "ino", "off", "len", "result", "flags", "path", "path2", "data", "pid", "ts")

    def __repr__(self):
        return f"{self.seq}:{self.op}:{self.path}{'->' + self.path2 if self.path2 else ''}"


def read_trace(path, root=None):
    """Records of an iotrace file, paths made relative to root when given."""
    with open(path, "rb") as f:
        d = f.read()
    out, o = [], 0
    pre = root.rstrip("/") + "/" if root else None
    while o < len(d):
        magic, op, seq, ino, off, ln, res, fl, pl, pl2, dl, pid, ts = REC.unpack_from(d, o)
        if magic != 0x52544F49:
            raise ValueError(f"{path}: bad record at {o}")
        o += REC.size
        r = Rec()
        r.op, r.seq, r.ino, r.off, r.len, r.result, r.flags, r.pid, r.ts = OPS[op], seq, ino, off, ln, res, fl, pid, ts
        r.path = d[o:o + pl].decode(errors="replace")
        o += pl
        r.path2 = d[o:o + pl2].decode(errors="replace")
        o += pl2
        r.data = d[o:o + dl]
        o += dl
        if pre:
            for a in ("path", "path2"):
                v = getattr(r, a)
                if v.startswith(pre):
                    setattr(r, a, v[len(pre):])
                elif v == pre[:-1]:
                    setattr(r, a, ".")
        out.append(r)
    return out


def file_class(path):
    """A path (relative to the trace root) reduced to its kind, for phase reports: the
    collection directory is 'dir', files are g-*.log, manifest, CURRENT.tmp, ..."""
    if "/" not in path:
        return "dir"
    b = os.path.basename(path).split(" ")[0]
    tmp = b.endswith(".tmp")
    if tmp:
        b = b[:-4]
    for pre, kind in (("g-", "g-*.log"), ("s-", "s-*.vseg"), ("t-", "t-*.tomb"), ("manifest-", "manifest")):
        if b.startswith(pre):
            b = "s-*.vcold" if b.endswith(".vcold") else kind
    return b + (".tmp" if tmp else "")


def kill_phase(recs, root):
    """Where a killed command was: 'before OP FILE' (iotrace kill) or 'after OP FILE' (timed)."""
    for r in recs:
        if r.op == "KILL":
            return f"before {OPS[r.flags]} {file_class(r.path)}"
    done = [r for r in recs if r.op != "KILL"]
    if not done:
        return "startup"
    r = done[-1]
    return f"after {r.op} {file_class(r.path2 or r.path)}"


# ---- data -------------------------------------------------------------------------------------

class Gen:
    """Seeded rows and the input files vec-ingest reads (npy: exact float32 bytes)."""

    def __init__(self, seed, workdir):
        self.rng = np.random.default_rng(seed)
        self.dir = workdir
        self.n = 0
        os.makedirs(workdir, exist_ok=True)

    def vectors(self, n, dim):
        v = self.rng.standard_normal((n, dim)).astype(np.float32)
        v[v == 0] = 1.0  # cosine rows stay non-zero
        return v

    def file(self, arr, tag):
        self.n += 1
        p = os.path.join(self.dir, f"{tag}{self.n}.npy")
        np.save(p, arr)
        return p


class Model:
    """Acknowledged rows: {id: (vector bytes, key or None)}."""

    def __init__(self, rows=None):
        self.rows = dict(rows or {})

    def copy(self):
        return Model(self.rows)

    def add(self, ids, vecs, keys=None):
        m = self.copy()
        for j, i in enumerate(ids):
            m.rows[int(i)] = (vecs[j].tobytes(), None if keys is None else int(keys[j]))
        return m

    def delete(self, ids):
        m = self.copy()
        for i in ids:
            m.rows.pop(int(i), None)
        return m


def live_rows(path):
    """{id: (vector bytes, key)} of a collection by the independent reader."""
    snap = vsreader.Snapshot.open(path)
    return {i: (r.vector.tobytes(), r.key) for i, r in snap.live().items()}, snap


def compare(model, found, limit=5):
    """Differences between the model's rows and those found, as short strings."""
    out = []
    want = model.rows
    missing = [i for i in want if i not in found]
    extra = [i for i in found if i not in want]
    wrong = [i for i in want if i in found and found[i] != want[i]]
    if missing:
        out.append(f"{len(missing)} acknowledged rows missing (e.g. {sorted(missing)[:limit]})")
    if extra:
        out.append(f"{len(extra)} rows that should not be live (e.g. {sorted(extra)[:limit]})")
    if wrong:
        out.append(f"{len(wrong)} rows with another vector or key (e.g. {sorted(wrong)[:limit]})")
    return out


def tree_digest(root, cut=None):
    """One digest of the names and bytes of every file and directory under root (cut: {file
    name: length} reads only the first length bytes of those files)."""
    import hashlib
    h = hashlib.sha256()
    items = []
    cut = cut or {}
    for d, subdirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != ".":
            items.append(("D", rel, b""))
        for f in files:
            p = os.path.normpath(os.path.join(rel, f))
            with open(os.path.join(d, f), "rb") as fh:
                b = fh.read()
            items.append(("F", p, hashlib.sha256(b[:cut[f]] if f in cut else b).digest()))
    for kind, p, dg in sorted(items, key=lambda x: x[1]):
        h.update(kind.encode() + p.encode() + b"\0" + dg)
    return h.hexdigest()


def coll_digest(path):
    """tree_digest of a collection, its growing logs read to their committed length only:
    bytes past it belong to no transaction ([R-LOG-TAIL] lets any ingest cut them)."""
    try:
        m = vsreader.parse_manifest(open(os.path.join(path, vsreader.read_current(path)), "rb").read())
        cut = {g.file: g.length for g in m.growing}
    except (OSError, vsreader.Damage):
        cut = {}
    return tree_digest(path, cut)


def copy_coll(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    if os.path.exists(src):
        shutil.copytree(src, dst, copy_function=shutil.copy2)
