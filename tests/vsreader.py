#!/usr/bin/python3
"""vsreader.py - an independent reader of vecseg collections, written from SPEC.md alone.

It shares no code with the C library: the crash, power-loss and concurrency harnesses use it
to decide what a collection holds, so a bug in the library's readers cannot hide a bug in its
writers.  Python 3 and NumPy only.

    python3 tests/vsreader.py rows COLL    live rows of the current snapshot, one a line:
                                           id <TAB> lsn <TAB> key or - <TAB> v0,v1,...
    python3 tests/vsreader.py check COLL   every check below; one problem a line; exit 1 if any

As a module:

    snap = Snapshot.open(path)      # CURRENT, the manifest it names, every file it names
    snap.live()                     # {id: Row(vector, key, lsn)}: tombstones applied (SPEC 6)
    check(path)                     # list of problems (strings); empty when clean

Layout, so that it can grow (index sections, partial results): one parser per file kind
(parse_manifest, read_log, read_segment, read_tombstones), each raising Damage on the first
byte that contradicts SPEC.md; sealed-segment sections are decoded through SECTION_TYPES, a
table from section type to (name, decoder); index types are listed there and are checked
only for their CRC until a decoder is added for them.  check() gathers the cross-file checks.

Where SPEC.md is silent or ambiguous, the choice made is marked "SPEC:" in a comment.
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
Sealed = namedtuple("Sealed", "file shard rows bytes node")
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
    if m.major != 1:
        raise Damage(name, f"manifest major version {m.major} is not 1")
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
            m.sealed.append(Sealed(rest[0], _num(name, f["shard"], "shard"), _num(name, f["rows"], "rows"),
                                   _num(name, f["bytes"], "bytes"), f.get("node")))
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
        if x.shard not in ids or x.bytes >= 1 << 63 or x.rows * (16 + 4 * m.dim) > x.bytes:
            raise Damage(name, f"{x.file}: unknown shard, or bytes or rows out of range")
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
    16: ("HNSW_META", None), 17: ("HNSW_NODES", None), 18: ("HNSW_UPPER", None),
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

    def raw(self, t):
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


def read_segment(path, name=None, verify=True):
    """Opens a sealed segment, checking header, table and footer ([R-SEG-BOUNDS],
    [R-SEG-TRUNC]) and, with verify, every section's CRC."""
    name = name or os.path.basename(path)
    data = read_bytes(path)
    size = len(data)
    if size < 64 + 32:
        raise Damage(name, "too short for a header and a footer")
    h = data[:64]
    if h[:8] != SEG_MAGIC:
        raise Damage(name, "not a sealed segment (bad magic)")
    if u32(h, 60) != crc32(h[:60]):
        raise Damage(name, "header checksum mismatch")
    if u16(h, 8) > 1:
        raise Damage(name, f"needs reader version {u16(h, 8)}")
    s = Segment(name, data)
    s.header_size, s.dim, s.elem, s.metric = u32(h, 12), u32(h, 16), u16(h, 20), u16(h, 22)
    s.rows, s.shard, s.flags = u64(h, 24), u32(h, 32), u32(h, 36)
    s.table_offset, s.section_count = u64(h, 40), u32(h, 48)
    if s.header_size != 64 or s.dim == 0 or s.elem != 1 or s.metric not in (1, 2, 3):
        raise Damage(name, "bad header fields")
    if s.flags & ~1 or u32(h, 52) or u32(h, 56):
        raise Damage(name, "unknown header flags or reserved fields not zero")
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
        if e.offset % 64 or e.offset < prev_end or e.length > s.table_offset - e.offset:
            raise Damage(name, f"section {e.type}: outside [64, table) or out of order")
        if e.type in s.sections:
            raise Damage(name, f"section type {e.type} appears twice")
        if e.type not in SECTION_TYPES and e.flags & 1:
            raise Damage(name, f"required section type {e.type} is unknown to this reader")
        prev_end = e.offset + e.length
        s.sections[e.type] = e
        if verify and crc32(data[e.offset:e.offset + e.length]) != e.crc:
            raise Damage(name, f"section {SECTION_TYPES.get(e.type, (e.type,))[0]}: checksum mismatch")
    need = (1, 2, 3, 5) if s.flags & 1 else (1, 2, 3)
    for t in need:
        if t not in s.sections:
            raise Damage(name, f"required section {SECTION_TYPES[t][0]} is missing")
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
        if np.any((a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))):
            raise Damage(name, "entries are not sorted by id, then lsn")
    return ent


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


# ---- cross-file checks ----------------------------------------------------------------------

def check(path):
    """Every problem found in the current snapshot of collection path, as strings."""
    try:
        snap = Snapshot.open(path)
    except Damage as e:
        return [str(e)]
    except OSError as e:
        return [f"{e.filename or path}: {e.strerror}"]
    m, probs = snap.m, []
    metric = {"l2": 1, "ip": 2, "cosine": 3}[m.metric]
    # SPEC 2.1: a collection holds only these names
    import re
    allowed = re.compile(r"^(CURRENT|commit\.lock|ingest\.lock|maint\.lock|manifest-\d{8,}|g-\d{8,}\.log|"
                         r"s-\d{8,}\.vseg|t-\d{8,}\.tomb|.+\.tmp)$")
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
        if seg.dim != m.dim or seg.shard != se.shard or seg.metric != metric or bool(seg.flags & 1) != m.keys:
            probs.append(f"{se.file}: header dim/shard/metric/keys differ from the manifest")
        if se.shard not in ids_shard:
            probs.append(f"{se.file}: shard {se.shard} is not in the manifest")
        norms = seg.decoded(4)
        if norms is not None and seg.rows:
            v = seg.decoded(1).astype(np.float64)
            want = (v * v).sum(axis=1)
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
    return probs


# ---- command line ---------------------------------------------------------------------------

def fmt_vec(v):
    return ",".join(repr(float(x)) for x in v)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("rows", "check"):
        print("usage: vsreader.py rows|check COLL", file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    if cmd == "check":
        probs = check(path)
        for p in probs:
            print(p)
        return 1 if probs else 0
    try:
        rows = Snapshot.open(path).live()
    except (Damage, OSError) as e:
        print(f"vsreader: {e}", file=sys.stderr)
        return 1
    out = sys.stdout
    for i in sorted(rows):
        r = rows[i]
        out.write(f"{i}\t{r.lsn}\t{'-' if r.key is None else r.key}\t{fmt_vec(r.vector)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
