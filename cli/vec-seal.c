/*
 * vec-seal - turn growing segments into sealed FLAT segment files and
 * remove files no snapshot needs any more.  Safe from cron: one maintainer
 * at a time, the commit lock held only for the commit, exit 0 when there is
 * nothing to do.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-seal [OPTIONS] COLL\n"
    "       vec-seal --set KEY=VALUE [--set KEY=VALUE...] COLL\n"
    "Seal the growing segments of collection COLL that pass the seal thresholds\n"
    "(settings seal-rows, seal-idle) into immutable segment files carrying an\n"
    "index, compact sealed segments that are small or have too many deleted rows\n"
    "(settings segment-rows, compact-deleted), commit atomically, and remove\n"
    "files no reader can still need.  With --set, change collection settings.\n"
    "\n"
    "  -a, --all            seal every growing segment that has rows\n"
    "  -n, --dry-run        print the plan (TSV: source, sealed, shard, rows, index,\n"
    "                       action), change nothing\n"
    "      --header         the plan's first line names its columns\n"
    "      --index TYPE     flat, hnsw, ivf_flat, ivf_pq, ivf_sq8 or auto\n"
    "                       (default: setting index)\n"
    "      --hnsw-m N       HNSW links per node (default: setting hnsw-m, 16)\n"
    "      --hnsw-ef-construction N  HNSW build candidate list (default 200)\n"
    "      --ivf-nlist N    IVF lists (default: about 4*sqrt(rows))\n"
    "      --pq-m N         IVF_PQ sub-quantizers, a divisor of the dimension\n"
    "      --index-seed N   seed of the index build (default: setting index-seed)\n"
    "                       (each is the setting of that name, for this run)\n"
    "  -j, --jobs N         build N segments at once (default: one per core, the\n"
    "                       cores shared among them)\n"
    "      --set KEY=VALUE  change a collection setting (repeatable), nothing else\n"
    "      --grace SECONDS  keep unreferenced files this long (default: setting grace)\n"
    "      --wait           wait for a running vec-seal instead of exiting 75\n"
    "                       (with -q, that exit is silent)\n"
    "  -q, --quiet          no summary line\n"
    "  -v, --verbose        also a line per segment sealed or compacted\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n";

static const char examples[] =
    "\n"
    "Examples:\n"
    "  vec-seal --all coll\n"
    "  vec-seal --all --index hnsw --hnsw-m 16 --hnsw-ef-construction 200 coll\n"
    "  vec-seal --set index=ivf_pq --set pq-m=16 coll\n"
    "  vec-seal --dry-run coll\n"
    "  */10 * * * *  vec-seal -q /data/coll     (crontab: silent unless an error)\n";

/* The settings, from the table that checks them (the man page must agree). */
static void print_settings(void)
{
    size_t n;
    const vs_setting_def *t = vs_settings_table(&n);
    printf("\nSettings (--set KEY=VALUE), each with its default and range:\n");
    for (size_t i = 0; i < n; i++) {
        char def[32], range[64];
        vs_setting_format(&t[i], t[i].def, def, sizeof def);
        vs_setting_range(&t[i], range, sizeof range);
        printf("  %s=%s (%s)\n      %s\n", t[i].key, def, range, t[i].help);
    }
}

/* vs_seal_opts.progress: rows built so far (stderr, on a terminal only) */
static void seal_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    cli_progress_work("sealing", done, total, "rows");
}

int main(int argc, char **argv)
{
    cli_init("vec-seal", argv);
    enum { O_GRACE = 256, O_WAIT, O_INDEX, O_M, O_EFC, O_NLIST, O_PQM, O_SEED, O_SET, O_HEADER };
    static const struct option lo[] = {
        {"all", no_argument, 0, 'a'},   {"dry-run", no_argument, 0, 'n'}, {"grace", required_argument, 0, O_GRACE},
        {"wait", no_argument, 0, O_WAIT}, {"index", required_argument, 0, O_INDEX},
        {"hnsw-m", required_argument, 0, O_M}, {"hnsw-ef-construction", required_argument, 0, O_EFC},
        {"ivf-nlist", required_argument, 0, O_NLIST}, {"pq-m", required_argument, 0, O_PQM},
        {"index-seed", required_argument, 0, O_SEED}, {"header", no_argument, 0, O_HEADER},
        {"verbose", no_argument, 0, 'v'},
        /* the spellings before the options took their settings' names, kept for scripts */
        {"M", required_argument, 0, O_M}, {"ef-construction", required_argument, 0, O_EFC},
        {"nlist", required_argument, 0, O_NLIST}, {"seed", required_argument, 0, O_SEED},
        {"jobs", required_argument, 0, 'j'}, {"set", required_argument, 0, O_SET},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    vs_seal_opts o = {0};
    o.grace = -1;
    const char **sets = calloc((size_t)argc, sizeof *sets);
    size_t nsets = 0;
    int c, header = 0;
    int li = -1;
    char opt[32]; /* a long option as typed (--hnsw-m or its old spelling --M), for messages */
    while ((c = getopt_long(argc, argv, "anj:qvhV", lo, &li)) != -1) {
        snprintf(opt, sizeof opt, "--%s", li >= 0 ? lo[li].name : "");
        li = -1;
        switch (c) {
        case 'a': o.all = 1; break;
        case 'n': o.dry_run = 1; break;
        case O_INDEX:
            if (vs_index_type_parse(optarg) < 0)
                cli_usage("unknown index type '%s' (flat, hnsw, ivf_flat, ivf_pq, ivf_sq8, auto)", optarg);
            o.index = optarg;
            break;
        case O_M: o.M = (uint32_t)cli_u64(opt, optarg, VS_HNSW_M_MIN, VS_HNSW_M_MAX); break;
        case O_EFC: o.ef_construction = (uint32_t)cli_u64(opt, optarg, VS_HNSW_EFC_MIN, VS_HNSW_EFC_MAX); break;
        case O_NLIST: o.nlist = (uint32_t)cli_u64(opt, optarg, VS_IVF_NLIST_MIN, VS_IVF_NLIST_MAX); break;
        case O_PQM: o.pq_m = (uint32_t)cli_u64("--pq-m", optarg, VS_PQ_M_MIN, VS_PQ_M_MAX); break;
        case O_SEED: o.seed = cli_u64(opt, optarg, 1, UINT64_MAX); break;
        case 'j': o.jobs = (int)cli_u64("--jobs", optarg, 1, 256); break;
        case O_SET: sets[nsets++] = optarg; break;
        case O_GRACE: {
            const vs_setting_def *g = vs_setting_find("grace"); /* the setting's range */
            o.grace = (long)cli_u64("--grace", optarg, g->min, g->max);
            break;
        }
        case O_WAIT: o.wait = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'v': cli_verbose = 1; break;
        case O_HEADER: header = 1; break;
        case 'h':
            fputs(usage, stdout);
            print_settings();
            fputs(examples, stdout);
            free(sets);
            return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing COLL" : "too many arguments");
    if (header && !o.dry_run)
        cli_usage("--header goes with --dry-run");
    const char *coll = argv[optind];
    if (nsets) {
        if (o.all || o.dry_run || o.index || o.M || o.ef_construction || o.nlist || o.pq_m || o.seed || o.jobs)
            cli_usage("--set changes settings only; run vec-seal again to seal");
        uint64_t gen;
        vf_error serr;
        if (vs_settings_set(coll, sets, nsets, &gen, &serr))
            cli_die_err(&serr);
        /* a value equal to the current one commits nothing: "now", not "changed" */
        if (!cli_quiet) {
            fprintf(stderr, "%s: '%s' now has", cli_tool, coll);
            for (size_t i = 0; i < nsets; i++)
                fprintf(stderr, " %s", sets[i]);
            fprintf(stderr, ", generation %llu\n", (unsigned long long)gen);
        }
        free(sets);
        return 0;
    }
    free(sets);
    double t0 = cli_now();
    if (!o.dry_run) {
        cli_progress("sealing '%s'", coll);
        o.progress = seal_progress;
        cli_progress_start();
    }
    vs_seal_report rep;
    vf_error err;
    int rc = vs_seal(coll, &o, &rep, &err);
    /* a run still going is nothing to report from cron: with -q, exit 75 without a word */
    if (rc == VF_EBUSY && cli_quiet)
        exit(EX_TEMPFAIL);
    if (rc)
        cli_die_err(&err);
    cli_progress_done();
    uint64_t rows = 0, kept = 0, bytes = 0;
    if (o.dry_run && header)
        printf("source\tsealed\tshard\trows\tindex\taction\n");
    for (size_t i = 0; i < rep.nplans; i++) {
        const vs_seal_plan *p = &rep.plans[i];
        if (!o.dry_run && cli_verbose)
            cli_msg("%s: %s -> %s, shard %u, %llu rows, index %s", p->action, p->growing, p->sealed, p->shard,
                    (unsigned long long)p->rows, p->index);
        if (o.dry_run)
            printf("%s\t%s\t%u\t%llu\t%s\t%s\n", p->growing, p->sealed, p->shard, (unsigned long long)p->rows,
                   p->index, p->action);
        rows += p->rows;
        kept += p->kept;
        bytes += p->bytes;
    }
    if (!cli_quiet) {
        double dt = cli_now() - t0;
        if (o.dry_run)
        {
            size_t compact = 0;
            for (size_t i = 0; i < rep.nplans; i++)
                compact += rep.plans[i].action[0] == 'c';
            fprintf(stderr, "%s: would seal %zu growing segment(s) and compact %zu, %llu rows (dry run)\n",
                    cli_tool, rep.nplans - compact, compact, (unsigned long long)rows);
        }
        else if (rep.nplans == 0)
            fprintf(stderr, "%s: nothing to seal in '%s'; removed %ld unused file(s)\n", cli_tool, coll, rep.removed);
        else
            fprintf(stderr,
                    "%s: sealed %zu segment(s), %llu rows (%llu deleted rows purged), index %s, %.1f MB in %.2f s, "
                    "generation %llu; removed %ld unused file(s)\n",
                    cli_tool, rep.nplans, (unsigned long long)kept, (unsigned long long)(rows - kept),
                    rep.plans[0].index, (double)bytes / 1e6, dt, (unsigned long long)rep.generation, rep.removed);
    }
    vs_seal_report_release(&rep);
    return 0;
}
