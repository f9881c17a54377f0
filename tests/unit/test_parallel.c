/*
 * test_parallel.c - the parallel-for and the core count (lib/util/parallel.c): every item runs
 * once, worker numbers are exclusive, a thread that cannot start leaves its items to the
 * workers running (same results), vs_cores() follows the affinity mask (a forked child pinned
 * to one CPU) and VECSEG_THREADS, and the cgroup quota is read from v1 and v2 layouts (fake
 * trees under a temporary directory).
 *
 * pthread_create is interposed here: the library's calls resolve to this definition, which
 * fails on demand and otherwise passes to the C library's.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/parallel.h"
#include "unit.h"

/* ---- pthread_create that fails on demand ----------------------------------------------- */

static atomic_int creates_left = -1; /* thread starts still allowed; -1: no limit */
static atomic_int creates_failed;

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    int left = atomic_load(&creates_left);
    if (left == 0) {
        atomic_fetch_add(&creates_failed, 1);
        return EAGAIN;
    }
    if (left > 0)
        atomic_fetch_sub(&creates_left, 1);
    return real(t, a, fn, arg);
}

/* ---- the parallel-for ------------------------------------------------------------------- */

#define NMAX 5000
#define WMAX 64

typedef struct run {
    atomic_int calls[NMAX];
    atomic_int busy[WMAX];
    uint64_t out[NMAX];
    atomic_int bad_w, overlap;
    int limit;
} run;

static void item(void *ctx, size_t i, int w)
{
    run *r = ctx;
    if (w < 0 || w >= r->limit) {
        atomic_fetch_add(&r->bad_w, 1);
        return;
    }
    if (atomic_exchange(&r->busy[w], 1))
        atomic_fetch_add(&r->overlap, 1);
    atomic_fetch_add(&r->calls[i], 1);
    uint64_t x = i * 0x9E3779B97F4A7C15ull; /* a result that depends on i alone */
    for (int k = 0; k < 50; k++)
        x ^= x >> 13, x *= 0xbf58476d1ce4e5b9ull;
    r->out[i] = x;
    atomic_store(&r->busy[w], 0);
}

/* Runs n items on `threads` workers; checks each ran once on a valid, exclusive worker and
   the results equal a one-thread run's.  Returns the workers that ran. */
static int check_for(int threads, size_t n, const char *what)
{
    static run r, one;
    memset(&r, 0, sizeof r);
    memset(&one, 0, sizeof one);
    r.limit = threads < (int)n ? threads : (n ? (int)n : 1);
    one.limit = 1;
    int ran = vs_parallel_for(threads, n, item, &r);
    vs_parallel_for(1, n, item, &one);
    int once = 1;
    for (size_t i = 0; i < n; i++)
        once &= atomic_load(&r.calls[i]) == 1;
    CHECK_MSG(once, "%s: an item ran other than once", what);
    CHECK_MSG(atomic_load(&r.bad_w) == 0 && atomic_load(&r.overlap) == 0, "%s: worker numbers out of range or shared",
              what);
    CHECK_MSG(!memcmp(r.out, one.out, n * sizeof r.out[0]), "%s: results differ from one thread", what);
    CHECK_MSG(ran >= 1 && ran <= r.limit, "%s: %d workers for limit %d", what, ran, r.limit);
    return ran;
}

static void test_parallel_for(void)
{
    CHECK(check_for(1, 100, "1 thread") == 1);
    CHECK(check_for(4, 0, "no items") == 1);
    CHECK(check_for(4, 3, "fewer items than threads") == 3);
    CHECK(check_for(4, 1000, "4 threads") == 4);
    CHECK(check_for(WMAX, NMAX, "64 threads") == WMAX);

    /* the rule: the second thread cannot start; the caller and the one started run the rest */
    atomic_store(&creates_left, 1);
    atomic_store(&creates_failed, 0);
    int ran = check_for(4, 1000, "second start fails");
    CHECK_MSG(ran == 2, "second start fails: %d workers ran, 2 expected", ran);
    CHECK(atomic_load(&creates_failed) == 1); /* no further start was tried */
    /* no thread at all: the caller runs everything */
    atomic_store(&creates_left, 0);
    ran = check_for(8, NMAX, "no thread starts");
    CHECK_MSG(ran == 1, "no thread starts: %d workers ran, 1 expected", ran);
    atomic_store(&creates_left, -1);
}

/* ---- the core count --------------------------------------------------------------------- */

/* In a child pinned to one CPU: vs_cores() is 1, VECSEG_THREADS still overrides, and a pool
   asked for all cores starts no thread.  Exit status 0 when all hold. */
static int pinned_child(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 10;
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
        cpu++;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return 11;
    unsetenv("VECSEG_THREADS");
    if (vs_cores() != 1)
        return 12;
    static run r;
    r.limit = 1;
    atomic_store(&creates_failed, 0);
    atomic_store(&creates_left, 0); /* any start would be counted as a failure */
    if (vs_parallel_for(0, 100, item, &r) != 1 || atomic_load(&creates_failed) != 0)
        return 13;
    atomic_store(&creates_left, -1);
    setenv("VECSEG_THREADS", "3", 1);
    if (vs_cores() != 3)
        return 14;
    return 0;
}

static void test_cores(void)
{
    unsetenv("VECSEG_THREADS");
    int base = vs_cores();
    CHECK(base >= 1 && base <= VS_THREADS_MAX);
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK_MSG(base <= CPU_COUNT(&set), "vs_cores %d above the %d CPUs of the affinity mask", base, CPU_COUNT(&set));

    pid_t pid = fork();
    if (pid == 0)
        _exit(pinned_child());
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pinned child failed with status %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    const char *good[] = {"1", "7", "1024"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        setenv("VECSEG_THREADS", good[i], 1);
        CHECK_MSG(vs_cores() == atoi(good[i]), "VECSEG_THREADS=%s gives %d", good[i], vs_cores());
    }
    const char *ignored[] = {"", "0", "1025", "-2", "4x", " 4", "99999999999"};
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        setenv("VECSEG_THREADS", ignored[i], 1);
        CHECK_MSG(vs_cores() == base, "VECSEG_THREADS='%s' not ignored: %d", ignored[i], vs_cores());
    }
    unsetenv("VECSEG_THREADS");
}

/* ---- the cgroup quota ------------------------------------------------------------------- */

static char root[256];

/* Writes text to root + path, creating the directories on the way. */
static void put(const char *path, const char *text)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", root, path);
    for (char *p = full + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(full, 0755);
            *p = '/';
        }
    FILE *f = fopen(full, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void fresh_root(const char *name)
{
    snprintf(root, sizeof root, "%s/%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    mkdir(root, 0755);
}

static void test_cgroup(void)
{
    char name[64];
    snprintf(name, sizeof name, "vecseg-cgroup-%d", (int)getpid());

    /* v2: the process's cgroup has no limit, its parent 1.5 CPUs: 2 */
    fresh_root(name);
    put("/proc/self/cgroup", "0::/a/b\n");
    put("/proc/self/mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n"
                                "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
    put("/sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    put("/sys/fs/cgroup/a/cpu.max", "150000 100000\n");
    CHECK_MSG(vs_cgroup_cpus(root) == 2, "v2 parent quota: %d", vs_cgroup_cpus(root));
    /* ... and the tighter of the two wins */
    put("/sys/fs/cgroup/a/b/cpu.max", "50000 100000\n");
    CHECK_MSG(vs_cgroup_cpus(root) == 1, "v2 own quota: %d", vs_cgroup_cpus(root));
    /* no limit anywhere */
    put("/sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    put("/sys/fs/cgroup/a/cpu.max", "max 100000\n");
    CHECK(vs_cgroup_cpus(root) == 0);

    /* v1, as a container sees it: the mount's root is the container's cgroup */
    fresh_root(name);
    put("/proc/self/cgroup", "4:memory:/docker/x\n3:cpu,cpuacct:/docker/x\n0::/\n");
    put("/proc/self/mountinfo", "40 31 0:37 /docker/x /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n"
                                "41 31 0:38 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "250000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    CHECK_MSG(vs_cgroup_cpus(root) == 3, "v1 quota: %d", vs_cgroup_cpus(root));
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    CHECK(vs_cgroup_cpus(root) == 0);

    /* v1 on the host: a nested cgroup below the mount */
    put("/proc/self/cgroup", "3:cpu,cpuacct:/slice/job\n");
    put("/proc/self/mountinfo", "40 31 0:37 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n");
    put("/sys/fs/cgroup/cpu,cpuacct/slice/job/cpu.cfs_quota_us", "400000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/slice/job/cpu.cfs_period_us", "100000\n");
    CHECK_MSG(vs_cgroup_cpus(root) == 4, "v1 nested quota: %d", vs_cgroup_cpus(root));

    /* no cgroup files at all */
    fresh_root(name);
    CHECK(vs_cgroup_cpus(root) == 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    /* the real system: whatever it says, a CPU count or none */
    int real = vs_cgroup_cpus("");
    CHECK(real >= 0 && real <= VS_THREADS_MAX);
}

int main(void)
{
    test_parallel_for();
    test_cores();
    test_cgroup();
    UNIT_DONE();
}
