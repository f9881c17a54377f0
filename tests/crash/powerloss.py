#!/usr/bin/python3
"""powerloss.py - the states a power cut could leave, in the manner of ALICE and CrashMonkey.

    tests/crash/powerloss.py [--seed S] [--states N] [--work DIR] [--json FILE] [-v]

SIGKILL keeps the page cache, so it cannot show a missing fsync.  For each command below this
harness records every file-system operation (tests/crash/iotrace.c: writes with their bytes,
truncates, creates, renames, unlinks, mkdirs, fsyncs and fdatasyncs, in completion order),
then rebuilds, from a copy of the collection taken before the command, states that a power
cut could have left, and checks each one.

The model (strict POSIX, no help from the file system's journal):
  - a crash happens after any prefix of the operations (cut 0 .. n);
  - a write or truncate of a file persists for sure only if an fsync or fdatasync of that
    file follows it within the prefix; otherwise it may be lost, whole, or torn (a prefix of
    it, in 512-byte sectors, persists);
  - a name operation (create, rename, unlink, mkdir) persists for sure only if an fsync of its
    directory follows it within the prefix; otherwise it may be lost: either any subset of
    the unsynced name operations of a directory (POSIX) or, half of the time, only a suffix of
    them in order (a journaling file system such as ext4, which commits them in order);
  - a lost name operation leaves the name as it was: a file created under a lost name is
    unreachable, a lost rename leaves both names as they were.
Fsync of a file does not make its name durable here (ext4 would): the tools fsync the
directory, and the harness holds them to it.

Commands (one of each, on seeded collections): ingest into a new collection, ingest into an
existing one (appending, and starting new logs), delete, upsert, seal with an index and
grace 0 (so it also removes files), compaction, shard split, grow and isolate, balance.  The states of a command are every
cut with every subset of its unsynced operations (sampled when more than 8 are unsynced),
plus torn writes; identical states are checked once.  --states caps the distinct states
checked per command (a seeded random choice among them; 0: all of them).

Each state is checked with tests/vsreader.py: its rows are those before the command or those
after it, never a mix, and those after once the command's commit was durable (the fsync of
the directory after CURRENT was renamed); vsreader's check and `vec-inspect --verify` are
clean; the next vec-ingest and vec-seal succeed and leave the rows they should.  A replay of
the whole trace must reproduce the command's real result byte for byte, or the harness
itself is wrong (an operation the shim missed).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections import Counter

import numpy as np

from common import (F_CREATED, F_DIR, F_TRUNC, Gen, Model, Tools, compare, known_category, read_trace, tree_digest,
                    vsreader)

DIR = object()  # marks a directory in a name map


class Replay:
    """The operations of one trace and what each one touches."""

    def __init__(self, recs, pre):
        self.recs = [r for r in recs if r.op != "KILL"]
        self.pre = pre
        # initial state: names -> inode key, key -> bytes
        self.names0, self.data0 = {}, {}
        for d, subdirs, files in os.walk(pre):
            rel = os.path.relpath(d, pre)
            if rel != ".":
                self.names0[rel] = DIR
            for f in files:
                p = os.path.normpath(os.path.join(rel, f))
                self.names0[p] = ("pre", p)
                with open(os.path.join(d, f), "rb") as fh:
                    self.data0[("pre", p)] = fh.read()
        # bind every record to the inode it concerns, replaying the names as the command saw them
        names = dict(self.names0)
        bind = {}
        self.key = []
        for i, r in enumerate(self.recs):
            k = None
            if r.op == "OPEN":
                if r.flags & F_CREATED:
                    k = ("new", i)
                    names[r.path] = k
                elif r.flags & F_DIR:
                    k = names.get(r.path, ("dir", r.path))
                else:
                    k = names.get(r.path)
                if k is None:
                    raise RuntimeError(f"trace opens {r.path}, which the replay does not know")
                bind[r.ino] = k
            elif r.op in ("WRITE", "TRUNC", "FSYNC", "FDATASYNC"):
                k = bind.get(r.ino)
                if k is None and r.flags & F_DIR:
                    k = ("dir", r.path)
                if k is None:
                    raise RuntimeError(f"record {r}: inode {r.ino} was never opened")
            elif r.op == "RENAME":
                if r.path in names:
                    names[r.path2] = names.pop(r.path)
            elif r.op in ("UNLINK", "RMDIR"):
                names.pop(r.path, None)
            elif r.op == "MKDIR":
                names[r.path] = DIR
            self.key.append(k)

    @staticmethod
    def parent(p):
        d = os.path.dirname(p)
        return d if d else "."

    def kind(self, i):
        """'data', 'name' or None (cannot be lost)."""
        r = self.recs[i]
        if r.op in ("WRITE", "TRUNC") or (r.op == "OPEN" and r.flags & F_TRUNC and not r.flags & F_CREATED):
            return "data"
        if r.op in ("RENAME", "UNLINK", "RMDIR", "MKDIR") or (r.op == "OPEN" and r.flags & F_CREATED):
            return "name"
        return None

    def dirs_of(self, i):
        r = self.recs[i]
        return {self.parent(r.path)} | ({self.parent(r.path2)} if r.op == "RENAME" else set())

    def unsynced(self, cut):
        """Indexes below cut of operations no later fsync within the prefix makes durable."""
        synced_keys, synced_dirs, out = set(), set(), []
        for i in range(cut - 1, -1, -1):
            r = self.recs[i]
            if r.op in ("FSYNC", "FDATASYNC"):
                if r.flags & F_DIR:
                    synced_dirs.add(r.path)
                else:
                    synced_keys.add(self.key[i])
                continue
            k = self.kind(i)
            if k == "data" and self.key[i] not in synced_keys:
                out.append(i)
            elif k == "name" and not self.dirs_of(i) <= synced_dirs:
                out.append(i)
        return sorted(out)

    def materialize(self, cut, lost, torn, dest):
        """Writes the state after ops [0, cut) minus those in lost (torn: index -> bytes kept)."""
        names, data = dict(self.names0), {k: bytearray(v) for k, v in self.data0.items()}
        for i in range(cut):
            r, k = self.recs[i], self.key[i]
            if i in lost and i not in torn:
                continue
            if r.op == "OPEN":
                if r.flags & F_CREATED:
                    if self.parent(r.path) == "." or names.get(self.parent(r.path)) is DIR:
                        names[r.path] = k
                    data[k] = bytearray()
                elif r.flags & F_TRUNC:
                    data[k] = bytearray()
            elif r.op == "WRITE":
                b = data.setdefault(k, bytearray())
                payload = r.data[:torn[i]] if i in torn else r.data
                end = r.off + len(payload)
                if len(b) < end:
                    b.extend(b"\0" * (end - len(b)))
                b[r.off:end] = payload
            elif r.op == "TRUNC":
                b = data.setdefault(k, bytearray())
                del b[r.off:]
                b.extend(b"\0" * (r.off - len(b)))
            elif r.op == "RENAME":
                if r.path in names and (self.parent(r.path2) == "." or names.get(self.parent(r.path2)) is DIR):
                    names[r.path2] = names.pop(r.path)
            elif r.op == "UNLINK":
                names.pop(r.path, None)
            elif r.op == "RMDIR":
                if not any(n.startswith(r.path + "/") for n in names):
                    names.pop(r.path, None)
            elif r.op == "MKDIR":
                if self.parent(r.path) == "." or names.get(self.parent(r.path)) is DIR:
                    names[r.path] = DIR
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        h = hashlib.sha256()

        def reachable(p):
            d = self.parent(p)
            while d != ".":
                if names.get(d) is not DIR:
                    return False
                d = self.parent(d)
            return True

        for p in sorted(names):
            if not reachable(p):
                continue
            full = os.path.join(dest, p)
            if names[p] is DIR:
                os.makedirs(full, exist_ok=True)
                h.update(b"D" + p.encode() + b"\0")
            else:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                content = bytes(data.get(names[p], b""))
                with open(full, "wb") as f:
                    f.write(content)
                h.update(b"F" + p.encode() + b"\0" + hashlib.sha256(content).digest())
        return h.hexdigest()


class PowerLoss:
    def __init__(self, seed, states, work, verbose):
        self.rnd = random.Random(seed)
        self.seed, self.cap, self.work, self.verbose = seed, states, work, verbose
        self.tools = Tools()
        self.gen = Gen(seed, os.path.join(work, "input"))
        self.results = {}
        self.failures = []

    def sh(self, tool, *args):
        r = self.tools.run(tool, *args)
        if r.rc != 0:
            raise RuntimeError(f"setup: {' '.join(r.argv)}: exit {r.rc}: {r.err.strip()}")
        return r

    def ingest(self, coll, n, dim=8, extra=(), keys=False, start=None):
        ids = np.arange(start, start + n, dtype=np.int64)
        v = self.gen.vectors(n, dim)
        args = list(extra) + ["--ids", self.gen.file(ids, "ids")]
        k = None
        if keys or (os.path.exists(os.path.join(coll, "CURRENT")) and
                    vsreader.parse_manifest(open(os.path.join(coll, vsreader.read_current(coll)), "rb").read()).keys):
            k = ids % 7
            args += ["--keys", self.gen.file(k, "keys")]
        return args + ["-q", coll, self.gen.file(v, "v")], Model().add(ids, v, k)

    # ---- scenarios: (name, setup(coll), command(coll) -> (tool, args)) ----------------------

    def scenarios(self):
        def base(coll, shards=2, log_bytes=None, grace0=False, seal=True, keys=False, second=40, cold=False):
            args, _ = self.ingest(coll, 120, extra=["-s", shards], start=0, keys=keys)
            self.sh("vec-ingest", *args)
            if cold:  # SPEC 5.6.1: the .vcold must be durable before its .vseg, both before the manifest
                self.sh("vec-seal", "--set", "cold-apart=1", coll)
            if log_bytes:
                self.sh("vec-seal", "--set", f"log-bytes={log_bytes}", coll)
            if grace0:
                self.sh("vec-seal", "--set", "grace=0", coll)
            if seal:
                self.sh("vec-seal", "--all", "-q", "--index", "flat", coll)
            args, _ = self.ingest(coll, second, start=1000)
            self.sh("vec-ingest", *args)
            self.sh("vec-ingest", "--delete", "-q", coll, self.gen.file(np.array([3, 5, 1001], np.int64), "del"))

        def cmd_ingest(coll, **kw):
            return ("vec-ingest",) + tuple(self.ingest(coll, 30, start=5000, **kw)[0])

        def cmd_upsert(coll):
            v = self.gen.vectors(6, 8)
            ids = np.array([1, 2, 1002, 1003, 7000, 7001], np.int64)
            return "vec-ingest", "--upsert", "--ids", self.gen.file(ids, "ids"), "-q", coll, self.gen.file(v, "v")

        return [
            ("ingest-new", lambda c: None, lambda c: cmd_ingest(c, extra=["-s", "2"])),
            ("ingest-existing", lambda c: base(c), cmd_ingest),
            ("ingest-newlogs", lambda c: base(c, log_bytes=4096, second=300), cmd_ingest),
            ("ingest-delete", lambda c: base(c),
             lambda c: ("vec-ingest", "--delete", "-q", c,
                        self.gen.file(np.array([0, 1, 2, 1003, 1004, 99999], np.int64), "del"))),
            ("ingest-upsert", lambda c: base(c), cmd_upsert),
            ("seal-hnsw", lambda c: base(c, grace0=True),
             lambda c: ("vec-seal", "--all", "-q", "--index", "hnsw", "--M", "8", "--ef-construction", "32", c)),
            ("seal-ivf_pq", lambda c: base(c, grace0=True),
             lambda c: ("vec-seal", "--all", "-q", "--index", "ivf_pq", c)),
            ("seal-ivf_pq-cold", lambda c: base(c, grace0=True, cold=True),
             lambda c: ("vec-seal", "--all", "-q", "--index", "ivf_pq", c)),
            ("seal-compact", lambda c: base(c, grace0=True),
             lambda c: ("vec-seal", "--all", "-q", "--index", "flat", "-j", "2", c)),
            ("shard-split", lambda c: base(c), lambda c: ("vec-shard", "-q", "--split", "0", c)),
            ("shard-grow", lambda c: base(c), lambda c: ("vec-shard", "-q", "--shards", "5", c)),
            ("shard-isolate", lambda c: base(c, keys=True), lambda c: ("vec-shard", "-q", "--isolate", "3", c)),
            ("balance", lambda c: base(c), lambda c: ("vec-balance", "-q", "--nodes", "a,b,c", c)),
        ]

    # ---- one command --------------------------------------------------------------------------

    def fail(self, name, cut, lost, msg, state):
        keep = os.path.join(self.work, "failures", f"{len(self.failures) + 1:03d}")
        if len(self.failures) < 30:
            shutil.copytree(state, keep)
        cat = known_category(msg)
        f = {"seed": self.seed, "command": name, "cut": cut, "lost": sorted(lost), "problem": msg, "kept": keep,
             "known": cat}
        self.failures.append(f)
        key = f"known defect '{cat}'" if cat else msg.split(":")[0]
        self.res["failures"][key] += 1
        if self.res["failures"][key] <= 2 or self.verbose:
            print(f"FAIL seed={self.seed} {name} cut={cut} lost={sorted(lost)[:8]}: {msg}\n  kept: {keep}", flush=True)

    def rows_of(self, coll):
        if not os.path.exists(os.path.join(coll, "CURRENT")):
            return None
        return {i: (r.vector.tobytes(), r.key) for i, r in vsreader.Snapshot.open(coll).live().items()}

    def command(self, name, setup, make):
        root = os.path.join(self.work, "root")
        coll = os.path.join(root, "c")
        pre = os.path.join(self.work, "pre")
        for d in (root, pre):
            if os.path.exists(d):
                shutil.rmtree(d)
        os.makedirs(root)
        setup(coll)
        shutil.copytree(root, pre)
        before = self.rows_of(coll)
        argv = make(coll)
        trace = os.path.join(self.work, "trace")
        if os.path.exists(trace):
            os.unlink(trace)
        r = self.tools.run(argv[0], *argv[1:], trace_root=root, trace_out=trace, nodata=False)
        if r.rc != 0:
            raise RuntimeError(f"{name}: {' '.join(r.argv)}: exit {r.rc}: {r.err.strip()}")
        after = self.rows_of(coll)
        rp = Replay(read_trace(trace, root), pre)
        n = len(rp.recs)
        # the harness checks itself: the whole trace replayed is the real result
        state = os.path.join(self.work, "state")
        if rp.materialize(n, set(), {}, state) != tree_digest(root):
            raise RuntimeError(f"{name}: replaying the trace does not give the command's result")
        # acknowledged once the directory fsync after the last rename onto CURRENT is done
        ack = None
        for i, x in enumerate(rp.recs):
            if x.op == "RENAME" and x.path2 == "c/CURRENT":
                ack = None
                for j in range(i + 1, n):
                    if rp.recs[j].op == "FSYNC" and rp.recs[j].flags & F_DIR and rp.recs[j].path == "c":
                        ack = j
                        break
        self.res = res = {"ops": n, "ack_op": ack, "states": 0, "distinct": 0, "acked": 0,
                          "unsynced_max": 0, "failures": Counter(), "checked": Counter()}
        seen = set()
        for cut, lost, torn in self.candidates(rp, n):
            if self.cap and res["distinct"] >= self.cap:
                break
            res["states"] += 1
            acked = ack is not None and cut > ack
            dg = rp.materialize(cut, lost, torn, os.path.join(state, "x"))
            if (dg, acked) in seen:
                continue
            seen.add((dg, acked))
            res["distinct"] += 1
            res["acked"] += acked
            res["unsynced_max"] = max(res["unsynced_max"], len(rp.unsynced(cut)))
            self.check_state(name, cut, lost, os.path.join(state, "x"), before, after, acked)
        self.results[name] = res
        res["failures"] = dict(res["failures"])
        res["checked"] = dict(res["checked"])
        print(f"powerloss: {name:16s} {n:4d} ops (commit durable after op {ack}), {res['states']} states built, "
              f"{res['distinct']} distinct ({res['acked']} acknowledged), at most {res['unsynced_max']} unsynced ops; "
              f"checked {res['checked']}; failures {res['failures'] or 0}", flush=True)

    def candidates(self, rp, n):
        """Every (cut, lost, torn) the model allows, in a seeded random order: for each cut,
        every subset of the unsynced operations when there are at most 8 of them (else the
        empty and full sets and 200 random subsets), and each unsynced write over 512 bytes
        torn at a random sector.  The ordered (journaling) losses are among the subsets."""
        rnd, out = self.rnd, []
        for cut in range(n + 1):
            uns = rp.unsynced(cut)
            if len(uns) <= 8:
                subsets = [{u for b, u in enumerate(uns) if mask >> b & 1} for mask in range(1 << len(uns))]
            else:
                subsets = [set(), set(uns)] + [{u for u in uns if rnd.random() < 0.5} for _ in range(200)]
            out += [(cut, lost, {}) for lost in subsets]
            for i in uns:
                r = rp.recs[i]
                if r.op == "WRITE" and r.len > 512:
                    out.append((cut, {i}, {i: rnd.randint(1, (r.len - 1) // 512) * 512}))
        rnd.shuffle(out)
        # the command's end state with nothing lost comes first: the trace's own check
        out.sort(key=lambda c: not (c[0] == n and not c[1]))
        return out

    def check_state(self, name, cut, lost, coll_root, before, after, acked):
        coll = os.path.join(coll_root, "c")
        res = self.res
        try:
            found = self.rows_of(coll)
        except (vsreader.Damage, OSError) as e:
            return self.fail(name, cut, lost, f"reader refuses the state: {e}", coll_root)
        if found is None:
            if before is not None or acked:
                return self.fail(name, cut, lost, "collection lost: no CURRENT", coll_root)
            res["checked"]["no collection yet"] += 1
            found = {}
        elif acked and found != after:
            return self.fail(name, cut, lost, "acknowledged rows lost: " + "; ".join(compare(Model(after), found)),
                             coll_root)
        elif found != (before or {}) and found != after:
            return self.fail(name, cut, lost, "rows are neither before nor after: "
                             + "; ".join(compare(Model(after), found)), coll_root)
        else:
            res["checked"]["rows unchanged" if before == after else "after" if found == after else "before"] += 1
            probs = vsreader.check(coll)
            if probs:
                return self.fail(name, cut, lost, "vsreader check: " + "; ".join(probs[:2]), coll_root)
            v = self.tools.run("vec-inspect", "--verify", "-q", coll)
            if v.rc:
                return self.fail(name, cut, lost, f"vec-inspect --verify exits {v.rc}: {v.err.strip()}", coll_root)
        # the next ingest and seal succeed and leave the rows they should
        args, add = self.ingest(coll, 3, start=900000)
        r = self.tools.run("vec-ingest", *args)
        if r.rc != 0:
            return self.fail(name, cut, lost, f"next ingest exits {r.rc}: {r.err.strip()}", coll_root)
        r = self.tools.run("vec-seal", "--all", "-q", "--index", "flat", coll)
        if r.rc != 0:
            return self.fail(name, cut, lost, f"next seal exits {r.rc}: {r.err.strip()}", coll_root)
        want = Model(found)
        want.rows.update(add.rows)
        got = self.rows_of(coll)
        if got != want.rows:
            return self.fail(name, cut, lost, "after the next ingest and seal: " + "; ".join(compare(want, got)),
                             coll_root)

    def main(self, only=None):
        for name, setup, make in self.scenarios():
            if only and name not in only:
                continue
            self.command(name, setup, make)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", 1)))
    ap.add_argument("--states", type=int, default=int(os.environ.get("POWERLOSS_STATES", 40)),
                    help="distinct states checked per command (0: every one)")
    ap.add_argument("--only", action="append", help="run only this command (repeatable)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    base = os.environ.get("CRASH_DIR") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp")
    work = os.path.abspath(a.work or os.path.join(base, f"vecseg-powerloss.{os.getpid()}"))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    t0 = time.monotonic()
    h = PowerLoss(a.seed, a.states, work, a.verbose)
    h.main(a.only)
    secs = time.monotonic() - t0
    tot = sum(r["distinct"] for r in h.results.values())
    known = sum(1 for f in h.failures if f["known"])
    print(f"powerloss: seed {a.seed}, {tot} distinct states over {len(h.results)} commands in {secs:.0f} s, "
          f"{len(h.failures) - known} new failures, {known} known-defect failures")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "seconds": secs, "commands": h.results, "failures": h.failures}, f, indent=1)
    if not h.failures and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
