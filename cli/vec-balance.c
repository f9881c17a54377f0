/*
 * vec-balance - place every segment of a collection on named nodes so the
 * estimated query cost is even, moving as few segments as it can, and
 * commit the placement atomically.  `vec-query --node NAME` then searches
 * one node's share; MPI runs one rank per node.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-balance [OPTIONS] COLL\n"
    "Place every segment (growing and sealed) of collection COLL on the nodes\n"
    "given, so the estimated query cost (rows, dimension, index type) of every\n"
    "node is even, moving as few segments as possible when nodes join or leave,\n"
    "and commit the placement to the manifest atomically.\n"
    "\n"
    "  -N, --nodes LIST     node names, comma-separated\n"
    "      --nodes-file FILE  node names, one per line ('-': stdin)\n"
    "  -n, --dry-run        print the plan (TSV: segment, from, to, rows), change nothing\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-balance --nodes a,b,c coll\n"
    "  vec-balance --dry-run --nodes-file hosts coll\n";

/* Splits s at commas or newlines into names (pointing into s). */
static size_t split_names(char *s, const char **names, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",\n\r \t", &save); t && n < max; t = strtok_r(NULL, ",\n\r \t", &save))
        names[n++] = t;
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        cli_die(EX_NOINPUT, "'%s': cannot open node list", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (n + 1 == cap && !(buf = realloc(buf, cap *= 2)))
            break;
    }
    if (!buf)
        cli_die(EX_OSERR, "out of memory");
    buf[n] = 0;
    if (f != stdin)
        fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    cli_init("vec-balance", argv);
    enum { O_NODES_FILE = 256 };
    static const struct option lo[] = {{"nodes", required_argument, 0, 'N'}, {"nodes-file", required_argument, 0, O_NODES_FILE},
                                       {"dry-run", no_argument, 0, 'n'},     {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},        {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    char *list = NULL;
    int dry = 0, c;
    while ((c = getopt_long(argc, argv, "N:nqhV", lo, NULL)) != -1) {
        switch (c) {
        case 'N':
        case O_NODES_FILE:
            if (list)
                cli_usage("give the nodes once (--nodes or --nodes-file)");
            list = c == 'N' ? strdup(optarg) : slurp(optarg);
            break;
        case 'n': dry = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing COLL" : "too many arguments");
    if (!list)
        cli_usage("missing --nodes or --nodes-file");
    const char *names[4096];
    size_t n = split_names(list, names, 4096);
    if (n == 0)
        cli_usage("the node list is empty");
    const char *coll = argv[optind];
    vs_balance_report rep;
    vf_error err;
    if (vs_balance(coll, names, n, dry, &rep, &err))
        cli_die_err(&err);
    if (dry)
        for (size_t i = 0; i < rep.nmoves; i++)
            printf("%s\t%s\t%s\t%llu\n", rep.moves[i].segment, rep.moves[i].from[0] ? rep.moves[i].from : "-",
                   rep.moves[i].to, (unsigned long long)rep.moves[i].rows);
    if (!cli_quiet)
        fprintf(stderr, "%s: %s %zu segment(s), %llu of %llu rows, over %zu node(s); busiest node %.3f x the mean%s\n",
                cli_tool, dry ? "would move" : "moved", rep.nmoves, (unsigned long long)rep.moved_rows,
                (unsigned long long)rep.rows, n, rep.max_over_mean, dry ? " (dry run)" : "");
    vs_balance_report_release(&rep);
    free(list);
    return 0;
}
