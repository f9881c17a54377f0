#!/usr/bin/env bats
# export.bats - vec-export: a snapshot's live rows out in every format and back in through
# vec-ingest unchanged; --backup, a consistent copy while writers run; what `cp -al` of a
# collection does; and vec-ingest --commit-every, a stream committed in chunks.

load test_helper

setup() {
    for t in vec-ingest vec-export vec-query vec-seal vec-inspect; do
        [ -x "$BIN_DIR/$t" ] || skip "$t is not built (run make)"
    done
    cd "$BATS_TEST_TMPDIR" || return 1
}

# make_coll - collection "c" (4 shards, partition keys) with sealed and growing rows, an upsert
# and deletes; want.npz holds its live rows (ids, keys, vectors) sorted by id, from NumPy.
make_coll() {
    "$PY" - <<'EOF'
import numpy as np
rng = np.random.default_rng(7)
n = 300
ids = np.arange(n, dtype=np.int64) * 3 + 5
keys = np.arange(n, dtype=np.int64) % 5
v = rng.standard_normal((n, 8)).astype("f4")
def csv(path, rows):
    with open(path, "w") as f:
        for i in rows:
            f.write(",".join([str(ids[i]), str(keys[i])] + [repr(float(x)) for x in v[i]]) + "\n")
csv("a.csv", range(0, 200))
csv("b.csv", range(200, 300))
new = rng.standard_normal((10, 8)).astype("f4")
with open("u.csv", "w") as f:
    for j, i in enumerate(range(10, 20)):
        f.write(",".join([str(ids[i]), str(keys[i])] + [repr(float(x)) for x in new[j]]) + "\n")
v[10:20] = new
dead = list(range(50, 60)) + list(range(250, 255))
with open("del.txt", "w") as f:
    f.write("".join("%d\n" % ids[i] for i in dead))
live = np.array([i for i in range(n) if i not in dead])
np.savez("want.npz", ids=ids[live], keys=keys[live], vecs=v[live])
EOF
    vec-ingest -q -s 4 --id-col 1 --key-col 2 c a.csv
    vec-seal -q --all c
    vec-ingest -q --id-col 1 --key-col 2 c b.csv
    vec-ingest -q --upsert --id-col 1 --key-col 2 c u.csv
    vec-ingest -q --delete c del.txt
}

# check_export FORMAT FILE [IDS [KEYS]] - FILE (and the id and key files) hold exactly the rows
# of want.npz, in id order, every float bit for bit.
check_export() {
    run "$PY" - "$@" <<'EOF'
import json, sys
import numpy as np
fmt, path = sys.argv[1], sys.argv[2]
w = np.load("want.npz")
def col(p):
    if p.endswith(".npy"):
        return np.load(p)
    if p.endswith(".ivecs"):
        a = np.fromfile(p, "<i4").reshape(-1, 2)
        assert (a[:, 0] == 1).all()
        return a[:, 1].astype(np.int64)
    return np.loadtxt(p, dtype=np.int64, ndmin=1)
ids = keys = None
if fmt in ("csv", "tsv"):
    rows = [l.rstrip("\n").split("," if fmt == "csv" else "\t") for l in open(path)]
    ids = np.array([int(r[0]) for r in rows])
    keys = np.array([int(r[1]) for r in rows])
    vecs = np.array([[float(x) for x in r[2:]] for r in rows]).astype("f4")
    assert all(np.float32(float(x)) == np.float32(x) for r in rows for x in r[2:])
elif fmt == "jsonl":
    rows = [json.loads(l) for l in open(path)]
    ids = np.array([r["id"] for r in rows]); keys = np.array([r["key"] for r in rows])
    vecs = np.array([r["vector"] for r in rows]).astype("f4")
elif fmt == "hdf5":
    import h5py
    f = h5py.File(path, "r")
    ids, keys, vecs = f["ids"][:], f["keys"][:], f["train"][:]
    assert f["train"].dtype == np.float32 and f.attrs["distance"] == "euclidean"
elif fmt == "npy":
    vecs = np.load(path)
    assert vecs.dtype == np.float32
elif fmt == "fvecs":
    a = np.fromfile(path, "<i4").reshape(-1, 9)
    assert (a[:, 0] == 8).all()
    vecs = a[:, 1:].copy().view("<f4")
if len(sys.argv) > 3:
    ids = col(sys.argv[3])
if len(sys.argv) > 4:
    keys = col(sys.argv[4])
assert (ids == w["ids"]).all(), "ids differ"
assert (keys == w["keys"]).all(), "keys differ"
assert vecs.shape == w["vecs"].shape and (vecs.view("u4") == w["vecs"].view("u4")).all(), "vectors differ"
EOF
    assert_success
}

# --- arguments --------------------------------------------------------------------------------

@test "vec-export refuses bad arguments before touching anything" {
    vectors v.fvecs fvecs 10 4
    vec-ingest -q c v.fvecs
    run -64 vec-export
    assert_output --partial "missing COLL"
    run -64 vec-export -f parquet c
    assert_output --partial "unknown format 'parquet'"
    run -64 vec-export c out.bin
    assert_output --partial "'out.bin': unknown format"
    run -64 vec-export -f hdf5 c
    assert_output --partial "HDF5 needs a file"
    run -64 vec-export --ids i.npy c out.csv
    assert_output --partial "--ids and --keys go with fvecs and npy"
    run -64 vec-export --keys k.npy c out.npy
    assert_output --partial "has no partition keys"
    run -64 vec-export --backup -f csv c b
    run -64 vec-export --backup c
    run -64 vec-export --shard 9 c
    assert_output --partial "has no shard 9"
    run -66 vec-export nothere
    [ ! -e out.bin ] && [ ! -e b ]
}

@test "vec-export --help and --version" {
    run -0 vec-export --help
    assert_line --partial "Usage: vec-export [OPTIONS] COLL [OUT]"
    run -0 vec-export --version
    assert_line --index 0 --regexp '^vec-export \(vecseg\) [0-9]+\.[0-9]+\.[0-9]+$'
}

# --- every format, by id, round trip ------------------------------------------------------------

@test "csv: live rows by id, bit for bit, and back through vec-ingest to the same bytes" {
    make_coll
    run -0 vec-export c o.csv
    assert_output --regexp "^vec-export: 285 rows of 'c' \(generation [0-9]+\) as csv to 'o.csv'$"
    check_export csv o.csv
    vec-ingest -q --id-col 1 --key-col 2 c2 o.csv
    vec-export -q c2 o2.csv
    cmp o.csv o2.csv
}

@test "tsv (the default on stdout): the same rows, and back" {
    make_coll
    vec-export -q c >o.tsv
    check_export tsv o.tsv
    vec-ingest -q --id-col 1 --key-col 2 c2 o.tsv
    vec-export -q c2 o2.tsv
    cmp o.tsv o2.tsv
}

@test "npy: numpy.save's bytes, ids and keys beside, and back" {
    make_coll
    vec-export -q --ids i.npy --keys k.npy c o.npy
    check_export npy o.npy i.npy k.npy
    # the very bytes numpy.save writes for the same arrays
    "$PY" -c 'import numpy as np; w = np.load("want.npz"); np.save("w.npy", w["vecs"]); np.save("wi.npy", w["ids"])'
    cmp o.npy w.npy
    cmp i.npy wi.npy
    vec-ingest -q --ids i.npy --keys k.npy c2 o.npy
    vec-export -q --ids i2.npy --keys k2.npy c2 o2.npy
    cmp o.npy o2.npy && cmp i.npy i2.npy && cmp k.npy k2.npy
}

@test "fvecs: ids as ivecs, keys as text, and back" {
    make_coll
    vec-export -q --ids i.ivecs --keys k.txt c o.fvecs
    check_export fvecs o.fvecs i.ivecs k.txt
    vec-ingest -q --ids i.ivecs --keys k.txt c2 o.fvecs
    vec-export -q --ids i2.ivecs --keys k2.txt c2 o2.fvecs
    cmp o.fvecs o2.fvecs && cmp i.ivecs i2.ivecs && cmp k.txt k2.txt
}

@test "hdf5: train, ids, keys and the distance attribute, and back to the same bytes" {
    make_coll
    vec-export -q c o.h5
    check_export hdf5 o.h5
    vec-ingest -q --ids o.h5:/ids --keys o.h5:/keys c2 o.h5:/train
    vec-export -q c2 o2.h5
    cmp o.h5 o2.h5
}

@test "jsonl: one object a row, valid JSON, and back when vec-ingest reads JSON lines" {
    make_coll
    vec-export -q -f jsonl c >o.jsonl
    check_export jsonl o.jsonl
    run head -1 o.jsonl
    assert_output --regexp '^\{"id":5,"key":0,"vector":\[[-0-9.e,]+\]\}$'
    vec-ingest -q -f jsonl c2 o.jsonl 2>/dev/null || skip "this vec-ingest reads no JSON lines"
    vec-export -q -f jsonl c2 >o2.jsonl
    cmp o.jsonl o2.jsonl
}

@test "a collection without keys: id and vector columns only, automatic ids kept" {
    vectors v.fvecs fvecs 20 3
    vec-ingest -q c v.fvecs
    echo 4 | vec-ingest -q --delete c
    run -0 vec-export -q c
    assert_equal "$(printf '%s\n' "$output" | wc -l)" 19
    assert_equal "$(printf '%s\n' "$output" | awk -F'\t' '{print NF}' | sort -u)" 4
    refute_line --regexp $'^4\t'
    run -0 vec-export -q -f jsonl c
    refute_output --partial '"key"'
}

@test "--partition and --shard export only those rows" {
    make_coll
    vec-export -q --partition 3 c p.csv
    run -0 awk -F, '$2 != 3' p.csv
    assert_output ""
    "$PY" -c 'import numpy as np; w = np.load("want.npz"); print((w["keys"] == 3).sum())' >want
    assert_equal "$(wc -l <p.csv)" "$(cat want)"
    # the shards partition the rows: their exports add up to the whole
    local s total=0
    for s in $(vec-inspect c | awk '$1 == "shard" {print $2}'); do
        vec-export -q --shard "$s" c "s$s.csv"
        total=$((total + $(wc -l <"s$s.csv")))
    done
    assert_equal "$total" 285
    cat s*.csv | sort -t, -k1,1n >all.csv
    vec-export -q c o.csv
    cmp all.csv o.csv
}

@test "an export that fails leaves no output file behind, and the old one in place" {
    vectors v.fvecs fvecs 100 4
    vec-ingest -q c v.fvecs
    echo old >o.csv
    # past `ulimit -f` (1 KiB) the write fails: exit 74, the temporary file removed
    run -74 bash -c 'ulimit -f 1; vec-export -q c o.csv'
    assert_output --partial "'o.csv': write failed"
    assert_equal "$(cat o.csv)" old
    assert_equal "$(ls)" "$(printf '%s\n' c o.csv v.fvecs)"
    run -73 vec-export c nodir/o.csv
    [ ! -e nodir ]
}

@test "writing to a full stdout fails with 74" {
    [ -w /dev/full ] || skip "no /dev/full"
    vectors v.fvecs fvecs 10 4
    vec-ingest -q c v.fvecs
    run -74 bash -c 'vec-export -q c >/dev/full'
}

# --- copies of a collection ---------------------------------------------------------------------

@test "after cp -al, ingests into the original and the copy change neither the other" {
    vectors v.csv csv 10 4
    vectors w.csv csv 5 4 2
    vectors x.csv csv 3 4 3
    vec-ingest -q c v.csv
    cp -al c copy
    # the next ingest into either used to meet the shared log: refused, or cut the other's rows
    vec-ingest -q c w.csv
    vec-ingest -q copy x.csv
    vec-inspect --verify -q c
    vec-inspect --verify -q copy
    run -0 vec-export -q c
    assert_equal "$(printf '%s\n' "$output" | wc -l)" 15
    run -0 vec-export -q copy
    assert_equal "$(printf '%s\n' "$output" | wc -l)" 13
    vec-seal -q --all copy
    vec-inspect --verify -q c
    assert_equal "$(vec-export -q c | wc -l)" 15
}

@test "--backup of an idle collection: the same rows, immutable files linked, logs copied" {
    make_coll
    run -0 vec-export --backup c b
    assert_output --regexp "^vec-export: backup of 'c' generation [0-9]+ in 'b': [0-9]+ files, [0-9]+ hard links"
    vec-inspect --verify -q b
    vec-export -q c o.csv
    vec-export -q b ob.csv
    cmp o.csv ob.csv
    local seg log
    seg=$(cd b && ls s-*.vseg | head -1)
    log=$(cd b && ls g-*.log | head -1)
    [ "$(stat -c %h "b/$seg")" -ge 2 ]
    [ "$(stat -c %h "b/$log")" = 1 ]
    [ "$(stat -c %i "b/ingest.lock")" != "$(stat -c %i c/ingest.lock)" ]
    # a backup is a collection: writing to it leaves the original alone, and the other way round
    local before
    before=$(coll_digest c)
    vectors w.csv csv 5 8 9 --id-col 1 --key-col 2 --id-start 10000
    vec-ingest -q --id-col 1 --key-col 2 b w.csv
    vec-seal -q --all b
    assert_equal "$(coll_digest c)" "$before"
    # restore: a backup of the backup
    run -73 vec-export --backup b b
    vec-export -q --backup b restored
    vec-export -q restored or.csv
    vec-export -q b ob2.csv
    cmp or.csv ob2.csv
}

@test "--backup refuses a damaged collection and leaves no directory behind" {
    vectors v.csv csv 10 4
    vec-ingest -q c v.csv
    local log
    log=$(cd c && ls g-*.log)
    rm "c/$log"
    mkfifo "c/$log"
    run -65 timeout 20 vec-export --backup c b
    assert_output --partial "'$log'"
    [ ! -e b ]
    assert_equal "$(ls -d b* 2>/dev/null)" ""
}

@test "--backup to another file system copies what it cannot link" {
    [ -d /dev/shm ] && [ -w /dev/shm ] || skip "no /dev/shm"
    [ "$(stat -c %d /dev/shm)" != "$(stat -c %d .)" ] || skip "/dev/shm is this file system"
    make_coll
    local dir
    dir=$(mktemp -d /dev/shm/vecseg-export.XXXXXX)
    run -0 vec-export --backup c "$dir/b"
    assert_output --regexp " 0 hard links, "
    vec-inspect --verify -q "$dir/b"
    vec-export -q c o.csv
    vec-export -q "$dir/b" ob.csv
    rm -rf "$dir"
    cmp o.csv ob.csv
}

@test "--backup while a writer ingests in a loop: a committed snapshot, verified, searched alike" {
    vectors q.fvecs fvecs 5 8 99
    make_coll
    # the writer: chunks of 10 rows with ids 100000 + 10*i .. +9
    (
        exec 3>&-
        for i in $(seq 0 39); do
            "$PY" "$TESTS_DIR/fixtures.py" vectors - --format csv --n 10 --dim 8 --seed $((i + 100)) \
                --id-col 1 --key-col 2 --id-start $((100000 + 10 * i)) |
                vec-ingest -q --id-col 1 --key-col 2 c - || exit 1
            [ $((i % 10)) != 5 ] || vec-seal -q --all c
        done
    ) &
    local writer=$! n=0
    while [ "$n" -lt 3 ] && kill -0 "$writer" 2>/dev/null; do
        vec-export -q --backup c "bk$n"
        n=$((n + 1))
    done
    wait "$writer"
    [ "$n" -ge 1 ]
    local b gen
    for b in bk*; do
        vec-inspect --verify -q "$b"
        # whole chunks only, and exactly the original's rows below the backup's newest id
        vec-export -q "$b" ob.csv
        run awk -F, '$1 >= 100000' ob.csv
        [ $(( $(printf '%s' "$output" | grep -c '' || true) % 10 )) = 0 ]
        local top
        top=$(tail -1 ob.csv | cut -d, -f1)
        vec-export -q c | tr '\t' , | awk -F, -v top="$top" '$1 <= top' >want.csv
        cmp ob.csv want.csv
        # the backup searches as a collection of those rows does
        rm -rf ref
        vec-ingest -q --id-col 1 --key-col 2 ref want.csv
        assert_equal "$(vec-query -q -k 5 "$b" q.fvecs)" "$(vec-query -q -k 5 ref q.fvecs)"
    done
}

# --- vec-ingest --commit-every ---------------------------------------------------------------------

@test "--commit-every refuses what is not a count" {
    run -64 vec-ingest --commit-every 0 c
    run -64 vec-ingest --commit-every x c
    run -64 vec-ingest --commit-every 5m c
    run -64 vec-ingest --commit-every s c
    [ ! -e c ]
}

# rows N SEED - N csv rows of dimension 4
rows() {
    "$PY" "$TESTS_DIR/fixtures.py" vectors - --format csv --n "$1" --dim 4 --seed "$2"
}

# wait_rows COLL N - waits (10 s at most) until COLL has N live rows
wait_rows() {
    local i
    for i in $(seq 100); do
        [ "$(vec-export -q "$1" 2>/dev/null | wc -l)" = "$2" ] && return 0
        sleep 0.1
    done
    fail "'$1' has $(vec-export -q "$1" 2>/dev/null | wc -l) rows, not $2"
}

@test "--commit-every N: each chunk is visible before EOF, no lock held between chunks, and a kill keeps them" {
    mkfifo in
    vec-ingest -q --commit-every 5 c - <in 3>&- &
    local ingest=$!
    exec 7>in
    rows 5 1 >&7
    wait_rows c 5
    # the stream waits for rows holding no lock: another writer gets in at once
    rows 1 2 | timeout 10 vec-ingest -q c -
    wait_rows c 6
    rows 7 3 >&7
    wait_rows c 11
    # two rows of the next chunk arrive, then the writer dies: the chunks stay, the two do not
    rows 2 4 >&7
    sleep 0.3
    kill -9 "$ingest"
    wait "$ingest" || true
    exec 7>&-
    vec-inspect --verify -q c
    assert_equal "$(vec-export -q c | wc -l)" 11
}

@test "--commit-every Ns commits as rows arrive once N seconds passed; the end commits the rest" {
    mkfifo in
    vec-ingest -q --commit-every 1s c - <in 3>&- &
    local ingest=$!
    exec 7>in
    rows 3 1 >&7
    sleep 1.2
    rows 1 2 >&7
    wait_rows c 4
    rows 2 3 >&7
    exec 7>&-
    wait "$ingest"
    assert_equal "$(vec-export -q c | wc -l)" 6
}

@test "--commit-every: an error keeps the chunks before it and says so" {
    printf '1,2\n3,4\n5,6\n7,x\n' >bad.csv
    run -65 vec-ingest --commit-every 2 c bad.csv
    assert_output --partial "(2 rows committed before it are kept, generation"
    assert_equal "$(vec-export -q c | wc -l)" 2
    vec-inspect --verify -q c
}

@test "--commit-every with --delete commits the ids in chunks" {
    vectors v.csv csv 10 4
    vec-ingest -q c v.csv
    run -0 bash -c 'seq 0 4 | vec-ingest --delete --commit-every 2 c'
    assert_output --regexp "^vec-ingest: deleted 5 ids \(5 were live\) in 'c', .* generation 5 \(last of 3 commits\)$"
    assert_equal "$(vec-export -q c | cut -f1 | tr '\n' ' ')" "5 6 7 8 9 "
    run -0 cat c/CURRENT
    assert_output manifest-00000005
}

@test "an OUT that is a device or a FIFO is written in place, never replaced by a file" {
    vectors v.npy npy-f4 20 4 1
    vec-ingest -q c v.npy
    mkfifo f
    cat f >from-fifo.tsv &
    r=$!
    run -0 vec-export -q -f tsv c f
    wait "$r"
    [ -p f ] || fail "the FIFO was replaced"
    assert_equal "$(wc -l <from-fifo.tsv)" 20
    run -0 vec-export -q -f tsv c /dev/null
    [ -c /dev/null ] || fail "/dev/null was replaced"
}
