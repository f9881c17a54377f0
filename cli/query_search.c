/*
 * query_search.c - vec-query COLL QUERIES: the answer, searched in this process (all of the
 * snapshot, or the one share --share or --node names), or with -j N in N worker processes,
 * the local fan-out: worker w searches share w of N and sends its hit lists back through a
 * pipe as a partial result (SPEC.md section 7), which this process merges.  Processes are
 * the CLI's business; lib/ only searches shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "query.h"

/* Worker w of jobs: its share's hit lists to fd as a partial result, then exits, 0 or 1; an
   error goes to its slot of werr, memory the parent shares, so the parent reports it. */
static _Noreturn void worker(vs_snapshot *s, const float *q, size_t nq, const vs_search_opts *so, int w, int jobs,
                             int fd, vf_error *werr)
{
    const vf_manifest *m = vs_snapshot_manifest(s);
    vs_hit *h = malloc((nq ? nq : 1) * so->k * sizeof *h);
    vf_error e = {0, ""};
    int rc = h ? vs_search_share(s, q, nq, so, w, jobs, h, &e) : vf_fail(&e, VF_ENOMEM, "search: out of memory");
    vf_partial_hdr hd = {(uint32_t)m->metric, (uint32_t)nq, (uint32_t)so->k, m->generation};
    if (rc == 0)
        rc = vs_hits_write_partial(fd, &hd, h, "worker pipe", &e);
    if (rc)
        *werr = e;
    _exit(rc ? 1 : 0);
}

/* Searches in `jobs` worker processes and merges their hit lists into out (nq lists of k). */
static int search_processes(vs_snapshot *s, const float *q, size_t nq, const query_opts *o, vs_hit *out,
                            vf_error *err)
{
    int jobs = o->jobs;
    size_t k = o->so.k;
    vs_search_opts so = o->so;
    if (so.threads < 1) /* the cores are shared among the workers */
        so.threads = vs_cores() / jobs > 1 ? vs_cores() / jobs : 1;
    pid_t *pid = calloc((size_t)jobs, sizeof *pid);
    int *fd = calloc((size_t)jobs, sizeof *fd);
    vf_error *werr = mmap(NULL, (size_t)jobs * sizeof *werr, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!pid || !fd || werr == MAP_FAILED) {
        free(pid);
        free(fd);
        if (werr != MAP_FAILED)
            munmap(werr, (size_t)jobs * sizeof *werr);
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    }
    memset(werr, 0, (size_t)jobs * sizeof *werr);
    int started = jobs, rc = 0;
    for (int w = 0; w < jobs; w++) {
        int p[2];
        if (pipe(p) != 0) {
            rc = vf_fail(err, VF_EIO, "search: pipe failed");
            started = w;
            break;
        }
        fflush(NULL); /* a worker must not write this process's buffered output again */
        pid[w] = fork();
        if (pid[w] == 0) {
            close(p[0]);
            worker(s, q, nq, &so, w, jobs, p[1], &werr[w]);
        }
        close(p[1]);
        if (pid[w] < 0) {
            close(p[0]);
            rc = vf_fail(err, VF_EIO, "search: fork failed");
            started = w;
            break;
        }
        fd[w] = p[0];
    }
    if (rc == 0)
        vs_hits_clear(out, nq * k);
    for (int w = 0; w < started; w++) {
        vf_partial_hdr h;
        vs_hit *hits = NULL;
        int prc = rc ? rc : vs_hits_read_partial(fd[w], &h, &hits, "worker pipe", err);
        close(fd[w]);
        int status = 0;
        waitpid(pid[w], &status, 0);
        if (rc == 0) {
            if (werr[w].code)
                rc = vf_fail(err, werr[w].code, "%s", werr[w].msg);
            else if (prc || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || h.nq != nq || h.k != k)
                rc = prc ? prc : vf_fail(err, VF_EIO, "search: worker %d failed", w);
            else
                rc = vs_hits_merge_lists(out, hits, nq, k, err);
        }
        free(hits);
    }
    free(pid);
    free(fd);
    munmap(werr, (size_t)jobs * sizeof *werr);
    return rc;
}

/* A run of more than PROGRESS_BATCH queries on a terminal is searched in batches, a progress
   line after each (each query's answer is its own, so the hits are the same).  Each call
   ends waiting for its slowest thread, so after the first batch a batch is sized to take
   about BATCH_SECONDS: the progress line still moves, and the cost stays small. */
#define PROGRESS_BATCH 1024
#define BATCH_SECONDS 2.0

int query_search(const query_opts *o)
{
    vf_error err;
    query_run r;
    query_open(o, &r);
    int share = o->nshares ? o->share : 0, nshares = o->nshares ? o->nshares : 1, rc;
    if (o->jobs > 1)
        rc = search_processes(r.s, r.q, r.nq, o, r.h, &err);
    else if (r.nq > PROGRESS_BATCH && cli_progress_on()) {
        cli_progress_start();
        double t0 = cli_now();
        size_t batch = PROGRESS_BATCH;
        rc = 0;
        for (size_t i = 0, n; rc == 0 && i < r.nq; i += n) {
            n = r.nq - i < batch ? r.nq - i : batch;
            rc = vs_search_share(r.s, r.q + i * r.m->dim, n, &o->so, share, nshares, r.h + i * r.k, &err);
            cli_progress_work("searching", i + n, r.nq, "queries");
            double rate = (double)(i + n) / (cli_now() - t0 + 1e-9);
            batch = rate * BATCH_SECONDS > PROGRESS_BATCH ? (size_t)(rate * BATCH_SECONDS) : PROGRESS_BATCH;
        }
        cli_progress_done();
    } else
        rc = vs_search_share(r.s, r.q, r.nq, &o->so, share, nshares, r.h, &err);
    if (rc)
        cli_die_err(&err);
    /* the queries are searched as one batch: -o records its time, divided per query */
    query_search_secs = cli_now() - r.t1;
    for (size_t i = 0; i < r.m->nsealed; i++)
        query_index_kb += (double)r.m->sealed[i].bytes / 1024.0;
    for (size_t i = 0; i < r.m->ngrowing; i++) /* growing rows are searched from the log */
        query_index_kb += (double)(r.m->growing[i].length - r.m->growing[i].start) / 1024.0;
    query_write(o, r.nq, r.k, r.m->metric, r.h);
    query_done(&r);
    return 0;
}
