#!/usr/bin/env bats
# Cold vectors apart (SPEC.md 5.6.1, setting cold-apart): an indexed segment written as
# s-N.vseg (hot: everything but VECTORS) and s-N.vcold (VECTORS).  Queries, exports, splits and
# compaction give what they give with the vectors in place; a damaged .vcold is refused (65, one
# line) when a search first needs it; garbage collection and repair treat the pair as one.

load test_helper

# two collections of the same rows, cold-apart 0 and 1, sealed with index $1
pair() {
    local index=$1
    vectors base.npy npy-f4 1500 16 1
    vectors q.npy npy-f4 40 16 7
    for a in 0 1; do
        vec-ingest -q c$a base.npy
        vec-seal -q --set cold-apart=$a c$a
        vec-seal -q --all --index "$index" c$a
    done
}

manifest() { cat "$1/$(cat "$1/CURRENT")"; }

@test "cold-apart is a setting from 0 to 1, default 0" {
    vectors base.npy npy-f4 100 8 1
    vec-ingest -q coll base.npy
    run -0 vec-inspect coll
    assert_line "setting cold-apart 0"
    refuses coll 64 "cold-apart" vec-seal --set cold-apart=2 coll
    run -0 vec-seal --help
    assert_output --partial "cold-apart"
}

@test "by default a segment keeps its vectors and the manifest stays version 1" {
    pair ivf_pq
    [ ! -e c0/s-00000001.vcold ]
    run -0 head -n 1 "c0/$(cat c0/CURRENT)"
    assert_output "vecseg-manifest 1 0"
    run -0 od -An -tu2 -j8 -N4 c0/s-00000001.vseg
    assert_equal "$(echo $output)" "1 1"
}

@test "with cold-apart=1 an indexed segment is a .vseg and a .vcold, and the manifest version 2" {
    pair ivf_pq
    [ -f c1/s-00000001.vcold ]
    run -0 head -n 1 "c1/$(cat c1/CURRENT)"
    assert_output "vecseg-manifest 2 0"
    cold=$(stat -c %s c1/s-00000001.vcold)
    hot=$(stat -c %s c1/s-00000001.vseg)
    manifest c1 | grep -q "^sealed s-00000001.vseg shard=0 rows=1500 bytes=$hot cold-bytes=$cold\$"
    # read_version 2 in both files; hot bytes the .vseg, cold the .vcold
    run -0 od -An -tu2 -j8 -N4 c1/s-00000001.vseg
    assert_equal "$(echo $output)" "2 2"
    run -0 vec-inspect c1
    assert_line "memory hot-bytes=$hot cold-bytes=$cold"
    run -0 vec-inspect c1/s-00000001.vseg
    assert_line "vectors apart cold-file-bytes=$cold"
    assert_line --partial "name=COLD_REF"
    refute_line --partial "name=VECTORS"
    # the raw vectors are 1500*16*4 bytes: the .vcold holds them and little else
    [ "$cold" -ge 96000 ] && [ "$cold" -lt 97000 ]
    run -0 vec-inspect --verify c1
}

@test "a flat segment keeps its vectors whatever cold-apart says" {
    pair flat
    [ ! -e c1/s-00000001.vcold ]
    run -0 head -n 1 "c1/$(cat c1/CURRENT)"
    assert_output "vecseg-manifest 1 0"
}

@test "every index type answers the same with its vectors apart" {
    for index in hnsw ivf_flat ivf_sq8 ivf_pq; do
        rm -rf c0 c1
        pair "$index"
        [ -f c1/s-00000001.vcold ] || fail "$index: no .vcold"
        for opts in "" "--refine 4" "--nprobe 1000000 --refine 10000 --ef 1000000"; do
            # shellcheck disable=SC2086
            vec-query -q -k 10 $opts c0 q.npy >r0.tsv
            # shellcheck disable=SC2086
            vec-query -q -k 10 $opts c1 q.npy >r1.tsv
            cmp r0.tsv r1.tsv || fail "$index $opts: answers differ"
        done
    done
    # exhaustive parameters give the exact answer from the .vcold too
    check_results r1.tsv --base base.npy --queries q.npy -k 10
}

@test "segments sharing a quantiser, searched as one group, re-rank from their .vcold files" {
    vectors base.npy npy-f4 3000 16 1
    vectors q.npy npy-f4 40 16 7
    for a in 0 1; do
        vec-ingest -q -s 3 c$a base.npy
        vec-seal -q --set cold-apart=$a --set ivf-shared=1 c$a
        vec-seal -q --all --index ivf_pq c$a
    done
    [ "$(ls c1/*.vcold | wc -l)" -eq 3 ] || fail "not three segments apart"
    for opts in "--refine 4" "--nprobe 1000000 --refine 10000"; do
        # shellcheck disable=SC2086
        VECSEG_IVF_GROUPS=1 vec-query -q -k 10 $opts c0 q.npy >r0.tsv
        # shellcheck disable=SC2086
        VECSEG_IVF_GROUPS=1 vec-query -q -k 10 $opts c1 q.npy >r1.tsv
        cmp r0.tsv r1.tsv || fail "$opts: answers differ"
    done
    check_results r1.tsv --base base.npy --queries q.npy -k 10
}

@test "vec-export, a backup, a split and compaction read the vectors from the .vcold" {
    pair hnsw
    vec-export -q c0 e0.npy
    vec-export -q c1 e1.npy
    cmp e0.npy e1.npy
    vec-export -q --backup c1 bk
    [ -f bk/s-00000001.vcold ]
    vec-query -q -k 10 c1 q.npy >r1.tsv
    vec-query -q -k 10 bk q.npy >rb.tsv
    cmp r1.tsv rb.tsv
    # a split rewrites the segment per child, vectors apart again
    vec-shard -q --split 0 c0
    vec-shard -q --split 0 c1
    [ "$(ls c1/*.vcold | wc -l)" -ge 2 ]
    vec-export -q c1 s1.npy
    cmp e0.npy s1.npy
    # deleting a third of the rows makes the next vec-seal rewrite (compact) the segments
    seq 0 3 1499 | vec-ingest -q --delete c0
    seq 0 3 1499 | vec-ingest -q --delete c1
    vec-seal -q --grace 0 c0
    vec-seal -q --grace 0 c1
    vec-export -q c0 d0.npy
    vec-export -q c1 d1.npy
    cmp d0.npy d1.npy
    vec-query -q -k 10 --ef 1000000 c0 q.npy >a0.tsv
    vec-query -q -k 10 --ef 1000000 c1 q.npy >a1.tsv
    cmp a0.tsv a1.tsv
    run -0 vec-inspect --verify c1
}

@test "garbage collection removes a .vcold with its .vseg, and only then" {
    pair ivf_sq8
    seq 0 2 1499 | vec-ingest -q --delete c1
    vec-seal -q --grace 0 c1
    # the compacted segment's pair is gone, the new one's is there
    [ ! -e c1/s-00000001.vseg ] && [ ! -e c1/s-00000001.vcold ]
    new=$(manifest c1 | awk '$1 == "sealed" {print $2}')
    [ -f "c1/$new" ] && [ -f "c1/${new%.vseg}.vcold" ]
    vec-query -q -k 5 --refine 2 c1 q.npy >/dev/null
}

@test "a missing .vcold is damage: exit 65, one line, collection unchanged" {
    pair ivf_pq
    mv c1/s-00000001.vcold keep
    refuses c1 65 "^vec-query: 's-00000001.vcold': missing" vec-query -k 10 c1 q.npy
    refuses c1 65 "s-00000001.vcold" vec-inspect --verify c1
    refuses c1 65 "s-00000001.vcold" vec-export c1 out.npy
}

@test "a truncated .vcold is damage: exit 65, one line" {
    pair hnsw
    truncate -s 1000 c1/s-00000001.vcold
    refuses c1 65 "'s-00000001.vcold': 1000 bytes, but 's-00000001.vseg' pairs it with" vec-query -k 10 c1 q.npy
}

@test "a swapped .vcold is found when the vectors are first needed, not before" {
    pair ivf_pq
    # other rows, as many: a .vcold of the same size with another footer
    vectors other.npy npy-f4 1500 16 2
    vec-ingest -q c2 other.npy
    vec-seal -q --set cold-apart=1 c2
    vec-seal -q --all --index ivf_pq c2
    cp c2/s-00000001.vcold c1/s-00000001.vcold
    # a search that re-ranks nothing reads no cold byte, so it answers
    run -0 vec-query -q -k 10 c1 q.npy
    refuses c1 65 "'s-00000001.vcold': does not belong to its segment" vec-query -k 10 --refine 2 c1 q.npy
    refuses c1 65 "does not belong to its segment" vec-inspect --verify c1
}

@test "a flipped vector byte in the .vcold fails verification" {
    pair ivf_flat
    printf '\x55' | dd of=c1/s-00000001.vcold bs=1 seek=100 conv=notrunc status=none
    refuses c1 65 "'s-00000001.vcold': section 1 fails its checksum" vec-inspect --verify c1
}

@test "a symbolic link in a .vcold's place is refused, not followed" {
    pair ivf_pq
    mv c1/s-00000001.vcold elsewhere.vcold
    ln -s ../elsewhere.vcold c1/s-00000001.vcold
    refuses c1 65 "s-00000001.vcold" vec-query -k 10 --refine 2 c1 q.npy
}

@test "a manifest whose cold-bytes disagree with the file is damage" {
    pair ivf_pq
    edit_manifest c1 's/ cold-bytes=\([0-9]*\)/ cold-bytes=1\1/'
    refuses c1 65 "size of its cold file" vec-query -k 10 c1 q.npy
}

@test "repair removes a .vcold whose .vseg no manifest names, and keeps the rest" {
    pair ivf_pq
    next=$(manifest c1 | awk '$1 == "next-maint-file" {print $2}')
    orphan=$(printf 's-%08d.vcold' "$next")
    cp c1/s-00000001.vcold "c1/$orphan"
    run -0 --separate-stderr vec-inspect --repair c1
    assert_output "removed $orphan bytes=$(stat -c %s c1/s-00000001.vcold) reason=orphan"
    [ ! -e "c1/$orphan" ] && [ -f c1/s-00000001.vcold ]
    run -0 vec-inspect --verify c1
}

@test "a .vcold that a killed seal left is cleared by the next seal of that number" {
    vectors base.npy npy-f4 1500 16 1
    vec-ingest -q coll base.npy
    vec-seal -q --set cold-apart=1 coll
    next=$(manifest coll | awk '$1 == "next-maint-file" {print $2}')
    printf 'left by a killed seal' >"coll/$(printf 's-%08d.vcold' "$next")"
    vec-seal -q --all --index ivf_pq coll
    run -0 vec-inspect --verify coll
}
