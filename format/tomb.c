/*
 * tomb.c - tombstone files (SPEC.md section 6): a 32-byte header, entries of
 * (u64 id, u64 lsn) sorted by id then lsn, and an 8-byte trailer holding the
 * CRC-32 of every byte before it.  Written once, atomically; never changed.
 */
#include <stdio.h>
#include <string.h>

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

int vf_tomb_read(int dirfd, const char *name, vf_tomb **ents, size_t *n, vf_error *err)
{
    char *data;
    size_t len;
    int rc = vf_read_file(dirfd, name, &data, &len, err);
    if (rc)
        return rc;
    const unsigned char *b = (const unsigned char *)data;
    uint64_t count = len >= TOMB_HDR ? vf_get64(b + 16) : 0;
    if (len < TOMB_HDR + TOMB_TRAILER || memcmp(b, tomb_magic, 8) != 0)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg tombstone file", name);
    else if (vf_get16(b + 8) > VF_FORMAT_VERSION)
        rc = vf_fail(err, VF_EVERSION, "'%s': needs reader version %u", name, vf_get16(b + 8));
    else if (count > (len - TOMB_HDR - TOMB_TRAILER) / 16 || TOMB_HDR + count * 16 + TOMB_TRAILER != len)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': truncated tombstone file", name);
    else if (vf_get32(b + len - TOMB_TRAILER) != vf_crc32(0, b, len - TOMB_TRAILER))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': tombstone checksum mismatch", name);
    vf_tomb *t = NULL;
    if (rc == 0 && !(t = malloc((count ? count : 1) * sizeof *t)))
        rc = vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        t[i].id = vf_get64(b + TOMB_HDR + i * 16);
        t[i].lsn = vf_get64(b + TOMB_HDR + i * 16 + 8);
    }
    free(data);
    if (rc) {
        free(t);
        return rc;
    }
    *ents = t;
    *n = (size_t)count;
    return 0;
}
