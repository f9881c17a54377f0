#!/usr/bin/env bats
# concurrency.bats - ingests, seals, splits, balances and queries at once (tests/crash/concurrency.py):
# every acknowledged row once, no deleted row back, queries fail with nothing but 75.
# CONCURRENCY_SECONDS and CRASH_SEED change the run.

load test_helper

setup() {
    for t in vec-ingest vec-seal vec-shard vec-balance vec-query vec-inspect; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (run make)"
    done
    cd "$BATS_TEST_TMPDIR" || return 1
}

@test "writers, a sealer, a splitter, a balancer and readers at once, grace 0: the end state is exact" {
    run "$PY" "$TESTS_DIR/crash/concurrency.py" --seed "${CRASH_SEED:-1}" --seconds "${CONCURRENCY_SECONDS:-30}" --grace 0
    echo "$output"
    assert_success
    assert_output --partial "concurrency: 0 errors"
}
