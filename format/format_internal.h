/* format_internal.h - helpers shared inside format/ only. */
#ifndef FORMAT_INTERNAL_H
#define FORMAT_INTERNAL_H

#include <stdlib.h>
#include <sys/stat.h>

#include "vecseg_format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vecseg maps its files in place and needs a little-endian host"
#endif

/* The highest segment read_version the reader accepts: VF_SEG_VERSION; a
   test lowers it to play a version-1 reader ([R-VERSION]). */
extern unsigned vf_seg_read_version_max;

int vf_write_all(int fd, const void *data, size_t len, const char *name, vf_error *err);
/* Opens name under dirfd as SPEC.md 2.1 requires of a collection's files
   ([R-FILES]): a regular file, never a FIFO or device (opened O_NONBLOCK so a
   FIFO cannot hang, then fstat), and never through a symbolic link unless
   follow (a path the user named).  Returns the fd, st filled, or a negative
   code. */
int vf_open_in(int dirfd, const char *name, int flags, int follow, struct stat *st, vf_error *err);
/* Creates tmp afresh (a stale one removed first, O_EXCL, O_NOFOLLOW): the fd
   or a negative code. */
int vf_create_tmp(int dirfd, const char *tmp, vf_error *err);
/* Reads a whole file of at most max bytes (larger ones are refused before
   anything is allocated); *data is malloc'd and NUL-terminated. */
int vf_read_file(int dirfd, const char *name, size_t max, char **data, size_t *len, vf_error *err);

/* 1 when none of the n f32 values at p is NaN or infinite. */
int vf_all_finite(const void *p, size_t n);

uint16_t vf_get16(const void *p);
uint32_t vf_get32(const void *p);
uint64_t vf_get64(const void *p);
void vf_put16(void *p, uint16_t v);
void vf_put32(void *p, uint32_t v);
void vf_put64(void *p, uint64_t v);

#define VF_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uint64_t)(a) - 1))

#endif
