/*
 * vec-export - write the live rows of one snapshot of a collection (ids,
 * partition keys, vectors) to fvecs, npy, HDF5, CSV, TSV or JSON lines, in
 * id order, so that vec-ingest reads them back into the same rows; or, with
 * --backup, copy the snapshot as a collection of its own while writers run.
 *
 * Output files are written under a temporary name beside OUT and renamed
 * over it when complete, so OUT is the old file or the whole new one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-export [OPTIONS] COLL [OUT]\n"
    "       vec-export --backup [-q] COLL DIR\n"
    "Write the live rows of one snapshot of the collection COLL (deleted rows\n"
    "never) to OUT (default: stdout), sorted by id: ids, partition keys when the\n"
    "collection has them, and vectors, in a form vec-ingest reads back into the\n"
    "same rows.  With --backup, copy the snapshot to the new collection DIR,\n"
    "safely while writers run.\n"
    "\n"
    "Output:\n"
    "  -f, --format FMT     fvecs, npy, hdf5, csv, tsv or jsonl (default: from\n"
    "                       OUT's name; tsv on stdout)\n"
    "      --ids FILE       fvecs and npy: write the ids to FILE (.npy, .ivecs or\n"
    "                       text, by its name)\n"
    "      --keys FILE      fvecs and npy: write the partition keys to FILE\n"
    "Rows:\n"
    "      --partition KEY  only rows of partition key KEY (repeatable)\n"
    "      --shard ID       only rows of shard ID (repeatable)\n"
    "Backup:\n"
    "      --backup         copy the snapshot to the collection DIR (must not exist)\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-export coll rows.csv\n"
    "  vec-export coll rows.h5\n"
    "  vec-export --ids ids.npy coll vecs.npy\n"
    "  vec-export -f jsonl --partition 7 coll | jq -c .vector\n"
    "  vec-export --backup coll /backup/coll-$(date +%F)\n";

enum efmt { E_FVECS = 1, E_NPY, E_HDF5, E_CSV, E_TSV, E_JSONL };
static const char *const fmt_names[] = {"", "fvecs", "npy", "hdf5", "csv", "tsv", "jsonl"};

static int fmt_parse(const char *s)
{
    if (!strcmp(s, "h5"))
        return E_HDF5;
    if (!strcmp(s, "json"))
        return E_JSONL;
    for (int i = 1; i <= E_JSONL; i++)
        if (!strcmp(s, fmt_names[i]))
            return i;
    return 0;
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

/* ---- an output file: a temporary name renamed over the real one ------------------------------ */

typedef struct out_file {
    FILE *f;
    const char *path;       /* NULL: stdout */
    char tmp[PATH_MAX];     /* empty: written in place */
} out_file;

static void out_open(out_file *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        return;
    }
    o->path = path;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a device or a FIFO (/dev/null, a pipe a reader waits on) is written in place: a rename
           would replace it with a file */
        if (!(o->f = fopen(path, "w")))
            cli_die(EX_CANTCREAT, "'%s': cannot open: %s", path, strerror(errno));
        return;
    }
    if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof o->tmp)
        cli_die(EX_USAGE, "'%s': name too long", path);
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 || !(o->f = fdopen(fd, "w")))
        cli_die(EX_CANTCREAT, "'%s': cannot create: %s", o->tmp, strerror(errno));
}

/* Removes every temporary file still open (called on the way out after an error). */
static out_file *outs[3];

static void out_cleanup(void)
{
    for (int i = 0; i < 3; i++)
        if (outs[i] && outs[i]->path && outs[i]->f && outs[i]->tmp[0])
            unlink(outs[i]->tmp);
}

static void out_close(out_file *o)
{
    const char *name = o->path ? o->path : "stdout";
    int bad = ferror(o->f) != 0;
    if (o->path && !o->tmp[0]) {
        bad |= fclose(o->f) != 0;
        o->f = NULL;
    } else if (o->path) {
        bad |= fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
        bad |= fclose(o->f) != 0;
        if (!bad && rename(o->tmp, o->path) != 0)
            bad = 1;
        if (bad)
            unlink(o->tmp);
        o->f = NULL;
    } else {
        bad |= fflush(o->f) != 0;
    }
    if (bad)
        cli_die(EX_IOERR, "'%s': write failed: %s", name, strerror(errno ? errno : EIO));
}

static void put(out_file *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        cli_die(EX_IOERR, "'%s': write failed: %s", o->path ? o->path : "stdout", strerror(errno));
}

/* ---- values as text ---------------------------------------------------------------------------- */

/* A decimal that reads back as the same float32: 8 significant digits when they do (trailing
   zeros dropped, so 0.5 is "0.5"), else 9, which always do.  The shortest search over 1..9
   digits costed 6 us a value. */
static int fmt_float(char *buf, size_t n, float v)
{
    int len = snprintf(buf, n, "%.8g", (double)v);
    if (strtof(buf, NULL) != v)
        len = snprintf(buf, n, "%.9g", (double)v);
    return len;
}

/* One JSON lines row: {"id":ID,"key":KEY,"vector":[...]}.  Numbers only, so
   nothing needs escaping; the one place JSON is written here, to move to the
   JSON library vec-ingest reads JSON lines with. */
static void json_row(out_file *o, uint64_t id, const uint64_t *key, const float *v, uint32_t dim)
{
    char b[48];
    fprintf(o->f, "{\"id\":%" PRIu64, id);
    if (key)
        fprintf(o->f, ",\"key\":%" PRIu64, *key);
    fputs(",\"vector\":[", o->f);
    for (uint32_t j = 0; j < dim; j++) {
        if (j)
            fputc(',', o->f);
        fmt_float(b, sizeof b, v[j]);
        fputs(b, o->f);
    }
    fputs("]}\n", o->f);
}

static void text_row(out_file *o, char sep, uint64_t id, const uint64_t *key, const float *v, uint32_t dim)
{
    char b[48];
    fprintf(o->f, "%" PRIu64, id);
    if (key)
        fprintf(o->f, "%c%" PRIu64, sep, *key);
    for (uint32_t j = 0; j < dim; j++) {
        b[0] = sep;
        fmt_float(b + 1, sizeof b - 1, v[j]);
        fputs(b, o->f);
    }
    fputc('\n', o->f);
}

/* ---- npy ------------------------------------------------------------------------------------- */

/* The header numpy.save writes (version 1.0, padded to 64 bytes), for a C-order array of descr
   and n rows of cols (cols 0: 1-D), so the file is byte for byte numpy's. */
static void npy_header(out_file *o, const char *descr, size_t n, uint32_t cols)
{
    char dict[160];
    int len = cols ? snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %u), }",
                              descr, n, cols)
                   : snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }",
                              descr, n);
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    put(o, pre, sizeof pre);
    put(o, dict, (size_t)len);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', o->f);
    fputc('\n', o->f);
}

/* ---- a column of ids or keys as its own file (fvecs, npy) -------------------------------------- */

static void write_column(const char *path, const vs_row *rows, size_t n, int keys)
{
    out_file o;
    out_open(&o, path);
    outs[1] = &o;
    const char *ext = ext_of(path);
    if (!strcmp(ext, "npy"))
        npy_header(&o, "<i8", n, 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = keys ? rows[i].key : rows[i].id;
        if (!strcmp(ext, "npy")) {
            int64_t x = (int64_t)v; /* ids and keys are below 2^63 (SPEC.md) */
            put(&o, &x, 8);
        } else if (!strcmp(ext, "ivecs")) {
            if (v > INT32_MAX)
                cli_die(EX_DATAERR, "'%s': %s %" PRIu64 " does not fit an ivecs int32 (use .npy)", path,
                        keys ? "key" : "id", v);
            int32_t rec[2] = {1, (int32_t)v};
            put(&o, rec, 8);
        } else {
            fprintf(o.f, "%" PRIu64 "\n", v);
        }
    }
    out_close(&o);
    outs[1] = NULL;
}

/* ---- export -------------------------------------------------------------------------------------- */

typedef struct opts {
    int fmt, backup;
    const char *ids, *keys;
    uint64_t pkeys[64];
    size_t npkeys;
    uint32_t shards[64];
    size_t nshards;
} opts;

static const char *distance_name(int metric)
{
    /* ann-benchmarks' names; it has none for inner product */
    return metric == VF_METRIC_L2 ? "euclidean" : metric == VF_METRIC_COSINE ? "angular" : "dot";
}

static void write_hdf5(const char *path, const vf_manifest *m, const vs_row *rows, size_t n)
{
    vf_error err;
    vs_h5_rows *w;
    uint32_t d = m->dim;
    if (vs_h5_rows_open(&w, path, n, d, m->keys, distance_name(m->metric), &err))
        cli_die_err(&err);
    size_t b = 4096;
    float *vec = malloc(b * d * sizeof *vec);
    uint64_t *ids = malloc(b * sizeof *ids), *keys = malloc(b * sizeof *keys);
    if (!vec || !ids || !keys) {
        vs_h5_rows_abort(w);
        cli_die(EX_OSERR, "out of memory");
    }
    for (size_t i = 0; i < n; i += b) {
        size_t k = n - i < b ? n - i : b;
        for (size_t j = 0; j < k; j++) {
            memcpy(vec + j * d, rows[i + j].vec, d * sizeof *vec);
            ids[j] = rows[i + j].id;
            keys[j] = rows[i + j].key;
        }
        if (vs_h5_rows_write(w, k, vec, ids, m->keys ? keys : NULL, &err)) {
            vs_h5_rows_abort(w);
            cli_die_err(&err);
        }
    }
    free(vec);
    free(ids);
    free(keys);
    if (vs_h5_rows_close(w, &err))
        cli_die_err(&err);
}

static void export_rows(const char *coll, const char *path, const opts *o)
{
    vf_error err;
    vs_snapshot *s;
    int rc = vs_snapshot_open(&s, coll, &err);
    /* a file garbage collection took between CURRENT and its opening: a newer snapshot */
    for (int tries = 0; rc == VF_EBUSY && tries < 5; tries++)
        rc = vs_snapshot_open(&s, coll, &err);
    if (rc)
        cli_die_err(&err);
    const vf_manifest *m = vs_snapshot_manifest(s);
    if (o->npkeys && vs_snapshot_filter_keys(s, o->pkeys, o->npkeys, &err))
        cli_die(cli_status(err.code), "--partition: %s", err.msg);
    if (o->keys && !m->keys)
        cli_usage("--keys: the collection '%s' has no partition keys", coll);
    for (size_t i = 0; i < o->nshards; i++) {
        size_t j = 0;
        while (j < m->nshards && m->shards[j].id != o->shards[i])
            j++;
        if (j == m->nshards)
            cli_usage("--shard: the collection '%s' has no shard %u", coll, o->shards[i]);
    }
    vs_row *rows;
    size_t n;
    if (vs_snapshot_live_rows(s, &rows, &n, &err))
        cli_die_err(&err);
    if (o->nshards) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < o->nshards; j++)
                if (rows[i].shard == o->shards[j]) {
                    rows[k++] = rows[i];
                    break;
                }
        n = k;
    }
    uint32_t d = m->dim;
    if (o->fmt == E_HDF5) {
        write_hdf5(path, m, rows, n);
    } else {
        out_file f;
        out_open(&f, path);
        outs[0] = &f;
        if (o->fmt == E_NPY)
            npy_header(&f, "<f4", n, d);
        for (size_t i = 0; i < n; i++) {
            const vs_row *r = &rows[i];
            const uint64_t *key = m->keys ? &r->key : NULL;
            switch (o->fmt) {
            case E_FVECS: {
                int32_t dim = (int32_t)d;
                put(&f, &dim, 4);
            } /* fall through */
            case E_NPY: put(&f, r->vec, (size_t)d * 4); break;
            case E_CSV: text_row(&f, ',', r->id, key, r->vec, d); break;
            case E_TSV: text_row(&f, '\t', r->id, key, r->vec, d); break;
            case E_JSONL: json_row(&f, r->id, key, r->vec, d); break;
            }
        }
        if (o->ids)
            write_column(o->ids, rows, n, 0);
        if (o->keys)
            write_column(o->keys, rows, n, 1);
        out_close(&f);
        outs[0] = NULL;
    }
    if (!cli_quiet)
        fprintf(stderr, "%s: %zu rows of '%s' (generation %" PRIu64 ") as %s to '%s'\n", cli_tool, n, coll,
                m->generation, fmt_names[o->fmt], path ? path : "stdout");
    free(rows);
    vs_snapshot_close(s);
}

/* ---- backup ------------------------------------------------------------------------------------ */

/* Copies the first len bytes of name (len UINT64_MAX: all) from dirfd `from` to a new file in
   `to`, fsynced.  Returns 0, ENOENT when the file is gone (garbage collected), or dies. */
static int copy_file(int from, int to, const char *name, uint64_t len)
{
    /* [R-FILES] no link followed, no FIFO waited on, only a regular file read */
    int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT)
            return ENOENT;
        cli_die(errno == ELOOP ? EX_DATAERR : EX_IOERR, "'%s': cannot open: %s", name, strerror(errno));
    }
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
        cli_die(EX_DATAERR, "'%s': not a regular file (a collection holds regular files only)", name);
    int out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0)
        cli_die(EX_CANTCREAT, "'%s': cannot create: %s", name, strerror(errno));
    static char buf[1 << 16];
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
        ssize_t r = pread(in, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            cli_die(EX_IOERR, "'%s': read failed: %s", name, strerror(errno));
        if (r == 0) {
            if (len != UINT64_MAX)
                cli_die(EX_DATAERR, "'%s': shorter than its committed length %" PRIu64, name, len);
            break;
        }
        for (ssize_t w = 0; w < r;) {
            ssize_t k = write(out, buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                cli_die(EX_IOERR, "'%s': write failed: %s", name, strerror(errno));
            w += k;
        }
        done += (uint64_t)r;
    }
    if (fsync(out) != 0 || close(out) != 0)
        cli_die(EX_IOERR, "'%s': fsync failed: %s", name, strerror(errno));
    close(in);
    return 0;
}

/* An immutable file (sealed segment, tombstone file, manifest): a hard link, or a copy across
   file systems.  Returns 0 or ENOENT (garbage collected meanwhile). */
static int link_file(int from, int to, const char *name, int *linked)
{
    struct stat st;
    if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? ENOENT : (cli_die(EX_IOERR, "'%s': %s", name, strerror(errno)), 0);
    if (!S_ISREG(st.st_mode))
        cli_die(EX_DATAERR, "'%s': not a regular file (a collection holds regular files only)", name);
    if (linkat(from, name, to, name, 0) == 0) {
        (*linked)++;
        return 0;
    }
    if (errno == ENOENT)
        return ENOENT;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        cli_die(EX_CANTCREAT, "'%s': cannot link: %s", name, strerror(errno));
    return copy_file(from, to, name, UINT64_MAX);
}

/* Empties the directory fd (a failed attempt's files). */
static void empty_dir(int fd, const char *path)
{
    DIR *d = fdopendir(dup(fd));
    if (!d)
        cli_die(EX_IOERR, "'%s': cannot read: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(fd, e->d_name, 0);
    closedir(d);
}

static void write_new(int dirfd, const char *name, const char *text)
{
    vf_error err;
    if (vf_write_file_atomic(dirfd, name, text, strlen(text), &err))
        cli_die_err(&err);
}

/* One attempt at copying generation m: 0, or ENOENT when garbage collection removed a file of
   it meanwhile (the caller takes a newer snapshot). */
static int backup_once(int from, int to, const vf_manifest *m, int *linked, uint64_t *bytes)
{
    char name[VF_NAME_MAX];
    *linked = 0;
    *bytes = 0;
    snprintf(name, sizeof name, "manifest-%08" PRIu64, m->generation);
    if (link_file(from, to, name, linked))
        return ENOENT;
    for (size_t i = 0; i < m->nsealed; i++) {
        if (link_file(from, to, m->sealed[i].file, linked))
            return ENOENT;
        *bytes += m->sealed[i].bytes;
        char cold[VF_NAME_MAX]; /* its vectors apart go with it (SPEC.md 5.6.1) */
        if (m->sealed[i].cold_bytes && vf_cold_name(cold, sizeof cold, m->sealed[i].file) == 0) {
            if (link_file(from, to, cold, linked))
                return ENOENT;
            *bytes += m->sealed[i].cold_bytes;
        }
    }
    for (size_t i = 0; i < m->ntombs; i++)
        if (link_file(from, to, m->tombs[i].file, linked))
            return ENOENT;
    /* a log grows past its committed length while writers run, and its owner appends to and
       cuts it: the backup gets its own copy of the committed bytes */
    for (size_t i = 0; i < m->ngrowing; i++) {
        if (copy_file(from, to, m->growing[i].file, m->growing[i].length))
            return ENOENT;
        *bytes += m->growing[i].length;
    }
    /* fresh lock files: a shared one would tie the two collections' writers together */
    static const char *locks[] = {"commit.lock", "ingest.lock", "maint.lock"};
    for (int i = 0; i < 3; i++)
        write_new(to, locks[i], "");
    char cur[VF_NAME_MAX + 2];
    snprintf(cur, sizeof cur, "%s\n", name);
    write_new(to, "CURRENT", cur);
    return 0;
}

/* The backup directory under construction, removed if the tool dies. */
static char backup_tmp[PATH_MAX];
static int backup_fd = -1;

static void backup_cleanup(void)
{
    if (!backup_tmp[0])
        return;
    DIR *d = fdopendir(dup(backup_fd));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(backup_fd, e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(backup_tmp);
}

static void backup(const char *coll, const char *dir)
{
    vf_error err;
    vf_coll *c;
    if (vf_coll_open(&c, coll, &err))
        cli_die_err(&err);
    struct stat st;
    if (lstat(dir, &st) == 0)
        cli_die(EX_CANTCREAT, "'%s': exists (a backup goes to a new directory)", dir);
    /* built under a temporary name and renamed: a directory named DIR is a whole backup */
    char *tmp = backup_tmp;
    if (snprintf(tmp, sizeof backup_tmp, "%s.tmp.%ld", dir, (long)getpid()) >= (int)sizeof backup_tmp)
        cli_die(EX_USAGE, "'%s': name too long", dir);
    if (mkdir(tmp, 0755) != 0) {
        tmp[0] = 0;
        cli_die(EX_CANTCREAT, "'%s.tmp.%ld': cannot create: %s", dir, (long)getpid(), strerror(errno));
    }
    int to = backup_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (to < 0)
        cli_die(EX_IOERR, "'%s': cannot open: %s", tmp, strerror(errno));
    atexit(backup_cleanup);
    vf_manifest m;
    memset(&m, 0, sizeof m);
    int linked = 0, rc = ENOENT;
    uint64_t bytes = 0;
    for (int tries = 0; rc == ENOENT && tries < 10; tries++) {
        empty_dir(to, tmp);
        /* the snapshot checks every file against its manifest line before it is copied */
        vs_snapshot *s;
        int src = vs_snapshot_open(&s, coll, &err);
        if (src == VF_EBUSY) /* garbage collection took a file of it meanwhile: a newer one */
            continue;
        if (src)
            cli_die_err(&err);
        if (vf_manifest_copy(&m, vs_snapshot_manifest(s), &err))
            cli_die_err(&err);
        rc = backup_once(vf_coll_dirfd(c), to, &m, &linked, &bytes);
        vs_snapshot_close(s);
        if (rc)
            vf_manifest_release(&m);
    }
    if (rc)
        cli_die(EX_TEMPFAIL, "'%s': files kept disappearing under garbage collection; try again", coll);
    if (vf_fsync_dir(to, &err))
        cli_die_err(&err);
    if (rename(tmp, dir) != 0)
        cli_die(EX_CANTCREAT, "'%s': cannot rename from '%s': %s", dir, tmp, strerror(errno));
    tmp[0] = 0; /* done: nothing to clean up */
    close(to);
    char *parent = strdup(dir);
    char *slash = parent ? strrchr(parent, '/') : NULL;
    int pfd = open(slash ? (slash == parent ? "/" : (*slash = 0, parent)) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd >= 0) {
        fsync(pfd);
        close(pfd);
    }
    free(parent);
    if (!cli_quiet)
        fprintf(stderr, "%s: backup of '%s' generation %" PRIu64 " in '%s': %zu files, %d hard links, %.1f MB\n",
                cli_tool, coll, m.generation, dir, m.nsealed + m.ngrowing + m.ntombs + 1, linked, (double)bytes / 1e6);
    vf_manifest_release(&m);
    vf_coll_close(c);
}

int main(int argc, char **argv)
{
    cli_init("vec-export", argv);
    enum { O_IDS = 256, O_KEYS, O_PARTITION, O_SHARD, O_BACKUP };
    static const struct option lo[] = {
        {"format", required_argument, 0, 'f'}, {"ids", required_argument, 0, O_IDS},
        {"keys", required_argument, 0, O_KEYS}, {"partition", required_argument, 0, O_PARTITION},
        {"shard", required_argument, 0, O_SHARD}, {"backup", no_argument, 0, O_BACKUP},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},      {0, 0, 0, 0}};
    opts o;
    memset(&o, 0, sizeof o);
    int c;
    while ((c = getopt_long(argc, argv, "f:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!(o.fmt = fmt_parse(optarg)))
                cli_usage("unknown format '%s' (fvecs, npy, hdf5, csv, tsv or jsonl)", optarg);
            break;
        case O_IDS: o.ids = optarg; break;
        case O_KEYS: o.keys = optarg; break;
        case O_PARTITION:
            if (o.npkeys == 64)
                cli_usage("--partition: at most 64 keys");
            o.pkeys[o.npkeys++] = cli_u64("--partition", optarg, 0, VF_ID_MAX);
            break;
        case O_SHARD:
            if (o.nshards == 64)
                cli_usage("--shard: at most 64 shards");
            o.shards[o.nshards++] = (uint32_t)cli_u64("--shard", optarg, 0, UINT32_MAX);
            break;
        case O_BACKUP: o.backup = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind >= argc)
        cli_usage("missing COLL");
    const char *coll = argv[optind++];
    const char *out = optind < argc ? argv[optind++] : NULL;
    if (optind < argc)
        cli_usage("unexpected argument '%s'", argv[optind]);
    if (out && !strcmp(out, "-"))
        out = NULL;
    if (o.backup) {
        if (o.fmt || o.ids || o.keys || o.npkeys || o.nshards)
            cli_usage("--backup copies the whole snapshot: it takes no format or row options");
        if (!out)
            cli_usage("--backup needs a directory DIR");
        backup(coll, out);
        return 0;
    }
    if (!o.fmt)
        o.fmt = out ? fmt_parse(ext_of(out)) : E_TSV;
    if (!o.fmt)
        cli_usage("'%s': unknown format: name it .fvecs, .npy, .h5, .csv, .tsv or .jsonl, or give --format", out);
    if (o.fmt == E_HDF5 && !out)
        cli_usage("HDF5 needs a file OUT, not stdout");
    if ((o.ids || o.keys) && o.fmt != E_FVECS && o.fmt != E_NPY)
        cli_usage("--ids and --keys go with fvecs and npy (%s carries them)", fmt_names[o.fmt]);
    atexit(out_cleanup);
    export_rows(coll, out, &o);
    return 0;
}
