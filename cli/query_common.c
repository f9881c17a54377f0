/*
 * query_common.c - what vec-query's modes share (query.h): option parsing, the snapshot one
 * process searches (opened, narrowed to a node and partition keys, queries read), and the
 * answer written as TSV, JSON lines or HDF5 with recall against a truth file.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

/* ---- options -------------------------------------------------------------------------- */

/* The partition-key option as the command line spelled it (--key, or --partition from before
   the tools shared one vocabulary), so messages name what the user typed. */
static const char *key_opt = "--key";

void query_parse(int argc, char **argv, const char *usage, query_opts *o)
{
    enum { O_FORMAT = 256, O_TRUTH, O_EF, O_NPROBE, O_REFINE, O_SHARE, O_NODE, O_PARTIAL, O_MERGE, O_PARTITION, O_HEADER,
           O_IDS, O_IDCOL };
    static const struct option lo[] = {
        {"jobs", required_argument, 0, 'j'},   {"threads", required_argument, 0, 't'},
        {"input-format", required_argument, 0, 'F'}, {"dim", required_argument, 0, 'd'},
        {"format", required_argument, 0, O_FORMAT}, {"output", required_argument, 0, 'o'},
        {"truth", required_argument, 0, O_TRUTH}, {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},
        {"ef", required_argument, 0, O_EF},    {"nprobe", required_argument, 0, O_NPROBE},
        {"refine", required_argument, 0, O_REFINE}, {"share", required_argument, 0, O_SHARE},
        {"node", required_argument, 0, O_NODE}, {"partial", required_argument, 0, O_PARTIAL},
        {"merge", no_argument, 0, O_MERGE}, {"key", required_argument, 0, O_PARTITION},
        {"partition", required_argument, 0, O_PARTITION}, /* --key's old spelling, kept for scripts */
        {"header", no_argument, 0, O_HEADER},
        {"ids", required_argument, 0, O_IDS}, {"id-col", required_argument, 0, O_IDCOL},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int c;
    memset(o, 0, sizeof *o);
    o->so.k = 10;
    o->jobs = 1;
    o->pkeys = calloc((size_t)argc, sizeof *o->pkeys);
    if (!o->pkeys)
        cli_die(EX_OSERR, "out of memory");
    int li = -1;
    while ((c = getopt_long(argc, argv, "k:j:t:F:d:o:qvhV", lo, &li)) != -1) {
        switch (c) {
        case 'k': o->so.k = (size_t)cli_u64("-k", optarg, 1, VS_K_MAX); break;
        case 'j': o->jobs = (int)cli_u64("--jobs", optarg, 1, 1024); break;
        case 't': o->so.threads = (int)cli_u64("--threads", optarg, 1, VS_THREADS_MAX); break;
        case 'F':
            if (vs_format_parse(optarg) < 0)
                cli_usage("unknown input format '%s'", optarg);
            o->ro.format = (vs_format)vs_format_parse(optarg);
            break;
        case 'd': o->ro.dim = (uint32_t)cli_u64("--dim", optarg, 1, VF_DIM_MAX); break;
        case O_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl"))
                cli_usage("unknown output format '%s' (tsv or jsonl)", optarg);
            o->jsonl = strcmp(optarg, "jsonl") == 0;
            break;
        case 'o': o->out = optarg; break;
        case O_TRUTH: o->truth = optarg; break;
        case O_EF: o->so.ef = (uint32_t)cli_u64("--ef", optarg, 1, 1000000); break;
        case O_NPROBE: o->so.nprobe = (uint32_t)cli_u64("--nprobe", optarg, 1, 1000000); break;
        case O_REFINE: o->so.refine = (uint32_t)cli_u64("--refine", optarg, 1, 10000); break;
        case O_SHARE: {
            unsigned i, n;
            char extra;
            /* digits only, at most 7 each: %u takes a sign and wraps past 2^32 */
            size_t di = strspn(optarg, "0123456789"), dn = strspn(optarg + di + (optarg[di] == '/'), "0123456789");
            if (di > 7 || dn > 7 || sscanf(optarg, "%u/%u%c", &i, &n, &extra) != 2 || n == 0 || i >= n || n > 1000000)
                cli_usage("--share takes I/N with 0 <= I < N, not '%s'", optarg);
            o->share = (int)i;
            o->nshares = (int)n;
            break;
        }
        case O_NODE: o->node = optarg; break;
        case O_PARTIAL: o->partial = optarg; break;
        case O_MERGE: o->merge = 1; break;
        case O_PARTITION:
            key_opt = strcmp(lo[li].name, "key") ? "--partition" : "--key";
            o->pkeys[o->npkeys++] = cli_u64(key_opt, optarg, 0, UINT64_MAX);
            break;
        case O_HEADER: o->header = 1; break;
        case O_IDS: o->qids = optarg; break;
        case O_IDCOL: o->ro.id_col = (int)cli_u64("--id-col", optarg, 1, 1000000); break;
        case 'q': cli_quiet = 1; break;
        case 'v': /* vec-query's: vec-query-mpi's ranks open their snapshots elsewhere */
            if (strcmp(cli_tool, "vec-query"))
                cli_usage("unknown option '-v'");
            cli_verbose = 1;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (o->out && o->jsonl)
        cli_usage("--output and --format exclude each other");
    if (o->header && (o->out || o->jsonl || o->partial))
        cli_usage("--header goes with TSV output");
    if (o->partial && (o->out || o->jsonl || o->truth))
        cli_usage("--partial writes a partial result: --output, --format and --truth go with the merge");
    if (o->qids && o->ro.id_col)
        cli_usage("--ids and --id-col exclude each other");
    if ((o->qids || o->ro.id_col) && (o->partial || o->merge))
        cli_usage("query ids go with the answer, not with --partial or --merge");
    if (o->merge) {
        if (o->npkeys)
            cli_usage("%s applies where the partial results are made, not to --merge", key_opt);
        if (o->partial || o->node || o->nshares || o->jobs > 1)
            cli_usage("--merge takes only partial results and output options");
        if (optind >= argc)
            cli_usage("--merge needs at least one PARTIAL");
        o->files = argv + optind;
        o->nfiles = argc - optind;
        return;
    }
    if (argc - optind != 2)
        cli_usage(argc - optind < 2 ? "missing COLL or QUERIES" : "too many arguments");
    if (o->node && o->nshares)
        cli_usage("--node and --share exclude each other");
    o->coll = argv[optind];
    o->qspec = argv[optind + 1];
}

/* ---- the snapshot one process searches ---------------------------------------------------- */

/* The segment files node serves: those placed on it, and, on the first
   node, those not placed on a listed node (SPEC.md 3.2). */
static const char **node_segments(const vf_manifest *m, const char *node, size_t *n)
{
    const char **v = malloc((m->nsealed + m->ngrowing + 1) * sizeof *v);
    if (!v)
        cli_die(EX_OSERR, "out of memory");
    int listed = 0;
    for (size_t i = 0; i < m->nnodes; i++)
        listed |= !strcmp(m->nodes[i], node);
    if (!listed)
        cli_die(EX_USAGE, "node '%s' is not in the collection's placement (vec-balance lists the nodes)", node);
    *n = 0;
    for (size_t i = 0; i < m->nsealed; i++)
        if (!strcmp(vf_manifest_serving_node(m, m->sealed[i].node), node))
            v[(*n)++] = m->sealed[i].file;
    for (size_t i = 0; i < m->ngrowing; i++)
        if (!strcmp(vf_manifest_serving_node(m, m->growing[i].node), node))
            v[(*n)++] = m->growing[i].file;
    return v;
}

int query_narrow(vs_snapshot *s, const char *node, const uint64_t *keys, size_t nkeys, vf_error *err)
{
    if (node) {
        size_t n;
        const char **files = node_segments(vs_snapshot_manifest(s), node, &n);
        int rc = vs_snapshot_select(s, files, n, err);
        free(files);
        if (rc)
            return rc;
    }
    vf_error e;
    if (nkeys && vs_snapshot_filter_keys(s, keys, nkeys, &e))
        return vf_fail(err, e.code, "%s: %s", key_opt, e.msg);
    return 0;
}

/* The queries' own ids (from the queries or --ids), NULL when they are numbered from 0: one
   set per process, read with the queries and repeated by query_write. */
static uint64_t *query_ids;
static size_t query_nids;

int query_read(const query_opts *o, uint32_t dim, float **q, size_t *nq, vf_error *err)
{
    vs_reader_opts ro = o->ro;
    ro.raw_dim = dim; /* raw queries have the collection's dimension unless -d says */
    uint32_t qd;
    free(query_ids);
    query_ids = NULL;
    int rc = vs_read_all_f32_ids(o->qspec, &ro, q, &query_ids, nq, &qd, err);
    if (rc)
        return rc;
    if (*nq && qd != dim)
        return vf_fail(err, VF_EDIM, "'%s': row 1: dimension %u does not match the collection's %u", o->qspec,
                       qd, dim);
    if (o->qids) {
        if (query_ids)
            return vf_fail(err, VF_EARG, "'%s': its queries carry ids: --ids would contradict them", o->qspec);
        int64_t *v;
        size_t n;
        uint32_t cols;
        vs_reader_opts io = {0};
        if ((rc = vs_read_all_i64(o->qids, &io, &v, &n, &cols, err)))
            return rc;
        if (n != *nq || (n && cols != 1)) {
            free(v);
            return vf_fail(err, VF_EINPUT, "'%s': %zu rows of %u values, expected %zu ids (one per query)", o->qids,
                           n, cols, *nq);
        }
        query_ids = malloc((n ? n : 1) * sizeof *query_ids);
        if (!query_ids) {
            free(v);
            return vf_fail(err, VF_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            if (v[i] < 0) {
                free(v);
                return vf_fail(err, VF_EINPUT, "'%s': row %zu: negative id %lld", o->qids, i + 1, (long long)v[i]);
            }
            query_ids[i] = (uint64_t)v[i];
        }
        free(v);
    }
    /* JSON output keeps integers signed 64-bit, as the collections' own ids are */
    for (size_t i = 0; query_ids && i < *nq; i++)
        if (query_ids[i] > (uint64_t)INT64_MAX)
            return vf_fail(err, VF_EINPUT, "'%s': query %zu: id %llu is above 2^63-1", o->qids ? o->qids : o->qspec,
                           i + 1, (unsigned long long)query_ids[i]);
    query_nids = query_ids ? *nq : 0;
    return 0;
}

void query_open(const query_opts *o, query_run *r)
{
    vf_error err;
    memset(r, 0, sizeof *r);
    r->t0 = cli_now();
    r->k = o->so.k;
    if (vs_snapshot_open(&r->s, o->coll, &err))
        cli_die_err(&err);
    r->m = vs_snapshot_manifest(r->s);
    if (cli_verbose)
        cli_msg("'%s': generation %llu, %zu sealed and %zu growing segment(s), %llu rows, dim %u, %s", o->coll,
                (unsigned long long)r->m->generation, r->m->nsealed, r->m->ngrowing,
                (unsigned long long)vs_snapshot_rows(r->s), r->m->dim, vf_metric_name(r->m->metric));
    if (query_narrow(r->s, o->node, o->pkeys, o->npkeys, &err))
        cli_die_err(&err);
    if (query_read(o, r->m->dim, &r->q, &r->nq, &err))
        cli_die_err(&err);
    r->t1 = cli_now();
    r->h = query_hits(r->nq * r->k);
}

void query_done(query_run *r)
{
    double t2 = cli_now();
    if (!cli_quiet)
        fprintf(stderr, "%s: %zu queries, k=%zu, %llu rows, search %.3f s (%.0f queries/s), total %.3f s\n", cli_tool,
                r->nq, r->k, (unsigned long long)vs_snapshot_rows(r->s), t2 - r->t1,
                t2 > r->t1 ? (double)r->nq / (t2 - r->t1) : 0.0, cli_now() - r->t0);
    free(r->h);
    free(r->q);
    vs_snapshot_close(r->s);
}

vs_hit *query_hits(size_t n)
{
    vs_hit *h = malloc((n ? n : 1) * sizeof *h);
    if (!h)
        cli_die(EX_OSERR, "out of memory");
    return h;
}

/* ---- the answer --------------------------------------------------------------------------- */

/* recall@k: the share of true k nearest found.  With true distances, a hit
   counts when it is as near as the k-th true neighbour (ties are not
   misses), as ann-benchmarks counts. */
static double recall(size_t nq, size_t k, const uint64_t *ids, const float *dist, const int64_t *tn, size_t tk,
                     const float *td)
{
    double sum = 0;
    for (size_t q = 0; q < nq; q++) {
        size_t found = 0;
        for (size_t j = 0; j < k; j++) {
            uint64_t id = ids[q * k + j];
            if (id == VS_NO_ID)
                continue;
            if (td) {
                float lim = td[q * tk + k - 1];
                if (dist[q * k + j] <= lim + 1e-4f * fabsf(lim) + 1e-6f)
                    found++;
            } else {
                for (size_t t = 0; t < k; t++)
                    if (tn[q * tk + t] >= 0 && (uint64_t)tn[q * tk + t] == id) {
                        found++;
                        break;
                    }
            }
        }
        sum += (double)found / (double)k;
    }
    return nq ? sum / (double)nq : 1.0;
}

double query_search_secs, query_index_kb;

void query_write(const query_opts *o, size_t nq, size_t k, int metric, const vs_hit *h)
{
    query_write_at(o, 0, nq, k, metric, h);
}

void query_write_at(const query_opts *o, size_t q0, size_t nq, size_t k, int metric, const vs_hit *h)
{
    vf_error err;
    /* the truth is checked before anything is allocated: dying here leaves no block behind
       (LeakSanitizer saw the report's arrays leaked when the check failed) */
    int64_t *tn = NULL;
    float *td = NULL;
    size_t tq = 0;
    uint32_t tk = 0;
    if (o->truth) {
        vs_reader_opts to = {0};
        /* an ann-benchmarks file names its metric: distances of another are not comparable */
        vs_reader *tr;
        if (vs_reader_open(&tr, o->truth, &to, &err))
            cli_die_err(&err);
        const char *dn;
        int tm = vs_reader_metric(tr, &dn);
        if (tm && tm != metric)
            cli_die(EX_DATAERR, "'%s': distance '%s' is %s, but the collection is %s: recall would compare "
                    "across metrics", o->truth, dn, tm > 0 ? vf_metric_name(tm) : "unknown", vf_metric_name(metric));
        vs_reader_free(tr);
        if (vs_read_all_i64(o->truth, &to, &tn, &tq, &tk, &err))
            cli_die_err(&err);
        if (tq != nq || tk < k) {
            free(tn);
            cli_die(EX_DATAERR, "'%s': has %zu rows of %u neighbours; %zu rows of at least %zu needed", o->truth, tq,
                    tk, nq, k);
        }
        /* ann-benchmarks files keep the true distances beside the neighbours */
        const char *slash = strrchr(o->truth, '/');
        const char *colon = strstr(o->truth, ":/");
        if (colon && slash && slash > colon) {
            char spec[4096];
            snprintf(spec, sizeof spec, "%.*sdistances", (int)(slash - o->truth + 1), o->truth);
            size_t dq;
            uint32_t dk;
            if (vs_read_all_f32(spec, &to, &td, &dq, &dk, NULL) != 0 || dq != tq || dk != tk) {
                free(td);
                td = NULL;
            }
        }
    }
    uint64_t *ids = malloc((nq ? nq : 1) * k * sizeof *ids);
    float *dist = malloc((nq ? nq : 1) * k * sizeof *dist);
    if (!ids || !dist)
        cli_die(EX_OSERR, "out of memory");
    vs_hits_report(h, nq * k, metric, ids, dist);
    if (o->out) {
        int64_t *sid = malloc((nq ? nq : 1) * k * sizeof *sid);
        if (!sid)
            cli_die(EX_OSERR, "out of memory");
        for (size_t i = 0; i < nq * k; i++)
            sid[i] = ids[i] == VS_NO_ID ? -1 : (int64_t)ids[i];
        /* ann-benchmarks' attributes: its distance names, one batch timed as a whole */
        vs_h5_results_meta meta = {0};
        meta.distance = metric == VF_METRIC_L2 ? "euclidean" : metric == VF_METRIC_COSINE ? "angular" : "ip";
        /* ann-benchmarks names a data set by its file: the queries' file without directory,
           dataset and extension (fashion-mnist-784-euclidean.hdf5:/test) */
        char dataset[256] = "";
        if (o->qspec && strcmp(o->qspec, "-") != 0) {
            const char *b = strrchr(o->qspec, '/'), *c = strstr(o->qspec, ":/");
            b = b && (!c || b < c) ? b + 1 : o->qspec;
            snprintf(dataset, sizeof dataset, "%.*s", (int)(c ? (size_t)(c - b) : strlen(b)), b);
            char *dot = strrchr(dataset, '.');
            if (dot && dot != dataset)
                *dot = 0;
        }
        meta.dataset = dataset;
        meta.index_size = query_index_kb;
        meta.best_search_time = nq ? query_search_secs / (double)nq : 0.0;
        meta.batch_mode = 1;
        meta.run_count = 1;
        int rc = vs_h5_write_results_meta(o->out, nq, k, sid, dist, &meta, &err);
        free(sid);
        if (rc) { /* as above: nothing left for LeakSanitizer */
            free(ids);
            free(dist);
            free(tn);
            free(td);
            cli_die_err(&err);
        }
    } else {
        static char obuf[1 << 16];
        static int buffered; /* setvbuf only before the first output: later batches append */
        if (!buffered) {
            setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
            buffered = 1;
            if (o->header && !o->jsonl)
                printf("query\trank\tid\tdistance\n");
        }
        /* the queries' own ids when they carry them (and the answer is for those queries) */
        const uint64_t *qid = query_ids && q0 + nq <= query_nids ? query_ids + q0 : NULL;
        for (size_t i = 0; i < nq; i++) {
            unsigned long long qn = qid ? (unsigned long long)qid[i] : (unsigned long long)(q0 + i);
            if (o->jsonl) {
                json_t *line = json_object(), *ja = json_array(), *jd = json_array();
                if (!line || !ja || !jd)
                    cli_die(EX_OSERR, "out of memory");
                for (size_t j = 0; j < k; j++)
                    if (ids[i * k + j] != VS_NO_ID) {
                        json_array_append_new(ja, json_integer((json_int_t)ids[i * k + j]));
                        json_array_append_new(jd, json_real(dist[i * k + j]));
                    }
                json_object_set_new(line, "query", json_integer((json_int_t)qn));
                json_object_set_new(line, "ids", ja);
                json_object_set_new(line, "distances", jd);
                if (json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) < 0)
                    cli_die(EX_IOERR, "writing results failed");
                putchar('\n');
                json_decref(line);
            } else {
                for (size_t j = 0; j < k; j++)
                    if (ids[i * k + j] != VS_NO_ID)
                        printf("%llu\t%zu\t%llu\t%.9g\n", qn, j + 1, (unsigned long long)ids[i * k + j], dist[i * k + j]);
            }
        }
        /* a failed write is reported once, at exit (close_stdout, cli/common.c) */
    }
    if (o->truth)
        fprintf(stderr, "recall@%zu %.4f\n", k, recall(nq, k, ids, dist, tn, tk, td));
    free(tn);
    free(td);
    free(ids);
    free(dist);
}
