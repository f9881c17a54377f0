/*
 * vec-shard - list a collection's shards, or change them online: raise the
 * shard count, split one shard, split every shard past the split-rows
 * setting, or give one partition key a shard of its own.  Every change
 * rewrites only the shard it splits and commits atomically.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-shard [OPTIONS] COLL\n"
    "List the shards of collection COLL (TSV: shard, depth, value, key, rows,\n"
    "deleted, growing, sealed, bytes, nodes, indexes), or change them online.\n"
    "Bytes are in KiB, MiB or GiB when standard output is a terminal; indexes\n"
    "counts the sealed segments of each index type (hnsw:2,flat:1).\n"
    "\n"
    "      --format FMT     listing: tsv (default) or jsonl\n"
    "      --header         the TSV listing's first line names its columns\n"
    "  -s, --shards N       split shards, shallowest first, until there are N\n"
    "      --split ID       split shard ID in two by one more hash bit\n"
    "      --auto           split every shard with more rows than setting split-rows\n"
    "      --isolate KEY    give partition key KEY a shard of its own\n"
    "  -n, --dry-run        say what the first split would be, change nothing\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-shard coll\n"
    "  vec-shard --shards 8 coll\n"
    "  vec-shard --isolate 42 coll\n";

/* The index types of the sealed segments of every shard, "hnsw:2,flat:1" (or "-"), into
   idx[shard index], from the counts vs_shard_list took in its one snapshot. */
static char (*shard_indexes(const vs_shard_info *v, size_t n))[128]
{
    char(*idx)[128] = calloc(n + 1, sizeof *idx);
    if (!idx)
        cli_die(EX_OSERR, "out of memory");
    /* the listing's order: flat first, then the indexes */
    static const int types[] = {VS_INDEX_FLAT, VS_INDEX_HNSW, VS_INDEX_IVF_FLAT, VS_INDEX_IVF_PQ, VS_INDEX_IVF_SQ8};
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            if (v[i].nindex[types[t]])
                len += (size_t)snprintf(idx[i] + len, sizeof idx[i] - len, "%s%s:%zu", len ? "," : "",
                                        vs_index_type_name(types[t]), v[i].nindex[types[t]]);
        if (!len)
            strcpy(idx[i], "-");
    }
    return idx;
}

/* vs_shard_opts.progress: rows rewritten so far (stderr, on a terminal only) */
static void shard_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    cli_progress_work("splitting", done, total, "rows");
}

int main(int argc, char **argv)
{
    cli_init("vec-shard", argv);
    enum { O_FORMAT = 256, O_SPLIT, O_AUTO, O_ISOLATE, O_HEADER };
    static const struct option lo[] = {
        {"format", required_argument, 0, O_FORMAT}, {"shards", required_argument, 0, 's'},
        {"split", required_argument, 0, O_SPLIT},   {"auto", no_argument, 0, O_AUTO},
        {"isolate", required_argument, 0, O_ISOLATE}, {"dry-run", no_argument, 0, 'n'},
        {"header", no_argument, 0, O_HEADER},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},           {0, 0, 0, 0}};
    vs_shard_opts o = {0};
    o.split = -1;
    int jsonl = 0, changes = 0, header = 0, c;
    while ((c = getopt_long(argc, argv, "s:nqhV", lo, NULL)) != -1) {
        switch (c) {
        case O_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "jsonl"))
                cli_usage("unknown format '%s' (tsv or jsonl)", optarg);
            jsonl = !strcmp(optarg, "jsonl");
            break;
        case 's': o.shards = (uint32_t)cli_u64("--shards", optarg, 1, VS_SHARDS_MAX); changes++; break;
        case O_SPLIT: o.split = (long)cli_u64("--split", optarg, 0, UINT32_MAX); changes++; break;
        case O_AUTO: o.auto_split = 1; changes++; break;
        case O_ISOLATE: o.isolate = 1; o.key = cli_u64("--isolate", optarg, 0, UINT64_MAX); changes++; break;
        case 'n': o.dry_run = 1; break;
        case O_HEADER: header = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing COLL" : "too many arguments");
    if (changes > 1)
        cli_usage("give one change: --shards, --split, --auto or --isolate");
    if (header && (changes || jsonl))
        cli_usage("--header goes with the TSV listing");
    if (o.dry_run && !changes)
        cli_usage("--dry-run goes with a change");
    const char *coll = argv[optind];
    vf_error err;
    if (!changes) {
        vs_shard_info *v;
        size_t n;
        if (vs_shard_list(coll, &v, &n, &err))
            cli_die_err(&err);
        char(*idx)[128] = shard_indexes(v, n);
        /* TSV, as every tool writes it: data only, the column names with --header */
        if (!jsonl && header)
            printf("shard\tdepth\tvalue\tkey\trows\tdeleted\tgrowing\tsealed\tbytes\tnodes\tindexes\n");
        for (size_t i = 0; i < n; i++) {
            const vs_shard_info *x = &v[i];
            char key[24] = "-";
            if (x->has_key)
                snprintf(key, sizeof key, "%llu", (unsigned long long)x->key);
            if (jsonl) {
                /* through Jansson, which escapes: a node name may hold a quote or a backslash */
                json_t *o = json_pack("{s:I,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:s,s:s}", "shard", (json_int_t)x->id,
                                      "depth", (json_int_t)x->depth, "value", (json_int_t)x->value, "key",
                                      !x->has_key ? json_null()
                                      : x->key > (uint64_t)INT64_MAX ? json_string(key) /* beyond json_int_t */
                                                                     : json_integer((json_int_t)x->key), "rows",
                                      (json_int_t)x->rows, "deleted", (json_int_t)x->deleted, "growing",
                                      (json_int_t)x->ngrowing, "sealed", (json_int_t)x->nsealed, "bytes",
                                      (json_int_t)x->bytes, "nodes", x->nodes, "indexes", idx[i]);
                if (!o)
                    cli_die(EX_DATAERR, "shard %u: a node name is not UTF-8, which JSON cannot hold", x->id);
                json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(o);
            } else {
                char sz[32];
                printf("%u\t%u\t%llu\t%s\t%llu\t%llu\t%zu\t%zu\t%s\t%s\t%s\n", x->id, x->depth,
                       (unsigned long long)x->value, key, (unsigned long long)x->rows,
                       (unsigned long long)x->deleted, x->ngrowing, x->nsealed, cli_size(sz, sizeof sz, x->bytes),
                       x->nodes[0] ? x->nodes : "-", idx[i]);
            }
        }
        free(idx);
        free(v);
        return 0;
    }
    double t0 = cli_now();
    vs_shard_report rep;
    o.progress = shard_progress;
    cli_progress_start();
    if (vs_shard_change(coll, &o, &rep, &err))
        cli_die_err(&err);
    cli_progress_done();
    if (!cli_quiet) {
        if (o.dry_run)
            fprintf(stderr, "%s: %s (dry run)\n", cli_tool,
                    rep.splits ? "would split" : "nothing to split");
        if (o.dry_run && rep.splits)
            printf("%ld\n", rep.planned);
        else if (!o.dry_run && !rep.splits)
            fprintf(stderr, "%s: nothing to split: '%s' unchanged\n", cli_tool, coll);
        else if (!o.dry_run)
            fprintf(stderr, "%s: split %zu shard(s), rewrote %llu rows (%.1f MB) in %.2f s, generation %llu\n",
                    cli_tool, rep.splits, (unsigned long long)rep.rows_moved, (double)rep.bytes_written / 1e6,
                    cli_now() - t0, (unsigned long long)rep.generation);
    }
    return 0;
}
