/*
 * query_mpi.c - vec-query-mpi, the MPI engine of the fan-out: one rank per node.  Rank 0 picks
 * the snapshot (generation) every rank opens; each rank searches its node's segments (or share
 * r of the rows when the collection has no placement for this many nodes).  Then, batch by
 * batch: rank 0 reads the next queries and broadcasts them, every rank searches them, rank 0
 * gathers the ranks' hit lists, merges them and writes them as vec-query does.  A batch is
 * about 64 MiB of queries and hits whatever the query count (VECSEG_MPI_BATCH), and the
 * batches' answers follow each other as one answer would.  Threads: the ranks of a machine
 * that share its CPUs split them.  Its own main: built with mpicc into vec-query-mpi beside
 * the other query_*.c.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "query.h"

static const char usage[] =
    "Usage: mpirun [MPI OPTIONS] vec-query-mpi [OPTIONS] COLL QUERIES\n"
    "Search collection COLL for every vector in QUERIES with one MPI rank per\n"
    "node: when the collection's placement (vec-balance) lists as many nodes as\n"
    "there are ranks, rank r serves the segments placed on node r; otherwise\n"
    "rank r searches share r of the rows.  Rank 0 chooses the snapshot every\n"
    "rank opens, reads the queries a batch at a time, merges the ranks' partial\n"
    "results and writes the answer as vec-query does.  Segment files must be on\n"
    "storage every rank can read.\n"
    "\n"
    "  -k N                 neighbours per query (default 10)\n"
    "  -t, --threads N      threads per rank (default: the rank's cores, split\n"
    "                       with the ranks on its machine that share them)\n"
    QUERY_HELP_SEARCH
    "      --truth SPEC     true neighbours: print recall@k on stderr\n"
    "      --key KEY        only rows with this partition key (repeatable)\n"
    QUERY_HELP_END
    "  mpirun -np 4 vec-query-mpi -k 10 coll queries.fvecs\n"
    "  mpirun --hostfile hosts --map-by ppr:1:node:PE=16 --bind-to core -np 8 \\\n"
    "    vec-query-mpi -o out.h5 /shared/coll q.h5:/test\n";

/* Dies on every rank: the message from the rank that failed, then abort. */
static _Noreturn void mpi_die(const vf_error *err)
{
    cli_msg("%s", err->msg);
    MPI_Abort(MPI_COMM_WORLD, cli_status(err->code));
    exit(cli_status(err->code));
}

#define BATCH_BYTES_DEFAULT ((uint64_t)64 << 20)
static uint64_t batch_bytes = BATCH_BYTES_DEFAULT; /* VECSEG_MPI_BATCH */

/*
 * The search threads of this rank when neither --threads nor VECSEG_THREADS says: the ranks on
 * this machine (MPI_COMM_TYPE_SHARED) that may run on the same CPUs share them, each taking
 * vs_cores() / their count, at least one.  A rank bound to cores of its own (mpirun --bind-to
 * core) has vs_cores() of them alone; unbound ranks all have the machine's mask and split it.
 * Collective: every rank calls it.
 */
static int rank_threads(void)
{
    MPI_Comm node;
    int nlocal = 1, same = 0;
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        CPU_ZERO(&mine); /* unknown (over 1024 CPUs): alike with every other unknown */
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &nlocal);
    cpu_set_t *all = malloc((size_t)nlocal * sizeof *all);
    if (!all)
        cli_die(EX_OSERR, "out of memory");
    MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, node);
    for (int i = 0; i < nlocal; i++)
        same += CPU_EQUAL(&all[i], &mine);
    free(all);
    MPI_Comm_free(&node);
    int n = vs_cores() / (same > 0 ? same : 1);
    return n > 0 ? n : 1;
}

/* Rank 0: the next at most max queries into q; their count (0 at the end).  Dies on error. */
static size_t read_batch(vs_reader *rd, float *q, size_t max, uint32_t dim)
{
    vf_error err;
    size_t n = 0;
    while (n < max) {
        long got = vs_reader_read(rd, q + n * dim, NULL, NULL, max - n, &err);
        if (got < 0)
            mpi_die(&err);
        if (got == 0)
            break;
        n += (size_t)got;
    }
    return n;
}

static int run_mpi(const query_opts *o)
{
    /* the queries stream in batches (bounded memory); their own ids do not follow them yet */
    if (o->qids || o->ro.id_col)
        cli_usage("query ids (--ids, --id-col) are vec-query's: vec-query-mpi numbers queries from 0");
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    vf_error err = {0, ""};
    vs_snapshot *s = NULL;
    vs_reader *rd = NULL;
    uint64_t hdr[3] = {0, 0, 0}; /* generation, dim, queries per batch */
    double t0 = cli_now();
    vs_search_opts so = o->so;
    const char *env_threads = getenv("VECSEG_THREADS");
    int split = rank_threads();
    if (!so.threads && !(env_threads && *env_threads))
        so.threads = split;
    size_t k = so.k;
    /* one rank per node when the placement lists as many nodes as ranks */
    int per_node = 0;
    /* rank 0's refusals before the search (a bad collection, --key, queries) reach every rank
       through the header (generation 0 and the exit status): all ranks then end normally,
       where an MPI_Abort could cut off the message on its way through mpirun */
    if (rank == 0) {
        if (vs_snapshot_open(&s, o->coll, &err))
            goto refused;
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (query_narrow(s, per_node ? m->nodes[0] : NULL, o->pkeys, o->npkeys, &err))
            goto refused;
        vs_reader_opts ro = o->ro;
        ro.raw_dim = m->dim;
        if (vs_reader_open(&rd, o->qspec, &ro, &err))
            goto refused;
        uint32_t qd = vs_reader_dim(rd);
        if (qd != m->dim) { /* an error unless there is no query at all, as for vec-query */
            float *row = malloc((qd ? qd : 1) * sizeof *row);
            if (!row)
                cli_die(EX_OSERR, "out of memory");
            long got = vs_reader_read(rd, row, NULL, NULL, 1, &err);
            free(row);
            if (got < 0)
                goto refused;
            if (got > 0) {
                vf_fail(&err, VF_EDIM, "'%s': row 1: dimension %u does not match the collection's %u", o->qspec,
                        qd, m->dim);
                goto refused;
            }
        }
        hdr[0] = m->generation;
        hdr[1] = m->dim;
        /* rank 0 holds a batch's queries, its own hits and every rank's */
        uint64_t per_query = (uint64_t)m->dim * sizeof(float) + ((uint64_t)size + 1) * k * sizeof(vs_hit);
        uint64_t b = batch_bytes / per_query;
        uint64_t most = (uint64_t)INT_MAX / (k * sizeof(vs_hit) > m->dim ? k * sizeof(vs_hit) : m->dim);
        hdr[2] = b < 1 ? 1 : b > most ? most : b; /* MPI counts are ints */
    }
    if (0) {
    refused:
        cli_msg("%s", err.msg);
        hdr[0] = 0;
        hdr[1] = (uint64_t)cli_status(err.code);
    }
    MPI_Bcast(hdr, 3, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (hdr[0] == 0) {
        vs_reader_free(rd);
        vs_snapshot_close(s);
        return (int)hdr[1];
    }
    uint32_t dim = (uint32_t)hdr[1];
    size_t batch = (size_t)hdr[2];
    if (rank != 0) {
        if (vs_snapshot_open_at(&s, o->coll, hdr[0], &err))
            mpi_die(&err);
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (query_narrow(s, per_node ? m->nodes[rank] : NULL, o->pkeys, o->npkeys, &err))
            mpi_die(&err);
    }
    int share = per_node ? 0 : rank, nshares = per_node ? 1 : size;
    int metric = vs_snapshot_manifest(s)->metric;
    float *q = malloc(batch * dim * sizeof *q);
    vs_hit *h = query_hits(batch * k);
    vs_hit *all = rank == 0 ? query_hits((size_t)size * batch * k) : NULL;
    if (!q)
        cli_die(EX_OSERR, "out of memory");
    /* -o and --truth take the whole answer at once: only its hits are kept, never the queries */
    int whole = o->out || o->truth;
    vs_hit *kept = NULL;
    size_t kept_cap = 0, nq = 0;
    for (;;) {
        uint64_t nb = 0;
        if (rank == 0)
            nb = read_batch(rd, q, batch, dim);
        MPI_Bcast(&nb, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        if (nb == 0)
            break;
        MPI_Bcast(q, (int)(nb * dim), MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (vs_search_share(s, q, nb, &so, share, nshares, h, &err))
            mpi_die(&err);
        /* vs_hit is 16 plain bytes: gather them as such */
        int bytes = (int)(nb * k * sizeof *h);
        MPI_Gather(h, bytes, MPI_BYTE, all, bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            for (int r = 1; r < size; r++)
                if (vs_hits_merge_lists(all, all + (size_t)r * nb * k, nb, k, &err))
                    cli_die_err(&err);
            if (whole) {
                if (nq + nb > kept_cap) {
                    kept_cap = (nq + nb) * 2;
                    kept = realloc(kept, kept_cap * k * sizeof *kept);
                    if (!kept)
                        cli_die(EX_OSERR, "out of memory");
                }
                memcpy(kept + nq * k, all, nb * k * sizeof *kept);
            } else {
                query_write_at(o, nq, nb, k, metric, all);
            }
        }
        nq += nb;
    }
    int t[2] = {-so.threads, so.threads}, tt[2] = {0, 0}; /* fewest and most threads of a rank */
    if (!so.threads)
        t[0] = -(t[1] = vs_cores());
    MPI_Reduce(t, tt, 2, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        /* -o's ann-benchmarks times: the whole run (open, broadcast, search, gather) per query */
        const vf_manifest *m = vs_snapshot_manifest(s);
        query_search_secs = cli_now() - t0;
        for (size_t i = 0; i < m->nsealed; i++)
            query_index_kb += (double)m->sealed[i].bytes / 1024.0;
        for (size_t i = 0; i < m->ngrowing; i++)
            query_index_kb += (double)(m->growing[i].length - m->growing[i].start) / 1024.0;
        if (whole)
            query_write(o, nq, k, metric, kept);
        if (!cli_quiet) {
            char threads[32];
            if (-tt[0] == tt[1])
                snprintf(threads, sizeof threads, "%d", tt[1]);
            else
                snprintf(threads, sizeof threads, "%d-%d", -tt[0], tt[1]);
            fprintf(stderr, "%s: %zu queries, k=%zu, %d rank%s%s of %s thread%s, generation %llu, total %.3f s\n",
                    cli_tool, nq, k, size, size > 1 ? "s" : "", per_node ? " (one per node)" : "", threads,
                    tt[1] > 1 ? "s" : "", (unsigned long long)hdr[0], cli_now() - t0);
        }
    }
    free(kept);
    free(h);
    free(all);
    free(q);
    vs_reader_free(rd);
    vs_snapshot_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    cli_init("vec-query-mpi", argv);
    const char *b = getenv("VECSEG_MPI_BATCH");
    if (b && *b) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(b, &end, 10);
        if (*b < '0' || *b > '9' || *end || errno || v < 1)
            cli_die(EX_USAGE, "VECSEG_MPI_BATCH: '%s' is not a number of bytes from 1", b);
        batch_bytes = v;
    }
    MPI_Init(&argc, &argv);
    query_opts o;
    query_parse(argc, argv, usage, &o);
    int rc;
    if (o.merge)
        rc = query_merge(&o);
    else {
        if (o.node || o.nshares || o.partial || o.jobs > 1)
            cli_usage("under MPI each rank serves one node: drop --node, --share, --partial and -j");
        rc = run_mpi(&o);
        MPI_Finalize();
    }
    free(o.pkeys);
    return rc;
}
