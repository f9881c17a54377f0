#!/usr/bin/env bats
# man.bats - the man pages in man/ agree with the tools' --help, as git's
# t0450-txt-doc-vs-help.sh keeps its documentation and usage strings in step:
#
#  - every long option --help prints is documented in the page's OPTIONS;
#  - every option the page's OPTIONS documents is in --help, with the same
#    spelling and argument name (the .TP tags equal --help's option column);
#  - the page's SYNOPSIS lines are --help's "Usage:" lines, word for word;
#  - every page renders without warnings and fits 80 columns.
#
# The pages are read as man(7) source; roff_text below strips the markup, so
# the checks need neither groff nor man.  Only the render check does, and it
# is skipped when neither is installed.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
BIN_DIR="${VECSEG_BIN:-$ROOT/build/bin}"
MAN_DIR="$ROOT/man"

setup() {
    cd "$BATS_TEST_TMPDIR" || return 1
}

# roff_text FILE - FILE's man(7) source as plain text, one line per source
# line: font and character escapes are stripped, font macros (.B, .BR, ...)
# give their arguments, other requests give a line ".XX" so callers see
# paragraph breaks and tags, and comments are dropped.
roff_text() {
    awk '
    function unescape(s) {
        gsub(/\\e/, "\001", s)
        gsub(/\\f\([A-Za-z][A-Za-z]/, "", s)
        gsub(/\\f\[[A-Za-z]*\]/, "", s)
        gsub(/\\f[A-Za-z1-4]/, "", s)
        gsub(/\\-/, "-", s)
        gsub(/\\&/, "", s)
        gsub(/\\\|/, "", s)
        gsub(/\\\^/, "", s)
        gsub(/\\ /, " ", s)
        gsub(/\\\(em/, "--", s)
        gsub(/\\\(en/, "-", s)
        gsub(/\\\(dq/, "\"", s)
        gsub(/\\\(mu/, "x", s)
        gsub(/\\\(pc/, ".", s)
        gsub(/\\\(bu/, "*", s)
        gsub(/\\\(<=/, "<=", s)
        gsub(/\001/, "\\", s)
        return s
    }
    # Splits the arguments of a macro line into A[1..n], honouring quotes.
    function split_args(s, A,    n, i, c, q, cur, have) {
        n = 0; q = 0; cur = ""; have = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "\"") {
                if (q && substr(s, i + 1, 1) == "\"") { cur = cur "\""; i++; continue }
                q = !q; have = 1; continue
            }
            if (!q && (c == " " || c == "\t")) {
                if (have) { A[++n] = cur; cur = ""; have = 0 }
                continue
            }
            cur = cur c; have = 1
        }
        if (have) A[++n] = cur
        return n
    }
    /^[.'\'']\\"/ { next }
    /^[.'\'']/ {
        name = $1; sub(/^[.'\'']/, "", name)
        rest = $0; sub(/^[.'\''][^ \t]*[ \t]*/, "", rest)
        if (name ~ /^(B|I|SM|SB)$/) {
            n = split_args(rest, A); out = ""
            for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") A[i]
            print unescape(out)
        } else if (name ~ /^(BR|RB|BI|IB|IR|RI)$/) {
            n = split_args(rest, A); out = ""
            for (i = 1; i <= n; i++) out = out A[i]
            print unescape(out)
        } else if (name == "SH" || name == "SS") {
            n = split_args(rest, A); out = ""
            for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") A[i]
            print "." name " " unescape(out)
        } else {
            print "." name
        }
        next
    }
    { print unescape($0) }
    ' "$1"
}

# section FILE NAME - the plain text of section NAME (.SH NAME) of FILE.
section() {
    roff_text "$1" | awk -v want=".SH $2" '
        /^\.SH / { on = ($0 == want); next }
        on { print }'
}

# synopsis FILE - the SYNOPSIS lines of FILE, each joined from its source
# lines up to a break, blanks squeezed.
synopsis() {
    section "$1" SYNOPSIS | awk '
        function flush() { if (line != "") print line; line = "" }
        /^\.(br|PP|P|LP|sp|TP|IP)$/ { flush(); next }
        /^\.nf$/ { flush(); nofill = 1; next }
        /^\.fi$/ { flush(); nofill = 0; next }
        /^\./ { next }
        {
            t = $0; gsub(/[ \t]+/, " ", t); sub(/^ /, "", t); sub(/ $/, "", t)
            if (t == "") { flush(); next }
            line = line (line == "" ? "" : " ") t
            if (nofill) flush()
        }
        END { flush() }'
}

# option_tags FILE - the tags (the line after each .TP) of the OPTIONS
# section of FILE that name options, blanks squeezed: "-f, --format FMT".
option_tags() {
    section "$1" OPTIONS | awk '
        /^\.TP$/ { tag = 1; next }
        /^\./ { next }
        tag {
            tag = 0
            t = $0; gsub(/[ \t]+/, " ", t); sub(/^ /, "", t); sub(/ $/, "", t)
            if (t ~ /^-/) print t
        }'
}

# load_help TOOL - runs TOOL --help into $help; skips the test if TOOL is not built.
load_help() {
    [ -x "$BIN_DIR/$1" ] || skip "build/bin/$1 does not exist yet (run make)"
    run -0 --separate-stderr "$BIN_DIR/$1" --help
    assert_equal "$stderr" ""
    help=$output
}

# help_usage TOOL - the "Usage:" lines of $help without "Usage:", squeezed.
help_usage() {
    printf '%s\n' "$help" | awk -v tool="$1" '
        NR == 1 && sub(/^Usage: /, "") { on = 1 }
        NR > 1 && !($1 == tool && /^ /) { on = 0 }
        on { gsub(/[ \t]+/, " "); sub(/^ /, ""); sub(/ $/, ""); print }'
}

# help_specs - the option column of $help: "-f, --format FMT", "--ids SPEC",
# "-k N".  Option lines start with 2 to 6 blanks and a dash; an argument name
# begins with a capital letter.
help_specs() {
    printf '%s\n' "$help" |
        sed -nE 's/^ {2,6}((-[A-Za-z0-9], )?(--[A-Za-z0-9][a-z0-9-]*|-[A-Za-z0-9])( [A-Z][A-Za-z0-9.=/]*)?).*/\1/p'
}

long_options() {
    grep -oE -- '--[A-Za-z0-9][a-z0-9-]*' | sort -u
}

short_options() {
    grep -oE -- '(^|, )-[A-Za-z0-9]( |,|$)' | grep -oE -- '-[A-Za-z0-9]' | sort -u
}

# check_help_in_page TOOL - every long option of --help is a tag of OPTIONS.
check_help_in_page() {
    local tool=$1 page="$MAN_DIR/$1.1" opt missing=""
    load_help "$tool"
    local documented
    documented=$(option_tags "$page" | long_options)
    [ -n "$documented" ] || fail "$page: no options in its OPTIONS section"
    # the options, not the examples (vec-query-mpi's show mpirun's --hostfile)
    for opt in $(printf '%s\n' "$help" | sed '/^Examples:/,$d' | long_options); do
        grep -qxF -- "$opt" <<<"$documented" || missing="$missing $opt"
    done
    [ -z "$missing" ] || fail "$tool --help prints options that $page does not document:$missing"
}

# check_page_in_help TOOL - every option that OPTIONS documents is in --help.
check_page_in_help() {
    local tool=$1 page="$MAN_DIR/$1.1" opt extra=""
    load_help "$tool"
    local specs tags
    specs=$(help_specs)
    tags=$(option_tags "$page")
    for opt in $(long_options <<<"$tags"); do
        long_options <<<"$help" | grep -qxF -- "$opt" || extra="$extra $opt"
    done
    for opt in $(short_options <<<"$tags"); do
        short_options <<<"$specs" | grep -qxF -- "$opt" || extra="$extra $opt"
    done
    [ -z "$extra" ] || fail "$page documents options that $tool --help lacks:$extra"
}

# check_specs TOOL - the OPTIONS tags equal --help's option column: same
# options, same pairing of short and long names, same argument names.
check_specs() {
    local tool=$1 page="$MAN_DIR/$1.1"
    load_help "$tool"
    assert_equal "$(option_tags "$page" | sort)" "$(help_specs | sort)"
}

# check_synopsis TOOL - SYNOPSIS equals the "Usage:" lines of --help.
check_synopsis() {
    local tool=$1 page="$MAN_DIR/$1.1"
    load_help "$tool"
    local usage
    usage=$(help_usage "$tool")
    [ -n "$usage" ] || fail "$tool --help has no 'Usage:' line"
    assert_equal "$(synopsis "$page")" "$usage"
}

# check_sections FILE NAME... - FILE has these .SH sections, in this order.
check_sections() {
    local file=$1
    shift
    local want got
    want=$(printf '%s\n' "$@")
    got=$(roff_text "$file" | sed -n 's/^\.SH //p' | grep -xF -- "$want")
    assert_equal "$got" "$want"
}

# check_render FILE - FILE renders with no warning and no line over 80
# columns, with groff if installed, else man; skipped if neither is.
check_render() {
    local file=$1
    if command -v groff >/dev/null; then
        run -0 --separate-stderr groff -man -Tutf8 -ww "$file"
    elif command -v man >/dev/null; then
        MANWIDTH=80 MAN_KEEP_FORMATTING= run -0 --separate-stderr \
            man --warnings=w -l "$file"
    else
        skip "neither groff nor man is installed"
    fi
    assert_equal "$stderr" ""
    # count characters, not bytes: the pages hold a few UTF-8 glyphs
    local LC_ALL=C.UTF-8 line long=""
    while IFS= read -r line; do
        line=${line//?$'\b'/}
        ((${#line} <= 80)) || long+=$'\n'"$line"
    done <<<"$output"
    [ -z "$long" ] || fail "$file: rendered lines wider than 80 columns:$long"
}

# check_see_also FILE - every vecseg page SEE ALSO names exists in man/.
check_see_also() {
    local file=$1 ref missing=""
    for ref in $(section "$file" "SEE ALSO" | grep -oE '(vec-[a-z]+|vecseg)\([0-9]\)'); do
        local name=${ref%(*} sec=${ref#*(}
        sec=${sec%)}
        [ -f "$MAN_DIR/$name.$sec" ] || missing="$missing $ref"
    done
    [ -z "$missing" ] || fail "$file: SEE ALSO names pages that man/ lacks:$missing"
}

TOOL_SECTIONS=(NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO")

# --- the helpers themselves ---------------------------------------------------

@test "roff_text strips fonts, dashes and quoted macro arguments" {
    printf '%s\n' '.\" a comment' '.TP' '\fB\-f\fR, \fB\-\-format\fR \fIFMT\fR' \
        '.BR vec\-seal (1),' '.B "two words" \-q' '.RB [ \-\-all ]' 'a\ \e\&b' >page.1
    run -0 roff_text page.1
    assert_output "$(printf '%s\n' .TP '-f, --format FMT' 'vec-seal(1),' 'two words -q' '[--all]' 'a \b')"
}

@test "help_specs reads the option column of a --help text" {
    help=$(printf '%s\n' 'Usage: t [OPTIONS] X' '  -k N                 k' '  -F, --input-format FMT  f' \
        '  -o, --output FILE.h5 write' '      --wait           w' '  --verify             v' \
        '                       -dot for ip, not an option')
    run -0 help_specs
    assert_output "$(printf '%s\n' '-k N' '-F, --input-format FMT' '-o, --output FILE.h5' '--wait' '--verify')"
}

# --- vec-ingest ---------------------------------------------------------------

@test "vec-ingest: every --help long option is in OPTIONS of vec-ingest.1" {
    check_help_in_page vec-ingest
}

@test "vec-ingest: every option of vec-ingest.1 OPTIONS is in --help" {
    check_page_in_help vec-ingest
}

@test "vec-ingest: OPTIONS tags match --help's option lines" {
    check_specs vec-ingest
}

@test "vec-ingest: SYNOPSIS matches the Usage lines of --help" {
    check_synopsis vec-ingest
}

# --- vec-query ----------------------------------------------------------------

@test "vec-query: every --help long option is in OPTIONS of vec-query.1" {
    check_help_in_page vec-query
}

@test "vec-query: every option of vec-query.1 OPTIONS is in --help" {
    check_page_in_help vec-query
}

@test "vec-query: OPTIONS tags match --help's option lines" {
    check_specs vec-query
}

@test "vec-query: SYNOPSIS matches the Usage lines of --help" {
    check_synopsis vec-query
}

# --- vec-seal -----------------------------------------------------------------

@test "vec-seal: every --help long option is in OPTIONS of vec-seal.1" {
    check_help_in_page vec-seal
}

@test "vec-seal: every option of vec-seal.1 OPTIONS is in --help" {
    check_page_in_help vec-seal
}

@test "vec-seal: OPTIONS tags match --help's option lines" {
    check_specs vec-seal
}

@test "vec-seal: SYNOPSIS matches the Usage lines of --help" {
    check_synopsis vec-seal
}

@test "vec-seal.1 lists exactly the settings of the table, with defaults and ranges" {
    load_help vec-seal
    local table page
    # --help prints the table that checks --set: "  KEY=DEFAULT (RANGE)"
    table=$(printf '%s\n' "$help" | sed -nE 's/^  ([a-z][a-z-]*=[^ ]+ \(.*\))$/\1/p')
    [ "$(grep -c '' <<<"$table")" -ge 13 ] || fail "vec-seal --help lists no settings table"
    # the page's DESCRIPTION, subsection Settings: the tag of each .TP
    page=$(section "$MAN_DIR/vec-seal.1" DESCRIPTION | awk '
        /^\.SS / { on = ($0 == ".SS Settings"); next }
        on && /^\.TP$/ { tag = 1; next }
        on && tag { print; tag = 0 }')
    assert_equal "$page" "$table"
}

# --- vec-inspect --------------------------------------------------------------

@test "vec-inspect: every --help long option is in OPTIONS of vec-inspect.1" {
    check_help_in_page vec-inspect
}

@test "vec-inspect: every option of vec-inspect.1 OPTIONS is in --help" {
    check_page_in_help vec-inspect
}

@test "vec-inspect: OPTIONS tags match --help's option lines" {
    check_specs vec-inspect
}

@test "vec-inspect: SYNOPSIS matches the Usage lines of --help" {
    check_synopsis vec-inspect
}

# --- vec-export ---------------------------------------------------------------

@test "vec-export: every --help long option is in OPTIONS of vec-export.1" {
    check_help_in_page vec-export
}

@test "vec-export: every option of vec-export.1 OPTIONS is in --help" {
    check_page_in_help vec-export
}

@test "vec-export: OPTIONS tags match --help's option lines" {
    check_specs vec-export
}

@test "vec-export: SYNOPSIS matches the Usage lines of --help" {
    check_synopsis vec-export
}

# --- vec-balance, vec-shard, vec-query-mpi --------------------------------------

@test "vec-balance: --help and vec-balance.1 agree (options, tags, SYNOPSIS)" {
    check_help_in_page vec-balance
    check_page_in_help vec-balance
    check_specs vec-balance
    check_synopsis vec-balance
}

@test "vec-shard: --help and vec-shard.1 agree (options, tags, SYNOPSIS)" {
    check_help_in_page vec-shard
    check_page_in_help vec-shard
    check_specs vec-shard
    check_synopsis vec-shard
}

@test "vec-query-mpi: --help and vec-query-mpi.1 agree (options, tags, SYNOPSIS)" {
    check_help_in_page vec-query-mpi
    check_page_in_help vec-query-mpi
    check_specs vec-query-mpi
    check_synopsis vec-query-mpi
}

@test "every tool has a --help test above: none escapes the comparison" {
    local f name
    for f in "$MAN_DIR"/vec-*.1; do
        name=${f##*/}
        name=${name%.1}
        grep -qE "^ +check_specs $name\$" "$BATS_TEST_FILENAME" || fail "$name: --help is not compared with $name.1"
    done
}

# --- every page ---------------------------------------------------------------

@test "every tool has a page and every page a tool or the format" {
    local f name
    for f in "$BIN_DIR"/vec-*; do
        [ -x "$f" ] || continue
        name=${f##*/}
        [ -f "$MAN_DIR/$name.1" ] || fail "build/bin/$name has no man/$name.1"
    done
    for f in "$MAN_DIR"/*.1; do
        name=${f##*/}
        # vec-query-mpi is vec-query.c built with -DVS_MPI
        [ -f "$ROOT/cli/${name%.1}.c" ] || [ "$name" = vec-query-mpi.1 ] ||
            fail "man/$name documents no tool of cli/"
    done
    [ -f "$MAN_DIR/vecseg.5" ] || fail "man/vecseg.5 is missing"
}

@test "tool pages have NAME to SEE ALSO, with EXIT STATUS, in order" {
    local f
    for f in "$MAN_DIR"/vec-*.1; do
        check_sections "$f" "${TOOL_SECTIONS[@]}"
    done
}

@test "vecseg.5 has NAME, DESCRIPTION, FILES and SEE ALSO" {
    check_sections "$MAN_DIR/vecseg.5" NAME SYNOPSIS DESCRIPTION FILES EXAMPLES "SEE ALSO"
}

@test "every NAME line is 'name \\- summary' for whatis" {
    local f name
    for f in "$MAN_DIR"/*.[15]; do
        name=${f##*/}
        name=${name%.*}
        run -0 section "$f" NAME
        assert_output --regexp "^$name - [a-z].*[^.]$"
        if command -v lexgrog >/dev/null; then
            run -0 lexgrog "$f"
            assert_output --partial "\"$name - "
        fi
    done
}

@test "SEE ALSO names only pages that exist" {
    local f
    for f in "$MAN_DIR"/*.[15]; do
        check_see_also "$f"
    done
}

@test "vec-ingest.1 renders without warnings" {
    check_render "$MAN_DIR/vec-ingest.1"
}

@test "vec-query.1 renders without warnings" {
    check_render "$MAN_DIR/vec-query.1"
}

@test "vec-seal.1 renders without warnings" {
    check_render "$MAN_DIR/vec-seal.1"
}

@test "vec-inspect.1 renders without warnings" {
    check_render "$MAN_DIR/vec-inspect.1"
}

@test "vec-balance.1 renders without warnings" {
    check_render "$MAN_DIR/vec-balance.1"
}

@test "vec-shard.1 renders without warnings" {
    check_render "$MAN_DIR/vec-shard.1"
}

@test "vec-query-mpi.1 renders without warnings" {
    check_render "$MAN_DIR/vec-query-mpi.1"
}

@test "vecseg.5 renders without warnings" {
    check_render "$MAN_DIR/vecseg.5"
}
