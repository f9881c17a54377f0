/*
 * vec-seal - turn growing segments into sealed FLAT segment files and
 * remove files no snapshot needs any more.  Safe from cron: one maintainer
 * at a time, the commit lock held only for the commit, exit 0 when there is
 * nothing to do.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-seal [OPTIONS] COLL\n"
    "Seal the growing segments of collection COLL that pass the seal thresholds\n"
    "(collection settings seal-rows and seal-idle) into immutable FLAT segment\n"
    "files, commit them atomically, and remove files no reader can still need.\n"
    "\n"
    "  -a, --all            seal every growing segment that has rows\n"
    "  -n, --dry-run        print the plan (TSV: growing, sealed, shard, rows), change nothing\n"
    "      --grace SECONDS  keep unreferenced files this long (default: setting grace)\n"
    "      --wait           wait for a running vec-seal instead of exiting 75\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-seal --all coll\n"
    "  vec-seal --dry-run coll\n"
    "  */10 * * * *  vec-seal -q /data/coll     (crontab)\n";

int main(int argc, char **argv)
{
    cli_init("vec-seal", argv);
    enum { O_GRACE = 256, O_WAIT };
    static const struct option lo[] = {
        {"all", no_argument, 0, 'a'},   {"dry-run", no_argument, 0, 'n'}, {"grace", required_argument, 0, O_GRACE},
        {"wait", no_argument, 0, O_WAIT}, {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    vs_seal_opts o = {0};
    o.grace = -1;
    int c;
    while ((c = getopt_long(argc, argv, "anqhV", lo, NULL)) != -1) {
        switch (c) {
        case 'a': o.all = 1; break;
        case 'n': o.dry_run = 1; break;
        case O_GRACE: o.grace = (long)cli_u64("--grace", optarg, 0, 100000000); break;
        case O_WAIT: o.wait = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing COLL" : "too many arguments");
    const char *coll = argv[optind];
    double t0 = cli_now();
    if (!o.dry_run)
        cli_progress("sealing '%s'", coll);
    vs_seal_report rep;
    vf_error err;
    if (vs_seal(coll, &o, &rep, &err))
        cli_die_err(&err);
    cli_progress_done();
    uint64_t rows = 0, kept = 0, bytes = 0;
    for (size_t i = 0; i < rep.nplans; i++) {
        const vs_seal_plan *p = &rep.plans[i];
        if (o.dry_run)
            printf("%s\t%s\t%u\t%llu\n", p->growing, p->sealed, p->shard, (unsigned long long)p->rows);
        rows += p->rows;
        kept += p->kept;
        bytes += p->bytes;
    }
    if (!cli_quiet) {
        double dt = cli_now() - t0;
        if (o.dry_run)
            fprintf(stderr, "%s: would seal %zu growing segment(s), %llu rows (dry run)\n", cli_tool, rep.nplans,
                    (unsigned long long)rows);
        else if (rep.nplans == 0)
            fprintf(stderr, "%s: nothing to seal in '%s'; removed %ld unused file(s)\n", cli_tool, coll, rep.removed);
        else
            fprintf(stderr,
                    "%s: sealed %zu segment(s), %llu rows (%llu deleted rows purged), %.1f MB in %.2f s, "
                    "generation %llu; removed %ld unused file(s)\n",
                    cli_tool, rep.nplans, (unsigned long long)kept, (unsigned long long)(rows - kept),
                    (double)bytes / 1e6, dt, (unsigned long long)rep.generation, rep.removed);
    }
    vs_seal_report_release(&rep);
    return 0;
}
