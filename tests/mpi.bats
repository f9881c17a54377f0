#!/usr/bin/env bats
# vec-query-mpi's ranks and threads, and its queries read in batches (cli/query_mpi.c): the ranks
# of one machine that share its CPUs split them (a rank bound to a core of its own runs one
# search thread), --threads and VECSEG_THREADS still say; rank 0 reads, broadcasts, searches and
# writes the queries a batch at a time, so its memory does not grow with their count, and the
# answer is the one of a single process whatever the batch size.  Real ranks, under mpirun.

load test_helper

setup() {
    for t in vec-ingest vec-seal vec-query vec-query-mpi; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (make with OpenMPI's mpicc installed)"
    done
    command -v mpirun >/dev/null || skip "OpenMPI is not installed"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    unset VECSEG_THREADS VECSEG_MPI_BATCH
    cd "$BATS_TEST_TMPDIR" || return 1
}

# Half the rows sealed (HNSW), half growing, over two shards; one.tsv is one process's answer.
setup_coll() {
    vectors a.fvecs fvecs 400 12 1
    vectors b.fvecs fvecs 400 12 2
    vec-ingest -q -s 2 coll a.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll b.fvecs
    vectors q.fvecs fvecs 30 12 99
    vec-query -q -k 7 coll q.fvecs >one.tsv
}

# threads_of MPIRUN-ARGS... -- ARGS... - the "of N threads" of vec-query-mpi's summary line
threads_of() {
    local margs=()
    while [ "$1" != -- ]; do
        margs+=("$1")
        shift
    done
    shift
    mpirun "${margs[@]}" vec-query-mpi -k 7 "$@" coll q.fvecs 2>summary.txt >mpi.tsv
    cmp one.tsv mpi.tsv
    sed -n 's/.* of \([0-9-]*\) threads\{0,1\}, .*/\1/p' summary.txt
}

@test "the ranks of one machine split its cores; a rank bound to a core runs one thread" {
    setup_coll
    local cores
    cores=$(threads_of --bind-to none -np 1 --)
    [ "$cores" -ge 1 ]
    run threads_of --bind-to none -np 2 --
    assert_output "$((cores / 2 > 1 ? cores / 2 : 1))"
    run threads_of --bind-to none -np 4 --
    assert_output "$((cores / 4 > 1 ? cores / 4 : 1))"
    # bound: each rank has one core (two ranks to a core when the machine has fewer than four)
    run threads_of --bind-to core:overload-allowed -np 4 --
    assert_output 1
    # what the user says wins
    run threads_of --bind-to none -np 4 -- -t 3
    assert_output 3
    VECSEG_THREADS=2 run threads_of -x VECSEG_THREADS --bind-to none -np 4 --
    assert_output 2
}

# clones CMD... - how many threads the processes of CMD start (strace -f: clones with
# CLONE_THREAD, MPI's own among them); fails if CMD fails
clones() {
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=clone,clone3 -o trace.txt "$@" >/dev/null 2>cmd.err ||
        { cat cmd.err >&2; return 1; }
    grep -c CLONE_THREAD trace.txt || true
}

@test "four ranks on a machine of up to four cores, bound or not, start no search thread beyond their own" {
    command -v strace >/dev/null || skip "strace is not installed"
    strace -f -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
    [ "$(nproc)" -le 4 ] || skip "this machine has $(nproc) cores: four ranks each get more than one"
    setup_coll
    # MPI starts threads of its own: -t 1 (no search worker) is the baseline, -t 2 (one
    # worker per rank for the one batch) shows the count sees search workers
    local base two def bound
    base=$(clones mpirun --bind-to none -np 4 vec-query-mpi -q -t 1 -k 7 coll q.fvecs)
    two=$(clones mpirun --bind-to none -np 4 vec-query-mpi -q -t 2 -k 7 coll q.fvecs)
    def=$(clones mpirun --bind-to none -np 4 vec-query-mpi -q -k 7 coll q.fvecs)
    bound=$(clones mpirun --bind-to core:overload-allowed -np 4 vec-query-mpi -q -k 7 coll q.fvecs)
    [ "$two" -eq $((base + 4)) ] || fail "-t 2 started $two threads, -t 1 $base: expected 4 more"
    [ "$def" -eq "$base" ] || fail "the default started $def threads, -t 1 $base"
    [ "$bound" -eq "$base" ] || fail "bound to cores, the default started $bound threads, -t 1 $base"
}

@test "batches of any size give the one-process answer, as TSV, JSON lines and HDF5" {
    setup_coll
    vec-query -q -k 7 --format jsonl coll q.fvecs >one.jsonl
    vec-query -q -k 7 -o one.h5 coll q.fvecs
    for b in 1 200 1000 ""; do # one query a batch, a few, more, the default
        VECSEG_MPI_BATCH=$b mpirun -np 3 vec-query-mpi -q -k 7 coll q.fvecs >mpi.tsv
        cmp one.tsv mpi.tsv
        VECSEG_MPI_BATCH=$b mpirun -np 2 vec-query-mpi -q -k 7 --format jsonl coll q.fvecs >mpi.jsonl
        cmp one.jsonl mpi.jsonl
        rm -f mpi.h5
        VECSEG_MPI_BATCH=$b mpirun -np 2 vec-query-mpi -q -k 7 -o mpi.h5 coll q.fvecs
        run "$PY" -c 'import h5py, numpy as np, sys
a, b = h5py.File("one.h5", "r"), h5py.File("mpi.h5", "r")
print(all(np.array_equal(a[n][:], b[n][:]) for n in ("neighbors", "distances")))'
        assert_output True
    done
    # queries from stdin, and text
    VECSEG_MPI_BATCH=100 mpirun -np 2 vec-query-mpi -q -k 7 -F fvecs coll - <q.fvecs >mpi.tsv
    cmp one.tsv mpi.tsv
}

# maxrss OUT CMD... - runs CMD, its stdout into OUT, and prints the largest resident set of its
# processes (mpirun or a rank) in KiB; fails if CMD fails
maxrss() {
    "$PY" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], check=True, stdout=open(sys.argv[1], "wb"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

@test "rank 0's memory does not grow with the number of queries" {
    vectors base.fvecs fvecs 50 64 1
    vec-ingest -q coll base.fvecs
    vectors few.fvecs fvecs 1000 64 2
    vectors many.fvecs fvecs 200000 64 3 # 52 MB of queries
    local few many
    # under AddressSanitizer, freed blocks wait in a quarantine of up to 256 MiB: none here
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
    export VECSEG_MPI_BATCH=1000000
    few=$(maxrss few.tsv mpirun -np 2 vec-query-mpi -q -k 1 coll few.fvecs)
    many=$(maxrss many.tsv mpirun -np 2 vec-query-mpi -q -k 1 coll many.fvecs)
    [ "$(wc -l <many.tsv)" -eq 200000 ]
    # maximum resident KiB of the largest process (mpirun or a rank): within 16 MiB
    [ "$many" -lt $((few + 16384)) ] || fail "200000 queries: $many KiB, 1000: $few KiB"
}

@test "a query file of another dimension is one error; an empty one is an empty answer" {
    setup_coll
    vectors q5.fvecs fvecs 3 5 1
    run -65 --separate-stderr mpirun -np 2 vec-query-mpi -q coll q5.fvecs
    [[ "$stderr" == *"vec-query-mpi: 'q5.fvecs': row 1: dimension 5 does not match the collection's 12"* ]]
    : >empty.fvecs
    run -0 --separate-stderr mpirun -np 2 vec-query-mpi coll empty.fvecs
    assert_output ""
    [[ "$stderr" == *"vec-query-mpi: 0 queries, k=10, 2 ranks"* ]]
}

@test "a VECSEG_MPI_BATCH that is not a number of bytes is a usage error" {
    setup_coll
    for v in 0 x -1 "1 "; do
        VECSEG_MPI_BATCH=$v run -64 --separate-stderr vec-query-mpi coll q.fvecs
        assert_equal "$stderr" "vec-query-mpi: VECSEG_MPI_BATCH: '$v' is not a number of bytes from 1"
    done
}
