/*
 * fsutil.c - durable file primitives shared by the format code.
 *
 * Invariant (SPEC.md 2.2, [R-ATOMIC]): a file other than a growing log is
 * never visible under its final name until its bytes are on disk: it is
 * written under "NAME.tmp", fsynced, renamed, and the directory fsynced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "format_internal.h"

uint32_t vf_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* zlib's crc32 takes uInt lengths; feed large buffers in pieces */
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

int vf_fsync_dir(int dirfd, vf_error *err)
{
    if (fsync(dirfd) != 0)
        return vf_fail(err, VF_EIO, "fsync of collection directory failed: %s", strerror(errno));
    return 0;
}

int vf_write_all(int fd, const void *data, size_t len, const char *name, vf_error *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vf_fail(err, VF_EIO, "'%s': write failed: %s", name, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int vf_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, vf_error *err)
{
    char tmp[VF_NAME_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot create: %s", tmp, strerror(errno));
    int rc = vf_write_all(fd, data, len, tmp, err);
    if (rc == 0 && fsync(fd) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = vf_fail(err, VF_EIO, "'%s': close failed: %s", tmp, strerror(errno));
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': rename failed: %s", name, strerror(errno));
    if (rc != 0) {
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    return vf_fsync_dir(dirfd, err);
}

int vf_read_file(int dirfd, const char *name, char **data, size_t *len, vf_error *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vf_fail(err, errno == ENOENT ? VF_ENOENT : VF_EIO, "'%s': cannot open: %s", name,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return vf_fail(err, VF_EIO, "'%s': cannot stat: %s", name, strerror(errno));
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            return vf_fail(err, VF_EIO, "'%s': read failed: %s", name, strerror(errno));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

void vf_file_name(char out[VF_NAME_MAX], char kind, uint64_t n)
{
    const char *ext = kind == 'g' ? "log" : kind == 's' ? "vseg" : kind == 't' ? "tomb" : "bin";
    snprintf(out, VF_NAME_MAX, "%c-%08llu.%s", kind, (unsigned long long)n, ext);
}

/* Little-endian accessors: the host is assumed little-endian (checked at
   build time in format_internal.h), so these are plain copies. */
uint16_t vf_get16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
uint32_t vf_get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
uint64_t vf_get64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
void vf_put16(void *p, uint16_t v) { memcpy(p, &v, 2); }
void vf_put32(void *p, uint32_t v) { memcpy(p, &v, 4); }
void vf_put64(void *p, uint64_t v) { memcpy(p, &v, 8); }
