#!/usr/bin/env bats
# crash.bats - crashes survived: SIGKILL at random moments of every writing tool, the states a
# power cut could leave, and the independent reader the harnesses judge them with
# (tests/crash/README.md).  CRASH_SEED and CRASH_KILLS change the short run.

load test_helper

IOTRACE="${VECSEG_IOTRACE:-$TESTS_DIR/../build/tests/iotrace.so}"
CRASH="$TESTS_DIR/crash"

setup() {
    for t in vec-ingest vec-seal vec-shard vec-balance vec-inspect; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (run make)"
    done
    [ -f "$IOTRACE" ] || skip "iotrace.so is not built (run make check)"
    cd "$BATS_TEST_TMPDIR" || return 1
}

@test "vsreader reads the golden segment and refuses every broken one" {
    run "$PY" - "$TESTS_DIR" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import vsreader
s = vsreader.read_segment(os.path.join(sys.argv[1], "golden", "tiny.vseg"))
assert s.rows == 3 and s.decoded(2).tolist() == [9, 7, 8], s.decoded(2)
assert s.decoded(1)[2].tolist() == [-1, 0.5, 2, 8]
d = os.path.join(sys.argv[1], "golden-errors")
for f in sorted(os.listdir(d)):
    try:
        vsreader.read_segment(os.path.join(d, f))
        print("accepted", f)
    except vsreader.Damage as e:
        pass
assert hex(vsreader.route_hash(0)) == "0xe220a8397b1dcdaf"
print("ok")
PY
    assert_success
    assert_output "ok"
}

@test "vsreader sees the rows vec-ingest wrote, minus deletes, with upserts' newest vectors" {
    vectors v.npy npy-f4 50 4 1
    vectors u.npy npy-f4 5 4 2
    ids ids.txt 0-49
    ids up.txt 10-14
    printf '3\n7\n' >del.txt
    vec-ingest -q -s 2 --ids ids.txt c v.npy
    vec-ingest -q --delete c del.txt
    vec-ingest -q --upsert --ids up.txt c u.npy
    vec-seal -q --all --index hnsw c
    run "$PY" "$TESTS_DIR/vsreader.py" check c
    assert_success
    run "$PY" "$TESTS_DIR/vsreader.py" rows c
    assert_success
    assert_equal "$(printf '%s\n' "$output" | wc -l)" 48
    refute_line --regexp '^3	'
    # row 12 holds the upsert's vector (row 2 of u.npy), not the first one
    want=$("$PY" -c "import numpy as np; print(','.join(repr(float(x)) for x in np.load('u.npy')[2]))")
    assert_line "12	3	-	$want"
}

@test "vsreader refuses exactly the hostile collections vec-inspect --verify refuses" {
    # two independent readers of SPEC.md, the tools and vsreader, agree on every hostile case
    mkdir -p t/outside cases
    cd t
    vectors base.fvecs fvecs 40 4 1
    vectors more.fvecs fvecs 20 4 2
    vec-ingest -q -s 2 coll base.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll more.fvecs
    echo 3 | vec-ingest -q --delete coll
    cd ..
    "$PY" "$TESTS_DIR/hostile/make.py" --all "$PWD/t" "$PWD/cases"
    run "$PY" - "$TESTS_DIR" <<'PY'
import os, re, sys
sys.path.insert(0, sys.argv[1])
import vsreader
want = {}
for line in open(os.path.join(sys.argv[1], "hostile", "cases")):
    if line.strip() and not line.startswith("#"):
        case, tools, status, _ = [x.strip() for x in line.split("|", 3)]
        if re.search(r"\b(all|readers|verify)\b", tools):
            want[case] = status != "0"
n = 0
for case in sorted(want):
    refused = bool(vsreader.check(os.path.join("cases", case, "coll")))
    n += 1
    if refused != want[case]:
        print(f"{case}: vsreader {'refuses' if refused else 'accepts'}, --verify does not")
print(f"{n} cases" if n >= 30 else f"only {n} cases")
PY
    assert_success
    assert_output --regexp '^[0-9]+ cases$'
}

@test "a kill at any operation of a collection's first ingest leaves what the next ingest completes" {
    vectors v.npy npy-f4 20 4 1
    vectors w.npy npy-f4 5 4 2
    ids a.txt 0-19
    ids b.txt 100-104
    mkdir w
    LD_PRELOAD="$IOTRACE" IOTRACE_ROOT="$PWD/w" IOTRACE_OUT="$PWD/trace" vec-ingest -q --ids a.txt w/c v.npy
    n=$("$PY" -c "import sys; sys.path.insert(0, '$CRASH'); import common; print(max(r.seq for r in common.read_trace('trace')))")
    [ "$n" -gt 20 ]
    for k in $(seq 1 "$n"); do
        rm -rf w/c
        run -137 env LD_PRELOAD="$IOTRACE" IOTRACE_ROOT="$PWD/w" IOTRACE_KILL_AT="$k" vec-ingest -q --ids a.txt w/c v.npy
        run vec-ingest -q --ids b.txt w/c w.npy
        [ "$status" -eq 0 ] || fail "killed before operation $k of $n: next ingest: $output"
        rows=$("$PY" "$TESTS_DIR/vsreader.py" rows w/c | cut -f1 | tr '\n' ' ')
        [ "$rows" = "$(seq -s ' ' 100 104) " ] || [ "$rows" = "$(seq -s ' ' 0 19) $(seq -s ' ' 100 104) " ] ||
            fail "killed before operation $k: rows $rows"
    done
}

@test "cold-apart: the .vcold is durable before its .vseg is begun, and a kill anywhere leaves the collection as it was" {
    vectors v.npy npy-f4 300 8 1
    mkdir w
    vec-ingest -q w/c v.npy
    vec-seal -q --set cold-apart=1 --set grace=0 w/c
    cp -a w/c before
    LD_PRELOAD="$IOTRACE" IOTRACE_ROOT="$PWD/w" IOTRACE_OUT="$PWD/trace" vec-seal -q --all --index ivf_pq w/c
    # [R-COLD-WRITE] .vcold written, synced, renamed, directory synced; then the .vseg; then the manifest
    run "$PY" - "$CRASH" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import common
recs = common.read_trace("trace", root=os.path.abspath("w"))
at = lambda f: next(i for i, r in enumerate(recs) if f(r))
cold_sync = at(lambda r: r.op == "FSYNC" and r.path == "c/s-00000001.vcold.tmp")
cold_ren = at(lambda r: r.op == "RENAME" and r.path2 == "c/s-00000001.vcold")
dir_sync = at(lambda r: r.op == "FSYNC" and r.path == "c" and recs.index(r) > cold_ren)
seg_open = at(lambda r: r.op == "OPEN" and r.path == "c/s-00000001.vseg.tmp")
seg_ren = at(lambda r: r.op == "RENAME" and r.path2 == "c/s-00000001.vseg")
man = at(lambda r: r.op == "OPEN" and r.path.startswith("c/manifest-"))
ok = cold_sync < cold_ren < dir_sync < seg_open < seg_ren < man
print("ok" if ok else f"order: {cold_sync} {cold_ren} {dir_sync} {seg_open} {seg_ren} {man}")
PY
    assert_output "ok"
    n=$("$PY" -c "import sys; sys.path.insert(0, '$CRASH'); import common; print(max(r.seq for r in common.read_trace('trace')))")
    rows=$("$PY" "$TESTS_DIR/vsreader.py" rows before | sort | sha256sum)
    for k in $(seq 1 "$n"); do
        rm -rf w/c
        cp -a before w/c
        run -137 env LD_PRELOAD="$IOTRACE" IOTRACE_ROOT="$PWD/w" IOTRACE_KILL_AT="$k" vec-seal -q --all --index ivf_pq w/c
        # the rows, verification, then the next seal, which clears what the killed one left
        [ "$("$PY" "$TESTS_DIR/vsreader.py" rows w/c | sort | sha256sum)" = "$rows" ] || fail "kill $k of $n: rows changed"
        run vec-inspect -q --verify w/c
        [ "$status" -eq 0 ] || fail "kill $k of $n: verify: $output"
        run vec-seal -q --all --index ivf_pq w/c
        [ "$status" -eq 0 ] || fail "kill $k of $n: next seal: $output"
        [ "$("$PY" "$TESTS_DIR/vsreader.py" rows w/c | sort | sha256sum)" = "$rows" ] || fail "kill $k: rows after the next seal"
        run "$PY" "$TESTS_DIR/vsreader.py" check w/c
        [ -z "$output" ] || fail "kill $k of $n: check: $output"
        ls w/c/*.vcold >/dev/null || fail "kill $k of $n: no .vcold after the next seal"
    done
}

@test "the first ingest makes the new collection directory durable (fsync of its parent)" {
    vectors v.npy npy-f4 5 4 1
    mkdir w
    LD_PRELOAD="$IOTRACE" IOTRACE_ROOT="$PWD/w" IOTRACE_OUT="$PWD/trace" vec-ingest -q w/c v.npy
    run "$PY" - "$CRASH" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import common
recs = common.read_trace("trace", root=__import__("os").path.abspath("w"))
mk = [i for i, r in enumerate(recs) if r.op == "MKDIR" and r.path == "c"]
sync = [i for i, r in enumerate(recs) if r.op == "FSYNC" and r.path == "." and r.flags & common.F_DIR]
print("ok" if mk and any(i > mk[0] for i in sync) else f"mkdir at {mk}, parent fsyncs at {sync}")
PY
    assert_output "ok"
}

@test "power loss: every crash state drawn for every writing command keeps the acknowledged rows" {
    run "$PY" "$CRASH/powerloss.py" --seed "${CRASH_SEED:-1}" --states 30
    echo "$output"
    assert_success
    assert_output --partial "0 new failures, 0 known-defect failures"
}

@test "SIGKILL of every writing tool at random moments: ${CRASH_KILLS:-300} kills, nothing acknowledged lost" {
    run "$PY" "$CRASH/crash.py" --seed "${CRASH_SEED:-1}" --kills "${CRASH_KILLS:-300}" -j 2
    echo "$output"
    assert_success
    assert_output --partial "crash: 0 new failures, 0 known-defect failures"
}
