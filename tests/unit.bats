#!/usr/bin/env bats
# The C test binaries (unit tests, fuzz replays) find the source tree's files from any working
# directory (tests/srcdir.h): through VECSEG_SRCDIR, which the Makefile sets, or else from where
# the binary lies in the build directory.  They fail, never pass empty, when the files are not
# there.

load test_helper

BUILD="$(cd "$BIN_DIR/.." && pwd)"

setup() {
    [ -x "$BUILD/tests/test_format" ] || skip "the unit tests are not built (run make check)"
    [ -x "$BUILD/replay/manifest" ] || skip "the fuzz replays are not built (run make check)"
    cd "$BATS_TEST_TMPDIR" || return 1
}

@test "a unit test reads the golden files from another directory, found from its own location" {
    run -0 env -u VECSEG_SRCDIR "$BUILD/tests/test_format"
    assert_line --regexp '^tests/unit/test_format\.c: [1-9][0-9]* passed, 0 failed$'
}

@test "VECSEG_SRCDIR names the source tree, and a wrong one fails the golden checks" {
    mkdir -p elsewhere/tests
    cp "$BUILD/tests/test_format" elsewhere/tests/
    run -0 env VECSEG_SRCDIR="$TESTS_DIR/.." elsewhere/tests/test_format
    run -1 env VECSEG_SRCDIR="$PWD/elsewhere" elsewhere/tests/test_format
    assert_output --partial "tiny.vseg differs from"
}

@test "a fuzz replay finds its corpus from another directory, and refuses to pass without it" {
    run -0 env -u VECSEG_SRCDIR "$BUILD/replay/manifest"
    assert_line --regexp '^manifest: [1-9][0-9]* passed, 0 failed$'
    mkdir -p a/b
    cp "$BUILD/replay/manifest" a/b/
    run -66 env -u VECSEG_SRCDIR a/b/manifest
    assert_output --partial "no such input '$PWD/tests/fuzz/corpus/manifest'"
}
