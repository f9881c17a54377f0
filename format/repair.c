/*
 * repair.c - what a killed writer leaves behind, and its removal (SPEC.md
 * 2.5): orphans (a g-/t- file numbered at or above next-ingest-file, an s-
 * file at or above next-maint-file, that the current manifest does not
 * name), temporary files, manifests above the current generation that
 * CURRENT does not name, and torn tails (log bytes past the committed
 * length of a log the current manifest names).
 *
 * Invariants: only the holder of the lock that owns a counter creates files
 * numbered from it (SPEC.md 2.3), and every manifest before the current one
 * had smaller counters; so under that lock a file at or above the counter
 * that the current manifest does not name was made by a writer that died
 * before committing, and no reader of any snapshot can be using it.  Nothing
 * here touches a byte a committed manifest needs ([R-REPAIR]).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format_internal.h"

/* The number of a g-/t-/s- file name ("g-00000012.log"), with its kind;
   0 when name is not one. */
static int data_file_number(const char *name, char *kind, uint64_t *n)
{
    static const char *ext[] = {"g.log", "t.tomb", "s.vseg", "s.vcold"};
    if (name[0] == 0 || name[1] != '-')
        return 0;
    const char *p = name + 2;
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (digits < 8 || *p != '.')
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (name[0] == ext[i][0] && strcmp(p + 1, ext[i] + 2) == 0) {
            *kind = name[0];
            *n = v;
            return 1;
        }
    return 0;
}

static int named_by(const vf_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->ngrowing; i++)
        if (!strcmp(m->growing[i].file, name))
            return 1;
    for (size_t i = 0; i < m->nsealed; i++)
        if (!strcmp(m->sealed[i].file, name))
            return 1;
    for (size_t i = 0; i < m->ntombs; i++)
        if (!strcmp(m->tombs[i].file, name))
            return 1;
    return 0;
}

/* Whether name is an orphan with respect to m, the current manifest. */
static int is_orphan(const vf_manifest *m, const char *name)
{
    char kind;
    uint64_t n;
    if (!data_file_number(name, &kind, &n))
        return 0;
    uint64_t counter = kind == 's' ? m->next_maint_file : m->next_ingest_file;
    /* a .vcold belongs to the .vseg of its number (SPEC.md 5.6.1) */
    char seg[VF_NAME_MAX];
    size_t len = strlen(name);
    if (kind == 's' && len > 6 && strcmp(name + len - 6, ".vcold") == 0) {
        vf_file_name(seg, 's', n);
        name = seg;
    }
    return n >= counter && !named_by(m, name);
}

static int clear_one(vf_coll *c, const vf_manifest *m, const char *name, vf_error *err);

/* [R-ORPHAN]: a new s- segment's .vcold is cleared with it */
int vf_coll_clear_orphan(vf_coll *c, const vf_manifest *m, const char *name, vf_error *err)
{
    char cold[VF_NAME_MAX];
    int rc = clear_one(c, m, name, err);
    if (rc == 0 && name[0] == 's' && vf_cold_name(cold, sizeof cold, name) == 0)
        rc = clear_one(c, m, cold, err);
    return rc;
}

static int clear_one(vf_coll *c, const vf_manifest *m, const char *name, vf_error *err)
{
    int dirfd = vf_coll_dirfd(c);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        return vf_fail(err, VF_EIO, "'%s': cannot stat: %s", name, strerror(errno));
    }
    if (!is_orphan(m, name))
        return vf_fail(err, VF_ECORRUPT, "'%s': already exists and is not an orphan", name);
    if (!S_ISREG(st.st_mode))
        return vf_fail(err, VF_ECORRUPT, "'%s': not a regular file, in the way of a new file", name);
    if (unlinkat(dirfd, name, 0) != 0)
        return vf_fail(err, VF_EIO, "'%s': cannot remove orphan: %s", name, strerror(errno));
    return vf_fsync_dir(dirfd, err);
}

/* ---- vec-inspect --repair -------------------------------------------------- */

typedef struct actions {
    vf_repair_action *v;
    size_t n, cap;
} actions;

static int add_action(actions *a, int kind, const char *file, uint64_t from, uint64_t to, vf_error *err)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        vf_repair_action *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return vf_fail(err, VF_ENOMEM, "out of memory");
        a->v = nv;
        a->cap = cap;
    }
    vf_repair_action *x = &a->v[a->n++];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    snprintf(x->file, sizeof x->file, "%s", file);
    x->from = from;
    x->to = to;
    return 0;
}

/* The generation of "manifest-NNNNNNNN" (digits only), else 0. */
static uint64_t manifest_generation(const char *name)
{
    if (strncmp(name, "manifest-", 9) != 0 || !name[9])
        return 0;
    uint64_t v = 0;
    for (const char *p = name + 9; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static int by_file(const void *a, const void *b)
{
    return strcmp(((const vf_repair_action *)a)->file, ((const vf_repair_action *)b)->file);
}

/* Cuts the log of growing entry g back to its committed length. */
static int cut_tail(int dirfd, const vf_growing_ent *g, actions *a, vf_error *err)
{
    struct stat st;
    /* [R-FILES] no link, no FIFO, and only the collection's own file is cut */
    int fd = vf_open_in(dirfd, g->file, O_RDWR, 0, &st, err);
    if (fd < 0)
        return fd == VF_ENOENT ? vf_fail(err, VF_ECORRUPT, "'%s': missing", g->file) : fd;
    int rc = 0;
    if (st.st_nlink != 1)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': has %lu links (a log belongs to one collection)", g->file,
                     (unsigned long)st.st_nlink);
    else if ((uint64_t)st.st_size < g->length)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': shorter (%lld bytes) than its committed length %llu", g->file,
                     (long long)st.st_size, (unsigned long long)g->length);
    else if ((uint64_t)st.st_size > g->length) {
        if (ftruncate(fd, (off_t)g->length) != 0 || fsync(fd) != 0)
            rc = vf_fail(err, VF_EIO, "'%s': cannot cut the torn tail: %s", g->file, strerror(errno));
        else
            rc = add_action(a, VF_REPAIR_TAIL, g->file, (uint64_t)st.st_size, g->length, err);
    }
    close(fd);
    return rc;
}

/* [R-REPAIR] */
int vf_coll_repair(vf_coll *c, vf_repair_action **out, size_t *nout, vf_error *err)
{
    *out = NULL;
    *nout = 0;
    /* every writer holds one of these while it has files in flight (SPEC.md 2.3) */
    int mfd = -1, ifd = -1, cfd = -1;
    int rc = vf_lock(c, VF_LOCK_MAINT, 0, &mfd, err);
    if (rc == 0)
        rc = vf_lock(c, VF_LOCK_INGEST, 0, &ifd, err);
    if (rc == 0)
        rc = vf_lock(c, VF_LOCK_COMMIT, 1, &cfd, err);
    vf_manifest m;
    int have_m = 0;
    if (rc == 0)
        have_m = (rc = vf_coll_snapshot(c, &m, err)) == 0;
    int dirfd = vf_coll_dirfd(c);
    /* the manifest CURRENT names stays even if its content says another generation */
    char *cur = NULL;
    size_t curlen = 0;
    if (rc == 0 && (rc = vf_read_file(dirfd, "CURRENT", VF_CURRENT_MAX, &cur, &curlen, err)) == 0 && curlen)
        cur[curlen - 1] = 0;
    actions a = {0};
    DIR *d = NULL;
    if (rc == 0 && !(d = fdopendir(dup(dirfd))))
        rc = vf_fail(err, VF_EIO, "'%s': cannot list: %s", vf_coll_path(c), strerror(errno));
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        struct stat st;
        if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue; /* only regular files are ever written here */
        int kind = 0;
        if (has_suffix(n, ".tmp"))
            kind = VF_REPAIR_TMP;
        else if (manifest_generation(n) > m.generation && strcmp(n, cur) != 0)
            kind = VF_REPAIR_MANIFEST;
        else if (is_orphan(&m, n))
            kind = VF_REPAIR_ORPHAN;
        if (!kind)
            continue;
        if (unlinkat(dirfd, n, 0) != 0)
            rc = vf_fail(err, VF_EIO, "'%s': cannot remove: %s", n, strerror(errno));
        else
            rc = add_action(&a, kind, n, (uint64_t)st.st_size, 0, err);
    }
    if (d)
        closedir(d);
    for (size_t i = 0; rc == 0 && i < m.ngrowing; i++)
        rc = cut_tail(dirfd, &m.growing[i], &a, err);
    if (a.n) {
        int frc = vf_fsync_dir(dirfd, rc ? NULL : err);
        if (rc == 0)
            rc = frc;
        qsort(a.v, a.n, sizeof *a.v, by_file);
    }
    free(cur);
    if (have_m)
        vf_manifest_release(&m);
    vf_unlock(cfd);
    vf_unlock(ifd);
    vf_unlock(mfd);
    *out = a.v;
    *nout = a.n;
    return rc;
}
