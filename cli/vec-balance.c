/*
 * vec-balance - place every segment of a collection on named nodes so the
 * estimated query cost is even, moving as few segments as it can, and
 * commit the placement atomically.  `vec-query --node NAME` then searches
 * one node's share; MPI runs one rank per node.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-balance [OPTIONS] COLL\n"
    "Place every segment (growing and sealed) of collection COLL on the nodes\n"
    "given, so the estimated query cost (rows, dimension, index type) of every\n"
    "node is even, moving as few segments as possible when nodes join or leave,\n"
    "and commit the placement to the manifest atomically.  Segments too coarse\n"
    "for the nodes are cut: the piece that moves is rewritten as a new segment.\n"
    "\n"
    "  -N, --nodes LIST     node names, comma-separated\n"
    "      --node NAME      a node (repeatable): --node a --node b is --nodes a,b\n"
    "      --nodes-file FILE  node names, one per line ('-': stdin)\n"
    "  -n, --dry-run        print the plan (TSV: segment, from, to, rows), change nothing\n"
    "      --header         the plan's first line names its columns\n"
    "  -q, --quiet          no summary line\n"
    "  -v, --verbose        also a line per segment moved\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-balance --nodes a,b,c coll\n"
    "  vec-balance --node a --node b coll\n"
    "  vec-balance --dry-run --nodes-file hosts coll\n";

#define NODES_MAX 4096
#define NODES_FILE_MAX (1 << 20) /* 4096 names of up to 63 bytes fit in a quarter of it */

/* Splits s at commas or white space into names (pointing into s); more than
   NODES_MAX names is refused with status, never silently cut. */
static size_t split_names(char *s, const char **names, int status)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",\n\r \t", &save); t; t = strtok_r(NULL, ",\n\r \t", &save)) {
        if (n == NODES_MAX)
            cli_die(status, "more than %d nodes given", NODES_MAX);
        names[n++] = t;
    }
    return n;
}

/* Reads a node list: a regular file or a pipe ('-': standard input, whatever
   it is), at most NODES_FILE_MAX bytes, so a path to a device or an endless
   stream is refused instead of read into memory without end. */
static char *slurp(const char *path)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        cli_die(EX_NOINPUT, "'%s': cannot open node list: %s", path, strerror(errno));
    if (strcmp(path, "-") && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        cli_die(EX_DATAERR, "'%s': node list is not a regular file or a pipe", path);
    char *buf = malloc(NODES_FILE_MAX + 1);
    if (!buf)
        cli_die(EX_OSERR, "out of memory");
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, NODES_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            cli_die(EX_IOERR, "'%s': cannot read node list: %s", path, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > NODES_FILE_MAX)
            cli_die(EX_DATAERR, "'%s': node list is longer than %d bytes", path, NODES_FILE_MAX);
    }
    close(fd);
    if (memchr(buf, 0, n))
        cli_die(EX_DATAERR, "'%s': node list holds a NUL byte", path);
    buf[n] = 0;
    return buf;
}

/* vs_balance_opts.progress: rows of cut pieces rewritten (stderr, on a terminal only) */
static void balance_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    cli_progress_work("rewriting cut segments", done, total, "rows");
}

int main(int argc, char **argv)
{
    cli_init("vec-balance", argv);
    enum { O_NODES_FILE = 256, O_NODE, O_HEADER };
    static const struct option lo[] = {{"nodes", required_argument, 0, 'N'}, {"nodes-file", required_argument, 0, O_NODES_FILE},
                                       {"node", required_argument, 0, O_NODE}, {"header", no_argument, 0, O_HEADER},
                                       {"dry-run", no_argument, 0, 'n'},     {"quiet", no_argument, 0, 'q'},
                                       {"verbose", no_argument, 0, 'v'},
                                       {"help", no_argument, 0, 'h'},        {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    char *list = NULL;
    int dry = 0, from_file = 0, by_node = 0, header = 0, c;
    while ((c = getopt_long(argc, argv, "N:nqvhV", lo, NULL)) != -1) {
        switch (c) {
        case 'N':
        case O_NODES_FILE:
            if (list)
                cli_usage("give the nodes once (--nodes, --node or --nodes-file)");
            list = c == 'N' ? strdup(optarg) : slurp(optarg);
            from_file = c != 'N';
            break;
        case O_NODE: { /* one name each, the same word as vec-query --node */
            if (list && !by_node)
                cli_usage("give the nodes once (--nodes, --node or --nodes-file)");
            if (!*optarg || strpbrk(optarg, ", \t\r\n"))
                cli_usage("--node: '%s' is not one node name", optarg);
            size_t len = list ? strlen(list) : 0;
            char *more = realloc(list, len + strlen(optarg) + 2);
            if (!more)
                cli_die(EX_OSERR, "out of memory");
            snprintf(more + len, strlen(optarg) + 2, "%s%s", len ? "," : "", optarg);
            list = more;
            by_node = 1;
            break;
        }
        case O_HEADER: header = 1; break;
        case 'n': dry = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'v': cli_verbose = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing COLL" : "too many arguments");
    if (!list)
        cli_usage("missing --nodes, --node or --nodes-file");
    if (header && !dry)
        cli_usage("--header goes with --dry-run");
    static const char *names[NODES_MAX];
    size_t n = split_names(list, names, from_file ? EX_DATAERR : EX_USAGE);
    if (n == 0)
        cli_usage("the node list is empty");
    const char *coll = argv[optind];
    vs_balance_report rep;
    vf_error err;
    vs_balance_opts bo = {0};
    bo.dry_run = dry;
    bo.progress = balance_progress;
    cli_progress_start();
    if (vs_balance_with(coll, names, n, &bo, &rep, &err))
        cli_die_err(&err);
    cli_progress_done();
    if (dry && header)
        printf("segment\tfrom\tto\trows\n");
    for (size_t i = 0; !dry && cli_verbose && i < rep.nmoves; i++)
        cli_msg("moved %s from %s to %s, %llu rows", rep.moves[i].segment,
                rep.moves[i].from[0] ? rep.moves[i].from : "-", rep.moves[i].to, (unsigned long long)rep.moves[i].rows);
    if (dry)
        for (size_t i = 0; i < rep.nmoves; i++)
            printf("%s\t%s\t%s\t%llu\n", rep.moves[i].segment, rep.moves[i].from[0] ? rep.moves[i].from : "-",
                   rep.moves[i].to, (unsigned long long)rep.moves[i].rows);
    if (!cli_quiet)
        fprintf(stderr,
                "%s: %s %zu segment(s), %llu of %llu rows (minimum %llu, %.2f x), %zu segment(s) cut, over %zu "
                "node(s); busiest node %.3f x the mean%s\n",
                cli_tool, dry ? "would move" : "moved", rep.nmoves, (unsigned long long)rep.moved_rows,
                (unsigned long long)rep.rows, (unsigned long long)rep.min_rows,
                rep.min_rows ? (double)rep.moved_rows / (double)rep.min_rows : 1.0, rep.cuts, n, rep.max_over_mean,
                dry ? " (dry run)" : "");
    vs_balance_report_release(&rep);
    free(list);
    return 0;
}
