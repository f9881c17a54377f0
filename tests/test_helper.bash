# test_helper.bash - shared setup of the vecseg bats suite.
#
# Every test runs in its own BATS_TEST_TMPDIR with the tools of this checkout (build/bin, found
# relative to this file) first on PATH.  Fixtures come from tests/fixtures.py, run with Debian's
# python3 (the one with NumPy and h5py); they are seeded, so a test can write the same rows again
# as queries.  Loaded by each .bats file with `load test_helper`; bats-support and bats-assert
# come from BATS_LIB_PATH (Debian installs them in /usr/lib/bats, the default).

bats_require_minimum_version 1.5.0

bats_load_library bats-support
bats_load_library bats-assert

TESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# VECSEG_BIN: the tools under test (make check SAN=1 points it at build-san/bin)
BIN_DIR="${VECSEG_BIN:-$(cd "$TESTS_DIR/.." && pwd)/build/bin}"
PY=/usr/bin/python3
export PATH="$BIN_DIR:$PATH"

setup() {
    for t in vec-ingest vec-seal vec-query; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (run make)"
    done
    cd "$BATS_TEST_TMPDIR" || return 1
}

# fixtures ARGS... - runs tests/fixtures.py (see its docstring).
fixtures() {
    "$PY" "$TESTS_DIR/fixtures.py" "$@"
}

# vectors OUT FORMAT [N [DIM [SEED]]] [MORE fixtures.py OPTIONS]
#   FORMAT: fvecs bvecs ivecs npy-f4 npy-f8 npy-u1 h5 csv tsv txt raw.
vectors() {
    local out=$1 fmt=$2 n=${3:-100} dim=${4:-8} seed=${5:-1}
    shift $(($# < 5 ? $# : 5))
    fixtures vectors "$out" --format "$fmt" --n "$n" --dim "$dim" --seed "$seed" "$@"
}

# ids OUT LIST - writes ids like "0-9,20" as .ivecs, .npy, .txt or FILE.h5:/dataset.
ids() {
    fixtures ids "$1" "$2"
}

# ann OUT.h5 [fixtures.py ann OPTIONS] - an ann-benchmarks file (train/test/neighbors/distances).
ann() {
    local out=$1
    shift
    fixtures ann "$out" "$@"
}

# check_results RESULT [fixtures.py check OPTIONS] - fails unless RESULT is the brute force.
check_results() {
    run fixtures check "$@"
    assert_success
}

# coll_digest DIR - one sha256 over the names and contents of every file in DIR, sorted by name.
# Equal digests before and after a command prove it left the collection byte for byte unchanged.
coll_digest() {
    local dir=$1
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z |
        while IFS= read -r -d '' f; do
            printf '%s\n' "$f"
            sha256sum <"$f"
        done) | sha256sum | cut -d' ' -f1
}

# top_ids COLL QUERIES [vec-query OPTIONS] - the rank-1 id of every query, space-separated.
top_ids() {
    local coll=$1 q=$2
    shift 2
    vec-query -q -k 1 "$@" "$coll" "$q" | awk -F'\t' '{printf "%s%s", sep, $3; sep=" "} END {print ""}'
}

# seq_ids FIRST LAST - "FIRST FIRST+1 ... LAST" on one line.
seq_ids() {
    seq -s ' ' "$1" "$2"
}

# result_ids FILE - the ids column of a TSV result, sorted numerically and unique.
result_ids() {
    cut -f3 "$1" | sort -nu
}

# assert_one_stderr_line - $stderr (from run --separate-stderr) is exactly one line.
assert_one_stderr_line() {
    local n=0
    [ -z "$stderr" ] || n=$(printf '%s\n' "$stderr" | grep -c '')
    [ "$n" -eq 1 ] || fail "expected one line on stderr, got $n: $stderr"
}

# assert_stderr_matches REGEX - $stderr matches the extended regular expression REGEX.
assert_stderr_matches() {
    [[ $stderr =~ $1 ]] || fail "stderr does not match /$1/: $stderr"
}

# refuses COLL STATUS REGEX COMMAND... - COMMAND exits STATUS with one line on stderr matching
# REGEX, and COLL is left byte for byte as it was (or still absent, if it did not exist).
refuses() {
    local coll=$1 status=$2 regex=$3 before=absent after=absent
    shift 3
    [ -e "$coll" ] && before=$(coll_digest "$coll")
    run "-$status" --separate-stderr "$@"
    assert_one_stderr_line
    assert_stderr_matches "$regex"
    [ -e "$coll" ] && after=$(coll_digest "$coll")
    assert_equal "$after" "$before"
}

# hold_lock FILE SECONDS - holds an exclusive flock on FILE from a background process for at
# most SECONDS, returning once the lock is taken; LOCK_PID is the holder (teardown ends it).
hold_lock() {
    local file=$1 secs=$2 _
    rm -f "$BATS_TEST_TMPDIR/lock.ready"
    (flock 9 && touch "$BATS_TEST_TMPDIR/lock.ready" && exec sleep "$secs") 9>>"$file" >/dev/null 2>&1 3>&- &
    LOCK_PID=$!
    for _ in $(seq 200); do
        [ -e "$BATS_TEST_TMPDIR/lock.ready" ] && return 0
        sleep 0.05
    done
    fail "could not lock '$file'"
}

# wait_flock PID FILE held|waiting - returns once process PID holds, or is blocked waiting for,
# an flock on FILE, as /proc/locks shows it: a point the process has certainly reached, so a test
# can act while it is there.  Fails if PID ends first or nothing happens within 30 s.
wait_flock() {
    local pid=$1 file=$2 state=$3 ino arrow= _
    ino=$(stat -c %i "$file")
    [ "$state" = waiting ] && arrow='-> '
    for _ in $(seq 600); do
        grep -qE "^[0-9]+: ${arrow}FLOCK +ADVISORY +WRITE +$pid +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks && return 0
        kill -0 "$pid" 2>/dev/null || fail "process $pid ended before it $state a lock on '$file'"
        sleep 0.05
    done
    fail "process $pid never $state a lock on '$file'"
}

teardown() {
    if [ -n "${LOCK_PID:-}" ]; then
        kill "$LOCK_PID" 2>/dev/null || true
        wait "$LOCK_PID" 2>/dev/null || true
    fi
}

# break_current COLL KIND - points CURRENT of COLL at nothing usable: KIND is missing (a manifest
# that does not exist), garbage, empty or dotdot (a path out of the collection).
break_current() {
    case $2 in
    missing) echo manifest-00000099 >"$1/CURRENT" ;;
    garbage) printf '\x89\x01\xffnot a name\x00\n' >"$1/CURRENT" ;;
    empty) : >"$1/CURRENT" ;;
    dotdot) echo ../manifest-00000001 >"$1/CURRENT" ;;
    esac
}

# edit_manifest COLL SED-SCRIPT - rewrites the current manifest of COLL with sed and gives it a
# valid crc32 line again: a crafted manifest that only its contents betray.
edit_manifest() {
    local f
    f="$1/$(cat "$1/CURRENT")"
    sed -e '$d' -e "$2" "$f" >"$f.new"
    "$PY" -c 'import sys, zlib
d = open(sys.argv[1], "rb").read()
open(sys.argv[1], "ab").write(b"crc32 %08x\n" % zlib.crc32(d))' "$f.new"
    mv "$f.new" "$f"
}
