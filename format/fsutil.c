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

int vf_open_in(int dirfd, const char *name, int flags, int follow, struct stat *st, vf_error *err)
{
    /* [R-FILES] O_NONBLOCK: opening a FIFO must not wait for a writer; it is
       refused below like any file that is not regular */
    int fd = openat(dirfd, name, flags | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && !follow)
            return vf_fail(err, VF_ECORRUPT, "'%s': is a symbolic link (a collection holds regular files only)",
                           name);
        if (e == ENXIO || e == EISDIR)
            return vf_fail(err, VF_ECORRUPT, "'%s': not a regular file", name);
        return vf_fail(err, e == ENOENT ? VF_ENOENT : VF_EIO, "'%s': cannot open: %s", name, strerror(e));
    }
    struct stat sb;
    if (!st)
        st = &sb;
    int rc = 0;
    if (fstat(fd, st) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': cannot stat: %s", name, strerror(errno));
    else if (!S_ISREG(st->st_mode))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': not a regular file", name);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': fcntl failed: %s", name, strerror(errno));
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int vf_create_tmp(int dirfd, const char *tmp, vf_error *err)
{
    /* a stale NAME.tmp of a crashed writer is removed, never opened: whatever
       it is (a symbolic link, a FIFO), O_EXCL creates a fresh regular file */
    if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT)
        return vf_fail(err, VF_EIO, "'%s': cannot remove: %s", tmp, strerror(errno));
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return vf_fail(err, VF_EIO, "'%s': cannot create: %s", tmp, strerror(errno));
    return fd;
}

int vf_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, vf_error *err)
{
    char tmp[VF_NAME_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = vf_create_tmp(dirfd, tmp, err);
    if (fd < 0)
        return fd;
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

int vf_read_file(int dirfd, const char *name, size_t max, char **data, size_t *len, vf_error *err)
{
    struct stat st;
    int fd = vf_open_in(dirfd, name, O_RDONLY, 0, &st, err);
    if (fd < 0)
        return fd;
    /* [R-FILE-CAPS] the size is checked before anything is allocated, and no
       more than it is read, whatever the file does meanwhile */
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return vf_fail(err, VF_ECORRUPT, "'%s': too large (%lld bytes, at most %zu)", name, (long long)st.st_size,
                       max);
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    }
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
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

int vf_cold_name(char *out, size_t n, const char *name)
{
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 5, ".vseg") != 0 || len + 2 > n)
        return -1;
    memcpy(out, name, len - 5);
    memcpy(out + len - 5, ".vcold", 7);
    return 0;
}

int vf_file_number(const char *name, char kind, uint64_t *n)
{
    /* [R-NAMES] exactly the name vf_file_name gives: the digits are parsed
       strictly (zero padding allowed) and the name is rebuilt to compare */
    char buf[VF_NAME_MAX], digits[24];
    size_t i = 0;
    if (name[0] != kind || name[1] != '-')
        return -1;
    for (const char *p = name + 2; *p >= '0' && *p <= '9'; p++) {
        if (i == sizeof digits - 1)
            return -1;
        digits[i++] = *p;
    }
    digits[i] = 0;
    size_t z = 0;
    while (z + 1 < i && digits[z] == '0')
        z++;
    uint64_t v;
    if (i == 0 || vf_parse_u64(digits + z, &v) != 0 || v == 0)
        return -1;
    vf_file_name(buf, kind, v);
    if (strcmp(buf, name) != 0)
        return -1;
    *n = v;
    return 0;
}

int vf_parse_u64(const char *s, uint64_t *out)
{
    /* decimal digits only: no sign, no space, no leading zero, no overflow */
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != 0))
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int vf_all_finite(const void *p, size_t n)
{
    /* an f32 is NaN or infinite when its exponent bits are all ones; adding
       one to the exponent then carries into bit 31.  AND, ADD and OR over
       fixed blocks, which the compiler turns into SIMD on any x86-64 */
    const unsigned char *b = p;
    uint32_t acc = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint32_t w[16];
        memcpy(w, b + i * 4, sizeof w);
        for (int j = 0; j < 16; j++)
            acc |= (w[j] & 0x7f800000u) + 0x00800000u;
    }
    for (; i < n; i++)
        acc |= (vf_get32(b + i * 4) & 0x7f800000u) + 0x00800000u;
    return !(acc & 0x80000000u);
}

/* Little-endian accessors: the host is assumed little-endian (checked at
   build time in format_internal.h), so these are plain copies. */
uint16_t vf_get16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
uint32_t vf_get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
uint64_t vf_get64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
void vf_put16(void *p, uint16_t v) { memcpy(p, &v, 2); }
void vf_put32(void *p, uint32_t v) { memcpy(p, &v, 4); }
void vf_put64(void *p, uint64_t v) { memcpy(p, &v, 8); }
