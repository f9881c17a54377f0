/*
 * query_mpi.c - vec-query-mpi, the MPI engine of the fan-out: one rank per node.  Rank 0 reads
 * the queries and picks the snapshot (generation) every rank opens; each rank searches its
 * node's segments (or share r of the rows when the collection has no placement for this many
 * nodes); rank 0 gathers the ranks' hit lists, merges them and writes the answer as vec-query
 * does.  Its own main: built with mpicc into vec-query-mpi beside the other query_*.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "query.h"

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
    QUERY_HELP_SEARCH
    "      --truth SPEC     true neighbours: print recall@k on stderr\n"
    "      --key KEY        only rows with this partition key (repeatable)\n"
    QUERY_HELP_END
    "  mpirun -np 4 vec-query-mpi -k 10 coll queries.fvecs\n"
    "  mpirun --hostfile hosts -np 8 vec-query-mpi -o out.h5 /shared/coll q.h5:/test\n";

/* Dies on every rank: the message from the rank that failed, then abort. */
static _Noreturn void mpi_die(const vf_error *err)
{
    cli_msg("%s", err->msg);
    MPI_Abort(MPI_COMM_WORLD, cli_status(err->code));
    exit(cli_status(err->code));
}

static int run_mpi(const query_opts *o)
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
        if (vs_snapshot_open(&s, o->coll, &err))
            mpi_die(&err);
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (query_narrow(s, per_node ? m->nodes[0] : NULL, o->pkeys, o->npkeys, &err))
            mpi_die(&err);
        size_t nq;
        if (query_read(o, m->dim, &q, &nq, &err))
            mpi_die(&err);
        hdr[0] = m->generation;
        hdr[1] = nq;
        hdr[2] = m->dim;
    }
    MPI_Bcast(hdr, 3, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    size_t nq = (size_t)hdr[1], k = o->so.k;
    if (rank != 0) {
        if (vs_snapshot_open_at(&s, o->coll, hdr[0], &err))
            mpi_die(&err);
        const vf_manifest *m = vs_snapshot_manifest(s);
        per_node = m->nnodes == (size_t)size;
        if (query_narrow(s, per_node ? m->nodes[rank] : NULL, o->pkeys, o->npkeys, &err))
            mpi_die(&err);
        q = malloc((nq ? nq : 1) * hdr[2] * sizeof *q);
        if (!q)
            cli_die(EX_OSERR, "out of memory");
    }
    if (nq)
        MPI_Bcast(q, (int)(nq * hdr[2]), MPI_FLOAT, 0, MPI_COMM_WORLD);
    int share = per_node ? 0 : rank, nshares = per_node ? 1 : size;
    vs_hit *h = query_hits(nq * k);
    vs_hit *all = rank == 0 ? query_hits((size_t)size * nq * k) : NULL;
    if (vs_search_share(s, q, nq, &o->so, share, nshares, h, &err))
        mpi_die(&err);
    /* vs_hit is 16 plain bytes: gather them as such */
    MPI_Gather(h, (int)(nq * k * sizeof *h), MPI_BYTE, all, (int)(nq * k * sizeof *h), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 1; r < size; r++)
            if (vs_hits_merge_lists(all, all + (size_t)r * nq * k, nq, k, &err))
                cli_die_err(&err);
        /* -o's ann-benchmarks times: the whole run (open, broadcast, search, gather) per query */
        const vf_manifest *m = vs_snapshot_manifest(s);
        query_search_secs = cli_now() - t0;
        for (size_t i = 0; i < m->nsealed; i++)
            query_index_kb += (double)m->sealed[i].bytes / 1024.0;
        for (size_t i = 0; i < m->ngrowing; i++)
            query_index_kb += (double)(m->growing[i].length - m->growing[i].start) / 1024.0;
        query_write(o, nq, k, m->metric, all);
        if (!cli_quiet)
            fprintf(stderr, "%s: %zu queries, k=%zu, %d ranks%s, generation %llu, total %.3f s\n", cli_tool, nq, k,
                    size, per_node ? " (one per node)" : "", (unsigned long long)hdr[0], cli_now() - t0);
    }
    free(h);
    free(all);
    free(q);
    vs_snapshot_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    cli_init("vec-query-mpi", argv); /* may re-execute, before MPI starts */
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
