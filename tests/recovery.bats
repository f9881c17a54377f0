#!/usr/bin/env bats
# What a killed writer, a file-size limit or a full disk leaves behind must
# not stop the next command, and a failed command leaves the collection as it
# was: it removes only the files it created itself.

load test_helper
load manifest_edit

# grow COLL - a collection of 200 rows whose logs are past log-bytes, so that
# every transaction that adds rows starts a new log, g-<next-ingest-file>.
grow() {
    vectors rows.fvecs fvecs 200 8
    vec-ingest -q "$1" rows.fvecs
    vec-seal -q --set log-bytes=4096 "$1"
}

# row_count COLL - the rows the current manifest holds, deleted ones included.
row_count() {
    vec-inspect "$1" | sed -n 's/^rows \([0-9]*\) .*/\1/p'
}

@test "an orphan log left by a killed writer does not block ingest, upsert, delete or split" {
    grow coll
    vectors more.fvecs fvecs 10 8 2
    # a writer killed between creating its log and committing leaves the
    # file the next transaction would create
    orphan=$(next_file_name coll g)
    plant_orphan coll "$orphan"
    run -0 --separate-stderr vec-ingest coll more.fvecs
    assert_equal "$(row_count coll)" 210
    grep -q "^growing $orphan " "$(current_manifest coll)"
    plant_orphan coll "$(next_file_name coll g)"
    ids up.txt 0-9
    run -0 vec-ingest -q --upsert --ids up.txt coll more.fvecs
    plant_orphan coll "$(next_file_name coll g)"
    plant_orphan coll "$(next_file_name coll t)"
    echo 5 >del.txt
    run -0 vec-ingest -q --delete coll del.txt
    plant_orphan coll "$(next_file_name coll g)"
    run -0 vec-shard -q --split 0 coll
    run -0 vec-inspect --verify coll
    # 210 rows, the 10 upserted replaced, 1 deleted
    printf '0,0,0,0,0,0,0,0\n' | vec-query -q -k 1000 -F csv coll - | cut -f3 | sort -n >ids
    assert_equal "$(wc -l <ids)" 209
    assert_equal "$(uniq ids | wc -l)" 209
}

@test "an orphan sealed segment does not block vec-seal" {
    grow coll
    plant_orphan coll "$(next_file_name coll s)"
    run -0 vec-seal -q --all coll
    run -0 vec-inspect --verify coll
}

@test "a failed split removes the files it created and no other" {
    grow coll
    vec-seal -q --all coll
    vectors more.fvecs fvecs 10 8 2
    vec-ingest -q coll more.fvecs
    # something that is not an orphan log stands where the split's new log goes
    name=$(next_file_name coll g)
    mkfifo "coll/$name"
    refuses coll 65 "^vec-shard: '$name': not a regular file" vec-shard --split 0 coll
    [ -p "coll/$name" ]
    # the sealed segments the split wrote before it failed are gone
    assert_equal "$(ls coll | grep -c '^s-')" 1
    rm "coll/$name"
    run -0 vec-shard -q --split 0 coll
}

# limited KB COMMAND... - runs COMMAND with `ulimit -f KB`.  `refuses` then proves that no
# temporary file, new log or new segment was left: the collection's digest is unchanged.
limited() {
    local kb=$1
    shift
    bash -c 'ulimit -f "$0" && exec "$@"' "$kb" "$@"
}

@test "past ulimit -f a new collection is not created: one line, exit 74" {
    vectors big.fvecs fvecs 2000 32
    run -74 --separate-stderr limited 16 vec-ingest coll big.fvecs
    assert_one_stderr_line
    assert_stderr_matches "^vec-ingest: .*File too large$"
    [ ! -e coll ]
}

@test "past ulimit -f an ingest, a seal and a split leave the collection as it was" {
    vectors rows.fvecs fvecs 500 32
    vectors big.fvecs fvecs 2000 32 2
    vec-ingest -q coll rows.fvecs
    # the log is about 70 KB: appending past 80 KB fails
    refuses coll 74 "^vec-ingest: .*File too large$" limited 80 vec-ingest coll big.fvecs
    # a new log (after a seal dropped the old one) fails the same way
    vec-seal -q --all --index flat coll
    refuses coll 74 "^vec-ingest: .*File too large$" limited 40 vec-ingest coll big.fvecs
    vec-ingest -q coll big.fvecs
    # a sealed segment of 2000 rows (about 330 KB) does not fit in 100 KB
    refuses coll 74 "^vec-seal: .*File too large$" limited 100 vec-seal --all --index flat coll
    vec-seal -q --all --index flat coll
    refuses coll 74 "^vec-shard: .*File too large$" limited 100 vec-shard --split 0 coll
    run -0 vec-inspect --verify coll
}

# A small tmpfs mounted for the test (root only), unmounted by teardown.
mount_small() {
    [ "$(id -u)" -eq 0 ] || skip "mounting a small file system needs root"
    DISK=$BATS_TEST_TMPDIR/disk
    mkdir -p "$DISK"
    mount -t tmpfs -o "size=$1" vecseg-test "$DISK" 2>/dev/null || skip "cannot mount a tmpfs here"
}

teardown() {
    if [ -n "${DISK:-}" ] && mountpoint -q "$DISK"; then
        umount "$DISK"
    fi
}

@test "on a full file system ingest, seal and split fail with one line and change nothing" {
    mount_small 512k
    vectors big.fvecs fvecs 8000 32
    vectors rows.fvecs fvecs 1500 32 2
    # a new collection that does not fit is not created
    run -74 --separate-stderr vec-ingest "$DISK/coll" big.fvecs
    assert_one_stderr_line
    assert_stderr_matches "^vec-ingest: .*No space left on device$"
    [ ! -e "$DISK/coll" ]
    # about 200 KB of rows fit; 1 MB more does not
    vec-ingest -q "$DISK/coll" rows.fvecs
    refuses "$DISK/coll" 74 "No space left on device$" vec-ingest "$DISK/coll" big.fvecs
    # the segment (about 250 KB) does not fit beside the log and the filler
    head -c 150k /dev/zero >"$DISK/filler"
    refuses "$DISK/coll" 74 "^vec-seal: .*No space left on device$" vec-seal --all --index flat "$DISK/coll"
    rm "$DISK/filler"
    vec-seal -q --all --index flat --grace 0 "$DISK/coll"
    head -c 200k /dev/zero >"$DISK/filler"
    refuses "$DISK/coll" 74 "^vec-shard: .*No space left on device$" vec-shard --split 0 "$DISK/coll"
    run -0 vec-inspect --verify "$DISK/coll"
}
