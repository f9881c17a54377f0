/*
 * search.c - exact k-nearest-neighbour search over a snapshot.
 *
 * The rows of a snapshot are numbered 0..N-1 in manifest order (sealed
 * segments, then growing records).  A *share* is a contiguous range of those
 * rows; threads and worker processes each search a share and their sorted
 * hit lists are merged (topk.c), which is associative, so any split gives the
 * same answer.
 *
 * Two kernels:
 *  - many queries: blocks of queries times blocks of rows through OpenBLAS
 *    sgemm, which gives each distance up to a rounding error; a row whose
 *    estimate is within a proven error bound of the current k-th best gets its
 *    exact distance from the SIMD kernel before it is pushed.  So every pushed
 *    distance is the exact kernel value and results do not depend on blocking.
 *  - few queries: the SIMD kernels (distance.c) over each row directly.
 *
 * Internal distances: squared L2 (l2), -dot (ip), 1 - cosine (cosine), all
 * through simd/metric.h.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "lib_internal.h"
#include "simd/metric.h"

#define QBLOCK 1024      /* queries per sgemm block (tuned on fashion-mnist) */
#define RBLOCK 1024      /* rows per sgemm block: C is 4 MiB */
#define BATCH_MIN 8      /* fewer queries than this use the SIMD kernels */

float vs_distance_report(int metric, float internal)
{
    return vs_metric_report(metric, internal);
}

/* A piece is rows [lo, hi) of one part; a share is a list of pieces. */
typedef struct piece {
    const vs_part *part;
    size_t lo, hi;
} piece;

typedef struct task {
    const vs_snapshot *s;
    const float *q, *qn;   /* queries and their squared norms */
    size_t q0, q1;         /* query range */
    uint64_t r0, r1;       /* row share */
    size_t k;
    const vs_query_params *qp;
    vf_error err;          /* details when rc is set */
    vs_hit *out;           /* (q1-q0)*k hits, each list sorted and padded */
    piece *pieces;         /* the rows r0..r1 */
    size_t npieces;
    int rc;
} task;

/* The pieces of global rows [r0, r1); *np receives their count (malloc'd). */
static piece *share_pieces(const vs_snapshot *s, uint64_t r0, uint64_t r1, size_t *np)
{
    piece *v = malloc((s->nparts ? s->nparts : 1) * sizeof *v);
    size_t n = 0;
    uint64_t base = 0;
    for (size_t i = 0; v && i < s->nparts; i++) {
        const vs_part *p = &s->parts[i];
        if (p->skip)
            continue; /* shares number the selected rows only */
        uint64_t end = base + p->n;
        if (p->index) {
            /* an index is searched whole, by the share holding its first row */
            if (base >= r0 && base < r1)
                v[n++] = (piece){p, 0, p->n};
        } else if (end > r0 && base < r1)
            v[n++] = (piece){p, (size_t)(r0 > base ? r0 - base : 0), (size_t)(r1 < end ? r1 - base : p->n)};
        base = end;
    }
    *np = n;
    return v;
}

static void search_simd(task *t, vs_topk *tk, float *buf)
{
    const vs_snapshot *s = t->s;
    uint32_t d = s->m.dim;
    int metric = s->m.metric;
    for (size_t qi = t->q0; qi < t->q1; qi++) {
        const float *q = t->q + qi * d;
        vs_topk *h = &tk[qi - t->q0];
        for (size_t pi = 0; pi < t->npieces; pi++) {
            const vs_part *part = t->pieces[pi].part;
            size_t lo = t->pieces[pi].lo, hi = t->pieces[pi].hi;
            if (part->index)
                continue;
            for (size_t b = lo; b < hi; b += RBLOCK) {
                size_t n = hi - b < RBLOCK ? hi - b : RBLOCK;
                if (metric == VF_METRIC_L2)
                    vs_l2sq_many(q, part->vecs + b * d, n, d, buf);
                else {
                    vs_dot_many(q, part->vecs + b * d, n, d, buf);
                    float qs = sqrtf(t->qn[qi]);
                    for (size_t j = 0; j < n; j++)
                        buf[j] = metric == VF_METRIC_IP ? -buf[j]
                                                        : vs_metric_cosine(buf[j], qs, sqrtf(part->norms[b + j]));
                }
                for (size_t j = 0; j < n; j++)
                    if (buf[j] <= vs_topk_bound(h) && !vs_part_deleted(part, b + j))
                        vs_topk_push(h, buf[j], part->ids[b + j]);
            }
        }
    }
}

static void search_blas(task *t, vs_topk *tk, float *c, float *pbuf, uint32_t *idx)
{
    const vs_snapshot *s = t->s;
    uint32_t d = s->m.dim;
    int metric = s->m.metric;
    /* sgemm's error on a dot product is at most d*u*|q||x| (u = 2^-24);
       twice that, plus slack, bounds the error of every estimate below */
    const float rel = (float)d * 1.2e-7f + 1e-6f;
    for (size_t qb = t->q0; qb < t->q1; qb += QBLOCK) {
        size_t nq = t->q1 - qb < QBLOCK ? t->q1 - qb : QBLOCK;
        const float *q = t->q + qb * d;
        for (size_t pi = 0; pi < t->npieces; pi++) {
            const vs_part *part = t->pieces[pi].part;
            size_t lo = t->pieces[pi].lo, hi = t->pieces[pi].hi;
            if (part->index)
                continue;
            for (size_t b = lo; b < hi; b += RBLOCK) {
                size_t n = hi - b < RBLOCK ? hi - b : RBLOCK;
                const float *x = part->vecs + b * d;
                const float *xn = part->norms + b, *p = xn;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)n, (int)d, 1.0f, q, (int)d, x,
                            (int)d, 0.0f, c, (int)n);
                /* each row's estimate minus its error bound is a*p + b*c + g*c*p,
                   with p the row's norm term (the SPEC.md section 9 distances) */
                if (metric != VF_METRIC_L2) {
                    for (size_t j = 0; j < n; j++) {
                        float xs = sqrtf(xn[j]);
                        pbuf[j] = metric == VF_METRIC_IP ? xs : xs > 0 ? 1.0f / xs : 0.0f;
                    }
                    p = pbuf;
                }
                for (size_t i = 0; i < nq; i++) {
                    size_t qi = qb + i;
                    vs_topk *h = &tk[qi - t->q0];
                    const float *ci = c + i * n;
                    float qn = t->qn[qi], qs = sqrtf(qn), ca, cb, cg, shift;
                    if (metric == VF_METRIC_L2) {
                        ca = 1.0f - rel, cb = -2.0f, cg = 0, shift = (1.0f - rel) * qn;
                    } else if (metric == VF_METRIC_IP) {
                        ca = -rel * qs, cb = -1.0f, cg = 0, shift = 0;
                    } else {
                        ca = 0, cb = 0, cg = qs > 0 ? -1.0f / qs : 0.0f, shift = 1.0f - rel;
                    }
                    size_t m = vs_scan_le(ci, p, n, ca, cb, cg, vs_topk_bound(h) - shift, idx);
                    for (size_t r = 0; r < m; r++) {
                        size_t j = idx[r];
                        /* the bound has tightened since the scan: look again */
                        if (ca * p[j] + cb * ci[j] + cg * ci[j] * p[j] > vs_topk_bound(h) - shift ||
                            vs_part_deleted(part, b + j))
                            continue;
                        vs_topk_push(h, vs_metric_exact(metric, t->q + qi * d, qn, part->vecs + (b + j) * d,
                                                        part->norms[b + j], d),
                                     part->ids[b + j]);
                    }
                }
            }
        }
    }
}

/* Searches the indexed pieces one query at a time: the index pushes row
   numbers, which become ids here. */
static int search_indexes(task *t, vs_topk *tk)
{
    uint32_t d = t->s->m.dim;
    vs_hit *rows = malloc(t->k * sizeof *rows);
    if (!rows)
        return VF_ENOMEM;
    int rc = 0;
    for (size_t pi = 0; rc == 0 && pi < t->npieces; pi++) {
        const vs_part *part = t->pieces[pi].part;
        if (!part->index)
            continue;
        void *scratch = vs_index_scratch_new(part->index);
        if (!scratch) {
            rc = VF_ENOMEM;
            break;
        }
        for (size_t qi = t->q0; rc == 0 && qi < t->q1; qi++) {
            vs_topk local;
            vs_topk_init(&local, rows, t->k);
            rc = vs_index_search(part->index, t->q + qi * d, t->qn[qi], t->qp, part->deleted, &local, scratch,
                                 &t->err);
            for (size_t j = 0; rc == 0 && j < local.n; j++) {
                if (local.h[j].id >= part->n) {
                    rc = vf_fail(&t->err, VF_ECORRUPT, "index returned row %llu of %zu",
                                 (unsigned long long)local.h[j].id, part->n);
                    break;
                }
                vs_topk_push(&tk[qi - t->q0], local.h[j].dist, part->ids[local.h[j].id]);
            }
        }
        vs_index_scratch_free(part->index, scratch);
    }
    free(rows);
    return rc;
}

static void *run_task(void *arg)
{
    task *t = arg;
    size_t nq = t->q1 - t->q0;
    vs_topk *tk = malloc((nq ? nq : 1) * sizeof *tk);
    float *buf = malloc((size_t)QBLOCK * RBLOCK * sizeof(float) + RBLOCK * sizeof(float));
    uint32_t *idx = malloc(RBLOCK * sizeof *idx);
    if (!tk || !buf || !idx) {
        free(tk);
        free(buf);
        free(idx);
        t->rc = VF_ENOMEM;
        return NULL;
    }
    t->pieces = share_pieces(t->s, t->r0, t->r1, &t->npieces);
    if (!t->pieces) {
        free(tk);
        free(buf);
        free(idx);
        t->rc = VF_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < nq; i++)
        vs_topk_init(&tk[i], t->out + i * t->k, t->k);
    if (nq >= BATCH_MIN)
        search_blas(t, tk, buf, buf + (size_t)QBLOCK * RBLOCK, idx);
    else
        search_simd(t, tk, buf);
    int rc = search_indexes(t, tk);
    for (size_t i = 0; i < nq; i++) {
        vs_topk_sort(&tk[i]);
        for (size_t j = tk[i].n; j < t->k; j++)
            t->out[i * t->k + j] = (vs_hit){INFINITY, 0, VS_NO_ID};
    }
    free(tk);
    free(buf);
    free(idx);
    free(t->pieces);
    t->rc = rc;
    return NULL;
}

static int ncores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int share_search(vs_snapshot *s, const float *queries, size_t nq, size_t k, const vs_query_params *qp,
                        int share, int nshares, int threads, vs_hit *out, vf_error *err)
{
    if (k == 0 || nshares < 1 || share < 0 || share >= nshares)
        return vf_fail(err, VF_EARG, "search: bad k or share");
    uint32_t d = s->m.dim;
    uint64_t r0 = s->selected * (uint64_t)share / (uint64_t)nshares;
    uint64_t r1 = s->selected * (uint64_t)(share + 1) / (uint64_t)nshares;
    if (threads < 1)
        threads = ncores();
    float *qn = malloc((nq ? nq : 1) * sizeof *qn);
    task *ts = calloc((size_t)threads, sizeof *ts);
    vs_hit *tmp = NULL;
    if (!qn || !ts) {
        free(qn);
        free(ts);
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    }
    for (size_t i = 0; i < nq; i++)
        qn[i] = vs_dot(queries + i * d, queries + i * d, d);
    /* many queries: split them over threads; few: split the rows instead */
    int by_rows = nq < (size_t)threads * BATCH_MIN;
    if (threads > 1 && by_rows) {
        tmp = malloc((size_t)threads * (nq ? nq : 1) * k * sizeof *tmp);
        if (!tmp) {
            free(qn);
            free(ts);
            return vf_fail(err, VF_ENOMEM, "search: out of memory");
        }
    }
    /* each thread calls sgemm itself: keep OpenBLAS from spawning more */
    openblas_set_num_threads(1);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    int rc = 0;
    for (int i = 0; i < threads; i++) {
        task *t = &ts[i];
        t->s = s;
        t->q = queries;
        t->qn = qn;
        t->k = k;
        t->qp = qp;
        if (by_rows) {
            t->q0 = 0;
            t->q1 = nq;
            t->r0 = r0 + (r1 - r0) * (uint64_t)i / (uint64_t)threads;
            t->r1 = r0 + (r1 - r0) * (uint64_t)(i + 1) / (uint64_t)threads;
            t->out = threads > 1 ? tmp + (size_t)i * nq * k : out;
        } else {
            t->q0 = nq * (size_t)i / (size_t)threads;
            t->q1 = nq * (size_t)(i + 1) / (size_t)threads;
            t->r0 = r0;
            t->r1 = r1;
            t->out = out + t->q0 * k;
        }
    }
    int started = 0;
    for (int i = 1; tid && i < threads; i++)
        if (pthread_create(&tid[i], NULL, run_task, &ts[i]) == 0)
            started = i;
        else {
            ts[i].rc = VF_EIO;
            break;
        }
    run_task(&ts[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < threads && rc == 0; i++)
        if (ts[i].rc) {
            rc = ts[i].rc;
            if (ts[i].err.code == rc)
                vf_fail(err, rc, "%s", ts[i].err.msg);
            else
                vf_fail(err, rc, "search: %s", vf_code_str(rc));
        }
    if (rc == 0 && threads > 1 && by_rows) {
        vs_hit *acc = malloc(k * sizeof *acc), *m = malloc(k * sizeof *m);
        if (!acc || !m)
            rc = vf_fail(err, VF_ENOMEM, "search: out of memory");
        for (size_t qi = 0; rc == 0 && qi < nq; qi++) {
            memcpy(acc, tmp + qi * k, k * sizeof *acc);
            for (int i = 1; i < threads; i++) {
                size_t na = 0;
                while (na < k && acc[na].id != VS_NO_ID)
                    na++;
                vs_hits_merge(acc, na, tmp + ((size_t)i * nq + qi) * k, k, m, k);
                memcpy(acc, m, k * sizeof *acc);
            }
            memcpy(out + qi * k, acc, k * sizeof *acc);
        }
        free(acc);
        free(m);
    }
    free(tid);
    free(tmp);
    free(qn);
    free(ts);
    return rc;
}

/* Forks jobs workers, each writing its share as a partial result to a pipe. */
static int search_forked(vs_snapshot *s, const float *queries, size_t nq, size_t k, const vs_query_params *qp,
                         int jobs, int threads, vs_hit *out, vf_error *err)
{
    pid_t *pid = calloc((size_t)jobs, sizeof *pid);
    int *fd = calloc((size_t)jobs, sizeof *fd);
    /* each worker's error record, in memory it shares with this process */
    vf_error *werrs = mmap(NULL, (size_t)jobs * sizeof *werrs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!pid || !fd || werrs == MAP_FAILED) {
        free(pid);
        free(fd);
        if (werrs != MAP_FAILED)
            munmap(werrs, (size_t)jobs * sizeof *werrs);
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    }
    memset(werrs, 0, (size_t)jobs * sizeof *werrs);
    int njobs = jobs;
    int rc = 0;
    for (int w = 0; w < jobs; w++) {
        int p[2];
        if (pipe(p) != 0) {
            rc = vf_fail(err, VF_EIO, "search: pipe failed");
            jobs = w;
            break;
        }
        fflush(NULL);
        pid[w] = fork();
        if (pid[w] == 0) {
            close(p[0]);
            vs_hit *h = malloc((nq ? nq : 1) * k * sizeof *h);
            float *dist = malloc((nq ? nq : 1) * k * sizeof *dist);
            uint64_t *ids = malloc((nq ? nq : 1) * k * sizeof *ids);
            vf_error werr = {0, ""};
            int crc = !h || !dist || !ids ? VF_ENOMEM
                                          : share_search(s, queries, nq, k, qp, w, jobs, threads, h, &werr);
            for (size_t i = 0; crc == 0 && i < nq * k; i++) {
                dist[i] = h[i].dist;
                ids[i] = h[i].id;
            }
            vf_partial_hdr hd = {(uint32_t)s->m.metric, (uint32_t)nq, (uint32_t)k, s->m.generation};
            if (crc == 0)
                crc = vf_partial_write_fd(p[1], &hd, dist, ids, "worker pipe", &werr);
            if (crc)
                werrs[w] = werr; /* shared memory: the parent reports it */
            _exit(crc ? 1 : 0);
        }
        close(p[1]);
        if (pid[w] < 0) {
            close(p[0]);
            rc = vf_fail(err, VF_EIO, "search: fork failed");
            jobs = w;
            break;
        }
        fd[w] = p[0];
    }
    vs_hit *acc = malloc(k * sizeof *acc), *m = malloc(k * sizeof *m);
    if (!acc || !m)
        rc = rc ? rc : vf_fail(err, VF_ENOMEM, "search: out of memory");
    for (size_t i = 0; rc == 0 && i < nq * k; i++)
        out[i] = (vs_hit){INFINITY, 0, VS_NO_ID};
    for (int w = 0; w < jobs; w++) {
        vf_partial_hdr h;
        float *dist = NULL;
        uint64_t *ids = NULL;
        int prc = rc ? rc : vf_partial_read_fd(fd[w], &h, &dist, &ids, "worker pipe", err);
        close(fd[w]);
        int status = 0;
        waitpid(pid[w], &status, 0);
        if (rc)
            continue;
        if (werrs[w].code) {
            rc = vf_fail(err, werrs[w].code, "%s", werrs[w].msg);
        } else if (prc || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || h.nq != nq || h.k != k) {
            rc = prc ? prc : vf_fail(err, VF_EIO, "search: worker %d failed", w);
        } else {
            for (size_t qi = 0; qi < nq; qi++) {
                size_t na = 0, nb = 0;
                while (na < k && out[qi * k + na].id != VS_NO_ID)
                    na++;
                for (size_t j = 0; j < k; j++) {
                    acc[j] = (vs_hit){dist[qi * k + j], 0, ids[qi * k + j]};
                    if (ids[qi * k + j] != VS_NO_ID)
                        nb = j + 1;
                }
                vs_hits_merge(out + qi * k, na, acc, nb, m, k);
                memcpy(out + qi * k, m, k * sizeof *m);
            }
        }
        free(dist);
        free(ids);
    }
    free(acc);
    free(m);
    free(pid);
    free(fd);
    munmap(werrs, (size_t)njobs * sizeof *werrs);
    return rc;
}

int vs_search_share(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, int share,
                    int nshares, vs_hit *out, vf_error *err)
{
    vs_query_params qp = {o->ef, o->nprobe, o->refine};
    return share_search(s, queries, nq, o->k ? o->k : 10, &qp, share, nshares, o->threads > 0 ? o->threads : 0, out,
                        err);
}

int vs_search(vs_snapshot *s, const float *queries, size_t nq, const vs_search_opts *o, uint64_t *ids, float *dist,
              vf_error *err)
{
    vs_search_opts def = {0};
    if (!o)
        o = &def;
    size_t k = o->k ? o->k : 10;
    int jobs = o->jobs > 1 ? o->jobs : 1;
    int threads = o->threads > 0 ? o->threads : (ncores() / jobs > 1 ? ncores() / jobs : 1);
    vs_hit *h = malloc((nq ? nq : 1) * k * sizeof *h);
    if (!h)
        return vf_fail(err, VF_ENOMEM, "search: out of memory");
    vs_query_params qp = {o->ef, o->nprobe, o->refine};
    int rc = jobs > 1 ? search_forked(s, queries, nq, k, &qp, jobs, threads, h, err)
                      : share_search(s, queries, nq, k, &qp, 0, 1, threads, h, err);
    for (size_t i = 0; rc == 0 && i < nq * k; i++) {
        ids[i] = h[i].id;
        dist[i] = h[i].id == VS_NO_ID ? INFINITY : vs_distance_report(s->m.metric, h[i].dist);
    }
    free(h);
    return rc;
}
