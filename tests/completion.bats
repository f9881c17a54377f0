#!/usr/bin/env bats
# completion.bats - completion/vecseg.bash offers every option of every tool's --help, each value
# it lists is one its tool takes, and make install puts it where bash-completion looks.

load test_helper

ROOT="$(cd "$TESTS_DIR/.." && pwd)"

# comp WORD... - what completion offers for the last WORD of the command line WORD..., one a line
comp() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vecseg
             printf "%s\n" "${COMPREPLY[@]}"' _ "$ROOT/completion/vecseg.bash" "$@"
}

tools() {
    local t
    for t in "$BIN_DIR"/vec-*; do [ -x "$t" ] && basename "$t"; done
}

@test "every long and short option of every tool's --help is offered, and nothing else" {
    run -0 tools
    assert [ "${#lines[@]}" -ge 7 ]
    for t in $(tools); do
        # the option column of --help: "  -x, --long ARG" or "      --long ARG"
        want=$("$t" --help | grep -oE '^ +(-[A-Za-z0-9], )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | sort)
        [ -n "$want" ]
        got=$(comp "$t" -- | sort)
        assert_equal "$t: $got" "$t: $want"
        want=$("$t" --help | grep -oE '^ +-[A-Za-z0-9][ ,]' | tr -d ' ,' | sort)
        got=$(comp "$t" - | grep -vE -- '^--' | sort)
        assert_equal "$t: $got" "$t: $want"
    done
    # a prefix narrows the list
    run -0 comp vec-seal --hnsw
    assert_output "$(printf '%s\n' --hnsw-m --hnsw-ef-construction)"
}

@test "every value completion lists is accepted by its tool" {
    for c in "vec-ingest -F" "vec-ingest --input-format" "vec-ingest -m" "vec-query -F" "vec-query --format" \
             "vec-shard --format" "vec-export -f" "vec-export --format" "vec-seal --index"; do
        run -0 comp $c ''
        [ "${#lines[@]}" -ge 2 ]
        for v in "${lines[@]}"; do
            run $c "$v" --help   # an unknown value fails with 64 before --help is reached
            assert_success
        done
    done
    run -0 comp vec-seal --index ivf
    assert_output "$(printf '%s\n' ivf_flat ivf_pq ivf_sq8)"
    run -0 comp vec-query --format=j
    assert_output jsonl
}

@test "arguments complete as files: collections, inputs, FILE options; numbers as nothing" {
    mkdir coll
    : >rows.fvecs
    run -0 comp vec-query co
    assert_output coll
    run -0 comp vec-ingest coll ro
    assert_output rows.fvecs
    run -0 comp vec-balance --nodes-file r
    assert_output rows.fvecs
    run -0 comp vec-query -o r
    assert_output rows.fvecs
    run -0 comp vec-query -k ''
    assert_output ""
    run -0 comp vec-ingest coll - ro   # '-' (stdin) is no option
    assert_output rows.fvecs
    run -0 comp vec-seal --hnsw-m ''
    assert_output ""
}

@test "make install puts the completion where bash-completion looks, for every tool" {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" SAN="${VECSEG_SAN:-}" install \
        DESTDIR="$PWD/dest" PREFIX=/usr >/dev/null
    d=dest/usr/share/bash-completion/completions
    cmp "$ROOT/completion/vecseg.bash" "$d/vecseg"
    for t in $(tools); do
        # bash-completion loads the file named after the command
        cmp "$ROOT/completion/vecseg.bash" "$d/$t"
        run -0 bash -c "source '$d/$t'; complete -p $t"
        assert_output "complete -F _vecseg $t"
    done
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" SAN="${VECSEG_SAN:-}" uninstall \
        DESTDIR="$PWD/dest" PREFIX=/usr >/dev/null
    run find dest ! -type d
    assert_output ""
}
