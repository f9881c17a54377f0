#!/usr/bin/env bats
# The public API: programs in C and C++ built against an installed copy of the headers and the
# static library and nothing from the source tree, make uninstall removing exactly what make
# install put, the library exporting only its public calls, and one version everywhere.

load test_helper

ROOT="$(cd "$TESTS_DIR/.." && pwd)"
BUILD="$(cd "$BIN_DIR/.." && pwd)"

# mk ARGS... - make in the source tree, for the build under test (VECSEG_SAN, as make check sets
# it) and without the jobserver of a make that runs this suite
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" SAN="${VECSEG_SAN:-}" "$@"
}

# install_copy DIR - make install into DIR (made absolute: make runs in the source tree) with
# PREFIX=/usr
install_copy() {
    mkdir -p "$1"
    mk install DESTDIR="$(cd "$1" && pwd)" PREFIX=/usr >/dev/null
}

# build_prog DIR SRC OUT COMPILER FLAGS... - compiles a test program against DIR's installed copy
build_prog() {
    local dir=$1 src=$2 out=$3 cc=$4
    shift 4
    # shellcheck disable=SC2046,SC2086 # LDLIBS and SAN_FLAGS are lists of words
    "$cc" "$@" -Wall -Wextra -Werror -pedantic -o "$out" "$TESTS_DIR/api/$src" \
        -L"$dir/usr/lib" -lvecseg $(mk print-LDLIBS) $(mk print-SAN_FLAGS)
}

@test "make install ships exactly the public headers, and make uninstall removes all it put" {
    install_copy dest
    run ls dest/usr/include/vecseg
    assert_output "$(printf '%s\n' vecseg.h vecseg_format.h vf_error.h)"
    [ -f dest/usr/lib/libvecseg.a ]
    [ -x dest/usr/bin/vec-query ]
    [ -f dest/usr/share/man/man5/vecseg.5 ]
    mk uninstall DESTDIR="$PWD/dest" PREFIX=/usr >/dev/null
    run find dest ! -type d
    assert_output ""
    [ ! -e dest/usr/include/vecseg ]
}

@test "a C program that includes only <vecseg/vecseg.h> ingests and searches" {
    install_copy dest
    build_prog dest ingest_search.c ingest_search cc -std=c11 -I"$PWD/dest/usr/include"
    run -0 ./ingest_search coll
    assert_output "$(printf '%s\n' 'rows 4, dim 3' '11 0.1414' '10 0.9055' '12 2.1024' '13 3.1337' 'none inf' \
        "not found: 'no-such-collection': cannot open collection: No such file or directory")"
    # the tools read what the program wrote
    run -0 vec-query -q -F csv -k 2 coll - <<<'0.9,0.1,0'
    assert_output "$(printf '0\t1\t11\t0.141421378\n0\t2\t10\t0.905538499')"
}

@test "the advanced calls are fenced off until VECSEG_STATIC_LINKING_ONLY is defined" {
    install_copy dest
    printf '#include <vecseg/vecseg.h>\nint main(void) { return (int)vs_route_hash(1); }\n' >fenced.c
    run ! cc -std=c11 -Werror -c -I"$PWD/dest/usr/include" fenced.c
    assert_output --partial "vs_route_hash"
    run -0 cc -std=c11 -Werror -c -DVECSEG_STATIC_LINKING_ONLY -I"$PWD/dest/usr/include" fenced.c
}

@test "a C++ program on the advanced API merges two shares into the whole search" {
    install_copy dest
    build_prog dest ingest_search.c ingest_search cc -std=c11 -I"$PWD/dest/usr/include"
    build_prog dest share_merge.cpp share_merge c++ -std=c++11 -I"$PWD/dest/usr/include/vecseg"
    ./ingest_search coll >/dev/null
    run -0 ./share_merge coll
    assert_output "$(printf '%s\n' '11 0.1414' '10 0.9055' '12 0.2236' '10 1.8028')"
}

@test "the library exports only the calls its public headers declare, all prefixed" {
    # a shared object of the library's objects, as the shared library will be linked
    # (the archive's objects, not whatever a build tree holds)
    # shellcheck disable=SC2046
    cc -shared -o libvecseg-test.so -Wl,--whole-archive "$BUILD/libvecseg.a" -Wl,--no-whole-archive \
        $(mk print-LDLIBS) $(mk print-SAN_FLAGS)
    nm -D --defined-only libvecseg-test.so | awk '{ print $3 }' | grep -v '^_' | sort >exported
    run grep -v -E '^v[sf]_' exported
    assert_output ""
    grep -h -o -E '^V[SF]_API [^(]*\b[a-z0-9_]+ *\(' "$ROOT/lib/vecseg.h" "$ROOT/format/vecseg_format.h" \
        "$ROOT/format/vf_error.h" | grep -o -E '[a-z0-9_]+ *\($' | tr -d '( ' | sort >declared
    run diff declared exported
    assert_success
}

@test "every tool's --version gives the one version of lib/vecseg.h, and the man pages agree" {
    local v
    v=$(mk print-VERSION)
    [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
    for t in vec-ingest vec-seal vec-query vec-inspect vec-balance vec-shard; do
        run -0 "$t" --version
        assert_line --index 0 "$t (vecseg) $v"
        assert_line --index 1 --regexp "^library $v, format [0-9]+, manifest [0-9]+\.[0-9]+, simd [a-z0-9]+$"
    done
    for page in "$ROOT"/man/*.[15]; do
        grep -q "^\.TH .* \"vecseg $v\"" "$page" || fail "$page: .TH does not name vecseg $v"
    done
}
