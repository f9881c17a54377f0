#!/usr/bin/env bats
# hostile.bats - the hostile-file corpus: crafted and damaged files, each refused by every tool
# that reads that kind of file with its expected exit status and one line on stderr, without a
# crash, a hang or a change to any file, inside the collection or outside it.
#
# Layout (tests/hostile/):
#   make.py   one Python function per case, registered with @case: it turns a fresh small
#             collection (WORLD/coll: 2 shards, 2 sealed segments, 2 growing logs, a tombstone
#             file; WORLD/outside: empty) into the case, e.g. a CURRENT that is a FIFO or a log
#             whose record holds a NaN under a valid CRC
#   cases     the table: CASE | TOOLS | STATUS | MESSAGE, one row per group of tools that must
#             behave alike on that case (see its header)
# setup_file makes every case once (make.py --all); each test runs one tool over every row that
# lists it, each time on a fresh copy of the case, and asserts:
#   - the exit status (and so no crash: it is below 128, and no hang: `timeout` would give 124;
#     each run has 20 seconds and 1 GB of address space, so a regression cannot hang the suite or
#     exhaust the machine's memory);
#   - stderr is exactly "TOOL: MESSAGE" (one line), or empty when the status is 0;
#   - no file changed: WORLD (collection and outside alike) is byte for byte as before, names,
#     types, link targets and contents; a writer that succeeds may change the collection only.
# To add a case: write its @case function in make.py and its rows in cases.  To add a tool: a
# TOOL entry below, a @test line at the end, and the tool in the rows of the cases it reads.

load test_helper

HOSTILE="$BATS_TEST_DIRNAME/hostile"

# Tool keys: the command, run by bash in the case's directory (coll, outside, p.part, inputs).
declare -gA TOOL=(
    [query]="vec-query -q -k 3 coll q.fvecs"
    [inspect]="vec-inspect coll"
    [verify]="vec-inspect --verify coll"
    [list]="vec-shard coll"
    [balance]="vec-balance -q --dry-run --nodes a,b coll"
    [ingest]="vec-ingest -q coll more.fvecs"
    [delete]="echo 5 | vec-ingest -q --delete coll"
    [upsert]="vec-ingest -q --upsert --ids ids.txt coll more.fvecs"
    [seal]="vec-seal -q --all coll"
    [split]="vec-shard -q --split 0 coll"
    [merge]="vec-query -q --merge p.part"
    [merge-pipe]="cat p.part | vec-query -q --merge -"
    [inspect-partial]="vec-inspect p.part"
)
READERS="query inspect verify list"
WRITERS="ingest delete upsert seal split"   # may change the collection when they succeed

# rows - every row of the table as CASE|TOOL|STATUS|MESSAGE, one per tool (groups expanded),
# fields trimmed.
rows() {
    local c tools st msg t
    while IFS='|' read -r c tools st msg; do
        [[ $c =~ ^[[:space:]]*(#|$) ]] && continue
        c=${c//[[:space:]]/} st=${st//[[:space:]]/} msg=${msg# }
        tools=${tools//readers/$READERS} tools=${tools//writers/$WRITERS}
        tools=${tools//all/$READERS $WRITERS balance}
        for t in $tools; do
            printf '%s|%s|%s|%s\n' "$c" "$t" "$st" "$msg"
        done
    done <"$HOSTILE/cases"
}

# listing DIR - one line per file under DIR (type, links, name, link target, size; links are
# described, never followed) and the SHA-256 of every regular file: equal listings mean equal
# trees, byte for byte.
listing() {
    (
        cd "$1" || exit 1
        find . -printf '%y %n %p -> %l %s\n' | LC_ALL=C sort
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    )
}

# outside_coll - the lines of a listing (stdin) that are not about coll or the files in it.
outside_coll() {
    grep -v -e ' \./coll/' -e ' \./coll -> '
}

setup_file() {
    [ -x "$BIN_DIR/vec-ingest" ] || return 0
    local t="$BATS_FILE_TMPDIR/template" c
    mkdir -p "$t/outside" "$BATS_FILE_TMPDIR/cases"
    cd "$t" || return 1
    vectors base.fvecs fvecs 40 4 1
    vectors more.fvecs fvecs 20 4 2
    vectors q.fvecs fvecs 2 4 3
    seq 0 19 >ids.txt
    vec-ingest -q -s 2 coll base.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll more.fvecs
    echo 3 | vec-ingest -q --delete coll
    "$PY" "$HOSTILE/make.py" --all "$t" "$BATS_FILE_TMPDIR/cases"
    for c in "$BATS_FILE_TMPDIR"/cases/*; do
        listing "$c" >"$c.all"
        outside_coll <"$c.all" >"$c.outside"
    done
    rows >"$BATS_FILE_TMPDIR/rows"
}

# hostile TOOL - runs tool key TOOL over every row that lists it; fails listing every mismatch.
hostile() {
    local key=$1 cmd=${TOOL[$1]} prog=${TOOL[$1]##*| } c t st msg n=0 s err want errors=""
    local cases="$BATS_FILE_TMPDIR/cases"
    prog=${prog%% *}
    while IFS='|' read -r c t st msg; do
        [ "$t" = "$key" ] || continue
        n=$((n + 1))
        rm -rf w
        cp -a "$cases/$c" w
        s=0
        # a regression must fail here, not hang the suite or exhaust the machine's memory;
        # ASan reserves terabytes of shadow address space, so under SAN=1 its own limits
        # (one allocation, resident size) stand in for ulimit -v
        if [ -n "${VECSEG_SAN:-}" ]; then
            (cd w && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=1000:hard_rss_limit_mb=1000" \
                exec timeout 20 bash -c "$cmd") >/dev/null 2>stderr || s=$?
        else
            (cd w && ulimit -v 1000000 && exec timeout 20 bash -c "$cmd") >/dev/null 2>stderr || s=$?
        fi
        err=$(<stderr)
        listing w >after
        outside_coll <after >after.outside
        want=""
        [ "$st" -eq 0 ] || want="$prog: $msg"
        if [ "$s" -ge 128 ] || [ "$s" -eq 124 ]; then
            errors+="$c: crashed or hung (status $s): $err"$'\n'
        elif [ "$s" -ne "$st" ] || [ "$err" != "$want" ]; then
            errors+="$c: expected $st '$want', got $s '$err'"$'\n'
        elif ! cmp -s after.outside "$cases/$c.outside"; then
            errors+="$c: files outside the collection changed"$'\n'
        elif ! { [ "$s" -eq 0 ] && [[ " $WRITERS " == *" $key "* ]]; } && ! cmp -s after "$cases/$c.all"; then
            errors+="$c: the collection changed"$'\n'
        fi
    done <"$BATS_FILE_TMPDIR/rows"
    [ "$n" -gt 0 ] || fail "no case lists '$key'"
    [ -z "$errors" ] || fail "$errors"
}

@test "the table and make.py agree: every case has rows, every row a case and known tools" {
    local cases c t bad=""
    cases=" $("$PY" "$HOSTILE/make.py" --list | tr '\n' ' ') "
    while IFS='|' read -r c t _; do
        [[ $cases == *" $c "* ]] || bad+="row of unknown case '$c'"$'\n'
        [ -n "${TOOL[$t]:-}" ] || bad+="case '$c': unknown tool '$t'"$'\n'
    done <"$BATS_FILE_TMPDIR/rows"
    for c in $cases; do
        grep -q "^$c|" "$BATS_FILE_TMPDIR/rows" || bad+="case '$c' has no row"$'\n'
    done
    [ -z "$bad" ] || fail "$bad"
}

@test "vec-query refuses every hostile collection it reads" { hostile query; }
@test "vec-inspect refuses every hostile collection it reads" { hostile inspect; }
@test "vec-inspect --verify refuses every hostile collection" { hostile verify; }
@test "vec-shard (listing) refuses every hostile collection it reads" { hostile list; }
@test "vec-balance --dry-run refuses every hostile collection it reads" { hostile balance; }
@test "vec-ingest refuses every hostile collection it writes to" { hostile ingest; }
@test "vec-ingest --delete refuses every hostile collection" { hostile delete; }
@test "vec-ingest --upsert refuses every hostile collection" { hostile upsert; }
@test "vec-seal refuses every hostile collection it reads" { hostile seal; }
@test "vec-shard --split refuses every hostile collection" { hostile split; }
@test "vec-query --merge refuses every hostile partial result file" { hostile merge; }
@test "vec-query --merge refuses every hostile partial result on a pipe" { hostile merge-pipe; }
@test "vec-inspect refuses every hostile partial result" { hostile inspect-partial; }
