#!/usr/bin/env bats
# vec-inspect, the golden files and SPEC.md's worked example.

load test_helper

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"

@test "an unknown option is a usage error" {
    run -64 vec-inspect --bogus x
}

@test "a missing path exits 66 naming it" {
    run -66 --separate-stderr vec-inspect nowhere
    assert_equal "$stderr" "vec-inspect: 'nowhere': no such file or directory"
}

@test "a FIFO named as PATH is refused at once, not waited on" {
    mkfifo fifo
    run -65 --separate-stderr timeout 10 vec-inspect fifo
    assert_equal "$stderr" "vec-inspect: 'fifo': not a regular file or a directory"
}

@test "SPEC.md's hex dump of the tiny segment is the golden file, byte for byte" {
    command -v xxd >/dev/null || skip "xxd is not installed"
    sed -n '/hexdump tiny.vseg begin/,/hexdump tiny.vseg end/p' "$ROOT/SPEC.md" |
        grep -E '^[0-9a-f]{8}: ' >spec.hex
    xxd "$ROOT/tests/golden/tiny.vseg" >golden.hex
    run diff spec.hex golden.hex
    assert_success
    [ "$(wc -l <spec.hex)" -eq 36 ]
}

# golden_index_segments DIR - writes DIR/tiny-TYPE.vseg for each index type with the tools, from
# the fixed input of SPEC.md section 11.1 ([R-SEG-DETERMINISTIC]: the same bytes every time, on
# every machine, the sums being exact).
golden_index_segments() {
    local dir=$1 index n opts
    printf '0,0\n4,1\n1,3\n-2,2\n5,5\n-1,-3\n' >rows.csv
    printf '10\n11\n12\n13\n14\n15\n' >ids.txt
    for index in hnsw ivf_flat ivf_sq8 ivf_pq; do
        case $index in
            hnsw) n=6 opts="--M 2 --ef-construction 8" ;;
            ivf_pq) n=4 opts="--nlist 2 --pq-m 1" ;;
            *) n=4 opts="--nlist 2" ;;
        esac
        rm -rf g
        head -n $n rows.csv >r.csv
        head -n $n ids.txt >i.txt
        vec-ingest -q --ids i.txt g r.csv
        # shellcheck disable=SC2086 # opts holds several options
        vec-seal -q --all --seed 1 --index $index $opts g
        cp g/s-00000001.vseg "$dir/tiny-$index.vseg"
    done
}

# hexdump_collapsed FILE - xxd's dump with runs of equal lines shown as one line and "*", as
# hexdump -C prints them (the dumps of SPEC.md section 11.1).
hexdump_collapsed() {
    xxd "$1" | awk '{ d = substr($0, 11); if (d == p) { if (!st) print "*"; st = 1 } else { print; st = 0 }; p = d }'
}

@test "the tools write the golden index segments of SPEC.md 11.1 byte for byte" {
    mkdir out
    golden_index_segments "$PWD/out"
    # GOLDEN_WRITE=1 rewrites them (after a deliberate format change, with SPEC.md's dumps)
    [ -z "${GOLDEN_WRITE:-}" ] || cp out/*.vseg "$ROOT/tests/golden/"
    for index in hnsw ivf_flat ivf_sq8 ivf_pq; do
        run cmp "out/tiny-$index.vseg" "$ROOT/tests/golden/tiny-$index.vseg"
        assert_success
    done
}

@test "SPEC.md's hex dumps of the index segments are the golden files, byte for byte" {
    command -v xxd >/dev/null || skip "xxd is not installed"
    for index in hnsw ivf_flat ivf_sq8 ivf_pq; do
        sed -n "/hexdump tiny-$index.vseg begin/,/hexdump tiny-$index.vseg end/p" "$ROOT/SPEC.md" |
            grep -E '^([0-9a-f]{8}: |\*$)' >spec.hex
        hexdump_collapsed "$ROOT/tests/golden/tiny-$index.vseg" >golden.hex
        [ -s spec.hex ] || fail "SPEC.md has no dump of tiny-$index.vseg"
        run diff spec.hex golden.hex
        assert_success
    done
}

@test "the golden index segments read back as SPEC.md 11.1 describes them" {
    for index in hnsw ivf_flat ivf_sq8 ivf_pq; do
        run vec-inspect --verify "$ROOT/tests/golden/tiny-$index.vseg"
        assert_success
    done
    # and so does the reader written from SPEC.md: every byte checked, the values annotated
    run "$PY" - "$ROOT/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import vsreader as v
g = sys.argv[1] + "/golden/tiny-%s.vseg"
for k in ("hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"):
    for p in v.check_segment_deep(v.read_segment(g % k)):
        print(p.line())
h = v.Hnsw(v.read_segment(g % "hnsw"))
assert h.row_of.tolist() == [0, 1, 2, 3, 5, 4] and h.max_level == 4 and h.stride == 64, h.row_of
assert h.links[0].tolist() == [1, 2, 3, 4] and h.codes[0].tolist() == [73, 96]
i = v.Ivf(v.read_segment(g % "ivf_sq8"))
assert i.offsets.tolist() == [0, 3, 4] and i.pos_row.tolist() == [0, 2, 3, 1]
assert i.codes.tolist() == [[85, 0], [128, 255], [0, 170], [255, 85]]
q = v.Ivf(v.read_segment(g % "ivf_pq"))
assert q.codes[:, 0].tolist() == [0, 2, 3, 1] and q.terms[3] == 0
print("ok")
PY
    assert_success
    assert_output "ok"
}

@test "the golden segment reads back as SPEC.md describes it" {
    run vec-inspect --verify --rows 3 "$ROOT/tests/golden/tiny.vseg"
    assert_success
    assert_line "dim 4"
    assert_line "rows 3"
    assert_line "section type=1 name=VECTORS flags=1 offset=64 length=48 crc32=fd228ef3"
    assert_line "row id=8 lsn=2 [-1, 0.5, 2, 8]"
}

@test "every broken golden variant is refused with exit 65 naming the file" {
    for f in "$ROOT"/tests/golden-errors/*.vseg; do
        run -65 --separate-stderr vec-inspect --verify "$f"
        [[ "$stderr" == "vec-inspect: '$f': "* ]] || { echo "$f: $stderr"; return 1; }
    done
}

@test "a collection is described and verified; a damaged file fails --verify" {
    vectors rows.fvecs fvecs 50 8
    vec-ingest -q coll rows.fvecs
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 50 (sealed 0, growing 50)"
    vec-seal -q --all coll
    run vec-inspect --verify coll
    assert_success
    assert_line "rows 50 (sealed 50, growing 0)"
    seg=$(ls coll/s-*.vseg)
    printf '\x7f' | dd of="$seg" bs=1 seek=100 conv=notrunc status=none
    run -65 --separate-stderr vec-inspect --verify coll
    [[ "$stderr" == *"$(basename "$seg")"*"checksum"* ]]
}

@test "--verify refuses files that disagree with their manifest line, whatever their checksums" {
    vectors rows.fvecs fvecs 50 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    vectors more.fvecs fvecs 20 8 2
    vec-ingest -q coll more.fvecs
    cp -r coll good
    # files of dim 8 under a manifest that says 16: the reported defect (the rows no longer
    # fit the bytes the manifest gives them), and under one that says 4
    edit_manifest coll 's/^dim 8$/dim 16/'
    refuses coll 65 "^vec-inspect: 'manifest-[0-9]+': '[gs]-[0-9]+\.(log|vseg)': [0-9]+ rows cannot fit in [0-9]+ bytes$" \
        vec-inspect --verify coll
    rm -rf coll && cp -r good coll
    edit_manifest coll 's/^dim 8$/dim 4/'
    refuses coll 65 "^vec-inspect: '[gs]-[0-9]+\.(log|vseg)': dim is 8 in the file but 4 in the manifest$" \
        vec-inspect --verify coll
    for edit in 's/^\(sealed [^ ]*\) shard=0/\1 shard=1/' 's/^\(sealed .*\) rows=50/\1 rows=49/' \
        's/^\(sealed .* bytes=\)\([0-9]*\)/\1\20/' 's/^keys no$/keys yes/'; do
        rm -rf coll && cp -r good coll
        edit_manifest coll "$edit"
        # (a shard the manifest does not list is refused by the manifest's own checks)
        refuses coll 65 "^vec-inspect: ('[gs]-[0-9]+\.(log|vseg)': .* is [0-9]+ in the file but [0-9]+ in the manifest|'manifest-[0-9]+': 's-[0-9]+\.vseg' belongs to shard 1, which is not listed)$" \
            vec-inspect --verify coll
    done
}
