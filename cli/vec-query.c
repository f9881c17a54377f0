/*
 * vec-query - k-nearest-neighbour search of a collection.  Reads the queries, searches one
 * snapshot (growing and sealed segments together, deleted rows never returned), and writes
 * TSV, JSON lines or an HDF5 file.  This file is the tool's --help and its dispatch to the
 * modes (query.h): the answer (query_search.c), --partial (query_partial.c) and --merge
 * (query_merge.c).  vec-query-mpi, the MPI engine, has its own main in query_mpi.c.
 */
#include <stdlib.h>

#include "query.h"

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
    QUERY_HELP_SEARCH
    "      --truth SPEC     true neighbours (FILE.h5:/neighbors, ivecs, ...):\n"
    "                       print recall@k on stderr\n"
    "      --partition KEY  only rows with this partition key (repeatable)\n"
    "Fan-out (partial results: SPEC.md section 7):\n"
    "      --share I/N      search only share I (from 0) of N of the rows\n"
    "      --node NAME      search only the segments placed on node NAME\n"
    "      --partial FILE   write this share's partial result to FILE ('-': stdout)\n"
    "      --merge          merge the PARTIAL files into the final answer\n"
    QUERY_HELP_END
    "  vec-query -k 10 coll queries.fvecs\n"
    "  vec-query -k 10 -o result.h5 --truth data.h5:/neighbors coll data.h5:/test\n"
    "  printf '0.1,0.2,0.3\\n' | vec-query --format jsonl coll -\n"
    "  vec-query --share 0/2 --partial p0 coll q.fvecs; vec-query --share 1/2 --partial p1 coll q.fvecs\n"
    "  vec-query --merge p0 p1\n";

int main(int argc, char **argv)
{
    cli_init("vec-query", argv);
    query_opts o;
    query_parse(argc, argv, usage, &o);
    if ((o.node || o.nshares) && o.jobs > 1)
        cli_usage("--node and --share run one share: drop -j");
    int rc = o.merge ? query_merge(&o) : o.partial ? query_partial(&o) : query_search(&o);
    free(o.pkeys);
    return rc;
}
