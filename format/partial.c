/*
 * partial.c - partial results (SPEC.md section 7): one node's or worker's
 * top-k lists for every query, in a file or on a pipe.  A 32-byte header,
 * nq*k entries of (f32 dist, u32 zero, u64 id), and an 8-byte trailer with
 * the CRC-32 of everything before it.  Read and written sequentially, so a
 * pipe between processes carries the same bytes as a file.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "format_internal.h"

static const unsigned char part_magic[8] = {0x89, 'V', 'P', 'R', 'T', '\r', '\n', 0x1a};
#define CHUNK 4096 /* entries per write */

static int read_full(int fd, void *buf, size_t len, const char *name, vf_error *err)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vf_fail(err, VF_EIO, "'%s': read failed: %s", name, strerror(errno));
        if (n == 0)
            return vf_fail(err, VF_ECORRUPT, "'%s': truncated partial result", name);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int vf_partial_write_fd(int fd, const vf_partial_hdr *h, const float *dist, const uint64_t *ids, const char *name,
                        vf_error *err)
{
    unsigned char hdr[VF_PARTIAL_HEADER_SIZE] = {0};
    memcpy(hdr, part_magic, 8);
    vf_put16(hdr + 8, VF_FORMAT_VERSION);
    vf_put16(hdr + 10, VF_FORMAT_VERSION);
    vf_put32(hdr + 12, h->metric);
    vf_put32(hdr + 16, h->nq);
    vf_put32(hdr + 20, h->k);
    vf_put64(hdr + 24, h->generation);
    uint32_t crc = vf_crc32(0, hdr, sizeof hdr);
    int rc = vf_write_all(fd, hdr, sizeof hdr, name, err);
    unsigned char *buf = malloc(CHUNK * 16);
    if (!buf)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    size_t total = (size_t)h->nq * h->k;
    for (size_t i = 0; rc == 0 && i < total; i += CHUNK) {
        size_t m = total - i < CHUNK ? total - i : CHUNK;
        memset(buf, 0, m * 16);
        for (size_t j = 0; j < m; j++) {
            memcpy(buf + j * 16, &dist[i + j], 4);
            vf_put64(buf + j * 16 + 8, ids[i + j]);
        }
        crc = vf_crc32(crc, buf, m * 16);
        rc = vf_write_all(fd, buf, m * 16, name, err);
    }
    free(buf);
    unsigned char trailer[8] = {0};
    vf_put32(trailer, crc);
    return rc ? rc : vf_write_all(fd, trailer, sizeof trailer, name, err);
}

int vf_partial_read_fd(int fd, vf_partial_hdr *h, float **dist, uint64_t **ids, const char *name, vf_error *err)
{
    unsigned char hdr[VF_PARTIAL_HEADER_SIZE];
    int rc = read_full(fd, hdr, sizeof hdr, name, err);
    if (rc)
        return rc;
    if (memcmp(hdr, part_magic, 8) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg partial result", name);
    if (vf_get16(hdr + 8) > VF_FORMAT_VERSION)
        return vf_fail(err, VF_EVERSION, "'%s': needs reader version %u", name, vf_get16(hdr + 8));
    h->metric = vf_get32(hdr + 12);
    h->nq = vf_get32(hdr + 16);
    h->k = vf_get32(hdr + 20);
    h->generation = vf_get64(hdr + 24);
    if (h->k == 0 || h->k > 1000000 || h->metric < 1 || h->metric > 3)
        return vf_fail(err, VF_ECORRUPT, "'%s': bad partial result header", name);
    size_t total = (size_t)h->nq * h->k;
    float *d = malloc((total ? total : 1) * sizeof *d);
    uint64_t *id = malloc((total ? total : 1) * sizeof *id);
    unsigned char *buf = malloc(CHUNK * 16);
    if (!d || !id || !buf)
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    uint32_t crc = vf_crc32(0, hdr, sizeof hdr);
    for (size_t i = 0; rc == 0 && i < total; i += CHUNK) {
        size_t m = total - i < CHUNK ? total - i : CHUNK;
        rc = read_full(fd, buf, m * 16, name, err);
        if (rc)
            break;
        crc = vf_crc32(crc, buf, m * 16);
        for (size_t j = 0; j < m; j++) {
            memcpy(&d[i + j], buf + j * 16, 4);
            id[i + j] = vf_get64(buf + j * 16 + 8);
        }
    }
    unsigned char trailer[8];
    if (rc == 0)
        rc = read_full(fd, trailer, sizeof trailer, name, err);
    if (rc == 0 && vf_get32(trailer) != crc)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': partial result checksum mismatch", name);
    free(buf);
    if (rc) {
        free(d);
        free(id);
        return rc;
    }
    *dist = d;
    *ids = id;
    return 0;
}
