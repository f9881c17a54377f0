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
