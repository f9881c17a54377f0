/*
 * tomb.c - tombstone files (SPEC.md section 6): a 32-byte header, entries of
 * (u64 id, u64 lsn) sorted by id then lsn, and an 8-byte trailer holding the
 * CRC-32 of every byte before it.  Written once, atomically; never changed.
 * A reader checks the size against the header's count before it allocates,
 * and every reserved field and entry before it returns any.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format_internal.h"

static const unsigned char tomb_magic[8] = {0x89, 'V', 'T', 'M', 'B', '\r', '\n', 0x1a};
#define TOMB_HDR 32
#define TOMB_TRAILER 8

static int cmp_tomb(const void *a, const void *b)
{
    const vf_tomb *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

int vf_tomb_write(int dirfd, const char *name, vf_tomb *ents, size_t n, vf_error *err)
{
    qsort(ents, n, sizeof *ents, cmp_tomb);
    size_t len = TOMB_HDR + n * 16 + TOMB_TRAILER;
    unsigned char *buf = calloc(1, len);
    if (!buf)
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    memcpy(buf, tomb_magic, 8);
    vf_put16(buf + 8, VF_FORMAT_VERSION);
    vf_put16(buf + 10, VF_FORMAT_VERSION);
    vf_put64(buf + 16, n);
    for (size_t i = 0; i < n; i++) {
        vf_put64(buf + TOMB_HDR + i * 16, ents[i].id);
        vf_put64(buf + TOMB_HDR + i * 16 + 8, ents[i].lsn);
    }
    vf_put32(buf + len - TOMB_TRAILER, vf_crc32(0, buf, len - TOMB_TRAILER));
    int rc = vf_write_file_atomic(dirfd, name, buf, len, err);
    free(buf);
    return rc;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off, const char *name, vf_error *err)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return vf_fail(err, VF_EIO, "'%s': read failed: %s", name, strerror(errno));
        if (r == 0)
            return vf_fail(err, VF_ECORRUPT, "'%s': truncated tombstone file", name);
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int vf_tomb_read(int dirfd, const char *name, vf_tomb **ents, size_t *n, vf_error *err)
{
    struct stat st;
    int fd = vf_open_in(dirfd, name, O_RDONLY, 0, &st, err);
    if (fd < 0)
        return fd;
    unsigned char h[TOMB_HDR], tr[TOMB_TRAILER];
    uint64_t size = (uint64_t)st.st_size, count = 0;
    vf_tomb *t = NULL;
    int rc = size < TOMB_HDR + TOMB_TRAILER ? vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg tombstone file", name)
                                             : read_at(fd, h, TOMB_HDR, 0, name, err);
    if (rc == 0 && memcmp(h, tomb_magic, 8) != 0)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg tombstone file", name);
    else if (rc == 0 && vf_get16(h + 8) > VF_FORMAT_VERSION)
        rc = vf_fail(err, VF_EVERSION, "'%s': needs reader version %u", name, vf_get16(h + 8));
    /* [R-FILE-CAPS] the size must be exactly what the header's count says,
       checked before anything is allocated (no multiplication to wrap) */
    if (rc == 0) {
        count = vf_get64(h + 16);
        if (count > (size - TOMB_HDR - TOMB_TRAILER) / 16 || size - TOMB_HDR - TOMB_TRAILER != count * 16)
            rc = vf_fail(err, VF_ECORRUPT, "'%s': size %llu does not match its count of %llu entries", name,
                         (unsigned long long)size, (unsigned long long)count);
        else if (vf_get32(h + 12) != 0 || vf_get64(h + 24) != 0)
            rc = vf_fail(err, VF_ECORRUPT, "'%s': reserved header fields are not zero", name);
        else if (count > SIZE_MAX / sizeof *t - 1 || !(t = malloc((size_t)(count ? count : 1) * sizeof *t)))
            rc = vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    }
    /* entries are (u64 id, u64 lsn) little-endian: the layout of vf_tomb */
    if (rc == 0)
        rc = read_at(fd, t, (size_t)count * 16, TOMB_HDR, name, err);
    if (rc == 0)
        rc = read_at(fd, tr, TOMB_TRAILER, TOMB_HDR + count * 16, name, err);
    close(fd);
    if (rc == 0 && vf_get32(tr) != vf_crc32(vf_crc32(0, h, TOMB_HDR), t, (size_t)count * 16))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': tombstone checksum mismatch", name);
    else if (rc == 0 && vf_get32(tr + 4) != 0)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': reserved trailer field is not zero", name);
    /* [R-TOMB-VALUES] ids below 2^63, LSNs >= 1, sorted by (id, lsn) */
    for (uint64_t i = 0; rc == 0 && i < count; i++)
        if (t[i].id > VF_ID_MAX || t[i].lsn == 0 ||
            (i && (t[i - 1].id > t[i].id || (t[i - 1].id == t[i].id && t[i - 1].lsn > t[i].lsn))))
            rc = vf_fail(err, VF_ECORRUPT, "'%s': entry %llu is out of range or out of order", name,
                         (unsigned long long)i);
    if (rc) {
        free(t);
        return rc;
    }
    *ents = t;
    *n = (size_t)count;
    return 0;
}
