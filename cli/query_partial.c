/*
 * query_partial.c - vec-query --partial: searches one share (--share I/N, --node NAME, or the
 * whole snapshot) and writes its hit lists, internal distances, as a partial result
 * (SPEC.md section 7) for a later --merge.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query.h"

int query_partial(const query_opts *o)
{
    vf_error err;
    double t0 = cli_now();
    float *q;
    size_t nq, k = o->so.k;
    vs_snapshot *s = query_open(o, &q, &nq);
    const vf_manifest *m = vs_snapshot_manifest(s);
    double t1 = cli_now();
    vs_hit *h = query_hits(nq * k);
    if (vs_search_share(s, q, nq, &o->so, o->nshares ? o->share : 0, o->nshares ? o->nshares : 1, h, &err))
        cli_die_err(&err);
    vf_partial_hdr hd = {(uint32_t)m->metric, (uint32_t)nq, (uint32_t)k, m->generation};
    int fd = strcmp(o->partial, "-") ? open(o->partial, O_WRONLY | O_CREAT | O_TRUNC, 0644) : dup(1);
    if (fd < 0)
        cli_die(EX_CANTCREAT, "'%s': cannot create: %s", o->partial, strerror(errno));
    if (vs_hits_write_partial(fd, &hd, h, o->partial, &err))
        cli_die_err(&err);
    if (close(fd) != 0)
        cli_die(EX_IOERR, "'%s': write failed", o->partial);
    query_summary(s, nq, k, t0, t1);
    free(h);
    free(q);
    vs_snapshot_close(s);
    return 0;
}
