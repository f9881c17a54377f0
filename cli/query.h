/*
 * query.h - vec-query's modes, one file each, in the manner of git's builtin commands:
 *
 *   query_search.c   the answer for COLL QUERIES: in this process, in -j worker processes
 *                    (the local fan-out: fork, one share each, merge), or one --share/--node
 *   query_partial.c  --partial: one share written as a partial result (SPEC.md section 7)
 *   query_merge.c    --merge: partial results merged into the answer
 *   query_mpi.c      vec-query-mpi: one MPI rank per node, rank 0 merges (its own main)
 *
 * cli/vec-query.c is vec-query's main: its --help, then query_parse and the dispatch.  What
 * the modes share is query_common.c: the options, the snapshot one process searches, and the
 * answer written as TSV, JSON lines or HDF5.  Every mode produces hit lists (topk.h) and every
 * merge is vs_hits_merge_lists, so any way of running the shares gives the same bytes.
 */
#ifndef CLI_QUERY_H
#define CLI_QUERY_H

#include "common.h"

/* --help lines every vec-query binary prints: the search and output options, and the end. */
#define QUERY_HELP_SEARCH \
    "      --ef N           HNSW segments: candidate list size (default: the index's)\n" \
    "      --nprobe N       IVF segments: lists to visit (default: the index's)\n" \
    "      --refine R       HNSW, IVF_PQ, IVF_SQ8: re-rank R*k candidates exactly\n" \
    "  -F, --input-format FMT  query format (default: from the file name)\n" \
    "  -d, --dim N          query dimension (needed for raw input)\n" \
    "      --format FMT     output: tsv (default) or jsonl\n" \
    "      --header         TSV output: a first line naming the columns\n" \
    "  -o, --output FILE.h5 write datasets neighbors and distances instead\n"
/* vec-query's alone: vec-query-mpi streams its queries and numbers them from 0. */
#define QUERY_HELP_IDS \
    "      --ids SPEC       the queries' ids, one per query, repeated in the output\n" \
    "      --id-col N       text queries: column N (from 1) holds the query's id\n"
#define QUERY_HELP_END \
    "  -q, --quiet          no summary line\n" \
    "  -h, --help           this help\n" \
    "  -V, --version        versions of the tool, library and format\n" \
    "\n" \
    "Examples:\n"

typedef struct query_opts {
    vs_search_opts so;         /* k, threads per process, ef, nprobe, refine */
    vs_reader_opts ro;         /* how QUERIES is read */
    int jobs;                  /* -j: worker processes (1: this process) */
    const char *out, *truth;   /* -o FILE.h5, --truth SPEC */
    const char *qids;          /* --ids SPEC: the queries' ids */
    int jsonl;                 /* --format jsonl */
    int header;                /* --header: TSV column names first */
    int share, nshares;        /* --share I/N (nshares 0: none) */
    const char *node;          /* --node NAME */
    const char *partial;       /* --partial FILE */
    int merge;                 /* --merge */
    uint64_t *pkeys;           /* --key keys (--partition, the old spelling), npkeys of them */
    size_t npkeys;
    const char *coll, *qspec;  /* COLL QUERIES */
    char **files;              /* --merge: the PARTIAL files, nfiles of them */
    int nfiles;
} query_opts;

/*
 * Parses vec-query's options into o (help prints usage and exits 0) and rejects what
 * conflicts, in one order for every binary: --merge's own checks, then COLL QUERIES, then
 * --node with --share.  What a binary alone rejects (-j under MPI) its main checks after.
 */
void query_parse(int argc, char **argv, const char *usage, query_opts *o);

/* The modes: each returns the exit status (0) or dies with a message. */
int query_search(const query_opts *o);
int query_partial(const query_opts *o);
int query_merge(const query_opts *o);

/* ---- shared by the modes (query_common.c) ---- */

/*
 * Narrows snapshot s to what this process searches: the segments node serves (NULL: every
 * segment), and of those the rows of the partition keys (none: every row).  Every path that
 * searches goes through here, so none answers across tenants.
 */
int query_narrow(vs_snapshot *s, const char *node, const uint64_t *keys, size_t nkeys, vf_error *err);

/* One process's search: its snapshot, its queries and room for their hits. */
typedef struct query_run {
    vs_snapshot *s;
    const vf_manifest *m;      /* the snapshot's manifest */
    float *q;                  /* nq queries */
    size_t nq, k;
    vs_hit *h;                 /* nq * k hits, for the mode to fill */
    double t0, t1;             /* when the run started; when the queries were read */
} query_run;

/*
 * Opens the snapshot o->coll, narrows it to o->node and o->pkeys, reads o->qspec (raw
 * queries take the collection's dimension) and checks the dimension.  Dies on error.
 */
void query_open(const query_opts *o, query_run *r);

/*
 * Reads o->qspec, the queries, of dimension dim (raw queries take it) into *q (nq of them, free
 * with free()), and their ids, from the queries themselves (JSON "id", text --id-col) or
 * --ids, which query_write then prints in place of the query's number.  0 or a VF_E* code.
 */
int query_read(const query_opts *o, uint32_t dim, float **q, size_t *nq, vf_error *err);

/* Prints the summary line (unless -q): queries, k, rows, search time since the queries were
   read and its rate, total time; then frees the run and closes its snapshot. */
void query_done(query_run *r);

/* What query_write puts in an -o file's ann-benchmarks attributes, set by the mode that
   searched: search seconds for the batch (0: not timed here) and kB of the segments searched. */
extern double query_search_secs, query_index_kb;

/* Writes the answer: nq hit lists of k (internal distances of metric) reported as TSV, JSON
   lines or -o HDF5, and with --truth recall@k on stderr.  Dies on error. */
void query_write(const query_opts *o, size_t nq, size_t k, int metric, const vs_hit *h);
/* The same for queries q0 .. q0+nq-1 of a longer answer written in batches, in order (TSV and
   JSON lines only: -o and --truth take the whole answer in one call, q0 0). */
void query_write_at(const query_opts *o, size_t q0, size_t nq, size_t k, int metric, const vs_hit *h);

/* n hits, or die. */
vs_hit *query_hits(size_t n);

#endif
