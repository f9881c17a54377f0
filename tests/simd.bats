#!/usr/bin/env bats
# simd.bats - the instruction-set levels (VECSEG_SIMD) change speed, never bytes: sealing the
# same rows on every level this CPU runs gives byte-identical segment files for every index
# type and metric (SPEC.md 5.4 and [R-SEG-DETERMINISTIC]), and exact and HNSW searches answer
# alike.  Levels the CPU does not run are named as skipped.

load test_helper

LEVELS="scalar avx2 avx512f avx512bw avx512vnni"

# levels_run: the levels of LEVELS this CPU runs (each tool reports its level in --version),
# one line each; the others go to the test output as skipped.
levels_run() {
    local l
    for l in $LEVELS; do
        if VECSEG_SIMD=$l vec-seal --version | grep -q "simd $l\$"; then
            echo "$l"
        else
            echo "# level $l: skipped (this CPU does not run it)" >&3
        fi
    done
}

# seal_on LEVEL COLL ROWS METRIC INDEX: a new collection of ROWS sealed with INDEX on LEVEL.
seal_on() {
    VECSEG_SIMD=$1 vec-ingest -q -m "$4" "$2" "$3"
    VECSEG_SIMD=$1 vec-seal -q -a --index "$5" --M 6 --ef-construction 32 --seed 9 "$2"
}

# same_segments INDEX: for dims 12 (k-means on distance tables, 3-dim PQ sub-vectors),
# 37 (tails of every width) and 64 (the HNSW L2 form), each metric, the sealed segment of
# every level equals the scalar one byte for byte.
same_segments() {
    local index=$1 dim metric l levels
    levels=$(levels_run)
    for dim in 12 37 64; do
        vectors "rows$dim.fvecs" fvecs 1200 "$dim" "$dim"
        for metric in l2 ip cosine; do
            for l in $levels; do
                seal_on "$l" "c-$dim-$metric-$l" "rows$dim.fvecs" "$metric" "$index"
                cmp c-"$dim-$metric"-scalar/s-*.vseg c-"$dim-$metric-$l"/s-*.vseg ||
                    fail "dim $dim, $metric, $index: level $l wrote other bytes than scalar"
            done
        done
    done
}

@test "every level writes the same flat segment bytes (NORMS in the blocked order)" {
    same_segments flat
}

@test "every level writes the same hnsw segment bytes" {
    same_segments hnsw
}

@test "every level writes the same ivf_flat segment bytes" {
    same_segments ivf_flat
}

@test "every level writes the same ivf_pq segment bytes" {
    same_segments ivf_pq
}

@test "every level writes the same ivf_sq8 segment bytes" {
    same_segments ivf_sq8
}

@test "exact and hnsw searches answer the same on every level" {
    vectors rows.fvecs fvecs 1500 64 3
    vectors q.fvecs fvecs 40 64 4
    local l index metric
    for index in flat hnsw; do
        for metric in l2 cosine; do
            seal_on scalar "c-$index-$metric" rows.fvecs "$metric" "$index"
            VECSEG_SIMD=scalar vec-query -q -k 10 "c-$index-$metric" q.fvecs >want.tsv
            for l in $(levels_run); do
                VECSEG_SIMD=$l vec-query -q -k 10 "c-$index-$metric" q.fvecs >got.tsv
                cmp want.tsv got.tsv || fail "$index $metric: level $l answers differently"
            done
        done
    done
}
