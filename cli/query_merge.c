/*
 * query_merge.c - vec-query --merge: reads partial results (SPEC.md section 7), checks that
 * they answer the same search, and merges them, in any order, into the answer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query.h"

int query_merge(const query_opts *o)
{
    vf_error err;
    vf_partial_hdr h0 = {0};
    vs_hit *acc = NULL;
    for (int f = 0; f < o->nfiles; f++) {
        const char *name = o->files[f];
        int fd = strcmp(name, "-") ? open(name, O_RDONLY) : dup(0);
        if (fd < 0)
            cli_die(EX_NOINPUT, "'%s': cannot open partial result", name);
        vf_partial_hdr h;
        vs_hit *hits;
        if (vs_hits_read_partial(fd, &h, &hits, name, &err))
            cli_die_err(&err);
        close(fd);
        if (f == 0) {
            h0 = h;
            acc = query_hits((size_t)h.nq * h.k);
            vs_hits_clear(acc, (size_t)h.nq * h.k);
        } else if (h.nq != h0.nq || h.k != h0.k || h.metric != h0.metric || h.generation != h0.generation)
            cli_die(EX_DATAERR, "'%s': does not match '%s' (queries, k, metric or generation differ)", name,
                    o->files[0]);
        if (vs_hits_merge_lists(acc, hits, h.nq, h.k, &err))
            cli_die_err(&err);
        free(hits);
    }
    query_write(o, h0.nq, h0.k, (int)h0.metric, acc);
    if (!cli_quiet)
        fprintf(stderr, "%s: merged %d partial result(s): %u queries, k=%u, generation %llu\n", cli_tool, o->nfiles,
                h0.nq, h0.k, (unsigned long long)h0.generation);
    free(acc);
    return 0;
}
