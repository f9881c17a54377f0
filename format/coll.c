/*
 * coll.c - the collection directory (SPEC.md section 2): creation, the
 * CURRENT pointer, snapshots, locks, atomic manifest commits and garbage
 * collection of files no manifest needs.
 *
 * Invariants:
 *  - CURRENT always names a complete, fsynced manifest ([R-COMMIT]).
 *  - Only a holder of commit.lock writes manifests or CURRENT.
 *  - A file referenced by a manifest that was current less than `grace`
 *    seconds ago is never removed ([R-GC]).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format_internal.h"

struct vf_coll {
    char *path;
    int dirfd;
};

static const char *lock_names[] = {"commit.lock", "ingest.lock", "maint.lock"};

int vf_coll_dirfd(const vf_coll *c) { return c->dirfd; }
const char *vf_coll_path(const vf_coll *c) { return c->path; }

static int coll_new(vf_coll **out, const char *path, int dirfd, vf_error *err)
{
    vf_coll *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        close(dirfd);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    c->dirfd = dirfd;
    *out = c;
    return 0;
}

int vf_coll_open(vf_coll **out, const char *path, vf_error *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vf_fail(err, errno == ENOENT ? VF_ENOENT : VF_EIO, "'%s': cannot open collection: %s", path,
                       strerror(errno));
    /* a CURRENT that is a link is reported by the snapshot, not taken for none */
    if (faccessat(fd, "CURRENT", F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        close(fd);
        return vf_fail(err, VF_ENOENT, "'%s': not a vecseg collection (no CURRENT file)", path);
    }
    return coll_new(out, path, fd, err);
}

void vf_coll_close(vf_coll *c)
{
    if (!c)
        return;
    close(c->dirfd);
    free(c->path);
    free(c);
}

/* Puts the collection's path before the file name that opens err's message
   ("'CURRENT': ..." becomes "'coll/CURRENT': ..."); returns rc. */
static int in_coll(const vf_coll *c, int rc, vf_error *err)
{
    if (err && err->msg[0] == '\'') {
        char msg[VF_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg + 1);
        vf_fail(err, rc, "'%s/%s", c->path, msg);
    }
    return rc;
}

static void manifest_name(char out[VF_NAME_MAX], uint64_t gen)
{
    snprintf(out, VF_NAME_MAX, "manifest-%08" PRIu64, gen);
}

/* The generation of a name that is exactly manifest_name(gen), gen >= 1;
   0 for any other name. */
static uint64_t manifest_number(const char *name)
{
    char buf[VF_NAME_MAX];
    const char *d = name + 9;
    uint64_t gen;
    if (strncmp(name, "manifest-", 9) != 0 || strlen(name) >= VF_NAME_MAX)
        return 0;
    while (d[0] == '0' && d[1])
        d++;
    if (vf_parse_u64(d, &gen) != 0 || gen == 0)
        return 0;
    manifest_name(buf, gen);
    return strcmp(buf, name) == 0 ? gen : 0;
}

/* Writes manifest m (with its generation) and then points CURRENT at it. */
static int publish(vf_coll *c, const vf_manifest *m, vf_error *err)
{
    char name[VF_NAME_MAX], ptr[VF_NAME_MAX + 2];
    char *text;
    size_t len;
    int rc = vf_manifest_format(m, &text, &len, err);
    if (rc)
        return rc;
    manifest_name(name, m->generation);
    /* [R-COMMIT-CHECK] never commit what a reader would refuse: a writer's
       bug must fail this commit, not brick the collection for every tool */
    vf_manifest back;
    rc = vf_manifest_parse(&back, text, len, name, err);
    if (rc == 0)
        vf_manifest_release(&back);
    else
        vf_fail_in(err, rc, "refusing to commit an invalid manifest");
    if (rc == 0)
        rc = vf_write_file_atomic(c->dirfd, name, text, len, err);
    free(text);
    if (rc)
        return rc;
    int n = snprintf(ptr, sizeof ptr, "%s\n", name);
    return vf_write_file_atomic(c->dirfd, "CURRENT", ptr, (size_t)n, err);
}

/* What a creation interrupted before CURRENT existed can have left: the lock
   files, the first manifest and the temporary names of all of them. */
static int creation_leftover(const char *n)
{
    static const char *names[] = {"commit.lock", "ingest.lock", "maint.lock", "manifest-00000001", "CURRENT"};
    size_t len = strlen(n);
    if (len > 4 && strcmp(n + len - 4, ".tmp") == 0)
        len -= 4;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncmp(n, names[i], len) == 0)
            return strcmp(names[i], "CURRENT") != 0 || n[len] != 0; /* CURRENT itself is no leftover */
    return 0;
}

/* Makes a new directory's name durable: fsync of its parent. */
static int fsync_parent(const char *path, vf_error *err)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = 0;
    else
        *slash = 0;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot open: %s", parent, strerror(errno));
    int rc = vf_fsync_dir(fd, err);
    close(fd);
    return rc;
}

/* [R-CREATE] */
int vf_coll_create(vf_coll **out, const char *path, vf_manifest *first, int *created_dir, vf_error *err)
{
    *created_dir = 0;
    if (mkdir(path, 0755) == 0)
        *created_dir = 1;
    else if (errno != EEXIST)
        return vf_fail(err, VF_EIO, "'%s': cannot create collection directory: %s", path, strerror(errno));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot open: %s", path, strerror(errno));
    /* creators serialise on the directory itself and keep the lock until the
       handle is closed: one that then finds CURRENT lost a race, and a
       directory holding only creation leftovers was left by a creator that
       died before CURRENT existed (no live creator holds the lock) */
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return vf_fail(err, VF_EIO, "'%s': cannot lock: %s", path, strerror(e));
        }
    int rc = *created_dir ? fsync_parent(path, err) : 0;
    if (rc == 0 && !*created_dir && faccessat(fd, "CURRENT", F_OK, 0) == 0)
        rc = vf_fail(err, VF_EBUSY, "'%s': another process created the collection meanwhile; retry", path);
    if (rc == 0 && !*created_dir) {
        /* an existing directory must be empty but for an interrupted creation's
           files: never adopt someone's files */
        DIR *d = fdopendir(dup(fd));
        struct dirent *e;
        int foreign = 0, removed = 0;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                foreign |= !creation_leftover(e->d_name);
        if (d && !foreign) {
            rewinddir(d);
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && unlinkat(fd, e->d_name, 0) == 0)
                    removed = 1;
        }
        if (d)
            closedir(d);
        if (foreign)
            rc = vf_fail(err, VF_EARG, "'%s': directory exists and is not a vecseg collection", path);
        else if (removed)
            rc = vf_fsync_dir(fd, err);
    }
    if (rc) {
        close(fd);
        return rc;
    }
    vf_coll *c;
    rc = coll_new(&c, path, fd, err);
    if (rc)
        return rc;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = vf_write_file_atomic(c->dirfd, lock_names[i], "", 0, err);
    first->generation = 1;
    if (rc == 0)
        rc = publish(c, first, err);
    if (rc) {
        vf_coll_create_undo(c, *created_dir);
        return rc;
    }
    *out = c;
    return 0;
}

void vf_coll_create_undo(vf_coll *c, int created_dir)
{
    if (!c)
        return;
    DIR *d = fdopendir(dup(c->dirfd));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(c->dirfd, e->d_name, 0);
    if (d)
        closedir(d);
    if (created_dir)
        rmdir(c->path);
    vf_coll_close(c);
}

/* Reads and parses manifest `name`, which must hold generation gen. */
static int read_manifest(vf_coll *c, const char *name, uint64_t gen, vf_manifest *m, vf_error *err)
{
    char *text;
    size_t len;
    /* [R-FILE-CAPS] a manifest is at most VF_MANIFEST_MAX bytes */
    int rc = vf_read_file(c->dirfd, name, VF_MANIFEST_MAX, &text, &len, err);
    if (rc)
        return rc;
    rc = vf_manifest_parse(m, text, len, name, err);
    free(text);
    if (rc == 0 && m->generation != gen) {
        rc = vf_fail(err, VF_ECORRUPT, "'%s': holds generation %llu", name, (unsigned long long)m->generation);
        vf_manifest_release(m);
    }
    return rc;
}

/* Reads CURRENT: *name (malloc'd) the manifest it names and *gen its generation. */
static int read_current(vf_coll *c, char **name, uint64_t *gen, vf_error *err)
{
    size_t plen;
    int rc = vf_read_file(c->dirfd, "CURRENT", VF_CURRENT_MAX, name, &plen, err);
    if (rc)
        return in_coll(c, rc, err);
    /* [R-CURRENT] CURRENT holds one manifest file name and a newline */
    *gen = 0;
    if (plen >= 2 && (*name)[plen - 1] == '\n' && !memchr(*name, 0, plen)) {
        (*name)[plen - 1] = 0;
        *gen = manifest_number(*name);
    }
    if (*gen == 0) {
        free(*name);
        return vf_fail(err, VF_ECORRUPT, "'%s/CURRENT': does not name a manifest", c->path);
    }
    return 0;
}

/* [R-SNAPSHOT] CURRENT is read once per snapshot; the caller keeps the manifest it names for its
   run.  A commit and a garbage collection may remove that manifest between the read of CURRENT
   and its opening: then CURRENT names a newer one, which is taken instead (a reader never fails
   for a writer's progress); a manifest missing while CURRENT still names it is an error. */
int vf_coll_snapshot(vf_coll *c, vf_manifest *m, vf_error *err)
{
    memset(m, 0, sizeof *m); /* releasable whatever happens below */
    char *name;
    uint64_t gen, now;
    int rc = read_current(c, &name, &gen, err);
    if (rc)
        return rc;
    for (int tries = 0;; tries++) {
        rc = read_manifest(c, name, gen, m, err);
        free(name);
        if (rc != VF_ENOENT || tries == 100 || read_current(c, &name, &now, NULL))
            return rc;
        if (now == gen) { /* CURRENT still names it: really missing */
            free(name);
            return rc;
        }
        gen = now;
    }
}

int vf_coll_snapshot_at(vf_coll *c, uint64_t generation, vf_manifest *m, vf_error *err)
{
    char name[VF_NAME_MAX];
    memset(m, 0, sizeof *m);
    manifest_name(name, generation);
    return read_manifest(c, name, generation, m, err);
}

int vf_lock(vf_coll *c, int kind, int wait, int *fd, vf_error *err)
{
    const char *name = lock_names[kind];
    int f = vf_open_in(c->dirfd, name, O_RDWR, 0, NULL, err);
    if (f < 0)
        return in_coll(c, f, err);
    while (flock(f, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EINTR)
            continue;
        int busy = errno == EWOULDBLOCK;
        close(f);
        return vf_fail(err, busy ? VF_EBUSY : VF_EIO, "'%s/%s': %s", c->path, name,
                       busy ? "held by another process" : strerror(errno));
    }
    *fd = f;
    return 0;
}

void vf_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor releases the flock */
}

int vf_coll_commit(vf_coll *c, vf_apply_fn apply, void *arg, vf_manifest *out, vf_error *err)
{
    int lfd;
    int rc = vf_lock(c, VF_LOCK_COMMIT, 1, &lfd, err);
    if (rc)
        return rc;
    vf_manifest cur, next;
    rc = vf_coll_snapshot(c, &cur, err);
    if (rc) {
        vf_unlock(lfd);
        return rc;
    }
    /* [R-MINOR] a writer never rewrites a manifest whose minor version is newer:
       it would drop lines it does not understand */
    if (cur.minor > VF_MANIFEST_MINOR) {
        vf_manifest_release(&cur);
        vf_unlock(lfd);
        return vf_fail(err, VF_EVERSION, "'%s': manifest version 1.%u is newer than this writer (1.%d)", c->path,
                       cur.minor, VF_MANIFEST_MINOR);
    }
    /* [R-COUNTERS] a generation is never reused: after 2^64-1 there is none */
    if (cur.generation == UINT64_MAX) {
        vf_manifest_release(&cur);
        vf_unlock(lfd);
        return vf_fail(err, VF_ECORRUPT, "'%s': generation %llu is the last one; no further commit is possible",
                       c->path, (unsigned long long)UINT64_MAX);
    }
    rc = vf_manifest_copy(&next, &cur, err);
    vf_manifest_release(&cur);
    if (rc == 0) {
        rc = apply(&next, arg, err);
        next.generation++;
        next.minor = VF_MANIFEST_MINOR;
        if (rc == 0)
            rc = publish(c, &next, err);
        if (rc == 0 && out)
            *out = next;
        else
            vf_manifest_release(&next);
    }
    vf_unlock(lfd);
    return rc;
}

/* ---- garbage collection (SPEC.md 2.4) ----------------------------------- */

typedef struct namelist {
    char (*v)[VF_NAME_MAX];
    size_t n, cap;
} namelist;

static int nl_add(namelist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void *nv = realloc(l->v, cap * VF_NAME_MAX);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    snprintf(l->v[l->n++], VF_NAME_MAX, "%s", s);
    return 0;
}

static int nl_has(const namelist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

static int add_refs(namelist *l, const vf_manifest *m)
{
    for (size_t i = 0; i < m->ngrowing; i++)
        if (nl_add(l, m->growing[i].file))
            return -1;
    for (size_t i = 0; i < m->nsealed; i++) {
        char cold[VF_NAME_MAX];
        if (nl_add(l, m->sealed[i].file))
            return -1;
        /* a .vcold goes with its .vseg (SPEC.md 5.6.1) */
        if (m->sealed[i].cold_bytes && vf_cold_name(cold, sizeof cold, m->sealed[i].file) == 0 && nl_add(l, cold))
            return -1;
    }
    for (size_t i = 0; i < m->ntombs; i++)
        if (nl_add(l, m->tombs[i].file))
            return -1;
    return 0;
}

static int is_data_file(const char *n)
{
    size_t len = strlen(n);
    return len > 2 && n[1] == '-' && (n[0] == 'g' || n[0] == 's' || n[0] == 't') &&
           strcmp(n + len - 4, ".tmp") != 0;
}

long vf_coll_gc(vf_coll *c, long grace, vf_error *err)
{
    /* hold the commit lock so no manifest appears while we decide */
    int lfd, ifd = -1;
    int rc = vf_lock(c, VF_LOCK_COMMIT, 1, &lfd, err);
    if (rc)
        return rc;
    /* growing logs and tombstones of a running ingest are in no manifest yet:
       only judge those when no ingest runs */
    int ingest_idle = vf_lock(c, VF_LOCK_INGEST, 0, &ifd, NULL) == 0;

    vf_manifest cur;
    rc = vf_coll_snapshot(c, &cur, err);
    if (rc) {
        vf_unlock(ifd);
        vf_unlock(lfd);
        return rc;
    }
    time_t now = time(NULL);
    namelist manifests = {0}, keep = {0};
    long removed = 0;
    DIR *d = fdopendir(dup(c->dirfd));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (manifest_number(e->d_name))
            nl_add(&manifests, e->d_name);
    /* a manifest is expired once a later one has existed for grace seconds;
       its successor's mtime is when it stopped being current */
    int oom = add_refs(&keep, &cur);
    for (size_t i = 0; i < manifests.n; i++) {
        uint64_t gen = manifest_number(manifests.v[i]);
        if (gen >= cur.generation)
            continue;
        time_t superseded = now;
        for (size_t j = 0; j < manifests.n; j++) {
            uint64_t g2 = manifest_number(manifests.v[j]);
            struct stat st;
            if (g2 > gen && g2 <= cur.generation &&
                fstatat(c->dirfd, manifests.v[j], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                st.st_mtime < superseded)
                superseded = st.st_mtime;
        }
        if (now - superseded >= grace) {
            if (unlinkat(c->dirfd, manifests.v[i], 0) == 0)
                removed++;
            continue;
        }
        vf_manifest old;
        if (read_manifest(c, manifests.v[i], gen, &old, NULL) == 0) {
            oom |= add_refs(&keep, &old);
            vf_manifest_release(&old);
        }
    }
    if (oom) {
        rc = vf_fail(err, VF_ENOMEM, "gc: out of memory");
        goto out;
    }
    if (d)
        rewinddir(d);
    while (d && (e = readdir(d))) {
        const char *n = e->d_name;
        struct stat st;
        if (fstatat(c->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < grace)
            continue;
        size_t len = strlen(n);
        int tmp = len > 4 && strcmp(n + len - 4, ".tmp") == 0;
        int data = is_data_file(n);
        if (!tmp && !data)
            continue;
        if (data && nl_has(&keep, n))
            continue;
        if ((n[0] == 'g' || n[0] == 't') && !ingest_idle)
            continue;
        if (unlinkat(c->dirfd, n, 0) == 0)
            removed++;
    }
    if (removed)
        vf_fsync_dir(c->dirfd, NULL);
out:
    if (d)
        closedir(d);
    free(manifests.v);
    free(keep.v);
    vf_manifest_release(&cur);
    vf_unlock(ifd);
    vf_unlock(lfd);
    return rc ? rc : removed;
}
