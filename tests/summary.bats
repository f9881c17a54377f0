#!/usr/bin/env bats
# summary.bats - HNSW segment summaries (SPEC.md 5.5.1 HNSW_SUMMARY): a search passes over a
# segment whose rows cannot be among a query's k best [R-SUMMARY-SKIP] and answers exactly as
# when it searches every segment (VECSEG_SUMMARY=0), on one thread, two, and two processes; a
# damaged summary refuses the segment [R-HNSW-SUMMARY]; a segment written before summaries
# (none) is searched whole, as before.

load test_helper

# clustered_coll - collection c: 6 well-apart clusters of 400 rows x 16, each ingested alone
# and sealed as its own HNSW segment (rows arriving by topic); q.fvecs: 40 queries near
# clusters 0 to 2 (near.fvecs: the 20 near cluster 0).
clustered_coll() {
    "$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(3)
d, per = 16, 400
cent = rng.uniform(-50, 50, (6, d)).astype(np.float32)
def fv(path, x):
    x = np.ascontiguousarray(x, "<f4")
    o = np.empty((len(x), d + 1), "<i4"); o[:, 0] = d; o[:, 1:] = x.view("<i4"); o.tofile(path)
for k in range(6):
    fv(f"part{k}.fvecs", cent[k] + rng.standard_normal((per, d)).astype(np.float32))
q = np.concatenate([cent[i // 20 % 3] + 1.5 * rng.standard_normal((1, d)) for i in range(40)]).astype(np.float32)
fv("q.fvecs", q)
fv("near.fvecs", q[[i for i in range(40) if i // 20 % 3 == 0]])
PY
    local k
    for k in 0 1 2 3 4 5; do vec-ingest -q c "part$k.fvecs"; done
    vec-seal -q --set segment-rows=400 c
    vec-seal -q --all --index hnsw c
    [ "$(vec-inspect c | grep -c '^sealed .*index=hnsw .*summary=1')" -eq 6 ] || fail "not 6 HNSW segments with a summary"
}

# seg_edit FILE PYTHON - runs PYTHON with seg (vsreader.read_segment of FILE, unverified),
# path and the helpers of tests/vsreader.py in scope (vsreader as v).
seg_edit() {
    "$PY" - "$TESTS_DIR" "$1" "$2" <<'PY'
import struct, sys, zlib
sys.path.insert(0, sys.argv[1])
import vsreader as v
path = sys.argv[2]
seg = v.read_segment(path, verify=False)
exec(sys.argv[3])
PY
}

# The segment of cluster 5's rows: the last sealed one.
far_segment() {
    vec-inspect c | awk '/^sealed/ {f = $2} END {print "c/" f}'
}

@test "answers are the same with and without skipping: one thread, two, two processes" {
    clustered_coll
    VECSEG_SUMMARY=0 vec-query -q -t 1 -k 10 c q.fvecs >all.tsv
    [ -s all.tsv ]
    for opts in "-t 1" "-t 2" "-j 2" "-t 1 -k 1" "-t 2 --ef 10"; do
        # shellcheck disable=SC2086
        vec-query -q $opts -k 10 c q.fvecs >skip.tsv
        # shellcheck disable=SC2086
        VECSEG_SUMMARY=0 vec-query -q $opts -k 10 c q.fvecs >noskip.tsv
        run diff skip.tsv noskip.tsv
        assert_success
    done
    vec-query -q -t 2 -k 10 c q.fvecs >skip.tsv
    run diff skip.tsv all.tsv
    assert_success
}

@test "a segment the bound rules out is never walked: damaged graph, answers unchanged" {
    clustered_coll
    vec-query -q -k 10 c near.fvecs >before.tsv
    # every level-0 count of the far cluster's graph out of range: a walk of it fails
    seg_edit "$(far_segment)" '
e = seg.sections[17]; A = (seg.dim + 3) // 4 * 4
m = struct.unpack_from("<I", seg.raw(16), 40)[0]
with open(path, "r+b") as f:
    for k in range(seg.rows):
        f.seek(e.offset + k * m + A + 12); f.write(struct.pack("<I", 1000000))'
    vec-query -q -k 10 c near.fvecs >after.tsv
    run diff before.tsv after.tsv
    assert_success
    # searched whole, the same segment is refused: the skip above is real
    run -65 --separate-stderr env VECSEG_SUMMARY=0 vec-query -q -k 10 c near.fvecs
    assert_one_stderr_line
}

@test "a damaged summary refuses the segment with one line and exit 65" {
    clustered_coll
    seg=$(far_segment)
    cp "$seg" orig.vseg
    # a centre byte changed: the summary's own CRC fails
    seg_edit "$seg" '
e = seg.sections[19]
with open(path, "r+b") as f:
    f.seek(e.offset + 16); b = f.read(1); f.seek(e.offset + 16); f.write(bytes([b[0] ^ 1]))'
    refuses c 65 "^vec-query: .*HNSW_SUMMARY: checksum mismatch" vec-query -q -k 3 c q.fvecs
    # a negative radius under a valid CRC: the field check alone must refuse it
    cp orig.vseg "$seg"
    seg_edit "$seg" '
e = seg.sections[19]; c = struct.unpack_from("<I", seg.raw(19), 4)[0]
b = bytearray(seg.raw(19)); struct.pack_into("<f", b, 16 + 4 * c * seg.dim, -1.0)
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
with open(path, "r+b") as f:
    f.seek(e.offset); f.write(b)'
    refuses c 65 "^vec-query: .*HNSW_SUMMARY: radius 0 is not finite and >= 0" vec-query -q -k 3 c q.fvecs
    # and the independent reader finds both the damage and rows outside a ball
    cp orig.vseg "$seg"
    seg_edit "$seg" '
e = seg.sections[19]; c = struct.unpack_from("<I", seg.raw(19), 4)[0]
b = bytearray(seg.raw(19)); struct.pack_into("<f", b, 16 + 4 * c * seg.dim, 0.5)
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
with open(path, "r+b") as f:
    f.seek(e.offset); f.write(b)'
    run "$PY" "$TESTS_DIR/vsreader.py" check --deep c
    assert_failure
    assert_output --partial "rows lie outside every ball of HNSW_SUMMARY"
}

@test "a segment written before summaries (none) is searched whole, as before" {
    clustered_coll
    VECSEG_SUMMARY=0 vec-query -q -k 10 c q.fvecs >all.tsv
    # every summary under a type readers skip (an old writer's segment), footer CRC fixed
    for seg in c/s-*.vseg; do
        seg_edit "$seg" '
hdr = seg.data[:64]; t = bytearray(seg.data[seg.table_offset:seg.table_offset + 32 * len(seg.sections)])
for i in range(len(seg.sections)):
    if struct.unpack_from("<I", t, 32 * i)[0] == 19:
        struct.pack_into("<I", t, 32 * i, 200)
with open(path, "r+b") as f:
    f.seek(seg.table_offset); f.write(t)
    f.seek(seg.table_offset + len(t) + 16); f.write(struct.pack("<I", zlib.crc32(hdr + bytes(t))))'
    done
    run vec-inspect c
    assert_success
    refute_output --partial "summary="
    vec-query -q -t 1 -k 10 c q.fvecs >old.tsv
    run diff old.tsv all.tsv
    assert_success
    vec-query -q -j 2 -k 10 c q.fvecs >old.tsv
    run diff old.tsv all.tsv
    assert_success
}
