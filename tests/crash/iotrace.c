/*
 * iotrace.c - an LD_PRELOAD shim that records the file-system operations a
 * vecseg tool makes under one directory, and can kill the tool at any of them.
 *
 * The crash harness (tests/crash/) uses it twice:
 *  - power loss: the trace (every write with its bytes and offset, truncate,
 *    create, rename, unlink, mkdir, fsync and fdatasync, in the order they
 *    completed) lets powerloss.py rebuild the states a power cut could leave;
 *  - kill points: IOTRACE_KILL_AT=N sends SIGKILL to the process just before
 *    its Nth traced operation, so kills land at every phase of a command.
 *
 * Environment:
 *   IOTRACE_ROOT     absolute directory; only paths under it are traced
 *   IOTRACE_OUT      file the records are appended to (optional)
 *   IOTRACE_KILL_AT  kill before the Nth traced operation (1-based, optional)
 *   IOTRACE_NODATA   if set, records leave out the bytes written (kill points only)
 *   IOTRACE_STOP_OPEN  stop (SIGSTOP) just before the first open, of any kind and anywhere,
 *                    of a file whose name begins with this prefix: a test then acts while
 *                    the process certainly sits between two steps, and continues it (SIGCONT)
 *
 * Record (little-endian): u32 magic 'IOTR', u32 op, u64 seq, u64 ino,
 * u64 off, u64 len, i32 result, u32 flags, u32 plen, u32 plen2, u32 dlen,
 * u32 pid, u64 ts (CLOCK_MONOTONIC, ns, when the operation ended), then
 * path, path2 and dlen data bytes.  Only operations that
 * succeeded are recorded (a failed one changed nothing); a KILL record
 * names the operation that was about to run.  Operations run under one
 * mutex, so the record order is the order the kernel saw them.
 *
 * Not traced: writes through mmap, writev, stdio and copy_file_range (the
 * tools use none of them on collection files; powerloss.py checks that a
 * replay of the whole trace reproduces the real result byte for byte).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE, OP_TRUNC, OP_FSYNC, OP_FDATASYNC, OP_RENAME, OP_UNLINK, OP_MKDIR, OP_RMDIR,
       OP_KILL };
/* flags of OP_OPEN */
enum { F_CREATED = 1, F_TRUNC = 2, F_DIR = 4 };

#define MAGIC 0x52544f49u /* "IOTR" */

struct rec {
    uint32_t magic, op;
    uint64_t seq, ino, off, len;
    int32_t result;
    uint32_t flags, plen, plen2, dlen, pid;
    uint64_t ts;
};

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static char root[PATH_MAX];
static size_t rootlen;
static int out_fd = -1;
static uint64_t seq, kill_at;
static const char *stop_open; /* IOTRACE_STOP_OPEN, cleared once used */
static int inited, nodata;

static int (*r_open)(const char *, int, ...);
static int (*r_openat)(int, const char *, int, ...);
static ssize_t (*r_write)(int, const void *, size_t);
static ssize_t (*r_pwrite)(int, const void *, size_t, off_t);
static int (*r_ftruncate)(int, off_t);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_rename)(const char *, const char *);
static int (*r_renameat)(int, const char *, int, const char *);
static int (*r_renameat2)(int, const char *, int, const char *, unsigned);
static int (*r_unlink)(const char *);
static int (*r_unlinkat)(int, const char *, int);
static int (*r_mkdir)(const char *, mode_t);
static int (*r_mkdirat)(int, const char *, mode_t);
static int (*r_rmdir)(const char *);

static void init(void)
{
    if (inited)
        return;
#define SYM(v, n) v = dlsym(RTLD_NEXT, n)
    SYM(r_open, "open");
    SYM(r_openat, "openat");
    SYM(r_write, "write");
    SYM(r_pwrite, "pwrite");
    SYM(r_ftruncate, "ftruncate");
    SYM(r_fsync, "fsync");
    SYM(r_fdatasync, "fdatasync");
    SYM(r_rename, "rename");
    SYM(r_renameat, "renameat");
    SYM(r_renameat2, "renameat2");
    SYM(r_unlink, "unlink");
    SYM(r_unlinkat, "unlinkat");
    SYM(r_mkdir, "mkdir");
    SYM(r_mkdirat, "mkdirat");
    SYM(r_rmdir, "rmdir");
#undef SYM
    const char *r = getenv("IOTRACE_ROOT"), *o = getenv("IOTRACE_OUT"), *k = getenv("IOTRACE_KILL_AT");
    if (r && *r == '/') {
        snprintf(root, sizeof root, "%s", r);
        rootlen = strlen(root);
        while (rootlen > 1 && root[rootlen - 1] == '/')
            root[--rootlen] = 0;
    }
    if (o && *o)
        out_fd = (int)syscall(SYS_openat, AT_FDCWD, o, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (k && *k)
        kill_at = strtoull(k, NULL, 10);
    nodata = getenv("IOTRACE_NODATA") != NULL;
    stop_open = getenv("IOTRACE_STOP_OPEN");
    if (stop_open && !*stop_open)
        stop_open = NULL;
    inited = 1;
}

__attribute__((constructor)) static void ctor(void) { init(); }

/* The absolute path of name relative to dirfd (AT_FDCWD: the working directory). */
static int resolve(int dirfd, const char *name, char out[PATH_MAX])
{
    if (!name)
        return -1;
    if (name[0] == '/') {
        snprintf(out, PATH_MAX, "%s", name);
        return 0;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base))
            return -1;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0)
            return -1;
        base[n] = 0;
    }
    size_t bl = strlen(base), nl = strlen(name);
    if (bl + 1 + nl >= PATH_MAX)
        return -1;
    memcpy(out, base, bl);
    out[bl] = '/';
    memcpy(out + bl + 1, name, nl + 1);
    if (!nl)
        out[bl] = 0;
    return 0;
}

static int fd_path(int fd, char out[PATH_MAX]) { return resolve(fd, "", out); }

static int traced(const char *path)
{
    return rootlen && strncmp(path, root, rootlen) == 0 && (path[rootlen] == 0 || path[rootlen] == '/');
}

static void emit(uint32_t op, uint64_t ino, uint64_t off, uint64_t len, int32_t result, uint32_t flags,
                 const char *p, const char *p2, const void *data, uint32_t dlen)
{
    if (out_fd < 0)
        return;
    if (nodata)
        dlen = 0;
    struct rec r = {MAGIC, op, seq, ino, off, len, result, flags, p ? (uint32_t)strlen(p) : 0,
                    p2 ? (uint32_t)strlen(p2) : 0, dlen, (uint32_t)getpid(), 0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    r.ts = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    size_t total = sizeof r + r.plen + r.plen2 + dlen;
    char *buf = malloc(total);
    if (!buf)
        abort(); /* a trace with a hole would mislead the harness */
    memcpy(buf, &r, sizeof r);
    memcpy(buf + sizeof r, p, r.plen);
    memcpy(buf + sizeof r + r.plen, p2, r.plen2);
    if (dlen)
        memcpy(buf + sizeof r + r.plen + r.plen2, data, dlen);
    const char *q = buf;
    while (total > 0) {
        ssize_t n = syscall(SYS_write, out_fd, q, total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        q += n;
        total -= (size_t)n;
    }
    free(buf);
}

/* Called with mu held before every traced operation: counts it, and dies
   just before operation number kill_at. */
static void step(uint32_t op, const char *path)
{
    seq++;
    if (kill_at && seq == kill_at) {
        emit(OP_KILL, 0, 0, 0, 0, op, path, NULL, NULL, 0);
        syscall(SYS_kill, getpid(), SIGKILL);
        for (;;)
            pause();
    }
}

static uint64_t fd_ino(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* ---- opens ------------------------------------------------------------------------------- */

static int do_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    init();
    if (stop_open && name) {
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        if (strncmp(base, stop_open, strlen(stop_open)) == 0) {
            stop_open = NULL;
            raise(SIGSTOP);
        }
    }
    char path[PATH_MAX];
    int mut = (flags & (O_CREAT | O_TRUNC)) || (flags & O_ACCMODE) != O_RDONLY || (flags & O_DIRECTORY);
    if (!mut || resolve(dirfd, name, path) != 0 || !traced(path))
        return r_openat(dirfd, name, flags, mode);
    pthread_mutex_lock(&mu);
    int existed = faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    int mutating = (flags & O_CREAT && !existed) || (flags & O_TRUNC);
    /* read-only directory opens are recorded (a directory fsync needs them) but not counted */
    if (mutating || (flags & O_ACCMODE) != O_RDONLY)
        step(OP_OPEN, path);
    int fd = r_openat(dirfd, name, flags, mode);
    if (fd >= 0) {
        struct stat st;
        uint32_t f = 0;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            f |= F_DIR;
        if (flags & O_CREAT && !existed)
            f |= F_CREATED;
        if (flags & O_TRUNC)
            f |= F_TRUNC;
        emit(OP_OPEN, (uint64_t)st.st_ino, (uint64_t)flags, (uint64_t)mode, fd, f, path, NULL, NULL, 0);
    }
    int e = errno;
    pthread_mutex_unlock(&mu);
    errno = e;
    return fd;
}

static mode_t va_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *name, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, name, flags, m);
}

int open64(const char *name, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return do_openat(AT_FDCWD, name, flags, m);
}

int openat(int dirfd, const char *name, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return do_openat(dirfd, name, flags, m);
}

int openat64(int dirfd, const char *name, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return do_openat(dirfd, name, flags, m);
}

int __open_2(const char *name, int flags) { return do_openat(AT_FDCWD, name, flags, 0); }
int __open64_2(const char *name, int flags) { return do_openat(AT_FDCWD, name, flags, 0); }
int __openat_2(int dirfd, const char *name, int flags) { return do_openat(dirfd, name, flags, 0); }
int __openat64_2(int dirfd, const char *name, int flags) { return do_openat(dirfd, name, flags, 0); }
int creat(const char *name, mode_t mode) { return do_openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_TRUNC, mode); }
int creat64(const char *name, mode_t mode) { return do_openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_TRUNC, mode); }

/* ---- data ------------------------------------------------------------------------------- */

static ssize_t do_write(int fd, const void *buf, size_t len, off_t off, int positional)
{
    init();
    char path[PATH_MAX];
    if (fd_path(fd, path) != 0 || !traced(path))
        return positional ? r_pwrite(fd, buf, len, off) : r_write(fd, buf, len);
    pthread_mutex_lock(&mu);
    step(OP_WRITE, path);
    off_t at = off;
    if (!positional) {
        int fl = fcntl(fd, F_GETFL);
        struct stat st;
        at = fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0 ? st.st_size : lseek(fd, 0, SEEK_CUR);
    }
    ssize_t n = positional ? r_pwrite(fd, buf, len, off) : r_write(fd, buf, len);
    int e = errno;
    if (n > 0)
        emit(OP_WRITE, fd_ino(fd), (uint64_t)at, (uint64_t)n, 0, 0, path, NULL, buf, (uint32_t)n);
    pthread_mutex_unlock(&mu);
    errno = e;
    return n;
}

ssize_t write(int fd, const void *buf, size_t len) { return do_write(fd, buf, len, 0, 0); }
ssize_t pwrite(int fd, const void *buf, size_t len, off_t off) { return do_write(fd, buf, len, off, 1); }
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) { return do_write(fd, buf, len, off, 1); }

static int do_trunc(int fd, off_t len)
{
    init();
    char path[PATH_MAX];
    if (fd_path(fd, path) != 0 || !traced(path))
        return r_ftruncate(fd, len);
    pthread_mutex_lock(&mu);
    step(OP_TRUNC, path);
    int rc = r_ftruncate(fd, len), e = errno;
    if (rc == 0)
        emit(OP_TRUNC, fd_ino(fd), (uint64_t)len, 0, 0, 0, path, NULL, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int ftruncate(int fd, off_t len) { return do_trunc(fd, len); }
int ftruncate64(int fd, off_t len) { return do_trunc(fd, len); }

static int do_sync(int fd, int data_only)
{
    init();
    char path[PATH_MAX];
    if (fd_path(fd, path) != 0 || !traced(path))
        return data_only ? r_fdatasync(fd) : r_fsync(fd);
    pthread_mutex_lock(&mu);
    uint32_t op = data_only ? OP_FDATASYNC : OP_FSYNC;
    step(op, path);
    int rc = data_only ? r_fdatasync(fd) : r_fsync(fd), e = errno;
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0)
        emit(op, (uint64_t)st.st_ino, 0, 0, 0, S_ISDIR(st.st_mode) ? F_DIR : 0, path, NULL, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int fsync(int fd) { return do_sync(fd, 0); }
int fdatasync(int fd) { return do_sync(fd, 1); }

/* ---- names ------------------------------------------------------------------------------ */

static int do_rename(int od, const char *o, int nd, const char *n, unsigned flags, int which)
{
    init();
    char p1[PATH_MAX], p2[PATH_MAX];
    int t = resolve(od, o, p1) == 0 && resolve(nd, n, p2) == 0 && (traced(p1) || traced(p2));
    if (t) {
        pthread_mutex_lock(&mu);
        step(OP_RENAME, p2);
    }
    int rc = which == 0 ? r_rename(o, n) : which == 1 ? r_renameat(od, o, nd, n) : r_renameat2(od, o, nd, n, flags);
    int e = errno;
    if (t) {
        if (rc == 0)
            emit(OP_RENAME, 0, 0, 0, 0, flags, p1, p2, NULL, 0);
        pthread_mutex_unlock(&mu);
    }
    errno = e;
    return rc;
}

int rename(const char *o, const char *n) { return do_rename(AT_FDCWD, o, AT_FDCWD, n, 0, 0); }
int renameat(int od, const char *o, int nd, const char *n) { return do_rename(od, o, nd, n, 0, 1); }
int renameat2(int od, const char *o, int nd, const char *n, unsigned f) { return do_rename(od, o, nd, n, f, 2); }

static int do_unlink(int dirfd, const char *name, int flags, int which)
{
    init();
    char p[PATH_MAX];
    int t = resolve(dirfd, name, p) == 0 && traced(p);
    uint32_t op = (flags & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK;
    if (t) {
        pthread_mutex_lock(&mu);
        step(op, p);
    }
    int rc = which == 0 ? r_unlink(name) : which == 1 ? r_unlinkat(dirfd, name, flags) : r_rmdir(name);
    int e = errno;
    if (t) {
        if (rc == 0)
            emit(op, 0, 0, 0, 0, 0, p, NULL, NULL, 0);
        pthread_mutex_unlock(&mu);
    }
    errno = e;
    return rc;
}

int unlink(const char *name) { return do_unlink(AT_FDCWD, name, 0, 0); }
int unlinkat(int dirfd, const char *name, int flags) { return do_unlink(dirfd, name, flags, 1); }
int rmdir(const char *name) { return do_unlink(AT_FDCWD, name, AT_REMOVEDIR, 2); }

static int do_mkdir(int dirfd, const char *name, mode_t mode, int which)
{
    init();
    char p[PATH_MAX];
    int t = resolve(dirfd, name, p) == 0 && traced(p);
    if (t) {
        pthread_mutex_lock(&mu);
        step(OP_MKDIR, p);
    }
    int rc = which == 0 ? r_mkdir(name, mode) : r_mkdirat(dirfd, name, mode);
    int e = errno;
    if (t) {
        if (rc == 0)
            emit(OP_MKDIR, 0, 0, mode, 0, 0, p, NULL, NULL, 0);
        pthread_mutex_unlock(&mu);
    }
    errno = e;
    return rc;
}

int mkdir(const char *name, mode_t mode) { return do_mkdir(AT_FDCWD, name, mode, 0); }
int mkdirat(int dirfd, const char *name, mode_t mode) { return do_mkdir(dirfd, name, mode, 1); }
