#!/usr/bin/env bats
# Threads: a tool starts one worker thread per core it may use (lib/util/parallel.c), so under
# `taskset -c 0` it works on its main thread alone, and VECSEG_THREADS overrides the count.
#
# Threads are counted, not guessed: strace -f logs every clone that starts one (flag
# CLONE_THREAD); only the clones after the last execve (the tool's own image) count.  A tool
# puts OpenBLAS's settings in its environment before lib/ loads OpenBLAS (cli/common.c), so
# OpenBLAS starts no pool of its own (told one thread per caller), which the control with
# VECSEG_THREADS=2 shows: exactly the one extra worker.

load test_helper

setup() {
    for t in vec-ingest vec-seal vec-query; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (run make)"
    done
    command -v strace >/dev/null || skip "strace is not installed (scripts/deps check installs it)"
    strace -f -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
    cd "$BATS_TEST_TMPDIR" || return 1
}

# threads_started [VAR=VALUE...] CMD... - runs CMD under strace, with OpenBLAS's and vecseg's
# thread variables unset unless given, and prints how many threads the processes of CMD
# started after the last execve (the tool's own image).  Fails if CMD fails.
threads_started() {
    # LeakSanitizer cannot run under ptrace: a SAN=1 build checks leaks in the other tests
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        env -u OPENBLAS_NUM_THREADS -u OPENBLAS_CORETYPE -u VECSEG_THREADS \
        strace -f -qq -e trace=execve,clone,clone3 -o trace.txt env "$@" >/dev/null 2>cmd.err ||
        { cat cmd.err >&2; return 1; }
    awk '/execve\(/ && / = 0$/ { n = 0 } /CLONE_THREAD/ { n++ } END { print n + 0 }' trace.txt
}

# has_section COLL TYPE - a sealed segment of COLL has a section of TYPE (SPEC.md: 17 HNSW
# nodes, 56 PQ codebooks): the index the test asked for was built.
has_section() {
    local f
    for f in "$1"/s-*.vseg; do
        vec-inspect "$f" | grep -q "^section type=$2 " && return 0
    done
    return 1
}

setup_coll() {
    vectors base.fvecs fvecs 3000 16 1
    vectors q.fvecs fvecs 200 16 2
    vec-ingest -q coll base.fvecs
}

@test "a VECSEG_THREADS that is not a number from 1 to 1024 is a usage error" {
    for v in 0 1025 x -1 "2 "; do
        VECSEG_THREADS=$v run -64 --separate-stderr vec-query coll q.fvecs
        assert_equal "$stderr" "vec-query: VECSEG_THREADS: '$v' is not a number from 1 to 1024"
    done
    VECSEG_THREADS=0 run -64 vec-seal --all coll
}

@test "vec-query pinned to one CPU searches a batch on its main thread alone" {
    setup_coll
    run threads_started taskset -c 0 vec-query -q -k 10 coll q.fvecs
    assert_success
    assert_output 0
}

@test "vec-query -j 2 pinned to one CPU: each worker process searches on its main thread alone" {
    setup_coll
    run threads_started taskset -c 0 vec-query -q -j 2 -k 10 coll q.fvecs
    assert_success
    assert_output 0
}

@test "vec-seal pinned to one CPU builds HNSW on its main thread alone" {
    setup_coll
    run threads_started taskset -c 0 vec-seal -q --all --index hnsw coll
    assert_success
    assert_output 0
    has_section coll 17 || fail "no HNSW segment was built"
}

@test "vec-seal pinned to one CPU builds IVF_PQ (k-means, codebooks) on its main thread alone" {
    setup_coll
    run threads_started taskset -c 0 vec-seal -q --all --index ivf_pq coll
    assert_success
    assert_output 0
    has_section coll 56 || fail "no IVF_PQ segment was built"
}

@test "VECSEG_THREADS overrides the affinity mask, and OpenBLAS adds no thread of its own" {
    setup_coll
    cp -r coll coll2
    # the control: the trace sees the one extra worker of a batched search, and nothing else
    run threads_started VECSEG_THREADS=2 taskset -c 0 vec-query -q -k 10 coll q.fvecs
    assert_success
    assert_output 1
    run threads_started VECSEG_THREADS=2 taskset -c 0 vec-seal -q --all --index hnsw coll2
    assert_success
    [ "$output" -gt 0 ] || fail "the HNSW build started no thread with VECSEG_THREADS=2"
    # and down to one on an unpinned machine
    run threads_started VECSEG_THREADS=1 vec-query -q -k 10 coll q.fvecs
    assert_success
    assert_output 0
}

@test "vec-seal shares the cores among segments by default: pinned to one CPU one thread, two CPUs one segment per core" {
    vectors base.fvecs fvecs 2000 16 1
    vec-ingest -q -s 4 coll base.fvecs
    cp -r coll coll2
    run threads_started taskset -c 0 vec-seal -q --all --index hnsw coll
    assert_success
    assert_output 0
    has_section coll 17 || fail "no HNSW segment was built"
    # two cores and four segments: two builds at once on one thread each, so the one
    # worker of the segment pool is the only thread started (one segment at a time on two
    # threads started a worker in every build)
    run threads_started VECSEG_THREADS=2 taskset -c 0 vec-seal -q --all --index hnsw coll2
    assert_success
    assert_output 1
    [ "$(ls coll2/s-*.vseg | wc -l)" -eq 4 ] || fail "expected four sealed segments"
}
