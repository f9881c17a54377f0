/*
 * fuzz.h - what every fuzz target shares (tests/fuzz/README.md).
 *
 * A target is one file tests/fuzz/NAME.c defining LLVMFuzzerTestOneInput.  It is linked
 * twice: with libFuzzer (clang, `make fuzz`) and with replay.c (any compiler, `make check`),
 * which feeds it the seed corpus and the regression inputs.  Both builds call the library the
 * way the tools do: from files in a private scratch directory, never from memory, so the
 * opener's own checks (sizes, mmap) are under test too.
 *
 * Checksums would stop almost every mutation at the first CRC check, so the targets recompute
 * the CRCs of the structures they feed (fz_fix_*) before the library sees the bytes: a crash
 * input written back with the fixes applied is a file the tools read the same way.
 *
 * Everything here is static inline: each target is a single translation unit.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VECSEG_STATIC_LINKING_ONLY
#include "vecseg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir[256];
static int fz_dirfd = -1;

/* Removes the scratch directory (it holds plain files only). */
static inline void fz_cleanup(void)
{
    DIR *d = fdopendir(dup(fz_dirfd));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(fz_dirfd, e->d_name, 0);
    if (d)
        closedir(d);
    close(fz_dirfd);
    rmdir(fz_dir);
}

/* The scratch directory, made on first use and removed at exit. */
static inline const char *fz_scratch(void)
{
    if (fz_dir[0])
        return fz_dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_dir, sizeof fz_dir, "%s/vecseg-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fz_dir) || (fz_dirfd = open(fz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "fuzz: cannot make a scratch directory: %s\n", strerror(errno));
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* Writes data to NAME in the scratch directory, replacing it. */
static inline void fz_write(const char *name, const void *data, size_t size)
{
    fz_scratch();
    int fd = openat(fz_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *p = data;
    while (fd >= 0 && size > 0) {
        ssize_t n = write(fd, p, size);
        if (n <= 0)
            break;
        p += n;
        size -= (size_t)n;
    }
    if (fd < 0 || size > 0) {
        fprintf(stderr, "fuzz: cannot write %s/%s: %s\n", fz_dir, name, strerror(errno));
        abort();
    }
    close(fd);
}

/* The path of NAME in the scratch directory (static buffer). */
static inline const char *fz_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_scratch(), name);
    return path;
}

static inline uint32_t fz_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t fz_get64(const uint8_t *p) { return (uint64_t)fz_get32(p) | (uint64_t)fz_get32(p + 4) << 32; }

static inline void fz_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A copy of the input the target may change (the fixes); free() it. */
static inline uint8_t *fz_copy(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    if (!b)
        abort();
    if (size)
        memcpy(b, data, size);
    return b;
}

/* Stores at AT (4 bytes) the CRC-32 of b[from, to), when all of it lies inside size bytes. */
static inline void fz_fix_crc(uint8_t *b, size_t size, uint64_t at, uint64_t from, uint64_t to)
{
    if (from <= to && to <= size && at <= size && size - at >= 4)
        fz_put32(b + at, vf_crc32(0, b + from, (size_t)(to - from)));
}

/* A manifest for the scratch collection: one shard, the given dim and metric, no segments. */
static inline void fz_manifest_init(vf_manifest *m, uint32_t dim, int metric, int keys)
{
    memset(m, 0, sizeof *m);
    m->generation = 1;
    m->dim = dim;
    m->metric = metric;
    m->keys = keys;
    m->next_id = m->next_lsn = m->next_ingest_file = m->next_maint_file = 1000;
    if (vs_shards_init(m, 1, NULL))
        abort();
}

/* Makes the scratch directory a collection whose CURRENT names manifest m (written as the
   tools write it, but without fsync: nothing here needs to survive a crash). */
static inline void fz_publish(vf_manifest *m)
{
    char *text;
    size_t len;
    if (vf_manifest_format(m, &text, &len, NULL))
        abort();
    fz_write("manifest-00000001", text, len);
    free(text);
    fz_write("CURRENT", "manifest-00000001\n", 18);
}

/* A query of dim floats near row `row` of vecs (n rows; any finite values if n == 0): the
   readers refuse NaN and infinities, so the query never holds them, whatever the file does. */
static inline float *fz_query(const float *vecs, size_t n, uint32_t dim, size_t row)
{
    float *q = malloc((size_t)dim * sizeof *q);
    if (!q)
        abort();
    for (uint32_t j = 0; j < dim; j++) {
        float x = 0.25f * (float)((j % 7) - 3);
        if (n > 0) {
            memcpy(&x, vecs + (row % n) * dim + j, sizeof x);
            x += 0.01f;
        }
        q[j] = x == x && x - x == 0 ? x : 0.0f;
    }
    return q;
}

/* Searches snapshot s as vec-query does (in this process, one thread, so runs repeat):
   one query near q with parameters drawn from h, nine queries at once (the batched kernel),
   and, when key is given, the one query again restricted to that partition key. */
static inline void fz_search(vs_snapshot *s, const float *q, uint32_t dim, uint32_t h, const uint64_t *key)
{
    enum { NQ = 9, KMAX = 16 };
    float *qs = malloc((size_t)NQ * dim * sizeof *qs);
    uint64_t ids[NQ * KMAX];
    float dist[NQ * KMAX];
    if (!qs)
        abort();
    for (size_t i = 0; i < NQ; i++)
        for (uint32_t j = 0; j < dim; j++)
            qs[i * dim + j] = q[j] + 0.125f * (float)i;
    vs_search_opts one = {.k = 1 + h % KMAX, .threads = 1, .ef = (h >> 4) % 40, .nprobe = (h >> 10) % 8,
                          .refine = (h >> 13) % 4};
    vs_search_opts many = {.k = 3, .threads = 1};
    vs_search(s, qs, 1, &one, ids, dist, NULL);
    vs_search(s, qs, NQ, &many, ids, dist, NULL);
    if (key && vs_snapshot_filter_keys(s, key, 1, NULL) == 0)
        vs_search(s, qs, 1, &one, ids, dist, NULL);
    free(qs);
}

#endif
