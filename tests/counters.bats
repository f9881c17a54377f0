#!/usr/bin/env bats
# Counters never wrap (SPEC.md 1 and 2.1): automatic ids stop at 2^63-1,
# next-lsn at 2^64-1, and the file counters before a name would be reused.
# A transaction that would pass a limit is refused and commits nothing.

load test_helper
load manifest_edit

@test "automatic ids stop at 2^63-1 exactly" {
    vectors rows.fvecs fvecs 5 8
    vectors one.fvecs fvecs 1 8 2
    vec-ingest -q coll rows.fvecs
    manifest_edit coll 's/^next-id .*/next-id 9223372036854775803/'
    # the 5 ids 2^63-5 .. 2^63-1 still fit
    run -0 vec-ingest -q coll rows.fvecs
    assert_equal "$(manifest_field coll next-id)" 9223372036854775808
    printf '0,0,0,0,0,0,0,0\n' | vec-query -q -k 100 -F csv coll - | cut -f3 | sort -n | tail -n 1 >top
    assert_equal "$(cat top)" 9223372036854775807
    refuses coll 65 "^vec-ingest: 'one.fvecs': automatic ids exhausted" vec-ingest coll one.fvecs
}

@test "next-id 2^64-1 is refused, never wrapped to existing ids" {
    vectors rows.fvecs fvecs 5 8
    vec-ingest -q coll rows.fvecs
    manifest_edit coll 's/^next-id .*/next-id 18446744073709551615/'
    refuses coll 65 "next-id|ids" vec-ingest coll rows.fvecs
}

@test "next-lsn 2^64-1 is refused for rows, upserts and deletes" {
    vectors rows.fvecs fvecs 5 8
    vec-ingest -q coll rows.fvecs
    manifest_edit coll 's/^next-lsn .*/next-lsn 18446744073709551615/'
    refuses coll 65 "LSN|lsn" vec-ingest coll rows.fvecs
    echo 1 >del.txt
    refuses coll 65 "LSN|lsn" vec-ingest --delete coll del.txt
    ids up.txt 0-4
    refuses coll 65 "LSN|lsn" vec-ingest --upsert --ids up.txt coll rows.fvecs
}

@test "next-ingest-file 2^64-1 is refused before a log or tombstone name is reused" {
    vectors rows.fvecs fvecs 5 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    manifest_edit coll 's/^next-ingest-file .*/next-ingest-file 18446744073709551615/'
    # the log was sealed and dropped: new rows need a new log
    refuses coll 65 "next-ingest-file" vec-ingest coll rows.fvecs
    echo 1 >del.txt
    refuses coll 65 "next-ingest-file" vec-ingest --delete coll del.txt
    # one below the limit still works, once
    manifest_edit coll 's/^next-ingest-file .*/next-ingest-file 18446744073709551614/'
    run -0 vec-ingest -q --delete coll del.txt
    [ -f coll/t-18446744073709551614.tomb ]
    echo 2 >del2.txt
    refuses coll 65 "next-ingest-file" vec-ingest --delete coll del2.txt
}

@test "next-maint-file 2^64-1 is refused before a segment name is reused" {
    vectors rows.fvecs fvecs 5 8
    vec-ingest -q coll rows.fvecs
    vec-seal -q --all coll
    vec-ingest -q coll rows.fvecs
    manifest_edit coll 's/^next-maint-file .*/next-maint-file 18446744073709551615/'
    refuses coll 65 "next-maint-file" vec-seal --all coll
    refuses coll 65 "next-maint-file" vec-seal --all --dry-run coll
    # a split rewrites the sealed segment into new s- files
    refuses coll 65 "next-maint-file" vec-shard --shards 2 coll
}
