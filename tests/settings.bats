#!/usr/bin/env bats
# Collection settings: one table gives each its type, default and range
# (vec-seal --help prints it); --set refuses what is out of range, and a
# manifest holding such a value is refused where the value is used, never
# wrapped.

load test_helper
load manifest_edit

# table - the settings table as vec-seal --help prints it: "KEY DEFAULT RANGE" a line.
table() {
    vec-seal --help | sed -nE 's/^  ([a-z][a-z-]*)=([^ ]+) \((.*)\)$/\1 \2 \3/p'
}

# numeric_ranges - "KEY MIN MAX" of every numeric setting.
numeric_ranges() {
    table | awk '$4 == "to" {print $1, $3, $5}'
}

@test "--set refuses each value out of its range, naming the range, and changes nothing" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    refuses coll 64 "^vec-seal: setting 'hnsw-m': 1 is out of range \(2 to 128\)$" vec-seal --set hnsw-m=1 coll
    refuses coll 64 "^vec-seal: setting 'grace': 9223372036854775808 is out of range \(0 to 100000000\)$" \
        vec-seal --set grace=9223372036854775808 coll
    refuses coll 64 "^vec-seal: setting 'split-rows': 0 is out of range \(100 to " vec-seal --set split-rows=0 coll
    refuses coll 64 "^vec-seal: setting 'compact-deleted': 500 is out of range \(1 to 100\)$" \
        vec-seal --set compact-deleted=500 coll
    refuses coll 64 "^vec-seal: setting 'pq-m': 4294967296 is out of range \(0 to 256\)$" \
        vec-seal --set pq-m=4294967296 coll
    refuses coll 64 "^vec-seal: setting 'seal-idle': 18446744073709551616 is out of range" \
        vec-seal --set seal-idle=18446744073709551616 coll
    refuses coll 64 "^vec-seal: setting 'seal-rows': '-1' is not a number$" vec-seal --set seal-rows=-1 coll
    refuses coll 64 "^vec-seal: setting 'seal-rows': '\+5' is not a number$" vec-seal --set seal-rows=+5 coll
    # one bad value among good ones: nothing is committed
    refuses coll 64 "'segment-rows': 0 is out of range" vec-seal --set seal-rows=5 --set segment-rows=0 coll
}

@test "--set accepts both ends of every range and refuses one past them" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    [ "$(numeric_ranges | wc -l)" -ge 10 ]
    while read -r key min max; do
        below=$("$PY" -c "print($min - 1)")
        above=$("$PY" -c "print($max + 1)")
        [ "$key" = pq-m ] && max=8 # pq-m must also divide the dimension
        run -0 vec-seal -q --set "$key=$min" coll
        run -0 vec-seal -q --set "$key=$max" coll
        grep -qx "setting $key $max" "$(current_manifest coll)"
        [ "$below" -lt 0 ] || refuses coll 64 "'$key': $below is out of range \($min to " vec-seal --set "$key=$below" coll
        refuses coll 64 "'$key': $above is out of range" vec-seal --set "$key=$above" coll
    done < <(numeric_ranges)
}

@test "--set pq-m refuses a value that does not divide the dimension" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    refuses coll 64 "^vec-seal: setting 'pq-m': 3 does not divide the dimension 8$" vec-seal --set pq-m=3 coll
    run -0 vec-seal -q --set pq-m=4 coll
}

@test "a new collection holds every setting of the table at its default" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    run -0 vec-inspect coll
    assert_equal "$(printf '%s\n' "${lines[@]}" | sed -n 's/^setting //p')" "$(table | cut -d' ' -f1,2)"
    assert_equal "$(grep '^setting ' "$(current_manifest coll)" | cut -d' ' -f2,3)" "$(table | cut -d' ' -f1,2)"
}

@test "vec-inspect marks settings that are defaults, invalid or unknown" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    manifest_edit coll '/^setting split-rows /d'
    manifest_set_setting coll hnsw-m 1
    manifest_set_setting coll future-knob 7
    run -0 vec-inspect coll
    assert_line "setting split-rows 10000000 (default)"
    assert_line "setting hnsw-m 1 (invalid: 2 to 128)"
    assert_line "setting future-knob 7 (unknown, ignored)"
    assert_line "setting grace 600"
}

@test "an out-of-range hnsw-m in the manifest fails the seal, naming the manifest and the range" {
    vectors rows.fvecs fvecs 50 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --set index=hnsw coll
    manifest_set_setting coll hnsw-m 1
    refuses coll 65 "^vec-seal: 'manifest-[0-9]{8}': setting 'hnsw-m': 1 is out of range \(2 to 128\)$" \
        vec-seal --all coll
    # an explicit --M does not need the setting
    run -0 vec-seal -q --all --M 8 coll
}

@test "a grace of 2^63 in the manifest is refused, not read as negative" {
    vectors rows.fvecs fvecs 50 8
    vectors more.fvecs fvecs 50 8 2
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll more.fvecs
    manifest_set_setting coll grace 9223372036854775808
    refuses coll 65 "'manifest-[0-9]{8}': setting 'grace': 9223372036854775808 is out of range \(0 to 100000000\)$" \
        vec-seal --all coll
    refuses coll 65 "setting 'grace'" vec-shard --split 0 coll
}

@test "split-rows, compact-deleted, pq-m and log-bytes out of range in the manifest are refused at use" {
    vectors rows.fvecs fvecs 300 8
    vec-ingest -q coll rows.fvecs
    manifest_set_setting coll split-rows 0
    refuses coll 65 "setting 'split-rows': 0 is out of range \(100 to " timeout 120 vec-shard --auto coll
    [ "$(grep -c '^shard ' "$(current_manifest coll)")" -eq 1 ]
    manifest_set_setting coll split-rows 10000000
    manifest_set_setting coll compact-deleted 500
    refuses coll 65 "setting 'compact-deleted': 500 is out of range \(1 to 100\)" vec-seal --all coll
    manifest_set_setting coll compact-deleted 20
    manifest_set_setting coll pq-m 4294967296
    refuses coll 65 "setting 'pq-m': 4294967296 is out of range \(0 to 256\)" vec-seal --all --index ivf_pq coll
    manifest_set_setting coll pq-m 0
    manifest_set_setting coll log-bytes 18446744073709551615
    refuses coll 65 "setting 'log-bytes': 18446744073709551615 is out of range" vec-ingest coll rows.fvecs
    # --set repairs what a hand edit broke
    run -0 vec-seal -q --set log-bytes=1073741824 coll
    run -0 vec-ingest -q coll rows.fvecs
}

# usage_error COLL REGEX COMMAND... - COMMAND exits 64, its first line on stderr matches REGEX
# (the second points to --help), and COLL is left as it was.
usage_error() {
    local coll=$1 regex=$2 before
    shift 2
    before=$(coll_digest "$coll")
    run -64 --separate-stderr "$@"
    [[ ${stderr_lines[0]} =~ $regex ]] || fail "stderr does not match /$regex/: $stderr"
    assert_equal "$(coll_digest "$coll")" "$before"
}

@test "numeric options refuse blanks and signs instead of wrapping them" {
    vectors rows.fvecs fvecs 20 8
    vec-ingest -q coll rows.fvecs
    usage_error coll "^vec-seal: option '--seed': ' -1' is not a number from 1 to 18446744073709551615$" \
        vec-seal --all --seed ' -1' coll
    usage_error coll "option '--grace': '\+5' is not a number" vec-seal --grace +5 coll
    usage_error coll "option '--grace': '100000001' is not a number from 0 to 100000000" vec-seal --grace 100000001 coll
    usage_error coll "option '--M': '4294967298' is not a number from 2 to 128" vec-seal --all --M 4294967298 coll
    usage_error coll "option '--pq-m': '4294967296' is not a number" vec-seal --all --pq-m 4294967296 coll
    usage_error coll "option '--nlist': '0' is not a number" vec-seal --all --nlist 0 coll
    usage_error coll "option '--isolate': ' 1' is not a number" vec-shard --isolate ' 1' coll
    usage_error coll "option '-k': ' 5' is not a number" vec-query -k ' 5' coll rows.fvecs
    usage_error coll "option '-k': '18446744073709551617' is not a number" vec-query -k 18446744073709551617 coll rows.fvecs
    usage_error coll "option '--rows': '-1' is not a number" vec-inspect --rows -1 coll
    usage_error coll "--share takes I/N with 0 <= I < N, not '4294967297/5'" vec-query --share 4294967297/5 coll rows.fvecs
    usage_error coll "--share takes I/N with 0 <= I < N, not '-1/5'" vec-query --share -1/5 coll rows.fvecs
}

@test "SPEC.md 3.1 and vecseg(5) give every setting the default and range of the table" {
    local root=$TESTS_DIR/.. key def range line
    [ "$(table | wc -l)" -eq "$(grep -cE '^\| `[a-z-]+` \| [a-z ]+ \| ' "$root/SPEC.md")" ]
    while read -r key def range; do
        line=$(grep -F "| \`$key\` | " "$root/SPEC.md") || fail "SPEC.md 3.1 lacks $key"
        [[ $line == *"| ${def//auto/\`auto\`} | "* ]] || fail "SPEC.md: $key: default is not $def: $line"
        [[ $range != *" to "* || $line == *"| $range | "* ]] || fail "SPEC.md: $key: range is not $range: $line"
        line=$(grep -A1 -xF ".B ${key//-/\\-}" "$root/man/vecseg.5" | tail -n 1)
        [[ ${line,,} == *"default $def"* ]] || fail "vecseg.5: $key: default is not $def: $line"
        [[ $range != *" to "* || $line == *"$range"* ]] || fail "vecseg.5: $key: range is not $range: $line"
    done < <(table)
}
