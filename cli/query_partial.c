/*
 * query_partial.c - vec-query --partial: searches one share (--share I/N, --node NAME, or the
 * whole snapshot) and writes its hit lists, internal distances, as a partial result
 * (SPEC.md section 7) for a later --merge.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "query.h"

int query_partial(const query_opts *o)
{
    vf_error err;
    query_run r;
    query_open(o, &r);
    if (vs_search_share(r.s, r.q, r.nq, &o->so, o->nshares ? o->share : 0, o->nshares ? o->nshares : 1, r.h, &err))
        cli_die_err(&err);
    vf_partial_hdr hd = {(uint32_t)r.m->metric, (uint32_t)r.nq, (uint32_t)r.k, r.m->generation};
    int fd = strcmp(o->partial, "-") ? open(o->partial, O_WRONLY | O_CREAT | O_TRUNC, 0644) : dup(1);
    if (fd < 0)
        cli_die(EX_CANTCREAT, "'%s': cannot create: %s", o->partial, strerror(errno));
    if (vs_hits_write_partial(fd, &hd, r.h, o->partial, &err))
        cli_die_err(&err);
    if (close(fd) != 0)
        cli_die(EX_IOERR, "'%s': write failed", o->partial);
    query_done(&r);
    return 0;
}
