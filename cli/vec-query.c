/*
 * vec-query - exact k-nearest-neighbour search of a collection.  Reads the
 * queries, searches one snapshot (growing and sealed segments together,
 * deleted rows never returned), and writes TSV, JSON lines or an HDF5 file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#ifdef VS_MPI
static const char usage[] =
    "Usage: mpirun [MPI OPTIONS] vec-query-mpi [OPTIONS] COLL QUERIES\n"
    "Search collection COLL for every vector in QUERIES with one MPI rank per\n"
    "node: when the collection's placement (vec-balance) lists as many nodes as\n"
    "there are ranks, rank r serves the segments placed on node r; otherwise\n"
    "rank r searches share r of the rows.  Rank 0 reads the queries, chooses\n"
    "the snapshot every rank opens, merges the ranks' partial results and\n"
    "writes the answer as vec-query does.  Segment files must be on storage\n"
    "every rank can read.\n"
    "\n"
    "  -k N                 neighbours per query (default 10)\n"
    "  -t, --threads N      threads per rank (default: cores)\n"
    "      --ef N           HNSW segments: candidate list size (default: the index's)\n"
    "      --nprobe N       IVF segments: lists to visit (default: the index's)\n"
    "      --refine R       HNSW, IVF_PQ, IVF_SQ8: re-rank R*k candidates exactly\n"
    "  -F, --input-format FMT  query format (default: from the file name)\n"
    "  -d, --dim N          query dimension (needed for raw input)\n"
    "      --format FMT     output: tsv (default) or jsonl\n"
    "  -o, --output FILE.h5 write datasets neighbors and distances instead\n"
    "      --truth SPEC     true neighbours: print recall@k on stderr\n"
    "      --partition KEY  only rows with this partition key (repeatable)\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  mpirun -np 4 vec-query-mpi -k 10 coll queries.fvecs\n"
    "  mpirun --hostfile hosts -np 8 vec-query-mpi -o out.h5 /shared/coll q.h5:/test\n";
#else
static const char usage[] =
    "Usage: vec-query [OPTIONS] COLL QUERIES\n"
    "       vec-query --merge [OPTIONS] PARTIAL...\n"
    "Find the k nearest rows of collection COLL for every vector in QUERIES\n"
    "(any vec-ingest input format; '-' is stdin).  Output, one line per hit:\n"
    "query<TAB>rank<TAB>id<TAB>distance, query counted from 0, rank from 1,\n"
    "distance Euclidean for l2 (not squared), -dot for ip, 1-cosine for cosine.\n"
    "Sealed segments are searched with their index (approximate unless flat),\n"
    "growing ones exactly.\n"
    "\n"
    "  -k N                 neighbours per query (default 10)\n"
    "  -j, --jobs N         search in N worker processes (default 1)\n"
    "  -t, --threads N      threads per process (default: cores / jobs)\n"
    "      --ef N           HNSW segments: candidate list size (default: the index's)\n"
    "      --nprobe N       IVF segments: lists to visit (default: the index's)\n"
    "      --refine R       HNSW, IVF_PQ, IVF_SQ8: re-rank R*k candidates exactly\n"
    "  -F, --input-format FMT  query format (default: from the file name)\n"
    "  -d, --dim N          query dimension (needed for raw input)\n"
    "      --format FMT     output: tsv (default) or jsonl\n"
    "  -o, --output FILE.h5 write datasets neighbors and distances instead\n"
    "      --truth SPEC     true neighbours (FILE.h5:/neighbors, ivecs, ...):\n"
    "                       print recall@k on stderr\n"
    "      --partition KEY  only rows with this partition key (repeatable)\n"
    "Fan-out (partial results: SPEC.md section 7):\n"
    "      --share I/N      search only share I (from 0) of N of the rows\n"
    "      --node NAME      search only the segments placed on node NAME\n"
    "      --partial FILE   write this share's partial result to FILE ('-': stdout)\n"
    "      --merge          merge the PARTIAL files into the final answer\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-query -k 10 coll queries.fvecs\n"
    "  vec-query -k 10 -o result.h5 --truth data.h5:/neighbors coll data.h5:/test\n"
    "  printf '0.1,0.2,0.3\\n' | vec-query --format jsonl coll -\n"
    "  vec-query --share 0/2 --partial p0 coll q.fvecs; vec-query --share 1/2 --partial p1 coll q.fvecs\n"
    "  vec-query --merge p0 p1\n";
#endif

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

typedef struct outopts {
    const char *out, *truth;
    int jsonl;
} outopts;

/* Writes the final answer (reported distances) and, with a truth file, recall. */
static void write_results(const outopts *oo, size_t nq, size_t k, const uint64_t *ids, const float *dist)
{
    vf_error err;
    int64_t *tn = NULL;
    float *td = NULL;
    size_t tq = 0;
    uint32_t tk = 0;
    if (oo->truth) {
        vs_reader_opts to = {0};
        if (vs_read_all_i64(oo->truth, &to, &tn, &tq, &tk, &err))
            cli_die_err(&err);
        if (tq != nq || tk < k)
            cli_die(EX_DATAERR, "'%s': has %zu rows of %u neighbours; %zu rows of at least %zu needed", oo->truth, tq,
                    tk, nq, k);
        /* ann-benchmarks files keep the true distances beside the neighbours */
        const char *slash = strrchr(oo->truth, '/');
        const char *colon = strstr(oo->truth, ":/");
        if (colon && slash && slash > colon) {
            char spec[4096];
            snprintf(spec, sizeof spec, "%.*sdistances", (int)(slash - oo->truth + 1), oo->truth);
            size_t dq;
            uint32_t dk;
            if (vs_read_all_f32(spec, &to, &td, &dq, &dk, NULL) != 0 || dq != tq || dk != tk) {
                free(td);
                td = NULL;
            }
        }
    }
    if (oo->out) {
        int64_t *sid = malloc((nq ? nq : 1) * k * sizeof *sid);
        if (!sid)
            cli_die(EX_OSERR, "out of memory");
        for (size_t i = 0; i < nq * k; i++)
            sid[i] = ids[i] == VS_NO_ID ? -1 : (int64_t)ids[i];
        if (vs_h5_write_results(oo->out, nq, k, sid, dist, &err))
            cli_die_err(&err);
        free(sid);
    } else {
        static char obuf[1 << 16];
        setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
        for (size_t i = 0; i < nq; i++) {
            if (oo->jsonl) {
                printf("{\"query\":%zu,\"ids\":[", i);
                for (size_t j = 0, n = 0; j < k; j++)
                    if (ids[i * k + j] != VS_NO_ID)
                        printf("%s%llu", n++ ? "," : "", (unsigned long long)ids[i * k + j]);
                printf("],\"distances\":[");
                for (size_t j = 0, n = 0; j < k; j++)
                    if (ids[i * k + j] != VS_NO_ID)
                        printf("%s%.9g", n++ ? "," : "", dist[i * k + j]);
                printf("]}\n");
            } else {
                for (size_t j = 0; j < k; j++)
                    if (ids[i * k + j] != VS_NO_ID)
                        printf("%zu\t%zu\t%llu\t%.9g\n", i, j + 1, (unsigned long long)ids[i * k + j], dist[i * k + j]);
            }
        }
        if (fflush(stdout) != 0)
            cli_die(EX_IOERR, "writing results failed");
    }
    if (oo->truth)
        fprintf(stderr, "recall@%zu %.4f\n", k, recall(nq, k, ids, dist, tn, tk, td));
    free(tn);
    free(td);
}

/* --merge: reads partial results and merges them, in any order. */
static int merge_partials(const outopts *oo, char **files, int n)
{
    vf_error err;
    vf_partial_hdr h0 = {0};
    vs_hit *acc = NULL, *tmp = NULL, *one = NULL;
    for (int f = 0; f < n; f++) {
        int fd = strcmp(files[f], "-") ? open(files[f], O_RDONLY) : dup(0);
        if (fd < 0)
            cli_die(EX_NOINPUT, "'%s': cannot open partial result", files[f]);
        vf_partial_hdr h;
        float *d;
        uint64_t *id;
        if (vf_partial_read_fd(fd, &h, &d, &id, files[f], &err))
            cli_die_err(&err);
        close(fd);
        if (f == 0) {
            h0 = h;
            acc = malloc(((size_t)h.nq ? h.nq : 1) * h.k * sizeof *acc);
            tmp = malloc(h.k * sizeof *tmp);
            one = malloc(h.k * sizeof *one);
            if (!acc || !tmp || !one)
                cli_die(EX_OSERR, "out of memory");
            for (size_t i = 0; i < (size_t)h.nq * h.k; i++)
                acc[i] = (vs_hit){INFINITY, 0, VS_NO_ID};
        } else if (h.nq != h0.nq || h.k != h0.k || h.metric != h0.metric || h.generation != h0.generation)
            cli_die(EX_DATAERR, "'%s': does not match '%s' (queries, k, metric or generation differ)", files[f],
                    files[0]);
        for (size_t q = 0; q < h.nq; q++) {
            size_t na = 0, nb = 0;
            while (na < h.k && acc[q * h.k + na].id != VS_NO_ID)
                na++;
            for (size_t j = 0; j < h.k; j++) {
                one[j] = (vs_hit){d[q * h.k + j], 0, id[q * h.k + j]};
                if (id[q * h.k + j] != VS_NO_ID)
                    nb = j + 1;
            }
            vs_hits_merge(acc + q * h.k, na, one, nb, tmp, h.k);
            memcpy(acc + q * h.k, tmp, h.k * sizeof *tmp);
        }
        free(d);
        free(id);
    }
    size_t total = (size_t)h0.nq * h0.k;
    uint64_t *ids = malloc((total ? total : 1) * sizeof *ids);
    float *dist = malloc((total ? total : 1) * sizeof *dist);
    if (!ids || !dist)
        cli_die(EX_OSERR, "out of memory");
    for (size_t i = 0; i < total; i++) {
        ids[i] = acc[i].id;
        dist[i] = acc[i].id == VS_NO_ID ? INFINITY : vs_distance_report((int)h0.metric, acc[i].dist);
    }
    write_results(oo, h0.nq, h0.k, ids, dist);
    if (!cli_quiet)
        fprintf(stderr, "%s: merged %d partial result(s): %u queries, k=%u, generation %llu\n", cli_tool, n, h0.nq,
                h0.k, (unsigned long long)h0.generation);
    free(acc);
    free(tmp);
    free(one);
    free(ids);
    free(dist);
    return 0;
}

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

/* Narrows a snapshot to what this process searches: the segments node
   serves (NULL: every segment), and of those the rows of the partition keys
   asked for (none: every row).  Every path that searches (one process, a
   share, a node, an MPI rank) goes through here, so none answers across
   tenants. */
static int narrow(vs_snapshot *s, const char *node, const uint64_t *keys, size_t nkeys, vf_error *err)
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
        return vf_fail(err, e.code, "--partition: %s", e.msg);
    return 0;
}

#ifdef VS_MPI
#include <mpi.h>

/* Dies on every rank: the message from the rank that failed, then abort. */
static _Noreturn void mpi_die(const vf_error *err)
{
    cli_msg("%s", err->msg);
    MPI_Abort(MPI_COMM_WORLD, cli_status(err->code));
    exit(cli_status(err->code));
}

/* One rank per node: rank 0 reads the queries and picks the snapshot, every
   rank searches its node's segments (or share r of the ranks when the
   collection has no placement for this many nodes), rank 0 merges. */
static int run_mpi(const char *coll, const char *qspec, vs_reader_opts *ro, vs_search_opts *so, const outopts *oo,
                   const uint64_t *pkeys, size_t npkeys)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    vf_error err = {0, ""};
    vs_snapshot *s = NULL;
    float *q = NULL;
    uint64_t hdr[3] = {0, 0, 0}; /* generation, nq, dim */
    double t0 = cli_now();
    /* one rank per node when the placement lists as many nodes as ranks */
    int per_node = 0;
    if (rank == 0) {
        if (vs_snapshot_open(&s, coll, &err))
            mpi_die(&err);
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (narrow(s, per_node ? m->nodes[0] : NULL, pkeys, npkeys, &err))
            mpi_die(&err);
        ro->raw_dim = m->dim;
        size_t nq;
        uint32_t qd;
        if (vs_read_all_f32(qspec, ro, &q, &nq, &qd, &err))
            mpi_die(&err);
        if (nq && qd != m->dim) {
            vf_fail(&err, VF_EDIM, "'%s': row 1: dimension %u does not match the collection's %u", qspec, qd, m->dim);
            mpi_die(&err);
        }
        hdr[0] = m->generation;
        hdr[1] = nq;
        hdr[2] = m->dim;
    }
    MPI_Bcast(hdr, 3, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    size_t nq = (size_t)hdr[1], k = so->k;
    if (rank != 0) {
        if (vs_snapshot_open_at(&s, coll, hdr[0], &err))
            mpi_die(&err);
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (narrow(s, per_node ? m->nodes[rank] : NULL, pkeys, npkeys, &err))
            mpi_die(&err);
        q = malloc((nq ? nq : 1) * hdr[2] * sizeof *q);
        if (!q)
            cli_die(EX_OSERR, "out of memory");
    }
    if (nq)
        MPI_Bcast(q, (int)(nq * hdr[2]), MPI_FLOAT, 0, MPI_COMM_WORLD);
    const vf_manifest *m = vs_snapshot_manifest(s);
    int share = per_node ? 0 : rank, nshares = per_node ? 1 : size;
    vs_hit *h = malloc((nq ? nq : 1) * k * sizeof *h);
    vs_hit *all = rank == 0 ? malloc((size_t)size * (nq ? nq : 1) * k * sizeof *all) : NULL;
    if (!h || (rank == 0 && !all))
        cli_die(EX_OSERR, "out of memory");
    if (vs_search_share(s, q, nq, so, share, nshares, h, &err))
        mpi_die(&err);
    /* vs_hit is 16 plain bytes: gather them as such */
    MPI_Gather(h, (int)(nq * k * sizeof *h), MPI_BYTE, all, (int)(nq * k * sizeof *h), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        uint64_t *ids = malloc((nq ? nq : 1) * k * sizeof *ids);
        float *dist = malloc((nq ? nq : 1) * k * sizeof *dist);
        vs_hit *acc = malloc(k * sizeof *acc), *tmp = malloc(k * sizeof *tmp);
        if (!ids || !dist || !acc || !tmp)
            cli_die(EX_OSERR, "out of memory");
        for (size_t qi = 0; qi < nq; qi++) {
            size_t na = 0;
            for (int r = 0; r < size; r++) {
                const vs_hit *b = all + ((size_t)r * nq + qi) * k;
                size_t nb = 0;
                while (nb < k && b[nb].id != VS_NO_ID)
                    nb++;
                if (r == 0)
                    memcpy(acc, b, k * sizeof *acc);
                else {
                    vs_hits_merge(acc, na, b, nb, tmp, k);
                    memcpy(acc, tmp, k * sizeof *acc);
                }
                na = 0;
                while (na < k && acc[na].id != VS_NO_ID)
                    na++;
            }
            for (size_t j = 0; j < k; j++) {
                ids[qi * k + j] = acc[j].id;
                dist[qi * k + j] = acc[j].id == VS_NO_ID ? INFINITY : vs_distance_report(m->metric, acc[j].dist);
            }
        }
        write_results(oo, nq, k, ids, dist);
        if (!cli_quiet)
            fprintf(stderr, "%s: %zu queries, k=%zu, %d ranks%s, generation %llu, total %.3f s\n", cli_tool, nq, k,
                    size, per_node ? " (one per node)" : "", (unsigned long long)hdr[0],
                    cli_now() - t0);
        free(ids);
        free(dist);
        free(acc);
        free(tmp);
    }
    free(h);
    free(all);
    free(q);
    vs_snapshot_close(s);
    return 0;
}
#endif

int main(int argc, char **argv)
{
#ifdef VS_MPI
    cli_init("vec-query-mpi", argv); /* may re-execute, before MPI starts */
    MPI_Init(&argc, &argv);
#else
    cli_init("vec-query", argv);
#endif
    enum { O_FORMAT = 256, O_TRUTH, O_EF, O_NPROBE, O_REFINE, O_SHARE, O_NODE, O_PARTIAL, O_MERGE, O_PARTITION };
    static const struct option lo[] = {
        {"jobs", required_argument, 0, 'j'},   {"threads", required_argument, 0, 't'},
        {"input-format", required_argument, 0, 'F'}, {"dim", required_argument, 0, 'd'},
        {"format", required_argument, 0, O_FORMAT}, {"output", required_argument, 0, 'o'},
        {"truth", required_argument, 0, O_TRUTH}, {"quiet", no_argument, 0, 'q'},
        {"ef", required_argument, 0, O_EF},    {"nprobe", required_argument, 0, O_NPROBE},
        {"refine", required_argument, 0, O_REFINE}, {"share", required_argument, 0, O_SHARE},
        {"node", required_argument, 0, O_NODE}, {"partial", required_argument, 0, O_PARTIAL},
        {"merge", no_argument, 0, O_MERGE}, {"partition", required_argument, 0, O_PARTITION},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    vs_search_opts so = {0};
    vs_reader_opts ro = {0};
    outopts oo = {0};
    const char *node = NULL, *partial = NULL;
    int share = 0, nshares = 0, merge = 0, c;
    uint64_t *pkeys = calloc((size_t)argc, sizeof *pkeys);
    size_t npkeys = 0;
    so.k = 10;
    while ((c = getopt_long(argc, argv, "k:j:t:F:d:o:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'k': so.k = (size_t)cli_u64("-k", optarg, 1, VS_K_MAX); break;
        case 'j': so.jobs = (int)cli_u64("--jobs", optarg, 1, 1024); break;
        case 't': so.threads = (int)cli_u64("--threads", optarg, 1, 1024); break;
        case 'F':
            if (vs_format_parse(optarg) < 0)
                cli_usage("unknown input format '%s'", optarg);
            ro.format = (vs_format)vs_format_parse(optarg);
            break;
        case 'd': ro.dim = (uint32_t)cli_u64("--dim", optarg, 1, VF_DIM_MAX); break;
        case O_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl"))
                cli_usage("unknown output format '%s' (tsv or jsonl)", optarg);
            oo.jsonl = strcmp(optarg, "jsonl") == 0;
            break;
        case 'o': oo.out = optarg; break;
        case O_TRUTH: oo.truth = optarg; break;
        case O_EF: so.ef = (uint32_t)cli_u64("--ef", optarg, 1, 1000000); break;
        case O_NPROBE: so.nprobe = (uint32_t)cli_u64("--nprobe", optarg, 1, 1000000); break;
        case O_REFINE: so.refine = (uint32_t)cli_u64("--refine", optarg, 1, 10000); break;
        case O_SHARE: {
            unsigned i, n;
            char extra;
            /* digits only, at most 7 each: %u takes a sign and wraps past 2^32 */
            size_t di = strspn(optarg, "0123456789"), dn = strspn(optarg + di + (optarg[di] == '/'), "0123456789");
            if (di > 7 || dn > 7 || sscanf(optarg, "%u/%u%c", &i, &n, &extra) != 2 || n == 0 || i >= n || n > 1000000)
                cli_usage("--share takes I/N with 0 <= I < N, not '%s'", optarg);
            share = (int)i;
            nshares = (int)n;
            break;
        }
        case O_NODE: node = optarg; break;
        case O_PARTIAL: partial = optarg; break;
        case O_MERGE: merge = 1; break;
        case O_PARTITION: pkeys[npkeys++] = cli_u64("--partition", optarg, 0, UINT64_MAX); break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); free(pkeys); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (oo.out && oo.jsonl)
        cli_usage("--output and --format exclude each other");
    if (partial && (oo.out || oo.jsonl || oo.truth))
        cli_usage("--partial writes a partial result: --output, --format and --truth go with the merge");
    if (merge) {
        if (npkeys)
            cli_usage("--partition applies where the partial results are made, not to --merge");
        if (partial || node || nshares || so.jobs > 1)
            cli_usage("--merge takes only partial results and output options");
        if (optind >= argc)
            cli_usage("--merge needs at least one PARTIAL");
        free(pkeys);
        return merge_partials(&oo, argv + optind, argc - optind);
    }
    if (argc - optind != 2)
        cli_usage(argc - optind < 2 ? "missing COLL or QUERIES" : "too many arguments");
    if (node && nshares)
        cli_usage("--node and --share exclude each other");
#ifdef VS_MPI
    if (node || nshares || partial || so.jobs > 1)
        cli_usage("under MPI each rank serves one node: drop --node, --share, --partial and -j");
    int mrc = run_mpi(argv[optind], argv[optind + 1], &ro, &so, &oo, pkeys, npkeys);
    MPI_Finalize();
    return mrc;
#endif
    if ((node || nshares) && so.jobs > 1)
        cli_usage("--node and --share run one share: drop -j");
    const char *coll = argv[optind], *qspec = argv[optind + 1];
    vf_error err;
    double t0 = cli_now();
    vs_snapshot *s;
    if (vs_snapshot_open(&s, coll, &err))
        cli_die_err(&err);
    const vf_manifest *m = vs_snapshot_manifest(s);
    if (narrow(s, node, pkeys, npkeys, &err))
        cli_die_err(&err);
    free(pkeys);
    ro.raw_dim = m->dim; /* raw queries have the collection's dimension unless -d says */
    float *q;
    size_t nq;
    uint32_t qd;
    if (vs_read_all_f32(qspec, &ro, &q, &nq, &qd, &err))
        cli_die_err(&err);
    if (nq && qd != m->dim)
        cli_die(EX_DATAERR, "'%s': row 1: dimension %u does not match the collection's %u", qspec, qd, m->dim);
    double t1 = cli_now();
    if (partial) {
        /* one share, internal distances, in the format of SPEC.md section 7 */
        vs_hit *h = malloc((nq ? nq : 1) * so.k * sizeof *h);
        float *d = malloc((nq ? nq : 1) * so.k * sizeof *d);
        uint64_t *id = malloc((nq ? nq : 1) * so.k * sizeof *id);
        if (!h || !d || !id)
            cli_die(EX_OSERR, "out of memory");
        if (vs_search_share(s, q, nq, &so, nshares ? share : 0, nshares ? nshares : 1, h, &err))
            cli_die_err(&err);
        for (size_t i = 0; i < nq * so.k; i++) {
            d[i] = h[i].dist;
            id[i] = h[i].id;
        }
        vf_partial_hdr hd = {(uint32_t)m->metric, (uint32_t)nq, (uint32_t)so.k, m->generation};
        int fd = strcmp(partial, "-") ? open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0644) : dup(1);
        if (fd < 0)
            cli_die(EX_CANTCREAT, "'%s': cannot create: %s", partial, strerror(errno));
        if (vf_partial_write_fd(fd, &hd, d, id, partial, &err))
            cli_die_err(&err);
        if (close(fd) != 0)
            cli_die(EX_IOERR, "'%s': write failed", partial);
        free(h);
        free(d);
        free(id);
    } else {
        uint64_t *ids = malloc((nq ? nq : 1) * so.k * sizeof *ids);
        float *dist = malloc((nq ? nq : 1) * so.k * sizeof *dist);
        if (!ids || !dist)
            cli_die(EX_OSERR, "out of memory");
        if (nshares) {
            vs_hit *h = malloc((nq ? nq : 1) * so.k * sizeof *h);
            if (!h || vs_search_share(s, q, nq, &so, share, nshares, h, &err))
                cli_die_err(&err);
            for (size_t i = 0; i < nq * so.k; i++) {
                ids[i] = h[i].id;
                dist[i] = h[i].id == VS_NO_ID ? INFINITY : vs_distance_report(m->metric, h[i].dist);
            }
            free(h);
        } else if (vs_search(s, q, nq, &so, ids, dist, &err))
            cli_die_err(&err);
        write_results(&oo, nq, so.k, ids, dist);
        free(ids);
        free(dist);
    }
    double t2 = cli_now();
    if (!cli_quiet)
        fprintf(stderr, "%s: %zu queries, k=%zu, %llu rows, search %.3f s (%.0f queries/s), total %.3f s\n", cli_tool,
                nq, so.k, (unsigned long long)vs_snapshot_rows(s), t2 - t1, t2 > t1 ? (double)nq / (t2 - t1) : 0.0,
                cli_now() - t0);
    free(q);
    vs_snapshot_close(s);
    return 0;
}
