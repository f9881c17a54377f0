#!/usr/bin/env bats
# Fan-out: shares, nodes and MPI ranks each search part of one snapshot and
# their partial results merge into the same answer as one process.

load test_helper

setup_coll() {
    for i in 1 2 3 4 5 6; do
        vectors "b$i.fvecs" fvecs 300 12 "$i"
        vec-ingest -q -s 4 coll "b$i.fvecs" 2>/dev/null || vec-ingest -q coll "b$i.fvecs"
        [ "$i" -ne 3 ] || vec-seal -q --all coll
    done
    vectors q.fvecs fvecs 25 12 99
    vec-query -q -j 1 -k 7 coll q.fvecs >one.tsv
}

# A multi-tenant collection: rows.csv holds id, partition key (id mod 7), 8 values; three
# shards, half the rows sealed, half growing.  want.tsv is vec-query --partition 3.
setup_tenants() {
    vectors rows.csv csv 600 8 3 --id-col 1 --key-col 2 --keys-mod 7
    vectors q.fvecs fvecs 20 8 9
    head -n 300 rows.csv >a.csv
    tail -n 300 rows.csv >b.csv
    vec-ingest -q -s 3 --id-col 1 --key-col 2 coll a.csv
    vec-seal -q --all coll
    vec-ingest -q --id-col 1 --key-col 2 coll b.csv
    vec-query -q -k 15 --partition 3 coll q.fvecs >want.tsv
    only_tenants want.tsv 3
    [ "$(wc -l <want.tsv)" -eq $((20 * 15)) ] || fail "want.tsv has $(wc -l <want.tsv) lines"
}

# only_tenants RESULT KEY... - every id of the TSV RESULT belongs to one of the tenants KEY
# (its id mod 7), and RESULT is not empty.
only_tenants() {
    local f=$1
    shift
    [ -s "$f" ] || fail "'$f' is empty"
    awk -F'\t' -v keys="$*" '
        BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) ok[k[i]] = 1 }
        !(($3 % 7) in ok) { printf "row %s of tenant %d came back\n", $3, $3 % 7; bad = 1 }
        END { exit bad }' "$f"
}

@test "bad fan-out options are usage errors" {
    run -64 vec-query --share 2/2 coll q.fvecs
    run -64 vec-query --share x coll q.fvecs
    run -64 vec-query --share 0/2 --node a coll q.fvecs
    run -64 vec-query --merge
    run -64 vec-query --merge --partial p x
    run -64 vec-balance coll
    run -64 vec-balance --nodes a,a coll
    run -64 --separate-stderr vec-query --merge --partition 3 p0 p1
    [[ "$stderr" == *"--partition applies where the partial results are made"* ]]
}

@test "any split into shares merges into the answer of one process, in any order" {
    setup_coll
    for n in 1 2 3 5; do
        parts=()
        for i in $(seq 0 $((n - 1))); do
            vec-query -q -k 7 --share "$i/$n" --partial "p$n.$i" coll q.fvecs
            parts=("p$n.$i" "${parts[@]}") # reversed: the merge order must not matter
        done
        vec-query -q --merge "${parts[@]}" >merged.tsv
        cmp one.tsv merged.tsv || { echo "split into $n differs"; return 1; }
    done
    # merging a merge's inputs in two groups gives the same (associativity)
    vec-query -q -j 4 -k 7 coll q.fvecs >j4.tsv
    cmp one.tsv j4.tsv
}

@test "partials of different snapshots are not merged" {
    setup_coll
    vec-query -q -k 7 --share 0/2 --partial a coll q.fvecs
    vec-ingest -q coll b1.fvecs
    vec-query -q -k 7 --share 1/2 --partial b coll q.fvecs
    run -65 --separate-stderr vec-query --merge a b
    [[ "$stderr" == *"'b': does not match 'a'"* ]]
}

@test "vec-balance places every segment; each node's share merges into the full answer" {
    setup_coll
    before=$(coll_digest coll)
    run -0 --separate-stderr vec-balance --dry-run --nodes n1,n2,n3 coll
    assert_equal "$(coll_digest coll)" "$before"
    for l in "${lines[@]}"; do
        [[ $l =~ ^[gs]-[0-9]+\.(log|vseg)$'\t'-$'\t'n[123]$'\t'[0-9]+$ ]] || fail "bad plan line: $l"
    done
    vec-balance -q --nodes n1,n2,n3 coll
    grep -qx 'node n1' "coll/$(cat coll/CURRENT)"
    for n in n1 n2 n3; do vec-query -q -k 7 --node "$n" --partial "p.$n" coll q.fvecs; done
    vec-query -q --merge p.n1 p.n2 p.n3 >nodes.tsv
    cmp one.tsv nodes.tsv
    run -64 vec-query --node n9 --partial x coll q.fvecs
}

@test "a node joining moves few segments; segments written later are served by the first node" {
    setup_coll
    vec-balance -q --nodes a,b coll
    run -0 --separate-stderr vec-balance --nodes a,b,c coll
    [[ "$stderr" == *"over 3 node(s)"* ]]
    vec-ingest -q coll b2.fvecs   # a new growing segment, placed nowhere yet
    vec-query -q -j 1 -k 7 coll q.fvecs >now.tsv
    for n in a b c; do vec-query -q -k 7 --node "$n" --partial "p.$n" coll q.fvecs; done
    vec-query -q --merge p.a p.b p.c >nodes.tsv
    cmp now.tsv nodes.tsv
}

@test "MPI ranks, one per node or one per share, answer like one process" {
    command -v mpirun >/dev/null || skip "OpenMPI is not installed"
    [ -x "$BIN_DIR/vec-query-mpi" ] || skip "vec-query-mpi was not built (make MPI=0?)"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    setup_coll
    mpirun --oversubscribe -np 4 vec-query-mpi -q -k 7 coll q.fvecs >mpi-shares.tsv
    cmp one.tsv mpi-shares.tsv
    vec-balance -q --nodes r0,r1,r2,r3 coll
    mpirun --oversubscribe -np 4 vec-query-mpi -q -k 7 coll q.fvecs >mpi-nodes.tsv
    cmp one.tsv mpi-nodes.tsv
}

@test "shares and nodes with --partition merge into the tenant's answer, and only its rows" {
    setup_tenants
    for n in 1 2 3; do
        parts=()
        for i in $(seq 0 $((n - 1))); do
            vec-query -q -k 15 --partition 3 --share "$i/$n" --partial "p$n.$i" coll q.fvecs
            parts+=("p$n.$i")
        done
        vec-query -q --merge "${parts[@]}" >merged.tsv
        cmp want.tsv merged.tsv || fail "--share over $n differs"
    done
    vec-balance -q --nodes a,b,c coll
    for n in a b c; do
        vec-query -q -k 15 --partition 3 --node "$n" --partial "p.$n" coll q.fvecs
        vec-query -q -k 15 --partition 3 --node "$n" coll q.fvecs >"one.$n.tsv"
        [ ! -s "one.$n.tsv" ] || only_tenants "one.$n.tsv" 3
    done
    vec-query -q --merge p.a p.b p.c >nodes.tsv
    cmp want.tsv nodes.tsv
    # two tenants at once
    vec-query -q -k 15 --partition 3 --partition 5 --node b coll q.fvecs >two.tsv
    only_tenants two.tsv 3 5
}

@test "MPI ranks honour --partition: the tenant's answer, never another tenant's row" {
    command -v mpirun >/dev/null || skip "OpenMPI is not installed"
    [ -x "$BIN_DIR/vec-query-mpi" ] || skip "vec-query-mpi was not built (make MPI=0?)"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    setup_tenants
    # one share per rank
    mpirun --oversubscribe -np 2 vec-query-mpi -q -k 15 --partition 3 coll q.fvecs >mpi-shares.tsv
    only_tenants mpi-shares.tsv 3
    cmp want.tsv mpi-shares.tsv
    # one node per rank
    vec-balance -q --nodes r0,r1 coll
    mpirun --oversubscribe -np 2 vec-query-mpi -q -k 15 --partition 3 coll q.fvecs >mpi-nodes.tsv
    only_tenants mpi-nodes.tsv 3
    cmp want.tsv mpi-nodes.tsv
    # a collection without partition keys: one line, exit 64
    vec-ingest -q nokeys q.fvecs
    run -64 --separate-stderr mpirun --oversubscribe -np 2 vec-query-mpi -q --partition 3 nokeys q.fvecs
    [[ "$stderr" == *"vec-query-mpi: --partition: the collection has no partition keys"* ]]
}
