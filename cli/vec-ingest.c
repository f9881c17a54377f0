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
    "raw float32; '-' is stdin):\n"
    "  -f, --format FMT     input format (default: from the file name)\n"
    "  -d, --dim N          vector dimension (needed for raw input)\n"
    "      --ids SPEC       ids of the rows, one per row (ivecs, npy, hdf5, text)\n"
    "      --id-col N       text input: column N (from 1) holds the id\n"
    "      --keys SPEC      partition keys of the rows, one per row\n"
    "      --key-col N      text input: column N holds the partition key\n"
    "New collection:\n"
    "  -m, --metric M       l2 (default), ip or cosine\n"
    "  -s, --shards N       number of shards (default 1)\n"
    "Changes:\n"
    "      --upsert         rows whose id exists replace the old rows\n"
    "      --delete         FILEs hold ids to delete (text, ivecs, npy, hdf5)\n"
    "Output:\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-ingest coll train.fvecs\n"
    "  vec-ingest -m cosine coll data.h5:/train\n"
    "  vec-ingest --id-col 1 coll rows.csv\n"
    "  cat vecs.f32 | vec-ingest -f raw -d 128 coll -\n"
    "  echo 42 | vec-ingest --delete coll\n";

typedef struct opts {
    vs_reader_opts ro;
    const char *ids, *keys;
    int metric, del, upsert;
    uint32_t shards;
} opts;

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
static int ingest_file(vs_ingest *h, vs_reader *r, const opts *o, uint64_t *nrows, vf_error *err)
{
    vs_reader *ri = NULL, *rk = NULL;
    int rc = 0;
    uint32_t d = vs_ingest_dim(h);
    if (vs_reader_dim(r) != d) {
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
    int has_ids = ri || vs_reader_has_ids(r), has_keys = rk || vs_reader_has_keys(r);
    if (rc == 0 && has_keys != vs_ingest_has_keys(h))
        rc = vf_fail(err, VF_EINPUT, "'%s': %s", vs_reader_name(r),
                     has_keys ? "the collection has no partition keys (it was created without --keys or --key-col)"
                              : "the collection has partition keys: give --keys or --key-col");
    size_t b = batch_rows(d);
    float *vec = malloc(b * d * sizeof *vec);
    uint64_t *ids = malloc(b * sizeof *ids), *keys = malloc(b * sizeof *keys);
    if (rc == 0 && (!vec || !ids || !keys))
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    uint64_t row0 = 0;
    double t0 = cli_now();
    while (rc == 0) {
        long n = vs_reader_read(r, vec, ids, keys, b, err);
        if (n < 0)
            rc = (int)n;
        if (n <= 0)
            break;
        if (ri)
            rc = read_ids(ri, ids, (size_t)n, row0, err);
        if (rc == 0 && rk)
            rc = read_ids(rk, keys, (size_t)n, row0, err);
        if (rc == 0)
            rc = vs_ingest_add(h, (size_t)n, vec, has_ids ? ids : NULL, has_keys ? keys : NULL, vs_reader_name(r),
                               row0 + 1, err);
        row0 += (uint64_t)n;
        double dt = cli_now() - t0;
        cli_progress("%s: %llu rows, %.1f MB/s", vs_reader_name(r), (unsigned long long)row0,
                     dt > 0 ? (double)row0 * d * 4 / dt / 1e6 : 0.0);
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

static int delete_file(vs_ingest *h, const char *spec, const vs_reader_opts *given, vf_error *err)
{
    vs_reader *r;
    vs_reader_opts ro = {0};
    ro.format = given->format;
    ro.dim = given->dim;
    int rc = vs_reader_open(&r, spec, &ro, err);
    if (rc)
        return rc;
    size_t b = 65536;
    uint64_t *ids = malloc(b * sizeof *ids);
    uint64_t row0 = 0;
    if (!ids)
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    if (rc == 0 && vs_reader_dim(r) != 1)
        rc = vf_fail(err, VF_EDIM, "'%s': row 1: an id file has one value per row, not %u", vs_reader_name(r),
                     vs_reader_dim(r));
    while (rc == 0) {
        int64_t *tmp = (int64_t *)ids;
        long n = vs_reader_read_i64(r, tmp, b, err);
        if (n <= 0) {
            rc = n < 0 ? (int)n : 0;
            break;
        }
        for (long i = 0; i < n && rc == 0; i++)
            if (tmp[i] < 0)
                rc = vf_fail(err, VF_EINPUT, "'%s': row %llu: negative id %lld", vs_reader_name(r),
                             (unsigned long long)(row0 + (uint64_t)i + 1), (long long)tmp[i]);
        if (rc == 0)
            rc = vs_ingest_delete(h, (size_t)n, ids, err);
        row0 += (uint64_t)n;
    }
    free(ids);
    vs_reader_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    cli_init("vec-ingest", argv);
    enum { O_IDS = 256, O_IDCOL, O_KEYS, O_KEYCOL, O_UPSERT, O_DELETE };
    static const struct option lo[] = {
        {"format", required_argument, 0, 'f'}, {"input-format", required_argument, 0, 'f'},
        {"dim", required_argument, 0, 'd'},    {"metric", required_argument, 0, 'm'},
        {"shards", required_argument, 0, 's'}, {"ids", required_argument, 0, O_IDS},
        {"id-col", required_argument, 0, O_IDCOL}, {"keys", required_argument, 0, O_KEYS},
        {"key-col", required_argument, 0, O_KEYCOL}, {"upsert", no_argument, 0, O_UPSERT},
        {"delete", no_argument, 0, O_DELETE},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    opts o;
    memset(&o, 0, sizeof o);
    int c;
    while ((c = getopt_long(argc, argv, "f:d:m:s:qhV", lo, NULL)) != -1) {
        switch (c) {
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
        case 'q': cli_quiet = 1; break;
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
        cli_usage("--delete takes only id files (and --format)");
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
    if (vf_coll_open(&existing, coll, NULL) == 0) {
        /* raw rows for an existing collection have its dimension unless -d says */
        if (vf_coll_snapshot(existing, &em, NULL) == 0) {
            o.ro.raw_dim = em.dim;
            vf_manifest_release(&em);
        }
        vf_coll_close(existing);
    }
    if (!o.del) {
        /* a new collection takes its dimension from the first input */
        open_reader(&first, files[0], &o.ro);
        io.dim = vs_reader_dim(first);
    }
    vs_ingest *h;
    if (vs_ingest_open(&h, coll, &io, &err)) {
        vs_reader_free(first);
        cli_die_err(&err);
    }
    uint64_t rows = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < nfiles; i++) {
        if (o.del) {
            rc = delete_file(h, files[i], &o.ro, &err);
            continue;
        }
        if (i > 0) {
            vs_reader_opts ro = o.ro;
            ro.raw_dim = vs_ingest_dim(h);
            rc = vs_reader_open(&first, files[i], &ro, &err);
        }
        if (rc == 0)
            rc = ingest_file(h, first, &o, &rows, &err);
        first = NULL;
    }
    vs_ingest_stats st;
    uint32_t d = vs_ingest_dim(h);
    if (rc) {
        vs_ingest_abort(h);
        cli_die_err(&err);
    }
    if (vs_ingest_commit(h, &st, &err))
        cli_die_err(&err);
    double dt = cli_now() - t0;
    cli_progress_done();
    if (!cli_quiet) {
        if (o.del)
            fprintf(stderr, "%s: deleted %llu ids (%llu were live) in '%s', %.2f s, generation %llu\n", cli_tool,
                    (unsigned long long)st.deleted, (unsigned long long)st.deleted_live, coll, dt,
                    (unsigned long long)st.generation);
        else
            fprintf(stderr, "%s: %llu rows, %.1f MB in %.2f s (%.1f MB/s) into '%s'%s, generation %llu\n", cli_tool,
                    (unsigned long long)rows, (double)rows * d * 4 / 1e6, dt,
                    dt > 0 ? (double)rows * d * 4 / 1e6 / dt : 0.0, coll, st.created ? " (created)" : "",
                    (unsigned long long)st.generation);
    }
    return 0;
}
