/*
 * parallel.c - the core count (affinity mask, cgroup quota, VECSEG_THREADS) and the one
 * parallel-for every pool in lib/ runs on (see parallel.h for the rules).
 *
 * Invariants: a pool's items are claimed from one atomic counter, each exactly once; the
 * caller joins every thread it started before returning, so what the items wrote is visible
 * to it (pthread_join synchronises); a failed thread start never loses an item.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "util/parallel.h"

/* ---- how many cores ---------------------------------------------------------------------- */

/* VECSEG_THREADS as a number in [1, VS_THREADS_MAX], or 0 when unset or not such a number. */
static int env_threads(void)
{
    const char *s = getenv("VECSEG_THREADS");
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
        return 0;
    int n = atoi(s);
    return n >= 1 && n <= VS_THREADS_MAX ? n : 0;
}

/* CPUs in the affinity mask, or 0 if it cannot be read. */
static int affinity_cpus(void)
{
    for (int ncpu = 1024; ncpu <= 1 << 20; ncpu *= 4) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set)
            return 0;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        CPU_ZERO_S(size, set);
        int rc = sched_getaffinity(0, size, set);
        int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        CPU_FREE(set);
        if (rc == 0)
            return n;
        /* EINVAL: the kernel's mask is larger than ours; try a larger one */
    }
    return 0;
}

/* Reads the first line of ROOT DIR/NAME into buf; 0 on success. */
static int read_line(const char *root, const char *dir, const char *name, char *buf, size_t len)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s%s/%s", root, dir, name) >= sizeof path)
        return -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

/* The quota of one cgroup directory in whole CPUs rounded up, 0 if none (v2: cpu.max
   "QUOTA PERIOD" or "max PERIOD"; v1: cpu.cfs_quota_us, -1 for none, and cpu.cfs_period_us). */
static long dir_quota(const char *root, const char *dir, int v2)
{
    char a[128], b[128];
    long long quota = -1, period = 0;
    if (v2) {
        if (read_line(root, dir, "cpu.max", a, sizeof a) || sscanf(a, "%lld %lld", &quota, &period) != 2)
            return 0; /* "max ..." does not scan as a number: no quota */
    } else {
        if (read_line(root, dir, "cpu.cfs_quota_us", a, sizeof a) ||
            read_line(root, dir, "cpu.cfs_period_us", b, sizeof b) || sscanf(a, "%lld", &quota) != 1 ||
            sscanf(b, "%lld", &period) != 1)
            return 0;
    }
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > VS_THREADS_MAX ? VS_THREADS_MAX : (long)cpus;
}

/* Whether the comma-separated list holds word. */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list;; p++) {
        if (!strncmp(p, word, n) && (p[n] == ',' || p[n] == '\0'))
            return 1;
        if (!(p = strchr(p, ',')))
            return 0;
    }
}

/* The tightest quota from cgroup PATH up to the top of the hierarchy mounted at MNT, whose
   root is MROOT (a container may mount only its own part). */
static long walk_quota(const char *root, const char *mnt, const char *mroot, const char *path, int v2)
{
    const char *rel = path;
    size_t rl = strlen(mroot);
    if (strcmp(mroot, "/") != 0)
        rel = !strncmp(path, mroot, rl) && (path[rl] == '/' || path[rl] == '\0') ? path + rl : "";
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof dir, "%s%s", mnt, rel) >= sizeof dir)
        return 0;
    size_t base = strlen(mnt), len = strlen(dir);
    while (len > base && dir[len - 1] == '/')
        dir[--len] = '\0';
    long best = 0;
    for (;;) {
        long q = dir_quota(root, dir, v2);
        if (q > 0 && (best == 0 || q < best))
            best = q;
        if (len <= base)
            return best;
        len = (size_t)(strrchr(dir, '/') - dir); /* the parent; never above mnt */
        dir[len < base ? (len = base) : len] = '\0';
    }
}

int vs_cgroup_cpus(const char *root)
{
    char path[4096], line[4096];
    char cg2[4096] = "", cg1[4096] = "";
    int have2 = 0, have1 = 0;
    /* /proc/self/cgroup: "0::PATH" for v2, "N:CONTROLLERS:PATH" for v1 */
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0'; /* line: hierarchy id; c1 + 1: controllers; c2 + 1: path */
        if (!strcmp(line, "0") && c1[1] == '\0') {
            snprintf(cg2, sizeof cg2, "%s", c2 + 1);
            have2 = 1;
        } else if (has_word(c1 + 1, "cpu")) {
            snprintf(cg1, sizeof cg1, "%s", c2 + 1);
            have1 = 1;
        }
    }
    fclose(f);
    /* /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPEROPTS" */
    snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
    f = fopen(path, "re");
    if (!f)
        return 0;
    long best = 0;
    while (fgets(line, sizeof line, f)) {
        char mroot[1024], mnt[1024], fstype[64], superopts[1024] = "";
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", mroot, mnt) != 2 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, superopts) < 1)
            continue;
        long q = 0;
        if (have2 && !strcmp(fstype, "cgroup2"))
            q = walk_quota(root, mnt, mroot, cg2, 1);
        else if (have1 && !strcmp(fstype, "cgroup") && has_word(superopts, "cpu"))
            q = walk_quota(root, mnt, mroot, cg1, 0);
        if (q > 0 && (best == 0 || q < best))
            best = q;
    }
    fclose(f);
    return (int)best;
}

static int cgroup_quota;
static pthread_once_t quota_once = PTHREAD_ONCE_INIT;

static void read_quota(void)
{
    cgroup_quota = vs_cgroup_cpus("");
}

int vs_cores(void)
{
    int n = env_threads();
    if (n)
        return n;
    n = affinity_cpus();
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : c > VS_THREADS_MAX ? VS_THREADS_MAX : (int)c;
    }
    pthread_once(&quota_once, read_quota); /* the quota is files: read them once */
    if (cgroup_quota > 0 && cgroup_quota < n)
        n = cgroup_quota;
    return n > VS_THREADS_MAX ? VS_THREADS_MAX : n;
}

/* ---- the parallel-for --------------------------------------------------------------------- */

typedef struct pool {
    void (*fn)(void *ctx, size_t i, int w);
    void *ctx;
    size_t n;
    atomic_size_t next;
} pool;

typedef struct worker {
    pool *p;
    int w;
} worker;

static void drain(pool *p, int w)
{
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            return;
        p->fn(p->ctx, i, w);
    }
}

static void *worker_main(void *arg)
{
    worker *a = arg;
    drain(a->p, a->w);
    return NULL;
}

int vs_parallel_for(int threads, size_t n, void (*fn)(void *ctx, size_t i, int w), void *ctx)
{
    if (threads < 1)
        threads = vs_cores();
    if (threads > VS_THREADS_MAX)
        threads = VS_THREADS_MAX;
    if ((size_t)threads > n)
        threads = n ? (int)n : 1;
    pool p = {fn, ctx, n, 0};
    atomic_init(&p.next, 0);
    pthread_t *tid = threads > 1 ? malloc((size_t)threads * sizeof *tid) : NULL;
    worker *arg = threads > 1 ? malloc((size_t)threads * sizeof *arg) : NULL;
    int started = 1; /* the caller */
    for (int w = 1; tid && arg && w < threads; w++) {
        arg[w] = (worker){&p, w};
        if (pthread_create(&tid[w], NULL, worker_main, &arg[w]) != 0)
            break; /* the rule: the workers running take the rest */
        started++;
    }
    drain(&p, 0);
    for (int w = 1; w < started; w++)
        pthread_join(tid[w], NULL);
    free(tid);
    free(arg);
    return started;
}

void vs_blas_serial(void)
{
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
}
