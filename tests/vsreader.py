#!/usr/bin/python3
"""vsreader.py - an independent reader of vecseg collections, written from SPEC.md alone.

It shares no code with the C library and follows SPEC.md, not the library's structure: it
decodes whole sections into NumPy arrays and checks them at once, and computes a search's
distances for every row or node of a segment before walking.  The crash, power-loss and
concurrency harnesses use it to decide what a collection holds, and tests/spec_reader.bats uses
it as the second implementation of the format (issue 9), so a bug in the library's readers
cannot hide a bug in its writers, and SPEC.md cannot drift from the bytes.  Python 3 and NumPy.

    vsreader.py rows COLL           live rows of the current snapshot, one a line:
                                    id <TAB> lsn <TAB> key or - <TAB> v0,v1,...
    vsreader.py check COLL          the checks a reader makes; one problem a line; exit 1 if any
    vsreader.py check --deep COLL   also every byte of every index section (SPEC 5.5), the
                                    writer's layout and order; lines "[tag] file: problem"
    vsreader.py knn COLL Q.npy K    exact k-NN over the live rows (SPEC 9), as vec-query's TSV
    vsreader.py search [--ef N --nprobe N --refine R] [--[no-]rank16] COLL Q.npy K
                                    what vec-query answers: indexes searched as SPEC 5.5 says
    vsreader.py compare [--[no-]rank16] COLL Q.npy K DEFAULT EXHAUSTIVE
                                    vec-query's partial results (--share 0/1 --partial) with
                                    default and exhaustive parameters against knn and search
    vsreader.py merge K PARTIAL...  partial results (SPEC 7) checked and merged, as TSV

As a module:

    snap = Snapshot.open(path)      # CURRENT, the manifest it names, every file it names
    snap.live()                     # {id: Row(vector, key, lsn)}: tombstones applied (SPEC 6)
    check(path), check_deep(path)   # lists of Problem (a str with a .tag); empty when clean
    Searcher(snap).exact(Q, k)      # [[(distance, id)] per query]; .search(Q, k, ef=...) too
    read_partial(path), merge_hits(lists, k)

Layout: one parser per file kind (parse_manifest, read_log, read_segment, read_tombstones,
read_partial), each raising Damage on the first byte that contradicts SPEC.md; sealed-segment
sections are decoded through SECTION_TYPES; the indexes are classes (Hnsw, Ivf) that check what
opening needs (META, [R-HNSW-META], [R-IVF-META]), search (SPEC 5.5), and verify every other byte
(.verify, tagged problems).  Arithmetic follows SPEC 9: single operations in f32, sums over
dimensions in float64 rounded once (SPEC leaves their order open), so this reader agrees with
the tools bit for bit whenever the sums are exact and otherwise within a few units in the last
place; compare() allows exactly that.

Where SPEC.md was silent or ambiguous, the choice made is marked "SPEC:" in a comment; each
such point is now stated in SPEC.md (see its change log).
"""
import os
import struct
import sys
import zlib
from collections import namedtuple

import numpy as np

# ---- conventions (SPEC 1) -------------------------------------------------------------------

ID_LIMIT = 1 << 63          # ids are 0 to 2^63-1
M64 = (1 << 64) - 1
NO_HIT = (1 << 64) - 1


class Damage(Exception):
    """A byte of a file contradicts SPEC.md.  str() names the file first."""

    def __init__(self, file, msg):
        super().__init__(f"{file}: {msg}")
        self.file = file


class Problem(str):
    """One problem check() found: str() is "file: message" (as before), .tag names the check
    (the requirement or property it belongs to), so a test can tell known defects apart."""

    def __new__(cls, tag, msg):
        p = super().__new__(cls, msg)
        p.tag = tag
        return p

    def line(self):
        return f"[{self.tag}] {self}"


def crc32(*parts):
    c = 0
    for p in parts:
        c = zlib.crc32(p, c)
    return c & 0xFFFFFFFF


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def read_bytes(path, limit=1 << 32):
    """The whole content of a regular file (never follows a FIFO or a device)."""
    st = os.stat(path, follow_symlinks=False)
    import stat as _s
    if not _s.S_ISREG(st.st_mode):
        raise Damage(os.path.basename(path), "not a regular file")
    if st.st_size > limit:
        raise Damage(os.path.basename(path), f"{st.st_size} bytes is larger than this reader accepts")
    with open(path, "rb") as f:
        return f.read()


# ---- the collection directory (SPEC 2) ------------------------------------------------------

def read_current(coll):
    """The manifest file name CURRENT holds ([R-CURRENT]: the name and one newline)."""
    data = read_bytes(os.path.join(coll, "CURRENT"), limit=64)  # [R-FILE-CAPS]
    if not data.endswith(b"\n") or data.count(b"\n") != 1:
        raise Damage("CURRENT", "does not hold one line")
    name = data[:-1].decode("ascii", "replace")
    if not name.startswith("manifest-") or not name[9:].isascii() or not name[9:].isdigit() \
            or name != f"manifest-{int(name[9:]):08d}" or int(name[9:]) == 0:
        raise Damage("CURRENT", f"does not name a manifest: {name!r}")
    return name


# ---- the manifest (SPEC 3) ------------------------------------------------------------------

Shard = namedtuple("Shard", "id depth value key")                 # key None for a hash shard
Growing = namedtuple("Growing", "file shard start length rows node")
Sealed = namedtuple("Sealed", "file shard rows bytes node cold_bytes")
Tombs = namedtuple("Tombs", "file count")


class Manifest:
    def __init__(self):
        self.major = self.minor = None
        self.generation = self.dim = self.metric = self.keys = None
        self.next_id = self.next_lsn = self.next_ingest_file = self.next_maint_file = None
        self.settings = {}
        self.shards = []
        self.nodes = []
        self.growing = []
        self.sealed = []
        self.tombstones = []
        self.unknown = []         # lines a version-1 reader ignores ([R-MANIFEST-UNKNOWN])


def _num(name, tok, what, lo=0, hi=(1 << 64) - 1):
    # [R-MANIFEST-STRICT] decimal digits only, no leading zero but "0", within the field's range
    if not tok.isascii() or not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        raise Damage(name, f"{what}: {tok!r} is not a number")
    v = int(tok)
    if not lo <= v <= hi:
        raise Damage(name, f"{what}: {tok} is out of range ({lo} to {hi})")
    return v


def _fields(name, toks, need, line):
    """key=value fields of a line: every name in need must be present."""
    out = {}
    for t in toks:
        if "=" not in t:
            raise Damage(name, f"field {t!r} is not key=value: {line!r}")
        k, v = t.split("=", 1)
        if k in out:
            raise Damage(name, f"field {k} given twice: {line!r}")
        out[k] = v
    for k in need:
        if k not in out:
            raise Damage(name, f"missing {k}=: {line!r}")
    return out


def parse_manifest(data, name="manifest"):
    """A Manifest from the bytes of a manifest file; Damage on anything SPEC 3 refuses."""
    if b"\0" in data:
        raise Damage(name, "contains a NUL byte")
    if not data.endswith(b"\n"):
        raise Damage(name, "does not end with a newline")
    # [R-MANIFEST-CRC] the last line is the CRC of every byte before it
    cut = data.rfind(b"\n", 0, len(data) - 1) + 1
    last = data[cut:-1].decode("ascii", "replace")
    if not last.startswith("crc32 ") or len(last) != 14:
        raise Damage(name, "does not end with a crc32 line")
    hexd = last[6:]
    if any(c not in "0123456789abcdef" for c in hexd):
        raise Damage(name, f"crc32 {hexd!r} is not 8 lowercase hex digits")
    if int(hexd, 16) != crc32(data[:cut]):
        raise Damage(name, "checksum mismatch")
    try:
        text = data[:cut].decode("utf-8")
    except UnicodeDecodeError:
        raise Damage(name, "is not UTF-8")
    m = Manifest()
    lines = text.split("\n")[:-1]
    if not lines:
        raise Damage(name, "is empty")
    head = lines[0].split(" ")
    if len(head) != 3 or head[0] != "vecseg-manifest":
        raise Damage(name, "does not start with 'vecseg-manifest MAJOR MINOR'")
    m.major, m.minor = _num(name, head[1], "major"), _num(name, head[2], "minor", 0, (1 << 32) - 1)
    if m.major not in (1, 2):  # SPEC 3: 2 is 1 plus cold-bytes (5.6.1)
        raise Damage(name, f"manifest major version {m.major} is not 1 or 2")
    seen = set()
    for line in lines[1:]:
        if line == "" or line.startswith(" "):
            raise Damage(name, "an empty line or a line starting with a space")
        toks = line.split(" ")
        word, rest = toks[0], toks[1:]
        single = {"generation": (1, M64), "dim": (1, 65536), "metric": None, "keys": None,
                  "next-id": (0, 1 << 63), "next-lsn": (1, M64), "next-ingest-file": (1, M64),
                  "next-maint-file": (1, M64)}
        known = set(single) | {"setting", "shard", "node", "growing", "sealed", "tombstones"}
        if word in known and ("" in toks or len(toks) > 32):
            raise Damage(name, f"fields must be separated by one space, at most 32: {line!r}")
        if word in single:
            if word in seen:
                raise Damage(name, f"line {word!r} given twice")
            seen.add(word)
            if len(rest) != 1:
                raise Damage(name, f"line {word!r} takes one value: {line!r}")
            v = rest[0]
            if word == "metric":
                if v not in ("l2", "ip", "cosine"):
                    raise Damage(name, f"unknown metric {v!r}")
                m.metric = v
            elif word == "keys":
                if v not in ("yes", "no"):
                    raise Damage(name, f"keys {v!r} is not yes or no")
                m.keys = v == "yes"
            else:
                setattr(m, word.replace("-", "_"), _num(name, v, word, *single[word]))
        elif word == "setting":
            if len(rest) != 2:
                raise Damage(name, f"setting takes KEY VALUE: {line!r}")
            k, v = rest
            if len(k) >= 32 or len(v) >= 64 or "=" in k or "=" in v:
                raise Damage(name, f"setting {k!r} is malformed")
            if k in m.settings:
                raise Damage(name, f"setting {k!r} given twice")
            m.settings[k] = v
        elif word == "shard":
            if not rest:
                raise Damage(name, f"shard line without an id: {line!r}")
            sid = _num(name, rest[0], "shard id")
            f = _fields(name, rest[1:], (), line)
            if "key" in f:
                m.shards.append(Shard(sid, None, None, _num(name, f["key"], "shard key")))
            else:
                _fields(name, rest[1:], ("depth", "value"), line)
                d, v = _num(name, f["depth"], "depth", 0, 63), _num(name, f["value"], "value")
                if v >= 1 << d:
                    raise Damage(name, f"shard {sid}: value {v} does not fit in {d} bits")
                m.shards.append(Shard(sid, d, v, None))
        elif word == "node":
            if len(rest) != 1 or not 1 <= len(rest[0]) <= 63 or "=" in rest[0]:
                raise Damage(name, f"bad node line: {line!r}")
            m.nodes.append(rest[0])
        elif word == "growing":
            if not rest:
                raise Damage(name, f"growing line without a file: {line!r}")
            f = _fields(name, rest[1:], ("shard", "start", "length", "rows"), line)
            g = Growing(rest[0], _num(name, f["shard"], "shard"), _num(name, f["start"], "start"),
                        _num(name, f["length"], "length"), _num(name, f["rows"], "rows"), f.get("node"))
            if g.start < 32 or g.start > g.length:
                raise Damage(name, f"{g.file}: start {g.start} and length {g.length} are not 32 <= start <= length")
            m.growing.append(g)
        elif word == "sealed":
            if not rest:
                raise Damage(name, f"sealed line without a file: {line!r}")
            f = _fields(name, rest[1:], ("shard", "rows", "bytes"), line)
            cold = f.get("cold-bytes")
            if cold is not None:  # SPEC 3, 5.6.1: the size of its .vcold, >= 1, major 2 only
                cold = _num(name, cold, "cold-bytes", 1)
                if m.major != 2:
                    raise Damage(name, f"{rest[0]}: cold-bytes in a manifest of major version {m.major}")
            m.sealed.append(Sealed(rest[0], _num(name, f["shard"], "shard"), _num(name, f["rows"], "rows"),
                                   _num(name, f["bytes"], "bytes"), f.get("node"), cold))
        elif word == "tombstones":
            if not rest:
                raise Damage(name, f"tombstones line without a file: {line!r}")
            f = _fields(name, rest[1:], ("count",), line)
            m.tombstones.append(Tombs(rest[0], _num(name, f["count"], "count")))
        else:
            m.unknown.append(line)
    for word in ("generation", "dim", "metric", "keys", "next-id", "next-lsn", "next-ingest-file",
                 "next-maint-file"):
        if word not in seen:
            raise Damage(name, f"no {word!r} line")
    # one fact, one line; coverage; references ([R-MANIFEST-STRICT], [R-ROUTE-COVER])
    for what, vals in (("setting", [l.split(" ")[1] for l in lines if l.startswith("setting ")]),
                       ("node", m.nodes), ("shard id", [x.id for x in m.shards]),
                       ("isolated key", [x.key for x in m.shards if x.key is not None]),
                       ("file", [x.file for x in m.growing + m.sealed + m.tombstones])):
        if len(set(vals)) != len(vals):
            raise Damage(name, f"a {what} appears twice")
    trie = [x for x in m.shards if x.key is None]
    if not trie:
        raise Damage(name, "names no hash shard")
    if sum(1 << (64 - x.depth) for x in trie) != 1 << 64:
        raise Damage(name, "the shards do not cover every hash exactly once")
    for a in trie:
        for b in trie:
            if a is not b and a.depth <= b.depth and b.value & ((1 << a.depth) - 1) == a.value:
                raise Damage(name, f"shards {a.id} and {b.id} overlap")
    ids = {x.id for x in m.shards}
    for g in m.growing:
        if g.shard not in ids or g.length >= 1 << 63 or g.rows * (8 + 4 * m.dim) > g.length - g.start:
            raise Damage(name, f"{g.file}: unknown shard, or length or rows out of range")
    for x in m.sealed:
        if x.cold_bytes is None:
            fits = x.rows * (16 + 4 * m.dim) <= x.bytes
        else:  # SPEC 3: 16 bytes a row of bytes, 4*dim of cold-bytes
            fits = x.cold_bytes < 1 << 63 and x.rows * 16 <= x.bytes and x.rows * 4 * m.dim <= x.cold_bytes
        if x.shard not in ids or x.bytes >= 1 << 63 or not fits:
            raise Damage(name, f"{x.file}: unknown shard, or bytes or rows out of range")
    if m.major == 2 and not any(x.cold_bytes is not None for x in m.sealed):
        raise Damage(name, "major version 2 without a cold-bytes field")
    return m


def check_rows(name, ids, lsns, vecs, where=""):
    """SPEC 1: ids below 2^63, LSNs at least 1, finite vectors, whatever the checksums say."""
    if len(ids) and int(ids.max()) >= ID_LIMIT:
        raise Damage(name, f"{where}an id is not below 2^63")
    if len(lsns) and int(lsns.min()) < 1:
        raise Damage(name, f"{where}an LSN is 0")
    if vecs.size and not np.all(np.isfinite(vecs)):
        raise Damage(name, f"{where}a vector is not finite")


# ---- growing segments (SPEC 4) --------------------------------------------------------------

LOG_MAGIC = b"\x89VLOG\r\n\x1a"
Record = namedtuple("Record", "offset lsn ids keys vecs")


class Log:
    """A growing segment read from start to its committed length."""

    def __init__(self, name, dim, shard, flags, records):
        self.name, self.dim, self.shard, self.flags, self.records = name, dim, shard, flags, records

    @property
    def has_keys(self):
        return bool(self.flags & 1)


def read_log(path, start, length, name=None):
    """The records in bytes [start, length) of a log ([R-LOG-COMMITTED]: nothing past length)."""
    name = name or os.path.basename(path)
    data = read_bytes(path)
    if len(data) < length:
        raise Damage(name, f"is {len(data)} bytes, shorter than its committed length {length}")
    if length < 32:
        raise Damage(name, "committed length is shorter than the header")
    h = data[:32]
    if h[:8] != LOG_MAGIC:
        raise Damage(name, "not a growing segment (bad magic)")
    if u32(h, 28) != crc32(h[:28]):
        raise Damage(name, "header checksum mismatch")
    if u16(h, 8) > 1:
        raise Damage(name, f"needs reader version {u16(h, 8)}")
    dim, shard, flags = u32(h, 12), u32(h, 16), u32(h, 20)
    if dim == 0 or flags & ~1 or u32(h, 24) != 0:
        raise Damage(name, "bad header fields (dim 0, unknown flags or reserved not zero)")
    keys = bool(flags & 1)
    records = []
    o = start
    # SPEC: 3 and 4, start is a record boundary, so a multiple of 8
    if o % 8:
        raise Damage(name, f"start {o} is not a multiple of 8")
    while o < length:
        # [R-LOG-RECORD] length, type, bounds and CRC before any field is used
        if length - o < 8 + 16:
            raise Damage(name, f"record at {o}: truncated")
        blen, bcrc = u32(data, o), u32(data, o + 4)
        if blen > length - o - 8:
            raise Damage(name, f"record at {o}: body of {blen} bytes passes the committed length")
        body = data[o + 8:o + 8 + blen]
        if crc32(body) != bcrc:
            raise Damage(name, f"record at {o}: checksum mismatch")
        rtype, n, lsn = u32(body, 0), u32(body, 4), u64(body, 8)
        if rtype != 1:
            raise Damage(name, f"record at {o}: type {rtype} is not 1")
        if not 1 <= n <= 1 << 20:
            raise Damage(name, f"record at {o}: {n} rows")
        if blen != 16 + 8 * n * (2 if keys else 1) + 4 * n * dim:
            raise Damage(name, f"record at {o}: body length {blen} does not match {n} rows")
        nxt = (o + 8 + blen + 7) // 8 * 8
        if nxt > length:
            raise Damage(name, f"record at {o}: padding passes the committed length")
        p = 16
        ids = np.frombuffer(body, "<u8", n, p)
        p += 8 * n
        kk = None
        if keys:
            kk = np.frombuffer(body, "<u8", n, p)
            p += 8 * n
        vecs = np.frombuffer(body, "<f4", n * dim, p).reshape(n, dim)
        check_rows(name, ids, np.full(n, lsn, np.uint64), vecs, f"record at {o}: ")
        records.append(Record(o, lsn, ids, kk, vecs))
        o = nxt
    return Log(name, dim, shard, flags, records)


# ---- sealed segments (SPEC 5) ---------------------------------------------------------------

SEG_MAGIC = b"\x89VSEG\r\n\x1a"
SEG_END = b"VSEGEND\n"
Section = namedtuple("Section", "type flags offset length crc param")

# type -> (name, decoder or None).  A decoder takes (segment, bytes) and returns the decoded
# section or raises Damage.  Index types are known (so a required index section is not
# refused as unknown) and CRC-checked; their decoders are for a later reader.
SECTION_TYPES = {
    1: ("VECTORS", lambda s, b: np.frombuffer(b, "<f4").reshape(s.rows, s.dim)),
    2: ("IDS", lambda s, b: np.frombuffer(b, "<u8")),
    3: ("LSNS", lambda s, b: np.frombuffer(b, "<u8")),
    4: ("NORMS", lambda s, b: np.frombuffer(b, "<f4")),
    5: ("KEYS", lambda s, b: np.frombuffer(b, "<u8")),
    6: ("ID_ORDER", lambda s, b: np.frombuffer(b, "<u4")),
    7: ("COLD_REF", None),
    16: ("HNSW_META", None), 17: ("HNSW_NODES", None), 18: ("HNSW_UPPER", None), 19: ("HNSW_SUMMARY", None),
    32: ("IVF_META", None), 33: ("IVF_CENTROIDS", None), 34: ("IVF_OFFSETS", None),
    35: ("IVF_ROWS", None), 36: ("IVF_VECTORS", None),
    48: ("SQ8_PARAMS", None), 49: ("SQ8_CODES", None), 50: ("SQ8_NORMS", None),
    56: ("PQ_CODEBOOKS", None), 57: ("PQ_CODES", None), 58: ("PQ_TERMS", None),
}

# SPEC 5.4: exact lengths of the FLAT sections, in (rows, dim)
FLAT_LENGTH = {1: lambda r, d: 4 * r * d, 2: lambda r, d: 8 * r, 3: lambda r, d: 8 * r,
               4: lambda r, d: 4 * r, 5: lambda r, d: 8 * r, 6: lambda r, d: 4 * r}


class Segment:
    """A sealed segment: header fields, section table and raw section bytes."""

    def __init__(self, name, data):
        self.name, self.data = name, data
        self.sections = {}
        self.cold = None  # SPEC 5.6.1: the .vcold segment holding VECTORS, when apart

    def raw(self, t):
        if t == 1 and self.cold is not None:
            return self.cold.raw(1)
        s = self.sections.get(t)
        return None if s is None else self.data[s.offset:s.offset + s.length]

    def decoded(self, t):
        b = self.raw(t)
        if b is None:
            return None
        dec = SECTION_TYPES.get(t, (None, None))[1]
        return dec(self, b) if dec else b

    def index_kind(self):
        if 16 in self.sections:
            return "hnsw"
        if 32 in self.sections:
            b = self.raw(32)
            return {2: "ivf_flat", 3: "ivf_pq", 4: "ivf_sq8"}.get(u32(b, 0) if len(b) >= 4 else 0, "ivf?")
        return "flat"


def read_cold(path, seg, verify):
    """The .vcold of seg (SPEC 5.6.1): the size and footer CRC COLD_REF gives, the segment
    layout with flag bit 2, seg's dim, metric, rows, shard and keys flag, and VECTORS alone."""
    ref = seg.raw(7)
    name = os.path.basename(path)
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        raise Damage(name, f"missing (the vectors of {seg.name})")
    if len(data) != u64(ref, 0):
        raise Damage(name, f"{len(data)} bytes, COLD_REF says {u64(ref, 0)}")
    if len(data) < 32 or crc32(data[-32:]) != u32(ref, 8):
        raise Damage(name, "its footer's CRC is not the one COLD_REF gives")
    c = read_segment(path, name, verify, cold=data)
    if (c.flags != 4 | (seg.flags & 1) or (c.dim, c.metric, c.rows, c.shard) != (seg.dim, seg.metric, seg.rows, seg.shard)
            or list(c.sections) != [1]):
        raise Damage(name, "not the cold file of its segment (header or sections)")
    return c


def read_segment(path, name=None, verify=True, cold=None):
    """Opens a sealed segment, checking header, table and footer ([R-SEG-BOUNDS],
    [R-SEG-TRUNC]) and, with verify, every section's CRC; with its vectors apart, its .vcold too
    (read_cold).  cold: the bytes of a .vcold file being read for its segment."""
    name = name or os.path.basename(path)
    data = read_bytes(path) if cold is None else cold
    size = len(data)
    if size < 64 + 32:
        raise Damage(name, "too short for a header and a footer")
    h = data[:64]
    if h[:8] != SEG_MAGIC:
        raise Damage(name, "not a sealed segment (bad magic)")
    if u32(h, 60) != crc32(h[:60]):
        raise Damage(name, "header checksum mismatch")
    if u16(h, 8) > 2:  # [R-VERSION]
        raise Damage(name, f"needs reader version {u16(h, 8)}")
    s = Segment(name, data)
    s.header_size, s.dim, s.elem, s.metric = u32(h, 12), u32(h, 16), u16(h, 20), u16(h, 22)
    s.rows, s.shard, s.flags = u64(h, 24), u32(h, 32), u32(h, 36)
    s.table_offset, s.section_count = u64(h, 40), u32(h, 48)
    if s.header_size != 64 or s.dim == 0 or s.elem != 1 or s.metric not in (1, 2, 3):
        raise Damage(name, "bad header fields")
    if s.flags & ~7 or u32(h, 52) or u32(h, 56):
        raise Damage(name, "unknown header flags or reserved fields not zero")
    # SPEC 5.1, 5.6.1: bit 1 vectors apart, bit 2 a cold file, never both, read_version 2
    if s.flags & 6 == 6 or (s.flags & 6 and u16(h, 8) != 2):
        raise Damage(name, "vectors-apart or cold flag without read_version 2, or both")
    if bool(s.flags & 4) != (cold is not None):
        raise Damage(name, "a cold file where a segment belongs, or the reverse")
    if s.section_count > 256 or s.table_offset % 64 or s.table_offset < 64:
        raise Damage(name, "bad section table place or count")
    # [R-SEG-TRUNC] table_offset + 32*count + 32 = file size, and a valid footer at the end
    if s.table_offset + 32 * s.section_count + 32 != size:
        raise Damage(name, f"file is {size} bytes, the header says {s.table_offset + 32 * s.section_count + 32}")
    f = data[size - 32:]
    if f[24:] != SEG_END:
        raise Damage(name, "footer magic missing (truncated?)")
    if u64(f, 0) != s.table_offset or u64(f, 8) != size or u32(f, 20) != 0:
        raise Damage(name, "footer does not match the header or the file size")
    table = data[s.table_offset:s.table_offset + 32 * s.section_count]
    if u32(f, 16) != crc32(h, table):
        raise Damage(name, "header and table checksum mismatch")
    prev_end = 64
    for i in range(s.section_count):
        e = Section(u32(table, 32 * i), u32(table, 32 * i + 4), u64(table, 32 * i + 8),
                    u64(table, 32 * i + 16), u32(table, 32 * i + 24), u32(table, 32 * i + 28))
        if e.flags & ~1 or e.param != 0:
            raise Damage(name, f"section {e.type}: unknown flags or non-zero param")
        # SPEC: 5.2, non-decreasing: an empty section may share its offset with the next
        if e.offset % 64 or e.offset < prev_end or e.length > s.table_offset - e.offset:
            raise Damage(name, f"section {e.type}: outside [64, table) or out of order")
        if e.type in s.sections:
            raise Damage(name, f"section type {e.type} appears twice")
        if e.type not in SECTION_TYPES and e.flags & 1:  # [R-SEG-SKIP] others are skipped
            raise Damage(name, f"required section type {e.type} is unknown to this reader")
        prev_end = e.offset + e.length
        s.sections[e.type] = e
        if verify and crc32(data[e.offset:e.offset + e.length]) != e.crc:
            raise Damage(name, f"section {SECTION_TYPES.get(e.type, (e.type,))[0]}: checksum mismatch")
    if cold is not None:  # the .vcold's checks are read_cold's
        if 1 not in s.sections or s.sections[1].length != 4 * s.rows * s.dim:
            raise Damage(name, "VECTORS missing or of the wrong length")
        return s
    apart = bool(s.flags & 2)
    need = ((7, 2, 3, 4) if apart else (1, 2, 3)) + ((5,) if s.flags & 1 else ())
    for t in need:
        if t not in s.sections:
            raise Damage(name, f"required section {SECTION_TYPES[t][0]} is missing")
    if apart:
        ref = s.raw(7)
        if 1 in s.sections or len(ref) != 32 or any(ref[12:]):
            raise Damage(name, "vectors apart with VECTORS, or a COLD_REF not 32 bytes with 20 zero")
        if not path.endswith(".vseg"):
            raise Damage(name, "vectors apart, but the name does not end in .vseg")
        s.cold = read_cold(path[:-5] + ".vcold", s, verify)
    elif 7 in s.sections:
        raise Damage(name, "COLD_REF without the vectors-apart flag")
    if 5 in s.sections and not s.flags & 1:
        raise Damage(name, "KEYS present without the keys flag")
    for t, ln in FLAT_LENGTH.items():
        if t in s.sections and s.sections[t].length != ln(s.rows, s.dim):
            raise Damage(name, f"section {SECTION_TYPES[t][0]}: length {s.sections[t].length}, "
                               f"expected {ln(s.rows, s.dim)}")
    check_rows(name, s.decoded(2), s.decoded(3), s.decoded(1))
    order = s.decoded(6)
    if order is not None and len(order):
        ids = s.decoded(2)
        if order.max() >= s.rows:
            raise Damage(name, "ID_ORDER holds a row number >= rows")
        want = np.lexsort((np.arange(s.rows), ids))
        if not np.array_equal(order.astype(np.int64), want):
            raise Damage(name, "ID_ORDER is not the rows sorted by id")
    return s


# ---- f32 arithmetic (SPEC 9) ----------------------------------------------------------------
#
# SPEC 9: distances are f32.  Each single operation named by SPEC (a product, a sum of two, a
# square root, a quotient) is the IEEE f32 operation, which NumPy's float32 scalars and arrays
# give exactly.  A sum over dimensions has no order in SPEC; this reader sums in float64 and
# rounds once, so it is within a few units in the last place of any f32 order, and bit-exact
# whenever the sums are exact (integer data).  Constants are wrapped in F() so that NumPy never
# promotes to float64 behind our back.

F = np.float32
F64 = np.float64
INF = float("inf")


def fsum_rows(x):
    """f32 of each row's float64 sum (x: 2-d)."""
    return x.astype(F64).sum(axis=1).astype(F)


def fdot(a, b):
    """f32 dot products of the rows of a with vector b."""
    return (a.astype(F64) @ b.astype(F64)).astype(F)


def seq_sum_f32(v):
    """The f32 sum of v in ascending order, each addition rounded (a plain C loop)."""
    return np.add.accumulate(v.astype(F), dtype=F)[-1] if len(v) else F(0)


def exact_distances(metric, q, x, xn=None):
    """SPEC 9 internal distances of query q to the rows x (f32), for metric 1 l2, 2 ip,
    3 cosine; xn: the rows' squared norms (NORMS) for cosine, computed when None."""
    if metric == 1:
        d = x.astype(F64) - q.astype(F64)
        return (d * d).sum(axis=1).astype(F)
    dot = fdot(x, q)
    if metric == 2:
        return -dot
    qn = F((q.astype(F64) ** 2).sum())
    if xn is None:
        xn = fsum_rows(x.astype(F64) ** 2)
    den = np.sqrt(qn) * np.sqrt(xn.astype(F))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = F(1) - dot / den
    return np.where(den > 0, out, F(1)).astype(F)


class TopK:
    """The k best (distance, tie) pairs offered, SPEC 9 [R-SEARCH-ORDER]: ascending distance,
    ties by the smaller tie key (the id; row numbers only when emulating a known defect)."""

    def __init__(self, k):
        self.k, self.items = k, []

    def bound(self):
        return self.items[-1][0] if len(self.items) >= self.k else INF

    def push(self, dist, tie, row):
        dist = float(dist)
        if not dist <= self.bound():  # also drops NaN
            return
        self.items.append((dist, tie, row))
        self.items.sort()
        del self.items[self.k:]

    def rows(self):
        return [(d, r) for d, _, r in self.items]


# ---- indexes (SPEC 5.5) ---------------------------------------------------------------------

NO_UPPER = 0xFFFFFFFF
METRIC_CODE = {"l2": 1, "ip": 2, "cosine": 3}


def index_problem(tag, seg, msg):
    return Problem(tag, f"{seg.name}: {msg}")


def normalised(seg):
    """The rows an index of a cosine segment describes: x * (1/sqrt(NORMS)) in f32, the zero
    vector for a zero norm (SPEC 5.5, Normalisation); the raw rows otherwise."""
    x = seg.decoded(1)
    if seg.metric != 3:
        return x
    n = seg_norms(seg)
    with np.errstate(divide="ignore"):
        inv = np.where(n > 0, F(1) / np.sqrt(n), F(0)).astype(F)
    return (x * inv[:, None]).astype(F)


def seg_norms(seg):
    """NORMS, or the squared norms computed when the segment has none."""
    n = seg.decoded(4)
    return n.astype(F) if n is not None else fsum_rows(seg.decoded(1).astype(F64) ** 2)


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hnsw_level(seed, r, M):
    """SPEC 5.5.1 Building: the level the writer draws for row r."""
    import math
    h = splitmix64((seed ^ splitmix64(r)) & M64)
    u = ((h >> 11) + 0.5) / 2.0 ** 53
    lv = -math.log(u) / math.log(M)
    return 31 if lv >= 31 else int(lv)


def rint_half_even_f32(v):
    return np.rint(v.astype(F)).astype(F)


class Hnsw:
    """An HNSW index (SPEC 5.5.1): META checked as [R-HNSW-META] requires when opened; the node
    blocks decoded into arrays, every field a search uses checked before use ([R-HNSW-CHECK]).
    (This reader decodes every block at open; a reader that maps the file reads only META,
    [R-INDEX-OPEN].)"""

    def __init__(self, seg):
        name, meta = seg.name, seg.raw(16)
        d = seg.dim
        if meta is None or len(meta) != 68 + 8 * d:
            raise Damage(name, f"HNSW_META is {None if meta is None else len(meta)} bytes, not {68 + 8 * d}")
        if u32(meta, 64 + 8 * d) != crc32(meta[:64 + 8 * d]):
            raise Damage(name, "HNSW_META checksum mismatch")
        (self.version, self.dim, self.metric, self.M, self.M0, self.efc, self.rows, self.max_level,
         self.entry, self.stride, self.code_kind, self.upper_words, self.seed) = \
            struct.unpack_from("<IIIIIIQIIIIQQ", meta, 0)
        if self.version != 1:
            raise Damage(name, f"HNSW_META version {self.version}")
        self.A = (d + 3) // 4 * 4
        want_stride = (self.A + 16 + 4 * self.M0 + 63) // 64 * 64
        if self.dim != d or self.metric != seg.metric or self.rows != seg.rows:
            raise Damage(name, "HNSW_META dim, metric or rows differ from the header")
        if not 2 <= self.M <= 128 or not self.M <= self.M0 <= 256 or self.stride != want_stride \
                or self.code_kind != 1 or self.max_level > 31 or (self.rows and self.entry >= self.rows):
            raise Damage(name, "HNSW_META parameters out of range")
        self.off = np.frombuffer(meta, "<f4", d, 64).astype(F)
        self.step = np.frombuffer(meta, "<f4", d, 64 + 4 * d).astype(F)
        if not (np.all(np.isfinite(self.off)) and np.all(np.isfinite(self.step)) and np.all(self.step >= 0)):
            raise Damage(name, "HNSW quantizer not finite or negative step")
        nodes, upper = seg.raw(17), seg.raw(18)
        if nodes is None or len(nodes) != self.rows * self.stride:
            raise Damage(name, "HNSW_NODES missing or not rows*stride bytes")
        if upper is None or len(upper) % 4 or len(upper) // 4 != self.upper_words:
            raise Damage(name, "HNSW_UPPER missing or not 4*upper_words bytes")
        n, A = self.rows, self.A
        blocks = np.frombuffer(nodes, np.uint8).reshape(n, self.stride)
        self.blocks = blocks
        self.codes = blocks[:, :d]
        words = blocks[:, A:A + 16 + 4 * self.M0].copy().view("<u4")
        self.aux = words[:, 0].view("<f4").astype(F)
        self.upper_of, self.row_of, self.count = words[:, 1], words[:, 2].astype(np.int64), words[:, 3]
        self.links = words[:, 4:]
        self.upper = np.frombuffer(upper, "<u4")
        self.level_of = np.zeros(n, np.int64)
        # SPEC 5.5.1 HNSW_NODES: a block's row numbers the segment row it stands for; every
        # row has exactly one block
        if n and (self.row_of.max() >= n or len(np.unique(self.row_of)) != n):
            raise Damage(name, "HNSW_NODES row numbers are not a permutation of the rows")
        self.node_of = np.empty(n, np.int64)
        self.node_of[self.row_of] = np.arange(n)
        if n and self.count.max() > self.M0:
            raise Damage(name, "HNSW_NODES: a level-0 count above M0")
        for k in range(n):
            c = int(self.count[k])
            if c and self.links[k, :c].max() >= n:
                raise Damage(name, f"HNSW_NODES: node {k} links to a node >= rows")
            u = int(self.upper_of[k])
            if u != NO_UPPER:
                self.level_of[k] = self.upper_record(k, 1, name)[0]
        # the entry is on the top level, and no node is above it
        if n and (self.level_of[self.entry] != self.max_level or self.level_of.max() != self.max_level):
            raise Damage(name, f"HNSW entry node {self.entry} is not on max_level {self.max_level}")
        self.l2_form = self.metric == 1 and A + 4 > (d + 63) // 64 * 64
        self.summary = self.read_summary(seg)

    def read_summary(self, seg):
        """HNSW_SUMMARY (SPEC 5.5.1) checked as [R-HNSW-SUMMARY] requires: (centres, radii) as
        float64, or None when the segment has none."""
        b, name, d = seg.raw(19), seg.name, seg.dim
        if b is None:
            return None
        if len(b) < 20:
            raise Damage(name, "HNSW_SUMMARY is too short")
        version, c, dim, metric = struct.unpack_from("<IIII", b, 0)
        if version != 1 or dim != d or metric != seg.metric:
            raise Damage(name, "HNSW_SUMMARY version, dim or metric differ from the segment's")
        if not 1 <= c <= min(seg.rows, 64):
            raise Damage(name, f"HNSW_SUMMARY: {c} centres for {seg.rows} rows")
        if len(b) != 20 + 4 * c * (d + 1):
            raise Damage(name, f"HNSW_SUMMARY is {len(b)} bytes, not {20 + 4 * c * (d + 1)}")
        if u32(b, len(b) - 4) != crc32(b[:-4]):
            raise Damage(name, "HNSW_SUMMARY checksum mismatch")
        cent = np.frombuffer(b, "<f4", c * d, 16).reshape(c, d).astype(F64)
        rad = np.frombuffer(b, "<f4", c, 16 + 4 * c * d).astype(F64)
        if not (np.all(np.isfinite(cent)) and np.all(np.isfinite(rad)) and np.all(rad >= 0)):
            raise Damage(name, "HNSW_SUMMARY: a centre or radius not finite, or a negative radius")
        return cent, rad

    def lower_bound(self, q):
        """SPEC 5.5.1 The bound, with its rounding margin: at most the distance of q to any row."""
        cent, rad = self.summary
        d = self.dim
        eps = 2.0 * (d + 16) * 2.0 ** -24
        q = q.astype(F64)
        qs = float(np.sqrt(q @ q))
        if self.metric == 2:
            cn = np.sqrt((cent * cent).sum(axis=1))
            return float((-(cent @ q) - qs * rad - eps * qs * (cn + rad)).min())
        if self.metric == 3:
            q = q / qs if qs > 0 else q * 0
        g = np.maximum(np.sqrt(((q - cent) ** 2).sum(axis=1)) - rad, 0)
        lb = float((g * g).min())
        return lb / 2 - 4 * eps - 1e-6 if self.metric == 3 else lb * (1 - eps)

    def upper_record(self, k, l, name="segment"):
        """(level, links on level l) of node k's HNSW_UPPER record, checked ([R-HNSW-CHECK])."""
        u = int(self.upper_of[k])
        W, M = self.upper_words, self.M
        if u == NO_UPPER or u >= W:
            raise Damage(name, f"HNSW node {k}: no upper record for level {l}")
        L = int(self.upper[u])
        if L < l or L < 1 or L > self.max_level or u + 1 + L * (M + 1) > W:
            raise Damage(name, f"HNSW node {k}: upper record level {L} damaged")
        o = u + 1 + (l - 1) * (M + 1)
        c = int(self.upper[o])
        if c > M:
            raise Damage(name, f"HNSW node {k}: level-{l} count {c} above M")
        ls = self.upper[o + 1:o + 1 + c].astype(np.int64)
        if c and ls.max() >= self.rows:
            raise Damage(name, f"HNSW node {k}: level-{l} link out of range")
        return L, ls

    # -- the walk (SPEC 5.5.1 Searching) --------------------------------------------------

    def approx(self, q):
        """The walk's approximate distance of query q to every node, as SPEC 5.5.1 defines it."""
        q = q.astype(F)
        qn = F((q.astype(F64) ** 2).sum())
        if self.l2_form:
            w = q - self.off
            t = w[None, :] - self.step[None, :] * self.codes.astype(F)
            return fsum_rows(t.astype(F64) ** 2)
        if self.metric == 1:
            s, base = F(-2), qn
        elif self.metric == 2:
            s, base = F(-1), F(0)
        else:
            s, base = (F(-1) / np.sqrt(qn) if qn > 0 else F(0)), F(1)
        w = (s * q) * self.step
        c0 = base + s * seq_sum_f32(q * self.off)
        mx = F(np.abs(w).max()) if len(w) else F(0)
        qmax = F(min(32767, max(1, (2 ** 31 - 1) // (255 * max(len(w), 1)))))
        sq = mx / qmax if mx > 0 else F(0)
        inv = qmax / mx if mx > 0 else F(0)
        with np.errstate(invalid="ignore", over="ignore"):
            v = w * inv
        v = np.where(np.isnan(v), F(0), np.clip(v, -qmax, qmax)).astype(F)
        qc = np.trunc(v + np.where(v >= 0, F(0.5), F(-0.5)).astype(F)).astype(np.int64)
        idot = (self.codes.astype(np.int64) @ qc).astype(F)
        ca = F(1) if self.metric == 1 else F(0)
        return (c0 + ca * self.aux) + sq * idot

    def search(self, q, k, exact, dead, tie, ef=0, refine=0, name="segment"):
        """SPEC 5.5.1 Searching: the rows (by row number) and exact distances of a search for
        q.  exact(rows) gives SPEC 9 distances; dead[row] marks deleted rows; tie[row] is the
        key equal distances are ordered by."""
        import heapq
        n = self.rows
        if k == 0 or n == 0:
            return []
        ef = ef or 64
        ef = min(max(ef, k), n)
        D = [float(x) for x in self.approx(q)]
        cur = self.entry
        for l in range(self.max_level, 0, -1):
            changed = True
            while changed:
                changed = False
                for x in self.upper_record(cur, l, name)[1].tolist():
                    if D[x] < D[cur]:
                        cur, changed = x, True
        row = self.row_of
        live = lambda x: not dead[row[x]]
        visited = {cur}
        C = [(D[cur], cur)]
        W = [(-D[cur], -cur)] if live(cur) else []
        while C:
            d, c = heapq.heappop(C)
            if len(W) == ef and d > -W[0][0]:
                break
            new = []
            for x in self.links[c, :self.count[c]].tolist():
                if x not in visited:
                    visited.add(x)
                    new.append(x)
            for x in new:
                if len(W) < ef or D[x] < -W[0][0]:
                    heapq.heappush(C, (D[x], x))
                    if live(x):
                        heapq.heappush(W, (-D[x], -x))
                        if len(W) > ef:
                            heapq.heappop(W)
        found = sorted((-a, -b) for a, b in W)
        # step 5: every walk result, or the first R*k when --refine gives R
        nr = min(refine * k, len(found)) if refine else len(found)
        t = TopK(k)
        for i in range(nr):
            r = int(row[found[i][1]])
            t.push(exact(np.array([r]))[0], tie[r], r)
        if len(found) < k:
            seen = {int(row[x]) for _, x in found}
            rest = np.array([r for r in range(n) if not dead[r] and r not in seen], np.int64)
            if len(rest):
                for r, ex in zip(rest.tolist(), exact(rest)):
                    t.push(ex, tie[r], r)
        return t.rows()

    def reachable(self):
        """Nodes reachable from the entry over level-0 links."""
        seen = np.zeros(self.rows, bool)
        if not self.rows:
            return seen
        stack = [self.entry]
        seen[self.entry] = True
        while stack:
            c = stack.pop()
            for x in self.links[c, :self.count[c]]:
                if not seen[x]:
                    seen[x] = True
                    stack.append(int(x))
        return seen

    # -- verification: every byte (SPEC 5.5.1) ---------------------------------------------

    def verify(self, seg):
        P = lambda tag, msg: index_problem(tag, seg, msg)
        probs, n, d, A, M, M0 = [], self.rows, self.dim, self.A, self.M, self.M0
        # the summary: every row within the radius of some centre, and c as the writer picks it
        if self.summary is None and n:
            probs.append(P("hnsw-summary", "no HNSW_SUMMARY, which the writer emits with every HNSW index"))
        elif self.summary is not None:
            cent, rad = self.summary
            x = normalised(seg).astype(F64)
            out = 0
            for i in range(0, n, 4096):
                dd = np.sqrt(((x[i:i + 4096, None, :] - cent[None]) ** 2).sum(axis=2))
                out += int(((dd - rad[None]).min(axis=1) > 1e-9 * (1 + rad.max())).sum())
            if out:
                probs.append(P("hnsw-summary", f"{out} rows lie outside every ball of HNSW_SUMMARY"))
            if len(rad) != min(64, max(1, n // 256)):
                probs.append(P("hnsw-summary", f"{len(rad)} centres, the writer picks min(64, max(1, rows/256))"))
        b = self.blocks
        if n and (b[:, d:A].any() or b[:, A + 16 + 4 * M0:].any()):
            probs.append(P("hnsw-padding", "HNSW_NODES padding bytes are not zero"))
        # unused link words, level 0 and upper levels
        stale0 = sum(int(self.links[k, self.count[k]:].any()) for k in range(n))
        # HNSW_UPPER: records in node order, no gaps, checked links
        words, stale_up = 0, 0
        for k in range(n):
            u = int(self.upper_of[k])
            if u == NO_UPPER:
                continue
            if u != words:
                probs.append(P("hnsw-upper", f"node {k}'s upper record starts at word {u}, not {words}"))
                break
            L = int(self.level_of[k])
            for l in range(1, L + 1):
                _, ls = self.upper_record(k, l, seg.name)
                o = u + 1 + (l - 1) * (M + 1)
                if self.upper[o + 1 + len(ls):o + 1 + M].any():
                    stale_up += 1
                for x in ls.tolist():
                    if self.level_of[x] < l:
                        probs.append(P("hnsw-upper", f"node {k} links on level {l} to node {x} of level "
                                                     f"{self.level_of[x]}"))
            words = u + 1 + L * (M + 1)
        else:
            if words != self.upper_words:
                probs.append(P("hnsw-upper", f"upper records end at word {words}, upper_words is {self.upper_words}"))
        if stale0 or stale_up:
            probs.append(P("hnsw-stale-links", f"link words past the count are not zero in {stale0} node "
                                               f"blocks and {stale_up} upper lists"))
        for k in range(n):
            ls = self.links[k, :self.count[k]]
            if len(np.unique(ls)) != len(ls) or k in ls:
                probs.append(P("hnsw-links", f"node {k}: a level-0 link repeated or to itself"))
                break
        # levels drawn from the seed (SPEC 5.5.1 Building)
        lv = [hnsw_level(self.seed, r, M) for r in range(n)]
        if n and not np.array_equal(self.level_of[self.node_of], np.array(lv)):
            probs.append(P("hnsw-levels", "node levels are not the levels the seed draws"))
        # node order: breadth first over level-0 links from the entry, then from the lowest
        # row not yet reached
        if n:
            order, seen_rows, nxt = [], set(), 0
            start = int(self.row_of[self.entry])
            head = 0
            node_rows = [int(r) for r in self.row_of]
            while len(order) < n:
                if head == len(order):
                    while start in seen_rows:
                        start, nxt = nxt, nxt + 1
                    seen_rows.add(start)
                    order.append(start)
                r = order[head]
                head += 1
                k = int(self.node_of[r])
                for x in self.links[k, :self.count[k]].tolist():
                    if node_rows[x] not in seen_rows:
                        seen_rows.add(node_rows[x])
                        order.append(node_rows[x])
            if order != node_rows or self.entry != 0:
                probs.append(P("hnsw-order", "node blocks are not in breadth-first order from the entry"))
        unreached = int((~self.reachable()).sum())
        if unreached:
            probs.append(P("hnsw-reach", f"{unreached} of {n} rows are unreachable from the entry on level 0"))
        # the quantizer and the codes (SPEC 5.5.1 Quantizer)
        x = normalised(seg)
        if n:
            lo, hi = x.min(axis=0), x.max(axis=0)
            if not (np.array_equal(self.off, lo) and np.array_equal(self.step, (hi - lo) / F(255))):
                probs.append(P("hnsw-quantizer", "off and step are not the minimum and range/255"))
            xr = x[self.row_of]
            with np.errstate(divide="ignore", invalid="ignore"):
                c = rint_half_even_f32((xr - self.off) / self.step)
            c = np.where(self.step > 0, np.clip(c, 0, 255), 0).astype(np.uint8)
            if not np.array_equal(c, self.codes):
                bad = int((c != self.codes).any(axis=1).sum())
                probs.append(P("hnsw-codes", f"{bad} node codes are not round-half-even((x - off)/step)"))
            if self.metric == 1:
                y = self.off + self.step * self.codes.astype(F)
                aux = np.array([seq_sum_f32(r * r) for r in y], F)
            elif self.metric == 2:
                nr = seg_norms(seg)
                P_ = nr.max()
                aux = np.sqrt(np.maximum(P_ - nr, F(0)))[self.row_of]
            else:
                aux = np.zeros(n, F)
            if not np.array_equal(aux.view("<u4"), self.aux.view("<u4")):
                probs.append(P("hnsw-aux", f"{int((aux != self.aux).sum())} aux values differ from SPEC's formula"))
        return probs


IVF_KINDS = {2: "ivf_flat", 3: "ivf_pq", 4: "ivf_sq8"}


class Ivf:
    """An IVF index (SPEC 5.5.2): IVF_META checked as [R-IVF-META] requires when opened, with the
    two ends of IVF_OFFSETS ([R-INDEX-OPEN]).  Its sections are optional [R-IVF-OPTIONAL]: a
    reader without IVF scans VECTORS (Searcher.exact), and check_deep requires the bit clear."""

    def __init__(self, seg):
        name, meta, d, n = seg.name, seg.raw(32), seg.dim, seg.rows
        if meta is None or len(meta) != 64:
            raise Damage(name, "IVF_META is not 64 bytes")
        if u32(meta, 60) != crc32(meta[:60]):
            raise Damage(name, "IVF_META checksum mismatch")
        (self.kind, self.version, self.dim, self.metric, self.rows, self.nlist, self.pq_m, self.pq_bits,
         self.max_list, self.seed, self.train_rows) = struct.unpack_from("<IIIIQIIIIQI", meta, 0)
        if meta[52:60] != bytes(8):
            raise Damage(name, "IVF_META reserved bytes are not zero")
        if self.version not in (1, 2):
            raise Damage(name, f"IVF_META version {self.version}")
        if self.kind not in IVF_KINDS:
            raise Damage(name, f"IVF_META kind {self.kind}")
        if self.dim != d or self.metric != seg.metric or self.rows != n or n > 0xFFFFFFFF:
            raise Damage(name, "IVF_META dim, metric or rows differ from the header")
        # version 2: a shared quantiser may have more lists than the segment has rows [R-IVF-SHARED]
        if not 1 <= self.nlist <= (65536 if self.version == 2 else min(65536, max(n, 1))):
            raise Damage(name, f"IVF_META nlist {self.nlist} out of range")
        if self.kind == 3:
            if not (1 <= self.pq_m <= 256 and d % self.pq_m == 0 and self.pq_bits == 8):
                raise Damage(name, "IVF_META pq_m or pq_bits out of range")
        elif self.pq_m or self.pq_bits:
            raise Damage(name, "IVF_META pq_m or pq_bits set for a kind without PQ")
        L = self.nlist
        need = {33: 4 * L * d, 34: 8 * (L + 1), 35: 4 * n}
        if self.kind == 2:
            need[36] = 4 * n * d
        if self.kind == 4:
            need.update({48: 8 * d, 49: n * d})
            if self.metric == 1:
                need[50] = 4 * n
        if self.kind == 3:
            need.update({56: 1024 * d, 57: n * self.pq_m})
            if self.metric == 1:
                need[58] = 4 * n
        for t, ln in need.items():
            b = seg.raw(t)
            if b is None or len(b) != ln:
                raise Damage(name, f"section {SECTION_TYPES[t][0]} is "
                                   f"{'missing' if b is None else f'{len(b)} bytes'}, expected {ln}")
        self.cent = np.frombuffer(seg.raw(33), "<f4").reshape(L, d).astype(F)
        self.offsets = np.frombuffer(seg.raw(34), "<u8")
        # [R-IVF-META] the two ends of IVF_OFFSETS are read at open
        if self.offsets[0] != 0 or self.offsets[L] != n:
            raise Damage(name, "IVF_OFFSETS do not run from 0 to rows")
        self.pos_row = np.frombuffer(seg.raw(35), "<u4").astype(np.int64)
        if self.kind == 2:
            self.vecs = np.frombuffer(seg.raw(36), "<f4").reshape(n, d)
        if self.kind == 4:
            pr = np.frombuffer(seg.raw(48), "<f4").astype(F)
            self.sq_min, self.sq_scale = pr[:d], pr[d:]
            self.codes = np.frombuffer(seg.raw(49), np.uint8).reshape(n, d)
        if self.kind == 3:
            self.dsub = d // self.pq_m
            # component t of codeword i of sub-quantizer j is at (j*dsub + t)*256 + i
            self.cb = np.frombuffer(seg.raw(56), "<f4").reshape(self.pq_m, self.dsub, 256).astype(F)
            self.codes = np.frombuffer(seg.raw(57), np.uint8).reshape(n, self.pq_m)
        self.terms = None
        if self.metric == 1 and self.kind in (3, 4):
            self.terms = np.frombuffer(seg.raw(58 if self.kind == 3 else 50), "<f4").astype(F)

    def list_span(self, l, name):
        lo, hi = int(self.offsets[l]), int(self.offsets[l + 1])
        if not lo <= hi <= self.rows:  # [R-IVF-BOUNDS]
            raise Damage(name, f"IVF list {l} spans positions {lo}..{hi}")
        return lo, hi

    # -- search (SPEC 5.5.2 Search) --------------------------------------------------------

    def rank_lists(self, qx, rank16):
        """Step 1: the lists' ranking distances; rank16 ranks on the binary16 copy."""
        c, m = self.cent, self.metric
        if rank16 and np.all(np.isfinite(c)):
            import math
            mx = float(np.abs(c).max()) if c.size else 0.0
            e = math.frexp(mx if mx > 0 else 1.0)[1]
            scale = F(2.0 ** (15 - e))
            c = (c * scale).astype(np.float16).astype(F)
            qx = qx * scale
        if m == 2:
            cd = -fdot(c, qx)
        else:
            t = qx[None, :].astype(F) - c  # f32 differences, as the kernels take them
            cd = fsum_rows(t.astype(F64) ** 2)
        return np.where(np.isnan(cd), F(INF), cd).astype(F)

    def search(self, q, k, exact, dead, tie, seg, nprobe=0, refine=0, rank16=False, sq8_float=False):
        """SPEC 5.5.2 Search: (exact or approximate distance, row) of the hits for q."""
        n, name = self.rows, seg.name
        if k == 0 or n == 0:
            return []
        m, L = self.metric, self.nlist
        q = q.astype(F)
        qn = F((q.astype(F64) ** 2).sum())
        npr = nprobe or max(8, int(np.floor(np.sqrt(L) + 0.5)))
        npr = min(npr, L)
        R = refine if self.kind != 2 else 0
        qx = q
        if m == 3:
            inv = F(1) / np.sqrt(qn) if qn > 0 else F(0)
            qx = q * inv
        cd = self.rank_lists(qx, rank16)
        order = sorted(range(L), key=lambda l: (float(cd[l]), l))
        out = TopK(min(R * k, n) if R else k)
        est = self.estimator(q, qn, qx, seg, sq8_float)
        live = 0
        for i, l in enumerate(order):
            # [R-IVF-LIVE] past nprobe lists only while fewer than k live rows were seen
            if i >= npr and (live >= k or npr >= L):
                break
            lo, hi = self.list_span(l, name)
            if lo == hi:
                continue
            rows = self.pos_row[lo:hi]
            if rows.max() >= n:  # [R-IVF-BOUNDS]
                raise Damage(name, f"IVF_ROWS holds a row number >= rows in list {l}")
            dist = est(l, lo, hi, rows)
            for r, dv in zip(rows.tolist(), dist):
                if dead[r]:
                    continue
                live += 1
                out.push(dv, tie[r], r)
        if not R:
            return out.rows()
        t = TopK(k)
        cand = np.array([r for _, r in out.rows()], np.int64)
        if len(cand):
            for r, ex in zip(cand.tolist(), exact(cand)):
                t.push(ex, tie[r], r)
        return t.rows()

    def estimator(self, q, qn, qx, seg, sq8_float):
        """f(list, lo, hi, rows) -> the distances step 2 pushes for positions lo..hi."""
        m, d = self.metric, self.dim
        if self.kind == 2:
            xn = seg_norms(seg)
            return lambda l, lo, hi, rows: exact_distances(m, q, self.vecs[lo:hi], xn[rows])
        f = F(-2) if m == 1 else F(-1)
        if self.kind == 4:
            qm = np.add.accumulate(qx.astype(F64) * self.sq_min.astype(F64))[-1]
            base = F(F64(qn) - 2.0 * qm) if m == 1 else F(-qm) if m == 2 else F(1.0 - qm)
            w = (f * qx) * self.sq_scale
            if sq8_float:
                # (the f32-weight form, four partial sums, of the scalar kernels before they
                # gained the 16-bit one: kept to name that defect should it return)
                def dots(codes):
                    cf = codes.astype(F)
                    d4 = d - d % 4
                    s = [np.zeros(len(codes), F) for _ in range(4)]
                    for t in range(d4):
                        s[t % 4] = s[t % 4] + w[t] * cf[:, t]
                    for t in range(d4, d):
                        s[0] = s[0] + w[t] * cf[:, t]
                    return (s[0] + s[1]) + (s[2] + s[3])
            else:
                import math
                mw = float(np.abs(w).max())
                lim = min(math.floor((2 ** 31 - 1) / (255.0 * d)) - 1, 32767)
                e = math.frexp(lim / mw if mw > 0 else 1.0)[1]
                ws = F(2.0 ** (e - 1))
                w16 = np.rint(w * ws).astype(np.int64)
                inv = F(1) / ws

                def dots(codes):
                    return (codes.astype(np.int64) @ w16).astype(F) * inv
            terms = self.terms

            def sq8(l, lo, hi, rows):
                t = terms[lo:hi] if terms is not None else F(0)
                return (base + t) + dots(self.codes[lo:hi])
            return sq8
        # IVF_PQ: T_j[i] = (f * sub-vector j of qx) . codeword i of sub-quantizer j
        pm, ds = self.pq_m, self.dsub
        wq = (f * qx).astype(F64).reshape(pm, ds)
        lut = np.einsum("jt,jti->ji", wq, self.cb.astype(F64)).astype(F)
        terms = self.terms

        def pq(l, lo, hi, rows):
            c = self.cent[l]
            if m == 1:
                base = fsum_rows((qx - c)[None, :].astype(F64) ** 2)[0]
            elif m == 2:
                base = -fdot(c[None, :], qx)[0]
            else:
                base = F(1) - fdot(c[None, :], qx)[0]
            vals = lut[np.arange(pm)[None, :], self.codes[lo:hi]]
            # four partial sums over j mod 4 (the tail to the first), then (s0+s1)+(s2+s3)
            m4 = pm - pm % 4
            s = [np.zeros(hi - lo, F) for _ in range(4)]
            for j in range(m4):
                s[j % 4] = s[j % 4] + vals[:, j]
            for j in range(m4, pm):
                s[0] = s[0] + vals[:, j]
            adc = (s[0] + s[1]) + (s[2] + s[3])
            t = terms[lo:hi] if terms is not None else F(0)
            return (base + t) + adc
        return pq

    # -- verification: every byte (SPEC 5.5.2) ---------------------------------------------

    def verify(self, seg):
        P = lambda tag, msg: index_problem(tag, seg, msg)
        probs, n, L = [], self.rows, self.nlist
        off = self.offsets.astype(np.int64)
        if np.any(np.diff(off) < 0):
            probs.append(P("ivf-offsets", "IVF_OFFSETS decrease"))
            return probs
        lens = np.diff(off)
        if n and int(lens.max()) != self.max_list:
            probs.append(P("ivf-meta", f"max_list {self.max_list}, the longest list holds {int(lens.max())}"))
        pr = self.pos_row
        if n and (pr.max() >= n or len(np.unique(pr)) != n):
            probs.append(P("ivf-rows", "IVF_ROWS is not a permutation of the rows"))
            return probs
        list_of = np.repeat(np.arange(L), lens)
        if n > 1 and np.any((np.diff(pr) <= 0) & (list_of[1:] == list_of[:-1])):
            probs.append(P("ivf-rows", "IVF_ROWS not ascending within a list"))
        if not np.all(np.isfinite(self.cent)):
            probs.append(P("ivf-centroids", "a centroid is not finite"))
        x = normalised(seg)
        xp = x[pr]
        # each row in the list of its nearest centroid (squared L2), up to rounding
        if n:
            cd = ((xp.astype(F64)[:, None, :] - self.cent.astype(F64)[None, :, :]) ** 2).sum(axis=2)
            own = cd[np.arange(n), list_of]
            best = cd.min(axis=1)
            if np.any(own > best * (1 + 1e-5) + 1e-9):
                probs.append(P("ivf-assign", f"{int((own > best * (1 + 1e-5) + 1e-9).sum())} rows are not in "
                                             "the list of their nearest centroid"))
        raw = seg.decoded(1)
        if self.kind == 2 and not np.array_equal(self.vecs.view("<u4"), raw[pr].view("<u4")):
            probs.append(P("ivf-vectors", "IVF_VECTORS is not VECTORS in position order"))
        if self.kind == 4 and n:
            lo, hi = x.min(axis=0), x.max(axis=0)
            if not (np.array_equal(self.sq_min, lo) and np.array_equal(self.sq_scale, (hi - lo) / F(255))):
                probs.append(P("sq8-params", "SQ8_PARAMS are not the minimum and range/255"))
            with np.errstate(divide="ignore", invalid="ignore"):
                c = rint_half_even_f32((xp - self.sq_min) / self.sq_scale)
            c = np.where(self.sq_scale > 0, np.clip(c, 0, 255), 0).astype(np.uint8)
            if not np.array_equal(c, self.codes):
                probs.append(P("sq8-codes", f"{int((c != self.codes).any(axis=1).sum())} positions' codes are "
                                            "not round-half-even((x - min)/scale)"))
            if self.terms is not None:
                y = (self.sq_min + self.sq_scale * self.codes.astype(F)).astype(F64)
                want = np.add.accumulate(y * y, axis=1)[:, -1].astype(F)
                if not np.array_equal(want.view("<u4"), self.terms.view("<u4")):
                    probs.append(P("sq8-norms", f"{int((want != self.terms).sum())} SQ8_NORMS differ from "
                                                "the double sum of the f32-decoded squares"))
        if self.kind == 3 and n:
            if not np.all(np.isfinite(self.cb)):
                probs.append(P("pq-codebooks", "a codeword is not finite"))
            res = (xp - self.cent[list_of]).astype(F)
            pm, ds = self.pq_m, self.dsub
            bad, cbt = 0, self.cb.astype(F64)
            for j in range(pm):
                sub = res[:, j * ds:(j + 1) * ds].astype(F64)
                dist = ((sub[:, :, None] - cbt[j][None, :, :]) ** 2).sum(axis=1)
                own = dist[np.arange(n), self.codes[:, j]]
                bad += int((own > dist.min(axis=1) * (1 + 1e-5) + 1e-12).sum())
            if bad:
                probs.append(P("pq-codes", f"{bad} sub-vector codes are not the nearest codeword"))
            if self.terms is not None:
                c = self.cent[list_of].astype(F64).reshape(n, pm, ds)
                v = cbt[np.arange(pm)[None, :, None], np.arange(ds)[None, None, :], self.codes[:, :, None]]
                tt = (v * v + 2.0 * c * v).reshape(n, pm * ds)
                want = np.add.accumulate(tt, axis=1)[:, -1].astype(F)
                if not np.array_equal(want.view("<u4"), self.terms.view("<u4")):
                    probs.append(P("pq-terms", f"{int((want != self.terms).sum())} PQ_TERMS differ from the "
                                               "double sum of |r|^2 + 2 c.r"))
        return probs


def open_index(seg):
    """The index a segment carries (Hnsw, Ivf) or None for FLAT; Damage when META fails."""
    if 16 in seg.sections:
        return Hnsw(seg)
    if 32 in seg.sections:
        return Ivf(seg)
    return None


# ---- tombstones (SPEC 6) --------------------------------------------------------------------

TOMB_MAGIC = b"\x89VTMB\r\n\x1a"


def read_tombstones(path, name=None):
    """(count, 2) array of (id, lsn)."""
    name = name or os.path.basename(path)
    data = read_bytes(path)
    if len(data) < 40 or data[:8] != TOMB_MAGIC:
        raise Damage(name, "not a tombstone file")
    if u16(data, 8) > 1:
        raise Damage(name, f"needs reader version {u16(data, 8)}")
    count = u64(data, 16)
    if u32(data, 12) or u64(data, 24):
        raise Damage(name, "reserved header fields not zero")
    if 40 + 16 * count != len(data):
        raise Damage(name, f"{len(data)} bytes do not hold {count} entries")
    end = 32 + 16 * count
    if u32(data, end) != crc32(data[:end]):
        raise Damage(name, "checksum mismatch")
    if u32(data, end + 4):
        raise Damage(name, "reserved trailer field not zero")
    ent = np.frombuffer(data, "<u8", 2 * count, 32).reshape(count, 2)
    if count > 1:
        a, b = ent[:-1], ent[1:]
        # SPEC: 6, equal neighbouring entries are allowed (a delete listing an id twice)
        if np.any((a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))):
            raise Damage(name, "entries are not sorted by id, then lsn")
    return ent


# ---- partial results (SPEC 7) ---------------------------------------------------------------

PART_MAGIC = b"\x89VPRT\r\n\x1a"
Partial = namedtuple("Partial", "metric nq k generation dist ids")


def read_partial(path, name=None):
    """A partial result: dist (nq, k) f32 and ids (nq, k) u64, every check of SPEC 7."""
    name = name or os.path.basename(path)
    data = read_bytes(path)
    if len(data) < 40 or data[:8] != PART_MAGIC:
        raise Damage(name, "not a partial result")
    if u16(data, 8) > 1:
        raise Damage(name, f"needs reader version {u16(data, 8)}")
    metric, nq, k, gen = u32(data, 12), u32(data, 16), u32(data, 20), u64(data, 24)
    if metric not in (1, 2, 3) or not 1 <= k <= 1000000:
        raise Damage(name, f"metric {metric} or k {k} out of range")
    # [R-PARTIAL-ALLOC] the file holds what the header announces before anything is allocated
    if (len(data) - 40) // 16 != nq * k or (len(data) - 40) % 16:
        raise Damage(name, f"{len(data)} bytes do not hold {nq} x {k} hits")
    end = 32 + 16 * nq * k
    if u32(data, end) != crc32(data[:end]):
        raise Damage(name, "checksum mismatch")
    if u32(data, end + 4):
        raise Damage(name, "reserved trailer field not zero")
    rec = np.frombuffer(data, np.dtype([("d", "<f4"), ("pad", "<u4"), ("id", "<u8")]), nq * k, 32)
    dist, pad, ids = rec["d"].reshape(nq, k).astype(F), rec["pad"], rec["id"].reshape(nq, k)
    # [R-PARTIAL-VALUES]
    if pad.any():
        raise Damage(name, "a hit's reserved field is not zero")
    missing = ids == NO_HIT
    if np.any(np.isnan(dist)) or np.any(~missing & (ids >= ID_LIMIT)) or np.any(missing & (dist != INF)):
        raise Damage(name, "a hit with a NaN distance, an id above 2^63-1 or a bad missing hit")
    for qi in range(nq):
        hits = [(float(d), int(i)) for d, i in zip(dist[qi], ids[qi])]
        n = int((~missing[qi]).sum())
        if missing[qi, :n].any() or hits[:n] != sorted(hits[:n]):
            raise Damage(name, f"query {qi}: hits out of (distance, id) order, or a missing hit before a real one")
    return Partial(metric, nq, k, gen, dist, ids)


def merge_hits(lists, k):
    """[R-PARTIAL-MERGE] the best k of the union, an id found twice kept with its smaller distance."""
    best = {}
    for hits in lists:
        for d, i in hits:
            if i != NO_HIT and (i not in best or d < best[i]):
                best[i] = d
    return sorted((d, i) for i, d in best.items())[:k]


def partial_hits(p):
    """[[(dist, id)...] per query] of a Partial, missing hits left out."""
    return [[(float(d), int(i)) for d, i in zip(p.dist[q], p.ids[q]) if i != NO_HIT] for q in range(p.nq)]


# ---- routing (SPEC 8) -----------------------------------------------------------------------


def route_hash(key):
    h = (key + 0x9E3779B97F4A7C15) & M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def route(shards, key):
    """The shard id that owns routing key key ([R-ROUTE-KEY], then the hash trie)."""
    for s in shards:
        if s.key is not None and s.key == key:
            return s.id
    h = route_hash(key)
    hits = [s.id for s in shards if s.key is None and (s.depth == 64 and h == s.value or
                                                         s.depth < 64 and h & ((1 << s.depth) - 1) == s.value)]
    return hits[0] if len(hits) == 1 else None


# ---- snapshots ------------------------------------------------------------------------------

Row = namedtuple("Row", "vector key lsn")
Part = namedtuple("Part", "kind file shard ids lsns keys vecs")


class Snapshot:
    """One consistent view: CURRENT read once, the manifest it names, the files it names."""

    def __init__(self, path, manifest_name, manifest):
        self.path, self.manifest_name, self.m = path, manifest_name, manifest
        self.parts = []          # sealed then growing, manifest order
        self.tombs = {}          # file -> (count, 2) array
        self.logs = {}           # file -> Log
        self.segments = {}       # file -> Segment

    @classmethod
    def open(cls, path, verify=True):
        """[R-SNAPSHOT] CURRENT read once; only the files its manifest names."""
        name = read_current(path)
        try:
            data = read_bytes(os.path.join(path, name), limit=64 << 20)  # [R-FILE-CAPS]
        except FileNotFoundError:
            raise Damage("CURRENT", f"names {name}, which does not exist")
        snap = cls(path, name, parse_manifest(data, name))
        if snap.m.generation != int(name[9:]):
            raise Damage(name, f"holds generation {snap.m.generation}")
        m = snap.m
        for se in m.sealed:
            seg = read_segment(os.path.join(path, se.file), se.file, verify)
            snap.segments[se.file] = seg
            snap.parts.append(Part("sealed", se.file, se.shard, seg.decoded(2), seg.decoded(3),
                                   seg.decoded(5), seg.decoded(1)))
        for g in m.growing:
            log = read_log(os.path.join(path, g.file), g.start, g.length, g.file)
            snap.logs[g.file] = log
            recs = log.records
            n = sum(len(r.ids) for r in recs)
            ids = np.concatenate([r.ids for r in recs]) if recs else np.zeros(0, np.uint64)
            lsns = np.concatenate([np.full(len(r.ids), r.lsn, np.uint64) for r in recs]) if recs \
                else np.zeros(0, np.uint64)
            keys = np.concatenate([r.keys for r in recs]) if recs and log.has_keys else None
            vecs = np.concatenate([r.vecs for r in recs]) if recs else np.zeros((0, log.dim), np.float32)
            assert len(ids) == n
            snap.parts.append(Part("growing", g.file, g.shard, ids, lsns, keys, vecs))
        for t in m.tombstones:
            snap.tombs[t.file] = read_tombstones(os.path.join(path, t.file), t.file)
        return snap

    def tomb_lsn(self):
        """{id: the largest tombstone LSN of that id}: a row is deleted iff its LSN is below."""
        out = {}
        for ent in self.tombs.values():
            for i, l in ent.tolist():
                if l > out.get(i, 0):
                    out[i] = l
        return out

    def all_rows(self):
        """(part, row index, id, lsn) of every row, deleted or not."""
        for p in self.parts:
            for r, (i, l) in enumerate(zip(p.ids.tolist(), p.lsns.tolist())):
                yield p, r, i, l

    def live(self, strict=True):
        """{id: Row} of the live rows ([R-TOMB-LSN]).  With strict, an id live twice raises."""
        dead = self.tomb_lsn()
        out = {}
        for p, r, i, l in self.all_rows():
            if dead.get(i, 0) > l:
                continue
            if i in out and strict:
                raise Damage(p.file, f"id {i} is live twice (also lsn {out[i].lsn})")
            out[i] = Row(p.vecs[r], None if p.keys is None else int(p.keys[r]), l)
        return out


# ---- searches (SPEC 9, 5.5) -----------------------------------------------------------------

class Searcher:
    """The searches of one snapshot.  Each part (a sealed segment, or one growing log) is
    searched on its own and the parts' hits merged by (distance, id), as SPEC 3 and 9 say."""

    def __init__(self, snap, rank16=False):
        self.snap, self.rank16 = snap, rank16
        self.metric = METRIC_CODE[snap.m.metric]
        dead = snap.tomb_lsn()
        self.parts = []
        for p in snap.parts:
            seg = snap.segments.get(p.file) if p.kind == "sealed" else None
            idx = open_index(seg) if seg is not None else None
            xn = seg_norms(seg) if seg is not None else fsum_rows(p.vecs.astype(F64) ** 2)
            gone = np.array([dead.get(i, 0) > l for i, l in zip(p.ids.tolist(), p.lsns.tolist())], bool)
            self.parts.append((p, seg, idx, xn, gone))

    def exact(self, Q, k):
        """[R-SEARCH-LIVE] exact k-NN over the live rows: [[(dist, id)] per query]."""
        out = []
        for q in Q:
            hits = []
            for p, seg, idx, xn, gone in self.parts:
                live = np.flatnonzero(~gone)
                d = exact_distances(self.metric, q, p.vecs[live], xn[live])
                hits += zip(d.tolist(), p.ids[live].tolist())
            out.append(sorted(hits)[:k])
        return out

    def search(self, Q, k, ef=0, nprobe=0, refine=0, emulate=(), extra=0):
        """What vec-query answers by SPEC: FLAT parts exactly, indexed ones through their index.
        extra: also the next hits of the merge (for judging near ties at the k-th place).
        emulate: known defects to reproduce ('row-ties': HNSW ties by row number; 'sq8-float'),
        for diagnosis only."""
        out = []
        for q in Q:
            hits = []
            for p, seg, idx, xn, gone in self.parts:
                if idx is None:
                    live = np.flatnonzero(~gone)
                    d = exact_distances(self.metric, q, p.vecs[live], xn[live])
                    hits += zip(d.tolist(), p.ids[live].tolist())
                    continue
                # ties by id in every index search [R-SEARCH-ORDER]; row-ties emulates the
                # row-number order both kept before issue 9
                tie = np.arange(len(p.ids)) if "row-ties" in emulate else p.ids
                exact = lambda rows, p=p, xn=xn: exact_distances(self.metric, q, p.vecs[rows], xn[rows])
                if isinstance(idx, Hnsw):
                    rs = idx.search(q, k, exact, gone, tie, ef, refine, seg.name)
                else:
                    rs = idx.search(q, k, exact, gone, tie, seg, nprobe, refine, self.rank16,
                                    "sq8-float" in emulate)
                hits += [(d, int(p.ids[r])) for d, r in rs]
            out.append(sorted(hits)[:k + extra])
        return out


# ---- cross-file checks ----------------------------------------------------------------------

def check(path):
    """Every problem found in the current snapshot of collection path, as strings."""
    try:
        snap = Snapshot.open(path)
    except Damage as e:
        return [Problem("collection", str(e))]
    except OSError as e:
        return [Problem("collection", f"{e.filename or path}: {e.strerror}")]
    m, probs = snap.m, []
    metric = {"l2": 1, "ip": 2, "cosine": 3}[m.metric]
    # SPEC 2.1: a collection holds only these names
    import re
    allowed = re.compile(r"^(CURRENT|commit\.lock|ingest\.lock|maint\.lock|manifest-\d{8,}|g-\d{8,}\.log|"
                         r"s-\d{8,}\.vseg|s-\d{8,}\.vcold|t-\d{8,}\.tomb|.+\.tmp)$")
    for n in sorted(os.listdir(path)):
        if not allowed.match(n):
            probs.append(f"{n}: a name SPEC 2.1 does not allow in a collection")
    ids_shard = {s.id for s in m.shards}
    if len(ids_shard) != len(m.shards):
        probs.append("manifest: duplicate shard ids")
    names = [g.file for g in m.growing] + [s.file for s in m.sealed] + [t.file for t in m.tombstones]
    if len(set(names)) != len(names):
        probs.append("manifest: a file is named twice")
    ext = {"g": "log", "s": "vseg", "t": "tomb"}
    kinds = {"g": [g.file for g in m.growing], "s": [s.file for s in m.sealed], "t": [t.file for t in m.tombstones]}
    for kind, files in kinds.items():
        for nm in files:
            # [R-NAMES] exactly the name of its kind for a number 1 <= N < its counter
            num = nm[2:-len(ext[kind]) - 1]
            if not (nm.startswith(kind + "-") and nm.endswith("." + ext[kind]) and num.isascii() and num.isdigit()
                    and nm == f"{kind}-{int(num):08d}.{ext[kind]}" and int(num) >= 1):
                probs.append(f"manifest: {nm}: not the name of a {ext[kind]} file")
                continue
            limit = m.next_maint_file if kind == "s" else m.next_ingest_file
            if int(num) >= limit:
                probs.append(f"manifest: {nm}: number not below its next-*-file counter {limit}")
    for nd in m.nodes:
        if m.nodes.count(nd) > 1:
            probs.append(f"manifest: node {nd} listed twice")
    for g in m.growing:
        log = snap.logs[g.file]
        n = sum(len(r.ids) for r in log.records)
        if n != g.rows:
            probs.append(f"{g.file}: {n} rows in [{g.start}, {g.length}), the manifest says {g.rows}")
        if log.dim != m.dim or log.shard != g.shard or log.has_keys != m.keys:
            probs.append(f"{g.file}: header dim/shard/keys {log.dim}/{log.shard}/{log.has_keys} "
                         f"differ from the manifest's {m.dim}/{g.shard}/{m.keys}")
        if g.shard not in ids_shard:
            probs.append(f"{g.file}: shard {g.shard} is not in the manifest")
    for se in m.sealed:
        seg = snap.segments[se.file]
        if seg.rows != se.rows:
            probs.append(f"{se.file}: {seg.rows} rows, the manifest says {se.rows}")
        if len(seg.data) != se.bytes:
            probs.append(f"{se.file}: {len(seg.data)} bytes, the manifest says {se.bytes}")
        # SPEC 3, 5.6.1: cold-bytes exactly when the vectors are apart, the .vcold's size
        if (se.cold_bytes is None) != (seg.cold is None) or (seg.cold is not None and len(seg.cold.data) != se.cold_bytes):
            probs.append(f"{se.file}: cold-bytes {se.cold_bytes} does not match its .vcold")
        if seg.dim != m.dim or seg.shard != se.shard or seg.metric != metric or bool(seg.flags & 1) != m.keys:
            probs.append(f"{se.file}: header dim/shard/metric/keys differ from the manifest")
        if se.shard not in ids_shard:
            probs.append(f"{se.file}: shard {se.shard} is not in the manifest")
        norms = seg.decoded(4)
        if norms is not None and seg.rows:
            v = seg.decoded(1).astype(np.float64)
            want = (v * v).sum(axis=1)
            # SPEC: 5.4 allows dim * 2^-23 relative (check --deep checks that bound); this
            # check only guards against NORMS of other rows
            if not np.allclose(norms, want, rtol=1e-4, atol=1e-4):
                probs.append(f"{se.file}: NORMS are not the squared norms of VECTORS")
    for t in m.tombstones:
        ent = snap.tombs[t.file]
        if len(ent) != t.count:
            probs.append(f"{t.file}: {len(ent)} entries, the manifest says {t.count}")
        if len(ent) and int(ent[:, 1].max()) >= m.next_lsn:
            probs.append(f"{t.file}: an LSN is not below next-lsn {m.next_lsn}")
    # rows: ids and LSNs in range, finite vectors, routed to their shard, live at most once
    for p in snap.parts:
        if len(p.ids) and int(p.ids.max()) >= min(m.next_id, ID_LIMIT):
            probs.append(f"{p.file}: an id is not below next-id {m.next_id} (or 2^63)")
        if len(p.lsns) and (int(p.lsns.min()) < 1 or int(p.lsns.max()) >= m.next_lsn):
            probs.append(f"{p.file}: an LSN is not in [1, next-lsn {m.next_lsn})")
        if not np.all(np.isfinite(p.vecs)):
            probs.append(f"{p.file}: a vector is not finite")
        rkeys = p.keys if m.keys else p.ids
        if m.keys and p.keys is None:
            probs.append(f"{p.file}: rows carry no partition keys")
            continue
        for k in set(rkeys.tolist()):
            if route(m.shards, k) != p.shard:
                probs.append(f"{p.file}: routing key {k} belongs to shard {route(m.shards, k)}, not {p.shard}")
                break
    try:
        snap.live()
    except Damage as e:
        probs.append(str(e))
    return [p if isinstance(p, Problem) else Problem("collection", p) for p in probs]


# ---- every byte: the deep checks and the comparison with vec-query ---------------------------

SECTION_ORDER = [1, 7, 2, 3, 5, 4, 6, 16, 17, 18, 19, 32, 33, 34, 35, 36, 48, 49, 50, 56, 57, 58]
LINE_ORDER = ["vecseg-manifest", "generation", "dim", "metric", "keys", "next-id", "next-lsn",
              "next-ingest-file", "next-maint-file", "setting", "shard", "node", "growing", "sealed",
              "tombstones", "crc32"]


def check_segment_deep(seg):
    """Every byte of one sealed segment beyond what opening it checks (SPEC 5.4, 5.5)."""
    P = lambda tag, msg: index_problem(tag, seg, msg)
    probs = []
    types = [t for t, e in sorted(seg.sections.items(), key=lambda te: te[1].offset)]
    known = [t for t in types if t in SECTION_ORDER]
    if known != sorted(known, key=SECTION_ORDER.index):
        probs.append(P("seg-order", f"sections in the order {known}, not the writer's"))
    # 5.2: each section starts at the first multiple of 64 after the previous one's end
    end = 64
    for t in types:
        e = seg.sections[t]
        if e.offset != (end + 63) // 64 * 64:
            probs.append(P("seg-layout", f"section {t} at {e.offset}, not right after the previous one"))
        if seg.data[e.offset + e.length:(e.offset + e.length + 63) // 64 * 64].strip(b"\0"):
            probs.append(P("seg-layout", f"padding after section {t} is not zero"))
        end = e.offset + e.length
    if seg.table_offset != (end + 63) // 64 * 64:
        probs.append(P("seg-layout", "the section table does not follow the last section's padding"))
    # 5.4 NORMS: the f32 squared norms, summed in f32 in any order: within dim * 2^-23 of exact
    norms = seg.decoded(4)
    if norms is not None and seg.rows:
        want = (seg.decoded(1).astype(F64) ** 2).sum(axis=1)
        if np.any(np.abs(norms - want) > want * seg.dim * 2.0 ** -23 + 1e-30):
            probs.append(P("norms", "NORMS are further from the squared norms than dim * 2^-23"))
    try:
        idx = open_index(seg)
    except Damage as e:
        return probs + [Problem("index-open", str(e))]
    if idx is not None:
        probs += idx.verify(seg)
        kinds = [t for t in types if t >= 16]
        want = [16, 17, 18] + ([19] if seg.rows else []) if isinstance(idx, Hnsw) else \
            [32, 33, 34, 35] + {2: [36], 4: [48, 49, 50], 3: [56, 57, 58]}[idx.kind]
        if idx.metric != 1:
            want = [t for t in want if t not in (50, 58)]
        if kinds != want:
            probs.append(P("index-sections", f"index sections {kinds}, the writer emits {want}"))
        flags = {t: seg.sections[t].flags for t in kinds}
        if any(flags[t] != (1 if isinstance(idx, Hnsw) and t != 19 else 0) for t in kinds):
            probs.append(P("index-sections", "an index section's required bit is not as SPEC 5.5 gives it"))
    return probs


def check_deep(path):
    """check() plus every byte of the index sections, the writer's section and line order."""
    probs = check(path)
    if probs:
        return probs
    snap = Snapshot.open(path)
    text = open(os.path.join(path, snap.manifest_name), "rb").read().decode()
    words = [ln.split(" ")[0] for ln in text.split("\n")[:-1]]
    if [w for w in words if w in LINE_ORDER] != sorted((w for w in words if w in LINE_ORDER), key=LINE_ORDER.index):
        probs.append(Problem("manifest-order", f"{snap.manifest_name}: lines not in the writer's order"))
    for se in snap.m.sealed:
        probs += check_segment_deep(snap.segments[se.file])
    return probs


def same_hits(t, m, tol=1e-5):
    """Whether vec-query's hits t are the reader's hits m (m may run past len(t)).  Distances
    must agree within tol (relative, and absolute below 1): SPEC 9 leaves the order of f32 sums
    open.  Ids must agree, except inside a near tie: a run of the reader's distances that lie
    within tol of each other but are not all equal, which the two sums may order either way.
    An exact tie (equal distances in both lists) is ordered by id [R-SEARCH-ORDER]."""
    k = len(t)
    close = lambda x, y: abs(x - y) <= tol * max(1.0, abs(x))
    if len(m) < k or not all(close(a[0], b[0]) for a, b in zip(t, m)):
        return False
    i = 0
    while i < k:
        j = i + 1
        while j < len(m) and close(m[j - 1][0], m[j][0]):
            j += 1
        tt, mm = t[i:min(j, k)], m[i:j]
        ids_t, ids_m = [x for _, x in tt], [x for _, x in mm]
        exact_tie = len({d for d, _ in mm} | {d for d, _ in tt}) == 1
        if ids_t != ids_m[:len(ids_t)]:
            if exact_tie or not set(ids_t) <= set(ids_m) and j < len(m):
                return False
        i = j
    return True


def fmt_hits(h):
    return " ".join(f"{i}:{d:.6g}" for d, i in h)


def compare(snap, Q, k, tool_default, tool_exhaustive, rank16=False):
    """Problems between vec-query's answers (hit lists per query) and this reader's:
    exhaustive parameters against the exact k-NN, default ones against the index searches of
    SPEC 5.5.  A mismatch is explained when one of the known defects reproduces it exactly."""
    S = Searcher(snap, rank16)
    EX = dict(ef=1000000, nprobe=1000000, refine=10000)
    probs = []
    exact = S.exact(Q, k + 10)
    mine = S.search(Q, k, extra=10)
    has_sq8 = any(isinstance(x[2], Ivf) and x[2].kind == 4 for x in S.parts)
    hnsw_rows = {}
    for p, seg, idx, xn, gone in S.parts:
        if isinstance(idx, Hnsw):
            reach = idx.reachable()
            for node in np.flatnonzero(~reach):
                hnsw_rows[int(p.ids[idx.row_of[node]])] = seg.name
    # [R-SUMMARY-SKIP] rests on the bound: never above a distance to a row of its segment
    for p, seg, idx, xn, gone in S.parts:
        if isinstance(idx, Hnsw) and idx.summary is not None:
            for qi, q in enumerate(Q):
                lb, best = idx.lower_bound(q), float(exact_distances(S.metric, q, p.vecs, xn).min())
                if lb > best:
                    probs.append(Problem("summary-bound", f"{seg.name}: query {qi}: bound {lb!r} above the "
                                                          f"least distance {best!r}"))
    for qi in range(len(Q)):
        t = tool_exhaustive[qi]
        if not same_hits(t, exact[qi]):
            spec = S.search(Q[qi:qi + 1], k, extra=10, **EX)[0]
            rowt = S.search(Q[qi:qi + 1], k, emulate=("row-ties",), extra=10, **EX)[0]
            why = "mismatch"
            if same_hits(t, rowt) and same_hits(spec[:k], exact[qi]):
                why = "search-order-ties"
            elif not same_hits(spec[:k], exact[qi]) and (same_hits(t, spec) or same_hits(t, rowt)):
                lost = {i for _, i in exact[qi][:k]} - {i for _, i in spec[:k]}
                why = "hnsw-reach" if lost and lost <= set(hnsw_rows) else "index-not-exhaustive"
            probs.append(Problem(why, f"query {qi}, exhaustive: vec-query {fmt_hits(t)}; exact {fmt_hits(exact[qi][:k])}"))
        t = tool_default[qi]
        if not same_hits(t, mine[qi]):
            why = "mismatch"
            for emu, tag in ((("row-ties",), "search-order-ties"), (("sq8-float",), "ivf-sq8-scalar"),
                             (("sq8-float", "row-ties"), "ivf-sq8-scalar")):
                if (tag != "ivf-sq8-scalar" or has_sq8) and same_hits(t, S.search(Q[qi:qi + 1], k, emulate=emu, extra=10)[0]):
                    why = tag
                    break
            probs.append(Problem(why, f"query {qi}, default: vec-query {fmt_hits(t)}; reader {fmt_hits(mine[qi][:k])}"))
    return probs


# ---- command line ---------------------------------------------------------------------------

def fmt_vec(v):
    return ",".join(repr(float(x)) for x in v)


def print_hits(res, metric, out=sys.stdout):
    """vec-query's TSV: query, rank, id, reported distance (SPEC 9: l2 reports the root)."""
    for qi, hits in enumerate(res):
        for rank, (d, i) in enumerate(hits, 1):
            rep = float(np.sqrt(F(max(d, 0.0)))) if metric == 1 else d
            out.write(f"{qi}\t{rank}\t{i}\t{rep:.9g}\n")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="vsreader.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("rows").add_argument("coll")
    c = sub.add_parser("check")
    c.add_argument("--deep", action="store_true", help="also every byte of the index sections")
    c.add_argument("coll")
    for name in ("knn", "search", "compare"):
        c = sub.add_parser(name)
        c.add_argument("--rank16", action=argparse.BooleanOptionalAction, default=False,
                       help="IVF lists ranked on the binary16 copy (SPEC 5.5.2), as vec-query on AVX-512")
        c.add_argument("coll")
        c.add_argument("queries", help=".npy of float32 queries")
        c.add_argument("k", type=int)
        if name == "search":
            for o in ("--ef", "--nprobe", "--refine"):
                c.add_argument(o, type=int, default=0)
        if name == "compare":
            c.add_argument("default", help="vec-query's partial result with default parameters")
            c.add_argument("exhaustive", help="... with --ef, --nprobe and --refine at their maxima")
    c = sub.add_parser("merge")
    c.add_argument("k", type=int)
    c.add_argument("partials", nargs="+")
    a = ap.parse_args(argv[1:])
    try:
        if a.cmd == "check":
            probs = check_deep(a.coll) if a.deep else check(a.coll)
            for p in probs:
                print(p.line() if a.deep else p)
            return 1 if probs else 0
        if a.cmd == "merge":
            ps = [read_partial(f) for f in a.partials]
            if len({(p.metric, p.nq, p.generation) for p in ps}) != 1:
                raise Damage(a.partials[0], "partials of different metrics, query counts or generations")
            res = [merge_hits([partial_hits(p)[q] for p in ps], a.k) for q in range(ps[0].nq)]
            print_hits(res, ps[0].metric)
            return 0
        if a.cmd == "rows":
            rows = Snapshot.open(a.coll).live()
            for i in sorted(rows):
                r = rows[i]
                sys.stdout.write(f"{i}\t{r.lsn}\t{'-' if r.key is None else r.key}\t{fmt_vec(r.vector)}\n")
            return 0
        snap = Snapshot.open(a.coll)
        Q = np.load(a.queries).astype(F)
        if a.cmd == "compare":
            probs = compare(snap, Q, a.k, partial_hits(read_partial(a.default)),
                            partial_hits(read_partial(a.exhaustive)), a.rank16)
            for p in probs:
                print(p.line())
            return 1 if probs else 0
        S = Searcher(snap, a.rank16)
        res = S.exact(Q, a.k) if a.cmd == "knn" else S.search(Q, a.k, a.ef, a.nprobe, a.refine)
        print_hits(res, S.metric)
        return 0
    except (Damage, OSError) as e:
        print(f"vsreader: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
