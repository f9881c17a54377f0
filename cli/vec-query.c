/*
 * vec-query - exact k-nearest-neighbour search of a collection.  Reads the
 * queries, searches one snapshot (growing and sealed segments together,
 * deleted rows never returned), and writes TSV, JSON lines or an HDF5 file.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-query [OPTIONS] COLL QUERIES\n"
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
    "      --refine R       IVF_PQ, IVF_SQ8: re-rank R*k candidates exactly\n"
    "  -F, --input-format FMT  query format (default: from the file name)\n"
    "  -d, --dim N          query dimension (needed for raw input)\n"
    "      --format FMT     output: tsv (default) or jsonl\n"
    "  -o, --output FILE.h5 write datasets neighbors and distances instead\n"
    "      --truth SPEC     true neighbours (FILE.h5:/neighbors, ivecs, ...):\n"
    "                       print recall@k on stderr\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-query -k 10 coll queries.fvecs\n"
    "  vec-query -k 10 -o result.h5 --truth data.h5:/neighbors coll data.h5:/test\n"
    "  printf '0.1,0.2,0.3\\n' | vec-query --format jsonl coll -\n";

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

int main(int argc, char **argv)
{
    cli_init("vec-query", argv);
    enum { O_FORMAT = 256, O_TRUTH, O_EF, O_NPROBE, O_REFINE };
    static const struct option lo[] = {
        {"jobs", required_argument, 0, 'j'},   {"threads", required_argument, 0, 't'},
        {"input-format", required_argument, 0, 'F'}, {"dim", required_argument, 0, 'd'},
        {"format", required_argument, 0, O_FORMAT}, {"output", required_argument, 0, 'o'},
        {"truth", required_argument, 0, O_TRUTH}, {"quiet", no_argument, 0, 'q'},
        {"ef", required_argument, 0, O_EF},    {"nprobe", required_argument, 0, O_NPROBE},
        {"refine", required_argument, 0, O_REFINE},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    vs_search_opts so = {0};
    vs_reader_opts ro = {0};
    const char *out = NULL, *truth = NULL;
    int jsonl = 0, c;
    so.k = 10;
    while ((c = getopt_long(argc, argv, "k:j:t:F:d:o:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'k': so.k = (size_t)cli_u64("-k", optarg, 1, 100000); break;
        case 'j': so.jobs = (int)cli_u64("--jobs", optarg, 1, 1024); break;
        case 't': so.threads = (int)cli_u64("--threads", optarg, 1, 1024); break;
        case 'F':
            if (vs_format_parse(optarg) < 0)
                cli_usage("unknown input format '%s'", optarg);
            ro.format = (vs_format)vs_format_parse(optarg);
            break;
        case 'd': ro.dim = (uint32_t)cli_u64("--dim", optarg, 1, VS_DIM_MAX); break;
        case O_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl"))
                cli_usage("unknown output format '%s' (tsv or jsonl)", optarg);
            jsonl = strcmp(optarg, "jsonl") == 0;
            break;
        case 'o': out = optarg; break;
        case O_TRUTH: truth = optarg; break;
        case O_EF: so.ef = (uint32_t)cli_u64("--ef", optarg, 1, 1000000); break;
        case O_NPROBE: so.nprobe = (uint32_t)cli_u64("--nprobe", optarg, 1, 1000000); break;
        case O_REFINE: so.refine = (uint32_t)cli_u64("--refine", optarg, 1, 10000); break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (argc - optind != 2)
        cli_usage(argc - optind < 2 ? "missing COLL or QUERIES" : "too many arguments");
    if (out && jsonl)
        cli_usage("--output and --format exclude each other");
    const char *coll = argv[optind], *qspec = argv[optind + 1];
    vf_error err;
    double t0 = cli_now();
    vs_snapshot *s;
    if (vs_snapshot_open(&s, coll, &err))
        cli_die_err(&err);
    const vf_manifest *m = vs_snapshot_manifest(s);
    ro.raw_dim = m->dim; /* raw queries have the collection's dimension unless -d says */
    float *q;
    size_t nq;
    uint32_t qd;
    if (vs_read_all_f32(qspec, &ro, &q, &nq, &qd, &err))
        cli_die_err(&err);
    if (nq && qd != m->dim)
        cli_die(EX_DATAERR, "'%s': row 1: dimension %u does not match the collection's %u", qspec, qd, m->dim);
    int64_t *tn = NULL;
    float *td = NULL;
    size_t tq = 0;
    uint32_t tk = 0;
    if (truth) {
        vs_reader_opts to = {0};
        if (vs_read_all_i64(truth, &to, &tn, &tq, &tk, &err))
            cli_die_err(&err);
        if (tq != nq || tk < so.k)
            cli_die(EX_DATAERR, "'%s': has %zu rows of %u neighbours; %zu rows of at least %zu needed", truth, tq, tk,
                    nq, so.k);
        /* ann-benchmarks files keep the true distances beside the neighbours */
        const char *slash = strrchr(truth, '/');
        const char *colon = strstr(truth, ":/");
        if (colon && slash && slash > colon) {
            char spec[4096];
            snprintf(spec, sizeof spec, "%.*sdistances", (int)(slash - truth + 1), truth);
            size_t dq;
            uint32_t dk;
            if (vs_read_all_f32(spec, &to, &td, &dq, &dk, NULL) != 0 || dq != tq || dk != tk) {
                free(td);
                td = NULL;
            }
        }
    }
    uint64_t *ids = malloc((nq ? nq : 1) * so.k * sizeof *ids);
    float *dist = malloc((nq ? nq : 1) * so.k * sizeof *dist);
    if (!ids || !dist)
        cli_die(EX_OSERR, "out of memory");
    double t1 = cli_now();
    if (vs_search(s, q, nq, &so, ids, dist, &err))
        cli_die_err(&err);
    double t2 = cli_now();
    if (out) {
        int64_t *sid = malloc((nq ? nq : 1) * so.k * sizeof *sid);
        if (!sid)
            cli_die(EX_OSERR, "out of memory");
        for (size_t i = 0; i < nq * so.k; i++)
            sid[i] = ids[i] == VS_NO_ID ? -1 : (int64_t)ids[i];
        if (vs_h5_write_results(out, nq, so.k, sid, dist, &err))
            cli_die_err(&err);
        free(sid);
    } else {
        static char obuf[1 << 16];
        setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
        for (size_t i = 0; i < nq; i++) {
            if (jsonl) {
                printf("{\"query\":%zu,\"ids\":[", i);
                for (size_t j = 0, n = 0; j < so.k; j++)
                    if (ids[i * so.k + j] != VS_NO_ID)
                        printf("%s%llu", n++ ? "," : "", (unsigned long long)ids[i * so.k + j]);
                printf("],\"distances\":[");
                for (size_t j = 0, n = 0; j < so.k; j++)
                    if (ids[i * so.k + j] != VS_NO_ID)
                        printf("%s%.9g", n++ ? "," : "", dist[i * so.k + j]);
                printf("]}\n");
            } else {
                for (size_t j = 0; j < so.k; j++)
                    if (ids[i * so.k + j] != VS_NO_ID)
                        printf("%zu\t%zu\t%llu\t%.9g\n", i, j + 1, (unsigned long long)ids[i * so.k + j],
                               dist[i * so.k + j]);
            }
        }
        if (fflush(stdout) != 0)
            cli_die(EX_IOERR, "writing results failed");
    }
    if (truth)
        fprintf(stderr, "recall@%zu %.4f\n", so.k, recall(nq, so.k, ids, dist, tn, tk, td));
    if (!cli_quiet)
        fprintf(stderr, "%s: %zu queries, k=%zu, %llu rows, search %.3f s (%.0f queries/s), total %.3f s\n", cli_tool,
                nq, so.k, (unsigned long long)vs_snapshot_rows(s), t2 - t1, t2 > t1 ? (double)nq / (t2 - t1) : 0.0,
                cli_now() - t0);
    free(ids);
    free(dist);
    free(q);
    free(tn);
    free(td);
    vs_snapshot_close(s);
    return 0;
}
