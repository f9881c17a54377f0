#!/usr/bin/python3
"""make.py - the hostile cases of tests/hostile/cases, made from a fresh small collection.

  make.py CASE WORLD     turn WORLD (a directory holding a fresh collection WORLD/coll, made by
                         tests/hostile.bats, and an empty WORLD/outside) into case CASE
  make.py --all WORLD DIR  make every case as DIR/CASE from a copy of WORLD
  make.py --list         print the names of every case

Each case is one function below, registered with @case: it damages or rearranges files the way an
attacker, a bad disk or a buggy writer could, keeping every checksum valid where the point is that
a checksum alone must not be trusted.  Files outside the collection go to WORLD/outside, and links
to them are relative, so a copy of WORLD (cp -a) is a self-contained copy of the case.
Standard library only: the bytes are written with struct and zlib, as SPEC.md describes them.
"""
import os
import re
import shutil
import struct
import sys
import zlib

CASES = {}


def case(fn):
    CASES[fn.__name__.replace("_", "-")] = fn
    return fn


# ---- the collection's files ------------------------------------------------------------------

def current(c):
    with open(os.path.join(c, "CURRENT")) as f:
        return f.read().strip()


def manifest_lines(c):
    """The current manifest's lines, without the crc32 line."""
    with open(os.path.join(c, current(c)), "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b"" and lines[-2].startswith(b"crc32 ")
    return lines[:-2]


def write_manifest(c, lines, name=None):
    """Writes lines (bytes, no newlines) plus a valid crc32 line as manifest `name` (default:
    the current one, in place)."""
    body = b"".join(l + b"\n" for l in lines)
    text = body + b"crc32 %08x\n" % zlib.crc32(body)
    with open(os.path.join(c, name or current(c)), "wb") as f:
        f.write(text)


def edit_manifest(c, fn):
    write_manifest(c, fn(manifest_lines(c)))


def first(c, word):
    """The file named by the first manifest line starting with `word`."""
    for l in manifest_lines(c):
        f = l.split(b" ")
        if f[0] == word.encode():
            return f[1].decode()
    raise SystemExit("make.py: no %s line" % word)


def path(c, word):
    return os.path.join(c, first(c, word))


def move_outside(c, word, w):
    """Moves the first file of kind `word` to WORLD/outside; returns (its path in coll, the
    relative link target)."""
    name = first(c, word)
    os.rename(os.path.join(c, name), os.path.join(w, "outside", name))
    return os.path.join(c, name), os.path.join("..", "outside", name)


def patch(p, off, data):
    with open(p, "r+b") as f:
        f.seek(off)
        f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


# ---- CURRENT ---------------------------------------------------------------------------------

@case
def current_symlink_devzero(c, w):
    os.remove(os.path.join(c, "CURRENT"))
    os.symlink("/dev/zero", os.path.join(c, "CURRENT"))


@case
def current_fifo(c, w):
    os.remove(os.path.join(c, "CURRENT"))
    os.mkfifo(os.path.join(c, "CURRENT"))


@case
def current_empty(c, w):
    open(os.path.join(c, "CURRENT"), "w").close()


@case
def current_garbage(c, w):
    with open(os.path.join(c, "CURRENT"), "w") as f:
        f.write("garbage\n")


@case
def current_dotdot(c, w):
    with open(os.path.join(c, "CURRENT"), "w") as f:
        f.write("../outside/%s\n" % current(c))


@case
def current_missing_manifest(c, w):
    with open(os.path.join(c, "CURRENT"), "w") as f:
        f.write("manifest-00000099\n")


# ---- the manifest ----------------------------------------------------------------------------

@case
def manifest_symlink_outside(c, w):
    name = current(c)
    os.rename(os.path.join(c, name), os.path.join(w, "outside", name))
    os.symlink(os.path.join("..", "outside", name), os.path.join(c, name))


@case
def manifest_symlink_devzero(c, w):
    name = current(c)
    os.remove(os.path.join(c, name))
    os.symlink("/dev/zero", os.path.join(c, name))


@case
def manifest_too_large(c, w):
    # sparse: costs no disk, and a reader must refuse it from its size alone
    with open(os.path.join(c, current(c)), "r+b") as f:
        f.truncate(64 * 2**20 + 1)


@case
def manifest_nul(c, w):
    # a NUL with a valid CRC used to hide every line after it: the tombstones came back
    edit_manifest(c, lambda ls: ls[:3] + [ls[3] + b"\0"] + ls[4:])


@case
def manifest_minor_overflow(c, w):
    # 4294967296 used to be read as minor 0, so an old writer committed over a newer manifest
    edit_manifest(c, lambda ls: [b"vecseg-manifest 1 4294967296"] + ls[1:])


@case
def manifest_leading_zero(c, w):
    edit_manifest(c, lambda ls: [b"dim 04" if l.startswith(b"dim ") else l for l in ls])


@case
def manifest_duplicate_dim(c, w):
    edit_manifest(c, lambda ls: ls + [b"dim 8"])


@case
def manifest_duplicate_setting(c, w):
    edit_manifest(c, lambda ls: ls + [b"setting grace 1", b"setting grace 2"])


@case
def manifest_duplicate_node(c, w):
    edit_manifest(c, lambda ls: ls + [b"node a", b"node a"])


@case
def manifest_overlapping_shards(c, w):
    # a third shard whose hashes shards 0 and 1 already own
    edit_manifest(c, lambda ls: ls + [b"shard 9 depth=2 value=1"])


@case
def manifest_uncovered_hashes(c, w):
    edit_manifest(c, lambda ls: [l for l in ls if not l.startswith(b"shard 1 ")])


@case
def manifest_growing_no_shard(c, w):
    def f(ls):
        g = next(l for l in ls if l.startswith(b"growing "))
        ls[ls.index(g)] = re.sub(rb" shard=[0-9]+", b" shard=7", g)
        return ls
    edit_manifest(c, f)


@case
def manifest_file_twice(c, w):
    edit_manifest(c, lambda ls: ls + [next(l for l in ls if l.startswith(b"sealed "))])


@case
def manifest_file_outside(c, w):
    def f(ls):
        g = next(l for l in ls if l.startswith(b"growing "))
        name = g.split(b" ")[1]
        ls[ls.index(g)] = g.replace(name, b"../outside/" + name)
        return ls
    edit_manifest(c, f)


@case
def manifest_next_id_wraps(c, w):
    # 2^64-1: automatic ids used to wrap to the no-hit sentinel, then 0, 1, 2...
    edit_manifest(c, lambda ls: [b"next-id 18446744073709551615" if l.startswith(b"next-id ") else l
                                 for l in ls])


@case
def manifest_generation_last(c, w):
    # 2^64-1: the next commit used to write generation 0, which every tool then refused
    old = current(c)
    ls = [b"generation 18446744073709551615" if l.startswith(b"generation ") else l
          for l in manifest_lines(c)]
    name = "manifest-18446744073709551615"
    write_manifest(c, ls, name)
    with open(os.path.join(c, "CURRENT"), "w") as f:
        f.write(name + "\n")
    os.remove(os.path.join(c, old))


# ---- growing logs ----------------------------------------------------------------------------

def log_record0(p):
    """(dim, n, offset of the first record's body, the body) of a log without keys."""
    b = read(p)
    dim, = struct.unpack_from("<I", b, 12)
    blen, = struct.unpack_from("<I", b, 32)
    body = bytearray(b[40:40 + blen])
    _, n, _ = struct.unpack_from("<IIQ", body, 0)
    return dim, n, 40, body


def rewrite_record0(p, body):
    patch(p, 36, struct.pack("<I", zlib.crc32(bytes(body))))
    patch(p, 40, bytes(body))


@case
def log_symlink_outside(c, w):
    # vec-ingest used to truncate and append to the file the link leads to
    p, target = move_outside(c, "growing", w)
    os.symlink(target, p)


@case
def log_hardlink_outside(c, w):
    p = path(c, "growing")
    os.link(p, os.path.join(w, "outside", os.path.basename(p)))


@case
def log_nan(c, w):
    p = path(c, "growing")
    dim, n, _, body = log_record0(p)
    struct.pack_into("<f", body, 16 + 8 * n + 4, float("nan"))  # row 0, value 1
    rewrite_record0(p, body)


@case
def log_id_too_large(c, w):
    p = path(c, "growing")
    dim, n, _, body = log_record0(p)
    struct.pack_into("<Q", body, 16, 2**63)  # row 0's id
    rewrite_record0(p, body)


# ---- sealed segments -------------------------------------------------------------------------

def seg_table(b):
    table, nsec = struct.unpack_from("<QI", b, 40)
    return table, nsec


def reseal_seg(p):
    """Recomputes the header CRC and the footer's CRC of header and table."""
    b = bytearray(read(p))
    struct.pack_into("<I", b, 60, zlib.crc32(bytes(b[:60])))
    table, nsec = seg_table(b)
    if table <= len(b) and len(b) - table == nsec * 32 + 32:
        crc = zlib.crc32(bytes(b[table:table + nsec * 32]), zlib.crc32(bytes(b[:64])))
        struct.pack_into("<I", b, len(b) - 16, crc)
    with open(p, "wb") as f:
        f.write(b)


@case
def seg_symlink_outside(c, w):
    p, target = move_outside(c, "sealed", w)
    os.symlink(target, p)


@case
def seg_section_after_table(c, w):
    # the last section far past the table: the old bounds check wrapped and let any length pass
    p = path(c, "sealed")
    table, nsec = seg_table(read(p))
    patch(p, table + (nsec - 1) * 32 + 8, struct.pack("<Q", 1 << 20))
    reseal_seg(p)


@case
def seg_table_offset_wraps(c, w):
    # table + 32*nsec + 32 wraps around 2^64 to the file size: the table "starts" 64 bytes
    # before the file, so the old opener read before its mapping
    p = path(c, "sealed")
    size = os.path.getsize(p)
    table, nsec = 2**64 - 64, (size + 32) // 32
    assert nsec <= 256 and table + nsec * 32 + 32 == size + 2**64
    patch(p, 40, struct.pack("<QI", table, nsec))
    patch(p, size - 32, struct.pack("<Q", table))
    reseal_seg(p)


@case
def seg_nan(c, w):
    p = path(c, "sealed")
    b = read(p)
    table, nsec = seg_table(b)
    typ, flags, off, length = struct.unpack_from("<IIQQ", b, table)
    assert typ == 1  # VECTORS
    patch(p, off + 4, struct.pack("<f", float("nan")))
    patch(p, table + 24, struct.pack("<I", zlib.crc32(read(p)[off:off + length])))
    reseal_seg(p)


# ---- vectors apart (SPEC 5.6.1) ---------------------------------------------------------------

def make_apart(c):
    """Rewrites the first sealed segment as SPEC 5.6.1 lays it out: its VECTORS in a .vcold of
    their own (flag bit 2, read_version 2, one section), the .vseg with COLD_REF in their place
    (flag bit 1, read_version 2), the manifest's line with cold-bytes, and major version 2.
    Returns the paths of the .vseg and the .vcold."""
    p = path(c, "sealed")
    b = read(p)
    table, nsec = seg_table(b)
    ents = [struct.unpack_from("<IIQQII", b, table + 32 * i) for i in range(nsec)]
    hdr = bytearray(b[:64])
    struct.pack_into("<HH", hdr, 8, 2, 2)

    def segment(flags, sections):
        out = bytearray(64)
        tab = b""
        for typ, fl, data in sections:
            off = len(out)
            out += data + b"\0" * (-len(data) % 64)
            tab += struct.pack("<IIQQII", typ, fl, off, len(data), zlib.crc32(data), 0)
        h = bytearray(hdr)
        struct.pack_into("<I", h, 36, flags)
        struct.pack_into("<QI", h, 40, len(out), len(sections))
        struct.pack_into("<I", h, 60, zlib.crc32(bytes(h[:60])))
        out[:64] = h
        size = len(out) + len(tab) + 32
        foot = struct.pack("<QQII", len(out), size, zlib.crc32(tab, zlib.crc32(bytes(h))), 0) + b"VSEGEND\n"
        return bytes(out + tab + foot)

    keys = struct.unpack_from("<I", b, 36)[0] & 1
    vecs = next(b[o:o + n] for t, _, o, n, _, _ in ents if t == 1)
    cold = segment(4 | keys, [(1, 1, vecs)])
    ref = struct.pack("<QI", len(cold), zlib.crc32(cold[-32:])) + b"\0" * 20
    seg = segment(2 | keys, [(7, 1, ref)] + [(t, fl, b[o:o + n]) for t, fl, o, n, _, _ in ents if t != 1])
    cp = p[:-5] + ".vcold"
    with open(cp, "wb") as f:
        f.write(cold)
    with open(p, "wb") as f:
        f.write(seg)
    name = os.path.basename(p).encode()

    def lines(ls):
        out = []
        for l in ls:
            if l.startswith(b"vecseg-manifest "):
                l = b"vecseg-manifest 2 0"
            elif l.startswith(b"sealed " + name + b" "):
                l = re.sub(rb" bytes=\d+", b" bytes=%d cold-bytes=%d" % (len(seg), len(cold)), l)
            out.append(l)
        return out
    edit_manifest(c, lines)
    return p, cp


@case
def cold_valid(c, w):
    make_apart(c)


@case
def cold_missing(c, w):
    _, cp = make_apart(c)
    os.unlink(cp)


@case
def cold_symlink_outside(c, w):
    _, cp = make_apart(c)
    os.rename(cp, os.path.join(w, "outside", os.path.basename(cp)))
    os.symlink(os.path.join("..", "outside", os.path.basename(cp)), cp)


@case
def cold_fifo(c, w):
    _, cp = make_apart(c)
    os.unlink(cp)
    os.mkfifo(cp)


@case
def cold_read_version_1(c, w):
    # flag bit 1 in a file that calls itself version 1: a version-1 reader would misread it
    p, _ = make_apart(c)
    patch(p, 8, struct.pack("<HH", 1, 1))
    reseal_seg(p)


@case
def cold_other_footer(c, w):
    # COLD_REF names another footer: the .vcold is not this segment's
    p, _ = make_apart(c)
    b = read(p)
    table, nsec = seg_table(b)
    typ, _, off, _ = struct.unpack_from("<IIQQ", b, table)
    assert typ == 7
    patch(p, off + 8, struct.pack("<I", zlib.crc32(b"another footer")))
    patch(p, table + 24, struct.pack("<I", zlib.crc32(read(p)[off:off + 32])))
    reseal_seg(p)


@case
def cold_bytes_major_1(c, w):
    make_apart(c)
    edit_manifest(c, lambda ls: [b"vecseg-manifest 1 0" if l.startswith(b"vecseg-manifest ") else l for l in ls])


# ---- tombstone files -------------------------------------------------------------------------

def reseal_tomb(p):
    b = bytearray(read(p))
    count, = struct.unpack_from("<Q", b, 16)
    end = min(len(b) - 8, 32 + 16 * count)
    struct.pack_into("<I", b, end, zlib.crc32(bytes(b[:end])))
    with open(p, "wb") as f:
        f.write(b)


@case
def tomb_symlink_devzero(c, w):
    p = path(c, "tombstones")
    os.remove(p)
    os.symlink("/dev/zero", p)


@case
def tomb_fifo(c, w):
    p = path(c, "tombstones")
    os.remove(p)
    os.mkfifo(p)


@case
def tomb_reserved(c, w):
    p = path(c, "tombstones")
    patch(p, 12, struct.pack("<I", 1))
    reseal_tomb(p)


@case
def tomb_count_mismatch(c, w):
    p = path(c, "tombstones")
    count, = struct.unpack_from("<Q", read(p), 16)
    patch(p, 16, struct.pack("<Q", count + 2**59))
    reseal_tomb(p)


@case
def tomb_line_count(c, w):
    """The file is sound; the manifest's line says it holds one entry more."""
    def more(lines):
        out = []
        for l in lines:
            if l.startswith(b"tombstones "):
                f = l.split(b" ")
                f[-1] = b"count=%d" % (int(f[-1].split(b"=")[1]) + 1)
                l = b" ".join(f)
            out.append(l)
        return out
    edit_manifest(c, more)


# ---- partial results (WORLD/p.part) ----------------------------------------------------------

def partial(nq, k, hits, reserved=0, trailer_reserved=0):
    """hits: nq*k (distance, id); reserved goes into every hit's u32."""
    b = b"\x89VPRT\r\n\x1a" + struct.pack("<HHIIIQ", 1, 1, 1, nq, k, 1)
    for d, i in hits:
        b += struct.pack("<fIQ", d, reserved, i)
    return b + struct.pack("<II", zlib.crc32(b), trailer_reserved)


def write_partial(w, data):
    with open(os.path.join(w, "p.part"), "wb") as f:
        f.write(data)


@case
def partial_huge_header(c, w):
    # 1000 queries of 10^6 hits announced by a 100-byte file: 12 GB used to be allocated up front
    b = b"\x89VPRT\r\n\x1a" + struct.pack("<HHIIIQ", 1, 1, 1, 1000, 1000000, 1)
    write_partial(w, b + bytes(100 - len(b)))


@case
def partial_reserved(c, w):
    write_partial(w, partial(1, 2, [(1.0, 4), (2.0, 5)], reserved=1))


@case
def partial_id_too_large(c, w):
    write_partial(w, partial(1, 2, [(1.0, 4), (2.0, 2**63)]))


@case
def partial_nan(c, w):
    write_partial(w, partial(1, 2, [(float("nan"), 4), (2.0, 5)]))


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--all":
        for name, fn in CASES.items():
            w = os.path.join(sys.argv[3], name)
            shutil.copytree(sys.argv[2], w, symlinks=True)
            fn(os.path.join(w, "coll"), w)
        return
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        raise SystemExit("usage: make.py CASE WORLD | --all WORLD DIR | --list")
    w = sys.argv[2]
    CASES[sys.argv[1]](os.path.join(w, "coll"), w)


if __name__ == "__main__":
    main()
