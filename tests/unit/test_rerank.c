/*
 * test_rerank.c - re-ranking rows that are on disk [R-RERANK-AHEAD]: asking ahead brings
 * exactly the rows asked for into memory without touching them; a search whose re-rank
 * faults turns asking ahead on, one from memory leaves it off; and asking ahead changes no
 * answer.  The vectors apart (cold-apart=1) are evicted from the page cache and mincore
 * confirms it, so the faults are certain, not likely; a file system that keeps every page
 * (tmpfs) is left for the current directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index/index_internal.h"
#include "lib_internal.h"
#include "unit.h"

#define N 20000
#define D 32
#define NQ 50
#define K 10

static float vecs[N * D], qs[NQ * D];

static double rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0;
}

/* Drops path's clean pages from the page cache; returns the share still resident. */
static double evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 1;
    struct stat st;
    fstat(fd, &st);
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    long pg = sysconf(_SC_PAGESIZE);
    size_t np = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg, in = 0;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *v = malloc(np);
    if (m != MAP_FAILED && v && mincore(m, (size_t)st.st_size, v) == 0)
        for (size_t i = 0; i < np; i++)
            in += v[i] & 1;
    else
        in = np;
    free(v);
    if (m != MAP_FAILED)
        munmap(m, (size_t)st.st_size);
    close(fd);
    return np ? (double)in / (double)np : 1;
}

/* Whether page p of the mapping m is resident. */
static int resident(const void *m, size_t p)
{
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char v = 0;
    return mincore((char *)m + p * (size_t)pg, (size_t)pg, &v) == 0 && (v & 1);
}

/* Asking ahead reads the asked rows' pages, and only those, without a fault. */
static void test_ask(const char *file)
{
    int fd = open(file, O_RDONLY);
    CHECK(fd >= 0);
    struct stat st;
    fstat(fd, &st);
    const float *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    madvise((void *)m, (size_t)st.st_size, MADV_RANDOM);
    long pg = sysconf(_SC_PAGESIZE);
    size_t per = (size_t)pg / (D * 4), rows = (size_t)st.st_size / (D * 4);
    CHECK(evict(file) < 0.05);
    vs_rows_view rv = {.vecs = m, .n = rows, .dim = D, .metric = VF_METRIC_L2};
    vs_rerank_ahead_left(1);
    vs_rerank rr;
    vs_rerank_begin(&rr, &rv);
    CHECK(rr.ahead == m);
    size_t asked[] = {3, 40, 77};
    for (size_t i = 0; i < 3; i++)
        vs_rerank_row(&rr, asked[i] * per + 1);
    vs_rerank_row(&rr, rows); /* out of range: nothing */
    int all = 0;
    for (int t = 0; t < 500 && !all; t++) { /* the reads are the device's: wait up to 5 s */
        all = 1;
        for (size_t i = 0; i < 3; i++)
            all &= resident(m, asked[i]);
        if (!all)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    CHECK_MSG(all, "the asked rows' pages were not read ahead");
    CHECK_MSG(!resident(m, 20) && !resident(m, 60), "pages not asked for were read");
    vs_rerank_end(&rr);
    CHECK(vs_rerank_ahead_left(-1) == 0);
    munmap((void *)m, (size_t)st.st_size);
    close(fd);
}

/* Builds an IVF_PQ collection with its vectors apart under base; returns its .vcold file's
   path in cold, or -1 when base's file system keeps evicted pages. */
static int build(const char *base, char *path, size_t pn, char *cold, size_t cn)
{
    snprintf(path, pn, "%s/c", base);
    vf_error e;
    vs_ingest *h;
    vs_ingest_opts o = {.dim = D, .metric = VF_METRIC_L2, .shards = 1, .create = 1};
    CHECK(vs_ingest_open(&h, path, &o, &e) == 0);
    CHECK(vs_ingest_add(h, N, vecs, NULL, NULL, "r", 1, &e) == 0);
    CHECK(vs_ingest_commit(h, NULL, &e) == 0);
    const char *kv[] = {"cold-apart=1"};
    CHECK(vs_settings_set(path, kv, 1, NULL, &e) == 0);
    vs_seal_opts so = {.all = 1, .index = "ivf_pq", .grace = 0};
    vs_seal_report rep;
    CHECK(vs_seal(path, &so, &rep, &e) == 0);
    CHECK(rep.nplans == 1);
    vs_seal_report_release(&rep);
    DIR *d = opendir(path);
    struct dirent *de;
    cold[0] = 0;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".vcold"))
            snprintf(cold, cn, "%s/%s", path, de->d_name);
    if (d)
        closedir(d);
    CHECK(cold[0]);
    return cold[0] && evict(cold) < 0.05 ? 0 : -1;
}

/* One search of the first nq queries in a snapshot of its own: closing it unmaps the rows,
   which eviction needs (a page mapped in a process stays). */
static void search(const char *path, size_t nq, uint64_t *ids, float *dist)
{
    vf_error e;
    vs_snapshot *s;
    vs_search_opts so = {.k = K, .threads = 1, .nprobe = 8, .refine = 4};
    CHECK(vs_snapshot_open(&s, path, &e) == 0);
    CHECK(vs_search(s, qs, nq, &so, ids, dist, &e) == 0);
    vs_snapshot_close(s);
}

static void test_search(const char *path, const char *cold)
{
    static uint64_t a[NQ * K], b[NQ * K];
    static float ad[NQ * K], bd[NQ * K];
    /* from memory: off it stays */
    CHECK(evict(cold) < 0.05);
    search(path, NQ, a, ad); /* reads the rows back in */
    vs_rerank_ahead_left(0);
    search(path, NQ, b, bd);
    CHECK_MSG(vs_rerank_ahead_left(-1) == 0, "a re-rank from memory turned reading ahead on");
    CHECK(!memcmp(a, b, sizeof a) && !memcmp(ad, bd, sizeof ad));
    /* from disk: one query's re-rank faults, and turns it on */
    CHECK(evict(cold) < 0.05);
    search(path, 1, b, bd);
    CHECK_MSG(vs_rerank_ahead_left(-1) > 0, "a re-rank that faulted left reading ahead off");
    CHECK(!memcmp(a, b, K * 8) && !memcmp(ad, bd, K * 4));
    /* on, from disk: the same answers, and every re-rank (one segment per query) asked ahead */
    CHECK(evict(cold) < 0.05);
    vs_rerank_ahead_left(1000000);
    memset(b, 0, sizeof b);
    search(path, NQ, b, bd);
    CHECK(vs_rerank_ahead_left(0) == 1000000 - NQ);
    CHECK_MSG(!memcmp(a, b, sizeof a) && !memcmp(ad, bd, sizeof ad), "reading ahead changed an answer");
}

int main(void)
{
    unsigned seed = 777;
    for (int i = 0; i < N * D; i++)
        vecs[i] = (float)(rnd(&seed) * 2 - 1);
    for (int i = 0; i < NQ * D; i++)
        qs[i] = (float)(rnd(&seed) * 2 - 1);
    const char *tmp = getenv("TMPDIR");
    const char *bases[] = {tmp ? tmp : "/tmp", "."};
    char root[512], path[600], cold[900], cmd[600];
    int ok = -1;
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(root, sizeof root, "%s/vecseg-rerank-XXXXXX", bases[i]);
        if (!mkdtemp(root))
            continue;
        ok = build(root, path, sizeof path, cold, sizeof cold);
        if (ok) {
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
            CHECK(system(cmd) == 0);
        }
    }
    CHECK_MSG(ok == 0, "no file system here lets a file's pages be evicted");
    if (ok == 0) {
        test_ask(cold);
        test_search(path, cold);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
    }
    UNIT_DONE();
}
