#!/usr/bin/python3
"""concurrency.py - ingests, seals, splits, balances and queries at once, then the end checks.

    tests/crash/concurrency.py [--seed S] [--seconds T] [--grace G] [--work DIR] [--json FILE]

For T seconds (default 30) real processes run side by side on one collection (2 shards to
start, log-bytes 4096 so logs rotate, grace G seconds, default 1, so files are removed while
readers may still want them):
  - 2 writers, each owning its own ids: vec-ingest adds, --delete and --upsert;
  - 1 sealer: vec-seal --all with a random index (exits 75 when maint.lock is busy);
  - 1 splitter: vec-shard --split of a random shard, up to 8 shards;
  - 1 balancer: vec-balance over a changing node list;
  - 2 queriers: vec-query -k 5 for the vectors of known rows.
A command that exits 0 is acknowledged; one that exits 75 (lock busy, or a retryable
snapshot) changed nothing and is counted apart; any other status is an error.  Every query
hit must be a row that existed in some state: an id some command wrote, at the distance of
one of the vectors written for it.  At the end, with tests/vsreader.py: the rows are exactly
the initial rows plus every acknowledged change (each acknowledged row once, no deleted row
back, upserts holding their newest vector); vsreader's check and `vec-inspect --verify` are
clean; a final seal leaves the same rows.  Exit 1 on any error.
"""
import argparse
import json
import os
import random
import shutil
import sys
import threading
import time
from collections import Counter

import numpy as np

from common import Gen, Model, Tools, compare, known_category, live_rows, vsreader

DIM = 8


class Run:
    def __init__(self, seed, seconds, grace, work):
        self.seed, self.seconds, self.grace, self.work = seed, seconds, grace, work
        self.tools = Tools()
        self.coll = os.path.join(work, "c")
        self.lock = threading.Lock()
        self.exits = Counter()       # (tool kind, status) -> count
        self.errors = []
        self.versions = {}           # id -> list of vectors ever offered for it
        self.queries = Counter()
        self.known = Counter()       # errors of a known defect (common.KNOWN), still errors
        self.stop = time.monotonic() + seconds

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)
            cat = known_category(msg)
            if cat:
                self.known[cat] += 1
            if len(self.errors) <= 10:
                print(f"ERROR seed={self.seed}: {msg}", flush=True)

    def offer(self, ids, vecs):
        with self.lock:
            for i, v in zip(ids, vecs):
                self.versions.setdefault(int(i), []).append(v.copy())

    def run(self, kind, tool, *args):
        r = self.tools.run(tool, *args, timeout=120)
        status = "0" if r.rc == 0 else "75" if r.rc == 75 else f"error {r.rc}"
        with self.lock:
            self.exits[(kind, status)] += 1
        if r.rc not in (0, 75):
            self.error(f"{kind}: {' '.join(r.argv[1:])}: exit {r.rc}: {r.err.strip()}")
        return r

    # ---- workers ------------------------------------------------------------------------------

    def writer(self, w, model):
        rnd = random.Random(self.seed * 100 + w)
        gen = Gen(self.seed * 100 + w, os.path.join(self.work, f"in{w}"))
        next_id = (w + 1) * 1_000_000
        while time.monotonic() < self.stop:
            live = sorted(model[0].rows)
            op = rnd.choice(["add", "add", "delete", "upsert"]) if live else "add"
            if op == "delete":
                ids = rnd.sample(live, min(len(live), rnd.randint(1, 8)))
                r = self.run("ingest-delete", "vec-ingest", "--delete", "-q", self.coll,
                             gen.file(np.array(ids, np.int64), "d"))
                if r.rc == 0:
                    model[0] = model[0].delete(ids)
                continue
            n = rnd.randint(1, 30)
            if op == "upsert":
                ids = rnd.sample(live, min(len(live), n // 2 + 1))
                ids += list(range(next_id, next_id + n - len(ids)))
            else:
                ids = list(range(next_id, next_id + n))
            next_id += n
            vecs = gen.vectors(len(ids), DIM)
            self.offer(ids, vecs)
            extra = ["--upsert"] if op == "upsert" else []
            r = self.run(f"ingest-{op}", "vec-ingest", *extra, "--ids", gen.file(np.array(ids, np.int64), "i"), "-q",
                         self.coll, gen.file(vecs, "v"))
            if r.rc == 0:
                model[0] = model[0].add(ids, vecs)

    def sealer(self):
        rnd = random.Random(self.seed * 100 + 10)
        while time.monotonic() < self.stop:
            ix = rnd.choice(["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"])
            extra = ["--M", "8", "--ef-construction", "32"] if ix == "hnsw" else []
            self.run("seal", "vec-seal", "--all", "-q", "--index", ix, *extra, self.coll)
            time.sleep(rnd.uniform(0, 0.3))

    def splitter(self):
        rnd = random.Random(self.seed * 100 + 11)
        while time.monotonic() < self.stop:
            time.sleep(rnd.uniform(0.5, 2))
            m = None
            # a snapshot as [R-SNAPSHOT] says: a manifest a commit and a grace-0 removal took away
            # between the read of CURRENT and its open is replaced by the one CURRENT names now
            for _ in range(100):
                name = None
                try:
                    name = vsreader.read_current(self.coll)
                    m = vsreader.parse_manifest(open(os.path.join(self.coll, name), "rb").read())
                    break
                except FileNotFoundError as e:
                    if name is not None and vsreader.read_current(self.coll) != name:
                        continue
                    self.error(f"splitter cannot read the manifest: {e}")
                    break
                except (OSError, vsreader.Damage) as e:
                    self.error(f"splitter cannot read the manifest: {e}")
                    break
            if m is None:
                continue
            if len(m.shards) >= 8:
                continue
            s = rnd.choice([s for s in m.shards if s.key is None])
            self.run("shard-split", "vec-shard", "-q", "--split", s.id, self.coll)

    def balancer(self):
        rnd = random.Random(self.seed * 100 + 12)
        while time.monotonic() < self.stop:
            time.sleep(rnd.uniform(0.3, 1.5))
            self.run("balance", "vec-balance", "-q", "--nodes", rnd.choice(["a", "a,b", "a,b,c", "b,c,d"]), self.coll)

    def querier(self, q, initial):
        rnd = random.Random(self.seed * 100 + 20 + q)
        gen = Gen(self.seed * 100 + 20 + q, os.path.join(self.work, f"q{q}"))
        while time.monotonic() < self.stop:
            with self.lock:
                ids = rnd.sample(sorted(self.versions), 3)
                qv = np.array([self.versions[i][-1] for i in ids], np.float32)
            # --refine 1: IVF_SQ8 and IVF_PQ report exact distances (SPEC 5.5.2, Search)
            r = self.run("query", "vec-query", "-k", "5", "--refine", "1", "-q", self.coll, gen.file(qv, "q"))
            if r.rc != 0:
                continue
            self.queries["answered"] += 1
            for line in r.out.splitlines():
                f = line.split("\t")
                qi, hit, dist = int(f[0]), int(f[2]), float(f[3])
                with self.lock:
                    vs = list(self.versions.get(hit, []))
                if not vs:
                    self.error(f"query returned id {hit}, which no command ever wrote")
                    continue
                d = [float(np.sqrt(((qv[qi].astype(np.float64) - v) ** 2).sum())) for v in vs]
                if min(abs(x - dist) for x in d) > 1e-3 * (1 + dist):
                    self.error(f"query returned id {hit} at distance {dist}, none of its vectors is there {d[:4]}")
                self.queries["hits checked"] += 1

    # ---- the run ------------------------------------------------------------------------------

    def main(self):
        gen = Gen(self.seed, os.path.join(self.work, "in"))
        ids = np.arange(200, dtype=np.int64)
        v = gen.vectors(200, DIM)
        self.offer(ids, v)
        initial = Model().add(ids, v)
        for args in (["-s", "2", "--ids", gen.file(ids, "i"), "-q", self.coll, gen.file(v, "v")],):
            r = self.tools.run("vec-ingest", *args)
            assert r.rc == 0, r.err
        r = self.tools.run("vec-seal", "--set", "log-bytes=4096", "--set", f"grace={self.grace}", self.coll)
        assert r.rc == 0, r.err
        self.stop = time.monotonic() + self.seconds
        models = [[Model()], [Model()]]
        threads = [threading.Thread(target=self.writer, args=(w, models[w])) for w in range(2)]
        threads += [threading.Thread(target=f) for f in (self.sealer, self.splitter, self.balancer)]
        threads += [threading.Thread(target=self.querier, args=(q, initial)) for q in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        want = Model(initial.rows)
        for m in models:
            want.rows.update(m[0].rows)
        self.final_checks(want, "end of run")
        r = self.run("seal", "vec-seal", "--all", "-q", "--index", "flat", self.coll)
        if r.rc == 0:
            self.final_checks(want, "after a final seal")
        return want

    def final_checks(self, want, when):
        try:
            found, _ = live_rows(self.coll)
        except (vsreader.Damage, OSError) as e:
            return self.error(f"{when}: the reader refuses the collection: {e}")
        diff = compare(want, found)
        if diff:
            self.error(f"{when}: " + "; ".join(diff))
        probs = vsreader.check(self.coll)
        if probs:
            self.error(f"{when}: vsreader check: " + "; ".join(probs[:3]))
        v = self.tools.run("vec-inspect", "--verify", "-q", self.coll)
        if v.rc:
            self.error(f"{when}: vec-inspect --verify exits {v.rc}: {v.err.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", 1)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("CONCURRENCY_SECONDS", 30)))
    ap.add_argument("--grace", type=int, default=1)
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    base = os.environ.get("CRASH_DIR") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp")
    work = os.path.abspath(a.work or os.path.join(base, f"vecseg-concurrency.{os.getpid()}"))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    t0 = time.monotonic()
    run = Run(a.seed, a.seconds, a.grace, work)
    want = run.main()
    secs = time.monotonic() - t0
    by = {}
    for (kind, status), n in sorted(run.exits.items()):
        by.setdefault(kind, {})[status] = n
    print(f"concurrency: seed {a.seed}, {a.seconds:.0f} s (grace {a.grace}), {sum(run.exits.values())} commands, "
          f"{len(want.rows)} rows at the end, in {secs:.0f} s")
    for kind, st in by.items():
        print(f"  {kind:15s} " + ", ".join(f"exit {s} {n}" if s[0] != "e" else f"{s} {n}" for s, n in st.items()))
    busy = sum(n for (k, s), n in run.exits.items() if s == "75")
    print(f"  queries answered {run.queries['answered']}, hits checked {run.queries['hits checked']}; "
          f"lock-busy or retry (75): {busy}")
    for cat, n in run.known.items():
        print(f"  known defect '{cat}': {n} of the errors")
    print(f"concurrency: {len(run.errors)} errors")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "seconds": a.seconds, "grace": a.grace, "exits": by, "queries": run.queries,
                       "errors": run.errors, "rows": len(want.rows)}, f, indent=1)
    if not run.errors and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
