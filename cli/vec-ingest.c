/*
 * vec-ingest - add rows to a collection (creating it on first use), delete
 * rows by id, or replace rows by id.  One command is one transaction: it
 * either commits every row durably or leaves the collection as it was.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-ingest [OPTIONS] COLL [FILE...]\n"
    "       vec-ingest --delete [OPTIONS] COLL [IDFILE...]\n"
    "Add the rows of FILEs (default: stdin) to the collection COLL, creating it\n"
    "on first use.  Rows are durable and visible to vec-query when the command\n"
    "exits 0; on any error the collection is left exactly as it was.\n"
    "\n"
    "Input (fvecs, bvecs, ivecs, npy, hdf5 as FILE.h5:/dataset, csv, tsv, txt,\n"
    "jsonl, raw float32; '-' is stdin, its format guessed: npy, JSON lines when\n"
    "it starts with '{' or '[', else text):\n"
    "  -F, --input-format FMT  input format (default: from the file name)\n"
    "  -d, --dim N          vector dimension (needed for raw input)\n"
    "      --ids SPEC       ids of the rows, one per row (ivecs, npy, hdf5, text)\n"
    "      --id-col N       text input: column N (from 1) holds the id\n"
    "      --keys SPEC      partition keys of the rows, one per row\n"
    "      --key-col N      text input: column N holds the partition key\n"
    "New collection:\n"
    "  -m, --metric M       l2, ip or cosine (default: an HDF5 file's distance\n"
    "                       attribute, else l2)\n"
    "  -s, --shards N       number of shards (default 1)\n"
    "Changes:\n"
    "      --upsert         rows whose id exists replace the old rows\n"
    "      --delete         FILEs hold ids to delete (text, ivecs, npy, hdf5, jsonl)\n"
    "      --commit-every N commit every N rows (or ids), or, as '5s', every N\n"
    "                       seconds as rows arrive: a long input from a pipe\n"
    "                       becomes visible in chunks, and an error keeps the\n"
    "                       chunks committed before it\n"
    "      --no-wait        exit 75 at once when another writer holds the collection\n"
    "Output:\n"
    "  -q, --quiet          no summary line\n"
    "  -v, --verbose        also a line per input file\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-ingest coll train.fvecs\n"
    "  vec-ingest -m cosine coll data.h5:/train\n"
    "  vec-ingest --id-col 1 coll rows.csv\n"
    "  printf '{\"id\":7,\"vector\":[0.1,0.2]}\\n' | vec-ingest coll\n"
    "  cat vecs.f32 | vec-ingest -F raw -d 128 coll -\n"
    "  echo 42 | vec-ingest --delete coll\n"
    "  producer | vec-ingest --commit-every 10000 --commit-every 5s coll -\n";

typedef struct opts {
    vs_reader_opts ro;
    const char *ids, *keys;
    int metric, del, upsert, no_wait;
    uint32_t shards;
    uint64_t every_rows, every_secs;   /* --commit-every; 0 = one transaction */
} opts;

/* The transaction under way and what the commits before it did (--commit-every). */
typedef struct txn {
    vs_ingest *h;
    const char *coll;
    vs_ingest_opts io;
    vs_ingest_stats done;    /* summed over the commits so far */
    uint64_t pending;        /* rows or ids added since the last commit */
    double since;            /* cli_now() at the last commit */
    int commits;
    uint32_t dim;            /* the collection's, and whether it has partition keys */
    int keys;
    int no_wait;             /* --no-wait */
} txn;

/* Commits the transaction.  The next one starts when its first rows arrive (txn_handle), so
   between chunks no lock is held while the input is awaited. */
static int txn_commit(txn *t, vf_error *err)
{
    vs_ingest_stats st;
    int rc = vs_ingest_commit(t->h, &st, err);
    t->h = NULL;
    if (rc)
        return rc;
    t->done.rows += st.rows;
    t->done.deleted += st.deleted;
    t->done.deleted_live += st.deleted_live;
    t->done.generation = st.generation;
    t->done.created |= st.created;
    t->commits++;
    t->pending = 0;
    t->since = cli_now();
    t->io.create = 0;
    return 0;
}

/* The transaction to add to: the one under way, or a new one after a commit.  Another writer
   holding the collection is waited for, saying so first (unless -q), or with --no-wait refused
   at once (exit 75). */
static int txn_handle(txn *t, vf_error *err)
{
    if (t->h)
        return 0;
    t->io.no_wait = 1;
    int rc = vs_ingest_open(&t->h, t->coll, &t->io, err);
    if (rc == VF_EBUSY && !t->no_wait) {
        if (!cli_quiet)
            cli_msg("'%s': waiting for another writer to finish (ingest.lock)", t->coll);
        t->io.no_wait = 0;
        rc = vs_ingest_open(&t->h, t->coll, &t->io, err);
    }
    return rc;
}

/* Whether --commit-every Ns says the time for a commit has come. */
static int txn_due(const txn *t, const opts *o)
{
    return o->every_secs && cli_now() - t->since >= (double)o->every_secs;
}

/* After adding n rows or ids: commits when --commit-every says so. */
static int txn_added(txn *t, const opts *o, size_t n, vf_error *err)
{
    t->pending += n;
    if ((o->every_rows && t->pending >= o->every_rows) || (t->pending && txn_due(t, o)))
        return txn_commit(t, err);
    return 0;
}

/* How many rows to read next: a batch, but no more than the row count that completes a chunk,
   so a chunk commits as soon as its last row arrives, whatever follows. */
static size_t next_batch(const txn *t, const opts *o, size_t b)
{
    if (o->every_rows && o->every_rows - t->pending < b)
        return (size_t)(o->every_rows - t->pending);
    return b;
}

/* Rows per batch: about 8 MiB of vectors, so memory stays bounded. */
static size_t batch_rows(uint32_t dim)
{
    size_t b = (8u << 20) / ((size_t)dim * 4);
    return b < 16 ? 16 : b > 65536 ? 65536 : b;
}

static void open_reader(vs_reader **r, const char *spec, const vs_reader_opts *ro)
{
    vf_error err;
    if (vs_reader_open(r, spec, ro, &err))
        cli_die_err(&err);
}

/*
 * The metric r declares (an HDF5 file's "distance" attribute), 0 if none; want is the metric
 * the rows go into (0: not yet known), named by whose.  A distance vecseg has no metric for, or
 * one that contradicts want, fails with VF_EINPUT: angular vectors ingested as l2 would be
 * searched wrongly without a word.
 */
static int source_metric(vs_reader *r, int want, const char *whose, int *metric, vf_error *err)
{
    const char *name;
    int m = vs_reader_metric(r, &name);
    *metric = m > 0 ? m : 0;
    if (m < 0)
        return vf_fail(err, VF_EINPUT, "'%s': distance '%s' is none of vecseg's metrics (l2, ip, cosine)",
                       vs_reader_name(r), name);
    if (m && want && m != want)
        return vf_fail(err, VF_EINPUT, "'%s': distance '%s' is %s, but %s is %s", vs_reader_name(r), name,
                       vf_metric_name(m), whose, vf_metric_name(want));
    return 0;
}

/* Reads n integer ids (or keys) from an auxiliary reader into out. */
static int read_ids(vs_reader *r, uint64_t *out, size_t n, uint64_t row0, vf_error *err)
{
    int64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    size_t got = 0;
    while (got < n) {
        long m = vs_reader_read_i64(r, tmp + got, n - got, err);
        if (m < 0) {
            free(tmp);
            return (int)m;
        }
        if (m == 0)
            break;
        got += (size_t)m;
    }
    int rc = 0;
    if (got < n)
        rc = vf_fail(err, VF_EINPUT, "'%s': has %llu rows, fewer than the vectors", vs_reader_name(r),
                     (unsigned long long)(row0 + got));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (tmp[i] < 0)
            rc = vf_fail(err, VF_EINPUT, "'%s': row %llu: negative value %lld", vs_reader_name(r),
                         (unsigned long long)(row0 + i + 1), (long long)tmp[i]);
        out[i] = (uint64_t)tmp[i];
    }
    free(tmp);
    return rc;
}

/* Ingests the rows of r (which it frees). */
static int ingest_file(txn *t, vs_reader *r, const opts *o, uint64_t *nrows, vf_error *err)
{
    vs_reader *ri = NULL, *rk = NULL;
    int rc = 0;
    uint32_t d = t->dim;
    if (vs_reader_dim(r) == 0 && vs_reader_has_ids(r)) {
        rc = vf_fail(err, VF_EINPUT, "'%s': rows carry ids but no vectors (to delete them: --delete)",
                     vs_reader_name(r));
        vs_reader_free(r);
        return rc;
    }
    /* an empty source (dimension 0: no row, no header) adds nothing whatever the dimension */
    if (vs_reader_dim(r) != d && vs_reader_dim(r) != 0) {
        rc = vf_fail(err, VF_EDIM, "'%s': row 1: dimension %u does not match the collection's %u", vs_reader_name(r),
                     vs_reader_dim(r), d);
        vs_reader_free(r);
        return rc;
    }
    vs_reader_opts aux = {0};
    if (o->ids)
        rc = vs_reader_open(&ri, o->ids, &aux, err);
    if (rc == 0 && o->keys)
        rc = vs_reader_open(&rk, o->keys, &aux, err);
    if (rc == 0 && ((ri && vs_reader_has_ids(r)) || (rk && vs_reader_has_keys(r))))
        rc = vf_fail(err, VF_EARG, "'%s': its rows carry %s: --%s would contradict them", vs_reader_name(r),
                     ri && vs_reader_has_ids(r) ? "ids" : "keys", ri && vs_reader_has_ids(r) ? "ids" : "keys");
    int has_ids = ri || vs_reader_has_ids(r), has_keys = rk || vs_reader_has_keys(r);
    if (vs_reader_dim(r) == 0)
        has_keys = t->keys; /* nothing to add */
    if (rc == 0 && has_keys != t->keys)
        rc = vf_fail(err, VF_EINPUT, "'%s': %s", vs_reader_name(r),
                     has_keys ? "the collection has no partition keys (it was created without --keys or --key-col)"
                              : "the collection has partition keys: give --keys or --key-col");
    size_t b = batch_rows(d);
    float *vec = malloc(b * d * sizeof *vec);
    uint64_t *ids = malloc(b * sizeof *ids), *keys = malloc(b * sizeof *keys);
    if (rc == 0 && (!vec || !ids || !keys))
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    uint64_t row0 = 0;
    int64_t total = vs_reader_rows(r);
    cli_progress_start();
    while (rc == 0) {
        /* with --commit-every Ns a batch is read a row at a time, so rows that came are
           committed when the time is up although the batch is not full */
        size_t want = next_batch(t, o, b);
        long n = 0;
        do {
            long m = vs_reader_read(r, vec + (size_t)n * d, ids + n, keys + n, o->every_secs ? 1 : want, err);
            if (m <= 0) {
                n = m < 0 ? m : n;
                break;
            }
            n += m;
        } while (o->every_secs && (size_t)n < want && !txn_due(t, o));
        if (n < 0)
            rc = (int)n;
        if (n <= 0)
            break;
        if (ri)
            rc = read_ids(ri, ids, (size_t)n, row0, err);
        if (rc == 0 && rk)
            rc = read_ids(rk, keys, (size_t)n, row0, err);
        if (rc == 0)
            rc = txn_handle(t, err);
        if (rc == 0)
            rc = vs_ingest_add(t->h, (size_t)n, vec, has_ids ? ids : NULL, has_keys ? keys : NULL,
                               vs_reader_name(r), row0 + 1, err);
        if (rc == 0)
            rc = txn_added(t, o, (size_t)n, err);
        row0 += (uint64_t)n;
        /* with the rows known up front (HDF5, fvecs, npy, raw files): percent and ETA too */
        cli_progress_work(vs_reader_name(r), row0, total > 0 ? (uint64_t)total : 0, "rows");
    }
    /* an id or key file longer than the vectors is a mistake too */
    int64_t extra;
    if (rc == 0 && ri && vs_reader_read_i64(ri, &extra, 1, NULL) > 0)
        rc = vf_fail(err, VF_EINPUT, "'%s': has more rows than '%s' (%llu)", vs_reader_name(ri), vs_reader_name(r),
                     (unsigned long long)row0);
    if (rc == 0 && rk && vs_reader_read_i64(rk, &extra, 1, NULL) > 0)
        rc = vf_fail(err, VF_EINPUT, "'%s': has more rows than '%s' (%llu)", vs_reader_name(rk), vs_reader_name(r),
                     (unsigned long long)row0);
    *nrows += row0;
    free(vec);
    free(ids);
    free(keys);
    vs_reader_free(r);
    vs_reader_free(ri);
    vs_reader_free(rk);
    return rc;
}

/* Deletes the ids of a source whose rows carry them (JSON lines {"id": N}), its vectors unread. */
static int delete_carried(txn *t, const opts *o, vs_reader *r, uint64_t *nids, vf_error *err)
{
    size_t b = 4096, d = vs_reader_dim(r) ? vs_reader_dim(r) : 1;
    uint64_t *ids = malloc(b * sizeof *ids);
    float *vec = malloc(b * d * sizeof *vec);
    int rc = ids && vec ? 0 : vf_fail(err, VF_ENOMEM, "out of memory");
    while (rc == 0) {
        long n = vs_reader_read(r, vec, ids, NULL, next_batch(t, o, b), err);
        if (n <= 0) {
            rc = n < 0 ? (int)n : 0;
            break;
        }
        rc = txn_handle(t, err);
        if (rc == 0)
            rc = vs_ingest_delete(t->h, (size_t)n, ids, err);
        if (rc == 0)
            rc = txn_added(t, o, (size_t)n, err);
        *nids += (uint64_t)n;
    }
    free(ids);
    free(vec);
    return rc;
}

static int delete_file(txn *t, const opts *o, const char *spec, const vs_reader_opts *given, uint64_t *nids,
                       vf_error *err)
{
    vs_reader *r;
    vs_reader_opts ro = {0};
    ro.format = given->format;
    ro.dim = given->dim;
    int rc = vs_reader_open(&r, spec, &ro, err);
    if (rc)
        return rc;
    if (vs_reader_has_ids(r)) {
        rc = delete_carried(t, o, r, nids, err);
        vs_reader_free(r);
        return rc;
    }
    size_t b = 65536;
    uint64_t *ids = malloc(b * sizeof *ids);
    uint64_t row0 = 0;
    if (!ids)
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    /* an empty source (dimension 0) holds no ids */
    if (rc == 0 && vs_reader_dim(r) != 1 && vs_reader_dim(r) != 0)
        rc = vf_fail(err, VF_EDIM, "'%s': row 1: an id file has one value per row, not %u", vs_reader_name(r),
                     vs_reader_dim(r));
    while (rc == 0) {
        int64_t *tmp = (int64_t *)ids;
        long n = vs_reader_read_i64(r, tmp, next_batch(t, o, b), err);
        if (n <= 0) {
            rc = n < 0 ? (int)n : 0;
            break;
        }
        for (long i = 0; i < n && rc == 0; i++)
            if (tmp[i] < 0)
                rc = vf_fail(err, VF_EINPUT, "'%s': row %llu: negative id %lld", vs_reader_name(r),
                             (unsigned long long)(row0 + (uint64_t)i + 1), (long long)tmp[i]);
        if (rc == 0)
            rc = txn_handle(t, err);
        if (rc == 0)
            rc = vs_ingest_delete(t->h, (size_t)n, ids, err);
        if (rc == 0)
            rc = txn_added(t, o, (size_t)n, err);
        row0 += (uint64_t)n;
    }
    *nids += row0;
    free(ids);
    vs_reader_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    cli_init("vec-ingest", argv);
    enum { O_IDS = 256, O_IDCOL, O_KEYS, O_KEYCOL, O_UPSERT, O_DELETE, O_EVERY, O_NO_WAIT };
    static const struct option lo[] = {
        /* -f and --format: the spellings before --input-format, kept for scripts */
        {"input-format", required_argument, 0, 'F'}, {"format", required_argument, 0, 'F'},
        {"dim", required_argument, 0, 'd'},    {"metric", required_argument, 0, 'm'},
        {"shards", required_argument, 0, 's'}, {"ids", required_argument, 0, O_IDS},
        {"id-col", required_argument, 0, O_IDCOL}, {"keys", required_argument, 0, O_KEYS},
        {"key-col", required_argument, 0, O_KEYCOL}, {"upsert", no_argument, 0, O_UPSERT},
        {"delete", no_argument, 0, O_DELETE},  {"commit-every", required_argument, 0, O_EVERY},
        {"no-wait", no_argument, 0, O_NO_WAIT}, {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    opts o;
    memset(&o, 0, sizeof o);
    int c;
    while ((c = getopt_long(argc, argv, "F:f:d:m:s:qvhV", lo, NULL)) != -1) {
        switch (c) {
        case 'F':
        case 'f':
            if (vs_format_parse(optarg) < 0)
                cli_usage("unknown format '%s'", optarg);
            o.ro.format = (vs_format)vs_format_parse(optarg);
            break;
        case 'd': o.ro.dim = (uint32_t)cli_u64("--dim", optarg, 1, VF_DIM_MAX); break;
        case 'm':
            if (!(o.metric = vf_metric_parse(optarg)))
                cli_usage("unknown metric '%s' (l2, ip or cosine)", optarg);
            break;
        case 's': o.shards = (uint32_t)cli_u64("--shards", optarg, 1, VS_SHARDS_MAX); break;
        case O_IDS: o.ids = optarg; break;
        case O_IDCOL: o.ro.id_col = (int)cli_u64("--id-col", optarg, 1, 1000000); break;
        case O_KEYS: o.keys = optarg; break;
        case O_KEYCOL: o.ro.key_col = (int)cli_u64("--key-col", optarg, 1, 1000000); break;
        case O_UPSERT: o.upsert = 1; break;
        case O_DELETE: o.del = 1; break;
        case O_EVERY: {
            /* N rows, or Ns seconds; given twice, whichever comes first */
            size_t len = strlen(optarg);
            if (len > 1 && optarg[len - 1] == 's') {
                char num[32];
                snprintf(num, sizeof num, "%.*s", (int)(len - 1), optarg);
                o.every_secs = cli_u64("--commit-every", num, 1, VS_SECONDS_MAX);
            } else {
                o.every_rows = cli_u64("--commit-every", optarg, 1, VS_ROWS_MAX);
            }
            break;
        }
        case O_NO_WAIT: o.no_wait = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'v': cli_verbose = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind >= argc)
        cli_usage("missing COLL");
    const char *coll = argv[optind++];
    int nfiles = argc - optind;
    char *stdin_only[] = {"-"};
    char **files = nfiles ? argv + optind : stdin_only;
    if (!nfiles)
        nfiles = 1;
    if (o.del && (o.ids || o.keys || o.upsert || o.ro.id_col || o.ro.key_col || o.metric || o.shards))
        cli_usage("--delete takes only id files (and --input-format)");
    if ((o.ids || o.keys) && nfiles > 1)
        cli_usage("--ids and --keys go with a single input FILE");
    if (o.ids && o.ro.id_col)
        cli_usage("--ids and --id-col exclude each other");
    if (o.keys && o.ro.key_col)
        cli_usage("--keys and --key-col exclude each other");
    if (o.upsert && !o.ids && !o.ro.id_col)
        cli_usage("--upsert needs given ids (--ids or --id-col)");
    int stdin_uses = 0;
    for (int i = 0; i < nfiles; i++)
        stdin_uses += strcmp(files[i], "-") == 0;
    stdin_uses += (o.ids && !strcmp(o.ids, "-")) + (o.keys && !strcmp(o.keys, "-"));
    if (stdin_uses > 1)
        cli_usage("stdin ('-') can be read only once");

    double t0 = cli_now();
    vf_error err;
    vs_ingest_opts io = {0};
    io.metric = o.metric;
    io.shards = o.shards;
    io.upsert = o.upsert;
    io.create = !o.del;
    io.keys = o.keys || o.ro.key_col;
    vs_reader *first = NULL;
    vf_coll *existing;
    vf_manifest em;
    int exists = 0, coll_metric = 0, start = 0;
    if (vf_coll_open(&existing, coll, NULL) == 0) {
        exists = 1;
        /* raw rows for an existing collection have its dimension unless -d says */
        if (vf_coll_snapshot(existing, &em, NULL) == 0) {
            o.ro.raw_dim = em.dim;
            coll_metric = em.metric;
            vf_manifest_release(&em);
        }
        vf_coll_close(existing);
    }
    char whose[512];
    if (coll_metric)
        snprintf(whose, sizeof whose, "the collection '%s'", coll);
    else
        snprintf(whose, sizeof whose, "-m");
    if (!o.del) {
        /* a new collection takes its dimension from the first input, and its metric from
           -m, else from the metric the input declares */
        open_reader(&first, files[0], &o.ro);
        /* leading inputs without rows add nothing: the dimension comes from the first with rows */
        while (vs_reader_dim(first) == 0 && !vs_reader_has_ids(first) && start + 1 < nfiles) {
            vs_reader_free(first);
            open_reader(&first, files[++start], &o.ro);
        }
        io.dim = vs_reader_dim(first);
        io.keys |= vs_reader_has_keys(first); /* JSON lines with "key" */
        int fm;
        if (source_metric(first, coll_metric ? coll_metric : o.metric, whose, &fm, &err))
            cli_die_err(&err);
        if (!io.metric && !coll_metric)
            io.metric = fm;
        /* no rows to add: nothing to commit, and a new collection is not created (its
           dimension is unknown) */
        if (io.dim == 0 && !vs_reader_has_ids(first)) {
            vs_reader_free(first);
            if (!cli_quiet)
                cli_msg("no rows in %s: '%s' %s", nfiles > 1 ? "the input" : strcmp(files[0], "-") ? files[0] : "stdin",
                        coll, exists ? "unchanged" : "not created");
            return 0;
        }
    }
    /* later inputs must declare the collection's metric, if any: l2 when none was chosen */
    int want = coll_metric ? coll_metric : io.metric ? io.metric : VF_METRIC_L2;
    snprintf(whose, sizeof whose, "the collection '%s'", coll);
    txn t = {0};
    t.coll = coll;
    t.io = io;
    t.since = cli_now();
    t.no_wait = o.no_wait;
    if (txn_handle(&t, &err)) {
        vs_reader_free(first);
        cli_die_err(&err);
    }
    uint32_t d = t.dim = vs_ingest_dim(t.h);
    t.keys = vs_ingest_has_keys(t.h);
    uint64_t rows = 0, nids = 0;
    int rc = 0;
    for (int i = o.del ? 0 : start; rc == 0 && i < nfiles; i++) {
        if (o.del) {
            rc = delete_file(&t, &o, files[i], &o.ro, &nids, &err);
            continue;
        }
        if (i > start) {
            vs_reader_opts ro = o.ro;
            ro.raw_dim = d;
            rc = vs_reader_open(&first, files[i], &ro, &err);
            int fm;
            if (rc == 0 && (rc = source_metric(first, want, whose, &fm, &err)))
                vs_reader_free(first);
        }
        uint64_t before = rows;
        if (rc == 0)
            rc = ingest_file(&t, first, &o, &rows, &err);
        first = NULL;
        if (rc == 0 && cli_verbose)
            cli_msg("'%s': %llu rows", files[i], (unsigned long long)(rows - before));
    }
    if (rc) {
        vs_ingest_abort(t.h);
        if (t.commits)
            cli_die(cli_status(err.code), "%s (%llu %s committed before it are kept, generation %llu)", err.msg,
                    (unsigned long long)(o.del ? t.done.deleted : t.done.rows), o.del ? "ids" : "rows",
                    (unsigned long long)t.done.generation);
        cli_die_err(&err);
    }
    if (rows == 0 && nids == 0 && !t.commits) {
        /* empty input is no change: nothing is committed */
        vs_ingest_abort(t.h);
        cli_progress_done();
        if (!cli_quiet)
            cli_msg("no %s in the input: '%s' %s", o.del ? "ids" : "rows", coll, exists ? "unchanged" : "not created");
        return 0;
    }
    /* the last chunk; after a commit with nothing since, there is nothing to commit */
    if (t.h && !(t.commits && !t.pending) && txn_commit(&t, &err))
        cli_die_err(&err);
    vs_ingest_abort(t.h);
    vs_ingest_stats st = t.done;
    double dt = cli_now() - t0;
    cli_progress_done();
    if (!cli_quiet) {
        char chunks[32] = "";
        if (t.commits > 1)
            snprintf(chunks, sizeof chunks, " (last of %d commits)", t.commits);
        if (o.del)
            fprintf(stderr, "%s: deleted %llu ids (%llu were live) in '%s', %.2f s, generation %llu%s\n", cli_tool,
                    (unsigned long long)st.deleted, (unsigned long long)st.deleted_live, coll, dt,
                    (unsigned long long)st.generation, chunks);
        else
            fprintf(stderr, "%s: %llu rows, %.1f MB in %.2f s (%.1f MB/s) into '%s'%s, generation %llu%s\n",
                    cli_tool, (unsigned long long)rows, (double)rows * d * 4 / 1e6, dt,
                    dt > 0 ? (double)rows * d * 4 / 1e6 / dt : 0.0, coll, st.created ? " (created)" : "",
                    (unsigned long long)st.generation, chunks);
    }
    return 0;
}
