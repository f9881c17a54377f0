#!/usr/bin/env bats
# vec-balance: bad node lists and damaged collections are refused with one line and change
# nothing.  Placement itself is tested with the fan-out it serves, in fanout.bats.

load test_helper

make_coll() {
    vectors base.fvecs fvecs 60 8 1
    vec-ingest -q -s 2 coll base.fvecs
}

@test "a CURRENT that names no manifest is refused with one line, never a crash" {
    make_coll
    for kind in missing garbage empty dotdot; do
        rm -rf bad && cp -r coll bad && break_current bad "$kind"
        local want=65
        [ "$kind" != missing ] || want=66
        refuses bad "$want" "^vec-balance: '(bad/CURRENT|manifest-00000099)'" vec-balance --nodes a,b bad
        refuses bad "$want" "^vec-balance: '(bad/CURRENT|manifest-00000099)'" vec-balance -n --nodes a bad
    done
}

# ---- node lists ---------------------------------------------------------------------------

@test "a node list from a file or a pipe is read; names may be split by commas or lines" {
    make_coll
    printf 'a\nb, c\n' >hosts
    run -0 --separate-stderr vec-balance -n --nodes-file hosts coll
    assert_stderr_matches "over 3 node\(s\)"
    run -0 --separate-stderr vec-balance -n --nodes-file <(printf 'a\nb\n') coll
    assert_stderr_matches "over 2 node\(s\)"
    run -0 --separate-stderr vec-balance -n --nodes-file - coll < <(printf 'x,y,z,w\n')
    assert_stderr_matches "over 4 node\(s\)"
}

@test "a node list that is a device or an endless stream is refused at once, in bounded memory" {
    make_coll
    ln -s /dev/zero zero
    # a cap on memory turns an unbounded read into a quick failure, not a swamped machine
    # (unless the tool cannot even start under it: sanitizer builds reserve terabytes)
    local cap='ulimit -v 1000000;'
    (eval "$cap" && vec-balance --version) >/dev/null 2>&1 || cap=
    refuses coll 65 "^vec-balance: 'zero': node list is not a regular file or a pipe$" \
        bash -c "$cap exec timeout 60 vec-balance --nodes-file zero coll"
    refuses coll 65 "^vec-balance: '-': node list is longer than 1048576 bytes$" \
        bash -c "$cap exec timeout 60 vec-balance --nodes-file - coll </dev/zero"
    mkdir hostsdir
    refuses coll 65 "^vec-balance: 'hostsdir': node list is not a regular file or a pipe$" \
        vec-balance --nodes-file hostsdir coll
    refuses coll 66 "^vec-balance: 'nothere': cannot open node list" vec-balance --nodes-file nothere coll
}

@test "a node list with a NUL byte or more than 4096 names is refused, never cut short" {
    make_coll
    printf 'a\nb\0c\n' >nul
    refuses coll 65 "^vec-balance: 'nul': node list holds a NUL byte$" vec-balance --nodes-file nul coll
    seq -f 'n%g' 4097 >many
    refuses coll 65 "^vec-balance: more than 4096 nodes given$" vec-balance --nodes-file many coll
    refuses coll 64 "^vec-balance: more than 4096 nodes given$" vec-balance --nodes "$(seq -s, -f 'n%g' 4097)" coll
    seq -f 'n%g' 4096 >enough
    run -0 --separate-stderr vec-balance -n --nodes-file enough coll
    assert_stderr_matches "over 4096 node\(s\)"
}

@test "segments cut for placement keep the IVF quantiser their source shares (SPEC.md 5.5.2)" {
    vectors base.npy npy-f4 4000 16 1
    vectors q.npy npy-f4 20 16 2
    vec-ingest -q --commit-every 500 coll base.npy
    vec-seal -q --set segment-rows=2000 --set ivf-shared=1 coll
    vec-seal -q --all --index ivf_pq coll
    run -0 --separate-stderr vec-balance --nodes a,b,c coll
    assert_stderr_matches "segment\(s\) cut"
    assert_equal "$(vec-inspect coll | grep -c '^sealed')" 4
    assert_equal "$(vec-inspect coll | grep '^sealed' | grep -o 'quantiser=[0-9a-f]*' | sort -u | wc -l)" 1
    vec-query -q -k 10 --nprobe 253 --refine 10000 coll q.npy >r.tsv
    check_results r.tsv -k 10 --base base.npy --queries q.npy
}
