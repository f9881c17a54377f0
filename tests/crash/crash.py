#!/usr/bin/python3
"""crash.py - kill vecseg tools with SIGKILL at random moments and check what survives.

    tests/crash/crash.py [--seed S] [--kills N] [--work DIR] [--json FILE] [-v]

Seeded (CRASH_SEED, default 1) and bounded by the number of real kills (CRASH_KILLS, default
300).  The harness plays episodes: a fresh collection (1 to 3 shards, partition keys or not,
l2/ip/cosine, dim 3, 8 or 16, small log-bytes, grace 0 and cold-apart 1 in some) and a random stream of
commands on it: vec-ingest (add with given or automatic ids, --delete, --upsert, creating the
collection), vec-seal --all with every index (flat, hnsw, ivf_flat, ivf_sq8, ivf_pq, -j 1 or 2),
vec-seal --set, vec-shard (--shards N, --split ID, --isolate KEY, --auto) and vec-balance.

Most commands are killed, half at a random moment (a delay drawn uniformly up to 1.2 times
the last run of that kind), half just before a random file-system operation (iotrace.so,
IOTRACE_KILL_AT), so kills land in every phase: while input is read, log records are
appended, segments are written, renamed, fsynced, the manifest and CURRENT are committed,
files are collected.  A kill counts only when the process died of SIGKILL.

The harness keeps its own model of the acknowledged rows (a command that exited 0 is
acknowledged).  After each kill it checks, with tests/vsreader.py and not the library:
  - the rows are exactly the rows before the command or exactly those after it (never a mix,
    no acknowledged row lost, no deleted row back, upserts hold their newest vector);
  - vsreader's cross-file check and `vec-inspect --verify` are clean;
  - on a copy, the next command of every kind succeeds: ingest, delete, upsert, seal, shard
    split, balance, query, and the rows are then what the model says.
Failures of a known defect (common.KNOWN) are counted apart, and are still failures.

Output: one summary (kills per tool, kill phases, failures); exit 1 if anything failed.  Each
failure is printed with the seed, episode and step, the command, the kill point, and the
directory holding the collection before and after.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict

import numpy as np

from common import Gen, Model, Tools, compare, copy_coll, known_category, live_rows, coll_digest, vsreader

INDEXES = ["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]


class Failure(Exception):
    pass


class Harness:
    def __init__(self, seed, kills, work, verbose):
        self.seed, self.target, self.work, self.verbose = seed, kills, work, verbose
        self.rnd = random.Random(seed)
        self.tools = Tools()
        self.gen = Gen(seed, os.path.join(work, "input"))
        self.kills = Counter()             # tool kind -> real SIGKILL deaths
        self.phases = defaultdict(Counter)  # tool kind -> phase -> kills
        self.attempts = Counter()          # kill attempts that finished before the kill
        self.runs = Counter()              # commands run, by kind
        self.known = Counter()             # known-defect category -> occurrences
        self.known_after_kill = Counter()  # ... kills after which a probe hit it
        self.failures = []
        self.est = {}                      # kind -> (ops, seconds) of the last complete run
        self.probes = Counter()
        self.t0 = time.monotonic()
        self.max_failures = 20

    # ---- bookkeeping -------------------------------------------------------------------------

    def log(self, msg):
        if self.verbose:
            print(msg, flush=True)

    def fail(self, ep, step, res, msg, pre=None, post=None):
        n = len(self.failures) + 1
        keep = os.path.join(self.work, "failures", f"{n:03d}")
        os.makedirs(keep, exist_ok=True)
        if n <= 50:  # the collection before and after, to reproduce with the kill point
            if pre and os.path.exists(pre):
                copy_coll(pre, os.path.join(keep, "before"))
            if post and os.path.exists(post):
                copy_coll(post, os.path.join(keep, "after"))
        f = {"seed": self.seed, "episode": ep.idx, "step": step, "command": " ".join(res.argv) if res else "",
             "kill": getattr(res, "kill", None), "phase": res.phase if res else None,
             "rc": res.rc if res else None, "stderr": res.err.strip()[-400:] if res else "", "problem": msg,
             "kept": keep}
        self.failures.append(f)
        print(f"FAIL seed={self.seed} episode={ep.idx} step={step}: {msg}\n  command: {f['command']}\n"
              f"  kill: {f['kill']} phase: {f['phase']} rc: {f['rc']}\n  stderr: {f['stderr']}\n"
              f"  kept: {keep}", flush=True)
        with open(os.path.join(keep, "failure.json"), "w") as fh:
            json.dump(f, fh, indent=1)

    # ---- running one command -----------------------------------------------------------------

    def run(self, ep, kind, tool, args, kill):
        """kill: None, ('op', N) or ('time', seconds)."""
        root = ep.root
        kw = {"trace_root": root}
        if kill and kill[0] == "op":
            kw["kill_at"] = kill[1]
        elif kill:
            kw["kill_after"] = kill[1]
        res = self.tools.run(tool, *args, **kw)
        res.kill = None if not kill else f"{kill[0]}={kill[1]:.4g}" if kill[0] == "time" else f"op={kill[1]}"
        self.runs[kind] += 1
        if res.killed:
            self.kills[kind] += 1
            self.phases[kind][res.phase] += 1
            total = sum(self.kills.values())
            if total % 500 == 0:
                print(f"progress: seed {self.seed}: {total} kills, {len(self.failures)} new failures, "
                      f"{sum(self.known.values())} known-defect failures, {time.monotonic() - self.t0:.0f} s",
                      flush=True)
        elif kill:
            self.attempts[kind] += 1
        if not res.killed and res.rc == 0:
            self.est[kind] = (res.ops or 1, res.secs, res.active or (0, res.secs))
        return res

    def plan_kill(self, kind):
        if self.rnd.random() < 0.2:
            return None
        ops, secs, (first, last) = self.est.get(kind, (40, 0.05, (0, 0.05)))
        r = self.rnd.random()
        if r < 0.5:
            return ("op", self.rnd.randint(1, int(ops * 1.1) + 1))
        if r < 0.9:  # while the last run of this kind was touching files
            return ("time", self.rnd.uniform(first * 0.9, last * 1.1))
        return ("time", self.rnd.uniform(0, secs * 1.2))

    # ---- the checks after a kill -------------------------------------------------------------

    def state_rows(self, ep):
        """Live rows, or None when there is no collection yet."""
        if not os.path.exists(os.path.join(ep.path, "CURRENT")):
            return None, None
        return live_rows(ep.path)

    def after_kill(self, ep, step, res, before, after, pre):
        try:
            found, snap = self.state_rows(ep)
        except (vsreader.Damage, OSError) as e:
            self.fail(ep, step, res, f"independent reader refuses the collection: {e}", pre, ep.path)
            return False
        if found is None:
            if ep.created:
                self.fail(ep, step, res, "CURRENT is gone", pre, ep.path)
                return False
            if before.rows:
                self.fail(ep, step, res, "collection missing", pre, ep.path)
                return False
            ep.model = before
        elif found == before.rows:
            ep.model = before
        elif found == after.rows:
            ep.model = after
        else:
            self.fail(ep, step, res, "rows are neither the state before nor after the command: before: "
                      + "; ".join(compare(before, found)) + " | after: " + "; ".join(compare(after, found)),
                      pre, ep.path)
            return False
        if found is not None:
            ep.created = True
            probs = vsreader.check(ep.path)
            if probs:
                self.fail(ep, step, res, "vsreader check: " + "; ".join(probs[:3]), pre, ep.path)
                return False
            v = self.tools.run("vec-inspect", "--verify", "-q", ep.path)
            if v.rc != 0:
                self.fail(ep, step, res, f"vec-inspect --verify exits {v.rc}: {v.err.strip()}", pre, ep.path)
                return False
        return self.probe(ep, step, res, pre)

    def probe(self, ep, step, killed, pre):
        """On a copy: the next command of every kind succeeds and leaves the rows it should."""
        root = os.path.join(self.work, "probe")
        coll = os.path.join(root, "c")
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(root)
        if os.path.exists(ep.path):
            copy_coll(ep.path, coll)
        pe = Episode(ep.idx, root, coll, ep.shape, ep.model)
        pe.created, pe.next_id = ep.created, ep.next_id
        ok = True
        hit_known = set()
        for kind in ("ingest-add", "ingest-delete", "ingest-upsert", "shard-split", "seal", "balance", "query"):
            op = pe.make(kind, self, probe=True)
            if op is None:
                continue
            tool, args, after, label = op
            digest = coll_digest(coll) if os.path.exists(coll) else None
            r = self.tools.run(tool, *args)
            self.probes[kind] += 1
            if r.rc != 0 and os.path.exists(coll) and coll_digest(coll) != digest:
                # a failed command must leave the collection exactly as it was
                if tool == "vec-shard" and known_category(r.err) == "orphan-log":
                    self.known["split-unlinks-orphan"] += 1
                    hit_known.add("split-unlinks-orphan")
                else:
                    self.fail(ep, step, killed, f"next {kind} fails (exit {r.rc}) and changes the collection: "
                              f"{r.err.strip()}", pre, ep.path)
            if r.rc == 0:
                if kind == "query" and not self.check_query(pe, r):
                    self.fail(ep, step, killed, f"probe query returned an id that is not live: {r.out[:200]}",
                              pre, ep.path)
                    ok = False
                pe.model = after
                pe.created = True
                continue
            cat = known_category(r.err)
            if cat:
                self.known[cat] += 1
                hit_known.add(cat)
            else:
                self.fail(ep, step, killed, f"next {kind} fails after the kill: exit {r.rc}: {r.err.strip()}",
                          pre, ep.path)
            ok = False
        for cat in hit_known:
            self.known_after_kill[cat] += 1
        if os.path.exists(os.path.join(coll, "CURRENT")):
            found, _ = live_rows(coll)
            if found != pe.model.rows:
                self.fail(ep, step, killed, "after the probe commands: " + "; ".join(compare(pe.model, found)),
                          pre, ep.path)
                ok = False
        return ok

    def check_query(self, ep, r):
        for line in r.out.splitlines():
            f = line.split("\t")
            if len(f) == 4 and int(f[2]) not in ep.model.rows:
                return False
        return True

    # ---- episodes ----------------------------------------------------------------------------

    def repair_orphans(self, ep):
        """The known orphan-log defect: remove logs at or above next-ingest-file (only an
        interrupted ingest can have made them) so the stream can go on."""
        m = vsreader.parse_manifest(open(os.path.join(ep.path, vsreader.read_current(ep.path)), "rb").read())
        for n in os.listdir(ep.path):
            if n.startswith("g-") and n.endswith(".log") and int(n[2:10]) >= m.next_ingest_file:
                os.unlink(os.path.join(ep.path, n))

    def episode(self, idx):
        rnd = self.rnd
        root = os.path.join(self.work, f"e{idx % 2}")
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(root)
        shape = {"dim": rnd.choice([3, 8, 16]), "keys": rnd.random() < 0.35,
                 "metric": rnd.choice(["l2", "l2", "ip", "cosine"]), "shards": rnd.choice([1, 1, 2, 3]),
                 "small_logs": rnd.random() < 0.4, "grace0": rnd.random() < 0.4, "cold": rnd.random() < 0.3}
        ep = Episode(idx, root, os.path.join(root, "c"), shape, Model())
        pre = os.path.join(self.work, "pre")
        steps = rnd.randint(20, 45)
        for step in range(steps):
            if sum(self.kills.values()) >= self.target:
                break
            if step == 0:
                kind = "ingest-create"
            elif not ep.created:
                kind = "ingest-create"
            elif step == 1 and (shape["small_logs"] or shape["grace0"] or shape["cold"]):
                kind = "setup"
            else:
                kind = ep.pick(rnd)
            op = ep.make(kind, self)
            if op is None:
                continue
            tool, args, after, label = op
            kill = None if kind == "setup" else self.plan_kill(label)
            if kill:
                copy_coll(ep.path, pre)
            before = ep.model
            digest = coll_digest(ep.path) if os.path.exists(ep.path) else None
            res = self.run(ep, label, tool, args, kill)
            self.log(f"e{idx}.{step} {label} {res.kill} -> rc={res.rc} {res.phase or ''}")
            if res.killed:
                if not self.after_kill(ep, step, res, before, after, pre):
                    return
                continue
            if res.rc != 0:
                cat = known_category(res.err)
                if os.path.exists(ep.path) and coll_digest(ep.path) != digest:
                    if tool == "vec-shard" and cat == "orphan-log":
                        self.known["split-unlinks-orphan"] += 1
                    else:
                        self.fail(ep, step, res, f"a failed command (exit {res.rc}) changed the collection", None,
                                  ep.path)
                        return
                if cat:
                    self.known[cat] += 1
                    self.repair_orphans(ep)
                    res = self.run(ep, label, tool, args, None)
                if res.rc != 0:
                    self.fail(ep, step, res, f"command fails: exit {res.rc}", None, ep.path)
                    return
            ep.model = after
            ep.created = True
            try:
                found, _ = live_rows(ep.path)
            except (vsreader.Damage, OSError) as e:
                self.fail(ep, step, res, f"independent reader refuses the collection: {e}", None, ep.path)
                return
            if found != after.rows:
                self.fail(ep, step, res, "acknowledged command: " + "; ".join(compare(after, found)), None, ep.path)
                return
        if ep.created:
            probs = vsreader.check(ep.path)
            v = self.tools.run("vec-inspect", "--verify", "-q", ep.path)
            if probs or v.rc:
                self.fail(ep, steps, None, f"end of episode: {probs[:3]} verify rc={v.rc} {v.err.strip()}", None,
                          ep.path)

    def main(self):
        idx = 0
        while sum(self.kills.values()) < self.target:
            self.episode(idx)
            idx += 1
            if len(self.failures) >= self.max_failures:
                print(f"stopping: {self.max_failures} failures", flush=True)
                break
        self.episodes = idx


class Episode:
    """One collection and the harness's model of it; make() builds the next command."""

    def __init__(self, idx, root, path, shape, model):
        self.idx, self.root, self.path, self.shape, self.model = idx, root, path, shape, model
        self.created = False
        self.next_id = 0

    def pick(self, rnd):
        kinds = ["ingest-add"] * 5 + ["ingest-auto"] * 2 + ["ingest-delete"] * 3 + ["ingest-upsert"] * 3 + \
                ["seal"] * 7 + ["shard-grow", "shard-split", "shard-split", "shard-auto"] + ["balance"] * 3 + ["set"]
        if self.shape["keys"]:
            kinds += ["shard-isolate"] * 2
        return rnd.choice(kinds)

    def manifest(self):
        return vsreader.parse_manifest(open(os.path.join(self.path, vsreader.read_current(self.path)), "rb").read())

    def new_ids(self, rnd, n):
        ids = []
        for _ in range(n):
            self.next_id += rnd.randint(1, 3)
            ids.append(self.next_id)
        return ids

    def make(self, kind, h, probe=False):
        """(tool, args, model after, label) or None when the kind does not apply now.  A probe
        is never skipped for the size of the collection."""
        rnd, gen, sh, m0 = h.rnd, h.gen, self.shape, self.model
        dim = sh["dim"]
        live = sorted(m0.rows)

        def keys_for(n):
            return [rnd.randint(0, 40) for _ in range(n)] if sh["keys"] else None

        def ingest(ids, vecs, keys, extra, label):
            args = list(extra)
            if ids is not None:
                args += ["--ids", gen.file(ids, "ids")]
            if keys is not None:
                args += ["--keys", gen.file(keys, "keys")]
            if not self.created:
                args += ["-m", sh["metric"], "-s", sh["shards"]]
            args += ["-q", self.path, gen.file(vecs, "v")]
            return "vec-ingest", args, label

        if kind in ("ingest-create", "ingest-add", "ingest-upsert", "ingest-auto"):
            n = rnd.choice([1, 2, 5, 10, 20, 40, 80])
            vecs = gen.vectors(n, dim)
            keys = keys_for(n)
            karr = None if keys is None else np.array(keys, np.int64)
            if kind == "ingest-auto":
                if not self.created:
                    return None
                start = max(self.manifest().next_id, 0)
                ids = list(range(start, start + n))
                self.next_id = max(self.next_id, start + n)
                tool, args, label = ingest(None, vecs, karr, [], "ingest-add")
                return tool, args, m0.add(ids, vecs, keys), label
            if kind == "ingest-upsert":
                old = rnd.sample(live, min(len(live), max(1, n - 2))) if live else []
                ids = old + self.new_ids(rnd, n - len(old))
                rnd.shuffle(ids)
                tool, args, label = ingest(np.array(ids, np.int64), vecs, karr, ["--upsert"], "ingest-upsert")
                return tool, args, m0.add(ids, vecs, keys), label
            ids = self.new_ids(rnd, n)
            label = "ingest-create" if not self.created else "ingest-add"
            tool, args, label = ingest(np.array(ids, np.int64), vecs, karr, [], label)
            return tool, args, m0.add(ids, vecs, keys), label
        if not self.created:
            return None
        if kind == "ingest-delete":
            ids = rnd.sample(live, min(len(live), rnd.choice([1, 3, 10, 30])))
            ids += [self.next_id + 1000]  # never written: a tombstone for nothing is harmless
            if rnd.random() < 0.3 and live:
                ids.append(rnd.choice(live))  # the same id twice
            return ("vec-ingest", ["--delete", "-q", self.path, h.gen.file(np.array(ids, np.int64), "del")],
                    m0.delete(ids), "ingest-delete")
        if kind == "seal":
            ix = rnd.choice(INDEXES)
            args = ["--all", "-q", "--index", ix]
            if ix == "hnsw":
                args += ["--M", rnd.choice([4, 8, 16]), "--ef-construction", rnd.choice([16, 40])]
            if rnd.random() < 0.3:
                args += ["-j", "2"]
            return "vec-seal", args + [self.path], m0, f"seal-{ix}"
        if kind == "setup":
            sets = []
            if sh["small_logs"]:
                sets += ["--set", f"log-bytes={rnd.choice([4096, 8192])}"]
            if sh["grace0"]:
                sets += ["--set", "grace=0"]
            if sh["cold"]:  # SPEC 5.6.1: indexed segments as a .vseg and a .vcold
                sets += ["--set", "cold-apart=1"]
            sets += ["--set", f"split-rows={rnd.choice([100, 150, 400])}"]
            return "vec-seal", sets + [self.path], m0, "seal-set"
        if kind == "set":
            kv = rnd.choice([f"split-rows={rnd.choice([100, 150, 400])}", f"index={rnd.choice(INDEXES)}",
                             f"segment-rows={rnd.choice([100, 200, 1000000])}", "compact-deleted=20",
                             f"cold-apart={rnd.choice([0, 1])}"])
            return "vec-seal", ["--set", kv, self.path], m0, "seal-set"
        m = self.manifest()
        hashed = [s for s in m.shards if s.key is None and s.depth < 20]
        if kind.startswith("shard") and len(m.shards) >= 12 and not probe:
            return None
        if kind == "shard-grow":
            return "vec-shard", ["-q", "--shards", len(m.shards) + rnd.choice([1, 2]), self.path], m0, "shard-grow"
        if kind == "shard-split":
            if not hashed:
                return None
            return "vec-shard", ["-q", "--split", rnd.choice(hashed).id, self.path], m0, "shard-split"
        if kind == "shard-auto":
            return "vec-shard", ["-q", "--auto", self.path], m0, "shard-auto"
        if kind == "shard-isolate":
            return "vec-shard", ["-q", "--isolate", rnd.randint(0, 40), self.path], m0, "shard-isolate"
        if kind == "balance":
            nodes = rnd.choice(["a", "a,b", "a,b,c", "b,c,d", "c"])
            return "vec-balance", ["-q", "--nodes", nodes, self.path], m0, "balance"
        if kind == "query":
            q = [np.frombuffer(m0.rows[i][0], np.float32) for i in rnd.sample(live, min(2, len(live)))]
            if not q:
                q = [h.gen.vectors(1, dim)[0]]
            return ("vec-query", ["-q", "-k", "3", self.path, h.gen.file(np.array(q, np.float32), "q")], m0,
                    "query")
        raise ValueError(kind)


def tool_of(kind):
    return {"ingest": "vec-ingest", "seal": "vec-seal", "shard": "vec-shard", "balance": "vec-balance"}[
        kind.split("-")[0]]


def summary(h, seed, secs):
    by_tool = Counter()
    for k, n in h.kills.items():
        by_tool[tool_of(k)] += n
    return {"seeds": [seed], "kills": sum(h.kills.values()), "episodes": h.episodes, "seconds": secs,
            "kills_per_kind": dict(h.kills), "kills_per_tool": dict(by_tool),
            "finished_first": dict(h.attempts), "phases": {k: dict(v) for k, v in h.phases.items()},
            "known": dict(h.known), "known_after_kill": dict(h.known_after_kill), "failures": h.failures,
            "probes": dict(h.probes), "runs": dict(h.runs)}


def merge(sums):
    out = {"seeds": [], "kills": 0, "episodes": 0, "seconds": 0, "failures": []}
    for s in sums:
        out["seeds"] += s["seeds"]
        out["failures"] += s["failures"]
        for k in ("kills", "episodes"):
            out[k] += s[k]
        out["seconds"] = max(out["seconds"], s["seconds"])
        for k in ("kills_per_kind", "kills_per_tool", "finished_first", "known", "known_after_kill", "probes",
                  "runs"):
            c = Counter(out.get(k, {}))
            c.update(s[k])
            out[k] = dict(c)
        ph = out.setdefault("phases", {})
        for k, v in s["phases"].items():
            c = Counter(ph.get(k, {}))
            c.update(v)
            ph[k] = dict(c)
    return out


def report(s):
    print(f"crash: seeds {','.join(map(str, s['seeds']))}: {s['kills']} kills in {s['episodes']} episodes, "
          f"{s['seconds']:.0f} s")
    print("kills per tool: " + ", ".join(f"{t} {n}" for t, n in sorted(s["kills_per_tool"].items())))
    for k in sorted(s["kills_per_kind"]):
        ph = Counter(s["phases"].get(k, {}))
        top = ", ".join(f"{p} {n}" for p, n in ph.most_common(4))
        print(f"  {k:15s} {s['kills_per_kind'][k]:6d} kills, {len(ph):3d} phases, "
              f"{s['finished_first'].get(k, 0)} finished first; most: {top}")
    print("probe commands after kills: " + ", ".join(f"{k} {n}" for k, n in sorted(s["probes"].items())))
    for cat, n in s["known"].items():
        print(f"known defect '{cat}': {n} failing commands, after {s['known_after_kill'].get(cat, 0)} kills")
    nk = sum(s["known"].values())
    print(f"crash: {len(s['failures'])} new failures, {nk} known-defect failures")
    return len(s["failures"]) + nk


def default_work():
    base = os.environ.get("CRASH_DIR")
    if not base:
        # tmpfs when there is one: fsync is real but costs nothing there, and SIGKILL keeps the
        # page cache whatever the file system (power loss is powerloss.py's business)
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else os.environ.get("TMPDIR", "/tmp")
    return os.path.join(base, f"vecseg-crash.{os.getpid()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", 1)))
    ap.add_argument("--kills", type=int, default=int(os.environ.get("CRASH_KILLS", 300)))
    ap.add_argument("-j", "--jobs", type=int, default=1, help="run N workers, seeds SEED*1000+i")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None, help="write the summary here as JSON")
    ap.add_argument("--max-failures", type=int, default=20, help="stop after this many new failures")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    work = os.path.abspath(a.work or default_work())
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    if a.jobs > 1:
        procs = []
        for i in range(a.jobs):
            share = a.kills // a.jobs + (1 if i < a.kills % a.jobs else 0)
            cmd = [sys.executable, os.path.abspath(__file__), "--seed", str(a.seed * 1000 + i), "--kills", str(share),
                   "--work", os.path.join(work, f"w{i}"), "--json", os.path.join(work, f"w{i}.json"),
                   "--max-failures", str(a.max_failures)]
            procs.append(subprocess.Popen(cmd + (["-v"] if a.verbose else []), stdout=subprocess.PIPE, text=True))
        sums = []
        for i, p in enumerate(procs):
            out, _ = p.communicate()
            for line in out.splitlines():  # failures as the workers found them
                if not line.startswith(("crash:", "kills per tool", "  ", "probe commands", "known defect",
                                        "progress:")) \
                        or line.startswith("  command") or line.startswith("  kill") or line.startswith("  stderr") \
                        or line.startswith("  kept"):
                    print(line)
            sums.append(json.load(open(os.path.join(work, f"w{i}.json"))))
        s = merge(sums)
    else:
        h = Harness(a.seed, a.kills, work, a.verbose)
        h.max_failures = a.max_failures
        h.main()
        s = summary(h, a.seed, time.monotonic() - h.t0)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    bad = report(s)
    if bad == 0 and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
