#!/usr/bin/env bats
# Start-up: the tools link neither OpenBLAS nor HDF5 but load each on first use (lib/util/dl.h),
# so a command that needs neither (one query through an index) never pays for loading them; and
# a tool runs as one process image: OpenBLAS's settings go into the environment before it loads
# (cli/common.c), with no re-execution.  What loads is read from the dynamic loader's own log
# (LD_DEBUG=files), which names every object it maps and each program it starts.

load test_helper

ROOT="$(cd "$TESTS_DIR/.." && pwd)"
BUILD="$(cd "$BIN_DIR/.." && pwd)"

# loaded CMD... - runs CMD with the loader's log on (OpenBLAS's and vecseg's variables unset)
# into ld.log, its stdout into out.txt; fails if CMD fails.
loaded() {
    rm -f lddebug.*
    env -u OPENBLAS_NUM_THREADS -u OPENBLAS_CORETYPE -u VECSEG_THREADS LD_DEBUG=files LD_DEBUG_OUTPUT=lddebug \
        "$@" >out.txt 2>cmd.err || { cat cmd.err >&2; return 1; }
    cat lddebug.* >ld.log
}

setup_hnsw() {
    vectors base.fvecs fvecs 2000 16 1
    vectors q.fvecs fvecs 20 16 2
    vectors q1.fvecs fvecs 1 16 3
    vec-ingest -q coll base.fvecs
    vec-seal -q --all --index hnsw coll
}

@test "the tools and libvecseg.a link neither OpenBLAS nor HDF5" {
    for t in vec-ingest vec-seal vec-query vec-inspect vec-balance vec-shard vec-query-mpi; do
        [ -x "$BIN_DIR/$t" ] || continue
        run -0 ldd "$BIN_DIR/$t"
        refute_output --partial openblas
        refute_output --partial hdf5
    done
    # every OpenBLAS and HDF5 name the library uses goes through its shim's pointers
    run -0 nm -u "$BUILD/libvecseg.a"
    refute_output --regexp ' (H5|cblas_|openblas_)'
}

@test "one query through an HNSW index loads neither, in one process image" {
    setup_hnsw
    loaded vec-query -q -k 5 coll q1.fvecs
    [ "$(wc -l <out.txt)" -eq 5 ]
    run grep -E 'file=[^ ]*(openblas|hdf5)' ld.log
    assert_output ""
    # one program started: the tool did not execute itself again
    run grep -c 'transferring control:' ld.log
    assert_output 1
}

@test "a batch of queries loads OpenBLAS with the kernels the tool chose for this CPU" {
    setup_hnsw
    vec-ingest -q coll q.fvecs # growing rows: searched by sgemm for a batch
    local flags want=
    flags=$(grep -m 1 '^flags' /proc/cpuinfo)
    if [[ " $flags " == *" avx512f "* && " $flags " == *" avx512bw "* && " $flags " == *" avx512vl "* &&
        " $flags " == *" avx512dq "* ]]; then
        want=SkylakeX
    elif [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then
        want=Haswell
    fi
    OPENBLAS_VERBOSE=2 loaded vec-query -q -k 5 coll q.fvecs
    [ "$(wc -l <out.txt)" -eq 100 ]
    run grep -c -E 'file=[^ ]*openblas' ld.log
    [ "$output" -ge 1 ]
    run grep -c 'transferring control:' ld.log
    assert_output 1
    [ -n "$want" ] || skip "this CPU has neither AVX-512 nor AVX2+FMA: OpenBLAS chooses"
    grep -q '^Core: ' cmd.err || skip "this OpenBLAS does not say its core (not a DYNAMIC_ARCH build)"
    run grep '^Core: ' cmd.err
    assert_output "Core: $want"
    # a value the user set is kept
    OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=Prescott vec-query -q -k 5 coll q.fvecs 2>cmd.err >/dev/null
    run grep '^Core: ' cmd.err
    assert_output "Core: Prescott"
}

@test "an HDF5 input loads HDF5, and the same query from .fvecs does not" {
    setup_hnsw
    vectors q1.h5:/q h5 1 16 3
    loaded vec-query -q -k 5 coll q1.h5:/q
    [ "$(wc -l <out.txt)" -eq 5 ]
    cp out.txt from-h5.txt
    run grep -c -E 'file=[^ ]*hdf5' ld.log
    [ "$output" -ge 1 ]
    loaded vec-query -q -k 5 coll q1.fvecs
    run diff out.txt from-h5.txt
    assert_success
    run grep -E 'file=[^ ]*hdf5' ld.log
    assert_output ""
}
