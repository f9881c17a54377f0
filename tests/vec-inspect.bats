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
