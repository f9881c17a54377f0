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
#include <sys/stat.h>
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

/* [R-PARTIAL-VALUES] each hit is a row (id below 2^63, distance not NaN) or
   the filler (id 2^64-1, distance +inf); a query's hits ascend by (distance,
   id), fillers last.  Returns the index of the first bad hit, or total. */
static uint64_t first_bad_hit(const float *d, const uint64_t *id, uint64_t total, uint32_t k)
{
    for (uint64_t e = 0; e < total; e++) {
        if (isnan(d[e]) || (id[e] > VF_ID_MAX && (id[e] != UINT64_MAX || d[e] != INFINITY)))
            return e;
        if (e % k == 0)
            continue;
        float pd = d[e - 1];
        uint64_t pid = id[e - 1];
        if (pid == UINT64_MAX ? id[e] != UINT64_MAX : id[e] != UINT64_MAX && (pd > d[e] || (pd == d[e] && pid >= id[e])))
            return e;
    }
    return total;
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
    if (h->k == 0 || h->k > VF_PARTIAL_K_MAX || h->metric < 1 || h->metric > 3)
        return vf_fail(err, VF_ECORRUPT, "'%s': bad partial result header", name);
    uint64_t total = (uint64_t)h->nq * h->k; /* < 2^32 * 2^20: no wrap */
    /* [R-PARTIAL-ALLOC] the header is not trusted for memory: a regular file
       must hold every entry it announces, and otherwise (a pipe) the arrays
       grow only as entries arrive */
    struct stat st;
    off_t pos;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (pos = lseek(fd, 0, SEEK_CUR)) >= 0 &&
        ((uint64_t)st.st_size < (uint64_t)pos + 8 || ((uint64_t)st.st_size - (uint64_t)pos - 8) / 16 < total))
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated partial result", name);
    float *d = NULL;
    uint64_t *id = NULL;
    size_t cap = 0;
    uint64_t reserved_at = UINT64_MAX; /* first hit whose zero field is not zero */
    unsigned char *buf = malloc(CHUNK * 16);
    if (!buf)
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    uint32_t crc = vf_crc32(0, hdr, sizeof hdr);
    for (uint64_t i = 0; rc == 0 && i < total; i += CHUNK) {
        size_t m = total - i < CHUNK ? (size_t)(total - i) : CHUNK;
        rc = read_full(fd, buf, m * 16, name, err);
        if (rc)
            break;
        if (i + m > cap) {
            size_t nc = cap ? cap : CHUNK;
            while (nc < i + m)
                nc = nc > total / 2 ? (size_t)total : nc * 2;
            float *nd = realloc(d, nc * sizeof *d);
            if (nd)
                d = nd;
            uint64_t *ni = nd ? realloc(id, nc * sizeof *id) : NULL;
            if (!nd || !ni) {
                rc = vf_fail(err, VF_ENOMEM, "out of memory");
                break;
            }
            id = ni;
            cap = nc;
        }
        crc = vf_crc32(crc, buf, m * 16);
        for (size_t j = 0; j < m; j++) {
            uint64_t e = i + j;
            memcpy(&d[e], buf + j * 16, 4);
            id[e] = vf_get64(buf + j * 16 + 8);
            if (vf_get32(buf + j * 16 + 4) != 0 && reserved_at == UINT64_MAX)
                reserved_at = e;
        }
    }
    unsigned char trailer[8];
    if (rc == 0)
        rc = read_full(fd, trailer, sizeof trailer, name, err);
    if (rc == 0 && vf_get32(trailer) != crc)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': partial result checksum mismatch", name);
    else if (rc == 0 && (vf_get32(trailer + 4) != 0 || reserved_at != UINT64_MAX))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': reserved field is not zero", name);
    uint64_t bad = rc == 0 ? first_bad_hit(d, id, total, h->k) : total;
    if (bad < total)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': query %llu: hit %u is out of range or out of order", name,
                     (unsigned long long)(bad / h->k), (unsigned)(bad % h->k) + 1);
    free(buf);
    if (rc == 0 && !d && !(d = malloc(sizeof *d)))
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    if (rc == 0 && !id && !(id = malloc(sizeof *id)))
        rc = vf_fail(err, VF_ENOMEM, "out of memory");
    if (rc) {
        free(d);
        free(id);
        return rc;
    }
    *dist = d;
    *ids = id;
    return 0;
}
