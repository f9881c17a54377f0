/*
 * log.c - growing segments (SPEC.md section 4): a 32-byte header, then
 * append-only records, each [u32 body length][u32 crc32 of body][body],
 * padded with zeros to a multiple of 8 bytes.
 *
 * Invariants: records are only ever appended; a log is read only up to the
 * length a manifest commits ([R-LOG-COMMITTED]), and every record read is
 * checked for bounds and CRC before any field of it is used, so a torn or
 * damaged tail is reported, never misread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format_internal.h"

static const unsigned char log_magic[8] = {0x89, 'V', 'L', 'O', 'G', '\r', '\n', 0x1a};
#define REC_HDR 8
#define ROWS_FIXED 16 /* u32 type, u32 n, u64 lsn */
#define MAX_REC_ROWS (1u << 20)

static size_t body_len(uint32_t dim, uint32_t n, int keys)
{
    return ROWS_FIXED + (size_t)n * 8 * (keys ? 2 : 1) + (size_t)n * dim * 4;
}

static void header_bytes(unsigned char h[VF_LOG_HEADER_SIZE], uint32_t dim, uint32_t shard, uint32_t flags)
{
    memset(h, 0, VF_LOG_HEADER_SIZE);
    memcpy(h, log_magic, 8);
    vf_put16(h + 8, VF_FORMAT_VERSION);  /* read version */
    vf_put16(h + 10, VF_FORMAT_VERSION); /* write version */
    vf_put32(h + 12, dim);
    vf_put32(h + 16, shard);
    vf_put32(h + 20, flags);
    vf_put32(h + 28, vf_crc32(0, h, 28));
}

static int check_header(const unsigned char *h, size_t avail, const char *name, vf_log_view *v, vf_error *err)
{
    if (avail < VF_LOG_HEADER_SIZE || memcmp(h, log_magic, 8) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg growing segment", name);
    if (vf_get32(h + 28) != vf_crc32(0, h, 28))
        return vf_fail(err, VF_ECORRUPT, "'%s': log header checksum mismatch", name);
    if (vf_get16(h + 8) > VF_FORMAT_VERSION)
        return vf_fail(err, VF_EVERSION, "'%s': log needs reader version %u", name, vf_get16(h + 8));
    uint32_t flags = vf_get32(h + 20);
    if (vf_get32(h + 12) == 0 || vf_get32(h + 12) > VF_DIM_MAX || (flags & ~VF_LOG_FLAG_KEYS) || vf_get32(h + 24) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': bad log header fields", name);
    v->dim = vf_get32(h + 12);
    v->shard = vf_get32(h + 16);
    v->flags = flags;
    return 0;
}

int vf_log_create(int dirfd, const char *name, uint32_t dim, uint32_t shard, uint32_t flags, int *fd,
                  vf_error *err)
{
    unsigned char h[VF_LOG_HEADER_SIZE];
    header_bytes(h, dim, shard, flags);
    int f = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot create log: %s", name, strerror(errno));
    int rc = vf_write_all(f, h, sizeof h, name, err);
    if (rc == 0 && fsync(f) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': fsync failed: %s", name, strerror(errno));
    if (rc == 0)
        rc = vf_fsync_dir(dirfd, err);
    if (rc) {
        close(f);
        unlinkat(dirfd, name, 0);
        return rc;
    }
    *fd = f;
    return 0;
}

int vf_log_open_append(int dirfd, const char *name, uint64_t length, int *fd, vf_error *err)
{
    struct stat st;
    int f = vf_open_in(dirfd, name, O_RDWR, 0, &st, err);
    if (f < 0)
        return f;
    unsigned char h[VF_LOG_HEADER_SIZE];
    vf_log_view v;
    int rc = 0;
    /* [R-FILES] appending to a file linked elsewhere too would change bytes
       outside the collection */
    if (st.st_nlink != 1)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': log has %ju hard links (a collection's files are its own)", name,
                     (uintmax_t)st.st_nlink);
    else if ((uint64_t)st.st_size < length)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': log is shorter than its committed length", name);
    else if (pread(f, h, sizeof h, 0) != (ssize_t)sizeof h)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': cannot read log header", name);
    else
        rc = check_header(h, sizeof h, name, &v, err);
    /* [R-LOG-TAIL] bytes past the committed length were never acknowledged */
    if (rc == 0 && (uint64_t)st.st_size > length)
        rc = vf_log_truncate(f, length, err);
    if (rc == 0 && lseek(f, (off_t)length, SEEK_SET) < 0)
        rc = vf_fail(err, VF_EIO, "'%s': seek failed: %s", name, strerror(errno));
    if (rc) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int vf_log_truncate(int fd, uint64_t length, vf_error *err)
{
    if (ftruncate(fd, (off_t)length) != 0 || lseek(fd, (off_t)length, SEEK_SET) < 0)
        return vf_fail(err, VF_EIO, "log: truncate failed: %s", strerror(errno));
    return 0;
}

int vf_log_append(int fd, uint64_t *length, uint32_t dim, uint64_t lsn, uint32_t n, const uint64_t *ids,
                  const uint64_t *keys, const float *vecs, vf_error *err)
{
    if (n == 0)
        return 0;
    if (n > MAX_REC_ROWS)
        return vf_fail(err, VF_EARG, "log: %u rows exceed one record's limit", n);
    size_t blen = body_len(dim, n, keys != NULL);
    size_t total = VF_ALIGN_UP(REC_HDR + blen, 8);
    unsigned char *rec = calloc(1, total);
    if (!rec)
        return vf_fail(err, VF_ENOMEM, "log: out of memory");
    unsigned char *b = rec + REC_HDR, *p = b + ROWS_FIXED;
    vf_put32(b, VF_LOG_REC_ROWS);
    vf_put32(b + 4, n);
    vf_put64(b + 8, lsn);
    memcpy(p, ids, (size_t)n * 8);
    p += (size_t)n * 8;
    if (keys) {
        memcpy(p, keys, (size_t)n * 8);
        p += (size_t)n * 8;
    }
    memcpy(p, vecs, (size_t)n * dim * 4);
    vf_put32(rec, (uint32_t)blen);
    vf_put32(rec + 4, vf_crc32(0, b, blen));
    int rc = vf_write_all(fd, rec, total, "log", err);
    free(rec);
    if (rc == 0)
        *length += total;
    return rc;
}

int vf_log_map(int dirfd, const char *name, uint64_t length, vf_log_view *v, vf_error *err)
{
    memset(v, 0, sizeof *v);
    struct stat st;
    int f = vf_open_in(dirfd, name, O_RDONLY, 0, &st, err);
    if (f < 0)
        return f;
    int rc = 0;
    if ((uint64_t)st.st_size < length || length < VF_LOG_HEADER_SIZE)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': log is shorter than its committed length", name);
    void *map = MAP_FAILED;
    if (rc == 0) {
        map = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, f, 0);
        if (map == MAP_FAILED)
            rc = vf_fail(err, VF_EIO, "'%s': mmap failed: %s", name, strerror(errno));
    }
    close(f);
    if (rc)
        return rc;
    v->map = map;
    v->maplen = (size_t)length;
    rc = check_header(map, v->maplen, name, v, err);
    if (rc)
        vf_log_unmap(v);
    return rc;
}

void vf_log_unmap(vf_log_view *v)
{
    if (v->map)
        munmap((void *)v->map, v->maplen);
    v->map = NULL;
}

int vf_log_next(const vf_log_view *v, uint64_t *off, uint64_t end, vf_rows *rows, vf_error *err)
{
    if (end > v->maplen)
        end = v->maplen;
    if (*off >= end)
        return 0;
    uint64_t o = *off;
    if (o % 8 || o < VF_LOG_HEADER_SIZE || end - o < REC_HDR + ROWS_FIXED)
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu is truncated", (unsigned long long)o);
    const unsigned char *r = v->map + o;
    uint64_t blen = vf_get32(r);
    if (blen < ROWS_FIXED || blen > end - o - REC_HDR)
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu has a bad length", (unsigned long long)o);
    const unsigned char *b = r + REC_HDR;
    if (vf_crc32(0, b, (size_t)blen) != vf_get32(r + 4))
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu fails its checksum", (unsigned long long)o);
    uint32_t type = vf_get32(b), n = vf_get32(b + 4);
    int keys = (v->flags & VF_LOG_FLAG_KEYS) != 0;
    /* [R-LOG-RECORD] type 1 and exactly its length (offset, end and CRC checked above) */
    if (type != VF_LOG_REC_ROWS || n == 0 || n > MAX_REC_ROWS || blen != body_len(v->dim, n, keys))
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu has bad contents", (unsigned long long)o);
    /* blen <= end - o - 8 and end <= maplen, so this cannot wrap */
    uint64_t next = VF_ALIGN_UP(o + REC_HDR + blen, 8);
    if (next > end)
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu is truncated", (unsigned long long)o);
    /* [R-LOG-VALUES] a CRC only proves the writer wrote these bytes: the rows
       must also be rows of SPEC.md 1 (ids below 2^63, LSN >= 1, finite) */
    const unsigned char *ids = b + ROWS_FIXED, *vec = ids + (size_t)n * 8 * (keys ? 2 : 1);
    if (vf_get64(b + 8) == 0)
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu has lsn 0", (unsigned long long)o);
    for (uint32_t i = 0; i < n; i++)
        if (vf_get64(ids + (size_t)i * 8) > VF_ID_MAX)
            return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu: row %u has id %llu, above 2^63-1",
                           (unsigned long long)o, i, (unsigned long long)vf_get64(ids + (size_t)i * 8));
    if (!vf_all_finite(vec, (size_t)n * v->dim))
        return vf_fail(err, VF_ECORRUPT, "log: record at offset %llu has a NaN or infinite value",
                       (unsigned long long)o);
    rows->lsn = vf_get64(b + 8);
    rows->n = n;
    rows->ids = (const uint64_t *)ids;
    rows->keys = keys ? rows->ids + n : NULL;
    rows->vecs = (const float *)vec;
    *off = next;
    return 1;
}
